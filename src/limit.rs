//! Brute-force limits: failed client authentications and failed code
//! redemptions, counted per key in token buckets.
//!
//! A [`RateLimiter`] answers whether a key may try again and records
//! failures. Honest traffic never meets the defaults
//! ([`Limits::default`]): 20 failed authentications a minute per client id
//! and address, 120 failed redemptions a minute per address. Successful
//! requests cost nothing.

use std::collections::HashMap;
use std::future::{Future, ready};
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use time::{Duration, OffsetDateTime};

/// A bucket: `burst` failures allowed at once, refilled at `burst` per
/// `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Failures allowed in a burst.
    pub burst: u32,
    /// Time to refill the whole bucket.
    pub period: Duration,
}

impl Limit {
    /// `burst` failures per minute.
    pub const fn per_minute(burst: u32) -> Self {
        Self {
            burst,
            period: Duration::MINUTE,
        }
    }
}

/// The limits the HTTP handlers apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Failed client authentications per client id and remote address.
    pub failed_auth: Limit,
    /// Failed code redemptions per remote address.
    pub failed_redemption: Limit,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            failed_auth: Limit::per_minute(20),
            failed_redemption: Limit::per_minute(120),
        }
    }
}

/// Whether a key may try now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Allowed,
    /// Refused; try again after this long.
    Limited {
        /// When a new attempt will be allowed.
        retry_after: Duration,
    },
}

/// Counts failures per key.
///
/// # Contract
/// [`check`](Self::check) does not consume; [`fail`](Self::fail) consumes
/// one token atomically. Keys are opaque strings chosen by the caller
/// (client id and address); implementations must bound their memory.
pub trait RateLimiter: Send + Sync {
    /// The limiter's own failure.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Whether `key` may try at `now`.
    fn check(
        &self,
        key: &str,
        limit: Limit,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Decision, Self::Error>> + Send;

    /// Records one failure of `key` at `now`.
    fn fail(
        &self,
        key: &str,
        limit: Limit,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

const SHARDS: usize = 16;
/// Most keys a shard remembers; full buckets are dropped first.
const MAX_KEYS_PER_SHARD: usize = 65_536;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: OffsetDateTime,
}

impl Bucket {
    fn refilled(self, limit: Limit, now: OffsetDateTime) -> f64 {
        let elapsed = (now - self.at).as_seconds_f64().max(0.0);
        let rate = f64::from(limit.burst) / limit.period.as_seconds_f64().max(1e-9);
        (self.tokens + elapsed * rate).min(f64::from(limit.burst))
    }
}

/// An in-memory token-bucket [`RateLimiter`], sharded.
#[derive(Debug)]
pub struct MemoryRateLimiter {
    shards: Box<[Mutex<HashMap<String, Bucket>>]>,
}

impl Default for MemoryRateLimiter {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }
}

impl MemoryRateLimiter {
    /// An empty limiter.
    pub fn new() -> Self {
        Self::default()
    }

    fn shard(&self, key: &str) -> std::sync::MutexGuard<'_, HashMap<String, Bucket>> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        let i = (h.finish() as usize) % self.shards.len();
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    fn check_now(&self, key: &str, limit: Limit, now: OffsetDateTime) -> Decision {
        let shard = self.shard(key);
        let Some(bucket) = shard.get(key) else {
            return Decision::Allowed;
        };
        let tokens = bucket.refilled(limit, now);
        if tokens >= 1.0 {
            Decision::Allowed
        } else {
            let rate = f64::from(limit.burst) / limit.period.as_seconds_f64().max(1e-9);
            let wait = ((1.0 - tokens) / rate).ceil().max(1.0);
            Decision::Limited {
                retry_after: Duration::seconds_f64(wait),
            }
        }
    }

    fn fail_now(&self, key: &str, limit: Limit, now: OffsetDateTime) {
        let mut shard = self.shard(key);
        if shard.len() >= MAX_KEYS_PER_SHARD && !shard.contains_key(key) {
            // Forget buckets that have refilled: they hold no information.
            shard.retain(|_, b| b.refilled(limit, now) < f64::from(limit.burst));
            if shard.len() >= MAX_KEYS_PER_SHARD {
                return;
            }
        }
        let tokens = shard
            .get(key)
            .map_or(f64::from(limit.burst), |b| b.refilled(limit, now));
        shard.insert(
            key.to_owned(),
            Bucket {
                tokens: (tokens - 1.0).max(0.0),
                at: now,
            },
        );
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
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

    #[test]
    fn a_burst_of_failures_is_limited_then_refills() {
        let l = MemoryRateLimiter::new();
        let limit = Limit::per_minute(20);
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
        let l = MemoryRateLimiter::new();
        let limit = Limit::per_minute(2);
        for i in 0..(MAX_KEYS_PER_SHARD * SHARDS + 1000) {
            l.fail_now(&format!("k{i}"), limit, T0);
        }
        let total: usize = l.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(total <= MAX_KEYS_PER_SHARD * SHARDS);
    }
}
