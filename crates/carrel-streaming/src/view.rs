//! What share pages and the JSON API show of a probed file.

use carrel_db::{MediaProbe, MediaRendition, ProbeOutcome, RenditionOutcome};
use carrel_http::media::{MediaView, Player, PlayerQuality, PlayerTrack, Sidecar};
use serde_json::json;

use crate::decide::{Decision, decide};
use crate::info::{MediaInfo, Stream};

/// Not probed yet.
pub fn pending() -> MediaView {
    MediaView {
        verdict: "being examined…".into(),
        facts: Vec::new(),
        json: json!({ "state": "pending" }),
        unreadable: false,
        play: None,
        player: Player::default(),
    }
}

fn failed(why: &str) -> MediaView {
    MediaView {
        verdict: format!("could not read: {why}"),
        facts: Vec::new(),
        json: json!({ "state": "failed", "error": why }),
        unreadable: true,
        play: None,
        player: Player::default(),
    }
}

/// `1:02:03` or `2:03.5`.
pub fn duration(secs: f64) -> String {
    let tenths = (secs * 10.0).round() as u64;
    let (h, m, s, t) = (
        tenths / 36_000,
        tenths / 600 % 60,
        tenths / 10 % 60,
        tenths % 10,
    );
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}.{t}")
    }
}

fn codec_label(codec: &str) -> String {
    match codec {
        "h264" => "H.264".into(),
        "hevc" => "HEVC (H.265)".into(),
        "vp8" => "VP8".into(),
        "vp9" => "VP9".into(),
        "av1" => "AV1".into(),
        "aac" => "AAC".into(),
        "mp3" => "MP3".into(),
        "opus" => "Opus".into(),
        "vorbis" => "Vorbis".into(),
        "flac" => "FLAC".into(),
        "alac" => "ALAC".into(),
        "ac3" => "AC-3".into(),
        "eac3" => "E-AC-3".into(),
        "dts" => "DTS".into(),
        "wmav1" | "wmav2" | "wmapro" => "WMA".into(),
        "subrip" => "SubRip".into(),
        "webvtt" => "WebVTT".into(),
        c if c.starts_with("pcm_") => format!("PCM ({})", &c[4..]),
        c => c.to_owned(),
    }
}

fn video_line(v: &Stream) -> String {
    let mut s = codec_label(&v.codec);
    // Named profiles ("High", "Main 10"); VP8's "0" and the like say nothing.
    if let Some(p) = v
        .profile
        .as_deref()
        .filter(|p| p.chars().any(char::is_alphabetic))
    {
        s.push_str(&format!(" {p}"));
    }
    if let (Some(w), Some(h)) = (v.width, v.height) {
        s.push_str(&format!(", {w}×{h}"));
    }
    if let Some(r) = v.frame_rate {
        s.push_str(&format!(", {} fps", (r * 100.0).round() / 100.0));
    }
    s
}

fn audio_line(a: &Stream) -> String {
    let mut s = codec_label(&a.codec);
    match a.channels {
        Some(1) => s.push_str(", mono"),
        Some(2) => s.push_str(", stereo"),
        Some(n) => s.push_str(&format!(", {n} channels")),
        None => {}
    }
    if let Some(r) = a.sample_rate {
        s.push_str(&format!(", {} kHz", r as f64 / 1000.0));
    }
    if let Some(l) = &a.language {
        s.push_str(&format!(" ({l})"));
    }
    s
}

/// Why the decision is what it is, and what the page plays, in a few words.
fn decision_reason(d: Decision, info: &MediaInfo) -> String {
    let label = |s: Option<&Stream>| s.map_or_else(String::new, |s| codec_label(&s.codec));
    let (v, a) = (label(info.video()), label(info.audio()));
    match d {
        Decision::DirectPlay => "browsers play this container and these codecs as they are".into(),
        Decision::Remux { to } => format!(
            "browsers play these codecs but not this container: the streams are copied into {}, not re-encoded",
            target(to)
        ),
        Decision::Transcode { to, video, audio } => {
            let why = match (video, audio) {
                (true, true) => {
                    format!("browsers do not decode its video ({v}) or its audio ({a})")
                }
                (true, false) => format!("browsers do not decode its video ({v})"),
                (false, true) => format!("browsers do not decode its audio ({a})"),
                (false, false) => {
                    let codecs = [v, a]
                        .into_iter()
                        .filter(|c| !c.is_empty())
                        .collect::<Vec<_>>()
                        .join(" and ");
                    format!(
                        "browsers decode {codecs}, but not in {}, and {} (what carrel repackages into) does not carry them",
                        info.container.label(),
                        target(to)
                    )
                }
            };
            let what = if info.video().is_some() {
                "the page plays the quality ladder, re-encoded into H.264 and AAC"
            } else {
                "the page plays the audio ladder, re-encoded into AAC"
            };
            format!("{why}: {what} in {}", target(to))
        }
    }
}

fn target(t: crate::decide::Target) -> &'static str {
    match t {
        crate::decide::Target::Mp4 => "MP4",
    }
}

fn ready(info: &MediaInfo) -> MediaView {
    let d = decide(info);
    let (v, a) = (info.video(), info.audio());
    let mut facts = Vec::new();
    if let Some(s) = info.duration_secs {
        facts.push(("Duration".into(), duration(s)));
    } else {
        facts.push(("Duration".into(), "not recorded in the file".into()));
    }
    facts.push(("Container".into(), info.container.label().into()));
    if let Some(v) = v {
        facts.push(("Video".into(), video_line(v)));
    }
    if let Some(a) = a {
        facts.push(("Audio".into(), audio_line(a)));
    }
    let subs: Vec<String> = info
        .subtitles()
        .map(|s| {
            let l = s
                .language
                .clone()
                .unwrap_or_else(|| "unknown language".into());
            format!("{} ({l})", codec_label(&s.codec))
        })
        .collect();
    if !subs.is_empty() {
        facts.push(("Subtitles".into(), subs.join(", ")));
    }
    if info.has_cover() {
        facts.push(("Cover art".into(), "yes".into()));
    }
    if let Some(b) = info.bit_rate {
        facts.push(("Bit rate".into(), format!("{} kb/s", b / 1000)));
    }
    facts.push(("Why".into(), decision_reason(d, info)));
    let (to, tv, ta) = match d {
        Decision::DirectPlay => (None, false, false),
        Decision::Remux { to } => (Some(to), false, false),
        Decision::Transcode { to, video, audio } => (Some(to), video, audio),
    };
    MediaView {
        verdict: d.verdict().into(),
        facts,
        json: json!({
            "state": "ready",
            "decision": d.code(),
            "verdict": d.verdict(),
            "target": to,
            "transcode_video": tv,
            "transcode_audio": ta,
            "container": info.container,
            "duration_secs": info.duration_secs,
            "width": v.and_then(|v| v.width),
            "height": v.and_then(|v| v.height),
            "video_codec": v.map(|v| v.codec.clone()),
            "audio_codec": a.map(|a| a.codec.clone()),
            "subtitles": info.subtitles().count(),
            "cover_art": info.has_cover(),
            "info": info,
        }),
        unreadable: false,
        play: None,
        player: Player::default(),
    }
}

/// Adds what became of a remuxed file's rendition: ready (the page plays
/// it), failed (why), or still to come ("preparing…").
pub fn with_rendition(v: &mut MediaView, r: Option<&RenditionOutcome>) {
    let state = match r {
        Some(RenditionOutcome::Ready(_)) => {
            v.verdict = "repackaged for browsers".into();
            v.play = Some("hls/remux.mp4".into());
            v.facts
                .push(("Stream".into(), "ready: HLS at hls/master.m3u8".into()));
            "ready"
        }
        Some(RenditionOutcome::Failed(why)) => {
            v.facts
                .push(("Stream".into(), format!("could not be prepared: {why}")));
            "failed"
        }
        None => {
            v.verdict = "preparing…".into();
            v.facts.push(("Stream".into(), "preparing…".into()));
            "preparing"
        }
    };
    if let Some(o) = v.json.as_object_mut() {
        o.insert("rendition".into(), json!(state));
        if state == "ready" {
            o.insert("hls".into(), json!("hls/master.m3u8"));
        }
    }
}

/// Adds the subtitle tracks (embedded, then sidecars) and the pictures
/// (poster, seek thumbnails) to the view and its player, from the source's
/// renditions.
pub fn with_extras(
    v: &mut MediaView,
    info: Option<&MediaInfo>,
    renditions: &[MediaRendition],
    sidecars: &[Sidecar],
) {
    let made = |name: &str| {
        renditions
            .iter()
            .find(|r| r.name == name)
            .map(|r| &r.outcome)
    };
    let mut tracks = Vec::new();
    for t in crate::tracks::list(info, sidecars) {
        let src = format!("subs/{}.vtt", t.index);
        let (state, error, kind) = match &t.source {
            crate::tracks::TrackSource::Embedded { stream, .. } => {
                match made(&crate::tracks::rendition_name(*stream)) {
                    Some(RenditionOutcome::Ready(_)) => ("ready", None, "embedded"),
                    Some(RenditionOutcome::Failed(why)) => {
                        ("failed", Some(why.clone()), "embedded")
                    }
                    None => ("preparing", None, "embedded"),
                }
            }
            crate::tracks::TrackSource::Sidecar(_) => ("ready", None, "sidecar"),
        };
        if state == "ready" {
            v.player.tracks.push(PlayerTrack {
                src: src.clone(),
                label: t.label.clone(),
                srclang: t.language.as_ref().map(|l| l.to_string()),
            });
        }
        let mut j = json!({
            "src": src,
            "label": t.label,
            "language": t.language.as_ref().map(|l| l.to_string()),
            "source": kind,
            "state": state,
        });
        if let crate::tracks::TrackSource::Sidecar(s) = &t.source {
            j["file_name"] = json!(s.name);
        }
        if let Some(e) = error {
            j["error"] = json!(e);
        }
        tracks.push(j);
    }
    let shown: Vec<String> = v.player.tracks.iter().map(|t| t.label.clone()).collect();
    if !shown.is_empty() {
        v.facts.push(("Subtitle tracks".into(), shown.join(", ")));
    }
    let has_video = info.is_some_and(|i| i.video().is_some());
    let mut pictures = serde_json::Map::new();
    if has_video {
        // Settled when the seek thumbnails' row is written (made or
        // failed): the last of the job, after the ladder for a transcoded
        // file; the poster's outcome says how.
        let state = match (made(crate::images::THUMBS), made(crate::images::POSTER)) {
            (None, _) | (_, None) => "preparing",
            (_, Some(RenditionOutcome::Ready(_))) => "ready",
            (_, Some(RenditionOutcome::Failed(_))) => "failed",
        };
        pictures.insert("pictures".into(), json!(state));
        for (name, file, field) in [
            (crate::images::POSTER, "media/poster.jpg", "poster"),
            (crate::images::SPRITE, "media/sprite.jpg", "sprite"),
            (crate::images::THUMBS, "media/thumbs.vtt", "thumbnails"),
        ] {
            let ready = matches!(made(name), Some(RenditionOutcome::Ready(_)));
            pictures.insert(field.into(), if ready { json!(file) } else { json!(null) });
            if ready && name == crate::images::POSTER {
                v.player.poster = Some(file.into());
            }
            if ready && name == crate::images::THUMBS {
                v.player.thumbnails = Some(file.into());
            }
        }
    }
    if let Some(o) = v.json.as_object_mut() {
        o.insert("tracks".into(), json!(tracks));
        o.extend(pictures);
    }
}

/// Where a file's quality ladder is.
#[derive(Clone, Debug, PartialEq)]
pub enum LadderState {
    /// Waiting for a transcode worker.
    Queued,
    /// Being transcoded: the fraction done.
    Running(f64),
    /// Made: the rungs' names, lowest first.
    Ready(Vec<String>),
    /// Could not be made (ffmpeg's complaint).
    Failed(String),
}

impl LadderState {
    pub fn is_ready(&self) -> bool {
        matches!(self, LadderState::Ready(_))
    }
}

/// Adds what became of a file's quality ladder (or audio ladder): its
/// state (and progress) on the page and in the JSON (`ladder`), the HLS
/// master playlist once playable. A file browsers cannot play as it is
/// plays its top rung. Once the ladder is made, the player gets its
/// quality menu: every rung (best first), and the original ("Original")
/// when browsers play it as it is or its remux is ready.
///
/// Only a made ladder is offered. The menu swaps the player's source to a
/// rung's one MP4 (browsers without HLS play nothing else), and a rung's
/// MP4 is served only once whole: while ffmpeg writes it, its `moov` says
/// nothing of the fragments still to come, so a `<video src>` of the
/// growing file would end where the transcode was. Every rung comes out
/// of one ffmpeg run and is made at the same time, so the menu appears
/// whole when the ladder is ready (the page shows the progress until then;
/// HLS players get the rungs' segments as they are made).
pub fn with_ladder(v: &mut MediaView, s: &LadderState, direct: bool, info: &MediaInfo) {
    let audio_only = info.video().is_none();
    let (state, fact) = match s {
        LadderState::Queued => ("queued", "waiting to be transcoded…".to_owned()),
        LadderState::Running(p) if audio_only => {
            ("transcoding", format!("transcoding… {:.0}%", p * 100.0))
        }
        LadderState::Running(p) => (
            "transcoding",
            format!(
                "transcoding… {:.0}% (HLS at hls/master.m3u8 plays already)",
                p * 100.0
            ),
        ),
        LadderState::Ready(names) => {
            if !direct
                && v.play.is_none()
                && let Some(top) = names.last()
            {
                v.play = Some(format!("hls/{top}.mp4"));
                v.verdict = "transcoded for browsers".into();
            }
            v.player.audio_only = audio_only;
            v.player.qualities = qualities(names, direct, v.play.as_deref(), info);
            (
                "ready",
                format!("{} — HLS at hls/master.m3u8", names.join(", ")),
            )
        }
        LadderState::Failed(why) => ("failed", format!("could not be transcoded: {why}")),
    };
    v.facts.push(("Qualities".into(), fact));
    if let Some(o) = v.json.as_object_mut() {
        let mut l = json!({ "state": state });
        match s {
            LadderState::Running(p) => l["progress"] = json!((p * 1000.0).round() / 1000.0),
            LadderState::Ready(names) => l["renditions"] = json!(names),
            LadderState::Failed(why) => l["error"] = json!(why),
            LadderState::Queued => {}
        }
        o.insert("ladder".into(), l);
        o.entry("hls").or_insert(json!("hls/master.m3u8"));
    }
}

/// The quality menu of a made ladder, best first: the original (when it
/// plays: as it is, or its remux), then the rungs from the top.
fn qualities(
    names: &[String],
    direct: bool,
    play: Option<&str>,
    info: &MediaInfo,
) -> Vec<PlayerQuality> {
    let source = info.video().and_then(|v| Some((v.width?, v.height?)));
    let rungs = crate::ladder::ladder(info);
    let mut out = Vec::new();
    let original = match play {
        _ if direct => Some(None),
        Some(p) if p.ends_with(&format!("{}.mp4", crate::REMUX)) => Some(Some(p.to_owned())),
        _ => None,
    };
    if let Some(src) = original {
        out.push(PlayerQuality {
            label: "Original".into(),
            src,
            size: source,
            rung: false,
        });
    }
    for n in names.iter().rev() {
        let r = rungs.iter().find(|r| r.name() == *n);
        out.push(PlayerQuality {
            label: n.clone(),
            src: Some(format!("hls/{n}.mp4")),
            size: r.filter(|r| r.video).map(|r| (r.width, r.height)),
            rung: true,
        });
    }
    out
}

/// A stored probe as shown.
pub fn of_probe(p: &MediaProbe) -> MediaView {
    match &p.outcome {
        ProbeOutcome::Failed(why) => failed(why),
        ProbeOutcome::Media(j) => match serde_json::from_str::<MediaInfo>(j) {
            Ok(info) => ready(&info),
            Err(e) => failed(&format!("the stored probe is unreadable ({e})")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::duration;

    #[test]
    fn durations() {
        assert_eq!(duration(30.022), "0:30.0");
        assert_eq!(duration(201.0), "3:21.0");
        assert_eq!(duration(3723.4), "1:02:03");
        assert_eq!(duration(0.04), "0:00.0");
    }
}
