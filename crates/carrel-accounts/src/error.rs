//! The wing's error enum and its one mapping to HTTP.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use carrel_core::CoreError;
use carrel_db::DbError;
use carrel_http::HttpError;

#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error("wrong e-mail address or password")]
    BadLogin,
    #[error("too many failed log-ins; try again in {0} seconds")]
    Throttled(u64),
    #[error("this account is suspended; contact the administrator")]
    Suspended,
    #[error("an account with this e-mail address already exists; log in instead")]
    EmailTaken,
    #[error(
        "sign-up is by invitation only on this server; ask an administrator for an invitation link"
    )]
    InvitationRequired,
    #[error("this invitation is unknown, used or expired")]
    BadInvitation,
    #[error("sign-up is closed on this server")]
    SignupClosed,
    #[error("this reset link is unknown, used or expired; ask for a new one")]
    BadResetToken,
    #[error("the current password is wrong")]
    WrongPassword,
    #[error("log in first")]
    LoginRequired,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    BadSignature(String),
    #[error(transparent)]
    Invalid(#[from] CoreError),
    #[error("{1}")]
    BadRequest(&'static str, String),
    /// Mail could not be sent, or this server sends none.
    #[error("{0}")]
    Mail(String),
    #[error("too many reset links asked for; try again in {0} seconds")]
    TooManyResets(u64),
    #[error("the request body is too large")]
    BodyTooLarge,
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl AccountsError {
    pub fn into_http(self) -> HttpError {
        use AccountsError::*;
        if let Http(e) = self {
            return e;
        }
        let (status, code) = match &self {
            BadLogin => (StatusCode::UNAUTHORIZED, "bad_login"),
            Throttled(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"),
            Suspended => (StatusCode::FORBIDDEN, "account_suspended"),
            EmailTaken => (StatusCode::CONFLICT, "email_taken"),
            InvitationRequired => (StatusCode::FORBIDDEN, "invitation_required"),
            BadInvitation => (StatusCode::FORBIDDEN, "bad_invitation"),
            SignupClosed => (StatusCode::FORBIDDEN, "signup_closed"),
            BadResetToken => (StatusCode::BAD_REQUEST, "bad_reset_token"),
            WrongPassword => (StatusCode::FORBIDDEN, "wrong_password"),
            LoginRequired => (StatusCode::UNAUTHORIZED, "login_required"),
            Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            BadSignature(_) => (StatusCode::UNAUTHORIZED, "bad_signature"),
            Invalid(e) => (StatusCode::BAD_REQUEST, e.code()),
            BadRequest(code, _) => (StatusCode::BAD_REQUEST, *code),
            BodyTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            Mail(_) => (StatusCode::SERVICE_UNAVAILABLE, "mail_unavailable"),
            TooManyResets(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_resets"),
            Http(_) => unreachable!("answered above"),
            Db(_) | Internal(_) => {
                tracing::error!(error = %self, "internal error");
                return HttpError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; see the server log",
                );
            }
        };
        let mut e = HttpError::new(status, code, self.to_string());
        if let Throttled(secs) | TooManyResets(secs) = self {
            e = e.with_header(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        e
    }
}

impl IntoResponse for AccountsError {
    fn into_response(self) -> Response {
        self.into_http().into_response()
    }
}

pub type Result<T, E = AccountsError> = std::result::Result<T, E>;
