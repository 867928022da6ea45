//! "My files": what an account does with its own files, folders and links,
//! as JSON (the page at `/files` is [`crate::mine_page`]; both share the
//! checks here).
//!
//! - `GET /api/files?q=&sort=name|size|created&order=asc|desc&folder=all|none|ID&offset=&limit=`:
//!   a page of the caller's files (each with its links and download counts),
//!   the total that match, and the caller's folders with their file counts.
//! - `PATCH /api/files/{id}`: `{"name": …}` renames, `{"folder": ID|null}` moves.
//! - `POST /api/files/delete` `{"ids": […]}`, `POST /api/files/move`
//!   `{"ids": […], "folder": ID|null}`: many at once, all or none: if any id
//!   is not the caller's, nothing changes and the error names it.
//! - `POST /api/files/{id}/shares` `{"expires", "password", "max_downloads"}`:
//!   another link; `DELETE /api/shares/{id}` deletes one (edits are
//!   `PATCH /api/shares/{id}` in [`crate::manage`]).
//! - `GET /api/folders`, `POST /api/folders` `{"name"}` (an empty folder),
//!   `PATCH /api/folders/{id}` `{"name"}`, `DELETE /api/folders/{id}` (its
//!   files stay, in no folder).
//!
//! Reading needs the `read` scope, changes `manage`; a session's changes
//! carry `X-CSRF-Token`. Another account's ids answer 404, never 403.

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use carrel_core::account::{Caller, Scope};
use carrel_core::ids::{AccountId, FileId, FolderId, ShareId};
use carrel_core::name::FileName;
use carrel_core::time::Timestamp;
use carrel_db::{
    File, FileQuery, FileSort, FolderFilter, FolderSummary, NewFolder, NewShare, Share, ShareTarget,
};
use carrel_http::auth::Who;
use serde::Deserialize;

use crate::Hosting;
use crate::error::{HostingError, Result};
use crate::manage::{ShareChange, authorize, double, managed_file, share_and_token, share_json};

pub fn routes() -> Router<Arc<Hosting>> {
    Router::new()
        .route("/api/files", get(list_files))
        .route("/api/files/delete", post(delete_many))
        .route("/api/files/move", post(move_many))
        .route("/api/files/{id}/shares", post(create_share))
        .route(
            "/api/folders/{id}",
            patch(patch_folder).delete(delete_folder),
        )
}

/// The largest JSON body these routes read.
pub const MAX_BODY: usize = 256 * 1024;
/// The most ids one request may name.
pub const MAX_IDS: usize = 1000;
/// The most links one file may have.
pub const MAX_LINKS_PER_FILE: usize = 100;
/// The most folders one account may have.
pub const MAX_FOLDERS: usize = 1000;
/// The longest search accepted, in bytes (no name is longer).
pub const MAX_SEARCH: usize = carrel_core::name::MAX_NAME_BYTES;
/// The most files one page lists.
pub const MAX_PAGE: i64 = 500;

/// The account making this request, if its credential allows `scope`.
pub fn account(who: &Who, scope: Scope) -> Result<AccountId> {
    match who.caller().map_err(HostingError::Http)? {
        c @ Caller::Account { id, .. } if c.can(scope) => Ok(id.clone()),
        Caller::Account { .. } => Err(HostingError::MissingScope(scope.as_str())),
        Caller::Anonymous => Err(HostingError::LoginRequired),
    }
}

/// Reads a JSON body of at most [`MAX_BODY`] bytes.
async fn read_json<T: serde::de::DeserializeOwned>(body: axum::body::Body) -> Result<T> {
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| HostingError::BodyTooLarge(MAX_BODY))?;
    crate::manage::json_body(&bytes)
}

/// What a listing asks for, as sent (query string or form).
#[derive(Deserialize, Default, Clone, Debug)]
pub struct ListParams {
    pub q: Option<String>,
    pub sort: Option<String>,
    pub order: Option<String>,
    pub folder: Option<String>,
    pub offset: Option<i64>,
    pub limit: Option<i64>,
}

/// Checks a listing's parameters and makes its query; `default_folder`
/// applies when none is named (`all` for the API, the top level for the page).
pub async fn file_query(
    h: &Hosting,
    me: &AccountId,
    p: &ListParams,
    default_folder: FolderFilter,
) -> Result<FileQuery> {
    let bad = |code, msg: &str| HostingError::BadRequest(code, msg.into());
    let search = match p.q.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(q) if q.len() > MAX_SEARCH || q.chars().any(char::is_control) => {
            return Err(bad(
                "invalid_search",
                "a search is at most 255 bytes without control characters",
            ));
        }
        Some(q) => Some(q.to_owned()),
    };
    let sort = match p.sort.as_deref().unwrap_or("created") {
        "name" => FileSort::Name,
        "size" => FileSort::Size,
        "created" => FileSort::Created,
        _ => return Err(bad("invalid_sort", "sort is name, size or created")),
    };
    let descending = match p.order.as_deref() {
        None => sort != FileSort::Name,
        Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(bad("invalid_order", "order is asc or desc")),
    };
    let folder = match p.folder.as_deref() {
        None | Some("") => default_folder,
        Some("all") => FolderFilter::Any,
        Some("none") => FolderFilter::TopLevel,
        Some(id) => FolderFilter::In(own_folder(h, me, id).await?.id),
    };
    let limit = p.limit.unwrap_or(50);
    let offset = p.offset.unwrap_or(0);
    if !(1..=MAX_PAGE).contains(&limit) || !(0..=1_000_000).contains(&offset) {
        return Err(bad(
            "invalid_page",
            "limit is 1 to 500 and offset 0 to 1000000",
        ));
    }
    Ok(FileQuery {
        owner: me.clone(),
        search,
        folder,
        sort,
        descending,
        offset,
        limit,
    })
}

/// The caller's folder with this id (another's, or none, is `not_found`).
pub async fn own_folder(h: &Hosting, me: &AccountId, id: &str) -> Result<carrel_db::Folder> {
    let id: FolderId = id.parse().map_err(|_| HostingError::NotFound("folder"))?;
    match h.db.folder(&id).await? {
        Some(f) if f.owner.as_ref() == Some(me) => Ok(f),
        _ => Err(HostingError::NotFound("folder")),
    }
}

/// The caller's files with these ids, all of them, or `not_found` naming
/// every id that is not one (malformed, unknown or someone else's).
pub async fn own_files(h: &Hosting, me: &AccountId, ids: &[String]) -> Result<Vec<File>> {
    if ids.is_empty() || ids.len() > MAX_IDS {
        return Err(HostingError::BadRequest(
            "invalid_ids",
            format!("name 1 to {MAX_IDS} file ids"),
        ));
    }
    let mut seen = HashSet::new();
    let mut files = Vec::with_capacity(ids.len());
    let mut missing = Vec::new();
    for raw in ids {
        if !seen.insert(raw.as_str()) {
            continue;
        }
        let file = match raw.parse::<FileId>() {
            Ok(id) => h.db.file(&id).await?,
            Err(_) => None,
        };
        match file {
            Some(f) if f.owner.as_ref() == Some(me) => files.push(f),
            _ => missing.push(raw.chars().take(64).collect()),
        }
    }
    if !missing.is_empty() {
        missing.truncate(20);
        return Err(HostingError::NotFoundMany("file", missing));
    }
    Ok(files)
}

pub fn folder_json(f: &FolderSummary) -> serde_json::Value {
    serde_json::json!({
        "id": f.folder.id,
        "name": f.folder.name.as_str(),
        "files": f.files,
        "size": f.bytes,
        "created_at": f.folder.created_at.0,
    })
}

fn file_json(h: &Hosting, headers: &HeaderMap, f: &File, links: &[&Share]) -> serde_json::Value {
    serde_json::json!({
        "id": f.id,
        "name": f.name.as_str(),
        "size": f.size,
        "media_type": f.media_type.as_str(),
        "created_at": f.created_at.0,
        "folder": f.folder,
        "links": links.iter().map(|s| share_json(h, headers, s)).collect::<Vec<_>>(),
    })
}

/// Groups links by file, in the order they came.
pub fn links_by_file(shares: &[Share]) -> std::collections::HashMap<&FileId, Vec<&Share>> {
    let mut m: std::collections::HashMap<&FileId, Vec<&Share>> = Default::default();
    for s in shares {
        if let ShareTarget::File(f) = &s.target {
            m.entry(f).or_default().push(s);
        }
    }
    m
}

type QueryResult = std::result::Result<Query<ListParams>, axum::extract::rejection::QueryRejection>;

async fn list_files(
    State(h): State<Arc<Hosting>>,
    who: Who,
    headers: HeaderMap,
    q: QueryResult,
) -> Response {
    let r = async {
        let me = account(&who, Scope::Read)?;
        let Query(p) = q.map_err(|e| HostingError::BadRequest("invalid_query", e.body_text()))?;
        let query = file_query(&h, &me, &p, FolderFilter::Any).await?;
        let (files, total) = h.db.list_files(&query).await?;
        let ids: Vec<FileId> = files.iter().map(|f| f.id.clone()).collect();
        let shares = h.db.shares_of_files(&ids).await?;
        let links = links_by_file(&shares);
        let folders = h.db.owned_folders(&me).await?;
        let out: Vec<_> = files
            .iter()
            .map(|f| {
                file_json(
                    &h,
                    &headers,
                    f,
                    links.get(&f.id).map_or(&[][..], Vec::as_slice),
                )
            })
            .collect();
        Ok::<_, HostingError>(Json(serde_json::json!({
            "files": out,
            "total": total,
            "offset": query.offset,
            "limit": query.limit,
            "folders": folders.iter().map(folder_json).collect::<Vec<_>>(),
        })))
    };
    r.await.into_response()
}

pub(crate) async fn list_folders(State(h): State<Arc<Hosting>>, who: Who) -> Response {
    let r = async {
        let me = account(&who, Scope::Read)?;
        let folders = h.db.owned_folders(&me).await?;
        Ok::<_, HostingError>(Json(serde_json::json!({
            "folders": folders.iter().map(folder_json).collect::<Vec<_>>(),
        })))
    };
    r.await.into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileChange {
    name: Option<String>,
    /// A folder's id, or null for none; absent leaves it.
    #[serde(default, deserialize_with = "double")]
    folder: Option<Option<String>>,
}

/// Renames a file and/or moves it; `None` leaves that part.
pub async fn change_file(
    h: &Hosting,
    who: &Who,
    headers: &HeaderMap,
    id: &str,
    name: Option<&str>,
    folder: Option<Option<&str>>,
) -> Result<File> {
    let f = managed_file(h, who, headers, id).await?;
    let name = name.map(FileName::new).transpose()?;
    // Folders are an account's: moving needs the owner's log-in or token.
    let folder = match folder {
        None => None,
        Some(target) => {
            let me = account(who, Scope::Manage)?;
            if f.owner.as_ref() != Some(&me) {
                return Err(HostingError::NotFound("file"));
            }
            Some(match target {
                None => None,
                Some(fid) => Some(own_folder(h, &me, fid).await?.id),
            })
        }
    };
    if let Some(n) = &name {
        h.db.rename_file(&f.id, n).await?;
    }
    if let Some(target) = &folder {
        h.db.move_files(std::slice::from_ref(&f.id), target.as_ref())
            .await?;
    }
    h.forget_file(&f.id);
    h.db.file(&f.id)
        .await?
        .ok_or(HostingError::NotFound("file"))
}

pub(crate) async fn patch_file(
    State(h): State<Arc<Hosting>>,
    Path(id): Path<String>,
    who: Who,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let r = async {
        let c: FileChange = read_json(body).await?;
        if c.name.is_none() && c.folder.is_none() {
            return Err(HostingError::BadRequest(
                "empty_change",
                "send a new \"name\" and/or a \"folder\" (an id or null)".into(),
            ));
        }
        let f = change_file(
            &h,
            &who,
            &headers,
            &id,
            c.name.as_deref(),
            c.folder.as_ref().map(Option::as_deref),
        )
        .await?;
        let shares = h.db.shares_of_file(&f.id).await?;
        Ok::<_, HostingError>(Json(file_json(
            &h,
            &headers,
            &f,
            &shares.iter().collect::<Vec<_>>(),
        )))
    };
    r.await.into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Ids {
    ids: Vec<String>,
}

/// Deletes the caller's files with these ids, all or none; how many.
pub async fn delete_own(h: &Hosting, me: &AccountId, ids: &[String]) -> Result<usize> {
    let files = own_files(h, me, ids).await?;
    let pairs: Vec<_> = files.iter().map(|f| (f.id.clone(), f.blob)).collect();
    h.delete_files(&pairs).await?;
    Ok(pairs.len())
}

async fn delete_many(State(h): State<Arc<Hosting>>, who: Who, body: axum::body::Body) -> Response {
    let r = async {
        let me = account(&who, Scope::Manage)?;
        let req: Ids = read_json(body).await?;
        let n = delete_own(&h, &me, &req.ids).await?;
        Ok::<_, HostingError>(Json(serde_json::json!({ "deleted": n })))
    };
    r.await.into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Move {
    ids: Vec<String>,
    /// Required: a folder's id, or null for none.
    #[serde(default, deserialize_with = "double")]
    folder: Option<Option<String>>,
}

/// Moves the caller's files into one of its folders (or none), all or none; how many.
pub async fn move_own(
    h: &Hosting,
    me: &AccountId,
    ids: &[String],
    folder: Option<&str>,
) -> Result<usize> {
    let target = match folder {
        None => None,
        Some(f) => Some(own_folder(h, me, f).await?.id),
    };
    let files = own_files(h, me, ids).await?;
    let ids: Vec<FileId> = files.iter().map(|f| f.id.clone()).collect();
    h.db.move_files(&ids, target.as_ref()).await?;
    for id in &ids {
        h.forget_file(id);
    }
    Ok(ids.len())
}

async fn move_many(State(h): State<Arc<Hosting>>, who: Who, body: axum::body::Body) -> Response {
    let r = async {
        let me = account(&who, Scope::Manage)?;
        let req: Move = read_json(body).await?;
        let Some(folder) = req.folder else {
            return Err(HostingError::BadRequest(
                "invalid_folder",
                "\"folder\" is a folder's id, or null to take the files out of their folder".into(),
            ));
        };
        let n = move_own(&h, &me, &req.ids, folder.as_deref()).await?;
        Ok::<_, HostingError>(Json(serde_json::json!({ "moved": n })))
    };
    r.await.into_response()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NewLink {
    pub expires: Option<String>,
    pub password: Option<String>,
    pub max_downloads: Option<i64>,
}

/// Makes another link to a file (its owner, or whoever holds its token).
pub async fn add_link(
    h: &Hosting,
    who: &Who,
    headers: &HeaderMap,
    file: &str,
    link: NewLink,
) -> Result<Share> {
    let f = managed_file(h, who, headers, file).await?;
    make_link(h, &f.id, link).await
}

/// Makes another link to a file (the caller's right to is checked already).
pub async fn make_link(h: &Hosting, id: &FileId, link: NewLink) -> Result<Share> {
    if h.db.shares_of_file(id).await?.len() >= MAX_LINKS_PER_FILE {
        return Err(HostingError::BadRequest(
            "too_many_links",
            format!("a file has at most {MAX_LINKS_PER_FILE} links; delete some first"),
        ));
    }
    let password = link.password.filter(|p| !p.is_empty());
    let (rules, password) = ShareChange::new_link(link.expires, password, link.max_downloads)
        .apply(&Default::default())
        .await?;
    let share = NewShare {
        id: ShareId::generate(),
        target: ShareTarget::File(id.clone()),
        rules,
        password_hash: password.flatten(),
        created_at: Timestamp::now(),
    };
    h.db.create_share(&share).await?;
    h.db.share(&share.id)
        .await?
        .ok_or(HostingError::NotFound("share link"))
}

async fn create_share(
    State(h): State<Arc<Hosting>>,
    Path(id): Path<String>,
    who: Who,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let r = async {
        let link: NewLink = read_json(body).await?;
        let s = add_link(&h, &who, &headers, &id, link).await?;
        Ok::<_, HostingError>((StatusCode::CREATED, Json(share_json(&h, &headers, &s))))
    };
    r.await.into_response()
}

/// Deletes a link (its owner, or whoever holds its file's token).
pub async fn remove_link(h: &Hosting, who: &Who, headers: &HeaderMap, id: &str) -> Result<()> {
    let (s, token, owner) = share_and_token(h, id).await?;
    authorize(
        "share link",
        token.as_ref(),
        owner.as_ref(),
        who,
        Scope::Manage,
        headers,
    )?;
    h.db.delete_share(&s.id).await?;
    h.forget_share(&s.id);
    Ok(())
}

pub(crate) async fn delete_share(
    State(h): State<Arc<Hosting>>,
    Path(id): Path<String>,
    who: Who,
    headers: HeaderMap,
) -> Response {
    match remove_link(&h, &who, &headers, &id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

/// Makes an empty folder for the caller's account.
pub async fn new_folder(h: &Hosting, me: &AccountId, name: FileName) -> Result<FolderSummary> {
    if h.db.owned_folders(me).await?.len() >= MAX_FOLDERS {
        return Err(HostingError::BadRequest(
            "too_many_folders",
            format!("an account has at most {MAX_FOLDERS} folders"),
        ));
    }
    let folder = NewFolder {
        id: FolderId::generate(),
        name,
        owner: Some(me.clone()),
        manage_token_hash: None,
        created_at: Timestamp::now(),
    };
    h.db.create_folder(&folder, &[]).await?;
    Ok(FolderSummary {
        folder,
        files: 0,
        bytes: 0,
    })
}

/// `POST /api/folders` without `files`: an empty folder of the caller's account.
pub(crate) async fn create_account_folder(
    h: &Hosting,
    who: &Who,
    name: FileName,
) -> Result<Response> {
    let me = account(who, Scope::Manage)?;
    let f = new_folder(h, &me, name).await?;
    Ok((StatusCode::CREATED, Json(folder_json(&f))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FolderChange {
    name: String,
}

/// Renames one of the caller's folders.
pub async fn rename_own_folder(h: &Hosting, me: &AccountId, id: &str, name: &str) -> Result<()> {
    let f = own_folder(h, me, id).await?;
    let name = FileName::new(name)?;
    h.db.rename_folder(&f.id, &name).await?;
    Ok(())
}

async fn patch_folder(
    State(h): State<Arc<Hosting>>,
    Path(id): Path<String>,
    who: Who,
    body: axum::body::Body,
) -> Response {
    let r = async {
        let me = account(&who, Scope::Manage)?;
        let c: FolderChange = read_json(body).await?;
        rename_own_folder(&h, &me, &id, &c.name).await?;
        let f =
            h.db.owned_folders(&me)
                .await?
                .into_iter()
                .find(|f| f.folder.id.as_str() == id)
                .ok_or(HostingError::NotFound("folder"))?;
        Ok::<_, HostingError>(Json(folder_json(&f)))
    };
    r.await.into_response()
}

/// Deletes one of the caller's folders and its links; its files stay, in no folder.
pub async fn delete_own_folder(h: &Hosting, me: &AccountId, id: &str) -> Result<()> {
    let f = own_folder(h, me, id).await?;
    let files = h.db.folder_files(&f.id).await?;
    let links = h.db.shares_of_folder(&f.id).await?;
    h.db.delete_folder(&f.id).await?;
    for file in &files {
        h.forget_file(&file.id);
    }
    for s in &links {
        h.forget_share(&s.id);
    }
    Ok(())
}

async fn delete_folder(
    State(h): State<Arc<Hosting>>,
    Path(id): Path<String>,
    who: Who,
) -> Response {
    let r = async {
        let me = account(&who, Scope::Manage)?;
        delete_own_folder(&h, &me, &id).await?;
        Ok::<_, HostingError>(StatusCode::NO_CONTENT)
    };
    r.await.into_response()
}

/// The caller's file with this id (another's, or none, is `not_found`).
pub async fn own_file(h: &Hosting, me: &AccountId, id: &str) -> Result<File> {
    let id: FileId = id.parse().map_err(|_| HostingError::NotFound("file"))?;
    match h.db.file(&id).await? {
        Some(f) if f.owner.as_ref() == Some(me) => Ok(f),
        _ => Err(HostingError::NotFound("file")),
    }
}

/// The caller's link with this id (to one of its files or folders).
pub async fn own_share(h: &Hosting, me: &AccountId, id: &str) -> Result<Share> {
    match share_and_token(h, id).await {
        Ok((s, _, Some(owner))) if &owner == me => Ok(s),
        Ok(_) | Err(HostingError::NotFound(_)) => Err(HostingError::NotFound("share link")),
        Err(e) => Err(e),
    }
}

/// Changes one of the caller's links.
pub async fn edit_own_link(h: &Hosting, me: &AccountId, id: &str, c: ShareChange) -> Result<()> {
    let s = own_share(h, me, id).await?;
    let (rules, password) = c.apply(&s.rules).await?;
    h.db.update_share(&s.id, &rules, password).await?;
    h.forget_share(&s.id);
    Ok(())
}

/// Deletes one of the caller's links.
pub async fn delete_own_link(h: &Hosting, me: &AccountId, id: &str) -> Result<()> {
    let s = own_share(h, me, id).await?;
    h.db.delete_share(&s.id).await?;
    h.forget_share(&s.id);
    Ok(())
}
