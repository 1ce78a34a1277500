//! `kb-sso serve`: the reference KB server (identity server and KB site in
//! one process), with the flags of the `kb_server` example, which runs this
//! same code (`examples/kb_server.rs` documents every flag).
//!
//! `server` is the server itself (an axum app with the crate's endpoints,
//! the admin API at `/api/admin` and demo pages); `durable` is where its
//! project, audit log and outbox live (`--db`). The examples and tests use
//! both through `examples/common`.

pub(crate) mod durable;
pub(crate) mod server;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use durable::{Db, MailDirectory};
use kb_sso::keys::{KeyRing, KeyRingError};
use kb_sso::server::admin::AdminTokens;
use kb_sso::{CheckpointKey, Limit, SystemClock};
use time::OffsetDateTime;

/// The reference server's flags (`kb-sso serve` and the `kb_server`
/// example).
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Address to listen on, HOST:PORT (a name such as localhost is
    /// looked up; port 0 picks one).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: String,
    /// The demo configuration's login URL: where the KB sends readers to
    /// sign in (`cargo run --example customer_app -- --kb ...` listens at
    /// the default). A project file sets its own.
    #[arg(long, value_name = "URL", default_value = server::DEFAULT_LOGIN_URL, conflicts_with = "project")]
    login_url: String,
    /// The demo configuration's logout URL: where readers go after signing
    /// out of the KB. Default: the customer app's /logout (which ends its
    /// session too) with the default --login-url, none with another (signing
    /// out then ends on /jwt/signed-out). A project file sets its own.
    #[arg(long, value_name = "URL", conflicts_with = "project")]
    logout_url: Option<String>,
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

/// Runs the server (or `--new-keys` / `--rotate-keys`) until Ctrl-C;
/// messages on stderr start with `name`. A flag or file that is refused
/// exits with status 2, naming it.
pub(crate) fn main(cli: Args, name: &str) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(run(cli, name)),
        Err(e) => fail(&format!("{name}: {e}")),
    }
}

async fn run(cli: Args, name: &str) -> ExitCode {
    if let Some(path) = &cli.new_keys {
        return keys_command(
            name,
            KeyRing::generate(OffsetDateTime::now_utc()).and_then(|ring| {
                ring.write_new(path)?;
                Ok(ring)
            }),
        );
    }
    if let Some(path) = &cli.rotate_keys {
        return keys_command(
            name,
            KeyRing::load(path).and_then(|mut ring| {
                ring.rotate(OffsetDateTime::now_utc())?;
                ring.replace(path)?;
                Ok(ring)
            }),
        );
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
    let mut options = server::Options {
        limits,
        keys,
        ..server::Options::default()
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
        Some(path) => match server::load_project_file(&path.to_string_lossy()) {
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
            let loaded = loaded.unwrap_or_else(|| server::LoadedProject {
                kb_url: None,
                project: kb_sso::Project::default(),
            });
            let opened = match durable::open(&db, cli.audit_key_file.as_deref(), loaded.project.clone()).await {
                Ok(opened) => opened,
                Err(message) => return fail(&message),
            };
            if let Some(path) = &opened.new_key_file {
                eprintln!("{name}: made the audit key file {}", path.display());
            }
            if opened.kept_existing && cli.project.is_some() {
                eprintln!(
                    "{name}: {} already holds a project; the project file was not applied",
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
        Some(loaded) => server::start_project_with(listen, loaded, SystemClock, options).await,
        None => {
            options.logout_url = cli.logout_url.clone().or_else(|| {
                (cli.login_url == server::DEFAULT_LOGIN_URL).then(|| server::DEFAULT_LOGOUT_URL.to_owned())
            });
            server::start_demo_with(listen, &cli.login_url, SystemClock, options).await
        }
    };
    let running = match started {
        Ok(r) => r,
        Err(e) => return fail(&format!("{name}: {e}")),
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
        warn_if_nobody_listens(name, &cli.login_url, &running.base, &running.project).await;
    }
    let _ = tokio::signal::ctrl_c().await;
    running.stop().await;
    ExitCode::SUCCESS
}

/// The end of `--new-keys` and `--rotate-keys`: the key ids on stdout (never
/// a secret), or the error.
fn keys_command(name: &str, result: Result<KeyRing, KeyRingError>) -> ExitCode {
    match result {
        Ok(ring) => {
            let line = serde_json::json!({
                "token_kids": ring.token_kids(),
                "session_key_ids": ring.session_key_ids(),
            });
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&format!("{name}: {e}")),
    }
}

/// Codes, handshake `jti`s, revoked sessions and failed-attempt counts
/// shared through the Redis at `url`.
#[cfg(feature = "redis")]
async fn use_redis(url: &str, options: &mut server::Options) -> Result<(), String> {
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
async fn use_redis(_url: &str, _options: &mut server::Options) -> Result<(), String> {
    Err("--redis: this build has no Redis support (build with --features redis)".to_owned())
}

/// The stores in memory, holding the project file's project (the demo
/// project keeps its own store; only the audit log and outbox are used).
fn memory_stores(loaded: Option<&server::LoadedProject>) -> Result<durable::Stores, String> {
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
async fn warn_if_nobody_listens(name: &str, login_url: &str, kb: &str, demo: &server::DemoProject) {
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
        "{name}: nothing listens at {login_url} yet, where readers are sent to sign in.\n\
         Start the customer app there:\n  \
         cargo run --example customer_app -- --kb {kb} --client-id {} --client-secret {} \
         --widget-client-id {} --widget-client-secret {} --widget-id {}\n\
         or restart {name} with --login-url pointing at your own app.",
        demo.client_id, demo.primary_secret, demo.widget_client_id, demo.widget_client_secret, demo.widget_id
    );
}

fn fail(message: &str) -> ExitCode {
    eprintln!("{message}");
    ExitCode::from(2)
}
