//! Relevance sanity on real data: Project Gutenberg's catalog (about 80,000
//! books). Skipped, with a note, when the corpus is not there.

mod gutenberg;

use std::collections::HashMap;

use carrel_search::{IndexOptions, Query, SearchIndex};

/// A query and what its best hit must be: words of the title and of the
/// author (folded, lower case), and whether it must be first (else top 5).
struct Case {
    text: &'static str,
    as_you_type: bool,
    title: &'static str,
    author: &'static str,
    first: bool,
}

const fn case(text: &'static str, title: &'static str, author: &'static str) -> Case {
    Case {
        text,
        as_you_type: false,
        title,
        author,
        first: true,
    }
}

const CASES: &[Case] = &[
    case("pride prejudice", "pride and prejudice", "austen"),
    case("pride and prejudice", "pride and prejudice", "austen"),
    case("les miserables", "miserables", "hugo"),
    case("dostoyevsky crime", "crime and punishment", "dostoyevsky"),
    case(
        "dostoevsky crime and punishment",
        "crime and punishment",
        "dostoyevsky",
    ),
    case("shakespear hamlet", "hamlet", "shakespeare"),
    case("frankenstien", "frankenstein", "shelley"),
    case("alice in wonderland", "alice", "carroll"),
    case("moby dick", "moby dick", "melville"),
    case("war and peace tolstoy", "war and peace", "tolstoy"),
    case(
        "sherlock holmes adventures",
        "adventures of sherlock holmes",
        "doyle",
    ),
    case("dracula stoker", "dracula", "stoker"),
    Case {
        text: "pride and prej",
        as_you_type: true,
        ..case("", "pride and prejudice", "austen")
    },
    Case {
        text: "frankenst",
        as_you_type: true,
        ..case("", "frankenstein", "shelley")
    },
    Case {
        first: false,
        ..case("tale of two citys", "tale of two cities", "dickens")
    },
    Case {
        first: false,
        ..case("jane austen emma", "emma", "austen")
    },
];

#[test]
fn gutenberg_queries_find_the_book() {
    let Some(dir) = gutenberg::corpus_dir() else {
        eprintln!("no Gutenberg corpus (set CARREL_GUTENBERG_DIR): skipped");
        return;
    };
    let books = gutenberg::load(&dir);
    assert!(books.len() > 50_000, "{} books", books.len());
    let by_id: HashMap<i64, &gutenberg::Book> = books.iter().map(|b| (b.id, b)).collect();
    let idx = SearchIndex::open_in_ram(IndexOptions {
        writer_heap_bytes: 128 << 20,
        writer_threads: 2,
    })
    .unwrap();
    idx.upsert(books.iter().map(|b| b.to_doc())).unwrap();
    idx.commit().unwrap();
    assert_eq!(idx.num_docs(), books.len() as u64);

    let fold = carrel_core::text::fold;
    let (mut at1, mut at5, mut failures) = (0, 0, Vec::new());
    for c in CASES {
        let q = Query {
            as_you_type: c.as_you_type,
            limit: 5,
            ..Query::text(c.text)
        };
        let r = idx.search(&q).unwrap();
        let good = |id: &i64| {
            let b = by_id[id];
            fold(&b.title).contains(c.title) && b.authors.iter().any(|a| fold(a).contains(c.author))
        };
        let rank = r.edition_ids().iter().position(good);
        let shown: Vec<String> = r
            .edition_ids()
            .iter()
            .map(|id| format!("{} / {}", by_id[id].title, by_id[id].authors.join("; ")))
            .collect();
        eprintln!(
            "{:40} rank {:?}  {:?}",
            c.text,
            rank.map(|r| r + 1),
            &shown[..shown.len().min(3)]
        );
        at1 += usize::from(rank == Some(0));
        at5 += usize::from(rank.is_some());
        let ok = if c.first {
            rank == Some(0)
        } else {
            rank.is_some()
        };
        if !ok {
            failures.push(c.text);
        }
    }
    eprintln!("hit@1 {at1}/{n}, hit@5 {at5}/{n}", n = CASES.len());
    assert!(
        failures.is_empty(),
        "not found where expected: {failures:?}"
    );
}
