//! MOBI and AZW3 (KF8): the PalmDB record list, the MOBI header in record 0,
//! its EXTH metadata records, and the cover image record. Only the records
//! needed are read; every offset is checked against the file.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::bounds::Ctx;
use crate::meta::Meta;
use crate::{Format, FormatError, Found, RawCover};

/// Record 0 (PalmDOC header, MOBI header, EXTH) is read up to this size.
const MAX_RECORD0: u64 = 1 << 20;
const MAX_EXTH_RECORDS: usize = 4096;
const NO_INDEX: u32 = 0xffff_ffff;

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn read_at(file: &mut File, offset: u64, len: u64) -> std::io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::with_capacity(len.min(1 << 20) as usize);
    file.take(len).read_to_end(&mut buf)?;
    Ok(buf)
}

struct Records {
    offsets: Vec<u64>,
    file_len: u64,
}

impl Records {
    /// The byte range of record `i`, if it lies within the file.
    fn range(&self, i: usize) -> Option<(u64, u64)> {
        let start = *self.offsets.get(i)?;
        let end = self.offsets.get(i + 1).copied().unwrap_or(self.file_len);
        (start <= end && end <= self.file_len).then_some((start, end))
    }
}

pub(crate) fn extract(path: &Path, ctx: &mut Ctx) -> Result<Found, FormatError> {
    let mut file = File::open(path)?;
    let file_len = file.metadata()?.len();
    let header = read_at(&mut file, 0, 78)?;
    if header.len() < 78 {
        return Err(FormatError::Malformed(
            "the PalmDB header is cut short".into(),
        ));
    }
    if &header[60..68] != b"BOOKMOBI" {
        return Err(FormatError::NotABook("not a Mobipocket book".into()));
    }
    let palm_name = {
        let raw = &header[..32];
        let end = raw.iter().position(|&b| b == 0).unwrap_or(32);
        String::from_utf8_lossy(&raw[..end]).replace('_', " ")
    };
    let declared = be16(&header, 76).unwrap_or(0) as u64;
    let table = read_at(&mut file, 78, declared * 8)?;
    if (table.len() as u64) < declared * 8 {
        ctx.problem("truncated", "the record list is cut short");
    }
    let offsets: Vec<u64> = table
        .chunks_exact(8)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as u64)
        .collect();
    let records = Records { offsets, file_len };
    let r0_start = *records
        .offsets
        .first()
        .filter(|&&o| o < file_len)
        .ok_or_else(|| FormatError::Malformed("record 0 lies outside the file".into()))?;
    let r0_end = match records.range(0) {
        Some((_, end)) => end,
        None => {
            ctx.problem("truncated", "the file ends before its records do");
            file_len
        }
    };
    let rec0 = read_at(
        &mut file,
        r0_start,
        r0_end.saturating_sub(r0_start).min(MAX_RECORD0),
    )?;
    if rec0.get(16..20) != Some(b"MOBI") {
        return Err(FormatError::Malformed("record 0 has no MOBI header".into()));
    }
    let header_len = be32(&rec0, 20).unwrap_or(0) as usize;
    let encoding = be32(&rec0, 28).unwrap_or(65001);
    let version = be32(&rec0, 36).unwrap_or(0);
    let decode = |b: &[u8]| -> String {
        if encoding == 1252 {
            encoding_rs::WINDOWS_1252
                .decode_without_bom_handling(b)
                .0
                .into_owned()
        } else {
            String::from_utf8_lossy(b).into_owned()
        }
    };

    let mut meta = Meta::default();
    let mut cover_offset = None;
    let mut thumb_offset = None;
    let exth_flags = be32(&rec0, 128).unwrap_or(0);
    if exth_flags & 0x40 != 0 {
        let at = 16usize.saturating_add(header_len);
        if rec0.get(at..at + 4) == Some(b"EXTH") {
            let count = be32(&rec0, at + 8).unwrap_or(0) as usize;
            let mut p = at + 12;
            for _ in 0..count.min(MAX_EXTH_RECORDS) {
                let (Some(kind), Some(len)) = (be32(&rec0, p), be32(&rec0, p + 4)) else {
                    ctx.problem("truncated", "the EXTH records are cut short");
                    break;
                };
                let len = len as usize;
                let Some(data) = (len >= 8).then(|| rec0.get(p + 8..p + len)).flatten() else {
                    ctx.problem("truncated", "an EXTH record runs past its header");
                    break;
                };
                match kind {
                    100 => {
                        for a in decode(data).split(';') {
                            meta.add_author(a, None);
                        }
                    }
                    101 => meta.set_publisher(&decode(data)),
                    103 => meta.set_description_html(&decode(data)),
                    104 => meta.add_identifier(&decode(data), Some("isbn"), ctx),
                    105 => {
                        for s in decode(data).split(';') {
                            meta.add_subject(s);
                        }
                    }
                    106 => meta.set_year_from(&decode(data)),
                    503 => meta.set_title(&decode(data)),
                    524 => meta.set_language(&decode(data)),
                    201 => cover_offset = be32(data, 0).filter(|&o| o != NO_INDEX),
                    202 => thumb_offset = be32(data, 0).filter(|&o| o != NO_INDEX),
                    _ => {}
                }
                p += len;
            }
        } else {
            ctx.problem(
                "bad_exth",
                "the header promises EXTH metadata that is not there",
            );
        }
    }
    // The full name in record 0, then the PalmDB name.
    if meta.title.is_none()
        && let (Some(off), Some(len)) = (be32(&rec0, 84), be32(&rec0, 88))
        && let Some(name) = rec0.get(off as usize..(off as usize).saturating_add(len as usize))
    {
        meta.set_title(&decode(name));
    }
    if meta.title.is_none() {
        meta.set_title(&palm_name);
    }
    if meta.language.is_none()
        && let Some(lang) = be32(&rec0, 92).and_then(|l| locale_language(l & 0xff))
    {
        meta.set_language(lang);
    }
    let encrypted = be16(&rec0, 12).unwrap_or(0) != 0;
    if encrypted {
        ctx.problem("encrypted", "the book's text is encrypted (Mobipocket DRM)");
    }

    let mut cover = None;
    let first_image = be32(&rec0, 108).filter(|&i| i != NO_INDEX);
    if !ctx.out_of_time()
        && let Some(first) = first_image
    {
        for offset in [cover_offset, thumb_offset].into_iter().flatten() {
            let index = first as usize + offset as usize;
            match records.range(index) {
                Some((start, end)) if end - start <= ctx.limits.max_entry_bytes => {
                    let bytes = read_at(&mut file, start, end - start)?;
                    match crate::thumb::probe(&bytes, None) {
                        Ok(_) => {
                            cover = Some(RawCover {
                                bytes,
                                declared: None,
                            });
                            break;
                        }
                        Err(e) => ctx.problem("bad_cover", format!("record {index}: {e}")),
                    }
                }
                Some(_) => ctx.problem("bad_cover", format!("record {index} is too large")),
                None => ctx.problem("bad_cover", format!("record {index} lies outside the file")),
            }
        }
    }
    Ok(Found {
        format: if version == 8 {
            Format::Azw3
        } else {
            Format::Mobi
        },
        meta,
        cover,
        pages: None,
        encrypted,
    })
}

/// The language of a Windows LANGID's primary language (the MOBI header's
/// locale), for the common ones.
fn locale_language(primary: u32) -> Option<&'static str> {
    Some(match primary {
        1 => "ar",
        4 => "zh",
        5 => "cs",
        6 => "da",
        7 => "de",
        8 => "el",
        9 => "en",
        10 => "es",
        11 => "fi",
        12 => "fr",
        13 => "he",
        14 => "hu",
        16 => "it",
        17 => "ja",
        18 => "ko",
        19 => "nl",
        20 => "no",
        21 => "pl",
        22 => "pt",
        25 => "ru",
        29 => "sv",
        31 => "tr",
        _ => return None,
    })
}
