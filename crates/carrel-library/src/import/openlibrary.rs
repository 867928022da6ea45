//! Open Library dumps: tab-separated `type key revision last_modified json`
//! lines (`ol_dump_editions`, `_works`, `_authors`, or the combined dump).
//!
//! Authors and works become [`Item::Authority`] entries (kept in the
//! database by key); editions become records whose author and work keys the
//! importer resolves against them, so import the authors and works dumps
//! before the editions dump (the combined dump lists them in that order
//! only by chance: a re-import after it fills in what was missing).

use std::io::BufRead;

use carrel_core::catalog::{EditionId, EditionRecord, Kind, Lang, SourceKey};
use carrel_core::ident::Isbn;
use serde_json::Value;

use super::{Item, Refs, lines, year_in};

pub fn dump(input: Box<dyn BufRead + Send>) -> impl Iterator<Item = Item> + Send {
    lines(input).map(|(line, text)| match text {
        Ok(t) => parse_line(line, &t),
        Err(e) => Item::Bad(line, e),
    })
}

fn parse_line(line: u64, buf: &[u8]) -> Item {
    let Ok(text) = std::str::from_utf8(buf) else {
        return Item::Bad(line, "not UTF-8".into());
    };
    let cols: Vec<&str> = text.splitn(5, '\t').collect();
    let [kind, key, _rev, _modified, json] = cols.as_slice() else {
        return Item::Bad(
            line,
            "expected 5 tab-separated columns: type key revision last_modified json".into(),
        );
    };
    let v: Value = match serde_json::from_str(json) {
        Ok(v) => v,
        Err(e) => return Item::Bad(line, format!("JSON column: {e}")),
    };
    match *kind {
        "/type/author" => match s(&v, "name").or_else(|| s(&v, "personal_name")) {
            Some(name) => Item::Authority {
                key: (*key).to_owned(),
                name,
                data: serde_json::json!({ "alternate_names": v.get("alternate_names").cloned().unwrap_or(Value::Null) })
                    .to_string(),
            },
            None => Item::Bad(line, format!("author {key} has no name")),
        },
        "/type/work" => match s(&v, "title") {
            Some(title) => Item::Authority {
                key: (*key).to_owned(),
                name: title,
                data: serde_json::json!({
                    "authors": keys(&v, "authors", "/author/key"),
                    "subjects": strings(&v, "subjects"),
                    "description": text_value(v.get("description")),
                })
                .to_string(),
            },
            None => Item::Bad(line, format!("work {key} has no title")),
        },
        "/type/edition" => match edition(key, &v) {
            Ok((r, refs)) => Item::Record(line, Box::new(r), refs),
            Err(e) => Item::Bad(line, e),
        },
        // Redirects, deletions, lists, …: nothing for the catalog.
        other => Item::Bad(line, format!("skipped record of type {other}")),
    }
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn strings(v: &Value, k: &str) -> Vec<String> {
    v.get(k)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .take(64)
                .collect()
        })
        .unwrap_or_default()
}

/// Keys in a list of objects: `authors: [{"author": {"key": …}}]` or `[{"key": …}]`.
fn keys(v: &Value, k: &str, pointer: &str) -> Vec<String> {
    v.get(k)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| {
                    x.pointer(pointer)
                        .or_else(|| x.get("key"))
                        .and_then(Value::as_str)
                })
                .map(str::to_owned)
                .take(64)
                .collect()
        })
        .unwrap_or_default()
}

/// Open Library text is a string or `{"type": "/type/text", "value": …}`.
pub(crate) fn text_value(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        o => o.get("value").and_then(Value::as_str).map(str::to_owned),
    }
}

fn edition(key: &str, v: &Value) -> Result<(EditionRecord, Refs), String> {
    let mut ids = vec![EditionId::open_library(key).map_err(|e| e.to_string())?];
    for i in strings(v, "isbn_13").iter().chain(&strings(v, "isbn_10")) {
        if let Ok(i) = Isbn::parse(i) {
            ids.push(EditionId::isbn(&i));
        }
    }
    let work = keys(v, "works", "/key").into_iter().next();
    if let Some(w) = &work
        && let Ok(id) = EditionId::open_library(w)
    {
        ids.push(id);
    }
    let language = keys(v, "languages", "/key")
        .first()
        .and_then(|l| Lang::parse(l.rsplit('/').next().unwrap_or("")).ok());
    let rec = EditionRecord {
        source: Some(SourceKey::new("ol", key).map_err(|e| e.to_string())?),
        kind: Kind::Book,
        title: [s(v, "title_prefix"), s(v, "title")]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" "),
        subtitle: s(v, "subtitle"),
        subjects: strings(v, "subjects"),
        series: strings(v, "series").into_iter().next(),
        publisher: strings(v, "publishers").into_iter().next(),
        year: s(v, "publish_date").and_then(|d| year_in(&d)),
        language,
        description: text_value(v.get("description")),
        identifiers: ids,
        ..Default::default()
    };
    let refs = Refs {
        authors: keys(v, "authors", "/author/key"),
        work,
    };
    // A title may come from the work, so validation waits for the importer.
    if rec.title.is_empty() && refs.work.is_none() {
        return Err("edition has neither a title nor a work".into());
    }
    Ok((rec, refs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_lines() {
        let data = concat!(
            "/type/author\t/authors/OL23919A\t3\t2008-04-01\t{\"name\":\"J. K. Rowling\",\"key\":\"/authors/OL23919A\"}\n",
            "/type/work\t/works/OL82563W\t5\t2009-12-11\t{\"title\":\"Harry Potter and the Philosopher's Stone\",\"authors\":[{\"author\":{\"key\":\"/authors/OL23919A\"}}],\"subjects\":[\"Magic\"],\"description\":{\"type\":\"/type/text\",\"value\":\"A boy.\"}}\n",
            "/type/edition\t/books/OL7353617M\t4\t2010-01-01\t{\"title\":\"Harry Potter and the Philosopher's Stone\",\"isbn_10\":[\"0747532699\"],\"publishers\":[\"Bloomsbury\"],\"publish_date\":\"June 26, 1997\",\"works\":[{\"key\":\"/works/OL82563W\"}],\"languages\":[{\"key\":\"/languages/eng\"}],\"authors\":[{\"key\":\"/authors/OL23919A\"}]}\n",
            "/type/edition\t/books/OL1M\t1\t2010\tnot json\n",
            "only\ttwo\n",
            "/type/redirect\t/books/OL2M\t1\t2010\t{}\n",
        );
        let items: Vec<Item> = dump(Box::new(data.as_bytes())).collect();
        assert!(matches!(&items[0], Item::Authority { name, .. } if name == "J. K. Rowling"));
        let Item::Authority { data, .. } = &items[1] else {
            panic!()
        };
        assert!(data.contains("A boy."));
        let Item::Record(3, r, refs) = &items[2] else {
            panic!("{:?}", items[2])
        };
        assert_eq!(r.year, Some(1997));
        assert_eq!(r.language.as_ref().unwrap().as_str(), "en");
        assert!(
            r.identifiers
                .contains(&EditionId::Isbn("9780747532699".into()))
        );
        assert_eq!(refs.authors, vec!["/authors/OL23919A".to_string()]);
        assert_eq!(refs.work.as_deref(), Some("/works/OL82563W"));
        assert!(matches!(items[3], Item::Bad(4, _)));
        assert!(matches!(items[4], Item::Bad(5, _)));
        assert!(matches!(items[5], Item::Bad(6, _)));
    }
}
