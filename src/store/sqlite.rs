//! The embedded default: a project's configuration, audit log and
//! notification outbox in one SQLite file (feature `sqlite`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use kb_sso::CheckpointKey;
//! use kb_sso::store::sqlite::SqliteStore;
//!
//! let key = CheckpointKey::new(&[7; 32])?; // from a secret manager
//! let store = Arc::new(SqliteStore::open("kb-sso.db", key).await?);
//! // `store` is the ConfigStore, the AuditSink and the NotificationOutbox.
//! # Ok(()) }
//! ```
//!
//! # What is stored
//! - `kb_sso_project`: the [`Project`] as one JSON document (settings, JWT
//!   configurations with their secrets' digests, handshake settings, the
//!   widget project, SSO providers) and its revision. A save is one
//!   `UPDATE ... WHERE revision = $base`.
//! - `kb_sso_audit_entry`: one row per [`AuditEntry`](crate::audit::AuditEntry);
//!   `kb_sso_audit_head`: the signed checkpoint, a row of its own.
//! - `kb_sso_outbox`: the notifications and where their delivery stands.
//!
//! The file is in WAL mode, so readers never wait for a writer. Writers
//! that must see the latest state (an audit append, a purge, an outbox
//! claim or report) begin with `BEGIN IMMEDIATE`, which takes the file's
//! write lock at once: two store values on one file, in one process or
//! two, append to one chain and never hand out one notification twice.
//!
//! # Opening
//! [`SqliteStore::open`] creates the file if it does not exist and brings
//! its schema up to date (migrations compiled into the crate). A file that
//! is not a SQLite database, is damaged, or holds another application's
//! tables is refused with [`SqlError`] before anything is written to it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use tokio::io::AsyncReadExt;

use super::sql_common::{Embedded, Engine, SqlError, sql_store};
use crate::audit::CheckpointKey;
use crate::project::{Project, ProjectSnapshot};

/// The schema migrations, oldest first.
const MIGRATIONS: Embedded = Embedded(&[(1, "init", include_str!("../../migrations/sqlite/0001_init.sql"))]);

/// `PRAGMA application_id` of a kb-sso database: `kbss`.
const APPLICATION_ID: i64 = 0x6B62_7373;

/// The first 16 bytes of every SQLite database file.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// How long a statement waits for another writer's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The project, the audit log and the notification outbox in one SQLite
/// file: implements [`ConfigStore`](crate::ConfigStore),
/// [`AuditSink`](crate::AuditSink), [`Notifier`](crate::Notifier) and
/// [`NotificationOutbox`](crate::NotificationOutbox).
///
/// One value serves all three over one connection pool; share it through
/// an `Arc` (every store trait is implemented for `Arc<T>`). The code
/// store, replay cache and revocations stay in memory or on Redis.
///
/// [`current`](crate::ConfigStore::current) reads the revision (one
/// indexed read) and parses the project only when the revision moved since
/// the last read.
pub struct SqliteStore {
    pool: SqlitePool,
    key: CheckpointKey,
    cache: Mutex<Option<ProjectSnapshot>>,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Engine for SqliteStore {
    type Db = sqlx::Sqlite;
}

impl SqliteStore {
    /// Opens (or creates) the database at `path`, brings its schema up to
    /// date and, when it is new, stores [`Project::default()`] as the first
    /// revision. `key` signs the audit log's checkpoints: keep it outside
    /// the database.
    ///
    /// # Errors
    /// [`SqlError::NotADatabase`], [`SqlError::Corrupt`] or
    /// [`SqlError::Foreign`] for a file that is not a kb-sso database (it
    /// is left unchanged); [`SqlError::Migrate`] for a schema written by a
    /// newer kb-sso; [`SqlError::Database`] when the file cannot be opened
    /// or written.
    pub async fn open(path: impl AsRef<Path>, key: CheckpointKey) -> Result<Self, SqlError> {
        Self::open_with(path, key, Project::default()).await
    }

    /// [`open`](Self::open), storing `initial` at revision 1 when the
    /// database holds no project yet (an existing project is kept).
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub async fn open_with(path: impl AsRef<Path>, key: CheckpointKey, initial: Project) -> Result<Self, SqlError> {
        let path = path.as_ref().to_path_buf();
        check_file(&path).await?;
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .disable_statement_logging();
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        let mut migrator = Migrator::new(MIGRATIONS).await?;
        // Writers serialize on the file's lock anyway.
        migrator.set_locking(false);
        migrator.run(&pool).await?;
        let store = Self {
            pool,
            key,
            cache: Mutex::new(None),
            path,
        };
        store.seed(&initial).await?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes the connections, waiting for statements under way.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

sql_store!(
    SqliteStore,
    write = "BEGIN IMMEDIATE",
    read = "BEGIN",
    lock = "",
    skip = ""
);

/// Refuses, without writing to it, a file at `path` that is not a SQLite
/// database, is damaged, or is another application's. A missing or empty
/// file passes (it becomes a new database).
async fn check_file(path: &Path) -> Result<(), SqlError> {
    let shown = path.display().to_string();
    let mut file = match tokio::fs::File::open(path).await {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(SqlError::Database(Box::new(e))),
    };
    let mut header = Vec::with_capacity(100);
    (&mut file)
        .take(100)
        .read_to_end(&mut header)
        .await
        .map_err(|e| SqlError::Database(Box::new(e)))?;
    if header.is_empty() {
        return Ok(());
    }
    if header.len() < 100 || !header.starts_with(SQLITE_MAGIC) {
        return Err(SqlError::NotADatabase { path: shown });
    }
    drop(file);
    let application_id = header
        .get(68..72)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, |b| i64::from(u32::from_be_bytes(b)));
    if application_id != 0 && application_id != APPLICATION_ID {
        return Err(SqlError::Foreign { path: shown });
    }
    let corrupt = |e: sqlx::Error| match &e {
        sqlx::Error::Database(db) if is_corruption(db.code().as_deref()) => SqlError::Corrupt {
            path: shown.clone(),
            detail: db.message().to_owned(),
        },
        _ => SqlError::from(e),
    };
    // Nothing is written: with no write-ahead log beside it the file is
    // opened as immutable (no lock, no shared-memory file); with one,
    // read-only, so that the log's committed pages are read too.
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let has_wal = tokio::fs::try_exists(&wal).await.unwrap_or(true);
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .immutable(!has_wal)
        .disable_statement_logging();
    let mut conn = options.connect().await.map_err(corrupt)?;
    // The header in the file may be older than the log's pages.
    let application_id: i64 = sqlx::query_scalar("PRAGMA application_id")
        .fetch_one(&mut conn)
        .await
        .map_err(corrupt)?;
    let tables: i64 = sqlx::query_scalar("SELECT count(*) FROM sqlite_schema")
        .fetch_one(&mut conn)
        .await
        .map_err(corrupt)?;
    // A kb-sso database gets its application id with its first tables, in
    // one transaction: tables without it are another application's.
    if application_id != APPLICATION_ID && (application_id != 0 || tables > 0) {
        let _ = sqlx::Connection::close(conn).await;
        return Err(SqlError::Foreign { path: shown });
    }
    let check: Vec<String> = sqlx::query_scalar("PRAGMA quick_check")
        .fetch_all(&mut conn)
        .await
        .map_err(corrupt)?;
    let _ = sqlx::Connection::close(conn).await;
    if check.iter().any(|line| line != "ok") {
        return Err(SqlError::Corrupt {
            path: shown,
            detail: check.join("; "),
        });
    }
    Ok(())
}

/// Whether a SQLite result code (primary or extended) is `SQLITE_CORRUPT`
/// (11) or `SQLITE_NOTADB` (26).
fn is_corruption(code: Option<&str>) -> bool {
    code.and_then(|c| c.parse::<i64>().ok())
        .is_some_and(|c| matches!(c & 0xff, 11 | 26))
}
