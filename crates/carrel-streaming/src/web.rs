//! HLS under a share link, by the link's rules (the hosting wing's
//! [`carrel_http::media::ShareGate`]: open, unlocked, one file):
//!
//! - `/s/{id}/hls/master.m3u8`: the master playlist (one variant);
//! - `/s/{id}/hls/remux.m3u8`: the rendition's media playlist (byte ranges);
//! - `/s/{id}/hls/remux.mp4`: the rendition's file, with `Range` and the
//!   rest of carrel-http's serving rules (it also plays whole in `<video>`);
//! - `/s/{id}/subs/{n}.vtt`: subtitle track `n` as WebVTT (embedded tracks
//!   as extracted; sidecar SubRip converted, sidecar WebVTT checked), and
//!   `/s/{id}/subs/{n}.m3u8`, its HLS media playlist (one segment); the
//!   master playlist names them in an `EXT-X-MEDIA:TYPE=SUBTITLES` group;
//! - `/s/{id}/media/{poster.jpg|sprite.jpg|thumbs.vtt}`: the poster, the
//!   seek-thumbnail sprite and its WebVTT thumbnail track;
//! - `/static/player.js`: the share page's seek previews.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use carrel_core::media::MediaType;
use carrel_db::RenditionOutcome;
use carrel_http::media::SharedFile;
use carrel_http::serve;
use carrel_http::serve::read_head;

use crate::error::{Result, StreamingError};
use crate::hls::{SubtitleRendition, Variant, master_playlist, subtitle_playlist, with_subtitles};
use crate::info::MediaInfo;
use crate::tracks::{Track, TrackIndex, TrackSource};
use crate::{REMUX, Streaming, images, tracks};

pub fn routes() -> Router<Arc<Streaming>> {
    Router::new()
        .route("/s/{id}/hls/{file}", get(hls).head(hls))
        .route("/s/{id}/subs/{file}", get(subs).head(subs))
        .route("/s/{id}/media/{file}", get(pictures).head(pictures))
        .route("/static/player.js", get(player_js))
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
            "remux.m3u8" => Ok(playlist(method, f.playlist)),
            _ => {
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
                    rendition.made_at.to_system_time(),
                    &name,
                    &MediaType::new("video/mp4").expect("a valid type"),
                    false,
                );
                let plan = match serve::plan(method, headers, &content) {
                    Ok(p) => p,
                    Err(e) => return Ok(e.into_response()),
                };
                Ok(serve::respond(method, plan, &content, s.store.clone())
                    .await
                    .into_response())
            }
        }
    };
    let r: Result<Response> = r.await;
    r.unwrap_or_else(|e| e.into_http().into_response())
}

/// The probe of a shared file, when it was read as media.
async fn probed(s: &Streaming, blob: &carrel_core::ids::BlobHash) -> Result<Option<MediaInfo>> {
    Ok(match s.db.media_probe(blob).await?.map(|p| p.outcome) {
        Some(carrel_db::ProbeOutcome::Media(j)) => serde_json::from_str(&j).ok(),
        _ => None,
    })
}

/// A shared file's subtitle tracks, with their sidecars from the gate.
async fn tracks_of(
    s: &Streaming,
    shared: &SharedFile,
) -> Result<(Option<MediaInfo>, Vec<Track>), Response> {
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
    let list = tracks::list(info.as_ref(), &sidecars);
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

/// Whether a rendition that is not there yet is coming: the file is not
/// probed yet (and claims to be media), or it is video that was.
fn coming(shared: &SharedFile, info: Option<&MediaInfo>, probed: bool) -> bool {
    match info {
        Some(i) => i.video().is_some(),
        None => !probed && crate::typed_as_media(&shared.media_type),
    }
}

async fn subs(
    State(s): State<Arc<Streaming>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((id, file)): Path<(String, String)>,
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
    let Some(gate) = s.gate() else {
        return StreamingError::NoRendition.into_http().into_response();
    };
    let shared = match gate.shared_file(&id, headers, peer.ip()).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
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
            None => {
                let probe = s.db.media_probe(&shared.blob).await?;
                let info = probed(&s, &shared.blob).await?;
                Err(if coming(&shared, info.as_ref(), probe.is_some()) {
                    StreamingError::NotReady
                } else {
                    StreamingError::NoRendition
                })
            }
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
