//! Media types and how user content may be shown. carrel's rule: user
//! content is never active content on the application's origin. Only types a
//! browser renders passively (raster images, plain text, audio, video) may be
//! shown inline; everything else (HTML, SVG, XML, PDF, scripts, unknown) is
//! sent as an attachment, and every response carries a sandboxing CSP.

use std::fmt;

use crate::CoreError;

/// A validated `type/subtype` media type without parameters, lower-cased.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct MediaType(String);

impl MediaType {
    pub fn new(s: &str) -> Result<Self, CoreError> {
        let s = s
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let token = |t: &str| {
            !t.is_empty()
                && t.len() <= 127
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
        };
        match s.split_once('/') {
            Some((a, b)) if token(a) && token(b) => Ok(Self(s)),
            _ => Err(CoreError::InvalidMediaType),
        }
    }
    pub fn octet_stream() -> Self {
        Self("application/octet-stream".into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn top(&self) -> &str {
        self.0.split('/').next().unwrap_or("")
    }

    /// How the browser may show this type: see the module documentation.
    pub fn presentation(&self) -> Presentation {
        match (self.top(), self.0.as_str()) {
            (_, "image/svg+xml") => Presentation::Attachment,
            (
                "image",
                "image/png" | "image/jpeg" | "image/gif" | "image/webp" | "image/avif"
                | "image/bmp",
            ) => Presentation::Inline(Preview::Image),
            (_, "text/plain") => Presentation::Inline(Preview::Text),
            ("audio", _) => Presentation::Inline(Preview::Audio),
            ("video", _) => Presentation::Inline(Preview::Video),
            _ => Presentation::Attachment,
        }
    }

    /// Whether an attachment of this type may carry its own type instead of
    /// `application/octet-stream`: archives and book containers that no
    /// browser renders as a page (reader apps and download managers use the
    /// type). Markup, XML and everything unknown stay opaque bytes.
    pub fn labelled_attachment(&self) -> bool {
        matches!(
            self.0.as_str(),
            "application/epub+zip"
                | "application/pdf"
                | "application/zip"
                | "application/vnd.comicbook+zip"
                | "application/x-mobipocket-ebook"
                | "application/vnd.amazon.ebook"
        )
    }

    /// The type sent on the wire: text that might be sniffed as markup is
    /// pinned to `text/plain; charset=utf-8`.
    pub fn header_value(&self) -> String {
        if self.0 == "text/plain" {
            "text/plain; charset=utf-8".into()
        } else {
            self.0.clone()
        }
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MediaType({})", self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presentation {
    /// Safe to show in the page with the browser's own element.
    Inline(Preview),
    /// Must be downloaded, never rendered on our origin.
    Attachment,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preview {
    Image,
    Text,
    Audio,
    Video,
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_inert_containers_keep_their_type_as_attachments() {
        let t = |s: &str| super::MediaType::new(s).unwrap().labelled_attachment();
        assert!(t("application/epub+zip") && t("application/pdf"));
        assert!(!t("text/html") && !t("image/svg+xml") && !t("application/x-fictionbook+xml"));
        assert!(!t("application/octet-stream") && !t("application/xhtml+xml"));
    }

    use super::*;

    #[test]
    fn active_types_are_attachments() {
        for t in [
            "text/html",
            "image/svg+xml",
            "application/xhtml+xml",
            "text/xml",
            "application/pdf",
            "application/javascript",
            "text/javascript",
        ] {
            assert_eq!(
                MediaType::new(t).unwrap().presentation(),
                Presentation::Attachment,
                "{t}"
            );
        }
        assert_eq!(
            MediaType::new("IMAGE/PNG").unwrap().presentation(),
            Presentation::Inline(Preview::Image)
        );
        assert_eq!(
            MediaType::new("video/mp4; codecs=x").unwrap().as_str(),
            "video/mp4"
        );
    }

    #[test]
    fn malformed_types_are_refused() {
        for t in ["", "text", "/x", "a/", "te xt/plain", "a/b/c", "<script>/x"] {
            assert!(MediaType::new(t).is_err(), "{t}");
        }
    }
}
