//! The connection loop, with a fast path for the requests a file host
//! lives on.
//!
//! Each accepted connection first goes through a small HTTP/1.1 loop of
//! carrel's own. It takes a request only when its whole head arrived in one
//! read and it is a plain `GET` or `HEAD` over HTTP/1.1 without a body, an
//! `Expect` or an `Upgrade`; the handler (the same one hyper calls) answers
//! it, and the loop writes the response itself. A body that is a byte range
//! of a local file ([`FileRange`]) is sent from the file by the loop, not
//! through a body stream, a piece at a time. While few connections are open
//! (at most [`COPY_UP_TO_CONNECTIONS`]), a piece goes through a 1 MiB
//! reused buffer from a bounded pool when one is free (`pread`, then one
//! `writev`, with the head in front of the first piece; the buffer goes
//! back as soon as the socket took the piece), nginx's `sendfile off;
//! output_buffers 2 1m` shape, which on loopback moved a single transfer
//! up to 1.6x faster than `sendfile` (a fresh buffer per response was slower:
//! its allocation and page faults; BENCHMARKS.md). Otherwise, and when no
//! buffer is free, it goes with `sendfile(2)` (4 MiB a call), which needs no
//! memory and less CPU per byte: with many connections the CPU is what runs
//! out, and `sendfile` then serves more (1.2x at 64 viewers here).
//!
//! The loop keeps the connection while the requests stay this simple.
//!
//! Anything else (a partial or malformed head, another method, a body,
//! HTTP/1.0, HTTP/2's preface, an upgrade) is handed to hyper together with
//! the bytes already read, and hyper serves the rest of the connection:
//! every corner of the protocol (timeouts for slow heads, `100-continue`,
//! request bodies, HTTP/2) stays hyper's.

use std::convert::Infallible;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, Uri, header};
use bytes::{Buf, Bytes, BytesMut};
use carrel_core::privacy::log_address;
use futures::future::BoxFuture;
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::serve::FileRange;

/// What answers every request, on either path.
pub type Handler = Arc<dyn Fn(Request<Body>) -> BoxFuture<'static, Response<Body>> + Send + Sync>;

/// Request heads larger than this are left to hyper.
const HEAD_BUF: usize = 8 << 10;
/// Headers beyond this count are left to hyper.
const MAX_HEADERS: usize = 48;
/// Bytes handed to the kernel per `sendfile(2)` call.
const SENDFILE_CHUNK: usize = 4 << 20;
/// Size of each pooled copy buffer: one `pread` and one `write` per piece.
const COPY_BUF: usize = 1 << 20;
/// At most this many copy buffers exist (`COPY_BUFS` × [`COPY_BUF`] of
/// memory in all, whatever the number of connections); when all are in use,
/// responses go out with `sendfile(2)`.
const COPY_BUFS: usize = 64;

/// Pieces are copied (when a buffer is free) only while at most this many
/// connections are open; with more, every piece goes with `sendfile(2)`.
/// Copying costs more CPU per byte (the bytes cross memory twice in this
/// process) but keeps a single transfer moving faster; once many
/// connections share the cores, the CPU is what runs out, and `sendfile`
/// moves more bytes per CPU second. On this project's 2-core VM: at 1
/// viewer copying is 1.02–1.34x of `sendfile`, at 64 it was 0.78–0.88x
/// (BENCHMARKS.md, viewers).
const COPY_UP_TO_CONNECTIONS: usize = 4;

/// The copy buffers, made on first use and kept for the process's life.
static COPY_POOL: BufPool = BufPool::new(COPY_BUF, COPY_BUFS);

static FAST_REQUESTS: AtomicU64 = AtomicU64::new(0);
static HANDED_TO_HYPER: AtomicU64 = AtomicU64::new(0);
static COLD_READS: AtomicU64 = AtomicU64::new(0);

/// Requests answered by the fast path, connections handed to hyper, and
/// pieces of files read on the blocking pool, since the process started
/// (for `/metrics`).
pub fn counts() -> [(&'static str, &'static str, u64); 3] {
    [
        (
            "carrel_http_fast_requests",
            "Requests answered by carrel's own HTTP/1.1 loop.",
            FAST_REQUESTS.load(Ordering::Relaxed),
        ),
        (
            "carrel_http_connections_handed_to_hyper",
            "Connections handed to hyper (request bodies, HTTP/2, unusual heads).",
            HANDED_TO_HYPER.load(Ordering::Relaxed),
        ),
        (
            "carrel_http_cold_file_reads",
            "Pieces of files sent from the blocking pool because they were not in the page cache.",
            COLD_READS.load(Ordering::Relaxed),
        ),
    ]
}

/// Serves connections until [`Connections::shutdown`].
pub struct Connections {
    shared: Arc<Shared>,
    graceful: GracefulShutdown,
    stop: watch::Sender<bool>,
}

struct Shared {
    handler: Handler,
    hyper: auto::Builder<TokioExecutor>,
    header_read_timeout: Duration,
}

impl Connections {
    /// `hyper` serves whatever the fast path does not take;
    /// `header_read_timeout` also bounds how long an idle connection waits
    /// for its next request, as hyper's does.
    pub fn new(
        handler: Handler,
        hyper: auto::Builder<TokioExecutor>,
        header_read_timeout: Duration,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                handler,
                hyper,
                header_read_timeout,
            }),
            graceful: GracefulShutdown::new(),
            stop: watch::channel(false).0,
        }
    }

    /// Serves one accepted connection on its own task.
    pub fn serve(&self, stream: TcpStream, peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let conn = Conn {
            _open: Open::new(),
            shared: self.shared.clone(),
            watcher: self.graceful.watcher(),
            stop: self.stop.subscribe(),
            peer,
        };
        tokio::spawn(conn.run(stream));
    }

    /// Stops taking new requests: idle connections close, requests in
    /// flight finish. Resolves when every connection is gone.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        self.graceful.shutdown().await;
    }
}

struct Conn {
    _open: Open,
    shared: Arc<Shared>,
    /// Held while the connection lives, so that a shutdown waits for it.
    watcher: Watcher,
    stop: watch::Receiver<bool>,
    peer: SocketAddr,
}

/// A request the fast path takes, and how to answer it.
struct Simple {
    req: Request<Body>,
    head: bool,
    close: bool,
}

impl Conn {
    async fn run(mut self, mut stream: TcpStream) {
        let mut buf = BytesMut::with_capacity(HEAD_BUF);
        let mut out = Vec::with_capacity(1024);
        loop {
            if buf.is_empty() {
                // Takes back the room of the heads already parsed (without
                // it the buffer shrinks with each request, until heads
                // arrive in pieces and go to hyper).
                buf.reserve(HEAD_BUF);
                // A busy connection has its next request waiting: read it
                // without arming a timer or watching for shutdown.
                match stream.try_read_buf(&mut buf) {
                    Ok(0) => return,
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        let read = tokio::time::timeout(
                            self.shared.header_read_timeout,
                            stream.read_buf(&mut buf),
                        );
                        tokio::select! {
                            r = read => match r {
                                Ok(Ok(n)) if n > 0 => {}
                                // Closed, failed or idle for too long.
                                _ => return,
                            },
                            _ = self.stop.changed() => return,
                        }
                    }
                    Err(_) => return,
                }
            }
            let Some((simple, used)) = parse(&buf) else {
                if *self.stop.borrow() {
                    return;
                }
                HANDED_TO_HYPER.fetch_add(1, Ordering::Relaxed);
                return self.hand_to_hyper(stream, buf.freeze()).await;
            };
            FAST_REQUESTS.fetch_add(1, Ordering::Relaxed);
            buf.advance(used);
            let Simple {
                mut req,
                head,
                close,
            } = simple;
            req.extensions_mut().insert(ConnectInfo(self.peer));
            let res = (self.shared.handler)(req).await;
            match write_response(&mut stream, res, head, close, &mut out).await {
                Ok(()) if !close => {}
                Ok(()) => {
                    // FIN rather than a reset that could cut the response short.
                    let _ = stream.shutdown().await;
                    return;
                }
                Err(e) => {
                    tracing::debug!(network = %log_address(self.peer.ip()), error = %e, "connection ended with an error");
                    return;
                }
            }
        }
    }

    async fn hand_to_hyper(self, stream: TcpStream, read: Bytes) {
        let handler = self.shared.handler.clone();
        let peer = self.peer;
        let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            let res = handler(req.map(Body::new));
            async move { Ok::<_, Infallible>(res.await) }
        });
        let io = TokioIo::new(Rewind { read, stream });
        let conn = self
            .shared
            .hyper
            .serve_connection_with_upgrades(io, service);
        if let Err(e) = self.watcher.watch(conn).await {
            tracing::debug!(network = %log_address(peer.ip()), error = %e, "connection ended with an error");
        }
    }
}

/// Parses a request head the fast path takes; `None` leaves it to hyper.
fn parse(buf: &[u8]) -> Option<(Simple, usize)> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut r = httparse::Request::new(&mut headers);
    let used = match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => return None,
    };
    if r.version != Some(1) {
        return None;
    }
    let method = match r.method? {
        "GET" => Method::GET,
        "HEAD" => Method::HEAD,
        _ => return None,
    };
    let uri: Uri = r.path?.parse().ok()?;
    let mut map = HeaderMap::with_capacity(r.headers.len());
    let mut close = false;
    for h in r.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).ok()?;
        let value = HeaderValue::from_bytes(h.value).ok()?;
        if name == header::CONTENT_LENGTH {
            if value.as_bytes() != b"0" {
                return None;
            }
        } else if name == header::TRANSFER_ENCODING
            || name == header::EXPECT
            || name == header::UPGRADE
        {
            return None;
        } else if name == header::CONNECTION {
            for token in value.to_str().ok()?.split(',') {
                let token = token.trim();
                if token.eq_ignore_ascii_case("close") {
                    close = true;
                } else if token.eq_ignore_ascii_case("upgrade") {
                    return None;
                }
            }
        }
        map.append(name, value);
    }
    let head = method == Method::HEAD;
    let mut req = Request::new(Body::empty());
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.headers_mut() = map;
    Some((Simple { req, head, close }, used))
}

/// Writes a response: with its `Content-Length` when the handler set one,
/// chunked otherwise, so the connection can always take another request.
async fn write_response(
    stream: &mut TcpStream,
    res: Response<Body>,
    head: bool,
    close: bool,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    let (mut parts, body) = res.into_parts();
    let file = parts.extensions.remove::<FileRange>();
    let tap = parts
        .extensions
        .remove::<std::sync::Arc<crate::meter::Tap>>();
    let status = parts.status;
    // As hyper: these never have a body nor a length.
    let no_length = status.is_informational()
        || status == axum::http::StatusCode::NO_CONTENT
        || status == axum::http::StatusCode::NOT_MODIFIED;
    let bodyless = head || no_length;
    let length = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let chunked = !bodyless && length.is_none();

    out.clear();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in &parts.headers {
        if name == header::CONNECTION
            || name == header::TRANSFER_ENCODING
            || (no_length && name == header::CONTENT_LENGTH)
        {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !parts.headers.contains_key(header::DATE) {
        out.extend_from_slice(b"date: ");
        date(out);
        out.extend_from_slice(b"\r\n");
    }
    if chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");

    if bodyless {
        return stream.write_all(out).await;
    }
    let length = length.unwrap_or(0);
    if let Some(range) = file.filter(|r| r.len == length) {
        return send_file(stream, out, &range, tap.as_deref(), &COPY_POOL).await;
    }

    let mut body = body;
    let mut sent = 0u64;
    let mut pending_head = true;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(io::Error::other)?.into_data() else {
            continue; // trailers: not sent over HTTP/1.1 here
        };
        if data.is_empty() {
            continue;
        }
        sent += data.len() as u64;
        // The head goes out with the first piece (one packet for small files).
        if !pending_head {
            out.clear();
        }
        if chunked {
            write!(out, "{:x}\r\n", data.len())?;
        }
        let tail: &[u8] = if chunked { b"\r\n" } else { b"" };
        stream
            .write_all_buf(&mut Buf::chain(Buf::chain(&out[..], data), tail))
            .await?;
        pending_head = false;
    }
    if pending_head {
        stream.write_all(out).await?;
    }
    if chunked {
        stream.write_all(b"0\r\n\r\n").await?;
    } else if sent != length {
        return Err(io::Error::other(format!(
            "the body was {sent} bytes, not the {length} its Content-Length announced"
        )));
    }
    Ok(())
}

/// Sends the head in `head`, then `range` of its file, a piece at a time.
/// While at most [`COPY_UP_TO_CONNECTIONS`] connections are open, each piece
/// takes a buffer of `pool` when one is free: `pread`, then one
/// `writev` (the head in front of the first piece, so no cork is needed),
/// and the buffer goes back as soon as the socket took the piece, so slow
/// downloads do not keep the pool from others. Any other piece goes with
/// `sendfile(2)`, which needs no memory, the head before it under
/// `TCP_CORK` (nginx's `tcp_nopush`) so they leave in full segments. All of
/// it runs on this runtime thread, waiting whenever the socket's buffer is
/// full; but a piece of the file that is not in the page cache (which would
/// stall the thread, and every connection on it, while the disk reads) is
/// read on the blocking pool instead and written from memory; by then the
/// kernel's read-ahead usually has the next pieces cached again.
async fn send_file(
    stream: &mut TcpStream,
    head: &[u8],
    range: &FileRange,
    tap: Option<&crate::meter::Tap>,
    pool: &'static BufPool,
) -> io::Result<()> {
    let mut head = head;
    let mut corked = false;
    let mut offset = range.offset;
    let end = range.offset + range.len;
    let mut _streaming = None;
    // Bytes the plan's speed cap has granted and that have not left yet.
    let mut granted = 0u64;
    let sent = async {
        while offset < end {
            let mut count = (end - offset).min(SENDFILE_CHUNK as u64) as usize;
            if let Some(tap) = tap {
                if granted == 0 {
                    granted = tap.grant(count as u64).await;
                }
                count = count.min(granted as usize);
            }
            let buf = if OPEN_CONNECTIONS.load(Ordering::Relaxed) <= COPY_UP_TO_CONNECTIONS {
                pool.take()
            } else {
                None
            };
            let n = match buf {
                // Copied: with few connections, read/write moves a transfer
                // faster than `sendfile` on loopback (BENCHMARKS.md).
                Some(mut buf) => {
                    let count = count.min(buf.len());
                    // What the page cache holds is read here by a call that
                    // never waits for the disk; the rest on the blocking pool.
                    let here = pread_cached(&range.file, &mut buf[..count], offset)?;
                    let (buf, n) = if here == count {
                        (buf, here)
                    } else {
                        COLD_READS.fetch_add(1, Ordering::Relaxed);
                        let file = range.file.clone();
                        let at = offset + here as u64;
                        let (buf, read) = tokio::task::spawn_blocking(move || {
                            let read = pread_full(&file, &mut buf[here..count], at);
                            (buf, read)
                        })
                        .await
                        .map_err(io::Error::other)?;
                        (buf, here + read?)
                    };
                    if n == 0 {
                        return Err(shorter());
                    }
                    // Whole pieces need no cork (nginx's read/write shape has none).
                    if corked {
                        corked = false;
                        let _ = rustix::net::sockopt::set_tcp_cork(stream.as_fd(), false);
                    }
                    stream
                        .write_all_buf(&mut Buf::chain(head, &buf[..n]))
                        .await?;
                    n
                }
                // No buffer free and not cached: read on the blocking pool
                // into memory of its own, counted like a streamed file so
                // its read shares the budget.
                None if !in_page_cache(&range.file, offset, count) => {
                    COLD_READS.fetch_add(1, Ordering::Relaxed);
                    _streaming.get_or_insert_with(crate::serve::Streaming::start);
                    let piece = FileRange {
                        file: range.file.clone(),
                        offset,
                        len: count as u64,
                    };
                    let buf = crate::serve::read_next(&piece)
                        .await
                        .map_err(io::Error::other)??;
                    if buf.is_empty() {
                        return Err(shorter());
                    }
                    stream
                        .write_all_buf(&mut Buf::chain(head, &buf[..]))
                        .await?;
                    buf.len()
                }
                None => {
                    if !head.is_empty() {
                        corked = true;
                        let _ = rustix::net::sockopt::set_tcp_cork(stream.as_fd(), true);
                        stream.write_all(head).await?;
                        head = &[];
                    }
                    let sent = stream.try_io(Interest::WRITABLE, || {
                        rustix::fs::sendfile(stream.as_fd(), &*range.file, Some(&mut offset), count)
                            .map_err(io::Error::from)
                    });
                    match sent {
                        Ok(0) => return Err(shorter()),
                        Ok(n) => {
                            if let Some(tap) = tap {
                                tap.sent(n as u64);
                                granted = granted.saturating_sub(n as u64);
                            }
                            tokio::task::consume_budget().await;
                            continue;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            stream.writable().await?;
                            continue;
                        }
                        Err(e) => return Err(e),
                    }
                }
            };
            head = &[];
            offset += n as u64;
            if let Some(tap) = tap {
                tap.sent(n as u64);
                granted = granted.saturating_sub(n as u64);
            }
        }
        if !head.is_empty() {
            stream.write_all(head).await?;
        }
        Ok(())
    }
    .await;
    if corked {
        let _ = rustix::net::sockopt::set_tcp_cork(stream.as_fd(), false);
    }
    sent
}

/// Reads `buf.len()` bytes of `file` from `at`, or fewer at its end.
fn pread_full(file: &std::fs::File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match rustix::io::pread(file, &mut buf[n..], at + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(n)
}

/// Reads into `buf` from `at` what of it the page cache holds, without ever
/// waiting for the disk (`preadv2(RWF_NOWAIT)`): all of it, or the part
/// before the first page that is not cached (maybe none), or less at the
/// file's end. Where the kernel cannot tell, it reads as `pread` does.
fn pread_cached(file: &std::fs::File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    use rustix::io::{Errno, ReadWriteFlags, preadv2};
    let mut n = 0;
    while n < buf.len() {
        let slice = &mut [io::IoSliceMut::new(&mut buf[n..])];
        match preadv2(file, slice, at + n as u64, ReadWriteFlags::NOWAIT) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(Errno::AGAIN) => break,
            Err(Errno::INTR) => {}
            Err(Errno::OPNOTSUPP | Errno::INVAL | Errno::NOSYS) => {
                return Ok(n + pread_full(file, &mut buf[n..], at + n as u64)?);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(n)
}

/// A bounded pool of equal, reusable buffers. A buffer is zeroed once, when
/// it is made, never per use; at most `max` are ever made, and [`take`]
/// returns `None` rather than make more.
///
/// [`take`]: BufPool::take
struct BufPool {
    size: usize,
    max: usize,
    made: AtomicUsize,
    free: std::sync::Mutex<Vec<Box<[u8]>>>,
}

impl BufPool {
    const fn new(size: usize, max: usize) -> Self {
        Self {
            size,
            max,
            made: AtomicUsize::new(0),
            free: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// A free buffer, or a new one while fewer than `max` exist.
    fn take(&self) -> Option<Pooled<'_>> {
        let reused = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let buf = match reused {
            Some(buf) => buf,
            None => {
                self.made
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                        (n < self.max).then_some(n + 1)
                    })
                    .ok()?;
                vec![0u8; self.size].into_boxed_slice()
            }
        };
        Some(Pooled {
            buf: Some(buf),
            pool: self,
        })
    }
}

/// Connections open now (both paths), for the choice between copying and
/// `sendfile` ([`COPY_UP_TO_CONNECTIONS`]).
static OPEN_CONNECTIONS: AtomicUsize = AtomicUsize::new(0);

/// Counts a connection in [`OPEN_CONNECTIONS`] while it lives.
struct Open;

impl Open {
    fn new() -> Self {
        OPEN_CONNECTIONS.fetch_add(1, Ordering::Relaxed);
        Open
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        OPEN_CONNECTIONS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A buffer taken from a [`BufPool`], given back when dropped.
struct Pooled<'a> {
    buf: Option<Box<[u8]>>,
    pool: &'a BufPool,
}

impl std::ops::Deref for Pooled<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.buf.as_deref().unwrap_or_default()
    }
}

impl std::ops::DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.buf.as_deref_mut().unwrap_or_default()
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(buf) = self.buf.take() {
            self.pool
                .free
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(buf);
        }
    }
}

fn shorter() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the blob is shorter than its recorded size",
    )
}

/// Whether the first and last bytes of a piece of `file` are in the page
/// cache (a one-byte `preadv2(RWF_NOWAIT)` at each end, which never waits
/// for the disk). Where the kernel cannot tell, the answer is yes: plain
/// `sendfile`, as before.
fn in_page_cache(file: &std::fs::File, offset: u64, count: usize) -> bool {
    use rustix::io::{Errno, ReadWriteFlags, preadv2};
    let mut byte = [0u8; 1];
    [offset, offset + count as u64 - 1].into_iter().all(|at| {
        match preadv2(
            file,
            &mut [io::IoSliceMut::new(&mut byte)],
            at,
            ReadWriteFlags::NOWAIT,
        ) {
            Err(Errno::AGAIN) => false,
            Ok(_) | Err(_) => true,
        }
    })
}

/// Appends the current time as an HTTP date, formatted once per second.
fn date(out: &mut Vec<u8>) {
    use std::cell::RefCell;
    thread_local! {
        static CACHE: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let now = SystemTime::now();
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    CACHE.with_borrow_mut(|(at, text)| {
        if *at != secs {
            *at = secs;
            *text = httpdate::fmt_http_date(now);
        }
        out.extend_from_slice(text.as_bytes());
    });
}

/// A stream that first gives back the bytes already read from it.
struct Rewind {
    read: Bytes,
    stream: TcpStream,
}

impl AsyncRead for Rewind {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.read.is_empty() {
            let n = self.read.len().min(buf.remaining());
            buf.put_slice(&self.read.split_to(n));
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_gets_and_heads_take_the_fast_path() {
        let (s, used) = parse(
            b"GET /d/abc?download=1 HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\n\r\nGET /next",
        )
        .unwrap();
        assert_eq!(used, 61);
        assert_eq!(s.req.uri().path(), "/d/abc");
        assert_eq!(s.req.headers()["range"], "bytes=0-1");
        assert!(!s.head && !s.close);
        let (s, _) = parse(b"HEAD / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n").unwrap();
        assert!(s.head && s.close);
        assert!(parse(b"GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").is_some());
        for hyper_s in [
            &b"GET / HTTP/1.1\r\nHost: x\r\n"[..],               // partial
            b"POST /u/x HTTP/1.1\r\n\r\n",                       // method
            b"GET / HTTP/1.0\r\n\r\n",                           // version
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",                 // HTTP/2
            b"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", // body
            b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", // body
            b"GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",   // expect
            b"GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n", // upgrade
            b"GET /\x01 HTTP/1.1\r\n\r\n",                       // malformed
            b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",            // malformed
        ] {
            assert!(
                parse(hyper_s).is_none(),
                "{:?}",
                String::from_utf8_lossy(hyper_s)
            );
        }
        let many: String = (0..MAX_HEADERS + 1)
            .map(|i| format!("x-{i}: y\r\n"))
            .collect();
        assert!(parse(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes()).is_none());
    }

    #[test]
    fn the_copy_pool_is_bounded_and_reuses_its_buffers() {
        let pool = BufPool::new(16, 2);
        let mut a = pool.take().unwrap();
        a[0] = 7;
        let b = pool.take().unwrap();
        assert_eq!((a.len(), b.len()), (16, 16));
        assert!(pool.take().is_none(), "a third buffer past the bound");
        let at = a.as_ptr();
        drop(a);
        let again = pool.take().unwrap();
        assert_eq!(again.as_ptr(), at, "the buffer given back is reused");
        assert_eq!(again[0], 7, "and not zeroed again");
        assert!(pool.take().is_none());
        drop((again, b));
        assert_eq!(pool.made.load(Ordering::Relaxed), 2);
        assert_eq!(pool.free.lock().unwrap().len(), 2);
    }

    /// Sends `range` of `data` with `head` through `send_file` over a real
    /// socket and returns what the other end read.
    async fn sent(head: &[u8], data: &[u8], range: (u64, u64), pool: &'static BufPool) -> Vec<u8> {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(data).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let at = listener.local_addr().unwrap();
        let reader = tokio::spawn(async move {
            let mut s = TcpStream::connect(at).await.unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.unwrap();
            got
        });
        let (mut stream, _) = listener.accept().await.unwrap();
        let range = FileRange {
            file: Arc::new(f),
            offset: range.0,
            len: range.1,
        };
        send_file(&mut stream, head, &range, None, pool)
            .await
            .unwrap();
        drop(stream);
        reader.await.unwrap()
    }

    #[tokio::test]
    async fn files_go_out_whole_copied_or_with_sendfile() {
        static NONE_FREE: BufPool = BufPool::new(COPY_BUF, 0);
        static SMALL: BufPool = BufPool::new(4096, 1);
        let data: Vec<u8> = (0..(9u32 << 20) / 4)
            .flat_map(|i| i.to_le_bytes())
            .collect();
        let head = b"HTTP/1.1 200 OK\r\n\r\n";
        for pool in [&COPY_POOL, &NONE_FREE, &SMALL] {
            for (offset, len) in [(0, data.len() as u64), (12_345, 3 << 20), (7, 1), (100, 0)] {
                let got = sent(head, &data, (offset, len), pool).await;
                let mut want = head.to_vec();
                want.extend_from_slice(&data[offset as usize..(offset + len) as usize]);
                assert!(
                    got == want,
                    "offset {offset}, length {len}, pool of {}",
                    pool.max
                );
            }
        }
        // Past the end of the file: an error, not a short body passed off as whole.
        let f = FileRange {
            file: Arc::new(tempfile::tempfile().unwrap()),
            offset: 0,
            len: 10,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut stream, _) = listener.accept().await.unwrap();
        for pool in [&COPY_POOL, &NONE_FREE] {
            let e = send_file(&mut stream, b"", &f, None, pool)
                .await
                .unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        }
    }

    #[tokio::test]
    async fn pieces_are_copied_only_while_few_connections_are_open() {
        static FRESH: BufPool = BufPool::new(COPY_BUF, 4);
        let data = vec![7u8; 3 << 20];
        let head = b"HTTP/1.1 200 OK\r\n\r\n";
        // Many connections open: every piece with sendfile, no buffer made.
        let many: Vec<Open> = (0..=COPY_UP_TO_CONNECTIONS).map(|_| Open::new()).collect();
        let got = sent(head, &data, (0, data.len() as u64), &FRESH).await;
        assert_eq!(got.len(), head.len() + data.len());
        assert_eq!(FRESH.made.load(Ordering::Relaxed), 0);
        // Few: copied through the pool.
        drop(many);
        let got = sent(head, &data, (0, data.len() as u64), &FRESH).await;
        assert_eq!(got[head.len()..], data[..]);
        assert!(FRESH.made.load(Ordering::Relaxed) >= 1);
    }

    #[test]
    fn cached_reads_stop_at_the_end_of_the_file() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"0123456789").unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(pread_cached(&f, &mut buf[..4], 3).unwrap(), 4);
        assert_eq!(&buf[..4], b"3456");
        assert_eq!(pread_cached(&f, &mut buf, 6).unwrap(), 4);
        assert_eq!(&buf[..4], b"6789");
        assert_eq!(pread_cached(&f, &mut buf, 10).unwrap(), 0);
    }

    #[test]
    fn dates_are_http_dates() {
        let mut out = Vec::new();
        date(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(httpdate::parse_http_date(&text).is_ok(), "{text}");
    }
}
