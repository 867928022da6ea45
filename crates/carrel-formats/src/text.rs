//! Small text helpers: HTML to plain text, entities, years, natural order,
//! character encodings.

use std::borrow::Cow;
use std::cmp::Ordering;

/// Named entities common in book HTML beyond XML's five (XHTML files use
/// them without declaring them). Unknown entities resolve to nothing.
pub(crate) fn resolve_entity(name: &str) -> Option<&'static str> {
    Some(match name {
        "lt" => "<",
        "gt" => ">",
        "amp" => "&",
        "apos" => "'",
        "quot" => "\"",
        "nbsp" => "\u{a0}",
        "shy" => "\u{ad}",
        "ensp" => "\u{2002}",
        "emsp" => "\u{2003}",
        "thinsp" => "\u{2009}",
        "zwnj" => "\u{200c}",
        "zwj" => "\u{200d}",
        "ndash" => "–",
        "mdash" => "—",
        "lsquo" => "‘",
        "rsquo" => "’",
        "sbquo" => "‚",
        "ldquo" => "“",
        "rdquo" => "”",
        "bdquo" => "„",
        "laquo" => "«",
        "raquo" => "»",
        "lsaquo" => "‹",
        "rsaquo" => "›",
        "hellip" => "…",
        "bull" => "•",
        "middot" => "·",
        "copy" => "©",
        "reg" => "®",
        "trade" => "™",
        "deg" => "°",
        "sect" => "§",
        "para" => "¶",
        "dagger" => "†",
        "Dagger" => "‡",
        "times" => "×",
        "divide" => "÷",
        "frac12" => "½",
        "frac14" => "¼",
        "frac34" => "¾",
        "pound" => "£",
        "euro" => "€",
        "yen" => "¥",
        "cent" => "¢",
        "iexcl" => "¡",
        "iquest" => "¿",
        "aacute" => "á",
        "eacute" => "é",
        "iacute" => "í",
        "oacute" => "ó",
        "uacute" => "ú",
        "agrave" => "à",
        "egrave" => "è",
        "igrave" => "ì",
        "ograve" => "ò",
        "ugrave" => "ù",
        "acirc" => "â",
        "ecirc" => "ê",
        "icirc" => "î",
        "ocirc" => "ô",
        "ucirc" => "û",
        "auml" => "ä",
        "euml" => "ë",
        "iuml" => "ï",
        "ouml" => "ö",
        "uuml" => "ü",
        "Auml" => "Ä",
        "Ouml" => "Ö",
        "Uuml" => "Ü",
        "Eacute" => "É",
        "szlig" => "ß",
        "ccedil" => "ç",
        "Ccedil" => "Ç",
        "ntilde" => "ñ",
        "Ntilde" => "Ñ",
        "aelig" => "æ",
        "AElig" => "Æ",
        "oelig" => "œ",
        "OElig" => "Œ",
        "oslash" => "ø",
        "aring" => "å",
        "Aring" => "Å",
        _ => "",
    })
}

/// Unescapes XML/HTML character and entity references; on a malformed
/// reference the text is kept as written.
pub(crate) fn unescape(raw: &str) -> Cow<'_, str> {
    quick_xml::escape::unescape_with(raw, resolve_entity).unwrap_or(Cow::Borrowed(raw))
}

/// Plain text from an HTML fragment (a description or annotation): tags
/// dropped, block ends and `<br>` become line breaks, references resolved,
/// runs of spaces collapsed. A `<` that does not start a tag is kept.
pub(crate) fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len().min(1 << 20));
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.push_str(&unescape(&rest[..lt]));
        let after = &rest[lt + 1..];
        let starts_tag = after
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '/' | '!' | '?'));
        if !starts_tag {
            out.push('<');
            rest = after;
            continue;
        }
        let end = if after.starts_with("!--") {
            after.find("-->").map(|i| i + 3)
        } else {
            after.find('>').map(|i| i + 1)
        };
        let Some(end) = end else {
            rest = "";
            break;
        };
        let tag = after[..end].trim_start_matches('/');
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if matches!(
            name.as_str(),
            "p" | "br"
                | "div"
                | "li"
                | "h1"
                | "h2"
                | "h3"
                | "h4"
                | "h5"
                | "h6"
                | "tr"
                | "blockquote"
        ) {
            out.push('\n');
        }
        rest = &after[end..];
    }
    out.push_str(&unescape(rest));
    tidy_lines(&out)
}

/// Collapses spaces within lines, drops empty lines, trims.
pub(crate) fn tidy_lines(s: &str) -> String {
    s.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Collapses all whitespace (titles, names).
pub(crate) fn squash(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The year of a date written in any of the usual ways (`2017-12-11T…`,
/// `1865`, `D:19990101`, `March 1865`): the first run of exactly four digits.
pub(crate) fn year_of(date: &str) -> Option<i32> {
    let b = date.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let run = &date[start..i];
            if run.len() == 4 {
                return run.parse().ok();
            }
            if run.len() == 8 || run.len() == 14 {
                // D:YYYYMMDD…
                return run[..4].parse().ok();
            }
        } else {
            i += 1;
        }
    }
    None
}

/// Orders names as people do: digit runs by value ("2" before "10"),
/// letters without regard to case.
pub(crate) fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let na = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let nb = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (da, db) = (&a[..na], &b[..nb]);
                let ta = trim_zeros(da);
                let tb = trim_zeros(db);
                let ord = ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb));
                if ord != Ordering::Equal {
                    return ord;
                }
                a = &a[na..];
                b = &b[nb..];
            }
            (Some(x), Some(y)) => {
                let ord = x.to_ascii_lowercase().cmp(&y.to_ascii_lowercase());
                if ord != Ordering::Equal {
                    return ord;
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let n = d.iter().take_while(|&&c| c == b'0').count();
    &d[n.min(d.len().saturating_sub(1))..]
}

/// Bytes as UTF-8 text: BOMs (UTF-8, UTF-16) are honoured, then an XML
/// declaration's `encoding`, then UTF-8 (with replacement characters).
pub(crate) fn decode_xml_bytes(bytes: &[u8]) -> Cow<'_, str> {
    if let Some((enc, bom)) = encoding_rs::Encoding::for_bom(bytes) {
        return Cow::Owned(
            enc.decode_without_bom_handling(&bytes[bom..])
                .0
                .into_owned(),
        );
    }
    if let Some(enc) = declared_encoding(bytes)
        && enc != encoding_rs::UTF_8
    {
        return enc.decode_without_bom_handling(bytes).0;
    }
    String::from_utf8_lossy(bytes)
}

fn declared_encoding(bytes: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    let head = &bytes[..bytes.len().min(200)];
    if !head.starts_with(b"<?xml") {
        return None;
    }
    let end = head.windows(2).position(|w| w == b"?>")?;
    let decl = std::str::from_utf8(&head[..end]).ok()?;
    let at = decl.find("encoding")?;
    let rest = decl[at + 8..].trim_start().strip_prefix('=')?.trim_start();
    let quote = rest.chars().next()?;
    if quote != '"' && quote != '\'' {
        return None;
    }
    let label = rest[1..].split(quote).next()?;
    let enc = encoding_rs::Encoding::for_label(label.trim().as_bytes())?;
    // A declaration of UTF-16 in a file without a BOM is read as UTF-8.
    (enc != encoding_rs::UTF_16LE && enc != encoding_rs::UTF_16BE).then_some(enc)
}

/// `%XX` escapes decoded (hrefs in OPF and XHTML files); invalid UTF-8 is
/// kept as written.
pub(crate) fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(_) => Cow::Borrowed(s),
    }
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_becomes_text() {
        assert_eq!(
            html_to_text("<p>One &amp; <i>two</i></p><p>three&nbsp;four &mdash; a < b</p>"),
            "One & two\nthree four — a < b"
        );
        assert_eq!(html_to_text("plain   text"), "plain text");
        assert_eq!(html_to_text("<!-- x > y --> ok <unclosed"), "ok");
        assert_eq!(html_to_text("&#233;&#x41;&bogus;"), "éA");
    }

    #[test]
    fn years() {
        assert_eq!(year_of("2017-12-11T02:32:46Z"), Some(2017));
        assert_eq!(year_of("D:20220403183542+02'00'"), Some(2022));
        assert_eq!(year_of("March 1865"), Some(1865));
        assert_eq!(year_of("12/1"), None);
    }

    #[test]
    fn natural_order() {
        let mut v = vec!["p10.jpg", "p2.jpg", "P1.jpg", "p02b.jpg", "a/p1.jpg"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["a/p1.jpg", "P1.jpg", "p2.jpg", "p02b.jpg", "p10.jpg"]);
    }

    #[test]
    fn encodings() {
        let cp1251 = b"<?xml version=\"1.0\" encoding=\"windows-1251\"?><a>\xcf\xf0\xe8</a>";
        assert!(decode_xml_bytes(cp1251).contains("При"));
        assert_eq!(decode_xml_bytes(b"\xef\xbb\xbf<a/>"), "<a/>");
        assert_eq!(decode_xml_bytes(b"\xff\xfe<\x00a\x00/\x00>\x00"), "<a/>");
        assert_eq!(percent_decode("a%20b%zz%C3%A9"), "a b%zzé");
    }
}
