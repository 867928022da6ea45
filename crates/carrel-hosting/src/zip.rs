//! A folder as a ZIP, streamed: entries are written one after another
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

/// Makes names unique inside the archive: `a.txt`, `a (2).txt`, …
fn unique_names(files: &[File]) -> Vec<String> {
    let mut seen = HashSet::new();
    files
        .iter()
        .map(|f| {
            let name = f.name.as_str();
            let (stem, ext) = match name.rsplit_once('.') {
                Some((s, e)) if !s.is_empty() => (s.to_owned(), format!(".{e}")),
                _ => (name.to_owned(), String::new()),
            };
            let mut candidate = name.to_owned();
            let mut i = 2;
            while !seen.insert(candidate.clone()) {
                candidate = format!("{stem} ({i}){ext}");
                i += 1;
            }
            candidate
        })
        .collect()
}

pub fn zip_response(store: Arc<dyn BlobStore>, archive_name: &str, files: Vec<File>) -> Response {
    let (reader, writer) = tokio::io::duplex(PIPE);
    let names = unique_names(&files);
    tokio::spawn(async move {
        let mut zip = ZipFileWriter::new(writer.compat_write());
        for (f, name) in files.iter().zip(names) {
            // The upload time, in UTC (ZIP's DOS dates carry no zone).
            let mut entry =
                ZipEntryBuilder::new(name.into(), Compression::Stored).unix_permissions(0o644);
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
