//! Bulk import: metadata dumps read as streams of catalog records.
//!
//! Every reader is an iterator of [`Item`]s over a buffered stream, so
//! memory stays constant however large the dump; `.gz` is recognized by its
//! magic bytes and decompressed on the fly. A record that cannot be read is
//! an [`Item::Bad`] with its line (or record) number, and the import goes on.
//!
//! - [`csv`]: CSV with a column mapping, and the presets `gutenberg` (with
//!   the authors' aliases and subjects files beside it) and `goodbooks`.
//! - [`jsonl`]: Crossref and OpenAlex works, one JSON object per line.
//! - [`openlibrary`]: Open Library dumps (`type key revision last_modified json`).
//! - [`oai`]: OAI-PMH `ListRecords` harvests (oai_dc and arXiv's format).

pub mod csv;
pub mod jsonl;
pub mod oai;
pub mod openlibrary;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use carrel_core::catalog::EditionRecord;

use crate::LibraryError;

/// The longest line (or XML text) a reader accepts; longer ones are bad records.
pub const MAX_LINE: usize = 8 << 20;

/// What a dump reader yields.
#[derive(Debug)]
pub enum Item {
    /// A record, with the line (or record number) it started on.
    Record(u64, Box<EditionRecord>, Refs),
    /// A record that other records refer to by key (Open Library authors and works).
    Authority {
        key: String,
        name: String,
        data: String,
    },
    /// A record that could not be read, and why.
    Bad(u64, String),
}

/// Keys a record refers to, resolved by the importer before storing
/// (Open Library editions name their authors and work by key).
#[derive(Debug, Default, Clone)]
pub struct Refs {
    pub authors: Vec<String>,
    pub work: Option<String>,
}

/// The dump formats `carrel import` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Gutenberg,
    Goodbooks,
    Jsonl,
    OpenLibrary,
    Oai,
}

impl Format {
    pub const ALL: [(&'static str, Format); 6] = [
        ("csv", Format::Csv),
        ("gutenberg", Format::Gutenberg),
        ("goodbooks", Format::Goodbooks),
        ("jsonl", Format::Jsonl),
        ("openlibrary", Format::OpenLibrary),
        ("oai", Format::Oai),
    ];

    pub fn parse(s: &str) -> Result<Self, LibraryError> {
        Self::ALL
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, f)| *f)
            .ok_or_else(|| LibraryError::BadImport(format!("unknown format {s:?}; use one of csv, gutenberg, goodbooks, jsonl, openlibrary, oai")))
    }

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }

    /// Guesses the format from the file's name and first line.
    pub fn detect(path: &Path) -> Result<Self, LibraryError> {
        let (mut input, _) = open(path)?;
        let mut first = String::new();
        input
            .by_ref()
            .take(64 * 1024)
            .read_line(&mut first)
            .map_err(|e| LibraryError::io(path, e))?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_lowercase();
        let f = if first.starts_with("gutenberg_id,") || name.starts_with("gutenberg_metadata") {
            Format::Gutenberg
        } else if first.starts_with("book_id,goodreads_book_id") {
            Format::Goodbooks
        } else if first.starts_with('{') {
            Format::Jsonl
        } else if first.starts_with("/type/") {
            Format::OpenLibrary
        } else if first.starts_with("<?xml") || first.starts_with('<') {
            Format::Oai
        } else {
            Format::Csv
        };
        Ok(f)
    }
}

/// Counts the bytes read from the file (before decompression), for progress.
#[derive(Clone, Default)]
pub struct BytesRead(Arc<AtomicU64>);

impl BytesRead {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

struct Counting<R> {
    inner: R,
    count: BytesRead,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.0.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Opens a dump, decompressing gzip (by its magic bytes, any extension).
pub fn open(path: &Path) -> Result<(Box<dyn BufRead + Send>, BytesRead), LibraryError> {
    let file = File::open(path).map_err(|e| LibraryError::io(path, e))?;
    let count = BytesRead::default();
    let mut raw = BufReader::with_capacity(
        256 * 1024,
        Counting {
            inner: file,
            count: count.clone(),
        },
    );
    let gz = raw
        .fill_buf()
        .map_err(|e| LibraryError::io(path, e))?
        .starts_with(&[0x1f, 0x8b]);
    let input: Box<dyn BufRead + Send> = if gz {
        Box::new(BufReader::with_capacity(
            256 * 1024,
            flate2::read::MultiGzDecoder::new(raw),
        ))
    } else {
        Box::new(raw)
    };
    Ok((input, count))
}

/// The non-blank lines of a stream with their numbers; a line too long, or
/// a read error (a truncated `.gz`), is an `Err` with the reason. A read
/// error ends the lines.
pub(crate) fn lines(
    mut input: Box<dyn BufRead + Send>,
) -> impl Iterator<Item = (u64, Result<Vec<u8>, String>)> + Send {
    let mut buf = Vec::new();
    let mut line = 0u64;
    let mut done = false;
    std::iter::from_fn(move || {
        while !done {
            line += 1;
            match read_line(&mut *input, &mut buf) {
                Err(e) => {
                    done = true;
                    return Some((line, Err(format!("read error: {e}"))));
                }
                Ok(None) => done = true,
                Ok(Some(Err(e))) => return Some((line, Err(e))),
                Ok(Some(Ok(()))) if buf.iter().all(u8::is_ascii_whitespace) => {}
                Ok(Some(Ok(()))) => return Some((line, Ok(buf.clone()))),
            }
        }
        None
    })
}

/// Reads one line of at most [`MAX_LINE`] bytes (without its end); `None` at
/// the end. A longer line is consumed and reported as too long.
pub(crate) fn read_line(
    input: &mut dyn BufRead,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<Result<(), String>>> {
    buf.clear();
    let n = input.take(MAX_LINE as u64 + 1).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.len() > MAX_LINE && !buf.ends_with(b"\n") {
        // Skip the rest of the line.
        loop {
            buf.clear();
            let m = input.take(MAX_LINE as u64).read_until(b'\n', buf)?;
            if m == 0 || buf.ends_with(b"\n") {
                break;
            }
        }
        return Ok(Some(Err(format!(
            "line longer than {} MiB",
            MAX_LINE >> 20
        ))));
    }
    while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        buf.pop();
    }
    Ok(Some(Ok(())))
}

/// The first four-digit year in a date written any way ("2005-01-01",
/// "March 1998", "c1923", "[1888?]").
pub(crate) fn year_in(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    (0..b.len().saturating_sub(3)).find_map(|i| {
        let w = &b[i..i + 4];
        let before = i == 0 || !b[i - 1].is_ascii_digit();
        let after = b.get(i + 4).is_none_or(|c| !c.is_ascii_digit());
        (before && after && w.iter().all(u8::is_ascii_digit))
            .then(|| std::str::from_utf8(w).ok()?.parse().ok())
            .flatten()
    })
}

/// Text with its markup removed (abstracts in JATS or HTML), spaces collapsed.
pub(crate) fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn years_and_tags() {
        assert_eq!(year_in("2005-01-01"), Some(2005));
        assert_eq!(year_in("March 1998"), Some(1998));
        assert_eq!(year_in("[c1888?]"), Some(1888));
        assert_eq!(year_in("12345"), None);
        assert_eq!(year_in(""), None);
        assert_eq!(
            strip_tags("<jats:p>An <i>abstract</i>.</jats:p>"),
            "An abstract ."
        );
    }

    #[test]
    fn long_lines_are_bad_not_fatal() {
        let mut data = vec![b'x'; MAX_LINE + 10];
        data.extend_from_slice(b"\nnext\n");
        let mut r: &[u8] = &data;
        let mut buf = Vec::new();
        assert!(matches!(read_line(&mut r, &mut buf).unwrap(), Some(Err(_))));
        assert!(matches!(read_line(&mut r, &mut buf).unwrap(), Some(Ok(()))));
        assert_eq!(buf, b"next");
        assert!(read_line(&mut r, &mut buf).unwrap().is_none());
    }
}
