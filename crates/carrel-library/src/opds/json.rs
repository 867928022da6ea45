//! OPDS 2.0: a [`Feed`] as JSON (`application/opds+json`), publications
//! in the Readium Web Publication Manifest's terms.

use serde_json::{Map, Value, json};

use super::{ATOM_ACQ, ATOM_NAV, Feed, OPDS2, Publication, rfc3339};
use crate::listing::percent;
use crate::urls;

fn link(rel: &str, href: &str) -> Value {
    json!({ "rel": rel, "href": href, "type": OPDS2 })
}

/// The feed as an OPDS 2.0 document.
pub(crate) fn write(f: &Feed) -> Value {
    let mut meta = Map::new();
    meta.insert("title".into(), json!(f.title));
    meta.insert("modified".into(), json!(rfc3339(f.updated)));
    if let Some(p) = &f.pages {
        meta.insert("numberOfItems".into(), json!(p.total));
        meta.insert("itemsPerPage".into(), json!(p.per));
        meta.insert("currentPage".into(), json!(p.page));
    }
    let mut links = vec![
        link("self", &f.self_href),
        link("start", "/opds/v2"),
        json!({
            "rel": "search",
            "href": "/opds/v2/search{?query}",
            "type": OPDS2,
            "templated": true,
            "title": "Search the library",
        }),
        json!({
            "rel": "alternate",
            "href": f.self_href.replacen("/opds/v2", "/opds", 1),
            "type": if f.acquisition { ATOM_ACQ } else { ATOM_NAV },
            "title": "This feed in OPDS 1.2",
        }),
    ];
    if let Some(up) = &f.up {
        links.push(link("up", up));
    }
    if let Some(p) = &f.pages {
        links.push(link("first", &p.first));
        if let Some(h) = &p.prev {
            links.push(link("previous", h));
        }
        if let Some(h) = &p.next {
            links.push(link("next", h));
        }
        links.push(link("last", &p.last));
    }
    let mut doc = Map::new();
    doc.insert("metadata".into(), Value::Object(meta));
    doc.insert("links".into(), Value::Array(links));
    if !f.facets.is_empty() {
        let facets: Vec<Value> = f
            .facets
            .iter()
            .map(|g| {
                let links: Vec<Value> = g
                    .links
                    .iter()
                    .map(|l| {
                        let mut o = Map::new();
                        o.insert("href".into(), json!(l.href));
                        o.insert("type".into(), json!(OPDS2));
                        o.insert("title".into(), json!(l.title));
                        if l.active {
                            o.insert("rel".into(), json!("self"));
                        }
                        if let Some(n) = l.count {
                            o.insert("properties".into(), json!({ "numberOfItems": n }));
                        }
                        Value::Object(o)
                    })
                    .collect();
                json!({ "metadata": { "title": g.title }, "links": links })
            })
            .collect();
        doc.insert("facets".into(), Value::Array(facets));
    }
    let mut nav: Vec<Value> = f
        .nav
        .iter()
        .map(|n| {
            let mut o = Map::new();
            o.insert("href".into(), json!(n.href));
            o.insert("title".into(), json!(n.title));
            o.insert("type".into(), json!(OPDS2));
            o.insert("rel".into(), json!(n.rel));
            if let Some(c) = n.count {
                o.insert("properties".into(), json!({ "numberOfItems": c }));
            }
            Value::Object(o)
        })
        .collect();
    let pubs: Vec<Value> = f.pubs.iter().map(publication).collect();
    if !pubs.is_empty() {
        doc.insert("publications".into(), Value::Array(pubs));
    } else if nav.is_empty() {
        // A feed holds publications or navigation: an empty list leads back.
        nav.push(json!({
            "href": "/opds/v2",
            "title": "Start",
            "type": OPDS2,
            "rel": "start",
        }));
    }
    if !nav.is_empty() {
        doc.insert("navigation".into(), Value::Array(nav));
    }
    Value::Object(doc)
}

/// The `@type` of a kind of record.
fn schema_type(kind: carrel_core::catalog::Kind) -> &'static str {
    match kind {
        carrel_core::catalog::Kind::Book => "http://schema.org/Book",
        carrel_core::catalog::Kind::Article => "http://schema.org/ScholarlyArticle",
        carrel_core::catalog::Kind::Comic => "http://schema.org/ComicStory",
    }
}

/// One edition as an OPDS 2.0 publication.
pub(crate) fn publication(p: &Publication) -> Value {
    let e = &p.edition;
    let r = &e.record;
    let mut meta = Map::new();
    meta.insert("@type".into(), json!(schema_type(r.kind)));
    meta.insert("title".into(), json!(r.title));
    if let Some(s) = &r.subtitle {
        meta.insert("subtitle".into(), json!(s));
    }
    meta.insert("identifier".into(), json!(p.identifier()));
    if !r.authors.is_empty() {
        let authors: Vec<Value> = r
            .authors
            .iter()
            .map(|a| {
                json!({
                    "name": a.name,
                    "sortAs": a.sort,
                    "links": [{
                        "href": format!("/opds/v2/authors/{}", percent(&a.name)),
                        "type": OPDS2,
                    }],
                })
            })
            .collect();
        meta.insert("author".into(), Value::Array(authors));
    }
    if let Some(l) = &r.language {
        meta.insert("language".into(), json!(l.as_str()));
    }
    // A year alone is written as its first day (the schema wants a date).
    if let Some(y) = r.year.filter(|y| (0..=9999).contains(y)) {
        meta.insert("published".into(), json!(format!("{y:04}-01-01")));
    }
    meta.insert("modified".into(), json!(rfc3339(e.updated_at)));
    if let Some(pb) = &r.publisher {
        meta.insert("publisher".into(), json!({ "name": pb }));
    }
    if let Some(d) = &r.description {
        meta.insert("description".into(), json!(d));
    }
    if !r.subjects.is_empty() {
        let subjects: Vec<Value> = r
            .subjects
            .iter()
            .map(|s| {
                json!({
                    "name": s,
                    "links": [{
                        "href": format!("/opds/v2/subjects/{}", percent(s)),
                        "type": OPDS2,
                    }],
                })
            })
            .collect();
        meta.insert("subject".into(), Value::Array(subjects));
    }
    if let Some(s) = &r.series {
        let mut o = Map::new();
        o.insert("name".into(), json!(s));
        if let Some(i) = r.series_index {
            o.insert("position".into(), json!(i));
        }
        meta.insert("belongsTo".into(), json!({ "series": [Value::Object(o)] }));
    }
    let mut links: Vec<Value> = p
        .files
        .iter()
        .map(|f| {
            json!({
                "rel": "http://opds-spec.org/acquisition",
                "href": urls::file(&f.file_id),
                "type": urls::format_media_type(&f.format),
                "title": f.format.to_uppercase(),
            })
        })
        .collect();
    links.push(json!({
        "rel": "alternate",
        "href": format!("{}#e{}", urls::work(e.work_id), e.id),
        "type": "text/html",
        "title": "Web page",
    }));
    let mut o = Map::new();
    o.insert("metadata".into(), Value::Object(meta));
    o.insert("links".into(), Value::Array(links));
    if p.cover {
        o.insert(
            "images".into(),
            json!([
                { "href": urls::cover(e.id, true), "type": "image/jpeg", "width": 480, "height": 720 },
                { "href": urls::cover(e.id, false), "type": "image/jpeg", "width": 160, "height": 240 },
            ]),
        );
    }
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publications_have_what_readers_need() {
        let mut f = super::super::tests::sample();
        f.self_href = "/opds/v2/search?q=a%26b&page=2".into();
        let v = write(&f);
        assert_eq!(v["metadata"]["numberOfItems"], 41);
        assert_eq!(v["metadata"]["itemsPerPage"], 20);
        assert_eq!(v["metadata"]["currentPage"], 2);
        let rels: Vec<&str> = v["links"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["rel"].as_str().unwrap())
            .collect();
        for r in [
            "self", "start", "search", "first", "previous", "next", "last",
        ] {
            assert!(rels.contains(&r), "{r}: {rels:?}");
        }
        assert_eq!(v["links"][3]["href"], "/opds/search?q=a%26b&page=2");
        let p = &v["publications"][0];
        assert_eq!(p["metadata"]["@type"], "http://schema.org/Book");
        assert_eq!(p["metadata"]["identifier"], "urn:isbn:9780306406157");
        assert_eq!(p["metadata"]["published"], "1813-01-01");
        assert_eq!(p["metadata"]["language"], "en");
        assert_eq!(p["metadata"]["author"][0]["name"], "Ann O'Neil & Sons");
        assert_eq!(p["links"][0]["type"], "application/epub+zip");
        assert_eq!(p["links"][1]["type"], "application/pdf");
        assert_eq!(p["images"][1]["href"], "/library/covers/7/small.jpg");
        assert_eq!(v["facets"][0]["links"][0]["rel"], "self");
        assert_eq!(
            v["facets"][0]["links"][1]["properties"]["numberOfItems"],
            41
        );
        assert!(v.get("navigation").is_none());
    }

    #[test]
    fn an_empty_feed_still_leads_somewhere() {
        let mut f = super::super::tests::sample();
        f.pubs.clear();
        let v = write(&f);
        assert!(v.get("publications").is_none());
        assert_eq!(v["navigation"][0]["href"], "/opds/v2");
    }
}
