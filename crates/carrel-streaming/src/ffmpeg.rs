//! One bounded ffmpeg run for the small renditions (subtitle tracks,
//! poster, sprite) through [`crate::tool::run`]: the child's limits
//! (address space, CPU seconds, file size, no core dumps), a wall-clock
//! kill, the `file` protocol only, every output checked against its bound
//! afterwards, and the tail of stderr without server paths as the complaint.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

use crate::error::{Result, StreamingError};
use crate::remux::RemuxConfig;
use crate::tool::{self, Limits, Run, complaint};

/// One ffmpeg run: `args` adds everything between the input and the end
/// (outputs included, as `file:` URLs of `outputs`); each output may be at
/// most `max_output` bytes; `timeout_secs` of wall time.
pub(crate) async fn run(
    cfg: &RemuxConfig,
    input: &Path,
    outputs: &[PathBuf],
    max_output: u64,
    timeout_secs: u64,
    pre_input: &[String],
    args: impl FnOnce(&mut Command),
) -> Result<()> {
    let size = tokio::fs::metadata(input).await?.len();
    if size == 0 {
        return Err(StreamingError::Empty);
    }
    let timeout = timeout_secs.max(1);
    let r = Run {
        tool: &cfg.ffmpeg,
        limits: Limits {
            memory_bytes: cfg.memory_bytes,
            cpu_secs: timeout + 5,
            // Twice the bound: a backstop to the check below.
            file_bytes: max_output.saturating_mul(2),
        },
        timeout: Duration::from_secs(timeout),
        background: true,
    };
    let ended = tool::run(
        &r,
        |c| {
            c.args(["-hide_banner", "-nostdin", "-v", "error"])
                .args(["-protocol_whitelist", "file"])
                .args(pre_input)
                .arg("-i")
                .arg(format!("file:{}", input.display()));
            args(c);
        },
        tool::discard,
        std::future::pending(),
    )
    .await?;
    let mut paths: Vec<(&Path, &str)> = vec![(input, "the file")];
    paths.extend(outputs.iter().map(|o| (o.as_path(), "the output")));
    let why = complaint(&ended.stderr, &paths, "ffmpeg");
    if !ended.status.success() {
        return Err(StreamingError::Unreadable(format!(
            "ffmpeg could not read it ({}): {why}",
            ended.status
        )));
    }
    for o in outputs {
        let written = match tokio::fs::metadata(o).await {
            Ok(m) => m.len(),
            Err(_) => {
                return Err(StreamingError::Unreadable(format!(
                    "ffmpeg wrote nothing: {why}"
                )));
            }
        };
        if written > max_output {
            return Err(StreamingError::TooLarge(max_output));
        }
        if written == 0 {
            return Err(StreamingError::Unreadable(format!(
                "ffmpeg wrote an empty file: {why}"
            )));
        }
    }
    Ok(())
}

/// A fresh path in `dir` for a staged output (`{what}-{hash}-{random}.{ext}`).
pub(crate) fn staged(dir: &Path, what: &str, hash: &str, ext: &str) -> PathBuf {
    dir.join(format!(
        "{what}-{hash}-{:016x}.{ext}",
        rand::random::<u64>()
    ))
}
