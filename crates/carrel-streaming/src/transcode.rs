//! Transcoding into the quality ladder ([`crate::ladder`]): one ffmpeg run
//! writes every rung's fragmented MP4 side by side, reporting its progress
//! on stdout (`-progress pipe:1`), bounded like the probe and the remux
//! ([`crate::tool::run`]): a wall-clock bound that grows with the media's
//! duration, the address space, CPU seconds, ffmpeg's `-fs` per file and
//! the child's file size limit, reading no further than the declared
//! duration (plus a margin), and killed when the job is cancelled (its
//! file deleted). While it runs, [`Live`] tells the web routes where the
//! growing files are and wakes them at each progress report.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::Notify;

use crate::error::{Result, StreamingError};
use crate::ladder::{self, Progress, Rung};
use crate::tool::{self, Limits, Run, complaint};

/// How the ladder is made (`[streaming.transcode]`).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TranscodeConfig {
    /// The ffmpeg program (a name looked up in `PATH`, or a path).
    pub ffmpeg: String,
    /// Transcodes run at once (each one ffmpeg using every core).
    pub concurrency: u32,
    /// Wall-clock seconds a transcode may take, beyond `secs_per_media_sec`
    /// for each second of media.
    pub timeout_secs: u64,
    /// Wall-clock seconds allowed per second of media (its declared duration).
    pub secs_per_media_sec: u64,
    /// The most wall-clock seconds any transcode may take.
    pub max_timeout_secs: u64,
    /// Address space ffmpeg may use, in bytes.
    pub memory_bytes: u64,
    /// The largest file of one rendition, in bytes.
    pub max_output_bytes: u64,
    /// How long a request for a segment not written yet waits for it, in seconds.
    pub segment_wait_secs: u64,
    /// Seconds a claimed transcode job is reserved for its worker; renewed
    /// every third of it while ffmpeg runs, so a crashed worker's job is
    /// taken again within this.
    pub lease_secs: u64,
}

impl Default for TranscodeConfig {
    fn default() -> Self {
        Self {
            ffmpeg: "ffmpeg".into(),
            concurrency: 1,
            timeout_secs: 600,
            secs_per_media_sec: 8,
            max_timeout_secs: 6 * 3600,
            memory_bytes: 3 << 30,
            max_output_bytes: 16 << 30,
            segment_wait_secs: 10,
            lease_secs: 60,
        }
    }
}

impl TranscodeConfig {
    /// The wall-clock bound for media of `duration` seconds (unknown: the base).
    pub fn timeout(&self, duration: Option<f64>) -> Duration {
        let per = duration
            .filter(|d| d.is_finite() && *d > 0.0)
            .unwrap_or(0.0)
            * self.secs_per_media_sec as f64;
        let secs = (self.timeout_secs as f64 + per).min(self.max_timeout_secs.max(1) as f64);
        Duration::from_secs(secs.max(1.0) as u64)
    }
}

/// A transcode being run: its growing files, how far it is.
pub struct Live {
    /// Each rung's name and the file ffmpeg writes it into.
    pub files: Vec<(String, PathBuf)>,
    /// Notified at each progress report of ffmpeg (about twice a second).
    pub changed: Notify,
    progress: Mutex<Progress>,
}

impl Live {
    pub fn new(files: Vec<(String, PathBuf)>) -> Self {
        Self {
            files,
            changed: Notify::new(),
            progress: Mutex::new(Progress::default()),
        }
    }

    /// The file of rung `name`.
    pub fn file(&self, name: &str) -> Option<&Path> {
        self.files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p.as_path())
    }

    /// How far ffmpeg is.
    pub fn progress(&self) -> Progress {
        *self.progress.lock().expect("progress lock")
    }
}

/// Runs ffmpeg from `input` into every rung's file of `live` (in the order
/// of `rungs`). `duration` is the probe's (when known), `planned` the
/// duration its playlists were planned from (when they were); `cancel` kills it.
pub async fn transcode(
    cfg: &TranscodeConfig,
    input: &Path,
    audio: bool,
    rungs: &[Rung],
    duration: Option<f64>,
    planned: Option<f64>,
    live: &Live,
    cancel: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let size = tokio::fs::metadata(input).await?.len();
    if size == 0 {
        return Err(StreamingError::Empty);
    }
    let outputs: Vec<(Rung, &Path, u64)> = rungs
        .iter()
        .zip(&live.files)
        .map(|(r, (_, p))| {
            (
                r.clone(),
                p.as_path(),
                ladder::max_output(r, duration, cfg.max_output_bytes),
            )
        })
        .collect();
    let largest = outputs.iter().map(|o| o.2).max().unwrap_or(0);
    let timeout = cfg.timeout(duration);
    let r = Run {
        tool: &cfg.ffmpeg,
        limits: Limits {
            memory_bytes: cfg.memory_bytes,
            // Every core may be busy for the whole wall-clock bound.
            cpu_secs: timeout.as_secs().saturating_mul(4) + 5,
            file_bytes: largest.saturating_mul(2),
        },
        timeout,
        background: false,
    };
    // A source that goes on past its declared duration is cut there (plus a margin).
    let limit = duration.map(|d| d + 5.0);
    let segments = planned.map(|d| ladder::segment_plan(d).len());
    let args = ladder::ffmpeg_args(input, audio, &outputs, limit, segments);
    tracing::info!(command = %serde_json::to_string(&args).unwrap_or_default(), "transcode command");
    let read_progress = |out: tokio::process::ChildStdout| async move {
        let mut lines = BufReader::new(out).lines();
        let mut n = 0usize;
        while let Some(l) = lines.next_line().await? {
            n += 1;
            if n > 10_000_000 || l.len() > 4096 {
                return Err(StreamingError::TooLarge(4096));
            }
            live.progress.lock().expect("progress lock").line(&l);
            if l.starts_with("progress=") {
                live.changed.notify_waiters();
            }
        }
        Ok(())
    };
    let ended = tool::run(
        &r,
        |c| {
            c.args(&args);
        },
        read_progress,
        cancel,
    )
    .await;
    // Waiters look again whatever happened (the files may be whole, or gone).
    live.changed.notify_waiters();
    let ended = ended?;
    if !ended.status.success() {
        let mut paths: Vec<(&Path, &str)> = vec![(input, "the file")];
        paths.extend(live.files.iter().map(|(_, p)| (p.as_path(), "the output")));
        let err = complaint(&ended.stderr, &paths, "ffmpeg");
        return Err(StreamingError::Unreadable(format!(
            "ffmpeg could not transcode it ({}): {err}",
            ended.status
        )));
    }
    for (_, p, max) in &outputs {
        if tokio::fs::metadata(p).await?.len() >= *max {
            return Err(StreamingError::TooLarge(*max));
        }
    }
    Ok(())
}
