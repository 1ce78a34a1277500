//! The audit log: what admins did to JWT sign-in, tamper-evident.

use std::fmt;
use std::future::Future;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::secret::{ClientId, from_hex_32, sha256, to_hex};

mod outbox;
mod query;

pub use outbox::{MIN_LEASE, NotificationOutbox, OutboxEntry, OutboxId, OutboxLease, OutboxState};
pub use query::{AuditCursor, AuditPage, AuditQuery, AuditQueryError, AuditQueryParams, EventCategory, EventFilter};

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
    /// A configuration's handshake key pair (Ed25519) was generated or
    /// regenerated.
    GenerateHandshakeKey,
    /// The widget client secret was regenerated.
    RegenerateWidgetSecret,
    /// An SSO provider was added.
    CreateSsoProvider,
    /// An SSO provider was changed.
    UpdateSsoProvider,
    /// An SSO provider was removed.
    DeleteSsoProvider,
    /// Who may read which pages changed (visibility, public paths, home
    /// page published).
    UpdateVisibility,
}

impl AuditAction {
    /// Every action, in declaration order.
    pub const ALL: &'static [AuditAction] = &[
        Self::Create,
        Self::Update,
        Self::Delete,
        Self::Enable,
        Self::Disable,
        Self::RegeneratePrimaryToken,
        Self::RegenerateSecondaryToken,
        Self::EnableDirectJwtLogin,
        Self::DisableDirectJwtLogin,
        Self::EnableDefaultLoginPageToggle,
        Self::DisableDefaultLoginPageToggle,
        Self::GenerateHandshakeKey,
        Self::RegenerateWidgetSecret,
        Self::CreateSsoProvider,
        Self::UpdateSsoProvider,
        Self::DeleteSsoProvider,
        Self::UpdateVisibility,
    ];

    /// The action's name in snake case (`regenerate_primary_token`), as the
    /// `event` parameter of an audit query takes it.
    ///
    /// Stored entries keep the action's serde form (`RegeneratePrimaryToken`),
    /// which their hashes cover.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Enable => "enable",
            Self::Disable => "disable",
            Self::RegeneratePrimaryToken => "regenerate_primary_token",
            Self::RegenerateSecondaryToken => "regenerate_secondary_token",
            Self::EnableDirectJwtLogin => "enable_direct_jwt_login",
            Self::DisableDirectJwtLogin => "disable_direct_jwt_login",
            Self::EnableDefaultLoginPageToggle => "enable_default_login_page_toggle",
            Self::DisableDefaultLoginPageToggle => "disable_default_login_page_toggle",
            Self::GenerateHandshakeKey => "generate_handshake_key",
            Self::RegenerateWidgetSecret => "regenerate_widget_secret",
            Self::CreateSsoProvider => "create_sso_provider",
            Self::UpdateSsoProvider => "update_sso_provider",
            Self::DeleteSsoProvider => "delete_sso_provider",
            Self::UpdateVisibility => "update_visibility",
        }
    }

    /// The action whose [`name`](Self::name) is `name` (exactly).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|a| a.name() == name)
    }

    /// The family the action belongs to, for the audit query's event
    /// filter. Every action today is one of the JWT admin pages
    /// ([`EventCategory::Jwt`]); actions added later for other pages get
    /// their own category, so that `event=jwt` leaves them out.
    pub fn category(&self) -> EventCategory {
        match self {
            Self::Create
            | Self::Update
            | Self::Delete
            | Self::Enable
            | Self::Disable
            | Self::RegeneratePrimaryToken
            | Self::RegenerateSecondaryToken
            | Self::EnableDirectJwtLogin
            | Self::DisableDirectJwtLogin
            | Self::EnableDefaultLoginPageToggle
            | Self::DisableDefaultLoginPageToggle
            | Self::GenerateHandshakeKey
            | Self::RegenerateWidgetSecret
            | Self::CreateSsoProvider
            | Self::UpdateSsoProvider
            | Self::DeleteSsoProvider
            | Self::UpdateVisibility => EventCategory::Jwt,
        }
    }

    /// Whether project owners are told too (secret and key regeneration).
    pub fn notifies_owners(&self) -> bool {
        matches!(
            self,
            Self::RegeneratePrimaryToken
                | Self::RegenerateSecondaryToken
                | Self::GenerateHandshakeKey
                | Self::RegenerateWidgetSecret
        )
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

    /// An event about something named `name` that is not a JWT
    /// configuration (an SSO provider).
    pub(crate) fn new_named(
        action: AuditAction,
        at: OffsetDateTime,
        administrator: &Administrator,
        name: &str,
    ) -> Self {
        let mut event = Self::new(action, at, administrator, None);
        event.config_name = Some(name.to_owned());
        event
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

/// A SHA-256 in the audit chain: an entry's hash or the one it chains to.
///
/// Stored and serialised as 64 lower-case hex digits. Equality runs in
/// constant time.
#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ChainHash([u8; 32]);

impl ChainHash {
    /// What the first entry of a log chains to: 32 zero bytes.
    pub const GENESIS: Self = Self([0; 32]);

    /// Wraps 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The hash's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The hash as 64 lower-case hex digits.
    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }

    /// Parses 64 lower-case hex digits (the only spelling this crate
    /// writes, so that one hash has one text).
    ///
    /// # Errors
    /// [`InvalidChainHash`] for anything else.
    pub fn from_hex(text: &str) -> Result<Self, InvalidChainHash> {
        from_hex_32(text).map(Self).ok_or(InvalidChainHash)
    }
}

impl PartialEq for ChainHash {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for ChainHash {}

impl fmt::Debug for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainHash({})", self.to_hex())
    }
}

impl fmt::Display for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl TryFrom<String> for ChainHash {
    type Error = InvalidChainHash;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::from_hex(&s)
    }
}

impl From<ChainHash> for String {
    fn from(h: ChainHash) -> Self {
        h.to_hex()
    }
}

/// Text that is not 64 lower-case hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a chain hash must be 64 lower-case hex digits")]
pub struct InvalidChainHash;

/// An event as stored: numbered and chained to the entry before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the log, from 0, never reused.
    pub seq: u64,
    /// The event.
    pub event: AuditEvent,
    /// SHA-256 of the previous entry ([`ChainHash::GENESIS`] for the first).
    pub prev_hash: ChainHash,
    /// SHA-256 of this entry's `seq`, `prev_hash` and event.
    pub hash: ChainHash,
}

impl AuditEntry {
    /// Chains `event` after `head`: the new entry's `seq` is `head.len()`
    /// and it names `head.hash()` as the entry before it.
    pub fn chain(head: &ChainHead, event: AuditEvent) -> Self {
        let hash = entry_hash(head.len, &event, &head.hash);
        Self {
            seq: head.len,
            event,
            prev_hash: head.hash,
            hash,
        }
    }

    /// The head of a log whose newest entry is this one.
    pub fn head(&self) -> ChainHead {
        ChainHead {
            len: self.seq.saturating_add(1),
            hash: self.hash,
        }
    }
}

fn entry_hash(seq: u64, event: &AuditEvent, prev_hash: &ChainHash) -> ChainHash {
    // serde_json writes struct fields in declaration order: a stable form.
    // The previous hash enters as its hex text, as it always has, so logs
    // written before `ChainHash` existed still verify.
    let body = serde_json::to_vec(event).unwrap_or_default();
    let mut input = Vec::with_capacity(body.len() + 72);
    input.extend_from_slice(&seq.to_be_bytes());
    input.extend_from_slice(prev_hash.to_hex().as_bytes());
    input.extend_from_slice(&body);
    ChainHash(sha256(&input))
}

/// A position in the chain: how many entries were appended before it and
/// the hash of the last of them.
///
/// A log's *head* is the position after its newest entry; its *anchor* is
/// the position its oldest kept entry chains from ([`ChainHead::GENESIS`]
/// until a purge). Removing the newest entries leaves a log that is
/// internally consistent, so only a head kept apart from the entries (a
/// [`Checkpoint`], or a copy somewhere the log's writer cannot change)
/// reveals it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    len: u64,
    hash: ChainHash,
}

impl ChainHead {
    /// The position before the first entry of a log.
    pub const GENESIS: Self = Self {
        len: 0,
        hash: ChainHash::GENESIS,
    };

    /// The position after `len` entries, the last of which hashes to
    /// `hash` (for a head copied from elsewhere).
    pub fn new(len: u64, hash: ChainHash) -> Self {
        Self { len, hash }
    }

    /// How many entries were appended before this position: the `seq` of
    /// the next entry.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether this is the position before any entry.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `seq` of the entry just before this position, if any.
    pub fn last_seq(&self) -> Option<u64> {
        self.len.checked_sub(1)
    }

    /// The hash of the entry just before this position
    /// ([`ChainHash::GENESIS`] for the start of a log).
    pub fn hash(&self) -> &ChainHash {
        &self.hash
    }
}

/// Why an audit log does not verify, and where.
///
/// `index` is the position in the slice given to the check, `seq` the
/// sequence number an entry carries. The first problem found is reported;
/// one tampering can show as another kind (a reordering seen at an entry
/// looks like a removal there), so treat every variant as "the log was
/// tampered with" and the details as where to start looking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The checkpoint's tag does not match it: it was forged or edited, or
    /// it was made with another key.
    #[error("the audit checkpoint is not authentic")]
    ForgedCheckpoint,
    /// The entry was edited: its hash does not match its contents.
    #[error("audit entry {index} (seq {seq}) was altered")]
    Altered {
        /// Where in the slice.
        index: usize,
        /// The sequence number it carries.
        seq: u64,
    },
    /// The entry carries the expected sequence number but does not chain
    /// to the entry before it (or to the anchor): the entry before it was
    /// replaced, or this one was rebuilt.
    #[error("audit entry {index} (seq {seq}) does not chain to the entry before it")]
    Unlinked {
        /// Where in the slice.
        index: usize,
        /// The sequence number it carries.
        seq: u64,
    },
    /// Entries `expected_seq..found_seq` are missing before this one.
    #[error("audit entries {expected_seq} to {} are missing before entry {index}", found_seq.saturating_sub(1))]
    Removed {
        /// Where in the slice.
        index: usize,
        /// The sequence number that should come here.
        expected_seq: u64,
        /// The sequence number found.
        found_seq: u64,
    },
    /// The entry that should come here appears later: entries were moved.
    #[error("audit entry {index} is seq {found_seq}, expected seq {expected_seq} (entries were reordered)")]
    Reordered {
        /// Where in the slice.
        index: usize,
        /// The sequence number that should come here.
        expected_seq: u64,
        /// The sequence number found.
        found_seq: u64,
    },
    /// The entry's sequence number was already passed: an entry was
    /// inserted (a copy, or one moved back).
    #[error("audit entry {index} is seq {found_seq}, expected seq {expected_seq} (an entry was inserted)")]
    Inserted {
        /// Where in the slice.
        index: usize,
        /// The sequence number that should come here.
        expected_seq: u64,
        /// The sequence number found.
        found_seq: u64,
    },
    /// The log ends before its head: its newest entries were removed.
    #[error("the audit log ends after {found_len} entries, its head is at {expected_len}")]
    MissingTail {
        /// The head's length.
        expected_len: u64,
        /// Where the entries end.
        found_len: u64,
    },
    /// The log goes on past its head: entries were added without the
    /// checkpoint (or the head is older than the log).
    #[error("the audit log goes on to {found_len} entries, its head is at {expected_len}")]
    BeyondHead {
        /// The head's length.
        expected_len: u64,
        /// Where the entries end.
        found_len: u64,
    },
    /// The log ends where its head is, but its newest entry is not the one
    /// the head names: the chain was rebuilt.
    #[error("the audit log's newest entry does not match its head (at {len} entries)")]
    HeadMismatch {
        /// The head's length.
        len: u64,
    },
    /// The checkpoint is older than a head seen before: the log and its
    /// checkpoint were put back to an earlier state.
    #[error("the audit checkpoint is at {head_len} entries, {seen_len} were seen before")]
    RolledBack {
        /// The head seen before.
        seen_len: u64,
        /// The checkpoint's head.
        head_len: u64,
    },
    /// A head seen before is not on this chain: the chain was rebuilt
    /// since.
    #[error("the audit log no longer passes through the head seen at {len} entries")]
    Diverged {
        /// The length of the head seen before.
        len: u64,
    },
}

/// Checks that `entries` are exactly the chain from `anchor` to `head`:
/// each entry's hash matches its contents, each names the one before (the
/// first names `anchor`), sequence numbers rise by one from `anchor.len()`,
/// and the last entry is the one `head` names. An entry edited, removed,
/// inserted or moved anywhere, the newest ones included, is found.
///
/// `anchor` is [`ChainHead::GENESIS`] for a whole log. Take `head` (and,
/// after a purge, `anchor`) from somewhere the log's writer cannot change:
/// with a [`CheckpointKey`], use [`Checkpoint::verify`] instead, which
/// authenticates both first. A head taken from the log itself proves
/// nothing about its newest entries.
///
/// # Errors
/// [`ChainError`] for the first problem found.
pub fn verify_chain(entries: &[AuditEntry], anchor: &ChainHead, head: &ChainHead) -> Result<(), ChainError> {
    let mut at = *anchor;
    for (index, e) in entries.iter().enumerate() {
        if entry_hash(e.seq, &e.event, &e.prev_hash) != e.hash {
            return Err(ChainError::Altered { index, seq: e.seq });
        }
        let expected_seq = at.len;
        if e.seq > expected_seq {
            let moved = entries
                .get(index + 1..)
                .unwrap_or_default()
                .iter()
                .any(|x| x.seq == expected_seq);
            return Err(if moved {
                ChainError::Reordered {
                    index,
                    expected_seq,
                    found_seq: e.seq,
                }
            } else {
                ChainError::Removed {
                    index,
                    expected_seq,
                    found_seq: e.seq,
                }
            });
        }
        if e.seq < expected_seq {
            return Err(ChainError::Inserted {
                index,
                expected_seq,
                found_seq: e.seq,
            });
        }
        if e.prev_hash != at.hash {
            return Err(ChainError::Unlinked { index, seq: e.seq });
        }
        // No head lies past u64::MAX entries, so an entry numbered
        // u64::MAX can only be one too many.
        let Some(len) = e.seq.checked_add(1) else {
            return Err(ChainError::BeyondHead {
                expected_len: head.len,
                found_len: u64::MAX,
            });
        };
        at = ChainHead { len, hash: e.hash };
    }
    if at.len < head.len {
        Err(ChainError::MissingTail {
            expected_len: head.len,
            found_len: at.len,
        })
    } else if at.len > head.len {
        Err(ChainError::BeyondHead {
            expected_len: head.len,
            found_len: at.len,
        })
    } else if at.hash != head.hash {
        Err(ChainError::HeadMismatch { len: head.len })
    } else {
        Ok(())
    }
}

/// The shortest [`CheckpointKey`] accepted, in bytes.
pub const MIN_CHECKPOINT_KEY_LEN: usize = 32;

/// A checkpoint key shorter than [`MIN_CHECKPOINT_KEY_LEN`] bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an audit checkpoint key must be at least {MIN_CHECKPOINT_KEY_LEN} bytes")]
pub struct WeakCheckpointKey;

/// The HMAC-SHA256 key that authenticates [`Checkpoint`]s, so that whoever
/// can edit the log (and the stored checkpoint) cannot make a checkpoint
/// that matches their edit.
///
/// Keep it where the log's storage is not: a secret manager, readable by
/// the process that appends and by the auditor's check. `Debug` prints
/// `CheckpointKey([redacted])`; its memory is zeroed on drop; there is no
/// `PartialEq`, `Display` or `Serialize`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct CheckpointKey(Vec<u8>);

impl fmt::Debug for CheckpointKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CheckpointKey([redacted])")
    }
}

/// Domain separation: a checkpoint tag is never a valid tag of anything
/// else made with the same key.
const CHECKPOINT_CONTEXT: &[u8] = b"kb-sso audit checkpoint v1\0";

impl CheckpointKey {
    /// A key of at least [`MIN_CHECKPOINT_KEY_LEN`] random bytes (for
    /// example from [`CheckpointKey::generate_key`]).
    ///
    /// # Errors
    /// [`WeakCheckpointKey`] for a shorter key.
    pub fn new(key: &[u8]) -> Result<Self, WeakCheckpointKey> {
        if key.len() < MIN_CHECKPOINT_KEY_LEN {
            return Err(WeakCheckpointKey);
        }
        Ok(Self(key.to_vec()))
    }

    /// 32 fresh random bytes for [`CheckpointKey::new`], to store in a
    /// secret manager.
    pub fn generate_key() -> Zeroizing<[u8; 32]> {
        use rand_core::{OsRng, RngCore};
        let mut key = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(key.as_mut());
        key
    }

    /// Signs the range from `anchor` to `head`.
    pub fn checkpoint(&self, anchor: ChainHead, head: ChainHead) -> Checkpoint {
        // HMAC takes a key of any length, so there is no tag-less case; an
        // all-zero tag would only ever fail to verify.
        let tag = self.tag(&anchor, &head).unwrap_or([0; 32]);
        Checkpoint { anchor, head, tag }
    }

    fn tag(&self, anchor: &ChainHead, head: &ChainHead) -> Option<[u8; 32]> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).ok()?;
        mac.update(CHECKPOINT_CONTEXT);
        for point in [anchor, head] {
            mac.update(&point.len.to_be_bytes());
            mac.update(point.hash.as_bytes());
        }
        Some(mac.finalize().into_bytes().into())
    }

    /// The checkpoint's range if its tag is this key's, compared in
    /// constant time.
    fn open(&self, checkpoint: &Checkpoint) -> Result<(ChainHead, ChainHead), ChainError> {
        let expected = self
            .tag(&checkpoint.anchor, &checkpoint.head)
            .ok_or(ChainError::ForgedCheckpoint)?;
        if bool::from(expected.ct_eq(&checkpoint.tag)) {
            Ok((checkpoint.anchor, checkpoint.head))
        } else {
            Err(ChainError::ForgedCheckpoint)
        }
    }
}

/// The range of a log (its anchor and head), signed with a
/// [`CheckpointKey`]. An [`AuditSink`] renews it on every append and purge
/// and keeps it apart from the entries.
///
/// The anchor and head it carries are claims until [`Checkpoint::verify`]
/// has checked the tag.
#[derive(Clone, Serialize, Deserialize)]
pub struct Checkpoint {
    anchor: ChainHead,
    head: ChainHead,
    #[serde(with = "tag_hex")]
    tag: [u8; 32],
}

impl fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Checkpoint")
            .field("anchor", &self.anchor)
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

impl Checkpoint {
    /// The position the oldest kept entry chains from, as claimed.
    pub fn anchor(&self) -> &ChainHead {
        &self.anchor
    }

    /// The position after the newest entry, as claimed.
    pub fn head(&self) -> &ChainHead {
        &self.head
    }

    /// Checks the checkpoint's tag with `key`, then that `entries` are
    /// exactly the chain from its anchor to its head ([`verify_chain`]).
    ///
    /// A valid checkpoint can still be an old one: whoever can replace both
    /// the entries and the stored checkpoint can go back to an earlier
    /// pair. Keep checkpoints where the log's writer cannot replace them,
    /// or check that [`head`](Self::head)'s length never goes down.
    ///
    /// # Errors
    /// [`ChainError::ForgedCheckpoint`] if the tag is not `key`'s, otherwise
    /// as [`verify_chain`].
    pub fn verify(&self, key: &CheckpointKey, entries: &[AuditEntry]) -> Result<(), ChainError> {
        let (anchor, head) = key.open(self)?;
        verify_chain(entries, &anchor, &head)
    }

    /// [`verify`](Self::verify), and then that the log has only grown since
    /// `seen`, a head the caller kept from an earlier check (in its own
    /// store): the checkpoint is not older than `seen`, and `seen` is on
    /// the verified chain. This finds a log and checkpoint put back
    /// together to an earlier state, which the key alone cannot. When
    /// `seen` was purged since, only its length can be compared.
    ///
    /// # Errors
    /// As [`verify`](Self::verify), then [`ChainError::RolledBack`] or
    /// [`ChainError::Diverged`].
    pub fn verify_since(
        &self,
        key: &CheckpointKey,
        entries: &[AuditEntry],
        seen: &ChainHead,
    ) -> Result<(), ChainError> {
        self.verify(key, entries)?;
        let (anchor, head) = (self.anchor, self.head);
        if seen.len > head.len {
            return Err(ChainError::RolledBack {
                seen_len: seen.len,
                head_len: head.len,
            });
        }
        let on_chain = match seen.len.checked_sub(anchor.len) {
            // Purged since: nothing left to compare the hash with.
            None => true,
            Some(0) => anchor.hash == seen.hash,
            Some(n) => usize::try_from(n - 1)
                .ok()
                .and_then(|i| entries.get(i))
                .is_some_and(|e| e.hash == seen.hash),
        };
        if on_chain {
            Ok(())
        } else {
            Err(ChainError::Diverged { len: seen.len })
        }
    }
}

mod tag_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::ChainHash;

    pub(super) fn serialize<S: Serializer>(tag: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&ChainHash::from_bytes(*tag).to_hex())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        ChainHash::from_hex(&text)
            .map(|h| *h.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

/// Entries read from an [`AuditSink`] with the checkpoint they were read
/// with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditLog {
    /// The sink's checkpoint at the time of reading.
    pub checkpoint: Checkpoint,
    /// Every kept entry, oldest first.
    pub entries: Vec<AuditEntry>,
}

impl AuditLog {
    /// [`Checkpoint::verify`] of the entries against the checkpoint.
    ///
    /// # Errors
    /// As [`Checkpoint::verify`].
    pub fn verify(&self, key: &CheckpointKey) -> Result<(), ChainError> {
        self.checkpoint.verify(key, &self.entries)
    }
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

/// The audit log: what admins did to JWT sign-in, tamper-evident.
///
/// Every admin operation of [`Project`](crate::project::Project) returns the
/// [`AuditEvent`] it caused: action, UTC timestamp, administrator, the
/// configuration's name at the time and, for updates, each changed field
/// with its old and new value. Secret values cannot enter an event: a
/// [`FieldChange`] is built only from a configuration's non-secret fields
/// (there is no constructor taking arbitrary text), and secret rotation is
/// recorded as the fact alone.
///
/// An [`AuditSink`] appends events as [`AuditEntry`]s, each carrying the
/// SHA-256 of the entry before it, and keeps a [`Checkpoint`] of the chain's
/// head (how many entries, and the newest one's hash) apart from the
/// entries, signed with a [`CheckpointKey`] (HMAC-SHA256). A chain alone
/// cannot show that its newest entries were removed; checked against its
/// checkpoint ([`Checkpoint::verify`], or [`verify_chain`] with a head kept
/// elsewhere) an entry edited, removed, inserted or moved anywhere is found,
/// the newest ones included. Reading the log takes a
/// [`SecurityAuditAccess`], which only a [`Principal`] holding the Security
/// & Audit permission can produce.
///
/// Where audit events are kept.
///
/// # Contract
/// - [`append`](Self::append) chains the event after the head
///   ([`AuditEntry::chain`]) and renews the [`Checkpoint`] in one atomic
///   step: two appends never share a `seq`, and the checkpoint is never
///   behind or ahead of the entries.
/// - The checkpoint is signed with the sink's [`CheckpointKey`] and kept
///   apart from the entries (another store, or at least another record the
///   code that writes entries cannot rewrite), so that removing the newest
///   entries is found.
/// - [`read`](Self::read) returns entries and checkpoint as one consistent
///   snapshot.
/// - [`query`](Self::query) answers what [`AuditQuery::select`] answers
///   from the kept entries, newest first, a page at a time; a page's
///   [`next_cursor`](AuditPage::next_cursor) continues strictly below its
///   oldest entry, so entries appended between pages never appear in a
///   later page and no entry appears twice in one walk.
/// - [`purge`](Self::purge) never removes an entry younger than
///   [`MIN_RETENTION`], whatever it is asked, and moves the checkpoint's
///   anchor to the newest removed entry.
pub trait AuditSink: Send + Sync {
    /// The sink's own failure.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Appends an event and returns its entry.
    fn append(&self, event: AuditEvent) -> impl Future<Output = Result<AuditEntry, Self::Error>> + Send;

    /// The current checkpoint: the anchor and the head after the last
    /// append or purge. Copy it out (to a write-once store, another system)
    /// to protect against a writer that can replace the sink's own copy.
    fn checkpoint(&self) -> impl Future<Output = Result<Checkpoint, Self::Error>> + Send;

    /// Every kept entry, oldest first, with the checkpoint.
    fn read(&self, access: &SecurityAuditAccess) -> impl Future<Output = Result<AuditLog, Self::Error>> + Send;

    /// One page of the kept entries that `query` asks for, newest first
    /// (the admin API's `GET /api/admin/audit`).
    ///
    /// The provided body reads the whole log and selects from it
    /// ([`AuditQuery::select`]); a store with an index (by `seq`, by time)
    /// should answer from it instead, cloning only the page.
    fn query(
        &self,
        access: &SecurityAuditAccess,
        query: &AuditQuery,
    ) -> impl Future<Output = Result<AuditPage, Self::Error>> + Send {
        let log = self.read(access);
        let query = *query;
        async move { Ok(query.select(&log.await?.entries)) }
    }

    /// Removes entries older than `retention` (at least [`MIN_RETENTION`])
    /// at `now`; returns how many were removed.
    fn purge(
        &self,
        now: OffsetDateTime,
        retention: Duration,
    ) -> impl Future<Output = Result<usize, Self::Error>> + Send;
}

crate::forward::forward_store!(AuditSink {
    type Error = T::Error;
    fn append(&self, event: AuditEvent) -> impl Future<Output = Result<AuditEntry, Self::Error>> + Send {
        (**self).append(event)
    }
    fn checkpoint(&self) -> impl Future<Output = Result<Checkpoint, Self::Error>> + Send {
        (**self).checkpoint()
    }
    fn read(&self, access: &SecurityAuditAccess) -> impl Future<Output = Result<AuditLog, Self::Error>> + Send {
        (**self).read(access)
    }
    fn query(&self, access: &SecurityAuditAccess, query: &AuditQuery) -> impl Future<Output = Result<AuditPage, Self::Error>> + Send {
        (**self).query(access, query)
    }
    fn purge(&self, now: OffsetDateTime, retention: Duration) -> impl Future<Output = Result<usize, Self::Error>> + Send {
        (**self).purge(now, retention)
    }
});

/// Who receives a notification. As JSON: `"project_admins"` or
/// `"project_admins_and_owners"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Recipients {
    /// The project's admins.
    ProjectAdmins,
    /// The project's admins and owners.
    ProjectAdminsAndOwners,
}

/// A message for the project's admins (and owners).
///
/// Never carries a secret: it is made from an [`AuditEvent`], which cannot
/// hold one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Who receives it.
    pub recipients: Recipients,
    /// A short line for an email's subject or a list, such as
    /// `JWT: regenerate primary token on "Portal"`. One line: the crate
    /// writes no control characters into it.
    pub subject: String,
    /// The message.
    pub message: String,
    /// When the change that caused it was made (UTC); an outbox records it
    /// as the time it was queued.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The event behind it, if any.
    pub event: Option<AuditEvent>,
}

/// The system notification sent when the third JWT login button is turned on.
pub const BUTTON_LIMIT_MESSAGE: &str = "You've reached the limit of 3 JWT login buttons. Additional JWT configurations will not appear as buttons on the login page. Readers can still sign in by entering their domain name.";

/// The subject of [`BUTTON_LIMIT_MESSAGE`].
pub const BUTTON_LIMIT_SUBJECT: &str = "JWT: login button limit reached";

/// The action's name for people: `regenerate primary token`,
/// `enable direct JWT login`.
fn action_words(action: AuditAction) -> String {
    action
        .name()
        .split('_')
        .map(|w| match w {
            "jwt" => "JWT",
            "sso" => "SSO",
            other => other,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `text` with every control character (a line break above all) replaced
/// by a space, so that a subject stays one line whatever a name holds.
fn one_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// The notifications an event causes: every event to project admins,
/// secret regenerations to admins and owners, and the button-limit message
/// when `reached_button_limit`.
pub(crate) fn notifications_for(event: &AuditEvent, reached_button_limit: bool) -> Vec<Notification> {
    let recipients = if event.action.notifies_owners() {
        Recipients::ProjectAdminsAndOwners
    } else {
        Recipients::ProjectAdmins
    };
    let words = action_words(event.action);
    let (subject, message) = match &event.config_name {
        Some(name) => (
            format!("JWT: {words} on \"{name}\""),
            format!("JWT: {:?} on \"{name}\" by {}", event.action, event.administrator.0),
        ),
        None => (
            format!("JWT: {words}"),
            format!("JWT: {:?} by {}", event.action, event.administrator.0),
        ),
    };
    let mut out = vec![Notification {
        recipients,
        subject: one_line(&subject),
        message,
        at: event.at,
        event: Some(event.clone()),
    }];
    if reached_button_limit {
        out.push(Notification {
            recipients: Recipients::ProjectAdmins,
            subject: BUTTON_LIMIT_SUBJECT.to_owned(),
            message: BUTTON_LIMIT_MESSAGE.to_owned(),
            at: event.at,
            event: None,
        });
    }
    out
}

/// Where notifications are queued for delivery (email, in-app...).
///
/// [`notify`](Self::notify) *queues*: it returns once the notification is
/// kept (durably, for a store that outlives the process) and does not wait
/// for delivery. [`Admin`](crate::Admin) calls it right after the change
/// and its audit entry are saved. A [`NotificationOutbox`] is a notifier
/// whose queue a delivery worker drains, at least once and never twice
/// while a delivery is under way; [`MemoryOutbox`] is one in memory.
///
/// [`MemoryOutbox`]: crate::store::memory::MemoryOutbox
pub trait Notifier: Send + Sync {
    /// The notifier's own failure.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Queues one notification. `Ok` means it is kept and will be
    /// delivered; it does not mean it was delivered.
    fn notify(&self, notification: Notification) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

crate::forward::forward_store!(Notifier {
    type Error = T::Error;
    fn notify(&self, notification: Notification) -> impl Future<Output = Result<(), Self::Error>> + Send {
        (**self).notify(notification)
    }
});

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryAuditSink;
    use proptest::prelude::*;
    use time::macros::datetime;

    fn event(i: i64) -> AuditEvent {
        AuditEvent::new(
            AuditAction::Enable,
            datetime!(2026-01-01 00:00 UTC) + Duration::days(i),
            &Administrator(format!("admin{i}")),
            None,
        )
    }

    fn key() -> CheckpointKey {
        CheckpointKey::new(&[7u8; 32]).unwrap()
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn sink(n: i64) -> MemoryAuditSink {
        let sink = MemoryAuditSink::new(key());
        for i in 0..n {
            block_on(sink.append(event(i))).unwrap();
        }
        sink
    }

    fn access() -> SecurityAuditAccess {
        Principal {
            id: "auditor".into(),
            security_audit: true,
        }
        .security_audit_access()
        .unwrap()
    }

    fn read(sink: &MemoryAuditSink) -> AuditLog {
        block_on(sink.read(&access())).unwrap()
    }

    /// A log of `n` entries and its checkpoint.
    fn log(n: i64) -> AuditLog {
        read(&sink(n))
    }

    fn check(log: &AuditLog, entries: &[AuditEntry]) -> Result<(), ChainError> {
        log.checkpoint.verify(&key(), entries)
    }

    #[test]
    fn an_intact_chain_verifies_against_its_checkpoint() {
        for n in [0, 1, 5] {
            let log = log(n);
            assert_eq!(log.verify(&key()), Ok(()), "{n} entries");
            assert_eq!(*log.checkpoint.anchor(), ChainHead::GENESIS);
            assert_eq!(log.checkpoint.head().len(), n as u64);
        }
    }

    #[test]
    fn an_intact_log_verifies_against_its_latest_hash_as_head() {
        // What SECURITY.md asks the host to keep: the newest entry's hash.
        let log = log(5);
        let latest = log.entries[4].hash;
        let head = ChainHead::new(5, latest);
        assert_eq!(verify_chain(&log.entries, &ChainHead::GENESIS, &head), Ok(()));
        assert_eq!(head, log.entries[4].head());
    }

    #[test]
    fn removing_the_newest_entries_is_found() {
        let log = log(5);
        for k in 1..=5 {
            let kept = &log.entries[..5 - k];
            assert_eq!(
                check(&log, kept),
                Err(ChainError::MissingTail {
                    expected_len: 5,
                    found_len: 5 - k as u64,
                }),
                "{k} newest removed"
            );
        }
    }

    #[test]
    fn the_sink_renews_its_checkpoint_on_every_append() {
        let sink = sink(0);
        for i in 0..4 {
            let entry = block_on(sink.append(event(i))).unwrap();
            let checkpoint = block_on(sink.checkpoint()).unwrap();
            assert_eq!(*checkpoint.head(), entry.head());
            assert_eq!(checkpoint.head().last_seq(), Some(i as u64));
            assert_eq!(read(&sink).verify(&key()), Ok(()));
        }
    }

    #[test]
    fn an_edited_entry_is_found() {
        let log = log(5);
        let mut e = log.entries.clone();
        e[2].event.administrator = Administrator("mallory".into());
        assert_eq!(check(&log, &e), Err(ChainError::Altered { index: 2, seq: 2 }));
        // Rebuilding the edited entry's hash breaks the next link.
        let mut e = log.entries.clone();
        e[2].event.administrator = Administrator("mallory".into());
        e[2] = AuditEntry::chain(&e[1].head(), e[2].event.clone());
        assert_eq!(check(&log, &e), Err(ChainError::Unlinked { index: 3, seq: 3 }));
    }

    #[test]
    fn an_edited_and_rebuilt_newest_entry_is_found() {
        let log = log(5);
        let mut e = log.entries.clone();
        e[4] = AuditEntry::chain(&e[3].head(), event(99));
        assert_eq!(check(&log, &e), Err(ChainError::HeadMismatch { len: 5 }));
    }

    #[test]
    fn a_removed_entry_is_found() {
        let log = log(5);
        let mut e = log.entries.clone();
        e.remove(1);
        assert_eq!(
            check(&log, &e),
            Err(ChainError::Removed {
                index: 1,
                expected_seq: 1,
                found_seq: 2,
            })
        );
        assert_eq!(
            check(&log, &log.entries[1..]),
            Err(ChainError::Removed {
                index: 0,
                expected_seq: 0,
                found_seq: 1,
            }),
            "a removed oldest entry is found"
        );
    }

    #[test]
    fn reordered_entries_are_found() {
        let log = log(5);
        let mut e = log.entries.clone();
        e.swap(1, 3);
        assert_eq!(
            check(&log, &e),
            Err(ChainError::Reordered {
                index: 1,
                expected_seq: 1,
                found_seq: 3,
            })
        );
        let mut e = log.entries.clone();
        e.swap(3, 4);
        assert_eq!(
            check(&log, &e),
            Err(ChainError::Reordered {
                index: 3,
                expected_seq: 3,
                found_seq: 4,
            }),
            "the newest entries swapped"
        );
    }

    #[test]
    fn inserted_entries_are_found() {
        let log = log(5);
        // A copy of an earlier entry.
        let mut e = log.entries.clone();
        e.insert(3, e[1].clone());
        assert_eq!(
            check(&log, &e),
            Err(ChainError::Inserted {
                index: 3,
                expected_seq: 3,
                found_seq: 1,
            })
        );
        // A well-formed new entry in the middle.
        let mut e = log.entries.clone();
        let forged = AuditEntry::chain(&e[1].head(), event(99));
        e.insert(2, forged);
        assert_eq!(
            check(&log, &e),
            Err(ChainError::Inserted {
                index: 3,
                expected_seq: 3,
                found_seq: 2,
            })
        );
        // A well-formed new entry after the newest.
        let mut e = log.entries.clone();
        e.push(AuditEntry::chain(&e[4].head(), event(99)));
        assert_eq!(
            check(&log, &e),
            Err(ChainError::BeyondHead {
                expected_len: 5,
                found_len: 6,
            })
        );
    }

    #[test]
    fn a_truncated_log_with_a_rebuilt_checkpoint_is_found() {
        let log = log(5);
        let kept = &log.entries[..3];
        let other = CheckpointKey::new(&[8u8; 32]).unwrap();
        let forged = other.checkpoint(ChainHead::GENESIS, kept[2].head());
        assert_eq!(forged.verify(&key(), kept), Err(ChainError::ForgedCheckpoint));
        // Editing the stored checkpoint's head without the key.
        let mut edited: serde_json::Value = serde_json::to_value(&log.checkpoint).unwrap();
        edited["head"] = serde_json::to_value(kept[2].head()).unwrap();
        let edited: Checkpoint = serde_json::from_value(edited).unwrap();
        assert_eq!(edited.verify(&key(), kept), Err(ChainError::ForgedCheckpoint));
    }

    #[test]
    fn a_log_put_back_to_an_earlier_state_is_found_against_a_head_seen_before() {
        let live = sink(3);
        let old = read(&live);
        for i in 3..6 {
            block_on(live.append(event(i))).unwrap();
        }
        let now = read(&live);
        let seen = *now.checkpoint.head();
        // The log has grown since an earlier head: fine.
        let earlier = *old.checkpoint.head();
        assert_eq!(now.checkpoint.verify_since(&key(), &now.entries, &earlier), Ok(()));
        assert_eq!(now.checkpoint.verify_since(&key(), &now.entries, &seen), Ok(()));
        assert_eq!(
            now.checkpoint.verify_since(&key(), &now.entries, &ChainHead::GENESIS),
            Ok(())
        );
        // The old entries with their old, authentic checkpoint.
        assert_eq!(old.verify(&key()), Ok(()));
        assert_eq!(
            old.checkpoint.verify_since(&key(), &old.entries, &seen),
            Err(ChainError::RolledBack {
                seen_len: 6,
                head_len: 3,
            })
        );
        // A chain rebuilt by the key's holder no longer passes through it.
        let other = sink(0);
        for i in 0..7 {
            block_on(other.append(event(i + 50))).unwrap();
        }
        let rebuilt = read(&other);
        assert_eq!(
            rebuilt.checkpoint.verify_since(&key(), &rebuilt.entries, &seen),
            Err(ChainError::Diverged { len: 6 })
        );
        // After a purge past the seen head, only its length counts.
        let purged = sink(200);
        let seen = block_on(purged.checkpoint()).unwrap().head().to_owned();
        let early = read(&purged).entries[9].head();
        block_on(purged.purge(datetime!(2026-01-01 00:00 UTC) + Duration::days(200), MIN_RETENTION)).unwrap();
        let log = read(&purged);
        assert_eq!(log.checkpoint.verify_since(&key(), &log.entries, &early), Ok(()));
        assert_eq!(log.checkpoint.verify_since(&key(), &log.entries, &seen), Ok(()));
    }

    #[test]
    fn checkpoints_round_trip_through_json() {
        let log = log(3);
        let json = serde_json::to_string(&log).unwrap();
        let back: AuditLog = serde_json::from_str(&json).unwrap();
        assert_eq!(back.verify(&key()), Ok(()));
        assert_eq!(back.entries, log.entries);
        assert!(json.contains(&log.entries[2].hash.to_hex()), "{json}");
    }

    #[test]
    fn hashes_parse_only_as_lower_case_hex() {
        let h = log(1).entries[0].hash;
        assert_eq!(ChainHash::from_hex(&h.to_hex()), Ok(h));
        assert_eq!(ChainHash::from_hex(&h.to_hex().to_uppercase()), Err(InvalidChainHash));
        assert_eq!(ChainHash::from_hex(&h.to_hex()[1..]), Err(InvalidChainHash));
        assert_eq!(ChainHash::from_hex(&"g".repeat(64)), Err(InvalidChainHash));
        assert_eq!(ChainHash::from_hex(&"é".repeat(32)), Err(InvalidChainHash));
    }

    #[test]
    fn entry_hashes_are_unchanged_by_the_typed_hash() {
        // The hash input is seq, the previous hash as hex text, and the
        // event's JSON, as before: logs stored earlier still verify.
        let e = event(0);
        let mut input = 0u64.to_be_bytes().to_vec();
        input.extend_from_slice("0".repeat(64).as_bytes());
        input.extend_from_slice(&serde_json::to_vec(&e).unwrap());
        let entry = AuditEntry::chain(&ChainHead::GENESIS, e);
        assert_eq!(*entry.hash.as_bytes(), sha256(&input));
    }

    #[test]
    fn checkpoint_keys_are_long_and_redacted() {
        assert_eq!(CheckpointKey::new(&[1u8; 31]).unwrap_err(), WeakCheckpointKey);
        let generated = CheckpointKey::generate_key();
        let key = CheckpointKey::new(generated.as_ref()).unwrap();
        assert_eq!(format!("{key:?}"), "CheckpointKey([redacted])");
        let cp = key.checkpoint(ChainHead::GENESIS, ChainHead::GENESIS);
        assert!(!format!("{cp:?}").contains("tag"));
    }

    #[test]
    fn purge_never_drops_entries_younger_than_ninety_days() {
        let sink = sink(200);
        let now = datetime!(2026-01-01 00:00 UTC) + Duration::days(200);
        // Asked for one day of retention, it still keeps 90.
        let removed = block_on(sink.purge(now, Duration::days(1))).unwrap();
        assert_eq!(removed, 110);
        let log = read(&sink);
        assert!(log.entries.iter().all(|x| now - x.event.at() <= MIN_RETENTION));
        assert_eq!(log.entries.len(), 90);
        assert_eq!(log.checkpoint.anchor().len(), 110);
        assert_eq!(
            log.verify(&key()),
            Ok(()),
            "the rest still verifies from the new anchor"
        );
        // Removing more of the oldest entries than the purge did is found.
        assert_eq!(
            check(&log, &log.entries[1..]),
            Err(ChainError::Removed {
                index: 0,
                expected_seq: 110,
                found_seq: 111,
            })
        );
        // Appending after a purge keeps the anchor.
        block_on(sink.append(event(300))).unwrap();
        assert_eq!(read(&sink).verify(&key()), Ok(()));
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
        let log = block_on(sink(3).read(&access)).unwrap();
        assert_eq!(log.entries.len(), 3);
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

    /// One tampering of a log.
    #[derive(Debug, Clone)]
    enum Tamper {
        /// Remove `len` (at least 1) entries from `start`.
        RemoveRange { start: usize, len: usize },
        /// Insert at `at` a copy of entry `from`.
        InsertCopy { at: usize, from: usize },
        /// Insert at `at` a new entry chained to the one before it.
        InsertForged { at: usize },
        /// Change one field of entry `at`.
        Edit { at: usize, field: u8 },
        /// Swap entries `a` and `b` (different).
        Swap { a: usize, b: usize },
    }

    fn tamper() -> impl Strategy<Value = Tamper> {
        // Indices are taken modulo the chain's length when applied.
        prop_oneof![
            (any::<usize>(), 1usize..8).prop_map(|(start, len)| Tamper::RemoveRange { start, len }),
            (any::<usize>(), any::<usize>()).prop_map(|(at, from)| Tamper::InsertCopy { at, from }),
            any::<usize>().prop_map(|at| Tamper::InsertForged { at }),
            (any::<usize>(), 0u8..6).prop_map(|(at, field)| Tamper::Edit { at, field }),
            (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Tamper::Swap { a, b }),
        ]
    }

    /// Applies `t` to `e` (not empty); returns false if `t` cannot change
    /// a chain this short (a swap in a one-entry chain).
    fn apply(t: &Tamper, e: &mut Vec<AuditEntry>) -> bool {
        let n = e.len();
        match *t {
            Tamper::RemoveRange { start, len } => {
                let start = start % n;
                let end = (start + len).min(n);
                e.drain(start..end);
            }
            Tamper::InsertCopy { at, from } => {
                let copy = e[from % n].clone();
                e.insert(at % (n + 1), copy);
            }
            Tamper::InsertForged { at } => {
                let at = at % (n + 1);
                let before = if at == 0 { ChainHead::GENESIS } else { e[at - 1].head() };
                e.insert(at, AuditEntry::chain(&before, event(1000)));
            }
            Tamper::Edit { at, field } => {
                let x = &mut e[at % n];
                match field {
                    0 => x.event.administrator.0.push('x'),
                    1 => x.event.at += Duration::seconds(1),
                    2 => x.event.action = AuditAction::Delete,
                    3 => x.seq = x.seq.wrapping_add(1),
                    4 => x.prev_hash.0[0] ^= 1,
                    _ => x.hash.0[31] ^= 0x80,
                }
            }
            Tamper::Swap { a, b } => {
                let (a, b) = (a % n, b % n);
                if a == b {
                    if n < 2 {
                        return false;
                    }
                    e.swap(a, (a + 1) % n);
                } else {
                    e.swap(a, b);
                }
            }
        }
        true
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_tampering_is_found_and_an_untouched_chain_verifies(n in 1i64..24, t in tamper()) {
            let log = log(n);
            prop_assert_eq!(log.verify(&key()), Ok(()));
            let head = log.checkpoint.head();
            prop_assert_eq!(verify_chain(&log.entries, &ChainHead::GENESIS, head), Ok(()));

            let mut e = log.entries.clone();
            prop_assume!(apply(&t, &mut e));
            prop_assert_ne!(&e, &log.entries);
            prop_assert!(check(&log, &e).is_err(), "{:?} not found", t);
            prop_assert!(verify_chain(&e, &ChainHead::GENESIS, head).is_err());
            // Nor does a checkpoint made for the tampered chain with
            // another key pass.
            if let Some(last) = e.last() {
                let other = CheckpointKey::new(&[9u8; 32]).unwrap();
                let forged = other.checkpoint(ChainHead::GENESIS, last.head());
                prop_assert_eq!(forged.verify(&key(), &e), Err(ChainError::ForgedCheckpoint));
            }
        }
    }
}
