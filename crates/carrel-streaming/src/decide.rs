//! How a browser gets to play a file (after Jellyfin's direct play / remux /
//! transcode): as it is, repackaged into MP4 without touching the streams,
//! or re-encoded (the quality ladder). Only what carrel does is decided:
//! streams browsers decode in a container they do not play (VP8 in
//! Matroska) are re-encoded when MP4 cannot carry them, since carrel
//! repackages only into MP4. Pure: a function of what the probe found.
//! Subtitles do not enter into it (they are converted to WebVTT apart).

use serde::{Deserialize, Serialize};

use crate::info::{Container, MediaInfo, Stream};

/// A container carrel repackages or encodes into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// MP4 (fragmented, for HLS): H.264 with AAC or MP3 copied; the ladder's H.264/AAC.
    Mp4,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Browsers play the file as it is.
    DirectPlay,
    /// The streams are fine; the container is not: copy them into `to`.
    Remux { to: Target },
    /// Re-encoded into `to` (the quality ladder, or the audio ladder):
    /// `video` and `audio` say which of the streams browsers do not decode
    /// at all (neither: they do, but not in this container, and `to` cannot
    /// carry them).
    Transcode {
        to: Target,
        video: bool,
        audio: bool,
    },
}

impl Decision {
    /// Its name in the JSON API.
    pub fn code(self) -> &'static str {
        match self {
            Decision::DirectPlay => "direct_play",
            Decision::Remux { .. } => "remux",
            Decision::Transcode { .. } => "transcode",
        }
    }

    /// One line for people.
    pub fn verdict(self) -> &'static str {
        match self {
            Decision::DirectPlay => "plays directly",
            Decision::Remux { .. } => "will be repackaged",
            Decision::Transcode { .. } => "needs transcoding",
        }
    }
}

/// Pixels above which video is re-encoded (scaled down) whatever its codec: beyond 4K DCI.
const MAX_PIXELS: u64 = 4096 * 2304;

/// Whether browsers decode this video stream (codec, and for H.264 its
/// profile: 10-bit and 4:2:2/4:4:4 profiles are not widely decoded).
fn video_ok(s: &Stream) -> bool {
    let pixels = s.width.unwrap_or(0) as u64 * s.height.unwrap_or(0) as u64;
    if pixels > MAX_PIXELS {
        return false;
    }
    match s.codec.as_str() {
        "h264" => {
            let p = s.profile.as_deref().unwrap_or("").to_ascii_lowercase();
            let pix = s.pixel_format.as_deref().unwrap_or("yuv420p");
            !(p.contains("10") || p.contains("4:2:2") || p.contains("4:4:4"))
                && matches!(pix, "yuv420p" | "yuvj420p")
        }
        "vp8" | "vp9" | "av1" => true,
        _ => false,
    }
}

/// Whether browsers decode a video stream at all (in some container).
fn video_decoded(s: &Stream) -> bool {
    video_ok(s) && matches!(s.codec.as_str(), "h264" | "vp8" | "vp9" | "av1")
}

/// Whether browsers decode an audio stream at all (in some container).
fn audio_decoded(s: &Stream) -> bool {
    matches!(
        s.codec.as_str(),
        "aac" | "mp3" | "vorbis" | "opus" | "flac" | "pcm_u8" | "pcm_s16le" | "pcm_f32le"
    )
}

/// Whether the streams can be copied into MP4 as they are: H.264 (that
/// browsers decode) with AAC or MP3.
fn fits_mp4(video: Option<&Stream>, audio: Option<&Stream>) -> bool {
    video.is_none_or(|v| video_ok(v) && v.codec == "h264")
        && audio.is_none_or(|a| matches!(a.codec.as_str(), "aac" | "mp3"))
}

/// Whether a file with video plays as it is in a WebM container.
fn webm_direct(video: Option<&Stream>, audio: Option<&Stream>) -> bool {
    video.is_none_or(|v| video_ok(v) && matches!(v.codec.as_str(), "vp8" | "vp9" | "av1"))
        && audio.is_none_or(|a| matches!(a.codec.as_str(), "vorbis" | "opus"))
}

/// Whether browsers play an audio-only file in this container as it is.
fn audio_direct(container: Container, codec: &str) -> bool {
    match container {
        Container::Mp3 => codec == "mp3",
        Container::Adts => codec == "aac",
        Container::Flac => codec == "flac",
        Container::Ogg => matches!(codec, "vorbis" | "opus" | "flac"),
        Container::Webm => matches!(codec, "vorbis" | "opus"),
        Container::Mp4 => matches!(codec, "aac" | "mp3" | "flac" | "opus"),
        // 8- and 16-bit integer and 32-bit float PCM; not A-law, μ-law or 24-bit.
        Container::Wav => matches!(codec, "pcm_u8" | "pcm_s16le" | "pcm_f32le"),
        Container::Mov | Container::Matroska | Container::Other => false,
    }
}

/// The decision for a probed file.
pub fn decide(info: &MediaInfo) -> Decision {
    let (video, audio) = (info.video(), info.audio());
    let direct = match (video, info.container) {
        (None, c) => audio.is_some_and(|a| audio_direct(c, &a.codec)),
        (Some(_), Container::Mp4 | Container::Mov) => fits_mp4(video, audio),
        (Some(_), Container::Webm) => webm_direct(video, audio),
        (Some(_), _) => false,
    };
    if direct {
        return Decision::DirectPlay;
    }
    if fits_mp4(video, audio) {
        return Decision::Remux { to: Target::Mp4 };
    }
    Decision::Transcode {
        to: Target::Mp4,
        video: video.is_some_and(|v| !video_decoded(v)),
        audio: audio.is_some_and(|a| !audio_decoded(a)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::info::StreamKind;

    fn stream(kind: StreamKind, codec: &str) -> Stream {
        Stream {
            index: 0,
            kind,
            codec: codec.into(),
            profile: None,
            pixel_format: None,
            width: (kind == StreamKind::Video).then_some(1280),
            height: (kind == StreamKind::Video).then_some(720),
            frame_rate: None,
            channels: None,
            sample_rate: None,
            bit_rate: None,
            language: None,
            title: None,
            default: true,
            duration_secs: None,
        }
    }

    fn info(container: Container, video: Option<&str>, audio: Option<&str>) -> MediaInfo {
        let mut streams = Vec::new();
        if let Some(v) = video {
            streams.push(stream(StreamKind::Video, v));
        }
        if let Some(a) = audio {
            streams.push(stream(StreamKind::Audio, a));
        }
        MediaInfo {
            container,
            format_name: "test".into(),
            format_long_name: None,
            duration_secs: Some(1.0),
            bit_rate: None,
            streams,
            streams_dropped: 0,
        }
    }

    const DIRECT: Decision = Decision::DirectPlay;
    const REMUX_MP4: Decision = Decision::Remux { to: Target::Mp4 };
    const fn tx(to: Target, video: bool, audio: bool) -> Decision {
        Decision::Transcode { to, video, audio }
    }

    #[test]
    fn table() {
        use Container::*;
        use Target::Mp4 as M;
        let cases: &[(Container, Option<&str>, Option<&str>, Decision)] = &[
            // Video that plays as it is.
            (Mp4, Some("h264"), Some("aac"), DIRECT),
            (Mp4, Some("h264"), Some("mp3"), DIRECT),
            (Mp4, Some("h264"), None, DIRECT),
            (Mov, Some("h264"), Some("aac"), DIRECT),
            (Webm, Some("vp8"), Some("vorbis"), DIRECT),
            (Webm, Some("vp9"), Some("opus"), DIRECT),
            (Webm, Some("av1"), Some("opus"), DIRECT),
            (Webm, Some("vp9"), None, DIRECT),
            // Fine streams in the wrong container: copied into MP4 when it
            // carries them, else re-encoded (carrel makes no WebM).
            (Matroska, Some("h264"), Some("aac"), REMUX_MP4),
            (Matroska, Some("vp8"), Some("vorbis"), tx(M, false, false)),
            (Matroska, Some("vp9"), Some("opus"), tx(M, false, false)),
            (Other, Some("h264"), Some("mp3"), REMUX_MP4),
            (Mp4, Some("vp9"), Some("opus"), tx(M, false, false)),
            (Webm, Some("h264"), Some("aac"), REMUX_MP4),
            // Streams browsers do not decode.
            (Matroska, Some("hevc"), Some("aac"), tx(M, true, false)),
            (Mp4, Some("h264"), Some("ac3"), tx(M, false, true)),
            (Matroska, Some("h264"), Some("dts"), tx(M, false, true)),
            (Webm, Some("vp9"), Some("ac3"), tx(M, false, true)),
            (Other, Some("mpeg4"), Some("mp3"), tx(M, true, false)),
            (Other, Some("wmv2"), Some("wmav2"), tx(M, true, true)),
            (Mp4, Some("hevc"), Some("eac3"), tx(M, true, true)),
            // Audio only.
            (Mp3, None, Some("mp3"), DIRECT),
            (Adts, None, Some("aac"), DIRECT),
            (Mp4, None, Some("aac"), DIRECT),
            (Flac, None, Some("flac"), DIRECT),
            (Ogg, None, Some("vorbis"), DIRECT),
            (Ogg, None, Some("opus"), DIRECT),
            (Webm, None, Some("opus"), DIRECT),
            (Wav, None, Some("pcm_s16le"), DIRECT),
            (Matroska, None, Some("opus"), tx(M, false, false)),
            (Matroska, None, Some("aac"), REMUX_MP4),
            (Wav, None, Some("pcm_s24le"), tx(M, false, true)),
            (Mp4, None, Some("alac"), tx(M, false, true)),
            (Other, None, Some("wmav2"), tx(M, false, true)),
        ];
        for (c, v, a, want) in cases {
            assert_eq!(decide(&info(*c, *v, *a)), *want, "{c:?} {v:?} {a:?}");
        }
    }

    #[test]
    fn profiles_and_sizes_browsers_do_not_decode() {
        let mut i = info(Container::Mp4, Some("h264"), Some("aac"));
        i.streams[0].profile = Some("High 10".into());
        assert_eq!(decide(&i), tx(Target::Mp4, true, false));
        i.streams[0].profile = Some("High".into());
        i.streams[0].pixel_format = Some("yuv444p".into());
        assert_eq!(decide(&i), tx(Target::Mp4, true, false));
        i.streams[0].pixel_format = Some("yuv420p".into());
        assert_eq!(decide(&i), DIRECT);
        i.streams[0].width = Some(16384);
        i.streams[0].height = Some(16384);
        assert_eq!(
            decide(&i),
            tx(Target::Mp4, true, false),
            "a huge frame is scaled down"
        );
    }

    #[test]
    fn the_default_audio_track_decides() {
        let mut i = info(Container::Webm, Some("vp9"), Some("ac3"));
        let mut opus = stream(StreamKind::Audio, "opus");
        i.streams[1].default = false;
        opus.default = true;
        i.streams.push(opus);
        assert_eq!(decide(&i), DIRECT);
    }

    #[test]
    fn cover_art_does_not_make_audio_video() {
        let mut i = info(Container::Mp3, None, Some("mp3"));
        i.streams.push(stream(StreamKind::CoverArt, "mjpeg"));
        assert_eq!(decide(&i), DIRECT);
    }
}
