//! The JSON API for whoever holds a management token (anonymous uploaders
//! get one per file) or owns the file (an account; see [`crate::mine`] for
//! the owner's listing, folders and bulk changes):
//!
//! - `DELETE /api/files/{id}`: delete the file, its links and (with its last
//!   reference) its bytes.
//! - `GET /api/shares/{id}`, `PATCH /api/shares/{id}`: read or change a
//!   link: `expires` (`"7d"` or null), `max_downloads` (number or null),
//!   `password` (text or null), `disabled` (true or false),
//!   `disabled_reason` (text or null).
//! - `POST /api/folders`: gather files (each with its token) into a folder
//!   with one link.
//!
//! The token goes in `Authorization: Bearer …`. Another account's file or
//! link is a 404, as if it did not exist, so ids say nothing.

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
        .route(
            "/api/files/{id}",
            delete(delete_file).patch(crate::mine::patch_file),
        )
        .route(
            "/api/shares/{id}",
            get(get_share)
                .patch(patch_share)
                .delete(crate::mine::delete_share),
        )
        .route(
            "/api/folders",
            post(create_folder).get(crate::mine::list_folders),
        )
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
/// with `read`). Another account gets `not_found` (`what`), as if the
/// thing did not exist.
pub(crate) fn authorize(
    what: &'static str,
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
        (Caller::Account { .. }, _) => Err(HostingError::NotFound(what)),
        _ => Err(HostingError::Unauthorized),
    }
}

/// The file with this id, if the caller may change it (its token, or its
/// owner with the `manage` scope).
pub(crate) async fn managed_file(
    h: &Hosting,
    who: &Who,
    headers: &HeaderMap,
    id: &str,
) -> Result<carrel_db::File> {
    let id: FileId = id.parse().map_err(|_| HostingError::NotFound("file"))?;
    let f =
        h.db.file(&id)
            .await?
            .ok_or(HostingError::NotFound("file"))?;
    authorize(
        "file",
        f.manage_token_hash.as_ref(),
        f.owner.as_ref(),
        who,
        Scope::Manage,
        headers,
    )?;
    Ok(f)
}

async fn delete_file(
    State(h): State<Arc<Hosting>>,
    Path(id): Path<String>,
    who: Who,
    headers: HeaderMap,
) -> Response {
    let r = async {
        let f = managed_file(&h, &who, &headers, &id).await?;
        h.delete_file(&f.id, &f.blob).await?;
        Ok::<_, HostingError>(StatusCode::NO_CONTENT)
    };
    r.await.into_response()
}

/// The token and owner that govern a link: its file's or its folder's.
pub(crate) async fn share_and_token(
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

pub(crate) fn share_json(h: &Hosting, headers: &HeaderMap, s: &Share) -> serde_json::Value {
    share_json_at(&h.base_url(headers), s)
}

/// A link as JSON, its URL under `base`.
pub(crate) fn share_json_at(base: &str, s: &Share) -> serde_json::Value {
    serde_json::json!({
        "id": s.id,
        "url": format!("{base}/s/{}", s.id),
        "created_at": s.created_at.0,
        "disabled": s.rules.disabled_reason.is_some(),
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
        authorize(
            "share link",
            token.as_ref(),
            owner.as_ref(),
            &who,
            Scope::Read,
            &headers,
        )?;
        let mut json = share_json(&h, &headers, &s);
        if let Some(media) = media_json(&h, &s).await? {
            json["media"] = media;
        }
        Ok::<_, HostingError>(Json(json))
    };
    r.await.into_response()
}

/// What the streaming wing knows of a link's file as audio or video, if anything.
async fn media_json(h: &Hosting, s: &Share) -> Result<Option<serde_json::Value>> {
    let (Some(m), ShareTarget::File(fid)) = (h.media(), &s.target) else {
        return Ok(None);
    };
    let Some(f) = h.db.file(fid).await? else {
        return Ok(None);
    };
    let sidecars = h.sidecars_of(&f).await?;
    Ok(m.view(&f.blob, &f.media_type, &sidecars)
        .await
        .map(|v| v.json))
}

/// `null` as `Some(None)`, absent (with `#[serde(default)]`) as `None`.
pub(crate) fn double<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> std::result::Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A change to a link; absent fields stay as they are, `null` clears.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareChange {
    #[serde(default, deserialize_with = "double")]
    pub expires: Option<Option<String>>,
    #[serde(default, deserialize_with = "double")]
    pub max_downloads: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double")]
    pub password: Option<Option<String>>,
    #[serde(default, deserialize_with = "double")]
    pub disabled_reason: Option<Option<String>>,
    /// Turns the link off (with [`OWNER_DISABLED`] as its reason) or on again.
    #[serde(default)]
    pub disabled: Option<bool>,
}

/// The reason visitors see on a link its owner turned off.
pub const OWNER_DISABLED: &str = "its owner turned it off";

impl ShareChange {
    /// The change a new link starts from: `expires`, `password` and `max_downloads` only.
    pub fn new_link(
        expires: Option<String>,
        password: Option<String>,
        max_downloads: Option<i64>,
    ) -> Self {
        Self {
            expires: Some(expires),
            max_downloads: Some(max_downloads),
            password: Some(password),
            disabled_reason: None,
            disabled: None,
        }
    }

    /// `rules` with this change, and the password column's change (hashed).
    pub async fn apply(self, rules: &ShareRules) -> Result<(ShareRules, Option<Option<String>>)> {
        let c = self;
        let mut rules = rules.clone();
        if let Some(e) = c.expires {
            rules.expires_at = e
                .map(|d| parse_duration(&d).map(|d| Timestamp::now().plus(d)))
                .transpose()?;
        }
        if let Some(m) = c.max_downloads {
            if m.is_some_and(|m| !(1..=MAX_DOWNLOAD_LIMIT).contains(&m)) {
                return Err(HostingError::BadRequest(
                    "invalid_max_downloads",
                    "max_downloads must be a whole number from 1 to 1000000000".into(),
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
        } else if let Some(off) = c.disabled {
            rules.disabled_reason = off.then(|| OWNER_DISABLED.to_owned());
        }
        let password = match c.password {
            None => None,
            Some(None) => Some(None),
            Some(Some(p)) => Some(Some(hash_password(p).await?)),
        };
        Ok((rules, password))
    }
}

pub(crate) fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T> {
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
            "share link",
            token.as_ref(),
            owner.as_ref(),
            &who,
            Scope::Manage,
            &headers,
        )?;
        let c: ShareChange = json_body(&body)?;
        let (rules, password) = c.apply(&s.rules).await?;
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
    /// Files with their management tokens; absent for an account's own (empty) folder.
    files: Option<Vec<FolderFile>>,
}

/// The most files one folder request may gather.
const MAX_FOLDER_FILES: usize = 10_000;

async fn create_folder(
    State(h): State<Arc<Hosting>>,
    who: Who,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let r = async {
        let req: FolderRequest = json_body(&body)?;
        let name = FileName::new(&req.name)?;
        let Some(files) = req.files else {
            return crate::mine::create_account_folder(&h, &who, name).await;
        };
        if files.is_empty() || files.len() > MAX_FOLDER_FILES {
            return Err(HostingError::BadRequest(
                "invalid_folder",
                "a folder needs 1 to 10000 files".into(),
            ));
        }
        let mut ids = Vec::with_capacity(files.len());
        for f in &files {
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
        Ok::<_, HostingError>(
            (
                StatusCode::CREATED,
                Json(serde_json::json!({
                    "folder_id": folder.id,
                    "url": h.share_url(&headers, &share.id),
                    "manage_token": token.expose(),
                })),
            )
                .into_response(),
        )
    };
    r.await.into_response()
}
