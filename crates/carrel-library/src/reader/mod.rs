//! The in-browser reader: `/library/read/{file}` opens a library file by
//! its format.
//!
//! - **EPUB**: served chapter by chapter. `/library/read/{file}/{n}` (and
//!   `/library/read/{file}` for the first) is carrel's page: the bar with
//!   the book, the table of contents (a `<details>` drawer), previous and
//!   next; the chapter itself is an `<iframe>` of
//!   `/library/read/{file}/book/{href}`, the spine document at its own path
//!   in the book, rendered by carrel from the sanitized chapter
//!   (`carrel_formats::reader`: ammonia, no scripts, handlers, forms or
//!   frames) with the book's sanitized CSS. The same prefix serves the
//!   book's images, fonts and stylesheets (`EpubBook::resource`: only those
//!   types; raster images only as what their bytes are), so relative
//!   references in the chapter and its CSS resolve with no rewriting; links
//!   are rewritten ([`links`]): to another chapter → the reader page
//!   (`target="_top"`), outside the book → a new tab without opener or
//!   referrer, anything else (`javascript:`, paths out of the book) → no
//!   link. Request paths with `..`, absolute paths, backslashes or control
//!   characters are refused before they reach the book.
//! - **CBZ**: `/library/read/{file}/page/{n}` shows page n of m;
//!   `/library/read/{file}/image/{n}` streams the entry if its bytes are a
//!   raster image (JPEG, PNG, GIF, WebP, BMP), with that type.
//! - **PDF**: a page framing `/library/read/{file}/pdf`, the bytes inline as
//!   `application/pdf` (ranges through `carrel_http::serve`).
//! - **MOBI, AZW3, FB2**: a page saying so, with the download.
//!
//! ## Security: book content is never active on carrel's origin
//!
//! - The chapter document carries `Content-Security-Policy: sandbox
//!   allow-same-origin allow-top-navigation-by-user-activation
//!   allow-popups allow-popups-to-escape-sandbox; default-src 'none';
//!   script-src 'none'; …` ([`FRAME_CSP`]) and the iframe the same
//!   `sandbox` attribute: no script of the book can run (no
//!   `allow-scripts`, `script-src 'none'`, and ammonia removed them
//!   anyway). It stays same-origin so that carrel's own page script can
//!   read its scroll position and listen for the arrow keys in it, and so
//!   its images, fonts and CSS (`Cross-Origin-Resource-Policy:
//!   same-origin`) load; a document that can run nothing gains nothing
//!   from that. Links may navigate the top page only on a click. The book's
//!   CSS lives inside that document, so it cannot restyle carrel's bar.
//! - Resources get the user-content headers (`nosniff`, the sandboxing
//!   CSP); SVG images (never documents: `Content-Disposition: attachment`
//!   if opened directly) and stylesheets come sanitized from carrel-formats.
//! - PDF: Chromium (checked with 156) renders an inline PDF with its own
//!   viewer even under `Content-Security-Policy: sandbox`, at the top level
//!   and in a frame, so the PDF route keeps carrel's usual user-content CSP
//!   (`USER_CONTENT_CSP`, with `sandbox`) and `nosniff`: the viewer is the
//!   browser's, and the PDF's own scripts (if the viewer runs any) are
//!   confined to it, never to carrel's origin. Browsers that refuse show
//!   the download button beside it.
//!
//! Books are opened in process with tighter limits than extraction
//! ([`limits`]: zip-bomb checks, size caps, deadline), on the blocking pool
//! with a timeout; a panic or a broken book is an error page (4xx), never a
//! 500 or a hang. Open books are kept in a small LRU ([`cache`]).

mod cache;
mod links;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use carrel_db::catalog::LibFile;
use carrel_formats::reader::{ComicBook, EpubBook, SpineItem, TocEntry};
use carrel_formats::{FormatError, Limits};
use carrel_http::HttpError;
use carrel_http::page::{Html, escape, layout};
use serde::Deserialize;

use crate::{Library, LibraryError};

/// Open books kept at once, and the most memory one kept book may hold.
const CACHE_BOOKS: usize = 16;
const CACHE_RESIDENT: u64 = 32 << 20;

/// The CSP of a chapter document (see the module documentation).
pub const FRAME_CSP: &str = "sandbox allow-same-origin allow-top-navigation-by-user-activation allow-popups allow-popups-to-escape-sandbox; \
     default-src 'none'; script-src 'none'; img-src 'self'; style-src 'self' 'unsafe-inline'; font-src 'self'; \
     media-src 'none'; object-src 'none'; frame-src 'none'; form-action 'none'; base-uri 'none'; frame-ancestors 'self'";

/// The `sandbox` attribute of the chapter's iframe (the same allowances).
const FRAME_SANDBOX: &str = "allow-same-origin allow-top-navigation-by-user-activation allow-popups allow-popups-to-escape-sandbox";

/// The limits books are opened with in the server: those of extraction,
/// with a shorter deadline and less to inflate.
pub fn limits() -> Limits {
    Limits {
        deadline: Duration::from_secs(8),
        max_xml_bytes: 8 << 20,
        max_total_bytes: 512 << 20,
        ..Limits::default()
    }
}

pub fn routes(lib: Arc<Library>) -> Router {
    let state = Arc::new(Reader {
        lib,
        books: cache::Lru::new(CACHE_BOOKS, CACHE_RESIDENT),
    });
    Router::new()
        .route("/library/read/{file}", get(open))
        .route("/library/read/{file}/{n}", get(chapter_page))
        .route("/library/read/{file}/book/{*path}", get(book_path))
        .route("/library/read/{file}/page/{n}", get(comic_page))
        .route("/library/read/{file}/image/{n}", get(comic_image))
        .route("/library/read/{file}/pdf", get(pdf))
        .route("/library/reader/reader.js", get(script))
        .route("/library/reader/reader.css", get(style))
        .with_state(state)
}

struct Reader {
    lib: Arc<Library>,
    books: cache::Lru<Book>,
}

/// Kept in an `Arc` (one per open book), so its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Book {
    Epub(Epub),
    Comic(Mutex<ComicBook>),
}

struct Epub {
    book: Mutex<EpubBook>,
    spine: Vec<SpineItem>,
    toc: Vec<TocEntry>,
    /// Spine href → index.
    by_href: HashMap<String, usize>,
    /// The first table-of-contents title of each spine document.
    titles: Vec<Option<String>>,
}

impl cache::Weighed for Book {
    fn resident_bytes(&self) -> u64 {
        match self {
            Book::Epub(e) => lock(&e.book).resident_bytes(),
            Book::Comic(c) => lock(c).resident_bytes(),
        }
    }
}

/// A book's lock, even after a panic while it was held (the reader seeks
/// afresh for every entry, so nothing is left half-done).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Epub {
    fn open(path: &std::path::Path) -> Result<Epub, FormatError> {
        let book = EpubBook::open(path, &limits())?;
        let spine = book.spine();
        let toc = book.toc();
        let mut by_href = HashMap::with_capacity(spine.len());
        for s in &spine {
            by_href.entry(s.href.clone()).or_insert(s.index);
        }
        let mut titles = vec![None; spine.len()];
        for t in &toc {
            let path = t.href.split('#').next().unwrap_or(&t.href);
            if let Some(&i) = by_href.get(path)
                && titles[i].is_none()
            {
                titles[i] = Some(t.title.clone());
            }
        }
        Ok(Epub {
            book: Mutex::new(book),
            spine,
            toc,
            by_href,
            titles,
        })
    }

    fn title(&self, index: usize) -> String {
        self.titles
            .get(index)
            .cloned()
            .flatten()
            .unwrap_or_else(|| format!("Section {}", index + 1))
    }
}

fn page_error(status: StatusCode, code: &'static str, message: impl Into<String>) -> HttpError {
    HttpError::new(status, code, message).as_page()
}

/// A book that cannot be read, as a page saying why.
fn book_error(e: FormatError) -> HttpError {
    let status = match &e {
        FormatError::NotFound(_) => StatusCode::NOT_FOUND,
        FormatError::BadPath(_) => StatusCode::BAD_REQUEST,
        FormatError::Forbidden(_) | FormatError::Encrypted(_) => StatusCode::FORBIDDEN,
        FormatError::Deadline => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    let message = match &e {
        FormatError::NotFound(_) | FormatError::BadPath(_) | FormatError::Forbidden(_) => {
            e.to_string()
        }
        FormatError::Encrypted(_) => {
            format!("This book is protected by DRM and cannot be read here ({e}).")
        }
        _ => format!("This book could not be opened: {e}. Download it to try another reader."),
    };
    page_error(status, e.code(), message)
}

/// What the reader's pages show of the file.
struct FileInfo {
    lf: LibFile,
    hosted: carrel_db::File,
    title: String,
    work_url: String,
}

impl Reader {
    async fn file(&self, id: &str) -> Result<FileInfo, HttpError> {
        let (lf, hosted) = crate::files::library_file(&self.lib, id)
            .await
            .map_err(|e| e.into_http().as_page())?;
        let edition = self
            .lib
            .db()
            .edition(lf.edition_id)
            .await
            .map_err(|e| LibraryError::from(e).into_http().as_page())?;
        let (title, work_url) = match edition {
            Some(e) => (e.record.title.clone(), crate::urls::work(e.work_id)),
            None => (hosted.name.as_str().to_owned(), "/library".to_owned()),
        };
        Ok(FileInfo {
            lf,
            hosted,
            title,
            work_url,
        })
    }

    /// The file's bytes on local disk.
    fn local_path(&self, f: &FileInfo) -> Result<PathBuf, HttpError> {
        self.lib.blobs().local_path(&f.hosted.blob).ok_or_else(|| {
            page_error(
                StatusCode::NOT_IMPLEMENTED,
                "reader_needs_local_store",
                "This server keeps its files in a remote store, which the reader cannot read yet. \
                 Download the file instead.",
            )
        })
    }

    async fn book(&self, f: &FileInfo) -> Result<Arc<Book>, HttpError> {
        let path = self.local_path(f)?;
        let format = f.lf.format.clone();
        self.books
            .get(&f.lf.file_id.to_string(), move || match format.as_str() {
                "epub" => Epub::open(&path).map(Book::Epub).map_err(book_error),
                "cbz" => ComicBook::open(&path, &limits())
                    .map(|c| Book::Comic(Mutex::new(c)))
                    .map_err(book_error),
                _ => Err(page_error(
                    StatusCode::NOT_FOUND,
                    "not_readable",
                    "This file cannot be read page by page here.",
                )),
            })
            .await
    }
}

fn number(n: &str) -> Option<usize> {
    n.parse::<usize>().ok().filter(|n| *n >= 1)
}

fn not_a(kind: &str) -> HttpError {
    page_error(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("This file is not {kind}."),
    )
}

#[derive(Debug, Default, Deserialize)]
struct ChapterParams {
    /// An element of the chapter to open at.
    anchor: Option<String>,
}

fn respond(r: Result<Response, HttpError>) -> Response {
    r.unwrap_or_else(IntoResponse::into_response)
}

async fn open(State(r): State<Arc<Reader>>, Path(file): Path<String>) -> Response {
    respond(
        async {
            let f = r.file(&file).await?;
            match f.lf.format.as_str() {
                "epub" => epub_page(&r, &f, 1, true, None).await,
                "cbz" => comic_view(&r, &f, 1, true).await,
                "pdf" => Ok(pdf_page(&f)),
                _ => Ok(unsupported_page(&f)),
            }
        }
        .await,
    )
}

async fn chapter_page(
    State(r): State<Arc<Reader>>,
    Path((file, n)): Path<(String, String)>,
    Query(q): Query<ChapterParams>,
) -> Response {
    respond(
        async {
            let f = r.file(&file).await?;
            if f.lf.format != "epub" {
                return Err(not_a("an EPUB"));
            }
            let n = number(&n).ok_or_else(|| {
                page_error(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "There is no such chapter.",
                )
            })?;
            epub_page(&r, &f, n, false, q.anchor).await
        }
        .await,
    )
}

/// One entry of the table of contents as the page shows it.
struct TocView {
    title: String,
    url: String,
    depth: usize,
    current: bool,
}

#[derive(Template)]
#[template(path = "reader_epub.html")]
struct EpubPage<'a> {
    book_title: &'a str,
    work_url: &'a str,
    file: String,
    base: String,
    download: String,
    number: usize,
    count: usize,
    chapter_title: String,
    frame_src: String,
    frame_sandbox: &'static str,
    prev: Option<(String, String)>,
    next: Option<(String, String)>,
    toc: Vec<TocView>,
    entry: bool,
}

async fn epub_page(
    r: &Reader,
    f: &FileInfo,
    n: usize,
    entry: bool,
    anchor: Option<String>,
) -> Result<Response, HttpError> {
    let book = r.book(f).await?;
    let Book::Epub(e) = &*book else {
        return Err(not_a("an EPUB"));
    };
    let file = f.lf.file_id.to_string();
    let count = e.spine.len();
    if count == 0 {
        return Err(page_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_chapters",
            "This book has no chapters in its reading order. Download it to try another reader.",
        ));
    }
    if n > count {
        return Err(page_error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("There is no chapter {n}: this book has {count}."),
        ));
    }
    let item = &e.spine[n - 1];
    let mut frame_src = links::book_url(&file, &item.href);
    if let Some(a) = anchor.as_deref().filter(|a| !a.is_empty()) {
        frame_src.push_str(&links::fragment(a));
    }
    let toc = if e.toc.is_empty() {
        (0..count)
            .map(|i| TocView {
                title: e.title(i),
                url: links::chapter_url(&file, i + 1, None),
                depth: 0,
                current: i + 1 == n,
            })
            .collect()
    } else {
        let mut seen_current = false;
        e.toc
            .iter()
            .filter_map(|t| {
                let (path, frag) = match t.href.split_once('#') {
                    Some((p, f)) => (p, Some(links::decode_fragment(f))),
                    None => (t.href.as_str(), None),
                };
                let i = *e.by_href.get(path)?;
                let current = i + 1 == n && !seen_current;
                seen_current |= current;
                Some(TocView {
                    title: t.title.clone(),
                    url: links::chapter_url(&file, i + 1, frag.as_deref()),
                    depth: t.depth.min(4),
                    current,
                })
            })
            .collect()
    };
    let page = EpubPage {
        book_title: &f.title,
        work_url: &f.work_url,
        base: links::base(&file),
        download: crate::urls::file(&f.lf.file_id),
        number: n,
        count,
        chapter_title: e.title(n - 1),
        frame_src,
        frame_sandbox: FRAME_SANDBOX,
        prev: (n > 1).then(|| (links::chapter_url(&file, n - 1, None), e.title(n - 2))),
        next: (n < count).then(|| (links::chapter_url(&file, n + 1, None), e.title(n))),
        toc,
        entry,
        file,
    };
    Ok(Html(render(&page)).into_response())
}

fn render<T: Template>(t: &T) -> String {
    t.render()
        .unwrap_or_else(|e| format!("template error: {}", escape(&e.to_string())))
}

#[derive(Debug, Default, Deserialize)]
struct BookParams {
    /// `image`: the resource itself even at a spine document's path (an
    /// SVG spine item is shown as an image of itself).
    #[serde(rename = "as")]
    as_: Option<String>,
}

/// A chapter document (rendered) or a resource of the book.
async fn book_path(
    State(r): State<Arc<Reader>>,
    Path((file, path)): Path<(String, String)>,
    Query(q): Query<BookParams>,
) -> Response {
    respond(
        async {
            let f = r.file(&file).await?;
            if f.lf.format != "epub" {
                return Err(not_a("an EPUB"));
            }
            let path = links::book_path(&path).ok_or_else(|| {
                page_error(
                    StatusCode::BAD_REQUEST,
                    "bad_path",
                    "This path is not inside the book.",
                )
            })?;
            let book = r.book(&f).await?;
            let Book::Epub(e) = &*book else {
                return Err(not_a("an EPUB"));
            };
            match e.by_href.get(&path) {
                Some(&i) if q.as_.as_deref() != Some("image") => {
                    chapter_document(&book, &f, e, i).await
                }
                _ => resource(book.clone(), path).await,
            }
        }
        .await,
    )
}

async fn chapter_document(
    book: &Arc<Book>,
    f: &FileInfo,
    e: &Epub,
    index: usize,
) -> Result<Response, HttpError> {
    let b = book.clone();
    let chapter = cache::blocking(move || {
        let Book::Epub(e) = &*b else {
            return Err(not_a("an EPUB"));
        };
        lock(&e.book).chapter(index).map_err(book_error)
    })
    .await?;
    let file = f.lf.file_id.to_string();
    let href = &e.spine[index].href;
    let linking = links::Linking {
        file: &file,
        chapter: href,
        spine: &e.by_href,
    };
    let body = if e.spine[index].media_type.contains("svg") {
        format!(
            "<div class=\"carrel-plate\"><img src=\"{}?as=image\" alt=\"\"></div>",
            escape(&links::book_url(&file, href))
        )
    } else {
        links::rewrite_links(&chapter.body_html, &linking)
    };
    let mut head = String::new();
    for css in &chapter.stylesheets {
        head.push_str(&format!(
            "<link rel=\"stylesheet\" href=\"{}\">\n",
            escape(&links::book_url(&file, css))
        ));
    }
    if !chapter.inline_css.is_empty() {
        // Sanitized: no `<`, so it cannot end the element.
        head.push_str(&format!("<style>{}</style>\n", chapter.inline_css));
    }
    let count = e.spine.len();
    let end = if index + 1 < count {
        format!(
            "<a href=\"{}\" target=\"_top\" rel=\"next\">Next: {} →</a>",
            escape(&links::chapter_url(&file, index + 2, None)),
            escape(&e.title(index + 1))
        )
    } else {
        format!(
            "<span>The end.</span> <a href=\"{}\" target=\"_top\">Back to the book’s page</a>",
            escape(&f.work_url)
        )
    };
    let title = chapter.title.clone().unwrap_or_else(|| e.title(index));
    let html = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title>\n<style>{base}</style>\n{head}<style>{over}</style>\n</head>\
         <body><div class=\"carrel-chapter\">{body}</div>\
         <nav class=\"carrel-end\">{end}</nav></body></html>\n",
        title = escape(&title),
        base = FRAME_BASE_CSS,
        over = FRAME_OVER_CSS,
    );
    let mut res = carrel_http::page::html_response(html, FRAME_CSP, "SAMEORIGIN");
    let h = res.headers_mut();
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=300"),
    );
    Ok(res)
}

async fn resource(book: Arc<Book>, path: String) -> Result<Response, HttpError> {
    let (bytes, media_type) = cache::blocking(move || {
        let Book::Epub(e) = &*book else {
            return Err(not_a("an EPUB"));
        };
        lock(&e.book).resource(&path).map_err(book_error)
    })
    .await?;
    let svg = media_type == "image/svg+xml";
    let ct = if media_type == "text/css" {
        "text/css; charset=utf-8".to_owned()
    } else {
        media_type
    };
    Ok(bytes_response(bytes, &ct, svg))
}

/// Bytes from a book with the user-content headers; cacheable, since a
/// library file never changes.
fn bytes_response(bytes: Vec<u8>, content_type: &str, attachment: bool) -> Response {
    let mut res = bytes.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static(if attachment { "attachment" } else { "inline" }),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=86400"),
    );
    carrel_http::headers::safety_headers(h);
    res
}

// ------------------------------------------------------------------ CBZ

#[derive(Template)]
#[template(path = "reader_cbz.html")]
struct ComicPage<'a> {
    book_title: &'a str,
    work_url: &'a str,
    file: String,
    base: String,
    download: String,
    number: usize,
    count: usize,
    image: String,
    prev: Option<String>,
    next: Option<String>,
    next_image: Option<String>,
    entry: bool,
}

async fn comic_page(
    State(r): State<Arc<Reader>>,
    Path((file, n)): Path<(String, String)>,
) -> Response {
    respond(
        async {
            let (f, n) = r.comic_page(&file, &n).await?;
            comic_view(&r, &f, n, false).await
        }
        .await,
    )
}

impl Reader {
    /// A comic's file and a page number from the path (1-based).
    async fn comic_page(&self, file: &str, n: &str) -> Result<(FileInfo, usize), HttpError> {
        let f = self.file(file).await?;
        if f.lf.format != "cbz" {
            return Err(not_a("a comic (CBZ)"));
        }
        let n = number(n).ok_or_else(|| {
            page_error(StatusCode::NOT_FOUND, "not_found", "There is no such page.")
        })?;
        Ok((f, n))
    }
}

async fn comic_view(
    r: &Reader,
    f: &FileInfo,
    n: usize,
    entry: bool,
) -> Result<Response, HttpError> {
    let book = r.book(f).await?;
    let Book::Comic(c) = &*book else {
        return Err(not_a("a comic (CBZ)"));
    };
    let count = lock(c).page_count();
    if n > count {
        return Err(page_error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("There is no page {n}: this comic has {count}."),
        ));
    }
    let file = f.lf.file_id.to_string();
    let page = ComicPage {
        book_title: &f.title,
        work_url: &f.work_url,
        base: links::base(&file),
        download: crate::urls::file(&f.lf.file_id),
        number: n,
        count,
        image: links::image_url(&file, n),
        prev: (n > 1).then(|| links::page_url(&file, n - 1)),
        next: (n < count).then(|| links::page_url(&file, n + 1)),
        next_image: (n < count).then(|| links::image_url(&file, n + 1)),
        entry,
        file,
    };
    Ok(Html(render(&page)).into_response())
}

async fn comic_image(
    State(r): State<Arc<Reader>>,
    Path((file, n)): Path<(String, String)>,
) -> Response {
    respond(
        async {
            let (f, n) = r.comic_page(&file, &n).await?;
            let book = r.book(&f).await?;
            let (bytes, media_type) = cache::blocking(move || {
                let Book::Comic(c) = &*book else {
                    return Err(not_a("a comic (CBZ)"));
                };
                lock(c).page(n - 1).map_err(book_error)
            })
            .await?;
            Ok(bytes_response(bytes, media_type, false))
        }
        .await,
    )
}

// ------------------------------------------------------------------ PDF

#[derive(Template)]
#[template(path = "reader_pdf.html")]
struct PdfPage<'a> {
    book_title: &'a str,
    work_url: &'a str,
    file: String,
    src: String,
    download: String,
}

fn pdf_page(f: &FileInfo) -> Response {
    let file = f.lf.file_id.to_string();
    let page = PdfPage {
        book_title: &f.title,
        work_url: &f.work_url,
        src: format!("{}/pdf", links::base(&file)),
        download: crate::urls::file(&f.lf.file_id),
        file,
    };
    Html(render(&page)).into_response()
}

/// The PDF's bytes, inline, for the browser's own viewer.
async fn pdf(
    State(r): State<Arc<Reader>>,
    Path(file): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    respond(
        async {
            let f = r.file(&file).await?;
            if f.lf.format != "pdf" {
                return Err(not_a("a PDF"));
            }
            let media = carrel_core::media::MediaType::new("application/pdf")
                .map_err(HttpError::internal)?;
            let name = f.hosted.name.as_str();
            let content = carrel_http::serve::Content::new(
                f.hosted.blob,
                f.hosted.size as u64,
                f.hosted.created_at.to_system_time(),
                name,
                &media,
                false,
            )
            .shown_inline(name, &media);
            let plan = carrel_http::serve::plan(&method, &headers, &content)?;
            carrel_http::serve::respond(&method, plan, &content, r.lib.blobs().clone()).await
        }
        .await,
    )
}

// ------------------------------------------------------------------ other formats

#[derive(Template)]
#[template(path = "reader_other.html")]
struct OtherPage<'a> {
    book_title: &'a str,
    work_url: &'a str,
    format: String,
    download: String,
}

fn unsupported_page(f: &FileInfo) -> Response {
    let page = OtherPage {
        book_title: &f.title,
        work_url: &f.work_url,
        format: f.lf.format.to_ascii_uppercase(),
        download: crate::urls::file(&f.lf.file_id),
    };
    Html(layout(&f.title, "", &render(&page))).into_response()
}

// ------------------------------------------------------------------ static

async fn script() -> Response {
    static_file(
        include_str!("../../static/reader.js"),
        "text/javascript; charset=utf-8",
    )
}

async fn style() -> Response {
    static_file(
        include_str!("../../static/reader.css"),
        "text/css; charset=utf-8",
    )
}

fn static_file(body: &'static str, content_type: &'static str) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

/// The chapter document's own styles, before the book's: a readable measure,
/// a serif face, comfortable leading.
const FRAME_BASE_CSS: &str = include_str!("../../static/frame-base.css");
/// After the book's: what the book may not change (the measure, images
/// that fit, dark mode).
const FRAME_OVER_CSS: &str = include_str!("../../static/frame-over.css");
