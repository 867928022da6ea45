//! The quality ladder: which H.264/AAC renditions a video gets (360p, 480p,
//! 720p, 1080p, capped at the source's height), the segments their
//! playlists list before the transcode has run, and the one ffmpeg command
//! that makes them all. Pure.
//!
//! Every rung is one fragmented MP4 with its audio inside (so each file
//! plays whole through `<video src>` and downloads whole), with a fragment
//! at every [`SEGMENT_SECS`]: keyframes are forced at `n × SEGMENT_SECS`
//! (and nowhere else: no scene-cut or periodic keyframes), and the MP4
//! muxer starts a fragment at each keyframe. The audio ladder is two AAC
//! bit rates, 64 kb/s with the two lowest rungs and 128 kb/s with the
//! others: muxed with the video rather than a separate `EXT-X-MEDIA` audio
//! group because a separate group would leave every rendition file silent
//! when played or downloaded by itself.
//!
//! Audio alone that browsers do not decode (ALAC, WMA, AC-3, 24-bit PCM…)
//! gets an audio ladder instead: AAC at 64, 128 and 192 kb/s (`64k`,
//! `128k`, `192k`), those above the source's bit rate left out, each one
//! fragmented MP4 of 2 s fragments that plays whole in `<audio>`. Its
//! fragments are cut by duration, not at forced keyframes, so they are
//! not quite [`SEGMENT_SECS`] long and its playlists are listed only once
//! made ([`up_front`]); audio encodes at many times real time.

use std::path::Path;

use crate::decide::Decision;
use crate::info::MediaInfo;

/// The length of a segment (a fragment of every rendition), in seconds.
pub const SEGMENT_SECS: u32 = 2;

/// The largest video carrel transcodes, in pixels (beyond 8K UHD: a
/// declared size past it is refused before ffmpeg runs).
pub const MAX_SOURCE_PIXELS: u64 = 7680 * 4320;

/// One rendition of the ladder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rung {
    pub width: u32,
    pub height: u32,
    /// Video bit rate, kb/s.
    pub video_kbps: u32,
    /// Audio bit rate, kb/s (when the source has audio).
    pub audio_kbps: u32,
    /// H.264 level × 10 (31 for 3.1).
    pub level: u8,
    /// Whether it has video (else it is a rung of the audio ladder, of size 0×0).
    pub video: bool,
}

/// The audio ladder's bit rates, kb/s.
const AUDIO_RUNGS: [u32; 3] = [64, 128, 192];

/// The ladder's rungs: (height, video kb/s, audio kb/s).
const RUNGS: [(u32, u32, u32); 4] = [
    (360, 800, 64),
    (480, 1400, 64),
    (720, 2800, 128),
    (1080, 5000, 128),
];

impl Rung {
    /// Its name in URLs and the database: `720p`, or `128k` on the audio ladder.
    pub fn name(&self) -> String {
        if self.video {
            format!("{}p", self.height)
        } else {
            format!("{}k", self.audio_kbps)
        }
    }

    /// Peak bits per second of video and audio, for `BANDWIDTH` (the
    /// encoder's `maxrate` and the audio, with the container's overhead).
    pub fn bandwidth(&self, audio: bool) -> u64 {
        let audio = audio || !self.video;
        let kbps = self.maxrate_kbps() as u64 + if audio { self.audio_kbps as u64 } else { 0 };
        kbps * 1000 * 105 / 100
    }

    fn maxrate_kbps(&self) -> u32 {
        self.video_kbps * 107 / 100
    }

    /// RFC 6381 codecs: H.264 High at its level, and AAC-LC.
    pub fn codecs(&self, audio: bool) -> String {
        if !self.video {
            return "mp4a.40.2".into();
        }
        let v = format!("avc1.6400{:02x}", self.level);
        if audio { format!("{v},mp4a.40.2") } else { v }
    }

    /// `WIDTHxHEIGHT` (none on the audio ladder).
    pub fn resolution(&self) -> Option<String> {
        self.video
            .then(|| format!("{}x{}", self.width, self.height))
    }
}

/// Whether `info`'s ladder has a rung of that name (without making the
/// names: every segment request asks).
pub fn has_rung(info: &MediaInfo, name: &str) -> bool {
    if !is_rung_name(name) {
        return false;
    }
    let (number, unit) = name.split_at(name.len() - 1);
    let video = unit == "p";
    let Ok(number) = number.parse::<u32>() else {
        return false;
    };
    ladder(info)
        .iter()
        .any(|r| r.video == video && number == if video { r.height } else { r.audio_kbps })
}

/// Whether a rendition name is one a ladder can have (`360p`, `1080p`, or
/// `128k` on the audio ladder): digits then `p` or `k`, so names from URLs
/// can be matched safely.
pub fn is_rung_name(name: &str) -> bool {
    name.strip_suffix('p')
        .or_else(|| name.strip_suffix('k'))
        .is_some_and(|h| {
            (1..=4).contains(&h.len())
                && h.bytes().all(|b| b.is_ascii_digit())
                && !h.starts_with('0')
        })
}

/// The audio ladder of an audio-only file browsers do not play (nor carrel
/// repackages): the AAC rates at or below the source's bit rate (the
/// lowest always; all of them when the bit rate is not known).
fn audio_ladder(info: &MediaInfo) -> Vec<Rung> {
    let Some(a) = info.audio() else {
        return Vec::new();
    };
    if !matches!(crate::decide::decide(info), Decision::Transcode { .. }) {
        return Vec::new();
    }
    let source = a.bit_rate.or(info.bit_rate).map(|b| b / 1000);
    AUDIO_RUNGS
        .iter()
        .enumerate()
        .filter(|&(i, &k)| i == 0 || source.is_none_or(|s| k as u64 <= s))
        .map(|(_, &audio_kbps)| Rung {
            width: 0,
            height: 0,
            video_kbps: 0,
            audio_kbps,
            level: 0,
            video: false,
        })
        .collect()
}

/// Whether a file's ladder is the audio ladder.
pub fn is_audio_ladder(info: &MediaInfo) -> bool {
    ladder(info).first().is_some_and(|r| !r.video)
}

/// The ladder for a probed file: the rungs at or below the video's height
/// (a video smaller than the lowest rung gets one rung at its own height);
/// for audio alone, the audio ladder when browsers cannot play it as it is
/// or repackaged; empty without a video stream of known size.
pub fn ladder(info: &MediaInfo) -> Vec<Rung> {
    let Some(v) = info.video() else {
        return audio_ladder(info);
    };
    let (Some(w), Some(h)) = (v.width, v.height) else {
        return Vec::new();
    };
    if w == 0 || h == 0 {
        return Vec::new();
    }
    let fast = v.frame_rate.is_some_and(|f| f > 31.0);
    let width_at = |height: u32| -> u32 {
        // Even, keeping the aspect ratio (what `scale=-2:height` gives).
        let x = (w as u64 * height as u64) as f64 / h as f64;
        ((x / 2.0).round() as u32 * 2).max(2)
    };
    let level = |height: u32| -> u8 {
        match (height, fast) {
            (0..=480, false) => 30,
            (0..=480, true) | (481..=720, false) => 31,
            (481..=720, true) => 32,
            (_, false) => 40,
            (_, true) => 42,
        }
    };
    let mut out: Vec<Rung> = RUNGS
        .iter()
        .filter(|(height, _, _)| *height <= h)
        .map(|&(height, video_kbps, audio_kbps)| Rung {
            width: width_at(height),
            height,
            video_kbps,
            audio_kbps,
            level: level(height),
            video: true,
        })
        .collect();
    if out.is_empty() {
        let height = (h / 2 * 2).max(2);
        let (_, video_kbps, audio_kbps) = RUNGS[0];
        out.push(Rung {
            width: width_at(height),
            height,
            video_kbps,
            audio_kbps,
            level: level(height),
            video: true,
        });
    }
    out
}

/// The duration the renditions will have, when the probe knows it well
/// enough to list their segments before they exist: the file's duration,
/// unless it is Matroska with subtitle streams (whose duration may be the
/// last subtitle's, not the video's).
pub fn planned_duration(info: &MediaInfo) -> Option<f64> {
    let d = info.duration_secs.filter(|d| d.is_finite() && *d > 0.0)?;
    let matroska = info.format_name.contains("matroska");
    if matroska && info.subtitles().next().is_some() {
        return None;
    }
    Some(d)
}

/// The duration a ladder's playlists are listed from before its files are
/// made: [`planned_duration`] for video (whose fragments start at forced
/// keyframes on the plan's boundaries); never for the audio ladder.
pub fn up_front(info: &MediaInfo) -> Option<f64> {
    info.video().and_then(|_| planned_duration(info))
}

/// The segments' durations for a rendition of `duration` seconds: whole
/// segments of [`SEGMENT_SECS`], the last one taking the rest (a remainder
/// under a quarter of a second goes with the segment before it, where
/// there is no keyframe to start another).
pub fn segment_plan(duration: f64) -> Vec<f64> {
    let seg = SEGMENT_SECS as f64;
    if !duration.is_finite() || duration <= 0.0 {
        return Vec::new();
    }
    let n = (((duration - 0.25) / seg).ceil() as usize).max(1);
    let mut out = vec![seg; n];
    out[n - 1] = duration - seg * (n - 1) as f64;
    out
}

/// The bound on one rung's file: twice its peak bit rate over `duration`
/// (when known) plus 8 MiB, and never more than `cap`.
pub fn max_output(rung: &Rung, duration: Option<f64>, cap: u64) -> u64 {
    match duration {
        Some(d) if d.is_finite() && d > 0.0 => {
            let bytes = rung.bandwidth(true) as f64 / 8.0 * d * 2.0;
            (bytes as u64).saturating_add(8 << 20).min(cap)
        }
        _ => cap,
    }
}

/// The arguments of the one ffmpeg run that makes every rung of `rungs`
/// from `input` into `outputs` (in order), with progress on stdout.
/// `limit_secs` stops reading the input past that time (a source that
/// goes on beyond its declared duration); `segments`, the planned number
/// of segments, stops forcing keyframes after the last one's start (a last
/// frame just past a boundary would otherwise be a segment of its own).
pub fn ffmpeg_args(
    input: &Path,
    audio: bool,
    rungs: &[(Rung, &Path, u64)],
    limit_secs: Option<f64>,
    segments: Option<usize>,
) -> Vec<String> {
    let mut a: Vec<String> = [
        "-hide_banner",
        "-nostdin",
        "-nostats",
        "-v",
        "error",
        "-progress",
        "pipe:1",
        "-protocol_whitelist",
        "file",
    ]
    .map(String::from)
    .to_vec();
    a.extend(["-i".into(), format!("file:{}", input.display())]);
    if rungs.iter().all(|(r, _, _)| !r.video) {
        audio_args(&mut a, rungs, limit_secs);
        return a;
    }
    let mut graph = format!("[0:v:0]split={}", rungs.len());
    for i in 0..rungs.len() {
        graph.push_str(&format!("[s{i}]"));
    }
    for (i, (r, _, _)) in rungs.iter().enumerate() {
        graph.push_str(&format!(
            ";[s{i}]scale={}:{}:flags=bicubic,format=yuv420p[v{i}]",
            r.width, r.height
        ));
    }
    a.extend(["-filter_complex".into(), graph]);
    let seg = SEGMENT_SECS;
    for (i, (r, out, max)) in rungs.iter().enumerate() {
        a.extend(["-map".into(), format!("[v{i}]")]);
        if audio {
            a.extend(["-map".into(), "0:a:0".into()]);
        }
        if let Some(t) = limit_secs {
            a.extend(["-t".into(), format!("{t:.3}")]);
        }
        a.extend(
            [
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-profile:v",
                "high",
            ]
            .map(String::from),
        );
        a.extend([
            "-level:v".into(),
            format!("{}.{}", r.level / 10, r.level % 10),
            "-b:v".into(),
            format!("{}k", r.video_kbps),
            "-maxrate".into(),
            format!("{}k", r.maxrate_kbps()),
            "-bufsize".into(),
            format!("{}k", r.video_kbps * 2),
            // Keyframes at every segment boundary and nowhere else.
            "-force_key_frames".into(),
            match segments {
                Some(n) => format!("expr:gte(t,n_forced*{seg})*lt(n_forced,{n})"),
                None => format!("expr:gte(t,n_forced*{seg})"),
            },
            "-forced-idr".into(),
            "1".into(),
            "-sc_threshold".into(),
            "0".into(),
            "-g".into(),
            "100000".into(),
        ]);
        if audio {
            aac(&mut a, r.audio_kbps);
        }
        // Fragments start at the forced keyframes.
        fmp4_output(
            &mut a,
            &["-movflags", "+frag_keyframe+empty_moov+default_base_moof"],
            *max,
            out,
        );
    }
    a
}

/// The outputs of the audio ladder: AAC in fragmented MP4, a fragment
/// every [`SEGMENT_SECS`] (every AAC frame is a keyframe: fragments are cut
/// by duration).
fn audio_args(a: &mut Vec<String>, rungs: &[(Rung, &Path, u64)], limit_secs: Option<f64>) {
    let every_us = (SEGMENT_SECS as u64 * 1_000_000).to_string();
    for (r, out, max) in rungs {
        a.extend(["-map".into(), "0:a:0".into()]);
        if let Some(t) = limit_secs {
            a.extend(["-t".into(), format!("{t:.3}")]);
        }
        aac(a, r.audio_kbps);
        a.push("-vn".into());
        fmp4_output(
            a,
            &[
                "-movflags",
                "+empty_moov+default_base_moof",
                "-frag_duration",
                &every_us,
            ],
            *max,
            out,
        );
    }
}

/// A rung's audio: AAC-LC, stereo, at `kbps`.
fn aac(a: &mut Vec<String>, kbps: u32) {
    a.extend([
        "-c:a".into(),
        "aac".into(),
        "-b:a".into(),
        format!("{kbps}k"),
        "-ac".into(),
        "2".into(),
    ]);
}

/// The end of a rung's output: no subtitles, data, metadata or chapters;
/// fragmented MP4 cut as `fragments` say, each fragment reaching the file
/// when it is complete (segments are served as they come); at most `max`
/// bytes, at `out`.
fn fmp4_output(a: &mut Vec<String>, fragments: &[&str], max: u64, out: &Path) {
    a.extend(
        ["-sn", "-dn", "-map_metadata", "-1", "-map_chapters", "-1"]
            .into_iter()
            .chain(fragments.iter().copied())
            .chain(["-flush_packets", "1", "-fs"])
            .map(String::from),
    );
    a.extend([
        max.to_string(),
        "-f".into(),
        "mp4".into(),
        "-y".into(),
        format!("file:{}", out.display()),
    ]);
}

/// ffmpeg's `-progress` output so far: the media time reached, in seconds
/// (`out_time_us`, else `out_time_ms`, which ffmpeg also gives in µs), and
/// whether it said `progress=end`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Progress {
    pub secs: f64,
    pub end: bool,
}

impl Progress {
    /// Takes in one `key=value` line.
    pub fn line(&mut self, line: &str) {
        let Some((k, v)) = line.trim().split_once('=') else {
            return;
        };
        match k {
            "out_time_us" | "out_time_ms" => {
                if let Ok(us) = v.parse::<i64>()
                    && us >= 0
                {
                    self.secs = us as f64 / 1e6;
                }
            }
            "progress" => self.end = v == "end",
            _ => {}
        }
    }

    /// The fraction done of `duration` (0 to 1; 1 once ffmpeg said so).
    pub fn fraction(&self, duration: Option<f64>) -> f64 {
        if self.end {
            return 1.0;
        }
        match duration {
            Some(d) if d > 0.0 => (self.secs / d).clamp(0.0, 0.99),
            _ => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::info::{Container, Stream, StreamKind};

    fn video(w: u32, h: u32, fps: f64, subs: bool, container: &str) -> MediaInfo {
        let s = |index, kind, codec: &str| Stream {
            index,
            kind,
            codec: codec.into(),
            profile: None,
            pixel_format: None,
            width: None,
            height: None,
            frame_rate: None,
            channels: None,
            sample_rate: None,
            bit_rate: None,
            language: None,
            title: None,
            duration_secs: None,
            default: false,
        };
        let mut v = s(0, StreamKind::Video, "hevc");
        v.width = Some(w);
        v.height = Some(h);
        v.frame_rate = Some(fps);
        let mut streams = vec![v, s(1, StreamKind::Audio, "ac3")];
        if subs {
            streams.push(s(2, StreamKind::Subtitle, "subrip"));
        }
        MediaInfo {
            container: Container::Matroska,
            format_name: container.into(),
            format_long_name: None,
            duration_secs: Some(30.003),
            bit_rate: None,
            streams,
            streams_dropped: 0,
        }
    }

    fn audio_only(container: Container, codec: &str, kbps: Option<u64>) -> MediaInfo {
        let mut i = video(2, 2, 25.0, false, "mov,mp4,m4a,3gp,3g2,mj2");
        i.container = container;
        i.streams.remove(0);
        i.streams[0].codec = codec.into();
        i.streams[0].bit_rate = kbps.map(|k| k * 1000);
        i
    }

    #[test]
    fn audio_browsers_do_not_play_gets_an_audio_ladder() {
        let names = |i: &MediaInfo| ladder(i).iter().map(Rung::name).collect::<Vec<_>>();
        let alac = audio_only(Container::Mp4, "alac", Some(700));
        assert_eq!(names(&alac), ["64k", "128k", "192k"]);
        assert!(is_audio_ladder(&alac) && up_front(&alac).is_none());
        assert_eq!(names(&audio_only(Container::Mp4, "ac3", Some(96))), ["64k"]);
        assert_eq!(
            names(&audio_only(Container::Other, "wmav2", Some(128))),
            ["64k", "128k"]
        );
        assert_eq!(
            names(&audio_only(Container::Wav, "pcm_s24le", None)),
            ["64k", "128k", "192k"]
        );
        // Played as they are, or repackaged: no ladder.
        assert!(ladder(&audio_only(Container::Mp3, "mp3", Some(320))).is_empty());
        assert!(ladder(&audio_only(Container::Matroska, "aac", Some(320))).is_empty());
        let r = &ladder(&alac)[1];
        assert_eq!((r.codecs(true), r.resolution()), ("mp4a.40.2".into(), None));
        assert!(r.bandwidth(false) >= 128_000);
        let out = std::path::PathBuf::from("/tmp/o-128k.mp4");
        let a = ffmpeg_args(
            Path::new("/in"),
            true,
            &[(r.clone(), out.as_path(), 1000)],
            Some(12.0),
            None,
        );
        let s = a.join(" ");
        assert!(s.contains("-map 0:a:0 -t 12.000 -c:a aac -b:a 128k"), "{s}");
        assert!(
            s.contains("-frag_duration 2000000") && s.contains("-vn"),
            "{s}"
        );
        assert!(
            !s.contains("libx264") && !s.contains("-filter_complex"),
            "{s}"
        );
        assert!(s.ends_with("-f mp4 -y file:/tmp/o-128k.mp4"), "{s}");
    }

    #[test]
    fn rungs_are_found_by_name_as_the_ladder_names_them() {
        for info in [
            video(1920, 1080, 25.0, false, "matroska,webm"),
            video(1280, 720, 25.0, false, "matroska,webm"),
            audio_only(Container::Mp4, "alac", Some(700)),
            audio_only(Container::Mp4, "ac3", Some(96)),
        ] {
            let names: Vec<String> = ladder(&info).iter().map(Rung::name).collect();
            for n in [
                "360p", "480p", "720p", "1080p", "1440p", "64k", "128k", "192k", "0360p", "360",
                "p", "k", "360k", "64p", "master", "", "99999p",
            ] {
                assert_eq!(
                    has_rung(&info, n),
                    names.iter().any(|m| m == n),
                    "{n} in {names:?}"
                );
            }
        }
    }

    #[test]
    fn ladder_is_capped_at_the_source() {
        let names = |i: &MediaInfo| ladder(i).iter().map(Rung::name).collect::<Vec<_>>();
        assert_eq!(
            names(&video(1920, 1080, 25.0, false, "mp4")),
            ["360p", "480p", "720p", "1080p"]
        );
        assert_eq!(
            names(&video(1280, 720, 24.0, false, "mp4")),
            ["360p", "480p", "720p"]
        );
        assert_eq!(
            names(&video(3840, 2160, 24.0, false, "mp4")),
            ["360p", "480p", "720p", "1080p"]
        );
        assert_eq!(names(&video(640, 360, 25.0, false, "mp4")), ["360p"]);
        // Smaller than the lowest rung: one rung at its own (even) height.
        let small = ladder(&video(321, 241, 25.0, false, "mp4"));
        assert_eq!(small.len(), 1);
        assert_eq!((small[0].width, small[0].height), (320, 240));
        // Widths keep the aspect ratio and are even.
        let l = ladder(&video(1920, 1080, 25.0, false, "mp4"));
        assert_eq!(
            l.iter().filter_map(Rung::resolution).collect::<Vec<_>>(),
            ["640x360", "854x480", "1280x720", "1920x1080"]
        );
        assert!(ladder(&video(0, 0, 25.0, false, "mp4")).is_empty());
    }

    #[test]
    fn bitrates_levels_and_codecs() {
        let l = ladder(&video(1920, 1080, 25.0, false, "mp4"));
        assert_eq!(
            l.iter().map(|r| r.video_kbps).collect::<Vec<_>>(),
            [800, 1400, 2800, 5000]
        );
        assert_eq!(
            l.iter().map(|r| r.audio_kbps).collect::<Vec<_>>(),
            [64, 64, 128, 128]
        );
        assert_eq!(l[3].codecs(true), "avc1.640028,mp4a.40.2");
        assert_eq!(l[0].codecs(false), "avc1.64001e");
        assert!(
            l.windows(2)
                .all(|w| w[0].bandwidth(true) < w[1].bandwidth(true))
        );
        let fast = ladder(&video(1920, 1080, 59.94, false, "mp4"));
        assert_eq!(fast[3].level, 42);
        assert_eq!(fast[2].level, 32);
    }

    #[test]
    fn segments_planned_from_the_duration() {
        let p = segment_plan(10.04);
        assert_eq!(p[..4], [2.0; 4]);
        assert!(p.len() == 5 && (p[4] - 2.04).abs() < 1e-9, "{p:?}");
        let p = segment_plan(30.003);
        assert_eq!(p.len(), 15);
        assert!((p.iter().sum::<f64>() - 30.003).abs() < 1e-9);
        assert_eq!(segment_plan(4.0), vec![2.0, 2.0]);
        assert_eq!(segment_plan(4.3).len(), 3);
        assert_eq!(segment_plan(0.5), vec![0.5]);
        assert!(segment_plan(0.0).is_empty());
        assert!(segment_plan(f64::NAN).is_empty());
    }

    #[test]
    fn duration_trusted_unless_matroska_subtitles_may_set_it() {
        assert_eq!(
            planned_duration(&video(1280, 720, 24.0, false, "matroska,webm")),
            Some(30.003)
        );
        assert_eq!(
            planned_duration(&video(1280, 720, 24.0, true, "matroska,webm")),
            None
        );
        assert_eq!(
            planned_duration(&video(1280, 720, 24.0, true, "mov,mp4,m4a,3gp,3g2,mj2")),
            Some(30.003)
        );
        let mut none = video(1280, 720, 24.0, false, "matroska,webm");
        none.duration_secs = None;
        assert_eq!(planned_duration(&none), None);
    }

    #[test]
    fn rung_names() {
        assert!(is_rung_name("360p") && is_rung_name("1080p") && is_rung_name("240p"));
        assert!(is_rung_name("64k") && is_rung_name("192k"));
        for bad in [
            "p",
            "0p",
            "k",
            "0k",
            "128kp",
            "12345k",
            "12345p",
            "360",
            "../p",
            "360p.m3u8",
            "36 0p",
            "",
        ] {
            assert!(!is_rung_name(bad), "{bad}");
        }
    }

    #[test]
    fn one_command_for_the_whole_ladder() {
        let l = ladder(&video(1280, 720, 24.0, false, "mp4"));
        let outs: Vec<std::path::PathBuf> = l
            .iter()
            .map(|r| format!("/tmp/o-{}.mp4", r.name()).into())
            .collect();
        let rungs: Vec<(Rung, &Path, u64)> = l
            .iter()
            .zip(&outs)
            .map(|(r, o)| (r.clone(), o.as_path(), 1000))
            .collect();
        let a = ffmpeg_args(Path::new("/in"), true, &rungs, Some(35.0), Some(18));
        let s = a.join(" ");
        assert!(s.contains("-i file:/in"));
        assert!(s.contains("[0:v:0]split=3[s0][s1][s2];[s0]scale=640:360"));
        assert_eq!(a.iter().filter(|x| *x == "libx264").count(), 3);
        assert_eq!(a.iter().filter(|x| *x == "0:a:0").count(), 3);
        assert_eq!(
            a.iter()
                .filter(|x| *x == "expr:gte(t,n_forced*2)*lt(n_forced,18)")
                .count(),
            3
        );
        assert!(s.contains("-b:a 64k") && s.contains("-b:a 128k"));
        assert!(s.ends_with("-f mp4 -y file:/tmp/o-720p.mp4"));
        assert!(s.contains("-t 35.000"));
        let silent = ffmpeg_args(Path::new("/in"), false, &rungs, None, None);
        assert!(
            !silent
                .iter()
                .any(|x| x == "0:a:0" || x == "-c:a" || x == "-t")
        );
        assert!(silent.iter().any(|x| x == "expr:gte(t,n_forced*2)"));
    }

    #[test]
    fn progress_lines() {
        let mut p = Progress::default();
        for l in ["frame=10", "out_time_us=5000000", "progress=continue"] {
            p.line(l);
        }
        assert_eq!(p.secs, 5.0);
        assert!((p.fraction(Some(10.0)) - 0.5).abs() < 1e-9);
        p.line("out_time_us=N/A");
        assert_eq!(p.secs, 5.0);
        assert_eq!(p.fraction(None), 0.0);
        p.line("out_time_us=20000000");
        assert_eq!(p.fraction(Some(10.0)), 0.99);
        p.line("progress=end");
        assert_eq!(p.fraction(Some(10.0)), 1.0);
    }

    #[test]
    fn output_bound() {
        let r = &ladder(&video(1280, 720, 24.0, false, "mp4"))[0];
        let b = max_output(r, Some(10.0), u64::MAX);
        assert!(b > 2 * 800_000 / 8 * 10 && b < 8 << 21, "{b}");
        assert_eq!(max_output(r, None, 12345), 12345);
        assert_eq!(max_output(r, Some(1e9), 12345), 12345);
    }
}
