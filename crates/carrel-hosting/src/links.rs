//! A short-lived memory of links and files, so the download path costs no
//! database round trip for a link that was used a moment ago.
//!
//! Entries live at most `link_cache_ms` (one second by default). Changes
//! made through this process (link edits, deletes, moves into a folder)
//! drop the entries they touch at once, so this node never serves a stale
//! answer to its own change. Another node sharing the same PostgreSQL sees
//! a change within the lifetime of an entry. What must be exact never comes
//! from here: download limits are counted in the database, and expiry is
//! checked against the clock on every request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use carrel_core::ids::{FileId, ShareId};
use carrel_db::{File, Share};
use carrel_http::serve::Content;

use crate::Hosting;
use crate::error::Result;

/// A file with its response headers worked out, inline and as an attachment.
pub struct ServedFile {
    pub file: File,
    contents: [Content; 2],
    /// The file as the share gate hands it to other wings.
    shared: Arc<carrel_http::media::SharedFile>,
}

impl ServedFile {
    fn new(file: File) -> Self {
        let content = |download| {
            Content::new(
                file.blob,
                file.size as u64,
                file.created_at.to_system_time(),
                file.name.as_str(),
                &file.media_type,
                download,
            )
        };
        Self {
            contents: [content(false), content(true)],
            shared: Arc::new(carrel_http::media::SharedFile {
                id: file.id.clone(),
                blob: file.blob,
                media_type: file.media_type.clone(),
                name: file.name.to_string(),
            }),
            file,
        }
    }

    /// The file as the share gate hands it to other wings.
    pub fn shared(&self) -> Arc<carrel_http::media::SharedFile> {
        self.shared.clone()
    }

    /// What to serve; `download` forces an attachment.
    pub fn content(&self, download: bool) -> &Content {
        &self.contents[usize::from(download)]
    }
}

impl std::ops::Deref for ServedFile {
    type Target = File;
    fn deref(&self) -> &File {
        &self.file
    }
}

/// Values by key, each kept for `ttl` after it was read from the database.
struct Memo<K, V> {
    ttl: Duration,
    entries: quick_cache::sync::Cache<K, (Instant, Arc<V>)>,
}

impl<K: Eq + std::hash::Hash + Clone, V> Memo<K, V> {
    fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: quick_cache::sync::Cache::new(100_000),
        }
    }

    fn get(&self, k: &K) -> Option<Arc<V>> {
        self.entries
            .get(k)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v)
    }

    /// Remembers a value just read (unless the lifetime is zero).
    fn put(&self, k: &K, v: V) -> Arc<V> {
        let v = Arc::new(v);
        if !self.ttl.is_zero() {
            self.entries.insert(k.clone(), (Instant::now(), v.clone()));
        }
        v
    }

    fn forget(&self, k: &K) {
        self.entries.remove(k);
    }
}

pub struct LinkCache {
    shares: Memo<ShareId, Share>,
    files: Memo<FileId, ServedFile>,
}

impl LinkCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            shares: Memo::new(ttl),
            files: Memo::new(ttl),
        }
    }
}

impl Hosting {
    /// A link by id, from memory when it was read within the cache lifetime.
    pub async fn share(&self, id: &ShareId) -> Result<Option<Arc<Share>>> {
        if let Some(s) = self.links.shares.get(id) {
            return Ok(Some(s));
        }
        Ok(self
            .db
            .share(id)
            .await?
            .map(|s| self.links.shares.put(id, s)))
    }

    /// A file by id, from memory when it was read within the cache lifetime.
    pub async fn file(&self, id: &FileId) -> Result<Option<Arc<ServedFile>>> {
        if let Some(f) = self.links.files.get(id) {
            return Ok(Some(f));
        }
        Ok(self
            .db
            .file(id)
            .await?
            .map(|f| self.links.files.put(id, ServedFile::new(f))))
    }

    /// Drops a link this process changed.
    pub fn forget_share(&self, id: &ShareId) {
        self.links.shares.forget(id);
    }

    /// Drops a file this process changed.
    pub fn forget_file(&self, id: &FileId) {
        self.links.files.forget(id);
    }
}
