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
