//! An in-memory [`ReplayCache`] for one process.
//!
//! Sharded by the digest of the key, so concurrent handshakes rarely contend;
//! each shard sweeps its own expired entries every [`SWEEP_EVERY`] inserts,
//! while it is locked anyway: there is no global pause.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::{Future, ready};
use std::sync::{Mutex, MutexGuard};

use time::OffsetDateTime;

use crate::handshake::ReplayCache;
use crate::secret::sha256;

const SHARDS: usize = 16;
/// A shard sweeps its expired entries every this many inserts.
const SWEEP_EVERY: u32 = 64;

#[derive(Debug, Default)]
struct Shard {
    /// SHA-256 of the key -> until when it is remembered.
    entries: HashMap<[u8; 32], OffsetDateTime>,
    inserts: u32,
}

impl Shard {
    fn sweep(&mut self, now: OffsetDateTime) {
        self.entries.retain(|_, expires_at| *expires_at > now);
    }
}

/// An in-memory [`ReplayCache`]: one atomic insert-if-absent under a
/// per-shard lock.
///
/// Keys are held as their SHA-256 digests. An entry counts as present until
/// its `expires_at` has passed by the caller's `now` (the time the token was
/// verified at); after that the same key may be inserted again (by then the
/// token it came from no longer verifies). The cache reads no clock.
#[derive(Debug)]
pub struct MemoryReplayCache {
    shards: Box<[Mutex<Shard>]>,
}

impl Default for MemoryReplayCache {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryReplayCache {
    /// An empty cache.
    #[must_use]
    pub fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    fn shard(&self, digest: &[u8; 32]) -> MutexGuard<'_, Shard> {
        let i = usize::from(digest[0]) % self.shards.len();
        // Every update is a single map operation, so a panic elsewhere cannot
        // leave a shard half-written: a poisoned lock is still sound.
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of entries held, expired ones not yet swept included (for
    /// tests and metrics).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).entries.len())
            .sum()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every entry whose time has passed at `now`, shard by shard.
    pub fn sweep(&self, now: OffsetDateTime) {
        for s in self.shards.iter() {
            s.lock().unwrap_or_else(|e| e.into_inner()).sweep(now);
        }
    }

    fn insert_at(&self, key: &str, expires_at: OffsetDateTime, now: OffsetDateTime) -> bool {
        let digest = sha256(key.as_bytes());
        let mut shard = self.shard(&digest);
        shard.inserts = shard.inserts.wrapping_add(1);
        if shard.inserts.is_multiple_of(SWEEP_EVERY) {
            shard.sweep(now);
        }
        match shard.entries.get_mut(&digest) {
            Some(until) if *until > now => false,
            Some(until) => {
                *until = expires_at;
                true
            }
            None => {
                shard.entries.insert(digest, expires_at);
                true
            }
        }
    }
}

impl ReplayCache for MemoryReplayCache {
    type Error = Infallible;

    fn insert_if_absent(
        &self,
        jti: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, Infallible>> + Send {
        ready(Ok(self.insert_at(jti, expires_at, now)))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::clock::{Clock, SettableClock};
    use std::sync::Arc;
    use std::task::{Context, Poll, Waker};
    use time::{Duration, macros::datetime};

    fn now_or_never<F: Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(out) => out,
            Poll::Pending => panic!("memory cache must answer at once"),
        }
    }

    const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

    #[test]
    fn second_insert_refused_until_expiry() {
        let clock = Arc::new(SettableClock::new(T0));
        let cache = MemoryReplayCache::new();
        let until = T0 + Duration::seconds(60);
        assert_eq!(now_or_never(cache.insert_if_absent("a", until, clock.now())), Ok(true));
        assert_eq!(now_or_never(cache.insert_if_absent("a", until, clock.now())), Ok(false));
        assert_eq!(now_or_never(cache.insert_if_absent("b", until, clock.now())), Ok(true));
        clock.set(until - Duration::seconds(1));
        assert_eq!(now_or_never(cache.insert_if_absent("a", until, clock.now())), Ok(false));
        // At its expiry the entry is gone; the key is accepted again.
        clock.set(until);
        assert_eq!(
            now_or_never(cache.insert_if_absent("a", until + Duration::seconds(60), clock.now())),
            Ok(true)
        );
        assert_eq!(
            now_or_never(cache.insert_if_absent("a", until + Duration::seconds(60), clock.now())),
            Ok(false)
        );
    }

    #[test]
    fn expired_entries_are_swept_incrementally() {
        let clock = Arc::new(SettableClock::new(T0));
        let cache = MemoryReplayCache::new();
        let n = 10 * SHARDS * SWEEP_EVERY as usize;
        for i in 0..n {
            let _ = now_or_never(cache.insert_if_absent(&i.to_string(), T0 + Duration::SECOND, clock.now()));
        }
        assert_eq!(cache.len(), n);
        clock.advance(Duration::seconds(2));
        // Further inserts sweep each shard they touch, with no full sweep.
        for i in 0..n {
            let key = format!("later-{i}");
            let _ = now_or_never(cache.insert_if_absent(&key, T0 + Duration::hours(1), clock.now()));
        }
        assert!(cache.len() < 2 * n, "old entries were swept: {}", cache.len());
        cache.sweep(clock.now());
        assert_eq!(cache.len(), n);
        clock.advance(Duration::hours(2));
        cache.sweep(clock.now());
        assert!(cache.is_empty());
    }
}
