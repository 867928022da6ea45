//! The file-hosting wing: everything a person or a script does to put a file
//! on carrel and share it.
//!
//! - [`tus`]: resumable uploads, tus 1.0.0 (core, creation,
//!   creation-with-upload, creation-defer-length, expiration, checksum,
//!   termination, concatenation) at `/files`.
//! - [`put`]: `PUT /u/{name}` for scripts (`curl -T file URL/u/`).
//! - [`finish`]: turning a complete staged upload into a blob, a file and a
//!   share link, in one database transaction.
//! - [`download`]: share links at `/s/{id}` (landing page, password) and
//!   `/d/{id}` (direct bytes; folders as a streaming ZIP).
//! - [`manage`]: the JSON API for uploaders holding a management token.
//! - [`mine`]: an account's files, folders and links ("my files", JSON);
//!   [`mine_page`]: the same at `/files` for people.
//! - [`quota`]: plans on these paths (file size and storage at upload,
//!   daily volume, speed and downloads at once as bytes leave, retention).
//! - [`pages`]: the upload page and the link pages.
//! - [`privacy`]: what an account holds, for its export, deletion or
//!   transfer, claims of anonymous files by their tokens (the
//!   [`carrel_http::holdings::Holdings`] the accounts wing asks), and the
//!   retention of client addresses.
//! - media: the streaming wing's [`carrel_http::media::MediaFacts`] (set by
//!   the server with [`Hosting::set_media`]) names the jobs a stored file
//!   needs, queued with it, and what its share page and JSON say of it as
//!   audio or video; [`sidecars`]: the subtitle files beside a video (same
//!   folder, named like it), which the streaming wing serves with it.
//!
//! The wing owns its routes and talks to the database only through
//! carrel-db's repository traits and to bytes only through carrel-blob's
//! [`BlobStore`]. It speaks HTTP; it never imports the server.

pub mod download;
pub mod error;
pub mod finish;
pub mod jobs;
pub mod links;
pub mod manage;
pub mod mine;
pub mod mine_page;
pub mod pages;
pub mod privacy;
pub mod put;
pub mod quota;
pub mod sidecars;
pub mod staging;
pub mod stats;
pub mod tus;
mod zip;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::HeaderMap;
use carrel_blob::BlobStore;
use carrel_core::ids::{ShareId, UploadId};
use carrel_db::Database;

pub use error::HostingError;
pub use stats::Stats;

/// The wing's settings (part of the server's settings file).
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HostingConfig {
    /// The largest file accepted, in bytes.
    pub max_file_size: u64,
    /// Unfinished uploads one client address may have at once.
    pub max_concurrent_uploads_per_ip: i64,
    /// How long an unfinished upload is kept, in seconds.
    pub upload_expiry_secs: u64,
    /// Whether people without an account may upload (they get a management token).
    pub anonymous_uploads: bool,
    /// The address people reach carrel at (for links), e.g. `https://files.example.org`.
    /// When unset, links are built from the request's `Host` header.
    pub public_url: Option<String>,
    /// Wrong passwords allowed per link and client address in ten minutes.
    pub password_attempts: u32,
    /// How long, in milliseconds, a link and its file are remembered in
    /// memory after a database read (0 turns it off). Changes made through
    /// this server apply at once; another server sharing the database sees
    /// them within this time.
    pub link_cache_ms: u64,
    /// Web origins whose pages may upload through tus (`/files`) from the
    /// browser, e.g. `https://app.example.org`; `*` allows any (no cookies
    /// are involved: uploads answer with their own management token).
    /// Empty turns cross-origin uploads off.
    pub tus_cors_origins: Vec<String>,
    /// Days a client address is kept at most. Addresses are stored only
    /// for the limit of unfinished uploads per address, and forgotten when
    /// the upload finishes or, at the latest, after this many days.
    pub ip_retention_days: u64,
}

impl Default for HostingConfig {
    fn default() -> Self {
        Self {
            max_file_size: 1 << 40,
            max_concurrent_uploads_per_ip: 32,
            upload_expiry_secs: 24 * 3600,
            anonymous_uploads: true,
            public_url: None,
            password_attempts: 5,
            link_cache_ms: 1000,
            tus_cors_origins: vec!["*".into()],
            ip_retention_days: 7,
        }
    }
}

/// Who owns an upload, and on which plan.
#[derive(Clone, Debug)]
pub struct Uploader {
    pub account: Option<carrel_core::ids::AccountId>,
    pub plan: Option<String>,
}

/// The wing's shared state.
pub struct Hosting {
    pub db: Arc<dyn Database>,
    pub store: Arc<dyn BlobStore>,
    pub config: HostingConfig,
    pub stats: Stats,
    /// Uploads with a `PATCH` in flight (one writer per upload).
    busy_uploads: Mutex<std::collections::HashSet<UploadId>>,
    /// BLAKE3 state of sequential uploads, so completion needs no re-read.
    hashers: Mutex<HashMap<UploadId, blake3::Hasher>>,
    /// Serializes ingest and delete of the same blob (striped by hash).
    blob_locks: Vec<tokio::sync::Mutex<()>>,
    /// Failed password attempts by (link, client address).
    password_failures: Mutex<HashMap<(ShareId, IpAddr), (Instant, u32)>>,
    /// Downloads of links without a limit, counted in memory and flushed.
    pending_downloads: Mutex<HashMap<ShareId, i64>>,
    /// Links and files read a moment ago.
    links: links::LinkCache,
    /// The plans, as configured.
    pub plans: Arc<carrel_core::plan::Plans>,
    /// Download volume, speed and concurrency per account or address.
    pub meter: Arc<carrel_http::meter::Meter>,
    /// Files downloaded since the last flush (their last access, for retention).
    touched: Mutex<std::collections::HashSet<carrel_core::ids::FileId>>,
    /// What the streaming wing knows of files as media (see [`Hosting::set_media`]).
    media: std::sync::OnceLock<Arc<dyn carrel_http::media::MediaFacts>>,
}

impl Hosting {
    pub fn new(
        db: Arc<dyn Database>,
        store: Arc<dyn BlobStore>,
        config: HostingConfig,
        plans: Arc<carrel_core::plan::Plans>,
        meter: Arc<carrel_http::meter::Meter>,
    ) -> Arc<Self> {
        Arc::new(Self {
            db,
            store,
            stats: Stats::default(),
            busy_uploads: Mutex::default(),
            hashers: Mutex::default(),
            blob_locks: (0..64).map(|_| tokio::sync::Mutex::new(())).collect(),
            password_failures: Mutex::default(),
            pending_downloads: Mutex::default(),
            links: links::LinkCache::new(Duration::from_millis(config.link_cache_ms)),
            config,
            plans,
            meter,
            touched: Mutex::default(),
            media: std::sync::OnceLock::new(),
        })
    }

    /// Hands the wing what the streaming wing knows of media (once; later calls are ignored).
    pub fn set_media(&self, m: Arc<dyn carrel_http::media::MediaFacts>) {
        let _ = self.media.set(m);
    }

    /// The streaming wing's facts, when the server composed one in.
    pub fn media(&self) -> Option<&Arc<dyn carrel_http::media::MediaFacts>> {
        self.media.get()
    }

    /// The wing's routes.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .merge(tus::routes().layer(axum::middleware::from_fn_with_state(
                Arc::new(tus::Cors::new(&self.config.tus_cors_origins)),
                tus::cors,
            )))
            .merge(put::routes())
            .merge(download::routes())
            .merge(manage::routes())
            .merge(mine::routes())
            .merge(mine_page::routes())
            .merge(pages::routes())
            .with_state(self.clone())
    }

    /// The base URL for links in a response to this request.
    pub fn base_url(&self, headers: &HeaderMap) -> String {
        carrel_http::headers::base_url(self.config.public_url.as_deref(), headers)
    }

    pub fn share_url(&self, headers: &HeaderMap, id: &ShareId) -> String {
        format!("{}/s/{id}", self.base_url(headers))
    }

    /// Who owns what this request uploads: the caller's account (a session
    /// that proved itself with `X-CSRF-Token`, or a token with the `upload`
    /// scope), or nobody when anonymous uploads are allowed. A session
    /// without that proof uploads anonymously (a page elsewhere cannot put
    /// files into someone's account).
    pub fn uploader(&self, who: &carrel_http::auth::Who) -> Result<Uploader, HostingError> {
        use carrel_core::account::{Caller, Credential, Scope};
        match who.caller() {
            Ok(
                c @ Caller::Account {
                    id,
                    credential,
                    plan,
                    ..
                },
            ) => {
                if c.can(Scope::Upload) {
                    return Ok(Uploader {
                        account: Some(id.clone()),
                        plan: Some(plan.clone()),
                    });
                }
                if *credential == Credential::Token {
                    return Err(HostingError::MissingScope("upload"));
                }
            }
            Ok(Caller::Anonymous) | Err(_) => {}
        }
        if self.config.anonymous_uploads {
            Ok(Uploader {
                account: None,
                plan: None,
            })
        } else {
            Err(HostingError::AnonymousDisabled)
        }
    }

    /// What an upload by `who` may hold (file size, storage left).
    pub async fn allowance_for(&self, u: &Uploader) -> Result<quota::Allowance, HostingError> {
        self.allowance(u.account.as_ref(), u.plan.as_deref(), 0)
            .await
    }

    fn blob_lock(&self, hash: &carrel_core::ids::BlobHash) -> &tokio::sync::Mutex<()> {
        &self.blob_locks[self.blob_stripe(hash)]
    }

    fn blob_stripe(&self, hash: &carrel_core::ids::BlobHash) -> usize {
        hash.as_bytes()[0] as usize % self.blob_locks.len()
    }

    /// Periodic housekeeping: due jobs (every second), expired uploads and
    /// their staging files, and download counts kept in memory. Runs until `shutdown` resolves, then
    /// flushes once more.
    pub async fn run_housekeeping(
        self: Arc<Self>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut n: u64 = 0;
        // Sweep expired uploads at least as often as they expire (every 30 s at most).
        let sweep_every = self.config.upload_expiry_secs.clamp(1, 30);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => break,
            }
            n += 1;
            if let Err(e) = self.flush_downloads().await {
                tracing::warn!(error = %e, "could not record download counts");
            }
            if let Err(e) = self.flush_touched().await {
                tracing::warn!(error = %e, "could not record when files were downloaded");
            }
            if n.is_multiple_of(5)
                && let Err(e) = self.record_traffic().await
            {
                tracing::warn!(error = %e, "could not record the bytes served");
            }
            match self.run_due_jobs(carrel_core::time::Timestamp::now()).await {
                Ok(0) => {}
                Ok(k) => tracing::debug!(count = k, "jobs done"),
                Err(e) => tracing::warn!(error = %e, "the job queue could not be read"),
            }
            if n % 3600 == 30
                && let Err(e) = self
                    .erase_old_addresses(carrel_core::time::Timestamp::now())
                    .await
            {
                tracing::warn!(error = %e, "forgetting old client addresses failed");
            }
            if n % 3600 == 60 {
                self.meter.forget_old();
                if let Err(e) = self
                    .sweep_retention(carrel_core::time::Timestamp::now())
                    .await
                {
                    tracing::warn!(error = %e, "retention sweep failed");
                }
            }
            if n.is_multiple_of(sweep_every) {
                match tus::expire_uploads(&self).await {
                    Ok(0) => {}
                    Ok(k) => tracing::info!(count = k, "expired unfinished uploads removed"),
                    Err(e) => tracing::warn!(error = %e, "upload expiry failed"),
                }
            }
        }
        if let Err(e) = self.flush_downloads().await {
            tracing::warn!(error = %e, "could not record download counts at shutdown");
        }
        if let Err(e) = self.flush_touched().await {
            tracing::warn!(error = %e, "could not record when files were downloaded at shutdown");
        }
        if let Err(e) = self.record_traffic().await {
            tracing::warn!(error = %e, "could not record the bytes served at shutdown");
        }
    }

    /// Adds the bytes served since last time to today's durable row (the
    /// admin's usage page); kept in memory for the next try if that fails.
    pub async fn record_traffic(&self) -> Result<(), HostingError> {
        let (bytes, downloads) = self.meter.take_served();
        if bytes == 0 && downloads == 0 {
            return Ok(());
        }
        let day = carrel_core::time::Timestamp::now()
            .0
            .div_euclid(carrel_db::usage::DAY_SECS);
        let r = self
            .db
            .add_traffic(day, bytes as i64, downloads as i64)
            .await;
        if r.is_err() {
            self.meter.give_back(bytes, downloads);
        }
        Ok(r?)
    }

    async fn flush_downloads(&self) -> Result<(), HostingError> {
        let pending = std::mem::take(&mut *self.pending_downloads.lock().expect("lock"));
        for (id, n) in pending {
            self.db.add_downloads(&id, n).await?;
        }
        Ok(())
    }
}
