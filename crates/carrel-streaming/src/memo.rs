//! What the share-link routes read of a blob's media on every request, kept
//! in memory so a player's segment and range requests cost no database
//! round trip (as `/d/` costs none, through the hosting wing's link cache):
//! a blob's probe, parsed once, and its *made* renditions, with the byte
//! ranges of their playlists parsed once.
//!
//! Only what does not change is kept. A probe is stored once per content
//! hash and never rewritten or deleted; a made rendition stays as it is
//! until the sweep forgets it (its source's last file deleted). A rendition
//! not made yet, a failed one and a blob not probed yet are read from the
//! database every time. This process's writes (every rendition stored or
//! failed, every sweep) drop the entries they touch, and a read that raced
//! with such a write is not kept (a generation counter), so the memory
//! never answers with a row the database no longer has. Deleting a file,
//! revoking a link, its expiry and its password are not this memory's
//! business: every request still goes through the hosting wing's gate
//! first, exactly as before. Single node, as the blob store (a rendition's
//! blob is deleted by the sweep of the node that holds it).
//!
//! Both maps are bounded by weight (about their bytes), with quick_cache's
//! eviction, like the hosting wing's link cache.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use carrel_core::ids::BlobHash;
use carrel_db::{MediaRendition, ProbeOutcome, RenditionOutcome};
use carrel_http::serve::Content;

use crate::Streaming;
use crate::error::Result;
use crate::fmp4::ByteRange;
use crate::hls::byte_ranges;
use crate::info::MediaInfo;

/// About how many bytes of parsed probes are kept.
const PROBE_BYTES: u64 = 8 << 20;
/// About how many bytes of made renditions (mostly their playlists) are kept.
const RENDITION_BYTES: u64 = 32 << 20;
/// What an entry costs beyond its strings.
const ENTRY_BYTES: u64 = 512;

/// A blob's probe as the routes need it.
#[derive(Clone, Debug)]
pub(crate) enum Probe {
    /// Not probed yet.
    NotYet,
    /// Probed: not media (or a report that no longer parses).
    NotMedia,
    Media(Arc<MediaInfo>),
}

impl Probe {
    pub(crate) fn info(&self) -> Option<&Arc<MediaInfo>> {
        match self {
            Probe::Media(i) => Some(i),
            _ => None,
        }
    }

    pub(crate) fn is_known(&self) -> bool {
        !matches!(self, Probe::NotYet)
    }
}

/// A rendition's row, and, for a made one, its playlist's byte ranges
/// (initialization segment, media segments) when it has them.
#[derive(Debug)]
pub(crate) struct Rendition {
    pub row: MediaRendition,
    pub ranges: Option<(ByteRange, Vec<ByteRange>)>,
    /// Its whole file's response headers, for the shared file's name they
    /// were made for (and whether as audio alone).
    content: Mutex<Option<(String, bool, Arc<Content>)>>,
}

impl Rendition {
    pub(crate) fn new(row: MediaRendition, ranges: Option<(ByteRange, Vec<ByteRange>)>) -> Self {
        Self {
            row,
            ranges,
            content: Mutex::new(None),
        }
    }

    /// Its whole file as served under a shared file named `name`: the one
    /// made last when it was for the same name, else `make`'s (kept).
    pub(crate) fn content(
        &self,
        name: &str,
        audio_only: bool,
        make: impl FnOnce() -> Content,
    ) -> Arc<Content> {
        let mut kept = self.content.lock().unwrap_or_else(|e| e.into_inner());
        match &*kept {
            Some((n, a, c)) if n == name && *a == audio_only => c.clone(),
            _ => {
                let c = Arc::new(make());
                *kept = Some((name.to_owned(), audio_only, c.clone()));
                c
            }
        }
    }
}

#[derive(Clone)]
struct Weighted<V> {
    value: V,
    weight: u64,
}

#[derive(Clone)]
struct ByWeight;

impl<K, V> quick_cache::Weighter<K, Weighted<V>> for ByWeight {
    fn weight(&self, _: &K, v: &Weighted<V>) -> u64 {
        v.weight
    }
}

/// A rendition's key borrowed for a look-up (hashes as `(BlobHash, String)`).
#[derive(Hash)]
struct Named<'a>(BlobHash, &'a str);

impl quick_cache::Equivalent<(BlobHash, String)> for Named<'_> {
    fn equivalent(&self, k: &(BlobHash, String)) -> bool {
        self.0 == k.0 && self.1 == k.1
    }
}

type Weighed<K, V> = quick_cache::sync::Cache<K, Weighted<V>, ByWeight>;

pub(crate) struct Memo {
    probes: Weighed<BlobHash, Probe>,
    renditions: Weighed<(BlobHash, String), Arc<Rendition>>,
    /// Moves on every forget: a read from the database that began before
    /// it may hold what was just changed, and is not kept.
    generation: AtomicU64,
}

impl Memo {
    pub(crate) fn new() -> Self {
        Self {
            probes: quick_cache::sync::Cache::with_weighter(1024, PROBE_BYTES, ByWeight),
            renditions: quick_cache::sync::Cache::with_weighter(1024, RENDITION_BYTES, ByWeight),
            generation: AtomicU64::new(0),
        }
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    fn keep_probe(&self, seen: u64, blob: BlobHash, value: Probe, weight: u64) {
        self.probes.insert(blob, Weighted { value, weight });
        if self.generation() != seen {
            self.probes.remove(&blob);
        }
    }

    fn keep_rendition(&self, seen: u64, r: Arc<Rendition>, weight: u64) {
        let (source, name) = (r.row.source, r.row.name.clone());
        self.renditions
            .insert((source, name.clone()), Weighted { value: r, weight });
        if self.generation() != seen {
            self.renditions.remove(&Named(source, &name));
        }
    }

    /// Drops a blob's probe (it was just written).
    pub(crate) fn forget_probe(&self, blob: &BlobHash) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.probes.remove(blob);
    }

    /// Drops a rendition (it was just written or deleted).
    pub(crate) fn forget_rendition(&self, source: &BlobHash, name: &str) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.renditions.remove(&Named(*source, name));
    }

    /// How many renditions are kept.
    #[cfg(test)]
    pub(crate) fn renditions_kept(&self) -> usize {
        self.renditions.len()
    }
}

impl Streaming {
    /// A blob's probe: from memory once it is stored.
    pub(crate) async fn probe(&self, blob: &BlobHash) -> Result<Probe> {
        if let Some(p) = self.memo.probes.get(blob) {
            return Ok(p.value);
        }
        let seen = self.memo.generation();
        let Some(row) = self.db.media_probe(blob).await? else {
            return Ok(Probe::NotYet);
        };
        let (probe, size) = match row.outcome {
            ProbeOutcome::Media(j) => (
                serde_json::from_str(&j)
                    .ok()
                    .map_or(Probe::NotMedia, |i| Probe::Media(Arc::new(i))),
                j.len(),
            ),
            ProbeOutcome::Failed(why) => (Probe::NotMedia, why.len()),
        };
        // The parsed form takes about what its JSON does.
        self.memo
            .keep_probe(seen, *blob, probe.clone(), size as u64 + ENTRY_BYTES);
        Ok(probe)
    }

    /// A blob's rendition by name: from memory once it is made.
    pub(crate) async fn rendition(
        &self,
        source: &BlobHash,
        name: &str,
    ) -> Result<Option<Arc<Rendition>>> {
        if let Some(r) = self.memo.renditions.get(&Named(*source, name)) {
            return Ok(Some(r.value));
        }
        let seen = self.memo.generation();
        let Some(row) = self.db.media_rendition(source, name).await? else {
            return Ok(None);
        };
        let (ranges, weight) = match &row.outcome {
            RenditionOutcome::Ready(f) => {
                let ranges = byte_ranges(&f.playlist);
                let n = ranges.as_ref().map_or(0, |(_, s)| s.len() + 1) as u64;
                (Some(ranges), f.playlist.len() as u64 + n * 16)
            }
            RenditionOutcome::Failed(_) => (None, 0),
        };
        let made = ranges.is_some();
        let r = Arc::new(Rendition::new(row, ranges.flatten()));
        if made {
            self.memo
                .keep_rendition(seen, r.clone(), weight + name.len() as u64 + ENTRY_BYTES);
        }
        Ok(Some(r))
    }

    /// Stores a rendition's row, and drops what memory had of it.
    pub(crate) async fn put_rendition(&self, r: &MediaRendition) -> Result<()> {
        let written = self.db.put_media_rendition(r).await;
        self.memo.forget_rendition(&r.source, &r.name);
        Ok(written?)
    }

    /// Deletes a rendition's row, and drops what memory had of it.
    pub(crate) async fn delete_rendition(&self, source: &BlobHash, name: &str) -> Result<()> {
        let deleted = self.db.delete_media_rendition(source, name).await;
        self.memo.forget_rendition(source, name);
        Ok(deleted?)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use carrel_core::ids::BlobHash;
    use carrel_core::time::Timestamp;
    use carrel_db::{MediaProbe, MediaRendition, ProbeOutcome, RenditionFile, RenditionOutcome};

    use super::Probe;
    use crate::info::{Container, MediaInfo};
    use crate::{Streaming, StreamingConfig};

    async fn streaming(dir: &std::path::Path) -> Arc<Streaming> {
        let db = carrel_db::connect(&format!("sqlite://{}", dir.join("db.sqlite").display()))
            .await
            .unwrap();
        let store = Arc::new(carrel_blob::LocalBlobStore::open(&dir.join("blobs")).unwrap());
        Streaming::new(db, store, StreamingConfig::default())
    }

    fn made(source: BlobHash, name: &str, blob: u8) -> MediaRendition {
        MediaRendition {
            source,
            name: name.into(),
            outcome: RenditionOutcome::Ready(RenditionFile {
                blob: BlobHash::from_bytes([blob; 32]),
                size: 3000,
                playlist: "#EXTM3U\n#EXT-X-MAP:URI=\"720p.mp4\",BYTERANGE=\"800@0\"\n\
                           #EXTINF:2.0,\n#EXT-X-BYTERANGE:1200@800\n720p.mp4\n\
                           #EXTINF:2.0,\n#EXT-X-BYTERANGE:1000@2000\n720p.mp4\n"
                    .into(),
                bandwidth: 1,
                resolution: None,
                codecs: String::new(),
            }),
            made_at: Timestamp(1000),
        }
    }

    #[tokio::test]
    async fn made_renditions_and_probes_come_from_memory_until_this_process_changes_them() {
        let dir = tempfile::tempdir().unwrap();
        let s = streaming(dir.path()).await;
        let src = BlobHash::from_bytes([7; 32]);

        // Nothing stored: asked of the database every time, nothing kept.
        assert!(matches!(s.probe(&src).await.unwrap(), Probe::NotYet));
        assert!(s.rendition(&src, "720p").await.unwrap().is_none());
        assert_eq!(s.memo.renditions_kept(), 0);

        let info = MediaInfo {
            container: Container::Mp4,
            format_name: "mov,mp4".into(),
            format_long_name: None,
            duration_secs: Some(4.0),
            bit_rate: None,
            streams: Vec::new(),
            streams_dropped: 0,
        };
        s.db.put_media_probe(&MediaProbe {
            blob: src,
            outcome: ProbeOutcome::Media(serde_json::to_string(&info).unwrap()),
            probed_at: Timestamp(1000),
        })
        .await
        .unwrap();
        let Probe::Media(got) = s.probe(&src).await.unwrap() else {
            panic!("a media probe");
        };
        assert_eq!(*got, info);

        // A failed rendition is not kept; a made one is, with its ranges.
        s.put_rendition(&MediaRendition {
            source: src,
            name: "360p".into(),
            outcome: RenditionOutcome::Failed("no".into()),
            made_at: Timestamp(1000),
        })
        .await
        .unwrap();
        assert!(s.rendition(&src, "360p").await.unwrap().is_some());
        assert_eq!(s.memo.renditions_kept(), 0);
        s.put_rendition(&made(src, "720p", 1)).await.unwrap();
        let r = s.rendition(&src, "720p").await.unwrap().unwrap();
        let (init, segs) = r.ranges.clone().unwrap();
        assert_eq!((init.offset, init.length), (0, 800));
        assert_eq!(
            segs.iter()
                .map(|r| (r.offset, r.length))
                .collect::<Vec<_>>(),
            [(800, 1200), (2000, 1000)]
        );
        assert_eq!(s.memo.renditions_kept(), 1);

        // From memory: a row changed behind this process's back is not seen…
        s.db.delete_media_rendition(&src, "720p").await.unwrap();
        assert!(s.rendition(&src, "720p").await.unwrap().is_some());
        // …and every change through it is.
        s.put_rendition(&made(src, "720p", 2)).await.unwrap();
        let r = s.rendition(&src, "720p").await.unwrap().unwrap();
        assert!(
            matches!(&r.row.outcome, RenditionOutcome::Ready(f) if f.blob == BlobHash::from_bytes([2; 32]))
        );
        s.delete_rendition(&src, "720p").await.unwrap();
        assert!(s.rendition(&src, "720p").await.unwrap().is_none());
        assert_eq!(s.memo.renditions_kept(), 0);
    }

    #[test]
    fn a_read_that_raced_with_a_change_is_not_kept() {
        let m = super::Memo::new();
        let src = BlobHash::from_bytes([9; 32]);
        let seen = m.generation();
        m.forget_rendition(&src, "720p");
        let row = made(src, "720p", 1);
        m.keep_rendition(seen, Arc::new(super::Rendition::new(row, None)), 1);
        assert_eq!(m.renditions_kept(), 0);
        m.keep_rendition(
            m.generation(),
            Arc::new(super::Rendition::new(made(src, "720p", 1), None)),
            1,
        );
        assert_eq!(m.renditions_kept(), 1);
    }
}
