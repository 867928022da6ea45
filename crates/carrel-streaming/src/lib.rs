//! The streaming wing: what hosted audio and video are and how browsers get
//! to play them. This slice: a durable `media.probe` job per stored file
//! whose bytes could be media ([`sniff`]); the probe ([`probe`]: ffprobe,
//! bounded in time, memory and output) parsed into [`info::MediaInfo`] and
//! stored once per content hash; the decision ([`decide`]: direct play,
//! remux or transcode, after Jellyfin's); SubRip to WebVTT ([`subtitles`]);
//! and [`carrel_http::media::MediaFacts`] for the hosting wing's share pages
//! and JSON. Files to be remuxed get a `media.remux` job after their probe
//! ([`remux`]: ffmpeg copies the streams into one fragmented MP4, bounded
//! like the probe), whose fragments [`fmp4`] reads into an HLS playlist
//! ([`hls`]); the rendition is a blob, once per source hash, served under
//! the share link by [`web`] through the hosting wing's
//! [`carrel_http::media::ShareGate`]. After a probe, `media.subtitles`
//! extracts the embedded text subtitle tracks to WebVTT ([`tracks`]) and
//! `media.images` makes a video's poster, seek-thumbnail sprite and WebVTT
//! thumbnail track ([`images`]), each output a blob once per source hash;
//! sidecar `.srt`/`.vtt` files (found by the hosting wing beside the video)
//! join the embedded tracks, and all of them are served under the share
//! link, named in the HLS master playlist's subtitles group and given to
//! the share page's player. `info`, `decide`, `sniff`, `hls`, `subtitles`
//! and the track list are pure.
//!
//! Every video also gets a `media.transcode` job: one ffmpeg run
//! ([`transcode`]) makes its quality ladder ([`ladder`]: H.264/AAC rungs
//! capped at the source's height, each one fragmented MP4 with keyframes on
//! the segment boundaries), on workers of their own with bounded
//! concurrency, first for a video someone is waiting for, cancelled when
//! its file is deleted, its progress stored, its job's lease short and
//! renewed while ffmpeg runs; its playlists are written from the probe, so
//! [`web`] serves segments from the growing files while ffmpeg runs. Audio
//! that browsers do not decode gets an audio ladder the same way (AAC
//! rungs capped at the source's bit rate), listed once made. The share
//! page's player offers the made rungs in a quality menu
//! (`static/player.js`). Every tool runs through [`tool::run`] (limits,
//! time bound, cancellation, stderr's tail). `info`, `decide`, `sniff`,
//! `hls`, `ladder` and `subtitles` are pure.
//!
//! Only this crate spawns ffmpeg's tools. It sees hosted files only as blobs
//! (by hash, through `BlobStore`), never through the hosting wing.

pub mod decide;
pub mod error;
mod ffmpeg;
pub mod fmp4;
pub mod hls;
pub mod images;
pub mod info;
pub mod ladder;
mod memo;
pub mod probe;
pub mod remux;
pub mod sniff;
pub mod subtitles;
pub mod tool;
pub mod tracks;
pub mod transcode;
mod view;
pub mod web;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use carrel_blob::BlobStore;
use carrel_core::ids::BlobHash;
use carrel_core::media::MediaType;
use carrel_core::time::Timestamp;
use carrel_db::{
    Database, JOB_MEDIA_IMAGES, JOB_MEDIA_PROBE, JOB_MEDIA_REMUX, JOB_MEDIA_SUBTITLES,
    JOB_MEDIA_TRANSCODE, Job, JobRun, MediaProbe, MediaRendition, ProbeOutcome, RenditionFile,
    RenditionOutcome, run_next_job,
};
use carrel_http::media::{
    FollowUp, HEAD_BYTES, MediaFacts, MediaView, ShareGate, Sidecar, StoredFile,
};
use carrel_http::serve::read_head;

use crate::decide::{Decision, Target};
use crate::error::{Result, StreamingError};
use crate::probe::ProbeConfig;
use crate::remux::RemuxConfig;
use crate::transcode::{Live, TranscodeConfig};

/// The name of the remuxed rendition (its playlist and file are `remux.m3u8` and `remux.mp4`).
pub const REMUX: &str = "remux";

/// How long a claimed probe, remux, subtitle or picture job is reserved for
/// its worker; renewed every third of it while the job runs
/// ([`carrel_db::run_next_job`]'s heartbeat), so a crashed worker's job is
/// taken again within two minutes.
const LEASE: Duration = Duration::from_secs(120);

/// The wing's configuration (`[streaming]` in the settings).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamingConfig {
    /// How ffprobe is run (`[streaming.probe]`).
    pub probe: ProbeConfig,
    /// How ffmpeg makes renditions (`[streaming.remux]`).
    pub remux: RemuxConfig,
    /// How ffmpeg makes the quality ladder (`[streaming.transcode]`).
    pub transcode: TranscodeConfig,
    /// Seconds between sweeps of renditions whose source's last file was deleted.
    pub sweep_secs: u32,
}

impl Default for StreamingConfig {
    fn default() -> Self {
        Self {
            probe: ProbeConfig::default(),
            remux: RemuxConfig::default(),
            transcode: TranscodeConfig::default(),
            sweep_secs: 60,
        }
    }
}

/// The wing's shared state.
pub struct Streaming {
    pub db: Arc<dyn Database>,
    pub store: Arc<dyn BlobStore>,
    pub config: StreamingConfig,
    /// The hosting wing's share-link rules (set by the server).
    gate: OnceLock<Arc<dyn ShareGate>>,
    /// Probes and made renditions the share-link routes read, in memory.
    memo: memo::Memo,
    /// Transcodes running in this process, by source hash.
    live: Mutex<HashMap<BlobHash, Arc<Live>>>,
    /// Wakes the probe worker (a stored file may have queued a probe).
    wake_probe: tokio::sync::Notify,
    /// Wakes the transcode workers (a transcode was queued or hastened).
    wake_transcode: tokio::sync::Notify,
}

/// Whether a probed file gets the quality ladder (it has a video stream of
/// known size) or the audio ladder (audio browsers do not play).
pub fn wants_ladder(info: &info::MediaInfo) -> bool {
    !ladder::ladder(info).is_empty()
}

/// The rendition names of a file's ladder (`360p`, …).
pub fn ladder_names(info: &info::MediaInfo) -> Vec<String> {
    ladder::ladder(info)
        .iter()
        .map(ladder::Rung::name)
        .collect()
}

/// Whether the probe's decision is a remux into MP4 (the one rendition this wing makes yet).
pub fn needs_remux(info: &info::MediaInfo) -> bool {
    matches!(decide::decide(info), Decision::Remux { to: Target::Mp4 })
}

/// Whether a file's type says it is audio or video (the name's or client's word; not trusted).
pub(crate) fn typed_as_media(t: &MediaType) -> bool {
    matches!(t.top(), "audio" | "video")
}

/// Whether a stored file gets a probe job: its first bytes are a media
/// container, or its type says audio or video (so a file that claims to be
/// media and is not gets a clear "could not read" rather than silence).
/// The probe itself runs only on bytes that sniff as media.
pub fn worth_probing(media_type: &MediaType, head: &[u8]) -> bool {
    sniff::sniff(head).is_some() || typed_as_media(media_type)
}

/// How far back a hastened job's due time goes (a century, in seconds).
const HASTENED_BY_SECS: i64 = 100 * 365 * 86_400;

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
        Arc::new(Self {
            db,
            store,
            config,
            gate: OnceLock::new(),
            memo: memo::Memo::new(),
            live: Mutex::new(HashMap::new()),
            wake_probe: tokio::sync::Notify::new(),
            wake_transcode: tokio::sync::Notify::new(),
        })
    }

    /// Hands the wing the hosting wing's share-link rules (once).
    pub fn set_gate(&self, g: Arc<dyn ShareGate>) {
        let _ = self.gate.set(g);
    }

    pub(crate) fn gate(&self) -> Option<&Arc<dyn ShareGate>> {
        self.gate.get()
    }

    /// Runs this wing's due jobs until `shutdown`: probes and remuxes one
    /// at a time (each is short), and transcodes on workers of their own
    /// (`transcode.concurrency`, default 1), so a long transcode never holds
    /// up the probe of the next upload.
    pub async fn run_worker(self: Arc<Self>, shutdown: tokio::sync::watch::Receiver<bool>) {
        let workers: Vec<_> = (0..self.config.transcode.concurrency.max(1))
            .map(|_| tokio::spawn(self.clone().run_transcodes(shutdown.clone())))
            .collect();
        self.run_probes(shutdown).await;
        for w in workers {
            let _ = w.await;
        }
    }

    /// Probes and remuxes (and the sweep), every second and soon after a
    /// stored file named a probe.
    async fn run_probes(&self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut last_sweep = Instant::now();
        // Every wake-up comes after its job's commit (the upload's, or this
        // worker's own), so one look finds it; a job another process queued
        // waits for the tick.
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = self.wake_probe.notified() => {}
                _ = shutdown.changed() => break,
            }
            if last_sweep.elapsed() >= Duration::from_secs(self.config.sweep_secs.max(1) as u64) {
                last_sweep = Instant::now();
                if let Err(e) = self.sweep_renditions().await {
                    tracing::warn!(error = %e, "stray renditions could not be swept");
                }
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

    /// One transcode worker: claims `media.transcode` jobs, every second
    /// and when one is queued or hastened.
    async fn run_transcodes(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        // Short, and renewed while ffmpeg runs: a crashed worker's transcode is taken again soon.
        let lease = Duration::from_secs(self.config.transcode.lease_secs.max(1));
        let this = &*self;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = self.wake_transcode.notified() => {}
                _ = shutdown.changed() => break,
            }
            loop {
                let run = |job: Job| async move { this.run_job(&job).await };
                let next = run_next_job(
                    &*this.db,
                    JOB_MEDIA_TRANSCODE,
                    Timestamp::now(),
                    lease,
                    retry_delay,
                    run,
                );
                // Shutting down drops the run: ffmpeg is killed, its files removed.
                let done = tokio::select! {
                    r = next => r,
                    _ = shutdown.changed() => return,
                };
                match done {
                    Ok(JobRun::NoneDue) => break,
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "the transcode queue could not be read");
                        break;
                    }
                }
            }
        }
    }

    /// Claims and runs one due job of the main worker (a probe, a remux,
    /// subtitle extraction or pictures: all but transcodes, which have
    /// workers of their own); false when none was due.
    pub async fn run_one(&self, now: Timestamp) -> Result<bool> {
        for kind in [
            JOB_MEDIA_PROBE,
            JOB_MEDIA_REMUX,
            JOB_MEDIA_SUBTITLES,
            JOB_MEDIA_IMAGES,
        ] {
            let run = |job: Job| async move { self.run_job(&job).await };
            let ran = run_next_job(&*self.db, kind, now, LEASE, retry_delay, run).await?;
            if ran != JobRun::NoneDue {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn run_job(&self, job: &Job) -> Result<()> {
        match job.kind.as_str() {
            JOB_MEDIA_PROBE => {
                let hash: BlobHash = job.payload.parse().map_err(|_| {
                    StreamingError::BadJob(format!("media.probe with payload {:?}", job.payload))
                })?;
                self.probe_blob(&hash, job.attempts).await
            }
            JOB_MEDIA_REMUX => {
                let hash: BlobHash = job.payload.parse().map_err(|_| {
                    StreamingError::BadJob(format!("media.remux with payload {:?}", job.payload))
                })?;
                self.remux_blob(&hash, job.attempts).await
            }
            JOB_MEDIA_SUBTITLES | JOB_MEDIA_IMAGES => {
                let hash: BlobHash = job.payload.parse().map_err(|_| {
                    StreamingError::BadJob(format!("{} with payload {:?}", job.kind, job.payload))
                })?;
                if job.kind == JOB_MEDIA_SUBTITLES {
                    self.subtitles_blob(&hash, job.attempts).await
                } else {
                    self.images_blob(&hash, job.attempts).await
                }
            }
            JOB_MEDIA_TRANSCODE => {
                let hash: BlobHash = job.payload.parse().map_err(|_| {
                    StreamingError::BadJob(format!(
                        "media.transcode with payload {:?}",
                        job.payload
                    ))
                })?;
                self.transcode_blob(&hash).await
            }
            other => Err(StreamingError::BadJob(format!("unknown kind {other:?}"))),
        }
    }

    /// Probes a blob unless it was probed already (the same bytes once) or
    /// is gone. `attempt` counts from 1 (a timeout is retried, then recorded).
    pub async fn probe_blob(&self, hash: &BlobHash, attempt: i64) -> Result<()> {
        if let Some(p) = self.db.media_probe(hash).await? {
            tracing::info!(blob = %hash, "already probed; the same bytes are probed once");
            // Its renditions may have been swept with an earlier copy's last file.
            return self.queue_renditions(hash, &p.outcome).await;
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
                outcome: outcome.clone(),
                probed_at: Timestamp::now(),
            })
            .await?;
        self.memo.forget_probe(hash);
        self.queue_renditions(hash, &outcome).await
    }

    /// Queues what a probed blob needs and does not have yet (each job
    /// checks again): its remux when the decision is one, the extraction of
    /// its subtitle tracks, its poster and seek thumbnails and its quality
    /// ladder when it is video.
    async fn queue_renditions(&self, hash: &BlobHash, outcome: &ProbeOutcome) -> Result<()> {
        let ProbeOutcome::Media(j) = outcome else {
            return Ok(());
        };
        let Ok(info) = serde_json::from_str::<info::MediaInfo>(j) else {
            return Ok(());
        };
        if needs_remux(&info) && self.db.media_rendition(hash, REMUX).await?.is_none() {
            self.db
                .enqueue_job(JOB_MEDIA_REMUX, &hash.to_hex(), Timestamp::now())
                .await?;
            tracing::info!(blob = %hash, "remux queued");
        }
        if let Some(first) = info.subtitles().next()
            && self
                .db
                .media_rendition(hash, &tracks::rendition_name(first.index))
                .await?
                .is_none()
        {
            self.db
                .enqueue_job(JOB_MEDIA_SUBTITLES, &hash.to_hex(), Timestamp::now())
                .await?;
            tracing::info!(blob = %hash, "subtitle extraction queued");
        }
        if info.video().is_some()
            && self
                .db
                .media_rendition(hash, images::THUMBS)
                .await?
                .is_none()
        {
            self.db
                .enqueue_job(JOB_MEDIA_IMAGES, &hash.to_hex(), Timestamp::now())
                .await?;
            tracing::info!(blob = %hash, "poster and thumbnails queued");
        }
        if wants_ladder(&info) && !self.ladder_settled(hash, &info).await? {
            let payload = hash.to_hex();
            let running = self.live.lock().expect("live lock").contains_key(hash);
            if !running && !self.db.job_queued(JOB_MEDIA_TRANSCODE, &payload).await? {
                self.db
                    .enqueue_job(JOB_MEDIA_TRANSCODE, &payload, Timestamp::now())
                    .await?;
                tracing::info!(blob = %hash, "transcode queued");
                self.wake_transcode.notify_one();
            }
        }
        Ok(())
    }

    /// The stored probe of a blob that a rendition job needs.
    async fn probed_info(&self, hash: &BlobHash, kind: &str) -> Result<info::MediaInfo> {
        let Some(ProbeOutcome::Media(j)) = self.db.media_probe(hash).await?.map(|p| p.outcome)
        else {
            return Err(StreamingError::BadJob(format!("{kind} before a probe")));
        };
        serde_json::from_str(&j)
            .map_err(|e| StreamingError::BadJob(format!("stored probe unreadable: {e}")))
    }

    /// Stores a staged file as a rendition's blob (and removes the staged copy).
    async fn store_rendition(
        &self,
        source: &BlobHash,
        name: &str,
        staged: &std::path::Path,
        resolution: Option<String>,
    ) -> Result<()> {
        let ingested = self.store.ingest(staged, None).await;
        let _ = tokio::fs::remove_file(staged).await;
        let ingested = ingested?;
        self.put_rendition(&MediaRendition {
            source: *source,
            name: name.into(),
            outcome: RenditionOutcome::Ready(RenditionFile {
                blob: ingested.hash,
                size: ingested.size as i64,
                playlist: String::new(),
                bandwidth: 0,
                resolution,
                codecs: String::new(),
            }),
            made_at: Timestamp::now(),
        })
        .await?;
        Ok(())
    }

    async fn rendition_failed(&self, source: &BlobHash, name: &str, why: &str) -> Result<()> {
        tracing::info!(blob = %source, rendition = name, %why, "rendition not made");
        self.put_rendition(&MediaRendition {
            source: *source,
            name: name.into(),
            outcome: RenditionOutcome::Failed(why.into()),
            made_at: Timestamp::now(),
        })
        .await?;
        Ok(())
    }

    /// Extracts a blob's embedded text subtitle tracks to WebVTT (one
    /// ffmpeg run), each a rendition `subs.{stream}`; image tracks are
    /// recorded as skipped, with why. Once per source hash; `attempt` counts from 1.
    pub async fn subtitles_blob(&self, hash: &BlobHash, attempt: i64) -> Result<()> {
        let info = self.probed_info(hash, JOB_MEDIA_SUBTITLES).await?;
        let subs: Vec<&info::Stream> = info.subtitles().take(tracks::MAX_TRACKS).collect();
        let Some(first) = subs.first() else {
            return Ok(());
        };
        if self
            .db
            .media_rendition(hash, &tracks::rendition_name(first.index))
            .await?
            .is_some()
        {
            tracing::info!(blob = %hash, "subtitles already extracted; once per content");
            return Ok(());
        }
        if !self.store.exists(hash).await? {
            return Ok(());
        }
        let mut text = Vec::new();
        for s in &subs {
            match tracks::skipped(&s.codec) {
                Some(why) => {
                    self.rendition_failed(hash, &tracks::rendition_name(s.index), &why)
                        .await?
                }
                None => text.push(s.index),
            }
        }
        if text.is_empty() {
            return Ok(());
        }
        let input = self
            .store
            .local_path(hash)
            .ok_or(StreamingError::NoLocalFile)?;
        let made = tracks::extract(
            &self.config.remux,
            &input,
            self.store.staging_dir(),
            &hash.to_hex(),
            &text,
        )
        .await;
        match made {
            Ok(paths) => {
                for (stream, path) in text.iter().zip(paths) {
                    self.store_rendition(hash, &tracks::rendition_name(*stream), &path, None)
                        .await?;
                }
                tracing::info!(blob = %hash, tracks = text.len(), "subtitles extracted");
                Ok(())
            }
            Err(e @ StreamingError::TimedOut(_)) if attempt < TIMEOUTS_BEFORE_FAILURE => Err(e),
            Err(e) if e.is_the_files() => {
                for stream in &text {
                    self.rendition_failed(hash, &tracks::rendition_name(*stream), &e.to_string())
                        .await?;
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Makes a video's poster, sprite and thumbnail track (renditions
    /// `poster`, `sprite`, `thumbs`). Once per source hash; `attempt` counts from 1.
    pub async fn images_blob(&self, hash: &BlobHash, attempt: i64) -> Result<()> {
        if self
            .db
            .media_rendition(hash, images::THUMBS)
            .await?
            .is_some()
        {
            tracing::info!(blob = %hash, "pictures already made; once per content");
            return Ok(());
        }
        if !self.store.exists(hash).await? {
            return Ok(());
        }
        let info = self.probed_info(hash, JOB_MEDIA_IMAGES).await?;
        if info.video().is_none() {
            return Ok(());
        }
        let input = self
            .store
            .local_path(hash)
            .ok_or(StreamingError::NoLocalFile)?;
        let dir = self.store.staging_dir();
        let hex = hash.to_hex();
        let duration = info.video_duration().filter(|d| d.is_finite() && *d > 0.0);
        // The poster first (one frame): a file waiting for its ladder shows it.
        if self
            .db
            .media_rendition(hash, images::POSTER)
            .await?
            .is_none()
        {
            let at = duration.map_or(0.0, |d| d / 10.0);
            let out = ffmpeg::staged(dir, "poster", &hex, "jpg");
            let made = async {
                images::poster(&self.config.remux, &input, at, &out).await?;
                images::dimensions(&out).await
            }
            .await;
            match made {
                Ok((w, h)) => {
                    self.store_rendition(hash, images::POSTER, &out, Some(format!("{w}x{h}")))
                        .await?;
                    tracing::info!(blob = %hash, "poster made");
                }
                Err(e) => {
                    let _ = tokio::fs::remove_file(&out).await;
                    match e {
                        e @ StreamingError::TimedOut(_) if attempt < TIMEOUTS_BEFORE_FAILURE => {
                            return Err(e);
                        }
                        e if e.is_the_files() => {
                            self.rendition_failed(hash, images::POSTER, &e.to_string())
                                .await?
                        }
                        e => return Err(e),
                    }
                }
            }
        }
        // The seek thumbnails wait for a ladder being made: decoding the
        // whole video beside the transcode slows what someone is waiting to
        // watch (BENCHMARKS.md). The transcode queues this job again when
        // it ends (`transcode_blob`); the poster is made at once.
        if self.transcode_pending(hash, &info).await? {
            tracing::info!(blob = %hash, "seek thumbnails after the ladder");
            return Ok(());
        }
        // The sprite, then its track, whose row says the job is done.
        let sprite = async {
            let Some(plan) = duration.and_then(images::SpritePlan::for_duration) else {
                return Err(StreamingError::Unreadable(
                    "the file does not record its duration: no seek thumbnails".into(),
                ));
            };
            let out = ffmpeg::staged(dir, "sprite", &hex, "jpg");
            if let Err(e) = images::sprite(&self.config.remux, &input, &plan, &out).await {
                let _ = tokio::fs::remove_file(&out).await;
                return Err(e);
            }
            let (w, h) = match images::dimensions(&out).await {
                Ok(d) => d,
                Err(e) => {
                    let _ = tokio::fs::remove_file(&out).await;
                    return Err(e);
                }
            };
            Ok((plan, out, w, h))
        }
        .await;
        match sprite {
            Ok((plan, out, w, h)) => {
                let (tw, th) = (w / plan.columns, h / plan.rows);
                let vtt =
                    images::thumbnails_vtt(&plan, tw, th, duration.unwrap_or(0.0), "sprite.jpg");
                self.store_rendition(hash, images::SPRITE, &out, Some(format!("{w}x{h}")))
                    .await?;
                let vtt_path = ffmpeg::staged(dir, "thumbs", &hex, "vtt");
                tokio::fs::write(&vtt_path, vtt).await?;
                self.store_rendition(hash, images::THUMBS, &vtt_path, Some(format!("{tw}x{th}")))
                    .await?;
                tracing::info!(blob = %hash, "seek thumbnails made");
            }
            Err(e @ StreamingError::TimedOut(_)) if attempt < TIMEOUTS_BEFORE_FAILURE => {
                return Err(e);
            }
            Err(e) if e.is_the_files() => {
                self.rendition_failed(hash, images::SPRITE, &e.to_string())
                    .await?;
                self.rendition_failed(hash, images::THUMBS, &e.to_string())
                    .await?;
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Whether a ladder for this blob is being made or waits its turn.
    async fn transcode_pending(&self, hash: &BlobHash, info: &info::MediaInfo) -> Result<bool> {
        if !wants_ladder(info) || self.ladder_settled(hash, info).await? {
            return Ok(false);
        }
        let running = self.live.lock().expect("live lock").contains_key(hash);
        Ok(running
            || self
                .db
                .job_queued(JOB_MEDIA_TRANSCODE, &hash.to_hex())
                .await?)
    }

    /// Whether every rung of a blob's ladder is made or failed.
    async fn ladder_settled(&self, hash: &BlobHash, info: &info::MediaInfo) -> Result<bool> {
        for name in ladder_names(info) {
            if self.db.media_rendition(hash, &name).await?.is_none() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Moves a blob's queued transcode to the front: someone is waiting to watch it.
    pub(crate) async fn hasten(&self, hash: &BlobHash) {
        match self
            .db
            .hasten_job(
                JOB_MEDIA_TRANSCODE,
                &hash.to_hex(),
                // Before every job queued the ordinary way, after those
                // hastened earlier: first asked, first made.
                Timestamp(Timestamp::now().0 - HASTENED_BY_SECS),
            )
            .await
        {
            Ok(0) => {}
            Ok(_) => {
                tracing::info!(blob = %hash, "transcode hastened: someone is waiting");
                self.wake_transcode.notify_one();
            }
            Err(e) => tracing::warn!(error = %e, "a transcode could not be hastened"),
        }
    }

    /// Where a blob's ladder is: made, failed, running or queued.
    pub(crate) async fn ladder_state(
        &self,
        hash: &BlobHash,
        info: &info::MediaInfo,
    ) -> view::LadderState {
        let names = ladder_names(info);
        let mut ready = Vec::new();
        for n in &names {
            match self.db.media_rendition(hash, n).await {
                Ok(Some(r)) => match r.outcome {
                    RenditionOutcome::Ready(_) => ready.push(n.clone()),
                    RenditionOutcome::Failed(why) => return view::LadderState::Failed(why),
                },
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "a rendition could not be read");
                    return view::LadderState::Queued;
                }
            }
        }
        if ready.len() == names.len() {
            return view::LadderState::Ready(ready);
        }
        let duration = ladder::planned_duration(info).or(info.duration_secs);
        if let Some(l) = self.live(hash) {
            return view::LadderState::Running(l.progress().fraction(duration));
        }
        match self.db.media_progress(hash).await {
            Ok(Some(p)) => view::LadderState::Running(p),
            _ => view::LadderState::Queued,
        }
    }

    /// The transcode of `hash` running in this process, if any.
    pub(crate) fn live(&self, hash: &BlobHash) -> Option<Arc<Live>> {
        self.live.lock().expect("live lock").get(hash).cloned()
    }

    /// Transcodes a blob's video into its quality ladder, unless that was
    /// done (the same bytes once) or it is gone. Cancelled, with its files
    /// removed, when the blob's last file is deleted while it runs.
    pub async fn transcode_blob(&self, hash: &BlobHash) -> Result<()> {
        let Some(ProbeOutcome::Media(j)) = self.db.media_probe(hash).await?.map(|p| p.outcome)
        else {
            return Err(StreamingError::BadJob(
                "media.transcode before a probe".into(),
            ));
        };
        let info: info::MediaInfo = serde_json::from_str(&j)
            .map_err(|e| StreamingError::BadJob(format!("stored probe unreadable: {e}")))?;
        let rungs = ladder::ladder(&info);
        if rungs.is_empty() {
            return Ok(());
        }
        if self.ladder_settled(hash, &info).await? {
            tracing::info!(blob = %hash, "already transcoded; the same bytes are transcoded once");
            return Ok(());
        }
        if !self.store.exists(hash).await? || !self.db.blob_referenced(hash).await? {
            tracing::info!(blob = %hash, "blob deleted before its transcode; nothing to do");
            return Ok(());
        }
        let input = self
            .store
            .local_path(hash)
            .ok_or(StreamingError::NoLocalFile)?;
        let tag = format!("{}-{:016x}", hash.to_hex(), rand::random::<u64>());
        let files: Vec<(String, PathBuf)> = rungs
            .iter()
            .map(|r| {
                let name = r.name();
                let path = self
                    .store
                    .staging_dir()
                    .join(format!("transcode-{tag}-{name}.mp4"));
                (name, path)
            })
            .collect();
        let staged = Staged(files.iter().map(|(_, p)| p.clone()).collect());
        let live = Arc::new(Live::new(files));
        self.live
            .lock()
            .expect("live lock")
            .insert(*hash, live.clone());
        let _registered = Registered(self, *hash);
        let duration = ladder::planned_duration(&info).or(info.duration_secs);
        let started = Instant::now();
        let size = info.video().map_or((0, 0), |v| {
            (v.width.unwrap_or(0) as u64, v.height.unwrap_or(0) as u64)
        });
        let made = if size.0 * size.1 > ladder::MAX_SOURCE_PIXELS {
            Err(StreamingError::Unreadable(format!(
                "its declared size, {}x{}, is larger than carrel transcodes (8K)",
                size.0, size.1
            )))
        } else {
            // The file's deletion cancels; progress goes to the database every second.
            let deleted = async {
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if matches!(self.db.blob_referenced(hash).await, Ok(false)) {
                        break;
                    }
                }
            };
            let reporter = async {
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let done = live.progress().fraction(duration);
                    if let Err(e) = self
                        .db
                        .put_media_progress(hash, Some(done), Timestamp::now())
                        .await
                    {
                        tracing::warn!(error = %e, "transcode progress could not be stored");
                    }
                }
            };
            let run = transcode::transcode(
                &self.config.transcode,
                &input,
                info.audio().is_some(),
                &rungs,
                duration,
                ladder::planned_duration(&info),
                &live,
                deleted,
            );
            tokio::select! {
                r = run => r,
                _ = reporter => unreachable!("the reporter never ends"),
            }
        };
        let made = match made {
            Ok(()) => self.store_ladder(hash, &rungs, &live, &info).await,
            Err(e) => Err(e),
        };
        let _ = self
            .db
            .put_media_progress(hash, None, Timestamp::now())
            .await;
        let outcomes: Vec<(String, RenditionOutcome)> = match made {
            Ok(files) => {
                tracing::info!(blob = %hash, secs = started.elapsed().as_secs_f64(), rungs = files.len(), "transcoded");
                files
                    .into_iter()
                    .map(|(n, f)| (n, RenditionOutcome::Ready(f)))
                    .collect()
            }
            Err(StreamingError::Cancelled) => {
                tracing::info!(blob = %hash, "transcode cancelled: the file was deleted");
                return Ok(());
            }
            Err(e) if e.is_the_files() => {
                let why = e.to_string();
                tracing::info!(blob = %hash, %why, "transcode failed");
                rungs
                    .iter()
                    .map(|r| (r.name(), RenditionOutcome::Failed(why.clone())))
                    .collect()
            }
            Err(e) => return Err(e),
        };
        for (name, outcome) in outcomes {
            self.put_rendition(&MediaRendition {
                source: *hash,
                name,
                outcome,
                made_at: Timestamp::now(),
            })
            .await?;
        }
        // The seek thumbnails `images_blob` put off while the ladder was made.
        if info.video().is_some()
            && self
                .db
                .media_rendition(hash, images::THUMBS)
                .await?
                .is_none()
        {
            self.db
                .enqueue_job(JOB_MEDIA_IMAGES, &hash.to_hex(), Timestamp::now())
                .await?;
            self.wake_probe.notify_one();
        }
        drop(staged);
        Ok(())
    }

    /// Reads each finished rung's fragments, checks it covers the declared
    /// duration, stores it as a blob: (name, file) per rung.
    async fn store_ladder(
        &self,
        hash: &BlobHash,
        rungs: &[ladder::Rung],
        live: &Live,
        info: &info::MediaInfo,
    ) -> Result<Vec<(String, RenditionFile)>> {
        let audio = info.audio().is_some();
        let mut laid = Vec::new();
        for (r, (name, path)) in rungs.iter().zip(&live.files) {
            let (layout, size) = layout_of(path.clone()).await?;
            let total: f64 = layout.segments.iter().map(|s| s.duration).sum();
            if let Some(d) = ladder::planned_duration(info)
                && total < d - (d * 0.05).max(1.0)
            {
                return Err(StreamingError::Unreadable(format!(
                    "the video ends at {total:.1} s of the {d:.1} s it declares (a truncated file?)"
                )));
            }
            laid.push((r, name.clone(), path.clone(), layout, size));
        }
        let mut out = Vec::new();
        for (r, name, path, layout, size) in laid {
            let playlist = hls::media_playlist(&format!("{name}.mp4"), &layout);
            let peak = layout
                .segments
                .iter()
                .filter(|s| s.duration > 0.5)
                .map(|s| (s.range.length as f64 * 8.0 / s.duration) as i64)
                .max()
                .unwrap_or(0)
                .max(r.bandwidth(audio) as i64);
            let codecs = match (&layout.video_codec, audio) {
                (Some(v), true) => format!("{v},mp4a.40.2"),
                (Some(v), false) => v.clone(),
                (None, _) => r.codecs(audio),
            };
            let ingested = self.store.ingest(&path, None).await?;
            tracing::info!(blob = %hash, rendition = %name, file = %ingested.hash, size, "rung stored");
            out.push((
                name,
                RenditionFile {
                    blob: ingested.hash,
                    size: ingested.size as i64,
                    playlist,
                    bandwidth: peak.max(1),
                    resolution: r.resolution(),
                    codecs,
                },
            ));
        }
        Ok(out)
    }

    /// Remuxes a blob into its fragmented MP4 rendition and HLS playlist,
    /// unless it has one or is gone. `attempt` counts from 1.
    pub async fn remux_blob(&self, hash: &BlobHash, attempt: i64) -> Result<()> {
        if self.db.media_rendition(hash, REMUX).await?.is_some() {
            tracing::info!(blob = %hash, "already remuxed; the same bytes are remuxed once");
            return Ok(());
        }
        if !self.store.exists(hash).await? {
            tracing::info!(blob = %hash, "blob deleted before its remux; nothing to do");
            return Ok(());
        }
        let Some(ProbeOutcome::Media(j)) = self.db.media_probe(hash).await?.map(|p| p.outcome)
        else {
            return Err(StreamingError::BadJob("media.remux before a probe".into()));
        };
        let info: info::MediaInfo = serde_json::from_str(&j)
            .map_err(|e| StreamingError::BadJob(format!("stored probe unreadable: {e}")))?;
        let outcome = match self.make_remux(hash, &info).await {
            Ok(f) => RenditionOutcome::Ready(f),
            Err(e @ StreamingError::TimedOut(_)) if attempt < TIMEOUTS_BEFORE_FAILURE => {
                return Err(e);
            }
            Err(e) if e.is_the_files() => RenditionOutcome::Failed(e.to_string()),
            Err(e) => return Err(e),
        };
        match &outcome {
            RenditionOutcome::Ready(f) => {
                tracing::info!(blob = %hash, rendition = %f.blob, size = f.size, "remuxed")
            }
            RenditionOutcome::Failed(why) => tracing::info!(blob = %hash, %why, "remux failed"),
        }
        self.put_rendition(&MediaRendition {
            source: *hash,
            name: REMUX.into(),
            outcome,
            made_at: Timestamp::now(),
        })
        .await?;
        Ok(())
    }

    /// Runs ffmpeg into a staged file, reads its fragments, stores it as a blob.
    async fn make_remux(&self, hash: &BlobHash, info: &info::MediaInfo) -> Result<RenditionFile> {
        let input = self
            .store
            .local_path(hash)
            .ok_or(StreamingError::NoLocalFile)?;
        let staged = self.store.staging_dir().join(format!(
            "remux-{}-{:016x}.mp4",
            hash.to_hex(),
            rand::random::<u64>()
        ));
        let made = async {
            remux::remux(&self.config.remux, &input, &staged).await?;
            layout_of(staged.clone()).await
        }
        .await;
        let (layout, size) = match made {
            Ok(m) => m,
            Err(e) => {
                let _ = tokio::fs::remove_file(&staged).await;
                return Err(e);
            }
        };
        let playlist = hls::media_playlist(&format!("{REMUX}.mp4"), &layout);
        let total: f64 = layout.segments.iter().map(|s| s.duration).sum();
        // BANDWIDTH is the peak segment bit rate (RFC 8216 §4.3.4.2).
        let peak = layout
            .segments
            .iter()
            .filter(|s| s.duration > 0.1)
            .map(|s| (s.range.length as f64 * 8.0 / s.duration) as i64)
            .max()
            .unwrap_or_else(|| (size as f64 * 8.0 / total.max(1.0)) as i64);
        let v = info.video();
        let mut codecs: Vec<String> = Vec::new();
        if v.is_some() {
            codecs.extend(layout.video_codec.clone());
        }
        if let Some(a) = info.audio() {
            codecs.push(audio_codec(a).into());
        }
        let ingested = self.store.ingest(&staged, None).await?;
        Ok(RenditionFile {
            blob: ingested.hash,
            size: ingested.size as i64,
            playlist,
            bandwidth: peak.max(1),
            resolution: v.and_then(|v| Some(format!("{}x{}", v.width?, v.height?))),
            codecs: codecs.join(","),
        })
    }

    /// Forgets the renditions whose source's last file was deleted, and
    /// deletes their files unless something else holds the same bytes.
    pub async fn sweep_renditions(&self) -> Result<usize> {
        let stray = self.db.stray_renditions(100).await?;
        for (source, name, blob) in &stray {
            self.delete_rendition(source, name).await?;
            if let Some(b) = blob
                && !self.db.blob_referenced(b).await?
            {
                self.store.delete(b).await?;
            }
            tracing::info!(blob = %source, rendition = %name, "rendition of a deleted source released");
        }
        Ok(stray.len())
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

    fn queued(&self) {
        self.wake_probe.notify_one();
    }

    async fn view(
        &self,
        blob: &BlobHash,
        media_type: &MediaType,
        sidecars: &[Sidecar],
    ) -> Option<MediaView> {
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
            None if typed_as_media(media_type) => {
                let mut v = view::pending();
                view::with_extras(&mut v, None, &[], sidecars);
                Some(v)
            }
            Some(p)
                if typed_as_media(media_type) || matches!(p.outcome, ProbeOutcome::Media(_)) =>
            {
                let mut v = view::of_probe(&p);
                let info = match &p.outcome {
                    ProbeOutcome::Media(j) => serde_json::from_str::<info::MediaInfo>(j).ok(),
                    ProbeOutcome::Failed(_) => None,
                };
                let renditions = match info {
                    Some(_) => self.db.media_renditions(blob).await.unwrap_or_else(|e| {
                        tracing::warn!(error = %e, blob = %blob, "renditions could not be read");
                        Vec::new()
                    }),
                    None => Vec::new(),
                };
                if info.as_ref().is_some_and(needs_remux) {
                    let r = renditions.iter().find(|r| r.name == REMUX);
                    view::with_rendition(&mut v, r.map(|r| &r.outcome));
                }
                if !v.unreadable {
                    view::with_extras(&mut v, info.as_ref(), &renditions, sidecars);
                }
                if let Some(info) = &info
                    && wants_ladder(info)
                {
                    let state = self.ladder_state(blob, info).await;
                    if state == view::LadderState::Queued {
                        // Someone is looking at it: it goes first.
                        self.hasten(blob).await;
                    }
                    let direct = decide::decide(info) == Decision::DirectPlay;
                    view::with_ladder(&mut v, &state, direct, info);
                }
                Some(v)
            }
            _ => None,
        }
    }
}

/// Reads a finished fragmented MP4's layout and size (on the blocking pool).
async fn layout_of(path: PathBuf) -> Result<(fmp4::Layout, u64)> {
    tokio::task::spawn_blocking(move || -> Result<_> {
        let mut f = std::fs::File::open(&path)?;
        let len = f.metadata()?.len();
        Ok((
            fmp4::read_layout(&mut std::io::BufReader::new(&mut f), len)?,
            len,
        ))
    })
    .await
    .map_err(|e| StreamingError::Io(std::io::Error::other(e)))?
}

/// Files removed when dropped (a transcode's outputs, whatever became of it;
/// those already moved into the blob store are gone from here anyway).
struct Staged(Vec<PathBuf>);

impl Drop for Staged {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A running transcode's entry, removed when dropped.
struct Registered<'a>(&'a Streaming, BlobHash);

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.0.live.lock().expect("live lock").remove(&self.1);
    }
}

/// The RFC 6381 codec of an audio stream carrel copies into MP4.
fn audio_codec(a: &info::Stream) -> &'static str {
    match a.codec.as_str() {
        "mp3" => "mp4a.40.34",
        _ if a.profile.as_deref().is_some_and(|p| p.contains("HE-AACv2")) => "mp4a.40.29",
        _ if a.profile.as_deref().is_some_and(|p| p.contains("HE")) => "mp4a.40.5",
        _ => "mp4a.40.2",
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
