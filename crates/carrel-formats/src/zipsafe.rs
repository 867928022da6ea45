//! Reading zip archives (EPUB, CBZ, FB2 in a zip) without trusting them.
//!
//! - The end-of-central-directory record is read first: an archive that
//!   declares more than `max_entries` entries is refused before the zip crate
//!   reads its directory.
//! - The declared uncompressed sizes must add up to at most
//!   `max_total_bytes`, and no entry over 1 MiB may inflate more than
//!   `max_ratio` times: otherwise the archive is a zip bomb.
//! - Entries are read through a reader that stops one byte past the declared
//!   size (so an entry that holds more than it declares is caught, not
//!   believed) and never past `max_entry_bytes`; all reads of one archive
//!   share a `max_total_bytes` budget.
//! - A zip whose central directory is missing (cut short) is read entry by
//!   entry from its local headers, as far as they go.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use zip::ZipArchive;

use crate::bounds::Ctx;
use crate::sniff::has_image_extension;
use crate::{Format, FormatError};

/// Entries at most this large are never counted as zip bombs by ratio.
const RATIO_FLOOR: u64 = 1 << 20;

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub name: String,
    pub size: u64,
    pub compressed: u64,
    pub is_dir: bool,
    pub encrypted: bool,
    /// The entry's header could not be read.
    pub broken: bool,
}

enum Backend {
    Archive(Box<ZipArchive<BufReader<File>>>),
    /// Entries recovered from the local headers of a cut-short zip.
    Recovered(Vec<Vec<u8>>),
}

pub(crate) struct SafeZip {
    backend: Backend,
    pub entries: Vec<Entry>,
    exact: HashMap<String, usize>,
    folded: HashMap<String, usize>,
    read_total: u64,
    max_entry: u64,
    max_total: u64,
}

/// Entries that are not content: macOS resource forks, dot files, Windows
/// thumbnails.
pub(crate) fn is_junk(name: &str) -> bool {
    name.split('/')
        .any(|c| c.starts_with("__MACOSX") || c.starts_with('.'))
        || name
            .rsplit('/')
            .next()
            .is_some_and(|f| f.eq_ignore_ascii_case("Thumbs.db"))
}

impl SafeZip {
    pub fn open(path: &Path, ctx: &mut Ctx) -> Result<Self, FormatError> {
        let limits = ctx.limits;
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        if let Some(count) = declared_entries(&mut file, len)?
            && count > limits.max_entries as u64
        {
            return Err(FormatError::TooManyEntries {
                count,
                max: limits.max_entries,
            });
        }
        file.seek(SeekFrom::Start(0))?;
        let (backend, entries) = match ZipArchive::new(BufReader::new(file)) {
            Ok(archive) => {
                let (archive, entries) = list(archive, ctx)?;
                (Backend::Archive(Box::new(archive)), entries)
            }
            Err(e) => {
                let (entries, data) = recover(path, ctx)?;
                if entries.iter().all(|e| e.is_dir) {
                    return Err(FormatError::Malformed(format!("not a readable zip: {e}")));
                }
                ctx.problem(
                    "truncated",
                    format!(
                        "the zip's directory is missing ({e}); {} entries were recovered",
                        entries.len()
                    ),
                );
                (Backend::Recovered(data), entries)
            }
        };
        let total: u64 = entries.iter().fold(0u64, |a, e| a.saturating_add(e.size));
        if total > limits.max_total_bytes {
            return Err(FormatError::ZipBomb(format!(
                "the archive declares {total} uncompressed bytes (at most {})",
                limits.max_total_bytes
            )));
        }
        for e in &entries {
            if e.size > RATIO_FLOOR && e.size / e.compressed.max(1) > limits.max_ratio {
                return Err(FormatError::ZipBomb(format!(
                    "{:?} inflates {} times (at most {})",
                    e.name,
                    e.size / e.compressed.max(1),
                    limits.max_ratio
                )));
            }
        }
        let mut exact = HashMap::new();
        let mut folded = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            exact.entry(e.name.clone()).or_insert(i);
            folded.entry(e.name.to_lowercase()).or_insert(i);
        }
        Ok(SafeZip {
            backend,
            entries,
            exact,
            folded,
            read_total: 0,
            max_entry: limits.max_entry_bytes,
            max_total: limits.max_total_bytes,
        })
    }

    /// Starts a new read budget: `max_total_bytes` again for the reads that
    /// follow (a book kept open by the reader serves many requests, each
    /// with its own budget).
    pub fn reset_budget(&mut self) {
        self.read_total = 0;
    }

    /// Bytes this archive holds in memory (entries recovered from a zip
    /// whose directory is missing); 0 for an archive read from its file.
    pub fn resident_bytes(&self) -> u64 {
        match &self.backend {
            Backend::Recovered(data) => data.iter().map(|d| d.len() as u64).sum(),
            Backend::Archive(_) => 0,
        }
    }

    /// The index of an entry: by exact name, else ignoring case.
    pub fn find(&self, name: &str) -> Option<usize> {
        let name = name.trim_start_matches('/');
        self.exact
            .get(name)
            .or_else(|| self.folded.get(&name.to_lowercase()))
            .copied()
    }

    /// An entry's bytes, at most `limit` (and `max_entry_bytes`).
    pub fn read(&mut self, idx: usize, limit: u64) -> Result<Vec<u8>, FormatError> {
        let e = self
            .entries
            .get(idx)
            .ok_or_else(|| FormatError::NotFound(format!("entry {idx}")))?
            .clone();
        if e.broken || e.is_dir {
            return Err(FormatError::Malformed(format!(
                "entry {:?} is damaged",
                e.name
            )));
        }
        if e.encrypted {
            return Err(FormatError::Encrypted(format!(
                "entry {:?} is encrypted",
                e.name
            )));
        }
        let cap = limit.min(self.max_entry);
        if e.size > cap {
            return Err(FormatError::EntryTooLarge {
                name: e.name,
                size: e.size,
                max: cap,
            });
        }
        if e.size > self.max_total - self.read_total {
            return Err(FormatError::ZipBomb(format!(
                "reading {:?} would inflate the archive past {} bytes",
                e.name, self.max_total
            )));
        }
        let buf = match &mut self.backend {
            Backend::Recovered(data) => data[idx].clone(),
            Backend::Archive(archive) => {
                let file = archive
                    .by_index(idx)
                    .map_err(|err| FormatError::Malformed(format!("entry {:?}: {err}", e.name)))?;
                let mut buf = Vec::with_capacity(e.size as usize);
                file.take(e.size + 1)
                    .read_to_end(&mut buf)
                    .map_err(|err| FormatError::Malformed(format!("entry {:?}: {err}", e.name)))?;
                if buf.len() as u64 > e.size {
                    return Err(FormatError::ZipBomb(format!(
                        "entry {:?} holds more than the {} bytes it declares",
                        e.name, e.size
                    )));
                }
                buf
            }
        };
        self.read_total += buf.len() as u64;
        Ok(buf)
    }

    /// An entry's bytes by name, or `None` when there is no such entry.
    pub fn read_name(&mut self, name: &str, limit: u64) -> Result<Option<Vec<u8>>, FormatError> {
        match self.find(name) {
            Some(i) => self.read(i, limit).map(Some),
            None => Ok(None),
        }
    }

    /// Entries that are files with content (not folders, not junk).
    pub fn content_entries(&self) -> impl Iterator<Item = (usize, &Entry)> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| !e.is_dir && !is_junk(&e.name))
    }
}

fn list(
    mut archive: ZipArchive<BufReader<File>>,
    ctx: &Ctx,
) -> Result<(ZipArchive<BufReader<File>>, Vec<Entry>), FormatError> {
    let n = archive.len();
    if n > ctx.limits.max_entries {
        return Err(FormatError::TooManyEntries {
            count: n as u64,
            max: ctx.limits.max_entries,
        });
    }
    let mut entries = Vec::with_capacity(n);
    for i in 0..n {
        if i.is_multiple_of(1024) {
            ctx.check()?;
        }
        let read = archive.by_index_raw(i).map(|f| Entry {
            name: f.name().to_owned(),
            size: f.size(),
            compressed: f.compressed_size(),
            is_dir: f.is_dir(),
            encrypted: f.encrypted(),
            broken: false,
        });
        let entry = match read {
            Ok(entry) => entry,
            Err(_) => Entry {
                name: archive.name_for_index(i).unwrap_or_default().to_owned(),
                size: 0,
                compressed: 0,
                is_dir: false,
                encrypted: false,
                broken: true,
            },
        };
        entries.push(entry);
    }
    Ok((archive, entries))
}

/// Reads entries from the local headers, for a zip without a readable
/// central directory. Stops at the first entry that cannot be read.
fn recover(path: &Path, ctx: &Ctx) -> Result<(Vec<Entry>, Vec<Vec<u8>>), FormatError> {
    let limits = ctx.limits;
    let mut reader = BufReader::new(File::open(path)?);
    let mut entries = Vec::new();
    let mut data = Vec::new();
    let mut total = 0u64;
    while entries.len() < limits.max_entries {
        ctx.check()?;
        let Ok(Some(file)) = zip::read::read_zipfile_from_stream(&mut reader) else {
            break;
        };
        let name = file.name().to_owned();
        let size = file.size();
        let compressed = file.compressed_size();
        let is_dir = file.is_dir();
        if file.encrypted() {
            break;
        }
        let cap = size
            .min(limits.max_entry_bytes)
            .min(limits.max_total_bytes.saturating_sub(total));
        let mut buf = Vec::with_capacity(cap as usize);
        if file.take(cap + 1).read_to_end(&mut buf).is_err() {
            break;
        }
        let got = buf.len() as u64;
        // An entry over the caps is listed but not kept; one whose data
        // differs from its header (cut short, or lying) ends the recovery.
        let broken = size > cap && got > cap;
        if !broken && got != size {
            break;
        }
        if broken {
            buf = Vec::new();
        }
        total += buf.len() as u64;
        entries.push(Entry {
            name,
            size,
            compressed,
            is_dir,
            encrypted: false,
            broken,
        });
        data.push(buf);
    }
    Ok((entries, data))
}

/// The entry count the end-of-central-directory record declares, if it can
/// be found (ZIP64 included).
fn declared_entries(file: &mut File, len: u64) -> std::io::Result<Option<u64>> {
    const EOCD: &[u8] = b"PK\x05\x06";
    let tail_len = len.min(65_557);
    file.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = vec![0u8; tail_len as usize];
    file.read_exact(&mut tail)?;
    let Some(p) = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&p| &tail[p..p + 4] == EOCD)
    else {
        return Ok(None);
    };
    let total = u16::from_le_bytes([tail[p + 10], tail[p + 11]]) as u64;
    if total != 0xffff {
        return Ok(Some(total));
    }
    // ZIP64: the locator sits just before the EOCD record.
    if p < 20 || &tail[p - 20..p - 16] != b"PK\x06\x07" {
        return Ok(Some(total));
    }
    let offset = u64::from_le_bytes(tail[p - 12..p - 4].try_into().expect("8 bytes"));
    if offset.saturating_add(56) > len {
        return Ok(Some(total));
    }
    let mut rec = [0u8; 56];
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(&mut rec)?;
    if &rec[..4] != b"PK\x06\x06" {
        return Ok(Some(total));
    }
    Ok(Some(u64::from_le_bytes(
        rec[32..40].try_into().expect("8 bytes"),
    )))
}

fn ends_with_ci(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len()
        && s.is_char_boundary(s.len() - suffix.len())
        && s[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

/// What a zip holds, from its full list of entries; `hint` (from the first
/// bytes and the file name) breaks ties.
pub(crate) fn classify(zip: &mut SafeZip, hint: Option<Format>) -> Option<Format> {
    if zip.find("META-INF/container.xml").is_some() {
        return Some(Format::Epub);
    }
    if let Some(i) = zip.find("mimetype")
        && let Ok(m) = zip.read(i, 256)
    {
        // Other zip formats name themselves here too (OpenDocument).
        return m
            .trim_ascii()
            .starts_with(b"application/epub+zip")
            .then_some(Format::Epub);
    }
    let mut files = 0;
    let mut images = 0;
    let mut fb2 = 0;
    let mut comic_info = false;
    let mut opf = false;
    for (_, e) in zip.content_entries() {
        let file = e.name.rsplit('/').next().unwrap_or(&e.name);
        files += 1;
        comic_info |= file.eq_ignore_ascii_case("ComicInfo.xml");
        opf |= ends_with_ci(file, ".opf");
        fb2 += ends_with_ci(file, ".fb2") as usize;
        images += has_image_extension(file) as usize;
    }
    if opf {
        return Some(Format::Epub);
    }
    if comic_info {
        return Some(Format::Cbz);
    }
    if let Some(h @ (Format::Epub | Format::Cbz)) = hint {
        return Some(h);
    }
    if fb2 > 0 {
        Some(Format::Fb2)
    } else if images > 0 && images * 2 >= files {
        Some(Format::Cbz)
    } else {
        None
    }
}
