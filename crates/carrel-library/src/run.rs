//! `carrel import`: a dump read on a blocking thread, stored in batches of
//! [`MAX_BATCH`] records on the runtime through one bulk writer (a
//! transaction committed before each index commit, every
//! [`ImportOptions::commit_every`]), with a checkpoint after each index commit.
//!
//! The checkpoint counts the items of the dump already stored in the
//! database and committed to the search index; an import that stopped
//! resumes after them (the items before are read again but not stored, and
//! those stored after the last checkpoint are stored again, which updates
//! them). A failed import rolls back what it had not committed, in the
//! database and in the index. A finished import clears its checkpoint, so
//! running it again re-imports everything, which updates the editions it
//! made and never duplicates them (records carry their source keys).

use std::path::PathBuf;
use std::time::Instant;

use carrel_core::catalog::{Author, EditionRecord};
use carrel_core::time::Timestamp;
use carrel_db::catalog::MAX_BATCH;
use serde_json::Value;

use crate::import::{self, Format, Item, Refs};
use crate::{Library, LibraryError};

pub struct ImportOptions {
    pub path: PathBuf,
    pub format: Format,
    /// For [`Format::Csv`].
    pub mapping: Option<import::csv::Mapping>,
    /// Ignore a checkpoint left by an interrupted run.
    pub restart: bool,
    /// How often the database and the index commit and the checkpoint
    /// moves ([`COMMIT_EVERY`] unless a test wants it sooner).
    pub commit_every: std::time::Duration,
}

/// Where an import is, for a progress bar.
#[derive(Clone, Copy, Debug, Default)]
pub struct ImportProgress {
    pub items: u64,
    pub records: u64,
    pub bad: u64,
    pub bytes_read: u64,
    pub bytes_total: u64,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ImportReport {
    pub records: u64,
    pub created: u64,
    pub updated: u64,
    pub authority: u64,
    pub bad: u64,
    /// The first bad records: line (or record number) and why.
    pub bad_samples: Vec<(u64, String)>,
    /// Items skipped because an earlier run had stored them.
    pub resumed_after: u64,
    pub seconds: f64,
}

const BAD_SAMPLES: usize = 50;

/// How often a running import commits the search index (and moves its
/// checkpoint). Each commit ends the index's segments in progress, so
/// committing every batch made many tiny segments, and merging them took
/// more time than indexing.
pub const COMMIT_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

pub async fn run_import(
    lib: &Library,
    opts: ImportOptions,
    progress: &(dyn Fn(ImportProgress) + Sync),
    bad_record: &(dyn Fn(u64, &str) + Sync),
) -> Result<ImportReport, LibraryError> {
    let started = Instant::now();
    let canonical =
        std::fs::canonicalize(&opts.path).map_err(|e| LibraryError::io(&opts.path, e))?;
    let commit_every = opts.commit_every;
    let checkpoint_name = format!("import:{}:{}", opts.format.name(), canonical.display());
    let skip = if opts.restart {
        0
    } else {
        lib.db()
            .checkpoint(&checkpoint_name)
            .await?
            .unwrap_or(0)
            .max(0) as u64
    };
    let bytes_total = std::fs::metadata(&canonical).map(|m| m.len()).unwrap_or(0);
    let (input, bytes) = import::open(&canonical)?;
    let items: Box<dyn Iterator<Item = Item> + Send> = match opts.format {
        Format::Csv => Box::new(import::csv::mapped(
            input,
            opts.mapping.ok_or_else(|| {
                LibraryError::BadImport("CSV needs a column mapping (--map title=COLUMN …)".into())
            })?,
        )?),
        Format::Gutenberg => Box::new(import::csv::gutenberg(&canonical, input)?),
        Format::Goodbooks => Box::new(import::csv::goodbooks(input)?),
        Format::Jsonl => Box::new(import::jsonl::works(input)),
        Format::OpenLibrary => Box::new(import::openlibrary::dump(input)),
        Format::Oai => Box::new(import::oai::harvest(input)),
    };

    // Parse on a blocking thread, two batches ahead of storing.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Item>>(2);
    let parser = tokio::task::spawn_blocking(move || {
        let mut items = items.skip(skip as usize);
        loop {
            let batch: Vec<Item> = items.by_ref().take(MAX_BATCH).collect();
            if batch.is_empty() || tx.blocking_send(batch).is_err() {
                break;
            }
        }
    });

    let mut report = ImportReport {
        resumed_after: skip,
        ..Default::default()
    };
    let mut done_items = skip;
    let mut last_commit = Instant::now();
    // One transaction per index commit, not per batch (see CatalogBulk).
    // A failure drops what was not committed, in the database (the
    // transaction rolls back) and in the index alike.
    let stored = async {
        let mut bulk = lib.db().bulk().await?;
        // The index commit under way and the items it covers.
        let mut indexing: Option<(crate::PendingCommit, u64)> = None;
        while let Some(batch) = rx.recv().await {
            let n = batch.len() as u64;
            let mut records = Vec::with_capacity(batch.len());
            let mut refs = Vec::new();
            let mut authority = Vec::new();
            for item in batch {
                match item {
                    Item::Record(line, r, rf) => records.push((line, *r, rf)),
                    Item::Authority { key, name, data } => authority.push((key, name, data)),
                    Item::Bad(line, why) => {
                        report.bad += 1;
                        bad_record(line, &why);
                        if report.bad_samples.len() < BAD_SAMPLES {
                            report.bad_samples.push((line, why));
                        }
                    }
                }
            }
            if !authority.is_empty() {
                report.authority += authority.len() as u64;
                bulk.put_authority(&authority).await?;
            }
            if records
                .iter()
                .any(|(_, _, rf)| !rf.authors.is_empty() || rf.work.is_some())
            {
                for (_, _, rf) in &records {
                    refs.extend(rf.authors.iter().cloned());
                    refs.extend(rf.work.iter().cloned());
                }
                let known = bulk.authority(&refs).await?;
                let mut kept = Vec::with_capacity(records.len());
                for (line, r, rf) in records {
                    match resolve(r, &rf, &known) {
                        Ok(r) => kept.push((line, r, Refs::default())),
                        Err(why) => {
                            report.bad += 1;
                            bad_record(line, &why);
                            if report.bad_samples.len() < BAD_SAMPLES {
                                report.bad_samples.push((line, why));
                            }
                        }
                    }
                }
                records = kept;
            }
            let recs: Vec<EditionRecord> = records.into_iter().map(|(_, r, _)| r).collect();
            let ups = lib.store_bulk(&mut *bulk, recs).await?;
            report.records += ups.len() as u64;
            report.created += ups.iter().filter(|u| u.created).count() as u64;
            report.updated += ups.iter().filter(|u| !u.created).count() as u64;
            done_items += n;
            // The database commits, then the index, then the checkpoint moves
            // (committed with the next transaction): an import that stops
            // resumes at most three commit intervals back and stores those
            // items again (updating them); the index never holds an edition
            // the database does not (its commit covers the documents sent
            // before it, all of them committed to the database). Storing goes
            // on while the index commits; one index commit at a time.
            if indexing.as_mut().is_some_and(|(p, _)| p.is_done()) {
                let (p, at) = indexing.take().expect("a commit under way");
                p.wait().await?;
                bulk.set_checkpoint(&checkpoint_name, at as i64, Timestamp::now())
                    .await?;
            }
            if last_commit.elapsed() >= commit_every && indexing.is_none() {
                bulk.commit().await?;
                indexing = Some((lib.start_commit().await?, done_items));
                last_commit = Instant::now();
            }
            progress(ImportProgress {
                items: done_items,
                records: report.records,
                bad: report.bad,
                bytes_read: bytes.get(),
                bytes_total,
            });
        }
        parser
            .await
            .map_err(|e| LibraryError::BadImport(format!("the reader stopped: {e}")))?;
        if let Some((p, _)) = indexing.take() {
            p.wait().await?;
        }
        bulk.commit().await?;
        lib.commit().await?;
        bulk.set_checkpoint(&checkpoint_name, 0, Timestamp::now())
            .await?;
        bulk.finish().await?;
        Ok::<_, LibraryError>(())
    }
    .await;
    if let Err(e) = stored {
        if let Err(r) = lib.rollback().await {
            tracing::warn!(error = %r, "the search index could not roll back");
        }
        return Err(e);
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Fills an Open Library edition from the authors and work it names.
fn resolve(
    mut r: EditionRecord,
    refs: &Refs,
    known: &std::collections::HashMap<String, (String, String)>,
) -> Result<EditionRecord, String> {
    let work = refs.work.as_ref().and_then(|w| known.get(w));
    let work_data: Option<Value> = work.and_then(|(_, d)| serde_json::from_str(d).ok());
    if r.title.is_empty()
        && let Some((title, _)) = work
    {
        r.title.clone_from(title);
    }
    let mut author_keys: Vec<String> = refs.authors.clone();
    if author_keys.is_empty()
        && let Some(a) = work_data
            .as_ref()
            .and_then(|d| d.get("authors"))
            .and_then(Value::as_array)
    {
        author_keys = a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
    }
    for k in &author_keys {
        if let Some((name, data)) = known.get(k) {
            r.authors.extend(Author::parse(name));
            if let Ok(d) = serde_json::from_str::<Value>(data)
                && let Some(alts) = d.get("alternate_names").and_then(Value::as_array)
            {
                r.author_aliases.extend(
                    alts.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .take(8),
                );
            }
        }
    }
    if let Some(d) = &work_data {
        if r.subjects.is_empty()
            && let Some(s) = d.get("subjects").and_then(Value::as_array)
        {
            r.subjects = s
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
        }
        if r.description.is_none() {
            r.description = d
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
    }
    r.validated().map_err(|e| e.to_string())
}
