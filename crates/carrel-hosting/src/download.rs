//! Share links: who may open them, and the bytes behind them.
//!
//! `/d/{id}` is the direct URL for tools (`curl -O`, `wget -c`, `aria2c
//! -x 8`); a folder link gives a streaming ZIP there, and each of its files
//! is at `/d/{id}/{file_id}`. A password-protected link accepts the password
//! from the landing page (a cookie bound to the link and its password) or,
//! for tools, as HTTP Basic auth with any user name (`curl -u :secret`).
//! Wrong passwords are rate-limited per link and client address.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use carrel_core::ids::{FileId, ShareId};
use carrel_core::time::Timestamp;
use carrel_db::{Share, ShareTarget};
use carrel_http::auth::Who;
use carrel_http::serve;
use sha2::Digest;

use crate::Hosting;
use crate::error::{HostingError, Result};
use crate::links::ServedFile;
use crate::stats::Stats;

pub fn routes() -> Router<Arc<Hosting>> {
    Router::new()
        .route("/d/{id}", get(direct).head(direct))
        .route(
            "/d/{id}/{file}",
            get(direct_in_folder).head(direct_in_folder),
        )
}

/// Window in which wrong passwords are counted.
const PASSWORD_WINDOW: Duration = Duration::from_secs(600);

/// The cookie that remembers an unlocked link: bound to the link and to its
/// current password hash (which never leaves the server), so changing the
/// password locks everyone out again.
pub fn unlock_cookie_name(id: &ShareId) -> String {
    format!("carrel_s_{}", id.as_str())
}

pub fn unlock_cookie_value(share: &Share) -> Option<String> {
    let ph = share.password_hash.as_ref()?;
    Some(hex::encode(sha2::Sha256::digest(
        format!("{ph}\n{}", share.id).as_bytes(),
    )))
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn basic_password(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let b64 = v.strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    Some(s.split_once(':').map(|(_, p)| p.to_owned()).unwrap_or(s))
}

impl Hosting {
    /// Looks up a link that exists and is open (not disabled or expired).
    pub async fn open_share(&self, id: &str) -> Result<Arc<Share>> {
        let id: ShareId = id
            .parse()
            .map_err(|_| HostingError::NotFound("share link"))?;
        let s = self
            .share(&id)
            .await?
            .ok_or(HostingError::NotFound("share link"))?;
        s.rules.check_open(Timestamp::now())?;
        Ok(s)
    }

    /// Whether this request has unlocked the link (cookie only; no password check).
    pub fn unlocked_by_cookie(&self, share: &Share, headers: &HeaderMap) -> bool {
        match unlock_cookie_value(share) {
            None => true,
            Some(v) => cookie(headers, &unlock_cookie_name(&share.id)) == Some(v.as_str()),
        }
    }

    /// Checks a password, with rate limiting of failures.
    pub async fn try_password(&self, share: &Share, ip: IpAddr, password: String) -> Result<()> {
        let Some(stored) = share.password_hash.clone() else {
            return Ok(());
        };
        let key = (share.id.clone(), ip);
        {
            let mut f = self.password_failures.lock().expect("lock");
            if let Some((since, n)) = f.get(&key).copied() {
                if since.elapsed() >= PASSWORD_WINDOW {
                    f.remove(&key);
                } else if n >= self.config.password_attempts {
                    return Err(HostingError::RateLimited(
                        (PASSWORD_WINDOW - since.elapsed()).as_secs().max(1),
                    ));
                }
            }
        }
        if super::manage::verify_password(password, stored).await {
            self.password_failures.lock().expect("lock").remove(&key);
            return Ok(());
        }
        Stats::add(&self.stats.password_failures, 1);
        let mut f = self.password_failures.lock().expect("lock");
        let e = f.entry(key).or_insert((Instant::now(), 0));
        e.1 += 1;
        Err(HostingError::WrongPassword)
    }

    /// Forgets the addresses of wrong passwords whose window is over.
    pub(crate) fn forget_password_failures(&self) {
        self.password_failures
            .lock()
            .expect("lock")
            .retain(|_, (since, _)| since.elapsed() < PASSWORD_WINDOW);
    }

    /// An open link that this request has unlocked (cookie or Basic auth).
    async fn unlocked_share(
        &self,
        id: &str,
        headers: &HeaderMap,
        ip: IpAddr,
    ) -> Result<Arc<Share>> {
        let share = self.open_share(id).await?;
        if !self.unlocked_by_cookie(&share, headers) {
            match basic_password(headers) {
                Some(p) => self.try_password(&share, ip, p).await?,
                None => return Err(HostingError::PasswordRequired),
            }
        }
        Ok(share)
    }

    /// Counts a new download against the link, or refuses it.
    async fn count_download(&self, share: &Share) -> Result<()> {
        share
            .rules
            .check_new_download(Timestamp::now(), share.download_count)?;
        if share.rules.max_downloads.is_some() {
            if !self.db.count_download(&share.id).await? {
                return Err(carrel_core::share::Closed::LimitReached.into());
            }
        } else {
            let mut pending = self.pending_downloads.lock().expect("lock");
            match pending.get_mut(&share.id) {
                Some(n) => *n += 1,
                None => {
                    pending.insert(share.id.clone(), 1);
                }
            }
        }
        Stats::add(&self.stats.downloads_started, 1);
        Ok(())
    }

    /// Serves a file's bytes for a link, under the downloader's plan.
    async fn serve_file(
        &self,
        share: &Share,
        file: &ServedFile,
        req: (&Method, &HeaderMap, &Who, IpAddr),
        download: bool,
    ) -> Result<Response> {
        let (method, headers, who, ip) = req;
        let content = file.content(download);
        let plan = match serve::plan(method, headers, content) {
            Ok(p) => p,
            Err(e) => return Ok(e.into_response()),
        };
        let sends_bytes = *method == Method::GET && !matches!(plan, serve::Plan::NotModified);
        let tap = if sends_bytes {
            Some(self.download_tap(who, ip)?)
        } else {
            None
        };
        if *method == Method::GET && plan.starts_at_zero() {
            self.count_download(share).await?;
        }
        if sends_bytes {
            self.touch(&file.id);
        }
        let mut res = serve::respond(method, plan, content, self.store.clone())
            .await
            .into_response();
        if let Some(tap) = tap {
            carrel_http::meter::meter(&mut res, tap);
        }
        Ok(res)
    }
}

#[async_trait::async_trait]
impl carrel_http::media::ShareGate for Hosting {
    async fn shared_file(
        &self,
        share: &str,
        headers: &HeaderMap,
        ip: IpAddr,
    ) -> std::result::Result<Arc<carrel_http::media::SharedFile>, carrel_http::HttpError> {
        let r = async {
            let share = self.unlocked_share(share, headers, ip).await?;
            let ShareTarget::File(f) = &share.target else {
                return Err(HostingError::NotFound("file"));
            };
            let file = self.file(f).await?.ok_or(HostingError::NotFound("file"))?;
            Ok(file.shared())
        };
        r.await.map_err(HostingError::into_http)
    }

    async fn sidecars(
        &self,
        file: &carrel_http::media::SharedFile,
    ) -> std::result::Result<Vec<carrel_http::media::Sidecar>, carrel_http::HttpError> {
        let r = async {
            let f = self
                .file(&file.id)
                .await?
                .ok_or(HostingError::NotFound("file"))?;
            self.sidecars_of(&f).await
        };
        r.await.map_err(HostingError::into_http)
    }

    fn tap(
        &self,
        who: &Who,
        ip: IpAddr,
    ) -> std::result::Result<Arc<carrel_http::meter::Tap>, carrel_http::HttpError> {
        self.download_tap(who, ip).map_err(HostingError::into_http)
    }

    async fn count_view(&self, share: &str) -> std::result::Result<(), carrel_http::HttpError> {
        let r = async {
            let share = self.open_share(share).await?;
            self.count_download(&share).await
        };
        r.await.map_err(HostingError::into_http)
    }
}

/// `?download=1` (any value) forces an attachment even for previewable types.
fn wants_download(uri: &axum::http::Uri) -> bool {
    uri.query().is_some_and(|q| {
        q.split('&')
            .any(|kv| kv == "download" || kv.starts_with("download="))
    })
}

fn wants_page(headers: &HeaderMap, e: HostingError) -> Response {
    let html = carrel_http::HttpError::wants_html(headers);
    let e = e.into_http();
    if html {
        e.as_page().into_response()
    } else {
        e.into_response()
    }
}

// The handlers borrow the request's method, URI and headers instead of
// extracting copies: this is the hottest path in carrel.
async fn direct(
    State(h): State<Arc<Hosting>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    who: Who,
    req: Request,
) -> Response {
    let (method, headers) = (req.method(), req.headers());
    let download = wants_download(req.uri());
    let r = async {
        let share = h.unlocked_share(&id, headers, peer.ip()).await?;
        match &share.target {
            ShareTarget::File(f) => {
                let file = h.file(f).await?.ok_or(HostingError::NotFound("file"))?;
                h.serve_file(&share, &file, (method, headers, &who, peer.ip()), download)
                    .await
            }
            ShareTarget::Folder(f) => {
                let folder =
                    h.db.folder(f)
                        .await?
                        .ok_or(HostingError::NotFound("folder"))?;
                let files = h.db.folder_files(f).await?;
                let tap = if method == Method::GET {
                    let tap = h.download_tap(&who, peer.ip())?;
                    h.count_download(&share).await?;
                    files.iter().for_each(|f| h.touch(&f.id));
                    Some(tap)
                } else {
                    None
                };
                let mut res = crate::zip::zip_response(
                    h.store.clone(),
                    &format!("{}.zip", folder.name),
                    files,
                );
                if let Some(tap) = tap {
                    carrel_http::meter::meter(&mut res, tap);
                }
                Ok(res)
            }
        }
    };
    r.await.unwrap_or_else(|e| wants_page(headers, e))
}

async fn direct_in_folder(
    State(h): State<Arc<Hosting>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((id, file)): Path<(String, String)>,
    who: Who,
    req: Request,
) -> Response {
    let (method, headers) = (req.method(), req.headers());
    let download = wants_download(req.uri());
    let r = async {
        let share = h.unlocked_share(&id, headers, peer.ip()).await?;
        let ShareTarget::Folder(folder) = &share.target else {
            return Err(HostingError::NotFound("file"));
        };
        let file_id: FileId = file.parse().map_err(|_| HostingError::NotFound("file"))?;
        let file = h
            .file(&file_id)
            .await?
            .filter(|f| f.folder.as_ref() == Some(folder))
            .ok_or(HostingError::NotFound("file"))?;
        h.serve_file(&share, &file, (method, headers, &who, peer.ip()), download)
            .await
    };
    r.await.unwrap_or_else(|e| wants_page(headers, e))
}
