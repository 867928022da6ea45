//! Running one of ffmpeg's tools, bounded, the one way this wing does it
//! (the probe, the remux and the transcode all go through [`run`]):
//!
//! - limits the child sets on itself before it becomes the tool (`/bin/sh`
//!   lowering address space, CPU seconds, file size and core dumps:
//!   [`Limits`]);
//! - a wall-clock bound: past it the child is killed and the run is
//!   [`StreamingError::TimedOut`];
//! - an optional cancellation (a future: when it completes, the child is
//!   killed and the run is [`StreamingError::Cancelled`]);
//! - stdout handed to the caller's reader (bounded by the caller), stderr's
//!   last [`STDERR_TAIL`] bytes kept for the complaint.

use std::future::Future;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{ChildStdout, Command};

use crate::error::{Result, StreamingError};

/// How much of a tool's stderr is kept (its end: the reason it failed).
pub const STDERR_TAIL: usize = 2048;

/// The limits a child sets on itself before it becomes one of ffmpeg's tools.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Address space, in bytes.
    pub memory_bytes: u64,
    /// CPU seconds.
    pub cpu_secs: u64,
    /// The largest file it may write, in bytes (0: no file written).
    pub file_bytes: u64,
}

impl Limits {
    /// The shell script that lowers the limits and then becomes the tool
    /// (through coreutils' `nice` for a background run). `ulimit -f`
    /// counts 512-byte blocks in dash (1024 in bash): the smaller unit, so
    /// the bound holds in both.
    fn script(&self, background: bool) -> String {
        format!(
            "ulimit -v {} && ulimit -t {} && ulimit -f {} && ulimit -c 0 && exec {}\"$@\"",
            self.memory_bytes / 1024,
            self.cpu_secs,
            self.file_bytes.div_ceil(512),
            if background { "nice -n 10 " } else { "" }
        )
    }
}

/// One bounded run of a tool.
pub struct Run<'a> {
    /// The program (a name looked up in `PATH`, or a path).
    pub tool: &'a str,
    pub limits: Limits,
    /// Wall-clock bound.
    pub timeout: Duration,
    /// At a lower CPU priority (nice 10): work no one is waiting to watch
    /// (pictures, subtitle tracks) yields the cores to a transcode that
    /// someone is (measured in BENCHMARKS.md: a poster and sprite made
    /// beside the ladder's ffmpeg slowed it).
    pub background: bool,
}

/// How a run that was not stopped by carrel ended.
pub struct Ended<T> {
    /// What the stdout reader returned.
    pub out: T,
    pub status: ExitStatus,
    /// The last [`STDERR_TAIL`] bytes of stderr.
    pub stderr: Vec<u8>,
}

/// Runs `run.tool` with the arguments `args` adds, under its limits: stdout
/// goes to `read_stdout`, and the child is killed at the wall-clock bound,
/// when `cancel` completes, or when `read_stdout` fails (its error is the
/// run's). A missing tool (exit 127 from the shell) is [`StreamingError::Tool`].
pub async fn run<T, F>(
    run: &Run<'_>,
    args: impl FnOnce(&mut Command),
    read_stdout: impl FnOnce(ChildStdout) -> F,
    cancel: impl Future<Output = ()>,
) -> Result<Ended<T>>
where
    F: Future<Output = Result<T>>,
{
    let mut c = Command::new("/bin/sh");
    c.arg("-c")
        .arg(run.limits.script(run.background))
        .arg("sh")
        .arg(run.tool);
    args(&mut c);
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| StreamingError::Tool {
            tool: run.tool.to_owned(),
            error: e.to_string(),
        })?;
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = tokio::spawn(read_tail(
        child.stderr.take().expect("piped stderr"),
        STDERR_TAIL,
    ));
    let timeout = run.timeout.max(Duration::from_secs(1));
    let deadline = tokio::time::Instant::now() + timeout;
    // The reader, then the exit, within the bound; the reader's failure
    // (output too large) or the cancellation stops the tool at once.
    let finished = async {
        let out = read_stdout(stdout).await?;
        Ok::<_, StreamingError>((out, child.wait().await?))
    };
    let r = tokio::select! {
        r = tokio::time::timeout_at(deadline, finished) => Some(r),
        _ = cancel => None,
    };
    let (out, status) = match r {
        Some(Ok(Ok(r))) => r,
        Some(Ok(Err(e))) => {
            kill(&mut child).await;
            return Err(e);
        }
        Some(Err(_)) => {
            kill(&mut child).await;
            return Err(StreamingError::TimedOut(timeout.as_secs()));
        }
        None => {
            kill(&mut child).await;
            return Err(StreamingError::Cancelled);
        }
    };
    let stderr = stderr.await.unwrap_or_default();
    if status.code() == Some(127) {
        return Err(StreamingError::Tool {
            tool: run.tool.to_owned(),
            error: String::from_utf8_lossy(&stderr).trim().to_owned(),
        });
    }
    Ok(Ended {
        out,
        status,
        stderr,
    })
}

/// Kills the child and reaps it.
async fn kill(child: &mut tokio::process::Child) {
    let _ = child.start_kill();
    let _ = child.wait().await;
}

/// Reads at most `max` bytes; `Err(TooLarge)` if there is more.
pub async fn read_bounded(mut r: impl AsyncRead + Unpin, max: usize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let n = (&mut r).take(max as u64 + 1).read_to_end(&mut out).await?;
    if n > max {
        return Err(StreamingError::TooLarge(max as u64));
    }
    Ok(out)
}

/// Reads to the end, throwing everything away.
pub async fn discard(mut r: impl AsyncRead + Unpin) -> Result<()> {
    tokio::io::copy(&mut r, &mut tokio::io::sink()).await?;
    Ok(())
}

/// Reads to the end, keeping the last `keep` bytes.
pub async fn read_tail(mut r: impl AsyncRead + Unpin, keep: usize) -> Vec<u8> {
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

/// A tool's complaint as people should see it: the server's paths
/// replaced, blank lines dropped, on one line.
pub fn complaint(stderr: &[u8], paths: &[(&Path, &str)], tool: &str) -> String {
    let mut s = String::from_utf8_lossy(stderr).into_owned();
    for (p, name) in paths {
        s = s.replace(&*p.to_string_lossy(), name);
    }
    let lines: Vec<&str> = s.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if lines.is_empty() {
        format!("{tool} could not read the file")
    } else {
        lines.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(secs: u64) -> Run<'static> {
        Run {
            tool: "sh",
            limits: Limits {
                memory_bytes: 1 << 30,
                cpu_secs: 10,
                file_bytes: 0,
            },
            timeout: Duration::from_secs(secs),
            background: false,
        }
    }

    #[tokio::test]
    async fn output_status_and_stderr() {
        let e = run(
            &sh(10),
            |c| {
                c.args(["-c", "echo out; echo err >&2; exit 3"]);
            },
            |o| read_bounded(o, 100),
            std::future::pending(),
        )
        .await
        .unwrap();
        assert_eq!(e.out, b"out\n");
        assert_eq!(e.stderr, b"err\n");
        assert_eq!(e.status.code(), Some(3));
    }

    /// A background run is one that yields: nice 10 above the server's own.
    #[tokio::test]
    async fn a_background_run_is_niced() {
        let niceness = |background: bool| async move {
            let r = Run {
                background,
                ..sh(10)
            };
            let e = run(
                &r,
                |c| {
                    c.args(["-c", "cut -d' ' -f19 /proc/self/stat"]);
                },
                |o| read_bounded(o, 100),
                std::future::pending(),
            )
            .await
            .unwrap();
            String::from_utf8(e.out)
                .unwrap()
                .trim()
                .parse::<i32>()
                .unwrap()
        };
        let own = niceness(false).await;
        assert_eq!(niceness(true).await, (own + 10).min(19));
    }

    #[tokio::test]
    async fn killed_at_the_wall_clock_bound() {
        let t = std::time::Instant::now();
        let r = run(
            &sh(1),
            |c| {
                c.args(["-c", "sleep 30"]);
            },
            discard,
            std::future::pending(),
        )
        .await;
        assert!(
            matches!(r, Err(StreamingError::TimedOut(1))),
            "{:?}",
            r.err()
        );
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn cancelled_and_bounded_output() {
        let r = run(
            &sh(30),
            |c| {
                c.args(["-c", "sleep 30"]);
            },
            discard,
            tokio::time::sleep(Duration::from_millis(200)),
        )
        .await;
        assert!(matches!(r, Err(StreamingError::Cancelled)));
        let r = run(
            &sh(30),
            |c| {
                c.args(["-c", "yes"]);
            },
            |o| read_bounded(o, 1000),
            std::future::pending(),
        )
        .await;
        assert!(matches!(r, Err(StreamingError::TooLarge(1000))));
    }

    #[tokio::test]
    async fn no_file_written_when_the_limit_is_zero() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x");
        let cmd = format!("echo hello > {}", f.display());
        let e = run(
            &sh(10),
            |c| {
                c.args(["-c", &cmd]);
            },
            discard,
            std::future::pending(),
        )
        .await
        .unwrap();
        assert!(!e.status.success());
        assert_eq!(std::fs::metadata(&f).map(|m| m.len()).unwrap_or(0), 0);
    }
}
