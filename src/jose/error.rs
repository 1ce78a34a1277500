//! The errors of building keys, signing and verifying.

use super::MAX_TOKEN_LEN;

/// A key could not be built or added to a key set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key id is empty, longer than 256 bytes, or not printable ASCII.
    #[error("key id must be 1 to 256 printable ASCII characters")]
    InvalidKid,
    /// The HMAC secret is shorter than [`MIN_HMAC_SECRET_LEN`](super::MIN_HMAC_SECRET_LEN).
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
    /// A JWK Set is not JSON `{"keys":[...]}`, or a key in it is not an
    /// Ed25519 public key (`"kty":"OKP","crv":"Ed25519"`, `x`, `kid`).
    #[error("not a JWK Set of Ed25519 public keys")]
    InvalidJwk,
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
/// `Display` gives the detail, for logs. What a reader is told is the
/// protocol's business: the handshake maps these to its coarser `jwt_error`
/// reasons.
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
    /// ([`Validation::token_type`](super::Validation::token_type)), or is missing: a token of another kind.
    #[error("token type is not the expected type")]
    WrongType,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn messages() {
        use VerifyError as E;
        for err in [
            E::TooLarge,
            E::Malformed,
            E::UnsupportedHeader,
            E::UnsupportedAlgorithm,
            E::MissingClaim("exp"),
            E::UnknownKey,
            E::AlgorithmMismatch,
            E::BadSignature,
            E::Expired,
            E::TooOld,
            E::NotYetValid,
            E::IssuedInFuture,
            E::WrongAudience,
            E::WrongIssuer,
            E::WrongType,
        ] {
            assert!(!err.to_string().is_empty(), "{err:?}");
        }
        assert_eq!(
            E::MissingClaim("iat").to_string(),
            "token lacks the required claim `iat`"
        );
    }
}
