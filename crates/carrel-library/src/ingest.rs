//! Book files into the library. A file (a hosted one, or a local one that
//! `carrel library add` stores) is read in the sandboxed child
//! ([`crate::extract`]), its record is stored under the source key
//! `file:<blake3>` (so the same bytes always land on the same edition, and
//! an ISBN shared with a dump record joins that edition), and the file
//! becomes a format of the edition, with its cover.
//!
//! The same blob is the same file: adding bytes the library already holds
//! returns the file that holds them.

use std::path::{Path, PathBuf};

use carrel_core::catalog::SourceKey;
use carrel_core::ids::{BlobHash, FileId};
use carrel_core::media::MediaType;
use carrel_core::name::FileName;
use carrel_core::time::Timestamp;
use carrel_db::catalog::{LibFile, Scanned};
use carrel_db::{File, NewFile};
use serde::Serialize;

use crate::extract::{Book, Problem};
use crate::{Library, LibraryError};

/// What adding one file did.
#[derive(Clone, Debug, Serialize)]
pub struct Added {
    pub file_id: FileId,
    pub edition_id: i64,
    pub work_id: i64,
    pub title: String,
    pub format: String,
    /// `added` (a new file in the library), `present` (these bytes were
    /// already there) or `unchanged` (a scanned path that did not change).
    pub outcome: Outcome,
    pub problems: Vec<Problem>,
}

impl Added {
    /// A file just added, from what was read of it.
    fn new(file_id: FileId, edition_id: i64, work_id: i64, book: Book) -> Self {
        Added {
            file_id,
            edition_id,
            work_id,
            title: book.record.title,
            format: book.format,
            outcome: Outcome::Added,
            problems: book.problems,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Added,
    Present,
    Unchanged,
}

/// A scratch directory in the blob store's staging area, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    async fn new(staging: &Path) -> Result<Self, LibraryError> {
        let dir = staging.join(format!("lib-{}", FileId::generate()));
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| LibraryError::io(&dir, e))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Library {
    /// What the library already says of a file with these bytes.
    async fn present(&self, hash: &BlobHash) -> Result<Option<Added>, LibraryError> {
        let Some(f) = self.db.library_file_by_blob(hash).await? else {
            return Ok(None);
        };
        let e = self
            .db
            .edition(f.edition_id)
            .await?
            .ok_or(LibraryError::NotFound)?;
        let problems = serde_json::from_str(&f.problems).unwrap_or_default();
        Ok(Some(Added {
            file_id: f.file_id,
            edition_id: e.id,
            work_id: e.work_id,
            title: e.record.title,
            format: f.format,
            outcome: Outcome::Present,
            problems,
        }))
    }

    /// Stores what was read from a file as its edition (keyed by the file's
    /// bytes), with its cover, not yet indexed. Returns the edition and work.
    async fn store_book(&self, hash: &BlobHash, book: &Book) -> Result<(i64, i64), LibraryError> {
        let mut record = book.record.clone();
        record.source = Some(
            SourceKey::new("file", &hash.to_hex())
                .map_err(|e| LibraryError::Internal(e.to_string()))?,
        );
        // Stored without indexing: the caller attaches the file, then
        // indexes the edition once, with its format.
        let up = self
            .db
            .upsert_editions(std::slice::from_ref(&record), Timestamp::now())
            .await?
            .pop()
            .ok_or_else(|| LibraryError::Internal("no edition stored".into()))?;
        if let Some((small, large)) = &book.cover {
            self.db
                .set_cover(up.edition_id, small, large, Timestamp::now())
                .await?;
        }
        Ok((up.edition_id, up.work_id))
    }

    fn lib_file(file_id: &FileId, edition_id: i64, book: &Book) -> LibFile {
        LibFile {
            file_id: file_id.clone(),
            edition_id,
            format: book.format.clone(),
            pages: book.pages,
            encrypted: book.encrypted,
            problems: serde_json::to_string(&book.problems).unwrap_or_else(|_| "[]".into()),
            created_at: Timestamp::now(),
        }
    }

    /// Adds a hosted file to the library ("add to library" of an upload).
    pub async fn add_hosted(&self, file: &File) -> Result<Added, LibraryError> {
        if let Some(a) = self.present(&file.blob).await? {
            return Ok(a);
        }
        let scratch = Scratch::new(self.store.staging_dir()).await?;
        let path = match self.store.local_path(&file.blob) {
            Some(p) => p,
            None => self.copy_out(file, &scratch.0).await?,
        };
        let book = self.extractor.extract(&path, &scratch.0).await?;
        let (edition_id, work_id) = self.store_book(&file.blob, &book).await?;
        self.db
            .attach_file(&Self::lib_file(&file.id, edition_id, &book))
            .await?;
        self.reindex(&[edition_id]).await?;
        tracing::info!(file = %file.id, edition = edition_id, format = %book.format, "file added to the library");
        Ok(Added::new(file.id.clone(), edition_id, work_id, book))
    }

    /// Copies a hosted file's blob from a store without local files into
    /// `dir` (any source the store gives, as downloads stream it).
    async fn copy_out(&self, file: &File, dir: &Path) -> Result<PathBuf, LibraryError> {
        use futures::StreamExt;
        use tokio::io::AsyncWriteExt;
        let path = dir.join("book");
        let mut out = tokio::fs::File::create(&path)
            .await
            .map_err(|e| LibraryError::io(&path, e))?;
        let io = |e| LibraryError::io(&path, e);
        if let Some(last) = u64::try_from(file.size).ok().and_then(|n| n.checked_sub(1)) {
            let source = self
                .store
                .open(&file.blob, 0..last + 1)
                .await
                .map_err(|e| LibraryError::Internal(e.to_string()))?;
            let mut bytes = carrel_http::serve::source_stream(source, 0..=last)
                .await
                .map_err(io)?;
            while let Some(chunk) = bytes.next().await {
                out.write_all(&chunk.map_err(io)?).await.map_err(io)?;
            }
        }
        out.flush().await.map_err(io)?;
        Ok(path)
    }

    /// Adds a local file (`carrel library add`): unchanged paths (same size
    /// and modification time as when last scanned) are skipped without
    /// being read; otherwise the file is copied into the blob store and
    /// becomes a library file with no owner.
    pub async fn add_path(&self, path: &Path) -> Result<Added, LibraryError> {
        let meta = tokio::fs::metadata(path)
            .await
            .map_err(|e| LibraryError::io(path, e))?;
        let key = std::path::absolute(path)
            .unwrap_or_else(|_| path.to_owned())
            .to_string_lossy()
            .into_owned();
        let size = meta.len() as i64;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i64);
        if let Some(s) = self.db.scanned(&key).await?
            && s.size == size
            && s.mtime == mtime
            && let Ok(hash) = s.blob_hash.parse::<BlobHash>()
            && let Some(mut a) = self.present(&hash).await?
        {
            a.outcome = Outcome::Unchanged;
            return Ok(a);
        }
        let scratch = Scratch::new(self.store.staging_dir()).await?;
        // A copy, hashed as it is: the path may change while it is read.
        let staged = scratch.0.join("book");
        tokio::fs::copy(path, &staged)
            .await
            .map_err(|e| LibraryError::io(path, e))?;
        let (hash, size) = carrel_blob::hash_file(&staged)
            .await
            .map_err(|e| LibraryError::Internal(e.to_string()))?;
        let scanned = Scanned {
            path: key,
            size: size as i64,
            mtime,
            blob_hash: hash.to_hex(),
            scanned_at: Timestamp::now(),
        };
        if let Some(a) = self.present(&hash).await? {
            self.db.set_scanned(&scanned).await?;
            return Ok(a);
        }
        let book = self.extractor.extract(&staged, &scratch.0).await?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| FileName::new(n).ok())
            .or_else(|| FileName::new(&format!("book.{}", book.format)).ok())
            .ok_or_else(|| LibraryError::Internal("no file name".into()))?;
        let media = MediaType::new(crate::urls::format_media_type(&book.format))
            .map_err(|e| LibraryError::Internal(e.to_string()))?;
        self.store
            .ingest(&staged, Some(hash))
            .await
            .map_err(|e| LibraryError::Internal(e.to_string()))?;
        let (edition_id, work_id) = self.store_book(&hash, &book).await?;
        let file = NewFile {
            id: FileId::generate(),
            name,
            media_type: media,
            size: size as i64,
            blob: hash,
            owner: None,
            folder: None,
            manage_token_hash: None,
            created_at: Timestamp::now(),
        };
        self.db
            .add_library_file(&file, &Self::lib_file(&file.id, edition_id, &book))
            .await?;
        self.db.set_scanned(&scanned).await?;
        self.reindex(&[edition_id]).await?;
        Ok(Added::new(file.id, edition_id, work_id, book))
    }
}
