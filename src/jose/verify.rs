//! Verification: a [`Verifier`] turns an [`UntrustedToken`] into
//! [`Verified`] claims.

use serde::de::DeserializeOwned;
use time::OffsetDateTime;

use super::base64url;
use super::untrusted::is_json_object;
use super::validation::{Registered, RegisteredClaims};
use super::{KeySet, UntrustedToken, Validation, VerifyError};

/// Claims read in one typed parse of the payload, the registered claims
/// included: the verifier checks those through
/// [`registered`](Self::registered), so the payload is parsed once.
pub(crate) trait OnePassClaims: DeserializeOwned {
    /// The registered claims as read.
    fn registered(&self) -> Registered<'_>;

    /// `false` when a claim that is not checked as a registered claim had
    /// the wrong type (or came twice): the token is then refused as
    /// [`VerifyError::Malformed`], after the registered claims were
    /// checked, as a second typed parse would have refused it.
    fn well_typed(&self) -> bool;
}

/// Work counters for tests: how often a payload was decoded and parsed.
#[cfg(test)]
pub(crate) mod work {
    use std::cell::Cell;

    thread_local! {
        /// Base64 decodings of a payload, on this thread.
        pub(crate) static PAYLOAD_DECODES: Cell<usize> = const { Cell::new(0) };
        /// JSON parses of a payload, on this thread.
        pub(crate) static PAYLOAD_PARSES: Cell<usize> = const { Cell::new(0) };
    }

    /// Counts one more of `counter`.
    pub(crate) fn count(counter: &'static std::thread::LocalKey<Cell<usize>>) {
        counter.with(|c| c.set(c.get() + 1));
    }

    /// `(decodes, parses)` so far on this thread.
    pub(crate) fn totals() -> (usize, usize) {
        (PAYLOAD_DECODES.with(Cell::get), PAYLOAD_PARSES.with(Cell::get))
    }
}

/// Counts work in tests; nothing otherwise.
macro_rules! count {
    ($counter:ident) => {
        #[cfg(test)]
        work::count(&work::$counter);
    };
}

/// Largest payload decoded on the stack; a larger one (still within
/// [`MAX_TOKEN_LEN`](super::MAX_TOKEN_LEN)) is decoded onto the heap. Small,
/// so that the buffer costs little to set up.
const STACK_PAYLOAD: usize = 1024;

/// Claims that passed verification.
#[derive(Debug, Clone)]
pub struct Verified<C> {
    claims: C,
    kid: String,
    expires_at: OffsetDateTime,
    jti: Option<String>,
}

impl<C> Verified<C> {
    /// The claims.
    #[must_use]
    pub fn claims(&self) -> &C {
        &self.claims
    }

    /// The claims, by value.
    #[must_use]
    pub fn into_claims(self) -> C {
        self.claims
    }

    /// The id of the key that verified the token.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The token's `exp`: how long a replay cache must remember its `jti`.
    #[must_use]
    pub fn expires_at(&self) -> OffsetDateTime {
        self.expires_at
    }

    /// The token's `jti`, if any, for a replay cache: a handshake token with
    /// a `jti` is accepted once.
    #[must_use]
    pub fn jti(&self) -> Option<&str> {
        self.jti.as_deref()
    }
}

/// Verifies tokens against a key set and a [`Validation`].
///
/// # Trust typestate
///
/// A token string becomes an [`UntrustedToken`] by [`UntrustedToken::parse`],
/// which checks its size and shape and reads its header. An untrusted token
/// tells only its `kid`, algorithm and `typ`, never its claims. Claims come
/// out of [`Verifier::verify`] alone, as [`Verified`] claims.
///
/// # What verification checks
///
/// 1. Size: at most [`MAX_TOKEN_LEN`](crate::MAX_TOKEN_LEN) bytes, before anything is decoded.
/// 2. Shape: three non-empty base64url segments; a header that is one JSON
///    object with a string `alg`, no `crit` (no extension is supported) and,
///    when present, a string `kid`. `jku`, `x5u`, `jwk` and `x5c` are ignored
///    and never fetched: `kid` only chooses among the verifier's own keys.
/// 3. Key choice: by `kid` when the header has one; without `kid` only when
///    the key set holds exactly one key.
/// 4. Algorithm pinning: each key has exactly one algorithm, and the header's
///    algorithm must be it. `none`, `HS256` against an Ed25519 key, `EdDSA`
///    against an HMAC key and every other algorithm are refused.
///    `Ed25519` (RFC 9864) names the same verification as `EdDSA` and is
///    accepted for an Ed25519 key; tokens signed here say `EdDSA`.
/// 5. Signature, checked once against key material prepared when the key
///    was built: a parsed Ed25519 public key, checked with
///    `verify_strict` (which also refuses a small-order `R` and
///    non-canonical encodings), or an HMAC-SHA256 state already keyed with
///    the secret, compared in constant time. The signature must decode to
///    exactly 64 (Ed25519) or 32 (HS256) bytes.
/// 6. Registered claims, read into a typed struct (a claim given twice is
///    malformed) and checked against the `now` the caller passes, never the
///    system clock: `exp` required; `nbf` when present; `iat` required unless
///    turned off and never in the future; the optional maximum lifetime
///    (`exp - iat`); `iss` and `aud` when configured. Registered claims of the
///    wrong JSON type (`aud: 123`, `iss: 42`, a fractional or huge `exp`) make
///    the token malformed. Dates must lie in `0..=253402300799` (the end of
///    year 9999).
/// 7. Explicit type, when the [`Validation`] requires one
///    ([`Validation::token_type`]): the header's `typ` must name that
///    [`TokenType`](crate::TokenType), so a token of one kind is never accepted as another
///    even where its audience would pass.
/// 8. The caller's claims type, deserialized from the same decoded payload.
///    Use a typed struct: a `serde_json::Value` silently keeps the last of
///    two duplicate keys.
///
/// # Why verification is done here and not by `jsonwebtoken`
///
/// The `jsonwebtoken` crate is not a dependency of this crate; its tests
/// check that the two interoperate, both ways, for `EdDSA` and `HS256`.
/// Its version 11.1 (`rust_crypto` backend) would not give the guarantees
/// above:
///
/// - **Non-strict Ed25519.** It verifies `EdDSA` with ed25519-dalek's
///   `verify`, not `verify_strict`, and accepts any public key that decodes:
///   with a weak (small-order) key such as the identity point, the signature
///   `R = identity, s = 0` verifies for any claims (a test here shows it).
///   We refuse weak keys when they are built and verify strictly.
/// - **Panics on short keys.** An Ed25519 key shorter than 32 bytes makes
///   its verifier panic (it slices `[..32]`); a longer one is silently cut.
///   We accept exactly 32 bytes, or SPKI PEM, and answer errors.
/// - **The system clock.** `decode` reads `SystemTime::now()`; time here is
///   always the `now` the caller passes, so a settable clock controls every
///   expiry.
/// - **Lax `aud` and `iss`.** A missing `aud` passes even with an audience
///   set, and `aud: 123` or `iss: 42` pass unless listed as required claims.
///   Here a configured audience or issuer is required and must be a string
///   (or, for `aud`, an array of strings).
/// - **No `crit`.** The `crit` header is ignored; here it is refused.
/// - **No `Ed25519` name.** The RFC 9864 algorithm name `Ed25519` is refused
///   as unknown; newer customer libraries emit it, and here it is accepted
///   for Ed25519 keys.
/// - **Loose registered claims.** The default leeway is 60 s (here 30 s, at
///   most [`MAX_LEEWAY_SECS`](crate::MAX_LEEWAY_SECS)); `iat` is never checked (here required and
///   never in the future, with an optional maximum lifetime); `nbf` is not
///   checked unless turned on; `exp = 2^64 - 1` is accepted (here dates end
///   with year 9999).
///
/// Leaving it out of the build also keeps `rsa`, `p256` and `p384` out of
/// every user's dependency graph.
///
/// # Keys
///
/// HMAC secrets have at least [`MIN_HMAC_SECRET_LEN`](crate::MIN_HMAC_SECRET_LEN) bytes (an empty HMAC key
/// would verify anything signed with an empty key). Ed25519 public keys are
/// exactly 32 bytes, a valid curve point, and not weak (small order): a weak
/// key verifies a forged signature for any claims.
#[derive(Debug, Clone)]
pub struct Verifier {
    keys: KeySet,
    validation: Validation,
}

impl Verifier {
    /// The key `token` names, once its algorithm is that key's and its
    /// signature verifies with it.
    fn signed_by(&self, token: &UntrustedToken<'_>) -> Result<&super::VerificationKey, VerifyError> {
        let key = self.keys.select(token.kid())?;
        if key.algorithm() != token.algorithm {
            return Err(VerifyError::AlgorithmMismatch);
        }
        if !key.verifies(token.signing_input.as_bytes(), token.signature) {
            return Err(VerifyError::BadSignature);
        }
        Ok(key)
    }

    /// A verifier over `keys` with `validation`.
    #[must_use]
    pub fn new(keys: KeySet, validation: Validation) -> Self {
        Self { keys, validation }
    }

    /// The keys.
    #[must_use]
    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// The keys, to rotate them.
    pub fn keys_mut(&mut self) -> &mut KeySet {
        &mut self.keys
    }

    /// The validation rules.
    #[must_use]
    pub fn validation(&self) -> &Validation {
        &self.validation
    }

    /// Verifies `token` at time `now` and reads its claims as `C`.
    ///
    /// One signature check; the payload is decoded once and read twice, into
    /// the registered claims and into `C`. Make `C` a typed struct.
    ///
    /// # Errors
    ///
    /// [`VerifyError::UnknownKey`], [`VerifyError::AlgorithmMismatch`],
    /// [`VerifyError::BadSignature`] for the key and signature;
    /// [`VerifyError::Malformed`] for a payload that is not a JSON object of
    /// well-typed claims or does not deserialize as `C`;
    /// [`VerifyError::MissingClaim`], [`VerifyError::Expired`],
    /// [`VerifyError::NotYetValid`], [`VerifyError::IssuedInFuture`],
    /// [`VerifyError::TooOld`], [`VerifyError::WrongIssuer`],
    /// [`VerifyError::WrongAudience`] for the claims;
    /// [`VerifyError::WrongType`] when the validation requires a
    /// [`TokenType`](crate::TokenType)(super::TokenType) the header's `typ` does not name.
    pub fn verify<C: DeserializeOwned>(
        &self,
        token: &UntrustedToken<'_>,
        now: OffsetDateTime,
    ) -> Result<Verified<C>, VerifyError> {
        self.verify_with(token, &self.validation, now)
    }

    /// Verifies `token` with this verifier's keys and `validation` in place
    /// of its own, e.g. its own with an audience known only per request.
    ///
    /// # Errors
    ///
    /// As [`Verifier::verify`].
    pub fn verify_with<C: DeserializeOwned>(
        &self,
        token: &UntrustedToken<'_>,
        validation: &Validation,
        now: OffsetDateTime,
    ) -> Result<Verified<C>, VerifyError> {
        let key = self.signed_by(token)?;
        count!(PAYLOAD_DECODES);
        let payload = base64url::decode_to_vec(token.payload.as_bytes()).ok_or(VerifyError::Malformed)?;
        if !is_json_object(&payload) {
            return Err(VerifyError::Malformed);
        }
        count!(PAYLOAD_PARSES);
        let registered: RegisteredClaims<'_> = serde_json::from_slice(&payload).map_err(|_| VerifyError::Malformed)?;
        let exp = validation.check(&registered, now.unix_timestamp())?;
        // After the claims, so that a token of another kind, whose audience
        // differs too, is told apart as it always was (`WrongAudience`).
        if let Some(required) = validation.required_token_type()
            && !token.typ().is_some_and(|t| required.matches(t))
        {
            return Err(VerifyError::WrongType);
        }
        let expires_at = OffsetDateTime::from_unix_timestamp(exp).map_err(|_| VerifyError::Malformed)?;
        count!(PAYLOAD_PARSES);
        let claims: C = serde_json::from_slice(&payload).map_err(|_| VerifyError::Malformed)?;
        Ok(Verified {
            claims,
            kid: key.kid().to_owned(),
            expires_at,
            jti: registered.jti.map(|jti| jti.0.into_owned()),
        })
    }

    /// Verifies `token` at time `now` with this verifier's validation and
    /// reads its claims as `C` in one pass: one signature check, one
    /// decoding of the payload (on the stack), one typed parse. Checks and
    /// errors as [`Verifier::verify`]. Answers the claims and `exp`.
    pub(crate) fn verify_one_pass<C: OnePassClaims>(
        &self,
        token: &UntrustedToken<'_>,
        now: OffsetDateTime,
    ) -> Result<(C, OffsetDateTime), VerifyError> {
        self.signed_by(token)?;
        count!(PAYLOAD_DECODES);
        let mut stack = [0u8; STACK_PAYLOAD];
        let heap;
        let payload: &[u8] = if token.payload.len() / 4 * 3 + 3 <= STACK_PAYLOAD {
            base64url::decode_into(token.payload.as_bytes(), &mut stack).ok_or(VerifyError::Malformed)?
        } else {
            heap = base64url::decode_to_vec(token.payload.as_bytes()).ok_or(VerifyError::Malformed)?;
            &heap
        };
        if !is_json_object(payload) {
            return Err(VerifyError::Malformed);
        }
        // UTF-8 checked once for the whole payload, so that the parse does
        // not check each string again (text that is not UTF-8 is as
        // malformed as it would be to the parser).
        let payload = std::str::from_utf8(payload).map_err(|_| VerifyError::Malformed)?;
        count!(PAYLOAD_PARSES);
        let claims: C = serde_json::from_str(payload).map_err(|_| VerifyError::Malformed)?;
        let registered = claims.registered().typed();
        let validation = &self.validation;
        let exp = validation.check(&registered, now.unix_timestamp())?;
        if let Some(required) = validation.required_token_type()
            && !token.typ().is_some_and(|t| required.matches(t))
        {
            return Err(VerifyError::WrongType);
        }
        let expires_at = OffsetDateTime::from_unix_timestamp(exp).map_err(|_| VerifyError::Malformed)?;
        if !claims.well_typed() {
            return Err(VerifyError::Malformed);
        }
        Ok((claims, expires_at))
    }

    /// Parses and verifies a token string: [`UntrustedToken::parse`], then
    /// [`Verifier::verify`].
    ///
    /// # Errors
    ///
    /// As [`UntrustedToken::parse`] and [`Verifier::verify`].
    pub fn verify_str<C: DeserializeOwned>(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Verified<C>, VerifyError> {
        self.verify(&UntrustedToken::parse(token)?, now)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::jose::test_support::*;
    use crate::jose::{KeyError, SigningKey, TokenSigner, VerificationKey};
    use base64::Engine as _;
    use proptest::prelude::*;
    use serde::Deserialize;
    use serde::de::IgnoredAny;
    use serde_json::json;

    #[test]
    fn tampered_token_fails() {
        let signer = TokenSigner::new(ed_key("k1"));
        let v = verifier(&[signer.key()], full_validation());
        let token = signer.sign(&id_claims(T0)).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let mut claims = id_claims(T0);
        claims.sub = "admin".into();
        let forged_payload = b64(&serde_json::to_vec(&claims).unwrap());
        let forged = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
        assert_eq!(check(&v, &forged, T0), Err(VerifyError::BadSignature));
        // A flipped signature byte.
        let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        sig[5] ^= 1;
        let forged = format!("{}.{}.{}", parts[0], parts[1], b64(&sig));
        assert_eq!(check(&v, &forged, T0), Err(VerifyError::BadSignature));
        // A truncated signature.
        let forged = format!("{}.{}.{}", parts[0], parts[1], b64(&sig[..63]));
        assert_eq!(check(&v, &forged, T0), Err(VerifyError::BadSignature));
        assert_eq!(check(&v, &token, T0), Ok(()));
    }

    #[test]
    fn hs256_signed_with_ed25519_public_key_fails() {
        let ed = ed_key("ed");
        let public = ed.verification_key().ed25519_public_key().copied().unwrap();
        // The classic confusion: HMAC keyed with the public key's bytes.
        let hmac = SigningKey::hs256("ed", &public).unwrap();
        let payload = json!({"exp": T0 + 60, "iat": T0}).to_string();
        let v = verifier(&[&ed], Validation::new());
        for header in [r#"{"alg":"HS256","kid":"ed"}"#, r#"{"alg":"HS256"}"#] {
            let token = raw_token(&hmac, header, &payload);
            assert_eq!(check(&v, &token, T0), Err(VerifyError::AlgorithmMismatch));
        }
        // jsonwebtoken also refuses a family mismatch.
        let token = raw_token(&hmac, r#"{"alg":"HS256"}"#, &payload);
        let vk = v.keys().get("ed").unwrap();
        let mut jwt_validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
        jwt_validation.validate_exp = false;
        let decoding = jsonwebtoken::DecodingKey::from_ed_der(vk.ed25519_public_key().unwrap());
        assert!(jsonwebtoken::decode::<IgnoredAny>(&token, &decoding, &jwt_validation).is_err());
    }

    #[test]
    fn signature_must_have_the_algorithm_length() {
        let payload = json!({"exp": T0 + 60, "iat": T0}).to_string();
        for key in [ed_key("k1"), SigningKey::hs256("k1", SECRET).unwrap()] {
            let v = verifier(&[&key], Validation::new());
            let token = raw_token(&key, &format!(r#"{{"alg":"{}"}}"#, key.algorithm()), &payload);
            assert_eq!(check(&v, &token, T0), Ok(()));
            let (input, signature) = token.rsplit_once('.').unwrap();
            let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
            let n = signature.len();
            // One byte short, one byte over, doubled, and the other algorithm's length.
            let short = signature[..n - 1].to_vec();
            let long = [signature.as_slice(), &[0]].concat();
            let doubled = [signature.as_slice(), signature.as_slice()].concat();
            for bad in [short, long, doubled, vec![0u8; 64 + 32 - n]] {
                let forged = format!("{input}.{}", b64(&bad));
                assert_eq!(
                    check(&v, &forged, T0),
                    Err(VerifyError::BadSignature),
                    "{} bytes",
                    bad.len()
                );
            }
        }
    }

    #[test]
    fn eddsa_header_against_hmac_key_fails() {
        let hs = SigningKey::hs256("k1", SECRET).unwrap();
        let ed = ed_key("k1");
        let token = TokenSigner::new(ed).sign(&id_claims(T0)).unwrap();
        assert_eq!(
            check(&verifier(&[&hs], full_validation()), &token, T0),
            Err(VerifyError::AlgorithmMismatch)
        );
    }

    #[test]
    fn key_choice_by_kid() {
        let a = ed_key("a");
        let b = SigningKey::hs256("b", SECRET).unwrap();
        let both = verifier(&[&a, &b], Validation::new());
        let payload = json!({"exp": T0 + 60, "iat": T0}).to_string();

        let unknown = raw_token(&a, r#"{"alg":"EdDSA","kid":"c"}"#, &payload);
        assert_eq!(check(&both, &unknown, T0), Err(VerifyError::UnknownKey));

        let no_kid = raw_token(&a, r#"{"alg":"EdDSA"}"#, &payload);
        assert_eq!(check(&both, &no_kid, T0), Err(VerifyError::UnknownKey));
        assert_eq!(check(&verifier(&[&a], Validation::new()), &no_kid, T0), Ok(()));
        assert_eq!(
            check(&verifier(&[], Validation::new()), &no_kid, T0),
            Err(VerifyError::UnknownKey)
        );

        let by_kid = raw_token(&b, r#"{"alg":"HS256","kid":"b"}"#, &payload);
        let verified = both.verify_str::<IgnoredAny>(&by_kid, at(T0)).unwrap();
        assert_eq!(verified.kid(), "b");

        // kid chooses among our keys only: a key embedded in the header is
        // never used.
        let attacker = ed_key("a");
        let jwk = attacker.verification_key().to_jwk().unwrap();
        let header = json!({"alg": "EdDSA", "kid": "a", "jwk": jwk, "jku": "https://evil.example/jwks",
            "x5u": "https://evil.example/x5"})
        .to_string();
        let forged = raw_token(&attacker, &header, &payload);
        assert_eq!(check(&both, &forged, T0), Err(VerifyError::BadSignature));
    }

    #[test]
    fn rotation_by_insert_and_remove() {
        let old = ed_key("2025");
        let new = ed_key("2026");
        let payload = json!({"exp": T0 + 60, "iat": T0}).to_string();
        let old_token = raw_token(&old, r#"{"alg":"EdDSA","kid":"2025"}"#, &payload);
        let new_token = raw_token(&new, r#"{"alg":"EdDSA","kid":"2026"}"#, &payload);
        let mut v = verifier(&[&old], Validation::new());
        assert_eq!(check(&v, &new_token, T0), Err(VerifyError::UnknownKey));
        v.keys_mut().insert(new.verification_key()).unwrap();
        assert_eq!(v.keys().len(), 2);
        assert_eq!(check(&v, &old_token, T0), Ok(()));
        assert_eq!(check(&v, &new_token, T0), Ok(()));
        assert_eq!(
            v.keys_mut().insert(ed_key("2026").verification_key()),
            Err(KeyError::DuplicateKid("2026".into()))
        );
        // The set is unchanged by the refused insert.
        assert_eq!(check(&v, &new_token, T0), Ok(()));
        assert!(v.keys_mut().remove("2025").is_some());
        assert!(v.keys_mut().remove("2025").is_none());
        assert_eq!(check(&v, &old_token, T0), Err(VerifyError::UnknownKey));
        assert_eq!(
            KeySet::from_keys([old.verification_key(), old.verification_key()]).map(|_| ()),
            Err(KeyError::DuplicateKid("2025".into()))
        );
    }

    #[test]
    fn caller_claims_must_deserialize() {
        let key = ed_key("k1");
        let v = verifier(&[&key], Validation::new());
        let token = raw_token(
            &key,
            r#"{"alg":"EdDSA","kid":"k1"}"#,
            &json!({"iat": T0, "exp": T0 + 60}).to_string(),
        );
        assert_eq!(
            v.verify_str::<Claims>(&token, at(T0)).map(|_| ()),
            Err(VerifyError::Malformed)
        );
    }

    /// RFC 7515 appendix A.1: HS256.
    #[test]
    fn rfc7515_a1_hs256() {
        const TOKEN: &str = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9\
            .eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ\
            .dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        const K: &str = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
        let secret = URL_SAFE_NO_PAD.decode(K).unwrap();
        let vk = VerificationKey::hs256("a1", &secret).unwrap();
        let (input, signature) = TOKEN.rsplit_once('.').unwrap();
        assert!(vk.verifies(input.as_bytes(), signature));
        // jsonwebtoken agrees.
        assert!(
            jsonwebtoken::crypto::verify(
                signature,
                input.as_bytes(),
                &jsonwebtoken::DecodingKey::from_secret(&secret),
                jsonwebtoken::Algorithm::HS256
            )
            .unwrap()
        );
        // Our signing gives the same MAC.
        let sk = SigningKey::hs256("a1", &secret).unwrap();
        assert_eq!(b64(&sk.sign_bytes(input.as_bytes()).unwrap()), signature);

        #[derive(Deserialize)]
        struct Joe {
            iss: String,
            #[serde(rename = "http://example.com/is_root")]
            is_root: bool,
        }
        // No kid, no iat: the one key is used, iat must not be required.
        let v = Verifier::new(
            KeySet::from_keys([vk]).unwrap(),
            Validation::new().issuer("joe").require_iat(false),
        );
        let exp = 1_300_819_380;
        let ok: Verified<Joe> = v.verify_str(TOKEN, at(exp - 100)).unwrap();
        assert_eq!(ok.claims().iss, "joe");
        assert!(ok.claims().is_root);
        assert_eq!(ok.kid(), "a1");
        assert_eq!(ok.jti(), None);
        assert_eq!(ok.expires_at(), at(exp));
        assert_eq!(check(&v, TOKEN, exp + 30), Ok(()));
        assert_eq!(check(&v, TOKEN, exp + 31), Err(VerifyError::Expired));
        assert_eq!(check(&v, TOKEN, T0), Err(VerifyError::Expired));
        let requiring_iat = Verifier::new(v.keys().clone(), Validation::new().issuer("joe"));
        assert_eq!(
            check(&requiring_iat, TOKEN, exp - 100),
            Err(VerifyError::MissingClaim("iat"))
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_single_character_change_fails(index in 0usize..400, replacement in "[A-Za-z0-9_\\-]") {
            let key = ed_key("k1");
            let v = verifier(&[&key], Validation::new());
            let token = raw_token(
                &key,
                r#"{"alg":"EdDSA","kid":"k1"}"#,
                &json!({"iat": T0, "exp": T0 + 60, "sub": "ada"}).to_string(),
            );
            let index = index % token.len();
            let mut bytes = token.clone().into_bytes();
            prop_assume!(bytes[index] != b'.' && bytes[index] != replacement.as_bytes()[0]);
            bytes[index] = replacement.as_bytes()[0];
            let changed = String::from_utf8(bytes).unwrap();
            // A change confined to the unused low bits of a segment's last
            // character decodes to the same bytes: strict decoding refuses it.
            prop_assert!(check(&v, &changed, T0).is_err());
        }
    }
}
