//! OPDS 1.2: a [`Feed`] as an Atom document, and the OpenSearch
//! description. Written with quick-xml's writer, which escapes markup in
//! text and attributes; [`clean`] first drops what XML 1.0 cannot hold at
//! all (control characters, U+FFFE/U+FFFF), so hostile records still make
//! well-formed feeds.

use std::borrow::Cow;
use std::io;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

use super::{ATOM_ACQ, ATOM_NAV, Feed, OPDS2, Publication, rfc3339};
use crate::listing::clip;
use crate::urls;

type W = Writer<Vec<u8>>;

/// The longest summary written (bytes); longer descriptions are cut.
const MAX_SUMMARY: usize = 4000;

/// `s` without the characters XML 1.0 forbids (tab, newline and carriage
/// return stay).
pub(crate) fn clean(s: &str) -> Cow<'_, str> {
    let ok = |c: char| {
        matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && !('\u{fffe}'..='\u{ffff}').contains(&c))
    };
    if s.chars().all(ok) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.chars().filter(|&c| ok(c)).collect())
    }
}

/// An element with text content.
fn text(w: &mut W, name: &str, value: &str) -> io::Result<()> {
    w.create_element(name)
        .write_text_content(BytesText::new(&clean(value)))?;
    Ok(())
}

/// An empty `<link>` with these attributes (values cleaned and escaped).
fn link(w: &mut W, attrs: &[(&str, &str)]) -> io::Result<()> {
    let cleaned: Vec<(&str, Cow<'_, str>)> = attrs.iter().map(|(k, v)| (*k, clean(v))).collect();
    w.create_element("link")
        .with_attributes(cleaned.iter().map(|(k, v)| (*k, v.as_ref())))
        .write_empty()?;
    Ok(())
}

fn start(w: &mut W) -> io::Result<()> {
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
}

/// The feed as an Atom document.
pub(crate) fn write(f: &Feed) -> io::Result<Vec<u8>> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 1);
    start(&mut w)?;
    let self_type = if f.acquisition { ATOM_ACQ } else { ATOM_NAV };
    w.create_element("feed")
        .with_attributes([
            ("xmlns", "http://www.w3.org/2005/Atom"),
            ("xmlns:dc", "http://purl.org/dc/terms/"),
            ("xmlns:opds", "http://opds-spec.org/2010/catalog"),
            ("xmlns:opensearch", "http://a9.com/-/spec/opensearch/1.1/"),
            ("xmlns:thr", "http://purl.org/syndication/thread/1.0"),
        ])
        .write_inner_content(|w| {
            text(w, "id", &f.id)?;
            text(w, "title", &f.title)?;
            text(w, "updated", &rfc3339(f.updated))?;
            w.create_element("author").write_inner_content(|w| {
                text(w, "name", "carrel")?;
                text(w, "uri", "/library")
            })?;
            link(
                w,
                &[("rel", "self"), ("href", &f.self_href), ("type", self_type)],
            )?;
            link(
                w,
                &[("rel", "start"), ("href", "/opds"), ("type", ATOM_NAV)],
            )?;
            if let Some(up) = &f.up {
                link(w, &[("rel", "up"), ("href", up), ("type", ATOM_NAV)])?;
            }
            link(
                w,
                &[
                    ("rel", "search"),
                    ("href", "/opds/search.xml"),
                    ("type", super::OPENSEARCH),
                    ("title", "Search the library"),
                ],
            )?;
            link(
                w,
                &[
                    ("rel", "search"),
                    ("href", "/opds/search?q={searchTerms}"),
                    ("type", ATOM_ACQ),
                    ("title", "Search the library"),
                ],
            )?;
            link(
                w,
                &[
                    ("rel", "alternate"),
                    ("href", &f.self_href.replacen("/opds", "/opds/v2", 1)),
                    ("type", OPDS2),
                    ("title", "This feed in OPDS 2.0"),
                ],
            )?;
            if let Some(p) = &f.pages {
                link(
                    w,
                    &[("rel", "first"), ("href", &p.first), ("type", ATOM_ACQ)],
                )?;
                if let Some(h) = &p.prev {
                    link(w, &[("rel", "previous"), ("href", h), ("type", ATOM_ACQ)])?;
                }
                if let Some(h) = &p.next {
                    link(w, &[("rel", "next"), ("href", h), ("type", ATOM_ACQ)])?;
                }
                link(w, &[("rel", "last"), ("href", &p.last), ("type", ATOM_ACQ)])?;
                text(w, "opensearch:totalResults", &p.total.to_string())?;
                text(w, "opensearch:itemsPerPage", &p.per.to_string())?;
                text(w, "opensearch:startIndex", &p.start_index().to_string())?;
            }
            for g in &f.facets {
                for l in &g.links {
                    let count = l.count.map(|n| n.to_string());
                    let mut attrs = vec![
                        ("rel", "http://opds-spec.org/facet"),
                        ("href", l.href.as_str()),
                        ("type", ATOM_ACQ),
                        ("title", l.title.as_str()),
                        ("opds:facetGroup", g.title.as_str()),
                    ];
                    if l.active {
                        attrs.push(("opds:activeFacet", "true"));
                    }
                    if let Some(n) = &count {
                        attrs.push(("thr:count", n));
                    }
                    link(w, &attrs)?;
                }
            }
            for n in &f.nav {
                w.create_element("entry").write_inner_content(|w| {
                    text(w, "title", &n.title)?;
                    text(w, "id", &n.id)?;
                    text(w, "updated", &rfc3339(f.updated))?;
                    let ty = if n.acquisition { ATOM_ACQ } else { ATOM_NAV };
                    let count = n.count.map(|c| c.to_string());
                    let mut attrs = vec![("rel", n.rel), ("href", n.href.as_str()), ("type", ty)];
                    if let Some(c) = &count {
                        attrs.push(("thr:count", c));
                    }
                    link(w, &attrs)?;
                    if let Some(s) = &n.summary {
                        w.create_element("content")
                            .with_attribute(("type", "text"))
                            .write_text_content(BytesText::new(&clean(s)))?;
                    }
                    Ok(())
                })?;
            }
            for p in &f.pubs {
                entry(w, p)?;
            }
            Ok(())
        })?;
    Ok(w.into_inner())
}

/// One edition as an OPDS catalog entry.
fn entry(w: &mut W, p: &Publication) -> io::Result<()> {
    let e = &p.edition;
    let r = &e.record;
    w.create_element("entry").write_inner_content(|w| {
        let title = match &r.subtitle {
            Some(s) => format!("{}: {s}", r.title),
            None => r.title.clone(),
        };
        text(w, "title", &title)?;
        text(w, "id", &format!("urn:carrel:edition:{}", e.id))?;
        text(w, "updated", &rfc3339(e.updated_at))?;
        for a in &r.authors {
            w.create_element("author").write_inner_content(|w| {
                text(w, "name", &a.name)?;
                text(
                    w,
                    "uri",
                    &format!("/opds/authors/{}", crate::listing::percent(&a.name)),
                )
            })?;
        }
        for id in p.identifiers() {
            text(w, "dc:identifier", &id)?;
        }
        if let Some(l) = &r.language {
            text(w, "dc:language", l.as_str())?;
        }
        if let Some(y) = r.year {
            text(w, "dc:issued", &format!("{y:04}"))?;
        }
        if let Some(p) = &r.publisher {
            text(w, "dc:publisher", p)?;
        }
        for s in &r.subjects {
            let s = clean(s);
            w.create_element("category")
                .with_attributes([("term", s.as_ref()), ("label", s.as_ref())])
                .write_empty()?;
        }
        if let Some(d) = &r.description {
            let cut = clip(d, MAX_SUMMARY);
            let d = if cut.len() < d.len() {
                format!("{cut}…")
            } else {
                cut.to_owned()
            };
            w.create_element("summary")
                .with_attribute(("type", "text"))
                .write_text_content(BytesText::new(&clean(&d)))?;
        }
        if p.cover {
            link(
                w,
                &[
                    ("rel", "http://opds-spec.org/image"),
                    ("href", &urls::cover(e.id, true)),
                    ("type", "image/jpeg"),
                ],
            )?;
            link(
                w,
                &[
                    ("rel", "http://opds-spec.org/image/thumbnail"),
                    ("href", &urls::cover(e.id, false)),
                    ("type", "image/jpeg"),
                ],
            )?;
        }
        for f in &p.files {
            link(
                w,
                &[
                    ("rel", "http://opds-spec.org/acquisition"),
                    ("href", &urls::file(&f.file_id)),
                    ("type", urls::format_media_type(&f.format)),
                    ("title", &f.format.to_uppercase()),
                ],
            )?;
        }
        link(
            w,
            &[
                ("rel", "alternate"),
                ("href", &format!("{}#e{}", urls::work(e.work_id), e.id)),
                ("type", "text/html"),
                ("title", "Web page"),
            ],
        )
    })?;
    Ok(())
}

/// The OpenSearch 1.1 description of the catalog's search; `origin`
/// (`http://host:port`, or empty) makes the templates absolute.
pub(crate) fn opensearch(origin: &str) -> io::Result<Vec<u8>> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 1);
    start(&mut w)?;
    w.create_element("OpenSearchDescription")
        .with_attribute(("xmlns", "http://a9.com/-/spec/opensearch/1.1/"))
        .write_inner_content(|w| {
            text(w, "ShortName", "carrel")?;
            text(w, "Description", "Search the carrel library")?;
            text(w, "InputEncoding", "UTF-8")?;
            text(w, "OutputEncoding", "UTF-8")?;
            for (ty, template) in [
                (ATOM_ACQ, "/opds/search?q={searchTerms}&page={startPage?}"),
                (
                    OPDS2,
                    "/opds/v2/search?query={searchTerms}&page={startPage?}",
                ),
                ("text/html", "/library?q={searchTerms}"),
            ] {
                let t = format!("{}{template}", clean(origin));
                w.create_element("Url")
                    .with_attributes([("type", ty), ("template", t.as_str())])
                    .write_empty()?;
            }
            Ok(())
        })?;
    Ok(w.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use quick_xml::Reader;
    use quick_xml::events::Event;

    /// Every element, attribute and text of a document, failing on
    /// anything that is not well-formed.
    fn parse(doc: &[u8]) -> Vec<String> {
        let mut r = Reader::from_reader(doc);
        r.config_mut().check_end_names = true;
        let mut out = Vec::new();
        let mut buf = Vec::new();
        loop {
            match r.read_event_into(&mut buf).expect("well-formed XML") {
                Event::Eof => break,
                Event::Start(e) | Event::Empty(e) => {
                    out.push(format!("<{}", String::from_utf8_lossy(e.name().as_ref())));
                    for a in e.attributes() {
                        let a = a.expect("attribute");
                        out.push(format!(
                            "@{}={}",
                            String::from_utf8_lossy(a.key.as_ref()),
                            a.unescape_value().expect("escaped value")
                        ));
                    }
                }
                Event::Text(t) => {
                    let t = t.unescape().expect("escaped text");
                    if !t.trim().is_empty() {
                        out.push(t.into_owned());
                    }
                }
                _ => {}
            }
            buf.clear();
        }
        out
    }

    #[test]
    fn clean_drops_what_xml_cannot_hold() {
        assert_eq!(clean("a\tb\nc\r"), "a\tb\nc\r");
        assert_eq!(clean("a\u{0}b\u{1f}c\u{fffe}\u{ffff}d"), "abcd");
        assert!(matches!(clean("plain ü 字"), Cow::Borrowed(_)));
    }

    #[test]
    fn hostile_records_make_well_formed_feeds() {
        let f = super::super::tests::sample();
        let doc = write(&f).unwrap();
        let s = String::from_utf8(doc.clone()).unwrap();
        assert!(!s.contains('\u{0}') && !s.contains('\u{1}') && !s.contains('\u{b}'));
        assert!(s.contains("Tom &amp; Jerry &lt;"), "{s}");
        let items = parse(&doc);
        let has = |x: &str| items.iter().any(|i| i == x);
        assert!(has("Tom & Jerry <\"the\" 'book'>: A ]]> tale"), "{items:?}");
        assert!(has("Ann O'Neil & Sons"));
        assert!(has("@href=/opds/search?q=a%26b&page=3"));
        assert!(has("@opds:activeFacet=true"));
        assert!(has("@thr:count=41"));
        assert!(has("urn:isbn:9780306406157"));
        assert!(has("https://doi.org/10.1000/a%3Cb%3E"));
        assert!(has("1813"));
        assert!(has("@type=application/epub+zip"));
        assert!(has("@type=application/pdf"));
        assert!(has("@href=/library/covers/7/small.jpg"));
        assert!(has("@rel=http://opds-spec.org/image/thumbnail"));
        assert!(has("41") && has("20") && has("21"), "{items:?}");
        assert!(has("Line one\nline <two>"));
    }

    #[test]
    fn opensearch_templates() {
        let doc = opensearch("http://h:1").unwrap();
        let items = parse(&doc);
        assert!(
            items
                .iter()
                .any(|i| i == "@template=http://h:1/opds/search?q={searchTerms}&page={startPage?}"),
            "{items:?}"
        );
    }
}
