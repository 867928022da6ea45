//! What privacy needs from the database, on both backends: client addresses
//! forgotten once an upload is finished and past the retention (under an
//! injected clock), anonymous files claimed by their token's digest once,
//! an account's holdings given to another, and an account turned into a
//! tombstone whose address may sign up again.

use carrel_core::account::Scopes;
use carrel_core::ids::{AccountId, BlobHash, FileId, FolderId, Secret, TokenId, UploadId};
use carrel_core::media::MediaType;
use carrel_core::name::FileName;
use carrel_core::time::Timestamp;
use carrel_db::accounts::*;
use carrel_db::*;

mod common;
use common::{account, backends, email_filter};

fn upload(owner: Option<&AccountId>, created_at: i64, ip: &str) -> NewUpload {
    NewUpload {
        id: UploadId::generate(),
        length: Some(3),
        metadata: String::new(),
        kind: UploadKind::Single,
        owner: owner.cloned(),
        client_ip: Some(ip.into()),
        file_name: FileName::new("a.bin").unwrap(),
        media_type: MediaType::new("application/octet-stream").unwrap(),
        share: None,
        manage_token_hash: None,
        expires_at: Timestamp(created_at + 86_400 * 365),
        created_at: Timestamp(created_at),
    }
}

/// A finished file from an upload, with a management token (its secret is returned).
async fn file(db: &dyn Database, owner: Option<&AccountId>) -> (FileId, Secret, UploadId) {
    let u = upload(owner, 1000, "192.0.2.7");
    db.create_upload(&u).await.unwrap();
    let token = Secret::generate();
    let mut h = [7u8; 32];
    h[..16].copy_from_slice(&FileId::generate().as_str().as_bytes()[..16]);
    let blob = BlobHash::from_bytes(h);
    let f = NewFile {
        id: FileId::generate(),
        name: FileName::new("a.bin").unwrap(),
        media_type: MediaType::new("application/octet-stream").unwrap(),
        size: 3,
        blob,
        owner: owner.cloned(),
        folder: None,
        manage_token_hash: Some(token.hash()),
        created_at: Timestamp(1000),
    };
    let id = f.id.clone();
    db.complete_upload(&Completion {
        upload: u.id.clone(),
        blob,
        file: f,
        share: None,
        jobs: vec![],
    })
    .await
    .unwrap();
    (id, token, u.id)
}

async fn ada_and_bob(db: &dyn Database) -> (Account, Account) {
    let ada = account("ada@example.org");
    let bob = account("bob@example.org");
    for a in [&ada, &bob] {
        db.create_account(a, None).await.unwrap();
    }
    (ada, bob)
}

async fn address(db: &dyn Database, id: &UploadId) -> Option<String> {
    db.upload(id).await.unwrap().unwrap().client_ip.clone()
}

#[tokio::test]
async fn addresses_are_kept_only_while_needed_and_never_past_retention() {
    for (db, _dir) in backends().await {
        let b = db.backend();
        let old = upload(None, 10_000, "198.51.100.1");
        let edge = upload(None, 20_000, "198.51.100.2");
        let new = upload(None, 30_000, "198.51.100.3");
        for u in [&old, &edge, &new] {
            db.create_upload(u).await.unwrap();
        }
        // The per-address limit sees all three while they are unfinished.
        assert_eq!(
            db.active_uploads_from("198.51.100.1", Timestamp(30_000))
                .await
                .unwrap(),
            1
        );
        // Retention cut at 20 000: strictly older addresses go, the rest stay.
        assert_eq!(
            db.erase_addresses(Timestamp(20_000)).await.unwrap(),
            1,
            "{b:?}"
        );
        assert_eq!(address(&*db, &old.id).await, None, "{b:?}");
        assert_eq!(
            address(&*db, &edge.id).await.as_deref(),
            Some("198.51.100.2")
        );
        assert_eq!(
            address(&*db, &new.id).await.as_deref(),
            Some("198.51.100.3")
        );
        assert_eq!(
            db.active_uploads_from("198.51.100.1", Timestamp(30_000))
                .await
                .unwrap(),
            0,
            "{b:?}: a forgotten address counts no more"
        );
        // Again: nothing more to forget; later, the rest.
        assert_eq!(db.erase_addresses(Timestamp(20_000)).await.unwrap(), 0);
        assert_eq!(db.erase_addresses(Timestamp(30_001)).await.unwrap(), 2);
        assert_eq!(address(&*db, &new.id).await, None);
        // A finished upload forgets its address at once.
        let (_, _, done) = file(&*db, None).await;
        assert_eq!(address(&*db, &done).await, None, "{b:?}");
    }
}

#[tokio::test]
async fn anonymous_files_are_claimed_once_by_their_token() {
    for (db, _dir) in backends().await {
        let b = db.backend();
        let (ada, bob) = ada_and_bob(&*db).await;
        let (id, token, _) = file(&*db, None).await;
        let found = db.files_with_token(&token.hash()).await.unwrap();
        assert_eq!(found.len(), 1, "{b:?}");
        assert_eq!(found[0].id, id);
        assert!(
            db.files_with_token(&Secret::generate().hash())
                .await
                .unwrap()
                .is_empty()
        );
        assert!(db.claim_file(&id, &ada.id).await.unwrap(), "{b:?}");
        assert!(
            !db.claim_file(&id, &bob.id).await.unwrap(),
            "{b:?}: claimed once"
        );
        let f = db.file(&id).await.unwrap().unwrap();
        assert_eq!(f.owner.as_ref(), Some(&ada.id));
        assert_eq!(db.storage_used(&ada.id, Timestamp(2000)).await.unwrap(), 3);
    }
}

#[tokio::test]
async fn holdings_move_and_accounts_become_tombstones() {
    for (db, _dir) in backends().await {
        let b = db.backend();
        let (ada, bob) = ada_and_bob(&*db).await;
        let (f1, _, _) = file(&*db, Some(&ada.id)).await;
        let (f2, _, _) = file(&*db, Some(&ada.id)).await;
        let folder = NewFolder {
            id: FolderId::generate(),
            name: FileName::new("Papers").unwrap(),
            owner: Some(ada.id.clone()),
            manage_token_hash: None,
            created_at: Timestamp(1000),
        };
        db.create_folder(&folder, std::slice::from_ref(&f1))
            .await
            .unwrap();
        let open = upload(Some(&ada.id), 1000, "192.0.2.9");
        db.create_upload(&open).await.unwrap();
        assert_eq!(db.owned_uploads(&ada.id).await.unwrap().len(), 3, "{b:?}");

        assert_eq!(
            db.transfer_holdings(&ada.id, &bob.id).await.unwrap(),
            2,
            "{b:?}"
        );
        for f in [&f1, &f2] {
            assert_eq!(
                db.file(f).await.unwrap().unwrap().owner.as_ref(),
                Some(&bob.id)
            );
        }
        assert_eq!(db.owned_folders(&bob.id).await.unwrap().len(), 1);
        assert!(db.owned_folders(&ada.id).await.unwrap().is_empty());
        assert!(db.owned_uploads(&ada.id).await.unwrap().is_empty());
        assert_eq!(db.owned_uploads(&bob.id).await.unwrap().len(), 3);

        // Credentials of every kind, then the tombstone.
        let session = Secret::generate();
        db.create_session(&NewSession {
            token_hash: session.hash(),
            account: ada.id.clone(),
            expires_at: Timestamp(i64::MAX / 2),
            created_at: Timestamp(1000),
        })
        .await
        .unwrap();
        let token = Secret::generate();
        db.create_token(&ApiToken {
            id: TokenId::generate(),
            account: ada.id.clone(),
            name: "backup".into(),
            token_hash: token.hash(),
            scopes: Scopes::ALL,
            created_at: Timestamp(1000),
            last_used_at: None,
        })
        .await
        .unwrap();
        let tomb = carrel_core::privacy::tombstone_email(&ada.id);
        assert!(
            db.erase_account(&ada.id, &tomb, Timestamp(5000))
                .await
                .unwrap(),
            "{b:?}"
        );
        assert!(
            !db.erase_account(&ada.id, &tomb, Timestamp(6000))
                .await
                .unwrap(),
            "once"
        );
        let gone = db.account(&ada.id).await.unwrap().unwrap();
        assert_eq!(gone.email.as_str(), tomb);
        assert_eq!(gone.password_hash, "!");
        assert_eq!(gone.deleted_at, Some(Timestamp(5000)));
        assert!(gone.suspended_at.is_some());
        assert!(
            db.session_account(&session.hash(), Timestamp(2000))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            db.token_account(&token.hash(), Timestamp(2000))
                .await
                .unwrap()
                .is_none()
        );
        assert!(db.tokens(&ada.id).await.unwrap().is_empty());
        assert_eq!(
            db.count_accounts().await.unwrap(),
            1,
            "{b:?}: tombstones do not count"
        );
        assert!(
            db.search_accounts(&email_filter("deleted"), "", 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            db.account_by_email(&"ada@example.org".parse().unwrap())
                .await
                .unwrap()
                .is_none()
        );
        // The address may sign up again, as a new account.
        db.create_account(&account("ada@example.org"), None)
            .await
            .unwrap();
    }
}
