//! `carrel download URL`: fetches a share link's bytes to a file, resuming a
//! partial file with `Range` + `If-Range`, with a progress bar.

use std::path::PathBuf;

use anyhow::{Context, bail};
use futures::StreamExt;
use indicatif::ProgressBar;
use tokio::io::AsyncWriteExt;

#[derive(clap::Args)]
pub struct Args {
    /// A share link (…/s/ID) or direct link (…/d/ID).
    url: String,
    /// Where to write (default: the file's name, in the current directory).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// The link's password, if it has one.
    #[arg(long, env = "CARREL_SHARE_PASSWORD")]
    password: Option<String>,
}

/// The file name from `Content-Disposition` (`filename*` first), reduced to a
/// safe base name.
fn disposition_name(v: &str) -> Option<String> {
    let mut plain = None;
    for part in v.split(';').map(str::trim) {
        if let Some(enc) = part.strip_prefix("filename*=") {
            let raw = enc.split("''").nth(1)?;
            return percent_encoding::percent_decode_str(raw)
                .decode_utf8()
                .ok()
                .map(|s| s.into_owned());
        }
        if let Some(p) = part.strip_prefix("filename=") {
            plain = Some(p.trim_matches('"').to_owned());
        }
    }
    plain
}

fn safe_base_name(n: &str) -> Option<String> {
    let base = n.rsplit(['/', '\\']).next()?.trim();
    (!base.is_empty() && base != "." && base != ".." && !base.chars().any(char::is_control))
        .then(|| base.to_owned())
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    let url = a.url.replacen("/s/", "/d/", 1);
    let http = reqwest::Client::new();
    let auth = |r: reqwest::RequestBuilder| match &a.password {
        Some(p) => r.basic_auth("", Some(p)),
        None => r,
    };
    let head = auth(http.head(&url))
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    if !head.status().is_success() {
        bail!("{url}: {}", head.status());
    }
    let total = head.content_length();
    let etag = head
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let name = head
        .headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .and_then(disposition_name)
        .and_then(|n| safe_base_name(&n))
        .unwrap_or_else(|| "download".into());
    let out = a.output.unwrap_or_else(|| PathBuf::from(&name));
    let have = tokio::fs::metadata(&out)
        .await
        .map(|m| m.len())
        .unwrap_or(0);
    if total.is_some_and(|t| have == t && t > 0) {
        eprintln!("{} is already complete", out.display());
        return Ok(());
    }
    let mut req = auth(http.get(&url));
    if have > 0 {
        req = req.header("Range", format!("bytes={have}-"));
        if let Some(e) = &etag {
            req = req.header("If-Range", e);
        }
    }
    let res = req.send().await?;
    let resume = res.status() == reqwest::StatusCode::PARTIAL_CONTENT;
    if !res.status().is_success() {
        bail!("{url}: {}", res.status());
    }
    let mut file = if resume {
        tokio::fs::OpenOptions::new()
            .append(true)
            .open(&out)
            .await?
    } else {
        tokio::fs::File::create(&out).await?
    };
    let bar = ProgressBar::new(total.unwrap_or(0)).with_style(crate::progress_style());
    bar.set_message(name);
    bar.set_position(if resume { have } else { 0 });
    let mut body = res.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk =
            chunk.context("the download was interrupted; run the same command again to resume")?;
        file.write_all(&chunk).await?;
        bar.inc(chunk.len() as u64);
    }
    file.flush().await?;
    bar.finish_and_clear();
    eprintln!("saved {}", out.display());
    println!("{}", out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_disposition_are_safe() {
        assert_eq!(
            disposition_name(
                "attachment; filename=\"a_b.txt\"; filename*=UTF-8''%C3%A9t%C3%A9.txt"
            )
            .as_deref(),
            Some("été.txt")
        );
        assert_eq!(
            safe_base_name("../../etc/passwd").as_deref(),
            Some("passwd")
        );
        assert_eq!(safe_base_name(".."), None);
    }
}
