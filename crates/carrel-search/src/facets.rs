//! Facet counts over a whole match set, read from fast fields: term
//! ordinals counted per segment and named once at the end.

use std::collections::HashMap;

use tantivy::DocId;
use tantivy::columnar::{Column, StrColumn};

use crate::Facets;
use crate::columns::Columns;
use crate::schema::kind_from_code;

/// Each facet lists at most this many values.
pub const MAX_FACET_VALUES: usize = 20;

#[derive(Clone, Default)]
pub(crate) struct Counts {
    kind: [u64; 3],
    language: HashMap<String, u64>,
    format: HashMap<String, u64>,
    has_file: [u64; 2],
    decade: HashMap<i32, u64>,
}

impl Counts {
    /// Multiplies every count (estimates from a share of the matches).
    pub(crate) fn scale(&mut self, by: f64) {
        let f = |n: &mut u64| *n = (*n as f64 * by).round() as u64;
        self.kind.iter_mut().for_each(f);
        self.has_file.iter_mut().for_each(f);
        self.language.values_mut().for_each(f);
        self.format.values_mut().for_each(f);
        self.decade.values_mut().for_each(f);
    }
}

pub(crate) struct SegmentFacets {
    kind: Column<u64>,
    has_file: Column<bool>,
    year: Column<i64>,
    language: Option<StrColumn>,
    format: Option<StrColumn>,
    kind_counts: [u64; 3],
    has_file_counts: [u64; 2],
    language_counts: Vec<u64>,
    format_counts: Vec<u64>,
    /// Decades of years 0–2999 by index, others apart.
    decade_counts: Vec<u64>,
    other_decades: HashMap<i32, u64>,
}

impl SegmentFacets {
    pub(crate) fn new(c: &Columns) -> Self {
        SegmentFacets {
            kind: c.kind.clone(),
            has_file: c.has_file.clone(),
            year: c.year.clone(),
            language_counts: vec![0; c.language.as_ref().map_or(0, |c| c.num_terms())],
            format_counts: vec![0; c.format.as_ref().map_or(0, |c| c.num_terms())],
            language: c.language.clone(),
            format: c.format.clone(),
            kind_counts: [0; 3],
            has_file_counts: [0; 2],
            decade_counts: vec![0; 300],
            other_decades: HashMap::new(),
        }
    }
}

/// The counts of all segments.
pub(crate) fn merge(fruits: Vec<Counts>) -> Counts {
    let mut all = Counts::default();
    for f in fruits {
        for i in 0..3 {
            all.kind[i] += f.kind[i];
        }
        for i in 0..2 {
            all.has_file[i] += f.has_file[i];
        }
        for (k, v) in f.language {
            *all.language.entry(k).or_default() += v;
        }
        for (k, v) in f.format {
            *all.format.entry(k).or_default() += v;
        }
        for (k, v) in f.decade {
            *all.decade.entry(k).or_default() += v;
        }
    }
    all
}

/// Documents whose facets are read together: the columns are read a block
/// at a time, column by column, so that the memory reads of many documents
/// overlap (at ten million records the columns outgrow the CPU caches and
/// reading one document's values at a time waited for each read in turn).
pub(crate) const BLOCK: usize = 128;

impl SegmentFacets {
    /// Counts a block of (at most [`BLOCK`]) matching documents, in order.
    pub(crate) fn collect_block(&mut self, docs: &[DocId]) {
        let n = docs.len();
        debug_assert!(n <= BLOCK);
        let mut kinds = [None; BLOCK];
        self.kind.first_vals(docs, &mut kinds[..n]);
        for k in kinds[..n].iter().flatten() {
            if let Some(c) = self.kind_counts.get_mut(*k as usize) {
                *c += 1;
            }
        }
        let mut files = [None; BLOCK];
        self.has_file.first_vals(docs, &mut files[..n]);
        for h in files[..n].iter().flatten() {
            self.has_file_counts[usize::from(*h)] += 1;
        }
        let mut years = [None; BLOCK];
        self.year.first_vals(docs, &mut years[..n]);
        for &y in years[..n].iter().flatten() {
            match self.decade_counts.get_mut((y / 10) as usize) {
                Some(c) if y >= 0 => *c += 1,
                _ => {
                    *self
                        .other_decades
                        .entry((y.div_euclid(10) * 10) as i32)
                        .or_default() += 1
                }
            }
        }
        if let Some(lang) = &self.language {
            // One language per record: its first value.
            let mut ords = [None; BLOCK];
            lang.ords().first_vals(docs, &mut ords[..n]);
            for &o in ords[..n].iter().flatten() {
                self.language_counts[o as usize] += 1;
            }
        }
        if let Some(fmt) = &self.format {
            // Formats are those of the record's files: none without one.
            for (&doc, has) in docs.iter().zip(&files[..n]) {
                if *has == Some(true) {
                    for ord in fmt.term_ords(doc) {
                        self.format_counts[ord as usize] += 1;
                    }
                }
            }
        }
    }

    pub(crate) fn harvest(self) -> Counts {
        let name = |col: &Option<StrColumn>, counts: Vec<u64>| {
            let mut out = HashMap::new();
            let Some(col) = col else { return out };
            let mut s = String::new();
            for (ord, n) in counts.into_iter().enumerate() {
                if n > 0 && col.ord_to_str(ord as u64, &mut s).unwrap_or(false) {
                    out.insert(s.clone(), n);
                }
            }
            out
        };
        Counts {
            kind: self.kind_counts,
            has_file: self.has_file_counts,
            language: name(&self.language, self.language_counts),
            format: name(&self.format, self.format_counts),
            decade: self
                .decade_counts
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(d, n)| (d as i32 * 10, *n))
                .chain(self.other_decades)
                .collect(),
        }
    }
}

/// The most frequent values first, ties by value.
fn top<K: Ord + Clone>(counts: impl IntoIterator<Item = (K, u64)>) -> Vec<(K, u64)> {
    let mut v: Vec<(K, u64)> = counts.into_iter().filter(|(_, n)| *n > 0).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(MAX_FACET_VALUES);
    v
}

impl From<Counts> for Facets {
    fn from(c: Counts) -> Self {
        let kind = c
            .kind
            .iter()
            .enumerate()
            .filter_map(|(i, n)| Some((kind_from_code(i as u64)?.as_str().to_owned(), *n)));
        let mut decade: Vec<(i32, u64)> = top(c.decade);
        decade.sort_by_key(|(d, _)| *d);
        Facets {
            kind: top(kind),
            language: top(c.language),
            format: top(c.format),
            has_file: top([
                ("false".to_owned(), c.has_file[0]),
                ("true".to_owned(), c.has_file[1]),
            ]),
            decade,
        }
    }
}
