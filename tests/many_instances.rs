//! Two reference KB servers behind one "load balancer" (the test picks the
//! instance), sharing one key ring and one real `redis-server`: a session
//! opened on one is accepted on the other, a key rotation signs nobody
//! out, a revocation on one reaches the other within a second, the
//! brute-force limiter counts across both, and a Redis outage loses no
//! code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../examples/common/mod.rs"]
mod common;
mod support;

crate::test_main!(
    a_session_opened_on_a_is_accepted_on_b_and_both_publish_one_jwks,
    a_key_rotated_in_with_instances_restarted_in_turn_signs_nobody_out,
    a_session_revoked_on_a_is_refused_on_b_within_a_second,
    while_redis_is_down_a_revoked_session_is_never_accepted,
    the_limiter_counts_failures_on_a_and_b_together,
    a_redemption_answered_503_while_redis_hung_still_redeems_once_afterwards,
);

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kb_sso::keys::KeyRing;
use kb_sso::store::redis::{
    RedisCodeStore, RedisConnection, RedisRateLimiter, RedisReplayCache, RedisSessionRevocations,
};
use kb_sso::{ClientCredentials, ClientId, ClientSecret, Limit, Limits, SystemClock};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::redis::RedisServer;

type Running = common::server::Running<SystemClock>;

/// One project file, served by every instance.
struct Project {
    path: std::path::PathBuf,
    client_id: String,
    secret: String,
}

impl Project {
    fn new() -> Self {
        let client_id = ClientId::generate().to_string();
        let secret = ClientSecret::generate().expose().to_owned();
        let file = json!({"jwt": [{
            "name": "Portal", "client_id": client_id, "login_url": "https://app.example.com/login",
            "primary_secret": secret, "secondary_secret": ClientSecret::generate().expose()
        }]});
        let path = std::env::temp_dir().join(format!("kb-sso-many-{}.json", ClientId::generate()));
        std::fs::write(&path, file.to_string()).unwrap();
        Self {
            path,
            client_id,
            secret,
        }
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// An instance as `kb_server --redis URL --keys FILE` makes it, with a
/// short command timeout so that an outage answers quickly.
async fn instance(redis: &RedisServer, project: &Project, keys: &KeyRing, limits: Limits) -> Running {
    let loaded = common::server::load_project_file(project.path.to_str().unwrap()).unwrap();
    let conn = RedisConnection::connect_with_timeout(&redis.url(), Duration::from_millis(300))
        .await
        .unwrap();
    let revocations = RedisSessionRevocations::new(conn.clone()).subscribe();
    // Started once the revocation list is loaded (as a ready check would).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !revocations.is_current() {
        assert!(Instant::now() < deadline, "the revocation subscription did not start");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let options = common::server::Options {
        codes: Box::new(RedisCodeStore::new(conn.clone())),
        limiter: Box::new(RedisRateLimiter::new(conn.clone())),
        revocations: Box::new(revocations),
        replay: Some(Box::new(RedisReplayCache::new(conn))),
        keys: Some(keys.clone()),
        limits,
        ..common::server::Options::default()
    };
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    common::server::start_project_with(any, loaded, SystemClock, options)
        .await
        .unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn generate(p: &Project, on: &Running, secret: &str) -> (StatusCode, Value) {
    let basic = ClientCredentials::new(p.client_id.clone(), ClientSecret::new(secret.to_owned())).to_basic_header();
    let resp = client()
        .post(format!("{}/api/jwt/generate-code", on.base))
        .header("authorization", basic.as_str())
        .header("content-type", "application/json")
        .body(common::SPEC_CODE_REQUEST)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn code(p: &Project, on: &Running) -> String {
    let (status, body) = generate(p, on, &p.secret).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["code"].as_str().unwrap().to_owned()
}

/// Redeems `code` on `on`: the status and the session cookie (`name=value`).
async fn authorize(on: &Running, code: &str) -> (StatusCode, Option<String>) {
    let resp = client()
        .get(format!("{}/jwt/authorize?code={code}", on.base))
        .send()
        .await
        .unwrap();
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("kb_session="))
        .map(|v| v.split(';').next().unwrap().to_owned());
    (resp.status(), cookie)
}

/// A reader signing in through `on`: the session cookie.
async fn sign_in(p: &Project, on: &Running) -> String {
    let code = code(p, on).await;
    let (status, cookie) = authorize(on, &code).await;
    assert_eq!(status, StatusCode::FOUND);
    cookie.expect("a session cookie")
}

/// A private page with `cookie`: 200 for a reader, 302 to sign in otherwise.
async fn page(on: &Running, cookie: &str) -> StatusCode {
    client()
        .get(format!("{}/docs/getting-started", on.base))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .status()
}

async fn jwks(on: &Running) -> Value {
    client()
        .get(format!("{}/.well-known/jwks.json", on.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn logout(on: &Running, cookie: &str) {
    let status = client()
        .get(format!("{}/jwt/logout", on.base))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_redirection() || status.is_success(), "{status}");
}

/// How many `EXISTS` commands the Redis server has run (INFO
/// commandstats).
fn exists_calls(redis: &RedisServer) -> u64 {
    use std::io::{Read as _, Write as _};
    let port: u16 = redis
        .url()
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s.write_all(b"INFO commandstats\r\n").unwrap();
    let mut reply = Vec::new();
    let mut buf = [0u8; 8192];
    // A bulk reply: `$<len>\r\n<text>\r\n`.
    loop {
        let n = s.read(&mut buf).unwrap();
        reply.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&reply);
        if let Some((head, body)) = text.split_once("\r\n")
            && body.len() >= head.trim_start_matches('$').parse::<usize>().unwrap()
        {
            break;
        }
    }
    let text = String::from_utf8_lossy(&reply);
    text.lines()
        .find_map(|l| l.strip_prefix("cmdstat_exists:calls="))
        .map_or(0, |rest| rest.split(',').next().unwrap().parse().unwrap())
}

fn ring() -> KeyRing {
    KeyRing::generate(time::OffsetDateTime::now_utc()).unwrap()
}

async fn a_session_opened_on_a_is_accepted_on_b_and_both_publish_one_jwks() {
    let redis = RedisServer::start("a_session_opened_on_a_is_accepted_on_b_and_both_publish_one_jwks");
    let p = Project::new();
    let keys = ring();
    let a = instance(&redis, &p, &keys, Limits::default()).await;
    let b = instance(&redis, &p, &keys, Limits::default()).await;
    let cookie = sign_in(&p, &a).await;
    assert_eq!(page(&a, &cookie).await, StatusCode::OK);
    assert_eq!(page(&b, &cookie).await, StatusCode::OK, "opened on A, accepted on B");
    let cookie = sign_in(&p, &b).await;
    assert_eq!(page(&a, &cookie).await, StatusCode::OK, "opened on B, accepted on A");
    let (ja, jb) = (jwks(&a).await, jwks(&b).await);
    assert_eq!(ja, jb, "one key set");
    assert_eq!(ja["keys"].as_array().unwrap().len(), 2, "the current and the next key");
    a.stop().await;
    b.stop().await;
}

async fn a_key_rotated_in_with_instances_restarted_in_turn_signs_nobody_out() {
    let redis = RedisServer::start("a_key_rotated_in_with_instances_restarted_in_turn_signs_nobody_out");
    let p = Project::new();
    let old = ring();
    let a = instance(&redis, &p, &old, Limits::default()).await;
    let b = instance(&redis, &p, &old, Limits::default()).await;
    let before = sign_in(&p, &a).await;
    let mut new = old.clone();
    new.rotate(time::OffsetDateTime::now_utc()).unwrap();

    // A restarts with the rotated ring; B still runs the old one.
    a.stop().await;
    let a = instance(&redis, &p, &new, Limits::default()).await;
    let during = sign_in(&p, &a).await;
    assert_ne!(during, before);
    for cookie in [&before, &during] {
        assert_eq!(page(&a, cookie).await, StatusCode::OK);
        assert_eq!(page(&b, cookie).await, StatusCode::OK, "an instance not yet restarted");
    }
    let from_old = sign_in(&p, &b).await;
    assert_eq!(page(&a, &from_old).await, StatusCode::OK);

    // B restarts too: every session still opens on both.
    b.stop().await;
    let b = instance(&redis, &p, &new, Limits::default()).await;
    for cookie in [&before, &during, &from_old] {
        assert_eq!(page(&a, cookie).await, StatusCode::OK);
        assert_eq!(page(&b, cookie).await, StatusCode::OK);
    }
    let jwks = jwks(&b).await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    for kid in old.token_kids() {
        assert!(kids.contains(&kid), "the previous keys stay published: {kids:?}");
    }
    assert_eq!(kids.len(), 3);
    a.stop().await;
    b.stop().await;
}

async fn a_session_revoked_on_a_is_refused_on_b_within_a_second() {
    let redis = RedisServer::start("a_session_revoked_on_a_is_refused_on_b_within_a_second");
    let p = Project::new();
    let keys = ring();
    let a = instance(&redis, &p, &keys, Limits::default()).await;
    let b = instance(&redis, &p, &keys, Limits::default()).await;
    let cookie = sign_in(&p, &a).await;
    let other = sign_in(&p, &b).await;
    assert_eq!(page(&b, &cookie).await, StatusCode::OK);
    logout(&a, &cookie).await;
    assert_eq!(
        page(&a, &cookie).await,
        StatusCode::FOUND,
        "refused where it was revoked"
    );
    // The revocation is pushed to B: polled for up to a second (a bound,
    // not a timing measurement).
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        match page(&b, &cookie).await {
            StatusCode::FOUND => break,
            StatusCode::OK => assert!(Instant::now() < deadline, "still accepted on B after a second"),
            other => panic!("unexpected {other}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(page(&b, &other).await, StatusCode::OK, "other sessions stay open");
    // Page views are answered from B's list: no Redis command each.
    let before = exists_calls(&redis);
    for _ in 0..20 {
        assert_eq!(page(&b, &other).await, StatusCode::OK);
        assert_eq!(page(&b, &cookie).await, StatusCode::FOUND);
    }
    assert_eq!(exists_calls(&redis), before, "no EXISTS per page view");
    a.stop().await;
    b.stop().await;
}

async fn while_redis_is_down_a_revoked_session_is_never_accepted() {
    let mut redis = RedisServer::start("while_redis_is_down_a_revoked_session_is_never_accepted");
    let p = Project::new();
    let keys = ring();
    let a = instance(&redis, &p, &keys, Limits::default()).await;
    let b = instance(&redis, &p, &keys, Limits::default()).await;
    let cookie = sign_in(&p, &a).await;
    logout(&a, &cookie).await;
    let deadline = Instant::now() + Duration::from_secs(1);
    while page(&b, &cookie).await != StatusCode::FOUND {
        assert!(Instant::now() < deadline);
    }
    // Redis goes away: B can no longer tell whether its list is current.
    redis.kill();
    for _ in 0..20 {
        assert_ne!(page(&b, &cookie).await, StatusCode::OK, "revoked, Redis down");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    a.stop().await;
    b.stop().await;
}

async fn the_limiter_counts_failures_on_a_and_b_together() {
    let redis = RedisServer::start("the_limiter_counts_failures_on_a_and_b_together");
    let p = Project::new();
    let keys = ring();
    let limits = Limits {
        failed_auth: Limit::per_minute(4).unwrap(),
        ..Limits::default()
    };
    let a = instance(&redis, &p, &keys, limits).await;
    let b = instance(&redis, &p, &keys, limits).await;
    let wrong = ClientSecret::generate().expose().to_owned();
    // Four failures in all, two on each instance.
    for on in [&a, &b, &a, &b] {
        assert_eq!(generate(&p, on, &wrong).await.0, StatusCode::UNAUTHORIZED);
    }
    // The fifth attempt is limited on either instance, even with the right
    // secret: each instance alone has seen two failures only.
    for on in [&a, &b] {
        let (status, _) = generate(&p, on, &p.secret).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    }
    a.stop().await;
    b.stop().await;
}

async fn a_redemption_answered_503_while_redis_hung_still_redeems_once_afterwards() {
    let redis = RedisServer::start("a_redemption_answered_503_while_redis_hung_still_redeems_once_afterwards");
    let p = Project::new();
    let keys = ring();
    let a = instance(&redis, &p, &keys, Limits::default()).await;
    let b = instance(&redis, &p, &keys, Limits::default()).await;
    let pending: Vec<String> = [code(&p, &a).await, code(&p, &b).await].into();

    // Redis hangs: the redemptions are sent, then given up on (503).
    redis.pause();
    for (i, code) in pending.iter().enumerate() {
        let on = if i % 2 == 0 { &a } else { &b };
        assert_eq!(authorize(on, code).await.0, StatusCode::SERVICE_UNAVAILABLE);
    }
    // Still hung a little past the callers' deadlines, then back: the
    // queued scripts run, after their deadline, and touch nothing.
    tokio::time::sleep(Duration::from_millis(300)).await;
    redis.resume();

    // Each pending code redeems exactly once, on either instance.
    for (i, code) in pending.iter().enumerate() {
        let (first, second) = if i % 2 == 0 { (&b, &a) } else { (&a, &b) };
        let (status, cookie) = authorize(first, code).await;
        assert_eq!(status, StatusCode::FOUND, "the code survived the outage");
        assert_eq!(page(second, &cookie.unwrap()).await, StatusCode::OK);
        assert_eq!(authorize(second, code).await.0, StatusCode::BAD_REQUEST, "once only");
    }
    a.stop().await;
    b.stop().await;
}
