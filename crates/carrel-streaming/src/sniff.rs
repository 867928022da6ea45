//! What a file's first bytes say it is, as far as audio and video go. Cheap
//! and pure: it decides whether a file is worth a probe (never the file's
//! name or declared type) and tells WebM from Matroska, which ffprobe
//! reports as one format.

/// A container recognised by its magic bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sniffed {
    /// EBML (Matroska or WebM), with the header's DocType when found.
    Ebml {
        doctype: Option<String>,
    },
    /// ISO base media (MP4, MOV, M4A, 3GP), with its major brand.
    IsoBmff {
        brand: String,
    },
    Ogg,
    /// MP3 (an ID3v2 tag or an MPEG audio frame header).
    Mp3,
    /// AAC in ADTS frames.
    Adts,
    Flac,
    Wav,
    Avi,
    Aiff,
    MpegTs,
    MpegPs,
    Asf,
    Flv,
}

/// Brands of ISO-BMFF files that are still images, not media.
const IMAGE_BRANDS: &[&str] = &[
    "avif", "avis", "heic", "heix", "mif1", "msf1", "heim", "heis",
];

/// The container the bytes start with, if it is one audio or video comes in.
pub fn sniff(head: &[u8]) -> Option<Sniffed> {
    let at = |i: usize, m: &[u8]| head.len() >= i + m.len() && &head[i..i + m.len()] == m;
    if at(0, &[0x1A, 0x45, 0xDF, 0xA3]) {
        return Some(Sniffed::Ebml {
            doctype: ebml_doctype(head),
        });
    }
    if at(4, b"ftyp") && head.len() >= 12 {
        let brand = String::from_utf8_lossy(&head[8..12]).into_owned();
        if IMAGE_BRANDS.contains(&brand.as_str()) {
            return None;
        }
        return Some(Sniffed::IsoBmff { brand });
    }
    if at(4, b"moov") || at(4, b"mdat") || at(4, b"wide") || at(4, b"free") {
        return Some(Sniffed::IsoBmff {
            brand: String::new(),
        });
    }
    if at(0, b"OggS") {
        return Some(Sniffed::Ogg);
    }
    if at(0, b"fLaC") {
        return Some(Sniffed::Flac);
    }
    if at(0, b"RIFF") && at(8, b"WAVE") {
        return Some(Sniffed::Wav);
    }
    if at(0, b"RIFF") && at(8, b"AVI ") {
        return Some(Sniffed::Avi);
    }
    if at(0, b"FORM") && (at(8, b"AIFF") || at(8, b"AIFC")) {
        return Some(Sniffed::Aiff);
    }
    if at(0, &[0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11]) {
        return Some(Sniffed::Asf);
    }
    if at(0, b"FLV\x01") {
        return Some(Sniffed::Flv);
    }
    if at(0, &[0x00, 0x00, 0x01, 0xBA]) {
        return Some(Sniffed::MpegPs);
    }
    if head.len() > 376 && head[0] == 0x47 && head[188] == 0x47 && head[376] == 0x47 {
        return Some(Sniffed::MpegTs);
    }
    if at(0, b"ID3") {
        return Some(Sniffed::Mp3);
    }
    if head.len() >= 4 && head[0] == 0xFF {
        // ADTS: sync 0xFFF, layer 00. MPEG audio: sync 0xFFE, a layer, a valid bitrate and rate.
        if head[1] & 0xF6 == 0xF0 {
            return Some(Sniffed::Adts);
        }
        let layer = (head[1] >> 1) & 3;
        let bitrate = head[2] >> 4;
        let rate = (head[2] >> 2) & 3;
        if head[1] & 0xE0 == 0xE0 && layer != 0 && bitrate != 0 && bitrate != 15 && rate != 3 {
            return Some(Sniffed::Mp3);
        }
    }
    None
}

/// The DocType ("webm", "matroska") of an EBML header within `head`.
fn ebml_doctype(head: &[u8]) -> Option<String> {
    // The header is short: look for the DocType element (0x4282) in its first 64 bytes.
    let end = head.len().min(64);
    let i = head[..end].windows(2).position(|w| w == [0x42, 0x82])?;
    let size_byte = *head.get(i + 2)?;
    // A one-byte EBML length (0x80 | n), which every muxer uses for the DocType.
    if size_byte & 0x80 == 0 {
        return None;
    }
    let n = (size_byte & 0x7F) as usize;
    let s = head.get(i + 3..i + 3 + n)?;
    let s = std::str::from_utf8(s).ok()?.trim_end_matches('\0');
    (!s.is_empty() && s.len() <= 16).then(|| s.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_by_magic() {
        let mut webm = vec![0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81, 0x01];
        webm.extend_from_slice(&[0x42, 0x82, 0x84]);
        webm.extend_from_slice(b"webm");
        assert_eq!(
            sniff(&webm),
            Some(Sniffed::Ebml {
                doctype: Some("webm".into())
            })
        );
        assert_eq!(
            sniff(b"\0\0\0\x20ftypisom\0\0\x02\0"),
            Some(Sniffed::IsoBmff {
                brand: "isom".into()
            })
        );
        assert_eq!(
            sniff(b"\0\0\0\x1cftypavif\0\0\0\0"),
            None,
            "AVIF is an image"
        );
        assert_eq!(sniff(b"ID3\x04\0\0"), Some(Sniffed::Mp3));
        assert_eq!(sniff(&[0xFF, 0xFB, 0x90, 0x64]), Some(Sniffed::Mp3));
        assert_eq!(sniff(&[0xFF, 0xF1, 0x50, 0x80]), Some(Sniffed::Adts));
        assert_eq!(sniff(b"RIFF\0\0\0\0WAVEfmt "), Some(Sniffed::Wav));
        assert_eq!(sniff(b"OggS\0\x02"), Some(Sniffed::Ogg));
        assert_eq!(sniff(b"fLaC\0\0\0\x22"), Some(Sniffed::Flac));
    }

    #[test]
    fn not_media() {
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n"), None);
        assert_eq!(sniff(b"%PDF-1.7"), None);
        assert_eq!(sniff(b"PK\x03\x04"), None);
        assert_eq!(sniff(b"hello world"), None);
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), None, "JPEG");
        assert_eq!(sniff(&[0x1A, 0x45, 0xDF]), None, "too short");
    }
}
