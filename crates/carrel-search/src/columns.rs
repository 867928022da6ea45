//! The fast-field columns of each segment, opened once: opening a column
//! of ten million values reads its block index (about a millisecond), far
//! too much to do on every search.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tantivy::columnar::{Column, StrColumn};
use tantivy::index::SegmentId;
use tantivy::{Searcher, SegmentReader};

use crate::SearchError;

/// One segment's columns.
pub(crate) struct Columns {
    pub edition_id: Column<i64>,
    pub work_id: Column<i64>,
    pub added: Column<i64>,
    pub year: Column<i64>,
    pub kind: Column<u64>,
    pub has_file: Column<bool>,
    pub title_key_hi: Column<u64>,
    pub title_key_lo: Column<u64>,
    pub language: Option<StrColumn>,
    pub format: Option<StrColumn>,
}

impl Columns {
    fn open(seg: &SegmentReader) -> Result<Self, SearchError> {
        let ff = seg.fast_fields();
        Ok(Self {
            edition_id: ff.i64("edition_id")?,
            work_id: ff.i64("work_id")?,
            added: ff.i64("added")?,
            year: ff.i64("year")?,
            kind: ff.u64("kind")?,
            has_file: ff.bool("has_file")?,
            title_key_hi: ff.u64("title_key_hi")?,
            title_key_lo: ff.u64("title_key_lo")?,
            language: ff.str("language")?,
            format: ff.str("format")?,
        })
    }
}

/// Columns by segment, for the segments searched lately.
#[derive(Default)]
pub(crate) struct ColumnCache {
    segments: Mutex<HashMap<SegmentId, Arc<Columns>>>,
}

impl ColumnCache {
    /// The columns of each of the searcher's segments, in segment order.
    pub(crate) fn get(&self, searcher: &Searcher) -> Result<Vec<Arc<Columns>>, SearchError> {
        let readers = searcher.segment_readers();
        let mut out = Vec::with_capacity(readers.len());
        let mut missing = Vec::new();
        {
            let cache = self.segments.lock().map_err(|_| SearchError::Poisoned)?;
            for seg in readers {
                match cache.get(&seg.segment_id()) {
                    Some(c) => out.push(Some(c.clone())),
                    None => {
                        missing.push(out.len());
                        out.push(None);
                    }
                }
            }
        }
        if !missing.is_empty() {
            for &i in &missing {
                out[i] = Some(Arc::new(Columns::open(&readers[i])?));
            }
            let mut cache = self.segments.lock().map_err(|_| SearchError::Poisoned)?;
            // Segments merged away are forgotten.
            if cache.len() > 4 * readers.len() + 16 {
                cache.clear();
            }
            for &i in &missing {
                let c = out[i].clone().expect("opened above");
                cache.insert(readers[i].segment_id(), c);
            }
        }
        Ok(out.into_iter().map(|c| c.expect("every segment")).collect())
    }
}
