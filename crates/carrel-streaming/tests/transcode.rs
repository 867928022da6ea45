//! The ladder transcode on real media (real ffmpeg): one run makes every
//! rung capped at the source's height, each one fragmented MP4 whose
//! fragments fall on the segment boundaries planned from the probe (so
//! playlists written before the transcode name the right segments), the
//! growing files show whole fragments only, and a cancelled or timed-out
//! run is killed.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use carrel_streaming::error::StreamingError;
use carrel_streaming::fmp4::{read_growing_layout, read_layout};
use carrel_streaming::ladder;
use carrel_streaming::probe::{ProbeConfig, probe};
use carrel_streaming::transcode::{Live, TranscodeConfig, transcode};
use common::{corpus, have};

fn live_in(dir: &Path, rungs: &[ladder::Rung]) -> Live {
    Live::new(
        rungs
            .iter()
            .map(|r| (r.name(), dir.join(format!("{}.mp4", r.name()))))
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_1080p_source_gets_four_rungs_on_the_planned_segments() {
    if !have("ffmpeg", "moviepy/smpte-2997.mp4") {
        return;
    }
    let src = corpus("moviepy/smpte-2997.mp4");
    let info = probe(&ProbeConfig::default(), &src, None).await.unwrap();
    let rungs = ladder::ladder(&info);
    assert_eq!(
        rungs.iter().map(|r| r.name()).collect::<Vec<_>>(),
        ["360p", "480p", "720p", "1080p"]
    );
    let d = ladder::planned_duration(&info).unwrap();
    let plan = ladder::segment_plan(d);
    let dir = tempfile::tempdir().unwrap();
    let live = live_in(dir.path(), &rungs);
    // While it runs, the growing 360p file only ever shows whole fragments, in order.
    let watch = async {
        let mut seen = 0usize;
        let path = live.files[0].1.clone();
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let Ok(mut f) = std::fs::File::open(&path) else {
                continue;
            };
            let len = f.metadata().unwrap().len();
            if let Some(l) = read_growing_layout(&mut f, len).unwrap() {
                assert!(l.segments.len() >= seen);
                seen = l.segments.len();
            }
        }
    };
    let cfg = TranscodeConfig::default();
    let run = transcode(
        &cfg,
        &src,
        true,
        &rungs,
        Some(d),
        Some(d),
        &live,
        std::future::pending(),
    );
    tokio::select! {
        r = run => r.unwrap(),
        _ = watch => unreachable!(),
    }
    assert!(live.progress().end);
    for (r, (_, path)) in rungs.iter().zip(&live.files) {
        let mut f = std::fs::File::open(path).unwrap();
        let len = f.metadata().unwrap().len();
        let l = read_layout(&mut f, len).unwrap();
        let got: Vec<f64> = l.segments.iter().map(|s| s.duration).collect();
        assert_eq!(got.len(), plan.len(), "{}: {got:?} vs {plan:?}", r.name());
        for (g, p) in got.iter().zip(&plan) {
            assert!((g - p).abs() < 0.1, "{}: {got:?} vs {plan:?}", r.name());
        }
        assert!(l.video_codec.as_deref().unwrap().starts_with("avc1.64"));
        let out = std::process::Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
            .args(["stream=width,height", "-of", "csv=p=0"])
            .arg(path)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            format!("{},{}", r.width, r.height)
        );
    }
}

#[tokio::test]
async fn a_transcode_is_killed_when_cancelled_or_out_of_time() {
    if !have("ffmpeg", "moviepy/smpte-2997.mp4") {
        return;
    }
    let src = corpus("moviepy/smpte-2997.mp4");
    let info = probe(&ProbeConfig::default(), &src, None).await.unwrap();
    let rungs = ladder::ladder(&info);
    let dir = tempfile::tempdir().unwrap();
    let live = live_in(dir.path(), &rungs);
    let t = Instant::now();
    let e = transcode(
        &TranscodeConfig::default(),
        &src,
        true,
        &rungs,
        Some(10.0),
        Some(10.0),
        &live,
        tokio::time::sleep(Duration::from_millis(500)),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, StreamingError::Cancelled), "{e}");
    assert!(t.elapsed() < Duration::from_secs(5));
    let cfg = TranscodeConfig {
        timeout_secs: 1,
        secs_per_media_sec: 0,
        ..Default::default()
    };
    let e = transcode(
        &cfg,
        &src,
        true,
        &rungs,
        Some(10.0),
        Some(10.0),
        &live,
        std::future::pending(),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, StreamingError::TimedOut(1)), "{e}");
    assert!(e.is_the_files());
}
