//! Who is asking, for every wing, without any wing knowing how accounts are
//! stored. The accounts wing implements [`Authenticator`]; the server puts
//! it into every request (`.layer(axum::Extension(auth))`: a plain service,
//! no boxing per request as `middleware::from_fn` has); handlers take a [`Who`].
//!
//! Credentials: an API token (`Authorization: Bearer crl_…`) or a browser
//! session (the `carrel_session` cookie). A session changes nothing without
//! proof that the request came from carrel's own page: the `X-CSRF-Token`
//! header (scripts) or the `csrf` field of a form, both the
//! [`csrf_token`] of the session. [`Who`] hands out its caller only through
//! methods that check this, so no handler can forget.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use carrel_core::account::{Caller, Credential};
use carrel_core::ids::Secret;
use sha2::Digest;

use crate::HttpError;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "carrel_session";
/// The cookie that carries the CSRF token of forms shown before logging in.
pub const FORM_COOKIE: &str = "carrel_form";
/// API tokens start with this, so they are told apart from management tokens.
pub const TOKEN_PREFIX: &str = "crl_";

/// Resolves credentials to callers (the accounts wing implements it).
#[async_trait::async_trait]
pub trait Authenticator: Send + Sync + 'static {
    /// The account of a session secret (from the cookie), if it is live.
    async fn session(&self, secret: &Secret) -> Result<Option<Caller>, HttpError>;
    /// The account of an API token (without its prefix), if it is live.
    async fn token(&self, secret: &Secret) -> Result<Option<Caller>, HttpError>;
}

/// The authenticator, as a request extension.
#[derive(Clone)]
pub struct Auth(pub Arc<dyn Authenticator>);

/// The CSRF token of a session: a digest of its secret, so it needs no
/// storage and cannot be made without the cookie.
pub fn csrf_token(session: &Secret) -> String {
    let d = sha2::Sha256::new()
        .chain_update(b"carrel csrf v1\0")
        .chain_update(session.expose().as_bytes())
        .finalize();
    URL_SAFE_NO_PAD.encode(&d[..24])
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| cookie::Cookie::split_parse(v.to_owned()))
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

fn equal(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Whether `token` is the CSRF token for this request's pre-login forms
/// (the [`FORM_COOKIE`] set when the form was shown).
pub fn form_token_matches(headers: &HeaderMap, token: &str) -> bool {
    cookie(headers, FORM_COOKIE).is_some_and(|c| !c.is_empty() && equal(&c, token))
}

/// Who made a request. Its caller comes out only through [`Who::caller`]
/// (for requests that change nothing or carry `X-CSRF-Token`) or
/// [`Who::caller_with_form`] (for HTML forms), which check CSRF.
#[derive(Clone, Debug)]
pub struct Who {
    caller: Caller,
    /// The session's CSRF token when the credential is a session.
    csrf: Option<String>,
    /// A safe method, a token, or a matching `X-CSRF-Token` header.
    checked: bool,
}

impl Who {
    pub fn anonymous() -> Self {
        Self {
            caller: Caller::Anonymous,
            csrf: None,
            checked: true,
        }
    }

    fn csrf_failed() -> HttpError {
        HttpError::new(
            StatusCode::FORBIDDEN,
            "csrf_failed",
            "this request did not come from carrel's own page (missing or wrong CSRF token); \
             reload the page and try again",
        )
    }

    /// The caller, if this request needs no CSRF proof or carried it in a header.
    pub fn caller(&self) -> Result<&Caller, HttpError> {
        if self.checked {
            Ok(&self.caller)
        } else {
            Err(Self::csrf_failed())
        }
    }

    /// The caller of a form post: the form's `csrf` field must be the session's token.
    pub fn caller_with_form(&self, token: &str) -> Result<&Caller, HttpError> {
        match &self.csrf {
            _ if self.checked => Ok(&self.caller),
            Some(c) if equal(c, token) => Ok(&self.caller),
            _ => Err(Self::csrf_failed()),
        }
    }

    /// The CSRF token to put into this page's forms and scripts (sessions only).
    pub fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }

    /// Who it is, for display only (never for a decision that changes state).
    pub fn peek(&self) -> &Caller {
        &self.caller
    }
}

fn unauthorized(msg: &str) -> HttpError {
    HttpError::new(StatusCode::UNAUTHORIZED, "unauthorized", msg).with_header(
        header::WWW_AUTHENTICATE,
        axum::http::HeaderValue::from_static("Bearer realm=\"carrel\""),
    )
}

impl<S: Send + Sync> FromRequestParts<S> for Who {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, HttpError> {
        let Some(Auth(auth)) = parts.extensions.get::<Auth>().cloned() else {
            return Ok(Who::anonymous());
        };
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if let Some(t) = crate::headers::bearer(&parts.headers)
            && let Some(secret) = t.expose().strip_prefix(TOKEN_PREFIX)
        {
            // A token that is wrong is an error, not anonymity: the script should know.
            return match auth.token(&Secret::from_client(secret)).await? {
                Some(caller) => Ok(Who {
                    caller,
                    csrf: None,
                    checked: true,
                }),
                None => Err(unauthorized(
                    "this API token is unknown or revoked; make a new one on your account page",
                )),
            };
        }
        let Some(cookie) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Ok(Who::anonymous());
        };
        let secret = Secret::from_client(&cookie);
        // An unknown or expired session cookie is no one (the login page replaces it).
        let Some(caller) = auth.session(&secret).await? else {
            return Ok(Who::anonymous());
        };
        debug_assert!(matches!(
            caller,
            Caller::Account {
                credential: Credential::Session,
                ..
            }
        ));
        let csrf = csrf_token(&secret);
        let header_ok = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| equal(v, &csrf));
        Ok(Who {
            caller,
            csrf: Some(csrf),
            checked: safe || header_ok,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_follow_the_session() {
        let a = Secret::generate();
        let b = Secret::generate();
        assert_eq!(csrf_token(&a), csrf_token(&a));
        assert_ne!(csrf_token(&a), csrf_token(&b));
        assert_eq!(csrf_token(&a).len(), 32);
    }

    #[test]
    fn cookies_are_read_from_every_header() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, "a=1; carrel_form=xyz".parse().unwrap());
        h.append(header::COOKIE, "carrel_session=abc".parse().unwrap());
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert!(form_token_matches(&h, "xyz"));
        assert!(!form_token_matches(&h, "xy"));
        assert!(!form_token_matches(&HeaderMap::new(), ""));
    }

    #[test]
    fn a_session_without_proof_gets_no_caller() {
        let who = Who {
            caller: Caller::Anonymous,
            csrf: Some("t".into()),
            checked: false,
        };
        assert_eq!(who.caller().unwrap_err().code, "csrf_failed");
        assert_eq!(who.caller_with_form("x").unwrap_err().code, "csrf_failed");
        assert!(who.caller_with_form("t").is_ok());
    }
}
