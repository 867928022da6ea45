//! FictionBook 2 (and FB2 in a zip): the `<description>` read as a stream of
//! XML events, and the cover's `<binary>`; the book's body is skipped.

use std::io::Read;
use std::path::Path;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::bounds::Ctx;
use crate::meta::Meta;
use crate::text::{decode_xml_bytes, resolve_entity, squash};
use crate::xml::local;
use crate::zipsafe::SafeZip;
use crate::{Format, FormatError, Found, RawCover};

const MAX_DEPTH: usize = 256;

/// Base64 as FB2 writers produce it: padding optional, line breaks removed
/// beforehand.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// FB2 files carry their images, so they may be as large as an archive
/// entry rather than an XML document.
fn cap(ctx: &Ctx) -> u64 {
    ctx.limits
        .max_entry_bytes
        .max(ctx.limits.max_xml_bytes as u64)
}

pub(crate) fn extract(path: &Path, ctx: &mut Ctx) -> Result<Found, FormatError> {
    let cap = cap(ctx);
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(cap + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        bytes.truncate(cap as usize);
        ctx.problem(
            "truncated",
            format!("only the first {cap} bytes were read; the cover may be missing"),
        );
    }
    parse(&bytes, ctx)
}

/// An FB2 inside a zip (`.fb2.zip`, `.fbz`).
pub(crate) fn extract_zipped(zip: &mut SafeZip, ctx: &mut Ctx) -> Result<Found, FormatError> {
    let books: Vec<usize> = zip
        .content_entries()
        .filter(|(_, e)| e.name.to_ascii_lowercase().ends_with(".fb2"))
        .map(|(i, _)| i)
        .collect();
    let Some(&first) = books.first() else {
        return Err(FormatError::NotABook("the zip holds no .fb2 file".into()));
    };
    if books.len() > 1 {
        ctx.problem(
            "several_books",
            format!(
                "the zip holds {} .fb2 files; the first was read",
                books.len()
            ),
        );
    }
    let bytes = zip.read(first, cap(ctx))?;
    parse(&bytes, ctx)
}

/// Where in the description the reader is.
#[derive(Default)]
struct State {
    path: Vec<String>,
    author: Option<[String; 4]>, // first, middle, last, nickname
    annotation: Option<String>,
    cover_id: Option<String>,
    binary: Option<(String, Option<String>)>, // collected base64, content type
    cover: Option<RawCover>,
    description_done: bool,
}

impl State {
    fn within(&self, name: &str) -> bool {
        self.path.iter().any(|p| p == name)
    }

    fn in_title_info(&self) -> bool {
        self.within("title-info") && self.within("description")
    }
}

fn parse(bytes: &[u8], ctx: &mut Ctx) -> Result<Found, FormatError> {
    let text = decode_xml_bytes(bytes);
    let mut reader = Reader::from_str(&text);
    reader.config_mut().check_end_names = false;
    let mut meta = Meta::default();
    let mut st = State::default();
    let mut seen_root = false;
    let mut events = 0u64;
    loop {
        events += 1;
        if events.is_multiple_of(4096) {
            if meta.title.is_none() {
                ctx.check()?;
            } else if ctx.out_of_time() {
                break;
            }
        }
        let event = match reader.read_event() {
            Ok(e) => e,
            Err(e) => {
                let msg = format!("{} (at byte {})", e, reader.buffer_position());
                if !seen_root || meta.title.is_none() {
                    return Err(FormatError::Malformed(format!(
                        "not FictionBook XML: {msg}"
                    )));
                }
                ctx.problem("bad_xml", crate::meta::clip_owned(&msg, 300));
                break;
            }
        };
        match event {
            Event::Start(e) | Event::Empty(e) if !seen_root => {
                if local(&String::from_utf8_lossy(e.name().as_ref())) != "FictionBook" {
                    return Err(FormatError::NotABook(
                        "the root element is not FictionBook".into(),
                    ));
                }
                seen_root = true;
                st.path.push("FictionBook".into());
            }
            Event::Start(e) => {
                if st.path.len() >= MAX_DEPTH {
                    ctx.problem(
                        "bad_xml",
                        format!("XML nested deeper than {MAX_DEPTH} elements"),
                    );
                    break;
                }
                let name = start(&e, &mut st, &mut meta);
                st.path.push(name);
            }
            Event::Empty(e) => {
                start(&e, &mut st, &mut meta);
            }
            Event::Text(t) => {
                let raw = String::from_utf8_lossy(t.as_ref());
                let s = t
                    .unescape_with(resolve_entity)
                    .map(|c| c.into_owned())
                    .unwrap_or_else(|_| raw.into_owned());
                text_in(&s, &mut st, &mut meta);
            }
            Event::CData(t) => text_in(&String::from_utf8_lossy(t.as_ref()), &mut st, &mut meta),
            Event::End(e) => {
                let qname = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                let name = local(&qname).to_owned();
                if end(&name, &mut st, &mut meta, ctx) {
                    break;
                }
                if let Some(pos) = st.path.iter().rposition(|p| *p == name) {
                    st.path.truncate(pos);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !seen_root {
        return Err(FormatError::NotABook("no FictionBook element".into()));
    }
    if st.cover.is_none()
        && let Some(id) = &st.cover_id
    {
        ctx.problem(
            "bad_cover",
            format!("the cover image #{id} was not found in the file"),
        );
    }
    Ok(Found {
        format: Format::Fb2,
        meta,
        cover: st.cover,
        pages: None,
        encrypted: false,
    })
}

fn attr(e: &BytesStart<'_>, local_name: &str) -> Option<String> {
    e.attributes()
        .with_checks(false)
        .filter_map(Result::ok)
        .find(|a| local(&String::from_utf8_lossy(a.key.as_ref())) == local_name)
        .map(|a| {
            a.unescape_value_with(resolve_entity)
                .map(|v| v.into_owned())
                .unwrap_or_else(|_| String::from_utf8_lossy(&a.value).into_owned())
        })
}

/// Handles a start (or empty) tag; returns its local name.
fn start(e: &BytesStart<'_>, st: &mut State, meta: &mut Meta) -> String {
    let qname = String::from_utf8_lossy(e.name().as_ref()).into_owned();
    let name = local(&qname).to_owned();
    let in_ti = st.in_title_info();
    match name.as_str() {
        "author" if in_ti => st.author = Some(Default::default()),
        "annotation" if in_ti => st.annotation = Some(String::new()),
        "sequence" if in_ti => {
            if let Some(s) = attr(e, "name") {
                meta.set_series(&s, attr(e, "number").as_deref());
            }
        }
        "date" if in_ti => {
            if let Some(v) = attr(e, "value") {
                meta.set_year_from(&v);
            }
        }
        "image" if in_ti && st.within("coverpage") && st.cover_id.is_none() => {
            st.cover_id = attr(e, "href").map(|h| h.trim().trim_start_matches('#').to_owned());
        }
        "binary" if st.cover.is_none() && st.cover_id.is_some() && attr(e, "id") == st.cover_id => {
            st.binary = Some((String::new(), attr(e, "content-type")));
        }
        "p" | "empty-line" if st.annotation.is_some() => {
            if let Some(a) = &mut st.annotation {
                a.push('\n');
            }
        }
        _ => {}
    }
    name
}

fn text_in(s: &str, st: &mut State, meta: &mut Meta) {
    if let Some((b64, _)) = &mut st.binary {
        b64.extend(s.chars().filter(|c| !c.is_whitespace()));
        return;
    }
    if let Some(a) = &mut st.annotation {
        if a.len() < 4 * carrel_core::catalog::MAX_DESCRIPTION {
            a.push_str(s);
        }
        return;
    }
    if !st.within("description") {
        return;
    }
    let Some(current) = st.path.last().map(String::as_str) else {
        return;
    };
    if st.in_title_info() {
        if let Some(parts) = &mut st.author {
            let slot = match current {
                "first-name" => 0,
                "middle-name" => 1,
                "last-name" => 2,
                "nickname" => 3,
                _ => return,
            };
            parts[slot].push_str(s);
            return;
        }
        match current {
            "book-title" => meta.set_title(s),
            "genre" => {
                let g = s.trim();
                if !g.is_empty() && g != "unrecognised" && g != "unknown" {
                    meta.add_subject(g);
                }
            }
            "lang" => meta.set_language(s),
            "keywords" => s.split(',').for_each(|k| meta.add_subject(k)),
            "date" => meta.set_year_from(s),
            _ => {}
        }
    } else if st.within("publish-info") {
        match current {
            "publisher" => meta.set_publisher(s),
            "year" => meta.set_year_from(s),
            "isbn" => {
                // ISBNs here are often several, or malformed; keep the good ones.
                for part in s.split([',', ';']) {
                    if let Ok(i) = carrel_core::ident::Isbn::parse(part) {
                        meta.identifiers
                            .push(carrel_core::catalog::EditionId::isbn(&i));
                    }
                }
            }
            _ => {}
        }
    }
}

/// Handles an end tag; returns true when nothing more is needed.
fn end(name: &str, st: &mut State, meta: &mut Meta, ctx: &mut Ctx) -> bool {
    match name {
        "author" if st.author.is_some() && st.in_title_info() => {
            let [first, middle, last, nick] =
                st.author.take().unwrap_or_default().map(|p| squash(&p));
            let given = squash(&format!("{first} {middle}"));
            if !last.is_empty() {
                let shown = squash(&format!("{given} {last}"));
                let sort = if given.is_empty() {
                    last.clone()
                } else {
                    format!("{last}, {given}")
                };
                meta.add_author(&shown, Some(&sort));
            } else if !given.is_empty() {
                meta.add_author(&given, None);
            } else if !nick.is_empty() {
                meta.add_author(&nick, None);
            }
        }
        "annotation" if st.annotation.is_some() && st.in_title_info() => {
            if let Some(a) = st.annotation.take() {
                meta.set_description_html(&a);
            }
        }
        "description" => {
            st.description_done = true;
            return st.cover_id.is_none();
        }
        "binary" => {
            if let Some((b64, content_type)) = st.binary.take() {
                match BASE64.decode(b64.as_bytes()) {
                    Ok(bytes) => {
                        st.cover = Some(RawCover {
                            bytes,
                            declared: content_type,
                        });
                        return true;
                    }
                    Err(e) => ctx.problem("bad_cover", format!("the cover's base64: {e}")),
                }
            }
        }
        _ => {}
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;

    #[test]
    fn reads_a_description() {
        let doc = r##"<?xml version="1.0" encoding="utf-8"?>
<FictionBook xmlns="http://www.gribuser.ru/xml/fictionbook/2.0" xmlns:l="http://www.w3.org/1999/xlink">
<description><title-info><genre>sf_fantasy</genre>
<author><first-name>Лев</first-name><middle-name>Николаевич</middle-name><last-name>Толстой</last-name></author>
<author><nickname>anon</nickname></author>
<book-title>Война и мир</book-title>
<annotation><p>One</p><p>Two &amp; three</p></annotation>
<date value="1869-01-01">1869</date>
<coverpage><image l:href="#cover.png"/></coverpage><lang>ru</lang>
<sequence name="Epics" number="2"/></title-info>
<publish-info><publisher>Pub</publisher><year>2001</year><isbn>978-0-306-40615-7</isbn></publish-info>
</description><body><p>text</p></body>
<binary id="cover.png" content-type="image/png">aGVs
bG8=</binary></FictionBook>"##;
        let limits = Limits::default();
        let mut ctx = Ctx::new(&limits);
        let f = parse(doc.as_bytes(), &mut ctx).unwrap();
        let m = f.meta;
        assert_eq!(m.title.as_deref(), Some("Война и мир"));
        assert_eq!(m.authors[0].name, "Лев Николаевич Толстой");
        assert_eq!(m.authors[0].sort, "Толстой, Лев Николаевич");
        assert_eq!(m.authors[1].name, "anon");
        assert_eq!(m.description.as_deref(), Some("One\nTwo & three"));
        assert_eq!(m.series.as_deref(), Some("Epics"));
        assert_eq!(m.series_index, Some(2.0));
        assert_eq!(m.year, Some(1869));
        assert_eq!(m.language.as_deref(), Some("ru"));
        assert_eq!(m.publisher.as_deref(), Some("Pub"));
        assert_eq!(m.subjects, vec!["sf_fantasy".to_string()]);
        assert_eq!(m.identifiers.len(), 1);
        assert_eq!(f.cover.unwrap().bytes, b"hello");
    }

    #[test]
    fn refuses_what_is_not_fictionbook() {
        let limits = Limits::default();
        let mut ctx = Ctx::new(&limits);
        assert!(parse(b"This not fb2 file for tests\r\n", &mut ctx).is_err());
        assert!(parse(b"<html><body/></html>", &mut ctx).is_err());
        assert!(parse(b"", &mut ctx).is_err());
    }
}
