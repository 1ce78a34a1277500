//! Time, injected.
//!
//! Every check that depends on the time of day asks a [`Clock`], so tests can
//! move time forward without sleeping and hosts can supply their own source.

use std::sync::Mutex;
use time::{Duration, OffsetDateTime};

/// A source of the current time.
///
/// Implementations must be cheap: the clock is read on every code redemption,
/// token verification and page view.
pub trait Clock: Send + Sync {
    /// The current time, in UTC.
    fn now(&self) -> OffsetDateTime;
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> OffsetDateTime {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> OffsetDateTime {
        (**self).now()
    }
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that stands still until it is told to move. For tests.
///
/// ```
/// use kb_sso::{Clock, SettableClock};
/// use time::{Duration, macros::datetime};
///
/// let clock = SettableClock::new(datetime!(2026-01-01 12:00 UTC));
/// clock.advance(Duration::minutes(5));
/// assert_eq!(clock.now(), datetime!(2026-01-01 12:05 UTC));
/// ```
#[derive(Debug)]
pub struct SettableClock {
    now: Mutex<OffsetDateTime>,
}

impl SettableClock {
    /// A clock showing `now`.
    pub fn new(now: OffsetDateTime) -> Self {
        Self { now: Mutex::new(now) }
    }

    /// Sets the time.
    pub fn set(&self, now: OffsetDateTime) {
        *self.lock() = now;
    }

    /// Moves the time by `by` (which may be negative).
    pub fn advance(&self, by: Duration) {
        let mut now = self.lock();
        *now = now.saturating_add(by);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OffsetDateTime> {
        // A panic while holding this lock cannot leave the time half-written,
        // so a poisoned lock is still a valid time.
        self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for SettableClock {
    /// A clock at the current system time.
    fn default() -> Self {
        Self::new(OffsetDateTime::now_utc())
    }
}

impl Clock for SettableClock {
    fn now(&self) -> OffsetDateTime {
        *self.lock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn settable_clock_moves_only_when_told() {
        let clock = SettableClock::new(datetime!(2026-03-01 00:00 UTC));
        assert_eq!(clock.now(), datetime!(2026-03-01 00:00 UTC));
        clock.advance(Duration::seconds(-30));
        assert_eq!(clock.now(), datetime!(2026-02-28 23:59:30 UTC));
        clock.set(datetime!(2030-01-01 00:00 UTC));
        assert_eq!(clock.now(), datetime!(2030-01-01 00:00 UTC));
    }

    #[test]
    fn system_clock_is_utc_and_close_to_now() {
        let now = SystemClock.now();
        assert_eq!(now.offset(), time::UtcOffset::UTC);
        assert!((OffsetDateTime::now_utc() - now).abs() < Duration::seconds(5));
    }
}
