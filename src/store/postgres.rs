//! A project's configuration, audit log and notification outbox on
//! PostgreSQL, shared by many app instances (feature `postgres`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use kb_sso::CheckpointKey;
//! use kb_sso::store::postgres::PostgresStore;
//!
//! let key = CheckpointKey::new(&[7; 32])?; // from a secret manager
//! let store = Arc::new(PostgresStore::connect("postgres://kb@db.internal/kb", key).await?);
//! // `store` is the ConfigStore, the AuditSink and the NotificationOutbox.
//! # Ok(()) }
//! ```
//!
//! # Schema
//! The tables (the same as [`sqlite`](super::sqlite)'s) live in the schema
//! `kb_sso`, created at connect with the migrations' own bookkeeping, so
//! they share a database with the host's tables without touching them.
//!
//! # Many instances
//! - A save is one `UPDATE ... WHERE revision = $base`: of two instances
//!   saving from one revision, one wins and the other gets
//!   [`StaleRevision`](crate::StaleRevision). Each request reads the
//!   current revision, so a change made through one instance applies on
//!   every other from its next request.
//! - An audit append or purge locks the checkpoint row (`FOR UPDATE`):
//!   appends from every instance take turns, and the chain stays one line.
//! - An outbox claim takes its rows `FOR UPDATE SKIP LOCKED`: two workers
//!   never hold one notification at once.

use std::sync::Mutex;

use sqlx::ConnectOptions;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::sql_common::{Embedded, Engine, SqlError, sql_store};
use crate::audit::CheckpointKey;
use crate::project::{Project, ProjectSnapshot};

/// The schema migrations, oldest first.
const MIGRATIONS: Embedded = Embedded(&[(1, "init", include_str!("../../migrations/postgres/0001_init.sql"))]);

/// The schema that holds kb-sso's tables.
pub const SCHEMA: &str = "kb_sso";

/// The project, the audit log and the notification outbox on PostgreSQL:
/// implements [`ConfigStore`](crate::ConfigStore),
/// [`AuditSink`](crate::AuditSink), [`Notifier`](crate::Notifier) and
/// [`NotificationOutbox`](crate::NotificationOutbox).
///
/// One value serves all three over one connection pool; share it through
/// an `Arc`. [`current`](crate::ConfigStore::current) reads the revision
/// (one indexed read) and parses the project only when it moved.
pub struct PostgresStore {
    pool: PgPool,
    key: CheckpointKey,
    cache: Mutex<Option<ProjectSnapshot>>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Engine for PostgresStore {
    type Db = sqlx::Postgres;
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host/db`),
    /// brings the `kb_sso` schema up to date and, when it is new, stores
    /// [`Project::default()`] at revision 1. `key` signs the audit log's
    /// checkpoints: keep it outside the database.
    ///
    /// # Errors
    /// [`SqlError::Database`] for a bad URL or a database that cannot be
    /// reached; [`SqlError::Migrate`] for a schema written by a newer
    /// kb-sso.
    pub async fn connect(url: &str, key: CheckpointKey) -> Result<Self, SqlError> {
        Self::connect_with(url, key, Project::default()).await
    }

    /// [`connect`](Self::connect), storing `initial` at revision 1 when the
    /// database holds no project yet (an existing project is kept).
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub async fn connect_with(url: &str, key: CheckpointKey, initial: Project) -> Result<Self, SqlError> {
        let options: PgConnectOptions = url.parse()?;
        let options = options.options([("search_path", SCHEMA)]).disable_statement_logging();
        let pool = PgPoolOptions::new().max_connections(8).connect_with(options).await?;
        create_schema(&pool).await?;
        // The migrator takes an advisory lock: instances starting at once
        // migrate one after the other.
        Migrator::new(MIGRATIONS).await?.run(&pool).await?;
        let store = Self {
            pool,
            key,
            cache: Mutex::new(None),
        };
        store.seed(&initial).await?;
        Ok(store)
    }

    /// Closes the connections, waiting for statements under way.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Creates the `kb_sso` schema unless it exists. Two instances creating it
/// at once can collide on the catalog; the loser finds it made.
async fn create_schema(pool: &PgPool) -> Result<(), SqlError> {
    let create = format!("CREATE SCHEMA IF NOT EXISTS {SCHEMA}");
    match sqlx::query(&create).execute(pool).await {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(e)) if matches!(e.code().as_deref(), Some("23505" | "42P06")) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

sql_store!(
    PostgresStore,
    write = "BEGIN",
    read = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    lock = " FOR UPDATE",
    skip = " FOR UPDATE SKIP LOCKED"
);
