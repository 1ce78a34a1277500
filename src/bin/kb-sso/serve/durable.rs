//! Where the reference server keeps its project, audit log and
//! notification outbox (`kb_server --db`), the audit checkpoint key
//! (`--audit-key-file`), and the SMTP delivery of the outbox (`--smtp`).
//!
//! - `--db memory`: everything in memory, lost at exit.
//! - `--db sqlite:PATH`: one SQLite file (feature `sqlite`); the default
//!   with `--project FILE` is `FILE.db` beside it.
//! - `--db postgres://...`: PostgreSQL (feature `postgres`), for several
//!   instances serving one project.
//!
//! The project file (or, without one, an empty project) seeds a database
//! only when it holds no project yet; afterwards the database is the
//! source of truth and the file is not read again.
//!
//! The key that signs the audit log's checkpoints never lives in the
//! database: it is a file of its own (64 hex digits, mode 0600), by default
//! `PATH.audit-key` beside a SQLite file. A missing key file is made; a
//! key file readable by its group or others is refused. At start the whole
//! audit log is checked against the key, so a key that is not the
//! database's is refused too (and a key file made for it is removed).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kb_sso::Principal;
use kb_sso::store::memory::{MemoryAuditSink, MemoryConfigStore, MemoryOutbox};
use kb_sso::store::{ArcAuditSink, ArcConfigStore, ArcNotificationOutbox};
use kb_sso::{AuditSink, CheckpointKey, ConfigStore, Project};

/// Where the project, audit log and outbox live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Db {
    /// In memory, lost at exit.
    Memory,
    /// One SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database (its URL).
    Postgres(String),
}

impl Db {
    /// Parses `memory`, `sqlite:PATH` (or `sqlite://PATH`) or
    /// `postgres://...` (or `postgresql://...`).
    ///
    /// # Errors
    /// A message for anything else.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        if text == "memory" {
            return Ok(Self::Memory);
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(Self::Postgres(text.to_owned()));
        }
        let path = text
            .strip_prefix("sqlite://")
            .or_else(|| text.strip_prefix("sqlite:"))
            .filter(|p| !p.is_empty());
        match path {
            Some(path) => Ok(Self::Sqlite(PathBuf::from(path))),
            None => Err(format!(
                "not a database: {text} (expected sqlite:PATH, postgres://... or memory)"
            )),
        }
    }

    /// The default: `PROJECT.db` beside a project file, else memory.
    pub(crate) fn default_for(project: Option<&Path>) -> Self {
        match project {
            Some(file) => {
                let mut path = file.as_os_str().to_owned();
                path.push(".db");
                Self::Sqlite(PathBuf::from(path))
            }
            None => Self::Memory,
        }
    }

    /// How the database is named in messages (a PostgreSQL URL without
    /// its password).
    pub(crate) fn shown(&self) -> String {
        match self {
            Self::Memory => "memory".to_owned(),
            Self::Sqlite(path) => format!("sqlite:{}", path.display()),
            Self::Postgres(url) => match url::Url::parse(url) {
                Ok(mut parsed) => {
                    if parsed.password().is_some() {
                        let _ = parsed.set_password(Some("***"));
                    }
                    parsed.to_string()
                }
                Err(_) => "postgres://(unparsable URL)".to_owned(),
            },
        }
    }

    /// The key file used when `--audit-key-file` is not given: beside a
    /// SQLite file; none in memory (a fresh key each start).
    ///
    /// # Errors
    /// For PostgreSQL, whose instances must share one key.
    fn default_key_file(&self) -> Result<Option<PathBuf>, String> {
        match self {
            Self::Memory => Ok(None),
            Self::Sqlite(path) => {
                let mut key = path.as_os_str().to_owned();
                key.push(".audit-key");
                Ok(Some(PathBuf::from(key)))
            }
            Self::Postgres(_) => Err(
                "--db postgres://... needs --audit-key-file FILE (every instance on the database uses the same key)"
                    .to_owned(),
            ),
        }
    }
}

/// The project, audit log and outbox of one server, as trait objects.
#[derive(Clone)]
pub(crate) struct Stores {
    pub(crate) configs: ArcConfigStore,
    pub(crate) audit: ArcAuditSink,
    pub(crate) outbox: ArcNotificationOutbox,
}

impl Stores {
    /// All three in memory.
    pub(crate) fn memory(project: Project, key: CheckpointKey) -> Self {
        Self {
            configs: Arc::new(MemoryConfigStore::new(project)),
            audit: Arc::new(MemoryAuditSink::new(key)),
            outbox: Arc::new(MemoryOutbox::default()),
        }
    }

    /// All three in one value (a SQLite or PostgreSQL store).
    fn one<S>(store: S) -> Self
    where
        S: kb_sso::ConfigStore + kb_sso::AuditSink + kb_sso::NotificationOutbox + 'static,
    {
        let store = Arc::new(store);
        Self {
            configs: store.clone(),
            audit: store.clone(),
            outbox: store,
        }
    }
}

/// What [`open`] found.
pub(crate) struct Opened {
    pub(crate) stores: Stores,
    /// The database already held a project other than `initial`, which was
    /// therefore not applied.
    pub(crate) kept_existing: bool,
    /// A key file made at this start.
    pub(crate) new_key_file: Option<PathBuf>,
}

/// Opens `db` with the audit key from `key_file` (or the database's
/// default key file), storing `initial` when the database holds no project
/// yet, and checks the stored audit log against the key.
///
/// # Errors
/// A message naming the problem, for `kb_server` to print before exiting
/// with status 2: a database file that is not kb-sso's (it is left
/// unchanged), an unreachable database, a key file that is unreadable,
/// malformed, readable by others, or not the database's.
pub(crate) async fn open(db: &Db, key_file: Option<&Path>, initial: Project) -> Result<Opened, String> {
    let key_file = match key_file {
        Some(path) => Some(path.to_path_buf()),
        None => db.default_key_file()?,
    };
    let (key, created) = match &key_file {
        Some(path) => load_or_create_key(path)?,
        None => (fresh_key()?, false),
    };
    let unmake = |message: String| {
        if created && let Some(path) = &key_file {
            let _ = std::fs::remove_file(path);
        }
        message
    };
    let stores = match open_stores(db, key.clone(), initial.clone()).await {
        Ok(stores) => stores,
        Err(message) => return Err(unmake(message)),
    };
    if let Err(message) = check_audit_log(&stores, &key).await {
        let file = key_file
            .as_deref()
            .map_or_else(String::new, |p| p.display().to_string());
        let hint = if created {
            format!(" (the key file {file} was missing: restore it)")
        } else {
            format!(" (is {file} this database's key?)")
        };
        return Err(unmake(format!("{}: {message}{hint}", db.shown())));
    }
    let kept_existing = match stores.configs.current().await {
        Ok(current) => serde_json::to_value(&*current.project).ok() != serde_json::to_value(&initial).ok(),
        Err(e) => return Err(unmake(format!("{}: {e}", db.shown()))),
    };
    Ok(Opened {
        stores,
        kept_existing,
        new_key_file: key_file.filter(|_| created),
    })
}

/// The stores of `db`, opened with `key`, seeded with `initial` when empty.
async fn open_stores(db: &Db, key: CheckpointKey, initial: Project) -> Result<Stores, String> {
    match db {
        Db::Memory => Ok(Stores::memory(initial, key)),
        Db::Sqlite(path) => open_sqlite(path, key, initial).await,
        Db::Postgres(url) => connect_postgres(url, key, initial)
            .await
            .map_err(|e| format!("{}: {e}", db.shown())),
    }
}

#[cfg(feature = "sqlite")]
async fn open_sqlite(path: &Path, key: CheckpointKey, initial: Project) -> Result<Stores, String> {
    kb_sso::store::sqlite::SqliteStore::open_with(path, key, initial)
        .await
        .map(Stores::one)
        .map_err(|e| format!("--db sqlite:{}: {e}", path.display()))
}

#[cfg(not(feature = "sqlite"))]
async fn open_sqlite(_path: &Path, _key: CheckpointKey, _initial: Project) -> Result<Stores, String> {
    Err("--db sqlite:...: this build has no SQLite support (build with --features sqlite)".to_owned())
}

#[cfg(feature = "postgres")]
async fn connect_postgres(url: &str, key: CheckpointKey, initial: Project) -> Result<Stores, String> {
    kb_sso::store::postgres::PostgresStore::connect_with(url, key, initial)
        .await
        .map(Stores::one)
        .map_err(|e| e.to_string())
}

#[cfg(not(feature = "postgres"))]
async fn connect_postgres(_url: &str, _key: CheckpointKey, _initial: Project) -> Result<Stores, String> {
    Err("this build has no PostgreSQL support (build with --features postgres)".to_owned())
}

/// Reads the whole audit log and verifies it against its checkpoint with
/// `key`.
async fn check_audit_log(stores: &Stores, key: &CheckpointKey) -> Result<(), String> {
    let access = Principal {
        id: "kb_server start-up check".to_owned(),
        security_audit: true,
    }
    .security_audit_access()
    .ok_or_else(|| "no audit access".to_owned())?;
    let log = stores.audit.read(&access).await.map_err(|e| e.to_string())?;
    log.verify(key)
        .map_err(|e| format!("the audit log does not verify with the audit key: {e}"))
}

fn fresh_key() -> Result<CheckpointKey, String> {
    CheckpointKey::new(CheckpointKey::generate_key().as_ref()).map_err(|e| e.to_string())
}

/// The key in `path`, or a fresh one written to `path` (mode 0600) when
/// there is no such file; answers whether it was made.
fn load_or_create_key(path: &Path) -> Result<(CheckpointKey, bool), String> {
    let shown = path.display();
    match std::fs::metadata(path) {
        Ok(meta) => {
            refuse_shared(path, &meta)?;
            let text = zeroize::Zeroizing::new(
                std::fs::read_to_string(path).map_err(|e| format!("--audit-key-file {shown}: {e}"))?,
            );
            let bytes = zeroize::Zeroizing::new(
                decode_hex(text.trim())
                    .ok_or_else(|| format!("--audit-key-file {shown}: not a key (expected 64 hex digits)"))?,
            );
            let key = CheckpointKey::new(&bytes).map_err(|e| format!("--audit-key-file {shown}: {e}"))?;
            Ok((key, false))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let raw = CheckpointKey::generate_key();
            let key = CheckpointKey::new(raw.as_ref()).map_err(|e| e.to_string())?;
            let text = zeroize::Zeroizing::new(format!("{}\n", encode_hex(raw.as_ref())));
            match write_private(path, text.as_bytes()) {
                Ok(()) => Ok((key, true)),
                // Another instance starting beside this one made it first.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create_key(path),
                Err(e) => Err(format!("--audit-key-file {shown}: {e}")),
            }
        }
        Err(e) => Err(format!("--audit-key-file {shown}: {e}")),
    }
}

/// Refuses a key file that its group or others may read or write.
#[cfg(unix)]
fn refuse_shared(path: &Path, meta: &std::fs::Metadata) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "--audit-key-file {}: mode {mode:03o} lets its group or others read it; chmod 600 it",
            path.display()
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn refuse_shared(_path: &Path, _meta: &std::fs::Metadata) -> Result<(), String> {
    Ok(())
}

/// Writes a new file (never replacing one) that only its owner may read,
/// whole or not at all: the bytes go to a temporary file first, which is
/// then linked to `path` (failing with `AlreadyExists` if it exists).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}.tmp", std::process::id()));
    let temporary = PathBuf::from(temporary);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&temporary).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&temporary, path));
    let _ = std::fs::remove_file(&temporary);
    linked
}

fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| text.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
        .collect()
}

/// Who receives the outbox's emails (`--admin-email`, `--owner-email`).
#[derive(Debug, Clone, Default)]
pub(crate) struct MailDirectory {
    pub(crate) admins: Vec<String>,
    pub(crate) owners: Vec<String>,
}

/// Delivers `outbox` through the SMTP server at `url` every `every`, from
/// `from` to the directory's addresses (the project's admins; for
/// notifications to admins and owners, the owners too). Checks everything
/// before returning the worker to spawn.
///
/// # Errors
/// A message for a bad URL or address, or an empty directory.
#[cfg(feature = "email")]
pub(crate) fn mailer(
    outbox: ArcNotificationOutbox,
    url: &str,
    from: &str,
    directory: &MailDirectory,
    every: std::time::Duration,
) -> Result<impl std::future::Future<Output = ()> + Send + 'static, String> {
    use kb_sso::Recipients;
    use kb_sso::store::email::{Mailbox, OutboxMailer};
    let parse = |flag: &str, list: &[String]| -> Result<Vec<Mailbox>, String> {
        list.iter()
            .map(|a| a.parse::<Mailbox>().map_err(|e| format!("{flag} {a}: {e}")))
            .collect()
    };
    let admins = parse("--admin-email", &directory.admins)?;
    let owners = parse("--owner-email", &directory.owners)?;
    if admins.is_empty() {
        return Err("--smtp needs at least one --admin-email".to_owned());
    }
    let from: Mailbox = from.parse().map_err(|e| format!("--mail-from {from}: {e}"))?;
    let book = move |who: Recipients| -> Vec<Mailbox> {
        let mut to = admins.clone();
        if who == Recipients::ProjectAdminsAndOwners {
            to.extend(owners.iter().cloned());
        }
        to
    };
    let mailer = OutboxMailer::new(outbox, book, url, from).map_err(|e| format!("--smtp: {e}"))?;
    Ok(async move {
        loop {
            if let Err(e) = mailer.run_once(time::OffsetDateTime::now_utc()).await {
                eprintln!("email delivery: {e}");
            }
            tokio::time::sleep(every).await;
        }
    })
}

/// Without the `email` feature there is no SMTP delivery.
#[cfg(not(feature = "email"))]
pub(crate) fn mailer(
    _outbox: ArcNotificationOutbox,
    _url: &str,
    _from: &str,
    _directory: &MailDirectory,
    _every: std::time::Duration,
) -> Result<std::future::Ready<()>, String> {
    Err("--smtp: this build has no email support (build with --features email)".to_owned())
}
