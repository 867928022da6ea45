//! The one error type of carrel-core. Each variant has a stable code that the
//! HTTP edge sends to clients; codes never change meaning once published.

/// A value that broke one of carrel's domain rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    #[error("invalid id: {0}")]
    InvalidId(&'static str),
    #[error("invalid file name: {0}")]
    InvalidFileName(&'static str),
    #[error("invalid media type")]
    InvalidMediaType,
    #[error("invalid duration {0:?}: use a number followed by s, m, h, d or w (for example 7d)")]
    InvalidDuration(String),
    #[error("invalid Upload-Metadata: {0}")]
    InvalidMetadata(&'static str),
    #[error("invalid Upload-Checksum: {0}")]
    InvalidChecksum(&'static str),
    #[error("unsupported checksum algorithm {0:?}")]
    UnsupportedChecksum(String),
    #[error("invalid identifier: {0}")]
    InvalidIdentifier(&'static str),
    #[error("invalid catalog record: {0}")]
    InvalidCatalog(String),
    #[error("{0}")]
    InvalidAccount(&'static str),
    #[error("{0}")]
    WeakPassword(&'static str),
    #[error("invalid plan name {0:?}: use 1 to 32 of a-z, 0-9, - and _")]
    InvalidPlan(String),
    #[error("there is no plan called {0:?}")]
    UnknownPlan(String),
    #[error("invalid size {0:?}: use a number of bytes or a size such as 10 GiB or 500 MB")]
    InvalidSize(String),
    #[error("name at most {0} management tokens at once")]
    TooManyTokens(usize),
}

impl CoreError {
    /// The stable, machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            CoreError::InvalidId(_) => "invalid_id",
            CoreError::InvalidFileName(_) => "invalid_file_name",
            CoreError::InvalidMediaType => "invalid_media_type",
            CoreError::InvalidDuration(_) => "invalid_duration",
            CoreError::InvalidMetadata(_) => "invalid_upload_metadata",
            CoreError::InvalidChecksum(_) => "invalid_checksum",
            CoreError::UnsupportedChecksum(_) => "unsupported_checksum_algorithm",
            CoreError::InvalidIdentifier(_) => "invalid_identifier",
            CoreError::InvalidCatalog(_) => "invalid_catalog_record",
            CoreError::InvalidAccount(_) => "invalid_account",
            CoreError::WeakPassword(_) => "weak_password",
            CoreError::InvalidPlan(_) => "invalid_plan",
            CoreError::UnknownPlan(_) => "unknown_plan",
            CoreError::InvalidSize(_) => "invalid_size",
            CoreError::TooManyTokens(_) => "too_many_tokens",
        }
    }
}
