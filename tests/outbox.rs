//! The notification outbox: queued by the admin service, claimed with a
//! lease, never handed out twice while leased, marked sent or failed and
//! retried, listed with its state.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::sync::Arc;

use kb_sso::store::memory::{MemoryAuditSink, MemoryConfigStore, MemoryOutbox};
use kb_sso::store::{ArcNotificationOutbox, BoxNotificationOutbox};
use kb_sso::*;
use proptest::prelude::*;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const T0: OffsetDateTime = datetime!(2026-03-01 00:00 UTC);
const LEASE: Duration = Duration::minutes(5);

fn note(i: u32) -> Notification {
    Notification {
        recipients: Recipients::ProjectAdmins,
        subject: format!("JWT: enable on \"Portal {i}\""),
        message: format!("message {i}"),
        at: T0 + Duration::seconds(i.into()),
        event: None,
    }
}

async fn queued<O: NotificationOutbox>(outbox: &O, n: u32) {
    for i in 0..n {
        outbox.notify(note(i)).await.unwrap();
    }
}

fn ids(entries: &[OutboxEntry]) -> Vec<u64> {
    entries.iter().map(|e| e.id.0).collect()
}

#[tokio::test]
async fn claims_take_due_entries_oldest_first_and_never_one_still_leased() {
    let outbox = MemoryOutbox::new();
    queued(&outbox, 5).await;
    let first = outbox.claim(T0, LEASE, 3).await.unwrap();
    assert_eq!(ids(&first), [0, 1, 2]);
    assert!(first.iter().all(|e| e.state
        == OutboxState::InFlight {
            attempt: 1,
            lease_until: T0 + LEASE
        }));
    let second = outbox.claim(T0, LEASE, 10).await.unwrap();
    assert_eq!(ids(&second), [3, 4], "the leased ones are not handed out again");
    let during = outbox.claim(T0 + LEASE - Duration::SECOND, LEASE, 10).await.unwrap();
    assert!(during.is_empty(), "every entry is leased");

    // Entry 0 delivered, 1 failed, 2's worker never reports (a crash).
    assert!(
        outbox
            .mark_sent(first[0].lease().unwrap(), T0 + Duration::MINUTE)
            .await
            .unwrap()
    );
    let retry_at = T0 + Duration::hours(1);
    assert!(outbox.mark_failed(first[1].lease().unwrap(), retry_at).await.unwrap());
    assert!(outbox.mark_sent(second[0].lease().unwrap(), T0).await.unwrap());
    assert!(outbox.mark_sent(second[1].lease().unwrap(), T0).await.unwrap());

    // When the lease ends, the crashed worker's entry is claimable again;
    // the failed one waits for its retry time; the sent ones never return.
    let after_lease = outbox.claim(T0 + LEASE, LEASE, 10).await.unwrap();
    assert_eq!(ids(&after_lease), [2]);
    assert_eq!(after_lease[0].lease().unwrap().attempt, 2);
    let not_yet = outbox.claim(retry_at - Duration::SECOND, LEASE, 10).await.unwrap();
    assert_eq!(
        ids(&not_yet),
        [2],
        "the failed one waits; the unreported one is due again"
    );
    assert!(outbox.mark_sent(not_yet[0].lease().unwrap(), retry_at).await.unwrap());
    let retried = outbox.claim(retry_at, LEASE, 10).await.unwrap();
    assert_eq!(ids(&retried), [1]);
    assert_eq!(
        retried[0].state,
        OutboxState::InFlight {
            attempt: 2,
            lease_until: retry_at + LEASE
        }
    );
    let much_later = outbox.claim(T0 + Duration::days(30), LEASE, 10).await.unwrap();
    assert_eq!(
        ids(&much_later),
        [1],
        "an unreported lease ends; sent entries never return"
    );
    assert_eq!(much_later[0].lease().unwrap().attempt, 3);
}

#[tokio::test]
async fn a_stale_lease_cannot_fail_an_entry_another_worker_holds_but_can_report_its_delivery() {
    let outbox = MemoryOutbox::new();
    queued(&outbox, 1).await;
    let a = outbox.claim(T0, LEASE, 1).await.unwrap()[0].lease().unwrap();
    let b = outbox.claim(T0 + LEASE, LEASE, 1).await.unwrap()[0].lease().unwrap();
    assert_eq!((a.attempt, b.attempt), (1, 2));
    assert!(!outbox.mark_failed(a, T0).await.unwrap(), "a no longer holds it");
    assert!(
        outbox.claim(T0 + LEASE, LEASE, 1).await.unwrap().is_empty(),
        "b still does"
    );
    // a did deliver after all: recorded, so b's delivery is the last.
    assert!(outbox.mark_sent(a, T0 + LEASE).await.unwrap());
    assert!(!outbox.mark_sent(b, T0 + LEASE).await.unwrap(), "already sent");
    assert!(!outbox.mark_failed(b, T0).await.unwrap(), "sent is final");
    let unknown = OutboxLease {
        id: OutboxId(99),
        attempt: 1,
    };
    assert!(!outbox.mark_sent(unknown, T0).await.unwrap());
    assert!(!outbox.mark_failed(unknown, T0).await.unwrap());
}

#[tokio::test]
async fn the_list_is_newest_first_with_each_state() {
    let outbox = MemoryOutbox::new();
    queued(&outbox, 4).await;
    let claimed = outbox.claim(T0, LEASE, 3).await.unwrap();
    outbox
        .mark_sent(claimed[0].lease().unwrap(), T0 + Duration::SECOND)
        .await
        .unwrap();
    outbox
        .mark_failed(claimed[1].lease().unwrap(), T0 + Duration::HOUR)
        .await
        .unwrap();
    let list = outbox.list(10).await.unwrap();
    assert_eq!(ids(&list), [3, 2, 1, 0]);
    assert_eq!(list[0].state, OutboxState::Pending);
    assert_eq!(
        list[1].state,
        OutboxState::InFlight {
            attempt: 1,
            lease_until: T0 + LEASE
        }
    );
    assert_eq!(
        list[2].state,
        OutboxState::Failed {
            attempts: 1,
            next_attempt_at: T0 + Duration::HOUR
        }
    );
    assert_eq!(
        list[3].state,
        OutboxState::Sent {
            attempts: 1,
            sent_at: T0 + Duration::SECOND
        }
    );
    assert_eq!(list[3].queued_at, note(0).at);
    assert_eq!(list[3].notification, note(0));
    assert_eq!(ids(&outbox.list(2).await.unwrap()), [3, 2]);
    // As the admin API shows it: recipients, subject, state.
    let json = serde_json::to_value(&list).unwrap();
    assert_eq!(json[0]["state"], "pending");
    assert_eq!(json[2]["state"], "failed");
    assert_eq!(json[2]["attempts"], 1);
    assert_eq!(json[3]["state"], "sent");
    assert_eq!(json[3]["notification"]["recipients"], "project_admins");
    assert_eq!(json[3]["notification"]["subject"], "JWT: enable on \"Portal 0\"");
    assert_eq!(json[3]["id"], 0);
}

#[test]
fn recipients_serialize_in_snake_case() {
    assert_eq!(
        serde_json::to_string(&Recipients::ProjectAdmins).unwrap(),
        "\"project_admins\""
    );
    assert_eq!(
        serde_json::to_string(&Recipients::ProjectAdminsAndOwners).unwrap(),
        "\"project_admins_and_owners\""
    );
    let back: Recipients = serde_json::from_str("\"project_admins_and_owners\"").unwrap();
    assert_eq!(back, Recipients::ProjectAdminsAndOwners);
}

/// The admin service queues into the outbox; a worker drains it.
#[tokio::test]
async fn the_admin_service_queues_what_a_worker_then_delivers_once() {
    let clock = Arc::new(SettableClock::new(T0));
    let admin = Admin::new(
        MemoryConfigStore::new(Project::default()),
        MemoryAuditSink::new(CheckpointKey::new(&[7; 32]).unwrap()),
        MemoryOutbox::new(),
        clock.clone(),
    );
    let who = Administrator("alice@kb.example.com".into());
    let builder = JwtConfig::builder("Portal", "https://app.example.com/login");
    let (id, _) = admin.create(&who, builder).await.unwrap().value;
    clock.advance(Duration::MINUTE);
    let _ = admin.regenerate_primary_secret(&who, &id).await.unwrap();
    let outbox = admin.notifier();
    let list = outbox.list(10).await.unwrap();
    assert!(list.iter().all(|e| e.state == OutboxState::Pending));
    assert_eq!(
        list[0].notification.subject,
        "JWT: regenerate primary token on \"Portal\""
    );
    assert_eq!(list[0].notification.recipients, Recipients::ProjectAdminsAndOwners);
    assert_eq!(list[0].queued_at, T0 + Duration::MINUTE);
    assert_eq!(list[1].notification.subject, "JWT: create on \"Portal\"");
    assert_eq!(list[1].notification.recipients, Recipients::ProjectAdmins);

    let now = clock.now();
    let mut delivered = Vec::new();
    for entry in outbox.claim(now, LEASE, 10).await.unwrap() {
        delivered.push(entry.id);
        assert!(outbox.mark_sent(entry.lease().unwrap(), now).await.unwrap());
    }
    assert_eq!(delivered.len(), 2);
    assert!(
        outbox
            .claim(now + Duration::days(1), LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn an_outbox_works_through_pointers_and_as_a_trait_object() {
    async fn drain<O: NotificationOutbox>(outbox: &O) -> Vec<u64> {
        queued(outbox, 3).await;
        let claimed = outbox.claim(T0, LEASE, 10).await.unwrap();
        for e in &claimed {
            assert!(outbox.mark_sent(e.lease().unwrap(), T0).await.unwrap());
        }
        assert!(
            outbox
                .list(10)
                .await
                .unwrap()
                .iter()
                .all(|e| matches!(e.state, OutboxState::Sent { .. }))
        );
        ids(&claimed)
    }
    assert_eq!(drain(&MemoryOutbox::new()).await, [0, 1, 2]);
    assert_eq!(drain(&&MemoryOutbox::new()).await, [0, 1, 2]);
    assert_eq!(drain(&Arc::new(MemoryOutbox::new())).await, [0, 1, 2]);
    let boxed: BoxNotificationOutbox = Box::new(MemoryOutbox::new());
    assert_eq!(drain(&boxed).await, [0, 1, 2]);
    let shared: ArcNotificationOutbox = Arc::new(MemoryOutbox::new());
    assert_eq!(drain(&shared).await, [0, 1, 2]);
}

/// One step of several workers sharing an outbox.
#[derive(Debug, Clone)]
enum Step {
    /// Time passes.
    Wait(i64),
    /// A worker claims up to this many.
    Claim(usize),
    /// The holder of the n-th lease handed out reports a delivery.
    Sent(usize),
    /// The holder of the n-th lease handed out reports a failure, retry in
    /// this many seconds.
    Failed(usize, i64),
    /// A new notification is queued.
    Queue,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0i64..700).prop_map(Step::Wait),
        (0usize..4).prop_map(Step::Claim),
        any::<usize>().prop_map(Step::Sent),
        (any::<usize>(), 0i64..900).prop_map(|(n, s)| Step::Failed(n, s)),
        Just(Step::Queue),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Whatever workers do, no entry is handed out while another lease on
    /// it runs, nor after it was sent; and once every worker reports, every
    /// queued entry ends sent.
    #[test]
    fn no_entry_is_handed_out_twice_while_leased_and_every_one_is_delivered(
        steps in proptest::collection::vec(step(), 0..60),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let outbox = MemoryOutbox::new();
            queued(&outbox, 3).await;
            let mut now = T0;
            let mut leases: Vec<(OutboxLease, OffsetDateTime)> = Vec::new();
            let mut sent: HashSet<OutboxId> = HashSet::new();
            let mut queued_count = 3u32;
            for s in steps {
                match s {
                    Step::Wait(secs) => now += Duration::seconds(secs),
                    Step::Claim(max) => {
                        let claimed = outbox.claim(now, LEASE, max).await.unwrap();
                        prop_assert!(claimed.len() <= max);
                        for e in claimed {
                            let lease = e.lease().unwrap();
                            prop_assert!(!sent.contains(&e.id), "a sent entry handed out again");
                            let live = leases.iter().any(|(l, until)| l.id == e.id && *until > now);
                            prop_assert!(!live, "handed out while another lease runs");
                            leases.push((lease, now + LEASE));
                        }
                    }
                    Step::Sent(n) if !leases.is_empty() => {
                        let (lease, _) = leases[n % leases.len()];
                        let changed = outbox.mark_sent(lease, now).await.unwrap();
                        prop_assert_eq!(changed, !sent.contains(&lease.id));
                        sent.insert(lease.id);
                    }
                    Step::Failed(n, secs) if !leases.is_empty() => {
                        let (lease, _) = leases[n % leases.len()];
                        if outbox.mark_failed(lease, now + Duration::seconds(secs)).await.unwrap() {
                            // It is free for a claim from its retry time.
                            for (l, until) in &mut leases {
                                if l.id == lease.id {
                                    *until = now;
                                }
                            }
                        }
                    }
                    Step::Queue => {
                        outbox.notify(note(queued_count)).await.unwrap();
                        queued_count += 1;
                    }
                    _ => {}
                }
            }
            // Workers that report every delivery drain the outbox.
            for _ in 0..=queued_count {
                now += Duration::days(1);
                for e in outbox.claim(now, LEASE, 100).await.unwrap() {
                    outbox.mark_sent(e.lease().unwrap(), now).await.unwrap();
                }
            }
            let list = outbox.list(1000).await.unwrap();
            prop_assert_eq!(list.len(), queued_count as usize);
            let all_sent = list.iter().all(|e| matches!(e.state, OutboxState::Sent { .. }));
            prop_assert!(all_sent, "every entry ends sent");
            Ok(())
        })?;
    }
}
