//! Both backends for the contract tests: SQLite in a temporary directory and
//! PostgreSQL in a fresh database (skipped with a visible message only when
//! no server answers and CARREL_REQUIRE_POSTGRES is unset).

use std::sync::Arc;

use carrel_core::account::{Email, Role};
use carrel_core::ids::{AccountId, UploadId};
use carrel_core::time::Timestamp;
use carrel_db::accounts::Account;
use carrel_db::*;

const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/test";

pub async fn backends() -> Vec<(Arc<dyn Database>, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("carrel.db").display());
    let mut out: Vec<(Arc<dyn Database>, Option<tempfile::TempDir>)> =
        vec![(connect(&url).await.unwrap(), Some(dir))];
    let admin = std::env::var("CARREL_TEST_POSTGRES").unwrap_or_else(|_| PG_ADMIN.into());
    match sqlx::PgPool::connect(&admin).await {
        Ok(pool) => {
            let name = format!(
                "carrel_db_test_{}",
                UploadId::generate()
                    .as_str()
                    .to_lowercase()
                    .replace(['-', '_'], "")
            );
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&pool)
                .await
                .unwrap();
            let (base, _) = admin.rsplit_once('/').unwrap();
            out.push((connect(&format!("{base}/{name}")).await.unwrap(), None));
        }
        Err(e) if std::env::var_os("CARREL_REQUIRE_POSTGRES").is_none() => {
            eprintln!("SKIPPING the PostgreSQL backend: no server at {admin}: {e}");
        }
        Err(e) => {
            panic!("PostgreSQL is required (CARREL_REQUIRE_POSTGRES) but {admin} failed: {e}")
        }
    }
    out
}

/// A user on the free plan with this address (its password hash a stub).
#[allow(dead_code)]
pub fn account(email: &str) -> Account {
    Account {
        id: AccountId::generate(),
        email: email.parse::<Email>().unwrap(),
        password_hash: "$argon2id$stub".into(),
        role: Role::User,
        plan: "free".into(),
        suspended_at: None,
        deleted_at: None,
        created_at: Timestamp(1000),
    }
}

/// Accounts whose address contains `q`.
#[allow(dead_code)]
pub fn email_filter(q: &str) -> carrel_db::accounts::AccountFilter {
    carrel_db::accounts::AccountFilter {
        email: q.into(),
        ..Default::default()
    }
}

/// The 5-byte file an upload becomes (no owner, no folder).
#[allow(dead_code)]
pub fn file_of(u: &NewUpload, blob: carrel_core::ids::BlobHash, created_at: Timestamp) -> NewFile {
    NewFile {
        id: carrel_core::ids::FileId::generate(),
        name: u.file_name.clone(),
        media_type: u.media_type.clone(),
        size: 5,
        blob,
        owner: None,
        folder: None,
        manage_token_hash: u.manage_token_hash.clone(),
        created_at,
    }
}
