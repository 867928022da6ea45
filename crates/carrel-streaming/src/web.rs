//! HLS under a share link, by the link's rules (the hosting wing's
//! [`carrel_http::media::ShareGate`]: open, unlocked, one file):
//!
//! - `/s/{id}/hls/master.m3u8`: the master playlist: the quality ladder's
//!   rungs for a video (listed as soon as the probe is known, before they
//!   are made), else the remux's one variant;
//! - `/s/{id}/hls/remux.m3u8`, `/s/{id}/hls/{rung}.m3u8` (`720p.m3u8`): a
//!   rendition's media playlist: byte ranges into its file once made; a
//!   rung still to be made lists one URI per planned segment;
//! - `/s/{id}/hls/{rung}/init.mp4` and `/s/{id}/hls/{rung}/{n}.m4s`: a
//!   rung's initialization segment and segment `n`, from the file ffmpeg is
//!   still writing or the finished one; a segment not written yet is waited
//!   for (`transcode.segment_wait_secs`), then a 503 with `Retry-After`;
//! - `/s/{id}/hls/remux.mp4`, `/s/{id}/hls/{rung}.mp4`: a rendition's
//!   file, with `Range` and the rest of carrel-http's serving rules (it
//!   also plays whole in `<video>`).
//!
//! Asking for a playlist or segment of a ladder still queued moves its
//! transcode to the front of the queue.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use carrel_core::ids::BlobHash;
use carrel_core::media::MediaType;
use carrel_core::time::Timestamp;
use carrel_db::{ProbeOutcome, RenditionFile, RenditionOutcome};
use carrel_http::media::SharedFile;
use carrel_http::serve;

use crate::error::{Result, StreamingError};
use crate::fmp4::{ByteRange, read_growing_layout};
use crate::hls::{Variant, byte_ranges, master_playlist, segment_playlist};
use crate::info::MediaInfo;
use crate::ladder::{self, is_rung_name};
use crate::transcode::Live;
use crate::{REMUX, Streaming, ladder_names};

pub fn routes() -> Router<Arc<Streaming>> {
    Router::new()
        .route("/s/{id}/hls/{file}", get(hls).head(hls))
        .route("/s/{id}/hls/{rung}/{segment}", get(segment).head(segment))
}

impl Streaming {
    /// The wing's routes, with its state.
    pub fn router(self: &Arc<Self>) -> Router {
        routes().with_state(self.clone())
    }
}

/// A playlist response (`application/vnd.apple.mpegurl`, never cached by others).
fn playlist(method: &Method, body: String) -> Response {
    let mut res = if *method == Method::HEAD {
        let n = body.len();
        let mut r = ().into_response();
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(n));
        r
    } else {
        body.into_response()
    };
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.apple.mpegurl"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

async fn hls(
    State(s): State<Arc<Streaming>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((id, file)): Path<(String, String)>,
    req: Request,
) -> Response {
    let (method, headers) = (req.method(), req.headers());
    let Some(gate) = s.gate() else {
        return StreamingError::NoRendition.into_http().into_response();
    };
    // The link's rules first: a locked or closed link says so, whatever the file.
    let shared = match gate.shared_file(&id, headers, peer.ip()).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let r = async {
        let info = probed(&s, &shared.blob).await?;
        if let Some((name, "m3u8" | "mp4")) = file.rsplit_once('.')
            && is_rung_name(name)
            && info.is_none()
            && crate::typed_as_media(&shared.media_type)
            && s.db.media_probe(&shared.blob).await?.is_none()
        {
            // Not probed yet: its ladder is not known yet.
            return Err(StreamingError::NotReady);
        }
        if let Some(info) = info.as_ref().filter(|i| crate::wants_ladder(i)) {
            // A remuxed file's master is the remux alone until its ladder is
            // made, then the ladder with the remux (the original quality) above it.
            if file == "master.m3u8" && !crate::needs_remux(info) {
                return ladder_master(&s, &shared.blob, info, method, None).await;
            }
            if file == "master.m3u8"
                && let Some(remux) = ready(s.db.media_rendition(&shared.blob, REMUX).await?)
                && s.ladder_state(&shared.blob, info).await.is_ready()
            {
                let top = Variant {
                    uri: format!("{REMUX}.m3u8"),
                    bandwidth: remux.bandwidth.max(1) as u64,
                    resolution: remux.resolution,
                    codecs: remux.codecs,
                };
                return ladder_master(&s, &shared.blob, info, method, Some(top)).await;
            }
            if let Some((name, ext)) = file.rsplit_once('.')
                && is_rung_name(name)
                && ladder_names(info).iter().any(|n| n == name)
            {
                return rung_file(&s, &shared, info, name, ext, method, headers).await;
            }
        }
        if !matches!(file.as_str(), "master.m3u8" | "remux.m3u8" | "remux.mp4") {
            return Err(StreamingError::NoRendition);
        }
        let rendition = s.db.media_rendition(&shared.blob, REMUX).await?;
        let Some(rendition) = rendition else {
            // Coming, or never: a file probed and not to be remuxed has none.
            let probe = s.db.media_probe(&shared.blob).await?;
            let coming = match probe.map(|p| p.outcome) {
                None => crate::typed_as_media(&shared.media_type),
                Some(carrel_db::ProbeOutcome::Media(j)) => {
                    serde_json::from_str(&j).is_ok_and(|i| crate::needs_remux(&i))
                }
                Some(carrel_db::ProbeOutcome::Failed(_)) => false,
            };
            return Err(if coming {
                StreamingError::NotReady
            } else {
                StreamingError::NoRendition
            });
        };
        let f = match rendition.outcome {
            RenditionOutcome::Ready(f) => f,
            RenditionOutcome::Failed(why) => return Err(StreamingError::RenditionFailed(why)),
        };
        match file.as_str() {
            "master.m3u8" => Ok(playlist(
                method,
                master_playlist(&[Variant {
                    uri: format!("{REMUX}.m3u8"),
                    bandwidth: f.bandwidth.max(1) as u64,
                    resolution: f.resolution.clone(),
                    codecs: f.codecs.clone(),
                }]),
            )),
            "remux.m3u8" => Ok(playlist(method, f.playlist)),
            _ => Ok(whole_file(&s, &shared, &f, rendition.made_at, method, headers).await),
        }
    };
    let r: Result<Response> = r.await;
    r.unwrap_or_else(|e| e.into_http().into_response())
}

/// A rendition's file, when it is made.
fn ready(r: Option<carrel_db::MediaRendition>) -> Option<RenditionFile> {
    match r?.outcome {
        RenditionOutcome::Ready(f) => Some(f),
        RenditionOutcome::Failed(_) => None,
    }
}

/// A shared file's probe, when it is media.
async fn probed(s: &Streaming, blob: &BlobHash) -> Result<Option<MediaInfo>> {
    Ok(match s.db.media_probe(blob).await?.map(|p| p.outcome) {
        Some(ProbeOutcome::Media(j)) => serde_json::from_str(&j).ok(),
        _ => None,
    })
}

/// A rendition's whole file, with ranges (named after the shared file).
async fn whole_file(
    s: &Streaming,
    shared: &SharedFile,
    f: &RenditionFile,
    made_at: Timestamp,
    method: &Method,
    headers: &HeaderMap,
) -> Response {
    let name = format!(
        "{}.mp4",
        shared
            .name
            .rsplit_once('.')
            .map_or(shared.name.as_str(), |(b, _)| b)
    );
    let content = serve::Content::new(
        f.blob,
        f.size as u64,
        made_at.to_system_time(),
        &name,
        &MediaType::new("video/mp4").expect("a valid type"),
        false,
    );
    let plan = match serve::plan(method, headers, &content) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    serve::respond(method, plan, &content, s.store.clone())
        .await
        .into_response()
}

/// The master playlist of a video's ladder: every rung, with what its
/// made file shows (peak bit rate, codecs) or, still to be made, what it
/// is made to (known from the probe, so players start while it runs).
async fn ladder_master(
    s: &Streaming,
    blob: &BlobHash,
    info: &MediaInfo,
    method: &Method,
    top: Option<Variant>,
) -> Result<Response> {
    let audio = info.audio().is_some();
    let mut variants = Vec::new();
    let mut waiting = false;
    for r in ladder::ladder(info) {
        let name = r.name();
        let v = match s.db.media_rendition(blob, &name).await?.map(|r| r.outcome) {
            Some(RenditionOutcome::Ready(f)) => Variant {
                uri: format!("{name}.m3u8"),
                bandwidth: f.bandwidth.max(1) as u64,
                resolution: f.resolution,
                codecs: f.codecs,
            },
            Some(RenditionOutcome::Failed(why)) => {
                return Err(StreamingError::RenditionFailed(why));
            }
            None => {
                waiting = true;
                Variant {
                    uri: format!("{name}.m3u8"),
                    bandwidth: r.bandwidth(audio),
                    resolution: Some(r.resolution()),
                    codecs: r.codecs(audio),
                }
            }
        };
        variants.push(v);
    }
    variants.extend(top);
    if waiting {
        s.hasten(blob).await;
        if ladder::planned_duration(info).is_none() {
            // Its segments cannot be listed before they exist.
            return Err(StreamingError::NotReady);
        }
    }
    Ok(playlist(method, master_playlist(&variants)))
}

/// A rung's media playlist (`m3u8`) or whole file (`mp4`).
async fn rung_file(
    s: &Streaming,
    shared: &SharedFile,
    info: &MediaInfo,
    name: &str,
    ext: &str,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Response> {
    let row = s.db.media_rendition(&shared.blob, name).await?;
    match (row, ext) {
        (Some(r), "m3u8" | "mp4") => match r.outcome {
            RenditionOutcome::Failed(why) => Err(StreamingError::RenditionFailed(why)),
            RenditionOutcome::Ready(f) if ext == "m3u8" => Ok(playlist(method, f.playlist)),
            RenditionOutcome::Ready(f) => {
                Ok(whole_file(s, shared, &f, r.made_at, method, headers).await)
            }
        },
        (None, "m3u8") => {
            s.hasten(&shared.blob).await;
            match ladder::planned_duration(info) {
                Some(d) => Ok(playlist(
                    method,
                    segment_playlist(name, &ladder::segment_plan(d)),
                )),
                None => Err(StreamingError::NotReady),
            }
        }
        (None, "mp4") => {
            s.hasten(&shared.blob).await;
            Err(StreamingError::NotReady)
        }
        _ => Err(StreamingError::NoRendition),
    }
}

/// Which part of a rung a segment URI names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    Init,
    Segment(usize),
}

impl Part {
    fn parse(s: &str) -> Option<Part> {
        if s == "init.mp4" {
            return Some(Part::Init);
        }
        let n = s.strip_suffix(".m4s")?;
        if n.is_empty() || n.len() > 6 || !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if n.len() > 1 && n.starts_with('0') {
            return None;
        }
        Some(Part::Segment(n.parse().ok()?))
    }

    fn pick(self, init: ByteRange, segments: &[ByteRange]) -> Option<ByteRange> {
        match self {
            Part::Init => Some(init),
            Part::Segment(n) => segments.get(n).copied(),
        }
    }
}

/// The largest segment served from a file still being written (read into memory).
const MAX_LIVE_SEGMENT: u64 = 64 << 20;

/// Where a segment is found right now.
enum Found {
    /// In the finished rendition's blob.
    Blob(BlobHash, ByteRange),
    /// In the file ffmpeg is writing.
    Growing(Vec<u8>),
    /// Never (a failed rendition, a segment past the end).
    Gone(StreamingError),
    /// Not yet.
    Wait(Option<Arc<Live>>),
}

async fn segment(
    State(s): State<Arc<Streaming>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((id, rung, seg)): Path<(String, String, String)>,
    req: Request,
) -> Response {
    let (method, headers) = (req.method(), req.headers());
    let Some(gate) = s.gate() else {
        return StreamingError::NoRendition.into_http().into_response();
    };
    let shared = match gate.shared_file(&id, headers, peer.ip()).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let r: Result<Response> = async {
        let part = Part::parse(&seg).ok_or(StreamingError::NoRendition)?;
        if !is_rung_name(&rung) {
            return Err(StreamingError::NoRendition);
        }
        let deadline = Instant::now() + Duration::from_secs(s.config.transcode.segment_wait_secs);
        let mut hastened = false;
        let mut known = false;
        loop {
            // Just uploaded: the probe is waited for too.
            let found = match s.db.media_probe(&shared.blob).await?.map(|p| p.outcome) {
                None if crate::typed_as_media(&shared.media_type) => Found::Wait(None),
                Some(ProbeOutcome::Media(_)) if known => {
                    find_segment(&s, &shared.blob, &rung, part).await?
                }
                Some(ProbeOutcome::Media(j)) => {
                    let info: MediaInfo =
                        serde_json::from_str(&j).map_err(|_| StreamingError::NoRendition)?;
                    if !ladder_names(&info).contains(&rung) {
                        return Err(StreamingError::NoRendition);
                    }
                    known = true;
                    find_segment(&s, &shared.blob, &rung, part).await?
                }
                _ => return Err(StreamingError::NoRendition),
            };
            match found {
                Found::Blob(blob, range) => {
                    return Ok(segment_response(
                        method,
                        part,
                        blob_body(&s, blob, range).await?,
                        range.length,
                    ));
                }
                Found::Growing(bytes) => {
                    let n = bytes.len() as u64;
                    return Ok(segment_response(method, part, Body::from(bytes), n));
                }
                Found::Gone(e) => return Err(e),
                Found::Wait(live) => {
                    if !hastened {
                        hastened = true;
                        s.hasten(&shared.blob).await;
                    }
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(StreamingError::SegmentNotReady);
                    }
                    let nap = (deadline - now).min(Duration::from_millis(100));
                    match live {
                        Some(l) => {
                            let _ = tokio::time::timeout(nap, l.changed.notified()).await;
                        }
                        None => tokio::time::sleep(nap).await,
                    }
                }
            }
        }
    }
    .await;
    r.unwrap_or_else(|e| e.into_http().into_response())
}

/// Looks for a segment: in the finished rendition, else in the file being written.
async fn find_segment(s: &Streaming, blob: &BlobHash, rung: &str, part: Part) -> Result<Found> {
    if let Some(r) = s.db.media_rendition(blob, rung).await? {
        return Ok(match r.outcome {
            RenditionOutcome::Failed(why) => Found::Gone(StreamingError::RenditionFailed(why)),
            RenditionOutcome::Ready(f) => {
                match byte_ranges(&f.playlist).and_then(|(init, segs)| part.pick(init, &segs)) {
                    Some(range) => Found::Blob(f.blob, range),
                    None => Found::Gone(StreamingError::NoRendition),
                }
            }
        });
    }
    let Some(live) = s.live(blob) else {
        return Ok(Found::Wait(None));
    };
    let Some(path) = live.file(rung).map(PathBuf::from) else {
        return Ok(Found::Gone(StreamingError::NoRendition));
    };
    let read = tokio::task::spawn_blocking(move || -> Result<Option<Vec<u8>>> {
        use std::io::{Read, Seek, SeekFrom};
        // Gone (moved into the blob store, or removed): look again.
        let Ok(mut f) = std::fs::File::open(&path) else {
            return Ok(None);
        };
        let len = f.metadata()?.len();
        let Some(layout) = read_growing_layout(&mut std::io::BufReader::new(&mut f), len)? else {
            return Ok(None);
        };
        let segs: Vec<ByteRange> = layout.segments.iter().map(|s| s.range).collect();
        let Some(range) = part.pick(layout.init, &segs) else {
            return Ok(None);
        };
        if range.length > MAX_LIVE_SEGMENT {
            return Err(StreamingError::TooLarge(MAX_LIVE_SEGMENT));
        }
        f.seek(SeekFrom::Start(range.offset))?;
        let mut b = vec![0u8; range.length as usize];
        f.read_exact(&mut b)?;
        Ok(Some(b))
    })
    .await
    .map_err(|e| StreamingError::Io(std::io::Error::other(e)))??;
    Ok(match read {
        Some(b) => Found::Growing(b),
        None => Found::Wait(Some(live)),
    })
}

/// A byte range of a blob as a streamed body.
async fn blob_body(s: &Streaming, blob: BlobHash, range: ByteRange) -> Result<Body> {
    if range.length == 0 {
        return Ok(Body::empty());
    }
    let end = range.offset + range.length;
    let src = s.store.open(&blob, range.offset..end).await?;
    let stream = serve::source_stream(src, range.offset..=end - 1).await?;
    Ok(Body::from_stream(stream))
}

fn segment_response(method: &Method, part: Part, body: Body, len: u64) -> Response {
    let body = if *method == Method::HEAD {
        Body::empty()
    } else {
        body
    };
    let mut res = Response::new(body);
    let h = res.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(match part {
            Part::Init => "video/mp4",
            Part::Segment(_) => "video/iso.segment",
        }),
    );
    // The same bytes whether read from the growing file or the finished one.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::Part;

    #[test]
    fn segment_names() {
        assert_eq!(Part::parse("init.mp4"), Some(Part::Init));
        assert_eq!(Part::parse("0.m4s"), Some(Part::Segment(0)));
        assert_eq!(Part::parse("123.m4s"), Some(Part::Segment(123)));
        for bad in [
            "01.m4s",
            ".m4s",
            "-1.m4s",
            "1.mp4",
            "1234567.m4s",
            "a.m4s",
            "init.m4s",
        ] {
            assert_eq!(Part::parse(bad), None, "{bad}");
        }
    }
}
