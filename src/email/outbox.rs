//! The outbox: mail the server could not take when it was written (it said "try later", or
//! could not be reached even after the quick retries in `send`) is kept in the journal's
//! database with the whole message, and tried again with a growing wait (30 s, doubling, at most
//! an hour apart) until it is sent or [`MAX_ATTEMPTS`] are spent (about six hours), when it is
//! marked failed and logged. A restart loses nothing; erasing a conversation takes its unsent
//! mail with it.
//!
//! This module does not compose or decide anything; a refusal that will not pass (5xx, a
//! certificate that does not verify) never reaches it.

use std::{sync::Arc, time::Duration};

use super::{send::Outgoing, Email};
use crate::{
    journal::{Journal, JournalError},
    retry::{self, Attempt},
};

/// Attempts in all, the first (in `Email::send`) included.
pub const MAX_ATTEMPTS: u32 = 12;
/// The wait after the first failed attempt; it doubles after each.
const FIRST_WAIT: Duration = Duration::from_secs(30);
/// How often the outbox is looked at for mail that is due.
const POLL: Duration = Duration::from_secs(1);

fn later(attempts: u32) -> i64 {
    retry::unix_ms() + retry::backoff(FIRST_WAIT, attempts).as_millis() as i64
}

/// Keeps `mail`, which failed once with `error`, for a later attempt.
pub fn queue(
    journal: &Journal,
    conversation_id: &str,
    mail: &Outgoing,
    error: &str,
) -> Result<(), JournalError> {
    let json = serde_json::to_string(mail).expect("an Outgoing serialises");
    journal.queue_email(&mail.message_id, conversation_id, &json, 1, error, later(1))
}

/// Sends what is due by `now_ms`, one attempt each; returns how many went out.
pub async fn deliver_due(
    email: &Email,
    journal: &Arc<Journal>,
    now_ms: i64,
) -> Result<usize, JournalError> {
    let Some(mailer) = email.mailer() else {
        return Ok(0);
    };
    let j = journal.clone();
    let due = tokio::task::spawn_blocking(move || j.due_emails(now_ms, 16))
        .await
        .expect("the outbox read does not panic")?;
    let mut sent = 0;
    for (message_id, json, attempts) in due {
        let attempt = attempts + 1;
        let outcome = match serde_json::from_str::<Outgoing>(&json) {
            Err(e) => Attempt::GaveUp(format!("unreadable message: {e}")),
            Ok(mail) => match mailer.send(&mail).await {
                Ok(()) => {
                    sent += 1;
                    tracing::info!(message_id, attempt, "email: sent from the outbox");
                    Attempt::Delivered
                }
                Err(e) if e.may_pass() && attempt < MAX_ATTEMPTS => Attempt::Retry {
                    error: e.to_string(),
                    at_ms: later(attempt),
                },
                Err(e) => {
                    tracing::error!(message_id, attempt, to = %mail.to, "email: gave up sending: {e}");
                    Attempt::GaveUp(e.to_string())
                }
            },
        };
        let j = journal.clone();
        tokio::task::spawn_blocking(move || j.record_email_attempt(&message_id, attempt, &outcome))
            .await
            .expect("the outbox write does not panic")?;
    }
    Ok(sent)
}

/// Sends from the outbox for as long as the service runs (spawned by `serve` when SMTP is set).
pub async fn run(email: Arc<Email>, journal: Arc<Journal>) {
    if email.mailer().is_none() {
        return;
    }
    loop {
        if let Err(e) = deliver_due(&email, &journal, retry::unix_ms()).await {
            tracing::error!("email outbox: {e}");
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use futures_util::future::BoxFuture;
    use parking_lot::Mutex;

    use super::*;
    use crate::{
        config::Config,
        email::{send::SendError, Dispatch, Mailer},
    };

    /// Fails with `failures` in order, then accepts; remembers what it accepted.
    struct Flaky {
        failures: Mutex<Vec<SendError>>,
        sent: Mutex<Vec<String>>,
    }

    impl Mailer for Flaky {
        fn send<'a>(&'a self, mail: &'a Outgoing) -> BoxFuture<'a, Result<(), SendError>> {
            let next = {
                let mut f = self.failures.lock();
                (!f.is_empty()).then(|| f.remove(0))
            };
            if next.is_none() {
                self.sent.lock().push(mail.message_id.clone());
            }
            Box::pin(async move { next.map_or(Ok(()), Err) })
        }
    }

    fn mail(id: &str) -> Outgoing {
        Outgoing {
            from: "support@shop.test".into(),
            from_name: None,
            to: "maya@customer.test".into(),
            reply_to: None,
            subject: "Re: my order".into(),
            message_id: id.into(),
            in_reply_to: None,
            references: vec![],
            text: "Your order shipped.".into(),
            automatic: true,
        }
    }

    fn setup(failures: Vec<SendError>) -> (Email, Arc<Journal>, Arc<Flaky>) {
        let flaky = Arc::new(Flaky {
            failures: Mutex::new(failures),
            sent: Mutex::new(vec![]),
        });
        let mut cfg = Config::default();
        cfg.email.store_address = "support@shop.test".into();
        let email = Email::with_mailer(&cfg, Some(flaky.clone() as Arc<dyn Mailer>));
        let journal = Arc::new(Journal::open_in_memory().unwrap());
        journal.create("c1", "email").unwrap();
        (email, journal, flaky)
    }

    #[tokio::test]
    async fn a_reply_the_server_cannot_take_now_is_sent_later() {
        let (email, journal, flaky) = setup(vec![
            SendError::Unavailable("421 try later".into()),
            SendError::Unavailable("connection refused".into()),
        ]);
        assert_eq!(
            email
                .send(&journal, "c1", &mail("r1@shop.test"))
                .await
                .unwrap(),
            Dispatch::Queued
        );
        let entry = journal.outbox_entry("r1@shop.test").unwrap().expect("kept");
        assert_eq!(
            (
                entry.status.as_str(),
                entry.attempts,
                entry.last_error.as_deref()
            ),
            ("pending", 1, Some("SMTP, for now: 421 try later"))
        );
        assert_eq!(
            deliver_due(&email, &journal, retry::unix_ms())
                .await
                .unwrap(),
            0,
            "not due before its wait"
        );
        // Due: the second attempt fails too and is rescheduled; the third goes out.
        let far = retry::unix_ms() + 10 * 3_600_000;
        assert_eq!(deliver_due(&email, &journal, far).await.unwrap(), 0);
        assert_eq!(
            journal
                .outbox_entry("r1@shop.test")
                .unwrap()
                .unwrap()
                .attempts,
            2
        );
        assert_eq!(deliver_due(&email, &journal, far).await.unwrap(), 1);
        let entry = journal.outbox_entry("r1@shop.test").unwrap().unwrap();
        assert_eq!((entry.status.as_str(), entry.attempts), ("sent", 3));
        assert_eq!(*flaky.sent.lock(), ["r1@shop.test"], "sent exactly once");
        assert_eq!(
            deliver_due(&email, &journal, far).await.unwrap(),
            0,
            "never twice"
        );
    }

    #[tokio::test]
    async fn a_refusal_is_reported_not_queued_and_the_outbox_gives_up_in_the_end() {
        let (email, journal, _) = setup(vec![SendError::Smtp("550 no such user".into())]);
        assert!(email
            .send(&journal, "c1", &mail("r2@shop.test"))
            .await
            .is_err());
        assert!(journal.outbox_entry("r2@shop.test").unwrap().is_none());

        let (email, journal, flaky) = setup(
            (0..MAX_ATTEMPTS)
                .map(|_| SendError::Unavailable("connection refused".into()))
                .collect(),
        );
        assert_eq!(
            email
                .send(&journal, "c1", &mail("r3@shop.test"))
                .await
                .unwrap(),
            Dispatch::Queued
        );
        let far = retry::unix_ms() + 1_000 * 3_600_000;
        for _ in 1..MAX_ATTEMPTS {
            deliver_due(&email, &journal, far).await.unwrap();
        }
        let entry = journal.outbox_entry("r3@shop.test").unwrap().unwrap();
        assert_eq!(
            (entry.status.as_str(), entry.attempts),
            ("failed", MAX_ATTEMPTS)
        );
        assert!(flaky.sent.lock().is_empty());
    }

    #[tokio::test]
    async fn erasing_the_conversation_takes_its_unsent_mail() {
        let (email, journal, _) = setup(vec![SendError::Unavailable("connection refused".into())]);
        email
            .send(&journal, "c1", &mail("r4@shop.test"))
            .await
            .unwrap();
        assert!(journal.outbox_entry("r4@shop.test").unwrap().is_some());
        journal.delete_conversations(&["c1".to_string()]).unwrap();
        assert!(journal.outbox_entry("r4@shop.test").unwrap().is_none());
    }
}
