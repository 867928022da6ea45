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
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(opts)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Self { pool })
    }
}

crate::backend::impl_database!(SqliteDatabase, sqlx::Sqlite, Backend::Sqlite);
