//! The notification outbox: notifications queued with the change that
//! caused them, drained by a delivery worker.

use std::fmt;
use std::future::Future;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::{Notification, Notifier};

/// The number of an [`OutboxEntry`]: given in queueing order, never reused.
///
/// A delivery worker passes it on as the delivery's idempotency key (an
/// email's `Message-ID`, a provider's idempotency header), so that a
/// notification delivered again after a crash is recognised as the same
/// one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OutboxId(pub u64);

impl fmt::Display for OutboxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Proof of one claim of an entry: its id and which attempt the claim
/// started. [`NotificationOutbox::mark_failed`] takes only the entry's
/// current lease, so a worker whose lease expired cannot put back an entry
/// that another worker now holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OutboxLease {
    /// The entry.
    pub id: OutboxId,
    /// The attempt the claim started, from 1.
    pub attempt: u32,
}

/// Where an [`OutboxEntry`] stands. As JSON, tagged by `state`:
/// `{"state": "failed", "attempts": 2, "next_attempt_at": "..."}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum OutboxState {
    /// Queued, never claimed.
    Pending,
    /// Claimed by a worker, which holds it until `lease_until`; after that
    /// it can be claimed again.
    InFlight {
        /// Which attempt this is, from 1.
        attempt: u32,
        /// When the lease ends.
        #[serde(with = "time::serde::rfc3339")]
        lease_until: OffsetDateTime,
    },
    /// Delivered. Final.
    Sent {
        /// How many attempts were started.
        attempts: u32,
        /// When the worker reported the delivery.
        #[serde(with = "time::serde::rfc3339")]
        sent_at: OffsetDateTime,
    },
    /// The last attempt failed; it can be claimed again from
    /// `next_attempt_at`.
    Failed {
        /// How many attempts were started.
        attempts: u32,
        /// When it may be claimed again.
        #[serde(with = "time::serde::rfc3339")]
        next_attempt_at: OffsetDateTime,
    },
}

impl OutboxState {
    /// How many delivery attempts were started.
    pub fn attempts(&self) -> u32 {
        match *self {
            Self::Pending => 0,
            Self::InFlight { attempt, .. } => attempt,
            Self::Sent { attempts, .. } | Self::Failed { attempts, .. } => attempts,
        }
    }

    /// Whether a claim at `now` takes it: pending, failed and due for a
    /// retry, or in flight with its lease ended.
    pub fn is_due(&self, now: OffsetDateTime) -> bool {
        match *self {
            Self::Pending => true,
            Self::InFlight { lease_until, .. } => lease_until <= now,
            Self::Failed { next_attempt_at, .. } => next_attempt_at <= now,
            Self::Sent { .. } => false,
        }
    }
}

/// A queued notification and where its delivery stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Its number, and the delivery's idempotency key.
    pub id: OutboxId,
    /// What to deliver.
    pub notification: Notification,
    /// Where its delivery stands.
    #[serde(flatten)]
    pub state: OutboxState,
    /// When it was queued: the time of the change that caused it
    /// ([`Notification::at`]).
    #[serde(with = "time::serde::rfc3339")]
    pub queued_at: OffsetDateTime,
}

impl OutboxEntry {
    /// A new entry, pending.
    pub fn pending(id: OutboxId, notification: Notification) -> Self {
        let queued_at = notification.at;
        Self {
            id,
            notification,
            state: OutboxState::Pending,
            queued_at,
        }
    }

    /// The lease a worker holds on it, when in flight.
    pub fn lease(&self) -> Option<OutboxLease> {
        match self.state {
            OutboxState::InFlight { attempt, .. } => Some(OutboxLease { id: self.id, attempt }),
            _ => None,
        }
    }

    /// Claims it at `now` for `lease`, if due ([`OutboxState::is_due`]):
    /// it becomes in flight for the next attempt. Answers whether it was
    /// claimed. Stores that keep entries as values can use this to keep
    /// the rules in one place.
    pub fn claim(&mut self, now: OffsetDateTime, lease: Duration) -> bool {
        if !self.state.is_due(now) {
            return false;
        }
        self.state = OutboxState::InFlight {
            attempt: self.state.attempts().saturating_add(1),
            lease_until: now + lease.max(MIN_LEASE),
        };
        true
    }

    /// Marks it sent at `now` under `lease`, as
    /// [`NotificationOutbox::mark_sent`] does; answers whether it changed.
    pub fn mark_sent(&mut self, lease: OutboxLease, now: OffsetDateTime) -> bool {
        let attempts = self.state.attempts();
        let open = matches!(self.state, OutboxState::InFlight { .. } | OutboxState::Failed { .. });
        if lease.id != self.id || !open || lease.attempt == 0 || lease.attempt > attempts {
            return false;
        }
        self.state = OutboxState::Sent { attempts, sent_at: now };
        true
    }

    /// Marks it failed under `lease`, to be retried from `retry_at`, as
    /// [`NotificationOutbox::mark_failed`] does; answers whether it
    /// changed.
    pub fn mark_failed(&mut self, lease: OutboxLease, retry_at: OffsetDateTime) -> bool {
        if self.lease() != Some(lease) {
            return false;
        }
        self.state = OutboxState::Failed {
            attempts: lease.attempt,
            next_attempt_at: retry_at,
        };
        true
    }
}

/// The shortest lease a claim takes: a shorter one (zero, negative) is
/// lengthened to this, so that a claim always holds its entries for a
/// while.
pub const MIN_LEASE: Duration = Duration::SECOND;

/// A [`Notifier`] that keeps what it is given in an outbox, for a delivery
/// worker to drain (the admin API lists it as
/// `GET /api/admin/notifications`).
///
/// # Contract: delivered at least once, never twice while leased
/// - [`notify`](Notifier::notify) keeps the notification as a
///   [`Pending`](OutboxState::Pending) entry with a new [`OutboxId`] before
///   it returns `Ok`; from then on it is not lost (a database store commits
///   it, ideally in the same transaction as the change that caused it).
/// - [`claim`](Self::claim) atomically takes up to `max` *due* entries,
///   oldest first: pending ones, failed ones whose `next_attempt_at` has
///   come, and in-flight ones whose lease has ended (their worker is taken
///   to have crashed). Each becomes [`InFlight`](OutboxState::InFlight) for
///   the next attempt until `now + lease`. While a lease runs, no other
///   claim returns the entry: two workers never hold it at once.
/// - The worker delivers, then calls [`mark_sent`](Self::mark_sent).
///   [`Sent`](OutboxState::Sent) is final: no claim returns the entry
///   again. A worker that failed calls [`mark_failed`](Self::mark_failed)
///   with the time to retry.
/// - So every queued notification is delivered at least once. It is handed
///   out again only when a lease ended without a report, which is when a
///   worker crashed (or overran its lease) possibly after delivering; the
///   delivery is then repeated with the same entry id, which the worker
///   passes as the idempotency key (the email worker as its `Message-ID`),
///   so that the receiving side drops the copy: never twice after a crash.
///   Choose a lease well above the time one delivery takes.
///
/// A database store implements `claim` as one statement or transaction
/// (`UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING`
/// on PostgreSQL, `BEGIN IMMEDIATE` on SQLite); [`OutboxEntry::claim`],
/// [`OutboxEntry::mark_sent`] and [`OutboxEntry::mark_failed`] hold the
/// rules for stores that keep entries as values.
pub trait NotificationOutbox: Notifier {
    /// The newest `limit` entries, newest first, in every state.
    fn list(&self, limit: usize) -> impl Future<Output = Result<Vec<OutboxEntry>, Self::Error>> + Send;

    /// Takes up to `max` due entries, oldest first, each now in flight
    /// until `now + lease` (at least [`MIN_LEASE`]), and returns them as
    /// they are now: [`OutboxEntry::lease`] gives each one's lease.
    fn claim(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        max: usize,
    ) -> impl Future<Output = Result<Vec<OutboxEntry>, Self::Error>> + Send;

    /// Records the delivery made under `lease` at `now`: the entry is
    /// [`Sent`](OutboxState::Sent) for good. Any lease the entry was given
    /// counts, an expired one too (the delivery happened, and recording it
    /// spares a repeat). Answers `false`, changing nothing, when the entry
    /// is already sent, unknown, or was never given this lease.
    fn mark_sent(
        &self,
        lease: OutboxLease,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;

    /// Records a failed attempt under `lease`: the entry is
    /// [`Failed`](OutboxState::Failed) and due again at `retry_at`. Only
    /// the entry's current lease counts: answers `false`, changing nothing,
    /// when another claim has taken the entry since, or it was sent.
    fn mark_failed(
        &self,
        lease: OutboxLease,
        retry_at: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;
}

crate::forward::forward_store!(NotificationOutbox {
    fn list(&self, limit: usize) -> impl Future<Output = Result<Vec<OutboxEntry>, Self::Error>> + Send {
        (**self).list(limit)
    }
    fn claim(&self, now: OffsetDateTime, lease: Duration, max: usize) -> impl Future<Output = Result<Vec<OutboxEntry>, Self::Error>> + Send {
        (**self).claim(now, lease, max)
    }
    fn mark_sent(&self, lease: OutboxLease, now: OffsetDateTime) -> impl Future<Output = Result<bool, Self::Error>> + Send {
        (**self).mark_sent(lease, now)
    }
    fn mark_failed(&self, lease: OutboxLease, retry_at: OffsetDateTime) -> impl Future<Output = Result<bool, Self::Error>> + Send {
        (**self).mark_failed(lease, retry_at)
    }
});

#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Recipients;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

    fn entry() -> OutboxEntry {
        OutboxEntry::pending(
            OutboxId(3),
            Notification {
                recipients: Recipients::ProjectAdmins,
                subject: "JWT: enable".into(),
                message: "m".into(),
                at: T0,
                event: None,
            },
        )
    }

    #[test]
    fn a_claim_holds_the_entry_until_its_lease_ends() {
        let mut e = entry();
        assert!(e.claim(T0, Duration::minutes(5)));
        let first = e.lease().unwrap();
        assert_eq!(
            first,
            OutboxLease {
                id: OutboxId(3),
                attempt: 1
            }
        );
        assert!(!e.claim(T0 + Duration::minutes(4), Duration::minutes(5)), "leased");
        assert!(e.claim(T0 + Duration::minutes(5), Duration::minutes(5)), "lease ended");
        let second = e.lease().unwrap();
        assert_eq!(second.attempt, 2);
        assert!(!e.mark_failed(first, T0), "a stale lease cannot put it back");
        assert!(e.mark_failed(second, T0 + Duration::hours(1)));
        assert!(!e.claim(T0 + Duration::minutes(30), Duration::minutes(5)));
        assert!(e.claim(T0 + Duration::hours(1), Duration::minutes(5)));
        assert!(
            e.mark_sent(first, T0 + Duration::hours(1)),
            "a delivery under any lease counts"
        );
        assert_eq!(
            e.state,
            OutboxState::Sent {
                attempts: 3,
                sent_at: T0 + Duration::hours(1)
            }
        );
        assert!(!e.mark_sent(first, T0), "sent once");
        assert!(!e.claim(T0 + Duration::days(9), Duration::minutes(5)), "sent is final");
    }

    #[test]
    fn leases_never_issued_count_for_nothing() {
        let mut e = entry();
        let forged = OutboxLease {
            id: OutboxId(3),
            attempt: 1,
        };
        assert!(!e.mark_sent(forged, T0), "pending: never claimed");
        assert!(e.claim(T0, Duration::ZERO));
        assert_eq!(
            e.state,
            OutboxState::InFlight {
                attempt: 1,
                lease_until: T0 + MIN_LEASE
            },
            "a zero lease is lengthened"
        );
        assert!(!e.mark_sent(
            OutboxLease {
                id: OutboxId(3),
                attempt: 2
            },
            T0
        ));
        assert!(!e.mark_sent(
            OutboxLease {
                id: OutboxId(4),
                attempt: 1
            },
            T0
        ));
        assert!(!e.mark_sent(
            OutboxLease {
                id: OutboxId(3),
                attempt: 0
            },
            T0
        ));
    }

    #[test]
    fn entries_serialize_with_their_state_inline() {
        let mut e = entry();
        e.claim(T0, Duration::minutes(5));
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["state"], "in_flight");
        assert_eq!(json["attempt"], 1);
        assert_eq!(json["lease_until"], "2026-01-01T00:05:00Z");
        assert_eq!(json["notification"]["recipients"], "project_admins");
        assert_eq!(json["notification"]["subject"], "JWT: enable");
        let back: OutboxEntry = serde_json::from_value(json).unwrap();
        assert_eq!(back, e);
    }
}
