//! Handshake tokens: the direct flow, where the customer app signs a short

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::EncodePublicKey as _;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::jose::{
    Algorithm, Audience, DEFAULT_LEEWAY_SECS, HeaderMemo, KeyError, KeySet, OnePassClaims, Registered, SigningKey,
    Text, UntrustedToken, Validation, VerificationKey, Verifier, VerifyError,
};
use crate::reader::{MAX_FIELD_CHARS, MAX_READER_GROUPS};
use crate::secret::{ClientId, ClientSecret, random_token, sha256};
use crate::session::{
    DEFAULT_SESSION_DURATION, MAX_SESSION_CLAIMS_BYTES, MAX_SESSION_DURATION, ReaderSession, TokenBinding,
};

/// The most configurations a [`HandshakeVerifier`] holds: a project's limit
/// of JWT configurations.
pub const MAX_HANDSHAKE_CONFIGS: usize = crate::config::MAX_JWT_CONFIGS;
/// The `accessRoles` (or `groups`) value that grants every reader group.
pub const ALL_GROUPS: &str = "*";

/// Key id used only while checking key material, before a configuration's
/// client id is known.
const PROBE_KID: &str = "handshake";

// ---------------------------------------------------------------------------
// Replay cache
// ---------------------------------------------------------------------------

/// Remembers the `jti` of accepted handshake tokens, so each is accepted
/// once.
///
/// # Contract
/// - [`insert_if_absent`](Self::insert_if_absent) **must** be one atomic
///   operation: of any number of concurrent calls with one key, exactly one
///   answers `true`. A lookup followed by a separate insert is not atomic
///   (Redis: `SET key 1 NX PXAT <expires_at>`; SQL: an insert that fails on
///   the primary key).
/// - A key **must** be remembered until `expires_at`, the first second at
///   which the token no longer verifies (its `exp` plus the leeway, plus
///   one second); from then on it may be forgotten.
/// - The key passed in is already a digest scoped to one configuration (43
///   base64url characters); store it as it is.
/// - On failure answer `Err`: the handshake is then refused. Never answer
///   `true` for a key that could not be recorded.
pub trait ReplayCache: Send + Sync {
    /// The cache's own failure.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Records `jti` until `expires_at`, as of `now` (the time the token was
    /// verified at). `true` if it was not recorded before or its entry has
    /// expired by `now` (the token may be accepted), `false` if it was (a
    /// replay).
    fn insert_if_absent(
        &self,
        jti: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;
}

crate::forward::forward_store!(ReplayCache {
    type Error = T::Error;
    fn insert_if_absent(&self, jti: &str, expires_at: OffsetDateTime, now: OffsetDateTime) -> impl Future<Output = Result<bool, Self::Error>> + Send {
        (**self).insert_if_absent(jti, expires_at, now)
    }
});

/// The replay-cache key of `jti` in the configuration `client_id`:
/// base64url(SHA-256(client id, NUL, jti)). A client id never holds a NUL,
/// so no two pairs share an input. Held inline: 43 characters.
struct ReplayKey([u8; 43]);

impl ReplayKey {
    fn new(client_id: &ClientId, jti: &str) -> Self {
        use sha2::Digest as _;
        let digest = sha2::Sha256::new()
            .chain_update(client_id.as_str().as_bytes())
            .chain_update([0])
            .chain_update(jti.as_bytes())
            .finalize();
        let mut out = [0u8; 43];
        // 32 bytes are exactly 43 base64url characters.
        let _ = URL_SAFE_NO_PAD.encode_slice(digest, &mut out);
        Self(out)
    }

    fn as_str(&self) -> &str {
        // base64url text is ASCII.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

/// A new Ed25519 key pair for a configuration: the private key as PKCS#8
/// PEM (shown to the admin once, zeroized on drop) and the public key as
/// SPKI PEM (kept by the KB, for [`HandshakeKey::ed25519_from_spki_pem`]).
///
/// # Errors
///
/// [`KeyError::Rng`] when the operating system's generator fails,
/// [`KeyError::InvalidPem`] if encoding fails.
pub fn generate_ed25519_key_pair() -> Result<(Zeroizing<String>, String), KeyError> {
    let key = SigningKey::generate_ed25519(PROBE_KID)?;
    let private_pem = key.to_pkcs8_pem()?;
    let public = key
        .verification_key()
        .ed25519_public_key()
        .copied()
        .ok_or(KeyError::NotEd25519)?;
    Ok((private_pem, spki_pem(&public)?))
}

fn spki_pem(public: &[u8; 32]) -> Result<String, KeyError> {
    ed25519_dalek::VerifyingKey::from_bytes(public)
        .map_err(|_| KeyError::InvalidPublicKey)?
        .to_public_key_pem(LineEnding::LF)
        .map_err(|_| KeyError::InvalidPem)
}

#[derive(Clone)]
enum KeyMaterial {
    /// One or two secrets, each at least 32 bytes.
    Hs256 {
        primary: ClientSecret,
        secondary: Option<ClientSecret>,
    },
    /// A checked (not weak) public key.
    Ed25519([u8; 32]),
}

/// The key a configuration verifies handshake tokens with.
///
/// Built on [`VerificationKey`], which refuses HMAC secrets under 32 bytes
/// and weak or malformed Ed25519 keys. `Debug` never prints a secret.
#[derive(Clone)]
pub struct HandshakeKey(KeyMaterial);

impl HandshakeKey {
    /// HS256 with the configuration's primary secret and, when given, its
    /// secondary secret, each as the ASCII text shown to the admin. A token
    /// signed with either verifies; no empty slot is ever tried.
    ///
    /// # Errors
    ///
    /// [`KeyError::SecretTooShort`] for a secret under 32 bytes (so an empty
    /// one).
    pub fn hs256(primary: &ClientSecret, secondary: Option<&ClientSecret>) -> Result<Self, KeyError> {
        for secret in std::iter::once(primary).chain(secondary) {
            VerificationKey::hs256(PROBE_KID, secret.expose().as_bytes())?;
        }
        Ok(Self(KeyMaterial::Hs256 {
            primary: primary.clone(),
            secondary: secondary.cloned(),
        }))
    }

    /// Ed25519 with a public key in SPKI PEM (`-----BEGIN PUBLIC KEY-----`),
    /// as [`generate_ed25519_key_pair`] gives it.
    ///
    /// # Errors
    ///
    /// [`KeyError::InvalidPem`] when the text is not an Ed25519 public key,
    /// [`KeyError::WeakKey`] for a small-order point.
    pub fn ed25519_from_spki_pem(pem: &str) -> Result<Self, KeyError> {
        let key = VerificationKey::ed25519_from_spki_pem(PROBE_KID, pem)?;
        let public = key.ed25519_public_key().copied().ok_or(KeyError::NotEd25519)?;
        Ok(Self(KeyMaterial::Ed25519(public)))
    }

    /// A short fingerprint of the key material (the first 8 bytes of a
    /// domain-separated SHA-256 of both HS256 secrets, or of the Ed25519
    /// public key): it changes whenever a secret or the key pair is
    /// regenerated, and reveals nothing usable about a secret. Sessions of
    /// session mode [`SessionMode::Token`] record it.
    #[must_use]
    pub fn fingerprint(&self) -> [u8; 8] {
        let mut input: Zeroizing<Vec<u8>> = Zeroizing::new(b"kb-sso handshake key fingerprint\0".to_vec());
        match &self.0 {
            KeyMaterial::Hs256 { primary, secondary } => {
                input.extend_from_slice(b"HS256\0");
                input.extend_from_slice(primary.expose().as_bytes());
                input.push(0);
                if let Some(s) = secondary {
                    input.extend_from_slice(s.expose().as_bytes());
                }
            }
            KeyMaterial::Ed25519(public) => {
                input.extend_from_slice(b"EdDSA\0");
                input.extend_from_slice(public);
            }
        }
        let digest = sha256(&input);
        let mut out = [0u8; 8];
        out.copy_from_slice(&digest[..8]);
        out
    }

    /// The algorithm tokens must be signed with.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        match self.0 {
            KeyMaterial::Hs256 { .. } => Algorithm::HS256,
            KeyMaterial::Ed25519(_) => Algorithm::EdDSA,
        }
    }

    /// The Ed25519 public key as SPKI PEM, to show the admin; `None` for
    /// HS256.
    #[must_use]
    pub fn ed25519_public_key_pem(&self) -> Option<String> {
        match &self.0 {
            KeyMaterial::Ed25519(public) => spki_pem(public).ok(),
            KeyMaterial::Hs256 { .. } => None,
        }
    }

    /// For an HS256 key, puts `secret` in the primary slot (the
    /// configuration's primary secret was regenerated: tokens signed with
    /// the old one stop verifying). An Ed25519 key is left alone.
    pub(crate) fn replace_hs256_primary(&mut self, secret: &ClientSecret) {
        if let KeyMaterial::Hs256 { primary, .. } = &mut self.0 {
            *primary = secret.clone();
        }
    }

    /// As [`replace_hs256_primary`](Self::replace_hs256_primary), for the
    /// secondary slot.
    pub(crate) fn replace_hs256_secondary(&mut self, secret: &ClientSecret) {
        if let KeyMaterial::Hs256 { secondary, .. } = &mut self.0 {
            *secondary = Some(secret.clone());
        }
    }

    /// One verifier per key slot, each with one key named `kid`.
    fn verifiers(&self, kid: &str, validation: &Validation) -> Result<Vec<Verifier>, KeyError> {
        let keys = match &self.0 {
            KeyMaterial::Hs256 { primary, secondary } => std::iter::once(primary)
                .chain(secondary)
                .map(|s| VerificationKey::hs256(kid, s.expose().as_bytes()))
                .collect::<Result<Vec<_>, _>>()?,
            KeyMaterial::Ed25519(public) => vec![VerificationKey::ed25519_from_bytes(kid, public)?],
        };
        keys.into_iter()
            .map(|key| Ok(Verifier::new(KeySet::from_keys([key])?, validation.clone())))
            .collect()
    }
}

impl fmt::Debug for HandshakeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            KeyMaterial::Hs256 { secondary, .. } => f
                .debug_struct("HandshakeKey")
                .field("alg", &Algorithm::HS256)
                .field("secrets", &(1 + usize::from(secondary.is_some())))
                .field("key", &format_args!("[redacted]"))
                .finish(),
            KeyMaterial::Ed25519(public) => f
                .debug_struct("HandshakeKey")
                .field("alg", &Algorithm::EdDSA)
                .field("x", &URL_SAFE_NO_PAD.encode(public))
                .finish(),
        }
    }
}

// ---------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------

/// A configuration could not be set up for handshake tokens.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeSetupError {
    /// The key or key id is not usable.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The session duration is not positive or exceeds
    /// [`MAX_SESSION_DURATION`].
    #[error("the session duration must be more than zero and at most 365 days")]
    InvalidSessionDuration,
    /// The expected issuer or audience is empty.
    #[error("the expected {0} must not be empty")]
    EmptyExpectation(&'static str),
    /// The verifier already holds [`MAX_HANDSHAKE_CONFIGS`] configurations.
    #[error("at most {MAX_HANDSHAKE_CONFIGS} configurations take handshake tokens")]
    TooManyConfigurations,
    /// A key id would name two configurations.
    #[error("the key id {0:?} already names another configuration")]
    DuplicateKid(String),
    /// The maximum token age is zero.
    #[error("the maximum token age must be more than zero")]
    InvalidMaxAge,
}

/// How long a session opened by a handshake token lasts (DESIGN 3.19).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionMode {
    /// The configured session duration, whatever the token's `exp`
    /// (Documentation.AI: the token is a handshake, not the session).
    #[default]
    Fixed,
    /// Bound to the token (HelpSite): the session ends at the token's
    /// `exp` (at most the configured session duration from sign-in), a
    /// valid token of another reader replaces it, and a regenerated secret
    /// or key pair ends it.
    Token,
}

/// How one configuration checks handshake tokens and how long the sessions
/// it opens last. Made with [`HandshakeSettings::builder`].
///
/// Its stored form (serde) holds an HS256 key's secrets in clear: HMAC
/// verification needs them. Prefer Ed25519, whose stored form holds only
/// the public key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "HandshakeRecord", into = "HandshakeRecord")]
pub struct HandshakeSettings {
    key: HandshakeKey,
    issuer: Option<String>,
    audience: Option<String>,
    session_duration: Duration,
    max_token_age: Option<Duration>,
    leeway: Duration,
    kid: Option<String>,
    require_jti: bool,
    enabled: bool,
    session_mode: SessionMode,
}

impl HandshakeSettings {
    /// Starts settings for tokens verified with `key`.
    #[must_use]
    pub fn builder(key: HandshakeKey) -> HandshakeSettingsBuilder {
        HandshakeSettingsBuilder {
            settings: Self {
                key,
                issuer: None,
                audience: None,
                session_duration: DEFAULT_SESSION_DURATION,
                max_token_age: None,
                leeway: Duration::seconds(DEFAULT_LEEWAY_SECS),
                kid: None,
                require_jti: false,
                enabled: true,
                session_mode: SessionMode::Fixed,
            },
        }
    }

    /// The session mode.
    #[must_use]
    pub fn session_mode(&self) -> SessionMode {
        self.session_mode
    }

    /// The key.
    #[must_use]
    pub fn key(&self) -> &HandshakeKey {
        &self.key
    }

    /// The expected `iss`, if any.
    #[must_use]
    pub fn expected_issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The expected `aud`, if any.
    #[must_use]
    pub fn expected_audience(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    /// How long a session opened by a handshake lasts.
    #[must_use]
    pub fn session_duration(&self) -> Duration {
        self.session_duration
    }

    /// The longest `exp - iat` accepted, if capped.
    #[must_use]
    pub fn max_token_age(&self) -> Option<Duration> {
        self.max_token_age
    }

    /// The clock-skew allowance.
    #[must_use]
    pub fn leeway(&self) -> Duration {
        self.leeway
    }

    /// The extra key id naming this configuration, if any.
    #[must_use]
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Whether tokens must carry a `jti`.
    #[must_use]
    pub fn requires_jti(&self) -> bool {
        self.require_jti
    }

    /// Whether the configuration is enabled.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The key, to change in place (a regenerated secret or key pair).
    pub(crate) fn key_mut(&mut self) -> &mut HandshakeKey {
        &mut self.key
    }

    /// The same settings with another key (a new key pair), checked again.
    ///
    /// # Errors
    /// As [`HandshakeSettingsBuilder::build`].
    pub fn with_key(&self, key: HandshakeKey) -> Result<Self, HandshakeSetupError> {
        HandshakeSettingsBuilder {
            settings: Self { key, ..self.clone() },
        }
        .build()
    }

    /// The same settings, enabled or not.
    pub(crate) fn set_enabled(&mut self, enabled: bool) {
        self.enabled = enabled;
    }

    fn validation(&self) -> Validation {
        let mut v = Validation::new().leeway(self.leeway);
        if let Some(iss) = &self.issuer {
            v = v.issuer(iss.clone());
        }
        if let Some(aud) = &self.audience {
            v = v.audience(aud.clone());
        }
        if let Some(max) = self.max_token_age {
            v = v.max_lifetime(max);
        }
        v
    }
}

/// Builds [`HandshakeSettings`]; see [`HandshakeSettings::builder`].
#[derive(Debug, Clone)]
pub struct HandshakeSettingsBuilder {
    settings: HandshakeSettings,
}

impl HandshakeSettingsBuilder {
    /// Requires `iss` to equal `issuer`.
    #[must_use]
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.settings.issuer = Some(issuer.into());
        self
    }

    /// Requires `aud` (a string, or an array of strings) to hold `audience`;
    /// typically the docs site's host.
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.settings.audience = Some(audience.into());
        self
    }

    /// How long sessions opened by a handshake last (default 14 days, at
    /// most 365).
    #[must_use]
    pub fn session_duration(mut self, duration: Duration) -> Self {
        self.settings.session_duration = duration;
        self
    }

    /// The session mode (default [`SessionMode::Fixed`]).
    #[must_use]
    pub fn session_mode(mut self, mode: SessionMode) -> Self {
        self.settings.session_mode = mode;
        self
    }

    /// Caps a token's lifetime, `exp - iat` (none by default). Handshake
    /// tokens should live seconds; a token made to last longer is refused as
    /// expired.
    #[must_use]
    pub fn max_token_age(mut self, max: Duration) -> Self {
        self.settings.max_token_age = Some(max);
        self
    }

    /// Clock-skew allowance for `exp`, `nbf` and `iat` (default 30 s;
    /// clamped as by [`Validation::leeway`]).
    #[must_use]
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.settings.leeway = Validation::new().leeway(leeway).leeway_duration();
        self
    }

    /// A key id that names this configuration in a token's `kid` header,
    /// besides its client id.
    #[must_use]
    pub fn kid(mut self, kid: impl Into<String>) -> Self {
        self.settings.kid = Some(kid.into());
        self
    }

    /// Requires every token to carry a `jti` (default: a `jti` is optional,
    /// and accepted once when present).
    #[must_use]
    pub fn require_jti(mut self, require: bool) -> Self {
        self.settings.require_jti = require;
        self
    }

    /// Whether the configuration is enabled (default: enabled). Tokens for a
    /// disabled configuration are refused as `disabled`.
    #[must_use]
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.settings.enabled = enabled;
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// [`HandshakeSetupError::InvalidSessionDuration`],
    /// [`HandshakeSetupError::EmptyExpectation`] for an empty issuer or
    /// audience, [`HandshakeSetupError::Key`] for a key id that is not 1 to
    /// 256 printable ASCII characters.
    pub fn build(self) -> Result<HandshakeSettings, HandshakeSetupError> {
        let s = self.settings;
        if s.session_duration <= Duration::ZERO || s.session_duration > MAX_SESSION_DURATION {
            return Err(HandshakeSetupError::InvalidSessionDuration);
        }
        if s.issuer.as_deref() == Some("") {
            return Err(HandshakeSetupError::EmptyExpectation("issuer"));
        }
        if s.audience.as_deref() == Some("") {
            return Err(HandshakeSetupError::EmptyExpectation("audience"));
        }
        if let Some(kid) = &s.kid {
            s.key.verifiers(kid, &Validation::new())?;
        }
        Ok(s)
    }
}

/// The algorithm a configuration's handshake tokens are signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HandshakeAlg {
    /// HMAC-SHA256 with the configuration's primary or secondary secret
    /// (HelpSite).
    #[serde(rename = "HS256")]
    Hs256,
    /// Ed25519 with a key pair the KB generates (Documentation.AI).
    #[serde(rename = "EdDSA", alias = "Ed25519")]
    Ed25519,
}

/// What an admin sets for a configuration's handshake tokens: everything
/// but the key, which the project derives (HS256: the configuration's
/// secrets) or generates (Ed25519: a new key pair, the private key shown
/// once).
///
/// Its JSON form is the admin API's and the project files' `handshake`
/// object: `{"alg": "HS256" | "EdDSA", "issuer", "audience",
/// "session_mode": "fixed" | "token", "session_duration_minutes",
/// "max_age_seconds", "require_jti"}`, unknown fields refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandshakeOptions {
    /// The algorithm.
    pub alg: HandshakeAlg,
    /// The expected `iss`, if any.
    #[serde(default)]
    pub issuer: Option<String>,
    /// The expected `aud`, if any.
    #[serde(default)]
    pub audience: Option<String>,
    /// Whether sessions last the session duration (`fixed`, the default)
    /// or are bound to their token (`token`).
    #[serde(default)]
    pub session_mode: SessionMode,
    /// How long a session opened by a handshake lasts, in minutes (default
    /// 14 days).
    #[serde(default = "default_session_minutes")]
    pub session_duration_minutes: u32,
    /// The longest `exp - iat` accepted, in seconds, if capped.
    #[serde(default)]
    pub max_age_seconds: Option<u32>,
    /// Whether tokens must carry a `jti`.
    #[serde(default)]
    pub require_jti: bool,
}

fn default_session_minutes() -> u32 {
    u32::try_from(DEFAULT_SESSION_DURATION.whole_minutes()).unwrap_or(u32::MAX)
}

impl HandshakeOptions {
    /// The defaults for `alg`: no issuer or audience expected, 14-day
    /// sessions, no age cap, `jti` optional.
    #[must_use]
    pub fn new(alg: HandshakeAlg) -> Self {
        Self {
            alg,
            issuer: None,
            audience: None,
            session_mode: SessionMode::Fixed,
            session_duration_minutes: default_session_minutes(),
            max_age_seconds: None,
            require_jti: false,
        }
    }

    /// Settings with these options and `key`.
    ///
    /// # Errors
    /// As [`HandshakeSettingsBuilder::build`]; a zero `max_age_seconds` is
    /// [`HandshakeSetupError::InvalidMaxAge`].
    pub fn settings(&self, key: HandshakeKey) -> Result<HandshakeSettings, HandshakeSetupError> {
        let mut b = HandshakeSettings::builder(key)
            .session_duration(Duration::minutes(i64::from(self.session_duration_minutes)))
            .session_mode(self.session_mode)
            .require_jti(self.require_jti);
        if let Some(iss) = &self.issuer {
            b = b.issuer(iss.clone());
        }
        if let Some(aud) = &self.audience {
            b = b.audience(aud.clone());
        }
        if let Some(max) = self.max_age_seconds {
            if max == 0 {
                return Err(HandshakeSetupError::InvalidMaxAge);
            }
            b = b.max_token_age(Duration::seconds(i64::from(max)));
        }
        b.build()
    }
}

impl HandshakeSettings {
    /// The admin-facing options of these settings (the key aside).
    #[must_use]
    pub fn options(&self) -> HandshakeOptions {
        HandshakeOptions {
            alg: match self.key.0 {
                KeyMaterial::Hs256 { .. } => HandshakeAlg::Hs256,
                KeyMaterial::Ed25519(_) => HandshakeAlg::Ed25519,
            },
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            session_mode: self.session_mode,
            session_duration_minutes: u32::try_from(self.session_duration.whole_minutes()).unwrap_or(u32::MAX),
            max_age_seconds: self
                .max_token_age
                .map(|d| u32::try_from(d.whole_seconds()).unwrap_or(u32::MAX)),
            require_jti: self.require_jti,
        }
    }
}

/// The stored form of [`HandshakeSettings`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HandshakeRecord {
    /// `HS256`, or `EdDSA` (`Ed25519` read as the same).
    alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hs256_primary_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hs256_secondary_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    public_key_pem: Option<String>,
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    audience: Option<String>,
    session_duration_seconds: i64,
    #[serde(default)]
    max_token_age_seconds: Option<i64>,
    leeway_seconds: i64,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    require_jti: bool,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    session_mode: SessionMode,
}

fn yes() -> bool {
    true
}

impl TryFrom<HandshakeRecord> for HandshakeSettings {
    type Error = HandshakeSetupError;
    fn try_from(r: HandshakeRecord) -> Result<Self, HandshakeSetupError> {
        let key = match (r.alg.as_str(), r.hs256_primary_secret, r.public_key_pem) {
            ("HS256", Some(primary), None) => HandshakeKey::hs256(
                &ClientSecret::new(primary),
                r.hs256_secondary_secret.map(ClientSecret::new).as_ref(),
            )?,
            ("EdDSA" | "Ed25519", None, Some(pem)) => HandshakeKey::ed25519_from_spki_pem(&pem)?,
            _ => return Err(HandshakeSetupError::Key(KeyError::InvalidPem)),
        };
        let mut b = HandshakeSettings::builder(key)
            .session_duration(Duration::seconds(r.session_duration_seconds))
            .leeway(Duration::seconds(r.leeway_seconds))
            .require_jti(r.require_jti)
            .session_mode(r.session_mode)
            .enabled(r.enabled);
        if let Some(iss) = r.issuer {
            b = b.issuer(iss);
        }
        if let Some(aud) = r.audience {
            b = b.audience(aud);
        }
        if let Some(max) = r.max_token_age_seconds {
            b = b.max_token_age(Duration::seconds(max));
        }
        if let Some(kid) = r.kid {
            b = b.kid(kid);
        }
        b.build()
    }
}

impl From<HandshakeSettings> for HandshakeRecord {
    fn from(s: HandshakeSettings) -> Self {
        let (alg, primary, secondary, public) = match &s.key.0 {
            KeyMaterial::Hs256 { primary, secondary } => (
                Algorithm::HS256.as_str().to_owned(),
                Some(primary.expose().to_owned()),
                secondary.as_ref().map(|s| s.expose().to_owned()),
                None,
            ),
            KeyMaterial::Ed25519(_) => (
                Algorithm::EdDSA.as_str().to_owned(),
                None,
                None,
                s.key.ed25519_public_key_pem(),
            ),
        };
        Self {
            alg,
            hs256_primary_secret: primary,
            hs256_secondary_secret: secondary,
            public_key_pem: public,
            issuer: s.issuer,
            audience: s.audience,
            session_duration_seconds: s.session_duration.whole_seconds(),
            max_token_age_seconds: s.max_token_age.map(Duration::whole_seconds),
            leeway_seconds: s.leeway.whole_seconds(),
            kid: s.kid,
            require_jti: s.require_jti,
            enabled: s.enabled,
            session_mode: s.session_mode,
        }
    }
}

// ---------------------------------------------------------------------------
// Claims
// ---------------------------------------------------------------------------

/// The claims of a verified handshake token. Only a [`HandshakeVerifier`]
/// makes them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct HandshakeClaims {
    /// Subject: the reader's id in the customer app.
    pub sub: Option<String>,
    /// Email address, as sent (never case-folded).
    pub email: Option<String>,
    /// First name (Documentation.AI spelling).
    pub firstname: Option<String>,
    /// First name (OpenID Connect spelling).
    pub given_name: Option<String>,
    /// Last name.
    pub lastname: Option<String>,
    /// Last name (OpenID Connect spelling).
    pub family_name: Option<String>,
    /// The reader's company, for personalization.
    pub company: Option<String>,
    /// The docs site's host name, for personalization.
    pub host: Option<String>,
    /// Roles for access control; `["*"]` grants every group.
    #[serde(rename = "accessRoles")]
    pub access_roles: Option<Vec<String>>,
    /// Reader group ids, used when `accessRoles` is absent.
    pub groups: Option<Vec<String>>,
    /// Issuer.
    pub iss: Option<String>,
    /// Audience, checked against the configuration's expected audience.
    pub aud: Option<Audience>,
    /// Not before, seconds since the Unix epoch.
    pub nbf: Option<i64>,
    /// Issued at, seconds since the Unix epoch.
    pub iat: i64,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
    /// Token id.
    pub jti: Option<String>,
    /// The reader's display name.
    pub name: Option<String>,
    /// Every other claim, as sent.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// [`HandshakeClaims`] as a verification reads them: one typed parse of the
/// payload that also yields the registered claims, each typed at once. A
/// registered claim of the wrong type, or twice, fails the
/// parse; any other claim of the wrong type, or twice, marks the claims
/// as not well typed, refused once the registered claims have been checked.
struct OnePass {
    claims: Box<HandshakeClaims>,
    iat: Option<i64>,
    exp: Option<i64>,
    well_typed: bool,
}

impl OnePassClaims for OnePass {
    fn registered(&self) -> Registered<'_> {
        Registered {
            exp: self.exp,
            nbf: self.claims.nbf,
            iat: self.iat,
            iss: self.claims.iss.as_deref(),
            aud: self.claims.aud.as_ref(),
        }
    }

    fn well_typed(&self) -> bool {
        self.well_typed && self.iat.is_some() && self.exp.is_some()
    }
}

/// A text claim that is not registered: a string, `null` (absent), or
/// `Err` for any other value (skipped).
struct LenientText(Result<Option<String>, ()>);

impl<'de> Deserialize<'de> for LenientText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LenientVisitor).map(|v| match v {
            Lenient::Text(t) => Self(Ok(Some(t))),
            Lenient::Null => Self(Ok(None)),
            Lenient::List(_) | Lenient::Bad => Self(Err(())),
        })
    }
}

/// A list claim that is not registered: an array of strings, `null`
/// (absent), or `Err` for any other value (skipped).
struct LenientList(Result<Option<Vec<String>>, ()>);

impl<'de> Deserialize<'de> for LenientList {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LenientVisitor).map(|v| match v {
            Lenient::List(Some(list)) => Self(Ok(Some(list))),
            Lenient::Null => Self(Ok(None)),
            Lenient::Text(_) | Lenient::List(None) | Lenient::Bad => Self(Err(())),
        })
    }
}

/// What a lenient claim held.
enum Lenient {
    Text(String),
    Null,
    /// An array: its strings, or `None` when an element was not one.
    List(Option<Vec<String>>),
    Bad,
}

struct LenientVisitor;

impl<'de> serde::de::Visitor<'de> for LenientVisitor {
    type Value = Lenient;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Lenient, E> {
        Ok(Lenient::Text(v.to_owned()))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Lenient, E> {
        Ok(Lenient::Text(v))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Lenient, E> {
        Ok(Lenient::Null)
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Lenient, E> {
        Ok(Lenient::Null)
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Lenient, E> {
        Ok(Lenient::Bad)
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Lenient, E> {
        Ok(Lenient::Bad)
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Lenient, E> {
        Ok(Lenient::Bad)
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Lenient, E> {
        Ok(Lenient::Bad)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Lenient, A::Error> {
        let mut list = Some(Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX_READER_GROUPS)));
        while let Some(item) = seq.next_element::<LenientText>()? {
            match (item.0, &mut list) {
                (Ok(Some(text)), Some(list)) => list.push(text),
                _ => list = None,
            }
        }
        Ok(Lenient::List(list))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Lenient, A::Error> {
        while map
            .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
            .is_some()
        {}
        Ok(Lenient::Bad)
    }
}

impl<'de> Deserialize<'de> for OnePass {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(OnePassVisitor)
    }
}

struct OnePassVisitor;

impl<'de> serde::de::Visitor<'de> for OnePassVisitor {
    type Value = OnePass;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the claims of a handshake token")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<OnePass, A::Error> {
        use serde::de::Error as _;
        // Boxed at once: the claims then move as a pointer from here to
        // the caller's `VerifiedHandshake`, which keeps the box.
        let mut c = Box::new(HandshakeClaims {
            sub: None,
            email: None,
            firstname: None,
            given_name: None,
            lastname: None,
            family_name: None,
            company: None,
            host: None,
            access_roles: None,
            groups: None,
            iss: None,
            aud: None,
            nbf: None,
            iat: 0,
            exp: 0,
            jti: None,
            name: None,
            other: serde_json::Map::new(),
        });
        let (mut iat, mut exp) = (None, None);
        let mut well_typed = true;
        // Registered claims read here: a second one fails the parse.
        let (mut seen_iss, mut seen_iat, mut seen_exp, mut seen_jti) = (false, false, false, false);
        let (mut seen_aud, mut seen_nbf) = (false, false);
        // The other named claims: a second one is not well typed.
        let mut seen = 0u16;
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            let once = |flag: &mut bool, name: &'static str| {
                if std::mem::replace(flag, true) {
                    Err(A::Error::duplicate_field(name))
                } else {
                    Ok(())
                }
            };
            let text = |slot: &mut Option<String>, bit: u16, seen: &mut u16, ok: &mut bool, v: LenientText| {
                *ok &= *seen & bit == 0 && v.0.is_ok();
                *seen |= bit;
                *slot = v.0.unwrap_or_default();
            };
            match &*key {
                "iss" => {
                    once(&mut seen_iss, "iss")?;
                    c.iss = map.next_value()?;
                }
                "iat" => {
                    once(&mut seen_iat, "iat")?;
                    iat = map.next_value()?;
                }
                "exp" => {
                    once(&mut seen_exp, "exp")?;
                    exp = map.next_value()?;
                }
                "jti" => {
                    once(&mut seen_jti, "jti")?;
                    c.jti = map.next_value()?;
                }
                "aud" => {
                    once(&mut seen_aud, "aud")?;
                    c.aud = map.next_value()?;
                }
                "nbf" => {
                    once(&mut seen_nbf, "nbf")?;
                    c.nbf = map.next_value()?;
                }
                "sub" => text(&mut c.sub, 1, &mut seen, &mut well_typed, map.next_value()?),
                "email" => text(&mut c.email, 1 << 1, &mut seen, &mut well_typed, map.next_value()?),
                "firstname" => text(&mut c.firstname, 1 << 2, &mut seen, &mut well_typed, map.next_value()?),
                "given_name" => text(&mut c.given_name, 1 << 3, &mut seen, &mut well_typed, map.next_value()?),
                "lastname" => text(&mut c.lastname, 1 << 4, &mut seen, &mut well_typed, map.next_value()?),
                "family_name" => text(
                    &mut c.family_name,
                    1 << 5,
                    &mut seen,
                    &mut well_typed,
                    map.next_value()?,
                ),
                "company" => text(&mut c.company, 1 << 6, &mut seen, &mut well_typed, map.next_value()?),
                "host" => text(&mut c.host, 1 << 7, &mut seen, &mut well_typed, map.next_value()?),
                "name" => text(&mut c.name, 1 << 8, &mut seen, &mut well_typed, map.next_value()?),
                "accessRoles" | "groups" => {
                    let (slot, bit) = if &*key == "groups" {
                        (&mut c.groups, 1 << 10)
                    } else {
                        (&mut c.access_roles, 1 << 9)
                    };
                    let v: LenientList = map.next_value()?;
                    well_typed &= seen & bit == 0 && v.0.is_ok();
                    seen |= bit;
                    *slot = v.0.unwrap_or_default();
                }
                _ => {
                    let value: serde_json::Value = map.next_value()?;
                    c.other.insert(key.into_owned(), value);
                }
            }
        }
        c.iat = iat.unwrap_or_default();
        c.exp = exp.unwrap_or_default();
        Ok(OnePass {
            claims: c,
            iat,
            exp,
            well_typed,
        })
    }
}

/// Registered claim names (RFC 7519 section 4.1): never personalization.
const REGISTERED_CLAIMS: [&str; 7] = ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"];

/// The reader groups a handshake grants.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ReaderGroups {
    /// Every reader group, present and future (`"*"` was granted).
    pub all_groups: bool,
    /// The groups named, without `"*"`.
    pub groups: Vec<String>,
}

impl HandshakeClaims {
    /// `firstname`, else `given_name`.
    #[must_use]
    pub fn first_name(&self) -> Option<&str> {
        self.firstname.as_deref().or(self.given_name.as_deref())
    }

    /// `lastname`, else `family_name`.
    #[must_use]
    pub fn last_name(&self) -> Option<&str> {
        self.lastname.as_deref().or(self.family_name.as_deref())
    }

    /// The reader's username: `sub`, else `email`.
    #[must_use]
    pub fn username(&self) -> Option<&str> {
        self.sub.as_deref().or(self.email.as_deref())
    }

    /// The groups granted: from `accessRoles` when present (even empty),
    /// else from `groups`, else none. `"*"` in the list grants every group.
    #[must_use]
    pub fn reader_groups(&self) -> ReaderGroups {
        let list = self
            .access_roles
            .as_deref()
            .or(self.groups.as_deref())
            .unwrap_or_default();
        ReaderGroups {
            all_groups: list.iter().any(|g| g == ALL_GROUPS),
            groups: list.iter().filter(|g| *g != ALL_GROUPS).cloned().collect(),
        }
    }

    /// Length limits, as for code requests: each text claim at most
    /// [`MAX_FIELD_CHARS`] characters, at most [`MAX_READER_GROUPS`] groups.
    fn within_limits(&self) -> bool {
        let texts = [
            &self.sub,
            &self.email,
            &self.firstname,
            &self.given_name,
            &self.lastname,
            &self.family_name,
            &self.company,
            &self.host,
            &self.iss,
            &self.jti,
            &self.name,
        ];
        // No more characters than bytes: count only long texts.
        let fits = |t: &String| t.len() <= MAX_FIELD_CHARS || t.chars().count() <= MAX_FIELD_CHARS;
        texts.into_iter().all(|t| t.as_ref().is_none_or(fits))
            && [&self.access_roles, &self.groups].into_iter().all(|l| {
                l.as_ref()
                    .is_none_or(|l| l.len() <= MAX_READER_GROUPS && l.iter().all(fits))
            })
    }
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// What went wrong with a handshake token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeErrorKind {
    /// No token was sent.
    #[error("no handshake token was sent")]
    Missing,
    /// The token failed verification.
    #[error("{0}")]
    Token(VerifyError),
    /// The token's `jti` was accepted before.
    #[error("the handshake token was used before")]
    Replayed,
    /// The configuration the token is for is disabled.
    #[error("this JWT configuration is disabled")]
    Disabled,
    /// The replay cache failed, so single use could not be ensured; the
    /// token is refused. Hosts should answer this one with a server error
    /// rather than a redirect to the login URL.
    #[error("the replay cache failed")]
    ReplayStore,
}

impl HandshakeErrorKind {
    /// The `jwt_error` code: `missing`, `malformed`, `bad_signature`,
    /// `expired`, `not_yet_valid`, `wrong_audience`, `wrong_issuer`,
    /// `replayed` or `disabled`. A replay-cache failure counts as `replayed`:
    /// the token could not be shown to be fresh.
    #[must_use]
    pub const fn reason(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Token(e) => jwt_error_reason(e),
            Self::Replayed | Self::ReplayStore => "replayed",
            Self::Disabled => "disabled",
        }
    }
}

/// The `jwt_error` code for a token refused by the JOSE layer: `malformed`,
/// `bad_signature`, `expired`, `not_yet_valid`, `wrong_audience` (also for a
/// token of another type: it was meant for another recipient) or
/// `wrong_issuer`.
///
/// Several errors share a code: the reader needs no more, and an attacker
/// learns no more. `Display` of the error gives the detail, for logs.
#[must_use]
pub const fn jwt_error_reason(error: &VerifyError) -> &'static str {
    match error {
        VerifyError::TooLarge
        | VerifyError::Malformed
        | VerifyError::UnsupportedHeader
        | VerifyError::UnsupportedAlgorithm
        | VerifyError::MissingClaim(_) => "malformed",
        VerifyError::UnknownKey | VerifyError::AlgorithmMismatch | VerifyError::BadSignature => "bad_signature",
        VerifyError::Expired | VerifyError::TooOld => "expired",
        VerifyError::NotYetValid | VerifyError::IssuedInFuture => "not_yet_valid",
        VerifyError::WrongAudience | VerifyError::WrongType => "wrong_audience",
        VerifyError::WrongIssuer => "wrong_issuer",
    }
}

/// A handshake token was refused.
///
/// [`reason`](Self::reason) is the `jwt_error` code for the login URL;
/// [`client_id`](Self::client_id) the configuration it was for, when that
/// can be told (by `kid`, by a signature that verified, or because only one
/// configuration is active), so the reader can be sent to its login URL with
/// [`expected_aud`](Self::expected_aud). `Display` gives the detail, for
/// logs.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind}")]
pub struct HandshakeError {
    kind: HandshakeErrorKind,
    client_id: Option<ClientId>,
    expected_aud: Option<String>,
    #[source]
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl HandshakeError {
    fn new(kind: HandshakeErrorKind, entry: Option<&Entry>) -> Self {
        Self {
            kind,
            client_id: entry.map(|e| e.client_id.clone()),
            expected_aud: entry.and_then(|e| e.settings.audience.clone()),
            source: None,
        }
    }

    /// What went wrong.
    #[must_use]
    pub fn kind(&self) -> &HandshakeErrorKind {
        &self.kind
    }

    /// The `jwt_error` code; see [`HandshakeErrorKind::reason`].
    #[must_use]
    pub fn reason(&self) -> &'static str {
        self.kind.reason()
    }

    /// The configuration the token was for, when it can be told.
    #[must_use]
    pub fn client_id(&self) -> Option<&ClientId> {
        self.client_id.as_ref()
    }

    /// That configuration's expected audience, if it has one.
    #[must_use]
    pub fn expected_aud(&self) -> Option<&str> {
        self.expected_aud.as_deref()
    }
}

// ---------------------------------------------------------------------------
// Verifier
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Entry {
    client_id: ClientId,
    settings: HandshakeSettings,
    /// One verifier per key slot, keys named by the client id.
    by_client_id: Vec<Verifier>,
    /// The same, keys named by the settings' kid.
    by_named_kid: Vec<Verifier>,
    /// The key's fingerprint, computed once.
    key_fingerprint: [u8; 8],
}

/// A token whose signature and claims passed: its claims and `exp`.
struct Passed {
    claims: Box<HandshakeClaims>,
    expires_at: OffsetDateTime,
}

impl Entry {
    fn new(client_id: ClientId, settings: HandshakeSettings) -> Result<Self, KeyError> {
        let validation = settings.validation();
        let by_client_id = settings.key.verifiers(client_id.as_str(), &validation)?;
        let by_named_kid = match &settings.kid {
            Some(kid) => settings.key.verifiers(kid, &validation)?,
            None => Vec::new(),
        };
        Ok(Self {
            key_fingerprint: settings.key.fingerprint(),
            client_id,
            settings,
            by_client_id,
            by_named_kid,
        })
    }

    fn is_named(&self, kid: &str) -> bool {
        self.client_id.as_str() == kid || self.settings.kid.as_deref() == Some(kid)
    }

    /// Tries each key slot. A signature error from every slot answers the
    /// last one; any other answer (the signature verified) is final.
    fn verify(&self, token: &UntrustedToken<'_>, now: OffsetDateTime) -> Result<Passed, VerifyError> {
        let verifiers = match (token.kid(), &self.settings.kid) {
            (Some(kid), Some(named)) if kid == named && kid != self.client_id.as_str() => &self.by_named_kid,
            _ => &self.by_client_id,
        };
        let mut last = VerifyError::UnknownKey;
        for verifier in verifiers {
            match verifier.verify_one_pass::<OnePass>(token, now) {
                Ok((one, _)) if !one.claims.within_limits() => {
                    return Err(VerifyError::Malformed);
                }
                Ok((one, expires_at)) => {
                    return Ok(Passed {
                        claims: one.claims,
                        expires_at,
                    });
                }
                Err(e) if is_signature_error(&e) => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }
}

/// Errors raised before the signature verified.
fn is_signature_error(e: &VerifyError) -> bool {
    matches!(
        e,
        VerifyError::UnknownKey | VerifyError::AlgorithmMismatch | VerifyError::BadSignature
    )
}

/// A token whose signature and claims passed, not yet checked for replay.
struct Checked<'e> {
    passed: Passed,
    entry: &'e Entry,
    /// The replay-cache key of the token's `jti`, if it has one.
    replay_key: Option<ReplayKey>,
}

/// Handshake tokens: the direct flow, where the customer app signs a short
/// JWT itself and the KB turns it into a reader session.
///
/// A JWT configuration that takes handshake tokens holds a [`HandshakeKey`]:
/// - **HS256** with the configuration's secrets exactly as shown to the admin
///   (their ASCII text, which is what customers paste into their JWT
///   library). Primary and secondary are both accepted, so one can be
///   rotated while the other works. HMAC needs the secret itself: a KB that
///   offers HS256 handshakes must keep these secrets (encrypted at rest), not
///   only their digests.
/// - **Ed25519**: the public key (SPKI PEM) of a pair made by
///   [`generate_ed25519_key_pair`], whose private key is shown to the admin
///   once. Regenerating the pair makes tokens signed with the old private
///   key fail at once.
///
/// A [`HandshakeVerifier`] holds up to [`MAX_HANDSHAKE_CONFIGS`]
/// configurations, each with its [`HandshakeSettings`]. It turns an
/// [`UntrustedToken`] into a [`VerifiedHandshake`] only after:
///
/// 1. **Configuration choice.** A `kid` header names a configuration: its
///    client id, or the key id its settings name. Without `kid`, the active
///    configurations are tried in order, each once per key.
/// 2. **Signature and algorithm**, by [`Verifier`]: the algorithm is pinned
///    by the key (`none`, a swapped algorithm and HS256 keyed with an
///    Ed25519 public key all fail); `EdDSA` and `Ed25519` (RFC 9864) both
///    name Ed25519.
/// 3. **Claims**, against the `now` the caller passes: `exp` and `iat`
///    required, `iat` not in the future beyond the leeway (30 s by
///    default), `nbf` when present, the optional maximum token age
///    (`exp - iat`), `iss` and `aud` (a string or an array) when the
///    settings expect them.
/// 4. **Replay.** A token with a `jti` is accepted once: one atomic
///    [`ReplayCache::insert_if_absent`] of a digest of the `jti`, scoped to
///    the configuration, remembered for as long as the token verifies.
///
/// A failure is a [`HandshakeError`] whose [`reason`](HandshakeError::reason)
/// is the `jwt_error` code for the configuration's login URL (`missing`,
/// `malformed`, `bad_signature`, `expired`, `not_yet_valid`,
/// `wrong_audience`, `wrong_issuer`, `replayed`, `disabled`), with the
/// configuration's client id when it can be told and its expected audience.
///
/// On success, [`VerifiedHandshake::into_session`] opens a [`ReaderSession`]
/// that lasts the configured session duration (14 days by default), not the
/// token's few seconds.
///
/// ```
/// use kb_sso::*;
/// use kb_sso::DEFAULT_SESSION_DURATION;
/// use kb_sso::store::memory::MemoryReplayCache;
/// use kb_sso::{ClientId, SigningKey, TokenSigner, UntrustedToken};
/// use time::macros::datetime;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// // The admin generates a key pair; the private key is shown once.
/// let (private_pem, public_pem) = generate_ed25519_key_pair()?;
/// let client_id = ClientId::generate();
/// let mut verifier = HandshakeVerifier::new();
/// verifier.insert(
///     client_id.clone(),
///     HandshakeSettings::builder(HandshakeKey::ed25519_from_spki_pem(&public_pem)?)
///         .audience("docs.example.com")
///         .build()?,
/// )?;
///
/// // The customer app signs a 30-second token (here with kid = client id).
/// let now = datetime!(2026-04-01 12:00 UTC);
/// let signer = TokenSigner::new(SigningKey::ed25519_from_pkcs8_pem(client_id.as_str(), &private_pem)?);
/// let token = signer.sign(&serde_json::json!({
///     "sub": "alice", "firstname": "Alice", "aud": "docs.example.com",
///     "accessRoles": ["engineering"], "jti": "9f1c",
///     "iat": now.unix_timestamp(), "exp": now.unix_timestamp() + 30,
/// }))?;
///
/// // The KB verifies it once and opens a session.
/// let replay = MemoryReplayCache::new();
/// let handshake = verifier.verify(&UntrustedToken::parse(&token)?, now, &replay).await?;
/// assert_eq!(handshake.client_id(), &client_id);
/// let session = handshake.into_session(now);
/// assert_eq!(session.username, "alice");
/// assert_eq!(session.groups, ["engineering"]);
/// assert_eq!(session.expires_at, now + DEFAULT_SESSION_DURATION);
/// # Ok(())
/// # }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(run()).unwrap();
/// ```
///
/// Verifies handshake tokens for up to [`MAX_HANDSHAKE_CONFIGS`]
/// configurations.
#[derive(Debug, Clone, Default)]
pub struct HandshakeVerifier {
    entries: Vec<Entry>,
    /// The header segments of tokens that verified, already read
    /// ([`verify_str`](Self::verify_str) skips reading them again).
    header_memo: HeaderMemo,
}

impl HandshakeVerifier {
    /// A verifier with no configuration (every token is refused).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the configuration `client_id`, or replaces its settings (for
    /// example after its key pair was regenerated: tokens signed with the
    /// old key then fail at once). Answers the settings replaced.
    ///
    /// # Errors
    ///
    /// [`HandshakeSetupError::TooManyConfigurations`] when adding a sixth,
    /// [`HandshakeSetupError::DuplicateKid`] when the settings' kid is
    /// another configuration's client id or kid (or this client id is
    /// another's kid), [`HandshakeSetupError::Key`] if a key cannot be
    /// built. On error the verifier is unchanged.
    pub fn insert(
        &mut self,
        client_id: ClientId,
        settings: HandshakeSettings,
    ) -> Result<Option<HandshakeSettings>, HandshakeSetupError> {
        let existing = self.entries.iter().position(|e| e.client_id == client_id);
        if existing.is_none() && self.entries.len() >= MAX_HANDSHAKE_CONFIGS {
            return Err(HandshakeSetupError::TooManyConfigurations);
        }
        let others = self.entries.iter().filter(|e| e.client_id != client_id);
        for other in others {
            if other.is_named(client_id.as_str()) {
                return Err(HandshakeSetupError::DuplicateKid(client_id.to_string()));
            }
            if let Some(kid) = &settings.kid
                && other.is_named(kid)
            {
                return Err(HandshakeSetupError::DuplicateKid(kid.clone()));
            }
        }
        let entry = Entry::new(client_id, settings)?;
        Ok(match existing {
            Some(i) => Some(std::mem::replace(&mut self.entries[i], entry).settings),
            None => {
                self.entries.push(entry);
                None
            }
        })
    }

    /// Removes a configuration; answers its settings.
    pub fn remove(&mut self, client_id: &ClientId) -> Option<HandshakeSettings> {
        let i = self.entries.iter().position(|e| &e.client_id == client_id)?;
        Some(self.entries.remove(i).settings)
    }

    /// Enables or disables a configuration; `false` if there is none with
    /// this client id.
    pub fn set_enabled(&mut self, client_id: &ClientId, enabled: bool) -> bool {
        match self.entries.iter_mut().find(|e| &e.client_id == client_id) {
            Some(entry) => {
                entry.settings.enabled = enabled;
                true
            }
            None => false,
        }
    }

    /// The settings of a configuration.
    #[must_use]
    pub fn settings(&self, client_id: &ClientId) -> Option<&HandshakeSettings> {
        self.entries
            .iter()
            .find(|e| &e.client_id == client_id)
            .map(|e| &e.settings)
    }

    /// The configurations' client ids, in the order they are tried.
    pub fn client_ids(&self) -> impl Iterator<Item = &ClientId> {
        self.entries.iter().map(|e| &e.client_id)
    }

    /// Number of configurations.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no configuration.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The error for a request that carried no token: `missing`, for the
    /// only enabled configuration when there is exactly one.
    #[must_use]
    pub fn missing(&self) -> HandshakeError {
        HandshakeError::new(HandshakeErrorKind::Missing, self.only_enabled())
    }

    fn only_enabled(&self) -> Option<&Entry> {
        let mut enabled = self.entries.iter().filter(|e| e.settings.enabled);
        match (enabled.next(), enabled.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        }
    }

    /// Verifies a token, then records its `jti` in `replay`.
    ///
    /// Everything but the replay check runs before the returned future is
    /// first polled, so the future does not borrow `token`. A `jti` is
    /// recorded only for a token that passed every other check.
    ///
    /// # Errors
    ///
    /// A [`HandshakeError`]; see [`HandshakeVerifier`] for the
    /// checks and [`HandshakeErrorKind::reason`] for the codes.
    pub fn verify<'a, R: ReplayCache>(
        &'a self,
        token: &UntrustedToken<'_>,
        now: OffsetDateTime,
        replay: &'a R,
    ) -> impl Future<Output = Result<VerifiedHandshake, HandshakeError>> + Send + use<'a, R> {
        Self::replay_check(self.check(token, now), now, replay)
    }

    /// The replay check of a token that passed [`check`](Self::check), and
    /// the verified handshake.
    async fn replay_check<'a, R: ReplayCache>(
        checked: Result<Checked<'a>, HandshakeError>,
        now: OffsetDateTime,
        replay: &'a R,
    ) -> Result<VerifiedHandshake, HandshakeError> {
        {
            let Checked {
                passed,
                entry,
                replay_key,
            } = checked?;
            if let Some(key) = &replay_key {
                // The first second at which the token no longer verifies.
                let remember_until = passed
                    .expires_at
                    .saturating_add(entry.settings.leeway)
                    .saturating_add(Duration::SECOND);
                let refused = |kind| HandshakeError::new(kind, Some(entry));
                match replay.insert_if_absent(key.as_str(), remember_until, now).await {
                    Ok(true) => {}
                    Ok(false) => return Err(refused(HandshakeErrorKind::Replayed)),
                    Err(e) => {
                        let mut err = refused(HandshakeErrorKind::ReplayStore);
                        err.source = Some(Arc::new(e));
                        return Err(err);
                    }
                }
            }
            Ok(VerifiedHandshake {
                token_expires_at: passed.expires_at,
                claims: passed.claims,
                client_id: entry.client_id.clone(),
                session_duration: entry.settings.session_duration,
                session_mode: entry.settings.session_mode,
                key_fingerprint: entry.key_fingerprint,
            })
        }
    }

    /// Parses and verifies a token string as it arrived (query parameter,
    /// cookie or form field). An empty or blank string is `missing`.
    ///
    /// # Errors
    ///
    /// As [`UntrustedToken::parse`] (`malformed`) and
    /// [`HandshakeVerifier::verify`].
    pub fn verify_str<'a, R: ReplayCache>(
        &'a self,
        token: &str,
        now: OffsetDateTime,
        replay: &'a R,
    ) -> impl Future<Output = Result<VerifiedHandshake, HandshakeError>> + Send + use<'a, R> {
        let token = token.trim();
        let parsed = if token.is_empty() {
            Err(self.missing())
        } else {
            UntrustedToken::parse_memo(token, &self.header_memo).map_err(|e| {
                // A token that does not parse has no trustworthy kid.
                HandshakeError::new(HandshakeErrorKind::Token(e), self.only_enabled())
            })
        };
        let checked = parsed.and_then(|t| {
            let checked = self.check(&t, now);
            if checked.is_ok() && !t.header_from_memo() {
                // Signed by a configured key: its header may be kept.
                self.header_memo.remember(&t);
            }
            checked
        });
        Self::replay_check(checked, now, replay)
    }

    /// Signature and claims, without the replay check.
    fn check(&self, token: &UntrustedToken<'_>, now: OffsetDateTime) -> Result<Checked<'_>, HandshakeError> {
        let (entry, passed) = self.choose(token, now)?;
        let replay_key = match passed.claims.jti.as_deref() {
            Some(jti) => Some(ReplayKey::new(&entry.client_id, jti)),
            None if entry.settings.require_jti => {
                return Err(HandshakeError::new(
                    HandshakeErrorKind::Token(VerifyError::MissingClaim("jti")),
                    Some(entry),
                ));
            }
            None => None,
        };
        Ok(Checked {
            passed,
            entry,
            replay_key,
        })
    }

    /// Chooses the configuration and verifies the token with it.
    fn choose(&self, token: &UntrustedToken<'_>, now: OffsetDateTime) -> Result<(&Entry, Passed), HandshakeError> {
        let token_error = |e, entry| HandshakeError::new(HandshakeErrorKind::Token(e), entry);
        if let Some(kid) = token.kid() {
            let Some(entry) = self.entries.iter().find(|e| e.is_named(kid)) else {
                return Err(token_error(VerifyError::UnknownKey, self.only_enabled()));
            };
            return match entry.verify(token, now) {
                // A disabled configuration is named only to a caller who
                // holds its key: an unsigned guess learns nothing.
                Err(e) if is_signature_error(&e) => Err(token_error(e, Some(entry))),
                _ if !entry.settings.enabled => Err(HandshakeError::new(HandshakeErrorKind::Disabled, Some(entry))),
                Ok(verified) => Ok((entry, verified)),
                Err(e) => Err(token_error(e, Some(entry))),
            };
        }
        // No kid: try the enabled configurations in order.
        let mut signature_error = VerifyError::UnknownKey;
        let mut claims_error = None;
        for entry in self.entries.iter().filter(|e| e.settings.enabled) {
            match entry.verify(token, now) {
                Ok(verified) => return Ok((entry, verified)),
                Err(e) if is_signature_error(&e) => {
                    if signature_error != VerifyError::BadSignature {
                        signature_error = e;
                    }
                }
                Err(e) => {
                    claims_error.get_or_insert((e, entry));
                }
            }
        }
        if let Some((e, entry)) = claims_error {
            return Err(token_error(e, Some(entry)));
        }
        // Signed for a disabled configuration?
        for entry in self.entries.iter().filter(|e| !e.settings.enabled) {
            if !matches!(entry.verify(token, now), Err(e) if is_signature_error(&e)) {
                return Err(HandshakeError::new(HandshakeErrorKind::Disabled, Some(entry)));
            }
        }
        Err(token_error(signature_error, self.only_enabled()))
    }
}

// ---------------------------------------------------------------------------
// Verified handshake
// ---------------------------------------------------------------------------

/// A handshake token that passed every check, for one configuration. Only
/// [`HandshakeVerifier::verify`] makes one.
#[derive(Debug, Clone)]
pub struct VerifiedHandshake {
    claims: Box<HandshakeClaims>,
    client_id: ClientId,
    token_expires_at: OffsetDateTime,
    session_duration: Duration,
    session_mode: SessionMode,
    key_fingerprint: [u8; 8],
}

impl VerifiedHandshake {
    /// The session mode of the token's configuration.
    #[must_use]
    pub fn session_mode(&self) -> SessionMode {
        self.session_mode
    }

    /// The claims.
    #[must_use]
    pub fn claims(&self) -> &HandshakeClaims {
        &self.claims
    }

    /// The configuration the token was verified for.
    #[must_use]
    pub fn client_id(&self) -> &ClientId {
        &self.client_id
    }

    /// The token's `exp` (the session lasts longer; see
    /// [`into_session`](Self::into_session)).
    #[must_use]
    pub fn token_expires_at(&self) -> OffsetDateTime {
        self.token_expires_at
    }

    /// The token's `jti`, if it had one.
    #[must_use]
    pub fn jti(&self) -> Option<&str> {
        self.claims.jti.as_deref()
    }

    /// The groups granted; see [`HandshakeClaims::reader_groups`].
    #[must_use]
    pub fn reader_groups(&self) -> ReaderGroups {
        self.claims.reader_groups()
    }

    /// The reader session this handshake opens at `now`.
    ///
    /// It lasts the configuration's session duration; in
    /// [`SessionMode::Token`] it ends at the token's `exp` instead when
    /// that comes first, and records the key's fingerprint in its
    /// [`binding`](ReaderSession::binding) (the caller sets the token
    /// digest, [`TokenBinding::digest`]).
    ///
    /// `username` is `sub`, else `email`, else a stable id derived from the
    /// configuration, `iss` and the token's other claims
    /// ([`derived_username`](Self::derived_username)), never empty; names
    /// are `firstname`/`given_name` and `lastname`/`family_name`, the
    /// display name `name`; the session's `jti` is the token's, else a
    /// random one. The token's other non-registered claims (`host`,
    /// `company`, ...) are kept, in name order, as long as they fit
    /// [`MAX_SESSION_CLAIMS_BYTES`] of JSON; the rest are left out. A grant
    /// of every group is written as the single group [`ALL_GROUPS`]
    /// (`"*"`): whatever reads the session must treat it so.
    #[must_use]
    pub fn into_session(self, now: OffsetDateTime) -> ReaderSession {
        let access = self.claims.reader_groups();
        let groups = if access.all_groups {
            vec![ALL_GROUPS.to_owned()]
        } else {
            access.groups
        };
        let text = |v: Option<&str>| v.unwrap_or_default().to_owned();
        let username = match self.claims.username() {
            Some(u) if !u.is_empty() => u.to_owned(),
            _ => self.derived_username(),
        };
        let mut expires_at = now.saturating_add(self.session_duration);
        let mut binding = None;
        if self.session_mode == SessionMode::Token {
            expires_at = expires_at.min(self.token_expires_at);
            binding = Some(TokenBinding {
                key: self.key_fingerprint,
                token: [0; 16],
            });
        }
        ReaderSession {
            username,
            email: text(self.claims.email.as_deref()),
            first_name: text(self.claims.first_name()),
            last_name: text(self.claims.last_name()),
            groups,
            jti: self.claims.jti.clone().unwrap_or_else(|| random_token().to_string()),
            expires_at,
            name: text(self.claims.name.as_deref()),
            claims: self.session_claims(),
            binding,
            client_id: self.client_id,
        }
    }

    /// The username of a token with neither `sub` nor `email`: `jwt-`
    /// and 22 base64url characters of a SHA-256 over the configuration,
    /// `iss` and the token's claims other than the registered ones (which
    /// change from token to token), so the same reader gets the same id
    /// from every token.
    #[must_use]
    pub fn derived_username(&self) -> String {
        let mut stable = serde_json::Map::new();
        let c = &self.claims;
        let named = [
            ("firstname", &c.firstname),
            ("given_name", &c.given_name),
            ("lastname", &c.lastname),
            ("family_name", &c.family_name),
            ("company", &c.company),
            ("host", &c.host),
            ("name", &c.name),
        ];
        for (k, v) in named {
            if let Some(v) = v {
                stable.insert(k.to_owned(), v.clone().into());
            }
        }
        for (k, v) in [("accessRoles", &c.access_roles), ("groups", &c.groups)] {
            if let Some(v) = v {
                stable.insert(k.to_owned(), v.clone().into());
            }
        }
        for (k, v) in &c.other {
            if !REGISTERED_CLAIMS.contains(&k.as_str()) {
                stable.insert(k.clone(), v.clone());
            }
        }
        // A BTreeMap-ordered object: the same claims give the same text.
        let sorted: std::collections::BTreeMap<_, _> = stable.into_iter().collect();
        let input = serde_json::json!([self.client_id.as_str(), c.iss, sorted]).to_string();
        let digest = sha256(input.as_bytes());
        format!("jwt-{}", URL_SAFE_NO_PAD.encode(&digest[..16]))
    }

    /// The claims a session keeps: `host`, `company` and every claim
    /// that is neither registered nor read into another session field, in
    /// name order, while they fit [`MAX_SESSION_CLAIMS_BYTES`].
    fn session_claims(&self) -> serde_json::Map<String, serde_json::Value> {
        let c = &self.claims;
        let mut all: std::collections::BTreeMap<String, serde_json::Value> = c
            .other
            .iter()
            .filter(|(k, _)| !REGISTERED_CLAIMS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, v) in [("host", &c.host), ("company", &c.company)] {
            if let Some(v) = v {
                all.insert(k.to_owned(), v.clone().into());
            }
        }
        let mut kept = serde_json::Map::new();
        // `{}` and a comma between entries.
        let mut len: usize = 2;
        for (k, v) in all {
            let entry = serde_json::to_string(&k).map_or(usize::MAX, |k| k.len())
                + 1
                + serde_json::to_string(&v).map_or(usize::MAX, |v| v.len())
                + usize::from(!kept.is_empty());
            if len.saturating_add(entry) <= MAX_SESSION_CLAIMS_BYTES {
                len += entry;
                kept.insert(k, v);
            }
        }
        kept
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn verified(claims_json: serde_json::Value, mode: SessionMode, exp: i64) -> VerifiedHandshake {
        let mut v = json!({"iat": 1, "exp": exp});
        v.as_object_mut()
            .unwrap()
            .extend(claims_json.as_object().unwrap().clone());
        VerifiedHandshake {
            claims: Box::new(serde_json::from_value(v).unwrap()),
            client_id: ClientId::parse("0b9f4c1e-5f7a-4c55-9d1e-3f1f2a6c7d80").unwrap(),
            token_expires_at: OffsetDateTime::from_unix_timestamp(exp).unwrap(),
            session_duration: DEFAULT_SESSION_DURATION,
            session_mode: mode,
            key_fingerprint: [7; 8],
        }
    }

    #[test]
    fn session_modes_set_expiry_and_binding() {
        let now = OffsetDateTime::from_unix_timestamp(1_000).unwrap();
        let fixed = verified(json!({"sub": "a"}), SessionMode::Fixed, 1_030).into_session(now);
        assert_eq!(fixed.expires_at, now + DEFAULT_SESSION_DURATION);
        assert_eq!(fixed.binding, None);
        let token = verified(json!({"sub": "a"}), SessionMode::Token, 1_030).into_session(now);
        assert_eq!(token.expires_at.unix_timestamp(), 1_030);
        assert_eq!(token.binding.unwrap().key, [7; 8]);
        // HelpSite's exp 9999999999: capped at the session duration.
        let far = verified(json!({}), SessionMode::Token, 9_999_999_999).into_session(now);
        assert_eq!(far.expires_at, now + DEFAULT_SESSION_DURATION);
    }

    #[test]
    fn usernames_fall_back_to_email_then_a_stable_derived_id() {
        let now = OffsetDateTime::from_unix_timestamp(1_000).unwrap();
        let s = |c| verified(c, SessionMode::Fixed, 1_030).into_session(now).username;
        assert_eq!(s(json!({"sub": "a", "email": "e@x"})), "a");
        assert_eq!(s(json!({"email": "e@x"})), "e@x");
        let alice = s(json!({"firstname": "Alice", "company": "Acme", "nbf": 1}));
        assert!(alice.starts_with("jwt-") && alice.len() == 26, "{alice}");
        assert_eq!(alice, s(json!({"company": "Acme", "firstname": "Alice", "nbf": 900})));
        assert_ne!(alice, s(json!({"firstname": "Bob", "company": "Acme"})));
        assert!(s(json!({})).starts_with("jwt-"));
    }

    proptest::proptest! {
        /// Whatever other claims a token carries, the session keeps only
        /// non-registered ones, within 1 KiB of JSON.
        #[test]
        fn session_claims_fit_the_bound(
            extra in proptest::collection::btree_map("x_[a-z]{1,10}", ".{0,300}", 0..12),
        ) {
            let mut c = serde_json::Map::new();
            for (k, v) in &extra {
                c.insert(k.clone(), v.clone().into());
            }
            c.insert("aud".into(), "x".into());
            let now = OffsetDateTime::from_unix_timestamp(1_000).unwrap();
            let s = verified(serde_json::Value::Object(c), SessionMode::Fixed, 1_030).into_session(now);
            let text = serde_json::to_string(&s.claims).unwrap();
            proptest::prop_assert!(text.len() <= MAX_SESSION_CLAIMS_BYTES);
            proptest::prop_assert!(!s.claims.contains_key("aud") && !s.claims.contains_key("iat"));
            for (k, v) in &s.claims {
                let known = ["firstname", "lastname", "name", "email", "groups", "accessRoles", "sub", "jti", "iss", "exp", "nbf", "given_name", "family_name"];
                if !known.contains(&k.as_str()) {
                    let sent = extra.get(k).map(|x| serde_json::Value::from(x.clone()));
                    proptest::prop_assert_eq!(Some(v), sent.as_ref());
                }
            }
        }
    }

    fn claims(value: serde_json::Value) -> HandshakeClaims {
        let mut v = json!({"iat": 1, "exp": 2});
        v.as_object_mut().unwrap().extend(value.as_object().unwrap().clone());
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn groups_follow_access_roles_then_groups() {
        let c = claims(json!({"accessRoles": ["a", "b"], "groups": ["g"]}));
        assert_eq!(
            c.reader_groups(),
            ReaderGroups {
                all_groups: false,
                groups: vec!["a".into(), "b".into()]
            }
        );
        // Present but empty: no groups, no fall-back.
        let c = claims(json!({"accessRoles": [], "groups": ["g"]}));
        assert_eq!(c.reader_groups(), ReaderGroups::default());
        let c = claims(json!({"groups": ["g"]}));
        assert_eq!(c.reader_groups().groups, ["g"]);
        let c = claims(json!({"accessRoles": ["*"]}));
        assert_eq!(
            c.reader_groups(),
            ReaderGroups {
                all_groups: true,
                groups: vec![]
            }
        );
        let c = claims(json!({"accessRoles": ["x", "*"]}));
        assert!(c.reader_groups().all_groups);
        assert_eq!(c.reader_groups().groups, ["x"]);
        assert_eq!(claims(json!({})).reader_groups(), ReaderGroups::default());
    }

    #[test]
    fn names_and_username_fall_back() {
        let c = claims(json!({"given_name": "Ada", "family_name": "L", "email": "a@x"}));
        assert_eq!(c.first_name(), Some("Ada"));
        assert_eq!(c.last_name(), Some("L"));
        assert_eq!(c.username(), Some("a@x"));
        let c = claims(json!({"firstname": "A", "given_name": "B", "sub": "s", "email": "e"}));
        assert_eq!(c.first_name(), Some("A"));
        assert_eq!(c.username(), Some("s"));
        assert_eq!(claims(json!({})).username(), None);
    }

    #[test]
    fn duplicate_or_mistyped_claims_do_not_deserialize() {
        let dup = r#"{"iat":1,"exp":2,"sub":"a","sub":"b"}"#;
        assert!(serde_json::from_str::<HandshakeClaims>(dup).is_err());
        let roles = r#"{"iat":1,"exp":2,"accessRoles":"*"}"#;
        assert!(serde_json::from_str::<HandshakeClaims>(roles).is_err());
    }

    #[test]
    fn limits() {
        assert!(claims(json!({"sub": "x".repeat(MAX_FIELD_CHARS)})).within_limits());
        assert!(!claims(json!({"sub": "x".repeat(MAX_FIELD_CHARS + 1)})).within_limits());
        assert!(!claims(json!({"groups": ["x".repeat(MAX_FIELD_CHARS + 1)]})).within_limits());
        let many: Vec<String> = (0..=MAX_READER_GROUPS).map(|i| i.to_string()).collect();
        assert!(!claims(json!({"accessRoles": many})).within_limits());
        assert!(claims(json!({"accessRoles": many[1..]})).within_limits());
    }

    #[test]
    fn reasons_are_the_design_codes() {
        use HandshakeErrorKind as K;
        let cases = [
            (K::Missing, "missing"),
            (K::Token(VerifyError::Malformed), "malformed"),
            (K::Token(VerifyError::BadSignature), "bad_signature"),
            (K::Token(VerifyError::AlgorithmMismatch), "bad_signature"),
            (K::Token(VerifyError::Expired), "expired"),
            (K::Token(VerifyError::TooOld), "expired"),
            (K::Token(VerifyError::NotYetValid), "not_yet_valid"),
            (K::Token(VerifyError::IssuedInFuture), "not_yet_valid"),
            (K::Token(VerifyError::WrongAudience), "wrong_audience"),
            (K::Token(VerifyError::WrongIssuer), "wrong_issuer"),
            (K::Replayed, "replayed"),
            (K::ReplayStore, "replayed"),
            (K::Disabled, "disabled"),
        ];
        for (kind, reason) in cases {
            assert_eq!(kind.reason(), reason, "{kind:?}");
            assert!(!kind.to_string().is_empty());
        }
    }

    #[test]
    fn jwt_error_reasons_of_refused_tokens() {
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
            (E::WrongType, "wrong_audience"),
            (E::WrongIssuer, "wrong_issuer"),
        ];
        for (err, reason) in cases {
            assert_eq!(jwt_error_reason(&err), reason, "{err:?}");
            assert_eq!(HandshakeErrorKind::Token(err).reason(), reason);
        }
    }

    fn replay_key(client_id: &ClientId, jti: &str) -> String {
        ReplayKey::new(client_id, jti).as_str().to_owned()
    }

    #[test]
    fn replay_keys_are_scoped_digests() {
        // Fixed ids: the digest is then fixed too, and the test cannot fail by
        // chance.
        let a = ClientId::parse("00000000-0000-4000-8000-000000000001").unwrap();
        let b = ClientId::parse("00000000-0000-4000-8000-000000000002").unwrap();
        let k = replay_key(&a, "j1");
        assert_eq!(k.len(), 43);
        assert!(!k.contains("j1"), "the jti is not in the key: {k}");
        assert_eq!(k, replay_key(&a, "j1"));
        assert_ne!(k, replay_key(&b, "j1"));
        assert_ne!(k, replay_key(&a, "j2"));
    }

    #[test]
    fn settings_are_checked() {
        let (_, public) = generate_ed25519_key_pair().unwrap();
        let key = HandshakeKey::ed25519_from_spki_pem(&public).unwrap();
        let s = HandshakeSettings::builder(key.clone()).build().unwrap();
        assert_eq!(s.session_duration(), DEFAULT_SESSION_DURATION);
        assert_eq!(s.leeway(), Duration::seconds(30));
        assert!(s.is_enabled() && !s.requires_jti());
        for bad in [
            Duration::ZERO,
            Duration::seconds(-1),
            MAX_SESSION_DURATION + Duration::SECOND,
        ] {
            assert_eq!(
                HandshakeSettings::builder(key.clone())
                    .session_duration(bad)
                    .build()
                    .unwrap_err(),
                HandshakeSetupError::InvalidSessionDuration
            );
        }
        assert_eq!(
            HandshakeSettings::builder(key.clone()).issuer("").build().unwrap_err(),
            HandshakeSetupError::EmptyExpectation("issuer")
        );
        assert_eq!(
            HandshakeSettings::builder(key.clone())
                .audience("")
                .build()
                .unwrap_err(),
            HandshakeSetupError::EmptyExpectation("audience")
        );
        assert_eq!(
            HandshakeSettings::builder(key.clone()).kid("a\nb").build().unwrap_err(),
            HandshakeSetupError::Key(KeyError::InvalidKid)
        );
        let s = HandshakeSettings::builder(key)
            .leeway(Duration::days(2))
            .build()
            .unwrap();
        assert_eq!(s.leeway(), Duration::hours(1));
    }

    #[test]
    fn debug_hides_secrets() {
        let secret = ClientSecret::generate();
        let key = HandshakeKey::hs256(&secret, None).unwrap();
        let settings = HandshakeSettings::builder(key.clone()).build().unwrap();
        let mut verifier = HandshakeVerifier::new();
        verifier.insert(ClientId::generate(), settings.clone()).unwrap();
        for text in [format!("{key:?}"), format!("{settings:?}"), format!("{verifier:?}")] {
            assert!(!text.contains(secret.expose()), "{text}");
        }
        assert!(format!("{key:?}").contains("[redacted]"));
    }

    // --- One pass ------------------------------------------------------------

    const T0: i64 = 1_767_225_600;

    /// A verifier of HS256 tokens for one configuration (audience and issuer
    /// set), and a function that signs a raw payload for it.
    fn one_pass_fixture() -> (HandshakeVerifier, impl Fn(&str) -> String) {
        use hmac::Mac as _;
        let secret = ClientSecret::generate();
        let id = ClientId::parse("0b9f4c1e-5f7a-4c55-9d1e-3f1f2a6c7d80").unwrap();
        let mut verifier = HandshakeVerifier::new();
        let settings = HandshakeSettings::builder(HandshakeKey::hs256(&secret, None).unwrap())
            .audience("docs.example.com")
            .issuer("https://app.example.com")
            .build()
            .unwrap();
        verifier.insert(id.clone(), settings).unwrap();
        let kid = id.to_string();
        let sign = move |payload: &str| {
            let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"HS256","typ":"JWT","kid":"{kid}"}}"#));
            let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.expose().as_bytes()).unwrap();
            mac.update(input.as_bytes());
            format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
        };
        (verifier, sign)
    }

    /// The two-pass reading the one pass replaces: the registered claims,
    /// then `HandshakeClaims` (serde's own, with `other` flattened), then
    /// the length limits.
    fn two_pass(
        entry: &Entry,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<(HandshakeClaims, OffsetDateTime), VerifyError> {
        let token = UntrustedToken::parse(token)?;
        let verified = entry.by_client_id[0].verify::<HandshakeClaims>(&token, now)?;
        if !verified.claims().within_limits() {
            return Err(VerifyError::Malformed);
        }
        let expires_at = verified.expires_at();
        Ok((verified.into_claims(), expires_at))
    }

    fn one_pass(
        entry: &Entry,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<(HandshakeClaims, OffsetDateTime), VerifyError> {
        let token = UntrustedToken::parse(token)?;
        entry.verify(&token, now).map(|p| (*p.claims, p.expires_at))
    }

    #[test]
    fn verification_decodes_and_parses_the_payload_once() {
        let (verifier, sign) = one_pass_fixture();
        let now = OffsetDateTime::from_unix_timestamp(T0).unwrap();
        let token = sign(
            &json!({"sub": "alice", "email": "a@example.com", "accessRoles": ["sre"], "aud": "docs.example.com",
                "iss": "https://app.example.com", "iat": T0, "exp": T0 + 60})
            .to_string(),
        );
        let cache = TakesAll;
        let before = crate::jose::work::totals();
        let mut f = std::pin::pin!(verifier.verify_str(&token, now, &cache));
        let verified = match f
            .as_mut()
            .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
        {
            std::task::Poll::Ready(v) => v.unwrap(),
            std::task::Poll::Pending => panic!("the cache answers at once"),
        };
        let after = crate::jose::work::totals();
        assert_eq!(verified.claims().sub.as_deref(), Some("alice"));
        assert_eq!((after.0 - before.0, after.1 - before.1), (1, 1), "(decodes, parses)");
        // The generic verifier reads the payload twice: registered claims, then `C`.
        let before = crate::jose::work::totals();
        two_pass(&verifier.entries[0], &token, now).unwrap();
        let after = crate::jose::work::totals();
        assert_eq!((after.0 - before.0, after.1 - before.1), (1, 2));
    }

    #[test]
    fn one_pass_keeps_nbf_aud_and_other_claims() {
        let (verifier, sign) = one_pass_fixture();
        let now = OffsetDateTime::from_unix_timestamp(T0).unwrap();
        let payload = r#"{"s\u0075b":"al\"ice","aud":["x","docs.example.com"],"nbf":null,"iss":"https:\/\/app.example.com",
            "iat":1767225600,"exp":1767225660,"plan":{"tier":"pro"},"jti":"j1","company":"ACME"}"#;
        let token = sign(payload);
        let entry = &verifier.entries[0];
        let (claims, exp) = one_pass(entry, &token, now).unwrap();
        assert_eq!(Ok((claims.clone(), exp)), two_pass(entry, &token, now));
        assert_eq!(claims.sub.as_deref(), Some("al\"ice"));
        assert_eq!(claims.jti.as_deref(), Some("j1"));
        assert_eq!(claims.nbf, None);
        assert_eq!(
            claims.aud,
            Some(Audience::Many(vec!["x".into(), "docs.example.com".into()]))
        );
        assert!(!claims.other.contains_key("nbf") && !claims.other.contains_key("aud"));
        assert_eq!(claims.other.get("plan"), Some(&json!({"tier": "pro"})));
        assert_eq!(exp, OffsetDateTime::from_unix_timestamp(T0 + 60).unwrap());
    }

    #[test]
    fn one_pass_refuses_what_two_passes_refused() {
        let (verifier, sign) = one_pass_fixture();
        let now = OffsetDateTime::from_unix_timestamp(T0).unwrap();
        let entry = &verifier.entries[0];
        let base = format!(
            r#""iss":"https://app.example.com","aud":"docs.example.com","iat":{T0},"exp":{}"#,
            T0 + 60
        );
        for (extra, expected) in [
            // Other claims: wrong type or twice, refused after the registered claims.
            (r#","sub":"a","sub":"b""#, VerifyError::Malformed),
            (r#","sub":5"#, VerifyError::Malformed),
            (r#","accessRoles":["a",null]"#, VerifyError::Malformed),
            (r#","groups":"a""#, VerifyError::Malformed),
            (r#","email":{"a":1}"#, VerifyError::Malformed),
            // Registered claims: wrong type or twice.
            (r#","aud":"docs.example.com""#, VerifyError::Malformed),
            (r#","nbf":1,"nbf":1"#, VerifyError::Malformed),
            (r#","nbf":1.5"#, VerifyError::Malformed),
            (r#","nbf":"1""#, VerifyError::Malformed),
            (r#","jti":5"#, VerifyError::Malformed),
            // The registered claims are checked before the others' types.
            (r#","nbf":1867225600,"sub":5"#, VerifyError::NotYetValid),
        ] {
            let token = sign(&format!("{{{base}{extra}}}"));
            assert_eq!(
                one_pass(entry, &token, now).map(|_| ()),
                Err(expected.clone()),
                "{extra}"
            );
            assert_eq!(two_pass(entry, &token, now).map(|_| ()), Err(expected), "{extra}");
        }
        for aud in ["5", r#"["docs.example.com",1]"#, r#"{"a":"docs.example.com"}"#, "true"] {
            let token = sign(&format!(
                r#"{{"iss":"https://app.example.com","aud":{aud},"iat":{T0},"exp":{}}}"#,
                T0 + 60
            ));
            assert_eq!(
                one_pass(entry, &token, now).map(|_| ()),
                Err(VerifyError::Malformed),
                "{aud}"
            );
            assert_eq!(
                two_pass(entry, &token, now).map(|_| ()),
                Err(VerifyError::Malformed),
                "{aud}"
            );
        }
        let token = sign(&format!(r#"{{"sub":5,"iat":{T0},"exp":{}}}"#, T0 - 100));
        assert_eq!(one_pass(entry, &token, now).map(|_| ()), Err(VerifyError::Expired));
        let token = sign(&format!("{{{base}}}"));
        assert!(one_pass(entry, &token, now).is_ok());
    }

    /// Claim names and values for [`one_pass_matches_two_passes`]: every
    /// named claim, registered or not, and values of every JSON type.
    fn claim_entry() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let names = prop::sample::select(vec![
            "sub",
            "email",
            "firstname",
            "given_name",
            "lastname",
            "family_name",
            "company",
            "host",
            "name",
            "accessRoles",
            "groups",
            "iss",
            "iat",
            "exp",
            "jti",
            "aud",
            "nbf",
            "plan",
            "s\\u0075b",
        ]);
        let values = prop::sample::select(vec![
            "\"alice\"".to_owned(),
            "\"https://app.example.com\"".to_owned(),
            "\"docs.example.com\"".to_owned(),
            "[\"docs.example.com\",\"x\"]".to_owned(),
            "[\"a\",null]".to_owned(),
            "[1]".to_owned(),
            "[]".to_owned(),
            "null".to_owned(),
            "true".to_owned(),
            "{\"a\":1}".to_owned(),
            "1.5".to_owned(),
            "-1".to_owned(),
            "18446744073709551615".to_owned(),
            format!("{}", T0 - 10),
            format!("{}", T0 + 60),
            format!("{}", T0 + 7200),
            format!("\"{}\"", "x".repeat(MAX_FIELD_CHARS + 1)),
        ]);
        (names, values).prop_map(|(n, v)| format!("\"{n}\":{v}"))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1024))]

        /// The one-pass reading accepts exactly the tokens the two-pass
        /// reading accepted, with the same claims, and refuses the others
        /// with the same error.
        #[test]
        fn one_pass_matches_two_passes(
            entries in proptest::collection::vec(claim_entry(), 0..6),
            base in proptest::bool::weighted(0.8),
        ) {
            let (verifier, sign) = one_pass_fixture();
            let now = OffsetDateTime::from_unix_timestamp(T0).unwrap();
            let mut all = if base {
                vec![
                    r#""iss":"https://app.example.com""#.to_owned(),
                    r#""aud":"docs.example.com""#.to_owned(),
                    format!(r#""iat":{T0}"#),
                    format!(r#""exp":{}"#, T0 + 60),
                ]
            } else {
                Vec::new()
            };
            all.extend(entries);
            let token = sign(&format!("{{{}}}", all.join(",")));
            let entry = &verifier.entries[0];
            proptest::prop_assert_eq!(one_pass(entry, &token, now), two_pass(entry, &token, now));
        }
    }

    /// A replay cache that takes every key (the store module, with the
    /// real caches, sits above this one).
    struct TakesAll;

    impl ReplayCache for TakesAll {
        type Error = std::convert::Infallible;
        fn insert_if_absent(
            &self,
            _jti: &str,
            _expires_at: OffsetDateTime,
            _now: OffsetDateTime,
        ) -> impl Future<Output = Result<bool, Self::Error>> + Send {
            std::future::ready(Ok(true))
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// The header memo a verifier fills never makes a token verify that
        /// a verifier without one refuses (or change any answer): a good
        /// token fills the memo, then every token one byte off it (in the
        /// header, the payload or the signature) gets the same answer from
        /// both verifiers.
        #[test]
        fn header_memo_never_changes_an_answer(at in 0usize..1000, byte in proptest::prelude::any::<u8>()) {
            use base64::Engine as _;
            use hmac::Mac as _;
            let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
            let t = now.unix_timestamp();
            let secret = crate::secret::ClientSecret::generate();
            let id = ClientId::generate();
            let mut verifier = HandshakeVerifier::new();
            verifier
                .insert(id.clone(), HandshakeSettings::builder(HandshakeKey::hs256(&secret, None).unwrap()).build().unwrap())
                .unwrap();
            let b64 = |v: &serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
            let input = format!(
                "{}.{}",
                b64(&json!({"alg": "HS256", "typ": "JWT", "kid": id.as_str()})),
                b64(&json!({"sub": "alice", "iat": t, "exp": t + 60}))
            );
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.expose().as_bytes()).unwrap();
            mac.update(input.as_bytes());
            let token = format!(
                "{input}.{}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
            );
            let cache = TakesAll;
            let run = |v: &HandshakeVerifier, token: &str| {
                let mut f = std::pin::pin!(v.verify_str(token, now, &cache));
                match f.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
                    std::task::Poll::Ready(r) => r.map(|v| v.claims().clone()).map_err(|e| e.to_string()),
                    std::task::Poll::Pending => panic!("the cache answers at once"),
                }
            };
            proptest::prop_assert!(run(&verifier, &token).is_ok());
            proptest::prop_assert_eq!(verifier.header_memo.len(), 1);
            let fresh = verifier.clone();
            let fresh = HandshakeVerifier { header_memo: HeaderMemo::default(), ..fresh };
            let mut bytes = token.into_bytes();
            let at = at % bytes.len();
            bytes[at] = if bytes[at] == byte { byte.wrapping_add(1) } else { byte };
            let Ok(tampered) = String::from_utf8(bytes) else { return Ok(()) };
            proptest::prop_assert_eq!(run(&verifier, &tampered), run(&fresh, &tampered));
        }
    }
}
