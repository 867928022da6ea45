//! The library's catalog in the database: works, editions, their sources and
//! identifiers, library files and covers, scan state and import checkpoints.
//!
//! Storing a batch of records dedups in this order: the same source key is
//! the same edition (re-import updates); else the same ISBN, DOI or arXiv id
//! is the same edition; else, for articles, the same [`match_key`] (title,
//! first author, year and journal initial) is the same edition. A new
//! edition joins the work with its work key (folded title and first
//! author), or starts one.

use carrel_core::catalog::{Author, EditionId, EditionRecord, Kind, Lang, SourceKey};
use carrel_core::ids::{BlobHash, FileId};
use carrel_core::time::Timestamp;

use crate::Result;

/// At most this many records go to [`CatalogRepo::upsert_editions`] at once,
/// in one transaction (its statements are cut into chunks that fit the SQL
/// variables one statement may carry). Larger transactions write each
/// dirtied index page once for more records: 10,000 imported faster than
/// 2,000 and than 30,000 (BENCHMARKS.md).
pub const MAX_BATCH: usize = 10_000;

/// A stored edition with its identifiers and the formats of its files.
#[derive(Clone, Debug, PartialEq)]
pub struct Edition {
    pub id: i64,
    pub work_id: i64,
    /// The record as stored (its `source` is `None`; see `sources`).
    pub record: EditionRecord,
    pub formats: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A stored work: what its editions have in common.
#[derive(Clone, Debug, PartialEq)]
pub struct Work {
    pub id: i64,
    pub work_key: String,
    pub title: String,
    pub authors: Vec<Author>,
    pub subjects: Vec<String>,
    pub series: Option<String>,
    pub series_index: Option<f64>,
    pub created_at: Timestamp,
}

/// What storing one record did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Upserted {
    pub edition_id: i64,
    pub work_id: i64,
    /// A new edition (false: an existing one was updated or matched).
    pub created: bool,
}

/// A hosted file that is a format of an edition.
#[derive(Clone, Debug, PartialEq)]
pub struct LibFile {
    pub file_id: FileId,
    pub edition_id: i64,
    pub format: String,
    pub pages: Option<i32>,
    pub encrypted: bool,
    /// JSON `[{"code","message"}]`: what could not be read.
    pub problems: String,
    pub created_at: Timestamp,
}

/// What `carrel library add` saw of a path last time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scanned {
    pub path: String,
    pub size: i64,
    pub mtime: i64,
    pub blob_hash: String,
    pub scanned_at: Timestamp,
}

/// The library's catalog.
#[async_trait::async_trait]
pub trait CatalogRepo {
    /// Stores validated records (at most [`MAX_BATCH`]) in one transaction,
    /// deduplicating as the module describes; one outcome per record, in order.
    async fn upsert_editions(
        &self,
        records: &[EditionRecord],
        now: Timestamp,
    ) -> Result<Vec<Upserted>>;
    async fn edition(&self, id: i64) -> Result<Option<Edition>>;
    /// The editions with these ids that exist, in the order of `ids`.
    async fn editions(&self, ids: &[i64]) -> Result<Vec<Edition>>;
    /// Editions with ids above `after`, by id (for rebuilding the index).
    async fn editions_after(&self, after: i64, limit: i64) -> Result<Vec<Edition>>;
    async fn work(&self, id: i64) -> Result<Option<Work>>;
    async fn work_editions(&self, work_id: i64) -> Result<Vec<Edition>>;
    /// Editions carrying this identifier.
    async fn editions_by_identifier(&self, id: &EditionId) -> Result<Vec<i64>>;
    /// The edition a source became, if it was imported.
    async fn edition_of_source(&self, source: &SourceKey) -> Result<Option<i64>>;
    /// Moves every edition of `from` into `into` and deletes `from`;
    /// returns the moved editions.
    async fn merge_works(&self, into: i64, from: i64, now: Timestamp) -> Result<Vec<i64>>;
    /// Moves an edition out of its work into a new work of its own.
    async fn split_edition(&self, edition_id: i64, now: Timestamp) -> Result<i64>;
    /// Records (or replaces) a hosted file as a format of an edition.
    async fn attach_file(&self, f: &LibFile) -> Result<()>;
    async fn library_files(&self, edition_id: i64) -> Result<Vec<LibFile>>;
    async fn library_file(&self, file_id: &FileId) -> Result<Option<LibFile>>;
    /// The library file with these bytes, if any: the same blob is the same file.
    async fn library_file_by_blob(&self, hash: &BlobHash) -> Result<Option<LibFile>>;
    /// Stores a new file that is a library format in one transaction: a
    /// reference to its blob, its file row and its library row.
    async fn add_library_file(&self, file: &crate::NewFile, lib: &LibFile) -> Result<()>;
    async fn set_cover(
        &self,
        edition_id: i64,
        small: &[u8],
        large: &[u8],
        now: Timestamp,
    ) -> Result<()>;
    async fn cover(&self, edition_id: i64, large: bool) -> Result<Option<Vec<u8>>>;
    /// Which of these editions have a cover (without reading the images).
    async fn covered(&self, edition_ids: &[i64]) -> Result<std::collections::HashSet<i64>>;
    async fn scanned(&self, path: &str) -> Result<Option<Scanned>>;
    async fn set_scanned(&self, s: &Scanned) -> Result<()>;
    async fn checkpoint(&self, name: &str) -> Result<Option<i64>>;
    async fn set_checkpoint(&self, name: &str, position: i64, now: Timestamp) -> Result<()>;
    async fn count_editions(&self) -> Result<i64>;
    /// Stores records that dumps refer to by key: `(key, name, data JSON)`.
    async fn put_authority(&self, entries: &[(String, String, String)]) -> Result<()>;
    /// The entries with these keys that exist: key → (name, data).
    async fn authority(
        &self,
        keys: &[String],
    ) -> Result<std::collections::HashMap<String, (String, String)>>;
    /// A writer for a bulk import: one connection of its own, one long
    /// transaction until [`CatalogBulk::commit`].
    async fn bulk(&self) -> Result<Box<dyn CatalogBulk>>;
}

/// A bulk import's writes: batches of records go into one transaction that
/// stays open until [`CatalogBulk::commit`] (an import commits before each
/// search index commit, every few seconds). Committing every batch of
/// 10,000 wrote each index page it touched to the WAL again and again:
/// sources, identifiers and work keys are B-trees with random keys, so at
/// millions of records nearly every insert dirties a page of its own.
/// Reads through the writer see its own writes. On SQLite its connection
/// has a page cache of [`BULK_CACHE_BYTES`] and is closed at the end, not
/// returned to the pool; dropping a writer without [`CatalogBulk::finish`]
/// rolls back what was not committed.
#[async_trait::async_trait]
pub trait CatalogBulk: Send {
    /// As [`CatalogRepo::upsert_editions`], inside the open transaction.
    async fn upsert_editions(
        &mut self,
        records: &[EditionRecord],
        now: Timestamp,
    ) -> Result<Vec<Upserted>>;
    /// As [`CatalogRepo::editions`], seeing this writer's own changes.
    async fn editions(&mut self, ids: &[i64]) -> Result<Vec<Edition>>;
    async fn put_authority(&mut self, entries: &[(String, String, String)]) -> Result<()>;
    async fn authority(
        &mut self,
        keys: &[String],
    ) -> Result<std::collections::HashMap<String, (String, String)>>;
    async fn set_checkpoint(&mut self, name: &str, position: i64, now: Timestamp) -> Result<()>;
    /// Commits what was written and opens the next transaction.
    async fn commit(&mut self) -> Result<()>;
    /// Commits and closes the connection.
    async fn finish(self: Box<Self>) -> Result<()>;
}

/// The page cache of a bulk writer's SQLite connection (the pool's have
/// 64 MiB). SQLite grows it only as pages are used; it holds a long
/// transaction's dirty pages, so they are written once per commit.
pub const BULK_CACHE_BYTES: i64 = 1 << 30;

/// Fewer words than this in an article's title are too little to tell
/// articles apart ("Editorial", "Editor's comments", "Reply").
pub const MIN_MATCH_WORDS: usize = 3;

/// The dedup key of an article that shares no identifier with another:
/// its title, first author and year agree and its journal starts with the
/// same letter. The title and author are compared in the forms of
/// [`carrel_core::text::match_title`] (without what exports append, and
/// without spaces: "HPV16" = "HPV 16") and [`carrel_core::text::match_surname`];
/// the journal by [`carrel_core::text::venue_initial`] (abbreviations keep
/// it). Articles without a year or an author, and short titles, have no key:
/// a false merge loses a record, a missed one only shows it twice.
pub fn match_key(r: &EditionRecord) -> Option<String> {
    use carrel_core::text::{match_surname, match_title, venue_initial};
    if r.kind != Kind::Article {
        return None;
    }
    let year = r.year?;
    let author = match_surname(&r.authors.first()?.sort);
    if author.is_empty() {
        return None;
    }
    let title = match r.subtitle.as_deref() {
        Some(sub) => match_title(&format!("{}: {sub}", r.title)),
        None => match_title(&r.title),
    };
    if title.split(' ').filter(|w| !w.is_empty()).count() < MIN_MATCH_WORDS {
        return None;
    }
    let venue = r
        .publisher
        .as_deref()
        .and_then(venue_initial)
        .unwrap_or('-');
    Some(format!(
        "{}|{author}|{year}|{venue}",
        title.replace(' ', "")
    ))
}

pub(crate) fn authors_json(a: &[Author]) -> String {
    serde_json::to_string(a).unwrap_or_else(|_| "[]".into())
}

pub(crate) fn strings_json(a: &[String]) -> String {
    serde_json::to_string(a).unwrap_or_else(|_| "[]".into())
}

pub(crate) fn authors_from(s: &str) -> Result<Vec<Author>> {
    serde_json::from_str(s).map_err(|e| crate::DbError::Corrupt(format!("authors: {e}")))
}

pub(crate) fn strings_from(s: &str) -> Result<Vec<String>> {
    serde_json::from_str(s).map_err(|e| crate::DbError::Corrupt(format!("list: {e}")))
}

pub(crate) fn kind_from(s: &str) -> Result<Kind> {
    Kind::parse(s).map_err(crate::backend::corrupt)
}

pub(crate) fn lang_from(s: Option<String>) -> Result<Option<Lang>> {
    s.map(|l| Lang::parse(&l))
        .transpose()
        .map_err(crate::backend::corrupt)
}

macro_rules! impl_catalog {
    ($ty:ty, $db:ty, $begin_write:expr, $bulk_setup:expr) => {
        mod catalog_impl {
            use std::collections::HashMap;

            use carrel_core::catalog::{EditionId, EditionRecord, SourceKey};
            use carrel_core::ids::{BlobHash, FileId};
            use carrel_core::time::Timestamp;
            use sqlx::{QueryBuilder, Row};

            use super::alloc_ids;
            use $crate::Result;
            use $crate::catalog::*;

            type DbRow = <$db as sqlx::Database>::Row;
            type Conn = <$db as sqlx::Database>::Connection;

            const EDITION_COLUMNS: &str = "id, work_id, kind, title, subtitle, authors, author_aliases, subjects, \
                series, series_index, publisher, year, language, description, created_at, updated_at";

            fn edition_from_row(r: &DbRow) -> Result<Edition> {
                Ok(Edition {
                    id: r.try_get("id")?,
                    work_id: r.try_get("work_id")?,
                    record: EditionRecord {
                        source: None,
                        kind: kind_from(&r.try_get::<String, _>("kind")?)?,
                        title: r.try_get("title")?,
                        subtitle: r.try_get("subtitle")?,
                        authors: authors_from(&r.try_get::<String, _>("authors")?)?,
                        author_aliases: strings_from(&r.try_get::<String, _>("author_aliases")?)?,
                        subjects: strings_from(&r.try_get::<String, _>("subjects")?)?,
                        series: r.try_get("series")?,
                        series_index: r.try_get("series_index")?,
                        publisher: r.try_get("publisher")?,
                        year: r.try_get("year")?,
                        language: lang_from(r.try_get("language")?)?,
                        description: r.try_get("description")?,
                        identifiers: Vec::new(),
                    },
                    formats: Vec::new(),
                    created_at: Timestamp(r.try_get("created_at")?),
                    updated_at: Timestamp(r.try_get("updated_at")?),
                })
            }

            fn work_from_row(r: &DbRow) -> Result<Work> {
                Ok(Work {
                    id: r.try_get("id")?,
                    work_key: r.try_get("work_key")?,
                    title: r.try_get("title")?,
                    authors: authors_from(&r.try_get::<String, _>("authors")?)?,
                    subjects: strings_from(&r.try_get::<String, _>("subjects")?)?,
                    series: r.try_get("series")?,
                    series_index: r.try_get("series_index")?,
                    created_at: Timestamp(r.try_get("created_at")?),
                })
            }

            fn lib_file_from_row(r: &DbRow) -> Result<LibFile> {
                Ok(LibFile {
                    file_id: r.try_get::<String, _>("file_id")?.parse().map_err($crate::backend::corrupt)?,
                    edition_id: r.try_get("edition_id")?,
                    format: r.try_get("format")?,
                    pages: r.try_get("pages")?,
                    encrypted: r.try_get("encrypted")?,
                    problems: r.try_get("problems")?,
                    created_at: Timestamp(r.try_get("created_at")?),
                })
            }

            /// Fills identifiers and formats of editions (by id).
            async fn complete(c: &mut Conn, editions: &mut [Edition]) -> Result<()> {
                if editions.is_empty() {
                    return Ok(());
                }
                let at: HashMap<i64, usize> = editions.iter().enumerate().map(|(i, e)| (e.id, i)).collect();
                let mut q = QueryBuilder::<$db>::new("SELECT scheme, value, edition_id FROM lib_identifiers WHERE edition_id IN (");
                let mut s = q.separated(", ");
                for e in editions.iter() {
                    s.push_bind(e.id);
                }
                q.push(")");
                for r in q.build().fetch_all(&mut *c).await? {
                    let id = EditionId::from_stored(&r.try_get::<String, _>("scheme")?, &r.try_get::<String, _>("value")?)
                        .map_err($crate::backend::corrupt)?;
                    if let Some(&i) = at.get(&r.try_get::<i64, _>("edition_id")?) {
                        editions[i].record.identifiers.push(id);
                    }
                }
                let mut q = QueryBuilder::<$db>::new("SELECT DISTINCT format, edition_id FROM lib_files WHERE edition_id IN (");
                let mut s = q.separated(", ");
                for e in editions.iter() {
                    s.push_bind(e.id);
                }
                q.push(")");
                for r in q.build().fetch_all(&mut *c).await? {
                    if let Some(&i) = at.get(&r.try_get::<i64, _>("edition_id")?) {
                        editions[i].formats.push(r.try_get("format")?);
                    }
                }
                for e in editions.iter_mut() {
                    e.record.identifiers.sort();
                    e.formats.sort();
                }
                Ok(())
            }

            /// `SELECT key, id FROM table WHERE key IN (…)` as a map (first id wins).
            async fn lookup(c: &mut Conn, sql: &str, keys: &[String]) -> Result<HashMap<String, i64>> {
                let mut out = HashMap::new();
                for chunk in keys.chunks(500) {
                    let mut q = QueryBuilder::<$db>::new(sql);
                    q.push(" IN (");
                    let mut s = q.separated(", ");
                    for k in chunk {
                        s.push_bind(k.as_str());
                    }
                    q.push(")");
                    for r in q.build().fetch_all(&mut *c).await? {
                        let k: String = r.try_get(0)?;
                        let id: i64 = r.try_get(1)?;
                        out.entry(k).and_modify(|v: &mut i64| *v = (*v).min(id)).or_insert(id);
                    }
                }
                Ok(out)
            }

            /// Editions by identifier (`scheme:value` keys), through the
            /// identifiers' primary key, which leads with the value.
            async fn lookup_identifiers(c: &mut Conn, keys: &[String]) -> Result<HashMap<String, i64>> {
                let mut out = HashMap::new();
                for chunk in keys.chunks(500) {
                    let mut q = QueryBuilder::<$db>::new("SELECT scheme, value, edition_id FROM lib_identifiers WHERE value IN (");
                    let mut s = q.separated(", ");
                    for k in chunk {
                        s.push_bind(k.split_once(':').map_or(k.as_str(), |(_, v)| v));
                    }
                    q.push(")");
                    for r in q.build().fetch_all(&mut *c).await? {
                        let k = format!("{}:{}", r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?);
                        let id: i64 = r.try_get(2)?;
                        out.entry(k).and_modify(|v: &mut i64| *v = (*v).min(id)).or_insert(id);
                    }
                }
                Ok(out)
            }

            /// New works and editions are inserted `OR IGNORE` on SQLite (see
            /// its `INSERT_ROWS`): a row left out would be a conflict the
            /// plain insert reported, so it is reported here.
            fn inserted_all(rows: u64, expected: usize) -> Result<()> {
                if rows == expected as u64 { Ok(()) } else { Err($crate::DbError::Conflict) }
            }

            /// Stores a batch (see [`CatalogRepo::upsert_editions`]) in the
            /// transaction open on `tx`.
            async fn upsert_in(tx: &mut Conn, records: &[EditionRecord], now: Timestamp) -> Result<Vec<Upserted>> {
                assert!(records.len() <= MAX_BATCH, "batch too large");
                // 1. Sources already imported.
                let sources: Vec<String> =
                    records.iter().filter_map(|r| r.source.as_ref().map(|s| s.as_str().to_owned())).collect();
                let by_source =
                    lookup(tx, "SELECT source_key, edition_id FROM lib_sources WHERE source_key", &sources).await?;
                // 2. Identifiers that name an edition.
                let idents: Vec<String> = records
                    .iter()
                    .flat_map(|r| r.identifiers.iter().filter(|i| i.is_edition_key()).map(ident_key))
                    .collect();
                let by_ident = lookup_identifiers(tx, &idents).await?;
                // 3. Articles by title, author and year.
                // (Folding titles costs: each record's key is made once.)
                let mks: Vec<Option<String>> = records.iter().map(match_key).collect();
                let matches: Vec<String> = mks.iter().flatten().cloned().collect();
                let by_match =
                    lookup(tx, "SELECT match_key, id FROM lib_editions WHERE match_key", &matches).await?;
                // Editions found by title that carry a DOI: a record with
                // another DOI is another article (a recurring column).
                let mut doi_of_match = std::collections::HashSet::<i64>::new();
                let matched: Vec<i64> = by_match.values().copied().collect();
                for chunk in matched.chunks(500) {
                    let mut q = QueryBuilder::<$db>::new(
                        "SELECT DISTINCT edition_id FROM lib_identifiers WHERE scheme = 'doi' AND edition_id IN (",
                    );
                    let mut sep = q.separated(", ");
                    for e in chunk {
                        sep.push_bind(*e);
                    }
                    q.push(")");
                    for row in q.build().fetch_all(&mut *tx).await? {
                        doi_of_match.insert(row.try_get(0)?);
                    }
                }
                let has_doi = |r: &EditionRecord| r.identifiers.iter().any(|i| matches!(i, EditionId::Doi(_)));

                // Decide each record's edition, remembering decisions made
                // earlier in this batch (a batch may repeat itself).
                let mut batch_source: HashMap<String, usize> = HashMap::new();
                let mut batch_ident: HashMap<String, usize> = HashMap::new();
                let mut batch_match: HashMap<String, usize> = HashMap::new();
                // Target: Ok(existing edition id) or Err(index of the new edition).
                let mut target: Vec<std::result::Result<i64, usize>> = Vec::with_capacity(records.len());
                let mut new_recs: Vec<usize> = Vec::new();
                // The new editions' records, with what later records of
                // the same edition in this batch say.
                // (Borrowed until a later record changes one: most records
                // are new editions of their own, and copying each cost.)
                let mut merged: Vec<std::borrow::Cow<'_, EditionRecord>> = Vec::new();
                for (i, r) in records.iter().enumerate() {
                    let src = r.source.as_ref().map(|s| s.as_str().to_owned());
                    let keys: Vec<String> = r.identifiers.iter().filter(|i| i.is_edition_key()).map(ident_key).collect();
                    let mk = mks[i].clone();
                    let found = src
                        .as_ref()
                        .and_then(|s| by_source.get(s).map(|&e| Ok(e)).or_else(|| batch_source.get(s).map(|&n| Err(n))))
                        .or_else(|| {
                            keys.iter().find_map(|k| {
                                by_ident.get(k).map(|&e| Ok(e)).or_else(|| batch_ident.get(k).map(|&n| Err(n)))
                            })
                        })
                        .or_else(|| {
                            // (Had both a DOI in common, the identifier would have matched.)
                            let doi = has_doi(r);
                            mk.as_ref().and_then(|k| {
                                by_match
                                    .get(k)
                                    .filter(|e| !(doi && doi_of_match.contains(e)))
                                    .map(|&e| Ok(e))
                                    .or_else(|| {
                                        batch_match.get(k).filter(|&&n| !(doi && has_doi(&merged[n]))).map(|&n| Err(n))
                                    })
                            })
                        });
                    let t = match found {
                        Some(Err(n)) => {
                            merged[n].to_mut().absorb(r);
                            Err(n)
                        }
                        Some(t) => t,
                        None => {
                            new_recs.push(i);
                            merged.push(std::borrow::Cow::Borrowed(r));
                            Err(new_recs.len() - 1)
                        }
                    };
                    if let Err(n) = t {
                        if let Some(s) = src {
                            batch_source.insert(s, n);
                        }
                        for k in keys {
                            batch_ident.entry(k).or_insert(n);
                        }
                        if let Some(k) = mk {
                            batch_match.entry(k).or_insert(n);
                        }
                    }
                    target.push(t);
                }

                // Works of the new editions: by work key, or new.
                // (The key comes from the record that made the edition.)
                let work_keys: Vec<String> = new_recs.iter().map(|&i| records[i].work_key()).collect();
                let mut works = lookup(tx, "SELECT work_key, id FROM lib_works WHERE work_key", &work_keys).await?;
                let mut fresh_works: Vec<(String, usize)> = Vec::new();
                let mut fresh_seen = std::collections::HashSet::new();
                for (n, k) in work_keys.iter().enumerate() {
                    if !works.contains_key(k) && fresh_seen.insert(k.as_str()) {
                        fresh_works.push((k.clone(), n));
                    }
                }
                let work_ids = alloc_ids(tx, "lib_works", fresh_works.len()).await?;
                for (chunk_ids, chunk) in work_ids.chunks(500).zip(fresh_works.chunks(500)) {
                    let mut q = QueryBuilder::<$db>::new(format!(
                        "{} lib_works (id, work_key, title, authors, subjects, series, series_index, created_at, updated_at) ",
                        super::INSERT_ROWS
                    ));
                    q.push_values(chunk_ids.iter().zip(chunk), |mut b, (id, (key, n))| {
                        let r = &merged[*n];
                        b.push_bind(*id)
                            .push_bind(key.as_str())
                            .push_bind(r.title.as_str())
                            .push_bind(authors_json(&r.authors))
                            .push_bind(strings_json(&r.subjects))
                            .push_bind(r.series.as_deref())
                            .push_bind(r.series_index)
                            .push_bind(now.0)
                            .push_bind(now.0);
                    });
                    inserted_all(q.build().execute(&mut *tx).await?.rows_affected(), chunk.len())?;
                }
                for (id, (key, _)) in work_ids.iter().zip(&fresh_works) {
                    works.insert(key.clone(), *id);
                }

                // New editions.
                let edition_ids = alloc_ids(tx, "lib_editions", new_recs.len()).await?;
                let new_rows: Vec<(i64, i64, usize)> = edition_ids
                    .iter()
                    .zip(&work_keys)
                    .enumerate()
                    .map(|(n, (&id, k))| (id, works[k], n))
                    .collect();
                for chunk in new_rows.chunks(400) {
                    let mut q = QueryBuilder::<$db>::new(format!(
                        "{} lib_editions (id, work_id, kind, title, subtitle, authors, author_aliases, subjects, \
                         series, series_index, publisher, year, language, description, match_key, created_at, updated_at) ",
                        super::INSERT_ROWS
                    ));
                    q.push_values(chunk, |mut b, (id, work, n)| {
                        let r = &merged[*n];
                        b.push_bind(*id)
                            .push_bind(*work)
                            .push_bind(r.kind.as_str())
                            .push_bind(r.title.as_str())
                            .push_bind(r.subtitle.as_deref())
                            .push_bind(authors_json(&r.authors))
                            .push_bind(strings_json(&r.author_aliases))
                            .push_bind(strings_json(&r.subjects))
                            .push_bind(r.series.as_deref())
                            .push_bind(r.series_index)
                            .push_bind(r.publisher.as_deref())
                            .push_bind(r.year)
                            .push_bind(r.language.as_ref().map(|l| l.as_str()))
                            .push_bind(r.description.as_deref())
                            // (Made once per record above, again only if
                            // a later record changed it.)
                            .push_bind(match r {
                                std::borrow::Cow::Owned(r) => match_key(r),
                                std::borrow::Cow::Borrowed(_) => mks[new_recs[*n]].clone(),
                            })
                            .push_bind(now.0)
                            .push_bind(now.0);
                    });
                    inserted_all(q.build().execute(&mut *tx).await?.rows_affected(), chunk.len())?;
                }

                // Existing editions: the record's values replace theirs
                // where the record has one.
                let mut updated: Vec<(i64, usize)> = Vec::new();
                for (i, t) in target.iter().enumerate() {
                    if let Ok(e) = t {
                        updated.push((*e, i));
                    }
                }
                for (e, i) in &updated {
                    let r = &records[*i];
                    sqlx::query(
                        "UPDATE lib_editions SET kind = $1, title = $2, subtitle = COALESCE($3, subtitle), \
                         authors = CASE WHEN $4 = '[]' THEN authors ELSE $4 END, \
                         author_aliases = CASE WHEN $5 = '[]' THEN author_aliases ELSE $5 END, \
                         subjects = CASE WHEN $6 = '[]' THEN subjects ELSE $6 END, \
                         series = COALESCE($7, series), series_index = COALESCE($8, series_index), \
                         publisher = COALESCE($9, publisher), year = COALESCE($10, year), \
                         language = COALESCE($11, language), description = COALESCE($12, description), \
                         updated_at = $13 WHERE id = $14",
                    )
                    .bind(r.kind.as_str())
                    .bind(r.title.as_str())
                    .bind(r.subtitle.as_deref())
                    .bind(authors_json(&r.authors))
                    .bind(strings_json(&r.author_aliases))
                    .bind(strings_json(&r.subjects))
                    .bind(r.series.as_deref())
                    .bind(r.series_index)
                    .bind(r.publisher.as_deref())
                    .bind(r.year)
                    .bind(r.language.as_ref().map(|l| l.as_str()))
                    .bind(r.description.as_deref())
                    .bind(now.0)
                    .bind(*e)
                    .execute(&mut *tx)
                    .await?;
                }

                // Sources and identifiers of every record.
                let resolved: Vec<i64> = target
                    .iter()
                    .map(|t| match t {
                        Ok(e) => *e,
                        Err(n) => edition_ids[*n],
                    })
                    .collect();
                let mut src_rows: Vec<(String, i64)> = Vec::new();
                let mut id_rows: Vec<(&'static str, String, i64)> = Vec::new();
                let mut seen = std::collections::HashSet::new();
                for (r, &e) in records.iter().zip(&resolved) {
                    if let Some(s) = &r.source
                        && !by_source.contains_key(s.as_str())
                        && seen.insert((s.as_str().to_owned(), 0))
                    {
                        src_rows.push((s.as_str().to_owned(), e));
                    }
                    for i in &r.identifiers {
                        if seen.insert((ident_key(i), e)) {
                            id_rows.push((i.scheme(), i.value(), e));
                        }
                    }
                }
                for chunk in src_rows.chunks(1000) {
                    let mut q = QueryBuilder::<$db>::new(format!("{} lib_sources (source_key, edition_id) ", super::INSERT_ROWS));
                    q.push_values(chunk, |mut b, (s, e)| {
                        b.push_bind(s.as_str()).push_bind(*e);
                    });
                    q.push(" ON CONFLICT (source_key) DO NOTHING");
                    q.build().execute(&mut *tx).await?;
                }
                for chunk in id_rows.chunks(1000) {
                    let mut q = QueryBuilder::<$db>::new(format!("{} lib_identifiers (scheme, value, edition_id) ", super::INSERT_ROWS));
                    q.push_values(chunk, |mut b, (s, v, e)| {
                        b.push_bind(*s).push_bind(v.as_str()).push_bind(*e);
                    });
                    q.push(" ON CONFLICT DO NOTHING");
                    q.build().execute(&mut *tx).await?;
                }

                // Work ids of the updated editions.
                let mut work_of: HashMap<i64, i64> = new_rows.iter().map(|(id, w, _)| (*id, *w)).collect();
                let missing: Vec<String> =
                    resolved.iter().filter(|e| !work_of.contains_key(e)).map(|e| e.to_string()).collect();
                if !missing.is_empty() {
                    for chunk in missing.chunks(500) {
                        let mut q = QueryBuilder::<$db>::new("SELECT id, work_id FROM lib_editions WHERE id IN (");
                        let mut s = q.separated(", ");
                        for m in chunk {
                            s.push_bind(m.parse::<i64>().unwrap_or(-1));
                        }
                        q.push(")");
                        for r in q.build().fetch_all(&mut *tx).await? {
                            work_of.insert(r.try_get(0)?, r.try_get(1)?);
                        }
                    }
                }
                Ok(target
                    .iter()
                    .zip(&resolved)
                    .enumerate()
                    .map(|(i, (t, e))| Upserted {
                        edition_id: *e,
                        work_id: work_of.get(e).copied().unwrap_or(0),
                        created: matches!(t, Err(n) if new_recs[*n] == i),
                    })
                    .collect())
            }

            async fn editions_in(c: &mut Conn, ids: &[i64]) -> Result<Vec<Edition>> {
                let mut out = Vec::with_capacity(ids.len());
                for chunk in ids.chunks(500) {
                    let mut q = QueryBuilder::<$db>::new(format!("SELECT {EDITION_COLUMNS} FROM lib_editions WHERE id IN ("));
                    let mut s = q.separated(", ");
                    for id in chunk {
                        s.push_bind(*id);
                    }
                    q.push(")");
                    let rows = q.build().fetch_all(&mut *c).await?;
                    let mut eds = rows.iter().map(edition_from_row).collect::<Result<Vec<_>>>()?;
                    complete(&mut *c, &mut eds).await?;
                    out.extend(eds);
                }
                let pos: HashMap<i64, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
                out.sort_by_key(|e| pos.get(&e.id).copied().unwrap_or(usize::MAX));
                Ok(out)
            }

            async fn set_checkpoint_in(c: &mut Conn, name: &str, position: i64, now: Timestamp) -> Result<()> {
                sqlx::query(
                    "INSERT INTO lib_checkpoints (name, position, updated_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at",
                )
                .bind(name)
                .bind(position)
                .bind(now.0)
                .execute(&mut *c)
                .await?;
                Ok(())
            }

            async fn put_authority_in(c: &mut Conn, entries: &[(String, String, String)]) -> Result<()> {
                for chunk in entries.chunks(1000) {
                    let mut q = QueryBuilder::<$db>::new("INSERT INTO lib_authority (key, name, data) ");
                    q.push_values(chunk, |mut b, (k, n, d)| {
                        b.push_bind(k.as_str()).push_bind(n.as_str()).push_bind(d.as_str());
                    });
                    q.push(" ON CONFLICT (key) DO UPDATE SET name = excluded.name, data = excluded.data");
                    q.build().execute(&mut *c).await?;
                }
                Ok(())
            }

            async fn authority_in(c: &mut Conn, keys: &[String]) -> Result<HashMap<String, (String, String)>> {
                let mut out = HashMap::new();
                for chunk in keys.chunks(500) {
                    let mut q = QueryBuilder::<$db>::new("SELECT key, name, data FROM lib_authority WHERE key IN (");
                    let mut s = q.separated(", ");
                    for k in chunk {
                        s.push_bind(k.as_str());
                    }
                    q.push(")");
                    for r in q.build().fetch_all(&mut *c).await? {
                        out.insert(r.try_get(0)?, (r.try_get(1)?, r.try_get(2)?));
                    }
                }
                Ok(out)
            }

            /// A bulk writer: a connection of its own, in a transaction.
            struct Bulk {
                conn: sqlx::pool::PoolConnection<$db>,
                /// The pool, for work done beside the writer (SQLite: the
                /// WAL checkpoint after a commit, see `bulk_committed`).
                pool: sqlx::Pool<$db>,
                /// That work, while it runs.
                beside: super::Beside,
            }

            #[async_trait::async_trait]
            impl CatalogBulk for Bulk {
                async fn upsert_editions(&mut self, records: &[EditionRecord], now: Timestamp) -> Result<Vec<Upserted>> {
                    upsert_in(&mut self.conn, records, now).await
                }

                async fn editions(&mut self, ids: &[i64]) -> Result<Vec<Edition>> {
                    editions_in(&mut self.conn, ids).await
                }

                async fn put_authority(&mut self, entries: &[(String, String, String)]) -> Result<()> {
                    put_authority_in(&mut self.conn, entries).await
                }

                async fn authority(&mut self, keys: &[String]) -> Result<HashMap<String, (String, String)>> {
                    authority_in(&mut self.conn, keys).await
                }

                async fn set_checkpoint(&mut self, name: &str, position: i64, now: Timestamp) -> Result<()> {
                    set_checkpoint_in(&mut self.conn, name, position, now).await
                }

                async fn commit(&mut self) -> Result<()> {
                    sqlx::query("COMMIT").execute(&mut *self.conn).await?;
                    super::bulk_committed(&mut self.conn, &self.pool, &mut self.beside).await?;
                    sqlx::query($begin_write).execute(&mut *self.conn).await?;
                    Ok(())
                }

                async fn finish(mut self: Box<Self>) -> Result<()> {
                    sqlx::query("COMMIT").execute(&mut *self.conn).await?;
                    super::bulk_finished(&mut self.conn, &mut self.beside).await
                }
            }

            fn ident_key(i: &EditionId) -> String {
                format!("{}:{}", i.scheme(), i.value())
            }

            #[async_trait::async_trait]
            impl CatalogRepo for $ty {
                async fn upsert_editions(&self, records: &[EditionRecord], now: Timestamp) -> Result<Vec<Upserted>> {
                    let mut tx = self.pool.begin_with($begin_write).await?;
                    let out = upsert_in(&mut tx, records, now).await?;
                    tx.commit().await?;
                    Ok(out)
                }

                async fn edition(&self, id: i64) -> Result<Option<Edition>> {
                    Ok(self.editions(&[id]).await?.pop())
                }

                async fn editions(&self, ids: &[i64]) -> Result<Vec<Edition>> {
                    editions_in(&mut *self.pool.acquire().await?, ids).await
                }

                async fn editions_after(&self, after: i64, limit: i64) -> Result<Vec<Edition>> {
                    let rows = sqlx::query(&format!(
                        "SELECT {EDITION_COLUMNS} FROM lib_editions WHERE id > $1 ORDER BY id LIMIT $2"
                    ))
                    .bind(after)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                    let mut eds = rows.iter().map(edition_from_row).collect::<Result<Vec<_>>>()?;
                    complete(&mut *self.pool.acquire().await?, &mut eds).await?;
                    Ok(eds)
                }

                async fn work(&self, id: i64) -> Result<Option<Work>> {
                    sqlx::query("SELECT * FROM lib_works WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await?
                        .map(|r| work_from_row(&r))
                        .transpose()
                }

                async fn work_editions(&self, work_id: i64) -> Result<Vec<Edition>> {
                    let rows = sqlx::query(&format!(
                        "SELECT {EDITION_COLUMNS} FROM lib_editions WHERE work_id = $1 ORDER BY year, id LIMIT 1000"
                    ))
                    .bind(work_id)
                    .fetch_all(&self.pool)
                    .await?;
                    let mut eds = rows.iter().map(edition_from_row).collect::<Result<Vec<_>>>()?;
                    complete(&mut *self.pool.acquire().await?, &mut eds).await?;
                    Ok(eds)
                }

                async fn editions_by_identifier(&self, id: &EditionId) -> Result<Vec<i64>> {
                    let rows = sqlx::query(
                        "SELECT edition_id FROM lib_identifiers WHERE scheme = $1 AND value = $2 ORDER BY edition_id LIMIT 100",
                    )
                    .bind(id.scheme())
                    .bind(id.value())
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
                }

                async fn edition_of_source(&self, source: &SourceKey) -> Result<Option<i64>> {
                    Ok(sqlx::query("SELECT edition_id FROM lib_sources WHERE source_key = $1")
                        .bind(source.as_str())
                        .fetch_optional(&self.pool)
                        .await?
                        .map(|r| r.try_get(0))
                        .transpose()?)
                }

                async fn merge_works(&self, into: i64, from: i64, now: Timestamp) -> Result<Vec<i64>> {
                    if into == from {
                        return Ok(Vec::new());
                    }
                    let mut tx = self.pool.begin_with($begin_write).await?;
                    let exists = sqlx::query("SELECT COUNT(*) FROM lib_works WHERE id IN ($1, $2)")
                        .bind(into)
                        .bind(from)
                        .fetch_one(&mut *tx)
                        .await?
                        .try_get::<i64, _>(0)?;
                    if exists != 2 {
                        return Err($crate::DbError::NotFound);
                    }
                    let moved = sqlx::query("UPDATE lib_editions SET work_id = $1, updated_at = $2 WHERE work_id = $3 RETURNING id")
                        .bind(into)
                        .bind(now.0)
                        .bind(from)
                        .fetch_all(&mut *tx)
                        .await?
                        .iter()
                        .map(|r| r.try_get(0))
                        .collect::<std::result::Result<Vec<i64>, _>>()?;
                    sqlx::query("DELETE FROM lib_works WHERE id = $1").bind(from).execute(&mut *tx).await?;
                    sqlx::query("UPDATE lib_works SET updated_at = $1 WHERE id = $2").bind(now.0).bind(into).execute(&mut *tx).await?;
                    tx.commit().await?;
                    Ok(moved)
                }

                async fn split_edition(&self, edition_id: i64, now: Timestamp) -> Result<i64> {
                    let mut tx = self.pool.begin_with($begin_write).await?;
                    let row = sqlx::query(&format!("SELECT {EDITION_COLUMNS} FROM lib_editions WHERE id = $1"))
                        .bind(edition_id)
                        .fetch_optional(&mut *tx)
                        .await?
                        .ok_or($crate::DbError::NotFound)?;
                    let e = edition_from_row(&row)?;
                    let id = alloc_ids(&mut *tx, "lib_works", 1).await?[0];
                    // The new work keeps the edition's key, made unique so that
                    // later imports do not fold it back into the old work.
                    sqlx::query(
                        "INSERT INTO lib_works (id, work_key, title, authors, subjects, series, series_index, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(id)
                    .bind(format!("{}#{id}", e.record.work_key()))
                    .bind(e.record.title.as_str())
                    .bind(authors_json(&e.record.authors))
                    .bind(strings_json(&e.record.subjects))
                    .bind(e.record.series.as_deref())
                    .bind(e.record.series_index)
                    .bind(now.0)
                    .bind(now.0)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query("UPDATE lib_editions SET work_id = $1, updated_at = $2 WHERE id = $3")
                        .bind(id)
                        .bind(now.0)
                        .bind(edition_id)
                        .execute(&mut *tx)
                        .await?;
                    // A work left without editions goes.
                    sqlx::query("DELETE FROM lib_works WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM lib_editions WHERE work_id = $1)")
                        .bind(e.work_id)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(id)
                }

                async fn attach_file(&self, f: &LibFile) -> Result<()> {
                    sqlx::query(
                        "INSERT INTO lib_files (file_id, edition_id, format, pages, encrypted, problems, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (file_id) DO UPDATE SET \
                         edition_id = excluded.edition_id, format = excluded.format, pages = excluded.pages, \
                         encrypted = excluded.encrypted, problems = excluded.problems",
                    )
                    .bind(f.file_id.as_str())
                    .bind(f.edition_id)
                    .bind(&f.format)
                    .bind(f.pages)
                    .bind(f.encrypted)
                    .bind(&f.problems)
                    .bind(f.created_at.0)
                    .execute(&self.pool)
                    .await?;
                    Ok(())
                }

                async fn library_files(&self, edition_id: i64) -> Result<Vec<LibFile>> {
                    let rows = sqlx::query("SELECT * FROM lib_files WHERE edition_id = $1 ORDER BY created_at, file_id")
                        .bind(edition_id)
                        .fetch_all(&self.pool)
                        .await?;
                    rows.iter().map(lib_file_from_row).collect()
                }

                async fn library_file(&self, file_id: &FileId) -> Result<Option<LibFile>> {
                    sqlx::query("SELECT * FROM lib_files WHERE file_id = $1")
                        .bind(file_id.as_str())
                        .fetch_optional(&self.pool)
                        .await?
                        .map(|r| lib_file_from_row(&r))
                        .transpose()
                }

                async fn library_file_by_blob(&self, hash: &BlobHash) -> Result<Option<LibFile>> {
                    sqlx::query(
                        "SELECT l.* FROM lib_files l JOIN files f ON f.id = l.file_id \
                         WHERE f.blob_hash = $1 ORDER BY l.created_at, l.file_id LIMIT 1",
                    )
                    .bind(hash.to_hex())
                    .fetch_optional(&self.pool)
                    .await?
                    .map(|r| lib_file_from_row(&r))
                    .transpose()
                }

                async fn add_library_file(&self, file: &crate::NewFile, lib: &LibFile) -> Result<()> {
                    let mut tx = self.pool.begin().await?;
                    sqlx::query(
                        "INSERT INTO blobs (hash, size, refcount, created_at) VALUES ($1, $2, 1, $3) \
                         ON CONFLICT (hash) DO UPDATE SET refcount = blobs.refcount + 1",
                    )
                    .bind(file.blob.to_hex())
                    .bind(file.size)
                    .bind(file.created_at.0)
                    .execute(&mut *tx)
                    .await?;
                    super::insert_file(&mut tx, file).await?;
                    sqlx::query(
                        "INSERT INTO lib_files (file_id, edition_id, format, pages, encrypted, problems, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(lib.file_id.as_str())
                    .bind(lib.edition_id)
                    .bind(&lib.format)
                    .bind(lib.pages)
                    .bind(lib.encrypted)
                    .bind(&lib.problems)
                    .bind(lib.created_at.0)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn set_cover(&self, edition_id: i64, small: &[u8], large: &[u8], now: Timestamp) -> Result<()> {
                    sqlx::query(
                        "INSERT INTO lib_covers (edition_id, small, large, updated_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (edition_id) DO UPDATE SET small = excluded.small, large = excluded.large, \
                         updated_at = excluded.updated_at",
                    )
                    .bind(edition_id)
                    .bind(small)
                    .bind(large)
                    .bind(now.0)
                    .execute(&self.pool)
                    .await?;
                    Ok(())
                }

                async fn cover(&self, edition_id: i64, large: bool) -> Result<Option<Vec<u8>>> {
                    let col = if large { "large" } else { "small" };
                    Ok(sqlx::query(&format!("SELECT {col} FROM lib_covers WHERE edition_id = $1"))
                        .bind(edition_id)
                        .fetch_optional(&self.pool)
                        .await?
                        .map(|r| r.try_get(0))
                        .transpose()?)
                }

                async fn covered(&self, edition_ids: &[i64]) -> Result<std::collections::HashSet<i64>> {
                    let mut out = std::collections::HashSet::new();
                    for chunk in edition_ids.chunks(500) {
                        let mut q = QueryBuilder::<$db>::new("SELECT edition_id FROM lib_covers WHERE edition_id IN (");
                        let mut sep = q.separated(", ");
                        for e in chunk {
                            sep.push_bind(*e);
                        }
                        q.push(")");
                        for row in q.build().fetch_all(&self.pool).await? {
                            out.insert(row.try_get(0)?);
                        }
                    }
                    Ok(out)
                }

                async fn scanned(&self, path: &str) -> Result<Option<Scanned>> {
                    sqlx::query("SELECT * FROM lib_scanned WHERE path = $1")
                        .bind(path)
                        .fetch_optional(&self.pool)
                        .await?
                        .map(|r| {
                            Ok(Scanned {
                                path: r.try_get("path")?,
                                size: r.try_get("size")?,
                                mtime: r.try_get("mtime")?,
                                blob_hash: r.try_get("blob_hash")?,
                                scanned_at: Timestamp(r.try_get("scanned_at")?),
                            })
                        })
                        .transpose()
                }

                async fn set_scanned(&self, s: &Scanned) -> Result<()> {
                    sqlx::query(
                        "INSERT INTO lib_scanned (path, size, mtime, blob_hash, scanned_at) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtime = excluded.mtime, \
                         blob_hash = excluded.blob_hash, scanned_at = excluded.scanned_at",
                    )
                    .bind(&s.path)
                    .bind(s.size)
                    .bind(s.mtime)
                    .bind(&s.blob_hash)
                    .bind(s.scanned_at.0)
                    .execute(&self.pool)
                    .await?;
                    Ok(())
                }

                async fn checkpoint(&self, name: &str) -> Result<Option<i64>> {
                    Ok(sqlx::query("SELECT position FROM lib_checkpoints WHERE name = $1")
                        .bind(name)
                        .fetch_optional(&self.pool)
                        .await?
                        .map(|r| r.try_get(0))
                        .transpose()?)
                }

                async fn set_checkpoint(&self, name: &str, position: i64, now: Timestamp) -> Result<()> {
                    set_checkpoint_in(&mut *self.pool.acquire().await?, name, position, now).await
                }

                async fn put_authority(&self, entries: &[(String, String, String)]) -> Result<()> {
                    let mut tx = self.pool.begin_with($begin_write).await?;
                    put_authority_in(&mut tx, entries).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn authority(&self, keys: &[String]) -> Result<HashMap<String, (String, String)>> {
                    authority_in(&mut *self.pool.acquire().await?, keys).await
                }

                async fn bulk(&self) -> Result<Box<dyn CatalogBulk>> {
                    let mut conn = self.pool.acquire().await?;
                    // Its pragmas stay with it: it is closed, not pooled.
                    conn.close_on_drop();
                    for sql in $bulk_setup {
                        sqlx::query(sql.as_str()).execute(&mut *conn).await?;
                    }
                    let beside = super::beside(&mut conn).await?;
                    sqlx::query($begin_write).execute(&mut *conn).await?;
                    Ok(Box::new(Bulk { conn, pool: self.pool.clone(), beside }))
                }

                async fn count_editions(&self) -> Result<i64> {
                    Ok(sqlx::query("SELECT COUNT(*) FROM lib_editions").fetch_one(&self.pool).await?.try_get(0)?)
                }
            }
        }
    };
}

pub(crate) use impl_catalog;
