//! The remux on real media: ffmpeg's fragmented MP4 read back by the box
//! reader (segments contiguous, durations adding up to the source's), and
//! inputs ffmpeg cannot remux failing as the file's fault.

mod common;

use carrel_streaming::fmp4::read_layout;
use carrel_streaming::remux::{RemuxConfig, remux};
use common::{corpus, have};

#[tokio::test]
async fn a_real_file_remuxes_into_keyframe_fragments() {
    if !have("ffmpeg", "moviepy/smpte-2997.mp4") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mp4");
    remux(
        &RemuxConfig::default(),
        &corpus("moviepy/smpte-2997.mp4"),
        &out,
    )
    .await
    .unwrap();
    let mut f = std::fs::File::open(&out).unwrap();
    let len = f.metadata().unwrap().len();
    let l = read_layout(&mut f, len).unwrap();
    assert!(
        l.video_codec.as_deref().unwrap().starts_with("avc1.64"),
        "{l:?}"
    );
    assert!(l.segments.len() >= 2, "{l:?}");
    assert_eq!(l.segments[0].range.offset, l.init.length);
    for w in l.segments.windows(2) {
        assert_eq!(w[0].range.offset + w[0].range.length, w[1].range.offset);
    }
    let total: f64 = l.segments.iter().map(|s| s.duration).sum();
    assert!((total - 10.04).abs() < 0.1, "{total}");
}

#[tokio::test]
async fn noise_and_empty_files_fail_as_the_files_fault() {
    if !have("ffmpeg", "moviepy/smpte-2997.mp4") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let noise = dir.path().join("noise.mkv");
    std::fs::write(&noise, [0x1a, 0x45, 0xdf, 0xa3].repeat(5000)).unwrap();
    let e = remux(&RemuxConfig::default(), &noise, &dir.path().join("a.mp4"))
        .await
        .unwrap_err();
    assert!(e.is_the_files(), "{e}");
    assert!(!e.to_string().contains(dir.path().to_str().unwrap()), "{e}");
    let empty = dir.path().join("empty.mkv");
    std::fs::write(&empty, b"").unwrap();
    let e = remux(&RemuxConfig::default(), &empty, &dir.path().join("b.mp4"))
        .await
        .unwrap_err();
    assert!(e.is_the_files(), "{e}");
}
