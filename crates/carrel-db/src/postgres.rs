//! PostgreSQL, for the scale-out shape: many carrel nodes share one database.

use sqlx::postgres::PgPoolOptions;

pub struct PgDatabase {
    pool: sqlx::PgPool,
}

impl PgDatabase {
    /// Connects to `postgres://…` and migrates the database.
    pub async fn connect(url: &str) -> crate::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }
}

crate::backend::impl_database!(PgDatabase, sqlx::Postgres, Backend::Postgres);

/// Ids for `n` new rows of `table`, from its sequence (safe with many writers).
async fn alloc_ids(tx: &mut sqlx::PgConnection, table: &str, n: usize) -> crate::Result<Vec<i64>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    Ok(sqlx::query_scalar(&format!(
        "SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, $1)"
    ))
    .bind(n as i64)
    .fetch_all(&mut *tx)
    .await?)
}

/// Nothing runs beside a bulk writer on PostgreSQL.
pub(crate) struct Beside;

/// Nothing to set up beside a bulk writer on PostgreSQL.
async fn beside(_: &mut sqlx::PgConnection) -> crate::Result<Beside> {
    Ok(Beside)
}

/// After a bulk writer's commit: nothing to do beside it on PostgreSQL.
async fn bulk_committed(
    _: &mut sqlx::PgConnection,
    _: &sqlx::PgPool,
    _: &mut Beside,
) -> crate::Result<()> {
    Ok(())
}

/// After a bulk writer's last commit: nothing to do on PostgreSQL.
async fn bulk_finished(_: &mut sqlx::PgConnection, _: &mut Beside) -> crate::Result<()> {
    Ok(())
}

crate::catalog::impl_catalog!(
    super::PgDatabase,
    sqlx::Postgres,
    "BEGIN",
    Vec::<String>::new()
);

crate::usage::impl_usage!(super::PgDatabase);
crate::media::impl_media!(super::PgDatabase, sqlx::Postgres);
crate::accounts::impl_accounts!(super::PgDatabase, sqlx::Postgres, "strpos");

/// How a batch inserts many rows in one statement (PostgreSQL keeps no
/// statement journal: see the SQLite backend's).
const INSERT_ROWS: &str = "INSERT INTO";
