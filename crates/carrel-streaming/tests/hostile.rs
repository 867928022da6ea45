//! The wing's parsers of untrusted bytes under generated hostile input
//! (property tests, proptest): random bytes, and real files truncated,
//! bit-flipped and spliced. None may panic or loop; what they accept must
//! be consistent (segments inside the file and contiguous, WebVTT that
//! starts as WebVTT must), and what they refuse is an error value.
//!
//! The fragmented-MP4 seed is made by ffmpeg from a corpus file (as the
//! remux does); without ffmpeg those cases fail when `CARREL_REQUIRE_FFPROBE`
//! is set (as `./test` sets it) and are skipped with a message otherwise.

mod common;

use std::io::Cursor;
use std::sync::OnceLock;

use carrel_streaming::fmp4::read_layout;
use carrel_streaming::info::parse_ffprobe;
use carrel_streaming::sniff::sniff;
use carrel_streaming::subtitles::{parse_srt, srt_to_vtt};
use common::corpus;
use proptest::prelude::*;

/// A real fragmented MP4 (ffmpeg's stream copy of a corpus file, fragments
/// at keyframes), or None (with a message) where ffmpeg is missing.
fn fmp4_seed() -> Option<&'static [u8]> {
    static SEED: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    SEED.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("seed.mp4");
        let made = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(corpus("moviepy/smpte-2997.mp4"))
            .args([
                "-c",
                "copy",
                "-movflags",
                "frag_keyframe+empty_moov+default_base_moof",
                "-f",
                "mp4",
            ])
            .arg(&out)
            .status()
            .is_ok_and(|s| s.success());
        if !made {
            assert!(
                std::env::var_os("CARREL_REQUIRE_FFPROBE").is_none(),
                "ffmpeg is required (CARREL_REQUIRE_FFPROBE) and could not make the seed"
            );
            eprintln!("SKIPPED: no ffmpeg here, the fMP4 mutation cases do not run");
            return None;
        }
        Some(std::fs::read(out).unwrap())
    })
    .as_deref()
}

/// Checks what `read_layout` says about `bytes`: an error, or a layout
/// whose init and segments are inside the file, in order and contiguous.
fn layout_is_consistent(bytes: &[u8]) {
    let len = bytes.len() as u64;
    if let Ok(l) = read_layout(&mut Cursor::new(bytes), len) {
        assert!(l.init.offset + l.init.length <= len);
        let mut end = l.init.offset + l.init.length;
        for s in &l.segments {
            assert_eq!(s.range.offset, end, "segments are contiguous");
            assert!(s.range.length > 0);
            end = s.range.offset + s.range.length;
            assert!(end <= len, "a segment past the end of the file");
            assert!(s.duration.is_finite() && s.duration >= 0.0);
        }
    }
}

/// A SubRip file with the defects people's files have: missing
/// milliseconds, dot separators, CRLF, a BOM, junk lines, missing numbers.
/// (The file and its number of cues.)
fn srt_like() -> impl Strategy<Value = (String, usize)> {
    let time = (
        0u32..100,
        0u32..60,
        0u32..60,
        prop::option::of(0u32..1000),
        any::<bool>(),
    )
        .prop_map(|(h, m, s, ms, dot)| match ms {
            Some(ms) => format!("{h:02}:{m:02}:{s:02}{}{ms:03}", if dot { '.' } else { ',' }),
            None => format!("{h:02}:{m:02}:{s:02}"),
        });
    let cue = (
        prop::option::of(0u32..10_000),
        time.clone(),
        time,
        "[a-zA-Zé][a-zA-Zé</ -]{0,29}",
    )
        .prop_map(|(n, a, b, text)| {
            let mut c = String::new();
            if let Some(n) = n {
                c.push_str(&format!("{n}\n"));
            }
            c.push_str(&format!("{a} --> {b}\n{text}\n\n"));
            c
        });
    (
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(cue, 0..20),
    )
        .prop_map(|(bom, crlf, cues)| {
            let mut s = if bom {
                "\u{feff}".to_owned()
            } else {
                String::new()
            };
            s.push_str(&cues.concat());
            (if crlf { s.replace('\n', "\r\n") } else { s }, cues.len())
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn sniffing_any_bytes_never_panics(b in prop::collection::vec(any::<u8>(), 0..4096)) {
        let _ = sniff(&b);
    }

    #[test]
    fn any_bytes_as_fmp4_give_an_error_or_a_consistent_layout(
        b in prop::collection::vec(any::<u8>(), 0..2048)
    ) {
        layout_is_consistent(&b);
    }

    #[test]
    fn a_real_fmp4_truncated_or_bit_flipped_gives_an_error_or_a_consistent_layout(
        cut in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
    ) {
        let Some(seed) = fmp4_seed() else { return Ok(()) };
        let mut b = seed.to_vec();
        for (at, x) in flips {
            let i = at.index(b.len());
            b[i] ^= x;
        }
        let keep = cut.index(b.len() + 1);
        b.truncate(keep);
        layout_is_consistent(&b);
    }

    #[test]
    fn box_sizes_set_to_hostile_values_are_refused_or_bounded(
        at in any::<prop::sample::Index>(),
        size in prop_oneof![Just(0u32), Just(1u32), Just(7u32), Just(u32::MAX), any::<u32>()],
    ) {
        let Some(seed) = fmp4_seed() else { return Ok(()) };
        let mut b = seed.to_vec();
        let i = at.index(b.len().saturating_sub(4));
        b[i..i + 4].copy_from_slice(&size.to_be_bytes());
        layout_is_consistent(&b);
    }

    #[test]
    fn any_bytes_as_subrip_never_panic(b in prop::collection::vec(any::<u8>(), 0..4096)) {
        if let Ok(vtt) = srt_to_vtt(&b) {
            prop_assert!(vtt.starts_with("WEBVTT"));
        }
    }

    #[test]
    fn defective_subrip_converts_to_webvtt_with_ordered_dot_timestamps(s in srt_like()) {
        let (s, n) = s;
        // Every one of these defects is tolerated, and no cue is lost.
        let cues = parse_srt(s.as_bytes()).map_err(|e| TestCaseError::fail(format!("{e}: {s:?}")))?;
        prop_assert_eq!(cues.len(), n);
        {
            let vtt = srt_to_vtt(s.as_bytes()).unwrap();
            prop_assert!(vtt.starts_with("WEBVTT\n"));
            for line in vtt.lines().filter(|l| l.contains("-->")) {
                let (a, b) = line.split_once(" --> ").unwrap();
                let b = b.split_whitespace().next().unwrap();
                for t in [a, b] {
                    // hh:mm:ss.mmm, as WebVTT wants (never a comma).
                    prop_assert!(t.len() >= 12 && t.as_bytes()[t.len() - 4] == b'.', "{t:?} in {line:?}");
                }
            }
            prop_assert_eq!(vtt.matches("-->").count(), n);
        }
    }

    #[test]
    fn any_bytes_as_ffprobe_output_never_panic(b in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse_ffprobe(&b, None);
    }

    #[test]
    fn ffprobe_json_with_hostile_values_never_panics(
        w in prop_oneof![Just(-1i64), Just(0), Just(i64::MAX), any::<i64>()],
        d in prop_oneof![Just("nan".to_owned()), Just("-1".to_owned()), Just("1e308".to_owned()), "[0-9.e+-]{0,12}"],
        codec in "[a-z0-9_]{0,12}",
        n in 0usize..50,
    ) {
        let stream = format!(
            r#"{{"index":0,"codec_type":"video","codec_name":"{codec}","width":{w},"height":{w},"duration":"{d}","bit_rate":"{d}","avg_frame_rate":"{d}/0"}}"#
        );
        let streams = vec![stream; n].join(",");
        let json = format!(
            r#"{{"streams":[{streams}],"format":{{"format_name":"mov,mp4","duration":"{d}","bit_rate":"{d}","size":"{d}"}}}}"#
        );
        let _ = parse_ffprobe(json.as_bytes(), None);
    }
}

/// The seed itself reads (so the mutations start from a valid file).
#[test]
fn the_unmutated_seed_reads_with_several_segments() {
    let Some(seed) = fmp4_seed() else { return };
    let l = read_layout(&mut Cursor::new(seed), seed.len() as u64).unwrap();
    assert!(l.segments.len() >= 2, "{l:?}");
    layout_is_consistent(seed);
}
