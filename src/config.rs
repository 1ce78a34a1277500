//! JWT configurations: who may ask for codes, and where readers log in.
//!
//! A [`JwtConfig`] is one customer app connected to the KB. It holds the
//! digests of two client secrets (primary and secondary, either accepted, so
//! that one can be rotated while the other keeps working), the app's login
//! URL, the domain derived from it, an optional logout URL, and whether it
//! is enabled.

use std::fmt;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::secret::{ClientId, ClientSecret, SecretDigest, presented_digest, sha256, stored_digest_matches, to_hex};

/// The longest configuration name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// The longest login or logout URL, in bytes.
pub const MAX_URL_LEN: usize = 2048;

/// Why a configuration value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The name is empty, too long, or has control characters.
    #[error("the configuration name must be 1 to {MAX_NAME_CHARS} characters without control characters")]
    InvalidName,
    /// The login URL is missing, not absolute http(s), too long, or carries
    /// credentials or a fragment.
    #[error("the login URL must be an absolute http or https URL with a host: {0}")]
    InvalidLoginUrl(&'static str),
    /// The logout URL is not absolute http(s), too long, or carries
    /// credentials or a fragment.
    #[error("the logout URL must be an absolute http or https URL with a host: {0}")]
    InvalidLogoutUrl(&'static str),
    /// The login URL's host is a wildcard.
    #[error("wildcard domains are not supported; each domain must be an exact value")]
    WildcardDomain,
    /// The login button is on but has no text.
    #[error("login button text is required when the login button is shown")]
    MissingButtonText,
    /// The login button text is too long or has control characters.
    #[error("login button text must be at most {MAX_NAME_CHARS} characters without control characters")]
    InvalidButtonText,
    /// The logo is not a JPG, PNG or SVG image by its content.
    #[error("the login button logo must be a JPG, PNG or SVG image")]
    LogoFormat,
    /// The logo is larger than 512 KB.
    #[error("the login button logo must be at most 512 KB")]
    LogoTooLarge,
    /// A project already has the most JWT configurations allowed.
    #[error("a project can have at most {MAX_JWT_CONFIGS} JWT configurations")]
    TooManyConfigs,
    /// Another configuration of the project has this domain.
    #[error("the domain {0} is already assigned to another JWT configuration in this project")]
    DuplicateDomain(String),
    /// Turning this login button on would show more than three.
    #[error("at most {MAX_LOGIN_BUTTONS} JWT login buttons can be shown on the login page")]
    TooManyButtons,
    /// No configuration has this client id.
    #[error("no JWT configuration has this client id")]
    UnknownConfig,
    /// Another configuration or provider of the project has this client id
    /// or name.
    #[error("the client id is already used in this project")]
    DuplicateClientId,
    /// An SSO provider's name is empty, too long, or has control characters.
    #[error("the SSO provider name must be 1 to {MAX_NAME_CHARS} characters without control characters")]
    InvalidProviderName,
    /// No SSO provider has this name.
    #[error("no SSO provider has this name")]
    UnknownSsoProvider,
    /// Another SSO provider of the project has this name.
    #[error("another SSO provider has this name")]
    DuplicateSsoProvider,
    /// The configuration was set up before the current model and is shown
    /// read-only: it keeps working, and can be viewed, enabled, disabled
    /// or deleted, but not changed.
    #[error(
        "this JWT configuration is read-only (set up before the current model); create a new configuration to change it"
    )]
    ReadOnly,
    /// Turning Direct JWT login on or off needs an explicit confirmation.
    #[error("changing Direct JWT login needs an explicit confirmation")]
    ConfirmationRequired,
    /// The project has no widget settings.
    #[error("the project has no widget settings")]
    NoWidget,
    /// A public path is not a path (`/...`), is too long, has control
    /// characters, or there are too many.
    #[error(
        "public paths must be at most 50 paths of at most 2048 bytes, each starting with / and without control characters"
    )]
    InvalidPublicPath,
    /// The handshake settings are refused (a weak key, an empty issuer or
    /// audience, a session duration out of range, a key id already in use).
    #[error("the handshake settings are refused: {0}")]
    InvalidHandshake(String),
}

impl ConfigError {
    /// The field the error is about, as the admin API and project files
    /// name it (`login_url`, `login_button_logo`, `jwt` for the list of
    /// configurations...).
    #[must_use]
    pub fn field(&self) -> &'static str {
        match self {
            Self::InvalidName => "name",
            Self::InvalidLoginUrl(_) | Self::WildcardDomain | Self::DuplicateDomain(_) => "login_url",
            Self::InvalidLogoutUrl(_) => "logout_url",
            Self::MissingButtonText | Self::InvalidButtonText => "login_button_text",
            Self::LogoFormat | Self::LogoTooLarge => "login_button_logo",
            Self::TooManyConfigs => "jwt",
            Self::TooManyButtons => "show_login_button",
            Self::UnknownConfig | Self::DuplicateClientId | Self::ReadOnly => "client_id",
            Self::InvalidProviderName | Self::UnknownSsoProvider | Self::DuplicateSsoProvider => "sso.name",
            Self::ConfirmationRequired => "confirm",
            Self::NoWidget => "widget",
            Self::InvalidHandshake(_) => "handshake",
            Self::InvalidPublicPath => "public_paths",
        }
    }
}

/// The most JWT configurations a project can have.
pub const MAX_JWT_CONFIGS: usize = 5;
/// The most JWT configurations whose login button can be on.
pub const MAX_LOGIN_BUTTONS: usize = 3;
/// The largest login button logo, in bytes (512 KB).
pub const MAX_LOGO_BYTES: usize = 512 * 1024;

/// A login button logo: a JPG, PNG or SVG image, recognised by its content.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "LogoRecord", into = "LogoRecord")]
pub struct Logo {
    format: LogoFormat,
    /// Shared: a project snapshot and its copies hold one image.
    bytes: std::sync::Arc<[u8]>,
}

/// The image formats a logo may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogoFormat {
    /// JPEG.
    Jpg,
    /// PNG.
    Png,
    /// SVG.
    Svg,
}

impl LogoFormat {
    /// The image's media type.
    pub fn media_type(&self) -> &'static str {
        match self {
            Self::Jpg => "image/jpeg",
            Self::Png => "image/png",
            Self::Svg => "image/svg+xml",
        }
    }
}

impl Logo {
    /// Checks an uploaded image: at most 512 KB, and a JPG, PNG or SVG by
    /// its content (whatever its file name says).
    ///
    /// # Errors
    /// [`ConfigError::LogoTooLarge`] or [`ConfigError::LogoFormat`].
    pub fn new(bytes: Vec<u8>) -> Result<Self, ConfigError> {
        if bytes.len() > MAX_LOGO_BYTES {
            return Err(ConfigError::LogoTooLarge);
        }
        let format = sniff_image(&bytes).ok_or(ConfigError::LogoFormat)?;
        Ok(Self {
            format,
            bytes: bytes.into(),
        })
    }

    /// The recognised format.
    pub fn format(&self) -> LogoFormat {
        self.format
    }

    /// The image bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// A `data:` URL of the image, for an `<img src>` (an SVG shown through
    /// `<img>` runs no script).
    pub fn data_url(&self) -> String {
        use base64::Engine as _;
        format!(
            "data:{};base64,{}",
            self.format.media_type(),
            base64::engine::general_purpose::STANDARD.encode(&self.bytes)
        )
    }

    /// SHA-256 of the image, hex: how audit events name a logo.
    pub fn digest_hex(&self) -> String {
        to_hex(&sha256(&self.bytes))
    }
}

impl fmt::Debug for Logo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Logo")
            .field("format", &self.format)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// Recognises JPG, PNG and SVG by their first bytes.
fn sniff_image(bytes: &[u8]) -> Option<LogoFormat> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some(LogoFormat::Jpg);
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some(LogoFormat::Png);
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let mut rest = text.trim_start_matches('\u{feff}').trim_start();
    // Skip an XML declaration, comments and a doctype before the root.
    loop {
        if let Some(r) = rest.strip_prefix("<?xml") {
            rest = r.split_once("?>")?.1.trim_start();
        } else if let Some(r) = rest.strip_prefix("<!--") {
            rest = r.split_once("-->")?.1.trim_start();
        } else if let Some(r) = rest.strip_prefix("<!DOCTYPE") {
            rest = r.split_once('>')?.1.trim_start();
        } else {
            break;
        }
    }
    let root = rest.strip_prefix("<svg")?;
    root.starts_with(|c: char| c.is_whitespace() || c == '>' || c == '/')
        .then_some(LogoFormat::Svg)
}

#[derive(Serialize, Deserialize)]
struct LogoRecord {
    format: LogoFormat,
    base64: String,
}

impl TryFrom<LogoRecord> for Logo {
    type Error = ConfigError;
    fn try_from(r: LogoRecord) -> Result<Self, ConfigError> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(r.base64.as_bytes())
            .map_err(|_| ConfigError::LogoFormat)?;
        let logo = Logo::new(bytes)?;
        if logo.format != r.format {
            return Err(ConfigError::LogoFormat);
        }
        Ok(logo)
    }
}

impl From<Logo> for LogoRecord {
    fn from(l: Logo) -> Self {
        use base64::Engine as _;
        Self {
            format: l.format,
            base64: base64::engine::general_purpose::STANDARD.encode(&l.bytes),
        }
    }
}

/// Why a client could not authenticate against a [`JwtConfig`]
/// ([`JwtConfig::authenticate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientAuthError {
    /// Unknown client id or wrong secret; the two are not told apart.
    #[error("client authentication failed")]
    InvalidClient,
    /// The secret is right and the configuration is disabled.
    #[error("this JWT configuration is disabled")]
    Disabled,
}

/// The secrets of a new or regenerated configuration, in clear.
///
/// Show them to the admin once, then drop this value: only their digests are
/// kept. `Debug` redacts them.
#[derive(Debug)]
pub struct IssuedSecrets {
    /// The primary secret.
    pub primary: ClientSecret,
    /// The secondary secret.
    pub secondary: ClientSecret,
}

/// One JWT configuration of a project.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "JwtConfigRecord", into = "JwtConfigRecord")]
pub struct JwtConfig {
    client_id: ClientId,
    name: String,
    login_url: Url,
    domain: String,
    logout_url: Option<Url>,
    primary_secret: SecretDigest,
    secondary_secret: SecretDigest,
    enabled: bool,
    show_login_button: bool,
    login_button_text: Option<String>,
    login_button_logo: Option<Logo>,
    cta_position: u32,
    require_login_binding: bool,
    read_only: bool,
}

impl fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtConfig")
            .field("client_id", &self.client_id)
            .field("name", &self.name)
            .field("login_url", &self.login_url.as_str())
            .field("domain", &self.domain)
            .field("logout_url", &self.logout_url.as_ref().map(Url::as_str))
            .field("enabled", &self.enabled)
            .field("show_login_button", &self.show_login_button)
            .field("login_button_text", &self.login_button_text)
            .field("login_button_logo", &self.login_button_logo)
            .field("cta_position", &self.cta_position)
            .field("require_login_binding", &self.require_login_binding)
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

impl JwtConfig {
    /// Starts a configuration with its name and login URL.
    ///
    /// ```
    /// let (config, secrets) = kb_sso::JwtConfig::builder("Customer Portal SSO", "https://app.example.com/kb-login")
    ///     .build()?;
    /// assert_eq!(config.domain(), "app.example.com");
    /// assert!(config.accepts_secret(secrets.primary.expose().as_bytes()));
    /// # Ok::<(), kb_sso::ConfigError>(())
    /// ```
    pub fn builder(name: impl Into<String>, login_url: impl Into<String>) -> JwtConfigBuilder {
        JwtConfigBuilder {
            name: name.into(),
            login_url: login_url.into(),
            logout_url: None,
            enabled: true,
            client_id: None,
            show_login_button: false,
            login_button_text: None,
            login_button_logo: None,
            cta_position: 0,
            require_login_binding: false,
            read_only: false,
        }
    }

    /// The client id.
    pub fn client_id(&self) -> &ClientId {
        &self.client_id
    }

    /// The name shown to admins (and to readers on a login button).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where readers are sent to log in to the customer app.
    pub fn login_url(&self) -> &Url {
        &self.login_url
    }

    /// The domain derived from the login URL: its host, lower-case, IDNA
    /// ASCII, without port.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Where readers go after logging out, if set.
    pub fn logout_url(&self) -> Option<&Url> {
        self.logout_url.as_ref()
    }

    /// Whether this configuration may be used to sign in.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Enables or disables the configuration.
    pub fn set_enabled(&mut self, enabled: bool) {
        self.enabled = enabled;
    }

    /// Whether a login button for this configuration is shown on the login
    /// page (default off).
    pub fn shows_login_button(&self) -> bool {
        self.show_login_button
    }

    /// The login button's text.
    pub fn login_button_text(&self) -> Option<&str> {
        self.login_button_text.as_deref()
    }

    /// The login button's logo.
    pub fn login_button_logo(&self) -> Option<&Logo> {
        self.login_button_logo.as_ref()
    }

    /// The button's place on the login page: lower comes first.
    pub fn cta_position(&self) -> u32 {
        self.cta_position
    }

    /// Whether codes must be bound to the reader's browser (login binding:
    /// the code request carries the `codeChallenge` the KB sent).
    pub fn requires_login_binding(&self) -> bool {
        self.require_login_binding
    }

    /// Whether the configuration is read-only: set up before the current
    /// model, it keeps working and can be enabled, disabled or deleted, but
    /// updates and secret regeneration are refused
    /// ([`ConfigError::ReadOnly`]).
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// A builder holding this configuration's editable fields, for an
    /// update: change what is needed, then
    /// [`JwtConfigBuilder::build_update`].
    pub fn to_builder(&self) -> JwtConfigBuilder {
        JwtConfigBuilder {
            name: self.name.clone(),
            login_url: self.login_url.to_string(),
            logout_url: self.logout_url.as_ref().map(|u| u.to_string()),
            enabled: self.enabled,
            client_id: Some(self.client_id.clone()),
            show_login_button: self.show_login_button,
            login_button_text: self.login_button_text.clone(),
            login_button_logo: self.login_button_logo.clone(),
            cta_position: self.cta_position,
            require_login_binding: self.require_login_binding,
            read_only: self.read_only,
        }
    }

    /// Whether `candidate` is the primary or the secondary secret.
    ///
    /// Both digests are always compared, in constant time, so the answer
    /// takes the same time whichever matches.
    pub fn accepts_secret(&self, candidate: &[u8]) -> bool {
        either_matches(&self.primary_secret, &self.secondary_secret, candidate)
    }

    /// Authenticates a client: checks `secret` against `config`, the
    /// configuration found for the client id the client sent (`None` when
    /// there is none), then that the configuration is enabled.
    ///
    /// An unknown client id costs the same work as a wrong secret, by
    /// construction: one digest of the presented secret and two
    /// constant-time comparisons (primary and secondary, against a decoy
    /// when there is no configuration). Only which stored digests are
    /// compared depends on whether the client exists.
    ///
    /// # Errors
    /// [`ClientAuthError::InvalidClient`] for an unknown client or a wrong
    /// secret; [`ClientAuthError::Disabled`] for a disabled configuration
    /// (checked after the secret, so it tells only a genuine client).
    pub fn authenticate<'c>(config: Option<&'c JwtConfig>, secret: &[u8]) -> Result<&'c JwtConfig, ClientAuthError> {
        let decoy = SecretDigest::decoy();
        let [primary, secondary] = config.map_or([&decoy, &decoy], |c| [&c.primary_secret, &c.secondary_secret]);
        let matched = either_matches(primary, secondary, secret);
        match config {
            Some(c) if matched => {
                if c.is_enabled() {
                    Ok(c)
                } else {
                    Err(ClientAuthError::Disabled)
                }
            }
            _ => Err(ClientAuthError::InvalidClient),
        }
    }

    /// Replaces the primary secret with a new one and returns it, in clear,
    /// for the admin. The old primary secret stops working at once; the
    /// secondary keeps working.
    pub fn regenerate_primary_secret(&mut self) -> ClientSecret {
        let s = ClientSecret::generate();
        self.primary_secret = s.digest();
        s
    }

    /// Replaces the secondary secret; see
    /// [`regenerate_primary_secret`](Self::regenerate_primary_secret).
    pub fn regenerate_secondary_secret(&mut self) -> ClientSecret {
        let s = ClientSecret::generate();
        self.secondary_secret = s.digest();
        s
    }
}

/// Builds a [`JwtConfig`]; see [`JwtConfig::builder`].
#[derive(Debug, Clone)]
pub struct JwtConfigBuilder {
    name: String,
    login_url: String,
    logout_url: Option<String>,
    enabled: bool,
    client_id: Option<ClientId>,
    show_login_button: bool,
    login_button_text: Option<String>,
    login_button_logo: Option<Logo>,
    cta_position: u32,
    require_login_binding: bool,
    read_only: bool,
}

impl JwtConfigBuilder {
    /// Marks the configuration read-only (default off): for configurations
    /// set up before the current model, kept working but not editable.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Requires login binding for this configuration's codes (default off).
    pub fn require_login_binding(mut self, required: bool) -> Self {
        self.require_login_binding = required;
        self
    }

    /// Sets the name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the login URL.
    pub fn login_url(mut self, url: impl Into<String>) -> Self {
        self.login_url = url.into();
        self
    }

    /// Removes the logout URL.
    pub fn no_logout_url(mut self) -> Self {
        self.logout_url = None;
        self
    }

    /// Shows or hides the login button (default hidden). A shown button
    /// needs [`login_button_text`](Self::login_button_text).
    pub fn show_login_button(mut self, show: bool) -> Self {
        self.show_login_button = show;
        self
    }

    /// Sets the login button's text.
    pub fn login_button_text(mut self, text: impl Into<String>) -> Self {
        self.login_button_text = Some(text.into());
        self
    }

    /// Sets (or, with `None`, removes) the login button's logo.
    pub fn login_button_logo(mut self, logo: Option<Logo>) -> Self {
        self.login_button_logo = logo;
        self
    }

    /// Sets the button's place on the login page (lower comes first).
    pub fn cta_position(mut self, position: u32) -> Self {
        self.cta_position = position;
        self
    }

    /// Sets the logout URL.
    pub fn logout_url(mut self, url: impl Into<String>) -> Self {
        self.logout_url = Some(url.into());
        self
    }

    /// Sets whether the configuration is enabled (default: enabled).
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Uses an existing client id instead of generating one (for loading a
    /// configuration that already exists elsewhere).
    pub fn client_id(mut self, id: ClientId) -> Self {
        self.client_id = Some(id);
        self
    }

    /// Checks every field and builds the configuration with two new
    /// secrets, returned in clear this once.
    ///
    /// # Errors
    /// [`ConfigError`] names the first field that is not valid.
    pub fn build(self) -> Result<(JwtConfig, IssuedSecrets), ConfigError> {
        let issued = IssuedSecrets {
            primary: ClientSecret::generate(),
            secondary: ClientSecret::generate(),
        };
        let config = self.build_with_digests(issued.primary.digest(), issued.secondary.digest())?;
        Ok((config, issued))
    }

    /// Checks every field and builds the configuration with existing
    /// secrets (for example, ones loaded from a project file). Only their
    /// digests are kept.
    ///
    /// # Errors
    /// [`ConfigError`] names the first field that is not valid.
    pub fn build_with_secrets(
        self,
        primary: &ClientSecret,
        secondary: &ClientSecret,
    ) -> Result<JwtConfig, ConfigError> {
        self.build_with_digests(primary.digest(), secondary.digest())
    }

    /// Builds the updated form of `current` (same client id and secrets).
    ///
    /// # Errors
    /// [`ConfigError`] names the first field that is not valid.
    pub fn build_update(mut self, current: &JwtConfig) -> Result<JwtConfig, ConfigError> {
        self.client_id = Some(current.client_id.clone());
        self.read_only = current.read_only;
        self.build_with_digests(current.primary_secret, current.secondary_secret)
    }

    fn build_with_digests(
        self,
        primary_secret: SecretDigest,
        secondary_secret: SecretDigest,
    ) -> Result<JwtConfig, ConfigError> {
        let name = check_name(&self.name)?;
        let login_url = check_url(&self.login_url).map_err(ConfigError::InvalidLoginUrl)?;
        let domain = domain_of(&login_url)?;
        let logout_url = match self.logout_url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(u) => Some(check_url(u).map_err(ConfigError::InvalidLogoutUrl)?),
        };
        let login_button_text = match self.login_button_text.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(t) if t.chars().count() > MAX_NAME_CHARS || t.chars().any(char::is_control) => {
                return Err(ConfigError::InvalidButtonText);
            }
            Some(t) => Some(t.to_owned()),
        };
        if self.show_login_button && login_button_text.is_none() {
            return Err(ConfigError::MissingButtonText);
        }
        Ok(JwtConfig {
            client_id: self.client_id.unwrap_or_else(ClientId::generate),
            name,
            login_url,
            domain,
            logout_url,
            primary_secret,
            secondary_secret,
            enabled: self.enabled,
            show_login_button: self.show_login_button,
            login_button_text,
            login_button_logo: self.login_button_logo,
            cta_position: self.cta_position,
            require_login_binding: self.require_login_binding,
            read_only: self.read_only,
        })
    }
}

fn check_name(name: &str) -> Result<String, ConfigError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(ConfigError::InvalidName);
    }
    Ok(name.to_owned())
}

pub(crate) fn check_url(text: &str) -> Result<Url, &'static str> {
    let text = text.trim();
    if text.is_empty() {
        return Err("it is empty");
    }
    if text.len() > MAX_URL_LEN {
        return Err("it is too long");
    }
    let url = Url::parse(text).map_err(|_| "it does not parse as an absolute URL")?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("the scheme is not http or https");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("it has no host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("it carries credentials");
    }
    if url.fragment().is_some() {
        return Err("it has a fragment");
    }
    Ok(url)
}

/// The routing domain of a login URL: its host as the URL parser normalises
/// it (lower-case, IDNA ASCII), without port or trailing dot.
fn domain_of(url: &Url) -> Result<String, ConfigError> {
    let host = url.host_str().ok_or(ConfigError::InvalidLoginUrl("it has no host"))?;
    if host.contains('*') {
        return Err(ConfigError::WildcardDomain);
    }
    Ok(host.trim_end_matches('.').to_ascii_lowercase())
}

/// The stored form of a [`JwtConfig`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JwtConfigRecord {
    client_id: ClientId,
    name: String,
    login_url: String,
    #[serde(default)]
    logout_url: Option<String>,
    primary_secret_digest: SecretDigest,
    secondary_secret_digest: SecretDigest,
    enabled: bool,
    #[serde(default)]
    show_login_button: bool,
    #[serde(default)]
    login_button_text: Option<String>,
    #[serde(default)]
    login_button_logo: Option<Logo>,
    #[serde(default)]
    cta_position: u32,
    #[serde(default)]
    require_login_binding: bool,
    #[serde(default)]
    read_only: bool,
}

impl TryFrom<JwtConfigRecord> for JwtConfig {
    type Error = ConfigError;
    fn try_from(r: JwtConfigRecord) -> Result<Self, ConfigError> {
        let mut b = JwtConfig::builder(r.name, r.login_url)
            .client_id(r.client_id)
            .enabled(r.enabled)
            .show_login_button(r.show_login_button)
            .login_button_logo(r.login_button_logo)
            .cta_position(r.cta_position)
            .require_login_binding(r.require_login_binding)
            .read_only(r.read_only);
        b.logout_url = r.logout_url;
        b.login_button_text = r.login_button_text;
        b.build_with_digests(r.primary_secret_digest, r.secondary_secret_digest)
    }
}

impl From<JwtConfig> for JwtConfigRecord {
    fn from(c: JwtConfig) -> Self {
        Self {
            client_id: c.client_id,
            name: c.name,
            login_url: c.login_url.into(),
            logout_url: c.logout_url.map(Into::into),
            primary_secret_digest: c.primary_secret,
            secondary_secret_digest: c.secondary_secret,
            enabled: c.enabled,
            show_login_button: c.show_login_button,
            login_button_text: c.login_button_text,
            login_button_logo: c.login_button_logo,
            cta_position: c.cta_position,
            require_login_binding: c.require_login_binding,
            read_only: c.read_only,
        }
    }
}

/// Whether `secret` is the one behind `primary` or `secondary`: one digest
/// of the presented secret, then both stored digests compared in constant
/// time (`|`, never `||`), whichever matches.
fn either_matches(primary: &SecretDigest, secondary: &SecretDigest, secret: &[u8]) -> bool {
    let presented = presented_digest(secret);
    stored_digest_matches(primary, &presented) | stored_digest_matches(secondary, &presented)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn build(login: &str) -> Result<JwtConfig, ConfigError> {
        JwtConfig::builder("Portal", login).build().map(|(c, _)| c)
    }

    #[test]
    fn domain_is_derived_from_the_login_url() {
        assert_eq!(
            build("https://App.Example.COM:8443/login").unwrap().domain(),
            "app.example.com"
        );
        assert_eq!(
            build("https://bücher.example/login").unwrap().domain(),
            "xn--bcher-kva.example"
        );
        assert_eq!(build("http://127.0.0.1:3000/login").unwrap().domain(), "127.0.0.1");
        assert_eq!(build("https://example.com./x").unwrap().domain(), "example.com");
    }

    #[test]
    fn bad_login_urls_are_refused() {
        for bad in [
            "",
            "/relative",
            "ftp://example.com/",
            "javascript:alert(1)",
            "https://user:pw@example.com/",
            "https://example.com/#frag",
            "mailto:a@example.com",
        ] {
            assert!(matches!(build(bad), Err(ConfigError::InvalidLoginUrl(_))), "{bad:?}");
        }
        assert_eq!(
            build("https://*.example.com/").unwrap_err(),
            ConfigError::WildcardDomain
        );
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(build(&long).is_err());
    }

    #[test]
    fn names_are_checked() {
        for bad in ["", "   ", "a\u{0}b", &"n".repeat(MAX_NAME_CHARS + 1)] {
            let r = JwtConfig::builder(bad, "https://example.com/").build();
            assert_eq!(r.unwrap_err(), ConfigError::InvalidName);
        }
        let (c, _) = JwtConfig::builder("  Portal  ", "https://example.com/")
            .build()
            .unwrap();
        assert_eq!(c.name(), "Portal");
    }

    #[test]
    fn both_secrets_work_and_regenerating_one_leaves_the_other() {
        let (mut c, s) = JwtConfig::builder("P", "https://example.com/").build().unwrap();
        assert!(c.accepts_secret(s.primary.expose().as_bytes()));
        assert!(c.accepts_secret(s.secondary.expose().as_bytes()));
        assert!(!c.accepts_secret(b""));
        let new_primary = c.regenerate_primary_secret();
        assert!(
            !c.accepts_secret(s.primary.expose().as_bytes()),
            "old primary dies at once"
        );
        assert!(
            c.accepts_secret(s.secondary.expose().as_bytes()),
            "secondary keeps working"
        );
        assert!(c.accepts_secret(new_primary.expose().as_bytes()));
        let new_secondary = c.regenerate_secondary_secret();
        assert!(!c.accepts_secret(s.secondary.expose().as_bytes()));
        assert!(c.accepts_secret(new_secondary.expose().as_bytes()));
        assert!(c.accepts_secret(new_primary.expose().as_bytes()));
    }

    #[test]
    fn stored_form_keeps_digests_only_and_round_trips() {
        let (c, s) = JwtConfig::builder("P", "https://example.com/login")
            .logout_url("https://example.com/bye")
            .build()
            .unwrap();
        let json = serde_json::to_string(&c).unwrap();
        assert!(!json.contains(s.primary.expose()));
        assert!(!json.contains(s.secondary.expose()));
        let back: JwtConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back.client_id(), c.client_id());
        assert_eq!(back.logout_url().map(Url::as_str), Some("https://example.com/bye"));
        assert!(back.accepts_secret(s.primary.expose().as_bytes()));
        let debug = format!("{c:?}");
        assert!(!debug.contains(s.primary.expose()));
    }

    #[test]
    fn a_primary_secret_match_still_compares_the_secondary_digest() {
        let (config, secrets) = JwtConfig::builder("Portal", "https://app.example.com/login")
            .build()
            .unwrap();
        crate::secret::auth_work::take();
        assert!(JwtConfig::authenticate(Some(&config), secrets.primary.expose().as_bytes()).is_ok());
        assert_eq!(crate::secret::auth_work::take(), (1, 2), "both stored digests compared");
    }

    #[test]
    fn an_unknown_client_costs_the_same_digest_and_comparison_work_as_a_wrong_secret() {
        let (config, secrets) = JwtConfig::builder("Portal", "https://app.example.com/login")
            .build()
            .unwrap();
        crate::secret::auth_work::take();
        assert!(matches!(
            JwtConfig::authenticate(Some(&config), b"wrong secret"),
            Err(ClientAuthError::InvalidClient)
        ));
        let wrong_secret = crate::secret::auth_work::take();
        assert!(matches!(
            JwtConfig::authenticate(None, b"wrong secret"),
            Err(ClientAuthError::InvalidClient)
        ));
        let unknown_client = crate::secret::auth_work::take();
        assert!(JwtConfig::authenticate(Some(&config), secrets.secondary.expose().as_bytes()).is_ok());
        let right_secret = crate::secret::auth_work::take();
        assert_eq!(wrong_secret, (1, 2), "one digest, both stored digests compared");
        assert_eq!(unknown_client, wrong_secret);
        assert_eq!(right_secret, wrong_secret);
    }

    #[test]
    fn a_disabled_configuration_is_told_only_to_a_client_with_its_secret() {
        let (config, secrets) = JwtConfig::builder("Portal", "https://app.example.com/login")
            .enabled(false)
            .build()
            .unwrap();
        assert_eq!(
            JwtConfig::authenticate(Some(&config), b"wrong").unwrap_err(),
            ClientAuthError::InvalidClient
        );
        assert_eq!(
            JwtConfig::authenticate(Some(&config), secrets.primary.expose().as_bytes()).unwrap_err(),
            ClientAuthError::Disabled
        );
    }

    #[test]
    fn logos_are_recognised_by_content_and_limited_to_512_kb() {
        let png = b"\x89PNG\r\n\x1a\n rest".to_vec();
        assert_eq!(Logo::new(png).unwrap().format(), LogoFormat::Png);
        assert_eq!(
            Logo::new(vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 0]).unwrap().format(),
            LogoFormat::Jpg
        );
        let svg = br#"<?xml version="1.0"?><!-- logo --><svg xmlns="http://www.w3.org/2000/svg"></svg>"#;
        assert_eq!(Logo::new(svg.to_vec()).unwrap().format(), LogoFormat::Svg);
        for bad in [&b"GIF89a"[..], b"<svgx>", b"<html><svg></svg></html>", b"", b"\x89PNG"] {
            assert_eq!(Logo::new(bad.to_vec()).unwrap_err(), ConfigError::LogoFormat, "{bad:?}");
        }
        let mut big = vec![0xFF, 0xD8, 0xFF];
        big.resize(MAX_LOGO_BYTES, 0);
        assert!(Logo::new(big.clone()).is_ok(), "exactly 512 KB is allowed");
        big.push(0);
        assert_eq!(Logo::new(big).unwrap_err(), ConfigError::LogoTooLarge);
        let logo = Logo::new(svg.to_vec()).unwrap();
        assert!(logo.data_url().starts_with("data:image/svg+xml;base64,"));
        let json = serde_json::to_string(&logo).unwrap();
        assert_eq!(serde_json::from_str::<Logo>(&json).unwrap(), logo);
    }
}
