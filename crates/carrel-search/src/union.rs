//! A union of clauses whose scores add up, built for being seeked.
//!
//! tantivy's own union buffers windows of 4,096 documents: seeking it from
//! a sparse intersection leader fills a whole window per seek, scoring every
//! posting of every dense clause inside it (a word like "history" in
//! subjects). This one keeps its clauses side by side and moves each with
//! its own skip list, so a seek costs a few skips per clause.

use tantivy::postings::{Postings, SegmentPostings};
use tantivy::query::{EmptyScorer, EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocId, DocSet, Score, SegmentReader, TERMINATED, TantivyError, Term};

/// Matches what any clause matches; scores the sum of the matching ones.
#[derive(Debug)]
pub(crate) struct UnionQuery {
    clauses: Vec<Box<dyn Query>>,
}

impl UnionQuery {
    pub(crate) fn new(clauses: Vec<Box<dyn Query>>) -> Self {
        Self { clauses }
    }
}

impl Clone for UnionQuery {
    fn clone(&self) -> Self {
        Self {
            clauses: self.clauses.iter().map(|q| q.box_clone()).collect(),
        }
    }
}

impl Query for UnionQuery {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let weights = self
            .clauses
            .iter()
            .map(|q| q.weight(enable_scoring))
            .collect::<tantivy::Result<Vec<_>>>()?;
        Ok(Box::new(UnionWeight { weights }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        for c in &self.clauses {
            c.query_terms(visitor);
        }
    }
}

struct UnionWeight {
    weights: Vec<Box<dyn Weight>>,
}

impl Weight for UnionWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let mut scorers = Vec::with_capacity(self.weights.len());
        for w in &self.weights {
            let s = w.scorer(reader, boost)?;
            if s.doc() != TERMINATED {
                scorers.push(s);
            }
        }
        Ok(match scorers.len() {
            0 => Box::new(EmptyScorer),
            1 => scorers.pop().expect("one scorer"),
            _ => Box::new(UnionScorer::new(scorers)),
        })
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.seek(doc) != doc {
            return Err(TantivyError::InvalidArgument(format!(
                "document #{doc} does not match"
            )));
        }
        Ok(Explanation::new("sum of matching clauses", scorer.score()))
    }
}

struct UnionScorer {
    /// Clauses not exhausted, each on its current document.
    scorers: Vec<Box<dyn Scorer>>,
    doc: DocId,
}

impl UnionScorer {
    fn new(scorers: Vec<Box<dyn Scorer>>) -> Self {
        let mut u = Self {
            scorers,
            doc: TERMINATED,
        };
        u.settle();
        u
    }

    /// Drops exhausted clauses and finds the current document.
    fn settle(&mut self) -> DocId {
        self.scorers.retain(|s| s.doc() != TERMINATED);
        self.doc = self
            .scorers
            .iter()
            .map(|s| s.doc())
            .min()
            .unwrap_or(TERMINATED);
        self.doc
    }
}

impl DocSet for UnionScorer {
    fn advance(&mut self) -> DocId {
        let doc = self.doc;
        for s in &mut self.scorers {
            if s.doc() == doc {
                s.advance();
            }
        }
        self.settle()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.doc >= target {
            return self.doc;
        }
        for s in &mut self.scorers {
            if s.doc() < target {
                s.seek(target);
            }
        }
        self.settle()
    }

    fn doc(&self) -> DocId {
        self.doc
    }

    fn size_hint(&self) -> u32 {
        self.scorers
            .iter()
            .fold(0u32, |n, s| n.saturating_add(s.size_hint()))
    }
}

impl Scorer for UnionScorer {
    fn score(&mut self) -> Score {
        let doc = self.doc;
        self.scorers
            .iter_mut()
            .filter(|s| s.doc() == doc)
            .map(|s| s.score())
            .sum()
    }
}

/// A bonus for records having `terms` one after the other in `field`.
///
/// It matches the records having all the terms (seeking each through its
/// skip list) and scores `score` where they form the phrase, 0 elsewhere;
/// tantivy's phrase query instead scans on, when asked about one record,
/// to the next having the phrase: ruinous as an optional clause, where it is
/// asked about every match (see [`UnionQuery`]).
#[derive(Clone, Debug)]
pub(crate) struct PhraseBonus {
    terms: Vec<Term>,
    score: Score,
}

impl PhraseBonus {
    pub(crate) fn new(terms: Vec<Term>, score: Score) -> Self {
        Self { terms, score }
    }
}

impl Query for PhraseBonus {
    fn weight(&self, _: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.clone()))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        for t in &self.terms {
            visitor(t, true);
        }
    }
}

impl Weight for PhraseBonus {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        Ok(match Conjunction::open(reader, &self.terms)? {
            Some(all) => Box::new(PhraseBonusScorer {
                all,
                score: self.score * boost,
            }),
            None => Box::new(EmptyScorer),
        })
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        explain(self.scorer(reader, 1.0)?, doc, "phrase bonus")
    }
}

fn explain(
    mut scorer: Box<dyn Scorer>,
    doc: DocId,
    what: &'static str,
) -> tantivy::Result<Explanation> {
    if scorer.seek(doc) != doc {
        return Err(TantivyError::InvalidArgument(format!(
            "document #{doc} does not match"
        )));
    }
    Ok(Explanation::new(what, scorer.score()))
}

/// The records having every term of a phrase, and whether one has them
/// one after the other.
struct Conjunction {
    postings: Vec<SegmentPostings>,
    doc: DocId,
    positions: Vec<u32>,
    next: Vec<u32>,
}

impl Conjunction {
    /// `None` when a term is in no record of the segment.
    fn open(reader: &SegmentReader, terms: &[Term]) -> tantivy::Result<Option<Self>> {
        let Some(first) = terms.first() else {
            return Ok(None);
        };
        let index = reader.inverted_index(first.field())?;
        let mut postings = Vec::with_capacity(terms.len());
        for t in terms {
            match index.read_postings(t, IndexRecordOption::WithFreqsAndPositions)? {
                Some(p) => postings.push(p),
                None => return Ok(None),
            }
        }
        let mut c = Self {
            postings,
            doc: 0,
            positions: Vec::new(),
            next: Vec::new(),
        };
        c.go(0);
        Ok(Some(c))
    }

    /// The first record at or after `target` having every term.
    fn go(&mut self, target: DocId) -> DocId {
        let mut candidate = target;
        'outer: loop {
            for p in &mut self.postings {
                let d = if p.doc() < candidate {
                    p.seek(candidate)
                } else {
                    p.doc()
                };
                if d == TERMINATED {
                    self.doc = TERMINATED;
                    return TERMINATED;
                }
                if d > candidate {
                    candidate = d;
                    continue 'outer;
                }
            }
            self.doc = candidate;
            return candidate;
        }
    }

    /// Whether the current record has the terms as a phrase.
    fn is_phrase(&mut self) -> bool {
        // Start positions where the phrase so far holds, term by term.
        let (first, rest) = self.postings.split_first_mut().expect("terms");
        self.positions.clear();
        first.positions(&mut self.positions);
        for (i, p) in rest.iter_mut().enumerate() {
            if self.positions.is_empty() {
                break;
            }
            self.next.clear();
            p.positions(&mut self.next);
            let offset = i as u32 + 1;
            let next = &self.next;
            self.positions
                .retain(|start| next.binary_search(&(start + offset)).is_ok());
        }
        !self.positions.is_empty()
    }

    fn size_hint(&self) -> u32 {
        self.postings
            .iter()
            .map(|p| p.size_hint())
            .min()
            .unwrap_or(0)
    }
}

struct PhraseBonusScorer {
    all: Conjunction,
    score: Score,
}

impl DocSet for PhraseBonusScorer {
    fn advance(&mut self) -> DocId {
        if self.all.doc == TERMINATED {
            return TERMINATED;
        }
        self.all.go(self.all.doc + 1)
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.all.doc >= target {
            return self.all.doc;
        }
        self.all.go(target)
    }

    fn doc(&self) -> DocId {
        self.all.doc
    }

    fn size_hint(&self) -> u32 {
        self.all.size_hint()
    }
}

impl Scorer for PhraseBonusScorer {
    fn score(&mut self) -> Score {
        if self.all.is_phrase() {
            self.score
        } else {
            0.0
        }
    }
}

/// The records having `terms` as a phrase, found by looking at no more than
/// about `scan` records having all of them (shared out over the segments
/// by size): a phrase of frequent words ("the quantum") may be in few of
/// the millions of records having both, and going through them all to find
/// it would cost more than the whole rest of a search. Scores `score`.
#[derive(Clone, Debug)]
pub(crate) struct BoundedPhrase {
    terms: Vec<Term>,
    score: Score,
    scan: u64,
    /// Records in the whole index (to share `scan` out).
    docs: u64,
}

impl BoundedPhrase {
    pub(crate) fn new(terms: Vec<Term>, score: Score, scan: u64, docs: u64) -> Self {
        Self {
            terms,
            score,
            scan,
            docs,
        }
    }
}

impl Query for BoundedPhrase {
    fn weight(&self, _: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.clone()))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        for t in &self.terms {
            visitor(t, true);
        }
    }
}

impl Weight for BoundedPhrase {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let Some(all) = Conjunction::open(reader, &self.terms)? else {
            return Ok(Box::new(EmptyScorer));
        };
        let share = self.scan * u64::from(reader.max_doc()) / self.docs.max(1);
        let mut s = BoundedPhraseScorer {
            all,
            left: share.max(MIN_SCAN),
            score: self.score * boost,
        };
        s.settle();
        Ok(Box::new(s))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        explain(self.scorer(reader, 1.0)?, doc, "phrase")
    }
}

/// Records with all the terms a segment's phrase looks at, at least.
const MIN_SCAN: u64 = 1_000;

struct BoundedPhraseScorer {
    all: Conjunction,
    /// Records with all the terms still to look at.
    left: u64,
    score: Score,
}

impl BoundedPhraseScorer {
    /// From the conjunction's current record on, the first with the phrase
    /// (or the end, when the scan is used up).
    fn settle(&mut self) -> DocId {
        loop {
            let doc = self.all.doc;
            if doc == TERMINATED {
                return TERMINATED;
            }
            if self.left == 0 {
                self.all.doc = TERMINATED;
                return TERMINATED;
            }
            self.left -= 1;
            if self.all.is_phrase() {
                return doc;
            }
            self.all.go(doc + 1);
        }
    }
}

impl DocSet for BoundedPhraseScorer {
    fn advance(&mut self) -> DocId {
        if self.all.doc == TERMINATED {
            return TERMINATED;
        }
        self.all.go(self.all.doc + 1);
        self.settle()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.all.doc >= target {
            return self.all.doc;
        }
        self.all.go(target);
        self.settle()
    }

    fn doc(&self) -> DocId {
        self.all.doc
    }

    fn size_hint(&self) -> u32 {
        self.all.size_hint()
    }
}

impl Scorer for BoundedPhraseScorer {
    fn score(&mut self) -> Score {
        self.score
    }
}
