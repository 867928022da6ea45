//! Behaviour of the search index on small hand-made catalogs.

use std::time::{Duration, Instant};

use carrel_core::catalog::Kind;
use carrel_search::{
    Filters, IndexDoc, IndexOptions, MAX_OFFSET, Query, SearchError, SearchIndex, Sort,
};

fn opts() -> IndexOptions {
    IndexOptions {
        writer_heap_bytes: 32 << 20,
        writer_threads: 1,
    }
}

fn doc(id: i64, title: &str, authors: &[&str]) -> IndexDoc {
    IndexDoc {
        edition_id: id,
        work_id: id * 10,
        title: title.to_owned(),
        authors: authors.iter().map(|a| a.to_string()).collect(),
        added: 1_000 + id,
        ..IndexDoc::default()
    }
}

fn index(docs: Vec<IndexDoc>) -> SearchIndex {
    let idx = SearchIndex::open_in_ram(opts()).unwrap();
    idx.upsert(docs).unwrap();
    idx.commit().unwrap();
    idx
}

fn q(text: &str) -> Query {
    Query::text(text)
}

fn ids(idx: &SearchIndex, query: &Query) -> Vec<i64> {
    idx.search(query).unwrap().edition_ids()
}

fn catalog() -> SearchIndex {
    index(vec![
        doc(1, "Les Misérables", &["Victor Hugo"]),
        doc(2, "Pride and Prejudice", &["Jane Austen"]),
        doc(3, "Prejudice and Pride in Practice", &["Somebody Else"]),
        doc(4, "Crime and Punishment", &["Fyodor Dostoyevsky"]),
        IndexDoc {
            author_aliases: vec!["Fyodor Dostoevsky".into()],
            ..doc(5, "The Brothers Karamazov", &["Fyodor Dostoyevsky"])
        },
        doc(6, "Notes from Underground", &["Fyodor Dostoevsky"]),
        doc(
            7,
            "Frankenstein; Or, The Modern Prometheus",
            &["Mary Shelley"],
        ),
        doc(8, "Hamlet", &["William Shakespeare"]),
        doc(9, "L'homme qui rit", &["Victor Hugo"]),
        doc(10, "Æsop's Fables", &["Aesop"]),
        doc(11, "Straße der Ölsardinen", &["Someone Straß"]),
        doc(12, "東京物語", &["小津安二郎"]),
        doc(13, "Преступление и наказание", &["Фёдор Достоевский"]),
        doc(14, "The The", &["Band Biography"]),
        doc(15, "It", &["Stephen King"]),
    ])
}

#[test]
fn folding_ignores_accents_case_and_ligatures() {
    let idx = catalog();
    for text in ["miserables", "MISERABLES", "misérables", "Les Misérables"] {
        assert_eq!(ids(&idx, &q(text))[0], 1, "{text}");
    }
    assert_eq!(ids(&idx, &q("aesops fables"))[0], 10);
    assert_eq!(ids(&idx, &q("æsop"))[0], 10);
    assert_eq!(ids(&idx, &q("strasse"))[0], 11);
    assert_eq!(ids(&idx, &q("olsardinen"))[0], 11);
    assert_eq!(ids(&idx, &q("l'homme"))[0], 9);
    assert_eq!(ids(&idx, &q("lhomme qui rit"))[0], 9);
    assert_eq!(ids(&idx, &q("東京"))[0], 12);
    assert_eq!(ids(&idx, &q("物語"))[0], 12);
    assert_eq!(ids(&idx, &q("преступление"))[0], 13);
    assert_eq!(ids(&idx, &q("ДОСТОЕВСКИЙ"))[0], 13);
}

#[test]
fn typos_are_tolerated_by_length() {
    let idx = catalog();
    assert_eq!(ids(&idx, &q("pride and prejudis"))[0], 2);
    assert_eq!(ids(&idx, &q("frankenstien"))[0], 7); // transposition
    assert_eq!(ids(&idx, &q("shakespear hamlet"))[0], 8);
    assert_eq!(ids(&idx, &q("hamlte"))[0], 8); // 6 chars, one transposition
    // "dostoevsky": exact for 5 (alias) and 6, one edit from "dostoyevsky" (4, 5).
    let hits = ids(&idx, &q("dostoevsky"));
    assert_eq!(hits.len(), 3, "{hits:?}");
    for id in [4, 5, 6] {
        assert!(hits.contains(&id), "{id} in {hits:?}");
    }
    let hits = ids(&idx, &q("dostoyevsky crime"));
    assert_eq!(hits[0], 4);
    // Three letters or less: exact only.
    assert!(ids(&idx, &q("iy")).is_empty());
    // Too many edits for the length.
    assert!(ids(&idx, &q("hmalte")).is_empty());
    // The first letter must be right.
    assert!(ids(&idx, &q("gamlet")).is_empty());
}

#[test]
fn exact_matches_outrank_fuzzy_ones() {
    let idx = index(vec![
        doc(1, "Collected Letters", &["Fyodor Dostoyevsky"]),
        doc(2, "Collected Letters", &["Fyodor Dostoevsky"]),
        doc(3, "The Hobbit", &[]),
        doc(4, "The Habbit of Work", &[]),
    ]);
    assert_eq!(ids(&idx, &q("dostoevsky")), [2, 1]);
    assert_eq!(ids(&idx, &q("dostoyevsky")), [1, 2]);
    assert_eq!(ids(&idx, &q("hobbit")), [3, 4]);
    assert_eq!(ids(&idx, &q("habbit")), [4, 3]);
}

#[test]
fn prefixes_match_as_you_type() {
    let idx = catalog();
    let typing = |text: &str| Query {
        as_you_type: true,
        ..q(text)
    };
    assert_eq!(ids(&idx, &typing("pride and prej"))[0], 2);
    assert_eq!(ids(&idx, &typing("pride and preju"))[0], 2);
    assert_eq!(ids(&idx, &typing("pride and prejudi"))[0], 2); // longer than the prefix field
    assert_eq!(ids(&idx, &typing("frankenst"))[0], 7);
    assert_eq!(ids(&idx, &typing("frnakenst"))[0], 7); // prefix with a typo
    assert_eq!(ids(&idx, &typing("ham"))[0], 8);
    assert_eq!(ids(&idx, &typing("東"))[0], 12);
    // Without as-you-type a prefix is a word like any other.
    assert!(ids(&idx, &q("frankenst")).is_empty());
    // A word followed by a space is complete.
    assert!(ids(&idx, &typing("frankenst ")).is_empty());
}

#[test]
fn phrases_rank_first() {
    let idx = catalog();
    // Both titles have both words; the one with the phrase comes first.
    assert_eq!(ids(&idx, &q("pride and prejudice")), [2, 3]);
    assert_eq!(ids(&idx, &q("prejudice and pride")), [3, 2]);
    // Author phrase.
    let idx = index(vec![
        doc(1, "Essays", &["Jane Smith", "John Austen"]),
        doc(2, "Essays", &["Jane Austen"]),
    ]);
    assert_eq!(ids(&idx, &q("jane austen essays")), [2, 1]);
}

#[test]
fn the_whole_title_ranks_first() {
    let idx = index(vec![
        doc(
            1,
            "Hamlet, Prince of Denmark: a Study of the Play",
            &["Critic"],
        ),
        doc(2, "Hamlet", &["William Shakespeare"]),
        doc(3, "The Hamlet", &["William Faulkner"]),
    ]);
    assert_eq!(ids(&idx, &q("hamlet"))[0], 2);
    assert_eq!(ids(&idx, &q("the hamlet"))[0], 3);
}

#[test]
fn stop_words_are_optional_unless_alone() {
    let idx = catalog();
    assert_eq!(ids(&idx, &q("the the"))[0], 14);
    assert_eq!(ids(&idx, &q("it")), [15]);
    assert_eq!(ids(&idx, &q("THE")).first(), Some(&14));
    // "of the" is not required from "the brothers of karamazov".
    assert_eq!(ids(&idx, &q("the brothers of karamazov")), [5]);
}

#[test]
fn and_falls_back_to_or() {
    let idx = catalog();
    // No record has both words: any word will do.
    let hits = ids(&idx, &q("hamlet frankenstein"));
    assert_eq!(hits.len(), 2);
    // Records having every word are preferred to those with one.
    assert_eq!(ids(&idx, &q("crime punishment")), [4]);
}

#[test]
fn identifier_queries() {
    let idx = index(vec![
        IndexDoc {
            identifiers: vec!["isbn:9780306406157".into(), "gutenberg:1342".into()],
            ..doc(1, "A Book", &[])
        },
        IndexDoc {
            identifiers: vec!["doi:10.1000/xyz123".into()],
            ..doc(2, "A Paper", &[])
        },
        IndexDoc {
            identifiers: vec!["arxiv:quant-ph/9201001".into()],
            ..doc(3, "Another Paper", &[])
        },
    ]);
    let by_id = |id: &str, text: &str| Query {
        identifier: Some(id.into()),
        ..q(text)
    };
    assert_eq!(ids(&idx, &by_id("isbn:9780306406157", "")), [1]);
    assert_eq!(ids(&idx, &by_id("ISBN:9780306406157", "")), [1]);
    assert_eq!(ids(&idx, &by_id("gutenberg:1342", "")), [1]);
    assert_eq!(ids(&idx, &by_id("doi:10.1000/XYZ123", "")), [2]);
    assert_eq!(ids(&idx, &by_id("arxiv:quant-ph/9201001", "")), [3]);
    assert!(ids(&idx, &by_id("isbn:9780306406158", "")).is_empty());
    // With text: both must hold.
    assert_eq!(ids(&idx, &by_id("isbn:9780306406157", "book")), [1]);
    assert!(ids(&idx, &by_id("isbn:9780306406157", "paper")).is_empty());
    // Identifiers are not words.
    assert!(ids(&idx, &q("9780306406157")).is_empty());
}

fn faceted() -> SearchIndex {
    let mk = |id: i64, kind, lang: &str, year, formats: &[&str], subjects: &[&str]| IndexDoc {
        kind,
        language: Some(lang.into()),
        year,
        formats: formats.iter().map(|f| f.to_string()).collect(),
        has_file: !formats.is_empty(),
        subjects: subjects.iter().map(|s| s.to_string()).collect(),
        ..doc(id, &format!("History volume {id}"), &["Ann Author"])
    };
    index(vec![
        mk(
            1,
            Kind::Book,
            "en",
            Some(1851),
            &["epub", "pdf"],
            &["Whales"],
        ),
        mk(
            2,
            Kind::Book,
            "en",
            Some(1859),
            &["epub"],
            &["Whales", "Sea"],
        ),
        mk(3, Kind::Article, "fr", Some(1923), &[], &["Sea"]),
        mk(4, Kind::Comic, "de", None, &["cbz"], &[]),
        IndexDoc {
            authors: vec!["Bob Writer".into()],
            ..mk(5, Kind::Book, "en", Some(2001), &["PDF"], &["Space"])
        },
    ])
}

#[test]
fn every_filter() {
    let idx = faceted();
    let with = |filters: Filters| Query {
        filters,
        limit: 10,
        sort: Sort::Newest,
        ..Query::default()
    };
    let f = Filters::default;
    let sorted = |query: Query| {
        let mut v = ids(&idx, &query);
        v.sort();
        v
    };
    assert_eq!(sorted(with(f())), [1, 2, 3, 4, 5]);
    assert_eq!(
        sorted(with(Filters {
            kind: Some(Kind::Book),
            ..f()
        })),
        [1, 2, 5]
    );
    assert_eq!(
        sorted(with(Filters {
            kind: Some(Kind::Comic),
            ..f()
        })),
        [4]
    );
    assert_eq!(
        sorted(with(Filters {
            language: Some("EN".into()),
            ..f()
        })),
        [1, 2, 5]
    );
    assert_eq!(
        sorted(with(Filters {
            year_min: Some(1859),
            ..f()
        })),
        [2, 3, 5]
    );
    assert_eq!(
        sorted(with(Filters {
            year_max: Some(1859),
            ..f()
        })),
        [1, 2]
    );
    assert_eq!(
        sorted(with(Filters {
            year_min: Some(1852),
            year_max: Some(1923),
            ..f()
        })),
        [2, 3]
    );
    assert_eq!(
        sorted(with(Filters {
            format: Some("pdf".into()),
            ..f()
        })),
        [1, 5]
    );
    assert_eq!(
        sorted(with(Filters {
            has_file: Some(false),
            ..f()
        })),
        [3]
    );
    assert_eq!(
        sorted(with(Filters {
            has_file: Some(true),
            ..f()
        })),
        [1, 2, 4, 5]
    );
    assert_eq!(
        sorted(with(Filters {
            author: Some("Bob Writer".into()),
            ..f()
        })),
        [5]
    );
    assert!(
        sorted(with(Filters {
            author: Some("bob writer".into()),
            ..f()
        }))
        .is_empty()
    );
    assert_eq!(
        sorted(with(Filters {
            subject: Some("Sea".into()),
            ..f()
        })),
        [2, 3]
    );
    assert_eq!(
        sorted(with(Filters {
            subject: Some("Whales".into()),
            format: Some("pdf".into()),
            ..f()
        })),
        [1]
    );
    // Filters with text.
    let query = Query {
        filters: Filters {
            language: Some("fr".into()),
            ..f()
        },
        ..q("history")
    };
    assert_eq!(ids(&idx, &query), [3]);
}

#[test]
fn every_facet() {
    let idx = faceted();
    let query = Query {
        facets: true,
        ..q("")
    };
    let r = idx.search(&query).unwrap();
    assert_eq!(r.total, 5);
    let facets = r.facets.unwrap();
    let s = |v: &[(&str, u64)]| {
        v.iter()
            .map(|(k, n)| (k.to_string(), *n))
            .collect::<Vec<_>>()
    };
    assert_eq!(facets.kind, s(&[("book", 3), ("article", 1), ("comic", 1)]));
    assert_eq!(facets.language, s(&[("en", 3), ("de", 1), ("fr", 1)]));
    assert_eq!(facets.format, s(&[("epub", 2), ("pdf", 2), ("cbz", 1)]));
    assert_eq!(facets.has_file, s(&[("true", 4), ("false", 1)]));
    assert_eq!(facets.decade, [(1850, 2), (1920, 1), (2000, 1)]);
    // Facets respect the filters and the text.
    let query = Query {
        facets: true,
        filters: Filters {
            kind: Some(Kind::Book),
            ..Filters::default()
        },
        ..q("history")
    };
    let facets = idx.search(&query).unwrap().facets.unwrap();
    assert_eq!(facets.kind, s(&[("book", 3)]));
    assert_eq!(facets.language, s(&[("en", 3)]));
    // Without facets asked, none.
    assert!(idx.search(&q("")).unwrap().facets.is_none());
    // Serializes.
    let json = serde_json::to_value(idx.search(&query).unwrap()).unwrap();
    assert_eq!(json["facets"]["kind"][0][0], "book");
}

#[test]
fn every_sort() {
    let mk = |id: i64, title: &str, year: Option<i32>, added: i64| IndexDoc {
        year,
        added,
        ..doc(id, title, &["Same Author"])
    };
    let idx = index(vec![
        mk(1, "The Zebra Book", Some(1990), 500),
        mk(2, "an Apple Book", None, 300),
        mk(3, "Mango Book", Some(1850), 900),
        mk(4, "Banana Book", Some(2020), 100),
        mk(5, "Book", Some(1990), 700),
    ]);
    let sorted = |sort| Query { sort, ..q("book") };
    assert_eq!(ids(&idx, &sorted(Sort::Newest)), [3, 5, 1, 2, 4]);
    assert_eq!(ids(&idx, &sorted(Sort::YearDesc)), [4, 5, 1, 3, 2]);
    assert_eq!(ids(&idx, &sorted(Sort::YearAsc)), [3, 5, 1, 4, 2]);
    assert_eq!(ids(&idx, &sorted(Sort::Title)), [2, 4, 5, 3, 1]);
    // Relevance: the shortest title first; equal scores newest first.
    let hits = ids(&idx, &sorted(Sort::Relevance));
    assert_eq!(hits[0], 5);
    // Browsing: relevance is newest first.
    assert_eq!(ids(&idx, &q("")), [3, 5, 1, 2, 4]);
    let r = idx.search(&sorted(Sort::Newest)).unwrap();
    assert!(
        r.hits
            .iter()
            .all(|h| h.score == 0.0 && h.work_id == h.edition_id * 10)
    );
}

#[test]
fn pages_are_consistent() {
    // Many equal scores and equal sort keys: pages still partition the set.
    let docs: Vec<IndexDoc> = (1..=237)
        .map(|i| IndexDoc {
            added: i % 7,
            year: (i % 3 != 0).then_some(1900 + (i % 5) as i32),
            ..doc(i, &format!("Common Title {}", i % 4), &["Author"])
        })
        .collect();
    let idx = index(docs);
    for sort in [
        Sort::Relevance,
        Sort::Newest,
        Sort::YearAsc,
        Sort::YearDesc,
        Sort::Title,
    ] {
        for text in ["common", ""] {
            let all = idx
                .search(&Query {
                    sort,
                    limit: 237,
                    ..q(text)
                })
                .unwrap();
            assert_eq!(all.total, 237);
            let mut paged = Vec::new();
            for page in 0..24 {
                let r = idx
                    .search(&Query {
                        sort,
                        offset: page * 10,
                        limit: 10,
                        ..q(text)
                    })
                    .unwrap();
                assert_eq!(r.total, 237);
                paged.extend(r.edition_ids());
            }
            assert_eq!(paged, all.edition_ids(), "{sort:?} {text:?}");
        }
    }
    // Deep pages.
    let r = idx
        .search(&Query {
            offset: MAX_OFFSET,
            limit: 10,
            ..q("")
        })
        .unwrap();
    assert!(r.hits.is_empty());
    let e = idx
        .search(&Query {
            offset: MAX_OFFSET + 1,
            ..q("")
        })
        .unwrap_err();
    assert!(matches!(e, SearchError::PageTooDeep { .. }));
    assert_eq!(e.code(), "search_page_too_deep");
    assert!(e.to_string().contains("10000"));
    let e = idx
        .search(&Query {
            limit: 1_000_000,
            ..q("")
        })
        .unwrap_err();
    assert_eq!(e.code(), "invalid_search_query");
    // Limit 0: count only.
    let r = idx
        .search(&Query {
            limit: 0,
            ..q("common")
        })
        .unwrap();
    assert_eq!((r.total, r.hits.len()), (237, 0));
}

#[test]
fn deep_paging_on_many_docs() {
    let docs: Vec<IndexDoc> = (1..=12_000)
        .map(|i| doc(i, &format!("Volume {}", i % 100), &["Author"]))
        .collect();
    let idx = index(docs);
    let page = |offset| Query {
        offset,
        limit: 50,
        sort: Sort::Newest,
        ..q("volume")
    };
    let r = idx.search(&page(MAX_OFFSET)).unwrap();
    assert_eq!(r.total, 12_000);
    assert_eq!(r.hits.len(), 50);
    assert_eq!(r.hits[0].edition_id, 12_000 - MAX_OFFSET as i64);
    for sort in [Sort::Relevance, Sort::Title, Sort::YearAsc] {
        let r = idx
            .search(&Query {
                sort,
                ..page(MAX_OFFSET)
            })
            .unwrap();
        assert_eq!(r.hits.len(), 50, "{sort:?}");
    }
}

#[test]
fn hostile_queries() {
    let idx = catalog();
    let everything = idx.num_docs();
    let huge = "misérables ".repeat(100_000); // ~1.2 MB
    assert_eq!(ids(&idx, &q(&huge))[0], 1);
    let terms: String = (0..10_000).map(|i| format!("w{i} ")).collect();
    assert!(ids(&idx, &q(&terms)).is_empty());
    let many_long = format!("{} hamlet", "x".repeat(5_000));
    assert!(idx.search(&q(&many_long)).is_ok());
    for text in ["", "   ", "!!!", "-- ... ,,", "\u{0}\u{0}", "'", "’"] {
        let r = idx.search(&q(text)).unwrap();
        assert_eq!(r.total, everything, "{text:?} is a browse");
    }
    for text in [
        "title:(",
        "\"",
        "*",
        "~",
        "AND",
        "OR NOT",
        "hamlet~2",
        "ham*",
        "title:hamlet",
        "(hamlet",
        "[a TO z]",
        "\"hamlet",
        "+hamlet -frankenstein",
        "\\",
        "ha\u{0}mlet",
        "{}",
        "^2",
    ] {
        let r = idx.search(&q(text));
        assert!(r.is_ok(), "{text:?}: {r:?}");
    }
    assert_eq!(ids(&idx, &q("title:hamlet"))[0], 8);
    assert_eq!(ids(&idx, &q("\"hamlet\""))[0], 8);
    assert_eq!(ids(&idx, &q("+hamlet"))[0], 8);
    let typing = Query {
        as_you_type: true,
        ..q(&huge)
    };
    assert!(idx.search(&typing).is_ok());
}

#[test]
fn upsert_replaces_delete_removes() {
    let idx = catalog();
    let n = idx.num_docs();
    idx.upsert([doc(8, "Macbeth", &["William Shakespeare"])])
        .unwrap();
    idx.commit().unwrap();
    assert_eq!(idx.num_docs(), n);
    assert!(ids(&idx, &q("hamlet")).is_empty());
    assert_eq!(ids(&idx, &q("macbeth")), [8]);
    // Twice in one batch: the last wins.
    idx.upsert([doc(8, "Othello", &[]), doc(8, "Lear", &[])])
        .unwrap();
    idx.commit().unwrap();
    assert!(ids(&idx, &q("othello")).is_empty());
    assert_eq!(ids(&idx, &q("lear")), [8]);
    // A new id below the largest one, then an update of it.
    idx.upsert([doc(0, "Zero", &[])]).unwrap();
    idx.upsert([doc(0, "Nought", &[])]).unwrap();
    idx.commit().unwrap();
    assert_eq!(ids(&idx, &q("nought")), [0]);
    assert!(ids(&idx, &q("zero")).is_empty());
    // Ids above the largest, updated before and after a commit.
    idx.upsert([doc(100, "Hundred", &[])]).unwrap();
    idx.upsert([doc(100, "Century", &[])]).unwrap();
    idx.commit().unwrap();
    idx.upsert([doc(100, "Centennial", &[])]).unwrap();
    idx.commit().unwrap();
    assert_eq!(ids(&idx, &q("centennial")), [100]);
    assert!(ids(&idx, &q("century")).is_empty() && ids(&idx, &q("hundred")).is_empty());
    idx.delete(&[8, 100, 12345]).unwrap();
    idx.commit().unwrap();
    assert!(ids(&idx, &q("lear")).is_empty());
    assert_eq!(idx.num_docs(), n);
    // Commit without changes is a no-op.
    idx.commit().unwrap();
}

#[test]
fn clear_empties_the_index() {
    let idx = catalog();
    idx.upsert([doc(99, "Uncommitted", &[])]).unwrap();
    idx.clear().unwrap();
    assert_eq!(idx.num_docs(), 0);
    assert!(ids(&idx, &q("")).is_empty());
    idx.upsert([doc(1, "Hamlet", &[])]).unwrap();
    idx.commit().unwrap();
    assert_eq!(ids(&idx, &q("hamlet")), [1]);
    assert_eq!(idx.num_docs(), 1);
}

#[test]
fn commits_are_visible_at_once() {
    let idx = SearchIndex::open_in_ram(opts()).unwrap();
    let clone = idx.clone();
    let searcher = std::thread::spawn(move || {
        let start = Instant::now();
        while clone.search(&q("visible")).unwrap().total == 0 {
            assert!(start.elapsed() < Duration::from_secs(10));
            std::thread::sleep(Duration::from_millis(1));
        }
        start.elapsed()
    });
    idx.upsert([doc(1, "Visible", &[])]).unwrap();
    let committed = Instant::now();
    idx.commit().unwrap();
    // Searchable right after commit returns, from any handle.
    assert_eq!(ids(&idx, &q("visible")), [1]);
    assert!(committed.elapsed() < Duration::from_secs(1));
    searcher.join().unwrap();
}

#[test]
fn reopens_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    {
        let idx = SearchIndex::open(dir.path(), opts()).unwrap();
        idx.upsert([doc(1, "Hamlet", &["Shakespeare"]), doc(2, "Macbeth", &[])])
            .unwrap();
        idx.commit().unwrap();
    }
    let idx = SearchIndex::open(dir.path(), opts()).unwrap();
    assert_eq!(idx.num_docs(), 2);
    assert_eq!(ids(&idx, &q("hamlet")), [1]);
    // The largest id is known again: an update replaces.
    idx.upsert([doc(2, "Othello", &[])]).unwrap();
    idx.optimize().unwrap();
    assert_eq!(idx.num_docs(), 2);
    assert_eq!(ids(&idx, &q("othello")), [2]);
    drop(idx);
    let idx = SearchIndex::open(dir.path(), opts()).unwrap();
    assert_eq!(ids(&idx, &q("othello")), [2]);
}

/// `optimize` leaves one segment, whatever the writer's threads, and loses
/// no record; equal hits keep their order (by edition id, not by where
/// they are in the segments).
#[test]
fn optimize_merges_into_one_segment_and_keeps_the_order_of_ties() {
    for threads in [1usize, 2] {
        let dir = tempfile::tempdir().unwrap();
        let idx = SearchIndex::open(
            dir.path(),
            IndexOptions {
                writer_heap_bytes: 32 << 20,
                writer_threads: threads,
            },
        )
        .unwrap();
        idx.set_merging(false).unwrap();
        // The largest ids go first, into the first segments.
        for c in (0..6i64).rev() {
            // Added in the same second, as in a bulk import.
            idx.upsert((0..50).map(|i| IndexDoc {
                added: 1_000,
                ..doc(c * 50 + i + 1, "The Same Title", &[])
            }))
            .unwrap();
            idx.commit().unwrap();
        }
        assert!(idx.segment_count() >= 6, "{} segments", idx.segment_count());
        let all = Query {
            limit: 500,
            ..q("same title")
        };
        let before = ids(&idx, &all);
        assert_eq!(before, (1..=300).rev().collect::<Vec<i64>>());
        idx.optimize().unwrap();
        assert_eq!(idx.segment_count(), 1);
        assert_eq!(idx.num_docs(), 300);
        assert_eq!(ids(&idx, &all), before);
    }
}

#[test]
fn a_second_handle_on_a_written_index_only_searches_and_follows_commits() {
    let dir = tempfile::tempdir().unwrap();
    let writer = SearchIndex::open(dir.path(), opts()).unwrap();
    assert!(!writer.is_read_only());
    writer.upsert([doc(1, "Hamlet", &["Shakespeare"])]).unwrap();
    writer.commit().unwrap();
    let reader = SearchIndex::open(dir.path(), opts()).unwrap();
    assert!(reader.is_read_only());
    assert_eq!(ids(&reader, &q("hamlet")), [1]);
    let err = reader.upsert([doc(2, "Macbeth", &[])]).unwrap_err();
    assert_eq!(err.code(), "search_index_read_only");
    assert_eq!(
        reader.delete(&[1]).unwrap_err().code(),
        "search_index_read_only"
    );
    // The writer's commits reach the reader.
    writer.upsert([doc(3, "Othello", &[])]).unwrap();
    writer.commit().unwrap();
    let start = Instant::now();
    while ids(&reader, &q("othello")).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the reader never saw the commit"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Once the writer is gone, a new handle writes.
    drop(writer);
    drop(reader);
    assert!(
        !SearchIndex::open(dir.path(), opts())
            .unwrap()
            .is_read_only()
    );
}

#[test]
fn another_schema_version_must_be_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    drop(SearchIndex::open(dir.path(), opts()).unwrap());
    std::fs::write(dir.path().join("carrel-search-version"), "0\n").unwrap();
    let e = SearchIndex::open(dir.path(), opts()).unwrap_err();
    assert!(matches!(e, SearchError::SchemaChanged { .. }), "{e}");
    assert_eq!(e.code(), "search_schema_changed");
    std::fs::remove_file(dir.path().join("carrel-search-version")).unwrap();
    let e = SearchIndex::open(dir.path(), opts()).unwrap_err();
    assert_eq!(e.code(), "search_schema_changed");
    // Not ours to delete.
    std::fs::write(dir.path().join("notes.txt"), "keep me").unwrap();
    let idx = SearchIndex::recreate(dir.path(), opts()).unwrap();
    assert_eq!(idx.num_docs(), 0);
    idx.upsert([doc(1, "Fresh", &[])]).unwrap();
    idx.commit().unwrap();
    drop(idx);
    let idx = SearchIndex::open(dir.path(), opts()).unwrap();
    assert_eq!(ids(&idx, &q("fresh")), [1]);
    assert!(dir.path().join("notes.txt").exists());
}

#[test]
fn handles_are_send_sync_and_errors_have_codes() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<SearchIndex>();
    let e = SearchError::InvalidQuery("x".into());
    assert_eq!(e.code(), "invalid_search_query");
}

#[test]
fn too_many_matches_are_estimated() {
    // More matches than a search ranks one by one: the total is an
    // estimate, and the records with the whole title still come first.
    let n = 150_000i64;
    let idx = SearchIndex::open_in_ram(IndexOptions {
        writer_heap_bytes: 64 << 20,
        writer_threads: 2,
    })
    .unwrap();
    idx.upsert((1..=n).map(|i| IndexDoc {
        language: Some(if i % 10 == 0 { "fr" } else { "en" }.into()),
        year: Some(1900 + (i % 100) as i32),
        ..doc(i, &format!("Common words volume {}", i % 1000), &["Writer"])
    }))
    .unwrap();
    idx.upsert([doc(n + 1, "Common", &["Writer"])]).unwrap();
    idx.commit().unwrap();
    let (r, exact) = idx
        .search_with_exactness(&Query {
            facets: true,
            ..q("common")
        })
        .unwrap();
    assert!(!exact.total_exact);
    let total = r.total as f64;
    assert!((total - n as f64).abs() < n as f64 * 0.1, "{total}");
    assert_eq!(r.hits[0].edition_id, n + 1, "the whole title first");
    let langs = r.facets.unwrap().language;
    assert_eq!(langs[0].0, "en");
    assert!(
        (langs[0].1 as f64 - total * 0.9).abs() < total * 0.1,
        "{langs:?}"
    );
    // Newest first is still exact about which records come first.
    let r = idx
        .search(&Query {
            sort: Sort::Newest,
            ..q("common")
        })
        .unwrap();
    assert_eq!(r.edition_ids()[..3], [n + 1, n, n - 1]);
    let r = idx
        .search(&Query {
            sort: Sort::YearDesc,
            ..q("words")
        })
        .unwrap();
    assert!(r.edition_ids().iter().all(|id| id % 100 == 99), "{r:?}");
    // Browsing counts exactly.
    let (r, exact) = idx
        .search_with_exactness(&Query {
            filters: Filters {
                language: Some("fr".into()),
                ..Filters::default()
            },
            ..q("")
        })
        .unwrap();
    assert!(exact.total_exact);
    assert_eq!(r.total, n as u64 / 10);
    assert_eq!(r.hits[0].edition_id, n);
    // A selective search is exact.
    let (_, exact) = idx.search_with_exactness(&q("volume 7")).unwrap();
    assert!(exact.total_exact);
}

#[test]
fn a_rare_phrase_among_many_matches_comes_first() {
    // Every record has both words, two have them as a phrase, and those two
    // lie beyond the matches a search ranks one by one: the bounded phrase
    // walk still finds them (and stop words at the query's ends do not
    // hide it).
    let n = 40_000i64;
    let idx = SearchIndex::open_in_ram(IndexOptions {
        writer_heap_bytes: 64 << 20,
        writer_threads: 1,
    })
    .unwrap();
    let phrase = [15_000, 20_000];
    idx.upsert((1..=n).map(|i| {
        let title = if phrase.contains(&i) {
            format!("Great history of many faraway things, volume {i}")
        } else {
            format!("History of great things {i}")
        };
        doc(i, &title, &["Writer"])
    }))
    .unwrap();
    idx.commit().unwrap();
    for text in ["great history", "the great history of"] {
        let (r, exact) = idx.search_with_exactness(&q(text)).unwrap();
        assert!(!exact.total_exact, "{text}: more matches than ranked");
        let mut first = r.edition_ids()[..2].to_vec();
        first.sort();
        assert_eq!(first, phrase, "{text}: {r:?}");
    }
}
