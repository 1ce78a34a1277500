//! A load test of the reference KB server, on loopback only.
//!
//! ```text
//! cargo run --release --features redis --example load -- [--readers N] [--seconds S] [--max-sign-ins M] [--setup memory|redis|outage|all]
//! ```
//!
//! N concurrent readers, until S seconds have passed or M sign-ins are
//! done: half of them (`--browsers`) sign in once and then view private
//! pages with their session; the others loop through the whole code flow
//! (the customer app's `generate-code`, the browser's `/jwt/authorize` and
//! a private page). Setups:
//!
//! - `memory`: one instance with memory stores;
//! - `redis`: two instances on one `redis-server` (started by this program
//!   on a free loopback port, without persistence) with one key ring; each
//!   request goes to the other instance than the one before;
//! - `outage`: as `redis`, and the Redis server is frozen (SIGSTOP) for 5 s
//!   in the middle of the run: requests in flight get 503, and every code
//!   whose redemption was answered 503 is redeemed again afterwards, which
//!   must succeed exactly once.
//!
//! It prints a Markdown table: sign-ins/s, page views/s, p50/p99 latency
//! of all requests, errors (any answer other than the expected one; 503
//! during an outage is counted apart) and sessions refused (a page view
//! sent to sign in again; during an outage an instance whose revocation
//! list is no longer current refuses sessions rather than risk accepting a
//! revoked one). It exits 1 when a run has errors, refused sessions outside
//! an outage, or a code lost or redeemed twice.

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
#[cfg(feature = "redis")]
use kb_sso::keys::KeyRing;
use kb_sso::{ClientCredentials, ClientId, ClientSecret, SystemClock};
use reqwest::StatusCode;
use serde_json::json;
use tokio::sync::Mutex;

/// load: drives N concurrent readers through the code flow and page views
/// against the reference KB server on loopback, and prints a table.
#[derive(Debug, Parser)]
#[command(name = "load", about, long_about)]
struct Cli {
    /// Concurrent readers.
    #[arg(long, value_name = "N", default_value = "32")]
    readers: usize,
    /// Longest run of each setup, in seconds.
    #[arg(long, value_name = "S", default_value = "10")]
    seconds: u64,
    /// Most sign-ins of each setup.
    #[arg(long, value_name = "M", default_value = "20000")]
    max_sign_ins: u64,
    /// Readers who sign in once and then only view pages with their
    /// session (default: half of them).
    #[arg(long, value_name = "B")]
    browsers: Option<usize>,
    /// Which setups to run.
    #[arg(long, value_enum, default_value = "all")]
    setup: Setup,
    /// The redis-server binary.
    #[arg(long, value_name = "PATH", default_value = "redis-server")]
    redis_server: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Setup {
    Memory,
    Redis,
    Outage,
    All,
}

/// What one setup measured.
#[derive(Debug, Default)]
struct Tally {
    sign_ins: u64,
    page_views: u64,
    errors: u64,
    refused_sessions: u64,
    unavailable: u64,
    latencies_us: Vec<u32>,
    /// Codes whose redemption was answered 503.
    pending: Vec<String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.sign_ins += other.sign_ins;
        self.page_views += other.page_views;
        self.errors += other.errors;
        self.refused_sessions += other.refused_sessions;
        self.unavailable += other.unavailable;
        self.latencies_us.extend(other.latencies_us);
        self.pending.extend(other.pending);
    }
}

/// The instances of a setup and the demo project's credentials.
struct Target {
    bases: Vec<String>,
    basic: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.readers == 0 {
        eprintln!("--readers must be at least 1");
        return ExitCode::from(2);
    }
    println!("| setup | readers | sign-ins/s | page views/s | p50 ms | p99 ms | errors | sessions refused | 503 |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let all = cli.setup == Setup::All;
    let mut ok = true;
    if all || cli.setup == Setup::Memory {
        ok &= run_memory(&cli).await;
    }
    if all || cli.setup == Setup::Redis {
        ok &= run_redis(&cli, false).await;
    }
    if all || cli.setup == Setup::Outage {
        ok &= run_redis(&cli, true).await;
    }
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn project_file() -> (std::path::PathBuf, String, String) {
    let client_id = ClientId::generate().to_string();
    let secret = ClientSecret::generate().expose().to_owned();
    let file = json!({"jwt": [{
        "name": "Load", "client_id": client_id, "login_url": "https://app.example.com/login",
        "primary_secret": secret, "secondary_secret": ClientSecret::generate().expose()
    }]});
    let path = std::env::temp_dir().join(format!("kb-sso-load-{}.json", ClientId::generate()));
    let _ = std::fs::write(&path, file.to_string());
    (path, client_id, secret)
}

fn basic(client_id: &str, secret: &str) -> String {
    ClientCredentials::new(client_id.to_owned(), ClientSecret::new(secret.to_owned()))
        .to_basic_header()
        .as_str()
        .to_owned()
}

async fn run_memory(cli: &Cli) -> bool {
    let (path, client_id, secret) = project_file();
    let Ok(loaded) = common::server::load_project_file(&path.to_string_lossy()) else {
        eprintln!("the project file could not be read");
        return false;
    };
    let _ = std::fs::remove_file(&path);
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let options = common::server::Options::default();
    let Ok(running) = common::server::start_project_with(any, loaded, SystemClock, options).await else {
        eprintln!("the server did not start");
        return false;
    };
    let target = Target {
        bases: vec![running.base.clone()],
        basic: basic(&client_id, &secret),
    };
    let (tally, elapsed) = drive(cli, &target, None).await;
    report("one instance, memory", cli, &tally, elapsed);
    running.stop().await;
    tally.errors == 0 && tally.refused_sessions == 0
}

#[cfg(feature = "redis")]
async fn run_redis(cli: &Cli, outage: bool) -> bool {
    use kb_sso::store::redis::{
        RedisCodeStore, RedisConnection, RedisRateLimiter, RedisReplayCache, RedisSessionRevocations,
    };
    let Some(redis) = RedisChild::start(&cli.redis_server) else {
        eprintln!("{}: could not start a redis-server on loopback", cli.redis_server);
        return false;
    };
    let (path, client_id, secret) = project_file();
    let Ok(keys) = KeyRing::generate(time::OffsetDateTime::now_utc()) else {
        return false;
    };
    let mut instances = Vec::new();
    for _ in 0..2 {
        let Ok(loaded) = common::server::load_project_file(&path.to_string_lossy()) else {
            return false;
        };
        let Ok(conn) = RedisConnection::connect_with_timeout(&redis.url(), Duration::from_secs(1)).await else {
            eprintln!("could not connect to the redis-server");
            return false;
        };
        let revocations = RedisSessionRevocations::new(conn.clone()).subscribe();
        let started = Instant::now();
        while !revocations.is_current() && started.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let options = common::server::Options {
            codes: Box::new(RedisCodeStore::new(conn.clone())),
            limiter: Box::new(RedisRateLimiter::new(conn.clone())),
            revocations: Box::new(revocations),
            replay: Some(Box::new(RedisReplayCache::new(conn))),
            keys: Some(keys.clone()),
            ..common::server::Options::default()
        };
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        match common::server::start_project_with(any, loaded, SystemClock, options).await {
            Ok(r) => instances.push(r),
            Err(e) => {
                eprintln!("the server did not start: {e}");
                return false;
            }
        }
    }
    let _ = std::fs::remove_file(&path);
    let target = Target {
        bases: instances.iter().map(|r| r.base.clone()).collect(),
        basic: basic(&client_id, &secret),
    };
    let freeze = outage.then_some(&redis);
    let (mut tally, elapsed) = drive(cli, &target, freeze).await;
    let name = if outage {
        "two instances, one Redis, 5 s outage"
    } else {
        "two instances, one Redis"
    };
    report(name, cli, &tally, elapsed);
    // While Redis is down an instance cannot tell a revoked session from
    // another, so it refuses sessions: counted, not a failure of the run.
    let mut ok = tally.errors == 0 && (outage || tally.refused_sessions == 0);
    if outage {
        ok &= after_outage(&target, &mut tally).await;
    }
    for r in instances {
        r.stop().await;
    }
    ok
}

#[cfg(not(feature = "redis"))]
async fn run_redis(_cli: &Cli, _outage: bool) -> bool {
    eprintln!("the Redis setups need --features redis");
    false
}

/// Every code answered 503 during the outage is redeemed once now, and a
/// second redemption is refused.
#[cfg(feature = "redis")]
async fn after_outage(target: &Target, tally: &mut Tally) -> bool {
    let client = http_client();
    let (mut once, mut twice, mut lost) = (0u64, 0u64, 0u64);
    for (i, code) in tally.pending.iter().enumerate() {
        let first = &target.bases[i % target.bases.len()];
        let second = &target.bases[(i + 1) % target.bases.len()];
        let url = |base: &str| format!("{base}/jwt/authorize?code={code}");
        let a = client.get(url(first)).send().await.map(|r| r.status()).ok();
        let b = client.get(url(second)).send().await.map(|r| r.status()).ok();
        match (a, b) {
            (Some(StatusCode::FOUND), Some(StatusCode::BAD_REQUEST)) => once += 1,
            (Some(StatusCode::FOUND), Some(StatusCode::FOUND)) => twice += 1,
            _ => lost += 1,
        }
    }
    println!();
    println!(
        "outage: {} requests answered 503; of {} codes whose redemption was answered 503, {once} redeemed exactly once afterwards, {twice} twice, {lost} not at all",
        tally.unavailable,
        tally.pending.len()
    );
    twice == 0 && lost == 0
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(1024)
        .build()
        .unwrap_or_default()
}

/// Runs the readers until the time or the count is reached; freezes Redis
/// for 5 s in the middle when given one.
async fn drive(cli: &Cli, target: &Target, freeze: Option<&RedisChild>) -> (Tally, Duration) {
    let stop = Arc::new(AtomicBool::new(false));
    let budget = Arc::new(Mutex::new(cli.max_sign_ins));
    let client = http_client();
    let started = Instant::now();
    let mut tasks = Vec::new();
    let browsers = cli.browsers.unwrap_or(cli.readers / 2).min(cli.readers);
    for reader in 0..cli.readers {
        let ctx = Reader {
            client: client.clone(),
            bases: target.bases.clone(),
            basic: target.basic.clone(),
            browses: reader < browsers,
            turn: reader,
        };
        let stop = Arc::clone(&stop);
        let budget = Arc::clone(&budget);
        tasks.push(tokio::spawn(ctx.run(stop, budget)));
    }
    let limit = Duration::from_secs(cli.seconds.max(1));
    if let Some(redis) = freeze {
        let outage_at = limit.saturating_sub(Duration::from_secs(5)) / 2;
        tokio::time::sleep(outage_at).await;
        redis.signal("-STOP");
        tokio::time::sleep(Duration::from_secs(5)).await;
        redis.signal("-CONT");
        tokio::time::sleep(limit.saturating_sub(outage_at + Duration::from_secs(5))).await;
    } else {
        let deadline = started + limit;
        while Instant::now() < deadline && *budget.lock().await > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut tally = Tally::default();
    for t in tasks {
        if let Ok(t) = t.await {
            tally.merge(t);
        }
    }
    (tally, started.elapsed())
}

struct Reader {
    client: reqwest::Client,
    bases: Vec<String>,
    basic: String,
    /// Signs in once, then only views pages.
    browses: bool,
    turn: usize,
}

enum Outcome {
    Ok(reqwest::Response),
    Unavailable,
    Error,
}

impl Reader {
    /// The next instance: requests alternate between them.
    fn next_base(&mut self) -> String {
        self.turn = self.turn.wrapping_add(1);
        self.bases[self.turn % self.bases.len()].clone()
    }

    async fn timed(&self, tally: &mut Tally, req: reqwest::RequestBuilder) -> Outcome {
        let t = Instant::now();
        let resp = req.send().await;
        tally
            .latencies_us
            .push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
        match resp {
            Ok(r) if r.status() == StatusCode::SERVICE_UNAVAILABLE => {
                tally.unavailable += 1;
                Outcome::Unavailable
            }
            Ok(r) => Outcome::Ok(r),
            Err(_) => {
                tally.errors += 1;
                Outcome::Error
            }
        }
    }

    async fn run(mut self, stop: Arc<AtomicBool>, budget: Arc<Mutex<u64>>) -> Tally {
        let mut tally = Tally::default();
        while !stop.load(Ordering::Relaxed) {
            {
                let mut left = budget.lock().await;
                if *left == 0 {
                    break;
                }
                *left -= 1;
            }
            let base = self.next_base();
            let req = self
                .client
                .post(format!("{base}/api/jwt/generate-code"))
                .header("authorization", &self.basic)
                .header("content-type", "application/json")
                .body(common::SPEC_CODE_REQUEST);
            let code = match self.timed(&mut tally, req).await {
                Outcome::Ok(r) if r.status() == StatusCode::OK => {
                    let body: serde_json::Value = r.json().await.unwrap_or_default();
                    match body["code"].as_str() {
                        Some(c) => c.to_owned(),
                        None => {
                            tally.errors += 1;
                            continue;
                        }
                    }
                }
                Outcome::Unavailable => continue,
                _ => {
                    tally.errors += 1;
                    continue;
                }
            };
            let base = self.next_base();
            let req = self.client.get(format!("{base}/jwt/authorize?code={code}"));
            let cookie = match self.timed(&mut tally, req).await {
                Outcome::Ok(r) if r.status() == StatusCode::FOUND => r
                    .headers()
                    .get_all("set-cookie")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .find(|v| v.starts_with("kb_session="))
                    .and_then(|v| v.split(';').next())
                    .map(str::to_owned),
                Outcome::Unavailable => {
                    tally.pending.push(code);
                    continue;
                }
                _ => None,
            };
            let Some(cookie) = cookie else {
                tally.errors += 1;
                continue;
            };
            tally.sign_ins += 1;
            // The private page the sign-in was for; a browser goes on
            // viewing pages with the session.
            let mut first = true;
            while first || (self.browses && !stop.load(Ordering::Relaxed)) {
                first = false;
                let base = self.next_base();
                let req = self
                    .client
                    .get(format!("{base}/docs/getting-started"))
                    .header("cookie", &cookie);
                match self.timed(&mut tally, req).await {
                    Outcome::Ok(r) if r.status() == StatusCode::OK => {
                        let _ = r.bytes().await;
                        tally.page_views += 1;
                    }
                    Outcome::Ok(r) if r.status().is_redirection() => tally.refused_sessions += 1,
                    Outcome::Ok(_) => tally.errors += 1,
                    Outcome::Unavailable | Outcome::Error => {}
                }
            }
        }
        tally
    }
}

fn report(name: &str, cli: &Cli, tally: &Tally, elapsed: Duration) {
    let mut lat = tally.latencies_us.clone();
    lat.sort_unstable();
    let q = |p: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        // Nearest rank.
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let i = ((p * lat.len() as f64).ceil() as usize).clamp(1, lat.len()) - 1;
        f64::from(lat[i]) / 1000.0
    };
    let secs = elapsed.as_secs_f64().max(1e-9);
    #[allow(clippy::cast_precision_loss)]
    let (si, pv) = (tally.sign_ins as f64 / secs, tally.page_views as f64 / secs);
    println!(
        "| {name} | {} | {si:.0} | {pv:.0} | {:.2} | {:.2} | {} | {} | {} |",
        cli.readers,
        q(0.50),
        q(0.99),
        tally.errors,
        tally.refused_sessions,
        tally.unavailable
    );
}

/// A `redis-server` child on a free loopback port, without persistence;
/// killed on drop.
struct RedisChild {
    child: Child,
    // Read only with the redis feature, which starts one.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    port: u16,
}

impl RedisChild {
    #[cfg(feature = "redis")]
    fn start(bin: &str) -> Option<Self> {
        use std::net::{Ipv4Addr, TcpListener, TcpStream};
        use std::process::Stdio;
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let child = Command::new(bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let me = Self { child, port };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
                return Some(me);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    #[cfg(feature = "redis")]
    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn signal(&self, sig: &str) {
        let _ = Command::new("kill").args([sig, &self.child.id().to_string()]).status();
    }
}

impl Drop for RedisChild {
    fn drop(&mut self) {
        self.signal("-CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
