//! Plan limits on bytes as they leave: the daily download volume, the
//! speed cap and the number of downloads at once, per account or (for
//! people who are not logged in) per address.
//!
//! A download asks [`Meter::start`] for a [`Tap`] before its response is
//! built; a refusal is a 429 with `Retry-After`. The tap rides on the
//! response ([`meter`]): the streamed body goes through it piece by piece,
//! and the connection's `sendfile(2)` path asks it before each call. Every
//! download of one account or address draws from one token bucket, so a
//! speed cap holds however many connections are opened, and every byte
//! sent is added to the day's volume as it leaves.
//!
//! Counts are kept in memory, per process, keyed by account id or by
//! address (IPv6 addresses by their /64); an address is forgotten once its
//! day is over and it has no download running.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use carrel_core::account::Caller;
use carrel_core::ids::AccountId;
use carrel_core::plan::{Limits, Plans};
use futures::StreamExt;

/// Whose downloads are counted together.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    Account(AccountId),
    Address(IpAddr),
}

impl Key {
    /// An address key: IPv6 addresses count by their /64 (one subscriber).
    pub fn address(ip: IpAddr) -> Self {
        let ip = match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let s = v6.segments();
                    IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
                }
            },
            v4 => v4,
        };
        Key::Address(ip)
    }
}

/// Why a download may not start now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The day's volume is used up; it renews in `retry_after` seconds.
    DailyVolume { limit: u64, retry_after: u64 },
    /// As many downloads as the plan allows are running.
    Concurrent { limit: u32 },
}

impl Refusal {
    pub fn retry_after(&self) -> u64 {
        match self {
            Refusal::DailyVolume { retry_after, .. } => *retry_after,
            Refusal::Concurrent { .. } => 5,
        }
    }
    /// The error a wing sends for this refusal (429, `Retry-After`).
    pub fn into_http(self) -> crate::HttpError {
        let (code, message) = match self {
            Refusal::DailyVolume { limit, .. } => (
                "daily_volume_exceeded",
                format!(
                    "today's download volume of your plan ({}) is used up; it renews at midnight UTC",
                    carrel_core::plan::Bytes(limit)
                ),
            ),
            Refusal::Concurrent { limit } => (
                "too_many_downloads",
                format!("your plan allows {limit} downloads at once; wait for one to finish"),
            ),
        };
        crate::HttpError::new(axum::http::StatusCode::TOO_MANY_REQUESTS, code, message)
            .with_retry_after(self.retry_after())
    }
}

/// A token bucket of `rate` bytes per second holding at most `burst`, kept
/// as one atomic "theoretical arrival time" (the generic cell rate
/// algorithm): taking `n` bytes moves that time `n / rate` forward from
/// `max(it, now)`, and whoever moves it more than `burst` ahead of now
/// waits the difference. Lock-free, and waiters are served in the order
/// they asked.
#[derive(Debug)]
pub struct Bucket {
    rate: u64,
    /// Bytes one reservation may take at once.
    burst: u64,
    /// Nanoseconds the bucket may run ahead of now (its burst).
    burst_ns: u64,
    /// Nanoseconds since `base` when the bucket is next empty.
    tat: AtomicU64,
    base: Instant,
}

impl Bucket {
    pub fn new(rate: u64) -> Self {
        let rate = rate.max(1);
        // About an eighth of a second of bytes, between 4 KiB and 1 MiB.
        let burst = (rate / 8).clamp(4096, 1 << 20);
        Self {
            rate,
            burst,
            burst_ns: Self::ns(burst, rate),
            tat: AtomicU64::new(0),
            base: Instant::now(),
        }
    }
    fn ns(bytes: u64, rate: u64) -> u64 {
        ((bytes as u128 * 1_000_000_000) / rate as u128).min(u64::MAX as u128) as u64
    }
    pub fn rate(&self) -> u64 {
        self.rate
    }
    /// The largest piece one reservation takes.
    pub fn piece(&self) -> u64 {
        self.burst
    }
    /// Takes `n` bytes; returns how long to wait before sending them.
    pub fn reserve(&self, n: u64) -> Duration {
        let now = self.base.elapsed().as_nanos() as u64;
        let cost = Self::ns(n, self.rate);
        let mut cur = self.tat.load(Ordering::Relaxed);
        loop {
            // An idle bucket is full: its time is now, `burst` of credit ahead.
            let next = cur.max(now).saturating_add(cost);
            match self
                .tat
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    return Duration::from_nanos(
                        next.saturating_sub(now.saturating_add(self.burst_ns)),
                    );
                }
                Err(seen) => cur = seen,
            }
        }
    }
}

/// One download's passage through its plan's limits.
pub struct Tap {
    bucket: Option<Arc<Bucket>>,
    sent: Arc<AtomicU64>,
    /// The whole process's bytes served, not yet recorded.
    served: Arc<AtomicU64>,
    _running: Running,
}

impl std::fmt::Debug for Tap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tap")
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

impl Tap {
    /// How many of the next `want` bytes may go now, after waiting for the
    /// speed cap (all of them when there is none).
    pub async fn grant(&self, want: u64) -> u64 {
        let Some(b) = &self.bucket else {
            return want;
        };
        let n = want.min(b.piece()).max(1);
        let wait = b.reserve(n);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        n
    }
    /// Counts bytes that left.
    pub fn sent(&self, n: u64) {
        self.sent.fetch_add(n, Ordering::Relaxed);
        self.served.fetch_add(n, Ordering::Relaxed);
    }
}

/// Counts a running download until dropped.
struct Running(Arc<AtomicU32>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

struct Entry {
    day: i64,
    volume: Arc<AtomicU64>,
    running: Arc<AtomicU32>,
    bucket: Option<Arc<Bucket>>,
}

/// The counts of every account and address downloading today.
#[derive(Default)]
pub struct Meter {
    entries: Mutex<HashMap<Key, Entry>>,
    /// Bytes served and downloads started since the last [`Meter::take_served`].
    served: Arc<AtomicU64>,
    started: AtomicU64,
}

const DAY: i64 = 86_400;

fn unix_now() -> i64 {
    carrel_core::time::Timestamp::now().0
}

impl Meter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a download for `caller` under their plan: an account's
    /// (counted per account) or, for people not logged in, the anonymous
    /// plan's (counted per address).
    pub fn start_for(
        &self,
        plans: &Plans,
        caller: &Caller,
        ip: IpAddr,
    ) -> Result<Arc<Tap>, Refusal> {
        match caller {
            Caller::Account { id, plan, .. } => {
                self.start(Key::Account(id.clone()), plans.limits_of(plan))
            }
            Caller::Anonymous => self.start(Key::address(ip), plans.anonymous_limits()),
        }
    }

    /// Starts a download for `key` under `limits`, or says why not.
    pub fn start(&self, key: Key, limits: &Limits) -> Result<Arc<Tap>, Refusal> {
        self.start_at(key, limits, unix_now())
    }

    fn start_at(&self, key: Key, limits: &Limits, now: i64) -> Result<Arc<Tap>, Refusal> {
        let day = now.div_euclid(DAY);
        let mut entries = self.entries.lock().expect("lock");
        let e = entries.entry(key).or_insert_with(|| Entry {
            day,
            volume: Arc::default(),
            running: Arc::default(),
            bucket: None,
        });
        if e.day != day {
            e.day = day;
            e.volume = Arc::default();
        }
        if let Some(limit) = limits.daily_download
            && e.volume.load(Ordering::Relaxed) >= limit.0
        {
            return Err(Refusal::DailyVolume {
                limit: limit.0,
                retry_after: ((day + 1) * DAY - now).max(1) as u64,
            });
        }
        if let Some(limit) = limits.concurrent_downloads
            && e.running.load(Ordering::Relaxed) >= limit
        {
            return Err(Refusal::Concurrent { limit });
        }
        e.running.fetch_add(1, Ordering::Relaxed);
        self.started.fetch_add(1, Ordering::Relaxed);
        let bucket = match limits.speed {
            None => None,
            Some(rate) => Some(match &e.bucket {
                Some(b) if b.rate() == rate.0.max(1) => b.clone(),
                _ => {
                    let b = Arc::new(Bucket::new(rate.0));
                    e.bucket = Some(b.clone());
                    b
                }
            }),
        };
        Ok(Arc::new(Tap {
            bucket,
            sent: e.volume.clone(),
            served: self.served.clone(),
            _running: Running(e.running.clone()),
        }))
    }

    /// Bytes `key` has downloaded today.
    pub fn volume_today(&self, key: &Key) -> u64 {
        let day = unix_now().div_euclid(DAY);
        self.entries
            .lock()
            .expect("lock")
            .get(key)
            .filter(|e| e.day == day)
            .map_or(0, |e| e.volume.load(Ordering::Relaxed))
    }

    /// Bytes served and downloads started since the last call (for the
    /// durable daily record); [`Meter::give_back`] returns them when they
    /// could not be recorded.
    pub fn take_served(&self) -> (u64, u64) {
        (
            self.served.swap(0, Ordering::Relaxed),
            self.started.swap(0, Ordering::Relaxed),
        )
    }

    /// Counts again what [`Meter::take_served`] took.
    pub fn give_back(&self, bytes: u64, downloads: u64) {
        self.served.fetch_add(bytes, Ordering::Relaxed);
        self.started.fetch_add(downloads, Ordering::Relaxed);
    }

    /// Forgets accounts and addresses whose day is over and that have no
    /// download running (addresses are kept no longer than needed).
    pub fn forget_old(&self) -> usize {
        let day = unix_now().div_euclid(DAY);
        let mut entries = self.entries.lock().expect("lock");
        let before = entries.len();
        entries.retain(|_, e| e.day == day || e.running.load(Ordering::Relaxed) > 0);
        before - entries.len()
    }
}

/// Sends the response's body through `tap`: the streamed body in pieces
/// the speed cap allows, and (as an extension) for the connection's
/// `sendfile(2)` path.
pub fn meter(res: &mut Response, tap: Arc<Tap>) {
    let body = std::mem::replace(res.body_mut(), Body::empty());
    let inner = body.into_data_stream();
    let t = tap.clone();
    let paced = futures::stream::try_unfold(
        (inner, Bytes::new(), t),
        |(mut inner, mut left, tap)| async move {
            if left.is_empty() {
                match inner.next().await {
                    None => return Ok(None),
                    Some(Err(e)) => return Err(e),
                    Some(Ok(b)) => left = b,
                }
            }
            let n = tap.grant(left.len() as u64).await as usize;
            let piece = left.split_to(n.min(left.len()));
            tap.sent(piece.len() as u64);
            Ok(Some((piece, (inner, left, tap))))
        },
    );
    *res.body_mut() = Body::from_stream(paced);
    res.extensions_mut().insert(tap);
}

#[cfg(test)]
mod tests {
    use super::*;
    use carrel_core::plan::Bytes as Size;

    fn ip(s: &str) -> Key {
        Key::address(s.parse().unwrap())
    }

    #[test]
    fn ipv6_counts_by_its_64() {
        assert_eq!(ip("2001:db8:1:2::1"), ip("2001:db8:1:2:ffff::9"));
        assert_ne!(ip("2001:db8:1:2::1"), ip("2001:db8:1:3::1"));
        assert_eq!(ip("::ffff:10.0.0.1"), ip("10.0.0.1"));
    }

    #[test]
    fn daily_volume_is_refused_until_midnight() {
        let m = Meter::new();
        let l = Limits {
            daily_download: Some(Size(100)),
            ..Limits::default()
        };
        let noon = 20_000 * DAY + DAY / 2;
        let t = m.start_at(ip("10.0.0.1"), &l, noon).unwrap();
        t.sent(60);
        drop(m.start_at(ip("10.0.0.1"), &l, noon).unwrap());
        t.sent(40);
        let r = m.start_at(ip("10.0.0.1"), &l, noon).unwrap_err();
        assert_eq!(
            r,
            Refusal::DailyVolume {
                limit: 100,
                retry_after: (DAY / 2) as u64
            }
        );
        // Another address is not affected; the next day starts afresh.
        assert!(m.start_at(ip("10.0.0.2"), &l, noon).is_ok());
        assert!(m.start_at(ip("10.0.0.1"), &l, noon + DAY / 2).is_ok());
        // Every byte and download is counted once for the daily record.
        assert_eq!(m.take_served(), (100, 4));
        assert_eq!(m.take_served(), (0, 0));
        m.give_back(5, 1);
        assert_eq!(m.take_served(), (5, 1));
    }

    #[test]
    fn concurrent_downloads_are_counted_until_they_end() {
        let m = Meter::new();
        let l = Limits {
            concurrent_downloads: Some(2),
            ..Limits::default()
        };
        let k = Key::Account(AccountId::generate());
        let a = m.start(k.clone(), &l).unwrap();
        let _b = m.start(k.clone(), &l).unwrap();
        assert_eq!(
            m.start(k.clone(), &l).unwrap_err(),
            Refusal::Concurrent { limit: 2 }
        );
        drop(a);
        assert!(m.start(k, &l).is_ok());
    }

    #[test]
    fn the_bucket_holds_its_rate() {
        let b = Bucket::new(1_000_000);
        // The first burst is free; after that, each byte costs 1 µs.
        assert_eq!(b.reserve(b.piece()), Duration::ZERO);
        let mut wait = Duration::ZERO;
        for _ in 0..10 {
            wait = b.reserve(100_000);
        }
        // 1 MB in debt (less what refilled meanwhile) at 1 MB/s.
        assert!(
            wait > Duration::from_millis(900) && wait <= Duration::from_millis(1000),
            "{wait:?}"
        );
    }

    #[test]
    fn one_bucket_per_key() {
        let m = Meter::new();
        let l = Limits {
            speed: Some(Size(1000)),
            ..Limits::default()
        };
        let a = m.start(ip("10.0.0.1"), &l).unwrap();
        let b = m.start(ip("10.0.0.1"), &l).unwrap();
        assert!(Arc::ptr_eq(
            a.bucket.as_ref().unwrap(),
            b.bucket.as_ref().unwrap()
        ));
        let c = m.start(ip("10.0.0.2"), &l).unwrap();
        assert!(!Arc::ptr_eq(
            a.bucket.as_ref().unwrap(),
            c.bucket.as_ref().unwrap()
        ));
    }
}
