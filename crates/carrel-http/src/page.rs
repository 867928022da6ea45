//! The layout every carrel page shares. Wings render their page bodies with
//! their own templates and wrap them with [`layout`].

use askama::Template;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

#[derive(Template)]
#[template(path = "layout.html")]
struct Layout<'a> {
    title: &'a str,
    extra_css: &'a str,
    body: &'a str,
}

/// A whole page around `body` (already-escaped HTML).
pub fn layout(title: &str, extra_css: &str, body: &str) -> String {
    Layout {
        title,
        extra_css,
        body,
    }
    .render()
    .unwrap_or_else(|e| format!("template error: {e}"))
}

/// An HTML response with carrel's page security headers: the page's own
/// scripts only, no framing by other sites.
pub struct Html(pub String);

pub const PAGE_CSP: &str = "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; \
     style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

impl IntoResponse for Html {
    fn into_response(self) -> Response {
        html_response(self.0, PAGE_CSP, "DENY")
    }
}

/// An HTML response with carrel's page headers under another policy: `csp`
/// and `frame_options` (`DENY` for pages, `SAMEORIGIN` for documents carrel
/// frames itself, such as the reader's chapters). Not cached by default.
pub fn html_response(body: String, csp: &'static str, frame_options: &'static str) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static(frame_options),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `1.5 MiB` and the like.
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_sizes() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(1 << 30), "1.0 GiB");
        assert!(layout("<t>", "", "<p>x</p>").contains("&lt;t&gt; · carrel"));
    }
}
