//! Crossref and OpenAlex works, one JSON object per line (`.jsonl`, `.gz`).
//! Each line is recognized on its own: Crossref works have `DOI`, OpenAlex
//! works an `id` at openalex.org; a Crossref API page (`{"message":{"items":…}}`
//! or `{"items":…}`) on one line yields each of its items.

use std::io::BufRead;

use carrel_core::catalog::{Author, EditionId, EditionRecord, Kind, Lang, SourceKey};
use carrel_core::ident::{Doi, Isbn, Issn};
use serde_json::Value;

use super::{Item, Refs, lines, strip_tags, year_in};

pub fn works(input: Box<dyn BufRead + Send>) -> impl Iterator<Item = Item> + Send {
    lines(input).flat_map(|(line, text)| {
        let v: Value = match text
            .and_then(|t| serde_json::from_slice(&t).map_err(|e| format!("not JSON: {e}")))
        {
            Ok(v) => v,
            Err(e) => return vec![Item::Bad(line, e)],
        };
        let items = v
            .pointer("/message/items")
            .or_else(|| v.get("items"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_else(|| vec![v]);
        items
            .iter()
            .map(|w| match work(w) {
                Ok(r) => Item::Record(line, Box::new(r), Refs::default()),
                Err(e) => Item::Bad(line, e),
            })
            .collect()
    })
}

fn s(v: &Value, p: &str) -> Option<String> {
    v.pointer(p)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn strings(v: &Value, p: &str) -> Vec<String> {
    v.pointer(p)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn kind_of(t: Option<&str>) -> Kind {
    match t.unwrap_or("") {
        "book" | "monograph" | "edited-book" | "reference-book" | "book-set" => Kind::Book,
        _ => Kind::Article,
    }
}

fn work(v: &Value) -> Result<EditionRecord, String> {
    if v.get("DOI").is_some() {
        crossref(v)
    } else if v
        .get("id")
        .and_then(Value::as_str)
        .is_some_and(|i| i.contains("openalex.org/"))
    {
        openalex(v)
    } else {
        Err("neither a Crossref work (no DOI) nor an OpenAlex work (no openalex.org id)".into())
    }
}

fn crossref(v: &Value) -> Result<EditionRecord, String> {
    let doi = Doi::parse(v["DOI"].as_str().unwrap_or("")).map_err(|e| e.to_string())?;
    let mut ids = vec![EditionId::doi(&doi)];
    ids.extend(
        strings(v, "/ISSN")
            .iter()
            .filter_map(|i| Issn::parse(i).ok())
            .map(|i| EditionId::issn(&i)),
    );
    ids.extend(
        strings(v, "/ISBN")
            .iter()
            .filter_map(|i| Isbn::parse(i).ok())
            .map(|i| EditionId::isbn(&i)),
    );
    let authors = v
        .get("author")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|p| match (s(p, "/given"), s(p, "/family"), s(p, "/name")) {
                    (Some(g), Some(f), _) => Author::parse(&format!("{f}, {g}")),
                    (None, Some(f), _) => Author::parse(&f),
                    (_, _, Some(n)) => Author::parse(&n),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let year = [
        "/published/date-parts/0/0",
        "/issued/date-parts/0/0",
        "/published-print/date-parts/0/0",
    ]
    .iter()
    .find_map(|p| v.pointer(p).and_then(Value::as_i64))
    .map(|y| y as i32);
    EditionRecord {
        source: Some(SourceKey::new("doi", doi.as_str()).map_err(|e| e.to_string())?),
        kind: kind_of(v.get("type").and_then(Value::as_str)),
        title: strings(v, "/title").into_iter().next().unwrap_or_default(),
        subtitle: strings(v, "/subtitle").into_iter().next(),
        authors,
        subjects: strings(v, "/subject"),
        publisher: strings(v, "/container-title")
            .into_iter()
            .next()
            .or_else(|| s(v, "/publisher")),
        year,
        language: s(v, "/language").and_then(|l| Lang::parse(&l).ok()),
        description: s(v, "/abstract").map(|a| strip_tags(&a)),
        identifiers: ids,
        ..Default::default()
    }
    .validated()
    .map_err(|e| e.to_string())
}

fn openalex(v: &Value) -> Result<EditionRecord, String> {
    let key = v["id"]
        .as_str()
        .unwrap_or("")
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_owned();
    let mut ids = Vec::new();
    if let Some(d) = s(v, "/doi").and_then(|d| Doi::parse(&d).ok()) {
        ids.push(EditionId::doi(&d));
    }
    if let Some(i) = s(v, "/primary_location/source/issn_l").and_then(|i| Issn::parse(&i).ok()) {
        ids.push(EditionId::issn(&i));
    }
    let authors = v
        .get("authorships")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|p| s(p, "/author/display_name"))
                .filter_map(|n| Author::parse(&n))
                .collect()
        })
        .unwrap_or_default();
    let mut subjects: Vec<String> = Vec::new();
    for field in ["topics", "concepts", "keywords"] {
        if let Some(a) = v.get(field).and_then(Value::as_array) {
            subjects.extend(a.iter().filter_map(|c| s(c, "/display_name")).take(10));
        }
    }
    EditionRecord {
        source: Some(SourceKey::new("openalex", &key).map_err(|e| e.to_string())?),
        kind: kind_of(v.get("type").and_then(Value::as_str)),
        title: s(v, "/title")
            .or_else(|| s(v, "/display_name"))
            .unwrap_or_default(),
        authors,
        subjects,
        publisher: s(v, "/primary_location/source/display_name"),
        year: v
            .get("publication_year")
            .and_then(Value::as_i64)
            .map(|y| y as i32)
            .or_else(|| s(v, "/publication_date").and_then(|d| year_in(&d))),
        language: s(v, "/language").and_then(|l| Lang::parse(&l).ok()),
        description: v
            .get("abstract_inverted_index")
            .and_then(abstract_from_inverted),
        identifiers: ids,
        ..Default::default()
    }
    .validated()
    .map_err(|e| e.to_string())
}

/// OpenAlex ships abstracts as word → positions; this puts them back in order.
fn abstract_from_inverted(v: &Value) -> Option<String> {
    let map = v.as_object()?;
    let mut words: Vec<(u64, &str)> = Vec::new();
    for (w, pos) in map {
        for p in pos.as_array()?.iter().filter_map(Value::as_u64) {
            if words.len() >= 20_000 {
                break;
            }
            words.push((p, w.as_str()));
        }
    }
    words.sort_unstable();
    Some(words.iter().map(|(_, w)| *w).collect::<Vec<_>>().join(" ")).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(data: &str) -> Vec<Item> {
        works(Box::new(std::io::Cursor::new(data.as_bytes().to_vec()))).collect()
    }

    #[test]
    fn crossref_and_openalex() {
        let data = concat!(
            r#"{"DOI":"10.1000/XYZ","type":"journal-article","title":["A <i>study</i>"],"author":[{"given":"Ada","family":"Lovelace"}],"issued":{"date-parts":[[1843,1]]},"container-title":["Notes"],"ISSN":["0378-5955"]}"#,
            "\n",
            r#"{"id":"https://openalex.org/W2741809807","doi":"https://doi.org/10.7717/peerj.4375","title":"The state of OA","publication_year":2018,"language":"en","type":"article","authorships":[{"author":{"display_name":"Heather Piwowar"}}],"abstract_inverted_index":{"Despite":[0],"growing":[1]}}"#,
            "\n\n{not json}\n",
            r#"{"something":"else"}"#,
            "\n",
            r#"{"message":{"items":[{"DOI":"10.1/a","title":["One"]},{"DOI":"bad","title":["Two"]}]}}"#,
            "\n"
        );
        let items = run(data);
        let Item::Record(1, a, _) = &items[0] else {
            panic!("{items:?}")
        };
        assert_eq!(a.title, "A <i>study</i>");
        assert_eq!(a.kind, Kind::Article);
        assert_eq!(a.year, Some(1843));
        assert_eq!(a.authors[0].name, "Ada Lovelace");
        assert_eq!(a.source.as_ref().unwrap().as_str(), "doi:10.1000/xyz");
        assert!(a.identifiers.contains(&EditionId::Issn("0378-5955".into())));
        let Item::Record(2, b, _) = &items[1] else {
            panic!()
        };
        assert_eq!(b.description.as_deref(), Some("Despite growing"));
        assert_eq!(b.language.as_ref().unwrap().as_str(), "en");
        assert!(matches!(items[2], Item::Bad(4, _)));
        assert!(matches!(items[3], Item::Bad(5, _)));
        assert!(matches!(&items[4], Item::Record(6, r, _) if r.title == "One"));
        assert!(matches!(items[5], Item::Bad(6, _)));
        assert_eq!(items.len(), 6);
    }

    #[test]
    fn truncated_gzip_is_reported() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        for i in 0..2000 {
            writeln!(gz, r#"{{"DOI":"10.1/{i}","title":["T{i}"]}}"#).unwrap();
        }
        let bytes = gz.finish().unwrap();
        let cut = bytes[..bytes.len() / 2].to_vec();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.jsonl.gz");
        std::fs::write(&p, cut).unwrap();
        let (input, _) = crate::import::open(&p).unwrap();
        let items: Vec<Item> = works(input).collect();
        assert!(
            items
                .iter()
                .filter(|i| matches!(i, Item::Record(..)))
                .count()
                > 100
        );
        assert!(
            matches!(items.last(), Some(Item::Bad(..))),
            "the cut is reported"
        );
    }
}
