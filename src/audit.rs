//! The audit log: what admins did to JWT sign-in, tamper-evident.
//!
//! Every admin operation of [`Project`](crate::project::Project) returns the
//! [`AuditEvent`] it caused: action, UTC timestamp, administrator, the
//! configuration's name at the time and, for updates, each changed field
//! with its old and new value. Secret values cannot enter an event: a
//! [`FieldChange`] is built only from a configuration's non-secret fields
//! (there is no constructor taking arbitrary text), and secret rotation is
//! recorded as the fact alone.
//!
//! An [`AuditSink`] appends events as [`AuditEntry`]s, each carrying the
//! SHA-256 of the entry before it, so [`verify_chain`] finds an entry that
//! was edited, removed or moved. Reading the log takes a
//! [`SecurityAuditAccess`], which only a [`Principal`] holding the Security
//! & Audit permission can produce.

use std::convert::Infallible;
use std::fmt;
use std::future::{Future, ready};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::secret::{ClientId, sha256};

/// The shortest retention the crate allows: entries younger than this are
/// never purged.
pub const MIN_RETENTION: Duration = Duration::days(90);

/// What an admin did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AuditAction {
    /// A JWT configuration was created.
    Create,
    /// A JWT configuration was changed.
    Update,
    /// A JWT configuration was deleted.
    Delete,
    /// A JWT configuration was enabled.
    Enable,
    /// A JWT configuration was disabled.
    Disable,
    /// The primary secret was regenerated.
    RegeneratePrimaryToken,
    /// The secondary secret was regenerated.
    RegenerateSecondaryToken,
    /// Direct JWT login was turned on.
    EnableDirectJwtLogin,
    /// Direct JWT login was turned off.
    DisableDirectJwtLogin,
    /// The default login page was disabled (email/password hidden).
    EnableDefaultLoginPageToggle,
    /// The default login page was enabled again.
    DisableDefaultLoginPageToggle,
}

impl AuditAction {
    /// Whether project owners are told too (secret regeneration).
    pub fn notifies_owners(&self) -> bool {
        matches!(self, Self::RegeneratePrimaryToken | Self::RegenerateSecondaryToken)
    }
}

/// Who performed an action.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Administrator(pub String);

/// A value in a [`FieldChange`]. Only non-secret kinds exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AuditValue {
    /// No value (an optional field that was empty).
    None,
    /// A flag.
    Bool(bool),
    /// A number.
    Number(u32),
    /// Text from a non-secret field (name, URLs, button text) or a logo's
    /// SHA-256.
    Text(String),
}

/// One changed field of an update, with its old and new value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    field: String,
    old: AuditValue,
    new: AuditValue,
}

impl FieldChange {
    /// Built only inside the crate, from named non-secret fields.
    pub(crate) fn new(field: &'static str, old: AuditValue, new: AuditValue) -> Self {
        Self {
            field: field.to_owned(),
            old,
            new,
        }
    }

    /// The field's name.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The value before.
    pub fn old(&self) -> &AuditValue {
        &self.old
    }

    /// The value after.
    pub fn new_value(&self) -> &AuditValue {
        &self.new
    }
}

/// One admin action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    action: AuditAction,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    administrator: Administrator,
    config_name: Option<String>,
    client_id: Option<ClientId>,
    changes: Vec<FieldChange>,
}

impl AuditEvent {
    pub(crate) fn new(
        action: AuditAction,
        at: OffsetDateTime,
        administrator: &Administrator,
        config: Option<(&str, &ClientId)>,
    ) -> Self {
        Self {
            action,
            at: at.to_offset(time::UtcOffset::UTC),
            administrator: administrator.clone(),
            config_name: config.map(|(n, _)| n.to_owned()),
            client_id: config.map(|(_, id)| id.clone()),
            changes: Vec::new(),
        }
    }

    pub(crate) fn with_changes(mut self, changes: Vec<FieldChange>) -> Self {
        self.changes = changes;
        self
    }

    /// What was done.
    pub fn action(&self) -> AuditAction {
        self.action
    }

    /// When, in UTC.
    pub fn at(&self) -> OffsetDateTime {
        self.at
    }

    /// By whom.
    pub fn administrator(&self) -> &Administrator {
        &self.administrator
    }

    /// The configuration's name at the time (none for project toggles).
    pub fn config_name(&self) -> Option<&str> {
        self.config_name.as_deref()
    }

    /// The configuration's client id (none for project toggles).
    pub fn client_id(&self) -> Option<&ClientId> {
        self.client_id.as_ref()
    }

    /// For updates: each changed field with old and new value.
    pub fn changes(&self) -> &[FieldChange] {
        &self.changes
    }
}

/// An event as stored: numbered and chained to the entry before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the log, from 0, never reused.
    pub seq: u64,
    /// The event.
    pub event: AuditEvent,
    /// Hex SHA-256 of the previous entry (64 zeros for the first).
    pub prev_hash: String,
    /// Hex SHA-256 of this entry's `seq`, `prev_hash` and event.
    pub hash: String,
}

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

impl AuditEntry {
    /// Chains `event` after an entry whose hash is `prev_hash`.
    pub fn chain(seq: u64, event: AuditEvent, prev_hash: &str) -> Self {
        let hash = entry_hash(seq, &event, prev_hash);
        Self {
            seq,
            event,
            prev_hash: prev_hash.to_owned(),
            hash,
        }
    }
}

fn entry_hash(seq: u64, event: &AuditEvent, prev_hash: &str) -> String {
    // serde_json writes struct fields in declaration order: a stable form.
    let body = serde_json::to_vec(event).unwrap_or_default();
    let mut input = Vec::with_capacity(body.len() + 96);
    input.extend_from_slice(&seq.to_be_bytes());
    input.extend_from_slice(prev_hash.as_bytes());
    input.extend_from_slice(&body);
    crate::code::CodeDigest(sha256(&input)).to_hex()
}

/// Where a chain breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The entry at this index was edited (its hash does not match it).
    #[error("audit entry {0} was altered")]
    Altered(usize),
    /// The entry at this index does not follow the one before it: an entry
    /// was removed, inserted or moved.
    #[error("audit entry {0} does not follow the entry before it")]
    Broken(usize),
}

/// Checks a run of entries: each hash matches its entry, each entry names
/// the one before, and sequence numbers rise by one. `anchor` is the
/// `prev_hash` the first entry must carry ([`GENESIS_HASH`] for a whole log,
/// or the last hash before a purge).
///
/// # Errors
/// [`ChainError`] with the index of the first bad entry.
pub fn verify_chain(entries: &[AuditEntry], anchor: &str) -> Result<(), ChainError> {
    let mut prev_hash = anchor;
    let mut prev_seq: Option<u64> = None;
    for (i, e) in entries.iter().enumerate() {
        if entry_hash(e.seq, &e.event, &e.prev_hash) != e.hash {
            return Err(ChainError::Altered(i));
        }
        let seq_ok = prev_seq.is_none_or(|p| p.checked_add(1) == Some(e.seq));
        if e.prev_hash != prev_hash || !seq_ok {
            return Err(ChainError::Broken(i));
        }
        prev_hash = &e.hash;
        prev_seq = Some(e.seq);
    }
    Ok(())
}

/// A user of the admin portal, as the host knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Who it is.
    pub id: String,
    /// Whether they hold the Security & Audit permission.
    pub security_audit: bool,
}

impl Principal {
    /// Proof of the Security & Audit permission, if held.
    pub fn security_audit_access(&self) -> Option<SecurityAuditAccess> {
        self.security_audit.then_some(SecurityAuditAccess { _private: () })
    }
}

/// Proof that the reader of the audit log holds the Security & Audit
/// permission. Only [`Principal::security_audit_access`] makes one.
#[derive(Debug)]
pub struct SecurityAuditAccess {
    _private: (),
}

/// Where audit events are kept.
///
/// # Contract
/// - [`append`](Self::append) chains the event after the last entry
///   ([`AuditEntry::chain`]) atomically: two appends never share a `seq`.
/// - [`purge`](Self::purge) never removes an entry younger than
///   [`MIN_RETENTION`], whatever it is asked, and keeps the hash of the last
///   removed entry as the new anchor.
pub trait AuditSink: Send + Sync {
    /// The sink's own failure.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Appends an event and returns its entry.
    fn append(&self, event: AuditEvent) -> impl Future<Output = Result<AuditEntry, Self::Error>> + Send;

    /// Every kept entry, oldest first, with the anchor the first one chains
    /// to.
    fn read(
        &self,
        access: &SecurityAuditAccess,
    ) -> impl Future<Output = Result<(String, Vec<AuditEntry>), Self::Error>> + Send;

    /// Removes entries older than `retention` (at least [`MIN_RETENTION`])
    /// at `now`; returns how many were removed.
    fn purge(
        &self,
        now: OffsetDateTime,
        retention: Duration,
    ) -> impl Future<Output = Result<usize, Self::Error>> + Send;
}

/// An in-memory [`AuditSink`].
#[derive(Debug)]
pub struct MemoryAuditSink {
    inner: Mutex<MemoryLog>,
}

#[derive(Debug)]
struct MemoryLog {
    anchor: String,
    entries: Vec<AuditEntry>,
    next_seq: u64,
}

impl Default for MemoryAuditSink {
    fn default() -> Self {
        Self {
            inner: Mutex::new(MemoryLog {
                anchor: GENESIS_HASH.to_owned(),
                entries: Vec::new(),
                next_seq: 0,
            }),
        }
    }
}

impl MemoryAuditSink {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryLog> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl AuditSink for MemoryAuditSink {
    type Error = Infallible;

    fn append(&self, event: AuditEvent) -> impl Future<Output = Result<AuditEntry, Infallible>> + Send {
        let mut log = self.lock();
        let prev = log
            .entries
            .last()
            .map_or_else(|| log.anchor.clone(), |e| e.hash.clone());
        let entry = AuditEntry::chain(log.next_seq, event, &prev);
        log.next_seq += 1;
        log.entries.push(entry.clone());
        ready(Ok(entry))
    }

    fn read(
        &self,
        _access: &SecurityAuditAccess,
    ) -> impl Future<Output = Result<(String, Vec<AuditEntry>), Infallible>> + Send {
        let log = self.lock();
        ready(Ok((log.anchor.clone(), log.entries.clone())))
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
            .position(|e| e.event.at >= cutoff)
            .unwrap_or(log.entries.len());
        if keep_from > 0 {
            log.anchor = log.entries[keep_from - 1].hash.clone();
            log.entries.drain(..keep_from);
        }
        ready(Ok(keep_from))
    }
}

/// Who receives a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Recipients {
    /// The project's admins.
    ProjectAdmins,
    /// The project's admins and owners.
    ProjectAdminsAndOwners,
}

/// A message for the project's admins (and owners).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Who receives it.
    pub recipients: Recipients,
    /// The message.
    pub message: String,
    /// The event behind it, if any.
    pub event: Option<AuditEvent>,
}

/// The system notification sent when the third JWT login button is turned on.
pub const BUTTON_LIMIT_MESSAGE: &str = "You've reached the limit of 3 JWT login buttons. Additional JWT configurations will not appear as buttons on the login page. Readers can still sign in by entering their domain name.";

/// The notifications an event causes: every event to project admins,
/// secret regenerations to admins and owners, and the button-limit message
/// when `reached_button_limit`.
pub fn notifications_for(event: &AuditEvent, reached_button_limit: bool) -> Vec<Notification> {
    let recipients = if event.action.notifies_owners() {
        Recipients::ProjectAdminsAndOwners
    } else {
        Recipients::ProjectAdmins
    };
    let what = match &event.config_name {
        Some(name) => format!("JWT: {:?} on \"{name}\" by {}", event.action, event.administrator.0),
        None => format!("JWT: {:?} by {}", event.action, event.administrator.0),
    };
    let mut out = vec![Notification {
        recipients,
        message: what,
        event: Some(event.clone()),
    }];
    if reached_button_limit {
        out.push(Notification {
            recipients: Recipients::ProjectAdmins,
            message: BUTTON_LIMIT_MESSAGE.to_owned(),
            event: None,
        });
    }
    out
}

/// Delivers notifications (email, in-app...). The host implements it.
pub trait Notifier: Send + Sync {
    /// The notifier's own failure.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Sends one notification.
    fn notify(&self, notification: Notification) -> impl Future<Output = Result<(), Self::Error>> + Send;
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

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn event(i: i64) -> AuditEvent {
        AuditEvent::new(
            AuditAction::Enable,
            datetime!(2026-01-01 00:00 UTC) + Duration::days(i),
            &Administrator(format!("admin{i}")),
            None,
        )
    }

    fn log(n: i64) -> MemoryAuditSink {
        let sink = MemoryAuditSink::new();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        for i in 0..n {
            rt.block_on(sink.append(event(i))).unwrap();
        }
        sink
    }

    fn entries(sink: &MemoryAuditSink) -> (String, Vec<AuditEntry>) {
        let access = Principal {
            id: "a".into(),
            security_audit: true,
        }
        .security_audit_access()
        .unwrap();
        let log = sink.lock();
        let _ = &access;
        (log.anchor.clone(), log.entries.clone())
    }

    #[test]
    fn an_intact_chain_verifies() {
        let (anchor, e) = entries(&log(5));
        assert_eq!(anchor, GENESIS_HASH);
        assert_eq!(verify_chain(&e, &anchor), Ok(()));
    }

    #[test]
    fn an_edited_entry_is_found() {
        let (anchor, mut e) = entries(&log(5));
        e[2].event.administrator = Administrator("mallory".into());
        assert_eq!(verify_chain(&e, &anchor), Err(ChainError::Altered(2)));
        // Recomputing the edited entry's own hash breaks the next link.
        let (anchor, mut e) = entries(&log(5));
        e[2].event.administrator = Administrator("mallory".into());
        e[2] = AuditEntry::chain(e[2].seq, e[2].event.clone(), &e[2].prev_hash);
        assert_eq!(verify_chain(&e, &anchor), Err(ChainError::Broken(3)));
    }

    #[test]
    fn a_removed_or_reordered_entry_is_found() {
        let (anchor, mut e) = entries(&log(5));
        e.remove(1);
        assert_eq!(verify_chain(&e, &anchor), Err(ChainError::Broken(1)));
        let (anchor, mut e) = entries(&log(5));
        e.swap(1, 2);
        assert_eq!(verify_chain(&e, &anchor), Err(ChainError::Broken(1)));
        let (_, e) = entries(&log(5));
        assert_eq!(
            verify_chain(&e[1..], GENESIS_HASH),
            Err(ChainError::Broken(0)),
            "a removed head is found"
        );
    }

    #[test]
    fn purge_never_drops_entries_younger_than_ninety_days() {
        let sink = log(200);
        let now = datetime!(2026-01-01 00:00 UTC) + Duration::days(200);
        // Asked for one day of retention, it still keeps 90.
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let removed = rt.block_on(sink.purge(now, Duration::days(1))).unwrap();
        assert_eq!(removed, 110);
        let (anchor, e) = entries(&sink);
        assert!(e.iter().all(|x| now - x.event.at() <= MIN_RETENTION));
        assert_eq!(e.len(), 90);
        assert_eq!(
            verify_chain(&e, &anchor),
            Ok(()),
            "the rest still verifies from the new anchor"
        );
    }

    #[test]
    fn reading_needs_the_security_and_audit_permission() {
        let without = Principal {
            id: "bob".into(),
            security_audit: false,
        };
        assert!(without.security_audit_access().is_none());
        let with = Principal {
            id: "carol".into(),
            security_audit: true,
        };
        let access = with.security_audit_access().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let (_, e) = rt.block_on(log(3).read(&access)).unwrap();
        assert_eq!(e.len(), 3);
    }

    #[test]
    fn timestamps_are_utc() {
        let at = datetime!(2026-01-01 12:00 +02:00);
        let e = AuditEvent::new(AuditAction::Create, at, &Administrator("a".into()), None);
        assert_eq!(e.at().offset(), time::UtcOffset::UTC);
        assert_eq!(e.at(), at);
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.contains("2026-01-01T10:00:00Z"), "{json}");
    }
}
