//! What the server holds and serves, for its administrators: storage by
//! plan and by account, files stored per day, and bytes served per day.
//! Bytes served are counted in memory as they leave and added here to a
//! durable row per UTC day ([`UsageRepo::add_traffic`]).

use carrel_core::account::Email;
use carrel_core::ids::AccountId;

use crate::Result;

/// Seconds in a day: days are numbered from 1970-01-01 (UTC).
pub const DAY_SECS: i64 = 86_400;

/// Files and bytes held on one plan (`None`: anonymous uploads).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanUsage {
    pub plan: Option<String>,
    /// Live accounts on the plan (0 for anonymous uploads).
    pub accounts: i64,
    pub files: i64,
    pub bytes: i64,
}

/// One account's storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountUsage {
    pub id: AccountId,
    pub email: Email,
    pub plan: String,
    pub files: i64,
    pub bytes: i64,
}

/// The whole server's storage now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageUsage {
    pub files: i64,
    pub bytes: i64,
    pub per_plan: Vec<PlanUsage>,
    /// The accounts holding the most bytes, most first.
    pub top: Vec<AccountUsage>,
}

/// A day's count and bytes (`day` in days since 1970-01-01).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DayCount {
    pub day: i64,
    pub count: i64,
    pub bytes: i64,
}

#[async_trait::async_trait]
pub trait UsageRepo {
    /// Storage by plan, and the `top` accounts by bytes.
    async fn storage_usage(&self, top: i64) -> Result<StorageUsage>;
    /// Files stored per day of creation, from day `from` on (days with none are absent).
    async fn uploads_per_day(&self, from: i64) -> Result<Vec<DayCount>>;
    /// Adds bytes served (and the downloads they belong to) to a day's row.
    async fn add_traffic(&self, day: i64, bytes: i64, downloads: i64) -> Result<()>;
    /// Bytes served per day from day `from` on (days with none are absent).
    async fn traffic_per_day(&self, from: i64) -> Result<Vec<DayCount>>;
}

macro_rules! impl_usage {
    ($ty:ty) => {
        mod usage_impl {
            use sqlx::Row;

            use $crate::Result;
            use $crate::backend::corrupt;
            use $crate::usage::{AccountUsage, DayCount, PlanUsage, StorageUsage, UsageRepo};

            /// Rows of `day`, `bytes` and a count named `count`.
            fn days<R: Row>(rows: &[R], count: &str) -> Result<Vec<DayCount>>
            where
                for<'a> &'a str: sqlx::ColumnIndex<R>,
                i64: for<'a> sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
            {
                rows.iter()
                    .map(|r| {
                        Ok(DayCount {
                            day: r.try_get("day")?,
                            count: r.try_get(count)?,
                            bytes: r.try_get("bytes")?,
                        })
                    })
                    .collect()
            }

            #[async_trait::async_trait]
            impl UsageRepo for $ty {
                async fn storage_usage(&self, top: i64) -> Result<StorageUsage> {
                    let total = sqlx::query(
                        "SELECT COUNT(*) AS files, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS bytes FROM files",
                    )
                    .fetch_one(&self.pool)
                    .await?;
                    let mut per_plan = Vec::new();
                    for r in sqlx::query(
                        "SELECT a.plan, COUNT(DISTINCT a.id) AS accounts, COUNT(f.id) AS files, \
                         CAST(COALESCE(SUM(f.size), 0) AS BIGINT) AS bytes \
                         FROM accounts a LEFT JOIN files f ON f.owner = a.id \
                         WHERE a.deleted_at IS NULL GROUP BY a.plan ORDER BY a.plan",
                    )
                    .fetch_all(&self.pool)
                    .await?
                    {
                        per_plan.push(PlanUsage {
                            plan: Some(r.try_get("plan")?),
                            accounts: r.try_get("accounts")?,
                            files: r.try_get("files")?,
                            bytes: r.try_get("bytes")?,
                        });
                    }
                    let anon = sqlx::query(
                        "SELECT COUNT(*) AS files, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS bytes \
                         FROM files WHERE owner IS NULL",
                    )
                    .fetch_one(&self.pool)
                    .await?;
                    per_plan.push(PlanUsage {
                        plan: None,
                        accounts: 0,
                        files: anon.try_get("files")?,
                        bytes: anon.try_get("bytes")?,
                    });
                    let mut tops = Vec::new();
                    for r in sqlx::query(
                        "SELECT a.id, a.email, a.plan, COUNT(f.id) AS files, CAST(SUM(f.size) AS BIGINT) AS bytes \
                         FROM files f JOIN accounts a ON a.id = f.owner \
                         GROUP BY a.id, a.email, a.plan ORDER BY bytes DESC, a.email LIMIT $1",
                    )
                    .bind(top)
                    .fetch_all(&self.pool)
                    .await?
                    {
                        tops.push(AccountUsage {
                            id: r.try_get::<String, _>("id")?.parse().map_err(corrupt)?,
                            email: r.try_get::<String, _>("email")?.parse().map_err(corrupt)?,
                            plan: r.try_get("plan")?,
                            files: r.try_get("files")?,
                            bytes: r.try_get("bytes")?,
                        });
                    }
                    Ok(StorageUsage {
                        files: total.try_get("files")?,
                        bytes: total.try_get("bytes")?,
                        per_plan,
                        top: tops,
                    })
                }

                async fn uploads_per_day(&self, from: i64) -> Result<Vec<DayCount>> {
                    let rows = sqlx::query(
                        "SELECT CAST(created_at / 86400 AS BIGINT) AS day, COUNT(*) AS n, \
                         CAST(SUM(size) AS BIGINT) AS bytes FROM files \
                         WHERE created_at >= $1 GROUP BY CAST(created_at / 86400 AS BIGINT) ORDER BY day",
                    )
                    .bind(from * 86_400)
                    .fetch_all(&self.pool)
                    .await?;
                    days(&rows, "n")
                }

                async fn add_traffic(&self, day: i64, bytes: i64, downloads: i64) -> Result<()> {
                    sqlx::query(
                        "INSERT INTO traffic_days (day, bytes, downloads) VALUES ($1, $2, $3) \
                         ON CONFLICT (day) DO UPDATE SET bytes = traffic_days.bytes + excluded.bytes, \
                         downloads = traffic_days.downloads + excluded.downloads",
                    )
                    .bind(day)
                    .bind(bytes)
                    .bind(downloads)
                    .execute(&self.pool)
                    .await?;
                    Ok(())
                }

                async fn traffic_per_day(&self, from: i64) -> Result<Vec<DayCount>> {
                    let rows = sqlx::query("SELECT day, bytes, downloads FROM traffic_days WHERE day >= $1 ORDER BY day")
                        .bind(from)
                        .fetch_all(&self.pool)
                        .await?;
                    days(&rows, "downloads")
                }
            }
        }
    };
}

pub(crate) use impl_usage;
