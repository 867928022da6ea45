//! From a [`Query`] to a tantivy query, built programmatically (the query
//! text never reaches a query parser): per word a union of exact, fuzzy and
//! prefix clauses over the weighted fields, the words combined with AND,
//! phrase and exact-title boosts, filters as zero-scoring required clauses.

use std::collections::HashMap;
use std::ops::Bound;
use std::sync::OnceLock;

use carrel_core::catalog::Kind;
use levenshtein_automata::{DFA, Distance, LevenshteinAutomatonBuilder, SINK_STATE};
use tantivy::columnar::StrColumn;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, Occur, Query as TQuery, RangeQuery,
    TermQuery, TermSetQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{Searcher, Term};

use crate::SearchError;
use crate::analysis::{EDGE_MAX, EDGE_MIN, is_cjk, tokens};
use crate::columns::Columns;
use crate::schema::{
    Fields, identifier_term, kind_code, normalize_code, title_exact_term, title_key,
};
use crate::union::{BoundedPhrase, PhraseBonus, UnionQuery};

/// Only this much of a query's text is read.
pub const MAX_QUERY_BYTES: usize = 4096;
/// Words past this many are ignored.
pub const MAX_QUERY_TERMS: usize = 16;

/// Field weights (BM25 scores are multiplied by these).
const TITLE: f32 = 3.0;
const SUBTITLE: f32 = 1.5;
const AUTHORS: f32 = 2.5;
const SERIES: f32 = 1.5;
const SUBJECTS: f32 = 1.0;
const PUBLISHER: f32 = 0.5;
const DESCRIPTION: f32 = 0.3;
/// A fuzzy match scores a constant: this share of its field's weight for
/// one edit, [`FUZZY_2`] for two (exact matches score BM25 × weight, and
/// one exact word match almost always scores more).
const FUZZY_1: f32 = 0.5;
const FUZZY_2: f32 = 0.35;
/// A prefix match (search as you type) of the last word.
const PREFIX: f32 = 1.2;
const FUZZY_PREFIX: f32 = 0.6;
/// Two neighbouring words are a phrase in the title / authors (and the
/// whole query one in the title); the whole query is the title.
const PHRASE_TITLE: f32 = 6.0;
const PHRASE_AUTHORS: f32 = 4.0;
const TITLE_EXACT: f32 = 8.0;
/// A phrase found scores its boost times this.
const PHRASE_SCORE: f32 = 2.0;
/// At most this many dictionary terms per field stand for a fuzzy word, and
/// at most [`MAX_PREFIX_TERMS`] for a prefix longer than the prefix field's.
const MAX_FUZZY_TERMS: usize = 8;
const MAX_PREFIX_TERMS: usize = 16;
/// Records having all the words of the whole-query phrase that a search
/// looks at, at most, for the matches with the phrase (see
/// [`BoundedPhrase`]).
const PHRASE_SCAN: u64 = 30_000;
/// A word in this many titles and author names (and at least one in
/// [`COMMON_SHARE`] of all records) is matched without typos.
const COMMON_MIN_DOCS: u64 = 1_000;
const COMMON_SHARE: u64 = 1_000;
/// Words longer than this must be spelled right.
const MAX_FUZZY_CHARS: usize = 32;
/// Dictionary terms looked at per segment and field, at most.
const MAX_SCAN: usize = 4096;
/// A fuzzy match keeps the first character: fewer dictionary paths to walk,
/// and first letters are rarely mistyped.
const FUZZY_PREFIX_LEN: usize = 1;

/// A search.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Query {
    /// Words to find (any case, accents, punctuation); empty: every record.
    pub text: String,
    /// Only records with this identifier (`"isbn:9780306406157"`).
    pub identifier: Option<String>,
    pub filters: Filters,
    pub sort: Sort,
    pub offset: usize,
    pub limit: usize,
    /// Count kinds, languages, formats, files and decades over all matches.
    pub facets: bool,
    /// The last word is still being typed: it also matches as a prefix.
    pub as_you_type: bool,
}

impl Query {
    /// A first page of 20 by relevance.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            limit: 20,
            ..Self::default()
        }
    }
}

/// Restrictions on the match set; `None` restricts nothing.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Filters {
    pub kind: Option<Kind>,
    pub language: Option<String>,
    pub year_min: Option<i32>,
    pub year_max: Option<i32>,
    pub format: Option<String>,
    pub has_file: Option<bool>,
    /// An author's display name, exactly as indexed.
    pub author: Option<String>,
    /// A subject, exactly as indexed.
    pub subject: Option<String>,
}

/// The order of hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Sort {
    /// Best matches first; equal scores: shorter titles first, then newest.
    #[default]
    Relevance,
    /// Most recently added first.
    Newest,
    /// Latest year first, records without a year last.
    YearDesc,
    /// Earliest year first, records without a year last.
    YearAsc,
    /// By title without its leading article.
    Title,
}

/// Query words after analysis.
#[derive(Debug)]
pub(crate) struct Words {
    /// Every word, in order (for phrases), at most [`MAX_QUERY_TERMS`].
    pub all: Vec<String>,
    /// Whether the last word is a prefix being typed.
    pub last_is_prefix: bool,
}

impl Words {
    pub(crate) fn parse(text: &str, as_you_type: bool) -> Self {
        let mut cut = text.len().min(MAX_QUERY_BYTES);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let text = &text[..cut];
        let mut all = tokens(text);
        let truncated = all.len() > MAX_QUERY_TERMS;
        all.truncate(MAX_QUERY_TERMS);
        // A word followed by a space or punctuation is complete.
        let last_is_prefix = as_you_type
            && !truncated
            && text
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || is_cjk(c));
        Self {
            all,
            last_is_prefix,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.all.is_empty()
    }
}

/// Words that need not match when the query has other words: they only
/// count through phrases. A query of nothing but these requires them all.
const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with", "le", "la", "les", "de", "des", "du", "un", "une",
    "et", "der", "die", "das", "und", "ein", "eine", "el", "los", "las", "y", "del", "il", "di",
    "e",
];

fn is_stop_word(w: &str) -> bool {
    STOP_WORDS.contains(&w)
}

/// `words` without the stop words at either end.
fn trim_stop_words(words: &[String]) -> &[String] {
    let start = words.iter().position(|w| !is_stop_word(w));
    let end = words.iter().rposition(|w| !is_stop_word(w));
    match (start, end) {
        (Some(s), Some(e)) => &words[s..=e],
        _ => &[],
    }
}

/// Edits allowed for a word of this many characters.
pub(crate) fn max_edits(word: &str) -> u8 {
    if word.bytes().any(|b| b.is_ascii_digit()) || word.chars().any(is_cjk) {
        return 0;
    }
    match word.chars().count() {
        0..=3 => 0,
        4..=7 => 1,
        8..=MAX_FUZZY_CHARS => 2,
        // Automata for longer words cost more than such typos are worth.
        _ => 0,
    }
}

fn lev_builder(distance: u8) -> &'static LevenshteinAutomatonBuilder {
    static B1: OnceLock<LevenshteinAutomatonBuilder> = OnceLock::new();
    static B2: OnceLock<LevenshteinAutomatonBuilder> = OnceLock::new();
    match distance {
        1 => B1.get_or_init(|| LevenshteinAutomatonBuilder::new(1, true)),
        _ => B2.get_or_init(|| LevenshteinAutomatonBuilder::new(2, true)),
    }
}

struct DfaRef<'a>(&'a DFA);

impl tantivy_fst::Automaton for DfaRef<'_> {
    type State = u32;

    fn start(&self) -> u32 {
        self.0.initial_state()
    }

    fn is_match(&self, state: &u32) -> bool {
        matches!(self.0.distance(*state), Distance::Exact(_))
    }

    fn can_match(&self, state: &u32) -> bool {
        *state != SINK_STATE
    }

    fn accept(&self, state: &u32, byte: u8) -> u32 {
        self.0.transition(*state, byte)
    }
}

/// The smallest byte string greater than every string starting with `p`.
fn prefix_end(p: &[u8]) -> Vec<u8> {
    let mut end = p.to_vec();
    // UTF-8 never contains 0xFF, so the last byte can be incremented.
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    end
}

/// Dictionary terms of `field` (over all segments) accepted by `dfa` (or
/// all terms starting with `prefix` when `dfa` is `None`), within the range
/// of terms starting with `prefix`; with their document frequencies.
fn expand(
    searcher: &Searcher,
    field: Field,
    dfa: Option<&DFA>,
    prefix: &[u8],
) -> Result<HashMap<String, u64>, SearchError> {
    let mut found: HashMap<String, u64> = HashMap::new();
    let end = prefix_end(prefix);
    for segment in searcher.segment_readers() {
        let inverted = segment.inverted_index(field)?;
        let dict = inverted.terms();
        let mut scanned = 0;
        match dfa {
            Some(dfa) => {
                let mut s = dict.search(DfaRef(dfa)).ge(prefix).lt(&end).into_stream()?;
                while scanned < MAX_SCAN && s.advance() {
                    scanned += 1;
                    if let Ok(k) = std::str::from_utf8(s.key()) {
                        *found.entry(k.to_owned()).or_default() += u64::from(s.value().doc_freq);
                    }
                }
            }
            None => {
                let mut s = dict.range().ge(prefix).lt(&end).into_stream()?;
                while scanned < MAX_SCAN && s.advance() {
                    scanned += 1;
                    if let Ok(k) = std::str::from_utf8(s.key()) {
                        *found.entry(k.to_owned()).or_default() += u64::from(s.value().doc_freq);
                    }
                }
            }
        }
    }
    Ok(found)
}

/// Builds tantivy queries for one searcher (fuzzy and prefix words are
/// expanded against its dictionaries).
pub(crate) struct Builder<'a> {
    pub searcher: &'a Searcher,
    pub f: &'a Fields,
}

type Clause = (Occur, Box<dyn TQuery>);

impl Builder<'_> {
    fn exact_fields(&self) -> [(Field, f32); 7] {
        let f = self.f;
        [
            (f.title, TITLE),
            (f.subtitle, SUBTITLE),
            (f.authors, AUTHORS),
            (f.series, SERIES),
            (f.subjects, SUBJECTS),
            (f.publisher, PUBLISHER),
            (f.description, DESCRIPTION),
        ]
    }

    /// The fields typos and long prefixes are looked up in.
    fn fuzzy_fields(&self) -> [(Field, f32); 3] {
        let f = self.f;
        [(f.title, TITLE), (f.authors, AUTHORS), (f.series, SERIES)]
    }

    fn const_term(field: Field, text: &str, score: f32) -> Box<dyn TQuery> {
        Self::const_query(Term::from_field_text(field, text), score)
    }

    fn const_query(term: Term, score: f32) -> Box<dyn TQuery> {
        Box::new(ConstScoreQuery::new(
            Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
            score,
        ))
    }

    /// Whether `word` is in so many titles and author names that it is
    /// surely spelled as meant: its typo variants are not looked up (they
    /// would cost much and find little).
    fn is_common(&self, word: &str) -> Result<bool, SearchError> {
        let mut df = 0;
        for field in [self.f.title, self.f.authors] {
            df += self
                .searcher
                .doc_freq(&Term::from_field_text(field, word))?;
        }
        let n = self.searcher.num_docs();
        Ok(df >= COMMON_MIN_DOCS.max(n / COMMON_SHARE))
    }

    /// Documents with any of `terms` (with their document frequencies) in
    /// `field`, scoring `score`. Rare terms stay apart (each seeks through
    /// its skip list); frequent ones become one bit set per segment.
    fn const_set<'t>(
        &self,
        field: Field,
        terms: impl Iterator<Item = &'t (String, u64)>,
        score: f32,
    ) -> Option<Box<dyn TQuery>> {
        let (mut docs, mut list) = (0, Vec::new());
        for (t, df) in terms {
            docs += df;
            list.push(Term::from_field_text(field, t));
        }
        if list.is_empty() {
            return None;
        }
        let dense = docs.saturating_mul(32) > self.searcher.num_docs();
        if dense && list.len() > 1 {
            return Some(Box::new(ConstScoreQuery::new(
                Box::new(TermSetQuery::new(list)),
                score,
            )));
        }
        let each: Vec<Box<dyn TQuery>> = list
            .into_iter()
            .map(|t| {
                Box::new(ConstScoreQuery::new(
                    Box::new(TermQuery::new(t, IndexRecordOption::Basic)),
                    score,
                )) as Box<dyn TQuery>
            })
            .collect();
        Some(Box::new(UnionQuery::new(each)))
    }

    /// Every way one word can match: exact in every field (BM25 × weight),
    /// within `max_edits` in the name fields, and as a prefix if it is the
    /// word being typed.
    fn word(&self, word: &str, prefix: bool) -> Result<Box<dyn TQuery>, SearchError> {
        let mut clauses: Vec<Box<dyn TQuery>> = Vec::new();
        for (field, weight) in self.exact_fields() {
            let q = TermQuery::new(
                Term::from_field_text(field, word),
                IndexRecordOption::WithFreqs,
            );
            clauses.push(Box::new(BoostQuery::new(Box::new(q), weight)));
        }
        let first_len = word
            .char_indices()
            .nth(FUZZY_PREFIX_LEN)
            .map_or(word.len(), |(i, _)| i);
        let keep = &word.as_bytes()[..first_len];
        let edits = if self.is_common(word)? {
            0
        } else {
            max_edits(word)
        };
        // The word being typed is not a whole word yet: its typos are
        // looked up as a prefix below (from 5 characters), and a short one
        // would match whole words it is not ("stor": "star", "stop").
        if edits > 0 && !prefix {
            let dfa = lev_builder(edits).build_dfa(word);
            for (field, weight) in self.fuzzy_fields() {
                let mut terms: Vec<(String, u64, u8)> =
                    expand(self.searcher, field, Some(&dfa), keep)?
                        .into_iter()
                        .filter_map(|(t, df)| match dfa.eval(t.as_bytes()) {
                            Distance::Exact(d) if d > 0 => Some((t, df, d)),
                            _ => None,
                        })
                        .collect();
                terms.sort_by(|a, b| a.2.cmp(&b.2).then(b.1.cmp(&a.1)));
                terms.truncate(MAX_FUZZY_TERMS);
                for (d, share) in [(1, FUZZY_1), (2, FUZZY_2)] {
                    let set: Vec<(String, u64)> = terms
                        .iter()
                        .filter(|t| t.2 == d)
                        .map(|t| (t.0.clone(), t.1))
                        .collect();
                    clauses.extend(self.const_set(field, set.iter(), weight * share));
                }
            }
        }
        let chars = word.chars().count();
        if prefix && chars >= EDGE_MIN {
            if chars <= EDGE_MAX {
                clauses.push(Self::const_term(self.f.prefix, word, PREFIX));
            } else {
                for (field, _) in self.fuzzy_fields() {
                    let mut terms: Vec<(String, u64)> =
                        expand(self.searcher, field, None, word.as_bytes())?
                            .into_iter()
                            .filter(|(t, _)| t != word)
                            .collect();
                    terms.sort_by_key(|t| std::cmp::Reverse(t.1));
                    let set = terms.iter().take(MAX_PREFIX_TERMS);
                    clauses.extend(self.const_set(field, set, PREFIX));
                }
            }
            if chars >= 5 && edits > 0 {
                let dfa = lev_builder(1).build_prefix_dfa(word);
                for (field, _) in self.fuzzy_fields() {
                    let mut terms: Vec<(String, u64)> =
                        expand(self.searcher, field, Some(&dfa), keep)?
                            .into_iter()
                            .filter(|(t, _)| !t.starts_with(word))
                            .collect();
                    terms.sort_by_key(|t| std::cmp::Reverse(t.1));
                    let set = terms.iter().take(MAX_FUZZY_TERMS);
                    clauses.extend(self.const_set(field, set, FUZZY_PREFIX));
                }
            }
        }
        Ok(Box::new(UnionQuery::new(clauses)))
    }

    /// The text part: `None` when the text has no words. `all_required`:
    /// every (non stop) word must match, else any.
    pub(crate) fn text(
        &self,
        words: &Words,
        all_required: bool,
    ) -> Result<Option<Text>, SearchError> {
        if words.is_empty() {
            return Ok(None);
        }
        let n = words.all.len();
        let only_stop_words = words.all.iter().all(|w| is_stop_word(w));
        let mut required: Vec<Box<dyn TQuery>> = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for (i, w) in words.all.iter().enumerate() {
            let prefix = i + 1 == n && words.last_is_prefix;
            if seen.contains(&w.as_str()) && !prefix {
                continue;
            }
            seen.push(w);
            if is_stop_word(w) && !only_stop_words && !prefix {
                continue;
            }
            required.push(self.word(w, prefix)?);
        }
        // Bonuses: phrases over the complete words (each pair of neighbours
        // in title and authors, "jane austen" of "jane austen emma"; the
        // whole query in the title), and the query being the whole title.
        let mut bonus: Vec<Box<dyn TQuery>> = Vec::new();
        let complete = &words.all[..if words.last_is_prefix { n - 1 } else { n }];
        let phrase = |field: Field, ws: &[String], boost: f32| -> Box<dyn TQuery> {
            let terms = ws.iter().map(|w| Term::from_field_text(field, w)).collect();
            Box::new(PhraseBonus::new(terms, boost * PHRASE_SCORE))
        };
        // In the walk of the matches of "best" the phrase must be selective
        // (it goes from phrase to phrase), and bounded: it looks at no more
        // than PHRASE_SCAN records having its words. Stop words at its ends
        // add nothing to it there ("the quantum" is "quantum").
        let docs = self.searcher.num_docs();
        let selective = |field: Field, ws: &[String], boost: f32| -> Box<dyn TQuery> {
            let terms = ws.iter().map(|w| Term::from_field_text(field, w)).collect();
            Box::new(BoundedPhrase::new(
                terms,
                boost * PHRASE_SCORE,
                PHRASE_SCAN,
                docs,
            ))
        };
        // Strong signals: the whole query as the title or in it.
        let mut best: Vec<Box<dyn TQuery>> = Vec::new();
        let mut best_selective: Vec<Box<dyn TQuery>> = Vec::new();
        if complete.len() >= 2 {
            best.push(phrase(self.f.title, complete, PHRASE_TITLE));
            let core = if only_stop_words {
                complete
            } else {
                trim_stop_words(complete)
            };
            if core.len() >= 2 {
                best_selective.push(selective(self.f.title, core, PHRASE_TITLE));
            }
        }
        if !words.last_is_prefix {
            let title = title_key(&words.all.join(" "));
            let exact = title_exact_term(self.f, &title);
            best.push(Self::const_query(exact.clone(), TITLE_EXACT));
            best_selective.push(Self::const_query(exact, TITLE_EXACT));
        }
        // A phrase scorer asked about one record scans on to the next that
        // has the phrase: pairs of frequent words ("of the", "the life")
        // cost much and say little, so pairs with a stop word count only in
        // titles and not at the start (a leading article is in the whole
        // query's phrase already).
        for (i, pair) in complete.windows(2).enumerate() {
            let stops = pair.iter().filter(|w| is_stop_word(w)).count();
            if stops == 2 && !only_stop_words {
                continue;
            }
            if pair.len() < complete.len() && !(i == 0 && is_stop_word(&pair[0])) {
                bonus.push(phrase(self.f.title, pair, PHRASE_TITLE));
            }
            if stops == 0 {
                bonus.push(phrase(self.f.authors, pair, PHRASE_AUTHORS));
            }
        }
        bonus.extend(best);
        let bonus = UnionQuery::new(bonus);
        let best = UnionQuery::new(best_selective);
        if !all_required {
            required.push(Box::new(bonus));
            return Ok(Some(Text {
                query: Box::new(UnionQuery::new(required)),
                bonus: Some(Box::new(best)),
            }));
        }
        let mut clauses: Vec<Clause> = required.into_iter().map(|q| (Occur::Must, q)).collect();
        clauses.push((Occur::Should, Box::new(bonus)));
        Ok(Some(Text {
            query: Box::new(BooleanQuery::new(clauses)),
            bonus: Some(Box::new(best)),
        }))
    }

    /// Filters and the identifier as required clauses that add no score.
    /// With `checks`, a search with words leaves the filters most records
    /// pass (and year ranges) to [`Checks`] on the matches instead: seeking
    /// through them costs more than reading a fast field.
    pub(crate) fn filters(
        &self,
        filters: &Filters,
        identifier: Option<&str>,
        checks: bool,
    ) -> Result<(Vec<Clause>, Checks), SearchError> {
        let f = self.f;
        let mut out: Vec<Clause> = Vec::new();
        let mut check = Checks::default();
        let mut must = |q: Box<dyn TQuery>| {
            out.push((Occur::Must, Box::new(ConstScoreQuery::new(q, 0.0))));
        };
        let term =
            |t: Term| -> Box<dyn TQuery> { Box::new(TermQuery::new(t, IndexRecordOption::Basic)) };
        // Most records have it: check it rather than seek it.
        let dense = |t: &Term| -> Result<bool, SearchError> {
            Ok(checks && self.searcher.doc_freq(t)? * DENSE_SHARE >= self.searcher.num_docs())
        };
        if let Some(id) = identifier {
            must(term(identifier_term(f, id)));
        }
        if let Some(k) = filters.kind {
            let t = Term::from_field_u64(f.kind, kind_code(k));
            if dense(&t)? {
                check.kind = Some(kind_code(k));
            } else {
                must(term(t));
            }
        }
        if let Some(l) = &filters.language {
            let l = normalize_code(l);
            let t = Term::from_field_text(f.language, &l);
            if dense(&t)? {
                check.language = Some(l);
            } else {
                must(term(t));
            }
        }
        if let Some(fmt) = &filters.format {
            let fmt = normalize_code(fmt);
            let t = Term::from_field_text(f.format, &fmt);
            if dense(&t)? {
                check.format = Some(fmt);
            } else {
                must(term(t));
            }
        }
        if let Some(h) = filters.has_file {
            let t = Term::from_field_bool(f.has_file, h);
            if dense(&t)? {
                check.has_file = Some(h);
            } else {
                must(term(t));
            }
        }
        if let Some(a) = &filters.author {
            must(term(Term::from_field_text(f.author_exact, a)));
        }
        if let Some(s) = &filters.subject {
            must(term(Term::from_field_text(f.subject_exact, s)));
        }
        if filters.year_min.is_some() || filters.year_max.is_some() {
            if checks {
                check.years = Some((
                    filters.year_min.map_or(i64::MIN, i64::from),
                    filters.year_max.map_or(i64::MAX, i64::from),
                ));
            } else {
                let bound = |y: Option<i32>| match y {
                    Some(y) => Bound::Included(Term::from_field_i64(f.year, i64::from(y))),
                    None => Bound::Unbounded,
                };
                must(Box::new(RangeQuery::new(
                    bound(filters.year_min),
                    bound(filters.year_max),
                )));
            }
        }
        Ok((out, check))
    }

    /// The whole query. `all_required`: every (non stop) word must match.
    pub(crate) fn build(
        &self,
        q: &crate::Query,
        words: &Words,
        all_required: bool,
    ) -> Result<Built, SearchError> {
        let (mut clauses, checks) =
            self.filters(&q.filters, q.identifier.as_deref(), !words.is_empty())?;
        let mut bonus = None;
        if let Some(text) = self.text(words, all_required)? {
            clauses.push((Occur::Must, text.query));
            bonus = text.bonus;
        }
        let query: Box<dyn TQuery> = if clauses.is_empty() {
            Box::new(AllQuery)
        } else {
            Box::new(BooleanQuery::new(clauses))
        };
        Ok(Built {
            query,
            bonus,
            checks,
        })
    }
}

/// A filter that one record in this many passes is checked on the matches
/// (fast fields) rather than intersected with them.
const DENSE_SHARE: u64 = 5;

/// Filters checked on each match, from fast fields.
#[derive(Clone, Debug, Default)]
pub(crate) struct Checks {
    pub kind: Option<u64>,
    pub language: Option<String>,
    pub format: Option<String>,
    pub has_file: Option<bool>,
    /// Inclusive.
    pub years: Option<(i64, i64)>,
}

impl Checks {
    pub(crate) fn is_empty(&self) -> bool {
        self.kind.is_none()
            && self.language.is_none()
            && self.format.is_none()
            && self.has_file.is_none()
            && self.years.is_none()
    }

    /// The check for one segment: `None` when no record of it can pass.
    pub(crate) fn for_segment(
        &self,
        c: &Columns,
    ) -> Result<Option<impl Fn(tantivy::DocId) -> bool + use<>>, SearchError> {
        let ord_of = |col: &Option<StrColumn>, value: &Option<String>| -> Result<_, SearchError> {
            let Some(v) = value else {
                return Ok(Some(None));
            };
            let Some(col) = col else { return Ok(None) };
            Ok(col
                .dictionary()
                .term_ord(v.as_bytes())?
                .map(|ord| Some((col.clone(), ord))))
        };
        let Some(language) = ord_of(&c.language, &self.language)? else {
            return Ok(None);
        };
        let Some(format) = ord_of(&c.format, &self.format)? else {
            return Ok(None);
        };
        let kind = self.kind.map(|k| (c.kind.clone(), k));
        let has_file = self.has_file.map(|h| (c.has_file.clone(), h));
        let years = self.years.map(|r| (c.year.clone(), r));
        Ok(Some(move |doc| {
            kind.as_ref().is_none_or(|(c, k)| c.first(doc) == Some(*k))
                && has_file
                    .as_ref()
                    .is_none_or(|(c, h)| c.first(doc) == Some(*h))
                && years
                    .as_ref()
                    .is_none_or(|(c, (lo, hi))| c.first(doc).is_some_and(|y| *lo <= y && y <= *hi))
                && language
                    .as_ref()
                    .is_none_or(|(c, ord)| c.term_ords(doc).any(|o| o == *ord))
                && format
                    .as_ref()
                    .is_none_or(|(c, ord)| c.term_ords(doc).any(|o| o == *ord))
        }))
    }
}

/// The text part of a query, and its bonus.
pub(crate) struct Text {
    query: Box<dyn TQuery>,
    bonus: Option<Box<dyn TQuery>>,
}

/// A built query, and its strongest bonus clauses (the query as the title
/// or a phrase in it) alone: the matches most likely to rank first, looked
/// at too when there are too many matches to rank them all.
pub(crate) struct Built {
    pub query: Box<dyn TQuery>,
    pub bonus: Option<Box<dyn TQuery>>,
    /// Filters to check on each match of `query`.
    pub checks: Checks,
}

impl Built {
    /// Matches of the query that also have a bonus.
    pub(crate) fn best(&self) -> Option<Box<dyn TQuery>> {
        let bonus = self.bonus.as_ref()?;
        Some(Box::new(BooleanQuery::new(vec![
            (Occur::Must, self.query.box_clone()),
            // Scored already by the query.
            (
                Occur::Must,
                Box::new(ConstScoreQuery::new(bonus.box_clone(), 0.0)),
            ),
        ])))
    }
}
