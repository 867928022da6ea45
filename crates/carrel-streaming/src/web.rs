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
//!   also plays whole in `<video>`);
//! - `/s/{id}/subs/{n}.vtt`: subtitle track `n` as WebVTT (embedded tracks
//!   as extracted; sidecar SubRip converted, sidecar WebVTT checked), and
//!   `/s/{id}/subs/{n}.m3u8`, its HLS media playlist (one segment); every
//!   master playlist names them in an `EXT-X-MEDIA:TYPE=SUBTITLES` group;
//! - `/s/{id}/media/{poster.jpg|sprite.jpg|thumbs.vtt}`: the poster, the
//!   seek-thumbnail sprite and its WebVTT thumbnail track;
//! - `/static/player.js`: the share page's seek previews.
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
use carrel_db::{RenditionFile, RenditionOutcome};
use carrel_http::auth::Who;
use carrel_http::media::SharedFile;
use carrel_http::serve;
use carrel_http::serve::read_head;

use crate::error::{Result, StreamingError};
use crate::fmp4::{ByteRange, read_growing_layout};
use crate::hls::{
    SubtitleRendition, Variant, master_playlist, segment_playlist, subtitle_playlist,
    with_subtitles,
};
use crate::info::MediaInfo;
use crate::ladder::{self, is_rung_name};
use crate::memo::{Probe, Rendition};
use crate::tracks::{Track, TrackIndex, TrackSource};
use crate::transcode::Live;
use crate::{REMUX, Streaming, images, tracks};

pub fn routes() -> Router<Arc<Streaming>> {
    Router::new()
        .route("/s/{id}/hls/{file}", get(hls).head(hls))
        .route("/s/{id}/subs/{file}", get(subs).head(subs))
        .route("/s/{id}/media/{file}", get(pictures).head(pictures))
        .route("/static/player.js", get(player_js))
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

/// The shared file a request under `/s/{id}/` names, by the link's rules
/// (the hosting wing's gate): a locked or closed link says so first,
/// whatever the file asked for.
async fn shared(
    s: &Streaming,
    id: &str,
    headers: &HeaderMap,
    ip: std::net::IpAddr,
) -> std::result::Result<(Arc<dyn carrel_http::media::ShareGate>, Arc<SharedFile>), Response> {
    let gate = s
        .gate()
        .ok_or_else(|| StreamingError::NoRendition.into_http().into_response())?;
    let shared = gate
        .shared_file(id, headers, ip)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok((gate.clone(), shared))
}

async fn hls(
    State(s): State<Arc<Streaming>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((id, file)): Path<(String, String)>,
    who: Who,
    req: Request,
) -> Response {
    let (method, headers) = (req.method(), req.headers());
    let (gate, shared) = match shared(&s, &id, headers, peer.ip()).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let r = async {
        let probe = s.probe(&shared.blob).await?;
        let info = probe.info();
        if let Some((name, "m3u8" | "mp4")) = file.rsplit_once('.')
            && is_rung_name(name)
            && !probe.is_known()
            && crate::typed_as_media(&shared.media_type)
        {
            // Not probed yet: its ladder is not known yet.
            return Err(StreamingError::NotReady);
        }
        if let Some(info) = info.filter(|i| crate::wants_ladder(i)) {
            // A remuxed file's master is the remux alone until its ladder is
            // made, then the ladder with the remux (the original quality) above it.
            if file == "master.m3u8" && !crate::needs_remux(info) {
                let subs = subtitle_renditions(&s, &id, &shared).await?;
                return ladder_master(&s, &shared.blob, info, method, None, &subs).await;
            }
            if file == "master.m3u8"
                && let Some(remux) = ready(s.rendition(&shared.blob, REMUX).await?)
                && s.ladder_state(&shared.blob, info).await.is_ready()
            {
                let top = Variant {
                    uri: format!("{REMUX}.m3u8"),
                    bandwidth: remux.bandwidth.max(1) as u64,
                    resolution: remux.resolution,
                    codecs: remux.codecs,
                };
                let subs = subtitle_renditions(&s, &id, &shared).await?;
                return ladder_master(&s, &shared.blob, info, method, Some(top), &subs).await;
            }
            if let Some((name, ext)) = file.rsplit_once('.')
                && ladder::has_rung(info, name)
            {
                return rung_file(&s, &shared, info, name, ext, method, headers).await;
            }
        }
        if !matches!(file.as_str(), "master.m3u8" | "remux.m3u8" | "remux.mp4") {
            return Err(StreamingError::NoRendition);
        }
        let rendition = s.rendition(&shared.blob, REMUX).await?;
        let Some(rendition) = rendition else {
            // Coming, or never: a file probed and not to be remuxed has none.
            let coming = match &probe {
                Probe::NotYet => crate::typed_as_media(&shared.media_type),
                Probe::Media(i) => crate::needs_remux(i),
                Probe::NotMedia => false,
            };
            return Err(if coming {
                StreamingError::NotReady
            } else {
                StreamingError::NoRendition
            });
        };
        let f = match &rendition.row.outcome {
            RenditionOutcome::Ready(f) => f,
            RenditionOutcome::Failed(why) => {
                return Err(StreamingError::RenditionFailed(why.clone()));
            }
        };
        match file.as_str() {
            "master.m3u8" => {
                let master = master_playlist(&[Variant {
                    uri: format!("{REMUX}.m3u8"),
                    bandwidth: f.bandwidth.max(1) as u64,
                    resolution: f.resolution.clone(),
                    codecs: f.codecs.clone(),
                }]);
                let subs = subtitle_renditions(&s, &id, &shared).await?;
                Ok(playlist(method, with_subtitles(&master, &subs)))
            }
            "remux.m3u8" => Ok(playlist(method, f.playlist.clone())),
            _ => {
                let audio_only = info.is_some_and(|i| i.video().is_none());
                Ok(whole_file(&s, &shared, &rendition, f, audio_only, method, headers).await)
            }
        }
    };
    let r: Result<Response> = r.await;
    let res = r.unwrap_or_else(|e| e.into_http().into_response());
    let media = file.ends_with(".mp4");
    let rules = Rules {
        counts_view: file == "master.m3u8" || (media && from_first_byte(&res)),
        metered: media,
    };
    rules.apply(&*gate, &id, method, &who, peer.ip(), res).await
}

/// What the link's and the plan's rules ask of a successful GET under the
/// share link: a new view (a player's master playlist, or a rendition's
/// file from its first byte) counts as one download of the link, as a
/// download does, and a rendition's bytes (files and segments) are metered
/// under the viewer's plan. Playlists, subtitles and pictures are small and
/// not metered.
struct Rules {
    counts_view: bool,
    metered: bool,
}

impl Rules {
    async fn apply(
        self,
        gate: &dyn carrel_http::media::ShareGate,
        id: &str,
        method: &Method,
        who: &Who,
        ip: std::net::IpAddr,
        mut res: Response,
    ) -> Response {
        if *method != Method::GET || !res.status().is_success() {
            return res;
        }
        let tap = if self.metered {
            match gate.tap(who, ip) {
                Ok(t) => Some(t),
                Err(e) => return e.into_response(),
            }
        } else {
            None
        };
        if self.counts_view
            && let Err(e) = gate.count_view(id).await
        {
            return e.into_response();
        }
        if let Some(t) = tap {
            carrel_http::meter::meter(&mut res, t);
        }
        res
    }
}

/// Whether a response sends a file from its first byte (whole, or a range from 0).
fn from_first_byte(res: &Response) -> bool {
    match res.headers().get(header::CONTENT_RANGE) {
        None => res.status() == axum::http::StatusCode::OK,
        Some(v) => v.to_str().is_ok_and(|v| v.starts_with("bytes 0-")),
    }
}

/// A rendition's file, when it is made.
fn ready(r: Option<Arc<Rendition>>) -> Option<RenditionFile> {
    match &r?.row.outcome {
        RenditionOutcome::Ready(f) => Some(f.clone()),
        RenditionOutcome::Failed(_) => None,
    }
}

/// A shared file's probe, when it is media.
async fn probed(s: &Streaming, blob: &BlobHash) -> Result<Option<Arc<MediaInfo>>> {
    Ok(s.probe(blob).await?.info().cloned())
}

/// A shared file's subtitle tracks, with their sidecars from the gate.
async fn tracks_of(
    s: &Streaming,
    shared: &SharedFile,
) -> Result<(Option<Arc<MediaInfo>>, Vec<Track>), Response> {
    let gate = s
        .gate()
        .ok_or_else(|| StreamingError::NoRendition.into_http().into_response())?;
    let sidecars = gate
        .sidecars(shared)
        .await
        .map_err(IntoResponse::into_response)?;
    let info = probed(s, &shared.blob)
        .await
        .map_err(|e| e.into_http().into_response())?;
    let list = tracks::list(info.as_deref(), &sidecars);
    Ok((info, list))
}

/// The master playlist's subtitle renditions: the tracks that can be served now.
async fn subtitle_renditions(
    s: &Streaming,
    id: &str,
    shared: &SharedFile,
) -> Result<Vec<SubtitleRendition>> {
    // Share ids are URL-safe; anything else gets no absolute URIs written.
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Ok(Vec::new());
    }
    let (_, list) = match tracks_of(s, shared).await {
        Ok(t) => t,
        Err(_) => return Ok(Vec::new()),
    };
    let made = s.db.media_renditions(&shared.blob).await?;
    let ready = |t: &Track| match &t.source {
        TrackSource::Embedded { stream, .. } => made.iter().any(|r| {
            r.name == tracks::rendition_name(*stream)
                && matches!(r.outcome, RenditionOutcome::Ready(_))
        }),
        TrackSource::Sidecar(_) => true,
    };
    Ok(list
        .iter()
        .filter(|t| ready(t))
        .enumerate()
        .map(|(i, t)| SubtitleRendition {
            uri: format!("/s/{id}/subs/{}.m3u8", t.index),
            name: t.label.clone(),
            language: t.language.as_ref().map(|l| l.to_string()),
            default: i == 0,
        })
        .collect())
}

/// A text body for a player (WebVTT), with user-content safety headers.
fn text_body(method: &Method, body: String, etag: &str) -> Response {
    let n = body.len();
    let mut res = if *method == Method::HEAD {
        ().into_response()
    } else {
        body.into_response()
    };
    let h = res.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/vtt; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        h.insert(header::ETAG, v);
    }
    carrel_http::headers::safety_headers(h);
    res
}

/// A rendition's blob, with carrel-http's serving rules (ranges, 304s).
async fn serve_rendition(
    s: &Streaming,
    method: &Method,
    headers: &axum::http::HeaderMap,
    r: &carrel_db::MediaRendition,
    name: &str,
    media_type: &str,
) -> Result<Response> {
    let f = match &r.outcome {
        RenditionOutcome::Ready(f) => f,
        RenditionOutcome::Failed(why) => return Err(StreamingError::RenditionFailed(why.clone())),
    };
    let mt = MediaType::new(media_type).expect("a valid type");
    let content = serve::Content::new(
        f.blob,
        f.size as u64,
        r.made_at.to_system_time(),
        name,
        &mt,
        false,
    )
    .shown_inline(name, &mt);
    let plan = match serve::plan(method, headers, &content) {
        Ok(p) => p,
        Err(e) => return Ok(e.into_response()),
    };
    Ok(serve::respond(method, plan, &content, s.store.clone())
        .await
        .into_response())
}

/// Whether a picture that is not there yet is coming: the file is not
/// probed yet (and claims to be media), or it is video that was.
fn coming(shared: &SharedFile, probe: &Probe) -> bool {
    match probe {
        Probe::Media(i) => i.video().is_some(),
        Probe::NotMedia => false,
        Probe::NotYet => crate::typed_as_media(&shared.media_type),
    }
}

async fn subs(
    State(s): State<Arc<Streaming>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((id, file)): Path<(String, String)>,
    req: Request,
) -> Response {
    let (method, headers) = (req.method(), req.headers());
    let (_, shared) = match shared(&s, &id, headers, peer.ip()).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let (vtt, n) = match (
        TrackIndex::parse_file(&file, "vtt"),
        TrackIndex::parse_file(&file, "m3u8"),
    ) {
        (Some(n), _) => (true, n),
        (None, Some(n)) => (false, n),
        _ => return StreamingError::NoRendition.into_http().into_response(),
    };
    let (info, list) = match tracks_of(&s, &shared).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let r = async {
        let Some(track) = list.into_iter().find(|t| t.index == n) else {
            return Err(
                if info.is_none() && crate::typed_as_media(&shared.media_type) {
                    StreamingError::NotReady
                } else {
                    StreamingError::NoRendition
                },
            );
        };
        if !vtt {
            let d = info
                .as_ref()
                .and_then(|i| i.video_duration().or(i.duration_secs))
                .unwrap_or(0.0);
            return Ok(playlist(method, subtitle_playlist(&format!("{n}.vtt"), d)));
        }
        let base = shared
            .name
            .rsplit_once('.')
            .map_or(shared.name.as_str(), |(b, _)| b);
        match &track.source {
            TrackSource::Embedded { stream, .. } => {
                let name = tracks::rendition_name(*stream);
                match s.db.media_rendition(&shared.blob, &name).await? {
                    Some(r) => {
                        serve_rendition(
                            &s,
                            method,
                            headers,
                            &r,
                            &format!("{base}.{n}.vtt"),
                            "text/vtt",
                        )
                        .await
                    }
                    None => Err(StreamingError::NotReady),
                }
            }
            TrackSource::Sidecar(sc) => {
                let max = crate::subtitles::MAX_SRT_BYTES as u64;
                if sc.size > max {
                    return Err(StreamingError::SubtitlesUnreadable(format!(
                        "{}: larger than {max} bytes",
                        sc.name
                    )));
                }
                let bytes = read_head(&*s.store, &sc.blob, sc.size, max).await?;
                let text = tracks::sidecar_vtt(sc, &bytes)?;
                Ok(text_body(
                    method,
                    text,
                    &format!("{}-vtt", sc.blob.to_hex()),
                ))
            }
        }
    };
    r.await.unwrap_or_else(|e| e.into_http().into_response())
}

async fn pictures(
    State(s): State<Arc<Streaming>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((id, file)): Path<(String, String)>,
    req: Request,
) -> Response {
    let (method, headers) = (req.method(), req.headers());
    let (_, shared) = match shared(&s, &id, headers, peer.ip()).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let r = async {
        let (name, ty) = match file.as_str() {
            "poster.jpg" => (images::POSTER, "image/jpeg"),
            "sprite.jpg" => (images::SPRITE, "image/jpeg"),
            "thumbs.vtt" => (images::THUMBS, "text/vtt"),
            _ => return Err(StreamingError::NoRendition),
        };
        match s.db.media_rendition(&shared.blob, name).await? {
            Some(r) => {
                let base = shared
                    .name
                    .rsplit_once('.')
                    .map_or(shared.name.as_str(), |(b, _)| b);
                serve_rendition(&s, method, headers, &r, &format!("{base}.{file}"), ty).await
            }
            None => Err(if coming(&shared, &s.probe(&shared.blob).await?) {
                StreamingError::NotReady
            } else {
                StreamingError::NoRendition
            }),
        }
    };
    r.await.unwrap_or_else(|e| e.into_http().into_response())
}

async fn player_js() -> Response {
    let mut r = include_str!("../static/player.js").into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// A rendition's whole file, with ranges (named after the shared file;
/// `audio/mp4` and `.m4a` when it has no video). Its headers are worked out
/// once per rendition and name, not per request (a player asks for many
/// ranges).
async fn whole_file(
    s: &Streaming,
    shared: &SharedFile,
    r: &Rendition,
    f: &RenditionFile,
    audio_only: bool,
    method: &Method,
    headers: &HeaderMap,
) -> Response {
    let content = r.content(&shared.name, audio_only, || {
        let (ext, ty) = if audio_only {
            ("m4a", "audio/mp4")
        } else {
            ("mp4", "video/mp4")
        };
        let name = format!(
            "{}.{ext}",
            shared
                .name
                .rsplit_once('.')
                .map_or(shared.name.as_str(), |(b, _)| b)
        );
        serve::Content::new(
            f.blob,
            f.size as u64,
            r.row.made_at.to_system_time(),
            &name,
            &MediaType::new(ty).expect("a valid type"),
            false,
        )
    });
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
    subs: &[SubtitleRendition],
) -> Result<Response> {
    let audio = info.audio().is_some();
    let mut variants = Vec::new();
    let mut waiting = false;
    for r in ladder::ladder(info) {
        let name = r.name();
        let made = s.rendition(blob, &name).await?;
        let v = match made.map(|r| r.row.outcome.clone()) {
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
                    resolution: r.resolution(),
                    codecs: r.codecs(audio),
                }
            }
        };
        variants.push(v);
    }
    variants.extend(top);
    if waiting {
        s.hasten(blob).await;
        if ladder::up_front(info).is_none() {
            // Its segments cannot be listed before they exist.
            return Err(StreamingError::NotReady);
        }
    }
    Ok(playlist(
        method,
        with_subtitles(&master_playlist(&variants), subs),
    ))
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
    let row = s.rendition(&shared.blob, name).await?;
    match (row, ext) {
        (Some(r), "m3u8" | "mp4") => match &r.row.outcome {
            RenditionOutcome::Failed(why) => Err(StreamingError::RenditionFailed(why.clone())),
            RenditionOutcome::Ready(f) if ext == "m3u8" => Ok(playlist(method, f.playlist.clone())),
            RenditionOutcome::Ready(f) => {
                let audio_only = info.video().is_none();
                Ok(whole_file(s, shared, &r, f, audio_only, method, headers).await)
            }
        },
        (None, "m3u8") => {
            s.hasten(&shared.blob).await;
            match ladder::up_front(info) {
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
    who: Who,
    req: Request,
) -> Response {
    let (method, headers) = (req.method(), req.headers());
    let (gate, shared) = match shared(&s, &id, headers, peer.ip()).await {
        Ok(g) => g,
        Err(r) => return r,
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
            let found = match s.probe(&shared.blob).await? {
                Probe::NotYet if crate::typed_as_media(&shared.media_type) => Found::Wait(None),
                Probe::Media(_) if known => find_segment(&s, &shared.blob, &rung, part).await?,
                Probe::Media(info) => {
                    if !ladder::has_rung(&info, &rung) {
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
    let res = r.unwrap_or_else(|e| e.into_http().into_response());
    let rules = Rules {
        counts_view: false,
        metered: true,
    };
    rules.apply(&*gate, &id, method, &who, peer.ip(), res).await
}

/// Looks for a segment: in the finished rendition, else in the file being written.
async fn find_segment(s: &Streaming, blob: &BlobHash, rung: &str, part: Part) -> Result<Found> {
    if let Some(r) = s.rendition(blob, rung).await? {
        return Ok(match &r.row.outcome {
            RenditionOutcome::Failed(why) => {
                Found::Gone(StreamingError::RenditionFailed(why.clone()))
            }
            RenditionOutcome::Ready(f) => {
                match (r.ranges.as_ref()).and_then(|(init, segs)| part.pick(*init, segs)) {
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
