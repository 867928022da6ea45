//! Identifiers. Random ids carry 128 bits from the operating system's CSPRNG
//! and are written in URL-safe base64 without padding (22 characters), so a
//! share link cannot be guessed or enumerated. Secrets carry 256 bits and are
//! only ever stored as their SHA-256 digest.
//!
//! No generated id or secret starts with `-`: one that did would read as an
//! option to a command line (`carrel rm -hL8…` showed the help and deleted
//! nothing). The first character is drawn from the other 63 (a loss of 0.02
//! bits); ids made before this rule still parse.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::Digest;
use std::fmt;
use std::str::FromStr;

use crate::CoreError;

const ID_BYTES: usize = 16;
const ID_CHARS: usize = 22;

/// Fills `bytes` from the OS's CSPRNG, drawing the first byte again while its
/// top six bits would encode as `-` (62 in URL-safe base64).
fn fill_no_leading_dash(bytes: &mut [u8]) {
    rand::rngs::OsRng.fill_bytes(bytes);
    while bytes[0] >> 2 == 62 {
        let mut b = [0u8; 1];
        rand::rngs::OsRng.fill_bytes(&mut b);
        bytes[0] = b[0];
    }
}

fn valid_b64url(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && URL_SAFE_NO_PAD.decode(s).is_ok()
}

macro_rules! random_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// A fresh id with 128 random bits.
            pub fn generate() -> Self {
                let mut bytes = [0u8; ID_BYTES];
                fill_no_leading_dash(&mut bytes);
                Self(URL_SAFE_NO_PAD.encode(bytes))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = CoreError;
            fn from_str(s: &str) -> Result<Self, CoreError> {
                if valid_b64url(s, ID_CHARS) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(CoreError::InvalidId(stringify!($name)))
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = CoreError;
            fn try_from(s: String) -> Result<Self, CoreError> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
    };
}

random_id!(
    /// The public id of a share link: `/s/{ShareId}`.
    ShareId
);
random_id!(
    /// The id of a resumable upload: `/files/{UploadId}` (tus).
    UploadId
);
random_id!(
    /// The id of a stored file.
    FileId
);
random_id!(
    /// The id of a folder of files.
    FolderId
);
random_id!(
    /// The id of an account. Anonymous files have no owner.
    AccountId
);
random_id!(
    /// The public id of an API token (shown in lists, used to revoke it).
    TokenId
);

/// A bearer secret (the management token given to anonymous uploaders).
/// 256 random bits; only its [`SecretHash`] is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        fill_no_leading_dash(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }
    /// Accepts any string the client sent; a wrong one simply will not match.
    pub fn from_client(s: &str) -> Self {
        Self(s.to_owned())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn hash(&self) -> SecretHash {
        SecretHash(hex::encode(sha2::Sha256::digest(self.0.as_bytes())))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// SHA-256 of a [`Secret`], hex-encoded, as stored in the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretHash(String);

impl SecretHash {
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Constant-time comparison with the hash of a presented secret.
    pub fn matches(&self, presented: &Secret) -> bool {
        use subtle::ConstantTimeEq;
        let other = presented.hash();
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

/// The BLAKE3 digest of a blob's content: its address in the blob store.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobHash([u8; 32]);

impl BlobHash {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl FromStr for BlobHash {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        if s.len() != 64
            || !s
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(CoreError::InvalidId("BlobHash"));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| CoreError::InvalidId("BlobHash"))?;
        Ok(Self(out))
    }
}

impl fmt::Display for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobHash({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_22_url_safe_chars_and_parse_back() {
        let id = ShareId::generate();
        assert_eq!(id.as_str().len(), 22);
        assert_eq!(id.as_str().parse::<ShareId>().unwrap(), id);
        assert_ne!(ShareId::generate(), ShareId::generate());
    }

    #[test]
    fn no_generated_id_or_secret_starts_with_a_dash() {
        // One in 64 would without the rule: 5,000 draws miss that with
        // probability (63/64)^5000, about 1e-34.
        for _ in 0..5_000 {
            assert!(!FileId::generate().as_str().starts_with('-'));
            assert!(!Secret::generate().expose().starts_with('-'));
        }
        // Old ids that start with one still parse.
        assert!("-hL8eH9AzH0TKitvfFsctA".parse::<FileId>().is_ok());
    }

    #[test]
    fn hostile_ids_are_rejected() {
        for bad in [
            "",
            "short",
            "../../../../etc/passwd",
            "AAAAAAAAAAAAAAAAAAAAA=",
            "AAAAAAAAAAAAAAAAAAAA\0A",
            &"A".repeat(10_000),
        ] {
            assert!(bad.parse::<ShareId>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn secrets_match_only_their_own_hash() {
        let s = Secret::generate();
        let h = s.hash();
        assert!(h.matches(&Secret::from_client(s.expose())));
        assert!(!h.matches(&Secret::from_client("nope")));
        assert!(!format!("{s:?}").contains(s.expose()));
    }

    #[test]
    fn blob_hash_hex_round_trip() {
        let h = BlobHash::from_bytes([0xab; 32]);
        assert_eq!(h.to_hex().parse::<BlobHash>().unwrap(), h);
        assert!(
            "AB".repeat(32).parse::<BlobHash>().is_err(),
            "upper case is not canonical"
        );
        assert!("zz".repeat(32).parse::<BlobHash>().is_err());
    }
}
