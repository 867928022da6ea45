//! "My files" on both backends: an owner's listing (search, folder, order,
//! paging), folders with their counts, renames, moves, deleting many files
//! at once (one transaction, blobs released with their last reference),
//! and the links of a file (many at once, deleted one by one).

use carrel_core::ids::{AccountId, BlobHash, FileId, FolderId, ShareId, UploadId};
use carrel_core::media::MediaType;
use carrel_core::name::FileName;
use carrel_core::share::ShareRules;
use carrel_core::time::Timestamp;
use carrel_db::*;

mod common;
use common::{account, backends};

/// Stores a complete file named `name` of `size` bytes; `blob` picks its
/// content (files with the same `blob` share their bytes).
async fn file(
    db: &dyn Database,
    owner: &AccountId,
    name: &str,
    size: i64,
    at: i64,
    blob: u8,
) -> FileId {
    let u = NewUpload {
        id: UploadId::generate(),
        length: Some(size),
        metadata: String::new(),
        kind: UploadKind::Single,
        owner: Some(owner.clone()),
        client_ip: None,
        file_name: FileName::new(name).unwrap(),
        media_type: MediaType::new("application/octet-stream").unwrap(),
        share: None,
        manage_token_hash: None,
        expires_at: Timestamp(5000),
        created_at: Timestamp(at),
    };
    db.create_upload(&u).await.unwrap();
    let mut h = [7u8; 32];
    h[0] = blob;
    h[1..17].copy_from_slice(&owner.as_str().as_bytes()[..16]);
    let f = NewFile {
        id: FileId::generate(),
        name: FileName::new(name).unwrap(),
        media_type: MediaType::new("application/octet-stream").unwrap(),
        size,
        blob: BlobHash::from_bytes(h),
        owner: Some(owner.clone()),
        folder: None,
        manage_token_hash: None,
        created_at: Timestamp(at),
    };
    let id = f.id.clone();
    db.complete_upload(&Completion {
        upload: u.id.clone(),
        blob: f.blob,
        file: f,
        share: None,
        jobs: vec![],
    })
    .await
    .unwrap();
    id
}

fn query(owner: &AccountId) -> FileQuery {
    FileQuery {
        owner: owner.clone(),
        search: None,
        folder: FolderFilter::Any,
        sort: FileSort::Name,
        descending: false,
        offset: 0,
        limit: 100,
    }
}

async fn names(db: &dyn Database, q: &FileQuery) -> (Vec<String>, i64) {
    let (files, total) = db.list_files(q).await.unwrap();
    (files.iter().map(|f| f.name.to_string()).collect(), total)
}

fn share(file: &FileId, at: i64) -> NewShare {
    NewShare {
        id: ShareId::generate(),
        target: ShareTarget::File(file.clone()),
        rules: ShareRules::default(),
        password_hash: None,
        created_at: Timestamp(at),
    }
}

#[tokio::test]
async fn my_files_on_every_backend() {
    for (db, _dir) in backends().await {
        let b = db.backend();
        let db: &dyn Database = &*db;
        let ada = account("ada@example.org");
        let bob = account("bob@example.org");
        db.create_account(&ada, None).await.unwrap();
        db.create_account(&bob, None).await.unwrap();

        let report = file(db, &ada.id, "Report 2024.pdf", 300, 1003, 1).await;
        let _apple = file(db, &ada.id, "apple.txt", 10, 1001, 2).await;
        let _zebra = file(db, &ada.id, "Zebra.PNG", 20, 1002, 3).await;
        let ete = file(db, &ada.id, "ÉTÉ notes.md", 5, 1004, 4).await;
        let odd = file(db, &ada.id, "100%_done.txt", 7, 1005, 5).await;
        let _bobs = file(db, &bob.id, "apple pie.txt", 1, 1000, 6).await;

        // Name order ignores case, the same on both backends; others' files never show.
        let q = query(&ada.id);
        let (n, total) = names(db, &q).await;
        assert_eq!(total, 5, "{b:?}");
        assert_eq!(
            n,
            [
                "100%_done.txt",
                "apple.txt",
                "Report 2024.pdf",
                "Zebra.PNG",
                "ÉTÉ notes.md"
            ],
            "{b:?}"
        );
        let (n, _) = names(
            db,
            &FileQuery {
                descending: true,
                ..q.clone()
            },
        )
        .await;
        assert_eq!(n[0], "ÉTÉ notes.md", "{b:?}");
        let (n, _) = names(
            db,
            &FileQuery {
                sort: FileSort::Size,
                ..q.clone()
            },
        )
        .await;
        assert_eq!(
            n,
            [
                "ÉTÉ notes.md",
                "100%_done.txt",
                "apple.txt",
                "Zebra.PNG",
                "Report 2024.pdf"
            ],
            "{b:?}"
        );
        let (n, _) = names(
            db,
            &FileQuery {
                sort: FileSort::Created,
                descending: true,
                ..q.clone()
            },
        )
        .await;
        assert_eq!(n[0], "100%_done.txt", "{b:?}");

        // Search: a case-insensitive part of the name, Unicode capitals
        // included, and `%` / `_` are plain characters.
        for (s, want) in [
            ("REPORT", vec!["Report 2024.pdf"]),
            ("été", vec!["ÉTÉ notes.md"]),
            ("%", vec!["100%_done.txt"]),
            ("_", vec!["100%_done.txt"]),
            (".t", vec!["100%_done.txt", "apple.txt"]),
            ("nothing like it", vec![]),
        ] {
            let (n, total) = names(
                db,
                &FileQuery {
                    search: Some(s.into()),
                    ..q.clone()
                },
            )
            .await;
            assert_eq!(n, want, "{b:?}: {s:?}");
            assert_eq!(total, want.len() as i64, "{b:?}: {s:?}");
        }

        // Paging: the total counts every match, the page only its slice.
        let (n, total) = names(
            db,
            &FileQuery {
                offset: 1,
                limit: 2,
                ..q.clone()
            },
        )
        .await;
        assert_eq!(
            (n.as_slice(), total),
            (
                ["apple.txt", "Report 2024.pdf"]
                    .map(String::from)
                    .as_slice(),
                5
            ),
            "{b:?}"
        );

        // Folders: an empty one for the account, files moved in and out.
        let docs = NewFolder {
            id: FolderId::generate(),
            name: FileName::new("Docs").unwrap(),
            owner: Some(ada.id.clone()),
            manage_token_hash: None,
            created_at: Timestamp(1010),
        };
        db.create_folder(&docs, &[]).await.unwrap();
        let archive = NewFolder {
            id: FolderId::generate(),
            name: FileName::new("archive").unwrap(),
            ..docs.clone()
        };
        db.create_folder(&archive, &[]).await.unwrap();
        assert_eq!(
            db.move_files(&[report.clone(), ete.clone()], Some(&docs.id))
                .await
                .unwrap(),
            2
        );
        let folders = db.owned_folders(&ada.id).await.unwrap();
        let summary: Vec<_> = folders
            .iter()
            .map(|f| (f.folder.name.to_string(), f.files, f.bytes))
            .collect();
        assert_eq!(
            summary,
            [
                (String::from("archive"), 0, 0),
                (String::from("Docs"), 2, 305)
            ],
            "{b:?}"
        );
        assert!(db.owned_folders(&bob.id).await.unwrap().is_empty());
        let (n, _) = names(
            db,
            &FileQuery {
                folder: FolderFilter::In(docs.id.clone()),
                ..q.clone()
            },
        )
        .await;
        assert_eq!(n, ["Report 2024.pdf", "ÉTÉ notes.md"], "{b:?}");
        let (n, total) = names(
            db,
            &FileQuery {
                folder: FolderFilter::TopLevel,
                ..q.clone()
            },
        )
        .await;
        assert_eq!((n.len(), total), (3, 3), "{b:?}");
        assert_eq!(
            db.file(&report).await.unwrap().unwrap().folder,
            Some(docs.id.clone())
        );
        assert_eq!(
            db.move_files(std::slice::from_ref(&ete), None)
                .await
                .unwrap(),
            1
        );
        assert_eq!(db.file(&ete).await.unwrap().unwrap().folder, None);

        // Renames keep the search and the name order in step.
        assert!(
            db.rename_file(&report, &FileName::new("Ärger.pdf").unwrap())
                .await
                .unwrap()
        );
        let (n, _) = names(
            db,
            &FileQuery {
                search: Some("ärg".into()),
                ..q.clone()
            },
        )
        .await;
        assert_eq!(n, ["Ärger.pdf"], "{b:?}");
        assert!(
            !db.rename_file(&FileId::generate(), &FileName::new("x").unwrap())
                .await
                .unwrap()
        );
        assert!(
            db.rename_folder(&docs.id, &FileName::new("Papers").unwrap())
                .await
                .unwrap()
        );
        assert_eq!(
            db.folder(&docs.id).await.unwrap().unwrap().name.as_str(),
            "Papers"
        );

        // A folder's deletion keeps its files (in no folder) and drops its links.
        let link = NewShare {
            target: ShareTarget::Folder(docs.id.clone()),
            ..share(&report, 1020)
        };
        db.create_share(&link).await.unwrap();
        assert_eq!(db.shares_of_folder(&docs.id).await.unwrap().len(), 1);
        assert!(db.delete_folder(&docs.id).await.unwrap());
        assert!(!db.delete_folder(&docs.id).await.unwrap());
        assert!(db.share(&link.id).await.unwrap().is_none(), "{b:?}");
        assert_eq!(
            db.file(&report).await.unwrap().unwrap().folder,
            None,
            "{b:?}"
        );

        // Links of many files at once; one deleted by itself.
        let s1 = share(&report, 1030);
        let s2 = share(&report, 1031);
        let s3 = share(&odd, 1032);
        for s in [&s1, &s2, &s3] {
            db.create_share(s).await.unwrap();
        }
        let all = db
            .shares_of_files(&[report.clone(), odd.clone()])
            .await
            .unwrap();
        assert_eq!(
            all.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
            [s1.id.clone(), s2.id.clone(), s3.id.clone()]
        );
        assert!(db.shares_of_files(&[]).await.unwrap().is_empty());
        assert!(db.delete_share(&s2.id).await.unwrap());
        assert!(!db.delete_share(&s2.id).await.unwrap());
        assert_eq!(db.shares_of_file(&report).await.unwrap().len(), 1);

        // Many files deleted in one go: their links go, and each blob's
        // bytes are released with its last reference.
        let twin = file(db, &ada.id, "twin of odd.txt", 7, 1040, 5).await;
        let released = db
            .delete_files(&[report.clone(), odd.clone(), FileId::generate()])
            .await
            .unwrap();
        assert_eq!(
            released.len(),
            1,
            "{b:?}: odd's blob is still referenced by its twin"
        );
        assert!(
            db.file(&report).await.unwrap().is_none() && db.file(&odd).await.unwrap().is_none()
        );
        assert!(
            db.share(&s1.id).await.unwrap().is_none() && db.share(&s3.id).await.unwrap().is_none()
        );
        assert!(db.file(&twin).await.unwrap().is_some());
        let (_, total) = names(db, &q).await;
        assert_eq!(total, 4, "{b:?}");
    }
}
