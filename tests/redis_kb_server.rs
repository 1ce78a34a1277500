//! Two reference KB servers serving one project share their one-time codes
//! through a real `redis-server`: a code issued by one is redeemed exactly
//! once on either, and a Redis outage gives clean 503s, never a double
//! redemption.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../examples/common/mod.rs"]
mod common;
mod support;

crate::test_main!(
    a_code_issued_on_one_instance_is_redeemed_once_on_either,
    sixty_four_concurrent_redemptions_across_two_instances_yield_one_session,
    a_redis_outage_gives_503s_and_never_a_second_redemption,
);

use std::net::SocketAddr;

use kb_sso::store::redis::{RedisCodeStore, RedisConnection};
use kb_sso::{ClientCredentials, ClientId, ClientSecret, SystemClock};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::redis::RedisServer;

struct Setup {
    client_id: String,
    secret: String,
    a: common::server::Running<SystemClock>,
    b: common::server::Running<SystemClock>,
}

async fn two_instances(redis: &RedisServer) -> Setup {
    let client_id = ClientId::generate().to_string();
    let secret = ClientSecret::generate().expose().to_owned();
    let file = json!({"jwt": [{
        "name": "Portal", "client_id": client_id, "login_url": "https://app.example.com/login",
        "primary_secret": secret, "secondary_secret": ClientSecret::generate().expose()
    }]});
    let path = std::env::temp_dir().join(format!("kb-sso-redis-{}.json", ClientId::generate()));
    std::fs::write(&path, file.to_string()).unwrap();
    let mut instances = Vec::new();
    for _ in 0..2 {
        let loaded = common::server::load_project_file(path.to_str().unwrap()).unwrap();
        let store = RedisCodeStore::new(RedisConnection::connect(&redis.url()).await.unwrap());
        let options = common::server::Options {
            codes: Box::new(store),
            ..common::server::Options::default()
        };
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        instances.push(
            common::server::start_project_with(any, loaded, SystemClock, options)
                .await
                .unwrap(),
        );
    }
    let _ = std::fs::remove_file(&path);
    let b = instances.pop().unwrap();
    let a = instances.pop().unwrap();
    Setup {
        client_id,
        secret,
        a,
        b,
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn generate(s: &Setup, on: &str) -> (StatusCode, Value) {
    let basic = ClientCredentials::new(s.client_id.clone(), ClientSecret::new(s.secret.clone())).to_basic_header();
    let resp = client()
        .post(format!("{on}/api/jwt/generate-code"))
        .header("authorization", basic.as_str())
        .header("content-type", "application/json")
        .body(common::SPEC_CODE_REQUEST)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap())
}

async fn redeem(on: &str, code: &str) -> StatusCode {
    client()
        .get(format!("{on}/jwt/authorize?code={code}"))
        .send()
        .await
        .unwrap()
        .status()
}

async fn a_code_issued_on_one_instance_is_redeemed_once_on_either() {
    let redis = RedisServer::start("a_code_issued_on_one_instance_is_redeemed_once_on_either");
    let s = two_instances(&redis).await;
    let (status, body) = generate(&s, &s.a.base).await;
    assert_eq!(status, StatusCode::OK);
    let code = body["code"].as_str().unwrap().to_owned();
    assert_eq!(
        redeem(&s.b.base, &code).await,
        StatusCode::FOUND,
        "issued on A, redeemed on B"
    );
    assert_eq!(redeem(&s.a.base, &code).await, StatusCode::BAD_REQUEST);
    assert_eq!(redeem(&s.b.base, &code).await, StatusCode::BAD_REQUEST);
    s.a.stop().await;
    s.b.stop().await;
}

async fn sixty_four_concurrent_redemptions_across_two_instances_yield_one_session() {
    let redis = RedisServer::start("sixty_four_concurrent_redemptions_across_two_instances_yield_one_session");
    let s = two_instances(&redis).await;
    let (_, body) = generate(&s, &s.b.base).await;
    let code = body["code"].as_str().unwrap().to_owned();
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let on = if i % 2 == 0 { s.a.base.clone() } else { s.b.base.clone() };
            let code = code.clone();
            tokio::spawn(async move { redeem(&on, &code).await })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::FOUND => wins += 1,
            StatusCode::BAD_REQUEST => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(wins, 1);
    s.a.stop().await;
    s.b.stop().await;
}

async fn a_redis_outage_gives_503s_and_never_a_second_redemption() {
    let mut redis = RedisServer::start("a_redis_outage_gives_503s_and_never_a_second_redemption");
    let s = two_instances(&redis).await;
    let (_, body) = generate(&s, &s.a.base).await;
    let used = body["code"].as_str().unwrap().to_owned();
    assert_eq!(redeem(&s.a.base, &used).await, StatusCode::FOUND);
    let (_, body) = generate(&s, &s.a.base).await;
    let fresh = body["code"].as_str().unwrap().to_owned();

    // A hung server: commands time out, the answer is a clean 503.
    redis.pause();
    assert_eq!(redeem(&s.b.base, &used).await, StatusCode::SERVICE_UNAVAILABLE);
    let (status, body) = generate(&s, &s.b.base).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"], "temporarily_unavailable");
    redis.resume();
    assert_eq!(
        redeem(&s.b.base, &used).await,
        StatusCode::BAD_REQUEST,
        "still used after the outage"
    );
    assert_eq!(redeem(&s.b.base, &fresh).await, StatusCode::FOUND);
    assert_eq!(redeem(&s.a.base, &fresh).await, StatusCode::BAD_REQUEST);

    // A stopped server: connections refused, again 503.
    redis.kill();
    assert_eq!(generate(&s, &s.a.base).await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(redeem(&s.a.base, &fresh).await, StatusCode::SERVICE_UNAVAILABLE);
    redis.restart();
    let (status, body) = generate(&s, &s.a.base).await;
    assert_eq!(status, StatusCode::OK, "works again once Redis is back");
    let code = body["code"].as_str().unwrap().to_owned();
    assert_eq!(redeem(&s.b.base, &code).await, StatusCode::FOUND);
    assert_eq!(redeem(&s.a.base, &code).await, StatusCode::BAD_REQUEST);
    s.a.stop().await;
    s.b.stop().await;
}
