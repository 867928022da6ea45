//! Subtitle tracks: a file's embedded subtitle streams, then its sidecar
//! files (the hosting wing's [`Sidecar`]s), numbered in that order
//! ([`TrackIndex`]: `subs/{n}.vtt` under the share link). Embedded text
//! tracks (SubRip, ASS/SSA, mov_text, WebVTT) are extracted to WebVTT by one
//! bounded ffmpeg run per source ([`extract`]); image tracks (PGS, DVD,
//! DVB) are not text and are recorded as skipped with the reason. Sidecar
//! SubRip is converted when served ([`crate::subtitles`]); sidecar WebVTT
//! is served once its header is checked.

use std::fmt;
use std::path::{Path, PathBuf};

use carrel_core::catalog::Lang;
use carrel_core::sidecar::SubtitleFormat;
use carrel_http::media::Sidecar;

use crate::error::{Result, StreamingError};
use crate::info::{MediaInfo, Stream};
use crate::remux::RemuxConfig;

/// Tracks listed at most (embedded and sidecar together).
pub const MAX_TRACKS: usize = 32;
/// The largest WebVTT file a track may become.
pub const MAX_VTT_BYTES: u64 = 8 << 20;

/// A subtitle track's number among a file's tracks (`0` is the first):
/// below [`MAX_TRACKS`], written as a plain decimal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TrackIndex(u8);

impl TrackIndex {
    pub fn new(n: usize) -> Option<Self> {
        (n < MAX_TRACKS).then_some(Self(n as u8))
    }

    pub fn get(self) -> usize {
        self.0 as usize
    }

    /// `3` out of `3.vtt` or `3.m3u8` (with `ext` `vtt` or `m3u8`): no sign,
    /// no leading zero, nothing else.
    pub fn parse_file(file: &str, ext: &str) -> Option<Self> {
        let n = file.strip_suffix(ext)?.strip_suffix('.')?;
        if n.is_empty() || n.len() > 2 || (n.len() > 1 && n.starts_with('0')) {
            return None;
        }
        if !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Self::new(n.parse().ok()?)
    }
}

impl fmt::Display for TrackIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where a track's cues come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrackSource {
    /// The stream of this index in the file, with ffprobe's codec name.
    Embedded { stream: u32, codec: String },
    /// A file beside it.
    Sidecar(Sidecar),
}

/// One subtitle track as players see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Track {
    pub index: TrackIndex,
    pub source: TrackSource,
    pub language: Option<Lang>,
    /// Unique among the file's tracks.
    pub label: String,
}

/// ffprobe's codec names of text subtitles, which become WebVTT.
pub fn is_text_codec(codec: &str) -> bool {
    matches!(
        codec,
        "subrip"
            | "srt"
            | "ass"
            | "ssa"
            | "mov_text"
            | "webvtt"
            | "text"
            | "microdvd"
            | "subviewer"
    )
}

/// The rendition name of an embedded track's WebVTT (by stream index).
pub fn rendition_name(stream: u32) -> String {
    format!("subs.{stream}")
}

/// Why an embedded track is not extracted, if it is not.
pub fn skipped(codec: &str) -> Option<String> {
    (!is_text_codec(codec)).then(|| match codec {
        "hdmv_pgs_subtitle" | "dvd_subtitle" | "dvb_subtitle" | "xsub" | "dvb_teletext" => {
            format!("image subtitles ({codec}) are pictures, not text: not converted to WebVTT")
        }
        c => format!("subtitles in {c} are not converted to WebVTT"),
    })
}

/// A language's name in English for the common ones; the tag otherwise.
fn language_name(l: &Lang) -> String {
    match l.primary() {
        "en" => "English",
        "fr" => "French",
        "de" => "German",
        "es" => "Spanish",
        "it" => "Italian",
        "pt" => "Portuguese",
        "nl" => "Dutch",
        "ru" => "Russian",
        "ja" => "Japanese",
        "zh" => "Chinese",
        "ar" => "Arabic",
        "pl" => "Polish",
        "sv" => "Swedish",
        _ => return l.as_str().to_owned(),
    }
    .to_owned()
}

fn stream_language(s: &Stream) -> Option<Lang> {
    s.language
        .as_deref()
        .and_then(|l| Lang::parse(l).ok())
        .filter(|l| l.as_str() != "und")
}

/// A label from a title, a language and a fallback, made unique by a number.
fn label_for(title: Option<&str>, lang: Option<&Lang>, fallback: String) -> String {
    let title = title
        .map(|t| {
            t.chars()
                .filter(|c| !c.is_control())
                .take(60)
                .collect::<String>()
        })
        .filter(|t| !t.trim().is_empty());
    match (title, lang) {
        (Some(t), _) => t.trim().to_owned(),
        (None, Some(l)) => language_name(l),
        (None, None) => fallback,
    }
}

/// A file's tracks: its subtitle streams in order, then its sidecars.
pub fn list(info: Option<&MediaInfo>, sidecars: &[Sidecar]) -> Vec<Track> {
    let mut out: Vec<Track> = Vec::new();
    let mut push = |source: TrackSource, language: Option<Lang>, label: String| {
        let Some(index) = TrackIndex::new(out.len()) else {
            return;
        };
        let mut unique = label.clone();
        let mut k = 2;
        while out.iter().any(|t| t.label == unique) {
            unique = format!("{label} ({k})");
            k += 1;
        }
        out.push(Track {
            index,
            source,
            language,
            label: unique,
        });
    };
    if let Some(info) = info {
        for (i, s) in info.subtitles().enumerate() {
            let lang = stream_language(s);
            let label = label_for(
                s.title.as_deref(),
                lang.as_ref(),
                format!("Track {}", i + 1),
            );
            push(
                TrackSource::Embedded {
                    stream: s.index,
                    codec: s.codec.clone(),
                },
                lang,
                label,
            );
        }
    }
    for s in sidecars {
        let lang = s.what.language.clone();
        let base = label_for(s.what.label.as_deref(), lang.as_ref(), s.name.clone());
        let label = match (&s.what.label, &lang) {
            (Some(_), Some(l)) => format!("{base} ({})", language_name(l)),
            _ => base,
        };
        push(TrackSource::Sidecar(s.clone()), lang, label);
    }
    out
}

/// A sidecar's bytes as WebVTT: SubRip converted (tolerant of the usual
/// defects; no cue at all is a failure), WebVTT checked for its header.
pub fn sidecar_vtt(s: &Sidecar, bytes: &[u8]) -> Result<String> {
    let unreadable = |why: &str| StreamingError::SubtitlesUnreadable(format!("{}: {why}", s.name));
    match s.what.format {
        SubtitleFormat::Srt => {
            let cues = crate::subtitles::parse_srt(bytes).map_err(|e| match e {
                StreamingError::TooLarge(n) => unreadable(&format!("larger than {n} bytes")),
                e => e,
            })?;
            if cues.is_empty() {
                return Err(unreadable("no subtitle cue could be read (is it SubRip?)"));
            }
            Ok(crate::subtitles::write_vtt(&cues))
        }
        SubtitleFormat::Vtt => {
            if bytes.len() > crate::subtitles::MAX_SRT_BYTES {
                return Err(unreadable("too large"));
            }
            let text = std::str::from_utf8(bytes).map_err(|_| unreadable("not UTF-8 text"))?;
            let text = text.strip_prefix('\u{feff}').unwrap_or(text);
            let header_ok = text
                .strip_prefix("WEBVTT")
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\n', '\r']));
            if !header_ok {
                return Err(unreadable("not WebVTT (it does not start with WEBVTT)"));
            }
            Ok(text.to_owned())
        }
    }
}

/// Extracts the embedded text tracks `streams` of `input` to WebVTT files
/// in `dir` (one ffmpeg run), returning their paths in the same order.
pub async fn extract(
    cfg: &RemuxConfig,
    input: &Path,
    dir: &Path,
    hash: &str,
    streams: &[u32],
) -> Result<Vec<PathBuf>> {
    let outputs: Vec<PathBuf> = streams
        .iter()
        .map(|s| crate::ffmpeg::staged(dir, &format!("subs{s}"), hash, "vtt"))
        .collect();
    let r = crate::ffmpeg::run(
        cfg,
        input,
        &outputs,
        MAX_VTT_BYTES,
        cfg.timeout_secs,
        &[],
        |c| {
            for (s, o) in streams.iter().zip(&outputs) {
                c.arg("-map")
                    .arg(format!("0:{s}"))
                    .args(["-c:s", "webvtt", "-f", "webvtt", "-y"])
                    .arg(format!("file:{}", o.display()));
            }
        },
    )
    .await;
    if let Err(e) = r {
        for o in &outputs {
            let _ = tokio::fs::remove_file(o).await;
        }
        return Err(e);
    }
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use carrel_core::sidecar::sidecar_of;

    #[test]
    fn track_indexes() {
        assert_eq!(TrackIndex::parse_file("0.vtt", "vtt"), TrackIndex::new(0));
        assert_eq!(
            TrackIndex::parse_file("12.m3u8", "m3u8"),
            TrackIndex::new(12)
        );
        for bad in [
            "",
            ".vtt",
            "01.vtt",
            "-1.vtt",
            "+1.vtt",
            "1.m3u8",
            "99.vtt",
            "1x.vtt",
            "1.vtt.vtt",
            "١.vtt",
        ] {
            assert_eq!(TrackIndex::parse_file(bad, "vtt"), None, "{bad}");
        }
        assert_eq!(TrackIndex::new(MAX_TRACKS), None);
    }

    fn sidecar(video: &str, name: &str) -> Sidecar {
        Sidecar {
            file: carrel_core::ids::FileId::generate(),
            blob: carrel_core::ids::BlobHash::from_bytes([name.len() as u8; 32]),
            size: 1,
            name: name.into(),
            what: sidecar_of(video, name).unwrap(),
        }
    }

    #[test]
    fn sidecars_convert_or_say_why_not() {
        let s = sidecar("a.mkv", "a.srt");
        let vtt = sidecar_vtt(&s, b"1\n00:00:01,000 --> 00:00:02\nHi\n").unwrap();
        assert_eq!(vtt, "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nHi\n");
        let e = sidecar_vtt(&s, b"this is not subtitles").unwrap_err();
        assert!(
            e.to_string().contains("a.srt") && e.to_string().contains("no subtitle cue"),
            "{e}"
        );
        let v = sidecar("a.mkv", "a.en.vtt");
        assert!(
            sidecar_vtt(
                &v,
                "\u{feff}WEBVTT\n\n00:01.000 --> 00:02.000\nx\n".as_bytes()
            )
            .is_ok()
        );
        assert!(sidecar_vtt(&v, b"WEBVTTX\n").is_err());
        assert!(sidecar_vtt(&v, b"<html>").is_err());
        assert!(sidecar_vtt(&v, &[0xff, 0xfe]).is_err());
    }
}
