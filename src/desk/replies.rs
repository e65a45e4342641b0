//! Saved replies: reply templates admins keep (create, edit, delete; each change in the
//! `desk_audit` log) and agents insert into a reply, then edit before sending. A template's
//! placeholders are filled from the hand-off's *verified* order only (the packet carries an
//! order only when the verified customer owns it), so a saved reply can never put another
//! customer's order into a message.
//!
//! Placeholders: `{customer_name}`, `{order_number}`, `{order_status}`, `{tracking_link}`,
//! `{tracking_number}`, `{carrier}`, `{agent_name}`, `{store_name}`. Any other `{word}` is
//! refused when the template is saved (a typo would otherwise reach a customer as is).
//!
//! Stored in the desk's tables of the service's database (migration 3 of `desk::accounts`).
//! This module does not render pages or check CSRF (the HTTP channel does); roles are checked
//! here, like the rest of the desk's changes.

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use crate::journal::HandoffPacket;

use super::accounts::{audit, AccountError, Accounts, Role, Staff};

pub const MAX_TITLE_CHARS: usize = 80;
pub const MAX_BODY_CHARS: usize = crate::desk::MAX_REPLY_CHARS;

/// Every placeholder a template may use, with what it stands for (shown on the admin page).
pub const PLACEHOLDERS: [(&str, &str); 8] = [
    ("customer_name", "the verified customer's first name"),
    ("order_number", "the verified order's number"),
    ("order_status", "its status, in words"),
    ("tracking_link", "the tracking page of its latest parcel"),
    ("tracking_number", "the latest parcel's tracking number"),
    ("carrier", "the latest parcel's carrier"),
    ("agent_name", "your name as customers see it"),
    ("store_name", "the store's name"),
];

#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    #[error("a saved reply needs a title of 1–{MAX_TITLE_CHARS} characters")]
    BadTitle,
    #[error("a saved reply needs a text of 1–{MAX_BODY_CHARS} characters")]
    BadBody,
    #[error("{{{0}}} is not a placeholder; use one of {list}", list = placeholder_list())]
    UnknownPlaceholder(String),
    #[error("a saved reply titled {0:?} already exists")]
    Exists(String),
    #[error("no saved reply {0}")]
    NotFound(i64),
    #[error(transparent)]
    Access(#[from] AccountError),
    #[error("saved replies: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

impl ReplyError {
    /// Stable code for the API and the pages.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadTitle | Self::BadBody => "invalid_reply",
            Self::UnknownPlaceholder(_) => "unknown_placeholder",
            Self::Exists(_) => "reply_exists",
            Self::NotFound(_) => "reply_not_found",
            Self::Access(e) => e.code(),
            Self::Sqlite(_) => "accounts_failed",
        }
    }
}

fn placeholder_list() -> String {
    PLACEHOLDERS
        .iter()
        .map(|(p, _)| format!("{{{p}}}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A saved reply as stored.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SavedReply {
    pub id: i64,
    pub title: String,
    pub body: String,
    pub created_by: String,
    pub created_at: String,
    pub updated_by: String,
    pub updated_at: String,
}

/// What the placeholders are filled from: the hand-off's verified order and customer, the
/// agent and the store.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub customer_name: Option<String>,
    pub order_number: Option<String>,
    pub order_status: Option<String>,
    pub tracking_link: Option<String>,
    pub tracking_number: Option<String>,
    pub carrier: Option<String>,
    pub agent_name: String,
    pub store_name: String,
}

impl Facts {
    /// From a hand-off packet's `order` (present only when the verified customer owns it) and
    /// the verified customer's first name.
    pub fn from_packet(
        packet: &HandoffPacket,
        customer_first_name: Option<&str>,
        agent: &str,
        store: &str,
    ) -> Self {
        let order = packet.order.as_ref();
        let text = |v: Option<&str>| v.map(str::to_string).filter(|s| !s.is_empty());
        // The latest parcel: the last fulfilment listed.
        let parcel = order.and_then(|o| o.fulfilments.last());
        Self {
            customer_name: text(customer_first_name),
            order_number: order.and_then(|o| text(Some(&o.number))),
            order_status: order.map(|o| o.status.label().to_lowercase()),
            tracking_link: parcel.and_then(|p| text(p.tracking_url.as_deref())),
            tracking_number: parcel.and_then(|p| text(Some(&p.tracking_number))),
            carrier: parcel.and_then(|p| text(p.carrier.as_deref())),
            agent_name: agent.to_string(),
            store_name: store.to_string(),
        }
    }

    fn value(&self, name: &str) -> Option<&str> {
        match name {
            "customer_name" => self.customer_name.as_deref(),
            "order_number" => self.order_number.as_deref(),
            "order_status" => self.order_status.as_deref(),
            "tracking_link" => self.tracking_link.as_deref(),
            "tracking_number" => self.tracking_number.as_deref(),
            "carrier" => self.carrier.as_deref(),
            "agent_name" => Some(&self.agent_name)
                .filter(|s| !s.is_empty())
                .map(|s| s.as_str()),
            "store_name" => Some(&self.store_name)
                .filter(|s| !s.is_empty())
                .map(|s| s.as_str()),
            _ => None,
        }
    }
}

/// The `{word}` spans of a template: (byte range, word). Braces around anything else are text.
fn spans(body: &str) -> Vec<(std::ops::Range<usize>, &str)> {
    let mut out = Vec::new();
    let mut rest = 0;
    while let Some(open) = body[rest..].find('{').map(|i| rest + i) {
        let after = &body[open + 1..];
        let word_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        if word_len > 0 && after[word_len..].starts_with('}') {
            out.push((open..open + word_len + 2, &after[..word_len]));
            rest = open + word_len + 2;
        } else {
            rest = open + 1;
        }
    }
    out
}

/// Refuses a template with a placeholder that is not one of [`PLACEHOLDERS`].
pub fn check_placeholders(body: &str) -> Result<(), ReplyError> {
    match spans(body)
        .into_iter()
        .find(|(_, w)| !PLACEHOLDERS.iter().any(|(p, _)| p == w))
    {
        Some((_, w)) => Err(ReplyError::UnknownPlaceholder(w.to_string())),
        None => Ok(()),
    }
}

/// The template with its placeholders filled, or the placeholders these facts cannot fill
/// (a template about an order, on a hand-off without a verified order).
pub fn fill(body: &str, facts: &Facts) -> Result<String, Vec<String>> {
    let mut out = String::with_capacity(body.len());
    let mut missing = Vec::new();
    let mut at = 0;
    for (range, word) in spans(body) {
        out.push_str(&body[at..range.start]);
        match facts.value(word) {
            Some(v) => out.push_str(v),
            None => {
                if !missing.iter().any(|m| m == word) {
                    missing.push(word.to_string());
                }
            }
        }
        at = range.end;
    }
    out.push_str(&body[at..]);
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(missing)
    }
}

fn checked(title: &str, body: &str) -> Result<(String, String), ReplyError> {
    let title = title.trim();
    let body = body.trim();
    if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
        return Err(ReplyError::BadTitle);
    }
    if body.is_empty() || body.chars().count() > MAX_BODY_CHARS {
        return Err(ReplyError::BadBody);
    }
    check_placeholders(body)?;
    Ok((title.to_string(), body.replace("\r\n", "\n")))
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SavedReply> {
    Ok(SavedReply {
        id: r.get(0)?,
        title: r.get(1)?,
        body: r.get(2)?,
        created_by: r.get(3)?,
        created_at: r.get(4)?,
        updated_by: r.get(5)?,
        updated_at: r.get(6)?,
    })
}

const COLUMNS: &str = "id, title, body, created_by, created_at, updated_by, updated_at";

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

impl Accounts {
    /// Every saved reply, by title (anyone on the desk may read and insert them).
    pub fn saved_replies(&self) -> Result<Vec<SavedReply>, ReplyError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM desk_replies ORDER BY title COLLATE NOCASE, id"
        ))?;
        let rows = stmt.query_map([], row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn saved_reply(&self, id: i64) -> Result<SavedReply, ReplyError> {
        self.read()?
            .query_row(
                &format!("SELECT {COLUMNS} FROM desk_replies WHERE id = ?1"),
                [id],
                row,
            )
            .optional()?
            .ok_or(ReplyError::NotFound(id))
    }

    /// An admin adds a saved reply.
    pub fn create_reply(
        &self,
        actor: &Staff,
        title: &str,
        body: &str,
    ) -> Result<SavedReply, ReplyError> {
        actor.require(Role::Admin)?;
        let (title, body) = checked(title, body)?;
        let at = crate::journal::now();
        let mut conn = self.write()?;
        let tx = conn.transaction()?;
        match tx.execute(
            "INSERT INTO desk_replies (title, body, created_by, created_at, updated_by, updated_at) VALUES (?1, ?2, ?3, ?4, ?3, ?4)",
            params![title, body, actor.email, at],
        ) {
            Err(e) if is_unique_violation(&e) => return Err(ReplyError::Exists(title)),
            r => r?,
        };
        let id = tx.last_insert_rowid();
        audit(&tx, &actor.email, "reply_created", &title, "")?;
        tx.commit()?;
        drop(conn);
        self.saved_reply(id)
    }

    /// An admin changes a saved reply's title and text.
    pub fn update_reply(
        &self,
        actor: &Staff,
        id: i64,
        title: &str,
        body: &str,
    ) -> Result<SavedReply, ReplyError> {
        actor.require(Role::Admin)?;
        let (title, body) = checked(title, body)?;
        let mut conn = self.write()?;
        let tx = conn.transaction()?;
        let changed = match tx.execute(
            "UPDATE desk_replies SET title = ?2, body = ?3, updated_by = ?4, updated_at = ?5 WHERE id = ?1",
            params![id, title, body, actor.email, crate::journal::now()],
        ) {
            Err(e) if is_unique_violation(&e) => return Err(ReplyError::Exists(title)),
            r => r?,
        };
        if changed == 0 {
            return Err(ReplyError::NotFound(id));
        }
        audit(&tx, &actor.email, "reply_updated", &title, "")?;
        tx.commit()?;
        drop(conn);
        self.saved_reply(id)
    }

    /// An admin deletes a saved reply.
    pub fn delete_reply(&self, actor: &Staff, id: i64) -> Result<(), ReplyError> {
        actor.require(Role::Admin)?;
        let mut conn = self.write()?;
        let tx = conn.transaction()?;
        let title: Option<String> = tx
            .query_row("SELECT title FROM desk_replies WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?;
        let Some(title) = title else {
            return Err(ReplyError::NotFound(id));
        };
        tx.execute("DELETE FROM desk_replies WHERE id = ?1", [id])?;
        audit(&tx, &actor.email, "reply_deleted", &title, "")?;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::accounts::Limits;

    fn staff(role: Role) -> Staff {
        Staff {
            user_id: None,
            email: format!("{role}@example.com"),
            name: "Priya".into(),
            role,
        }
    }

    #[test]
    fn admins_keep_saved_replies_and_agents_may_not_change_them() {
        let a = Accounts::open_in_memory(Limits::default()).unwrap();
        let admin = staff(Role::Admin);
        let agent = staff(Role::Agent);
        let r = a
            .create_reply(
                &admin,
                " Where is it ",
                "Hi {customer_name}, order {order_number} is {order_status}.",
            )
            .unwrap();
        assert_eq!(r.title, "Where is it");
        assert_eq!(
            a.create_reply(&agent, "x", "y").unwrap_err().code(),
            "forbidden"
        );
        assert_eq!(
            a.create_reply(&admin, "Where is it", "again")
                .unwrap_err()
                .code(),
            "reply_exists"
        );
        assert_eq!(
            a.create_reply(&admin, "Typo", "Hi {custmer_name}")
                .unwrap_err()
                .code(),
            "unknown_placeholder"
        );
        assert_eq!(
            a.create_reply(&admin, "", "x").unwrap_err().code(),
            "invalid_reply"
        );
        let changed = a
            .update_reply(&admin, r.id, "Where is it", "Tracking: {tracking_link}")
            .unwrap();
        assert_eq!(changed.body, "Tracking: {tracking_link}");
        assert_eq!(
            a.update_reply(&agent, r.id, "t", "b").unwrap_err().code(),
            "forbidden"
        );
        assert_eq!(
            a.delete_reply(&agent, r.id).unwrap_err().code(),
            "forbidden"
        );
        assert_eq!(a.saved_replies().unwrap().len(), 1);
        a.delete_reply(&admin, r.id).unwrap();
        assert_eq!(
            a.delete_reply(&admin, r.id).unwrap_err().code(),
            "reply_not_found"
        );
        assert!(a.saved_replies().unwrap().is_empty());
        let audit: Vec<String> = a
            .audit_log(10)
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(audit, ["reply_deleted", "reply_updated", "reply_created"]);
    }

    #[test]
    fn placeholders_are_filled_from_the_verified_order_only() {
        let packet_with = |order: Option<crate::orders::Order>| HandoffPacket {
            version: crate::journal::PACKET_VERSION,
            conversation_id: "c_1".into(),
            reason: crate::answer::HandoffReason::CustomerAsked.into(),
            transcript: vec![],
            intent: crate::journal::PacketIntent {
                intent: "talk_to_human".into(),
                confidence: 0.99,
                margin: 0.98,
                ranked: vec![],
            },
            entities: Default::default(),
            identity: Default::default(),
            order,
            passages: vec![],
            gate: None,
            suggested_reply: String::new(),
        };
        let demo = crate::orders::demo::demo_dataset(time::macros::date!(2026 - 11 - 24)).unwrap();
        let shipped = demo.orders.into_iter().find(|o| o.number == "LF-100001");
        let facts = Facts::from_packet(
            &packet_with(shipped),
            Some("Maya"),
            "Priya",
            "Larkfield Goods",
        );
        assert_eq!(
            fill("Hi {customer_name}, {order_number} is {order_status}: {tracking_link} ({carrier}). {agent_name}, {store_name}. {not a placeholder} {}", &facts).unwrap(),
            "Hi Maya, LF-100001 is shipped: https://www.ups.com/track?tracknum=1Z8V2E410300100001 (UPS). Priya, Larkfield Goods. {not a placeholder} {}"
        );
        // Without a verified order, an order template cannot be filled (and says what is missing).
        let none = Facts::from_packet(&packet_with(None), None, "Priya", "Larkfield Goods");
        assert_eq!(
            fill("Hi {customer_name}, {order_number}: {tracking_link}", &none).unwrap_err(),
            ["customer_name", "order_number", "tracking_link"]
        );
        assert_eq!(
            fill("Thanks! {agent_name}", &none).unwrap(),
            "Thanks! Priya"
        );
    }
}
