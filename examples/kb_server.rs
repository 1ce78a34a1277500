//! The reference KB server: identity server and KB site in one process.
//!
//! ```text
//! cargo run --features http --example kb_server -- [--listen ADDR] [--login-url URL]
//! ```
//!
//! With `--project FILE` it serves the project in FILE (see
//! `kb_sso::project_file::ProjectFile`; secrets in the file are for development only), and
//! a file that breaks a rule makes it exit with status 2, naming the field.
//! Without it, it creates a demo project with one enabled JWT configuration
//! and, when ready, prints one JSON line to stdout:
//! `{"listening":"http://127.0.0.1:PORT","client_id":"...","primary_secret":"...","secondary_secret":"...","login_url":"..."}`.
//! It speaks HTTP/1.1 and cleartext HTTP/2 (prior knowledge) on one port.
//!
//! `--redis URL` (feature `redis`) keeps one-time codes in Redis, so that
//! several instances serving the same project file redeem each code once
//! between them. `--max-failed-auth N` and `--max-failed-redemptions N` set
//! the brute-force limits (per minute; defaults 20 and 120).

mod common;

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;

use kb_sso::SystemClock;

const USAGE: &str = "usage: kb_server [--listen ADDR] [--login-url URL | --project FILE] [--redis URL] \
[--max-failed-auth N] [--max-failed-redemptions N]";

const HELP: &str = "kb_server: the reference KB server (identity server and KB site in one process).

usage: kb_server [--listen ADDR] [--login-url URL | --project FILE] [--redis URL]
                 [--max-failed-auth N] [--max-failed-redemptions N]

  --listen ADDR                 address to listen on (default 127.0.0.1:8080; port 0 picks one)
  --login-url URL               the demo configuration's login URL (default http://127.0.0.1:3000/login)
  --project FILE                serve the project in FILE instead of a demo project (exit 2 naming
                                the field when it breaks a rule)
  --redis URL                   share codes, handshake jtis and revocations through Redis
                                (feature redis)
  --max-failed-auth N           failed client authentications a minute per client and address (20)
  --max-failed-redemptions N    failed back-channel redemptions a minute per address (120)
  -h, --help                    this text

When ready it prints one JSON line: {\"listening\":\"http://ADDR\", ...} with the demo
project's client id and secrets. Ctrl-C stops it.";

#[tokio::main]
async fn main() -> ExitCode {
    let mut listen: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 8080));
    let mut login_url = common::server::DEFAULT_LOGIN_URL.to_owned();
    let mut project_file = None;
    let mut redis_url: Option<String> = None;
    let mut limits = kb_sso::Limits::default();
    if std::env::args().skip(1).any(|a| a == "--help" || a == "-h") {
        println!("{HELP}");
        return ExitCode::SUCCESS;
    }
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next();
        match (arg.as_str(), value) {
            ("--listen", Some(v)) => match v.parse() {
                Ok(a) => listen = a,
                Err(_) => return fail(&format!("--listen: not an address: {v}")),
            },
            ("--login-url", Some(v)) => login_url = v,
            ("--project", Some(v)) => project_file = Some(v),
            ("--redis", Some(v)) => redis_url = Some(v),
            ("--max-failed-auth", Some(v)) => match v.parse().map(kb_sso::Limit::per_minute) {
                Ok(Ok(limit)) => limits.failed_auth = limit,
                _ => return fail(&format!("--max-failed-auth: not a positive number: {v}")),
            },
            ("--max-failed-redemptions", Some(v)) => match v.parse().map(kb_sso::Limit::per_minute) {
                Ok(Ok(limit)) => limits.failed_redemption = limit,
                _ => return fail(&format!("--max-failed-redemptions: not a positive number: {v}")),
            },
            _ => return fail(USAGE),
        }
    }
    let mut options = common::server::Options {
        limits,
        ..common::server::Options::default()
    };
    if let Some(url) = redis_url
        && let Err(message) = use_redis(&url, &mut options).await
    {
        return fail(&message);
    }
    let started = match project_file {
        Some(path) => match common::server::load_project_file(&path) {
            Ok(loaded) => common::server::start_project_with(listen, loaded, SystemClock, options).await,
            Err(message) => return fail(&message),
        },
        None => common::server::start_demo_with(listen, &login_url, SystemClock, options).await,
    };
    let running = match started {
        Ok(r) => r,
        Err(e) => return fail(&format!("kb_server: {e}")),
    };
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{}", running.ready_line())
        .and_then(|()| out.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    drop(out);
    let _ = tokio::signal::ctrl_c().await;
    running.stop().await;
    ExitCode::SUCCESS
}

/// Codes, handshake `jti`s and revoked sessions shared through the Redis at
/// `url`.
#[cfg(feature = "redis")]
async fn use_redis(url: &str, options: &mut common::server::Options) -> Result<(), String> {
    use kb_sso::store::redis::{RedisCodeStore, RedisConnection, RedisReplayCache, RedisSessionRevocations};
    let connection = RedisConnection::connect(url)
        .await
        .map_err(|e| format!("--redis: {e}"))?;
    options.codes = Box::new(RedisCodeStore::new(connection.clone()));
    options.revocations = Box::new(RedisSessionRevocations::new(connection.clone()));
    options.replay = Some(Box::new(RedisReplayCache::new(connection)));
    Ok(())
}

/// Without the `redis` feature there is no Redis store.
#[cfg(not(feature = "redis"))]
async fn use_redis(_url: &str, _options: &mut common::server::Options) -> Result<(), String> {
    Err("--redis: this build has no Redis support (build with --features redis)".to_owned())
}

fn fail(message: &str) -> ExitCode {
    eprintln!("{message}");
    ExitCode::from(2)
}
