//! The index schema (see the crate documentation for the table) and the
//! mapping of an [`IndexDoc`] onto it.

use carrel_core::catalog::Kind;
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::{TantivyDocument, Term};

use crate::IndexDoc;
use crate::analysis::{EDGE, FOLD};

/// Bumped whenever the schema, the tokenizers or the meaning of a field
/// changes: an index written with another version must be rebuilt.
pub const SCHEMA_VERSION: u32 = 2;

/// The fields of the index, resolved once.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fields {
    pub edition_id: Field,
    pub work_id: Field,
    pub added: Field,
    pub year: Field,
    pub kind: Field,
    pub has_file: Field,
    pub title_key_hi: Field,
    pub title_key_lo: Field,
    pub language: Field,
    pub format: Field,
    pub author_exact: Field,
    pub subject_exact: Field,
    pub identifier: Field,
    pub title: Field,
    pub title_exact: Field,
    pub subtitle: Field,
    pub authors: Field,
    pub series: Field,
    pub subjects: Field,
    pub publisher: Field,
    pub description: Field,
    pub prefix: Field,
}

fn text(tokenizer: &str, option: IndexRecordOption, fieldnorms: bool) -> TextOptions {
    TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(tokenizer)
            .set_index_option(option)
            .set_fieldnorms(fieldnorms),
    )
}

/// A raw (untokenized) string indexed for exact filters, without norms.
fn raw() -> TextOptions {
    text("raw", IndexRecordOption::Basic, false)
}

pub(crate) fn build() -> (Schema, Fields) {
    use IndexRecordOption::{Basic, WithFreqs, WithFreqsAndPositions};
    let mut b = Schema::builder();
    let num_fast = || NumericOptions::default().set_fast();
    let num_indexed_fast = || NumericOptions::default().set_indexed().set_fast();
    let fields = Fields {
        edition_id: b.add_i64_field("edition_id", num_indexed_fast()),
        work_id: b.add_i64_field("work_id", num_fast()),
        added: b.add_i64_field("added", num_indexed_fast()),
        year: b.add_i64_field("year", num_indexed_fast()),
        kind: b.add_u64_field("kind", num_indexed_fast()),
        has_file: b.add_bool_field("has_file", INDEXED | FAST),
        title_key_hi: b.add_u64_field("title_key_hi", num_fast()),
        title_key_lo: b.add_u64_field("title_key_lo", num_fast()),
        language: b.add_text_field("language", raw().set_fast(None)),
        format: b.add_text_field("format", raw().set_fast(None)),
        author_exact: b.add_text_field("author_exact", raw()),
        subject_exact: b.add_text_field("subject_exact", raw()),
        identifier: b.add_u64_field("identifier", INDEXED),
        title: b.add_text_field("title", text(FOLD, WithFreqsAndPositions, true)),
        title_exact: b.add_u64_field("title_exact", INDEXED),
        subtitle: b.add_text_field("subtitle", text(FOLD, WithFreqs, true)),
        authors: b.add_text_field("authors", text(FOLD, WithFreqsAndPositions, true)),
        series: b.add_text_field("series", text(FOLD, WithFreqs, true)),
        subjects: b.add_text_field("subjects", text(FOLD, WithFreqs, true)),
        publisher: b.add_text_field("publisher", text(FOLD, WithFreqs, true)),
        description: b.add_text_field("description", text(FOLD, WithFreqs, true)),
        prefix: b.add_text_field("prefix", text(EDGE, Basic, false)),
    };
    (b.build(), fields)
}

pub(crate) fn kind_code(k: Kind) -> u64 {
    match k {
        Kind::Book => 0,
        Kind::Article => 1,
        Kind::Comic => 2,
    }
}

pub(crate) fn kind_from_code(c: u64) -> Option<Kind> {
    match c {
        0 => Some(Kind::Book),
        1 => Some(Kind::Article),
        2 => Some(Kind::Comic),
        _ => None,
    }
}

/// The 64-bit key a whole string is indexed under where only equality is
/// asked (the exact title, identifiers): almost every record has its own,
/// and a number costs the index a fraction of what the string costs
/// (measured: indexing the folded titles as strings took 27% of the
/// index's CPU in a bulk import; as numbers, see BENCHMARKS.md). Stable
/// across builds (BLAKE3, not the std hasher); two strings share a key with
/// probability 2^-64 per pair.
pub(crate) fn exact_key(field: &str, s: &str) -> u64 {
    let mut h = blake3::Hasher::new();
    h.update(field.as_bytes());
    h.update(&[0]);
    h.update(s.as_bytes());
    u64::from_le_bytes(h.finalize().as_bytes()[..8].try_into().expect("8 bytes"))
}

/// The term of an exact title (see [`exact_key`]).
pub(crate) fn title_exact_term(f: &Fields, stripped: &str) -> Term {
    Term::from_field_u64(f.title_exact, exact_key("title", stripped))
}

/// The term of an identifier (see [`exact_key`]), normalized first.
pub(crate) fn identifier_term(f: &Fields, id: &str) -> Term {
    Term::from_field_u64(f.identifier, exact_key("id", &normalize_identifier(id)))
}

/// Identifiers compare case-insensitively (`ISBN:…` = `isbn:…`).
pub(crate) fn normalize_identifier(s: &str) -> String {
    s.trim().to_ascii_lowercase()
}

/// Languages and formats are matched in lower case.
pub(crate) fn normalize_code(s: &str) -> String {
    s.trim().to_ascii_lowercase()
}

/// The folded title without a leading article: the title sort key, and
/// what a query that is the whole title is compared with.
pub(crate) fn title_key(title: &str) -> String {
    let key = carrel_core::text::work_key(title, None);
    key.strip_suffix('|').unwrap_or(&key).to_owned()
}

/// The first 16 bytes of the sort key as two big-endian numbers; titles
/// without letters sort last.
pub(crate) fn title_sort_key(stripped: &str) -> (u64, u64) {
    if stripped.is_empty() {
        return (u64::MAX, u64::MAX);
    }
    let mut bytes = [0u8; 16];
    let n = stripped.len().min(16);
    bytes[..n].copy_from_slice(&stripped.as_bytes()[..n]);
    let hi = u64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"));
    let lo = u64::from_be_bytes(bytes[8..].try_into().expect("8 bytes"));
    (hi, lo)
}

pub(crate) fn edition_term(f: &Fields, id: i64) -> Term {
    Term::from_field_i64(f.edition_id, id)
}

pub(crate) fn to_document(f: &Fields, d: IndexDoc) -> TantivyDocument {
    let mut doc = TantivyDocument::default();
    doc.add_i64(f.edition_id, d.edition_id);
    doc.add_i64(f.work_id, d.work_id);
    doc.add_i64(f.added, d.added);
    if let Some(y) = d.year {
        doc.add_i64(f.year, i64::from(y));
    }
    doc.add_u64(f.kind, kind_code(d.kind));
    // Facet counts read a record's formats only where it has a file.
    doc.add_bool(f.has_file, d.has_file || !d.formats.is_empty());
    let stripped = title_key(&d.title);
    let (hi, lo) = title_sort_key(&stripped);
    doc.add_u64(f.title_key_hi, hi);
    doc.add_u64(f.title_key_lo, lo);
    if !stripped.is_empty() {
        doc.add_u64(f.title_exact, exact_key("title", &stripped));
    }
    if let Some(l) = d
        .language
        .as_deref()
        .map(normalize_code)
        .filter(|l| !l.is_empty())
    {
        doc.add_text(f.language, l);
    }
    for fmt in &d.formats {
        let fmt = normalize_code(fmt);
        if !fmt.is_empty() {
            doc.add_text(f.format, fmt);
        }
    }
    for id in &d.identifiers {
        let id = normalize_identifier(id);
        if !id.is_empty() {
            doc.add_u64(f.identifier, exact_key("id", &id));
        }
    }
    // Text. Title, authors (not aliases) and series also feed the prefix
    // field used for short prefixes as you type.
    doc.add_text(f.prefix, &d.title);
    doc.add_text(f.title, d.title);
    if let Some(s) = d.subtitle {
        doc.add_text(f.subtitle, s);
    }
    for a in &d.authors {
        doc.add_text(f.prefix, a);
    }
    for a in d.authors.iter().chain(&d.author_aliases) {
        doc.add_text(f.authors, a);
    }
    for a in d.authors {
        doc.add_text(f.author_exact, a);
    }
    if let Some(s) = d.series {
        doc.add_text(f.prefix, &s);
        doc.add_text(f.series, s);
    }
    for s in &d.subjects {
        doc.add_text(f.subjects, s);
    }
    for s in d.subjects {
        doc.add_text(f.subject_exact, s);
    }
    if let Some(p) = d.publisher {
        doc.add_text(f.publisher, p);
    }
    if let Some(desc) = d.description {
        doc.add_text(f.description, desc);
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An index keeps these keys on disk: a change of the hash must come
    /// with a new [`SCHEMA_VERSION`] (and this test's values). The value is
    /// BLAKE3 of `title\0les miserables` (Python's `blake3` package: its
    /// first 8 bytes, little-endian).
    #[test]
    fn exact_keys_are_stable_and_kept_apart_by_field() {
        assert_eq!(exact_key("title", "les miserables"), 0x10b7_e7ff_2f04_d73c);
        assert_ne!(exact_key("title", "x"), exact_key("id", "x"));
        assert_ne!(exact_key("title", "ab"), exact_key("titlea", "b"));
        let (_, f) = build();
        assert_eq!(
            identifier_term(&f, " ISBN:9780306406157 "),
            identifier_term(&f, "isbn:9780306406157")
        );
    }
}
