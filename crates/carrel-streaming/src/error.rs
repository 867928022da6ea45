//! The wing's error enum, with stable codes.

use carrel_blob::BlobError;
use carrel_db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum StreamingError {
    /// The file is empty.
    #[error("the file is empty")]
    Empty,
    /// The bytes are not audio or video (an image, a document, noise).
    #[error("{0}")]
    NotMedia(String),
    /// ffprobe could not read the file (truncated, damaged); with its stderr's tail.
    #[error("{0}")]
    Unreadable(String),
    /// ffprobe ran past its time bound and was killed.
    #[error("reading the file took longer than {0} seconds")]
    TimedOut(u64),
    /// ffprobe's report, or an input, was larger than allowed.
    #[error("more than {0} bytes (or items)")]
    TooLarge(u64),
    /// ffprobe is missing or could not be started.
    #[error("cannot run {tool}: {error}")]
    Tool { tool: String, error: String },
    /// The blob store keeps no local copy to give ffprobe.
    #[error("the blob store has no local file for this blob")]
    NoLocalFile,
    /// The rendition asked for does not exist (or the file is not remuxed).
    #[error("no such rendition")]
    NoRendition,
    /// The rendition is still being made.
    #[error("the rendition is being prepared; try again shortly")]
    NotReady,
    /// The rendition could not be made (the file's fault; with ffmpeg's complaint).
    #[error("the rendition could not be made: {0}")]
    RenditionFailed(String),
    /// A subtitle file that cannot be served as WebVTT (with its name and why).
    #[error("{0}")]
    SubtitlesUnreadable(String),
    /// The work was stopped on purpose (its file was deleted).
    #[error("cancelled")]
    Cancelled,
    /// A segment that is not made yet (it may be soon).
    #[error("the segment is being prepared; try again shortly")]
    SegmentNotReady,
    /// A queued job that cannot be run.
    #[error("bad job: {0}")]
    BadJob(String),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl StreamingError {
    pub fn code(&self) -> &'static str {
        match self {
            StreamingError::Empty => "media_empty",
            StreamingError::NotMedia(_) => "not_media",
            StreamingError::Unreadable(_) => "media_unreadable",
            StreamingError::TimedOut(_) => "media_probe_timeout",
            StreamingError::TooLarge(_) => "media_too_large",
            StreamingError::Tool { .. } => "media_tool_missing",
            StreamingError::NoLocalFile => "media_no_local_file",
            StreamingError::NoRendition => "no_rendition",
            StreamingError::NotReady => "rendition_not_ready",
            StreamingError::RenditionFailed(_) => "rendition_failed",
            StreamingError::SubtitlesUnreadable(_) => "subtitles_unreadable",
            StreamingError::Cancelled => "cancelled",
            StreamingError::SegmentNotReady => "segment_not_ready",
            StreamingError::BadJob(_) => "bad_job",
            StreamingError::Blob(e) => e.code(),
            StreamingError::Db(e) => e.code(),
            StreamingError::Io(_) => "io_error",
        }
    }

    /// Whether this is the file's fault (recorded as the probe's outcome)
    /// rather than the server's (the job is tried again).
    pub fn is_the_files(&self) -> bool {
        matches!(
            self,
            StreamingError::Empty
                | StreamingError::NotMedia(_)
                | StreamingError::Unreadable(_)
                | StreamingError::TimedOut(_)
                | StreamingError::TooLarge(_)
        )
    }
}

impl StreamingError {
    /// The response for an HTTP client: the file's and the client's
    /// faults as 4xx with their codes, the server's as a 500 (logged).
    pub fn into_http(self) -> carrel_http::HttpError {
        use axum::http::StatusCode;
        let status = match &self {
            StreamingError::NoRendition | StreamingError::RenditionFailed(_) => {
                StatusCode::NOT_FOUND
            }
            StreamingError::SubtitlesUnreadable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            StreamingError::NotReady | StreamingError::SegmentNotReady => {
                return carrel_http::HttpError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    self.code(),
                    self.to_string(),
                )
                .with_retry_after(
                    if matches!(self, StreamingError::SegmentNotReady) {
                        2
                    } else {
                        5
                    },
                );
            }
            _ => {
                tracing::warn!(error = %self, "streaming request failed");
                return carrel_http::HttpError::internal(self.code());
            }
        };
        carrel_http::HttpError::new(status, self.code(), self.to_string())
    }
}

pub type Result<T, E = StreamingError> = std::result::Result<T, E>;
