//! Guarantees in SECURITY.md that no other test pins down: secret-holding
//! types cannot be printed or compared, a disabled configuration is told
//! apart only after a correct secret, a code whose configuration was deleted
//! issues nothing, every sign-in gets a fresh login binding verifier, and
//! logout answers 503 when the revocation cannot be recorded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;
use support::route::{Handle as _, Outcome};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http::{Request, Response, StatusCode, header};
use kb_sso::CheckpointKey;
use kb_sso::s256_challenge;
use kb_sso::server::SsoService;
use kb_sso::store::memory::MemoryRateLimiter;
use kb_sso::store::memory::{MemoryCodeStore, MemoryConfigStore, MemorySessionRevocations};
use kb_sso::{
    Administrator, ClientCredentials, ClientId, ClientSecret, Clock, CodeError, CodeIssuer, GrantProblem, HandshakeKey,
    IdentityServer, JwtConfig, Project, ProjectSettings, SecretDigest, SessionCodec, SessionRevocations, SettableClock,
    SigningKey, TokenSigner, VerificationKey,
};
use time::OffsetDateTime;
use url::Url;

const BODY: &[u8] = br#"{"username":"ada","firstName":"Ada","lastName":"Lovelace","emailId":"ada@example.com"}"#;
const T0: OffsetDateTime = time::macros::datetime!(2026-01-01 00:00 UTC);

// ---------------------------------------------------------------------------
// Secret-holding types: no Display, no PartialEq; secrets zeroized on drop
// ---------------------------------------------------------------------------

/// Resolves to one impl when `T` lacks the trait and is ambiguous (a compile
/// error) when it has it: the test below stops compiling the moment one of
/// these types gains `PartialEq` or `Display`.
trait AmbiguousIfPartialEq<A> {
    fn check() {}
}
impl<T: ?Sized> AmbiguousIfPartialEq<()> for T {}
#[allow(dead_code)]
struct HasPartialEq;
impl<T: ?Sized + PartialEq> AmbiguousIfPartialEq<HasPartialEq> for T {}

trait AmbiguousIfDisplay<A> {
    fn check() {}
}
impl<T: ?Sized> AmbiguousIfDisplay<()> for T {}
#[allow(dead_code)]
struct HasDisplay;
impl<T: ?Sized + std::fmt::Display> AmbiguousIfDisplay<HasDisplay> for T {}

macro_rules! neither_equality_nor_display {
    ($($t:ty),* $(,)?) => {$(
        <$t as AmbiguousIfPartialEq<_>>::check();
        <$t as AmbiguousIfDisplay<_>>::check();
    )*};
}

#[test]
fn secret_holding_types_have_no_equality_and_no_display() {
    // Compiling is the assertion; a digest is compared only through its
    // constant-time `ct_matches`, never with `==`.
    neither_equality_nor_display!(
        ClientSecret,
        SecretDigest,
        SigningKey,
        VerificationKey,
        SessionCodec,
        HandshakeKey,
        CheckpointKey,
    );
}

#[test]
fn client_secrets_and_checkpoint_keys_are_zeroized_on_drop() {
    fn zeroized_on_drop<T: zeroize::ZeroizeOnDrop>() {}
    zeroized_on_drop::<ClientSecret>();
    zeroized_on_drop::<CheckpointKey>();
}

// ---------------------------------------------------------------------------
// A disabled configuration is told apart only after a correct secret
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_disabled_configuration_is_told_apart_only_after_a_correct_secret() {
    let (mut config, secrets) = JwtConfig::builder("App", "https://app.example.com/login")
        .build()
        .unwrap();
    config.set_enabled(false);
    let issuer = CodeIssuer::new(MemoryCodeStore::new(), SettableClock::new(T0));
    let request = || kb_sso::CodeRequest::from_json(BODY).unwrap();

    let wrong = issuer.issue(Some(&config), b"wrong secret", request()).await;
    assert!(matches!(wrong, Err(CodeError::InvalidClient)), "{wrong:?}");
    let unknown = issuer.issue(None, b"wrong secret", request()).await;
    assert!(matches!(unknown, Err(CodeError::InvalidClient)), "{unknown:?}");
    for right in [&secrets.primary, &secrets.secondary] {
        let answer = issuer.issue(Some(&config), right.expose().as_bytes(), request()).await;
        assert!(matches!(answer, Err(CodeError::Disabled)), "{answer:?}");
    }
}

// ---------------------------------------------------------------------------
// An https KB whose revocation list can refuse writes
// ---------------------------------------------------------------------------

#[derive(Debug)]
struct Down;

impl std::fmt::Display for Down {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the revocation list cannot be written")
    }
}

impl std::error::Error for Down {}

/// In-memory revocations whose writes fail while `refuse_writes` is set;
/// reads keep working.
struct WriteFailing {
    inner: MemorySessionRevocations,
    refuse_writes: Arc<AtomicBool>,
}

impl SessionRevocations for WriteFailing {
    type Error = Down;

    async fn revoke(&self, session_id: &str, until: OffsetDateTime, now: OffsetDateTime) -> Result<(), Down> {
        if self.refuse_writes.load(Ordering::SeqCst) {
            return Err(Down);
        }
        self.inner.revoke(session_id, until, now).await.map_err(|_| Down)
    }

    async fn is_revoked(&self, session_id: &str, now: OffsetDateTime) -> Result<bool, Down> {
        self.inner.is_revoked(session_id, now).await.map_err(|_| Down)
    }
}

type Service = SsoService<MemoryConfigStore, MemoryCodeStore, Arc<SettableClock>, MemoryRateLimiter, WriteFailing>;

struct Kb {
    service: Service,
    clock: Arc<SettableClock>,
    refuse_writes: Arc<AtomicBool>,
    clients: Vec<(ClientId, ClientSecret)>,
}

impl Kb {
    fn new(n: usize) -> Self {
        let mut configs = Vec::new();
        let mut clients = Vec::new();
        for i in 0..n {
            let (config, secrets) = JwtConfig::builder(format!("App {i}"), format!("https://app{i}.example.com/login"))
                .build()
                .unwrap();
            clients.push((config.client_id().clone(), secrets.primary.clone()));
            configs.push(config);
        }
        let project = Project::new(ProjectSettings::default(), configs, vec![]).unwrap();
        let clock = Arc::new(SettableClock::new(T0));
        let identity = IdentityServer::new(
            MemoryConfigStore::new(project),
            CodeIssuer::new(MemoryCodeStore::new(), clock.clone()),
            TokenSigner::new(SigningKey::generate_ed25519("kb-1").unwrap()),
            "https://kb.example.com",
        );
        let refuse_writes = Arc::new(AtomicBool::new(false));
        let service = SsoService::new(
            identity,
            SessionCodec::new(&[9u8; 32]).unwrap(),
            &Url::parse("https://kb.example.com").unwrap(),
        )
        .unwrap()
        .session_revocations(WriteFailing {
            inner: MemorySessionRevocations::new(),
            refuse_writes: refuse_writes.clone(),
        });
        Self {
            service,
            clock,
            refuse_writes,
            clients,
        }
    }

    fn credentials(&self, client: usize) -> ClientCredentials {
        let (id, secret) = &self.clients[client];
        ClientCredentials::new(id.as_str(), ClientSecret::new(secret.expose()))
    }

    async fn code(&self, client: usize) -> String {
        let code = self
            .service
            .identity()
            .issue_code(&self.credentials(client), BODY)
            .await
            .unwrap();
        code.expose().to_owned()
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> Outcome {
        let mut req = Request::get(path);
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        self.service.handle(req.body(Vec::new()).unwrap()).await
    }

    async fn response(&self, path: &str, cookie: Option<&str>) -> Response<Vec<u8>> {
        match self.get(path, cookie).await {
            Outcome::Response(r) => r,
            Outcome::Page(p) => panic!("a page for {}", p.path),
        }
    }
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
// A deleted configuration's codes issue nothing
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_code_whose_configuration_is_deleted_before_redemption_is_refused() {
    let kb = Kb::new(2);
    let identity = kb.service.identity();
    let code = kb.code(0).await;
    let browser_code = kb.code(0).await;
    let id = kb.clients[0].0.clone();
    let now = kb.clock.now();
    support::edit_project(identity.configs(), move |p| {
        p.delete(&Administrator("alice".into()), now, &id).map(|_| ())
    })
    .await
    .unwrap();

    assert!(matches!(
        identity.exchange(&code, None).await,
        Err(CodeError::InvalidGrant(GrantProblem::ConfigurationInactive))
    ));
    let resp = kb.response(&format!("/jwt/authorize?code={browser_code}"), None).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    // No session cookie with a value (a cleared one, `kb_session=;`, may be).
    assert!(
        set_cookies(&resp)
            .iter()
            .all(|c| !c.contains("kb_session=") || c.contains("kb_session=;"))
    );
    // The control: the other configuration still redeems.
    assert!(identity.exchange(&kb.code(1).await, None).await.is_ok());
}

// ---------------------------------------------------------------------------
// Login binding: a fresh random verifier for every sign-in
// ---------------------------------------------------------------------------

/// The verifier cookie value and the challenge of a redirect to sign in.
fn binding_of(resp: &Response<Vec<u8>>) -> (String, String) {
    let location = Url::parse(resp.headers()[header::LOCATION].to_str().unwrap()).unwrap();
    let challenge = location
        .query_pairs()
        .find(|(k, _)| k == "codeChallenge")
        .map(|(_, v)| v.into_owned())
        .expect("a codeChallenge on the way to sign in");
    let verifier = set_cookies(resp)
        .into_iter()
        .find_map(|c| {
            c.strip_prefix("__Host-kb_login_verifier=")
                .map(|rest| rest.split(';').next().unwrap().to_owned())
        })
        .expect("a verifier cookie on the way to sign in");
    (verifier, challenge)
}

#[tokio::test]
async fn every_sign_in_gets_a_fresh_random_verifier_whose_s256_is_the_challenge() {
    let kb = Kb::new(1);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..16 {
        let resp = kb.response("/docs", None).await;
        assert_eq!(resp.status(), StatusCode::FOUND);
        let (verifier, challenge) = binding_of(&resp);
        assert_eq!(verifier.len(), 43, "32 random bytes");
        assert_eq!(s256_challenge(&verifier), challenge);
        assert!(seen.insert(verifier), "a verifier is never handed out twice");
    }
}

// ---------------------------------------------------------------------------
// Logout fails loudly when the revocation cannot be recorded
// ---------------------------------------------------------------------------

#[tokio::test]
async fn logout_answers_503_and_clears_cookies_when_the_revocation_cannot_be_recorded() {
    let kb = Kb::new(1);
    let code = kb.code(0).await;
    let session = session_of(&kb.response(&format!("/jwt/authorize?code={code}"), None).await);
    assert!(matches!(kb.get("/docs", Some(&session)).await, Outcome::Page(_)));

    kb.refuse_writes.store(true, Ordering::SeqCst);
    let resp = kb.response("/jwt/logout", Some(&session)).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        set_cookies(&resp)
            .iter()
            .any(|c| c.starts_with("__Host-kb_session=;") && c.contains("Max-Age=0")),
        "the session cookie is still cleared: {:?}",
        set_cookies(&resp)
    );

    // Recorded, the same logout redirects and the copy is refused.
    kb.refuse_writes.store(false, Ordering::SeqCst);
    let resp = kb.response("/jwt/logout", Some(&session)).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert!(!matches!(kb.get("/docs", Some(&session)).await, Outcome::Page(_)));
}

// ---------------------------------------------------------------------------
// A stored configuration holds SHA-256 digests of its secrets, nothing else
// ---------------------------------------------------------------------------

#[test]
fn a_stored_configuration_holds_the_sha256_of_each_secret_and_no_other_form() {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use sha2::{Digest, Sha256};

    let (config, secrets) = JwtConfig::builder("App", "https://app.example.com/login")
        .build()
        .unwrap();
    let stored = serde_json::to_string(&config).unwrap();
    for secret in [&secrets.primary, &secrets.secondary] {
        let text = secret.expose();
        let digest = URL_SAFE_NO_PAD.encode(Sha256::digest(text.as_bytes()));
        assert!(stored.contains(&digest), "the SHA-256 of the secret is stored");
        let raw = URL_SAFE_NO_PAD.decode(text).unwrap();
        // Neither the text nor its bytes in any common encoding, whole or
        // in part (a 16-character window of the text, its first 16 bytes).
        for form in [
            text[..16].to_owned(),
            URL_SAFE_NO_PAD.encode(text.as_bytes())[..16].to_owned(),
            STANDARD.encode(text.as_bytes())[..16].to_owned(),
            URL_SAFE_NO_PAD.encode(&raw[..16])[..16].to_owned(),
            raw[..16].iter().map(|b| format!("{b:02x}")).collect(),
        ] {
            assert!(!stored.contains(&form), "a form of the secret is stored: {form}");
        }
    }
}
