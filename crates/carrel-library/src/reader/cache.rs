//! Books kept open for the reader: a small LRU of parsed books keyed by file
//! id, so a chapter, an image or a page does not re-read the archive's
//! directory and the package document. Bounded by count and by the bytes a
//! book holds in memory (a zip recovered without its directory is held
//! whole: such a book is opened per request instead of being kept).
//! Failures are kept too (a hostile book is not re-parsed on every
//! request), except timeouts, which may pass.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use carrel_http::HttpError;
use tokio::sync::OnceCell;

/// How long the reader's work on one book may take in one request.
const WORK_TIMEOUT: Duration = Duration::from_secs(15);

type Cell<T> = Arc<OnceCell<Result<Arc<T>, HttpError>>>;

pub(crate) trait Weighed {
    /// Bytes held in memory.
    fn resident_bytes(&self) -> u64;
}

pub(crate) struct Lru<T> {
    capacity: usize,
    max_resident: u64,
    inner: Mutex<Inner<T>>,
}

struct Inner<T> {
    tick: u64,
    slots: HashMap<String, (u64, Cell<T>)>,
}

impl<T: Weighed + Send + Sync + 'static> Lru<T> {
    pub(crate) fn new(capacity: usize, max_resident: u64) -> Self {
        Lru {
            capacity: capacity.max(1),
            max_resident,
            inner: Mutex::new(Inner {
                tick: 0,
                slots: HashMap::new(),
            }),
        }
    }

    /// The open book for `key`, opening it with `open` (on the blocking
    /// pool, within [`WORK_TIMEOUT`]) if it is not kept. Concurrent
    /// requests for one book wait for one opening.
    pub(crate) async fn get(
        &self,
        key: &str,
        open: impl FnOnce() -> Result<T, HttpError> + Send + 'static,
    ) -> Result<Arc<T>, HttpError> {
        let cell = {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            inner.tick += 1;
            let tick = inner.tick;
            if let Some(slot) = inner.slots.get_mut(key) {
                slot.0 = tick;
                slot.1.clone()
            } else {
                while inner.slots.len() >= self.capacity {
                    let oldest = inner
                        .slots
                        .iter()
                        .min_by_key(|(_, (t, _))| *t)
                        .map(|(k, _)| k.clone());
                    match oldest {
                        Some(k) => inner.slots.remove(&k),
                        None => break,
                    };
                }
                let cell: Cell<T> = Arc::new(OnceCell::new());
                inner.slots.insert(key.to_owned(), (tick, cell.clone()));
                cell
            }
        };
        let got = cell
            .get_or_init(|| async move { blocking(open).await.map(Arc::new) })
            .await
            .clone();
        let keep = match &got {
            Ok(book) => book.resident_bytes() <= self.max_resident,
            Err(e) => e.status != StatusCode::SERVICE_UNAVAILABLE,
        };
        if !keep {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            if inner
                .slots
                .get(key)
                .is_some_and(|(_, c)| Arc::ptr_eq(c, &cell))
            {
                inner.slots.remove(key);
            }
        }
        got
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().unwrap().slots.len()
    }
}

/// Runs `f` on the blocking pool within [`WORK_TIMEOUT`]. A panic (a parser
/// bug met by a hostile book) is an error page, never a crash.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, HttpError> + Send + 'static,
) -> Result<T, HttpError> {
    match tokio::time::timeout(WORK_TIMEOUT, tokio::task::spawn_blocking(f)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "the reader failed on a book");
            Err(HttpError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "reader_failed",
                "This book could not be read: it is damaged or not what it claims to be. \
                 Download it to open it in another reader.",
            )
            .as_page())
        }
        Err(_) => Err(HttpError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "reader_timeout",
            "Reading this book took too long. Try again in a moment, or download it.",
        )
        .as_page()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Debug)]
    struct B(u64);
    impl Weighed for B {
        fn resident_bytes(&self) -> u64 {
            self.0
        }
    }

    #[tokio::test]
    async fn keeps_a_bounded_number_and_reuses() {
        let lru: Lru<B> = Lru::new(2, 100);
        let opened = Arc::new(AtomicUsize::new(0));
        for key in ["a", "b", "a", "c", "a", "b"] {
            let o = opened.clone();
            lru.get(key, move || {
                o.fetch_add(1, Ordering::SeqCst);
                Ok(B(1))
            })
            .await
            .unwrap();
            assert!(lru.len() <= 2);
        }
        // a, b, (a kept), c evicts b, (a kept), b evicts c.
        assert_eq!(opened.load(Ordering::SeqCst), 4);
        // A heavy book is not kept; failures are, timeouts are not.
        lru.get("heavy", || Ok(B(1000))).await.unwrap();
        let n = lru.len();
        let e = lru
            .get("bad", || -> Result<B, HttpError> {
                Err(HttpError::new(StatusCode::UNPROCESSABLE_ENTITY, "x", "x"))
            })
            .await;
        assert!(e.is_err());
        let again = lru.get("bad", || Ok(B(1))).await;
        assert!(again.is_err(), "the failure was kept");
        assert!(lru.len() <= 2 && n <= 2);
        let panicked = lru
            .get("p", || -> Result<B, HttpError> { panic!("boom") })
            .await;
        assert_eq!(panicked.unwrap_err().code, "reader_failed");
    }
}
