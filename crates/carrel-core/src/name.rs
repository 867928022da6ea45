//! File names as carrel stores them: one path component, valid UTF-8, no
//! control characters, at most 255 bytes. A name that breaks a rule is
//! refused with the rule it broke; carrel never silently rewrites a name.

use std::fmt;

use crate::CoreError;

/// The longest name accepted, in bytes (the common file-system limit).
pub const MAX_NAME_BYTES: usize = 255;

/// A validated file name.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct FileName(String);

impl FileName {
    pub fn new(name: &str) -> Result<Self, CoreError> {
        if name.is_empty() {
            return Err(CoreError::InvalidFileName("the name is empty"));
        }
        if name.len() > MAX_NAME_BYTES {
            return Err(CoreError::InvalidFileName(
                "the name is longer than 255 bytes",
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(CoreError::InvalidFileName(
                "the name contains control characters",
            ));
        }
        if name.contains('/') || name.contains('\\') {
            return Err(CoreError::InvalidFileName(
                "the name contains a path separator; send the file's base name only",
            ));
        }
        if name == "." || name == ".." {
            return Err(CoreError::InvalidFileName("the name is a relative path"));
        }
        if name.trim() != name {
            return Err(CoreError::InvalidFileName(
                "the name starts or ends with white space",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name used when a client sends none.
    pub fn fallback() -> Self {
        Self("file".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The extension after the last dot, lower-cased, if any.
    pub fn extension(&self) -> Option<String> {
        let (stem, ext) = self.0.rsplit_once('.')?;
        (!stem.is_empty() && !ext.is_empty()).then(|| ext.to_ascii_lowercase())
    }
}

impl fmt::Display for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FileName({:?})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_pass() {
        for ok in [
            "a.txt",
            "Übung 1 (final).pdf",
            "日本語.epub",
            ".bashrc",
            "x",
        ] {
            assert_eq!(FileName::new(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn hostile_names_are_refused() {
        let long = "a".repeat(10_000);
        for bad in [
            "",
            "../etc/passwd",
            "/etc/passwd",
            "a/b",
            "C:\\x",
            "..",
            ".",
            "a\0b",
            "a\nb",
            "bell\x07",
            "\u{7f}",
            "\u{85}next",
            " lead",
            "trail ",
            &long,
        ] {
            assert!(FileName::new(bad).is_err(), "{bad:?} accepted");
        }
        assert!(FileName::new(&"é".repeat(128)).is_err(), "256 bytes");
        assert!(FileName::new(&"é".repeat(127)).is_ok(), "254 bytes");
    }

    #[test]
    fn extensions() {
        assert_eq!(
            FileName::new("A.TXT").unwrap().extension().as_deref(),
            Some("txt")
        );
        assert_eq!(FileName::new(".bashrc").unwrap().extension(), None);
        assert_eq!(FileName::new("noext").unwrap().extension(), None);
    }
}
