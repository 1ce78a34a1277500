//! Guarantees SECURITY.md states that no other test pins down: codes are
//! bound to the configuration that issued them and to its staying enabled,
//! every cookie set on an https KB carries the attributes it should, a
//! revocation list that cannot be read fails closed, and no code outlives
//! the 10-minute ceiling.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;
use support::route::{Handle as _, Outcome};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use http::{Request, Response, StatusCode, header};
use kb_sso::MAX_CODE_LIFETIME;
use kb_sso::server::SsoService;
use kb_sso::store::memory::MemoryRateLimiter;
use kb_sso::store::memory::{MemoryCodeStore, MemoryConfigStore, MemorySessionRevocations};
use kb_sso::{
    Administrator, ClientCredentials, ClientId, ClientSecret, Clock, CodeDigest, CodeError, CodeGrant, CodeIssuer,
    CodeStore, GrantProblem, HandshakeKey, HandshakeSettings, IdentityServer, JwtConfig, Project, ProjectSettings,
    Redemption, SessionCodec, SessionRevocations, SettableClock, SigningKey, TokenSigner,
};
use proptest::prelude::*;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};
use url::Url;

const BODY: &[u8] = br#"{"username":"ada","firstName":"Ada","lastName":"Lovelace","emailId":"ada@example.com"}"#;

// ---------------------------------------------------------------------------
// A revocation list that can be made to fail
// ---------------------------------------------------------------------------

/// The revocation list is down.
#[derive(Debug)]
struct Down;

impl std::fmt::Display for Down {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the revocation list is down")
    }
}

impl std::error::Error for Down {}

/// In-memory revocations that answer `Err` while `failing` is set.
struct Switchable {
    inner: MemorySessionRevocations,
    failing: Arc<AtomicBool>,
}

impl SessionRevocations for Switchable {
    type Error = Down;

    async fn revoke(&self, session_id: &str, until: OffsetDateTime, now: OffsetDateTime) -> Result<(), Down> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(Down);
        }
        self.inner.revoke(session_id, until, now).await.map_err(|_| Down)
    }

    async fn is_revoked(&self, session_id: &str, now: OffsetDateTime) -> Result<bool, Down> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(Down);
        }
        self.inner.is_revoked(session_id, now).await.map_err(|_| Down)
    }
}

// ---------------------------------------------------------------------------
// The fixture: an https KB with one or two configurations
// ---------------------------------------------------------------------------

type Service = SsoService<MemoryConfigStore, MemoryCodeStore, Arc<SettableClock>, MemoryRateLimiter, Switchable>;

struct Client {
    id: ClientId,
    secret: ClientSecret,
    login_url: String,
}

impl Client {
    fn credentials(&self) -> ClientCredentials {
        ClientCredentials::new(self.id.as_str(), ClientSecret::new(self.secret.expose()))
    }
}

struct Kb {
    service: Service,
    clock: Arc<SettableClock>,
    revocations_down: Arc<AtomicBool>,
    clients: Vec<Client>,
}

const T0: OffsetDateTime = time::macros::datetime!(2026-01-01 00:00 UTC);

impl Kb {
    /// An https KB with `n` enabled configurations; the first also takes
    /// HS256 handshake tokens signed with its primary secret.
    fn new(n: usize) -> Self {
        let kb_url = Url::parse("https://kb.example.com").unwrap();
        let mut configs = Vec::new();
        let mut clients = Vec::new();
        let mut handshake = None;
        for i in 0..n {
            let login_url = format!("https://app{i}.example.com/login");
            let (config, secrets) = JwtConfig::builder(format!("App {i}"), login_url.clone())
                .build()
                .unwrap();
            if i == 0 {
                let key = HandshakeKey::hs256(&secrets.primary, None).unwrap();
                handshake = Some((
                    config.client_id().clone(),
                    HandshakeSettings::builder(key).build().unwrap(),
                ));
            }
            clients.push(Client {
                id: config.client_id().clone(),
                secret: secrets.primary.clone(),
                login_url,
            });
            configs.push(config);
        }
        let mut project = Project::new(ProjectSettings::default(), configs, vec![]).unwrap();
        if let Some((id, settings)) = handshake {
            project = project.with_handshake(&id, settings).unwrap();
        }
        let clock = Arc::new(SettableClock::new(T0));
        let signer = TokenSigner::new(SigningKey::generate_ed25519("kb-1").unwrap());
        let identity = IdentityServer::new(
            MemoryConfigStore::new(project),
            CodeIssuer::new(MemoryCodeStore::new(), clock.clone()),
            signer,
            "https://kb.example.com",
        );
        let sessions = SessionCodec::new(&[9u8; 32]).unwrap();
        let revocations_down = Arc::new(AtomicBool::new(false));
        let service = SsoService::new(identity, sessions, &kb_url)
            .unwrap()
            .session_revocations(Switchable {
                inner: MemorySessionRevocations::new(),
                failing: revocations_down.clone(),
            });
        Self {
            service,
            clock,
            revocations_down,
            clients,
        }
    }

    async fn send(&self, req: Request<Vec<u8>>) -> Outcome {
        self.service.handle(req).await
    }

    async fn response(&self, req: Request<Vec<u8>>) -> Response<Vec<u8>> {
        match self.send(req).await {
            Outcome::Response(r) => r,
            Outcome::Page(p) => panic!("a page for {}", p.path),
        }
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> Outcome {
        let mut req = Request::get(path);
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        self.send(req.body(Vec::new()).unwrap()).await
    }

    async fn code(&self, client: usize) -> String {
        let code = self
            .service
            .identity()
            .issue_code(&self.clients[client].credentials(), BODY)
            .await
            .unwrap();
        code.expose().to_owned()
    }

    /// `POST /api/jwt/token` with `client`'s credentials.
    async fn token(&self, code: &str, client: usize) -> Response<Vec<u8>> {
        let basic = self.clients[client].credentials().to_basic_header();
        let req = Request::post("/api/jwt/token")
            .header(header::AUTHORIZATION, basic.as_str())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(format!("grant_type=authorization_code&code={code}").into_bytes())
            .unwrap();
        self.response(req).await
    }

    async fn authorize(&self, code: &str) -> Response<Vec<u8>> {
        match self.get(&format!("/jwt/authorize?code={code}"), None).await {
            Outcome::Response(r) => r,
            Outcome::Page(_) => panic!("authorize answers with a redirect"),
        }
    }

    async fn set_enabled(&self, client: usize, enabled: bool) {
        let id = self.clients[client].id.clone();
        let now = self.clock.now();
        support::edit_project(self.service.identity().configs(), move |p| {
            p.set_enabled(&Administrator("alice".into()), now, &id, enabled)
                .map(|_| ())
        })
        .await
        .unwrap();
    }

    /// A handshake token for the first configuration, signed with its
    /// primary secret.
    fn handshake_token(&self) -> String {
        let c = &self.clients[0];
        let signer = TokenSigner::new(SigningKey::hs256(c.id.as_str(), c.secret.expose().as_bytes()).unwrap());
        let now = self.clock.now().unix_timestamp();
        signer
            .sign(&json!({"sub": "ada", "email": "ada@example.com", "iat": now, "exp": now + 300}))
            .unwrap()
    }
}

fn json_of(resp: &Response<Vec<u8>>) -> Value {
    serde_json::from_slice(resp.body()).unwrap()
}

fn set_cookies(resp: &Response<Vec<u8>>) -> Vec<String> {
    resp.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The `name=value` of the session cookie a response sets (not a deletion).
fn session_of(resp: &Response<Vec<u8>>) -> String {
    set_cookies(resp)
        .into_iter()
        .find(|c| c.starts_with("__Host-kb_session=") && !c.starts_with("__Host-kb_session=;"))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no session cookie in {:?}", set_cookies(resp)))
}

// ---------------------------------------------------------------------------
// Codes are bound to their configuration
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_code_redeemed_with_another_configurations_credentials_is_refused_and_used_up() {
    let kb = Kb::new(2);
    let identity = kb.service.identity();

    // Through the identity server: B gets WrongClient, then A gets AlreadyUsed.
    let code = kb.code(0).await;
    let b = kb.clients[1].credentials();
    assert!(matches!(
        identity.exchange(&code, Some(&b)).await,
        Err(CodeError::InvalidGrant(GrantProblem::WrongClient))
    ));
    let a = kb.clients[0].credentials();
    assert!(matches!(
        identity.exchange(&code, Some(&a)).await,
        Err(CodeError::InvalidGrant(GrantProblem::AlreadyUsed))
    ));

    // Over HTTP: the same, as OAuth errors.
    let code = kb.code(0).await;
    let by_b = kb.token(&code, 1).await;
    assert_eq!(by_b.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(&by_b)["error"], "invalid_grant");
    assert_eq!(
        json_of(&by_b)["error_description"],
        "the code was issued to another client"
    );
    let by_a = kb.token(&code, 0).await;
    assert_eq!(by_a.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(&by_a)["error"], "invalid_grant");
    assert_eq!(json_of(&by_a)["error_description"], "the code has already been used");

    // The control: A's own fresh code works with A's credentials.
    let code = kb.code(0).await;
    assert_eq!(kb.token(&code, 0).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_code_whose_configuration_is_disabled_before_redemption_is_refused_and_used_up() {
    let kb = Kb::new(2);
    let identity = kb.service.identity();
    let code = kb.code(0).await;
    let browser_code = kb.code(0).await;
    kb.set_enabled(0, false).await;

    assert!(matches!(
        identity.exchange(&code, None).await,
        Err(CodeError::InvalidGrant(GrantProblem::ConfigurationInactive))
    ));
    let resp = kb.authorize(&browser_code).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        json_of(&resp)["error_description"],
        "the code's JWT configuration is no longer active"
    );
    // No session cookie with a value (a cleared one, `kb_session=;`, may be).
    assert!(
        set_cookies(&resp)
            .iter()
            .all(|c| !c.contains("kb_session=") || c.contains("kb_session=;"))
    );

    // Enabled again, the codes stay used: the attempt counted as use.
    kb.set_enabled(0, true).await;
    assert!(matches!(
        identity.exchange(&code, None).await,
        Err(CodeError::InvalidGrant(GrantProblem::AlreadyUsed))
    ));
    // The other configuration was never affected, and a fresh code of the
    // re-enabled one works.
    assert!(identity.exchange(&kb.code(1).await, None).await.is_ok());
    assert!(identity.exchange(&kb.code(0).await, None).await.is_ok());
}

// ---------------------------------------------------------------------------
// Cookies on an https KB
// ---------------------------------------------------------------------------

/// One `Set-Cookie` value, split into its name and attributes.
struct SetCookie {
    raw: String,
    name: String,
    attributes: Vec<(String, Option<String>)>,
}

impl SetCookie {
    fn parse(raw: &str) -> Self {
        let mut parts = raw.split(';').map(str::trim);
        let pair = parts.next().unwrap();
        let (name, _value) = pair.split_once('=').unwrap();
        let attributes = parts
            .map(|a| match a.split_once('=') {
                Some((k, v)) => (k.to_ascii_lowercase(), Some(v.to_owned())),
                None => (a.to_ascii_lowercase(), None),
            })
            .collect();
        Self {
            raw: raw.to_owned(),
            name: name.to_owned(),
            attributes,
        }
    }

    fn has(&self, attribute: &str) -> bool {
        self.attributes.iter().any(|(k, _)| k == attribute)
    }

    fn value_of(&self, attribute: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == attribute)
            .and_then(|(_, v)| v.as_deref())
    }

    /// Secure, HttpOnly, `SameSite=Lax`, never a `Domain`; a `__Host-`
    /// name also with `Path=/`.
    fn assert_hardened(&self, what: &str) {
        let raw = &self.raw;
        assert!(self.has("secure"), "{what}: {raw} lacks Secure");
        assert!(self.has("httponly"), "{what}: {raw} lacks HttpOnly");
        assert_eq!(
            self.value_of("samesite").map(str::to_ascii_lowercase).as_deref(),
            Some("lax"),
            "{what}: {raw} lacks SameSite=Lax"
        );
        assert!(!self.has("domain"), "{what}: {raw} has a Domain");
        if self.name.starts_with("__Host-") {
            assert_eq!(
                self.value_of("path"),
                Some("/"),
                "{what}: {raw} is __Host- without Path=/"
            );
        }
    }
}

/// Every `Set-Cookie` of the session's life on an https KB, by where it
/// was set.
async fn cookies_of_a_session_on_https() -> Vec<(&'static str, SetCookie)> {
    let kb = Kb::new(1);
    let mut seen = Vec::new();
    let mut keep = |what: &'static str, resp: &Response<Vec<u8>>| {
        let all = set_cookies(resp);
        assert!(!all.is_empty(), "{what} sets a cookie");
        for c in all {
            seen.push((what, SetCookie::parse(&c)));
        }
    };

    // Sent to sign in: the login binding verifier.
    let Outcome::Response(to_login) = kb.get("/docs", None).await else {
        panic!("no session: a redirect");
    };
    assert!(
        to_login.headers()[header::LOCATION]
            .to_str()
            .unwrap()
            .starts_with(&kb.clients[0].login_url)
    );
    keep("redirect to sign in", &to_login);
    let verifier = set_cookies(&to_login)[0].split(';').next().unwrap().to_owned();

    // The code flow: the session cookie, and the verifier's deletion.
    let code = kb.code(0).await;
    let Outcome::Response(authorized) = kb.get(&format!("/jwt/authorize?code={code}"), Some(&verifier)).await else {
        panic!("authorize redirects");
    };
    assert_eq!(authorized.status(), StatusCode::FOUND);
    keep("/jwt/authorize", &authorized);
    let session = session_of(&authorized);

    // The handshake callback: another session cookie.
    let Outcome::Response(handshake) = kb
        .get(&format!("/api/auth/jwt/callback?token={}", kb.handshake_token()), None)
        .await
    else {
        panic!("the callback redirects");
    };
    assert_eq!(handshake.status(), StatusCode::FOUND);
    keep("handshake callback", &handshake);

    // Logout: the session cookie's deletion.
    let Outcome::Response(out) = kb.get("/jwt/logout", Some(&session)).await else {
        panic!("logout redirects");
    };
    keep("logout", &out);

    // An expired session on a page: its deletion beside the new binding.
    kb.clock.advance(Duration::days(2));
    let Outcome::Response(stale) = kb.get("/docs", Some(&session)).await else {
        panic!("an expired session is no page");
    };
    keep("stale session", &stale);
    seen
}

#[tokio::test]
async fn every_session_cookie_set_on_https_is_secure_http_only_lax_and_host_bound() {
    let cookies = cookies_of_a_session_on_https().await;
    let sessions: Vec<_> = cookies.iter().filter(|(_, c)| c.name.ends_with("kb_session")).collect();
    // Set by /jwt/authorize and the callback; deleted on logout and when stale.
    assert_eq!(
        sessions.len(),
        4,
        "{:?}",
        cookies.iter().map(|(_, c)| &c.raw).collect::<Vec<_>>()
    );
    for (what, cookie) in sessions {
        assert_eq!(cookie.name, "__Host-kb_session", "{what}");
        cookie.assert_hardened(what);
    }
}

#[tokio::test]
async fn the_login_binding_cookie_on_https_is_secure_http_only_and_lax() {
    let cookies = cookies_of_a_session_on_https().await;
    let bindings: Vec<_> = cookies
        .iter()
        .filter(|(_, c)| c.name.contains("kb_login_verifier"))
        .collect();
    // Set on both redirects to sign in, deleted by /jwt/authorize.
    assert_eq!(bindings.len(), 3);
    for (what, cookie) in bindings {
        assert!(cookie.has("secure"), "{what}: {}", cookie.raw);
        assert!(cookie.has("httponly"), "{what}: {}", cookie.raw);
        assert_eq!(cookie.value_of("samesite"), Some("Lax"), "{what}: {}", cookie.raw);
        assert!(!cookie.has("domain"), "{what}: {}", cookie.raw);
    }
}

#[tokio::test]
async fn the_login_binding_cookie_on_https_is_host_bound() {
    let cookies = cookies_of_a_session_on_https().await;
    let bindings: Vec<_> = cookies
        .iter()
        .filter(|(_, c)| c.name.contains("kb_login_verifier"))
        .collect();
    assert_eq!(bindings.len(), 3);
    for (what, cookie) in bindings {
        assert_eq!(cookie.name, "__Host-kb_login_verifier", "{what}");
        cookie.assert_hardened(what);
    }
}

#[tokio::test]
async fn the_handshake_cookie_deletion_on_https_is_hardened_too() {
    let kb = Kb::new(1);
    let cookie = format!("jwt={}", kb.handshake_token());
    let Outcome::Response(resp) = kb.get("/docs", Some(&cookie)).await else {
        panic!("a handshake cookie answers with a redirect");
    };
    let deletion = set_cookies(&resp)
        .into_iter()
        .map(|c| SetCookie::parse(&c))
        .find(|c| c.name == "jwt")
        .expect("the handshake cookie is deleted");
    deletion.assert_hardened("jwt cookie deletion");
}

// ---------------------------------------------------------------------------
// Revocation fails closed
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_revocation_list_that_cannot_be_read_sends_a_valid_session_back_to_sign_in() {
    let kb = Kb::new(1);
    let code = kb.code(0).await;
    let session = session_of(&kb.authorize(&code).await);
    assert!(matches!(kb.get("/docs", Some(&session)).await, Outcome::Page(_)));

    kb.revocations_down.store(true, Ordering::SeqCst);
    match kb.get("/docs", Some(&session)).await {
        Outcome::Response(r) => {
            assert_eq!(r.status(), StatusCode::FOUND);
            let to = r.headers()[header::LOCATION].to_str().unwrap();
            assert!(to.starts_with(&kb.clients[0].login_url), "back to sign-in: {to}");
        }
        Outcome::Page(_) => panic!("an unreadable revocation list must not let a session in"),
    }

    // The cookie itself is fine: once the list answers, it is accepted.
    kb.revocations_down.store(false, Ordering::SeqCst);
    assert!(matches!(kb.get("/docs", Some(&session)).await, Outcome::Page(_)));
}

#[tokio::test]
async fn a_reused_code_gets_503_when_the_first_session_cannot_be_revoked() {
    let kb = Kb::new(1);
    let code = kb.code(0).await;
    let session = session_of(&kb.authorize(&code).await);
    kb.revocations_down.store(true, Ordering::SeqCst);
    let again = kb.authorize(&code).await;
    assert_eq!(again.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json_of(&again)["error"], "temporarily_unavailable");
    let again = kb.token(&code, 0).await;
    assert_eq!(again.status(), StatusCode::SERVICE_UNAVAILABLE);

    // With the list back, the reuse revokes the first session.
    kb.revocations_down.store(false, Ordering::SeqCst);
    assert_eq!(kb.authorize(&code).await.status(), StatusCode::BAD_REQUEST);
    assert!(!matches!(kb.get("/docs", Some(&session)).await, Outcome::Page(_)));
}

// ---------------------------------------------------------------------------
// The 10-minute ceiling on code lifetime
// ---------------------------------------------------------------------------

/// A memory code store that remembers the last grant it stored.
#[derive(Default)]
struct Recording {
    inner: MemoryCodeStore,
    last: std::sync::Mutex<Option<CodeGrant>>,
    inserts: AtomicUsize,
}

impl CodeStore for Recording {
    type Error = <MemoryCodeStore as CodeStore>::Error;

    async fn insert_limited(
        &self,
        digest: CodeDigest,
        grant: CodeGrant,
        limit: usize,
    ) -> Result<kb_sso::Insertion, Self::Error> {
        *self.last.lock().unwrap() = Some(grant.clone());
        self.inserts.fetch_add(1, Ordering::SeqCst);
        self.inner.insert_limited(digest, grant, limit).await
    }

    async fn redeem(&self, digest: CodeDigest, now: OffsetDateTime) -> Result<Redemption, Self::Error> {
        self.inner.redeem(digest, now).await
    }
}

fn enabled_config() -> (JwtConfig, ClientSecret) {
    let (config, secrets) = JwtConfig::builder("App", "https://app.example.com/login")
        .build()
        .unwrap();
    (config, secrets.primary)
}

fn request() -> kb_sso::CodeRequest {
    kb_sso::CodeRequest::from_json(BODY).unwrap()
}

#[tokio::test]
async fn no_code_lives_longer_than_ten_minutes_whatever_lifetime_is_configured() {
    assert_eq!(MAX_CODE_LIFETIME, Duration::minutes(10));
    let (config, secret) = enabled_config();
    for asked in [Duration::minutes(11), Duration::hours(24), Duration::MAX] {
        let clock = Arc::new(SettableClock::new(T0));
        let issuer = CodeIssuer::new(Recording::default(), clock.clone()).with_lifetime(asked);
        assert_eq!(issuer.lifetime(), MAX_CODE_LIFETIME, "asked for {asked}");

        let early = issuer
            .issue(Some(&config), secret.expose().as_bytes(), request())
            .await
            .unwrap();
        let grant = issuer.store().last.lock().unwrap().clone().unwrap();
        assert_eq!(grant.expires_at - grant.issued_at, MAX_CODE_LIFETIME);
        let late = issuer
            .issue(Some(&config), secret.expose().as_bytes(), request())
            .await
            .unwrap();

        // One second before the ceiling a code still redeems...
        clock.set(T0 + MAX_CODE_LIFETIME - Duration::SECOND);
        assert!(issuer.redeem(early.expose(), None).await.is_ok(), "asked for {asked}");
        // ...and at it, it has expired.
        clock.set(T0 + MAX_CODE_LIFETIME);
        assert!(
            matches!(
                issuer.redeem(late.expose(), None).await,
                Err(CodeError::InvalidGrant(GrantProblem::Expired))
            ),
            "asked for {asked}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any configured lifetime ends up between 1 second and 10 minutes, and
    /// every grant stored lives exactly that long.
    #[test]
    fn configured_code_lifetimes_are_clamped_to_one_second_through_ten_minutes(
        seconds in prop_oneof![i64::MIN..=i64::MAX, -10i64..=2000],
    ) {
        let (config, secret) = enabled_config();
        let asked = Duration::seconds(seconds);
        let issuer = CodeIssuer::new(Recording::default(), SettableClock::new(T0)).with_lifetime(asked);
        let want = asked.clamp(Duration::SECOND, MAX_CODE_LIFETIME);
        prop_assert_eq!(issuer.lifetime(), want);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(issuer.issue(Some(&config), secret.expose().as_bytes(), request())).unwrap();
        let grant = issuer.store().last.lock().unwrap().clone().unwrap();
        prop_assert_eq!(grant.expires_at - grant.issued_at, want);
    }
}
