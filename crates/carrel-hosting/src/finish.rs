//! From a complete staged upload to a stored file with its share link.

use std::path::Path;

use carrel_core::ids::{AccountId, BlobHash, FileId, SecretHash, UploadId};
use carrel_core::media::MediaType;
use carrel_core::name::FileName;
use carrel_core::time::Timestamp;
use carrel_db::{Completion, NewFile, NewJob, NewShare, PlannedShare, ShareTarget};
use carrel_http::media::{HEAD_BYTES, StoredFile};
use carrel_http::serve::read_head;

use crate::error::Result;
use crate::stats::Stats;
use crate::{Hosting, jobs};

/// What the finished file will be.
#[derive(Clone, Debug)]
pub struct FileSpec {
    pub name: FileName,
    pub media: MediaType,
    pub owner: Option<AccountId>,
    pub manage_token_hash: Option<SecretHash>,
    pub share: Option<PlannedShare>,
}

/// Picks a media type: the client's, if valid and specific, else the file
/// name's extension, else `application/octet-stream`.
pub fn media_type_for(name: &FileName, declared: Option<&str>) -> MediaType {
    declared
        .and_then(|d| MediaType::new(d).ok())
        .filter(|m| m.as_str() != "application/octet-stream")
        .or_else(|| {
            mime_guess::from_path(name.as_str())
                .first()
                .and_then(|m| MediaType::new(m.essence_str()).ok())
        })
        .unwrap_or_else(MediaType::octet_stream)
}

impl Hosting {
    /// Stores a complete staged file and records it. `known` is the BLAKE3
    /// hash computed while the bytes arrived, if they arrived in order.
    pub async fn finish_upload(
        &self,
        upload: &UploadId,
        staged: &Path,
        known: Option<BlobHash>,
        spec: FileSpec,
    ) -> Result<FileId> {
        let hash = match known {
            Some(h) => h,
            None => carrel_blob::hash_file(staged).await?.0,
        };
        let _guard = self.blob_lock(&hash).lock().await;
        let size = self.store.ingest(staged, Some(hash)).await?.size;
        let now = Timestamp::now();
        let jobs = self.follow_ups(&hash, size, &spec.media, now).await?;
        let file = NewFile {
            id: FileId::generate(),
            name: spec.name,
            media_type: spec.media,
            size: size as i64,
            blob: hash,
            owner: spec.owner,
            folder: None,
            manage_token_hash: spec.manage_token_hash,
            created_at: now,
        };
        let share = spec.share.map(|p| NewShare {
            id: p.id,
            target: ShareTarget::File(file.id.clone()),
            rules: p.rules,
            password_hash: p.password_hash,
            created_at: now,
        });
        let id = file.id.clone();
        let wake = !jobs.is_empty();
        self.db
            .complete_upload(&Completion {
                upload: upload.clone(),
                blob: hash,
                file,
                share,
                jobs,
            })
            .await?;
        if wake && let Some(m) = self.media() {
            m.queued();
        }
        Stats::add(&self.stats.uploads_completed, 1);
        tracing::info!(file = %id, %hash, size, "upload stored");
        Ok(id)
    }

    /// The jobs other wings want queued with a newly stored blob (the
    /// streaming wing's probe of audio and video), from its type and first bytes.
    async fn follow_ups(
        &self,
        hash: &BlobHash,
        size: u64,
        media: &MediaType,
        now: Timestamp,
    ) -> Result<Vec<NewJob>> {
        let Some(m) = self.media() else {
            return Ok(Vec::new());
        };
        let head = read_head(&*self.store, hash, size, HEAD_BYTES as u64).await?;
        Ok(m.follow_ups(&StoredFile {
            blob: hash,
            media_type: media,
            head: &head,
        })
        .into_iter()
        .map(|f| NewJob {
            kind: f.kind,
            payload: f.payload,
            run_after: now,
        })
        .collect())
    }

    /// Deletes a file, its links and, with its last reference, its bytes.
    /// The bytes go at once when they can; otherwise (a crash, a failing
    /// disk) the `blob.delete` job queued with the change deletes them later.
    pub async fn delete_file(&self, id: &FileId, blob: &BlobHash) -> Result<()> {
        let _guard = self.blob_lock(blob).lock().await;
        let last = self.db.delete_file(id).await?;
        self.forget_file(id);
        match last {
            Some(last) => self.release_blob(last).await,
            None => {
                tracing::info!(file = %id, "file deleted; its blob is still referenced");
                Ok(())
            }
        }
    }

    /// Deletes many files (and their links) in one transaction, all or none,
    /// then the bytes of blobs no file references any more. The blobs'
    /// locks are taken in one order, so two such deletions never wait on
    /// each other.
    pub async fn delete_files(&self, files: &[(FileId, BlobHash)]) -> Result<()> {
        let mut stripes: Vec<usize> = files.iter().map(|(_, b)| self.blob_stripe(b)).collect();
        stripes.sort_unstable();
        stripes.dedup();
        let mut guards = Vec::with_capacity(stripes.len());
        for i in stripes {
            guards.push(self.blob_locks[i].lock().await);
        }
        let ids: Vec<FileId> = files.iter().map(|(id, _)| id.clone()).collect();
        let released = self.db.delete_files(&ids).await?;
        for id in &ids {
            self.forget_file(id);
        }
        tracing::info!(files = ids.len(), blobs = released.len(), "files deleted");
        for last in released {
            self.release_blob(last).await?;
        }
        Ok(())
    }

    /// Deletes the bytes of a blob whose last reference just went, or
    /// leaves its job to the queue when that fails.
    async fn release_blob(&self, last: carrel_db::BlobRelease) -> Result<()> {
        // The same bytes may be another wing's (a media rendition).
        if self.db.blob_referenced(&last.hash).await? {
            self.db.finish_job(last.job).await?;
            tracing::info!(blob = %last.hash, "blob still referenced; kept");
            return Ok(());
        }
        match self.store.delete(&last.hash).await {
            Ok(()) => {
                self.db.finish_job(last.job).await?;
                tracing::info!(blob = %last.hash, "unreferenced blob deleted");
            }
            Err(e) => {
                let error = e.to_string();
                tracing::warn!(blob = %last.hash, %error,
                    "file deleted; its blob could not be deleted yet, the job queue retries");
                self.db
                    .retry_job(last.job, Timestamp::now().plus(jobs::FIRST_RETRY), &error)
                    .await?;
            }
        }
        Ok(())
    }
}
