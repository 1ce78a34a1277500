//! Store implementations, and the forms every store trait takes.
//!
//! [`memory`] holds every embedded, in-process store: the default for a
//! single process and for tests. `redis` (feature `redis`) holds stores
//! shared by many app instances. `sqlite` (feature `sqlite`, one file, the
//! embedded default) and `postgres` (feature `postgres`, for many
//! instances) keep the project, the audit log and the notification outbox
//! in a database, each behind one value that implements all three traits;
//! a host mixes them freely with the code store, replay cache and
//! revocations in memory or on Redis. `email` (feature `email`) holds the
//! worker that delivers any notification outbox by SMTP.
//!
//! # Using a store through a pointer, or chosen at run time
//!
//! Every store trait ([`CodeStore`](crate::CodeStore),
//! [`ConfigStore`](crate::ConfigStore), [`ReplayCache`](crate::ReplayCache),
//! [`SessionRevocations`](crate::SessionRevocations),
//! [`RateLimiter`](crate::limit::RateLimiter), [`AuditSink`](crate::AuditSink),
//! [`Notifier`](crate::Notifier)) is implemented for `&T`, `Arc<T>` and
//! `Box<T>` of any `T` that implements it, so one store can be shared.
//!
//! The traits return `impl Future`, so they cannot be trait objects
//! themselves. Each has an object-safe twin ([`DynCodeStore`],
//! [`DynConfigStore`], [`DynReplayCache`], [`DynSessionRevocations`],
//! [`DynRateLimiter`], [`DynAuditSink`], [`DynNotifier`]), implemented for
//! every store, whose futures are boxed and whose errors are one
//! [`StoreError`]. `Box<dyn DynX>` and `Arc<dyn DynX>` (the aliases
//! [`BoxCodeStore`], [`ArcCodeStore`], ...) implement the trait again, so a
//! host picks its store at run time without writing a dispatch enum:
//!
//! ```
//! use kb_sso::store::BoxCodeStore;
//! use kb_sso::store::memory::MemoryCodeStore;
//! use kb_sso::{CodeIssuer, SystemClock};
//!
//! # let shared: Option<MemoryCodeStore> = None;
//! // For example a Redis store when one is configured, else one in memory.
//! let codes: BoxCodeStore = match shared {
//!     Some(store) => Box::new(store),
//!     None => Box::new(MemoryCodeStore::new()),
//! };
//! let issuer = CodeIssuer::new(codes, SystemClock);
//! # drop(issuer);
//! ```
//!
//! # Time
//!
//! No store reads a clock: every method whose answer depends on the time
//! takes the caller's `now` (or a time carried by its arguments, such as a
//! grant's `issued_at`), so the one [`Clock`](crate::Clock) a host injects
//! decides every expiry. A store that expires entries by its own clock
//! (Redis `PXAT`) may ignore `now`.

mod dynamic;
#[cfg(feature = "email")]
pub mod email;
pub mod memory;

#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql_common;
#[cfg(feature = "sqlite")]
pub mod sqlite;

#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use sql_common::SqlError;

pub use dynamic::{
    ArcAuditSink, ArcCodeStore, ArcConfigStore, ArcNotifier, ArcRateLimiter, ArcReplayCache, ArcSessionRevocations,
    BoxAuditSink, BoxCodeStore, BoxConfigStore, BoxNotifier, BoxRateLimiter, BoxReplayCache, BoxSessionRevocations,
    DynAuditSink, DynCodeStore, DynConfigStore, DynNotifier, DynRateLimiter, DynReplayCache, DynSessionRevocations,
    StoreError, StoreFuture,
};
pub use dynamic::{ArcNotificationOutbox, BoxNotificationOutbox, DynNotificationOutbox};
