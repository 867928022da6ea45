//! HTTP pieces shared by carrel's wings; the wings build their routes from
//! them and the server only composes the wings.
//!
//! - [`auth`]: who is asking ([`auth::Who`]), resolved through the
//!   [`auth::Authenticator`] the accounts wing provides; CSRF checks.
//! - [`error`]: the JSON/HTML error response every wing maps its errors to,
//!   with a stable code.
//! - [`serve`]: serving immutable content with `Range` (single and
//!   multiple), `If-Range`, `If-None-Match`, `If-Modified-Since` and `HEAD`.
//! - [`headers`]: a safe `Content-Disposition` and the headers that keep
//!   user content from ever being active on carrel's origin.
//! - [`holdings`]: what an account holds in the other wings (the hosting
//!   wing implements it), for the accounts wing's export, deletion and claims.
//! - [`media`]: what the streaming wing knows of hosted files as audio and
//!   video (it implements [`media::MediaFacts`]), for the hosting wing's
//!   follow-up jobs, share pages and JSON.
//! - [`meter`]: plan limits on bytes as they leave (daily volume, speed
//!   cap shared per account or address, downloads at once).
//! - [`page`]: the HTML layout of carrel's pages.
//! - [`conn`]: the connection loop: plain `GET`/`HEAD` requests on a small
//!   HTTP/1.1 path of carrel's own (files go out with `sendfile(2)`),
//!   every other connection handed to hyper.
//!
//! This crate speaks HTTP and reads blobs through carrel-blob; it never
//! touches the database.

pub mod auth;
pub mod conn;
pub mod error;
pub mod headers;
pub mod holdings;
pub mod media;
pub mod meter;
pub mod page;
pub mod serve;

pub use error::HttpError;
