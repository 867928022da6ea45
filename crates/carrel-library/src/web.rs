//! The library's HTTP surface: the search API, the search page (results as
//! you type, facets) and work pages. Errors map to HTTP here and only here.

use std::sync::Arc;

use askama::Template;
use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use carrel_core::catalog::Kind;
use carrel_db::catalog::Edition;
use carrel_http::HttpError;
use carrel_http::page::{Html, layout};
use carrel_search::{Filters, Results, Sort};
use serde::{Deserialize, Serialize};

use crate::{Library, LibraryError};

pub fn routes(lib: Arc<Library>) -> Router {
    Router::new()
        .route("/api/library/search", get(api_search))
        .route("/api/library/editions/{id}", get(api_edition))
        .route("/api/library/works/{id}", get(api_work))
        .route("/library", get(search_page))
        .route("/library/works/{id}", get(work_page))
        .with_state(lib.clone())
        .merge(crate::files::routes(lib.clone()))
        .merge(crate::listing::routes(lib.clone()))
        .merge(crate::admin::routes(lib.clone()))
        .merge(crate::reader::routes(lib))
}

impl LibraryError {
    pub fn into_http(self) -> HttpError {
        if let LibraryError::Http(e) = self {
            return e;
        }
        let status = match &self {
            LibraryError::NotFound => StatusCode::NOT_FOUND,
            LibraryError::LoginRequired => StatusCode::UNAUTHORIZED,
            LibraryError::Forbidden => StatusCode::FORBIDDEN,
            LibraryError::Unauthorized => StatusCode::UNAUTHORIZED,
            LibraryError::Search(carrel_search::SearchError::ReadOnly) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            LibraryError::NotABook(_) => StatusCode::UNPROCESSABLE_ENTITY,
            LibraryError::BadRequest(_)
            | LibraryError::BadImport(_)
            | LibraryError::BadParam { .. } => StatusCode::BAD_REQUEST,
            LibraryError::Search(carrel_search::SearchError::PageTooDeep { .. })
            | LibraryError::Search(carrel_search::SearchError::InvalidQuery(_)) => {
                StatusCode::BAD_REQUEST
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self, "library error");
            "internal error; see the server log".to_owned()
        } else {
            self.to_string()
        };
        HttpError::new(status, self.code(), message)
    }
}

impl IntoResponse for LibraryError {
    fn into_response(self) -> Response {
        self.into_http().into_response()
    }
}

/// The search parameters, in the query string of the API and the page.
#[derive(Debug, Default, Deserialize)]
pub struct SearchParams {
    #[serde(default)]
    pub q: String,
    pub kind: Option<String>,
    pub lang: Option<String>,
    pub year_min: Option<i32>,
    pub year_max: Option<i32>,
    pub format: Option<String>,
    pub has_file: Option<bool>,
    pub author: Option<String>,
    pub subject: Option<String>,
    /// relevance | newest | year | year-desc | title
    pub sort: Option<String>,
    #[serde(default)]
    pub offset: usize,
    pub limit: Option<usize>,
    /// The last word is still being typed.
    #[serde(default)]
    pub prefix: bool,
    /// Count the matches by kind, language, format, file and decade (the
    /// API computes them only when asked: as-you-type results need none).
    #[serde(default)]
    pub facets: bool,
}

impl SearchParams {
    fn to_query(&self, facets: bool) -> Result<carrel_search::Query, LibraryError> {
        let bad = |m: String| LibraryError::BadRequest(m);
        if self.q.len() > 1000 {
            return Err(bad("the query is longer than 1000 bytes".into()));
        }
        let sort = match self.sort.as_deref().unwrap_or("relevance") {
            "relevance" | "" => Sort::Relevance,
            "newest" => Sort::Newest,
            "year" => Sort::YearAsc,
            "year-desc" => Sort::YearDesc,
            "title" => Sort::Title,
            s => {
                return Err(bad(format!(
                    "sort {s:?}: use relevance, newest, year, year-desc or title"
                )));
            }
        };
        let kind = self
            .kind
            .as_deref()
            .filter(|k| !k.is_empty())
            .map(|k| {
                Kind::parse(k).map_err(|_| bad(format!("kind {k:?}: use book, article or comic")))
            })
            .transpose()?;
        let limit = self.limit.unwrap_or(20);
        if limit == 0 || limit > 100 {
            return Err(bad("limit must be 1 to 100".into()));
        }
        let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        Ok(carrel_search::Query {
            text: self.q.clone(),
            identifier: None,
            filters: Filters {
                kind,
                language: nonempty(&self.lang),
                year_min: self.year_min,
                year_max: self.year_max,
                format: nonempty(&self.format),
                has_file: self.has_file,
                author: nonempty(&self.author),
                subject: nonempty(&self.subject),
            },
            sort,
            offset: self.offset,
            limit,
            facets,
            as_you_type: self.prefix,
        })
    }
}

/// One result as the API and the page show it.
#[derive(Debug, Serialize)]
pub struct ResultItem {
    pub edition_id: i64,
    pub work_id: i64,
    pub kind: Kind,
    pub title: String,
    pub subtitle: Option<String>,
    pub authors: Vec<String>,
    pub year: Option<i32>,
    pub language: Option<String>,
    pub publisher: Option<String>,
    pub formats: Vec<String>,
    pub identifiers: Vec<String>,
    pub url: String,
}

#[derive(Debug, Serialize)]
pub struct SearchResponse {
    pub total: u64,
    pub offset: usize,
    pub results: Vec<ResultItem>,
    pub facets: Option<carrel_search::Facets>,
}

fn item(e: &Edition) -> ResultItem {
    ResultItem {
        edition_id: e.id,
        work_id: e.work_id,
        kind: e.record.kind,
        title: e.record.title.clone(),
        subtitle: e.record.subtitle.clone(),
        authors: e.record.authors.iter().map(|a| a.name.clone()).collect(),
        year: e.record.year,
        language: e.record.language.as_ref().map(|l| l.to_string()),
        publisher: e.record.publisher.clone(),
        formats: e.formats.clone(),
        identifiers: e.record.identifiers.iter().map(|i| i.to_string()).collect(),
        url: format!("/library/works/{}#e{}", e.work_id, e.id),
    }
}

async fn run_search(
    lib: &Library,
    p: &SearchParams,
    facets: bool,
) -> Result<SearchResponse, LibraryError> {
    let q = p.to_query(facets)?;
    let Results {
        total,
        hits,
        facets,
    } = lib.search(q).await?;
    let ids: Vec<i64> = hits.iter().map(|h| h.edition_id).collect();
    let editions = lib.db().editions(&ids).await?;
    Ok(SearchResponse {
        total,
        offset: p.offset,
        results: editions.iter().map(item).collect(),
        facets,
    })
}

async fn api_search(
    State(lib): State<Arc<Library>>,
    Query(p): Query<SearchParams>,
) -> Result<Json<SearchResponse>, LibraryError> {
    Ok(Json(run_search(&lib, &p, p.facets).await?))
}

async fn api_edition(
    State(lib): State<Arc<Library>>,
    Path(id): Path<i64>,
) -> Result<Json<serde_json::Value>, LibraryError> {
    let e = lib.db().edition(id).await?.ok_or(LibraryError::NotFound)?;
    let (files, has_cover) = files_of(&lib, e.id).await?;
    Ok(Json(serde_json::json!({
        "id": e.id,
        "work_id": e.work_id,
        "record": e.record,
        "formats": e.formats,
        "files": files,
        "cover": has_cover.then(|| serde_json::json!({
            "small": crate::urls::cover(e.id, false),
            "large": crate::urls::cover(e.id, true),
        })),
        "created_at": e.created_at.0,
    })))
}

async fn api_work(
    State(lib): State<Arc<Library>>,
    Path(id): Path<i64>,
) -> Result<Json<serde_json::Value>, LibraryError> {
    let w = lib.db().work(id).await?.ok_or(LibraryError::NotFound)?;
    let eds = lib.db().work_editions(id).await?;
    Ok(Json(serde_json::json!({
        "id": w.id,
        "title": w.title,
        "authors": w.authors,
        "subjects": w.subjects,
        "series": w.series,
        "series_index": w.series_index,
        "editions": eds.iter().map(item).collect::<Vec<_>>(),
    })))
}

/// Facet groups: name → (label, link, count).
type FacetGroups = Vec<(String, Vec<(String, String, u64)>)>;

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage<'a> {
    q: &'a str,
    total: u64,
    results: Vec<ResultItem>,
    facets: FacetGroups,
    error: Option<String>,
}

async fn search_page(State(lib): State<Arc<Library>>, Query(p): Query<SearchParams>) -> Response {
    let (total, results, facets, error) = match run_search(&lib, &p, true).await {
        Ok(r) => (r.total, r.results, r.facets, None),
        Err(e) => (0, Vec::new(), None, Some(e.into_http().message)),
    };
    // Facet links keep the query and add one filter.
    let base = format!("/library?q={}", percent(&p.q));
    let facet_groups = facets
        .map(|f| {
            let link = |k: &str, v: &str| format!("{base}&{k}={}", percent(v));
            vec![
                (
                    "Kind".to_owned(),
                    f.kind
                        .iter()
                        .map(|(v, n)| (v.clone(), link("kind", v), *n))
                        .collect(),
                ),
                (
                    "Language".to_owned(),
                    f.language
                        .iter()
                        .map(|(v, n)| (v.clone(), link("lang", v), *n))
                        .collect(),
                ),
                (
                    "Format".to_owned(),
                    f.format
                        .iter()
                        .map(|(v, n)| (v.clone(), link("format", v), *n))
                        .collect(),
                ),
                (
                    "Decade".to_owned(),
                    f.decade
                        .iter()
                        .map(|(d, n)| {
                            (
                                format!("{d}s"),
                                format!("{base}&year_min={d}&year_max={}", d + 9),
                                *n,
                            )
                        })
                        .collect(),
                ),
            ]
            .into_iter()
            .filter(|(_, v): &(String, Vec<_>)| !v.is_empty())
            .collect()
        })
        .unwrap_or_default();
    let body = SearchPage {
        q: &p.q,
        total,
        results,
        facets: facet_groups,
        error,
    }
    .render()
    .unwrap_or_else(|e| format!("template error: {e}"));
    let title = if p.q.is_empty() {
        "Library".to_owned()
    } else {
        format!("{} · Library", p.q)
    };
    Html(layout(&title, "", &body)).into_response()
}

#[derive(Template)]
#[template(path = "work.html")]
struct WorkPage {
    title: String,
    authors: Vec<String>,
    subjects: Vec<String>,
    series: Option<String>,
    editions: Vec<EditionView>,
    descriptions: Vec<String>,
    /// The large cover of the first edition that has one.
    cover: Option<String>,
}

struct EditionView {
    e: ResultItem,
    files: Vec<FileView>,
}

/// A library file as pages and the JSON API show it.
#[derive(Debug, Serialize)]
pub struct FileView {
    pub file_id: String,
    pub format: String,
    pub size: i64,
    pub pages: Option<i32>,
    pub encrypted: bool,
    pub problems: Vec<crate::extract::Problem>,
    pub download: String,
    pub read: String,
}

impl FileView {
    fn size_text(&self) -> String {
        let s = self.size as f64;
        if s >= 1048576.0 {
            format!("{:.1} MB", s / 1048576.0)
        } else {
            format!("{:.0} KB", (s / 1024.0).max(1.0))
        }
    }
}

/// The files of an edition, and whether it has a cover.
async fn files_of(lib: &Library, edition_id: i64) -> Result<(Vec<FileView>, bool), LibraryError> {
    let mut out = Vec::new();
    for f in lib.db().library_files(edition_id).await? {
        let Some(hosted) = lib.db().file(&f.file_id).await? else {
            continue;
        };
        out.push(FileView {
            file_id: f.file_id.to_string(),
            download: crate::urls::file(&f.file_id),
            read: crate::urls::read(&f.file_id),
            format: f.format,
            size: hosted.size,
            pages: f.pages,
            encrypted: f.encrypted,
            problems: serde_json::from_str(&f.problems).unwrap_or_default(),
        });
    }
    let cover = !out.is_empty() && lib.db().covered(&[edition_id]).await?.contains(&edition_id);
    Ok((out, cover))
}

async fn work_page(
    State(lib): State<Arc<Library>>,
    Path(id): Path<i64>,
) -> Result<Response, HttpError> {
    let w = lib
        .db()
        .work(id)
        .await
        .map_err(|e| LibraryError::from(e).into_http().as_page())?
        .ok_or_else(|| LibraryError::NotFound.into_http().as_page())?;
    let eds = lib
        .db()
        .work_editions(id)
        .await
        .map_err(|e| LibraryError::from(e).into_http().as_page())?;
    let mut descriptions: Vec<String> = eds
        .iter()
        .filter_map(|e| e.record.description.clone())
        .collect();
    descriptions.dedup();
    descriptions.truncate(1);
    let mut editions = Vec::with_capacity(eds.len());
    let mut cover = None;
    for e in &eds {
        let (files, has_cover) = files_of(&lib, e.id)
            .await
            .map_err(|e| e.into_http().as_page())?;
        if has_cover && cover.is_none() {
            cover = Some(crate::urls::cover(e.id, true));
        }
        editions.push(EditionView { e: item(e), files });
    }
    // Editions with files first.
    editions.sort_by_key(|v| v.files.is_empty());
    let page = WorkPage {
        title: w.title.clone(),
        authors: w.authors.iter().map(|a| a.name.clone()).collect(),
        subjects: w.subjects.clone(),
        series: w.series.as_ref().map(|s| match w.series_index {
            Some(i) => format!("{s} #{i}"),
            None => s.clone(),
        }),
        editions,
        descriptions,
        cover,
    }
    .render()
    .unwrap_or_else(|e| format!("template error: {e}"));
    Ok(Html(layout(&w.title, "", &page)).into_response())
}

fn percent(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}
