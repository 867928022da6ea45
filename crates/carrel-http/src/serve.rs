//! Serving immutable content (a blob) the way download clients expect:
//! `HEAD`, `Range` with one or several ranges (`multipart/byteranges`),
//! `If-Range`, `If-None-Match` and `If-Modified-Since`, strong `ETag`s from
//! the content hash. Bodies stream from the blob store in large chunks and
//! are never held in memory whole.

use std::ops::RangeInclusive;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use carrel_blob::{BlobSource, BlobStore};
use carrel_core::ids::BlobHash;
use carrel_core::media::MediaType;
use futures::stream::{self, BoxStream, StreamExt};

use crate::HttpError;
use crate::headers::user_content_headers;

/// More ranges than this in one request is refused (a classic amplification attack).
pub const MAX_RANGES: usize = 64;

/// What is being served, with the headers that never change for it worked
/// out once (a cached `Content` serves every request for its file).
#[derive(Clone, Debug)]
pub struct Content {
    pub hash: BlobHash,
    pub size: u64,
    pub last_modified: SystemTime,
    etag: String,
    /// ETag, Last-Modified, Accept-Ranges, Cache-Control, type,
    /// disposition and safety headers.
    headers: HeaderMap,
}

impl Content {
    /// `download` forces an attachment even for types that could be shown inline.
    pub fn new(
        hash: BlobHash,
        size: u64,
        last_modified: SystemTime,
        name: &str,
        media: &MediaType,
        download: bool,
    ) -> Self {
        let etag = format!("\"{}\"", hash.to_hex());
        let mut h = HeaderMap::with_capacity(12);
        h.insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex"));
        h.insert(
            header::LAST_MODIFIED,
            HeaderValue::from_str(&httpdate::fmt_http_date(last_modified)).expect("date"),
        );
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-cache"),
        );
        user_content_headers(&mut h, name, media, download);
        Self {
            hash,
            size,
            last_modified,
            etag,
            headers: h,
        }
    }

    /// Shown inline with its own type, whatever [`user_content_headers`]
    /// decides for the type alone: for a viewer carrel chose for this
    /// content (the browser's PDF viewer, under the sandboxing CSP that every
    /// response keeps). Ranges, multipart parts and 304s follow.
    pub fn shown_inline(mut self, name: &str, media: &MediaType) -> Self {
        if let Ok(v) = HeaderValue::from_str(&media.header_value()) {
            self.headers.insert(header::CONTENT_TYPE, v);
        }
        self.headers.insert(
            header::CONTENT_DISPOSITION,
            crate::headers::content_disposition("inline", name),
        );
        self
    }

    pub fn etag(&self) -> &str {
        &self.etag
    }
}

/// What a request asks for, decided from its headers alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    NotModified,
    Full,
    Ranges(Vec<RangeInclusive<u64>>),
}

impl Plan {
    /// Whether this response begins at byte 0 of the content (a new download
    /// rather than the continuation of one).
    pub fn starts_at_zero(&self) -> bool {
        match self {
            Plan::NotModified => false,
            Plan::Full => true,
            Plan::Ranges(r) => r.iter().any(|r| *r.start() == 0),
        }
    }
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn etag_matches(list: &str, etag: &str) -> bool {
    let bare = etag.trim_start_matches("W/");
    list.split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.trim_start_matches("W/") == bare)
}

fn same_second(a: SystemTime, b: SystemTime) -> bool {
    let s = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    s(a) == s(b)
}

/// Decides the response from the request's conditional and range headers.
pub fn plan(method: &Method, h: &HeaderMap, c: &Content) -> Result<Plan, HttpError> {
    let etag = c.etag();
    if let Some(inm) = header_str(h, header::IF_NONE_MATCH) {
        if etag_matches(inm, etag) {
            return Ok(Plan::NotModified);
        }
    } else if let Some(ims) =
        header_str(h, header::IF_MODIFIED_SINCE).and_then(|v| httpdate::parse_http_date(v).ok())
    {
        let lm = c
            .last_modified
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let since = ims
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if lm <= since {
            return Ok(Plan::NotModified);
        }
    }
    let Some(range) = h.get(header::RANGE) else {
        return Ok(Plan::Full);
    };
    if method != Method::GET && method != Method::HEAD {
        return Ok(Plan::Full);
    }
    if let Some(if_range) = header_str(h, header::IF_RANGE) {
        let fresh = if if_range.starts_with('"') {
            if_range == etag
        } else {
            httpdate::parse_http_date(if_range).is_ok_and(|d| same_second(d, c.last_modified))
        };
        if !fresh {
            return Ok(Plan::Full);
        }
    }
    if c.size == 0 {
        // Nothing to select in empty content: send it whole.
        return Ok(Plan::Full);
    }
    let unsatisfiable = |msg: &str| {
        HttpError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "range_not_satisfiable",
            msg.to_owned(),
        )
        .with_header(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&format!("bytes */{}", c.size)).expect("ascii"),
        )
    };
    let value = range
        .to_str()
        .map_err(|_| unsatisfiable("the Range header is not ASCII"))?;
    let parsed = http_range_header::parse_range_header(value).map_err(|_| {
        unsatisfiable("the Range header is malformed; expected bytes=START-END[, …]")
    })?;
    let ranges = parsed
        .validate(c.size)
        .map_err(|_| unsatisfiable("the requested ranges overlap or lie outside the content"))?;
    if ranges.len() > MAX_RANGES {
        return Err(unsatisfiable("too many ranges in one request"));
    }
    Ok(Plan::Ranges(ranges))
}

/// Builds the response for a plan. `HEAD` gets the headers of the `GET`.
pub async fn respond(
    method: &Method,
    plan: Plan,
    c: &Content,
    store: Arc<dyn BlobStore>,
) -> Result<Response, HttpError> {
    let mut res = Response::new(Body::empty());
    *res.headers_mut() = c.headers.clone();
    let head = method == Method::HEAD;
    match plan {
        Plan::NotModified => {
            *res.status_mut() = StatusCode::NOT_MODIFIED;
            res.headers_mut().remove(header::CONTENT_TYPE);
        }
        Plan::Full => {
            res.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(c.size));
            if !head && c.size > 0 {
                set_body(&mut res, store, c.hash, 0..=c.size - 1).await?;
            }
        }
        Plan::Ranges(ranges) if ranges.len() == 1 => {
            let r = ranges[0].clone();
            *res.status_mut() = StatusCode::PARTIAL_CONTENT;
            let h = res.headers_mut();
            h.insert(
                header::CONTENT_LENGTH,
                HeaderValue::from(r.end() - r.start() + 1),
            );
            h.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes {}-{}/{}", r.start(), r.end(), c.size))
                    .expect("ascii"),
            );
            if !head {
                set_body(&mut res, store, c.hash, r).await?;
            }
        }
        Plan::Ranges(ranges) => {
            *res.status_mut() = StatusCode::PARTIAL_CONTENT;
            let boundary = format!("carrel-{:016x}", rand::random::<u64>());
            let part_type = res
                .headers()
                .get(header::CONTENT_TYPE)
                .cloned()
                .unwrap_or(HeaderValue::from_static("application/octet-stream"));
            let part_type = part_type
                .to_str()
                .unwrap_or("application/octet-stream")
                .to_owned();
            let mut pieces: Vec<(Bytes, RangeInclusive<u64>)> = Vec::with_capacity(ranges.len());
            let mut len = 0u64;
            for r in ranges {
                let head = format!(
                    "\r\n--{boundary}\r\nContent-Type: {part_type}\r\nContent-Range: bytes {}-{}/{}\r\n\r\n",
                    r.start(),
                    r.end(),
                    c.size
                );
                len += head.len() as u64 + (r.end() - r.start() + 1);
                pieces.push((Bytes::from(head), r));
            }
            let tail = Bytes::from(format!("\r\n--{boundary}--\r\n"));
            len += tail.len() as u64;
            let h = res.headers_mut();
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_str(&format!("multipart/byteranges; boundary={boundary}"))
                    .expect("ascii"),
            );
            if !head {
                let hash = c.hash;
                let parts = stream::iter(pieces)
                    .then(move |(head, r)| {
                        let store = store.clone();
                        async move {
                            let body = source_stream(
                                store
                                    .open(&hash, *r.start()..*r.end() + 1)
                                    .await
                                    .map_err(std::io::Error::other)?,
                                r,
                            )
                            .await?;
                            Ok::<_, std::io::Error>(stream::once(async { Ok(head) }).chain(body))
                        }
                    })
                    .flat_map(|s| match s {
                        Ok(s) => s.boxed(),
                        Err(e) => stream::once(async { Err(e) }).boxed(),
                    })
                    .chain(stream::once(async { Ok(tail) }));
                *res.body_mut() = Body::from_stream(parts);
            }
        }
    }
    Ok(res)
}

/// A byte range of an open local file that is a response's whole body.
/// Set as a response extension beside the (equivalent) streamed body, so a
/// connection that can hand a file to the socket (`sendfile(2)` in
/// [`crate::conn`]) sends it without copying it through user space; any
/// other connection (HTTP/2, or one handed to hyper) streams the body.
#[derive(Clone, Debug)]
pub struct FileRange {
    pub file: Arc<std::fs::File>,
    pub offset: u64,
    pub len: u64,
}

impl FileRange {
    fn new(file: Arc<std::fs::File>, r: &RangeInclusive<u64>) -> Self {
        Self {
            file,
            offset: *r.start(),
            len: r.end() - r.start() + 1,
        }
    }
}

async fn set_body(
    res: &mut Response,
    store: Arc<dyn BlobStore>,
    hash: BlobHash,
    r: RangeInclusive<u64>,
) -> Result<(), HttpError> {
    let source = store
        .open(&hash, *r.start()..*r.end() + 1)
        .await
        .map_err(blob_error)?;
    match source {
        BlobSource::Memory(b) => *res.body_mut() = Body::from(b),
        BlobSource::LocalFile(f) => {
            let range = FileRange::new(f, &r);
            *res.body_mut() = Body::from_stream(file_stream(range.clone()));
            res.extensions_mut().insert(range);
        }
        BlobSource::Stream(s) => *res.body_mut() = Body::from_stream(s),
    }
    Ok(())
}

/// Read sizes of streamed files. Together, the downloads in flight hold
/// about [`READ_BUDGET`] bytes of read buffers: each read is the budget
/// shared among them, between [`MIN_CHUNK`] and [`MAX_CHUNK`]. One large
/// download reads in big chunks (few system calls, few trips to the
/// blocking pool); a thousand slow ones hold 64 KiB each, not megabytes.
const READ_BUDGET: usize = 32 << 20;
const MIN_CHUNK: usize = 16 << 10;
const MAX_CHUNK: usize = 1 << 20;

static STREAMING: AtomicUsize = AtomicUsize::new(0);

/// Counts a file stream in flight for as long as it lives.
pub(crate) struct Streaming;

impl Streaming {
    pub(crate) fn start() -> Self {
        STREAMING.fetch_add(1, Ordering::Relaxed);
        Streaming
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        STREAMING.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Each stream holds up to two chunks: the one being sent and the one being read.
fn chunk_size() -> usize {
    (READ_BUDGET / 2 / STREAMING.load(Ordering::Relaxed).max(1)).clamp(MIN_CHUNK, MAX_CHUNK)
}

pub(crate) type Read = tokio::task::JoinHandle<std::io::Result<Vec<u8>>>;

/// Starts reading the next chunk of `r` (at most its `len` bytes, from its
/// `offset`) on the blocking pool; the chunk's size is the stream's share
/// of the read budget.
pub(crate) fn read_next(r: &FileRange) -> Read {
    let n = (chunk_size() as u64).min(r.len) as usize;
    // Allocated here, on the runtime thread that will also free it once
    // sent: buffers made on (many) blocking threads and freed on others
    // stay cached per thread in the allocator and add up.
    let mut buf = Vec::with_capacity(n);
    let (file, offset) = (r.file.clone(), r.offset);
    tokio::task::spawn_blocking(move || {
        while buf.len() < n {
            let at = offset + buf.len() as u64;
            match rustix::io::pread(&*file, rustix::buffer::spare_capacity(&mut buf), at) {
                Ok(0) => break,
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        // The spare capacity may exceed `n`; never send past the range.
        buf.truncate(n);
        Ok(buf)
    })
}

/// Reads the range chunk by chunk on the blocking pool, one chunk ahead:
/// while the socket takes chunk N, chunk N+1 is being read. Each chunk is
/// read straight into the buffer that goes to the socket (one copy out of
/// the page cache, as nginx's read/write path does). Nothing is read before
/// the stream is first polled (a connection that sends the file with
/// `sendfile(2)` never polls it).
fn file_stream(range: FileRange) -> BoxStream<'static, std::io::Result<Bytes>> {
    if range.len == 0 {
        return stream::empty().boxed();
    }
    // (range left, read in flight, guard); the guard counts the stream
    // from its first read, so that read's size already shares the budget.
    let state: (FileRange, Option<Read>, Option<Streaming>) = (range, None, None);
    stream::try_unfold(state, |(mut left, pending, guard)| async move {
        if left.len == 0 {
            return Ok(None);
        }
        let guard = guard.unwrap_or_else(Streaming::start);
        let pending = pending.unwrap_or_else(|| read_next(&left));
        let buf = pending.await.map_err(std::io::Error::other)??;
        if buf.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the blob is shorter than its recorded size",
            ));
        }
        left.offset += buf.len() as u64;
        left.len -= buf.len() as u64;
        let next = (left.len > 0).then(|| read_next(&left));
        Ok(Some((Bytes::from(buf), (left, next, Some(guard)))))
    })
    .boxed()
}

/// The bytes of `r` as a stream.
/// The first `min(size, max)` bytes of a blob of `size` bytes (a text
/// preview, the magic bytes that tell what a file really is).
pub async fn read_head(
    store: &dyn BlobStore,
    hash: &BlobHash,
    size: u64,
    max: u64,
) -> Result<Vec<u8>, carrel_blob::BlobError> {
    let n = size.min(max);
    if n == 0 {
        return Ok(Vec::new());
    }
    let src = store.open(hash, 0..n).await?;
    let mut s = source_stream(src, 0..=n - 1).await?;
    let mut buf = Vec::with_capacity(n as usize);
    while let Some(c) = s.next().await {
        buf.extend_from_slice(&c?);
        if buf.len() as u64 >= n {
            break;
        }
    }
    buf.truncate(n as usize);
    Ok(buf)
}

pub async fn source_stream(
    source: BlobSource,
    r: RangeInclusive<u64>,
) -> std::io::Result<BoxStream<'static, std::io::Result<Bytes>>> {
    match source {
        BlobSource::Stream(s) => Ok(s),
        BlobSource::Memory(b) => Ok(stream::once(async move { Ok(b) }).boxed()),
        BlobSource::LocalFile(f) => Ok(file_stream(FileRange::new(f, &r))),
    }
}

fn blob_error(e: carrel_blob::BlobError) -> HttpError {
    match e {
        carrel_blob::BlobError::NotFound(_) => HttpError::new(
            StatusCode::NOT_FOUND,
            "blob_missing",
            "the file's content is missing from storage",
        ),
        other => HttpError::internal(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(size: u64) -> Content {
        Content::new(
            BlobHash::from_bytes([1; 32]),
            size,
            SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000),
            "a.bin",
            &MediaType::octet_stream(),
            false,
        )
    }

    fn req(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn ranges() {
        let c = content(100);
        let get = Method::GET;
        assert_eq!(plan(&get, &req(&[]), &c).unwrap(), Plan::Full);
        assert_eq!(
            plan(&get, &req(&[(header::RANGE, "bytes=10-19")]), &c).unwrap(),
            Plan::Ranges(vec![10..=19])
        );
        assert_eq!(
            plan(&get, &req(&[(header::RANGE, "bytes=90-")]), &c).unwrap(),
            Plan::Ranges(vec![90..=99])
        );
        assert_eq!(
            plan(&get, &req(&[(header::RANGE, "bytes=-5")]), &c).unwrap(),
            Plan::Ranges(vec![95..=99])
        );
        assert_eq!(
            plan(&get, &req(&[(header::RANGE, "bytes=0-9999")]), &c).unwrap(),
            Plan::Ranges(vec![0..=99])
        );
        assert_eq!(
            plan(&get, &req(&[(header::RANGE, "bytes=0-1,5-6")]), &c).unwrap(),
            Plan::Ranges(vec![0..=1, 5..=6])
        );
        for bad in [
            "bytes=100-",
            "bytes=5-1",
            "bytes=0-10,5-20",
            "items=0-1",
            "bytes=x-y",
            "bytes=",
        ] {
            let e = plan(&get, &req(&[(header::RANGE, bad)]), &c).unwrap_err();
            assert_eq!(e.status, StatusCode::RANGE_NOT_SATISFIABLE, "{bad}");
        }
        let many = (0..70)
            .map(|i| format!("{}-{}", i, i))
            .collect::<Vec<_>>()
            .join(",");
        assert!(plan(&get, &req(&[(header::RANGE, &format!("bytes={many}"))]), &c).is_err());
    }

    #[test]
    fn conditionals() {
        let c = content(100);
        let get = Method::GET;
        let etag = c.etag().to_owned();
        assert_eq!(
            plan(&get, &req(&[(header::IF_NONE_MATCH, &etag)]), &c).unwrap(),
            Plan::NotModified
        );
        assert_eq!(
            plan(&get, &req(&[(header::IF_NONE_MATCH, "\"other\"")]), &c).unwrap(),
            Plan::Full
        );
        let lm = httpdate::fmt_http_date(c.last_modified);
        assert_eq!(
            plan(&get, &req(&[(header::IF_MODIFIED_SINCE, &lm)]), &c).unwrap(),
            Plan::NotModified
        );
        assert_eq!(
            plan(
                &get,
                &req(&[(header::RANGE, "bytes=1-2"), (header::IF_RANGE, &etag)]),
                &c
            )
            .unwrap(),
            Plan::Ranges(vec![1..=2])
        );
        assert_eq!(
            plan(
                &get,
                &req(&[
                    (header::RANGE, "bytes=1-2"),
                    (header::IF_RANGE, "\"stale\"")
                ]),
                &c
            )
            .unwrap(),
            Plan::Full
        );
        assert_eq!(
            plan(
                &get,
                &req(&[(header::RANGE, "bytes=1-2"), (header::IF_RANGE, &lm)]),
                &c
            )
            .unwrap(),
            Plan::Ranges(vec![1..=2])
        );
        assert_eq!(
            plan(&get, &req(&[(header::RANGE, "bytes=0-")]), &content(0)).unwrap(),
            Plan::Full
        );
    }
}
