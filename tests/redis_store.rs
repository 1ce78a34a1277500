//! `RedisCodeStore` against a real `redis-server` each test starts on a free
//! loopback port: single use, concurrency across connections, expiry, and
//! failures (refused, hung, foreign data) as typed errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

crate::test_main!(
    a_code_redeems_once_then_is_already_used_and_strangers_are_unknown,
    keys_are_the_prefix_and_the_digest_and_never_hold_the_code,
    sixty_four_concurrent_redemptions_on_two_connections_yield_one_grant = 8,
    redis_forgets_a_code_after_its_lifetime_and_tombstones_keep_the_ttl,
    expiry_is_answered_from_now_before_redis_drops_the_entry,
    insert_never_overwrites,
    foreign_data_under_a_key_is_an_error_not_a_code,
    nothing_listening_is_connection_refused,
    a_killed_server_is_a_typed_error_and_a_restarted_one_works_again,
    a_hung_server_times_out_and_a_redeemed_code_stays_used,
    the_replay_cache_accepts_a_jti_once_across_connections_until_it_expires,
    revocations_are_shared_and_expire_with_the_session,
);

use support::redis::RedisServer;

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use kb_sso::store::redis::{DEFAULT_CODE_PREFIX, RedisCodeStore, RedisConnection, RedisStoreError};
use kb_sso::{
    CodeDigest, CodeError, CodeGrant, CodeIssuer, CodeRequest, CodeStore, GrantProblem, JwtConfig, ReaderIdentity,
    Redemption, SystemClock,
};
use time::{Duration, OffsetDateTime};

/// A raw connection for looking at and tampering with what the store wrote.
async fn raw(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn store(server: &RedisServer) -> RedisCodeStore {
    RedisCodeStore::new(RedisConnection::connect(&server.url()).await.unwrap())
}

/// Now, in whole seconds: grants store their times as unix seconds.
fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().replace_nanosecond(0).unwrap()
}

fn grant(issued_at: OffsetDateTime, lifetime: Duration) -> CodeGrant {
    let (config, _) = JwtConfig::builder("Portal", "https://app.example.com/login")
        .build()
        .unwrap();
    CodeGrant {
        client_id: config.client_id().clone(),
        identity: ReaderIdentity {
            username: "john.doe".into(),
            first_name: "John".into(),
            last_name: "Doe".into(),
            email: "john.doe@example.com".into(),
            reader_group_ids: vec!["group1".into()],
        },
        token_validity_seconds: 900,
        issued_at,
        expires_at: issued_at + lifetime,
        code_challenge: None,
    }
}

fn digest(name: &str) -> CodeDigest {
    CodeDigest::of(name)
}

async fn a_code_redeems_once_then_is_already_used_and_strangers_are_unknown() {
    let server = RedisServer::start("redis_redeems_once");
    let store = store(&server).await;
    let t0 = now();
    let g = grant(t0, Duration::minutes(5));
    store.insert(digest("one"), g.clone()).await.unwrap();

    assert_eq!(
        store.redeem(digest("one"), t0).await.unwrap(),
        Redemption::Redeemed(g.clone())
    );
    assert_eq!(
        store.redeem(digest("one"), t0).await.unwrap(),
        Redemption::AlreadyUsed(Box::new(g)),
        "the tombstone carries the first redemption's grant"
    );
    assert_eq!(
        store.redeem(digest("never issued"), t0).await.unwrap(),
        Redemption::Unknown
    );
}

async fn keys_are_the_prefix_and_the_digest_and_never_hold_the_code() {
    let server = RedisServer::start("redis_keys_are_digests");
    let conn = RedisConnection::connect(&server.url()).await.unwrap();
    let (config, secrets) = JwtConfig::builder("Portal", "https://app.example.com/login")
        .build()
        .unwrap();
    let issuer = CodeIssuer::new(RedisCodeStore::new(conn.clone()), SystemClock);
    let body = br#"{"username":"u","firstName":"","lastName":"","emailId":"u@example.com"}"#;
    let code = issuer
        .issue(
            Some(&config),
            secrets.primary.expose().as_bytes(),
            CodeRequest::from_json(body).unwrap(),
        )
        .await
        .unwrap();

    let mut raw = raw(&server).await;
    let mut keys: Vec<String> = redis::cmd("KEYS").arg("*").query_async(&mut raw).await.unwrap();
    keys.sort();
    let expected = format!("{DEFAULT_CODE_PREFIX}{}", code.digest().to_hex());
    // Beside the code's entry: its client's set of outstanding codes, which
    // holds digests only.
    let outstanding = format!("{DEFAULT_CODE_PREFIX}outstanding:{}", config.client_id().as_str());
    assert_eq!(keys, [expected.clone(), outstanding.clone()]);
    assert_eq!(issuer.store().outstanding_key(config.client_id()), outstanding);
    let members: Vec<String> = redis::cmd("ZRANGE")
        .arg(&outstanding)
        .arg(0)
        .arg(-1)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(members, [code.digest().to_hex()]);
    assert_eq!(issuer.store().key(&code.digest()), expected);
    let value: String = redis::cmd("GET").arg(&expected).query_async(&mut raw).await.unwrap();
    assert!(!value.contains(code.expose()), "the code itself is never stored");
    assert!(!expected.contains(code.expose()));

    // Another prefix is another keyspace: it cannot see or take this code.
    let other = RedisCodeStore::new(conn).with_prefix("tenant-b:code:");
    assert_eq!(other.prefix(), "tenant-b:code:");
    assert_eq!(other.redeem(code.digest(), now()).await.unwrap(), Redemption::Unknown);
    assert!(issuer.redeem(code.expose(), Some(config.client_id())).await.is_ok());
}

async fn sixty_four_concurrent_redemptions_on_two_connections_yield_one_grant() {
    let server = RedisServer::start("redis_concurrent_redemptions");
    // Two stores on two connections, as two app instances would have.
    let stores = [Arc::new(store(&server).await), Arc::new(store(&server).await)];
    let t0 = now();
    for round in 0..5 {
        let d = digest(&format!("contended {round}"));
        stores[0].insert(d, grant(t0, Duration::minutes(5))).await.unwrap();
        let start = Arc::new(tokio::sync::Barrier::new(64));
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let store = stores[i % 2].clone();
                let start = start.clone();
                tokio::spawn(async move {
                    start.wait().await;
                    store.redeem(d, t0).await.unwrap()
                })
            })
            .collect();
        let mut redeemed = 0;
        for task in tasks {
            match task.await.unwrap() {
                Redemption::Redeemed(_) => redeemed += 1,
                Redemption::AlreadyUsed(_) => {}
                other => panic!("unexpected answer {other:?}"),
            }
        }
        assert_eq!(redeemed, 1, "round {round}");
    }
}

async fn redis_forgets_a_code_after_its_lifetime_and_tombstones_keep_the_ttl() {
    let server = RedisServer::start("redis_ttl");
    let store = store(&server).await;
    let mut raw = raw(&server).await;
    let t0 = now();

    // A code that is never redeemed: Redis drops it after its 1 s lifetime.
    store
        .insert(digest("short"), grant(t0, Duration::seconds(1)))
        .await
        .unwrap();
    let key = store.key(&digest("short"));
    let ttl: i64 = redis::cmd("PTTL").arg(&key).query_async(&mut raw).await.unwrap();
    assert!((1..=1000).contains(&ttl), "ttl {ttl}");
    let deadline = Instant::now() + StdDuration::from_secs(10);
    loop {
        let exists: bool = redis::cmd("EXISTS").arg(&key).query_async(&mut raw).await.unwrap();
        if !exists {
            break;
        }
        assert!(Instant::now() < deadline, "Redis never dropped the entry");
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    // Asked as of its issue time, so only Redis's forgetting can answer.
    assert_eq!(store.redeem(digest("short"), t0).await.unwrap(), Redemption::Unknown);

    // A redeemed code's tombstone expires when the code would have.
    store
        .insert(digest("long"), grant(t0, Duration::minutes(5)))
        .await
        .unwrap();
    let key = store.key(&digest("long"));
    assert!(matches!(
        store.redeem(digest("long"), t0).await.unwrap(),
        Redemption::Redeemed(_)
    ));
    let ttl: i64 = redis::cmd("PTTL").arg(&key).query_async(&mut raw).await.unwrap();
    assert!((1..=300_000).contains(&ttl), "tombstone ttl {ttl}");
}

async fn expiry_is_answered_from_now_before_redis_drops_the_entry() {
    let server = RedisServer::start("redis_expired_from_now");
    let store = store(&server).await;
    let t0 = now();
    store
        .insert(digest("late"), grant(t0, Duration::minutes(5)))
        .await
        .unwrap();
    store
        .insert(digest("just in time"), grant(t0, Duration::minutes(5)))
        .await
        .unwrap();

    let expiry = t0 + Duration::minutes(5);
    assert_eq!(store.redeem(digest("late"), expiry).await.unwrap(), Redemption::Expired);
    assert_eq!(
        store.redeem(digest("late"), t0).await.unwrap(),
        Redemption::Unknown,
        "an expired code never comes back"
    );
    assert!(matches!(
        store
            .redeem(digest("just in time"), expiry - Duration::milliseconds(1))
            .await
            .unwrap(),
        Redemption::Redeemed(_)
    ));
}

async fn insert_never_overwrites() {
    let server = RedisServer::start("redis_insert_nx");
    let store = store(&server).await;
    let t0 = now();
    let first = grant(t0, Duration::minutes(5));
    store.insert(digest("taken"), first.clone()).await.unwrap();
    assert_eq!(
        store.insert(digest("taken"), grant(t0, Duration::minutes(5))).await,
        Err(RedisStoreError::DigestInUse)
    );
    assert_eq!(
        store.redeem(digest("taken"), t0).await.unwrap(),
        Redemption::Redeemed(first.clone())
    );
    // Nor does it revive a used code.
    assert_eq!(
        store.insert(digest("taken"), grant(t0, Duration::minutes(5))).await,
        Err(RedisStoreError::DigestInUse)
    );
    assert_eq!(
        store.redeem(digest("taken"), t0).await.unwrap(),
        Redemption::AlreadyUsed(Box::new(first))
    );
}

async fn foreign_data_under_a_key_is_an_error_not_a_code() {
    let server = RedisServer::start("redis_foreign_data");
    let store = store(&server).await;
    let mut raw = raw(&server).await;
    let t0 = now();
    let set = |key: String, value: &'static str| {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(value);
        cmd
    };
    let _: () = set(store.key(&digest("garbage")), "not ours")
        .query_async(&mut raw)
        .await
        .unwrap();
    let _: () = set(store.key(&digest("bad json")), "U|0|{\"client_id\":")
        .query_async(&mut raw)
        .await
        .unwrap();
    let _: () = redis::cmd("HSET")
        .arg(store.key(&digest("hash")))
        .arg("f")
        .arg("v")
        .query_async(&mut raw)
        .await
        .unwrap();

    for name in ["garbage", "bad json"] {
        assert!(
            matches!(store.redeem(digest(name), t0).await, Err(RedisStoreError::BadData(_))),
            "{name}"
        );
    }
    assert!(matches!(
        store.redeem(digest("hash"), t0).await,
        Err(RedisStoreError::Server(_))
    ));
}

async fn nothing_listening_is_connection_refused() {
    let mut server = RedisServer::start("redis_refused_at_connect");
    let url = server.url();
    server.kill();
    assert_eq!(
        RedisConnection::connect(&url).await.unwrap_err(),
        RedisStoreError::ConnectionRefused
    );
}

async fn a_killed_server_is_a_typed_error_and_a_restarted_one_works_again() {
    let mut server = RedisServer::start("redis_killed_and_restarted");
    let conn = RedisConnection::connect(&server.url()).await.unwrap();
    let issuer = CodeIssuer::new(RedisCodeStore::new(conn), SystemClock);
    let store = issuer.store();
    let t0 = now();
    store
        .insert(digest("pending"), grant(t0, Duration::minutes(5)))
        .await
        .unwrap();

    server.kill();
    // The first call may see the dropped connection, the next ones the
    // refused reconnection; none of them may answer as if the code were
    // unknown.
    let mut refused = false;
    for _ in 0..10 {
        match store.redeem(digest("pending"), t0).await {
            Err(RedisStoreError::ConnectionRefused) => {
                refused = true;
                break;
            }
            Err(RedisStoreError::Connection(_)) => {}
            other => panic!("a dead server answered {other:?}"),
        }
    }
    assert!(refused, "a dead server is reported as a refused connection");

    // Through the issuer it is a store failure, not an invalid grant.
    let code = "x".repeat(kb_sso::RANDOM_TOKEN_LEN);
    match issuer.redeem(&code, None).await {
        Err(CodeError::CodeStore(source)) => {
            let e = source.downcast_ref::<RedisStoreError>().unwrap();
            assert!(
                matches!(e, RedisStoreError::ConnectionRefused | RedisStoreError::Connection(_)),
                "{e:?}"
            );
        }
        other => panic!("expected a store failure, got {other:?}"),
    }

    // Same port, fresh server (no persistence): the store reconnects.
    server.restart();
    let g = grant(now(), Duration::minutes(5));
    let mut inserted = false;
    for _ in 0..10 {
        match store.insert(digest("after restart"), g.clone()).await {
            Ok(()) => {
                inserted = true;
                break;
            }
            Err(RedisStoreError::ConnectionRefused | RedisStoreError::Connection(_)) => {
                tokio::time::sleep(StdDuration::from_millis(100)).await;
            }
            Err(e) => panic!("unexpected error after restart: {e:?}"),
        }
    }
    assert!(inserted, "the store works again after a restart");
    assert_eq!(
        store.redeem(digest("after restart"), g.issued_at).await.unwrap(),
        Redemption::Redeemed(g)
    );
    assert!(matches!(
        issuer.redeem(&code, None).await,
        Err(CodeError::InvalidGrant(GrantProblem::Unknown))
    ));
}

async fn a_hung_server_times_out_and_a_redeemed_code_stays_used() {
    let server = RedisServer::start("redis_hung_server");
    let timeout = StdDuration::from_millis(500);
    let conn = RedisConnection::connect_with_timeout(&server.url(), timeout)
        .await
        .unwrap();
    assert_eq!(conn.command_timeout(), timeout);
    let store = RedisCodeStore::new(conn);
    let t0 = now();
    let g = grant(t0, Duration::minutes(5));
    store.insert(digest("once"), g.clone()).await.unwrap();
    assert_eq!(
        store.redeem(digest("once"), t0).await.unwrap(),
        Redemption::Redeemed(g.clone())
    );

    server.pause();
    assert_eq!(
        store.redeem(digest("once"), t0).await,
        Err(RedisStoreError::Timeout(timeout))
    );
    server.resume();

    // Once the server answers again, the code is still used. The first
    // call may still fail while the connection recovers.
    let mut answer = None;
    for _ in 0..10 {
        match store.redeem(digest("once"), t0).await {
            Ok(r) => {
                answer = Some(r);
                break;
            }
            Err(RedisStoreError::Timeout(_) | RedisStoreError::Connection(_)) => {}
            Err(e) => panic!("unexpected error after resume: {e:?}"),
        }
    }
    assert_eq!(answer, Some(Redemption::AlreadyUsed(Box::new(g))));
}

async fn the_replay_cache_accepts_a_jti_once_across_connections_until_it_expires() {
    use kb_sso::ReplayCache as _;
    use kb_sso::store::redis::RedisReplayCache;
    let server = RedisServer::start("the_replay_cache_accepts_a_jti_once_across_connections_until_it_expires");
    let a = RedisReplayCache::new(RedisConnection::connect(&server.url()).await.unwrap());
    let b = RedisReplayCache::new(RedisConnection::connect(&server.url()).await.unwrap());
    let later = OffsetDateTime::now_utc() + Duration::minutes(5);
    assert!(
        a.insert_if_absent("jti-digest-1", later, OffsetDateTime::now_utc())
            .await
            .unwrap()
    );
    assert!(
        !b.insert_if_absent("jti-digest-1", later, OffsetDateTime::now_utc())
            .await
            .unwrap(),
        "seen on another instance"
    );
    assert!(
        b.insert_if_absent("jti-digest-2", later, OffsetDateTime::now_utc())
            .await
            .unwrap()
    );

    // Many instances at once: exactly one wins.
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let cache = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                cache
                    .insert_if_absent("raced", later, OffsetDateTime::now_utc())
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1);

    // Remembered only until the token expires.
    let soon = OffsetDateTime::now_utc() + Duration::milliseconds(300);
    assert!(
        a.insert_if_absent("short", soon, OffsetDateTime::now_utc())
            .await
            .unwrap()
    );
    let deadline = Instant::now() + StdDuration::from_secs(10);
    while !a
        .insert_if_absent("short", soon + Duration::minutes(5), OffsetDateTime::now_utc())
        .await
        .unwrap()
    {
        assert!(Instant::now() < deadline, "Redis never forgot the jti");
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
}

async fn revocations_are_shared_and_expire_with_the_session() {
    use kb_sso::SessionRevocations as _;
    use kb_sso::store::redis::RedisSessionRevocations;
    let mut server = RedisServer::start("revocations_are_shared_and_expire_with_the_session");
    let a = RedisSessionRevocations::new(RedisConnection::connect(&server.url()).await.unwrap());
    let b = RedisSessionRevocations::new(RedisConnection::connect(&server.url()).await.unwrap());
    let now = OffsetDateTime::now_utc();
    assert!(!b.is_revoked("session-1", now).await.unwrap());
    a.revoke("session-1", now + Duration::minutes(5), now).await.unwrap();
    assert!(
        b.is_revoked("session-1", now).await.unwrap(),
        "seen on another instance"
    );
    assert!(!b.is_revoked("session-2", now).await.unwrap());
    a.revoke("short", now + Duration::milliseconds(300), now).await.unwrap();
    let deadline = Instant::now() + StdDuration::from_secs(10);
    while b.is_revoked("short", OffsetDateTime::now_utc()).await.unwrap() {
        assert!(Instant::now() < deadline, "Redis never dropped the revocation");
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    server.kill();
    assert!(
        b.is_revoked("session-1", now).await.is_err(),
        "an outage is an error, never 'not revoked'"
    );
}
