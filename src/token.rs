//! Signed tokens: keys, claims, signing and verification.
//!
//! The identity server signs `id_token`s with a [`TokenSigner`]; a KB verifies
//! them, and the handshake tokens that customer apps sign themselves, with a
//! [`Verifier`] holding a [`KeySet`] (several keys, for rotation).
//!
//! # Trust typestate
//!
//! A token string becomes an [`UntrustedToken`] by [`UntrustedToken::parse`],
//! which checks its size and shape and reads its header. An untrusted token
//! tells only its `kid` and algorithm, never its claims. Claims come out of
//! [`Verifier::verify`] alone, as [`Verified`] claims.
//!
//! # What verification checks
//!
//! 1. Size: at most [`MAX_TOKEN_LEN`] bytes, before anything is decoded.
//! 2. Shape: three non-empty base64url segments; a header that is one JSON
//!    object with a string `alg`, no `crit` (no extension is supported) and,
//!    when present, a string `kid`. `jku`, `x5u`, `jwk` and `x5c` are ignored
//!    and never fetched: `kid` only chooses among the verifier's own keys.
//! 3. Key choice: by `kid` when the header has one; without `kid` only when
//!    the key set holds exactly one key.
//! 4. Algorithm pinning: each key has exactly one algorithm, and the header's
//!    algorithm must be it. `none`, `HS256` against an Ed25519 key, `EdDSA`
//!    against an HMAC key and every other algorithm are refused.
//!    `Ed25519` (RFC 9864) names the same verification as `EdDSA` and is
//!    accepted for an Ed25519 key; tokens signed here say `EdDSA`.
//! 5. Signature, checked once against key material prepared when the key
//!    was built: a parsed Ed25519 public key, checked with
//!    `verify_strict` (which also refuses a small-order `R` and
//!    non-canonical encodings), or an HMAC-SHA256 state already keyed with
//!    the secret, compared in constant time. The signature must decode to
//!    exactly 64 (Ed25519) or 32 (HS256) bytes.
//! 6. Registered claims, read into a typed struct (a claim given twice is
//!    malformed) and checked against the `now` the caller passes, never the
//!    system clock: `exp` required; `nbf` when present; `iat` required unless
//!    turned off and never in the future; the optional maximum lifetime
//!    (`exp - iat`); `iss` and `aud` when configured. Registered claims of the
//!    wrong JSON type (`aud: 123`, `iss: 42`, a fractional or huge `exp`) make
//!    the token malformed. Dates must lie in `0..=253402300799` (the end of
//!    year 9999).
//! 7. Explicit type, when the [`Validation`] requires one
//!    ([`Validation::token_type`]): the header's `typ` must name that
//!    [`TokenType`], so a token of one kind (widget, access, `id_token`) is
//!    never accepted as another even where its audience would pass.
//! 8. The caller's claims type, deserialized from the same decoded payload.
//!    Use a typed struct: a `serde_json::Value` silently keeps the last of
//!    two duplicate keys.
//!
//! The `jsonwebtoken` crate is not used to verify: its `decode` and `Validation` would read
//! the system clock, accept a missing `aud`, a non-string `aud`/`iss` and an
//! `exp` of `2^64 - 1`, never check `iat`, ignore `crit`, not accept the
//! `Ed25519` algorithm name, and would need one signature check per claims
//! type read; its `crypto::verify` rebuilds the key on every call.
//!
//! # Keys
//!
//! HMAC secrets have at least [`MIN_HMAC_SECRET_LEN`] bytes (an empty HMAC key
//! would verify anything signed with an empty key). Ed25519 public keys are
//! exactly 32 bytes, a valid curve point, and not weak (small order): a weak
//! key verifies a forged signature for any claims.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signer as _;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey};
use hmac::Mac as _;
use rand_core::RngCore as _;
use serde::de::{self, DeserializeOwned, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use sha2::Digest as _;
use time::OffsetDateTime;
use zeroize::Zeroizing;

/// Largest token accepted or produced, in bytes (8 KiB).
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Smallest HMAC-SHA256 secret accepted, in bytes.
pub const MIN_HMAC_SECRET_LEN: usize = 32;

/// Largest `exp`, `nbf` or `iat` accepted: 9999-12-31T23:59:59Z.
pub const MAX_NUMERIC_DATE: i64 = 253_402_300_799;

/// Default clock-skew allowance for `exp`, `nbf` and `iat`, in seconds.
pub const DEFAULT_LEEWAY_SECS: i64 = 30;

/// Largest leeway a [`Validation`] keeps, in seconds (one hour).
pub const MAX_LEEWAY_SECS: i64 = 3600;

/// Longest key id accepted, in bytes.
const MAX_KID_LEN: usize = 256;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

// ---------------------------------------------------------------------------
// Algorithm
// ---------------------------------------------------------------------------

/// A signature algorithm. Each key has exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// Ed25519 signatures (RFC 8037). Header name `EdDSA`; `Ed25519`
    /// (RFC 9864) is accepted as the same algorithm.
    EdDSA,
    /// HMAC with SHA-256 over a shared secret.
    HS256,
}

impl Algorithm {
    /// The JOSE name written in the headers of tokens signed here.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::EdDSA => "EdDSA",
            Self::HS256 => "HS256",
        }
    }

    /// Reads a header's `alg`: the algorithm and the name as written.
    fn from_header_name(name: &str) -> Option<(Self, &'static str)> {
        match name {
            "EdDSA" => Some((Self::EdDSA, "EdDSA")),
            "Ed25519" => Some((Self::EdDSA, "Ed25519")),
            "HS256" => Some((Self::HS256, "HS256")),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// A key could not be built or added to a key set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key id is empty, longer than 256 bytes, or not printable ASCII.
    #[error("key id must be 1 to 256 printable ASCII characters")]
    InvalidKid,
    /// The HMAC secret is shorter than [`MIN_HMAC_SECRET_LEN`].
    #[error("HMAC secret has {len} bytes; at least {min} are required")]
    SecretTooShort {
        /// Length given.
        len: usize,
        /// Length required.
        min: usize,
    },
    /// An Ed25519 public key is not exactly 32 bytes.
    #[error("Ed25519 public key has {0} bytes; exactly 32 are required")]
    WrongLength(usize),
    /// The bytes are not the encoding of a point on the curve.
    #[error("not a valid Ed25519 public key")]
    InvalidPublicKey,
    /// The public key is a small-order point, for which forged signatures
    /// verify.
    #[error("weak Ed25519 public key (small-order point)")]
    WeakKey,
    /// The PEM text is not an Ed25519 key of the expected kind.
    #[error("not a PEM-encoded Ed25519 key of the expected kind")]
    InvalidPem,
    /// The operation needs an Ed25519 key and the key is an HMAC secret.
    #[error("this operation needs an Ed25519 key")]
    NotEd25519,
    /// The key set already holds a key with this id.
    #[error("the key set already holds a key with id {0:?}")]
    DuplicateKid(String),
    /// The operating system's random number generator failed.
    #[error("the operating system random number generator failed")]
    Rng,
}

/// A token could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The claims could not be serialized to JSON.
    #[error("claims could not be serialized to JSON")]
    Serialize,
    /// The claims did not serialize to a JSON object.
    #[error("claims must serialize to a JSON object")]
    NotAnObject,
    /// The signed token would exceed [`MAX_TOKEN_LEN`].
    #[error("signed token would exceed {MAX_TOKEN_LEN} bytes")]
    TooLarge,
    /// The signature could not be computed.
    #[error("signature could not be computed")]
    Crypto,
}

/// A token was refused.
///
/// [`VerifyError::reason`] gives the short code sent back to the login URL
/// as `jwt_error`; `Display` gives the detail, for logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The token exceeds [`MAX_TOKEN_LEN`] bytes.
    #[error("token exceeds {MAX_TOKEN_LEN} bytes")]
    TooLarge,
    /// The token is not a well-formed JWS compact serialization with a JSON
    /// object header and payload, or a claim has the wrong type or range.
    #[error("token is malformed")]
    Malformed,
    /// The header asks for an extension (`crit`); none is supported.
    #[error("token header has unsupported critical parameters")]
    UnsupportedHeader,
    /// The header names an algorithm that is not supported (including `none`).
    #[error("token algorithm is not supported")]
    UnsupportedAlgorithm,
    /// No key matches the header's `kid`, or the header has no `kid` and the
    /// key set does not hold exactly one key.
    #[error("no key matches the token")]
    UnknownKey,
    /// The header's algorithm is not the one pinned to the chosen key.
    #[error("token algorithm does not match the key's algorithm")]
    AlgorithmMismatch,
    /// The signature does not verify.
    #[error("token signature does not verify")]
    BadSignature,
    /// `exp` has passed, beyond the leeway.
    #[error("token has expired")]
    Expired,
    /// `nbf` has not arrived, beyond the leeway.
    #[error("token is not yet valid")]
    NotYetValid,
    /// `iat` lies in the future, beyond the leeway.
    #[error("token was issued in the future")]
    IssuedInFuture,
    /// `exp - iat` exceeds the configured maximum lifetime.
    #[error("token lifetime exceeds the configured maximum")]
    TooOld,
    /// A required claim is missing.
    #[error("token lacks the required claim `{0}`")]
    MissingClaim(&'static str),
    /// No `aud` value is one of the accepted audiences, or `aud` is missing.
    #[error("token audience is not accepted")]
    WrongAudience,
    /// `iss` is not the expected issuer, or is missing.
    #[error("token issuer is not the expected issuer")]
    WrongIssuer,
    /// The header's `typ` is not the token type the verifier requires
    /// ([`Validation::token_type`]), or is missing: a token of another kind.
    #[error("token type is not the expected type")]
    WrongType,
}

impl VerifyError {
    /// Short snake_case code for the reader-facing `jwt_error` parameter:
    /// `malformed`, `bad_signature`, `expired`, `not_yet_valid`,
    /// `wrong_audience` (also for a token of another type: it was meant for
    /// another recipient) or `wrong_issuer`.
    ///
    /// Several variants share a code: the reader needs no more, and an
    /// attacker learns no more.
    #[must_use]
    pub const fn reason(&self) -> &'static str {
        match self {
            Self::TooLarge
            | Self::Malformed
            | Self::UnsupportedHeader
            | Self::UnsupportedAlgorithm
            | Self::MissingClaim(_) => "malformed",
            Self::UnknownKey | Self::AlgorithmMismatch | Self::BadSignature => "bad_signature",
            Self::Expired | Self::TooOld => "expired",
            Self::NotYetValid | Self::IssuedInFuture => "not_yet_valid",
            Self::WrongAudience | Self::WrongType => "wrong_audience",
            Self::WrongIssuer => "wrong_issuer",
        }
    }
}

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

fn check_kid(kid: &str) -> Result<(), KeyError> {
    let ok = !kid.is_empty() && kid.len() <= MAX_KID_LEN && kid.bytes().all(|b| (0x20..=0x7e).contains(&b));
    if ok { Ok(()) } else { Err(KeyError::InvalidKid) }
}

fn check_secret_len(secret: &[u8]) -> Result<(), KeyError> {
    if secret.len() < MIN_HMAC_SECRET_LEN {
        return Err(KeyError::SecretTooShort {
            len: secret.len(),
            min: MIN_HMAC_SECRET_LEN,
        });
    }
    Ok(())
}

/// An HMAC-SHA256 state keyed with a secret once, cloned for each message.
///
/// The state (the hashes of the padded secret) is as sensitive as the secret.
/// The hmac crate does not zeroize it, so on drop it is overwritten with a
/// state keyed by zeros.
#[derive(Clone)]
struct KeyedHmac(HmacSha256);

impl KeyedHmac {
    /// Keys the state. HMAC takes a key of any length, so this fails only
    /// if the hmac crate ever refuses one; the length is then reported.
    fn new(secret: &[u8]) -> Result<Self, KeyError> {
        HmacSha256::new_from_slice(secret)
            .map(Self)
            .map_err(|_| KeyError::SecretTooShort {
                len: secret.len(),
                min: MIN_HMAC_SECRET_LEN,
            })
    }

    /// The HMAC-SHA256 of `message`.
    fn tag(&self, message: &[u8]) -> [u8; 32] {
        let mut mac = self.0.clone();
        mac.update(message);
        mac.finalize().into_bytes().into()
    }

    /// Whether `tag` is the HMAC-SHA256 of `message`, compared in constant
    /// time.
    fn verifies(&self, message: &[u8], tag: &[u8; 32]) -> bool {
        let mut mac = self.0.clone();
        mac.update(message);
        mac.verify_slice(tag).is_ok()
    }
}

impl Drop for KeyedHmac {
    fn drop(&mut self) {
        self.0 = <HmacSha256 as hmac::digest::KeyInit>::new(&Default::default());
        // Keeps the overwrite from being removed as a dead store.
        std::hint::black_box(&mut self.0);
    }
}

enum SigningSecret {
    /// Zeroized on drop by ed25519-dalek.
    Ed25519(ed25519_dalek::SigningKey),
    Hs256(KeyedHmac),
}

/// A private signing key with its key id: an Ed25519 private key or an
/// HMAC-SHA256 secret.
///
/// `Debug` never prints key material; the key is zeroized on drop; there is
/// no equality.
pub struct SigningKey {
    kid: String,
    secret: SigningSecret,
}

impl SigningKey {
    /// A new random Ed25519 key from the operating system's generator.
    ///
    /// # Errors
    ///
    /// [`KeyError::InvalidKid`] for a bad key id, [`KeyError::Rng`] when the
    /// operating system's generator fails.
    pub fn generate_ed25519(kid: impl Into<String>) -> Result<Self, KeyError> {
        let kid = kid.into();
        check_kid(&kid)?;
        let mut seed = Zeroizing::new([0u8; 32]);
        rand_core::OsRng
            .try_fill_bytes(seed.as_mut())
            .map_err(|_| KeyError::Rng)?;
        Ok(Self {
            kid,
            secret: SigningSecret::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed)),
        })
    }

    /// An Ed25519 key from PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    ///
    /// # Errors
    ///
    /// [`KeyError::InvalidKid`] for a bad key id, [`KeyError::InvalidPem`]
    /// when the text is not a PKCS#8 Ed25519 private key.
    pub fn ed25519_from_pkcs8_pem(kid: impl Into<String>, pem: &str) -> Result<Self, KeyError> {
        let kid = kid.into();
        check_kid(&kid)?;
        let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem).map_err(|_| KeyError::InvalidPem)?;
        Ok(Self {
            kid,
            secret: SigningSecret::Ed25519(key),
        })
    }

    /// An HMAC-SHA256 key. For handshake tokens the secret is the
    /// configuration's secret exactly as shown to the admin (its ASCII text).
    ///
    /// # Errors
    ///
    /// [`KeyError::InvalidKid`] for a bad key id,
    /// [`KeyError::SecretTooShort`] for a secret under
    /// [`MIN_HMAC_SECRET_LEN`] bytes (so never an empty one).
    pub fn hs256(kid: impl Into<String>, secret: &[u8]) -> Result<Self, KeyError> {
        let kid = kid.into();
        check_kid(&kid)?;
        check_secret_len(secret)?;
        Ok(Self {
            kid,
            secret: SigningSecret::Hs256(KeyedHmac::new(secret)?),
        })
    }

    /// The key id, written as `kid` in the headers of tokens it signs.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The key's algorithm.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        match self.secret {
            SigningSecret::Ed25519(_) => Algorithm::EdDSA,
            SigningSecret::Hs256(_) => Algorithm::HS256,
        }
    }

    /// The key that verifies this key's signatures, with the same key id.
    /// For HMAC it holds the same secret, so it must stay private.
    #[must_use]
    pub fn verification_key(&self) -> VerificationKey {
        match &self.secret {
            SigningSecret::Ed25519(key) => VerificationKey::from_dalek(self.kid.clone(), key.verifying_key()),
            SigningSecret::Hs256(mac) => VerificationKey {
                kid: self.kid.clone(),
                material: VerifyMaterial::Hs256(mac.clone()),
            },
        }
    }

    /// The Ed25519 private key as PKCS#8 PEM, for storing it; the text is
    /// zeroized on drop.
    ///
    /// # Errors
    ///
    /// [`KeyError::NotEd25519`] for an HMAC key, [`KeyError::InvalidPem`] if
    /// encoding fails.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        match &self.secret {
            SigningSecret::Ed25519(key) => key.to_pkcs8_pem(LineEnding::LF).map_err(|_| KeyError::InvalidPem),
            SigningSecret::Hs256(_) => Err(KeyError::NotEd25519),
        }
    }

    /// Signs `message` (the JWS signing input).
    fn sign_bytes(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        match &self.secret {
            SigningSecret::Ed25519(key) => Ok(key.sign(message).to_bytes().to_vec()),
            SigningSecret::Hs256(mac) => Ok(mac.tag(message).to_vec()),
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.algorithm())
            .field("key", &format_args!("[redacted]"))
            .finish()
    }
}

/// What verifies a key's signatures, prepared once.
#[derive(Clone)]
enum VerifyMaterial {
    /// A parsed, non-weak Ed25519 public key.
    Ed25519(ed25519_dalek::VerifyingKey),
    /// An HMAC-SHA256 state keyed with the secret.
    Hs256(KeyedHmac),
}

/// Decodes base64url `text` into exactly `N` bytes, on the stack; `None` for
/// any other length or a non-canonical encoding.
fn decode_exact<const N: usize>(text: &str) -> Option<[u8; N]> {
    // N bytes take ceil(4N/3) characters without padding.
    if text.len() != (4 * N).div_ceil(3) {
        return None;
    }
    let mut out = [0u8; N];
    match URL_SAFE_NO_PAD.decode_slice(text, &mut out) {
        Ok(len) if len == N => Some(out),
        _ => None,
    }
}

/// A key that verifies signatures: key id, pinned algorithm, and key
/// material prepared once (a parsed Ed25519 public key or a keyed HMAC).
///
/// An Ed25519 key is public; an HMAC key holds state derived from the shared
/// secret (overwritten on drop, never printed, never published in a JWKS).
#[derive(Clone)]
pub struct VerificationKey {
    kid: String,
    material: VerifyMaterial,
}

impl VerificationKey {
    fn from_dalek(kid: String, key: ed25519_dalek::VerifyingKey) -> Self {
        Self {
            kid,
            material: VerifyMaterial::Ed25519(key),
        }
    }

    fn from_checked_dalek(kid: String, key: ed25519_dalek::VerifyingKey) -> Result<Self, KeyError> {
        if key.is_weak() {
            return Err(KeyError::WeakKey);
        }
        Ok(Self::from_dalek(kid, key))
    }

    /// Whether `signature` (base64url) signs `message` under this key.
    fn verifies(&self, message: &[u8], signature: &str) -> bool {
        match &self.material {
            VerifyMaterial::Ed25519(key) => decode_exact::<64>(signature).is_some_and(|sig| {
                key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(&sig))
                    .is_ok()
            }),
            VerifyMaterial::Hs256(mac) => decode_exact::<32>(signature).is_some_and(|tag| mac.verifies(message, &tag)),
        }
    }

    /// An Ed25519 public key from its 32 raw bytes (the JWK `x`).
    ///
    /// # Errors
    ///
    /// [`KeyError::InvalidKid`] for a bad key id, [`KeyError::WrongLength`]
    /// unless exactly 32 bytes, [`KeyError::InvalidPublicKey`] when the bytes
    /// do not decode to a curve point, [`KeyError::WeakKey`] for a
    /// small-order point.
    pub fn ed25519_from_bytes(kid: impl Into<String>, bytes: &[u8]) -> Result<Self, KeyError> {
        let kid = kid.into();
        check_kid(&kid)?;
        let bytes: &[u8; 32] = bytes.try_into().map_err(|_| KeyError::WrongLength(bytes.len()))?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::InvalidPublicKey)?;
        Self::from_checked_dalek(kid, key)
    }

    /// An Ed25519 public key from SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
    ///
    /// # Errors
    ///
    /// [`KeyError::InvalidKid`] for a bad key id, [`KeyError::InvalidPem`]
    /// when the text is not an Ed25519 SPKI public key (including a point
    /// that does not decode), [`KeyError::WeakKey`] for a small-order point.
    pub fn ed25519_from_spki_pem(kid: impl Into<String>, pem: &str) -> Result<Self, KeyError> {
        let kid = kid.into();
        check_kid(&kid)?;
        let key = ed25519_dalek::VerifyingKey::from_public_key_pem(pem).map_err(|_| KeyError::InvalidPem)?;
        Self::from_checked_dalek(kid, key)
    }

    /// An HMAC-SHA256 key.
    ///
    /// # Errors
    ///
    /// [`KeyError::InvalidKid`] for a bad key id,
    /// [`KeyError::SecretTooShort`] for a secret under
    /// [`MIN_HMAC_SECRET_LEN`] bytes.
    pub fn hs256(kid: impl Into<String>, secret: &[u8]) -> Result<Self, KeyError> {
        let kid = kid.into();
        check_kid(&kid)?;
        check_secret_len(secret)?;
        Ok(Self {
            kid,
            material: VerifyMaterial::Hs256(KeyedHmac::new(secret)?),
        })
    }

    /// The key id.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The one algorithm this key verifies.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        match self.material {
            VerifyMaterial::Ed25519(_) => Algorithm::EdDSA,
            VerifyMaterial::Hs256(_) => Algorithm::HS256,
        }
    }

    /// The raw Ed25519 public key; `None` for HMAC.
    #[must_use]
    pub fn ed25519_public_key(&self) -> Option<&[u8; 32]> {
        match &self.material {
            VerifyMaterial::Ed25519(key) => Some(key.as_bytes()),
            VerifyMaterial::Hs256(_) => None,
        }
    }

    /// The public JWK (RFC 8037) of an Ed25519 key:
    /// `{"kty":"OKP","crv":"Ed25519","x":...,"kid":...,"alg":"EdDSA","use":"sig"}`.
    /// `None` for HMAC: a secret is never published.
    #[must_use]
    pub fn to_jwk(&self) -> Option<serde_json::Value> {
        let x = URL_SAFE_NO_PAD.encode(self.ed25519_public_key()?);
        Some(serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": x,
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        }))
    }

    /// The RFC 7638 JWK thumbprint (SHA-256, base64url) of an Ed25519 key,
    /// usable as a key id; `None` for HMAC.
    #[must_use]
    pub fn jwk_thumbprint(&self) -> Option<String> {
        let x = URL_SAFE_NO_PAD.encode(self.ed25519_public_key()?);
        let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
        Some(URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical.as_bytes())))
    }
}

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("VerificationKey");
        s.field("kid", &self.kid).field("alg", &self.algorithm());
        match self.ed25519_public_key() {
            Some(x) => s.field("x", &URL_SAFE_NO_PAD.encode(x)),
            None => s.field("key", &format_args!("[redacted]")),
        };
        s.finish()
    }
}

/// Verification keys by key id, for rotation. Key ids are unique.
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    keys: BTreeMap<String, VerificationKey>,
}

impl KeySet {
    /// An empty set.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A set of the given keys.
    ///
    /// # Errors
    ///
    /// [`KeyError::DuplicateKid`] when two keys share a key id.
    pub fn from_keys(keys: impl IntoIterator<Item = VerificationKey>) -> Result<Self, KeyError> {
        let mut set = Self::new();
        for key in keys {
            set.insert(key)?;
        }
        Ok(set)
    }

    /// Adds a key.
    ///
    /// # Errors
    ///
    /// [`KeyError::DuplicateKid`] when the set already holds a key with this
    /// id; the set is unchanged.
    pub fn insert(&mut self, key: VerificationKey) -> Result<(), KeyError> {
        match self.keys.entry(key.kid.clone()) {
            std::collections::btree_map::Entry::Occupied(_) => Err(KeyError::DuplicateKid(key.kid)),
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(key);
                Ok(())
            }
        }
    }

    /// Removes and returns the key with this id.
    pub fn remove(&mut self, kid: &str) -> Option<VerificationKey> {
        self.keys.remove(kid)
    }

    /// The key with this id.
    #[must_use]
    pub fn get(&self, kid: &str) -> Option<&VerificationKey> {
        self.keys.get(kid)
    }

    /// Number of keys.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The keys, by key id.
    pub fn iter(&self) -> impl Iterator<Item = &VerificationKey> {
        self.keys.values()
    }

    /// The public JWK Set `{"keys":[...]}`: Ed25519 keys only, never an HMAC
    /// secret.
    #[must_use]
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self.keys.values().filter_map(VerificationKey::to_jwk).collect();
        serde_json::json!({ "keys": keys })
    }

    /// The key for a token: by `kid`, or the only key when there is no `kid`.
    fn select(&self, kid: Option<&str>) -> Result<&VerificationKey, VerifyError> {
        match kid {
            Some(kid) => self.keys.get(kid).ok_or(VerifyError::UnknownKey),
            None => {
                let mut keys = self.keys.values();
                match (keys.next(), keys.next()) {
                    (Some(only), None) => Ok(only),
                    _ => Err(VerifyError::UnknownKey),
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Claims and signing
// ---------------------------------------------------------------------------

/// The claims of an `id_token` issued by the identity server after a code
/// exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: the reader's username.
    pub sub: String,
    /// Audience: the configuration's client id.
    pub aud: String,
    /// Issued at, seconds since the Unix epoch.
    pub iat: i64,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
    /// Unique token id.
    pub jti: String,
    /// First name.
    pub given_name: String,
    /// Last name.
    pub family_name: String,
    /// Full name.
    pub name: String,
    /// Email address, as given (never case-folded).
    pub email: String,
    /// Reader group ids.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// The explicit type of a token (its `typ` header, RFC 8725 section 3.11).
///
/// Every kind of token the identity server issues has a type of its own, and
/// the verifier of each kind requires it ([`Validation::token_type`]), so a
/// token of one kind is never accepted as another even when one key signs
/// them all:
///
/// | kind | `typ` |
/// |---|---|
/// | `id_token` (code exchange) | [`TokenType::ID_TOKEN`] `kb-sso.id+jwt` |
/// | access token (code exchange) | [`TokenType::ACCESS_TOKEN`] `kb-sso.access+jwt` |
/// | widget access token | [`TokenType::WIDGET_TOKEN`] `kb-sso.widget+jwt` |
///
/// [`TokenSigner::sign`] writes the generic [`TokenType::JWT`], for tokens
/// whose reader expects nothing more (handshake tokens signed by customer
/// apps). Types compare ASCII case-insensitively, and a type without `/` is
/// read as `application/<typ>` (RFC 7515 section 4.1.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenType(&'static str);

impl TokenType {
    /// The generic `JWT`.
    pub const JWT: Self = Self("JWT");
    /// `kb-sso.id+jwt`: the `id_token` of the code exchange.
    pub const ID_TOKEN: Self = Self("kb-sso.id+jwt");
    /// `kb-sso.access+jwt`: the access token of the code exchange.
    pub const ACCESS_TOKEN: Self = Self("kb-sso.access+jwt");
    /// `kb-sso.widget+jwt`: a widget access token.
    pub const WIDGET_TOKEN: Self = Self("kb-sso.widget+jwt");

    /// The header value.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        self.0
    }

    /// Whether a header's `typ` names this type: ASCII case-insensitive,
    /// with an optional `application/` prefix.
    fn matches(self, typ: &str) -> bool {
        let short = match typ.get(..12) {
            Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
            _ => typ,
        };
        short.eq_ignore_ascii_case(self.0)
    }
}

impl fmt::Display for TokenType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

#[derive(Serialize)]
struct SignHeader<'a> {
    alg: &'static str,
    typ: &'static str,
    kid: &'a str,
}

/// The length of base64url without padding of `n` bytes.
const fn base64_len(n: usize) -> usize {
    (n * 4).div_ceil(3)
}

/// Signs tokens with one key. The header is
/// `{"alg":...,"typ":...,"kid":...}`, the type being `JWT` for
/// [`sign`](Self::sign) and the given [`TokenType`] for
/// [`sign_typed`](Self::sign_typed).
#[derive(Debug)]
pub struct TokenSigner {
    key: SigningKey,
}

impl TokenSigner {
    /// A signer using `key`.
    #[must_use]
    pub fn new(key: SigningKey) -> Self {
        Self { key }
    }

    /// The signing key.
    #[must_use]
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// Signs `claims`, which must serialize to a JSON object.
    ///
    /// # Errors
    ///
    /// [`SignError::Serialize`] or [`SignError::NotAnObject`] for claims that
    /// are not a JSON object, [`SignError::TooLarge`] when the token would
    /// exceed [`MAX_TOKEN_LEN`], [`SignError::Crypto`] if signing fails.
    pub fn sign<C: Serialize + ?Sized>(&self, claims: &C) -> Result<String, SignError> {
        self.sign_typed(TokenType::JWT, claims)
    }

    /// Signs `claims` with `typ` in the header: the explicit type its
    /// verifier requires.
    ///
    /// # Errors
    ///
    /// As [`sign`](Self::sign).
    pub fn sign_typed<C: Serialize + ?Sized>(&self, typ: TokenType, claims: &C) -> Result<String, SignError> {
        let header = self.header(typ)?;
        let payload = serde_json::to_vec(claims).map_err(|_| SignError::Serialize)?;
        if payload.first() != Some(&b'{') {
            return Err(SignError::NotAnObject);
        }
        if payload.len() > self.max_payload_len_for(header.len()) {
            return Err(SignError::TooLarge);
        }
        let mut token = String::with_capacity(MAX_TOKEN_LEN);
        URL_SAFE_NO_PAD.encode_string(&header, &mut token);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let signature = self.key.sign_bytes(token.as_bytes())?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&signature, &mut token);
        if token.len() > MAX_TOKEN_LEN {
            return Err(SignError::TooLarge);
        }
        Ok(token)
    }

    /// The largest claims JSON, in bytes, that [`sign_typed`](Self::sign_typed)
    /// with `typ` turns into a token of at most [`MAX_TOKEN_LEN`] bytes:
    /// what an issuer checks a request against before promising a token.
    #[must_use]
    pub fn max_payload_len(&self, typ: TokenType) -> usize {
        self.header(typ).map_or(0, |h| self.max_payload_len_for(h.len()))
    }

    fn header(&self, typ: TokenType) -> Result<Vec<u8>, SignError> {
        serde_json::to_vec(&SignHeader {
            alg: self.key.algorithm().as_str(),
            typ: typ.as_str(),
            kid: &self.key.kid,
        })
        .map_err(|_| SignError::Serialize)
    }

    /// The largest payload whose token, with a header of `header_len`
    /// bytes, fits in [`MAX_TOKEN_LEN`]: `header.payload.signature`, each
    /// base64url.
    fn max_payload_len_for(&self, header_len: usize) -> usize {
        let signature = base64_len(match self.key.algorithm() {
            Algorithm::EdDSA => 64,
            Algorithm::HS256 => 32,
        });
        let fixed = base64_len(header_len) + 2 + signature;
        let room = MAX_TOKEN_LEN.saturating_sub(fixed);
        // The largest n with base64_len(n) <= room.
        let mut n = room * 3 / 4;
        while n > 0 && base64_len(n) > room {
            n -= 1;
        }
        n
    }
}

// ---------------------------------------------------------------------------
// Untrusted tokens
// ---------------------------------------------------------------------------

/// Deserializes to `true` from any value: marks that a field is present.
#[derive(Default)]
struct Present(bool);

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(deserializer)?;
        Ok(Self(true))
    }
}

/// The header fields read. Others (`cty`, `jku`, `jwk`, `x5u`, `x5c`...)
/// are ignored and never acted on. `typ` is kept when it is a string (a
/// verifier may require it); a `typ` of another JSON type reads as absent.
#[derive(Deserialize)]
struct RawHeader<'a> {
    #[serde(borrow)]
    alg: Text<'a>,
    kid: Option<String>,
    #[serde(default)]
    typ: LenientText,
    #[serde(default)]
    crit: Present,
}

/// A string, or nothing for a value of another JSON type.
#[derive(Default)]
struct LenientText(Option<String>);

impl<'de> Deserialize<'de> for LenientText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LenientText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LenientText, E> {
                Ok(LenientText(Some(v.to_owned())))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<LenientText, E> {
                Ok(LenientText(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<LenientText, E> {
                Ok(LenientText(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<LenientText, E> {
                Ok(LenientText(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<LenientText, E> {
                Ok(LenientText(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<LenientText, E> {
                Ok(LenientText(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<LenientText, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(LenientText(None))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<LenientText, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(LenientText(None))
            }
        }
        deserializer.deserialize_any(V)
    }
}

fn is_base64url(segment: &str) -> bool {
    !segment.is_empty()
        && segment.len() % 4 != 1
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn is_json_object(bytes: &[u8]) -> bool {
    bytes.trim_ascii_start().first() == Some(&b'{')
}

/// A token whose signature and claims have not been checked. It tells its
/// key id and algorithm only; claims come from [`Verifier::verify`].
pub struct UntrustedToken<'a> {
    signing_input: &'a str,
    payload: &'a str,
    signature: &'a str,
    algorithm: Algorithm,
    algorithm_name: &'static str,
    kid: Option<String>,
    typ: Option<String>,
}

impl<'a> UntrustedToken<'a> {
    /// Checks a token's size and shape and reads its header.
    ///
    /// # Errors
    ///
    /// [`VerifyError::TooLarge`] over [`MAX_TOKEN_LEN`] bytes (checked
    /// first), [`VerifyError::Malformed`] unless three non-empty base64url
    /// segments with a JSON object header, [`VerifyError::UnsupportedHeader`]
    /// for a header with `crit`, [`VerifyError::UnsupportedAlgorithm`] for an
    /// `alg` other than `EdDSA`, `Ed25519` or `HS256` (so also `none`).
    pub fn parse(token: &'a str) -> Result<Self, VerifyError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(VerifyError::TooLarge);
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(VerifyError::Malformed);
        };
        if ![header, payload, signature].iter().all(|s| is_base64url(s)) {
            return Err(VerifyError::Malformed);
        }
        let signing_input = token
            .get(..header.len() + 1 + payload.len())
            .ok_or(VerifyError::Malformed)?;
        let header_json = URL_SAFE_NO_PAD.decode(header).map_err(|_| VerifyError::Malformed)?;
        if !is_json_object(&header_json) {
            return Err(VerifyError::Malformed);
        }
        let header: RawHeader<'_> = serde_json::from_slice(&header_json).map_err(|_| VerifyError::Malformed)?;
        if header.crit.0 {
            return Err(VerifyError::UnsupportedHeader);
        }
        let (algorithm, algorithm_name) =
            Algorithm::from_header_name(&header.alg.0).ok_or(VerifyError::UnsupportedAlgorithm)?;
        Ok(Self {
            signing_input,
            payload,
            signature,
            algorithm,
            algorithm_name,
            kid: header.kid,
            typ: header.typ.0,
        })
    }

    /// The header's `typ`, if it is a string. Untrusted until the signature
    /// is checked; [`Validation::token_type`] makes a verifier require it.
    #[must_use]
    pub fn typ(&self) -> Option<&str> {
        self.typ.as_deref()
    }

    /// The header's `kid`, if any. Untrusted: use it only to choose among
    /// keys already configured.
    #[must_use]
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The header's `alg` as written (`EdDSA`, `Ed25519` or `HS256`).
    #[must_use]
    pub fn algorithm_name(&self) -> &'static str {
        self.algorithm_name
    }

    /// The algorithm the header's `alg` names.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

impl fmt::Debug for UntrustedToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UntrustedToken")
            .field("alg", &self.algorithm_name)
            .field("kid", &self.kid)
            .field("typ", &self.typ)
            .finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

/// What a token's registered claims must satisfy, beyond its signature.
///
/// Defaults: no issuer, audience or type check, 30 s leeway, `iat`
/// required, no maximum lifetime. Handshake tokens should set the audience;
/// verifiers of the identity server's own tokens set the audience and the
/// [`TokenType`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    token_type: Option<TokenType>,
    issuer: Option<String>,
    audiences: BTreeSet<String>,
    leeway_secs: i64,
    require_iat: bool,
    max_lifetime_secs: Option<i64>,
}

impl Default for Validation {
    fn default() -> Self {
        Self {
            token_type: None,
            issuer: None,
            audiences: BTreeSet::new(),
            leeway_secs: DEFAULT_LEEWAY_SECS,
            require_iat: true,
            max_lifetime_secs: None,
        }
    }
}

impl Validation {
    /// The defaults.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Requires the header's `typ` to name `typ` (see [`TokenType`]); a
    /// token without `typ`, or of another type, fails with
    /// [`VerifyError::WrongType`].
    #[must_use]
    pub fn token_type(mut self, typ: TokenType) -> Self {
        self.token_type = Some(typ);
        self
    }

    /// The required token type.
    #[must_use]
    pub fn required_token_type(&self) -> Option<TokenType> {
        self.token_type
    }

    /// Requires `iss` to equal `issuer`.
    #[must_use]
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Accepts `audience`; once any audience is set, `aud` is required and
    /// one of its values (a string or an array of strings) must be accepted.
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.insert(audience.into());
        self
    }

    /// Accepts each of `audiences`, as [`Validation::audience`].
    #[must_use]
    pub fn audiences<I, S>(mut self, audiences: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.audiences.extend(audiences.into_iter().map(Into::into));
        self
    }

    /// Clock-skew allowance for `exp`, `nbf` and `iat`, in whole seconds.
    /// Negative values become zero; values above [`MAX_LEEWAY_SECS`] become
    /// that.
    #[must_use]
    pub fn leeway(mut self, leeway: time::Duration) -> Self {
        self.leeway_secs = leeway.whole_seconds().clamp(0, MAX_LEEWAY_SECS);
        self
    }

    /// Whether `iat` is required (default `true`). When present it is
    /// checked either way.
    #[must_use]
    pub fn require_iat(mut self, require: bool) -> Self {
        self.require_iat = require;
        self
    }

    /// Caps a token's lifetime, `exp - iat`, in whole seconds (negative
    /// values become zero). Makes `iat` required.
    #[must_use]
    pub fn max_lifetime(mut self, max: time::Duration) -> Self {
        self.max_lifetime_secs = Some(max.whole_seconds().max(0));
        self
    }

    /// The expected issuer.
    #[must_use]
    pub fn expected_issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The accepted audiences.
    pub fn accepted_audiences(&self) -> impl Iterator<Item = &str> {
        self.audiences.iter().map(String::as_str)
    }

    /// The leeway.
    #[must_use]
    pub fn leeway_duration(&self) -> time::Duration {
        time::Duration::seconds(self.leeway_secs)
    }

    /// Checks the registered claims; answers `exp`.
    fn check(&self, claims: &RegisteredClaims<'_>, now: i64) -> Result<i64, VerifyError> {
        let now = i128::from(now);
        let leeway = i128::from(self.leeway_secs);
        let exp = numeric_date(claims.exp)?.ok_or(VerifyError::MissingClaim("exp"))?;
        let nbf = numeric_date(claims.nbf)?;
        let iat = numeric_date(claims.iat)?;

        if now > exp + leeway {
            return Err(VerifyError::Expired);
        }
        if let Some(nbf) = nbf
            && now + leeway < nbf
        {
            return Err(VerifyError::NotYetValid);
        }
        match iat {
            None if self.require_iat || self.max_lifetime_secs.is_some() => {
                return Err(VerifyError::MissingClaim("iat"));
            }
            Some(iat) if iat > now + leeway => return Err(VerifyError::IssuedInFuture),
            _ => {}
        }
        if let (Some(max), Some(iat)) = (self.max_lifetime_secs, iat)
            && exp - iat > i128::from(max)
        {
            return Err(VerifyError::TooOld);
        }
        if let Some(expected) = &self.issuer
            && claims.iss.as_ref().map(|iss| &*iss.0) != Some(expected.as_str())
        {
            return Err(VerifyError::WrongIssuer);
        }
        if !self.audiences.is_empty() {
            let accepted = match &claims.aud {
                Some(Audience::One(aud)) => self.audiences.contains(&*aud.0),
                Some(Audience::Many(auds)) => auds.iter().any(|aud| self.audiences.contains(&*aud.0)),
                None => false,
            };
            if !accepted {
                return Err(VerifyError::WrongAudience);
            }
        }
        i64::try_from(exp).map_err(|_| VerifyError::Malformed)
    }
}

/// Range-checks a NumericDate.
fn numeric_date(value: Option<i64>) -> Result<Option<i128>, VerifyError> {
    match value {
        Some(v) if !(0..=MAX_NUMERIC_DATE).contains(&v) => Err(VerifyError::Malformed),
        other => Ok(other.map(i128::from)),
    }
}

/// A JSON string, borrowed from the payload unless it has escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Text(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Text(Cow::Owned(v.to_owned())))
    }
}

/// `aud`: one string or an array of strings. Read directly rather than as
/// an untagged enum, which would first copy the value into a buffer.
enum Audience<'a> {
    One(Text<'a>),
    Many(Vec<Text<'a>>),
}

impl<'de: 'a, 'a> Deserialize<'de> for Audience<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(AudienceVisitor)
    }
}

struct AudienceVisitor;

impl<'de> Visitor<'de> for AudienceVisitor {
    type Value = Audience<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or an array of strings")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        TextVisitor.visit_borrowed_str(v).map(Audience::One)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        TextVisitor.visit_str(v).map(Audience::One)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16));
        while let Some(value) = seq.next_element::<Text<'de>>()? {
            values.push(value);
        }
        Ok(Audience::Many(values))
    }
}

/// The registered claims checked here, typed: wrong types and duplicate keys
/// fail to deserialize. Strings borrow from the decoded payload.
#[derive(Deserialize)]
struct RegisteredClaims<'a> {
    exp: Option<i64>,
    nbf: Option<i64>,
    iat: Option<i64>,
    #[serde(borrow)]
    iss: Option<Text<'a>>,
    #[serde(borrow)]
    aud: Option<Audience<'a>>,
    #[serde(borrow)]
    jti: Option<Text<'a>>,
}

// ---------------------------------------------------------------------------
// Verifier
// ---------------------------------------------------------------------------

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
#[derive(Debug, Clone)]
pub struct Verifier {
    keys: KeySet,
    validation: Validation,
}

impl Verifier {
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
    /// [`TokenType`] the header's `typ` does not name.
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
        let key = self.keys.select(token.kid())?;
        if key.algorithm() != token.algorithm {
            return Err(VerifyError::AlgorithmMismatch);
        }
        if !key.verifies(token.signing_input.as_bytes(), token.signature) {
            return Err(VerifyError::BadSignature);
        }
        let payload = URL_SAFE_NO_PAD
            .decode(token.payload)
            .map_err(|_| VerifyError::Malformed)?;
        if !is_json_object(&payload) {
            return Err(VerifyError::Malformed);
        }
        let registered: RegisteredClaims<'_> = serde_json::from_slice(&payload).map_err(|_| VerifyError::Malformed)?;
        let exp = validation.check(&registered, now.unix_timestamp())?;
        // After the claims, so that a token of another kind, whose audience
        // differs too, is told apart as it always was (`WrongAudience`).
        if let Some(required) = validation.token_type
            && !token.typ().is_some_and(|t| required.matches(t))
        {
            return Err(VerifyError::WrongType);
        }
        let expires_at = OffsetDateTime::from_unix_timestamp(exp).map_err(|_| VerifyError::Malformed)?;
        let claims: C = serde_json::from_slice(&payload).map_err(|_| VerifyError::Malformed)?;
        Ok(Verified {
            claims,
            kid: key.kid.clone(),
            expires_at,
            jti: registered.jti.map(|jti| jti.0.into_owned()),
        })
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
    use ed25519_dalek::pkcs8::EncodePublicKey as _;
    use proptest::prelude::*;
    use serde_json::json;

    /// 2026-01-01T00:00:00Z.
    const T0: i64 = 1_767_225_600;
    const SECRET: &[u8] = b"kM2d7Qz0vXb4Lr9TnW1yHc6PjF8sGa3E5uVo"; // 36 bytes
    const ISS: &str = "https://id.example.com";
    const AUD: &str = "0b9f4c1e-5f7a-4c55-9d1e-3f1f2a6c7d80";

    fn at(ts: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(ts).unwrap()
    }

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// A token with exactly this header and payload text, signed by `key`.
    fn raw_token(key: &SigningKey, header: &str, payload: &str) -> String {
        let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
        let signature = key.sign_bytes(input.as_bytes()).unwrap();
        format!("{input}.{}", b64(&signature))
    }

    fn ed_key(kid: &str) -> SigningKey {
        SigningKey::generate_ed25519(kid).unwrap()
    }

    fn id_claims(iat: i64) -> IdTokenClaims {
        IdTokenClaims {
            iss: ISS.into(),
            sub: "ada".into(),
            aud: AUD.into(),
            iat,
            exp: iat + 900,
            jti: "j-1".into(),
            given_name: "Ada".into(),
            family_name: "Lovelace".into(),
            name: "Ada Lovelace".into(),
            email: "Ada@Example.com".into(),
            groups: vec!["g1".into(), "g2".into()],
        }
    }

    fn verifier(keys: &[&SigningKey], validation: Validation) -> Verifier {
        let set = KeySet::from_keys(keys.iter().map(|k| k.verification_key())).unwrap();
        Verifier::new(set, validation)
    }

    fn check(v: &Verifier, token: &str, now: i64) -> Result<(), VerifyError> {
        v.verify_str::<IgnoredAny>(token, at(now)).map(|_| ())
    }

    /// Signs `payload` under `{"alg":"EdDSA","kid":...}` and verifies it at
    /// T0 with `validation`.
    fn check_payload(payload: &str, validation: Validation) -> Result<(), VerifyError> {
        let key = ed_key("k1");
        let token = raw_token(&key, r#"{"alg":"EdDSA","kid":"k1"}"#, payload);
        check(&verifier(&[&key], validation), &token, T0)
    }

    fn header_of(token: &str) -> serde_json::Value {
        let header = token.split('.').next().unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
    }

    fn full_validation() -> Validation {
        Validation::new().issuer(ISS).audience(AUD)
    }

    // --- round trips -------------------------------------------------------

    #[test]
    fn eddsa_round_trip() {
        let key = ed_key("ed-1");
        let claims = id_claims(T0);
        let token = TokenSigner::new(ed_key("ed-1")).sign(&claims);
        // A different key with the same kid does not verify.
        assert_eq!(
            check(&verifier(&[&key], full_validation()), &token.unwrap(), T0),
            Err(VerifyError::BadSignature)
        );
        let signer = TokenSigner::new(key);
        let token = signer.sign(&claims).unwrap();
        assert_eq!(header_of(&token), json!({"alg": "EdDSA", "typ": "JWT", "kid": "ed-1"}));
        let v = verifier(&[signer.key()], full_validation());
        let verified: Verified<IdTokenClaims> = v.verify_str(&token, at(T0 + 10)).unwrap();
        assert_eq!(verified.kid(), "ed-1");
        assert_eq!(verified.jti(), Some("j-1"));
        assert_eq!(verified.expires_at(), at(T0 + 900));
        assert_eq!(verified.claims(), &claims);
        assert_eq!(verified.into_claims(), claims);
    }

    #[test]
    fn hs256_round_trip() {
        let signer = TokenSigner::new(SigningKey::hs256("hs-1", SECRET).unwrap());
        let claims = id_claims(T0);
        let token = signer.sign(&claims).unwrap();
        assert_eq!(header_of(&token), json!({"alg": "HS256", "typ": "JWT", "kid": "hs-1"}));
        let v = verifier(&[signer.key()], full_validation());
        let verified: Verified<IdTokenClaims> = v.verify_str(&token, at(T0)).unwrap();
        assert_eq!(verified.into_claims(), claims);
        // Another secret does not verify.
        let other = SigningKey::hs256("hs-1", &[7u8; 32]).unwrap();
        assert_eq!(
            check(&verifier(&[&other], full_validation()), &token, T0),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn interoperates_with_jsonwebtoken() {
        let claims = id_claims(T0);
        let jwt_validation = |alg| {
            let mut v = jsonwebtoken::Validation::new(alg);
            v.validate_exp = false;
            v.set_audience(&[AUD]);
            v
        };
        // Ours -> jsonwebtoken::decode, both algorithms.
        let ed = ed_key("ed-1");
        let ed_decoding = jsonwebtoken::DecodingKey::from_ed_der(ed.verification_key().ed25519_public_key().unwrap());
        let token = TokenSigner::new(ed).sign(&claims).unwrap();
        let decoded = jsonwebtoken::decode::<IdTokenClaims>(
            &token,
            &ed_decoding,
            &jwt_validation(jsonwebtoken::Algorithm::EdDSA),
        )
        .unwrap();
        assert_eq!(decoded.claims, claims);
        assert_eq!(decoded.header.kid.as_deref(), Some("ed-1"));
        let hs = SigningKey::hs256("hs", SECRET).unwrap();
        let token = TokenSigner::new(hs).sign(&claims).unwrap();
        let decoded = jsonwebtoken::decode::<IdTokenClaims>(
            &token,
            &jsonwebtoken::DecodingKey::from_secret(SECRET),
            &jwt_validation(jsonwebtoken::Algorithm::HS256),
        )
        .unwrap();
        assert_eq!(decoded.claims, claims);

        // jsonwebtoken::encode -> ours, both algorithms.
        let ed = ed_key("ed-2");
        let SigningSecret::Ed25519(dalek) = &ed.secret else {
            panic!("not ed25519")
        };
        let der = dalek.to_pkcs8_der().unwrap();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some("ed-2".into());
        let token = jsonwebtoken::encode(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_ed_der(der.as_bytes()),
        )
        .unwrap();
        let hs = SigningKey::hs256("hs", SECRET).unwrap();
        let v = verifier(&[&ed, &hs], full_validation());
        let got: Verified<IdTokenClaims> = v.verify_str(&token, at(T0)).unwrap();
        assert_eq!(got.claims(), &claims);
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some("hs".into());
        let token = jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_secret(SECRET)).unwrap();
        assert_eq!(check(&v, &token, T0), Ok(()));
    }

    #[test]
    fn ed25519_algorithm_name_is_accepted_as_eddsa() {
        let key = ed_key("k1");
        let payload = json!({"exp": T0 + 60, "iat": T0}).to_string();
        let token = raw_token(&key, r#"{"alg":"Ed25519","kid":"k1"}"#, &payload);
        let parsed = UntrustedToken::parse(&token).unwrap();
        assert_eq!(parsed.algorithm_name(), "Ed25519");
        assert_eq!(parsed.algorithm(), Algorithm::EdDSA);
        assert_eq!(check(&verifier(&[&key], Validation::new()), &token, T0), Ok(()));
        // But not against an HMAC key.
        let hs = SigningKey::hs256("k1", SECRET).unwrap();
        assert_eq!(
            check(&verifier(&[&hs], Validation::new()), &token, T0),
            Err(VerifyError::AlgorithmMismatch)
        );
    }

    // --- signatures and algorithms ----------------------------------------

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
    fn alg_none_and_other_algorithms_fail() {
        let key = SigningKey::hs256("k1", SECRET).unwrap();
        let v = verifier(&[&key], Validation::new());
        let payload = b64(json!({"exp": T0 + 60, "iat": T0}).to_string().as_bytes());
        for alg in ["none", "None", "HS384", "HS512", "RS256", "ES256", "eddsa", ""] {
            let header = b64(json!({"alg": alg, "kid": "k1"}).to_string().as_bytes());
            // Unsecured JWS: empty signature.
            let unsecured = format!("{header}.{payload}.");
            assert_eq!(check(&v, &unsecured, T0), Err(VerifyError::Malformed));
            let with_sig = format!("{header}.{payload}.{}", b64(&[0u8; 32]));
            assert_eq!(
                check(&v, &with_sig, T0),
                Err(VerifyError::UnsupportedAlgorithm),
                "{alg}"
            );
        }
        // `alg` missing or not a string.
        for header in [json!({"kid": "k1"}), json!({"alg": 1}), json!({"alg": null})] {
            let header = b64(header.to_string().as_bytes());
            let token = format!("{header}.{payload}.{}", b64(&[0u8; 32]));
            assert_eq!(check(&v, &token, T0), Err(VerifyError::Malformed));
        }
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
    fn long_hmac_secret_interoperates() {
        // Over the 64-byte block, HMAC hashes the secret first.
        let secret = [SECRET, SECRET].concat();
        let key = SigningKey::hs256("long", &secret).unwrap();
        let claims = id_claims(T0);
        let token = TokenSigner::new(key).sign(&claims).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.validate_exp = false;
        validation.set_audience(&[AUD]);
        let decoded = jsonwebtoken::decode::<IdTokenClaims>(
            &token,
            &jsonwebtoken::DecodingKey::from_secret(&secret),
            &validation,
        )
        .unwrap();
        assert_eq!(decoded.claims, claims);
        let v = Verifier::new(
            KeySet::from_keys([VerificationKey::hs256("long", &secret).unwrap()]).unwrap(),
            full_validation(),
        );
        assert_eq!(v.verify_str::<IdTokenClaims>(&token, at(T0)).unwrap().claims(), &claims);
    }

    #[test]
    fn escaped_registered_claims_are_read() {
        let key = SigningKey::hs256("k1", SECRET).unwrap();
        let v = verifier(&[&key], full_validation());
        // `\/` is an escaped `/`: the strings cannot be borrowed as written.
        let iss = ISS.replace('/', "\\/");
        let payload = format!(
            r#"{{"iss":"{iss}","aud":["x","{AUD}"],"exp":{},"iat":{T0},"jti":"a\u0062c"}}"#,
            T0 + 60
        );
        let token = raw_token(&key, r#"{"alg":"HS256"}"#, &payload);
        let verified = v.verify_str::<IgnoredAny>(&token, at(T0)).unwrap();
        assert_eq!(verified.jti(), Some("abc"));
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

    // --- header and shape -------------------------------------------------

    #[test]
    fn crit_header_rejected() {
        let key = ed_key("k1");
        let v = verifier(&[&key], Validation::new());
        let payload = json!({"exp": T0 + 60, "iat": T0}).to_string();
        for header in [
            r#"{"alg":"EdDSA","kid":"k1","crit":["exp"],"exp":1}"#,
            r#"{"alg":"EdDSA","kid":"k1","crit":[]}"#,
            r#"{"alg":"EdDSA","kid":"k1","crit":null}"#,
            r#"{"alg":"EdDSA","kid":"k1","b64":false,"crit":["b64"]}"#,
        ] {
            let token = raw_token(&key, header, &payload);
            assert_eq!(
                UntrustedToken::parse(&token).map(|_| ()),
                Err(VerifyError::UnsupportedHeader)
            );
            assert_eq!(check(&v, &token, T0), Err(VerifyError::UnsupportedHeader));
        }
        let token = raw_token(&key, r#"{"alg":"EdDSA","kid":"k1"}"#, &payload);
        assert_eq!(check(&v, &token, T0), Ok(()));
    }

    #[test]
    fn oversized_token_rejected_before_decoding() {
        // Not base64 at all: only the size check can name it.
        let junk = "!".repeat(MAX_TOKEN_LEN + 1);
        assert_eq!(UntrustedToken::parse(&junk).map(|_| ()), Err(VerifyError::TooLarge));
        let junk = "!".repeat(MAX_TOKEN_LEN);
        assert_eq!(UntrustedToken::parse(&junk).map(|_| ()), Err(VerifyError::Malformed));
        // A validly signed but huge token.
        let key = ed_key("k1");
        let payload = json!({"exp": T0 + 60, "iat": T0, "pad": "x".repeat(10_000)}).to_string();
        let token = raw_token(&key, r#"{"alg":"EdDSA","kid":"k1"}"#, &payload);
        assert_eq!(
            check(&verifier(&[&key], Validation::new()), &token, T0),
            Err(VerifyError::TooLarge)
        );
        // The signer refuses to produce what would be refused.
        let big = json!({"exp": T0 + 60, "pad": "x".repeat(MAX_TOKEN_LEN)});
        assert_eq!(TokenSigner::new(key).sign(&big), Err(SignError::TooLarge));
    }

    #[test]
    fn malformed_shapes_rejected() {
        let key = ed_key("k1");
        let v = verifier(&[&key], Validation::new());
        let good = raw_token(
            &key,
            r#"{"alg":"EdDSA","kid":"k1"}"#,
            &json!({"exp": T0 + 60, "iat": T0}).to_string(),
        );
        let parts: Vec<&str> = good.split('.').collect();
        let (h, p, s) = (parts[0], parts[1], parts[2]);
        let cases = [
            String::new(),
            "..".into(),
            format!("{h}.{p}"),
            format!("{h}.{p}.{s}.{s}"),
            format!("{h}..{s}"),
            format!(".{p}.{s}"),
            format!("{h}={}.{p}.{s}", ""),
            format!("{h}.{p}=.{s}"),
            format!("{h}.{p}.{s}="),
            format!("{h}.{p}+.{s}"),
            format!("{h} .{p}.{s}"),
            format!("{h}.{p}.{s}AAA"), // length 4n+1 cannot be base64
        ];
        for token in &cases {
            assert_eq!(check(&v, token, T0), Err(VerifyError::Malformed), "{token:?}");
        }
        // Header or payload not a JSON object.
        for (header, payload) in [
            (r#"["EdDSA"]"#, r#"{"exp":1}"#),
            (r#""EdDSA""#, r#"{"exp":1}"#),
            (r#"{"alg":"EdDSA","kid":"k1"}"#, &*format!("[{}]", T0 + 60)),
            (r#"{"alg":"EdDSA","kid":"k1"}"#, "not json"),
            (r#"{"alg":"EdDSA","kid":"k1"}"#, "null"),
            (r#"{"alg":"EdDSA","kid":5}"#, r#"{"exp":1}"#),
            (r#"{"alg":"EdDSA","alg":"EdDSA","kid":"k1"}"#, r#"{"exp":1}"#),
        ] {
            let token = raw_token(&key, header, payload);
            assert_eq!(check(&v, &token, T0), Err(VerifyError::Malformed), "{header} {payload}");
        }
        assert_eq!(check(&v, &good, T0), Ok(()));
    }

    // --- registered claims ------------------------------------------------

    #[test]
    fn exp_is_required_and_range_checked() {
        let v = Validation::new;
        assert_eq!(
            check_payload(&json!({"iat": T0}).to_string(), v()),
            Err(VerifyError::MissingClaim("exp"))
        );
        assert_eq!(
            check_payload(&json!({"iat": T0, "exp": null}).to_string(), v()),
            Err(VerifyError::MissingClaim("exp"))
        );
        for exp in [
            "18446744073709551615", // u64::MAX
            "9223372036854775808",  // 2^63
            "9223372036854775807",  // i64::MAX
            "253402300800",         // 10000-01-01
            "-1",
            "1e400",
            "1767225660.5",
            "\"1767225660\"",
            "true",
        ] {
            let payload = format!(r#"{{"iat":{T0},"exp":{exp}}}"#);
            assert_eq!(check_payload(&payload, v()), Err(VerifyError::Malformed), "{exp}");
        }
        // The last second of year 9999 is still a date.
        let payload = format!(r#"{{"iat":{T0},"exp":{MAX_NUMERIC_DATE}}}"#);
        assert_eq!(check_payload(&payload, v()), Ok(()));
        for (claim, value) in [("nbf", -5), ("iat", -5), ("nbf", MAX_NUMERIC_DATE + 1)] {
            let payload = format!(r#"{{"exp":{},"{claim}":{value}}}"#, T0 + 60);
            assert_eq!(check_payload(&payload, v()), Err(VerifyError::Malformed), "{claim}");
        }
    }

    #[test]
    fn expiry_with_leeway() {
        let payload = |exp: i64| json!({"iat": exp - 60, "exp": exp}).to_string();
        let v = Validation::new;
        assert_eq!(check_payload(&payload(T0), v()), Ok(()));
        assert_eq!(check_payload(&payload(T0 - 30), v()), Ok(()));
        assert_eq!(check_payload(&payload(T0 - 31), v()), Err(VerifyError::Expired));
        let strict = || Validation::new().leeway(time::Duration::ZERO);
        assert_eq!(check_payload(&payload(T0), strict()), Ok(()));
        assert_eq!(check_payload(&payload(T0 - 1), strict()), Err(VerifyError::Expired));
        let wide = || Validation::new().leeway(time::Duration::seconds(120));
        assert_eq!(check_payload(&payload(T0 - 120), wide()), Ok(()));
        assert_eq!(check_payload(&payload(T0 - 121), wide()), Err(VerifyError::Expired));
        // Leeway is clamped.
        let v = Validation::new().leeway(time::Duration::seconds(-5));
        assert_eq!(v.leeway_duration(), time::Duration::ZERO);
        let v = Validation::new().leeway(time::Duration::days(30));
        assert_eq!(v.leeway_duration(), time::Duration::seconds(MAX_LEEWAY_SECS));
        assert_eq!(Validation::new().leeway_duration(), time::Duration::seconds(30));
    }

    #[test]
    fn not_before() {
        let payload = |nbf: i64| json!({"iat": T0, "exp": T0 + 600, "nbf": nbf}).to_string();
        let v = Validation::new;
        assert_eq!(check_payload(&payload(T0 + 30), v()), Ok(()));
        assert_eq!(check_payload(&payload(T0 + 31), v()), Err(VerifyError::NotYetValid));
        assert_eq!(check_payload(&payload(T0 - 100), v()), Ok(()));
    }

    #[test]
    fn issued_at() {
        let v = Validation::new;
        let future = |iat: i64| json!({"iat": iat, "exp": T0 + 600}).to_string();
        assert_eq!(check_payload(&future(T0 + 30), v()), Ok(()));
        assert_eq!(check_payload(&future(T0 + 31), v()), Err(VerifyError::IssuedInFuture));
        let no_iat = json!({"exp": T0 + 600}).to_string();
        assert_eq!(check_payload(&no_iat, v()), Err(VerifyError::MissingClaim("iat")));
        assert_eq!(check_payload(&no_iat, v().require_iat(false)), Ok(()));
        // Present iat is checked even when not required.
        assert_eq!(
            check_payload(&future(T0 + 31), v().require_iat(false)),
            Err(VerifyError::IssuedInFuture)
        );
    }

    #[test]
    fn maximum_lifetime() {
        let v = || Validation::new().max_lifetime(time::Duration::minutes(5));
        let payload = |iat: i64, exp: i64| json!({"iat": iat, "exp": exp}).to_string();
        assert_eq!(check_payload(&payload(T0, T0 + 300), v()), Ok(()));
        assert_eq!(check_payload(&payload(T0, T0 + 301), v()), Err(VerifyError::TooOld));
        // Year-9999 expiry.
        assert_eq!(
            check_payload(&payload(T0, MAX_NUMERIC_DATE), v()),
            Err(VerifyError::TooOld)
        );
        // The cap needs iat.
        let no_iat = json!({"exp": T0 + 60}).to_string();
        assert_eq!(
            check_payload(&no_iat, v().require_iat(false)),
            Err(VerifyError::MissingClaim("iat"))
        );
        assert_eq!(check_payload(&payload(T0, T0 + 301), Validation::new()), Ok(()));
    }

    #[test]
    fn audience() {
        let base = |aud: serde_json::Value| {
            let mut claims = json!({"iat": T0, "exp": T0 + 60});
            if !aud.is_null() {
                claims["aud"] = aud;
            }
            claims.to_string()
        };
        let v = || Validation::new().audience("kb-1");
        assert_eq!(check_payload(&base(json!("kb-1")), v()), Ok(()));
        assert_eq!(check_payload(&base(json!(["x", "kb-1"])), v()), Ok(()));
        assert_eq!(
            check_payload(&base(json!("kb-2")), v()),
            Err(VerifyError::WrongAudience)
        );
        assert_eq!(
            check_payload(&base(json!(["x", "y"])), v()),
            Err(VerifyError::WrongAudience)
        );
        assert_eq!(check_payload(&base(json!([])), v()), Err(VerifyError::WrongAudience));
        assert_eq!(check_payload(&base(json!(null)), v()), Err(VerifyError::WrongAudience));
        assert_eq!(check_payload(&base(json!(123)), v()), Err(VerifyError::Malformed));
        assert_eq!(check_payload(&base(json!([123])), v()), Err(VerifyError::Malformed));
        assert_eq!(
            check_payload(&base(json!({"a": "kb-1"})), v()),
            Err(VerifyError::Malformed)
        );
        // Any accepted audience suffices.
        let many = || Validation::new().audiences(["kb-1", "kb-2"]);
        assert_eq!(check_payload(&base(json!("kb-2")), many()), Ok(()));
        assert_eq!(many().accepted_audiences().collect::<Vec<_>>(), vec!["kb-1", "kb-2"]);
        // No audience configured: aud not required.
        assert_eq!(check_payload(&base(json!(null)), Validation::new()), Ok(()));
    }

    #[test]
    fn issuer() {
        let with = |iss: serde_json::Value| json!({"iat": T0, "exp": T0 + 60, "iss": iss}).to_string();
        let v = || Validation::new().issuer(ISS);
        assert_eq!(v().expected_issuer(), Some(ISS));
        assert_eq!(check_payload(&with(json!(ISS)), v()), Ok(()));
        assert_eq!(
            check_payload(&with(json!("https://evil")), v()),
            Err(VerifyError::WrongIssuer)
        );
        assert_eq!(check_payload(&with(json!(42)), v()), Err(VerifyError::Malformed));
        assert_eq!(check_payload(&with(json!([ISS])), v()), Err(VerifyError::Malformed));
        let missing = json!({"iat": T0, "exp": T0 + 60}).to_string();
        assert_eq!(check_payload(&missing, v()), Err(VerifyError::WrongIssuer));
        assert_eq!(check_payload(&with(json!(null)), v()), Err(VerifyError::WrongIssuer));
    }

    #[test]
    fn duplicate_claim_keys_rejected() {
        let exp_twice = format!(r#"{{"iat":{T0},"exp":{},"exp":{}}}"#, T0 - 3600, T0 + 60);
        assert_eq!(
            check_payload(&exp_twice, Validation::new()),
            Err(VerifyError::Malformed)
        );
        let jti_twice = format!(r#"{{"iat":{T0},"exp":{},"jti":"a","jti":"b"}}"#, T0 + 60);
        assert_eq!(
            check_payload(&jti_twice, Validation::new()),
            Err(VerifyError::Malformed)
        );
        let aud_twice = format!(r#"{{"iat":{T0},"exp":{},"aud":"evil","aud":"kb-1"}}"#, T0 + 60);
        assert_eq!(
            check_payload(&aud_twice, Validation::new().audience("kb-1")),
            Err(VerifyError::Malformed)
        );
        // A duplicate in the caller's typed claims.
        let key = ed_key("k1");
        let v = verifier(&[&key], full_validation());
        let mut payload = serde_json::to_string(&id_claims(T0)).unwrap();
        payload.insert_str(1, r#""sub":"admin","#);
        let token = raw_token(&key, r#"{"alg":"EdDSA","kid":"k1"}"#, &payload);
        assert_eq!(
            v.verify_str::<IdTokenClaims>(&token, at(T0)).map(|_| ()),
            Err(VerifyError::Malformed)
        );
        // Why typed: a Value keeps the last duplicate silently.
        let value: serde_json::Value = serde_json::from_str(&payload).unwrap();
        assert_eq!(value["sub"], "ada");
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
            v.verify_str::<IdTokenClaims>(&token, at(T0)).map(|_| ()),
            Err(VerifyError::Malformed)
        );
    }

    // --- keys ---------------------------------------------------------------

    #[test]
    fn weak_ed25519_key_rejected() {
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            VerificationKey::ed25519_from_bytes("w", &identity).map(|_| ()),
            Err(KeyError::WeakKey)
        );
        // Also the all-zero point (order 4) and via SPKI PEM.
        assert_eq!(
            VerificationKey::ed25519_from_bytes("w", &[0u8; 32]).map(|_| ()),
            Err(KeyError::WeakKey)
        );
        let weak = ed25519_dalek::VerifyingKey::from_bytes(&identity).unwrap();
        let pem = weak.to_public_key_pem(LineEnding::LF).unwrap();
        assert_eq!(
            VerificationKey::ed25519_from_spki_pem("w", &pem).map(|_| ()),
            Err(KeyError::WeakKey)
        );
        // Why: with the identity key, R = identity and s = 0 verify any
        // message under jsonwebtoken's (non-strict) verification.
        let mut forged = [0u8; 64];
        forged[0] = 1;
        let input = format!(
            "{}.{}",
            b64(br#"{"alg":"EdDSA"}"#),
            b64(json!({"sub": "admin", "exp": T0 + 60}).to_string().as_bytes())
        );
        let raw = jsonwebtoken::DecodingKey::from_ed_der(&identity);
        assert!(
            jsonwebtoken::crypto::verify(&b64(&forged), input.as_bytes(), &raw, jsonwebtoken::Algorithm::EdDSA)
                .unwrap()
        );
    }

    #[test]
    fn ed25519_key_length_and_point_checked() {
        let good = ed_key("k").verification_key().ed25519_public_key().copied().unwrap();
        assert_eq!(
            VerificationKey::ed25519_from_bytes("k", &good[..31]).map(|_| ()),
            Err(KeyError::WrongLength(31))
        );
        let mut long = good.to_vec();
        long.push(0);
        assert_eq!(
            VerificationKey::ed25519_from_bytes("k", &long).map(|_| ()),
            Err(KeyError::WrongLength(33))
        );
        assert_eq!(
            VerificationKey::ed25519_from_bytes("k", &[]).map(|_| ()),
            Err(KeyError::WrongLength(0))
        );
        // y = 2 is not the y-coordinate of a curve point.
        let mut off_curve = [0u8; 32];
        off_curve[0] = 2;
        assert_eq!(
            VerificationKey::ed25519_from_bytes("k", &off_curve).map(|_| ()),
            Err(KeyError::InvalidPublicKey)
        );
        assert!(VerificationKey::ed25519_from_bytes("k", &good).is_ok());
    }

    #[test]
    fn short_hmac_secrets_rejected() {
        for len in [0usize, 1, 31] {
            let secret = vec![0x42u8; len];
            let err = Err(KeyError::SecretTooShort { len, min: 32 });
            assert_eq!(SigningKey::hs256("h", &secret).map(|_| ()), err);
            assert_eq!(VerificationKey::hs256("h", &secret).map(|_| ()), err);
        }
        assert!(SigningKey::hs256("h", &[0x42; 32]).is_ok());
        assert!(VerificationKey::hs256("h", &[0x42; 32]).is_ok());
    }

    #[test]
    fn key_ids_checked() {
        for kid in ["", "a\nb", "caf\u{e9}", &"k".repeat(257)] {
            assert_eq!(
                SigningKey::hs256(kid, SECRET).map(|_| ()),
                Err(KeyError::InvalidKid),
                "{kid:?}"
            );
            assert_eq!(SigningKey::generate_ed25519(kid).map(|_| ()), Err(KeyError::InvalidKid));
            assert_eq!(
                VerificationKey::hs256(kid, SECRET).map(|_| ()),
                Err(KeyError::InvalidKid)
            );
        }
        assert!(SigningKey::hs256("2026-01 \"primary\"", SECRET).is_ok());
    }

    #[test]
    fn pem_round_trips() {
        let key = ed_key("k1");
        let pem = key.to_pkcs8_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let again = SigningKey::ed25519_from_pkcs8_pem("k1", &pem).unwrap();
        assert_eq!(
            again.verification_key().ed25519_public_key(),
            key.verification_key().ed25519_public_key()
        );
        let token = TokenSigner::new(again).sign(&id_claims(T0)).unwrap();
        assert_eq!(check(&verifier(&[&key], full_validation()), &token, T0), Ok(()));

        let SigningSecret::Ed25519(dalek) = &key.secret else {
            panic!("not ed25519")
        };
        let spki = dalek.verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
        let vk = VerificationKey::ed25519_from_spki_pem("k1", &spki).unwrap();
        assert_eq!(vk.ed25519_public_key(), key.verification_key().ed25519_public_key());

        assert_eq!(
            SigningKey::hs256("h", SECRET).unwrap().to_pkcs8_pem().map(|_| ()),
            Err(KeyError::NotEd25519)
        );
        assert_eq!(
            SigningKey::ed25519_from_pkcs8_pem("k", "not pem").map(|_| ()),
            Err(KeyError::InvalidPem)
        );
        // A public key is not a private key, and vice versa.
        assert_eq!(
            SigningKey::ed25519_from_pkcs8_pem("k", &spki).map(|_| ()),
            Err(KeyError::InvalidPem)
        );
        assert_eq!(
            VerificationKey::ed25519_from_spki_pem("k", &pem).map(|_| ()),
            Err(KeyError::InvalidPem)
        );
    }

    #[test]
    fn jwks_has_public_keys_only() {
        let ed = ed_key("ed");
        let hs = SigningKey::hs256("hs", SECRET).unwrap();
        let set = KeySet::from_keys([ed.verification_key(), hs.verification_key()]).unwrap();
        assert!(set.get("hs").unwrap().to_jwk().is_none());
        let jwks = set.jwks();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1);
        let jwk = &keys[0];
        assert_eq!(jwk["kty"], "OKP");
        assert_eq!(jwk["crv"], "Ed25519");
        assert_eq!(jwk["alg"], "EdDSA");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["kid"], "ed");
        assert_eq!(jwk.as_object().unwrap().len(), 6);
        let text = jwks.to_string();
        assert!(!text.contains("\"k\""));
        assert!(!text.contains(&b64(SECRET)));
        // x round-trips to the same key.
        let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
        let back = VerificationKey::ed25519_from_bytes("ed", &x).unwrap();
        assert_eq!(back.ed25519_public_key(), ed.verification_key().ed25519_public_key());
        let token = TokenSigner::new(ed).sign(&id_claims(T0)).unwrap();
        let v = Verifier::new(KeySet::from_keys([back]).unwrap(), full_validation());
        assert_eq!(check(&v, &token, T0), Ok(()));
        assert!(KeySet::new().jwks()["keys"].as_array().unwrap().is_empty());
    }

    #[test]
    fn debug_never_shows_key_material() {
        let hs = SigningKey::hs256("hs", SECRET).unwrap();
        let text = format!("{hs:?}");
        assert_eq!(text, r#"SigningKey { kid: "hs", alg: HS256, key: [redacted] }"#);
        let ed = ed_key("ed");
        let text = format!("{ed:?} {:?}", TokenSigner::new(ed_key("ed2")));
        assert!(text.starts_with(r#"SigningKey { kid: "ed", alg: EdDSA, key: [redacted] }"#));
        let SigningSecret::Ed25519(dalek) = &ed.secret else {
            panic!("not ed25519")
        };
        let seed = dalek.to_bytes();
        assert!(!text.contains(&b64(&seed)));
        assert!(!text.contains(&format!("{:?}", &seed[..]).replace(['[', ']'], "")));
        assert!(!format!("{hs:?}").contains("kM2d"));
        let vk = format!("{:?}", hs.verification_key());
        assert!(vk.contains("[redacted]"));
        assert!(!vk.contains("kM2d"));
        assert!(!format!("{:?}", KeySet::from_keys([hs.verification_key()]).unwrap()).contains("kM2d"));
        // An untrusted token's Debug shows no claims.
        let token = TokenSigner::new(hs).sign(&id_claims(T0)).unwrap();
        let parsed = UntrustedToken::parse(&token).unwrap();
        let text = format!("{parsed:?}");
        assert!(!text.contains("ada") && !text.contains(token.split('.').nth(1).unwrap()));
    }

    #[test]
    fn a_required_type_matches_case_insensitively_with_or_without_application() {
        let key = ed_key("k1");
        let payload = format!(r#"{{"exp":{},"iat":{T0}}}"#, T0 + 60);
        let v = verifier(&[&key], Validation::new().token_type(TokenType::ID_TOKEN));
        let with_typ = |typ: &str| raw_token(&key, &format!(r#"{{"alg":"EdDSA","kid":"k1","typ":{typ}}}"#), &payload);
        for ok in [
            r#""kb-sso.id+jwt""#,
            r#""KB-SSO.ID+JWT""#,
            r#""application/kb-sso.id+jwt""#,
        ] {
            assert_eq!(check(&v, &with_typ(ok), T0), Ok(()), "{ok}");
        }
        for bad in [
            r#""JWT""#,
            r#""kb-sso.widget+jwt""#,
            r#""text/kb-sso.id+jwt""#,
            "1",
            "null",
            r#"["kb-sso.id+jwt"]"#,
        ] {
            assert_eq!(check(&v, &with_typ(bad), T0), Err(VerifyError::WrongType), "{bad}");
        }
        let untyped = raw_token(&key, r#"{"alg":"EdDSA","kid":"k1"}"#, &payload);
        assert_eq!(check(&v, &untyped, T0), Err(VerifyError::WrongType));
        // No type required: any `typ`, of any JSON type, or none is fine.
        let any = verifier(&[&key], Validation::new());
        assert_eq!(check(&any, &with_typ("{}"), T0), Ok(()));
        assert_eq!(check(&any, &untyped, T0), Ok(()));
    }

    #[test]
    fn max_payload_len_is_the_exact_boundary_of_sign_typed() {
        for key in [ed_key("k1"), SigningKey::hs256("a-longer-key-id", SECRET).unwrap()] {
            let signer = TokenSigner::new(key);
            let max = signer.max_payload_len(TokenType::WIDGET_TOKEN);
            // `{"p":"..."}` is 8 bytes around the padding.
            let claims = |n: usize| json!({ "p": "x".repeat(n - 8) });
            let token = signer.sign_typed(TokenType::WIDGET_TOKEN, &claims(max)).unwrap();
            assert!(token.len() <= MAX_TOKEN_LEN && token.len() > MAX_TOKEN_LEN - 4);
            assert_eq!(
                signer.sign_typed(TokenType::WIDGET_TOKEN, &claims(max + 1)),
                Err(SignError::TooLarge)
            );
        }
    }

    #[test]
    fn signer_needs_a_json_object() {
        let signer = TokenSigner::new(SigningKey::hs256("h", SECRET).unwrap());
        assert_eq!(signer.sign("just a string"), Err(SignError::NotAnObject));
        assert_eq!(signer.sign(&[1, 2]), Err(SignError::NotAnObject));
        assert!(signer.sign(&json!({})).is_ok());
    }

    #[test]
    fn reason_codes() {
        use VerifyError as E;
        let cases = [
            (E::TooLarge, "malformed"),
            (E::Malformed, "malformed"),
            (E::UnsupportedHeader, "malformed"),
            (E::UnsupportedAlgorithm, "malformed"),
            (E::MissingClaim("exp"), "malformed"),
            (E::UnknownKey, "bad_signature"),
            (E::AlgorithmMismatch, "bad_signature"),
            (E::BadSignature, "bad_signature"),
            (E::Expired, "expired"),
            (E::TooOld, "expired"),
            (E::NotYetValid, "not_yet_valid"),
            (E::IssuedInFuture, "not_yet_valid"),
            (E::WrongAudience, "wrong_audience"),
            (E::WrongIssuer, "wrong_issuer"),
        ];
        for (err, reason) in cases {
            assert_eq!(err.reason(), reason, "{err:?}");
            assert!(!err.to_string().is_empty());
        }
        assert_eq!(
            E::MissingClaim("iat").to_string(),
            "token lacks the required claim `iat`"
        );
        assert_eq!(Algorithm::EdDSA.to_string(), "EdDSA");
        assert_eq!(Algorithm::HS256.to_string(), "HS256");
    }

    // --- known-answer vectors -----------------------------------------------

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

    /// RFC 8037 appendix A: Ed25519 key (A.1, A.2), thumbprint (A.3),
    /// signing (A.4) and validation (A.5).
    #[test]
    fn rfc8037_a_ed25519() {
        const D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
        const X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
        const THUMBPRINT: &str = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
        const INPUT: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
        const SIGNATURE: &str =
            "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

        // A.1 private key, imported through PKCS#8 PEM.
        let seed = URL_SAFE_NO_PAD.decode(D).unwrap();
        let mut der = vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
        ];
        der.extend_from_slice(&seed);
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(&der)
        );
        let sk = SigningKey::ed25519_from_pkcs8_pem("rfc8037", &pem).unwrap();
        // A.2 public key.
        let vk = sk.verification_key();
        assert_eq!(b64(vk.ed25519_public_key().unwrap()), X);
        assert_eq!(vk.to_jwk().unwrap()["x"], X);
        let imported = VerificationKey::ed25519_from_bytes("rfc8037", &URL_SAFE_NO_PAD.decode(X).unwrap()).unwrap();
        // A.3 thumbprint.
        assert_eq!(imported.jwk_thumbprint().unwrap(), THUMBPRINT);
        assert!(VerificationKey::hs256("h", SECRET).unwrap().jwk_thumbprint().is_none());
        // A.4 signing (Ed25519 is deterministic).
        assert_eq!(b64(&sk.sign_bytes(INPUT.as_bytes()).unwrap()), SIGNATURE);
        // A.5 validation with the public key.
        let decoding = jsonwebtoken::DecodingKey::from_ed_der(imported.ed25519_public_key().unwrap());
        let verify = |sig: &str| {
            let ours = imported.verifies(INPUT.as_bytes(), sig);
            // jsonwebtoken agrees.
            let theirs =
                jsonwebtoken::crypto::verify(sig, INPUT.as_bytes(), &decoding, jsonwebtoken::Algorithm::EdDSA).unwrap();
            assert_eq!(ours, theirs);
            ours
        };
        assert!(verify(SIGNATURE));
        let mut bad = URL_SAFE_NO_PAD.decode(SIGNATURE).unwrap();
        bad[63] ^= 0x01;
        assert!(!verify(&b64(&bad)));
        // The payload is not a JSON claims set: a full verify calls it
        // malformed, after the signature passes.
        let v = Verifier::new(KeySet::from_keys([imported]).unwrap(), Validation::new());
        let token = format!("{INPUT}.{SIGNATURE}");
        assert_eq!(check(&v, &token, T0), Err(VerifyError::Malformed));
        let token = format!("{INPUT}.{}", b64(&bad));
        assert_eq!(check(&v, &token, T0), Err(VerifyError::BadSignature));
    }

    // --- properties ---------------------------------------------------------

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn random_text_never_verifies(token in "[A-Za-z0-9_.\\-]{0,200}") {
            let key = SigningKey::hs256("k", SECRET).unwrap();
            let v = verifier(&[&key], Validation::new().require_iat(false));
            prop_assert!(check(&v, &token, T0).is_err());
        }

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

        #[test]
        fn leeway_boundary(leeway in 0i64..=600, skew in -700i64..=700) {
            let v = Validation::new().leeway(time::Duration::seconds(leeway));
            let exp = T0 + skew;
            let payload = json!({"iat": exp - 60, "exp": exp}).to_string();
            let result = check_payload(&payload, v);
            if T0 > exp + leeway {
                prop_assert_eq!(result, Err(VerifyError::Expired));
            } else if exp - 60 > T0 + leeway {
                prop_assert_eq!(result, Err(VerifyError::IssuedInFuture));
            } else {
                prop_assert_eq!(result, Ok(()));
            }
        }
    }
}
