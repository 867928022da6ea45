//! The library's search index: finds editions by title, author, series,
//! subject, publisher, description and identifier, with typo tolerance,
//! search as you type, filters, facets and sorting. Records live in the
//! database; the index holds only what finds them and returns their ids.
//!
//! carrel-search is the only crate that imports tantivy; its types never
//! appear in this crate's API (except as the source of
//! [`SearchError::Index`]).
//!
//! # Schema
//!
//! | field | how | for |
//! | --- | --- | --- |
//! | `edition_id` | i64, indexed + fast | the hit; delete-by-id; the last tie-break (the larger id first), so equal hits never change order with the segments |
//! | `work_id` | i64, fast | the hit |
//! | `added` | i64, indexed + fast | newest first (browsing reads a window of the newest through the index), ties |
//! | `year` | i64, indexed + fast (absent when unknown) | year filter, sort, decades |
//! | `kind`, `has_file` | u64 / bool, indexed + fast | filters and facets |
//! | `language`, `format` | raw strings, lower case, indexed + fast | filters and facets |
//! | `author_exact`, `subject_exact` | raw strings, indexed | exact filters |
//! | `identifier` | u64 key of the lower-cased identifier, indexed | identifier lookups |
//! | `title_key_hi`, `title_key_lo` | u64, fast | title sort: first 16 bytes of the folded title without its leading article |
//! | `title_exact` | u64 key of the folded title without its leading article | exact-title boost |
//! | `title`, `authors` (+ aliases) | folded words, freqs + positions | BM25; phrase boost |
//! | `subtitle`, `series`, `subjects`, `publisher`, `description` | folded words, freqs | BM25 |
//! | `prefix` | 2–4 character prefixes of the words of title, authors (not aliases) and series; docs only | search as you type |
//!
//! The u64 keys (`schema::exact_key`) stand for strings only ever compared
//! whole: a bulk import spends far less on them than on the strings.
//!
//! Nothing is stored: hits are read from fast fields. [`SCHEMA_VERSION`] is
//! written beside the index; an index of another version opens as
//! [`SearchError::SchemaChanged`].
//!
//! # Matching
//!
//! - **Folding**: one tokenizer for index and queries, with the semantics of
//!   [`carrel_core::text::fold`]: NFKD, marks dropped, lower case, ligatures
//!   spelled out (æ→ae, œ→oe, ß→ss), apostrophes join ("l'homme" →
//!   "lhomme"), anything not a letter or digit separates. Cyrillic, Greek,
//!   … stay as they are; Han and kana characters are one token each.
//! - **Weights**: title 3, authors and aliases 2.5, subtitle and series 1.5,
//!   subjects 1, publisher 0.5, description 0.3 (BM25 × weight), plus
//!   phrase boosts for queries of two words or more (each pair of
//!   neighbouring words in the title and in the authors, unless both are
//!   stop words; the whole query in the title), and a bigger one when the
//!   query is the whole title (leading articles aside). Equal scores rank
//!   shorter titles, then newer records, first.
//! - **AND**: every word must match some field (exactly, with typos, or as
//!   the prefix being typed); stop words ("the", "of", "le", …) need not
//!   match unless the query is nothing else. When no record has every word,
//!   the search is run again with any word.
//! - **Typos**: words of 4–7 characters match with one edit, of 8 or more with
//!   two (a transposition is one edit), in title, authors and series only;
//!   the first character must be right. Typo variants are looked up in the
//!   term dictionaries and the most frequent few become constant-score
//!   clauses worth less than an exact match. Words with digits, and words
//!   of three characters or less, must match exactly, and so must words in
//!   so many titles and names (over 1,000 and 0.1% of records) that they
//!   are surely spelled as meant.
//! - **Prefixes** ([`Query::as_you_type`]): the last word, if the text does
//!   not end in a space, also matches words it begins: through the `prefix`
//!   field for 2–4 characters, the title, authors and series dictionaries
//!   beyond (the most frequent words starting so); from 5 characters
//!   on also with one typo. The word being typed is not matched with typos
//!   as a whole word ("stor" is not "star").
//! - **Segments**: every search walks each segment's dictionaries, so a
//!   bulk import ends with [`SearchIndex::optimize`] (one segment).
//!
//! # Many matches
//!
//! A search walks its matches segment by segment (with a union that seeks
//! each clause through its skip list, see `union.rs`). Ranking every match
//! of "a history of the" in ten million records would take a second, so a
//! search looks at no more than 10,000 matches, shared out over the segments
//! by size; past that, [`Exactness::total_exact`] is false (see
//! [`SearchIndex::search_with_exactness`]), the total and the
//! facet counts are estimated from the share of each segment walked, and the
//! hits are the best of the matches walked merged with the best of those
//! having the query as their title or as a phrase in it (walked apart; the
//! phrase without the stop words at its ends, looked for among no more
//! than 30,000 records having its words, so that a phrase of frequent words
//! costs no more than the rest of the search).
//! Sorting by newest or year does not estimate which records come first:
//! it ranks the matches within a window of the newest (latest, earliest)
//! values, read through the index and widened until it holds the page; that
//! is also how browsing (no words) is fast, with exact totals.
//! Filters are required clauses, except in a search with words where a
//! filter passes one record in five or more (and year ranges): those are
//! checked on each match from fast fields, cheaper than seeking through
//! them. Deep pages go to offset [`MAX_OFFSET`] ([`SearchError::PageTooDeep`]
//! beyond).
//!
//! # Writing
//!
//! [`SearchIndex::upsert`] buffers; [`SearchIndex::commit`] makes changes
//! visible (the reader reloads at once). An upsert deletes the previous
//! version of its edition, except for ids above any id ever indexed, which
//! cannot have one: a rebuild in id order does no deletes at all.

mod analysis;
mod collect;
mod columns;
mod error;
mod facets;
mod query;
mod schema;
mod union;

use std::ops::Bound;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use carrel_core::catalog::Kind;
use tantivy::collector::Count;
use tantivy::directory::MmapDirectory;
use tantivy::merge_policy::{LogMergePolicy, NoMergePolicy};
use tantivy::query::{BooleanQuery, InvertedIndexRangeQuery, Occur, Query as TQuery};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{
    Index, IndexReader, IndexSettings, IndexWriter, ReloadPolicy, Searcher, TantivyDocument, Term,
};

pub use error::SearchError;
pub use facets::MAX_FACET_VALUES;
pub use query::{Filters, MAX_QUERY_BYTES, MAX_QUERY_TERMS, Query, Sort};
pub use schema::SCHEMA_VERSION;

use crate::analysis::FoldTokenizer;
use crate::collect::{Page, Top, walk};
use crate::columns::{ColumnCache, Columns};
use crate::query::{Builder, Built, Words};
use crate::schema::Fields;

/// Results can be paged up to this offset.
pub const MAX_OFFSET: usize = 10_000;
/// At most this many hits per page.
pub const MAX_LIMIT: usize = 1_000;
/// The file beside the index that names its schema version.
const VERSION_FILE: &str = "carrel-search-version";

/// One edition as the index sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexDoc {
    pub edition_id: i64,
    pub work_id: i64,
    pub kind: Kind,
    pub title: String,
    pub subtitle: Option<String>,
    pub authors: Vec<String>,
    pub author_aliases: Vec<String>,
    pub series: Option<String>,
    pub subjects: Vec<String>,
    pub publisher: Option<String>,
    pub description: Option<String>,
    /// A language tag (`en`, `pt-BR`); matched case-insensitively.
    pub language: Option<String>,
    pub year: Option<i32>,
    /// File formats (`epub`, `pdf`, …); matched case-insensitively.
    pub formats: Vec<String>,
    /// The record has a file (always so when it has formats).
    pub has_file: bool,
    /// `scheme:value` (`isbn:9780306406157`, `doi:10.1000/x`); matched
    /// case-insensitively.
    pub identifiers: Vec<String>,
    /// When the record was added (unix seconds), for "newest".
    pub added: i64,
}

/// How the index writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexOptions {
    /// Memory for buffered documents, shared by the writer threads (at
    /// least 15 MB per thread; raised to that if lower).
    pub writer_heap_bytes: usize,
    /// Threads tokenizing and writing segments (1–8).
    pub writer_threads: usize,
}

impl Default for IndexOptions {
    /// 256 MiB, and one writer thread per two cores (one or two).
    ///
    /// Each writer thread fills a segment of its own with its share of the
    /// memory, so two threads write twice as many segments, each with its
    /// own copy of the common terms, and the final merge reads them all. A
    /// bulk import keeps about one core busy storing (the store loop and
    /// SQLite), so on two cores a second writer thread only competes with
    /// it: one thread made a 1M import 0.82x as long, with 0.89x the CPU
    /// (BENCHMARKS.md, "Twelfth session": one index writer thread).
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            writer_heap_bytes: 256 << 20,
            writer_threads: (cores / 2).clamp(1, 2),
        }
    }
}

/// One page of results.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Results {
    /// Matches in all (an estimate when there are very many: see
    /// [`SearchIndex::search_with_exactness`]).
    pub total: u64,
    pub hits: Vec<Hit>,
    pub facets: Option<Facets>,
}

#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Hit {
    pub edition_id: i64,
    pub work_id: i64,
    /// The relevance score (0 when sorted otherwise).
    pub score: f32,
}

/// Counts over the whole match set, most frequent first (at most
/// [`MAX_FACET_VALUES`] each); decades are the most frequent ones, in
/// chronological order.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Facets {
    pub kind: Vec<(String, u64)>,
    pub language: Vec<(String, u64)>,
    pub format: Vec<(String, u64)>,
    pub has_file: Vec<(String, u64)>,
    pub decade: Vec<(i32, u64)>,
}

/// Whether a search's counts are exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Exactness {
    /// False when there were too many matches to look at them all: then
    /// [`Results::total`] and the facet counts are estimates from the share
    /// looked at, and the hits the best of the matches looked at plus those
    /// with a phrase or the whole title.
    pub total_exact: bool,
}

/// The search index: a cheap, cloneable handle usable from any thread.
#[derive(Clone)]
pub struct SearchIndex {
    inner: Arc<Inner>,
}

struct Inner {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    /// `None` when another process holds the index's writer lock: this
    /// handle then only searches, and sees the writer's commits.
    writer: Mutex<Option<WriterState>>,
    columns: ColumnCache,
}

/// The locked writer of an index that has one (checked on creation).
struct WriterGuard<'a>(MutexGuard<'a, Option<WriterState>>);

impl std::ops::Deref for WriterGuard<'_> {
    type Target = WriterState;
    fn deref(&self) -> &WriterState {
        self.0
            .as_ref()
            .expect("WriterGuard is only made around Some")
    }
}

impl std::ops::DerefMut for WriterGuard<'_> {
    fn deref_mut(&mut self) -> &mut WriterState {
        self.0
            .as_mut()
            .expect("WriterGuard is only made around Some")
    }
}

struct WriterState {
    writer: IndexWriter,
    /// No edition id above this was ever added: an upsert above it needs
    /// no delete.
    max_id: i64,
    dirty: bool,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex")
            .field("num_docs", &self.num_docs())
            .finish()
    }
}

impl SearchIndex {
    /// Opens the index in `dir`, creating it (and `dir`) if missing.
    /// An index written by another schema version is
    /// [`SearchError::SchemaChanged`]: [`SearchIndex::recreate`] it.
    pub fn open(dir: &Path, opts: IndexOptions) -> Result<Self, SearchError> {
        std::fs::create_dir_all(dir)?;
        let (schema, fields) = schema::build();
        let mmap = MmapDirectory::open(dir)?;
        let index = if Index::exists(&mmap)? {
            let found = std::fs::read_to_string(dir.join(VERSION_FILE))
                .map(|s| s.trim().to_owned())
                .unwrap_or_default();
            let changed = |found: String| SearchError::SchemaChanged {
                path: dir.to_owned(),
                found,
                expected: SCHEMA_VERSION,
            };
            if found != SCHEMA_VERSION.to_string() {
                return Err(changed(if found.is_empty() {
                    "none".into()
                } else {
                    found
                }));
            }
            let index = Index::open(mmap)?;
            if index.schema() != schema {
                return Err(changed(format!("{found} (another schema)")));
            }
            index
        } else {
            let index = Index::builder()
                .schema(schema)
                .settings(settings())
                .open_or_create(mmap)?;
            let tmp = dir.join(format!("{VERSION_FILE}.tmp"));
            std::fs::write(&tmp, format!("{SCHEMA_VERSION}\n"))?;
            std::fs::rename(&tmp, dir.join(VERSION_FILE))?;
            index
        };
        Self::with_index(index, fields, opts)
    }

    /// Deletes the index in `dir` (its files only) and creates an empty one:
    /// what to do after [`SearchError::SchemaChanged`], before re-upserting
    /// every record.
    pub fn recreate(dir: &Path, opts: IndexOptions) -> Result<Self, SearchError> {
        if dir.exists() {
            for entry in std::fs::read_dir(dir)? {
                let entry = entry?;
                let name = entry.file_name();
                if entry.file_type()?.is_file() && is_index_file(&name.to_string_lossy()) {
                    std::fs::remove_file(entry.path())?;
                }
            }
        }
        Self::open(dir, opts)
    }

    /// An index in memory (tests, previews).
    pub fn open_in_ram(opts: IndexOptions) -> Result<Self, SearchError> {
        let (schema, fields) = schema::build();
        let index = Index::builder()
            .schema(schema)
            .settings(settings())
            .create_in_ram()?;
        Self::with_index(index, fields, opts)
    }

    fn with_index(index: Index, fields: Fields, opts: IndexOptions) -> Result<Self, SearchError> {
        index
            .tokenizers()
            .register(analysis::FOLD, TextAnalyzer::from(FoldTokenizer::words()));
        index
            .tokenizers()
            .register(analysis::EDGE, TextAnalyzer::from(FoldTokenizer::edge()));
        let threads = opts.writer_threads.clamp(1, 8);
        let heap = opts.writer_heap_bytes.max((threads * 16) << 20);
        // Another process writing this index leaves this one a reader that
        // follows its commits.
        let writer = match index.writer_with_num_threads(threads, heap) {
            Ok(w) => Some(w),
            Err(tantivy::TantivyError::LockFailure(
                tantivy::directory::error::LockError::LockBusy,
                _,
            )) => None,
            Err(e) => return Err(e.into()),
        };
        let reader = index
            .reader_builder()
            .reload_policy(if writer.is_some() {
                ReloadPolicy::Manual
            } else {
                ReloadPolicy::OnCommitWithDelay
            })
            .doc_store_cache_num_blocks(0)
            .try_into()?;
        let max_id = max_edition_id(&reader.searcher());
        Ok(Self {
            inner: Arc::new(Inner {
                index,
                reader,
                fields,
                writer: Mutex::new(writer.map(|writer| WriterState {
                    writer,
                    max_id,
                    dirty: false,
                })),
                columns: ColumnCache::default(),
            }),
        })
    }

    fn writer(&self) -> Result<WriterGuard<'_>, SearchError> {
        let g = self
            .inner
            .writer
            .lock()
            .map_err(|_| SearchError::Poisoned)?;
        if g.is_none() {
            return Err(SearchError::ReadOnly);
        }
        Ok(WriterGuard(g))
    }

    /// Whether another process writes this index (this handle only searches).
    pub fn is_read_only(&self) -> bool {
        self.inner.writer.lock().map_or(true, |g| g.is_none())
    }

    /// Adds records, replacing any earlier version of each edition. The
    /// changes are visible after [`SearchIndex::commit`].
    pub fn upsert(&self, docs: impl IntoIterator<Item = IndexDoc>) -> Result<(), SearchError> {
        let f = &self.inner.fields;
        let mut w = self.writer()?;
        for doc in docs {
            let id = doc.edition_id;
            if id <= w.max_id {
                w.writer.delete_term(schema::edition_term(f, id));
            } else {
                w.max_id = id;
            }
            let doc: TantivyDocument = schema::to_document(f, doc);
            w.dirty = true;
            w.writer.add_document(doc)?;
        }
        Ok(())
    }

    /// Removes editions (visible after [`SearchIndex::commit`]).
    pub fn delete(&self, edition_ids: &[i64]) -> Result<(), SearchError> {
        let f = &self.inner.fields;
        let mut w = self.writer()?;
        for &id in edition_ids {
            w.writer.delete_term(schema::edition_term(f, id));
        }
        w.dirty |= !edition_ids.is_empty();
        Ok(())
    }

    /// Writes the buffered changes and makes them searchable at once; does
    /// nothing when there are none.
    pub fn commit(&self) -> Result<(), SearchError> {
        let mut w = self.writer()?;
        if !w.dirty {
            return Ok(());
        }
        w.writer.commit()?;
        w.dirty = false;
        self.inner.reader.reload()?;
        Ok(())
    }

    /// Turns background merges off (a bulk import, which ends with one
    /// merge of everything, [`SearchIndex::optimize`]: merging as it goes
    /// rewrote each document several times) or back on.
    pub fn set_merging(&self, on: bool) -> Result<(), SearchError> {
        let w = self.writer()?;
        if on {
            w.writer
                .set_merge_policy(Box::new(LogMergePolicy::default()));
        } else {
            w.writer.set_merge_policy(Box::new(NoMergePolicy));
        }
        Ok(())
    }

    /// Drops the changes made since the last commit (a bulk import that
    /// failed before its database transaction committed).
    pub fn rollback(&self) -> Result<(), SearchError> {
        let mut w = self.writer()?;
        w.writer.rollback()?;
        w.dirty = false;
        Ok(())
    }

    /// Removes every record (committed at once), for a rebuild.
    pub fn clear(&self) -> Result<(), SearchError> {
        let mut w = self.writer()?;
        // Flush what is in flight first, so nothing lands after the clear.
        w.writer.commit()?;
        w.writer.delete_all_documents()?;
        w.writer.commit()?;
        w.max_id = i64::MIN;
        w.dirty = false;
        self.inner.reader.reload()?;
        Ok(())
    }

    /// Merges all segments into one and waits for it: faster searches after
    /// a rebuild (the writer otherwise merges in the background as it goes).
    pub fn optimize(&self) -> Result<(), SearchError> {
        let mut w = self.writer()?;
        if w.dirty {
            w.writer.commit()?;
            w.dirty = false;
        }
        // No new background merges; those under way end on their own, and
        // take segments from under a merge of all: try again until none is.
        w.writer.set_merge_policy(Box::new(NoMergePolicy));
        let result = (|| -> Result<(), SearchError> {
            for _ in 0..600 {
                let ids = self.inner.index.searchable_segment_ids()?;
                if ids.len() <= 1 {
                    return Ok(());
                }
                match w.writer.merge(&ids).wait() {
                    Ok(_) => return Ok(()),
                    Err(tantivy::TantivyError::InvalidArgument(_)) => {
                        std::thread::sleep(std::time::Duration::from_millis(500));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(())
        })();
        w.writer
            .set_merge_policy(Box::new(LogMergePolicy::default()));
        result?;
        w.writer.garbage_collect_files().wait()?;
        self.inner.reader.reload()?;
        Ok(())
    }

    /// Searchable segments (each search walks each).
    pub fn segment_count(&self) -> usize {
        self.inner.reader.searcher().segment_readers().len()
    }

    /// Committed records.
    pub fn num_docs(&self) -> u64 {
        self.inner.reader.searcher().num_docs()
    }

    /// Searches (see the crate documentation for how words match).
    pub fn search(&self, q: &Query) -> Result<Results, SearchError> {
        self.search_with_exactness(q).map(|(r, _)| r)
    }

    /// [`SearchIndex::search`], telling whether the total and the facet
    /// counts are exact.
    pub fn search_with_exactness(&self, q: &Query) -> Result<(Results, Exactness), SearchError> {
        if q.offset > MAX_OFFSET {
            return Err(SearchError::PageTooDeep {
                offset: q.offset,
                max: MAX_OFFSET,
            });
        }
        if q.limit > MAX_LIMIT {
            return Err(SearchError::InvalidQuery(format!(
                "at most {MAX_LIMIT} hits per page ({} asked)",
                q.limit
            )));
        }
        let searcher = self.inner.reader.searcher();
        let f = &self.inner.fields;
        let cols = self.inner.columns.get(&searcher)?;
        let builder = Builder {
            searcher: &searcher,
            f,
        };
        let words = Words::parse(&q.text, q.as_you_type);
        let built = builder.build(q, &words, true)?;
        if words.is_empty() {
            // Browsing has nothing to score: relevance is newest first.
            let sort = match q.sort {
                Sort::Relevance => Sort::Newest,
                s => s,
            };
            if let Some(r) = windowed(&searcher, &cols, f, &built, q, sort, None)? {
                return Ok(r);
            }
            let page = walk(
                &searcher,
                &cols,
                f,
                built.query.as_ref(),
                &built.checks,
                sort,
                need(q),
                q.facets,
                None,
            )?;
            return finish(&cols, page, q.offset);
        }
        let mut page = walk(
            &searcher,
            &cols,
            f,
            built.query.as_ref(),
            &built.checks,
            q.sort,
            need(q),
            q.facets,
            Some(budget(q)),
        )?;
        if page.total == 0 && words.all.len() >= 2 {
            // No record has every word: any will do.
            let any = builder.build(q, &words, false)?;
            page = walk(
                &searcher,
                &cols,
                f,
                any.query.as_ref(),
                &any.checks,
                q.sort,
                need(q),
                q.facets,
                Some(budget(q)),
            )?;
            return finish(&cols, page, q.offset);
        }
        if page.exact {
            return finish(&cols, page, q.offset);
        }
        // Too many matches to rank them all.
        match q.sort {
            Sort::Relevance => {
                // The best are likely among those with a phrase or the whole
                // title: rank those too.
                if let Some(best) = built.best() {
                    let b = walk(
                        &searcher,
                        &cols,
                        f,
                        best.as_ref(),
                        &built.checks,
                        q.sort,
                        need(q),
                        false,
                        Some(budget(q) / 2),
                    )?;
                    let mut top = Top::new(need(q));
                    top.merge(std::mem::take(&mut page.hits));
                    top.merge(b.hits);
                    page.hits = top.into_page(0);
                }
            }
            Sort::Newest | Sort::YearDesc | Sort::YearAsc => {
                // Keying every match costs little next to scoring it; a
                // window pays off for very many.
                let total = Some((page.total, page.counts.clone()));
                if page.total > WINDOW_OVER
                    && let Some(r) = windowed(&searcher, &cols, f, &built, q, q.sort, total)?
                {
                    return Ok(r);
                }
                // Which records come first must be exact: key them all.
                let (total, counts) = (page.total, page.counts.take());
                page = walk(
                    &searcher,
                    &cols,
                    f,
                    built.query.as_ref(),
                    &built.checks,
                    q.sort,
                    need(q),
                    false,
                    None,
                )?;
                (page.total, page.exact, page.counts) = (total, false, counts);
            }
            // Ranked among the matches looked at.
            Sort::Title => {}
        }
        finish(&cols, page, q.offset)
    }
}

/// Matches looked at, at most, to rank a search (estimates beyond).
const BUDGET: u64 = 10_000;

/// Searches with more matches than this sorted by newest or year key those
/// in a window of values rather than all.
const WINDOW_OVER: u64 = 300_000;

/// The budget of a search: enough for its page.
fn budget(q: &Query) -> u64 {
    BUDGET.max(2 * need(q) as u64)
}

fn need(q: &Query) -> usize {
    q.offset + q.limit
}

fn settings() -> IndexSettings {
    IndexSettings {
        // Nothing is stored; documents are empty in the store.
        docstore_compression: tantivy::store::Compressor::None,
        ..IndexSettings::default()
    }
}

/// Files the index may own in its directory (see [`SearchIndex::recreate`]).
fn is_index_file(name: &str) -> bool {
    const EXT: [&str; 9] = [
        ".idx",
        ".pos",
        ".term",
        ".store",
        ".fast",
        ".fieldnorm",
        ".del",
        ".lock",
        ".tmp",
    ];
    name == "meta.json"
        || name == ".managed.json"
        || name.starts_with(VERSION_FILE)
        || EXT.iter().any(|e| name.ends_with(e))
}

/// The largest edition id in the index, deleted documents included.
fn max_edition_id(searcher: &Searcher) -> i64 {
    searcher
        .segment_readers()
        .iter()
        .filter(|s| s.max_doc() > 0)
        .filter_map(|s| s.fast_fields().i64("edition_id").ok())
        .map(|c| c.max_value())
        .max()
        .unwrap_or(i64::MIN)
}

/// Sorting many matches by newest or year: rather than keying every match,
/// key those in a window of the newest (or latest, or earliest) values,
/// found through the index, widened until it holds the page. The total is
/// counted apart (cheap for filters), or given. `None` when not worth it.
fn windowed(
    searcher: &Searcher,
    cols: &[Arc<Columns>],
    fields: &Fields,
    built: &Built,
    q: &Query,
    sort: Sort,
    total: Option<(u64, Option<facets::Counts>)>,
) -> Result<Option<(Results, Exactness)>, SearchError> {
    const WORTH_IT: u64 = 20_000;
    let need = need(q) as f64;
    let (field, ascending) = match sort {
        Sort::Newest => (fields.added, false),
        Sort::YearDesc => (fields.year, false),
        Sort::YearAsc => (fields.year, true),
        Sort::Relevance | Sort::Title => return Ok(None),
    };
    let browsing = total.is_none();
    if q.limit == 0 || (browsing && (q.facets || searcher.num_docs() < WORTH_IT)) {
        return Ok(None);
    }
    let base = built.query.as_ref();
    let (total, exact, counts) = match total {
        Some((t, counts)) => (t, false, counts),
        // Browsing: every filter is in the query.
        None => (searcher.search(base, &Count)? as u64, true, None),
    };
    if browsing && total < WORTH_IT {
        return Ok(None);
    }
    let (mut min, mut max) = (i64::MAX, i64::MIN);
    for c in cols {
        let col = if ascending || field == fields.year {
            &c.year
        } else {
            &c.added
        };
        if col.values.num_vals() > 0 {
            min = min.min(col.min_value());
            max = max.max(col.max_value());
        }
    }
    if min > max {
        return Ok(None);
    }
    let span = (max - min) as f64 + 1.0;
    // Matches spread evenly over the values would fill the page within
    // this share of them; take four times that.
    let mut share = (need / total as f64 * 4.0).min(1.0);
    loop {
        let width = (span * share).ceil() as i64;
        let term = |v| Term::from_field_i64(field, v);
        let (lo, hi) = if ascending {
            (
                Bound::Unbounded,
                Bound::Included(term(min.saturating_add(width))),
            )
        } else {
            (
                Bound::Included(term(max.saturating_sub(width))),
                Bound::Unbounded,
            )
        };
        let window = BooleanQuery::new(vec![
            (Occur::Must, base.box_clone()),
            (
                Occur::Must,
                Box::new(InvertedIndexRangeQuery::new(lo, hi)) as Box<dyn TQuery>,
            ),
        ]);
        let mut page = walk(
            searcher,
            cols,
            fields,
            &window,
            &built.checks,
            sort,
            need as usize,
            false,
            None,
        )?;
        if page.total as f64 >= need {
            page.total = total;
            page.exact = exact;
            page.counts = counts;
            return finish(cols, page, q.offset).map(Some);
        }
        if share >= 1.0 {
            // Every value is in the window and still too few: the rest have
            // no value (no year); key them all.
            return Ok(None);
        }
        share = (share * 8.0).min(1.0);
    }
}

/// The page from `offset`, with the ids read from fast fields.
fn finish(
    cols: &[Arc<Columns>],
    page: Page,
    offset: usize,
) -> Result<(Results, Exactness), SearchError> {
    let hits = page
        .hits
        .iter()
        .skip(offset)
        .map(|&((score, ..), addr)| {
            let c = &cols[addr.segment_ord as usize];
            Hit {
                edition_id: c.edition_id.first(addr.doc_id).unwrap_or_default(),
                work_id: c.work_id.first(addr.doc_id).unwrap_or_default(),
                score,
            }
        })
        .collect();
    let exact = Exactness {
        total_exact: page.exact,
    };
    let results = Results {
        total: page.total,
        hits,
        facets: page.counts.map(Facets::from),
    };
    Ok((results, exact))
}

impl Results {
    /// The edition ids of the hits, in order.
    pub fn edition_ids(&self) -> Vec<i64> {
        self.hits.iter().map(|h| h.edition_id).collect()
    }
}
