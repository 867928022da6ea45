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
//! - [`web`]: the search API and pages under `/library`.
//!
//! The database is the truth; the index can always be rebuilt from it. This
//! crate never touches SQL or tantivy directly.

pub mod import;
mod run;
mod service;
pub mod web;

pub use run::{ImportOptions, ImportProgress, ImportReport, run_import};
pub use service::{Library, index_doc};

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
    #[error("invalid request: {0}")]
    BadRequest(String),
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
            LibraryError::BadRequest(_) => "bad_request",
            LibraryError::Internal(_) => "internal",
        }
    }
}
