//! The streaming wing: what hosted audio and video are and how browsers get
//! to play them. This slice: a durable `media.probe` job per stored file
//! whose bytes could be media ([`sniff`]); the probe ([`probe`]: ffprobe,
//! bounded in time, memory and output) parsed into [`info::MediaInfo`] and
//! stored once per content hash; the decision ([`decide`]: direct play,
//! remux or transcode, after Jellyfin's); SubRip to WebVTT ([`subtitles`]);
//! and [`carrel_http::media::MediaFacts`] for the hosting wing's share pages
//! and JSON. `info`, `decide`, `sniff` and `subtitles` are pure.
//!
//! Only this crate spawns ffmpeg's tools. It sees hosted files only as blobs
//! (by hash, through `BlobStore`), never through the hosting wing.

pub mod decide;
pub mod error;
pub mod info;
pub mod probe;
pub mod sniff;
pub mod subtitles;
mod view;

use std::sync::Arc;
use std::time::Duration;

use carrel_blob::BlobStore;
use carrel_core::ids::BlobHash;
use carrel_core::media::MediaType;
use carrel_core::time::Timestamp;
use carrel_db::{Database, JOB_MEDIA_PROBE, Job, JobRun, MediaProbe, ProbeOutcome, run_next_job};
use carrel_http::media::{FollowUp, HEAD_BYTES, MediaFacts, MediaView, StoredFile};
use carrel_http::serve::read_head;

use crate::error::{Result, StreamingError};
use crate::probe::ProbeConfig;

/// The namespace of this wing's job kinds (what its worker claims).
pub const JOB_PREFIX: &str = "media.";
/// How long a claimed job is reserved for its worker (well above a probe's time bound).
const LEASE: Duration = Duration::from_secs(120);

/// The wing's configuration (`[streaming]` in the settings).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamingConfig {
    /// How ffprobe is run (`[streaming.probe]`).
    pub probe: ProbeConfig,
}

/// The wing's shared state.
pub struct Streaming {
    pub db: Arc<dyn Database>,
    pub store: Arc<dyn BlobStore>,
    pub config: StreamingConfig,
}

/// Whether a file's type says it is audio or video (the name's or client's word; not trusted).
fn typed_as_media(t: &MediaType) -> bool {
    matches!(t.top(), "audio" | "video")
}

/// Whether a stored file gets a probe job: its first bytes are a media
/// container, or its type says audio or video (so a file that claims to be
/// media and is not gets a clear "could not read" rather than silence).
/// The probe itself runs only on bytes that sniff as media.
pub fn worth_probing(media_type: &MediaType, head: &[u8]) -> bool {
    sniff::sniff(head).is_some() || typed_as_media(media_type)
}

/// Probe attempts that may time out (a busy machine) before a timeout is
/// taken to be the file's doing and recorded.
const TIMEOUTS_BEFORE_FAILURE: i64 = 3;

/// Back-off before attempt `attempts + 1` of a job that failed for the server's reasons.
fn retry_delay(attempts: i64) -> Duration {
    Duration::from_secs((30 * attempts.clamp(1, 120) as u64).min(3600))
}

impl Streaming {
    pub fn new(
        db: Arc<dyn Database>,
        store: Arc<dyn BlobStore>,
        config: StreamingConfig,
    ) -> Arc<Self> {
        Arc::new(Self { db, store, config })
    }

    /// Runs this wing's due jobs, one at a time (a probe is heavy; the
    /// queue is the bound on concurrency), every second until `shutdown`.
    pub async fn run_worker(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => break,
            }
            loop {
                let done = tokio::select! {
                    r = self.run_one(Timestamp::now()) => r,
                    _ = shutdown.changed() => return,
                };
                match done {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "the media job queue could not be read");
                        break;
                    }
                }
            }
        }
    }

    /// Claims and runs one due job of this wing; false when none was due.
    pub async fn run_one(&self, now: Timestamp) -> Result<bool> {
        let run = |job: Job| async move { self.run_job(&job).await };
        let ran = run_next_job(&*self.db, JOB_PREFIX, now, LEASE, retry_delay, run).await?;
        Ok(ran != JobRun::NoneDue)
    }

    async fn run_job(&self, job: &Job) -> Result<()> {
        match job.kind.as_str() {
            JOB_MEDIA_PROBE => {
                let hash: BlobHash = job.payload.parse().map_err(|_| {
                    StreamingError::BadJob(format!("media.probe with payload {:?}", job.payload))
                })?;
                self.probe_blob(&hash, job.attempts).await
            }
            other => Err(StreamingError::BadJob(format!("unknown kind {other:?}"))),
        }
    }

    /// Probes a blob unless it was probed already (the same bytes once) or
    /// is gone. `attempt` counts from 1 (a timeout is retried, then recorded).
    pub async fn probe_blob(&self, hash: &BlobHash, attempt: i64) -> Result<()> {
        if self.db.media_probe(hash).await?.is_some() {
            tracing::info!(blob = %hash, "already probed; the same bytes are probed once");
            return Ok(());
        }
        if !self.store.exists(hash).await? {
            tracing::info!(blob = %hash, "blob deleted before its probe; nothing to do");
            return Ok(());
        }
        let outcome = match self.examine(hash).await {
            Ok(info) => {
                ProbeOutcome::Media(serde_json::to_string(&info).expect("MediaInfo serializes"))
            }
            Err(e @ StreamingError::TimedOut(_)) if attempt < TIMEOUTS_BEFORE_FAILURE => {
                return Err(e);
            }
            Err(e) if e.is_the_files() => ProbeOutcome::Failed(e.to_string()),
            Err(e) => return Err(e),
        };
        match &outcome {
            ProbeOutcome::Media(_) => tracing::info!(blob = %hash, "media probed"),
            ProbeOutcome::Failed(why) => {
                tracing::info!(blob = %hash, %why, "not readable as media")
            }
        }
        self.db
            .put_media_probe(&MediaProbe {
                blob: *hash,
                outcome,
                probed_at: Timestamp::now(),
            })
            .await?;
        Ok(())
    }

    /// Sniffs the blob's first bytes, then probes it if they could be media.
    async fn examine(&self, hash: &BlobHash) -> Result<info::MediaInfo> {
        let path = self
            .store
            .local_path(hash)
            .ok_or(StreamingError::NoLocalFile)?;
        let size = tokio::fs::metadata(&path).await?.len();
        if size == 0 {
            return Err(StreamingError::Empty);
        }
        let head = read_head(&*self.store, hash, size, HEAD_BYTES as u64).await?;
        let Some(sniffed) = sniff::sniff(&head) else {
            return Err(StreamingError::NotMedia(
                "its bytes are not an audio or video container".into(),
            ));
        };
        probe::probe(&self.config.probe, &path, Some(&sniffed)).await
    }
}

#[async_trait::async_trait]
impl MediaFacts for Streaming {
    fn follow_ups(&self, file: &StoredFile<'_>) -> Vec<FollowUp> {
        if worth_probing(file.media_type, file.head) {
            vec![FollowUp {
                kind: JOB_MEDIA_PROBE.into(),
                payload: file.blob.to_hex(),
            }]
        } else {
            Vec::new()
        }
    }

    async fn view(&self, blob: &BlobHash, media_type: &MediaType) -> Option<MediaView> {
        let row = match self.db.media_probe(blob).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, blob = %blob, "media probe could not be read");
                return None;
            }
        };
        // The same bytes may be stored under other names and types: a
        // failure is news only on a file that claims to be audio or video.
        match row {
            None if typed_as_media(media_type) => Some(view::pending()),
            Some(p)
                if typed_as_media(media_type) || matches!(p.outcome, ProbeOutcome::Media(_)) =>
            {
                Some(view::of_probe(&p))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probed_by_bytes_or_by_type() {
        let t = |s: &str| MediaType::new(s).unwrap();
        let mp4 = b"\0\0\0\x20ftypisom\0\0\x02\0";
        assert!(worth_probing(&t("image/png"), mp4), "a video named .png");
        assert!(worth_probing(&t("application/octet-stream"), b"ID3\x04\0"));
        assert!(
            worth_probing(&t("video/webm"), b""),
            "an empty .webm is reported"
        );
        assert!(worth_probing(&t("audio/mpeg"), b"hello"));
        assert!(!worth_probing(&t("image/png"), b"\x89PNG\r\n\x1a\n"));
        assert!(!worth_probing(&t("text/plain"), b"hello"));
        assert!(!worth_probing(&t("application/pdf"), b"%PDF-1.7"));
    }
}
