//! Keys: [`SigningKey`], [`VerificationKey`] and the [`KeySet`] of a
//! verifier, with its public JWK Set.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey};
use hmac::Mac as _;
use rand_core::RngCore as _;
use sha2::Digest as _;
use zeroize::Zeroizing;

use super::{Algorithm, KeyError, MIN_HMAC_SECRET_LEN, SignError, VerifyError};

/// Longest key id accepted, in bytes.
const MAX_KID_LEN: usize = 256;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

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
    Ed25519(Ed25519Secret),
    Hs256(KeyedHmac),
}

/// An Ed25519 private key with its expanded form (the clamped scalar and
/// the nonce prefix, SHA-512 of the seed) computed once, as the key's
/// HMAC state is: each signature then skips hashing the seed again. Both
/// are zeroized on drop by ed25519-dalek.
struct Ed25519Secret {
    key: ed25519_dalek::SigningKey,
    expanded: ed25519_dalek::hazmat::ExpandedSecretKey,
}

impl Ed25519Secret {
    fn new(key: ed25519_dalek::SigningKey) -> Self {
        let seed = Zeroizing::new(key.to_bytes());
        // Exactly what `SigningKey::sign` derives at each signature.
        let expanded = ed25519_dalek::hazmat::ExpandedSecretKey::from(&*seed);
        Self { key, expanded }
    }

    /// The signature `SigningKey::sign` makes: the expanded key and the
    /// public key both come from this one seed.
    fn sign(&self, message: &[u8]) -> ed25519_dalek::Signature {
        ed25519_dalek::hazmat::raw_sign::<sha2::Sha512>(&self.expanded, message, self.key.as_ref())
    }
}

impl std::ops::Deref for Ed25519Secret {
    type Target = ed25519_dalek::SigningKey;

    fn deref(&self) -> &ed25519_dalek::SigningKey {
        &self.key
    }
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
            secret: SigningSecret::Ed25519(Ed25519Secret::new(ed25519_dalek::SigningKey::from_bytes(&seed))),
        })
    }

    /// An Ed25519 key from its 32-byte seed (the private key as RFC 8032
    /// defines it), for example one kept in a key ring file.
    ///
    /// # Errors
    ///
    /// [`KeyError::InvalidKid`] for a bad key id.
    pub fn ed25519_from_seed(kid: impl Into<String>, seed: &[u8; 32]) -> Result<Self, KeyError> {
        let kid = kid.into();
        check_kid(&kid)?;
        Ok(Self {
            kid,
            secret: SigningSecret::Ed25519(Ed25519Secret::new(ed25519_dalek::SigningKey::from_bytes(seed))),
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
            secret: SigningSecret::Ed25519(Ed25519Secret::new(key)),
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
    pub(super) fn sign_bytes(&self, message: &[u8]) -> Result<SignatureBytes, SignError> {
        match &self.secret {
            SigningSecret::Ed25519(key) => Ok(SignatureBytes::Ed25519(key.sign(message).to_bytes())),
            SigningSecret::Hs256(mac) => Ok(SignatureBytes::Hs256(mac.tag(message))),
        }
    }
}

/// A signature, held without a heap allocation.
pub(super) enum SignatureBytes {
    Ed25519([u8; 64]),
    Hs256([u8; 32]),
}

impl std::ops::Deref for SignatureBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Self::Ed25519(bytes) => bytes,
            Self::Hs256(bytes) => bytes,
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
    let len = super::base64url::decode_into(text.as_bytes(), &mut out)?.len();
    (len == N).then_some(out)
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
    pub(super) fn verifies(&self, message: &[u8], signature: &str) -> bool {
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

    /// The set of verification keys published as a JWK Set (RFC 7517), such
    /// as an identity server's `/.well-known/jwks.json` ([`jwks`](Self::jwks)
    /// reads back). Only Ed25519 public keys (RFC 8037: `"kty":"OKP"`,
    /// `"crv":"Ed25519"`, `x`) with a `kid` are taken; a key with `"use"`
    /// other than `"sig"` or `"alg"` other than `"EdDSA"` is skipped, so an
    /// encryption key published beside them is not used to verify.
    ///
    /// # Errors
    ///
    /// [`KeyError::InvalidJwk`] when the text is not `{"keys":[...]}` or an
    /// Ed25519 key lacks `kid` or `x`; the errors of
    /// [`VerificationKey::ed25519_from_bytes`] for a bad key;
    /// [`KeyError::DuplicateKid`] when two keys share an id.
    pub fn from_jwks_json(json: &[u8]) -> Result<Self, KeyError> {
        #[derive(serde::Deserialize)]
        struct Jwks {
            keys: Vec<Jwk>,
        }
        #[derive(serde::Deserialize)]
        struct Jwk {
            kty: String,
            crv: Option<String>,
            x: Option<String>,
            kid: Option<String>,
            #[serde(rename = "use")]
            usage: Option<String>,
            alg: Option<String>,
        }
        let set: Jwks = serde_json::from_slice(json).map_err(|_| KeyError::InvalidJwk)?;
        let mut keys = Self::new();
        for jwk in set.keys {
            let ed25519 = jwk.kty == "OKP" && jwk.crv.as_deref() == Some("Ed25519");
            let signing = jwk.usage.as_deref().is_none_or(|u| u == "sig")
                && jwk.alg.as_deref().is_none_or(|a| a == "EdDSA" || a == "Ed25519");
            if !ed25519 || !signing {
                continue;
            }
            let (Some(kid), Some(x)) = (jwk.kid, jwk.x) else {
                return Err(KeyError::InvalidJwk);
            };
            let bytes = URL_SAFE_NO_PAD.decode(x.as_bytes()).map_err(|_| KeyError::InvalidJwk)?;
            keys.insert(VerificationKey::ed25519_from_bytes(kid, &bytes)?)?;
        }
        Ok(keys)
    }

    /// The key for a token: by `kid`, or the only key when there is no `kid`.
    pub(super) fn select(&self, kid: Option<&str>) -> Result<&VerificationKey, VerifyError> {
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::jose::test_support::*;
    use crate::jose::{TokenSigner, UntrustedToken, Verifier};
    use ed25519_dalek::pkcs8::EncodePublicKey as _;
    use serde_json::json;

    proptest::proptest! {
        /// Signing with the expanded key kept makes the very signature
        /// ed25519-dalek's own `sign` makes (Ed25519 is deterministic), for
        /// any seed and message.
        #[test]
        fn kept_expanded_key_signs_as_dalek_does(
            seed in proptest::prelude::any::<[u8; 32]>(),
            message in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        ) {
            use ed25519_dalek::Signer as _;
            let key = SigningKey::ed25519_from_seed("k", &seed).unwrap();
            let dalek = ed25519_dalek::SigningKey::from_bytes(&seed);
            let ours = key.sign_bytes(&message).unwrap();
            proptest::prop_assert_eq!(&*ours, &dalek.sign(&message).to_bytes()[..]);
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
        let decoded =
            jsonwebtoken::decode::<Claims>(&token, &jsonwebtoken::DecodingKey::from_secret(&secret), &validation)
                .unwrap();
        assert_eq!(decoded.claims, claims);
        let v = Verifier::new(
            KeySet::from_keys([VerificationKey::hs256("long", &secret).unwrap()]).unwrap(),
            full_validation(),
        );
        assert_eq!(v.verify_str::<Claims>(&token, at(T0)).unwrap().claims(), &claims);
    }

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

    #[test]
    fn a_jwk_set_reads_back_the_keys_it_was_made_from() {
        let a = SigningKey::generate_ed25519("a").unwrap().verification_key();
        let b = SigningKey::generate_ed25519("b").unwrap().verification_key();
        let set = KeySet::from_keys([a.clone(), b.clone()]).unwrap();
        let text = serde_json::to_vec(&set.jwks()).unwrap();
        let back = KeySet::from_jwks_json(&text).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back.get("a").unwrap().ed25519_public_key(), a.ed25519_public_key());
        assert_eq!(back.get("b").unwrap().ed25519_public_key(), b.ed25519_public_key());
    }

    #[test]
    fn a_jwk_set_skips_other_keys_and_refuses_broken_ones() {
        let a = SigningKey::generate_ed25519("a").unwrap().verification_key();
        let mut jwk = a.to_jwk().unwrap();
        let rsa = json!({"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "r"});
        let enc = json!({"kty": "OKP", "crv": "Ed25519", "x": jwk["x"], "kid": "e", "use": "enc"});
        let text = serde_json::to_vec(&json!({"keys": [jwk.clone(), rsa, enc]})).unwrap();
        let set = KeySet::from_jwks_json(&text).unwrap();
        assert_eq!(set.len(), 1);
        assert!(set.get("a").is_some());
        assert_eq!(KeySet::from_jwks_json(b"[]").unwrap_err(), KeyError::InvalidJwk);
        jwk["x"] = json!("AAAA");
        let text = serde_json::to_vec(&json!({"keys": [jwk]})).unwrap();
        assert_eq!(KeySet::from_jwks_json(&text).unwrap_err(), KeyError::WrongLength(3));
        let twice = serde_json::to_vec(&json!({"keys": [a.to_jwk(), a.to_jwk()]})).unwrap();
        assert_eq!(
            KeySet::from_jwks_json(&twice).unwrap_err(),
            KeyError::DuplicateKid("a".to_owned())
        );
    }
}
