//! The embedded default: SQLite in WAL mode, one file in the data directory.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

/// Pages of WAL after which a commit checkpoints them into the database
/// (see `connect`).
const WAL_AUTOCHECKPOINT_PAGES: &str = "16384";

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
            .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)
            // A WAL that a checkpoint has emptied is cut back to 64 MiB
            // when it restarts, so one burst of writes does not keep its
            // size on disk.
            .pragma("journal_size_limit", "67108864")
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

/// A bulk writer's connection: a page cache of `BULK_CACHE_BYTES`; no
/// checkpoint in its own commits (see [`bulk_committed`]); and no foreign
/// key checks, as the writer makes every row an edition, source or
/// identifier refers to itself, in the same transaction (one B-tree seek
/// fewer per row it inserts).
fn bulk_setup() -> [String; 3] {
    [
        format!(
            "PRAGMA cache_size = -{}",
            crate::catalog::BULK_CACHE_BYTES / 1024
        ),
        "PRAGMA wal_autocheckpoint = 0".into(),
        "PRAGMA foreign_keys = OFF".into(),
    ]
}

/// The WAL's size past which a bulk writer's next commit empties the WAL
/// itself.
///
/// Without it the WAL grew by everything an import wrote: the writer holds a
/// transaction from one commit to the next, and SQLite restarts the WAL only
/// at the start of a write transaction that finds it wholly checkpointed,
/// which the checkpoint beside the writer never reaches in time. A 10M
/// import left an 18 GB WAL beside a 7 GB database.
const BULK_WAL_BYTES: u64 = 1 << 30;

/// What runs beside a bulk writer: the passive checkpoint after one of its
/// commits, while it runs; and where the WAL is, to see how big it got.
pub(crate) struct Beside {
    running: Option<tokio::task::JoinHandle<()>>,
    wal: Option<std::path::PathBuf>,
}

/// Where a bulk writer's WAL is (`None` for a database in memory).
async fn beside(conn: &mut sqlx::SqliteConnection) -> crate::Result<Beside> {
    let file: String =
        sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
            .fetch_one(conn)
            .await?;
    Ok(Beside {
        running: None,
        wal: (!file.is_empty()).then(|| format!("{file}-wal").into()),
    })
}

/// `PRAGMA wal_checkpoint(MODE)` on `conn`; false when SQLite was busy
/// (readers) and could not finish.
async fn checkpoint<'c, E>(conn: E, mode: &str) -> crate::Result<bool>
where
    E: sqlx::Executor<'c, Database = sqlx::Sqlite>,
{
    let busy: i64 = sqlx::query_scalar(&format!("PRAGMA wal_checkpoint({mode})"))
        .fetch_one(conn)
        .await?;
    Ok(busy == 0)
}

/// After a bulk writer's commit, before its next transaction.
///
/// Usually the commit's pages are checkpointed from the WAL into the
/// database by another connection, on that connection's thread, while the
/// writer goes on (a passive checkpoint waits for no one; in the writer's
/// own commit the automatic checkpoint stopped storing for as long as it
/// copied: 15% of the SQLite thread's time in a 1M import). One at a time: a
/// commit that finds one still running leaves its pages to the next.
///
/// Once the WAL file has grown past [`BULK_WAL_BYTES`], the writer
/// checkpoints it whole and truncates it instead (`TRUNCATE`), between its
/// transactions: what the passive checkpoints copied is not copied again,
/// so this copies about one commit's pages.
async fn bulk_committed(
    conn: &mut sqlx::SqliteConnection,
    pool: &sqlx::SqlitePool,
    beside: &mut Beside,
) -> crate::Result<()> {
    let wal_bytes = beside
        .wal
        .as_ref()
        .and_then(|p| std::fs::metadata(p).ok())
        .map_or(0, |m| m.len());
    if wal_bytes >= BULK_WAL_BYTES {
        if let Some(h) = beside.running.take() {
            let _ = h.await;
        }
        if !checkpoint(&mut *conn, "TRUNCATE").await? {
            tracing::debug!("the WAL could not be truncated yet (readers)");
        }
        return Ok(());
    }
    if beside.running.as_ref().is_none_or(|h| h.is_finished()) {
        let pool = pool.clone();
        beside.running = Some(tokio::spawn(async move {
            if let Err(e) = checkpoint(&pool, "PASSIVE").await {
                tracing::warn!(error = %e, "WAL checkpoint after a bulk commit failed");
            }
        }));
    }
    Ok(())
}

/// After a bulk writer's last commit: the WAL is checkpointed whole and
/// truncated, so an import leaves no WAL behind.
async fn bulk_finished(
    conn: &mut sqlx::SqliteConnection,
    beside: &mut Beside,
) -> crate::Result<()> {
    if let Some(h) = beside.running.take() {
        let _ = h.await;
    }
    if !checkpoint(conn, "TRUNCATE").await? {
        tracing::debug!("the WAL could not be truncated after an import (readers)");
    }
    Ok(())
}

crate::catalog::impl_catalog!(
    super::SqliteDatabase,
    sqlx::Sqlite,
    "BEGIN IMMEDIATE",
    super::bulk_setup()
);

crate::usage::impl_usage!(super::SqliteDatabase);
crate::media::impl_media!(super::SqliteDatabase, sqlx::Sqlite);
crate::accounts::impl_accounts!(super::SqliteDatabase, sqlx::Sqlite, "instr");

/// How a batch inserts many rows in one statement (`catalog::upsert_in`).
///
/// A statement that writes many rows and may stop halfway on a constraint
/// (`NOT NULL`, a key) makes SQLite copy every page it changes into a
/// statement journal first, to undo its own part on that error: that copy
/// was 5% of a bulk import's CPU (`memmove` under
/// `subjournalPageIfRequired`, and `malloc` for the journal). `OR IGNORE`
/// means no constraint stops it, so there is no statement journal. Nothing
/// is ignored in fact: the rows' ids were allocated in this write
/// transaction, sources and identifiers are inserted as `ON CONFLICT DO
/// NOTHING` anyway, and no value bound for a `NOT NULL` column is null; a
/// work or edition row left out all the same fails the batch with
/// `DbError::Conflict`, as the plain insert's error did (`inserted_all`).
const INSERT_ROWS: &str = "INSERT OR IGNORE INTO";
