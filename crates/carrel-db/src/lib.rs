//! carrel's metadata store. The rest of carrel talks to the database only
//! through the repository traits here ([`UploadRepo`], [`FileRepo`],
//! [`ShareRepo`], [`JobRepo`], [`CatalogRepo`], [`AccountRepo`], [`UsageRepo`],
//! [`MediaRepo`], together [`Database`]), so the SQL lives in one crate.
//!
//! Two implementations, each with its own migration history under
//! `migrations/<backend>/`: [`sqlite::SqliteDatabase`] (the embedded default,
//! WAL) and [`postgres::PgDatabase`] (`postgres://…`, for many nodes). Both
//! run the same test suite. [`connect`] picks one from a URL.
//!
//! This crate does database IO only; it knows nothing of HTTP or blob bytes.

pub mod accounts;
mod backend;
pub mod catalog;
pub mod media;
pub mod model;
pub mod postgres;
pub mod sqlite;
pub mod usage;

use std::sync::Arc;

use carrel_core::ids::{BlobHash, FileId, FolderId, ShareId, UploadId};
use carrel_core::share::ShareRules;
use carrel_core::time::Timestamp;

pub use accounts::AccountRepo;
pub use catalog::CatalogRepo;
pub use media::{
    JOB_MEDIA_IMAGES, JOB_MEDIA_PROBE, JOB_MEDIA_REMUX, JOB_MEDIA_SUBTITLES, JOB_MEDIA_TRANSCODE,
    MediaProbe, MediaRendition, MediaRepo, ProbeOutcome, RenditionFile, RenditionOutcome,
};
pub use model::*;
pub use usage::UsageRepo;

/// Errors of the metadata store.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("the stored row is corrupt: {0}")]
    Corrupt(String),
    #[error("a record with this id already exists")]
    Conflict,
    #[error("no such record")]
    NotFound,
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl DbError {
    pub fn code(&self) -> &'static str {
        match self {
            DbError::UnsupportedUrl(_) => "unsupported_database_url",
            DbError::Corrupt(_) => "database_corrupt",
            DbError::Conflict => "conflict",
            DbError::NotFound => "not_found",
            DbError::Sqlx(_) | DbError::Migrate(_) => "database_error",
        }
    }
}

pub type Result<T, E = DbError> = std::result::Result<T, E>;

/// Resumable uploads (tus).
#[async_trait::async_trait]
pub trait UploadRepo {
    async fn create_upload(&self, u: &NewUpload) -> Result<()>;
    /// Creates an owned upload only if its owner's storage (files and
    /// unfinished uploads, this one's declared length included) stays
    /// within `quota` at `now`; false, with nothing created, if not. The
    /// check and the insert are one transaction, serialized per owner, so
    /// uploads created at once cannot together pass the quota. The upload
    /// row is the reservation: it ends when the upload becomes a file, is
    /// deleted, or expires.
    async fn create_upload_within(&self, u: &NewUpload, quota: i64, now: Timestamp)
    -> Result<bool>;
    async fn upload(&self, id: &UploadId) -> Result<Option<Upload>>;
    /// Moves the offset from `from` to `to` and pushes the expiry to
    /// `expires_at` (uploads expire after inactivity); false if the offset
    /// was not at `from`.
    async fn advance_upload(
        &self,
        id: &UploadId,
        from: i64,
        to: i64,
        expires_at: Timestamp,
    ) -> Result<bool>;
    /// Sets a deferred length; false if the length was already set.
    async fn set_upload_length(&self, id: &UploadId, length: i64) -> Result<bool>;
    /// Sets a deferred length of `owner`'s upload only if the owner's
    /// storage, this length included, stays within `quota` at `now`: the
    /// check and the change are one transaction serialized per owner (as in
    /// [`UploadRepo::create_upload_within`]). `None` when the quota refuses
    /// (nothing changed), `Some(false)` when the length was already set.
    async fn set_upload_length_within(
        &self,
        id: &UploadId,
        owner: &carrel_core::ids::AccountId,
        length: i64,
        quota: i64,
        now: Timestamp,
    ) -> Result<Option<bool>>;
    /// Forgets an upload; false if there was none.
    async fn delete_upload(&self, id: &UploadId) -> Result<bool>;
    /// Uploads whose expiry has passed (complete or not), oldest first.
    async fn expired_uploads(&self, now: Timestamp, limit: i64) -> Result<Vec<UploadId>>;
    /// Unfinished uploads from one client address (for the per-IP limit).
    async fn active_uploads_from(&self, client_ip: &str, now: Timestamp) -> Result<i64>;
    /// In one transaction: references the blob (creating it or counting one
    /// more reference), creates the file and, if planned, its share link, and
    /// marks the upload complete (forgetting its client address, which only
    /// the per-address limit of unfinished uploads needs), and queues the
    /// completion's follow-up jobs.
    async fn complete_upload(&self, c: &Completion) -> Result<()>;
    /// An account's uploads, finished or not (to delete them with the account).
    async fn owned_uploads(&self, owner: &carrel_core::ids::AccountId) -> Result<Vec<UploadId>>;
    /// Forgets the client address of every upload created before `before`
    /// (address retention); how many were forgotten.
    async fn erase_addresses(&self, before: Timestamp) -> Result<u64>;
}

/// Stored files, folders and blob references.
#[async_trait::async_trait]
pub trait FileRepo {
    async fn file(&self, id: &FileId) -> Result<Option<File>>;
    /// Deletes a file and its links. When this was the blob's last
    /// reference, a `blob.delete` job is queued in the same transaction and
    /// returned: the caller deletes the bytes and finishes the job, or the
    /// job queue does it later.
    async fn delete_file(&self, id: &FileId) -> Result<Option<BlobRelease>>;
    /// Whether any file, or any media rendition, references the blob
    /// (checked before its bytes go).
    async fn blob_referenced(&self, hash: &BlobHash) -> Result<bool>;
    async fn create_folder(&self, f: &NewFolder, files: &[FileId]) -> Result<()>;
    async fn folder(&self, id: &FolderId) -> Result<Option<Folder>>;
    async fn folder_files(&self, id: &FolderId) -> Result<Vec<File>>;
    /// An account's files, newest first, and how many it has in all.
    async fn owned_files(
        &self,
        owner: &carrel_core::ids::AccountId,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<File>, i64)>;
    /// Bytes an account uses: its files, plus its unfinished uploads at
    /// their declared length (or what has arrived, while it is deferred).
    async fn storage_used(
        &self,
        owner: &carrel_core::ids::AccountId,
        now: Timestamp,
    ) -> Result<i64>;
    /// Records that these files were downloaded at `at` (retention).
    async fn touch_files(&self, ids: &[FileId], at: Timestamp) -> Result<()>;
    /// Files not downloaded (nor uploaded) since `before`, of accounts on
    /// `plan`, or anonymous files when `plan` is `None`; at most `limit`.
    async fn inactive_files(
        &self,
        plan: Option<&str>,
        before: Timestamp,
        limit: i64,
    ) -> Result<Vec<FileId>>;
    /// An account's files not downloaded since `before`, with the time of
    /// their last activity, least recent first (the retention notice).
    async fn owner_inactive_files(
        &self,
        owner: &carrel_core::ids::AccountId,
        before: Timestamp,
        limit: i64,
    ) -> Result<Vec<(File, Timestamp)>>;
    /// One page of an owner's files (search, folder, order) and how many match in all.
    async fn list_files(&self, q: &FileQuery) -> Result<(Vec<File>, i64)>;
    /// An account's folders by name, each with its number of files and bytes.
    async fn owned_folders(
        &self,
        owner: &carrel_core::ids::AccountId,
    ) -> Result<Vec<FolderSummary>>;
    /// Renames a file; false if there is none.
    async fn rename_file(&self, id: &FileId, name: &carrel_core::name::FileName) -> Result<bool>;
    /// Renames a folder; false if there is none.
    async fn rename_folder(
        &self,
        id: &FolderId,
        name: &carrel_core::name::FileName,
    ) -> Result<bool>;
    /// Puts files into a folder (or into none), in one transaction; how many moved.
    async fn move_files(&self, ids: &[FileId], folder: Option<&FolderId>) -> Result<u64>;
    /// Deletes a folder and its links; its files stay, in no folder. False if there was none.
    async fn delete_folder(&self, id: &FolderId) -> Result<bool>;
    /// Deletes files and their links in one transaction (all or none), with
    /// the blobs whose last reference went (see [`FileRepo::delete_file`]).
    async fn delete_files(&self, ids: &[FileId]) -> Result<Vec<BlobRelease>>;
    /// The files whose management token has this digest.
    async fn files_with_token(&self, token: &carrel_core::ids::SecretHash) -> Result<Vec<File>>;
    /// Gives an anonymous file to an account; false if it has an owner already (or is gone).
    async fn claim_file(&self, id: &FileId, owner: &carrel_core::ids::AccountId) -> Result<bool>;
    /// Gives every file, folder and upload of `from` to `to`, in one
    /// transaction; how many files moved.
    async fn transfer_holdings(
        &self,
        from: &carrel_core::ids::AccountId,
        to: &carrel_core::ids::AccountId,
    ) -> Result<u64>;
}

/// Share links.
#[async_trait::async_trait]
pub trait ShareRepo {
    async fn create_share(&self, s: &NewShare) -> Result<()>;
    async fn share(&self, id: &ShareId) -> Result<Option<Share>>;
    async fn shares_of_file(&self, id: &FileId) -> Result<Vec<Share>>;
    /// The links of many files at once, oldest first.
    async fn shares_of_files(&self, ids: &[FileId]) -> Result<Vec<Share>>;
    async fn shares_of_folder(&self, id: &FolderId) -> Result<Vec<Share>>;
    /// Deletes a link; false if there was none.
    async fn delete_share(&self, id: &ShareId) -> Result<bool>;
    /// Replaces a link's rules; `password_hash` of `Some(None)` removes the password.
    async fn update_share(
        &self,
        id: &ShareId,
        rules: &ShareRules,
        password_hash: Option<Option<String>>,
    ) -> Result<bool>;
    /// Counts one new download if the limit allows; false if it does not.
    async fn count_download(&self, id: &ShareId) -> Result<bool>;
    /// Adds downloads counted in memory (links without a limit).
    async fn add_downloads(&self, id: &ShareId, n: i64) -> Result<()>;
}

/// The durable job queue: jobs are rows, claimed with a lease, so a job
/// whose worker died is claimed again once its lease runs out, and
/// several carrel processes on one PostgreSQL database share the queue.
#[async_trait::async_trait]
pub trait JobRepo {
    /// Queues a job that may run at or after `run_after`.
    async fn enqueue_job(&self, kind: &str, payload: &str, run_after: Timestamp) -> Result<JobId>;
    /// Claims the job due longest whose kind starts with `kind_prefix` (a
    /// wing's namespace, such as `"blob."`; `""` for any), counting one
    /// attempt, and leases it until `lease_until`; `None` when nothing is due.
    async fn claim_job(
        &self,
        kind_prefix: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<Job>>;
    /// Extends the lease of a job its worker is still running, to
    /// `lease_until`: false when the worker no longer holds it (its lease
    /// ran out and another worker claimed it, or the job is gone). The
    /// claim's attempt count tells the holder from a later claimant.
    async fn renew_job(&self, job: &Job, lease_until: Timestamp) -> Result<bool>;
    /// Removes a job that is done.
    async fn finish_job(&self, id: JobId) -> Result<()>;
    /// Frees a job to run again at `run_after`, recording why it failed.
    async fn retry_job(&self, id: JobId, run_after: Timestamp, error: &str) -> Result<()>;
    /// Moves the not yet attempted, unclaimed jobs of this kind and
    /// payload forward to `run_after` (a job someone is waiting for goes
    /// first: the queue takes the job due longest); how many moved.
    async fn hasten_job(&self, kind: &str, payload: &str, run_after: Timestamp) -> Result<u64>;
    /// Whether a job of this kind and payload is queued or running.
    async fn job_queued(&self, kind: &str, payload: &str) -> Result<bool>;
    /// Jobs not yet done, due or not.
    async fn pending_jobs(&self) -> Result<i64>;
}

/// What [`run_next_job`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobRun {
    /// No job of the kind was due.
    NoneDue,
    Finished,
    /// The job failed; it runs again later.
    Failed,
    /// The job's lease could not be renewed (another worker holds it now):
    /// its run was dropped, and the job is left to that worker.
    Lost,
}

/// A wing's worker step: claims the next due job whose kind starts with
/// `kind_prefix` (leased for `lease`), runs it, and finishes it, or, when it
/// fails, frees it to run again after `retry_delay(attempts)` with the error
/// recorded (and logged). While it runs, its lease is renewed every third
/// of `lease` (a heartbeat), so a lease can be short (a crashed worker's
/// job is taken again soon) however long the job runs; a job whose lease
/// was lost meanwhile is dropped (its future with it) and left to the worker
/// that claimed it since.
pub async fn run_next_job<D, E, Fut>(
    db: &D,
    kind_prefix: &str,
    now: Timestamp,
    lease: std::time::Duration,
    retry_delay: fn(i64) -> std::time::Duration,
    run: impl FnOnce(Job) -> Fut,
) -> Result<JobRun>
where
    D: JobRepo + ?Sized,
    E: std::fmt::Display,
    Fut: std::future::Future<Output = std::result::Result<(), E>>,
{
    let Some(job) = db.claim_job(kind_prefix, now, now.plus(lease)).await? else {
        return Ok(JobRun::NoneDue);
    };
    let (id, attempts, kind) = (job.id, job.attempts, job.kind.clone());
    let held = job.clone();
    let heartbeat = async {
        let every = (lease / 3).max(std::time::Duration::from_millis(100));
        loop {
            tokio::time::sleep(every).await;
            match db.renew_job(&held, Timestamp::now().plus(lease)).await {
                Ok(true) => {}
                Ok(false) => return,
                // The database may be back before the lease runs out.
                Err(e) => tracing::warn!(job = id.0, %kind, error = %e, "lease not renewed"),
            }
        }
    };
    let ran = tokio::select! {
        r = run(job) => r,
        () = heartbeat => {
            tracing::warn!(job = id.0, %kind, attempts, "lease lost to another worker; run dropped");
            return Ok(JobRun::Lost);
        }
    };
    match ran {
        Ok(()) => {
            db.finish_job(id).await?;
            Ok(JobRun::Finished)
        }
        Err(e) => {
            let error = e.to_string();
            tracing::warn!(job = id.0, %kind, attempts, %error, "job failed; retried later");
            db.retry_job(id, now.plus(retry_delay(attempts)), &error)
                .await?;
            Ok(JobRun::Failed)
        }
    }
}

/// The whole metadata store.
pub trait Database:
    UploadRepo
    + FileRepo
    + ShareRepo
    + JobRepo
    + CatalogRepo
    + AccountRepo
    + UsageRepo
    + MediaRepo
    + Send
    + Sync
    + 'static
{
    fn backend(&self) -> Backend;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Opens the database a URL names and applies its migrations.
pub async fn connect(url: &str) -> Result<Arc<dyn Database>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteDatabase::connect(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgDatabase::connect(url).await?))
    } else {
        Err(DbError::UnsupportedUrl(url.chars().take(200).collect()))
    }
}
