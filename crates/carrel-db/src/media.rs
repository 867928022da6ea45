//! What the streaming wing learned of a blob's bytes as media: one row per
//! content hash ([`MediaRepo`]). The row's JSON is the wing's own; this
//! crate stores it and gives it back.

use carrel_core::ids::BlobHash;
use carrel_core::time::Timestamp;

use crate::Result;

/// The job kind that probes a blob as audio or video (payload: its hash).
pub const JOB_MEDIA_PROBE: &str = "media.probe";

/// The job kind that remuxes a blob into a fragmented MP4 rendition (payload: its hash).
pub const JOB_MEDIA_REMUX: &str = "media.remux";

/// The job kind that extracts a blob's text subtitle tracks to WebVTT (payload: its hash).
pub const JOB_MEDIA_SUBTITLES: &str = "media.subtitles";

/// The job kind that makes a video's poster and seek thumbnails (payload: its hash).
pub const JOB_MEDIA_IMAGES: &str = "media.images";
/// The job kind that transcodes a blob's video into its quality ladder (payload: its hash).
pub const JOB_MEDIA_TRANSCODE: &str = "media.transcode";

/// A rendition made of a source blob (once per source hash and name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaRendition {
    pub source: BlobHash,
    /// The rendition's name within its source (`"remux"`).
    pub name: String,
    pub outcome: RenditionOutcome,
    pub made_at: Timestamp,
}

/// A made rendition: its file in the blob store and its HLS playlist; or why it could not be made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RenditionOutcome {
    Ready(RenditionFile),
    Failed(String),
}

/// A rendition's file and what players are told of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenditionFile {
    pub blob: BlobHash,
    pub size: i64,
    /// The HLS media playlist (byte ranges into the file).
    pub playlist: String,
    /// Peak bits per second, for the master playlist's BANDWIDTH.
    pub bandwidth: i64,
    /// `WIDTHxHEIGHT`, when there is video.
    pub resolution: Option<String>,
    /// RFC 6381 codecs (`avc1.64001f,mp4a.40.2`).
    pub codecs: String,
}

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
    /// Stores (or replaces) a rendition.
    async fn put_media_rendition(&self, r: &MediaRendition) -> Result<()>;
    /// A source's rendition of that name, if made (or failed).
    async fn media_rendition(
        &self,
        source: &BlobHash,
        name: &str,
    ) -> Result<Option<MediaRendition>>;
    /// Every rendition of a source (made or failed), by name.
    async fn media_renditions(&self, source: &BlobHash) -> Result<Vec<MediaRendition>>;
    /// Whether any rendition's file is this blob (so it is not a stray).
    async fn blob_is_rendition(&self, blob: &BlobHash) -> Result<bool>;
    /// Up to `limit` renditions whose source blob is no longer stored by
    /// any file (its last file was deleted): (source, name, rendition blob).
    async fn stray_renditions(
        &self,
        limit: i64,
    ) -> Result<Vec<(BlobHash, String, Option<BlobHash>)>>;
    /// Forgets a rendition (its file is the caller's to release).
    async fn delete_media_rendition(&self, source: &BlobHash, name: &str) -> Result<()>;
    /// Records how far the transcode of a source has come (0 to 1), or
    /// forgets it (`None`: finished, failed or cancelled).
    async fn put_media_progress(
        &self,
        source: &BlobHash,
        done: Option<f64>,
        at: Timestamp,
    ) -> Result<()>;
    /// How far the transcode of a source has come, while it runs.
    async fn media_progress(&self, source: &BlobHash) -> Result<Option<f64>>;
}

macro_rules! impl_media {
    ($ty:ty, $db:ty) => {
        mod media_impl {
            use carrel_core::ids::BlobHash;
            use carrel_core::time::Timestamp;
            use sqlx::Row;

            use $crate::backend::corrupt;
            use $crate::media::{
                MediaProbe, MediaRendition, MediaRepo, ProbeOutcome, RenditionFile, RenditionOutcome,
            };
            use $crate::{DbError, Result};


            /// A `media_renditions` row (name, blob_hash, error, size, playlist, bandwidth, resolution, codecs, made_at).
            fn rendition_row(source: &BlobHash, r: &<$db as sqlx::Database>::Row) -> Result<MediaRendition> {
                let blob: Option<String> = r.try_get("blob_hash")?;
                let error: Option<String> = r.try_get("error")?;
                let outcome = match (blob, error) {
                    (Some(b), None) => RenditionOutcome::Ready(RenditionFile {
                        blob: b.parse().map_err(corrupt)?,
                        size: r.try_get("size")?,
                        playlist: r.try_get("playlist")?,
                        bandwidth: r.try_get("bandwidth")?,
                        resolution: r.try_get("resolution")?,
                        codecs: r.try_get("codecs")?,
                    }),
                    (None, Some(e)) => RenditionOutcome::Failed(e),
                    _ => return Err(DbError::Corrupt("media rendition with both or neither of blob and error".into())),
                };
                Ok(MediaRendition {
                    source: *source,
                    name: r.try_get("name")?,
                    outcome,
                    made_at: Timestamp(r.try_get("made_at")?),
                })
            }

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

                async fn put_media_rendition(&self, m: &MediaRendition) -> Result<()> {
                    let empty = RenditionFile {
                        blob: m.source,
                        size: 0,
                        playlist: String::new(),
                        bandwidth: 0,
                        resolution: None,
                        codecs: String::new(),
                    };
                    let (f, blob, error) = match &m.outcome {
                        RenditionOutcome::Ready(f) => (f, Some(f.blob.to_hex()), None),
                        RenditionOutcome::Failed(e) => (&empty, None, Some(e.as_str())),
                    };
                    sqlx::query(
                        "INSERT INTO media_renditions (source_hash, name, blob_hash, error, size, playlist, \
                         bandwidth, resolution, codecs, made_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                         ON CONFLICT (source_hash, name) DO UPDATE SET blob_hash = excluded.blob_hash, \
                         error = excluded.error, size = excluded.size, playlist = excluded.playlist, \
                         bandwidth = excluded.bandwidth, resolution = excluded.resolution, \
                         codecs = excluded.codecs, made_at = excluded.made_at",
                    )
                    .bind(m.source.to_hex())
                    .bind(&m.name)
                    .bind(blob)
                    .bind(error)
                    .bind(f.size)
                    .bind(&f.playlist)
                    .bind(f.bandwidth)
                    .bind(f.resolution.as_deref())
                    .bind(&f.codecs)
                    .bind(m.made_at.0)
                    .execute(&self.pool)
                    .await?;
                    Ok(())
                }

                async fn media_rendition(
                    &self,
                    source: &BlobHash,
                    name: &str,
                ) -> Result<Option<MediaRendition>> {
                    let Some(r) = sqlx::query(
                        "SELECT name, blob_hash, error, size, playlist, bandwidth, resolution, codecs, made_at \
                         FROM media_renditions WHERE source_hash = $1 AND name = $2",
                    )
                    .bind(source.to_hex())
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await?
                    else {
                        return Ok(None);
                    };
                    rendition_row(source, &r).map(Some)
                }

                async fn media_renditions(&self, source: &BlobHash) -> Result<Vec<MediaRendition>> {
                    let rows = sqlx::query(
                        "SELECT name, blob_hash, error, size, playlist, bandwidth, resolution, codecs, made_at \
                         FROM media_renditions WHERE source_hash = $1 ORDER BY name",
                    )
                    .bind(source.to_hex())
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter().map(|r| rendition_row(source, r)).collect()
                }
                async fn stray_renditions(
                    &self,
                    limit: i64,
                ) -> Result<Vec<(BlobHash, String, Option<BlobHash>)>> {
                    let rows = sqlx::query(
                        "SELECT r.source_hash, r.name, r.blob_hash FROM media_renditions r \
                         WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.hash = r.source_hash) LIMIT $1",
                    )
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter()
                        .map(|r| {
                            let s: String = r.try_get("source_hash")?;
                            let b: Option<String> = r.try_get("blob_hash")?;
                            Ok((
                                s.parse().map_err(corrupt)?,
                                r.try_get("name")?,
                                b.map(|b| b.parse().map_err(corrupt)).transpose()?,
                            ))
                        })
                        .collect()
                }

                async fn delete_media_rendition(&self, source: &BlobHash, name: &str) -> Result<()> {
                    sqlx::query("DELETE FROM media_renditions WHERE source_hash = $1 AND name = $2")
                        .bind(source.to_hex())
                        .bind(name)
                        .execute(&self.pool)
                        .await?;
                    Ok(())
                }

                async fn put_media_progress(
                    &self,
                    source: &BlobHash,
                    done: Option<f64>,
                    at: Timestamp,
                ) -> Result<()> {
                    match done {
                        Some(d) => {
                            sqlx::query(
                                "INSERT INTO media_progress (source_hash, done, updated_at) VALUES ($1, $2, $3) \
                                 ON CONFLICT (source_hash) DO UPDATE SET done = excluded.done, \
                                 updated_at = excluded.updated_at",
                            )
                            .bind(source.to_hex())
                            .bind(d.clamp(0.0, 1.0))
                            .bind(at.0)
                            .execute(&self.pool)
                            .await?;
                        }
                        None => {
                            sqlx::query("DELETE FROM media_progress WHERE source_hash = $1")
                                .bind(source.to_hex())
                                .execute(&self.pool)
                                .await?;
                        }
                    }
                    Ok(())
                }

                async fn media_progress(&self, source: &BlobHash) -> Result<Option<f64>> {
                    Ok(sqlx::query_scalar("SELECT done FROM media_progress WHERE source_hash = $1")
                        .bind(source.to_hex())
                        .fetch_optional(&self.pool)
                        .await?)
                }

                async fn blob_is_rendition(&self, blob: &BlobHash) -> Result<bool> {
                    let n: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM media_renditions WHERE blob_hash = $1",
                    )
                    .bind(blob.to_hex())
                    .fetch_one(&self.pool)
                    .await?;
                    Ok(n > 0)
                }
            }
        }
    };
}

pub(crate) use impl_media;
