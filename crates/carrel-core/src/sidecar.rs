//! Sidecar subtitles: a `.srt` or `.vtt` file beside a video, named like it
//! (`film.mkv` ← `film.srt`, `film.en.vtt`, `film.commentary.srt`), as
//! players (Jellyfin, VLC, mpv) find them. Pure: the hosting wing decides
//! which files are beside which (same folder, same owner); this decides,
//! by names alone, whether one is the other's subtitles.

use crate::catalog::Lang;

/// The subtitle formats carrel attaches as sidecars.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SubtitleFormat {
    /// SubRip (`.srt`), converted to WebVTT when served.
    Srt,
    /// WebVTT (`.vtt`), served as it is once its header is checked.
    Vtt,
}

impl SubtitleFormat {
    /// The format a file name's extension says (case-insensitive).
    pub fn of_name(name: &str) -> Option<Self> {
        let (_, ext) = name.rsplit_once('.')?;
        match ext.to_ascii_lowercase().as_str() {
            "srt" => Some(SubtitleFormat::Srt),
            "vtt" => Some(SubtitleFormat::Vtt),
            _ => None,
        }
    }
}

/// What a sidecar's name says of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SidecarName {
    pub format: SubtitleFormat,
    /// `film.en.srt`, `film.pt-BR.srt`, `film.eng.srt`: the language.
    pub language: Option<Lang>,
    /// Another middle part (`film.commentary.srt`): shown as the label.
    pub label: Option<String>,
}

/// The longest middle part kept as a label.
const MAX_LABEL: usize = 40;

/// Whether `other` is a sidecar of the video named `video`: the video's
/// name without its extension, then optionally `.` and a language or a
/// label, then `.srt` or `.vtt`. Names are compared case-insensitively; a
/// video name without an extension has no sidecars.
pub fn sidecar_of(video: &str, other: &str) -> Option<SidecarName> {
    let format = SubtitleFormat::of_name(other)?;
    let (base, ext) = video.rsplit_once('.')?;
    if base.is_empty() || SubtitleFormat::of_name(video).is_some() || ext.is_empty() {
        return None;
    }
    let (stem, _) = other.rsplit_once('.')?;
    let (stem_l, base_l) = (stem.to_lowercase(), base.to_lowercase());
    let rest = stem_l.strip_prefix(&base_l)?;
    if rest.is_empty() {
        return Some(SidecarName {
            format,
            language: None,
            label: None,
        });
    }
    let middle = rest.strip_prefix('.')?;
    // The same byte offset in the original (lower-casing ASCII keeps lengths;
    // for other scripts, take the original's tail when the lengths agree).
    let original = if stem.len() == stem_l.len() {
        stem.get(stem.len() - middle.len()..).unwrap_or(middle)
    } else {
        middle
    };
    if original.is_empty() || original.chars().any(char::is_control) {
        return None;
    }
    // A language is a short tag (`en`, `eng`, `pt-BR`); longer words are labels.
    let language = (original.len() <= 8)
        .then(|| Lang::parse(original).ok())
        .flatten()
        .filter(|l| l.as_str() != "und");
    let label = match language {
        Some(_) => None,
        None => Some(original.chars().take(MAX_LABEL).collect()),
    };
    Some(SidecarName {
        format,
        language,
        label,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lang(s: &str) -> Option<Lang> {
        Some(Lang::parse(s).unwrap())
    }

    #[test]
    fn names_players_attach() {
        let plain = sidecar_of("Film.mkv", "Film.srt").unwrap();
        assert_eq!(plain.format, SubtitleFormat::Srt);
        assert_eq!((plain.language, plain.label), (None, None));
        assert_eq!(
            sidecar_of("film.mp4", "FILM.VTT").unwrap().format,
            SubtitleFormat::Vtt
        );
        assert_eq!(
            sidecar_of("film.mkv", "film.en.srt").unwrap().language,
            lang("en")
        );
        assert_eq!(
            sidecar_of("film.mkv", "film.fre.vtt").unwrap().language,
            lang("fr")
        );
        assert_eq!(
            sidecar_of("film.mkv", "film.pt-BR.srt").unwrap().language,
            lang("pt-BR")
        );
        let c = sidecar_of("my film.2024.webm", "my film.2024.Commentary.srt").unwrap();
        assert_eq!((c.language, c.label.as_deref()), (None, Some("Commentary")));
        assert_eq!(
            sidecar_of("été.mkv", "Été.srt").map(|s| s.format),
            Some(SubtitleFormat::Srt)
        );
    }

    #[test]
    fn names_that_are_not_sidecars() {
        for (video, other) in [
            ("film.mkv", "film.mkv"),
            ("film.mkv", "film.txt"),
            ("film.mkv", "films.srt"),
            ("film.mkv", "other.srt"),
            ("film.mkv", "film-en.srt"),
            ("film.mkv", "film..srt"),
            ("film", "film.srt"),
            (".mkv", ".srt"),
            ("film.srt", "film.vtt"),
            ("film.mkv", "srt"),
            ("film.mkv", "film.en.srt.bak"),
        ] {
            assert_eq!(sidecar_of(video, other), None, "{video} / {other}");
        }
    }
}
