//! Running ffprobe on a file, bounded: a wall-clock limit (the child is
//! killed), limits the child sets on itself before it starts (address
//! space, CPU time, no files written, no core dumps), at most
//! [`MAX_REPORT`] bytes of report read and the last [`crate::tool::STDERR_TAIL`] bytes of
//! its complaints kept, through [`crate::tool::run`]. Only this wing spawns ffmpeg's tools.

use std::path::Path;
use std::time::Duration;

use crate::error::{Result, StreamingError};
use crate::info::{MediaInfo, parse_ffprobe};
use crate::sniff::Sniffed;
use crate::tool::{self, Ended, Limits, Run, read_bounded};

/// The most ffprobe may report (a file with many streams and tags is far below).
pub const MAX_REPORT: usize = 4 << 20;

/// How ffprobe is run.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProbeConfig {
    /// The ffprobe program (a name looked up in `PATH`, or a path).
    pub ffprobe: String,
    /// Wall-clock seconds before ffprobe is killed.
    pub timeout_secs: u64,
    /// Address space ffprobe may use, in bytes.
    pub memory_bytes: u64,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            ffprobe: "ffprobe".into(),
            timeout_secs: 20,
            memory_bytes: 2 << 30,
        }
    }
}

/// Probes the file at `path` (its first bytes were sniffed as `sniffed`).
pub async fn probe(cfg: &ProbeConfig, path: &Path, sniffed: Option<&Sniffed>) -> Result<MediaInfo> {
    let meta = tokio::fs::metadata(path).await?;
    if meta.is_file() && meta.len() == 0 {
        return Err(StreamingError::Empty);
    }
    let input = format!("file:{}", path.display());
    let limits = Limits {
        memory_bytes: cfg.memory_bytes,
        cpu_secs: cfg.timeout_secs.max(1) + 5,
        file_bytes: 0,
    };
    let r = Run {
        tool: &cfg.ffprobe,
        limits,
        timeout: Duration::from_secs(cfg.timeout_secs.max(1)),
        background: false,
    };
    let Ended {
        out,
        status,
        stderr: err,
    } = tool::run(
        &r,
        |c| {
            c.args(["-hide_banner", "-v", "error"])
                .args(["-protocol_whitelist", "file"])
                .args(["-print_format", "json", "-show_format", "-show_streams"])
                .arg(&input);
        },
        |o| read_bounded(o, MAX_REPORT),
        std::future::pending(),
    )
    .await?;
    if !status.success() {
        let why = match status.code() {
            Some(_) => complaint(&err, path),
            None => format!(
                "ffprobe was stopped by a signal ({status}); {}",
                complaint(&err, path)
            ),
        };
        return Err(StreamingError::Unreadable(why));
    }
    parse_ffprobe(&out, sniffed).map_err(|e| match e {
        StreamingError::Unreadable(m) if !err.is_empty() => {
            StreamingError::Unreadable(format!("{m}; {}", complaint(&err, path)))
        }
        e => e,
    })
}

/// ffprobe's complaint with the file's path (a server detail) replaced.
fn complaint(stderr: &[u8], path: &Path) -> String {
    tool::complaint(stderr, &[(path, "the file")], "ffprobe")
}
