//! A folder (or an account's export) as a ZIP, streamed: entries are written one after another
//! (stored, with data descriptors, ZIP64 when needed) into a pipe whose other
//! end is the response body, so the archive is never built in memory or on
//! disk.

use std::collections::HashSet;
use std::sync::Arc;

use async_zip::base::write::ZipFileWriter;
use async_zip::{Compression, ZipDateTime, ZipEntryBuilder};
use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use carrel_blob::BlobStore;
use carrel_db::File;
use futures::{AsyncWriteExt, StreamExt};
use tokio_util::compat::TokioAsyncWriteCompatExt;

/// Pipe capacity between the ZIP writer and the response.
const PIPE: usize = 256 * 1024;

/// Makes paths unique inside the archive: `a.txt`, `a (2).txt`, …
pub(crate) fn unique_paths(paths: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut seen = HashSet::new();
    paths
        .into_iter()
        .map(|path| {
            let (dir, name) = match path.rsplit_once('/') {
                Some((d, n)) => (format!("{d}/"), n.to_owned()),
                None => (String::new(), path.clone()),
            };
            let (stem, ext) = match name.rsplit_once('.') {
                Some((s, e)) if !s.is_empty() => (s.to_owned(), format!(".{e}")),
                _ => (name.clone(), String::new()),
            };
            let mut candidate = path;
            let mut i = 2;
            while !seen.insert(candidate.clone()) {
                candidate = format!("{dir}{stem} ({i}){ext}");
                i += 1;
            }
            candidate
        })
        .collect()
}

/// A folder's files as a ZIP, each under its own (unique) name.
pub fn zip_response(store: Arc<dyn BlobStore>, archive_name: &str, files: Vec<File>) -> Response {
    let names = unique_paths(files.iter().map(|f| f.name.to_string()));
    archive_response(
        store,
        archive_name,
        None,
        files.into_iter().zip(names).collect(),
    )
}

/// A ZIP of `first` (a name and its bytes, such as an export's JSON), then
/// each file under its path.
pub fn archive_response(
    store: Arc<dyn BlobStore>,
    archive_name: &str,
    first: Option<(String, Vec<u8>)>,
    files: Vec<(File, String)>,
) -> Response {
    let (reader, writer) = tokio::io::duplex(PIPE);
    tokio::spawn(async move {
        let mut zip = ZipFileWriter::new(writer.compat_write());
        if let Some((name, bytes)) = first {
            let entry =
                ZipEntryBuilder::new(name.into(), Compression::Deflate).unix_permissions(0o644);
            if let Err(e) = zip.write_entry_whole(entry, &bytes).await {
                tracing::warn!(error = %e, "ZIP stream aborted");
                return;
            }
        }
        for (f, name) in &files {
            // The upload time, in UTC (ZIP's DOS dates carry no zone).
            let mut entry = ZipEntryBuilder::new(name.clone().into(), Compression::Stored)
                .unix_permissions(0o644);
            if let Some(t) = chrono::DateTime::from_timestamp(f.created_at.0, 0) {
                entry = entry.last_modification_date(ZipDateTime::from_chrono(&t));
            }
            let result = async {
                let mut w = zip.write_entry_stream(entry).await?;
                if f.size > 0 {
                    let src = store
                        .open(&f.blob, 0..f.size as u64)
                        .await
                        .map_err(std::io::Error::other)?;
                    let mut s =
                        carrel_http::serve::source_stream(src, 0..=f.size as u64 - 1).await?;
                    while let Some(chunk) = s.next().await {
                        w.write_all(&chunk?).await?;
                    }
                }
                w.close().await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            }
            .await;
            if let Err(e) = result {
                // The client sees a truncated archive, which its unzip reports.
                tracing::warn!(file = %f.id, error = %e, "ZIP stream aborted");
                return;
            }
        }
        if let Err(e) = zip.close().await {
            tracing::warn!(error = %e, "ZIP stream could not be finished");
        }
    });
    let mut res = Response::new(Body::from_stream(
        tokio_util::io::ReaderStream::with_capacity(reader, PIPE),
    ));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        carrel_http::headers::content_disposition("attachment", archive_name),
    );
    carrel_http::headers::safety_headers(h);
    res
}

#[cfg(test)]
mod tests {
    #[test]
    fn paths_are_made_unique_within_their_folder() {
        let got = super::unique_paths(
            [
                "a.txt", "a.txt", "d/a.txt", "d/a.txt", "noext", "noext", ".env", ".env",
            ]
            .map(String::from),
        );
        assert_eq!(
            got,
            [
                "a.txt",
                "a (2).txt",
                "d/a.txt",
                "d/a (2).txt",
                "noext",
                "noext (2)",
                ".env",
                ".env (2)"
            ]
        );
    }
}
