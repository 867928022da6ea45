//! Accounts in the database: people, their browser sessions, API tokens,
//! one-time password resets and invitations. Secrets arrive here already
//! hashed ([`SecretHash`]); this module never sees one in clear.

use carrel_core::account::{Email, Role, Scopes};
use carrel_core::ids::{AccountId, SecretHash, TokenId};
use carrel_core::time::Timestamp;

use crate::Result;

/// An account as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub email: Email,
    pub password_hash: String,
    pub role: Role,
    pub plan: String,
    pub suspended_at: Option<Timestamp>,
    pub created_at: Timestamp,
    /// When the account was deleted: a tombstone keeps only its id, role,
    /// plan and dates (see [`AccountRepo::erase_account`]).
    pub deleted_at: Option<Timestamp>,
}

/// Which accounts an administrator looks for: every condition set must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountFilter {
    /// A piece of the e-mail address (matched lower-cased, no wildcards).
    pub email: String,
    pub plan: Option<String>,
    pub role: Option<Role>,
    /// Only suspended accounts (`Some(true)`) or only active ones.
    pub suspended: Option<bool>,
}

/// A browser session: the cookie's secret, hashed.
#[derive(Clone, Debug)]
pub struct NewSession {
    pub token_hash: SecretHash,
    pub account: AccountId,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
}

/// An API token as stored (its secret only as a hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiToken {
    pub id: TokenId,
    pub account: AccountId,
    pub name: String,
    pub token_hash: SecretHash,
    pub scopes: Scopes,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

/// A one-time token: a password reset (for an account) or an invitation.
#[derive(Clone, Debug)]
pub struct OneTimeToken {
    pub token_hash: SecretHash,
    /// The account to reset, or the inviting account.
    pub account: Option<AccountId>,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
}

/// Accounts, sessions and tokens.
#[async_trait::async_trait]
pub trait AccountRepo {
    /// Creates an account; [`crate::DbError::Conflict`] if the e-mail address is
    /// taken. With `invitation`, the invitation is used up in the same
    /// transaction, and an unknown, used or expired one is
    /// [`crate::DbError::NotFound`] (and no account is made).
    async fn create_account(&self, a: &Account, invitation: Option<&SecretHash>) -> Result<()>;
    async fn account(&self, id: &AccountId) -> Result<Option<Account>>;
    async fn account_by_email(&self, email: &Email) -> Result<Option<Account>>;
    /// Accounts that are not deleted.
    async fn count_accounts(&self) -> Result<i64>;
    /// Accounts (not deleted) that pass `filter`, by address, after `after`.
    async fn search_accounts(
        &self,
        filter: &AccountFilter,
        after: &str,
        limit: i64,
    ) -> Result<Vec<Account>>;
    /// How many accounts (not deleted) pass `filter`.
    async fn count_matching(&self, filter: &AccountFilter) -> Result<i64>;
    /// Changes a password and ends every session of the account but `keep`.
    async fn set_password(
        &self,
        id: &AccountId,
        password_hash: &str,
        keep: Option<&SecretHash>,
    ) -> Result<bool>;
    async fn set_role(&self, id: &AccountId, role: Role) -> Result<bool>;
    /// Puts an account on a plan (the name is checked against the configuration by the caller).
    async fn set_plan(&self, id: &AccountId, plan: &str) -> Result<bool>;
    /// Remembers a webhook event id; false when it was seen before (a replay).
    async fn record_webhook_event(&self, id: &str, now: Timestamp) -> Result<bool>;
    /// Suspends (ending its sessions) or, with `None`, reinstates an account.
    async fn set_suspended(&self, id: &AccountId, at: Option<Timestamp>) -> Result<bool>;
    /// Turns an account into a tombstone, in one transaction: its e-mail
    /// address becomes `tombstone_email`, its password hash goes, it is
    /// suspended and marked deleted at `now`, and its sessions, API tokens
    /// and reset links are deleted. The row stays, so records that name the
    /// account's id stay valid. False if there is no such live account.
    async fn erase_account(
        &self,
        id: &AccountId,
        tombstone_email: &str,
        now: Timestamp,
    ) -> Result<bool>;

    async fn create_session(&self, s: &NewSession) -> Result<()>;
    /// The account of a session that has not expired.
    async fn session_account(
        &self,
        token_hash: &SecretHash,
        now: Timestamp,
    ) -> Result<Option<Account>>;
    async fn delete_session(&self, token_hash: &SecretHash) -> Result<()>;
    /// Ends every session of an account ("log out everywhere"); how many there were.
    async fn delete_sessions(&self, account: &AccountId) -> Result<u64>;
    /// Forgets sessions, resets and invitations that expired before `now`.
    async fn purge_expired_credentials(&self, now: Timestamp) -> Result<u64>;

    async fn create_token(&self, t: &ApiToken) -> Result<()>;
    async fn tokens(&self, account: &AccountId) -> Result<Vec<ApiToken>>;
    /// The token and its account, noting its use at `now`.
    async fn token_account(
        &self,
        token_hash: &SecretHash,
        now: Timestamp,
    ) -> Result<Option<(ApiToken, Account)>>;
    /// Revokes one of an account's tokens; false if it has no such token.
    async fn delete_token(&self, account: &AccountId, id: &TokenId) -> Result<bool>;

    async fn create_reset(&self, r: &OneTimeToken) -> Result<()>;
    /// In one transaction: uses up an unexpired, unused reset token, sets
    /// the account's password and ends all its sessions. `None` if the
    /// token is unknown, used or expired.
    async fn reset_password(
        &self,
        token_hash: &SecretHash,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<Option<AccountId>>;
    async fn create_invitation(&self, i: &OneTimeToken) -> Result<()>;
}

macro_rules! impl_accounts {
    ($ty:ty, $db:ty, $strpos:literal) => {
        mod accounts_impl {
            use carrel_core::account::{Email, Role, Scopes};
            use carrel_core::ids::{AccountId, SecretHash, TokenId};
            use carrel_core::time::Timestamp;
            use sqlx::Row;

            use $crate::accounts::{Account, AccountFilter, AccountRepo, ApiToken, NewSession, OneTimeToken};
            use $crate::backend::corrupt;
            use $crate::{DbError, Result};

            type DbRow = <$db as sqlx::Database>::Row;

            const ACCOUNT_COLUMNS: &str = "a.id, a.email, a.password_hash, a.role, a.plan, a.suspended_at, a.created_at, a.deleted_at";

            fn account_from_row(r: &DbRow) -> Result<Account> {
                Ok(Account {
                    id: r.try_get::<String, _>("id")?.parse().map_err(corrupt)?,
                    email: r.try_get::<String, _>("email")?.parse().map_err(corrupt)?,
                    password_hash: r.try_get("password_hash")?,
                    role: r.try_get::<String, _>("role")?.parse().map_err(corrupt)?,
                    plan: r.try_get("plan")?,
                    suspended_at: r.try_get::<Option<i64>, _>("suspended_at")?.map(Timestamp),
                    created_at: Timestamp(r.try_get("created_at")?),
                    deleted_at: r.try_get::<Option<i64>, _>("deleted_at")?.map(Timestamp),
                })
            }

            fn token_from_row(r: &DbRow) -> Result<ApiToken> {
                Ok(ApiToken {
                    id: r.try_get::<String, _>("token_id")?.parse().map_err(corrupt)?,
                    account: r.try_get::<String, _>("account_id")?.parse().map_err(corrupt)?,
                    name: r.try_get("name")?,
                    token_hash: SecretHash::from_stored(r.try_get("token_hash")?),
                    scopes: r.try_get::<String, _>("scopes")?.parse::<Scopes>().map_err(corrupt)?,
                    created_at: Timestamp(r.try_get("token_created_at")?),
                    last_used_at: r.try_get::<Option<i64>, _>("last_used_at")?.map(Timestamp),
                })
            }

            fn unique(e: sqlx::Error) -> DbError {
                match &e {
                    sqlx::Error::Database(d) if d.is_unique_violation() => DbError::Conflict,
                    _ => DbError::Sqlx(e),
                }
            }

            /// The filter's conditions on `accounts a`, binding $1 to $4.
            fn filter_sql() -> String {
                // A substring match (instr/strpos, not LIKE: no wildcards to escape);
                // an unset condition binds NULL and passes.
                format!(
                    "{}(a.email, $1) > 0 AND ($2 IS NULL OR a.plan = $2) AND ($3 IS NULL OR a.role = $3) \
                     AND ($4 IS NULL OR (a.suspended_at IS NOT NULL) = $4) AND a.deleted_at IS NULL",
                    $strpos
                )
            }

            fn bind_filter<'q>(
                q: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>,
                f: &'q AccountFilter,
            ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>> {
                q.bind(f.email.to_lowercase())
                    .bind(f.plan.as_deref())
                    .bind(f.role.map(|r| r.as_str()))
                    .bind(f.suspended)
            }

            const TOKEN_COLUMNS: &str = "t.id AS token_id, t.account_id, t.name, t.token_hash, t.scopes, \
                 t.created_at AS token_created_at, t.last_used_at";

            #[async_trait::async_trait]
            impl AccountRepo for $ty {
                async fn create_account(&self, a: &Account, invitation: Option<&SecretHash>) -> Result<()> {
                    let mut tx = self.pool.begin().await?;
                    sqlx::query(
                        "INSERT INTO accounts (id, email, password_hash, role, plan, suspended_at, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(a.id.as_str())
                    .bind(a.email.as_str())
                    .bind(&a.password_hash)
                    .bind(a.role.as_str())
                    .bind(&a.plan)
                    .bind(a.suspended_at.map(|t| t.0))
                    .bind(a.created_at.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(unique)?;
                    if let Some(inv) = invitation {
                        let r = sqlx::query(
                            "UPDATE invitations SET used_by = $1, used_at = $2 \
                             WHERE token_hash = $3 AND used_at IS NULL AND expires_at > $2",
                        )
                        .bind(a.id.as_str())
                        .bind(a.created_at.0)
                        .bind(inv.as_str())
                        .execute(&mut *tx)
                        .await?;
                        if r.rows_affected() != 1 {
                            return Err(DbError::NotFound);
                        }
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn account(&self, id: &AccountId) -> Result<Option<Account>> {
                    sqlx::query(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.id = $1"))
                        .bind(id.as_str())
                        .fetch_optional(&self.pool)
                        .await?
                        .map(|r| account_from_row(&r))
                        .transpose()
                }

                async fn account_by_email(&self, email: &Email) -> Result<Option<Account>> {
                    sqlx::query(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.email = $1"))
                        .bind(email.as_str())
                        .fetch_optional(&self.pool)
                        .await?
                        .map(|r| account_from_row(&r))
                        .transpose()
                }

                async fn count_accounts(&self) -> Result<i64> {
                    Ok(sqlx::query("SELECT COUNT(*) AS n FROM accounts WHERE deleted_at IS NULL").fetch_one(&self.pool).await?.try_get("n")?)
                }

                async fn search_accounts(&self, filter: &AccountFilter, after: &str, limit: i64) -> Result<Vec<Account>> {
                    let sql = format!(
                        "SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE {} AND a.email > $5 ORDER BY a.email LIMIT $6",
                        filter_sql()
                    );
                    bind_filter(sqlx::query(&sql), filter)
                        .bind(after)
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await?
                        .iter()
                        .map(account_from_row)
                        .collect()
                }

                async fn count_matching(&self, filter: &AccountFilter) -> Result<i64> {
                    let sql = format!("SELECT COUNT(*) AS n FROM accounts a WHERE {}", filter_sql());
                    Ok(bind_filter(sqlx::query(&sql), filter).fetch_one(&self.pool).await?.try_get("n")?)
                }

                async fn set_password(&self, id: &AccountId, password_hash: &str, keep: Option<&SecretHash>) -> Result<bool> {
                    let mut tx = self.pool.begin().await?;
                    let r = sqlx::query("UPDATE accounts SET password_hash = $1 WHERE id = $2")
                        .bind(password_hash)
                        .bind(id.as_str())
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("DELETE FROM sessions WHERE account_id = $1 AND token_hash <> $2")
                        .bind(id.as_str())
                        .bind(keep.map_or("", |k| k.as_str()))
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(r.rows_affected() == 1)
                }

                async fn set_role(&self, id: &AccountId, role: Role) -> Result<bool> {
                    let r = sqlx::query("UPDATE accounts SET role = $1 WHERE id = $2")
                        .bind(role.as_str())
                        .bind(id.as_str())
                        .execute(&self.pool)
                        .await?;
                    Ok(r.rows_affected() == 1)
                }

                async fn set_plan(&self, id: &AccountId, plan: &str) -> Result<bool> {
                    let r = sqlx::query("UPDATE accounts SET plan = $1 WHERE id = $2")
                        .bind(plan)
                        .bind(id.as_str())
                        .execute(&self.pool)
                        .await?;
                    Ok(r.rows_affected() == 1)
                }

                async fn record_webhook_event(&self, id: &str, now: Timestamp) -> Result<bool> {
                    let r = sqlx::query(
                        "INSERT INTO webhook_events (id, received_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
                    )
                    .bind(id)
                    .bind(now.0)
                    .execute(&self.pool)
                    .await?;
                    Ok(r.rows_affected() == 1)
                }

                async fn set_suspended(&self, id: &AccountId, at: Option<Timestamp>) -> Result<bool> {
                    let mut tx = self.pool.begin().await?;
                    let r = sqlx::query("UPDATE accounts SET suspended_at = $1 WHERE id = $2")
                        .bind(at.map(|t| t.0))
                        .bind(id.as_str())
                        .execute(&mut *tx)
                        .await?;
                    if at.is_some() {
                        sqlx::query("DELETE FROM sessions WHERE account_id = $1")
                            .bind(id.as_str())
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(r.rows_affected() == 1)
                }

                async fn erase_account(&self, id: &AccountId, tombstone_email: &str, now: Timestamp) -> Result<bool> {
                    let mut tx = self.pool.begin().await?;
                    let r = sqlx::query(
                        "UPDATE accounts SET email = $1, password_hash = '!', suspended_at = $2, deleted_at = $2 \
                         WHERE id = $3 AND deleted_at IS NULL",
                    )
                    .bind(tombstone_email)
                    .bind(now.0)
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(unique)?;
                    if r.rows_affected() != 1 {
                        return Ok(false);
                    }
                    for sql in [
                        "DELETE FROM sessions WHERE account_id = $1",
                        "DELETE FROM api_tokens WHERE account_id = $1",
                        "DELETE FROM password_resets WHERE account_id = $1",
                    ] {
                        sqlx::query(sql).bind(id.as_str()).execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                    Ok(true)
                }

                async fn create_session(&self, s: &NewSession) -> Result<()> {
                    sqlx::query("INSERT INTO sessions (token_hash, account_id, expires_at, created_at) VALUES ($1, $2, $3, $4)")
                        .bind(s.token_hash.as_str())
                        .bind(s.account.as_str())
                        .bind(s.expires_at.0)
                        .bind(s.created_at.0)
                        .execute(&self.pool)
                        .await
                        .map_err(unique)?;
                    Ok(())
                }

                async fn session_account(&self, token_hash: &SecretHash, now: Timestamp) -> Result<Option<Account>> {
                    sqlx::query(&format!(
                        "SELECT {ACCOUNT_COLUMNS} FROM sessions s JOIN accounts a ON a.id = s.account_id \
                         WHERE s.token_hash = $1 AND s.expires_at > $2"
                    ))
                    .bind(token_hash.as_str())
                    .bind(now.0)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(|r| account_from_row(&r))
                    .transpose()
                }

                async fn delete_session(&self, token_hash: &SecretHash) -> Result<()> {
                    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
                        .bind(token_hash.as_str())
                        .execute(&self.pool)
                        .await?;
                    Ok(())
                }

                async fn delete_sessions(&self, account: &AccountId) -> Result<u64> {
                    Ok(sqlx::query("DELETE FROM sessions WHERE account_id = $1")
                        .bind(account.as_str())
                        .execute(&self.pool)
                        .await?
                        .rows_affected())
                }

                async fn purge_expired_credentials(&self, now: Timestamp) -> Result<u64> {
                    let mut n = 0;
                    for sql in [
                        "DELETE FROM sessions WHERE expires_at <= $1",
                        "DELETE FROM password_resets WHERE expires_at <= $1",
                        "DELETE FROM invitations WHERE expires_at <= $1 AND used_at IS NULL",
                    ] {
                        n += sqlx::query(sql).bind(now.0).execute(&self.pool).await?.rows_affected();
                    }
                    // Webhook ids only need to outlive the signature's tolerance (minutes).
                    sqlx::query("DELETE FROM webhook_events WHERE received_at <= $1")
                        .bind(now.0 - 7 * 86_400)
                        .execute(&self.pool)
                        .await?;
                    Ok(n)
                }

                async fn create_token(&self, t: &ApiToken) -> Result<()> {
                    sqlx::query(
                        "INSERT INTO api_tokens (id, account_id, name, token_hash, scopes, created_at, last_used_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(t.id.as_str())
                    .bind(t.account.as_str())
                    .bind(&t.name)
                    .bind(t.token_hash.as_str())
                    .bind(t.scopes.to_string())
                    .bind(t.created_at.0)
                    .bind(t.last_used_at.map(|t| t.0))
                    .execute(&self.pool)
                    .await
                    .map_err(unique)?;
                    Ok(())
                }

                async fn tokens(&self, account: &AccountId) -> Result<Vec<ApiToken>> {
                    sqlx::query(&format!(
                        "SELECT {TOKEN_COLUMNS} FROM api_tokens t WHERE t.account_id = $1 ORDER BY t.created_at, t.id"
                    ))
                    .bind(account.as_str())
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(token_from_row)
                    .collect()
                }

                async fn token_account(&self, token_hash: &SecretHash, now: Timestamp) -> Result<Option<(ApiToken, Account)>> {
                    let Some(r) = sqlx::query(&format!(
                        "SELECT {TOKEN_COLUMNS}, {ACCOUNT_COLUMNS} FROM api_tokens t \
                         JOIN accounts a ON a.id = t.account_id WHERE t.token_hash = $1"
                    ))
                    .bind(token_hash.as_str())
                    .fetch_optional(&self.pool)
                    .await?
                    else {
                        return Ok(None);
                    };
                    let token = token_from_row(&r)?;
                    let account = account_from_row(&r)?;
                    // Noted at most once a minute: a busy script should not write on every request.
                    if token.last_used_at.is_none_or(|t| now.0 - t.0 >= 60) {
                        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                            .bind(now.0)
                            .bind(token.id.as_str())
                            .execute(&self.pool)
                            .await?;
                    }
                    Ok(Some((token, account)))
                }

                async fn delete_token(&self, account: &AccountId, id: &TokenId) -> Result<bool> {
                    let r = sqlx::query("DELETE FROM api_tokens WHERE id = $1 AND account_id = $2")
                        .bind(id.as_str())
                        .bind(account.as_str())
                        .execute(&self.pool)
                        .await?;
                    Ok(r.rows_affected() == 1)
                }

                async fn create_reset(&self, r: &OneTimeToken) -> Result<()> {
                    let account = r.account.as_ref().ok_or(DbError::NotFound)?;
                    sqlx::query(
                        "INSERT INTO password_resets (token_hash, account_id, expires_at, used_at, created_at) \
                         VALUES ($1, $2, $3, NULL, $4)",
                    )
                    .bind(r.token_hash.as_str())
                    .bind(account.as_str())
                    .bind(r.expires_at.0)
                    .bind(r.created_at.0)
                    .execute(&self.pool)
                    .await
                    .map_err(unique)?;
                    Ok(())
                }

                async fn reset_password(&self, token_hash: &SecretHash, password_hash: &str, now: Timestamp) -> Result<Option<AccountId>> {
                    let mut tx = self.pool.begin().await?;
                    let row = sqlx::query(
                        "UPDATE password_resets SET used_at = $1 \
                         WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING account_id",
                    )
                    .bind(now.0)
                    .bind(token_hash.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(row) = row else {
                        return Ok(None);
                    };
                    let id: String = row.try_get("account_id")?;
                    sqlx::query("UPDATE accounts SET password_hash = $1 WHERE id = $2")
                        .bind(password_hash)
                        .bind(&id)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("DELETE FROM sessions WHERE account_id = $1").bind(&id).execute(&mut *tx).await?;
                    // Every other reset token of the account dies with this one.
                    sqlx::query("UPDATE password_resets SET used_at = $1 WHERE account_id = $2 AND used_at IS NULL")
                        .bind(now.0)
                        .bind(&id)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(Some(id.parse().map_err(corrupt)?))
                }

                async fn create_invitation(&self, i: &OneTimeToken) -> Result<()> {
                    sqlx::query(
                        "INSERT INTO invitations (token_hash, created_by, expires_at, used_by, used_at, created_at) \
                         VALUES ($1, $2, $3, NULL, NULL, $4)",
                    )
                    .bind(i.token_hash.as_str())
                    .bind(i.account.as_ref().map(|a| a.as_str().to_owned()))
                    .bind(i.expires_at.0)
                    .bind(i.created_at.0)
                    .execute(&self.pool)
                    .await
                    .map_err(unique)?;
                    Ok(())
                }
            }
        }
    };
}

pub(crate) use impl_accounts;
