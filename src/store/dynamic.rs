//! The object-safe twin of every store trait, its blanket implementation for
//! every store, and the trait implemented back on the trait object.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use crate::code::Insertion;
use crate::limit::{Decision, Limit, RateLimiter};
use crate::{
    AuditEntry, AuditEvent, AuditLog, AuditSink, Checkpoint, CodeDigest, CodeGrant, CodeStore, ConfigStore,
    Notification, Notifier, Project, ProjectSnapshot, Redemption, ReplayCache, Revision, SecurityAuditAccess,
    SessionRevocations, StaleRevision,
};

/// The failure of a store used through its `Dyn` form: the store's own
/// error, boxed.
///
/// `Display`, `Debug` and [`source`](Error::source) are the store error's
/// own; [`downcast_ref`](Self::downcast_ref) gets it back. Wrapping a
/// `StoreError` again gives the same `StoreError`, not a nested one.
pub struct StoreError(Box<dyn Error + Send + Sync>);

impl StoreError {
    /// Boxes a store's error.
    pub fn new<E: Error + Send + Sync + 'static>(error: E) -> Self {
        let boxed: Box<dyn Error + Send + Sync> = Box::new(error);
        match boxed.downcast::<StoreError>() {
            Ok(already) => *already,
            Err(other) => Self(other),
        }
    }

    /// The store's error.
    pub fn get_ref(&self) -> &(dyn Error + Send + Sync + 'static) {
        &*self.0
    }

    /// The store's error, if it is an `E`.
    pub fn downcast_ref<E: Error + 'static>(&self) -> Option<&E> {
        self.0.downcast_ref::<E>()
    }

    /// The store's error, boxed.
    pub fn into_inner(self) -> Box<dyn Error + Send + Sync> {
        self.0
    }
}

impl fmt::Debug for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl Error for StoreError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.source()
    }
}

/// The future a `Dyn` store method returns: boxed, `Send`, failing with a
/// [`StoreError`].
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

fn boxed<'a, T, E, F>(future: F) -> StoreFuture<'a, T>
where
    E: Error + Send + Sync + 'static,
    F: Future<Output = Result<T, E>> + Send + 'a,
{
    Box::pin(async move { future.await.map_err(StoreError::new) })
}

/// Implements `Debug` for a `Dyn` trait object, which names only its trait.
macro_rules! debug_dyn {
    ($($tr:ident),*) => {$(
        impl fmt::Debug for dyn $tr + '_ {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!("dyn ", stringify!($tr)))
            }
        }
    )*};
}

debug_dyn!(
    DynCodeStore,
    DynConfigStore,
    DynReplayCache,
    DynSessionRevocations,
    DynRateLimiter,
    DynAuditSink,
    DynNotifier
);

// Code store

/// [`CodeStore`] as a trait object: implemented for every code store, and
/// `dyn DynCodeStore` (so [`BoxCodeStore`] and [`ArcCodeStore`]) is a
/// `CodeStore` again, failing with [`StoreError`].
///
/// ```
/// use kb_sso::store::BoxCodeStore;
/// use kb_sso::store::memory::MemoryCodeStore;
/// use kb_sso::{CodeDigest, CodeStore, Redemption};
/// use time::macros::datetime;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let codes: BoxCodeStore = Box::new(MemoryCodeStore::new());
/// let now = datetime!(2026-01-01 00:00 UTC);
/// assert_eq!(codes.redeem(CodeDigest::of("never issued"), now).await.unwrap(), Redemption::Unknown);
/// # });
/// ```
pub trait DynCodeStore: Send + Sync {
    /// [`CodeStore::insert_limited`], boxed.
    fn insert_limited_boxed(&self, digest: CodeDigest, grant: CodeGrant, limit: usize) -> StoreFuture<'_, Insertion>;
    /// [`CodeStore::insert`], boxed.
    fn insert_boxed(&self, digest: CodeDigest, grant: CodeGrant) -> StoreFuture<'_, ()>;
    /// [`CodeStore::redeem`], boxed.
    fn redeem_boxed(&self, digest: CodeDigest, now: OffsetDateTime) -> StoreFuture<'_, Redemption>;
}

impl<T: CodeStore> DynCodeStore for T {
    fn insert_limited_boxed(&self, digest: CodeDigest, grant: CodeGrant, limit: usize) -> StoreFuture<'_, Insertion> {
        boxed(self.insert_limited(digest, grant, limit))
    }

    fn insert_boxed(&self, digest: CodeDigest, grant: CodeGrant) -> StoreFuture<'_, ()> {
        boxed(self.insert(digest, grant))
    }

    fn redeem_boxed(&self, digest: CodeDigest, now: OffsetDateTime) -> StoreFuture<'_, Redemption> {
        boxed(self.redeem(digest, now))
    }
}

impl CodeStore for dyn DynCodeStore + '_ {
    type Error = StoreError;

    fn insert_limited(
        &self,
        digest: CodeDigest,
        grant: CodeGrant,
        limit: usize,
    ) -> impl Future<Output = Result<Insertion, StoreError>> + Send {
        self.insert_limited_boxed(digest, grant, limit)
    }

    fn insert(&self, digest: CodeDigest, grant: CodeGrant) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.insert_boxed(digest, grant)
    }

    fn redeem(
        &self,
        digest: CodeDigest,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Redemption, StoreError>> + Send {
        self.redeem_boxed(digest, now)
    }
}

/// Any [`CodeStore`], chosen at run time.
pub type BoxCodeStore = Box<dyn DynCodeStore>;
/// Any [`CodeStore`], chosen at run time and shared.
pub type ArcCodeStore = Arc<dyn DynCodeStore>;

// Config store

/// [`ConfigStore`] as a trait object: implemented for every configuration
/// store, and `dyn DynConfigStore` (so [`BoxConfigStore`] and
/// [`ArcConfigStore`]) is a `ConfigStore` again, failing with
/// [`StoreError`].
///
/// ```
/// use kb_sso::store::ArcConfigStore;
/// use kb_sso::store::memory::MemoryConfigStore;
/// use kb_sso::{ConfigStore, Project, ProjectSettings};
/// use std::sync::Arc;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let project = Project::new(ProjectSettings::default(), vec![], vec![]).unwrap();
/// let configs: ArcConfigStore = Arc::new(MemoryConfigStore::new(project));
/// let current = configs.current().await.unwrap();
/// assert_eq!(current.project.jwt_configs().len(), 0);
/// # });
/// ```
pub trait DynConfigStore: Send + Sync {
    /// [`ConfigStore::current`], boxed.
    fn current_boxed(&self) -> StoreFuture<'_, ProjectSnapshot>;
    /// [`ConfigStore::save`], boxed.
    fn save_boxed(&self, base: Revision, project: Project) -> StoreFuture<'_, Result<Revision, StaleRevision>>;
}

impl<T: ConfigStore> DynConfigStore for T {
    fn current_boxed(&self) -> StoreFuture<'_, ProjectSnapshot> {
        boxed(self.current())
    }

    fn save_boxed(&self, base: Revision, project: Project) -> StoreFuture<'_, Result<Revision, StaleRevision>> {
        boxed(self.save(base, project))
    }
}

impl ConfigStore for dyn DynConfigStore + '_ {
    type Error = StoreError;

    fn current(&self) -> impl Future<Output = Result<ProjectSnapshot, StoreError>> + Send {
        self.current_boxed()
    }

    fn save(
        &self,
        base: Revision,
        project: Project,
    ) -> impl Future<Output = Result<Result<Revision, StaleRevision>, StoreError>> + Send {
        self.save_boxed(base, project)
    }
}

/// Any [`ConfigStore`], chosen at run time.
pub type BoxConfigStore = Box<dyn DynConfigStore>;
/// Any [`ConfigStore`], chosen at run time and shared.
pub type ArcConfigStore = Arc<dyn DynConfigStore>;

// Replay cache

/// [`ReplayCache`] as a trait object: implemented for every replay cache,
/// and `dyn DynReplayCache` (so [`BoxReplayCache`] and [`ArcReplayCache`])
/// is a `ReplayCache` again, failing with [`StoreError`].
///
/// ```
/// use kb_sso::ReplayCache;
/// use kb_sso::store::BoxReplayCache;
/// use kb_sso::store::memory::MemoryReplayCache;
/// use time::{Duration, macros::datetime};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let cache: BoxReplayCache = Box::new(MemoryReplayCache::new());
/// let now = datetime!(2026-01-01 00:00 UTC);
/// let until = now + Duration::minutes(5);
/// assert!(cache.insert_if_absent("key", until, now).await.unwrap());
/// assert!(!cache.insert_if_absent("key", until, now).await.unwrap(), "a replay");
/// # });
/// ```
pub trait DynReplayCache: Send + Sync {
    /// [`ReplayCache::insert_if_absent`], boxed.
    fn insert_if_absent_boxed<'a>(
        &'a self,
        key: &'a str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> StoreFuture<'a, bool>;
}

impl<T: ReplayCache> DynReplayCache for T {
    fn insert_if_absent_boxed<'a>(
        &'a self,
        key: &'a str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> StoreFuture<'a, bool> {
        boxed(self.insert_if_absent(key, expires_at, now))
    }
}

impl ReplayCache for dyn DynReplayCache + '_ {
    type Error = StoreError;

    async fn insert_if_absent(
        &self,
        key: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.insert_if_absent_boxed(key, expires_at, now).await
    }
}

/// Any [`ReplayCache`], chosen at run time.
pub type BoxReplayCache = Box<dyn DynReplayCache>;
/// Any [`ReplayCache`], chosen at run time and shared.
pub type ArcReplayCache = Arc<dyn DynReplayCache>;

// Session revocations

/// [`SessionRevocations`] as a trait object: implemented for every
/// revocation list, and `dyn DynSessionRevocations` (so
/// [`BoxSessionRevocations`] and [`ArcSessionRevocations`]) is a
/// `SessionRevocations` again, failing with [`StoreError`].
///
/// ```
/// use kb_sso::SessionRevocations;
/// use kb_sso::store::ArcSessionRevocations;
/// use kb_sso::store::memory::MemorySessionRevocations;
/// use std::sync::Arc;
/// use time::{Duration, macros::datetime};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let revoked: ArcSessionRevocations = Arc::new(MemorySessionRevocations::new());
/// let now = datetime!(2026-01-01 00:00 UTC);
/// revoked.revoke("session", now + Duration::hours(1), now).await.unwrap();
/// assert!(revoked.is_revoked("session", now).await.unwrap());
/// # });
/// ```
pub trait DynSessionRevocations: Send + Sync {
    /// [`SessionRevocations::revoke`], boxed.
    fn revoke_boxed<'a>(
        &'a self,
        session_id: &'a str,
        until: OffsetDateTime,
        now: OffsetDateTime,
    ) -> StoreFuture<'a, ()>;
    /// [`SessionRevocations::is_revoked`], boxed.
    fn is_revoked_boxed<'a>(&'a self, session_id: &'a str, now: OffsetDateTime) -> StoreFuture<'a, bool>;
}

impl<T: SessionRevocations> DynSessionRevocations for T {
    fn revoke_boxed<'a>(
        &'a self,
        session_id: &'a str,
        until: OffsetDateTime,
        now: OffsetDateTime,
    ) -> StoreFuture<'a, ()> {
        boxed(self.revoke(session_id, until, now))
    }

    fn is_revoked_boxed<'a>(&'a self, session_id: &'a str, now: OffsetDateTime) -> StoreFuture<'a, bool> {
        boxed(self.is_revoked(session_id, now))
    }
}

impl SessionRevocations for dyn DynSessionRevocations + '_ {
    type Error = StoreError;

    async fn revoke(&self, session_id: &str, until: OffsetDateTime, now: OffsetDateTime) -> Result<(), StoreError> {
        self.revoke_boxed(session_id, until, now).await
    }

    async fn is_revoked(&self, session_id: &str, now: OffsetDateTime) -> Result<bool, StoreError> {
        self.is_revoked_boxed(session_id, now).await
    }
}

/// Any [`SessionRevocations`], chosen at run time.
pub type BoxSessionRevocations = Box<dyn DynSessionRevocations>;
/// Any [`SessionRevocations`], chosen at run time and shared.
pub type ArcSessionRevocations = Arc<dyn DynSessionRevocations>;

// Rate limiter

/// [`RateLimiter`] as a trait object: implemented for every limiter, and
/// `dyn DynRateLimiter` (so [`BoxRateLimiter`] and [`ArcRateLimiter`]) is a
/// `RateLimiter` again, failing with [`StoreError`].
///
/// ```
/// use kb_sso::{Decision, Limit, RateLimiter};
/// use kb_sso::store::BoxRateLimiter;
/// use kb_sso::store::memory::MemoryRateLimiter;
/// use time::macros::datetime;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let limiter: BoxRateLimiter = Box::new(MemoryRateLimiter::new());
/// let (limit, now) = (Limit::per_minute(1).unwrap(), datetime!(2026-01-01 00:00 UTC));
/// limiter.fail("key", limit, now).await.unwrap();
/// assert!(matches!(limiter.check("key", limit, now).await.unwrap(), Decision::Limited { .. }));
/// # });
/// ```
pub trait DynRateLimiter: Send + Sync {
    /// [`RateLimiter::check`], boxed.
    fn check_boxed<'a>(&'a self, key: &'a str, limit: Limit, now: OffsetDateTime) -> StoreFuture<'a, Decision>;
    /// [`RateLimiter::fail`], boxed.
    fn fail_boxed<'a>(&'a self, key: &'a str, limit: Limit, now: OffsetDateTime) -> StoreFuture<'a, ()>;
}

impl<T: RateLimiter> DynRateLimiter for T {
    fn check_boxed<'a>(&'a self, key: &'a str, limit: Limit, now: OffsetDateTime) -> StoreFuture<'a, Decision> {
        boxed(self.check(key, limit, now))
    }

    fn fail_boxed<'a>(&'a self, key: &'a str, limit: Limit, now: OffsetDateTime) -> StoreFuture<'a, ()> {
        boxed(self.fail(key, limit, now))
    }
}

impl RateLimiter for dyn DynRateLimiter + '_ {
    type Error = StoreError;

    async fn check(&self, key: &str, limit: Limit, now: OffsetDateTime) -> Result<Decision, StoreError> {
        self.check_boxed(key, limit, now).await
    }

    async fn fail(&self, key: &str, limit: Limit, now: OffsetDateTime) -> Result<(), StoreError> {
        self.fail_boxed(key, limit, now).await
    }
}

/// Any [`RateLimiter`], chosen at run time.
pub type BoxRateLimiter = Box<dyn DynRateLimiter>;
/// Any [`RateLimiter`], chosen at run time and shared.
pub type ArcRateLimiter = Arc<dyn DynRateLimiter>;

// Audit sink

/// [`AuditSink`] as a trait object: implemented for every sink, and
/// `dyn DynAuditSink` (so [`BoxAuditSink`] and [`ArcAuditSink`]) is an
/// `AuditSink` again, failing with [`StoreError`].
///
/// ```
/// use kb_sso::store::BoxAuditSink;
/// use kb_sso::store::memory::MemoryAuditSink;
/// use kb_sso::{Administrator, AuditSink, CheckpointKey, JwtConfig, Project, ProjectSettings};
/// use time::macros::datetime;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let sink: BoxAuditSink = Box::new(MemoryAuditSink::new(CheckpointKey::new(&[7; 32]).unwrap()));
/// let mut project = Project::new(ProjectSettings::default(), vec![], vec![]).unwrap();
/// let config = JwtConfig::builder("Portal", "https://app.example.com/login");
/// let change = project.create(&Administrator("ada".into()), datetime!(2026-01-01 00:00 UTC), config).unwrap();
/// let entry = sink.append(change.event).await.unwrap();
/// assert_eq!(sink.checkpoint().await.unwrap().head(), &entry.head());
/// # });
/// ```
pub trait DynAuditSink: Send + Sync {
    /// [`AuditSink::append`], boxed.
    fn append_boxed(&self, event: AuditEvent) -> StoreFuture<'_, AuditEntry>;
    /// [`AuditSink::checkpoint`], boxed.
    fn checkpoint_boxed(&self) -> StoreFuture<'_, Checkpoint>;
    /// [`AuditSink::read`], boxed.
    fn read_boxed<'a>(&'a self, access: &'a SecurityAuditAccess) -> StoreFuture<'a, AuditLog>;
    /// [`AuditSink::purge`], boxed.
    fn purge_boxed(&self, now: OffsetDateTime, retention: Duration) -> StoreFuture<'_, usize>;
}

impl<T: AuditSink> DynAuditSink for T {
    fn append_boxed(&self, event: AuditEvent) -> StoreFuture<'_, AuditEntry> {
        boxed(self.append(event))
    }

    fn checkpoint_boxed(&self) -> StoreFuture<'_, Checkpoint> {
        boxed(self.checkpoint())
    }

    fn read_boxed<'a>(&'a self, access: &'a SecurityAuditAccess) -> StoreFuture<'a, AuditLog> {
        boxed(self.read(access))
    }

    fn purge_boxed(&self, now: OffsetDateTime, retention: Duration) -> StoreFuture<'_, usize> {
        boxed(self.purge(now, retention))
    }
}

impl AuditSink for dyn DynAuditSink + '_ {
    type Error = StoreError;

    fn append(&self, event: AuditEvent) -> impl Future<Output = Result<AuditEntry, StoreError>> + Send {
        self.append_boxed(event)
    }

    fn checkpoint(&self) -> impl Future<Output = Result<Checkpoint, StoreError>> + Send {
        self.checkpoint_boxed()
    }

    async fn read(&self, access: &SecurityAuditAccess) -> Result<AuditLog, StoreError> {
        self.read_boxed(access).await
    }

    fn purge(
        &self,
        now: OffsetDateTime,
        retention: Duration,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        self.purge_boxed(now, retention)
    }
}

/// Any [`AuditSink`], chosen at run time.
pub type BoxAuditSink = Box<dyn DynAuditSink>;
/// Any [`AuditSink`], chosen at run time and shared.
pub type ArcAuditSink = Arc<dyn DynAuditSink>;

// Notifier

/// [`Notifier`] as a trait object: implemented for every notifier, and
/// `dyn DynNotifier` (so [`BoxNotifier`] and [`ArcNotifier`]) is a
/// `Notifier` again, failing with [`StoreError`].
///
/// ```
/// use kb_sso::store::ArcNotifier;
/// use kb_sso::store::memory::MemoryNotifier;
/// use kb_sso::{Notification, Notifier, Recipients};
/// use std::sync::Arc;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let kept = Arc::new(MemoryNotifier::default());
/// let notifier: ArcNotifier = kept.clone();
/// let note = Notification { recipients: Recipients::ProjectAdmins, message: "hello".into(), event: None };
/// notifier.notify(note.clone()).await.unwrap();
/// assert_eq!(kept.sent(), [note]);
/// # });
/// ```
pub trait DynNotifier: Send + Sync {
    /// [`Notifier::notify`], boxed.
    fn notify_boxed(&self, notification: Notification) -> StoreFuture<'_, ()>;
}

impl<T: Notifier> DynNotifier for T {
    fn notify_boxed(&self, notification: Notification) -> StoreFuture<'_, ()> {
        boxed(self.notify(notification))
    }
}

impl Notifier for dyn DynNotifier + '_ {
    type Error = StoreError;

    fn notify(&self, notification: Notification) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.notify_boxed(notification)
    }
}

/// Any [`Notifier`], chosen at run time.
pub type BoxNotifier = Box<dyn DynNotifier>;
/// Any [`Notifier`], chosen at run time and shared.
pub type ArcNotifier = Arc<dyn DynNotifier>;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("down")]
    struct Down;

    #[test]
    fn a_store_error_is_wrapped_once_and_keeps_its_cause() {
        let once = StoreError::new(Down);
        assert_eq!(once.to_string(), "down");
        assert!(once.downcast_ref::<Down>().is_some());
        let twice = StoreError::new(once);
        assert!(
            twice.downcast_ref::<Down>().is_some(),
            "not a StoreError in a StoreError"
        );
        assert!(twice.get_ref().is::<Down>());
    }
}
