//! The wing's pages, plain HTML forms that work without JavaScript:
//! `/signup`, `/login`, `/logout`, `/account` (password, log out
//! everywhere, API tokens) and `/reset`. Every form carries a CSRF token:
//! the session's, or before logging in the [`FORM_COOKIE`]'s value.

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use carrel_core::account::{Caller, Email, NewPassword, Role, Scope, Scopes};
use carrel_core::ids::{AccountId, Secret, TokenId};
use carrel_core::privacy::{ClaimOutcome, ClaimTokens};
use carrel_core::time::Timestamp;
use carrel_http::auth::{FORM_COOKIE, SESSION_COOKIE, Who, cookie, form_token_matches};
use carrel_http::page::{Html, layout};
use serde::Deserialize;

use crate::error::{AccountsError, Result};
use crate::{Accounts, Signup};

pub fn routes() -> Router<Arc<Accounts>> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/signup", get(signup_page).post(signup))
        .route("/logout", post(logout))
        .route("/account", get(account_page))
        .route("/account/password", post(change_password))
        .route("/account/logout-all", post(logout_all))
        .route("/account/tokens", post(create_token))
        .route("/account/tokens/{id}/revoke", post(revoke_token))
        .route("/account/claim", post(claim_form))
        .route("/account/delete", post(delete_form))
        .route("/reset", get(reset_page).post(reset))
        .route("/forgot", get(forgot_page).post(forgot))
}

const CSS: &str = r#"
.narrow { max-width:440px; margin-left:auto; margin-right:auto; }
form label { display:flex; flex-direction:column; gap:.3rem; margin:.8rem 0; color:var(--muted); font-size:.92rem; }
form label input { color:var(--fg); }
input[type=email] { font-size:1rem; padding:.55rem .7rem; border:1px solid var(--line); border-radius:8px; background:var(--bg); color:var(--fg); width:100%; max-width:360px; }
.narrow input { max-width:none; }
.ok { color:var(--ok); }
.small { font-size:.85rem; }
.row { display:flex; justify-content:space-between; align-items:flex-start; gap:1rem; }
h2 { font-size:1.15rem; margin:0 0 .6rem; }
fieldset { border:1px solid var(--line); border-radius:8px; padding:.4rem .9rem .6rem; margin:.6rem 0; }
fieldset legend { color:var(--muted); font-size:.92rem; padding:0 .3rem; }
label.check { flex-direction:row; align-items:center; display:inline-flex; margin:.3rem 1.2rem .3rem 0; color:var(--fg); }
.linkbtn { background:none; border:0; color:var(--bad); cursor:pointer; font-size:.95rem; padding:0; }
.fresh { border-color:var(--ok); }
input.wide { max-width:none; }
.tokenform { margin-top:1rem; }
textarea { font-size:.9rem; padding:.55rem .7rem; border:1px solid var(--line); border-radius:8px; background:var(--bg); color:var(--fg); width:100%; resize:vertical; }
.btn.danger { background:var(--bad); }
.card.danger { border-color:var(--bad); }
.card.danger h2 { color:var(--bad); }
table.claims { margin-bottom:1rem; font-size:.92rem; }
.claimnote label.check { margin:0; color:var(--muted); }
"#;

fn page(title: &str, body: String) -> Html {
    Html(layout(title, CSS, &body))
}

/// The value of the pre-login form cookie, and a `Set-Cookie` if it is new.
fn form_csrf(a: &Accounts, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    match cookie(headers, FORM_COOKIE).filter(|c| c.len() >= 32) {
        Some(c) => (c, None),
        None => {
            let v = Secret::generate().expose().to_owned();
            let c = a.cookie(FORM_COOKIE, &v, Some(86_400), headers);
            (v, Some(c))
        }
    }
}

fn with_cookies(mut res: Response, cookies: impl IntoIterator<Item = HeaderValue>) -> Response {
    for c in cookies {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

/// A page answering an error, with the error's own headers (`Retry-After`).
fn with_error_headers(
    mut res: Response,
    headers: Vec<(header::HeaderName, HeaderValue)>,
) -> Response {
    for (k, v) in headers {
        res.headers_mut().insert(k, v);
    }
    res
}

/// A `next` that stays on this site: a path, not `//host` or `/\host`.
fn local_path(next: &str) -> &str {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.len() <= 2000
        && !next.chars().any(|c| c.is_control());
    if ok { next } else { "/account" }
}

fn form_refused() -> AccountsError {
    AccountsError::Http(carrel_http::HttpError::new(
        StatusCode::FORBIDDEN,
        "csrf_failed",
        "this form has expired or did not come from carrel's own page; go back, reload it and try again",
    ))
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    csrf: &'a str,
    next: &'a str,
    email: &'a str,
    error: &'a str,
    notice: &'a str,
    signup: bool,
    /// Reset links come by mail (`/forgot`).
    mail: bool,
}

#[derive(Deserialize, Default)]
struct LoginQuery {
    #[serde(default)]
    next: String,
    #[serde(default)]
    reset: Option<String>,
}

fn render_login(
    a: &Accounts,
    headers: &HeaderMap,
    status: StatusCode,
    email: &str,
    next: &str,
    error: &str,
    notice: &str,
) -> Response {
    let (csrf, set) = form_csrf(a, headers);
    let body = LoginPage {
        csrf: &csrf,
        next: local_path(next),
        email,
        error,
        notice,
        signup: a.config.signup != Signup::Closed,
        mail: a.mail().is_some(),
    }
    .render()
    .unwrap_or_default();
    with_cookies((status, page("Log in", body)).into_response(), set)
}

async fn login_page(
    State(a): State<Arc<Accounts>>,
    headers: HeaderMap,
    q: std::result::Result<Query<LoginQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = q.map(|q| q.0).unwrap_or_default();
    let notice = if q.reset.is_some() {
        "Your password is set. Log in with it."
    } else {
        ""
    };
    render_login(&a, &headers, StatusCode::OK, "", &q.next, "", notice)
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

async fn login(
    State(a): State<Arc<Accounts>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: std::result::Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let f = match pre_login(&headers, form, |e| {
        render_login(&a, &headers, StatusCode::BAD_REQUEST, "", "", e, "")
    }) {
        Ok(f) => f,
        Err(res) => return *res,
    };
    let email: String = f.email.chars().take(254).collect();
    match a.check_login(&email, &f.password, peer.ip()).await {
        Ok(account) => {
            // Whatever session cookie came with the form is ended: a log-in
            // always gets a fresh secret (no session fixation).
            if let Some(old) = cookie(&headers, SESSION_COOKIE) {
                let _ = a.db.delete_session(&Secret::from_client(&old).hash()).await;
            }
            match a.start_session(&account, &headers).await {
                Ok((_, set)) => {
                    tracing::info!(target: "carrel::audit", event = "login", account = %account.id, "logged in");
                    let clear = a.cookie(FORM_COOKIE, "", None, &headers);
                    with_cookies(
                        Redirect::to(local_path(&f.next)).into_response(),
                        [set, clear],
                    )
                }
                Err(e) => e.into_http().as_page().into_response(),
            }
        }
        Err(e) => {
            let http = e.into_http();
            let res = render_login(
                &a,
                &headers,
                http.status,
                &email,
                &f.next,
                &http.message,
                "",
            );
            with_error_headers(res, http.headers)
        }
    }
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage<'a> {
    csrf: &'a str,
    email: &'a str,
    invitation: &'a str,
    error: &'a str,
    admin: bool,
}

#[derive(Deserialize, Default)]
struct SignupQuery {
    #[serde(default)]
    invitation: String,
}

/// Whether this sign-up would make the server's first account (its admin):
/// only with the first-start invitation, checked when it is used.
async fn bootstrap(a: &Accounts) -> Result<bool> {
    Ok(a.db.count_accounts().await? == 0)
}

fn render_signup(
    a: &Accounts,
    headers: &HeaderMap,
    status: StatusCode,
    email: &str,
    invitation: &str,
    error: &str,
    admin: bool,
) -> Response {
    let (csrf, set) = form_csrf(a, headers);
    let body = SignupPage {
        csrf: &csrf,
        email,
        invitation,
        error,
        admin,
    }
    .render()
    .unwrap_or_default();
    with_cookies((status, page("Sign up", body)).into_response(), set)
}

/// Why this sign-up may not go ahead (before the form is even shown).
async fn signup_gate(a: &Accounts, invitation: &str) -> Result<bool> {
    let first = bootstrap(a).await?;
    if first && invitation.is_empty() {
        return Err(AccountsError::Forbidden(
            "this server has no administrator yet: open the first-start link from the server's log, \
             or run `carrel admin create-user --admin EMAIL`",
        ));
    }
    if invitation.is_empty() {
        match a.config.signup {
            Signup::Open => {}
            Signup::Invite => return Err(AccountsError::InvitationRequired),
            Signup::Closed => return Err(AccountsError::SignupClosed),
        }
    }
    Ok(first)
}

async fn signup_page(
    State(a): State<Arc<Accounts>>,
    headers: HeaderMap,
    q: std::result::Result<Query<SignupQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = q.map(|q| q.0).unwrap_or_default();
    let inv: String = q.invitation.chars().take(100).collect();
    match signup_gate(&a, &inv).await {
        Ok(admin) => render_signup(&a, &headers, StatusCode::OK, "", &inv, "", admin),
        Err(e) => e.into_http().as_page().into_response(),
    }
}

#[derive(Deserialize)]
struct SignupForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    invitation: String,
    /// Management tokens of uploads made in this browser (filled by the page's script).
    #[serde(default)]
    claims: String,
}

/// Creates an account from a sign-up (form or API) and starts its session:
/// the account and the session's `Set-Cookie`.
pub(crate) async fn sign_up(
    a: &Accounts,
    headers: &HeaderMap,
    email: &str,
    password: &str,
    inv: &str,
) -> Result<(carrel_db::accounts::Account, HeaderValue)> {
    let first = signup_gate(a, inv).await?;
    let email: Email = email.parse()?;
    let password = NewPassword::new(password, Some(&email))?;
    let invitation = (!inv.is_empty()).then(|| Secret::from_client(inv));
    // The first account, made with the first-start invitation, is the admin.
    let role = if first { Role::Admin } else { Role::User };
    let account = a
        .create_account(email, password, role, invitation.as_ref())
        .await?;
    tracing::info!(target: "carrel::audit", event = "signup", account = %account.id, role = role.as_str(), "account created");
    let (_, set) = a.start_session(&account, headers).await?;
    Ok((account, set))
}

async fn signup(
    State(a): State<Arc<Accounts>>,
    headers: HeaderMap,
    form: std::result::Result<Form<SignupForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let f = match pre_login(&headers, form, |e| {
        render_signup(&a, &headers, StatusCode::BAD_REQUEST, "", "", e, false)
    }) {
        Ok(f) => f,
        Err(res) => return *res,
    };
    let inv: String = f.invitation.chars().take(100).collect();
    let email_text: String = f.email.chars().take(254).collect();
    let r = async {
        // Checked before the account exists: a bad list loses nothing.
        let tokens = ClaimTokens::parse_text(&f.claims)?;
        let (account, set) = sign_up(&a, &headers, &f.email, &f.password, &inv).await?;
        // The account exists now: a failed claim only leaves the uploads
        // to be claimed later from the account page.
        let next = match a.claim(&account.id, &tokens).await {
            Ok(claims) if !claims.is_empty() => {
                let claimed = claims
                    .iter()
                    .filter(|c| c.outcome == ClaimOutcome::Claimed)
                    .count();
                let kept = claims.iter().filter(|c| !c.outcome.settled()).count();
                format!("/account?claimed={claimed}&kept={kept}")
            }
            Ok(_) => "/account".to_owned(),
            Err(e) => {
                tracing::warn!(account = %account.id, error = %e, "uploads could not be claimed at sign-up");
                "/account?claimed=0&kept=0".to_owned()
            }
        };
        Ok::<_, AccountsError>((set, next))
    };
    match r.await {
        Ok((set, next)) => {
            let clear = a.cookie(FORM_COOKIE, "", None, &headers);
            with_cookies(Redirect::to(&next).into_response(), [set, clear])
        }
        Err(e) => {
            let http = e.into_http();
            render_signup(
                &a,
                &headers,
                http.status,
                &email_text,
                &inv,
                &http.message,
                false,
            )
        }
    }
}

#[derive(Deserialize, Default)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// The `csrf` field of a form that carries nothing else (empty if the body is not a form).
fn csrf_field(
    form: std::result::Result<Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> String {
    form.map(|f| f.0.csrf).unwrap_or_default()
}

async fn logout(
    State(a): State<Arc<Accounts>>,
    who: Who,
    headers: HeaderMap,
    form: std::result::Result<Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    if who.caller_with_form(&csrf_field(form)).is_err() {
        return form_refused().into_http().as_page().into_response();
    }
    if let Some(c) = cookie(&headers, SESSION_COOKIE) {
        let _ = a.db.delete_session(&Secret::from_client(&c).hash()).await;
    }
    let clear = a.cookie(SESSION_COOKIE, "", None, &headers);
    with_cookies(Redirect::to("/login").into_response(), [clear])
}

struct TokenRow {
    id: String,
    name: String,
    scopes: String,
    created: String,
    last_used: String,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    csrf: &'a str,
    email: &'a str,
    role: &'a str,
    plan: &'a str,
    since: String,
    tokens: Vec<TokenRow>,
    new_token: &'a str,
    notice: &'a str,
    error: &'a str,
    delete_error: &'a str,
    staff: bool,
    base: String,
    storage: String,
    storage_pct: Option<u64>,
    max_file: String,
    downloaded: String,
    speed: String,
    concurrent: String,
    retention: String,
    /// (file name, day of deletion)
    expiring: Vec<(String, String)>,
    /// The results of a claim just made.
    claims: Vec<ClaimRow>,
    /// Tokens the browser may forget (settled by that claim), space-separated.
    forget: &'a str,
    /// Just signed up with claims: the page's script learns which tokens to forget.
    after_signup: bool,
}

struct ClaimRow {
    token: String,
    name: String,
    size: String,
    result: &'static str,
    message: &'static str,
    ok: bool,
}

/// What a page shows besides the account: a new token, a notice, an
/// error (at the top or by the delete form), a claim's results.
#[derive(Default)]
struct Extras {
    new_token: String,
    notice: String,
    error: String,
    /// The delete form's error, shown beside it.
    delete_error: String,
    claims: Vec<ClaimRow>,
    forget: String,
    after_signup: bool,
}

fn size(b: u64) -> String {
    carrel_core::plan::Bytes(b).to_string()
}

fn limit(l: Option<carrel_core::plan::Bytes>, unit: &str) -> String {
    l.map_or("unlimited".into(), |b| format!("{b}{unit}"))
}

pub(crate) fn day(t: Timestamp) -> String {
    chrono::DateTime::from_timestamp(t.0, 0)
        .map_or_else(String::new, |d| d.format("%Y-%m-%d").to_string())
}

async fn render_account_with(
    a: &Accounts,
    who: &Who,
    headers: &HeaderMap,
    status: StatusCode,
    x: Extras,
) -> Response {
    let Caller::Account { id, .. } = who.peek() else {
        return Redirect::to("/login?next=/account").into_response();
    };
    let r = async {
        let acct =
            a.db.account(id)
                .await?
                .ok_or(AccountsError::LoginRequired)?;
        let tokens = a.db.tokens(id).await?;
        let limits = a.plans.limits_of(&acct.plan).clone();
        let now = Timestamp::now();
        let used = a.db.storage_used(id, now).await?.max(0) as u64;
        let today = a
            .meter
            .volume_today(&carrel_http::meter::Key::Account(id.clone()));
        let mut expiring = Vec::new();
        if let Some(days) = limits.retention_days {
            let notice = i64::from(a.plans.retention_notice_days.min(days));
            let keep = i64::from(days) * 86_400;
            // Files to be deleted within the notice period: active + keep <= now + notice.
            let before = Timestamp(now.0 - keep + notice * 86_400 + 1);
            for (f, active) in a.db.owner_inactive_files(id, before, 50).await? {
                expiring.push((f.name.to_string(), day(Timestamp(active.0 + keep))));
            }
        }
        let body = AccountPage {
            storage: match limits.storage {
                Some(q) => format!("{} of {}", size(used), q),
                None => format!("{} (no limit)", size(used)),
            },
            storage_pct: limits
                .storage
                .map(|q| (used.saturating_mul(100) / q.0.max(1)).min(100)),
            max_file: limit(limits.max_file, ""),
            downloaded: match limits.daily_download {
                Some(d) => format!("{} of {d}", size(today)),
                None => format!("{} (no limit)", size(today)),
            },
            speed: limit(limits.speed, "/s"),
            concurrent: limits
                .concurrent_downloads
                .map_or("unlimited".into(), |n| n.to_string()),
            retention: limits.retention_days.map_or("forever".into(), |d| {
                let s = if d == 1 { "" } else { "s" };
                format!("{d} day{s} after the last download")
            }),
            expiring,
            csrf: who.csrf().unwrap_or_default(),
            email: acct.email.as_str(),
            role: acct.role.as_str(),
            plan: &acct.plan,
            since: day(acct.created_at),
            tokens: tokens
                .iter()
                .map(|t| TokenRow {
                    id: t.id.to_string(),
                    name: t.name.clone(),
                    scopes: t.scopes.to_string(),
                    created: day(t.created_at),
                    last_used: t.last_used_at.map_or("never".into(), day),
                })
                .collect(),
            new_token: &x.new_token,
            notice: &x.notice,
            error: &x.error,
            delete_error: &x.delete_error,
            claims: x.claims,
            forget: &x.forget,
            after_signup: x.after_signup,
            staff: acct.role >= Role::Moderator,
            base: crate::api::base_url(a, headers),
        }
        .render()
        .unwrap_or_default();
        Ok::<_, AccountsError>((status, page("Your account", body)).into_response())
    };
    r.await
        .unwrap_or_else(|e| e.into_http().as_page().into_response())
}

#[derive(Deserialize, Default)]
struct AccountQuery {
    /// Uploads claimed at sign-up, and those left for later (plan limits).
    claimed: Option<u64>,
    kept: Option<u64>,
}

async fn account_page(
    State(a): State<Arc<Accounts>>,
    who: Who,
    headers: HeaderMap,
    q: std::result::Result<Query<AccountQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = q.map(|q| q.0).unwrap_or_default();
    let notice = match (q.claimed, q.kept.unwrap_or(0)) {
        (None, _) => String::new(),
        (Some(n), 0) => format!(
            "Welcome! {} from before you signed up {} now yours.",
            uploads(n),
            are(n)
        ),
        (Some(n), k) => format!(
            "Welcome! {} from before you signed up {} now yours; {} did not fit your plan: \
             free some space, then claim {} below.",
            uploads(n),
            are(n),
            uploads(k),
            if k == 1 { "it" } else { "them" }
        ),
    };
    let extras = Extras {
        notice,
        after_signup: q.claimed.is_some(),
        ..Extras::default()
    };
    render_account_with(&a, &who, &headers, StatusCode::OK, extras).await
}

fn uploads(n: u64) -> String {
    format!("{n} upload{}", if n == 1 { "" } else { "s" })
}

fn are(n: u64) -> &'static str {
    if n == 1 { "is" } else { "are" }
}

type FormResult<T> = std::result::Result<Form<T>, axum::extract::rejection::FormRejection>;

/// A form with a CSRF field.
trait Csrf {
    fn csrf(&self) -> &str;
}

macro_rules! csrf_forms {
    ($($t:ty),*) => {
        $(impl Csrf for $t {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        })*
    };
}
csrf_forms!(
    CsrfForm,
    ClaimForm,
    DeleteForm,
    PasswordForm,
    TokenForm,
    LoginForm,
    SignupForm,
    ResetForm,
    ForgotForm
);

/// The fields of a form shown before logging in, checked against the
/// pre-login cookie's CSRF token; or the answer to send instead: the form
/// again with `incomplete`'s error, or the refusal of a foreign form.
fn pre_login<T: Csrf>(
    headers: &HeaderMap,
    form: FormResult<T>,
    incomplete: impl FnOnce(&str) -> Response,
) -> std::result::Result<T, Box<Response>> {
    let Ok(Form(f)) = form else {
        return Err(Box::new(incomplete("The form was incomplete.")));
    };
    if !form_token_matches(headers, f.csrf()) {
        return Err(Box::new(
            form_refused().into_http().as_page().into_response(),
        ));
    }
    Ok(f)
}

/// What a form of the account page did.
enum Outcome {
    /// Show the account page again, with these.
    Page(StatusCode, Extras),
    /// Answer this instead (a redirect, another page).
    Answer(Response),
}

/// Where the account page shows a form's error: at the top, or beside the
/// form that failed.
#[derive(Clone, Copy)]
enum ErrorAt {
    Top,
    DeleteForm,
}

/// Runs a form of the account page: reads its fields, checks the session
/// and the form's CSRF token, does `act` for the account, and answers (the
/// account page with what it did, or with its error where `at` says).
async fn account_form<T: Csrf + Default>(
    a: Arc<Accounts>,
    who: Who,
    headers: HeaderMap,
    form: FormResult<T>,
    at: ErrorAt,
    act: impl AsyncFnOnce(&Accounts, AccountId, T) -> Result<Outcome>,
) -> Response {
    // A body that is not a form has no CSRF token either: refused below
    // (or sent to log in first), like a form without one.
    let f = form.map(|f| f.0).unwrap_or_default();
    let id = match form_account(&who, f.csrf()) {
        Ok(id) => id,
        Err(res) => return *res,
    };
    match act(&a, id, f).await {
        Ok(Outcome::Page(status, x)) => render_account_with(&a, &who, &headers, status, x).await,
        Ok(Outcome::Answer(res)) => res,
        Err(e) => {
            let http = e.into_http();
            let mut x = Extras::default();
            match at {
                ErrorAt::Top => x.error = http.message.clone(),
                ErrorAt::DeleteForm => x.delete_error = http.message.clone(),
            }
            let res = render_account_with(&a, &who, &headers, http.status, x).await;
            with_error_headers(res, http.headers)
        }
    }
}

/// The account page with a notice.
fn notice(status: StatusCode, notice: impl Into<String>) -> Outcome {
    Outcome::Page(
        status,
        Extras {
            notice: notice.into(),
            ..Extras::default()
        },
    )
}

#[derive(Deserialize, Default)]
struct ClaimForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    tokens: String,
}

async fn claim_form(
    State(a): State<Arc<Accounts>>,
    who: Who,
    headers: HeaderMap,
    form: FormResult<ClaimForm>,
) -> Response {
    account_form(a, who, headers, form, ErrorAt::Top, async |a, id, f| {
        let tokens = ClaimTokens::parse_text(&f.tokens)?;
        if tokens.is_empty() {
            return Err(AccountsError::BadRequest(
                "no_tokens",
                "paste at least one management token".into(),
            ));
        }
        let claims = a.claim(&id, &tokens).await?;
        let raw: Vec<&str> = tokens.secrets().map(|(t, _)| t).collect();
        let forget: Vec<&str> = raw
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                claims
                    .iter()
                    .filter(|c| c.index == *i)
                    .all(|c| c.outcome.settled())
            })
            .map(|(_, t)| *t)
            .collect();
        let n = claims
            .iter()
            .filter(|c| c.outcome == ClaimOutcome::Claimed)
            .count() as u64;
        let rows = claims
            .iter()
            .map(|c| ClaimRow {
                token: c.token.clone(),
                name: c.name.clone().unwrap_or_default(),
                size: c.size.map(|s| size(s.max(0) as u64)).unwrap_or_default(),
                result: c.outcome.code(),
                message: c.outcome.message(),
                ok: matches!(
                    c.outcome,
                    ClaimOutcome::Claimed | ClaimOutcome::AlreadyYours
                ),
            })
            .collect();
        Ok(Outcome::Page(
            StatusCode::OK,
            Extras {
                notice: format!("{} claimed.", uploads(n)),
                claims: rows,
                forget: forget.join(" "),
                ..Extras::default()
            },
        ))
    })
    .await
}

#[derive(Deserialize, Default)]
struct DeleteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
}

async fn delete_form(
    State(a): State<Arc<Accounts>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    who: Who,
    headers: HeaderMap,
    form: FormResult<DeleteForm>,
) -> Response {
    let clear = a.cookie(SESSION_COOKIE, "", None, &headers);
    account_form(a, who, headers, form, ErrorAt::DeleteForm, async |a, id, f| {
        a.check_own_deletion(&id, &f.password, peer.ip()).await?;
        let n = match a.delete_account(&id, None).await? {
            crate::privacy::Disposal::Deleted(n) | crate::privacy::Disposal::Transferred(n) => n,
        };
        let body = format!(
            "<section class=\"card narrow\"><h1>Your account is deleted</h1>\
             <p role=\"status\">Your account, your {} and {} share links are gone, and you are logged out everywhere. \
             Your e-mail address is forgotten: you may sign up with it again.</p>\
             <p><a class=\"btn secondary\" href=\"/\">Back to carrel</a></p></section>",
            if n == 1 {
                "file".to_owned()
            } else {
                format!("{n} files")
            },
            if n == 1 { "its" } else { "their" },
        );
        Ok(Outcome::Answer(with_cookies(
            page("Account deleted", body).into_response(),
            [clear],
        )))
    })
    .await
}

/// The session's account for a form post, or the answer to send instead.
fn form_account(who: &Who, csrf: &str) -> std::result::Result<AccountId, Box<Response>> {
    match who.caller_with_form(csrf) {
        Ok(Caller::Account { id, .. }) => Ok(id.clone()),
        Ok(Caller::Anonymous) => Err(Box::new(
            Redirect::to("/login?next=/account").into_response(),
        )),
        Err(e) => Err(Box::new(e.as_page().into_response())),
    }
}

#[derive(Deserialize, Default)]
struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    password: String,
}

async fn change_password(
    State(a): State<Arc<Accounts>>,
    who: Who,
    headers: HeaderMap,
    form: FormResult<PasswordForm>,
) -> Response {
    let keep = cookie(&headers, SESSION_COOKIE).map(|c| Secret::from_client(&c).hash());
    account_form(a, who, headers, form, ErrorAt::Top, async |a, id, f| {
        let acct =
            a.db.account(&id)
                .await?
                .ok_or(AccountsError::LoginRequired)?;
        if !crate::verify(f.current.clone(), acct.password_hash.clone()).await {
            return Err(AccountsError::WrongPassword);
        }
        let p = NewPassword::new(&f.password, Some(&acct.email))?;
        let hash = crate::hash(p).await?;
        a.db.set_password(&id, &hash, keep.as_ref()).await?;
        tracing::info!(target: "carrel::audit", event = "password_changed", account = %id, "password changed");
        Ok(notice(
            StatusCode::OK,
            "Your password is changed; your other sessions have ended.",
        ))
    })
    .await
}

async fn logout_all(
    State(a): State<Arc<Accounts>>,
    who: Who,
    headers: HeaderMap,
    form: FormResult<CsrfForm>,
) -> Response {
    let clear = a.cookie(SESSION_COOKIE, "", None, &headers);
    account_form(a, who, headers, form, ErrorAt::Top, async |a, id, _| {
        a.db.delete_sessions(&id).await?;
        tracing::info!(target: "carrel::audit", event = "logout_everywhere", account = %id, "all sessions ended");
        Ok(Outcome::Answer(with_cookies(
            Redirect::to("/login").into_response(),
            [clear],
        )))
    })
    .await
}

#[derive(Deserialize, Default)]
struct TokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    scope_read: Option<String>,
    scope_upload: Option<String>,
    scope_manage: Option<String>,
    scope_admin: Option<String>,
}

async fn create_token(
    State(a): State<Arc<Accounts>>,
    who: Who,
    headers: HeaderMap,
    form: FormResult<TokenForm>,
) -> Response {
    let role = match who.peek() {
        Caller::Account { role, .. } => *role,
        Caller::Anonymous => Role::User,
    };
    account_form(a, who, headers, form, ErrorAt::Top, async |a, id, f| {
        let mut scopes = Scopes::NONE;
        for (on, s) in [
            (&f.scope_read, Scope::Read),
            (&f.scope_upload, Scope::Upload),
            (&f.scope_manage, Scope::Manage),
            (&f.scope_admin, Scope::Admin),
        ] {
            if on.is_some() {
                scopes = scopes.with(s);
            }
        }
        if scopes.is_empty() {
            return Err(AccountsError::BadRequest(
                "no_scope",
                "pick at least one scope".into(),
            ));
        }
        let (_, secret) = crate::api::make_token(a, &id, role, &f.name, scopes).await?;
        Ok(Outcome::Page(
            StatusCode::CREATED,
            Extras {
                new_token: secret,
                ..Extras::default()
            },
        ))
    })
    .await
}

async fn revoke_token(
    State(a): State<Arc<Accounts>>,
    who: Who,
    headers: HeaderMap,
    Path(tid): Path<String>,
    form: FormResult<CsrfForm>,
) -> Response {
    account_form(a, who, headers, form, ErrorAt::Top, async |a, id, _| {
        let tid = tid
            .parse::<TokenId>()
            .map_err(|_| AccountsError::NotFound("token"))?;
        a.db.delete_token(&id, &tid).await?;
        Ok(Outcome::Answer(Redirect::to("/account").into_response()))
    })
    .await
}

#[derive(Template)]
#[template(path = "reset.html")]
struct ResetPage<'a> {
    csrf: &'a str,
    token: &'a str,
    error: &'a str,
}

#[derive(Deserialize, Default)]
struct ResetQuery {
    #[serde(default)]
    token: String,
}

fn render_reset(
    a: &Accounts,
    headers: &HeaderMap,
    status: StatusCode,
    token: &str,
    error: &str,
) -> Response {
    let (csrf, set) = form_csrf(a, headers);
    let body = ResetPage {
        csrf: &csrf,
        token,
        error,
    }
    .render()
    .unwrap_or_default();
    with_cookies((status, page("New password", body)).into_response(), set)
}

async fn reset_page(
    State(a): State<Arc<Accounts>>,
    headers: HeaderMap,
    q: std::result::Result<Query<ResetQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let token: String = q
        .map(|q| q.0.token)
        .unwrap_or_default()
        .chars()
        .take(100)
        .collect();
    if token.is_empty() {
        return AccountsError::BadResetToken
            .into_http()
            .as_page()
            .into_response();
    }
    render_reset(&a, &headers, StatusCode::OK, &token, "")
}

#[derive(Deserialize)]
struct ResetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
}

async fn reset(
    State(a): State<Arc<Accounts>>,
    headers: HeaderMap,
    form: FormResult<ResetForm>,
) -> Response {
    let f = match pre_login(&headers, form, |e| {
        render_reset(&a, &headers, StatusCode::BAD_REQUEST, "", e)
    }) {
        Ok(f) => f,
        Err(res) => return *res,
    };
    let token: String = f.token.chars().take(100).collect();
    let r = async {
        let p = NewPassword::new(&f.password, None)?;
        let hash = crate::hash(p).await?;
        a.db.reset_password(&Secret::from_client(&token).hash(), &hash, Timestamp::now())
            .await?
            .ok_or(AccountsError::BadResetToken)
    };
    match r.await {
        Ok(id) => {
            tracing::info!(target: "carrel::audit", event = "password_reset", account = %id, "password reset");
            Redirect::to("/login?reset=1").into_response()
        }
        Err(e) => {
            let http = e.into_http();
            render_reset(&a, &headers, http.status, &token, &http.message)
        }
    }
}

#[derive(Template)]
#[template(path = "forgot.html")]
struct ForgotPage<'a> {
    csrf: &'a str,
    email: &'a str,
    error: &'a str,
    sent: bool,
    mail: bool,
    minutes: f64,
}

fn render_forgot(
    a: &Accounts,
    headers: &HeaderMap,
    status: StatusCode,
    email: &str,
    error: &str,
    sent: bool,
) -> Response {
    let (csrf, set) = form_csrf(a, headers);
    let body = ForgotPage {
        csrf: &csrf,
        email,
        error,
        sent,
        mail: a.mail().is_some(),
        minutes: a.config.reset_minutes,
    }
    .render()
    .unwrap_or_default();
    with_cookies(
        (status, page("Forgot your password?", body)).into_response(),
        set,
    )
}

async fn forgot_page(State(a): State<Arc<Accounts>>, headers: HeaderMap) -> Response {
    render_forgot(&a, &headers, StatusCode::OK, "", "", false)
}

#[derive(Deserialize)]
struct ForgotForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

/// Asks for a reset link by mail: the same answer whether or not an account
/// uses the address (see [`crate::mail::ask_reset`]).
async fn forgot(
    State(a): State<Arc<Accounts>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: std::result::Result<Form<ForgotForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let f = match pre_login(&headers, form, |e| {
        render_forgot(&a, &headers, StatusCode::BAD_REQUEST, "", e, false)
    }) {
        Ok(f) => f,
        Err(res) => return *res,
    };
    let shown: String = f.email.trim().chars().take(254).collect();
    match crate::mail::ask_reset(&a, &f.email, peer.ip()) {
        Ok(()) => render_forgot(&a, &headers, StatusCode::OK, &shown, "", true),
        Err(e) => {
            let http = e.into_http();
            let res = render_forgot(&a, &headers, http.status, &shown, &http.message, false);
            with_error_headers(res, http.headers)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(local_path("/library?q=x"), "/library?q=x");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "",
            "javascript:alert(1)",
            "/a\nb",
        ] {
            assert_eq!(local_path(bad), "/account", "{bad:?}");
        }
    }

    #[test]
    fn days_are_civil_dates() {
        assert_eq!(day(Timestamp(0)), "1970-01-01");
        assert_eq!(day(Timestamp(951_782_400)), "2000-02-29");
        assert_eq!(day(Timestamp(1_795_000_000)), "2026-11-18");
    }
}
