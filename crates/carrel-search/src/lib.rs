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
//! | `edition_id` | i64, indexed + fast | the hit; delete-by-id |
//! | `work_id` | i64, fast | the hit |
//! | `added` | i64, indexed + fast | newest first (browsing reads a window of the newest through the index), ties |
//! | `year` | i64, indexed + fast (absent when unknown) | year filter, sort, decades |
//! | `kind`, `has_file` | u64 / bool, indexed + fast | filters and facets |
//! | `language`, `format` | raw strings, lower case, indexed + fast | filters and facets |
//! | `author_exact`, `subject_exact`, `identifier` | raw strings, indexed | exact filters; identifier lookups (lower case) |
//! | `title_key_hi`, `title_key_lo` | u64, fast | title sort: first 16 bytes of the folded title without its leading article |
//! | `title_exact` | raw folded title without its leading article | exact-title boost |
//! | `title`, `authors` (+ aliases) | folded words, freqs + positions | BM25; phrase boost |
//! | `subtitle`, `series`, `subjects`, `publisher`, `description` | folded words, freqs | BM25 |
//! | `prefix` | 2–4 character prefixes of the words of title, authors (not aliases) and series; docs only | search as you type |
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
//!   subjects 1, publisher 0.5, description 0.3 (BM25 × weight), plus a
//!   phrase boost on title and authors for queries of two words or more,
//!   and a bigger one when the query is the whole title.
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
//!   on also with one typo.
//!
//! # Writing
//!
//! [`SearchIndex::upsert`] buffers; [`SearchIndex::commit`] makes changes
//! visible (the reader reloads at once). An upsert deletes the previous
//! version of its edition, except for ids above any id ever indexed, which
//! cannot have one: a rebuild in id order does no deletes at all.

mod analysis;
mod error;
mod facets;
mod query;
mod schema;
mod union;

use std::ops::Bound;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use carrel_core::catalog::Kind;
use tantivy::collector::{Count, TopDocs};
use tantivy::directory::MmapDirectory;
use tantivy::query::{BooleanQuery, InvertedIndexRangeQuery, Occur, Query as TQuery};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{
    DocAddress, Index, IndexReader, IndexSettings, IndexWriter, ReloadPolicy, Searcher,
    SegmentReader, TantivyDocument, Term,
};

pub use error::SearchError;
pub use facets::MAX_FACET_VALUES;
pub use query::{Filters, MAX_QUERY_BYTES, MAX_QUERY_TERMS, Query, Sort};
pub use schema::SCHEMA_VERSION;

use crate::analysis::FoldTokenizer;
use crate::facets::FacetCollector;
use crate::query::{Builder, Words};
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
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            writer_heap_bytes: 256 << 20,
            writer_threads: cores.clamp(1, 2),
        }
    }
}

/// One page of results.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Results {
    /// Matches in all.
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

/// The search index: a cheap, cloneable handle usable from any thread.
#[derive(Clone)]
pub struct SearchIndex {
    inner: Arc<Inner>,
}

struct Inner {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    writer: Mutex<WriterState>,
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
        let writer = index.writer_with_num_threads(threads, heap)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .doc_store_cache_num_blocks(0)
            .try_into()?;
        let max_id = max_edition_id(&reader.searcher());
        Ok(Self {
            inner: Arc::new(Inner {
                index,
                reader,
                fields,
                writer: Mutex::new(WriterState {
                    writer,
                    max_id,
                    dirty: false,
                }),
            }),
        })
    }

    fn writer(&self) -> Result<MutexGuard<'_, WriterState>, SearchError> {
        self.inner.writer.lock().map_err(|_| SearchError::Poisoned)
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
        let ids = self.inner.index.searchable_segment_ids()?;
        if ids.len() > 1 {
            w.writer.merge(&ids).wait()?;
        }
        w.writer.garbage_collect_files().wait()?;
        self.inner.reader.reload()?;
        Ok(())
    }

    /// Committed records.
    pub fn num_docs(&self) -> u64 {
        self.inner.reader.searcher().num_docs()
    }

    /// Searches (see the crate documentation for how words match).
    pub fn search(&self, q: &Query) -> Result<Results, SearchError> {
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
        let builder = Builder {
            searcher: &searcher,
            f: &self.inner.fields,
        };
        let words = Words::parse(&q.text, q.as_you_type);
        let query = builder.build(q, &words, true)?;
        // Browsing has nothing to score: relevance is newest first.
        let browse;
        let q = if words.is_empty() && q.sort == Sort::Relevance {
            browse = Query {
                sort: Sort::Newest,
                ..q.clone()
            };
            &browse
        } else {
            q
        };
        if words.is_empty()
            && let Some(r) = windowed(&searcher, &self.inner.fields, query.as_ref(), q)?
        {
            return Ok(r);
        }
        let mut results = run(&searcher, &self.inner.fields, query.as_ref(), q)?;
        let required = words.all.len();
        if results.total == 0 && required >= 2 {
            let any = builder.build(q, &words, false)?;
            results = run(&searcher, &self.inner.fields, any.as_ref(), q)?;
        }
        Ok(results)
    }
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

/// Order-preserving map of i64 into u64.
fn ordered(v: i64) -> u64 {
    (v as u64) ^ (1 << 63)
}

fn i64_column(seg: &SegmentReader, name: &str) -> tantivy::columnar::Column<i64> {
    seg.fast_fields()
        .i64(name)
        .unwrap_or_else(|_| tantivy::columnar::Column::build_empty_column(seg.max_doc()))
}

fn u64_column(seg: &SegmentReader, name: &str) -> tantivy::columnar::Column<u64> {
    seg.fast_fields()
        .u64(name)
        .unwrap_or_else(|_| tantivy::columnar::Column::build_empty_column(seg.max_doc()))
}

/// Browsing many records by newest or year: rather than ranking every
/// match, rank those in a window of the newest (or latest, or earliest)
/// values found through the index, widened until it holds the page; the
/// total is counted apart (cheap for filters). `None` when not worth it.
fn windowed(
    searcher: &Searcher,
    fields: &Fields,
    base: &dyn TQuery,
    q: &Query,
) -> Result<Option<Results>, SearchError> {
    const WORTH_IT: u64 = 20_000;
    let need = (q.offset + q.limit) as f64;
    let (field, name, ascending) = match q.sort {
        Sort::Newest => (fields.added, "added", false),
        Sort::YearDesc => (fields.year, "year", false),
        Sort::YearAsc => (fields.year, "year", true),
        Sort::Relevance | Sort::Title => return Ok(None),
    };
    if q.facets || q.limit == 0 || searcher.num_docs() < WORTH_IT {
        return Ok(None);
    }
    let total = searcher.search(base, &Count)? as u64;
    if total < WORTH_IT {
        return Ok(None);
    }
    let (mut min, mut max) = (i64::MAX, i64::MIN);
    for seg in searcher.segment_readers() {
        let col = i64_column(seg, name);
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
        let bounds = if ascending {
            (Bound::Unbounded, Bound::Included(min.saturating_add(width)))
        } else {
            (Bound::Included(max.saturating_sub(width)), Bound::Unbounded)
        };
        let term = |v| Term::from_field_i64(field, v);
        let range = InvertedIndexRangeQuery::new(bounds.0.map(term), bounds.1.map(term));
        let window = BooleanQuery::new(vec![
            (Occur::Must, base.box_clone()),
            (Occur::Must, Box::new(range) as Box<dyn TQuery>),
        ]);
        let mut r = run(searcher, fields, &window, q)?;
        if r.total as f64 >= need {
            r.total = total;
            return Ok(Some(r));
        }
        if share >= 1.0 {
            // Every value is in the window and still too few: the rest have
            // no value (no year); rank them all.
            return Ok(None);
        }
        share = (share * 8.0).min(1.0);
    }
}

/// Runs one query: the page, the count and the facets in one pass.
fn run(
    searcher: &Searcher,
    fields: &Fields,
    query: &dyn TQuery,
    q: &Query,
) -> Result<Results, SearchError> {
    let top = (q.limit > 0).then(|| TopDocs::with_limit(q.limit).and_offset(q.offset));
    let facets = q.facets.then_some(FacetCollector);
    let (page, total, counts): (Vec<(f32, DocAddress)>, usize, _) = match q.sort {
        Sort::Relevance => {
            let title = fields.title;
            let top = top.map(|t| {
                t.tweak_score(move |seg: &SegmentReader| {
                    let added = i64_column(seg, "added");
                    let norms = seg.get_fieldnorms_reader(title).ok();
                    // Equal scores: shorter titles, then newer records first.
                    move |doc, score| {
                        let len = norms.as_ref().map_or(0, |n| n.fieldnorm_id(doc));
                        (score, u8::MAX - len, added.first(doc).unwrap_or(i64::MIN))
                    }
                })
            });
            let (page, total, counts) = searcher.search(query, &(top, Count, facets))?;
            let page = page.unwrap_or_default();
            let page = page.into_iter().map(|((s, _, _), a)| (s, a)).collect();
            (page, total, counts)
        }
        sort => {
            let top = top.map(|t| {
                t.custom_score(move |seg: &SegmentReader| {
                    let added = i64_column(seg, "added");
                    let year = i64_column(seg, "year");
                    let hi = u64_column(seg, "title_key_hi");
                    let lo = u64_column(seg, "title_key_lo");
                    move |doc| -> (u64, u64, u64) {
                        let added = ordered(added.first(doc).unwrap_or(i64::MIN));
                        match sort {
                            Sort::YearDesc => {
                                (year.first(doc).map_or(0, |y| ordered(y).max(1)), added, 0)
                            }
                            Sort::YearAsc => (
                                year.first(doc).map_or(0, |y| u64::MAX - ordered(y)),
                                added,
                                0,
                            ),
                            Sort::Title => (
                                u64::MAX - hi.first(doc).unwrap_or(u64::MAX),
                                u64::MAX - lo.first(doc).unwrap_or(u64::MAX),
                                added,
                            ),
                            Sort::Newest | Sort::Relevance => (added, 0, 0),
                        }
                    }
                })
            });
            let (page, total, counts) = searcher.search(query, &(top, Count, facets))?;
            let page = page.unwrap_or_default();
            let page = page.into_iter().map(|(_, a)| (0.0, a)).collect();
            (page, total, counts)
        }
    };
    Ok(Results {
        total: total as u64,
        hits: hits(searcher, &page)?,
        facets: counts.map(Facets::from),
    })
}

/// The ids of the page's documents, read from fast fields.
fn hits(searcher: &Searcher, page: &[(f32, DocAddress)]) -> Result<Vec<Hit>, SearchError> {
    let mut out = Vec::with_capacity(page.len());
    let mut columns: Vec<Option<(_, _)>> = vec![None; searcher.segment_readers().len()];
    for &(score, addr) in page {
        let slot = &mut columns[addr.segment_ord as usize];
        if slot.is_none() {
            let seg = searcher.segment_reader(addr.segment_ord);
            let ff = seg.fast_fields();
            *slot = Some((ff.i64("edition_id")?, ff.i64("work_id")?));
        }
        let (ed, wk) = slot.as_ref().expect("filled above");
        out.push(Hit {
            edition_id: ed.first(addr.doc_id).unwrap_or_default(),
            work_id: wk.first(addr.doc_id).unwrap_or_default(),
            score,
        });
    }
    Ok(out)
}

impl Results {
    /// The edition ids of the hits, in order.
    pub fn edition_ids(&self) -> Vec<i64> {
        self.hits.iter().map(|h| h.edition_id).collect()
    }
}
