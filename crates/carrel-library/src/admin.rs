//! The catalog's corrections, for administrators (an admin session with its
//! CSRF header, or a token with the `admin` scope):
//!
//! - `POST /api/library/works/{id}/merge` with `{"from": [work ids]}`: the
//!   editions of those works join work `id`, and the emptied works go.
//! - `POST /api/library/editions/{id}/split`: the edition leaves its work
//!   for a new work of its own (which later imports do not fold back).
//!
//! Both answer once the change is searchable.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use carrel_core::account::{Caller, Role};
use carrel_core::time::Timestamp;
use carrel_http::auth::Who;
use serde::Deserialize;

use crate::{Library, LibraryError};

pub fn routes(lib: Arc<Library>) -> Router {
    Router::new()
        .route("/api/library/works/{id}/merge", post(merge))
        .route("/api/library/editions/{id}/split", post(split))
        .with_state(lib)
}

fn require_admin(who: &Who) -> Result<(), LibraryError> {
    let c = who.caller().map_err(LibraryError::Http)?;
    match c {
        Caller::Anonymous => Err(LibraryError::LoginRequired),
        c if c.acts_as(Role::Admin) => Ok(()),
        _ => Err(LibraryError::Forbidden),
    }
}

/// Works merged in one request at most.
const MAX_MERGE: usize = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MergeBody {
    from: Vec<i64>,
}

async fn merge(
    State(lib): State<Arc<Library>>,
    who: Who,
    Path(id): Path<String>,
    body: Result<Json<MergeBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let r = async {
        require_admin(&who)?;
        let into: i64 = id.parse().map_err(|_| LibraryError::NotFound)?;
        let Json(body) = body.map_err(|e| LibraryError::BadRequest(e.body_text()))?;
        if body.from.is_empty() || body.from.len() > MAX_MERGE {
            return Err(LibraryError::BadRequest(format!(
                "name 1 to {MAX_MERGE} works to merge in \"from\""
            )));
        }
        if body.from.contains(&into) {
            return Err(LibraryError::BadRequest(
                "a work cannot be merged into itself".into(),
            ));
        }
        if lib.index().is_read_only() {
            return Err(LibraryError::Search(carrel_search::SearchError::ReadOnly));
        }
        if lib.db().work(into).await?.is_none() {
            return Err(LibraryError::NotFound);
        }
        let mut moved = Vec::new();
        for from in &body.from {
            match lib.db().merge_works(into, *from, Timestamp::now()).await {
                Ok(ids) => moved.extend(ids),
                Err(carrel_db::DbError::NotFound) => {
                    return Err(LibraryError::BadRequest(format!(
                        "work {from} does not exist"
                    )));
                }
                Err(e) => return Err(e.into()),
            }
        }
        lib.reindex(&moved).await?;
        lib.commit().await?;
        tracing::info!(target: "carrel::audit", event = "works_merged", into, from = ?body.from, "works merged");
        Ok(Json(
            serde_json::json!({ "work": into, "moved_editions": moved }),
        ))
    };
    r.await.into_response()
}

async fn split(State(lib): State<Arc<Library>>, who: Who, Path(id): Path<String>) -> Response {
    let r = async {
        require_admin(&who)?;
        let edition: i64 = id.parse().map_err(|_| LibraryError::NotFound)?;
        if lib.index().is_read_only() {
            return Err(LibraryError::Search(carrel_search::SearchError::ReadOnly));
        }
        let work = match lib.db().split_edition(edition, Timestamp::now()).await {
            Ok(w) => w,
            Err(carrel_db::DbError::NotFound) => return Err(LibraryError::NotFound),
            Err(e) => return Err(e.into()),
        };
        lib.reindex(&[edition]).await?;
        lib.commit().await?;
        tracing::info!(target: "carrel::audit", event = "edition_split", edition, work, "edition split off");
        Ok(Json(
            serde_json::json!({ "edition": edition, "work": work }),
        ))
    };
    r.await.into_response()
}
