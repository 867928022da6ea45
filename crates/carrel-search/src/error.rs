//! The one error type of carrel-search, with stable codes.

use std::path::PathBuf;

/// Why a search-index operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The index on disk was written by another schema (or tokenizer)
    /// version: the caller rebuilds it ([`crate::SearchIndex::recreate`] and
    /// re-upserts every record).
    #[error(
        "the search index at {path:?} has schema version {found}, this build uses {expected}: rebuild it"
    )]
    SchemaChanged {
        path: PathBuf,
        found: String,
        expected: u32,
    },
    /// `offset` is past the deepest page served.
    #[error(
        "results past {max} cannot be paged to (offset {offset} asked): narrow the search with more words or filters"
    )]
    PageTooDeep { offset: usize, max: usize },
    /// A query value out of range (for example a limit above the maximum).
    #[error("invalid search query: {0}")]
    InvalidQuery(String),
    /// Reading or writing the index directory failed.
    #[error("search index I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The index engine failed.
    #[error("search index error: {0}")]
    Index(#[from] tantivy::TantivyError),
    /// A writer or reader thread panicked while holding the index.
    #[error("the search index writer is unusable after a panic")]
    Poisoned,
    /// Another process holds the index's writer lock (a second carrel on
    /// the same data directory): this one searches but cannot change it.
    #[error(
        "the search index is written by another carrel process on this data directory; this one only searches it"
    )]
    ReadOnly,
}

impl SearchError {
    /// The stable, machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            SearchError::SchemaChanged { .. } => "search_schema_changed",
            SearchError::PageTooDeep { .. } => "search_page_too_deep",
            SearchError::InvalidQuery(_) => "invalid_search_query",
            SearchError::Io(_) => "search_io_error",
            SearchError::Index(_) => "search_index_error",
            SearchError::Poisoned => "search_index_poisoned",
            SearchError::ReadOnly => "search_index_read_only",
        }
    }
}

impl From<tantivy::directory::error::OpenDirectoryError> for SearchError {
    fn from(e: tantivy::directory::error::OpenDirectoryError) -> Self {
        SearchError::Index(e.into())
    }
}

impl From<tantivy::directory::error::OpenReadError> for SearchError {
    fn from(e: tantivy::directory::error::OpenReadError) -> Self {
        SearchError::Index(e.into())
    }
}
