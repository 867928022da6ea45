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

type Entry<T> = (Instant, Arc<T>);

/// A file with its response headers worked out, inline and as an attachment.
pub struct ServedFile {
    pub file: File,
    contents: [Content; 2],
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
            file,
        }
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

pub struct LinkCache {
    ttl: Duration,
    shares: quick_cache::sync::Cache<ShareId, Entry<Share>>,
    files: quick_cache::sync::Cache<FileId, Entry<ServedFile>>,
}

impl LinkCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            shares: quick_cache::sync::Cache::new(100_000),
            files: quick_cache::sync::Cache::new(100_000),
        }
    }

    fn fresh<T>(&self, e: Option<Entry<T>>) -> Option<Arc<T>> {
        e.filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, v)| v)
    }
}

impl Hosting {
    /// A link by id, from memory when it was read within the cache lifetime.
    pub async fn share(&self, id: &ShareId) -> Result<Option<Arc<Share>>> {
        if let Some(s) = self.links.fresh(self.links.shares.get(id)) {
            return Ok(Some(s));
        }
        let Some(s) = self.db.share(id).await? else {
            return Ok(None);
        };
        let s = Arc::new(s);
        if !self.links.ttl.is_zero() {
            self.links
                .shares
                .insert(id.clone(), (Instant::now(), s.clone()));
        }
        Ok(Some(s))
    }

    /// A file by id, from memory when it was read within the cache lifetime.
    pub async fn file(&self, id: &FileId) -> Result<Option<Arc<ServedFile>>> {
        if let Some(f) = self.links.fresh(self.links.files.get(id)) {
            return Ok(Some(f));
        }
        let Some(f) = self.db.file(id).await? else {
            return Ok(None);
        };
        let f = Arc::new(ServedFile::new(f));
        if !self.links.ttl.is_zero() {
            self.links
                .files
                .insert(id.clone(), (Instant::now(), f.clone()));
        }
        Ok(Some(f))
    }

    /// Drops a link this process changed.
    pub fn forget_share(&self, id: &ShareId) {
        self.links.shares.remove(id);
    }

    /// Drops a file this process changed.
    pub fn forget_file(&self, id: &FileId) {
        self.links.files.remove(id);
    }
}
