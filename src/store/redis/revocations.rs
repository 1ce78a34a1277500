//! [`RedisSessionRevocations`]: revoked sessions shared by every instance,
//! pushed to each instance's memory by Redis pub/sub.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use ::redis::Script;
use futures_util::StreamExt as _;
use time::OffsetDateTime;

use super::{KeyPrefix, RedisConnection, RedisStoreError, unix_millis};
use crate::code::CodeDigest;

/// The default key prefix of [`RedisSessionRevocations`].
pub const DEFAULT_REVOCATION_PREFIX: &str = "kb-sso:revoked:";
/// How long a subscription may stay silent before the instance stops
/// trusting its local list and asks Redis directly. Every subscribed
/// instance publishes a heartbeat several times within it.
pub const STALE_AFTER: Duration = Duration::from_secs(1);
/// How often a subscribed instance publishes a heartbeat.
const HEARTBEAT: Duration = Duration::from_millis(200);
/// How often expired entries are dropped from the local list.
const SWEEP_EVERY: Duration = Duration::from_secs(5);
/// Pause between two subscription attempts.
const RETRY_AFTER: Duration = Duration::from_millis(100);
/// Keys read by one `SCAN` step of a reload.
const SCAN_COUNT: usize = 500;
/// The heartbeat message.
const BEAT: &str = "beat";

/// A revocation, as one script: the key (value and expiry: the revocation's
/// end, Unix ms) and the message to every subscribed instance. KEYS[1] is
/// the key; ARGV is the end, the channel and the message.
static REVOKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
",
    )
});

/// An instance's copy of the revocations, and whether it is current.
#[derive(Debug)]
struct Local {
    /// Digest (hex) of each revoked session id to the revocation's end
    /// (Unix ms).
    entries: Mutex<HashMap<String, i64>>,
    /// Whether the list was loaded on the current subscription.
    loaded: AtomicBool,
    /// When the subscription last delivered a message (ms since `base`).
    heard: AtomicU64,
    base: Instant,
}

impl Local {
    fn entries(&self) -> MutexGuard<'_, HashMap<String, i64>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn insert(&self, digest: String, until_ms: i64) {
        let mut entries = self.entries();
        let until = entries.get(&digest).map_or(until_ms, |&u| u.max(until_ms));
        entries.insert(digest, until);
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn heard_now(&self) {
        self.heard.store(self.elapsed_ms(), Ordering::Release);
    }

    /// Loaded, and a message (at least a heartbeat) arrived within
    /// [`STALE_AFTER`].
    fn is_current(&self) -> bool {
        let silent = self.elapsed_ms().saturating_sub(self.heard.load(Ordering::Acquire));
        self.loaded.load(Ordering::Acquire) && u128::from(silent) < STALE_AFTER.as_millis()
    }

    /// Applies a message: `<digest hex> <until ms>`, or a heartbeat.
    fn apply(&self, payload: &[u8]) {
        let Ok(text) = std::str::from_utf8(payload) else { return };
        if let Some((digest, until)) = text.split_once(' ')
            && let Ok(until) = until.parse::<i64>()
            && digest.len() == 64
        {
            self.insert(digest.to_owned(), until);
        }
    }
}

/// [`SessionRevocations`](crate::session::SessionRevocations) on Redis,
/// shared by every instance. Keys hold the SHA-256 of the session id; their
/// value and expiry are the revocation's end (Unix ms).
///
/// Made with [`new`](Self::new), every [`is_revoked`](crate::session::SessionRevocations::is_revoked)
/// asks Redis (`EXISTS`). With [`subscribe`](Self::subscribe) the instance
/// keeps the revocations in memory instead, so that a page view costs no
/// Redis round trip:
///
/// - each revocation is one script that writes the key and `PUBLISH`es it
///   on the channel `<prefix>events`; every subscribed instance adds it to
///   its list as the message arrives (well within a second);
/// - on every (re)subscription the instance first subscribes, then reloads
///   the whole list (`SCAN` and `MGET` of the prefix), and only then answers
///   from memory;
/// - every subscribed instance publishes a heartbeat every 200 ms; when no
///   message has arrived for [`STALE_AFTER`] (the subscription broke, hung,
///   or Redis is down), or before the first load, the instance asks Redis
///   directly, and a failing Redis makes the answer an error, which the KB
///   site takes as "no session". A revoked session is never accepted
///   because the subscription was down.
#[derive(Debug, Clone)]
pub struct RedisSessionRevocations {
    conn: RedisConnection,
    prefix: KeyPrefix,
    local: Option<Arc<Local>>,
}

impl RedisSessionRevocations {
    /// A list on `conn` whose keys start with [`DEFAULT_REVOCATION_PREFIX`],
    /// asking Redis on every check.
    pub fn new(conn: RedisConnection) -> Self {
        Self {
            conn,
            prefix: KeyPrefix::new(DEFAULT_REVOCATION_PREFIX),
            local: None,
        }
    }

    /// Uses another key prefix (the same on every instance). Call it
    /// before [`subscribe`](Self::subscribe).
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = KeyPrefix::new(prefix);
        self
    }

    /// Keeps the revocations in memory, kept current by a subscription (a
    /// task on the current Tokio runtime, which ends when the last clone is
    /// dropped). Outside a Tokio runtime nothing is started and every check
    /// asks Redis.
    pub fn subscribe(mut self) -> Self {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return self;
        };
        let local = Arc::new(Local {
            entries: Mutex::new(HashMap::new()),
            loaded: AtomicBool::new(false),
            heard: AtomicU64::new(0),
            base: Instant::now(),
        });
        let task = Subscriber {
            local: Arc::downgrade(&local),
            conn: self.conn.clone(),
            prefix: self.prefix.clone(),
        };
        runtime.spawn(task.run());
        self.local = Some(local);
        self
    }

    /// Whether checks are answered from memory now: subscribed, the list
    /// loaded, and the subscription heard from within [`STALE_AFTER`].
    pub fn is_current(&self) -> bool {
        self.local.as_ref().is_some_and(|l| l.is_current())
    }

    fn digest(session_id: &str) -> String {
        CodeDigest::of(session_id).to_hex()
    }

    async fn revoke_now(&self, session_id: &str, until: OffsetDateTime) -> Result<(), RedisStoreError> {
        let digest = Self::digest(session_id);
        let until = unix_millis(until).max(1);
        let mut invocation = REVOKE.key(self.prefix.key(&digest));
        invocation
            .arg(until)
            .arg(channel(&self.prefix))
            .arg(format!("{digest} {until}"));
        let _: i64 = self.conn.eval(&invocation).await?;
        if let Some(local) = &self.local {
            local.insert(digest, until);
        }
        Ok(())
    }

    async fn revoked(&self, session_id: &str, now: OffsetDateTime) -> Result<bool, RedisStoreError> {
        let digest = Self::digest(session_id);
        if let Some(local) = &self.local {
            let until = local.entries().get(&digest).copied();
            if until.is_some_and(|u| u > unix_millis(now)) {
                return Ok(true);
            }
            if local.is_current() {
                return Ok(false);
            }
        }
        let mut cmd = ::redis::cmd("EXISTS");
        cmd.arg(self.prefix.key(&digest));
        let n: i64 = self.conn.query(&cmd).await?;
        Ok(n > 0)
    }
}

/// The channel revocations are published on.
fn channel(prefix: &KeyPrefix) -> String {
    format!("{}events", prefix.as_str())
}

/// The task that keeps an instance's list current.
struct Subscriber {
    local: Weak<Local>,
    conn: RedisConnection,
    prefix: KeyPrefix,
}

impl Subscriber {
    async fn run(self) {
        while self.local.strong_count() > 0 {
            // Returns when the subscription fails or falls silent.
            let _ = self.subscription().await;
            if let Some(local) = self.local.upgrade() {
                local.loaded.store(false, Ordering::Release);
            }
            tokio::time::sleep(RETRY_AFTER).await;
        }
    }

    /// One subscription: subscribe, reload, then apply messages and beat
    /// until it breaks or falls silent.
    async fn subscription(&self) -> Result<(), RedisStoreError> {
        let timeout = self.conn.command_timeout();
        let mut pubsub = self.conn.pubsub().await?;
        let channel = channel(&self.prefix);
        super::bounded(timeout, pubsub.subscribe(&channel)).await?;
        let mut messages = pubsub.into_on_message();
        self.reload().await?;
        {
            let Some(local) = self.local.upgrade() else {
                return Ok(());
            };
            local.heard_now();
            local.loaded.store(true, Ordering::Release);
        }
        let mut last_beat: Option<Instant> = None;
        let mut last_sweep = Instant::now();
        loop {
            if last_beat.is_none_or(|t| t.elapsed() >= HEARTBEAT) {
                last_beat = Some(Instant::now());
                // Sent apart, so that a hung server does not hold up the
                // messages already on their way.
                let conn = self.conn.clone();
                let channel = channel.clone();
                tokio::spawn(async move {
                    let mut cmd = ::redis::cmd("PUBLISH");
                    cmd.arg(channel).arg(BEAT);
                    let _: Result<i64, _> = conn.query(&cmd).await;
                });
            }
            let next = tokio::time::timeout(HEARTBEAT, messages.next()).await;
            let Some(local) = self.local.upgrade() else {
                return Ok(());
            };
            match next {
                Ok(Some(msg)) => {
                    local.apply(msg.get_payload_bytes());
                    local.heard_now();
                }
                Ok(None) => return Err(RedisStoreError::Connection("the subscription ended".to_owned())),
                Err(_) => {}
            }
            if !local.is_current() {
                return Err(RedisStoreError::Timeout(STALE_AFTER));
            }
            if last_sweep.elapsed() >= SWEEP_EVERY {
                last_sweep = Instant::now();
                let now = unix_millis(OffsetDateTime::now_utc());
                local.entries().retain(|_, until| *until > now);
            }
        }
    }

    /// Reads every revocation in Redis into the local list.
    async fn reload(&self) -> Result<(), RedisStoreError> {
        let pattern = format!("{}*", self.prefix.as_str());
        let mut cursor: u64 = 0;
        loop {
            let mut scan = ::redis::cmd("SCAN");
            scan.arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(SCAN_COUNT);
            let (next, keys): (u64, Vec<String>) = self.conn.query(&scan).await?;
            if !keys.is_empty() {
                let mut mget = ::redis::cmd("MGET");
                mget.arg(&keys);
                let values: Vec<Option<String>> = self.conn.query(&mget).await?;
                let Some(local) = self.local.upgrade() else {
                    return Ok(());
                };
                for (key, value) in keys.iter().zip(values) {
                    let Some(digest) = key.strip_prefix(self.prefix.as_str()) else {
                        continue;
                    };
                    // A key written by an earlier version holds `1`: kept
                    // as long as a session can last.
                    let until = value.and_then(|v| v.parse::<i64>().ok()).unwrap_or(i64::MAX);
                    if digest.len() == 64 {
                        local.insert(digest.to_owned(), until);
                    }
                }
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}

impl crate::session::SessionRevocations for RedisSessionRevocations {
    type Error = RedisStoreError;

    /// One script: `SET key <until> PXAT <until>` and `PUBLISH` to every
    /// subscribed instance. Redis forgets the key by its own clock, so
    /// `now` is not used.
    fn revoke(
        &self,
        session_id: &str,
        until: OffsetDateTime,
        _now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), RedisStoreError>> + Send {
        self.revoke_now(session_id, until)
    }

    /// From memory while the subscription is current; otherwise `EXISTS`
    /// in Redis (an error when Redis fails, never "not revoked").
    fn is_revoked(
        &self,
        session_id: &str,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, RedisStoreError>> + Send {
        self.revoked(session_id, now)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn local() -> Local {
        Local {
            entries: Mutex::new(HashMap::new()),
            loaded: AtomicBool::new(true),
            heard: AtomicU64::new(0),
            base: Instant::now(),
        }
    }

    #[test]
    fn messages_add_revocations_and_beats_add_nothing() {
        let l = local();
        let d = CodeDigest::of("jti").to_hex();
        l.apply(format!("{d} 1000").as_bytes());
        l.apply(BEAT.as_bytes());
        l.apply(b"short 5");
        l.apply(&[0xff, 0xfe]);
        assert_eq!(l.entries().len(), 1);
        assert_eq!(l.entries().get(&d), Some(&1000));
        // A later end wins; an earlier one does not shorten it.
        l.apply(format!("{d} 500").as_bytes());
        assert_eq!(l.entries().get(&d), Some(&1000));
    }

    #[test]
    fn an_unloaded_list_is_never_current() {
        let l = local();
        l.heard_now();
        assert!(l.is_current());
        l.loaded.store(false, Ordering::Release);
        assert!(!l.is_current());
    }
}
