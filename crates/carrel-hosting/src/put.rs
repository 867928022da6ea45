//! `PUT /u/{name}`: one request, one file, for scripts. `curl -T file
//! http://host/u/` sends the file under its own name. The response body is
//! the share link (JSON with `Accept: application/json`); the headers carry
//! it too, with the management token. Share options come as query
//! parameters (`?expires=7d&max_downloads=3`) and the password as the
//! `Carrel-Share-Password` header.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use carrel_core::ids::{BlobHash, Secret, ShareId, UploadId};
use carrel_core::name::FileName;
use carrel_core::time::Timestamp;
use carrel_core::tus::Metadata;
use carrel_db::{NewUpload, PlannedShare, UploadKind};
use futures::StreamExt;

use crate::Hosting;
use crate::error::{HostingError, Result};
use crate::finish::{FileSpec, media_type_for};
use crate::staging::StagingWriter;
use crate::stats::Stats;
use crate::tus::{FILE_ID, MANAGE_TOKEN, SHARE_URL, share_options};

pub fn routes() -> Router<Arc<Hosting>> {
    Router::new().route("/u/{name}", put(put_file))
}

#[derive(serde::Deserialize, Default)]
pub struct PutOptions {
    expires: Option<String>,
    max_downloads: Option<String>,
}

async fn put_file(
    State(h): State<Arc<Hosting>>,
    ConnectInfo(_peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    Query(opts): Query<PutOptions>,
    who: Result<carrel_http::auth::Who, carrel_http::HttpError>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let who = match who {
        Ok(w) => w,
        Err(e) => return e.into_response(),
    };
    match put_inner(h, name, opts, who, headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn put_inner(
    h: Arc<Hosting>,
    name: String,
    opts: PutOptions,
    who: carrel_http::auth::Who,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let owner = h.uploader(&who)?;
    let name = FileName::new(&name)?;
    let allowance = h.allowance_for(&owner).await?;
    let limit = allowance.limit();
    let content_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(cl) = content_length {
        allowance.check(cl)?;
    }
    // The same option rules as tus metadata.
    let mut meta = Metadata::default();
    if let Some(e) = opts.expires {
        meta.0.insert("expires".into(), e.into_bytes());
    }
    if let Some(m) = opts.max_downloads {
        meta.0.insert("max_downloads".into(), m.into_bytes());
    }
    if let Some(p) = headers.get("carrel-share-password") {
        meta.0.insert("password".into(), p.as_bytes().to_vec());
    }
    let (rules, password_hash) = share_options(&mut meta).await?;
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let media = media_type_for(&name, declared);

    let id = UploadId::generate();
    // With a Content-Length and a storage quota, the length is reserved as
    // an upload row first (as tus does), so PUTs at once cannot together
    // pass the quota; the row is completed with the file, or deleted.
    let reserved = match content_length {
        Some(cl) if h.storage_quota(&owner).is_some() => {
            let now = Timestamp::now();
            let new = NewUpload {
                id: id.clone(),
                length: Some(i64::try_from(cl).unwrap_or(i64::MAX)),
                metadata: String::new(),
                kind: UploadKind::Single,
                owner: owner.account.clone(),
                client_ip: None,
                file_name: name.clone(),
                media_type: media.clone(),
                share: None,
                manage_token_hash: None,
                expires_at: now.plus(std::time::Duration::from_secs(h.config.upload_expiry_secs)),
                created_at: now,
            };
            h.create_upload_reserved(&owner, &new).await?;
            true
        }
        _ => false,
    };
    let forget = async |h: &Hosting| {
        if reserved && let Err(e) = h.db.delete_upload(&id).await {
            tracing::warn!(upload = %id, error = %e, "a PUT's reservation stays until it expires");
        }
    };
    let path = h.store.staging_dir().join(format!("put-{id}"));
    Stats::add(&h.stats.uploads_created, 1);
    let mut w = match StagingWriter::open(&path, 0, Some(blake3::Hasher::new())).await {
        Ok(w) => w,
        Err(e) => {
            forget(&h).await;
            return Err(e.into());
        }
    };
    let mut stream = body.into_data_stream();
    let result: Result<()> = async {
        while let Some(chunk) = stream.next().await {
            let b = chunk.map_err(|e| {
                HostingError::BadRequest(
                    "body_interrupted",
                    format!("the request body was interrupted: {e}"),
                )
            })?;
            if w.offset() + b.len() as u64 > limit {
                allowance.check(w.offset() + b.len() as u64)?;
            }
            Stats::add(&h.stats.upload_bytes, b.len() as u64);
            w.write(b).await?;
        }
        w.flush().await?;
        Ok(())
    }
    .await;
    if let Err(e) = result {
        let _ = tokio::fs::remove_file(&path).await;
        forget(&h).await;
        return Err(e);
    }
    let hash = w
        .content_hash
        .take()
        .map(|c| BlobHash::from_bytes(*c.finalize().as_bytes()));
    drop(w);
    let token = Secret::generate();
    let share = PlannedShare {
        id: ShareId::generate(),
        rules,
        password_hash,
    };
    let share_id = share.id.clone();
    let spec = FileSpec {
        name,
        media,
        owner: owner.account.clone(),
        manage_token_hash: Some(token.hash()),
        share: Some(share),
    };
    let file = match h.finish_upload(&id, &path, hash, spec).await {
        Ok(f) => f,
        Err(e) => {
            let _ = tokio::fs::remove_file(&path).await;
            forget(&h).await;
            return Err(e);
        }
    };
    let url = h.share_url(&headers, &share_id);
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"));
    let mut r = if wants_json {
        (
            StatusCode::CREATED,
            axum::Json(
                serde_json::json!({ "url": url, "file_id": file, "manage_token": token.expose() }),
            ),
        )
            .into_response()
    } else {
        (StatusCode::CREATED, format!("{url}\n")).into_response()
    };
    let hd = r.headers_mut();
    hd.insert(
        SHARE_URL,
        HeaderValue::from_str(&url).unwrap_or(HeaderValue::from_static("")),
    );
    hd.insert(
        MANAGE_TOKEN,
        HeaderValue::from_str(token.expose()).expect("base64url"),
    );
    hd.insert(
        FILE_ID,
        HeaderValue::from_str(file.as_str()).expect("base64url"),
    );
    hd.insert(
        header::LOCATION,
        HeaderValue::from_str(&url).unwrap_or(HeaderValue::from_static("")),
    );
    Ok(r)
}
