//! Your files on a carrel server, over its JSON API with an API token:
//! `carrel ls`, `carrel rm`, `carrel mv`, `carrel mkdir`, `carrel rename`
//! and `carrel share create|show|edit|disable|enable|rm`.

use anyhow::{Context, bail};
use indicatif::HumanBytes;
use reqwest::Method;
use serde_json::{Value, json};

/// Where the server is and who you are.
#[derive(clap::Args, Clone)]
pub struct Conn {
    /// The carrel server.
    #[arg(long, env = "CARREL_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// An API token (`crl_…`, made on the account page or with `carrel admin
    /// create-token`): `read` lists, `manage` changes.
    #[arg(long, env = "CARREL_TOKEN", hide_env_values = true)]
    token: String,
    /// Print the server's JSON answer instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  carrel ls\n  carrel ls --search report --sort size\n  carrel ls --folder Papers --json"
)]
pub struct LsArgs {
    #[command(flatten)]
    conn: Conn,
    /// Only the files of this folder (its name or id), or `none` for files in no folder.
    #[arg(long)]
    folder: Option<String>,
    /// Only files whose name contains this (any case).
    #[arg(long, short)]
    search: Option<String>,
    /// Order by name, size or created (the upload time).
    #[arg(long, default_value = "created", value_parser = ["name", "size", "created"])]
    sort: String,
    /// Ascending (the default for name) or descending (for size and created).
    #[arg(long, value_parser = ["asc", "desc"])]
    order: Option<String>,
    /// Files per page (1 to 500).
    #[arg(long, default_value_t = 100)]
    limit: i64,
    /// Files to skip (for the next page).
    #[arg(long, default_value_t = 0)]
    offset: i64,
}

#[derive(clap::Args)]
#[command(
    after_help = "Deletes all the files named or none: if one id is not yours, nothing is deleted.\n\
    An id that starts with `-` goes after `--`: carrel rm -- -hL8eH9AzH0TKitvfFsctA"
)]
pub struct RmArgs {
    #[command(flatten)]
    conn: Conn,
    /// The ids of the files (as `carrel ls` shows them).
    #[arg(required = true)]
    ids: Vec<String>,
}

#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  carrel mv ID1 ID2 --to Papers\n  carrel mv ID --to none\n  \
    carrel mv --to Papers -- -hL8eH9AzH0TKitvfFsctA   (an id that starts with `-` goes after `--`)"
)]
pub struct MvArgs {
    #[command(flatten)]
    conn: Conn,
    /// The ids of the files.
    #[arg(required = true)]
    ids: Vec<String>,
    /// The folder (name or id), or `none` to take the files out of theirs.
    #[arg(long)]
    to: String,
}

#[derive(clap::Args)]
pub struct MkdirArgs {
    #[command(flatten)]
    conn: Conn,
    /// The new folder's name.
    name: String,
}

#[derive(clap::Args)]
pub struct RenameArgs {
    #[command(flatten)]
    conn: Conn,
    /// A file's id, or a folder's with --folder.
    id: String,
    /// The new name.
    name: String,
    /// Rename a folder (ID is a folder's name or id).
    #[arg(long)]
    folder: bool,
}

#[derive(clap::Subcommand)]
pub enum ShareCommand {
    /// Make another link to a file; prints its URL.
    Create {
        #[command(flatten)]
        conn: Conn,
        /// The file's id.
        file: String,
        /// The link expires after this long (30m, 12h, 7d, 2w).
        #[arg(long)]
        expires: Option<String>,
        /// Visitors must type this password.
        #[arg(long, env = "CARREL_SHARE_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// At most this many downloads.
        #[arg(long)]
        max_downloads: Option<i64>,
    },
    /// Show a link: URL, state, downloads, expiry, limit.
    Show {
        #[command(flatten)]
        conn: Conn,
        /// The link's id (the last part of …/s/ID) or its URL.
        link: String,
    },
    /// Change a link; what you leave out stays as it is.
    Edit {
        #[command(flatten)]
        conn: Conn,
        /// The link's id or URL.
        link: String,
        /// Expire after this long from now (7d, 12h, …), or `never`.
        #[arg(long)]
        expires: Option<String>,
        /// Set a new password.
        #[arg(long, conflicts_with = "no_password")]
        password: Option<String>,
        /// Remove the password.
        #[arg(long)]
        no_password: bool,
        /// At most this many downloads, or `none`.
        #[arg(long)]
        max_downloads: Option<String>,
        /// Turn the link off.
        #[arg(long, conflicts_with = "enable")]
        disable: bool,
        /// Turn the link on again.
        #[arg(long)]
        enable: bool,
    },
    /// Turn a link off (visitors see that it is off; `enable` turns it on).
    Disable {
        #[command(flatten)]
        conn: Conn,
        link: String,
    },
    /// Turn a link on again.
    Enable {
        #[command(flatten)]
        conn: Conn,
        link: String,
    },
    /// Delete a link for good.
    Rm {
        #[command(flatten)]
        conn: Conn,
        link: String,
    },
}

struct Api {
    http: reqwest::Client,
    conn: Conn,
}

impl Api {
    fn new(conn: &Conn) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder().build()?,
            conn: conn.clone(),
        })
    }

    /// Sends a request; the JSON answer, or the server's error message.
    async fn call(&self, m: Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.conn.server.trim_end_matches('/'));
        let mut r = self
            .http
            .request(m, &url)
            .bearer_auth(&self.conn.token)
            .header("Accept", "application/json");
        if let Some(b) = body {
            r = r.json(&b);
        }
        let res = r
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.conn.server))?;
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        if !status.is_success() {
            let msg = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| {
                    Some(format!(
                        "{} ({})",
                        v["error"]["message"].as_str()?,
                        v["error"]["code"].as_str()?
                    ))
                })
                .unwrap_or_else(|| text.chars().take(200).collect());
            bail!("{msg} [HTTP {}]", status.as_u16());
        }
        if text.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).context("the server's answer is not JSON")
    }

    /// A folder's id from its id or name.
    async fn folder_id(&self, f: &str) -> anyhow::Result<String> {
        let v = self.call(Method::GET, "/api/folders", None).await?;
        let folders = v["folders"].as_array().cloned().unwrap_or_default();
        let by = |pred: &dyn Fn(&Value) -> bool| {
            folders
                .iter()
                .filter(|d| pred(d))
                .filter_map(|d| d["id"].as_str().map(String::from))
                .collect::<Vec<_>>()
        };
        for found in [
            by(&|d| d["id"] == f),
            by(&|d| d["name"] == f),
            by(&|d| {
                d["name"]
                    .as_str()
                    .is_some_and(|n| n.to_lowercase() == f.to_lowercase())
            }),
        ] {
            match found.len() {
                0 => continue,
                1 => return Ok(found[0].clone()),
                _ => bail!("several folders are called {f:?}; use its id (carrel ls shows them)"),
            }
        }
        bail!("you have no folder {f:?} (carrel ls shows your folders)")
    }

    fn print(&self, v: &Value) -> anyhow::Result<()> {
        println!("{}", serde_json::to_string_pretty(v)?);
        Ok(())
    }
}

/// A link's id from its id or its URL (…/s/ID or …/d/ID).
fn link_id(link: &str) -> String {
    let l = link.trim().trim_end_matches('/');
    match l.rsplit_once("/s/").or_else(|| l.rsplit_once("/d/")) {
        Some((_, id)) => id.split(['/', '?', '#']).next().unwrap_or(id).to_owned(),
        None => l.to_owned(),
    }
}

fn day(unix: &Value) -> String {
    unix.as_i64()
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map_or_else(|| "-".into(), |d| d.format("%Y-%m-%d").to_string())
}

fn link_line(l: &Value) -> String {
    let downloads = match l["max_downloads"].as_i64() {
        Some(m) => format!("{} of {m}", l["downloads"]),
        None => l["downloads"].to_string(),
    };
    let mut flags = Vec::new();
    if l["disabled"] == true {
        flags.push("off".to_owned());
    }
    if l["has_password"] == true {
        flags.push("password".to_owned());
    }
    if let Some(e) = l["expires_at"].as_str() {
        flags.push(format!("expires {e}"));
    }
    format!(
        "{}  downloads: {downloads}{}",
        l["url"].as_str().unwrap_or("?"),
        if flags.is_empty() {
            String::new()
        } else {
            format!("  ({})", flags.join(", "))
        }
    )
}

pub async fn ls(a: LsArgs) -> anyhow::Result<()> {
    let api = Api::new(&a.conn)?;
    let mut q = vec![
        ("sort", a.sort.clone()),
        ("limit", a.limit.to_string()),
        ("offset", a.offset.to_string()),
    ];
    if let Some(o) = &a.order {
        q.push(("order", o.clone()));
    }
    if let Some(s) = &a.search {
        q.push(("q", s.clone()));
    }
    if let Some(f) = &a.folder {
        let id = if f == "none" {
            "none".to_owned()
        } else {
            api.folder_id(f).await?
        };
        q.push(("folder", id));
    }
    let qs = q
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
            )
        })
        .collect::<Vec<_>>()
        .join("&");
    let v = api
        .call(Method::GET, &format!("/api/files?{qs}"), None)
        .await?;
    if a.conn.json {
        return api.print(&v);
    }
    let folders = v["folders"].as_array().cloned().unwrap_or_default();
    let name_of = |id: &Value| {
        folders
            .iter()
            .find(|d| &d["id"] == id)
            .and_then(|d| d["name"].as_str())
            .map(|n| format!("{n}/"))
            .unwrap_or_default()
    };
    if a.folder.is_none() && a.search.is_none() && a.offset == 0 {
        for d in &folders {
            println!(
                "{:<24}  {:>10}  {}  {:<23}  {}/",
                d["id"].as_str().unwrap_or("?"),
                HumanBytes(d["size"].as_u64().unwrap_or(0)).to_string(),
                day(&d["created_at"]),
                format!("{} files", d["files"]),
                d["name"].as_str().unwrap_or("?"),
            );
        }
    }
    for f in v["files"].as_array().into_iter().flatten() {
        let links = f["links"].as_array().cloned().unwrap_or_default();
        let downloads: i64 = links.iter().filter_map(|l| l["downloads"].as_i64()).sum();
        let plural = |n: usize, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
        println!(
            "{:<24}  {:>10}  {}  {:<8} {:<14}  {}{}",
            f["id"].as_str().unwrap_or("?"),
            HumanBytes(f["size"].as_u64().unwrap_or(0)).to_string(),
            day(&f["created_at"]),
            plural(links.len(), "link"),
            plural(downloads.max(0) as usize, "download"),
            name_of(&f["folder"]),
            f["name"].as_str().unwrap_or("?"),
        );
    }
    let shown = v["files"].as_array().map_or(0, Vec::len);
    eprintln!("{shown} of {} files", v["total"]);
    Ok(())
}

pub async fn rm(a: RmArgs) -> anyhow::Result<()> {
    let api = Api::new(&a.conn)?;
    let v = api
        .call(
            Method::POST,
            "/api/files/delete",
            Some(json!({ "ids": a.ids })),
        )
        .await?;
    if a.conn.json {
        return api.print(&v);
    }
    println!("deleted {} file(s)", v["deleted"]);
    Ok(())
}

pub async fn mv(a: MvArgs) -> anyhow::Result<()> {
    let api = Api::new(&a.conn)?;
    let folder = if a.to == "none" {
        Value::Null
    } else {
        Value::String(api.folder_id(&a.to).await?)
    };
    let v = api
        .call(
            Method::POST,
            "/api/files/move",
            Some(json!({ "ids": a.ids, "folder": folder })),
        )
        .await?;
    if a.conn.json {
        return api.print(&v);
    }
    println!("moved {} file(s)", v["moved"]);
    Ok(())
}

pub async fn mkdir(a: MkdirArgs) -> anyhow::Result<()> {
    let api = Api::new(&a.conn)?;
    let v = api
        .call(
            Method::POST,
            "/api/folders",
            Some(json!({ "name": a.name })),
        )
        .await?;
    if a.conn.json {
        return api.print(&v);
    }
    println!("{}", v["id"].as_str().unwrap_or("?"));
    Ok(())
}

pub async fn rename(a: RenameArgs) -> anyhow::Result<()> {
    let api = Api::new(&a.conn)?;
    let v = if a.folder {
        let id = api.folder_id(&a.id).await?;
        api.call(
            Method::PATCH,
            &format!("/api/folders/{id}"),
            Some(json!({ "name": a.name })),
        )
        .await?
    } else {
        api.call(
            Method::PATCH,
            &format!("/api/files/{}", enc(&a.id)),
            Some(json!({ "name": a.name })),
        )
        .await?
    };
    if a.conn.json {
        return api.print(&v);
    }
    println!("renamed to {}", v["name"].as_str().unwrap_or("?"));
    Ok(())
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

pub async fn share(c: ShareCommand) -> anyhow::Result<()> {
    let (conn, path, method, body) = match c {
        ShareCommand::Create {
            conn,
            file,
            expires,
            password,
            max_downloads,
        } => (
            conn,
            format!("/api/files/{}/shares", enc(&file)),
            Method::POST,
            Some(
                json!({ "expires": expires, "password": password, "max_downloads": max_downloads }),
            ),
        ),
        ShareCommand::Show { conn, link } => (
            conn,
            format!("/api/shares/{}", enc(&link_id(&link))),
            Method::GET,
            None,
        ),
        ShareCommand::Edit {
            conn,
            link,
            expires,
            password,
            no_password,
            max_downloads,
            disable,
            enable,
        } => {
            let mut b = serde_json::Map::new();
            if let Some(e) = expires {
                b.insert(
                    "expires".into(),
                    if e == "never" {
                        Value::Null
                    } else {
                        Value::String(e)
                    },
                );
            }
            if let Some(p) = password {
                b.insert("password".into(), Value::String(p));
            }
            if no_password {
                b.insert("password".into(), Value::Null);
            }
            if let Some(m) = max_downloads {
                let v = if m == "none" {
                    Value::Null
                } else {
                    Value::from(
                        m.parse::<i64>()
                            .context("--max-downloads is a number or `none`")?,
                    )
                };
                b.insert("max_downloads".into(), v);
            }
            if disable || enable {
                b.insert("disabled".into(), Value::Bool(disable));
            }
            if b.is_empty() {
                bail!(
                    "say what to change: --expires, --password, --no-password, --max-downloads, --disable or --enable"
                );
            }
            (
                conn,
                format!("/api/shares/{}", enc(&link_id(&link))),
                Method::PATCH,
                Some(Value::Object(b)),
            )
        }
        ShareCommand::Disable { conn, link } => (
            conn,
            format!("/api/shares/{}", enc(&link_id(&link))),
            Method::PATCH,
            Some(json!({ "disabled": true })),
        ),
        ShareCommand::Enable { conn, link } => (
            conn,
            format!("/api/shares/{}", enc(&link_id(&link))),
            Method::PATCH,
            Some(json!({ "disabled": false })),
        ),
        ShareCommand::Rm { conn, link } => (
            conn,
            format!("/api/shares/{}", enc(&link_id(&link))),
            Method::DELETE,
            None,
        ),
    };
    let api = Api::new(&conn)?;
    let deleting = method == Method::DELETE;
    let v = api.call(method, &path, body).await?;
    if conn.json {
        return api.print(&if deleting {
            json!({ "deleted": true })
        } else {
            v
        });
    }
    if deleting {
        println!("link deleted");
    } else {
        println!("{}", link_line(&v));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::link_id;

    #[test]
    fn links_by_id_or_url() {
        assert_eq!(link_id("abc"), "abc");
        assert_eq!(link_id("http://h:1/s/abc"), "abc");
        assert_eq!(link_id("http://h:1/d/abc/"), "abc");
        assert_eq!(link_id("https://h/s/abc?x=1"), "abc");
    }
}
