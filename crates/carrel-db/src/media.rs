//! What the streaming wing learned of a blob's bytes as media: one row per
//! content hash ([`MediaRepo`]). The row's JSON is the wing's own; this
//! crate stores it and gives it back.

use carrel_core::ids::BlobHash;
use carrel_core::time::Timestamp;

use crate::Result;

/// The job kind that probes a blob as audio or video (payload: its hash).
pub const JOB_MEDIA_PROBE: &str = "media.probe";

/// A probe's outcome for one blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaProbe {
    pub blob: BlobHash,
    pub outcome: ProbeOutcome,
    pub probed_at: Timestamp,
}

/// What the probe found: media (described as JSON), or why the bytes are not readable as media.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeOutcome {
    Media(String),
    Failed(String),
}

#[async_trait::async_trait]
pub trait MediaRepo {
    /// Stores (or replaces) a blob's probe.
    async fn put_media_probe(&self, p: &MediaProbe) -> Result<()>;
    /// A blob's probe, if it has been probed.
    async fn media_probe(&self, blob: &BlobHash) -> Result<Option<MediaProbe>>;
}

macro_rules! impl_media {
    ($ty:ty) => {
        mod media_impl {
            use carrel_core::ids::BlobHash;
            use carrel_core::time::Timestamp;
            use sqlx::Row;

            use $crate::backend::corrupt;
            use $crate::media::{MediaProbe, MediaRepo, ProbeOutcome};
            use $crate::{DbError, Result};

            #[async_trait::async_trait]
            impl MediaRepo for $ty {
                async fn put_media_probe(&self, p: &MediaProbe) -> Result<()> {
                    let (info, error) = match &p.outcome {
                        ProbeOutcome::Media(j) => (Some(j.as_str()), None),
                        ProbeOutcome::Failed(e) => (None, Some(e.as_str())),
                    };
                    sqlx::query(
                        "INSERT INTO media_probes (blob_hash, info, error, probed_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (blob_hash) DO UPDATE SET info = excluded.info, error = excluded.error, \
                         probed_at = excluded.probed_at",
                    )
                    .bind(p.blob.to_hex())
                    .bind(info)
                    .bind(error)
                    .bind(p.probed_at.0)
                    .execute(&self.pool)
                    .await?;
                    Ok(())
                }

                async fn media_probe(&self, blob: &BlobHash) -> Result<Option<MediaProbe>> {
                    let Some(r) = sqlx::query(
                        "SELECT blob_hash, info, error, probed_at FROM media_probes WHERE blob_hash = $1",
                    )
                    .bind(blob.to_hex())
                    .fetch_optional(&self.pool)
                    .await?
                    else {
                        return Ok(None);
                    };
                    let info: Option<String> = r.try_get("info")?;
                    let error: Option<String> = r.try_get("error")?;
                    let outcome = match (info, error) {
                        (Some(j), None) => ProbeOutcome::Media(j),
                        (None, Some(e)) => ProbeOutcome::Failed(e),
                        _ => return Err(DbError::Corrupt("media probe with both or neither of info and error".into())),
                    };
                    Ok(Some(MediaProbe {
                        blob: r.try_get::<String, _>("blob_hash")?.parse().map_err(corrupt)?,
                        outcome,
                        probed_at: Timestamp(r.try_get("probed_at")?),
                    }))
                }
            }
        }
    };
}

pub(crate) use impl_media;
