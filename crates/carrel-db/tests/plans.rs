//! What plans need from the database, on both backends: the storage an
//! account uses (files and unfinished uploads), when files were last
//! downloaded, which files are inactive for retention (by plan, under an
//! injected clock), plan changes and webhook replays.

use carrel_core::account::{Email, Role};
use carrel_core::ids::{AccountId, BlobHash, FileId, Secret, UploadId};
use carrel_core::media::MediaType;
use carrel_core::name::FileName;
use carrel_core::time::Timestamp;
use carrel_db::accounts::Account;
use carrel_db::*;

mod common;
use common::backends;

fn account(email: &str, plan: &str) -> Account {
    Account {
        id: AccountId::generate(),
        email: email.parse::<Email>().unwrap(),
        password_hash: "$argon2id$stub".into(),
        role: Role::User,
        plan: plan.into(),
        suspended_at: None,
        deleted_at: None,
        created_at: Timestamp(1000),
    }
}

fn upload(owner: Option<&AccountId>, length: Option<i64>) -> NewUpload {
    NewUpload {
        id: UploadId::generate(),
        length,
        metadata: String::new(),
        kind: UploadKind::Single,
        owner: owner.cloned(),
        client_ip: Some("127.0.0.1".into()),
        file_name: FileName::new("a.bin").unwrap(),
        media_type: MediaType::new("application/octet-stream").unwrap(),
        share: None,
        manage_token_hash: Some(Secret::generate().hash()),
        expires_at: Timestamp(5000),
        created_at: Timestamp(1000),
    }
}

/// Stores a complete file of `size` bytes owned by `owner`, created at `at`.
async fn file(db: &dyn Database, owner: Option<&AccountId>, size: i64, at: i64) -> FileId {
    let u = upload(owner, Some(size));
    db.create_upload(&u).await.unwrap();
    let mut h = [0u8; 32];
    h[..16].copy_from_slice(&rand_bytes());
    let blob = BlobHash::from_bytes(h);
    let f = NewFile {
        id: FileId::generate(),
        name: FileName::new("a.bin").unwrap(),
        media_type: MediaType::new("application/octet-stream").unwrap(),
        size,
        blob,
        owner: owner.cloned(),
        folder: None,
        manage_token_hash: None,
        created_at: Timestamp(at),
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
    id
}

fn rand_bytes() -> [u8; 16] {
    FileId::generate().as_str().as_bytes()[..16]
        .try_into()
        .unwrap()
}

#[tokio::test]
async fn plans_on_every_backend() {
    for (db, _dir) in backends().await {
        let b = db.backend();
        let db: &dyn Database = &*db;
        let ada = account("ada@example.org", "free");
        let bob = account("bob@example.org", "premium");
        db.create_account(&ada, None).await.unwrap();
        db.create_account(&bob, None).await.unwrap();

        // Storage: files, plus unfinished uploads at their declared length
        // (or what arrived while the length is deferred); others' files do
        // not count, nor expired uploads.
        assert_eq!(db.storage_used(&ada.id, Timestamp(1000)).await.unwrap(), 0);
        let a1 = file(db, Some(&ada.id), 100, 1000).await;
        let a2 = file(db, Some(&ada.id), 50, 1000).await;
        let _b1 = file(db, Some(&bob.id), 7, 1000).await;
        let anon = file(db, None, 9, 1000).await;
        let pending = upload(Some(&ada.id), Some(1000));
        db.create_upload(&pending).await.unwrap();
        let deferred = upload(Some(&ada.id), None);
        db.create_upload(&deferred).await.unwrap();
        assert!(
            db.advance_upload(&deferred.id, 0, 30, Timestamp(5000))
                .await
                .unwrap()
        );
        assert_eq!(
            db.storage_used(&ada.id, Timestamp(1000)).await.unwrap(),
            100 + 50 + 1000 + 30,
            "{b:?}"
        );
        assert_eq!(
            db.storage_used(&ada.id, Timestamp(6000)).await.unwrap(),
            150,
            "{b:?}: expired uploads no longer count"
        );

        // Parts of a concatenation count until their final upload is a
        // file; then only the file counts (the parts wait for expiry).
        let mut parts = Vec::new();
        for _ in 0..2 {
            let mut p = upload(Some(&bob.id), Some(10));
            p.kind = UploadKind::Partial;
            db.create_upload(&p).await.unwrap();
            assert!(
                db.advance_upload(&p.id, 0, 10, Timestamp(5000))
                    .await
                    .unwrap()
            );
            parts.push(p.id);
        }
        let bob_before = db.storage_used(&bob.id, Timestamp(1000)).await.unwrap();
        assert_eq!(bob_before, 7 + 20, "{b:?}");
        let mut fin = upload(Some(&bob.id), Some(20));
        fin.kind = UploadKind::Final(parts.clone());
        db.create_upload(&fin).await.unwrap();
        assert_eq!(
            db.storage_used(&bob.id, Timestamp(1000)).await.unwrap(),
            27,
            "{b:?}"
        );
        let f = NewFile {
            id: FileId::generate(),
            name: FileName::new("joined.bin").unwrap(),
            media_type: MediaType::new("application/octet-stream").unwrap(),
            size: 20,
            blob: BlobHash::from_bytes([9; 32]),
            owner: Some(bob.id.clone()),
            folder: None,
            manage_token_hash: None,
            created_at: Timestamp(1000),
        };
        db.complete_upload(&Completion {
            upload: fin.id.clone(),
            blob: f.blob,
            file: f,
            share: None,
            jobs: vec![],
        })
        .await
        .unwrap();
        assert_eq!(
            db.storage_used(&bob.id, Timestamp(1000)).await.unwrap(),
            7 + 20,
            "{b:?}: the parts of a finished concatenation are not counted again"
        );

        // Retention: a file is inactive from its last download (or its
        // creation); the clock is passed in.
        db.touch_files(std::slice::from_ref(&a2), Timestamp(3000))
            .await
            .unwrap();
        let free_inactive = db
            .inactive_files(Some("free"), Timestamp(2000), 10)
            .await
            .unwrap();
        assert_eq!(free_inactive, vec![a1.clone()], "{b:?}");
        let free_later = db
            .inactive_files(Some("free"), Timestamp(3001), 10)
            .await
            .unwrap();
        assert_eq!(free_later.len(), 2, "{b:?}");
        assert_eq!(free_later[0], a1, "{b:?}: least recently used first");
        assert_eq!(
            db.inactive_files(None, Timestamp(2000), 10).await.unwrap(),
            vec![anon.clone()],
            "{b:?}: anonymous files"
        );
        assert!(
            db.inactive_files(Some("premium"), Timestamp(1000), 10)
                .await
                .unwrap()
                .is_empty(),
            "{b:?}: created at 1000 is not before 1000"
        );
        let notice = db
            .owner_inactive_files(&ada.id, Timestamp(2000), 10)
            .await
            .unwrap();
        assert_eq!(notice.len(), 1);
        assert_eq!(notice[0].0.id, a1);
        assert_eq!(notice[0].1, Timestamp(1000));

        // Plans change; the retention query follows.
        assert!(db.set_plan(&bob.id, "free").await.unwrap());
        assert!(!db.set_plan(&AccountId::generate(), "free").await.unwrap());
        assert_eq!(
            db.inactive_files(Some("free"), Timestamp(3001), 10)
                .await
                .unwrap()
                .len(),
            4,
            "{b:?}"
        );

        // Webhook events are applied once.
        assert!(
            db.record_webhook_event("evt_1", Timestamp(1000))
                .await
                .unwrap()
        );
        assert!(
            !db.record_webhook_event("evt_1", Timestamp(1001))
                .await
                .unwrap()
        );
        assert!(
            db.record_webhook_event("evt_2", Timestamp(1000))
                .await
                .unwrap()
        );
    }
}

#[tokio::test]
async fn admin_filters_and_usage_on_every_backend() {
    use carrel_db::accounts::AccountFilter;
    use carrel_db::usage::DAY_SECS;
    for (db, _dir) in backends().await {
        let b = db.backend();
        let ada = account("ada@example.org", "free");
        let mut bob = account("bob@example.net", "premium");
        bob.role = Role::Moderator;
        let cy = account("cy@example.org", "premium");
        for a in [&ada, &bob, &cy] {
            db.create_account(a, None).await.unwrap();
        }
        db.set_suspended(&cy.id, Some(Timestamp(2000)))
            .await
            .unwrap();
        let find = |f: AccountFilter| {
            let db = db.clone();
            async move {
                let found = db.search_accounts(&f, "", 10).await.unwrap();
                assert_eq!(db.count_matching(&f).await.unwrap(), found.len() as i64);
                found
                    .into_iter()
                    .map(|a| a.email.as_str().to_owned())
                    .collect::<Vec<_>>()
            }
        };
        let premium = AccountFilter {
            plan: Some("premium".into()),
            ..Default::default()
        };
        assert_eq!(
            find(premium.clone()).await,
            ["bob@example.net", "cy@example.org"],
            "{b:?}"
        );
        let active_premium = AccountFilter {
            suspended: Some(false),
            ..premium.clone()
        };
        assert_eq!(find(active_premium).await, ["bob@example.net"], "{b:?}");
        let suspended = AccountFilter {
            suspended: Some(true),
            ..Default::default()
        };
        assert_eq!(find(suspended).await, ["cy@example.org"], "{b:?}");
        let mods = AccountFilter {
            role: Some(Role::Moderator),
            email: ".NET".into(),
            ..Default::default()
        };
        assert_eq!(find(mods).await, ["bob@example.net"], "{b:?}");
        let none = AccountFilter {
            plan: Some("'; DROP TABLE accounts; --".into()),
            ..Default::default()
        };
        assert!(find(none).await.is_empty());
        // Pages by address.
        let page = db
            .search_accounts(&AccountFilter::default(), "ada@example.org", 1)
            .await
            .unwrap();
        assert_eq!(page[0].email.as_str(), "bob@example.net", "{b:?}");

        // Storage by plan and account; files per day of creation.
        let day = 20_000;
        file(&*db, Some(&ada.id), 100, day * DAY_SECS + 5).await;
        file(&*db, Some(&bob.id), 300, day * DAY_SECS + 10).await;
        file(&*db, Some(&bob.id), 200, (day + 2) * DAY_SECS).await;
        file(&*db, None, 7, (day + 2) * DAY_SECS + 1).await;
        file(&*db, None, 1, (day - 1) * DAY_SECS).await;
        let s = db.storage_usage(2).await.unwrap();
        assert_eq!((s.files, s.bytes), (5, 608), "{b:?}");
        let plans: Vec<_> = s
            .per_plan
            .iter()
            .map(|p| (p.plan.as_deref(), p.accounts, p.files, p.bytes))
            .collect();
        assert_eq!(
            plans,
            [
                (Some("free"), 1, 1, 100),
                (Some("premium"), 2, 2, 500),
                (None, 0, 2, 8)
            ],
            "{b:?}"
        );
        let top: Vec<_> = s
            .top
            .iter()
            .map(|t| (t.email.as_str(), t.files, t.bytes))
            .collect();
        assert_eq!(
            top,
            [("bob@example.net", 2, 500), ("ada@example.org", 1, 100)],
            "{b:?}"
        );
        let days: Vec<_> = db
            .uploads_per_day(day)
            .await
            .unwrap()
            .iter()
            .map(|d| (d.day, d.count, d.bytes))
            .collect();
        assert_eq!(days, [(day, 2, 400), (day + 2, 2, 207)], "{b:?}");

        // Bytes served add up per day.
        db.add_traffic(day, 1000, 1).await.unwrap();
        db.add_traffic(day, 24, 2).await.unwrap();
        db.add_traffic(day + 1, 5, 1).await.unwrap();
        db.add_traffic(day - 3, 9, 1).await.unwrap();
        let t: Vec<_> = db
            .traffic_per_day(day)
            .await
            .unwrap()
            .iter()
            .map(|d| (d.day, d.count, d.bytes))
            .collect();
        assert_eq!(t, [(day, 3, 1024), (day + 1, 1, 5)], "{b:?}");
    }
}

#[tokio::test]
async fn uploads_created_at_once_stay_within_the_quota() {
    for (db, _dir) in backends().await {
        let b = db.backend();
        let ada = account("ada@example.org", "tiny");
        db.create_account(&ada, None).await.unwrap();
        file(&*db, Some(&ada.id), 50, 1000).await;
        // Eight uploads of 100 bytes at once against 350 bytes of quota (50
        // used): exactly three fit, whatever the order they arrive in.
        let tries: Vec<_> = (0..8)
            .map(|_| {
                let db = db.clone();
                let u = upload(Some(&ada.id), Some(100));
                tokio::spawn(async move { db.create_upload_within(&u, 350, Timestamp(1000)).await })
            })
            .collect();
        let mut created = 0;
        for t in tries {
            created += t.await.unwrap().unwrap() as i32;
        }
        assert_eq!(created, 3, "{b:?}");
        assert_eq!(
            db.storage_used(&ada.id, Timestamp(1000)).await.unwrap(),
            350,
            "{b:?}: the refused ones left nothing"
        );
        // An expired reservation frees its room; anonymous uploads have no quota.
        let mut later = upload(Some(&ada.id), Some(300));
        later.expires_at = Timestamp(9000);
        assert!(
            db.create_upload_within(&later, 350, Timestamp(6000))
                .await
                .unwrap(),
            "{b:?}"
        );
        assert!(
            db.create_upload_within(&upload(None, Some(1 << 40)), 1, Timestamp(1000))
                .await
                .unwrap()
        );
        // A deferred length is set only within the quota, once.
        let bob = account("bob@example.org", "tiny");
        db.create_account(&bob, None).await.unwrap();
        let d = upload(Some(&bob.id), None);
        db.create_upload(&d).await.unwrap();
        let within = |l| db.set_upload_length_within(&d.id, &bob.id, l, 100, Timestamp(1000));
        assert_eq!(within(101).await.unwrap(), None, "{b:?}");
        assert_eq!(
            db.storage_used(&bob.id, Timestamp(1000)).await.unwrap(),
            0,
            "{b:?}"
        );
        assert_eq!(within(100).await.unwrap(), Some(true), "{b:?}");
        assert_eq!(within(50).await.unwrap(), Some(false), "{b:?}");
        assert_eq!(
            db.storage_used(&bob.id, Timestamp(1000)).await.unwrap(),
            100,
            "{b:?}"
        );
    }
}
