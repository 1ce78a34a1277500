//! The bound on outstanding codes per configuration, kept by
//! `RedisCodeStore` against a real `redis-server` on a free loopback port.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

crate::test_main!(
    inserts_past_the_limit_are_refused_until_a_redemption_or_expiry_makes_room,
    the_issuer_answers_too_many_codes_and_concurrent_instances_share_the_bound,
);

use std::sync::Arc;

use kb_sso::Insertion;
use kb_sso::store::redis::{RedisCodeStore, RedisConnection};
use kb_sso::{
    ClientId, CodeDigest, CodeError, CodeGrant, CodeIssuer, CodeRequest, CodeStore, JwtConfig, ReaderIdentity,
    Redemption, SettableClock,
};
use support::redis::RedisServer;
use time::{Duration, OffsetDateTime};

async fn store(server: &RedisServer) -> RedisCodeStore {
    RedisCodeStore::new(RedisConnection::connect(&server.url()).await.unwrap())
}

/// Now, in whole seconds: grants store their times as unix seconds.
fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().replace_nanosecond(0).unwrap()
}

fn grant(client_id: &ClientId, issued_at: OffsetDateTime) -> CodeGrant {
    CodeGrant {
        client_id: client_id.clone(),
        identity: ReaderIdentity {
            username: "john.doe".into(),
            first_name: "John".into(),
            last_name: "Doe".into(),
            email: "john.doe@example.com".into(),
            reader_group_ids: vec!["group1".into()],
        },
        token_validity_seconds: 900,
        issued_at,
        expires_at: issued_at + Duration::minutes(5),
        code_challenge: None,
    }
}

fn request() -> CodeRequest {
    CodeRequest::from_json(br#"{"username":"u","firstName":"","lastName":"","emailId":"u@x"}"#).unwrap()
}

async fn inserts_past_the_limit_are_refused_until_a_redemption_or_expiry_makes_room() {
    let server = RedisServer::start("redis_outstanding_limit");
    let store = store(&server).await;
    let client = ClientId::generate();
    let other = ClientId::generate();
    let t0 = now();
    for i in 0..3 {
        let at = t0 + Duration::seconds(i);
        let answer = store
            .insert_limited(CodeDigest::of(&format!("c{i}")), grant(&client, at), 3)
            .await
            .unwrap();
        assert_eq!(answer, Insertion::Stored);
    }
    let t1 = t0 + Duration::seconds(10);
    assert_eq!(
        store
            .insert_limited(CodeDigest::of("c3"), grant(&client, t1), 3)
            .await
            .unwrap(),
        Insertion::LimitReached {
            retry_at: t0 + Duration::minutes(5)
        },
        "room at the oldest code's expiry"
    );
    assert_eq!(
        store.redeem(CodeDigest::of("c3"), t1).await.unwrap(),
        Redemption::Unknown,
        "nothing was stored"
    );
    // Another client has its own count.
    assert_eq!(
        store
            .insert_limited(CodeDigest::of("o0"), grant(&other, t1), 3)
            .await
            .unwrap(),
        Insertion::Stored
    );

    // A redemption ends a code's place at once.
    assert!(matches!(
        store.redeem(CodeDigest::of("c1"), t1).await.unwrap(),
        Redemption::Redeemed(_)
    ));
    assert_eq!(
        store
            .insert_limited(CodeDigest::of("c4"), grant(&client, t1), 3)
            .await
            .unwrap(),
        Insertion::Stored
    );
    assert!(matches!(
        store
            .insert_limited(CodeDigest::of("c5"), grant(&client, t1), 3)
            .await
            .unwrap(),
        Insertion::LimitReached { .. }
    ));
    // So does a redemption that finds the code expired.
    let late = t0 + Duration::minutes(5);
    assert_eq!(
        store.redeem(CodeDigest::of("c0"), late).await.unwrap(),
        Redemption::Expired
    );
    // And expiry alone: at t0 + 5 min + 2 s c2 (issued at t0 + 2 s) has
    // expired too; c4 (issued at t1) has not.
    let later = t0 + Duration::minutes(5) + Duration::seconds(2);
    for name in ["c6", "c7"] {
        assert_eq!(
            store
                .insert_limited(CodeDigest::of(name), grant(&client, later), 3)
                .await
                .unwrap(),
            Insertion::Stored,
            "{name}"
        );
    }
    assert!(matches!(
        store
            .insert_limited(CodeDigest::of("c8"), grant(&client, later), 3)
            .await
            .unwrap(),
        Insertion::LimitReached { .. }
    ));
}

async fn the_issuer_answers_too_many_codes_and_concurrent_instances_share_the_bound() {
    let server = RedisServer::start("redis_outstanding_issuer");
    let (config, secrets) = JwtConfig::builder("Portal", "https://app.example.com/login")
        .build()
        .unwrap();
    let secret = secrets.primary.expose().as_bytes().to_vec();
    let clock = Arc::new(SettableClock::new(now()));
    // Four instances, four connections, one Redis.
    let mut issuers = Vec::new();
    for _ in 0..4 {
        issuers.push(Arc::new(
            CodeIssuer::new(store(&server).await, clock.clone()).with_max_outstanding(10),
        ));
    }
    let mut tasks = Vec::new();
    for issuer in &issuers {
        for _ in 0..6 {
            let (issuer, config, secret) = (issuer.clone(), config.clone(), secret.clone());
            tasks.push(tokio::spawn(async move {
                issuer.issue(Some(&config), &secret, request()).await
            }));
        }
    }
    let mut issued = Vec::new();
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(code) => issued.push(code),
            Err(CodeError::TooManyCodes { retry_after }) => {
                assert_eq!(retry_after, Duration::minutes(5));
                refused += 1;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!((issued.len(), refused), (10, 14));
    // Redeeming on one instance makes room on another.
    issuers[0].redeem(issued[0].expose(), None).await.unwrap();
    issuers[3].issue(Some(&config), &secret, request()).await.unwrap();
    assert!(matches!(
        issuers[2].issue(Some(&config), &secret, request()).await,
        Err(CodeError::TooManyCodes { .. })
    ));
    // After the codes' lifetime, the settable clock says they have expired.
    clock.advance(Duration::minutes(5));
    issuers[1].issue(Some(&config), &secret, request()).await.unwrap();
}
