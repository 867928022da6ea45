//! PDF: the Info dictionary, the XMP metadata stream (preferred), the page
//! count and encryption, read with lopdf; a raw scan of the bytes when lopdf
//! cannot load the file (damaged cross-reference tables and the like).
//!
//! lopdf loads the whole document and may panic or recurse deeply on hostile
//! input, so it runs on one helper thread with a large stack, under
//! `catch_unwind`, and is abandoned at the deadline. Files nested deeper
//! than [`MAX_NESTING`] are not given to it at all.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;

use lopdf::{Document, Object};

use crate::bounds::Ctx;
use crate::meta::Meta;
use crate::xml::{self, Element};
use crate::{Format, FormatError, Found};

/// Arrays and dictionaries nested deeper than this are refused to lopdf's
/// recursive parser.
const MAX_NESTING: usize = 512;
const PARSER_STACK: usize = 64 << 20;

/// What lopdf (or the raw scan) read.
#[derive(Default, Debug)]
struct PdfInfo {
    /// Info dictionary entries as text.
    info: Vec<(String, String)>,
    xmp: Option<Vec<u8>>,
    pages: Option<u32>,
    encrypted: bool,
    /// Encrypted with an empty user password: the metadata could be read.
    decrypted: bool,
    problems: Vec<(&'static str, String)>,
}

pub(crate) fn extract(path: &Path, ctx: &mut Ctx) -> Result<Found, FormatError> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(ctx.limits.max_file_bytes)
        .read_to_end(&mut bytes)?;
    let bytes = Arc::new(bytes);
    ctx.check()?;
    let max_xml = ctx.limits.max_xml_bytes;
    let nesting = max_nesting(&bytes);
    let parsed = if nesting > MAX_NESTING {
        Err(format!("objects nested {nesting} deep"))
    } else {
        parse_on_thread(Arc::clone(&bytes), max_xml, ctx)
    };
    let info = match parsed {
        Ok(mut info) => {
            if info.pages.is_none() {
                // The page tree is lost; the page objects may still be there.
                info.pages = raw_scan(&bytes, 0).pages;
            }
            info
        }
        Err(reason) => {
            ctx.check()?;
            let scanned = raw_scan(&bytes, max_xml);
            let usable = scanned.pages.is_some()
                || scanned.xmp.is_some()
                || scanned.info.iter().any(|(k, _)| k == "Title");
            if !usable {
                return Err(FormatError::Malformed(format!(
                    "the PDF could not be read: {reason}"
                )));
            }
            ctx.problem(
                "damaged",
                format!("the PDF could not be parsed ({reason}); its bytes were scanned instead"),
            );
            scanned
        }
    };
    for (code, message) in &info.problems {
        ctx.problem(code, message.clone());
    }
    if info.encrypted {
        ctx.problem(
            "encrypted",
            if info.decrypted {
                "the PDF is encrypted (it opens without a password)"
            } else {
                "the PDF is encrypted with a password: its metadata could not be read"
            },
        );
    }
    let mut meta = Meta::default();
    let readable = !info.encrypted || info.decrypted;
    if let Some(xmp) = &info.xmp {
        read_xmp(xmp, &mut meta, ctx);
    }
    if readable {
        read_info(&info.info, &mut meta, ctx);
    }
    if info.pages.is_none() && meta.title.is_none() && meta.authors.is_empty() {
        return Err(if info.encrypted && !info.decrypted {
            FormatError::Encrypted("the PDF needs a password and shows no pages".into())
        } else {
            FormatError::Malformed("no page and no metadata could be read from the PDF".into())
        });
    }
    Ok(Found {
        format: Format::Pdf,
        meta,
        cover: None,
        pages: info.pages,
        encrypted: info.encrypted,
    })
}

fn parse_on_thread(bytes: Arc<Vec<u8>>, max_xml: usize, ctx: &Ctx) -> Result<PdfInfo, String> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("carrel-pdf".into())
        .stack_size(PARSER_STACK)
        .spawn(move || {
            let result = std::panic::catch_unwind(|| parse_with_lopdf(&bytes, max_xml))
                .unwrap_or_else(|panic| Err(crate::panic_message(&panic)));
            let _ = tx.send(result);
        })
        .map_err(|e| format!("the PDF parser could not start: {e}"))?;
    match rx.recv_timeout(ctx.remaining()) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => Err("the deadline passed while parsing".into()),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err("the PDF parser stopped".into()),
    }
}

fn parse_with_lopdf(bytes: &[u8], max_xml: usize) -> Result<PdfInfo, String> {
    let mut out = PdfInfo::default();
    let mut doc = match Document::load_mem(bytes) {
        Ok(doc) => doc,
        Err(e) => {
            let rebuilt = rebuild_xref(bytes).ok_or_else(|| e.to_string())?;
            let doc = Document::load_mem(&rebuilt).map_err(|_| e.to_string())?;
            out.problems.push((
                "damaged_xref",
                format!("the cross-reference table was damaged ({e}) and was rebuilt"),
            ));
            doc
        }
    };
    if doc.is_encrypted() {
        out.encrypted = true;
        out.decrypted = doc.decrypt("").is_ok();
    }
    let pages = doc.get_pages().len();
    out.pages = if pages > 0 {
        Some(pages.min(u32::MAX as usize) as u32)
    } else {
        doc.catalog()
            .ok()
            .and_then(|c| c.get(b"Pages").ok())
            .and_then(|p| doc.dereference(p).ok())
            .and_then(|(_, p)| p.as_dict().ok())
            .and_then(|p| p.get(b"Count").ok())
            .and_then(|c| c.as_i64().ok())
            .filter(|&c| c > 0 && c < u32::MAX as i64)
            .map(|c| c as u32)
    };
    if let Ok(info) = doc.trailer.get(b"Info")
        && let Ok((_, info)) = doc.dereference(info)
        && let Ok(dict) = info.as_dict()
    {
        for (key, value) in dict.iter() {
            let value = match doc.dereference(value) {
                Ok((_, Object::String(s, _))) => decode_pdf_string(s),
                _ => continue,
            };
            out.info
                .push((String::from_utf8_lossy(key).into_owned(), value));
        }
    }
    if let Ok(catalog) = doc.catalog()
        && let Ok(metadata) = catalog.get(b"Metadata")
        && let Ok((_, metadata)) = doc.dereference(metadata)
        && let Ok(stream) = metadata.as_stream()
    {
        out.xmp = stream_content(stream, max_xml);
    }
    Ok(out)
}

/// A stream's bytes, if unfiltered or Flate-compressed, at most `max` bytes.
fn stream_content(stream: &lopdf::Stream, max: usize) -> Option<Vec<u8>> {
    let filters = stream.filters().unwrap_or_default();
    match filters.as_slice() {
        [] => Some(stream.content[..stream.content.len().min(max)].to_vec()),
        [f] if f == "FlateDecode" => {
            let mut out = Vec::new();
            flate2::read::ZlibDecoder::new(stream.content.as_slice())
                .take(max as u64)
                .read_to_end(&mut out)
                .ok()?;
            Some(out)
        }
        _ => None,
    }
}

/// Text from a PDF string: UTF-16BE or UTF-8 with a byte-order mark, else
/// PDFDocEncoding.
pub(crate) fn decode_pdf_string(b: &[u8]) -> String {
    if let Some(rest) = b.strip_prefix(b"\xfe\xff") {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        return char::decode_utf16(units)
            .map(|c| c.unwrap_or('\u{fffd}'))
            .collect();
    }
    if let Some(rest) = b.strip_prefix(b"\xef\xbb\xbf") {
        return String::from_utf8_lossy(rest).into_owned();
    }
    b.iter().map(|&c| pdf_doc_char(c)).collect()
}

fn pdf_doc_char(c: u8) -> char {
    const HIGH: [char; 33] = [
        '•', '†', '‡', '…', '—', '–', 'ƒ', '⁄', '‹', '›', '−', '‰', '„', '“', '”', '‘', '’', '‚',
        '™', 'ﬁ', 'ﬂ', 'Ł', 'Œ', 'Š', 'Ÿ', 'Ž', 'ı', 'ł', 'œ', 'š', 'ž', '\u{fffd}', '€',
    ];
    const LOW: [char; 8] = ['˘', 'ˇ', 'ˆ', '˙', '˝', '˛', '˚', '˜'];
    match c {
        0x18..=0x1f => LOW[(c - 0x18) as usize],
        0x80..=0xa0 => HIGH[(c - 0x80) as usize],
        _ => c as char,
    }
}

/// Titles that name nothing.
fn useful_title(t: &str) -> Option<&str> {
    let t = t.trim();
    let t = t.strip_prefix("Microsoft Word - ").unwrap_or(t);
    let lower = t.to_ascii_lowercase();
    let junk = t.is_empty() || matches!(lower.as_str(), "untitled" | "unknown" | "title" | "none");
    (!junk).then_some(t)
}

fn read_info(info: &[(String, String)], meta: &mut Meta, ctx: &mut Ctx) {
    let get = |k: &str| {
        info.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    if let Some(t) = get("Title").and_then(useful_title) {
        meta.set_title(t);
    }
    if meta.authors.is_empty()
        && let Some(a) = get("Author")
    {
        for name in a.split(';') {
            meta.add_author(name, None);
        }
    }
    if let Some(s) = get("Subject") {
        meta.set_description_html(s);
    }
    if let Some(k) = get("Keywords") {
        for s in k.split([',', ';']) {
            meta.add_subject(s);
        }
    }
    if let Some(d) = get("CreationDate") {
        meta.set_year_from(d);
    }
    for key in ["doi", "DOI", "ISBN", "isbn"] {
        if let Some(v) = get(key) {
            meta.add_identifier(v, Some(&key.to_ascii_lowercase()), ctx);
        }
    }
}

/// The values of an XMP property: the `rdf:li` items of its array, or its
/// text.
fn xmp_values(e: &Element) -> Vec<String> {
    let items: Vec<String> = e
        .descendants()
        .into_iter()
        .filter(|d| d.name == "li")
        .filter_map(Element::trimmed_text)
        .collect();
    if items.is_empty() {
        e.trimmed_text().into_iter().collect()
    } else {
        items
    }
}

fn read_xmp(bytes: &[u8], meta: &mut Meta, ctx: &mut Ctx) {
    let parsed = match xml::parse(bytes) {
        Ok(p) => p,
        Err(e) => {
            ctx.problem("bad_xmp", format!("the XMP metadata is not XML: {e}"));
            return;
        }
    };
    if let Some(e) = &parsed.error {
        ctx.problem("bad_xmp", format!("the XMP metadata is malformed: {e}"));
    }
    let all = parsed.root.descendants();
    let values = |name: &str| -> Vec<String> {
        all.iter()
            .filter(|e| e.name == name)
            .flat_map(|e| xmp_values(e))
            .collect()
    };
    // Simple properties may also be attributes of rdf:Description.
    let attribute = |name: &str| -> Option<String> {
        all.iter()
            .filter(|e| e.name == "Description")
            .find_map(|e| e.attr(name).map(str::to_owned))
    };
    if let Some(t) = values("title").iter().find_map(|t| useful_title(t)) {
        meta.set_title(t);
    }
    for c in values("creator") {
        meta.add_author(&c, None);
    }
    if let Some(l) = values("language").first() {
        meta.set_language(l);
    }
    if let Some(d) = values("description").first() {
        meta.set_description_html(d);
    }
    for s in values("subject") {
        for part in s.split([',', ';']) {
            meta.add_subject(part);
        }
    }
    if let Some(p) = values("publisher").first() {
        meta.set_publisher(p);
    }
    let created = values("CreateDate")
        .into_iter()
        .next()
        .or_else(|| attribute("CreateDate"));
    if let Some(d) = created {
        meta.set_year_from(&d);
    }
    for doi in values("doi").into_iter().chain(attribute("doi")) {
        meta.add_identifier(&doi, Some("doi"), ctx);
    }
    for isbn in values("isbn").into_iter().chain(attribute("isbn")) {
        meta.add_identifier(&isbn, Some("isbn"), ctx);
    }
    for id in values("identifier") {
        meta.add_identifier(&id, None, ctx);
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from >= hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// The deepest nesting of arrays and dictionaries outside strings, comments
/// and stream data.
fn max_nesting(b: &[u8]) -> usize {
    let (mut depth, mut max, mut i) = (0usize, 0usize, 0usize);
    while i < b.len() {
        match b[i] {
            b'%' => {
                while i < b.len() && b[i] != b'\n' && b[i] != b'\r' {
                    i += 1;
                }
            }
            b'(' => i = skip_literal(b, i).unwrap_or(b.len()),
            b'[' => depth += 1,
            b']' => depth = depth.saturating_sub(1),
            b'<' if b.get(i + 1) == Some(&b'<') => {
                depth += 1;
                i += 1;
            }
            b'>' if b.get(i + 1) == Some(&b'>') => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b's' if is_stream_start(b, i) => {
                i = find(b, b"endstream", i + 6).map_or(b.len(), |e| e + 8);
            }
            b'e' if b[i..].starts_with(b"endobj") => depth = 0,
            _ => {}
        }
        max = max.max(depth);
        i += 1;
    }
    max
}

/// The index of the `)` closing the literal string opening at `open`.
fn skip_literal(b: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = open;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// A literal `( … )` or hex `< … >` string starting at `at` (after spaces).
fn string_at(b: &[u8], mut at: usize) -> Option<Vec<u8>> {
    while at < b.len() && b[at].is_ascii_whitespace() {
        at += 1;
    }
    match b.get(at)? {
        b'(' => {
            let end = skip_literal(b, at)?;
            Some(unescape_literal(&b[at + 1..end]))
        }
        b'<' if b.get(at + 1) != Some(&b'<') => {
            let end = at + b[at..].iter().position(|&c| c == b'>')?;
            let digits: Vec<u8> = b[at + 1..end]
                .iter()
                .filter(|c| c.is_ascii_hexdigit())
                .copied()
                .collect();
            Some(
                digits
                    .chunks(2)
                    .map(|p| {
                        let hi = (p[0] as char).to_digit(16).unwrap_or(0) as u8;
                        let lo = p
                            .get(1)
                            .map_or(0, |&c| (c as char).to_digit(16).unwrap_or(0) as u8);
                        hi * 16 + lo
                    })
                    .collect(),
            )
        }
        _ => None,
    }
}

fn unescape_literal(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] != b'\\' {
            out.push(s[i]);
            i += 1;
            continue;
        }
        i += 1;
        let Some(&c) = s.get(i) else { break };
        match c {
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'\r' => {
                if s.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => {}
            b'0'..=b'7' => {
                let mut v = 0u32;
                let mut n = 0;
                while n < 3 && i < s.len() && (b'0'..=b'7').contains(&s[i]) {
                    v = v * 8 + (s[i] - b'0') as u32;
                    i += 1;
                    n += 1;
                }
                out.push(v as u8);
                continue;
            }
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// Whether `b[i..]` is the `stream` keyword that starts stream data.
fn is_stream_start(b: &[u8], i: usize) -> bool {
    b[i..].starts_with(b"stream")
        && matches!(b.get(i + 6), Some(b'\r' | b'\n'))
        && (i == 0 || !b[i - 1].is_ascii_alphanumeric())
}

/// The `num gen` before an `obj` keyword at `i`: (num, gen, offset of num).
fn object_header_before(b: &[u8], i: usize) -> Option<(u32, u16, usize)> {
    let mut j = i;
    let ws = |c: u8| c.is_ascii_whitespace();
    let start_ws = j;
    while j > 0 && ws(b[j - 1]) {
        j -= 1;
    }
    if j == start_ws {
        return None;
    }
    let gen_end = j;
    while j > 0 && b[j - 1].is_ascii_digit() {
        j -= 1;
    }
    if j == gen_end || gen_end - j > 5 {
        return None;
    }
    let generation: u16 = std::str::from_utf8(&b[j..gen_end]).ok()?.parse().ok()?;
    let mid = j;
    while j > 0 && ws(b[j - 1]) {
        j -= 1;
    }
    if j == mid {
        return None;
    }
    let num_end = j;
    while j > 0 && b[j - 1].is_ascii_digit() {
        j -= 1;
    }
    if j == num_end || num_end - j > 10 {
        return None;
    }
    if j > 0 && !(ws(b[j - 1]) || matches!(b[j - 1], b'>' | b']' | b')' | b'}')) {
        return None;
    }
    let num: u32 = std::str::from_utf8(&b[j..num_end]).ok()?.parse().ok()?;
    Some((num, generation, j))
}

/// The dictionary `<< … >>` starting at `at` (after spaces), nesting
/// counted, at most 64 KiB.
fn dict_after(b: &[u8], mut at: usize) -> Option<&[u8]> {
    while at < b.len() && b[at].is_ascii_whitespace() {
        at += 1;
    }
    if !b[at..].starts_with(b"<<") {
        return None;
    }
    let end = (at + 65_536).min(b.len());
    let mut depth = 0usize;
    let mut i = at;
    while i + 1 < end {
        if b[i] == b'<' && b[i + 1] == b'<' {
            depth += 1;
            i += 2;
        } else if b[i] == b'>' && b[i + 1] == b'>' {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return Some(&b[at..i]);
            }
        } else {
            i += 1;
        }
    }
    None
}

/// The value of `key` in a dictionary's text when it is a reference `n g R`.
fn ref_in(dict: &[u8], key: &[u8]) -> Option<(u32, u16)> {
    let mut from = 0;
    while let Some(p) = find(dict, key, from) {
        from = p + key.len();
        if dict.get(from).is_some_and(|c| c.is_ascii_alphanumeric()) {
            continue; // a longer name (/Rootx)
        }
        let rest = std::str::from_utf8(&dict[from..dict.len().min(from + 40)]).unwrap_or("");
        let mut words = rest.split_ascii_whitespace();
        let (Some(n), Some(g), Some(r)) = (words.next(), words.next(), words.next()) else {
            return None;
        };
        if !r.starts_with('R') {
            return None;
        }
        return Some((n.parse().ok()?, g.parse().ok()?));
    }
    None
}

/// The raw `[ … ]` of the trailer's `/ID`.
fn id_in(dict: &[u8]) -> Option<&[u8]> {
    let p = find(dict, b"/ID", 0)?;
    let open = p + dict[p..].iter().position(|&c| c == b'[')?;
    let close = open + dict[open..].iter().position(|&c| c == b']')?;
    (open - p < 8).then_some(&dict[open..=close])
}

/// A copy of a PDF with a new cross-reference table appended, built by
/// scanning for `n g obj` headers (stream data skipped), and a trailer
/// merged from every `trailer` and cross-reference stream dictionary (the
/// last value of each key wins), or the catalog found by its `/Type`.
/// lopdf then loads the copy as an incremental update of the original.
fn rebuild_xref(original: &[u8]) -> Option<Vec<u8>> {
    let base = find(&original[..original.len().min(1024)], b"%PDF-", 0)?;
    let b = &original[base..];
    let mut objects: std::collections::BTreeMap<u32, (usize, u16)> = Default::default();
    let mut trailers: Vec<&[u8]> = Vec::new();
    let mut catalog = None;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b's' if is_stream_start(b, i) => {
                i = find(b, b"endstream", i + 6).map_or(b.len(), |e| e + 9);
                continue;
            }
            b'o' if b[i..].starts_with(b"obj")
                && !b.get(i + 3).is_some_and(|c| c.is_ascii_alphanumeric())
                && (i < 3 || &b[i - 3..i] != b"end") =>
            {
                if let Some((num, generation, at)) = object_header_before(b, i) {
                    objects.insert(num, (at, generation));
                    if let Some(dict) = dict_after(b, i + 3) {
                        if find(dict, b"/XRef", 0).is_some() {
                            trailers.push(dict);
                        }
                        if find(dict, b"/Catalog", 0).is_some() {
                            catalog = Some((num, generation));
                        }
                    }
                }
            }
            b't' if b[i..].starts_with(b"trailer") => {
                if let Some(dict) = dict_after(b, i + 7) {
                    trailers.push(dict);
                }
            }
            _ => {}
        }
        i += 1;
    }
    let (mut root, mut info, mut encrypt, mut id) = (None, None, None, None);
    for t in &trailers {
        root = ref_in(t, b"/Root").or(root);
        info = ref_in(t, b"/Info").or(info);
        encrypt = ref_in(t, b"/Encrypt").or(encrypt);
        id = id_in(t).or(id);
    }
    let (root_num, root_gen) = root.or(catalog)?;
    let size = objects.keys().next_back().copied()? as u64 + 1;

    use std::io::Write;
    let mut out = Vec::with_capacity(b.len() + objects.len() * 24 + 1024);
    out.extend_from_slice(b);
    // lopdf looks for the last %%EOF within the last 512 bytes: keep the
    // original's out of that window.
    out.extend_from_slice(b"\n%");
    out.extend(std::iter::repeat_n(b' ', 512));
    out.push(b'\n');
    let xref_at = out.len();
    out.extend_from_slice(b"xref\n0 1\n0000000000 65535 f \n");
    for (num, (offset, generation)) in &objects {
        if *num == 0 {
            continue;
        }
        write!(out, "{num} 1\n{offset:010} {generation:05} n \n").ok()?;
    }
    write!(
        out,
        "trailer\n<< /Size {size} /Root {root_num} {root_gen} R"
    )
    .ok()?;
    if let Some((n, g)) = info {
        write!(out, " /Info {n} {g} R").ok()?;
    }
    if let Some((n, g)) = encrypt {
        write!(out, " /Encrypt {n} {g} R").ok()?;
    }
    if let Some(id) = id {
        out.extend_from_slice(b" /ID ");
        out.extend_from_slice(id);
    }
    write!(out, " >>\nstartxref\n{xref_at}\n%%EOF\n").ok()?;
    Some(out)
}

/// Reads what it can from the bytes of a PDF lopdf could not load: an
/// Info-like dictionary (one with a `/Producer`, `/Creator` or a date beside
/// its `/Title`), an uncompressed XMP packet, the page objects.
fn raw_scan(b: &[u8], max_xml: usize) -> PdfInfo {
    let mut out = PdfInfo {
        encrypted: find(b, b"/Encrypt", 0).is_some(),
        ..Default::default()
    };
    // Pages: `/Type /Page` not followed by `s`.
    let mut pages = 0u32;
    let mut at = 0;
    while let Some(p) = find(b, b"/Type", at) {
        let mut q = p + 5;
        while q < b.len() && b[q].is_ascii_whitespace() {
            q += 1;
        }
        if b[q..].starts_with(b"/Page") && !b.get(q + 5).is_some_and(|c| c.is_ascii_alphanumeric())
        {
            pages += 1;
        }
        at = q;
    }
    // A linearized file states its page count up front.
    let linearized = find(&b[..b.len().min(4096)], b"/Linearized", 0)
        .and_then(|p| {
            let lo = b[..p].windows(2).rposition(|w| w == b"<<")?;
            let hi = p + find(&b[p..b.len().min(p + 1024)], b">>", 0)?;
            let dict = &b[lo..hi];
            let n = find(dict, b"/N", 0)?;
            let digits: String = dict[n + 2..]
                .iter()
                .skip_while(|c| c.is_ascii_whitespace())
                .take_while(|c| c.is_ascii_digit())
                .map(|&c| c as char)
                .collect();
            digits.parse::<u32>().ok()
        })
        .filter(|&n| n > 0);
    out.pages = linearized.or((pages > 0).then_some(pages));
    // The Info dictionary.
    const WINDOW: usize = 8192;
    let mut at = 0;
    let mut tries = 0;
    while let Some(p) = find(b, b"/Title", at) {
        at = p + 6;
        tries += 1;
        if tries > 10_000 {
            break;
        }
        let lo = p.saturating_sub(WINDOW);
        let hi = (p + WINDOW).min(b.len());
        let start = b[lo..p]
            .windows(2)
            .rposition(|w| w == b"<<")
            .map(|s| s + lo);
        let end = b[p..hi].windows(2).position(|w| w == b">>").map(|e| e + p);
        let (Some(start), Some(end)) = (start, end) else {
            continue;
        };
        let dict = &b[start..end];
        let info_like = [
            &b"/Producer"[..],
            b"/Creator",
            b"/CreationDate",
            b"/ModDate",
        ]
        .iter()
        .any(|k| find(dict, k, 0).is_some());
        if !info_like {
            continue;
        }
        for key in ["Title", "Author", "Subject", "Keywords", "CreationDate"] {
            let pattern = format!("/{key}");
            if let Some(k) = find(dict, pattern.as_bytes(), 0)
                && let Some(v) = string_at(dict, k + pattern.len())
            {
                out.info.push((key.to_owned(), decode_pdf_string(&v)));
            }
        }
        break;
    }
    // An uncompressed XMP packet.
    if let Some(s) = find(b, b"<x:xmpmeta", 0)
        && let Some(e) = find(b, b"</x:xmpmeta>", s)
        && e + 12 - s <= max_xml
    {
        out.xmp = Some(b[s..e + 12].to_vec());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdf_strings() {
        assert_eq!(decode_pdf_string(b"\xfe\xff\x00A\x00\xe9"), "Aé");
        assert_eq!(decode_pdf_string(b"caf\xe9 \x93 \xa0"), "café ﬁ €");
        assert_eq!(unescape_literal(b"a\\(b\\)\\101\\\nc"), b"a(b)Ac");
        assert_eq!(string_at(b"  <48 65 6>", 0).unwrap(), b"He`");
        assert_eq!(string_at(b"(x (nested) y)", 0).unwrap(), b"x (nested) y");
    }

    #[test]
    fn nesting_is_measured_outside_strings_and_streams() {
        assert_eq!(max_nesting(b"1 0 obj << /A [ [ 1 ] ] >> endobj"), 3);
        assert_eq!(max_nesting(b"(a(b)c[[[[) << >>"), 1);
        assert_eq!(max_nesting(b"stream\n[[[[[[\nendstream [ ]"), 1);
        assert_eq!(max_nesting(&b"[".repeat(100_000)), 100_000);
    }

    #[test]
    fn damaged_xref_is_rebuilt() {
        let pdf = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n\
            2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n\
            3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] >>\nendobj\n\
            4 0 obj\n<< /Title (Rebuilt) /Producer (x) >>\nendobj\n\
            xref\n0 5\ngarbage\ntrailer\n<< /Size 5 /Root 1 0 R /Info 4 0 R >>\nstartxref\n99999\n%%EOF\n";
        assert!(Document::load_mem(pdf).is_err());
        let info = parse_with_lopdf(pdf, 1 << 20).unwrap();
        assert_eq!(info.pages, Some(1));
        assert_eq!(
            info.info,
            vec![
                ("Title".into(), "Rebuilt".into()),
                ("Producer".into(), "x".into())
            ]
        );
        assert_eq!(info.problems[0].0, "damaged_xref");
    }

    #[test]
    fn raw_scan_finds_info_not_outlines() {
        let pdf = b"%PDF-1.4\n1 0 obj << /Title (Chapter 1) /Parent 2 0 R >> endobj\n\
            3 0 obj << /Type /Page >> endobj 4 0 obj << /Type/Pages /Count 1 >> endobj\n\
            5 0 obj << /Producer (x) /Title <FEFF0041> /Author (Someone) >> endobj";
        let info = raw_scan(pdf, 1 << 20);
        assert_eq!(info.pages, Some(1));
        assert_eq!(info.info[0], ("Title".into(), "A".into()));
        assert_eq!(info.info[1], ("Author".into(), "Someone".into()));
    }
}
