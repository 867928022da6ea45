//! `POST /api/webhooks/plan`: an external payment system sets a user's
//! plan. carrel processes no payments; it trusts only signed requests.
//!
//! The request carries `Carrel-Signature: t=<unix seconds>,v1=<hex>`, where
//! the hex is HMAC-SHA256 with `accounts.webhook_secret` over
//! `"<t>.<body>"` (the raw body bytes). The body is
//! `{"id": "<event id>", "email": "…" or "account": "<id>", "plan": "premium"}`.
//!
//! - A signature that is missing, wrong, or whose `t` is more than five
//!   minutes away from the server's clock is refused (401), so a captured
//!   request cannot be replayed later.
//! - Each event id is applied once: a replay within the window answers
//!   200 with `"status": "duplicate"` and changes nothing.
//! - Without a configured secret the endpoint does not exist (404).

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use carrel_core::account::Email;
use carrel_core::ids::AccountId;
use carrel_core::time::Timestamp;
use hmac::{Hmac, Mac};
use serde::Deserialize;

use crate::Accounts;
use crate::error::{AccountsError, Result};

/// How far a signature's timestamp may be from the server's clock.
pub const TOLERANCE_SECS: i64 = 300;
/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "carrel-signature";

pub fn routes() -> Router<Arc<Accounts>> {
    Router::new()
        .route("/api/webhooks/plan", post(plan_webhook))
        .layer(DefaultBodyLimit::max(64 << 10))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanEvent {
    id: String,
    email: Option<String>,
    account: Option<String>,
    plan: String,
}

fn mac(secret: &str, t: i64, body: &[u8]) -> Hmac<sha2::Sha256> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    mac
}

/// The signature of `body` at `t` (hex), as the sender computes it.
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    hex::encode(mac(secret, t, body).finalize().into_bytes())
}

fn bad_signature(why: &str) -> AccountsError {
    AccountsError::BadSignature(why.to_owned())
}

/// Checks the `Carrel-Signature` header of `body` at `now`.
pub fn verify(secret: &str, header: Option<&str>, body: &[u8], now: i64) -> Result<()> {
    let header = header.ok_or_else(|| bad_signature("the Carrel-Signature header is missing"))?;
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => sigs.push(v),
            _ => {}
        }
    }
    let t = t.ok_or_else(|| bad_signature("Carrel-Signature has no valid t=<unix seconds>"))?;
    if (now - t).abs() > TOLERANCE_SECS {
        return Err(bad_signature(
            "the signature's timestamp is more than five minutes from the server's clock",
        ));
    }
    let ok = sigs
        .iter()
        .any(|s| hex::decode(s).is_ok_and(|raw| mac(secret, t, body).verify_slice(&raw).is_ok()));
    if ok {
        Ok(())
    } else {
        Err(bad_signature("the signature does not match the body"))
    }
}

async fn plan_webhook(
    State(a): State<Arc<Accounts>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let r = async {
        let Some(secret) = a.config.webhook_secret.as_deref() else {
            return Err(AccountsError::NotFound("webhook"));
        };
        let now = Timestamp::now();
        verify(
            secret,
            headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()),
            &body,
            now.0,
        )?;
        let ev: PlanEvent = serde_json::from_slice(&body)
            .map_err(|e| AccountsError::BadRequest("invalid_json", e.to_string()))?;
        if ev.id.is_empty() || ev.id.len() > 200 {
            return Err(AccountsError::BadRequest(
                "invalid_event_id",
                "the event id must be 1 to 200 bytes".into(),
            ));
        }
        let plan = a.plans.known(&ev.plan)?;
        let account = match (ev.email, ev.account) {
            (Some(e), None) => a.db.account_by_email(&e.parse::<Email>()?).await?,
            (None, Some(id)) => match id.parse::<AccountId>() {
                Ok(id) => a.db.account(&id).await?,
                Err(_) => None,
            },
            _ => {
                return Err(AccountsError::BadRequest(
                    "invalid_event",
                    "name the user with exactly one of \"email\" and \"account\"".into(),
                ));
            }
        }
        .ok_or(AccountsError::NotFound("account"))?;
        if !a.db.record_webhook_event(&ev.id, now).await? {
            return Ok((
                StatusCode::OK,
                axum::Json(serde_json::json!({"status": "duplicate", "id": ev.id})),
            ));
        }
        a.db.set_plan(&account.id, plan.as_str()).await?;
        tracing::info!(target: "carrel::audit", event = "plan_changed", user = %account.id,
            plan = %plan, source = "webhook", "a webhook changed an account's plan");
        Ok((
            StatusCode::OK,
            axum::Json(serde_json::json!({
                "status": "applied", "id": ev.id, "account": account.id, "plan": plan,
            })),
        ))
    };
    match r.await {
        Ok(r) => r.into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_bind_body_and_time() {
        let s = "s3cret-s3cret-s3cret-s3cret-s3cret";
        let body = br#"{"id":"1"}"#;
        let sig = sign(s, 1000, body);
        let h = format!("t=1000,v1={sig}");
        assert!(verify(s, Some(&h), body, 1000).is_ok());
        assert!(verify(s, Some(&h), body, 1000 + TOLERANCE_SECS).is_ok());
        // Too old, or from the future.
        assert!(verify(s, Some(&h), body, 1001 + TOLERANCE_SECS).is_err());
        assert!(verify(s, Some(&h), body, 999 - TOLERANCE_SECS).is_err());
        // Another body, another time, another secret.
        assert!(verify(s, Some(&h), br#"{"id":"2"}"#, 1000).is_err());
        assert!(verify(s, Some(&format!("t=1001,v1={sig}")), body, 1000).is_err());
        assert!(verify("other", Some(&h), body, 1000).is_err());
        // Rotation: any one v1 may match.
        assert!(verify(s, Some(&format!("t=1000,v1=00,v1={sig}")), body, 1000).is_ok());
        for bad in ["", "t=1000", "v1=abc", "t=x,v1=00", "t=1000,v1=zz"] {
            assert!(verify(s, Some(bad), body, 1000).is_err(), "{bad:?}");
        }
        assert!(verify(s, None, body, 1000).is_err());
    }
}
