//! A [`CodeStore`] on Redis, shared by every instance of an app (feature
//! `redis`).
//!
//! One process can keep its codes in memory; several processes behind a load
//! balancer must see one store, so that a code issued by one instance is
//! redeemable exactly once on any of them. [`RedisCodeStore`] is that store.
//!
//! ```no_run
//! use kb_sso::store::redis::{RedisCodeStore, RedisConnection};
//! use kb_sso::{CodeIssuer, SystemClock};
//!
//! # async fn setup() -> Result<(), kb_sso::store::redis::RedisStoreError> {
//! let redis = RedisConnection::connect("redis://127.0.0.1:6379/").await?;
//! let codes = CodeIssuer::new(RedisCodeStore::new(redis), SystemClock);
//! # Ok(())
//! # }
//! ```
//!
//! # Guarantees
//! - **Atomic redemption.** [`CodeStore::redeem`] is one Lua script run with
//!   `EVALSHA` (loaded on demand). Redis runs a script with nothing else
//!   interleaved, so of any number of concurrent redemptions of one code, on
//!   any number of connections and app instances, exactly one reads the live
//!   grant; the same script turns it into a tombstone before it returns.
//! - **Tombstones.** A redeemed code's entry is overwritten in place with a
//!   tombstone holding the first redemption's grant, keeping the entry's
//!   time to live (`SET ... KEEPTTL`): until the code would have expired a
//!   second use answers [`Redemption::AlreadyUsed`], after that `Unknown`.
//! - **Expiry.** [`CodeStore::insert`] writes with `SET key value NX PX ttl`,
//!   where `ttl` is the code's lifetime (`expires_at - issued_at`, at least
//!   1 ms, at most [`MAX_ENTRY_TTL`]), so Redis drops each entry on its own.
//!   The script also compares the grant's `expires_at` with the `now` the
//!   caller passes (to the millisecond): a code past its time answers
//!   [`Redemption::Expired`] once and is deleted, even if Redis still holds
//!   it. App instances therefore need clocks that roughly agree with each
//!   other, not with the Redis server.
//! - **Outstanding codes per client.** Each client id has a sorted set
//!   (`<prefix>outstanding:<client id>`) of its live codes' digests scored
//!   by their expiry (unix ms). [`CodeStore::insert_limited`] is one Lua
//!   script: it drops the members whose expiry has passed (as of the grant's
//!   `issued_at`), answers [`Insertion::LimitReached`] if as many as the
//!   limit remain, and otherwise writes the entry (`SET NX PX`) and adds its
//!   digest, extending the set's time to live to the entry's. The redemption
//!   script removes the digest from its client's set whenever it ends a live
//!   code (redeemed or expired). The scripts reach the set by a key computed
//!   from the stored grant, so the store needs one Redis server (with
//!   replicas if wanted), not Redis Cluster.
//! - **No overwrite.** `NX` never replaces an entry; inserting under a digest
//!   that is taken fails with [`RedisStoreError::DigestInUse`] instead of
//!   handing out a second code that would redeem to the first grant.
//! - **Digests, never codes.** Keys are a prefix (default
//!   [`DEFAULT_CODE_PREFIX`]) followed by the lower-case hex SHA-256 of the
//!   code. Values hold the grant (JSON), never the code.
//!
//! # Failures
//! Every failure is a [`RedisStoreError`], returned from the trait call:
//! an unreachable, refusing, hung or misbehaving server is never reported as
//! an unknown code. Each command is bounded by the connection's command
//! timeout (default [`DEFAULT_COMMAND_TIMEOUT`]); a hung server yields
//! [`RedisStoreError::Timeout`] rather than a hung request. A redemption
//! that timed out never runs later: the redemption script carries the
//! caller's deadline (this host's clock plus the command timeout) and does
//! nothing once the Redis server's clock (`TIME`) has reached it, so a code
//! whose redemption was answered with an error while Redis hung is still
//! live and redeems exactly once afterwards. (This needs the app hosts' and
//! the Redis server's clocks to agree to well within the command timeout; a
//! Redis clock running ahead makes redemptions fail, never succeed twice.)
//! After a lost connection the next command reconnects.
//!
//! Requires Redis 6.0 or later (or a compatible server such as Valkey) for
//! `KEEPTTL`. Run Redis with persistence (AOF or replicas) if codes must
//! survive a Redis restart: without it a restart forgets outstanding codes
//! and tombstones, so a code redeemed just before the restart answers
//! `Unknown` afterwards — still refused, but no longer told apart from a
//! never-issued one.

use std::fmt;
use std::future::Future;
use std::sync::LazyLock;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, Cmd, ErrorKind, FromRedisValue, RedisError, Script, ScriptInvocation};
use time::OffsetDateTime;

use crate::code::{CodeDigest, CodeGrant, CodeStore, Insertion, Redemption};

mod limiter;
mod revocations;

pub use limiter::{DEFAULT_LIMIT_PREFIX, RedisRateLimiter};
pub use revocations::{DEFAULT_REVOCATION_PREFIX, RedisSessionRevocations, STALE_AFTER};

/// How long one command may take before it fails with
/// [`RedisStoreError::Timeout`], unless configured otherwise.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// The key prefix of [`RedisCodeStore`] unless configured otherwise.
pub const DEFAULT_CODE_PREFIX: &str = "kb-sso:code:";

/// The longest time to live given to an entry. A grant that lives longer
/// (the issuer allows at most 10 minutes) is dropped by Redis at this age and
/// then answers `Unknown`: refused, never accepted late.
pub const MAX_ENTRY_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// Why a Redis store call failed. Never a stand-in for "no such code".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedisStoreError {
    /// The connection URL is not a valid Redis URL. (The URL itself is not
    /// repeated: it may hold a password.)
    #[error("the Redis URL is invalid")]
    InvalidUrl,
    /// Nothing accepts connections at the server's address (connection
    /// refused).
    #[error("the Redis server refused the connection")]
    ConnectionRefused,
    /// The connection failed or was lost (reset, closed, unreachable).
    #[error("the Redis connection failed: {0}")]
    Connection(String),
    /// The server did not answer within the command timeout.
    #[error("the Redis server did not answer within {0:?}")]
    Timeout(Duration),
    /// The server answered with an error (out of memory, read-only
    /// replica, authentication required, wrong key type...).
    #[error("the Redis server refused the command: {0}")]
    Server(String),
    /// A stored entry or a reply is not what this store writes or expects.
    #[error("unexpected data from Redis: {0}")]
    BadData(String),
    /// An insert found its key taken: `NX` left the existing entry alone.
    #[error("a code with this digest is already stored")]
    DigestInUse,
}

/// Sorts a driver error into a [`RedisStoreError`] (the driver's type stays
/// out of the public API).
fn classify(e: RedisError) -> RedisStoreError {
    if e.is_connection_refusal() {
        RedisStoreError::ConnectionRefused
    } else if e.is_timeout() {
        // The driver's own response timeout; `bounded` puts in the limit.
        RedisStoreError::Timeout(Duration::ZERO)
    } else if e.is_io_error() || e.is_connection_dropped() {
        RedisStoreError::Connection(e.to_string())
    } else {
        match e.kind() {
            ErrorKind::Parse | ErrorKind::UnexpectedReturnType => RedisStoreError::BadData(e.to_string()),
            ErrorKind::InvalidClientConfig => RedisStoreError::InvalidUrl,
            ErrorKind::Server(_) | ErrorKind::Extension | ErrorKind::AuthenticationFailed => {
                RedisStoreError::Server(e.to_string())
            }
            _ => RedisStoreError::Connection(e.to_string()),
        }
    }
}

/// A connection to one Redis server: a self-healing multiplexed connection
/// and a command timeout. Cheap to clone; clones share the connection, and
/// several stores may share one.
#[derive(Clone)]
pub struct RedisConnection {
    manager: ConnectionManager,
    /// For connections of their own (a pub/sub subscription).
    client: Client,
    timeout: Duration,
}

impl fmt::Debug for RedisConnection {
    // The client's address may carry a password: print the timeout only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConnection")
            .field("command_timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisConnection {
    /// Connects to `url` (`redis://[:password@]host[:port][/db]`, or
    /// `rediss://` where the `redis` crate is built with TLS) with the
    /// [`DEFAULT_COMMAND_TIMEOUT`].
    ///
    /// # Errors
    /// [`RedisStoreError::InvalidUrl`] for a malformed URL; a connection
    /// error or [`RedisStoreError::Timeout`] if the server cannot be reached.
    pub async fn connect(url: &str) -> Result<Self, RedisStoreError> {
        Self::connect_with_timeout(url, DEFAULT_COMMAND_TIMEOUT).await
    }

    /// Connects to `url` with `command_timeout` bounding every command
    /// (including reconnection after a lost connection) and the first
    /// connection. A zero timeout is raised to 1 ms.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub async fn connect_with_timeout(url: &str, command_timeout: Duration) -> Result<Self, RedisStoreError> {
        let timeout = command_timeout.max(Duration::from_millis(1));
        let client = Client::open(url).map_err(|_| RedisStoreError::InvalidUrl)?;
        // One retry after a short pause: a command fails fast while the
        // server is down, and the next command tries to reconnect again.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(timeout / 4);
        let manager = bounded(timeout, ConnectionManager::new_with_config(client.clone(), config)).await?;
        Ok(Self {
            manager,
            client,
            timeout,
        })
    }

    /// The longest time one command may take.
    pub fn command_timeout(&self) -> Duration {
        self.timeout
    }

    /// When a command sent now has been given up on, in Unix milliseconds
    /// by this host's clock: now plus the command timeout. Scripts that
    /// carry it do nothing once the Redis server's clock has passed it.
    pub(crate) fn deadline_millis(&self) -> i64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        i64::try_from((now + self.timeout).as_millis()).unwrap_or(i64::MAX)
    }

    /// A pub/sub connection of its own, bounded by the command timeout.
    pub(crate) async fn pubsub(&self) -> Result<::redis::aio::PubSub, RedisStoreError> {
        bounded(self.timeout, self.client.get_async_pubsub()).await
    }

    /// Runs one command, bounded by the command timeout.
    ///
    /// A command that fails on a broken connection is sent once more: the
    /// manager reconnects after the first failure, so the first command
    /// after a Redis restart still succeeds. (For a redemption this can at
    /// worst answer "already used" for a code whose first attempt did run:
    /// it fails closed.)
    pub(crate) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, RedisStoreError> {
        let mut conn = self.manager.clone();
        match bounded(self.timeout, cmd.query_async(&mut conn)).await {
            Err(e) if e.is_connection_loss() => bounded(self.timeout, cmd.query_async(&mut conn)).await,
            other => other,
        }
    }

    /// Runs one script (`EVALSHA`, loading it on `NOSCRIPT`), bounded by the
    /// command timeout as a whole.
    /// Retried once on a broken connection, as [`query`](Self::query).
    pub(crate) async fn eval<T: FromRedisValue>(&self, script: &ScriptInvocation<'_>) -> Result<T, RedisStoreError> {
        let mut conn = self.manager.clone();
        match bounded(self.timeout, script.invoke_async(&mut conn)).await {
            Err(e) if e.is_connection_loss() => bounded(self.timeout, script.invoke_async(&mut conn)).await,
            other => other,
        }
    }
}

impl RedisStoreError {
    /// Whether the connection broke (refused or dropped), as opposed to a
    /// timeout, a server error or bad data.
    fn is_connection_loss(&self) -> bool {
        matches!(self, Self::ConnectionRefused | Self::Connection(_))
    }
}

/// Awaits `fut` for at most `limit`.
pub(crate) async fn bounded<T>(
    limit: Duration,
    fut: impl Future<Output = Result<T, RedisError>>,
) -> Result<T, RedisStoreError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(match classify(e) {
            RedisStoreError::Timeout(_) => RedisStoreError::Timeout(limit),
            other => other,
        }),
        Err(_) => Err(RedisStoreError::Timeout(limit)),
    }
}

/// A key prefix: every key a store writes is the prefix and a hex digest.
#[derive(Debug, Clone)]
pub(crate) struct KeyPrefix(String);

impl KeyPrefix {
    pub(crate) fn new(prefix: impl Into<String>) -> Self {
        Self(prefix.into())
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The key for a digest given as hex.
    pub(crate) fn key(&self, digest_hex: &str) -> String {
        let mut key = String::with_capacity(self.0.len() + digest_hex.len());
        key.push_str(&self.0);
        key.push_str(digest_hex);
        key
    }
}

// Stored values are `L|<expires_at, unix ms>|<grant JSON>` for a live code
// and `U|<expires_at, unix ms>|<grant JSON>` for a tombstone.
const LIVE_TAG: &str = "L|";

/// Reply codes of the redemption script.
const UNKNOWN: i64 = 0;
const REDEEMED: i64 = 1;
const USED: i64 = 2;
const EXPIRED: i64 = 3;
const MALFORMED: i64 = 4;
/// The script ran after its caller's deadline and did nothing.
const TOO_LATE: i64 = 5;

/// The redemption, as one script: KEYS[1] is the entry, ARGV[1] the
/// caller's `now` in unix milliseconds, ARGV[2] the key prefix of the
/// clients' outstanding sets, ARGV[3] the digest in hex, ARGV[4] the
/// caller's deadline in unix milliseconds: once the server's clock (`TIME`)
/// has reached it the caller has given up, and the script touches nothing.
/// Answers `{code, grant JSON or ''}`.
static REDEEM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local server_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if server_ms >= tonumber(ARGV[4]) then return {5, ''} end
local function release(grant)
  local ok, g = pcall(cjson.decode, grant)
  if ok and type(g) == 'table' and type(g.client_id) == 'string' then
    redis.call('ZREM', ARGV[2] .. g.client_id, ARGV[3])
  end
end
local v = redis.call('GET', KEYS[1])
if not v then return {0, ''} end
local tag = string.sub(v, 1, 2)
local rest = string.sub(v, 3)
local sep = string.find(rest, '|', 1, true)
if (tag ~= 'L|' and tag ~= 'U|') or not sep then return {4, ''} end
local grant = string.sub(rest, sep + 1)
if tag == 'U|' then return {2, grant} end
local expires = tonumber(string.sub(rest, 1, sep - 1))
local now = tonumber(ARGV[1])
if not expires or not now then return {4, ''} end
if now >= expires then
  redis.call('DEL', KEYS[1])
  release(grant)
  return {3, ''}
end
redis.call('SET', KEYS[1], 'U|' .. rest, 'KEEPTTL')
release(grant)
return {1, grant}
",
    )
});

/// Reply codes of the insertion script.
const INSERT_STORED: i64 = 0;
const INSERT_TAKEN: i64 = 1;
const INSERT_LIMITED: i64 = 2;

/// The insertion, as one script: KEYS[1] is the entry, KEYS[2] the client's
/// outstanding set; ARGV is the value, its time to live (ms), the grant's
/// `issued_at` and `expires_at` (unix ms), the limit and the digest in hex.
/// Answers `{0, ''}` when stored, `{1, ''}` when the key is taken, and
/// `{2, <oldest expiry, unix ms>}` at the limit.
static INSERT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  return {2, oldest[2]}
end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {1, ''} end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[6])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
return {0, ''}
",
    )
});

/// The middle of an outstanding-set key: `<prefix>outstanding:<client id>`.
const OUTSTANDING: &str = "outstanding:";

/// Unix time in whole milliseconds (floored).
pub(crate) fn unix_millis(t: OffsetDateTime) -> i64 {
    let ms = t.unix_timestamp_nanos().div_euclid(1_000_000);
    // Every representable `OffsetDateTime` fits: |ms| < 2^53.
    i64::try_from(ms).unwrap_or(if ms < 0 { i64::MIN } else { i64::MAX })
}

/// The time to live of a new entry, in milliseconds: the code's lifetime,
/// bounded to 1 ms ..= [`MAX_ENTRY_TTL`].
fn entry_ttl_millis(grant: &CodeGrant) -> u64 {
    let lifetime = (grant.expires_at - grant.issued_at).whole_milliseconds();
    let max = MAX_ENTRY_TTL.as_millis();
    let ms = u128::try_from(lifetime.max(1)).unwrap_or(1).min(max);
    u64::try_from(ms).unwrap_or(1)
}

fn encode_live(grant: &CodeGrant) -> Result<String, RedisStoreError> {
    let json = serde_json::to_string(grant)
        .map_err(|_| RedisStoreError::BadData("a grant could not be serialized".to_owned()))?;
    Ok(format!("{LIVE_TAG}{}|{json}", unix_millis(grant.expires_at)))
}

fn decode_grant(json: &[u8]) -> Result<CodeGrant, RedisStoreError> {
    // The reason names no stored text: the entry holds a reader's identity.
    serde_json::from_slice(json).map_err(|_| RedisStoreError::BadData("a stored grant could not be decoded".to_owned()))
}

fn decode_reply(status: i64, grant: &[u8], timeout: Duration) -> Result<Redemption, RedisStoreError> {
    match status {
        UNKNOWN => Ok(Redemption::Unknown),
        REDEEMED => Ok(Redemption::Redeemed(decode_grant(grant)?)),
        USED => Ok(Redemption::AlreadyUsed(Box::new(decode_grant(grant)?))),
        EXPIRED => Ok(Redemption::Expired),
        TOO_LATE => Err(RedisStoreError::Timeout(timeout)),
        MALFORMED => Err(RedisStoreError::BadData(
            "a stored code entry is not in this store's format".to_owned(),
        )),
        other => Err(RedisStoreError::BadData(format!(
            "the redemption script answered {other}"
        ))),
    }
}

/// A [`CodeStore`] on Redis, for many app instances sharing one server.
///
/// See the [module documentation](self) for what it guarantees and how it
/// fails. Clones share the connection.
#[derive(Debug, Clone)]
pub struct RedisCodeStore {
    conn: RedisConnection,
    prefix: KeyPrefix,
}

impl RedisCodeStore {
    /// A store on `conn` whose keys start with [`DEFAULT_CODE_PREFIX`].
    pub fn new(conn: RedisConnection) -> Self {
        Self {
            conn,
            prefix: KeyPrefix::new(DEFAULT_CODE_PREFIX),
        }
    }

    /// Sets the key prefix, e.g. to keep two deployments apart on one
    /// server. Instances that share codes must use the same prefix.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = KeyPrefix::new(prefix);
        self
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        self.prefix.as_str()
    }

    /// The connection.
    pub fn connection(&self) -> &RedisConnection {
        &self.conn
    }

    /// The Redis key of a code's entry.
    pub fn key(&self, digest: &CodeDigest) -> String {
        self.prefix.key(&digest.to_hex())
    }

    /// The Redis key of a client's set of outstanding codes.
    pub fn outstanding_key(&self, client_id: &crate::secret::ClientId) -> String {
        self.prefix.key(&format!("{OUTSTANDING}{}", client_id.as_str()))
    }

    async fn insert_grant(
        &self,
        digest: CodeDigest,
        grant: CodeGrant,
        limit: usize,
    ) -> Result<Insertion, RedisStoreError> {
        let mut invocation = INSERT.key(self.key(&digest));
        invocation
            .key(self.outstanding_key(&grant.client_id))
            .arg(encode_live(&grant)?)
            .arg(entry_ttl_millis(&grant))
            .arg(unix_millis(grant.issued_at))
            .arg(unix_millis(grant.expires_at))
            .arg(u64::try_from(limit).unwrap_or(u64::MAX))
            .arg(digest.to_hex());
        let (status, detail): (i64, String) = self.conn.eval(&invocation).await?;
        match status {
            INSERT_STORED => Ok(Insertion::Stored),
            INSERT_TAKEN => Err(RedisStoreError::DigestInUse),
            INSERT_LIMITED => {
                let ms = detail
                    .parse::<f64>()
                    .map_err(|_| RedisStoreError::BadData("the insertion script answered no expiry".to_owned()))?;
                // Scores are whole milliseconds this store wrote.
                #[allow(clippy::cast_possible_truncation)]
                let ms = ms as i64;
                let retry_at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                    .map_err(|_| RedisStoreError::BadData("an outstanding code's expiry is out of range".to_owned()))?;
                Ok(Insertion::LimitReached { retry_at })
            }
            other => Err(RedisStoreError::BadData(format!(
                "the insertion script answered {other}"
            ))),
        }
    }

    async fn redeem_grant(&self, digest: CodeDigest, now: OffsetDateTime) -> Result<Redemption, RedisStoreError> {
        let mut invocation = REDEEM.key(self.key(&digest));
        invocation
            .arg(unix_millis(now))
            .arg(self.prefix.key(OUTSTANDING))
            .arg(digest.to_hex())
            .arg(self.conn.deadline_millis());
        let (status, grant): (i64, Vec<u8>) = self.conn.eval(&invocation).await?;
        decode_reply(status, &grant, self.conn.command_timeout())
    }
}

impl CodeStore for RedisCodeStore {
    type Error = RedisStoreError;

    /// One atomic script: drop the client's expired codes from its
    /// outstanding set, refuse at the limit, else `SET key value NX PX ttl`
    /// and add the digest to the set.
    ///
    /// # Errors
    /// [`RedisStoreError::DigestInUse`] if the key is taken (it is left
    /// alone); any connection, timeout or server failure.
    fn insert_limited(
        &self,
        digest: CodeDigest,
        grant: CodeGrant,
        limit: usize,
    ) -> impl Future<Output = Result<Insertion, RedisStoreError>> + Send {
        self.insert_grant(digest, grant, limit)
    }

    /// One atomic script: a live grant becomes a tombstone and is returned;
    /// a tombstone answers `AlreadyUsed`; a grant past `now` is deleted and
    /// answers `Expired`; no entry answers `Unknown`.
    ///
    /// # Errors
    /// Any connection, timeout or server failure, and
    /// [`RedisStoreError::BadData`] for an entry this store did not write.
    fn redeem(
        &self,
        digest: CodeDigest,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Redemption, RedisStoreError>> + Send {
        self.redeem_grant(digest, now)
    }
}

/// The default key prefix of [`RedisReplayCache`].
pub const DEFAULT_REPLAY_PREFIX: &str = "kb-sso:jti:";

/// A [`ReplayCache`](crate::handshake::ReplayCache) on Redis, shared by
/// every instance: `SET key 1 NX PXAT <expiry>` is one atomic
/// insert-if-absent, and Redis forgets the key when the token could no
/// longer verify anyway. Needs Redis 6.2 or later (`PXAT`).
#[derive(Debug, Clone)]
pub struct RedisReplayCache {
    conn: RedisConnection,
    prefix: KeyPrefix,
}

impl RedisReplayCache {
    /// A cache on `conn` whose keys start with [`DEFAULT_REPLAY_PREFIX`].
    pub fn new(conn: RedisConnection) -> Self {
        Self {
            conn,
            prefix: KeyPrefix::new(DEFAULT_REPLAY_PREFIX),
        }
    }

    /// Uses another key prefix (the same on every instance).
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = KeyPrefix::new(prefix);
        self
    }

    async fn insert(&self, key: &str, expires_at: OffsetDateTime) -> Result<bool, RedisStoreError> {
        let mut cmd = ::redis::cmd("SET");
        cmd.arg(self.prefix.key(key))
            .arg(1)
            .arg("NX")
            .arg("PXAT")
            .arg(unix_millis(expires_at).max(1));
        // `OK` when this call wrote the key, nil when it was there.
        let written: Option<String> = self.conn.query(&cmd).await?;
        Ok(written.is_some())
    }
}

impl crate::handshake::ReplayCache for RedisReplayCache {
    type Error = RedisStoreError;

    /// `SET key 1 NX PXAT expiry`; `true` only when this call wrote it.
    /// Redis expires the key by its own clock, so `now` is not used.
    ///
    /// # Errors
    /// Any connection, timeout or server failure (never `true` then).
    fn insert_if_absent(
        &self,
        key: &str,
        expires_at: OffsetDateTime,
        _now: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, RedisStoreError>> + Send {
        self.insert(key, expires_at)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::reader::ReaderIdentity;
    use crate::secret::ClientId;
    use time::macros::datetime;

    fn grant(issued_at: OffsetDateTime, lifetime: time::Duration) -> CodeGrant {
        CodeGrant {
            client_id: ClientId::generate(),
            identity: ReaderIdentity {
                username: "john|doe".into(),
                first_name: "J".into(),
                last_name: "D".into(),
                email: "john@example.com".into(),
                reader_group_ids: vec!["g1".into()],
            },
            token_validity_seconds: 900,
            issued_at,
            expires_at: issued_at + lifetime,
            code_challenge: None,
        }
    }

    #[test]
    fn live_values_carry_expiry_in_millis_then_the_grant() {
        let t0 = datetime!(2026-01-01 00:00 UTC);
        let g = grant(t0, time::Duration::minutes(5));
        let v = encode_live(&g).unwrap();
        let rest = v.strip_prefix(LIVE_TAG).unwrap();
        let (expires, json) = rest.split_once('|').unwrap();
        assert_eq!(expires, (unix_millis(t0) + 300_000).to_string());
        assert_eq!(decode_grant(json.as_bytes()).unwrap(), g);
    }

    #[test]
    fn millis_floor_before_the_epoch_too() {
        assert_eq!(unix_millis(datetime!(1970-01-01 00:00:00.0015 UTC)), 1);
        assert_eq!(unix_millis(datetime!(1969-12-31 23:59:59.9995 UTC)), -1);
    }

    #[test]
    fn entry_ttl_is_the_lifetime_bounded() {
        let t0 = datetime!(2026-01-01 00:00 UTC);
        assert_eq!(entry_ttl_millis(&grant(t0, time::Duration::minutes(5))), 300_000);
        assert_eq!(entry_ttl_millis(&grant(t0, time::Duration::ZERO)), 1);
        assert_eq!(entry_ttl_millis(&grant(t0, time::Duration::minutes(-5))), 1);
        assert_eq!(
            entry_ttl_millis(&grant(t0, time::Duration::days(3650))),
            u64::try_from(MAX_ENTRY_TTL.as_millis()).unwrap()
        );
    }

    #[test]
    fn keys_are_prefix_and_hex_digest() {
        let p = KeyPrefix::new(DEFAULT_CODE_PREFIX);
        let d = CodeDigest::of("abc");
        assert_eq!(
            p.key(&d.to_hex()),
            "kb-sso:code:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    const T: Duration = Duration::from_millis(250);

    #[test]
    fn replies_map_to_redemptions_and_bad_data_is_an_error() {
        let g = grant(datetime!(2026-01-01 00:00 UTC), time::Duration::minutes(5));
        let json = serde_json::to_vec(&g).unwrap();
        assert_eq!(decode_reply(UNKNOWN, b"", T).unwrap(), Redemption::Unknown);
        assert_eq!(decode_reply(EXPIRED, b"", T).unwrap(), Redemption::Expired);
        assert_eq!(
            decode_reply(REDEEMED, &json, T).unwrap(),
            Redemption::Redeemed(g.clone())
        );
        assert_eq!(
            decode_reply(USED, &json, T).unwrap(),
            Redemption::AlreadyUsed(Box::new(g))
        );
        assert!(matches!(
            decode_reply(MALFORMED, b"", T),
            Err(RedisStoreError::BadData(_))
        ));
        assert!(matches!(
            decode_reply(REDEEMED, b"{\"client_id\":", T),
            Err(RedisStoreError::BadData(_))
        ));
        assert!(matches!(decode_reply(9, b"", T), Err(RedisStoreError::BadData(_))));
        assert_eq!(decode_reply(TOO_LATE, b"", T), Err(RedisStoreError::Timeout(T)));
    }

    #[test]
    fn bad_data_errors_do_not_echo_stored_text() {
        let e = decode_grant(b"{\"secret-reader@example.com\"").unwrap_err();
        assert!(!e.to_string().contains("secret-reader"), "{e}");
    }

    #[test]
    fn driver_errors_map_to_typed_errors() {
        let refused = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(classify(refused), RedisStoreError::ConnectionRefused);
        let reset = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(matches!(classify(reset), RedisStoreError::Connection(_)));
        let slow = RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
        assert!(matches!(classify(slow), RedisStoreError::Timeout(_)));
        let parse = RedisError::from((ErrorKind::UnexpectedReturnType, "not an array"));
        assert!(matches!(classify(parse), RedisStoreError::BadData(_)));
    }

    #[tokio::test]
    async fn a_malformed_url_is_refused_without_echoing_it() {
        let e = RedisConnection::connect("http://user:hunter2@host/").await.unwrap_err();
        assert_eq!(e, RedisStoreError::InvalidUrl);
        assert!(!e.to_string().contains("hunter2"));
    }
}
