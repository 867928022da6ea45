//! The pure parts of tus 1.0.0 (<https://tus.io/protocols/resumable-upload>):
//! the `Upload-Metadata` and `Upload-Checksum` headers and the
//! `Upload-Concat` header. The server side lives in carrel-hosting.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::collections::BTreeMap;

use crate::CoreError;

pub const VERSION: &str = "1.0.0";
pub const EXTENSIONS: &str = "creation,creation-with-upload,creation-defer-length,expiration,checksum,checksum-trailer-free,termination,concatenation";
/// Algorithms accepted in `Upload-Checksum`, as advertised in `Tus-Checksum-Algorithm`.
pub const CHECKSUM_ALGORITHMS: &str = "sha1,sha256,sha512,md5,blake3";
/// Limits on the metadata header, against hostile clients.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
pub const MAX_METADATA_PAIRS: usize = 64;

/// Parsed `Upload-Metadata`: keys to raw (decoded) values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata(pub BTreeMap<String, Vec<u8>>);

impl Metadata {
    /// Parses `key base64,key2 base64,flag`. Keys are unique, non-empty
    /// ASCII without spaces or commas; values are standard base64.
    pub fn parse(header: &str) -> Result<Self, CoreError> {
        if header.len() > MAX_METADATA_BYTES {
            return Err(CoreError::InvalidMetadata(
                "the header is longer than 16 KiB",
            ));
        }
        let mut map = BTreeMap::new();
        if header.trim().is_empty() {
            return Ok(Self(map));
        }
        for pair in header.split(',') {
            let pair = pair.trim();
            let (key, value) = match pair.split_once(' ') {
                Some((k, v)) => (k, v.trim()),
                None => (pair, ""),
            };
            if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic() && b != b',') {
                return Err(CoreError::InvalidMetadata(
                    "a key is empty or not printable ASCII",
                ));
            }
            let value = STANDARD
                .decode(value)
                .map_err(|_| CoreError::InvalidMetadata("a value is not valid base64"))?;
            if map.insert(key.to_owned(), value).is_some() {
                return Err(CoreError::InvalidMetadata("a key appears twice"));
            }
            if map.len() > MAX_METADATA_PAIRS {
                return Err(CoreError::InvalidMetadata("more than 64 keys"));
            }
        }
        Ok(Self(map))
    }

    /// A value as UTF-8 text.
    pub fn text(&self, key: &str) -> Result<Option<&str>, CoreError> {
        match self.0.get(key) {
            None => Ok(None),
            Some(v) => std::str::from_utf8(v)
                .map(Some)
                .map_err(|_| CoreError::InvalidMetadata("a value is not UTF-8")),
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<Vec<u8>> {
        self.0.remove(key)
    }

    /// Serializes back to the header form (for `HEAD` responses).
    pub fn to_header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| {
                if v.is_empty() {
                    k.clone()
                } else {
                    format!("{k} {}", STANDARD.encode(v))
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A checksum algorithm of the tus checksum extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChecksumAlgorithm {
    Sha1,
    Sha256,
    Sha512,
    Md5,
    Blake3,
}

impl ChecksumAlgorithm {
    pub fn digest_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 | Self::Blake3 => 32,
            Self::Sha512 => 64,
            Self::Md5 => 16,
        }
    }
}

/// A parsed `Upload-Checksum: <algorithm> <base64 digest>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checksum {
    pub algorithm: ChecksumAlgorithm,
    pub digest: Vec<u8>,
}

impl Checksum {
    pub fn parse(header: &str) -> Result<Self, CoreError> {
        let (alg, b64) = header
            .trim()
            .split_once(' ')
            .ok_or(CoreError::InvalidChecksum(
                "expected '<algorithm> <base64 digest>'",
            ))?;
        let algorithm = match alg.to_ascii_lowercase().as_str() {
            "sha1" => ChecksumAlgorithm::Sha1,
            "sha256" => ChecksumAlgorithm::Sha256,
            "sha512" => ChecksumAlgorithm::Sha512,
            "md5" => ChecksumAlgorithm::Md5,
            "blake3" => ChecksumAlgorithm::Blake3,
            other => {
                return Err(CoreError::UnsupportedChecksum(
                    other.chars().take(32).collect(),
                ));
            }
        };
        let digest = STANDARD
            .decode(b64.trim())
            .map_err(|_| CoreError::InvalidChecksum("the digest is not valid base64"))?;
        if digest.len() != algorithm.digest_len() {
            return Err(CoreError::InvalidChecksum(
                "the digest has the wrong length for its algorithm",
            ));
        }
        Ok(Self { algorithm, digest })
    }
}

/// A parsed `Upload-Concat` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Concat {
    /// A part that will be concatenated later.
    Partial,
    /// The final upload: the URLs (or paths) of its parts, in order.
    Final(Vec<String>),
}

/// At most this many parts in one final upload.
pub const MAX_CONCAT_PARTS: usize = 1024;

impl Concat {
    pub fn parse(header: &str) -> Result<Self, CoreError> {
        let h = header.trim();
        if h == "partial" {
            return Ok(Self::Partial);
        }
        let rest = h.strip_prefix("final;").ok_or(CoreError::InvalidMetadata(
            "Upload-Concat must be 'partial' or 'final;<urls>'",
        ))?;
        let parts: Vec<String> = rest.split_whitespace().map(str::to_owned).collect();
        if parts.is_empty() || parts.len() > MAX_CONCAT_PARTS {
            return Err(CoreError::InvalidMetadata(
                "Upload-Concat final needs 1 to 1024 part URLs",
            ));
        }
        Ok(Self::Final(parts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trip() {
        let m = Metadata::parse("filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential")
            .unwrap();
        assert_eq!(
            m.text("filename").unwrap(),
            Some("world_domination_plan.pdf")
        );
        assert_eq!(m.0["is_confidential"], b"");
        assert_eq!(Metadata::parse(&m.to_header()).unwrap(), m);
        assert!(Metadata::parse("").unwrap().0.is_empty());
    }

    #[test]
    fn hostile_metadata_is_refused() {
        for bad in [
            "filename !!!",
            "a YQ==,a YQ==",
            "a\tb YQ==",
            ",",
            "k\x01 YQ==",
            &"a YQ==,".repeat(3000),
        ] {
            assert!(Metadata::parse(bad).is_err(), "{bad:?}");
        }
        let many: Vec<String> = (0..70).map(|i| format!("k{i} YQ==")).collect();
        assert!(Metadata::parse(&many.join(",")).is_err());
        let bad_utf8 = Metadata::parse("filename /w==").unwrap();
        assert!(bad_utf8.text("filename").is_err());
    }

    #[test]
    fn checksums() {
        let c = Checksum::parse("sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=").unwrap();
        assert_eq!(c.algorithm, ChecksumAlgorithm::Sha1);
        assert!(matches!(
            Checksum::parse("crc32 AAAA"),
            Err(CoreError::UnsupportedChecksum(_))
        ));
        assert!(Checksum::parse("sha1 AAAA").is_err(), "wrong length");
        assert!(Checksum::parse("sha1").is_err());
        assert!(Checksum::parse("sha1 ***").is_err());
    }

    #[test]
    fn concat() {
        assert_eq!(Concat::parse("partial").unwrap(), Concat::Partial);
        assert_eq!(
            Concat::parse("final;/files/a http://x/files/b").unwrap(),
            Concat::Final(vec!["/files/a".into(), "http://x/files/b".into()])
        );
        for bad in ["final;", "final", "other", ""] {
            assert!(Concat::parse(bad).is_err(), "{bad}");
        }
    }
}
