//! carrel's blob store: bytes addressed by the BLAKE3 hash of their content.
//!
//! Every upload is first written to a *staging* file on local disk (the tus
//! upload file, or a `PUT` body). When it is complete, [`BlobStore::ingest`]
//! hashes it (unless the caller hashed it while it streamed), fsyncs it and
//! moves it under its hash with a rename, so a crash never leaves a visible
//! partial blob. Identical content is stored once; reference counts live in
//! the database (carrel-db), which tells the store when to delete.
//!
//! [`BlobStore`] is the seam for other backends (S3 and replication come in
//! later issues); [`LocalBlobStore`] keeps blobs on a local file system and
//! [`MemoryCached`] keeps small ones in memory in front of any store.
//! This crate does file IO; it never speaks HTTP or touches the database.

mod cached;
mod local;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use carrel_core::ids::BlobHash;
use futures::stream::BoxStream;

pub use cached::MemoryCached;
pub use local::LocalBlobStore;

/// Errors of the blob store.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob {0} not found")]
    NotFound(BlobHash),
    #[error("the storage is full")]
    StorageFull,
    #[error("storage I/O error: {0}")]
    Io(std::io::Error),
}

impl BlobError {
    pub fn code(&self) -> &'static str {
        match self {
            BlobError::NotFound(_) => "blob_not_found",
            BlobError::StorageFull => "storage_full",
            BlobError::Io(_) => "storage_error",
        }
    }
}

impl From<std::io::Error> for BlobError {
    fn from(e: std::io::Error) -> Self {
        if is_disk_full(&e) {
            BlobError::StorageFull
        } else {
            BlobError::Io(e)
        }
    }
}

/// Whether an IO error means the disk (or a quota) is full.
pub fn is_disk_full(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

pub type Result<T, E = BlobError> = std::result::Result<T, E>;

/// What [`BlobStore::ingest`] did with a staged file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ingested {
    pub hash: BlobHash,
    pub size: u64,
    /// False when identical content was already stored (the staged copy was dropped).
    pub new: bool,
}

/// Where the bytes of a blob can be read from.
pub enum BlobSource {
    /// A file on local disk, already open: the fastest path (the server
    /// reads it directly, with no second lookup). The descriptor may be
    /// shared with other readers (the local store's open-file cache): read
    /// it only by position (`pread`, `FileExt::read_at`), never through the
    /// file offset, which every holder shares.
    LocalFile(Arc<std::fs::File>),
    /// The requested range, already in memory (small blobs from
    /// [`MemoryCached`]).
    Memory(Bytes),
    /// A stream of the requested range (remote stores).
    Stream(BoxStream<'static, std::io::Result<Bytes>>),
}

/// A store of immutable, content-addressed blobs.
#[async_trait::async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// A directory on local disk where uploads are staged before ingest; on
    /// the same file system as the store when the store is local.
    fn staging_dir(&self) -> &Path;

    /// Moves a complete staged file into the store. `known` is the hash the
    /// caller computed while the bytes streamed in; without it the file is
    /// hashed here. The staged file is gone afterwards, whatever the outcome
    /// short of an error.
    async fn ingest(&self, staged: &Path, known: Option<BlobHash>) -> Result<Ingested>;

    /// Reads `range` of a blob.
    async fn open(&self, hash: &BlobHash, range: Range<u64>) -> Result<BlobSource>;

    /// Whether the blob is stored.
    async fn exists(&self, hash: &BlobHash) -> Result<bool>;

    /// Deletes a blob whose last reference is gone. Deleting a missing blob is not an error.
    async fn delete(&self, hash: &BlobHash) -> Result<()>;

    /// Where the blob's bytes are on local disk, when the store keeps them
    /// there (readers that need a whole file, such as the library's book
    /// parser, use it; other stores return `None` and are read through
    /// [`BlobStore::open`]).
    fn local_path(&self, _hash: &BlobHash) -> Option<PathBuf> {
        None
    }
}

/// Read size when hashing files: large enough for BLAKE3 to use every
/// core on each block, small enough to keep memory flat. Files are read,
/// not memory-mapped, so hashing a 4 GiB file does not map 4 GiB into
/// the server's resident set.
const HASH_BLOCK: usize = 4 << 20;

/// Reads `sources` one after the other in blocks, hashing them as one
/// content with BLAKE3 (every core on each block) and handing each block
/// to `sink` (to copy it, say). Blocking: call it on a blocking thread.
pub fn hash_blocks<R: std::io::Read>(
    sources: impl IntoIterator<Item = R>,
    mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<(BlobHash, u64)> {
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0; HASH_BLOCK];
    for mut r in sources {
        loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update_rayon(&buf[..n]);
            sink(&buf[..n])?;
        }
    }
    Ok((BlobHash::from_bytes(*h.finalize().as_bytes()), h.count()))
}

/// Hashes a file with BLAKE3, using every core for large files.
pub async fn hash_file(path: &Path) -> Result<(BlobHash, u64)> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || Ok(hash_blocks([std::fs::File::open(&path)?], |_| Ok(()))?))
        .await
        .map_err(|e| BlobError::Io(std::io::Error::other(e)))?
}
