//! The admin service: every operation saved, audited and notified as one,
//! and nothing kept when the audit sink refuses.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use kb_sso::store::memory::{MemoryAuditSink, MemoryConfigStore, MemoryNotifier};
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

type MemAdmin = Admin<MemoryConfigStore, MemoryAuditSink, MemoryNotifier>;

fn service(clock: Arc<SettableClock>) -> MemAdmin {
    Admin::new(
        MemoryConfigStore::new(Project::default()),
        MemoryAuditSink::new(key()),
        MemoryNotifier::default(),
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
    let (log_before, sent_before) = (entries(admin).await.len(), admin.notifier().sent().len());
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
    let sent = admin.notifier().sent();
    assert_eq!(sent.len(), sent_before + 1, "{action}: exactly one notification");
    let n = &sent[sent_before];
    assert_eq!(n.recipients, recipients, "{action}");
    assert_eq!(n.event.as_ref(), Some(&entry.event), "{action}");
    applied.value
}

async fn project(admin: &MemAdmin) -> Project {
    current(admin.store()).await
}

async fn current<CS: ConfigStore>(store: &CS) -> Project {
    Project::clone(&store.current().await.unwrap().project)
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
        admin.set_direct_jwt_login(&who, false, true)
    })
    .await;
    assert!(!project(&admin).await.settings().direct_jwt_login);
    audited(&admin, c, AuditAction::EnableDirectJwtLogin, None, admins, || {
        admin.set_direct_jwt_login(&who, true, true)
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

#[tokio::test]
async fn handshake_widget_and_sso_operations_change_the_project_append_their_entry_and_notify() {
    let clock = Arc::new(SettableClock::new(T0));
    let (widget, widget_secret) = WidgetProject::builder("project-1").widget("w1").build().unwrap();
    let admin = Admin::new(
        MemoryConfigStore::new(Project::default().with_widget(widget)),
        MemoryAuditSink::new(key()),
        MemoryNotifier::default(),
        clock.clone(),
    );
    let c = &*clock;
    let who = alice();
    let admins = Recipients::ProjectAdmins;
    let owners = Recipients::ProjectAdminsAndOwners;

    // A configuration created with Ed25519 handshakes: its key pair comes
    // back once, and the project keeps only the public key.
    let ed = HandshakeOptions::new(HandshakeAlg::Ed25519);
    let created = audited(&admin, c, AuditAction::Create, Some("Docs"), admins, || {
        admin.create_with_handshake(&who, cfg("Docs", "docs.example.com"), Some(&ed))
    })
    .await;
    let id = created.client_id.clone();
    let pair = created.key_pair.expect("an Ed25519 key pair");
    assert!(pair.private_key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert!(
        !format!("{pair:?}").contains("PRIVATE KEY"),
        "Debug redacts the private key"
    );
    let p = project(&admin).await;
    let h = p.handshake(&id).unwrap();
    assert_eq!(h.key().ed25519_public_key_pem().unwrap(), pair.public_key_pem);

    // Options changed (same algorithm): an update listing the fields.
    let options = HandshakeOptions {
        issuer: Some("https://app.example.com".into()),
        require_jti: true,
        ..ed.clone()
    };
    let issued = audited(&admin, c, AuditAction::Update, Some("Docs"), admins, || {
        admin.set_handshake(&who, &id, Some(&options))
    })
    .await;
    assert!(issued.key_pair.is_none(), "same algorithm: the key is kept");
    let fields: Vec<String> = entries(&admin)
        .await
        .last()
        .unwrap()
        .event
        .changes()
        .iter()
        .map(|f| f.field().to_owned())
        .collect();
    assert_eq!(fields, ["handshake.issuer", "handshake.require_jti"]);
    assert_eq!(project(&admin).await.handshake(&id).unwrap().options(), options);

    // A new key pair: owners told too, the public key replaced.
    let second = audited(
        &admin,
        c,
        AuditAction::GenerateHandshakeKey,
        Some("Docs"),
        owners,
        || admin.generate_handshake_key(&who, &id),
    )
    .await;
    assert_ne!(second.public_key_pem, pair.public_key_pem);
    let p = project(&admin).await;
    assert_eq!(
        p.handshake(&id).unwrap().key().ed25519_public_key_pem().unwrap(),
        second.public_key_pem
    );
    assert_eq!(
        p.handshake(&id).unwrap().options(),
        options,
        "the other options are kept"
    );

    // Handshakes off.
    audited(&admin, c, AuditAction::Update, Some("Docs"), admins, || {
        admin.set_handshake(&who, &id, None)
    })
    .await;
    assert!(project(&admin).await.handshake(&id).is_none());

    // The widget secret.
    let new_widget = audited(&admin, c, AuditAction::RegenerateWidgetSecret, None, owners, || {
        admin.regenerate_widget_secret(&who)
    })
    .await;
    let p = project(&admin).await;
    let w = p.widget().unwrap();
    assert!(!w.accepts_secret(widget_secret.expose().as_bytes()));
    assert!(w.accepts_secret(new_widget.expose().as_bytes()));

    // SSO providers.
    let okta = SsoProvider {
        name: "Okta".into(),
        kind: SsoKind::Saml,
        enabled: true,
        cta_position: 0,
    };
    audited(&admin, c, AuditAction::CreateSsoProvider, Some("Okta"), admins, || {
        admin.create_sso_provider(&who, okta.clone())
    })
    .await;
    assert_eq!(project(&admin).await.sso_providers(), std::slice::from_ref(&okta));
    let renamed = SsoProvider {
        name: "Okta SAML".into(),
        enabled: false,
        ..okta.clone()
    };
    audited(&admin, c, AuditAction::UpdateSsoProvider, Some("Okta"), admins, || {
        admin.update_sso_provider(&who, "Okta", renamed.clone())
    })
    .await;
    assert_eq!(project(&admin).await.sso_providers(), [renamed]);
    audited(
        &admin,
        c,
        AuditAction::DeleteSsoProvider,
        Some("Okta SAML"),
        admins,
        || admin.delete_sso_provider(&who, "okta saml"),
    )
    .await;
    assert!(project(&admin).await.sso_providers().is_empty());

    // Refused: nothing appended, nothing changed.
    let before = entries(&admin).await.len();
    let err = admin.set_direct_jwt_login(&who, false, false).await.unwrap_err();
    assert!(
        matches!(err, AdminError::Config(ConfigError::ConfirmationRequired)),
        "{err:?}"
    );
    assert!(project(&admin).await.settings().direct_jwt_login);
    let err = admin.delete_sso_provider(&who, "Nobody").await.unwrap_err();
    assert!(
        matches!(err, AdminError::Config(ConfigError::UnknownSsoProvider)),
        "{err:?}"
    );
    assert_eq!(entries(&admin).await.len(), before);
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
        MemoryNotifier::default(),
        SettableClock::new(T0),
    );
    let snapshot = |p: &Project| serde_json::to_value(p).unwrap();

    let err = admin.regenerate_primary_secret(&alice(), &id).await.unwrap_err();
    assert!(matches!(err, AdminError::Audit(_)), "{err:?}");
    let now = current(admin.store()).await;
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
    let err = admin.set_direct_jwt_login(&alice(), false, true).await.unwrap_err();
    assert!(matches!(err, AdminError::Audit(_)), "{err:?}");
    let err = admin.delete(&alice(), &id).await.unwrap_err();
    assert!(matches!(err, AdminError::Audit(_)), "{err:?}");

    let now = current(admin.store()).await;
    assert_eq!(snapshot(&now), snapshot(&start), "the project is unchanged");
    assert!(admin.notifier().sent().is_empty(), "nobody was notified");
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
    let (log, sent) = (entries(&admin).await.len(), admin.notifier().sent().len());
    let err = admin.create(&alice(), cfg("c6", "c6.example.com")).await.unwrap_err();
    assert!(
        matches!(err, AdminError::Config(ConfigError::TooManyConfigs)),
        "{err:?}"
    );
    let err = admin.delete(&alice(), &ClientId::generate()).await.unwrap_err();
    assert!(matches!(err, AdminError::Config(ConfigError::UnknownConfig)), "{err:?}");
    assert_eq!(entries(&admin).await.len(), log, "nothing appended");
    assert_eq!(admin.notifier().sent().len(), sent, "nobody notified");
    assert_eq!(project(&admin).await.jwt_configs().len(), 5);
}

/// When another admin's change lands on a store.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Race {
    /// Right after the service's first read.
    AfterRead,
    /// Right before the service's save.
    BeforeSave,
}

/// A store in which another admin's change lands once, at `race`.
struct RacingStore {
    inner: MemoryConfigStore,
    race: Race,
    pending: AtomicBool,
}

impl RacingStore {
    fn new(race: Race) -> Self {
        Self {
            inner: MemoryConfigStore::new(Project::default()),
            race,
            pending: AtomicBool::new(true),
        }
    }

    /// Bob disables the default login page, once.
    fn bob_changes(&self, at: Race) {
        if self.race == at && self.pending.swap(false, Ordering::SeqCst) {
            let snapshot = self.inner.snapshot();
            let mut p = Project::clone(&snapshot.project);
            let _ = p.set_default_login_page_disabled(&Administrator("bob@kb.example.com".into()), T0, true);
            let store = &self.inner;
            futures_lite_block_on(store.save(snapshot.revision, p))
                .unwrap()
                .unwrap();
        }
    }
}

/// Runs a future the memory store answers at once.
fn futures_lite_block_on<F: Future>(f: F) -> F::Output {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("the memory store answers at once"),
    }
}

impl ConfigStore for RacingStore {
    type Error = std::convert::Infallible;
    #[allow(clippy::manual_async_fn)] // the trait asks for a `Send` future
    fn current(&self) -> impl Future<Output = Result<ProjectSnapshot, Self::Error>> + Send {
        async move {
            let read = self.inner.current().await?;
            self.bob_changes(Race::AfterRead);
            Ok(read)
        }
    }
    #[allow(clippy::manual_async_fn)]
    fn save(
        &self,
        base: Revision,
        project: Project,
    ) -> impl Future<Output = Result<Result<Revision, StaleRevision>, Self::Error>> + Send {
        async move {
            self.bob_changes(Race::BeforeSave);
            self.inner.save(base, project).await
        }
    }
}

#[tokio::test]
async fn a_change_that_lands_before_the_save_is_a_conflict_and_is_not_overwritten() {
    let admin = Admin::new(
        RacingStore::new(Race::BeforeSave),
        MemoryAuditSink::new(key()),
        MemoryNotifier::default(),
        SettableClock::new(T0),
    );
    let err = admin.set_direct_jwt_login(&alice(), false, true).await.unwrap_err();
    assert!(matches!(err, AdminError::Conflict), "{err:?}");
    let p = current(admin.store()).await;
    assert!(p.settings().direct_jwt_login, "the conflicting change was not saved");
    assert!(p.settings().disable_default_login_page, "the concurrent change stands");
    assert!(
        admin.notifier().sent().is_empty(),
        "nobody notified of an unsaved change"
    );
    // Retrying against the new project succeeds.
    let _ = admin.set_direct_jwt_login(&alice(), false, true).await.unwrap();
    assert!(!current(admin.store()).await.settings().direct_jwt_login);
}

#[tokio::test]
async fn a_change_that_lands_after_the_read_is_kept_and_the_operation_recomputed() {
    let admin = Admin::new(
        RacingStore::new(Race::AfterRead),
        MemoryAuditSink::new(key()),
        MemoryNotifier::default(),
        SettableClock::new(T0),
    );
    let _ = admin.set_direct_jwt_login(&alice(), false, true).await.unwrap();
    let p = current(admin.store()).await;
    assert!(!p.settings().direct_jwt_login, "the operation was saved");
    assert!(
        p.settings().disable_default_login_page,
        "on top of the concurrent change"
    );
    assert_eq!(entries(&admin).await.len(), 1, "one entry: the one saved");
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
    let err = admin.set_direct_jwt_login(&alice(), false, true).await.unwrap_err();
    assert!(matches!(err, AdminError::Notify(_)), "{err:?}");
    assert!(!current(admin.store()).await.settings().direct_jwt_login);
    assert_eq!(entries(&admin).await.len(), 1);
}
