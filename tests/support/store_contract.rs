//! The contract of a durable store (project, audit log, outbox), checked
//! the same way on every engine: each scenario takes two store values on
//! one database, as two app instances would hold them.

use std::collections::BTreeSet;
use std::sync::Arc;

use kb_sso::*;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

/// A store the scenarios run against: all three traits in one value.
pub(crate) trait DurableStore: ConfigStore + AuditSink + NotificationOutbox + 'static {}
impl<T: ConfigStore + AuditSink + NotificationOutbox + 'static> DurableStore for T {}

pub(crate) const T0: OffsetDateTime = datetime!(2026-03-01 00:00 UTC);

pub(crate) fn key() -> CheckpointKey {
    CheckpointKey::new(&[7; 32]).unwrap()
}

pub(crate) fn access() -> SecurityAuditAccess {
    Principal {
        id: "auditor".into(),
        security_audit: true,
    }
    .security_audit_access()
    .unwrap()
}

fn admin() -> Administrator {
    Administrator("alice@kb.example.com".into())
}

/// The project in `store` with one more configuration named `name`.
pub(crate) async fn with_config<S: ConfigStore>(store: &S, name: &str) -> (Revision, Project) {
    let current = store.current().await.unwrap();
    let mut project = Project::clone(&current.project);
    let _ = project
        .create(
            &admin(),
            T0,
            JwtConfig::builder(name, format!("https://{name}.example.com/login")),
        )
        .unwrap();
    (current.revision, project)
}

pub(crate) fn names(project: &Project) -> BTreeSet<String> {
    project.jwt_configs().iter().map(|c| c.name().to_owned()).collect()
}

/// An event at `at` (toggling the default login page).
pub(crate) fn event(at: OffsetDateTime, n: u32) -> AuditEvent {
    let mut project = Project::default();
    project
        .set_default_login_page_disabled(&Administrator(format!("admin{n}")), at, n.is_multiple_of(2))
        .event
}

pub(crate) fn notification(subject: &str) -> Notification {
    Notification {
        recipients: Recipients::ProjectAdmins,
        subject: subject.into(),
        message: format!("message of {subject}"),
        at: T0,
        event: None,
    }
}

/// Two writers save from one revision: one wins, the other is told the
/// revision moved and nothing it did not see is overwritten; retried from
/// the new revision, both changes are kept. The loser's store sees the
/// winner's save on its next `current()`.
pub(crate) async fn compare_and_swap<S: DurableStore>(a: &S, b: &S) {
    let (base, from_a) = with_config(a, "alpha").await;
    let (base_b, from_b) = with_config(b, "beta").await;
    assert_eq!(base, base_b, "both start from one revision");
    let won = a.save(base, from_a).await.unwrap().unwrap();
    assert_eq!(won, Revision(base.0 + 1));
    let lost = b.save(base, from_b).await.unwrap().unwrap_err();
    assert_eq!(lost, StaleRevision { base, current: won });
    let seen = b.current().await.unwrap();
    assert_eq!(seen.revision, won, "b sees a's save at once");
    assert_eq!(names(&seen.project), BTreeSet::from(["alpha".to_owned()]));
    let (base, retried) = with_config(b, "beta").await;
    let after = b.save(base, retried).await.unwrap().unwrap();
    let seen = a.current().await.unwrap();
    assert_eq!(seen.revision, after);
    assert_eq!(
        names(&seen.project),
        BTreeSet::from(["alpha".to_owned(), "beta".to_owned()]),
        "nothing lost"
    );
}

/// Of many concurrent saves from one revision across two stores, exactly
/// one succeeds.
pub(crate) async fn concurrent_saves<S: DurableStore>(a: Arc<S>, b: Arc<S>) {
    let current = a.current().await.unwrap();
    let base = current.revision;
    let mut tasks = Vec::new();
    for i in 0..8u32 {
        let store = if i.is_multiple_of(2) {
            Arc::clone(&a)
        } else {
            Arc::clone(&b)
        };
        let mut project = Project::clone(&current.project);
        tasks.push(tokio::spawn(async move {
            let _ = project
                .create(
                    &admin(),
                    T0,
                    JwtConfig::builder(format!("c{i}"), format!("https://c{i}.example.com/login")),
                )
                .unwrap();
            store.save(base, project).await.unwrap().is_ok()
        }));
    }
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1, "one save from one revision wins");
    let now = a.current().await.unwrap();
    assert_eq!(now.revision, Revision(base.0 + 1));
    assert_eq!(names(&now.project).len(), names(&current.project).len() + 1);
}

/// Appends from two stores at once make one chain, which verifies against
/// the checkpoint either store reads.
pub(crate) async fn one_chain_under_concurrent_appends<S: DurableStore>(a: Arc<S>, b: Arc<S>) {
    let n: u32 = 40;
    let mut tasks = Vec::new();
    for i in 0..n {
        let store = if i.is_multiple_of(2) {
            Arc::clone(&a)
        } else {
            Arc::clone(&b)
        };
        tasks.push(tokio::spawn(async move {
            store
                .append(event(T0 + Duration::seconds(i.into()), i))
                .await
                .unwrap()
                .seq
        }));
    }
    let mut seqs = BTreeSet::new();
    for t in tasks {
        assert!(seqs.insert(t.await.unwrap()), "two appends never share a seq");
    }
    assert_eq!(seqs, (0..u64::from(n)).collect::<BTreeSet<_>>());
    for store in [&a, &b] {
        let log = store.read(&access()).await.unwrap();
        assert_eq!(log.entries.len(), n as usize);
        log.verify(&key()).unwrap();
        assert_eq!(log.checkpoint.head().len(), u64::from(n));
        assert_eq!(store.checkpoint().await.unwrap().head(), log.checkpoint.head());
    }
}

/// Pages come newest first, a cursor walks every entry once, and the
/// event filter and time range are applied by the store.
pub(crate) async fn query_pages<S: DurableStore>(a: &S) {
    for i in 0..7u32 {
        a.append(event(T0 + Duration::minutes(i.into()), i)).await.unwrap();
    }
    let first = a.query(&access(), &AuditQuery::new().limit(3)).await.unwrap();
    assert_eq!(first.entries.iter().map(|e| e.seq).collect::<Vec<_>>(), [6, 5, 4]);
    let cursor = first.next_cursor.unwrap();
    // An entry appended between pages does not appear on a later one.
    a.append(event(T0 + Duration::minutes(7), 7)).await.unwrap();
    let second = a
        .query(&access(), &AuditQuery::new().limit(3).cursor(cursor))
        .await
        .unwrap();
    assert_eq!(second.entries.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 2, 1]);
    let third = a
        .query(
            &access(),
            &AuditQuery::new().limit(3).cursor(second.next_cursor.unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(third.entries.iter().map(|e| e.seq).collect::<Vec<_>>(), [0]);
    assert_eq!(third.next_cursor, None);

    let ranged = AuditQuery::new()
        .since(T0 + Duration::minutes(2))
        .until(T0 + Duration::minutes(5));
    let page = a.query(&access(), &ranged).await.unwrap();
    assert_eq!(page.entries.iter().map(|e| e.seq).collect::<Vec<_>>(), [4, 3, 2]);

    let log = a.read(&access()).await.unwrap();
    for query in [
        AuditQuery::new().event(EventFilter::Jwt).limit(2),
        AuditQuery::new().event(EventFilter::Action(AuditAction::EnableDefaultLoginPageToggle)),
        AuditQuery::new().event(EventFilter::Action(AuditAction::Create)),
        ranged.event(EventFilter::Action(AuditAction::DisableDefaultLoginPageToggle)),
    ] {
        assert_eq!(
            a.query(&access(), &query).await.unwrap(),
            query.select(&log.entries),
            "the store answers as AuditQuery::select: {query:?}"
        );
    }
}

/// A purge removes only entries past the retention (never younger than 90
/// days) and moves the checkpoint's anchor; the rest still verifies.
pub(crate) async fn purge_keeps_retention<S: DurableStore>(a: &S) {
    let now = T0 + Duration::days(365);
    for (i, age) in [200i64, 120, 91, 89, 10, 0].into_iter().enumerate() {
        let i = u32::try_from(i).unwrap();
        a.append(event(now - Duration::days(age), i)).await.unwrap();
    }
    let removed = a.purge(now, Duration::days(1)).await.unwrap();
    assert_eq!(removed, 3, "asked for one day, kept 90");
    let log = a.read(&access()).await.unwrap();
    assert_eq!(log.entries.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4, 5]);
    assert_eq!(log.checkpoint.anchor().len(), 3);
    log.verify(&key()).unwrap();
    assert_eq!(
        a.purge(now, Duration::days(1)).await.unwrap(),
        0,
        "nothing more to purge"
    );
    let next = a.append(event(now, 9)).await.unwrap();
    assert_eq!(next.seq, 6, "seq numbers are never reused");
    a.read(&access()).await.unwrap().verify(&key()).unwrap();
}

/// Claims from two stores never hand out one entry twice while leased;
/// reports take only the right lease; an ended lease is claimed again.
pub(crate) async fn outbox_across_stores<S: DurableStore>(a: Arc<S>, b: Arc<S>) {
    let lease = Duration::minutes(5);
    for i in 0..10 {
        a.notify(notification(&format!("n{i}"))).await.unwrap();
    }
    let mut tasks = Vec::new();
    for i in 0..6u32 {
        let store = if i.is_multiple_of(2) {
            Arc::clone(&a)
        } else {
            Arc::clone(&b)
        };
        tasks.push(tokio::spawn(async move { store.claim(T0, lease, 2).await.unwrap() }));
    }
    let mut held = Vec::new();
    for t in tasks {
        held.extend(t.await.unwrap());
    }
    let ids: BTreeSet<OutboxId> = held.iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), held.len(), "never handed out twice");
    assert_eq!(held.len(), 10, "every entry claimed once");
    assert!(
        b.claim(T0 + Duration::minutes(4), lease, 10).await.unwrap().is_empty(),
        "all leased"
    );
    let mut subjects: Vec<_> = held.iter().map(|e| e.notification.subject.clone()).collect();
    subjects.sort();
    assert_eq!(subjects.len(), 10);

    held.sort_by_key(|e| e.id);
    let first = held[0].lease().unwrap();
    let second = held[1].lease().unwrap();
    assert!(
        b.mark_sent(first, T0 + Duration::minutes(1)).await.unwrap(),
        "reported through the other store"
    );
    assert!(!a.mark_sent(first, T0).await.unwrap(), "sent once");
    assert!(a.mark_failed(second, T0 + Duration::hours(1)).await.unwrap());
    // Leases end: everything but the sent and the failed one comes back.
    let again = a.claim(T0 + Duration::minutes(5), lease, 100).await.unwrap();
    assert_eq!(again.len(), 8);
    assert!(again.iter().all(|e| e.lease().unwrap().attempt == 2));
    let stale = held[2].lease().unwrap();
    assert!(
        !b.mark_failed(stale, T0).await.unwrap(),
        "a stale lease cannot put it back"
    );
    for entry in &again {
        assert!(
            b.mark_sent(entry.lease().unwrap(), T0 + Duration::minutes(6))
                .await
                .unwrap()
        );
    }
    let retry = b.claim(T0 + Duration::hours(1), lease, 100).await.unwrap();
    assert_eq!(retry.iter().map(|e| e.id).collect::<Vec<_>>(), [second.id]);
    let listed = a.list(100).await.unwrap();
    assert_eq!(listed.len(), 10);
    assert_eq!(listed.last().unwrap().id, held[0].id, "newest first");
    assert!(matches!(
        listed.last().unwrap().state,
        OutboxState::Sent { attempts: 1, .. }
    ));
}

/// What a fresh store reopened on the same database must still hold.
pub(crate) struct Saved {
    pub(crate) revision: Revision,
    pub(crate) names: BTreeSet<String>,
    pub(crate) head: ChainHead,
    pub(crate) pending: Vec<OutboxId>,
}

/// Leaves a project change, audit entries and pending notifications in
/// `a`, and says what they are.
pub(crate) async fn leave_state<S: DurableStore>(a: &S) -> Saved {
    let (base, project) = with_config(a, "kept").await;
    let revision = a.save(base, project).await.unwrap().unwrap();
    for i in 0..5 {
        a.append(event(T0 + Duration::seconds(i.into()), i)).await.unwrap();
    }
    a.notify(notification("one")).await.unwrap();
    a.notify(notification("two")).await.unwrap();
    let claimed = a.claim(T0, Duration::minutes(5), 1).await.unwrap();
    assert!(a.mark_sent(claimed[0].lease().unwrap(), T0).await.unwrap());
    let pending: Vec<OutboxId> = a
        .list(10)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.state == OutboxState::Pending)
        .map(|e| e.id)
        .collect();
    assert_eq!(pending.len(), 1);
    Saved {
        revision,
        names: names(&a.current().await.unwrap().project),
        head: *a.checkpoint().await.unwrap().head(),
        pending,
    }
}

/// `a`, reopened, holds what [`leave_state`] left, and goes on from there.
pub(crate) async fn finds_state<S: DurableStore>(a: &S, saved: &Saved) {
    let current = a.current().await.unwrap();
    assert_eq!(current.revision, saved.revision);
    assert_eq!(names(&current.project), saved.names);
    let log = a.read(&access()).await.unwrap();
    log.verify(&key()).unwrap();
    assert_eq!(*log.checkpoint.head(), saved.head);
    log.checkpoint.verify_since(&key(), &log.entries, &saved.head).unwrap();
    let next = a.append(event(T0 + Duration::hours(1), 99)).await.unwrap();
    assert_eq!(next.seq, saved.head.len(), "the chain goes on");
    a.read(&access()).await.unwrap().verify(&key()).unwrap();
    let due = a
        .claim(T0 + Duration::minutes(1), Duration::minutes(5), 10)
        .await
        .unwrap();
    assert_eq!(
        due.iter().map(|e| e.id).collect::<Vec<_>>(),
        saved.pending,
        "pending notifications kept"
    );
}

/// A directory of the test's own under the system's temporary directory,
/// removed with everything in it on drop.
pub(crate) struct TempDir(std::path::PathBuf);

impl TempDir {
    pub(crate) fn new(label: &str) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "kb-sso-{label}-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub(crate) fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl std::ops::Deref for TempDir {
    type Target = std::path::Path;

    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
