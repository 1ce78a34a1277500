//! The email outbox worker against a local SMTP sink: each notification
//! delivered once with its entry's Message-ID, retried with back-off after
//! a failing server, and never sent while another worker holds its lease.
#![cfg(feature = "email")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;

use kb_sso::store::email::{Mailbox, OutboxMailer, message_id, retry_delay};
use kb_sso::store::memory::MemoryOutbox;
use kb_sso::*;
use support::smtp::SmtpSink;
use support::store_contract::{T0, notification};
use time::Duration;

fn directory(who: Recipients) -> Vec<Mailbox> {
    let mut to = vec!["admin@kb.example.com".parse().unwrap()];
    if who == Recipients::ProjectAdminsAndOwners {
        to.push("owner@kb.example.com".parse().unwrap());
    }
    to
}

type Directory = fn(Recipients) -> Vec<Mailbox>;

fn mailer(outbox: &Arc<MemoryOutbox>, sink: &SmtpSink) -> OutboxMailer<Arc<MemoryOutbox>, Directory> {
    OutboxMailer::new(
        Arc::clone(outbox),
        directory as Directory,
        &sink.url(),
        "KB <kb@kb.example.com>".parse().unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn each_notification_is_delivered_once_with_its_entry_id_as_message_id() {
    let sink = SmtpSink::start().await;
    let outbox = Arc::new(MemoryOutbox::new());
    outbox.notify(notification("first")).await.unwrap();
    let mut owners = notification("second");
    owners.recipients = Recipients::ProjectAdminsAndOwners;
    outbox.notify(owners).await.unwrap();
    let mailer = mailer(&outbox, &sink);

    let report = mailer.run_once(T0).await.unwrap();
    assert_eq!(report.sent, [OutboxId(0), OutboxId(1)]);
    let messages = sink.messages();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].rcpt, ["admin@kb.example.com"]);
    assert_eq!(messages[1].rcpt, ["admin@kb.example.com", "owner@kb.example.com"]);
    assert_eq!(messages[0].header("Subject").unwrap(), "first");
    assert_eq!(
        messages[1].header("Message-ID").unwrap(),
        message_id(OutboxId(1), "kb.example.com")
    );
    assert!(messages[0].data.contains("message of first"));
    assert!(
        outbox
            .entries()
            .iter()
            .all(|e| matches!(e.state, OutboxState::Sent { attempts: 1, .. }))
    );

    let again = mailer.run_once(T0 + Duration::days(1)).await.unwrap();
    assert!(again.sent.is_empty() && again.failed.is_empty());
    assert_eq!(sink.messages().len(), 2, "delivered once");
}

#[tokio::test]
async fn a_failing_server_is_retried_with_back_off() {
    let sink = SmtpSink::start().await;
    let outbox = Arc::new(MemoryOutbox::new());
    outbox.notify(notification("retry me")).await.unwrap();
    let mailer = mailer(&outbox, &sink);

    sink.refuse(true);
    let report = mailer.run_once(T0).await.unwrap();
    assert_eq!(report.failed, [OutboxId(0)]);
    assert_eq!(
        outbox.entries()[0].state,
        OutboxState::Failed {
            attempts: 1,
            next_attempt_at: T0 + retry_delay(1)
        }
    );
    sink.refuse(false);
    let early = mailer.run_once(T0 + retry_delay(1) - Duration::SECOND).await.unwrap();
    assert!(early.sent.is_empty(), "not before its retry time");
    assert!(sink.messages().is_empty());

    let report = mailer.run_once(T0 + retry_delay(1)).await.unwrap();
    assert_eq!(report.sent, [OutboxId(0)]);
    assert_eq!(sink.messages().len(), 1);
    assert!(matches!(
        outbox.entries()[0].state,
        OutboxState::Sent { attempts: 2, .. }
    ));
}

#[test]
fn back_off_doubles_up_to_an_hour() {
    assert_eq!(retry_delay(1), Duration::seconds(30));
    assert_eq!(retry_delay(2), Duration::seconds(60));
    assert_eq!(retry_delay(5), Duration::seconds(480));
    assert_eq!(retry_delay(8), Duration::hours(1));
    assert_eq!(retry_delay(u32::MAX), Duration::hours(1));
}

#[tokio::test]
async fn an_entry_leased_by_another_worker_is_not_sent_until_its_lease_ends() {
    let sink = SmtpSink::start().await;
    let outbox = Arc::new(MemoryOutbox::new());
    outbox.notify(notification("held")).await.unwrap();
    // Another worker claimed it and crashed before reporting.
    let held = outbox.claim(T0, Duration::minutes(5), 10).await.unwrap();
    assert_eq!(held.len(), 1);
    let mailer = mailer(&outbox, &sink);

    let report = mailer.run_once(T0 + Duration::minutes(4)).await.unwrap();
    assert!(report.sent.is_empty(), "leased");
    assert!(sink.messages().is_empty(), "never sent while leased");

    let report = mailer.run_once(T0 + Duration::minutes(5)).await.unwrap();
    assert_eq!(report.sent, [OutboxId(0)]);
    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0].header("Message-ID").unwrap(),
        message_id(OutboxId(0), "kb.example.com"),
        "a redelivery carries the entry's own Message-ID"
    );
}

#[test]
fn only_plain_smtp_urls_are_taken() {
    let outbox = MemoryOutbox::new();
    let from: Mailbox = "kb@kb.example.com".parse().unwrap();
    for url in ["http://mail:25", "smtp://", "smtp://mail:25/path", "not a url"] {
        assert!(
            OutboxMailer::new(&outbox, directory, url, from.clone()).is_err(),
            "{url}"
        );
    }
    assert!(OutboxMailer::new(&outbox, directory, "smtp://user:pa%20ss@mail.internal:2525", from).is_ok());
}
