//! The library service: records into the database, then into the index.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use carrel_core::catalog::EditionRecord;
use carrel_core::time::Timestamp;
use carrel_db::Database;
use carrel_db::catalog::{CatalogBulk, Edition, MAX_BATCH, Upserted};
use carrel_search::{IndexDoc, Query, Results, SearchIndex};

use carrel_blob::BlobStore;

use crate::LibraryError;
use crate::extract::Extractor;

pub struct Library {
    pub(crate) db: Arc<dyn Database>,
    index: SearchIndex,
    dirty: AtomicBool,
    /// Where library files' bytes are (the file host's store).
    pub(crate) store: Arc<dyn BlobStore>,
    /// How book files are read (a sandboxed child in the server and CLI).
    pub(crate) extractor: Extractor,
    /// Changes to the index, in order, for its writer thread.
    writes: tokio::sync::mpsc::Sender<IndexJob>,
    /// The server's download meter and plans: downloads of library files
    /// count against the downloader's plan like any other (unset in the
    /// command-line tools, which serve nothing).
    pub(crate) downloads: std::sync::OnceLock<(
        Arc<carrel_http::meter::Meter>,
        Arc<carrel_core::plan::Plans>,
    )>,
}

/// Work for the index writer thread: documents to add (their error, if
/// any, is kept for the next [`IndexJob::Run`]), or work whose outcome
/// is awaited.
enum IndexJob {
    Upsert(Vec<IndexDoc>),
    Run(
        IndexWork,
        tokio::sync::oneshot::Sender<Result<(), LibraryError>>,
    ),
}

type IndexWork = Box<dyn FnOnce(&SearchIndex) -> Result<(), carrel_search::SearchError> + Send>;

/// Batches of documents waiting for the writer thread (backpressure
/// beyond): enough for a bulk import to go on storing while the index
/// commits (a batch of documents is a few MiB).
const INDEX_QUEUE: usize = 6;

/// An index commit under way ([`Library::start_commit`]).
pub struct PendingCommit {
    wait: tokio::sync::oneshot::Receiver<Result<(), LibraryError>>,
    ended: Option<Result<(), LibraryError>>,
}

impl PendingCommit {
    /// One with nothing to commit.
    fn done() -> Self {
        let (_, wait) = tokio::sync::oneshot::channel();
        Self {
            wait,
            ended: Some(Ok(())),
        }
    }

    /// Whether it has ended (successfully or not); [`PendingCommit::wait`] says which.
    pub fn is_done(&mut self) -> bool {
        use tokio::sync::oneshot::error::TryRecvError;
        if self.ended.is_none() {
            match self.wait.try_recv() {
                Ok(r) => self.ended = Some(r),
                Err(TryRecvError::Closed) => self.ended = Some(Err(writer_stopped())),
                Err(TryRecvError::Empty) => {}
            }
        }
        self.ended.is_some()
    }

    /// Waits for the commit's end.
    pub async fn wait(self) -> Result<(), LibraryError> {
        match self.ended {
            Some(r) => r,
            None => self.wait.await.map_err(|_| writer_stopped())?,
        }
    }
}

fn writer_stopped() -> LibraryError {
    LibraryError::Internal("the search index writer stopped".into())
}

/// The index writer thread: applies jobs in the order they were sent, so
/// storing records never waits for the index (tantivy tokenizes on its own
/// threads; this one feeds them), while a commit still covers every
/// upsert sent before it. Ends when the library is dropped.
fn spawn_index_writer(index: SearchIndex) -> tokio::sync::mpsc::Sender<IndexJob> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<IndexJob>(INDEX_QUEUE);
    std::thread::Builder::new()
        .name("carrel-index".into())
        .spawn(move || {
            let mut failed: Option<carrel_search::SearchError> = None;
            while let Some(job) = rx.blocking_recv() {
                match job {
                    IndexJob::Upsert(docs) => {
                        if let Err(e) = index.upsert(docs) {
                            failed.get_or_insert(e);
                        }
                    }
                    IndexJob::Run(f, done) => {
                        let r = match failed.take() {
                            Some(e) => Err(e),
                            None => f(&index),
                        };
                        let _ = done.send(r.map_err(Into::into));
                    }
                }
            }
        })
        .expect("spawn the index writer thread");
    tx
}

/// The index's view of a stored edition.
pub fn index_doc(e: &Edition) -> IndexDoc {
    let r = &e.record;
    IndexDoc {
        edition_id: e.id,
        work_id: e.work_id,
        kind: r.kind,
        title: r.title.clone(),
        subtitle: r.subtitle.clone(),
        authors: r.authors.iter().map(|a| a.name.clone()).collect(),
        author_aliases: r
            .author_aliases
            .iter()
            .cloned()
            .chain(r.authors.iter().map(|a| a.sort.clone()))
            .collect(),
        series: r.series.clone(),
        subjects: r.subjects.clone(),
        publisher: r.publisher.clone(),
        description: r.description.clone(),
        language: r.language.as_ref().map(|l| l.as_str().to_owned()),
        year: r.year,
        formats: e.formats.clone(),
        has_file: !e.formats.is_empty(),
        identifiers: r.identifiers.iter().map(|i| i.to_string()).collect(),
        added: e.created_at.0,
    }
}

/// The editions that records of a batch were merged into (ones that
/// existed, or ones made earlier in the batch): they are read back for the
/// index, as the records were merged into them.
fn merged_into(ups: &[Upserted]) -> HashSet<i64> {
    ups.iter()
        .filter(|u| !u.created)
        .map(|u| u.edition_id)
        .collect()
}

/// The index's view of a record just stored as a new edition (without
/// files): [`index_doc`] of that edition, made of the record's own strings
/// instead of copies (an import makes one per record, on the path that
/// stores them).
fn new_edition_doc(r: EditionRecord, u: &Upserted, now: Timestamp) -> IndexDoc {
    let EditionRecord {
        kind,
        title,
        subtitle,
        authors,
        author_aliases,
        subjects,
        series,
        publisher,
        year,
        language,
        description,
        identifiers,
        ..
    } = r;
    let mut names = Vec::with_capacity(authors.len());
    let mut aliases = author_aliases;
    aliases.reserve(authors.len());
    for a in authors {
        names.push(a.name);
        aliases.push(a.sort);
    }
    IndexDoc {
        edition_id: u.edition_id,
        work_id: u.work_id,
        kind,
        title,
        subtitle,
        authors: names,
        author_aliases: aliases,
        series,
        subjects,
        publisher,
        description,
        language: language.as_ref().map(|l| l.as_str().to_owned()),
        year,
        formats: Vec::new(),
        has_file: false,
        identifiers: identifiers.iter().map(|i| i.to_string()).collect(),
        added: now.0,
    }
}

/// The index documents of a stored batch: new editions from their record,
/// merged ones (`reread`, see [`merged_into`]) from the database.
fn docs_of(
    chunk: Vec<EditionRecord>,
    ups: &[Upserted],
    merged: &HashSet<i64>,
    reread: Vec<Edition>,
    now: Timestamp,
) -> Vec<IndexDoc> {
    let mut docs: Vec<IndexDoc> = chunk
        .into_iter()
        .zip(ups)
        .filter(|(_, u)| u.created && !merged.contains(&u.edition_id))
        .map(|(r, u)| new_edition_doc(r, u, now))
        .collect();
    docs.extend(reread.iter().map(index_doc));
    docs
}

impl Library {
    pub fn new(
        db: Arc<dyn Database>,
        index: SearchIndex,
        store: Arc<dyn BlobStore>,
        extractor: Extractor,
    ) -> Arc<Self> {
        let writes = spawn_index_writer(index.clone());
        Arc::new(Self {
            db,
            index,
            dirty: AtomicBool::new(false),
            store,
            extractor,
            writes,
            downloads: std::sync::OnceLock::new(),
        })
    }

    /// Meters downloads of library files with the server's meter and plans
    /// (set once, when the server starts).
    pub fn set_meter(
        &self,
        meter: Arc<carrel_http::meter::Meter>,
        plans: Arc<carrel_core::plan::Plans>,
    ) {
        let _ = self.downloads.set((meter, plans));
    }

    pub fn blobs(&self) -> &Arc<dyn BlobStore> {
        &self.store
    }

    pub fn db(&self) -> &Arc<dyn Database> {
        &self.db
    }

    pub fn index(&self) -> &SearchIndex {
        &self.index
    }

    /// Runs index work on the blocking pool (tantivy's calls block).
    async fn on_index<T: Send + 'static>(
        &self,
        f: impl FnOnce(&SearchIndex) -> Result<T, carrel_search::SearchError> + Send + 'static,
    ) -> Result<T, LibraryError> {
        let index = self.index.clone();
        tokio::task::spawn_blocking(move || f(&index))
            .await
            .map_err(|e| LibraryError::Internal(format!("search index task: {e}")))?
            .map_err(Into::into)
    }

    /// Sends documents to the index writer thread (visible after a commit;
    /// an error surfaces at the next [`Library::commit`]).
    async fn send_docs(&self, docs: Vec<IndexDoc>) -> Result<(), LibraryError> {
        self.dirty.store(true, Ordering::Release);
        self.writes
            .send(IndexJob::Upsert(docs))
            .await
            .map_err(|_| writer_stopped())
    }

    /// Runs `f` on the index writer thread after every change sent before.
    async fn on_writer(
        &self,
        f: impl FnOnce(&SearchIndex) -> Result<(), carrel_search::SearchError> + Send + 'static,
    ) -> Result<(), LibraryError> {
        self.start_on_writer(f).await?.wait().await
    }

    /// Sends `f` to the writer thread (after every change sent before) and
    /// returns at once: its outcome comes with the [`PendingCommit`].
    async fn start_on_writer(
        &self,
        f: impl FnOnce(&SearchIndex) -> Result<(), carrel_search::SearchError> + Send + 'static,
    ) -> Result<PendingCommit, LibraryError> {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.writes
            .send(IndexJob::Run(Box::new(f), done))
            .await
            .map_err(|_| writer_stopped())?;
        Ok(PendingCommit { wait, ended: None })
    }

    /// Stores records (any number, in batches, one transaction) and indexes
    /// what changed (handed to the index writer thread once the database
    /// has committed: visible after an index commit).
    pub async fn store(&self, records: &[EditionRecord]) -> Result<Vec<Upserted>, LibraryError> {
        let mut bulk = self.db.bulk().await?;
        let mut out = Vec::with_capacity(records.len());
        let mut docs = Vec::new();
        for chunk in records.chunks(MAX_BATCH) {
            let (ups, d) = Self::stored(&mut *bulk, chunk.to_vec()).await?;
            out.extend(ups);
            docs.push(d);
        }
        bulk.finish().await?;
        for d in docs {
            self.send_docs(d).await?;
        }
        Ok(out)
    }

    /// As [`Library::store`], through a bulk import's writer, whose
    /// transaction stays open: each batch goes to the index writer at once
    /// (indexing overlaps storing the next), so the caller commits `bulk`
    /// before the index, or rolls both back ([`Library::rollback`]).
    pub async fn store_bulk(
        &self,
        bulk: &mut dyn CatalogBulk,
        mut records: Vec<EditionRecord>,
    ) -> Result<Vec<Upserted>, LibraryError> {
        let mut out = Vec::with_capacity(records.len());
        while !records.is_empty() {
            let rest = records.split_off(records.len().min(MAX_BATCH));
            let (ups, docs) = Self::stored(bulk, std::mem::replace(&mut records, rest)).await?;
            self.send_docs(docs).await?;
            out.extend(ups);
        }
        Ok(out)
    }

    /// Stores one batch; what it did and the index documents of what changed.
    async fn stored(
        bulk: &mut dyn CatalogBulk,
        chunk: Vec<EditionRecord>,
    ) -> Result<(Vec<Upserted>, Vec<IndexDoc>), LibraryError> {
        let now = Timestamp::now();
        let ups = bulk.upsert_editions(&chunk, now).await?;
        let merged = merged_into(&ups);
        let reread = bulk
            .editions(&Vec::from_iter(merged.iter().copied()))
            .await?;
        let docs = docs_of(chunk, &ups, &merged, reread, now);
        Ok((ups, docs))
    }

    /// Indexes these editions again from the database (after a file was
    /// attached, works were merged, …).
    pub async fn reindex(&self, edition_ids: &[i64]) -> Result<(), LibraryError> {
        let docs: Vec<IndexDoc> = self
            .db
            .editions(edition_ids)
            .await?
            .iter()
            .map(index_doc)
            .collect();
        self.send_docs(docs).await
    }

    /// Commits the index if anything changed since the last commit.
    pub async fn commit(&self) -> Result<(), LibraryError> {
        if self.dirty.swap(false, Ordering::AcqRel)
            && let Err(e) = self.on_writer(|i| i.commit()).await
        {
            self.dirty.store(true, Ordering::Release);
            return Err(e);
        }
        Ok(())
    }

    /// Starts an index commit on the writer thread and returns at once:
    /// the commit covers every change sent before it, and what is sent
    /// after goes on being indexed into the next one. A bulk import goes on
    /// storing while the index commits (see `run_import`).
    pub async fn start_commit(&self) -> Result<PendingCommit, LibraryError> {
        if self.dirty.swap(false, Ordering::AcqRel) {
            self.start_on_writer(|i| i.commit()).await
        } else {
            Ok(PendingCommit::done())
        }
    }

    /// Background merges of the index off (a bulk import) or on: see
    /// [`SearchIndex::set_merging`].
    pub async fn set_merging(&self, on: bool) -> Result<(), LibraryError> {
        self.on_writer(move |i| i.set_merging(on)).await
    }

    /// Drops the index changes sent since the last commit (see
    /// [`SearchIndex::rollback`]).
    pub async fn rollback(&self) -> Result<(), LibraryError> {
        self.dirty.store(false, Ordering::Release);
        self.on_writer(|i| i.rollback()).await
    }

    /// Commits the index every `every` while changes arrive (runs forever).
    pub async fn commit_loop(self: Arc<Self>, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.commit().await {
                tracing::warn!(error = %e, "search index commit failed; retrying");
            }
        }
    }

    /// Merges the index's segments into one (after a bulk import: every
    /// search then walks one dictionary per field instead of dozens).
    /// Returns the segments before.
    pub async fn optimize_index(&self) -> Result<usize, LibraryError> {
        let before = self.index.segment_count();
        self.commit().await?;
        self.on_writer(|i| i.optimize()).await?;
        Ok(before)
    }

    /// Rebuilds the index from the database; `progress(done, total)`.
    pub async fn rebuild_index(
        &self,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<u64, LibraryError> {
        let total = self.db.count_editions().await?.max(0) as u64;
        self.on_writer(|i| i.clear()).await?;
        let mut after = 0;
        let mut done = 0u64;
        loop {
            let page = self.db.editions_after(after, 5_000).await?;
            let Some(last) = page.last() else { break };
            after = last.id;
            done += page.len() as u64;
            let docs: Vec<IndexDoc> = page.iter().map(index_doc).collect();
            self.send_docs(docs).await?;
            progress(done, total);
        }
        self.dirty.store(true, Ordering::Release);
        self.commit().await?;
        Ok(done)
    }

    /// Searches; a query that is an identifier (ISBN, DOI, arXiv id, a
    /// Gutenberg ebook number, in any form) looks for that identifier instead.
    pub async fn search(&self, mut q: Query) -> Result<Results, LibraryError> {
        if q.identifier.is_none()
            && let Some(id) = carrel_core::catalog::EditionId::detect(&q.text)
        {
            q.identifier = Some(id.to_string());
            q.text.clear();
        }
        self.on_index(move |i| i.search(&q)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carrel_core::catalog::{Author, EditionId, Kind, Lang};

    /// A new edition's document made from its record's own strings is the
    /// document of the stored edition.
    #[test]
    fn new_edition_doc_is_index_doc() {
        let r = EditionRecord {
            source: None,
            kind: Kind::Article,
            title: "Les Misérables".into(),
            subtitle: Some("A Novel".into()),
            authors: vec![
                Author {
                    name: "Victor Hugo".into(),
                    sort: "Hugo, Victor".into(),
                },
                Author {
                    name: "Ann Other".into(),
                    sort: "Other, Ann".into(),
                },
            ],
            author_aliases: vec!["V. Hugo".into()],
            subjects: vec!["France".into(), "Fiction".into()],
            series: Some("Classics".into()),
            series_index: Some(2.0),
            publisher: Some("Lacroix".into()),
            year: Some(1862),
            language: Some(Lang::parse("fr").unwrap()),
            description: Some("Paris".into()),
            identifiers: vec![EditionId::detect("978-0-306-40615-7").unwrap()],
        };
        let u = Upserted {
            edition_id: 7,
            work_id: 3,
            created: true,
        };
        let now = Timestamp(1_700_000_000);
        let want = index_doc(&Edition {
            id: 7,
            work_id: 3,
            record: r.clone(),
            formats: Vec::new(),
            created_at: now,
            updated_at: now,
        });
        assert_eq!(new_edition_doc(r, &u, now), want);
    }
}
