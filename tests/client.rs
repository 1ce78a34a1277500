//! The customer-app side: its requests round-trip through the identity
//! server's own parsers, and its handshake tokens verify with the KB's keys.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;
use support::route::{Handle as _, Outcome};

use http::{Method, Response, StatusCode, header};
use kb_sso::client::{
    ClientError, CodeRequestBuilder, HandshakeClaimsBuilder, HandshakeSigner, SignInRequest, WidgetAnswer,
    WidgetTokenRequestBuilder, authorize_url, handshake_callback_url, parse_code_response, parse_widget_token_response,
};
use kb_sso::server::SsoService;
use kb_sso::store::memory::{MemoryCodeStore, MemoryConfigStore};
use kb_sso::{
    ClientCredentials, ClientSecret, CodeIssuer, CodeRequest, IdentityServer, JwtConfig, KeySet, PayloadError, Project,
    ProjectSettings, SessionCodec, SettableClock, SigningKey, TokenSigner, Validation, VerificationKey, Verifier,
    VerifyError, WidgetError,
};
use kb_sso::{WidgetProject, WidgetTokenIssuer, WidgetTokenRequest, verify_widget_token};
use serde::Deserialize;
use time::{Duration, OffsetDateTime, macros::datetime};
use url::Url;

const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);
const CLIENT_ID: &str = "0b9f4c1e-5f7a-4c55-9d1e-3f1f2a6c7d80";
const CODE_URL: &str = "https://identity.example.com/api/jwt/generate-code";

fn query(url: &Url) -> Vec<(String, String)> {
    url.query_pairs().into_owned().collect()
}

fn spec_code_request(credentials: ClientCredentials) -> CodeRequestBuilder {
    CodeRequestBuilder::unbound(CODE_URL, credentials)
        .username("john.doe")
        .first_name("John")
        .last_name("Doe")
        .email("john.doe@example.com")
        .reader_groups(["group1", "group2"])
        .token_validity_minutes(15)
}

#[test]
fn the_code_request_round_trips_through_the_servers_parsers() {
    let secret = ClientSecret::new("s3cr:et with spaces+%");
    let request = spec_code_request(ClientCredentials::new(CLIENT_ID, secret))
        .build()
        .unwrap();
    assert_eq!(request.method(), Method::POST);
    assert_eq!(request.uri(), CODE_URL);
    assert_eq!(request.headers()[header::CONTENT_TYPE], "application/json");
    let auth = &request.headers()[header::AUTHORIZATION];
    assert!(auth.is_sensitive());
    let back = ClientCredentials::from_basic_header(auth.as_bytes()).unwrap();
    assert_eq!(back.client_id, CLIENT_ID);
    assert_eq!(back.secret.expose(), "s3cr:et with spaces+%");
    let parsed = CodeRequest::from_json(request.body()).unwrap();
    assert_eq!(parsed.identity.username, "john.doe");
    assert_eq!(parsed.identity.first_name, "John");
    assert_eq!(parsed.identity.last_name, "Doe");
    assert_eq!(parsed.identity.email, "john.doe@example.com");
    assert_eq!(parsed.identity.reader_group_ids, ["group1", "group2"]);
    assert_eq!(parsed.validity.whole_minutes(), 15);
    // Without groups or validity, those fields are left out (server defaults).
    let bare = CodeRequestBuilder::unbound(CODE_URL, ClientCredentials::new(CLIENT_ID, ClientSecret::new("s")))
        .username("u")
        .email("u@x")
        .build()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(bare.body()).unwrap();
    assert!(json.get("readerGroupIds").is_none() && json.get("tokenValidity").is_none());
    assert_eq!(
        CodeRequest::from_json(bare.body()).unwrap().validity.whole_minutes(),
        15
    );
}

/// The code request for the reader who arrived at the login URL with
/// `query`, the way an app is meant to build it.
fn bound_code_request(query: &str) -> CodeRequestBuilder {
    let sign_in = SignInRequest::from_query(query);
    CodeRequestBuilder::for_sign_in(
        CODE_URL,
        ClientCredentials::new(CLIENT_ID, ClientSecret::new("s")),
        &sign_in,
    )
    .username("john.doe")
    .email("john.doe@example.com")
}

#[test]
fn the_login_binding_challenge_is_returned_as_codechallenge() {
    let creds = || ClientCredentials::new(CLIENT_ID, ClientSecret::new("s"));
    let challenge = kb_sso::s256_challenge("a-verifier-kept-in-the-browser-cookie");
    let query = format!("redirectPath=%2Fdocs%2Fa&codeChallenge={challenge}");
    let request = bound_code_request(&query).build().unwrap();
    let parsed = CodeRequest::from_json(request.body()).unwrap();
    assert_eq!(parsed.code_challenge.as_deref(), Some(challenge.as_str()));
    let sign_in = SignInRequest::from_query(&query);
    assert_eq!(sign_in.redirect_path(), Some("/docs/a"));
    assert_eq!(
        SignInRequest::from_query("RedirectPath=%2Fx").redirect_path(),
        Some("/x"),
        "the legacy capitalised name"
    );
    // Only a code requested without a sign-in request is unbound.
    assert_eq!(
        CodeRequest::from_json(spec_code_request(creds()).build().unwrap().body())
            .unwrap()
            .code_challenge,
        None
    );
    assert_eq!(
        bound_code_request("codeChallenge=not-a-challenge").build().unwrap_err(),
        ClientError::InvalidCodeRequest(PayloadError::InvalidCodeChallenge)
    );
}

#[test]
fn a_code_request_the_server_would_refuse_fails_before_it_is_sent() {
    let creds = || ClientCredentials::new(CLIENT_ID, ClientSecret::new("s"));
    let no_email = CodeRequestBuilder::unbound(CODE_URL, creds()).username("u");
    assert_eq!(
        no_email.build().unwrap_err(),
        ClientError::InvalidCodeRequest(PayloadError::Empty("emailId"))
    );
    let bad_email = no_email.clone().email("not-an-email");
    assert_eq!(
        bad_email.build().unwrap_err(),
        ClientError::InvalidCodeRequest(PayloadError::InvalidEmail)
    );
    let control = bad_email.email("u@x").first_name("a\u{0}b");
    assert_eq!(
        control.build().unwrap_err(),
        ClientError::InvalidCodeRequest(PayloadError::ControlCharacters("firstName"))
    );
    for url in [
        "",
        "/relative",
        "ftp://x.example.com/",
        "https://user:pw@x.example.com/",
    ] {
        let b = CodeRequestBuilder::unbound(url, creds()).username("u").email("u@x");
        assert!(matches!(b.build(), Err(ClientError::InvalidUrl { .. })), "{url}");
    }
    let bad_id = CodeRequestBuilder::unbound(CODE_URL, ClientCredentials::new("a\u{7f}", ClientSecret::new("s")))
        .username("u")
        .email("u@x");
    assert!(bad_id.build().is_ok(), "form-encoding makes any id header-safe");
}

#[test]
fn code_answers_are_read_as_codes_or_typed_refusals() {
    let answer = |status: u16, body: &str| {
        let mut r = Response::new(body.to_owned());
        *r.status_mut() = StatusCode::from_u16(status).unwrap();
        r
    };
    let code = parse_code_response(&answer(200, r#"{"code":"abc-DEF_123"}"#)).unwrap();
    assert_eq!(code.expose(), "abc-DEF_123");
    assert!(!format!("{code:?}").contains("abc"));
    assert_eq!(
        parse_code_response(&answer(
            401,
            r#"{"error":"invalid_client","error_description":"client authentication failed"}"#
        ))
        .unwrap_err(),
        ClientError::Refused {
            status: 401,
            error: Some("invalid_client".into()),
            description: Some("client authentication failed".into()),
        }
    );
    assert_eq!(
        parse_code_response(&answer(500, "oops")).unwrap_err(),
        ClientError::Refused {
            status: 500,
            error: None,
            description: None
        }
    );
}

#[test]
fn the_authorize_url_carries_the_code_and_redirect_path_back() {
    let kb = Url::parse("https://docs.example.com").unwrap();
    let code = parse_code_response(&Response::new(r#"{"code":"c0de"}"#)).unwrap();
    let url = authorize_url(&kb, &code, Some("/docs/getting started?x=1&y=2#part"));
    assert_eq!(url.path(), "/jwt/authorize");
    assert_eq!(
        query(&url),
        [
            ("code".into(), "c0de".into()),
            ("redirectUrl".into(), "/docs/getting started?x=1&y=2#part".into())
        ]
    );
    assert_eq!(url.fragment(), None, "the path's # stays inside redirectUrl");
    let plain = authorize_url(&kb, &code, None);
    assert_eq!(plain.as_str(), "https://docs.example.com/jwt/authorize?code=c0de");
    assert_eq!(authorize_url(&kb, &code, Some("")), plain);
}

/// The whole code flow: the builder's request served by the KB's own
/// handler, its answer parsed, the authorize URL followed.
#[tokio::test]
async fn the_code_flow_end_to_end_over_http_values() {
    let (config, secrets) = JwtConfig::builder("Portal", "https://app.example.com/kb-login")
        .build()
        .unwrap();
    let client_id = config.client_id().clone();
    let kb = Url::parse("https://kb.example.com").unwrap();
    let identity = IdentityServer::new(
        MemoryConfigStore::new(Project::new(ProjectSettings::default(), vec![config], vec![]).unwrap()),
        CodeIssuer::new(MemoryCodeStore::new(), SettableClock::default()),
        TokenSigner::new(SigningKey::generate_ed25519("idp").unwrap()),
        "https://kb.example.com",
    );
    let key = SessionCodec::generate_key();
    let service = SsoService::new(identity, SessionCodec::new(key.as_ref()).unwrap(), &kb).unwrap();

    let creds = ClientCredentials::new(client_id.as_str(), secrets.secondary.clone());
    let request = CodeRequestBuilder::unbound("https://kb.example.com/api/jwt/generate-code", creds)
        .username("john.doe")
        .email("john.doe@example.com")
        .reader_groups(["group1"])
        .build()
        .unwrap();
    let Outcome::Response(resp) = service.handle(request).await else {
        panic!("not a response")
    };
    assert_eq!(resp.status(), StatusCode::OK);
    let code = parse_code_response(&resp).unwrap();

    let url = authorize_url(&kb, &code, Some("/docs/a"));
    let follow = http::Request::get(url.as_str()).body(Vec::new()).unwrap();
    let Outcome::Response(resp) = service.handle(follow).await else {
        panic!("not a response")
    };
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert_eq!(resp.headers()[header::LOCATION], "https://kb.example.com/docs/a");

    // A wrong secret comes back as a typed refusal.
    let wrong = ClientCredentials::new(client_id.as_str(), ClientSecret::new("wrong"));
    let request = CodeRequestBuilder::unbound("https://kb.example.com/api/jwt/generate-code", wrong)
        .username("u")
        .email("u@x")
        .build()
        .unwrap();
    let Outcome::Response(resp) = service.handle(request).await else {
        panic!("not a response")
    };
    match parse_code_response(&resp).unwrap_err() {
        ClientError::Refused { status, error, .. } => {
            assert_eq!((status, error.as_deref()), (401, Some("invalid_client")));
        }
        other => panic!("{other:?}"),
    }
}

/// documentation-ai-jwt's claims.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DocsAiClaims {
    host: String,
    firstname: String,
    company: String,
    access_roles: Vec<String>,
    iat: i64,
    exp: i64,
    jti: String,
    aud: String,
    iss: String,
}

/// helpsite-jwt's claims.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HelpsiteClaims {
    sub: String,
    email: String,
    name: String,
    given_name: String,
    family_name: String,
    groups: Vec<String>,
    iat: i64,
    exp: i64,
    aud: Vec<String>,
    jti: String,
}

#[test]
fn eddsa_handshake_tokens_from_a_pkcs8_pem_verify_with_the_public_key() {
    // The KB generates the key pair and hands out the private key once.
    let kb_key = SigningKey::generate_ed25519("docs-key").unwrap();
    let pem = kb_key.to_pkcs8_pem().unwrap();
    let public = kb_key.verification_key();
    let public = VerificationKey::ed25519_from_bytes("docs-key", public.ed25519_public_key().unwrap()).unwrap();

    let signer = HandshakeSigner::ed25519_from_pkcs8_pem("docs-key", &pem).unwrap();
    let claims = HandshakeClaimsBuilder::new()
        .host("docs.example.com")
        .firstname("Alice")
        .company("Acme Inc")
        .access_roles(["engineering", "sre"])
        .audience("docs.example.com")
        .issuer("https://login.example.com");
    let token = signer.sign(&claims, T0).unwrap();
    let verifier = Verifier::new(
        KeySet::from_keys([public]).unwrap(),
        Validation::new()
            .audience("docs.example.com")
            .issuer("https://login.example.com")
            .max_lifetime(Duration::seconds(60)),
    );
    let verified = verifier.verify_str::<DocsAiClaims>(&token, T0).unwrap();
    let c = verified.claims();
    assert_eq!(c.host, "docs.example.com");
    assert_eq!(c.firstname, "Alice");
    assert_eq!(c.company, "Acme Inc");
    assert_eq!(c.access_roles, ["engineering", "sre"]);
    assert_eq!((c.iat, c.exp), (T0.unix_timestamp(), T0.unix_timestamp() + 60));
    assert_eq!(
        (c.aud.as_str(), c.iss.as_str()),
        ("docs.example.com", "https://login.example.com")
    );
    assert_eq!(verified.jti(), Some(c.jti.as_str()));
    // Short-lived: refused once 60 s and the 30 s leeway are past.
    assert_eq!(
        verifier
            .verify_str::<DocsAiClaims>(&token, T0 + Duration::seconds(91))
            .unwrap_err(),
        VerifyError::Expired
    );
    // Another key pair's tokens fail.
    let other = HandshakeSigner::new(SigningKey::generate_ed25519("docs-key").unwrap());
    let forged = other.sign(&claims, T0).unwrap();
    assert_eq!(
        verifier.verify_str::<DocsAiClaims>(&forged, T0).unwrap_err(),
        VerifyError::BadSignature
    );
    // Each token has its own jti, so the KB can accept each once.
    let again = signer.sign(&claims, T0).unwrap();
    let j2 = verifier.verify_str::<DocsAiClaims>(&again, T0).unwrap();
    assert_ne!(j2.jti(), verified.jti());
}

#[test]
fn hs256_handshake_tokens_use_the_secrets_text_as_key() {
    let secret = ClientSecret::generate();
    let signer = HandshakeSigner::hs256("cfg-1", &secret).unwrap();
    let claims = HandshakeClaimsBuilder::new()
        .subject("john.doe")
        .email("John.Doe@Example.com")
        .name("John Doe")
        .given_name("John")
        .family_name("Doe")
        .groups(["group1"])
        .audience("yoursubdomain")
        .audience("docs")
        .lifetime(Duration::seconds(30));
    let token = signer.sign(&claims, T0).unwrap();
    // The KB's side: the same ASCII text as an HS256 key.
    let kb_key = VerificationKey::hs256("cfg-1", secret.expose().as_bytes()).unwrap();
    let verifier = Verifier::new(
        KeySet::from_keys([kb_key]).unwrap(),
        Validation::new().audience("yoursubdomain"),
    );
    let c = verifier.verify_str::<HelpsiteClaims>(&token, T0).unwrap().into_claims();
    assert_eq!(c.sub, "john.doe");
    assert_eq!(c.email, "John.Doe@Example.com");
    assert_eq!(c.name, "John Doe");
    assert_eq!((c.given_name.as_str(), c.family_name.as_str()), ("John", "Doe"));
    assert_eq!(c.groups, ["group1"]);
    assert_eq!(c.aud, ["yoursubdomain", "docs"]);
    assert_eq!(c.exp - c.iat, 30);
    assert_eq!(c.jti.len(), 43);
    // Another secret does not verify it.
    let other = VerificationKey::hs256("cfg-1", ClientSecret::generate().expose().as_bytes()).unwrap();
    assert_eq!(
        Verifier::new(KeySet::from_keys([other]).unwrap(), Validation::new())
            .verify_str::<HelpsiteClaims>(&token, T0)
            .unwrap_err(),
        VerifyError::BadSignature
    );
    // A secret too short for HMAC is refused up front.
    assert!(matches!(
        HandshakeSigner::hs256("cfg-1", &ClientSecret::new("short")),
        Err(ClientError::Key(_))
    ));
    assert!(matches!(
        HandshakeSigner::ed25519_from_pkcs8_pem("k", "not pem"),
        Err(ClientError::Key(_))
    ));
}

#[test]
fn the_handshake_callback_url_carries_token_and_redirect() {
    let kb = Url::parse("https://docs.example.com/").unwrap();
    let url = handshake_callback_url(&kb, "eyJ.a.b", Some("/getting-started"));
    assert_eq!(
        url.as_str(),
        "https://docs.example.com/api/auth/jwt/callback?token=eyJ.a.b&redirect=%2Fgetting-started"
    );
    let home = handshake_callback_url(&kb, "eyJ.a.b", None);
    assert_eq!(query(&home), [("token".into(), "eyJ.a.b".into())]);
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SpecPayload {
    username: String,
    first_name: String,
    last_name: String,
    email_id: String,
    reader_group_ids: Vec<String>,
    token_validity: i64,
    widget_id: String,
    project_id: String,
}

#[test]
fn the_widget_request_is_the_c_sharp_samples_form_and_the_answer_is_what_the_widget_expects() {
    let (project, secret) = WidgetProject::builder("your-project-id")
        .widget("your-widget-id")
        .build()
        .unwrap();
    let credentials = ClientCredentials::new("your-project-id", secret);
    let request = WidgetTokenRequestBuilder::new(
        "https://identity.example.com/api/jwt/widget-token",
        credentials,
        "your-widget-id",
    )
    .username("john.doe")
    .first_name("John")
    .last_name("Doe")
    .email("john.doe@example.com")
    .reader_groups(["group1", "group2"])
    .token_validity_seconds(900)
    .build()
    .unwrap();
    assert_eq!(request.method(), Method::POST);
    assert_eq!(
        request.headers()[header::CONTENT_TYPE],
        "application/x-www-form-urlencoded"
    );
    // The form: exactly grant_type, payload and id (the project id).
    let form: Vec<(String, String)> = url::form_urlencoded::parse(request.body()).into_owned().collect();
    let names: Vec<&str> = form.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["grant_type", "payload", "id"]);
    assert_eq!(form[0].1, "Widget");
    assert_eq!(form[2].1, "your-project-id");
    let payload: SpecPayload = serde_json::from_str(&form[1].1).unwrap();
    assert_eq!(payload.username, "john.doe");
    assert_eq!(
        (payload.first_name.as_str(), payload.last_name.as_str()),
        ("John", "Doe")
    );
    assert_eq!(payload.email_id, "john.doe@example.com");
    assert_eq!(payload.reader_group_ids, ["group1", "group2"]);
    assert_eq!(payload.token_validity, 900);
    assert_eq!(payload.widget_id, "your-widget-id");
    assert_eq!(payload.project_id, "your-project-id");

    // The identity server serves it.
    let signer = TokenSigner::new(SigningKey::generate_ed25519("idp").unwrap());
    let keys = KeySet::from_keys([signer.key().verification_key()]).unwrap();
    let issuer = WidgetTokenIssuer::new(signer, "https://identity.example.com", SettableClock::new(T0));
    let auth = request.headers().get_all(header::AUTHORIZATION);
    let parsed = WidgetTokenRequest::parse(auth.iter().map(|v| v.as_bytes()), request.body()).unwrap();
    let found = (parsed.client_id() == project.project_id()).then_some(&project);
    let served = issuer.issue(found, &parsed).unwrap();

    // Its answer as JSON over HTTP, read by the customer's backend.
    let mut resp = Response::new(serde_json::to_vec(&served).unwrap());
    *resp.status_mut() = StatusCode::OK;
    let read = parse_widget_token_response(&resp).unwrap();
    assert_eq!(read, served);
    let claims = verify_widget_token(&keys, "https://identity.example.com", &read.access_token, T0).unwrap();
    assert_eq!(claims.widget_id, "your-widget-id");

    // What the widget gets: {"accessToken", "expiresIn"}.
    let answer = WidgetAnswer::from(read);
    let to_widget = answer.to_response();
    assert_eq!(to_widget.headers()[header::CACHE_CONTROL], "no-store");
    let json: serde_json::Value = serde_json::from_slice(to_widget.body()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"accessToken": served.access_token, "expiresIn": 900})
    );
    assert!(!format!("{answer:?}").contains(&served.access_token));
}

#[test]
fn a_widget_request_the_server_would_refuse_fails_before_it_is_sent() {
    let creds = || ClientCredentials::new("p", ClientSecret::new("s"));
    let url = "https://identity.example.com/api/jwt/widget-token";
    let no_groups = WidgetTokenRequestBuilder::new(url, creds(), "w")
        .username("u")
        .email("u@x");
    assert_eq!(
        no_groups.build().unwrap_err(),
        ClientError::InvalidWidgetRequest(WidgetError::NoReaderGroups)
    );
    let no_widget = WidgetTokenRequestBuilder::new(url, creds(), "")
        .username("u")
        .email("u@x")
        .reader_groups(["g"]);
    assert_eq!(
        no_widget.build().unwrap_err(),
        ClientError::InvalidWidgetRequest(WidgetError::InvalidId("widgetId"))
    );
    // Out-of-band validity is sent as is; the server clamps it.
    let short = WidgetTokenRequestBuilder::new(url, creds(), "w")
        .username("u")
        .email("u@x")
        .reader_groups(["g"])
        .token_validity_seconds(60)
        .build()
        .unwrap();
    let form: Vec<(String, String)> = url::form_urlencoded::parse(short.body()).into_owned().collect();
    assert!(form[1].1.contains("\"tokenValidity\":60"));
}

#[test]
fn widget_token_answers_that_are_not_bearer_tokens_are_refused() {
    let ok = |body: &str| parse_widget_token_response(&Response::new(body.to_owned()));
    assert!(ok(r#"{"access_token":"t","token_type":"Bearer","expires_in":900}"#).is_ok());
    for bad in [
        r#"{"access_token":"","token_type":"Bearer","expires_in":900}"#,
        r#"{"access_token":"t","token_type":"mac","expires_in":900}"#,
        r#"{"access_token":"t","token_type":"Bearer","expires_in":0}"#,
        r#"{"accessToken":"t","expiresIn":900}"#,
    ] {
        assert!(matches!(ok(bad), Err(ClientError::InvalidResponse(_))), "{bad}");
    }
    let mut refused = Response::new(
        r#"{"error":"invalid_request","error_description":"`readerGroupIds` must name at least one reader group"}"#
            .to_owned(),
    );
    *refused.status_mut() = StatusCode::BAD_REQUEST;
    match parse_widget_token_response(&refused).unwrap_err() {
        ClientError::Refused {
            status,
            error,
            description,
        } => {
            assert_eq!(status, 400);
            assert_eq!(error.as_deref(), Some("invalid_request"));
            assert!(description.unwrap().contains("reader group"));
        }
        other => panic!("{other:?}"),
    }
}

/// The customer's signer against the KB's own handshake verifier: both
/// key kinds, `kid` = the client id, a token accepted once.
#[tokio::test]
async fn handshake_tokens_are_accepted_once_by_the_kbs_handshake_verifier() {
    use kb_sso::store::memory::MemoryReplayCache;
    use kb_sso::{HandshakeKey, HandshakeSettings, HandshakeVerifier, generate_ed25519_key_pair};

    let hs_client = kb_sso::ClientId::generate();
    let ed_client = kb_sso::ClientId::generate();
    let secret = ClientSecret::generate();
    let (private_pem, public_pem) = generate_ed25519_key_pair().unwrap();
    let mut verifier = HandshakeVerifier::new();
    verifier
        .insert(
            hs_client.clone(),
            HandshakeSettings::builder(HandshakeKey::hs256(&secret, None).unwrap())
                .audience("helpsite")
                .build()
                .unwrap(),
        )
        .unwrap();
    verifier
        .insert(
            ed_client.clone(),
            HandshakeSettings::builder(HandshakeKey::ed25519_from_spki_pem(&public_pem).unwrap())
                .audience("docs.example.com")
                .build()
                .unwrap(),
        )
        .unwrap();
    // The cache judges expiry by the `now` each verification passes.
    let replay = MemoryReplayCache::new();

    let hs = HandshakeSigner::hs256(hs_client.as_str(), &secret).unwrap();
    let token = hs
        .sign(
            &HandshakeClaimsBuilder::new()
                .subject("john.doe")
                .groups(["group1"])
                .audience("helpsite"),
            T0,
        )
        .unwrap();
    let ok = verifier.verify_str(&token, T0, &replay).await.unwrap();
    assert_eq!(ok.client_id(), &hs_client);
    assert_eq!(ok.claims().sub.as_deref(), Some("john.doe"));
    assert!(
        verifier.verify_str(&token, T0, &replay).await.is_err(),
        "a jti is accepted once"
    );

    let ed = HandshakeSigner::ed25519_from_pkcs8_pem(ed_client.as_str(), &private_pem).unwrap();
    let token = ed
        .sign(
            &HandshakeClaimsBuilder::new()
                .host("docs.example.com")
                .firstname("Alice")
                .company("Acme Inc")
                .access_roles(["engineering", "sre"])
                .audience("docs.example.com"),
            T0,
        )
        .unwrap();
    let ok = verifier.verify_str(&token, T0, &replay).await.unwrap();
    assert_eq!(ok.client_id(), &ed_client);
    assert_eq!(ok.claims().firstname.as_deref(), Some("Alice"));
    assert_eq!(
        ok.claims().access_roles.as_deref(),
        Some(&["engineering".to_owned(), "sre".to_owned()][..])
    );
    // Signed for one configuration, presented as another's: refused.
    let wrong_kid = HandshakeSigner::ed25519_from_pkcs8_pem(hs_client.as_str(), &private_pem).unwrap();
    let token = wrong_kid
        .sign(&HandshakeClaimsBuilder::new().audience("helpsite"), T0)
        .unwrap();
    assert!(verifier.verify_str(&token, T0, &replay).await.is_err());
}
