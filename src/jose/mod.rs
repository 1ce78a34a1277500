//! JOSE: compact JWS tokens — algorithms, keys, signing and verification.
//!
//! This layer knows nothing of the protocols built on it: the claims of an
//! `id_token`, a handshake token or a widget token, their token types and
//! the `jwt_error` reasons shown to readers live with those protocols. It
//! depends only on the crate's dependencies.
//!
//! A [`TokenSigner`] signs claims with one [`SigningKey`]; a [`Verifier`]
//! holding a [`KeySet`] (several keys, for rotation) and a [`Validation`]
//! verifies them.
//!
//! | file | concern |
//! |---|---|
//! | `algorithm.rs` | [`Algorithm`] |
//! | `keys.rs` | [`SigningKey`], [`VerificationKey`], [`KeySet`] and its JWK Set |
//! | `sign.rs` | [`TokenSigner`] |
//! | `untrusted.rs` | [`UntrustedToken`]: size, shape and header |
//! | `token_type.rs` | [`TokenType`], the `typ` header |
//! | `validation.rs` | [`Validation`]: registered claims |
//! | `verify.rs` | [`Verifier`], [`Verified`] |
//! | `error.rs` | [`KeyError`], [`SignError`], [`VerifyError`] |
//!
//! # Trust typestate
//!
//! A token string becomes an [`UntrustedToken`] by [`UntrustedToken::parse`],
//! which checks its size and shape and reads its header. An untrusted token
//! tells only its `kid`, algorithm and `typ`, never its claims. Claims come
//! out of [`Verifier::verify`] alone, as [`Verified`] claims.
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
//!    [`TokenType`], so a token of one kind is never accepted as another
//!    even where its audience would pass.
//! 8. The caller's claims type, deserialized from the same decoded payload.
//!    Use a typed struct: a `serde_json::Value` silently keeps the last of
//!    two duplicate keys.
//!
//! # Why verification is done here and not by `jsonwebtoken`
//!
//! The `jsonwebtoken` crate is not a dependency of this crate; its tests
//! check that the two interoperate, both ways, for `EdDSA` and `HS256`.
//! Its version 11.1 (`rust_crypto` backend) would not give the guarantees
//! above:
//!
//! - **Non-strict Ed25519.** It verifies `EdDSA` with ed25519-dalek's
//!   `verify`, not `verify_strict`, and accepts any public key that decodes:
//!   with a weak (small-order) key such as the identity point, the signature
//!   `R = identity, s = 0` verifies for any claims (a test here shows it).
//!   We refuse weak keys when they are built and verify strictly.
//! - **Panics on short keys.** An Ed25519 key shorter than 32 bytes makes
//!   its verifier panic (it slices `[..32]`); a longer one is silently cut.
//!   We accept exactly 32 bytes, or SPKI PEM, and answer errors.
//! - **The system clock.** `decode` reads `SystemTime::now()`; time here is
//!   always the `now` the caller passes, so a settable clock controls every
//!   expiry.
//! - **Lax `aud` and `iss`.** A missing `aud` passes even with an audience
//!   set, and `aud: 123` or `iss: 42` pass unless listed as required claims.
//!   Here a configured audience or issuer is required and must be a string
//!   (or, for `aud`, an array of strings).
//! - **No `crit`.** The `crit` header is ignored; here it is refused.
//! - **No `Ed25519` name.** The RFC 9864 algorithm name `Ed25519` is refused
//!   as unknown; newer customer libraries emit it, and here it is accepted
//!   for Ed25519 keys.
//! - **Loose registered claims.** The default leeway is 60 s (here 30 s, at
//!   most [`MAX_LEEWAY_SECS`]); `iat` is never checked (here required and
//!   never in the future, with an optional maximum lifetime); `nbf` is not
//!   checked unless turned on; `exp = 2^64 - 1` is accepted (here dates end
//!   with year 9999).
//!
//! Leaving it out of the build also keeps `rsa`, `p256` and `p384` out of
//! every user's dependency graph.
//!
//! # Keys
//!
//! HMAC secrets have at least [`MIN_HMAC_SECRET_LEN`] bytes (an empty HMAC key
//! would verify anything signed with an empty key). Ed25519 public keys are
//! exactly 32 bytes, a valid curve point, and not weak (small order): a weak
//! key verifies a forged signature for any claims.

mod algorithm;
mod error;
mod keys;
mod sign;
mod token_type;
mod untrusted;
mod validation;
mod verify;

#[cfg(test)]
mod test_support;

pub use algorithm::Algorithm;
pub use error::{KeyError, SignError, VerifyError};
pub use keys::{KeySet, SigningKey, VerificationKey};
pub use sign::TokenSigner;
pub use token_type::TokenType;
pub use untrusted::UntrustedToken;
pub use validation::Validation;
pub use verify::{Verified, Verifier};

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
