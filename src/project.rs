//! A project's sign-in setup and every admin operation on it.

use std::fmt;
use std::future::Future;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::audit::{Administrator, AuditAction, AuditEvent, AuditValue, FieldChange, Notification, notifications_for};
use crate::config::{
    ConfigError, IssuedSecrets, JwtConfig, JwtConfigBuilder, MAX_JWT_CONFIGS, MAX_LOGIN_BUTTONS, MAX_NAME_CHARS,
};
use crate::secret::{ClientId, ClientSecret};

/// Project-wide sign-in toggles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectSettings {
    /// Send readers straight to JWT sign-in without a selection screen
    /// (default on).
    #[serde(default = "yes")]
    pub direct_jwt_login: bool,
    /// Hide the email/password form (default off).
    #[serde(default)]
    pub disable_default_login_page: bool,
}

fn yes() -> bool {
    true
}

impl Default for ProjectSettings {
    fn default() -> Self {
        Self {
            direct_jwt_login: true,
            disable_default_login_page: false,
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
}

impl fmt::Debug for Project {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Project")
            .field("settings", &self.settings)
            .field("jwt", &self.jwt)
            .field("sso", &self.sso)
            .finish()
    }
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
        Ok(Self { settings, jwt, sso })
    }

    /// The toggles.
    pub fn settings(&self) -> ProjectSettings {
        self.settings
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
        let (config, secrets) = config.build()?;
        let mut next = self.jwt.clone();
        next.push(config.clone());
        let event = event(AuditAction::Create, now, admin, &config);
        let id = config.client_id().clone();
        self.commit(next, (id, secrets), event)
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
        let i = self.index(client_id)?;
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
        self.commit(next, (), event)
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
        self.edit(admin, now, client_id, AuditAction::RegeneratePrimaryToken, |c| {
            c.regenerate_primary_secret()
        })
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
        self.edit(admin, now, client_id, AuditAction::RegenerateSecondaryToken, |c| {
            c.regenerate_secondary_secret()
        })
    }

    /// Turns Direct JWT login on or off.
    pub fn set_direct_jwt_login(&mut self, admin: &Administrator, now: OffsetDateTime, on: bool) -> Change<()> {
        self.settings.direct_jwt_login = on;
        let action = if on {
            AuditAction::EnableDirectJwtLogin
        } else {
            AuditAction::DisableDirectJwtLogin
        };
        project_change(action, now, admin)
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
}

impl TryFrom<ProjectRecord> for Project {
    type Error = ConfigError;
    fn try_from(r: ProjectRecord) -> Result<Self, ConfigError> {
        Project::new(r.settings, r.jwt, r.sso)
    }
}

impl From<Project> for ProjectRecord {
    fn from(p: Project) -> Self {
        Self {
            settings: p.settings,
            jwt: p.jwt,
            sso: p.sso,
        }
    }
}

/// Where a project's sign-in setup lives.
///
/// The crate reads configurations through this trait on every code request,
/// so [`get`](Self::get) should be cheap. Implementations must return what
/// was last saved: a disabled configuration or a regenerated secret takes
/// effect for the next request.
pub trait ConfigStore: Send + Sync {
    /// The store's own failure.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The configuration with this client id, if any.
    fn get(&self, client_id: &ClientId) -> impl Future<Output = Result<Option<JwtConfig>, Self::Error>> + Send;

    /// The whole project: settings, configurations, SSO providers.
    fn project(&self) -> impl Future<Output = Result<Project, Self::Error>> + Send;

    /// Runs one admin operation on the project and saves the result.
    ///
    /// # Contract
    /// Atomic: `f` sees the latest saved project, and no other
    /// modification is saved between that read and this save. When `f`
    /// returns an error, nothing is saved.
    fn modify<T, F>(&self, f: F) -> impl Future<Output = Result<Result<T, ConfigError>, Self::Error>> + Send
    where
        T: Send,
        F: FnOnce(&mut Project) -> Result<T, ConfigError> + Send;
}

crate::forward::forward_store!(ConfigStore {
    type Error = T::Error;
    fn get(&self, client_id: &ClientId) -> impl Future<Output = Result<Option<JwtConfig>, Self::Error>> + Send {
        (**self).get(client_id)
    }
    fn project(&self) -> impl Future<Output = Result<Project, Self::Error>> + Send {
        (**self).project()
    }
    fn modify<R: Send, F>(&self, f: F) -> impl Future<Output = Result<Result<R, ConfigError>, Self::Error>> + Send
    where
        F: FnOnce(&mut Project) -> Result<R, ConfigError> + Send,
    {
        (**self).modify(f)
    }
});

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
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
        let e = p.set_direct_jwt_login(&admin(), NOW, false).event;
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
