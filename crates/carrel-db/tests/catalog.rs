//! The catalog contract on both backends: dedup by source, identifier and
//! article match key; grouping into works; idempotent re-import; merge and
//! split; files, covers, scan state and checkpoints.

use carrel_core::catalog::{Author, EditionId, EditionRecord, Kind, Lang, SourceKey};
use carrel_core::ident::{Doi, Isbn};
use carrel_core::time::Timestamp;
use carrel_db::catalog::*;
use carrel_db::*;

mod common;
use common::backends;

fn rec(source: &str, title: &str, author: &str) -> EditionRecord {
    let (scheme, key) = source.split_once(':').unwrap();
    EditionRecord {
        source: Some(SourceKey::new(scheme, key).unwrap()),
        title: title.into(),
        authors: vec![Author::parse(author).unwrap()],
        ..Default::default()
    }
    .validated()
    .unwrap()
}

#[tokio::test]
async fn catalog_dedup_and_works_on_every_backend() {
    for (db, _dir) in backends().await {
        let now = Timestamp(1000);
        let isbn = EditionId::isbn(&Isbn::parse("0-306-40615-2").unwrap());
        let mut a = rec("gutenberg:1", "Les Misérables", "Hugo, Victor");
        a.language = Some(Lang::parse("fr").unwrap());
        a.identifiers = vec![EditionId::Gutenberg(1)];
        // Same work (title folds alike, same author), another edition.
        let mut b = rec("csv:b", "les miserables", "Victor Hugo");
        b.identifiers = vec![isbn.clone()];
        b.year = Some(1862);
        // Same ISBN as b, other source: the same edition as b.
        let mut c = rec("csv:c", "Les Miserables (Penguin)", "Victor Hugo");
        c.identifiers = vec![EditionId::isbn(&Isbn::parse("9780306406157").unwrap())];
        c.publisher = Some("Penguin".into());
        // Another work.
        let d = rec("csv:d", "Notre-Dame de Paris", "Victor Hugo");
        let out = db
            .upsert_editions(&[a.clone(), b, c, d], now)
            .await
            .unwrap();
        assert_eq!(out.len(), 4);
        assert!(out[0].created && out[1].created && !out[2].created && out[3].created);
        assert_eq!(
            out[1].edition_id, out[2].edition_id,
            "same ISBN, same edition"
        );
        assert_eq!(out[0].work_id, out[1].work_id, "same work key, same work");
        assert_ne!(out[0].edition_id, out[1].edition_id);
        assert_ne!(out[3].work_id, out[0].work_id);
        assert_eq!(db.count_editions().await.unwrap(), 3);

        let e = db.edition(out[1].edition_id).await.unwrap().unwrap();
        assert_eq!(
            e.record.publisher.as_deref(),
            Some("Penguin"),
            "later source filled the field"
        );
        assert_eq!(
            e.record.year,
            Some(1862),
            "kept what the later source lacked"
        );
        assert_eq!(e.record.identifiers, vec![isbn.clone()]);
        assert_eq!(
            db.editions_by_identifier(&isbn).await.unwrap(),
            vec![out[1].edition_id]
        );
        let src = SourceKey::new("csv", "c").unwrap();
        assert_eq!(
            db.edition_of_source(&src).await.unwrap(),
            Some(out[1].edition_id)
        );

        // Re-import: updates, never duplicates.
        let mut a2 = a.clone();
        a2.description = Some("Roman".into());
        let again = db.upsert_editions(&[a2.clone(), a2], now).await.unwrap();
        assert_eq!(again[0].edition_id, out[0].edition_id);
        assert!(!again[0].created && !again[1].created);
        assert_eq!(db.count_editions().await.unwrap(), 3);
        let e = db.edition(out[0].edition_id).await.unwrap().unwrap();
        assert_eq!(e.record.description.as_deref(), Some("Roman"));
        assert_eq!(e.record.language.as_ref().map(|l| l.as_str()), Some("fr"));
        assert_eq!(e.record.authors[0].sort, "Hugo, Victor");

        // Works: both editions listed, order kept by `editions`.
        let w = db.work(out[0].work_id).await.unwrap().unwrap();
        assert_eq!(w.work_key, "miserables|hugo");
        assert_eq!(db.work_editions(w.id).await.unwrap().len(), 2);
        let ids = [out[3].edition_id, out[0].edition_id, 999_999];
        let got: Vec<i64> = db
            .editions(&ids)
            .await
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(got, vec![out[3].edition_id, out[0].edition_id]);

        // Split and merge.
        let new_work = db.split_edition(out[0].edition_id, now).await.unwrap();
        assert_ne!(new_work, out[0].work_id);
        assert_eq!(
            db.edition(out[0].edition_id)
                .await
                .unwrap()
                .unwrap()
                .work_id,
            new_work
        );
        // A later import of a same-key record does not fold back into the split work.
        let moved = db.merge_works(out[0].work_id, new_work, now).await.unwrap();
        assert_eq!(moved, vec![out[0].edition_id]);
        assert!(db.work(new_work).await.unwrap().is_none());
        assert!(matches!(
            db.merge_works(out[0].work_id, 424242, now).await,
            Err(DbError::NotFound)
        ));
        assert!(matches!(
            db.split_edition(424242, now).await,
            Err(DbError::NotFound)
        ));

        // Paging for the index.
        let first = db.editions_after(0, 2).await.unwrap();
        assert_eq!(first.len(), 2);
        let rest = db.editions_after(first[1].id, 10).await.unwrap();
        assert_eq!(rest.len(), 1);
    }
}

#[tokio::test]
async fn articles_dedup_by_doi_and_by_title_author_year_on_every_backend() {
    for (db, _dir) in backends().await {
        let now = Timestamp(1);
        let art = |src: &str, title: &str, year: Option<i32>, doi: Option<&str>| {
            let mut r = rec(src, title, "Zhai, Q. J.");
            r.kind = Kind::Article;
            r.year = year;
            r.identifiers = doi
                .map(|d| EditionId::doi(&Doi::parse(d).unwrap()))
                .into_iter()
                .collect();
            r
        };
        let out = db
            .upsert_editions(
                &[
                    art("x:1", "Efficacy of batroxobin", Some(2010), None),
                    art("x:2", "Efficacy of Batroxobin.", Some(2010), None),
                    art("x:3", "Efficacy of batroxobin", Some(2011), None),
                    art("x:4", "Other", None, Some("https://doi.org/10.1000/ABC")),
                    art("x:5", "Other title", None, Some("doi:10.1000/abc")),
                ],
                now,
            )
            .await
            .unwrap();
        assert_eq!(out[0].edition_id, out[1].edition_id);
        assert_ne!(
            out[0].edition_id, out[2].edition_id,
            "another year, another edition"
        );
        assert_eq!(out[3].edition_id, out[4].edition_id, "same DOI");
        // Across batches too.
        let later = db
            .upsert_editions(
                &[art("x:6", "EFFICACY OF BATROXOBIN", Some(2010), None)],
                now,
            )
            .await
            .unwrap();
        assert_eq!(later[0].edition_id, out[0].edition_id);
    }
}

fn article(src: &str, title: &str, author: &str, year: i32, journal: &str) -> EditionRecord {
    let mut r = rec(src, title, author);
    r.kind = Kind::Article;
    r.year = Some(year);
    r.publisher = Some(journal.to_owned()).filter(|j| !j.is_empty());
    r
}

#[test]
fn article_match_keys() {
    let key = |title: &str, author: &str, year: i32, journal: &str| {
        match_key(&article("x:1", title, author, year, journal))
    };
    let k = key(
        "Human papillomavirus and the long-term risk of cervical neoplasia",
        "van der Graaf, Y",
        2002,
        "American Journal of Epidemiology",
    );
    assert!(k.is_some());
    // Exports' notes, particles, abbreviations of the journal: the same key.
    assert_eq!(
        key(
            "Human papillomavirus and the long term risk of cervical neoplasia. [Review] [33 refs]",
            "Graaf, Y. D.",
            2002,
            "Am J Epidemiol"
        ),
        k
    );
    // Another year, first author or journal: another key.
    let other = [
        key(
            "Human papillomavirus and the long-term risk of cervical neoplasia",
            "van der Graaf, Y",
            2003,
            "American Journal of Epidemiology",
        ),
        key(
            "Human papillomavirus and the long-term risk of cervical neoplasia",
            "Molijn, A",
            2002,
            "American Journal of Epidemiology",
        ),
        key(
            "Human papillomavirus and the long-term risk of cervical neoplasia",
            "van der Graaf, Y",
            2002,
            "Cancer",
        ),
        key(
            "Human papillomavirus and the long-term risk of cervical neoplasia",
            "van der Graaf, Y",
            2002,
            "",
        ),
    ];
    assert!(other.iter().all(|o| o.is_some() && *o != k), "{other:?}");
    // Too little to tell articles apart: no key.
    assert_eq!(
        key("Editor's comments", "Weber, Ron", 2002, "MIS Quarterly"),
        None
    );
    let mut anonymous = article("x:2", "Notes on contributors to this issue", "X", 2002, "J");
    anonymous.authors.clear();
    assert_eq!(match_key(&anonymous), None);
    let mut undated = article("x:3", "A long enough title here", "Zhai, Q", 2002, "J");
    undated.year = None;
    assert_eq!(match_key(&undated), None);
    let mut book = article("x:4", "A long enough title here", "Zhai, Q", 2002, "J");
    book.kind = Kind::Book;
    assert_eq!(match_key(&book), None);
    // A subtitle given apart is part of the title.
    let mut split = article(
        "x:5",
        "Rainmakers",
        "Lee, J. J.",
        2014,
        "Journal of Applied Psychology",
    );
    split.subtitle = Some("Why bad weather means good productivity".into());
    assert_eq!(
        match_key(&split),
        key(
            "Rainmakers: Why Bad Weather Means Good Productivity.",
            "Lee, Jooa Julia",
            2014,
            "J Appl Psychol"
        )
    );
}

#[tokio::test]
async fn articles_match_across_export_forms_on_every_backend() {
    for (db, _dir) in backends().await {
        let now = Timestamp(1);
        let t = "Promising strategies for cervical cancer screening in the post-human papillomavirus vaccination era";
        let out = db
            .upsert_editions(
                &[
                    article("m:1", t, "Tota, J", 2010, "Sexual Health"),
                    article(
                        "m:2",
                        &format!("{t}. [Review]"),
                        "Tota, J.",
                        2010,
                        "Sex Health",
                    ),
                    article("m:3", t, "Tota, J", 2010, "Vaccine"),
                    article("m:4", "Editorial", "Tota, J", 2010, "Sexual Health"),
                    article("m:5", "Editorial", "Tota, J", 2010, "Sexual Health"),
                ],
                now,
            )
            .await
            .unwrap();
        assert_eq!(
            out[0].edition_id, out[1].edition_id,
            "same article, two exports"
        );
        assert_ne!(out[0].edition_id, out[2].edition_id, "another journal");
        assert_ne!(
            out[3].edition_id, out[4].edition_id,
            "short titles never match"
        );
        let later = db
            .upsert_editions(
                &[article(
                    "m:6",
                    &format!("[{t}]"),
                    "Tota, Jasmine",
                    2010,
                    "Sexual health.",
                )],
                now,
            )
            .await
            .unwrap();
        assert_eq!(later[0].edition_id, out[0].edition_id, "across batches");
    }
}

#[tokio::test]
async fn articles_with_different_dois_never_match_by_title_on_every_backend() {
    for (db, _dir) in backends().await {
        let now = Timestamp(1);
        let t = "Comments from the editor on the current issue of this journal";
        let with_doi = |src: &str, doi: &str| {
            let mut a = article(src, t, "Smith, J", 2011, "Radiology");
            a.identifiers = vec![EditionId::doi(&Doi::parse(doi).unwrap())];
            a
        };
        let out = db
            .upsert_editions(
                &[
                    with_doi("c:1", "10.1000/col.1"),
                    with_doi("c:2", "10.1000/col.2"),
                    // No DOI: the same article as the first by title.
                    article("c:3", t, "Smith, J", 2011, "Radiology"),
                ],
                now,
            )
            .await
            .unwrap();
        assert_ne!(out[0].edition_id, out[1].edition_id, "in one batch");
        assert_eq!(out[2].edition_id, out[0].edition_id);
        let later = db
            .upsert_editions(&[with_doi("c:4", "10.1000/col.4")], now)
            .await
            .unwrap();
        assert!(
            out.iter().all(|o| o.edition_id != later[0].edition_id),
            "across batches"
        );
    }
}

#[tokio::test]
async fn catalog_state_tables_on_every_backend() {
    for (db, _dir) in backends().await {
        let now = Timestamp(5);
        let out = db
            .upsert_editions(&[rec("t:1", "T", "A")], now)
            .await
            .unwrap();
        let e = out[0].edition_id;
        assert_eq!(db.cover(e, false).await.unwrap(), None);
        db.set_cover(e, b"small", b"large", now).await.unwrap();
        db.set_cover(e, b"small2", b"large2", now).await.unwrap();
        assert_eq!(
            db.cover(e, false).await.unwrap().as_deref(),
            Some(&b"small2"[..])
        );
        assert_eq!(
            db.cover(e, true).await.unwrap().as_deref(),
            Some(&b"large2"[..])
        );
        assert_eq!(
            db.covered(&[e, e + 1000, -1]).await.unwrap(),
            std::collections::HashSet::from([e])
        );
        assert!(db.covered(&[]).await.unwrap().is_empty());

        assert_eq!(db.checkpoint("import:x").await.unwrap(), None);
        db.set_checkpoint("import:x", 10, now).await.unwrap();
        db.set_checkpoint("import:x", 20, now).await.unwrap();
        assert_eq!(db.checkpoint("import:x").await.unwrap(), Some(20));

        let s = Scanned {
            path: "/books/a.epub".into(),
            size: 10,
            mtime: 20,
            blob_hash: "h".into(),
            scanned_at: now,
        };
        db.set_scanned(&s).await.unwrap();
        assert_eq!(db.scanned("/books/a.epub").await.unwrap(), Some(s));
        assert_eq!(db.scanned("/books/b.epub").await.unwrap(), None);

        let entry = |k: &str, n: &str| (k.to_owned(), n.to_owned(), "{}".to_owned());
        db.put_authority(&[entry("/authors/OL1A", "Old"), entry("/works/OL2W", "W")])
            .await
            .unwrap();
        db.put_authority(&[entry("/authors/OL1A", "Mark Twain")])
            .await
            .unwrap();
        let got = db
            .authority(&["/authors/OL1A".into(), "/authors/none".into()])
            .await
            .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got["/authors/OL1A"].0, "Mark Twain");
    }
}

#[tokio::test]
async fn large_batches_on_every_backend() {
    for (db, _dir) in backends().await {
        let recs: Vec<EditionRecord> = (0..MAX_BATCH)
            .map(|i| {
                let mut r = rec(
                    &format!("bulk:{i}"),
                    &format!("Title {}", i % 700),
                    "Some Author",
                );
                r.identifiers = vec![EditionId::Gutenberg(i as u32)];
                r
            })
            .collect();
        let out = db.upsert_editions(&recs, Timestamp(1)).await.unwrap();
        assert!(out.iter().all(|u| u.created));
        assert_eq!(db.count_editions().await.unwrap(), MAX_BATCH as i64);
        let works: std::collections::HashSet<i64> = out.iter().map(|u| u.work_id).collect();
        assert_eq!(works.len(), 700);
        let again = db.upsert_editions(&recs, Timestamp(2)).await.unwrap();
        assert!(
            again
                .iter()
                .zip(&out)
                .all(|(a, b)| a.edition_id == b.edition_id && !a.created)
        );
        assert_eq!(db.count_editions().await.unwrap(), MAX_BATCH as i64);
    }
}

/// A bulk writer keeps its batches in one transaction: its own reads see
/// them, other connections see them only after `commit`, and a writer
/// dropped without finishing rolls back what it had not committed.
#[tokio::test]
async fn bulk_writer_commits_when_told_and_rolls_back_when_dropped_on_every_backend() {
    for (db, _dir) in backends().await {
        let src = |k: &str| SourceKey::new("bulk", k).unwrap();
        let mut bulk = db.bulk().await.unwrap();
        let first = bulk
            .upsert_editions(&[rec("bulk:1", "First", "A B")], Timestamp(1))
            .await
            .unwrap();
        let e1 = first[0].edition_id;
        assert!(first[0].created);
        // Batches see the batches before them (dedup by source).
        let again = bulk
            .upsert_editions(&[rec("bulk:1", "First, again", "A B")], Timestamp(2))
            .await
            .unwrap();
        assert_eq!((again[0].edition_id, again[0].created), (e1, false));
        let mine = bulk.editions(&[e1]).await.unwrap();
        assert_eq!(mine[0].record.title, "First, again");
        let entry = (
            "/authors/OL9A".to_owned(),
            "Ann".to_owned(),
            "{}".to_owned(),
        );
        bulk.put_authority(std::slice::from_ref(&entry))
            .await
            .unwrap();
        assert_eq!(
            bulk.authority(std::slice::from_ref(&entry.0))
                .await
                .unwrap()[&entry.0]
                .0,
            "Ann"
        );
        // Not visible to others before the commit.
        assert_eq!(db.edition_of_source(&src("1")).await.unwrap(), None);
        assert!(
            db.authority(std::slice::from_ref(&entry.0))
                .await
                .unwrap()
                .is_empty()
        );
        bulk.commit().await.unwrap();
        assert_eq!(db.edition_of_source(&src("1")).await.unwrap(), Some(e1));
        assert_eq!(
            db.edition(e1).await.unwrap().unwrap().record.title,
            "First, again"
        );

        // After a commit the writer goes on in a new transaction.
        bulk.upsert_editions(&[rec("bulk:2", "Second", "C D")], Timestamp(3))
            .await
            .unwrap();
        bulk.set_checkpoint("import:bulk", 7, Timestamp(3))
            .await
            .unwrap();
        bulk.finish().await.unwrap();
        assert!(db.edition_of_source(&src("2")).await.unwrap().is_some());
        assert_eq!(db.checkpoint("import:bulk").await.unwrap(), Some(7));

        // Dropped without finishing: nothing after the last commit stays.
        let mut bulk = db.bulk().await.unwrap();
        bulk.upsert_editions(&[rec("bulk:3", "Third", "E F")], Timestamp(4))
            .await
            .unwrap();
        bulk.commit().await.unwrap();
        bulk.upsert_editions(&[rec("bulk:4", "Lost", "G H")], Timestamp(5))
            .await
            .unwrap();
        bulk.set_checkpoint("import:bulk", 99, Timestamp(5))
            .await
            .unwrap();
        drop(bulk);
        // Storing the same source again waits for the dropped writer's
        // connection to close, then makes a new edition.
        let out = db
            .upsert_editions(&[rec("bulk:4", "Kept", "G H")], Timestamp(6))
            .await
            .unwrap();
        assert!(out[0].created);
        assert!(db.edition_of_source(&src("3")).await.unwrap().is_some());
        assert_eq!(db.checkpoint("import:bulk").await.unwrap(), Some(7));
        let kept = db.edition(out[0].edition_id).await.unwrap().unwrap();
        assert_eq!(kept.record.title, "Kept");
        assert_eq!(db.count_editions().await.unwrap(), 4);
    }
}

/// A SQLite bulk writer leaves no WAL behind: its last commit checkpoints
/// the WAL whole and truncates it, while the database stays open (an
/// import used to leave a WAL of everything it wrote, 18 GB at 10M records).
#[tokio::test]
async fn a_sqlite_bulk_writer_leaves_an_empty_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("carrel.db");
    let db = connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let wal = dir.path().join("carrel.db-wal");
    let mut bulk = db.bulk().await.unwrap();
    for round in 0..3 {
        let batch: Vec<EditionRecord> = (0..500)
            .map(|i| {
                let n = round * 500 + i;
                rec(
                    &format!("wal:{n}"),
                    &format!("Title number {n}"),
                    "Ann Author",
                )
            })
            .collect();
        bulk.upsert_editions(&batch, Timestamp(1)).await.unwrap();
        bulk.commit().await.unwrap();
    }
    let grown = std::fs::metadata(&wal).unwrap().len();
    assert!(grown > 0, "the writer's commits went through the WAL");
    bulk.finish().await.unwrap();
    assert_eq!(std::fs::metadata(&wal).map_or(0, |m| m.len()), 0);
    assert_eq!(db.count_editions().await.unwrap(), 1500);
}

/// Migration 0004 (SQLite) rebuilds sources and identifiers as tables
/// stored in their keys: a catalog written before it keeps every row, and
/// dedup by source and by identifier goes on finding its editions.
#[tokio::test]
async fn sqlite_upgrade_to_keyed_tables_keeps_sources_and_identifiers() {
    use std::str::FromStr;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    let isbn = EditionId::isbn(&Isbn::parse("9780306406157").unwrap());
    {
        let opts = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
            .unwrap()
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
        let mut before = sqlx::migrate!("./migrations/sqlite");
        before.migrations = before
            .migrations
            .iter()
            .filter(|m| m.version < 4)
            .cloned()
            .collect::<Vec<_>>()
            .into();
        before.run(&pool).await.unwrap();
        for sql in [
            "INSERT INTO lib_works (id, work_key, title, authors, subjects, created_at, updated_at) \
             VALUES (1, 'old title|author', 'Old Title', '[]', '[]', 0, 0)",
            "INSERT INTO lib_editions (id, work_id, kind, title, authors, author_aliases, subjects, created_at, updated_at) \
             VALUES (1, 1, 'book', 'Old Title', '[]', '[]', '[]', 0, 0)",
            "INSERT INTO lib_sources (source_key, edition_id) VALUES ('csv:old', 1)",
            "INSERT INTO lib_identifiers (scheme, value, edition_id) VALUES ('isbn', '9780306406157', 1)",
        ] {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
        pool.close().await;
    }

    let db = carrel_db::connect(&url).await.unwrap();
    let src = SourceKey::new("csv", "old").unwrap();
    assert_eq!(db.edition_of_source(&src).await.unwrap(), Some(1));
    assert_eq!(db.editions_by_identifier(&isbn).await.unwrap(), vec![1]);
    assert_eq!(
        db.edition(1).await.unwrap().unwrap().record.identifiers,
        vec![isbn.clone()]
    );
    // The old source updates its edition; the old ISBN under a new source joins it.
    let mut again = rec("csv:old", "Old Title, Revised", "Some Author");
    again.year = Some(1999);
    let mut other = rec("csv:new", "Another Printing", "Some Author");
    other.identifiers = vec![isbn.clone()];
    let out = db
        .upsert_editions(&[again, other], Timestamp(5))
        .await
        .unwrap();
    assert!(
        out.iter().all(|u| u.edition_id == 1 && !u.created),
        "{out:?}"
    );
    assert_eq!(db.count_editions().await.unwrap(), 1);

    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    for table in ["lib_sources", "lib_identifiers"] {
        let sql: String = sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE name = $1")
            .bind(table)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert!(sql.contains("WITHOUT ROWID"), "{table}: {sql}");
    }
}
