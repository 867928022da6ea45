//! What a probe found in a file ([`MediaInfo`]), parsed from ffprobe's JSON
//! (`-show_format -show_streams`) and from the container the bytes start
//! with. Pure: the caller runs ffprobe. Every field is checked and bounded
//! (string lengths, number of streams), since the file, and so ffprobe's
//! report of it, is untrusted.

use serde::{Deserialize, Serialize};

use crate::error::{Result, StreamingError};
use crate::sniff::Sniffed;

/// Streams kept per file (a hostile file may declare thousands).
pub const MAX_STREAMS: usize = 64;
/// Characters kept of any string ffprobe reports (titles, codec names).
const MAX_TEXT: usize = 200;

/// The container, as browsers and decisions care about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Container {
    Mp4,
    Mov,
    Webm,
    Matroska,
    Ogg,
    Mp3,
    Adts,
    Flac,
    Wav,
    Other,
}

impl Container {
    /// How people call it.
    pub fn label(self) -> &'static str {
        match self {
            Container::Mp4 => "MP4",
            Container::Mov => "QuickTime",
            Container::Webm => "WebM",
            Container::Matroska => "Matroska",
            Container::Ogg => "Ogg",
            Container::Mp3 => "MP3",
            Container::Adts => "AAC (ADTS)",
            Container::Flac => "FLAC",
            Container::Wav => "WAV",
            Container::Other => "other",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamKind {
    Video,
    Audio,
    Subtitle,
    /// A still picture attached to the file (an album cover), not video.
    CoverArt,
    /// Data, attachments (fonts) and anything else.
    Other,
}

/// One stream of the file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stream {
    pub index: u32,
    pub kind: StreamKind,
    /// ffprobe's codec name (`h264`, `aac`, `vp8`, `subrip`, …).
    pub codec: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pixel_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Frames per second (the average, else the stream's base rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bit_rate: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub default: bool,
    /// The stream's own duration, when the file records it (Matroska's
    /// `DURATION` tag): a video may end long before the container's last subtitle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_secs: Option<f64>,
}

/// What a probe found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MediaInfo {
    pub container: Container,
    /// ffprobe's format name (`matroska,webm`, `mov,mp4,m4a,3gp,3g2,mj2`, …).
    pub format_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format_long_name: Option<String>,
    /// `None` when the file does not say (a live recording's WebM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_secs: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bit_rate: Option<u64>,
    pub streams: Vec<Stream>,
    /// Streams the file has beyond [`MAX_STREAMS`] (not kept).
    #[serde(default)]
    pub streams_dropped: u32,
}

impl MediaInfo {
    /// The stream a player shows: the default video stream, else the first.
    pub fn video(&self) -> Option<&Stream> {
        self.primary(StreamKind::Video)
    }

    /// The stream a player plays: the default audio stream, else the first.
    pub fn audio(&self) -> Option<&Stream> {
        self.primary(StreamKind::Audio)
    }

    fn primary(&self, kind: StreamKind) -> Option<&Stream> {
        let mut of_kind = self.streams.iter().filter(|s| s.kind == kind);
        let first = of_kind.clone().next();
        of_kind.find(|s| s.default).or(first)
    }

    pub fn subtitles(&self) -> impl Iterator<Item = &Stream> {
        self.streams
            .iter()
            .filter(|s| s.kind == StreamKind::Subtitle)
    }

    /// How long there is video: the video stream's own duration when it
    /// records one shorter than the container's, else the container's.
    pub fn video_duration(&self) -> Option<f64> {
        let v = self.video()?.duration_secs;
        match (v, self.duration_secs) {
            (Some(v), Some(f)) => Some(v.min(f)),
            (v, f) => f.or(v),
        }
    }

    pub fn has_cover(&self) -> bool {
        self.streams.iter().any(|s| s.kind == StreamKind::CoverArt)
    }
}

fn text(v: &serde_json::Value) -> Option<String> {
    let s = v.as_str()?.trim();
    (!s.is_empty() && s != "N/A" && s != "unknown").then(|| s.chars().take(MAX_TEXT).collect())
}

/// A number ffprobe gives as a string ("30.022000") or a number; finite and non-negative.
fn number(v: &serde_json::Value) -> Option<f64> {
    let n = match v {
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok()?,
        serde_json::Value::Number(n) => n.as_f64()?,
        _ => return None,
    };
    (n.is_finite() && n >= 0.0).then_some(n)
}

fn count(v: &serde_json::Value) -> Option<u64> {
    let n = number(v)?;
    (n < 1e15).then_some(n as u64)
}

fn small(v: &serde_json::Value) -> Option<u32> {
    count(v)
        .and_then(|n| u32::try_from(n).ok())
        .filter(|&n| n > 0)
}

/// "30000/1001" as 29.97; `None` for "0/0" and nonsense.
fn rate(v: &serde_json::Value) -> Option<f64> {
    let s = v.as_str()?;
    let (n, d) = s.split_once('/')?;
    let (n, d) = (n.trim().parse::<f64>().ok()?, d.trim().parse::<f64>().ok()?);
    let r = n / d;
    (d > 0.0 && r.is_finite() && r > 0.0 && r < 10_000.0).then_some((r * 1000.0).round() / 1000.0)
}

fn container(format_name: &str, sniffed: Option<&Sniffed>) -> Container {
    let names: Vec<&str> = format_name.split(',').collect();
    let has = |n: &str| names.contains(&n);
    if has("matroska") || has("webm") {
        return match sniffed {
            Some(Sniffed::Ebml { doctype: Some(d) }) if d == "webm" => Container::Webm,
            _ => Container::Matroska,
        };
    }
    if has("mov") || has("mp4") {
        return match sniffed {
            Some(Sniffed::IsoBmff { brand }) if brand == "qt  " => Container::Mov,
            _ => Container::Mp4,
        };
    }
    match names.first().copied().unwrap_or("") {
        "ogg" => Container::Ogg,
        "mp3" => Container::Mp3,
        "aac" => Container::Adts,
        "flac" => Container::Flac,
        "wav" => Container::Wav,
        _ => Container::Other,
    }
}

/// Formats ffprobe reads that are still images or text, never media.
fn image_or_text(format_name: &str) -> bool {
    format_name.ends_with("_pipe")
        || matches!(
            format_name,
            "image2" | "gif" | "apng" | "tty" | "webp" | "srt" | "webvtt" | "ass" | "lrc"
        )
}

/// How long the file plays: the container's duration, unless its audio and
/// video streams record their own and end more than half a second before it
/// (a Matroska file's duration is its last packet's, a subtitle's perhaps):
/// then the longest of them.
fn playing_time(format: Option<f64>, streams: &[Stream]) -> Option<f64> {
    let format = format.filter(|d| *d > 0.0);
    let av = streams
        .iter()
        .filter(|s| matches!(s.kind, StreamKind::Video | StreamKind::Audio))
        .filter_map(|s| s.duration_secs)
        .fold(None, |m: Option<f64>, d| Some(m.map_or(d, |m| m.max(d))));
    match (format, av) {
        (Some(f), Some(a)) if f > a + 0.5 => Some(a),
        (Some(f), _) => Some(f),
        (None, a) => a,
    }
}

/// Parses ffprobe's report. `sniffed` is the container the file's bytes
/// start with (it tells WebM from Matroska).
pub fn parse_ffprobe(json: &[u8], sniffed: Option<&Sniffed>) -> Result<MediaInfo> {
    let v: serde_json::Value = serde_json::from_slice(json)
        .map_err(|e| StreamingError::Unreadable(format!("ffprobe's report is not JSON: {e}")))?;
    let format = v
        .get("format")
        .ok_or_else(|| StreamingError::Unreadable("ffprobe found no container format".into()))?;
    let format_name = text(&format["format_name"])
        .ok_or_else(|| StreamingError::Unreadable("ffprobe named no format".into()))?;
    if image_or_text(&format_name) {
        return Err(StreamingError::NotMedia(format!(
            "the file is read as {format_name}, not audio or video"
        )));
    }
    let empty = Vec::new();
    let all = v["streams"].as_array().unwrap_or(&empty);
    let mut streams = Vec::new();
    for (i, s) in all.iter().take(MAX_STREAMS).enumerate() {
        let disposition = &s["disposition"];
        let flag = |k: &str| disposition[k].as_i64() == Some(1);
        let codec = text(&s["codec_name"]).unwrap_or_else(|| "unknown".into());
        let kind = match s["codec_type"].as_str() {
            Some("video") if flag("attached_pic") => StreamKind::CoverArt,
            Some("video") => StreamKind::Video,
            Some("audio") => StreamKind::Audio,
            Some("subtitle") => StreamKind::Subtitle,
            _ => StreamKind::Other,
        };
        let tags = &s["tags"];
        streams.push(Stream {
            index: s["index"]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(i as u32),
            kind,
            codec,
            profile: text(&s["profile"]),
            pixel_format: text(&s["pix_fmt"]),
            width: small(&s["width"]),
            height: small(&s["height"]),
            frame_rate: (kind == StreamKind::Video)
                .then(|| rate(&s["avg_frame_rate"]).or_else(|| rate(&s["r_frame_rate"])))
                .flatten(),
            channels: small(&s["channels"]),
            sample_rate: small(&s["sample_rate"]),
            bit_rate: count(&s["bit_rate"]),
            language: text(&tags["language"]).filter(|l| l != "und"),
            title: text(&tags["title"]),
            default: flag("default"),
            duration_secs: number(&s["duration"])
                .or_else(|| {
                    text(&tags["DURATION"])
                        .and_then(|d| crate::subtitles::parse_timestamp(&d))
                        .map(|ms| ms as f64 / 1000.0)
                })
                .filter(|d| *d > 0.0),
        });
    }
    let info = MediaInfo {
        container: container(&format_name, sniffed),
        format_long_name: text(&format["format_long_name"]),
        format_name,
        duration_secs: playing_time(number(&format["duration"]), &streams),
        bit_rate: count(&format["bit_rate"]),
        streams_dropped: all.len().saturating_sub(MAX_STREAMS) as u32,
        streams,
    };
    if info.video().is_none() && info.audio().is_none() {
        return Err(StreamingError::NotMedia(
            "the file has no audio or video stream".into(),
        ));
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MP3_WITH_COVER: &str = r#"{"streams":[
        {"index":0,"codec_name":"mp3","codec_type":"audio","sample_rate":"44100","channels":2,"disposition":{"default":0,"attached_pic":0},"tags":{"encoder":"Lavf"}},
        {"index":1,"codec_name":"mjpeg","profile":"Baseline","codec_type":"video","width":1618,"height":1381,"r_frame_rate":"90000/1","avg_frame_rate":"0/0","disposition":{"default":0,"attached_pic":1},"tags":{"comment":"Cover (front)"}}],
        "format":{"format_name":"mp3","format_long_name":"MP2/3 (MPEG audio layer 2/3)","duration":"1.018776","bit_rate":"11997047","probe_score":50}}"#;

    #[test]
    fn duration_is_the_audio_and_videos_not_a_subtitles() {
        // The corpus's MKV: 30 s of VP8/Vorbis, its last subtitle ending at 3:21.
        let j = br#"{"streams":[
            {"index":0,"codec_name":"vp8","codec_type":"video","width":1280,"height":720,"disposition":{"default":1},"tags":{"DURATION":"00:00:30.000000000"}},
            {"index":1,"codec_name":"vorbis","codec_type":"audio","disposition":{"default":1},"tags":{"DURATION":"00:00:30.003000000"}},
            {"index":2,"codec_name":"subrip","codec_type":"subtitle","disposition":{"default":0},"tags":{"DURATION":"00:03:21.000000000"}}],
            "format":{"format_name":"matroska,webm","duration":"201.000000"}}"#;
        let i = parse_ffprobe(j, None).unwrap();
        assert_eq!(i.duration_secs, Some(30.003));
        // Streams a little shorter than the container (an MP4's edit lists): the container's.
        let j = br#"{"streams":[{"index":0,"codec_name":"h264","codec_type":"video","width":64,"height":64,"duration":"10.000000","disposition":{"default":1}}],
            "format":{"format_name":"mov,mp4,m4a,3gp,3g2,mj2","duration":"10.040000"}}"#;
        assert_eq!(parse_ffprobe(j, None).unwrap().duration_secs, Some(10.04));
        // No container duration: the streams'.
        let j = br#"{"streams":[{"index":0,"codec_name":"opus","codec_type":"audio","duration":"3.5","disposition":{"default":1}}],
            "format":{"format_name":"ogg"}}"#;
        assert_eq!(parse_ffprobe(j, None).unwrap().duration_secs, Some(3.5));
    }

    #[test]
    fn cover_art_is_not_video() {
        let i = parse_ffprobe(MP3_WITH_COVER.as_bytes(), Some(&Sniffed::Mp3)).unwrap();
        assert_eq!(i.container, Container::Mp3);
        assert!(i.video().is_none());
        assert!(i.has_cover());
        let a = i.audio().unwrap();
        assert_eq!(
            (a.codec.as_str(), a.channels, a.sample_rate),
            ("mp3", Some(2), Some(44100))
        );
        assert_eq!(i.duration_secs, Some(1.018776));
        assert_eq!(i.bit_rate, Some(11_997_047));
    }

    #[test]
    fn webm_and_matroska_are_told_apart_by_the_bytes() {
        let j = br#"{"streams":[{"index":0,"codec_name":"vp9","codec_type":"video","width":1280,"height":720,"avg_frame_rate":"15000/1001","disposition":{"default":1},"tags":{"language":"eng"}}],
                    "format":{"format_name":"matroska,webm"}}"#;
        let webm = Sniffed::Ebml {
            doctype: Some("webm".into()),
        };
        let mkv = Sniffed::Ebml {
            doctype: Some("matroska".into()),
        };
        let i = parse_ffprobe(j, Some(&webm)).unwrap();
        assert_eq!(i.container, Container::Webm);
        assert_eq!(i.duration_secs, None, "no duration is not zero");
        let v = i.video().unwrap();
        assert_eq!(
            (v.width, v.height, v.frame_rate),
            (Some(1280), Some(720), Some(14.985))
        );
        assert_eq!(v.language.as_deref(), Some("eng"));
        assert_eq!(
            parse_ffprobe(j, Some(&mkv)).unwrap().container,
            Container::Matroska
        );
        assert_eq!(
            parse_ffprobe(j, None).unwrap().container,
            Container::Matroska
        );
    }

    #[test]
    fn images_text_and_garbage_are_clear_failures() {
        let png = br#"{"streams":[{"index":0,"codec_name":"png","codec_type":"video","width":10,"height":10}],"format":{"format_name":"png_pipe"}}"#;
        assert!(matches!(
            parse_ffprobe(png, None),
            Err(StreamingError::NotMedia(_))
        ));
        let nothing =
            br#"{"streams":[{"index":0,"codec_type":"data"}],"format":{"format_name":"mpegts"}}"#;
        assert!(matches!(
            parse_ffprobe(nothing, None),
            Err(StreamingError::NotMedia(_))
        ));
        for bad in [&b"{}"[..], b"", b"[1,2", b"{\"format\":{}}", b"null"] {
            assert!(
                matches!(parse_ffprobe(bad, None), Err(StreamingError::Unreadable(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn hostile_values_are_bounded() {
        let streams: Vec<String> = (0..500)
            .map(|i| format!(r#"{{"index":{i},"codec_name":"{}","codec_type":"audio","channels":-3,"sample_rate":"1e400","bit_rate":"NaN"}}"#, "x".repeat(10_000)))
            .collect();
        let j = format!(
            r#"{{"streams":[{}],"format":{{"format_name":"ogg","duration":"-5","bit_rate":"inf"}}}}"#,
            streams.join(",")
        );
        let i = parse_ffprobe(j.as_bytes(), None).unwrap();
        assert_eq!(i.streams.len(), MAX_STREAMS);
        assert_eq!(i.streams_dropped, 500 - MAX_STREAMS as u32);
        assert_eq!(i.streams[0].codec.chars().count(), 200);
        assert_eq!(
            (
                i.streams[0].channels,
                i.streams[0].sample_rate,
                i.streams[0].bit_rate
            ),
            (None, None, None)
        );
        assert_eq!((i.duration_secs, i.bit_rate), (None, None));
    }
}
