//! Handshake tokens end to end: keys, configuration choice, every refusal
//! reason, replay, sessions, RFC known answers, tokens from other
//! implementations (PyJWT fixtures, `jsonwebtoken::encode`, the spec's Node
//! `jose` shape) and forged-token properties.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Waker};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::Signer as _;
use ed25519_dalek::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use hmac::Mac as _;
use kb_sso::DEFAULT_SESSION_DURATION;
use kb_sso::store::memory::MemoryReplayCache;
use kb_sso::{
    ALL_GROUPS, HandshakeError, HandshakeErrorKind, HandshakeKey, HandshakeSettings, HandshakeSetupError,
    HandshakeVerifier, ReplayCache, VerifiedHandshake, generate_ed25519_key_pair,
};
use kb_sso::{ClientId, ClientSecret, KeyError, SessionCodec, UntrustedToken, VerifyError};
use proptest::prelude::*;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600;
const AUD: &str = "docs.example.com";
const ISS: &str = "https://app.example.com";

fn at(ts: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(ts).unwrap()
}

/// Runs a future that must be ready at once (the memory cache answers at
/// once).
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("expected an immediate answer"),
    }
}

type Cache = MemoryReplayCache;

/// A fresh cache; the time it judges expiry by is each verification's `now`
/// (the cache reads no clock), here `ts`.
fn cache_at(_ts: i64) -> Cache {
    MemoryReplayCache::new()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn sign_ed(key: &ed25519_dalek::SigningKey, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = key.sign(input.as_bytes());
    format!("{input}.{}", b64(&sig.to_bytes()))
}

fn sign_hs(secret: &[u8], header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(&mac.finalize().into_bytes()))
}

/// An Ed25519 configuration: its client id, private key and public PEM.
struct EdConfig {
    client_id: ClientId,
    private: ed25519_dalek::SigningKey,
    public_pem: String,
}

impl EdConfig {
    fn new() -> Self {
        let (private_pem, public_pem) = generate_ed25519_key_pair().unwrap();
        Self {
            client_id: ClientId::generate(),
            private: ed25519_dalek::SigningKey::from_pkcs8_pem(&private_pem).unwrap(),
            public_pem,
        }
    }

    fn key(&self) -> HandshakeKey {
        HandshakeKey::ed25519_from_spki_pem(&self.public_pem).unwrap()
    }

    fn sign(&self, claims: &Value) -> String {
        sign_ed(&self.private, &json!({"alg": "EdDSA"}), claims)
    }

    fn sign_with_kid(&self, claims: &Value) -> String {
        sign_ed(
            &self.private,
            &json!({"alg": "EdDSA", "typ": "JWT", "kid": self.client_id.as_str()}),
            claims,
        )
    }
}

struct HsConfig {
    client_id: ClientId,
    primary: ClientSecret,
    secondary: ClientSecret,
}

impl HsConfig {
    fn new() -> Self {
        Self {
            client_id: ClientId::generate(),
            primary: ClientSecret::generate(),
            secondary: ClientSecret::generate(),
        }
    }

    fn key(&self) -> HandshakeKey {
        HandshakeKey::hs256(&self.primary, Some(&self.secondary)).unwrap()
    }

    fn sign(&self, claims: &Value) -> String {
        sign_hs(
            self.primary.expose().as_bytes(),
            &json!({"alg": "HS256", "typ": "JWT"}),
            claims,
        )
    }
}

fn settings(key: HandshakeKey) -> HandshakeSettings {
    HandshakeSettings::builder(key)
        .audience(AUD)
        .issuer(ISS)
        .build()
        .unwrap()
}

fn claims(jti: &str) -> Value {
    json!({
        "sub": "alice", "email": "Alice@Example.com", "firstname": "Alice",
        "accessRoles": ["engineering", "sre"], "aud": AUD, "iss": ISS,
        "iat": T0, "exp": T0 + 30, "jti": jti,
    })
}

fn with(mut base: Value, changes: Value) -> Value {
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            base.as_object_mut().unwrap().remove(k);
        } else {
            base[k] = v.clone();
        }
    }
    base
}

fn verify_at(
    verifier: &HandshakeVerifier,
    token: &str,
    ts: i64,
    cache: &Cache,
) -> Result<VerifiedHandshake, HandshakeError> {
    ready(verifier.verify_str(token, at(ts), cache))
}

fn reason(result: Result<VerifiedHandshake, HandshakeError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(e) => e.reason(),
    }
}

/// An HS256 and an Ed25519 configuration, both expecting AUD and ISS.
fn two_configs() -> (HandshakeVerifier, HsConfig, EdConfig) {
    let hs = HsConfig::new();
    let ed = EdConfig::new();
    let mut verifier = HandshakeVerifier::new();
    verifier.insert(hs.client_id.clone(), settings(hs.key())).unwrap();
    verifier.insert(ed.client_id.clone(), settings(ed.key())).unwrap();
    (verifier, hs, ed)
}

// --- the spec's token shapes -------------------------------------------------

/// The Documentation.AI snippet: `new SignJWT({host, firstname, company,
/// accessRoles}).setProtectedHeader({alg: 'EdDSA'}).setIssuedAt()
/// .setExpirationTime('30s')`.
#[test]
fn node_jose_shaped_token_verifies_with_access_roles() {
    let ed = EdConfig::new();
    let mut verifier = HandshakeVerifier::new();
    // The dashboard's optional issuer and audience are left unset.
    verifier
        .insert(
            ed.client_id.clone(),
            HandshakeSettings::builder(ed.key()).build().unwrap(),
        )
        .unwrap();
    let payload = json!({
        "host": "docs.example.com",
        "firstname": "Alice",
        "company": "Acme Inc",
        "accessRoles": ["engineering", "sre"],
        "iat": T0,
        "exp": T0 + 30,
    });
    let token = sign_ed(&ed.private, &json!({"alg": "EdDSA"}), &payload);
    let header = token.split('.').next().unwrap();
    assert_eq!(URL_SAFE_NO_PAD.decode(header).unwrap(), br#"{"alg":"EdDSA"}"#);

    let cache = cache_at(T0);
    let now = T0 + 2;
    let verified = verify_at(&verifier, &token, now, &cache).unwrap();
    assert_eq!(verified.client_id(), &ed.client_id);
    let groups = verified.reader_groups();
    assert!(!groups.all_groups);
    assert_eq!(groups.groups, ["engineering", "sre"]);
    let c = verified.claims();
    assert_eq!(c.host.as_deref(), Some("docs.example.com"));
    assert_eq!(c.company.as_deref(), Some("Acme Inc"));
    assert_eq!(c.first_name(), Some("Alice"));
    assert_eq!(verified.token_expires_at(), at(T0 + 30));
    assert_eq!(verified.jti(), None);

    let session = verified.into_session(at(now));
    assert_eq!(session.groups, ["engineering", "sre"]);
    assert_eq!(session.first_name, "Alice");
    // Neither `sub` nor `email`: a stable id derived from the claims.
    assert!(
        session.username.starts_with("jwt-") && session.username.len() == 26,
        "{}",
        session.username
    );
    assert_eq!(session.client_id, ed.client_id);
    // No jti in the token: the session gets a random one.
    assert_eq!(session.jti.len(), 43);
    // The session lasts 14 days from the handshake, not the token's 30 s.
    assert_eq!(session.expires_at, at(now) + DEFAULT_SESSION_DURATION);

    // 30 s of leeway past exp, then expired.
    assert_eq!(reason(verify_at(&verifier, &token, T0 + 60, &cache)), "ok");
    assert_eq!(reason(verify_at(&verifier, &token, T0 + 61, &cache)), "expired");
}

#[test]
fn helpsite_shaped_token_with_aud_array() {
    let hs = HsConfig::new();
    let mut verifier = HandshakeVerifier::new();
    verifier
        .insert(
            hs.client_id.clone(),
            HandshakeSettings::builder(hs.key())
                .audience("yoursubdomain")
                .build()
                .unwrap(),
        )
        .unwrap();
    let token = hs.sign(&json!({
        "iat": T0, "exp": 9_999_999_999i64, "aud": ["yoursubdomain"],
        "email": "reader@example.com", "groups": ["docs"],
    }));
    let verified = verify_at(&verifier, &token, T0, &cache_at(T0)).unwrap();
    assert_eq!(verified.reader_groups().groups, ["docs"]);
    let session = verified.into_session(at(T0));
    assert_eq!(session.username, "reader@example.com");
    assert_eq!(session.email, "reader@example.com");
}

// --- other implementations ---------------------------------------------------

const PYJWT: &str = include_str!("fixtures/handshake/pyjwt.json");

#[test]
fn pyjwt_tokens_verify() {
    let fx: Value = serde_json::from_str(PYJWT).unwrap();
    let text = |k: &str| fx[k].as_str().unwrap().to_owned();
    let iat = fx["iat"].as_i64().unwrap();
    let ed_id = ClientId::parse(&text("client_id")).unwrap();
    let hs_id = ClientId::generate();
    let mut verifier = HandshakeVerifier::new();
    let ed_key = HandshakeKey::ed25519_from_spki_pem(&text("ed25519_public_pem")).unwrap();
    let hs_key = HandshakeKey::hs256(
        &ClientSecret::new(text("hs256_primary")),
        Some(&ClientSecret::new(text("hs256_secondary"))),
    )
    .unwrap();
    let s = |key| {
        HandshakeSettings::builder(key)
            .audience(text("audience"))
            .issuer(text("issuer"))
            .max_token_age(Duration::seconds(30))
            .build()
            .unwrap()
    };
    verifier.insert(hs_id.clone(), s(hs_key)).unwrap();
    verifier.insert(ed_id.clone(), s(ed_key)).unwrap();

    let cache = cache_at(iat);
    let now = iat + 5;
    let token = |name: &str| fx["tokens"][name].as_str().unwrap().to_owned();
    for name in ["ed_eddsa", "ed_kid", "ed_ed25519_name"] {
        let v = verify_at(&verifier, &token(name), now, &cache).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(v.client_id(), &ed_id, "{name}");
        assert_eq!(v.claims().sub.as_deref(), Some("alice"));
        assert_eq!(v.claims().email.as_deref(), Some("Alice@Example.com"));
        assert_eq!(v.reader_groups().groups, ["engineering", "sre"]);
        assert!(v.jti().unwrap().starts_with("py-ed-"));
    }
    let v = verify_at(&verifier, &token("hs_primary"), now, &cache).unwrap();
    assert_eq!(v.client_id(), &hs_id);
    assert_eq!(v.claims().first_name(), Some("Bob"));
    assert_eq!(v.reader_groups().groups, ["g1", "g2"]);
    let v = verify_at(&verifier, &token("hs_secondary"), now, &cache).unwrap();
    assert_eq!(v.client_id(), &hs_id);
    assert!(v.reader_groups().all_groups);
    assert_eq!(v.into_session(at(now)).groups, [ALL_GROUPS]);

    // Each token with a jti is accepted once.
    for name in ["ed_eddsa", "ed_kid", "ed_ed25519_name", "hs_primary"] {
        let err = verify_at(&verifier, &token(name), now, &cache).unwrap_err();
        assert_eq!(err.reason(), "replayed", "{name}");
    }
    // Past exp and the leeway they are expired.
    let fresh = cache_at(iat);
    assert_eq!(
        reason(verify_at(&verifier, &token("hs_primary"), iat + 61, &fresh)),
        "expired"
    );
    // The Ed25519 tokens do not verify under the HS256 configuration alone.
    verifier.remove(&ed_id).unwrap();
    let err = verify_at(&verifier, &token("ed_eddsa"), now, &fresh).unwrap_err();
    assert_eq!(err.reason(), "bad_signature");
    assert_eq!(err.client_id(), Some(&hs_id));
    assert_eq!(err.expected_aud(), Some(AUD));
    // Its kid now names no configuration.
    let err = verify_at(&verifier, &token("ed_kid"), now, &fresh).unwrap_err();
    assert_eq!(err.kind(), &HandshakeErrorKind::Token(VerifyError::UnknownKey));
}

#[test]
fn jsonwebtoken_encode_interop() {
    let (private_pem, public_pem) = generate_ed25519_key_pair().unwrap();
    let ed_id = ClientId::generate();
    let hs = HsConfig::new();
    let mut verifier = HandshakeVerifier::new();
    verifier
        .insert(
            ed_id.clone(),
            settings(HandshakeKey::ed25519_from_spki_pem(&public_pem).unwrap()),
        )
        .unwrap();
    verifier.insert(hs.client_id.clone(), settings(hs.key())).unwrap();
    let cache = cache_at(T0);

    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(ed_id.to_string());
    let token = jsonwebtoken::encode(
        &header,
        &claims("jwt-ed"),
        &jsonwebtoken::EncodingKey::from_ed_der(
            ed25519_dalek::SigningKey::from_pkcs8_pem(&private_pem)
                .unwrap()
                .to_pkcs8_der()
                .unwrap()
                .as_bytes(),
        ),
    )
    .unwrap();
    let v = verify_at(&verifier, &token, T0, &cache).unwrap();
    assert_eq!(v.client_id(), &ed_id);

    // HS256 keyed with the secondary secret's text, no kid.
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims("jwt-hs"),
        &jsonwebtoken::EncodingKey::from_secret(hs.secondary.expose().as_bytes()),
    )
    .unwrap();
    let v = verify_at(&verifier, &token, T0, &cache).unwrap();
    assert_eq!(v.client_id(), &hs.client_id);
    assert_eq!(v.jti(), Some("jwt-hs"));
}

// --- RFC known answers ------------------------------------------------------

const SPKI_ED25519_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

fn spki_pem(public: &[u8]) -> String {
    let mut der = SPKI_ED25519_PREFIX.to_vec();
    der.extend_from_slice(public);
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        STANDARD.encode(der)
    )
}

/// RFC 8037 appendix A: the A.2 public key as a handshake key; the A.4
/// signature validates (A.5); a handshake token signed with the A.1 private
/// key verifies.
#[test]
fn rfc8037_appendix_a_through_the_handshake_api() {
    const D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
    const X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    const INPUT: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
    const SIGNATURE: &str = "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

    let x = URL_SAFE_NO_PAD.decode(X).unwrap();
    let key = HandshakeKey::ed25519_from_spki_pem(&spki_pem(&x)).unwrap();
    assert_eq!(key.ed25519_public_key_pem().unwrap(), spki_pem(&x));
    let id = ClientId::generate();
    let mut verifier = HandshakeVerifier::new();
    verifier
        .insert(id.clone(), HandshakeSettings::builder(key).build().unwrap())
        .unwrap();
    let cache = cache_at(T0);

    // A.5: the signature verifies; the payload is not a claims set, so the
    // token is malformed (not bad_signature).
    let err = verify_at(&verifier, &format!("{INPUT}.{SIGNATURE}"), T0, &cache).unwrap_err();
    assert_eq!(err.kind(), &HandshakeErrorKind::Token(VerifyError::Malformed));
    assert_eq!(err.client_id(), Some(&id));
    let mut bad = URL_SAFE_NO_PAD.decode(SIGNATURE).unwrap();
    bad[0] ^= 0x80;
    let err = verify_at(&verifier, &format!("{INPUT}.{}", b64(&bad)), T0, &cache).unwrap_err();
    assert_eq!(err.reason(), "bad_signature");

    // A.1 private key: deterministic A.4 signature, then a real handshake.
    let seed: [u8; 32] = URL_SAFE_NO_PAD.decode(D).unwrap().try_into().unwrap();
    let private = ed25519_dalek::SigningKey::from_bytes(&seed);
    assert_eq!(b64(&private.sign(INPUT.as_bytes()).to_bytes()), SIGNATURE);
    let token = sign_ed(&private, &json!({"alg": "EdDSA"}), &claims("rfc8037"));
    let v = verify_at(&verifier, &token, T0, &cache).unwrap();
    assert_eq!(v.client_id(), &id);
}

/// RFC 7515 appendix A.1. Its HMAC key is 64 binary bytes; a handshake
/// HS256 key is a secret's text, so the example applies only as a check
/// that the text is used, undecoded, as the key.
#[test]
fn rfc7515_a1_through_the_handshake_api() {
    const TOKEN: &str = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9\
        .eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ\
        .dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const K: &str = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
    let exp = 1_300_819_380;
    let secret = ClientSecret::new(K);
    let mut verifier = HandshakeVerifier::new();
    verifier
        .insert(
            ClientId::generate(),
            HandshakeSettings::builder(HandshakeKey::hs256(&secret, None).unwrap())
                .build()
                .unwrap(),
        )
        .unwrap();
    let cache = cache_at(exp - 100);
    // Signed with the decoded bytes: not our key.
    assert_eq!(reason(verify_at(&verifier, TOKEN, exp - 100, &cache)), "bad_signature");
    // The same signing input MACed with the key's text: the signature
    // passes and the token is refused for what it lacks (`iat`).
    let (input, _) = TOKEN.rsplit_once('.').unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(K.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    let token = format!("{input}.{}", b64(&mac.finalize().into_bytes()));
    let err = verify_at(&verifier, &token, exp - 100, &cache).unwrap_err();
    assert_eq!(err.kind(), &HandshakeErrorKind::Token(VerifyError::MissingClaim("iat")));
    assert_eq!(err.reason(), "malformed");
}

// --- refusals ----------------------------------------------------------------

#[test]
fn each_refusal_has_its_reason() {
    let (verifier, hs, ed) = two_configs();
    let cache = cache_at(T0);
    let check = |token: &str| reason(verify_at(&verifier, token, T0 + 1, &cache));
    let base = claims("j");
    let mut n = 0;
    let mut fresh = |changes: Value| {
        n += 1;
        with(base.clone(), with(changes, json!({"jti": format!("j{n}")})))
    };

    // Accepted, both algorithms, kid or not, aud string or array.
    assert_eq!(check(&hs.sign(&fresh(json!({})))), "ok");
    assert_eq!(check(&ed.sign(&fresh(json!({})))), "ok");
    assert_eq!(check(&ed.sign_with_kid(&fresh(json!({})))), "ok");
    assert_eq!(check(&ed.sign(&fresh(json!({"aud": ["x", AUD]})))), "ok");

    let cases = [
        (json!({"exp": T0 - 30}), "expired"),
        (json!({"iat": T0 + 32}), "not_yet_valid"),
        (json!({"nbf": T0 + 32}), "not_yet_valid"),
        (json!({"aud": "other.example.com"}), "wrong_audience"),
        (json!({"aud": ["a", "b"]}), "wrong_audience"),
        (json!({"aud": null}), "wrong_audience"),
        (json!({"aud": 7}), "malformed"),
        (json!({"iss": "https://evil.example.com"}), "wrong_issuer"),
        (json!({"iss": null}), "wrong_issuer"),
        (json!({"exp": null}), "malformed"),
        (json!({"iat": null}), "malformed"),
        (json!({"exp": 253_402_300_800i64}), "malformed"),
        (json!({"accessRoles": "*"}), "malformed"),
        (json!({"sub": "x".repeat(257)}), "malformed"),
    ];
    for (changes, expected) in cases {
        for token in [hs.sign(&fresh(changes.clone())), ed.sign(&fresh(changes.clone()))] {
            assert_eq!(check(&token), expected, "{changes}");
        }
    }

    // The failure names the configuration whose signature verified, and
    // its expected audience.
    let err = verify_at(&verifier, &ed.sign(&fresh(json!({"aud": "nope"}))), T0, &cache).unwrap_err();
    assert_eq!(err.client_id(), Some(&ed.client_id));
    assert_eq!(err.expected_aud(), Some(AUD));

    // Tampered: payload changed, signature kept.
    let token = ed.sign(&fresh(json!({})));
    let parts: Vec<&str> = token.split('.').collect();
    let forged = with(fresh(json!({})), json!({"accessRoles": ["*"], "jti": "other"}));
    let tampered = format!("{}.{}.{}", parts[0], b64(forged.to_string().as_bytes()), parts[2]);
    assert_eq!(check(&tampered), "bad_signature");

    // alg none, with or without a signature segment.
    let none_payload = b64(fresh(json!({})).to_string().as_bytes());
    let none_header = b64(br#"{"alg":"none"}"#);
    assert_eq!(check(&format!("{none_header}.{none_payload}.")), "malformed");
    assert_eq!(check(&format!("{none_header}.{none_payload}.AAAA")), "malformed");
    // crit: refused.
    let crit = sign_ed(
        &ed.private,
        &json!({"alg": "EdDSA", "crit": ["exp"]}),
        &fresh(json!({})),
    );
    assert_eq!(check(&crit), "malformed");

    // Algorithm swaps: HS256 keyed with the Ed25519 public key (its PEM
    // text, its raw bytes), with and without the configuration's kid.
    let raw = ed.key();
    let raw_public = {
        let pem = raw.ed25519_public_key_pem().unwrap();
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        STANDARD.decode(body).unwrap()[12..].to_vec()
    };
    for secret in [ed.public_pem.as_bytes(), raw_public.as_slice()] {
        for header in [
            json!({"alg": "HS256"}),
            json!({"alg": "HS256", "kid": ed.client_id.as_str()}),
        ] {
            let token = sign_hs(secret, &header, &fresh(json!({})));
            assert_eq!(check(&token), "bad_signature", "{header}");
        }
    }
    let err = verify_at(
        &verifier,
        &sign_hs(
            ed.public_pem.as_bytes(),
            &json!({"alg": "HS256", "kid": ed.client_id.as_str()}),
            &fresh(json!({})),
        ),
        T0,
        &cache,
    )
    .unwrap_err();
    assert_eq!(err.kind(), &HandshakeErrorKind::Token(VerifyError::AlgorithmMismatch));
    assert_eq!(err.client_id(), Some(&ed.client_id));
    // EdDSA named against the HS256 configuration's kid.
    let token = sign_ed(
        &ed.private,
        &json!({"alg": "EdDSA", "kid": hs.client_id.as_str()}),
        &fresh(json!({})),
    );
    assert_eq!(check(&token), "bad_signature");
    // Signed with another key altogether.
    assert_eq!(check(&EdConfig::new().sign(&fresh(json!({})))), "bad_signature");
    assert_eq!(check(&HsConfig::new().sign(&fresh(json!({})))), "bad_signature");

    // Missing, and shapes that do not parse.
    assert_eq!(check(""), "missing");
    assert_eq!(check("  "), "missing");
    assert_eq!(verifier.missing().reason(), "missing");
    for junk in ["abc", "a.b", "a.b.c.d", "%%%.x.y", &"a".repeat(9000)] {
        assert_eq!(check(junk), "malformed", "{junk:.20}");
    }
}

#[test]
fn replays_are_refused_per_configuration() {
    let (verifier, hs, ed) = two_configs();
    let cache = cache_at(T0);
    let token = ed.sign(&claims("once"));
    assert_eq!(reason(verify_at(&verifier, &token, T0, &cache)), "ok");
    let err = verify_at(&verifier, &token, T0 + 1, &cache).unwrap_err();
    assert_eq!(err.kind(), &HandshakeErrorKind::Replayed);
    assert_eq!(err.reason(), "replayed");
    assert_eq!(err.client_id(), Some(&ed.client_id));
    // The same jti in another configuration is another token.
    assert_eq!(
        reason(verify_at(&verifier, &hs.sign(&claims("once")), T0, &cache)),
        "ok"
    );
    // A refused token does not use up its jti.
    let wrong = hs.sign(&with(claims("later"), json!({"aud": "x"})));
    assert_eq!(reason(verify_at(&verifier, &wrong, T0, &cache)), "wrong_audience");
    assert_eq!(
        reason(verify_at(&verifier, &hs.sign(&claims("later")), T0, &cache)),
        "ok"
    );

    // Remembered through the leeway: the last second the token is valid.
    let token = ed.sign(&claims("edge"));
    let cache = MemoryReplayCache::new();
    assert_eq!(reason(verify_at(&verifier, &token, T0 + 60, &cache)), "ok");
    assert_eq!(reason(verify_at(&verifier, &token, T0 + 60, &cache)), "replayed");

    // Without a jti a token is not tracked, unless a jti is required.
    let no_jti = with(claims(""), json!({"jti": null}));
    let token = hs.sign(&no_jti);
    assert_eq!(reason(verify_at(&verifier, &token, T0, &cache_at(T0))), "ok");
    assert_eq!(reason(verify_at(&verifier, &token, T0, &cache_at(T0))), "ok");
    let mut strict = HandshakeVerifier::new();
    strict
        .insert(
            hs.client_id.clone(),
            HandshakeSettings::builder(hs.key()).require_jti(true).build().unwrap(),
        )
        .unwrap();
    let err = verify_at(&strict, &token, T0, &cache_at(T0)).unwrap_err();
    assert_eq!(err.kind(), &HandshakeErrorKind::Token(VerifyError::MissingClaim("jti")));
}

/// A replay cache that always fails.
struct BrokenCache;

#[derive(Debug, thiserror::Error)]
#[error("cache down")]
struct Down;

impl ReplayCache for BrokenCache {
    type Error = Down;
    fn insert_if_absent(
        &self,
        _: &str,
        _: OffsetDateTime,
        _: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, Down>> + Send {
        std::future::ready(Err(Down))
    }
}

#[test]
fn a_failing_replay_cache_refuses_the_token() {
    let (verifier, _, ed) = two_configs();
    let err = ready(verifier.verify_str(&ed.sign(&claims("x")), at(T0), &BrokenCache)).unwrap_err();
    assert_eq!(err.kind(), &HandshakeErrorKind::ReplayStore);
    assert_eq!(err.reason(), "replayed");
    assert_eq!(std::error::Error::source(&err).unwrap().to_string(), "cache down");
    // A token without a jti never reaches the cache.
    let no_jti = with(claims(""), json!({"jti": null}));
    assert!(ready(verifier.verify_str(&ed.sign(&no_jti), at(T0), &BrokenCache)).is_ok());
}

#[test]
fn disabled_configurations_refuse() {
    let (mut verifier, hs, ed) = two_configs();
    assert!(verifier.set_enabled(&ed.client_id, false));
    let cache = cache_at(T0);
    for token in [ed.sign(&claims("a")), ed.sign_with_kid(&claims("b"))] {
        let err = verify_at(&verifier, &token, T0, &cache).unwrap_err();
        assert_eq!(err.reason(), "disabled");
        assert_eq!(err.client_id(), Some(&ed.client_id));
    }
    // The other configuration still works; an unknown signature is still
    // bad_signature, for the only enabled configuration.
    assert_eq!(reason(verify_at(&verifier, &hs.sign(&claims("c")), T0, &cache)), "ok");
    let err = verify_at(&verifier, &EdConfig::new().sign(&claims("d")), T0, &cache).unwrap_err();
    assert_eq!(err.reason(), "bad_signature");
    assert_eq!(err.client_id(), Some(&hs.client_id));
    assert!(verifier.set_enabled(&ed.client_id, true));
    assert_eq!(reason(verify_at(&verifier, &ed.sign(&claims("a")), T0, &cache)), "ok");
    assert!(!verifier.set_enabled(&ClientId::generate(), true));
}

// --- configuration choice ----------------------------------------------------

#[test]
fn configurations_are_chosen_by_kid_or_in_order() {
    let eds: Vec<EdConfig> = (0..5).map(|_| EdConfig::new()).collect();
    let mut verifier = HandshakeVerifier::new();
    for (i, ed) in eds.iter().enumerate() {
        let mut b = HandshakeSettings::builder(ed.key()).audience(format!("aud-{i}"));
        if i == 1 {
            b = b.kid("customer-key-2026");
        }
        assert!(
            verifier
                .insert(ed.client_id.clone(), b.build().unwrap())
                .unwrap()
                .is_none()
        );
    }
    assert_eq!(verifier.len(), 5);
    assert_eq!(
        verifier.client_ids().collect::<Vec<_>>(),
        eds.iter().map(|e| &e.client_id).collect::<Vec<_>>()
    );
    let extra = EdConfig::new();
    assert_eq!(
        verifier
            .insert(extra.client_id.clone(), settings(extra.key()))
            .unwrap_err(),
        HandshakeSetupError::TooManyConfigurations
    );
    let cache = cache_at(T0);
    let c = |i: usize, jti: &str| with(claims(jti), json!({"aud": format!("aud-{i}")}));

    // Without kid: tried in order; the one whose key signed it wins.
    for (i, ed) in eds.iter().enumerate() {
        let v = verify_at(&verifier, &ed.sign(&c(i, "nokid")), T0, &cache).unwrap();
        assert_eq!(v.client_id(), &ed.client_id);
    }
    // By client id as kid, and by the kid the settings name.
    let v = verify_at(&verifier, &eds[3].sign_with_kid(&c(3, "kid")), T0, &cache).unwrap();
    assert_eq!(v.client_id(), &eds[3].client_id);
    let named = sign_ed(
        &eds[1].private,
        &json!({"alg": "EdDSA", "kid": "customer-key-2026"}),
        &c(1, "named"),
    );
    let v = verify_at(&verifier, &named, T0, &cache).unwrap();
    assert_eq!(v.client_id(), &eds[1].client_id);
    // A kid naming one configuration with another's signature fails for
    // the configuration named.
    let wrong = sign_ed(
        &eds[0].private,
        &json!({"alg": "EdDSA", "kid": eds[4].client_id.as_str()}),
        &c(4, "wrong"),
    );
    let err = verify_at(&verifier, &wrong, T0, &cache).unwrap_err();
    assert_eq!(err.reason(), "bad_signature");
    assert_eq!(err.client_id(), Some(&eds[4].client_id));
    assert_eq!(err.expected_aud(), Some("aud-4"));
    // Without kid, a claims failure is told for the configuration that
    // verified the signature; an unknown signature for none of five.
    let err = verify_at(&verifier, &eds[2].sign(&c(0, "aud0")), T0, &cache).unwrap_err();
    assert_eq!(err.reason(), "wrong_audience");
    assert_eq!(err.client_id(), Some(&eds[2].client_id));
    assert_eq!(err.expected_aud(), Some("aud-2"));
    let err = verify_at(&verifier, &extra.sign(&c(0, "x")), T0, &cache).unwrap_err();
    assert_eq!(err.reason(), "bad_signature");
    assert_eq!(err.client_id(), None);
    let err = verify_at(
        &verifier,
        &sign_ed(&extra.private, &json!({"alg": "EdDSA", "kid": "who"}), &c(0, "y")),
        T0,
        &cache,
    )
    .unwrap_err();
    assert_eq!(err.kind(), &HandshakeErrorKind::Token(VerifyError::UnknownKey));

    // Key ids must not name two configurations.
    let mut v2 = HandshakeVerifier::new();
    v2.insert(eds[0].client_id.clone(), settings(eds[0].key())).unwrap();
    let dup = HandshakeSettings::builder(eds[1].key())
        .kid(eds[0].client_id.as_str())
        .build()
        .unwrap();
    assert_eq!(
        v2.insert(eds[1].client_id.clone(), dup).unwrap_err(),
        HandshakeSetupError::DuplicateKid(eds[0].client_id.to_string())
    );
    let named = HandshakeSettings::builder(eds[1].key()).kid("k").build().unwrap();
    v2.insert(eds[1].client_id.clone(), named.clone()).unwrap();
    assert_eq!(
        v2.insert(eds[2].client_id.clone(), named).unwrap_err(),
        HandshakeSetupError::DuplicateKid("k".into())
    );
    assert_eq!(v2.len(), 2);
    assert!(v2.remove(&eds[1].client_id).is_some());
    assert!(v2.remove(&eds[1].client_id).is_none());
    assert!(v2.settings(&eds[0].client_id).is_some());
}

// --- keys ----------------------------------------------------------------------

#[test]
fn regenerating_the_key_pair_fails_old_tokens_at_once() {
    let ed = EdConfig::new();
    let mut verifier = HandshakeVerifier::new();
    verifier.insert(ed.client_id.clone(), settings(ed.key())).unwrap();
    let cache = cache_at(T0);
    assert_eq!(reason(verify_at(&verifier, &ed.sign(&claims("1")), T0, &cache)), "ok");

    let (new_private, new_public) = generate_ed25519_key_pair().unwrap();
    assert_ne!(new_public, ed.public_pem);
    let old = verifier
        .insert(
            ed.client_id.clone(),
            settings(HandshakeKey::ed25519_from_spki_pem(&new_public).unwrap()),
        )
        .unwrap();
    assert_eq!(old.unwrap().key().ed25519_public_key_pem().unwrap(), ed.public_pem);
    for token in [ed.sign(&claims("2")), ed.sign_with_kid(&claims("3"))] {
        let err = verify_at(&verifier, &token, T0, &cache).unwrap_err();
        assert_eq!(err.reason(), "bad_signature");
        assert_eq!(err.client_id(), Some(&ed.client_id));
    }
    let new = ed25519_dalek::SigningKey::from_pkcs8_pem(&new_private).unwrap();
    let token = sign_ed(&new, &json!({"alg": "EdDSA"}), &claims("4"));
    assert_eq!(reason(verify_at(&verifier, &token, T0, &cache)), "ok");
}

#[test]
fn hs256_secret_rotation() {
    let hs = HsConfig::new();
    let mut verifier = HandshakeVerifier::new();
    verifier.insert(hs.client_id.clone(), settings(hs.key())).unwrap();
    let cache = cache_at(T0);
    let by_secondary = |jti: &str| sign_hs(hs.secondary.expose().as_bytes(), &json!({"alg": "HS256"}), &claims(jti));
    assert_eq!(reason(verify_at(&verifier, &hs.sign(&claims("p1")), T0, &cache)), "ok");
    assert_eq!(reason(verify_at(&verifier, &by_secondary("s1"), T0, &cache)), "ok");
    // Regenerate the primary: the old one fails, the secondary works.
    let new_primary = ClientSecret::generate();
    verifier
        .insert(
            hs.client_id.clone(),
            settings(HandshakeKey::hs256(&new_primary, Some(&hs.secondary)).unwrap()),
        )
        .unwrap();
    assert_eq!(
        reason(verify_at(&verifier, &hs.sign(&claims("p2")), T0, &cache)),
        "bad_signature"
    );
    assert_eq!(reason(verify_at(&verifier, &by_secondary("s2"), T0, &cache)), "ok");
    // Primary only: the secondary slot is not tried.
    verifier
        .insert(
            hs.client_id.clone(),
            settings(HandshakeKey::hs256(&new_primary, None).unwrap()),
        )
        .unwrap();
    assert_eq!(
        reason(verify_at(&verifier, &by_secondary("s3"), T0, &cache)),
        "bad_signature"
    );
}

#[test]
fn bad_keys_are_refused_with_typed_errors() {
    // Small-order points: the identity, and a point of order 8 (from the
    // ed25519-dalek weak-key list).
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let order8 = URL_SAFE_NO_PAD
        .decode("xxdqcD1N2E-6PAt2DRBnDyogU_osOczGTsf9d5KsA3o")
        .unwrap();
    for weak in [identity.as_slice(), order8.as_slice()] {
        assert_eq!(
            HandshakeKey::ed25519_from_spki_pem(&spki_pem(weak)).unwrap_err(),
            KeyError::WeakKey
        );
    }
    let (private_pem, public_pem) = generate_ed25519_key_pair().unwrap();
    assert!(private_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert!(public_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
    let mut off_curve = [0u8; 32];
    off_curve[0] = 2;
    for bad in [
        "",
        "not a key",
        private_pem.as_str(),
        &spki_pem(&off_curve),
        &spki_pem(&[7u8; 31]),
    ] {
        assert_eq!(
            HandshakeKey::ed25519_from_spki_pem(bad).unwrap_err(),
            KeyError::InvalidPem,
            "{bad:.30}"
        );
    }
    for len in [0usize, 1, 31] {
        let short = ClientSecret::new("x".repeat(len));
        let long = ClientSecret::generate();
        let err = KeyError::SecretTooShort { len, min: 32 };
        assert_eq!(HandshakeKey::hs256(&short, None).unwrap_err(), err);
        assert_eq!(HandshakeKey::hs256(&long, Some(&short)).unwrap_err(), err);
    }
    let key = HandshakeKey::hs256(&ClientSecret::new("x".repeat(32)), None).unwrap();
    assert_eq!(key.algorithm(), kb_sso::Algorithm::HS256);
    assert!(key.ed25519_public_key_pem().is_none());
    let key = HandshakeKey::ed25519_from_spki_pem(&public_pem).unwrap();
    assert_eq!(key.algorithm(), kb_sso::Algorithm::EdDSA);
    assert_eq!(key.ed25519_public_key_pem().unwrap(), public_pem);
}

// --- sessions --------------------------------------------------------------------

#[test]
fn sessions_last_the_configured_duration() {
    let hs = HsConfig::new();
    let mut verifier = HandshakeVerifier::new();
    verifier
        .insert(
            hs.client_id.clone(),
            HandshakeSettings::builder(hs.key())
                .session_duration(Duration::days(1))
                .build()
                .unwrap(),
        )
        .unwrap();
    let token = hs.sign(&json!({
        "iat": T0, "exp": T0 + 30, "jti": "tok-1", "email": "Ann@Example.com",
        "given_name": "Ann", "family_name": "Lee", "groups": ["*"],
    }));
    let now = at(T0 + 3);
    let v = ready(verifier.verify_str(&token, now, &cache_at(T0))).unwrap();
    let session = v.into_session(now);
    assert_eq!(session.username, "Ann@Example.com");
    assert_eq!(session.email, "Ann@Example.com");
    assert_eq!(session.first_name, "Ann");
    assert_eq!(session.last_name, "Lee");
    assert_eq!(session.groups, [ALL_GROUPS]);
    assert_eq!(session.jti, "tok-1");
    assert_eq!(session.client_id, hs.client_id);
    assert_eq!(session.expires_at, now + Duration::days(1));
    // The session cookie outlives the token.
    let codec = SessionCodec::new(&[9u8; 32]).unwrap();
    let cookie = codec.encode(&session).unwrap();
    let later = now + Duration::hours(23);
    assert_eq!(codec.decode(&cookie, later).unwrap(), session);
}

// --- concurrency -------------------------------------------------------------------

#[test]
fn concurrent_inserts_of_one_jti_admit_exactly_one() {
    const THREADS: usize = 32;
    let cache = Arc::new(cache_at(T0));
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (cache, barrier) = (cache.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                ready(cache.insert_if_absent("same-key", at(T0 + 60), at(T0))).unwrap()
            })
        })
        .collect();
    let wins = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|won| *won)
        .count();
    assert_eq!(wins, 1);
}

#[test]
fn concurrent_handshakes_of_one_token_admit_exactly_one() {
    const THREADS: usize = 16;
    let (verifier, _, ed) = two_configs();
    let verifier = Arc::new(verifier);
    let token = Arc::new(ed.sign(&claims("race")));
    let cache = Arc::new(cache_at(T0));
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (verifier, token, cache, barrier) = (verifier.clone(), token.clone(), cache.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                verify_at(&verifier, &token, T0, &cache).map_err(|e| e.reason())
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|r| *r == "replayed")
    );
}

#[test]
fn verify_takes_an_untrusted_token_and_its_future_is_send() {
    let (verifier, _, ed) = two_configs();
    let cache = cache_at(T0);
    let text = ed.sign(&claims("u"));
    let untrusted = UntrustedToken::parse(&text).unwrap();
    let fut = verifier.verify(&untrusted, at(T0), &cache);
    // The future does not borrow the token.
    drop(untrusted);
    fn assert_send<T: Send>(_: &T) {}
    assert_send(&fut);
    assert!(ready(fut).is_ok());
}

// --- properties ----------------------------------------------------------------------

#[derive(Debug)]
enum Mutation {
    Replace(usize, u8),
    Delete(usize),
    Insert(usize, u8),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0x20u8..0x7f).prop_map(|(i, b)| Mutation::Replace(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        (any::<usize>(), 0x20u8..0x7f).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(token: &str, mutations: &[Mutation]) -> String {
    let mut bytes = token.as_bytes().to_vec();
    for m in mutations {
        let len = bytes.len().max(1);
        match *m {
            Mutation::Replace(i, b) if !bytes.is_empty() => bytes[i % len] = b,
            Mutation::Delete(i) if !bytes.is_empty() => {
                bytes.remove(i % len);
            }
            Mutation::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
            Mutation::Truncate(i) => bytes.truncate(i % len),
            _ => {}
        }
    }
    String::from_utf8(bytes).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// No change to a valid token's text, of either algorithm, verifies.
    #[test]
    fn mutated_tokens_never_verify(
        hs256 in any::<bool>(),
        with_kid in any::<bool>(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let (verifier, hs, ed) = two_configs();
        let c = claims("p");
        let token = match (hs256, with_kid) {
            (true, false) => hs.sign(&c),
            (true, true) => sign_hs(
                hs.primary.expose().as_bytes(),
                &json!({"alg": "HS256", "kid": hs.client_id.as_str()}),
                &c,
            ),
            (false, false) => ed.sign(&c),
            (false, true) => ed.sign_with_kid(&c),
        };
        prop_assert!(verify_at(&verifier, &token, T0, &cache_at(T0)).is_ok());
        let changed = apply(&token, &mutations);
        prop_assume!(changed != token);
        let result = verify_at(&verifier, &changed, T0, &cache_at(T0));
        if changed.trim() == token {
            // Only spaces around the token: the verifier trims them, no
            // signed byte changed, so this is the same token.
            prop_assert!(result.is_ok(), "{changed:?} (the token with spaces around it) is refused");
        } else {
            prop_assert!(result.is_err(), "{changed} verified");
        }
    }

    /// Leeway and maximum token age, through the handshake API.
    #[test]
    fn leeway_and_max_age_boundaries(
        leeway in 0i64..=120,
        max_age in 1i64..=600,
        lifetime in 0i64..=900,
        skew in -1000i64..=1000,
    ) {
        let ed = EdConfig::new();
        let mut verifier = HandshakeVerifier::new();
        verifier.insert(
            ed.client_id.clone(),
            HandshakeSettings::builder(ed.key())
                .leeway(Duration::seconds(leeway))
                .max_token_age(Duration::seconds(max_age))
                .build()
                .unwrap(),
        ).unwrap();
        let iat = T0 + skew;
        let exp = iat + lifetime;
        let token = ed.sign(&json!({"iat": iat, "exp": exp, "jti": "p"}));
        let got = reason(verify_at(&verifier, &token, T0, &cache_at(T0)));
        let expected = if T0 > exp + leeway {
            "expired"
        } else if iat > T0 + leeway {
            "not_yet_valid"
        } else if lifetime > max_age {
            "expired"
        } else {
            "ok"
        };
        prop_assert_eq!(got, expected);
    }
}
