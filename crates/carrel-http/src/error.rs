//! The error response. Wings map their own error enums to [`HttpError`] at
//! the edge; the body is JSON (`{"error": {"code", "message"}}`) for API
//! clients and a small page for browsers.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::page;

/// An HTTP error with a stable machine-readable code.
#[derive(Debug, Clone)]
pub struct HttpError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Render as an HTML page (for browser routes).
    pub html: bool,
}

impl HttpError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
            html: false,
        }
    }
    pub fn internal(message: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("internal error: {message}"),
        )
    }
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }
    /// Adds `Retry-After: secs`.
    pub fn with_retry_after(self, secs: u64) -> Self {
        self.with_header(header::RETRY_AFTER, HeaderValue::from(secs))
    }
    /// Show this error as a page (for routes browsers open).
    pub fn as_page(mut self) -> Self {
        self.html = true;
        self
    }
    /// Whether the client prefers HTML (a browser navigating) over JSON.
    pub fn wants_html(headers: &HeaderMap) -> bool {
        headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"))
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for HttpError {}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let mut res = if self.html {
            let title = self.status.canonical_reason().unwrap_or("Error");
            let body = format!(
                "<section class=\"card\"><h1>{}</h1><p>{}</p><p class=\"muted\">Error code: <code>{}</code></p>\
                 <p><a href=\"/\">Upload a file</a></p></section>",
                page::escape(title),
                page::escape(&self.message),
                self.code
            );
            (self.status, page::Html(page::layout(title, "", &body))).into_response()
        } else {
            let body =
                serde_json::json!({ "error": { "code": self.code, "message": self.message } });
            (self.status, axum::Json(body)).into_response()
        };
        for (k, v) in self.headers {
            res.headers_mut().insert(k, v);
        }
        res
    }
}
