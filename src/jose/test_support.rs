//! Helpers shared by the unit tests of the JOSE layer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
pub(crate) use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
pub(crate) use time::OffsetDateTime;

pub(crate) use super::{KeySet, SigningKey, Validation, Verifier, VerifyError};

/// 2026-01-01T00:00:00Z.
pub(crate) const T0: i64 = 1_767_225_600;
pub(crate) const SECRET: &[u8] = b"kM2d7Qz0vXb4Lr9TnW1yHc6PjF8sGa3E5uVo"; // 36 bytes
pub(crate) const ISS: &str = "https://id.example.com";
pub(crate) const AUD: &str = "0b9f4c1e-5f7a-4c55-9d1e-3f1f2a6c7d80";

/// A typed claims set, of the shape a protocol on this layer would define.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Claims {
    pub(crate) iss: String,
    pub(crate) sub: String,
    pub(crate) aud: String,
    pub(crate) iat: i64,
    pub(crate) exp: i64,
    pub(crate) jti: String,
    pub(crate) name: String,
    pub(crate) email: String,
    #[serde(default)]
    pub(crate) groups: Vec<String>,
}

pub(crate) fn at(ts: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(ts).unwrap()
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token with exactly this header and payload text, signed by `key`.
pub(crate) fn raw_token(key: &SigningKey, header: &str, payload: &str) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let signature = key.sign_bytes(input.as_bytes()).unwrap();
    format!("{input}.{}", b64(&signature))
}

pub(crate) fn ed_key(kid: &str) -> SigningKey {
    SigningKey::generate_ed25519(kid).unwrap()
}

pub(crate) fn id_claims(iat: i64) -> Claims {
    Claims {
        iss: ISS.into(),
        sub: "ada".into(),
        aud: AUD.into(),
        iat,
        exp: iat + 900,
        jti: "j-1".into(),
        name: "Ada Lovelace".into(),
        email: "Ada@Example.com".into(),
        groups: vec!["g1".into(), "g2".into()],
    }
}

pub(crate) fn verifier(keys: &[&SigningKey], validation: Validation) -> Verifier {
    let set = KeySet::from_keys(keys.iter().map(|k| k.verification_key())).unwrap();
    Verifier::new(set, validation)
}

pub(crate) fn check(v: &Verifier, token: &str, now: i64) -> Result<(), VerifyError> {
    v.verify_str::<IgnoredAny>(token, at(now)).map(|_| ())
}

/// Signs `payload` under `{"alg":"EdDSA","kid":...}` and verifies it at
/// T0 with `validation`.
pub(crate) fn check_payload(payload: &str, validation: Validation) -> Result<(), VerifyError> {
    let key = ed_key("k1");
    let token = raw_token(&key, r#"{"alg":"EdDSA","kid":"k1"}"#, payload);
    check(&verifier(&[&key], validation), &token, T0)
}

pub(crate) fn header_of(token: &str) -> serde_json::Value {
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

pub(crate) fn full_validation() -> Validation {
    Validation::new().issuer(ISS).audience(AUD)
}
