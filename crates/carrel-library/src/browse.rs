//! Browsing the library without a query: `/library/browse` (an index of
//! what follows), the newest additions, an author's works, subjects and
//! languages (lists with counts, each leading to its records). Plain HTML
//! pages in the search page's look; they need no JavaScript.
//!
//! Every list takes the same query string (see [`Listing::parse`]): `page`,
//! `sort`, and the facet filters `lang`, `kind`, `format`, `has_file`.

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use carrel_db::catalog::Edition;
use carrel_http::HttpError;
use carrel_http::page::{Html, layout};
use carrel_search::Sort;

use crate::LibraryError;
use crate::listing::{
    Catalog, Group, GroupCounts, Listing, PER_PAGE, PageOf, RawParams, language_label, percent,
};
use crate::urls;

pub(crate) fn routes() -> Router<Arc<Catalog>> {
    Router::new()
        .route("/library/browse", get(index))
        .route("/library/newest", get(newest))
        .route("/library/authors/{name}", get(author))
        .route("/library/subjects", get(subjects))
        .route("/library/subjects/{name}", get(subject))
        .route("/library/languages", get(languages))
        .route("/library/languages/{tag}", get(language))
}

/// The page of an author (a display name, exactly as the records have it).
pub(crate) fn author_href(name: &str) -> String {
    format!("/library/authors/{}", percent(name))
}

pub(crate) fn subject_href(name: &str) -> String {
    format!("/library/subjects/{}", percent(name))
}

pub(crate) fn language_href(tag: &str) -> String {
    format!("/library/languages/{}", percent(tag))
}

fn page_error(e: LibraryError) -> HttpError {
    e.into_http().as_page()
}

/// One work of a list (the editions of the page that belong to it).
struct Item {
    title: String,
    subtitle: Option<String>,
    href: String,
    /// (name, author page)
    authors: Vec<(String, String)>,
    years: String,
    languages: Vec<String>,
    kind: &'static str,
    formats: Vec<String>,
    editions: usize,
    cover: Option<String>,
}

/// Groups a page's editions by work, in order (`author`: the page's own,
/// not repeated under each title).
async fn items(cat: &Catalog, editions: &[Edition], author: Option<&str>) -> Vec<Item> {
    let mut out: Vec<Item> = Vec::new();
    let mut at: HashMap<i64, usize> = HashMap::new();
    let with_files: Vec<i64> = editions
        .iter()
        .filter(|e| !e.formats.is_empty())
        .map(|e| e.id)
        .collect();
    let covered = cat.lib.db().covered(&with_files).await.unwrap_or_default();
    for e in editions {
        let r = &e.record;
        if let Some(&i) = at.get(&e.work_id) {
            let it = &mut out[i];
            it.editions += 1;
            if let Some(l) = &r.language
                && !it.languages.contains(&l.to_string())
            {
                it.languages.push(l.to_string());
            }
            for f in &e.formats {
                if !it.formats.contains(f) {
                    it.formats.push(f.clone());
                }
            }
            continue;
        }
        let cover = covered.contains(&e.id).then(|| urls::cover(e.id, false));
        at.insert(e.work_id, out.len());
        out.push(Item {
            title: r.title.clone(),
            subtitle: r.subtitle.clone(),
            href: format!("{}#e{}", urls::work(e.work_id), e.id),
            authors: r
                .authors
                .iter()
                .filter(|a| Some(a.name.as_str()) != author)
                .map(|a| (a.name.clone(), author_href(&a.name)))
                .collect(),
            years: r.year.map(|y| y.to_string()).unwrap_or_default(),
            languages: r.language.iter().map(|l| l.to_string()).collect(),
            kind: r.kind.as_str(),
            formats: e.formats.clone(),
            editions: 1,
            cover,
        });
    }
    out
}

/// A facet value in the side bar, or an order.
struct Choice {
    label: String,
    href: String,
    count: u64,
    on: bool,
}

type FacetLinks = Vec<Choice>;

fn choice(label: impl Into<String>, href: String, count: u64, on: bool) -> Choice {
    Choice {
        label: label.into(),
        href,
        count,
        on,
    }
}

struct Pager {
    first: Option<String>,
    prev: Option<String>,
    next: Option<String>,
    last: Option<String>,
    page: usize,
    pages: usize,
}

fn pager(l: &Listing, path: &str, p: &PageOf) -> Pager {
    let at = |n: usize| l.with_page(n).href(path);
    Pager {
        first: (p.page > 1).then(|| at(1)),
        prev: (p.page > 1).then(|| at(p.page - 1)),
        next: (p.page < p.last).then(|| at(p.page + 1)),
        last: (p.page < p.last).then(|| at(p.last)),
        page: p.page,
        pages: p.last,
    }
}

#[derive(Template)]
#[template(path = "browse_list.html")]
struct ListPage {
    title: String,
    /// (label, link) from the library down to this list.
    trail: Vec<(String, String)>,
    total: u64,
    items: Vec<Item>,
    /// Some item has a cover: the others get an empty frame.
    covers: bool,
    sorts: Vec<Choice>,
    facets: Vec<(&'static str, FacetLinks)>,
    clear: Option<String>,
    pager: Pager,
    feed: String,
}

/// The side bar's facets for a list at `path` (`own`: the group the path
/// itself chooses, not shown).
fn facet_links(
    l: &Listing,
    path: &str,
    c: GroupCounts,
    own: Option<Group>,
) -> Vec<(&'static str, FacetLinks)> {
    let links = match own {
        Some(g) => l.without(g),
        None => l.clone(),
    };
    let link = |change: &dyn Fn(&mut Listing)| {
        let mut m = links.with_page(1);
        change(&mut m);
        m.href(path)
    };
    let lang: FacetLinks = c
        .language
        .iter()
        .map(|(v, n)| {
            let chosen = l.lang.as_deref() == Some(v.as_str());
            let href = link(&|m| m.lang = if chosen { None } else { Some(v.clone()) });
            choice(language_label(v), href, *n, chosen)
        })
        .collect();
    let format: FacetLinks = c
        .format
        .iter()
        .map(|(v, n)| {
            let chosen = l.format.as_deref() == Some(v.as_str());
            let href = link(&|m| m.format = if chosen { None } else { Some(v.clone()) });
            choice(v.to_uppercase(), href, *n, chosen)
        })
        .collect();
    let kind: FacetLinks = c
        .kind
        .iter()
        .filter_map(|(v, n)| {
            let k = carrel_core::catalog::Kind::parse(v).ok()?;
            let chosen = l.kind == Some(k);
            let href = link(&|m| m.kind = if chosen { None } else { Some(k) });
            Some(choice(v.clone(), href, *n, chosen))
        })
        .collect();
    let files: FacetLinks = c
        .has_file
        .iter()
        .filter_map(|(v, n)| {
            let b = v == "true";
            let chosen = l.has_file == Some(b);
            let label = if b { "with files" } else { "metadata only" };
            let href = link(&|m| m.has_file = if chosen { None } else { Some(b) });
            (*n > 0).then(|| choice(label, href, *n, chosen))
        })
        .collect();
    let lang = if own == Some(Group::Language) {
        Vec::new()
    } else {
        lang
    };
    [
        ("Language", lang),
        ("Format", format),
        ("Kind", kind),
        ("Files", files),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .collect()
}

/// Renders a list page: `path` is the list's own address, `feed` its OPDS
/// acquisition feed.
async fn list_page(
    cat: &Catalog,
    search: Listing,
    own: Option<Group>,
    path: &str,
    title: String,
    trail: Vec<(String, String)>,
    feed: String,
) -> Result<Response, HttpError> {
    let p = cat.page(&search, PER_PAGE).await.map_err(page_error)?;
    let counts = cat.group_counts(&search).await.map_err(page_error)?;
    let facets = facet_links(&search, path, counts, own);
    // Links leave out what the path already says.
    let l = match own {
        Some(g) => search.without(g),
        None => search.clone(),
    };
    let sorts = [
        ("newest", Sort::Newest),
        ("title", Sort::Title),
        ("year", Sort::YearAsc),
        ("latest year", Sort::YearDesc),
    ]
    .into_iter()
    .map(|(label, s)| {
        let mut m = l.with_page(1);
        m.sort = s;
        choice(label, m.href(path), 0, l.sort == s)
    })
    .collect();
    let filtered =
        l.lang.is_some() || l.format.is_some() || l.kind.is_some() || l.has_file.is_some();
    let clear = filtered.then(|| {
        let mut m = Listing::new(l.default_sort);
        m.sort = l.sort;
        m.href(path)
    });
    let items = items(cat, &p.editions, search.author.as_deref()).await;
    let page = ListPage {
        title: title.clone(),
        trail,
        total: p.total,
        covers: items.iter().any(|i| i.cover.is_some()),
        items,
        sorts,
        facets,
        clear,
        pager: pager(&l, path, &p),
        feed,
    };
    let body = page
        .render()
        .map_err(|e| HttpError::internal(e).as_page())?;
    Ok(Html(layout(&title, LIST_CSS, &body)).into_response())
}

const LIST_CSS: &str = "
.small { font-size:.875rem; }
.crumbs { font-size:.9rem; margin:0 0 .4rem; }
.crumbs a { text-decoration:none; }
.bar { display:flex; flex-wrap:wrap; gap:.4rem 1rem; align-items:center; font-size:.9rem; }
.bar .on { font-weight:600; color:var(--fg); }
.grid2 { display:grid; grid-template-columns:minmax(0,1fr) 13rem; gap:1.25rem; align-items:start; }
@media (max-width: 720px) { .grid2 { grid-template-columns:1fr; } }
ol.items { list-style:none; margin:0; padding:0; }
ol.items li { display:flex; gap:.9rem; padding:.75rem 0; border-bottom:1px solid var(--line); }
ol.items li:last-child { border-bottom:0; }
ol.items img, ol.items .nocover { width:48px; height:72px; object-fit:cover; border-radius:4px; border:1px solid var(--line); flex:none; }
ol.items .nocover { background:var(--bg); }
ol.items .t { font-weight:600; text-decoration:none; }
.tag { display:inline-block; font-size:.75rem; padding:0 .45rem; border:1px solid var(--line); border-radius:999px; color:var(--muted); margin-left:.2rem; }
aside.facets h3 { font-size:.9rem; margin:.2rem 0 .35rem; text-transform:uppercase; letter-spacing:.04em; color:var(--muted); }
aside.facets ul { list-style:none; margin:0 0 .9rem; padding:0; font-size:.9rem; }
aside.facets li { display:flex; justify-content:space-between; gap:.5rem; }
aside.facets li.on a { font-weight:700; }
nav.pages { display:flex; justify-content:center; gap:1rem; align-items:center; margin-top:1rem; font-size:.95rem; }
nav.pages span.off { color:var(--muted); }
.counts { columns:16rem auto; column-gap:2rem; list-style:none; padding:0; margin:0; }
.counts li { break-inside:avoid; display:flex; justify-content:space-between; gap:.75rem; padding:.3rem 0; border-bottom:1px solid var(--line); }
.cards { display:grid; grid-template-columns:repeat(auto-fit,minmax(15rem,1fr)); gap:1.25rem; }
.cards .card { margin:0; }
.cards h2 { font-size:1.05rem; margin:0 0 .6rem; }
.cards ul { list-style:none; padding:0; margin:0 0 .6rem; }
.cards li { display:flex; justify-content:space-between; gap:.5rem; padding:.2rem 0; font-size:.95rem; }
";

fn library_trail() -> Vec<(String, String)> {
    vec![
        ("Library".into(), "/library".into()),
        ("Browse".into(), "/library/browse".into()),
    ]
}

async fn newest(
    State(cat): State<Arc<Catalog>>,
    Query(p): Query<RawParams>,
) -> Result<Response, HttpError> {
    let l = Listing::parse(&p, Sort::Newest).map_err(page_error)?;
    let feed = l.href("/opds/newest");
    list_page(
        &cat,
        l,
        None,
        "/library/newest",
        "Newest additions".into(),
        library_trail(),
        feed,
    )
    .await
}

async fn author(
    State(cat): State<Arc<Catalog>>,
    Path(name): Path<String>,
    Query(p): Query<RawParams>,
) -> Result<Response, HttpError> {
    let mut l = Listing::parse(&p, Sort::Title).map_err(page_error)?;
    l.author = Some(name.clone());
    let path = author_href(&name);
    let feed = l.href(&format!("/opds/authors/{}", percent(&name)));
    list_page(&cat, l, None, &path, name, library_trail(), feed).await
}

async fn subject(
    State(cat): State<Arc<Catalog>>,
    Path(name): Path<String>,
    Query(p): Query<RawParams>,
) -> Result<Response, HttpError> {
    let mut l = Listing::parse(&p, Sort::Newest).map_err(page_error)?;
    l.subject = Some(name.clone());
    let path = subject_href(&name);
    let feed = l.href(&format!("/opds/subjects/{}", percent(&name)));
    let mut trail = library_trail();
    trail.push(("Subjects".into(), "/library/subjects".into()));
    list_page(&cat, l, None, &path, name, trail, feed).await
}

async fn language(
    State(cat): State<Arc<Catalog>>,
    Path(tag): Path<String>,
    Query(mut p): Query<RawParams>,
) -> Result<Response, HttpError> {
    p.insert("lang".into(), tag.clone());
    let l = Listing::parse(&p, Sort::Newest).map_err(page_error)?;
    let tag = l.lang.clone().unwrap_or(tag);
    let path = language_href(&tag);
    // The language is the page's own: its facet links keep it in the path.
    let mut trail = library_trail();
    trail.push(("Languages".into(), "/library/languages".into()));
    let feed = {
        let mut m = l.clone();
        m.lang = None;
        m.href(&format!("/opds/languages/{}", percent(&tag)))
    };
    list_page(
        &cat,
        l,
        Some(Group::Language),
        &path,
        language_label(&tag),
        trail,
        feed,
    )
    .await
}

#[derive(Template)]
#[template(path = "browse_counts.html")]
struct CountsPage {
    title: String,
    trail: Vec<(String, String)>,
    intro: String,
    /// (label, link, count)
    rows: Vec<(String, String, u64)>,
    feed: String,
}

fn counts_page(p: CountsPage) -> Result<Response, HttpError> {
    let title = p.title.clone();
    let body = p.render().map_err(|e| HttpError::internal(e).as_page())?;
    Ok(Html(layout(&title, LIST_CSS, &body)).into_response())
}

async fn subjects(State(cat): State<Arc<Catalog>>) -> Result<Response, HttpError> {
    let s = cat.subjects(false).await.map_err(page_error)?;
    counts_page(CountsPage {
        title: "Subjects".into(),
        trail: library_trail(),
        intro: "The most common subjects, with the number of editions of each.".into(),
        rows: s
            .iter()
            .map(|(name, n)| (name.clone(), subject_href(name), *n))
            .collect(),
        feed: "/opds/subjects".into(),
    })
}

async fn languages(State(cat): State<Arc<Catalog>>) -> Result<Response, HttpError> {
    let f = cat
        .facets(&Listing::new(Sort::Newest))
        .await
        .map_err(page_error)?;
    counts_page(CountsPage {
        title: "Languages".into(),
        trail: library_trail(),
        intro: "Languages of the library's editions, with the number of editions in each.".into(),
        rows: f
            .language
            .iter()
            .map(|(tag, n)| (language_label(tag), language_href(tag), *n))
            .collect(),
        feed: "/opds/languages".into(),
    })
}

#[derive(Template)]
#[template(path = "browse_index.html")]
struct IndexPage {
    total: u64,
    newest: Vec<Item>,
    covers: bool,
    subjects: Vec<(String, String, u64)>,
    languages: Vec<(String, String, u64)>,
    /// (label, link, count)
    kinds: Vec<(String, String, u64)>,
    formats: Vec<(String, String, u64)>,
}

async fn index(State(cat): State<Arc<Catalog>>) -> Result<Response, HttpError> {
    let all = Listing::new(Sort::Newest);
    let p = cat.page(&all, 8).await.map_err(page_error)?;
    let f = cat.facets(&all).await.map_err(page_error)?;
    let subjects = cat.subjects(false).await.map_err(page_error)?;
    let with = |k: &str, v: &str| format!("/library/newest?{k}={}", percent(v));
    let newest = items(&cat, &p.editions, None).await;
    let page = IndexPage {
        total: p.total,
        covers: newest.iter().any(|i| i.cover.is_some()),
        newest,
        subjects: subjects
            .iter()
            .take(12)
            .map(|(s, n)| (s.clone(), subject_href(s), *n))
            .collect(),
        languages: f
            .language
            .iter()
            .take(8)
            .map(|(t, n)| (language_label(t), language_href(t), *n))
            .collect(),
        kinds: f
            .kind
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| (k.clone(), with("kind", k), *n))
            .collect(),
        formats: f
            .format
            .iter()
            .map(|(v, n)| (v.to_uppercase(), with("format", v), *n))
            .collect(),
    };
    let body = page
        .render()
        .map_err(|e| HttpError::internal(e).as_page())?;
    Ok(Html(layout("Browse the library", LIST_CSS, &body)).into_response())
}
