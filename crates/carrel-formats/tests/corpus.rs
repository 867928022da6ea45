//! carrel-formats on real files (the shared corpus) and on hostile ones
//! built here: real values where the files carry them, and for every file a
//! result (Ok or Err) within the deadline, never a panic.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use carrel_core::catalog::{EditionId, Kind};
use carrel_formats::{Extracted, Format, FormatError, Limits, extract, sniff, thumbnails};

fn corpus() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/corpus"
    ))
}

fn read(rel: &str) -> Extracted {
    let path = corpus().join(rel);
    extract(&path, &Limits::default()).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn read_err(rel: &str) -> FormatError {
    match extract(&corpus().join(rel), &Limits::default()) {
        Ok(x) => panic!("{rel}: expected an error, got {:?}", x.record.title),
        Err(e) => e,
    }
}

fn has_problem(x: &Extracted, code: &str) -> bool {
    x.problems.iter().any(|p| p.code == code)
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

// ---------------------------------------------------------------- the survey

#[test]
fn every_corpus_file_returns_within_the_deadline() {
    let limits = Limits::default();
    let slack = Duration::from_secs(2);
    // directory → (ok, error code → count)
    let mut summary: BTreeMap<String, (usize, BTreeMap<&'static str, usize>)> = BTreeMap::new();
    let mut slowest = (Duration::ZERO, String::new());
    for top in ["epub", "pdf", "fb2", "mobi", "comics"] {
        for path in files_under(&corpus().join(top)) {
            let rel = path.strip_prefix(corpus()).unwrap().display().to_string();
            let group = rel.splitn(3, '/').take(2).collect::<Vec<_>>().join("/");
            let group = if group.contains('.') {
                top.to_string()
            } else {
                group
            };
            let started = Instant::now();
            let result = extract(&path, &limits);
            let took = started.elapsed();
            assert!(took < limits.deadline + slack, "{rel} took {took:?}");
            if took > slowest.0 {
                slowest = (took, rel.clone());
            }
            let entry = summary.entry(group).or_default();
            match result {
                Ok(x) => {
                    assert!(!x.record.title.is_empty(), "{rel}");
                    assert_eq!(x.record.kind, x.format.kind(), "{rel}");
                    entry.0 += 1;
                }
                Err(e) => {
                    assert_ne!(e.code(), "internal", "{rel}: {e}");
                    assert_ne!(e.code(), "deadline", "{rel}: {e}");
                    *entry.1.entry(e.code()).or_default() += 1;
                }
            }
        }
    }
    println!("directory: ok / errors by code");
    for (dir, (ok, errs)) in &summary {
        println!("  {dir}: {ok} ok / {errs:?}");
    }
    println!("slowest: {:?} {}", slowest.0, slowest.1);
    let ok = |d: &str| summary.get(d).map_or(0, |s| s.0);
    assert_eq!(ok("epub/idpf-epub3-samples"), 25);
    assert_eq!(ok("epub/standard-ebooks"), 4);
    assert_eq!(ok("epub/gutenberg-via-cwa"), 6);
    assert_eq!(ok("epub/debian-pkgs"), 11);
    assert_eq!(ok("epub/stump"), 2);
    assert_eq!(ok("mobi"), 1);
    assert_eq!(ok("fb2/derived-pandoc"), 3);
    assert_eq!(ok("comics/stump"), 5);
    assert_eq!(ok("pdf/py-pdf-sample-files"), 31);
    assert_eq!(ok("pdf/stump"), 2);
    assert!(ok("pdf/qpdf-qtest") >= 240, "{}", ok("pdf/qpdf-qtest"));
}

// ---------------------------------------------------------------- EPUB

#[test]
fn gutenberg_epubs() {
    let alice = read("epub/gutenberg-via-cwa/alice_in_wonderland.epub");
    assert_eq!(alice.format, Format::Epub);
    let r = &alice.record;
    assert_eq!(r.title, "Alice's Adventures in Wonderland");
    assert_eq!(r.authors[0].name, "Lewis Carroll");
    assert_eq!(r.authors[0].sort, "Carroll, Lewis");
    assert_eq!(r.language.as_ref().unwrap().as_str(), "en");
    assert_eq!(r.year, Some(2008));
    assert_eq!(r.kind, Kind::Book);
    assert!(r.identifiers.contains(&EditionId::Gutenberg(11)));
    assert!(r.subjects.iter().any(|s| s == "Fantasy fiction"));
    assert_eq!(r.source, None);
    let cover = alice.cover.as_ref().unwrap();
    assert_eq!(
        (cover.media_type.as_str(), cover.width, cover.height),
        ("image/jpeg", 800, 1104)
    );
    assert!(!alice.encrypted);
    assert!(alice.problems.is_empty(), "{:?}", alice.problems);

    for (file, title, author) in [
        (
            "christmas_carol.epub",
            "A Christmas Carol in Prose; Being a Ghost Story of Christmas",
            "Charles Dickens",
        ),
        ("metamorphosis.epub", "Metamorphosis", "Franz Kafka"),
        (
            "sherlock_holmes.epub",
            "The Adventures of Sherlock Holmes",
            "Arthur Conan Doyle",
        ),
    ] {
        let x = read(&format!("epub/gutenberg-via-cwa/{file}"));
        assert_eq!(x.record.title, title);
        assert_eq!(x.record.authors[0].name, author);
        let c = x
            .cover
            .as_ref()
            .unwrap_or_else(|| panic!("{file} has a cover"));
        assert!(c.width > 0 && c.height > 0 && !c.bytes.is_empty(), "{file}");
    }
    let kafka = read("epub/gutenberg-via-cwa/metamorphosis.epub");
    assert_eq!(kafka.cover.unwrap().media_type, "image/png");

    // The same book as packed by another tool (EPUB 3, cover-image property).
    let stump = read("epub/stump/book.epub");
    assert_eq!(stump.record.title, alice.record.title);
    assert!(stump.cover.is_some());
    let leaves = read("epub/stump/leaves.epub");
    assert_eq!(leaves.record.authors[0].sort, "Whitman, Walt");
    assert!(leaves.cover.unwrap().width > 0);
}

#[test]
fn broken_epubs() {
    assert_eq!(
        read_err("epub/gutenberg-via-cwa/test_corrupted.epub").code(),
        "malformed"
    );
    assert_eq!(
        read_err("epub/gutenberg-via-cwa/test_empty.epub").code(),
        "empty_file"
    );
    let x = read("epub/gutenberg-via-cwa/test_no_mimetype.epub");
    assert_eq!(x.record.title, "Invalid EPUB - No Mimetype");
    assert!(has_problem(&x, "no_cover"));

    let rich = read("epub/gutenberg-via-cwa/test_rich_metadata.epub");
    let r = &rich.record;
    assert_eq!(r.title, "The Complete Test Book");
    assert_eq!(r.authors.len(), 1, "the editor is not an author");
    assert_eq!(r.authors[0].name, "Test Author");
    assert_eq!(r.publisher.as_deref(), Some("Test Publisher"));
    assert_eq!(r.year, Some(2025));
    assert_eq!(r.series.as_deref(), Some("Test Series"));
    assert_eq!(r.series_index, Some(1.0));
    assert_eq!(r.subjects, ["Fiction", "Testing", "Software Engineering"]);
    assert!(
        r.description
            .as_ref()
            .unwrap()
            .starts_with("A comprehensive test book")
    );
    // Its ISBN has a wrong check digit: reported, not kept.
    assert!(r.identifiers.is_empty());
    assert!(has_problem(&rich, "bad_identifier"));
}

#[test]
fn standard_ebooks() {
    let holmes =
        read("epub/standard-ebooks/arthur-conan-doyle_the-adventures-of-sherlock-holmes.epub");
    let r = &holmes.record;
    assert_eq!(r.title, "The Adventures of Sherlock Holmes");
    assert_eq!(r.authors[0].sort, "Doyle, Arthur Conan");
    assert_eq!(r.series.as_deref(), Some("Sherlock Holmes"));
    assert_eq!(r.series_index, Some(3.0));
    assert_eq!(r.language.as_ref().unwrap().as_str(), "en-GB");
    assert!(!r.subjects.is_empty());
    assert!(r.description.is_some());
    // SVG covers are kept, unmeasured, and reported.
    let c = holmes.cover.as_ref().unwrap();
    assert_eq!(
        (c.media_type.as_str(), c.width, c.height),
        ("image/svg+xml", 0, 0)
    );
    assert!(has_problem(&holmes, "cover_not_raster"));
    assert_eq!(
        thumbnails(&c.bytes, &Limits::default()).unwrap_err().code(),
        "not_raster"
    );

    let chickens = read("epub/standard-ebooks/p-g-wodehouse_love-among-the-chickens.epub");
    let r = &chickens.record;
    assert_eq!(r.authors[0].name, "P. G. Wodehouse");
    assert!(r.subjects.contains(&"Humorous stories".to_string()));
    assert!(r.subjects.contains(&"Farm life -- Fiction".to_string()));
    assert_eq!(r.publisher.as_deref(), Some("Standard Ebooks"));
    assert!(
        r.authors.iter().all(|a| a.name != "Lilly Martin Spencer"),
        "contributors are not authors"
    );
}

#[test]
fn idpf_samples() {
    let kids = read("epub/idpf-epub3-samples/childrens-literature.epub");
    assert_eq!(kids.record.title, "Children's Literature");
    assert_eq!(kids.record.authors.len(), 2);
    assert!(kids.cover.is_some());
    // The cover is a page showing the image (guide / id "cover").
    let georgia = read("epub/idpf-epub3-samples/georgia-cfi.epub");
    assert_eq!(georgia.record.title, "Georgia");
    assert_eq!(georgia.cover.as_ref().unwrap().media_type, "image/png");
    let japanese = read("epub/idpf-epub3-samples/kusamakura-japanese-vertical-writing.epub");
    assert_eq!(japanese.record.title, "草枕");
    assert_eq!(japanese.record.language.as_ref().unwrap().as_str(), "ja-JP");
    // Font obfuscation is not DRM.
    for f in ["wasteland-otf-obf.epub", "wasteland-woff-obf.epub"] {
        let x = read(&format!("epub/idpf-epub3-samples/{f}"));
        assert!(!x.encrypted, "{f}");
        assert_eq!(x.record.authors[0].name, "T.S. Eliot");
    }
    let svg = read("epub/idpf-epub3-samples/svg-in-spine.epub");
    assert_eq!(svg.cover.unwrap().media_type, "image/svg+xml");
    let manual = read("epub/debian-pkgs/live-manual.pt_BR.epub");
    assert_eq!(manual.record.language.as_ref().unwrap().as_str(), "pt-BR");
    assert_eq!(manual.record.authors[0].name, "Projeto Live Systems");
}

// ---------------------------------------------------------------- MOBI, FB2, CBZ

#[test]
fn mobi_alice() {
    let x = read("mobi/alice_in_wonderland.mobi");
    assert_eq!(x.format, Format::Mobi);
    let r = &x.record;
    assert_eq!(r.title, "Alice's Adventures in Wonderland");
    assert_eq!(r.authors[0].name, "Lewis Carroll");
    assert_eq!(r.language.as_ref().unwrap().as_str(), "en");
    assert_eq!(r.year, Some(2008));
    assert_eq!(r.subjects.len(), 4);
    let c = x.cover.as_ref().unwrap();
    assert_eq!(
        (c.media_type.as_str(), c.width, c.height),
        ("image/jpeg", 800, 1104)
    );
    assert!(!x.encrypted);
    // The same file as KF8 (version 8) is AZW3; with DRM it is encrypted.
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(corpus().join("mobi/alice_in_wonderland.mobi")).unwrap();
    let rec0 = u32::from_be_bytes(bytes[78..82].try_into().unwrap()) as usize;
    bytes[rec0 + 36..rec0 + 40].copy_from_slice(&8u32.to_be_bytes());
    bytes[rec0 + 12..rec0 + 14].copy_from_slice(&2u16.to_be_bytes());
    let path = write_temp(&dir, "alice.azw3", &bytes);
    assert_eq!(sniff(&bytes, None), Some(Format::Azw3));
    let kf8 = extract(&path, &Limits::default()).unwrap();
    assert_eq!(kf8.format, Format::Azw3);
    assert!(kf8.encrypted && has_problem(&kf8, "encrypted"));
    assert_eq!(kf8.record.title, r.title);

    let t = thumbnails(&c.bytes, &Limits::default()).unwrap();
    let large = image::load_from_memory(&t.large).unwrap();
    let small = image::load_from_memory(&t.small).unwrap();
    assert_eq!((large.width(), large.height()), (480, 662));
    assert_eq!((small.width(), small.height()), (160, 221));
}

#[test]
fn fb2_files() {
    let alice = read("fb2/derived-pandoc/alice_in_wonderland.fb2");
    assert_eq!(alice.format, Format::Fb2);
    assert_eq!(alice.record.title, "Alice's Adventures in Wonderland");
    assert_eq!(alice.record.authors[0].sort, "Carroll, Lewis");
    let devil = read("fb2/derived-pandoc/devils-dictionary.fb2");
    assert_eq!(devil.record.title, "The Devil’s Dictionary");
    assert_eq!(devil.record.authors[0].name, "Ambrose Bierce");
    assert_eq!(devil.record.year, Some(2021));
    assert_eq!(read_err("fb2/sopds-badfile.fb2").code(), "unknown_format");

    // FB2 in a zip.
    let dir = tempfile::tempdir().unwrap();
    let fb2 = std::fs::read(corpus().join("fb2/derived-pandoc/metamorphosis.fb2")).unwrap();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file(
        "metamorphosis.fb2",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    w.write_all(&fb2).unwrap();
    let zipped = w.finish().unwrap().into_inner();
    let x = extract(&write_temp(&dir, "m.fb2.zip", &zipped), &Limits::default()).unwrap();
    assert_eq!(x.format, Format::Fb2);
    assert_eq!(x.record.title, "Metamorphosis");
    assert_eq!(x.record.authors[0].name, "Franz Kafka");
}

#[test]
fn comics() {
    let science = read("comics/stump/science_comics_001.cbz");
    assert_eq!(science.format, Format::Cbz);
    assert_eq!(science.record.kind, Kind::Comic);
    assert_eq!(science.pages, Some(36));
    assert_eq!(science.record.title, "science comics 001");
    assert!(has_problem(&science, "no_title"));
    let c = science.cover.as_ref().unwrap();
    assert_eq!((c.width, c.height), (480, 726));
    // pg00a comes first in natural order.
    let first = std::fs::read(corpus().join("comics/stump/science_comics_001.cbz")).unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(first)).unwrap();
    let mut page = Vec::new();
    std::io::copy(
        &mut zip
            .by_name("Science_Comics_(Ace)_no.1_194601_pg00a.jpeg")
            .unwrap(),
        &mut page,
    )
    .unwrap();
    assert_eq!(c.bytes, page);

    let nested = read("comics/stump/nested-macos-compressed.cbz");
    assert_eq!(nested.pages, Some(3), "__MACOSX forks are not pages");
    assert!(nested.cover.is_some());

    let info = read("comics/stump/book.zip");
    let r = &info.record;
    assert_eq!(info.format, Format::Cbz);
    assert_eq!(r.series.as_deref(), Some("Miles Morales: Spider-Man"));
    assert_eq!(r.series_index, Some(4.0));
    assert_eq!(r.publisher.as_deref(), Some("Marvel"));
    assert_eq!(r.language.as_ref().unwrap().as_str(), "en");
    assert_eq!(r.subjects, ["Superhero"]);
    assert!(r.description.as_ref().unwrap().contains("TRIAL BY SPIDER"));

    // 1.avif cannot be measured here: the next page is the cover.
    let formats = read("comics/stump/book-image-format-test.zip");
    assert_eq!(formats.pages, Some(5));
    assert_eq!(formats.cover.as_ref().unwrap().media_type, "image/jpeg");
    assert!(has_problem(&formats, "bad_cover"));

    for rar in [
        "comics/stump/book.rar",
        "comics/stump/book-complex-tree.rar",
    ] {
        let e = read_err(rar);
        assert_eq!(e.code(), "unsupported_format", "{rar}");
        assert!(e.to_string().contains("RAR"));
    }
}

// ---------------------------------------------------------------- PDF

#[test]
fn pdf_page_counts_match_files_json() {
    let dir = corpus().join("pdf/py-pdf-sample-files");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("files.json")).unwrap()).unwrap();
    let mut checked = 0;
    for entry in json["data"].as_array().unwrap() {
        let path = dir.join(entry["path"].as_str().unwrap());
        if !path.exists() {
            continue; // files.json describes a few files that are not shipped
        }
        let x = extract(&path, &Limits::default()).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        assert_eq!(x.format, Format::Pdf);
        if let Some(pages) = entry["pages"].as_u64() {
            assert_eq!(x.pages, Some(pages as u32), "{path:?}");
        }
        if let Some(enc) = entry["encrypted"].as_bool() {
            assert_eq!(x.encrypted, enc, "{path:?}");
            assert_eq!(has_problem(&x, "encrypted"), enc, "{path:?}");
        }
        checked += 1;
    }
    assert!(checked >= 25, "{checked}");
}

#[test]
fn pdf_metadata() {
    let xmp = read("pdf/py-pdf-sample-files/020-xmp/output_with_metadata_pymupdf.pdf");
    assert_eq!(xmp.record.title, "Sample PDF with XMP Metadata");
    assert_eq!(xmp.record.authors[0].name, "John Doe");
    let geo = read("pdf/py-pdf-sample-files/009-pdflatex-geotopo/GeoTopo-komprimiert.pdf");
    assert_eq!(geo.record.title, "Geometrie und Topologie");
    assert_eq!(geo.record.authors[0].name, "Martin Thoma");
    assert_eq!(geo.pages, Some(117));
    assert_eq!(geo.record.year, Some(2016));
    let google = read("pdf/py-pdf-sample-files/011-google-doc-document/google-doc-document.pdf");
    assert_eq!(google.record.title, "PDF Example Document");
    // A NUL at the end of an Info string is not part of the title.
    let magick = read("pdf/py-pdf-sample-files/007-imagemagick-images/imagemagick-lzw.pdf");
    assert_eq!(magick.record.title, "imagemagick-lzw");
    // Damaged cross-reference tables are rebuilt.
    let pdfkit = read("pdf/py-pdf-sample-files/022-pdfkit/pdfkit.pdf");
    assert!(has_problem(&pdfkit, "damaged_xref"));
    assert_eq!(pdfkit.pages, Some(1));
    let book = read("pdf/stump/rust_book.pdf");
    assert!(book.pages.unwrap() > 500);
    // A password-protected PDF: the page count is still read.
    let locked = read("pdf/qpdf-qtest/enc-R2,V1,U=view,O=master.pdf");
    assert!(locked.encrypted);
    assert_eq!(locked.pages, Some(30));
}

// ---------------------------------------------------------------- sniffing

#[test]
fn sniffing_by_content() {
    let head = |rel: &str| {
        let b = std::fs::read(corpus().join(rel)).unwrap();
        b[..b.len().min(65536)].to_vec()
    };
    let cases = [
        (
            "epub/gutenberg-via-cwa/alice_in_wonderland.epub",
            Some(Format::Epub),
        ),
        (
            "epub/gutenberg-via-cwa/test_no_mimetype.epub",
            Some(Format::Epub),
        ),
        ("mobi/alice_in_wonderland.mobi", Some(Format::Mobi)),
        ("fb2/derived-pandoc/metamorphosis.fb2", Some(Format::Fb2)),
        ("fb2/sopds-badfile.fb2", None),
        ("comics/stump/science_comics_001.cbz", Some(Format::Cbz)),
        ("pdf/stump/tall.pdf", Some(Format::Pdf)),
        ("comics/stump/book.rar", None),
    ];
    for (rel, want) in cases {
        assert_eq!(sniff(&head(rel), None), want, "{rel}");
    }
    // The name breaks ties only: a PDF named .epub is a PDF.
    assert_eq!(
        sniff(&head("pdf/stump/tall.pdf"), Some("x.epub")),
        Some(Format::Pdf)
    );
    assert_eq!(Format::Azw3.media_type(), "application/vnd.amazon.ebook");
    assert_eq!(Format::Cbz.kind(), Kind::Comic);
    assert_eq!(Format::Fb2.extension(), "fb2");
}

// ---------------------------------------------------------------- hostile files

/// A zip entry: (name, method, data as stored, declared uncompressed size,
/// CRC-32).
type RawEntry<'a> = (&'a str, u16, Vec<u8>, u64, u32);

fn crc(data: &[u8]) -> u32 {
    let mut c = flate2::Crc::new();
    c.update(data);
    c.sum()
}

/// An honest entry, stored or deflated.
fn entry<'a>(name: &'a str, plain: &[u8], deflated: bool) -> RawEntry<'a> {
    let data = if deflated {
        deflate(plain)
    } else {
        plain.to_vec()
    };
    (
        name,
        if deflated { 8 } else { 0 },
        data,
        plain.len() as u64,
        crc(plain),
    )
}

/// A zip written by hand, so that headers can lie.
fn raw_zip(entries: &[RawEntry<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, method, data, size, crc) in entries {
        let offset = out.len() as u32;
        let header = |sig: &[u8], central: bool| {
            let mut h = Vec::new();
            h.extend_from_slice(sig);
            if central {
                h.extend_from_slice(&20u16.to_le_bytes()); // made by
            }
            h.extend_from_slice(&20u16.to_le_bytes()); // needed
            h.extend_from_slice(&0u16.to_le_bytes()); // flags
            h.extend_from_slice(&method.to_le_bytes());
            h.extend_from_slice(&[0, 0, 0x21, 0]); // time, date
            h.extend_from_slice(&crc.to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(*size as u32).to_le_bytes());
            h.extend_from_slice(&(name.len() as u16).to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes()); // extra
            if central {
                h.extend_from_slice(&[0; 6]); // comment, disk, internal attrs
                h.extend_from_slice(&0u32.to_le_bytes()); // external attrs
                h.extend_from_slice(&offset.to_le_bytes());
            }
            h.extend_from_slice(name.as_bytes());
            h
        };
        out.extend(header(b"PK\x03\x04", false));
        out.extend_from_slice(data);
        central.extend(header(b"PK\x01\x02", true));
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A raw deflate stream of `mib` MiB of zeros, made by repeating one
/// compressed, byte-aligned block of 1 MiB.
fn deflated_zeros(mib: usize) -> Vec<u8> {
    let mut c = flate2::Compress::new(flate2::Compression::best(), false);
    let mut block = Vec::with_capacity(1 << 16);
    c.compress_vec(&vec![0u8; 1 << 20], &mut block, flate2::FlushCompress::Sync)
        .unwrap();
    let mut out = Vec::with_capacity(block.len() * mib + 2);
    for _ in 0..mib {
        out.extend_from_slice(&block);
    }
    out.extend_from_slice(&[0x03, 0x00]); // an empty final block
    out
}

const CONTAINER: &[u8] = br#"<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>"#;

fn opf(extra_metadata: &str) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Hostile</dc:title>{extra_metadata}</metadata><manifest><item id="c" href="cover.jpg" media-type="image/jpeg" properties="cover-image"/></manifest><spine/></package>"#
    )
    .into_bytes()
}

fn write_temp(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Extracts with the default limits, checking it is quick and does not panic.
fn quick(path: &Path) -> Result<Extracted, FormatError> {
    let started = Instant::now();
    let r = extract(path, &Limits::default());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{path:?} took {:?}",
        started.elapsed()
    );
    if let Err(e) = &r {
        assert_ne!(e.code(), "internal", "{path:?}: {e}");
    }
    r
}

#[test]
fn zip_bombs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = deflated_zeros(1024); // 1 GiB of zeros in about 1 MB
    assert!(bomb.len() < 2 << 20);
    let epub = raw_zip(&[
        entry("mimetype", b"application/epub+zip", false),
        entry("META-INF/container.xml", CONTAINER, false),
        entry("OEBPS/content.opf", &opf(""), false),
        ("OEBPS/zeros.xhtml", 8, bomb.clone(), 1 << 30, 0),
    ]);
    let e = quick(&write_temp(&dir, "bomb.epub", &epub)).unwrap_err();
    assert_eq!(e.code(), "zip_bomb", "{e}");
    let cbz = raw_zip(&[("page1.jpg", 8, bomb, 1 << 30, 0)]);
    let e = quick(&write_temp(&dir, "bomb.cbz", &cbz)).unwrap_err();
    assert_eq!(e.code(), "zip_bomb", "{e}");

    // Entries that declare more than max_total_bytes together.
    let many: Vec<(String, Vec<u8>)> = (0..4)
        .map(|i| (format!("p{i}.jpg"), deflate(&[0u8; 64])))
        .collect();
    let entries: Vec<RawEntry<'_>> = many
        .iter()
        .map(|(n, d)| (n.as_str(), 8, d.clone(), 600 << 20, 0))
        .collect();
    let e = quick(&write_temp(&dir, "total.cbz", &raw_zip(&entries))).unwrap_err();
    assert_eq!(e.code(), "zip_bomb", "{e}");
}

#[test]
fn entries_that_lie_about_their_size() {
    let dir = tempfile::tempdir().unwrap();
    // The cover says 100 bytes and inflates to 10 MiB.
    let liar = deflate(&vec![7u8; 10 << 20]);
    let epub = raw_zip(&[
        entry("mimetype", b"application/epub+zip", false),
        entry("META-INF/container.xml", CONTAINER, false),
        entry("OEBPS/content.opf", &opf(""), false),
        ("OEBPS/cover.jpg", 8, liar.clone(), 100, 0),
    ]);
    let x = quick(&write_temp(&dir, "liar.epub", &epub)).unwrap();
    assert_eq!(x.record.title, "Hostile");
    assert!(x.cover.is_none());
    assert!(has_problem(&x, "zip_bomb"), "{:?}", x.problems);
    // The package document itself lies: nothing usable.
    let epub = raw_zip(&[
        entry("mimetype", b"application/epub+zip", false),
        entry("META-INF/container.xml", CONTAINER, false),
        ("OEBPS/content.opf", 8, liar, 100, 0),
    ]);
    let e = quick(&write_temp(&dir, "liar-opf.epub", &epub)).unwrap_err();
    assert_eq!(e.code(), "zip_bomb", "{e}");
}

#[test]
fn drm_epubs_are_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let encryption = br#"<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><EncryptedData xmlns="http://www.w3.org/2001/04/xmlenc#"><EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/><CipherData><CipherReference URI="OEBPS/c.xhtml"/></CipherData></EncryptedData></encryption>"#;
    let book = String::from_utf8(opf("<dc:creator>Someone</dc:creator>"))
        .unwrap()
        .replace("<spine/>", r#"<spine><itemref idref="t"/></spine>"#)
        .replace(
            "</manifest>",
            r#"<item id="t" href="c.xhtml" media-type="application/xhtml+xml"/></manifest>"#,
        );
    let epub = raw_zip(&[
        entry("mimetype", b"application/epub+zip", false),
        entry("META-INF/container.xml", CONTAINER, false),
        entry("META-INF/encryption.xml", encryption, true),
        entry("OEBPS/content.opf", book.as_bytes(), true),
        entry("OEBPS/c.xhtml", b"\x8a\x91 ciphertext", false),
    ]);
    let path = write_temp(&dir, "drm.epub", &epub);
    let x = quick(&path).unwrap();
    assert!(x.encrypted);
    assert!(has_problem(&x, "encrypted"));
    assert_eq!(x.record.authors[0].name, "Someone");
    let mut reader = carrel_formats::reader::EpubBook::open(&path, &Limits::default()).unwrap();
    assert_eq!(reader.chapter(0).unwrap_err().code(), "encrypted");
}

#[test]
fn huge_and_deep_xml() {
    let dir = tempfile::tempdir().unwrap();
    // A 100 MB package document (stored, so no ratio to catch).
    let mut big = opf("");
    big.splice(
        big.len() - 10..big.len() - 10,
        std::iter::repeat_n(b' ', 100 << 20),
    );
    let epub = raw_zip(&[
        entry("mimetype", b"application/epub+zip", false),
        entry("META-INF/container.xml", CONTAINER, false),
        entry("OEBPS/content.opf", &big, false),
    ]);
    let e = quick(&write_temp(&dir, "big-opf.epub", &epub)).unwrap_err();
    assert_eq!(e.code(), "entry_too_large", "{e}");

    // Metadata nested 100,000 deep after the title.
    let deep = opf(&format!(
        "{}{}",
        "<x>".repeat(100_000),
        "</x>".repeat(100_000)
    ));
    let epub = raw_zip(&[
        entry("mimetype", b"application/epub+zip", false),
        entry("META-INF/container.xml", CONTAINER, false),
        entry("OEBPS/content.opf", &deep, true),
    ]);
    let x = quick(&write_temp(&dir, "deep.epub", &epub)).unwrap();
    assert_eq!(x.record.title, "Hostile");
    assert!(has_problem(&x, "bad_xml"), "{:?}", x.problems);

    // A deep FictionBook.
    let fb2 = format!(
        "<FictionBook><description><title-info><book-title>Deep</book-title>{}",
        "<p>".repeat(500_000)
    );
    let x = quick(&write_temp(&dir, "deep.fb2", fb2.as_bytes())).unwrap();
    assert_eq!(x.record.title, "Deep");
    assert!(has_problem(&x, "bad_xml"));

    // Deeply nested PDF arrays are not given to the recursive parser.
    let mut pdf = b"%PDF-1.4\n1 0 obj\n".to_vec();
    pdf.extend(std::iter::repeat_n(b'[', 1_000_000));
    let e = quick(&write_temp(&dir, "deep.pdf", &pdf)).unwrap_err();
    assert_eq!(e.code(), "malformed", "{e}");
}

#[test]
fn truncated_files() {
    let dir = tempfile::tempdir().unwrap();
    // A Standard Ebooks EPUB keeps its OPF near the start: cut in half, it
    // still gives its metadata from the local headers.
    let full = std::fs::read(
        corpus().join("epub/standard-ebooks/p-g-wodehouse_love-among-the-chickens.epub"),
    )
    .unwrap();
    let x = quick(&write_temp(&dir, "half.epub", &full[..full.len() / 2])).unwrap();
    assert_eq!(x.record.title, "Love Among the Chickens");
    assert!(has_problem(&x, "truncated"));
    // Gutenberg's keeps it at the end: cut in half, nothing usable.
    let full =
        std::fs::read(corpus().join("epub/gutenberg-via-cwa/alice_in_wonderland.epub")).unwrap();
    let r = quick(&write_temp(
        &dir,
        "half-alice.epub",
        &full[..full.len() / 2],
    ));
    assert!(r.is_err() || has_problem(&r.unwrap(), "truncated"));
    for cut in [10, 100, 1000, full.len() - 1] {
        let _ = quick(&write_temp(&dir, &format!("cut{cut}.epub"), &full[..cut]));
    }

    // MOBI: cut short, and with record offsets beyond the file.
    let mobi = std::fs::read(corpus().join("mobi/alice_in_wonderland.mobi")).unwrap();
    let x = quick(&write_temp(&dir, "cut.mobi", &mobi[..4000])).unwrap();
    assert_eq!(x.record.title, "Alice's Adventures in Wonderland");
    assert!(has_problem(&x, "truncated"));
    assert!(x.cover.is_none());
    let mut far = mobi.clone();
    for i in 1..66 {
        let at = 78 + 8 * i;
        far[at..at + 4].copy_from_slice(&0x7fff_0000u32.to_be_bytes());
    }
    let x = quick(&write_temp(&dir, "far.mobi", &far)).unwrap();
    assert!(x.cover.is_none());
    assert!(has_problem(&x, "bad_cover") || has_problem(&x, "truncated"));
    let mut lost = mobi.clone();
    lost[78..82].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
    assert_eq!(
        quick(&write_temp(&dir, "lost.mobi", &lost))
            .unwrap_err()
            .code(),
        "malformed"
    );
    for cut in [61, 68, 80, 700] {
        let _ = quick(&write_temp(&dir, &format!("cut{cut}.mobi"), &mobi[..cut]));
    }

    // PDF cut in half: its pages and metadata may still be found.
    let pdf = std::fs::read(
        corpus().join("pdf/py-pdf-sample-files/009-pdflatex-geotopo/GeoTopo-komprimiert.pdf"),
    )
    .unwrap();
    let _ = quick(&write_temp(&dir, "half.pdf", &pdf[..pdf.len() / 2]));
    let fb2 = std::fs::read(corpus().join("fb2/derived-pandoc/alice_in_wonderland.fb2")).unwrap();
    let x = quick(&write_temp(&dir, "half.fb2", &fb2[..fb2.len() / 2])).unwrap();
    assert_eq!(x.record.title, "Alice's Adventures in Wonderland");
}

#[test]
fn empty_and_random_files() {
    let dir = tempfile::tempdir().unwrap();
    for ext in ["epub", "pdf", "mobi", "azw3", "fb2", "cbz", "bin"] {
        let e = quick(&write_temp(&dir, &format!("empty.{ext}"), b"")).unwrap_err();
        assert_eq!(e.code(), "empty_file");
    }
    // A small generator, so the bytes are the same on every run.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut random = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect()
    };
    for (i, ext) in ["epub", "pdf", "mobi", "fb2", "cbz", "bin"]
        .iter()
        .enumerate()
    {
        let bytes = random(1 << 16 << i);
        let e = quick(&write_temp(&dir, &format!("random.{ext}"), &bytes)).unwrap_err();
        assert_eq!(e.code(), "unknown_format", "{ext}");
    }
    // Random bytes behind real magic numbers.
    for (name, magic) in [
        ("r.pdf", &b"%PDF-1.7\n"[..]),
        ("r.epub", b"PK\x03\x04"),
        ("r.fb2", b"<?xml version='1.0'?><FictionBook>"),
    ] {
        let mut bytes = magic.to_vec();
        bytes.extend(random(200_000));
        assert!(quick(&write_temp(&dir, name, &bytes)).is_err(), "{name}");
    }
    let mut mobi = random(10_000);
    mobi[60..68].copy_from_slice(b"BOOKMOBI");
    assert!(quick(&write_temp(&dir, "r.mobi", &mobi)).is_err());
    assert_eq!(quick(dir.path()).unwrap_err().code(), "not_a_file");
}

#[test]
fn archive_and_time_limits() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..200 {
        w.start_file(format!("{i}.jpg"), zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(b"x").unwrap();
    }
    let bytes = w.finish().unwrap().into_inner();
    let path = write_temp(&dir, "many.cbz", &bytes);
    let limits = Limits {
        max_entries: 100,
        ..Limits::default()
    };
    assert_eq!(
        extract(&path, &limits).unwrap_err().code(),
        "too_many_entries"
    );
    let small = Limits {
        max_file_bytes: 1000,
        ..Limits::default()
    };
    assert_eq!(extract(&path, &small).unwrap_err().code(), "too_large");

    let expired = Limits {
        deadline: Duration::ZERO,
        ..Limits::default()
    };
    for rel in [
        "epub/gutenberg-via-cwa/alice_in_wonderland.epub",
        "pdf/stump/rust_book.pdf",
        "comics/stump/science_comics_001.cbz",
    ] {
        let e = extract(&corpus().join(rel), &expired).unwrap_err();
        assert_eq!(e.code(), "deadline", "{rel}");
    }
}

#[test]
fn extracted_serializes_without_cover_bytes() {
    let x = read("epub/gutenberg-via-cwa/alice_in_wonderland.epub");
    let json = serde_json::to_value(&x).unwrap();
    assert_eq!(json["format"], "epub");
    assert_eq!(json["record"]["title"], "Alice's Adventures in Wonderland");
    assert_eq!(json["cover"]["width"], 800);
    assert!(json["cover"].get("bytes").is_none());
    assert!(json["problems"].as_array().unwrap().is_empty());
}
