//! Library files over HTTP: downloads (`/library/files/{file}`, ranges and
//! conditional requests through `carrel_http::serve`), covers
//! (`/library/covers/{edition}/{small|large}.jpg`), and "add to library"
//! for a hosted file (`POST /api/library/files/{file}` by its owner account
//! (`manage` scope), or with the file's
//! management token as `Authorization: Bearer …`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use carrel_core::account::{Caller, Scope};
use carrel_core::ids::FileId;
use carrel_db::catalog::LibFile;
use carrel_http::auth::Who;
use carrel_http::serve;

use crate::ingest::Outcome;
use crate::{Library, LibraryError};

pub fn routes(lib: Arc<Library>) -> Router {
    Router::new()
        .route("/library/files/{id}", get(download))
        .route("/library/covers/{id}/small.jpg", get(cover_small))
        .route("/library/covers/{id}/large.jpg", get(cover_large))
        .route("/api/library/files/{id}", post(add_hosted))
        .with_state(lib)
}

/// A library file and its hosted file row.
pub(crate) async fn library_file(
    lib: &Library,
    id: &str,
) -> Result<(LibFile, carrel_db::File), LibraryError> {
    let id: FileId = id.parse().map_err(|_| LibraryError::NotFound)?;
    let lf = lib
        .db
        .library_file(&id)
        .await?
        .ok_or(LibraryError::NotFound)?;
    let f = lib.db.file(&id).await?.ok_or(LibraryError::NotFound)?;
    Ok((lf, f))
}

async fn download(
    State(lib): State<Arc<Library>>,
    Path(id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    who: Who,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let r = async {
        let (_, f) = library_file(&lib, &id).await?;
        let content = serve::Content::new(
            f.blob,
            f.size as u64,
            f.created_at.to_system_time(),
            f.name.as_str(),
            &f.media_type,
            true,
        );
        let plan = match serve::plan(&method, &headers, &content) {
            Ok(p) => p,
            Err(e) => return Ok(e.into_response()),
        };
        // The downloader's plan: volume, speed and downloads at once, as
        // for share links (a HEAD or a 304 sends no body and is not counted).
        let sends_bytes = method == Method::GET && !matches!(plan, serve::Plan::NotModified);
        let tap = match lib.downloads.get() {
            Some((meter, plans)) if sends_bytes => {
                match meter.start_for(plans, who.peek(), peer.ip()) {
                    Ok(tap) => Some(tap),
                    Err(refusal) => return Ok(refusal.into_http().into_response()),
                }
            }
            _ => None,
        };
        let mut res = serve::respond(&method, plan, &content, lib.blobs().clone())
            .await
            .into_response();
        if let Some(tap) = tap {
            carrel_http::meter::meter(&mut res, tap);
        }
        Ok::<_, LibraryError>(res)
    };
    r.await.unwrap_or_else(IntoResponse::into_response)
}

async fn cover(lib: &Library, id: &str, large: bool) -> Response {
    let r = async {
        let id: i64 = id.parse().map_err(|_| LibraryError::NotFound)?;
        let bytes = lib
            .db
            .cover(id, large)
            .await?
            .ok_or(LibraryError::NotFound)?;
        let mut res = bytes.into_response();
        let h = res.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        );
        carrel_http::headers::safety_headers(h);
        Ok::<_, LibraryError>(res)
    };
    r.await.unwrap_or_else(IntoResponse::into_response)
}

async fn cover_small(State(lib): State<Arc<Library>>, Path(id): Path<String>) -> Response {
    cover(&lib, &id, false).await
}

async fn cover_large(State(lib): State<Arc<Library>>, Path(id): Path<String>) -> Response {
    cover(&lib, &id, true).await
}

/// Adds an uploaded file to the library: 201 with what was read, or 200
/// when these bytes are already in the library.
async fn add_hosted(
    State(lib): State<Arc<Library>>,
    Path(id): Path<String>,
    who: Who,
    headers: HeaderMap,
) -> Response {
    let r = async {
        let id: FileId = id.parse().map_err(|_| LibraryError::NotFound)?;
        let f = lib.db.file(&id).await?.ok_or(LibraryError::NotFound)?;
        // The file's management token, or its owner's account (with `manage`).
        let by_token = match (&f.manage_token_hash, carrel_http::headers::bearer(&headers)) {
            (Some(h), Some(t)) => h.matches(&t),
            _ => false,
        };
        if !by_token {
            match who.caller().map_err(LibraryError::Http)? {
                Caller::Anonymous => return Err(LibraryError::Unauthorized),
                // Someone else's file is not found, as everywhere else.
                Caller::Account { id, .. } if f.owner.as_ref() != Some(id) => {
                    return Err(LibraryError::NotFound);
                }
                c if !c.can(Scope::Manage) => return Err(LibraryError::Forbidden),
                Caller::Account { .. } => {}
            }
        }
        if lib.index().is_read_only() {
            return Err(LibraryError::Search(carrel_search::SearchError::ReadOnly));
        }
        let added = lib.add_hosted(&f).await?;
        // Someone is waiting for this one book: searchable when answered.
        lib.commit().await?;
        let status = if added.outcome == Outcome::Added {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        Ok::<_, LibraryError>((status, axum::Json(added)).into_response())
    };
    r.await.unwrap_or_else(IntoResponse::into_response)
}
