//! Log-in throttling: failures are counted per account (e-mail address) and
//! per client address. After a few free failures every further attempt must
//! wait, and the wait doubles with each failure (back-off) up to a cap. A
//! throttled attempt is refused before its password is even hashed, so
//! guessing also cannot burn the server's CPU. A successful log-in clears
//! the account's count. Counts fade after an hour without failures.
//!
//! The counts live in this process's memory (one node). Several nodes behind
//! one address each keep their own, which multiplies the free attempts by
//! the number of nodes but keeps the back-off.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use carrel_core::time::Timestamp;

/// The rules: free failures before waiting, the first wait, the longest.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    pub free: u32,
    pub first_wait_secs: i64,
    pub max_wait_secs: i64,
    /// Counts are forgotten this long after the last failure.
    pub forget_after_secs: i64,
}

impl Policy {
    pub const ACCOUNT: Policy = Policy {
        free: 5,
        first_wait_secs: 30,
        max_wait_secs: 15 * 60,
        forget_after_secs: 3600,
    };
    /// One address may be many people (an office, a carrier's NAT).
    pub const ADDRESS: Policy = Policy {
        free: 20,
        first_wait_secs: 30,
        max_wait_secs: 15 * 60,
        forget_after_secs: 3600,
    };
    /// Reset mails asked for one address (so nobody floods an inbox).
    pub const RESET_ACCOUNT: Policy = Policy {
        free: 3,
        first_wait_secs: 10 * 60,
        max_wait_secs: 3600,
        forget_after_secs: 3600,
    };
    /// Reset mails asked for from one client address.
    pub const RESET_ADDRESS: Policy = Policy {
        free: 20,
        first_wait_secs: 5 * 60,
        max_wait_secs: 3600,
        forget_after_secs: 3600,
    };

    /// Seconds still to wait after `failures`, the last at `last`.
    fn wait(&self, failures: u32, last: Timestamp, now: Timestamp) -> i64 {
        if failures < self.free {
            return 0;
        }
        let doublings = (failures - self.free).min(20);
        let wait = (self.first_wait_secs << doublings).min(self.max_wait_secs);
        (last.0 + wait - now.0).max(0)
    }
}

#[derive(Clone, Copy)]
struct Entry {
    failures: u32,
    last: Timestamp,
}

/// Failure counts by key (an account's address or a client address).
pub struct Throttle<K> {
    policy: Policy,
    entries: Mutex<HashMap<K, Entry>>,
}

/// Keys kept at most; beyond it, the oldest half is forgotten.
const MAX_KEYS: usize = 100_000;

impl<K: std::hash::Hash + Eq + Clone> Throttle<K> {
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            entries: Mutex::default(),
        }
    }

    /// Seconds to wait before `key` may try again (0: go ahead).
    pub fn wait(&self, key: &K, now: Timestamp) -> i64 {
        let map = self.entries.lock().unwrap();
        map.get(key).map_or(0, |e| {
            if now.0 - e.last.0 > self.policy.forget_after_secs {
                0
            } else {
                self.policy.wait(e.failures, e.last, now)
            }
        })
    }

    pub fn fail(&self, key: &K, now: Timestamp) {
        let mut map = self.entries.lock().unwrap();
        if map.len() >= MAX_KEYS {
            let mut lasts: Vec<i64> = map.values().map(|e| e.last.0).collect();
            let mid = lasts.len() / 2;
            let cut = *lasts.select_nth_unstable(mid).1;
            map.retain(|_, e| e.last.0 > cut);
        }
        let forget = self.policy.forget_after_secs;
        let e = map.entry(key.clone()).or_insert(Entry {
            failures: 0,
            last: now,
        });
        if now.0 - e.last.0 > forget {
            e.failures = 0;
        }
        e.failures = e.failures.saturating_add(1);
        e.last = now;
    }

    pub fn clear(&self, key: &K) {
        self.entries.lock().unwrap().remove(key);
    }

    /// Forgets keys (client addresses among them) whose failures are past
    /// the policy's memory at `now`.
    pub fn forget_old(&self, now: Timestamp) {
        let forget = self.policy.forget_after_secs;
        self.entries
            .lock()
            .unwrap()
            .retain(|_, e| now.0 - e.last.0 <= forget);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().unwrap().len()
    }
}

/// Both throttles of a form: per account (e-mail address) and per client
/// address. The log-in form counts failures; the reset form counts every request.
pub struct LoginThrottle {
    pub accounts: Throttle<String>,
    pub addresses: Throttle<IpAddr>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self {
            accounts: Throttle::new(Policy::ACCOUNT),
            addresses: Throttle::new(Policy::ADDRESS),
        }
    }
}

impl LoginThrottle {
    /// The throttles of the form asking for reset mails.
    pub fn resets() -> Self {
        Self {
            accounts: Throttle::new(Policy::RESET_ACCOUNT),
            addresses: Throttle::new(Policy::RESET_ADDRESS),
        }
    }

    /// Seconds to wait for this account and address (the longer of the two).
    pub fn wait(&self, account: &str, ip: IpAddr, now: Timestamp) -> i64 {
        self.accounts
            .wait(&account.to_owned(), now)
            .max(self.addresses.wait(&ip, now))
    }
    pub fn fail(&self, account: &str, ip: IpAddr, now: Timestamp) {
        self.accounts.fail(&account.to_owned(), now);
        self.addresses.fail(&ip, now);
    }
    pub fn succeed(&self, account: &str) {
        self.accounts.clear(&account.to_owned());
    }

    /// Forgets what no back-off needs any more (see [`Throttle::forget_old`]).
    pub fn forget_old(&self, now: Timestamp) {
        self.accounts.forget_old(now);
        self.addresses.forget_old(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_failures_then_doubling_waits_then_forgetting() {
        let t = Throttle::new(Policy::ACCOUNT);
        let k = "ada@example.org".to_string();
        for i in 0..5 {
            assert_eq!(t.wait(&k, Timestamp(1000 + i)), 0);
            t.fail(&k, Timestamp(1000 + i));
        }
        // The 5th failure was at 1004: wait 30 s from it.
        assert_eq!(t.wait(&k, Timestamp(1004)), 30);
        assert_eq!(t.wait(&k, Timestamp(1034)), 0);
        t.fail(&k, Timestamp(1034));
        assert_eq!(t.wait(&k, Timestamp(1034)), 60, "doubles");
        for _ in 0..10 {
            t.fail(&k, Timestamp(1100));
        }
        assert_eq!(t.wait(&k, Timestamp(1100)), 15 * 60, "capped");
        assert_eq!(t.wait(&k, Timestamp(1100 + 3601)), 0, "forgotten");
        t.forget_old(Timestamp(1100 + 3600));
        assert_eq!(t.len(), 1, "kept while it may still matter");
        t.forget_old(Timestamp(1100 + 3601));
        assert_eq!(t.len(), 0, "gone from memory");
        t.clear(&k);
        assert_eq!(t.wait(&k, Timestamp(1101)), 0);
    }

    #[test]
    fn the_longer_wait_of_account_and_address_applies() {
        let l = LoginThrottle::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for i in 0..5 {
            l.fail("a@example.org", ip, Timestamp(i));
        }
        assert!(l.wait("a@example.org", ip, Timestamp(5)) > 0);
        // Another account from the same address is still free (20 per address).
        assert_eq!(l.wait("b@example.org", ip, Timestamp(5)), 0);
        for i in 0..20 {
            l.fail(&format!("x{i}@example.org"), ip, Timestamp(6));
        }
        assert!(
            l.wait("b@example.org", ip, Timestamp(6)) > 0,
            "the address is throttled"
        );
        l.succeed("a@example.org");
        assert_eq!(
            l.accounts.wait(&"a@example.org".to_string(), Timestamp(7)),
            0
        );
    }
}
