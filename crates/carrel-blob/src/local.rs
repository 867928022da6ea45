//! Blobs on a local file system: `ROOT/blobs/ab/cd/abcd…` (the hex hash),
//! staged uploads under `ROOT/staging/`.

use std::ops::Range;
use std::path::{Path, PathBuf};

use carrel_core::ids::BlobHash;

use crate::{BlobError, BlobSource, BlobStore, Ingested, Result, hash_file};

pub struct LocalBlobStore {
    blobs: PathBuf,
    staging: PathBuf,
}

impl LocalBlobStore {
    /// Opens (creating if needed) a store under `root`.
    pub fn open(root: &Path) -> Result<Self> {
        let blobs = root.join("blobs");
        let staging = root.join("staging");
        std::fs::create_dir_all(&blobs)?;
        std::fs::create_dir_all(&staging)?;
        Ok(Self { blobs, staging })
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
        tokio::task::spawn_blocking(move || -> Result<()> {
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
        .map_err(|e| BlobError::Io(std::io::Error::other(e)))??;
        tracing::debug!(%hash, size, "blob stored");
        Ok(Ingested {
            hash,
            size,
            new: true,
        })
    }

    async fn open(&self, hash: &BlobHash, _range: Range<u64>) -> Result<BlobSource> {
        let path = self.path_of(hash);
        let opened = match open_cached(&path) {
            Some(f) => Ok(tokio::fs::File::from_std(f)),
            None => tokio::fs::File::open(&path).await,
        };
        match opened {
            Ok(f) => Ok(BlobSource::LocalFile(f)),
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
        match tokio::fs::remove_file(self.path_of(hash)).await {
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
