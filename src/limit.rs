//! Brute-force limits: failed client authentications and failed code
//! redemptions, counted per key in token buckets.

use std::future::Future;

use time::{Duration, OffsetDateTime};

/// Why a [`Limit`] could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitError {
    /// A burst of zero would refuse every attempt, including the first.
    #[error("a limit must allow at least one attempt")]
    ZeroBurst,
    /// The period is shorter than [`Limit::MIN_PERIOD`] (or not positive).
    #[error("a limit's period must be at least one second")]
    PeriodTooShort,
    /// The period is longer than [`Limit::MAX_PERIOD`].
    #[error("a limit's period must be at most 366 days")]
    PeriodTooLong,
}

/// A bucket: `burst` failures allowed at once, refilled at `burst` per
/// `period`.
///
/// Made only by [`Limit::new`] or [`Limit::per_minute`], so a `Limit`
/// always has a burst of at least one and a period between
/// [`Limit::MIN_PERIOD`] and [`Limit::MAX_PERIOD`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    burst: u32,
    period: Duration,
}

impl Limit {
    /// The shortest period accepted: one second, the resolution of
    /// `Retry-After`.
    pub const MIN_PERIOD: Duration = Duration::SECOND;
    /// The longest period accepted: 366 days.
    pub const MAX_PERIOD: Duration = Duration::days(366);

    /// `burst` failures per `period`.
    ///
    /// # Errors
    ///
    /// [`LimitError::ZeroBurst`] if `burst` is 0,
    /// [`LimitError::PeriodTooShort`] if `period` is shorter than
    /// [`MIN_PERIOD`](Self::MIN_PERIOD), [`LimitError::PeriodTooLong`] if it
    /// is longer than [`MAX_PERIOD`](Self::MAX_PERIOD).
    pub const fn new(burst: u32, period: Duration) -> Result<Self, LimitError> {
        if burst == 0 {
            return Err(LimitError::ZeroBurst);
        }
        let nanos = period.whole_nanoseconds();
        if nanos < Self::MIN_PERIOD.whole_nanoseconds() {
            return Err(LimitError::PeriodTooShort);
        }
        if nanos > Self::MAX_PERIOD.whole_nanoseconds() {
            return Err(LimitError::PeriodTooLong);
        }
        Ok(Self { burst, period })
    }

    /// `burst` failures per minute.
    ///
    /// # Errors
    ///
    /// [`LimitError::ZeroBurst`] if `burst` is 0.
    pub const fn per_minute(burst: u32) -> Result<Self, LimitError> {
        Self::new(burst, Duration::MINUTE)
    }

    /// Failures allowed in a burst (at least 1).
    pub const fn burst(&self) -> u32 {
        self.burst
    }

    /// Time to refill the whole bucket.
    pub const fn period(&self) -> Duration {
        self.period
    }

    /// Nanoseconds after which one failure is forgiven: `period / burst`,
    /// rounded up, so never faster than the stated rate. At least 1.
    pub(crate) fn interval(self) -> i128 {
        let period = self.period.whole_nanoseconds().max(1);
        let burst = i128::from(self.burst.max(1));
        ((period + burst - 1) / burst).max(1)
    }

    /// How far ahead of now a key's account may run and still be allowed
    /// one more attempt: `burst - 1` intervals.
    pub(crate) fn tolerance(self) -> i128 {
        i128::from(self.burst.max(1) - 1) * self.interval()
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
            failed_auth: Limit {
                burst: 20,
                period: Duration::MINUTE,
            },
            failed_redemption: Limit {
                burst: 120,
                period: Duration::MINUTE,
            },
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

/// Brute-force limits: failed client authentications and failed code
/// redemptions, counted per key in token buckets.
///
/// A [`RateLimiter`] answers whether a key may try again and records
/// failures. Honest traffic never meets the defaults
/// ([`Limits::default`]): 20 failed authentications a minute per client id
/// and address, 120 failed redemptions a minute per address. Successful
/// requests cost nothing.
///
/// # The bucket rule
///
/// A [`Limit`] of `burst` per `period` lets a fresh key fail exactly
/// `burst` times at once; the next attempt is refused with a
/// [`Decision::Limited`] whose `retry_after` is at least one second and at
/// most `period`, rounded up to whole seconds. One failure is forgiven
/// every `period / burst` (rounded up to the nanosecond), so a key that
/// waits `retry_after` may try again. The arithmetic is in integer
/// nanoseconds: no rounding lets an extra attempt through.
///
/// # Contract
/// [`check`](Self::check) does not consume; [`fail`](Self::fail) consumes
/// one token atomically. Keys are opaque strings chosen by the caller
/// (client id and address); implementations must bound their memory, and
/// must not stop limiting when that bound is reached: a key that fails
/// `burst` times in a row is then refused, however many other keys there
/// are.
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

crate::forward::forward_store!(RateLimiter {
    type Error = T::Error;
    fn check(&self, key: &str, limit: Limit, now: OffsetDateTime) -> impl Future<Output = Result<Decision, Self::Error>> + Send {
        (**self).check(key, limit, now)
    }
    fn fail(&self, key: &str, limit: Limit, now: OffsetDateTime) -> impl Future<Output = Result<(), Self::Error>> + Send {
        (**self).fail(key, limit, now)
    }
});

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn zero_burst_is_an_error() {
        assert_eq!(Limit::per_minute(0), Err(LimitError::ZeroBurst));
        assert_eq!(Limit::new(0, Duration::HOUR), Err(LimitError::ZeroBurst));
    }

    #[test]
    fn periods_out_of_range_are_errors() {
        for period in [
            Duration::ZERO,
            -Duration::MINUTE,
            Duration::MIN,
            Duration::milliseconds(999),
        ] {
            assert_eq!(Limit::new(1, period), Err(LimitError::PeriodTooShort), "{period}");
        }
        for period in [Duration::days(367), Duration::MAX] {
            assert_eq!(Limit::new(1, period), Err(LimitError::PeriodTooLong), "{period}");
        }
        let limit = Limit::new(u32::MAX, Limit::MIN_PERIOD).unwrap();
        assert_eq!(limit.burst(), u32::MAX);
        assert_eq!(limit.period(), Duration::SECOND);
        Limit::new(1, Limit::MAX_PERIOD).unwrap();
    }
}
