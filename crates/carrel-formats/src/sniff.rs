//! Telling a book's format from its first bytes.

use crate::{Format, FormatError};

/// The format of a file from its first bytes (64 KiB is plenty; less works
/// for everything but telling AZW3 from MOBI and some zips): by content
/// first, and by `file_name` only when the content leaves a zip undecided.
///
/// - a zip whose first entry is `mimetype` = `application/epub+zip`, or
///   that names `META-INF/container.xml` or an `.opf` → EPUB; one that names
///   `ComicInfo.xml` → CBZ; otherwise the name (`.epub`, `.cbz`, `.fb2.zip`),
///   then its entries (images → CBZ, an `.fb2` → FB2);
/// - `%PDF-` within the first 1024 bytes → PDF;
/// - `BOOKMOBI` at offset 60 → MOBI, or AZW3 when the MOBI header's version
///   is 8 (KF8);
/// - a first element `<FictionBook>` after an optional BOM, XML declaration
///   and comments → FB2.
pub fn sniff(head: &[u8], file_name: Option<&str>) -> Option<Format> {
    if is_zip(head) {
        return zip_hint(head, file_name);
    }
    if head.len() >= 68 && &head[60..68] == b"BOOKMOBI" {
        return Some(match mobi_version(head) {
            Some(8) => Format::Azw3,
            _ => Format::Mobi,
        });
    }
    let first_k = &head[..head.len().min(1024)];
    if first_k.windows(5).any(|w| w == b"%PDF-") {
        return Some(Format::Pdf);
    }
    if is_fb2(head) {
        return Some(Format::Fb2);
    }
    None
}

pub(crate) fn is_zip(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06")
}

/// A clear error for archive and book formats that are recognised but not read.
pub(crate) fn unsupported(head: &[u8]) -> Option<FormatError> {
    let what = if head.starts_with(b"Rar!\x1a\x07") {
        "RAR (CBR)"
    } else if head.starts_with(b"7z\xbc\xaf\x27\x1c") {
        "7-Zip (CB7)"
    } else if head.starts_with(b"\x1f\x8b") {
        "gzip"
    } else if head.starts_with(b"AT&TFORM") {
        "DjVu"
    } else if head.starts_with(b"ITOLITLS") {
        "Microsoft Reader (LIT)"
    } else if head.len() >= 68 && &head[60..68] == b"TEXtREAd" {
        "PalmDoc"
    } else if head.starts_with(b"TPZ") {
        "Topaz"
    } else {
        return None;
    };
    Some(FormatError::Unsupported(what))
}

fn be_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn le_u16(b: &[u8], at: usize) -> Option<usize> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?) as usize)
}

fn le_u32(b: &[u8], at: usize) -> Option<usize> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?) as usize)
}

/// The MOBI header's file version, when record 0 is within `head`.
fn mobi_version(head: &[u8]) -> Option<u32> {
    let _records = be_u16(head, 76)?;
    let rec0 = be_u32(head, 78)? as usize;
    let mobi = rec0.checked_add(16)?;
    if head.get(mobi..mobi + 4)? != b"MOBI" {
        return None;
    }
    be_u32(head, mobi + 20)
}

pub(crate) const IMAGE_EXTENSIONS: [&str; 10] = [
    "jpg", "jpeg", "png", "gif", "webp", "bmp", "avif", "jxl", "tif", "tiff",
];

pub(crate) fn has_image_extension(name: &str) -> bool {
    name.rsplit_once('.')
        .is_some_and(|(_, ext)| IMAGE_EXTENSIONS.iter().any(|e| e.eq_ignore_ascii_case(ext)))
}

fn ends_with_ci(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len()
        && s.is_char_boundary(s.len() - suffix.len())
        && s[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

/// The format a file name suggests for a zip.
pub(crate) fn zip_name_hint(file_name: Option<&str>) -> Option<Format> {
    let name = file_name?;
    if ends_with_ci(name, ".epub") || ends_with_ci(name, ".kepub") || ends_with_ci(name, ".epub3") {
        Some(Format::Epub)
    } else if ends_with_ci(name, ".cbz") {
        Some(Format::Cbz)
    } else if ends_with_ci(name, ".fb2.zip") || ends_with_ci(name, ".fbz") {
        Some(Format::Fb2)
    } else {
        None
    }
}

/// Walks the local headers of a zip within `head`.
fn zip_hint(head: &[u8], file_name: Option<&str>) -> Option<Format> {
    let mut at = 0usize;
    let mut images = 0;
    let mut fb2 = false;
    let mut first = true;
    while head.get(at..at + 4) == Some(b"PK\x03\x04") {
        let (Some(flags), Some(method), Some(csize), Some(nlen), Some(xlen)) = (
            le_u16(head, at + 6),
            le_u16(head, at + 8),
            le_u32(head, at + 18),
            le_u16(head, at + 26),
            le_u16(head, at + 28),
        ) else {
            break;
        };
        let Some(name) = head.get(at + 30..at + 30 + nlen) else {
            break;
        };
        let name = String::from_utf8_lossy(name);
        let data = at + 30 + nlen + xlen;
        if first && name == "mimetype" && method == 0 {
            let content = head
                .get(data..(data + csize).min(head.len()))
                .unwrap_or(&[]);
            if content.starts_with(b"application/epub+zip") {
                return Some(Format::Epub);
            }
        }
        first = false;
        if name.eq_ignore_ascii_case("META-INF/container.xml") || ends_with_ci(&name, ".opf") {
            return Some(Format::Epub);
        }
        if ends_with_ci(&name, "ComicInfo.xml") && !name.starts_with("__MACOSX") {
            return Some(Format::Cbz);
        }
        if has_image_extension(&name) && !crate::zipsafe::is_junk(&name) {
            images += 1;
        }
        fb2 |= ends_with_ci(&name, ".fb2");
        if flags & 8 != 0 {
            break; // sizes follow the data: the next header cannot be found from here
        }
        at = data.saturating_add(csize);
    }
    if let Some(hint) = zip_name_hint(file_name) {
        return Some(hint);
    }
    if fb2 {
        Some(Format::Fb2)
    } else if images > 0 {
        Some(Format::Cbz)
    } else {
        None
    }
}

/// Whether the first element of the document is `FictionBook`.
fn is_fb2(head: &[u8]) -> bool {
    let text: String = if head.starts_with(b"\xff\xfe") || head.starts_with(b"\xfe\xff") {
        let le = head[0] == 0xff;
        let units: Vec<u16> = head[2..head.len().min(8192)]
            .chunks_exact(2)
            .map(|c| {
                if le {
                    u16::from_le_bytes([c[0], c[1]])
                } else {
                    u16::from_be_bytes([c[0], c[1]])
                }
            })
            .collect();
        char::decode_utf16(units)
            .map(|c| c.unwrap_or('\u{fffd}'))
            .collect()
    } else {
        let b = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
        String::from_utf8_lossy(&b[..b.len().min(4096)]).into_owned()
    };
    let mut rest = text.as_str();
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix("<?") {
            let Some(end) = r.find("?>") else {
                return false;
            };
            rest = &r[end + 2..];
        } else if let Some(r) = rest.strip_prefix("<!--") {
            let Some(end) = r.find("-->") else {
                return false;
            };
            rest = &r[end + 3..];
        } else if let Some(r) = rest.strip_prefix("<!") {
            let Some(end) = r.find('>') else {
                return false;
            };
            rest = &r[end + 1..];
        } else if let Some(r) = rest.strip_prefix('<') {
            let name: String = r
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/')
                .collect();
            let local = name.rsplit(':').next().unwrap_or("");
            return local == "FictionBook";
        } else {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fb2_heads() {
        assert!(is_fb2(
            b"<?xml version=\"1.0\"?>\n<FictionBook xmlns=\"x\">"
        ));
        assert!(is_fb2(b"\xef\xbb\xbf<!-- c --><fb:FictionBook>"));
        assert!(!is_fb2(b"This not fb2 file for tests\r\n"));
        assert!(!is_fb2(b"<html><FictionBook>"));
        assert!(!is_fb2(b""));
    }

    #[test]
    fn by_content_then_name() {
        assert_eq!(sniff(b"%PDF-1.7\n", None), Some(Format::Pdf));
        assert_eq!(
            sniff(b"junk junk\n%PDF-1.4", Some("x.epub")),
            Some(Format::Pdf)
        );
        assert_eq!(sniff(b"PK\x03\x04", Some("a.cbz")), Some(Format::Cbz));
        assert_eq!(sniff(b"PK\x03\x04", Some("a.fb2.zip")), Some(Format::Fb2));
        assert_eq!(sniff(b"PK\x03\x04", None), None);
        assert_eq!(sniff(b"hello", Some("a.pdf")), None);
        let mut mobi = vec![0u8; 200];
        mobi[60..68].copy_from_slice(b"BOOKMOBI");
        assert_eq!(sniff(&mobi, None), Some(Format::Mobi));
        mobi[78..82].copy_from_slice(&90u32.to_be_bytes());
        mobi[106..110].copy_from_slice(b"MOBI");
        mobi[126..130].copy_from_slice(&8u32.to_be_bytes());
        assert_eq!(sniff(&mobi, None), Some(Format::Azw3));
    }
}
