//! HLS playlists (RFC 8216) for renditions that are one fragmented MP4
//! each: a media playlist of byte ranges into the file (`EXT-X-MAP` for
//! the initialization segment, `EXT-X-BYTERANGE` per segment), the same
//! rendition's playlist written before the file exists (one URI per
//! segment, [`segment_playlist`], from durations planned from the probe),
//! and a master playlist naming the variants. Pure.

use std::fmt::Write;

use crate::fmp4::{ByteRange, Layout};

/// One variant of the master playlist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variant {
    /// The media playlist's URI, relative to the master's.
    pub uri: String,
    pub bandwidth: u64,
    /// `WIDTHxHEIGHT`.
    pub resolution: Option<String>,
    /// RFC 6381 codecs, comma-separated.
    pub codecs: String,
}

/// The smallest `EXT-X-TARGETDURATION` for these segments: every
/// segment's duration rounded to the nearest integer is at most it
/// (RFC 8216 §4.3.3.1), and it is at least 1.
pub fn target_duration(durations: impl IntoIterator<Item = f64>) -> u64 {
    durations
        .into_iter()
        .map(|d| {
            if d.is_finite() && d > 0.0 {
                d.round() as u64
            } else {
                0
            }
        })
        .max()
        .unwrap_or(0)
        .max(1)
}

/// Whether a URI may be written into a playlist as is (no quote, no line break, no control characters).
fn safe_uri(uri: &str) -> bool {
    !uri.is_empty() && uri.chars().all(|c| c.is_ascii_graphic() && c != '"')
}

/// The media playlist of a rendition whose file (at `uri`) has `layout`.
pub fn media_playlist(uri: &str, layout: &Layout) -> String {
    assert!(safe_uri(uri), "playlist URIs are carrel's own");
    let mut p = String::with_capacity(128 + layout.segments.len() * 64);
    p.push_str("#EXTM3U\n#EXT-X-VERSION:7\n");
    let _ = writeln!(
        p,
        "#EXT-X-TARGETDURATION:{}",
        target_duration(layout.segments.iter().map(|s| s.duration))
    );
    p.push_str("#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    let _ = writeln!(
        p,
        "#EXT-X-MAP:URI=\"{uri}\",BYTERANGE=\"{}@{}\"",
        layout.init.length, layout.init.offset
    );
    for s in &layout.segments {
        let d = if s.duration.is_finite() && s.duration > 0.0 {
            s.duration
        } else {
            0.0
        };
        let _ = writeln!(
            p,
            "#EXTINF:{d:.6},\n#EXT-X-BYTERANGE:{}@{}\n{uri}",
            s.range.length, s.range.offset
        );
    }
    p.push_str("#EXT-X-ENDLIST\n");
    p
}

/// The media playlist of a rendition named `name` listed before it is
/// made: the initialization segment at `{name}/init.mp4` and segment `n`
/// (of the planned `durations`) at `{name}/{n}.m4s`, relative to the playlist.
pub fn segment_playlist(name: &str, durations: &[f64]) -> String {
    assert!(safe_uri(name), "playlist URIs are carrel's own");
    let mut p = String::with_capacity(160 + durations.len() * 32);
    p.push_str("#EXTM3U\n#EXT-X-VERSION:7\n");
    let _ = writeln!(
        p,
        "#EXT-X-TARGETDURATION:{}",
        target_duration(durations.iter().copied())
    );
    p.push_str("#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    let _ = writeln!(p, "#EXT-X-MAP:URI=\"{name}/init.mp4\"");
    for (n, d) in durations.iter().enumerate() {
        let d = if d.is_finite() && *d > 0.0 { *d } else { 0.0 };
        let _ = writeln!(p, "#EXTINF:{d:.6},\n{name}/{n}.m4s");
    }
    p.push_str("#EXT-X-ENDLIST\n");
    p
}

/// The byte ranges a [`media_playlist`] names: its initialization segment
/// and its media segments, in order. `None` if it is not such a playlist.
pub fn byte_ranges(playlist: &str) -> Option<(ByteRange, Vec<ByteRange>)> {
    let range = |s: &str| -> Option<ByteRange> {
        let (l, o) = s.split_once('@')?;
        Some(ByteRange {
            length: l.parse().ok()?,
            offset: o.parse().ok()?,
        })
    };
    let mut init = None;
    let mut segments = Vec::new();
    for l in playlist.lines() {
        if let Some(m) = l.strip_prefix("#EXT-X-MAP:") {
            let b = m.split_once("BYTERANGE=\"")?.1.split_once('"')?.0;
            init = Some(range(b)?);
        } else if let Some(b) = l.strip_prefix("#EXT-X-BYTERANGE:") {
            segments.push(range(b)?);
        }
    }
    Some((init?, segments))
}

/// The master playlist naming `variants`.
pub fn master_playlist(variants: &[Variant]) -> String {
    let mut p = String::from("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for v in variants {
        assert!(safe_uri(&v.uri), "playlist URIs are carrel's own");
        let _ = write!(p, "#EXT-X-STREAM-INF:BANDWIDTH={}", v.bandwidth.max(1));
        if let Some(r) = v.resolution.as_deref().filter(|r| valid_resolution(r)) {
            let _ = write!(p, ",RESOLUTION={r}");
        }
        if !v.codecs.is_empty() && safe_uri(&v.codecs.replace(',', "")) {
            let _ = write!(p, ",CODECS=\"{}\"", v.codecs);
        }
        let _ = writeln!(p, "\n{}", v.uri);
    }
    p
}

/// The group id of the subtitle renditions in master playlists.
pub const SUBTITLES_GROUP: &str = "subs";

/// A subtitle rendition of the master playlist (`EXT-X-MEDIA:TYPE=SUBTITLES`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubtitleRendition {
    /// Its media playlist's URI.
    pub uri: String,
    /// Shown to people; unique within the group.
    pub name: String,
    /// An RFC 5646 tag.
    pub language: Option<String>,
    pub default: bool,
}

/// A playlist quoted-string: no quote, no line break (RFC 8216 §4.2).
fn quoted(s: &str) -> String {
    s.chars().filter(|c| !c.is_control() && *c != '"').collect()
}

/// Adds the subtitle renditions to a master playlist: one
/// `EXT-X-MEDIA:TYPE=SUBTITLES` per track in group [`SUBTITLES_GROUP`],
/// before the first variant, and `SUBTITLES="…"` on every
/// `EXT-X-STREAM-INF`. Apart from [`master_playlist`], so any master gets them.
pub fn with_subtitles(master: &str, subs: &[SubtitleRendition]) -> String {
    if subs.is_empty() {
        return master.to_owned();
    }
    let mut media = String::new();
    for s in subs {
        assert!(safe_uri(&s.uri), "playlist URIs are carrel's own");
        let _ = write!(
            media,
            "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"{SUBTITLES_GROUP}\",NAME=\"{}\"",
            quoted(&s.name)
        );
        if let Some(l) = s
            .language
            .as_deref()
            .filter(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        {
            let _ = write!(media, ",LANGUAGE=\"{l}\"");
        }
        let d = if s.default { "YES" } else { "NO" };
        let _ = writeln!(
            media,
            ",DEFAULT={d},AUTOSELECT={d},FORCED=NO,URI=\"{}\"",
            s.uri
        );
    }
    let mut out = String::with_capacity(master.len() + media.len() + 64);
    let mut placed = false;
    for line in master.lines() {
        if line.starts_with("#EXT-X-STREAM-INF:") {
            if !placed {
                out.push_str(&media);
                placed = true;
            }
            let _ = writeln!(out, "{line},SUBTITLES=\"{SUBTITLES_GROUP}\"");
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !placed {
        out.push_str(&media);
    }
    out
}

/// The media playlist of one WebVTT file spanning `duration` seconds (one
/// segment, as RFC 8216 allows for subtitles).
pub fn subtitle_playlist(uri: &str, duration: f64) -> String {
    assert!(safe_uri(uri), "playlist URIs are carrel's own");
    let d = if duration.is_finite() && duration > 0.0 {
        duration
    } else {
        0.0
    };
    format!(
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:{}\n#EXT-X-MEDIA-SEQUENCE:0\n\
         #EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:{d:.6},\n{uri}\n#EXT-X-ENDLIST\n",
        target_duration([d])
    )
}

/// `WIDTHxHEIGHT` with decimal numbers.
fn valid_resolution(r: &str) -> bool {
    r.split_once('x').is_some_and(|(w, h)| {
        !w.is_empty()
            && !h.is_empty()
            && w.bytes().all(|b| b.is_ascii_digit())
            && h.bytes().all(|b| b.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fmp4::{ByteRange, Layout, Segment};

    fn layout(durations: &[f64]) -> Layout {
        let mut at = 1000;
        let segments = durations
            .iter()
            .map(|d| {
                let s = Segment {
                    range: ByteRange {
                        offset: at,
                        length: 500,
                    },
                    duration: *d,
                };
                at += 500;
                s
            })
            .collect();
        Layout {
            init: ByteRange {
                offset: 0,
                length: 1000,
            },
            segments,
            video_codec: Some("avc1.64001f".into()),
        }
    }

    #[test]
    fn media_playlist_tags() {
        let p = media_playlist("remux.mp4", &layout(&[2.0, 4.49, 1.2]));
        let lines: Vec<&str> = p.lines().collect();
        assert_eq!(lines[0], "#EXTM3U");
        assert!(lines.contains(&"#EXT-X-VERSION:7"));
        assert!(lines.contains(&"#EXT-X-TARGETDURATION:4"));
        assert!(lines.contains(&"#EXT-X-MAP:URI=\"remux.mp4\",BYTERANGE=\"1000@0\""));
        assert!(lines.contains(&"#EXTINF:4.490000,"));
        assert!(lines.contains(&"#EXT-X-BYTERANGE:500@1500"));
        assert_eq!(
            lines.iter().filter(|l| l.starts_with("#EXTINF:")).count(),
            3
        );
        assert_eq!(*lines.last().unwrap(), "#EXT-X-ENDLIST");
        // Each EXTINF is followed by its byte range and the URI.
        for (i, l) in lines.iter().enumerate() {
            if l.starts_with("#EXTINF:") {
                assert!(lines[i + 1].starts_with("#EXT-X-BYTERANGE:"));
                assert_eq!(lines[i + 2], "remux.mp4");
            }
        }
    }

    #[test]
    fn target_duration_rounds_and_is_never_zero() {
        assert_eq!(target_duration([2.0, 4.5, 1.2]), 5);
        assert_eq!(target_duration([4.49]), 4);
        assert_eq!(target_duration([]), 1);
        assert_eq!(target_duration([0.2, f64::NAN, -3.0, f64::INFINITY]), 1);
        let p = media_playlist("a.mp4", &layout(&[f64::NAN, 3.0]));
        assert!(p.contains("#EXTINF:0.000000,"));
        assert!(p.contains("#EXT-X-TARGETDURATION:3"));
    }

    #[test]
    fn master_playlist_attributes() {
        let p = master_playlist(&[Variant {
            uri: "remux.m3u8".into(),
            bandwidth: 1_234_567,
            resolution: Some("1280x720".into()),
            codecs: "avc1.64001f,mp4a.40.2".into(),
        }]);
        assert_eq!(
            p,
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-STREAM-INF:BANDWIDTH=1234567,RESOLUTION=1280x720,CODECS=\"avc1.64001f,mp4a.40.2\"\n\
             remux.m3u8\n"
        );
        // Stored values that are not well formed are left out rather than written.
        let p = master_playlist(&[Variant {
            uri: "remux.m3u8".into(),
            bandwidth: 0,
            resolution: Some("12x\n#EVIL".into()),
            codecs: "a\"b".into(),
        }]);
        assert!(p.contains("BANDWIDTH=1\n"));
        assert!(!p.contains("EVIL"));
    }

    #[test]
    fn subtitle_group_on_every_variant() {
        let master = master_playlist(&[Variant {
            uri: "remux.m3u8".into(),
            bandwidth: 1000,
            resolution: None,
            codecs: "avc1.64001f".into(),
        }]);
        let subs = [
            SubtitleRendition {
                uri: "/s/x/subs/0.m3u8".into(),
                name: "English \"SDH\"\n".into(),
                language: Some("en".into()),
                default: true,
            },
            SubtitleRendition {
                uri: "/s/x/subs/1.m3u8".into(),
                name: "Track 2".into(),
                language: Some("x\"y".into()),
                default: false,
            },
        ];
        let p = with_subtitles(&master, &subs);
        assert_eq!(
            p,
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"English SDH\",LANGUAGE=\"en\",DEFAULT=YES,AUTOSELECT=YES,FORCED=NO,URI=\"/s/x/subs/0.m3u8\"\n\
             #EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"Track 2\",DEFAULT=NO,AUTOSELECT=NO,FORCED=NO,URI=\"/s/x/subs/1.m3u8\"\n\
             #EXT-X-STREAM-INF:BANDWIDTH=1000,CODECS=\"avc1.64001f\",SUBTITLES=\"subs\"\n\
             remux.m3u8\n"
        );
        assert_eq!(with_subtitles(&master, &[]), master);
        let s = subtitle_playlist("0.vtt", 30.02);
        assert_eq!(
            s,
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:30\n#EXT-X-MEDIA-SEQUENCE:0\n\
             #EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:30.020000,\n0.vtt\n#EXT-X-ENDLIST\n"
        );
    }

    #[test]
    fn segment_playlist_lists_every_planned_segment() {
        let p = segment_playlist("720p", &[2.0, 2.0, 1.5]);
        let lines: Vec<&str> = p.lines().collect();
        assert_eq!(lines[0], "#EXTM3U");
        assert!(lines.contains(&"#EXT-X-TARGETDURATION:2"));
        assert!(lines.contains(&"#EXT-X-PLAYLIST-TYPE:VOD"));
        assert!(lines.contains(&"#EXT-X-MAP:URI=\"720p/init.mp4\""));
        let uris: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| !l.starts_with('#'))
            .collect();
        assert_eq!(uris, ["720p/0.m4s", "720p/1.m4s", "720p/2.m4s"]);
        assert!(lines.contains(&"#EXTINF:1.500000,"));
        assert_eq!(*lines.last().unwrap(), "#EXT-X-ENDLIST");
    }

    #[test]
    fn byte_ranges_read_back() {
        let l = layout(&[2.0, 2.0, 1.0]);
        let (init, segs) = byte_ranges(&media_playlist("a.mp4", &l)).unwrap();
        assert_eq!(init, l.init);
        assert_eq!(segs, l.segments.iter().map(|s| s.range).collect::<Vec<_>>());
        assert!(byte_ranges("#EXTM3U\n").is_none());
        assert!(byte_ranges("#EXT-X-MAP:URI=\"a\",BYTERANGE=\"x@1\"\n").is_none());
    }

    #[test]
    #[should_panic]
    fn a_uri_with_a_quote_is_refused() {
        media_playlist("a\".mp4", &layout(&[1.0]));
    }
}
