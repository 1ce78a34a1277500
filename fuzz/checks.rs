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
use kb_sso::code::{MAX_FIELD_CHARS, MAX_READER_GROUPS};
use kb_sso::handshake::{HandshakeKey, HandshakeSettings, HandshakeVerifier, generate_ed25519_key_pair};
use kb_sso::redirect::MAX_REDIRECT_LEN;
use kb_sso::secret::MAX_AUTHORIZATION_LEN;
use kb_sso::store::memory::MemoryReplayCache;
use kb_sso::{
    ClientCredentials, ClientId, ClientSecret, CodeRequest, DomainRouter, IdTokenClaims, JwtConfig, KeySet,
    RedirectPolicy, Route, SigningKey, TokenSigner, UntrustedToken, Validation, Verifier, normalize_domain,
};
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
}

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
        let hs = TokenSigner::new(SigningKey::hs256("hs-1", &[7u8; 32]).unwrap());
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

        let fixture = TokenFixture {
            ed_public: *ed.key().verification_key().ed25519_public_key().unwrap(),
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

/// Structure-aware edits of a JSON header or payload segment.
fn mutate_json(value: &mut Value, ops: &mut Ops<'_>) -> Option<String> {
    let obj = value.as_object_mut()?;
    let keys: Vec<String> = obj.keys().cloned().collect();
    let key = keys.get(ops.index(keys.len())).cloned().unwrap_or_default();
    match ops.byte() % 14 {
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
    let mut ops = Ops(ops);
    let mut out = token.to_owned();
    let rounds = ops.byte() % 4 + 1;
    for _ in 0..rounds {
        let mut bytes = out.clone().into_bytes();
        let mut segs = segments(&out);
        let seg = ops.index(segs.len().max(1));
        out = match ops.byte() % 16 {
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
                    Some(mut value) => match mutate_json(&mut value, &mut ops) {
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
