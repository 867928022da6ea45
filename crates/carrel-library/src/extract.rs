//! Reading book files in a child process, so a hostile file can cost at
//! most the child: the parent runs `carrel extract-book FILE OUT_DIR`
//! (hidden), which lowers its own limits (address space, CPU time, file
//! size) before it reads a byte, and kills it at a wall-clock deadline.
//!
//! The child prints one JSON object; its covers are JPEG files in `OUT_DIR`.
//! The parent trusts none of it: every field is validated again as it
//! becomes an [`EditionRecord`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use carrel_core::catalog::{Author, EditionId, EditionRecord, Kind, Lang};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use crate::LibraryError;

/// The hidden subcommand of the `carrel` binary that runs [`child_main`].
pub const SUBCOMMAND: &str = "extract-book";

/// The child's address-space limit: parsers are bounded far below it
/// (64 MiB archive entries, 100-megapixel images), so reaching it means a
/// file the parsers' own bounds missed.
const CHILD_ADDRESS_SPACE: u64 = 3 << 30;
/// The child's CPU-time limit (the parsers' own deadline is 20 s).
const CHILD_CPU_SECONDS: u64 = 30;
/// Largest file the child may write (a cover thumbnail).
const CHILD_FILE_SIZE: u64 = 16 << 20;
/// The parent's wall-clock limit on the child.
const CHILD_WALL: Duration = Duration::from_secs(40);
/// Most bytes of the child's JSON the parent reads.
const MAX_REPORT: u64 = 1 << 20;
/// Largest cover thumbnail the parent accepts.
const MAX_THUMB: u64 = 4 << 20;

/// Something wrong with a file that did not stop it being read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub code: String,
    pub message: String,
}

/// What was read from one book file, validated.
#[derive(Clone, Debug)]
pub struct Book {
    /// `epub`, `pdf`, `mobi`, `azw3`, `fb2` or `cbz`.
    pub format: String,
    /// The record, without a source key (the caller names the source).
    pub record: EditionRecord,
    pub pages: Option<i32>,
    pub encrypted: bool,
    pub problems: Vec<Problem>,
    /// JPEG thumbnails (small fits 160×240, large 480×720).
    pub cover: Option<(Vec<u8>, Vec<u8>)>,
}

/// How book files are read.
#[derive(Clone, Debug)]
pub enum Extractor {
    /// In a child process of this executable (`carrel extract-book`): what
    /// the server and the CLI use.
    Child { exe: PathBuf },
    /// In this process, on the blocking pool (tests of this crate, and
    /// tools that run no untrusted input).
    InProcess,
}

impl Extractor {
    /// The child-process extractor of the running `carrel` binary.
    pub fn current_exe() -> Result<Self, LibraryError> {
        let exe = std::env::current_exe()
            .map_err(|e| LibraryError::Internal(format!("cannot find the carrel binary: {e}")))?;
        Ok(Extractor::Child { exe })
    }

    /// Reads the book at `path`. `Err` is a file that could not be read as
    /// a book at all (its message says why); a partly readable file is
    /// `Ok` with problems.
    pub async fn extract(&self, path: &Path, scratch: &Path) -> Result<Book, LibraryError> {
        let wire = match self {
            Extractor::InProcess => {
                let (p, s) = (path.to_owned(), scratch.to_owned());
                tokio::task::spawn_blocking(move || extract_to(&p, &s))
                    .await
                    .map_err(|e| LibraryError::Internal(format!("extract task: {e}")))?
            }
            Extractor::Child { exe } => run_child(exe, path, scratch).await?,
        };
        match wire {
            Wire::Book(b) => Ok(b.into_book(scratch).await?),
            Wire::Error(p) => Err(LibraryError::NotABook(p)),
        }
    }
}

/// The child's whole output.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Wire {
    Book(Box<WireBook>),
    Error(Problem),
}

#[derive(Serialize, Deserialize)]
struct WireBook {
    format: String,
    kind: Kind,
    title: String,
    subtitle: Option<String>,
    authors: Vec<Author>,
    subjects: Vec<String>,
    series: Option<String>,
    series_index: Option<f64>,
    publisher: Option<String>,
    year: Option<i32>,
    language: Option<String>,
    description: Option<String>,
    /// `scheme:value`, as [`EditionId`] displays itself.
    identifiers: Vec<String>,
    pages: Option<u32>,
    encrypted: bool,
    problems: Vec<Problem>,
    /// `cover-small.jpg` and `cover-large.jpg` were written.
    cover: bool,
}

const SMALL: &str = "cover-small.jpg";
const LARGE: &str = "cover-large.jpg";

impl WireBook {
    async fn into_book(self, scratch: &Path) -> Result<Book, LibraryError> {
        let mut problems = self.problems;
        problems.truncate(64);
        for p in &mut problems {
            p.code = carrel_core::catalog::clip(&p.code, 64).to_owned();
            p.message = carrel_core::catalog::clip(&p.message, 1000).to_owned();
        }
        let format = carrel_formats::Format::from_extension(&self.format)
            .ok_or_else(|| LibraryError::Internal(format!("unknown format {:?}", self.format)))?;
        let identifiers = self
            .identifiers
            .iter()
            .filter_map(|s| s.split_once(':'))
            .filter_map(|(scheme, value)| EditionId::from_stored(scheme, value).ok())
            .collect();
        let record = EditionRecord {
            source: None,
            kind: self.kind,
            title: self.title,
            subtitle: self.subtitle,
            authors: self.authors.iter().filter_map(author).collect(),
            author_aliases: Vec::new(),
            subjects: self.subjects,
            series: self.series,
            series_index: self.series_index,
            publisher: self.publisher,
            year: self.year,
            language: self.language.as_deref().and_then(|l| Lang::parse(l).ok()),
            description: self.description,
            identifiers,
        }
        .validated()
        .map_err(|e| LibraryError::NotABook(Problem::new("no_title", e.to_string())))?;
        let cover = if self.cover {
            let small = read_capped(&scratch.join(SMALL), MAX_THUMB).await;
            let large = read_capped(&scratch.join(LARGE), MAX_THUMB).await;
            match (small, large) {
                (Some(s), Some(l)) if is_jpeg(&s) && is_jpeg(&l) => Some((s, l)),
                _ => {
                    problems.push(Problem::new(
                        "bad_cover",
                        "the cover thumbnails were not usable",
                    ));
                    None
                }
            }
        } else {
            None
        };
        Ok(Book {
            format: format.extension().to_owned(),
            record,
            pages: self.pages.and_then(|p| i32::try_from(p).ok()),
            encrypted: self.encrypted,
            problems,
            cover,
        })
    }
}

impl Problem {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Problem {
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// An author from the child, bounded: the display name as read (an EPUB's
/// `file-as` reading is only the sort name), the sort name or the name.
fn author(a: &Author) -> Option<Author> {
    let clean = |s: &str| {
        let s: String = s.chars().filter(|c| !c.is_control()).collect();
        carrel_core::catalog::clip(s.trim(), 500).to_owned()
    };
    let name = clean(&a.name);
    if name.is_empty() {
        return None;
    }
    let sort = Some(clean(&a.sort))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| name.clone());
    Some(Author { name, sort })
}

fn is_jpeg(b: &[u8]) -> bool {
    b.starts_with(&[0xFF, 0xD8, 0xFF])
}

async fn read_capped(path: &Path, max: u64) -> Option<Vec<u8>> {
    let f = tokio::fs::File::open(path).await.ok()?;
    let mut out = Vec::new();
    f.take(max + 1).read_to_end(&mut out).await.ok()?;
    (out.len() as u64 <= max).then_some(out)
}

/// Reads the book and writes its covers into `scratch`: the work of the
/// child (or of [`Extractor::InProcess`]).
fn extract_to(path: &Path, scratch: &Path) -> Wire {
    let limits = carrel_formats::Limits::default();
    let x = match carrel_formats::extract(path, &limits) {
        Ok(x) => x,
        Err(e) => return Wire::Error(Problem::new(e.code(), e.to_string())),
    };
    let mut problems: Vec<Problem> = x
        .problems
        .iter()
        .map(|p| Problem::new(p.code, p.message.clone()))
        .collect();
    let mut cover = false;
    if let Some(c) = &x.cover {
        match carrel_formats::thumbnails(&c.bytes, &limits) {
            Ok(t) => {
                cover = std::fs::write(scratch.join(SMALL), &t.small).is_ok()
                    && std::fs::write(scratch.join(LARGE), &t.large).is_ok();
            }
            Err(e) => problems.push(Problem::new("bad_cover", e.to_string())),
        }
    }
    let r = x.record;
    Wire::Book(Box::new(WireBook {
        format: x.format.extension().to_owned(),
        kind: r.kind,
        title: r.title,
        subtitle: r.subtitle,
        authors: r.authors,
        subjects: r.subjects,
        series: r.series,
        series_index: r.series_index,
        publisher: r.publisher,
        year: r.year,
        language: r.language.map(|l| l.as_str().to_owned()),
        description: r.description,
        identifiers: r.identifiers.iter().map(ToString::to_string).collect(),
        pages: x.pages,
        encrypted: x.encrypted,
        problems,
        cover,
    }))
}

/// The child: `carrel extract-book FILE OUT_DIR`. Lowers its limits, reads
/// the file, prints the JSON report. Returns the exit code.
pub fn child_main(path: &Path, scratch: &Path) -> i32 {
    use rustix::process::{Resource, Rlimit, setrlimit};
    let limit = |r, n| {
        setrlimit(
            r,
            Rlimit {
                current: Some(n),
                maximum: Some(n),
            },
        )
    };
    let set = limit(Resource::As, CHILD_ADDRESS_SPACE)
        .and_then(|()| limit(Resource::Cpu, CHILD_CPU_SECONDS))
        .and_then(|()| limit(Resource::Fsize, CHILD_FILE_SIZE))
        .and_then(|()| limit(Resource::Core, 0));
    if let Err(e) = set {
        eprintln!("extract-book: cannot set resource limits: {e}");
        return 2;
    }
    let wire = extract_to(path, scratch);
    match serde_json::to_string(&wire) {
        Ok(s) => {
            println!("{s}");
            0
        }
        Err(e) => {
            eprintln!("extract-book: {e}");
            2
        }
    }
}

async fn run_child(exe: &Path, path: &Path, scratch: &Path) -> Result<Wire, LibraryError> {
    let mut child = tokio::process::Command::new(exe)
        .arg(SUBCOMMAND)
        .arg(path)
        .arg(scratch)
        .env("CARREL_LOG", "error")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| LibraryError::Internal(format!("cannot start {}: {e}", exe.display())))?;
    let mut stdout = child.stdout.take().expect("piped stdout").take(MAX_REPORT);
    let mut stderr = child.stderr.take().expect("piped stderr").take(64 << 10);
    let work = async {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let (r1, r2) = tokio::join!(stdout.read_to_end(&mut out), stderr.read_to_end(&mut err));
        r1.and(r2)?;
        let status = child.wait().await?;
        Ok::<_, std::io::Error>((status, out, err))
    };
    let (status, out, err) = match tokio::time::timeout(CHILD_WALL, work).await {
        Ok(r) => r.map_err(|e| LibraryError::Internal(format!("book reader: {e}")))?,
        Err(_) => {
            // kill_on_drop ends the child with the dropped future.
            return Ok(Wire::Error(Problem::new(
                "deadline",
                format!(
                    "reading the file took longer than {} s and was stopped",
                    CHILD_WALL.as_secs()
                ),
            )));
        }
    };
    if !status.success() {
        use std::os::unix::process::ExitStatusExt;
        let tail = String::from_utf8_lossy(&err);
        let tail = tail.trim();
        let tail = &tail[tail.len().saturating_sub(300)..];
        let why = match status.signal() {
            Some(24) => "it used more than its CPU time".to_owned(),
            Some(9) => "it was killed (out of memory?)".to_owned(),
            Some(6) => format!("it ran out of memory or aborted: {tail}"),
            Some(s) => format!("it stopped on signal {s}"),
            None => format!("it failed: {tail}"),
        };
        return Ok(Wire::Error(Problem::new(
            "reader_failed",
            format!("the book reader could not finish this file: {why}"),
        )));
    }
    serde_json::from_slice(&out).map_err(|e| {
        LibraryError::Internal(format!("the book reader's report is not valid JSON: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_round_trips_and_the_parent_validates() {
        let wire = Wire::Book(Box::new(WireBook {
            format: "epub".into(),
            kind: Kind::Book,
            title: "  A   Title ".into(),
            subtitle: None,
            authors: vec![Author::parse("Austen, Jane").unwrap()],
            subjects: vec![],
            series: None,
            series_index: Some(f64::NAN),
            publisher: None,
            year: Some(99999),
            language: Some("not a tag!".into()),
            description: None,
            identifiers: vec![
                "isbn:9780141439518".into(),
                "isbn:123".into(),
                "junk".into(),
            ],
            pages: Some(u32::MAX),
            encrypted: false,
            problems: vec![Problem::new("x".repeat(500).as_str(), "m")],
            cover: false,
        }));
        let json = serde_json::to_string(&wire).unwrap();
        let Wire::Book(b) = serde_json::from_str(&json).unwrap() else {
            panic!("a book")
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let book = rt.block_on(b.into_book(Path::new("/nonexistent"))).unwrap();
        assert_eq!(book.record.title, "A Title");
        assert_eq!(book.record.year, None);
        assert_eq!(book.record.language, None);
        assert_eq!(book.record.series_index, None);
        assert_eq!(book.record.identifiers.len(), 1);
        assert_eq!(book.pages, None);
        assert_eq!(book.problems[0].code.len(), 64);
        assert_eq!(book.record.authors[0].name, "Jane Austen");
        // A display name is kept as read, even when its sort name is a reading.
        let a = author(&Author {
            name: "夏目 漱石".into(),
            sort: "なつめ そうせき".into(),
        })
        .unwrap();
        assert_eq!(
            (a.name.as_str(), a.sort.as_str()),
            ("夏目 漱石", "なつめ そうせき")
        );
        assert!(
            author(&Author {
                name: " \u{7} ".into(),
                sort: "x".into()
            })
            .is_none()
        );
    }

    #[tokio::test]
    async fn in_process_reads_a_real_epub_and_refuses_a_non_book() {
        let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/epub");
        let Some(epub) = std::fs::read_dir(&corpus).ok().and_then(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|x| x == "epub"))
        }) else {
            eprintln!("SKIPPED: no EPUB in {}", corpus.display());
            return;
        };
        let scratch = tempfile::tempdir().unwrap();
        let book = Extractor::InProcess
            .extract(&epub, scratch.path())
            .await
            .unwrap();
        assert_eq!(book.format, "epub");
        assert!(!book.record.title.is_empty());
        let text = scratch.path().join("not-a-book.txt");
        std::fs::write(&text, "just some text").unwrap();
        let err = Extractor::InProcess
            .extract(&text, scratch.path())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "not_a_book");
    }
}
