//! An account's privacy: its data export, its deletion (or, by an
//! administrator, its files given to another account), and claims of
//! anonymous uploads by their management tokens, at sign-up or later. The
//! files themselves belong to the hosting wing, reached through the
//! [`Holdings`] the server hands this wing.
//!
//! - `GET /api/account/export`: the account, its API tokens (never their
//!   secrets), files (with BLAKE3 hash, folder, downloads, links) and
//!   folders, as JSON; `GET /api/account/export.zip`: the same JSON as
//!   `carrel-export.json` in a ZIP with every file's bytes.
//! - `POST /api/account/delete` `{"password"}`: deletes the caller's
//!   account and files. `POST /api/admin/users/{id}/delete`
//!   `{"transfer_to": EMAIL|null}`: an administrator deletes an account,
//!   deleting its files or giving them to another account.
//! - `POST /api/account/claim` `{"tokens": […]}`: claims anonymous uploads;
//!   `POST /api/signup` `{"email", "password", "invitation", "manage_tokens"}`
//!   signs up (with a session cookie) and claims in one go.
//!
//! A deleted account is a tombstone: the row keeps its id, role, plan and
//! dates so audit and takedown records that name it stay valid; its e-mail
//! address is replaced (so it may sign up again), its password hash is
//! gone, and its sessions, tokens and reset links are deleted.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use carrel_core::account::{Email, Role, Scope};
use carrel_core::ids::AccountId;
use carrel_core::privacy::{ClaimTokens, tombstone_email};
use carrel_core::time::Timestamp;
use carrel_db::accounts::Account;
use carrel_http::auth::Who;
use carrel_http::holdings::{Claim, EXPORT_JSON, Holdings};
use serde::Deserialize;

use crate::Accounts;
use crate::api::{account_json, base_url, require, require_admin};
use crate::error::{AccountsError, Result};

pub fn routes() -> Router<Arc<Accounts>> {
    Router::new()
        .route("/api/account/export", get(export))
        .route("/api/account/export.zip", get(export_zip))
        .route("/api/account/delete", post(delete_own))
        .route("/api/account/claim", post(claim))
        .route("/api/signup", post(signup))
        .route("/api/admin/users/{id}/delete", post(admin_delete))
}

/// What deleting an account did with its files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposal {
    Deleted(u64),
    Transferred(u64),
}

impl Disposal {
    pub fn json(self) -> serde_json::Value {
        match self {
            Disposal::Deleted(n) => serde_json::json!({ "deleted": true, "files_deleted": n }),
            Disposal::Transferred(n) => {
                serde_json::json!({ "deleted": true, "files_transferred": n })
            }
        }
    }
}

impl Accounts {
    /// The other wings' side of an account (set by the server at start).
    pub fn set_holdings(&self, h: Arc<dyn Holdings>) {
        let _ = self.holdings.set(h);
    }

    fn holdings(&self) -> Result<&Arc<dyn Holdings>> {
        self.holdings
            .get()
            .ok_or_else(|| AccountsError::Internal("no file wing is connected".into()))
    }

    /// The account's own part of its export (everything but files).
    pub async fn export_document(&self, acct: &Account) -> Result<serde_json::Value> {
        let tokens = self.db.tokens(&acct.id).await?;
        Ok(serde_json::json!({
            "format": "carrel-export",
            "version": 1,
            "exported_at": Timestamp::now().0,
            "account": account_json(acct),
            "api_tokens": tokens.iter().map(|t| serde_json::json!({
                "id": t.id,
                "name": t.name,
                "scopes": t.scopes,
                "created_at": t.created_at.0,
                "last_used_at": t.last_used_at.map(|t| t.0),
            })).collect::<Vec<_>>(),
        }))
    }

    /// The whole export as JSON: the account's part and its files'.
    pub async fn export_json(&self, acct: &Account, base: &str) -> Result<serde_json::Value> {
        let mut doc = self.export_document(acct).await?;
        let files = self.holdings()?.export(&acct.id, base).await?;
        if let (Some(d), serde_json::Value::Object(f)) = (doc.as_object_mut(), files) {
            d.extend(f);
        }
        Ok(doc)
    }

    /// Deletes an account: its credentials end first (so nothing new
    /// arrives), then its files are deleted or given to `transfer_to`,
    /// then the account becomes a tombstone.
    pub async fn delete_account(
        &self,
        id: &AccountId,
        transfer_to: Option<&AccountId>,
    ) -> Result<Disposal> {
        let holdings = self.holdings()?;
        let acct = self.live_account(id).await?;
        if let Some(to) = transfer_to {
            if to == id {
                return Err(AccountsError::BadRequest(
                    "invalid_transfer",
                    "the files cannot be given to the account being deleted".into(),
                ));
            }
            self.live_account(to).await?;
        }
        let now = Timestamp::now();
        self.db.set_suspended(&acct.id, Some(now)).await?;
        let moved = match transfer_to {
            Some(to) => holdings
                .transfer_all(&acct.id, to)
                .await
                .map(Disposal::Transferred),
            None => holdings.delete_all(&acct.id).await.map(Disposal::Deleted),
        };
        let disposal = match moved {
            Ok(d) => d,
            Err(e) => {
                // The account stays as it was (its sessions ended), to try again.
                self.db.set_suspended(&acct.id, acct.suspended_at).await?;
                return Err(e.into());
            }
        };
        self.db
            .erase_account(&acct.id, &tombstone_email(&acct.id), now)
            .await?;
        tracing::info!(target: "carrel::audit", event = "account_deleted", account = %acct.id,
            transferred_to = transfer_to.map(|t| t.to_string()), "account deleted");
        Ok(disposal)
    }

    async fn live_account(&self, id: &AccountId) -> Result<Account> {
        match self.db.account(id).await? {
            Some(a) if a.deleted_at.is_none() => Ok(a),
            _ => Err(AccountsError::NotFound("account")),
        }
    }

    /// Claims anonymous uploads for an account on its plan.
    pub async fn claim(&self, id: &AccountId, tokens: &ClaimTokens) -> Result<Vec<Claim>> {
        if tokens.is_empty() {
            return Ok(Vec::new());
        }
        let acct = self.live_account(id).await?;
        Ok(self.holdings()?.claim(id, &acct.plan, tokens).await?)
    }

    /// A user deleting their own account proves it with the password (with
    /// the log-in's throttling). Administrators are deleted by another
    /// administrator, so a server never loses its last one by a click.
    pub async fn check_own_deletion(
        &self,
        id: &AccountId,
        password: &str,
        ip: std::net::IpAddr,
    ) -> Result<Account> {
        let acct = self.live_account(id).await?;
        if acct.role == Role::Admin {
            return Err(AccountsError::Forbidden(
                "an administrator's account is deleted by another administrator \
                 (or `carrel admin delete-user` on the server)",
            ));
        }
        match self.check_login(acct.email.as_str(), password, ip).await {
            Ok(a) if a.id == acct.id => Ok(a),
            Ok(_) | Err(AccountsError::BadLogin) => Err(AccountsError::WrongPassword),
            Err(e) => Err(e),
        }
    }
}

/// A JSON body, or the error that says what is wrong with it.
pub(crate) fn json_body<T>(
    body: std::result::Result<Json<T>, axum::extract::rejection::JsonRejection>,
) -> Result<T> {
    match body {
        Ok(Json(b)) => Ok(b),
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(AccountsError::BodyTooLarge),
        Err(e) => Err(AccountsError::BadRequest("invalid_json", e.body_text())),
    }
}

fn attachment(name: &str) -> HeaderValue {
    carrel_http::headers::content_disposition("attachment", name)
}

async fn export(State(a): State<Arc<Accounts>>, who: Who, headers: HeaderMap) -> Result<Response> {
    let (id, _) = require(&who, Scope::Read)?;
    let acct = a.live_account(&id).await?;
    let doc = a.export_json(&acct, &base_url(&a, &headers)).await?;
    Ok((
        [(header::CONTENT_DISPOSITION, attachment(EXPORT_JSON))],
        Json(doc),
    )
        .into_response())
}

async fn export_zip(
    State(a): State<Arc<Accounts>>,
    who: Who,
    headers: HeaderMap,
) -> Result<Response> {
    let (id, _) = require(&who, Scope::Read)?;
    let acct = a.live_account(&id).await?;
    let doc = a.export_document(&acct).await?;
    let name = format!("carrel-export-{}.zip", crate::pages::day(Timestamp::now()));
    Ok(a.holdings()?
        .archive(&acct.id, &base_url(&a, &headers), doc, &name)
        .await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteRequest {
    password: String,
}

async fn delete_own(
    State(a): State<Arc<Accounts>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    who: Who,
    body: std::result::Result<Json<DeleteRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>> {
    let (id, _) = require(&who, Scope::Manage)?;
    let req = json_body(body)?;
    a.check_own_deletion(&id, &req.password, peer.ip()).await?;
    Ok(Json(a.delete_account(&id, None).await?.json()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimRequest {
    tokens: Vec<String>,
}

/// Claims as JSON, with their count.
pub fn claims_json(claims: &[Claim]) -> serde_json::Value {
    let claimed = claims
        .iter()
        .filter(|c| c.outcome == carrel_core::privacy::ClaimOutcome::Claimed)
        .count();
    serde_json::json!({
        "claimed": claimed,
        "claims": claims.iter().map(|c| serde_json::json!({
            "token": c.token,
            "index": c.index,
            "result": c.outcome.code(),
            "message": c.outcome.message(),
            "file_id": c.file_id,
            "name": c.name,
            "size": c.size,
        })).collect::<Vec<_>>(),
    })
}

async fn claim(
    State(a): State<Arc<Accounts>>,
    who: Who,
    body: std::result::Result<Json<ClaimRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>> {
    let (id, _) = require(&who, Scope::Manage)?;
    let req = json_body(body)?;
    let tokens = ClaimTokens::new(&req.tokens)?;
    if tokens.is_empty() {
        return Err(AccountsError::BadRequest(
            "no_tokens",
            "name at least one management token in \"tokens\"".into(),
        ));
    }
    Ok(Json(claims_json(&a.claim(&id, &tokens).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignupRequest {
    email: String,
    password: String,
    #[serde(default)]
    invitation: Option<String>,
    #[serde(default)]
    manage_tokens: Vec<String>,
}

async fn signup(
    State(a): State<Arc<Accounts>>,
    headers: HeaderMap,
    body: std::result::Result<Json<SignupRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response> {
    let req = json_body(body)?;
    // Everything is checked before the account exists, so a bad request loses nothing.
    let tokens = ClaimTokens::new(&req.manage_tokens)?;
    let inv: String = req
        .invitation
        .unwrap_or_default()
        .chars()
        .take(100)
        .collect();
    let (account, set) =
        crate::pages::sign_up(&a, &headers, &req.email, &req.password, &inv).await?;
    let claims = a.claim(&account.id, &tokens).await?;
    let mut j = claims_json(&claims);
    j["account"] = account_json(&account);
    let mut res = (StatusCode::CREATED, Json(j)).into_response();
    res.headers_mut().append(header::SET_COOKIE, set);
    Ok(res)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AdminDelete {
    /// The e-mail address of the account that gets the files; none deletes them.
    #[serde(default)]
    transfer_to: Option<String>,
}

/// The live account with this e-mail address.
pub async fn by_email(a: &Accounts, email: &str) -> Result<Account> {
    let e: Email = email.parse()?;
    match a.db.account_by_email(&e).await? {
        Some(acct) if acct.deleted_at.is_none() => Ok(acct),
        _ => Err(AccountsError::NotFound("account")),
    }
}

async fn admin_delete(
    State(a): State<Arc<Accounts>>,
    who: Who,
    Path(uid): Path<String>,
    body: std::result::Result<Json<AdminDelete>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>> {
    let me = require_admin(&who)?;
    let req = json_body(body)?;
    let uid = a.live_by_id(&uid).await?.id;
    let d = a
        .delete_user(Some(&me), &uid, req.transfer_to.as_deref())
        .await?;
    Ok(Json(d.json()))
}
