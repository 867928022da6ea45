//! HLS under a share link, by the link's rules (the hosting wing's
//! [`carrel_http::media::ShareGate`]: open, unlocked, one file):
//!
//! - `/s/{id}/hls/master.m3u8`: the master playlist (one variant);
//! - `/s/{id}/hls/remux.m3u8`: the rendition's media playlist (byte ranges);
//! - `/s/{id}/hls/remux.mp4`: the rendition's file, with `Range` and the
//!   rest of carrel-http's serving rules (it also plays whole in `<video>`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use carrel_core::media::MediaType;
use carrel_db::RenditionOutcome;
use carrel_http::serve;

use crate::error::{Result, StreamingError};
use crate::hls::{Variant, master_playlist};
use crate::{REMUX, Streaming};

pub fn routes() -> Router<Arc<Streaming>> {
    Router::new().route("/s/{id}/hls/{file}", get(hls).head(hls))
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
