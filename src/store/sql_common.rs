//! What the SQLite and PostgreSQL stores share: their error, the way times
//! and numbers become columns, the embedded migrations, and the store
//! operations themselves (one body of SQL, written once in [`sql_store`]
//! and instantiated for each engine).
//!
//! Both engines take the same statements: `$1`-style parameters, `INSERT
//! ... RETURNING`, `BIGINT`/`INTEGER` and `TEXT` columns. Where they differ
//! (how a writer transaction begins, row locks) the engine module passes
//! its own words to [`sql_store`].

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use sqlx::migrate::{Migration, MigrationSource, MigrationType};
use time::OffsetDateTime;

use crate::audit::{AuditAction, EventFilter, OutboxState};

/// Why a SQL store could not open or answer.
///
/// Opening a file that is not a kb-sso database is refused before anything
/// is written to it: [`SqlError::NotADatabase`], [`SqlError::Corrupt`] and
/// [`SqlError::Foreign`] each leave the file as it was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqlError {
    /// The file is not a SQLite database at all (wrong header).
    #[error("{path} is not a SQLite database")]
    NotADatabase {
        /// The file.
        path: String,
    },
    /// The file is a SQLite database, but damaged.
    #[error("the SQLite database {path} is damaged: {detail}")]
    Corrupt {
        /// The file.
        path: String,
        /// What SQLite reported.
        detail: String,
    },
    /// The database holds another application's tables, not kb-sso's.
    #[error("{path} is another application's database, not kb-sso's")]
    Foreign {
        /// The file or database.
        path: String,
    },
    /// The schema migrations could not run: most often the database was
    /// written by a newer kb-sso, whose migrations this one does not know.
    #[error("the database schema could not be brought up to date: {0}")]
    Migrate(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database refused or failed a statement, or could not be reached.
    #[error("database error: {0}")]
    Database(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A stored record does not parse (it was edited outside kb-sso, or
    /// breaks a project rule).
    #[error("a stored record does not parse: {0}")]
    Record(#[from] serde_json::Error),
    /// A stored number is out of range (a negative revision or sequence
    /// number).
    #[error("a stored number is out of range")]
    OutOfRange,
}

impl From<sqlx::Error> for SqlError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(Box::new(e))
    }
}

impl From<sqlx::migrate::MigrateError> for SqlError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Self::Migrate(Box::new(e))
    }
}

/// A time as a column: nanoseconds since the Unix epoch, saturated to the
/// range of `BIGINT` (about the years 1677 to 2262), so that comparisons in
/// SQL order times as Rust does within that range.
pub(crate) fn nanos(t: OffsetDateTime) -> i64 {
    let n = t.unix_timestamp_nanos();
    i64::try_from(n).unwrap_or(if n < 0 { i64::MIN } else { i64::MAX })
}

/// A count or number as a `BIGINT` column, saturated.
pub(crate) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A `BIGINT` column as a number that is never negative.
///
/// # Errors
/// [`SqlError::OutOfRange`] for a negative value.
pub(crate) fn to_u64(n: i64) -> Result<u64, SqlError> {
    u64::try_from(n).map_err(|_| SqlError::OutOfRange)
}

/// The names of the actions `filter` lets through, or `None` when it lets
/// every action through. The rule stays [`EventFilter::matches`].
pub(crate) fn filtered_actions(filter: EventFilter) -> Option<Vec<&'static str>> {
    let names: Vec<&'static str> = AuditAction::ALL
        .iter()
        .filter(|a| filter.matches(**a))
        .map(AuditAction::name)
        .collect();
    (names.len() != AuditAction::ALL.len()).then_some(names)
}

/// The `due_at` column of an outbox row: when a claim may take it, `None`
/// once sent. Pending entries are due from the start of time.
pub(crate) fn due_at(state: &OutboxState) -> Option<i64> {
    match *state {
        OutboxState::Pending => Some(i64::MIN),
        OutboxState::InFlight { lease_until, .. } => Some(nanos(lease_until)),
        OutboxState::Failed { next_attempt_at, .. } => Some(nanos(next_attempt_at)),
        OutboxState::Sent { .. } => None,
    }
}

/// Migrations compiled into the crate (`include_str!` of the files under
/// `migrations/`), in version order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Embedded(pub(crate) &'static [(i64, &'static str, &'static str)]);

type ResolveFuture = Pin<Box<dyn Future<Output = Result<Vec<Migration>, sqlx::error::BoxDynError>> + Send>>;

impl MigrationSource<'static> for Embedded {
    fn resolve(self) -> ResolveFuture {
        let migrations = self
            .0
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    Cow::Borrowed(sql),
                    false,
                )
            })
            .collect();
        Box::pin(std::future::ready(Ok(migrations)))
    }
}

/// Implements [`ConfigStore`](crate::ConfigStore),
/// [`AuditSink`](crate::AuditSink), [`Notifier`](crate::Notifier) and
/// [`NotificationOutbox`](crate::NotificationOutbox) for `$store`, a struct
/// with fields `pool` (the engine's pool), `key` (a
/// [`CheckpointKey`](crate::audit::CheckpointKey)) and `cache` (a
/// `std::sync::Mutex<Option<ProjectSnapshot>>`).
///
/// - `write`: the statement that begins a transaction which writes and
///   must be the only writer of the rows it reads (`BEGIN IMMEDIATE` on
///   SQLite, which takes the database's write lock at once).
/// - `read`: the statement that begins a read-only transaction seeing one
///   snapshot.
/// - `lock`: what follows a `SELECT` of a row the transaction will change,
///   so that other writers wait for it (`FOR UPDATE` on PostgreSQL).
/// - `skip`: what follows the claim's `SELECT`, so that concurrent claims
///   skip each other's rows (`FOR UPDATE SKIP LOCKED`).
macro_rules! sql_store {
    ($store:ty, write = $write:literal, read = $read:literal, lock = $lock:literal, skip = $skip:literal) => {
        impl $store {
            fn cached(&self, revision: i64) -> Option<$crate::project::ProjectSnapshot> {
                let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                cache
                    .as_ref()
                    .filter(|s| $crate::store::sql_common::to_i64(s.revision.0) == revision)
                    .cloned()
            }

            fn remember(&self, snapshot: &$crate::project::ProjectSnapshot) {
                let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                if cache.as_ref().is_none_or(|c| c.revision < snapshot.revision) {
                    *cache = Some(snapshot.clone());
                }
            }

            /// Stores `initial` at revision 1 and the empty audit log's
            /// checkpoint, unless the database holds them already.
            async fn seed(
                &self,
                initial: &$crate::project::Project,
            ) -> Result<(), $crate::store::sql_common::SqlError> {
                let doc = serde_json::to_string(initial)?;
                let checkpoint = self.key.checkpoint(
                    $crate::audit::ChainHead::GENESIS,
                    $crate::audit::ChainHead::GENESIS,
                );
                let checkpoint = serde_json::to_string(&checkpoint)?;
                let mut tx = self.pool.begin_with($write).await?;
                sqlx::query(
                    "INSERT INTO kb_sso_project (id, revision, doc) VALUES (1, 1, $1) ON CONFLICT (id) DO NOTHING",
                )
                .bind(doc)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO kb_sso_audit_head (id, checkpoint) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
                )
                .bind(checkpoint)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn outbox_row<'e, E>(
                executor: E,
                id: $crate::audit::OutboxId,
            ) -> Result<Option<$crate::audit::OutboxEntry>, $crate::store::sql_common::SqlError>
            where
                E: sqlx::Executor<'e, Database = <Self as $crate::store::sql_common::Engine>::Db>,
            {
                let row: Option<(i64, String, String)> = sqlx::query_as(concat!(
                    "SELECT id, notification, state FROM kb_sso_outbox WHERE id = $1",
                    $lock
                ))
                .bind($crate::store::sql_common::to_i64(id.0))
                .fetch_optional(executor)
                .await?;
                row.map($crate::store::sql_common::outbox_entry).transpose()
            }

            /// Applies a worker's report (`OutboxEntry::mark_sent` or
            /// `mark_failed`) to the entry under `lease`, in one write
            /// transaction; saves it only when the report changed it.
            async fn report(
                &self,
                lease: $crate::audit::OutboxLease,
                apply: impl FnOnce(&mut $crate::audit::OutboxEntry) -> bool,
            ) -> Result<bool, $crate::store::sql_common::SqlError> {
                let mut tx = self.pool.begin_with($write).await?;
                let Some(mut entry) = Self::outbox_row(&mut *tx, lease.id).await? else {
                    return Ok(false);
                };
                let changed = apply(&mut entry);
                if changed {
                    Self::put_outbox_state(&mut *tx, &entry).await?;
                }
                tx.commit().await?;
                Ok(changed)
            }

            async fn put_outbox_state<'e, E>(
                executor: E,
                entry: &$crate::audit::OutboxEntry,
            ) -> Result<(), $crate::store::sql_common::SqlError>
            where
                E: sqlx::Executor<'e, Database = <Self as $crate::store::sql_common::Engine>::Db>,
            {
                sqlx::query("UPDATE kb_sso_outbox SET state = $1, due_at = $2 WHERE id = $3")
                    .bind(serde_json::to_string(&entry.state)?)
                    .bind($crate::store::sql_common::due_at(&entry.state))
                    .bind($crate::store::sql_common::to_i64(entry.id.0))
                    .execute(executor)
                    .await?;
                Ok(())
            }
        }

        impl $crate::project::ConfigStore for $store {
            type Error = $crate::store::sql_common::SqlError;

            async fn current(&self) -> Result<$crate::project::ProjectSnapshot, Self::Error> {
                // One indexed read of a number while the project is unchanged.
                let revision: i64 = sqlx::query_scalar("SELECT revision FROM kb_sso_project WHERE id = 1")
                    .fetch_one(&self.pool)
                    .await?;
                if let Some(snapshot) = self.cached(revision) {
                    return Ok(snapshot);
                }
                let (revision, doc): (i64, String) =
                    sqlx::query_as("SELECT revision, doc FROM kb_sso_project WHERE id = 1")
                        .fetch_one(&self.pool)
                        .await?;
                let project: $crate::project::Project = serde_json::from_str(&doc)?;
                let snapshot = $crate::project::ProjectSnapshot {
                    revision: $crate::project::Revision($crate::store::sql_common::to_u64(revision)?),
                    project: std::sync::Arc::new(project),
                };
                self.remember(&snapshot);
                Ok(snapshot)
            }

            async fn save(
                &self,
                base: $crate::project::Revision,
                project: $crate::project::Project,
            ) -> Result<Result<$crate::project::Revision, $crate::project::StaleRevision>, Self::Error> {
                let doc = serde_json::to_string(&project)?;
                let saved: Option<i64> = sqlx::query_scalar(
                    "UPDATE kb_sso_project SET doc = $1, revision = revision + 1 \
                     WHERE id = 1 AND revision = $2 RETURNING revision",
                )
                .bind(doc)
                .bind($crate::store::sql_common::to_i64(base.0))
                .fetch_optional(&self.pool)
                .await?;
                match saved {
                    Some(revision) => {
                        let revision = $crate::project::Revision($crate::store::sql_common::to_u64(revision)?);
                        self.remember(&$crate::project::ProjectSnapshot {
                            revision,
                            project: std::sync::Arc::new(project),
                        });
                        Ok(Ok(revision))
                    }
                    None => {
                        let current: i64 = sqlx::query_scalar("SELECT revision FROM kb_sso_project WHERE id = 1")
                            .fetch_one(&self.pool)
                            .await?;
                        Ok(Err($crate::project::StaleRevision {
                            base,
                            current: $crate::project::Revision($crate::store::sql_common::to_u64(current)?),
                        }))
                    }
                }
            }
        }

        impl $crate::audit::AuditSink for $store {
            type Error = $crate::store::sql_common::SqlError;

            async fn append(&self, event: $crate::audit::AuditEvent) -> Result<$crate::audit::AuditEntry, Self::Error> {
                let at = $crate::store::sql_common::nanos(event.at());
                let action = event.action().name();
                // The head row is the lock: appends from every instance
                // take their turn here, so the chain stays one line.
                let mut tx = self.pool.begin_with($write).await?;
                let checkpoint: String = sqlx::query_scalar(concat!(
                    "SELECT checkpoint FROM kb_sso_audit_head WHERE id = 1",
                    $lock
                ))
                .fetch_one(&mut *tx)
                .await?;
                let checkpoint: $crate::audit::Checkpoint = serde_json::from_str(&checkpoint)?;
                let entry = $crate::audit::AuditEntry::chain(checkpoint.head(), event);
                let renewed = self.key.checkpoint(*checkpoint.anchor(), entry.head());
                sqlx::query("INSERT INTO kb_sso_audit_entry (seq, at, action, entry) VALUES ($1, $2, $3, $4)")
                    .bind($crate::store::sql_common::to_i64(entry.seq))
                    .bind(at)
                    .bind(action)
                    .bind(serde_json::to_string(&entry)?)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("UPDATE kb_sso_audit_head SET checkpoint = $1 WHERE id = 1")
                    .bind(serde_json::to_string(&renewed)?)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(entry)
            }

            async fn checkpoint(&self) -> Result<$crate::audit::Checkpoint, Self::Error> {
                let checkpoint: String = sqlx::query_scalar("SELECT checkpoint FROM kb_sso_audit_head WHERE id = 1")
                    .fetch_one(&self.pool)
                    .await?;
                Ok(serde_json::from_str(&checkpoint)?)
            }

            async fn read(
                &self,
                _access: &$crate::audit::SecurityAuditAccess,
            ) -> Result<$crate::audit::AuditLog, Self::Error> {
                let mut tx = self.pool.begin_with($read).await?;
                let checkpoint: String = sqlx::query_scalar("SELECT checkpoint FROM kb_sso_audit_head WHERE id = 1")
                    .fetch_one(&mut *tx)
                    .await?;
                let rows: Vec<String> = sqlx::query_scalar("SELECT entry FROM kb_sso_audit_entry ORDER BY seq")
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                let entries = rows
                    .iter()
                    .map(|row| serde_json::from_str(row))
                    .collect::<Result<Vec<$crate::audit::AuditEntry>, _>>()?;
                Ok($crate::audit::AuditLog {
                    checkpoint: serde_json::from_str(&checkpoint)?,
                    entries,
                })
            }

            async fn query(
                &self,
                _access: &$crate::audit::SecurityAuditAccess,
                query: &$crate::audit::AuditQuery,
            ) -> Result<$crate::audit::AuditPage, Self::Error> {
                use $crate::store::sql_common::{filtered_actions, nanos, to_i64};
                let size = query.page_size();
                let mut sql = sqlx::QueryBuilder::new("SELECT entry FROM kb_sso_audit_entry WHERE seq < ");
                sql.push_bind(query.page_cursor().map_or(i64::MAX, |c| to_i64(c.seq())));
                if let Some(since) = query.since_time() {
                    sql.push(" AND at >= ").push_bind(nanos(since));
                }
                if let Some(until) = query.until_time() {
                    sql.push(" AND at < ").push_bind(nanos(until));
                }
                match filtered_actions(query.event_filter()) {
                    None => {}
                    Some(actions) if actions.is_empty() => {
                        sql.push(" AND 1 = 0");
                    }
                    Some(actions) => {
                        sql.push(" AND action IN (");
                        let mut list = sql.separated(", ");
                        for action in actions {
                            list.push_bind(action);
                        }
                        sql.push(")");
                    }
                }
                sql.push(" ORDER BY seq DESC LIMIT ")
                    .push_bind(to_i64(u64::try_from(size).unwrap_or(u64::MAX).saturating_add(1)));
                let rows: Vec<(String,)> = sql.build_query_as().fetch_all(&self.pool).await?;
                let more = rows.len() > size;
                let entries = rows
                    .iter()
                    .take(size)
                    .map(|(row,)| serde_json::from_str(row))
                    .collect::<Result<Vec<$crate::audit::AuditEntry>, _>>()?;
                let next_cursor = match entries.last() {
                    Some(last) if more => Some($crate::audit::AuditCursor::below(last.seq)),
                    _ => None,
                };
                Ok($crate::audit::AuditPage { entries, next_cursor })
            }

            async fn purge(&self, now: time::OffsetDateTime, retention: time::Duration) -> Result<usize, Self::Error> {
                use $crate::store::sql_common::{nanos, to_i64};
                let cutoff = nanos(now - retention.max($crate::audit::MIN_RETENTION));
                let mut tx = self.pool.begin_with($write).await?;
                let checkpoint: String = sqlx::query_scalar(concat!(
                    "SELECT checkpoint FROM kb_sso_audit_head WHERE id = 1",
                    $lock
                ))
                .fetch_one(&mut *tx)
                .await?;
                let checkpoint: $crate::audit::Checkpoint = serde_json::from_str(&checkpoint)?;
                // Everything before the oldest entry young enough to keep.
                let keep_from: Option<i64> =
                    sqlx::query_scalar("SELECT MIN(seq) FROM kb_sso_audit_entry WHERE at >= $1")
                        .bind(cutoff)
                        .fetch_one(&mut *tx)
                        .await?;
                let keep_from = keep_from.unwrap_or_else(|| to_i64(checkpoint.head().len()));
                let last_removed: Option<String> =
                    sqlx::query_scalar("SELECT entry FROM kb_sso_audit_entry WHERE seq < $1 ORDER BY seq DESC LIMIT 1")
                        .bind(keep_from)
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some(last_removed) = last_removed else {
                    return Ok(0);
                };
                let last_removed: $crate::audit::AuditEntry = serde_json::from_str(&last_removed)?;
                let removed = sqlx::query("DELETE FROM kb_sso_audit_entry WHERE seq < $1")
                    .bind(keep_from)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                let renewed = self.key.checkpoint(last_removed.head(), *checkpoint.head());
                sqlx::query("UPDATE kb_sso_audit_head SET checkpoint = $1 WHERE id = 1")
                    .bind(serde_json::to_string(&renewed)?)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(usize::try_from(removed).unwrap_or(usize::MAX))
            }
        }

        impl $crate::audit::Notifier for $store {
            type Error = $crate::store::sql_common::SqlError;

            async fn notify(&self, notification: $crate::audit::Notification) -> Result<(), Self::Error> {
                let state = $crate::audit::OutboxState::Pending;
                sqlx::query("INSERT INTO kb_sso_outbox (notification, state, due_at) VALUES ($1, $2, $3)")
                    .bind(serde_json::to_string(&notification)?)
                    .bind(serde_json::to_string(&state)?)
                    .bind($crate::store::sql_common::due_at(&state))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
        }

        impl $crate::audit::NotificationOutbox for $store {
            async fn list(&self, limit: usize) -> Result<Vec<$crate::audit::OutboxEntry>, Self::Error> {
                let rows: Vec<(i64, String, String)> =
                    sqlx::query_as("SELECT id, notification, state FROM kb_sso_outbox ORDER BY id DESC LIMIT $1")
                        .bind($crate::store::sql_common::to_i64(
                            u64::try_from(limit).unwrap_or(u64::MAX),
                        ))
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter()
                    .map($crate::store::sql_common::outbox_entry)
                    .collect()
            }

            async fn claim(
                &self,
                now: time::OffsetDateTime,
                lease: time::Duration,
                max: usize,
            ) -> Result<Vec<$crate::audit::OutboxEntry>, Self::Error> {
                use $crate::store::sql_common::{nanos, outbox_entry, to_i64};
                let mut tx = self.pool.begin_with($write).await?;
                let rows: Vec<(i64, String, String)> = sqlx::query_as(concat!(
                    "SELECT id, notification, state FROM kb_sso_outbox WHERE due_at <= $1 ORDER BY id LIMIT $2",
                    $skip
                ))
                .bind(nanos(now))
                .bind(to_i64(u64::try_from(max).unwrap_or(u64::MAX)))
                .fetch_all(&mut *tx)
                .await?;
                let mut claimed = Vec::with_capacity(rows.len());
                for row in rows {
                    let mut entry = outbox_entry(row)?;
                    // The rules are `OutboxEntry`'s; SQL only found candidates.
                    if entry.claim(now, lease) {
                        Self::put_outbox_state(&mut *tx, &entry).await?;
                        claimed.push(entry);
                    }
                }
                tx.commit().await?;
                Ok(claimed)
            }

            async fn mark_sent(
                &self,
                lease: $crate::audit::OutboxLease,
                now: time::OffsetDateTime,
            ) -> Result<bool, Self::Error> {
                self.report(lease, |entry| entry.mark_sent(lease, now)).await
            }

            async fn mark_failed(
                &self,
                lease: $crate::audit::OutboxLease,
                retry_at: time::OffsetDateTime,
            ) -> Result<bool, Self::Error> {
                self.report(lease, |entry| entry.mark_failed(lease, retry_at))
                    .await
            }
        }
    };
}
pub(crate) use sql_store;

/// The engine behind a store type, for the executor bounds of
/// [`sql_store`]'s helpers.
pub(crate) trait Engine {
    /// The sqlx database.
    type Db: sqlx::Database;
}

/// An outbox row (`id`, `notification`, `state`) as its entry.
///
/// # Errors
/// [`SqlError::Record`] or [`SqlError::OutOfRange`] for a row that does not
/// parse.
pub(crate) fn outbox_entry(
    (id, notification, state): (i64, String, String),
) -> Result<crate::audit::OutboxEntry, SqlError> {
    let id = crate::audit::OutboxId(to_u64(id)?);
    let mut entry = crate::audit::OutboxEntry::pending(id, serde_json::from_str(&notification)?);
    entry.state = serde_json::from_str(&state)?;
    Ok(entry)
}
