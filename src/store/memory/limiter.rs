//! An in-memory token-bucket [`RateLimiter`]: sharded, bounded memory.

use std::collections::{BTreeSet, HashMap};
use std::future::{Future, ready};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, MutexGuard};

use time::{Duration, OffsetDateTime};

use crate::limit::{Decision, Limit, RateLimiter};

const SHARDS: usize = 16;
/// Keys remembered by [`MemoryRateLimiter::new`], over all shards.
pub const DEFAULT_MAX_KEYS: usize = 1 << 20;
/// Expired entries dropped, at most, by one failure (beyond any eviction).
const SWEEP_PER_FAIL: usize = 4;

/// One shard: each key's account, and the same accounts ordered by when
/// their bucket is full again (soonest first).
#[derive(Debug, Default)]
struct Shard {
    /// Key digest to its theoretical arrival time, in Unix nanoseconds:
    /// the bucket is full again at this instant.
    full_at: HashMap<u64, i128>,
    /// `(full_at, digest)` of every entry of `full_at`.
    by_full_at: BTreeSet<(i128, u64)>,
}

impl Shard {
    fn remove(&mut self, digest: u64) {
        if let Some(at) = self.full_at.remove(&digest) {
            self.by_full_at.remove(&(at, digest));
        }
    }

    /// Forgets the entry whose bucket is closest to full (already full
    /// ones first): it holds the least information.
    fn evict_one(&mut self) {
        if let Some((_, digest)) = self.by_full_at.pop_first() {
            self.full_at.remove(&digest);
        }
    }

    /// Drops a few entries whose bucket is full again at `now`.
    fn sweep(&mut self, now: i128) {
        for _ in 0..SWEEP_PER_FAIL {
            match self.by_full_at.first() {
                Some(&(at, _)) if at <= now => self.evict_one(),
                _ => break,
            }
        }
    }
}

/// An in-memory token-bucket [`RateLimiter`], sharded, with bounded memory.
///
/// Keys are remembered by a 64-bit digest under a hash key drawn at random
/// for each limiter (SipHash, std's [`RandomState`]), so nobody outside can
/// aim keys at one shard or make two keys collide; should two keys still
/// share a digest they share a bucket, which can only limit more, never
/// less. When a shard is full, the entry whose bucket is closest to full
/// (expired ones first) is forgotten to make room, so a new key is always
/// counted and limited.
#[derive(Debug)]
pub struct MemoryRateLimiter {
    hasher: RandomState,
    max_per_shard: usize,
    shards: Box<[Mutex<Shard>]>,
}

impl Default for MemoryRateLimiter {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_MAX_KEYS)
    }
}

impl MemoryRateLimiter {
    /// An empty limiter remembering up to [`DEFAULT_MAX_KEYS`] keys.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty limiter remembering about `max_keys` keys (at least one per
    /// shard, 16 shards).
    pub fn with_capacity(max_keys: usize) -> Self {
        Self {
            hasher: RandomState::new(),
            max_per_shard: max_keys.div_ceil(SHARDS).max(1),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    fn digest(&self, key: &str) -> u64 {
        self.hasher.hash_one(key)
    }

    fn shard_of(digest: u64) -> usize {
        // SHARDS is a power of two; the low bits of SipHash are uniform.
        (digest % SHARDS as u64) as usize
    }

    fn shard(&self, digest: u64) -> MutexGuard<'_, Shard> {
        let i = Self::shard_of(digest);
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    fn check_now(&self, key: &str, limit: Limit, now: OffsetDateTime) -> Decision {
        let digest = self.digest(key);
        let full_at = self.shard(digest).full_at.get(&digest).copied();
        let Some(full_at) = full_at else {
            return Decision::Allowed;
        };
        let ahead = full_at.saturating_sub(now.unix_timestamp_nanos());
        let wait = ahead.saturating_sub(limit.tolerance());
        if wait <= 0 {
            return Decision::Allowed;
        }
        // Whole seconds, rounded up, so that retrying after `retry_after`
        // succeeds; `wait` is at most one period, so this cannot overflow.
        let secs = ((wait + 999_999_999) / 1_000_000_000).max(1);
        let secs = i64::try_from(secs).unwrap_or(i64::MAX);
        Decision::Limited {
            retry_after: Duration::seconds(secs),
        }
    }

    fn fail_now(&self, key: &str, limit: Limit, now: OffsetDateTime) {
        let digest = self.digest(key);
        let now = now.unix_timestamp_nanos();
        let mut shard = self.shard(digest);
        let previous = shard.full_at.get(&digest).copied();
        shard.remove(digest);
        shard.sweep(now);
        while shard.full_at.len() >= self.max_per_shard {
            shard.evict_one();
        }
        // Generic cell rate: the account runs one interval further ahead,
        // but never more than a whole bucket ahead of now.
        let interval = limit.interval();
        let start = previous.map_or(now, |at| at.max(now));
        let full_at = start
            .saturating_add(interval)
            .min(now.saturating_add(limit.tolerance().saturating_add(interval)));
        shard.full_at.insert(digest, full_at);
        shard.by_full_at.insert((full_at, digest));
    }
}

impl RateLimiter for MemoryRateLimiter {
    type Error = std::convert::Infallible;

    fn check(
        &self,
        key: &str,
        limit: Limit,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Decision, Self::Error>> + Send {
        ready(Ok(self.check_now(key, limit, now)))
    }

    fn fail(
        &self,
        key: &str,
        limit: Limit,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.fail_now(key, limit, now);
        ready(Ok(()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

    fn per_minute(n: u32) -> Limit {
        Limit::per_minute(n).unwrap()
    }

    fn total_keys(l: &MemoryRateLimiter) -> usize {
        l.shards.iter().map(|s| s.lock().unwrap().full_at.len()).sum()
    }

    #[test]
    fn a_burst_of_failures_is_limited_then_refills() {
        let l = MemoryRateLimiter::new();
        let limit = per_minute(20);
        for _ in 0..20 {
            assert_eq!(l.check_now("k", limit, T0), Decision::Allowed);
            l.fail_now("k", limit, T0);
        }
        let Decision::Limited { retry_after } = l.check_now("k", limit, T0) else {
            panic!("the 21st failure in a minute is limited")
        };
        assert_eq!(retry_after, Duration::seconds(3), "one token every 3 s");
        assert_eq!(l.check_now("other", limit, T0), Decision::Allowed, "keys are separate");
        assert_eq!(l.check_now("k", limit, T0 + Duration::seconds(3)), Decision::Allowed);
        assert!(matches!(
            l.check_now("k", limit, T0 + Duration::seconds(2)),
            Decision::Limited { .. }
        ));
    }

    #[test]
    fn memory_stays_bounded() {
        let l = MemoryRateLimiter::with_capacity(64);
        let limit = per_minute(2);
        for i in 0..10_000 {
            l.fail_now(&format!("k{i}"), limit, T0);
        }
        assert!(total_keys(&l) <= 64);
        for s in l.shards.iter() {
            let s = s.lock().unwrap();
            assert_eq!(s.full_at.len(), s.by_full_at.len());
        }
    }

    #[test]
    fn a_new_key_is_limited_when_its_shard_is_full() {
        let l = MemoryRateLimiter::with_capacity(SHARDS * 8);
        let limit = per_minute(3);
        let target = "auth|victim|203.0.113.7";
        let shard = MemoryRateLimiter::shard_of(l.digest(target));
        // Fill the target's shard to four times its capacity with keys
        // that each failed up to the limit.
        let mut flooded = 0;
        for i in 0.. {
            let key = format!("auth|flood{i}|198.51.100.1");
            if MemoryRateLimiter::shard_of(l.digest(&key)) != shard {
                continue;
            }
            for _ in 0..3 {
                l.fail_now(&key, limit, T0);
            }
            flooded += 1;
            if flooded == 4 * 8 {
                break;
            }
        }
        assert_eq!(l.shards[shard].lock().unwrap().full_at.len(), 8);
        let at = T0 + Duration::seconds(1);
        for _ in 0..3 {
            assert_eq!(l.check_now(target, limit, at), Decision::Allowed);
            l.fail_now(target, limit, at);
        }
        assert!(
            matches!(l.check_now(target, limit, at), Decision::Limited { .. }),
            "a full shard must not stop limiting a new key"
        );
        // More flooding makes room by forgetting the flood keys, whose
        // buckets refill sooner, not the limited key.
        for i in 0..64 {
            l.fail_now(&format!("late{i}"), limit, at);
        }
        assert!(matches!(l.check_now(target, limit, at), Decision::Limited { .. }));
    }

    #[test]
    fn a_new_key_is_limited_when_every_shard_is_full() {
        let l = MemoryRateLimiter::with_capacity(SHARDS * 64);
        let limit = per_minute(2);
        // Three times the capacity fills every shard, whatever the hash.
        for i in 0..(SHARDS * 64 * 3) {
            l.fail_now(&format!("k{i}"), limit, T0);
        }
        assert_eq!(total_keys(&l), SHARDS * 64);
        l.fail_now("new", limit, T0);
        l.fail_now("new", limit, T0);
        assert!(matches!(l.check_now("new", limit, T0), Decision::Limited { .. }));
    }

    #[test]
    fn expired_entries_are_forgotten_first() {
        let l = MemoryRateLimiter::with_capacity(SHARDS);
        let limit = per_minute(2);
        let key = "k";
        let shard = MemoryRateLimiter::shard_of(l.digest(key));
        l.fail_now(key, limit, T0);
        // A minute later the bucket is full again: the entry holds nothing.
        let later = T0 + Duration::minutes(1);
        let other = (0..)
            .map(|i| format!("o{i}"))
            .find(|k| MemoryRateLimiter::shard_of(l.digest(k)) == shard)
            .unwrap();
        l.fail_now(&other, limit, later);
        let s = l.shards[shard].lock().unwrap();
        assert_eq!(s.full_at.len(), 1);
        assert!(s.full_at.contains_key(&l.digest(&other)));
    }

    #[test]
    fn shard_choice_is_keyed_per_limiter() {
        let a = MemoryRateLimiter::new();
        let b = MemoryRateLimiter::new();
        let keys: Vec<String> = (0..64).map(|i| format!("k{i}")).collect();
        let da: Vec<u64> = keys.iter().map(|k| a.digest(k)).collect();
        let db: Vec<u64> = keys.iter().map(|k| b.digest(k)).collect();
        assert_ne!(da, db, "two limiters hash the same keys differently");
    }

    #[test]
    fn extreme_limits_do_not_panic() {
        let l = MemoryRateLimiter::with_capacity(16);
        for limit in [
            Limit::new(u32::MAX, Limit::MIN_PERIOD).unwrap(),
            Limit::new(1, Limit::MAX_PERIOD).unwrap(),
            Limit::new(u32::MAX, Limit::MAX_PERIOD).unwrap(),
        ] {
            for now in [OffsetDateTime::UNIX_EPOCH, T0, datetime!(9999-12-31 23:59:59 UTC)] {
                for _ in 0..3 {
                    l.fail_now("k", limit, now);
                    let _ = l.check_now("k", limit, now);
                }
            }
        }
        let one_a_year = Limit::new(1, Limit::MAX_PERIOD).unwrap();
        l.fail_now("y", one_a_year, T0);
        assert_eq!(
            l.check_now("y", one_a_year, T0),
            Decision::Limited {
                retry_after: Limit::MAX_PERIOD
            }
        );
    }

    #[test]
    fn failures_beyond_the_burst_do_not_extend_the_wait() {
        let l = MemoryRateLimiter::new();
        let limit = per_minute(2);
        for _ in 0..100 {
            l.fail_now("k", limit, T0);
        }
        assert_eq!(
            l.check_now("k", limit, T0),
            Decision::Limited {
                retry_after: Duration::seconds(30)
            }
        );
    }

    proptest! {
        /// A fresh key fails exactly `burst` times within one refill
        /// interval, is then refused with a positive `Retry-After`, and may
        /// try again exactly when told.
        #[test]
        fn exactly_the_burst_passes_then_retry_after_is_honest(
            burst in 1u32..500,
            period_s in 1i64..=(366 * 24 * 3600),
            steps in prop::collection::vec(0u64..1_000, 0..500),
        ) {
            let limit = Limit::new(burst, Duration::seconds(period_s)).unwrap();
            let l = MemoryRateLimiter::with_capacity(16);
            // Spread the attempts over less than one refill interval.
            let interval_ns = limit.interval();
            let total: u64 = steps.iter().take(burst as usize).sum::<u64>().max(1);
            let mut now = T0;
            for i in 0..burst as usize {
                let step = steps.get(i).copied().unwrap_or(0);
                let ns = i128::from(step) * (interval_ns - 1) / i128::from(total) / 2;
                now += Duration::nanoseconds(i64::try_from(ns).unwrap());
                prop_assert_eq!(l.check_now("k", limit, now), Decision::Allowed, "attempt {}", i + 1);
                l.fail_now("k", limit, now);
            }
            let Decision::Limited { retry_after } = l.check_now("k", limit, now) else {
                return Err(TestCaseError::fail(format!("attempt {} was allowed", burst + 1)));
            };
            prop_assert!(retry_after > Duration::ZERO);
            prop_assert!(retry_after <= limit.period().max(Duration::SECOND) + Duration::SECOND);
            prop_assert_eq!(l.check_now("k", limit, now + retry_after), Decision::Allowed);
            let just_before = l.check_now("k", limit, now + retry_after - Duration::SECOND);
            prop_assert_ne!(just_before, Decision::Allowed);
            prop_assert_eq!(l.check_now("fresh", limit, now), Decision::Allowed);
        }
    }
}
