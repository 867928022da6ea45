//! A small, bounded reader of fragmented MP4 (ISO BMFF) files as ffmpeg
//! writes them for HLS: the initialization segment (`ftyp` + `moov`) and
//! then `moof`/`mdat` pairs, each pair one media segment. From the boxes it
//! takes each segment's byte range and duration (the sum of the sample
//! durations in `trun`, with `tfhd` and `trex` defaults, on the timescale of
//! the chosen track's `mdhd`) and the video's RFC 6381 codec (`avcC`).
//!
//! Hostile or truncated input is an error, never a panic or an unbounded
//! allocation: box sizes are checked against the file and the box around
//! them, `moov` and `moof` are read whole only up to [`MAX_META_BOX`], and
//! at most [`MAX_SEGMENTS`] segments are listed.

use std::io::{Read, Seek, SeekFrom};

use crate::error::{Result, StreamingError};

/// The largest `moov` or `moof` read into memory.
pub const MAX_META_BOX: u64 = 16 << 20;
/// The most segments one file may have.
pub const MAX_SEGMENTS: usize = 100_000;
/// How deep boxes may nest.
const MAX_DEPTH: usize = 8;

/// A byte range of the file: `length@offset` in a playlist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteRange {
    pub offset: u64,
    pub length: u64,
}

/// A media segment: a `moof` and its `mdat`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Segment {
    pub range: ByteRange,
    /// Seconds.
    pub duration: f64,
}

/// What a fragmented MP4 holds, for a playlist.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// `ftyp` and `moov`.
    pub init: ByteRange,
    pub segments: Vec<Segment>,
    /// The RFC 6381 codec of the video track (`avc1.64001f`), when it has `avcC`.
    pub video_codec: Option<String>,
}

fn bad(why: impl Into<String>) -> StreamingError {
    StreamingError::Unreadable(format!("the fragmented MP4 is malformed: {}", why.into()))
}

/// One box header read from a stream: type, where its payload starts, its whole size.
struct Header {
    kind: [u8; 4],
    header_len: u64,
    size: u64,
}

/// Reads a box header at the current position; `None` at the end of the file.
fn read_header(r: &mut impl Read, at: u64, file_len: u64) -> Result<Option<Header>> {
    if at == file_len {
        return Ok(None);
    }
    if file_len - at < 8 {
        return Err(bad(format!("{} stray bytes at the end", file_len - at)));
    }
    let mut h = [0u8; 8];
    r.read_exact(&mut h)?;
    let mut size = u32::from_be_bytes(h[..4].try_into().expect("4 bytes")) as u64;
    let kind: [u8; 4] = h[4..].try_into().expect("4 bytes");
    let mut header_len = 8;
    if size == 1 {
        if file_len - at < 16 {
            return Err(bad("a 64-bit box size cut short"));
        }
        let mut l = [0u8; 8];
        r.read_exact(&mut l)?;
        size = u64::from_be_bytes(l);
        header_len = 16;
    } else if size == 0 {
        size = file_len - at;
    }
    if size < header_len || size > file_len - at {
        return Err(bad(format!(
            "box {} of {size} bytes at {at} does not fit the file",
            String::from_utf8_lossy(&kind)
        )));
    }
    Ok(Some(Header {
        kind,
        header_len,
        size,
    }))
}

/// The child boxes of a box held in memory: (type, payload).
fn children(mut b: &[u8]) -> Result<Vec<([u8; 4], &[u8])>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        if b.len() < 8 {
            return Err(bad("a box header cut short"));
        }
        let mut size = u32::from_be_bytes(b[..4].try_into().expect("4")) as usize;
        let kind: [u8; 4] = b[4..8].try_into().expect("4");
        let mut hl = 8;
        if size == 1 {
            if b.len() < 16 {
                return Err(bad("a 64-bit box size cut short"));
            }
            size = usize::try_from(u64::from_be_bytes(b[8..16].try_into().expect("8")))
                .map_err(|_| bad("a box larger than memory"))?;
            hl = 16;
        } else if size == 0 {
            size = b.len();
        }
        if size < hl || size > b.len() {
            return Err(bad(format!(
                "box {} of {size} bytes in {} bytes",
                String::from_utf8_lossy(&kind),
                b.len()
            )));
        }
        out.push((kind, &b[hl..size]));
        b = &b[size..];
    }
    Ok(out)
}

fn child<'a>(b: &'a [u8], kind: &[u8; 4]) -> Result<Option<&'a [u8]>> {
    Ok(children(b)?
        .into_iter()
        .find(|(k, _)| k == kind)
        .map(|(_, p)| p))
}

/// A box nested along `path` (the first of each type).
fn nested<'a>(b: &'a [u8], path: &[&[u8; 4]]) -> Result<Option<&'a [u8]>> {
    if path.len() > MAX_DEPTH {
        return Err(bad("boxes nested too deep"));
    }
    let mut cur = b;
    for k in path {
        match child(cur, k)? {
            Some(c) => cur = c,
            None => return Ok(None),
        }
    }
    Ok(Some(cur))
}

/// Big-endian fields read from a full box's payload, each checked.
struct Fields<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Fields<'a> {
    fn new(b: &'a [u8]) -> Self {
        Self { b, at: 0 }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or_else(|| bad("a box's fields cut short"))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into().expect("4")))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.take(8)?.try_into().expect("8")))
    }
    /// A full box's version and flags.
    fn version_flags(&mut self) -> Result<(u8, u32)> {
        let v = self.u32()?;
        Ok(((v >> 24) as u8, v & 0x00ff_ffff))
    }
    fn left(&self) -> usize {
        self.b.len() - self.at
    }
}

/// A track as `moov` describes it.
#[derive(Clone, Debug, Default)]
struct Track {
    id: u32,
    timescale: u32,
    video: bool,
    default_duration: u32,
    codec: Option<String>,
}

fn parse_track(trak: &[u8]) -> Result<Track> {
    let mut t = Track::default();
    let tkhd = child(trak, b"tkhd")?.ok_or_else(|| bad("a track without tkhd"))?;
    let mut f = Fields::new(tkhd);
    let (v, _) = f.version_flags()?;
    f.take(if v == 1 { 16 } else { 8 })?;
    t.id = f.u32()?;
    let mdhd = nested(trak, &[b"mdia", b"mdhd"])?.ok_or_else(|| bad("a track without mdhd"))?;
    let mut f = Fields::new(mdhd);
    let (v, _) = f.version_flags()?;
    f.take(if v == 1 { 16 } else { 8 })?;
    t.timescale = f.u32()?;
    if t.timescale == 0 {
        return Err(bad("a track with a timescale of zero"));
    }
    if let Some(hdlr) = nested(trak, &[b"mdia", b"hdlr"])? {
        let mut f = Fields::new(hdlr);
        f.version_flags()?;
        f.u32()?;
        t.video = f.take(4)? == b"vide";
    }
    if t.video
        && let Some(stsd) = nested(trak, &[b"mdia", b"minf", b"stbl", b"stsd"])?
    {
        let mut f = Fields::new(stsd);
        f.version_flags()?;
        f.u32()?;
        let entries = &stsd[f.at..];
        // A visual sample entry's own fields are 78 bytes; its boxes follow.
        if let Some((kind, entry)) = children(entries)?.into_iter().next()
            && (&kind == b"avc1" || &kind == b"avc3")
            && entry.len() > 78
            && let Some(avcc) = child(&entry[78..], b"avcC")?
        {
            let mut f = Fields::new(avcc);
            f.u8()?;
            let (p, c, l) = (f.u8()?, f.u8()?, f.u8()?);
            t.codec = Some(format!(
                "{}.{p:02x}{c:02x}{l:02x}",
                String::from_utf8_lossy(&kind)
            ));
        }
    }
    Ok(t)
}

/// The tracks of a `moov` payload, with `trex` defaults.
fn parse_moov(moov: &[u8]) -> Result<Vec<Track>> {
    let boxes = children(moov)?;
    let mut tracks = boxes
        .iter()
        .filter(|(k, _)| k == b"trak")
        .map(|(_, b)| parse_track(b))
        .collect::<Result<Vec<_>>>()?;
    if let Some((_, mvex)) = boxes.iter().find(|(k, _)| k == b"mvex") {
        for (k, trex) in children(mvex)? {
            if &k != b"trex" {
                continue;
            }
            let mut f = Fields::new(trex);
            f.version_flags()?;
            let id = f.u32()?;
            f.u32()?;
            let d = f.u32()?;
            if let Some(t) = tracks.iter_mut().find(|t| t.id == id) {
                t.default_duration = d;
            }
        }
    }
    if tracks.is_empty() {
        return Err(bad("no tracks"));
    }
    Ok(tracks)
}

/// The duration in `track`'s timescale units of the samples a `moof` holds for it.
fn fragment_ticks(moof: &[u8], track: &Track) -> Result<u64> {
    let mut total = 0u64;
    for (k, traf) in children(moof)? {
        if &k != b"traf" {
            continue;
        }
        let tfhd = child(traf, b"tfhd")?.ok_or_else(|| bad("a traf without tfhd"))?;
        let mut f = Fields::new(tfhd);
        let (_, flags) = f.version_flags()?;
        if f.u32()? != track.id {
            continue;
        }
        if flags & 0x01 != 0 {
            f.u64()?;
        }
        if flags & 0x02 != 0 {
            f.u32()?;
        }
        let default = if flags & 0x08 != 0 {
            f.u32()?
        } else {
            track.default_duration
        };
        for (k, trun) in children(traf)? {
            if &k != b"trun" {
                continue;
            }
            let mut f = Fields::new(trun);
            let (_, flags) = f.version_flags()?;
            let count = f.u32()? as usize;
            if flags & 0x01 != 0 {
                f.u32()?;
            }
            if flags & 0x04 != 0 {
                f.u32()?;
            }
            let per = [0x100, 0x200, 0x400, 0x800]
                .iter()
                .filter(|b| flags & *b != 0)
                .count()
                * 4;
            if count.checked_mul(per).is_none_or(|n| n > f.left()) {
                return Err(bad("a trun with more samples than bytes"));
            }
            if flags & 0x100 == 0 {
                total = total.saturating_add(default as u64 * count as u64);
                continue;
            }
            for _ in 0..count {
                total = total.saturating_add(f.u32()? as u64);
                f.take(per - 4)?;
            }
        }
    }
    Ok(total)
}

/// Reads a box's payload into memory (bounded).
fn read_payload(r: &mut (impl Read + Seek), at: u64, h: &Header) -> Result<Vec<u8>> {
    let len = h.size - h.header_len;
    if len > MAX_META_BOX {
        return Err(StreamingError::TooLarge(MAX_META_BOX));
    }
    r.seek(SeekFrom::Start(at + h.header_len))?;
    let mut b = vec![0u8; len as usize];
    r.read_exact(&mut b)?;
    Ok(b)
}

/// Reads the layout of a fragmented MP4 of `file_len` bytes.
pub fn read_layout(r: &mut (impl Read + Seek), file_len: u64) -> Result<Layout> {
    read(r, file_len, false)?.ok_or_else(|| bad("no moov"))
}

/// Reads the layout of a fragmented MP4 that is still being written,
/// from its first `file_len` bytes: the boxes written whole so far (a box
/// that runs past `file_len` and a `moof` still without its `mdat` are not
/// there yet). `None` before the `moov` is whole.
pub fn read_growing_layout(r: &mut (impl Read + Seek), file_len: u64) -> Result<Option<Layout>> {
    read(r, file_len, true)
}

fn read(r: &mut (impl Read + Seek), file_len: u64, growing: bool) -> Result<Option<Layout>> {
    let mut at = 0u64;
    let mut init_end = None;
    let mut tracks: Vec<Track> = Vec::new();
    let mut segments = Vec::new();
    // The moof waiting for its mdat: (start, duration).
    let mut open: Option<(u64, f64)> = None;
    loop {
        r.seek(SeekFrom::Start(at))?;
        let h = if growing {
            match read_header(r, at, file_len) {
                Ok(Some(h)) => h,
                // Not written whole yet.
                Ok(None) | Err(StreamingError::Unreadable(_)) => break,
                Err(e) => return Err(e),
            }
        } else {
            let Some(h) = read_header(r, at, file_len)? else {
                break;
            };
            h
        };
        match &h.kind {
            b"moov" => {
                if init_end.is_some() {
                    return Err(bad("a second moov"));
                }
                tracks = parse_moov(&read_payload(r, at, &h)?)?;
                init_end = Some(at + h.size);
            }
            b"moof" => {
                if init_end.is_none() {
                    return Err(bad("a moof before the moov"));
                }
                if open.is_some() {
                    return Err(bad("a moof without its mdat"));
                }
                let track = tracks
                    .iter()
                    .find(|t| t.video)
                    .unwrap_or(&tracks[0])
                    .clone();
                let ticks = fragment_ticks(&read_payload(r, at, &h)?, &track)?;
                open = Some((at, ticks as f64 / track.timescale as f64));
            }
            b"mdat" => {
                if let Some((start, duration)) = open.take() {
                    if segments.len() >= MAX_SEGMENTS {
                        return Err(StreamingError::TooLarge(MAX_SEGMENTS as u64));
                    }
                    segments.push(Segment {
                        range: ByteRange {
                            offset: start,
                            length: at + h.size - start,
                        },
                        duration,
                    });
                } else if init_end.is_some() {
                    return Err(bad("an mdat without its moof"));
                }
            }
            // ftyp, free, styp, sidx, mfra and the like are skipped; before
            // the first moof they belong to the initialization segment.
            _ => {}
        }
        at += h.size;
    }
    if open.is_some() && !growing {
        return Err(bad("the last moof has no mdat"));
    }
    let Some(init_end) = init_end else {
        return if growing {
            Ok(None)
        } else {
            Err(bad("no moov"))
        };
    };
    if segments.is_empty() {
        if growing {
            return Ok(Some(Layout {
                init: ByteRange {
                    offset: 0,
                    length: init_end,
                },
                video_codec: tracks.iter().find_map(|t| t.codec.clone()),
                segments,
            }));
        }
        return Err(bad("no fragments"));
    }
    if segments[0].range.offset != init_end {
        // Whatever lies between (free, sidx) goes with the init segment.
        let first = segments[0].range.offset;
        return Ok(Some(Layout {
            init: ByteRange {
                offset: 0,
                length: first,
            },
            video_codec: tracks.iter().find_map(|t| t.codec.clone()),
            segments,
        }));
    }
    Ok(Some(Layout {
        init: ByteRange {
            offset: 0,
            length: init_end,
        },
        video_codec: tracks.iter().find_map(|t| t.codec.clone()),
        segments,
    }))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Cursor;

    pub fn boxed(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut b = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(payload);
        b
    }

    fn full(kind: &[u8; 4], version: u8, flags: u32, fields: &[u8]) -> Vec<u8> {
        let mut p = (((version as u32) << 24) | flags).to_be_bytes().to_vec();
        p.extend_from_slice(fields);
        boxed(kind, &p)
    }

    fn be(v: &[u32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_be_bytes()).collect()
    }

    /// A small fMP4: one video track (timescale 1000, avcC 64 00 1f), `frags` fragments of `n` samples × 40 ms.
    pub fn sample(frags: usize, n: u32) -> Vec<u8> {
        let tkhd = full(b"tkhd", 0, 3, &be(&[0, 0, 1, 0, 0]));
        let mdhd = full(b"mdhd", 0, 0, &be(&[0, 0, 1000, 0, 0]));
        let hdlr = full(
            b"hdlr",
            0,
            0,
            &[be(&[0]), b"vide".to_vec(), vec![0; 13]].concat(),
        );
        let avcc = boxed(b"avcC", &[1, 0x64, 0x00, 0x1f, 0xff]);
        let avc1 = boxed(b"avc1", &[vec![0u8; 78], avcc].concat());
        let stsd = full(b"stsd", 0, 0, &[be(&[1]), avc1].concat());
        let stbl = boxed(b"stbl", &stsd);
        let minf = boxed(b"minf", &stbl);
        let mdia = boxed(b"mdia", &[mdhd, hdlr, minf].concat());
        let trak = boxed(b"trak", &[tkhd, mdia].concat());
        let trex = full(b"trex", 0, 0, &be(&[1, 1, 40, 0, 0]));
        let mvex = boxed(b"mvex", &trex);
        let moov = boxed(b"moov", &[trak, mvex].concat());
        let mut out = [boxed(b"ftyp", b"isom\0\0\x02\0"), moov].concat();
        for i in 0..frags {
            let tfhd = full(b"tfhd", 0, 0x02_0000, &be(&[1]));
            let tfdt = full(b"tfdt", 0, 0, &be(&[i as u32 * n * 40]));
            // Half the fragments carry durations per sample, half use trex's default.
            let trun = if i % 2 == 0 {
                let mut f = be(&[n]);
                for _ in 0..n {
                    f.extend(be(&[40, 100]));
                }
                full(b"trun", 0, 0x300, &f)
            } else {
                full(b"trun", 0, 0, &be(&[n]))
            };
            let traf = boxed(b"traf", &[tfhd, tfdt, trun].concat());
            out.extend(boxed(
                b"moof",
                &[full(b"mfhd", 0, 0, &be(&[i as u32 + 1])), traf].concat(),
            ));
            out.extend(boxed(b"mdat", &vec![0u8; 100 * n as usize]));
        }
        out
    }

    fn layout(b: &[u8]) -> Result<Layout> {
        read_layout(&mut Cursor::new(b), b.len() as u64)
    }

    #[test]
    fn a_growing_file_shows_its_whole_fragments() {
        let whole = sample(3, 5);
        let full = read_layout(&mut Cursor::new(&whole), whole.len() as u64).unwrap();
        assert_eq!(full.segments.len(), 3);
        // Every prefix: the fragments whose mdat is whole, nothing more.
        for cut in 0..=whole.len() {
            let part = &whole[..cut];
            let l = read_growing_layout(&mut Cursor::new(part), cut as u64).unwrap();
            match l {
                None => assert!((cut as u64) < full.init.length, "moov whole at {cut}"),
                Some(l) => {
                    assert_eq!(l.init, full.init);
                    let whole_frags = full
                        .segments
                        .iter()
                        .filter(|s| s.range.offset + s.range.length <= cut as u64)
                        .count();
                    assert_eq!(l.segments.len(), whole_frags, "at {cut}");
                    assert_eq!(l.segments[..], full.segments[..whole_frags]);
                }
            }
        }
        // A finished file read as growing is the same layout.
        let g = read_growing_layout(&mut Cursor::new(&whole), whole.len() as u64).unwrap();
        assert_eq!(g, Some(full));
    }

    #[test]
    fn reads_segments_durations_and_codec() {
        let b = sample(3, 50);
        let l = layout(&b).unwrap();
        assert_eq!(l.video_codec.as_deref(), Some("avc1.64001f"));
        assert_eq!(l.segments.len(), 3);
        assert_eq!(l.init.offset, 0);
        assert_eq!(l.segments[0].range.offset, l.init.length);
        for w in l.segments.windows(2) {
            assert_eq!(w[0].range.offset + w[0].range.length, w[1].range.offset);
        }
        let last = l.segments[2].range;
        assert_eq!(last.offset + last.length, b.len() as u64);
        for s in &l.segments {
            assert!((s.duration - 2.0).abs() < 1e-9, "{}", s.duration);
        }
    }

    #[test]
    fn truncation_anywhere_is_an_error_not_a_panic() {
        let b = sample(2, 10);
        for cut in 0..b.len() {
            // A cut between two fragments leaves a shorter valid file; anywhere else is refused.
            if let Ok(l) = layout(&b[..cut]) {
                let last = l.segments.last().unwrap().range;
                assert_eq!(last.offset + last.length, cut as u64, "cut at {cut}");
                assert_eq!(l.segments.len(), 1);
            }
        }
        assert!(layout(&b[..b.len() - 1]).is_err());
    }

    #[test]
    fn hostile_sizes_and_orders() {
        // A box claiming more than the file.
        let mut b = sample(1, 4);
        b[3] = 0xff;
        assert!(layout(&b).is_err());
        // A 64-bit size far beyond the file.
        let huge = [&[0, 0, 0, 1][..], b"moov", &u64::MAX.to_be_bytes()].concat();
        assert!(layout(&huge).is_err());
        // A trun claiming four billion samples.
        let mut b = sample(1, 4);
        let at = b.windows(4).position(|w| w == b"trun").unwrap();
        b[at + 8..at + 12].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(layout(&b).is_err());
        // A moof with no moov before it, an mdat alone, noise.
        let s = sample(1, 4);
        let moof = s.windows(4).position(|w| w == b"moof").unwrap() - 4;
        assert!(layout(&s[moof..]).is_err());
        assert!(layout(&boxed(b"mdat", &[0; 16])).is_err());
        assert!(layout(&[0x5a; 1000]).is_err());
        assert!(layout(&[]).is_err());
        // A box of size smaller than its header.
        assert!(layout(&[0, 0, 0, 4, b'f', b't', b'y', b'p']).is_err());
        // A zero timescale.
        let mut b = sample(1, 4);
        let at = b.windows(4).position(|w| w == b"mdhd").unwrap();
        b[at + 16..at + 20].copy_from_slice(&0u32.to_be_bytes());
        assert!(layout(&b).is_err());
    }
}
