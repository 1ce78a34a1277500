//! [`RedisRateLimiter`]: the brute-force limiter shared by every instance.

use std::future::Future;

use ::redis::Script;
use std::sync::LazyLock;
use time::{Duration, OffsetDateTime};

use super::{KeyPrefix, RedisConnection, RedisStoreError};
use crate::code::CodeDigest;
use crate::limit::{Decision, Limit, RateLimiter};

/// The default key prefix of [`RedisRateLimiter`].
pub const DEFAULT_LIMIT_PREFIX: &str = "kb-sso:limit:";

/// Microseconds, the unit of the shared accounts: Unix microseconds stay
/// below 2^53 until about 2255, so Redis's Lua numbers hold them exactly.
const NANOS_PER_MICRO: i128 = 1_000;

/// One failure, as one script: KEYS[1] is the account; ARGV is `now`, the
/// interval and the tolerance (microseconds). The account (the instant its
/// bucket is full again) runs one interval further ahead, never more than a
/// whole bucket ahead of now, and Redis forgets it once it is full again.
static FAIL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local prev = tonumber(redis.call('GET', KEYS[1]) or '')
local start = now
if prev and prev > now then start = prev end
local full = math.min(start + interval, now + tolerance + interval)
local ttl = math.max(1, math.ceil((full - now) / 1000))
redis.call('SET', KEYS[1], string.format('%.0f', full), 'PX', ttl)
return 1
",
    )
});

/// A [`RateLimiter`] on Redis: the same token buckets as
/// [`MemoryRateLimiter`](crate::store::memory::MemoryRateLimiter), counted
/// once for every instance that shares the server.
///
/// - [`check`](RateLimiter::check) is one `GET`; [`fail`](RateLimiter::fail)
///   is one Lua script (one round trip, atomic), so concurrent failures on
///   any number of instances are each counted.
/// - The account of a key is the instant its bucket is full again, in Unix
///   microseconds; the interval is `period / burst` rounded up to the
///   microsecond, so the rate is never faster than stated and a fresh key
///   fails exactly `burst` times at once.
/// - Keys are the prefix and the hex SHA-256 of the caller's key (client
///   id and address are not stored in clear). Each account expires when its
///   bucket is full again, so memory holds only keys that failed recently.
/// - Instances pass their own `now`: their clocks must roughly agree.
/// - A Redis failure is an error: the handlers then refuse the attempt
///   (503), never let it through unlimited.
#[derive(Debug, Clone)]
pub struct RedisRateLimiter {
    conn: RedisConnection,
    prefix: KeyPrefix,
}

impl RedisRateLimiter {
    /// A limiter on `conn` whose keys start with [`DEFAULT_LIMIT_PREFIX`].
    pub fn new(conn: RedisConnection) -> Self {
        Self {
            conn,
            prefix: KeyPrefix::new(DEFAULT_LIMIT_PREFIX),
        }
    }

    /// Uses another key prefix (the same on every instance).
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = KeyPrefix::new(prefix);
        self
    }

    fn key(&self, key: &str) -> String {
        self.prefix.key(&CodeDigest::of(key).to_hex())
    }

    async fn check_now(&self, key: &str, limit: Limit, now: OffsetDateTime) -> Result<Decision, RedisStoreError> {
        let mut cmd = ::redis::cmd("GET");
        cmd.arg(self.key(key));
        let full_at: Option<String> = self.conn.query(&cmd).await?;
        let Some(full_at) = full_at else {
            return Ok(Decision::Allowed);
        };
        let full_at: i128 = full_at
            .parse()
            .map_err(|_| RedisStoreError::BadData("a limiter account is not a number".to_owned()))?;
        Ok(decide(full_at, limit, now))
    }

    async fn fail_now(&self, key: &str, limit: Limit, now: OffsetDateTime) -> Result<(), RedisStoreError> {
        let mut invocation = FAIL.key(self.key(key));
        invocation
            .arg(micros(now.unix_timestamp_nanos()))
            .arg(interval_micros(limit))
            .arg(tolerance_micros(limit));
        let _: i64 = self.conn.eval(&invocation).await?;
        Ok(())
    }
}

/// Whole microseconds of `nanos`, floored.
fn micros(nanos: i128) -> i128 {
    nanos.div_euclid(NANOS_PER_MICRO)
}

/// The interval of `limit` in microseconds, rounded up (at least 1).
fn interval_micros(limit: Limit) -> i128 {
    let nanos = limit.interval();
    ((nanos + NANOS_PER_MICRO - 1) / NANOS_PER_MICRO).max(1)
}

/// `burst - 1` intervals, in microseconds.
fn tolerance_micros(limit: Limit) -> i128 {
    i128::from(limit.burst().max(1) - 1) * interval_micros(limit)
}

/// The decision for an account full again at `full_at` (Unix µs).
fn decide(full_at: i128, limit: Limit, now: OffsetDateTime) -> Decision {
    let ahead = full_at.saturating_sub(micros(now.unix_timestamp_nanos()));
    let wait = ahead.saturating_sub(tolerance_micros(limit));
    if wait <= 0 {
        return Decision::Allowed;
    }
    // Whole seconds, rounded up, so that retrying after `retry_after`
    // succeeds; `wait` is at most one period.
    let secs = ((wait + 999_999) / 1_000_000).max(1);
    Decision::Limited {
        retry_after: Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX)),
    }
}

impl RateLimiter for RedisRateLimiter {
    type Error = RedisStoreError;

    /// One `GET` of the key's account.
    ///
    /// # Errors
    /// Any connection, timeout or server failure.
    fn check(
        &self,
        key: &str,
        limit: Limit,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Decision, RedisStoreError>> + Send {
        self.check_now(key, limit, now)
    }

    /// One atomic script that moves the key's account one interval ahead.
    ///
    /// # Errors
    /// Any connection, timeout or server failure.
    fn fail(
        &self,
        key: &str,
        limit: Limit,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), RedisStoreError>> + Send {
        self.fail_now(key, limit, now)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

    /// The script's arithmetic, in Rust: what one failure makes of `prev`.
    fn fail_model(prev: Option<i128>, limit: Limit, now: OffsetDateTime) -> i128 {
        let now = micros(now.unix_timestamp_nanos());
        let start = prev.map_or(now, |p| p.max(now));
        (start + interval_micros(limit)).min(now + tolerance_micros(limit) + interval_micros(limit))
    }

    proptest! {
        /// A fresh key fails exactly `burst` times at one instant, then is
        /// limited for at least a second and at most the period.
        #[test]
        fn exactly_burst_failures_at_once(burst in 1u32..200, period_s in 1i64..86_400) {
            let limit = Limit::new(burst, Duration::seconds(period_s)).unwrap();
            let mut account = None;
            for _ in 0..burst {
                let decision = account.map_or(Decision::Allowed, |a| decide(a, limit, T0));
                prop_assert_eq!(decision, Decision::Allowed);
                account = Some(fail_model(account, limit, T0));
            }
            let Decision::Limited { retry_after } = decide(account.unwrap(), limit, T0) else {
                panic!("limited after {burst} failures");
            };
            prop_assert!(retry_after >= Duration::SECOND);
            prop_assert!(retry_after <= limit.period() + Duration::SECOND);
            // Waiting `retry_after` allows one more attempt.
            prop_assert_eq!(decide(account.unwrap(), limit, T0 + retry_after), Decision::Allowed);
        }
    }

    #[test]
    fn accounts_stay_exact_in_lua_numbers() {
        // Unix microseconds until about 2255 fit a double exactly.
        let far = micros(datetime!(2250-01-01 00:00 UTC).unix_timestamp_nanos());
        assert!(far < (1i128 << 53));
    }
}
