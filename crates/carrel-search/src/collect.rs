//! The search loop: walks the matches of a query segment by segment,
//! keeping the best page, counting, and feeding the facets. With a budget,
//! it looks at no more than that many matches (shared out over the
//! segments by size) and estimates the total from the share of each
//! segment it went through.

use std::cmp::Ordering;
use std::collections::HashSet;

use std::sync::Arc;

use tantivy::query::{EnableScoring, Query as TQuery};
use tantivy::{DocAddress, DocId, DocSet, Searcher, SegmentReader, TERMINATED};

use crate::columns::Columns;
use crate::facets::{self, Counts, SegmentFacets};
use crate::query::Checks;
use crate::schema::Fields;
use crate::{SearchError, Sort};

/// What a hit is ranked by, best first: the score (relevance), then the
/// sort keys.
type Key = (f32, u64, u64, u64);

/// The result of one walk.
pub(crate) struct Page {
    pub total: u64,
    /// False when the budget ran out: `total` and the facets are estimates.
    pub exact: bool,
    /// The page, best first (the key's score is the hit's score).
    pub hits: Vec<(Key, DocAddress)>,
    pub counts: Option<Counts>,
}

/// Order-preserving map of i64 into u64.
pub(crate) fn ordered(v: i64) -> u64 {
    (v as u64) ^ (1 << 63)
}

fn cmp(a: &(Key, DocAddress), b: &(Key, DocAddress)) -> Ordering {
    b.0.partial_cmp(&a.0)
        .unwrap_or(Ordering::Equal)
        .then_with(|| a.1.cmp(&b.1))
}

/// The best `n` of what is pushed.
pub(crate) struct Top {
    n: usize,
    items: Vec<(Key, DocAddress)>,
    /// The score of the `n`-th best kept at the last shrink: a hit scoring
    /// less cannot be among the best `n` (the score comes first in the key).
    floor: f32,
}

impl Top {
    pub(crate) fn new(n: usize) -> Self {
        Self {
            n,
            items: Vec::with_capacity(2 * n + 16),
            floor: f32::NEG_INFINITY,
        }
    }

    /// Whether a hit with this score would be dropped whatever the rest of
    /// its key (which need not be read then).
    fn below(&self, score: f32) -> bool {
        score < self.floor
    }

    fn push(&mut self, key: Key, addr: DocAddress) {
        self.items.push((key, addr));
        if self.items.len() >= 2 * self.n + 16 {
            self.shrink();
        }
    }

    fn shrink(&mut self) {
        if self.items.len() > self.n {
            if self.n > 0 {
                self.items.select_nth_unstable_by(self.n - 1, cmp);
                self.floor = self.items[self.n - 1].0.0;
            }
            self.items.truncate(self.n);
        }
    }

    /// Adds hits not there yet.
    pub(crate) fn merge(&mut self, other: Vec<(Key, DocAddress)>) {
        let mut seen: HashSet<(u32, DocId)> = self
            .items
            .iter()
            .map(|(_, a)| (a.segment_ord, a.doc_id))
            .collect();
        for (k, a) in other {
            if seen.insert((a.segment_ord, a.doc_id)) {
                self.push(k, a);
            }
        }
    }

    /// The best, in order, from `offset`.
    pub(crate) fn into_page(mut self, offset: usize) -> Vec<(Key, DocAddress)> {
        self.shrink();
        self.items.sort_unstable_by(cmp);
        self.items.drain(..offset.min(self.items.len()));
        self.items
    }
}

/// How each segment's documents are keyed for `sort`.
fn keyer(
    seg: &SegmentReader,
    cols: &Columns,
    fields: &Fields,
    sort: Sort,
) -> Box<dyn Fn(DocId, f32) -> Key> {
    let added = cols.added.clone();
    let added = move |doc| ordered(added.first(doc).unwrap_or(i64::MIN));
    // The last tie-break, the larger edition id first: the order of
    // equal hits never depends on how the index is cut into segments.
    let ids = cols.edition_id.clone();
    let id = move |doc| ordered(ids.first(doc).unwrap_or(i64::MIN));
    match sort {
        Sort::Relevance => {
            let norms = seg.get_fieldnorms_reader(fields.title).ok();
            // Equal scores: shorter titles, then newer records first.
            Box::new(move |doc, score| {
                let len = norms.as_ref().map_or(0, |n| n.fieldnorm_id(doc));
                (score, u64::from(u8::MAX - len), added(doc), id(doc))
            })
        }
        Sort::Newest => Box::new(move |doc, _| (0.0, added(doc), id(doc), 0)),
        Sort::YearDesc | Sort::YearAsc => {
            let year = cols.year.clone();
            let asc = sort == Sort::YearAsc;
            // Records without a year last either way.
            Box::new(move |doc, _| {
                let y = year.first(doc).map_or(0, |y| {
                    if asc {
                        u64::MAX - ordered(y)
                    } else {
                        ordered(y).max(1)
                    }
                });
                (0.0, y, added(doc), id(doc))
            })
        }
        Sort::Title => {
            let (hi, lo) = (cols.title_key_hi.clone(), cols.title_key_lo.clone());
            Box::new(move |doc, _| {
                (
                    0.0,
                    u64::MAX - hi.first(doc).unwrap_or(u64::MAX),
                    u64::MAX - lo.first(doc).unwrap_or(u64::MAX),
                    added(doc),
                )
            })
        }
    }
}

/// Walks `query`'s matches: the best `need` by `sort`, the count, facets.
pub(crate) fn walk(
    searcher: &Searcher,
    cols: &[Arc<Columns>],
    fields: &Fields,
    query: &dyn TQuery,
    checks: &Checks,
    sort: Sort,
    need: usize,
    facets: bool,
    budget: Option<u64>,
) -> Result<Page, SearchError> {
    let scoring = sort == Sort::Relevance;
    let enable = if scoring {
        EnableScoring::enabled_from_searcher(searcher)
    } else {
        EnableScoring::disabled_from_searcher(searcher)
    };
    let weight = query.weight(enable)?;
    let all_docs: u64 = searcher
        .segment_readers()
        .iter()
        .map(|s| u64::from(s.max_doc()))
        .sum();
    let mut top = Top::new(need);
    let (mut matched, mut estimate, mut exact) = (0u64, 0f64, true);
    let mut fruits = Vec::new();
    for (ord, seg) in searcher.segment_readers().iter().enumerate() {
        let ord = ord as u32;
        let seg_budget =
            budget.map(|b| (b * u64::from(seg.max_doc()) / all_docs.max(1)).max(1_000));
        let c = &cols[ord as usize];
        let check = checks.for_segment(c)?;
        let Some(check) = check else { continue };
        let checked = !checks.is_empty();
        let mut scorer = weight.scorer(seg, 1.0)?;
        let key = keyer(seg, c, fields, sort);
        let mut facet_child = if facets {
            Some(SegmentFacets::new(c))
        } else {
            None
        };
        let alive = seg.alive_bitset();
        let mut block: Vec<DocId> = Vec::with_capacity(facets::BLOCK);
        // Matches walked (the budget), and those that pass.
        let (mut walked, mut seen) = (0u64, 0u64);
        let mut doc = scorer.doc();
        while doc != TERMINATED {
            if seg_budget.is_some_and(|b| walked >= b) {
                break;
            }
            walked += 1;
            if alive.is_none_or(|a| a.is_alive(doc)) && (!checked || check(doc)) {
                seen += 1;
                let score = if scoring { scorer.score() } else { 0.0 };
                // (The rest of the key is read from columns: not for hits
                // that score too low to be kept.)
                if need > 0 && !top.below(score) {
                    top.push(key(doc, score), DocAddress::new(ord, doc));
                }
                if let Some(f) = &mut facet_child {
                    block.push(doc);
                    if block.len() == facets::BLOCK {
                        f.collect_block(&block);
                        block.clear();
                    }
                }
            }
            doc = scorer.advance();
        }
        matched += seen;
        if doc == TERMINATED {
            estimate += seen as f64;
        } else {
            // Stopped at `doc`: the matches seen cover that share of the
            // segment.
            exact = false;
            estimate += seen as f64 * f64::from(seg.max_doc()) / f64::from(doc.max(1));
        }
        if let Some(mut f) = facet_child {
            f.collect_block(&block);
            fruits.push(f.harvest());
        }
    }
    let mut counts = if facets {
        Some(facets::merge(fruits))
    } else {
        None
    };
    let total = if exact {
        matched
    } else {
        let total = estimate.round() as u64;
        if let Some(c) = &mut counts {
            c.scale(total as f64 / matched.max(1) as f64);
        }
        total
    };
    Ok(Page {
        total,
        exact,
        hits: top.into_page(0),
        counts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Skipping the hits below the floor keeps exactly the best `n` that
    /// pushing every hit keeps, ties included.
    #[test]
    fn the_floor_drops_only_hits_that_cannot_be_kept() {
        // Few distinct scores, so that many hits tie at the cut.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for n in [1, 3, 20, 100] {
            let (mut all, mut skipping) = (Top::new(n), Top::new(n));
            let mut skipped = 0;
            for doc in 0..5_000u32 {
                let score = (next() % 16) as f32;
                let key = (score, next() % 4, next() % 4, 0);
                let addr = DocAddress::new(0, doc);
                all.push(key, addr);
                if skipping.below(score) {
                    skipped += 1;
                } else {
                    skipping.push(key, addr);
                }
            }
            assert!(skipped > 1_000, "the floor skipped only {skipped} of 5000");
            assert_eq!(all.into_page(0), skipping.into_page(0), "n = {n}");
        }
    }
}
