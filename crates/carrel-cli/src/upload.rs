//! `carrel upload`: a tus client. Small files go in one upload; large ones
//! in parallel parts joined with the concatenation extension. Where each
//! upload stands is saved in a state file, so running the same command
//! again after an interruption continues where it stopped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use futures::StreamExt;
use indicatif::{MultiProgress, ProgressBar};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

#[derive(clap::Args)]
pub struct Args {
    /// Files to upload.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The carrel server.
    #[arg(long, env = "CARREL_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// An API token with the `upload` scope (`crl_…`, as for `carrel ls`): the
    /// files become yours and count against your plan. Without one the
    /// upload is anonymous and each file gets a management token.
    #[arg(long, env = "CARREL_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Make the links expire after this long (30m, 12h, 7d, 2w).
    #[arg(long)]
    expires: Option<String>,
    /// Protect the links with a password.
    #[arg(long, env = "CARREL_SHARE_PASSWORD")]
    password: Option<String>,
    /// Allow at most this many downloads per link.
    #[arg(long)]
    max_downloads: Option<u64>,
    /// Print one JSON object per file (url, manage_token, file, size) instead of the URL.
    #[arg(long)]
    json: bool,
    /// Parts uploaded in parallel for large files.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=32))]
    parallel: u64,
    /// Files at least this large (bytes) are sent in parallel parts.
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    part_threshold: u64,
}

#[derive(Serialize, Deserialize, Clone, Default, Debug)]
struct Entry {
    /// The single upload, or the parts of a parallel one.
    urls: Vec<String>,
    parallel: bool,
    share_url: Option<String>,
    token: Option<String>,
}

fn state_path() -> PathBuf {
    if let Some(d) = std::env::var_os("CARREL_STATE_DIR") {
        return PathBuf::from(d).join("uploads.json");
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("carrel").join("uploads.json")
}

fn load_state() -> BTreeMap<String, Entry> {
    std::fs::read(state_path())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn save_state(s: &BTreeMap<String, Entry>) -> anyhow::Result<()> {
    let p = state_path();
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d)?;
    }
    let tmp = p.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(s)?)?;
    std::fs::rename(tmp, p)?;
    Ok(())
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

struct Client {
    http: reqwest::Client,
    server: String,
}

impl Client {
    fn req(&self, m: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        self.http.request(m, url).header("Tus-Resumable", "1.0.0")
    }

    async fn create(&self, headers: &[(&str, String)]) -> anyhow::Result<reqwest::Response> {
        let mut r = self.req(reqwest::Method::POST, &format!("{}/files", self.server));
        for (k, v) in headers {
            r = r.header(*k, v);
        }
        let res = r
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.server))?;
        if res.status() != reqwest::StatusCode::CREATED {
            bail!("the server refused the upload: {}", error_text(res).await);
        }
        Ok(res)
    }

    /// The server's offset for an upload; None if it is gone.
    async fn offset(&self, url: &str) -> anyhow::Result<Option<u64>> {
        let res = self.req(reqwest::Method::HEAD, url).send().await?;
        if matches!(res.status().as_u16(), 404 | 410) {
            return Ok(None);
        }
        if !res.status().is_success() {
            bail!("HEAD {url}: {}", res.status());
        }
        Ok(res
            .headers()
            .get("upload-offset")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok()))
    }

    /// Sends `path[start..start+len]` to `url` from the server's offset,
    /// retrying after network errors. The bar always shows what the server has.
    async fn send_range(
        &self,
        url: &str,
        path: &Path,
        start: u64,
        len: u64,
        bar: &ProgressBar,
    ) -> anyhow::Result<()> {
        let mut failures = 0u32;
        let mut credited = 0u64;
        loop {
            let Some(offset) = self.offset(url).await? else {
                bail!("the upload {url} expired on the server")
            };
            if offset >= credited {
                bar.inc(offset - credited);
            } else {
                bar.set_position(bar.position().saturating_sub(credited - offset));
            }
            credited = offset;
            if offset >= len {
                return Ok(());
            }
            let mut f = tokio::fs::File::open(path).await?;
            f.seek(std::io::SeekFrom::Start(start + offset)).await?;
            let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
            let (b, s) = (bar.clone(), sent.clone());
            let stream = tokio_util::io::ReaderStream::with_capacity(f.take(len - offset), 1 << 20)
                .inspect(move |c| {
                    if let Ok(c) = c {
                        b.inc(c.len() as u64);
                        s.fetch_add(c.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    }
                });
            let res = self
                .req(reqwest::Method::PATCH, url)
                .header("Upload-Offset", offset)
                .header("Content-Type", "application/offset+octet-stream")
                .header("Content-Length", len - offset)
                .body(reqwest::Body::wrap_stream(stream))
                .send()
                .await;
            credited += sent.load(std::sync::atomic::Ordering::Relaxed);
            match res {
                Ok(r) if r.status() == reqwest::StatusCode::NO_CONTENT => return Ok(()),
                Ok(r)
                    if r.status().is_client_error()
                        && !matches!(r.status().as_u16(), 409 | 423) =>
                {
                    bail!("the server refused the data: {}", error_text(r).await)
                }
                other => {
                    failures += 1;
                    if failures > 8 {
                        bail!(
                            "giving up on {url} after repeated failures: {:?}",
                            other.err()
                        );
                    }
                    bar.println(format!("connection problem; resuming ({failures}/8)…"));
                    tokio::time::sleep(Duration::from_secs(1u64 << failures.min(4))).await;
                }
            }
        }
    }
}

async fn error_text(r: reqwest::Response) -> String {
    let status = r.status();
    let body = r.text().await.unwrap_or_default();
    match serde_json::from_str::<serde_json::Value>(&body) {
        Ok(v) => format!(
            "{} ({status})",
            v["error"]["message"].as_str().unwrap_or(&body)
        ),
        Err(_) => format!("{status} {}", body.chars().take(200).collect::<String>()),
    }
}

fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The HTTP client, sending `Authorization: Bearer` with every request when there is a token.
fn client_with(token: Option<&str>) -> anyhow::Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(t) = token.map(str::trim).filter(|t| !t.is_empty()) {
        let mut v = reqwest::header::HeaderValue::from_str(&format!("Bearer {t}"))
            .context("CARREL_TOKEN is not a valid token")?;
        v.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, v);
    }
    Ok(reqwest::Client::builder()
        .default_headers(headers)
        .build()?)
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    let server = a.server.trim_end_matches('/').to_owned();
    let client = Client {
        http: client_with(a.token.as_deref())?,
        server: server.clone(),
    };
    let multi = MultiProgress::new();
    let style = crate::progress_style();
    let mut state = load_state();
    let mut failed = 0;
    for path in &a.files {
        let meta =
            std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if !meta.is_file() {
            bail!("{} is not a file", path.display());
        }
        let size = meta.len();
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let abs = std::fs::canonicalize(path)?;
        let key = format!("{server}\n{}\n{size}\n{mtime}", abs.display());
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .context("the file name is not UTF-8")?
            .to_owned();
        let bar = multi.add(
            ProgressBar::new(size)
                .with_style(style.clone())
                .with_message(name.clone()),
        );
        let result = upload_one(
            &client,
            &a,
            &path.clone(),
            &name,
            size,
            &key,
            &mut state,
            &bar,
        )
        .await;
        bar.finish_and_clear();
        match result {
            Ok(entry) => {
                state.remove(&key);
                save_state(&state)?;
                let url = entry.share_url.unwrap_or_default();
                if a.json {
                    println!(
                        "{}",
                        serde_json::json!({ "file": path, "size": size, "url": url, "manage_token": entry.token })
                    );
                } else {
                    println!("{url}");
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!(
                    "carrel: {}: {e:#} (run the same command again to resume)",
                    path.display()
                );
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} uploads did not finish", a.files.len());
    }
    Ok(())
}

fn metadata_header(a: &Args, name: &str) -> String {
    let mut m = vec![format!("filename {}", b64(name))];
    if let Some(e) = &a.expires {
        m.push(format!("expires {}", b64(e)));
    }
    if let Some(p) = &a.password {
        m.push(format!("password {}", b64(p)));
    }
    if let Some(n) = a.max_downloads {
        m.push(format!("max_downloads {}", b64(&n.to_string())));
    }
    m.join(",")
}

#[allow(clippy::too_many_arguments)]
async fn upload_one(
    c: &Client,
    a: &Args,
    path: &Path,
    name: &str,
    size: u64,
    key: &str,
    state: &mut BTreeMap<String, Entry>,
    bar: &ProgressBar,
) -> anyhow::Result<Entry> {
    let parallel = a.parallel > 1 && size >= a.part_threshold;
    let mut entry = state
        .get(key)
        .cloned()
        .filter(|e| e.parallel == parallel)
        .unwrap_or_default();
    entry.parallel = parallel;
    if !parallel {
        if entry.urls.is_empty() {
            let res = c
                .create(&[
                    ("Upload-Length", size.to_string()),
                    ("Upload-Metadata", metadata_header(a, name)),
                ])
                .await?;
            entry.urls = vec![header(&res, "location").context("no Location from the server")?];
            entry.share_url = header(&res, "carrel-share-url");
            entry.token = header(&res, "carrel-manage-token");
            state.insert(key.to_owned(), entry.clone());
            save_state(state)?;
        }
        c.send_range(&entry.urls[0], path, 0, size, bar).await?;
        return Ok(entry);
    }
    let n = a.parallel;
    let part = size.div_ceil(n);
    let ranges: Vec<(u64, u64)> = (0..n)
        .map(|i| (i * part, part.min(size.saturating_sub(i * part))))
        .filter(|r| r.1 > 0)
        .collect();
    if entry.urls.len() != ranges.len() {
        entry.urls.clear();
        for (_, len) in &ranges {
            let res = c
                .create(&[
                    ("Upload-Length", len.to_string()),
                    ("Upload-Concat", "partial".into()),
                ])
                .await?;
            entry
                .urls
                .push(header(&res, "location").context("no Location from the server")?);
        }
        state.insert(key.to_owned(), entry.clone());
        save_state(state)?;
    }
    let jobs = entry
        .urls
        .iter()
        .zip(&ranges)
        .map(|(u, (start, len))| c.send_range(u, path, *start, *len, bar));
    futures::future::try_join_all(jobs).await?;
    let res = c
        .create(&[
            ("Upload-Concat", format!("final;{}", entry.urls.join(" "))),
            ("Upload-Metadata", metadata_header(a, name)),
        ])
        .await?;
    entry.share_url = header(&res, "carrel-share-url");
    entry.token = header(&res, "carrel-manage-token");
    Ok(entry)
}
