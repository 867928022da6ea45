//! OPDS catalogs of the library for e-reader apps: OPDS 1.2 (Atom) under
//! `/opds` and OPDS 2.0 (JSON) under `/opds/v2`, the same feeds in both.
//!
//! - `/opds` (navigation): newest, subjects, languages, and search through
//!   `/opds/search.xml` (OpenSearch; `/opds/search?q=`).
//! - acquisition feeds: `newest`, `authors/{name}`, `subjects/{name}`,
//!   `languages/{tag}`, `search`; each paged (`page`), ordered (`sort`)
//!   and faceted (`lang`, `format`, `kind`), as the HTML lists are.
//! - navigation feeds with counts: `subjects`, `languages`.
//!
//! Feeds list only editions that have files: every OPDS publication must
//! be acquirable. A feed is built once as a [`Feed`] and written by
//! [`atom`] or [`json`]; links are relative to the server (the files,
//! covers and work pages are `crate::urls`).

mod atom;
mod json;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use carrel_core::catalog::EditionId;
use carrel_core::time::Timestamp;
use carrel_db::catalog::{Edition, LibFile};
use carrel_search::Sort;

use crate::LibraryError;
use crate::listing::{Catalog, Group, Listing, PER_PAGE, RawParams, clip, language_label, percent};

pub(crate) const ATOM_NAV: &str = "application/atom+xml;profile=opds-catalog;kind=navigation";
pub(crate) const ATOM_ACQ: &str = "application/atom+xml;profile=opds-catalog;kind=acquisition";
pub(crate) const OPDS2: &str = "application/opds+json";
pub(crate) const OPENSEARCH: &str = "application/opensearchdescription+xml";

/// Which catalog a feed is written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavor {
    Atom,
    Json,
}

impl Flavor {
    /// Where this flavor's feeds live.
    pub(crate) fn base(self) -> &'static str {
        match self {
            Flavor::Atom => "/opds",
            Flavor::Json => "/opds/v2",
        }
    }

    /// The media type of a feed of this flavor.
    pub(crate) fn feed_type(self, acquisition: bool) -> &'static str {
        match (self, acquisition) {
            (Flavor::Json, _) => OPDS2,
            (Flavor::Atom, true) => ATOM_ACQ,
            (Flavor::Atom, false) => ATOM_NAV,
        }
    }

    fn author(self, name: &str) -> String {
        format!("{}/authors/{}", self.base(), percent(name))
    }
    fn subject(self, name: &str) -> String {
        format!("{}/subjects/{}", self.base(), percent(name))
    }
    fn language(self, tag: &str) -> String {
        format!("{}/languages/{}", self.base(), percent(tag))
    }
}

/// One feed, before it is written as Atom or JSON.
pub(crate) struct Feed {
    /// Unique among the feeds (`urn:carrel:opds:newest`).
    pub id: String,
    pub title: String,
    pub updated: Timestamp,
    pub acquisition: bool,
    pub self_href: String,
    pub up: Option<String>,
    pub pages: Option<Pages>,
    pub facets: Vec<FacetGroup>,
    pub nav: Vec<NavLink>,
    pub pubs: Vec<Publication>,
}

/// Where a paged feed is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Pages {
    pub first: String,
    pub prev: Option<String>,
    pub next: Option<String>,
    pub last: String,
    pub total: u64,
    pub per: usize,
    pub page: usize,
}

impl Pages {
    /// The 1-based index of the page's first result (OpenSearch's
    /// `startIndex`).
    pub(crate) fn start_index(&self) -> usize {
        crate::listing::offset(self.page, self.per) + 1
    }
}

pub(crate) struct FacetGroup {
    pub title: String,
    pub links: Vec<FacetLink>,
}

pub(crate) struct FacetLink {
    pub title: String,
    pub href: String,
    pub count: Option<u64>,
    pub active: bool,
}

/// An entry of a navigation feed.
pub(crate) struct NavLink {
    pub id: String,
    pub title: String,
    pub href: String,
    /// Whether the link leads to an acquisition feed.
    pub acquisition: bool,
    /// `subsection`, or `http://opds-spec.org/sort/new`.
    pub rel: &'static str,
    pub count: Option<u64>,
    pub summary: Option<String>,
}

/// An edition with its files, as an entry of an acquisition feed.
pub(crate) struct Publication {
    pub edition: Edition,
    pub files: Vec<LibFile>,
    pub cover: bool,
}

impl Publication {
    /// The edition's best identifier as a URI: ISBN, DOI, arXiv, else the
    /// edition's own.
    pub(crate) fn identifier(&self) -> String {
        let ids = &self.edition.record.identifiers;
        for want in ["isbn", "doi", "arxiv"] {
            if let Some(u) = ids
                .iter()
                .find(|i| i.scheme() == want)
                .and_then(identifier_uri)
            {
                return u;
            }
        }
        format!("urn:carrel:edition:{}", self.edition.id)
    }

    /// Every identifier that has a URI form.
    pub(crate) fn identifiers(&self) -> Vec<String> {
        self.edition
            .record
            .identifiers
            .iter()
            .filter_map(identifier_uri)
            .collect()
    }
}

/// An identifier as a URI: `urn:isbn:…`, `https://doi.org/…`, ….
pub(crate) fn identifier_uri(id: &EditionId) -> Option<String> {
    Some(match id {
        EditionId::Isbn(v) => format!("urn:isbn:{v}"),
        EditionId::Issn(v) => format!("urn:issn:{v}"),
        EditionId::Doi(v) => format!("https://doi.org/{}", doi_path(v)),
        EditionId::Arxiv(v) => format!("https://arxiv.org/abs/{v}"),
        EditionId::OpenLibrary(v) => {
            let kind = match v.as_bytes().last() {
                Some(b'W') => "works",
                Some(b'A') => "authors",
                _ => "books",
            };
            format!("https://openlibrary.org/{kind}/{v}")
        }
        EditionId::Gutenberg(n) => format!("https://www.gutenberg.org/ebooks/{n}"),
    })
}

/// A DOI in a URL path: characters a URI cannot hold are escaped, `/` kept.
fn doi_path(doi: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'.')
        .remove(b'-')
        .remove(b'_')
        .remove(b'(')
        .remove(b')')
        .remove(b':')
        .remove(b';');
    percent_encoding::utf8_percent_encode(doi, SET).to_string()
}

type St = State<Arc<Catalog>>;
type Qs = Query<RawParams>;
type Name = Path<String>;

pub(crate) fn routes() -> Router<Arc<Catalog>> {
    use Flavor::{Atom, Json};
    Router::new()
        .route("/opds", get(|s: St| root(s, Atom)))
        .route("/opds/v2", get(|s: St| root(s, Json)))
        .route("/opds/search.xml", get(opensearch))
        .route("/opds/newest", get(|s: St, q: Qs| newest(s, q, Atom)))
        .route("/opds/v2/newest", get(|s: St, q: Qs| newest(s, q, Json)))
        .route("/opds/search", get(|s: St, q: Qs| search(s, q, Atom)))
        .route("/opds/v2/search", get(|s: St, q: Qs| search(s, q, Json)))
        .route("/opds/subjects", get(|s: St| subjects(s, Atom)))
        .route("/opds/v2/subjects", get(|s: St| subjects(s, Json)))
        .route("/opds/languages", get(|s: St| languages(s, Atom)))
        .route("/opds/v2/languages", get(|s: St| languages(s, Json)))
        .route(
            "/opds/authors/{name}",
            get(|s: St, p: Name, q: Qs| author(s, p, q, Atom)),
        )
        .route(
            "/opds/v2/authors/{name}",
            get(|s: St, p: Name, q: Qs| author(s, p, q, Json)),
        )
        .route(
            "/opds/subjects/{name}",
            get(|s: St, p: Name, q: Qs| subject(s, p, q, Atom)),
        )
        .route(
            "/opds/v2/subjects/{name}",
            get(|s: St, p: Name, q: Qs| subject(s, p, q, Json)),
        )
        .route(
            "/opds/languages/{tag}",
            get(|s: St, p: Name, q: Qs| language(s, p, q, Atom)),
        )
        .route(
            "/opds/v2/languages/{tag}",
            get(|s: St, p: Name, q: Qs| language(s, p, q, Json)),
        )
}

/// A feed as a response in its flavor; an error as JSON (OPDS 2) or a line
/// of text (Atom), both with the error's stable code.
fn respond(flavor: Flavor, feed: Result<Feed, LibraryError>) -> Response {
    match (flavor, feed) {
        (Flavor::Atom, Ok(f)) => {
            let ty = flavor.feed_type(f.acquisition);
            match atom::write(&f) {
                Ok(body) => ([(header::CONTENT_TYPE, ty)], body).into_response(),
                Err(e) => LibraryError::Internal(format!("writing a feed: {e}")).into_response(),
            }
        }
        (Flavor::Json, Ok(f)) => (
            [(header::CONTENT_TYPE, OPDS2)],
            serde_json::to_string(&json::write(&f)).unwrap_or_default(),
        )
            .into_response(),
        (Flavor::Json, Err(e)) => e.into_response(),
        (Flavor::Atom, Err(e)) => {
            let e = e.into_http();
            (
                e.status,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("{} {}: {}\n", e.status.as_u16(), e.code, e.message),
            )
                .into_response()
        }
    }
}

/// Parses an OPDS list's query string: only editions with files.
fn opds_listing(p: &RawParams, default_sort: Sort) -> Result<Listing, LibraryError> {
    let mut l = Listing::parse(p, default_sort)?;
    l.has_file = None;
    l.files_only = true;
    Ok(l)
}

async fn root(State(cat): State<Arc<Catalog>>, flavor: Flavor) -> Response {
    let r = async {
        let mut all = Listing::new(Sort::Newest);
        all.files_only = true;
        let f = cat.facets(&all).await?;
        let total: u64 = f
            .has_file
            .iter()
            .filter(|(v, _)| v == "true")
            .map(|(_, n)| *n)
            .sum();
        let subjects = cat.subjects(true).await?.len() as u64;
        let b = flavor.base();
        Ok(Feed {
            id: "urn:carrel:opds".into(),
            title: "carrel library".into(),
            updated: Timestamp::now(),
            acquisition: false,
            self_href: b.to_owned(),
            up: None,
            pages: None,
            facets: Vec::new(),
            nav: vec![
                NavLink {
                    id: "urn:carrel:opds:newest".into(),
                    title: "Newest additions".into(),
                    href: format!("{b}/newest"),
                    acquisition: true,
                    rel: "http://opds-spec.org/sort/new",
                    count: Some(total),
                    summary: Some("Every book with a file, the latest first.".into()),
                },
                NavLink {
                    id: "urn:carrel:opds:title".into(),
                    title: "All books by title".into(),
                    href: format!("{b}/newest?sort=title"),
                    acquisition: true,
                    rel: "subsection",
                    count: Some(total),
                    summary: Some("Every book with a file, A to Z.".into()),
                },
                NavLink {
                    id: "urn:carrel:opds:subjects".into(),
                    title: "By subject".into(),
                    href: format!("{b}/subjects"),
                    acquisition: false,
                    rel: "subsection",
                    count: Some(subjects),
                    summary: Some("The most common subjects.".into()),
                },
                NavLink {
                    id: "urn:carrel:opds:languages".into(),
                    title: "By language".into(),
                    href: format!("{b}/languages"),
                    acquisition: false,
                    rel: "subsection",
                    count: Some(f.language.len() as u64),
                    summary: Some("Books in each language.".into()),
                },
            ],
            pubs: Vec::new(),
        })
    }
    .await;
    respond(flavor, r)
}

async fn subjects(State(cat): State<Arc<Catalog>>, flavor: Flavor) -> Response {
    let r = async {
        let s = cat.subjects(true).await?;
        Ok(Feed {
            id: "urn:carrel:opds:subjects".into(),
            title: "Subjects".into(),
            updated: Timestamp::now(),
            acquisition: false,
            self_href: format!("{}/subjects", flavor.base()),
            up: Some(flavor.base().to_owned()),
            pages: None,
            facets: Vec::new(),
            nav: s
                .iter()
                .map(|(name, n)| NavLink {
                    id: format!("urn:carrel:opds:subject:{}", percent(name)),
                    title: name.clone(),
                    href: flavor.subject(name),
                    acquisition: true,
                    rel: "subsection",
                    count: Some(*n),
                    summary: Some(format!("{n} book{}", if *n == 1 { "" } else { "s" })),
                })
                .collect(),
            pubs: Vec::new(),
        })
    }
    .await;
    respond(flavor, r)
}

async fn languages(State(cat): State<Arc<Catalog>>, flavor: Flavor) -> Response {
    let r = async {
        let mut all = Listing::new(Sort::Newest);
        all.files_only = true;
        let f = cat.facets(&all).await?;
        Ok(Feed {
            id: "urn:carrel:opds:languages".into(),
            title: "Languages".into(),
            updated: Timestamp::now(),
            acquisition: false,
            self_href: format!("{}/languages", flavor.base()),
            up: Some(flavor.base().to_owned()),
            pages: None,
            facets: Vec::new(),
            nav: f
                .language
                .iter()
                .map(|(tag, n)| NavLink {
                    id: format!("urn:carrel:opds:language:{tag}"),
                    title: language_label(tag),
                    href: flavor.language(tag),
                    acquisition: true,
                    rel: "subsection",
                    count: Some(*n),
                    summary: Some(format!("{n} book{}", if *n == 1 { "" } else { "s" })),
                })
                .collect(),
            pubs: Vec::new(),
        })
    }
    .await;
    respond(flavor, r)
}

async fn newest(
    State(cat): State<Arc<Catalog>>,
    Query(p): Query<RawParams>,
    flavor: Flavor,
) -> Response {
    let r = async {
        let l = opds_listing(&p, Sort::Newest)?;
        let path = format!("{}/newest", flavor.base());
        let title = if l.sort == Sort::Title {
            "All books by title"
        } else {
            "Newest additions"
        };
        acquisition(
            &cat,
            flavor,
            l,
            None,
            &path,
            "urn:carrel:opds:newest",
            title,
        )
        .await
    }
    .await;
    respond(flavor, r)
}

async fn search(
    State(cat): State<Arc<Catalog>>,
    Query(p): Query<RawParams>,
    flavor: Flavor,
) -> Response {
    let r = async {
        let l = opds_listing(&p, Sort::Relevance)?;
        let path = format!("{}/search", flavor.base());
        let title = if l.q.is_empty() {
            "Search".to_owned()
        } else {
            format!("Search: {}", clip(&l.q, 200))
        };
        acquisition(
            &cat,
            flavor,
            l,
            None,
            &path,
            "urn:carrel:opds:search",
            &title,
        )
        .await
    }
    .await;
    respond(flavor, r)
}

async fn author(
    State(cat): State<Arc<Catalog>>,
    Path(name): Path<String>,
    Query(p): Query<RawParams>,
    flavor: Flavor,
) -> Response {
    let r = async {
        let mut l = opds_listing(&p, Sort::Title)?;
        l.author = Some(name.clone());
        let path = flavor.author(&name);
        let id = format!("urn:carrel:opds:author:{}", percent(clip(&name, 200)));
        acquisition(&cat, flavor, l, None, &path, &id, &name).await
    }
    .await;
    respond(flavor, r)
}

async fn subject(
    State(cat): State<Arc<Catalog>>,
    Path(name): Path<String>,
    Query(p): Query<RawParams>,
    flavor: Flavor,
) -> Response {
    let r = async {
        let mut l = opds_listing(&p, Sort::Newest)?;
        l.subject = Some(name.clone());
        let path = flavor.subject(&name);
        let id = format!("urn:carrel:opds:subject:{}", percent(clip(&name, 200)));
        acquisition(&cat, flavor, l, None, &path, &id, &name).await
    }
    .await;
    respond(flavor, r)
}

async fn language(
    State(cat): State<Arc<Catalog>>,
    Path(tag): Path<String>,
    Query(mut p): Query<RawParams>,
    flavor: Flavor,
) -> Response {
    let r = async {
        p.insert("lang".into(), tag.clone());
        let l = opds_listing(&p, Sort::Newest)?;
        let tag = l.lang.clone().unwrap_or(tag);
        let path = flavor.language(&tag);
        let id = format!("urn:carrel:opds:language:{tag}");
        let title = language_label(&tag);
        acquisition(&cat, flavor, l, Some(Group::Language), &path, &id, &title).await
    }
    .await;
    respond(flavor, r)
}

/// An acquisition feed of a list at `path` (`own`: the facet group the path
/// chooses).
async fn acquisition(
    cat: &Catalog,
    flavor: Flavor,
    search: Listing,
    own: Option<Group>,
    path: &str,
    id: &str,
    title: &str,
) -> Result<Feed, LibraryError> {
    let page = cat.page(&search, PER_PAGE).await?;
    let counts = cat.group_counts(&search).await?;
    // Links leave out what the path already says.
    let l = match own {
        Some(g) => search.without(g),
        None => search.clone(),
    };
    let at = |n: usize| l.with_page(n).href(path);
    let pages = Pages {
        first: at(1),
        prev: (page.page > 1).then(|| at(page.page - 1)),
        next: (page.page < page.last).then(|| at(page.page + 1)),
        last: at(page.last),
        total: page.total,
        per: page.per,
        page: page.page,
    };
    let link = |change: &dyn Fn(&mut Listing)| {
        let mut m = l.with_page(1);
        change(&mut m);
        m.href(path)
    };
    let mut facets = Vec::new();
    if own != Some(Group::Language) && !counts.language.is_empty() {
        let mut links = vec![FacetLink {
            title: "All languages".into(),
            href: link(&|m| m.lang = None),
            count: None,
            active: search.lang.is_none(),
        }];
        links.extend(counts.language.iter().map(|(v, n)| FacetLink {
            title: language_label(v),
            href: link(&|m| m.lang = Some(v.clone())),
            count: Some(*n),
            active: search.lang.as_deref() == Some(v.as_str()),
        }));
        facets.push(FacetGroup {
            title: "Language".into(),
            links,
        });
    }
    if !counts.format.is_empty() {
        let mut links = vec![FacetLink {
            title: "All formats".into(),
            href: link(&|m| m.format = None),
            count: None,
            active: search.format.is_none(),
        }];
        links.extend(counts.format.iter().map(|(v, n)| FacetLink {
            title: v.to_uppercase(),
            href: link(&|m| m.format = Some(v.clone())),
            count: Some(*n),
            active: search.format.as_deref() == Some(v.as_str()),
        }));
        facets.push(FacetGroup {
            title: "Format".into(),
            links,
        });
    }
    let mut orders = Vec::new();
    if !search.q.is_empty() {
        orders.push(("Relevance", Sort::Relevance));
    }
    orders.extend([
        ("Newest", Sort::Newest),
        ("Title", Sort::Title),
        ("Year", Sort::YearAsc),
        ("Latest year", Sort::YearDesc),
    ]);
    facets.push(FacetGroup {
        title: "Order".into(),
        links: orders
            .into_iter()
            .map(|(t, s)| FacetLink {
                title: t.into(),
                href: link(&|m| m.sort = s),
                count: None,
                active: search.sort == s,
            })
            .collect(),
    });
    let ids: Vec<i64> = page.editions.iter().map(|e| e.id).collect();
    let covered = cat.lib.db().covered(&ids).await?;
    let mut pubs = Vec::with_capacity(page.editions.len());
    for e in page.editions {
        let files = cat.lib.db().library_files(e.id).await?;
        if files.is_empty() {
            // The index has not caught up with a removed file.
            continue;
        }
        let cover = covered.contains(&e.id);
        pubs.push(Publication {
            edition: e,
            files,
            cover,
        });
    }
    Ok(Feed {
        id: id.to_owned(),
        title: title.to_owned(),
        updated: Timestamp::now(),
        acquisition: true,
        self_href: l.href(path),
        up: Some(flavor.base().to_owned()),
        pages: Some(pages),
        facets,
        nav: Vec::new(),
        pubs,
    })
}

/// The OpenSearch description of the catalog's search (templates are
/// absolute when the request names its host, as browsers want).
async fn opensearch(headers: HeaderMap) -> Response {
    let origin = origin(&headers);
    match atom::opensearch(&origin) {
        Ok(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, HeaderValue::from_static(OPENSEARCH))],
            body,
        )
            .into_response(),
        Err(e) => LibraryError::Internal(format!("writing a feed: {e}")).into_response(),
    }
}

/// `http://host:port` from the request's Host (and X-Forwarded-Proto), or
/// nothing when it is missing or not a plain host name.
pub(crate) fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        });
    let proto = match headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
    {
        Some("https") => "https",
        _ => "http",
    };
    host.map(|h| format!("{proto}://{h}")).unwrap_or_default()
}

/// Seconds since the epoch as RFC 3339 (`2024-05-01T12:00:00Z`).
pub(crate) fn rfc3339(t: Timestamp) -> String {
    let secs = t.0.max(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use carrel_core::catalog::{Author, EditionRecord, Kind, Lang};
    use carrel_core::ids::FileId;

    pub(crate) fn sample() -> Feed {
        let record = EditionRecord {
            kind: Kind::Book,
            title: "Tom & Jerry <\"the\" 'book'>\u{1}\u{b}".into(),
            subtitle: Some("A ]]> tale".into()),
            authors: vec![Author {
                name: "Ann O'Neil & Sons".into(),
                sort: "O'Neil, Ann".into(),
            }],
            subjects: vec!["Cats -- Fiction".into()],
            year: Some(1813),
            language: Some(Lang::parse("en").unwrap()),
            description: Some("Line one\u{0}\nline <two>\u{fffe}".into()),
            identifiers: vec![
                EditionId::Isbn("9780306406157".into()),
                EditionId::Doi("10.1000/a<b>".into()),
            ],
            ..EditionRecord::default()
        };
        let edition = Edition {
            id: 7,
            work_id: 3,
            record,
            formats: vec!["epub".into(), "pdf".into()],
            created_at: Timestamp(0),
            updated_at: Timestamp(1_700_000_000),
        };
        let file = |f: &str| LibFile {
            file_id: FileId::generate(),
            edition_id: 7,
            format: f.into(),
            pages: None,
            encrypted: false,
            problems: "[]".into(),
            created_at: Timestamp(0),
        };
        Feed {
            id: "urn:carrel:opds:test".into(),
            title: "Search: a&b <c>".into(),
            updated: Timestamp(0),
            acquisition: true,
            self_href: "/opds/search?q=a%26b&page=2".into(),
            up: Some("/opds".into()),
            pages: Some(Pages {
                first: "/opds/search?q=a%26b".into(),
                prev: Some("/opds/search?q=a%26b".into()),
                next: Some("/opds/search?q=a%26b&page=3".into()),
                last: "/opds/search?q=a%26b&page=3".into(),
                total: 41,
                per: 20,
                page: 2,
            }),
            facets: vec![FacetGroup {
                title: "Language".into(),
                links: vec![
                    FacetLink {
                        title: "All languages".into(),
                        href: "/opds/search?q=a%26b".into(),
                        count: None,
                        active: true,
                    },
                    FacetLink {
                        title: "English (en)".into(),
                        href: "/opds/search?q=a%26b&lang=en".into(),
                        count: Some(41),
                        active: false,
                    },
                ],
            }],
            nav: Vec::new(),
            pubs: vec![Publication {
                edition,
                files: vec![file("epub"), file("pdf")],
                cover: true,
            }],
        }
    }

    #[test]
    fn dates_are_rfc3339() {
        assert_eq!(rfc3339(Timestamp(0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(Timestamp(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(Timestamp(1_700_000_000)), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(Timestamp(-5)), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn identifiers_become_uris() {
        let p = &sample().pubs[0];
        assert_eq!(p.identifier(), "urn:isbn:9780306406157");
        assert_eq!(
            p.identifiers(),
            vec![
                "urn:isbn:9780306406157".to_owned(),
                "https://doi.org/10.1000/a%3Cb%3E".to_owned()
            ]
        );
        assert_eq!(
            identifier_uri(&EditionId::OpenLibrary("OL45804W".into())).unwrap(),
            "https://openlibrary.org/works/OL45804W"
        );
    }

    #[test]
    fn pages_start_index() {
        let f = sample();
        assert_eq!(f.pages.unwrap().start_index(), 21);
    }

    #[test]
    fn origin_only_from_plain_hosts() {
        let mut h = HeaderMap::new();
        assert_eq!(origin(&h), "");
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert_eq!(origin(&h), "http://127.0.0.1:8080");
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert_eq!(origin(&h), "https://127.0.0.1:8080");
        h.insert(header::HOST, HeaderValue::from_static("evil\"><x"));
        assert_eq!(origin(&h), "");
    }
}
