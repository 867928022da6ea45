//! CSV dumps: any CSV through a column mapping, and two presets.
//!
//! - [`Mapping`]: which column holds which field (`--map title=Title`).
//! - [`gutenberg`]: Project Gutenberg's catalog (gutenbergr's CSV). Rows of
//!   one book are consecutive (one per author); titles carry their subtitle
//!   after a newline; the authors' aliases (`gutenberg_authors.csv.gz`) and
//!   subjects (`gutenberg_subjects.csv.gz`) are read from beside the file when
//!   present: subjects by a merge join, as both files are sorted by book.
//! - [`goodbooks`]: goodbooks-10k, whose ISBN-13s are written as floats
//!   (`9.78043902348e+12`) and ISBN-10s lost their leading zeros.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use carrel_core::catalog::{Author, EditionId, EditionRecord, Kind, Lang, SourceKey};
use carrel_core::ident::{Doi, Isbn, Issn};

use super::{Item, Refs, year_in};
use crate::LibraryError;

/// Which column holds which field. Unmapped fields stay empty.
#[derive(Clone, Debug, Default)]
pub struct Mapping {
    /// The column of each record's key in its source (makes re-imports update).
    pub id: Option<String>,
    /// The scheme of source keys (`csv` unless given).
    pub scheme: String,
    pub title: Option<String>,
    pub subtitle: Option<String>,
    pub authors: Option<String>,
    /// What separates authors in the authors column (`;` unless given).
    pub authors_sep: String,
    pub year: Option<String>,
    pub language: Option<String>,
    pub publisher: Option<String>,
    pub description: Option<String>,
    pub subjects: Option<String>,
    pub series: Option<String>,
    pub series_index: Option<String>,
    pub isbn: Vec<String>,
    pub doi: Option<String>,
    pub issn: Option<String>,
    pub kind: Kind,
}

impl Mapping {
    /// From `field=column` pairs (the CLI's `--map`).
    pub fn parse(
        pairs: &[String],
        kind: Kind,
        authors_sep: Option<&str>,
    ) -> Result<Self, LibraryError> {
        let mut m = Mapping {
            scheme: "csv".into(),
            authors_sep: authors_sep.unwrap_or(";").into(),
            kind,
            ..Default::default()
        };
        for p in pairs {
            let (field, col) = p.split_once('=').ok_or_else(|| {
                LibraryError::BadImport(format!("--map {p:?}: write FIELD=COLUMN"))
            })?;
            let raw = col;
            let col = Some(col.to_owned());
            match field {
                "id" => m.id = col,
                "scheme" => raw.clone_into(&mut m.scheme),
                "title" => m.title = col,
                "subtitle" => m.subtitle = col,
                "authors" | "author" => m.authors = col,
                "year" | "date" => m.year = col,
                "language" => m.language = col,
                "publisher" | "journal" => m.publisher = col,
                "description" | "abstract" => m.description = col,
                "subjects" => m.subjects = col,
                "series" => m.series = col,
                "series_index" => m.series_index = col,
                "isbn" => m.isbn.extend(col),
                "doi" => m.doi = col,
                "issn" => m.issn = col,
                other => {
                    return Err(LibraryError::BadImport(format!(
                        "--map: unknown field {other:?}; fields are id, scheme, title, subtitle, authors, year, \
                         language, publisher, description, subjects, series, series_index, isbn, doi, issn"
                    )));
                }
            }
        }
        if m.title.is_none() {
            return Err(LibraryError::BadImport(
                "--map title=COLUMN is required".into(),
            ));
        }
        SourceKey::new(&m.scheme, "x")
            .map_err(|e| LibraryError::BadImport(format!("scheme: {e}")))?;
        Ok(m)
    }
}

/// Reads CSV rows through a mapping.
pub fn mapped(
    input: Box<dyn BufRead + Send>,
    m: Mapping,
) -> Result<impl Iterator<Item = Item> + Send, LibraryError> {
    let mut r = ::csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(input);
    let headers = r
        .headers()
        .map_err(|e| LibraryError::BadImport(format!("CSV header: {e}")))?
        .clone();
    let col = move |name: &Option<String>| -> Result<Option<usize>, LibraryError> {
        name.as_ref()
            .map(|n| {
                headers.iter().position(|h| h == n).ok_or_else(|| {
                    LibraryError::BadImport(format!(
                        "no column {n:?}; the columns are {}",
                        headers.iter().collect::<Vec<_>>().join(", ")
                    ))
                })
            })
            .transpose()
    };
    let c = Cols {
        id: col(&m.id)?,
        title: col(&m.title)?,
        subtitle: col(&m.subtitle)?,
        authors: col(&m.authors)?,
        year: col(&m.year)?,
        language: col(&m.language)?,
        publisher: col(&m.publisher)?,
        description: col(&m.description)?,
        subjects: col(&m.subjects)?,
        series: col(&m.series)?,
        series_index: col(&m.series_index)?,
        isbn: m
            .isbn
            .iter()
            .map(|i| col(&Some(i.clone())))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect(),
        doi: col(&m.doi)?,
        issn: col(&m.issn)?,
    };
    let mut n = 0u64;
    Ok(r.into_records().map(move |row| {
        n += 1;
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                return Item::Bad(
                    e.position().map_or(n, |p| p.line()),
                    format!("unreadable CSV row: {e}"),
                );
            }
        };
        let line = row.position().map_or(n, |p| p.line());
        match mapped_record(&row, &c, &m, n) {
            Ok(rec) => Item::Record(line, Box::new(rec), Refs::default()),
            Err(e) => Item::Bad(line, e),
        }
    }))
}

struct Cols {
    id: Option<usize>,
    title: Option<usize>,
    subtitle: Option<usize>,
    authors: Option<usize>,
    year: Option<usize>,
    language: Option<usize>,
    publisher: Option<usize>,
    description: Option<usize>,
    subjects: Option<usize>,
    series: Option<usize>,
    series_index: Option<usize>,
    isbn: Vec<usize>,
    doi: Option<usize>,
    issn: Option<usize>,
}

fn get(row: &::csv::StringRecord, c: Option<usize>) -> Option<&str> {
    c.and_then(|i| row.get(i))
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != "NA")
}

fn mapped_record(
    row: &::csv::StringRecord,
    c: &Cols,
    m: &Mapping,
    n: u64,
) -> Result<EditionRecord, String> {
    let key = get(row, c.id)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("row-{n}"));
    let mut r = EditionRecord {
        source: Some(SourceKey::new(&m.scheme, &key).map_err(|e| e.to_string())?),
        kind: m.kind,
        title: get(row, c.title).unwrap_or("").to_owned(),
        subtitle: get(row, c.subtitle).map(str::to_owned),
        authors: get(row, c.authors)
            .map(|a| {
                a.split(m.authors_sep.as_str())
                    .filter_map(Author::parse)
                    .collect()
            })
            .unwrap_or_default(),
        year: get(row, c.year).and_then(year_in),
        language: get(row, c.language).and_then(|l| Lang::parse(l).ok()),
        publisher: get(row, c.publisher).map(str::to_owned),
        description: get(row, c.description).map(str::to_owned),
        subjects: get(row, c.subjects)
            .map(|s| s.split(';').map(|s| s.trim().to_owned()).collect())
            .unwrap_or_default(),
        series: get(row, c.series).map(str::to_owned),
        series_index: get(row, c.series_index).and_then(|s| s.parse().ok()),
        ..Default::default()
    };
    for &i in &c.isbn {
        if let Some(v) = get(row, Some(i)) {
            for part in v.split([';', ',', '|']) {
                if let Ok(isbn) = Isbn::parse(part).or_else(|e| isbn13_from_float(part).ok_or(e)) {
                    r.identifiers.push(EditionId::isbn(&isbn));
                }
            }
        }
    }
    if let Some(d) = get(row, c.doi).and_then(|d| Doi::parse(d).ok()) {
        r.identifiers.push(EditionId::doi(&d));
    }
    if let Some(i) = get(row, c.issn).and_then(|i| Issn::parse(i).ok()) {
        r.identifiers.push(EditionId::issn(&i));
    }
    r.validated().map_err(|e| e.to_string())
}

/// An ISBN-13 written as a float by a spreadsheet (`9.78043902348e+12`):
/// the float kept 12 significant digits, rounded, and lost the check digit.
/// Both possible numbers are rebuilt: the 12 digits as written with a check
/// digit of at most 5 (not rounded up), or one less with a check digit of
/// 5 or more (rounded up). Exactly one must be a valid ISBN, else the value is
/// refused (floats that kept fewer digits are refused too).
pub fn isbn13_from_float(s: &str) -> Option<Isbn> {
    let candidates = isbn13_float_candidates(s)?;
    match candidates.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

/// The ISBN-13s that a float spelling may stand for (see [`isbn13_from_float`]).
pub fn isbn13_float_candidates(s: &str) -> Option<Vec<Isbn>> {
    let s = s.trim();
    let (mantissa, exp) = s.split_once(['e', 'E'])?;
    let exp: i32 = exp.trim_start_matches('+').parse().ok()?;
    if exp != 12 || mantissa.find('.') != Some(1) {
        return None;
    }
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if digits.len() != 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let given: u64 = digits.parse().ok()?;
    let check = |twelve: u64| -> u64 {
        let d = format!("{twelve:012}");
        let sum: u64 = d
            .bytes()
            .enumerate()
            .map(|(i, b)| u64::from(b - b'0') * if i % 2 == 0 { 1 } else { 3 })
            .sum();
        (10 - sum % 10) % 10
    };
    let mut out = Vec::new();
    let a = check(given);
    // A check digit of exactly 5 may have been rounded either way.
    if a <= 5 {
        out.extend(Isbn::parse(&format!("{given:012}{a}")).ok());
    }
    if given > 0 {
        let b = check(given - 1);
        if b >= 5 {
            out.extend(Isbn::parse(&format!("{:012}{b}", given - 1)).ok());
        }
    }
    Some(out)
}

/// Project Gutenberg's catalog (see the module documentation).
pub fn gutenberg(
    path: &Path,
    input: Box<dyn BufRead + Send>,
) -> Result<impl Iterator<Item = Item> + Send + use<>, LibraryError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let aliases = gutenberg_aliases(&dir.join("gutenberg_authors.csv.gz"))?;
    let subjects = match super::open(&dir.join("gutenberg_subjects.csv.gz")) {
        Ok((s, _)) => Some(::csv::Reader::from_reader(s).into_records().peekable()),
        Err(_) => None,
    };
    let mut rows = ::csv::Reader::from_reader(input).into_records().peekable();
    let mut subjects = subjects;
    let mut n = 0u64;
    Ok(std::iter::from_fn(move || {
        let first = rows.next()?;
        n += 1;
        let first = match first {
            Ok(r) => r,
            Err(e) => {
                return Some(Item::Bad(
                    e.position().map_or(n, |p| p.line()),
                    format!("unreadable CSV row: {e}"),
                ));
            }
        };
        let line = first.position().map_or(n, |p| p.line());
        let id: u32 = match first.get(0).and_then(|s| s.parse().ok()) {
            Some(id) => id,
            None => return Some(Item::Bad(line, "gutenberg_id is not a number".into())),
        };
        // The book's other rows (one per further author).
        let mut group = vec![first];
        while let Some(Ok(next)) = rows.peek() {
            if next.get(0).and_then(|s| s.parse::<u32>().ok()) != Some(id) {
                break;
            }
            group.extend(rows.next().and_then(Result::ok));
        }
        let mut subj: Vec<String> = Vec::new();
        if let Some(s) = subjects.as_mut() {
            while let Some(Ok(row)) = s.peek() {
                match row.get(0).and_then(|v| v.parse::<u32>().ok()) {
                    Some(b) if b < id => {
                        s.next();
                    }
                    Some(b) if b == id => {
                        if row.get(1) == Some("lcsh") {
                            subj.extend(row.get(2).map(str::to_owned));
                        }
                        s.next();
                    }
                    _ => break,
                }
            }
        }
        Some(match gutenberg_record(id, &group, subj, &aliases) {
            Ok(r) => Item::Record(line, Box::new(r), Refs::default()),
            Err(e) => Item::Bad(line, e),
        })
    }))
}

fn gutenberg_record(
    id: u32,
    rows: &[::csv::StringRecord],
    mut subjects: Vec<String>,
    aliases: &HashMap<String, Vec<String>>,
) -> Result<EditionRecord, String> {
    let first = &rows[0];
    // Titles come as MARC 245 with its subfield marks: "Black Beauty : $b The
    // autobiography of a horse"; `$b` (the remainder) is the subtitle.
    let raw_title = get(first, Some(1)).unwrap_or("").replace(" $b ", "\n");
    let mut lines = raw_title.splitn(2, '\n');
    let title = lines
        .next()
        .unwrap_or("")
        .trim()
        .trim_end_matches([':', ';'])
        .trim()
        .to_owned();
    let subtitle = lines.next().map(|s| {
        let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
        // "[Peter and Wendy]": an alternative title in brackets.
        match s.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            Some(inner) if !inner.contains(['[', ']']) => inner.to_owned(),
            _ => s,
        }
    });
    let mut authors = Vec::new();
    let mut author_aliases = Vec::new();
    for row in rows {
        if let Some(a) =
            get(row, Some(2)).filter(|a| !a.starts_with("Various") && !a.starts_with("Anonymous"))
            && let Some(a) = Author::parse(a)
        {
            authors.push(a);
        }
        if let Some(al) = get(row, Some(3)).and_then(|k| aliases.get(k)) {
            author_aliases.extend(al.iter().cloned());
        }
    }
    if let Some(shelves) = get(first, Some(5)) {
        subjects.extend(
            shelves
                .split('/')
                .map(|s| s.trim_start_matches("Category: ").trim().to_owned())
                .filter(|s| !s.is_empty()),
        );
    }
    EditionRecord {
        source: Some(SourceKey::new("gutenberg", &id.to_string()).map_err(|e| e.to_string())?),
        kind: Kind::Book,
        title,
        subtitle,
        authors,
        author_aliases,
        subjects,
        language: get(first, Some(4))
            .and_then(|l| Lang::parse(l.split('/').next().unwrap_or(l)).ok()),
        identifiers: vec![EditionId::Gutenberg(id)],
        ..Default::default()
    }
    .validated()
    .map_err(|e| e.to_string())
}

/// Author id → other names, from `gutenberg_authors.csv.gz` (empty if absent).
fn gutenberg_aliases(path: &Path) -> Result<HashMap<String, Vec<String>>, LibraryError> {
    let mut out = HashMap::new();
    let Ok((input, _)) = super::open(path) else {
        return Ok(out);
    };
    let mut r = ::csv::Reader::from_reader(input);
    let headers = r
        .headers()
        .map_err(|e| LibraryError::BadImport(format!("{}: {e}", path.display())))?
        .clone();
    let id = headers.iter().position(|h| h == "gutenberg_author_id");
    let al = headers.iter().position(|h| h == "aliases");
    let (Some(id), Some(al)) = (id, al) else {
        return Ok(out);
    };
    for row in r.into_records().map_while(Result::ok) {
        if let (Some(k), Some(a)) = (row.get(id), row.get(al)) {
            let names: Vec<String> = a
                .split('/')
                .filter_map(|n| Author::parse(n).map(|a| a.name))
                .take(16)
                .collect();
            if !names.is_empty() {
                out.insert(k.to_owned(), names);
            }
        }
    }
    Ok(out)
}

/// goodbooks-10k (see the module documentation).
pub fn goodbooks(
    input: Box<dyn BufRead + Send>,
) -> Result<impl Iterator<Item = Item> + Send, LibraryError> {
    let mut r = ::csv::Reader::from_reader(input);
    let headers = r
        .headers()
        .map_err(|e| LibraryError::BadImport(format!("CSV header: {e}")))?
        .clone();
    let pos = |n: &str| headers.iter().position(|h| h == n);
    let cols = [
        "goodreads_book_id",
        "isbn",
        "isbn13",
        "authors",
        "original_publication_year",
        "original_title",
        "title",
        "language_code",
    ]
    .map(pos);
    if cols.iter().any(Option::is_none) {
        return Err(LibraryError::BadImport(
            "not a goodbooks-10k CSV (missing columns)".into(),
        ));
    }
    let [id, isbn, isbn13, authors, year, orig_title, title, lang] = cols;
    let mut n = 0u64;
    Ok(r.into_records().map(move |row| {
        n += 1;
        let row = match row {
            Ok(row) => row,
            Err(e) => return Item::Bad(n + 1, format!("unreadable CSV row: {e}")),
        };
        let line = row.position().map_or(n + 1, |p| p.line());
        let Some(key) = get(&row, id) else {
            return Item::Bad(line, "no goodreads_book_id".into());
        };
        let full_title = get(&row, title).unwrap_or("");
        // "The Hunger Games (The Hunger Games, #1)": the series in brackets.
        let (shown, series, index) = split_series(full_title);
        let mut rec = EditionRecord {
            source: SourceKey::new("goodreads", key).ok(),
            kind: Kind::Book,
            title: get(&row, orig_title)
                .map(str::to_owned)
                .unwrap_or_else(|| shown.to_owned()),
            series,
            series_index: index,
            authors: get(&row, authors)
                .map(|a| a.split(", ").filter_map(Author::parse).collect())
                .unwrap_or_default(),
            year: get(&row, year)
                .and_then(|y| y.parse::<f64>().ok())
                .map(|y| y as i32),
            language: get(&row, lang).and_then(|l| Lang::parse(l).ok()),
            ..Default::default()
        };
        // ISBN-10 with its leading zeros restored (exact; about a dozen rows
        // have an isbn13 of another edition, and the ISBN-10 wins); else the
        // float ISBN-13's one candidate.
        let isbn10 = get(&row, isbn)
            .map(|i| format!("{i:0>10}"))
            .and_then(|i| Isbn::parse(&i).ok());
        let floats = get(&row, isbn13)
            .and_then(isbn13_float_candidates)
            .unwrap_or_default();
        match (isbn10, floats.as_slice()) {
            (Some(a), _) => rec.identifiers.push(EditionId::isbn(&a)),
            (None, [a]) => rec.identifiers.push(EditionId::isbn(a)),
            _ => {}
        }
        match rec.validated() {
            Ok(r) => Item::Record(line, Box::new(r), Refs::default()),
            Err(e) => Item::Bad(line, e.to_string()),
        }
    }))
}

/// "Title (Series, #2)" → ("Title", Some("Series"), Some(2.0)).
fn split_series(t: &str) -> (&str, Option<String>, Option<f64>) {
    if let Some(open) = t.rfind(" (")
        && t.ends_with(')')
    {
        let inner = &t[open + 2..t.len() - 1];
        if let Some((series, num)) = inner.rsplit_once(", #") {
            return (&t[..open], Some(series.to_owned()), num.parse().ok());
        }
    }
    (t, None, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_isbns() {
        assert_eq!(
            isbn13_from_float("9.78043902348e+12").unwrap().to_string(),
            "9780439023481"
        );
        // Rounded up: 9780679783268 became 9.78067978327e+12.
        let c = isbn13_float_candidates("9.78067978327e+12").unwrap();
        assert!(c.contains(&Isbn::parse("9780679783268").unwrap()), "{c:?}");
        assert_eq!(isbn13_from_float("9.78031E+12"), None, "lost digits");
        assert_eq!(isbn13_from_float("9.78043902348e+11"), None);
        assert_eq!(isbn13_from_float("abc"), None);
        assert_eq!(isbn13_from_float("9.7804390234x8e+12"), None);
        // The ISBN-10 of the same book agrees.
        assert_eq!(
            Isbn::parse("0439023483").unwrap(),
            isbn13_from_float("9.78043902348e+12").unwrap()
        );
    }

    #[test]
    fn series_in_titles() {
        assert_eq!(
            split_series("The Hunger Games (The Hunger Games, #1)"),
            (
                "The Hunger Games",
                Some("The Hunger Games".into()),
                Some(1.0)
            )
        );
        assert_eq!(
            split_series("Plain (not a series)"),
            ("Plain (not a series)", None, None)
        );
    }

    #[test]
    fn gutenberg_subfield_marks_become_subtitles() {
        let row = |t: &str| ::csv::StringRecord::from(vec!["16", t, "Barrie, J. M.", "10", "en"]);
        let r = gutenberg_record(
            16,
            &[row("Peter Pan : $b [Peter and Wendy]")],
            vec![],
            &HashMap::new(),
        )
        .unwrap();
        assert_eq!(r.title, "Peter Pan");
        assert_eq!(r.subtitle.as_deref(), Some("Peter and Wendy"));
        let r = gutenberg_record(
            271,
            &[row("Black Beauty : $b The autobiography of a horse")],
            vec![],
            &HashMap::new(),
        )
        .unwrap();
        assert_eq!(r.title, "Black Beauty");
        assert_eq!(r.subtitle.as_deref(), Some("The autobiography of a horse"));
        assert!(!r.title.contains('$'));
    }

    #[test]
    fn mapping_errors_are_clear() {
        assert!(Mapping::parse(&["nope".into()], Kind::Book, None).is_err());
        assert!(Mapping::parse(&["colour=x".into()], Kind::Book, None).is_err());
        assert!(
            Mapping::parse(&["id=x".into()], Kind::Book, None).is_err(),
            "title required"
        );
        let m = Mapping::parse(&["title=T".into(), "id=I".into()], Kind::Book, None).unwrap();
        let data = "I,T\n1,One\n2,\n\"3,Three\n";
        let items: Vec<Item> = mapped(Box::new(data.as_bytes()), m).unwrap().collect();
        assert!(matches!(&items[0], Item::Record(2, r, _) if r.title == "One"));
        assert!(matches!(&items[1], Item::Bad(3, _)), "no title");
        assert_eq!(items.len(), 3);
        let m = Mapping::parse(&["title=missing".into()], Kind::Book, None).unwrap();
        assert!(mapped(Box::new(data.as_bytes()), m).is_err());
    }
}
