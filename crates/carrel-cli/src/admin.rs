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
    carrel admin erase-ips --ahead 8d   (what the hourly sweep does, 8 days from now)")]
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
            let role: Role = role.parse()?;
            a.db.set_role(&acct.id, role).await?;
            println!("{} is now {}", acct.email, role.as_str());
        }
        AdminCommand::SetPlan { email, plan, data } => {
            let (a, _) = open(&data).await?;
            let acct = find(&a, &email).await?;
            let plan = a.plans.known(&plan).map_err(|e| {
                let names: Vec<_> = a.plans.tiers.keys().map(|p| p.as_str()).collect();
                anyhow::anyhow!("{e}; the plans are: {}", names.join(", "))
            })?;
            a.db.set_plan(&acct.id, plan.as_str()).await?;
            println!("{} is now on the {plan} plan", acct.email);
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
            let to = match &transfer_to {
                Some(e) => Some(find(&a, e).await?),
                None => None,
            };
            let d = a
                .delete_account(&acct.id, to.as_ref().map(|t| &t.id))
                .await
                .map_err(explain)?;
            match (d, &to) {
                (carrel_accounts::privacy::Disposal::Transferred(n), Some(t)) => println!(
                    "account {} deleted; its {n} file(s) now belong to {}",
                    acct.id, t.email
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
            a.db.set_suspended(&acct.id, (!lift).then(Timestamp::now))
                .await?;
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
