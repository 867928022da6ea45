//! OAI-PMH harvests: `ListRecords` responses (one or many concatenated) with
//! `oai_dc` metadata or arXiv's plain elements. Read as a stream of XML
//! events, so a harvest of any size takes constant memory; each text is
//! capped. A record marked deleted in its header is skipped.

use std::io::BufRead;

use carrel_core::catalog::{Author, EditionId, EditionRecord, Kind, Lang, SourceKey, clip};
use carrel_core::ident::{ArxivId, Doi, Isbn};
use quick_xml::events::Event;

use super::{Item, Refs, year_in};

/// The longest text of one element that is kept.
const MAX_TEXT: usize = 64 * 1024;

#[derive(Default)]
struct Rec {
    identifier: String,
    deleted: bool,
    titles: Vec<String>,
    creators: Vec<String>,
    descriptions: Vec<String>,
    dates: Vec<String>,
    subjects: Vec<String>,
    languages: Vec<String>,
    publishers: Vec<String>,
    identifiers: Vec<String>,
    types: Vec<String>,
    // arXiv's <authors><author><keyname/><forenames/></author>
    keyname: String,
    forenames: String,
}

pub fn harvest(input: Box<dyn BufRead + Send>) -> impl Iterator<Item = Item> + Send {
    let mut reader = quick_xml::Reader::from_reader(input);
    reader.config_mut().trim_text(true);
    let mut buf = Vec::new();
    let mut n = 0u64;
    let mut cur: Option<Rec> = None;
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut done = false;
    std::iter::from_fn(move || {
        loop {
            if done {
                return None;
            }
            buf.clear();
            let ev = match reader.read_event_into(&mut buf) {
                Ok(ev) => ev,
                Err(e) => {
                    done = true;
                    return Some(Item::Bad(
                        n + 1,
                        format!("XML error at byte {}: {e}", reader.buffer_position()),
                    ));
                }
            };
            match ev {
                Event::Eof => {
                    done = true;
                    return None;
                }
                Event::Start(e) => {
                    let name = local(e.name().as_ref());
                    if path.len() > 64 {
                        done = true;
                        return Some(Item::Bad(n + 1, "XML nested too deeply".into()));
                    }
                    if name == "record" {
                        n += 1;
                        cur = Some(Rec::default());
                    } else if name == "header"
                        && let Some(r) = cur.as_mut()
                    {
                        r.deleted = e
                            .attributes()
                            .flatten()
                            .any(|a| a.key.as_ref() == b"status" && a.value.as_ref() == b"deleted");
                    }
                    path.push(name);
                    text.clear();
                }
                Event::Text(t) if text.len() < MAX_TEXT => {
                    let t = t.unescape().map(|c| c.into_owned()).unwrap_or_default();
                    text.push_str(clip(&t, MAX_TEXT));
                }
                Event::CData(t) if text.len() < MAX_TEXT => {
                    text.push_str(clip(&String::from_utf8_lossy(&t), MAX_TEXT));
                }
                Event::End(_) => {
                    let name = path.pop().unwrap_or_default();
                    let parent = path.last().map(String::as_str).unwrap_or("");
                    if name == "record" {
                        if let Some(r) = cur.take() {
                            if r.deleted {
                                continue;
                            }
                            return Some(match record(r) {
                                Ok(rec) => Item::Record(n, Box::new(rec), Refs::default()),
                                Err(e) => Item::Bad(n, e),
                            });
                        }
                        continue;
                    }
                    let Some(r) = cur.as_mut() else { continue };
                    let t = std::mem::take(&mut text);
                    let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
                    match (name.as_str(), parent) {
                        ("identifier", "header") => r.identifier = t,
                        ("keyname", _) => r.keyname = t,
                        ("forenames", _) => r.forenames = t,
                        ("author", "authors") => {
                            let a = if r.forenames.is_empty() {
                                r.keyname.clone()
                            } else {
                                format!("{}, {}", r.keyname, r.forenames)
                            };
                            r.creators.push(a);
                            r.keyname.clear();
                            r.forenames.clear();
                        }
                        ("title", _) => r.titles.push(t),
                        ("creator", _) => r.creators.push(t),
                        ("description" | "abstract", _) => r.descriptions.push(t),
                        ("date", _) => r.dates.push(t),
                        ("subject", _) => r.subjects.push(t),
                        ("language", _) => r.languages.push(t),
                        ("publisher", _) => r.publishers.push(t),
                        ("identifier", _) | ("doi", _) | ("id", "arXiv") => r.identifiers.push(t),
                        ("type", _) => r.types.push(t),
                        _ => {}
                    }
                }
                _ => {}
            }
        }
    })
}

fn local(name: &[u8]) -> String {
    let n = name.rsplit(|b| *b == b':').next().unwrap_or(name);
    String::from_utf8_lossy(n).into_owned()
}

fn record(r: Rec) -> Result<EditionRecord, String> {
    if r.identifier.is_empty() {
        return Err("record without a header identifier".into());
    }
    let mut ids = Vec::new();
    let arxiv = r
        .identifier
        .strip_prefix("oai:arXiv.org:")
        .and_then(|a| ArxivId::parse(a).ok());
    if let Some(a) = &arxiv {
        ids.push(EditionId::arxiv(a));
    }
    for i in &r.identifiers {
        if let Ok(d) = Doi::parse(i) {
            ids.push(EditionId::doi(&d));
        } else if let Ok(a) = ArxivId::parse(i) {
            ids.push(EditionId::arxiv(&a));
        } else if let Ok(b) = Isbn::parse(i) {
            ids.push(EditionId::isbn(&b));
        }
    }
    let is_article =
        arxiv.is_some() || r.types.iter().any(|t| t.to_lowercase().contains("article"));
    EditionRecord {
        source: Some(SourceKey::new("oai", &r.identifier).map_err(|e| e.to_string())?),
        kind: if is_article {
            Kind::Article
        } else {
            Kind::Book
        },
        title: r.titles.into_iter().next().unwrap_or_default(),
        authors: r.creators.iter().filter_map(|c| Author::parse(c)).collect(),
        description: r.descriptions.into_iter().next(),
        year: r.dates.iter().find_map(|d| year_in(d)),
        subjects: r.subjects,
        language: r.languages.iter().find_map(|l| Lang::parse(l).ok()),
        publisher: r.publishers.into_iter().next(),
        identifiers: ids,
        ..Default::default()
    }
    .validated()
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(xml: &str) -> Vec<Item> {
        harvest(Box::new(std::io::Cursor::new(xml.as_bytes().to_vec()))).collect()
    }

    #[test]
    fn arxiv_and_dc_records() {
        let xml = r#"<?xml version="1.0"?><OAI-PMH><ListRecords>
          <record><header><identifier>oai:arXiv.org:quant-ph/0501001</identifier></header>
            <metadata><title>Nonlinear   optics</title><description>About &amp; more</description><date>2005-01-01</date></metadata></record>
          <record><header status="deleted"><identifier>oai:x:gone</identifier></header></record>
          <record><header><identifier>oai:repo:7</identifier></header><metadata>
            <oai_dc:dc xmlns:oai_dc="x" xmlns:dc="y"><dc:title>Un livre</dc:title><dc:creator>Hugo, Victor</dc:creator>
            <dc:language>fre</dc:language><dc:identifier>https://doi.org/10.5555/ABC</dc:identifier><dc:type>Text</dc:type></oai_dc:dc></metadata></record>
          <record><header><identifier>oai:repo:8</identifier></header><metadata></metadata></record>
          <record><metadata><title>no header</title></metadata></record>
        </ListRecords></OAI-PMH>"#;
        let items = run(xml);
        let Item::Record(1, a, _) = &items[0] else {
            panic!("{items:?}")
        };
        assert_eq!(a.title, "Nonlinear optics");
        assert_eq!(a.kind, Kind::Article);
        assert_eq!(a.year, Some(2005));
        assert_eq!(a.description.as_deref(), Some("About & more"));
        assert_eq!(
            a.identifiers,
            vec![EditionId::Arxiv("quant-ph/0501001".into())]
        );
        let Item::Record(3, b, _) = &items[1] else {
            panic!("{items:?}")
        };
        assert_eq!(b.authors[0].name, "Victor Hugo");
        assert_eq!(b.language.as_ref().unwrap().as_str(), "fr");
        assert_eq!(b.identifiers, vec![EditionId::Doi("10.5555/abc".into())]);
        assert!(matches!(items[2], Item::Bad(4, _)), "no title");
        assert!(matches!(items[3], Item::Bad(5, _)), "no identifier");
        assert_eq!(items.len(), 4);
    }

    #[test]
    fn hostile_xml_ends_with_a_report() {
        let items = run(
            "<ListRecords><record><header><identifier>oai:a:1</identifier></header><metadata><title>T</title></metadata></record><record><oops></ListRecords>",
        );
        assert!(matches!(items[0], Item::Record(..)));
        assert!(matches!(items.last(), Some(Item::Bad(..))));
        let deep = "<a>".repeat(10_000);
        let items = run(&deep);
        assert!(items.len() <= 1);
        let huge = format!(
            "<record><header><identifier>oai:a:2</identifier></header><metadata><title>{}</title></metadata></record>",
            "x".repeat(5_000_000)
        );
        let items = run(&huge);
        let Item::Record(_, r, _) = &items[0] else {
            panic!()
        };
        assert!(r.title.len() <= MAX_TEXT);
    }
}
