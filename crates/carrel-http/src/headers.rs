//! Headers that make serving user content safe.

use axum::http::{HeaderMap, HeaderValue, header};
use carrel_core::media::{MediaType, Presentation};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// RFC 8187 `attr-char`s are left as they are; everything else is encoded.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `attachment; filename="…"; filename*=UTF-8''…` (RFC 6266): an ASCII
/// fallback without quotes, backslashes or control characters for old
/// clients, and the exact name for everyone else.
pub fn content_disposition(kind: &str, name: &str) -> HeaderValue {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = utf8_percent_encode(name, ATTR_CHAR);
    HeaderValue::from_str(&format!(
        "{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// The CSP of every response that carries user bytes: nothing in it may run,
/// and it may not be framed by other sites.
pub const USER_CONTENT_CSP: &str = "sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'self'";

/// The headers every response carrying user bytes gets: no sniffing, a
/// sandboxing CSP, no use by other origins.
pub fn safety_headers(h: &mut HeaderMap) {
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(USER_CONTENT_CSP),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
}

/// The base URL for links in a response: the configured public address,
/// or else `http://` and the request's `Host` (if it is a plain host name).
pub fn base_url(public_url: Option<&str>, headers: &HeaderMap) -> String {
    if let Some(u) = public_url {
        return u.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// The secret of `Authorization: Bearer …` (management tokens), if any.
pub fn bearer(headers: &HeaderMap) -> Option<carrel_core::ids::Secret> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let t = v
        .strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))?;
    Some(carrel_core::ids::Secret::from_client(t.trim()))
}

/// Adds the content type, disposition and safety headers for user content.
/// `download` forces an attachment even for types that could be shown inline.
pub fn user_content_headers(h: &mut HeaderMap, name: &str, media: &MediaType, download: bool) {
    let inline = !download && matches!(media.presentation(), Presentation::Inline(_));
    let ct = if inline {
        media.header_value()
    } else if media.presentation() == Presentation::Attachment && !media.labelled_attachment() {
        // Active types are labelled as opaque bytes so no browser renders them.
        "application/octet-stream".to_owned()
    } else {
        media.header_value()
    };
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&ct).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        content_disposition(if inline { "inline" } else { "attachment" }, name),
    );
    safety_headers(h);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions_are_safe_and_exact() {
        let v = content_disposition("attachment", "naïve \"résumé\".pdf");
        let s = v.to_str().unwrap();
        assert_eq!(
            s,
            "attachment; filename=\"na_ve _r_sum__.pdf\"; filename*=UTF-8''na%C3%AFve%20%22r%C3%A9sum%C3%A9%22.pdf"
        );
        let v = content_disposition("inline", "a\\b;c.txt");
        assert!(
            v.to_str()
                .unwrap()
                .starts_with("inline; filename=\"a_b;c.txt\"")
        );
    }

    #[test]
    fn active_content_is_never_inline() {
        let mut h = HeaderMap::new();
        user_content_headers(
            &mut h,
            "x.html",
            &MediaType::new("text/html").unwrap(),
            false,
        );
        assert_eq!(h[header::CONTENT_TYPE], "application/octet-stream");
        assert!(
            h[header::CONTENT_DISPOSITION]
                .to_str()
                .unwrap()
                .starts_with("attachment")
        );
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let mut h = HeaderMap::new();
        user_content_headers(
            &mut h,
            "x.png",
            &MediaType::new("image/png").unwrap(),
            false,
        );
        assert!(
            h[header::CONTENT_DISPOSITION]
                .to_str()
                .unwrap()
                .starts_with("inline")
        );
        let mut h = HeaderMap::new();
        user_content_headers(&mut h, "x.png", &MediaType::new("image/png").unwrap(), true);
        assert!(
            h[header::CONTENT_DISPOSITION]
                .to_str()
                .unwrap()
                .starts_with("attachment")
        );
        assert_eq!(h[header::CONTENT_TYPE], "image/png");
    }
}
