//! One-time codes: issued to the customer app, redeemed once by the KB.
//!
//! The customer app's backend asks for a code with its client credentials
//! and the reader's identity ([`CodeRequest`]); the [`CodeIssuer`] answers
//! with an [`AuthCode`] of 32 random bytes and stores only its SHA-256
//! digest beside the [`CodeGrant`]. The KB then redeems the code over the
//! back channel, exactly once: [`CodeStore::redeem`] is one atomic call.

use std::fmt;
use std::future::Future;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::clock::Clock;
use crate::config::JwtConfig;
use crate::secret::{ClientId, SecretDigest, random_token, sha256};
use crate::token::SignError;
use crate::validity::TokenValidity;

/// How long a code lives unless configured otherwise.
pub const DEFAULT_CODE_LIFETIME: Duration = Duration::minutes(5);
/// The longest code lifetime that may be configured.
pub const MAX_CODE_LIFETIME: Duration = Duration::minutes(10);
/// The longest identity field (username, names, email), in characters.
pub const MAX_FIELD_CHARS: usize = 256;
/// The most reader group ids one request may carry.
pub const MAX_READER_GROUPS: usize = 100;
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
pub struct AuthCode(Zeroizing<String>);

impl AuthCode {
    fn generate() -> Self {
        Self(random_token())
    }

    /// A code received from the identity server (customer-app side).
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn received(code: String) -> Self {
        Self(Zeroizing::new(code))
    }

    /// The code's text, to send to the customer app.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The digest under which the code is stored.
    pub fn digest(&self) -> CodeDigest {
        CodeDigest::of(&self.0)
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
        use fmt::Write as _;
        self.0.iter().fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }
}

impl fmt::Debug for CodeDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CodeDigest({})", &self.to_hex()[..8])
    }
}

/// The reader a code speaks for, as the customer app described them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReaderIdentity {
    /// The reader's username in the customer app (the token's `sub`).
    pub username: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Email address, exactly as sent: never case-folded.
    pub email: String,
    /// Reader group ids granting access to parts of the KB.
    pub reader_group_ids: Vec<String>,
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

/// Why a code request body is refused. Each names the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// Not one JSON object of the documented fields and types (includes
    /// unknown fields, duplicate fields, wrong types, trailing data).
    #[error("the body is not a valid code request: {0}")]
    Json(String),
    /// A required field is empty.
    #[error("`{0}` must not be empty")]
    Empty(&'static str),
    /// A field is longer than allowed.
    #[error("`{0}` is too long")]
    TooLong(&'static str),
    /// A field contains control characters.
    #[error("`{0}` contains control characters")]
    ControlCharacters(&'static str),
    /// `emailId` is not an email address.
    #[error("`emailId` is not an email address")]
    InvalidEmail,
    /// `tokenValidity` is not a number.
    #[error("`tokenValidity` must be a number of minutes")]
    InvalidTokenValidity,
    /// Too many reader groups.
    #[error("`readerGroupIds` has more than {MAX_READER_GROUPS} entries")]
    TooManyGroups,
    /// `codeChallenge` is not 43 base64url characters (S256).
    #[error("`codeChallenge` must be the S256 challenge the KB sent (43 base64url characters)")]
    InvalidCodeChallenge,
    /// This configuration requires login binding and no `codeChallenge`
    /// was sent.
    #[error("this JWT configuration requires login binding: send the `codeChallenge` the KB passed to the login URL")]
    MissingCodeChallenge,
    /// The identity fields together ([`ReaderIdentity::token_bytes`]) are
    /// more than a token has room for: refused before anything is issued,
    /// so that no code or token is promised that could not be signed.
    #[error(
        "the reader's identity is too large: {size} bytes, at most {max} (its names, email and reader groups must fit in a signed token and a session cookie)"
    )]
    IdentityTooLarge {
        /// The identity's encoded size, in bytes.
        size: usize,
        /// The most the token has room for, in bytes.
        max: usize,
    },
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

/// Whether `verifier` answers `challenge`, compared in constant time.
pub fn verifier_matches(challenge: &str, verifier: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    s256_challenge(verifier).as_bytes().ct_eq(challenge.as_bytes()).into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawCodeRequest<'a> {
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
        let raw: RawCodeRequest<'_> =
            serde_json::from_slice(body).map_err(|e| PayloadError::Json(describe_json_error(&e)))?;
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
        Ok(Self {
            identity,
            validity,
            code_challenge,
        })
    }
}

impl ReaderIdentity {
    /// Checks the identity fields of a request body, as the code and widget
    /// flows both send them: `username` and `emailId` required, no control
    /// characters, at most [`MAX_FIELD_CHARS`] each, at most
    /// [`MAX_READER_GROUPS`] non-empty group ids.
    pub(crate) fn from_fields(
        username: String,
        first_name: String,
        last_name: String,
        email_id: String,
        reader_group_ids: Option<Vec<String>>,
    ) -> Result<Self, PayloadError> {
        let username = check_field("username", username, true)?;
        let first_name = check_field("firstName", first_name, false)?;
        let last_name = check_field("lastName", last_name, false)?;
        let email = check_field("emailId", email_id, true)?;
        if !looks_like_email(&email) {
            return Err(PayloadError::InvalidEmail);
        }
        let groups = reader_group_ids.unwrap_or_default();
        if groups.len() > MAX_READER_GROUPS {
            return Err(PayloadError::TooManyGroups);
        }
        let reader_group_ids = groups
            .into_iter()
            .map(|g| check_field("readerGroupIds", g, true))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            username,
            first_name,
            last_name,
            email,
            reader_group_ids,
        })
    }

    /// `first_name last_name`, trimmed: the `name` claim.
    pub(crate) fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name).trim().to_owned()
    }

    /// The identity's encoded size: the bytes its claims (`sub`,
    /// `given_name`, `family_name`, `name`, `email` and the `groups`
    /// array's entries) add to a token's JSON payload beyond those claims'
    /// empty values, escapes counted as serde_json writes them. Exact for
    /// an `id_token` or a widget token; an access token carries less.
    ///
    /// Each field is at most [`MAX_FIELD_CHARS`] characters, yet the
    /// fields together can outgrow a token ([`MAX_TOKEN_LEN`](crate::token::MAX_TOKEN_LEN));
    /// issuers compare this size with their room before issuing anything.
    #[must_use]
    pub fn token_bytes(&self) -> usize {
        let groups = &self.reader_group_ids;
        let group_bytes: usize = groups.iter().map(|g| json_escaped_len(g) + 2).sum();
        json_escaped_len(&self.username)
            + json_escaped_len(&self.first_name)
            + json_escaped_len(&self.last_name)
            + json_escaped_len(&self.full_name())
            + json_escaped_len(&self.email)
            + group_bytes
            + groups.len().saturating_sub(1)
    }

    /// Checks [`token_bytes`](Self::token_bytes) against `max`.
    pub(crate) fn check_token_room(&self, max: usize) -> Result<(), PayloadError> {
        let size = self.token_bytes();
        if size > max {
            return Err(PayloadError::IdentityTooLarge { size, max });
        }
        Ok(())
    }
}

/// The length of `s` inside a JSON string as serde_json writes it (without
/// the quotes): `"` and `\` and the short control escapes take two bytes,
/// other control characters six.
fn json_escaped_len(s: &str) -> usize {
    s.bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0..=0x1f => 6,
            _ => 1,
        })
        .sum()
}

/// A JSON number of any size as `f64` (out-of-range values become
/// infinities, which clamping handles); `null` as absent.
pub(crate) fn parse_validity(raw: Option<&RawValue>) -> Result<Option<f64>, PayloadError> {
    let Some(raw) = raw else { return Ok(None) };
    let text = raw.get().trim();
    if text == "null" {
        return Ok(None);
    }
    // serde_json has already checked that this is valid JSON; a number
    // starts with '-' or a digit, and Rust's float parser accepts every JSON
    // number (saturating to infinity).
    if !text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        return Err(PayloadError::InvalidTokenValidity);
    }
    text.parse::<f64>()
        .map(Some)
        .map_err(|_| PayloadError::InvalidTokenValidity)
}

fn check_field(name: &'static str, value: String, required: bool) -> Result<String, PayloadError> {
    if value.chars().any(char::is_control) {
        return Err(PayloadError::ControlCharacters(name));
    }
    if value.chars().count() > MAX_FIELD_CHARS {
        return Err(PayloadError::TooLong(name));
    }
    if required && value.trim().is_empty() {
        return Err(PayloadError::Empty(name));
    }
    Ok(value)
}

/// A deliberately loose check: one `@` with text on both sides and no
/// whitespace. The address is kept byte for byte as sent.
fn looks_like_email(s: &str) -> bool {
    match s.rsplit_once('@') {
        Some((local, domain)) => !local.is_empty() && !domain.is_empty() && !s.chars().any(char::is_whitespace),
        None => false,
    }
}

/// The field names a code or widget request may carry: the only quoted
/// text an error description repeats.
const DOCUMENTED_FIELDS: [&str; 7] = [
    "username",
    "firstName",
    "lastName",
    "emailId",
    "readerGroupIds",
    "tokenValidity",
    "codeChallenge",
];

/// serde_json's message names the problem, the field and the position;
/// keep that but never echo input text back: a quoted value or an unknown
/// field name (which may be anything, a pasted secret included) is left
/// out, and only the documented field names are repeated.
pub(crate) fn describe_json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let at = format!("at line {} column {}", e.line(), e.column());
    match e.classify() {
        Category::Eof => "the JSON ends early".to_owned(),
        Category::Syntax => format!("JSON syntax error {at}"),
        Category::Data => {
            let msg = e.to_string();
            // "invalid type: string \"...\", expected a string at line 1
            // column 5", "unknown field `foo`, expected one of ...",
            // "duplicate field `username` at line ...".
            let head = msg.split(", expected").next().unwrap_or("");
            let head = head.split(" at line ").next().unwrap_or("");
            format!("{} {at}", without_quoted_input(head))
        }
        Category::Io => "the body could not be read".to_owned(),
    }
}

/// `text` with every quoted part (between backticks or double quotes)
/// removed, unless it is a documented field name.
fn without_quoted_input(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(['`', '"']) {
        let quote = rest[start..].chars().next().unwrap_or('"');
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(len) = after.find(quote) else {
            rest = "";
            break;
        };
        let inner = &after[..len];
        if DOCUMENTED_FIELDS.contains(&inner) {
            out.push('`');
            out.push_str(inner);
            out.push('`');
        }
        rest = &after[len + 1..];
    }
    out.push_str(rest);
    let out = out.split_whitespace().collect::<Vec<_>>().join(" ");
    if out.is_empty() || out.len() > 120 {
        "a field has the wrong type or name".to_owned()
    } else {
        out
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

/// The answer of one atomic redemption.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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
}

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
    /// A token could not be signed (the code was used up).
    #[error("the token could not be signed")]
    Sign(#[source] SignError),
    /// The store failed.
    #[error("the code store failed")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
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
    /// [`CodeError::Store`] if the store fails.
    pub async fn issue(
        &self,
        config: Option<&JwtConfig>,
        secret: &[u8],
        request: CodeRequest,
    ) -> Result<AuthCode, CodeError> {
        let config = authenticate(config, secret)?;
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
        let config = authenticate(config, secret)?;
        let request = CodeRequest::from_json(body)?;
        self.mint(config, request).await
    }

    async fn mint(&self, config: &JwtConfig, request: CodeRequest) -> Result<AuthCode, CodeError> {
        if config.requires_login_binding() && request.code_challenge.is_none() {
            return Err(CodeError::InvalidRequest(PayloadError::MissingCodeChallenge));
        }
        request.identity.check_token_room(self.max_identity_bytes())?;
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
            .map_err(|e| CodeError::Store(Box::new(e)))?;
        match insertion {
            Insertion::Stored => Ok(code),
            Insertion::LimitReached { retry_at } => Err(CodeError::TooManyCodes {
                retry_after: (retry_at - now).max(Duration::SECOND),
            }),
        }
    }

    /// Redeems `code`, once. When `client` is given the code must have been
    /// issued to it.
    ///
    /// # Errors
    /// [`CodeError::InvalidGrant`] for an unknown, expired, used or foreign
    /// code; [`CodeError::Store`] if the store fails.
    pub async fn redeem(&self, code: &str, client: Option<&ClientId>) -> Result<CodeGrant, CodeError> {
        if code.len() != crate::secret::RANDOM_TOKEN_LEN {
            return Err(CodeError::InvalidGrant(GrantProblem::Unknown));
        }
        let now = self.clock.now();
        let answer = self
            .store
            .redeem(CodeDigest::of(code), now)
            .await
            .map_err(|e| CodeError::Store(Box::new(e)))?;
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

/// Checks `secret` against `config` (or against a decoy when there is no
/// configuration), then that the configuration is enabled.
///
/// Both paths do the same work, by construction: one digest of the
/// presented secret and two constant-time comparisons (primary and
/// secondary). Only which stored digests are compared depends on whether
/// the client exists.
pub(crate) fn authenticate<'c>(config: Option<&'c JwtConfig>, secret: &[u8]) -> Result<&'c JwtConfig, CodeError> {
    let decoy = SecretDigest::decoy();
    let [primary, secondary] = config.map_or([&decoy, &decoy], JwtConfig::secret_digests);
    let presented = presented_digest(secret);
    let matched = stored_digest_matches(primary, &presented) | stored_digest_matches(secondary, &presented);
    match config {
        Some(c) if matched => {
            if c.is_enabled() {
                Ok(c)
            } else {
                Err(CodeError::Disabled)
            }
        }
        _ => Err(CodeError::InvalidClient),
    }
}

/// The digest of a presented client secret: the one digest a client
/// authentication computes.
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

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
    fn an_unknown_client_costs_the_same_digest_and_comparison_work_as_a_wrong_secret() {
        let (config, secrets) = JwtConfig::builder("Portal", "https://app.example.com/login")
            .build()
            .unwrap();
        auth_work::take();
        assert!(matches!(
            authenticate(Some(&config), b"wrong secret"),
            Err(CodeError::InvalidClient)
        ));
        let wrong_secret = auth_work::take();
        assert!(matches!(
            authenticate(None, b"wrong secret"),
            Err(CodeError::InvalidClient)
        ));
        let unknown_client = auth_work::take();
        assert!(authenticate(Some(&config), secrets.secondary.expose().as_bytes()).is_ok());
        let right_secret = auth_work::take();
        assert_eq!(wrong_secret, (1, 2), "one digest, both stored digests compared");
        assert_eq!(unknown_client, wrong_secret);
        assert_eq!(right_secret, wrong_secret);
    }

    #[test]
    fn token_bytes_is_what_the_identity_adds_to_the_claims_json() {
        let empty = ReaderIdentity {
            username: String::new(),
            first_name: String::new(),
            last_name: String::new(),
            email: String::new(),
            reader_group_ids: vec![],
        };
        let who = ReaderIdentity {
            username: "jo\"hn\\".into(),
            first_name: "Jöhn\t".into(),
            last_name: "D\u{1}".into(),
            email: "j@x".into(),
            reader_group_ids: vec!["g1".into(), "g\"2".into(), String::new()],
        };
        let json = |w: &ReaderIdentity| {
            serde_json::to_vec(&serde_json::json!({
                "sub": w.username, "given_name": w.first_name, "family_name": w.last_name,
                "name": w.full_name(), "email": w.email, "groups": w.reader_group_ids,
            }))
            .unwrap()
            .len()
        };
        assert_eq!(empty.token_bytes(), 0);
        assert_eq!(json(&who) - json(&empty), who.token_bytes());
        let one = ReaderIdentity {
            reader_group_ids: vec!["only".into()],
            ..empty.clone()
        };
        assert_eq!(json(&one) - json(&empty), one.token_bytes());
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
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod guarantee_tests {
    use super::*;

    #[test]
    fn a_primary_secret_match_still_compares_the_secondary_digest() {
        let (config, secrets) = JwtConfig::builder("Portal", "https://app.example.com/login")
            .build()
            .unwrap();
        auth_work::take();
        assert!(authenticate(Some(&config), secrets.primary.expose().as_bytes()).is_ok());
        assert_eq!(auth_work::take(), (1, 2), "both stored digests compared");
    }
}
