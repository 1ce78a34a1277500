//! Reader sessions, carried in a cookie the KB signs with its own key.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::secret::ClientId;

/// The session cookie's name on plain http.
pub const SESSION_COOKIE: &str = "kb_session";
/// The session cookie's name on https: the `__Host-` prefix binds it to the
/// KB's own host (`Secure`, `Path=/`, no `Domain`).
pub const SECURE_SESSION_COOKIE: &str = "__Host-kb_session";
/// The cookie a customer app may set with a handshake token (HelpSite).
pub const HANDSHAKE_COOKIE: &str = "jwt";
/// The cookie holding the login binding verifier (DESIGN 3.14) on plain
/// http, scoped to the callback path.
pub const VERIFIER_COOKIE: &str = "kb_login_verifier";
/// The login binding cookie on https. The `__Host-` prefix makes the
/// browser refuse it from any other host (a sibling subdomain cannot plant
/// a verifier it knows), which requires `Path=/`.
pub const SECURE_VERIFIER_COOKIE: &str = "__Host-kb_login_verifier";
/// The longest a code-flow session can last: the longest token validity,
/// 1440 minutes, plus a minute (revocations are kept this long).
pub const MAX_CODE_FLOW_SESSION: Duration = Duration::minutes(1441);
/// How long a session opened by a handshake token lasts unless its
/// configuration says otherwise.
pub const DEFAULT_SESSION_DURATION: Duration = Duration::days(14);
/// The longest session duration a handshake configuration may set.
pub const MAX_SESSION_DURATION: Duration = Duration::days(365);
/// The longest cookie value accepted, in bytes (browsers keep about 4 KiB).
pub const MAX_COOKIE_LEN: usize = 4096;
/// The longest cookie value [`SessionCodec::encode`] makes, in bytes: with
/// the cookie's name and attributes the whole `Set-Cookie` line stays under
/// the 4,096 bytes every browser keeps, so a session is never issued and
/// then dropped.
pub const MAX_ENCODED_LEN: usize = 3_900;
/// The shortest HMAC key accepted, in bytes.
pub const MIN_KEY_LEN: usize = 32;

const VERSION: &str = "v1";

/// Base64url characters of an HMAC-SHA256 tag (32 bytes, no padding).
const TAG_B64_LEN: usize = 43;

/// Base64url characters (no padding) of `n` bytes.
const fn base64_len(n: usize) -> usize {
    (n * 4).div_ceil(3)
}

/// A reader signed in to the KB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReaderSession {
    /// The reader's username in the customer app (`sub`).
    #[serde(rename = "sub")]
    pub username: String,
    /// Email address, as sent.
    pub email: String,
    /// Given name.
    #[serde(rename = "gn")]
    pub first_name: String,
    /// Family name.
    #[serde(rename = "fn")]
    pub last_name: String,
    /// Reader group ids.
    #[serde(rename = "grp")]
    pub groups: Vec<String>,
    /// The JWT configuration the reader came through.
    #[serde(rename = "cid")]
    pub client_id: ClientId,
    /// The id of the token the session was made from.
    pub jti: String,
    /// When the session ends: the token's expiry.
    #[serde(rename = "exp", with = "time::serde::timestamp")]
    pub expires_at: OffsetDateTime,
}

/// The room, in bytes, a session cookie has for a reader identity as
/// [`ReaderIdentity::token_bytes`](crate::reader::ReaderIdentity::token_bytes)
/// counts it: a code-flow session of any identity within it encodes to at
/// most [`MAX_ENCODED_LEN`] bytes. A KB site caps code requests at this, so
/// that every code issued can open a session.
pub fn session_identity_room() -> usize {
    // The identity-free part at its longest: a client id, a 43-character
    // jti and a 12-digit expiry.
    let empty = ReaderSession {
        username: String::new(),
        email: String::new(),
        first_name: String::new(),
        last_name: String::new(),
        groups: Vec::new(),
        client_id: ClientId::parse("00000000-0000-4000-8000-000000000000").unwrap_or_else(|_| ClientId::generate()),
        jti: "A".repeat(crate::secret::RANDOM_TOKEN_LEN),
        expires_at: OffsetDateTime::from_unix_timestamp(crate::jose::MAX_NUMERIC_DATE)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH),
    };
    let fixed = serde_json::to_vec(&empty).map_or(0, |j| j.len());
    let json_room = (MAX_ENCODED_LEN - VERSION.len() - 2 - TAG_B64_LEN) * 3 / 4;
    json_room.saturating_sub(fixed)
}

impl ReaderSession {
    /// Whether the session is still open at `now`.
    pub fn is_valid_at(&self, now: OffsetDateTime) -> bool {
        now < self.expires_at
    }
}

/// Why a session cookie is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The cookie is not one this codec made (bad shape, bad tag, wrong key).
    #[error("the session cookie is not valid")]
    Invalid,
    /// The session has expired.
    #[error("the session has expired")]
    Expired,
    /// The session key is shorter than [`MIN_KEY_LEN`] bytes.
    #[error("the session key must be at least {MIN_KEY_LEN} bytes")]
    WeakKey,
    /// The session is too large for a cookie a browser keeps: the reader's
    /// identity (for example a long group list) must be smaller.
    #[error("the reader's session would be {len} bytes, over the {MAX_ENCODED_LEN} a cookie can hold")]
    TooLarge {
        /// The cookie value's length, in bytes.
        len: usize,
    },
}

/// Reader sessions, carried in a cookie the KB signs with its own key.
///
/// A [`ReaderSession`] is made from verified token claims and lasts as long
/// as the token did. [`SessionCodec`] turns it into a cookie value
/// (`v1.<payload>.<tag>`, HMAC-SHA256 over the payload with the KB's own key)
/// and back. Checking a cookie costs one HMAC and one small JSON parse: it
/// runs on every page view.
///
/// A session outlives the customer app's session (logging out there does not
/// log out here); it ends when it expires or the reader logs out of the KB.
///
/// Signs and checks session cookies with the KB's own HMAC key.
#[derive(Clone)]
pub struct SessionCodec {
    mac: Hmac<Sha256>,
}

impl fmt::Debug for SessionCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionCodec { key: [redacted] }")
    }
}

impl SessionCodec {
    /// A codec keyed with `key` (at least 32 bytes, for example
    /// [`SessionCodec::generate_key`]).
    ///
    /// # Errors
    /// [`SessionError::WeakKey`] for a key under 32 bytes.
    pub fn new(key: &[u8]) -> Result<Self, SessionError> {
        if key.len() < MIN_KEY_LEN {
            return Err(SessionError::WeakKey);
        }
        let mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| SessionError::WeakKey)?;
        Ok(Self { mac })
    }

    /// 32 fresh random bytes for [`SessionCodec::new`].
    pub fn generate_key() -> Zeroizing<[u8; 32]> {
        use rand_core::{OsRng, RngCore};
        let mut key = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(key.as_mut());
        key
    }

    /// The cookie value for `session`.
    ///
    /// # Errors
    /// [`SessionError::TooLarge`] when the value would be longer than
    /// [`MAX_ENCODED_LEN`] (a browser would drop the cookie and the reader
    /// would be sent to sign in again and again).
    pub fn encode(&self, session: &ReaderSession) -> Result<String, SessionError> {
        // Serialising a struct of strings and integers cannot fail.
        let json = serde_json::to_vec(session).unwrap_or_default();
        let len = VERSION.len() + 2 + base64_len(json.len()) + TAG_B64_LEN;
        if len > MAX_ENCODED_LEN {
            return Err(SessionError::TooLarge { len });
        }
        let payload = URL_SAFE_NO_PAD.encode(json);
        let mut mac = self.mac.clone();
        mac.update(VERSION.as_bytes());
        mac.update(b".");
        mac.update(payload.as_bytes());
        let tag = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        Ok(format!("{VERSION}.{payload}.{tag}"))
    }

    /// Checks a cookie value and returns its session if it is still open at
    /// `now`. The tag is checked (in constant time) before anything in the
    /// payload is read.
    ///
    /// # Errors
    /// [`SessionError::Invalid`] or [`SessionError::Expired`].
    pub fn decode(&self, cookie: &str, now: OffsetDateTime) -> Result<ReaderSession, SessionError> {
        if cookie.len() > MAX_COOKIE_LEN {
            return Err(SessionError::Invalid);
        }
        let (signed, tag) = cookie.rsplit_once('.').ok_or(SessionError::Invalid)?;
        let (version, payload) = signed.split_once('.').ok_or(SessionError::Invalid)?;
        if version != VERSION {
            return Err(SessionError::Invalid);
        }
        let tag = URL_SAFE_NO_PAD
            .decode(tag.as_bytes())
            .map_err(|_| SessionError::Invalid)?;
        let mut mac = self.mac.clone();
        mac.update(signed.as_bytes());
        mac.verify_slice(&tag).map_err(|_| SessionError::Invalid)?;
        let json = URL_SAFE_NO_PAD
            .decode(payload.as_bytes())
            .map_err(|_| SessionError::Invalid)?;
        let session: ReaderSession = serde_json::from_slice(&json).map_err(|_| SessionError::Invalid)?;
        if !session.is_valid_at(now) {
            return Err(SessionError::Expired);
        }
        Ok(session)
    }
}

/// Sessions the KB has revoked before their expiry (for example, the
/// session opened by a code that was then used a second time).
///
/// # Contract
/// [`revoke`](Self::revoke) takes effect for every later
/// [`is_revoked`](Self::is_revoked) call, on every instance sharing the
/// store; an entry may be forgotten after its `until`, when the session
/// would have expired anyway.
pub trait SessionRevocations: Send + Sync {
    /// The store's own failure.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Revokes the session with this id (its token's `jti`) until `until`;
    /// `now` is the time of the revocation (entries whose `until` has passed
    /// by then may be forgotten).
    fn revoke(
        &self,
        session_id: &str,
        until: OffsetDateTime,
        now: OffsetDateTime,
    ) -> impl std::future::Future<Output = Result<(), Self::Error>> + Send;

    /// Whether the session with this id is revoked at `now`.
    fn is_revoked(
        &self,
        session_id: &str,
        now: OffsetDateTime,
    ) -> impl std::future::Future<Output = Result<bool, Self::Error>> + Send;
}

crate::forward::forward_store!(SessionRevocations {
    type Error = T::Error;
    fn revoke(&self, session_id: &str, until: OffsetDateTime, now: OffsetDateTime) -> impl std::future::Future<Output = Result<(), Self::Error>> + Send {
        (**self).revoke(session_id, until, now)
    }
    fn is_revoked(&self, session_id: &str, now: OffsetDateTime) -> impl std::future::Future<Output = Result<bool, Self::Error>> + Send {
        (**self).is_revoked(session_id, now)
    }
});

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use time::{Duration, macros::datetime};

    fn session(exp: OffsetDateTime) -> ReaderSession {
        ReaderSession {
            username: "john.doe".into(),
            email: "John.Doe@Example.com".into(),
            first_name: "John".into(),
            last_name: "Doe".into(),
            groups: vec!["g1".into()],
            client_id: ClientId::generate(),
            jti: "abc".into(),
            expires_at: exp,
        }
    }

    #[test]
    fn round_trip_until_expiry() {
        let codec = SessionCodec::new(&[7u8; 32]).unwrap();
        let t0 = datetime!(2026-01-01 00:00 UTC);
        let s = session(t0 + Duration::minutes(15));
        let cookie = codec.encode(&s).unwrap();
        assert!(cookie.is_ascii() && !cookie.contains([';', ' ', ',']));
        assert_eq!(codec.decode(&cookie, t0).unwrap(), s);
        assert_eq!(
            codec.decode(&cookie, t0 + Duration::minutes(15)),
            Err(SessionError::Expired)
        );
    }

    #[test]
    fn tampering_or_another_key_is_refused() {
        let codec = SessionCodec::new(&[7u8; 32]).unwrap();
        let other = SessionCodec::new(&[8u8; 32]).unwrap();
        let t0 = datetime!(2026-01-01 00:00 UTC);
        let cookie = codec.encode(&session(t0 + Duration::minutes(15))).unwrap();
        assert_eq!(other.decode(&cookie, t0), Err(SessionError::Invalid));
        // Re-sign a payload with more groups under a guessed key: refused.
        let mut forged = session(t0 + Duration::days(365));
        forged.groups = vec!["admins".into()];
        let forged = other.encode(&forged).unwrap();
        assert_eq!(codec.decode(&forged, t0), Err(SessionError::Invalid));
        // Flip one character anywhere: refused.
        for i in 0..cookie.len() {
            let mut bytes = cookie.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let s = String::from_utf8(bytes).unwrap();
            if s != cookie {
                assert!(codec.decode(&s, t0).is_err(), "flip at {i}");
            }
        }
        for junk in ["", ".", "v1..", "v2.a.b", "v1.a", &"v".repeat(MAX_COOKIE_LEN + 1)] {
            assert_eq!(codec.decode(junk, t0), Err(SessionError::Invalid), "{junk:?}");
        }
    }

    #[test]
    fn weak_keys_are_refused_and_debug_is_redacted() {
        assert_eq!(SessionCodec::new(&[1u8; 31]).unwrap_err(), SessionError::WeakKey);
        assert_eq!(SessionCodec::new(b"").unwrap_err(), SessionError::WeakKey);
        let codec = SessionCodec::new(&[0x41u8; 32]).unwrap();
        assert!(!format!("{codec:?}").contains("AAAA"));
    }

    proptest::proptest! {
        /// A session is either encoded into a value a browser keeps (and
        /// that decodes back to it) or refused up front: never a cookie
        /// over the limit.
        #[test]
        fn encoded_sessions_fit_in_a_cookie_or_are_refused(groups in 0usize..200, len in 1usize..40) {
            let codec = SessionCodec::new(&[7u8; 32]).unwrap();
            let t0 = datetime!(2026-01-01 00:00 UTC);
            let mut s = session(t0 + Duration::minutes(15));
            s.groups = (0..groups).map(|i| format!("{i:0len$}")).collect();
            match codec.encode(&s) {
                Ok(cookie) => {
                    proptest::prop_assert!(cookie.len() <= MAX_ENCODED_LEN);
                    proptest::prop_assert_eq!(codec.decode(&cookie, t0).unwrap(), s);
                }
                Err(SessionError::TooLarge { len }) => {
                    proptest::prop_assert!(len > MAX_ENCODED_LEN);
                    let json = serde_json::to_vec(&s).unwrap();
                    proptest::prop_assert_eq!(len, 3 + URL_SAFE_NO_PAD.encode(json).len() + 1 + TAG_B64_LEN);
                }
                Err(e) => proptest::prop_assert!(false, "unexpected {e:?}"),
            }
        }
    }
}
