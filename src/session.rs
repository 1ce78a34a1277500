//! Reader sessions, carried in a cookie the KB signs with its own key.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::jose::base64url;
use crate::reader::{MAX_FIELD_CHARS, MAX_READER_GROUPS};
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
/// The longest cookie value a browser keeps, in bytes (about 4 KiB). A
/// session cookie is at most [`MAX_ENCODED_LEN`]: a longer value is refused
/// unread.
pub const MAX_COOKIE_LEN: usize = 4096;
/// The longest cookie value [`SessionCodec::encode`] makes, in bytes: with
/// the cookie's name and attributes the whole `Set-Cookie` line stays under
/// the 4,096 bytes every browser keeps, so a session is never issued and
/// then dropped.
pub const MAX_ENCODED_LEN: usize = 3_900;
/// The shortest HMAC key accepted, in bytes.
pub const MIN_KEY_LEN: usize = 32;
/// The most keys a [`SessionCodec`] accepts: the current one and up to
/// seven previous ones (an invalid cookie costs one HMAC per key).
pub const MAX_SESSION_KEYS: usize = 8;

/// The layout's version: the first byte of every cookie [`SessionCodec`]
/// makes. Version 1 (text `v1.<JSON>.<tag>`) and version 2 (without the
/// display name, claims and token binding) are no longer read.
const VERSION: u8 = 3;
/// The first byte of a return-target cookie's layout: never a session
/// version, so that neither cookie can stand for the other.
const RETURN_KIND: u8 = 0x52;
/// The longest the reader's other claims may be in a session, as compact
/// JSON text, in bytes.
pub const MAX_SESSION_CLAIMS_BYTES: usize = 1024;
/// The cookie remembering the page a reader asked for while signing in,
/// on plain http.
pub const RETURN_COOKIE: &str = "kb_return";
/// The return-target cookie on https (host-only).
pub const SECURE_RETURN_COOKIE: &str = "__Host-kb_return";
/// How long the return-target cookie lasts.
pub const RETURN_COOKIE_LIFETIME: Duration = Duration::minutes(10);
/// Bytes of a [`TokenBinding`] in the layout.
const BINDING_LEN: usize = 8 + 16;
/// Bytes of the HMAC-SHA256 tag at the end of the layout.
const TAG_LEN: usize = 32;
/// Bytes of the layout that do not depend on the session: the version,
/// the expiry (8), the client id (16), seven string lengths (2 each), the
/// group count (1), the binding flag (1) and the tag.
const FIXED_LEN: usize = 1 + 8 + 16 + 7 * 2 + 1 + 1 + TAG_LEN;
/// The longest layout whose base64url text fits [`MAX_ENCODED_LEN`].
const MAX_RAW_LEN: usize = MAX_ENCODED_LEN * 3 / 4;

/// The stack buffer [`SessionCodec::decode`] reads most cookies into.
const SMALL_RAW_LEN: usize = 768;
/// The longest cookie whose layout surely fits [`SMALL_RAW_LEN`].
const MAX_SMALL_COOKIE_LEN: usize = SMALL_RAW_LEN / 3 * 4;

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
    /// The reader's display name as the token gave it (`name`), or empty;
    /// see [`display_name`](Self::display_name).
    #[serde(default)]
    pub name: String,
    /// The token's other claims (for example `host`, `company`), at most
    /// [`MAX_SESSION_CLAIMS_BYTES`] bytes of JSON in all.
    #[serde(default)]
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// For a session bound to its handshake token (session mode `token`):
    /// which key verified the token, and which token it was.
    #[serde(default)]
    pub binding: Option<TokenBinding>,
}

/// What ties a session of session mode `token` to its handshake token: the
/// fingerprint of the key that verified it (a regenerated secret or key
/// pair ends the session) and a digest of the token itself (the same
/// `jwt` cookie sent again does not reopen the session).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TokenBinding {
    /// [`HandshakeKey::fingerprint`](crate::HandshakeKey::fingerprint) of
    /// the verifying configuration's key.
    pub key: [u8; 8],
    /// [`TokenBinding::digest`] of the token.
    pub token: [u8; 16],
}

impl TokenBinding {
    /// The first 16 bytes of SHA-256 of `token`, as sent.
    #[must_use]
    pub fn digest(token: &str) -> [u8; 16] {
        use sha2::Digest as _;
        let full = Sha256::digest(token.as_bytes());
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        out
    }
}

/// The room, in bytes, a session cookie has for a reader identity as
/// [`ReaderIdentity::token_bytes`](crate::reader::ReaderIdentity::token_bytes)
/// counts it: a code-flow session of any identity within it encodes to at
/// most [`MAX_ENCODED_LEN`] bytes. A KB site caps code requests at this, so
/// that every code issued can open a session.
pub fn session_identity_room() -> usize {
    // The identity adds its strings' bytes and two bytes a group to the
    // layout; its token bytes count each string at least once and two
    // quotes a group. The identity-free part at its longest holds a
    // 43-character jti.
    MAX_RAW_LEN - FIXED_LEN - crate::secret::RANDOM_TOKEN_LEN
}

impl ReaderSession {
    /// The name to greet the reader by: [`name`](Self::name), else the
    /// first and last names, else the username.
    #[must_use]
    pub fn display_name(&self) -> String {
        if !self.name.is_empty() {
            return self.name.clone();
        }
        let full = format!("{} {}", self.first_name, self.last_name);
        let full = full.trim();
        if full.is_empty() {
            self.username.clone()
        } else {
            full.to_owned()
        }
    }

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
    /// The session key is shorter than [`MIN_KEY_LEN`] bytes (or a key
    /// list is empty or longer than [`MAX_SESSION_KEYS`]).
    #[error("session keys must be 1 to {MAX_SESSION_KEYS} keys of at least {MIN_KEY_LEN} bytes")]
    WeakKey,
    /// A field of the session is longer than [`MAX_FIELD_CHARS`] characters
    /// or it has more than [`MAX_READER_GROUPS`] groups: the reader limits
    /// every flow checks, which a session cookie is read back within.
    #[error(
        "the reader's session has a field over {MAX_FIELD_CHARS} characters or more than {MAX_READER_GROUPS} groups"
    )]
    OverReaderLimits,
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
/// as the token did. [`SessionCodec`] turns it into a cookie value and back:
/// the value is the base64url text (no padding) of a compact binary layout
/// followed by its HMAC-SHA256 tag under the KB's own key:
///
/// ```text
/// version 0x02 | expiry i64 BE (Unix seconds) | client id (16 UUID bytes)
/// | username | email | first name | last name | jti
/// | group count (1 byte) | group × count | HMAC-SHA256 tag (32 bytes)
/// ```
///
/// where each string is a big-endian `u16` byte length and that many bytes
/// of UTF-8. Checking a cookie costs one base64 pass, one HMAC (checked in
/// constant time before any field is read) and a bounds-checked read of the
/// fields: it runs on every page view. The reader is strict: a wrong
/// version, a length beyond the input, bytes left over, invalid UTF-8, a
/// field over [`MAX_FIELD_CHARS`] characters or more than
/// [`MAX_READER_GROUPS`] groups is [`SessionError::Invalid`], whatever the
/// tag. Cookies of the earlier text layout (`v1.…`) are refused: their
/// readers sign in again.
///
/// A session outlives the customer app's session (logging out there does not
/// log out here); it ends when it expires or the reader logs out of the KB.
///
/// Signs and checks session cookies with the KB's own HMAC key. With
/// several keys ([`SessionCodec::with_keys`]) it signs with the first (the
/// current key) and accepts a cookie signed by any of them, so that a new
/// key can be rotated in without signing readers out.
#[derive(Clone)]
pub struct SessionCodec {
    /// The current key first, then the previous keys still accepted.
    macs: Vec<Hmac<Sha256>>,
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
        Self::with_keys([key])
    }

    /// A codec that signs with the first of `keys` (the current key) and
    /// accepts cookies signed with any of them (the previous keys, kept
    /// until the sessions they signed have expired). The cookie's layout is
    /// the same whatever the key; a cookie is checked against each key in
    /// turn, each comparison in constant time.
    ///
    /// # Errors
    /// [`SessionError::WeakKey`] when there is no key, more than
    /// [`MAX_SESSION_KEYS`], or one under 32 bytes.
    pub fn with_keys<K: AsRef<[u8]>>(keys: impl IntoIterator<Item = K>) -> Result<Self, SessionError> {
        let mut macs = Vec::new();
        for key in keys {
            let key = key.as_ref();
            if key.len() < MIN_KEY_LEN || macs.len() == MAX_SESSION_KEYS {
                return Err(SessionError::WeakKey);
            }
            macs.push(Hmac::<Sha256>::new_from_slice(key).map_err(|_| SessionError::WeakKey)?);
        }
        if macs.is_empty() {
            return Err(SessionError::WeakKey);
        }
        Ok(Self { macs })
    }

    /// How many keys the codec accepts (the current one and the previous
    /// ones).
    pub fn key_count(&self) -> usize {
        self.macs.len()
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
    /// [`SessionError::OverReaderLimits`] when a field is longer than
    /// [`MAX_FIELD_CHARS`] characters or there are more than
    /// [`MAX_READER_GROUPS`] groups (the cookie could not be read back);
    /// [`SessionError::TooLarge`] when the value would be longer than
    /// [`MAX_ENCODED_LEN`] (a browser would drop the cookie and the reader
    /// would be sent to sign in again and again).
    pub fn encode(&self, session: &ReaderSession) -> Result<String, SessionError> {
        let raw = self.layout(session)?;
        Ok(URL_SAFE_NO_PAD.encode(raw))
    }

    /// [`encode`](Self::encode), as the signed layout, for a caller that
    /// writes the value into a longer text (the `Set-Cookie` line).
    ///
    /// # Errors
    /// As [`encode`](Self::encode).
    #[cfg(feature = "server")]
    pub(crate) fn seal(&self, session: &ReaderSession) -> Result<SealedSession, SessionError> {
        self.layout(session).map(SealedSession)
    }

    /// The signed layout of `session` (fields, then tag), checked against
    /// the reader limits and [`MAX_ENCODED_LEN`].
    fn layout(&self, session: &ReaderSession) -> Result<Vec<u8>, SessionError> {
        let texts = [
            &session.username,
            &session.email,
            &session.first_name,
            &session.last_name,
            &session.name,
            &session.jti,
        ];
        let groups = &session.groups;
        if groups.len() > MAX_READER_GROUPS || !texts.into_iter().chain(groups).all(|t| within_field_limit(t)) {
            return Err(SessionError::OverReaderLimits);
        }
        let claims = if session.claims.is_empty() {
            String::new()
        } else {
            serde_json::to_string(&session.claims).map_err(|_| SessionError::OverReaderLimits)?
        };
        if claims.len() > MAX_SESSION_CLAIMS_BYTES {
            return Err(SessionError::OverReaderLimits);
        }
        let raw_len = FIXED_LEN
            + texts.iter().map(|t| t.len()).sum::<usize>()
            + claims.len()
            + groups.iter().map(|g| 2 + g.len()).sum::<usize>()
            + if session.binding.is_some() { BINDING_LEN } else { 0 };
        let len = base64_len(raw_len);
        if len > MAX_ENCODED_LEN {
            return Err(SessionError::TooLarge { len });
        }
        let mut raw = Vec::with_capacity(raw_len);
        raw.push(VERSION);
        raw.extend_from_slice(&session.expires_at.unix_timestamp().to_be_bytes());
        raw.extend_from_slice(&session.client_id.uuid_bytes());
        for text in texts {
            put_text(&mut raw, text)?;
        }
        put_text(&mut raw, &claims)?;
        raw.push(u8::try_from(groups.len()).map_err(|_| SessionError::OverReaderLimits)?);
        for group in groups {
            put_text(&mut raw, group)?;
        }
        match &session.binding {
            None => raw.push(0),
            Some(b) => {
                raw.push(1);
                raw.extend_from_slice(&b.key);
                raw.extend_from_slice(&b.token);
            }
        }
        let current = self.macs.first().ok_or(SessionError::WeakKey)?;
        let mut mac = current.clone();
        mac.update(&raw);
        raw.extend_from_slice(&mac.finalize().into_bytes());
        Ok(raw)
    }

    /// Checks a cookie value and returns its session if it is still open at
    /// `now`. The tag is checked (in constant time) before anything in the
    /// layout is read.
    ///
    /// # Errors
    /// [`SessionError::Invalid`] for any value this codec did not make
    /// (wrong key, edited, truncated, another layout), or
    /// [`SessionError::Expired`].
    pub fn decode(&self, cookie: &str, now: OffsetDateTime) -> Result<ReaderSession, SessionError> {
        if cookie.len() > MAX_ENCODED_LEN {
            return Err(SessionError::Invalid);
        }
        // Most cookies fit a small buffer on the stack; the rest go to the
        // heap rather than zero a buffer of the longest size every time.
        let mut small = [0u8; SMALL_RAW_LEN];
        let mut large = Vec::new();
        let buf = if cookie.len() <= MAX_SMALL_COOKIE_LEN {
            &mut small[..]
        } else {
            large.resize(MAX_RAW_LEN, 0);
            &mut large[..]
        };
        let raw = base64url::decode_into(cookie.as_bytes(), buf).ok_or(SessionError::Invalid)?;
        let n = raw.len();
        let (signed, tag) = raw
            .split_at_checked(n.checked_sub(TAG_LEN).ok_or(SessionError::Invalid)?)
            .ok_or(SessionError::Invalid)?;
        // The current key first: most cookies are signed with it.
        let signed_here = self.macs.iter().any(|key| {
            let mut mac = key.clone();
            mac.update(signed);
            mac.verify_slice(tag).is_ok()
        });
        if !signed_here {
            return Err(SessionError::Invalid);
        }
        let session = read_layout(signed)?;
        if !session.is_valid_at(now) {
            return Err(SessionError::Expired);
        }
        Ok(session)
    }
}

impl SessionCodec {
    /// The value of the return-target cookie for `path` (the page a reader
    /// asked for before being sent to sign in), valid until `now` plus
    /// [`RETURN_COOKIE_LIFETIME`], tagged with the session key under its
    /// own layout (`0x52 | expiry i64 BE | path | tag`), so that it can
    /// never pass for a session cookie.
    #[must_use]
    pub fn seal_return(&self, path: &str, now: OffsetDateTime) -> String {
        let expires = now.saturating_add(RETURN_COOKIE_LIFETIME).unix_timestamp();
        let mut raw = Vec::with_capacity(1 + 8 + path.len() + TAG_LEN);
        raw.push(RETURN_KIND);
        raw.extend_from_slice(&expires.to_be_bytes());
        raw.extend_from_slice(path.as_bytes());
        // A codec always holds at least one key (`with_keys` refuses none).
        if let Some(current) = self.macs.first() {
            let mut mac = current.clone();
            mac.update(&raw);
            raw.extend_from_slice(&mac.finalize().into_bytes());
        }
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// The path in a return-target cookie value this codec made, if its tag
    /// is right and it has not expired at `now`. The caller still passes
    /// it through the redirect policy.
    #[must_use]
    pub fn open_return(&self, value: &str, now: OffsetDateTime) -> Option<String> {
        if value.len() > MAX_ENCODED_LEN {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(value).ok()?;
        let (signed, tag) = raw.split_at_checked(raw.len().checked_sub(TAG_LEN)?)?;
        let signed_here = self.macs.iter().any(|key| {
            let mut mac = key.clone();
            mac.update(signed);
            mac.verify_slice(tag).is_ok()
        });
        if !signed_here {
            return None;
        }
        let (kind, rest) = signed.split_first()?;
        if *kind != RETURN_KIND {
            return None;
        }
        let (expires, path) = rest.split_first_chunk::<8>()?;
        if now.unix_timestamp() >= i64::from_be_bytes(*expires) {
            return None;
        }
        String::from_utf8(path.to_vec()).ok()
    }
}

/// A session's signed layout: its cookie value once written as base64url.
#[cfg(feature = "server")]
pub(crate) struct SealedSession(Vec<u8>);

#[cfg(feature = "server")]
impl SealedSession {
    /// The length of the cookie value, in bytes.
    pub(crate) fn encoded_len(&self) -> usize {
        base64_len(self.0.len())
    }

    /// Appends the cookie value (what [`SessionCodec::encode`] returns).
    pub(crate) fn write_to(&self, out: &mut String) {
        URL_SAFE_NO_PAD.encode_string(&self.0, out);
    }
}

/// `username` when it is not empty, else `email`, else a stable id
/// derived from the configuration and `names`: a session's username is
/// never empty.
pub(crate) fn username_or_fallback(username: String, email: &str, client_id: &ClientId, names: &[&str]) -> String {
    if !username.is_empty() {
        return username;
    }
    if !email.is_empty() {
        return email.to_owned();
    }
    let input = serde_json::json!([client_id.as_str(), names]).to_string();
    let digest = crate::secret::sha256(input.as_bytes());
    format!("jwt-{}", URL_SAFE_NO_PAD.encode(&digest[..16]))
}

/// Whether `s` is within [`MAX_FIELD_CHARS`] characters.
fn within_field_limit(s: &str) -> bool {
    s.len() <= MAX_FIELD_CHARS || s.chars().count() <= MAX_FIELD_CHARS
}

/// Appends `text` with its `u16` big-endian byte length.
fn put_text(raw: &mut Vec<u8>, text: &str) -> Result<(), SessionError> {
    let len = u16::try_from(text.len()).map_err(|_| SessionError::OverReaderLimits)?;
    raw.extend_from_slice(&len.to_be_bytes());
    raw.extend_from_slice(text.as_bytes());
    Ok(())
}

/// Reads the fields of a layout whose tag has been checked (the bytes
/// before the tag): every malformation is [`SessionError::Invalid`].
fn read_layout(signed: &[u8]) -> Result<ReaderSession, SessionError> {
    let mut r = Fields(signed);
    if r.array::<1>()? != [VERSION] {
        return Err(SessionError::Invalid);
    }
    let expires_at =
        OffsetDateTime::from_unix_timestamp(i64::from_be_bytes(r.array()?)).map_err(|_| SessionError::Invalid)?;
    let client_id = ClientId::from_uuid_bytes(r.array()?);
    let username = r.text()?;
    let email = r.text()?;
    let first_name = r.text()?;
    let last_name = r.text()?;
    let name = r.text()?;
    let jti = r.text()?;
    let claims = r.claims()?;
    let [count] = r.array::<1>()?;
    let count = usize::from(count);
    if count > MAX_READER_GROUPS {
        return Err(SessionError::Invalid);
    }
    let mut groups = Vec::with_capacity(count);
    for _ in 0..count {
        groups.push(r.text()?);
    }
    let binding = match r.array::<1>()? {
        [0] => None,
        [1] => Some(TokenBinding {
            key: r.array()?,
            token: r.array()?,
        }),
        _ => return Err(SessionError::Invalid),
    };
    if !r.0.is_empty() {
        return Err(SessionError::Invalid);
    }
    Ok(ReaderSession {
        username,
        email,
        first_name,
        last_name,
        groups,
        client_id,
        jti,
        expires_at,
        name,
        claims,
        binding,
    })
}

/// The unread rest of a layout.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    /// The next `N` bytes.
    fn array<const N: usize>(&mut self) -> Result<[u8; N], SessionError> {
        let (head, rest) = self.0.split_first_chunk::<N>().ok_or(SessionError::Invalid)?;
        self.0 = rest;
        Ok(*head)
    }

    /// The next string: a `u16` big-endian byte length, then that many
    /// bytes of UTF-8, at most [`MAX_FIELD_CHARS`] characters.
    fn text(&mut self) -> Result<String, SessionError> {
        let len = usize::from(u16::from_be_bytes(self.array()?));
        let (bytes, rest) = self.0.split_at_checked(len).ok_or(SessionError::Invalid)?;
        self.0 = rest;
        let text = std::str::from_utf8(bytes).map_err(|_| SessionError::Invalid)?;
        if !within_field_limit(text) {
            return Err(SessionError::Invalid);
        }
        Ok(text.to_owned())
    }

    /// The claims: a `u16` big-endian byte length, then that many bytes of
    /// one JSON object (none when the length is zero), at most
    /// [`MAX_SESSION_CLAIMS_BYTES`].
    fn claims(&mut self) -> Result<serde_json::Map<String, serde_json::Value>, SessionError> {
        let len = usize::from(u16::from_be_bytes(self.array()?));
        if len > MAX_SESSION_CLAIMS_BYTES {
            return Err(SessionError::Invalid);
        }
        let (bytes, rest) = self.0.split_at_checked(len).ok_or(SessionError::Invalid)?;
        self.0 = rest;
        if bytes.is_empty() {
            return Ok(serde_json::Map::new());
        }
        let map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(bytes).map_err(|_| SessionError::Invalid)?;
        if map.is_empty() {
            return Err(SessionError::Invalid);
        }
        Ok(map)
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

    const KEY: [u8; 32] = [7u8; 32];

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
            name: String::new(),
            claims: serde_json::Map::new(),
            binding: None,
        }
    }

    /// The cookie value for `raw` (the fields) tagged with `key`.
    fn signed_with(key: &[u8], raw: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(raw);
        let mut out = raw.to_vec();
        out.extend_from_slice(&mac.finalize().into_bytes());
        URL_SAFE_NO_PAD.encode(out)
    }

    /// The fields of `cookie` (its layout without the tag).
    fn fields(cookie: &str) -> Vec<u8> {
        let mut raw = URL_SAFE_NO_PAD.decode(cookie).unwrap();
        raw.truncate(raw.len() - TAG_LEN);
        raw
    }

    /// A length-prefixed string of the layout.
    fn text(s: &[u8]) -> Vec<u8> {
        let mut out = u16::try_from(s.len()).unwrap().to_be_bytes().to_vec();
        out.extend_from_slice(s);
        out
    }

    /// Fields as the layout writes them, from parts that may break its
    /// rules: `texts` are username, email, first and last name and jti
    /// (the display name and claims empty, no binding).
    fn layout(version: u8, exp: i64, texts: [&[u8]; 5], groups: &[&[u8]]) -> Vec<u8> {
        let mut raw = vec![version];
        raw.extend_from_slice(&exp.to_be_bytes());
        raw.extend_from_slice(&[0x11; 16]);
        for t in &texts[..4] {
            raw.extend(text(t));
        }
        raw.extend(text(b""));
        raw.extend(text(texts[4]));
        raw.extend(text(b""));
        raw.push(u8::try_from(groups.len()).unwrap());
        for g in groups {
            raw.extend(text(g));
        }
        raw.push(0);
        raw
    }

    const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

    #[test]
    fn round_trip_until_expiry() {
        let codec = SessionCodec::new(&KEY).unwrap();
        let s = session(T0 + Duration::minutes(15));
        let cookie = codec.encode(&s).unwrap();
        assert!(cookie.is_ascii() && !cookie.contains([';', ' ', ',', '.', '=']));
        assert_eq!(codec.decode(&cookie, T0).unwrap(), s);
        assert_eq!(
            codec
                .decode(&cookie, T0 + Duration::minutes(15) - Duration::SECOND)
                .unwrap(),
            s
        );
        assert_eq!(
            codec.decode(&cookie, T0 + Duration::minutes(15)),
            Err(SessionError::Expired)
        );
    }

    /// The documented layout, byte for byte, and its tag over all of it.
    #[test]
    fn the_cookie_is_the_documented_layout() {
        let codec = SessionCodec::new(&KEY).unwrap();
        let mut s = session(datetime!(2026-01-01 00:15 UTC));
        s.client_id = ClientId::parse("0b9f4c1e-5f7a-4c55-9d1e-3f1f2a6c7d80").unwrap();
        s.groups = vec!["g1".into(), "é".into()];
        s.name = "Johnny".into();
        s.claims.insert("host".into(), "d".into());
        s.binding = Some(TokenBinding {
            key: [0xaa; 8],
            token: [0xbb; 16],
        });
        let cookie = codec.encode(&s).unwrap();
        let mut want = vec![0x03];
        want.extend_from_slice(&1_767_226_500i64.to_be_bytes());
        want.extend_from_slice(&[
            0x0b, 0x9f, 0x4c, 0x1e, 0x5f, 0x7a, 0x4c, 0x55, 0x9d, 0x1e, 0x3f, 0x1f, 0x2a, 0x6c, 0x7d, 0x80,
        ]);
        want.extend_from_slice(b"\x00\x08john.doe\x00\x14John.Doe@Example.com\x00\x04John\x00\x03Doe");
        want.extend_from_slice(b"\x00\x06Johnny\x00\x03abc\x00\x0c{\"host\":\"d\"}");
        want.extend_from_slice(b"\x02\x00\x02g1\x00\x02\xc3\xa9");
        want.push(1);
        want.extend_from_slice(&[0xaa; 8]);
        want.extend_from_slice(&[0xbb; 16]);
        assert_eq!(fields(&cookie), want);
        assert_eq!(cookie, signed_with(&KEY, &want));
        assert_eq!(cookie.len(), base64_len(want.len() + TAG_LEN));
    }

    #[test]
    fn tampering_or_another_key_is_refused() {
        let codec = SessionCodec::new(&KEY).unwrap();
        let other = SessionCodec::new(&[8u8; 32]).unwrap();
        let cookie = codec.encode(&session(T0 + Duration::minutes(15))).unwrap();
        assert_eq!(other.decode(&cookie, T0), Err(SessionError::Invalid));
        // Re-sign a session with more groups under a guessed key: refused.
        let mut forged = session(T0 + Duration::days(365));
        forged.groups = vec!["admins".into()];
        let forged = other.encode(&forged).unwrap();
        assert_eq!(codec.decode(&forged, T0), Err(SessionError::Invalid));
        // Change one character anywhere: refused.
        for i in 0..cookie.len() {
            for c in [b'A', b'B', b'-', b'_', b'.'] {
                let mut bytes = cookie.clone().into_bytes();
                bytes[i] = c;
                let s = String::from_utf8(bytes).unwrap();
                if s != cookie {
                    assert_eq!(codec.decode(&s, T0), Err(SessionError::Invalid), "{c} at {i}");
                }
            }
        }
        // Flip any bit of the layout or its tag: refused.
        let raw = URL_SAFE_NO_PAD.decode(&cookie).unwrap();
        for i in 0..raw.len() * 8 {
            let mut bad = raw.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert_eq!(
                codec.decode(&URL_SAFE_NO_PAD.encode(bad), T0),
                Err(SessionError::Invalid),
                "bit {i}"
            );
        }
        // Cut anywhere or add anything: refused.
        for i in 0..cookie.len() {
            assert_eq!(codec.decode(&cookie[..i], T0), Err(SessionError::Invalid), "cut at {i}");
        }
        for extra in ["A", "AA", "AAAA", "=", "==", ".", " "] {
            assert_eq!(
                codec.decode(&format!("{cookie}{extra}"), T0),
                Err(SessionError::Invalid)
            );
        }
    }

    #[test]
    fn junk_and_the_old_text_layout_are_refused() {
        let codec = SessionCodec::new(&KEY).unwrap();
        let long = "A".repeat(MAX_ENCODED_LEN + 1);
        for junk in ["", ".", "v1..", "v2.a.b", "v1.a", "AAAA", "=", &long] {
            assert_eq!(codec.decode(junk, T0), Err(SessionError::Invalid), "{junk:?}");
        }
        // A cookie of the earlier layout (`v1.<JSON>.<tag>`), tagged with
        // the right key: refused, the reader signs in again.
        let json = r#"{"sub":"john.doe","email":"j@example.com","gn":"","fn":"","grp":[],"cid":"0b9f4c1e-5f7a-4c55-9d1e-3f1f2a6c7d80","jti":"abc","exp":1767226500}"#;
        let signed = format!("v1.{}", URL_SAFE_NO_PAD.encode(json));
        let mut mac = Hmac::<Sha256>::new_from_slice(&KEY).unwrap();
        mac.update(signed.as_bytes());
        let v1 = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()));
        assert_eq!(codec.decode(&v1, T0), Err(SessionError::Invalid));
    }

    /// Layouts tagged with the real key that break one rule each: the tag
    /// is right, so only the reader's checks refuse them.
    #[test]
    fn malformed_layouts_with_a_valid_tag_are_refused() {
        let codec = SessionCodec::new(&KEY).unwrap();
        let exp = (T0 + Duration::minutes(15)).unix_timestamp();
        let texts: [&[u8]; 5] = [b"ada", b"ada@example.com", b"Ada", b"Lovelace", b"jti-1"];
        let good = layout(VERSION, exp, texts, &[b"g1"]);
        assert!(codec.decode(&signed_with(&KEY, &good), T0).is_ok());
        let long = "x".repeat(MAX_FIELD_CHARS + 1);
        let wide = "é".repeat(MAX_FIELD_CHARS + 1);
        let many: Vec<&[u8]> = vec![b"g"; MAX_READER_GROUPS + 1];
        let mut cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", Vec::new()),
            ("version 1", layout(1, exp, texts, &[b"g1"])),
            ("version 2", layout(2, exp, texts, &[b"g1"])),
            ("version 4", layout(4, exp, texts, &[b"g1"])),
            ("version 0", layout(0, exp, texts, &[b"g1"])),
            ("expiry out of range", layout(VERSION, i64::MAX, texts, &[b"g1"])),
            (
                "invalid UTF-8",
                layout(VERSION, exp, [b"ada", b"\xff", b"", b"", b"j"], &[]),
            ),
            ("invalid UTF-8 group", layout(VERSION, exp, texts, &[b"\xc3"])),
            (
                "field too long",
                layout(VERSION, exp, [long.as_bytes(), b"", b"", b"", b"j"], &[]),
            ),
            (
                "wide field too long",
                layout(VERSION, exp, [b"", b"", wide.as_bytes(), b"", b"j"], &[]),
            ),
            ("group too long", layout(VERSION, exp, texts, &[long.as_bytes()])),
            ("too many groups", layout(VERSION, exp, texts, &many)),
        ];
        let mut trailing = good.clone();
        trailing.push(0);
        cases.push(("a trailing byte", trailing));
        let mut beyond = good.clone();
        let at = 1 + 8 + 16;
        beyond[at..at + 2].copy_from_slice(&u16::MAX.to_be_bytes());
        cases.push(("a length beyond the input", beyond));
        let mut count = good.clone();
        let at = good.len() - 6;
        count[at] = 2;
        cases.push(("more groups counted than present", count));
        for cut in 0..good.len() {
            cases.push(("truncated", good[..cut].to_vec()));
        }
        for (what, raw) in cases {
            assert_eq!(
                codec.decode(&signed_with(&KEY, &raw), T0),
                Err(SessionError::Invalid),
                "{what}: {raw:?}"
            );
        }
        // Well formed and expired, even by a second: expired.
        let old = layout(VERSION, T0.unix_timestamp(), texts, &[b"g1"]);
        assert_eq!(codec.decode(&signed_with(&KEY, &old), T0), Err(SessionError::Expired));
    }

    #[test]
    fn fields_within_the_reader_limits_round_trip_and_others_are_not_encoded() {
        let codec = SessionCodec::new(&KEY).unwrap();
        let mut s = session(T0 + Duration::minutes(15));
        s.username = "😀".repeat(MAX_FIELD_CHARS);
        s.groups = (0..MAX_READER_GROUPS).map(|i| i.to_string()).collect();
        assert_eq!(codec.decode(&codec.encode(&s).unwrap(), T0).unwrap(), s);
        let mut over = s.clone();
        over.groups.push("one more".into());
        assert_eq!(codec.encode(&over), Err(SessionError::OverReaderLimits));
        let mut over = s.clone();
        over.jti = "x".repeat(MAX_FIELD_CHARS + 1);
        assert_eq!(codec.encode(&over), Err(SessionError::OverReaderLimits));
        let mut over = s;
        over.groups[7] = "é".repeat(MAX_FIELD_CHARS + 1);
        assert_eq!(codec.encode(&over), Err(SessionError::OverReaderLimits));
    }

    /// A code-flow session whose identity takes exactly the room encodes
    /// to exactly [`MAX_ENCODED_LEN`]; a byte more does not fit.
    #[test]
    fn the_identity_room_is_exact() {
        use crate::reader::ReaderIdentity;
        let codec = SessionCodec::new(&KEY).unwrap();
        let room = session_identity_room();
        let identity = |extra: usize| {
            // Username, email and one group of at most 256 characters of
            // four bytes, first and last name empty.
            let total = room + extra - 2;
            let (a, rest) = (total.min(1024), total.saturating_sub(1024));
            let (b, c) = (rest.min(1024), rest.saturating_sub(1024));
            let part = |n: usize| format!("{}{}", "😀".repeat(n / 4), "x".repeat(n % 4));
            ReaderIdentity {
                username: part(a),
                first_name: String::new(),
                last_name: String::new(),
                email: part(b),
                reader_group_ids: vec![part(c)],
            }
        };
        for (extra, fits) in [(0, true), (1, false)] {
            let who = identity(extra);
            assert_eq!(who.token_bytes(), room + extra);
            let s = ReaderSession {
                username: who.username,
                email: who.email,
                first_name: who.first_name,
                last_name: who.last_name,
                groups: who.reader_group_ids,
                client_id: ClientId::generate(),
                jti: "A".repeat(crate::secret::RANDOM_TOKEN_LEN),
                expires_at: T0 + Duration::minutes(15),
                name: String::new(),
                claims: serde_json::Map::new(),
                binding: None,
            };
            match codec.encode(&s) {
                Ok(cookie) => {
                    assert!(fits);
                    assert_eq!(cookie.len(), MAX_ENCODED_LEN);
                }
                Err(e) => {
                    assert!(!fits);
                    assert_eq!(
                        e,
                        SessionError::TooLarge {
                            len: MAX_ENCODED_LEN + 2
                        }
                    );
                }
            }
        }
    }

    /// The return-target cookie opens under its own key until it expires,
    /// and neither it nor a session cookie passes for the other.
    #[test]
    fn return_targets_are_signed_short_lived_and_apart_from_sessions() {
        let codec = SessionCodec::new(&KEY).unwrap();
        let value = codec.seal_return("/docs/a?b=1", T0);
        assert_eq!(codec.open_return(&value, T0).as_deref(), Some("/docs/a?b=1"));
        let last = T0 + RETURN_COOKIE_LIFETIME - Duration::SECOND;
        assert_eq!(codec.open_return(&value, last).as_deref(), Some("/docs/a?b=1"));
        assert_eq!(codec.open_return(&value, T0 + RETURN_COOKIE_LIFETIME), None);
        let other = SessionCodec::new(&[8u8; 32]).unwrap();
        assert_eq!(other.open_return(&value, T0), None);
        assert_eq!(codec.decode(&value, T0), Err(SessionError::Invalid));
        let session = codec.encode(&session(T0 + Duration::minutes(15))).unwrap();
        assert_eq!(codec.open_return(&session, T0), None);
        for junk in ["", "A", "AAAA", "=="] {
            assert_eq!(codec.open_return(junk, T0), None);
        }
    }

    /// Claims within 1 KiB round-trip; more is refused when encoding, and a
    /// tagged layout carrying more, or anything but one JSON object, is
    /// refused when decoding.
    #[test]
    fn claims_are_bounded() {
        let codec = SessionCodec::new(&KEY).unwrap();
        let mut s = session(T0 + Duration::minutes(15));
        s.claims.insert("company".into(), "Acme Inc".into());
        s.claims.insert("n".into(), serde_json::json!({"a": [1, 2]}));
        assert_eq!(codec.decode(&codec.encode(&s).unwrap(), T0).unwrap(), s);
        s.claims
            .insert("big".into(), "x".repeat(MAX_SESSION_CLAIMS_BYTES).into());
        assert_eq!(codec.encode(&s), Err(SessionError::OverReaderLimits));
        let exp = (T0 + Duration::minutes(15)).unix_timestamp();
        for bad in [&b"[1]"[..], b"{}", b"{", b"\"x\""] {
            let mut raw = layout(VERSION, exp, [b"a", b"", b"", b"", b"j"], &[]);
            // The claims sit right before the group count and the flag.
            let at = raw.len() - 4;
            raw.splice(at.., text(bad));
            raw.extend([0, 0]);
            assert_eq!(
                codec.decode(&signed_with(&KEY, &raw), T0),
                Err(SessionError::Invalid),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn weak_keys_are_refused_and_debug_is_redacted() {
        assert_eq!(SessionCodec::new(&[1u8; 31]).unwrap_err(), SessionError::WeakKey);
        assert_eq!(SessionCodec::new(b"").unwrap_err(), SessionError::WeakKey);
        let codec = SessionCodec::new(&[0x41u8; 32]).unwrap();
        assert!(!format!("{codec:?}").contains("AAAA"));
        assert!(!format!("{codec:?}").contains("65"));
    }

    proptest::proptest! {
        /// A session is either encoded into a value a browser keeps (and
        /// that decodes back to it) or refused up front: never a cookie
        /// over the limit.
        #[test]
        fn encoded_sessions_fit_in_a_cookie_or_are_refused(groups in 0usize..=MAX_READER_GROUPS, len in 1usize..40) {
            let codec = SessionCodec::new(&KEY).unwrap();
            let mut s = session(T0 + Duration::minutes(15));
            s.groups = (0..groups).map(|i| format!("{i:0len$}")).collect();
            match codec.encode(&s) {
                Ok(cookie) => {
                    proptest::prop_assert!(cookie.len() <= MAX_ENCODED_LEN);
                    proptest::prop_assert_eq!(codec.decode(&cookie, T0).unwrap(), s);
                }
                Err(SessionError::TooLarge { len }) => {
                    proptest::prop_assert!(len > MAX_ENCODED_LEN);
                    // The length the cookie would have had, built by hand.
                    let mut raw = layout(VERSION, 0, [s.username.as_bytes(), s.email.as_bytes(), s.first_name.as_bytes(), s.last_name.as_bytes(), s.jti.as_bytes()], &[]);
                    raw.pop();
                    raw.pop();
                    raw.push(u8::try_from(s.groups.len()).unwrap());
                    for g in &s.groups {
                        raw.extend(text(g.as_bytes()));
                    }
                    raw.push(0);
                    proptest::prop_assert_eq!(len, signed_with(&KEY, &raw).len());
                }
                Err(e) => proptest::prop_assert!(false, "unexpected {e:?}"),
            }
        }

        /// Arbitrary bytes never decode, and never panic: as a cookie
        /// value, as base64url text, and tagged with the real key (then
        /// the only layouts accepted are the ones the codec writes).
        #[test]
        fn arbitrary_bytes_never_decode(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400), text in ".{0,200}") {
            let codec = SessionCodec::new(&KEY).unwrap();
            proptest::prop_assert_eq!(codec.decode(&text, T0), Err(SessionError::Invalid));
            proptest::prop_assert_eq!(codec.decode(&URL_SAFE_NO_PAD.encode(&bytes), T0), Err(SessionError::Invalid));
            let cookie = signed_with(&KEY, &bytes);
            match codec.decode(&cookie, T0) {
                Ok(s) => proptest::prop_assert_eq!(codec.encode(&s).unwrap(), cookie),
                Err(SessionError::Expired) => {}
                Err(e) => proptest::prop_assert_eq!(e, SessionError::Invalid),
            }
        }

        /// Any session within the limits round-trips exactly, and its
        /// cookie tagged under another key is refused.
        #[test]
        fn sessions_round_trip(
            strings in proptest::collection::vec(".{0,20}", 5),
            groups in proptest::collection::vec(".{0,20}", 0..10),
            exp in 1i64..253_402_300_799,
            id in proptest::array::uniform16(proptest::num::u8::ANY),
        ) {
            let codec = SessionCodec::new(&KEY).unwrap();
            let s = ReaderSession {
                username: strings[0].clone(),
                email: strings[1].clone(),
                first_name: strings[2].clone(),
                last_name: strings[3].clone(),
                jti: strings[4].clone(),
                groups,
                client_id: ClientId::from_uuid_bytes(id),
                expires_at: OffsetDateTime::from_unix_timestamp(exp).unwrap(),
                name: String::new(),
                claims: serde_json::Map::new(),
                binding: None,
            };
            let cookie = codec.encode(&s).unwrap();
            let at = OffsetDateTime::from_unix_timestamp(exp - 1).unwrap();
            proptest::prop_assert_eq!(codec.decode(&cookie, at).unwrap(), s);
            proptest::prop_assert_eq!(codec.decode(&cookie, at + Duration::SECOND), Err(SessionError::Expired));
            let other = SessionCodec::new(&[9u8; 32]).unwrap();
            proptest::prop_assert_eq!(other.decode(&cookie, at), Err(SessionError::Invalid));
        }
    }

    #[test]
    fn a_ring_signs_with_the_current_key_and_accepts_the_previous_ones() {
        let now = datetime!(2026-01-01 00:00 UTC);
        let s = session(now + Duration::hours(1));
        let old = SessionCodec::new(&[1u8; 32]).unwrap();
        let ring = SessionCodec::with_keys([[2u8; 32], [1u8; 32]]).unwrap();
        let current_only = SessionCodec::new(&[2u8; 32]).unwrap();
        // A cookie of the previous key still opens the session.
        let before = old.encode(&s).unwrap();
        assert_eq!(ring.decode(&before, now).unwrap(), s);
        // New cookies are signed with the current key: the previous key
        // alone refuses them, the current key alone accepts them.
        let after = ring.encode(&s).unwrap();
        assert_eq!(old.decode(&after, now), Err(SessionError::Invalid));
        assert_eq!(current_only.decode(&after, now).unwrap(), s);
        // A key that is not in the ring is refused.
        let other = SessionCodec::new(&[3u8; 32]).unwrap().encode(&s).unwrap();
        assert_eq!(ring.decode(&other, now), Err(SessionError::Invalid));
        assert_eq!(ring.key_count(), 2);
    }

    #[test]
    fn a_ring_needs_one_to_eight_strong_keys() {
        let none: [[u8; 32]; 0] = [];
        assert_eq!(SessionCodec::with_keys(none).unwrap_err(), SessionError::WeakKey);
        assert_eq!(
            SessionCodec::with_keys([vec![1u8; 32], vec![2u8; 31]]).unwrap_err(),
            SessionError::WeakKey
        );
        assert!(SessionCodec::with_keys([[1u8; 32]; MAX_SESSION_KEYS]).is_ok());
        assert_eq!(
            SessionCodec::with_keys([[1u8; 32]; MAX_SESSION_KEYS + 1]).unwrap_err(),
            SessionError::WeakKey
        );
    }
}
