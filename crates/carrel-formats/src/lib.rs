//! The library's reader of book files: what a file says about itself.
//!
//! [`extract`] reads one EPUB 2/3, PDF, MOBI/AZW3, FB2 (or `.fb2.zip`) or
//! CBZ file and returns an [`Extracted`]: a catalog record
//! ([`carrel_core::catalog::EditionRecord`], without a source key: the caller
//! names the source), the cover image's bytes, a page count where the format
//! has pages, whether the book is encrypted (DRM), and the [`Problem`]s met on
//! the way. A damaged file gives what could be read plus problems; only a file
//! of which nothing usable could be read is an error ([`FormatError`], with a
//! stable code). [`sniff`] tells the format from the first bytes (content
//! first, the file name only to break ties) and [`thumbnails`] makes the two
//! JPEG sizes of a cover. [`reader`] opens an EPUB for the web reader: spine,
//! table of contents, sanitized chapters and the book's images and styles.
//!
//! This crate only reads the one file it is given: it does no network IO,
//! writes nothing, and spawns no processes (PDF parsing runs on one helper
//! thread, see below). Its inputs are untrusted, so every read is bounded by
//! [`Limits`]:
//!
//! - the file's size is checked first; archives (EPUB, CBZ) are refused when
//!   their directory declares too many entries or more uncompressed bytes than
//!   allowed, or an entry inflates more than `max_ratio` times (zip bombs);
//!   every entry is read through a reader that stops at its declared size and
//!   at `max_entry_bytes`, so a lying header cannot exhaust memory, and all
//!   reads of one file share a `max_total_bytes` budget;
//! - XML documents are read up to `max_xml_bytes`, parsed as a stream of
//!   events into a bounded tree (depth and node count capped; no external or
//!   custom entities are expanded);
//! - images are measured from their headers and decoded under
//!   [`image::Limits`] with a pixel cap;
//! - the deadline is checked between steps; PDF parsing (lopdf, which loads
//!   the whole document) runs on one helper thread with a large stack, so a
//!   slow parse is abandoned at the deadline (the thread is left to finish on
//!   its own) and a parser panic becomes a problem; PDFs nested too deeply
//!   for a recursive parser are not given to it, and a damaged
//!   cross-reference table is rebuilt by scanning for objects. Format code
//!   never panics on purpose, and `extract` turns any panic that escapes a
//!   dependency into an error.
//!
//! The caller is expected to run `extract` in a subprocess under CPU and
//! memory rlimits as well: these bounds keep ordinary hostile files cheap, the
//! sandbox contains the rest.

mod bounds;
mod cbz;
mod epub;
mod error;
mod fb2;
mod meta;
mod mobi;
mod pdf;
pub mod reader;
mod sniff;
mod text;
mod thumb;
mod xml;
mod zipsafe;

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use carrel_core::catalog::{EditionRecord, Kind};
use serde::Serialize;

pub use error::FormatError;
pub use reader::sanitize_css;
pub use sniff::sniff;
pub use thumb::{Thumbnails, thumbnails};

use bounds::Ctx;

/// Bounds on the work and memory spent on one file.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest file read at all.
    pub max_file_bytes: u64,
    /// Largest archive entry read (uncompressed).
    pub max_entry_bytes: u64,
    /// Largest sum of declared uncompressed sizes in an archive, and of the
    /// bytes actually inflated while reading one file.
    pub max_total_bytes: u64,
    /// Largest uncompressed/compressed ratio of an archive entry (entries
    /// over 1 MiB): above it the archive is a zip bomb.
    pub max_ratio: u64,
    /// Most entries an archive may declare.
    pub max_entries: usize,
    /// Largest XML document parsed (FB2 files, which carry their images,
    /// may be up to `max_entry_bytes`).
    pub max_xml_bytes: usize,
    /// Largest image decoded (width × height).
    pub max_image_pixels: u64,
    /// Time allowed for one file.
    pub deadline: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 2 << 30,
            max_entry_bytes: 64 << 20,
            max_total_bytes: 1 << 30,
            max_ratio: 100,
            max_entries: 20_000,
            max_xml_bytes: 16 << 20,
            max_image_pixels: 100_000_000,
            deadline: Duration::from_secs(20),
        }
    }
}

/// The book formats read here.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Epub,
    Pdf,
    Mobi,
    Azw3,
    Fb2,
    Cbz,
}

impl Format {
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Epub => "application/epub+zip",
            Format::Pdf => "application/pdf",
            Format::Mobi => "application/x-mobipocket-ebook",
            Format::Azw3 => "application/vnd.amazon.ebook",
            Format::Fb2 => "application/x-fictionbook+xml",
            Format::Cbz => "application/vnd.comicbook+zip",
        }
    }

    /// The format named by its usual extension (`epub`, `pdf`, …), in any case.
    pub fn from_extension(ext: &str) -> Option<Format> {
        [
            Format::Epub,
            Format::Pdf,
            Format::Mobi,
            Format::Azw3,
            Format::Fb2,
            Format::Cbz,
        ]
        .into_iter()
        .find(|f| f.extension().eq_ignore_ascii_case(ext))
    }

    /// The usual file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Epub => "epub",
            Format::Pdf => "pdf",
            Format::Mobi => "mobi",
            Format::Azw3 => "azw3",
            Format::Fb2 => "fb2",
            Format::Cbz => "cbz",
        }
    }

    /// The catalog kind of a book in this format.
    pub fn kind(self) -> Kind {
        match self {
            Format::Cbz => Kind::Comic,
            _ => Kind::Book,
        }
    }
}

/// What was read from one file.
#[derive(Serialize, Debug)]
pub struct Extracted {
    pub format: Format,
    pub record: EditionRecord,
    pub cover: Option<Cover>,
    pub pages: Option<u32>,
    pub encrypted: bool,
    pub problems: Vec<Problem>,
}

/// A cover image as found in the file. SVG covers keep their bytes but have
/// no size (0 × 0).
#[derive(Serialize, Clone)]
pub struct Cover {
    #[serde(skip)]
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub width: u32,
    pub height: u32,
}

impl std::fmt::Debug for Cover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cover")
            .field("bytes", &self.bytes.len())
            .field("media_type", &self.media_type)
            .field("width", &self.width)
            .field("height", &self.height)
            .finish()
    }
}

/// Something wrong with a file that did not stop it being read: a stable
/// code (`truncated`, `bad_xml`, `encrypted`, `no_cover`, `no_title`,
/// `zip_bomb`, `deadline`, `bad_cover`, …) and a message for people.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub code: &'static str,
    pub message: String,
}

/// How much of a file is read to tell its format.
const HEAD_BYTES: usize = 64 * 1024;

/// Reads the book at `path` (see the crate documentation).
pub fn extract(path: &Path, limits: &Limits) -> Result<Extracted, FormatError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| extract_inner(path, limits))) {
        Ok(r) => r,
        Err(panic) => Err(FormatError::Internal(panic_message(&panic))),
    }
}

fn extract_inner(path: &Path, limits: &Limits) -> Result<Extracted, FormatError> {
    let mut ctx = Ctx::new(limits);
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(FormatError::NotAFile);
    }
    if meta.len() == 0 {
        return Err(FormatError::Empty);
    }
    if meta.len() > limits.max_file_bytes {
        return Err(FormatError::TooLarge {
            size: meta.len(),
            max: limits.max_file_bytes,
        });
    }
    let mut head = Vec::with_capacity(HEAD_BYTES.min(meta.len() as usize));
    std::fs::File::open(path)?
        .take(HEAD_BYTES as u64)
        .read_to_end(&mut head)?;
    let file_name = path.file_name().and_then(|n| n.to_str());
    let hint = sniff(&head, file_name);

    let found = if sniff::is_zip(&head) {
        let mut zip = zipsafe::SafeZip::open(path, &mut ctx)?;
        match zipsafe::classify(&mut zip, hint) {
            Some(Format::Epub) => epub::extract(&mut zip, &mut ctx)?,
            Some(Format::Cbz) => cbz::extract(&mut zip, &mut ctx)?,
            Some(Format::Fb2) => fb2::extract_zipped(&mut zip, &mut ctx)?,
            _ => return Err(FormatError::UnknownFormat),
        }
    } else {
        match hint {
            Some(Format::Pdf) => pdf::extract(path, &mut ctx)?,
            Some(Format::Mobi | Format::Azw3) => mobi::extract(path, &mut ctx)?,
            Some(Format::Fb2) => fb2::extract(path, &mut ctx)?,
            Some(Format::Epub | Format::Cbz) => return Err(FormatError::UnknownFormat),
            None => return Err(sniff::unsupported(&head).unwrap_or(FormatError::UnknownFormat)),
        }
    };
    finish(found, path, ctx)
}

/// What a format's reader found, before the record is built.
pub(crate) struct Found {
    pub format: Format,
    pub meta: meta::Meta,
    pub cover: Option<RawCover>,
    pub pages: Option<u32>,
    pub encrypted: bool,
}

/// Cover bytes with the media type the file declared for them, if any.
pub(crate) struct RawCover {
    pub bytes: Vec<u8>,
    pub declared: Option<String>,
}

fn finish(found: Found, path: &Path, mut ctx: Ctx) -> Result<Extracted, FormatError> {
    let cover = match found.cover {
        Some(raw) => thumb::measure(raw, &mut ctx),
        None => None,
    };
    if cover.is_none() && !ctx.has_problem("bad_cover") && !ctx.has_problem("cover_not_raster") {
        ctx.problem("no_cover", "no cover image found");
    }
    let record = found
        .meta
        .into_record(found.format.kind(), path, &mut ctx)?;
    Ok(Extracted {
        format: found.format,
        record,
        cover,
        pages: found.pages,
        encrypted: found.encrypted,
        problems: ctx.into_problems(),
    })
}

pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    format!(
        "parser panicked: {}",
        carrel_core::catalog::clip(&what, 200)
    )
}
