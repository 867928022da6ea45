//! Metadata as the formats' readers collect it, and the catalog record built
//! from it.

use std::path::Path;

use carrel_core::catalog::{Author, EditionId, EditionRecord, Kind, Lang, MAX_LIST, clip};
use carrel_core::ident::{Doi, Isbn};

use crate::FormatError;
use crate::bounds::Ctx;
use crate::text::{html_to_text, squash, year_of};

/// Fields read from a file, each set once (the first value wins) unless it
/// is a list.
#[derive(Default, Debug)]
pub(crate) struct Meta {
    pub title: Option<String>,
    pub subtitle: Option<String>,
    pub authors: Vec<Author>,
    pub subjects: Vec<String>,
    pub series: Option<String>,
    pub series_index: Option<f64>,
    pub publisher: Option<String>,
    pub year: Option<i32>,
    pub language: Option<String>,
    pub description: Option<String>,
    pub identifiers: Vec<EditionId>,
}

pub(crate) fn clip_owned(s: &str, max: usize) -> String {
    clip(s, max).to_owned()
}

fn first(slot: &mut Option<String>, value: &str) {
    if slot.is_none() {
        let v = squash(value);
        if !v.is_empty() {
            *slot = Some(clip_owned(&v, carrel_core::catalog::MAX_FIELD));
        }
    }
}

/// A name without a trailing e-mail address ("Project <list@example.org>").
fn without_email(name: &str) -> &str {
    match name.find('<') {
        Some(i) if name[i..].contains('@') && name.trim_end().ends_with('>') => name[..i].trim(),
        _ => name.trim(),
    }
}

impl Meta {
    pub fn set_title(&mut self, s: &str) {
        first(&mut self.title, s);
    }

    pub fn set_subtitle(&mut self, s: &str) {
        first(&mut self.subtitle, s);
    }

    pub fn set_publisher(&mut self, s: &str) {
        first(&mut self.publisher, s);
    }

    pub fn set_language(&mut self, s: &str) {
        first(&mut self.language, s);
    }

    pub fn set_series(&mut self, name: &str, index: Option<&str>) {
        if self.series.is_some() {
            return;
        }
        first(&mut self.series, name);
        if self.series.is_some() {
            self.series_index = index.and_then(parse_index);
        }
    }

    pub fn set_year_from(&mut self, date: &str) {
        if self.year.is_none() {
            self.year = year_of(date);
        }
    }

    /// A description that may be HTML.
    pub fn set_description_html(&mut self, html: &str) {
        if self.description.is_none() {
            let text = html_to_text(clip(html, 4 * carrel_core::catalog::MAX_DESCRIPTION));
            if !text.is_empty() {
                self.description = Some(text);
            }
        }
    }

    pub fn add_subject(&mut self, s: &str) {
        let s = squash(s);
        if !s.is_empty() && self.subjects.len() < MAX_LIST * 2 {
            self.subjects
                .push(clip_owned(&s, carrel_core::catalog::MAX_FIELD));
        }
    }

    /// An author as written, with an optional sort form ("file-as").
    pub fn add_author(&mut self, name: &str, sort: Option<&str>) {
        if self.authors.len() >= MAX_LIST {
            return;
        }
        let name = squash(without_email(name));
        let Some(mut author) = Author::parse(&name) else {
            return;
        };
        if let Some(sort) = sort
            .map(|s| squash(without_email(s)))
            .filter(|s| !s.is_empty())
        {
            author.sort = clip_owned(&sort, carrel_core::catalog::MAX_FIELD);
        }
        if !self.authors.contains(&author) {
            self.authors.push(author);
        }
    }

    /// An identifier in any form; `scheme` is the file's own label for it
    /// (`opf:scheme`, `identifier-type`), if any. ISBNs, DOIs and Project
    /// Gutenberg numbers are kept; UUIDs, URLs and shop ids are not.
    pub fn add_identifier(&mut self, raw: &str, scheme: Option<&str>, ctx: &mut Ctx) {
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > 512 || self.identifiers.len() >= MAX_LIST {
            return;
        }
        let lower = raw.to_ascii_lowercase();
        let scheme = scheme.map(|s| s.trim().to_ascii_lowercase());
        let scheme = scheme.as_deref();
        if let Some(n) = gutenberg_number(&lower) {
            self.identifiers.push(EditionId::Gutenberg(n));
            return;
        }
        let doi_like = scheme == Some("doi")
            || lower.starts_with("doi:")
            || lower.starts_with("urn:doi:")
            || lower.starts_with("10.")
            || lower.contains("doi.org/");
        if doi_like {
            match Doi::parse(lower.strip_prefix("urn:doi:").unwrap_or(raw)) {
                Ok(d) => self.identifiers.push(EditionId::doi(&d)),
                Err(e) => ctx.problem("bad_identifier", format!("{raw:.80}: {e}")),
            }
            return;
        }
        let isbn_like = matches!(
            scheme,
            Some("isbn" | "isbn-10" | "isbn-13" | "isbn13" | "isbn10" | "15930")
        ) || lower.starts_with("urn:isbn")
            || lower.starts_with("isbn")
            || looks_like_isbn(raw);
        if isbn_like {
            match Isbn::parse(raw) {
                Ok(i) => self.identifiers.push(EditionId::isbn(&i)),
                Err(e) => ctx.problem("bad_identifier", format!("{raw:.80}: {e}")),
            }
        }
    }

    /// The validated record; a missing title becomes the file's name (and a
    /// `no_title` problem).
    pub fn into_record(
        self,
        kind: Kind,
        path: &Path,
        ctx: &mut Ctx,
    ) -> Result<EditionRecord, FormatError> {
        let title = match self.title {
            Some(t) => t,
            None => {
                ctx.problem(
                    "no_title",
                    "no title in the metadata: the file name is used",
                );
                title_from_file_name(path)
            }
        };
        let language = match self.language.as_deref().map(Lang::parse) {
            Some(Ok(l)) => Some(l),
            Some(Err(e)) => {
                ctx.problem("bad_language", e.to_string());
                None
            }
            None => None,
        };
        EditionRecord {
            source: None,
            kind,
            title,
            subtitle: self.subtitle,
            authors: self.authors,
            author_aliases: Vec::new(),
            subjects: self.subjects,
            series: self.series,
            series_index: self.series_index,
            publisher: self.publisher,
            year: self.year,
            language,
            description: self.description,
            identifiers: self.identifiers,
        }
        .validated()
        .map_err(|e| FormatError::Malformed(e.to_string()))
    }
}

fn parse_index(s: &str) -> Option<f64> {
    let s = s.trim().trim_start_matches('#');
    s.parse::<f64>()
        .ok()
        .or_else(|| s.replace(',', ".").parse().ok())
        .filter(|f| f.is_finite())
}

/// The ebook number of a Project Gutenberg URL (`http://www.gutenberg.org/11`,
/// `https://www.gutenberg.org/ebooks/1342`).
fn gutenberg_number(lower: &str) -> Option<u32> {
    let rest = lower.split_once("gutenberg.org/")?.1;
    let rest = rest.strip_prefix("ebooks/").unwrap_or(rest);
    let digits = rest.trim_end_matches('/');
    (!digits.is_empty() && digits.len() <= 9 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

fn looks_like_isbn(raw: &str) -> bool {
    let compact: Vec<u8> = raw.bytes().filter(|b| !matches!(b, b'-' | b' ')).collect();
    let n = compact.len();
    (n == 10 || n == 13)
        && compact[..n - 1].iter().all(u8::is_ascii_digit)
        && (compact[n - 1].is_ascii_digit() || (n == 10 && matches!(compact[n - 1], b'x' | b'X')))
}

/// A title from a file name: the stem (`.fb2.zip` counts as one extension),
/// underscores as spaces.
pub(crate) fn title_from_file_name(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut stem = name.as_str();
    for _ in 0..2 {
        if let Some((s, ext)) = stem.rsplit_once('.')
            && !s.is_empty()
            && ext.len() <= 5
            && ext.chars().all(|c| c.is_ascii_alphanumeric())
        {
            stem = s;
            if !ext.eq_ignore_ascii_case("zip") {
                break;
            }
        }
    }
    let t = squash(&stem.replace('_', " "));
    if t.is_empty() { "Untitled".into() } else { t }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;

    #[test]
    fn identifiers_in_their_forms() {
        let limits = Limits::default();
        let mut ctx = Ctx::new(&limits);
        let mut m = Meta::default();
        m.add_identifier("urn:isbn:9780306406157", None, &mut ctx);
        m.add_identifier("0-306-40615-2", Some("ISBN"), &mut ctx);
        m.add_identifier("http://www.gutenberg.org/11", Some("URI"), &mut ctx);
        m.add_identifier("doi:10.1000/XYZ", None, &mut ctx);
        m.add_identifier("urn:uuid:1234-5678", None, &mut ctx);
        m.add_identifier("978-1234567890", Some("ISBN"), &mut ctx);
        assert_eq!(m.identifiers.len(), 4);
        assert!(m.identifiers.contains(&EditionId::Gutenberg(11)));
        assert!(
            m.identifiers
                .contains(&EditionId::Doi("10.1000/xyz".into()))
        );
        assert!(ctx.has_problem("bad_identifier"));
    }

    #[test]
    fn authors_and_titles() {
        let mut m = Meta::default();
        m.add_author("Lewis Carroll", Some("Carroll, Lewis"));
        m.add_author("Live Systems Project <debian-live@lists.debian.org>", None);
        m.add_author("  ", None);
        assert_eq!(m.authors[0].name, "Lewis Carroll");
        assert_eq!(m.authors[0].sort, "Carroll, Lewis");
        assert_eq!(m.authors[1].name, "Live Systems Project");
        assert_eq!(m.authors.len(), 2);
        assert_eq!(
            title_from_file_name(Path::new("/x/the_book.fb2.zip")),
            "the book"
        );
        assert_eq!(title_from_file_name(Path::new("a_b.c.epub")), "a b.c");
        assert_eq!(title_from_file_name(Path::new(".epub")), ".epub");
    }
}
