//! What administrators do with accounts, in one place for the JSON API,
//! the pages and `carrel admin`: find users (address, plan, role,
//! suspended; by pages), change their plan, role or suspension, delete
//! them (their files deleted or given to another account, through
//! [`Accounts::delete_account`]), and see the server's usage (storage by
//! plan and account, bytes served and files stored per day).
//!
//! Only administrators (the role, and the `admin` scope for tokens) may:
//! moderators act on content, not on accounts, and get 403 like users.
//!
//! - `GET /api/admin/users?q=&plan=&role=&suspended=&after=`,
//!   `GET`/`PATCH /api/admin/users/{id}`, `GET /api/admin/usage?days=`.
//! - Pages: `/admin/users` (search and pages of 50; an invitation form
//!   posting to `/admin/invitations`), `/admin/users/{id}` (forms posting to
//!   `…/plan`, `…/role`, `…/suspension`, `…/reset-link`, `…/delete`),
//!   `/admin/usage`. Reset and invitation links are made by the same code as
//!   the API's and `carrel admin`'s ([`crate::api::reset_link`],
//!   [`crate::api::invitation_link`]) and shown once.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use carrel_core::account::{Caller, Role, Scope};
use carrel_core::ids::AccountId;
use carrel_core::time::Timestamp;
use carrel_db::accounts::{Account, AccountFilter};
use carrel_db::usage::{DAY_SECS, DayCount};
use carrel_http::auth::Who;
use carrel_http::page::{Html, escape, layout};
use serde::{Deserialize, Serialize};

use crate::Accounts;
use crate::api::{account_json, require_admin};
use crate::error::{AccountsError, Result};
use crate::privacy::{Disposal, json_body};

pub fn routes() -> Router<Arc<Accounts>> {
    Router::new()
        .route("/api/admin/usage", get(api_usage))
        .route("/admin", get(|| async { Redirect::to("/admin/users") }))
        .route("/admin/users", get(users_page))
        .route("/admin/users/{id}", get(user_page))
        .route("/admin/users/{id}/plan", change_handler(plan_change))
        .route("/admin/users/{id}/role", change_handler(role_change))
        .route(
            "/admin/users/{id}/suspension",
            change_handler(suspension_change),
        )
        .route("/admin/users/{id}/delete", post(delete_form))
        .route("/admin/users/{id}/reset-link", post(reset_link_form))
        .route("/admin/invitations", post(invitation_form))
        .route("/admin/usage", get(usage_page))
}

/// The route of a change form whose change `pick` reads.
fn change_handler(
    pick: fn(ChangeForm) -> (UserChange, &'static str),
) -> axum::routing::MethodRouter<Arc<Accounts>> {
    post(
        move |State(a): State<Arc<Accounts>>,
              who: Who,
              Path(uid): Path<String>,
              f: FormResult<ChangeForm>| { form_change(a, who, uid, f, pick) },
    )
}

/// Accounts on one page of the admin's list.
pub const PAGE: usize = 50;
/// Days the usage covers at most.
pub const MAX_DAYS: u32 = 366;

/// A search for accounts as a query string gives it (`q`, `plan`, `role`,
/// `suspended`, `after`); every field is checked before the database sees it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserQuery {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub plan: String,
    #[serde(default)]
    pub role: String,
    /// `yes`/`true` (suspended only), `no`/`false` (active only), or empty.
    #[serde(default)]
    pub suspended: String,
    /// The address the previous page ended with.
    #[serde(default)]
    pub after: String,
}

fn bad_query(msg: impl Into<String>) -> AccountsError {
    AccountsError::BadRequest("invalid_query", msg.into())
}

impl UserQuery {
    /// The database filter, or why the query is not one.
    pub fn filter(&self, a: &Accounts) -> Result<AccountFilter> {
        if self.q.len() > 254 || self.after.len() > 254 {
            return Err(bad_query("the search and `after` have at most 254 bytes"));
        }
        if self
            .q
            .chars()
            .chain(self.after.chars())
            .any(char::is_control)
        {
            return Err(bad_query("the search may not contain control characters"));
        }
        let plan = match self.plan.trim() {
            "" => None,
            p => Some(a.plans.known(p)?.to_string()),
        };
        let role = match self.role.trim() {
            "" => None,
            r => Some(r.parse::<Role>()?),
        };
        let suspended = match self.suspended.trim() {
            "" | "any" => None,
            "yes" | "true" => Some(true),
            "no" | "false" => Some(false),
            _ => return Err(bad_query("`suspended` is yes, no or empty")),
        };
        Ok(AccountFilter {
            email: self.q.trim().to_owned(),
            plan,
            role,
            suspended,
        })
    }
}

/// One page of accounts: the accounts, how many match in all, and the
/// `after` of the next page.
pub struct UserPage {
    pub users: Vec<Account>,
    pub total: i64,
    pub next: Option<String>,
}

impl Accounts {
    /// A page of at most `limit` accounts matching `q`.
    pub async fn find_users(&self, q: &UserQuery, limit: usize) -> Result<UserPage> {
        let filter = q.filter(self)?;
        let mut users = self
            .db
            .search_accounts(&filter, &q.after, limit as i64 + 1)
            .await?;
        let more = users.len() > limit;
        users.truncate(limit);
        let next = more
            .then(|| users.last().map(|u| u.email.as_str().to_owned()))
            .flatten();
        let total = self.db.count_matching(&filter).await?;
        Ok(UserPage { users, total, next })
    }

    /// A live account by id (a malformed id is not found).
    pub async fn live_by_id(&self, id: &str) -> Result<Account> {
        let id: AccountId = id.parse().map_err(|_| AccountsError::NotFound("account"))?;
        match self.db.account(&id).await? {
            Some(a) if a.deleted_at.is_none() => Ok(a),
            _ => Err(AccountsError::NotFound("account")),
        }
    }

    /// Changes an account's role, plan or suspension; `by` is the
    /// administrator (none from the server's CLI), who may not suspend or
    /// demote themselves. All is checked before anything changes.
    pub async fn change_user(
        &self,
        by: Option<&AccountId>,
        user: &AccountId,
        change: &UserChange,
    ) -> Result<Account> {
        match self.db.account(user).await? {
            Some(a) if a.deleted_at.is_none() => {}
            _ => return Err(AccountsError::NotFound("account")),
        }
        let role = change.role.as_deref().map(str::parse::<Role>).transpose()?;
        if by == Some(user)
            && (change.suspended == Some(true) || role.is_some_and(|r| r != Role::Admin))
        {
            return Err(AccountsError::Forbidden(
                "an administrator cannot suspend or demote themselves; ask another administrator",
            ));
        }
        let plan = change
            .plan
            .as_deref()
            .map(|p| self.plans.known(p))
            .transpose()?;
        if let Some(r) = role {
            self.db.set_role(user, r).await?;
        }
        if let Some(p) = plan {
            self.db.set_plan(user, p.as_str()).await?;
        }
        if let Some(s) = change.suspended {
            self.db.set_suspended(user, s.then(Timestamp::now)).await?;
        }
        tracing::info!(target: "carrel::audit", event = "user_changed",
            admin = by.map(|b| b.to_string()), user = %user, "an administrator changed an account");
        self.db
            .account(user)
            .await?
            .ok_or(AccountsError::NotFound("account"))
    }

    /// An administrator (`by`; none from the CLI) deletes an account, its
    /// files deleted or given to the account at `transfer_to`.
    pub async fn delete_user(
        &self,
        by: Option<&AccountId>,
        user: &AccountId,
        transfer_to: Option<&str>,
    ) -> Result<Disposal> {
        if by == Some(user) {
            return Err(AccountsError::Forbidden(
                "an administrator cannot delete themselves; ask another administrator",
            ));
        }
        let to = match transfer_to {
            Some(e) => Some(crate::privacy::by_email(self, e).await?.id),
            None => None,
        };
        let d = self.delete_account(user, to.as_ref()).await?;
        tracing::info!(target: "carrel::audit", event = "user_deleted",
            admin = by.map(|b| b.to_string()), user = %user, "an administrator deleted an account");
        Ok(d)
    }

    /// The server's usage over the last `days` days (1 to [`MAX_DAYS`]).
    pub async fn usage(&self, days: u32) -> Result<Usage> {
        if !(1..=MAX_DAYS).contains(&days) {
            return Err(bad_query(format!("`days` is between 1 and {MAX_DAYS}")));
        }
        let today = Timestamp::now().0.div_euclid(DAY_SECS);
        let from = today - i64::from(days) + 1;
        let s = self.db.storage_usage(10).await?;
        Ok(Usage {
            days,
            storage: Storage {
                files: s.files,
                bytes: s.bytes,
                per_plan: s
                    .per_plan
                    .into_iter()
                    .map(|p| PlanRow {
                        plan: p.plan,
                        accounts: p.accounts,
                        files: p.files,
                        bytes: p.bytes,
                    })
                    .collect(),
                top: s
                    .top
                    .into_iter()
                    .map(|t| TopRow {
                        id: t.id.to_string(),
                        email: t.email.as_str().to_owned(),
                        plan: t.plan,
                        files: t.files,
                        bytes: t.bytes,
                    })
                    .collect(),
            },
            traffic: every_day(from, today, &self.db.traffic_per_day(from).await?),
            uploads: every_day(from, today, &self.db.uploads_per_day(from).await?),
        })
    }
}

/// What an administrator changes about an account (unset: unchanged).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    pub role: Option<String>,
    pub suspended: Option<bool>,
    pub plan: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PlanRow {
    /// `null`: files uploaded without an account.
    pub plan: Option<String>,
    pub accounts: i64,
    pub files: i64,
    pub bytes: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct TopRow {
    pub id: String,
    pub email: String,
    pub plan: String,
    pub files: i64,
    pub bytes: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Storage {
    pub files: i64,
    pub bytes: i64,
    pub per_plan: Vec<PlanRow>,
    pub top: Vec<TopRow>,
}

/// One UTC day: downloads started and bytes served, or files stored and their bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DayRow {
    pub date: String,
    pub count: i64,
    pub bytes: i64,
}

/// The usage report (the JSON of `GET /api/admin/usage`).
#[derive(Clone, Debug, Serialize)]
pub struct Usage {
    pub days: u32,
    pub storage: Storage,
    /// Bytes served per day (`count`: downloads started), oldest first.
    pub traffic: Vec<DayRow>,
    /// Files stored per day of upload that are still kept, oldest first.
    pub uploads: Vec<DayRow>,
}

/// Every day from `from` to `to` (day numbers), zero where `rows` has none.
pub fn every_day(from: i64, to: i64, rows: &[DayCount]) -> Vec<DayRow> {
    (from..=to)
        .map(|d| {
            let r = rows.iter().find(|r| r.day == d);
            DayRow {
                date: crate::pages::day(Timestamp(d * DAY_SECS)),
                count: r.map_or(0, |r| r.count),
                bytes: r.map_or(0, |r| r.bytes),
            }
        })
        .collect()
}

/// An inline SVG bar chart of `values` (one bar a day), each bar titled
/// with its day and `label` of its value.
pub fn bar_chart(
    title: &str,
    rows: &[DayRow],
    value: impl Fn(&DayRow) -> i64,
    label: impl Fn(i64) -> String,
) -> String {
    const W: usize = 640;
    const H: usize = 120;
    let max = rows.iter().map(&value).max().unwrap_or(0).max(1);
    let n = rows.len().max(1);
    let slot = W as f64 / n as f64;
    let mut out = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {W} {}\" role=\"img\" aria-label=\"{}\" preserveAspectRatio=\"none\">",
        H + 2,
        escape(title)
    );
    out.push_str(&format!(
        "<line x1=\"0\" y1=\"{H}\" x2=\"{W}\" y2=\"{H}\" class=\"axis\"/>"
    ));
    for (i, r) in rows.iter().enumerate() {
        let v = value(r).max(0);
        let h = if v == 0 {
            0.0
        } else {
            (v as f64 / max as f64 * (H - 4) as f64).max(2.0)
        };
        out.push_str(&format!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\"><title>{}: {}</title></rect>",
            i as f64 * slot + slot * 0.15,
            H as f64 - h,
            slot * 0.7,
            escape(&r.date),
            escape(&label(v)),
        ));
    }
    if rows.iter().all(|r| value(r) <= 0) {
        out.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" class=\"empty\">none in these days</text>",
            W / 2,
            H / 2
        ));
    }
    out.push_str("</svg>");
    out
}

fn size(b: i64) -> String {
    carrel_core::plan::Bytes(b.max(0) as u64).to_string()
}

// ---- the JSON API ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DaysQuery {
    days: Option<u32>,
}

fn query<T>(
    q: std::result::Result<Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T> {
    q.map(|q| q.0).map_err(|e| bad_query(e.body_text()))
}

async fn api_usage(
    State(a): State<Arc<Accounts>>,
    who: Who,
    q: std::result::Result<Query<DaysQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Usage>> {
    require_admin(&who)?;
    let q = query(q)?;
    Ok(Json(a.usage(q.days.unwrap_or(30)).await?))
}

pub(crate) async fn api_users(
    State(a): State<Arc<Accounts>>,
    who: Who,
    q: std::result::Result<Query<UserQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>> {
    require_admin(&who)?;
    let page = a.find_users(&query(q)?, 100).await?;
    Ok(Json(serde_json::json!({
        "users": page.users.iter().map(account_json).collect::<Vec<_>>(),
        "total": page.total,
        "next": page.next,
    })))
}

/// An account with what it stores (the admin's view of one user).
async fn user_json(a: &Accounts, acct: &Account) -> Result<serde_json::Value> {
    let mut j = account_json(acct);
    j["usage"] = crate::api::usage_json(a, acct).await?;
    Ok(j)
}

pub(crate) async fn api_user(
    State(a): State<Arc<Accounts>>,
    who: Who,
    Path(uid): Path<String>,
) -> Result<Json<serde_json::Value>> {
    require_admin(&who)?;
    let acct = a.live_by_id(&uid).await?;
    Ok(Json(user_json(&a, &acct).await?))
}

pub(crate) async fn api_patch_user(
    State(a): State<Arc<Accounts>>,
    who: Who,
    Path(uid): Path<String>,
    body: std::result::Result<Json<UserChange>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>> {
    let me = require_admin(&who)?;
    let change = json_body(body)?;
    let acct = a.live_by_id(&uid).await?;
    let acct = a.change_user(Some(&me), &acct.id, &change).await?;
    Ok(Json(account_json(&acct)))
}

// ---- the pages ----

const CSS: &str = r#"
main { max-width:1000px; }
form.search { display:flex; flex-wrap:wrap; gap:.6rem; align-items:flex-end; margin:.5rem 0 1rem; }
form.search label, form.inline label { display:flex; flex-direction:column; gap:.25rem; color:var(--muted); font-size:.85rem; }
select, input[type=search] { font-size:.95rem; padding:.45rem .6rem; border:1px solid var(--line); border-radius:8px; background:var(--bg); color:var(--fg); }
input[type=search] { min-width:16rem; }
.tag { display:inline-block; padding:.05rem .5rem; border-radius:999px; font-size:.8rem; border:1px solid var(--line); color:var(--muted); }
.tag.bad { color:var(--bad); border-color:var(--bad); }
.tag.role-admin { color:var(--accent); border-color:var(--accent); }
.pager { display:flex; gap:1rem; align-items:center; margin-top:1rem; }
.ok { color:var(--ok); }
.small { font-size:.85rem; }
h2 { font-size:1.15rem; margin:0 0 .6rem; }
.actions { display:grid; grid-template-columns:repeat(auto-fit, minmax(260px, 1fr)); gap:1rem; }
.actions form { border:1px solid var(--line); border-radius:10px; padding:.8rem 1rem; }
form.inline { display:flex; gap:.6rem; align-items:flex-end; flex-wrap:wrap; }
.card.danger { border-color:var(--bad); }
.card.danger h2 { color:var(--bad); }
.btn.danger { background:var(--bad); }
.choice { display:flex; flex-direction:column; gap:.4rem; margin:.6rem 0; }
.choice label { display:flex; gap:.5rem; align-items:center; }
.choice input[type=email] { max-width:300px; margin-left:1.6rem; }
.figures { display:flex; gap:2rem; flex-wrap:wrap; margin:.4rem 0 1rem; }
.figures div { display:flex; flex-direction:column; }
.figures strong { font-size:1.5rem; }
svg.chart { width:100%; height:130px; display:block; margin:.4rem 0 .8rem; }
svg.chart rect { fill:var(--accent); }
svg.chart rect:hover { fill:var(--ok); }
svg.chart .axis { stroke:var(--line); stroke-width:1; }
svg.chart .empty { fill:var(--muted); font-size:14px; }
details summary { cursor:pointer; color:var(--accent); margin:.3rem 0; }
.fresh { border:1px solid var(--ok); border-radius:10px; padding:.2rem 1rem .8rem; margin:.6rem 0 1rem; }
.fresh input.wide { width:100%; max-width:none; box-sizing:border-box; font-size:.9rem; padding:.45rem .6rem; border:1px solid var(--line); border-radius:8px; background:var(--bg); color:var(--fg); }
table.list { font-size:.93rem; }
"#;

fn page(title: &str, body: String) -> Html {
    Html(layout(title, CSS, &body))
}

/// The administrator of a page request, or the answer to send instead (a
/// log-in for nobody, 403 for others).
fn page_admin(
    who: &Who,
    next: &str,
    csrf: Option<&str>,
) -> std::result::Result<AccountId, Box<Response>> {
    let caller = match csrf {
        Some(c) => who.caller_with_form(c),
        None => who.caller(),
    };
    match caller {
        Ok(Caller::Anonymous) => Err(Box::new(
            Redirect::to(&format!("/login?next={next}")).into_response(),
        )),
        Ok(c @ Caller::Account { id, .. }) if c.can(Scope::Admin) && c.acts_as(Role::Admin) => {
            Ok(id.clone())
        }
        Ok(_) => Err(Box::new(
            AccountsError::Forbidden("only an administrator may do this")
                .into_http()
                .as_page()
                .into_response(),
        )),
        Err(e) => Err(Box::new(e.as_page().into_response())),
    }
}

const ROLES: [&str; 3] = ["user", "moderator", "admin"];

/// A select's options: each value and whether it is `current`.
fn options<'a, S: From<&'a str>>(
    values: impl IntoIterator<Item = &'a str>,
    current: &str,
) -> Vec<(S, bool)> {
    values
        .into_iter()
        .map(|v| (S::from(v), v == current))
        .collect()
}

struct UserRow {
    id: String,
    email: String,
    role: &'static str,
    plan: String,
    suspended: bool,
    since: String,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage<'a> {
    csrf: &'a str,
    /// An invitation link just made (shown once).
    invitation: &'a str,
    invitation_days: u64,
    q: &'a UserQuery,
    plans: Vec<(String, bool)>,
    roles: Vec<(&'static str, bool)>,
    users: Vec<UserRow>,
    total: i64,
    shown: usize,
    next: String,
    first: String,
    error: &'a str,
}

fn query_string(q: &UserQuery, after: &str) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("q", &q.q),
        ("plan", &q.plan),
        ("role", &q.role),
        ("suspended", &q.suspended),
    ] {
        if !v.is_empty() {
            s.append_pair(k, v);
        }
    }
    if !after.is_empty() {
        s.append_pair("after", after);
    }
    s.finish()
}

async fn users_page(
    State(a): State<Arc<Accounts>>,
    who: Who,
    q: std::result::Result<Query<UserQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(res) = page_admin(&who, "/admin/users", None) {
        return *res;
    }
    render_users(
        &a,
        &who,
        q.map(|q| q.0).map_err(|e| bad_query(e.body_text())),
        StatusCode::OK,
        "",
    )
    .await
}

/// The users page for `q` (or its error), with an invitation link just made.
async fn render_users(
    a: &Accounts,
    who: &Who,
    q: Result<UserQuery>,
    ok: StatusCode,
    invitation: &str,
) -> Response {
    let (q, found) = match q {
        Ok(q) => {
            let found = a.find_users(&q, PAGE).await;
            (q, found)
        }
        Err(e) => (UserQuery::default(), Err(e)),
    };
    let (status, error, page_of) = match found {
        Ok(p) => (ok, String::new(), p),
        Err(e) => {
            let http = e.into_http();
            if http.status.is_server_error() {
                return http.as_page().into_response();
            }
            let empty = UserPage {
                users: vec![],
                total: 0,
                next: None,
            };
            (http.status, http.message, empty)
        }
    };
    let body = UsersPage {
        csrf: who.csrf().unwrap_or_default(),
        invitation,
        invitation_days: a.config.invitation_days,
        q: &q,
        plans: options(a.plans.tiers.keys().map(|p| p.as_str()), &q.plan),
        roles: options(ROLES, &q.role),
        shown: page_of.users.len(),
        users: page_of
            .users
            .iter()
            .map(|u| UserRow {
                id: u.id.to_string(),
                email: u.email.as_str().to_owned(),
                role: u.role.as_str(),
                plan: u.plan.clone(),
                suspended: u.suspended_at.is_some(),
                since: crate::pages::day(u.created_at),
            })
            .collect(),
        total: page_of.total,
        next: page_of
            .next
            .map(|n| query_string(&q, &n))
            .unwrap_or_default(),
        first: if q.after.is_empty() {
            String::new()
        } else {
            query_string(&q, "")
        },
        error: &error,
    }
    .render()
    .unwrap_or_default();
    (status, page("Users", body)).into_response()
}

/// `POST /admin/invitations`: an invitation link, shown once on the users page.
async fn invitation_form(
    State(a): State<Arc<Accounts>>,
    who: Who,
    headers: HeaderMap,
    f: FormResult<CsrfOnly>,
) -> Response {
    let me = match form_admin(&who, f) {
        Ok(me) => me,
        Err(res) => return *res,
    };
    let base = crate::api::base_url(&a, &headers);
    match crate::api::invitation_link(&a, Some(&me), &base).await {
        Ok(url) => {
            tracing::info!(target: "carrel::audit", event = "invitation", by = %me, "invitation made");
            render_users(
                &a,
                &who,
                Ok(UserQuery::default()),
                StatusCode::CREATED,
                &url,
            )
            .await
        }
        Err(e) => e.into_http().as_page().into_response(),
    }
}

/// `POST /admin/users/{id}/reset-link`: a one-time reset link for the
/// user, shown once on their page for the administrator to pass on.
async fn reset_link_form(
    State(a): State<Arc<Accounts>>,
    who: Who,
    headers: HeaderMap,
    Path(uid): Path<String>,
    f: FormResult<CsrfOnly>,
) -> Response {
    let me = match form_admin(&who, f) {
        Ok(me) => me,
        Err(res) => return *res,
    };
    let r = async {
        let acct = a.live_by_id(&uid).await?;
        let url = crate::api::reset_link(&a, &acct.id, &crate::api::base_url(&a, &headers)).await?;
        tracing::info!(target: "carrel::audit", event = "reset_link", account = %acct.id, by = %me, "reset link made");
        Ok::<_, AccountsError>(url)
    };
    match r.await {
        Ok(url) => {
            let view = UserView {
                link: &url,
                ..UserView::default()
            };
            render_user(&a, &who, &me, &uid, StatusCode::CREATED, view).await
        }
        Err(e) => user_error(&a, &who, &me, &uid, e).await,
    }
}

/// The administrator of a form with only a CSRF field, or the answer to send instead.
fn form_admin(who: &Who, f: FormResult<CsrfOnly>) -> std::result::Result<AccountId, Box<Response>> {
    let csrf = f.map(|f| f.0.csrf).unwrap_or_default();
    page_admin(who, "/admin/users", Some(&csrf))
}

#[derive(Deserialize, Default)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

#[derive(Template)]
#[template(path = "admin_user.html")]
struct UserDetail<'a> {
    csrf: &'a str,
    id: String,
    email: &'a str,
    role: &'static str,
    plan: &'a str,
    plans: Vec<(String, bool)>,
    roles: Vec<(&'static str, bool)>,
    suspended: bool,
    since: String,
    storage: String,
    myself: bool,
    notice: &'a str,
    error: &'a str,
    /// A reset link just made (shown once).
    link: &'a str,
    reset_minutes: f64,
}

/// What the user's page shows besides the user: a notice, an error, a reset link.
#[derive(Default)]
struct UserView<'a> {
    notice: &'a str,
    error: &'a str,
    link: &'a str,
}

impl<'a> UserView<'a> {
    fn error(error: &'a str) -> Self {
        Self {
            error,
            ..Self::default()
        }
    }
}

#[derive(Deserialize, Default)]
struct DoneQuery {
    done: Option<String>,
}

async fn render_user(
    a: &Accounts,
    who: &Who,
    me: &AccountId,
    uid: &str,
    status: StatusCode,
    view: UserView<'_>,
) -> Response {
    let r = async {
        let acct = a.live_by_id(uid).await?;
        let used = a.db.storage_used(&acct.id, Timestamp::now()).await?;
        let limits = a.plans.limits_of(&acct.plan);
        let body = UserDetail {
            csrf: who.csrf().unwrap_or_default(),
            id: acct.id.to_string(),
            email: acct.email.as_str(),
            role: acct.role.as_str(),
            plan: &acct.plan,
            plans: options(a.plans.tiers.keys().map(|p| p.as_str()), &acct.plan),
            roles: options(ROLES, acct.role.as_str()),
            suspended: acct.suspended_at.is_some(),
            since: crate::pages::day(acct.created_at),
            storage: match limits.storage {
                Some(q) => format!("{} of {q}", size(used)),
                None => format!("{} (no limit)", size(used)),
            },
            myself: &acct.id == me,
            notice: view.notice,
            error: view.error,
            link: view.link,
            reset_minutes: a.config.reset_minutes,
        }
        .render()
        .unwrap_or_default();
        Ok::<_, AccountsError>((status, page(acct.email.as_str(), body)).into_response())
    };
    r.await
        .unwrap_or_else(|e| e.into_http().as_page().into_response())
}

/// The user's page with the error of a form that failed.
async fn user_error(
    a: &Accounts,
    who: &Who,
    me: &AccountId,
    uid: &str,
    e: AccountsError,
) -> Response {
    let http = e.into_http();
    render_user(a, who, me, uid, http.status, UserView::error(&http.message)).await
}

async fn user_page(
    State(a): State<Arc<Accounts>>,
    who: Who,
    Path(uid): Path<String>,
    q: std::result::Result<Query<DoneQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let me = match page_admin(&who, "/admin/users", None) {
        Ok(me) => me,
        Err(res) => return *res,
    };
    let notice = match q.ok().and_then(|q| q.0.done).as_deref() {
        Some("plan") => "The plan is changed.",
        Some("role") => "The role is changed.",
        Some("suspended") => "The account is suspended; its sessions have ended.",
        Some("active") => "The account may log in again.",
        _ => "",
    };
    let view = UserView {
        notice,
        ..UserView::default()
    };
    render_user(&a, &who, &me, &uid, StatusCode::OK, view).await
}

#[derive(Deserialize, Default)]
struct ChangeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    plan: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    suspend: String,
}

/// Applies a change from a form and goes back to the user's page.
async fn change_form(
    a: &Accounts,
    who: &Who,
    uid: &str,
    csrf: &str,
    change: UserChange,
    done: &str,
) -> Response {
    let me = match page_admin(who, "/admin/users", Some(csrf)) {
        Ok(me) => me,
        Err(res) => return *res,
    };
    let r = async {
        let acct = a.live_by_id(uid).await?;
        a.change_user(Some(&me), &acct.id, &change).await
    };
    match r.await {
        Ok(acct) => Redirect::to(&format!("/admin/users/{}?done={done}", acct.id)).into_response(),
        Err(e) => user_error(a, who, &me, uid, e).await,
    }
}

type FormResult<T> = std::result::Result<Form<T>, axum::extract::rejection::FormRejection>;

/// A change form's handler: `pick` reads the change and names its notice.
async fn form_change(
    a: Arc<Accounts>,
    who: Who,
    uid: String,
    f: FormResult<ChangeForm>,
    pick: fn(ChangeForm) -> (UserChange, &'static str),
) -> Response {
    let f = f.map(|f| f.0).unwrap_or_default();
    let csrf = f.csrf.clone();
    let (change, done) = pick(f);
    change_form(&a, &who, &uid, &csrf, change, done).await
}

fn plan_change(f: ChangeForm) -> (UserChange, &'static str) {
    let plan = Some(f.plan);
    (
        UserChange {
            plan,
            ..UserChange::default()
        },
        "plan",
    )
}

fn role_change(f: ChangeForm) -> (UserChange, &'static str) {
    let role = Some(f.role);
    (
        UserChange {
            role,
            ..UserChange::default()
        },
        "role",
    )
}

fn suspension_change(f: ChangeForm) -> (UserChange, &'static str) {
    let on = f.suspend == "yes";
    let done = if on { "suspended" } else { "active" };
    (
        UserChange {
            suspended: Some(on),
            ..UserChange::default()
        },
        done,
    )
}

#[derive(Deserialize, Default)]
struct DeleteForm {
    #[serde(default)]
    csrf: String,
    /// `delete` or `transfer`.
    #[serde(default)]
    files: String,
    #[serde(default)]
    transfer_to: String,
    #[serde(default)]
    confirm: String,
}

async fn delete_form(
    State(a): State<Arc<Accounts>>,
    who: Who,
    Path(uid): Path<String>,
    f: FormResult<DeleteForm>,
) -> Response {
    let f = f.map(|f| f.0).unwrap_or_default();
    let me = match page_admin(&who, "/admin/users", Some(&f.csrf)) {
        Ok(me) => me,
        Err(res) => return *res,
    };
    let r = async {
        let acct = a.live_by_id(&uid).await?;
        let to = match f.files.as_str() {
            "delete" => None,
            "transfer" if !f.transfer_to.trim().is_empty() => Some(f.transfer_to.trim()),
            "transfer" => {
                return Err(AccountsError::BadRequest(
                    "invalid_transfer",
                    "name the account (its e-mail address) that gets the files".into(),
                ));
            }
            _ => {
                return Err(AccountsError::BadRequest(
                    "invalid_form",
                    "choose whether the files are deleted or given to another account".into(),
                ));
            }
        };
        if f.confirm != "yes" {
            return Err(AccountsError::BadRequest(
                "not_confirmed",
                "tick the box to confirm the deletion".into(),
            ));
        }
        let d = a.delete_user(Some(&me), &acct.id, to).await?;
        Ok((acct, d))
    };
    match r.await {
        Ok((acct, d)) => {
            let what = match d {
                Disposal::Deleted(n) => format!("its {n} file(s) deleted"),
                Disposal::Transferred(n) => {
                    format!("its {n} file(s) given to {}", f.transfer_to.trim())
                }
            };
            let body = format!(
                "<section class=\"card\"><h1>Account deleted</h1><p class=\"ok\" role=\"status\">{} is deleted, {}; \
                 its sessions and tokens have ended.</p><p><a class=\"btn secondary\" href=\"/admin/users\">Back to the users</a></p></section>",
                escape(acct.email.as_str()),
                escape(&what)
            );
            page("Account deleted", body).into_response()
        }
        Err(e) => user_error(&a, &who, &me, &uid, e).await,
    }
}

#[derive(Template)]
#[template(path = "admin_usage.html")]
struct UsagePage {
    u: Usage,
    total: String,
    plans: Vec<(String, i64, i64, String)>,
    top: Vec<(String, String, String, i64, String)>,
    traffic_chart: String,
    uploads_chart: String,
    traffic: Vec<(String, i64, String)>,
    uploads: Vec<(String, i64, String)>,
    served: String,
    stored: i64,
}

async fn usage_page(State(a): State<Arc<Accounts>>, who: Who) -> Response {
    if let Err(res) = page_admin(&who, "/admin/usage", None) {
        return *res;
    }
    let u = match a.usage(30).await {
        Ok(u) => u,
        Err(e) => return e.into_http().as_page().into_response(),
    };
    let rows = |v: &[DayRow]| {
        v.iter()
            .rev()
            .map(|d| (d.date.clone(), d.count, size(d.bytes)))
            .collect()
    };
    let body = UsagePage {
        total: size(u.storage.bytes),
        plans: u
            .storage
            .per_plan
            .iter()
            .map(|p| {
                (
                    p.plan.clone().unwrap_or_else(|| "(no account)".into()),
                    p.accounts,
                    p.files,
                    size(p.bytes),
                )
            })
            .collect(),
        top: u
            .storage
            .top
            .iter()
            .map(|t| {
                (
                    t.id.clone(),
                    t.email.clone(),
                    t.plan.clone(),
                    t.files,
                    size(t.bytes),
                )
            })
            .collect(),
        traffic_chart: bar_chart("Bytes served per day", &u.traffic, |d| d.bytes, size),
        uploads_chart: bar_chart(
            "Files uploaded per day",
            &u.uploads,
            |d| d.count,
            |n| format!("{n} file(s)"),
        ),
        traffic: rows(&u.traffic),
        uploads: rows(&u.uploads),
        served: size(u.traffic.iter().map(|d| d.bytes).sum()),
        stored: u.uploads.iter().map(|d| d.count).sum(),
        u,
    }
    .render()
    .unwrap_or_default();
    page("Usage", body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_day_fills_the_gaps() {
        let rows = [DayCount {
            day: 20_001,
            count: 2,
            bytes: 10,
        }];
        let days = every_day(20_000, 20_002, &rows);
        assert_eq!(days.len(), 3);
        assert_eq!(
            days[0],
            DayRow {
                date: "2024-10-04".into(),
                count: 0,
                bytes: 0
            }
        );
        assert_eq!((days[1].count, days[1].bytes), (2, 10));
        assert_eq!(days[2].date, "2024-10-06");
    }

    #[test]
    fn the_chart_has_a_bar_a_day_scaled_to_the_largest() {
        let rows = every_day(
            20_000,
            20_003,
            &[
                DayCount {
                    day: 20_001,
                    count: 1,
                    bytes: 50,
                },
                DayCount {
                    day: 20_003,
                    count: 1,
                    bytes: 100,
                },
            ],
        );
        let svg = bar_chart("Served <bytes>", &rows, |d| d.bytes, |n| format!("{n} B"));
        assert_eq!(svg.matches("<rect").count(), 4);
        assert!(svg.contains("aria-label=\"Served &lt;bytes&gt;\""));
        assert!(
            svg.contains("height=\"116.0\"><title>2024-10-07: 100 B</title>"),
            "{svg}"
        );
        assert!(
            svg.contains("height=\"58.0\"><title>2024-10-05: 50 B</title>"),
            "{svg}"
        );
        assert!(
            svg.contains("height=\"0.0\"><title>2024-10-04: 0 B</title>"),
            "{svg}"
        );
    }
}
