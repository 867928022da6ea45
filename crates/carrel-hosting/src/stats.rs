//! Counters the server exports as Prometheus metrics.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default, Debug)]
pub struct Stats {
    pub uploads_created: AtomicU64,
    pub uploads_completed: AtomicU64,
    pub upload_bytes: AtomicU64,
    pub downloads_started: AtomicU64,
    pub checksum_mismatches: AtomicU64,
    pub password_failures: AtomicU64,
}

impl Stats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
    /// `(name, help, value)` for every counter.
    pub fn snapshot(&self) -> Vec<(&'static str, &'static str, u64)> {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        vec![
            (
                "carrel_uploads_created",
                "Uploads started (tus creations and PUTs).",
                g(&self.uploads_created),
            ),
            (
                "carrel_uploads_completed",
                "Uploads completed and stored as files.",
                g(&self.uploads_completed),
            ),
            (
                "carrel_upload_bytes",
                "Bytes received in upload bodies.",
                g(&self.upload_bytes),
            ),
            (
                "carrel_downloads_started",
                "Downloads started (responses beginning at byte 0).",
                g(&self.downloads_started),
            ),
            (
                "carrel_checksum_mismatches",
                "tus PATCH requests refused for a checksum mismatch.",
                g(&self.checksum_mismatches),
            ),
            (
                "carrel_password_failures",
                "Wrong share-link passwords.",
                g(&self.password_failures),
            ),
        ]
    }
}
