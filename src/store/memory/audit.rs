//! In-memory [`AuditSink`] and [`Notifier`], for one process, tests and
//! demos.

use std::convert::Infallible;
use std::future::{Future, ready};
use std::sync::Mutex;

use time::{Duration, OffsetDateTime};

use crate::audit::{
    AuditEntry, AuditEvent, AuditLog, AuditSink, ChainHead, Checkpoint, CheckpointKey, MIN_RETENTION, Notification,
    Notifier, SecurityAuditAccess,
};

/// An in-memory [`AuditSink`]. The checkpoint is a field of its own beside
/// the entries.
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

/// A [`Notifier`] that keeps what it is given, for tests and demos.
#[derive(Debug, Default)]
pub struct MemoryNotifier {
    sent: Mutex<Vec<Notification>>,
}

impl MemoryNotifier {
    /// Everything sent so far.
    pub fn sent(&self) -> Vec<Notification> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Notifier for MemoryNotifier {
    type Error = Infallible;

    fn notify(&self, notification: Notification) -> impl Future<Output = Result<(), Infallible>> + Send {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).push(notification);
        ready(Ok(()))
    }
}
