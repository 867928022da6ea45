//! Remuxing: ffmpeg copies the first video and audio streams, untouched,
//! into one fragmented MP4 whose fragments start at keyframes (at least
//! [`MIN_FRAGMENT_SECS`] apart), bounded like the probe: a wall-clock kill,
//! limits the child sets on itself (address space, CPU seconds, file size,
//! no core dumps), ffmpeg's own `-fs` output bound, and the last
//! [`crate::probe::STDERR_TAIL`] bytes of its complaints kept.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::error::{Result, StreamingError};
use crate::probe::{Limits, STDERR_TAIL, complaint, read_tail};

/// The shortest fragment (a segment of the playlist), in seconds.
pub const MIN_FRAGMENT_SECS: u32 = 2;

/// How ffmpeg is run for renditions.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RemuxConfig {
    /// The ffmpeg program (a name looked up in `PATH`, or a path).
    pub ffmpeg: String,
    /// Wall-clock seconds before ffmpeg is killed.
    pub timeout_secs: u64,
    /// Address space ffmpeg may use, in bytes.
    pub memory_bytes: u64,
    /// The rendition may be at most this many times the source's size (plus 1 MiB).
    pub max_growth: u64,
}

impl Default for RemuxConfig {
    fn default() -> Self {
        Self {
            ffmpeg: "ffmpeg".into(),
            timeout_secs: 600,
            memory_bytes: 2 << 30,
            max_growth: 2,
        }
    }
}

impl RemuxConfig {
    /// The largest output allowed for a source of `input` bytes.
    pub fn max_output(&self, input: u64) -> u64 {
        input
            .saturating_mul(self.max_growth.max(1))
            .saturating_add(1 << 20)
    }
}

/// Copies `input`'s first video and audio streams into a fragmented MP4 at `output`.
pub async fn remux(cfg: &RemuxConfig, input: &Path, output: &Path) -> Result<()> {
    let size = tokio::fs::metadata(input).await?.len();
    if size == 0 {
        return Err(StreamingError::Empty);
    }
    let max_out = cfg.max_output(size);
    // `ulimit -f` counts 512-byte blocks in dash (1024 in bash): twice
    // ffmpeg's own `-fs`, a backstop.
    let limits = Limits {
        memory_bytes: cfg.memory_bytes,
        cpu_secs: cfg.timeout_secs.max(1) + 5,
        file_blocks: max_out.saturating_mul(2) / 512 + 1,
    };
    let mut child = limits.command(&cfg.ffmpeg, Stdio::null(), |c| {
        c.args(["-hide_banner", "-nostdin", "-v", "error"])
            .args(["-protocol_whitelist", "file"])
            .arg("-i")
            .arg(format!("file:{}", input.display()))
            .args([
                "-map", "0:v:0?", "-map", "0:a:0?", "-c", "copy", "-sn", "-dn",
            ])
            .args(["-map_metadata", "-1", "-map_chapters", "-1"])
            .args([
                "-movflags",
                "+frag_keyframe+empty_moov+default_base_moof",
                "-min_frag_duration",
            ])
            .arg((MIN_FRAGMENT_SECS as u64 * 1_000_000).to_string())
            .arg("-fs")
            .arg(max_out.to_string())
            .args(["-f", "mp4", "-y"])
            .arg(format!("file:{}", output.display()));
    })?;
    let stderr = child.stderr.take().expect("piped stderr");
    let run = async { tokio::join!(read_tail(stderr, STDERR_TAIL), child.wait()) };
    let (err, status) =
        match tokio::time::timeout(Duration::from_secs(cfg.timeout_secs.max(1)), run).await {
            Ok(r) => r,
            Err(_) => {
                let _ = child.start_kill();
                return Err(StreamingError::TimedOut(cfg.timeout_secs.max(1)));
            }
        };
    let status = status?;
    let err = complaint(&err, input, "ffmpeg").replace(&*output.to_string_lossy(), "the output");
    if status.code() == Some(127) {
        return Err(StreamingError::Tool {
            tool: cfg.ffmpeg.clone(),
            error: err,
        });
    }
    if !status.success() {
        return Err(StreamingError::Unreadable(format!(
            "ffmpeg could not repackage it ({status}): {err}"
        )));
    }
    let written = tokio::fs::metadata(output).await?.len();
    if written >= max_out {
        return Err(StreamingError::TooLarge(max_out));
    }
    Ok(())
}
