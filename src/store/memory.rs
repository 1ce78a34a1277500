//! In-memory stores for one process.
//!
//! [`MemoryCodeStore`] is sharded by digest so concurrent redemptions of
//! different codes rarely contend, and each shard sweeps its own expired
//! entries while it is locked anyway: there is no global pause.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::{Future, ready};
use std::sync::{Mutex, MutexGuard, RwLock};

use time::OffsetDateTime;

use crate::code::{CodeDigest, CodeGrant, CodeStore, Redemption};
use crate::config::{ConfigError, ConfigStore, JwtConfig};
use crate::project::Project;
use crate::secret::ClientId;

pub use super::replay::MemoryReplayCache;
use crate::session::SessionRevocations;

const SHARDS: usize = 16;
/// A shard sweeps its expired entries every this many inserts.
const SWEEP_EVERY: u32 = 64;

#[derive(Debug)]
enum Entry {
    Live(CodeGrant),
    Used(Box<CodeGrant>),
}

impl Entry {
    fn expires_at(&self) -> OffsetDateTime {
        match self {
            Entry::Live(g) => g.expires_at,
            Entry::Used(g) => g.expires_at,
        }
    }
}

#[derive(Debug, Default)]
struct Shard {
    entries: HashMap<CodeDigest, Entry>,
    inserts: u32,
}

impl Shard {
    fn sweep(&mut self, now: OffsetDateTime) {
        self.entries.retain(|_, e| e.expires_at() > now);
    }
}

/// An in-memory [`CodeStore`]: atomic redemption under a per-shard lock,
/// tombstones for used codes until they would have expired.
#[derive(Debug)]
pub struct MemoryCodeStore {
    shards: Box<[Mutex<Shard>]>,
}

impl Default for MemoryCodeStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryCodeStore {
    /// An empty store.
    pub fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    fn shard(&self, digest: &CodeDigest) -> MutexGuard<'_, Shard> {
        let i = usize::from(digest.0[0]) % self.shards.len();
        // Every update below is a single map operation, so a panic elsewhere
        // cannot leave a shard half-written: a poisoned lock is still sound.
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of entries held (live codes and tombstones), for tests and
    /// metrics.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).entries.len())
            .sum()
    }

    /// Whether the store holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every entry past its expiry.
    pub fn sweep(&self, now: OffsetDateTime) {
        for s in self.shards.iter() {
            s.lock().unwrap_or_else(|e| e.into_inner()).sweep(now);
        }
    }

    fn insert_now(&self, digest: CodeDigest, grant: CodeGrant) {
        let mut shard = self.shard(&digest);
        shard.inserts = shard.inserts.wrapping_add(1);
        if shard.inserts.is_multiple_of(SWEEP_EVERY) {
            let issued = grant.issued_at;
            shard.sweep(issued);
        }
        // Never overwrite: a 256-bit collision is not going to happen, but
        // if it did the first grant must not be replaced.
        shard.entries.entry(digest).or_insert(Entry::Live(grant));
    }

    fn redeem_now(&self, digest: CodeDigest, now: OffsetDateTime) -> Redemption {
        let mut shard = self.shard(&digest);
        let Some(entry) = shard.entries.get_mut(&digest) else {
            return Redemption::Unknown;
        };
        match entry {
            Entry::Used(first) => Redemption::AlreadyUsed(first.clone()),
            Entry::Live(grant) if now >= grant.expires_at => {
                shard.entries.remove(&digest);
                Redemption::Expired
            }
            Entry::Live(grant) => {
                let grant = grant.clone();
                *entry = Entry::Used(Box::new(grant.clone()));
                Redemption::Redeemed(grant)
            }
        }
    }
}

impl CodeStore for MemoryCodeStore {
    type Error = Infallible;

    fn insert(&self, digest: CodeDigest, grant: CodeGrant) -> impl Future<Output = Result<(), Infallible>> + Send {
        self.insert_now(digest, grant);
        ready(Ok(()))
    }

    fn redeem(
        &self,
        digest: CodeDigest,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Redemption, Infallible>> + Send {
        ready(Ok(self.redeem_now(digest, now)))
    }
}

impl<T: CodeStore> CodeStore for std::sync::Arc<T> {
    type Error = T::Error;

    fn insert(&self, digest: CodeDigest, grant: CodeGrant) -> impl Future<Output = Result<(), Self::Error>> + Send {
        (**self).insert(digest, grant)
    }

    fn redeem(
        &self,
        digest: CodeDigest,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Redemption, Self::Error>> + Send {
        (**self).redeem(digest, now)
    }
}

/// An in-memory [`ConfigStore`] holding one project.
#[derive(Debug, Default)]
pub struct MemoryConfigStore {
    project: RwLock<Project>,
}

impl MemoryConfigStore {
    /// A store holding `project`.
    pub fn new(project: Project) -> Self {
        Self {
            project: RwLock::new(project),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Project> {
        self.project.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl ConfigStore for MemoryConfigStore {
    type Error = Infallible;

    fn get(&self, client_id: &ClientId) -> impl Future<Output = Result<Option<JwtConfig>, Infallible>> + Send {
        ready(Ok(self.read().jwt_config(client_id).cloned()))
    }

    fn project(&self) -> impl Future<Output = Result<Project, Infallible>> + Send {
        ready(Ok(self.read().clone()))
    }

    fn modify<T, F>(&self, f: F) -> impl Future<Output = Result<Result<T, ConfigError>, Infallible>> + Send
    where
        T: Send,
        F: FnOnce(&mut Project) -> Result<T, ConfigError> + Send,
    {
        let mut guard = self.project.write().unwrap_or_else(|e| e.into_inner());
        // Work on a copy so a refused operation leaves nothing half-done.
        let mut draft = guard.clone();
        let result = f(&mut draft);
        if result.is_ok() {
            *guard = draft;
        }
        ready(Ok(result))
    }
}

/// An in-memory [`SessionRevocations`]: revoked session ids until they
/// would have expired, swept as new ones arrive.
#[derive(Debug, Default)]
pub struct MemorySessionRevocations {
    revoked: Mutex<HashMap<String, OffsetDateTime>>,
}

impl MemorySessionRevocations {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, OffsetDateTime>> {
        self.revoked.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl SessionRevocations for MemorySessionRevocations {
    type Error = Infallible;

    fn revoke(&self, session_id: &str, until: OffsetDateTime) -> impl Future<Output = Result<(), Infallible>> + Send {
        let mut map = self.lock();
        if map.len() >= 1024 && map.len().is_power_of_two() {
            // Amortised sweep: at most one full pass per doubling.
            let now = OffsetDateTime::now_utc();
            map.retain(|_, until| *until > now);
        }
        let entry = map.entry(session_id.to_owned()).or_insert(until);
        *entry = (*entry).max(until);
        ready(Ok(()))
    }

    fn is_revoked(
        &self,
        session_id: &str,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, Infallible>> + Send {
        let revoked = self.lock().get(session_id).is_some_and(|until| *until > now);
        ready(Ok(revoked))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::code::ReaderIdentity;
    use time::{Duration, macros::datetime};

    fn grant(now: OffsetDateTime) -> CodeGrant {
        CodeGrant {
            client_id: ClientId::generate(),
            identity: ReaderIdentity {
                username: "u".into(),
                first_name: String::new(),
                last_name: String::new(),
                email: "u@x".into(),
                reader_group_ids: vec![],
            },
            token_validity_seconds: 900,
            issued_at: now,
            expires_at: now + Duration::minutes(5),
            code_challenge: None,
        }
    }

    #[test]
    fn redeem_once_then_tombstone_then_gone() {
        let t0 = datetime!(2026-01-01 00:00 UTC);
        let store = MemoryCodeStore::new();
        let d = CodeDigest::of("code");
        let g = grant(t0);
        store.insert_now(d, g.clone());
        assert_eq!(store.redeem_now(d, t0), Redemption::Redeemed(g.clone()));
        assert_eq!(store.redeem_now(d, t0), Redemption::AlreadyUsed(Box::new(g)));
        store.sweep(t0 + Duration::minutes(5));
        assert_eq!(store.redeem_now(d, t0), Redemption::Unknown);
        assert!(store.is_empty());
    }

    #[test]
    fn expired_codes_say_so_once_and_are_used_up() {
        let t0 = datetime!(2026-01-01 00:00 UTC);
        let store = MemoryCodeStore::new();
        let d = CodeDigest::of("code");
        store.insert_now(d, grant(t0));
        let late = t0 + Duration::minutes(5);
        assert_eq!(store.redeem_now(d, late), Redemption::Expired);
        assert_eq!(
            store.redeem_now(d, t0),
            Redemption::Unknown,
            "an expired code never comes back"
        );
    }

    #[test]
    fn insert_never_overwrites() {
        let t0 = datetime!(2026-01-01 00:00 UTC);
        let store = MemoryCodeStore::new();
        let d = CodeDigest::of("code");
        let first = grant(t0);
        store.insert_now(d, first.clone());
        store.insert_now(d, grant(t0));
        assert_eq!(store.redeem_now(d, t0), Redemption::Redeemed(first));
    }

    #[test]
    fn inserts_sweep_expired_entries_of_their_shard() {
        let t0 = datetime!(2026-01-01 00:00 UTC);
        let store = MemoryCodeStore::new();
        for i in 0..(SWEEP_EVERY as usize * SHARDS * 4) {
            store.insert_now(CodeDigest::of(&format!("old{i}")), grant(t0));
        }
        let later = t0 + Duration::hours(1);
        for i in 0..(SWEEP_EVERY as usize * SHARDS * 4) {
            store.insert_now(CodeDigest::of(&format!("new{i}")), grant(later));
        }
        assert!(
            store.len() < SWEEP_EVERY as usize * SHARDS * 6,
            "old entries were swept: {}",
            store.len()
        );
    }

    #[test]
    fn concurrent_redemptions_of_one_code_yield_one_grant() {
        let t0 = datetime!(2026-01-01 00:00 UTC);
        let store = std::sync::Arc::new(MemoryCodeStore::new());
        let d = CodeDigest::of("code");
        store.insert_now(d, grant(t0));
        let handles: Vec<_> = (0..32)
            .map(|_| {
                let s = store.clone();
                std::thread::spawn(move || matches!(s.redeem_now(d, t0), Redemption::Redeemed(_)))
            })
            .collect();
        let wins = handles
            .into_iter()
            .filter(|_| true)
            .map(|h| h.join().unwrap())
            .filter(|w| *w)
            .count();
        assert_eq!(wins, 1);
    }
}
