//! Subtitle extraction and pictures on real media: the corpus's MKV with
//! three subtitle tracks becomes three WebVTT files with the cues it was
//! made from; its poster and sprite are JPEGs of the planned sizes; a PGS
//! track is skipped with a reason; noise fails as the file's fault without
//! server paths.

mod common;

use carrel_streaming::images::{self, SpritePlan};
use carrel_streaming::remux::RemuxConfig;
use carrel_streaming::tracks;
use common::{corpus, have};

#[tokio::test]
async fn three_embedded_tracks_become_webvtt() {
    if !have("ffmpeg", "derived/bbb_0_30_with_3_subs.mkv") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = tracks::extract(
        &RemuxConfig::default(),
        &corpus("derived/bbb_0_30_with_3_subs.mkv"),
        dir.path(),
        "h",
        &[2, 3, 4],
    )
    .await
    .unwrap();
    assert_eq!(out.len(), 3);
    let texts: Vec<String> = out
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    for t in &texts {
        assert!(t.starts_with("WEBVTT"), "{t}");
    }
    // The SubRip with `00:00:5,000` became 00:05.000.
    assert!(
        texts[0].contains("00:05.000 --> 00:06.000\nGreen!"),
        "{}",
        texts[0]
    );
    assert!(texts[1].contains("What does it mean to be human"));
    // As many cues as the WebVTT files the MKV was made from (56 English, 55 French).
    assert_eq!(texts[1].matches(" --> ").count(), 56);
    assert_eq!(texts[2].matches(" --> ").count(), 55);
    assert!(texts[2].contains("Que signifie être humain"));
}

#[tokio::test]
async fn poster_and_sprite_of_the_planned_sizes() {
    if !have("ffmpeg", "derived/bbb_0_30_with_3_subs.mkv") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = corpus("derived/bbb_0_30_with_3_subs.mkv");
    let cfg = RemuxConfig::default();
    let poster = dir.path().join("p.jpg");
    images::poster(&cfg, &input, 3.0, &poster).await.unwrap();
    assert_eq!(images::dimensions(&poster).await.unwrap(), (1280, 720));
    // The keyframe after 3 s (5.8 s: sky and trees), not the one before
    // (0.46 s, the film's dark opening).
    let luma = image::open(&poster).unwrap().to_luma8();
    let mean = luma.pixels().map(|p| p.0[0] as f64).sum::<f64>() / luma.len() as f64;
    assert!(mean > 100.0, "a dark poster: mean luma {mean:.0}");
    let plan = SpritePlan::for_duration(30.022).unwrap();
    let sprite = dir.path().join("s.jpg");
    images::sprite(&cfg, &input, &plan, &sprite).await.unwrap();
    assert_eq!(
        images::dimensions(&sprite).await.unwrap(),
        (plan.columns * 160, plan.rows * 90)
    );
    // Past the end there is no frame: a clear failure, the file's.
    let e = images::poster(&cfg, &input, 99.0, &dir.path().join("x.jpg"))
        .await
        .unwrap_err();
    assert!(e.is_the_files(), "{e}");
    let noise = dir.path().join("noise.mkv");
    std::fs::write(&noise, [0x1a, 0x45, 0xdf, 0xa3].repeat(5000)).unwrap();
    let e = images::sprite(&cfg, &noise, &plan, &dir.path().join("n.jpg"))
        .await
        .unwrap_err();
    assert!(e.is_the_files(), "{e}");
    assert!(!e.to_string().contains(dir.path().to_str().unwrap()), "{e}");
}

/// The poster decodes one keyframe; a stream whose frames are not marked
/// as keyframes (x264's periodic intra refresh in MPEG-TS: ffmpeg decodes
/// nothing when told to skip all but keyframes) still gets one, the exact
/// frame, by the fallback.
#[tokio::test]
async fn a_stream_without_keyframes_still_gets_a_poster() {
    if !have("ffmpeg", "derived/bbb_0_30_with_3_subs.mkv") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("refresh.ts");
    let made = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", "testsrc=d=6:s=320x240"])
        .args([
            "-c:v",
            "libx264",
            "-x264-params",
            "intra-refresh=1:keyint=30",
        ])
        .args(["-f", "mpegts", "-y"])
        .arg(&input)
        .status()
        .unwrap();
    assert!(made.success());
    // The premise: keyframes only give no picture here.
    let quick = dir.path().join("quick.jpg");
    let ran = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-skip_frame", "nokey"])
        .args(["-ss", "3", "-i"])
        .arg(&input)
        .args(["-frames:v", "1", "-f", "image2", "-update", "1", "-y"])
        .arg(&quick)
        .status()
        .unwrap();
    assert!(ran.success() && !quick.exists(), "ffmpeg found a keyframe");
    let poster = dir.path().join("p.jpg");
    images::poster(&RemuxConfig::default(), &input, 3.0, &poster)
        .await
        .unwrap();
    assert_eq!(images::dimensions(&poster).await.unwrap(), (320, 240));
}

#[test]
fn image_subtitles_are_skipped_with_a_reason() {
    assert!(tracks::skipped("subrip").is_none());
    assert!(tracks::skipped("mov_text").is_none());
    assert!(tracks::skipped("ass").is_none());
    let why = tracks::skipped("hdmv_pgs_subtitle").unwrap();
    assert!(why.contains("pictures, not text"), "{why}");
}
