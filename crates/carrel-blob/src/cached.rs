//! A memory cache of small blobs in front of any [`BlobStore`].
//!
//! Blobs are immutable and named by their content, so a cached copy can
//! never be stale: there is nothing to invalidate except to free memory when
//! a blob is deleted. Small files are where a file server spends its time on
//! bookkeeping rather than bytes (open, read, close per request); serving
//! them from memory removes two trips to the blocking thread pool per
//! download. The cache is bounded in bytes and evicts by a scan-resistant
//! policy (quick_cache's CLOCK-Pro), so one sweep over many files does not
//! flush the hot ones.

use std::ops::Range;
use std::path::Path;

use bytes::Bytes;
use carrel_core::ids::BlobHash;

use crate::{BlobSource, BlobStore, Ingested, Result};

#[derive(Clone)]
struct ByLength;

impl quick_cache::Weighter<BlobHash, Bytes> for ByLength {
    fn weight(&self, _key: &BlobHash, val: &Bytes) -> u64 {
        // The hash and the cache's own bookkeeping count too, so nothing weighs zero.
        val.len() as u64 + 64
    }
}

/// [`BlobStore`] decorator keeping blobs of at most `max_item` bytes in
/// memory, up to `capacity` bytes in all.
pub struct MemoryCached<S> {
    inner: S,
    cache: quick_cache::sync::Cache<BlobHash, Bytes, ByLength>,
    max_item: u64,
}

impl<S: BlobStore> MemoryCached<S> {
    /// A zero `capacity` turns the cache off.
    pub fn new(inner: S, capacity: u64, max_item: u64) -> Self {
        let items = (capacity / (max_item.max(1) / 4 + 64)).clamp(16, 1 << 20) as usize;
        Self {
            inner,
            cache: quick_cache::sync::Cache::with_weighter(items, capacity.max(1), ByLength),
            max_item: if capacity == 0 { 0 } else { max_item },
        }
    }

    /// Bytes held in memory now.
    pub fn weight(&self) -> u64 {
        self.cache.weight()
    }
}

/// Reads a whole file if it has at most `max` bytes.
fn read_if_small(f: &std::fs::File, max: u64) -> std::io::Result<Option<Bytes>> {
    use std::os::unix::fs::FileExt;
    let len = f.metadata()?.len();
    if len > max {
        return Ok(None);
    }
    let mut buf = vec![0; len as usize];
    f.read_exact_at(&mut buf, 0)?;
    Ok(Some(Bytes::from(buf)))
}

#[async_trait::async_trait]
impl<S: BlobStore> BlobStore for MemoryCached<S> {
    fn staging_dir(&self) -> &Path {
        self.inner.staging_dir()
    }

    async fn ingest(&self, staged: &Path, known: Option<BlobHash>) -> Result<Ingested> {
        self.inner.ingest(staged, known).await
    }

    async fn open(&self, hash: &BlobHash, range: Range<u64>) -> Result<BlobSource> {
        if range.end > self.max_item {
            return self.inner.open(hash, range).await;
        }
        if let Some(b) = self.cache.get(hash) {
            return Ok(BlobSource::Memory(slice(&b, &range)));
        }
        match self.inner.open(hash, range.clone()).await? {
            BlobSource::LocalFile(f) => {
                let max = self.max_item;
                let read = tokio::task::spawn_blocking(move || (read_if_small(&f, max), f))
                    .await
                    .map_err(std::io::Error::other)?;
                match read {
                    (Ok(Some(b)), _) => {
                        self.cache.insert(*hash, b.clone());
                        Ok(BlobSource::Memory(slice(&b, &range)))
                    }
                    (Ok(None), f) => Ok(BlobSource::LocalFile(f)),
                    (Err(e), _) => Err(e.into()),
                }
            }
            other => Ok(other),
        }
    }

    async fn exists(&self, hash: &BlobHash) -> Result<bool> {
        Ok(self.cache.get(hash).is_some() || self.inner.exists(hash).await?)
    }

    fn local_path(&self, hash: &BlobHash) -> Option<std::path::PathBuf> {
        self.inner.local_path(hash)
    }

    async fn delete(&self, hash: &BlobHash) -> Result<()> {
        self.cache.remove(hash);
        self.inner.delete(hash).await
    }
}

fn slice(b: &Bytes, r: &Range<u64>) -> Bytes {
    let end = (r.end as usize).min(b.len());
    let start = (r.start as usize).min(end);
    b.slice(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LocalBlobStore;

    async fn ingest(store: &impl BlobStore, data: &[u8]) -> BlobHash {
        let p = store.staging_dir().join(format!("s{}", data.len()));
        tokio::fs::write(&p, data).await.unwrap();
        store.ingest(&p, None).await.unwrap().hash
    }

    async fn read(store: &impl BlobStore, h: &BlobHash, r: Range<u64>) -> (bool, Vec<u8>) {
        match store.open(h, r.clone()).await.unwrap() {
            BlobSource::Memory(b) => (true, b.to_vec()),
            BlobSource::LocalFile(f) => {
                use std::os::unix::fs::FileExt;
                let mut v = vec![0; (r.end - r.start) as usize];
                f.read_exact_at(&mut v, r.start).unwrap();
                (false, v)
            }
            BlobSource::Stream(_) => unreachable!("local store"),
        }
    }

    #[tokio::test]
    async fn small_blobs_come_from_memory_and_go_with_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = MemoryCached::new(LocalBlobStore::open(dir.path()).unwrap(), 1 << 20, 1000);
        let small = ingest(&store, b"hello, world").await;
        let big = ingest(&store, &[7u8; 5000]).await;

        // The first read fills the cache; ranges are cut from the cached copy.
        assert_eq!(
            read(&store, &small, 0..12).await,
            (true, b"hello, world".to_vec())
        );
        assert_eq!(read(&store, &small, 7..12).await, (true, b"world".to_vec()));
        assert!(store.weight() > 12);
        // Larger blobs stay on disk.
        assert_eq!(read(&store, &big, 0..5000).await, (false, vec![7u8; 5000]));
        // A request for the start of a large blob does not cache a prefix of it.
        assert_eq!(read(&store, &big, 0..10).await, (false, vec![7u8; 10]));
        assert!(!read(&store, &big, 0..10).await.0);

        store.delete(&small).await.unwrap();
        assert!(matches!(
            store.open(&small, 0..12).await,
            Err(crate::BlobError::NotFound(_))
        ));
        assert!(!store.exists(&small).await.unwrap());
    }

    #[tokio::test]
    async fn zero_capacity_turns_the_cache_off() {
        let dir = tempfile::tempdir().unwrap();
        let store = MemoryCached::new(LocalBlobStore::open(dir.path()).unwrap(), 0, 1000);
        let h = ingest(&store, b"abc").await;
        assert_eq!(read(&store, &h, 0..3).await, (false, b"abc".to_vec()));
        assert_eq!(store.weight(), 0);
    }
}
