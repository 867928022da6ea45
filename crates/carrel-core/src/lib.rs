//! carrel's domain: the types that carry the project's rules, validated on
//! construction so that a value that exists is a valid one.
//!
//! This crate does no IO and knows nothing of async, HTTP or databases. Every
//! other crate may depend on it; it depends on no carrel crate.
//!
//! - [`account`]: e-mail addresses, new passwords, roles, token scopes and
//!   the [`account::Caller`] of a request.
//! - [`ids`]: unguessable random ids (share links, uploads, files, folders) and
//!   secrets (management tokens), the BLAKE3 [`ids::BlobHash`].
//! - [`name`]: file names that are safe to store and to send back.
//! - [`plan`]: plans and their limits (storage, file size, daily download
//!   volume, speed, concurrent downloads, retention) as configured.
//! - [`privacy`]: claims of anonymous uploads by their management tokens,
//!   the tombstone of a deleted account, client addresses as logs show them.
//! - [`share`]: the rules of a share link (expiry, download limit, disabled).
//! - [`sidecar`]: which file names are a video's sidecar subtitles
//!   (`film.mkv` ← `film.en.srt`).
//! - [`tus`]: pure parts of the tus 1.0.0 protocol (metadata, checksums).
//! - [`time`]: unix timestamps and human durations (`7d`, `12h`).
//! - [`ident`]: book and article identifiers (ISBN, DOI, ISSN, arXiv),
//!   normalized so that every spelling of one is one value (for the library).
//! - [`text`]: folding of titles and names (case, accents, punctuation),
//!   sort names and the key that groups editions into works.
//! - [`catalog`]: the library's records (work, edition, identifiers,
//!   language tags, source keys) as they arrive from files and dumps.

pub mod account;
pub mod catalog;
pub mod error;
pub mod ident;
pub mod ids;
pub mod media;
pub mod name;
pub mod plan;
pub mod privacy;
pub mod share;
pub mod sidecar;
pub mod text;
pub mod time;
pub mod tus;

pub use error::CoreError;
