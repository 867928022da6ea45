//! The JSON API of accounts, for scripts holding a token and for carrel's
//! own pages (a session plus `X-CSRF-Token`):
//!
//! - `GET /api/me`: the caller's account.
//! - `GET /api/tokens`, `POST /api/tokens` (`{"name", "scopes": ["read", …]}`;
//!   the token is in the answer once and never again), `DELETE /api/tokens/{id}`.
//! - Admins: `POST /api/admin/users/{id}/reset` (a one-time reset link),
//!   `POST /api/admin/invitations` (an invitation link); the user list, a
//!   user and its changes are in [`crate::admin`].

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use carrel_core::account::{Caller, Role, Scope, Scopes};
use carrel_core::ids::{AccountId, Secret, TokenId};
use carrel_core::time::Timestamp;
use carrel_db::accounts::{Account, ApiToken, OneTimeToken};
use carrel_http::auth::{TOKEN_PREFIX, Who};
use serde::Deserialize;

use crate::Accounts;
use crate::error::{AccountsError, Result};

pub fn routes() -> Router<Arc<Accounts>> {
    Router::new()
        .route("/api/me", get(me))
        .route("/api/tokens", get(list_tokens).post(create_token))
        .route("/api/tokens/{id}", delete(revoke_token))
        .route("/api/admin/users", get(crate::admin::api_users))
        .route(
            "/api/admin/users/{id}",
            get(crate::admin::api_user).patch(crate::admin::api_patch_user),
        )
        .route("/api/admin/users/{id}/reset", post(admin_reset_link))
        .route("/api/admin/invitations", post(admin_invitation))
}

/// The caller's account id and role, if its credential carries `scope`.
pub fn require(who: &Who, scope: Scope) -> Result<(AccountId, Role)> {
    match who.caller()? {
        Caller::Anonymous => Err(AccountsError::LoginRequired),
        c @ Caller::Account { id, role, .. } => {
            if c.can(scope) {
                Ok((id.clone(), *role))
            } else {
                Err(AccountsError::Forbidden(
                    "this token lacks the scope this needs",
                ))
            }
        }
    }
}

/// The caller, if it acts as an admin (the role and the `admin` scope).
pub fn require_admin(who: &Who) -> Result<AccountId> {
    let (id, _) = require(who, Scope::Admin)?;
    if who.caller()?.acts_as(Role::Admin) {
        Ok(id)
    } else {
        Err(AccountsError::Forbidden(
            "only an administrator may do this",
        ))
    }
}

pub fn account_json(a: &Account) -> serde_json::Value {
    serde_json::json!({
        "id": a.id,
        "email": a.email.as_str(),
        "role": a.role,
        "plan": a.plan,
        "suspended": a.suspended_at.is_some(),
        "created_at": a.created_at.0,
    })
}

fn token_json(t: &ApiToken) -> serde_json::Value {
    serde_json::json!({
        "id": t.id,
        "name": t.name,
        "scopes": t.scopes,
        "created_at": t.created_at.0,
        "last_used_at": t.last_used_at.map(|t| t.0),
    })
}

async fn me(State(a): State<Arc<Accounts>>, who: Who) -> Result<Json<serde_json::Value>> {
    let (id, _) = require(&who, Scope::Read)?;
    let acct =
        a.db.account(&id)
            .await?
            .ok_or(AccountsError::LoginRequired)?;
    let mut j = account_json(&acct);
    j["usage"] = usage_json(&a, &acct).await?;
    Ok(Json(j))
}

/// An account's plan limits and what it uses of them now.
pub async fn usage_json(a: &Accounts, acct: &Account) -> Result<serde_json::Value> {
    let limits = a.plans.limits_of(&acct.plan);
    let used = a.db.storage_used(&acct.id, Timestamp::now()).await?;
    let today = a
        .meter
        .volume_today(&carrel_http::meter::Key::Account(acct.id.clone()));
    Ok(serde_json::json!({
        "storage_used": used,
        "downloaded_today": today,
        "limits": limits,
    }))
}

async fn list_tokens(State(a): State<Arc<Accounts>>, who: Who) -> Result<Json<serde_json::Value>> {
    let (id, _) = require(&who, Scope::Read)?;
    let tokens = a.db.tokens(&id).await?;
    Ok(Json(serde_json::json!({
        "tokens": tokens.iter().map(token_json).collect::<Vec<_>>()
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    pub name: String,
    /// Scope names (`read`, `upload`, `manage`, `admin`).
    pub scopes: Vec<String>,
}

/// Tokens an account may hold at once.
pub const MAX_TOKENS: usize = 100;

/// Makes a token for `account`; the secret (with its prefix) is returned once.
pub async fn make_token(
    a: &Accounts,
    account: &AccountId,
    role: Role,
    name: &str,
    scopes: Scopes,
) -> Result<(ApiToken, String)> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(AccountsError::BadRequest(
            "invalid_token_name",
            "a token's name has 1 to 100 characters".into(),
        ));
    }
    if scopes
        .iter()
        .any(|s| !Scopes::allowed_for(role).contains(s))
    {
        return Err(AccountsError::Forbidden(
            "only moderators and admins may make admin tokens",
        ));
    }
    if a.db.tokens(account).await?.len() >= MAX_TOKENS {
        return Err(AccountsError::BadRequest(
            "too_many_tokens",
            format!("an account holds at most {MAX_TOKENS} tokens; revoke some first"),
        ));
    }
    let secret = Secret::generate();
    let t = ApiToken {
        id: TokenId::generate(),
        account: account.clone(),
        name: name.to_owned(),
        token_hash: secret.hash(),
        scopes,
        created_at: Timestamp::now(),
        last_used_at: None,
    };
    a.db.create_token(&t).await?;
    Ok((t, format!("{TOKEN_PREFIX}{}", secret.expose())))
}

async fn create_token(
    State(a): State<Arc<Accounts>>,
    who: Who,
    body: std::result::Result<Json<NewToken>, axum::extract::rejection::JsonRejection>,
) -> Result<Response> {
    let (id, role) = require(&who, Scope::Manage)?;
    let Json(body) = body.map_err(|e| AccountsError::BadRequest("invalid_json", e.body_text()))?;
    let scopes: Scopes = body.scopes.join(" ").parse()?;
    // A token cannot hand out more than the token that makes it.
    if let Caller::Account { scopes: mine, .. } = who.caller()?
        && scopes.iter().any(|s| !mine.contains(s))
    {
        return Err(AccountsError::Forbidden(
            "a token cannot make a token with more scopes than its own",
        ));
    }
    let (t, secret) = make_token(&a, &id, role, &body.name, scopes).await?;
    let mut j = token_json(&t);
    j["token"] = secret.into();
    Ok((StatusCode::CREATED, Json(j)).into_response())
}

async fn revoke_token(
    State(a): State<Arc<Accounts>>,
    who: Who,
    Path(tid): Path<String>,
) -> Result<StatusCode> {
    let (id, _) = require(&who, Scope::Manage)?;
    let tid: TokenId = tid.parse().map_err(|_| AccountsError::NotFound("token"))?;
    if a.db.delete_token(&id, &tid).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AccountsError::NotFound("token"))
    }
}

/// Makes a one-time reset link for an account (admin CLI and API).
pub async fn reset_link(a: &Accounts, account: &AccountId, base: &str) -> Result<String> {
    let secret = Secret::generate();
    let now = Timestamp::now();
    a.db.create_reset(&OneTimeToken {
        token_hash: secret.hash(),
        account: Some(account.clone()),
        expires_at: Timestamp(now.0 + reset_secs(a.config.reset_minutes)),
        created_at: now,
    })
    .await?;
    Ok(format!("{base}/reset?token={}", secret.expose()))
}

/// Seconds a reset link works: `minutes`, from 1 second to 7 days.
fn reset_secs(minutes: f64) -> i64 {
    let secs = (minutes * 60.0).round();
    if secs.is_nan() {
        3600
    } else {
        secs.clamp(1.0, 7.0 * 86_400.0) as i64
    }
}

/// Makes an invitation link.
pub async fn invitation_link(a: &Accounts, by: Option<&AccountId>, base: &str) -> Result<String> {
    let secret = Secret::generate();
    let now = Timestamp::now();
    a.db.create_invitation(&OneTimeToken {
        token_hash: secret.hash(),
        account: by.cloned(),
        expires_at: Timestamp(now.0 + a.config.invitation_days.clamp(1, 365) as i64 * 86_400),
        created_at: now,
    })
    .await?;
    Ok(format!("{base}/signup?invitation={}", secret.expose()))
}

/// The base URL for links in answers to this request.
pub fn base_url(a: &Accounts, headers: &HeaderMap) -> String {
    carrel_http::headers::base_url(a.config.public_url.as_deref(), headers)
}

async fn admin_reset_link(
    State(a): State<Arc<Accounts>>,
    who: Who,
    Path(uid): Path<String>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>> {
    require_admin(&who)?;
    let uid: AccountId = uid
        .parse()
        .map_err(|_| AccountsError::NotFound("account"))?;
    if a.db.account(&uid).await?.is_none() {
        return Err(AccountsError::NotFound("account"));
    }
    let url = reset_link(&a, &uid, &base_url(&a, &headers)).await?;
    Ok(Json(serde_json::json!({ "url": url })))
}

async fn admin_invitation(
    State(a): State<Arc<Accounts>>,
    who: Who,
    headers: HeaderMap,
) -> Result<Response> {
    let me = require_admin(&who)?;
    let url = invitation_link(&a, Some(&me), &base_url(&a, &headers)).await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "url": url }))).into_response())
}
