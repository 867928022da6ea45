//! The SQL shared by both backends. Both accept `$N` placeholders and
//! `RETURNING`/`ON CONFLICT`, so one body serves both; where the dialects
//! differ, the backend module passes its own statement. The macro stamps the
//! repository traits onto each backend's pool type, so each backend is a
//! real, separately compiled implementation over its own driver.

use carrel_core::CoreError;
use carrel_core::ids::UploadId;

use crate::{DbError, UploadKind};

pub(crate) fn corrupt(e: CoreError) -> DbError {
    DbError::Corrupt(e.to_string())
}

pub(crate) fn kind_columns(kind: &UploadKind) -> (&'static str, Option<String>) {
    match kind {
        UploadKind::Single => ("single", None),
        UploadKind::Partial => ("partial", None),
        UploadKind::Final(parts) => (
            "final",
            Some(
                parts
                    .iter()
                    .map(UploadId::as_str)
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        ),
    }
}

pub(crate) fn kind_from_columns(kind: &str, parts: Option<String>) -> Result<UploadKind, DbError> {
    Ok(match kind {
        "single" => UploadKind::Single,
        "partial" => UploadKind::Partial,
        "final" => UploadKind::Final(
            parts
                .unwrap_or_default()
                .split_whitespace()
                .map(|p| p.parse().map_err(corrupt))
                .collect::<Result<_, _>>()?,
        ),
        other => return Err(DbError::Corrupt(format!("upload kind {other:?}"))),
    })
}

macro_rules! impl_database {
    ($ty:ty, $db:ty, $backend:expr) => {
        use carrel_core::ids::{BlobHash, FileId, FolderId, SecretHash, ShareId, UploadId};
        use carrel_core::media::MediaType;
        use carrel_core::name::FileName;
        use carrel_core::share::ShareRules;
        use carrel_core::time::Timestamp;
        use sqlx::Row;

        use $crate::backend::{corrupt, kind_columns, kind_from_columns};
        use $crate::model::*;
        use $crate::{Backend, Database, DbError, FileRepo, JobRepo, Result, ShareRepo, UploadRepo};

        type DbRow = <$db as sqlx::Database>::Row;

        const FILE_COLUMNS: &str =
            "id, name, media_type, size, blob_hash, owner, folder_id, manage_token_hash, created_at";

        fn file_from_row(r: &DbRow) -> Result<File> {
            Ok(File {
                id: r.try_get::<String, _>("id")?.parse().map_err(corrupt)?,
                name: FileName::new(&r.try_get::<String, _>("name")?).map_err(corrupt)?,
                media_type: MediaType::new(&r.try_get::<String, _>("media_type")?).map_err(corrupt)?,
                size: r.try_get("size")?,
                blob: r.try_get::<String, _>("blob_hash")?.parse().map_err(corrupt)?,
                owner: r.try_get::<Option<String>, _>("owner")?.map(|o| o.parse()).transpose().map_err(corrupt)?,
                folder: r.try_get::<Option<String>, _>("folder_id")?.map(|o| o.parse()).transpose().map_err(corrupt)?,
                manage_token_hash: r.try_get::<Option<String>, _>("manage_token_hash")?.map(SecretHash::from_stored),
                created_at: Timestamp(r.try_get("created_at")?),
            })
        }

        fn share_from_row(r: &DbRow) -> Result<Share> {
            let file: Option<String> = r.try_get("file_id")?;
            let folder: Option<String> = r.try_get("folder_id")?;
            let target = match (file, folder) {
                (Some(f), None) => ShareTarget::File(f.parse().map_err(corrupt)?),
                (None, Some(f)) => ShareTarget::Folder(f.parse().map_err(corrupt)?),
                _ => return Err(DbError::Corrupt("share without exactly one target".into())),
            };
            Ok(Share {
                new: NewShare {
                    id: r.try_get::<String, _>("id")?.parse().map_err(corrupt)?,
                    target,
                    rules: ShareRules {
                        expires_at: r.try_get::<Option<i64>, _>("expires_at")?.map(Timestamp),
                        max_downloads: r.try_get("max_downloads")?,
                        disabled_reason: r.try_get("disabled_reason")?,
                    },
                    password_hash: r.try_get("password_hash")?,
                    created_at: Timestamp(r.try_get("created_at")?),
                },
                download_count: r.try_get("download_count")?,
            })
        }

        fn upload_from_row(r: &DbRow) -> Result<Upload> {
            let share = match r.try_get::<Option<String>, _>("share_id")? {
                None => None,
                Some(id) => Some(PlannedShare {
                    id: id.parse().map_err(corrupt)?,
                    rules: ShareRules {
                        expires_at: r.try_get::<Option<i64>, _>("share_expires_at")?.map(Timestamp),
                        max_downloads: r.try_get("share_max_downloads")?,
                        disabled_reason: None,
                    },
                    password_hash: r.try_get("share_password_hash")?,
                }),
            };
            Ok(Upload {
                new: NewUpload {
                    id: r.try_get::<String, _>("id")?.parse().map_err(corrupt)?,
                    length: r.try_get("length")?,
                    metadata: r.try_get("metadata")?,
                    kind: kind_from_columns(&r.try_get::<String, _>("kind")?, r.try_get("parts")?)?,
                    owner: r.try_get::<Option<String>, _>("owner")?.map(|o| o.parse()).transpose().map_err(corrupt)?,
                    client_ip: r.try_get("client_ip")?,
                    file_name: FileName::new(&r.try_get::<String, _>("file_name")?).map_err(corrupt)?,
                    media_type: MediaType::new(&r.try_get::<String, _>("media_type")?).map_err(corrupt)?,
                    share,
                    manage_token_hash: r.try_get::<Option<String>, _>("manage_token_hash")?.map(SecretHash::from_stored),
                    expires_at: Timestamp(r.try_get("expires_at")?),
                    created_at: Timestamp(r.try_get("created_at")?),
                },
                offset: r.try_get("offset")?,
                completed: r.try_get("completed")?,
                file_id: r.try_get::<Option<String>, _>("file_id")?.map(|o| o.parse()).transpose().map_err(corrupt)?,
            })
        }

        fn unique_violation(e: sqlx::Error) -> DbError {
            match &e {
                sqlx::Error::Database(d) if d.is_unique_violation() => DbError::Conflict,
                _ => DbError::Sqlx(e),
            }
        }

        #[async_trait::async_trait]
        impl UploadRepo for $ty {
            async fn create_upload(&self, u: &NewUpload) -> Result<()> {
                let mut c = self.pool.acquire().await?;
                insert_upload(&mut c, u).await
            }

            async fn create_upload_within(&self, u: &NewUpload, quota: i64, now: Timestamp) -> Result<bool> {
                let Some(owner) = &u.owner else {
                    self.create_upload(u).await?;
                    return Ok(true);
                };
                let mut tx = self.pool.begin().await?;
                lock_owner(&mut tx, owner.as_str()).await?;
                insert_upload(&mut tx, u).await?;
                if storage_used_on(&mut tx, owner.as_str(), now).await? > quota {
                    tx.rollback().await?;
                    return Ok(false);
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn upload(&self, id: &UploadId) -> Result<Option<Upload>> {
                sqlx::query("SELECT * FROM uploads WHERE id = $1")
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await?
                    .map(|r| upload_from_row(&r))
                    .transpose()
            }

            async fn advance_upload(&self, id: &UploadId, from: i64, to: i64, expires_at: Timestamp) -> Result<bool> {
                let r = sqlx::query("UPDATE uploads SET \"offset\" = $1, expires_at = $2 WHERE id = $3 AND \"offset\" = $4")
                    .bind(to)
                    .bind(expires_at.0)
                    .bind(id.as_str())
                    .bind(from)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn set_upload_length(&self, id: &UploadId, length: i64) -> Result<bool> {
                let r = sqlx::query("UPDATE uploads SET length = $1 WHERE id = $2 AND length IS NULL")
                    .bind(length)
                    .bind(id.as_str())
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn set_upload_length_within(
                &self,
                id: &UploadId,
                owner: &carrel_core::ids::AccountId,
                length: i64,
                quota: i64,
                now: Timestamp,
            ) -> Result<Option<bool>> {
                let mut tx = self.pool.begin().await?;
                lock_owner(&mut tx, owner.as_str()).await?;
                let r = sqlx::query("UPDATE uploads SET length = $1 WHERE id = $2 AND length IS NULL")
                    .bind(length)
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await?;
                if r.rows_affected() != 1 {
                    tx.rollback().await?;
                    return Ok(Some(false));
                }
                if storage_used_on(&mut tx, owner.as_str(), now).await? > quota {
                    tx.rollback().await?;
                    return Ok(None);
                }
                tx.commit().await?;
                Ok(Some(true))
            }

            async fn delete_upload(&self, id: &UploadId) -> Result<bool> {
                let r = sqlx::query("DELETE FROM uploads WHERE id = $1").bind(id.as_str()).execute(&self.pool).await?;
                Ok(r.rows_affected() == 1)
            }

            async fn expired_uploads(&self, now: Timestamp, limit: i64) -> Result<Vec<UploadId>> {
                let rows = sqlx::query("SELECT id FROM uploads WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2")
                    .bind(now.0)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(|r| r.try_get::<String, _>("id")?.parse().map_err(corrupt)).collect()
            }

            async fn active_uploads_from(&self, client_ip: &str, now: Timestamp) -> Result<i64> {
                let row = sqlx::query(
                    "SELECT COUNT(*) AS n FROM uploads WHERE client_ip = $1 AND completed = $2 AND expires_at > $3",
                )
                .bind(client_ip)
                .bind(false)
                .bind(now.0)
                .fetch_one(&self.pool)
                .await?;
                Ok(row.try_get("n")?)
            }

            async fn complete_upload(&self, c: &Completion) -> Result<()> {
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "INSERT INTO blobs (hash, size, refcount, created_at) VALUES ($1, $2, 1, $3) \
                     ON CONFLICT (hash) DO UPDATE SET refcount = blobs.refcount + 1",
                )
                .bind(c.blob.to_hex())
                .bind(c.file.size)
                .bind(c.file.created_at.0)
                .execute(&mut *tx)
                .await?;
                insert_file(&mut tx, &c.file).await?;
                if let Some(s) = &c.share {
                    insert_share(&mut tx, s).await?;
                }
                for j in &c.jobs {
                    sqlx::query("INSERT INTO jobs (kind, payload, run_after, created_at) VALUES ($1, $2, $3, $4)")
                        .bind(&j.kind)
                        .bind(&j.payload)
                        .bind(j.run_after.0)
                        .bind(c.file.created_at.0)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query("UPDATE uploads SET completed = $1, file_id = $2, client_ip = NULL WHERE id = $3")
                    .bind(true)
                    .bind(c.file.id.as_str())
                    .bind(c.upload.as_str())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn owned_uploads(&self, owner: &carrel_core::ids::AccountId) -> Result<Vec<UploadId>> {
                let rows = sqlx::query("SELECT id FROM uploads WHERE owner = $1 ORDER BY created_at, id")
                    .bind(owner.as_str())
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(|r| r.try_get::<String, _>("id")?.parse().map_err(corrupt)).collect()
            }

            async fn erase_addresses(&self, before: Timestamp) -> Result<u64> {
                Ok(sqlx::query("UPDATE uploads SET client_ip = NULL WHERE client_ip IS NOT NULL AND created_at < $1")
                    .bind(before.0)
                    .execute(&self.pool)
                    .await?
                    .rows_affected())
            }
        }

        async fn insert_file(tx: &mut sqlx::Transaction<'_, $db>, f: &NewFile) -> Result<()> {
            sqlx::query(
                "INSERT INTO files (id, name, media_type, size, blob_hash, owner, folder_id, manage_token_hash, created_at, name_lower) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(f.id.as_str())
            .bind(f.name.as_str())
            .bind(f.media_type.as_str())
            .bind(f.size)
            .bind(f.blob.to_hex())
            .bind(f.owner.as_ref().map(|o| o.as_str().to_owned()))
            .bind(f.folder.as_ref().map(|o| o.as_str().to_owned()))
            .bind(f.manage_token_hash.as_ref().map(|h| h.as_str().to_owned()))
            .bind(f.created_at.0)
            .bind(name_key(&f.name))
            .execute(&mut **tx)
            .await
            .map_err(unique_violation)?;
            Ok(())
        }

        /// Deletes one file and its links inside `tx` (see `FileRepo::delete_file`).
        async fn delete_file_in(tx: &mut sqlx::Transaction<'_, $db>, id: &FileId) -> Result<Option<BlobRelease>> {
            let Some(row) = sqlx::query("DELETE FROM files WHERE id = $1 RETURNING blob_hash")
                .bind(id.as_str())
                .fetch_optional(&mut **tx)
                .await?
            else {
                return Ok(None);
            };
            let hash: String = row.try_get("blob_hash")?;
            sqlx::query("DELETE FROM shares WHERE file_id = $1").bind(id.as_str()).execute(&mut **tx).await?;
            let left: i64 = sqlx::query("UPDATE blobs SET refcount = refcount - 1 WHERE hash = $1 RETURNING refcount")
                .bind(&hash)
                .fetch_one(&mut **tx)
                .await?
                .try_get("refcount")?;
            if left != 0 {
                return Ok(None);
            }
            sqlx::query("DELETE FROM blobs WHERE hash = $1 AND refcount = 0").bind(&hash).execute(&mut **tx).await?;
            // The caller deletes the bytes right after the commit; the
            // job, due a minute later, makes sure they go even if it
            // cannot (a crash, a failing disk).
            let now = Timestamp::now();
            let job: i64 = sqlx::query(
                "INSERT INTO jobs (kind, payload, run_after, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(JOB_BLOB_DELETE)
            .bind(&hash)
            .bind(now.0 + 60)
            .bind(now.0)
            .fetch_one(&mut **tx)
            .await?
            .try_get("id")?;
            Ok(Some(BlobRelease { hash: hash.parse().map_err(corrupt)?, job: JobId(job) }))
        }

        /// `$from, $from+1, …` for `n` values.
        fn placeholders(from: usize, n: usize) -> String {
            (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
        }

        fn folder_from_row(r: &DbRow) -> Result<Folder> {
            Ok(Folder {
                id: r.try_get::<String, _>("id")?.parse().map_err(corrupt)?,
                name: FileName::new(&r.try_get::<String, _>("name")?).map_err(corrupt)?,
                owner: r.try_get::<Option<String>, _>("owner")?.map(|o| o.parse()).transpose().map_err(corrupt)?,
                manage_token_hash: r.try_get::<Option<String>, _>("manage_token_hash")?.map(SecretHash::from_stored),
                created_at: Timestamp(r.try_get("created_at")?),
            })
        }

        async fn insert_upload(c: &mut <$db as sqlx::Database>::Connection, u: &NewUpload) -> Result<()> {
            let (kind, parts) = kind_columns(&u.kind);
            let share = u.share.as_ref();
            sqlx::query(
                "INSERT INTO uploads (id, length, \"offset\", metadata, kind, parts, owner, client_ip, \
                 file_name, media_type, share_id, share_expires_at, share_password_hash, \
                 share_max_downloads, manage_token_hash, completed, file_id, expires_at, created_at) \
                 VALUES ($1, $2, 0, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, NULL, $16, $17)",
            )
            .bind(u.id.as_str())
            .bind(u.length)
            .bind(&u.metadata)
            .bind(kind)
            .bind(parts)
            .bind(u.owner.as_ref().map(|o| o.as_str().to_owned()))
            .bind(&u.client_ip)
            .bind(u.file_name.as_str())
            .bind(u.media_type.as_str())
            .bind(share.map(|s| s.id.as_str().to_owned()))
            .bind(share.and_then(|s| s.rules.expires_at.map(|t| t.0)))
            .bind(share.and_then(|s| s.password_hash.clone()))
            .bind(share.and_then(|s| s.rules.max_downloads))
            .bind(u.manage_token_hash.as_ref().map(|h| h.as_str().to_owned()))
            .bind(false)
            .bind(u.expires_at.0)
            .bind(u.created_at.0)
            .execute(&mut *c)
            .await
            .map_err(unique_violation)?;
            Ok(())
        }

        /// Makes a transaction that changes an owner's storage wait for any
        /// other doing the same: PostgreSQL locks the account's row; SQLite
        /// has one writer at a time, and the caller's first statement, a
        /// write, takes that lock.
        async fn lock_owner(c: &mut <$db as sqlx::Database>::Connection, owner: &str) -> Result<()> {
            if let Backend::Postgres = $backend {
                sqlx::query("SELECT id FROM accounts WHERE id = $1 FOR UPDATE")
                    .bind(owner)
                    .execute(&mut *c)
                    .await?;
            }
            Ok(())
        }

        /// Bytes an owner stores: its files, and the declared lengths (or offsets) of its unfinished uploads.
        async fn storage_used_on(c: &mut <$db as sqlx::Database>::Connection, owner: &str, now: Timestamp) -> Result<i64> {
            let files: i64 = sqlx::query("SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) AS n FROM files WHERE owner = $1")
                .bind(owner)
                .fetch_one(&mut *c)
                .await?
                .try_get("n")?;
            // Unfinished uploads; a final concatenation counts through its
            // parts, and parts already joined into a file count no more.
            let uploads: i64 = sqlx::query(
                "SELECT CAST(COALESCE(SUM(COALESCE(u.length, u.\"offset\")), 0) AS BIGINT) AS n FROM uploads u \
                 WHERE u.owner = $1 AND u.completed = $2 AND u.expires_at > $3 AND u.kind <> 'final' \
                 AND NOT (u.kind = 'partial' AND EXISTS (SELECT 1 FROM uploads f \
                     WHERE f.owner = u.owner AND f.kind = 'final' AND f.completed = $4 \
                     AND (' ' || f.parts || ' ') LIKE ('% ' || replace(u.id, '_', '\\_') || ' %') ESCAPE '\\'))",
            )
            .bind(owner)
            .bind(false)
            .bind(now.0)
            .bind(true)
            .fetch_one(&mut *c)
            .await?
            .try_get("n")?;
            Ok(files + uploads)
        }

        /// Byte order for names on both backends (PostgreSQL would otherwise use the database's locale).
        fn name_order() -> &'static str {
            match $backend {
                Backend::Postgres => "name_lower COLLATE \"C\"",
                Backend::Sqlite => "name_lower",
            }
        }

        async fn insert_share(tx: &mut sqlx::Transaction<'_, $db>, s: &NewShare) -> Result<()> {
            let (file, folder) = match &s.target {
                ShareTarget::File(f) => (Some(f.as_str().to_owned()), None),
                ShareTarget::Folder(f) => (None, Some(f.as_str().to_owned())),
            };
            sqlx::query(
                "INSERT INTO shares (id, file_id, folder_id, expires_at, password_hash, max_downloads, \
                 download_count, disabled_reason, created_at) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8)",
            )
            .bind(s.id.as_str())
            .bind(file)
            .bind(folder)
            .bind(s.rules.expires_at.map(|t| t.0))
            .bind(&s.password_hash)
            .bind(s.rules.max_downloads)
            .bind(&s.rules.disabled_reason)
            .bind(s.created_at.0)
            .execute(&mut **tx)
            .await
            .map_err(unique_violation)?;
            Ok(())
        }

        #[async_trait::async_trait]
        impl FileRepo for $ty {
            async fn file(&self, id: &FileId) -> Result<Option<File>> {
                sqlx::query(&format!("SELECT {FILE_COLUMNS} FROM files WHERE id = $1"))
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await?
                    .map(|r| file_from_row(&r))
                    .transpose()
            }

            async fn delete_file(&self, id: &FileId) -> Result<Option<BlobRelease>> {
                let mut tx = self.pool.begin().await?;
                let last = delete_file_in(&mut tx, id).await?;
                tx.commit().await?;
                Ok(last)
            }

            async fn blob_referenced(&self, hash: &BlobHash) -> Result<bool> {
                // A rendition's file is a blob too (the streaming wing's), kept while its row is.
                Ok(sqlx::query(
                    "SELECT 1 FROM blobs WHERE hash = $1 \
                     UNION ALL SELECT 1 FROM media_renditions WHERE blob_hash = $1 LIMIT 1",
                )
                    .bind(hash.to_hex())
                    .fetch_optional(&self.pool)
                    .await?
                    .is_some())
            }

            async fn create_folder(&self, f: &NewFolder, files: &[FileId]) -> Result<()> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("INSERT INTO folders (id, name, owner, manage_token_hash, created_at, name_lower) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(f.id.as_str())
                    .bind(f.name.as_str())
                    .bind(f.owner.as_ref().map(|o| o.as_str().to_owned()))
                    .bind(f.manage_token_hash.as_ref().map(|h| h.as_str().to_owned()))
                    .bind(f.created_at.0)
                    .bind(name_key(&f.name))
                    .execute(&mut *tx)
                    .await
                    .map_err(unique_violation)?;
                for file in files {
                    sqlx::query("UPDATE files SET folder_id = $1 WHERE id = $2")
                        .bind(f.id.as_str())
                        .bind(file.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn folder(&self, id: &FolderId) -> Result<Option<Folder>> {
                sqlx::query("SELECT * FROM folders WHERE id = $1")
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await?
                    .map(|r| folder_from_row(&r))
                    .transpose()
            }

            async fn folder_files(&self, id: &FolderId) -> Result<Vec<File>> {
                sqlx::query(&format!("SELECT {FILE_COLUMNS} FROM files WHERE folder_id = $1 ORDER BY name, id"))
                    .bind(id.as_str())
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(file_from_row)
                    .collect()
            }

            async fn owned_files(&self, owner: &carrel_core::ids::AccountId, offset: i64, limit: i64) -> Result<(Vec<File>, i64)> {
                let files = sqlx::query(&format!(
                    "SELECT {FILE_COLUMNS} FROM files WHERE owner = $1 ORDER BY created_at DESC, id LIMIT $2 OFFSET $3"
                ))
                .bind(owner.as_str())
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(file_from_row)
                .collect::<Result<Vec<_>>>()?;
                let total: i64 = sqlx::query("SELECT COUNT(*) AS n FROM files WHERE owner = $1")
                    .bind(owner.as_str())
                    .fetch_one(&self.pool)
                    .await?
                    .try_get("n")?;
                Ok((files, total))
            }

            async fn storage_used(&self, owner: &carrel_core::ids::AccountId, now: Timestamp) -> Result<i64> {
                let mut c = self.pool.acquire().await?;
                storage_used_on(&mut c, owner.as_str(), now).await
            }

            async fn touch_files(&self, ids: &[FileId], at: Timestamp) -> Result<()> {
                let mut tx = self.pool.begin().await?;
                for id in ids {
                    sqlx::query("UPDATE files SET last_access = $1 WHERE id = $2")
                        .bind(at.0)
                        .bind(id.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn inactive_files(&self, plan: Option<&str>, before: Timestamp, limit: i64) -> Result<Vec<FileId>> {
                let rows = match plan {
                    None => sqlx::query(
                        "SELECT id FROM files WHERE owner IS NULL AND COALESCE(last_access, created_at) < $1 \
                         ORDER BY COALESCE(last_access, created_at), id LIMIT $2",
                    )
                    .bind(before.0)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?,
                    Some(plan) => sqlx::query(
                        "SELECT f.id FROM files f JOIN accounts a ON a.id = f.owner \
                         WHERE a.plan = $1 AND COALESCE(f.last_access, f.created_at) < $2 \
                         ORDER BY COALESCE(f.last_access, f.created_at), f.id LIMIT $3",
                    )
                    .bind(plan)
                    .bind(before.0)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?,
                };
                rows.iter().map(|r| r.try_get::<String, _>("id")?.parse().map_err(corrupt)).collect()
            }

            async fn owner_inactive_files(
                &self,
                owner: &carrel_core::ids::AccountId,
                before: Timestamp,
                limit: i64,
            ) -> Result<Vec<(File, Timestamp)>> {
                sqlx::query(&format!(
                    "SELECT {FILE_COLUMNS}, COALESCE(last_access, created_at) AS active_at FROM files \
                     WHERE owner = $1 AND COALESCE(last_access, created_at) < $2 \
                     ORDER BY COALESCE(last_access, created_at), id LIMIT $3"
                ))
                .bind(owner.as_str())
                .bind(before.0)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| Ok((file_from_row(r)?, Timestamp(r.try_get("active_at")?))))
                .collect()
            }

            async fn list_files(&self, q: &FileQuery) -> Result<(Vec<File>, i64)> {
                let mut cond = String::from("owner = $1");
                let mut n = 1;
                if q.search.is_some() {
                    n += 1;
                    cond.push_str(&format!(" AND name_lower LIKE ${n} ESCAPE '\\'"));
                }
                match &q.folder {
                    FolderFilter::Any => {}
                    FolderFilter::TopLevel => cond.push_str(" AND folder_id IS NULL"),
                    FolderFilter::In(_) => {
                        n += 1;
                        cond.push_str(&format!(" AND folder_id = ${n}"));
                    }
                }
                let dir = if q.descending { "DESC" } else { "ASC" };
                let key = match q.sort {
                    FileSort::Name => name_order(),
                    FileSort::Size => "size",
                    FileSort::Created => "created_at",
                };
                let list = format!(
                    "SELECT {FILE_COLUMNS} FROM files WHERE {cond} ORDER BY {key} {dir}, id {dir} LIMIT ${} OFFSET ${}",
                    n + 1,
                    n + 2
                );
                let count = format!("SELECT COUNT(*) AS n FROM files WHERE {cond}");
                let pattern = q.search.as_deref().map(like_contains);
                let folder = match &q.folder {
                    FolderFilter::In(f) => Some(f.as_str().to_owned()),
                    _ => None,
                };
                let mut lq = sqlx::query(&list).bind(q.owner.as_str());
                let mut cq = sqlx::query(&count).bind(q.owner.as_str());
                if let Some(p) = &pattern {
                    lq = lq.bind(p.clone());
                    cq = cq.bind(p.clone());
                }
                if let Some(f) = &folder {
                    lq = lq.bind(f.clone());
                    cq = cq.bind(f.clone());
                }
                let files = lq
                    .bind(q.limit)
                    .bind(q.offset)
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(file_from_row)
                    .collect::<Result<Vec<_>>>()?;
                let total: i64 = cq.fetch_one(&self.pool).await?.try_get("n")?;
                Ok((files, total))
            }

            async fn owned_folders(&self, owner: &carrel_core::ids::AccountId) -> Result<Vec<FolderSummary>> {
                sqlx::query(&format!(
                    "SELECT d.*, (SELECT COUNT(*) FROM files f WHERE f.folder_id = d.id) AS n, \
                     (SELECT CAST(COALESCE(SUM(f.size), 0) AS BIGINT) FROM files f WHERE f.folder_id = d.id) AS bytes \
                     FROM folders d WHERE d.owner = $1 ORDER BY d.{}, d.id",
                    name_order()
                ))
                .bind(owner.as_str())
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| Ok(FolderSummary { folder: folder_from_row(r)?, files: r.try_get("n")?, bytes: r.try_get("bytes")? }))
                .collect()
            }

            async fn rename_file(&self, id: &FileId, name: &FileName) -> Result<bool> {
                let r = sqlx::query("UPDATE files SET name = $1, name_lower = $2 WHERE id = $3")
                    .bind(name.as_str())
                    .bind(name_key(name))
                    .bind(id.as_str())
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn rename_folder(&self, id: &FolderId, name: &FileName) -> Result<bool> {
                let r = sqlx::query("UPDATE folders SET name = $1, name_lower = $2 WHERE id = $3")
                    .bind(name.as_str())
                    .bind(name_key(name))
                    .bind(id.as_str())
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn move_files(&self, ids: &[FileId], folder: Option<&FolderId>) -> Result<u64> {
                let mut tx = self.pool.begin().await?;
                let mut moved = 0;
                for id in ids {
                    moved += sqlx::query("UPDATE files SET folder_id = $1 WHERE id = $2")
                        .bind(folder.map(|f| f.as_str().to_owned()))
                        .bind(id.as_str())
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
                tx.commit().await?;
                Ok(moved)
            }

            async fn delete_folder(&self, id: &FolderId) -> Result<bool> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("UPDATE files SET folder_id = NULL WHERE folder_id = $1").bind(id.as_str()).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM shares WHERE folder_id = $1").bind(id.as_str()).execute(&mut *tx).await?;
                let r = sqlx::query("DELETE FROM folders WHERE id = $1").bind(id.as_str()).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(r.rows_affected() == 1)
            }

            async fn delete_files(&self, ids: &[FileId]) -> Result<Vec<BlobRelease>> {
                let mut tx = self.pool.begin().await?;
                let mut released = Vec::new();
                for id in ids {
                    if let Some(r) = delete_file_in(&mut tx, id).await? {
                        released.push(r);
                    }
                }
                tx.commit().await?;
                Ok(released)
            }

            async fn files_with_token(&self, token: &SecretHash) -> Result<Vec<File>> {
                sqlx::query(&format!("SELECT {FILE_COLUMNS} FROM files WHERE manage_token_hash = $1 ORDER BY created_at, id"))
                    .bind(token.as_str())
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(file_from_row)
                    .collect()
            }

            async fn claim_file(&self, id: &FileId, owner: &carrel_core::ids::AccountId) -> Result<bool> {
                let r = sqlx::query("UPDATE files SET owner = $1 WHERE id = $2 AND owner IS NULL")
                    .bind(owner.as_str())
                    .bind(id.as_str())
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn transfer_holdings(
                &self,
                from: &carrel_core::ids::AccountId,
                to: &carrel_core::ids::AccountId,
            ) -> Result<u64> {
                let mut tx = self.pool.begin().await?;
                let mut files = 0;
                for table in ["files", "folders", "uploads"] {
                    let n = sqlx::query(&format!("UPDATE {table} SET owner = $1 WHERE owner = $2"))
                        .bind(to.as_str())
                        .bind(from.as_str())
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if table == "files" {
                        files = n;
                    }
                }
                tx.commit().await?;
                Ok(files)
            }
        }

        #[async_trait::async_trait]
        impl ShareRepo for $ty {
            async fn create_share(&self, s: &NewShare) -> Result<()> {
                let mut tx = self.pool.begin().await?;
                insert_share(&mut tx, s).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn share(&self, id: &ShareId) -> Result<Option<Share>> {
                sqlx::query("SELECT * FROM shares WHERE id = $1")
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await?
                    .map(|r| share_from_row(&r))
                    .transpose()
            }

            async fn shares_of_file(&self, id: &FileId) -> Result<Vec<Share>> {
                sqlx::query("SELECT * FROM shares WHERE file_id = $1 ORDER BY created_at, id")
                    .bind(id.as_str())
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(share_from_row)
                    .collect()
            }

            async fn shares_of_files(&self, ids: &[FileId]) -> Result<Vec<Share>> {
                let mut out = Vec::new();
                // In slices, under every backend's limit of bound values.
                for chunk in ids.chunks(500) {
                    let sql = format!(
                        "SELECT * FROM shares WHERE file_id IN ({}) ORDER BY created_at, id",
                        placeholders(1, chunk.len())
                    );
                    let mut q = sqlx::query(&sql);
                    for id in chunk {
                        q = q.bind(id.as_str());
                    }
                    for r in q.fetch_all(&self.pool).await? {
                        out.push(share_from_row(&r)?);
                    }
                }
                Ok(out)
            }

            async fn shares_of_folder(&self, id: &FolderId) -> Result<Vec<Share>> {
                sqlx::query("SELECT * FROM shares WHERE folder_id = $1 ORDER BY created_at, id")
                    .bind(id.as_str())
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(share_from_row)
                    .collect()
            }

            async fn delete_share(&self, id: &ShareId) -> Result<bool> {
                let r = sqlx::query("DELETE FROM shares WHERE id = $1").bind(id.as_str()).execute(&self.pool).await?;
                Ok(r.rows_affected() == 1)
            }

            async fn update_share(
                &self,
                id: &ShareId,
                rules: &ShareRules,
                password_hash: Option<Option<String>>,
            ) -> Result<bool> {
                let r = sqlx::query(
                    "UPDATE shares SET expires_at = $1, max_downloads = $2, disabled_reason = $3, \
                     password_hash = CASE WHEN $4 THEN $5 ELSE password_hash END WHERE id = $6",
                )
                .bind(rules.expires_at.map(|t| t.0))
                .bind(rules.max_downloads)
                .bind(&rules.disabled_reason)
                .bind(password_hash.is_some())
                .bind(password_hash.flatten())
                .bind(id.as_str())
                .execute(&self.pool)
                .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn count_download(&self, id: &ShareId) -> Result<bool> {
                let r = sqlx::query(
                    "UPDATE shares SET download_count = download_count + 1 \
                     WHERE id = $1 AND (max_downloads IS NULL OR download_count < max_downloads)",
                )
                .bind(id.as_str())
                .execute(&self.pool)
                .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn add_downloads(&self, id: &ShareId, n: i64) -> Result<()> {
                sqlx::query("UPDATE shares SET download_count = download_count + $1 WHERE id = $2")
                    .bind(n)
                    .bind(id.as_str())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl JobRepo for $ty {
            async fn enqueue_job(&self, kind: &str, payload: &str, run_after: Timestamp) -> Result<JobId> {
                let id: i64 = sqlx::query(
                    "INSERT INTO jobs (kind, payload, run_after, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
                )
                .bind(kind)
                .bind(payload)
                .bind(run_after.0)
                .bind(Timestamp::now().0)
                .fetch_one(&self.pool)
                .await?
                .try_get("id")?;
                Ok(JobId(id))
            }

            async fn claim_job(&self, kind_prefix: &str, now: Timestamp, lease_until: Timestamp) -> Result<Option<Job>> {
                // The lease is checked again in the outer WHERE: of two
                // workers that picked the same row, the second updates
                // nothing (PostgreSQL re-evaluates it after the first commits).
                let row = sqlx::query(
                    "UPDATE jobs SET locked_until = $1, attempts = attempts + 1
                     WHERE id = (SELECT id FROM jobs
                                 WHERE run_after <= $2 AND (locked_until IS NULL OR locked_until <= $2)
                                   AND substr(kind, 1, $3) = $4
                                 ORDER BY run_after, id LIMIT 1)
                       AND (locked_until IS NULL OR locked_until <= $2)
                     RETURNING id, kind, payload, attempts",
                )
                .bind(lease_until.0)
                .bind(now.0)
                .bind(kind_prefix.chars().count() as i32)
                .bind(kind_prefix)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| {
                    Ok(Job {
                        id: JobId(r.try_get("id")?),
                        kind: r.try_get("kind")?,
                        payload: r.try_get("payload")?,
                        attempts: r.try_get("attempts")?,
                    })
                })
                .transpose()
            }

            async fn renew_job(&self, job: &Job, lease_until: Timestamp) -> Result<bool> {
                let r = sqlx::query(
                    "UPDATE jobs SET locked_until = $1 WHERE id = $2 AND attempts = $3 AND locked_until IS NOT NULL",
                )
                .bind(lease_until.0)
                .bind(job.id.0)
                .bind(job.attempts)
                .execute(&self.pool)
                .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn finish_job(&self, id: JobId) -> Result<()> {
                sqlx::query("DELETE FROM jobs WHERE id = $1").bind(id.0).execute(&self.pool).await?;
                Ok(())
            }

            async fn retry_job(&self, id: JobId, run_after: Timestamp, error: &str) -> Result<()> {
                let error: String = error.chars().take(2000).collect();
                sqlx::query("UPDATE jobs SET locked_until = NULL, run_after = $2, last_error = $3 WHERE id = $1")
                    .bind(id.0)
                    .bind(run_after.0)
                    .bind(error)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn hasten_job(&self, kind: &str, payload: &str, run_after: Timestamp) -> Result<u64> {
                let r = sqlx::query(
                    "UPDATE jobs SET run_after = $3 WHERE kind = $1 AND payload = $2 AND run_after > $3
                       AND attempts = 0 AND locked_until IS NULL",
                )
                .bind(kind)
                .bind(payload)
                .bind(run_after.0)
                .execute(&self.pool)
                .await?;
                Ok(r.rows_affected())
            }

            async fn job_queued(&self, kind: &str, payload: &str) -> Result<bool> {
                let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM jobs WHERE kind = $1 AND payload = $2")
                    .bind(kind)
                    .bind(payload)
                    .fetch_one(&self.pool)
                    .await?
                    .try_get("n")?;
                Ok(n > 0)
            }

            async fn pending_jobs(&self) -> Result<i64> {
                Ok(sqlx::query("SELECT COUNT(*) AS n FROM jobs").fetch_one(&self.pool).await?.try_get("n")?)
            }
        }

        impl Database for $ty {
            fn backend(&self) -> Backend {
                $backend
            }
        }
    };
}

pub(crate) use impl_database;
