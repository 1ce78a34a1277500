//! JWT configurations: who may ask for codes, and where readers log in.
//!
//! A [`JwtConfig`] is one customer app connected to the KB. It holds the
//! digests of two client secrets (primary and secondary, either accepted, so
//! that one can be rotated while the other keeps working), the app's login
//! URL, the domain derived from it, an optional logout URL, and whether it
//! is enabled.

use std::fmt;
use std::future::Future;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::secret::{ClientId, ClientSecret, SecretDigest};

/// The longest configuration name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// The longest login or logout URL, in bytes.
pub const MAX_URL_LEN: usize = 2048;

/// Why a configuration value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The name is empty, too long, or has control characters.
    #[error(
        "the configuration name must be 1 to {MAX_NAME_CHARS} characters without control characters"
    )]
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

    /// Whether `candidate` is the primary or the secondary secret.
    ///
    /// Both digests are always compared, in constant time, so the answer
    /// takes the same time whichever matches.
    pub fn accepts_secret(&self, candidate: &[u8]) -> bool {
        let d = SecretDigest::of(candidate);
        let primary = self.primary_secret.ct_matches(&d);
        let secondary = self.secondary_secret.ct_matches(&d);
        primary | secondary
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
#[derive(Debug)]
pub struct JwtConfigBuilder {
    name: String,
    login_url: String,
    logout_url: Option<String>,
    enabled: bool,
    client_id: Option<ClientId>,
}

impl JwtConfigBuilder {
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
        Ok(JwtConfig {
            client_id: self.client_id.unwrap_or_else(ClientId::generate),
            name,
            login_url,
            domain,
            logout_url,
            primary_secret,
            secondary_secret,
            enabled: self.enabled,
        })
    }
}

fn check_name(name: &str) -> Result<String, ConfigError> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(ConfigError::InvalidName);
    }
    Ok(name.to_owned())
}

fn check_url(text: &str) -> Result<Url, &'static str> {
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
    let host = url
        .host_str()
        .ok_or(ConfigError::InvalidLoginUrl("it has no host"))?;
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
}

impl TryFrom<JwtConfigRecord> for JwtConfig {
    type Error = ConfigError;
    fn try_from(r: JwtConfigRecord) -> Result<Self, ConfigError> {
        let mut b = JwtConfig::builder(r.name, r.login_url)
            .client_id(r.client_id)
            .enabled(r.enabled);
        b.logout_url = r.logout_url;
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
        }
    }
}

/// Where a project's JWT configurations live.
///
/// The crate reads configurations through this trait on every code request,
/// so lookups by client id should be cheap. Implementations must return the
/// configuration as last saved: a disabled configuration or a regenerated
/// secret takes effect for the next request.
pub trait ConfigStore: Send + Sync {
    /// The store's own failure.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The configuration with this client id, if any.
    fn get(
        &self,
        client_id: &ClientId,
    ) -> impl Future<Output = Result<Option<JwtConfig>, Self::Error>> + Send;

    /// Every configuration of the project.
    fn list(&self) -> impl Future<Output = Result<Vec<JwtConfig>, Self::Error>> + Send;

    /// Saves a configuration, replacing the one with the same client id.
    fn put(&self, config: JwtConfig) -> impl Future<Output = Result<(), Self::Error>> + Send;
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
            build("https://App.Example.COM:8443/login")
                .unwrap()
                .domain(),
            "app.example.com"
        );
        assert_eq!(
            build("https://bücher.example/login").unwrap().domain(),
            "xn--bcher-kva.example"
        );
        assert_eq!(
            build("http://127.0.0.1:3000/login").unwrap().domain(),
            "127.0.0.1"
        );
        assert_eq!(
            build("https://example.com./x").unwrap().domain(),
            "example.com"
        );
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
            assert!(
                matches!(build(bad), Err(ConfigError::InvalidLoginUrl(_))),
                "{bad:?}"
            );
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
        let (mut c, s) = JwtConfig::builder("P", "https://example.com/")
            .build()
            .unwrap();
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
        assert_eq!(
            back.logout_url().map(Url::as_str),
            Some("https://example.com/bye")
        );
        assert!(back.accepts_secret(s.primary.expose().as_bytes()));
        let debug = format!("{c:?}");
        assert!(!debug.contains(s.primary.expose()));
    }
}
