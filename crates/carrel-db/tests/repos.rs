//! The repository contract, run against both backends: SQLite in a temporary
//! directory and PostgreSQL in a fresh database (skipped with a visible
//! message only when no server answers and CARREL_REQUIRE_POSTGRES is unset).

use carrel_core::ids::{BlobHash, FolderId, Secret, ShareId, UploadId};
use carrel_core::media::MediaType;
use carrel_core::name::FileName;
use carrel_core::share::ShareRules;
use carrel_core::time::Timestamp;
use carrel_db::*;

mod common;
use common::backends;

fn new_upload(kind: UploadKind, share: Option<PlannedShare>) -> NewUpload {
    NewUpload {
        id: UploadId::generate(),
        length: Some(5),
        metadata: "filename YS50eHQ=".into(),
        kind,
        owner: None,
        client_ip: Some("127.0.0.1".into()),
        file_name: FileName::new("a.txt").unwrap(),
        media_type: MediaType::new("text/plain").unwrap(),
        share,
        manage_token_hash: Some(Secret::generate().hash()),
        expires_at: Timestamp(2000),
        created_at: Timestamp(1000),
    }
}

fn completion(u: &NewUpload, blob: BlobHash, share: Option<ShareId>) -> Completion {
    let file = common::file_of(u, blob, Timestamp(1001));
    let share = share.map(|id| NewShare {
        id,
        target: ShareTarget::File(file.id.clone()),
        rules: ShareRules {
            max_downloads: Some(2),
            ..Default::default()
        },
        password_hash: None,
        created_at: Timestamp(1001),
    });
    Completion {
        upload: u.id.clone(),
        blob,
        file,
        share,
        jobs: vec![],
    }
}

#[tokio::test]
async fn upload_lifecycle_on_every_backend() {
    for (db, _dir) in backends().await {
        let b = db.backend();
        let share_id = ShareId::generate();
        let planned = PlannedShare {
            id: share_id.clone(),
            rules: ShareRules::default(),
            password_hash: None,
        };
        let u = new_upload(UploadKind::Single, Some(planned));
        db.create_upload(&u).await.unwrap();
        assert!(
            matches!(db.create_upload(&u).await, Err(DbError::Conflict)),
            "{b:?}"
        );
        let got = db.upload(&u.id).await.unwrap().unwrap();
        assert_eq!((got.offset, got.completed, got.length), (0, false, Some(5)));
        assert_eq!(got.share.as_ref().unwrap().id, share_id);
        assert_eq!(
            db.active_uploads_from("127.0.0.1", Timestamp(1500))
                .await
                .unwrap(),
            1
        );
        assert!(
            db.advance_upload(&u.id, 0, 3, Timestamp(2000))
                .await
                .unwrap()
        );
        assert!(
            !db.advance_upload(&u.id, 0, 4, Timestamp(2000))
                .await
                .unwrap(),
            "{b:?}: stale offset must not advance"
        );
        assert!(
            !db.set_upload_length(&u.id, 9).await.unwrap(),
            "length already set"
        );
        assert_eq!(
            db.expired_uploads(Timestamp(1999), 10).await.unwrap(),
            vec![]
        );
        assert_eq!(
            db.expired_uploads(Timestamp(2000), 10).await.unwrap(),
            vec![u.id.clone()]
        );

        let blob = BlobHash::from_bytes([7; 32]);
        let c = completion(&u, blob, Some(share_id.clone()));
        db.complete_upload(&c).await.unwrap();
        let done = db.upload(&u.id).await.unwrap().unwrap();
        assert!(done.completed);
        assert_eq!(done.file_id.as_ref(), Some(&c.file.id));
        assert_eq!(
            db.active_uploads_from("127.0.0.1", Timestamp(1500))
                .await
                .unwrap(),
            0
        );

        // A second file with the same content references the same blob.
        let u2 = new_upload(UploadKind::Partial, None);
        db.create_upload(&u2).await.unwrap();
        let c2 = completion(&u2, blob, None);
        db.complete_upload(&c2).await.unwrap();

        let share = db.share(&share_id).await.unwrap().unwrap();
        assert_eq!(share.target, ShareTarget::File(c.file.id.clone()));
        assert!(db.count_download(&share_id).await.unwrap());
        assert!(db.count_download(&share_id).await.unwrap());
        assert!(
            !db.count_download(&share_id).await.unwrap(),
            "{b:?}: limit of 2"
        );
        assert_eq!(
            db.share(&share_id).await.unwrap().unwrap().download_count,
            2
        );

        let rules = ShareRules {
            disabled_reason: Some("test".into()),
            ..Default::default()
        };
        assert!(
            db.update_share(&share_id, &rules, Some(Some("$argon2id$x".into())))
                .await
                .unwrap()
        );
        let s = db.share(&share_id).await.unwrap().unwrap();
        assert_eq!(s.rules, rules);
        assert_eq!(s.password_hash.as_deref(), Some("$argon2id$x"));
        assert!(db.update_share(&share_id, &rules, None).await.unwrap());
        assert_eq!(
            db.share(&share_id)
                .await
                .unwrap()
                .unwrap()
                .password_hash
                .as_deref(),
            Some("$argon2id$x")
        );

        assert_eq!(
            db.delete_file(&c.file.id).await.unwrap(),
            None,
            "{b:?}: blob still referenced"
        );
        assert!(
            db.share(&share_id).await.unwrap().is_none(),
            "links go with their file"
        );
        assert!(db.blob_referenced(&blob).await.unwrap());
        let pending = db.pending_jobs().await.unwrap();
        let released = db.delete_file(&c2.file.id).await.unwrap().unwrap();
        assert_eq!(released.hash, blob, "{b:?}: last reference");
        assert!(!db.blob_referenced(&blob).await.unwrap());
        assert_eq!(
            db.pending_jobs().await.unwrap(),
            pending + 1,
            "{b:?}: the bytes' deletion is queued with the change"
        );
        let now = Timestamp::now();
        assert!(
            db.claim_job("", now, now).await.unwrap().is_none(),
            "{b:?}: the job waits while the caller deletes the bytes itself"
        );
        let later = now.plus(std::time::Duration::from_secs(61));
        let job = db.claim_job("", later, later).await.unwrap().unwrap();
        assert_eq!(
            (job.id, job.kind.as_str(), job.payload.clone()),
            (released.job, JOB_BLOB_DELETE, blob.to_hex())
        );
        db.finish_job(job.id).await.unwrap();
        assert_eq!(db.delete_file(&c2.file.id).await.unwrap(), None);
        assert!(db.delete_upload(&u.id).await.unwrap());
        assert!(!db.delete_upload(&u.id).await.unwrap());
    }
}

#[tokio::test]
async fn folders_and_final_uploads_on_every_backend() {
    for (db, _dir) in backends().await {
        let parts = vec![UploadId::generate(), UploadId::generate()];
        let fin = new_upload(UploadKind::Final(parts.clone()), None);
        db.create_upload(&fin).await.unwrap();
        assert_eq!(
            db.upload(&fin.id).await.unwrap().unwrap().kind,
            UploadKind::Final(parts)
        );

        let mut files = vec![];
        for (i, byte) in [1u8, 2].iter().enumerate() {
            let u = new_upload(UploadKind::Single, None);
            db.create_upload(&u).await.unwrap();
            let mut c = completion(&u, BlobHash::from_bytes([*byte; 32]), None);
            c.file.name = FileName::new(&format!("f{i}.txt")).unwrap();
            db.complete_upload(&c).await.unwrap();
            files.push(c.file.id);
        }
        let folder = NewFolder {
            id: FolderId::generate(),
            name: FileName::new("photos").unwrap(),
            owner: None,
            manage_token_hash: None,
            created_at: Timestamp(5),
        };
        db.create_folder(&folder, &files).await.unwrap();
        let listed = db.folder_files(&folder.id).await.unwrap();
        assert_eq!(
            listed.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
            ["f0.txt", "f1.txt"]
        );
        assert_eq!(
            db.folder(&folder.id).await.unwrap().unwrap().name.as_str(),
            "photos"
        );
        let sid = ShareId::generate();
        db.create_share(&NewShare {
            id: sid.clone(),
            target: ShareTarget::Folder(folder.id.clone()),
            rules: ShareRules::default(),
            password_hash: None,
            created_at: Timestamp(6),
        })
        .await
        .unwrap();
        db.add_downloads(&sid, 41).await.unwrap();
        assert_eq!(db.share(&sid).await.unwrap().unwrap().download_count, 41);
    }
}

#[tokio::test]
async fn job_queue_on_every_backend() {
    use std::time::Duration;
    for (db, _dir) in backends().await {
        let b = db.backend();
        let t = Timestamp(1_000_000);
        let later = db
            .enqueue_job("k", "later", t.plus(Duration::from_secs(100)))
            .await
            .unwrap();
        let first = db.enqueue_job("k", "first", t).await.unwrap();
        let second = db.enqueue_job("k", "second", t).await.unwrap();
        assert_eq!(db.pending_jobs().await.unwrap(), 3);
        let lease = |now: Timestamp| now.plus(Duration::from_secs(30));

        let j = db.claim_job("", t, lease(t)).await.unwrap().unwrap();
        assert_eq!(
            (j.id, j.payload.as_str(), j.attempts),
            (first, "first", 1),
            "{b:?}"
        );
        let j2 = db.claim_job("", t, lease(t)).await.unwrap().unwrap();
        assert_eq!(j2.id, second, "{b:?}: a leased job is not claimed twice");
        assert!(
            db.claim_job("", t, lease(t)).await.unwrap().is_none(),
            "{b:?}: `later` is not due"
        );
        // `second`'s worker renews its lease (a heartbeat): not taken when the first lease ends.
        let beat = t.plus(Duration::from_secs(20));
        assert!(db.renew_job(&j2, lease(beat)).await.unwrap(), "{b:?}");
        let past_first = t.plus(Duration::from_secs(40));
        let taken = db
            .claim_job("", past_first, lease(past_first))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            taken.id, first,
            "{b:?}: the renewed job is still held; the other one's lease ran out"
        );
        // `first`'s old worker wakes up: its lease is someone else's now.
        assert!(!db.renew_job(&j, lease(past_first)).await.unwrap(), "{b:?}");
        assert!(
            db.renew_job(&taken, lease(past_first)).await.unwrap(),
            "{b:?}"
        );
        db.retry_job(taken.id, t, "given back").await.unwrap();
        assert!(
            !db.renew_job(&taken, lease(past_first)).await.unwrap(),
            "{b:?}: a job given back is no longer held"
        );

        // The worker of `first` died: its lease runs out and it runs again.
        let after = t.plus(Duration::from_secs(31));
        let again = db
            .claim_job("", after, lease(after))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((again.id, again.attempts), (first, 3), "{b:?}");
        db.retry_job(
            again.id,
            after.plus(Duration::from_secs(1000)),
            "disk on fire",
        )
        .await
        .unwrap();
        db.finish_job(second).await.unwrap();
        let far = t.plus(Duration::from_secs(200));
        let j = db.claim_job("", far, lease(far)).await.unwrap().unwrap();
        assert_eq!(j.id, later, "{b:?}: the retried job waits for its new time");
        db.finish_job(later).await.unwrap();
        assert!(db.claim_job("", far, lease(far)).await.unwrap().is_none());
        let end = t.plus(Duration::from_secs(2000));
        let j = db.claim_job("", end, lease(end)).await.unwrap().unwrap();
        assert_eq!((j.id, j.attempts), (first, 4), "{b:?}");
        db.finish_job(j.id).await.unwrap();
        assert_eq!(db.pending_jobs().await.unwrap(), 0, "{b:?}");
    }
}
