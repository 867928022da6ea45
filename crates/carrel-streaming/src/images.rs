//! A video's pictures: a **poster** (one frame at a tenth of the duration,
//! at most [`POSTER_WIDTH`] wide, JPEG) and **seek thumbnails**: one sprite
//! (JPEG) of tiles [`TILE_WIDTH`] wide, one every [`SpritePlan::interval_secs`]
//! seconds, made by one ffmpeg run (`fps=1/N,scale,tile`), and a WebVTT
//! thumbnail track whose cues point into it (`sprite.jpg#xywh=x,y,w,h`,
//! as JW Player, Video.js and Jellyfin's web client read them). Bounded
//! like the other ffmpeg runs ([`crate::ffmpeg`]). [`SpritePlan`] and
//! [`thumbnails_vtt`] are pure.

use std::fmt::Write;
use std::path::Path;

use crate::error::{Result, StreamingError};
use crate::remux::RemuxConfig;

/// The poster's largest width (smaller videos keep theirs).
pub const POSTER_WIDTH: u32 = 1280;
/// A thumbnail's width; its height keeps the video's aspect.
pub const TILE_WIDTH: u32 = 160;
/// Tiles per sprite at most (a 10×10 grid).
pub const MAX_TILES: u32 = 100;
/// Tiles per row at most.
pub const MAX_COLUMNS: u32 = 10;
/// The largest picture file made.
pub const MAX_IMAGE_BYTES: u64 = 16 << 20;
/// Wall-clock seconds for the poster (one frame).
const POSTER_SECS: u64 = 60;
/// From this interval on, only keyframes are decoded for the sprite (a long
/// film is then minutes of work, not hours; tiles land on the nearest keyframe).
const KEYFRAMES_FROM_SECS: u32 = 10;

/// The rendition names of a video's pictures.
pub const POSTER: &str = "poster";
pub const SPRITE: &str = "sprite";
pub const THUMBS: &str = "thumbs";

/// How a video's duration is cut into tiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpritePlan {
    /// Seconds between tiles (a whole number, at least 1).
    pub interval_secs: u32,
    /// Tiles in the sprite.
    pub count: u32,
    pub columns: u32,
    pub rows: u32,
}

impl SpritePlan {
    /// The plan for a video of `duration` seconds: at most [`MAX_TILES`]
    /// tiles, at least a second apart. `None` without a usable duration.
    pub fn for_duration(duration: f64) -> Option<Self> {
        if !duration.is_finite() || duration <= 0.0 || duration > 1e7 {
            return None;
        }
        let interval = ((duration / MAX_TILES as f64).ceil() as u32).max(1);
        // `fps=1/N` makes a frame at 0, N, 2N, … before the end: a last
        // fraction shorter than half a tile gets none (the tile before covers it).
        let count = (((duration - interval as f64 / 2.0) / interval as f64).ceil() as u32)
            .clamp(1, MAX_TILES);
        let columns = count.min(MAX_COLUMNS);
        let rows = count.div_ceil(columns);
        Some(Self {
            interval_secs: interval,
            count,
            columns,
            rows,
        })
    }
}

fn timestamp(secs: f64) -> String {
    crate::subtitles::timestamp((secs.max(0.0) * 1000.0).round() as u64)
}

/// The WebVTT thumbnail track of a sprite at `sprite_uri` whose tiles are
/// `tile_w`×`tile_h`: one cue per tile, the last ending at `duration`.
pub fn thumbnails_vtt(
    plan: &SpritePlan,
    tile_w: u32,
    tile_h: u32,
    duration: f64,
    sprite_uri: &str,
) -> String {
    let mut out = String::from("WEBVTT\n");
    for i in 0..plan.count {
        let start = (i * plan.interval_secs) as f64;
        if start >= duration && i > 0 {
            break;
        }
        let end = if i + 1 == plan.count {
            duration
        } else {
            (((i + 1) * plan.interval_secs) as f64).min(duration)
        };
        let (x, y) = ((i % plan.columns) * tile_w, (i / plan.columns) * tile_h);
        let _ = write!(
            out,
            "\n{} --> {}\n{sprite_uri}#xywh={x},{y},{tile_w},{tile_h}\n",
            timestamp(start),
            timestamp(end.max(start))
        );
    }
    out
}

/// Width and height of a picture file (its header only).
pub async fn dimensions(path: &Path) -> Result<(u32, u32)> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        image::ImageReader::open(&path)
            .and_then(|r| r.with_guessed_format())
            .map_err(StreamingError::Io)?
            .into_dimensions()
            .map_err(|e| {
                StreamingError::Unreadable(format!("ffmpeg made an unreadable picture: {e}"))
            })
    })
    .await
    .map_err(|e| StreamingError::Io(std::io::Error::other(e)))?
}

/// Writes a frame near `at_secs` of `input`, scaled to at most
/// [`POSTER_WIDTH`] wide, as a JPEG at `output`: the first keyframe at or
/// after `at_secs` (one frame decoded, not the group of pictures up to
/// `at_secs`: a poster is made beside a transcode someone is waiting for;
/// the keyframe before could be the black first frame of a long group), or,
/// where that gives no picture (no keyframe after it, a stream without
/// keyframes), the exact frame.
pub async fn poster(cfg: &RemuxConfig, input: &Path, at_secs: f64, output: &Path) -> Result<()> {
    match poster_run(cfg, input, at_secs, output, true).await {
        Ok(()) if tokio::fs::metadata(output).await.is_ok_and(|m| m.len() > 0) => Ok(()),
        Err(e @ StreamingError::TimedOut(_)) => Err(e),
        Ok(()) | Err(_) => {
            let _ = tokio::fs::remove_file(output).await;
            poster_run(cfg, input, at_secs, output, false).await
        }
    }
}

async fn poster_run(
    cfg: &RemuxConfig,
    input: &Path,
    at_secs: f64,
    output: &Path,
    keyframe: bool,
) -> Result<()> {
    let mut pre: Vec<String> = Vec::new();
    if keyframe {
        pre.extend(["-skip_frame", "nokey"].map(String::from));
    }
    pre.extend(["-ss".into(), format!("{:.3}", at_secs.max(0.0))]);
    crate::ffmpeg::run(
        cfg,
        input,
        &[output.to_owned()],
        MAX_IMAGE_BYTES,
        POSTER_SECS.min(cfg.timeout_secs),
        &pre,
        |c| {
            c.args(["-map", "0:V:0", "-an", "-sn", "-dn", "-frames:v", "1"])
                .arg("-vf")
                .arg(format!("scale='min({POSTER_WIDTH},iw)':-2"))
                .args(["-q:v", "3", "-f", "image2", "-update", "1", "-y"])
                .arg(format!("file:{}", output.display()));
        },
    )
    .await
}

/// Writes the sprite of `plan` for `input` as a JPEG at `output`.
pub async fn sprite(
    cfg: &RemuxConfig,
    input: &Path,
    plan: &SpritePlan,
    output: &Path,
) -> Result<()> {
    let pre: Vec<String> = if plan.interval_secs >= KEYFRAMES_FROM_SECS {
        vec!["-skip_frame".into(), "nokey".into()]
    } else {
        Vec::new()
    };
    crate::ffmpeg::run(
        cfg,
        input,
        &[output.to_owned()],
        MAX_IMAGE_BYTES,
        cfg.timeout_secs,
        &pre,
        |c| {
            c.args(["-map", "0:V:0", "-an", "-sn", "-dn"])
                .arg("-vf")
                .arg(format!(
                    "fps=1/{},scale={TILE_WIDTH}:-2,tile={}x{}",
                    plan.interval_secs, plan.columns, plan.rows
                ))
                .args([
                    "-frames:v",
                    "1",
                    "-q:v",
                    "5",
                    "-f",
                    "image2",
                    "-update",
                    "1",
                    "-y",
                ])
                .arg(format!("file:{}", output.display()));
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans() {
        let p = SpritePlan::for_duration(30.02).unwrap();
        assert_eq!(
            (p.interval_secs, p.count, p.columns, p.rows),
            (1, 30, 10, 3)
        );
        let p = SpritePlan::for_duration(30.6).unwrap();
        assert_eq!((p.count, p.rows), (31, 4));
        let p = SpritePlan::for_duration(7200.0).unwrap();
        assert_eq!(
            (p.interval_secs, p.count, p.columns, p.rows),
            (72, 100, 10, 10)
        );
        let p = SpritePlan::for_duration(0.4).unwrap();
        assert_eq!((p.interval_secs, p.count, p.columns, p.rows), (1, 1, 1, 1));
        let p = SpritePlan::for_duration(5.0).unwrap();
        assert_eq!((p.count, p.columns, p.rows), (5, 5, 1));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(SpritePlan::for_duration(bad), None);
        }
    }

    #[test]
    fn thumbnail_track_covers_the_duration_inside_the_sprite() {
        let d = 30.02;
        let p = SpritePlan::for_duration(d).unwrap();
        let vtt = thumbnails_vtt(&p, 160, 90, d, "sprite.jpg");
        assert!(
            vtt.starts_with(
                "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nsprite.jpg#xywh=0,0,160,90\n"
            )
        );
        let cues: Vec<&str> = vtt.split("\n\n").skip(1).collect();
        assert_eq!(cues.len(), 30);
        assert!(
            cues[10].ends_with("sprite.jpg#xywh=0,90,160,90"),
            "{}",
            cues[10]
        );
        assert!(
            cues[29].starts_with("00:00:29.000 --> 00:00:30.020\n"),
            "{}",
            cues[29]
        );
        // Every box is inside the sprite (columns × rows tiles).
        for c in &cues {
            let xywh: Vec<u32> = c
                .rsplit('=')
                .next()
                .unwrap()
                .trim()
                .split(',')
                .map(|n| n.parse().unwrap())
                .collect();
            assert!(
                xywh[0] + xywh[2] <= p.columns * 160 && xywh[1] + xywh[3] <= p.rows * 90,
                "{c}"
            );
        }
        // Cues follow each other without gaps.
        let times: Vec<(&str, &str)> = cues
            .iter()
            .map(|c| c.lines().next().unwrap().split_once(" --> ").unwrap())
            .collect();
        for w in times.windows(2) {
            assert_eq!(w[0].1, w[1].0);
        }
        // A duration on a tile boundary ends with that tile.
        let p = SpritePlan::for_duration(5.0).unwrap();
        let vtt = thumbnails_vtt(&p, 160, 90, 5.0, "s.jpg");
        assert!(
            vtt.trim_end()
                .ends_with("00:00:04.000 --> 00:00:05.000\ns.jpg#xywh=640,0,160,90"),
            "{vtt}"
        );
    }
}
