//! The wing's pages: the upload page at `/`, and each link's landing page at
//! `/s/{id}` (file details, a download button and an inline preview made of
//! the browser's own elements; a listing for folders; a password form).

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{ConnectInfo, Form, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use carrel_core::media::{Presentation, Preview};
use carrel_db::{Share, ShareTarget};
use carrel_http::page::{Html, escape, human_size, layout};

use crate::Hosting;
use crate::download::{unlock_cookie_name, unlock_cookie_value};
use crate::error::HostingError;

pub fn routes() -> Router<Arc<Hosting>> {
    Router::new()
        .route("/", get(upload_page))
        .route("/static/upload.js", get(upload_js))
        .route("/s/{id}", get(landing).post(unlock))
}

const PAGE_CSS: &str = r#"
.drop { border:2px dashed var(--line); border-radius:12px; padding:2.5rem 1rem; text-align:center; cursor:pointer; margin:1rem 0; transition:.15s; }
.drop.over, .drop:hover, .drop:focus { border-color:var(--accent); background:rgba(47,91,234,.06); outline:none; }
.linkish { color:var(--accent); text-decoration:underline; }
.opts summary { cursor:pointer; color:var(--muted); }
.optgrid { display:flex; flex-wrap:wrap; gap:1rem; margin-top:.75rem; }
.optgrid label { display:flex; flex-direction:column; gap:.25rem; font-size:.9rem; color:var(--muted); }
.optgrid select, .optgrid input { font-size:1rem; padding:.4rem .5rem; border:1px solid var(--line); border-radius:8px; background:var(--bg); color:var(--fg); }
.upload .uhead { display:flex; justify-content:space-between; gap:1rem; }
.uname { word-break:break-all; }
.bar { height:8px; background:var(--line); border-radius:4px; overflow:hidden; margin:.6rem 0 .4rem; }
.fill { height:100%; width:0; background:var(--accent); transition:width .2s; }
.upload.done .fill { background:var(--ok); }
.ustatus { font-size:.9rem; min-height:1.3em; }
.shareline { display:flex; gap:.5rem; flex-wrap:wrap; margin-top:.4rem; }
.shareurl { flex:1; min-width:16rem; max-width:none !important; font-family:ui-monospace, monospace; }
.token { margin-top:.5rem; font-size:.85rem; } .token code { word-break:break-all; }
.small { font-size:.85rem; }
.media h2 { margin-top:0; font-size:1.2rem; }
.player { position:relative; }
.player video { width:100%; display:block; background:#000; border-radius:8px; }
.player audio { width:100%; display:block; }
.qualities { display:flex; align-items:center; gap:.6rem; margin-top:.5rem; font-size:.9rem; color:var(--muted); }
.qualities select { font-size:.9rem; padding:.25rem .5rem; margin-left:.3rem; border:1px solid var(--line); border-radius:8px; background:var(--bg); color:var(--fg); }
.seekbar { position:relative; height:14px; margin-top:.4rem; background:var(--line); border-radius:7px; cursor:pointer; }
.seekfill { height:100%; width:0; background:var(--accent); border-radius:7px; pointer-events:none; }
.seektip { position:absolute; bottom:20px; transform:translateX(-50%); background:#000; color:#fff; border-radius:6px; padding:3px; text-align:center; font-size:.8rem; pointer-events:none; box-shadow:0 2px 8px rgba(0,0,0,.4); }
.seekimg { background-repeat:no-repeat; border-radius:4px; }
"#;

#[derive(Template)]
#[template(path = "upload.html")]
struct UploadPage {
    base: String,
}

async fn upload_page(State(h): State<Arc<Hosting>>, headers: HeaderMap) -> Response {
    let body = UploadPage {
        base: h.base_url(&headers),
    }
    .render()
    .unwrap_or_default();
    Html(layout("Share files", PAGE_CSS, &body)).into_response()
}

async fn upload_js() -> Response {
    let mut r = include_str!("../static/upload.js").into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

#[derive(Template)]
#[template(path = "file.html")]
struct FilePage {
    name: String,
    size: String,
    bytes: i64,
    media: String,
    uploaded: String,
    expires: Option<String>,
    limit: Option<String>,
    hash: String,
    direct: String,
    direct_abs: String,
    preview: String,
    /// What the streaming wing knows of it as audio or video.
    media_verdict: Option<String>,
    media_facts: Vec<(String, String)>,
    /// The preview is a video player (the media card offers the original too).
    has_player: bool,
}

/// A `<video>` (or, for a file without picture, an `<audio>`) with the
/// streaming wing's extras: poster, subtitle tracks (the first shown by
/// default), with a thumbnail track a seek bar whose hover shows the frame
/// there, and with a made ladder a quality menu ("Auto", then each file
/// best first; `/static/player.js` shows it and swaps the source). `src`
/// and the extras' paths (below `base`, the share link; `direct`, the
/// original's link) are carrel's own.
fn media_player(src: &str, base: &str, direct: &str, p: &carrel_http::media::Player) -> String {
    let tag = if p.audio_only { "audio" } else { "video" };
    let mut v = format!(
        "<{tag} controls preload=\"metadata\" src=\"{}\"",
        escape(src)
    );
    if let Some(poster) = p.poster.as_ref().filter(|_| !p.audio_only) {
        v.push_str(&format!(" poster=\"{base}/{}\"", escape(poster)));
    }
    v.push('>');
    for (i, t) in p.tracks.iter().enumerate() {
        v.push_str(&format!(
            "<track kind=\"subtitles\" src=\"{base}/{}\" label=\"{}\"",
            escape(&t.src),
            escape(&t.label)
        ));
        if let Some(l) = &t.srclang {
            v.push_str(&format!(" srclang=\"{}\"", escape(l)));
        }
        if i == 0 {
            v.push_str(" default");
        }
        v.push('>');
    }
    v.push_str(&format!("</{tag}>"));
    let mut attrs = String::new();
    let mut extras = String::new();
    if let Some(t) = &p.thumbnails {
        attrs.push_str(&format!(" data-thumbs=\"{base}/{}\"", escape(t)));
        extras.push_str(
            "<div class=\"seekbar\" title=\"Seek\"><div class=\"seekfill\"></div>\
             <div class=\"seektip\" hidden><div class=\"seekimg\"></div><span class=\"seektime\"></span></div></div>",
        );
    }
    if !p.qualities.is_empty() {
        // Hidden until the script runs: without it, the menu could not switch.
        extras.push_str(
            "<div class=\"qualities\" hidden><label>Quality \
             <select class=\"quality\" aria-label=\"Quality\"><option value=\"auto\" selected>Auto</option>",
        );
        for q in &p.qualities {
            let url = match &q.src {
                Some(s) => format!("{base}/{s}"),
                None => direct.to_owned(),
            };
            extras.push_str(&format!(
                "<option value=\"{}\" data-label=\"{}\"",
                escape(&url),
                escape(&q.label)
            ));
            if let Some((w, h)) = q.size {
                extras.push_str(&format!(" data-width=\"{w}\" data-height=\"{h}\""));
            }
            if q.rung {
                extras.push_str(" data-rung");
            }
            extras.push_str(&format!(">{}</option>", escape(&q.label)));
        }
        extras.push_str("</select></label> <span class=\"qualitynow muted small\"></span></div>");
    }
    let script = if extras.is_empty() {
        ""
    } else {
        "<script src=\"/static/player.js\" defer></script>"
    };
    format!("<div class=\"player\"{attrs}>{v}{extras}</div>{script}")
}

struct Row {
    id: String,
    name: String,
    size: String,
}

#[derive(Template)]
#[template(path = "folder.html")]
struct FolderPage {
    name: String,
    count: usize,
    total: String,
    direct: String,
    files: Vec<Row>,
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    id: String,
    error: String,
}

fn password_page(share: &Share, error: &str, status: StatusCode) -> Response {
    let body = PasswordPage {
        id: share.id.to_string(),
        error: error.to_owned(),
    }
    .render()
    .unwrap_or_default();
    (status, Html(layout("Protected link", "", &body))).into_response()
}

/// The first bytes of a text file, for the preview.
async fn text_head(h: &Hosting, f: &carrel_db::File) -> Option<String> {
    const MAX: u64 = 64 * 1024;
    let buf = carrel_http::serve::read_head(&*h.store, &f.blob, f.size as u64, MAX)
        .await
        .ok()?;
    let mut t = String::from_utf8_lossy(&buf).into_owned();
    if (f.size as u64) > MAX {
        t.push_str("\n…");
    }
    Some(t)
}

fn date(t: carrel_core::time::Timestamp) -> String {
    httpdate::fmt_http_date(t.to_system_time())
}

async fn landing(
    State(h): State<Arc<Hosting>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let r = async {
        let share = h.open_share(&id).await?;
        if !h.unlocked_by_cookie(&share, &headers) {
            return Ok(password_page(&share, "", StatusCode::OK));
        }
        let direct = format!("/d/{}", share.id);
        let direct_abs = format!("{}{direct}", h.base_url(&headers));
        match &share.target {
            ShareTarget::File(fid) => {
                let f =
                    h.db.file(fid)
                        .await?
                        .ok_or(HostingError::NotFound("file"))?;
                let media = match h.media() {
                    Some(m) => {
                        let sidecars = h.sidecars_of(&f).await?;
                        m.view(&f.blob, &f.media_type, &sidecars).await
                    }
                    None => None,
                };
                // Previews load the bytes, so links with a download limit show
                // none; nor do files examined and found not to be playable.
                let play = media.as_ref().and_then(|m| m.play.clone());
                let player = media.as_ref().map(|m| m.player.clone()).unwrap_or_default();
                let base = format!("/s/{}", share.id);
                let preview = if share.rules.max_downloads.is_some()
                    || media.as_ref().is_some_and(|m| m.unreadable)
                {
                    String::new()
                } else if let Some(p) = play {
                    // A rendition the browser plays (the original's container is not one it does).
                    media_player(&format!("{base}/{p}"), &base, &direct, &player)
                } else {
                    match f.media_type.presentation() {
                        Presentation::Inline(Preview::Image) => {
                            format!("<img src=\"{direct}\" alt=\"{}\">", escape(f.name.as_str()))
                        }
                        Presentation::Inline(Preview::Video) => {
                            media_player(&direct, &base, &direct, &player)
                        }
                        Presentation::Inline(Preview::Audio) => format!(
                            "<audio controls preload=\"metadata\" src=\"{direct}\"></audio>"
                        ),
                        Presentation::Inline(Preview::Text) => text_head(&h, &f)
                            .await
                            .map(|t| format!("<pre>{}</pre>", escape(&t)))
                            .unwrap_or_default(),
                        Presentation::Attachment => String::new(),
                    }
                };
                let page = FilePage {
                    has_player: preview.contains("class=\"player\""),
                    media_verdict: media.as_ref().map(|m| m.verdict.clone()),
                    media_facts: media.map(|m| m.facts).unwrap_or_default(),
                    name: f.name.to_string(),
                    size: human_size(f.size as u64),
                    bytes: f.size,
                    media: f.media_type.to_string(),
                    uploaded: date(f.created_at),
                    expires: share.rules.expires_at.map(date),
                    limit: share
                        .rules
                        .max_downloads
                        .map(|m| format!("{} of {m} used", share.download_count.min(m))),
                    hash: f.blob.to_hex(),
                    direct,
                    direct_abs,
                    preview,
                };
                Ok(Html(layout(
                    f.name.as_str(),
                    PAGE_CSS,
                    &page.render().unwrap_or_default(),
                ))
                .into_response())
            }
            ShareTarget::Folder(fid) => {
                let folder =
                    h.db.folder(fid)
                        .await?
                        .ok_or(HostingError::NotFound("folder"))?;
                let files = h.db.folder_files(fid).await?;
                let total: u64 = files.iter().map(|f| f.size as u64).sum();
                let page = FolderPage {
                    name: folder.name.to_string(),
                    count: files.len(),
                    total: human_size(total),
                    direct,
                    files: files
                        .iter()
                        .map(|f| Row {
                            id: f.id.to_string(),
                            name: f.name.to_string(),
                            size: human_size(f.size as u64),
                        })
                        .collect(),
                };
                Ok(Html(layout(
                    folder.name.as_str(),
                    PAGE_CSS,
                    &page.render().unwrap_or_default(),
                ))
                .into_response())
            }
        }
    };
    r.await
        .unwrap_or_else(|e: HostingError| e.into_http().as_page().into_response())
}

#[derive(serde::Deserialize)]
struct Unlock {
    password: String,
}

async fn unlock(
    State(h): State<Arc<Hosting>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    Form(form): Form<Unlock>,
) -> Response {
    let r = async {
        let share = h.open_share(&id).await?;
        match h.try_password(&share, peer.ip(), form.password).await {
            Ok(()) => {
                let mut r = Redirect::to(&format!("/s/{}", share.id)).into_response();
                if let Some(v) = unlock_cookie_value(&share) {
                    let c = format!(
                        "{}={v}; Path=/; HttpOnly; SameSite=Lax; Max-Age=86400",
                        unlock_cookie_name(&share.id)
                    );
                    r.headers_mut().insert(
                        header::SET_COOKIE,
                        HeaderValue::from_str(&c).expect("ascii"),
                    );
                }
                Ok(r)
            }
            Err(HostingError::WrongPassword) => Ok(password_page(
                &share,
                "Wrong password. Try again.",
                StatusCode::FORBIDDEN,
            )),
            Err(HostingError::RateLimited(s)) => {
                let mut r = password_page(
                    &share,
                    &format!("Too many wrong passwords. Try again in {s} seconds."),
                    StatusCode::TOO_MANY_REQUESTS,
                );
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(s));
                Ok(r)
            }
            Err(e) => Err(e),
        }
    };
    r.await
        .unwrap_or_else(|e: HostingError| e.into_http().as_page().into_response())
}
