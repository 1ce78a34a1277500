//! Every expiry a store decides follows the injected clock: replay and
//! revocation entries are judged by the `now` their caller passes, never by
//! the system clock. The clocks here stand years away from the real time,
//! so a store that read the system clock would forget every entry at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use http::{Request, header};
use kb_sso::client::{HandshakeClaimsBuilder, HandshakeSigner};
use kb_sso::server::SsoService;
use kb_sso::store::memory::{MemoryCodeStore, MemoryConfigStore, MemoryReplayCache, MemorySessionRevocations};
use kb_sso::{
    ClientId, ClientSecret, Clock, CodeIssuer, IdentityServer, Project, ProjectSettings, ReaderSession, ReplayCache,
    SessionCodec, SessionRevocations, SettableClock, SigningKey, TokenSigner,
};
use kb_sso::{HandshakeKey, HandshakeSettings, HandshakeVerifier};
use time::{Duration, OffsetDateTime, macros::datetime};
use url::Url;

/// Long before the tests run.
const PAST: OffsetDateTime = datetime!(2020-01-01 00:00 UTC);
/// Long after the tests run.
const FUTURE: OffsetDateTime = datetime!(2200-01-01 00:00 UTC);

#[tokio::test]
async fn a_replayed_handshake_is_refused_at_the_verifiers_time_not_the_systems() {
    let client = ClientId::generate();
    let secret = ClientSecret::generate();
    let mut verifier = HandshakeVerifier::new();
    verifier
        .insert(
            client.clone(),
            HandshakeSettings::builder(HandshakeKey::hs256(&secret, None).unwrap())
                .build()
                .unwrap(),
        )
        .unwrap();
    let signer = HandshakeSigner::hs256(client.as_str(), &secret).unwrap();
    let cache = MemoryReplayCache::new();
    let token = signer
        .sign(&HandshakeClaimsBuilder::new().subject("john.doe"), PAST)
        .unwrap();
    assert!(verifier.verify_str(&token, PAST, &cache).await.is_ok());
    let again = verifier.verify_str(&token, PAST, &cache).await.unwrap_err();
    assert_eq!(
        again.reason(),
        "replayed",
        "a jti is remembered while its token verifies"
    );
}

#[tokio::test]
async fn replay_entries_expire_when_the_settable_clock_says() {
    let clock = SettableClock::new(FUTURE);
    let cache = MemoryReplayCache::new();
    let until = FUTURE + Duration::minutes(5);
    assert!(cache.insert_if_absent("key", until, clock.now()).await.unwrap());
    clock.advance(Duration::minutes(5) - Duration::SECOND);
    assert!(
        !cache.insert_if_absent("key", until, clock.now()).await.unwrap(),
        "still remembered"
    );
    clock.set(until);
    assert!(
        cache
            .insert_if_absent("key", until + Duration::minutes(5), clock.now())
            .await
            .unwrap(),
        "forgotten at its expiry"
    );
    cache.sweep(clock.now());
    assert_eq!(cache.len(), 1, "the renewed entry stays");
    cache.sweep(until + Duration::minutes(5));
    assert!(cache.is_empty());
}

#[tokio::test]
async fn revocations_expire_and_are_swept_when_the_settable_clock_says() {
    let clock = SettableClock::new(PAST);
    let revoked = MemorySessionRevocations::new();
    let until = PAST + Duration::hours(1);
    // Enough revocations to make the list sweep itself as one more arrives.
    for i in 0..2048 {
        revoked.revoke(&format!("s{i}"), until, clock.now()).await.unwrap();
    }
    revoked.revoke("last", until, clock.now()).await.unwrap();
    assert!(
        revoked.is_revoked("s0", clock.now()).await.unwrap(),
        "a sweep keeps what is in force"
    );
    clock.set(until);
    assert!(
        !revoked.is_revoked("s0", clock.now()).await.unwrap(),
        "over when the session would have ended"
    );
}

fn session(jti: &str, expires_at: OffsetDateTime) -> ReaderSession {
    ReaderSession {
        username: "john.doe".into(),
        email: "john.doe@example.com".into(),
        first_name: "John".into(),
        last_name: "Doe".into(),
        groups: vec![],
        client_id: ClientId::generate(),
        jti: jti.into(),
        expires_at,
        name: String::new(),
        claims: serde_json::Map::new(),
        binding: None,
    }
}

/// Through the service: sessions logged out while the service's clock
/// stands in the past stay revoked, however many there are.
#[tokio::test]
async fn logged_out_sessions_stay_revoked_by_the_services_clock() {
    let clock = Arc::new(SettableClock::new(PAST));
    let project = Project::new(ProjectSettings::default(), vec![], vec![]).unwrap();
    let identity = IdentityServer::new(
        MemoryConfigStore::new(project),
        CodeIssuer::new(MemoryCodeStore::new(), clock.clone()),
        TokenSigner::new(SigningKey::generate_ed25519("k").unwrap()),
        "http://kb.example.com",
    );
    let key = SessionCodec::generate_key();
    let codec = SessionCodec::new(key.as_ref()).unwrap();
    let service = SsoService::new(
        identity,
        SessionCodec::new(key.as_ref()).unwrap(),
        &Url::parse("http://kb.example.com").unwrap(),
    )
    .unwrap()
    .session_revocations(MemorySessionRevocations::new());
    let cookie = |jti: &str| {
        let value = codec.encode(&session(jti, PAST + Duration::hours(1))).unwrap();
        format!("kb_session={value}")
    };
    let request = |jti: &str| {
        Request::get("http://kb.example.com/jwt/logout")
            .header(header::COOKIE, cookie(jti))
            .body(Vec::<u8>::new())
            .unwrap()
    };
    assert!(service.reader(request("s0").headers(), PAST).await.is_some());
    for i in 0..1100 {
        service.site().logout(&request(&format!("s{i}"))).await;
    }
    assert!(
        service.reader(request("s0").headers(), PAST).await.is_none(),
        "the first logout still holds"
    );
}
