//! In-memory [`AuditSink`] and [`NotificationOutbox`], for one process,
//! tests and demos.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::future::{Future, ready};
use std::sync::Mutex;

use time::{Duration, OffsetDateTime};

use crate::audit::{
    AuditEntry, AuditEvent, AuditLog, AuditPage, AuditQuery, AuditSink, ChainHead, Checkpoint, CheckpointKey,
    MIN_RETENTION, Notification, NotificationOutbox, Notifier, OutboxEntry, OutboxId, OutboxLease, SecurityAuditAccess,
};

/// An in-memory [`AuditSink`]. The checkpoint is a field of its own beside
/// the entries.
///
/// [`query`](AuditSink::query) finds a page by binary search on `seq` (and
/// on time, as long as every entry was appended with a time at or after the
/// one before) and clones only the page.
#[derive(Debug)]
pub struct MemoryAuditSink {
    key: CheckpointKey,
    inner: Mutex<MemoryLog>,
}

#[derive(Debug)]
struct MemoryLog {
    entries: Vec<AuditEntry>,
    head: ChainHead,
    checkpoint: Checkpoint,
    /// Whether every entry's time is at or after the one before, so that a
    /// query can find its time range by binary search.
    times_ascending: bool,
}

impl MemoryAuditSink {
    /// An empty log whose checkpoints `key` signs.
    pub fn new(key: CheckpointKey) -> Self {
        let checkpoint = key.checkpoint(ChainHead::GENESIS, ChainHead::GENESIS);
        Self {
            key,
            inner: Mutex::new(MemoryLog {
                entries: Vec::new(),
                head: ChainHead::GENESIS,
                checkpoint,
                times_ascending: true,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryLog> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl AuditSink for MemoryAuditSink {
    type Error = Infallible;

    fn append(&self, event: AuditEvent) -> impl Future<Output = Result<AuditEntry, Infallible>> + Send {
        let mut log = self.lock();
        let entry = AuditEntry::chain(&log.head, event);
        log.times_ascending &= log
            .entries
            .last()
            .is_none_or(|last| last.event.at() <= entry.event.at());
        log.head = entry.head();
        log.checkpoint = self.key.checkpoint(*log.checkpoint.anchor(), log.head);
        log.entries.push(entry.clone());
        ready(Ok(entry))
    }

    fn checkpoint(&self) -> impl Future<Output = Result<Checkpoint, Infallible>> + Send {
        ready(Ok(self.lock().checkpoint.clone()))
    }

    fn read(&self, _access: &SecurityAuditAccess) -> impl Future<Output = Result<AuditLog, Infallible>> + Send {
        let log = self.lock();
        ready(Ok(AuditLog {
            checkpoint: log.checkpoint.clone(),
            entries: log.entries.clone(),
        }))
    }

    fn query(
        &self,
        _access: &SecurityAuditAccess,
        query: &AuditQuery,
    ) -> impl Future<Output = Result<AuditPage, Infallible>> + Send {
        let log = self.lock();
        ready(Ok(query.select_within(&log.entries, log.times_ascending)))
    }

    fn purge(
        &self,
        now: OffsetDateTime,
        retention: Duration,
    ) -> impl Future<Output = Result<usize, Infallible>> + Send {
        let cutoff = now - retention.max(MIN_RETENTION);
        let mut log = self.lock();
        let keep_from = log
            .entries
            .iter()
            .position(|e| e.event.at() >= cutoff)
            .unwrap_or(log.entries.len());
        if let Some(last_removed) = keep_from.checked_sub(1).and_then(|i| log.entries.get(i)) {
            let anchor = last_removed.head();
            log.checkpoint = self.key.checkpoint(anchor, log.head);
            log.entries.drain(..keep_from);
        }
        ready(Ok(keep_from))
    }
}

/// An in-memory [`NotificationOutbox`]: [`notify`](Notifier::notify)
/// queues, a worker [`claim`](NotificationOutbox::claim)s and reports. For
/// one process, tests and demos: the queue does not outlive the process.
#[derive(Debug, Default)]
pub struct MemoryOutbox {
    inner: Mutex<OutboxQueue>,
}

#[derive(Debug, Default)]
struct OutboxQueue {
    /// Every entry; entry `i` has id `i`.
    entries: Vec<OutboxEntry>,
    /// The ids of the entries not yet sent, so that a claim does not walk
    /// the sent ones.
    open: BTreeSet<u64>,
}

impl OutboxQueue {
    fn get_mut(&mut self, id: OutboxId) -> Option<&mut OutboxEntry> {
        usize::try_from(id.0).ok().and_then(|i| self.entries.get_mut(i))
    }
}

impl MemoryOutbox {
    /// An empty outbox.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OutboxQueue> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every notification queued so far, oldest first, whatever its state.
    pub fn queued(&self) -> Vec<Notification> {
        self.lock().entries.iter().map(|e| e.notification.clone()).collect()
    }

    /// Every entry, oldest first.
    pub fn entries(&self) -> Vec<OutboxEntry> {
        self.lock().entries.clone()
    }
}

impl Notifier for MemoryOutbox {
    type Error = Infallible;

    fn notify(&self, notification: Notification) -> impl Future<Output = Result<(), Infallible>> + Send {
        let mut queue = self.lock();
        let id = u64::try_from(queue.entries.len()).unwrap_or(u64::MAX);
        queue.entries.push(OutboxEntry::pending(OutboxId(id), notification));
        queue.open.insert(id);
        ready(Ok(()))
    }
}

impl NotificationOutbox for MemoryOutbox {
    fn list(&self, limit: usize) -> impl Future<Output = Result<Vec<OutboxEntry>, Infallible>> + Send {
        let queue = self.lock();
        ready(Ok(queue.entries.iter().rev().take(limit).cloned().collect()))
    }

    fn claim(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        max: usize,
    ) -> impl Future<Output = Result<Vec<OutboxEntry>, Infallible>> + Send {
        let mut guard = self.lock();
        let queue = &mut *guard;
        let mut claimed = Vec::new();
        for &id in &queue.open {
            if claimed.len() >= max {
                break;
            }
            let entry = usize::try_from(id).ok().and_then(|i| queue.entries.get_mut(i));
            if let Some(entry) = entry
                && entry.claim(now, lease)
            {
                claimed.push(entry.clone());
            }
        }
        ready(Ok(claimed))
    }

    fn mark_sent(
        &self,
        lease: OutboxLease,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, Infallible>> + Send {
        let mut queue = self.lock();
        let sent = queue.get_mut(lease.id).is_some_and(|e| e.mark_sent(lease, now));
        if sent {
            queue.open.remove(&lease.id.0);
        }
        ready(Ok(sent))
    }

    fn mark_failed(
        &self,
        lease: OutboxLease,
        retry_at: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, Infallible>> + Send {
        let mut queue = self.lock();
        ready(Ok(queue
            .get_mut(lease.id)
            .is_some_and(|e| e.mark_failed(lease, retry_at))))
    }
}
