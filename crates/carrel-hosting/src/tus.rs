//! tus 1.0.0 at `/files`: <https://tus.io/protocols/resumable-upload>.
//!
//! Extensions: creation, creation-with-upload, creation-defer-length,
//! expiration, checksum (sha1, sha256, sha512, md5, blake3), termination and
//! concatenation. carrel adds three response headers to the creation of an
//! upload that will become a file: `Carrel-Share-Url` (the link it will have),
//! `Carrel-Manage-Token` (the secret to delete it or change the link; shown
//! once) and `Carrel-File-Id` when it completes. Share options may be sent
//! as metadata: `expires` (`7d`), `max_downloads` and `password` (never
//! stored in clear).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{options, post};
use carrel_core::ids::{BlobHash, Secret, ShareId, UploadId};
use carrel_core::name::FileName;
use carrel_core::share::{MAX_DOWNLOAD_LIMIT, ShareRules};
use carrel_core::time::{Timestamp, parse_duration};
use carrel_core::tus::{self as proto, Checksum, Concat, Metadata};
use carrel_db::{NewUpload, PlannedShare, Upload, UploadKind};
use futures::StreamExt;

use crate::error::{HostingError, Result};
use crate::finish::{FileSpec, media_type_for};
use crate::staging::StagingWriter;
use crate::stats::Stats;
use crate::{Hosting, manage};

pub fn routes() -> Router<Arc<Hosting>> {
    Router::new()
        .route("/files", post(create).options(discover))
        .route("/files/", post(create).options(discover))
        .route(
            "/files/{id}",
            options(discover)
                .head(head)
                .patch(patch)
                .delete(terminate)
                .get(status),
        )
}

/// Which web origins may use the tus endpoint from the browser.
#[derive(Clone, Debug)]
pub struct Cors {
    any: bool,
    origins: Vec<HeaderValue>,
}

impl Cors {
    pub fn new(origins: &[String]) -> Self {
        Self {
            any: origins.iter().any(|o| o == "*"),
            origins: origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
                .collect(),
        }
    }

    fn allow(&self, origin: &HeaderValue) -> Option<HeaderValue> {
        if self.any {
            Some(HeaderValue::from_static("*"))
        } else {
            self.origins.contains(origin).then(|| origin.clone())
        }
    }
}

const CORS_METHODS: &str = "POST, HEAD, PATCH, DELETE, GET, OPTIONS";
const CORS_REQUEST_HEADERS: &str = "Authorization, Content-Type, Tus-Resumable, Upload-Checksum, \
    Upload-Concat, Upload-Defer-Length, Upload-Length, Upload-Metadata, Upload-Offset, \
    X-HTTP-Method-Override, X-Requested-With";
const CORS_EXPOSED: &str = "Location, Tus-Checksum-Algorithm, Tus-Extension, Tus-Max-Size, \
    Tus-Resumable, Tus-Version, Upload-Concat, Upload-Expires, Upload-Length, Upload-Metadata, \
    Upload-Offset, Carrel-Share-Url, Carrel-Manage-Token, Carrel-File-Id";

/// Cross-origin access to the tus endpoint, as tusd allows it. A preflight
/// (`OPTIONS` with `Access-Control-Request-Method`) is answered here; a plain
/// `OPTIONS` is tus's discovery and goes to its handler, like every other
/// request, whose response then says which origin may read it and which
/// headers. (tower-http's CORS layer takes every `OPTIONS` as a preflight,
/// which would hide tus discovery.)
pub async fn cors(
    State(c): State<Arc<Cors>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let allow = req.headers().get(header::ORIGIN).and_then(|o| c.allow(o));
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut res = if preflight {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    let h = res.headers_mut();
    if !c.any {
        h.append(header::VARY, HeaderValue::from_static("origin"));
    }
    let Some(allow) = allow else {
        return res;
    };
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
    if preflight {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(CORS_METHODS),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(CORS_REQUEST_HEADERS),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("86400"),
        );
    } else {
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(CORS_EXPOSED),
        );
    }
    res
}

const TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
const UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
const UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
const UPLOAD_EXPIRES: HeaderName = HeaderName::from_static("upload-expires");
pub const SHARE_URL: HeaderName = HeaderName::from_static("carrel-share-url");
pub const MANAGE_TOKEN: HeaderName = HeaderName::from_static("carrel-manage-token");
pub const FILE_ID: HeaderName = HeaderName::from_static("carrel-file-id");

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static(""))
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// A response with the tus headers every response carries.
fn tus_response(status: StatusCode) -> Response {
    let mut r = status.into_response();
    let h = r.headers_mut();
    h.insert(TUS_RESUMABLE, HeaderValue::from_static(proto::VERSION));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(
            "Location, Upload-Offset, Upload-Length, Upload-Expires, Upload-Metadata, Upload-Concat, Tus-Resumable, Carrel-Share-Url, Carrel-Manage-Token, Carrel-File-Id",
        ),
    );
    r
}

/// tus errors carry the tus headers too.
fn tus_error(e: HostingError) -> Response {
    let mut r = e.into_response();
    r.headers_mut()
        .insert(TUS_RESUMABLE, HeaderValue::from_static(proto::VERSION));
    r
}

fn check_version(h: &HeaderMap) -> Result<()> {
    match header(h, "tus-resumable") {
        Some(proto::VERSION) => Ok(()),
        _ => Err(HostingError::TusVersion),
    }
}

fn parse_u64(h: &HeaderMap, name: &'static str) -> Result<Option<u64>> {
    match header(h, name) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= i64::MAX as u64)
            .map(Some)
            .ok_or_else(|| {
                HostingError::BadRequest(
                    "invalid_header",
                    format!("{name} must be a non-negative integer"),
                )
            }),
    }
}

async fn discover(State(h): State<Arc<Hosting>>) -> Response {
    let mut r = tus_response(StatusCode::NO_CONTENT);
    let hd = r.headers_mut();
    hd.insert("tus-version", HeaderValue::from_static(proto::VERSION));
    hd.insert("tus-extension", HeaderValue::from_static(proto::EXTENSIONS));
    hd.insert("tus-max-size", HeaderValue::from(h.config.max_file_size));
    hd.insert(
        "tus-checksum-algorithm",
        HeaderValue::from_static(proto::CHECKSUM_ALGORITHMS),
    );
    r
}

fn staging_path(h: &Hosting, id: &UploadId) -> PathBuf {
    h.store.staging_dir().join(id.as_str())
}

/// The share options a client put in the metadata (removed from it).
pub(crate) async fn share_options(meta: &mut Metadata) -> Result<(ShareRules, Option<String>)> {
    let mut rules = ShareRules::default();
    if let Some(e) = meta.remove("expires") {
        let e = String::from_utf8(e).map_err(|_| {
            HostingError::BadRequest("invalid_upload_metadata", "expires is not UTF-8".into())
        })?;
        rules.expires_at = Some(Timestamp::now().plus(parse_duration(&e)?));
    }
    if let Some(m) = meta.remove("max_downloads") {
        let n = std::str::from_utf8(&m)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .filter(|n| (1..=MAX_DOWNLOAD_LIMIT).contains(n))
            .ok_or_else(|| {
                HostingError::BadRequest(
                    "invalid_max_downloads",
                    "max_downloads must be a whole number from 1".into(),
                )
            })?;
        rules.max_downloads = Some(n);
    }
    let password_hash = match meta.remove("password") {
        None => None,
        Some(p) => {
            let p = String::from_utf8(p).map_err(|_| {
                HostingError::BadRequest("invalid_password", "the password is not UTF-8".into())
            })?;
            Some(manage::hash_password(p).await?)
        }
    };
    Ok((rules, password_hash))
}

fn parse_part(url: &str) -> Result<UploadId> {
    let last = url.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    last.parse().map_err(|_| {
        HostingError::BadRequest(
            "invalid_concat_part",
            format!("{url:?} is not an upload of this server"),
        )
    })
}

async fn create(
    State(h): State<Arc<Hosting>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    who: Result<carrel_http::auth::Who, carrel_http::HttpError>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let who = match who {
        Ok(w) => w,
        Err(e) => return e.into_response(),
    };
    create_inner(h, peer, who, headers, body)
        .await
        .unwrap_or_else(tus_error)
}

async fn create_inner(
    h: Arc<Hosting>,
    peer: SocketAddr,
    who: carrel_http::auth::Who,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    check_version(&headers)?;
    let owner = h.uploader(&who)?;
    let concat = header(&headers, "upload-concat")
        .map(Concat::parse)
        .transpose()?;
    let length = parse_u64(&headers, "upload-length")?;
    let deferred = header(&headers, "upload-defer-length").map(str::trim);
    if let Some(d) = deferred
        && (d != "1" || length.is_some())
    {
        return Err(HostingError::BadRequest(
            "invalid_header",
            "Upload-Defer-Length must be 1 and excludes Upload-Length".into(),
        ));
    }
    let mut meta = Metadata::parse(header(&headers, "upload-metadata").unwrap_or(""))?;
    let name = match meta.text("filename")?.or(meta.text("name")?) {
        Some(n) => FileName::new(n)?,
        None => FileName::fallback(),
    };
    let declared = meta
        .text("filetype")?
        .or(meta.text("type")?)
        .or(meta.text("contentType")?)
        .map(str::to_owned);
    let media = media_type_for(&name, declared.as_deref());
    let (rules, password_hash) = share_options(&mut meta).await?;

    let now = Timestamp::now();
    let ip = peer.ip().to_string();
    if h.db.active_uploads_from(&ip, now).await? >= h.config.max_concurrent_uploads_per_ip {
        return Err(HostingError::TooManyUploads);
    }

    let (kind, length, parts) = match concat {
        None => (UploadKind::Single, length, vec![]),
        Some(Concat::Partial) => (UploadKind::Partial, length, vec![]),
        Some(Concat::Final(urls)) => {
            let ids = urls
                .iter()
                .map(|u| parse_part(u))
                .collect::<Result<Vec<_>>>()?;
            let mut parts = Vec::with_capacity(ids.len());
            let mut total: u64 = 0;
            for id in &ids {
                let p =
                    h.db.upload(id)
                        .await?
                        .ok_or(HostingError::NotFound("concatenation part"))?;
                if p.kind != UploadKind::Partial || p.length != Some(p.offset) {
                    return Err(HostingError::BadRequest(
                        "concat_part_incomplete",
                        format!("part {id} is not a complete partial upload"),
                    ));
                }
                total += p.offset as u64;
                parts.push(p);
            }
            (UploadKind::Final(ids), Some(total), parts)
        }
    };
    if length.is_none() && deferred.is_none() {
        return Err(HostingError::BadRequest(
            "invalid_header",
            "Upload-Length or Upload-Defer-Length: 1 is required".into(),
        ));
    }
    // A final concatenation's parts were checked when they were created.
    if let Some(l) = length
        && !matches!(kind, UploadKind::Final(_))
    {
        h.allowance_for(&owner).await?.check(l)?;
    }

    let becomes_file = kind != UploadKind::Partial;
    let token = becomes_file.then(Secret::generate);
    let share = becomes_file.then(|| PlannedShare {
        id: ShareId::generate(),
        rules,
        password_hash,
    });
    let new = NewUpload {
        id: UploadId::generate(),
        length: length.map(|l| l as i64),
        metadata: meta.to_header(),
        kind,
        owner: owner.account.clone(),
        client_ip: Some(ip),
        file_name: name,
        media_type: media,
        share,
        manage_token_hash: token.as_ref().map(Secret::hash),
        expires_at: now.plus(std::time::Duration::from_secs(h.config.upload_expiry_secs)),
        created_at: now,
    };
    let path = staging_path(&h, &new.id);
    tokio::fs::File::create(&path).await?;
    if let Err(e) = h.create_upload_reserved(&owner, &new).await {
        let _ = tokio::fs::remove_file(&path).await;
        return Err(e);
    }
    Stats::add(&h.stats.uploads_created, 1);
    tracing::info!(upload = %new.id, length = ?new.length, kind = ?new.kind, "upload created");

    let base = h.base_url(&headers);
    let mut upload = Upload {
        new,
        offset: 0,
        completed: false,
        file_id: None,
    };
    let mut file_id = None;
    if !parts.is_empty() {
        file_id = Some(concatenate(&h, &upload, &parts).await?);
        upload.offset = upload.length.unwrap_or(0);
    } else if header(&headers, "content-type")
        .is_some_and(|c| c.starts_with("application/offset+octet-stream"))
    {
        let (offset, fid) = write_body(&h, &upload, 0, &headers, body).await?;
        upload.offset = offset as i64;
        file_id = fid;
    } else if upload.length == Some(0) && upload.kind == UploadKind::Single {
        file_id = Some(complete(&h, &upload, None).await?);
    }

    let mut r = tus_response(StatusCode::CREATED);
    let hd = r.headers_mut();
    hd.insert(header::LOCATION, hv(&format!("{base}/files/{}", upload.id)));
    hd.insert(UPLOAD_OFFSET, HeaderValue::from(upload.offset));
    hd.insert(
        UPLOAD_EXPIRES,
        hv(&httpdate::fmt_http_date(upload.expires_at.to_system_time())),
    );
    if let Some(s) = &upload.share {
        hd.insert(SHARE_URL, hv(&h.share_url(&headers, &s.id)));
    }
    if let Some(t) = &token {
        hd.insert(MANAGE_TOKEN, hv(t.expose()));
    }
    if let Some(f) = file_id {
        hd.insert(FILE_ID, hv(f.as_str()));
    }
    Ok(r)
}

/// Loads an upload that may still receive bytes or be asked about.
async fn live_upload(h: &Hosting, id: &str) -> Result<Upload> {
    let id: UploadId = id.parse().map_err(|_| HostingError::NotFound("upload"))?;
    let u =
        h.db.upload(&id)
            .await?
            .ok_or(HostingError::NotFound("upload"))?;
    if u.expires_at <= Timestamp::now() {
        return Err(HostingError::Closed(carrel_core::share::Closed::Expired));
    }
    Ok(u)
}

async fn head(
    State(h): State<Arc<Hosting>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    head_inner(h, id, headers).await.unwrap_or_else(tus_error)
}

async fn head_inner(h: Arc<Hosting>, id: String, headers: HeaderMap) -> Result<Response> {
    check_version(&headers)?;
    let mut u = live_upload(&h, &id).await?;
    if !u.completed && !matches!(u.kind, UploadKind::Final(_)) {
        // After a power loss the staging file may hold fewer bytes than the
        // database says were written: never let a client skip the gap.
        let on_disk = tokio::fs::metadata(staging_path(&h, &u.id))
            .await
            .map(|m| m.len() as i64)
            .unwrap_or(0);
        if on_disk < u.offset
            && h.db
                .advance_upload(&u.id, u.offset, on_disk, u.expires_at)
                .await?
        {
            tracing::warn!(upload = %u.id, db = u.offset, on_disk, "upload offset reconciled with the staging file");
            u.offset = on_disk;
        }
    }
    let mut r = tus_response(StatusCode::OK);
    let hd = r.headers_mut();
    hd.insert(UPLOAD_OFFSET, HeaderValue::from(u.offset));
    match u.length {
        Some(l) => hd.insert(UPLOAD_LENGTH, HeaderValue::from(l)),
        None => hd.insert("upload-defer-length", HeaderValue::from_static("1")),
    };
    if !u.metadata.is_empty() {
        hd.insert("upload-metadata", hv(&u.metadata));
    }
    match &u.kind {
        UploadKind::Single => {}
        UploadKind::Partial => {
            hd.insert("upload-concat", HeaderValue::from_static("partial"));
        }
        UploadKind::Final(parts) => {
            let base = h.base_url(&headers);
            let urls: Vec<String> = parts.iter().map(|p| format!("{base}/files/{p}")).collect();
            hd.insert("upload-concat", hv(&format!("final;{}", urls.join(" "))));
        }
    }
    hd.insert(
        UPLOAD_EXPIRES,
        hv(&httpdate::fmt_http_date(u.expires_at.to_system_time())),
    );
    if let Some(f) = &u.file_id {
        hd.insert(FILE_ID, hv(f.as_str()));
    }
    Ok(r)
}

async fn patch(
    State(h): State<Arc<Hosting>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    patch_inner(h, id, headers, body)
        .await
        .unwrap_or_else(tus_error)
}

async fn patch_inner(
    h: Arc<Hosting>,
    id: String,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    check_version(&headers)?;
    if !header(&headers, "content-type")
        .is_some_and(|c| c.starts_with("application/offset+octet-stream"))
    {
        return Err(HostingError::WrongContentType);
    }
    let mut u = live_upload(&h, &id).await?;
    let sent = parse_u64(&headers, "upload-offset")?.ok_or_else(|| {
        HostingError::BadRequest("invalid_header", "Upload-Offset is required".into())
    })?;
    if matches!(u.kind, UploadKind::Final(_)) {
        return Err(HostingError::BadRequest(
            "final_upload_immutable",
            "a final concatenation cannot be patched".into(),
        ));
    }
    if let Some(l) = parse_u64(&headers, "upload-length")? {
        match u.length {
            None => {
                h.allowance_of_upload(&u).await?.check(l)?;
                h.set_length_reserved(&u, l).await?;
                u.new.length = Some(l as i64);
            }
            Some(have) if have as u64 != l => {
                return Err(HostingError::BadRequest(
                    "invalid_header",
                    "Upload-Length cannot change once set".into(),
                ));
            }
            Some(_) => {}
        }
    }
    let (offset, file_id) = write_body(&h, &u, sent, &headers, body).await?;
    let mut r = tus_response(StatusCode::NO_CONTENT);
    r.headers_mut()
        .insert(UPLOAD_OFFSET, HeaderValue::from(offset));
    let expires =
        Timestamp::now().plus(std::time::Duration::from_secs(h.config.upload_expiry_secs));
    r.headers_mut().insert(
        UPLOAD_EXPIRES,
        hv(&httpdate::fmt_http_date(expires.to_system_time())),
    );
    if let Some(f) = file_id {
        r.headers_mut().insert(FILE_ID, hv(f.as_str()));
    }
    Ok(r)
}

/// Marks an upload as having a writer; the mark goes when the guard drops.
struct Busy<'a>(&'a Hosting, UploadId);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.busy_uploads.lock().expect("lock").remove(&self.1);
    }
}

/// Appends a request body at `sent`. Returns the new offset, and the file's
/// id if this completed the upload.
async fn write_body(
    h: &Hosting,
    u: &Upload,
    sent: u64,
    headers: &HeaderMap,
    body: Body,
) -> Result<(u64, Option<carrel_core::ids::FileId>)> {
    if u.completed {
        return Err(HostingError::OffsetMismatch {
            sent,
            actual: u.offset as u64,
        });
    }
    if !h.busy_uploads.lock().expect("lock").insert(u.id.clone()) {
        return Err(HostingError::Locked);
    }
    let _busy = Busy(h, u.id.clone());
    if sent != u.offset as u64 {
        return Err(HostingError::OffsetMismatch {
            sent,
            actual: u.offset as u64,
        });
    }
    let checksum = header(headers, "upload-checksum")
        .map(Checksum::parse)
        .transpose()?;
    // A declared length was checked against the plan when it was set; a
    // deferred one is held to what the plan allows now, as bytes arrive.
    let allowance = match u.length {
        Some(_) => None,
        None => Some(h.allowance_of_upload(u).await?),
    };
    let limit = match (u.length, &allowance) {
        (Some(l), _) => l as u64,
        (None, Some(a)) => a.limit(),
        (None, None) => h.config.max_file_size,
    };
    let too_much = |total: u64| match &allowance {
        Some(a) => a
            .check(total)
            .err()
            .unwrap_or(HostingError::TooLarge(limit)),
        None => HostingError::TooLarge(limit),
    };
    if let Some(cl) = parse_u64(headers, "content-length")?
        && sent + cl > limit
    {
        return Err(too_much(sent + cl));
    }
    let hasher = h
        .hashers
        .lock()
        .expect("lock")
        .remove(&u.id)
        .or_else(|| (sent == 0).then(blake3::Hasher::new));
    let path = staging_path(h, &u.id);
    let mut w = StagingWriter::open(&path, sent, hasher).await?;
    if let Some(c) = checksum {
        w.expect_checksum(c);
    }
    let mut stream = body.into_data_stream();
    let mut failure: Option<HostingError> = None;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(b) => {
                if w.offset() + b.len() as u64 > limit {
                    failure = Some(too_much(w.offset() + b.len() as u64));
                    break;
                }
                Stats::add(&h.stats.upload_bytes, b.len() as u64);
                if let Err(e) = w.write(b).await {
                    failure = Some(e.into());
                    break;
                }
            }
            Err(e) => {
                tracing::info!(upload = %u.id, error = %e, "upload body interrupted");
                failure = Some(HostingError::BadRequest(
                    "body_interrupted",
                    format!("the request body was interrupted: {e}"),
                ));
                break;
            }
        }
    }
    if failure.is_none()
        && let Err(e) = w.flush().await
    {
        failure = Some(e.into());
    }
    let checksum_expected = w.checksum.is_some();
    if failure.is_none() && !w.checksum_ok() {
        Stats::add(&h.stats.checksum_mismatches, 1);
        failure = Some(HostingError::ChecksumMismatch);
    }
    let keep = match &failure {
        None => true,
        // An interrupted body keeps what arrived, unless it had to be verified.
        Some(HostingError::BadRequest("body_interrupted", _)) => {
            !checksum_expected && w.flush().await.is_ok()
        }
        Some(_) => false,
    };
    let new_offset = if keep { w.offset() } else { sent };
    let content_hash = w.content_hash.take();
    if !keep {
        w.truncate(sent).await?;
    }
    let expires =
        Timestamp::now().plus(std::time::Duration::from_secs(h.config.upload_expiry_secs));
    if new_offset != sent
        && !h
            .db
            .advance_upload(&u.id, sent as i64, new_offset as i64, expires)
            .await?
    {
        return Err(HostingError::OffsetMismatch {
            sent,
            actual: u.offset as u64,
        });
    }
    if let Some(e) = failure {
        if keep && let Some(hs) = content_hash {
            h.hashers.lock().expect("lock").insert(u.id.clone(), hs);
        }
        return Err(e);
    }
    if u.length == Some(new_offset as i64) && u.kind == UploadKind::Single {
        let hash = content_hash.map(|c| BlobHash::from_bytes(*c.finalize().as_bytes()));
        return Ok((new_offset, Some(complete(h, u, hash).await?)));
    }
    if let Some(hs) = content_hash {
        h.hashers.lock().expect("lock").insert(u.id.clone(), hs);
    }
    Ok((new_offset, None))
}

fn file_spec(u: &Upload) -> FileSpec {
    FileSpec {
        name: u.file_name.clone(),
        media: u.media_type.clone(),
        owner: u.owner.clone(),
        manage_token_hash: u.manage_token_hash.clone(),
        share: u.share.clone(),
    }
}

async fn complete(
    h: &Hosting,
    u: &Upload,
    hash: Option<BlobHash>,
) -> Result<carrel_core::ids::FileId> {
    h.finish_upload(&u.id, &staging_path(h, &u.id), hash, file_spec(u))
        .await
}

/// Builds a final upload from its parts: the parts' bytes are copied into
/// the final staging file and hashed on the way, in blocks, so memory stays
/// small whatever the size and the result is read once.
async fn concatenate(
    h: &Hosting,
    u: &Upload,
    parts: &[Upload],
) -> Result<carrel_core::ids::FileId> {
    let dest = staging_path(h, &u.id);
    let sources: Vec<PathBuf> = parts.iter().map(|p| staging_path(h, &p.id)).collect();
    let d = dest.clone();
    let (hash, _) = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&d)?;
        let parts = sources
            .iter()
            .map(std::fs::File::open)
            .collect::<std::io::Result<Vec<_>>>()?;
        carrel_blob::hash_blocks(parts, |block| out.write_all(block))
    })
    .await
    .map_err(std::io::Error::other)??;
    let length = u.length.unwrap_or(0);
    let expires =
        Timestamp::now().plus(std::time::Duration::from_secs(h.config.upload_expiry_secs));
    h.db.advance_upload(&u.id, 0, length, expires).await?;
    complete(h, u, Some(hash)).await
}

async fn terminate(
    State(h): State<Arc<Hosting>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    terminate_inner(h, id, headers)
        .await
        .unwrap_or_else(tus_error)
}

async fn terminate_inner(h: Arc<Hosting>, id: String, headers: HeaderMap) -> Result<Response> {
    check_version(&headers)?;
    let id: UploadId = id.parse().map_err(|_| HostingError::NotFound("upload"))?;
    if h.busy_uploads.lock().expect("lock").contains(&id) {
        return Err(HostingError::Locked);
    }
    if !h.db.delete_upload(&id).await? {
        return Err(HostingError::NotFound("upload"));
    }
    h.hashers.lock().expect("lock").remove(&id);
    remove_staging(&h, &id).await?;
    tracing::info!(upload = %id, "upload terminated");
    Ok(tus_response(StatusCode::NO_CONTENT))
}

/// Forgets an upload: its hashing state, its staging file and its row.
pub(crate) async fn forget_upload(h: &Hosting, id: &UploadId) -> Result<()> {
    h.hashers.lock().expect("lock").remove(id);
    remove_staging(h, id).await?;
    h.db.delete_upload(id).await?;
    Ok(())
}

async fn remove_staging(h: &Hosting, id: &UploadId) -> Result<()> {
    match tokio::fs::remove_file(staging_path(h, id)).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

/// carrel's extension: the state of an upload as JSON.
async fn status(
    State(h): State<Arc<Hosting>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let r = async {
        let u = live_upload(&h, &id).await?;
        Ok::<_, HostingError>(axum::Json(serde_json::json!({
            "id": u.id,
            "offset": u.offset,
            "length": u.length,
            "complete": u.completed,
            "file_id": u.file_id,
            "share_url": u.share.as_ref().map(|s| h.share_url(&headers, &s.id)),
            "expires": httpdate::fmt_http_date(u.expires_at.to_system_time()),
        })))
    }
    .await;
    match r {
        Ok(j) => j.into_response(),
        Err(e) => tus_error(e),
    }
}

/// Removes expired uploads and their staging files. Returns how many.
pub async fn expire_uploads(h: &Hosting) -> Result<usize> {
    let mut n = 0;
    loop {
        let batch = h.db.expired_uploads(Timestamp::now(), 100).await?;
        if batch.is_empty() {
            return Ok(n);
        }
        let before = n;
        for id in batch {
            if h.busy_uploads.lock().expect("lock").contains(&id) {
                continue;
            }
            forget_upload(h, &id).await?;
            n += 1;
        }
        if n == before || n > 100_000 {
            return Ok(n);
        }
    }
}
