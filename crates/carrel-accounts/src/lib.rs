//! The accounts wing: people with a login and what proves who they are.
//!
//! - [`Accounts`] implements carrel-http's [`Authenticator`]: the server puts
//!   it into every request, and any wing's handler takes a
//!   [`carrel_http::auth::Who`] to learn its caller (a session cookie, an API
//!   token, or nobody).
//! - [`pages`]: sign-up, log-in, log-out, the account page (password, "log
//!   out everywhere", API tokens) and password reset, as HTML forms with
//!   CSRF tokens that work without JavaScript.
//! - [`api`]: the same for scripts (`/api/me`, `/api/tokens`) and the
//!   admin's user API (`/api/admin/users`, invitations, reset links).
//! - [`admin`]: the administrators' users (search, plan, role, suspension,
//!   deletion) and usage (storage, bytes served, uploads per day), as pages
//!   and JSON, shared with `carrel admin`.
//! - [`privacy`]: the data export, account deletion (a tombstone) or an
//!   administrator's transfer of its files, and claims of anonymous uploads
//!   by their management tokens (at sign-up or later), through the
//!   [`carrel_http::holdings::Holdings`] of the hosting wing.
//! - [`webhook`]: `POST /api/webhooks/plan`, where a payment system sets a
//!   user's plan (HMAC-SHA256 signature over a timestamp and the body,
//!   replays refused).
//! - [`limiter`]: log-in throttling with back-off per account and address.
//!
//! Sessions are random 256-bit secrets in an `HttpOnly`, `SameSite=Lax`
//! cookie (`Secure` behind TLS), stored only as SHA-256 digests with an
//! expiry; a log-in always starts a new one (no fixation). Passwords are
//! argon2id, hashed on the blocking pool. The wing speaks HTTP and reaches
//! the database only through carrel-db's [`AccountRepo`].

pub mod admin;
pub mod api;
pub mod error;
pub mod limiter;
pub mod mail;
pub mod pages;
pub mod privacy;
pub mod webhook;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue};
use carrel_core::account::{Caller, Credential, Email, NewPassword, Role, Scopes};
use carrel_core::ids::{AccountId, Secret};
use carrel_core::time::Timestamp;
use carrel_db::Database;
use carrel_db::accounts::{Account, NewSession};
use carrel_http::HttpError;
use carrel_http::auth::{Authenticator, SESSION_COOKIE};

pub use error::{AccountsError, Result};

/// Who may create an account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Signup {
    /// Anyone.
    #[default]
    Open,
    /// Whoever holds an invitation link from an admin.
    Invite,
    /// Nobody (accounts come from `carrel admin create-user`).
    Closed,
}

/// The wing's settings (`[accounts]` in the settings file).
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountsConfig {
    pub signup: Signup,
    /// How long a log-in lasts, in days.
    pub session_days: u64,
    /// How long a password-reset link works, in minutes (may be fractional).
    pub reset_minutes: f64,
    /// How long an invitation link works, in days.
    pub invitation_days: u64,
    /// The shared secret of the plan webhook (`POST /api/webhooks/plan`);
    /// unset turns the webhook off. At least 32 characters.
    pub webhook_secret: Option<String>,
    /// The address people reach carrel at; an `https://` one makes cookies `Secure`.
    /// (Filled from `hosting.public_url` by the server.)
    #[serde(skip)]
    pub public_url: Option<String>,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        Self {
            signup: Signup::Open,
            session_days: 30,
            reset_minutes: 60.0,
            invitation_days: 7,
            webhook_secret: None,
            public_url: None,
        }
    }
}

/// The wing's shared state.
pub struct Accounts {
    pub db: Arc<dyn Database>,
    pub config: AccountsConfig,
    pub throttle: limiter::LoginThrottle,
    /// Reset mails asked for, per e-mail address and client address.
    pub reset_throttle: limiter::LoginThrottle,
    /// The plans, as configured.
    pub plans: Arc<carrel_core::plan::Plans>,
    /// Today's download volume per account (shown on the account page).
    pub meter: Arc<carrel_http::meter::Meter>,
    /// Verified against when an address has no account, so a failed log-in
    /// takes as long whether or not the account exists.
    dummy_hash: String,
    /// What accounts hold in the other wings (see [`Accounts::set_holdings`]).
    holdings: std::sync::OnceLock<Arc<dyn carrel_http::holdings::Holdings>>,
    /// The mail server, when one is configured (see [`Accounts::set_mail`]).
    mail: std::sync::OnceLock<Arc<mail::Mail>>,
}

impl Accounts {
    pub fn new(
        db: Arc<dyn Database>,
        config: AccountsConfig,
        plans: Arc<carrel_core::plan::Plans>,
        meter: Arc<carrel_http::meter::Meter>,
    ) -> Arc<Self> {
        Arc::new(Self {
            db,
            config,
            plans,
            meter,
            throttle: limiter::LoginThrottle::default(),
            reset_throttle: limiter::LoginThrottle::resets(),
            dummy_hash: carrel_core::account::hash_password("carrel: no such account")
                .expect("argon2 hashes a constant"),
            holdings: std::sync::OnceLock::new(),
            mail: std::sync::OnceLock::new(),
        })
    }

    /// Lets the wing send mail (reset links people ask for at `/forgot`).
    /// Set once, by the server, after it knows the address it listens on.
    pub fn set_mail(&self, mail: mail::Mail) {
        let _ = self.mail.set(Arc::new(mail));
    }

    /// The mail server, if this server sends mail.
    pub fn mail(&self) -> Option<Arc<mail::Mail>> {
        self.mail.get().cloned()
    }

    /// The wing's routes.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .merge(pages::routes())
            .merge(api::routes())
            .merge(admin::routes())
            .merge(privacy::routes())
            .merge(webhook::routes())
            .with_state(self.clone())
    }

    /// The authenticator for every request (see [`carrel_http::auth`]).
    pub fn authenticator(self: &Arc<Self>) -> carrel_http::auth::Auth {
        carrel_http::auth::Auth(self.clone())
    }

    /// Whether cookies get `Secure`: when the public address is `https`, or
    /// the request came through a TLS-terminating proxy that says so.
    pub fn secure(&self, headers: &HeaderMap) -> bool {
        self.config
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
            || headers
                .get("x-forwarded-proto")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
    }

    /// Creates an account (hashing its password on the blocking pool).
    pub async fn create_account(
        &self,
        email: Email,
        password: NewPassword,
        role: Role,
        invitation: Option<&Secret>,
    ) -> Result<Account> {
        let hash = hash(password).await?;
        let account = Account {
            id: AccountId::generate(),
            email,
            password_hash: hash,
            role,
            plan: self.plan_for_new(role).to_string(),
            suspended_at: None,
            created_at: Timestamp::now(),
            deleted_at: None,
        };
        match self
            .db
            .create_account(&account, invitation.map(|s| s.hash()).as_ref())
            .await
        {
            Ok(()) => Ok(account),
            Err(carrel_db::DbError::Conflict) => Err(AccountsError::EmailTaken),
            Err(carrel_db::DbError::NotFound) => Err(AccountsError::BadInvitation),
            Err(e) => Err(e.into()),
        }
    }

    /// The plan of a new account: the configured default; administrators
    /// get `unlimited` when such a plan is configured (it is their server).
    pub fn plan_for_new(&self, role: Role) -> &carrel_core::plan::PlanName {
        match self.plans.get("unlimited") {
            Some((name, _)) if role == Role::Admin => name,
            _ => &self.plans.default,
        }
    }

    /// Checks an e-mail address and password, with throttling; the account on success.
    pub async fn check_login(
        &self,
        email: &str,
        password: &str,
        ip: std::net::IpAddr,
    ) -> Result<Account> {
        let now = Timestamp::now();
        let key = email.trim().to_lowercase();
        let wait = self.throttle.wait(&key, ip, now);
        if wait > 0 {
            return Err(AccountsError::Throttled(wait as u64));
        }
        let account = match email.parse::<Email>() {
            Ok(e) => self.db.account_by_email(&e).await?,
            Err(_) => None,
        };
        let stored = account
            .as_ref()
            .map_or(self.dummy_hash.clone(), |a| a.password_hash.clone());
        let ok = verify(password.to_owned(), stored).await && account.is_some();
        match account {
            Some(a) if ok => {
                if a.suspended_at.is_some() {
                    return Err(AccountsError::Suspended);
                }
                self.throttle.succeed(&key);
                Ok(a)
            }
            _ => {
                self.throttle.fail(&key, ip, now);
                tracing::info!(target: "carrel::audit", event = "login_failed", "a log-in failed");
                Err(AccountsError::BadLogin)
            }
        }
    }

    /// Starts a session: its secret (for the cookie) and the `Set-Cookie` value.
    pub async fn start_session(
        &self,
        account: &Account,
        headers: &HeaderMap,
    ) -> Result<(Secret, HeaderValue)> {
        let secret = Secret::generate();
        let now = Timestamp::now();
        let secs = self.config.session_days.clamp(1, 3650) as i64 * 86_400;
        self.db
            .create_session(&NewSession {
                token_hash: secret.hash(),
                account: account.id.clone(),
                expires_at: Timestamp(now.0 + secs),
                created_at: now,
            })
            .await?;
        let cookie = self.cookie(SESSION_COOKIE, secret.expose(), Some(secs), headers);
        Ok((secret, cookie))
    }

    /// A `Set-Cookie` value: `HttpOnly`, `SameSite=Lax`, `Path=/`, `Secure`
    /// behind TLS; `max_age` of `None` removes the cookie.
    pub fn cookie(
        &self,
        name: &str,
        value: &str,
        max_age: Option<i64>,
        headers: &HeaderMap,
    ) -> HeaderValue {
        let c = cookie::Cookie::build((name, value))
            .path("/")
            .http_only(true)
            .same_site(cookie::SameSite::Lax)
            .secure(self.secure(headers))
            .max_age(cookie::time::Duration::seconds(max_age.unwrap_or(0)));
        HeaderValue::from_str(&c.build().to_string()).expect("cookie values are URL-safe")
    }
}

fn caller(a: &Account, scopes: Scopes, credential: Credential) -> Option<Caller> {
    if a.suspended_at.is_some() {
        return None;
    }
    Some(Caller::Account {
        id: a.id.clone(),
        role: a.role,
        scopes,
        credential,
        plan: a.plan.clone(),
    })
}

#[async_trait::async_trait]
impl Authenticator for Accounts {
    async fn session(&self, secret: &Secret) -> std::result::Result<Option<Caller>, HttpError> {
        let a = self
            .db
            .session_account(&secret.hash(), Timestamp::now())
            .await
            .map_err(|e| AccountsError::from(e).into_http())?;
        Ok(a.and_then(|a| caller(&a, Scopes::allowed_for(a.role), Credential::Session)))
    }

    async fn token(&self, secret: &Secret) -> std::result::Result<Option<Caller>, HttpError> {
        let found = self
            .db
            .token_account(&secret.hash(), Timestamp::now())
            .await
            .map_err(|e| AccountsError::from(e).into_http())?;
        // A token never carries more than its account's role allows now
        // (an admin made user keeps an `admin`-scoped token, powerless).
        Ok(found.and_then(|(t, a)| {
            let allowed = Scopes::allowed_for(a.role);
            let scopes = t
                .scopes
                .iter()
                .filter(|s| allowed.contains(*s))
                .fold(Scopes::NONE, Scopes::with);
            caller(&a, scopes, Credential::Token)
        }))
    }
}

impl Accounts {
    /// Hourly: forgets expired sessions, reset links and invitations, and
    /// log-in failure counts (by address too) whose back-off is over.
    /// Runs until `shutdown` changes.
    pub async fn run_housekeeping(
        self: Arc<Self>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => break,
            }
            let now = Timestamp::now();
            self.throttle.forget_old(now);
            self.reset_throttle.forget_old(now);
            if let Err(e) = self.db.purge_expired_credentials(now).await {
                tracing::warn!(error = %e, "expired credentials could not be purged");
            }
        }
    }
}

/// Hashes a new password on the blocking pool.
pub async fn hash(p: NewPassword) -> Result<String> {
    tokio::task::spawn_blocking(move || carrel_core::account::hash_password(p.expose()))
        .await
        .map_err(|e| AccountsError::Internal(e.to_string()))?
        .map_err(AccountsError::Invalid)
}

/// Verifies a password on the blocking pool.
pub async fn verify(p: String, stored: String) -> bool {
    tokio::task::spawn_blocking(move || carrel_core::account::verify_password(&p, &stored))
        .await
        .unwrap_or(false)
}
