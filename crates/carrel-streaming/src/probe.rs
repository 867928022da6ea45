//! Running ffprobe on a file, bounded: a wall-clock limit (the child is
//! killed), limits the child sets on itself before it starts (address
//! space, CPU time, no files written, no core dumps), at most
//! [`MAX_REPORT`] bytes of report read and the last [`STDERR_TAIL`] bytes of
//! its complaints kept. Only this wing spawns ffmpeg's tools.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use crate::error::{Result, StreamingError};
use crate::info::{MediaInfo, parse_ffprobe};
use crate::sniff::Sniffed;

/// The most ffprobe may report (a file with many streams and tags is far below).
pub const MAX_REPORT: usize = 4 << 20;
/// How much of ffprobe's stderr is kept (its end: the reason it failed).
pub const STDERR_TAIL: usize = 2048;

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

/// The limits a child sets on itself before it becomes one of ffmpeg's tools.
pub(crate) struct Limits {
    /// Address space, in bytes.
    pub memory_bytes: u64,
    /// CPU seconds.
    pub cpu_secs: u64,
    /// File size, in the shell's `ulimit -f` blocks (0: no file written).
    pub file_blocks: u64,
}

impl Limits {
    /// Spawns `tool` (with the arguments `args` adds) through `/bin/sh`,
    /// which lowers its own limits first (no core dumps either) and then
    /// becomes the tool: stdin closed, stderr piped, killed when dropped.
    pub(crate) fn command(
        &self,
        tool: &str,
        stdout: Stdio,
        args: impl FnOnce(&mut Command),
    ) -> Result<tokio::process::Child> {
        let script = format!(
            "ulimit -v {} && ulimit -t {} && ulimit -f {} && ulimit -c 0 && exec \"$@\"",
            self.memory_bytes / 1024,
            self.cpu_secs,
            self.file_blocks
        );
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg(script).arg("sh").arg(tool);
        args(&mut c);
        c.stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| StreamingError::Tool {
                tool: tool.to_owned(),
                error: e.to_string(),
            })
    }
}

/// Reads at most `max` bytes; `Err(TooLarge)` if there is more.
async fn read_bounded(mut r: impl AsyncRead + Unpin, max: usize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let n = (&mut r).take(max as u64 + 1).read_to_end(&mut out).await?;
    if n > max {
        return Err(StreamingError::TooLarge(max as u64));
    }
    Ok(out)
}

/// Reads to the end, keeping the last `keep` bytes.
pub(crate) async fn read_tail(mut r: impl AsyncRead + Unpin, keep: usize) -> Vec<u8> {
    let mut tail = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0 {
            break;
        }
        tail.extend_from_slice(&buf[..n]);
        if tail.len() > 2 * keep {
            tail.drain(..tail.len() - keep);
        }
    }
    if tail.len() > keep {
        tail.drain(..tail.len() - keep);
    }
    tail
}

/// ffprobe's complaint as people should see it: the file's path (a server
/// detail) replaced, blank lines dropped, on one line.
pub(crate) fn complaint(stderr: &[u8], path: &Path, tool: &str) -> String {
    let s = String::from_utf8_lossy(stderr).replace(&*path.to_string_lossy(), "the file");
    let lines: Vec<&str> = s.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if lines.is_empty() {
        format!("{tool} could not read the file")
    } else {
        lines.join("; ")
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
        file_blocks: 0,
    };
    let mut child = limits.command(&cfg.ffprobe, Stdio::piped(), |c| {
        c.args(["-hide_banner", "-v", "error"])
            .args(["-protocol_whitelist", "file"])
            .args(["-print_format", "json", "-show_format", "-show_streams"])
            .arg(&input);
    })?;
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    let run = async {
        let (out, err, status) = tokio::join!(
            read_bounded(stdout, MAX_REPORT),
            read_tail(stderr, STDERR_TAIL),
            child.wait()
        );
        (out, err, status)
    };
    let (out, err, status) =
        match tokio::time::timeout(Duration::from_secs(cfg.timeout_secs.max(1)), run).await {
            Ok(r) => r,
            Err(_) => {
                // Dropping `run` dropped the pipes; the child is killed when dropped too.
                let _ = child.start_kill();
                return Err(StreamingError::TimedOut(cfg.timeout_secs.max(1)));
            }
        };
    let status = status?;
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            let _ = child.start_kill();
            return Err(e);
        }
    };
    if status.code() == Some(127) {
        return Err(StreamingError::Tool {
            tool: cfg.ffprobe.clone(),
            error: complaint(&err, path, "ffprobe"),
        });
    }
    if !status.success() {
        let why = match status.code() {
            Some(_) => complaint(&err, path, "ffprobe"),
            None => format!(
                "ffprobe was stopped by a signal ({status}); {}",
                complaint(&err, path, "ffprobe")
            ),
        };
        return Err(StreamingError::Unreadable(why));
    }
    parse_ffprobe(&out, sniffed).map_err(|e| match e {
        StreamingError::Unreadable(m) if !err.is_empty() => {
            StreamingError::Unreadable(format!("{m}; {}", complaint(&err, path, "ffprobe")))
        }
        e => e,
    })
}
