//! One-time codes: issued to the customer app, redeemed once by the KB.
//!
//! The customer app's backend asks for a code with its client credentials
//! and the reader's identity ([`CodeRequest`]); the [`CodeIssuer`] answers
//! with an [`AuthCode`] of 32 random bytes and stores only its SHA-256
//! digest beside the [`CodeGrant`]. The KB then redeems the code over the
//! back channel, exactly once: [`CodeStore::redeem`] is one atomic call.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::clock::Clock;
use crate::config::{ClientAuthError, JwtConfig};
use crate::jose::{SignError, Text};
use crate::reader::{PayloadError, ReaderIdentity, describe_json_error, parse_validity};
use crate::secret::{ClientId, TokenText, random_token_text, sha256, to_hex};
use crate::validity::TokenValidity;

/// How long a code lives unless configured otherwise.
pub const DEFAULT_CODE_LIFETIME: Duration = Duration::minutes(5);
/// The longest code lifetime that may be configured.
pub const MAX_CODE_LIFETIME: Duration = Duration::minutes(10);
/// The largest reader identity ([`ReaderIdentity::token_bytes`]) a
/// [`CodeIssuer`] accepts when no [`IdentityServer`](crate::IdentityServer)
/// has told it how much room its tokens have. An identity server sets the
/// exact room of its own signers instead.
pub const DEFAULT_MAX_IDENTITY_BYTES: usize = 4096;
/// How many outstanding (issued, unredeemed, unexpired) codes one
/// configuration may have at a time unless configured otherwise.
pub const DEFAULT_MAX_OUTSTANDING_CODES: usize = 1000;

/// A one-time code, in clear. `Debug` redacts it; it is zeroed on drop.
#[derive(Clone)]
pub struct AuthCode(CodeText);

/// The text of an [`AuthCode`]: a code this crate generated is held on the
/// stack (no allocation); one received from elsewhere as it came.
#[derive(Clone)]
enum CodeText {
    Generated(TokenText),
    Received(Zeroizing<String>),
}

impl AuthCode {
    fn generate() -> Self {
        Self(CodeText::Generated(random_token_text()))
    }

    /// A code received from the identity server (customer-app side).
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    pub(crate) fn received(code: String) -> Self {
        Self(CodeText::Received(Zeroizing::new(code)))
    }

    /// The code's text, to send to the customer app.
    pub fn expose(&self) -> &str {
        match &self.0 {
            CodeText::Generated(text) => text.as_str(),
            CodeText::Received(text) => text,
        }
    }

    /// The digest under which the code is stored.
    pub fn digest(&self) -> CodeDigest {
        CodeDigest::of(self.expose())
    }
}

impl fmt::Debug for AuthCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthCode([redacted])")
    }
}

/// SHA-256 of a code: the key a [`CodeStore`] keeps instead of the code.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CodeDigest(pub [u8; 32]);

impl CodeDigest {
    /// The digest of a code's text.
    pub fn of(code: &str) -> Self {
        Self(sha256(code.as_bytes()))
    }

    /// The digest as lower-case hex (for stores keyed by text).
    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }
}

impl fmt::Debug for CodeDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CodeDigest({})", &self.to_hex()[..8])
    }
}

/// A validated code request: who the reader is and how long their token
/// should last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRequest {
    /// The reader.
    pub identity: ReaderIdentity,
    /// The clamped token validity.
    pub validity: TokenValidity,
    /// The login binding challenge the KB passed to the login URL
    /// (`codeChallenge`, S256 of the verifier in the reader's browser), if
    /// the customer app returned it.
    pub code_challenge: Option<String>,
}

/// Whether `c` has the shape of an S256 challenge: 43 base64url characters.
fn is_s256_challenge(c: &str) -> bool {
    c.len() == crate::secret::RANDOM_TOKEN_LEN && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The S256 challenge of a login binding verifier (RFC 7636 section 4.2):
/// base64url(SHA-256(verifier)).
pub fn s256_challenge(verifier: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes()))
}

/// Whether `verifier` answers `challenge`: the whole value, or one of
/// at most [`MAX_VERIFIERS`] space-separated verifiers in it (a KB sends
/// those of every sign-in attempt its reader's browser has open, since it
/// cannot tell which one the code was issued for). Each compared in
/// constant time.
pub(crate) fn verifier_answers(challenge: &str, verifier: &str) -> bool {
    verifier_matches(challenge, verifier)
        || verifier
            .split(' ')
            .take(MAX_VERIFIERS)
            .fold(false, |any, v| verifier_matches(challenge, v) | any)
}

/// The most verifiers one `code_verifier` may carry
/// ([`verifier_answers`]); any beyond are not tried.
pub(crate) const MAX_VERIFIERS: usize = 4;

/// Whether `verifier` answers `challenge`, compared in constant time.
pub(crate) fn verifier_matches(challenge: &str, verifier: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    s256_challenge(verifier).as_bytes().ct_eq(challenge.as_bytes()).into()
}

/// A code request body as sent: text borrowed from the body unless it has
/// escapes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawCodeRequest<'a> {
    #[serde(borrow)]
    username: Cow<'a, str>,
    #[serde(borrow)]
    first_name: Cow<'a, str>,
    #[serde(borrow)]
    last_name: Cow<'a, str>,
    #[serde(borrow)]
    email_id: Cow<'a, str>,
    #[serde(default, borrow)]
    reader_group_ids: Option<Vec<Text<'a>>>,
    #[serde(default, borrow)]
    token_validity: Option<&'a RawValue>,
    #[serde(default, borrow)]
    code_challenge: Option<Text<'a>>,
}

/// A code request read and checked, its text still borrowed from the body.
struct CheckedRequest<'a> {
    raw: RawCodeRequest<'a>,
    validity: TokenValidity,
    /// [`ReaderIdentity::token_bytes`] of the request's identity, counted
    /// as its fields were checked.
    token_bytes: usize,
}

impl<'a> CheckedRequest<'a> {
    /// Parses and checks a body: the rules and errors of
    /// [`CodeRequest::from_json`].
    fn from_json(body: &'a [u8]) -> Result<Self, PayloadError> {
        let raw: RawCodeRequest<'a> =
            serde_json::from_slice(body).map_err(|e| PayloadError::Json(describe_json_error(&e)))?;
        let token_bytes = crate::reader::check_fields_sized(
            &raw.username,
            &raw.first_name,
            &raw.last_name,
            &raw.email_id,
            raw.reader_group_ids.as_deref().unwrap_or_default(),
        )?;
        let validity = TokenValidity::from_minutes(parse_validity(raw.token_validity)?);
        if raw.code_challenge.as_ref().is_some_and(|c| !is_s256_challenge(&c.0)) {
            return Err(PayloadError::InvalidCodeChallenge);
        }
        Ok(Self {
            raw,
            validity,
            token_bytes,
        })
    }

    fn groups(&self) -> &[Text<'a>] {
        self.raw.reader_group_ids.as_deref().unwrap_or_default()
    }

    fn into_owned(self) -> CodeRequest {
        let r = self.raw;
        CodeRequest {
            identity: ReaderIdentity {
                username: r.username.into_owned(),
                first_name: r.first_name.into_owned(),
                last_name: r.last_name.into_owned(),
                email: r.email_id.into_owned(),
                reader_group_ids: r
                    .reader_group_ids
                    .unwrap_or_default()
                    .into_iter()
                    .map(|g| g.0.into_owned())
                    .collect(),
            },
            validity: self.validity,
            code_challenge: r.code_challenge.map(|c| c.0.into_owned()),
        }
    }
}

impl CodeRequest {
    /// Parses and checks the JSON body of a code request:
    /// `{username, firstName, lastName, emailId, readerGroupIds?, tokenValidity?}`.
    ///
    /// `tokenValidity` is minutes; any JSON number is clamped to 5..=1440
    /// (negative, fractional and huge ones too), `null` or absent means 15.
    ///
    /// # Errors
    /// [`PayloadError`] names what is wrong.
    pub fn from_json(body: &[u8]) -> Result<Self, PayloadError> {
        CheckedRequest::from_json(body).map(CheckedRequest::into_owned)
    }
}

/// What a code stands for, stored under the code's digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeGrant {
    /// The configuration that issued the code; only it may redeem it.
    pub client_id: ClientId,
    /// The reader.
    pub identity: ReaderIdentity,
    /// Lifetime of the token the code is exchanged for, in seconds.
    pub token_validity_seconds: i64,
    /// When the code was issued.
    #[serde(with = "time::serde::timestamp")]
    pub issued_at: OffsetDateTime,
    /// When the code stops being redeemable.
    #[serde(with = "time::serde::timestamp")]
    pub expires_at: OffsetDateTime,
    /// The login binding challenge, when the code is bound to a browser.
    #[serde(default)]
    pub code_challenge: Option<String>,
}

impl CodeGrant {
    /// The token validity this grant asked for.
    pub fn token_validity(&self) -> Duration {
        Duration::seconds(self.token_validity_seconds)
    }
}

/// A [`CodeGrant`] whose text is borrowed (from the request body it was
/// read from), for [`CodeStore::insert_limited_ref`]: a store that packs
/// grants its own way copies the text once, straight from the body.
#[derive(Debug, Clone, Copy)]
pub struct CodeGrantRef<'a> {
    /// [`CodeGrant::client_id`].
    pub client_id: &'a ClientId,
    /// [`ReaderIdentity::username`].
    pub username: &'a str,
    /// [`ReaderIdentity::first_name`].
    pub first_name: &'a str,
    /// [`ReaderIdentity::last_name`].
    pub last_name: &'a str,
    /// [`ReaderIdentity::email`].
    pub email: &'a str,
    /// [`ReaderIdentity::reader_group_ids`].
    pub reader_group_ids: GroupIds<'a>,
    /// [`CodeGrant::token_validity_seconds`].
    pub token_validity_seconds: i64,
    /// [`CodeGrant::issued_at`].
    pub issued_at: OffsetDateTime,
    /// [`CodeGrant::expires_at`].
    pub expires_at: OffsetDateTime,
    /// [`CodeGrant::code_challenge`].
    pub code_challenge: Option<&'a str>,
}

/// The reader group ids of a [`CodeGrantRef`], borrowed.
#[derive(Clone, Copy)]
pub struct GroupIds<'a>(GroupSlice<'a>);

#[derive(Clone, Copy)]
enum GroupSlice<'a> {
    Owned(&'a [String]),
    Read(&'a [Text<'a>]),
    /// `count` strings, each a little-endian `u32` length then its UTF-8
    /// bytes, already checked by whoever made it.
    Packed {
        bytes: &'a [u8],
        count: usize,
    },
}

impl<'a> GroupIds<'a> {
    /// Group ids held as `String`s.
    #[must_use]
    pub fn new(groups: &'a [String]) -> Self {
        Self(GroupSlice::Owned(groups))
    }

    /// Group ids packed as `count` strings, each a little-endian `u32`
    /// length then its UTF-8 bytes; `None` unless `bytes` holds exactly
    /// that.
    #[must_use]
    pub fn packed(bytes: &'a [u8], count: usize) -> Option<Self> {
        let mut rest = bytes;
        for _ in 0..count {
            let (text, after) = next_packed(rest)?;
            std::str::from_utf8(text).ok()?;
            rest = after;
        }
        rest.is_empty().then_some(Self(GroupSlice::Packed { bytes, count }))
    }

    /// How many.
    #[must_use]
    pub fn len(&self) -> usize {
        match self.0 {
            GroupSlice::Owned(g) => g.len(),
            GroupSlice::Read(g) => g.len(),
            GroupSlice::Packed { count, .. } => count,
        }
    }

    /// Whether there is none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The group ids, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a str> + Clone + 'a {
        match self.0 {
            GroupSlice::Owned(g) => GroupIter::Owned(g.iter()),
            GroupSlice::Read(g) => GroupIter::Read(g.iter()),
            GroupSlice::Packed { bytes, count } => GroupIter::Packed { bytes, count },
        }
    }
}

/// The first packed string of `bytes` and what follows it.
fn next_packed(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?);
    let len = usize::try_from(len).ok()?;
    let text = bytes.get(4..4usize.checked_add(len)?)?;
    Some((text, &bytes[4 + len..]))
}

/// [`GroupIds::iter`].
#[derive(Clone)]
enum GroupIter<'a> {
    Owned(std::slice::Iter<'a, String>),
    Read(std::slice::Iter<'a, Text<'a>>),
    Packed { bytes: &'a [u8], count: usize },
}

impl<'a> Iterator for GroupIter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        match self {
            Self::Owned(g) => g.next().map(String::as_str),
            Self::Read(g) => g.next().map(|g| &*g.0),
            Self::Packed { bytes, count } => {
                *count = count.checked_sub(1)?;
                let (text, rest) = next_packed(bytes)?;
                *bytes = rest;
                // Checked as UTF-8 when the packed ids were accepted.
                Some(std::str::from_utf8(text).unwrap_or_default())
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match self {
            Self::Owned(g) => g.len(),
            Self::Read(g) => g.len(),
            Self::Packed { count, .. } => *count,
        };
        (n, Some(n))
    }
}

impl Serialize for GroupIds<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl ExactSizeIterator for GroupIter<'_> {}

impl fmt::Debug for GroupIds<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> CodeGrantRef<'a> {
    /// A borrowed view of `grant`.
    #[must_use]
    pub fn of(grant: &'a CodeGrant) -> Self {
        let who = &grant.identity;
        Self {
            client_id: &grant.client_id,
            username: &who.username,
            first_name: &who.first_name,
            last_name: &who.last_name,
            email: &who.email,
            reader_group_ids: GroupIds::new(&who.reader_group_ids),
            token_validity_seconds: grant.token_validity_seconds,
            issued_at: grant.issued_at,
            expires_at: grant.expires_at,
            code_challenge: grant.code_challenge.as_deref(),
        }
    }

    /// The owned grant.
    #[must_use]
    pub fn to_grant(&self) -> CodeGrant {
        CodeGrant {
            client_id: self.client_id.clone(),
            identity: ReaderIdentity {
                username: self.username.to_owned(),
                first_name: self.first_name.to_owned(),
                last_name: self.last_name.to_owned(),
                email: self.email.to_owned(),
                reader_group_ids: self.reader_group_ids.iter().map(str::to_owned).collect(),
            },
            token_validity_seconds: self.token_validity_seconds,
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            code_challenge: self.code_challenge.map(str::to_owned),
        }
    }
}

/// The answer of one atomic redemption.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[allow(
    clippy::large_enum_variant,
    reason = "`Redeemed` is the answer of almost every call: boxing it would add an allocation to each redemption"
)]
pub enum Redemption {
    /// This call took the code; no other call ever will.
    Redeemed(CodeGrant),
    /// The code existed but its time is past. It is now used up.
    Expired,
    /// The code was redeemed before. Carries the first redemption's grant
    /// so that what it issued can be revoked (RFC 6749 section 4.1.2).
    AlreadyUsed(Box<CodeGrant>),
    /// No such code (never issued, or its tombstone has been swept).
    Unknown,
}

/// The answer of [`CodeStore::insert_limited`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Insertion {
    /// The grant is stored.
    Stored,
    /// The client has as many outstanding codes as the limit allows;
    /// nothing was stored.
    LimitReached {
        /// When the client's oldest outstanding code expires (and room is
        /// made at the latest).
        retry_at: OffsetDateTime,
    },
}

/// Persistent storage of one-time code grants.
///
/// # Contract
/// - Codes are stored under their [`CodeDigest`], never in clear.
/// - [`redeem`](Self::redeem) **must** be atomic: of any number of concurrent
///   calls for one digest, at most one answers [`Redemption::Redeemed`]. A
///   check followed by a separate delete is not atomic.
/// - Every redemption attempt counts as use: after any `redeem` call the code
///   can never be `Redeemed`.
/// - A redeemed code leaves a tombstone until its `expires_at`, so a second
///   use answers [`Redemption::AlreadyUsed`] rather than `Unknown`.
/// - [`insert_limited`](Self::insert_limited) **must not** overwrite an
///   existing entry.
/// - The store counts each client's *outstanding* codes: inserted, not yet
///   redeemed (a redemption attempt of any outcome ends it) and not expired
///   (`expires_at` has not been reached). [`insert_limited`](Self::insert_limited)
///   stores nothing and answers [`Insertion::LimitReached`] when the
///   grant's client already has `limit` of them; checking and inserting is
///   one atomic step, so concurrent inserts never exceed the limit.
pub trait CodeStore: Send + Sync {
    /// The store's own failure.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Stores a new grant under `digest` until `grant.expires_at`, unless
    /// `grant.client_id` already has `limit` outstanding codes as of
    /// `grant.issued_at`.
    fn insert_limited(
        &self,
        digest: CodeDigest,
        grant: CodeGrant,
        limit: usize,
    ) -> impl Future<Output = Result<Insertion, Self::Error>> + Send;

    /// [`insert_limited`](Self::insert_limited) of a borrowed grant: the
    /// same contract and answer. By default it makes the owned grant; a
    /// store that packs grants its own way can copy the text once instead.
    fn insert_limited_ref(
        &self,
        digest: CodeDigest,
        grant: &CodeGrantRef<'_>,
        limit: usize,
    ) -> impl Future<Output = Result<Insertion, Self::Error>> + Send {
        self.insert_limited(digest, grant.to_grant(), limit)
    }

    /// Stores a new grant under `digest` until `grant.expires_at`, with no
    /// limit (it still counts as outstanding).
    fn insert(&self, digest: CodeDigest, grant: CodeGrant) -> impl Future<Output = Result<(), Self::Error>> + Send {
        let insertion = self.insert_limited(digest, grant, usize::MAX);
        async move { insertion.await.map(|_| ()) }
    }

    /// Takes the grant stored under `digest`, atomically, as of `now`.
    fn redeem(
        &self,
        digest: CodeDigest,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Redemption, Self::Error>> + Send;

    /// [`redeem`](Self::redeem), showing a grant this call redeemed to `f`
    /// borrowed, and answering what `f` makes of it; an expired, used or
    /// unknown code is the [`GrantProblem`]. The same contract and
    /// redemption as `redeem`. By default it takes the owned grant; a store
    /// that packs grants its own way can show them where they lie.
    fn redeem_with<T: Send, F: FnOnce(&CodeGrantRef<'_>) -> T + Send>(
        &self,
        digest: CodeDigest,
        now: OffsetDateTime,
        f: F,
    ) -> impl Future<Output = Result<Result<T, GrantProblem>, Self::Error>> + Send {
        let redemption = self.redeem(digest, now);
        async move {
            Ok(match redemption.await? {
                Redemption::Redeemed(grant) => Ok(f(&CodeGrantRef::of(&grant))),
                Redemption::Expired => Err(GrantProblem::Expired),
                Redemption::AlreadyUsed(_) => Err(GrantProblem::AlreadyUsed),
                Redemption::Unknown => Err(GrantProblem::Unknown),
            })
        }
    }
}

crate::forward::forward_store!(CodeStore {
    type Error = T::Error;
    fn insert_limited(&self, digest: CodeDigest, grant: CodeGrant, limit: usize) -> impl Future<Output = Result<Insertion, Self::Error>> + Send {
        (**self).insert_limited(digest, grant, limit)
    }
    fn insert_limited_ref(&self, digest: CodeDigest, grant: &CodeGrantRef<'_>, limit: usize) -> impl Future<Output = Result<Insertion, Self::Error>> + Send {
        (**self).insert_limited_ref(digest, grant, limit)
    }
    fn insert(&self, digest: CodeDigest, grant: CodeGrant) -> impl Future<Output = Result<(), Self::Error>> + Send {
        (**self).insert(digest, grant)
    }
    fn redeem(&self, digest: CodeDigest, now: OffsetDateTime) -> impl Future<Output = Result<Redemption, Self::Error>> + Send {
        (**self).redeem(digest, now)
    }
    fn redeem_with<U: Send, F: FnOnce(&CodeGrantRef<'_>) -> U + Send>(&self, digest: CodeDigest, now: OffsetDateTime, f: F) -> impl Future<Output = Result<Result<U, GrantProblem>, Self::Error>> + Send {
        (**self).redeem_with(digest, now, f)
    }
});

/// Why a code could not be issued or redeemed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodeError {
    /// The client credentials are wrong (unknown client id or wrong secret;
    /// the two are not told apart).
    #[error("client authentication failed")]
    InvalidClient,
    /// The configuration is disabled.
    #[error("this JWT configuration is disabled")]
    Disabled,
    /// The request body is not a valid code request.
    #[error(transparent)]
    InvalidRequest(#[from] PayloadError),
    /// The code cannot be redeemed.
    #[error("the code is {0}")]
    InvalidGrant(GrantProblem),
    /// The configuration has as many outstanding codes as allowed
    /// ([`CodeIssuer::with_max_outstanding`]); nothing was issued.
    #[error("this JWT configuration has too many outstanding codes; try again in {} s", retry_after.whole_seconds())]
    TooManyCodes {
        /// How long until room is made at the latest (at least one second).
        retry_after: Duration,
    },
    /// The token signer failed: a token could not be signed (the code was
    /// used up).
    #[error("the token could not be signed")]
    Sign(#[source] SignError),
    /// The configuration store failed (looking up the client's
    /// configuration).
    #[error("the configuration store failed")]
    ConfigStore(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The code store failed (storing or redeeming a code).
    #[error("the code store failed")]
    CodeStore(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<ClientAuthError> for CodeError {
    fn from(e: ClientAuthError) -> Self {
        match e {
            ClientAuthError::InvalidClient => Self::InvalidClient,
            ClientAuthError::Disabled => Self::Disabled,
        }
    }
}

impl CodeError {
    /// The OAuth `error` code (RFC 6749 section 5.2): `invalid_client`,
    /// `access_denied` for a disabled configuration, `invalid_request`,
    /// `invalid_grant`, `too_many_requests` for too many outstanding codes,
    /// `server_error` when signing failed, `temporarily_unavailable` when a
    /// store failed.
    #[must_use]
    pub const fn oauth_error(&self) -> &'static str {
        match self {
            Self::InvalidClient => "invalid_client",
            Self::Disabled => "access_denied",
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::TooManyCodes { .. } => "too_many_requests",
            Self::Sign(_) => "server_error",
            Self::ConfigStore(_) | Self::CodeStore(_) => "temporarily_unavailable",
        }
    }

    /// The HTTP status: 401 for `invalid_client` (send
    /// `WWW-Authenticate: Basic` with it), 403 for a disabled
    /// configuration, 400 for a bad request or grant, 429 for too many
    /// outstanding codes (send `Retry-After`), 500 when signing failed, 503
    /// when a store failed.
    #[must_use]
    pub const fn status(&self) -> u16 {
        match self {
            Self::InvalidClient => 401,
            Self::Disabled => 403,
            Self::InvalidRequest(_) | Self::InvalidGrant(_) => 400,
            Self::TooManyCodes { .. } => 429,
            Self::Sign(_) => 500,
            Self::ConfigStore(_) | Self::CodeStore(_) => 503,
        }
    }
}

/// Why a code cannot be redeemed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GrantProblem {
    /// Never issued, malformed, or long gone.
    Unknown,
    /// Past its lifetime.
    Expired,
    /// Redeemed before.
    AlreadyUsed,
    /// Issued for another configuration.
    WrongClient,
    /// Its configuration was disabled or deleted after it was issued.
    ConfigurationInactive,
    /// It is bound to a browser (login binding) and the verifier is missing
    /// or wrong.
    BindingMismatch,
}

impl fmt::Display for GrantProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unknown => "unknown",
            Self::Expired => "expired",
            Self::AlreadyUsed => "already used",
            Self::WrongClient => "issued to another client",
            Self::ConfigurationInactive => "from a configuration that is no longer active",
            Self::BindingMismatch => "bound to another browser",
        })
    }
}

/// A reader identity to issue a code for, borrowed, with its
/// [`ReaderIdentity::token_bytes`].
struct IdentityRef<'a> {
    username: &'a str,
    first_name: &'a str,
    last_name: &'a str,
    email: &'a str,
    groups: GroupIds<'a>,
    token_bytes: usize,
}

/// Issues and redeems one-time codes over a [`CodeStore`].
///
/// Before a code is stored, the request must fit: its reader identity in
/// the room the tokens have ([`max_identity_bytes`](Self::max_identity_bytes)),
/// and its configuration under the bound on outstanding codes
/// ([`max_outstanding`](Self::max_outstanding)).
#[derive(Debug)]
pub struct CodeIssuer<S, C> {
    store: S,
    clock: C,
    lifetime: Duration,
    max_outstanding: usize,
    /// Set by the host.
    max_identity_bytes: Option<usize>,
    /// Set by the identity server from its signers: the room its tokens have.
    token_room: Option<usize>,
}

impl<S: CodeStore, C: Clock> CodeIssuer<S, C> {
    /// An issuer whose codes live [`DEFAULT_CODE_LIFETIME`], with at most
    /// [`DEFAULT_MAX_OUTSTANDING_CODES`] outstanding per configuration.
    pub fn new(store: S, clock: C) -> Self {
        Self {
            store,
            clock,
            lifetime: DEFAULT_CODE_LIFETIME,
            max_outstanding: DEFAULT_MAX_OUTSTANDING_CODES,
            max_identity_bytes: None,
            token_room: None,
        }
    }

    /// Sets how many outstanding (issued, unredeemed, unexpired) codes one
    /// configuration may have; at least 1. Beyond it, issuing answers
    /// [`CodeError::TooManyCodes`] until a code is redeemed or expires. The
    /// store keeps the count, so with a shared store the bound holds across
    /// instances.
    #[must_use]
    pub fn with_max_outstanding(mut self, max: usize) -> Self {
        self.max_outstanding = max.max(1);
        self
    }

    /// The bound on outstanding codes per configuration.
    pub fn max_outstanding(&self) -> usize {
        self.max_outstanding
    }

    /// Lowers the largest reader identity accepted
    /// ([`ReaderIdentity::token_bytes`]). An identity server never lets it
    /// exceed the room of its own tokens.
    #[must_use]
    pub fn with_max_identity_bytes(mut self, max: usize) -> Self {
        self.max_identity_bytes = Some(max);
        self
    }

    /// The largest reader identity accepted, in bytes: the host's setting,
    /// capped by the room of the identity server's tokens, or
    /// [`DEFAULT_MAX_IDENTITY_BYTES`] when neither is known.
    pub fn max_identity_bytes(&self) -> usize {
        match (self.max_identity_bytes, self.token_room) {
            (Some(host), Some(room)) => host.min(room),
            (None, Some(room)) => room,
            (Some(host), None) => host,
            (None, None) => DEFAULT_MAX_IDENTITY_BYTES,
        }
    }

    /// The room an identity server's tokens have for a reader identity.
    pub(crate) fn set_token_room(&mut self, room: usize) {
        self.token_room = Some(room);
    }

    /// Sets the code lifetime, bounded to 1 second ..= [`MAX_CODE_LIFETIME`].
    pub fn with_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime.clamp(Duration::SECOND, MAX_CODE_LIFETIME);
        self
    }

    /// The code lifetime.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// Authenticates the caller against `config` and issues a code for
    /// `request`. Pass `None` for an unknown client id: the same work is
    /// done, so the two failures are not told apart by timing.
    ///
    /// # Errors
    /// [`CodeError::InvalidClient`] for an unknown client or a wrong secret,
    /// [`CodeError::Disabled`] for a disabled configuration (checked after
    /// the secret), [`CodeError::InvalidRequest`] for a missing login
    /// binding or an identity too large for a token
    /// ([`PayloadError::IdentityTooLarge`]), [`CodeError::TooManyCodes`]
    /// when the configuration has as many outstanding codes as allowed,
    /// [`CodeError::CodeStore`] if the store fails.
    pub async fn issue(
        &self,
        config: Option<&JwtConfig>,
        secret: &[u8],
        request: CodeRequest,
    ) -> Result<AuthCode, CodeError> {
        let config = JwtConfig::authenticate(config, secret)?;
        self.mint(config, request).await
    }

    /// Like [`issue`](Self::issue), for a raw JSON body: the credentials
    /// are checked first, so an unauthenticated caller learns nothing about
    /// the payload rules.
    ///
    /// # Errors
    /// As [`issue`](Self::issue), plus [`CodeError::InvalidRequest`] for a
    /// body that is not a valid [`CodeRequest`].
    pub async fn issue_json(
        &self,
        config: Option<&JwtConfig>,
        secret: &[u8],
        body: &[u8],
    ) -> Result<AuthCode, CodeError> {
        let config = JwtConfig::authenticate(config, secret)?;
        // The body's text is checked where it lies and copied once, into
        // the store.
        let request = CheckedRequest::from_json(body)?;
        let r = &request.raw;
        let identity = IdentityRef {
            username: &r.username,
            first_name: &r.first_name,
            last_name: &r.last_name,
            email: &r.email_id,
            groups: GroupIds(GroupSlice::Read(request.groups())),
            token_bytes: request.token_bytes,
        };
        let challenge = r.code_challenge.as_ref().map(|c| &*c.0);
        self.mint_ref(config, identity, request.validity, challenge).await
    }

    async fn mint(&self, config: &JwtConfig, request: CodeRequest) -> Result<AuthCode, CodeError> {
        self.check_fits(config, request.code_challenge.is_some(), request.identity.token_bytes())?;
        let now = self.clock.now();
        let code = AuthCode::generate();
        let grant = CodeGrant {
            client_id: config.client_id().clone(),
            identity: request.identity,
            token_validity_seconds: request.validity.whole_seconds(),
            issued_at: now,
            expires_at: now + self.lifetime,
            code_challenge: request.code_challenge,
        };
        let insertion = self
            .store
            .insert_limited(code.digest(), grant, self.max_outstanding)
            .await
            .map_err(|e| CodeError::CodeStore(Box::new(e)))?;
        self.answer(code, insertion, now)
    }

    /// The request's fit, checked before anything is issued: the login
    /// binding the configuration requires, then the room of the tokens.
    fn check_fits(&self, config: &JwtConfig, has_challenge: bool, token_bytes: usize) -> Result<(), CodeError> {
        if config.requires_login_binding() && !has_challenge {
            return Err(CodeError::InvalidRequest(PayloadError::MissingCodeChallenge));
        }
        crate::reader::check_token_room(token_bytes, self.max_identity_bytes())?;
        Ok(())
    }

    /// The code, or why the store kept nothing.
    fn answer(&self, code: AuthCode, insertion: Insertion, now: OffsetDateTime) -> Result<AuthCode, CodeError> {
        match insertion {
            Insertion::Stored => Ok(code),
            Insertion::LimitReached { retry_at } => Err(CodeError::TooManyCodes {
                retry_after: (retry_at - now).max(Duration::SECOND),
            }),
        }
    }

    /// [`mint`](Self::mint) of a request whose text is borrowed.
    async fn mint_ref(
        &self,
        config: &JwtConfig,
        identity: IdentityRef<'_>,
        validity: TokenValidity,
        code_challenge: Option<&str>,
    ) -> Result<AuthCode, CodeError> {
        self.check_fits(config, code_challenge.is_some(), identity.token_bytes)?;
        let now = self.clock.now();
        let code = AuthCode::generate();
        let grant = CodeGrantRef {
            client_id: config.client_id(),
            username: identity.username,
            first_name: identity.first_name,
            last_name: identity.last_name,
            email: identity.email,
            reader_group_ids: identity.groups,
            token_validity_seconds: validity.whole_seconds(),
            issued_at: now,
            expires_at: now + self.lifetime,
            code_challenge,
        };
        let insertion = self
            .store
            .insert_limited_ref(code.digest(), &grant, self.max_outstanding)
            .await
            .map_err(|e| CodeError::CodeStore(Box::new(e)))?;
        self.answer(code, insertion, now)
    }

    /// Redeems `code`, once. When `client` is given the code must have been
    /// issued to it.
    ///
    /// # Errors
    /// [`CodeError::InvalidGrant`] for an unknown, expired, used or foreign
    /// code; [`CodeError::CodeStore`] if the store fails.
    pub async fn redeem(&self, code: &str, client: Option<&ClientId>) -> Result<CodeGrant, CodeError> {
        let digest = Self::digest_of_code(code)?;
        self.redeem_digest(digest, client).await
    }

    /// The digest of a code as sent: [`GrantProblem::Unknown`] for text
    /// that cannot be a code (wrong length), which is never looked up.
    pub(crate) fn digest_of_code(code: &str) -> Result<CodeDigest, CodeError> {
        if code.len() != crate::secret::RANDOM_TOKEN_LEN {
            return Err(CodeError::InvalidGrant(GrantProblem::Unknown));
        }
        Ok(CodeDigest::of(code))
    }

    /// [`redeem`](Self::redeem), for the digest of a code of the right
    /// length ([`digest_of_code`](Self::digest_of_code)).
    pub(crate) async fn redeem_digest(
        &self,
        digest: CodeDigest,
        client: Option<&ClientId>,
    ) -> Result<CodeGrant, CodeError> {
        let now = self.clock.now();
        let answer = self
            .store
            .redeem(digest, now)
            .await
            .map_err(|e| CodeError::CodeStore(Box::new(e)))?;
        match answer {
            Redemption::Redeemed(grant) => match client {
                Some(c) if *c != grant.client_id => Err(CodeError::InvalidGrant(GrantProblem::WrongClient)),
                _ => Ok(grant),
            },
            Redemption::Expired => Err(CodeError::InvalidGrant(GrantProblem::Expired)),
            Redemption::AlreadyUsed(_) => Err(CodeError::InvalidGrant(GrantProblem::AlreadyUsed)),
            Redemption::Unknown => Err(CodeError::InvalidGrant(GrantProblem::Unknown)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::reader::MAX_FIELD_CHARS;

    fn parse(json: &str) -> Result<CodeRequest, PayloadError> {
        CodeRequest::from_json(json.as_bytes())
    }

    const SPEC_BODY: &str = r#"{
        "username": "john.doe",
        "firstName": "John",
        "lastName": "Doe",
        "emailId": "john.doe@example.com",
        "readerGroupIds": ["group1", "group2"],
        "tokenValidity": 15
    }"#;

    #[test]
    fn the_specs_payload_parses() {
        let r = parse(SPEC_BODY).unwrap();
        assert_eq!(r.identity.username, "john.doe");
        assert_eq!(r.identity.email, "john.doe@example.com");
        assert_eq!(r.identity.reader_group_ids, ["group1", "group2"]);
        assert_eq!(r.validity.whole_minutes(), 15);
    }

    #[test]
    fn token_validity_numbers_are_clamped_and_non_numbers_refused() {
        let with = |v: &str| {
            parse(&format!(
                r#"{{"username":"u","firstName":"","lastName":"","emailId":"u@x","tokenValidity":{v}}}"#
            ))
        };
        let minutes = |v: &str| with(v).unwrap().validity.whole_minutes();
        assert_eq!(minutes("15"), 15);
        assert_eq!(minutes("3600"), 1440);
        assert_eq!(minutes("-3"), 5);
        assert_eq!(minutes("7.9"), 7);
        assert_eq!(minutes("1e400"), 1440, "a number too large for f64");
        assert_eq!(minutes("-1e400"), 5);
        assert_eq!(minutes("123456789012345678901234567890"), 1440);
        assert_eq!(minutes("null"), 15);
        for bad in ["\"15\"", "true", "[15]", "{}"] {
            assert_eq!(with(bad).unwrap_err(), PayloadError::InvalidTokenValidity, "{bad}");
        }
        let none = parse(r#"{"username":"u","firstName":"","lastName":"","emailId":"u@x"}"#).unwrap();
        assert_eq!(none.validity.whole_minutes(), 15);
    }

    #[test]
    fn bodies_that_are_not_one_object_of_the_documented_fields_are_refused() {
        let cases = [
            "",
            "[]",
            "null",
            "{",
            r#"{"username":"u","firstName":"","lastName":"","emailId":"u@x","extra":1}"#,
            r#"{"username":"u","username":"v","firstName":"","lastName":"","emailId":"u@x"}"#,
            r#"{"firstName":"","lastName":"","emailId":"u@x"}"#,
            r#"{"username":5,"firstName":"","lastName":"","emailId":"u@x"}"#,
            r#"{"username":"u","firstName":"","lastName":"","emailId":"u@x","readerGroupIds":"g"}"#,
            r#"{"username":"u","firstName":"","lastName":"","emailId":"u@x"} trailing"#,
        ];
        for body in cases {
            assert!(matches!(parse(body), Err(PayloadError::Json(_))), "{body}");
        }
        let dup = parse(r#"{"username":"u","username":"v","firstName":"","lastName":"","emailId":"u@x"}"#);
        assert!(dup.unwrap_err().to_string().contains("duplicate field `username`"));
    }

    #[test]
    fn error_descriptions_never_echo_what_was_sent() {
        let secret = "s3cr3t-Zq9xR2mP7vK4wN8bT1yH6jL0cF5dG3a";
        let cases = [
            format!(r#"{{"username":"{secret}","username":"v","firstName":"","lastName":"","emailId":"u@x"}}"#),
            format!(r#"{{"username":"u","firstName":"","lastName":"","emailId":"u@x","{secret}":1}}"#),
            format!(r#"{{"username":["{secret}"],"firstName":"","lastName":"","emailId":"u@x"}}"#),
            format!(r#"{{"username":"u","firstName":"","lastName":"","emailId":"u@x","tokenValidity":"{secret}"}}"#),
            format!(r#"{{"username":"u","firstName":"","lastName":"","emailId":"u@x","readerGroupIds":"{secret}"}}"#),
            format!(r#"{{"username":"u","firstName":"","lastName":"","emailId":"u@x","{secret}"}}"#),
            format!(r#"{{"username":"u","firstName":"","lastName":"","emailId":"u@x","codeChallenge":"{secret}"}}"#),
            format!(r#"{{"username":"u","firstName":"","lastName":"","emailId":"{secret}"}}"#),
        ];
        for body in &cases {
            let text = parse(body).unwrap_err().to_string();
            assert!(!text.contains("s3cr3t"), "{text}");
            assert!(!text.is_empty());
        }
        let unknown = parse(&cases[1]).unwrap_err().to_string();
        assert!(unknown.ends_with("unknown field at line 1 column 101"), "{unknown}");
        let wrong_type = parse(&cases[2]).unwrap_err().to_string();
        assert!(wrong_type.contains("invalid type: sequence at line 1"), "{wrong_type}");
    }

    #[test]
    fn field_rules_are_enforced() {
        let body = |u: &str, e: &str| format!(r#"{{"username":{u},"firstName":"","lastName":"","emailId":{e}}}"#);
        assert_eq!(
            parse(&body("\"\"", "\"u@x\"")).unwrap_err(),
            PayloadError::Empty("username")
        );
        assert_eq!(
            parse(&body("\"a\\nb\"", "\"u@x\"")).unwrap_err(),
            PayloadError::ControlCharacters("username")
        );
        assert_eq!(
            parse(&body("\"u\"", "\"nope\"")).unwrap_err(),
            PayloadError::InvalidEmail
        );
        assert_eq!(
            parse(&body("\"u\"", "\"a b@x\"")).unwrap_err(),
            PayloadError::InvalidEmail
        );
        let long = format!("\"{}\"", "x".repeat(MAX_FIELD_CHARS + 1));
        assert_eq!(
            parse(&body(&long, "\"u@x\"")).unwrap_err(),
            PayloadError::TooLong("username")
        );
        // Emails are kept exactly as sent.
        let r = parse(&body("\"u\"", "\"J.Doe@Example.COM\"")).unwrap();
        assert_eq!(r.identity.email, "J.Doe@Example.COM");
    }

    #[test]
    fn errors_do_not_echo_input() {
        let e = parse(r#"{"username":"SECRET-VALUE","firstName":1,"lastName":"","emailId":"u@x"}"#).unwrap_err();
        assert!(!e.to_string().contains("SECRET-VALUE"), "{e}");
    }

    #[test]
    fn every_failing_party_has_its_own_variant_oauth_code_and_status() {
        let store_failure = || Box::new(std::io::Error::other("down")) as Box<dyn std::error::Error + Send + Sync>;
        let cases = [
            (CodeError::InvalidClient, "invalid_client", 401),
            (CodeError::Disabled, "access_denied", 403),
            (
                CodeError::InvalidRequest(PayloadError::InvalidEmail),
                "invalid_request",
                400,
            ),
            (CodeError::InvalidGrant(GrantProblem::AlreadyUsed), "invalid_grant", 400),
            (
                CodeError::TooManyCodes {
                    retry_after: Duration::SECOND,
                },
                "too_many_requests",
                429,
            ),
            (CodeError::Sign(SignError::Crypto), "server_error", 500),
            (CodeError::ConfigStore(store_failure()), "temporarily_unavailable", 503),
            (CodeError::CodeStore(store_failure()), "temporarily_unavailable", 503),
        ];
        for (e, code, status) in cases {
            assert_eq!((e.oauth_error(), e.status()), (code, status), "{e:?}");
        }
        assert_eq!(
            CodeError::ConfigStore(store_failure()).to_string(),
            "the configuration store failed"
        );
        assert_eq!(
            CodeError::CodeStore(store_failure()).to_string(),
            "the code store failed"
        );
    }

    #[test]
    fn digests_are_hex_and_stable() {
        let d = CodeDigest::of("abc");
        assert_eq!(
            d.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(format!("{:?}", AuthCode::generate()).contains("redacted"));
    }

    /// A generated code, held without an allocation, is 43 base64url
    /// characters standing for 32 random bytes, stored under the digest of
    /// exactly that text, and its clone is the same code.
    #[test]
    fn generated_codes_are_43_base64url_chars_under_their_texts_digest() {
        use base64::Engine as _;
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let code = AuthCode::generate();
            let text = code.expose();
            assert_eq!(text.len(), crate::secret::RANDOM_TOKEN_LEN);
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).unwrap();
            assert_eq!(bytes.len(), 32);
            assert_eq!(code.digest(), CodeDigest::of(text));
            assert_eq!(code.clone().expose(), text);
            assert!(seen.insert(text.to_owned()));
        }
        let received = AuthCode::received("abc".into());
        assert_eq!(received.expose(), "abc");
        assert_eq!(received.digest(), CodeDigest::of("abc"));
    }

    /// The code request as it was read before its text was borrowed: owned
    /// strings, then the identity checks, validity and challenge.
    fn owned_parse(body: &[u8]) -> Result<CodeRequest, PayloadError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
        struct Owned<'a> {
            username: String,
            first_name: String,
            last_name: String,
            email_id: String,
            #[serde(default)]
            reader_group_ids: Option<Vec<String>>,
            #[serde(default, borrow)]
            token_validity: Option<&'a RawValue>,
            #[serde(default)]
            code_challenge: Option<String>,
        }
        let raw: Owned<'_> = serde_json::from_slice(body).map_err(|e| PayloadError::Json(describe_json_error(&e)))?;
        let identity = ReaderIdentity::from_fields(
            raw.username,
            raw.first_name,
            raw.last_name,
            raw.email_id,
            raw.reader_group_ids,
        )?;
        let validity = TokenValidity::from_minutes(parse_validity(raw.token_validity)?);
        let code_challenge = match raw.code_challenge {
            None => None,
            Some(c) if is_s256_challenge(&c) => Some(c),
            Some(_) => return Err(PayloadError::InvalidCodeChallenge),
        };
        Ok(CodeRequest {
            identity,
            validity,
            code_challenge,
        })
    }

    proptest::proptest! {
        /// Reading a body with its text borrowed answers exactly what
        /// reading it into owned strings did: the same request, or the same
        /// error (messages included), for bodies with escapes, wrong types,
        /// duplicate and unknown fields.
        #[test]
        fn borrowed_reading_answers_as_the_owned_one(
            fields in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(r#""username":"jo\u0068n""#.to_owned()),
                    proptest::strategy::Just(r#""username":"john""#.to_owned()),
                    proptest::strategy::Just(r#""username":5"#.to_owned()),
                    proptest::strategy::Just(r#""firstName":"J\"o""#.to_owned()),
                    proptest::strategy::Just(r#""lastName":" ""#.to_owned()),
                    proptest::strategy::Just(r#""emailId":"a@b""#.to_owned()),
                    proptest::strategy::Just(r#""emailId":"a b@c""#.to_owned()),
                    proptest::strategy::Just(r#""readerGroupIds":["g1","g\u00e9",""]"#.to_owned()),
                    proptest::strategy::Just(r#""readerGroupIds":["g1",2]"#.to_owned()),
                    proptest::strategy::Just(r#""readerGroupIds":null"#.to_owned()),
                    proptest::strategy::Just(r#""tokenValidity":"x""#.to_owned()),
                    proptest::strategy::Just(r#""codeChallenge":"abc""#.to_owned()),
                    proptest::strategy::Just(format!(r#""codeChallenge":"{}""#, "A".repeat(43))),
                    proptest::strategy::Just(r#""extra":1"#.to_owned()),
                    "\"(username|firstName|lastName|emailId)\":\"[ -~\u{7f}\u{85}\u{a0}é\t]{0,6}\"",
                ],
                0..8,
            ),
        ) {
            let body = format!("{{{}}}", fields.join(","));
            proptest::prop_assert_eq!(CodeRequest::from_json(body.as_bytes()), owned_parse(body.as_bytes()));
        }
    }

    /// A store that only implements what it must: issuing through the
    /// borrowed path stores the grant the owned path would.
    #[test]
    fn a_store_without_a_borrowed_insert_gets_the_owned_grant() {
        use std::sync::Mutex;
        #[derive(Default)]
        struct Recording(Mutex<Vec<CodeGrant>>);
        impl CodeStore for Recording {
            type Error = std::convert::Infallible;
            fn insert_limited(
                &self,
                _: CodeDigest,
                grant: CodeGrant,
                _: usize,
            ) -> impl Future<Output = Result<Insertion, Self::Error>> + Send {
                self.0.lock().unwrap().push(grant);
                std::future::ready(Ok(Insertion::Stored))
            }
            fn redeem(
                &self,
                _: CodeDigest,
                _: OffsetDateTime,
            ) -> impl Future<Output = Result<Redemption, Self::Error>> + Send {
                std::future::ready(Ok(Redemption::Unknown))
            }
        }
        let (config, secrets) = JwtConfig::builder("app.example.com", "https://app.example.com/login")
            .build()
            .unwrap();
        let clock = crate::clock::SettableClock::new(OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap());
        let issuer = CodeIssuer::new(Recording::default(), clock);
        let body =
            br#"{"username":"jo\u0068n","firstName":"J","lastName":"D","emailId":"j@x","readerGroupIds":["g1","g2"]}"#;
        let secret = secrets.primary.expose().as_bytes();
        let mut f = std::pin::pin!(issuer.issue_json(Some(&config), secret, body));
        let polled = f
            .as_mut()
            .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()));
        assert!(matches!(polled, std::task::Poll::Ready(Ok(_))));
        let request = CodeRequest::from_json(body).unwrap();
        let stored = issuer.store().0.lock().unwrap().clone();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].identity, request.identity);
        assert_eq!(stored[0].identity.username, "john");
        assert_eq!(stored[0].client_id, *config.client_id());
        assert_eq!(stored[0].token_validity_seconds, request.validity.whole_seconds());
        assert_eq!(stored[0].expires_at - stored[0].issued_at, DEFAULT_CODE_LIFETIME);
        assert_eq!(CodeGrantRef::of(&stored[0]).to_grant(), stored[0]);
        // Its redemption, told through `redeem_with`, is its `redeem`'s.
        let mut f = std::pin::pin!(issuer.store().redeem_with(CodeDigest::of("x"), clock_now(), |_| ()));
        let polled = f
            .as_mut()
            .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()));
        assert!(matches!(polled, std::task::Poll::Ready(Ok(Err(GrantProblem::Unknown)))));
    }

    fn clock_now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()
    }
}
