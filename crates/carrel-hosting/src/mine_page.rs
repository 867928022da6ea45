//! The "my files" page at `/files` (`GET`; tus keeps `POST /files`): an
//! account's files and folders in a table with search, sortable columns
//! and pages; checkboxes to delete or move many at once; rename; new
//! folders; and per file its links with an editor (expiry, password,
//! download limit, off/on) and their download counts.
//!
//! Plain HTML forms that work without JavaScript, each with the session's
//! CSRF token (as the account pages); they post to `/files/forms/…` and
//! come back to the same listing (`back`) with a notice. Logged-out
//! visitors go to `/login`.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use carrel_core::account::{Caller, Scope};
use carrel_core::ids::AccountId;
use carrel_core::name::FileName;
use carrel_core::time::Timestamp;
use carrel_db::{FolderFilter, Share};
use carrel_http::auth::Who;
use carrel_http::page::{Html, human_size, layout};

use crate::Hosting;
use crate::error::{HostingError, Result};
use crate::manage::ShareChange;
use crate::mine::{self, ListParams, NewLink};

pub fn routes() -> Router<Arc<Hosting>> {
    Router::new()
        .route("/files", get(page))
        .route("/files/forms/bulk", post(bulk))
        .route("/files/forms/folder", post(create_folder))
        .route("/files/forms/rename", post(rename))
        .route("/files/forms/delete-folder", post(delete_folder))
        .route("/files/forms/link-new", post(link_new))
        .route("/files/forms/link", post(link_edit))
}

/// Files per page.
const PER_PAGE: i64 = 50;
/// The largest form body read.
const MAX_FORM: usize = 1024 * 1024;

const CSS: &str = r#"
main { max-width:1100px; }
h2 { font-size:1.15rem; margin:0 0 .6rem; }
.row { display:flex; justify-content:space-between; align-items:center; gap:1rem; flex-wrap:wrap; }
.tools { display:flex; gap:.6rem; flex-wrap:wrap; align-items:center; margin:.4rem 0 1rem; }
.tools form { display:flex; gap:.4rem; align-items:center; margin:0; }
.tools input[type=search], .tools input[type=text] { width:16rem; max-width:100%; }
input[type=search], input[type=number], select { font-size:.95rem; padding:.45rem .6rem; border:1px solid var(--line); border-radius:8px; background:var(--bg); color:var(--fg); }
input[type=text] { font-size:.95rem; padding:.45rem .6rem; }
.btn.small, button.small { padding:.35rem .75rem; font-size:.9rem; }
.btn.danger { background:var(--bad); }
.crumbs { margin:.2rem 0 .8rem; color:var(--muted); }
table.files th { white-space:nowrap; }
table.files th a { color:var(--fg); text-decoration:none; }
table.files td.links { width:48%; }
table.files .fname { min-width:10rem; }
.ficon { width:1.1em; height:.9em; fill:var(--accent); opacity:.8; vertical-align:-.05em; margin-right:.4rem; }
.newlink { border-top:1px solid var(--line); padding-top:.5rem; margin-top:.3rem; }
.newlink .legend { width:100%; font-size:.85rem; font-weight:600; color:var(--muted); }
table.files th a:hover { text-decoration:underline; }
table.files td { vertical-align:top; }
table.files td.pick { width:2rem; }
table.files .fname { font-weight:600; word-break:break-word; }
table.files .folder .fname a { color:var(--fg); }
table.files .sub { color:var(--muted); font-size:.85rem; }
details > summary { cursor:pointer; color:var(--accent); font-size:.9rem; }
details[open] > summary { margin-bottom:.4rem; }
.panel { background:var(--bg); border:1px solid var(--line); border-radius:8px; padding:.6rem .8rem; margin:.3rem 0 .6rem; }
.panel form { margin:.2rem 0; }
.link { border-bottom:1px dashed var(--line); padding:.5rem 0; }
.link:last-of-type { border-bottom:0; }
.link .url { font-family:ui-monospace, monospace; font-size:.85rem; word-break:break-all; }
.grid { display:flex; flex-wrap:wrap; gap:.5rem 1rem; align-items:flex-end; margin:.4rem 0; }
.grid label { display:flex; flex-direction:column; gap:.2rem; font-size:.85rem; color:var(--muted); }
.grid label.check { flex-direction:row; align-items:center; gap:.35rem; color:var(--fg); }
.grid input[type=text], .grid input[type=password] { width:11rem; font-size:.9rem; padding:.35rem .5rem; }
.grid input[type=number] { width:7rem; }
.badge { display:inline-block; font-size:.75rem; padding:.05rem .45rem; border-radius:999px; border:1px solid var(--line); color:var(--muted); margin-left:.3rem; }
.badge.on { color:var(--ok); border-color:var(--ok); }
.badge.off { color:var(--bad); border-color:var(--bad); }
.bulk { display:flex; gap:.5rem; align-items:center; flex-wrap:wrap; margin-top:1rem; }
.pager { display:flex; gap:1rem; align-items:center; justify-content:center; margin-top:1rem; }
.ok { color:var(--ok); }
.linkbtn { background:none; border:0; color:var(--bad); cursor:pointer; font-size:.9rem; padding:0; }
.empty { text-align:center; padding:1.5rem 0; }
"#;

struct FolderRow {
    id: String,
    name: String,
    count: String,
    size: String,
    created: String,
}

struct LinkRow {
    id: String,
    url: String,
    state: &'static str,
    state_class: &'static str,
    downloads: String,
    expires: String,
    has_password: bool,
    disabled: bool,
    max: String,
}

struct FileRow {
    id: String,
    name: String,
    size: String,
    created: String,
    folder: String,
    links: Vec<LinkRow>,
    summary: String,
    open: bool,
}

struct SortLink {
    label: &'static str,
    href: String,
    mark: &'static str,
    aria: &'static str,
    num: bool,
}

#[derive(Template)]
#[template(path = "files.html")]
struct MinePage {
    csrf: String,
    back: String,
    q: String,
    folder_id: String,
    folder_name: String,
    listing_all: bool,
    folders: Vec<FolderRow>,
    targets: Vec<(String, String)>,
    files: Vec<FileRow>,
    sorts: Vec<SortLink>,
    shown: String,
    prev: Option<String>,
    next: Option<String>,
    page_of: String,
    notice: String,
    error: String,
    expiries: Vec<(&'static str, &'static str)>,
}

/// What the page was asked to show (the query string, as sent).
#[derive(serde::Deserialize, Default, Clone, Debug)]
struct View {
    q: Option<String>,
    sort: Option<String>,
    order: Option<String>,
    folder: Option<String>,
    page: Option<i64>,
    /// A change just made (a key of [`notice`]) and how many it touched.
    done: Option<String>,
    n: Option<u64>,
    /// The file whose links stay open.
    open: Option<String>,
}

impl View {
    /// The listing part as a query string (no notice), for links and `back`.
    fn query(&self, overrides: &[(&str, Option<String>)]) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        let mut put = |k: &str, v: Option<String>| {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                s.append_pair(k, &v);
            }
        };
        for (k, v) in [
            ("q", self.q.clone()),
            ("sort", self.sort.clone()),
            ("order", self.order.clone()),
            ("folder", self.folder.clone()),
            ("page", self.page.filter(|&p| p > 1).map(|p| p.to_string())),
        ] {
            match overrides.iter().find(|(o, _)| *o == k) {
                Some((_, o)) => put(k, o.clone()),
                None => put(k, v),
            }
        }
        s.finish()
    }

    /// The listing a form came from (its `back` field), keeping only what a listing has.
    fn from_back(back: &str) -> Self {
        let mut v = View::default();
        for (k, val) in form_urlencoded::parse(back.as_bytes()) {
            let val = val.chars().take(300).collect::<String>();
            match &*k {
                "q" => v.q = Some(val),
                "sort" => v.sort = Some(val),
                "order" => v.order = Some(val),
                "folder" => v.folder = Some(val),
                "page" => v.page = val.parse().ok(),
                _ => {}
            }
        }
        v
    }
}

/// The fixed messages a finished change shows (nothing the request sent is echoed).
fn notice(done: &str, n: u64) -> String {
    let files = |n: u64| {
        if n == 1 {
            "1 file".to_owned()
        } else {
            format!("{n} files")
        }
    };
    match done {
        "deleted" => format!("Deleted {}.", files(n)),
        "moved" => format!("Moved {}.", files(n)),
        "renamed" => "Renamed.".into(),
        "folder-created" => "Folder created.".into(),
        "folder-deleted" => "Folder deleted; its files are kept outside any folder.".into(),
        "link-created" => "New link made.".into(),
        "link-saved" => "Link saved.".into(),
        "link-deleted" => "Link deleted.".into(),
        _ => String::new(),
    }
}

fn day(t: Timestamp) -> String {
    chrono::DateTime::from_timestamp(t.0, 0)
        .map_or_else(String::new, |d| d.format("%Y-%m-%d").to_string())
}

fn minute(t: Timestamp) -> String {
    chrono::DateTime::from_timestamp(t.0, 0)
        .map_or_else(String::new, |d| d.format("%Y-%m-%d %H:%M UTC").to_string())
}

fn link_row(h: &Hosting, headers: &HeaderMap, s: &Share, now: Timestamp) -> LinkRow {
    let limit_used = s.rules.max_downloads.is_some_and(|m| s.download_count >= m);
    let (state, state_class) = match s.rules.check_open(now) {
        Err(carrel_core::share::Closed::Disabled(_)) => ("off", "off"),
        Err(_) => ("expired", "off"),
        Ok(()) if limit_used => ("limit reached", "off"),
        Ok(()) => ("active", "on"),
    };
    LinkRow {
        id: s.id.to_string(),
        url: h.share_url(headers, &s.id),
        state,
        state_class,
        downloads: match s.rules.max_downloads {
            Some(m) => format!("{} of {m}", s.download_count),
            None => s.download_count.to_string(),
        },
        expires: s.rules.expires_at.map_or("never".into(), minute),
        has_password: s.password_hash.is_some(),
        disabled: s.rules.disabled_reason.is_some(),
        max: s
            .rules
            .max_downloads
            .map(|m| m.to_string())
            .unwrap_or_default(),
    }
}

/// Whom the page is for: an account, or a redirect to the log-in page.
fn viewer(who: &Who) -> std::result::Result<AccountId, Box<Response>> {
    match who.peek() {
        Caller::Account { id, .. } if who.peek().can(Scope::Read) => Ok(id.clone()),
        Caller::Account { .. } => Err(Box::new(
            HostingError::MissingScope("read")
                .into_http()
                .as_page()
                .into_response(),
        )),
        Caller::Anonymous => Err(Box::new(Redirect::to("/login?next=/files").into_response())),
    }
}

async fn render(
    h: &Hosting,
    who: &Who,
    headers: &HeaderMap,
    view: &View,
    status: StatusCode,
    error: &str,
) -> Response {
    let me = match viewer(who) {
        Ok(me) => me,
        Err(r) => return *r,
    };
    let r = async {
        let page = view.page.unwrap_or(1).clamp(1, 20_000);
        let params = ListParams {
            q: view.q.clone(),
            sort: view.sort.clone(),
            order: view.order.clone(),
            folder: view.folder.clone(),
            offset: Some((page - 1) * PER_PAGE),
            limit: Some(PER_PAGE),
        };
        let searching = view.q.as_deref().is_some_and(|q| !q.trim().is_empty());
        // The top level shows folders and the files in none; a search looks everywhere.
        let default = if searching {
            FolderFilter::Any
        } else {
            FolderFilter::TopLevel
        };
        let query = mine::file_query(h, &me, &params, default).await?;
        let (files, total) = h.db.list_files(&query).await?;
        let folders = h.db.owned_folders(&me).await?;
        let ids: Vec<_> = files.iter().map(|f| f.id.clone()).collect();
        let shares = h.db.shares_of_files(&ids).await?;
        let links = mine::links_by_file(&shares);
        let now = Timestamp::now();
        let current = match &query.folder {
            FolderFilter::In(id) => folders.iter().find(|f| &f.folder.id == id),
            _ => None,
        };
        let folder_name_of = |id: &Option<carrel_core::ids::FolderId>| {
            id.as_ref()
                .and_then(|id| folders.iter().find(|f| &f.folder.id == id))
                .map(|f| f.folder.name.to_string())
                .unwrap_or_default()
        };
        let show_folders = query.folder == FolderFilter::TopLevel && !searching && page == 1;
        let sort_key = match query.sort {
            carrel_db::FileSort::Name => "name",
            carrel_db::FileSort::Size => "size",
            carrel_db::FileSort::Created => "created",
        };
        let sorts = [
            ("name", "Name", false),
            ("size", "Size", true),
            ("created", "Uploaded", false),
        ]
        .into_iter()
        .map(|(key, label, num)| {
            let active = key == sort_key;
            // A click on the sorted column turns its order round; others start from their natural order.
            let order = match (active, query.descending) {
                (true, true) => "asc",
                (true, false) => "desc",
                (false, _) if key == "name" => "asc",
                (false, _) => "desc",
            };
            SortLink {
                label,
                href: format!(
                    "/files?{}",
                    view.query(&[
                        ("sort", Some(key.into())),
                        ("order", Some(order.into())),
                        ("page", None),
                    ])
                ),
                mark: match (active, query.descending) {
                    (false, _) => "",
                    (true, false) => " ▲",
                    (true, true) => " ▼",
                },
                aria: match (active, query.descending) {
                    (false, _) => "none",
                    (true, false) => "ascending",
                    (true, true) => "descending",
                },
                num,
            }
        })
        .collect();
        let pages = ((total + PER_PAGE - 1) / PER_PAGE).max(1);
        let at = |p: i64| format!("/files?{}", view.query(&[("page", Some(p.to_string()))]));
        let first = query.offset + 1;
        let last = query.offset + files.len() as i64;
        let body = MinePage {
            csrf: who.csrf().unwrap_or_default().to_owned(),
            back: view.query(&[]),
            q: view.q.clone().unwrap_or_default(),
            folder_id: current.map(|f| f.folder.id.to_string()).unwrap_or_default(),
            folder_name: current
                .map(|f| f.folder.name.to_string())
                .unwrap_or_default(),
            listing_all: query.folder == FolderFilter::Any,
            folders: if show_folders {
                folders
                    .iter()
                    .map(|f| FolderRow {
                        id: f.folder.id.to_string(),
                        name: f.folder.name.to_string(),
                        count: if f.files == 1 {
                            "1 file".into()
                        } else {
                            format!("{} files", f.files)
                        },
                        size: human_size(f.bytes.max(0) as u64),
                        created: day(f.folder.created_at),
                    })
                    .collect()
            } else {
                Vec::new()
            },
            targets: folders
                .iter()
                .map(|f| (f.folder.id.to_string(), f.folder.name.to_string()))
                .collect(),
            files: files
                .iter()
                .map(|f| {
                    let ls = links.get(&f.id).map_or(&[][..], Vec::as_slice);
                    let downloads: i64 = ls.iter().map(|s| s.download_count).sum();
                    let n = ls.len();
                    FileRow {
                        id: f.id.to_string(),
                        name: f.name.to_string(),
                        size: human_size(f.size.max(0) as u64),
                        created: day(f.created_at),
                        folder: folder_name_of(&f.folder),
                        summary: format!(
                            "{n} link{} · {downloads} download{}",
                            if n == 1 { "" } else { "s" },
                            if downloads == 1 { "" } else { "s" }
                        ),
                        links: ls.iter().map(|s| link_row(h, headers, s, now)).collect(),
                        open: view.open.as_deref() == Some(f.id.as_str()),
                    }
                })
                .collect(),
            sorts,
            shown: if total == 0 {
                String::new()
            } else {
                format!(
                    "{first}–{last} of {total} file{}",
                    if total == 1 { "" } else { "s" }
                )
            },
            prev: (page > 1).then(|| at(page - 1)),
            next: (page < pages).then(|| at(page + 1)),
            page_of: format!("Page {page} of {pages}"),
            notice: view
                .done
                .as_deref()
                .map(|d| notice(d, view.n.unwrap_or(0)))
                .unwrap_or_default(),
            error: error.to_owned(),
            expiries: vec![
                ("1h", "1 hour"),
                ("1d", "1 day"),
                ("7d", "7 days"),
                ("30d", "30 days"),
                ("365d", "1 year"),
            ],
        }
        .render()
        .unwrap_or_default();
        Ok::<_, HostingError>((status, Html(layout("My files", CSS, &body))).into_response())
    };
    r.await
        .unwrap_or_else(|e| e.into_http().as_page().into_response())
}

async fn page(
    State(h): State<Arc<Hosting>>,
    who: Who,
    headers: HeaderMap,
    q: std::result::Result<Query<View>, axum::extract::rejection::QueryRejection>,
) -> Response {
    match q {
        Ok(Query(view)) => render(&h, &who, &headers, &view, StatusCode::OK, "").await,
        Err(e) => HostingError::BadRequest("invalid_query", e.body_text())
            .into_http()
            .as_page()
            .into_response(),
    }
}

/// A posted form's fields (repeated names kept, as for checkboxes).
struct Fields(Vec<(String, String)>);

impl Fields {
    async fn read(body: axum::body::Body) -> Result<Self> {
        let bytes = axum::body::to_bytes(body, MAX_FORM)
            .await
            .map_err(|_| HostingError::BodyTooLarge(MAX_FORM))?;
        Ok(Self(
            form_urlencoded::parse(&bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ))
    }

    fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn on(&self, name: &str) -> bool {
        !self.get(name).is_empty()
    }
}

/// What a form did: back to its listing with a notice, or the listing
/// again with the error (and its status).
async fn answer(
    h: &Hosting,
    who: &Who,
    headers: &HeaderMap,
    view: View,
    result: Result<Done>,
) -> Response {
    match result {
        Ok((done, n, open)) => {
            let mut to = format!("/files?{}", view.query(&[]));
            let mut s = form_urlencoded::Serializer::new(String::new());
            s.append_pair("done", done).append_pair("n", &n.to_string());
            if let Some(o) = open {
                s.append_pair("open", &o);
            }
            if !to.ends_with('?') {
                to.push('&');
            }
            to.push_str(&s.finish());
            Redirect::to(&to).into_response()
        }
        Err(HostingError::LoginRequired) => Redirect::to("/login?next=/files").into_response(),
        Err(e @ HostingError::Http(_)) => e.into_http().as_page().into_response(),
        Err(e) => {
            let http = e.into_http();
            render(h, who, headers, &view, http.status, &http.message).await
        }
    }
}

/// The session's account for a form post (its `csrf` field checked).
fn form_account(who: &Who, f: &Fields) -> Result<AccountId> {
    match who
        .caller_with_form(f.get("csrf"))
        .map_err(HostingError::Http)?
    {
        c @ Caller::Account { id, .. } if c.can(Scope::Manage) => Ok(id.clone()),
        Caller::Account { .. } => Err(HostingError::MissingScope("manage")),
        Caller::Anonymous => Err(HostingError::LoginRequired),
    }
}

/// What a form did: its notice, how many it changed, and the file whose
/// links stay open.
type Done = (&'static str, u64, Option<String>);

/// Runs a form post: reads its fields, checks the session and its CSRF
/// token, does `act` for the account (which may change the listing to go
/// back to), and answers (see [`answer`]).
async fn form(
    h: Arc<Hosting>,
    who: Who,
    headers: HeaderMap,
    body: axum::body::Body,
    act: impl AsyncFnOnce(&Hosting, AccountId, &Fields, &mut View) -> Result<Done>,
) -> Response {
    let f = match Fields::read(body).await {
        Ok(f) => f,
        Err(e) => return e.into_http().as_page().into_response(),
    };
    let mut view = View::from_back(f.get("back"));
    let result = match form_account(&who, &f) {
        Ok(me) => act(&h, me, &f, &mut view).await,
        Err(e) => Err(e),
    };
    answer(&h, &who, &headers, view, result).await
}

async fn bulk(
    State(h): State<Arc<Hosting>>,
    who: Who,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    form(h, who, headers, body, async |h, me, f, _| {
        let ids = f.all("ids");
        if ids.is_empty() {
            return Err(HostingError::BadRequest(
                "no_selection",
                "Tick the files to change first.".into(),
            ));
        }
        match f.get("action") {
            "delete" => Ok((
                "deleted",
                mine::delete_own(h, &me, &ids).await? as u64,
                None,
            )),
            "move" => {
                let folder = match f.get("folder") {
                    "" | "none" => None,
                    id => Some(id),
                };
                Ok((
                    "moved",
                    mine::move_own(h, &me, &ids, folder).await? as u64,
                    None,
                ))
            }
            _ => Err(HostingError::BadRequest(
                "invalid_action",
                "the action is delete or move".into(),
            )),
        }
    })
    .await
}

async fn create_folder(
    State(h): State<Arc<Hosting>>,
    who: Who,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    form(h, who, headers, body, async |h, me, f, _| {
        let name = FileName::new(f.get("name").trim())?;
        mine::new_folder(h, &me, name).await?;
        Ok(("folder-created", 1, None))
    })
    .await
}

async fn rename(
    State(h): State<Arc<Hosting>>,
    who: Who,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    form(h, who, headers, body, async |h, me, f, _| {
        let name = f.get("name").trim();
        match f.get("kind") {
            "folder" => mine::rename_own_folder(h, &me, f.get("id"), name).await?,
            _ => {
                let file = mine::own_file(h, &me, f.get("id")).await?;
                h.db.rename_file(&file.id, &FileName::new(name)?).await?;
                h.forget_file(&file.id);
            }
        }
        Ok(("renamed", 1, None))
    })
    .await
}

async fn delete_folder(
    State(h): State<Arc<Hosting>>,
    who: Who,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    form(h, who, headers, body, async |h, me, f, view| {
        mine::delete_own_folder(h, &me, f.get("id")).await?;
        // The listing of the folder gone goes back to all files.
        if view.folder.as_deref() == Some(f.get("id")) {
            view.folder = None;
        }
        Ok(("folder-deleted", 1, None))
    })
    .await
}

/// A download limit as typed: empty for none.
fn limit_field(v: &str) -> Result<Option<i64>> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    v.parse().map(Some).map_err(|_| {
        HostingError::BadRequest(
            "invalid_max_downloads",
            "the download limit is a whole number from 1, or empty for none".into(),
        )
    })
}

async fn link_new(
    State(h): State<Arc<Hosting>>,
    who: Who,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    form(h, who, headers, body, async |h, me, f, _| {
        let file = mine::own_file(h, &me, f.get("file")).await?;
        let expires = match f.get("expires") {
            "" | "never" => None,
            e => Some(e.to_owned()),
        };
        let link = NewLink {
            expires,
            password: Some(f.get("password").to_owned()).filter(|p| !p.is_empty()),
            max_downloads: limit_field(f.get("max_downloads"))?,
        };
        mine::make_link(h, &file.id, link).await?;
        Ok(("link-created", 1, Some(file.id.to_string())))
    })
    .await
}

async fn link_edit(
    State(h): State<Arc<Hosting>>,
    who: Who,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    form(h, who, headers, body, async |h, me, f, _| {
        let share = mine::own_share(h, &me, f.get("id")).await?;
        let open = match &share.target {
            carrel_db::ShareTarget::File(id) => Some(id.to_string()),
            carrel_db::ShareTarget::Folder(_) => None,
        };
        if f.get("action") == "delete" {
            mine::delete_own_link(h, &me, f.get("id")).await?;
            return Ok(("link-deleted", 1, open));
        }
        let change = ShareChange {
            expires: match f.get("expires") {
                "" | "keep" => None,
                "never" => Some(None),
                e => Some(Some(e.to_owned())),
            },
            max_downloads: Some(limit_field(f.get("max_downloads"))?),
            password: if f.on("remove_password") {
                Some(None)
            } else {
                Some(f.get("password").to_owned())
                    .filter(|p| !p.is_empty())
                    .map(Some)
            },
            disabled_reason: None,
            disabled: Some(f.on("disabled")),
        };
        mine::edit_own_link(h, &me, f.get("id"), change).await?;
        Ok(("link-saved", 1, open))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_keeps_only_the_listing() {
        let v = View::from_back("q=a%26b&sort=size&evil=1&page=3&done=deleted");
        assert_eq!(v.q.as_deref(), Some("a&b"));
        assert_eq!(v.query(&[]), "q=a%26b&sort=size&page=3");
        assert_eq!(v.query(&[("page", None)]), "q=a%26b&sort=size");
        assert_eq!(View::default().query(&[]), "");
    }

    #[test]
    fn notices_are_fixed_texts() {
        assert_eq!(notice("deleted", 1), "Deleted 1 file.");
        assert_eq!(notice("moved", 3), "Moved 3 files.");
        assert_eq!(notice("<script>", 1), "");
    }
}
