//! The admin service: every operation saved, audited and notified as one,
//! and nothing kept when the audit sink refuses.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use kb_sso::store::memory::{MemoryAuditSink, MemoryConfigStore, MemoryOutbox};
use kb_sso::*;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const T0: OffsetDateTime = datetime!(2026-05-01 10:00 UTC);

fn alice() -> Administrator {
    Administrator("alice@kb.example.com".into())
}

fn key() -> CheckpointKey {
    CheckpointKey::new(&[7; 32]).unwrap()
}

fn cfg(name: &str, host: &str) -> JwtConfigBuilder {
    JwtConfig::builder(name, format!("https://{host}/login"))
}

type MemAdmin = Admin<MemoryConfigStore, MemoryAuditSink, MemoryOutbox>;

fn service(clock: Arc<SettableClock>) -> MemAdmin {
    Admin::new(
        MemoryConfigStore::new(Project::default()),
        MemoryAuditSink::new(key()),
        MemoryOutbox::new(),
        clock,
    )
}

async fn entries<CS: ConfigStore, N: Notifier>(admin: &Admin<CS, MemoryAuditSink, N>) -> Vec<AuditEntry> {
    let reader = Principal {
        id: "auditor".into(),
        security_audit: true,
    };
    let access = reader.security_audit_access().unwrap();
    admin.audit().read(&access).await.unwrap().entries
}

/// Runs `op`, then checks that exactly one entry (with this action,
/// administrator, configuration name and time) was appended and exactly its
/// notification was queued, to these recipients.
async fn audited<T, Fut>(
    admin: &MemAdmin,
    clock: &SettableClock,
    action: AuditAction,
    name: Option<&str>,
    recipients: Recipients,
    op: impl FnOnce() -> Fut,
) -> T
where
    Fut: Future<Output = Result<Applied<T>, AdminError>>,
{
    clock.advance(Duration::minutes(1));
    let (log_before, sent_before) = (entries(admin).await.len(), admin.notifier().queued().len());
    let applied = op().await.unwrap();
    let log = entries(admin).await;
    assert_eq!(log.len(), log_before + 1, "{action}: exactly one entry");
    let entry = &log[log_before];
    assert_eq!(
        entry, &applied.entry,
        "{action}: the entry returned is the one appended"
    );
    assert_eq!(entry.event.action(), action);
    assert_eq!(entry.event.administrator(), &alice());
    assert_eq!(entry.event.config_name(), name);
    assert_eq!(entry.event.at(), clock.now(), "{action}: the service's clock");
    let sent = admin.notifier().queued();
    assert_eq!(sent.len(), sent_before + 1, "{action}: exactly one notification");
    let n = &sent[sent_before];
    assert_eq!(n.recipients, recipients, "{action}");
    assert_eq!(n.event.as_ref(), Some(&entry.event), "{action}");
    applied.value
}

async fn project(admin: &MemAdmin) -> Project {
    admin.store().project().await.unwrap()
}

#[tokio::test]
async fn every_operation_changes_the_project_appends_its_entry_and_notifies() {
    let clock = Arc::new(SettableClock::new(T0));
    let admin = service(clock.clone());
    let c = &*clock;
    let who = alice();
    let admins = Recipients::ProjectAdmins;
    let owners = Recipients::ProjectAdminsAndOwners;

    let (id, secrets) = audited(&admin, c, AuditAction::Create, Some("Portal"), admins, || {
        admin.create(&who, cfg("Portal", "app.example.com"))
    })
    .await;
    assert_eq!(project(&admin).await.jwt_config(&id).unwrap().name(), "Portal");

    let update = project(&admin)
        .await
        .jwt_config(&id)
        .unwrap()
        .to_builder()
        .name("Portal 2");
    audited(&admin, c, AuditAction::Update, Some("Portal"), admins, || {
        admin.update(&who, &id, update)
    })
    .await;
    assert_eq!(project(&admin).await.jwt_config(&id).unwrap().name(), "Portal 2");
    assert_eq!(entries(&admin).await[1].event.changes()[0].field(), "name");

    audited(&admin, c, AuditAction::Disable, Some("Portal 2"), admins, || {
        admin.set_enabled(&who, &id, false)
    })
    .await;
    assert!(!project(&admin).await.jwt_config(&id).unwrap().is_enabled());
    audited(&admin, c, AuditAction::Enable, Some("Portal 2"), admins, || {
        admin.set_enabled(&who, &id, true)
    })
    .await;
    assert!(project(&admin).await.jwt_config(&id).unwrap().is_enabled());

    let primary = audited(
        &admin,
        c,
        AuditAction::RegeneratePrimaryToken,
        Some("Portal 2"),
        owners,
        || admin.regenerate_primary_secret(&who, &id),
    )
    .await;
    let p = project(&admin).await;
    let config = p.jwt_config(&id).unwrap();
    assert!(!config.accepts_secret(secrets.primary.expose().as_bytes()));
    assert!(config.accepts_secret(primary.expose().as_bytes()));
    assert!(config.accepts_secret(secrets.secondary.expose().as_bytes()));

    let secondary = audited(
        &admin,
        c,
        AuditAction::RegenerateSecondaryToken,
        Some("Portal 2"),
        owners,
        || admin.regenerate_secondary_secret(&who, &id),
    )
    .await;
    let p = project(&admin).await;
    let config = p.jwt_config(&id).unwrap();
    assert!(!config.accepts_secret(secrets.secondary.expose().as_bytes()));
    assert!(config.accepts_secret(secondary.expose().as_bytes()));
    assert!(config.accepts_secret(primary.expose().as_bytes()));

    audited(&admin, c, AuditAction::DisableDirectJwtLogin, None, admins, || {
        admin.set_direct_jwt_login(&who, false)
    })
    .await;
    assert!(!project(&admin).await.settings().direct_jwt_login);
    audited(&admin, c, AuditAction::EnableDirectJwtLogin, None, admins, || {
        admin.set_direct_jwt_login(&who, true)
    })
    .await;
    assert!(project(&admin).await.settings().direct_jwt_login);

    audited(
        &admin,
        c,
        AuditAction::EnableDefaultLoginPageToggle,
        None,
        admins,
        || admin.set_default_login_page_disabled(&who, true),
    )
    .await;
    assert!(project(&admin).await.settings().disable_default_login_page);
    audited(
        &admin,
        c,
        AuditAction::DisableDefaultLoginPageToggle,
        None,
        admins,
        || admin.set_default_login_page_disabled(&who, false),
    )
    .await;
    assert!(!project(&admin).await.settings().disable_default_login_page);

    audited(&admin, c, AuditAction::Delete, Some("Portal 2"), admins, || {
        admin.delete(&who, &id)
    })
    .await;
    assert!(project(&admin).await.jwt_config(&id).is_none());

    let log = entries(&admin).await;
    assert_eq!(log.len(), 11, "one entry per operation");
    let reader = Principal {
        id: "auditor".into(),
        security_audit: true,
    };
    let access = reader.security_audit_access().unwrap();
    admin.audit().read(&access).await.unwrap().verify(&key()).unwrap();
}

/// An audit sink that refuses everything.
struct FailingSink;

fn refused() -> io::Error {
    io::Error::other("audit store unavailable")
}

impl AuditSink for FailingSink {
    type Error = io::Error;
    fn append(&self, _event: AuditEvent) -> impl Future<Output = Result<AuditEntry, io::Error>> + Send {
        std::future::ready(Err(refused()))
    }
    fn checkpoint(&self) -> impl Future<Output = Result<Checkpoint, io::Error>> + Send {
        std::future::ready(Err(refused()))
    }
    fn read(&self, _access: &SecurityAuditAccess) -> impl Future<Output = Result<AuditLog, io::Error>> + Send {
        std::future::ready(Err(refused()))
    }
    fn purge(
        &self,
        _now: OffsetDateTime,
        _retention: Duration,
    ) -> impl Future<Output = Result<usize, io::Error>> + Send {
        std::future::ready(Err(refused()))
    }
}

#[tokio::test]
async fn a_failing_audit_sink_makes_the_operation_fail_and_changes_nothing() {
    let (config, secrets) = cfg("Portal", "app.example.com").build().unwrap();
    let id = config.client_id().clone();
    let start = Project::new(ProjectSettings::default(), vec![config], vec![]).unwrap();
    let admin = Admin::new(
        MemoryConfigStore::new(start.clone()),
        FailingSink,
        MemoryOutbox::new(),
        SettableClock::new(T0),
    );
    let snapshot = |p: &Project| serde_json::to_value(p).unwrap();

    let err = admin.regenerate_primary_secret(&alice(), &id).await.unwrap_err();
    assert!(matches!(err, AdminError::Audit(_)), "{err:?}");
    let now = admin.store().project().await.unwrap();
    assert!(
        now.jwt_config(&id)
            .unwrap()
            .accepts_secret(secrets.primary.expose().as_bytes())
    );

    let err = admin
        .create(&alice(), cfg("Other", "other.example.com"))
        .await
        .unwrap_err();
    assert!(matches!(err, AdminError::Audit(_)), "{err:?}");
    let err = admin.set_enabled(&alice(), &id, false).await.unwrap_err();
    assert!(matches!(err, AdminError::Audit(_)), "{err:?}");
    let err = admin.set_direct_jwt_login(&alice(), false).await.unwrap_err();
    assert!(matches!(err, AdminError::Audit(_)), "{err:?}");
    let err = admin.delete(&alice(), &id).await.unwrap_err();
    assert!(matches!(err, AdminError::Audit(_)), "{err:?}");

    let now = admin.store().project().await.unwrap();
    assert_eq!(snapshot(&now), snapshot(&start), "the project is unchanged");
    assert!(admin.notifier().queued().is_empty(), "nobody was notified");
}

#[tokio::test]
async fn a_refused_operation_appends_nothing_and_notifies_nobody() {
    let admin = service(Arc::new(SettableClock::new(T0)));
    for i in 0..5 {
        let _ = admin
            .create(&alice(), cfg(&format!("c{i}"), &format!("c{i}.example.com")))
            .await
            .unwrap();
    }
    let (log, sent) = (entries(&admin).await.len(), admin.notifier().queued().len());
    let err = admin.create(&alice(), cfg("c6", "c6.example.com")).await.unwrap_err();
    assert!(
        matches!(err, AdminError::Config(ConfigError::TooManyConfigs)),
        "{err:?}"
    );
    let err = admin.delete(&alice(), &ClientId::generate()).await.unwrap_err();
    assert!(matches!(err, AdminError::Config(ConfigError::UnknownConfig)), "{err:?}");
    assert_eq!(entries(&admin).await.len(), log, "nothing appended");
    assert_eq!(admin.notifier().queued().len(), sent, "nobody notified");
    assert_eq!(project(&admin).await.jwt_configs().len(), 5);
}

/// A store in which another admin operation lands right after the service
/// reads the project.
struct RacingStore {
    inner: MemoryConfigStore,
    race: AtomicBool,
}

impl ConfigStore for RacingStore {
    type Error = std::convert::Infallible;
    fn get(&self, client_id: &ClientId) -> impl Future<Output = Result<Option<JwtConfig>, Self::Error>> + Send {
        self.inner.get(client_id)
    }
    #[allow(clippy::manual_async_fn)] // the trait asks for a `Send` future
    fn project(&self) -> impl Future<Output = Result<Project, Self::Error>> + Send {
        async move {
            let read = self.inner.project().await?;
            if self.race.swap(false, Ordering::SeqCst) {
                let bob = Administrator("bob@kb.example.com".into());
                let _ = self
                    .inner
                    .modify(move |p| Ok(p.set_default_login_page_disabled(&bob, T0, true)))
                    .await?;
            }
            Ok(read)
        }
    }
    fn modify<T, F>(&self, f: F) -> impl Future<Output = Result<Result<T, ConfigError>, Self::Error>> + Send
    where
        T: Send,
        F: FnOnce(&mut Project) -> Result<T, ConfigError> + Send,
    {
        self.inner.modify(f)
    }
}

#[tokio::test]
async fn a_concurrent_change_is_a_conflict_and_is_not_overwritten() {
    let store = RacingStore {
        inner: MemoryConfigStore::new(Project::default()),
        race: AtomicBool::new(true),
    };
    let admin = Admin::new(
        store,
        MemoryAuditSink::new(key()),
        MemoryOutbox::new(),
        SettableClock::new(T0),
    );
    let err = admin.set_direct_jwt_login(&alice(), false).await.unwrap_err();
    assert!(matches!(err, AdminError::Conflict), "{err:?}");
    let p = admin.store().project().await.unwrap();
    assert!(p.settings().direct_jwt_login, "the conflicting change was not saved");
    assert!(p.settings().disable_default_login_page, "the concurrent change stands");
    assert!(
        admin.notifier().queued().is_empty(),
        "nobody notified of an unsaved change"
    );
    // Retrying against the new project succeeds.
    let _ = admin.set_direct_jwt_login(&alice(), false).await.unwrap();
    assert!(!admin.store().project().await.unwrap().settings().direct_jwt_login);
}

/// A notifier that cannot queue anything.
struct FailingNotifier;

impl Notifier for FailingNotifier {
    type Error = io::Error;
    fn notify(&self, _n: Notification) -> impl Future<Output = Result<(), io::Error>> + Send {
        std::future::ready(Err(io::Error::other("outbox full")))
    }
}

#[tokio::test]
async fn a_failing_notifier_is_reported_after_the_change_is_saved_and_audited() {
    let admin = Admin::new(
        MemoryConfigStore::new(Project::default()),
        MemoryAuditSink::new(key()),
        FailingNotifier,
        SettableClock::new(T0),
    );
    let err = admin.set_direct_jwt_login(&alice(), false).await.unwrap_err();
    assert!(matches!(err, AdminError::Notify(_)), "{err:?}");
    assert!(!admin.store().project().await.unwrap().settings().direct_jwt_login);
    assert_eq!(entries(&admin).await.len(), 1);
}
