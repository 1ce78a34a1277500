//! Limits on what one code request may cost: a reader identity too large
//! for a token is refused up front (never a code that cannot be redeemed,
//! never a 5xx), and each configuration has a bound on outstanding codes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;
use support::route::{Handle as _, Outcome};

use std::sync::Arc;

use http::{Request, Response, StatusCode, header};
use kb_sso::DEFAULT_MAX_OUTSTANDING_CODES;
use kb_sso::MAX_TOKEN_LEN;
use kb_sso::server::SsoService;
use kb_sso::store::memory::{MemoryCodeStore, MemoryConfigStore};
use kb_sso::{
    ClientCredentials, ClientSecret, CodeDigest, CodeError, CodeGrant, CodeIssuer, CodeStore, GrantProblem,
    IdentityServer, JwtConfig, PayloadError, Project, ProjectSettings, ReaderIdentity, SessionCodec, SettableClock,
    SignError, SigningKey, TokenSigner, WidgetError, WidgetProject, WidgetTokenIssuer, WidgetTokenRequest,
};
use kb_sso::{MAX_FIELD_CHARS, MAX_READER_GROUPS};
use proptest::prelude::*;
use serde_json::{Value, json};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use url::Url;

const ISSUER: &str = "https://kb.example.com";
const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

type Identity = IdentityServer<MemoryConfigStore, MemoryCodeStore, Arc<SettableClock>>;

struct Fixture {
    clock: Arc<SettableClock>,
    client_id: String,
    secret: ClientSecret,
    widgets: WidgetProject,
    widget_secret: ClientSecret,
}

fn fixture() -> (Fixture, JwtConfig) {
    let (config, secrets) = JwtConfig::builder("Portal", "https://app.example.com/login")
        .build()
        .unwrap();
    let (widgets, widget_secret) = WidgetProject::builder("project-1").widget("widget-1").build().unwrap();
    let f = Fixture {
        clock: Arc::new(SettableClock::new(T0)),
        client_id: config.client_id().to_string(),
        secret: secrets.primary,
        widgets,
        widget_secret,
    };
    (f, config)
}

fn identity_server(config: JwtConfig, f: &Fixture, codes: CodeIssuer<MemoryCodeStore, Arc<SettableClock>>) -> Identity {
    let project = Project::new(ProjectSettings::default(), vec![config], vec![])
        .unwrap()
        .with_widget(f.widgets.clone());
    IdentityServer::new(
        MemoryConfigStore::new(project),
        codes,
        TokenSigner::new(SigningKey::generate_ed25519("kb-sso-1").unwrap()),
        ISSUER,
    )
}

fn service(f: &Fixture, identity: Identity) -> SsoService<MemoryConfigStore, MemoryCodeStore, Arc<SettableClock>> {
    let sessions = SessionCodec::new(SessionCodec::generate_key().as_ref()).unwrap();
    let _ = f;
    SsoService::new(identity, sessions, &Url::parse(ISSUER).unwrap()).unwrap()
}

fn credentials(f: &Fixture) -> ClientCredentials {
    ClientCredentials::new(f.client_id.clone(), f.secret.clone())
}

/// A code request body for `groups`.
fn body(groups: &[String]) -> Vec<u8> {
    json!({
        "username": "john.doe",
        "firstName": "John",
        "lastName": "Doe",
        "emailId": "john.doe@example.com",
        "readerGroupIds": groups,
    })
    .to_string()
    .into_bytes()
}

/// `n` reader group ids of `len` characters each: within every field limit.
fn groups(n: usize, len: usize) -> Vec<String> {
    assert!(n <= MAX_READER_GROUPS && len <= MAX_FIELD_CHARS);
    (0..n).map(|i| format!("{i:0len$}")).collect()
}

fn send<C: kb_sso::Clock>(
    service: &SsoService<MemoryConfigStore, MemoryCodeStore, C>,
    req: Request<Vec<u8>>,
) -> Response<Vec<u8>> {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    match rt.block_on(service.handle(req)) {
        Outcome::Response(r) => r,
        Outcome::Page(_) => panic!("page"),
    }
}

fn generate_code_request(f: &Fixture, body: Vec<u8>) -> Request<Vec<u8>> {
    Request::post("/api/jwt/generate-code")
        .header(header::AUTHORIZATION, credentials(f).to_basic_header().as_str())
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .unwrap()
}

fn widget_form(f: &Fixture, groups: &[String]) -> Vec<u8> {
    let payload = json!({
        "username": "john.doe",
        "firstName": "John",
        "lastName": "Doe",
        "emailId": "john.doe@example.com",
        "readerGroupIds": groups,
        "tokenValidity": 900,
        "widgetId": "widget-1",
        "projectId": f.widgets.project_id(),
    })
    .to_string();
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "Widget")
        .append_pair("payload", &payload)
        .append_pair("client_id", f.widgets.project_id())
        .append_pair("client_secret", f.widget_secret.expose())
        .finish()
        .into_bytes()
}

fn json_of(resp: &Response<Vec<u8>>) -> Value {
    serde_json::from_slice(resp.body()).unwrap()
}

fn block_on<T>(fut: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(fut)
}

// ---------------------------------------------------------------------------
// Oversized identities
// ---------------------------------------------------------------------------

#[test]
fn an_identity_too_large_for_a_token_is_refused_at_code_issuance_with_its_size() {
    let (f, config) = fixture();
    let identity = identity_server(config, &f, CodeIssuer::new(MemoryCodeStore::new(), f.clock.clone()));
    let room = identity.identity_room();
    assert!(room > 4000 && room < MAX_TOKEN_LEN, "room {room}");
    // 100 groups of 64 characters: every field within its limit, the whole
    // far beyond a token's 8 KiB once base64-encoded.
    let big = groups(100, 64);
    let err = block_on(identity.issue_code(&credentials(&f), &body(&big))).unwrap_err();
    let CodeError::InvalidRequest(PayloadError::IdentityTooLarge { size, max }) = err else {
        panic!("{err:?}");
    };
    assert_eq!(max, room);
    assert!(size > max);
    let text = PayloadError::IdentityTooLarge { size, max }.to_string();
    assert_eq!(
        text,
        format!(
            "the reader's identity is too large: {size} bytes, at most {max} \
             (its names, email and reader groups must fit in a signed token and a session cookie)"
        )
    );
    assert!(identity.codes().store().is_empty(), "no code was stored");
}

/// An identity of exactly `target` bytes ([`ReaderIdentity::token_bytes`]).
fn identity_of(target: usize) -> ReaderIdentity {
    let n = MAX_READER_GROUPS;
    // Groups take all but 400 to 500 bytes; username and email the rest.
    let len = (target.saturating_sub(499) / n).saturating_sub(2).max(1);
    let mut who = ReaderIdentity {
        username: "u".into(),
        first_name: String::new(),
        last_name: String::new(),
        email: "u@x".into(),
        reader_group_ids: groups(n, len),
    };
    for field in [0, 1] {
        while who.token_bytes() < target {
            let s = if field == 0 { &mut who.username } else { &mut who.email };
            if s.chars().count() == MAX_FIELD_CHARS {
                break;
            }
            s.insert(0, 'a');
        }
    }
    assert_eq!(who.token_bytes(), target, "target {target} reachable");
    who
}

fn body_of(who: &ReaderIdentity) -> Vec<u8> {
    json!({
        "username": who.username, "firstName": who.first_name, "lastName": who.last_name,
        "emailId": who.email, "readerGroupIds": who.reader_group_ids, "tokenValidity": 1440,
    })
    .to_string()
    .into_bytes()
}

#[test]
fn the_largest_identity_accepted_signs_and_one_byte_more_is_refused() {
    let (f, config) = fixture();
    let identity = identity_server(config, &f, CodeIssuer::new(MemoryCodeStore::new(), f.clock.clone()));
    let room = identity.identity_room();
    let fits = identity_of(room);
    let code = block_on(identity.issue_code(&credentials(&f), &body_of(&fits))).unwrap();
    let tokens = block_on(identity.exchange(code.expose(), None)).unwrap();
    assert!(tokens.id_token.len() <= MAX_TOKEN_LEN);
    assert!(
        tokens.id_token.len() > MAX_TOKEN_LEN - 16,
        "the room is tight: {}",
        tokens.id_token.len()
    );
    let over = identity_of(room + 1);
    assert!(matches!(
        block_on(identity.issue_code(&credentials(&f), &body_of(&over))),
        Err(CodeError::InvalidRequest(PayloadError::IdentityTooLarge { .. }))
    ));
}

#[test]
fn a_large_group_list_gets_400_at_generate_code_and_at_widget_token_never_5xx() {
    let (f, config) = fixture();
    let identity = identity_server(config, &f, CodeIssuer::new(MemoryCodeStore::new(), f.clock.clone()));
    let service = service(&f, identity);
    // The largest lists stay under the widget's 16 KiB `payload` limit, so
    // that it is the identity's size that is refused.
    for (n, len) in [(100, 64), (100, 60), (90, 70), (60, 150)] {
        let resp = send(&service, generate_code_request(&f, body(&groups(n, len))));
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "generate-code {n}x{len}");
        let answer = json_of(&resp);
        assert_eq!(answer["error"], "invalid_request");
        let text = answer["error_description"].as_str().unwrap();
        assert!(text.starts_with("the reader's identity is too large: "), "{text}");

        let req = Request::post("/api/jwt/widget-token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(widget_form(&f, &groups(n, len)))
            .unwrap();
        let resp = send(&service, req);
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "widget-token {n}x{len}");
        let answer = json_of(&resp);
        assert_eq!(answer["error"], "invalid_request");
        assert!(
            answer["error_description"]
                .as_str()
                .unwrap()
                .starts_with("the reader's identity is too large: ")
        );
    }
    // At the field limits: a 400 at both endpoints, never a 5xx.
    let most = groups(MAX_READER_GROUPS, MAX_FIELD_CHARS);
    let resp = send(&service, generate_code_request(&f, body(&most)));
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let req = Request::post("/api/jwt/widget-token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(widget_form(&f, &most))
        .unwrap();
    assert_eq!(send(&service, req).status(), StatusCode::BAD_REQUEST);
    // A group list that fits still gets a code and a token.
    let resp = send(&service, generate_code_request(&f, body(&groups(30, 64))));
    assert_eq!(resp.status(), StatusCode::OK);
    let code = json_of(&resp)["code"].as_str().unwrap().to_owned();
    let resp = send(
        &service,
        Request::post("/api/jwt/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(format!("grant_type=authorization_code&code={code}").into_bytes())
            .unwrap(),
    );
    assert_eq!(resp.status(), StatusCode::OK);
}

#[test]
fn a_widget_identity_too_large_for_a_token_is_refused_before_signing() {
    let (f, _) = fixture();
    let issuer = WidgetTokenIssuer::new(
        TokenSigner::new(SigningKey::generate_ed25519("kb-sso-1").unwrap()),
        ISSUER,
        f.clock.clone(),
    );
    let request = WidgetTokenRequest::parse(std::iter::empty::<&[u8]>(), &widget_form(&f, &groups(100, 64))).unwrap();
    let err = issuer.issue(Some(&f.widgets), &request).unwrap_err();
    assert!(
        matches!(err, WidgetError::InvalidField(PayloadError::IdentityTooLarge { size, max }) if size > max),
        "{err:?}"
    );
    assert_eq!((err.oauth_error(), err.status()), ("invalid_request", 400));
}

#[test]
fn a_signing_failure_at_redemption_is_a_signing_error_and_a_500_not_a_store_failure() {
    let (f, config) = fixture();
    let client_id = config.client_id().clone();
    let identity = identity_server(config, &f, CodeIssuer::new(MemoryCodeStore::new(), f.clock.clone()));
    // A grant no issuer would store today (written to the store directly,
    // as one from an older version might have been).
    let code = "A".repeat(43);
    let grant = CodeGrant {
        client_id,
        identity: ReaderIdentity {
            username: "u".into(),
            first_name: String::new(),
            last_name: String::new(),
            email: "u@x".into(),
            reader_group_ids: groups(100, 256),
        },
        token_validity_seconds: 900,
        issued_at: T0,
        expires_at: T0 + Duration::minutes(5),
        code_challenge: None,
    };
    block_on(identity.codes().store().insert(CodeDigest::of(&code), grant.clone())).unwrap();
    assert!(matches!(
        block_on(identity.exchange(&code, None)),
        Err(CodeError::Sign(SignError::TooLarge))
    ));

    // The back channel signs the tokens: its signing failure is a 500.
    let code2 = "B".repeat(43);
    block_on(identity.codes().store().insert(CodeDigest::of(&code2), grant.clone())).unwrap();
    let code3 = "C".repeat(43);
    block_on(identity.codes().store().insert(CodeDigest::of(&code3), grant)).unwrap();
    let service = service(&f, identity);
    let resp = send(
        &service,
        Request::post("/api/jwt/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(format!("grant_type=authorization_code&code={code2}").into_bytes())
            .unwrap(),
    );
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(json_of(&resp)["error"], "server_error");
    // In process nothing is signed: the session is too large for a cookie,
    // and is refused rather than issued.
    let resp = send(
        &service,
        Request::get(format!("/jwt/authorize?code={code3}"))
            .body(Vec::new())
            .unwrap(),
    );
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(&resp)["error"], "invalid_request");
    assert!(resp.headers().get(header::SET_COOKIE).is_none());
}

fn arb_identity() -> impl Strategy<Value = ReaderIdentity> {
    // Characters that JSON escapes (quote, backslash) and multi-byte ones.
    let text = "[a-z\"\\\\é中]{1,256}";
    (
        text,
        "[a-zé \"]{0,256}",
        "[a-zé \"]{0,256}",
        "[a-z\"]{1,250}@x",
        prop::collection::vec(text, 0..=MAX_READER_GROUPS),
    )
        .prop_map(
            |(username, first_name, last_name, email, reader_group_ids)| ReaderIdentity {
                username,
                first_name,
                last_name,
                email,
                reader_group_ids,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the identity (within the field limits), a code is either
    /// refused up front for its size or redeems into signed tokens.
    #[test]
    fn every_code_issued_can_be_redeemed(who in arb_identity()) {
        let (f, config) = fixture();
        let identity = identity_server(config, &f, CodeIssuer::new(MemoryCodeStore::new(), f.clock.clone()));
        match block_on(identity.issue_code(&credentials(&f), &body_of(&who))) {
            Ok(code) => {
                prop_assert!(who.token_bytes() <= identity.identity_room());
                let tokens = block_on(identity.exchange(code.expose(), None));
                prop_assert!(tokens.is_ok(), "{:?}", tokens.err());
            }
            Err(CodeError::InvalidRequest(PayloadError::IdentityTooLarge { size, max })) => {
                prop_assert_eq!(size, who.token_bytes());
                prop_assert!(size > max);
            }
            Err(e) => prop_assert!(false, "unexpected {e:?}"),
        }
    }
}

// ---------------------------------------------------------------------------
// Outstanding codes per configuration
// ---------------------------------------------------------------------------

#[test]
fn the_default_bound_is_a_thousand_outstanding_codes() {
    let (f, _) = fixture();
    let codes = CodeIssuer::new(MemoryCodeStore::new(), f.clock.clone());
    assert_eq!(codes.max_outstanding(), DEFAULT_MAX_OUTSTANDING_CODES);
    assert_eq!(DEFAULT_MAX_OUTSTANDING_CODES, 1000);
}

#[test]
fn codes_past_the_bound_are_refused_until_one_is_redeemed_or_expires() {
    let (f, config) = fixture();
    let (other, other_secrets) = JwtConfig::builder("Other", "https://other.example.com/login")
        .build()
        .unwrap();
    let project = Project::new(ProjectSettings::default(), vec![config, other.clone()], vec![]).unwrap();
    let codes = CodeIssuer::new(MemoryCodeStore::new(), f.clock.clone()).with_max_outstanding(3);
    let identity = IdentityServer::new(
        MemoryConfigStore::new(project),
        codes,
        TokenSigner::new(SigningKey::generate_ed25519("kb-sso-1").unwrap()),
        ISSUER,
    );
    let issue = |creds: &ClientCredentials| block_on(identity.issue_code(creds, &body(&groups(1, 4))));
    let mine = credentials(&f);

    let first = issue(&mine).unwrap();
    f.clock.advance(Duration::minutes(1));
    let _second = issue(&mine).unwrap();
    let _third = issue(&mine).unwrap();
    let err = issue(&mine).unwrap_err();
    let CodeError::TooManyCodes { retry_after } = err else {
        panic!("{err:?}")
    };
    assert_eq!(retry_after, Duration::minutes(4), "until the oldest expires");
    assert_eq!(identity.codes().store().outstanding(&other.client_id().clone(), T0), 0);
    // Another configuration has its own bound.
    let theirs = ClientCredentials::new(other.client_id().as_str(), other_secrets.primary.clone());
    issue(&theirs).unwrap();

    // Redeeming a code makes room, at once.
    block_on(identity.exchange(first.expose(), None)).unwrap();
    let fourth = issue(&mine).unwrap();
    assert!(matches!(issue(&mine), Err(CodeError::TooManyCodes { .. })));
    // A failed redemption uses a code up too, and makes room.
    assert!(matches!(
        block_on(identity.exchange(fourth.expose(), Some(&theirs))),
        Err(CodeError::InvalidGrant(GrantProblem::WrongClient))
    ));
    issue(&mine).unwrap();
    assert!(matches!(issue(&mine), Err(CodeError::TooManyCodes { .. })));

    // Expiry makes room: the codes of minute 1 expire at minute 6.
    f.clock.set(T0 + Duration::minutes(6) - Duration::SECOND);
    assert!(matches!(issue(&mine), Err(CodeError::TooManyCodes { .. })));
    f.clock.set(T0 + Duration::minutes(6));
    for _ in 0..3 {
        issue(&mine).unwrap();
    }
    assert!(matches!(issue(&mine), Err(CodeError::TooManyCodes { .. })));
}

#[test]
fn too_many_outstanding_codes_is_429_with_retry_after() {
    let (f, config) = fixture();
    let identity = identity_server(
        config,
        &f,
        CodeIssuer::new(MemoryCodeStore::new(), f.clock.clone()).with_max_outstanding(2),
    );
    let service = service(&f, identity);
    for _ in 0..2 {
        let resp = send(&service, generate_code_request(&f, body(&groups(1, 4))));
        assert_eq!(resp.status(), StatusCode::OK);
    }
    f.clock.advance(Duration::seconds(100));
    let resp = send(&service, generate_code_request(&f, body(&groups(1, 4))));
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers()[header::RETRY_AFTER], "200");
    assert_eq!(json_of(&resp)["error"], "too_many_requests");
}

#[test]
fn concurrent_issuers_never_exceed_the_bound() {
    let (f, config) = fixture();
    let identity = Arc::new(identity_server(
        config,
        &f,
        CodeIssuer::new(MemoryCodeStore::new(), f.clock.clone()).with_max_outstanding(25),
    ));
    let creds = credentials(&f);
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let identity = identity.clone();
            let creds = creds.clone();
            std::thread::spawn(move || {
                (0..10)
                    .filter(|_| block_on(identity.issue_code(&creds, &body(&groups(1, 4)))).is_ok())
                    .count()
            })
        })
        .collect();
    let issued: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(issued, 25);
    let client = kb_sso::ClientId::parse(&f.client_id).unwrap();
    assert_eq!(identity.codes().store().outstanding(&client, T0), 25);
}
