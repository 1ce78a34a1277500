//! Reading the audit log a page at a time: event filters, time ranges,
//! cursors that walk every entry once while the log grows, the page-size
//! clamp, parameter errors, retention, and no secret in any entry.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::sync::Arc;

use kb_sso::store::memory::{MemoryAuditSink, MemoryConfigStore, MemoryOutbox};
use kb_sso::store::{ArcAuditSink, BoxAuditSink};
use kb_sso::*;
use proptest::prelude::*;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const T0: OffsetDateTime = datetime!(2026-03-01 00:00 UTC);

fn key() -> CheckpointKey {
    CheckpointKey::new(&[7; 32]).unwrap()
}

fn access() -> SecurityAuditAccess {
    Principal {
        id: "auditor".into(),
        security_audit: true,
    }
    .security_audit_access()
    .unwrap()
}

fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

/// A project with one configuration, to make events of every kind that
/// needs no secret handed back.
struct Events {
    project: Project,
    id: ClientId,
}

impl Events {
    fn new() -> Self {
        let (config, _secrets) = JwtConfig::builder("Portal", "https://app.example.com/login")
            .build()
            .unwrap();
        let id = config.client_id().clone();
        let project = Project::new(ProjectSettings::default(), vec![config], vec![]).unwrap();
        Self { project, id }
    }

    /// An event of kind `kind % 8` at `at`.
    fn event(&mut self, kind: u8, at: OffsetDateTime) -> AuditEvent {
        let admin = Administrator(format!("admin{kind}"));
        let p = &mut self.project;
        match kind % 8 {
            0 => p.set_direct_jwt_login(&admin, at, true, true).unwrap().event,
            1 => p.set_direct_jwt_login(&admin, at, false, true).unwrap().event,
            2 => p.set_default_login_page_disabled(&admin, at, true).event,
            3 => p.set_default_login_page_disabled(&admin, at, false).event,
            4 => p.set_enabled(&admin, at, &self.id, true).unwrap().event,
            5 => p.set_enabled(&admin, at, &self.id, false).unwrap().event,
            6 => p.regenerate_primary_secret(&admin, at, &self.id).unwrap().event,
            _ => p.regenerate_secondary_secret(&admin, at, &self.id).unwrap().event,
        }
    }
}

/// One event per `(kind, time)`, in that order.
fn events_of(events: &[(u8, OffsetDateTime)]) -> Vec<AuditEvent> {
    let mut make = Events::new();
    events.iter().map(|&(kind, at)| make.event(kind, at)).collect()
}

/// A sink holding `events`, in that order.
fn sink_with<S: AuditSink>(sink: S, events: &[AuditEvent]) -> S {
    for e in events {
        block_on(sink.append(e.clone())).unwrap();
    }
    sink
}

/// A sink holding one event per `(kind, time)`, in that order.
fn sink_of(events: &[(u8, OffsetDateTime)]) -> MemoryAuditSink {
    sink_with(MemoryAuditSink::new(key()), &events_of(events))
}

fn day(d: i64) -> OffsetDateTime {
    T0 + Duration::days(d)
}

fn seqs(entries: &[AuditEntry]) -> Vec<u64> {
    entries.iter().map(|e| e.seq).collect()
}

fn query<S: AuditSink>(sink: &S, q: AuditQuery) -> AuditPage {
    block_on(sink.query(&access(), &q)).unwrap()
}

/// Every page of `q`, following the cursors to the end.
fn walk<S: AuditSink>(sink: &S, q: AuditQuery) -> Vec<AuditEntry> {
    let mut out = Vec::new();
    let mut q = q;
    loop {
        let page = query(sink, q);
        assert!(page.entries.len() <= q.page_size());
        out.extend(page.entries);
        match page.next_cursor {
            Some(c) => {
                // Every page moves on: a cursor below the one before.
                assert!(
                    q.page_cursor().is_none_or(|before| c.seq() < before.seq()),
                    "{c} repeats"
                );
                q = q.cursor(c);
            }
            None => return out,
        }
    }
}

/// The oracle: the whole log read, filtered one entry at a time, newest
/// first.
fn expected<S: AuditSink>(sink: &S, q: AuditQuery) -> Vec<AuditEntry> {
    let log = block_on(sink.read(&access())).unwrap();
    let wanted = |e: &AuditEntry| {
        let (at, action) = (e.event.at(), e.event.action());
        let kind = match q.event_filter() {
            EventFilter::All | EventFilter::Jwt => true,
            EventFilter::Action(a) => a == action,
            _ => unreachable!(),
        };
        kind && q.since_time().is_none_or(|s| s <= at) && q.until_time().is_none_or(|u| at < u)
    };
    log.entries.into_iter().rev().filter(|e| wanted(e)).collect()
}

#[test]
fn every_action_is_a_jwt_action_and_has_a_snake_case_name() {
    assert_eq!(AuditAction::ALL.len(), 17);
    for a in AuditAction::ALL {
        assert_eq!(a.category(), EventCategory::Jwt, "{a}");
        assert!(EventFilter::Jwt.matches(*a));
        assert_eq!(AuditAction::from_name(a.name()), Some(*a));
        assert!(
            a.name().bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{}",
            a.name()
        );
    }
    assert_eq!(AuditAction::RegeneratePrimaryToken.name(), "regenerate_primary_token");
    assert_eq!(AuditAction::from_name("RegeneratePrimaryToken"), None);
}

#[test]
fn event_filters_answer_only_their_actions_newest_first() {
    let sink = sink_of(&[(0, day(0)), (6, day(1)), (4, day(2)), (6, day(3)), (1, day(4))]);
    let regenerations = query(
        &sink,
        AuditQuery::new().event(EventFilter::Action(AuditAction::RegeneratePrimaryToken)),
    );
    assert_eq!(seqs(&regenerations.entries), [3, 1]);
    assert!(
        regenerations
            .entries
            .iter()
            .all(|e| e.event.action() == AuditAction::RegeneratePrimaryToken)
    );
    assert_eq!(regenerations.next_cursor, None);
    assert_eq!(
        seqs(&query(&sink, AuditQuery::new().event(EventFilter::Jwt)).entries),
        [4, 3, 2, 1, 0]
    );
    assert_eq!(seqs(&query(&sink, AuditQuery::new()).entries), [4, 3, 2, 1, 0]);
    let none = query(&sink, AuditQuery::new().event(EventFilter::Action(AuditAction::Delete)));
    assert!(none.entries.is_empty() && none.next_cursor.is_none());
    // Through the query string, as the portal's "JWT" search.
    let params = AuditQueryParams {
        event: Some("JWT".into()),
        ..Default::default()
    };
    assert_eq!(query(&sink, params.parse().unwrap()).entries.len(), 5);
    let params = AuditQueryParams {
        event: Some("enable_direct_jwt_login".into()),
        ..Default::default()
    };
    assert_eq!(seqs(&query(&sink, params.parse().unwrap()).entries), [0]);
}

#[test]
fn a_time_range_includes_since_and_excludes_until() {
    let sink = sink_of(&(0..10).map(|d| (d as u8, day(d))).collect::<Vec<_>>());
    let page = query(&sink, AuditQuery::new().since(day(3)).until(day(6)));
    assert_eq!(seqs(&page.entries), [5, 4, 3]);
    assert_eq!(seqs(&query(&sink, AuditQuery::new().since(day(8))).entries), [9, 8]);
    assert_eq!(seqs(&query(&sink, AuditQuery::new().until(day(2))).entries), [1, 0]);
    // Just before and just after an entry's time.
    let q = AuditQuery::new()
        .since(day(3) + Duration::nanoseconds(1))
        .until(day(5) + Duration::nanoseconds(1));
    assert_eq!(seqs(&query(&sink, q).entries), [5, 4]);
    assert!(
        query(&sink, AuditQuery::new().since(day(6)).until(day(3)))
            .entries
            .is_empty()
    );
}

#[test]
fn times_out_of_order_are_still_filtered_entry_by_entry() {
    // A clock set back between appends: the sink cannot search by time.
    let sink = sink_of(&[(0, day(5)), (1, day(1)), (2, day(7)), (3, day(3)), (4, day(4))]);
    let q = AuditQuery::new().since(day(3)).until(day(6));
    assert_eq!(seqs(&query(&sink, q).entries), [4, 3, 0]);
    assert_eq!(walk(&sink, q.limit(1)), expected(&sink, q));
}

#[test]
fn a_walk_through_the_pages_sees_every_entry_once_newest_first_while_entries_are_appended() {
    let sink = sink_of(&(0..23).map(|i| (i as u8, day(i))).collect::<Vec<_>>());
    let mut more = Events::new();
    let mut q = AuditQuery::new().limit(5);
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = query(&sink, q);
        pages += 1;
        seen.extend(seqs(&page.entries));
        // Two entries appended between every two pages.
        for i in 0..2 {
            block_on(sink.append(more.event(i, day(100 + pages)))).unwrap();
        }
        match page.next_cursor {
            Some(c) => q = q.cursor(c),
            None => break,
        }
    }
    assert_eq!(seen, (0..23).rev().collect::<Vec<u64>>());
    assert_eq!(pages, 5);
    // A new walk starts with the entries appended meanwhile.
    let first = query(&sink, AuditQuery::new().limit(1));
    assert_eq!(seqs(&first.entries), [32]);
}

#[test]
fn the_page_size_is_clamped_to_one_to_a_hundred_and_defaults_to_fifty() {
    let sink = sink_of(&(0..150).map(|i| (i as u8, day(i))).collect::<Vec<_>>());
    let sizes = |q: AuditQuery| query(&sink, q).entries.len();
    assert_eq!(sizes(AuditQuery::new()), 50);
    assert_eq!(sizes(AuditQuery::new().limit(0)), 1);
    assert_eq!(sizes(AuditQuery::new().limit(7)), 7);
    assert_eq!(sizes(AuditQuery::new().limit(100)), 100);
    assert_eq!(sizes(AuditQuery::new().limit(1000)), 100);
    let huge = AuditQueryParams {
        limit: Some("1000000000000000000000000".into()),
        ..Default::default()
    };
    assert_eq!(sizes(huge.parse().unwrap()), 100);
    // The last page has no cursor; a page that ends exactly at the end
    // neither.
    assert!(query(&sink, AuditQuery::new().limit(100)).next_cursor.is_some());
    let rest = query(&sink, AuditQuery::new().cursor("50".parse().unwrap()).limit(50));
    assert_eq!(seqs(&rest.entries), (0..50).rev().collect::<Vec<u64>>());
    assert_eq!(rest.next_cursor, None);
}

#[test]
fn bad_parameters_are_typed_errors_naming_the_parameter() {
    let with = |f: fn(&mut AuditQueryParams)| {
        let mut p = AuditQueryParams::default();
        f(&mut p);
        p.parse()
    };
    type Edit = fn(&mut AuditQueryParams);
    let cases: [(Edit, &str); 7] = [
        (|p| p.cursor = Some("abc".into()), "cursor"),
        (|p| p.cursor = Some("-1".into()), "cursor"),
        (|p| p.cursor = Some("1".repeat(40)), "cursor"),
        (|p| p.event = Some("sign_in".into()), "event"),
        (|p| p.since = Some("2026-13-01T00:00:00Z".into()), "since"),
        (|p| p.until = Some("tomorrow".into()), "until"),
        (|p| p.limit = Some("1.5".into()), "limit"),
    ];
    for (f, param) in cases {
        let err = with(f).unwrap_err();
        assert_eq!(err.param(), param);
        assert!(err.to_string().contains(param), "{err}");
    }
    // A cursor past either end of the log is simply an empty page or the
    // whole log, never a panic.
    let sink = sink_of(&[(0, day(0)), (1, day(1))]);
    let page = query(&sink, AuditQuery::new().cursor("0".parse().unwrap()));
    assert!(page.entries.is_empty() && page.next_cursor.is_none());
    let page = query(&sink, AuditQuery::new().cursor(u64::MAX.to_string().parse().unwrap()));
    assert_eq!(seqs(&page.entries), [1, 0]);
    // As JSON, the page reads as the admin API answers it.
    let json = serde_json::to_value(query(&sink, AuditQuery::new().limit(1))).unwrap();
    assert_eq!(json["next_cursor"], "1");
    assert_eq!(json["entries"][0]["seq"], 1);
}

#[test]
fn a_purge_with_a_shorter_retention_keeps_an_entry_89_days_old_and_a_query_finds_it() {
    let now = day(200);
    let sink = sink_of(&[
        (0, now - Duration::days(120)),
        (1, now - Duration::days(91)),
        (2, now - Duration::days(89)),
        (3, now - Duration::days(1)),
    ]);
    let removed = block_on(sink.purge(now, Duration::days(30))).unwrap();
    assert_eq!(removed, 2, "only the entries older than 90 days");
    let page = query(&sink, AuditQuery::new().since(now - Duration::days(90)));
    assert_eq!(seqs(&page.entries), [3, 2]);
    assert_eq!(page.entries[1].event.at(), now - Duration::days(89));
    let only = query(
        &sink,
        AuditQuery::new().event(EventFilter::Action(AuditAction::EnableDefaultLoginPageToggle)),
    );
    assert_eq!(seqs(&only.entries), [2]);
    assert_eq!(MIN_RETENTION, Duration::days(90));
}

/// A sink that implements only what it must: `query` is the provided one.
struct ReadOnly(MemoryAuditSink);

impl AuditSink for ReadOnly {
    type Error = std::convert::Infallible;
    fn append(&self, event: AuditEvent) -> impl Future<Output = Result<AuditEntry, Self::Error>> + Send {
        self.0.append(event)
    }
    fn checkpoint(&self) -> impl Future<Output = Result<Checkpoint, Self::Error>> + Send {
        self.0.checkpoint()
    }
    fn read(&self, access: &SecurityAuditAccess) -> impl Future<Output = Result<AuditLog, Self::Error>> + Send {
        self.0.read(access)
    }
    fn purge(
        &self,
        now: OffsetDateTime,
        retention: Duration,
    ) -> impl Future<Output = Result<usize, Self::Error>> + Send {
        self.0.purge(now, retention)
    }
}

#[test]
fn every_form_of_a_sink_answers_the_same_pages() {
    let events = events_of(&(0..30).map(|i| ((i * 7 % 8) as u8, day(i % 11))).collect::<Vec<_>>());
    let memory = || MemoryAuditSink::new(key());
    let q = AuditQuery::new()
        .event(EventFilter::Action(AuditAction::Enable))
        .since(day(2))
        .limit(2);
    let want = expected(&sink_with(memory(), &events), q);
    assert!(want.len() > 2);
    assert_eq!(walk(&sink_with(memory(), &events), q), want);
    assert_eq!(
        walk(&sink_with(ReadOnly(memory()), &events), q),
        want,
        "the provided query"
    );
    assert_eq!(walk(&sink_with(Arc::new(memory()), &events), q), want);
    let boxed: BoxAuditSink = Box::new(memory());
    assert_eq!(walk(&sink_with(boxed, &events), q), want);
    let shared: ArcAuditSink = Arc::new(memory());
    assert_eq!(walk(&sink_with(shared, &events), q), want);
}

/// Every admin operation through the admin service, with real secrets:
/// neither an entry (as the audit query answers it) nor a notification
/// (as the outbox lists it) holds any of them.
#[test]
fn no_secret_enters_an_audit_entry_or_a_notification() {
    let clock = Arc::new(SettableClock::new(T0));
    let (widget, widget_secret) = WidgetProject::builder("project-1").widget("w1").build().unwrap();
    let admin = Admin::new(
        MemoryConfigStore::new(Project::default().with_widget(widget)),
        MemoryAuditSink::new(key()),
        MemoryOutbox::new(),
        clock.clone(),
    );
    let who = Administrator("alice@kb.example.com".into());
    let (secrets, outbox) = block_on(async {
        let builder = JwtConfig::builder("Portal", "https://app.example.com/login");
        let (id, issued) = admin.create(&who, builder).await.unwrap().value;
        let mut secrets = vec![issued.primary.expose().to_owned(), issued.secondary.expose().to_owned()];
        secrets.push(widget_secret.expose().to_owned());
        let project = admin.project().await.unwrap().project;
        let update = project.jwt_config(&id).unwrap().to_builder().name("Portal 2");
        let _ = admin.update(&who, &id, update).await.unwrap();
        let _ = admin.set_enabled(&who, &id, false).await.unwrap();
        let _ = admin.set_enabled(&who, &id, true).await.unwrap();
        for _ in 0..2 {
            let p = admin.regenerate_primary_secret(&who, &id).await.unwrap().value;
            secrets.push(p.expose().to_owned());
            let s = admin.regenerate_secondary_secret(&who, &id).await.unwrap().value;
            secrets.push(s.expose().to_owned());
        }
        let _ = admin.set_direct_jwt_login(&who, true, true).await.unwrap();
        let _ = admin.set_direct_jwt_login(&who, false, true).await.unwrap();
        let pair = admin.generate_handshake_key(&who, &id).await.unwrap().value;
        secrets.push(pair.private_key_pem.to_string());
        let w = admin.regenerate_widget_secret(&who).await.unwrap().value;
        secrets.push(w.expose().to_owned());
        let okta = SsoProvider {
            name: "Okta".into(),
            kind: SsoKind::Saml,
            enabled: true,
            cta_position: 0,
        };
        let _ = admin.create_sso_provider(&who, okta.clone()).await.unwrap();
        let renamed = SsoProvider {
            name: "Okta SAML".into(),
            ..okta
        };
        let _ = admin.update_sso_provider(&who, "Okta", renamed).await.unwrap();
        let _ = admin.delete_sso_provider(&who, "Okta SAML").await.unwrap();
        let _ = admin
            .set_visibility(&who, Visibility::Mixed, vec!["/docs/public".into()], false)
            .await
            .unwrap();
        let _ = admin.set_default_login_page_disabled(&who, true).await.unwrap();
        let _ = admin.set_default_login_page_disabled(&who, false).await.unwrap();
        let _ = admin.delete(&who, &id).await.unwrap();
        (secrets, admin.notifier().list(100).await.unwrap())
    });

    let entries = walk(admin.audit(), AuditQuery::new().event(EventFilter::Jwt).limit(3));
    let actions: std::collections::HashSet<_> = entries.iter().map(|e| e.event.action()).collect();
    assert_eq!(
        actions.len(),
        AuditAction::ALL.len(),
        "every action the admin service performs"
    );
    assert_eq!(outbox.len(), entries.len());
    let mut texts = vec![
        serde_json::to_string(&entries).unwrap(),
        format!("{entries:?}"),
        serde_json::to_string(&outbox).unwrap(),
        format!("{outbox:?}"),
    ];
    texts.extend(outbox.iter().map(|o| o.notification.subject.clone()));
    for secret in &secrets {
        assert!(secret.len() >= 32);
        for text in &texts {
            assert!(!text.contains(secret.as_str()), "a secret in {text}");
        }
    }
    // The rotation itself is recorded, as the fact alone.
    let rotations = entries
        .iter()
        .filter(|e| e.event.action() == AuditAction::RegeneratePrimaryToken)
        .count();
    assert_eq!(rotations, 2);
    let regen = outbox
        .iter()
        .find(|o| o.notification.event.as_ref().map(|e| e.action()) == Some(AuditAction::RegeneratePrimaryToken))
        .unwrap();
    assert_eq!(
        regen.notification.subject,
        "JWT: regenerate primary token on \"Portal 2\""
    );
    assert_eq!(regen.notification.recipients, Recipients::ProjectAdminsAndOwners);
}

fn filter() -> impl Strategy<Value = EventFilter> {
    prop_oneof![
        Just(EventFilter::All),
        Just(EventFilter::Jwt),
        proptest::sample::select(AuditAction::ALL).prop_map(EventFilter::Action),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Following the cursors from the first page to the last gives exactly
    /// the matching entries, newest first, each once, whatever the entries,
    /// their times (in order or not), the filter, the range and the limit.
    #[test]
    fn the_pages_concatenated_are_the_filtered_log_reversed(
        events in proptest::collection::vec((0u8..8, -40i64..40), 0..70),
        sorted in any::<bool>(),
        limit in 0usize..130,
        event in filter(),
        since in proptest::option::of(-45i64..45),
        until in proptest::option::of(-45i64..45),
    ) {
        let mut events: Vec<_> = events.into_iter().map(|(k, h)| (k, T0 + Duration::hours(h))).collect();
        if sorted {
            events.sort_by_key(|&(_, at)| at);
        }
        let sink = sink_of(&events);
        let mut q = AuditQuery::new().event(event).limit(limit);
        if let Some(h) = since {
            q = q.since(T0 + Duration::hours(h));
        }
        if let Some(h) = until {
            q = q.until(T0 + Duration::hours(h));
        }
        let pages = walk(&sink, q);
        let want = expected(&sink, q);
        prop_assert_eq!(seqs(&pages), seqs(&want));
        prop_assert_eq!(pages, want);
    }
}
