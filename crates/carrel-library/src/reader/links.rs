//! Addresses of the reader, and the rewriting of a chapter's links: book
//! hrefs become reader URLs, paths from requests are checked before they
//! reach the book.

use std::collections::HashMap;

use carrel_formats::reader::resolve_href;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Everything but unreserved characters and `/` is encoded in a path.
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// Everything but unreserved characters is encoded in a query value.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The reader of a file (`/library/read/{file}`).
pub(crate) fn base(file: &str) -> String {
    format!("/library/read/{file}")
}

/// A document or resource of an EPUB, at its own path under the book's
/// prefix, so relative references inside it (images, stylesheets, fonts)
/// resolve to the book without being rewritten.
pub(crate) fn book_url(file: &str, href: &str) -> String {
    format!(
        "/library/read/{file}/book/{}",
        utf8_percent_encode(href, PATH)
    )
}

/// Chapter `number` (1-based) of an EPUB, opened at `anchor` if given.
pub(crate) fn chapter_url(file: &str, number: usize, anchor: Option<&str>) -> String {
    match anchor.filter(|a| !a.is_empty()) {
        Some(a) => format!(
            "/library/read/{file}/{number}?anchor={}",
            utf8_percent_encode(a, QUERY)
        ),
        None => format!("/library/read/{file}/{number}"),
    }
}

/// Page `number` (1-based) of a comic.
pub(crate) fn page_url(file: &str, number: usize) -> String {
    format!("/library/read/{file}/page/{number}")
}

/// The image of page `number` (1-based) of a comic.
pub(crate) fn image_url(file: &str, number: usize) -> String {
    format!("/library/read/{file}/image/{number}")
}

/// A fragment for a URL (`#…`), encoded.
pub(crate) fn fragment(anchor: &str) -> String {
    format!("#{}", utf8_percent_encode(anchor, QUERY))
}

/// A path inside the book, as a request names it (already percent-decoded
/// once by the router), checked: absolute paths, `..` anywhere, control
/// characters and backslashes are refused rather than resolved; `.` and
/// empty segments are dropped.
pub(crate) fn book_path(raw: &str) -> Option<String> {
    if raw.starts_with('/') || raw.contains('\\') || raw.chars().any(char::is_control) {
        return None;
    }
    let mut parts = Vec::new();
    for seg in raw.split('/') {
        match seg {
            "" | "." => {}
            ".." => return None,
            // Encoded a second time (`%252e%252e`): judged once decoded.
            s if s.contains('%') && percent_decode(s).is_some_and(|d| d.contains("..")) => {
                return None;
            }
            s => parts.push(s),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// A fragment as a book writes it (percent-encoded) as the id it names.
pub(crate) fn decode_fragment(f: &str) -> String {
    percent_decode(f).unwrap_or_else(|| f.to_owned())
}

fn percent_decode(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

/// What a chapter's links are resolved against.
pub(crate) struct Linking<'a> {
    pub file: &'a str,
    /// The chapter's book href.
    pub chapter: &'a str,
    /// Spine document href → 0-based index.
    pub spine: &'a HashMap<String, usize>,
}

/// Where a link of the chapter goes: its new `href` (`None`: the link is
/// dropped, its text kept) and its `target`.
pub(crate) fn link_target(href: &str, l: &Linking) -> Option<(String, Option<&'static str>)> {
    let h = href.trim();
    if h.is_empty() {
        return None;
    }
    let lower = h.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") || lower.starts_with("mailto:")
    {
        return Some((h.to_owned(), Some("_blank")));
    }
    // Any other scheme (javascript:, data:, file:, …) and network paths.
    let resolved = resolve_href(l.chapter, h)?;
    let (path, frag) = match resolved.split_once('#') {
        Some((p, f)) => (p, Some(decode_fragment(f))),
        None => (resolved.as_str(), None),
    };
    if path == l.chapter {
        return Some(match frag {
            Some(f) => (fragment(&f), None),
            None => ("#".to_owned(), None),
        });
    }
    let index = *l.spine.get(path)?;
    Some((
        chapter_url(l.file, index + 1, frag.as_deref()),
        Some("_top"),
    ))
}

/// A chapter's sanitized HTML (serialized by ammonia: every attribute
/// double-quoted, `"` and `&` escaped in values, no comments) with its `<a>`
/// tags rewritten by [`link_target`]: links into the book go to reader URLs
/// (another chapter: the whole reader, `target="_top"`), links out of it
/// open in a new tab without referrer or opener, other links lose their
/// `href`.
pub(crate) fn rewrite_links(html: &str, l: &Linking) -> String {
    let mut out = String::with_capacity(html.len() + html.len() / 8);
    let mut rest = html;
    while let Some(at) = find_a_tag(rest) {
        out.push_str(&rest[..at]);
        let tag = &rest[at..];
        let Some((attrs, len)) = parse_tag(tag) else {
            out.push_str(tag);
            return out;
        };
        out.push_str("<a");
        let mut href = None;
        for (name, value) in &attrs {
            match name.as_str() {
                "href" => href = Some(unescape(value)),
                "target" | "rel" => {}
                _ => {
                    out.push(' ');
                    out.push_str(name);
                    out.push_str("=\"");
                    out.push_str(value);
                    out.push('"');
                }
            }
        }
        if let Some((to, target)) = href.as_deref().and_then(|h| link_target(h, l)) {
            out.push_str(" href=\"");
            out.push_str(&escape(&to));
            out.push('"');
            if let Some(t) = target {
                out.push_str(" target=\"");
                out.push_str(t);
                out.push('"');
                if t == "_blank" {
                    out.push_str(" rel=\"noopener noreferrer\"");
                }
            }
        }
        out.push('>');
        rest = &tag[len..];
    }
    out.push_str(rest);
    out
}

/// The byte offset of the next `<a` start tag.
fn find_a_tag(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut from = 0;
    while let Some(i) = s[from..].find("<a").map(|i| i + from) {
        match bytes.get(i + 2) {
            Some(b' ' | b'>' | b'\t' | b'\n' | b'/') => return Some(i),
            _ => from = i + 2,
        }
    }
    None
}

/// The attributes of the tag at the start of `s` (values as written) and
/// the tag's length; `None` if the tag does not end.
fn parse_tag(s: &str) -> Option<(Vec<(String, String)>, usize)> {
    let b = s.as_bytes();
    let mut i = 2; // after "<a"
    let mut attrs = Vec::new();
    loop {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        if i >= b.len() {
            return None;
        }
        if b[i] == b'>' {
            return Some((attrs, i + 1));
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b'=' | b'>' | b'/') {
            i += 1;
        }
        let name = s[start..i].to_ascii_lowercase();
        let mut value = String::new();
        if i < b.len() && b[i] == b'=' {
            i += 1;
            match b.get(i) {
                Some(&q @ (b'"' | b'\'')) => {
                    let end = s[i + 1..].find(q as char)? + i + 1;
                    value = s[i + 1..end].to_owned();
                    i = end + 1;
                }
                _ => {
                    let start = i;
                    while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' {
                        i += 1;
                    }
                    value = escape(&s[start..i]);
                }
            }
        }
        if !name.is_empty() {
            attrs.push((name, value));
        }
    }
}

fn unescape(v: &str) -> String {
    v.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", "\u{a0}")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

fn escape(v: &str) -> String {
    v.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spine() -> HashMap<String, usize> {
        [
            ("OEBPS/t/ch1.xhtml", 0),
            ("OEBPS/t/ch2.xhtml", 1),
            ("OEBPS/notes.xhtml", 2),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    #[test]
    fn links_become_reader_urls() {
        let s = spine();
        let l = Linking {
            file: "F",
            chapter: "OEBPS/t/ch1.xhtml",
            spine: &s,
        };
        let html = r##"<p>See <a href="ch2.xhtml#s%201" rel="noopener noreferrer">two</a>, <a href="#n1" class="x">note</a>, <a href="../notes.xhtml">notes</a>, <a href="https://example.org/?a=1&amp;b=2">web</a>, <a href="../../../etc/passwd">out</a>, <a href="missing.xhtml">gone</a>, <a href="ch1.xhtml#top">self</a>, <a id="plain">anchor</a>, <abbr title="a>b">x</abbr></p>"##;
        let out = rewrite_links(html, &l);
        assert!(
            out.contains(r#"<a href="/library/read/F/2?anchor=s%201" target="_top">two</a>"#),
            "{out}"
        );
        assert!(
            out.contains(r##"<a class="x" href="#n1">note</a>"##),
            "{out}"
        );
        assert!(out.contains(r#"<a href="/library/read/F/3" target="_top">notes</a>"#));
        assert!(out.contains(
            r#"<a href="https://example.org/?a=1&amp;b=2" target="_blank" rel="noopener noreferrer">web</a>"#
        ));
        assert!(
            out.contains("<a>out</a>") && out.contains("<a>gone</a>"),
            "{out}"
        );
        assert!(out.contains(r##"<a href="#top">self</a>"##), "{out}");
        assert!(out.contains(r#"<a id="plain">anchor</a>"#));
        assert!(out.contains(r#"<abbr title="a>b">x</abbr>"#));
    }

    #[test]
    fn hostile_links_are_dropped() {
        let s = spine();
        let l = Linking {
            file: "F",
            chapter: "OEBPS/t/ch1.xhtml",
            spine: &s,
        };
        for bad in [
            "javascript:alert(1)",
            " JavaScript:alert(1)",
            "data:text/html,<script>",
            "//evil.example/",
            "file:///etc/passwd",
            "vbscript:x",
        ] {
            assert_eq!(link_target(bad, &l), None, "{bad}");
        }
        // A tag that never ends is left alone (ammonia never writes one).
        assert_eq!(rewrite_links("<a href=\"x", &l), "<a href=\"x");
        let out = rewrite_links(r#"<a href='ch2.xhtml' onclick=x>t</a>"#, &l);
        assert_eq!(
            out,
            r#"<a onclick="x" href="/library/read/F/2" target="_top">t</a>"#
        );
    }

    #[test]
    fn request_paths_are_checked() {
        assert_eq!(
            book_path("OEBPS/img/a b.png").as_deref(),
            Some("OEBPS/img/a b.png")
        );
        assert_eq!(
            book_path("OEBPS/./img//a.png").as_deref(),
            Some("OEBPS/img/a.png")
        );
        for bad in [
            "../x",
            "OEBPS/../../x",
            "OEBPS/..",
            "/etc/passwd",
            "OEBPS\\..\\x",
            "a/%2e%2e/b",
            "a/%2E%2E%2Fb",
            "a\0b",
            "",
            "./",
        ] {
            assert_eq!(book_path(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn urls_are_encoded() {
        assert_eq!(
            book_url("F", "OEBPS/Text/ch 1#?.xhtml"),
            "/library/read/F/book/OEBPS/Text/ch%201%23%3F.xhtml"
        );
        assert_eq!(chapter_url("F", 3, None), "/library/read/F/3");
        assert_eq!(
            chapter_url("F", 3, Some("a\"<b")),
            "/library/read/F/3?anchor=a%22%3Cb"
        );
        assert_eq!(fragment("x y"), "#x%20y");
        assert_eq!(page_url("F", 2), "/library/read/F/page/2");
        assert_eq!(image_url("F", 2), "/library/read/F/image/2");
        assert_eq!(base("F"), "/library/read/F");
    }
}
