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
//! `--redis URL` (feature `redis`) keeps one-time codes in Redis, so that
//! several instances serving the same project file redeem each code once
//! between them. `--max-failed-auth N` and `--max-failed-redemptions N` set
//! the brute-force limits (per minute; defaults 20 and 120).
//!
//! The admin API is served at `/api/admin` behind `Authorization: Bearer`
//! tokens. `--admin-token-file FILE` lists the administrators
//! (`{"admins":[{"name":"...","token_sha256":"<hex>","roles":["admin","owner","security_audit"]}]}`);
//! without it a demo admin token with every role is made and the ready line
//! shows it as `"admin_token"`.

mod common;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use kb_sso::server::admin::AdminTokens;
use kb_sso::{Limit, SystemClock};

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
    /// Share codes, handshake jtis and revocations through Redis (feature
    /// redis).
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
}

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
    let started = match cli.project {
        Some(path) => match common::server::load_project_file(&path.to_string_lossy()) {
            Ok(loaded) => common::server::start_project_with(listen, loaded, SystemClock, options).await,
            Err(message) => return fail(&message),
        },
        None => common::server::start_demo_with(listen, &cli.login_url, SystemClock, options).await,
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
    if !running.from_file {
        warn_if_nobody_listens(&cli.login_url, &running.base, &running.project).await;
    }
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
