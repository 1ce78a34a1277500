//! The admin service: every admin operation saved, audited and notified.

use std::fmt;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::audit::{Administrator, AuditEntry, AuditSink, Notifier};
use crate::clock::Clock;
use crate::config::{ConfigError, IssuedSecrets, JwtConfigBuilder};
use crate::handshake::HandshakeOptions;
use crate::project::{
    Change, ConfigStore, Created, HandshakeKeyPair, HandshakeKeys, Project, ProjectSnapshot, SsoProvider, Visibility,
};
use crate::secret::{ClientId, ClientSecret};

/// A boxed error of a host's store, sink or notifier.
type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why an [`Admin`] operation did not complete.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The operation itself was refused (a sixth configuration, a duplicate
    /// domain, an unknown client id...). Nothing was saved, appended or
    /// sent.
    #[error("the operation was refused: {0}")]
    Config(#[from] ConfigError),
    /// The configuration store failed. If it failed on reading, nothing
    /// happened; if it failed on saving, the audit entry was appended but
    /// the change may not have been saved (see [`Admin`]).
    #[error("the configuration store failed")]
    ConfigStore(#[source] BoxError),
    /// The audit sink refused the event. Nothing was saved or sent.
    #[error("the audit sink failed")]
    Audit(#[source] BoxError),
    /// The change was saved and audited, but a notification could not be
    /// queued; the ones after it were not queued either.
    #[error("the change was saved and audited, but a notification could not be queued")]
    Notify(#[source] BoxError),
    /// The project changed between the read and the save (another admin
    /// operation ran at the same time). The change was not saved; the
    /// audit entry was appended (see [`Admin`]). Read the project again and
    /// retry.
    #[error("the project changed during the operation; nothing was saved")]
    Conflict,
}

/// What a completed admin operation returns.
#[must_use = "it may hold a secret to show the administrator once"]
#[derive(Debug)]
pub struct Applied<T> {
    /// The operation's result (for example, a new secret to show once).
    pub value: T,
    /// The audit entry appended for it.
    pub entry: AuditEntry,
}

/// The admin service: each admin operation of [`Project`] as one step that
/// saves the change in the [`ConfigStore`], appends its audit event to the
/// [`AuditSink`] and queues its notifications with the [`Notifier`].
///
/// # Order and guarantees
/// Each operation runs in this order:
///
/// 1. read the current snapshot and run the operation on a copy of its
///    project; if the operation is refused ([`AdminError::Config`]),
///    nothing is appended, saved or sent. If the revision moved meanwhile
///    (read again just after), the operation is run again on the newer
///    project, up to three times, then [`AdminError::Conflict`];
/// 2. append the event to the audit sink; if that fails
///    ([`AdminError::Audit`]), nothing is saved or sent;
/// 3. save the copy with [`ConfigStore::save`] against the revision it was
///    computed from; if another save came in between, nothing is saved and
///    the answer is [`AdminError::Conflict`];
/// 4. queue the notifications, in order; the first failure is answered with
///    [`AdminError::Notify`].
///
/// So a change is never saved without its audit entry, and a refused or
/// unaudited change is never saved nor notified. The converse does not
/// hold: the audit sink and the configuration store are separate systems,
/// and the entry is appended before the save, so when step 3 fails (a
/// [`Conflict`](AdminError::Conflict) or a store error) the log holds an
/// entry for a change that was not saved. When step 4 fails the change
/// stands and is audited but some notifications were not queued, and the
/// operation's value (a secret shown once) is not returned: regenerate it
/// again.
///
/// Operations take the time from the service's [`Clock`]; the administrator
/// is whoever the host authenticated.
pub struct Admin<CS: ConfigStore, A: AuditSink, N: Notifier> {
    store: CS,
    audit: A,
    notifier: N,
    clock: Arc<dyn Clock>,
}

impl<CS: ConfigStore, A: AuditSink, N: Notifier> fmt::Debug for Admin<CS, A, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admin").finish_non_exhaustive()
    }
}

impl<CS: ConfigStore, A: AuditSink, N: Notifier> Admin<CS, A, N> {
    /// A service over these stores, taking the time from `clock`.
    pub fn new(store: CS, audit: A, notifier: N, clock: impl Clock + 'static) -> Self {
        Self {
            store,
            audit,
            notifier,
            clock: Arc::new(clock),
        }
    }

    /// The configuration store.
    pub fn store(&self) -> &CS {
        &self.store
    }

    /// The audit sink.
    pub fn audit(&self) -> &A {
        &self.audit
    }

    /// The notifier.
    pub fn notifier(&self) -> &N {
        &self.notifier
    }

    /// Runs [`Project::create`]: creates a JWT configuration; its two secrets
    /// are returned once.
    ///
    /// # Errors
    /// As [`Project::create`] ([`AdminError::Config`]), or any step's
    /// failure as the type's documentation describes.
    pub async fn create(
        &self,
        admin: &Administrator,
        config: JwtConfigBuilder,
    ) -> Result<Applied<(ClientId, IssuedSecrets)>, AdminError> {
        self.run(|p, now| p.create(admin, now, config.clone())).await
    }

    /// Runs [`Project::update`]: applies `update` to the configuration
    /// `client_id`.
    ///
    /// # Errors
    /// As [`Project::update`] ([`AdminError::Config`]), or any step's
    /// failure as the type's documentation describes.
    pub async fn update(
        &self,
        admin: &Administrator,
        client_id: &ClientId,
        update: JwtConfigBuilder,
    ) -> Result<Applied<()>, AdminError> {
        self.run(|p, now| p.update(admin, now, client_id, update.clone())).await
    }

    /// Runs [`Project::delete`]: deletes a configuration.
    ///
    /// # Errors
    /// As [`Project::delete`] ([`AdminError::Config`]), or any step's
    /// failure as the type's documentation describes.
    pub async fn delete(&self, admin: &Administrator, client_id: &ClientId) -> Result<Applied<()>, AdminError> {
        self.run(|p, now| p.delete(admin, now, client_id)).await
    }

    /// Runs [`Project::set_enabled`]: enables or disables a configuration.
    ///
    /// # Errors
    /// As [`Project::set_enabled`] ([`AdminError::Config`]), or any step's
    /// failure as the type's documentation describes.
    pub async fn set_enabled(
        &self,
        admin: &Administrator,
        client_id: &ClientId,
        enabled: bool,
    ) -> Result<Applied<()>, AdminError> {
        self.run(|p, now| p.set_enabled(admin, now, client_id, enabled)).await
    }

    /// Runs [`Project::regenerate_primary_secret`]: the old primary secret stops
    /// working once this returns; the new one is returned once.
    ///
    /// # Errors
    /// As [`Project::regenerate_primary_secret`] ([`AdminError::Config`]),
    /// or any step's failure as the type's documentation describes.
    pub async fn regenerate_primary_secret(
        &self,
        admin: &Administrator,
        client_id: &ClientId,
    ) -> Result<Applied<ClientSecret>, AdminError> {
        self.run(|p, now| p.regenerate_primary_secret(admin, now, client_id))
            .await
    }

    /// Runs [`Project::regenerate_secondary_secret`]: as
    /// [`regenerate_primary_secret`](Self::regenerate_primary_secret) for
    /// the secondary secret.
    ///
    /// # Errors
    /// As [`Project::regenerate_secondary_secret`] ([`AdminError::Config`]),
    /// or any step's failure as the type's documentation describes.
    pub async fn regenerate_secondary_secret(
        &self,
        admin: &Administrator,
        client_id: &ClientId,
    ) -> Result<Applied<ClientSecret>, AdminError> {
        self.run(|p, now| p.regenerate_secondary_secret(admin, now, client_id))
            .await
    }

    /// Runs [`Project::set_direct_jwt_login`]: turns Direct JWT login on or
    /// off, once the administrator has `confirmed` it.
    ///
    /// # Errors
    /// [`ConfigError::ConfirmationRequired`] when not `confirmed`, or any
    /// step's failure as the type's documentation describes.
    pub async fn set_direct_jwt_login(
        &self,
        admin: &Administrator,
        on: bool,
        confirmed: bool,
    ) -> Result<Applied<()>, AdminError> {
        self.run(|p, now| p.set_direct_jwt_login(admin, now, on, confirmed))
            .await
    }

    /// Runs [`Project::create_with_handshake`]: creates a configuration that
    /// also takes handshake tokens; its secrets and key pair are returned
    /// once.
    ///
    /// # Errors
    /// As [`Project::create_with_handshake`] ([`AdminError::Config`]), or
    /// any step's failure as the type's documentation describes.
    pub async fn create_with_handshake(
        &self,
        admin: &Administrator,
        config: JwtConfigBuilder,
        handshake: Option<&HandshakeOptions>,
    ) -> Result<Applied<Created>, AdminError> {
        self.run(|p, now| p.create_with_handshake(admin, now, config.clone(), handshake))
            .await
    }

    /// Runs [`Project::set_handshake`]: sets or removes how a configuration
    /// takes handshake tokens; what it issues is returned once.
    ///
    /// # Errors
    /// As [`Project::set_handshake`] ([`AdminError::Config`]), or any step's
    /// failure as the type's documentation describes.
    pub async fn set_handshake(
        &self,
        admin: &Administrator,
        client_id: &ClientId,
        options: Option<&HandshakeOptions>,
    ) -> Result<Applied<HandshakeKeys>, AdminError> {
        self.run(|p, now| p.set_handshake(admin, now, client_id, options)).await
    }

    /// Runs [`Project::generate_handshake_key`]: a new Ed25519 key pair, the
    /// old key refused at once; the private key is returned once.
    ///
    /// # Errors
    /// As [`Project::generate_handshake_key`] ([`AdminError::Config`]), or
    /// any step's failure as the type's documentation describes.
    pub async fn generate_handshake_key(
        &self,
        admin: &Administrator,
        client_id: &ClientId,
    ) -> Result<Applied<HandshakeKeyPair>, AdminError> {
        self.run(|p, now| p.generate_handshake_key(admin, now, client_id)).await
    }

    /// Runs [`Project::regenerate_widget_secret`]: the old widget secret
    /// stops working at once; the new one is returned once.
    ///
    /// # Errors
    /// [`ConfigError::NoWidget`], or any step's failure as the type's
    /// documentation describes.
    pub async fn regenerate_widget_secret(&self, admin: &Administrator) -> Result<Applied<ClientSecret>, AdminError> {
        self.run(|p, now| p.regenerate_widget_secret(admin, now)).await
    }

    /// Runs [`Project::create_sso_provider`].
    ///
    /// # Errors
    /// As [`Project::create_sso_provider`] ([`AdminError::Config`]), or any
    /// step's failure as the type's documentation describes.
    pub async fn create_sso_provider(
        &self,
        admin: &Administrator,
        provider: SsoProvider,
    ) -> Result<Applied<()>, AdminError> {
        self.run(|p, now| p.create_sso_provider(admin, now, provider.clone()))
            .await
    }

    /// Runs [`Project::update_sso_provider`].
    ///
    /// # Errors
    /// As [`Project::update_sso_provider`] ([`AdminError::Config`]), or any
    /// step's failure as the type's documentation describes.
    pub async fn update_sso_provider(
        &self,
        admin: &Administrator,
        name: &str,
        provider: SsoProvider,
    ) -> Result<Applied<()>, AdminError> {
        self.run(|p, now| p.update_sso_provider(admin, now, name, provider.clone()))
            .await
    }

    /// Runs [`Project::delete_sso_provider`].
    ///
    /// # Errors
    /// As [`Project::delete_sso_provider`] ([`AdminError::Config`]), or any
    /// step's failure as the type's documentation describes.
    pub async fn delete_sso_provider(&self, admin: &Administrator, name: &str) -> Result<Applied<()>, AdminError> {
        self.run(|p, now| p.delete_sso_provider(admin, now, name)).await
    }

    /// The current project and its revision (no secret in it: digests, and
    /// the key material a handshake needs).
    ///
    /// # Errors
    /// [`AdminError::ConfigStore`].
    pub async fn project(&self) -> Result<ProjectSnapshot, AdminError> {
        self.store
            .current()
            .await
            .map_err(|e| AdminError::ConfigStore(Box::new(e)))
    }

    /// Runs [`Project::set_default_login_page_disabled`]: turns "Disable default
    /// login page" on (hide email/password) or off.
    ///
    /// # Errors
    /// Any step's failure as the type's documentation describes.
    pub async fn set_default_login_page_disabled(
        &self,
        admin: &Administrator,
        on: bool,
    ) -> Result<Applied<()>, AdminError> {
        self.run(|p, now| Ok(p.set_default_login_page_disabled(admin, now, on)))
            .await
    }

    /// Runs [`Project::set_visibility`]: who may read which pages.
    ///
    /// # Errors
    /// [`ConfigError::InvalidPublicPath`], or any step's failure as the
    /// type's documentation describes.
    pub async fn set_visibility(
        &self,
        admin: &Administrator,
        visibility: Visibility,
        public_paths: Vec<String>,
        home_published: bool,
    ) -> Result<Applied<()>, AdminError> {
        self.run(|p, now| p.set_visibility(admin, now, visibility, public_paths.clone(), home_published))
            .await
    }

    /// Read, operate on a copy, append, save if unchanged, notify.
    ///
    /// Before appending, the revision is read again and the operation
    /// recomputed on the newer project if another save came in between (a
    /// few times at most), so that within one store the audit log holds an
    /// entry for a change that was not saved only when a save races this
    /// one in the instant between that read and the save, or the store
    /// fails.
    async fn run<T, F>(&self, op: F) -> Result<Applied<T>, AdminError>
    where
        F: Fn(&mut Project, OffsetDateTime) -> Result<Change<T>, ConfigError>,
    {
        let mut base = self.project().await?;
        let mut attempts = 0;
        let (draft, change) = loop {
            let mut draft = Project::clone(&base.project);
            let change = op(&mut draft, self.clock.now())?;
            let again = self.project().await?;
            if again.revision == base.revision {
                break (draft, change);
            }
            attempts += 1;
            if attempts >= 3 {
                return Err(AdminError::Conflict);
            }
            base = again;
        };
        let Change {
            value,
            event,
            notifications,
        } = change;
        let entry = self
            .audit
            .append(event)
            .await
            .map_err(|e| AdminError::Audit(Box::new(e)))?;
        self.store
            .save(base.revision, draft)
            .await
            .map_err(|e| AdminError::ConfigStore(Box::new(e)))?
            .map_err(|_| AdminError::Conflict)?;
        for n in notifications {
            self.notifier
                .notify(n)
                .await
                .map_err(|e| AdminError::Notify(Box::new(e)))?;
        }
        Ok(Applied { value, entry })
    }
}
