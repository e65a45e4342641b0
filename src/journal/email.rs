//! The email side of the journal: every message in or out, by Message-ID, with the conversation
//! it belongs to. A customer's reply names earlier messages (In-Reply-To, References); finding
//! any of them here puts the reply in the same conversation. Replies by a person are threaded
//! under the customer's latest message, read from here too.

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::{now, Journal, JournalError};

/// One message of an email conversation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmailRecord {
    /// Without angle brackets.
    pub message_id: String,
    pub conversation_id: String,
    /// "in" (from the customer) or "out" (a reply, the assistant's or a person's).
    pub direction: String,
    pub customer_address: String,
    pub subject: String,
    /// The message's References chain (oldest first), not including itself.
    pub references: Vec<String>,
}

impl Journal {
    /// Records a message. A Message-ID seen before is left as it was (returns false), so a
    /// message delivered twice is noticed rather than answered twice.
    pub fn record_email(&self, r: &EmailRecord) -> Result<bool, JournalError> {
        let n = self.write()?.execute(
            "INSERT OR IGNORE INTO email_messages (message_id, conversation_id, direction, at, customer_address, subject, refs) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![r.message_id, r.conversation_id, r.direction, now(), r.customer_address, r.subject, r.references.join(" ")],
        )?;
        Ok(n == 1)
    }

    /// Conversations by email with `address` (ignoring case): what an erasure of that customer
    /// must take with it.
    pub fn conversations_emailed_from(&self, address: &str) -> Result<Vec<String>, JournalError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare("SELECT DISTINCT conversation_id FROM email_messages WHERE customer_address = ?1 COLLATE NOCASE")?;
        let rows = stmt.query_map([address], |r| r.get(0))?;
        rows.collect::<Result<_, _>>().map_err(Into::into)
    }

    /// The message with this Message-ID, if recorded.
    pub fn email(&self, message_id: &str) -> Result<Option<EmailRecord>, JournalError> {
        let conn = self.read()?;
        conn.query_row(
            "SELECT message_id, conversation_id, direction, customer_address, subject, refs FROM email_messages WHERE message_id = ?1",
            [message_id],
            email_row,
        )
        .optional()
        .map_err(Into::into)
    }

    /// The conversation of the first of `message_ids` on record (callers pass In-Reply-To first,
    /// then References newest first).
    pub fn email_conversation(
        &self,
        message_ids: &[String],
    ) -> Result<Option<String>, JournalError> {
        for id in message_ids {
            if let Some(r) = self.email(id)? {
                return Ok(Some(r.conversation_id));
            }
        }
        Ok(None)
    }

    /// The customer's latest message in a conversation (what a person's reply answers).
    pub fn last_inbound_email(
        &self,
        conversation_id: &str,
    ) -> Result<Option<EmailRecord>, JournalError> {
        let conn = self.read()?;
        conn.query_row(
            "SELECT message_id, conversation_id, direction, customer_address, subject, refs FROM email_messages
             WHERE conversation_id = ?1 AND direction = 'in' ORDER BY at DESC, rowid DESC LIMIT 1",
            [conversation_id],
            email_row,
        )
        .optional()
        .map_err(Into::into)
    }
}

/// A message in the outbox, as [`Journal::outbox_entry`] reads it back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxEntry {
    pub message_id: String,
    pub conversation_id: String,
    /// The message, as `email::send::Outgoing` serialises it.
    pub mail: String,
    /// "pending", "sent" or "failed" (given up).
    pub status: String,
    pub attempts: u32,
    pub last_error: Option<String>,
}

/// The outbox: mail that could not be sent when it was written.
impl Journal {
    /// Queues a message that failed `attempts` times so far, to be tried at `at_ms` (unix
    /// milliseconds). Queuing a Message-ID twice keeps the first.
    pub fn queue_email(
        &self,
        message_id: &str,
        conversation_id: &str,
        mail_json: &str,
        attempts: u32,
        error: &str,
        at_ms: i64,
    ) -> Result<(), JournalError> {
        self.write()?.execute(
            "INSERT OR IGNORE INTO email_outbox (message_id, conversation_id, mail, attempts, last_error, next_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![message_id, conversation_id, mail_json, attempts, error, at_ms],
        )?;
        Ok(())
    }

    /// Pending messages due by `now_ms`, oldest first: (Message-ID, the message as JSON, attempts so far).
    pub fn due_emails(
        &self,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<(String, String, u32)>, JournalError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare("SELECT message_id, mail, attempts FROM email_outbox WHERE status = 'pending' AND next_at_ms <= ?1 ORDER BY next_at_ms LIMIT ?2")?;
        let rows = stmt.query_map(params![now_ms, limit as i64], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
        rows.collect::<Result<_, _>>().map_err(Into::into)
    }

    /// Records attempt number `attempt` and what follows from it.
    pub fn record_email_attempt(
        &self,
        message_id: &str,
        attempt: u32,
        outcome: &crate::retry::Attempt,
    ) -> Result<(), JournalError> {
        use crate::retry::Attempt;
        let conn = self.write()?;
        match outcome {
            Attempt::Delivered => conn.execute(
                "UPDATE email_outbox SET status = 'sent', attempts = ?2, sent_at = ?3 WHERE message_id = ?1",
                params![message_id, attempt, now()],
            )?,
            Attempt::Retry { error, at_ms } => conn.execute(
                "UPDATE email_outbox SET attempts = ?2, last_error = ?3, next_at_ms = ?4 WHERE message_id = ?1",
                params![message_id, attempt, error, at_ms],
            )?,
            Attempt::GaveUp(error) => conn.execute(
                "UPDATE email_outbox SET status = 'failed', attempts = ?2, last_error = ?3 WHERE message_id = ?1",
                params![message_id, attempt, error],
            )?,
        };
        Ok(())
    }

    /// The outbox entry of a message, if it was ever queued.
    pub fn outbox_entry(&self, message_id: &str) -> Result<Option<OutboxEntry>, JournalError> {
        let conn = self.read()?;
        conn.query_row(
            "SELECT message_id, conversation_id, mail, status, attempts, last_error FROM email_outbox WHERE message_id = ?1",
            [message_id],
            |r| Ok(OutboxEntry { message_id: r.get(0)?, conversation_id: r.get(1)?, mail: r.get(2)?, status: r.get(3)?, attempts: r.get(4)?, last_error: r.get(5)? }),
        )
        .optional()
        .map_err(Into::into)
    }
}

fn email_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EmailRecord> {
    Ok(EmailRecord {
        message_id: r.get(0)?,
        conversation_id: r.get(1)?,
        direction: r.get(2)?,
        customer_address: r.get(3)?,
        subject: r.get(4)?,
        references: r
            .get::<_, String>(5)?
            .split_whitespace()
            .map(String::from)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, conversation: &str, direction: &str) -> EmailRecord {
        EmailRecord {
            message_id: id.into(),
            conversation_id: conversation.into(),
            direction: direction.into(),
            customer_address: "a@b.test".into(),
            subject: "Refund".into(),
            references: vec!["x@y".into()],
        }
    }

    #[test]
    fn a_reply_finds_its_conversation_by_any_message_it_names() {
        let j = Journal::open_in_memory().unwrap();
        j.create("c1", "email").unwrap();
        assert!(j
            .record_email(&record("m1@customer.test", "c1", "in"))
            .unwrap());
        assert!(j
            .record_email(&record("r1@shop.test", "c1", "out"))
            .unwrap());
        assert!(
            !j.record_email(&record("m1@customer.test", "c1", "in"))
                .unwrap(),
            "a Message-ID is recorded once"
        );
        assert_eq!(
            j.email_conversation(&["unknown@x".into(), "r1@shop.test".into()])
                .unwrap()
                .as_deref(),
            Some("c1")
        );
        assert_eq!(j.email_conversation(&["unknown@x".into()]).unwrap(), None);
        let last = j.last_inbound_email("c1").unwrap().unwrap();
        assert_eq!(
            (last.message_id.as_str(), last.references.as_slice()),
            ("m1@customer.test", &["x@y".to_string()][..])
        );
    }
}
