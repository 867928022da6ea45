//! SubRip (`.srt`) to WebVTT, tolerant of what real files get wrong: a
//! byte-order mark, CRLF or CR line ends, timestamps without milliseconds
//! (`00:00:05`), with a dot instead of a comma, with one-digit fields
//! (`00:00:5,000`) or a short fraction (`00:00:00,1` is 100 ms), cue numbers
//! missing or out of order, blank lines where there should be none, and no
//! blank line where there should be one. Pure and bounded: input beyond
//! [`MAX_SRT_BYTES`] is refused, and cue text is escaped so it stays text.

use crate::error::{Result, StreamingError};

/// The largest SubRip file converted (a feature film's subtitles are ~100 KiB).
pub const MAX_SRT_BYTES: usize = 4 << 20;
/// Cues kept at most.
pub const MAX_CUES: usize = 50_000;

/// A subtitle cue: start and end in milliseconds and its WebVTT text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cue {
    pub start_ms: u64,
    pub end_ms: u64,
    pub text: String,
}

/// A timestamp as SubRip files write it, leniently: `[H:]M:S[(,|.)F]`,
/// each field one or more digits; the fraction is a decimal fraction of a second.
pub fn parse_timestamp(s: &str) -> Option<u64> {
    let s = s.trim();
    let (clock, frac) = match s.find([',', '.']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let fields: Vec<&str> = clock.split(':').collect();
    if !(2..=3).contains(&fields.len()) {
        return None;
    }
    let num = |f: &str| -> Option<u64> {
        (!f.is_empty() && f.len() <= 5 && f.bytes().all(|b| b.is_ascii_digit()))
            .then(|| f.parse().ok())
            .flatten()
    };
    let mut secs = 0u64;
    for f in &fields {
        secs = secs * 60 + num(f)?;
    }
    let (m, sec) = (
        num(fields[fields.len() - 2])?,
        num(fields[fields.len() - 1])?,
    );
    if m >= 60 || sec >= 60 {
        return None;
    }
    let ms = match frac {
        None => 0,
        Some("") => 0,
        Some(f) => {
            if !f.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let digits: String = f.chars().chain("000".chars()).take(3).collect();
            digits.parse::<u64>().ok()?
        }
    };
    Some(secs * 1000 + ms)
}

/// `start --> end` (anything after the end, like SubRip's position, is ignored).
fn parse_timing(line: &str) -> Option<(u64, u64)> {
    let (a, b) = line.split_once("-->")?;
    let b = b.split_whitespace().next()?;
    let (start, end) = (parse_timestamp(a)?, parse_timestamp(b)?);
    Some((start, end.max(start)))
}

/// Cue text as WebVTT text: SubRip's `<i>`, `<b>`, `<u>` kept, other tags
/// (`<font …>`) dropped, other `<`, `>` and `&` escaped, existing entities kept.
fn cue_text(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        match c {
            '<' => {
                let tag_end = rest.find('>').filter(|&e| e <= 64);
                let tag = tag_end.map(|e| &rest[1..e]);
                match tag {
                    Some(t)
                        if matches!(
                            t.to_ascii_lowercase().as_str(),
                            "i" | "b" | "u" | "/i" | "/b" | "/u"
                        ) =>
                    {
                        out.push('<');
                        out.push_str(&t.to_ascii_lowercase());
                        out.push('>');
                        rest = &rest[t.len() + 2..];
                    }
                    Some(t)
                        if {
                            let l = t.to_ascii_lowercase();
                            l.starts_with("font") || l == "/font"
                        } =>
                    {
                        rest = &rest[t.len() + 2..];
                    }
                    _ => {
                        out.push_str("&lt;");
                        rest = &rest[1..];
                    }
                }
            }
            '>' => {
                out.push_str("&gt;");
                rest = &rest[1..];
            }
            '&' => {
                let entity = rest[1..]
                    .find(';')
                    .filter(|&e| e > 0 && e <= 10)
                    .map(|e| &rest[1..=e])
                    .filter(|n| n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'#'));
                match entity {
                    Some(n) => {
                        out.push('&');
                        out.push_str(n);
                        out.push(';');
                        rest = &rest[n.len() + 2..];
                    }
                    None => {
                        out.push_str("&amp;");
                        rest = &rest[1..];
                    }
                }
            }
            _ => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

/// The cues of a SubRip file.
pub fn parse_srt(input: &[u8]) -> Result<Vec<Cue>> {
    if input.len() > MAX_SRT_BYTES {
        return Err(StreamingError::TooLarge(MAX_SRT_BYTES as u64));
    }
    let text = String::from_utf8_lossy(input);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = text.split('\n').collect();
    let mut cues: Vec<Cue> = Vec::new();
    let mut current: Option<(u64, u64, Vec<String>)> = None;
    for (i, raw) in lines.iter().enumerate() {
        let line = raw.trim_end();
        if line.contains("-->")
            && let Some((start, end)) = parse_timing(line)
        {
            if let Some((s, e, t)) = current.take() {
                push(&mut cues, s, e, t)?;
            }
            current = Some((start, end, Vec::new()));
            continue;
        }
        let Some((_, _, text)) = current.as_mut() else {
            continue; // before the first cue: numbers, noise
        };
        let is_number = !line.trim().is_empty() && line.trim().bytes().all(|b| b.is_ascii_digit());
        let next_is_timing = lines[i + 1..]
            .iter()
            .find(|l| !l.trim().is_empty())
            .is_some_and(|l| l.contains("-->") && parse_timing(l).is_some());
        if is_number && next_is_timing {
            continue; // the next cue's number
        }
        if line.trim().is_empty() {
            continue; // WebVTT cue text cannot hold blank lines
        }
        text.push(cue_text(line.trim()).replace("-->", "--&gt;"));
    }
    if let Some((s, e, t)) = current.take() {
        push(&mut cues, s, e, t)?;
    }
    Ok(cues)
}

fn push(cues: &mut Vec<Cue>, start_ms: u64, end_ms: u64, text: Vec<String>) -> Result<()> {
    if text.is_empty() {
        return Ok(());
    }
    if cues.len() >= MAX_CUES {
        return Err(StreamingError::TooLarge(MAX_CUES as u64));
    }
    cues.push(Cue {
        start_ms,
        end_ms,
        text: text.join("\n"),
    });
    Ok(())
}

/// A WebVTT timestamp (`hh:mm:ss.mmm`) of `ms` milliseconds.
pub(crate) fn timestamp(ms: u64) -> String {
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// A WebVTT document of these cues.
pub fn write_vtt(cues: &[Cue]) -> String {
    let mut out = String::from("WEBVTT\n");
    for c in cues {
        out.push('\n');
        out.push_str(&timestamp(c.start_ms));
        out.push_str(" --> ");
        out.push_str(&timestamp(c.end_ms));
        out.push('\n');
        out.push_str(&c.text);
        out.push('\n');
    }
    out
}

/// SubRip to WebVTT in one step.
pub fn srt_to_vtt(input: &[u8]) -> Result<String> {
    Ok(write_vtt(&parse_srt(input)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_as_real_files_write_them() {
        for (s, ms) in [
            ("00:00:05,000", 5000),
            ("00:00:05.250", 5250),
            ("00:00:05", 5000),
            ("00:00:5,000", 5000),
            ("00:00:9,5", 9500),
            ("00:00:00,1", 100),
            ("00:00:00,12", 120),
            ("0:1:2,3", 62_300),
            ("01:02:03,004", 3_723_004),
            ("02:03,004", 123_004),
            (" 00:00:10,000 ", 10_000),
            ("100:00:00,000", 360_000_000),
            ("00:00:01,9999", 1999),
        ] {
            assert_eq!(parse_timestamp(s), Some(ms), "{s}");
        }
        for s in [
            "",
            "5",
            "aa:bb:cc",
            "00:61:00",
            "00:00:60",
            "00:00:05,x",
            "1:2:3:4",
            "-1:00:00",
            "999999:00:00",
        ] {
            assert_eq!(parse_timestamp(s), None, "{s}");
        }
    }

    #[test]
    fn defects_of_real_files() {
        let srt = "\u{feff}0\r\n00:00:00,1 --> 00:00:04\r\nHTML5 &lt;video&gt; <i>is</i> here & <font color=\"red\">now</font>\r\n\r\n\r\n\r\n7\r\n00:00:04 --> 00:00:07.5 X1:10 X2:20\r\nTwo\r\n\r\nlines\r\n5\r\n00:00:5,000 --> 00:00:6,000\r\n12\r\n--> <b>a --> b</b> < 3\r\n00:00:9 --> 00:00:8\r\n\r\n";
        let cues = parse_srt(srt.as_bytes()).unwrap();
        assert_eq!(
            cues,
            vec![
                Cue {
                    start_ms: 100,
                    end_ms: 4000,
                    text: "HTML5 &lt;video&gt; <i>is</i> here &amp; now".into()
                },
                Cue {
                    start_ms: 4000,
                    end_ms: 7500,
                    text: "Two\nlines".into()
                },
                Cue {
                    start_ms: 5000,
                    end_ms: 6000,
                    text: "12\n--&gt; <b>a --&gt; b</b> &lt; 3".into()
                },
            ],
            "the last cue has no text"
        );
        let vtt = write_vtt(&cues);
        assert!(
            vtt.starts_with("WEBVTT\n\n00:00:00.100 --> 00:00:04.000\nHTML5"),
            "{vtt}"
        );
    }

    #[test]
    fn bounded() {
        assert!(matches!(
            parse_srt(&vec![b'a'; MAX_SRT_BYTES + 1]),
            Err(StreamingError::TooLarge(_))
        ));
        assert_eq!(parse_srt(b"").unwrap(), vec![]);
        assert_eq!(parse_srt(&[0xff, 0xfe, 0x00]).unwrap(), vec![]);
        assert_eq!(srt_to_vtt(b"no cues here\n").unwrap(), "WEBVTT\n");
    }
}
