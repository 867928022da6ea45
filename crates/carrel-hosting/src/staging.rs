//! Writing an upload's bytes to its staging file: buffered into large
//! positional writes on a blocking thread, hashed with BLAKE3 as they pass
//! (so a sequential upload needs no second read), and checked against a tus
//! `Upload-Checksum` when the client sent one.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use carrel_core::tus::{Checksum, ChecksumAlgorithm};
use sha2::Digest;

/// Bytes gathered before one write to disk.
const WRITE_BUFFER: usize = 1024 * 1024;
/// Written bytes after which the disk is asked to start storing them
/// (`fdatasync` on a second handle, in the background) while the upload
/// goes on. The fsync when the upload completes then has little left to
/// do, and a large upload never piles up gigabytes of dirty page cache.
const EARLY_SYNC: u64 = 32 * 1024 * 1024;

/// A running digest for the tus checksum extension.
pub enum RunningChecksum {
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
    Md5(md5::Md5),
    Blake3(Box<blake3::Hasher>),
}

impl RunningChecksum {
    pub fn new(alg: ChecksumAlgorithm) -> Self {
        match alg {
            ChecksumAlgorithm::Sha1 => Self::Sha1(Default::default()),
            ChecksumAlgorithm::Sha256 => Self::Sha256(Default::default()),
            ChecksumAlgorithm::Sha512 => Self::Sha512(Default::default()),
            ChecksumAlgorithm::Md5 => Self::Md5(Default::default()),
            ChecksumAlgorithm::Blake3 => Self::Blake3(Default::default()),
        }
    }
    pub fn update(&mut self, b: &[u8]) {
        match self {
            Self::Sha1(h) => h.update(b),
            Self::Sha256(h) => h.update(b),
            Self::Sha512(h) => h.update(b),
            Self::Md5(h) => h.update(b),
            Self::Blake3(h) => {
                h.update(b);
            }
        }
    }
    pub fn finish(self) -> Vec<u8> {
        match self {
            Self::Sha1(h) => h.finalize().to_vec(),
            Self::Sha256(h) => h.finalize().to_vec(),
            Self::Sha512(h) => h.finalize().to_vec(),
            Self::Md5(h) => h.finalize().to_vec(),
            Self::Blake3(h) => h.finalize().as_bytes().to_vec(),
        }
    }
}

/// Appends to a staging file from a given offset.
pub struct StagingWriter {
    path: PathBuf,
    file: Option<std::fs::File>,
    /// Where the next byte goes.
    pos: u64,
    /// One buffer for the writer's life: it goes to the blocking thread for
    /// each write and comes back, so it is allocated and freed on the same
    /// thread once, not once per megabyte on two threads.
    buf: Vec<u8>,
    /// BLAKE3 of the whole file so far, when the upload has been sequential.
    pub content_hash: Option<blake3::Hasher>,
    pub checksum: Option<(Checksum, RunningChecksum)>,
    /// Offset up to which a background sync has been started.
    sync_started_at: u64,
    syncing: Option<tokio::task::JoinHandle<()>>,
}

impl StagingWriter {
    /// Opens `path` for writing at `offset` (creating it if needed).
    pub async fn open(
        path: &Path,
        offset: u64,
        content_hash: Option<blake3::Hasher>,
    ) -> std::io::Result<Self> {
        let p = path.to_owned();
        let file = tokio::task::spawn_blocking(move || {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&p)?;
            // Bytes past the offset were never acknowledged: drop them.
            f.set_len(offset)?;
            Ok::<_, std::io::Error>(f)
        })
        .await
        .map_err(std::io::Error::other)??;
        let content_hash = content_hash.filter(|h| h.count() == offset);
        Ok(Self {
            path: path.to_owned(),
            file: Some(file),
            pos: offset,
            buf: Vec::new(),
            content_hash,
            checksum: None,
            sync_started_at: offset,
            syncing: None,
        })
    }

    pub fn expect_checksum(&mut self, c: Checksum) {
        let running = RunningChecksum::new(c.algorithm);
        self.checksum = Some((c, running));
    }

    /// The offset after everything written so far (buffered included).
    pub fn offset(&self) -> u64 {
        self.pos + self.buf.len() as u64
    }

    pub async fn write(&mut self, chunk: Bytes) -> std::io::Result<()> {
        if let Some(h) = &mut self.content_hash {
            h.update(&chunk);
        }
        if let Some((_, c)) = &mut self.checksum {
            c.update(&chunk);
        }
        self.buf.extend_from_slice(&chunk);
        if self.buf.len() >= WRITE_BUFFER {
            self.flush().await?;
        }
        Ok(())
    }

    /// Hands the buffered bytes to the operating system.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let data = std::mem::take(&mut self.buf);
        let file = self.file.take().expect("file present between writes");
        let pos = self.pos;
        let (file, mut data, res) = tokio::task::spawn_blocking(move || {
            use std::os::unix::fs::FileExt;
            let r = file.write_all_at(&data, pos).map(|_| data.len());
            (file, data, r)
        })
        .await
        .map_err(std::io::Error::other)?;
        data.clear();
        self.buf = data;
        self.file = Some(file);
        self.pos += res? as u64;
        self.sync_early();
        Ok(())
    }

    /// Starts writing back what is in the page cache, one sync at a time.
    /// A failure here is not reported: the fsync at completion is the one
    /// that counts, and it reports its own errors.
    fn sync_early(&mut self) {
        if self.pos < self.sync_started_at + EARLY_SYNC
            || self.syncing.as_ref().is_some_and(|h| !h.is_finished())
        {
            return;
        }
        let Some(clone) = self.file.as_ref().and_then(|f| f.try_clone().ok()) else {
            return;
        };
        self.sync_started_at = self.pos;
        self.syncing = Some(tokio::task::spawn_blocking(move || {
            let _ = clone.sync_data();
        }));
    }

    /// Whether the bytes of this request match the client's checksum (true
    /// when none was sent).
    pub fn checksum_ok(&mut self) -> bool {
        match self.checksum.take() {
            None => true,
            Some((expected, running)) => running.finish() == expected.digest,
        }
    }

    /// Cuts the file back to `offset`, dropping what this request wrote.
    pub async fn truncate(mut self, offset: u64) -> std::io::Result<()> {
        self.buf.clear();
        let file = self.file.take().expect("file present");
        tokio::task::spawn_blocking(move || file.set_len(offset))
            .await
            .map_err(std::io::Error::other)?
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    #[tokio::test]
    async fn writes_hashes_and_checks() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("u");
        let mut w = StagingWriter::open(&p, 0, Some(blake3::Hasher::new()))
            .await
            .unwrap();
        let digest =
            base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(b"hello world"));
        w.expect_checksum(Checksum::parse(&format!("sha1 {digest}")).unwrap());
        w.write(Bytes::from_static(b"hello ")).await.unwrap();
        w.write(Bytes::from_static(b"world")).await.unwrap();
        w.flush().await.unwrap();
        assert!(w.checksum_ok());
        assert_eq!(w.offset(), 11);
        assert_eq!(
            w.content_hash.as_ref().unwrap().finalize(),
            blake3::hash(b"hello world")
        );
        assert_eq!(std::fs::read(&p).unwrap(), b"hello world");

        // Resuming at 5 drops unacknowledged bytes; a stale hasher is not reused.
        let mut w = StagingWriter::open(&p, 5, Some(blake3::Hasher::new()))
            .await
            .unwrap();
        assert!(w.content_hash.is_none());
        w.expect_checksum(Checksum::parse("md5 AAAAAAAAAAAAAAAAAAAAAA==").unwrap());
        w.write(Bytes::from_static(b"!!")).await.unwrap();
        w.flush().await.unwrap();
        assert!(!w.checksum_ok());
        w.truncate(5).await.unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"hello");
    }
}
