//! The HTTP layer split by party: every endpoint makes its own size and
//! method checks (mounted alone it answers as inside `SsoService`), the
//! endpoint table follows the mount prefix and claims nothing else, the
//! guard answers for the host's private pages, in-process sign-in opens the
//! session straight from the grant, and a KB site can redeem codes at a
//! remote identity server over the back channel.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use http::{Method, Request, Response, StatusCode, header};
use kb_sso::server::{
    Endpoint, ExchangeError, Guard, IdentityEndpoints, MAX_BODY_BYTES, RemoteExchange, SiteEndpoints, SsoService,
    TokenSender,
};
use kb_sso::store::memory::{MemoryCodeStore, MemoryConfigStore, MemorySessionRevocations};
use kb_sso::{
    ClientCredentials, CodeIssuer, IdentityServer, JwtConfig, KeySet, Project, ProjectSettings, ReaderSession,
    SessionCodec, SettableClock, SigningKey, TokenSigner,
};
use serde_json::Value;
use time::OffsetDateTime;
use url::Url;

const BODY: &[u8] = br#"{"username":"ada","firstName":"Ada","lastName":"Lovelace","emailId":"ada@example.com","readerGroupIds":["g1"],"tokenValidity":15}"#;
const T0: OffsetDateTime = time::macros::datetime!(2026-01-01 00:00 UTC);
const SESSION_KEY: [u8; 32] = [9u8; 32];

type Service = SsoService<MemoryConfigStore, MemoryCodeStore, Arc<SettableClock>>;

struct Kb {
    service: Arc<Service>,
    creds: ClientCredentials,
    project: Project,
    clock: Arc<SettableClock>,
}

fn identity_server(
    project: &Project,
    clock: &Arc<SettableClock>,
    key: &str,
) -> IdentityServer<MemoryConfigStore, MemoryCodeStore, Arc<SettableClock>> {
    IdentityServer::new(
        MemoryConfigStore::new(project.clone()),
        CodeIssuer::new(MemoryCodeStore::new(), clock.clone()),
        TokenSigner::new(SigningKey::generate_ed25519(key).unwrap()),
        "https://id.example.com",
    )
}

/// A KB at `kb_url` with one configuration (login binding optional, so
/// that a code alone signs in), mounted under `prefix`.
fn new_kb(kb_url: &str, prefix: &str) -> Kb {
    let (config, secrets) = JwtConfig::builder("App", "https://app.example.com/login")
        .require_login_binding(false)
        .build()
        .unwrap();
    let creds = ClientCredentials::new(config.client_id().as_str(), secrets.primary.clone());
    let project = Project::new(ProjectSettings::default(), vec![config], vec![]).unwrap();
    let clock = Arc::new(SettableClock::new(T0));
    let service = SsoService::new(
        identity_server(&project, &clock, "id-1"),
        SessionCodec::new(&SESSION_KEY).unwrap(),
        &Url::parse(kb_url).unwrap(),
    )
    .unwrap()
    .mount_prefix(prefix);
    Kb {
        service: Arc::new(service),
        creds,
        project,
        clock,
    }
}

impl Kb {
    async fn code(&self) -> String {
        let code = self.service.identity().issue_code(&self.creds, BODY).await.unwrap();
        code.expose().to_owned()
    }
}

fn get(uri: &str) -> Request<Vec<u8>> {
    Request::get(uri).body(Vec::new()).unwrap()
}

fn json(resp: &Response<Vec<u8>>) -> Value {
    serde_json::from_slice(resp.body()).unwrap()
}

fn cookie(resp: &Response<Vec<u8>>, name: &str) -> Option<String> {
    resp.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

fn session_pair(resp: &Response<Vec<u8>>) -> String {
    let set = cookie(resp, "kb_session")
        .or_else(|| cookie(resp, "__Host-kb_session"))
        .unwrap();
    set.split(';').next().unwrap().to_owned()
}

/// A request for `endpoint` with `method` and `body`, under `prefix`.
fn request(prefix: &str, endpoint: Endpoint, method: Method, body: Vec<u8>) -> Request<Vec<u8>> {
    Request::builder()
        .method(method)
        .uri(format!("{prefix}{}", endpoint.path()))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .unwrap()
}

/// The answer of `endpoint`'s own method, called directly.
async fn direct(kb: &Kb, endpoint: Endpoint, req: &Request<Vec<u8>>) -> Response<Vec<u8>> {
    let id = kb.service.identity_endpoints();
    let site = kb.service.site();
    match endpoint {
        Endpoint::GenerateCode => id.generate_code(req).await,
        Endpoint::Token => id.token(req).await,
        Endpoint::WidgetToken => id.widget_token(req).await,
        Endpoint::Jwks => id.jwks(req),
        Endpoint::Authorize => site.authorize(req).await,
        Endpoint::HandshakeCallback => site.handshake_callback(req).await,
        Endpoint::Logout => site.logout(req).await,
        Endpoint::Login => site.login(req).await,
        Endpoint::LoginDomain => site.login_domain(req).await,
        Endpoint::SignedOut => site.signed_out(req).await,
        other => panic!("no direct call for {other:?}"),
    }
}

fn wrong_method(endpoint: Endpoint) -> Method {
    if endpoint.allows(&Method::PUT) {
        panic!("{endpoint:?} takes PUT")
    }
    Method::PUT
}

fn allowed_method(endpoint: Endpoint) -> Method {
    if endpoint.allows(&Method::POST) {
        Method::POST
    } else {
        Method::GET
    }
}

#[tokio::test]
async fn every_endpoint_called_alone_refuses_a_wrong_method_and_a_large_body_as_serve_does() {
    let kb = new_kb("http://kb.test", "");
    for endpoint in Endpoint::ALL {
        // A wrong method: 405 with `Allow`, directly and through serve.
        let req = request("", endpoint, wrong_method(endpoint), Vec::new());
        let alone = direct(&kb, endpoint, &req).await;
        let served = kb.service.serve(req).await.unwrap();
        assert_eq!(alone.status(), StatusCode::METHOD_NOT_ALLOWED, "{endpoint:?}");
        assert_eq!(served.status(), StatusCode::METHOD_NOT_ALLOWED, "{endpoint:?}");
        assert_eq!(alone.headers()[header::ALLOW], endpoint.allow_header(), "{endpoint:?}");
        assert_eq!(alone.headers()[header::ALLOW], served.headers()[header::ALLOW]);
        assert_eq!(alone.body(), served.body());

        // A 65 KiB body with an allowed method: 413, directly and through
        // serve; likewise when only its Content-Length says so.
        let big = vec![b'a'; 65 * 1024];
        assert!(big.len() > MAX_BODY_BYTES);
        let req = request("", endpoint, allowed_method(endpoint), big);
        let alone = direct(&kb, endpoint, &req).await;
        let served = kb.service.serve(req).await.unwrap();
        assert_eq!(alone.status(), StatusCode::PAYLOAD_TOO_LARGE, "{endpoint:?}");
        assert_eq!(served.status(), StatusCode::PAYLOAD_TOO_LARGE, "{endpoint:?}");
        assert_eq!(alone.body(), served.body());
        let mut req = request("", endpoint, allowed_method(endpoint), Vec::new());
        req.headers_mut()
            .insert(header::CONTENT_LENGTH, (65 * 1024).to_string().parse().unwrap());
        assert_eq!(
            direct(&kb, endpoint, &req).await.status(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "{endpoint:?}"
        );
    }
}

#[tokio::test]
async fn identity_endpoints_built_alone_make_the_same_checks() {
    let kb = new_kb("http://kb.test", "");
    let alone = IdentityEndpoints::new(Arc::new(identity_server(&kb.project, &kb.clock, "id-2")));
    let req = request("", Endpoint::Token, Method::GET, Vec::new());
    let resp = alone.token(&req).await;
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(resp.headers()[header::ALLOW], "POST");
    let req = request("", Endpoint::GenerateCode, Method::POST, vec![b'{'; 65 * 1024]);
    assert_eq!(alone.generate_code(&req).await.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let req = request("", Endpoint::Jwks, Method::POST, Vec::new());
    assert_eq!(alone.jwks(&req).status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn the_endpoint_table_follows_the_prefix_and_claims_nothing_else() {
    let kb = new_kb("http://kb.test", "/sso/");
    let s = &kb.service;
    assert_eq!(s.prefix(), "/sso");
    assert_eq!(s.endpoint("/sso/jwt/authorize"), Some(Endpoint::Authorize));
    assert_eq!(s.endpoint("/sso/jwt/generateCode"), Some(Endpoint::GenerateCode));
    assert_eq!(s.endpoint("/sso/.well-known/jwks.json"), Some(Endpoint::Jwks));
    assert_eq!(s.endpoint("/jwt/authorize"), None, "the spec's path is the host's now");
    assert_eq!(s.endpoint("/.well-known/jwks.json"), None);
    assert_eq!(s.endpoint("/ssojwt/authorize"), None);
    assert_eq!(s.endpoint("/sso/docs"), None);
    assert!(s.serve(get("/docs")).await.is_none(), "a page is the host's, untouched");
    assert!(s.serve(get("/jwt/authorize?code=x")).await.is_none());
    let table = s.endpoints();
    assert_eq!(table.len(), Endpoint::ALL.len() + 1, "with the generate-code alias");
    assert!(table.iter().all(|(p, _)| p.starts_with("/sso/")));
    let jwks = s.serve(get("/sso/.well-known/jwks.json")).await.unwrap();
    assert_eq!(jwks.status(), StatusCode::OK);
    assert_eq!(KeySet::from_jwks_json(jwks.body()).unwrap().len(), 1);

    // Without a prefix: the spec's paths.
    let plain = new_kb("http://kb.test", "");
    assert_eq!(plain.service.endpoint("/jwt/authorize"), Some(Endpoint::Authorize));
    assert_eq!(plain.service.endpoint("/.well-known/jwks.json"), Some(Endpoint::Jwks));
    assert_eq!(plain.service.endpoint("/sso/jwt/authorize"), None);
}

#[tokio::test]
async fn urls_and_cookies_the_site_builds_carry_the_prefix() {
    // Two configurations: no Direct JWT login, so the guard sends readers
    // to the login page.
    let (a, _) = JwtConfig::builder("A", "https://a.example.com/login")
        .show_login_button(true)
        .login_button_text("Sign in with A")
        .build()
        .unwrap();
    let (b, _) = JwtConfig::builder("B", "https://b.example.com/login").build().unwrap();
    let project = Project::new(ProjectSettings::default(), vec![a, b], vec![]).unwrap();
    let clock = Arc::new(SettableClock::new(T0));
    let service = SsoService::new(
        identity_server(&project, &clock, "id-1"),
        SessionCodec::new(&SESSION_KEY).unwrap(),
        &Url::parse("http://kb.test").unwrap(),
    )
    .unwrap()
    .mount_prefix("/sso");
    let Guard::Respond(resp) = service.guard(&get("/docs/a?x=1")).await else {
        panic!("no session, no page")
    };
    assert_eq!(resp.status(), StatusCode::FOUND);
    let location = resp.headers()[header::LOCATION].to_str().unwrap();
    assert!(
        location.starts_with("http://kb.test/sso/login?redirectPath="),
        "{location}"
    );
    // The login page: its domain form posts under the prefix, and the
    // login binding cookie goes to every path (`Path=/`: the login page
    // under the prefix reads the attempts already open).
    let page = service.serve(get("/sso/login")).await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = String::from_utf8(page.body().clone()).unwrap();
    assert!(html.contains("action=\"/sso/login/domain\""), "{html}");
    let binding = cookie(&page, "kb_login_verifier").unwrap();
    assert!(binding.contains("Path=/;"), "{binding}");
    // The domain form with no match goes back to the prefixed login page.
    let req = Request::post("/sso/login/domain")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(b"domain=nowhere.test".to_vec())
        .unwrap();
    let resp = service.serve(req).await.unwrap();
    let location = resp.headers()[header::LOCATION].to_str().unwrap();
    assert!(location.starts_with("http://kb.test/sso/login?"), "{location}");
}

#[tokio::test]
async fn the_guard_lets_a_session_in_and_answers_api_clients_with_401_json() {
    let kb = new_kb("https://kb.example.com", "/sso");
    let code = kb.code().await;
    let resp = kb
        .service
        .serve(get(&format!("/sso/jwt/authorize?code={code}&redirectUrl=%2Fdocs")))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let session = session_pair(&resp);
    assert!(session.starts_with("__Host-kb_session="));

    let page = Request::get("/docs").header(header::COOKIE, &session).body(()).unwrap();
    let Guard::Reader(reader) = kb.service.guard(&page).await else {
        panic!("a session opens the page")
    };
    assert_eq!(reader.username, "ada");

    // No session: a browser is redirected (Direct JWT login: the customer
    // app), an API client gets 401 JSON.
    let Guard::Respond(browser) = kb.service.guard(&get("/docs")).await else {
        panic!("no session, no page")
    };
    assert_eq!(browser.status(), StatusCode::FOUND);
    let api = Request::get("/api/docs")
        .header(header::ACCEPT, "application/json")
        .body(())
        .unwrap();
    let Guard::Respond(resp) = kb.service.guard(&api).await else {
        panic!("no session, no page")
    };
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
    let body: Value = serde_json::from_slice(resp.body()).unwrap();
    assert_eq!(body["error"], "login_required");
    assert!(
        body["login_url"]
            .as_str()
            .unwrap()
            .starts_with("https://kb.example.com/sso/login?")
    );
    // A form post with a handshake token to a guarded page is no sign-in.
    let post = Request::post("/docs")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(b"jwt=whatever".to_vec())
        .unwrap();
    let Guard::Respond(resp) = kb.service.guard(&post).await else {
        panic!("no session, no page")
    };
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(cookie(&resp, "__Host-kb_session").is_none());
}

#[tokio::test]
async fn in_process_sign_in_opens_the_session_the_id_token_would_carry() {
    let kb = new_kb("https://kb.example.com", "");
    let code = kb.code().await;
    let resp = kb
        .service
        .serve(get(&format!("/jwt/authorize?code={code}")))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let value = session_pair(&resp).split_once('=').unwrap().1.to_owned();
    let from_cookie = SessionCodec::new(&SESSION_KEY).unwrap().decode(&value, T0).unwrap();

    // The same grant over the back channel: its id_token's session.
    let code2 = kb.code().await;
    let tokens = kb.service.identity().exchange(&code2, None).await.unwrap();
    let claims = kb
        .service
        .identity()
        .verify_id_token(&tokens.id_token, &from_cookie.client_id, T0)
        .unwrap()
        .into_claims();
    let from_token: ReaderSession = claims.into_session().unwrap();
    assert_eq!(
        from_cookie.jti,
        IdentityServer::<MemoryConfigStore, MemoryCodeStore, Arc<SettableClock>>::token_id_for_code(&code)
    );
    assert_eq!(
        ReaderSession {
            jti: from_token.jti.clone(),
            ..from_cookie.clone()
        },
        from_token
    );
    assert_eq!(from_cookie.expires_at, T0 + time::Duration::minutes(15));

    // redeem_for_session: the same session, straight from the grant.
    let code3 = kb.code().await;
    let direct = kb.service.identity().redeem_for_session(&code3, None).await.unwrap();
    assert_eq!(
        ReaderSession {
            jti: from_cookie.jti.clone(),
            ..direct
        },
        from_cookie
    );
    // A second use is refused.
    assert!(kb.service.identity().redeem_for_session(&code3, None).await.is_err());
}

// ---------------------------------------------------------------------------
// A KB site against a remote identity server
// ---------------------------------------------------------------------------

/// The host's HTTP client, here straight into the identity server's
/// endpoints (`serve`); with `forge`, it re-signs the `id_token` with
/// another key.
struct Loopback {
    identity: Arc<Service>,
    forge: Option<TokenSigner>,
}

impl TokenSender for Loopback {
    type Error = std::io::Error;

    async fn send(&self, req: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, std::io::Error> {
        assert_eq!(req.method(), Method::POST);
        assert_eq!(req.uri().to_string(), "https://id.example.com/api/jwt/token");
        // The identity server routes by path.
        let (mut parts, body) = req.into_parts();
        parts.uri = parts.uri.path().parse().unwrap();
        let resp = self
            .identity
            .serve(Request::from_parts(parts, body))
            .await
            .ok_or_else(|| std::io::Error::other("not an endpoint"))?;
        match &self.forge {
            // Answers with an id_token signed by another key.
            Some(key) if resp.status() == StatusCode::OK => {
                let mut tokens: Value = serde_json::from_slice(resp.body()).unwrap();
                let token = tokens["id_token"].as_str().unwrap().to_owned();
                let claims = token.split('.').nth(1).unwrap();
                use base64::Engine as _;
                let claims: Value =
                    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(claims).unwrap())
                        .unwrap();
                let forged = key.sign_typed(kb_sso::ID_TOKEN_TYPE, &claims).unwrap();
                tokens["id_token"] = Value::String(forged);
                Ok(Response::new(serde_json::to_vec(&tokens).unwrap()))
            }
            _ => Ok(resp),
        }
    }
}

type RemoteSite =
    SiteEndpoints<MemoryConfigStore, Arc<SettableClock>, RemoteExchange<Loopback>, MemorySessionRevocations>;

async fn remote_site(kb: &Kb, identity: Arc<Service>, forge: Option<TokenSigner>) -> RemoteSite {
    let jwks = identity.serve(get("/.well-known/jwks.json")).await.unwrap();
    let keys = KeySet::from_jwks_json(jwks.body()).unwrap();
    let exchange = RemoteExchange::new(
        Loopback { identity, forge },
        "https://id.example.com/",
        "https://id.example.com",
        keys,
        kb.clock.clone(),
    )
    .credentials(kb.creds.clone());
    SiteEndpoints::new(
        MemoryConfigStore::new(kb.project.clone()),
        kb.clock.clone(),
        exchange,
        MemorySessionRevocations::new(),
        SessionCodec::new(&SESSION_KEY).unwrap(),
        &Url::parse("https://docs.example.com").unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn a_site_signs_in_against_a_remote_identity_server() {
    let kb = new_kb("https://id.example.com", "");
    let code = kb.code().await;
    let identity = kb.service.clone();
    let site = remote_site(&kb, identity.clone(), None).await;
    let resp = site
        .authorize(&get(&format!("/jwt/authorize?code={code}&redirectUrl=%2Fdocs")))
        .await;
    assert_eq!(
        resp.status(),
        StatusCode::FOUND,
        "{:?}",
        String::from_utf8_lossy(resp.body())
    );
    assert_eq!(resp.headers()[header::LOCATION], "https://docs.example.com/docs");
    let session = session_pair(&resp);
    let page = Request::get("/docs").header(header::COOKIE, &session).body(()).unwrap();
    let Guard::Reader(reader) = site.guard(&page).await else {
        panic!("the remote code opened a session")
    };
    assert_eq!(reader.username, "ada");
    assert_eq!(reader.groups, ["g1"]);
    assert_eq!(reader.client_id.as_str(), kb.creds.client_id);
    assert_eq!(reader.expires_at, T0 + time::Duration::minutes(15));

    // The code again: the identity server refuses it.
    let again = site.authorize(&get(&format!("/jwt/authorize?code={code}"))).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(&again)["error"], "invalid_grant");
    assert!(cookie(&again, "__Host-kb_session").is_none());

    // An id_token signed by a key the identity server does not publish.
    let code = identity.identity().issue_code(&kb.creds, BODY).await.unwrap();
    let forged = remote_site(
        &kb,
        identity.clone(),
        Some(TokenSigner::new(SigningKey::generate_ed25519("id-1").unwrap())),
    )
    .await;
    let resp = forged
        .authorize(&get(&format!("/jwt/authorize?code={}", code.expose())))
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(&resp)["error"], "invalid_grant");
    assert!(cookie(&resp, "__Host-kb_session").is_none());
}

#[tokio::test]
async fn a_remote_exchange_tells_a_refusal_from_an_unreachable_server() {
    use kb_sso::server::CodeExchange as _;
    let kb = new_kb("https://id.example.com", "");
    let identity = kb.service.clone();
    let exchange = RemoteExchange::new(
        Loopback { identity, forge: None },
        "https://id.example.com",
        "https://id.example.com",
        KeySet::new(),
        kb.clock.clone(),
    );
    let err = exchange.redeem("unknown-code", None).await.unwrap_err();
    assert!(
        matches!(&err, ExchangeError::Refused { status: 400, error } if error == "invalid_grant"),
        "{err:?}"
    );
}
