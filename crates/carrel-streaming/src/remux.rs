//! Remuxing: ffmpeg copies the first video and audio streams, untouched,
//! into one fragmented MP4 whose fragments start at keyframes (at least
//! [`MIN_FRAGMENT_SECS`] apart), bounded like the probe: a wall-clock kill,
//! limits the child sets on itself (address space, CPU seconds, file size,
//! no core dumps), ffmpeg's own `-fs` output bound, and the last
//! [`crate::tool::STDERR_TAIL`] bytes of its complaints kept.

use std::path::Path;
use std::time::Duration;

use crate::error::{Result, StreamingError};
use crate::tool::{self, Limits, Run, complaint};

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
    // ffmpeg's own `-fs` bounds the output; the child's file size limit
    // (twice that) is a backstop.
    let r = Run {
        tool: &cfg.ffmpeg,
        limits: Limits {
            memory_bytes: cfg.memory_bytes,
            cpu_secs: cfg.timeout_secs.max(1) + 5,
            file_bytes: max_out.saturating_mul(2),
        },
        timeout: Duration::from_secs(cfg.timeout_secs.max(1)),
        background: false,
    };
    let ended = tool::run(
        &r,
        |c| {
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
        },
        tool::discard,
        std::future::pending(),
    )
    .await?;
    let err = complaint(
        &ended.stderr,
        &[(input, "the file"), (output, "the output")],
        "ffmpeg",
    );
    if !ended.status.success() {
        return Err(StreamingError::Unreadable(format!(
            "ffmpeg could not repackage it ({}): {err}",
            ended.status
        )));
    }
    let written = tokio::fs::metadata(output).await?.len();
    if written >= max_out {
        return Err(StreamingError::TooLarge(max_out));
    }
    Ok(())
}
