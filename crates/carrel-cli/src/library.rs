//! `carrel import`, `carrel library add` and `carrel index rebuild`: library
//! work on a data directory, run beside a stopped server (the search index
//! admits one writer; a running server holds it).

use std::path::PathBuf;

use carrel_core::catalog::Kind;
use carrel_library::import::Format;
use carrel_library::import::csv::Mapping;

/// Where the data lives (the same options as `carrel serve`).
#[derive(clap::Args)]
pub struct DataArgs {
    /// Data directory (database, blobs, staged uploads, search index). [default: ./carrel-data]
    #[arg(long, env = "CARREL_DATA")]
    data: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB. [default: SQLite in the data directory]
    #[arg(long, env = "CARREL_DATABASE")]
    database: Option<String>,
    /// TOML settings file (see README for every key).
    #[arg(long, env = "CARREL_CONFIG")]
    config: Option<PathBuf>,
}

impl DataArgs {
    pub fn settings(&self) -> anyhow::Result<carrel_server::Settings> {
        let mut s = carrel_server::Settings::load(self.config.as_deref())
            .map_err(|e| anyhow::anyhow!("settings: {e}"))?;
        if let Some(d) = &self.data {
            s.data = d.clone();
        }
        if self.database.is_some() {
            s.database = self.database.clone();
        }
        Ok(s)
    }
}

#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    carrel import gutenberg_metadata.csv.gz            (format detected; aliases and subjects read from beside it)\n  \
    carrel import --format jsonl crossref-works.jsonl.gz\n  \
    carrel import ol_dump_authors.txt.gz ol_dump_works.txt.gz ol_dump_editions.txt.gz\n  \
    carrel import --format csv --kind article --map id=ID --map title=title --map authors=author \\\n    \
    --authors-sep ' and ' --map year=year --map doi=doi --map journal=journal records.csv\n\n\
    Re-running an import updates the editions it made and never duplicates them. An interrupted\n\
    import resumes where it stopped (--restart starts over). Bad records are reported with their\n\
    line number and skipped.")]
pub struct ImportArgs {
    /// Dump files (.gz read directly), imported in order.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// csv, gutenberg, goodbooks, jsonl (Crossref, OpenAlex), openlibrary or oai. [default: detected]
    #[arg(long)]
    format: Option<String>,
    /// For --format csv: FIELD=COLUMN (fields: id, scheme, title, subtitle, authors, year, language,
    /// publisher, journal, description, subjects, series, series_index, isbn, doi, issn). Repeatable.
    #[arg(long = "map", value_name = "FIELD=COLUMN")]
    map: Vec<String>,
    /// For --format csv: book, article or comic.
    #[arg(long, default_value = "book")]
    kind: String,
    /// For --format csv: what separates authors in one cell.
    #[arg(long, value_name = "SEP")]
    authors_sep: Option<String>,
    /// Ignore the checkpoint of an interrupted import and start over.
    #[arg(long)]
    restart: bool,
    /// Print each bad record (line and reason) as it is met.
    #[arg(long, short)]
    verbose: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Leave the search index in the many segments a bulk import writes
    /// (when another import follows). By default an import of 100,000
    /// records or more ends by merging them into one, as `carrel index
    /// optimize` does: searches at millions of records are about twice as
    /// fast.
    #[arg(long)]
    no_optimize: bool,
    /// Seconds between commits (and checkpoints) while importing; for
    /// tests of an interrupted import.
    #[arg(long, hide = true, value_name = "SECS")]
    commit_every: Option<f64>,
    #[command(flatten)]
    data: DataArgs,
}

/// Imports of this many records or more end with the index merged.
const OPTIMIZE_AFTER: u64 = 100_000;

/// Merges the index's segments, with a spinner; the seconds it took.
async fn optimize(lib: &carrel_library::Library) -> anyhow::Result<(usize, f64)> {
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.set_message("merging the search index's segments into one");
    spinner.enable_steady_tick(std::time::Duration::from_millis(200));
    let started = std::time::Instant::now();
    let before = lib.optimize_index().await?;
    spinner.finish_and_clear();
    Ok((before, started.elapsed().as_secs_f64()))
}

/// A progress bar for the library commands (`template`: indicatif's).
fn bar(len: u64, template: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(template)
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar
}

/// The library of a data directory, for changing it: refused while a
/// running server writes its search index.
async fn writable_library(
    data: &DataArgs,
) -> anyhow::Result<std::sync::Arc<carrel_library::Library>> {
    let settings = data.settings()?;
    let db = carrel_server::open_database(&settings).await?;
    let store = carrel_server::open_store(&settings)?;
    let lib = carrel_server::open_library(&settings, db, store).await?;
    if lib.index().is_read_only() {
        anyhow::bail!(
            "a running carrel writes the search index in {}: stop it first (the index has one writer)",
            settings.index_dir().display()
        );
    }
    Ok(lib)
}

pub async fn import(a: ImportArgs) -> anyhow::Result<()> {
    let lib = writable_library(&a.data).await?;
    let kind = Kind::parse(&a.kind)
        .map_err(|_| anyhow::anyhow!("--kind {:?}: use book, article or comic", a.kind))?;
    let mut imported = 0u64;
    // No merges while importing: one merge of everything at the end.
    lib.set_merging(false).await?;
    for path in &a.paths {
        let format = match &a.format {
            Some(f) => Format::parse(f)?,
            None => Format::detect(path)?,
        };
        let mapping = if format == Format::Csv {
            Some(Mapping::parse(&a.map, kind, a.authors_sep.as_deref())?)
        } else {
            None
        };
        let total = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let bar = bar(
            total,
            "{prefix:20!} {bar:28.cyan/blue} {bytes:>9}/{total_bytes:9} {msg} ETA {eta}",
        );
        bar.set_prefix(
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        let started = std::time::Instant::now();
        let verbose = a.verbose;
        let report = carrel_library::run_import(
            &lib,
            carrel_library::ImportOptions {
                path: path.clone(),
                format,
                mapping,
                restart: a.restart,
                commit_every: a.commit_every.map_or(carrel_library::COMMIT_EVERY, |s| {
                    std::time::Duration::from_secs_f64(s.clamp(0.0, 3600.0))
                }),
            },
            &|p| {
                bar.set_position(p.bytes_read);
                let secs = started.elapsed().as_secs_f64().max(0.001);
                bar.set_message(format!(
                    "{} records, {:.0}/s, {} bad",
                    p.records,
                    p.records as f64 / secs,
                    p.bad
                ));
            },
            &|line, why| {
                if verbose {
                    bar.suspend(|| eprintln!("{}:{line}: {why}", path.display()));
                }
            },
        )
        .await?;
        bar.finish_and_clear();
        imported += report.created + report.updated;
        if a.json {
            println!(
                "{}",
                serde_json::to_string(
                    &serde_json::json!({"path": path, "format": format.name(), "report": report})
                )?
            );
        } else {
            println!(
                "{}: {} records ({} new, {} updated), {} bad, in {:.1} s ({:.0} records/s){}",
                path.display(),
                report.records,
                report.created,
                report.updated,
                report.bad,
                report.seconds,
                report.records as f64 / report.seconds.max(0.001),
                if report.resumed_after > 0 {
                    format!("; resumed after item {}", report.resumed_after)
                } else {
                    String::new()
                },
            );
            if !verbose {
                for (line, why) in report.bad_samples.iter().take(5) {
                    println!("  line {line}: {why}");
                }
                if report.bad > 5 {
                    println!("  … (-v prints every bad record)");
                }
            }
        }
    }
    if a.no_optimize || imported < OPTIMIZE_AFTER || lib.index().segment_count() <= 1 {
        lib.set_merging(true).await?;
    } else {
        let (before, secs) = optimize(&lib).await?;
        if a.json {
            println!(
                "{}",
                serde_json::json!({"optimize": {"segments": before, "seconds": secs}})
            );
        } else {
            println!("search index: merged {before} segments into one in {secs:.1} s");
        }
    }
    Ok(())
}

#[derive(clap::Subcommand)]
pub enum IndexCommand {
    /// Rebuild the search index from the database.
    Rebuild {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Merge the search index into one segment: faster searches after a
    /// bulk import (run it with the server stopped; a 10M-record index takes
    /// minutes).
    Optimize {
        #[command(flatten)]
        data: DataArgs,
    },
}

pub async fn index(c: IndexCommand) -> anyhow::Result<()> {
    match c {
        IndexCommand::Rebuild { data } => {
            let lib = writable_library(&data).await?;
            let bar = bar(
                0,
                "rebuilding {bar:30.cyan/blue} {pos}/{len} editions {per_sec} ETA {eta}",
            );
            let started = std::time::Instant::now();
            let n = lib
                .rebuild_index(&|done, total| {
                    bar.set_length(total);
                    bar.set_position(done);
                })
                .await?;
            bar.finish_and_clear();
            println!(
                "indexed {n} editions in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        IndexCommand::Optimize { data } => {
            let lib = writable_library(&data).await?;
            let (before, secs) = optimize(&lib).await?;
            println!(
                "merged {before} segments into {} in {secs:.1} s",
                lib.index().segment_count()
            );
            Ok(())
        }
    }
}

#[derive(clap::Subcommand)]
pub enum LibraryCommand {
    /// Add book files (EPUB, PDF, MOBI/AZW3, FB2, CBZ) to the library, scanning folders.
    Add(AddArgs),
}

#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    carrel library add ~/Books                 (every book file below it)\n  \
    carrel library add book.epub scan.pdf --json\n\n\
    Each file is copied into carrel's store and read in a sandboxed child process (memory, CPU\n\
    and time limits). Folders are scanned recursively for the extensions above; a file named on\n\
    the command line is tried whatever its name. A rerun skips files whose size and modification\n\
    time did not change, and bytes already in the library are never stored twice. Broken files\n\
    keep what can be read, with their problems listed; files that are not books are reported.")]
pub struct AddArgs {
    /// Files and folders.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Print every file's outcome and problems.
    #[arg(long, short)]
    verbose: bool,
    /// Print one JSON object per file.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    data: DataArgs,
}

/// Book-file extensions looked for in folders.
const BOOK_EXTENSIONS: &[&str] = &["epub", "pdf", "mobi", "azw3", "azw", "fb2", "fbz", "cbz"];

fn is_book_name(p: &std::path::Path) -> bool {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    name.ends_with(".fb2.zip")
        || p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| BOOK_EXTENSIONS.iter().any(|b| e.eq_ignore_ascii_case(b)))
}

/// The files to add: named files as they are, folders walked for book files
/// (symbolic links are not followed; hidden entries are skipped).
fn collect(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
        if meta.is_file() {
            out.push(p.clone());
            continue;
        }
        let walk = walkdir::WalkDir::new(p).sort_by_file_name().into_iter();
        for entry in walk
            .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'))
        {
            let entry = entry.map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
            if entry.file_type().is_file() && is_book_name(entry.path()) {
                out.push(entry.into_path());
            }
        }
    }
    Ok(out)
}

pub async fn library(c: LibraryCommand) -> anyhow::Result<()> {
    match c {
        LibraryCommand::Add(a) => add(a).await,
    }
}

async fn add(a: AddArgs) -> anyhow::Result<()> {
    use carrel_library::ingest::Outcome;
    let files = collect(&a.paths)?;
    let lib = writable_library(&a.data).await?;
    let bar = bar(
        files.len() as u64,
        "{bar:30.cyan/blue} {pos}/{len} files {per_sec} ETA {eta}  {wide_msg}",
    );
    let started = std::time::Instant::now();
    let (mut added, mut present, mut unchanged, mut failed, mut with_problems) = (0, 0, 0, 0, 0);
    let mut failures = Vec::new();
    for path in &files {
        bar.set_message(
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        let r = lib.add_path(path).await;
        let line = match &r {
            Ok(x) => {
                match x.outcome {
                    Outcome::Added => added += 1,
                    Outcome::Present => present += 1,
                    Outcome::Unchanged => unchanged += 1,
                }
                if !x.problems.is_empty() {
                    with_problems += 1;
                }
                if a.json {
                    serde_json::json!({"path": path, "ok": true, "result": x}).to_string()
                } else {
                    let problems: Vec<String> = x
                        .problems
                        .iter()
                        .map(|p| format!("{}: {}", p.code, p.message))
                        .collect();
                    format!(
                        "{}: {} ({}) {:?}{}",
                        path.display(),
                        serde_json::to_value(x.outcome)?.as_str().unwrap_or(""),
                        x.format,
                        x.title,
                        if problems.is_empty() {
                            String::new()
                        } else {
                            format!("\n    problems: {}", problems.join("; "))
                        }
                    )
                }
            }
            Err(e) => {
                failed += 1;
                failures.push(format!("{}: {e} [{}]", path.display(), e.code()));
                if a.json {
                    serde_json::json!({"path": path, "ok": false,
                        "error": {"code": e.code(), "message": e.to_string()}})
                    .to_string()
                } else {
                    format!("{}: not added: {e}", path.display())
                }
            }
        };
        if a.json {
            bar.suspend(|| println!("{line}"));
        } else if a.verbose {
            bar.suspend(|| eprintln!("{line}"));
        }
        // A database or storage error stops the run; a bad file does not.
        if let Err(e) = r
            && !matches!(
                e,
                carrel_library::LibraryError::NotABook(_) | carrel_library::LibraryError::Io { .. }
            )
        {
            bar.finish_and_clear();
            return Err(e.into());
        }
        bar.inc(1);
    }
    lib.commit().await?;
    bar.finish_and_clear();
    if !a.json {
        println!(
            "{} files in {:.1} s: {added} added, {present} already in the library, {unchanged} unchanged, \
             {failed} not added; {with_problems} with problems",
            files.len(),
            started.elapsed().as_secs_f64()
        );
        if !a.verbose {
            for f in failures.iter().take(10) {
                println!("  {f}");
            }
            if failures.len() > 10 {
                println!("  … (-v prints every file)");
            }
        }
    }
    Ok(())
}
