//! The embedded default: SQLite in WAL mode, one file in the data directory.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub struct SqliteDatabase {
    pool: sqlx::SqlitePool,
}

impl SqliteDatabase {
    /// Opens (creating if needed) `sqlite://PATH` and migrates it.
    pub async fn connect(url: &str) -> crate::Result<Self> {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // 64 MiB of page cache per connection (SQLite's default is
            // 2 MiB): bulk imports insert into indexes (work keys, sources,
            // identifiers) far bigger than that, at random places. The
            // cache only grows as a connection uses it.
            .pragma("cache_size", "-65536")
            // Checkpoint the WAL into the database every 64 MiB rather than
            // every 4 MiB: an import's batches dirty the same index pages
            // again and again, and each checkpoint copied (and fsynced)
            // them all; this copies a page once per 64 MiB of changes.
            // Commits stay durable as before (WAL, synchronous=NORMAL).
            .pragma("wal_autocheckpoint", "16384")
            .pragma("temp_store", "memory");
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            // No liveness ping before each use: a SQLite connection is a
            // file handle in this process, never dropped by a peer, so
            // sqlx's default ping was only an extra round trip to the
            // connection's worker thread (a futex hand-off each way) before
            // every query. PostgreSQL's pool keeps its ping: a server or
            // proxy can close an idle connection.
            .test_before_acquire(false)
            .connect_with(opts)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Self { pool })
    }
}

crate::backend::impl_database!(SqliteDatabase, sqlx::Sqlite, Backend::Sqlite);

/// Ids for `n` new rows of `table`. The caller's transaction began with
/// `BEGIN IMMEDIATE`, so it holds the write lock and no other writer can take
/// the same ids.
async fn alloc_ids(
    tx: &mut sqlx::SqliteConnection,
    table: &str,
    n: usize,
) -> crate::Result<Vec<i64>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    // AUTOINCREMENT's counter too, so ids of deleted rows are never reused.
    let max: i64 = sqlx::query_scalar(&format!(
        "SELECT MAX(COALESCE((SELECT MAX(id) FROM {table}), 0), \
         COALESCE((SELECT seq FROM sqlite_sequence WHERE name = '{table}'), 0))"
    ))
    .fetch_one(&mut *tx)
    .await?;
    Ok((max + 1..=max + n as i64).collect())
}

crate::catalog::impl_catalog!(
    super::SqliteDatabase,
    sqlx::Sqlite,
    "BEGIN IMMEDIATE",
    [format!(
        "PRAGMA cache_size = -{}",
        crate::catalog::BULK_CACHE_BYTES / 1024
    )]
);

crate::usage::impl_usage!(super::SqliteDatabase);
crate::media::impl_media!(super::SqliteDatabase, sqlx::Sqlite);
crate::accounts::impl_accounts!(super::SqliteDatabase, sqlx::Sqlite, "instr");
