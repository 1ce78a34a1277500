//! Every store trait works through `&T`, `Arc<T>` and `Box<T>`, and as a
//! trait object picked at run time (`store::Box*` / `store::Arc*`), whose
//! failures arrive as one `StoreError` that keeps the store's own error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::{Future, ready};
use std::sync::Arc;

use kb_sso::store::memory::{
    MemoryAuditSink, MemoryCodeStore, MemoryConfigStore, MemoryNotifier, MemoryRateLimiter, MemoryReplayCache,
    MemorySessionRevocations,
};
use kb_sso::store::{
    ArcConfigStore, ArcNotifier, BoxAuditSink, BoxCodeStore, BoxRateLimiter, BoxReplayCache, BoxSessionRevocations,
    StoreError,
};
use kb_sso::{
    Administrator, AuditSink, CheckpointKey, ClientCredentials, CodeDigest, CodeIssuer, CodeStore, ConfigStore,
    IdentityServer, JwtConfig, Notification, Notifier, Project, ProjectSettings, Recipients, Redemption, ReplayCache,
    SessionRevocations, SettableClock, SigningKey, StaleRevision, TokenSigner,
};
use kb_sso::{Decision, Limit, RateLimiter};
use time::{Duration, OffsetDateTime, macros::datetime};

const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

fn is_code_store<S: CodeStore>(_: &S) {}
fn is_config_store<S: ConfigStore>(_: &S) {}
fn is_replay_cache<S: ReplayCache>(_: &S) {}
fn is_revocations<S: SessionRevocations>(_: &S) {}
fn is_limiter<S: RateLimiter>(_: &S) {}
fn is_sink<S: AuditSink>(_: &S) {}
fn is_notifier<S: Notifier>(_: &S) {}

macro_rules! through_pointers {
    ($check:ident, $store:expr) => {{
        let store = $store;
        $check(&&store);
        $check(&Arc::new($store));
        $check(&Box::new($store));
        $check(&store);
    }};
}

#[test]
fn every_store_trait_is_implemented_for_references_arcs_and_boxes() {
    let project = || Project::new(ProjectSettings::default(), vec![], vec![]).unwrap();
    let key = || CheckpointKey::new(&[7; 32]).unwrap();
    through_pointers!(is_code_store, MemoryCodeStore::new());
    through_pointers!(is_config_store, MemoryConfigStore::new(project()));
    through_pointers!(is_replay_cache, MemoryReplayCache::new());
    through_pointers!(is_revocations, MemorySessionRevocations::new());
    through_pointers!(is_limiter, MemoryRateLimiter::new());
    through_pointers!(is_sink, MemoryAuditSink::new(key()));
    through_pointers!(is_notifier, MemoryNotifier::default());
}

/// The code flow of the quickstart, with its stores picked at run time.
#[tokio::test]
async fn the_code_flow_runs_on_stores_chosen_at_run_time() {
    let (config, secrets) = JwtConfig::builder("Portal", "https://app.example.com/login")
        .build()
        .unwrap();
    let client_id = config.client_id().clone();
    let configs: ArcConfigStore = Arc::new(MemoryConfigStore::new(
        Project::new(ProjectSettings::default(), vec![config], vec![]).unwrap(),
    ));
    let codes: BoxCodeStore = Box::new(MemoryCodeStore::new());
    let identity = IdentityServer::new(
        configs,
        CodeIssuer::new(codes, SettableClock::new(T0)),
        TokenSigner::new(SigningKey::generate_ed25519("k").unwrap()),
        "https://kb.example.com",
    );
    let credentials = ClientCredentials::new(client_id.as_str(), secrets.primary.clone());
    let body = br#"{"username":"john.doe","firstName":"John","lastName":"Doe","emailId":"john.doe@example.com"}"#;
    let code = identity.issue_code(&credentials, body).await.unwrap();
    assert!(identity.exchange(code.expose(), None).await.is_ok());
    assert!(identity.exchange(code.expose(), None).await.is_err(), "single use");
}

#[tokio::test]
async fn a_dyn_config_store_saves_against_the_revision_it_read() {
    let configs: ArcConfigStore = Arc::new(MemoryConfigStore::new(
        Project::new(ProjectSettings::default(), vec![], vec![]).unwrap(),
    ));
    let admin = Administrator("ada".into());
    let first = configs.current().await.unwrap();
    let mut draft = Project::clone(&first.project);
    let created = draft
        .create(
            &admin,
            T0,
            JwtConfig::builder("Portal", "https://app.example.com/login"),
        )
        .unwrap();
    let revision = configs.save(first.revision, draft.clone()).await.unwrap().unwrap();
    assert!(revision > first.revision);
    let now = configs.current().await.unwrap();
    assert_eq!(now.revision, revision);
    assert!(now.project.jwt_config(&created.value.0).is_some());
    // A save computed from the old revision is refused and changes nothing.
    let stale = configs.save(first.revision, Project::default()).await.unwrap();
    assert_eq!(
        stale,
        Err(StaleRevision {
            base: first.revision,
            current: revision
        })
    );
    assert_eq!(configs.current().await.unwrap().project.jwt_configs().len(), 1);
}

#[tokio::test]
async fn dyn_stores_answer_as_the_stores_inside() {
    let codes: BoxCodeStore = Box::new(MemoryCodeStore::new());
    assert_eq!(
        codes.redeem(CodeDigest::of("x"), T0).await.unwrap(),
        Redemption::Unknown
    );

    let replay: BoxReplayCache = Box::new(MemoryReplayCache::new());
    let until = T0 + Duration::minutes(1);
    assert!(replay.insert_if_absent("k", until, T0).await.unwrap());
    assert!(!replay.insert_if_absent("k", until, T0).await.unwrap());
    assert!(
        replay
            .insert_if_absent("k", until + Duration::minutes(1), until)
            .await
            .unwrap()
    );

    let revoked: BoxSessionRevocations = Box::new(MemorySessionRevocations::new());
    revoked.revoke("s", until, T0).await.unwrap();
    assert!(revoked.is_revoked("s", T0).await.unwrap());
    assert!(!revoked.is_revoked("s", until).await.unwrap());

    let limiter: BoxRateLimiter = Box::new(MemoryRateLimiter::new());
    let limit = Limit::per_minute(1).unwrap();
    limiter.fail("a", limit, T0).await.unwrap();
    assert!(matches!(
        limiter.check("a", limit, T0).await.unwrap(),
        Decision::Limited { .. }
    ));
    assert_eq!(limiter.check("b", limit, T0).await.unwrap(), Decision::Allowed);

    let sink: BoxAuditSink = Box::new(MemoryAuditSink::new(CheckpointKey::new(&[7; 32]).unwrap()));
    let mut project = Project::new(ProjectSettings::default(), vec![], vec![]).unwrap();
    let builder = JwtConfig::builder("Portal", "https://app.example.com/login");
    let event = project.create(&Administrator("ada".into()), T0, builder).unwrap().event;
    let entry = sink.append(event).await.unwrap();
    assert_eq!(sink.checkpoint().await.unwrap().head(), &entry.head());

    let kept = Arc::new(MemoryNotifier::default());
    let notifier: ArcNotifier = kept.clone();
    let note = Notification {
        recipients: Recipients::ProjectAdmins,
        message: "hi".into(),
        event: None,
    };
    notifier.notify(note.clone()).await.unwrap();
    assert_eq!(kept.sent(), [note]);
}

#[derive(Debug, thiserror::Error)]
#[error("replay store down")]
struct Down;

struct Broken;

impl ReplayCache for Broken {
    type Error = Down;
    fn insert_if_absent(
        &self,
        _: &str,
        _: OffsetDateTime,
        _: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, Down>> + Send {
        ready(Err(Down))
    }
}

#[tokio::test]
async fn a_dyn_stores_failure_is_one_store_error_around_the_stores_own() {
    let inner: BoxReplayCache = Box::new(Broken);
    // Boxed twice: still one StoreError, whose cause is the store's.
    let outer: BoxReplayCache = Box::new(inner);
    let err: StoreError = outer.insert_if_absent("k", T0, T0).await.unwrap_err();
    assert_eq!(err.to_string(), "replay store down");
    assert!(err.downcast_ref::<Down>().is_some());
    assert!(err.into_inner().downcast::<Down>().is_ok());
}
