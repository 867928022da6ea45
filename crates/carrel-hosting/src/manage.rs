//! The JSON API for whoever holds a management token (anonymous uploaders
//! get one per file; accounts come later):
//!
//! - `DELETE /api/files/{id}`: delete the file, its links and (with its last
//!   reference) its bytes.
//! - `GET /api/shares/{id}`, `PATCH /api/shares/{id}`: read or change a
//!   link: `expires` (`"7d"` or null), `max_downloads` (number or null),
//!   `password` (text or null), `disabled_reason` (text or null).
//! - `POST /api/folders`: gather files (each with its token) into a folder
//!   with one link.
//!
//! The token goes in `Authorization: Bearer …`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use carrel_core::account::{Caller, Scope};
use carrel_core::ids::{AccountId, FileId, FolderId, Secret, SecretHash, ShareId};
use carrel_core::name::FileName;
use carrel_core::share::{MAX_DOWNLOAD_LIMIT, ShareRules};
use carrel_core::time::{Timestamp, parse_duration};
use carrel_db::{NewFolder, NewShare, Share, ShareTarget};
use carrel_http::auth::Who;
use serde::Deserialize;

use crate::Hosting;
use crate::error::{HostingError, Result};

pub fn routes() -> Router<Arc<Hosting>> {
    Router::new()
        .route("/api/files", get(my_files))
        .route("/api/files/{id}", delete(delete_file))
        .route("/api/shares/{id}", get(get_share).patch(patch_share))
        .route("/api/folders", post(create_folder))
}

/// The longest password accepted (argon2 works on any length; this bounds the work).
const MAX_PASSWORD: usize = 1024;

/// Hashes a link password with argon2id (on a blocking thread).
pub async fn hash_password(p: String) -> Result<String> {
    if p.is_empty() || p.len() > MAX_PASSWORD {
        return Err(HostingError::BadRequest(
            "invalid_password",
            "a password has 1 to 1024 bytes".into(),
        ));
    }
    tokio::task::spawn_blocking(move || carrel_core::account::hash_password(&p))
        .await
        .map_err(std::io::Error::other)?
        .map_err(HostingError::Invalid)
}

/// Checks a password against a stored argon2 hash (on a blocking thread).
pub async fn verify_password(p: String, stored: String) -> bool {
    tokio::task::spawn_blocking(move || carrel_core::account::verify_password(&p, &stored))
        .await
        .unwrap_or(false)
}

/// Who may change a file or link: whoever holds its management token, or
/// its owner's account with the `manage` scope (or read-only requests
/// with `read`).
fn authorize(
    stored: Option<&SecretHash>,
    owner: Option<&AccountId>,
    who: &Who,
    scope: Scope,
    headers: &HeaderMap,
) -> Result<()> {
    if let (Some(h), Some(t)) = (stored, carrel_http::headers::bearer(headers))
        && h.matches(&t)
    {
        return Ok(());
    }
    let caller = who.caller().map_err(HostingError::Http)?;
    match (caller, owner) {
        (c @ Caller::Account { id, .. }, Some(o)) if id == o => {
            if c.can(scope) {
                Ok(())
            } else {
                Err(HostingError::MissingScope(scope.as_str()))
            }
        }
        _ => Err(HostingError::Unauthorized),
    }
}

async fn delete_file(
    State(h): State<Arc<Hosting>>,
    Path(id): Path<String>,
    who: Who,
    headers: HeaderMap,
) -> Response {
    let r = async {
        let id: FileId = id.parse().map_err(|_| HostingError::NotFound("file"))?;
        let f =
            h.db.file(&id)
                .await?
                .ok_or(HostingError::NotFound("file"))?;
        authorize(
            f.manage_token_hash.as_ref(),
            f.owner.as_ref(),
            &who,
            Scope::Manage,
            &headers,
        )?;
        h.delete_file(&id, &f.blob).await?;
        Ok::<_, HostingError>(StatusCode::NO_CONTENT)
    };
    r.await.into_response()
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    offset: i64,
    limit: Option<i64>,
}

/// `GET /api/files`: the caller's files, newest first, with their links.
async fn my_files(
    State(h): State<Arc<Hosting>>,
    who: Who,
    headers: HeaderMap,
    page: std::result::Result<axum::extract::Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let r = async {
        let axum::extract::Query(p) =
            page.map_err(|e| HostingError::BadRequest("invalid_query", e.body_text()))?;
        let me = match who.caller().map_err(HostingError::Http)? {
            c @ Caller::Account { id, .. } if c.can(Scope::Read) => id.clone(),
            Caller::Account { .. } => return Err(HostingError::MissingScope("read")),
            Caller::Anonymous => return Err(HostingError::LoginRequired),
        };
        let limit = p.limit.unwrap_or(50);
        if !(1..=500).contains(&limit) || !(0..=1_000_000).contains(&p.offset) {
            return Err(HostingError::BadRequest(
                "invalid_page",
                "limit is 1 to 500 and offset 0 to 1000000".into(),
            ));
        }
        let (files, total) = h.db.owned_files(&me, p.offset, limit).await?;
        let mut out = Vec::with_capacity(files.len());
        for f in &files {
            let shares = h.db.shares_of_file(&f.id).await?;
            out.push(serde_json::json!({
                "id": f.id,
                "name": f.name.as_str(),
                "size": f.size,
                "media_type": f.media_type.as_str(),
                "created_at": f.created_at.0,
                "links": shares.iter().map(|s| share_json(&h, &headers, s)).collect::<Vec<_>>(),
            }));
        }
        Ok::<_, HostingError>(Json(serde_json::json!({ "files": out, "total": total })))
    };
    r.await.into_response()
}

/// The token and owner that govern a link: its file's or its folder's.
async fn share_and_token(
    h: &Hosting,
    id: &str,
) -> Result<(Share, Option<SecretHash>, Option<AccountId>)> {
    let id: ShareId = id
        .parse()
        .map_err(|_| HostingError::NotFound("share link"))?;
    let s =
        h.db.share(&id)
            .await?
            .ok_or(HostingError::NotFound("share link"))?;
    let (token, owner) = match &s.target {
        ShareTarget::File(f) => {
            h.db.file(f)
                .await?
                .map_or((None, None), |f| (f.manage_token_hash, f.owner))
        }
        ShareTarget::Folder(f) => {
            h.db.folder(f)
                .await?
                .map_or((None, None), |f| (f.manage_token_hash, f.owner))
        }
    };
    Ok((s, token, owner))
}

fn share_json(h: &Hosting, headers: &HeaderMap, s: &Share) -> serde_json::Value {
    serde_json::json!({
        "id": s.id,
        "url": h.share_url(headers, &s.id),
        "expires_at": s.rules.expires_at.map(|t| httpdate::fmt_http_date(t.to_system_time())),
        "max_downloads": s.rules.max_downloads,
        "downloads": s.download_count,
        "has_password": s.password_hash.is_some(),
        "disabled_reason": s.rules.disabled_reason,
    })
}

async fn get_share(
    State(h): State<Arc<Hosting>>,
    Path(id): Path<String>,
    who: Who,
    headers: HeaderMap,
) -> Response {
    let r = async {
        let (s, token, owner) = share_and_token(&h, &id).await?;
        authorize(token.as_ref(), owner.as_ref(), &who, Scope::Read, &headers)?;
        Ok::<_, HostingError>(Json(share_json(&h, &headers, &s)))
    };
    r.await.into_response()
}

fn double<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> std::result::Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A change to a link; absent fields stay as they are, `null` clears.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareChange {
    #[serde(default, deserialize_with = "double")]
    expires: Option<Option<String>>,
    #[serde(default, deserialize_with = "double")]
    max_downloads: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double")]
    password: Option<Option<String>>,
    #[serde(default, deserialize_with = "double")]
    disabled_reason: Option<Option<String>>,
}

fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T> {
    serde_json::from_slice(body)
        .map_err(|e| HostingError::BadRequest("invalid_json", format!("invalid JSON body: {e}")))
}

async fn patch_share(
    State(h): State<Arc<Hosting>>,
    Path(id): Path<String>,
    who: Who,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let r = async {
        let (s, token, owner) = share_and_token(&h, &id).await?;
        authorize(
            token.as_ref(),
            owner.as_ref(),
            &who,
            Scope::Manage,
            &headers,
        )?;
        let c: ShareChange = json_body(&body)?;
        let mut rules: ShareRules = s.rules.clone();
        if let Some(e) = c.expires {
            rules.expires_at = e
                .map(|d| parse_duration(&d).map(|d| Timestamp::now().plus(d)))
                .transpose()?;
        }
        if let Some(m) = c.max_downloads {
            if m.is_some_and(|m| !(1..=MAX_DOWNLOAD_LIMIT).contains(&m)) {
                return Err(HostingError::BadRequest(
                    "invalid_max_downloads",
                    "max_downloads must be a whole number from 1".into(),
                ));
            }
            rules.max_downloads = m;
        }
        if let Some(d) = c.disabled_reason {
            if d.as_ref()
                .is_some_and(|d| d.trim().is_empty() || d.len() > 1000)
            {
                return Err(HostingError::BadRequest(
                    "invalid_reason",
                    "a reason has 1 to 1000 bytes".into(),
                ));
            }
            rules.disabled_reason = d;
        }
        let password = match c.password {
            None => None,
            Some(None) => Some(None),
            Some(Some(p)) => Some(Some(hash_password(p).await?)),
        };
        h.db.update_share(&s.id, &rules, password).await?;
        h.forget_share(&s.id);
        let s =
            h.db.share(&s.id)
                .await?
                .ok_or(HostingError::NotFound("share link"))?;
        Ok::<_, HostingError>(Json(share_json(&h, &headers, &s)))
    };
    r.await.into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FolderFile {
    id: String,
    manage_token: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FolderRequest {
    name: String,
    files: Vec<FolderFile>,
}

/// The most files one folder request may gather.
const MAX_FOLDER_FILES: usize = 10_000;

async fn create_folder(
    State(h): State<Arc<Hosting>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let r = async {
        let req: FolderRequest = json_body(&body)?;
        let name = FileName::new(&req.name)?;
        if req.files.is_empty() || req.files.len() > MAX_FOLDER_FILES {
            return Err(HostingError::BadRequest(
                "invalid_folder",
                "a folder needs 1 to 10000 files".into(),
            ));
        }
        let mut ids = Vec::with_capacity(req.files.len());
        for f in &req.files {
            let id: FileId = f.id.parse().map_err(|_| HostingError::NotFound("file"))?;
            let file =
                h.db.file(&id)
                    .await?
                    .ok_or(HostingError::NotFound("file"))?;
            let ok = file
                .manage_token_hash
                .as_ref()
                .is_some_and(|t| t.matches(&Secret::from_client(&f.manage_token)));
            if !ok {
                return Err(HostingError::Unauthorized);
            }
            ids.push(id);
        }
        let token = Secret::generate();
        let now = Timestamp::now();
        let folder = NewFolder {
            id: FolderId::generate(),
            name,
            owner: None,
            manage_token_hash: Some(token.hash()),
            created_at: now,
        };
        h.db.create_folder(&folder, &ids).await?;
        for id in &ids {
            h.forget_file(id);
        }
        let share = NewShare {
            id: ShareId::generate(),
            target: ShareTarget::Folder(folder.id.clone()),
            rules: ShareRules::default(),
            password_hash: None,
            created_at: now,
        };
        h.db.create_share(&share).await?;
        Ok::<_, HostingError>((
            StatusCode::CREATED,
            Json(serde_json::json!({
                "folder_id": folder.id,
                "url": h.share_url(&headers, &share.id),
                "manage_token": token.expose(),
            })),
        ))
    };
    r.await.into_response()
}
