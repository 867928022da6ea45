//! The library's catalog records as they arrive from files and dumps, before
//! they are stored: one [`EditionRecord`] per edition, whatever its source.
//!
//! Work → edition → file. A work is what people mean by "the book" (title,
//! authors, subjects, series); an edition is one publication of it
//! (publisher, year, language, identifiers); a file is one format of an
//! edition. Editions without files (metadata-only records from dumps) are
//! first-class. Every record names its [`SourceKey`], which makes imports
//! idempotent: importing the same source twice updates, never duplicates.

use std::fmt;

use crate::CoreError;
use crate::ident::{ArxivId, Doi, Isbn, Issn};

/// The longest title, name or subject kept (characters); longer values are cut.
pub const MAX_FIELD: usize = 2_000;
/// The longest description kept (characters).
pub const MAX_DESCRIPTION: usize = 20_000;
/// At most this many authors, subjects or identifiers per record.
pub const MAX_LIST: usize = 64;

/// What kind of publication a record is (a search facet).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    #[default]
    Book,
    Article,
    Comic,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Book => "book",
            Kind::Article => "article",
            Kind::Comic => "comic",
        }
    }

    pub fn parse(s: &str) -> Result<Self, CoreError> {
        match s {
            "book" => Ok(Kind::Book),
            "article" => Ok(Kind::Article),
            "comic" => Ok(Kind::Comic),
            _ => Err(CoreError::InvalidCatalog(format!("unknown kind {s:?}"))),
        }
    }
}

/// A BCP 47 language tag in canonical case (`en`, `pt-BR`, `zh-Hant`).
/// Three-letter MARC/ISO 639-2 codes common in dumps (`eng`, `fre`, `ger`)
/// become their two-letter tags; other well-formed tags are kept.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Lang(String);

impl Lang {
    pub fn parse(s: &str) -> Result<Self, CoreError> {
        let s = s.trim();
        let bad = || CoreError::InvalidCatalog(format!("not a language tag: {:.40?}", s));
        if s.is_empty() || s.len() > 35 {
            return Err(bad());
        }
        let mut out = String::with_capacity(s.len());
        for (i, sub) in s.split(['-', '_']).enumerate() {
            if sub.is_empty() || sub.len() > 8 || !sub.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(bad());
            }
            if i == 0 {
                if !(2..=3).contains(&sub.len()) || !sub.chars().all(|c| c.is_ascii_alphabetic()) {
                    return Err(bad());
                }
                let lower = sub.to_ascii_lowercase();
                out.push_str(three_to_two(&lower).unwrap_or(&lower));
            } else {
                out.push('-');
                match sub.len() {
                    2 => out.push_str(&sub.to_ascii_uppercase()), // region
                    4 => {
                        // script: title case
                        let mut c = sub.chars();
                        out.extend(c.next().map(|c| c.to_ascii_uppercase()));
                        out.push_str(&c.as_str().to_ascii_lowercase());
                    }
                    _ => out.push_str(&sub.to_ascii_lowercase()),
                }
            }
        }
        Ok(Lang(out))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The primary language subtag (`pt` of `pt-BR`).
    pub fn primary(&self) -> &str {
        self.0.split('-').next().unwrap_or(&self.0)
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn three_to_two(code: &str) -> Option<&'static str> {
    Some(match code {
        "eng" => "en",
        "fre" | "fra" => "fr",
        "ger" | "deu" => "de",
        "spa" => "es",
        "ita" => "it",
        "por" => "pt",
        "rus" => "ru",
        "dut" | "nld" => "nl",
        "swe" => "sv",
        "fin" => "fi",
        "dan" => "da",
        "nor" => "no",
        "pol" => "pl",
        "chi" | "zho" => "zh",
        "jpn" => "ja",
        "kor" => "ko",
        "ara" => "ar",
        "heb" => "he",
        "gre" | "ell" => "el",
        "lat" => "la",
        "hun" => "hu",
        "cze" | "ces" => "cs",
        "tur" => "tr",
        "ukr" => "uk",
        "hin" => "hi",
        "per" | "fas" => "fa",
        "cat" => "ca",
        "epo" => "eo",
        "ice" | "isl" => "is",
        "wel" | "cym" => "cy",
        "gle" => "ga",
        "rum" | "ron" => "ro",
        "bul" => "bg",
        "srp" => "sr",
        "hrv" => "hr",
        "slv" => "sl",
        "slo" | "slk" => "sk",
        "est" => "et",
        "lav" => "lv",
        "lit" => "lt",
        "ind" => "id",
        "vie" => "vi",
        "tha" => "th",
        "afr" => "af",
        "tgl" => "tl",
        _ => return None,
    })
}

/// Where a record came from, as `scheme:key` (`gutenberg:1342`,
/// `ol:/books/OL7353617M`, `doi:10.1000/xyz`, `file:<blake3>`). One source
/// key is one edition: re-importing it updates that edition.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct SourceKey(String);

impl SourceKey {
    pub fn new(scheme: &str, key: &str) -> Result<Self, CoreError> {
        let key = key.trim();
        let ok_scheme = !scheme.is_empty()
            && scheme.len() <= 32
            && scheme
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok_scheme || key.is_empty() || key.len() > 512 || key.chars().any(char::is_control) {
            return Err(CoreError::InvalidCatalog(format!(
                "bad source key {scheme:.32?}:{key:.64?}"
            )));
        }
        Ok(SourceKey(format!("{scheme}:{key}")))
    }

    /// A stored key, as written by [`SourceKey::as_str`].
    pub fn from_stored(s: &str) -> Result<Self, CoreError> {
        let (scheme, key) = s
            .split_once(':')
            .ok_or_else(|| CoreError::InvalidCatalog(format!("bad source key {s:.64?}")))?;
        Self::new(scheme, key)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Any identifier an edition can carry, normalized.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(tag = "scheme", content = "value", rename_all = "lowercase")]
pub enum EditionId {
    Isbn(String),
    Doi(String),
    Issn(String),
    Arxiv(String),
    /// Open Library key (`OL7353617M`, `OL45804W`).
    #[serde(rename = "ol")]
    OpenLibrary(String),
    /// Project Gutenberg ebook number.
    Gutenberg(u32),
}

impl EditionId {
    pub fn isbn(i: &Isbn) -> Self {
        EditionId::Isbn(i.to_string())
    }
    pub fn doi(d: &Doi) -> Self {
        EditionId::Doi(d.as_str().to_owned())
    }
    pub fn issn(i: &Issn) -> Self {
        EditionId::Issn(i.to_string())
    }
    pub fn arxiv(a: &ArxivId) -> Self {
        EditionId::Arxiv(a.as_str().to_owned())
    }

    /// An Open Library key, from `/books/OL1M`, `OL1M` or a URL.
    pub fn open_library(s: &str) -> Result<Self, CoreError> {
        let key = s
            .trim()
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("");
        let ok = key.len() >= 4
            && key.len() <= 16
            && key.starts_with("OL")
            && matches!(key.as_bytes()[key.len() - 1], b'M' | b'W' | b'A')
            && key[2..key.len() - 1].bytes().all(|b| b.is_ascii_digit());
        if ok {
            Ok(EditionId::OpenLibrary(key.to_owned()))
        } else {
            Err(CoreError::InvalidIdentifier("not an Open Library key"))
        }
    }

    /// The scheme stored in the identifiers table.
    pub fn scheme(&self) -> &'static str {
        match self {
            EditionId::Isbn(_) => "isbn",
            EditionId::Doi(_) => "doi",
            EditionId::Issn(_) => "issn",
            EditionId::Arxiv(_) => "arxiv",
            EditionId::OpenLibrary(_) => "ol",
            EditionId::Gutenberg(_) => "gutenberg",
        }
    }

    /// The normalized value stored in the identifiers table.
    pub fn value(&self) -> String {
        match self {
            EditionId::Isbn(v)
            | EditionId::Doi(v)
            | EditionId::Issn(v)
            | EditionId::Arxiv(v)
            | EditionId::OpenLibrary(v) => v.clone(),
            EditionId::Gutenberg(n) => n.to_string(),
        }
    }

    /// Rebuilds a stored identifier (validating it again).
    pub fn from_stored(scheme: &str, value: &str) -> Result<Self, CoreError> {
        Ok(match scheme {
            "isbn" => EditionId::isbn(&Isbn::parse(value)?),
            "doi" => EditionId::doi(&Doi::parse(value)?),
            "issn" => EditionId::issn(&Issn::parse(value)?),
            "arxiv" => EditionId::arxiv(&ArxivId::parse(value)?),
            "ol" => EditionId::open_library(value)?,
            "gutenberg" => EditionId::Gutenberg(
                value
                    .parse()
                    .map_err(|_| CoreError::InvalidIdentifier("not a Gutenberg number"))?,
            ),
            _ => {
                return Err(CoreError::InvalidIdentifier("unknown identifier scheme"));
            }
        })
    }

    /// The identifier a search query is, if it is one: an ISBN, DOI, ISSN or
    /// arXiv id in any form ([`crate::ident::Identifier::detect`]), or a
    /// Project Gutenberg ebook number as people write it (`gutenberg:1342`,
    /// `EBook #1342`, `etext 1342`, `pg1342`, `gutenberg.org/ebooks/1342`).
    pub fn detect(query: &str) -> Option<Self> {
        crate::ident::Identifier::detect(query)
            .map(|i| EditionId::from(&i))
            .or_else(|| gutenberg_number(query).map(EditionId::Gutenberg))
    }

    /// Identifiers that make two editions the same edition (ISBN, DOI,
    /// arXiv); an ISSN names a journal, not an edition.
    pub fn is_edition_key(&self) -> bool {
        matches!(
            self,
            EditionId::Isbn(_) | EditionId::Doi(_) | EditionId::Arxiv(_)
        )
    }
}

impl From<&crate::ident::Identifier> for EditionId {
    fn from(id: &crate::ident::Identifier) -> Self {
        use crate::ident::Identifier;
        match id {
            Identifier::Isbn(i) => EditionId::isbn(i),
            Identifier::Doi(d) => EditionId::doi(d),
            Identifier::Issn(i) => EditionId::issn(i),
            Identifier::Arxiv(a) => EditionId::arxiv(a),
        }
    }
}

impl fmt::Display for EditionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.scheme(), self.value())
    }
}

/// A Project Gutenberg ebook number in the forms of [`EditionId::detect`].
fn gutenberg_number(query: &str) -> Option<u32> {
    let q = query.trim().to_ascii_lowercase();
    if q.len() > 200 {
        return None;
    }
    let digits = |s: &str| -> Option<u32> {
        let n = s.trim_start_matches(['#', ':', ' ', '.', '-']);
        let n = n
            .strip_prefix("no.")
            .or(n.strip_prefix("no "))
            .unwrap_or(n)
            .trim_start();
        (!n.is_empty() && n.len() <= 7 && n.bytes().all(|b| b.is_ascii_digit()))
            .then(|| n.parse().ok())
            .flatten()
            .filter(|&n| n > 0)
    };
    // Links: …gutenberg.org/ebooks/N[.format], /files/N/…, /cache/epub/N/….
    if let Some((_, path)) = q.split_once("gutenberg.org/") {
        let path = path.strip_prefix("cache/epub/").unwrap_or(path);
        let rest = path
            .strip_prefix("ebooks/")
            .or_else(|| path.strip_prefix("files/"))
            .unwrap_or(path);
        let n: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let after = rest[n.len()..].chars().next();
        return match after {
            None | Some('/' | '.' | '?' | '#') => digits(&n),
            _ => None,
        };
    }
    const PREFIXES: [&str; 7] = [
        "project gutenberg",
        "gutenberg",
        "ebook",
        "e-book",
        "etext",
        "e-text",
        "pg",
    ];
    PREFIXES
        .iter()
        .find_map(|p| q.strip_prefix(p).and_then(digits))
}

/// An author as shown ("Fyodor Dostoevsky") and as sorted ("Dostoevsky, Fyodor").
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Author {
    pub name: String,
    pub sort: String,
}

impl Author {
    /// From a name written either way: "Last, First" is shown as
    /// "First Last"; "First Last" sorts as "Last, First". Life dates in
    /// Gutenberg-style names ("Austen, Jane, 1775-1817") are dropped.
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = clip(raw.trim(), MAX_FIELD);
        if raw.is_empty() {
            return None;
        }
        let parts: Vec<&str> = raw
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty() && !p.chars().next().is_some_and(|c| c.is_ascii_digit()))
            .collect();
        match parts.as_slice() {
            [] => None,
            [one] => Some(Author {
                name: one.to_string(),
                sort: crate::text::sort_name(one),
            }),
            [last, first, ..] => {
                // "Kennedy, John F. (John Fitzgerald)": the parenthesis is a
                // fuller form of the first name, not shown.
                let first = first.split(" (").next().unwrap_or(first).trim();
                Some(Author {
                    name: format!("{first} {last}"),
                    sort: format!("{last}, {first}"),
                })
            }
        }
    }
}

/// One edition with its work's fields, as read from a file or a dump.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct EditionRecord {
    pub source: Option<SourceKey>,
    pub kind: Kind,
    pub title: String,
    pub subtitle: Option<String>,
    pub authors: Vec<Author>,
    /// Other names of the authors ("Dostoyevsky, Fyodor"), searched as the authors.
    pub author_aliases: Vec<String>,
    pub subjects: Vec<String>,
    pub series: Option<String>,
    pub series_index: Option<f64>,
    pub publisher: Option<String>,
    pub year: Option<i32>,
    pub language: Option<Lang>,
    pub description: Option<String>,
    pub identifiers: Vec<EditionId>,
}

impl EditionRecord {
    /// Enforces the record's bounds and rules: a title is required; long
    /// fields are cut; lists are bounded and deduplicated; a year must be
    /// plausible. Returns the record ready to store.
    pub fn validated(mut self) -> Result<Self, CoreError> {
        self.title = clip(
            self.title
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .as_str(),
            MAX_FIELD,
        )
        .to_owned();
        if self.title.is_empty() {
            return Err(CoreError::InvalidCatalog("record has no title".into()));
        }
        let tidy = |o: Option<String>, max| {
            o.map(|s| clip(s.trim(), max).to_owned())
                .filter(|s| !s.is_empty())
        };
        self.subtitle = tidy(self.subtitle, MAX_FIELD);
        self.series = tidy(self.series, MAX_FIELD);
        self.publisher = tidy(self.publisher, MAX_FIELD);
        self.description = tidy(self.description, MAX_DESCRIPTION);
        self.authors.truncate(MAX_LIST);
        self.authors.dedup();
        self.author_aliases.truncate(MAX_LIST);
        self.subjects = {
            let mut seen = std::collections::HashSet::new();
            self.subjects
                .into_iter()
                .map(|s| clip(s.trim(), MAX_FIELD).to_owned())
                .filter(|s| !s.is_empty() && seen.insert(s.to_lowercase()))
                .take(MAX_LIST)
                .collect()
        };
        self.identifiers.sort();
        self.identifiers.dedup();
        self.identifiers.truncate(MAX_LIST);
        if let Some(y) = self.year
            && !(-3000..=2100).contains(&y)
        {
            self.year = None;
        }
        if let Some(i) = self.series_index
            && !(i.is_finite() && (0.0..=1e6).contains(&i))
        {
            self.series_index = None;
        }
        Ok(self)
    }

    /// Takes what a later source of the same edition says: its values
    /// replace these where it has one; identifiers are united.
    pub fn absorb(&mut self, newer: &EditionRecord) {
        self.kind = newer.kind;
        self.title.clone_from(&newer.title);
        fn take<T: Clone>(old: &mut Option<T>, new: &Option<T>) {
            if new.is_some() {
                old.clone_from(new);
            }
        }
        fn take_list<T: Clone>(old: &mut Vec<T>, new: &[T]) {
            if !new.is_empty() {
                *old = new.to_vec();
            }
        }
        take(&mut self.subtitle, &newer.subtitle);
        take_list(&mut self.authors, &newer.authors);
        take_list(&mut self.author_aliases, &newer.author_aliases);
        take_list(&mut self.subjects, &newer.subjects);
        take(&mut self.series, &newer.series);
        take(&mut self.series_index, &newer.series_index);
        take(&mut self.publisher, &newer.publisher);
        take(&mut self.year, &newer.year);
        take(&mut self.language, &newer.language);
        take(&mut self.description, &newer.description);
        self.identifiers.extend(newer.identifiers.iter().cloned());
        self.identifiers.sort();
        self.identifiers.dedup();
    }

    /// The key that groups this edition into a work (see [`crate::text::work_key`]).
    pub fn work_key(&self) -> String {
        crate::text::work_key(&self.title, self.authors.first().map(|a| a.sort.as_str()))
    }
}

/// `s` cut to at most `max` characters, on a character boundary.
pub fn clip(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_tags() {
        for (i, o) in [
            ("en", "en"),
            ("EN", "en"),
            ("pt_br", "pt-BR"),
            ("zh-hant-tw", "zh-Hant-TW"),
            ("eng", "en"),
            ("fre", "fr"),
            ("grc", "grc"),
        ] {
            assert_eq!(Lang::parse(i).unwrap().as_str(), o, "{i}");
        }
        for bad in [
            "",
            "e",
            "english language",
            "en--US",
            "12",
            "en-US-x-aaaaaaaaaa",
            "ñe",
        ] {
            assert!(Lang::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Lang::parse(&"a".repeat(10_000)).is_err());
    }

    #[test]
    fn authors_either_way() {
        let a = Author::parse("Austen, Jane, 1775-1817").unwrap();
        assert_eq!(
            (a.name.as_str(), a.sort.as_str()),
            ("Jane Austen", "Austen, Jane")
        );
        let b = Author::parse("Fyodor Dostoevsky").unwrap();
        assert_eq!(
            (b.name.as_str(), b.sort.as_str()),
            ("Fyodor Dostoevsky", "Dostoevsky, Fyodor")
        );
        let k = Author::parse("Kennedy, John F. (John Fitzgerald)").unwrap();
        assert_eq!(k.name, "John F. Kennedy");
        assert_eq!(
            Author::parse("United States").unwrap().sort,
            "States, United"
        );
        assert!(Author::parse("  ").is_none());
        assert!(Author::parse(",,,").is_none());
    }

    #[test]
    fn source_keys_and_ids() {
        assert_eq!(
            SourceKey::new("gutenberg", "1342").unwrap().as_str(),
            "gutenberg:1342"
        );
        assert!(SourceKey::new("Bad Scheme", "1").is_err());
        assert!(SourceKey::new("x", "").is_err());
        assert!(SourceKey::new("x", "a\nb").is_err());
        assert!(SourceKey::new("x", &"k".repeat(1000)).is_err());
        let k = SourceKey::new("ol", "/books/OL1M").unwrap();
        assert_eq!(SourceKey::from_stored(k.as_str()).unwrap(), k);
        assert_eq!(
            EditionId::open_library("/books/OL7353617M")
                .unwrap()
                .value(),
            "OL7353617M"
        );
        assert!(EditionId::open_library("/books/OLxM").is_err());
        assert!(EditionId::open_library("OL1X").is_err());
        let g = EditionId::Gutenberg(1342);
        assert_eq!(EditionId::from_stored(g.scheme(), &g.value()).unwrap(), g);
        assert!(EditionId::from_stored("isbn", "123").is_err());
        assert!(EditionId::from_stored("nope", "1").is_err());
    }

    #[test]
    fn queries_that_are_gutenberg_numbers() {
        for q in [
            "gutenberg:1342",
            "Gutenberg 1342",
            "gutenberg #1342",
            "Project Gutenberg #1342",
            "EBook #1342",
            "ebook 1342",
            "e-book #1342",
            "etext 1342",
            "Etext #1342",
            "pg1342",
            "PG 1342",
            "gutenberg no. 1342",
            "https://www.gutenberg.org/ebooks/1342",
            "gutenberg.org/ebooks/1342.epub3.images",
            "http://www.gutenberg.org/files/1342/1342-h/1342-h.htm",
            "https://www.gutenberg.org/cache/epub/1342/pg1342.txt",
        ] {
            assert_eq!(
                EditionId::detect(q),
                Some(EditionId::Gutenberg(1342)),
                "{q}"
            );
        }
        for q in [
            "gutenberg",
            "gutenberg bible",
            "1342",
            "#1342",
            "pg 13 42",
            "ebook #0",
            "ebooks about 1342",
            "pg99999999999",
            "gutenberg.org/ebooks/search",
            "gutenberg.org/ebooks/12abc",
            "pages",
        ] {
            assert_eq!(EditionId::detect(q), None, "{q}");
        }
        assert_eq!(
            EditionId::detect("ISBN 0-306-40615-2"),
            Some(EditionId::Isbn("9780306406157".into()))
        );
        assert_eq!(EditionId::Gutenberg(1342).to_string(), "gutenberg:1342");
    }

    #[test]
    fn records_are_bounded() {
        let r = EditionRecord {
            title: "  ".into(),
            ..Default::default()
        };
        assert!(r.validated().is_err());
        let r = EditionRecord {
            title: format!("  Long {}  ", "x".repeat(100_000)),
            subjects: vec!["Fiction".into(), "fiction".into(), " ".into()],
            year: Some(99_999),
            series_index: Some(f64::NAN),
            description: Some("d".repeat(1_000_000)),
            ..Default::default()
        }
        .validated()
        .unwrap();
        assert_eq!(r.title.chars().count(), MAX_FIELD);
        assert_eq!(r.subjects, vec!["Fiction".to_string()]);
        assert_eq!(r.year, None);
        assert_eq!(r.series_index, None);
        assert_eq!(r.description.unwrap().chars().count(), MAX_DESCRIPTION);
        assert_eq!(clip("héllo", 2), "hé");
    }
}
