//! The reference KB server: identity server and KB site in one process.
//!
//! ```text
//! cargo run --example kb_server -- [--listen ADDR] [--login-url URL]
//! ```
//!
//! `--login-url` (the demo configuration's) and `--project` exclude each
//! other: a project file sets its configurations' login URLs. When nothing
//! answers at the demo's login URL, stderr says so and how to start
//! `customer_app` there.
//!
//! With `--project FILE` it serves the project in FILE (see
//! `kb_sso::project_file::ProjectFile`; secrets in the file are for development only), and
//! a file that breaks a rule makes it exit with status 2, naming the field.
//! Without it, it creates a demo project with one enabled JWT configuration
//! and, when ready, prints one JSON line to stdout:
//! `{"listening":"http://127.0.0.1:PORT","client_id":"...","primary_secret":"...","secondary_secret":"...","login_url":"..."}`.
//! It speaks HTTP/1.1 and cleartext HTTP/2 (prior knowledge) on one port.
//!
//! Its pages are `/` and `/docs/...`, private unless the project's
//! `settings.visibility` opens them (`public`, or `mixed` with
//! `public_paths`); `?code=` and `?jwt=` are taken on any of them. Signing
//! out without a logout URL ends on `/jwt/signed-out`. The widget API,
//! `GET /api/widget/articles` with `Authorization: Bearer <widget access
//! token>`, answers the demo articles the token's reader groups may read.
//!
//! `--redis URL` (feature `redis`) keeps one-time codes, handshake `jti`s,
//! revoked sessions (pushed to every instance by pub/sub) and the
//! brute-force limiter's counts in Redis, so that several instances serving
//! the same project file act as one. `--max-failed-auth N` and
//! `--max-failed-redemptions N` set the brute-force limits (per minute;
//! defaults 20 and 120).
//!
//! `--keys FILE` signs tokens and session cookies with the key ring in FILE
//! (`kb_sso::keys::KeyRing`; refused when the group or others may read it),
//! else with the ring in the environment variable `KB_SSO_KEYS` (the file's
//! JSON text), else with keys made fresh at start (one instance only).
//! Instances behind one load balancer need the same ring.
//! `--new-keys FILE` writes a fresh ring to a new file (mode 0600) and exits;
//! `--rotate-keys FILE` makes each half's next key (already accepted by
//! every instance) current, adds a new next key, keeps the previous keys
//! (until what they signed has expired) and exits: then restart the
//! instances one by one.
//!
//! The admin API is served at `/api/admin` behind `Authorization: Bearer`
//! tokens. `--admin-token-file FILE` lists the administrators
//! (`{"admins":[{"name":"...","token_sha256":"<hex>","roles":["admin","owner","security_audit"]}]}`);
//! without it a demo admin token with every role is made and the ready line
//! shows it as `"admin_token"`.
//!
//! `--db` chooses where the project, the audit log and the notification
//! outbox live (see `common::durable`): `sqlite:PATH` (the default with
//! `--project FILE` is `FILE.db`), `postgres://...` (feature `postgres`; all
//! instances on one database share the project) or `memory` (the default
//! without `--project`). A database is seeded from the project file (or an
//! empty project) only while it holds none; afterwards it is the source of
//! truth. The audit log's checkpoint key is read from `--audit-key-file`
//! (default `PATH.audit-key` beside a SQLite file; made with mode 0600 when
//! missing; a file its group or others may read is refused). A database
//! file that is not kb-sso's, or a key that is not the database's, makes it
//! exit with status 2, naming the problem, the file unchanged.
//!
//! `--smtp smtp://[user:password@]host[:port]` (feature `email`) delivers the
//! outbox by email every second, to `--admin-email` addresses (and
//! `--owner-email` ones for the notifications owners get), from
//! `--mail-from`.

mod common;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use common::durable::{self, Db, MailDirectory};
use kb_sso::keys::{KeyRing, KeyRingError};
use kb_sso::server::admin::AdminTokens;
use kb_sso::{CheckpointKey, Limit, SystemClock};
use time::OffsetDateTime;

/// kb_server: the reference KB server (identity server and KB site in one
/// process).
///
/// When ready it prints one JSON line: {"listening":"http://ADDR", ...}
/// with the demo project's client id and secrets (and "admin_token" when
/// no --admin-token-file is given). Ctrl-C stops it.
#[derive(Debug, Parser)]
#[command(name = "kb_server", about, long_about)]
struct Cli {
    /// Address to listen on, HOST:PORT (a name such as localhost is
    /// looked up; port 0 picks one).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: String,
    /// The demo configuration's login URL: where the KB sends readers to
    /// sign in (`cargo run --example customer_app -- --kb ...` listens at
    /// the default). A project file sets its own.
    #[arg(long, value_name = "URL", default_value = common::server::DEFAULT_LOGIN_URL, conflicts_with = "project")]
    login_url: String,
    /// Serve the project in FILE instead of a demo project (exit 2 naming
    /// the field when it breaks a rule).
    #[arg(long, value_name = "FILE")]
    project: Option<PathBuf>,
    /// Share codes, handshake jtis, revocations and the brute-force limits
    /// through Redis (feature redis).
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// Failed client authentications a minute per client and address.
    #[arg(long, value_name = "N", value_parser = per_minute, default_value = "20")]
    max_failed_auth: Limit,
    /// Failed back-channel redemptions a minute per address.
    #[arg(long, value_name = "N", value_parser = per_minute, default_value = "120")]
    max_failed_redemptions: Limit,
    /// The admin API's administrators: names, SHA-256 of their bearer
    /// tokens, roles (without it a demo admin token is made and shown).
    #[arg(long, value_name = "FILE")]
    admin_token_file: Option<PathBuf>,
    /// Sign tokens and sessions with the key ring in FILE (mode 0600; else
    /// the ring in $KB_SSO_KEYS, else fresh keys for this instance only).
    #[arg(long, value_name = "FILE")]
    keys: Option<PathBuf>,
    /// Write a fresh key ring to FILE (a new file, mode 0600) and exit.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["keys", "rotate_keys"])]
    new_keys: Option<PathBuf>,
    /// Put a new current key in front of the key ring in FILE, keeping the
    /// previous keys, and exit; then restart the instances one by one.
    #[arg(long, value_name = "FILE", conflicts_with = "keys")]
    rotate_keys: Option<PathBuf>,
    /// Where the project, audit log and notification outbox live:
    /// sqlite:PATH, postgres://USER@HOST/DB (feature postgres) or memory.
    /// Default: sqlite:FILE.db beside the --project FILE; memory without
    /// --project. A database is seeded from the project file (or an empty
    /// project) only while it holds no project; afterwards the database is
    /// the source of truth.
    #[arg(long, value_name = "DB", value_parser = Db::parse)]
    db: Option<Db>,
    /// The key that signs the audit log's checkpoints (64 hex digits, mode
    /// 0600; made when missing, refused when its group or others may read
    /// it). Default: DB.audit-key beside a SQLite file; required with
    /// PostgreSQL (every instance uses the same key); a fresh key per start
    /// in memory.
    #[arg(long, value_name = "FILE")]
    audit_key_file: Option<PathBuf>,
    /// Deliver the notification outbox by email through this SMTP server,
    /// every second: smtp://[user:password@]host[:port] (feature email).
    #[arg(long, value_name = "URL", requires = "admin_email")]
    smtp: Option<String>,
    /// An administrator's email address: gets every notification (repeat
    /// for several).
    #[arg(long, value_name = "ADDR")]
    admin_email: Vec<String>,
    /// An owner's email address: gets the notifications for admins and
    /// owners (repeat for several).
    #[arg(long, value_name = "ADDR")]
    owner_email: Vec<String>,
    /// The sender of notification emails.
    #[arg(long, value_name = "ADDR", default_value = "kb-sso <kb-sso@localhost>")]
    mail_from: String,
}

/// How often the outbox is delivered by email.
const MAIL_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// A limit of N a minute, N at least 1.
fn per_minute(text: &str) -> Result<Limit, String> {
    text.parse()
        .ok()
        .and_then(|n| Limit::per_minute(n).ok())
        .ok_or_else(|| format!("not a positive number: {text}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    // Help exits 0; a usage error prints the usage and exits 2.
    let cli = Cli::parse();
    if let Some(path) = &cli.new_keys {
        return keys_command(KeyRing::generate(OffsetDateTime::now_utc()).and_then(|ring| {
            ring.write_new(path)?;
            Ok(ring)
        }));
    }
    if let Some(path) = &cli.rotate_keys {
        return keys_command(KeyRing::load(path).and_then(|mut ring| {
            ring.rotate(OffsetDateTime::now_utc())?;
            ring.replace(path)?;
            Ok(ring)
        }));
    }
    let keys = match &cli.keys {
        Some(path) => KeyRing::load(path).map(Some),
        None => KeyRing::from_env(),
    };
    let keys = match keys {
        Ok(keys) => keys,
        Err(e) => return fail(&format!("--keys: {e}")),
    };
    let listen = match resolve(&cli.listen).await {
        Ok(addr) => addr,
        Err(message) => return fail(&message),
    };
    let limits = kb_sso::Limits {
        failed_auth: cli.max_failed_auth,
        failed_redemption: cli.max_failed_redemptions,
    };
    let mut options = common::server::Options {
        limits,
        keys,
        ..common::server::Options::default()
    };
    if let Some(path) = &cli.admin_token_file {
        match AdminTokens::load(path) {
            Ok(tokens) => options.admin_tokens = Some(tokens),
            Err(e) => return fail(&format!("--admin-token-file: {e}")),
        }
    }
    if let Some(url) = cli.redis
        && let Err(message) = use_redis(&url, &mut options).await
    {
        return fail(&message);
    }
    let loaded = match &cli.project {
        Some(path) => match common::server::load_project_file(&path.to_string_lossy()) {
            Ok(loaded) => Some(loaded),
            Err(message) => return fail(&message),
        },
        None => None,
    };
    let db = cli.db.unwrap_or_else(|| Db::default_for(cli.project.as_deref()));
    // A database holds the project; the demo project lives in memory.
    let loaded = match (loaded, &db) {
        (None, Db::Memory) => None,
        (loaded, _) => {
            let loaded = loaded.unwrap_or_else(|| common::server::LoadedProject {
                kb_url: None,
                project: kb_sso::Project::default(),
            });
            let opened = match durable::open(&db, cli.audit_key_file.as_deref(), loaded.project.clone()).await {
                Ok(opened) => opened,
                Err(message) => return fail(&message),
            };
            if let Some(path) = &opened.new_key_file {
                eprintln!("kb_server: made the audit key file {}", path.display());
            }
            if opened.kept_existing && cli.project.is_some() {
                eprintln!(
                    "kb_server: {} already holds a project; the project file was not applied",
                    db.shown()
                );
            }
            options.stores = Some(opened.stores);
            Some(loaded)
        }
    };
    let mail = match &cli.smtp {
        Some(url) => {
            let directory = MailDirectory {
                admins: cli.admin_email.clone(),
                owners: cli.owner_email.clone(),
            };
            let outbox = match &options.stores {
                Some(stores) => stores.outbox.clone(),
                None => match memory_stores(loaded.as_ref()) {
                    Ok(stores) => options.stores.insert(stores).outbox.clone(),
                    Err(message) => return fail(&message),
                },
            };
            match durable::mailer(outbox, url, &cli.mail_from, &directory, MAIL_EVERY) {
                Ok(worker) => Some(worker),
                Err(message) => return fail(&message),
            }
        }
        None => None,
    };
    let started = match loaded {
        Some(loaded) => common::server::start_project_with(listen, loaded, SystemClock, options).await,
        None => common::server::start_demo_with(listen, &cli.login_url, SystemClock, options).await,
    };
    let running = match started {
        Ok(r) => r,
        Err(e) => return fail(&format!("kb_server: {e}")),
    };
    if let Some(worker) = mail {
        tokio::spawn(worker);
    }
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{}", running.ready_line())
        .and_then(|()| out.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    drop(out);
    if !running.from_file {
        warn_if_nobody_listens(&cli.login_url, &running.base, &running.project).await;
    }
    let _ = tokio::signal::ctrl_c().await;
    running.stop().await;
    ExitCode::SUCCESS
}

/// The end of `--new-keys` and `--rotate-keys`: the key ids on stdout (never
/// a secret), or the error.
fn keys_command(result: Result<KeyRing, KeyRingError>) -> ExitCode {
    match result {
        Ok(ring) => {
            let line = serde_json::json!({
                "token_kids": ring.token_kids(),
                "session_key_ids": ring.session_key_ids(),
            });
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&format!("kb_server: {e}")),
    }
}

/// Codes, handshake `jti`s, revoked sessions and failed-attempt counts
/// shared through the Redis at `url`.
#[cfg(feature = "redis")]
async fn use_redis(url: &str, options: &mut common::server::Options) -> Result<(), String> {
    use kb_sso::store::redis::{
        RedisCodeStore, RedisConnection, RedisRateLimiter, RedisReplayCache, RedisSessionRevocations,
    };
    let connection = RedisConnection::connect(url)
        .await
        .map_err(|e| format!("--redis: {e}"))?;
    options.codes = Box::new(RedisCodeStore::new(connection.clone()));
    options.limiter = Box::new(RedisRateLimiter::new(connection.clone()));
    options.revocations = Box::new(RedisSessionRevocations::new(connection.clone()).subscribe());
    options.replay = Some(Box::new(RedisReplayCache::new(connection)));
    Ok(())
}

/// Without the `redis` feature there is no Redis store.
#[cfg(not(feature = "redis"))]
async fn use_redis(_url: &str, _options: &mut common::server::Options) -> Result<(), String> {
    Err("--redis: this build has no Redis support (build with --features redis)".to_owned())
}

/// The stores in memory, holding the project file's project (the demo
/// project keeps its own store; only the audit log and outbox are used).
fn memory_stores(loaded: Option<&common::server::LoadedProject>) -> Result<durable::Stores, String> {
    let project = loaded.map(|l| l.project.clone()).unwrap_or_default();
    let key = CheckpointKey::new(CheckpointKey::generate_key().as_ref()).map_err(|e| e.to_string())?;
    Ok(durable::Stores::memory(project, key))
}

/// The first address `text` (HOST:PORT) names.
async fn resolve(text: &str) -> Result<SocketAddr, String> {
    tokio::net::lookup_host(text)
        .await
        .map_err(|e| format!("--listen {text}: {e}"))?
        .next()
        .ok_or_else(|| format!("--listen {text}: names no address"))
}

/// Says on stderr when nothing answers at the demo configuration's login
/// URL, where every reader is sent to sign in, and how to start the
/// customer app there.
async fn warn_if_nobody_listens(login_url: &str, kb: &str, demo: &common::server::DemoProject) {
    let Some(target) = url::Url::parse(login_url)
        .ok()
        .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)))
    else {
        return;
    };
    let connect = tokio::net::TcpStream::connect(target);
    if let Ok(Ok(_)) = tokio::time::timeout(std::time::Duration::from_secs(2), connect).await {
        return;
    }
    eprintln!(
        "kb_server: nothing listens at {login_url} yet, where readers are sent to sign in.\n\
         Start the customer app there:\n  \
         cargo run --example customer_app -- --kb {kb} --client-id {} --client-secret {} \
         --widget-client-id {} --widget-client-secret {} --widget-id {}\n\
         or restart kb_server with --login-url pointing at your own app.",
        demo.client_id, demo.primary_secret, demo.widget_client_id, demo.widget_client_secret, demo.widget_id
    );
}

fn fail(message: &str) -> ExitCode {
    eprintln!("{message}");
    ExitCode::from(2)
}
