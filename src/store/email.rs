//! Delivering the notification outbox by email (feature `email`).
//!
//! [`OutboxMailer`] claims the due entries of any
//! [`NotificationOutbox`], sends each as one email over SMTP (`lettre`,
//! tokio), and reports it: sent, or failed with an exponential back-off
//! ([`retry_delay`]). Each email's `Message-ID` is made from the entry's
//! id ([`message_id`]), its idempotency key: should a worker crash after
//! sending and before reporting, the entry is handed out again when its
//! lease ends and sent with the same `Message-ID`, which mail systems and
//! readers recognise as the same message.
//!
//! ```no_run
//! # async fn demo(outbox: kb_sso::store::memory::MemoryOutbox) -> Result<(), Box<dyn std::error::Error>> {
//! use kb_sso::Recipients;
//! use kb_sso::store::email::{Mailbox, OutboxMailer};
//!
//! let directory = |who: Recipients| -> Vec<Mailbox> {
//!     let admins = vec!["admin@kb.example.com".parse().unwrap()];
//!     match who {
//!         Recipients::ProjectAdminsAndOwners => {
//!             let mut all = admins;
//!             all.push("owner@kb.example.com".parse().unwrap());
//!             all
//!         }
//!         _ => admins,
//!     }
//! };
//! let from: Mailbox = "KB <kb@kb.example.com>".parse()?;
//! let mailer = OutboxMailer::new(outbox, directory, "smtp://127.0.0.1:25", from)?;
//! let report = mailer.run_once(time::OffsetDateTime::now_utc()).await?;
//! # drop(report); Ok(()) }
//! ```

use std::future::Future;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use time::{Duration, OffsetDateTime};

pub use lettre::message::Mailbox;

use crate::audit::{NotificationOutbox, OutboxEntry, OutboxId, Recipients};

/// Who receives what: the host's addresses for a notification's
/// [`Recipients`] (the project's admins, its owners).
///
/// Implemented for any `Fn(Recipients) -> Vec<Mailbox>`.
pub trait MailDirectory: Send + Sync {
    /// The mailboxes of `recipients`.
    fn mailboxes(&self, recipients: Recipients) -> Vec<Mailbox>;
}

impl<F: Fn(Recipients) -> Vec<Mailbox> + Send + Sync> MailDirectory for F {
    fn mailboxes(&self, recipients: Recipients) -> Vec<Mailbox> {
        self(recipients)
    }
}

/// Why the mailer could not be set up or could not talk to its outbox.
/// A message the SMTP server refuses is not an error: the entry is marked
/// failed and retried.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// The SMTP URL is not `smtp://[user:password@]host[:port]`.
    #[error("the SMTP URL must be smtp://[user:password@]host[:port]")]
    Url,
    /// The outbox failed.
    #[error("the notification outbox failed: {0}")]
    Outbox(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// What one [`OutboxMailer::run_once`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// The entries sent and marked sent.
    pub sent: Vec<OutboxId>,
    /// The entries whose sending failed, marked failed for a retry.
    pub failed: Vec<OutboxId>,
}

/// The shortest wait before a retry: after the first failed attempt.
pub const FIRST_RETRY: Duration = Duration::seconds(30);
/// The longest wait before a retry.
pub const MAX_RETRY: Duration = Duration::hours(1);

/// How long to wait after failed attempt number `attempt` (from 1): 30 s,
/// doubled with each attempt, at most one hour.
pub fn retry_delay(attempt: u32) -> Duration {
    let doublings = attempt.saturating_sub(1).min(16);
    (FIRST_RETRY * 2_i32.pow(doublings)).min(MAX_RETRY)
}

/// The `Message-ID` of the email for outbox entry `id` sent from
/// `domain`: `<kb-sso.outbox.{id}@{domain}>`. The same entry always gets
/// the same id.
pub fn message_id(id: OutboxId, domain: &str) -> String {
    format!("<kb-sso.outbox.{id}@{domain}>")
}

/// Delivers an outbox by SMTP. Call [`run_once`](Self::run_once) on a
/// timer (every few seconds); several workers, in one process or many,
/// may drain one outbox: a claim is never handed to two while leased.
pub struct OutboxMailer<O, D> {
    outbox: O,
    directory: D,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    lease: Duration,
    batch: usize,
}

impl<O, D> std::fmt::Debug for OutboxMailer<O, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxMailer")
            .field("from", &self.from)
            .field("lease", &self.lease)
            .field("batch", &self.batch)
            .finish_non_exhaustive()
    }
}

impl<O: NotificationOutbox, D: MailDirectory> OutboxMailer<O, D> {
    /// A mailer sending from `from` through the SMTP server at `smtp_url`
    /// (`smtp://[user:password@]host[:port]`, port 25 by default; plain
    /// SMTP, for a relay on the host or its private network), with a lease
    /// of five minutes and batches of 20.
    ///
    /// # Errors
    /// [`MailError::Url`] for another URL.
    pub fn new(outbox: O, directory: D, smtp_url: &str, from: Mailbox) -> Result<Self, MailError> {
        let url = url::Url::parse(smtp_url).map_err(|_| MailError::Url)?;
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or(MailError::Url)?;
        if url.scheme() != "smtp" || (url.path() != "" && url.path() != "/") {
            return Err(MailError::Url);
        }
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host).port(url.port().unwrap_or(25));
        if !url.username().is_empty() {
            let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
            builder = builder.credentials(Credentials::new(
                decode(url.username()),
                decode(url.password().unwrap_or_default()),
            ));
        }
        Ok(Self {
            outbox,
            directory,
            transport: builder.build(),
            from,
            lease: Duration::minutes(5),
            batch: 20,
        })
    }

    /// Holds each claim for `lease` (choose it well above the time one
    /// delivery takes).
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Claims at most `batch` entries at a time.
    #[must_use]
    pub fn batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// Claims the entries due at `now` and sends each: marked sent when
    /// the SMTP server took it, else marked failed and due again after
    /// [`retry_delay`] of its attempt.
    ///
    /// # Errors
    /// [`MailError::Outbox`] when the outbox fails (what was sent before
    /// is reported).
    // Not `async fn`: the signature promises a `Send` future.
    #[allow(clippy::manual_async_fn)]
    pub fn run_once(&self, now: OffsetDateTime) -> impl Future<Output = Result<DeliveryReport, MailError>> + Send
    where
        O: Sync,
        D: Sync,
    {
        async move {
            let outbox_err = |e: O::Error| MailError::Outbox(Box::new(e));
            let claimed = self
                .outbox
                .claim(now, self.lease, self.batch)
                .await
                .map_err(outbox_err)?;
            let mut report = DeliveryReport::default();
            for entry in claimed {
                let Some(lease) = entry.lease() else { continue };
                if self.send(&entry).await {
                    self.outbox.mark_sent(lease, now).await.map_err(outbox_err)?;
                    report.sent.push(entry.id);
                } else {
                    let retry_at = now + retry_delay(lease.attempt);
                    self.outbox.mark_failed(lease, retry_at).await.map_err(outbox_err)?;
                    report.failed.push(entry.id);
                }
            }
            Ok(report)
        }
    }

    /// Sends one entry's email; answers whether the server took it.
    async fn send(&self, entry: &OutboxEntry) -> bool {
        let to = self.directory.mailboxes(entry.notification.recipients);
        if to.is_empty() {
            return false;
        }
        let mut message = Message::builder()
            .from(self.from.clone())
            .message_id(Some(message_id(entry.id, self.from.email.domain())))
            .subject(one_line(&entry.notification.subject))
            .header(ContentType::TEXT_PLAIN);
        for mailbox in to {
            message = message.to(mailbox);
        }
        match message.body(entry.notification.message.clone()) {
            Ok(message) => self.transport.send(message).await.is_ok(),
            Err(_) => false,
        }
    }
}

/// `text` without control characters, for a header.
fn one_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}
