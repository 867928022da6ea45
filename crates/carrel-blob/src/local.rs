//! Blobs on a local file system: `ROOT/blobs/ab/cd/abcd…` (the hex hash),
//! staged uploads under `ROOT/staging/`; the blobs read lately kept open.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use carrel_core::ids::BlobHash;

use crate::{BlobError, BlobSource, BlobStore, Ingested, Result, hash_file};

pub struct LocalBlobStore {
    blobs: PathBuf,
    staging: PathBuf,
    open_files: OpenFiles,
}

/// How long a blob stays open in the cache after it was opened; then it is
/// opened again. Every delete and ingest through this store drops its entry
/// at once; this bounds how long a blob deleted by another process (its
/// bytes unlinked) keeps its disk space held by this one.
const OPEN_FILE_VALID: Duration = Duration::from_secs(30);

/// The blobs read lately, kept open (nginx's `open_file_cache`): a request
/// for a hot blob (a segment of a rendition many viewers watch) costs no
/// `openat2` and no `close`. Bounded in entries (quick_cache's CLOCK-Pro,
/// so a sweep over many blobs does not flush the hot ones); an evicted
/// file is closed when the last response reading it is done. A blob is
/// never served from a descriptor opened before its delete (or its
/// ingest, which could replace the file): see [`OpenFiles::forget`].
struct OpenFiles {
    files: Option<quick_cache::sync::Cache<BlobHash, (Instant, Arc<std::fs::File>)>>,
    /// Moved by every [`OpenFiles::forget`], so an open that raced with one
    /// is not kept.
    forgets: AtomicU64,
}

impl OpenFiles {
    /// At most `capacity` files kept open; zero keeps none.
    fn new(capacity: usize) -> Self {
        Self {
            files: (capacity > 0).then(|| quick_cache::sync::Cache::new(capacity)),
            forgets: AtomicU64::new(0),
        }
    }

    /// A quarter of the process's file descriptors at most, and 1,024.
    fn default_capacity() -> usize {
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .current
            .unwrap_or(u64::MAX);
        (limit / 4).min(1024) as usize
    }

    fn get(&self, hash: &BlobHash) -> Option<Arc<std::fs::File>> {
        let (at, f) = self.files.as_ref()?.get(hash)?;
        (at.elapsed() < OPEN_FILE_VALID).then_some(f)
    }

    /// The value of the forget counter before an open whose file may be kept.
    fn before_open(&self) -> u64 {
        self.forgets.load(Ordering::SeqCst)
    }

    /// Keeps a file opened after [`OpenFiles::before_open`] returned
    /// `before`, unless a forget came in between (then this open may have
    /// found the file a delete was removing).
    fn keep(&self, hash: &BlobHash, before: u64, f: &Arc<std::fs::File>) {
        let Some(files) = &self.files else { return };
        if self.forgets.load(Ordering::SeqCst) != before {
            return;
        }
        files.insert(*hash, (Instant::now(), f.clone()));
        // A forget between the check and the insert did not see the entry:
        // drop it here (a forget after the insert removed it itself).
        if self.forgets.load(Ordering::SeqCst) != before {
            files.remove(hash);
        }
    }

    /// Drops a blob's file; called after its file was unlinked or replaced.
    fn forget(&self, hash: &BlobHash) {
        self.forgets.fetch_add(1, Ordering::SeqCst);
        if let Some(files) = &self.files {
            files.remove(hash);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.files.as_ref().map_or(0, |f| f.len())
    }
}

impl LocalBlobStore {
    /// Opens (creating if needed) a store under `root`.
    pub fn open(root: &Path) -> Result<Self> {
        Self::with_open_files(root, OpenFiles::default_capacity())
    }

    /// A store keeping at most `open_files` blobs open between reads.
    pub fn with_open_files(root: &Path, open_files: usize) -> Result<Self> {
        let blobs = root.join("blobs");
        let staging = root.join("staging");
        std::fs::create_dir_all(&blobs)?;
        std::fs::create_dir_all(&staging)?;
        Ok(Self {
            blobs,
            staging,
            open_files: OpenFiles::new(open_files),
        })
    }

    /// The path a blob lives at.
    pub fn path_of(&self, hash: &BlobHash) -> PathBuf {
        let hex = hash.to_hex();
        self.blobs.join(&hex[0..2]).join(&hex[2..4]).join(hex)
    }
}

/// Opens `path` for reading on the calling thread if the kernel can resolve
/// it from its caches alone (`openat2` with `RESOLVE_CACHED`, which fails
/// with `EAGAIN` rather than wait for the disk); `None` otherwise, or on any
/// error, and the caller opens it on the blocking pool, which also gives
/// the error that counts. A cached open takes microseconds on a runtime
/// thread; a trip to the blocking pool costs two thread switches, a large
/// share of a segment request's time.
fn open_cached(path: &Path) -> Option<std::fs::File> {
    use rustix::fs::{CWD, Mode, OFlags, ResolveFlags, openat2};
    openat2(
        CWD,
        path,
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::CACHED,
    )
    .ok()
    .map(std::fs::File::from)
}

fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[async_trait::async_trait]
impl BlobStore for LocalBlobStore {
    fn staging_dir(&self) -> &Path {
        &self.staging
    }

    async fn ingest(&self, staged: &Path, known: Option<BlobHash>) -> Result<Ingested> {
        let (hash, size) = match known {
            Some(h) => (h, tokio::fs::metadata(staged).await?.len()),
            None => hash_file(staged).await?,
        };
        let dest = self.path_of(&hash);
        if tokio::fs::try_exists(&dest).await? {
            tokio::fs::remove_file(staged).await?;
            return Ok(Ingested {
                hash,
                size,
                new: false,
            });
        }
        let staged = staged.to_owned();
        let renamed = tokio::task::spawn_blocking(move || -> Result<()> {
            std::fs::OpenOptions::new()
                .write(true)
                .open(&staged)?
                .sync_all()?;
            let dir = dest.parent().expect("blob paths have a parent");
            std::fs::create_dir_all(dir)?;
            std::fs::rename(&staged, &dest)?;
            fsync_dir(dir)?;
            Ok(())
        })
        .await
        .map_err(|e| BlobError::Io(std::io::Error::other(e)));
        // The rename may have replaced a file another ingest of the same
        // bytes put there meanwhile: nothing keeps the old one open.
        self.open_files.forget(&hash);
        renamed??;
        tracing::debug!(%hash, size, "blob stored");
        Ok(Ingested {
            hash,
            size,
            new: true,
        })
    }

    async fn open(&self, hash: &BlobHash, _range: Range<u64>) -> Result<BlobSource> {
        if let Some(f) = self.open_files.get(hash) {
            return Ok(BlobSource::LocalFile(f));
        }
        let before = self.open_files.before_open();
        let path = self.path_of(hash);
        let opened = match open_cached(&path) {
            Some(f) => Ok(f),
            None => tokio::task::spawn_blocking(move || std::fs::File::open(path))
                .await
                .map_err(std::io::Error::other)?,
        };
        match opened {
            Ok(f) => {
                let f = Arc::new(f);
                self.open_files.keep(hash, before, &f);
                Ok(BlobSource::LocalFile(f))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(BlobError::NotFound(*hash)),
            Err(e) => Err(e.into()),
        }
    }

    async fn exists(&self, hash: &BlobHash) -> Result<bool> {
        Ok(tokio::fs::try_exists(self.path_of(hash)).await?)
    }

    fn local_path(&self, hash: &BlobHash) -> Option<PathBuf> {
        Some(self.path_of(hash))
    }

    async fn delete(&self, hash: &BlobHash) -> Result<()> {
        let removed = tokio::fs::remove_file(self.path_of(hash)).await;
        // After the unlink: an open that found the file before it was
        // unlinked is not kept (see OpenFiles::keep), and one after finds
        // nothing.
        self.open_files.forget(hash);
        match removed {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn stage(store: &LocalBlobStore, name: &str, data: &[u8]) -> PathBuf {
        let p = store.staging_dir().join(name);
        tokio::fs::write(&p, data).await.unwrap();
        p
    }

    /// Stages `data` as `name` and ingests it.
    async fn put(store: &LocalBlobStore, name: &str, data: &[u8]) -> BlobHash {
        let staged = stage(store, name, data).await;
        store.ingest(&staged, None).await.unwrap().hash
    }

    #[tokio::test]
    async fn identical_content_is_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(dir.path()).unwrap();
        let a = store
            .ingest(&stage(&store, "a", b"hello").await, None)
            .await
            .unwrap();
        let b = store
            .ingest(&stage(&store, "b", b"hello").await, None)
            .await
            .unwrap();
        assert!(a.new && !b.new);
        assert_eq!(a.hash, b.hash);
        assert_eq!(a.hash.to_hex(), blake3::hash(b"hello").to_hex().as_str());
        assert_eq!(std::fs::read(store.path_of(&a.hash)).unwrap(), b"hello");
        assert_eq!(
            std::fs::read_dir(store.staging_dir()).unwrap().count(),
            0,
            "staging is emptied"
        );
        store.delete(&a.hash).await.unwrap();
        assert!(!store.exists(&a.hash).await.unwrap());
        store.delete(&a.hash).await.unwrap();
        assert!(matches!(
            store.open(&a.hash, 0..5).await,
            Err(BlobError::NotFound(_))
        ));
    }

    fn file_of(source: BlobSource) -> Arc<std::fs::File> {
        match source {
            BlobSource::LocalFile(f) => f,
            _ => unreachable!("a local store opens files"),
        }
    }

    /// Whether `f` is the file now at the blob's path.
    fn is_current(store: &LocalBlobStore, h: &BlobHash, f: &std::fs::File) -> bool {
        use std::os::unix::fs::MetadataExt;
        let now = std::fs::metadata(store.path_of(h)).unwrap();
        f.metadata().unwrap().ino() == now.ino()
    }

    #[tokio::test]
    async fn open_files_are_kept_and_dropped_with_their_blob() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::with_open_files(dir.path(), 4).unwrap();
        let h = put(&store, "a", b"hello").await;
        let a = file_of(store.open(&h, 0..5).await.unwrap());
        let b = file_of(store.open(&h, 0..5).await.unwrap());
        assert!(
            Arc::ptr_eq(&a, &b),
            "the second open reuses the first's file"
        );
        assert_eq!(store.open_files.len(), 1);

        // Deleted: never served again from the kept descriptor.
        store.delete(&h).await.unwrap();
        assert_eq!(store.open_files.len(), 0);
        assert!(matches!(
            store.open(&h, 0..5).await,
            Err(BlobError::NotFound(_))
        ));

        // Stored again (a new file under the same name): the new file is
        // served, not the one opened before the delete.
        put(&store, "b", b"hello").await;
        let c = file_of(store.open(&h, 0..5).await.unwrap());
        assert!(!Arc::ptr_eq(&a, &c));
        assert!(is_current(&store, &h, &c));

        // Replaced under the same name by an ingest: the old file is dropped too.
        std::fs::remove_file(store.path_of(&h)).unwrap();
        put(&store, "c", b"hello").await;
        let d = file_of(store.open(&h, 0..5).await.unwrap());
        assert!(!Arc::ptr_eq(&c, &d));
        assert!(is_current(&store, &h, &d));
    }

    #[tokio::test]
    async fn open_files_are_bounded_and_closed_when_evicted() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::with_open_files(dir.path(), 4).unwrap();
        let mut hashes = Vec::new();
        for i in 0..40u32 {
            hashes.push(put(&store, &format!("s{i}"), &i.to_le_bytes()).await);
        }
        let mut opened = Vec::new();
        for h in &hashes {
            opened.push(Arc::downgrade(&file_of(store.open(h, 0..4).await.unwrap())));
            assert!(store.open_files.len() <= 4, "{}", store.open_files.len());
        }
        let open = opened.iter().filter(|f| f.upgrade().is_some()).count();
        assert!(
            (1..=4).contains(&open),
            "{open} files open: evicted files no one reads are closed"
        );
        // A file held by a reader reads its own bytes, evicted or not.
        let held = file_of(store.open(&hashes[1], 0..4).await.unwrap());
        for h in &hashes[2..] {
            drop(store.open(h, 0..4).await.unwrap());
        }
        let mut b = [0u8; 4];
        std::os::unix::fs::FileExt::read_exact_at(&*held, &mut b, 0).unwrap();
        assert_eq!(u32::from_le_bytes(b), 1);

        // Zero keeps nothing open.
        let none = LocalBlobStore::with_open_files(dir.path(), 0).unwrap();
        let a = file_of(none.open(&hashes[0], 0..4).await.unwrap());
        let b = file_of(none.open(&hashes[0], 0..4).await.unwrap());
        assert!(!Arc::ptr_eq(&a, &b));
        assert_eq!(none.open_files.len(), 0);
    }

    #[tokio::test]
    async fn an_open_racing_with_a_delete_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::with_open_files(dir.path(), 4).unwrap();
        let h = put(&store, "a", b"x").await;
        // An open that found the file, then a delete before it was kept.
        let before = store.open_files.before_open();
        let f = Arc::new(std::fs::File::open(store.path_of(&h)).unwrap());
        store.delete(&h).await.unwrap();
        store.open_files.keep(&h, before, &f);
        assert_eq!(store.open_files.len(), 0);
        assert!(matches!(
            store.open(&h, 0..1).await,
            Err(BlobError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn empty_blobs_are_fine() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(dir.path()).unwrap();
        let e = store
            .ingest(&stage(&store, "e", b"").await, None)
            .await
            .unwrap();
        assert_eq!(e.size, 0);
        assert!(store.exists(&e.hash).await.unwrap());
    }
}
