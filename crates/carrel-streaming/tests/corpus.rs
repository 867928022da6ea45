//! The probe and the decision on the real media of `../shared/corpus/media`
//! (real ffprobe), broken and hostile inputs, and SubRip files as they come.

mod common;

use std::path::Path;

use carrel_streaming::decide::{Decision, Target, decide};
use carrel_streaming::error::StreamingError;
use carrel_streaming::info::{Container, MediaInfo};
use carrel_streaming::probe::{ProbeConfig, probe};
use carrel_streaming::sniff::sniff;
use carrel_streaming::subtitles::srt_to_vtt;
use common::{corpus, have};

async fn probe_path(path: &Path) -> Result<MediaInfo, StreamingError> {
    let head: Vec<u8> = std::fs::read(path)
        .map(|b| b.into_iter().take(4096).collect())
        .unwrap_or_default();
    probe(&ProbeConfig::default(), path, sniff(&head).as_ref()).await
}

/// ffprobe's own duration of a file, for comparison.
fn ffprobe_duration(path: &Path) -> Option<f64> {
    let o = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).trim().parse().ok()
}

/// A corpus file, what it is, its decision and its size in pixels.
type Case = (&'static str, Container, Decision, Option<(u32, u32)>);

#[tokio::test]
async fn real_media_gets_the_right_decision() {
    if !have("ffprobe", "moviepy/smpte-2997.mp4") {
        return;
    }
    let cases: &[Case] = &[
        (
            "moviepy/big_buck_bunny_0_30.webm",
            Container::Webm,
            Decision::DirectPlay,
            Some((1280, 720)),
        ),
        (
            "moviepy/chaplin.mp4",
            Container::Mp4,
            Decision::DirectPlay,
            None,
        ),
        (
            "moviepy/smpte-2997.mp4",
            Container::Mp4,
            Decision::DirectPlay,
            Some((1920, 1080)),
        ),
        (
            "derived/chaplin_faststart.mp4",
            Container::Mp4,
            Decision::DirectPlay,
            None,
        ),
        (
            "derived/bbb_0_30_with_3_subs.mkv",
            Container::Matroska,
            Decision::Transcode {
                to: Target::Mp4,
                video: false,
                audio: false,
            },
            Some((1280, 720)),
        ),
        (
            "moviepy/no_duration.webm",
            Container::Webm,
            Decision::DirectPlay,
            Some((1280, 720)),
        ),
        (
            "mediaelement-files/echo-hereweare.webm",
            Container::Webm,
            Decision::DirectPlay,
            None,
        ),
        (
            "moviepy/with-attached-pic.mp3",
            Container::Mp3,
            Decision::DirectPlay,
            None,
        ),
        (
            "moviepy/crunching.mp3",
            Container::Mp3,
            Decision::DirectPlay,
            None,
        ),
        (
            "idpf-cc-shared-culture/asharedculture_soundtrack.mp3",
            Container::Mp3,
            Decision::DirectPlay,
            None,
        ),
        (
            "moviepy/doc_medias_example.wav",
            Container::Wav,
            Decision::DirectPlay,
            None,
        ),
    ];
    for (rel, container, decision, size) in cases {
        let path = corpus(rel);
        let info = probe_path(&path)
            .await
            .unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(info.container, *container, "{rel}");
        assert_eq!(decide(&info), *decision, "{rel}: {info:?}");
        if let Some((w, h)) = size {
            let v = info.video().unwrap();
            assert_eq!((v.width, v.height), (Some(*w), Some(*h)), "{rel}");
        }
        // The MKV plays for its video's and audio's 30 s; its format
        // duration (201 s) is its last subtitle's.
        let theirs = if rel.ends_with(".mkv") {
            Some(30.0)
        } else {
            ffprobe_duration(&path)
        };
        match (info.duration_secs, theirs) {
            (Some(ours), Some(theirs)) => {
                assert!((ours - theirs).abs() < 0.5, "{rel}: {ours} vs {theirs}")
            }
            (None, None) => {}
            other => panic!("{rel}: durations {other:?}"),
        }
    }
    let mkv = probe_path(&corpus("derived/bbb_0_30_with_3_subs.mkv"))
        .await
        .unwrap();
    assert_eq!(mkv.subtitles().count(), 3);
    let langs: Vec<_> = mkv
        .subtitles()
        .map(|s| s.language.clone().unwrap_or_default())
        .collect();
    assert_eq!(langs, ["eng", "eng", "fre"]);
    let mp3 = probe_path(&corpus("moviepy/with-attached-pic.mp3"))
        .await
        .unwrap();
    assert!(
        mp3.has_cover() && mp3.video().is_none(),
        "the cover is not video"
    );
    let no_duration = probe_path(&corpus("moviepy/no_duration.webm"))
        .await
        .unwrap();
    assert_eq!(no_duration.duration_secs, None);
    let chaplin = probe_path(&corpus("moviepy/chaplin.mp4")).await.unwrap();
    assert_eq!(chaplin.video().unwrap().codec, "h264");
}

#[tokio::test]
async fn broken_and_disguised_files_fail_clearly() {
    if !have("ffprobe", "moviepy/smpte-2997.mp4") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Zero bytes.
    let e = probe_path(&corpus("moviepy/doc_medias_result.webm"))
        .await
        .unwrap_err();
    assert!(matches!(e, StreamingError::Empty), "{e}");
    // Truncated: the first 20 KiB of an MP4 whose index is at the end.
    let bytes = std::fs::read(corpus("moviepy/chaplin.mp4")).unwrap();
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &bytes[..20_000]).unwrap();
    match probe_path(&cut).await {
        Err(StreamingError::Unreadable(why)) => {
            assert!(
                !why.contains(&*dir.path().to_string_lossy()),
                "no server paths: {why}"
            );
            assert!(!why.is_empty());
        }
        Ok(i) => panic!("a cut MP4 read as {i:?}"),
        Err(e) => panic!("unexpected {e:?}"),
    }
    // Truncated WebM: readable up to the cut (it streams), never a panic.
    let webm = std::fs::read(corpus("moviepy/big_buck_bunny_0_30.webm")).unwrap();
    let cut = dir.path().join("cut.webm");
    std::fs::write(&cut, &webm[..webm.len() / 3]).unwrap();
    let _ = probe_path(&cut).await;
    // A video renamed .png is still the video: the bytes decide.
    let disguised = dir.path().join("holiday.png");
    std::fs::copy(corpus("moviepy/chaplin.mp4"), &disguised).unwrap();
    assert_eq!(
        decide(&probe_path(&disguised).await.unwrap()),
        Decision::DirectPlay
    );
    // An image and a text file are not media.
    let png = dir.path().join("x.mp4");
    std::fs::write(&png, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0\x90wS\xde\0\0\0\x0cIDATx\x9cc\xf8\xcf\xc0\0\0\x03\x01\x01\0\xc9\xfe\x92\xef\0\0\0\0IEND\xaeB`\x82").unwrap();
    let e = probe_path(&png).await.unwrap_err();
    assert!(
        matches!(
            e,
            StreamingError::NotMedia(_) | StreamingError::Unreadable(_)
        ),
        "{e:?}"
    );
    let txt = dir.path().join("notes.webm");
    std::fs::write(&txt, "just some words\n".repeat(100)).unwrap();
    let e = probe_path(&txt).await.unwrap_err();
    assert!(
        matches!(
            e,
            StreamingError::NotMedia(_) | StreamingError::Unreadable(_)
        ),
        "{e:?}"
    );
}

/// Runs ffmpeg (real) with these arguments; false when it is not installed.
fn ffmpeg(args: &[&str]) -> bool {
    std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test]
async fn files_made_with_ffmpeg_get_the_right_decision() {
    if !have("ffprobe", "moviepy/smpte-2997.mp4") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_string_lossy().into_owned();
    // H.264 and MP3 copied into Matroska: repackaged into MP4, not re-encoded.
    let chaplin = corpus("moviepy/chaplin.mp4").to_string_lossy().into_owned();
    assert!(ffmpeg(&["-i", &chaplin, "-c", "copy", &p("chaplin.mkv")]));
    let mkv = probe_path(Path::new(&p("chaplin.mkv"))).await.unwrap();
    assert_eq!(mkv.container, Container::Matroska);
    assert_eq!(decide(&mkv), Decision::Remux { to: Target::Mp4 });
    // A frame larger than 4K (8192×1200, about 9.8 million pixels): scaled down.
    assert!(ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=black:s=8192x1200:d=0.04",
        "-frames:v",
        "1",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        &p("huge.mp4"),
    ]));
    let huge = probe_path(Path::new(&p("huge.mp4"))).await.unwrap();
    assert_eq!(huge.video().unwrap().width, Some(8192));
    assert_eq!(
        decide(&huge),
        Decision::Transcode {
            to: Target::Mp4,
            video: true,
            audio: false
        }
    );
    // The audio of the WAV as 24-bit PCM (browsers play 16-bit WAV), and as FLAC in Ogg.
    let wav = corpus("moviepy/doc_medias_example.wav")
        .to_string_lossy()
        .into_owned();
    assert!(ffmpeg(&["-i", &wav, "-c:a", "pcm_s24le", &p("deep.wav")]));
    let deep = probe_path(Path::new(&p("deep.wav"))).await.unwrap();
    assert_eq!(
        decide(&deep),
        Decision::Transcode {
            to: Target::Mp4,
            video: false,
            audio: true
        }
    );
    assert!(ffmpeg(&["-i", &wav, "-c:a", "flac", &p("sound.flac")]));
    let flac = probe_path(Path::new(&p("sound.flac"))).await.unwrap();
    assert_eq!(
        (flac.container, decide(&flac)),
        (Container::Flac, Decision::DirectPlay)
    );
    // Opus in Matroska audio: browsers decode Opus, not in Matroska, and
    // carrel repackages only into MP4: the audio ladder.
    assert!(ffmpeg(&["-i", &wav, "-c:a", "libopus", &p("voice.mka")]));
    let mka = probe_path(Path::new(&p("voice.mka"))).await.unwrap();
    assert_eq!(
        decide(&mka),
        Decision::Transcode {
            to: Target::Mp4,
            video: false,
            audio: false
        }
    );
}

#[tokio::test]
async fn a_stream_that_never_ends_is_cut_off() {
    if !have("ffprobe", "moviepy/smpte-2997.mp4") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("endless.webm");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let writer_path = fifo.clone();
    // A writer that sends a WebM's first bytes and then nothing, holding the pipe open.
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let head = std::fs::read(corpus("moviepy/big_buck_bunny_0_30.webm")).unwrap();
        if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&writer_path) {
            let _ = f.write_all(&head[..4096]);
            std::thread::sleep(std::time::Duration::from_secs(4));
        }
    });
    let cfg = ProbeConfig {
        timeout_secs: 1,
        ..ProbeConfig::default()
    };
    let t = std::time::Instant::now();
    let e = probe(&cfg, &fifo, None).await.unwrap_err();
    assert!(matches!(e, StreamingError::TimedOut(1)), "{e:?}");
    assert!(
        t.elapsed() < std::time::Duration::from_secs(3),
        "{:?}",
        t.elapsed()
    );
    writer.join().unwrap();
}

#[tokio::test]
async fn a_missing_ffprobe_is_the_servers_problem() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("a.mp3");
    std::fs::write(&f, b"ID3\x04\0\0\0\0\0\0").unwrap();
    let cfg = ProbeConfig {
        ffprobe: "/nonexistent/ffprobe".into(),
        ..ProbeConfig::default()
    };
    let e = probe(&cfg, &f, None).await.unwrap_err();
    assert!(matches!(e, StreamingError::Tool { .. }), "{e:?}");
    assert!(!e.is_the_files());
}

#[test]
fn subrip_files_of_the_corpus_convert() {
    let out = srt_to_vtt(&std::fs::read(corpus("moviepy/subtitles.srt")).unwrap()).unwrap();
    assert!(
        out.contains("00:00:05.000 --> 00:00:06.000\nGreen!"),
        "{out}"
    );
    assert_eq!(out.matches(" --> ").count(), 5);
    let out = srt_to_vtt(&std::fs::read(corpus("moviepy/subtitles-unicode.srt")).unwrap()).unwrap();
    assert!(
        out.contains("00:00:00.000 --> 00:00:05.000\nÁÉíöÙ") || out.matches(" --> ").count() == 1,
        "{out}"
    );
    let out =
        srt_to_vtt(&std::fs::read(corpus("mediaelement-files/mediaelement.srt")).unwrap()).unwrap();
    assert!(
        out.starts_with("WEBVTT\n\n00:00:00.100 --> 00:00:04.000\nHTML5 &lt;video&gt;"),
        "{out}"
    );
    assert!(
        out.contains("00:00:04.000 --> 00:00:07.000\nBut browser vendors"),
        "{out}"
    );
}
