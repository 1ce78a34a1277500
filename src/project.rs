//! A project's sign-in setup and every admin operation on it.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::audit::{Administrator, AuditAction, AuditEvent, AuditValue, FieldChange, Notification, notifications_for};
use crate::config::{
    ConfigError, IssuedSecrets, JwtConfig, JwtConfigBuilder, MAX_JWT_CONFIGS, MAX_LOGIN_BUTTONS, MAX_NAME_CHARS,
};
use crate::handshake::{
    HandshakeAlg, HandshakeKey, HandshakeOptions, HandshakeSettings, HandshakeVerifier, SessionMode,
    generate_ed25519_key_pair,
};
use crate::secret::{ClientId, ClientSecret};
use crate::widget::WidgetProject;

/// Project-wide sign-in toggles and who may read what (DESIGN 3.21).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectSettings {
    /// Send readers straight to JWT sign-in without a selection screen
    /// (default on).
    #[serde(default = "yes")]
    pub direct_jwt_login: bool,
    /// Hide the email/password form (default off).
    #[serde(default)]
    pub disable_default_login_page: bool,
    /// Which pages need a signed-in reader (default: every page).
    #[serde(default)]
    pub visibility: Visibility,
    /// With [`Visibility::Mixed`], the path prefixes open to everyone, each
    /// matched on segment boundaries (`/docs/public` opens
    /// `/docs/public` and `/docs/public/a`, not `/docs/publicity`).
    #[serde(default)]
    pub public_paths: Vec<String>,
    /// Whether the KB's home page is published (default on). When it is
    /// not, `/docs` is the default landing page.
    #[serde(default = "yes")]
    pub home_published: bool,
}

/// Who may read a knowledge base's pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Every page needs a signed-in reader.
    #[default]
    Private,
    /// Every page is open to everyone.
    Public,
    /// The pages under [`ProjectSettings::public_paths`] are open to
    /// everyone; the others need a signed-in reader.
    Mixed,
}

impl ProjectSettings {
    /// Whether the page at `path` (a URL path, without query) is open to
    /// readers without a session.
    #[must_use]
    pub fn is_public(&self, path: &str) -> bool {
        match self.visibility {
            Visibility::Private => false,
            Visibility::Public => true,
            Visibility::Mixed => self.public_paths.iter().any(|p| path_under(path, p)),
        }
    }

    /// The default landing page: `/` when the home page is published,
    /// else `/docs`.
    #[must_use]
    pub fn landing_path(&self) -> &'static str {
        if self.home_published { "/" } else { "/docs" }
    }
}

/// Whether `path` is `prefix` or under it on a segment boundary. A prefix
/// that does not start with `/` matches nothing; `/` matches everything.
fn path_under(path: &str, prefix: &str) -> bool {
    if !prefix.starts_with('/') {
        return false;
    }
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return true;
    }
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

fn yes() -> bool {
    true
}

impl Default for ProjectSettings {
    fn default() -> Self {
        Self {
            direct_jwt_login: true,
            disable_default_login_page: false,
            visibility: Visibility::Private,
            public_paths: Vec::new(),
            home_published: true,
        }
    }
}

/// The kind of an SSO provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SsoKind {
    /// SAML 2.0.
    Saml,
    /// OpenID Connect.
    Openid,
}

/// A SAML or OpenID provider shown on the login page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsoProvider {
    /// The name on its button.
    pub name: String,
    /// SAML or OpenID.
    pub kind: SsoKind,
    /// Whether readers can use it.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Its place on the login page: lower comes first.
    #[serde(default)]
    pub cta_position: u32,
}

/// What a successful admin operation returns.
#[must_use = "the audit event must be appended and the notifications sent (see `Admin`)"]
#[derive(Debug)]
pub struct Change<T> {
    /// The operation's result (for example, a new secret to show once).
    pub value: T,
    /// The audit event it caused.
    pub event: AuditEvent,
    /// The notifications due.
    pub notifications: Vec<Notification>,
}

/// A project's sign-in setup and every admin operation on it.
///
/// A [`Project`] holds the [`ProjectSettings`] toggles, up to five
/// [`JwtConfig`]s and any number of [`SsoProvider`]s, and keeps the
/// project-level rules true at all times:
///
/// - at most [`MAX_JWT_CONFIGS`] JWT configurations;
/// - each configuration's domain (derived from its login URL) unique in the
///   project, case-insensitively; no wildcard domains;
/// - at most [`MAX_LOGIN_BUTTONS`] configurations with the login button on
///   (turning on a fourth is refused);
/// - login button text present whenever the button is on.
///
/// Every admin operation either succeeds and returns a [`Change`] (the
/// [`AuditEvent`] it caused and the [`Notification`]s due), or is refused
/// with a [`ConfigError`] and changes nothing.
///
/// A project's settings, JWT configurations and SSO providers.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(try_from = "ProjectRecord", into = "ProjectRecord")]
pub struct Project {
    settings: ProjectSettings,
    jwt: Vec<JwtConfig>,
    sso: Vec<SsoProvider>,
    handshakes: Vec<HandshakeEntry>,
    widget: Option<WidgetProject>,
}

/// A configuration's handshake settings, by client id.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HandshakeEntry {
    client_id: ClientId,
    settings: HandshakeSettings,
}

impl fmt::Debug for Project {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Project")
            .field("settings", &self.settings)
            .field("jwt", &self.jwt)
            .field("sso", &self.sso)
            .field("handshakes", &self.handshakes)
            .field("widget", &self.widget)
            .finish()
    }
}

/// A new configuration's secrets and, when it takes Ed25519 handshake
/// tokens, its key pair: each shown to the admin once.
#[derive(Debug)]
pub struct Created {
    /// The new configuration's client id.
    pub client_id: ClientId,
    /// Its two secrets, in clear.
    pub secrets: IssuedSecrets,
    /// Its handshake key pair, when it takes Ed25519 handshake tokens.
    pub key_pair: Option<HandshakeKeyPair>,
}

/// A new Ed25519 handshake key pair: the private key (PKCS#8 PEM, shown to
/// the admin once, zeroized on drop; `Debug` redacts it) and the public
/// key (SPKI PEM, kept by the KB).
pub struct HandshakeKeyPair {
    /// The private key, for the customer app's backend.
    pub private_key_pem: zeroize::Zeroizing<String>,
    /// The public key the KB verifies with.
    pub public_key_pem: String,
}

impl fmt::Debug for HandshakeKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandshakeKeyPair")
            .field("private_key_pem", &format_args!("[redacted]"))
            .field("public_key_pem", &self.public_key_pem)
            .finish()
    }
}

/// What setting a configuration's handshake options issued: new secrets
/// when it switched to HS256 (the KB keeps only digests, and HMAC needs
/// the secrets in clear), a key pair when it switched to Ed25519.
#[derive(Debug, Default)]
pub struct HandshakeKeys {
    /// New primary and secondary secrets, shown once.
    pub secrets: Option<IssuedSecrets>,
    /// A new Ed25519 key pair, the private key shown once.
    pub key_pair: Option<HandshakeKeyPair>,
}

impl Project {
    /// A project from its parts, checked against every rule.
    ///
    /// # Errors
    /// The first [`ConfigError`] found.
    pub fn new(settings: ProjectSettings, jwt: Vec<JwtConfig>, sso: Vec<SsoProvider>) -> Result<Self, ConfigError> {
        check_rules(&jwt)?;
        for p in &sso {
            check_provider(p)?;
        }
        Ok(Self {
            settings,
            jwt,
            sso,
            handshakes: Vec::new(),
            widget: None,
        })
    }

    /// The project with `settings` taking the handshake tokens of the
    /// configuration `client_id` (for example from a project file; an
    /// admin uses [`set_handshake`](Self::set_handshake)).
    ///
    /// # Errors
    /// [`ConfigError::UnknownConfig`], or [`ConfigError::InvalidHandshake`]
    /// when the settings clash with another configuration's (a key id).
    pub fn with_handshake(mut self, client_id: &ClientId, settings: HandshakeSettings) -> Result<Self, ConfigError> {
        self.index(client_id)?;
        self.put_handshake(client_id, Some(settings))?;
        Ok(self)
    }

    /// The project with these widget settings.
    #[must_use]
    pub fn with_widget(mut self, widget: WidgetProject) -> Self {
        self.widget = Some(widget);
        self
    }

    /// The widget settings, if the project's widgets take JWT.
    pub fn widget(&self) -> Option<&WidgetProject> {
        self.widget.as_ref()
    }

    /// The handshake settings of the configuration `client_id`, if it takes
    /// handshake tokens.
    pub fn handshake(&self, client_id: &ClientId) -> Option<&HandshakeSettings> {
        self.handshakes
            .iter()
            .find(|h| &h.client_id == client_id)
            .map(|h| &h.settings)
    }

    /// Whether any configuration takes handshake tokens.
    pub fn takes_handshakes(&self) -> bool {
        !self.handshakes.is_empty()
    }

    /// A verifier for every configuration that takes handshake tokens, each
    /// enabled exactly when its configuration is. Built per revision by the
    /// KB site; the replay cache is kept apart, so it survives.
    ///
    /// # Errors
    /// [`ConfigError::InvalidHandshake`], which a project's own rules
    /// prevent.
    pub fn handshake_verifier(&self) -> Result<HandshakeVerifier, ConfigError> {
        verifier_for(&self.jwt, &self.handshakes)
    }

    /// The toggles (a copy; [`is_public`](Self::is_public) and
    /// [`landing_path`](Self::landing_path) read them in place).
    pub fn settings(&self) -> ProjectSettings {
        self.settings.clone()
    }

    /// Whether the page at `path` is open to readers without a session
    /// ([`ProjectSettings::is_public`]).
    pub fn is_public(&self, path: &str) -> bool {
        self.settings.is_public(path)
    }

    /// The default landing page ([`ProjectSettings::landing_path`]).
    pub fn landing_path(&self) -> &'static str {
        self.settings.landing_path()
    }

    /// Whether Direct JWT login is on.
    pub fn direct_jwt_login(&self) -> bool {
        self.settings.direct_jwt_login
    }

    /// Whether the default login page (email/password form) is off.
    pub fn default_login_page_disabled(&self) -> bool {
        self.settings.disable_default_login_page
    }

    /// The JWT configurations, in creation order.
    pub fn jwt_configs(&self) -> &[JwtConfig] {
        &self.jwt
    }

    /// The SSO providers.
    pub fn sso_providers(&self) -> &[SsoProvider] {
        &self.sso
    }

    /// The configuration with this client id.
    pub fn jwt_config(&self, client_id: &ClientId) -> Option<&JwtConfig> {
        self.jwt.iter().find(|c| c.client_id() == client_id)
    }

    /// Adds an SSO provider (managed apart from JWT; not audited here).
    ///
    /// # Errors
    /// [`ConfigError::InvalidProviderName`].
    pub fn add_sso_provider(&mut self, provider: SsoProvider) -> Result<(), ConfigError> {
        check_provider(&provider)?;
        self.sso.push(provider);
        Ok(())
    }

    /// Number of configurations with the login button on.
    pub fn login_buttons(&self) -> usize {
        count_buttons(&self.jwt)
    }

    /// Creates a JWT configuration; its two secrets are returned once.
    ///
    /// # Errors
    /// A field rule, or [`ConfigError::TooManyConfigs`],
    /// [`ConfigError::DuplicateDomain`], [`ConfigError::TooManyButtons`].
    pub fn create(
        &mut self,
        admin: &Administrator,
        now: OffsetDateTime,
        config: JwtConfigBuilder,
    ) -> Result<Change<(ClientId, IssuedSecrets)>, ConfigError> {
        let change = self.create_with_handshake(admin, now, config, None)?;
        Ok(change.map(|c| (c.client_id, c.secrets)))
    }

    /// Creates a JWT configuration that also takes handshake tokens as
    /// `handshake` says (none when `None`). Its secrets and, for Ed25519,
    /// its key pair are returned once.
    ///
    /// # Errors
    /// As [`create`](Self::create), or [`ConfigError::InvalidHandshake`].
    pub fn create_with_handshake(
        &mut self,
        admin: &Administrator,
        now: OffsetDateTime,
        config: JwtConfigBuilder,
        handshake: Option<&HandshakeOptions>,
    ) -> Result<Change<Created>, ConfigError> {
        let (config, secrets) = config.build()?;
        let id = config.client_id().clone();
        let mut draft = self.clone();
        draft.jwt.push(config.clone());
        let key_pair = match handshake {
            None => None,
            Some(options) => {
                let (key, pair) = match options.alg {
                    HandshakeAlg::Hs256 => (hs256_key(&secrets)?, None),
                    HandshakeAlg::Ed25519 => {
                        let (key, pair) = new_key_pair()?;
                        (key, Some(pair))
                    }
                };
                draft.put_handshake(&id, Some(options.settings(key).map_err(invalid_handshake)?))?;
                pair
            }
        };
        let event = event(AuditAction::Create, now, admin, &config);
        let created = Created {
            client_id: id,
            secrets,
            key_pair,
        };
        let next = std::mem::take(&mut draft.jwt);
        let change = draft.commit(next, created, event)?;
        *self = draft;
        Ok(change)
    }

    /// Applies `update` (made with [`JwtConfig::to_builder`]) to the
    /// configuration `client_id`. The event lists each changed field.
    ///
    /// # Errors
    /// [`ConfigError::UnknownConfig`], a field rule, or a project rule.
    pub fn update(
        &mut self,
        admin: &Administrator,
        now: OffsetDateTime,
        client_id: &ClientId,
        update: JwtConfigBuilder,
    ) -> Result<Change<()>, ConfigError> {
        let i = self.writable(client_id)?;
        let old = &self.jwt[i];
        let new = update.build_update(old)?;
        let changes = diff(old, &new);
        let mut next = self.jwt.clone();
        next[i] = new;
        let event = event(AuditAction::Update, now, admin, old).with_changes(changes);
        self.commit(next, (), event)
    }

    /// Deletes a configuration.
    ///
    /// # Errors
    /// [`ConfigError::UnknownConfig`].
    pub fn delete(
        &mut self,
        admin: &Administrator,
        now: OffsetDateTime,
        client_id: &ClientId,
    ) -> Result<Change<()>, ConfigError> {
        let i = self.index(client_id)?;
        let mut next = self.jwt.clone();
        let removed = next.remove(i);
        let event = event(AuditAction::Delete, now, admin, &removed);
        let change = self.commit(next, (), event)?;
        self.handshakes.retain(|h| &h.client_id != client_id);
        Ok(change)
    }

    /// Enables or disables a configuration.
    ///
    /// # Errors
    /// [`ConfigError::UnknownConfig`].
    pub fn set_enabled(
        &mut self,
        admin: &Administrator,
        now: OffsetDateTime,
        client_id: &ClientId,
        enabled: bool,
    ) -> Result<Change<()>, ConfigError> {
        self.edit(
            admin,
            now,
            client_id,
            if enabled {
                AuditAction::Enable
            } else {
                AuditAction::Disable
            },
            |c| {
                c.set_enabled(enabled);
            },
        )
    }

    /// Regenerates the primary secret: the old one stops working at once,
    /// the secondary keeps working. The new secret is returned once.
    ///
    /// # Errors
    /// [`ConfigError::UnknownConfig`].
    pub fn regenerate_primary_secret(
        &mut self,
        admin: &Administrator,
        now: OffsetDateTime,
        client_id: &ClientId,
    ) -> Result<Change<ClientSecret>, ConfigError> {
        self.writable(client_id)?;
        let change = self.edit(admin, now, client_id, AuditAction::RegeneratePrimaryToken, |c| {
            c.regenerate_primary_secret()
        })?;
        if let Some(h) = self.handshakes.iter_mut().find(|h| &h.client_id == client_id) {
            h.settings.key_mut().replace_hs256_primary(&change.value);
        }
        Ok(change)
    }

    /// Regenerates the secondary secret; see
    /// [`regenerate_primary_secret`](Self::regenerate_primary_secret).
    ///
    /// # Errors
    /// [`ConfigError::UnknownConfig`].
    pub fn regenerate_secondary_secret(
        &mut self,
        admin: &Administrator,
        now: OffsetDateTime,
        client_id: &ClientId,
    ) -> Result<Change<ClientSecret>, ConfigError> {
        self.writable(client_id)?;
        let change = self.edit(admin, now, client_id, AuditAction::RegenerateSecondaryToken, |c| {
            c.regenerate_secondary_secret()
        })?;
        if let Some(h) = self.handshakes.iter_mut().find(|h| &h.client_id == client_id) {
            h.settings.key_mut().replace_hs256_secondary(&change.value);
        }
        Ok(change)
    }

    /// Sets how the configuration `client_id` takes handshake tokens, or
    /// stops it taking them (`None`). Keeping the algorithm keeps the key;
    /// switching to Ed25519 generates a key pair, and switching to HS256
    /// regenerates both secrets (HMAC needs them in clear, and only their
    /// digests are kept): what is issued is returned once. The audit event
    /// is an update listing the changed handshake fields.
    ///
    /// # Errors
    /// [`ConfigError::UnknownConfig`], [`ConfigError::ReadOnly`],
    /// [`ConfigError::InvalidHandshake`].
    pub fn set_handshake(
        &mut self,
        admin: &Administrator,
        now: OffsetDateTime,
        client_id: &ClientId,
        options: Option<&HandshakeOptions>,
    ) -> Result<Change<HandshakeKeys>, ConfigError> {
        let i = self.writable(client_id)?;
        let old = self.handshake(client_id).map(HandshakeSettings::options);
        let mut draft = self.clone();
        let mut issued = HandshakeKeys::default();
        let settings = match options {
            None => None,
            Some(options) => {
                let current = self.handshake(client_id).filter(|h| h.options().alg == options.alg);
                let key = match (current, options.alg) {
                    (Some(h), _) => h.key().clone(),
                    (None, HandshakeAlg::Ed25519) => {
                        let (key, pair) = new_key_pair()?;
                        issued.key_pair = Some(pair);
                        key
                    }
                    (None, HandshakeAlg::Hs256) => {
                        let c = &mut draft.jwt[i];
                        let secrets = IssuedSecrets {
                            primary: c.regenerate_primary_secret(),
                            secondary: c.regenerate_secondary_secret(),
                        };
                        let key = hs256_key(&secrets)?;
                        issued.secrets = Some(secrets);
                        key
                    }
                };
                Some(options.settings(key).map_err(invalid_handshake)?)
            }
        };
        draft.put_handshake(client_id, settings)?;
        let changes = handshake_diff(old.as_ref(), options);
        let event = event(AuditAction::Update, now, admin, &self.jwt[i]).with_changes(changes);
        let next = std::mem::take(&mut draft.jwt);
        let change = draft.commit(next, issued, event)?;
        *self = draft;
        Ok(change)
    }

    /// Generates a new Ed25519 key pair for the configuration's handshake
    /// tokens (Documentation.AI "Regenerate"): tokens signed with the old
    /// private key fail at once. The configuration's other handshake
    /// options are kept (defaults when it took none). The private key is
    /// returned once.
    ///
    /// # Errors
    /// [`ConfigError::UnknownConfig`], [`ConfigError::ReadOnly`],
    /// [`ConfigError::InvalidHandshake`] if the system's random generator
    /// fails.
    pub fn generate_handshake_key(
        &mut self,
        admin: &Administrator,
        now: OffsetDateTime,
        client_id: &ClientId,
    ) -> Result<Change<HandshakeKeyPair>, ConfigError> {
        let i = self.writable(client_id)?;
        let options = match self.handshake(client_id).map(HandshakeSettings::options) {
            Some(o) => HandshakeOptions {
                alg: HandshakeAlg::Ed25519,
                ..o
            },
            None => HandshakeOptions::new(HandshakeAlg::Ed25519),
        };
        let (key, pair) = new_key_pair()?;
        let settings = options.settings(key).map_err(invalid_handshake)?;
        let mut draft = self.clone();
        draft.put_handshake(client_id, Some(settings))?;
        let event = event(AuditAction::GenerateHandshakeKey, now, admin, &self.jwt[i]);
        let next = std::mem::take(&mut draft.jwt);
        let change = draft.commit(next, pair, event)?;
        *self = draft;
        Ok(change)
    }

    /// Regenerates the widget client secret shared by every JWT-enabled
    /// widget: the old one stops working at once; the new one is returned
    /// once.
    ///
    /// # Errors
    /// [`ConfigError::NoWidget`].
    pub fn regenerate_widget_secret(
        &mut self,
        admin: &Administrator,
        now: OffsetDateTime,
    ) -> Result<Change<ClientSecret>, ConfigError> {
        let widget = self.widget.as_mut().ok_or(ConfigError::NoWidget)?;
        let secret = widget.regenerate_secret();
        Ok(project_change(AuditAction::RegenerateWidgetSecret, now, admin).map(|()| secret))
    }

    /// Adds an SSO provider, audited.
    ///
    /// # Errors
    /// [`ConfigError::InvalidProviderName`], [`ConfigError::DuplicateSsoProvider`].
    pub fn create_sso_provider(
        &mut self,
        admin: &Administrator,
        now: OffsetDateTime,
        provider: SsoProvider,
    ) -> Result<Change<()>, ConfigError> {
        check_provider(&provider)?;
        if self.sso_index(&provider.name).is_some() {
            return Err(ConfigError::DuplicateSsoProvider);
        }
        let name = provider.name.clone();
        self.sso.push(provider);
        Ok(sso_change(
            AuditAction::CreateSsoProvider,
            now,
            admin,
            &name,
            Vec::new(),
        ))
    }

    /// Replaces the SSO provider named `name`, audited with its changed
    /// fields.
    ///
    /// # Errors
    /// [`ConfigError::UnknownSsoProvider`], [`ConfigError::InvalidProviderName`],
    /// [`ConfigError::DuplicateSsoProvider`] when renamed to another's name.
    pub fn update_sso_provider(
        &mut self,
        admin: &Administrator,
        now: OffsetDateTime,
        name: &str,
        provider: SsoProvider,
    ) -> Result<Change<()>, ConfigError> {
        let i = self.sso_index(name).ok_or(ConfigError::UnknownSsoProvider)?;
        check_provider(&provider)?;
        if self.sso_index(&provider.name).is_some_and(|j| j != i) {
            return Err(ConfigError::DuplicateSsoProvider);
        }
        let old = std::mem::replace(&mut self.sso[i], provider);
        let changes = sso_diff(&old, &self.sso[i]);
        Ok(sso_change(
            AuditAction::UpdateSsoProvider,
            now,
            admin,
            &old.name,
            changes,
        ))
    }

    /// Removes the SSO provider named `name`, audited.
    ///
    /// # Errors
    /// [`ConfigError::UnknownSsoProvider`].
    pub fn delete_sso_provider(
        &mut self,
        admin: &Administrator,
        now: OffsetDateTime,
        name: &str,
    ) -> Result<Change<()>, ConfigError> {
        let i = self.sso_index(name).ok_or(ConfigError::UnknownSsoProvider)?;
        let removed = self.sso.remove(i);
        Ok(sso_change(
            AuditAction::DeleteSsoProvider,
            now,
            admin,
            &removed.name,
            Vec::new(),
        ))
    }

    /// Turns Direct JWT login on or off. The spec asks for a confirmation
    /// before this change is applied: `confirmed` must be `true`.
    ///
    /// # Errors
    /// [`ConfigError::ConfirmationRequired`] when not `confirmed`.
    pub fn set_direct_jwt_login(
        &mut self,
        admin: &Administrator,
        now: OffsetDateTime,
        on: bool,
        confirmed: bool,
    ) -> Result<Change<()>, ConfigError> {
        if !confirmed {
            return Err(ConfigError::ConfirmationRequired);
        }
        self.settings.direct_jwt_login = on;
        let action = if on {
            AuditAction::EnableDirectJwtLogin
        } else {
            AuditAction::DisableDirectJwtLogin
        };
        Ok(project_change(action, now, admin))
    }

    /// Sets who may read which pages: the visibility, the public path
    /// prefixes (for [`Visibility::Mixed`]) and whether the home page is
    /// published. The event lists each changed field.
    ///
    /// # Errors
    /// [`ConfigError::InvalidPublicPath`].
    pub fn set_visibility(
        &mut self,
        admin: &Administrator,
        now: OffsetDateTime,
        visibility: Visibility,
        public_paths: Vec<String>,
        home_published: bool,
    ) -> Result<Change<()>, ConfigError> {
        let valid = |p: &String| p.starts_with('/') && p.len() <= 2048 && !p.chars().any(char::is_control);
        if public_paths.len() > 50 || !public_paths.iter().all(valid) {
            return Err(ConfigError::InvalidPublicPath);
        }
        let name = |v: Visibility| {
            AuditValue::Text(
                match v {
                    Visibility::Private => "private",
                    Visibility::Public => "public",
                    Visibility::Mixed => "mixed",
                }
                .to_owned(),
            )
        };
        let paths = |p: &[String]| AuditValue::Text(p.join(" "));
        let old = &self.settings;
        let fields = [
            ("visibility", name(old.visibility), name(visibility)),
            ("public_paths", paths(&old.public_paths), paths(&public_paths)),
            (
                "home_published",
                AuditValue::Bool(old.home_published),
                AuditValue::Bool(home_published),
            ),
        ];
        let changes: Vec<FieldChange> = fields
            .into_iter()
            .filter(|(_, o, n)| o != n)
            .map(|(f, o, n)| FieldChange::new(f, o, n))
            .collect();
        self.settings.visibility = visibility;
        self.settings.public_paths = public_paths;
        self.settings.home_published = home_published;
        let event = AuditEvent::new(AuditAction::UpdateVisibility, now, admin, None).with_changes(changes);
        Ok(Change {
            value: (),
            notifications: notifications_for(&event, false),
            event,
        })
    }

    /// Turns "Disable default login page" on (hide email/password) or off.
    pub fn set_default_login_page_disabled(
        &mut self,
        admin: &Administrator,
        now: OffsetDateTime,
        on: bool,
    ) -> Change<()> {
        self.settings.disable_default_login_page = on;
        let action = if on {
            AuditAction::EnableDefaultLoginPageToggle
        } else {
            AuditAction::DisableDefaultLoginPageToggle
        };
        project_change(action, now, admin)
    }

    fn edit<T>(
        &mut self,
        admin: &Administrator,
        now: OffsetDateTime,
        client_id: &ClientId,
        action: AuditAction,
        f: impl FnOnce(&mut JwtConfig) -> T,
    ) -> Result<Change<T>, ConfigError> {
        let i = self.index(client_id)?;
        let mut next = self.jwt.clone();
        let value = f(&mut next[i]);
        let event = event(action, now, admin, &next[i]);
        self.commit(next, value, event)
    }

    /// The index of a configuration an admin may change.
    fn writable(&self, client_id: &ClientId) -> Result<usize, ConfigError> {
        let i = self.index(client_id)?;
        if self.jwt[i].is_read_only() {
            return Err(ConfigError::ReadOnly);
        }
        Ok(i)
    }

    fn sso_index(&self, name: &str) -> Option<usize> {
        let name = name.trim();
        self.sso.iter().position(|p| p.name.trim().eq_ignore_ascii_case(name))
    }

    /// Sets or removes a configuration's handshake settings, checking that
    /// the verifier still builds (key ids unique).
    fn put_handshake(&mut self, client_id: &ClientId, settings: Option<HandshakeSettings>) -> Result<(), ConfigError> {
        let mut next = self.handshakes.clone();
        next.retain(|h| &h.client_id != client_id);
        if let Some(settings) = settings {
            next.push(HandshakeEntry {
                client_id: client_id.clone(),
                settings,
            });
        }
        verifier_for(&self.jwt, &next)?;
        self.handshakes = next;
        Ok(())
    }

    fn index(&self, client_id: &ClientId) -> Result<usize, ConfigError> {
        self.jwt
            .iter()
            .position(|c| c.client_id() == client_id)
            .ok_or(ConfigError::UnknownConfig)
    }

    /// Checks the candidate list and, only if every rule holds, installs it.
    fn commit<T>(&mut self, next: Vec<JwtConfig>, value: T, event: AuditEvent) -> Result<Change<T>, ConfigError> {
        check_rules(&next)?;
        let before = count_buttons(&self.jwt);
        let after = count_buttons(&next);
        self.jwt = next;
        let reached = before < MAX_LOGIN_BUTTONS && after == MAX_LOGIN_BUTTONS;
        Ok(Change {
            value,
            notifications: notifications_for(&event, reached),
            event,
        })
    }
}

/// The change record of a project-level toggle (no configuration involved).
fn project_change(action: AuditAction, now: OffsetDateTime, admin: &Administrator) -> Change<()> {
    let event = AuditEvent::new(action, now, admin, None);
    Change {
        value: (),
        notifications: notifications_for(&event, false),
        event,
    }
}

impl<T> Change<T> {
    /// The same change with its value mapped.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Change<U> {
        Change {
            value: f(self.value),
            event: self.event,
            notifications: self.notifications,
        }
    }
}

/// The change record of an SSO provider operation: the provider's name in
/// the place of a configuration's.
fn sso_change(
    action: AuditAction,
    now: OffsetDateTime,
    admin: &Administrator,
    name: &str,
    changes: Vec<FieldChange>,
) -> Change<()> {
    let event = AuditEvent::new_named(action, now, admin, name).with_changes(changes);
    Change {
        value: (),
        notifications: notifications_for(&event, false),
        event,
    }
}

fn sso_diff(old: &SsoProvider, new: &SsoProvider) -> Vec<FieldChange> {
    let fields = [
        (
            "name",
            AuditValue::Text(old.name.clone()),
            AuditValue::Text(new.name.clone()),
        ),
        (
            "kind",
            AuditValue::Text(format!("{:?}", old.kind).to_lowercase()),
            AuditValue::Text(format!("{:?}", new.kind).to_lowercase()),
        ),
        ("enabled", AuditValue::Bool(old.enabled), AuditValue::Bool(new.enabled)),
        (
            "cta_position",
            AuditValue::Number(old.cta_position),
            AuditValue::Number(new.cta_position),
        ),
    ];
    fields
        .into_iter()
        .filter(|(_, o, n)| o != n)
        .map(|(f, o, n)| FieldChange::new(f, o, n))
        .collect()
}

/// The handshake fields that differ between the old options (`None`: took
/// no handshake tokens) and the new.
fn handshake_diff(old: Option<&HandshakeOptions>, new: Option<&HandshakeOptions>) -> Vec<FieldChange> {
    let text = |s: Option<&str>| s.map_or(AuditValue::None, |s| AuditValue::Text(s.to_owned()));
    let alg = |o: Option<&HandshakeOptions>| {
        text(o.map(|o| match o.alg {
            HandshakeAlg::Hs256 => "HS256",
            HandshakeAlg::Ed25519 => "EdDSA",
        }))
    };
    let num = |n: Option<u32>| n.map_or(AuditValue::None, AuditValue::Number);
    let fields = [
        ("handshake.alg", alg(old), alg(new)),
        (
            "handshake.issuer",
            text(old.and_then(|o| o.issuer.as_deref())),
            text(new.and_then(|o| o.issuer.as_deref())),
        ),
        (
            "handshake.audience",
            text(old.and_then(|o| o.audience.as_deref())),
            text(new.and_then(|o| o.audience.as_deref())),
        ),
        (
            "handshake.session_mode",
            text(old.map(|o| session_mode_name(o.session_mode))),
            text(new.map(|o| session_mode_name(o.session_mode))),
        ),
        (
            "handshake.session_duration_minutes",
            num(old.map(|o| o.session_duration_minutes)),
            num(new.map(|o| o.session_duration_minutes)),
        ),
        (
            "handshake.max_age_seconds",
            num(old.and_then(|o| o.max_age_seconds)),
            num(new.and_then(|o| o.max_age_seconds)),
        ),
        (
            "handshake.require_jti",
            old.map_or(AuditValue::None, |o| AuditValue::Bool(o.require_jti)),
            new.map_or(AuditValue::None, |o| AuditValue::Bool(o.require_jti)),
        ),
    ];
    fields
        .into_iter()
        .filter(|(_, o, n)| o != n)
        .map(|(f, o, n)| FieldChange::new(f, o, n))
        .collect()
}

fn session_mode_name(mode: SessionMode) -> &'static str {
    match mode {
        SessionMode::Fixed => "fixed",
        SessionMode::Token => "token",
    }
}

fn invalid_handshake(e: impl fmt::Display) -> ConfigError {
    ConfigError::InvalidHandshake(e.to_string())
}

/// The HS256 key of a configuration's two secrets.
fn hs256_key(secrets: &IssuedSecrets) -> Result<HandshakeKey, ConfigError> {
    HandshakeKey::hs256(&secrets.primary, Some(&secrets.secondary)).map_err(invalid_handshake)
}

/// A new Ed25519 key and its pair to show once.
fn new_key_pair() -> Result<(HandshakeKey, HandshakeKeyPair), ConfigError> {
    let (private_key_pem, public_key_pem) = generate_ed25519_key_pair().map_err(invalid_handshake)?;
    let key = HandshakeKey::ed25519_from_spki_pem(&public_key_pem).map_err(invalid_handshake)?;
    Ok((
        key,
        HandshakeKeyPair {
            private_key_pem,
            public_key_pem,
        },
    ))
}

/// The verifier of these handshake entries, each enabled as its
/// configuration is (an entry without a configuration is left out).
fn verifier_for(jwt: &[JwtConfig], handshakes: &[HandshakeEntry]) -> Result<HandshakeVerifier, ConfigError> {
    let mut verifier = HandshakeVerifier::new();
    for h in handshakes {
        let Some(config) = jwt.iter().find(|c| c.client_id() == &h.client_id) else {
            continue;
        };
        let mut settings = h.settings.clone();
        settings.set_enabled(config.is_enabled());
        verifier
            .insert(h.client_id.clone(), settings)
            .map_err(invalid_handshake)?;
    }
    Ok(verifier)
}

fn event(action: AuditAction, now: OffsetDateTime, admin: &Administrator, config: &JwtConfig) -> AuditEvent {
    AuditEvent::new(action, now, admin, Some((config.name(), config.client_id())))
}

fn count_buttons(jwt: &[JwtConfig]) -> usize {
    jwt.iter().filter(|c| c.shows_login_button()).count()
}

/// Every project-level rule over a list of configurations.
pub(crate) fn check_rules(jwt: &[JwtConfig]) -> Result<(), ConfigError> {
    if jwt.len() > MAX_JWT_CONFIGS {
        return Err(ConfigError::TooManyConfigs);
    }
    for (i, c) in jwt.iter().enumerate() {
        for other in &jwt[..i] {
            if other.client_id() == c.client_id() {
                return Err(ConfigError::DuplicateClientId);
            }
            if other.domain().eq_ignore_ascii_case(c.domain()) {
                return Err(ConfigError::DuplicateDomain(c.domain().to_owned()));
            }
        }
    }
    if count_buttons(jwt) > MAX_LOGIN_BUTTONS {
        return Err(ConfigError::TooManyButtons);
    }
    Ok(())
}

pub(crate) fn check_provider(p: &SsoProvider) -> Result<(), ConfigError> {
    let name = p.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(ConfigError::InvalidProviderName);
    }
    Ok(())
}

/// The non-secret fields that differ between two versions of a
/// configuration. Secrets are not fields here: no change can carry one.
fn diff(old: &JwtConfig, new: &JwtConfig) -> Vec<FieldChange> {
    let text = |s: Option<&str>| s.map_or(AuditValue::None, |s| AuditValue::Text(s.to_owned()));
    let logo = |c: &JwtConfig| text(c.login_button_logo().map(|l| l.digest_hex()).as_deref());
    let fields: [(&'static str, AuditValue, AuditValue); 9] = [
        ("name", text(Some(old.name())), text(Some(new.name()))),
        (
            "login_url",
            text(Some(old.login_url().as_str())),
            text(Some(new.login_url().as_str())),
        ),
        (
            "logout_url",
            text(old.logout_url().map(|u| u.as_str())),
            text(new.logout_url().map(|u| u.as_str())),
        ),
        (
            "enabled",
            AuditValue::Bool(old.is_enabled()),
            AuditValue::Bool(new.is_enabled()),
        ),
        (
            "show_login_button",
            AuditValue::Bool(old.shows_login_button()),
            AuditValue::Bool(new.shows_login_button()),
        ),
        (
            "login_button_text",
            text(old.login_button_text()),
            text(new.login_button_text()),
        ),
        ("login_button_logo", logo(old), logo(new)),
        (
            "cta_position",
            AuditValue::Number(old.cta_position()),
            AuditValue::Number(new.cta_position()),
        ),
        (
            "require_login_binding",
            AuditValue::Bool(old.requires_login_binding()),
            AuditValue::Bool(new.requires_login_binding()),
        ),
    ];
    fields
        .into_iter()
        .filter(|(_, o, n)| o != n)
        .map(|(f, o, n)| FieldChange::new(f, o, n))
        .collect()
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectRecord {
    #[serde(default)]
    settings: ProjectSettings,
    #[serde(default)]
    jwt: Vec<JwtConfig>,
    #[serde(default)]
    sso: Vec<SsoProvider>,
    #[serde(default)]
    handshakes: Vec<HandshakeEntry>,
    #[serde(default)]
    widget: Option<WidgetProject>,
}

impl TryFrom<ProjectRecord> for Project {
    type Error = ConfigError;
    fn try_from(r: ProjectRecord) -> Result<Self, ConfigError> {
        let mut p = Project::new(r.settings, r.jwt, r.sso)?;
        for h in r.handshakes {
            p.index(&h.client_id)?;
            p.put_handshake(&h.client_id, Some(h.settings))?;
        }
        p.widget = r.widget;
        Ok(p)
    }
}

impl From<Project> for ProjectRecord {
    fn from(p: Project) -> Self {
        Self {
            settings: p.settings,
            jwt: p.jwt,
            sso: p.sso,
            handshakes: p.handshakes,
            widget: p.widget,
        }
    }
}

/// A project's version number in its [`ConfigStore`]: every save makes a
/// new, higher one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Revision(pub u64);

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The project as one [`ConfigStore`] holds it at one revision: cheap to
/// clone (an [`Arc`]), never changed in place.
#[derive(Debug, Clone)]
pub struct ProjectSnapshot {
    /// The revision.
    pub revision: Revision,
    /// The project at that revision.
    pub project: Arc<Project>,
}

impl ProjectSnapshot {
    /// The configuration `client_id` of this snapshot, held by reference
    /// (the snapshot's [`Arc`] is cloned, not the configuration).
    pub(crate) fn config(&self, client_id: &ClientId) -> Option<ConfigRef> {
        let index = self.project.index(client_id).ok()?;
        Some(ConfigRef {
            project: Arc::clone(&self.project),
            index,
        })
    }
}

/// One configuration of a [`ProjectSnapshot`], without a copy.
#[derive(Debug, Clone)]
pub(crate) struct ConfigRef {
    project: Arc<Project>,
    index: usize,
}

impl std::ops::Deref for ConfigRef {
    type Target = JwtConfig;
    fn deref(&self) -> &JwtConfig {
        // `index` was found in this very project, which never changes.
        &self.project.jwt[self.index]
    }
}

/// A save was refused: the project was saved by someone else since the
/// revision the change was computed from. Nothing was saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the project changed since revision {base}; now at {current}")]
pub struct StaleRevision {
    /// The revision the change was computed from.
    pub base: Revision,
    /// The store's current revision.
    pub current: Revision,
}

/// Where a project lives: one versioned value holding the JWT
/// configurations (with their secret digests and handshake settings), the
/// widget settings, the SSO providers and the settings.
///
/// The crate reads the current snapshot on every request, so
/// [`current`](Self::current) should be cheap (an [`Arc`] clone in memory;
/// one indexed read in a database). What was last saved takes effect for
/// the next request: a disabled configuration, a regenerated secret or key.
///
/// # Contract
/// - [`current`](Self::current) returns the latest saved project with its
///   revision.
/// - [`save`](Self::save) is a compare-and-swap: it saves `project` as a
///   new revision only if the current revision is still `base`, in one
///   atomic step (SQL: `UPDATE ... WHERE revision = $base`); otherwise it
///   saves nothing and answers [`StaleRevision`]. So two writers never lose
///   an update.
pub trait ConfigStore: Send + Sync {
    /// The store's own failure.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The latest saved project and its revision.
    fn current(&self) -> impl Future<Output = Result<ProjectSnapshot, Self::Error>> + Send;

    /// Saves `project` as the revision after `base`, if `base` is still
    /// current; answers the new revision.
    fn save(
        &self,
        base: Revision,
        project: Project,
    ) -> impl Future<Output = Result<Result<Revision, StaleRevision>, Self::Error>> + Send;
}

crate::forward::forward_store!(ConfigStore {
    type Error = T::Error;
    fn current(&self) -> impl Future<Output = Result<ProjectSnapshot, Self::Error>> + Send {
        (**self).current()
    }
    fn save(&self, base: Revision, project: Project) -> impl Future<Output = Result<Result<Revision, StaleRevision>, Self::Error>> + Send {
        (**self).save(base, project)
    }
});

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn mixed(paths: &[&str]) -> ProjectSettings {
        ProjectSettings {
            visibility: Visibility::Mixed,
            public_paths: paths.iter().map(|p| (*p).to_owned()).collect(),
            ..ProjectSettings::default()
        }
    }

    #[test]
    fn visibility_defaults_private_and_public_opens_everything() {
        let settings: ProjectSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(settings, ProjectSettings::default());
        assert!(!settings.is_public("/") && !settings.is_public("/docs"));
        assert_eq!(settings.landing_path(), "/");
        let public = ProjectSettings {
            visibility: Visibility::Public,
            home_published: false,
            ..ProjectSettings::default()
        };
        assert!(public.is_public("/docs/anything"));
        assert_eq!(public.landing_path(), "/docs");
        // A prefix without a leading slash opens nothing.
        assert!(!mixed(&["docs"]).is_public("/docs"));
        assert!(mixed(&["/"]).is_public("/anything"));
    }

    proptest::proptest! {
        /// A public prefix opens itself and what is under it on a segment
        /// boundary, never a sibling that merely starts with the same text.
        #[test]
        fn public_prefixes_match_on_segment_boundaries(
            segments in proptest::collection::vec("[a-z0-9._-]{1,8}", 1..4),
            rest in "[a-z0-9._-]{1,8}",
            slash in proptest::bool::ANY,
        ) {
            let prefix = format!("/{}{}", segments.join("/"), if slash { "/" } else { "" });
            let base = format!("/{}", segments.join("/"));
            let s = mixed(&[&prefix]);
            let (dir, under, sibling) = (format!("{base}/"), format!("{base}/{rest}"), format!("{base}{rest}"));
            proptest::prop_assert!(s.is_public(&base));
            proptest::prop_assert!(s.is_public(&dir));
            proptest::prop_assert!(s.is_public(&under));
            proptest::prop_assert!(!s.is_public(&sibling));
            proptest::prop_assert!(!s.is_public("/"));
        }
    }
    use crate::audit::{BUTTON_LIMIT_MESSAGE, Recipients};
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-05-01 10:00 UTC);

    fn admin() -> Administrator {
        Administrator("alice@kb.example.com".into())
    }

    fn cfg(name: &str, host: &str) -> JwtConfigBuilder {
        JwtConfig::builder(name, format!("https://{host}/login"))
    }

    fn button(name: &str, host: &str) -> JwtConfigBuilder {
        cfg(name, host)
            .show_login_button(true)
            .login_button_text(format!("Sign in with {name}"))
    }

    #[test]
    fn at_most_five_configurations() {
        let mut p = Project::default();
        for i in 0..5 {
            let _ = p
                .create(&admin(), NOW, cfg(&format!("c{i}"), &format!("c{i}.example.com")))
                .unwrap();
        }
        let err = p.create(&admin(), NOW, cfg("c6", "c6.example.com")).unwrap_err();
        assert_eq!(err, ConfigError::TooManyConfigs);
        assert_eq!(p.jwt_configs().len(), 5, "nothing changed");
    }

    #[test]
    fn domains_are_unique_case_insensitively_but_subdomains_are_distinct() {
        let mut p = Project::default();
        let _ = p.create(&admin(), NOW, cfg("a", "example.com")).unwrap();
        let _ = p.create(&admin(), NOW, cfg("b", "portal.example.com")).unwrap();
        let err = p.create(&admin(), NOW, cfg("c", "EXAMPLE.com")).unwrap_err();
        assert_eq!(err, ConfigError::DuplicateDomain("example.com".into()));
        // Updating another configuration onto a taken domain is refused too.
        let b = p.jwt_configs()[1].clone();
        let err = p
            .update(
                &admin(),
                NOW,
                b.client_id(),
                b.to_builder().login_url("https://Example.COM/x"),
            )
            .unwrap_err();
        assert!(matches!(err, ConfigError::DuplicateDomain(_)));
        assert_eq!(p.jwt_configs()[1].domain(), "portal.example.com");
    }

    #[test]
    fn wildcard_domains_are_refused() {
        let mut p = Project::default();
        assert_eq!(
            p.create(&admin(), NOW, cfg("w", "*.example.com")).unwrap_err(),
            ConfigError::WildcardDomain
        );
    }

    #[test]
    fn a_fourth_login_button_is_refused_and_the_third_notifies_admins() {
        let mut p = Project::default();
        let first = p.create(&admin(), NOW, button("a", "a.example.com")).unwrap();
        assert!(first.notifications.iter().all(|n| n.message != BUTTON_LIMIT_MESSAGE));
        let _ = p.create(&admin(), NOW, button("b", "b.example.com")).unwrap();
        let third = p.create(&admin(), NOW, button("c", "c.example.com")).unwrap();
        let limit: Vec<_> = third
            .notifications
            .iter()
            .filter(|n| n.message == BUTTON_LIMIT_MESSAGE)
            .collect();
        assert_eq!(limit.len(), 1);
        assert_eq!(limit[0].recipients, Recipients::ProjectAdmins);
        assert_eq!(
            p.create(&admin(), NOW, button("d", "d.example.com")).unwrap_err(),
            ConfigError::TooManyButtons
        );
        let _ = p.create(&admin(), NOW, cfg("d", "d.example.com")).unwrap();
        let d = p.jwt_configs()[3].clone();
        let err = p
            .update(
                &admin(),
                NOW,
                d.client_id(),
                d.to_builder().show_login_button(true).login_button_text("D"),
            )
            .unwrap_err();
        assert_eq!(err, ConfigError::TooManyButtons);
        assert!(!p.jwt_configs()[3].shows_login_button());
        assert_eq!(p.login_buttons(), 3);
    }

    #[test]
    fn button_text_is_required_when_the_button_is_on() {
        let mut p = Project::default();
        let err = p
            .create(&admin(), NOW, cfg("a", "a.example.com").show_login_button(true))
            .unwrap_err();
        assert_eq!(err, ConfigError::MissingButtonText);
        let err = p
            .create(
                &admin(),
                NOW,
                cfg("a", "a.example.com")
                    .show_login_button(true)
                    .login_button_text("  "),
            )
            .unwrap_err();
        assert_eq!(err, ConfigError::MissingButtonText);
        assert!(p.jwt_configs().is_empty());
    }

    #[test]
    fn updates_record_each_changed_field_with_old_and_new_values() {
        let mut p = Project::default();
        let created = p.create(&admin(), NOW, cfg("Portal", "app.example.com")).unwrap();
        let id = created.value.0;
        let c = p.jwt_config(&id).unwrap().clone();
        let change = p
            .update(
                &admin(),
                NOW,
                &id,
                c.to_builder()
                    .name("Portal 2")
                    .logout_url("https://app.example.com/bye")
                    .cta_position(2),
            )
            .unwrap();
        let e = change.event;
        assert_eq!(e.action(), AuditAction::Update);
        assert_eq!(e.config_name(), Some("Portal"), "the name at the time of the action");
        assert_eq!(e.administrator(), &admin());
        assert_eq!(e.at(), NOW);
        let fields: Vec<_> = e.changes().iter().map(|c| c.field()).collect();
        assert_eq!(fields, ["name", "logout_url", "cta_position"]);
        assert_eq!(e.changes()[0].old(), &AuditValue::Text("Portal".into()));
        assert_eq!(e.changes()[0].new_value(), &AuditValue::Text("Portal 2".into()));
        assert_eq!(e.changes()[1].old(), &AuditValue::None);
    }

    #[test]
    fn regenerating_one_secret_invalidates_it_alone_and_tells_owners() {
        let mut p = Project::default();
        let created = p.create(&admin(), NOW, cfg("P", "app.example.com")).unwrap();
        let (id, secrets) = created.value;
        let change = p.regenerate_primary_secret(&admin(), NOW, &id).unwrap();
        let c = p.jwt_config(&id).unwrap();
        assert!(!c.accepts_secret(secrets.primary.expose().as_bytes()));
        assert!(c.accepts_secret(secrets.secondary.expose().as_bytes()));
        assert!(c.accepts_secret(change.value.expose().as_bytes()));
        assert_eq!(change.event.action(), AuditAction::RegeneratePrimaryToken);
        assert_eq!(change.notifications[0].recipients, Recipients::ProjectAdminsAndOwners);
        let change = p.regenerate_secondary_secret(&admin(), NOW, &id).unwrap();
        let c = p.jwt_config(&id).unwrap();
        assert!(!c.accepts_secret(secrets.secondary.expose().as_bytes()));
        assert!(c.accepts_secret(change.value.expose().as_bytes()));
    }

    #[test]
    fn every_operation_names_its_action() {
        let mut p = Project::default();
        let id = p.create(&admin(), NOW, cfg("P", "app.example.com")).unwrap().value.0;
        assert_eq!(
            p.set_enabled(&admin(), NOW, &id, false).unwrap().event.action(),
            AuditAction::Disable
        );
        assert!(!p.jwt_config(&id).unwrap().is_enabled());
        assert_eq!(
            p.set_enabled(&admin(), NOW, &id, true).unwrap().event.action(),
            AuditAction::Enable
        );
        assert_eq!(
            p.set_direct_jwt_login(&admin(), NOW, false, false).unwrap_err(),
            ConfigError::ConfirmationRequired
        );
        assert!(p.settings().direct_jwt_login, "unchanged without confirmation");
        let e = p.set_direct_jwt_login(&admin(), NOW, false, true).unwrap().event;
        assert_eq!(
            (e.action(), e.config_name()),
            (AuditAction::DisableDirectJwtLogin, None)
        );
        assert!(!p.settings().direct_jwt_login);
        let e = p.set_default_login_page_disabled(&admin(), NOW, true).event;
        assert_eq!(e.action(), AuditAction::EnableDefaultLoginPageToggle);
        assert!(p.settings().disable_default_login_page);
        let e = p.delete(&admin(), NOW, &id).unwrap();
        assert_eq!(e.event.action(), AuditAction::Delete);
        assert_eq!(e.notifications[0].recipients, Recipients::ProjectAdmins);
        assert_eq!(p.delete(&admin(), NOW, &id).unwrap_err(), ConfigError::UnknownConfig);
    }

    #[test]
    fn defaults_match_the_spec() {
        let s = ProjectSettings::default();
        assert!(s.direct_jwt_login, "Direct JWT login: default ON");
        assert!(!s.disable_default_login_page, "Disable default login page: default OFF");
        let (c, _) = cfg("P", "app.example.com").build().unwrap();
        assert!(c.is_enabled(), "Enable JWT authentication: default ON");
        assert!(!c.shows_login_button(), "Show login button: default OFF");
    }
}
