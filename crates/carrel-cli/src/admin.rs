//! `carrel admin …`: accounts from the server's own machine, straight on its
//! database (a running server sees the changes at once): the first
//! administrator, reset links when someone forgot their password (without
//! SMTP), roles, suspensions, invitations and API tokens.

use std::io::Read;

use anyhow::Context;
use carrel_accounts::{Accounts, AccountsError};
use carrel_core::account::{Email, NewPassword, Role, Scopes};
use carrel_core::ids::Secret;
use carrel_core::time::Timestamp;

use crate::library::DataArgs;

#[derive(clap::Subcommand)]
#[command(after_help = "Examples:\n  \
    carrel admin create-user --admin you@example.org      (prints a link to set the password)\n  \
    printf '%s' \"$PW\" | carrel admin create-user ada@example.org --password-stdin\n  \
    carrel admin reset-link ada@example.org\n  \
    carrel admin set-role ada@example.org moderator\n  \
    carrel admin set-plan ada@example.org premium\n  \
    carrel admin retention --ahead 30d --dry-run   (what the sweep would delete in 30 days)\n  \
    carrel admin create-token ada@example.org --name backup --scopes read,upload\n  \
    carrel admin delete-user ada@example.org --transfer-to archive@example.org\n  \
    carrel admin erase-ips --ahead 8d   (what the hourly sweep does, 8 days from now)\n  \
    carrel admin users --plan premium --suspended no   (--json for all of it)\n  \
    carrel admin usage --days 7 --json")]
pub enum AdminCommand {
    /// Create an account (prints a one-time link to set its password unless one is piped in).
    CreateUser {
        email: String,
        /// Make it an administrator.
        #[arg(long, conflicts_with = "role")]
        admin: bool,
        /// Its role: user, moderator or admin.
        #[arg(long, default_value = "user")]
        role: String,
        /// Read the password from standard input instead of printing a link.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Print a one-time link that sets a new password (for someone who forgot theirs).
    ResetLink {
        email: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Change an account's role (user, moderator, admin).
    SetRole {
        email: String,
        role: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Put an account on a plan (one of `plans.tiers` in the settings).
    SetPlan {
        email: String,
        plan: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Delete files past their plan's retention now (the server does this every hour).
    Retention {
        /// Pretend the time is this much later (e.g. 30d), to preview or test the sweep.
        #[arg(long, value_name = "DURATION", conflicts_with = "at")]
        ahead: Option<String>,
        /// Pretend the time is this moment (RFC 3339, e.g. 2027-01-31T00:00:00Z).
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// List the files that would go, and delete nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Delete an account: its files go (or, with --transfer-to, become another
    /// account's), its sessions and tokens end, its e-mail address is forgotten.
    DeleteUser {
        email: String,
        /// Give the account's files, folders and links to this account instead of deleting them.
        #[arg(long, value_name = "EMAIL")]
        transfer_to: Option<String>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Forget client addresses older than `hosting.ip_retention_days` now (the server does this every hour).
    EraseIps {
        /// Pretend the time is this much later (e.g. 8d), to test the retention.
        #[arg(long, value_name = "DURATION", conflicts_with = "at")]
        ahead: Option<String>,
        /// Pretend the time is this moment (RFC 3339).
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Suspend an account (ends its sessions; its tokens stop working).
    Suspend {
        email: String,
        /// Lift the suspension instead.
        #[arg(long)]
        lift: bool,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Print an invitation link (for servers with `accounts.signup = "invite"`).
    Invite {
        #[command(flatten)]
        data: DataArgs,
    },
    /// List accounts: by a piece of their address, plan, role or suspension (pages of 100).
    Users {
        /// A piece of the e-mail address.
        #[arg(long, default_value = "")]
        search: String,
        #[arg(long, default_value = "")]
        plan: String,
        /// user, moderator or admin.
        #[arg(long, default_value = "")]
        role: String,
        /// yes (suspended only) or no (active only).
        #[arg(long, default_value = "")]
        suspended: String,
        /// Start after this address (the `next` of the previous page).
        #[arg(long, default_value = "")]
        after: String,
        /// Print JSON (the same as GET /api/admin/users).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        data: DataArgs,
    },
    /// The server's usage: storage by plan and account, bytes served and uploads per day.
    Usage {
        /// Days back from today (1 to 366).
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// Print JSON (the same as GET /api/admin/usage).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Create an API token for an account and print it (shown once).
    CreateToken {
        email: String,
        /// What the token is for (shown on the account page).
        #[arg(long)]
        name: String,
        /// Scopes, comma-separated: read, upload, manage, admin.
        #[arg(long, default_value = "read,upload,manage")]
        scopes: String,
        #[command(flatten)]
        data: DataArgs,
    },
}

async fn open(data: &DataArgs) -> anyhow::Result<(std::sync::Arc<Accounts>, String)> {
    let settings = data.settings()?;
    let db = carrel_server::open_database(&settings).await?;
    let base = settings
        .hosting
        .public_url
        .clone()
        .map(|u| u.trim_end_matches('/').to_owned())
        .unwrap_or_else(|| format!("http://{}", settings.listen));
    let mut config = settings.accounts.clone();
    config.public_url = settings.hosting.public_url.clone();
    settings.plans.validate()?;
    let plans = std::sync::Arc::new(settings.plans.clone());
    let meter = std::sync::Arc::new(carrel_http::meter::Meter::new());
    Ok((Accounts::new(db, config, plans, meter), base))
}

async fn find(a: &Accounts, email: &str) -> anyhow::Result<carrel_db::accounts::Account> {
    let e: Email = email.parse()?;
    match a.db.account_by_email(&e).await? {
        Some(acct) if acct.deleted_at.is_none() => Ok(acct),
        _ => anyhow::bail!("no account has the address {e}"),
    }
}

/// The time a command acts at: now, or the injected `--ahead` / `--at`.
fn clock(ahead: Option<String>, at: Option<String>) -> anyhow::Result<Timestamp> {
    Ok(match (ahead, at) {
        (Some(d), _) => Timestamp::now().plus(carrel_core::time::parse_duration(&d)?),
        (None, Some(t)) => Timestamp(
            chrono::DateTime::parse_from_rfc3339(&t)
                .with_context(|| format!("{t:?} is not an RFC 3339 time"))?
                .timestamp(),
        ),
        (None, None) => Timestamp::now(),
    })
}

fn explain(e: AccountsError) -> anyhow::Error {
    anyhow::anyhow!("{}", e.into_http().message)
}

pub async fn run(c: AdminCommand) -> anyhow::Result<()> {
    match c {
        AdminCommand::CreateUser {
            email,
            admin,
            role,
            password_stdin,
            data,
        } => {
            let (a, base) = open(&data).await?;
            let email: Email = email.parse()?;
            let role: Role = if admin { Role::Admin } else { role.parse()? };
            let (password, link) = if password_stdin {
                let mut p = String::new();
                std::io::stdin()
                    .take(4096)
                    .read_to_string(&mut p)
                    .context("reading the password from standard input")?;
                let p = p.trim_end_matches(['\r', '\n']);
                (NewPassword::new(p, Some(&email))?, false)
            } else {
                // A random password nobody knows; the owner sets theirs by the link.
                (NewPassword::new(Secret::generate().expose(), None)?, true)
            };
            let acct = a
                .create_account(email, password, role, None)
                .await
                .map_err(explain)?;
            println!("created {} ({})", acct.email, acct.role.as_str());
            if link {
                let url = carrel_accounts::api::reset_link(&a, &acct.id, &base)
                    .await
                    .map_err(explain)?;
                println!(
                    "set its password within {} minutes at:\n  {url}",
                    a.config.reset_minutes
                );
            }
        }
        AdminCommand::ResetLink { email, data } => {
            let (a, base) = open(&data).await?;
            let acct = find(&a, &email).await?;
            let url = carrel_accounts::api::reset_link(&a, &acct.id, &base)
                .await
                .map_err(explain)?;
            println!(
                "a one-time link for {} (works for {} minutes; using it logs them out everywhere):\n  {url}",
                acct.email, a.config.reset_minutes
            );
        }
        AdminCommand::SetRole { email, role, data } => {
            let (a, _) = open(&data).await?;
            let acct = find(&a, &email).await?;
            let change = carrel_accounts::admin::UserChange {
                role: Some(role),
                ..Default::default()
            };
            let acct = a
                .change_user(None, &acct.id, &change)
                .await
                .map_err(explain)?;
            println!("{} is now {}", acct.email, acct.role.as_str());
        }
        AdminCommand::SetPlan { email, plan, data } => {
            let (a, _) = open(&data).await?;
            let acct = find(&a, &email).await?;
            let change = carrel_accounts::admin::UserChange {
                plan: Some(plan),
                ..Default::default()
            };
            let acct = a.change_user(None, &acct.id, &change).await.map_err(|e| {
                let names: Vec<_> = a.plans.tiers.keys().map(|p| p.as_str()).collect();
                anyhow::anyhow!(
                    "{}; the plans are: {}",
                    e.into_http().message,
                    names.join(", ")
                )
            })?;
            println!("{} is now on the {} plan", acct.email, acct.plan);
        }
        AdminCommand::Retention {
            ahead,
            at,
            dry_run,
            data,
        } => {
            let now = clock(ahead, at)?;
            let settings = data.settings()?;
            let hosting = carrel_server::open_hosting(&settings).await?;
            let due = hosting.retention_due(now).await?;
            if dry_run {
                for (id, name) in &due {
                    println!("{id}\t{name}");
                }
                println!("{} file(s) would be deleted", due.len());
            } else {
                let n = hosting.sweep_retention(now).await?;
                println!("{n} file(s) past their plan's retention deleted");
            }
        }
        AdminCommand::DeleteUser {
            email,
            transfer_to,
            data,
        } => {
            let (a, _) = open(&data).await?;
            let hosting = carrel_server::open_hosting(&data.settings()?).await?;
            a.set_holdings(hosting);
            let acct = find(&a, &email).await?;
            let d = a
                .delete_user(None, &acct.id, transfer_to.as_deref())
                .await
                .map_err(explain)?;
            match (d, &transfer_to) {
                (carrel_accounts::privacy::Disposal::Transferred(n), Some(t)) => println!(
                    "account {} deleted; its {n} file(s) now belong to {t}",
                    acct.id
                ),
                (d, _) => println!(
                    "account {} deleted with its {} file(s)",
                    acct.id,
                    match d {
                        carrel_accounts::privacy::Disposal::Deleted(n)
                        | carrel_accounts::privacy::Disposal::Transferred(n) => n,
                    }
                ),
            }
        }
        AdminCommand::EraseIps { ahead, at, data } => {
            let now = clock(ahead, at)?;
            let hosting = carrel_server::open_hosting(&data.settings()?).await?;
            let n = hosting.erase_old_addresses(now).await?;
            println!(
                "{n} client address(es) older than {} day(s) forgotten",
                hosting.config.ip_retention_days
            );
        }
        AdminCommand::Suspend { email, lift, data } => {
            let (a, _) = open(&data).await?;
            let acct = find(&a, &email).await?;
            let change = carrel_accounts::admin::UserChange {
                suspended: Some(!lift),
                ..Default::default()
            };
            a.change_user(None, &acct.id, &change)
                .await
                .map_err(explain)?;
            if lift {
                println!("{} may log in again", acct.email);
            } else {
                println!("{} is suspended; its sessions have ended", acct.email);
            }
        }
        AdminCommand::Invite { data } => {
            let (a, base) = open(&data).await?;
            let url = carrel_accounts::api::invitation_link(&a, None, &base)
                .await
                .map_err(explain)?;
            println!(
                "an invitation (one account, works for {} days):\n  {url}",
                a.config.invitation_days
            );
        }
        AdminCommand::Users {
            search,
            plan,
            role,
            suspended,
            after,
            json,
            data,
        } => {
            let (a, _) = open(&data).await?;
            let q = carrel_accounts::admin::UserQuery {
                q: search,
                plan,
                role,
                suspended,
                after,
            };
            let page = a.find_users(&q, 100).await.map_err(explain)?;
            if json {
                let users: Vec<_> = page
                    .users
                    .iter()
                    .map(carrel_accounts::api::account_json)
                    .collect();
                let j =
                    serde_json::json!({ "users": users, "total": page.total, "next": page.next });
                println!("{}", serde_json::to_string_pretty(&j)?);
            } else {
                for u in &page.users {
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        u.id,
                        u.role.as_str(),
                        u.plan,
                        if u.suspended_at.is_some() {
                            "suspended"
                        } else {
                            "active"
                        },
                        u.email
                    );
                }
                println!("{} of {} account(s)", page.users.len(), page.total);
                if let Some(n) = page.next {
                    println!("more: --after {n}");
                }
            }
        }
        AdminCommand::Usage { days, json, data } => {
            let (a, _) = open(&data).await?;
            let u = a.usage(days).await.map_err(explain)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&u)?);
            } else {
                print_usage(&u);
            }
        }
        AdminCommand::CreateToken {
            email,
            name,
            scopes,
            data,
        } => {
            let (a, _) = open(&data).await?;
            let acct = find(&a, &email).await?;
            let scopes: Scopes = scopes.parse()?;
            let (_, secret) =
                carrel_accounts::api::make_token(&a, &acct.id, acct.role, &name, scopes)
                    .await
                    .map_err(explain)?;
            println!("{secret}");
        }
    }
    Ok(())
}

fn size(b: i64) -> String {
    carrel_core::plan::Bytes(b.max(0) as u64).to_string()
}

fn print_usage(u: &carrel_accounts::admin::Usage) {
    println!(
        "stored: {} in {} file(s)",
        size(u.storage.bytes),
        u.storage.files
    );
    println!("\nplan\taccounts\tfiles\tstored");
    for p in &u.storage.per_plan {
        let name = p.plan.as_deref().unwrap_or("(no account)");
        println!("{name}\t{}\t{}\t{}", p.accounts, p.files, size(p.bytes));
    }
    println!("\ntop accounts\tfiles\tstored");
    for t in &u.storage.top {
        println!("{}\t{}\t{}", t.email, t.files, size(t.bytes));
    }
    println!("\nday\tdownloads\tserved\tuploads\tuploaded");
    for (t, up) in u.traffic.iter().zip(&u.uploads) {
        println!(
            "{}\t{}\t{}\t{}\t{}",
            t.date,
            t.count,
            size(t.bytes),
            up.count,
            size(up.bytes)
        );
    }
}
