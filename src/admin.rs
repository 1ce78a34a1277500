//! The admin service: every admin operation saved, audited and notified.

use std::fmt;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::audit::{Administrator, AuditEntry, AuditSink, Notifier};
use crate::clock::Clock;
use crate::config::{ConfigError, IssuedSecrets, JwtConfigBuilder};
use crate::project::{Change, ConfigStore, Project};
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
/// 1. read the current project and run the operation on a copy of it; if
///    the operation is refused ([`AdminError::Config`]), nothing is
///    appended, saved or sent;
/// 2. append the event to the audit sink; if that fails
///    ([`AdminError::Audit`]), nothing is saved or sent;
/// 3. save the copy with [`ConfigStore::modify`], but only if the stored
///    project is still equal to the one read in step 1; otherwise nothing
///    is saved and the answer is [`AdminError::Conflict`];
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
        self.run(|p, now| p.create(admin, now, config)).await
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
        self.run(|p, now| p.update(admin, now, client_id, update)).await
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

    /// Runs [`Project::set_direct_jwt_login`]: turns Direct JWT login on or off.
    ///
    /// # Errors
    /// Any step's failure as the type's documentation describes.
    pub async fn set_direct_jwt_login(&self, admin: &Administrator, on: bool) -> Result<Applied<()>, AdminError> {
        self.run(|p, now| Ok(p.set_direct_jwt_login(admin, now, on))).await
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

    /// Read, operate on a copy, append, save if unchanged, notify.
    async fn run<T, F>(&self, op: F) -> Result<Applied<T>, AdminError>
    where
        F: FnOnce(&mut Project, OffsetDateTime) -> Result<Change<T>, ConfigError>,
    {
        let read = self
            .store
            .project()
            .await
            .map_err(|e| AdminError::ConfigStore(Box::new(e)))?;
        let mut draft = read.clone();
        let Change {
            value,
            event,
            notifications,
        } = op(&mut draft, self.clock.now())?;
        let entry = self
            .audit
            .append(event)
            .await
            .map_err(|e| AdminError::Audit(Box::new(e)))?;
        let before = snapshot(&read);
        let saved = self
            .store
            .modify(move |current| {
                // `None` never equals: a project that cannot be compared is
                // treated as changed.
                if before.is_none() || snapshot(current) != before {
                    return Ok(false);
                }
                *current = draft;
                Ok(true)
            })
            .await
            .map_err(|e| AdminError::ConfigStore(Box::new(e)))??;
        if !saved {
            return Err(AdminError::Conflict);
        }
        for n in notifications {
            self.notifier
                .notify(n)
                .await
                .map_err(|e| AdminError::Notify(Box::new(e)))?;
        }
        Ok(Applied { value, entry })
    }
}

/// The project as a value to compare: its stored form, secret digests
/// included (digests only: no secret is ever held by a project).
fn snapshot(project: &Project) -> Option<serde_json::Value> {
    serde_json::to_value(project).ok()
}
