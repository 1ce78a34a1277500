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
//! | `base64url.rs` | decoding base64url on the hot paths |
//! | `keys.rs` | [`SigningKey`], [`VerificationKey`], [`KeySet`] and its JWK Set |
//! | `sign.rs` | [`TokenSigner`] |
//! | `untrusted.rs` | [`UntrustedToken`]: size, shape and header |
//! | `token_type.rs` | [`TokenType`], the `typ` header |
//! | `validation.rs` | [`Validation`]: registered claims |
//! | `verify.rs` | [`Verifier`], [`Verified`] |
//! | `error.rs` | [`KeyError`], [`SignError`], [`VerifyError`] |
//!
//! What verification checks, and why it is done here rather than by
//! `jsonwebtoken`, is documented on [`Verifier`].

mod algorithm;
pub(crate) mod base64url;
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
pub(crate) use untrusted::{HeaderMemo, Text};
pub(crate) use validation::Registered;
pub use validation::{Audience, Validation};
pub(crate) use verify::OnePassClaims;
#[cfg(test)]
pub(crate) use verify::work;
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
