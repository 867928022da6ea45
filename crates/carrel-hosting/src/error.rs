//! The wing's error enum and its one mapping to HTTP.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use carrel_blob::BlobError;
use carrel_core::CoreError;
use carrel_core::share::Closed;
use carrel_db::DbError;
use carrel_http::HttpError;

#[derive(Debug, thiserror::Error)]
pub enum HostingError {
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Some of many ids named in one request (none of them was changed).
    #[error("no {0} of yours has the id {ids}; nothing was changed", ids = .1.join(", "))]
    NotFoundMany(&'static str, Vec<String>),
    #[error("the request body is larger than {0} bytes")]
    BodyTooLarge(usize),
    #[error("{0}")]
    Closed(#[from] Closed),
    #[error(transparent)]
    Invalid(#[from] CoreError),
    #[error("{1}")]
    BadRequest(&'static str, String),
    #[error("Tus-Resumable 1.0.0 is required")]
    TusVersion,
    #[error("Upload-Offset {sent} does not match the upload's offset {actual}")]
    OffsetMismatch { sent: u64, actual: u64 },
    #[error("another request is writing to this upload")]
    Locked,
    #[error("the upload is larger than allowed ({0} bytes at most)")]
    TooLarge(u64),
    #[error("files on your plan may be at most {} ({}); this one is larger", carrel_core::plan::Bytes(*.0), .1)]
    PlanFileTooLarge(u64, String),
    #[error(
        "this upload needs {} but your plan's storage has {} left of {}: delete files, or ask for a larger plan",
        carrel_core::plan::Bytes(*needed), carrel_core::plan::Bytes(*left), carrel_core::plan::Bytes(*quota)
    )]
    QuotaExceeded { needed: u64, left: u64, quota: u64 },
    /// A download the plan does not allow now.
    #[error("{}", .0.into_http().message)]
    Refused(carrel_http::meter::Refusal),
    #[error("the body does not match Upload-Checksum")]
    ChecksumMismatch,
    #[error("PATCH bodies must be sent as application/offset+octet-stream")]
    WrongContentType,
    #[error("too many unfinished uploads from this address; finish or delete some first")]
    TooManyUploads,
    #[error("this link needs a password")]
    PasswordRequired,
    #[error("wrong password")]
    WrongPassword,
    #[error("too many wrong passwords; try again in {0} seconds")]
    RateLimited(u64),
    #[error("a valid management token (Authorization: Bearer …) or the owner's log-in is required")]
    Unauthorized,
    #[error(
        "anonymous uploads are disabled on this server: log in, or send an API token with the upload scope"
    )]
    AnonymousDisabled,
    #[error("this API token lacks the {0} scope")]
    MissingScope(&'static str),
    #[error("log in (or send an API token) first")]
    LoginRequired,
    /// The request's credentials were refused (a CSRF check, a bad token).
    #[error("{0}")]
    Http(carrel_http::HttpError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A queued job that cannot be run (never caused by a request).
    #[error("bad job: {0}")]
    BadJob(String),
}

impl HostingError {
    fn is_disk_full(&self) -> bool {
        match self {
            HostingError::Blob(BlobError::StorageFull) => true,
            HostingError::Io(e) => carrel_blob::is_disk_full(e),
            _ => false,
        }
    }

    pub fn into_http(self) -> HttpError {
        use HostingError::*;
        if let Http(e) = self {
            return e;
        }
        // Internal details go to the log, never to the client.
        let internal = matches!(&self, Blob(_) | Db(_) | Io(_) | BadJob(_)) && !self.is_disk_full();
        let msg = if internal {
            "internal error; see the server log".to_owned()
        } else {
            self.to_string()
        };
        if internal {
            tracing::error!(error = %self, "internal error");
        }
        let (status, code) = match &self {
            NotFound(_) | NotFoundMany(..) => (StatusCode::NOT_FOUND, "not_found"),
            BodyTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            Closed(c) => (StatusCode::GONE, c.code()),
            Invalid(e) => (StatusCode::BAD_REQUEST, e.code()),
            BadRequest(code, _) => (StatusCode::BAD_REQUEST, *code),
            TusVersion => (StatusCode::PRECONDITION_FAILED, "tus_version_unsupported"),
            OffsetMismatch { .. } => (StatusCode::CONFLICT, "upload_offset_mismatch"),
            Locked => (StatusCode::LOCKED, "upload_locked"),
            TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            PlanFileTooLarge(..) => (StatusCode::PAYLOAD_TOO_LARGE, "plan_file_too_large"),
            QuotaExceeded { .. } => (StatusCode::INSUFFICIENT_STORAGE, "quota_exceeded"),
            Refused(r) => return r.into_http(),
            ChecksumMismatch => (
                StatusCode::from_u16(460).expect("valid"),
                "checksum_mismatch",
            ),
            WrongContentType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "wrong_content_type"),
            TooManyUploads => (StatusCode::TOO_MANY_REQUESTS, "too_many_uploads"),
            PasswordRequired => (StatusCode::UNAUTHORIZED, "password_required"),
            WrongPassword => (StatusCode::FORBIDDEN, "wrong_password"),
            RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            AnonymousDisabled => (StatusCode::FORBIDDEN, "anonymous_uploads_disabled"),
            MissingScope(_) => (StatusCode::FORBIDDEN, "missing_scope"),
            LoginRequired => (StatusCode::UNAUTHORIZED, "login_required"),
            Http(_) => unreachable!("answered above"),
            Blob(e @ BlobError::StorageFull) => (StatusCode::INSUFFICIENT_STORAGE, e.code()),
            Io(e) if carrel_blob::is_disk_full(e) => (
                StatusCode::INSUFFICIENT_STORAGE,
                BlobError::StorageFull.code(),
            ),
            Blob(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.code()),
            Db(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.code()),
            Io(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            BadJob(_) => (StatusCode::INTERNAL_SERVER_ERROR, "bad_job"),
        };
        let mut e = HttpError::new(status, code, msg);
        match &self {
            TusVersion => {
                e = e.with_header(
                    header::HeaderName::from_static("tus-version"),
                    HeaderValue::from_static("1.0.0"),
                )
            }
            RateLimited(secs) => e = e.with_header(header::RETRY_AFTER, HeaderValue::from(*secs)),
            PasswordRequired => {
                e = e.with_header(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"carrel share link\""),
                )
            }
            _ => {}
        }
        e
    }
}

impl IntoResponse for HostingError {
    fn into_response(self) -> Response {
        self.into_http().into_response()
    }
}

pub type Result<T, E = HostingError> = std::result::Result<T, E>;
