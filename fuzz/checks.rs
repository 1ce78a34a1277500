//! The properties every fuzz input must satisfy, shared by the proptest
//! layer (`tests/fuzz.rs`) and the libFuzzer targets (`fuzz/fuzz_targets`).
//!
//! Each `check_*` function takes untrusted input, feeds it to one parser of
//! the crate and panics when a property fails; a panic inside the crate is a
//! failure too. Token inputs are mutated by [`mutate`], which reads a byte
//! string as a list of structure-aware edits of valid tokens, so that both
//! proptest and libFuzzer drive the same mutations.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kb_sso::MAX_AUTHORIZATION_LEN;
use kb_sso::MAX_REDIRECT_LEN;
use kb_sso::store::memory::MemoryReplayCache;
use kb_sso::{
    ClientCredentials, ClientId, ClientSecret, CodeRequest, DomainRouter, IdTokenClaims, JwtConfig, KeySet,
    ReaderSession, RedirectPolicy, Route, SessionCodec, SessionError, SigningKey, TokenSigner, UntrustedToken,
    Validation, Verifier, VerifyError, normalize_domain,
};
use kb_sso::{HandshakeKey, HandshakeSettings, HandshakeVerifier, generate_ed25519_key_pair};
use kb_sso::{MAX_FIELD_CHARS, MAX_READER_GROUPS};
use serde_json::{Value, json};
use time::OffsetDateTime;
use url::Url;

/// The time every fixture token is issued and verified at:
/// 2026-01-01T00:00:00Z.
pub(crate) const T0: i64 = 1_767_225_600;
const ISS: &str = "https://id.example.com";
const AUD: &str = "0b9f4c1e-5f7a-4c55-9d1e-3f1f2a6c7d80";

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(T0).unwrap()
}

// ---------------------------------------------------------------------------
// Basic credentials
// ---------------------------------------------------------------------------

/// Any header value: parsing never panics, and credentials that parse keep
/// their meaning through `to_basic_header` and back (unless re-encoding
/// makes the header too long).
pub(crate) fn check_basic_header(value: &[u8]) {
    let Ok(parsed) = ClientCredentials::from_basic_header(value) else {
        return;
    };
    assert!(!parsed.client_id.is_empty(), "a parsed client id is never empty");
    let header = parsed.to_basic_header();
    if header.len() <= MAX_AUTHORIZATION_LEN {
        let again = ClientCredentials::from_basic_header(header.as_bytes())
            .unwrap_or_else(|e| panic!("re-encoded credentials do not parse: {e}"));
        assert_eq!(again.client_id, parsed.client_id);
        assert_eq!(again.secret.expose(), parsed.secret.expose());
    }
}

/// Credentials produced by `to_basic_header` parse back to themselves when
/// the client id is not empty and the header fits the size limit.
pub(crate) fn check_basic_round_trip(client_id: &str, secret: &str) {
    let credentials = ClientCredentials::new(client_id, ClientSecret::new(secret));
    let header = credentials.to_basic_header();
    let parsed = ClientCredentials::from_basic_header(header.as_bytes());
    if client_id.is_empty() || header.len() > MAX_AUTHORIZATION_LEN {
        assert!(parsed.is_err(), "an empty client id or an overlong header is refused");
        return;
    }
    let parsed = parsed.unwrap_or_else(|e| panic!("{client_id:?}:{secret:?} does not round-trip: {e}"));
    assert_eq!(parsed.client_id, client_id);
    assert_eq!(parsed.secret.expose(), secret);
}

// ---------------------------------------------------------------------------
// Code requests
// ---------------------------------------------------------------------------

/// Any body: parsing never panics, and an accepted request obeys the field
/// rules and the validity range.
pub(crate) fn check_code_request(body: &[u8]) {
    let Ok(request) = CodeRequest::from_json(body) else {
        return;
    };
    let id = &request.identity;
    for (name, value, required) in [
        ("username", &id.username, true),
        ("firstName", &id.first_name, false),
        ("lastName", &id.last_name, false),
        ("emailId", &id.email, true),
    ] {
        assert!(!value.chars().any(char::is_control), "{name} has a control character");
        assert!(value.chars().count() <= MAX_FIELD_CHARS, "{name} is too long");
        assert!(!required || !value.trim().is_empty(), "{name} is empty");
    }
    assert!(id.email.contains('@'));
    assert!(id.reader_group_ids.len() <= MAX_READER_GROUPS);
    assert!(id.reader_group_ids.iter().all(|g| !g.trim().is_empty()));
    let minutes = request.validity.whole_minutes();
    assert!((5..=1440).contains(&minutes), "validity {minutes} min is out of range");
    if let Some(c) = &request.code_challenge {
        assert_eq!(c.len(), 43);
    }
}

/// Code request bodies that are valid JSON but hostile in structure:
/// duplicate keys, huge numbers, deep nesting, unicode, wrong types. `pick`
/// chooses the variant and `text` fills the string fields.
pub(crate) fn hostile_code_request(pick: u8, text: &str) -> Vec<u8> {
    let t = serde_json::to_string(text).unwrap();
    let body = match pick % 12 {
        0 => format!(r#"{{"username":{t},"username":"b","firstName":"","lastName":"","emailId":"a@b"}}"#),
        1 => format!(r#"{{"username":"a","firstName":{t},"lastName":"","emailId":"a@b","tokenValidity":1e999999}}"#),
        2 => format!(r#"{{"username":"a","firstName":"","lastName":"","emailId":{t},"tokenValidity":-1e-999999}}"#),
        3 => format!(
            r#"{{"username":"a","firstName":"","lastName":"","emailId":"a@b","tokenValidity":{}}}"#,
            "9".repeat(text.len() % 5000 + 1)
        ),
        4 => format!(
            r#"{{"username":"a","firstName":"","lastName":"","emailId":"a@b","readerGroupIds":{}{t}{}}}"#,
            "[".repeat(text.len() % 300 + 1),
            "]".repeat(text.len() % 300 + 1)
        ),
        5 => format!(r#"{{"username":"a","firstName":"","lastName":"","emailId":"a@b","tokenValidity":{t}}}"#),
        6 => format!(r#"{{"username":"\ud800","firstName":{t},"lastName":"","emailId":"a@b"}}"#),
        7 => format!(r#"{{"username":{t},"firstName":"","lastName":"","emailId":"a@b","codeChallenge":{t}}}"#),
        8 => format!(r#"{{"username":"a","firstName":"","lastName":"","emailId":"a@b","{text}":1}}"#),
        9 => format!(
            r#"{{"username":"a","firstName":"","lastName":"","emailId":"a@b","readerGroupIds":[{}]}}"#,
            vec![t.as_str(); text.len() % 150 + 1].join(",")
        ),
        10 => format!(r#"{{"username":{t},"firstName":"","lastName":"","emailId":"{text}@{text}"}}"#),
        _ => format!(r#"{{"username":"a","firstName":"","lastName":"","emailId":"a@b","tokenValidity":0.{text}}}"#),
    };
    body.into_bytes()
}

// ---------------------------------------------------------------------------
// Redirects
// ---------------------------------------------------------------------------

/// The KB sites redirect targets are checked against.
pub(crate) fn redirect_policies() -> &'static [RedirectPolicy] {
    static POLICIES: OnceLock<Vec<RedirectPolicy>> = OnceLock::new();
    POLICIES.get_or_init(|| {
        [
            "https://kb.example.com/",
            "http://127.0.0.1:8080/docs/",
            "https://bücher.example/x?y#z",
            "https://[::1]:8443/",
        ]
        .iter()
        .map(|base| RedirectPolicy::new(&Url::parse(base).unwrap()).unwrap())
        .collect()
    })
}

/// Any target: checking never panics; an accepted target stays on the
/// KB's origin, is a header-safe absolute URL, and its relative form checks
/// to the same URL; `resolve_or_home` always stays on the origin.
pub(crate) fn check_redirect(policy: &RedirectPolicy, target: &str) {
    let origin = policy.base().origin();
    if let Ok(safe) = policy.check(target) {
        assert_eq!(safe.as_url().origin(), origin, "{target:?} left the origin");
        assert!(safe.as_url().username().is_empty() && safe.as_url().password().is_none());
        let text = safe.as_str();
        assert!(text.len() <= 4 * MAX_REDIRECT_LEN + 64);
        assert!(
            text.bytes().all(|b| b.is_ascii_graphic()),
            "{target:?} gave a URL unfit for a header: {text:?}"
        );
        let path = safe.path_and_query();
        assert!(path.starts_with('/') && !path.starts_with("//") && !path.starts_with("/\\"));
        let again = policy
            .check(path)
            .unwrap_or_else(|e| panic!("{target:?}: relative form {path:?} is refused: {e}"));
        assert_eq!(again, safe, "{target:?}: relative form resolves elsewhere");
    }
    let chosen = policy.resolve_or_home(Some(target));
    assert_eq!(chosen.as_url().origin(), origin);
    assert_eq!(policy.resolve_or_home(None), policy.home());
}

/// Redirect targets built from pieces browsers treat leniently, joined in
/// the order `picks` gives.
pub(crate) fn hostile_redirect(picks: &[u8], text: &str) -> String {
    const PIECES: &[&str] = &[
        "/",
        "//",
        "\\",
        "/\\",
        "%2F",
        "%2f",
        "%5C",
        "%5c",
        "%09",
        "%0d%0a",
        "%00",
        "%",
        "%E3%80%82",
        "..",
        "./",
        "?",
        "#",
        "@",
        ":",
        "evil.com",
        "kb.example.com",
        "https:",
        "javascript:",
        "\t",
        "\r\n",
        " ",
        "\u{a0}",
        "\u{2028}",
        "\u{85}",
        "。",
        "／",
        "＼",
        "%25",
        "%252F",
        "docs",
        "x=1&y=2",
        "\u{0}",
        "ß",
        "🙂",
        "[::1]",
    ];
    let mut out = String::new();
    for &p in picks {
        if p == 255 {
            out.push_str(text);
        } else {
            out.push_str(PIECES[usize::from(p) % PIECES.len()]);
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Domains
// ---------------------------------------------------------------------------

fn router_configs() -> &'static [JwtConfig] {
    static CONFIGS: OnceLock<Vec<JwtConfig>> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        [
            ("example.com", true),
            ("support.example.com", true),
            ("off.example.com", false),
            ("bücher.example", true),
            ("xn--80ak6aa92e.com", true),
        ]
        .iter()
        .map(|(host, enabled)| {
            JwtConfig::builder(*host, format!("https://{host}/login"))
                .enabled(*enabled)
                .build()
                .unwrap()
                .0
        })
        .collect()
    })
}

fn router() -> &'static DomainRouter {
    static ROUTER: OnceLock<DomainRouter> = OnceLock::new();
    ROUTER.get_or_init(|| DomainRouter::new(router_configs()))
}

/// Any input: normalisation never panics and gives lower-case ASCII with no
/// trailing dot, wildcard, whitespace or empty label, and is idempotent;
/// routing never panics and leads only to a configuration whose domain is
/// the input's domain or a parent of it on a label boundary.
pub(crate) fn check_domain(input: &str) {
    let normalized = normalize_domain(input);
    if let Ok(d) = &normalized {
        assert!(!d.is_empty());
        assert!(d.is_ascii(), "{input:?} -> {d:?} is not ASCII");
        assert!(
            !d.bytes().any(|b| b.is_ascii_uppercase()),
            "{input:?} -> {d:?} has upper case"
        );
        assert!(
            !d.ends_with('.') && !d.starts_with('.') && !d.contains(".."),
            "{input:?} -> {d:?}"
        );
        assert!(!d.contains(['/', '\\', '@', ':', '%']), "{input:?} -> {d:?}");
        assert!(!d.contains('*'), "{input:?} -> {d:?} has a wildcard");
        assert!(
            d.len() <= 253 && d.split('.').all(|l| l.len() <= 63),
            "{input:?} -> {d:?} is no DNS name"
        );
        // Every output is short enough to be input again, and normalises to
        // itself.
        assert_eq!(
            normalize_domain(d).as_ref(),
            Ok(d),
            "normalising {input:?} is not idempotent"
        );
        assert!(
            !d.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()),
            "{input:?} -> {d:?}"
        );
    }
    match router().route(input) {
        Route::DefaultOptions => {}
        Route::Config(id) => {
            let d = normalized.unwrap_or_else(|e| panic!("{input:?} routed although it does not normalise: {e}"));
            let config = router_configs()
                .iter()
                .find(|c| *c.client_id() == id)
                .expect("routed to a known configuration");
            assert!(config.is_enabled(), "{input:?} routed to a disabled configuration");
            let domain = normalize_domain(config.domain()).unwrap();
            assert!(
                d == domain || d.ends_with(&format!(".{domain}")),
                "{input:?} ({d}) routed to {domain}"
            );
        }
    }
}

/// A label of 64 characters, one more than DNS allows.
const LONG_LABEL: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// Domain inputs built from lenient pieces: case, dots, IDNA, emails, URLs.
pub(crate) fn hostile_domain(picks: &[u8], text: &str) -> String {
    const PIECES: &[&str] = &[
        "example",
        "com",
        ".",
        "..",
        "support",
        "SUPPORT",
        "*",
        "@",
        "https://",
        "/",
        ":443",
        " ",
        "\t",
        "xn--",
        "bücher",
        "BÜCHER",
        "İ",
        "ß",
        "ǅ",
        "\u{200d}",
        "\u{3002}",
        "\u{ff0e}",
        "%2e",
        "%2A",
        "-",
        "_",
        "1",
        "255",
        "0x7f",
        "[::1]",
        "off",
        "badexample",
        "\u{0}",
        "\u{fffd}",
        LONG_LABEL,
    ];
    let mut out = String::new();
    for &p in picks {
        if p == 255 {
            out.push_str(text);
        } else {
            out.push_str(PIECES[usize::from(p) % PIECES.len()]);
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------

/// Valid tokens and the verifiers that accept them.
pub(crate) struct TokenFixture {
    /// Tokens that verify: EdDSA and HS256 `id_token`s, and handshake tokens.
    pub(crate) valid: Vec<String>,
    /// Verifiers for the `id_token`s: one over both keys (chosen by `kid`),
    /// and one per key (a token without `kid` uses the only key).
    verifiers: Vec<Verifier>,
    handshake: HandshakeVerifier,
    /// The Ed25519 public key, for algorithm-confusion forgeries.
    ed_public: [u8; 32],
    /// The Ed25519 private key of the `ed-1` tokens, to re-sign edits.
    ed_private: ed25519_dalek::SigningKey,
}

/// The HS256 key of the `hs-1` tokens.
const HS_SECRET: [u8; 32] = [7u8; 32];

fn id_claims(sub: &str, iat: i64) -> IdTokenClaims {
    IdTokenClaims {
        iss: ISS.into(),
        sub: sub.into(),
        aud: AUD.into(),
        iat,
        exp: iat + 900,
        jti: format!("jti-{sub}"),
        given_name: "Ada".into(),
        family_name: "Lovelace".into(),
        name: "Ada Lovelace".into(),
        email: "ada@example.com".into(),
        groups: vec!["g1".into()],
    }
}

/// The fixture, built once.
pub(crate) fn token_fixture() -> &'static TokenFixture {
    static FIXTURE: OnceLock<TokenFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let ed = TokenSigner::new(SigningKey::generate_ed25519("ed-1").unwrap());
        let hs = TokenSigner::new(SigningKey::hs256("hs-1", &HS_SECRET).unwrap());
        let validation = Validation::new().issuer(ISS).audience(AUD);
        let both = KeySet::from_keys([ed.key().verification_key(), hs.key().verification_key()]).unwrap();
        let verifiers = vec![
            Verifier::new(both, validation.clone()),
            Verifier::new(
                KeySet::from_keys([ed.key().verification_key()]).unwrap(),
                validation.clone(),
            ),
            Verifier::new(KeySet::from_keys([hs.key().verification_key()]).unwrap(), validation),
        ];
        let mut valid = Vec::new();
        for signer in [&ed, &hs] {
            valid.push(signer.sign(&id_claims("ada", T0)).unwrap());
            valid.push(signer.sign(&id_claims("grace", T0 - 60)).unwrap());
        }

        // Handshake configurations: HS256 with the secret's text, Ed25519.
        let hs_id = ClientId::generate();
        let secret = ClientSecret::generate();
        let ed_id = ClientId::generate();
        let (private_pem, public_pem) = generate_ed25519_key_pair().unwrap();
        let mut handshake = HandshakeVerifier::new();
        let settings = |key| {
            HandshakeSettings::builder(key)
                .audience("docs.example.com")
                .build()
                .unwrap()
        };
        handshake
            .insert(hs_id.clone(), settings(HandshakeKey::hs256(&secret, None).unwrap()))
            .unwrap();
        handshake
            .insert(
                ed_id.clone(),
                settings(HandshakeKey::ed25519_from_spki_pem(&public_pem).unwrap()),
            )
            .unwrap();
        let claims = json!({
            "sub": "u-1", "email": "ada@example.com", "aud": "docs.example.com",
            "accessRoles": ["g1"], "iat": T0, "exp": T0 + 300,
        });
        let hs_handshake = TokenSigner::new(SigningKey::hs256(hs_id.as_str(), secret.expose().as_bytes()).unwrap());
        let ed_handshake = TokenSigner::new(SigningKey::ed25519_from_pkcs8_pem(ed_id.as_str(), &private_pem).unwrap());
        valid.push(hs_handshake.sign(&claims).unwrap());
        valid.push(ed_handshake.sign(&claims).unwrap());

        let ed_private = {
            use ed25519_dalek::pkcs8::DecodePrivateKey as _;
            ed25519_dalek::SigningKey::from_pkcs8_pem(&ed.key().to_pkcs8_pem().unwrap()).unwrap()
        };
        let fixture = TokenFixture {
            ed_public: *ed.key().verification_key().ed25519_public_key().unwrap(),
            ed_private,
            valid,
            verifiers,
            handshake,
        };
        for (i, token) in fixture.valid.iter().enumerate() {
            assert!(fixture.accepts(token), "fixture token {i} must verify");
        }
        fixture
    })
}

/// Runs a future that the in-memory replay cache answers at once.
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the memory replay cache answers at once"),
    }
}

impl TokenFixture {
    /// Whether any verifier accepts `token`: the `id_token` verifiers
    /// through `UntrustedToken::parse` + `Verifier::verify`, and the
    /// handshake verifier through `verify_str` (with a fresh replay cache,
    /// so only signature and claims decide).
    pub(crate) fn accepts(&self, token: &str) -> bool {
        let by_verifier = UntrustedToken::parse(token).is_ok_and(|untrusted| {
            self.verifiers
                .iter()
                .any(|v| v.verify::<IdTokenClaims>(&untrusted, now()).is_ok())
        });
        let replay = MemoryReplayCache::new();
        by_verifier || ready(self.handshake.verify_str(token, now(), &replay)).is_ok()
    }

    /// The token `token` is equivalent to for a verifier: the handshake
    /// verifier trims surrounding whitespace, which changes no signed byte.
    fn signed_form(token: &str) -> &str {
        token.trim()
    }
}

/// Any string: no verifier accepts it unless it is one of the valid tokens.
pub(crate) fn check_token(fixture: &TokenFixture, token: &str) {
    let same = fixture.valid.iter().any(|v| v == TokenFixture::signed_form(token));
    if !same {
        assert!(
            !fixture.accepts(token),
            "a token that was never signed verifies: {token:?}"
        );
    }
}

/// Applies the edits `ops` describes to the valid token `base % n`, and
/// checks that the result verifies only if it is unchanged.
pub(crate) fn check_mutated_token(fixture: &TokenFixture, base: u8, ops: &[u8]) {
    let original = &fixture.valid[usize::from(base) % fixture.valid.len()];
    let mutated = mutate(fixture, original, ops);
    check_token(fixture, &mutated);
}

/// A little reader over the edit bytes; past the end it reads zeros.
struct Ops<'a>(&'a [u8]);

impl Ops<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn index(&mut self, len: usize) -> usize {
        let v = usize::from(self.byte()) << 8 | usize::from(self.byte());
        if len == 0 { 0 } else { v % len }
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }
}

fn segments(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

fn decode_json(segment: &str) -> Option<Value> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).ok()?).ok()
}

fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// One edit [`mutate`] applied: a token edit kind (`0..16`), or a JSON edit
/// kind (`0..14`) of the header or the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Edit {
    /// A token edit, by kind.
    Token(u8),
    /// A JSON edit of the header (`payload: false`) or payload, by kind.
    Json {
        /// Whether the payload was edited.
        payload: bool,
        /// The JSON edit kind.
        kind: u8,
    },
}

/// The number of token edit kinds in [`mutate`].
pub(crate) const TOKEN_EDITS: u8 = 16;
/// The number of JSON edit kinds in `mutate_json`.
pub(crate) const JSON_EDITS: u8 = 14;

/// Structure-aware edits of a JSON header or payload segment.
fn mutate_json(value: &mut Value, ops: &mut Ops<'_>, payload: bool, trace: &mut Vec<Edit>) -> Option<String> {
    let obj = value.as_object_mut()?;
    let keys: Vec<String> = obj.keys().cloned().collect();
    let key = keys.get(ops.index(keys.len())).cloned().unwrap_or_default();
    let kind = ops.byte() % JSON_EDITS;
    trace.push(Edit::Json { payload, kind });
    match kind {
        0 => {
            obj.insert(
                "alg".into(),
                json!(["none", "HS256", "EdDSA", "Ed25519", "RS256", "hs256", ""][ops.index(7)]),
            );
        }
        1 => {
            obj.remove("kid");
        }
        2 => {
            obj.insert(
                "kid".into(),
                json!(["ed-1", "hs-1", "", "../../x", "ed-1\u{0}"][ops.index(5)]),
            );
        }
        3 => {
            obj.insert("crit".into(), json!(["exp"]));
        }
        4 => {
            obj.insert(key, json!(u64::MAX));
        }
        5 => {
            obj.insert(key, json!(-1));
        }
        6 => {
            obj.insert(key, json!(1.5e300));
        }
        7 => {
            obj.insert("exp".into(), json!(T0 + 1_000_000_000));
            obj.insert("iat".into(), json!(T0));
        }
        8 => {
            obj.insert("aud".into(), json!([AUD, "docs.example.com", 1]));
        }
        9 => {
            // Duplicate keys: raw text, since a map cannot hold them.
            let text = value.to_string();
            let dup = format!(r#"{{"{key}":{},{}"#, json!("dup"), text.get(1..)?);
            return Some(dup);
        }
        10 => {
            let depth = usize::from(ops.byte()) * 4 + 1;
            let nested = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
            let text = value.to_string();
            return Some(format!(r#"{{"deep":{nested},{}"#, text.get(1..)?));
        }
        11 => {
            obj.insert(key, json!("\u{202e}İ\u{fffd}🙂\u{0}"));
        }
        12 => {
            obj.insert("jku".into(), json!("https://evil.example/keys"));
            obj.insert("jwk".into(), json!({"kty": "oct", "k": "AAAA"}));
        }
        _ => {
            // Whitespace around the JSON: same meaning, other bytes.
            return Some(format!(" {value} "));
        }
    }
    Some(value.to_string())
}

/// Applies edits read from `ops` to `token`: up to four of bit flips,
/// truncation, insertion and deletion, splicing segments of other valid
/// tokens, swapping headers, base64 padding and non-canonical last
/// characters, JSON edits of the header or payload with the old signature,
/// and forged signatures (HS256 keyed with the Ed25519 public key,
/// `alg: none` with an empty signature).
pub(crate) fn mutate(fixture: &TokenFixture, token: &str, ops: &[u8]) -> String {
    mutate_traced(fixture, token, ops, &mut Vec::new())
}

/// [`mutate`], recording in `trace` every edit it applied.
pub(crate) fn mutate_traced(fixture: &TokenFixture, token: &str, ops: &[u8], trace: &mut Vec<Edit>) -> String {
    let mut ops = Ops(ops);
    let mut out = token.to_owned();
    let rounds = ops.byte() % 4 + 1;
    for _ in 0..rounds {
        let mut bytes = out.clone().into_bytes();
        let mut segs = segments(&out);
        let seg = ops.index(segs.len().max(1));
        let kind = ops.byte() % TOKEN_EDITS;
        trace.push(Edit::Token(kind));
        out = match kind {
            0 => {
                let i = ops.index(bytes.len());
                if let Some(b) = bytes.get_mut(i) {
                    *b ^= 1 << (ops.byte() % 8);
                }
                String::from_utf8_lossy(&bytes).into_owned()
            }
            1 => {
                bytes.truncate(ops.index(bytes.len()));
                String::from_utf8_lossy(&bytes).into_owned()
            }
            2 => {
                let i = ops.index(bytes.len() + 1);
                let n = usize::from(ops.byte() % 8) + 1;
                let insert = ops.bytes(n);
                bytes.splice(i..i, insert);
                String::from_utf8_lossy(&bytes).into_owned()
            }
            3 => {
                let i = ops.index(bytes.len());
                let n = usize::from(ops.byte() % 8) + 1;
                bytes.drain(i..(i + n).min(bytes.len()));
                String::from_utf8_lossy(&bytes).into_owned()
            }
            4 => {
                // A segment from another valid token.
                let other = segments(&fixture.valid[ops.index(fixture.valid.len())]);
                if let (Some(s), Some(o)) = (segs.get_mut(seg), other.get(seg)) {
                    s.clone_from(o);
                }
                segs.join(".")
            }
            5 => {
                // Another token's header, or header and signature.
                let other = segments(&fixture.valid[ops.index(fixture.valid.len())]);
                segs[0].clone_from(&other[0]);
                if ops.byte() % 2 == 0 && segs.len() > 2 && other.len() > 2 {
                    segs[2].clone_from(&other[2]);
                }
                segs.join(".")
            }
            6 => {
                if let Some(s) = segs.get_mut(seg) {
                    s.push_str(["=", "==", "===", "%3D"][ops.index(4)]);
                }
                segs.join(".")
            }
            7 => {
                // Non-canonical last character: same leading bits, other
                // trailing bits.
                if let Some(s) = segs.get_mut(seg)
                    && let Some(last) = s.pop()
                {
                    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
                    let pos = ALPHABET.iter().position(|&c| char::from(c) == last).unwrap_or(0);
                    let delta = usize::from(ops.byte() % 3) + 1;
                    s.push(char::from(ALPHABET[(pos & !3) + ((pos + delta) & 3)]));
                }
                segs.join(".")
            }
            8 | 9 => {
                // Edit the header (8) or payload (9) JSON, keep the signature.
                let which = if ops.byte() % 2 == 0 { 0 } else { 1 };
                match segs.get(which).and_then(|s| decode_json(s)) {
                    Some(mut value) => match mutate_json(&mut value, &mut ops, which == 1, trace) {
                        Some(text) => {
                            segs[which] = encode(text.as_bytes());
                            segs.join(".")
                        }
                        None => out,
                    },
                    None => out,
                }
            }
            10 => {
                // Algorithm confusion: HS256 keyed with the Ed25519 public
                // key, under the Ed25519 key's kid.
                let forger = SigningKey::hs256("ed-1", &fixture.ed_public);
                let header = encode(br#"{"alg":"HS256","typ":"JWT","kid":"ed-1"}"#);
                let payload = segs.get(1).cloned().unwrap_or_default();
                let input = format!("{header}.{payload}");
                match forger {
                    Ok(key) => {
                        // Sign through TokenSigner with a copy of the payload.
                        let claims = decode_json(&payload).unwrap_or_else(|| json!({}));
                        TokenSigner::new(key).sign(&claims).unwrap_or(input)
                    }
                    Err(_) => input,
                }
            }
            11 => {
                let header = encode(br#"{"alg":"none","typ":"JWT"}"#);
                let payload = segs.get(1).cloned().unwrap_or_default();
                [format!("{header}.{payload}."), format!("{header}.{payload}")][ops.index(2)].clone()
            }
            12 => {
                // Random signature of the right length.
                if let Some(s) = segs.get_mut(2) {
                    let len = URL_SAFE_NO_PAD.decode(s.as_bytes()).map_or(32, |b| b.len());
                    *s = encode(&ops.bytes(len));
                }
                segs.join(".")
            }
            13 => {
                // Extra or missing segments.
                match ops.byte() % 3 {
                    0 => format!("{out}.{}", segs.get(seg).cloned().unwrap_or_default()),
                    1 => segs.iter().take(2).cloned().collect::<Vec<_>>().join("."),
                    _ => format!("{out}."),
                }
            }
            14 => {
                // Whitespace, quotes or a scheme around the token.
                let wrap = [
                    (" ", "\t"),
                    ("\"", "\""),
                    ("Bearer ", ""),
                    ("\u{a0}", "\u{2028}"),
                    ("", "\n"),
                ];
                let (a, b) = wrap[ops.index(wrap.len())];
                format!("{a}{out}{b}")
            }
            _ => {
                // Swap two segments.
                let other = ops.index(segs.len().max(1));
                if seg < segs.len() && other < segs.len() {
                    segs.swap(seg, other);
                }
                segs.join(".")
            }
        };
    }
    out
}

// ---------------------------------------------------------------------------
// Tokens re-signed with the fixture's real keys
// ---------------------------------------------------------------------------

/// The number of edit kinds [`resigned_token`] knows.
pub(crate) const RESIGN_EDITS: u8 = 24;

/// Signs `header` and `payload` (JSON text, as is) with the key of fixture
/// token `base`: `ed-1` for tokens 0 and 1, `hs-1` for 2 and 3.
fn sign_raw(fixture: &TokenFixture, base: usize, header: &str, payload: &str) -> String {
    use ed25519_dalek::Signer as _;
    use hmac::Mac as _;
    let input = format!("{}.{}", encode(header.as_bytes()), encode(payload.as_bytes()));
    let signature = if base < 2 {
        fixture.ed_private.sign(input.as_bytes()).to_bytes().to_vec()
    } else {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&HS_SECRET).unwrap();
        mac.update(input.as_bytes());
        mac.finalize().into_bytes().to_vec()
    };
    format!("{input}.{}", encode(&signature))
}

/// The object inside `value` (the fixtures only hold objects).
fn obj(value: &mut Value) -> &mut serde_json::Map<String, Value> {
    value.as_object_mut().unwrap()
}

/// `{"key":value,` followed by the rest of `object`: a duplicate key, which
/// a map cannot hold.
fn with_duplicate(object: &Value, key: &str, value: &Value) -> String {
    let text = object.to_string();
    format!("{{\"{key}\":{value},{}", &text[1..])
}

/// Edit `kind` of the `id_token` `base` (0..4) with a valid signature made
/// with the fixture's real key, and the answer the verifier must give: the
/// checks behind the signature (`crit`, `alg`, `kid`, `jku`, dates,
/// duplicate keys, issuer, audience) are reached only this way.
pub(crate) fn resigned_token(
    fixture: &TokenFixture,
    base: usize,
    kind: u8,
    arg: u8,
) -> (String, Result<(), VerifyError>) {
    let token = &fixture.valid[base % 4];
    let segs = segments(token);
    let mut header = decode_json(&segs[0]).unwrap();
    let mut payload = decode_json(&segs[1]).unwrap();
    let ed = base % 4 < 2;
    let mut header_text = None;
    let mut payload_text = None;
    let expected = match kind % RESIGN_EDITS {
        0 => {
            let critical = ["exp", "b64"][usize::from(arg % 2)];
            obj(&mut header).insert("crit".into(), json!([critical]));
            Err(VerifyError::UnsupportedHeader)
        }
        1 => {
            obj(&mut header).insert(
                "alg".into(),
                json!((["none", "RS256", "ES256", "", "hs256", "eddsa"])[usize::from(arg % 6)]),
            );
            Err(VerifyError::UnsupportedAlgorithm)
        }
        2 => {
            // The other family, under the same kid.
            obj(&mut header).insert("alg".into(), json!(if ed { "HS256" } else { "EdDSA" }));
            Err(VerifyError::AlgorithmMismatch)
        }
        3 => {
            // `Ed25519` (RFC 9864) is read as `EdDSA`.
            obj(&mut header).insert("alg".into(), json!("Ed25519"));
            if ed {
                Ok(())
            } else {
                Err(VerifyError::AlgorithmMismatch)
            }
        }
        4 => {
            // Key-fetching headers are ignored, never acted on.
            obj(&mut header).insert(
                ["jku", "x5u", "jwk", "x5c"][usize::from(arg % 4)].into(),
                [
                    json!("https://evil.example/keys"),
                    json!("https://evil.example/cert"),
                    json!({"kty": "oct", "k": "AAAA"}),
                    json!(["MIIB"]),
                ][usize::from(arg % 4)]
                .clone(),
            );
            Ok(())
        }
        5 => {
            // No kid with two keys configured: no key is chosen.
            obj(&mut header).remove("kid");
            Err(VerifyError::UnknownKey)
        }
        6 => {
            obj(&mut header).insert(
                "kid".into(),
                json!((["../../x", "", "ed-1\u{0}", "HS-1"])[usize::from(arg % 4)]),
            );
            Err(VerifyError::UnknownKey)
        }
        7 => {
            obj(&mut payload).insert("exp".into(), json!(T0 - 31 - i64::from(arg)));
            Err(VerifyError::Expired)
        }
        8 => {
            // Within the 30 s leeway.
            obj(&mut payload).insert("exp".into(), json!(T0 - i64::from(arg % 31)));
            Ok(())
        }
        9 => {
            obj(&mut payload).remove("exp");
            Err(VerifyError::MissingClaim("exp"))
        }
        10 => {
            obj(&mut payload).insert(
                "exp".into(),
                [
                    json!("9999999999"),
                    json!(253_402_300_800i64),
                    json!(-1),
                    json!(1.5e9),
                    json!(null),
                ][usize::from(arg % 5)]
                .clone(),
            );
            if arg % 5 == 4 {
                Err(VerifyError::MissingClaim("exp"))
            } else {
                Err(VerifyError::Malformed)
            }
        }
        11 => {
            obj(&mut payload).insert("iat".into(), json!(T0 + 31 + i64::from(arg)));
            Err(VerifyError::IssuedInFuture)
        }
        12 => {
            obj(&mut payload).remove("iat");
            Err(VerifyError::MissingClaim("iat"))
        }
        13 => {
            obj(&mut payload).insert("nbf".into(), json!(T0 + 31 + i64::from(arg)));
            Err(VerifyError::NotYetValid)
        }
        14 => {
            obj(&mut payload).insert("nbf".into(), json!(T0 + i64::from(arg % 31)));
            Ok(())
        }
        15 => {
            let key = ["exp", "iat", "iss", "aud", "sub", "jti"][usize::from(arg % 6)];
            let value = obj(&mut payload).get(key).cloned().unwrap();
            payload_text = Some(with_duplicate(&payload, key, &value));
            Err(VerifyError::Malformed)
        }
        16 => {
            let (key, value) =
                [("alg", json!(if ed { "EdDSA" } else { "HS256" })), ("kid", json!("x"))][usize::from(arg % 2)].clone();
            header_text = Some(with_duplicate(&header, key, &value));
            Err(VerifyError::Malformed)
        }
        17 => {
            obj(&mut payload).insert(
                "iss".into(),
                json!((["https://evil.example", "", "HTTPS://ID.EXAMPLE.COM"])[usize::from(arg % 3)]),
            );
            Err(VerifyError::WrongIssuer)
        }
        18 => {
            obj(&mut payload).remove("iss");
            Err(VerifyError::WrongIssuer)
        }
        19 => {
            obj(&mut payload).insert(
                "aud".into(),
                json!((["docs.example.com", "", "0B9F4C1E-5F7A-4C55-9D1E-3F1F2A6C7D80"])[usize::from(arg % 3)]),
            );
            Err(VerifyError::WrongAudience)
        }
        20 => {
            // Far in the future: no maximum lifetime is configured.
            obj(&mut payload).insert("exp".into(), json!(T0 + 1_000_000_000));
            Ok(())
        }
        21 => {
            // Whitespace inside the signed JSON changes no meaning.
            header_text = Some(format!(" {header} "));
            payload_text = Some(format!("\n{payload}\t"));
            Ok(())
        }
        22 => {
            // A claim of the wrong type behind a good signature.
            let key = ["sub", "email", "jti", "groups"][usize::from(arg % 4)];
            obj(&mut payload).insert(key.into(), json!(42));
            Err(VerifyError::Malformed)
        }
        _ => {
            // Not a JSON object, signed.
            payload_text = Some(["[]", "\"x\"", "1", "null"][usize::from(arg % 4)].to_owned());
            Err(VerifyError::Malformed)
        }
    };
    let header_text = header_text.unwrap_or_else(|| header.to_string());
    let payload_text = payload_text.unwrap_or_else(|| payload.to_string());
    (sign_raw(fixture, base % 4, &header_text, &payload_text), expected)
}

/// Re-signs edit `kind` of `id_token` `base` and checks that the verifier
/// over both keys gives exactly the expected answer.
pub(crate) fn check_resigned_token(fixture: &TokenFixture, base: u8, kind: u8, arg: u8) {
    let (token, expected) = resigned_token(fixture, usize::from(base), kind, arg);
    let got = UntrustedToken::parse(&token)
        .and_then(|t| fixture.verifiers[0].verify::<IdTokenClaims>(&t, now()))
        .map(|_| ());
    assert_eq!(got, expected, "edit {kind} ({arg}) of token {base}: {token}");
}

// ---------------------------------------------------------------------------
// Session cookies
// ---------------------------------------------------------------------------

/// Session cookies of one KB key, and the sessions they carry.
pub(crate) struct SessionFixture {
    codec: SessionCodec,
    /// Valid cookies (open at [`T0`]) and their sessions.
    pub(crate) valid: Vec<(String, ReaderSession)>,
}

const SESSION_KEY: [u8; 32] = [5u8; 32];

/// The session fixture, built once. Its cookies are the layout
/// [`session_layout`] writes, tagged with the key: the codec writes the
/// documented layout.
pub(crate) fn session_fixture() -> &'static SessionFixture {
    static FIXTURE: OnceLock<SessionFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let codec = SessionCodec::new(&SESSION_KEY).unwrap();
        let session = |sub: &str, groups: &[&str]| ReaderSession {
            username: sub.into(),
            email: format!("{sub}@example.com"),
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            client_id: ClientId::parse(AUD).unwrap(),
            jti: format!("jti-{sub}"),
            expires_at: now() + time::Duration::minutes(15),
            name: String::new(),
            claims: serde_json::Map::new(),
            binding: None,
        };
        let valid: Vec<(String, ReaderSession)> = [session("ada", &["g1"]), session("grace", &[])]
            .into_iter()
            .map(|s| (codec.encode(&s).unwrap(), s))
            .collect();
        for (cookie, s) in &valid {
            assert_eq!(cookie, &sign_session(&SESSION_KEY, &session_layout(s)));
        }
        SessionFixture { codec, valid }
    })
}

/// The fields of `session` in the cookie layout (without the tag), written
/// here from the documentation rather than by the codec: version 3, expiry
/// (i64 big-endian), the client id's 16 bytes, username, email, first name,
/// last name, display name and jti (each a `u16` big-endian length and
/// UTF-8), the claims (a `u16` length and compact JSON, empty when there
/// are none), the group count (one byte), the groups, and the binding
/// (a flag byte, then the key fingerprint and token digest when it is 1).
pub(crate) fn session_layout(session: &ReaderSession) -> Vec<u8> {
    let mut raw = vec![3];
    raw.extend_from_slice(&session.expires_at.unix_timestamp().to_be_bytes());
    let hex: Vec<u8> = session.client_id.as_str().bytes().filter(|&b| b != b'-').collect();
    for pair in hex.chunks(2) {
        raw.push(u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap());
    }
    for text in [
        &session.username,
        &session.email,
        &session.first_name,
        &session.last_name,
        &session.name,
        &session.jti,
    ] {
        push_text(&mut raw, text.as_bytes());
    }
    let claims = if session.claims.is_empty() {
        String::new()
    } else {
        serde_json::to_string(&session.claims).unwrap()
    };
    push_text(&mut raw, claims.as_bytes());
    raw.push(u8::try_from(session.groups.len()).unwrap());
    for group in &session.groups {
        push_text(&mut raw, group.as_bytes());
    }
    match &session.binding {
        None => raw.push(0),
        Some(b) => {
            raw.push(1);
            raw.extend_from_slice(&b.key);
            raw.extend_from_slice(&b.token);
        }
    }
    raw
}

/// Appends `bytes` with their `u16` big-endian length.
fn push_text(raw: &mut Vec<u8>, bytes: &[u8]) {
    raw.extend_from_slice(&u16::try_from(bytes.len()).unwrap().to_be_bytes());
    raw.extend_from_slice(bytes);
}

/// Where the string fields start in a layout: after the version, the
/// expiry and the client id.
const SESSION_TEXTS_AT: usize = 1 + 8 + 16;

/// The offsets of the first five of the seven length-prefixed fields
/// (username, email, first, last and display name; then jti and claims)
/// and of the group count in `raw` (a well-formed layout).
fn session_offsets(raw: &[u8]) -> ([usize; 5], usize) {
    let mut at = SESSION_TEXTS_AT;
    let mut lengths = [0; 5];
    for i in 0..7 {
        if let Some(slot) = lengths.get_mut(i) {
            *slot = at;
        }
        at += 2 + usize::from(u16::from_be_bytes([raw[at], raw[at + 1]]));
    }
    (lengths, at)
}

/// Any cookie value: decoding never panics, and only a cookie the codec
/// made is accepted, with the session it was made from.
pub(crate) fn check_session_cookie(fixture: &SessionFixture, cookie: &str) {
    if let Ok(session) = fixture.codec.decode(cookie, now()) {
        let made = fixture.valid.iter().find(|(c, _)| c == cookie);
        let (_, original) = made.unwrap_or_else(|| panic!("a cookie that was never made is accepted: {cookie:?}"));
        assert_eq!(&session, original);
    }
}

/// Blind edits of a valid cookie (no key): flips of its text or of its
/// bytes, cuts, insertions, one cookie's layout under another's tag, the
/// layout tagged with another key, non-canonical base64, padding and
/// separators. The result is accepted only if it is a cookie the codec
/// made.
pub(crate) fn mutate_session_cookie(fixture: &SessionFixture, base: u8, ops: &[u8]) -> String {
    let mut ops = Ops(ops);
    let mut out = fixture.valid[usize::from(base) % fixture.valid.len()].0.clone();
    let rounds = ops.byte() % 3 + 1;
    for _ in 0..rounds {
        let mut bytes = out.clone().into_bytes();
        // The cookie's bytes, when it is still base64url.
        let raw = URL_SAFE_NO_PAD.decode(&out).ok();
        out = match (ops.byte() % 8, raw) {
            (0, _) => {
                let i = ops.index(bytes.len());
                if let Some(b) = bytes.get_mut(i) {
                    *b ^= 1 << (ops.byte() % 8);
                }
                String::from_utf8_lossy(&bytes).into_owned()
            }
            (1, _) => {
                bytes.truncate(ops.index(bytes.len()));
                String::from_utf8_lossy(&bytes).into_owned()
            }
            (2, _) => {
                let i = ops.index(bytes.len() + 1);
                let n = usize::from(ops.byte() % 4) + 1;
                let insert = ops.bytes(n);
                bytes.splice(i..i, insert);
                String::from_utf8_lossy(&bytes).into_owned()
            }
            (3, Some(mut raw)) => {
                // One bit of the layout or the tag, re-encoded.
                let i = ops.index(raw.len());
                if let Some(b) = raw.get_mut(i) {
                    *b ^= 1 << (ops.byte() % 8);
                }
                encode(&raw)
            }
            (4, Some(raw)) if raw.len() >= 32 => {
                // The same layout tagged with another key (never the real
                // one).
                let b = ops.byte();
                let key = [if b == SESSION_KEY[0] { !b } else { b }; 32];
                sign_session(&key, &raw[..raw.len() - 32])
            }
            (5, Some(mut raw)) if raw.len() >= 32 => {
                // The layout of one cookie under the tag of another.
                let other = URL_SAFE_NO_PAD
                    .decode(&fixture.valid[ops.index(fixture.valid.len())].0)
                    .unwrap();
                let at = raw.len() - 32;
                raw[at..].copy_from_slice(&other[other.len() - 32..]);
                encode(&raw)
            }
            (6, _) => {
                // A non-canonical last character.
                if let Some(last) = out.pop() {
                    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
                    let pos = ALPHABET.iter().position(|&c| char::from(c) == last).unwrap_or(0);
                    out.push(char::from(
                        ALPHABET[(pos & !3) + ((pos + usize::from(ops.byte() % 3) + 1) & 3)],
                    ));
                }
                out
            }
            _ => {
                let extra = ["=", "==", " ", ";", ".", "v1.", "A"][ops.index(7)];
                if ops.byte() % 2 == 0 {
                    format!("{extra}{out}")
                } else {
                    format!("{out}{extra}")
                }
            }
        };
    }
    out
}

/// Checks a blindly mutated cookie: see [`mutate_session_cookie`].
pub(crate) fn check_mutated_session_cookie(fixture: &SessionFixture, base: u8, ops: &[u8]) {
    check_session_cookie(fixture, &mutate_session_cookie(fixture, base, ops));
}

/// The cookie value for the layout `raw` (without tag) tagged with `key`.
fn sign_session(key: &[u8], raw: &[u8]) -> String {
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(raw);
    let mut out = raw.to_vec();
    out.extend_from_slice(&mac.finalize().into_bytes());
    encode(&out)
}

/// The number of edit kinds [`resigned_session_cookie`] knows.
pub(crate) const SESSION_RESIGN_EDITS: u8 = 12;

/// Edit `kind` of the layout of valid cookie `base`, tagged with the real
/// key, and what decoding must answer: behind a valid tag the reader still
/// refuses truncation, trailing bytes, a length beyond the input, invalid
/// UTF-8, too many groups, an overlong field, a wrong version, an expiry
/// out of range and the earlier text layout; an expired session is
/// expired; any other edit is a session the key holder wrote.
pub(crate) fn resigned_session_cookie(
    fixture: &SessionFixture,
    base: u8,
    kind: u8,
    arg: u8,
) -> (String, Result<ReaderSession, SessionError>) {
    let (_, session) = &fixture.valid[usize::from(base) % fixture.valid.len()];
    let mut raw = session_layout(session);
    let (lengths, count_at) = session_offsets(&raw);
    let field = usize::from(arg) % 5;
    let mut changed = session.clone();
    let expected = match kind % SESSION_RESIGN_EDITS {
        0 => {
            raw.truncate(usize::from(arg) % raw.len());
            Err(SessionError::Invalid)
        }
        1 => {
            raw.push(arg);
            Err(SessionError::Invalid)
        }
        2 => {
            // A length reaching past the end of the input.
            let at = lengths[field];
            let len = raw.len() - at - 2 + 1 + usize::from(arg);
            raw[at..at + 2].copy_from_slice(&u16::try_from(len).unwrap().to_be_bytes());
            Err(SessionError::Invalid)
        }
        3 => {
            let bad: &[&[u8]] = &[b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\x80", b"ok\xf4\x90\x80\x80"];
            changed.username = String::new();
            raw = session_layout(&changed);
            let at = SESSION_TEXTS_AT;
            raw.splice(at..at + 2, text_bytes(bad[usize::from(arg) % bad.len()]));
            Err(SessionError::Invalid)
        }
        4 => {
            let n = MAX_READER_GROUPS + 1 + usize::from(arg % 100);
            raw.truncate(count_at);
            raw.push(u8::try_from(n).unwrap());
            for _ in 0..n {
                push_text(&mut raw, b"g");
            }
            Err(SessionError::Invalid)
        }
        5 => {
            raw[0] = if arg == 3 { 2 } else { arg };
            Err(SessionError::Invalid)
        }
        6 => {
            changed.expires_at = now() - time::Duration::seconds(i64::from(arg));
            raw = session_layout(&changed);
            Err(SessionError::Expired)
        }
        7 => {
            // Whoever holds the key can write any session: that is what
            // the key is for.
            changed.groups = vec!["admins".into(); usize::from(arg % 3) + 1];
            raw = session_layout(&changed);
            Ok(changed)
        }
        8 => {
            let long = ["x", "é", "😀"][usize::from(arg) % 3].repeat(MAX_FIELD_CHARS + 1);
            if arg.is_multiple_of(2) {
                changed.groups.push(long);
            } else {
                changed.last_name = long;
            }
            raw = session_layout(&changed);
            Err(SessionError::Invalid)
        }
        9 => {
            let exp = [i64::MAX, i64::MIN, 253_402_300_800, -377_705_116_801][usize::from(arg) % 4];
            raw[1..9].copy_from_slice(&exp.to_be_bytes());
            Err(SessionError::Invalid)
        }
        10 => {
            // More groups counted than present.
            raw[count_at] += 1 + arg % 3;
            Err(SessionError::Invalid)
        }
        _ => {
            // The earlier text layout, `v1.<JSON>.<tag>`, tagged with the
            // real key (as it was, or as the bytes of a new layout):
            // refused, its reader signs in again.
            use hmac::Mac as _;
            let signed = format!("v1.{}", encode(serde_json::to_string(session).unwrap().as_bytes()));
            if arg.is_multiple_of(2) {
                let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&SESSION_KEY).unwrap();
                mac.update(signed.as_bytes());
                let cookie = format!("{signed}.{}", encode(&mac.finalize().into_bytes()));
                return (cookie, Err(SessionError::Invalid));
            }
            raw = signed.into_bytes();
            Err(SessionError::Invalid)
        }
    };
    (sign_session(&SESSION_KEY, &raw), expected)
}

/// `bytes` with their `u16` big-endian length.
fn text_bytes(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    push_text(&mut out, bytes);
    out
}

/// Checks one re-signed edit: see [`resigned_session_cookie`].
pub(crate) fn check_resigned_session_cookie(fixture: &SessionFixture, base: u8, kind: u8, arg: u8) {
    let (cookie, expected) = resigned_session_cookie(fixture, base, kind, arg);
    assert_eq!(
        fixture.codec.decode(&cookie, now()),
        expected,
        "session edit {kind} ({arg}) of cookie {base}: {cookie}"
    );
}
