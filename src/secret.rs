//! Client identifiers, client secrets and the digests that are stored instead.
//!
//! A [`ClientSecret`] exists in clear only between its generation and the
//! moment it is shown to the admin; the server keeps its [`SecretDigest`].
//! Secrets have no `PartialEq`: the only comparison is
//! [`SecretDigest::verify`], which runs in constant time.

use std::collections::HashMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Length in characters of a generated secret or code: 32 random bytes,
/// base64url without padding.
pub const RANDOM_TOKEN_LEN: usize = 43;

/// 32 bytes from the operating system's CSPRNG, as base64url without padding
/// (43 characters): 256 bits, so a guess succeeds with probability 2^-256.
pub(crate) fn random_token() -> Zeroizing<String> {
    Zeroizing::new(random_token_text().as_str().to_owned())
}

/// [`random_token`], held on the stack (no allocation), zeroed on drop.
pub(crate) fn random_token_text() -> TokenText {
    let mut bytes = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(bytes.as_mut());
    let mut text = TokenText([0u8; RANDOM_TOKEN_LEN]);
    // 32 bytes are exactly 43 base64url characters.
    let _ = URL_SAFE_NO_PAD.encode_slice(bytes.as_ref(), &mut text.0);
    text
}

/// The text of a [`random_token`] on the stack: 43 base64url characters,
/// zeroed on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct TokenText([u8; RANDOM_TOKEN_LEN]);

impl TokenText {
    /// The token's text.
    pub(crate) fn as_str(&self) -> &str {
        // base64url text is ASCII.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// SHA-256 of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// `bytes` as lower-case hex, two digits a byte: how digests and hashes are
/// written as text (stores keyed by text, audit events, logs).
#[must_use]
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Parses exactly 64 lower-case hex digits (the only spelling [`to_hex`]
/// writes, so that one value has one text) into 32 bytes.
pub(crate) fn from_hex_32(text: &str) -> Option<[u8; 32]> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    let text = text.as_bytes();
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let hi = pair.first().copied().and_then(digit)?;
        let lo = pair.get(1).copied().and_then(digit)?;
        *byte = (hi << 4) | lo;
    }
    Some(out)
}

/// The public identifier of a JWT configuration: a UUIDv4 in its hyphenated
/// lower-case form. Held inline (36 bytes), so a copy allocates nothing.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientId([u8; uuid::fmt::Hyphenated::LENGTH]);

impl ClientId {
    /// A new random client id.
    pub fn generate() -> Self {
        Self::from_uuid(uuid::Uuid::new_v4())
    }

    /// Parses a client id. Accepts any UUID spelling and normalises it to the
    /// hyphenated lower-case form.
    ///
    /// # Errors
    /// [`InvalidClientId`] when `s` is not a UUID.
    pub fn parse(s: &str) -> Result<Self, InvalidClientId> {
        // `Uuid::parse_str` also accepts braced and URN forms; we want only
        // the plain 36-character form and the 32-hex-digit one.
        if s.len() != 36 && s.len() != 32 {
            return Err(InvalidClientId);
        }
        uuid::Uuid::try_parse(s)
            .map(Self::from_uuid)
            .map_err(|_| InvalidClientId)
    }

    /// A client id from its text exactly as [`as_str`](Self::as_str)
    /// gives it (hyphenated lower-case), checked but not parsed: `None` for
    /// any other text.
    pub(crate) fn from_canonical(text: &[u8]) -> Option<Self> {
        let text: [u8; uuid::fmt::Hyphenated::LENGTH] = text.try_into().ok()?;
        let canonical = text.iter().enumerate().all(|(i, &b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        });
        canonical.then_some(Self(text))
    }

    fn from_uuid(uuid: uuid::Uuid) -> Self {
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        uuid.hyphenated().encode_lower(&mut text);
        Self(text)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Always the ASCII text `encode_lower` wrote.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The id from its 16 UUID bytes (any bytes are a UUID).
    pub(crate) fn from_uuid_bytes(bytes: [u8; 16]) -> Self {
        Self::from_uuid(uuid::Uuid::from_bytes(bytes))
    }

    /// The id's 16 UUID bytes, read straight from its hex digits (a
    /// `ClientId` always holds the hyphenated lower-case form).
    pub(crate) fn uuid_bytes(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        let mut digits = self.0.iter().copied().filter(|&b| b != b'-').map(|b| match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => 0,
        });
        for byte in &mut out {
            let hi = digits.next().unwrap_or(0);
            let lo = digits.next().unwrap_or(0);
            *byte = hi << 4 | lo;
        }
        out
    }
}

impl fmt::Debug for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ClientId").field(&self.as_str()).finish()
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for ClientId {
    type Error = InvalidClientId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<ClientId> for String {
    fn from(id: ClientId) -> Self {
        id.as_str().to_owned()
    }
}

/// A secret that is not 32 random bytes in base64url (43 characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a secret must be 43 base64url characters (32 random bytes)")]
pub struct MalformedSecret;

/// A client id that is not a UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("client id is not a UUID")]
pub struct InvalidClientId;

/// A client secret in clear.
///
/// Generated by [`ClientSecret::generate`], shown once to the admin (through
/// [`ClientSecret::expose`]) and then dropped; its memory is zeroed on drop.
/// `Debug` prints `ClientSecret([redacted])`. There is no `Display`,
/// `PartialEq` or `Serialize`: keep its [`digest`](Self::digest) instead.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// A new secret: 32 bytes from the OS CSPRNG, base64url without padding.
    pub fn generate() -> Self {
        Self(random_token().to_string())
    }

    /// Wraps a secret received from outside (for example, a customer app's
    /// configuration or a `--project` file).
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// Accepts a secret only if it has the shape of the ones this crate
    /// generates: 43 base64url characters encoding 32 bytes. For secrets
    /// loaded from files, so that a weak hand-made secret is refused.
    ///
    /// # Errors
    /// [`MalformedSecret`] otherwise.
    pub fn parse_generated(text: &str) -> Result<Self, MalformedSecret> {
        if text.len() != RANDOM_TOKEN_LEN {
            return Err(MalformedSecret);
        }
        match URL_SAFE_NO_PAD.decode(text.as_bytes()) {
            Ok(bytes) if bytes.len() == 32 => Ok(Self(text.to_owned())),
            _ => Err(MalformedSecret),
        }
    }

    /// The secret's text. Call this only to show it once or to send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The digest to store in its place.
    pub fn digest(&self) -> SecretDigest {
        SecretDigest::of(self.0.as_bytes())
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret([redacted])")
    }
}

/// The stored form of a secret: its SHA-256 digest.
///
/// Secrets are 256-bit random values, so a fast digest is enough: there is
/// no dictionary to guess from. Comparison is in constant time.
#[derive(Clone, Copy, Serialize, Deserialize)]
pub struct SecretDigest(#[serde(with = "digest_b64")] [u8; 32]);

impl SecretDigest {
    /// The digest of `secret`.
    pub fn of(secret: &[u8]) -> Self {
        Self(sha256(secret))
    }

    /// Whether `candidate` is the secret this digest was made from, in time
    /// that does not depend on where the two differ.
    pub fn verify(&self, candidate: &[u8]) -> bool {
        self.ct_matches(&Self::of(candidate))
    }

    /// Constant-time equality of two digests: `subtle` compares them as
    /// four 64-bit words (each word in constant time, all four always),
    /// which is the same comparison as byte by byte, with an eighth of the
    /// barriers.
    pub fn ct_matches(&self, other: &SecretDigest) -> bool {
        digest_words(&self.0).ct_eq(&digest_words(&other.0)).into()
    }

    /// A digest that no secret is expected to match, used to spend the same
    /// work on an unknown client id as on a known one.
    pub(crate) fn decoy() -> Self {
        Self([0u8; 32])
    }
}

/// A 32-byte digest as four little-endian 64-bit words, for
/// [`SecretDigest::ct_matches`].
fn digest_words(bytes: &[u8; 32]) -> [u64; 4] {
    let mut words = [0u64; 4];
    for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        *word = u64::from_le_bytes(b);
    }
    words
}

/// The digest of a presented client secret: the one digest a client
/// authentication computes (code flow and widget flow alike).
pub(crate) fn presented_digest(secret: &[u8]) -> SecretDigest {
    #[cfg(test)]
    auth_work::count(&auth_work::DIGESTS);
    SecretDigest::of(secret)
}

/// One constant-time comparison of a stored digest with a presented one.
pub(crate) fn stored_digest_matches(stored: &SecretDigest, presented: &SecretDigest) -> bool {
    #[cfg(test)]
    auth_work::count(&auth_work::COMPARISONS);
    stored.ct_matches(presented)
}

/// Counts the work of client authentication on this thread, for tests
/// that prove an unknown client costs what a wrong secret costs.
#[cfg(test)]
pub(crate) mod auth_work {
    use std::cell::Cell;
    use std::thread::LocalKey;

    thread_local! {
        /// Digests of presented secrets computed.
        pub(crate) static DIGESTS: Cell<usize> = const { Cell::new(0) };
        /// Stored digests compared.
        pub(crate) static COMPARISONS: Cell<usize> = const { Cell::new(0) };
    }

    pub(crate) fn count(counter: &'static LocalKey<Cell<usize>>) {
        counter.with(|c| c.set(c.get() + 1));
    }

    /// `(digests, comparisons)` since the last call, and resets them.
    pub(crate) fn take() -> (usize, usize) {
        (DIGESTS.with(|c| c.replace(0)), COMPARISONS.with(|c| c.replace(0)))
    }
}

impl fmt::Debug for SecretDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretDigest([redacted])")
    }
}

/// Client credentials as sent by a customer app: a client id and a secret.
///
/// Parsed from an `Authorization: Basic` header by
/// [`ClientCredentials::from_basic_header`]; `Debug` redacts the secret.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    /// The client id as sent (not yet known to be valid).
    pub client_id: String,
    /// The secret as sent.
    pub secret: ClientSecret,
}

/// Why an `Authorization` header is not usable Basic credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BasicAuthError {
    /// No `Authorization` header.
    #[error("no Authorization header")]
    Missing,
    /// The scheme is not `Basic`.
    #[error("the Authorization scheme is not Basic")]
    NotBasic,
    /// The credentials are not base64, not UTF-8, have no colon, or are
    /// not valid form-urlencoding.
    #[error("the Basic credentials are malformed")]
    Malformed,
}

/// Why the client credentials of a form request (a token request) are not
/// usable: the one set of rules of [`ClientCredentials::from_basic_or_form`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsError {
    /// The `Authorization` header is not Basic, is malformed, or is given
    /// more than once ([`BasicAuthError::NotBasic`] or
    /// [`BasicAuthError::Malformed`], never `Missing`).
    #[error(transparent)]
    Basic(BasicAuthError),
    /// `client_id` and `client_secret` do not come together in the form, or
    /// `client_id` is empty.
    #[error("client_id and client_secret go together")]
    IncompleteForm,
    /// Credentials in a Basic header and in the form at once (RFC 6749
    /// section 2.3: one authentication method per request), or a form
    /// `client_id` that names another client than the header.
    #[error("use one client authentication method, not two")]
    Multiple,
}

/// The longest `Authorization` header value accepted, in bytes.
pub const MAX_AUTHORIZATION_LEN: usize = 1024;

impl ClientCredentials {
    /// Credentials from a client id and a secret.
    pub fn new(client_id: impl Into<String>, secret: ClientSecret) -> Self {
        Self {
            client_id: client_id.into(),
            secret,
        }
    }

    /// Parses an `Authorization` header value: scheme `Basic` in any case,
    /// base64 of `client_id:secret`, split at the first colon (RFC 7617), each
    /// half form-urlencoding-decoded (RFC 6749 2.3.1).
    ///
    /// # Errors
    /// [`BasicAuthError`] says what is wrong.
    pub fn from_basic_header(value: &[u8]) -> Result<Self, BasicAuthError> {
        use base64::engine::general_purpose::STANDARD;
        if value.len() > MAX_AUTHORIZATION_LEN {
            return Err(BasicAuthError::Malformed);
        }
        let value = std::str::from_utf8(value).map_err(|_| BasicAuthError::Malformed)?;
        let value = value.trim_matches(|c| c == ' ' || c == '\t');
        let (scheme, rest) = value.split_once(' ').ok_or(BasicAuthError::NotBasic)?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(BasicAuthError::NotBasic);
        }
        let decoded = Zeroizing::new(
            STANDARD
                .decode(rest.trim_start_matches(' ').as_bytes())
                .map_err(|_| BasicAuthError::Malformed)?,
        );
        let text = std::str::from_utf8(&decoded).map_err(|_| BasicAuthError::Malformed)?;
        let (id, secret) = text.split_once(':').ok_or(BasicAuthError::Malformed)?;
        let id = form_decode(id)?;
        let secret = form_decode(secret)?;
        if id.is_empty() {
            return Err(BasicAuthError::Malformed);
        }
        Ok(Self::new(id.to_string(), ClientSecret::new(secret.to_string())))
    }

    /// Reads Basic credentials from the values of a request's
    /// `Authorization` headers: none is `Ok(None)`, one is parsed by
    /// [`from_basic_header`](Self::from_basic_header), two or more are
    /// refused.
    ///
    /// # Errors
    /// [`BasicAuthError::Malformed`] for several headers, else what
    /// [`from_basic_header`](Self::from_basic_header) says.
    pub fn from_authorization<'h, I>(authorization: I) -> Result<Option<Self>, BasicAuthError>
    where
        I: IntoIterator<Item = &'h [u8]>,
    {
        let mut values = authorization.into_iter();
        match (values.next(), values.next()) {
            (None, _) => Ok(None),
            (Some(value), None) => Self::from_basic_header(value).map(Some),
            (Some(_), Some(_)) => Err(BasicAuthError::Malformed),
        }
    }

    /// The client credentials of a form request (the code exchange, the
    /// widget token request): an `Authorization: Basic` header **or** the
    /// form's `client_id` and `client_secret`, never both (RFC 6749
    /// section 2.3.1). `Ok(None)` when neither is there.
    ///
    /// A form `client_id` beside a Basic header is accepted when it names
    /// the same client (RFC 6749 section 4.1.3 lets a token request carry
    /// it); a form `client_secret` beside a header is refused, whatever its
    /// value. An empty value counts as sent: an empty `client_secret` beside
    /// a header is two methods, an empty `client_id` is refused.
    ///
    /// # Errors
    /// [`CredentialsError`] names the broken rule.
    pub fn from_basic_or_form<'h, I>(
        authorization: I,
        form: &HashMap<String, String>,
    ) -> Result<Option<Self>, CredentialsError>
    where
        I: IntoIterator<Item = &'h [u8]>,
    {
        let from_header = Self::from_authorization(authorization).map_err(CredentialsError::Basic)?;
        let form_id = form.get("client_id");
        let form_secret = form.get("client_secret");
        match (from_header, form_id, form_secret) {
            (Some(_), _, Some(_)) => Err(CredentialsError::Multiple),
            (Some(h), Some(id), None) if *id != h.client_id => Err(CredentialsError::Multiple),
            (Some(h), _, None) => Ok(Some(h)),
            (None, Some(id), Some(secret)) if !id.is_empty() => {
                Ok(Some(Self::new(id.clone(), ClientSecret::new(secret.clone()))))
            }
            (None, None, None) => Ok(None),
            (None, _, _) => Err(CredentialsError::IncompleteForm),
        }
    }

    /// The `Authorization` header value for these credentials: each half
    /// form-urlencoded, joined by a colon, base64 (RFC 6749 2.3.1).
    pub fn to_basic_header(&self) -> Zeroizing<String> {
        use base64::engine::general_purpose::STANDARD;
        let joined = Zeroizing::new(format!(
            "{}:{}",
            form_encode(&self.client_id).as_str(),
            form_encode(self.secret.expose()).as_str()
        ));
        Zeroizing::new(format!("Basic {}", STANDARD.encode(joined.as_bytes())))
    }
}

fn form_encode(s: &str) -> Zeroizing<String> {
    Zeroizing::new(url::form_urlencoded::byte_serialize(s.as_bytes()).collect())
}

fn form_decode(s: &str) -> Result<Zeroizing<String>, BasicAuthError> {
    // Only decode when something is encoded: most secrets are plain base64url.
    if !s.contains(['%', '+']) {
        return Ok(Zeroizing::new(s.to_owned()));
    }
    // Strict form decoding: `+` is a space, `%XX` a byte, and the bytes must
    // be UTF-8 (no silent replacement characters).
    let spaced = Zeroizing::new(s.replace('+', " "));
    let bytes = Zeroizing::new(percent_encoding::percent_decode_str(&spaced).collect::<Vec<u8>>());
    let out = std::str::from_utf8(&bytes).map_err(|_| BasicAuthError::Malformed)?;
    Ok(Zeroizing::new(out.to_owned()))
}

mod digest_b64 {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(crate) fn serialize<S: Serializer>(d: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&URL_SAFE_NO_PAD.encode(d))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(text.as_bytes())
            .map_err(|_| D::Error::custom("digest is not base64url"))?;
        bytes.try_into().map_err(|_| D::Error::custom("digest is not 32 bytes"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn generated_secrets_are_43_base64url_chars_and_distinct() {
        let mut seen = HashSet::new();
        for _ in 0..200 {
            let s = ClientSecret::generate();
            assert_eq!(s.expose().len(), RANDOM_TOKEN_LEN);
            assert!(
                s.expose()
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            );
            assert!(seen.insert(s.expose().to_owned()));
        }
    }

    proptest::proptest! {
        /// A client id's 16 bytes, as the session cookie carries them, are
        /// its UUID's, whichever spelling it was parsed from, and bring the
        /// same id back.
        #[test]
        fn client_id_bytes_round_trip(bytes in proptest::array::uniform16(proptest::num::u8::ANY)) {
            let id = ClientId::from_uuid_bytes(bytes);
            proptest::prop_assert_eq!(id.as_str(), uuid::Uuid::from_bytes(bytes).hyphenated().to_string());
            proptest::prop_assert_eq!(id.uuid_bytes(), bytes);
            let upper = ClientId::parse(&id.as_str().to_uppercase()).unwrap();
            proptest::prop_assert_eq!(upper.uuid_bytes(), bytes);
            let simple = ClientId::parse(&uuid::Uuid::from_bytes(bytes).simple().to_string()).unwrap();
            proptest::prop_assert_eq!(ClientId::from_uuid_bytes(simple.uuid_bytes()), id);
        }
    }

    #[test]
    fn only_secrets_shaped_like_ours_parse() {
        let s = ClientSecret::generate();
        assert!(ClientSecret::parse_generated(s.expose()).is_ok());
        for bad in [
            "",
            "short",
            &"a".repeat(42),
            &"a".repeat(44),
            &"+".repeat(43),
            &"=".repeat(43),
        ] {
            assert_eq!(
                ClientSecret::parse_generated(bad).map(|_| ()),
                Err(MalformedSecret),
                "{bad:?}"
            );
        }
        // 43 characters are 258 bits: the last character's two low bits lie
        // beyond 32 bytes and must be zero. Each of the four characters that
        // share the last one's high bits: only the one with low bits zero is
        // accepted.
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let text = s.expose();
        let last = ALPHABET.iter().position(|&c| c == text.as_bytes()[42]).unwrap();
        assert_eq!(last & 3, 0, "a generated secret is canonical");
        for low in 0..4 {
            let mut odd = text[..42].to_owned();
            odd.push(char::from(ALPHABET[last | low]));
            assert_eq!(
                ClientSecret::parse_generated(&odd).is_ok(),
                low == 0,
                "last character {:?}",
                char::from(ALPHABET[last | low])
            );
        }
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let s = ClientSecret::new("hunter2-very-secret");
        let printed = format!("{s:?} {:?}", s.digest());
        assert!(!printed.contains("hunter2"));
        assert_eq!(format!("{s:?}"), "ClientSecret([redacted])");
    }

    proptest::proptest! {
        /// Two digests match exactly when all 32 bytes are equal: a
        /// difference in any one byte, any bit of it, is told.
        #[test]
        fn digests_match_only_when_every_byte_is_equal(
            bytes in proptest::array::uniform32(proptest::num::u8::ANY),
            at in 0usize..32,
            flip in 1u8..=255,
        ) {
            let d = SecretDigest(bytes);
            proptest::prop_assert!(d.ct_matches(&SecretDigest(bytes)));
            let mut other = bytes;
            other[at] ^= flip;
            proptest::prop_assert!(!d.ct_matches(&SecretDigest(other)));
        }
    }

    #[test]
    fn digest_verifies_only_its_own_secret() {
        let s = ClientSecret::generate();
        let d = s.digest();
        assert!(d.verify(s.expose().as_bytes()));
        let other = ClientSecret::generate();
        assert!(!d.verify(other.expose().as_bytes()));
        assert!(!d.verify(b""));
        let mut almost = s.expose().to_owned();
        almost.pop();
        assert!(!d.verify(almost.as_bytes()));
        assert!(!SecretDigest::decoy().verify(b""));
    }

    #[test]
    fn digest_round_trips_through_serde_without_the_secret() {
        let s = ClientSecret::generate();
        let json = serde_json::to_string(&s.digest()).unwrap();
        assert!(!json.contains(s.expose()));
        let back: SecretDigest = serde_json::from_str(&json).unwrap();
        assert!(back.verify(s.expose().as_bytes()));
        assert!(serde_json::from_str::<SecretDigest>("\"short\"").is_err());
    }

    #[test]
    fn client_ids_are_uuid_v4_and_parse_back() {
        let id = ClientId::generate();
        let u = uuid::Uuid::parse_str(id.as_str()).unwrap();
        assert_eq!(u.get_version_num(), 4);
        assert_eq!(ClientId::parse(id.as_str()).unwrap(), id);
        assert_eq!(
            ClientId::parse(&id.as_str().to_uppercase()).unwrap(),
            id,
            "parsing normalises case"
        );
        for bad in [
            "",
            "not-a-uuid",
            "{00000000-0000-0000-0000-000000000000}",
            "x".repeat(36).as_str(),
        ] {
            assert_eq!(ClientId::parse(bad), Err(InvalidClientId), "{bad:?}");
        }
    }
    #[test]
    fn basic_header_round_trips_and_splits_at_the_first_colon() {
        let creds = ClientCredentials::new("id-1", ClientSecret::new("se:cr et%+"));
        let header = creds.to_basic_header();
        let back = ClientCredentials::from_basic_header(header.as_bytes()).unwrap();
        assert_eq!(back.client_id, "id-1");
        assert_eq!(back.secret.expose(), "se:cr et%+");
        // Plain (not form-encoded) header with a colon in the secret.
        use base64::engine::general_purpose::STANDARD;
        let raw = format!("bAsIc {}", STANDARD.encode("abc:def:ghi"));
        let c = ClientCredentials::from_basic_header(raw.as_bytes()).unwrap();
        assert_eq!((c.client_id.as_str(), c.secret.expose()), ("abc", "def:ghi"));
    }

    #[test]
    fn replacement_characters_round_trip_and_invalid_utf8_is_refused() {
        let creds = ClientCredentials::new("\u{FFFD}", ClientSecret::new("a\u{FFFD}+%"));
        let back = ClientCredentials::from_basic_header(creds.to_basic_header().as_bytes()).unwrap();
        assert_eq!(back.client_id, "\u{FFFD}");
        assert_eq!(back.secret.expose(), "a\u{FFFD}+%");
        use base64::engine::general_purpose::STANDARD;
        let bad = format!("Basic {}", STANDARD.encode("id:%FF%FE"));
        assert_eq!(
            ClientCredentials::from_basic_header(bad.as_bytes()).map(|_| ()),
            Err(BasicAuthError::Malformed)
        );
    }

    #[test]
    fn hex_is_lower_case_and_parses_back_only_from_its_own_spelling() {
        assert_eq!(to_hex(&[]), "");
        assert_eq!(to_hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        let bytes = sha256(b"abc");
        let text = to_hex(&bytes);
        assert_eq!(text, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(from_hex_32(&text), Some(bytes));
        assert_eq!(from_hex_32(&text.to_uppercase()), None);
        assert_eq!(from_hex_32(&text[1..]), None);
        assert_eq!(from_hex_32(&"g".repeat(64)), None);
    }

    #[test]
    fn form_credentials_follow_one_set_of_rules() {
        let basic = ClientCredentials::new("p1", ClientSecret::new("s")).to_basic_header();
        let b = basic.as_bytes();
        let form = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
        };
        let read = |auth: &[&[u8]], pairs: &[(&str, &str)]| {
            ClientCredentials::from_basic_or_form(auth.iter().copied(), &form(pairs))
                .map(|c| c.map(|c| (c.client_id, c.secret.expose().to_owned())))
        };
        let p1 = Some(("p1".to_owned(), "s".to_owned()));
        assert_eq!(read(&[], &[]), Ok(None));
        assert_eq!(read(&[b], &[]), Ok(p1.clone()));
        assert_eq!(
            read(&[], &[("client_id", "p1"), ("client_secret", "s")]),
            Ok(p1.clone())
        );
        assert_eq!(read(&[b], &[("client_id", "p1")]), Ok(p1.clone()));
        assert_eq!(read(&[b], &[("client_id", "p2")]), Err(CredentialsError::Multiple));
        assert_eq!(read(&[b], &[("client_id", "")]), Err(CredentialsError::Multiple));
        assert_eq!(read(&[b], &[("client_secret", "s")]), Err(CredentialsError::Multiple));
        assert_eq!(read(&[b], &[("client_secret", "")]), Err(CredentialsError::Multiple));
        assert_eq!(
            read(&[b], &[("client_id", "p1"), ("client_secret", "s")]),
            Err(CredentialsError::Multiple)
        );
        assert_eq!(read(&[], &[("client_id", "p1")]), Err(CredentialsError::IncompleteForm));
        assert_eq!(
            read(&[], &[("client_secret", "s")]),
            Err(CredentialsError::IncompleteForm)
        );
        assert_eq!(
            read(&[], &[("client_id", ""), ("client_secret", "s")]),
            Err(CredentialsError::IncompleteForm)
        );
        assert_eq!(
            read(&[], &[("client_id", "p1"), ("client_secret", "")]),
            Ok(Some(("p1".to_owned(), String::new()))),
            "an empty secret is sent, and fails authentication"
        );
        assert_eq!(
            read(&[b, b], &[]),
            Err(CredentialsError::Basic(BasicAuthError::Malformed))
        );
        assert_eq!(
            read(&[b"Bearer x"], &[]),
            Err(CredentialsError::Basic(BasicAuthError::NotBasic))
        );
    }

    #[test]
    fn malformed_basic_headers_are_typed_errors() {
        use base64::engine::general_purpose::STANDARD;
        let cases: Vec<(Vec<u8>, BasicAuthError)> = vec![
            (b"Bearer abc".to_vec(), BasicAuthError::NotBasic),
            (b"Basic".to_vec(), BasicAuthError::NotBasic),
            (b"Basic !!!".to_vec(), BasicAuthError::Malformed),
            (
                format!("Basic {}", STANDARD.encode("nocolon")).into_bytes(),
                BasicAuthError::Malformed,
            ),
            (
                format!("Basic {}", STANDARD.encode(":secret")).into_bytes(),
                BasicAuthError::Malformed,
            ),
            (
                format!("Basic {}", STANDARD.encode([0xff, b':', 0xfe])).into_bytes(),
                BasicAuthError::Malformed,
            ),
            (b"Basic \xff\xfe".to_vec(), BasicAuthError::Malformed),
            (vec![b'A'; MAX_AUTHORIZATION_LEN + 1], BasicAuthError::Malformed),
        ];
        for (header, want) in cases {
            let got = ClientCredentials::from_basic_header(&header).map(|_| ()).unwrap_err();
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(&header));
        }
    }
}
