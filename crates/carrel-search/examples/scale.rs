//! Indexing and query performance at scale, on records derived from
//! Project Gutenberg's catalog.
//!
//! ```text
//! cargo run --release -p carrel-search --example scale -- 1000000 [options]
//!   --dir PATH        index here (default: a temporary directory under /tmp)
//!   --threads N       writer threads (default 2)
//!   --heap MB         writer heap (default 256)
//!   --commit-ms MS    commit every MS milliseconds while indexing (default: once at the end)
//!   --no-merge        skip the final merge into one segment
//!   --queries N       queries in the mixed set (default 3000)
//!   --reuse           search an index already in --dir (skip indexing)
//!   --optimize        with --reuse: merge its segments first
//!   --dump PATH       also write the records (TSV) and the text queries for bench/fts5.py
//!   --dump-only       only that
//!   --probe TEXT      time TEXT alone and with each kind of filter, then exit
//! ```
//!
//! Record `i` is derived from Gutenberg book `i mod B` (B ≈ 79,000) as
//! variant `v = i / B`. Variant 0 is the book itself; later variants keep
//! the book's language and about half of its title and subjects, and add
//! words from a synthetic vocabulary (syllable words drawn log-uniformly,
//! Zipf-like, from a vocabulary that grows with N), synthetic authors
//! (first name + synthetic surname, 40%), a publisher (of 3,000), a year,
//! formats, an ISBN, and for 30% a description of 15–40 words. So the
//! dictionary grows as a real catalog's would rather than repeating B
//! records.

#[path = "../tests/gutenberg/mod.rs"]
mod gutenberg;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use carrel_core::catalog::Kind;
use carrel_search::{Filters, IndexDoc, IndexOptions, Query, SearchIndex, Sort};

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03)
    }
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    /// Log-uniform in [0, n): rank r has probability ∝ 1/r, like word use.
    fn zipf(&mut self, n: u64) -> u64 {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((n as f64).powf(u) as u64).saturating_sub(1).min(n - 1)
    }
}

const SYLLABLES: [&str; 48] = [
    "ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ber", "dan", "el", "gor", "han", "ist", "jul",
    "kor", "lin", "mor", "nal", "ost", "par", "quin", "ros", "sel", "tam", "ul", "ven", "wal",
    "xen", "yor", "zed", "ar", "bri", "cas", "dor", "fen", "gil", "hol", "ith", "jar", "kel",
    "lum", "mar", "nor", "or", "pel", "ran", "sul",
];

/// The synthetic word number `id`: 2–4 syllables, distinct per id.
fn word(mut id: u64) -> String {
    let mut w = String::new();
    let n = SYLLABLES.len() as u64;
    loop {
        w.push_str(SYLLABLES[(id % n) as usize]);
        id /= n;
        if id == 0 {
            break;
        }
    }
    if w.len() < 4 {
        w.push_str("ra");
    }
    w
}

const FIRST_NAMES: [&str; 24] = [
    "John", "Mary", "Anna", "Peter", "Maria", "James", "Elena", "Louis", "Sofia", "Karl", "Ivan",
    "Emma", "Hans", "Lucia", "Paul", "Olga", "Jean", "Marie", "Ahmed", "Yuki", "Chen", "Ana",
    "David", "Sarah",
];
const FORMATS: [&str; 5] = ["epub", "pdf", "mobi", "txt", "cbz"];

fn isbn(i: u64) -> String {
    let body = format!("978{:09}", i % 1_000_000_000);
    let sum: u32 = body
        .bytes()
        .enumerate()
        .map(|(k, b)| u32::from(b - b'0') * if k % 2 == 0 { 1 } else { 3 })
        .sum();
    format!("isbn:{body}{}", (10 - sum % 10) % 10)
}

struct Source {
    books: Vec<gutenberg::Book>,
    n: u64,
}

impl Source {
    fn vocab(&self) -> u64 {
        50_000 + self.n / 20
    }

    fn record(&self, i: u64) -> IndexDoc {
        let b = self.books.len() as u64;
        let book = &self.books[(i % b) as usize];
        let variant = i / b;
        let mut doc = book.to_doc();
        doc.edition_id = i as i64 + 1;
        doc.work_id = (i % b) as i64 + 1 + (variant as i64 / 4) * b as i64;
        doc.added = i as i64;
        let mut r = Rng::new(i);
        doc.year = (!r.chance(0.1)).then(|| 1800 + r.below(225) as i32);
        doc.publisher = Some(format!("{} Press", capital(&word(r.zipf(3_000)))));
        doc.identifiers.push(isbn(i));
        doc.kind = match r.below(20) {
            0 => Kind::Article,
            1 => Kind::Comic,
            _ => Kind::Book,
        };
        doc.formats = if r.chance(0.3) {
            FORMATS
                .iter()
                .filter(|_| r.chance(0.4))
                .map(|f| f.to_string())
                .collect()
        } else {
            vec![]
        };
        doc.has_file = !doc.formats.is_empty();
        if variant == 0 {
            return doc;
        }
        doc.identifiers.retain(|id| !id.starts_with("gutenberg:"));
        let vocab = self.vocab();
        // Title: keep the book's words, replace one now and then, add some.
        let mut words: Vec<String> = book.title.split_whitespace().map(str::to_owned).collect();
        if words.len() > 2 && r.chance(0.3) {
            let k = r.below(words.len() as u64) as usize;
            words[k] = capital(&word(r.zipf(vocab)));
        }
        for _ in 0..r.below(3) {
            words.push(capital(&word(r.zipf(vocab))));
        }
        if r.chance(0.2) {
            words.push(format!("Volume {}", 1 + r.below(12)));
        }
        doc.title = words.join(" ");
        if r.chance(0.4) {
            let first = FIRST_NAMES[r.below(FIRST_NAMES.len() as u64) as usize];
            doc.authors = vec![format!(
                "{first} {}",
                capital(&word(r.zipf(self.n / 8 + 1_000)))
            )];
            doc.author_aliases.clear();
        }
        // Subjects: about half the book's, some of another book's.
        let other = &self.books[r.below(b) as usize];
        doc.subjects.retain(|_| r.chance(0.5));
        doc.subjects
            .extend(other.subjects.iter().filter(|_| r.chance(0.5)).cloned());
        if r.chance(0.3) {
            let n = 15 + r.below(26);
            let mut d = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let ws: Vec<&str> = book.title.split_whitespace().collect();
                d.push(if ws.is_empty() || r.chance(0.7) {
                    word(r.zipf(vocab))
                } else {
                    ws[r.below(ws.len() as u64) as usize].to_owned()
                });
            }
            doc.description = Some(d.join(" "));
        }
        doc
    }
}

fn capital(w: &str) -> String {
    let mut c = w.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Class {
    ExactTitle,
    MisspelledTitle,
    Author,
    AsYouType,
    Identifier,
    Filtered,
    Browse,
    Facets,
}

/// One typo in a word of five characters or more, not in the first letter.
fn misspell(w: &str, r: &mut Rng) -> Option<String> {
    let chars: Vec<char> = w.chars().collect();
    if chars.len() < 5 {
        return None;
    }
    let mut c = chars.clone();
    let k = 1 + r.below(c.len() as u64 - 2) as usize;
    match r.below(3) {
        0 => c.swap(k, k + 1),
        1 => {
            c.remove(k);
        }
        _ => c[k] = ['e', 'a', 'i', 'o', 'y'][r.below(5) as usize],
    }
    Some(c.into_iter().collect())
}

fn queries(src: &Source, count: usize) -> Vec<(Class, Query)> {
    let mut out = Vec::new();
    let mut r = Rng::new(42);
    let b = src.books.len() as u64;
    while out.len() < count {
        let i = r.below(src.n);
        let book = &src.books[(i % b) as usize];
        let words: Vec<String> = carrel_core::text::fold(&book.title)
            .split(' ')
            .filter(|w| !w.is_empty())
            .take(4)
            .map(str::to_owned)
            .collect();
        if words.is_empty() {
            continue;
        }
        let title = words.join(" ");
        let q = |text: String| Query {
            limit: 20,
            ..Query::text(text)
        };
        let (class, query) = match out.len() % 10 {
            0 | 1 => (Class::ExactTitle, q(title)),
            2 => {
                let mut ws = words.clone();
                let Some(k) = ws.iter().position(|w| w.chars().count() >= 5) else {
                    continue;
                };
                ws[k] = misspell(&ws[k], &mut r).unwrap_or_default();
                (Class::MisspelledTitle, q(ws.join(" ")))
            }
            3 => {
                let Some(a) = book.authors.first() else {
                    continue;
                };
                let a = carrel_core::text::fold(a);
                let text = if r.chance(0.5) {
                    a.split(' ').next_back().unwrap_or("").to_owned()
                } else {
                    a
                };
                (Class::Author, q(text))
            }
            4 | 5 => {
                let full = title.clone();
                let cut = (full.len() * 2 / 3).max(2);
                let mut cut = cut.min(full.len());
                while !full.is_char_boundary(cut) {
                    cut -= 1;
                }
                let text = full[..cut].trim_end().to_owned();
                (
                    Class::AsYouType,
                    Query {
                        as_you_type: true,
                        limit: 10,
                        ..Query::text(text)
                    },
                )
            }
            6 => (
                Class::Identifier,
                Query {
                    identifier: Some(isbn(r.below(src.n))),
                    ..q(String::new())
                },
            ),
            7 => {
                let filters = match r.below(3) {
                    0 => Filters {
                        language: book.language.clone(),
                        ..Filters::default()
                    },
                    1 => Filters {
                        has_file: Some(true),
                        ..Filters::default()
                    },
                    _ => Filters {
                        year_min: Some(1900),
                        year_max: Some(1999),
                        ..Filters::default()
                    },
                };
                let text = words[..words.len().min(2)].join(" ");
                (
                    Class::Filtered,
                    Query {
                        filters,
                        sort: if r.chance(0.3) {
                            Sort::Newest
                        } else {
                            Sort::Relevance
                        },
                        ..q(text)
                    },
                )
            }
            8 => (
                Class::Browse,
                Query {
                    filters: Filters {
                        language: book.language.clone(),
                        ..Filters::default()
                    },
                    sort: Sort::Newest,
                    ..q(String::new())
                },
            ),
            _ => (
                Class::Facets,
                Query {
                    facets: true,
                    ..q(words[0].clone())
                },
            ),
        };
        out.push((class, query));
    }
    out
}

fn status_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// CPU seconds used by the process so far (user + system).
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<u64> = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    f.iter().sum::<u64>() as f64 / 100.0
}

/// CPU time of the calling thread (nanoseconds, from the scheduler).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn dir_size(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let k = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[k].as_secs_f64() * 1e3
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut n: u64 = 100_000;
    let (mut dir, mut threads, mut heap_mb, mut commit_ms) = (None, 2usize, 256usize, None);
    let (mut merge, mut nq, mut reuse, mut dump) = (true, 3000usize, false, None::<PathBuf>);
    let mut dump_only = false;
    let mut optimize = false;
    let mut probe = None::<String>;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--dir" => dir = args.next().map(PathBuf::from),
            "--threads" => threads = args.next().unwrap().parse().unwrap(),
            "--heap" => heap_mb = args.next().unwrap().parse().unwrap(),
            "--commit-ms" => commit_ms = Some(args.next().unwrap().parse::<u64>().unwrap()),
            "--no-merge" => merge = false,
            "--queries" => nq = args.next().unwrap().parse().unwrap(),
            "--reuse" => reuse = true,
            "--dump" => dump = args.next().map(PathBuf::from),
            "--dump-only" => dump_only = true,
            "--optimize" => optimize = true,
            "--probe" => probe = args.next(),
            s => n = s.replace('_', "").parse().expect("N or an option"),
        }
    }
    let corpus = gutenberg::corpus_dir().expect("Gutenberg corpus (CARREL_GUTENBERG_DIR)");
    let books = gutenberg::load(&corpus);
    println!("{} Gutenberg books; N = {n}", books.len());
    let src = Arc::new(Source { books, n });
    let tmp = tempfile::Builder::new()
        .prefix("carrel-scale-")
        .tempdir_in("/tmp")
        .unwrap();
    let dir = dir.unwrap_or_else(|| tmp.path().to_owned());
    let opts = IndexOptions {
        writer_heap_bytes: heap_mb << 20,
        writer_threads: threads,
    };

    if let Some(path) = &dump {
        let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
        for i in 0..n {
            let d = src.record(i);
            let clean = |s: &str| s.replace(['\t', '\n', '\r'], " ");
            writeln!(
                w,
                "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                d.edition_id,
                clean(&d.title),
                clean(&d.subtitle.unwrap_or_default()),
                clean(
                    &d.authors
                        .iter()
                        .chain(&d.author_aliases)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                clean(&d.subjects.join("; ")),
                clean(&d.publisher.unwrap_or_default()),
                clean(&d.description.unwrap_or_default()),
            )
            .unwrap();
        }
        let mut qf = std::fs::File::create(path.with_extension("queries")).unwrap();
        for (class, q) in queries(&src, nq) {
            if matches!(
                class,
                Class::ExactTitle | Class::MisspelledTitle | Class::Author | Class::AsYouType
            ) {
                writeln!(
                    qf,
                    "{class:?}\t{}\t{}",
                    q.as_you_type,
                    q.text.replace('\t', " ")
                )
                .unwrap();
            }
        }
        println!("dumped records to {path:?}");
        if dump_only {
            return;
        }
    }

    let idx = if reuse {
        let idx = SearchIndex::open(&dir, opts).unwrap();
        if optimize {
            let t = Instant::now();
            idx.optimize().unwrap();
            println!("merge: {:.1} s", t.elapsed().as_secs_f64());
        }
        idx
    } else {
        let idx = SearchIndex::recreate(&dir, opts).unwrap();
        // Generation itself, for reference.
        let t = Instant::now();
        let probe = n.min(200_000);
        let mut bytes = 0usize;
        for i in 0..probe {
            bytes += src.record(i).title.len();
        }
        let gen_rate = probe as f64 / t.elapsed().as_secs_f64();
        println!("generating alone: {gen_rate:.0} records/s ({bytes} title bytes)");

        let start = Instant::now();
        let cpu0 = cpu_secs();
        let mut last_commit = Instant::now();
        let mut commits = 0;
        let batch = 5_000u64;
        let mut i = 0;
        let mut last_report = Instant::now();
        while i < n {
            let end = (i + batch).min(n);
            idx.upsert((i..end).map(|k| src.record(k))).unwrap();
            i = end;
            if let Some(ms) = commit_ms
                && last_commit.elapsed() >= Duration::from_millis(ms)
            {
                idx.commit().unwrap();
                commits += 1;
                last_commit = Instant::now();
            }
            if last_report.elapsed() > Duration::from_secs(30) {
                let s = start.elapsed().as_secs_f64();
                println!(
                    "  {i} records, {:.0}/s, RSS {} MB",
                    i as f64 / s,
                    status_kb("VmRSS:") / 1024
                );
                last_report = Instant::now();
            }
        }
        let fed = start.elapsed();
        idx.commit().unwrap();
        let indexed = start.elapsed();
        let cpu = cpu_secs() - cpu0;
        println!(
            "indexed {n} records in {:.1} s ({:.1} s to feed, then the last commit): {:.0} records/s (generation included, {commits} intermediate commits, {threads} writer threads, {heap_mb} MB heap); {cpu:.1} CPU s = {:.0} records per CPU second",
            indexed.as_secs_f64(),
            fed.as_secs_f64(),
            n as f64 / indexed.as_secs_f64(),
            n as f64 / cpu,
        );
        println!(
            "index size {:.1} MB before merge",
            dir_size(&dir) as f64 / 1e6
        );
        if merge {
            let t = Instant::now();
            idx.optimize().unwrap();
            println!("final merge: {:.1} s", t.elapsed().as_secs_f64());
        }
        idx
    };
    assert_eq!(idx.num_docs(), n);
    let size = dir_size(&dir);
    println!(
        "index size {:.1} MB ({:.0} bytes/record); RSS now {} MB, peak {} MB",
        size as f64 / 1e6,
        size as f64 / n as f64,
        status_kb("VmRSS:") / 1024,
        status_kb("VmHWM:") / 1024
    );

    if let Some(text) = probe {
        let base = Query {
            limit: 20,
            ..Query::text(text.clone())
        };
        let variants = [
            ("no filter", Filters::default()),
            (
                "language en",
                Filters {
                    language: Some("en".into()),
                    ..Filters::default()
                },
            ),
            (
                "has_file",
                Filters {
                    has_file: Some(true),
                    ..Filters::default()
                },
            ),
            (
                "years 1900-1999",
                Filters {
                    year_min: Some(1900),
                    year_max: Some(1999),
                    ..Filters::default()
                },
            ),
        ];
        for (name, filters) in variants {
            let q = Query {
                filters,
                ..base.clone()
            };
            let mut best = Duration::MAX;
            let mut r = None;
            for _ in 0..5 {
                let t = Instant::now();
                r = Some(idx.search_with_exactness(&q).unwrap());
                best = best.min(t.elapsed());
            }
            let (r, exact) = r.unwrap();
            println!(
                "{text:?} {name:16} {:8.2} ms  total {} (exact {})",
                best.as_secs_f64() * 1e3,
                r.total,
                exact.total_exact
            );
        }
        return;
    }
    let qs = queries(&src, nq);
    // Warm up (page cache, lazily opened structures).
    for (_, q) in &qs {
        idx.search(q).unwrap();
    }
    // Wall time, and the thread's CPU time (the machine may be shared: CPU
    // time leaves out waiting for a core).
    let mut by_class: std::collections::BTreeMap<Class, (Vec<Duration>, Vec<Duration>)> =
        Default::default();
    let (mut all, mut all_cpu) = (Vec::new(), Vec::new());
    let (mut search_only, mut search_cpu) = (Vec::new(), Vec::new());
    let mut slowest = Vec::new();
    let mut empty = 0;
    for (class, q) in &qs {
        let c0 = thread_cpu_ns();
        let t = Instant::now();
        let r = idx.search(q).unwrap();
        let d = t.elapsed();
        let c = Duration::from_nanos(thread_cpu_ns().saturating_sub(c0));
        empty += usize::from(r.total == 0);
        let e = by_class.entry(*class).or_default();
        e.0.push(d);
        e.1.push(c);
        all.push(d);
        all_cpu.push(c);
        if !matches!(class, Class::Browse | Class::Facets) {
            search_only.push(d);
            search_cpu.push(c);
        }
        slowest.push((c, *class, q.text.clone(), r.total));
    }
    println!("latency (ms)                  n   p50    p90    p99    max | CPU p50    p99    max");
    let line = |name: &str, v: &mut Vec<Duration>, c: &mut Vec<Duration>| {
        v.sort();
        c.sort();
        println!(
            "{name:24} {:5} {:6.2} {:6.2} {:6.2} {:6.2} | {:6.2} {:6.2} {:6.2}",
            v.len(),
            pct(v, 0.5),
            pct(v, 0.9),
            pct(v, 0.99),
            pct(v, 1.0),
            pct(c, 0.5),
            pct(c, 0.99),
            pct(c, 1.0),
        );
    };
    for (k, (v, c)) in by_class.iter_mut() {
        line(&format!("{k:?}"), v, c);
    }
    line(
        "searches (no browse/facets)",
        &mut search_only,
        &mut search_cpu,
    );
    line("all", &mut all, &mut all_cpu);
    println!("queries without hits: {empty}");
    slowest.sort_by_key(|s| std::cmp::Reverse(s.0));
    println!("slowest (CPU ms, class, text, total):");
    for (c, class, text, total) in slowest.iter().take(12) {
        println!("  {:7.2} {class:?} {text:?} {total}", c.as_secs_f64() * 1e3);
    }

    for nthreads in [1usize, 2] {
        let next = Arc::new(AtomicUsize::new(0));
        let qs = Arc::new(qs.clone());
        let t = Instant::now();
        let total = qs.len() * 2;
        std::thread::scope(|s| {
            for _ in 0..nthreads {
                let (next, qs, idx) = (next.clone(), qs.clone(), idx.clone());
                s.spawn(move || {
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        if k >= total {
                            break;
                        }
                        idx.search(&qs[k % qs.len()].1).unwrap();
                    }
                });
            }
        });
        println!(
            "{nthreads} thread(s): {:.0} queries/s (mixed set, browse and facets included)",
            total as f64 / t.elapsed().as_secs_f64()
        );
    }
    let searches: Vec<Query> = qs
        .iter()
        .filter(|(c, _)| !matches!(c, Class::Browse | Class::Facets))
        .map(|(_, q)| q.clone())
        .collect();
    for nthreads in [1usize, 2] {
        let next = AtomicUsize::new(0);
        let t = Instant::now();
        let total = searches.len() * 2;
        std::thread::scope(|s| {
            for _ in 0..nthreads {
                s.spawn(|| {
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        if k >= total {
                            break;
                        }
                        idx.search(&searches[k % searches.len()]).unwrap();
                    }
                });
            }
        });
        println!(
            "{nthreads} thread(s): {:.0} queries/s (searches only)",
            total as f64 / t.elapsed().as_secs_f64()
        );
    }
    // The text searches alone (what bench/fts5.py runs), one thread.
    let text: Vec<&Query> = qs
        .iter()
        .filter(|(c, _)| {
            matches!(
                c,
                Class::ExactTitle | Class::MisspelledTitle | Class::Author | Class::AsYouType
            )
        })
        .map(|(_, q)| q)
        .collect();
    let t = Instant::now();
    for q in &text {
        idx.search(q).unwrap();
    }
    println!(
        "1 thread: {:.0} queries/s (text searches only, as bench/fts5.py runs them)",
        text.len() as f64 / t.elapsed().as_secs_f64()
    );
    println!("peak RSS {} MB", status_kb("VmHWM:") / 1024);
}
