//! The library wing: a catalog of books and articles (work → edition →
//! file), fed from bulk metadata dumps and searched through the index.
//!
//! - [`Library`]: the service. Storing records writes the database (through
//!   `carrel_db::CatalogRepo`, which dedups) and then the search index
//!   (`carrel_search`); the index is committed at most every half second
//!   while changes arrive, so a change is searchable within a second.
//!   `rebuild_index` rebuilds the index from the database.
//! - [`import`]: dump readers (CSV with a mapping, Gutenberg, goodbooks,
//!   Crossref/OpenAlex JSONL, Open Library, OAI-PMH) as record streams, and
//!   [`import::run`], which stores them in batches with a checkpoint.
//! - [`ingest`]: book files into the library (`carrel library add`, and
//!   "add to library" of an upload), read by [`extract`] in a child process
//!   with lowered limits (the only place this crate spawns a process).
//! - [`web`]: the search API and pages under `/library`.
//! - [`admin`]: merging works and splitting editions off (administrators).
//! - [`reader`]: reading in the browser (`/library/read/{file}`): EPUB by
//!   chapter in a sandboxed frame, CBZ by page, PDF in the browser's viewer.
//!
//! The database is the truth; the index can always be rebuilt from it. This
//! crate never touches SQL or tantivy directly.

pub mod admin;
mod browse;
pub mod extract;
mod files;
pub mod import;
pub mod ingest;
mod listing;
mod opds;
pub mod reader;
mod run;
mod service;
pub mod urls;
pub mod web;

pub use run::{COMMIT_EVERY, ImportOptions, ImportProgress, ImportReport, run_import};
pub use service::{Library, PendingCommit, index_doc};

/// Errors of the library wing, each with a stable code.
#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    #[error("{0}")]
    BadImport(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Db(#[from] carrel_db::DbError),
    #[error(transparent)]
    Search(#[from] carrel_search::SearchError),
    #[error("not found")]
    NotFound,
    #[error("a management token for this file is required (Authorization: Bearer …)")]
    Unauthorized,
    #[error("log in (or send an API token) first")]
    LoginRequired,
    #[error("only an administrator may do this")]
    Forbidden,
    /// The request's credentials were refused (a CSRF check, a bad token).
    #[error("{0}")]
    Http(carrel_http::HttpError),
    /// A file that could not be read as a book (the problem says why).
    #[error("{}", .0.message)]
    NotABook(extract::Problem),
    #[error("invalid request: {0}")]
    BadRequest(String),
    /// A query parameter of a browsing page or an OPDS feed that cannot be
    /// served (`bad_page`, `page_out_of_range`, `bad_facet`, `bad_sort`,
    /// `query_too_long`).
    #[error("{message}")]
    BadParam { code: &'static str, message: String },
    #[error("internal error: {0}")]
    Internal(String),
}

impl LibraryError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        LibraryError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            LibraryError::BadImport(_) => "bad_import",
            LibraryError::Io { .. } => "io_error",
            LibraryError::Db(e) => e.code(),
            LibraryError::Search(e) => e.code(),
            LibraryError::NotFound => "not_found",
            LibraryError::Unauthorized => "unauthorized",
            LibraryError::LoginRequired => "login_required",
            LibraryError::Forbidden => "forbidden",
            LibraryError::Http(e) => e.code,
            LibraryError::NotABook(_) => "not_a_book",
            LibraryError::BadRequest(_) => "bad_request",
            LibraryError::BadParam { code, .. } => code,
            LibraryError::Internal(_) => "internal",
        }
    }
}
