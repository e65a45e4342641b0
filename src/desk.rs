//! The team's side of a hand-off, as far as the channels need it: the open hand-offs, and a
//! person's reply, journaled as an `agent` turn and pushed live to the customer's chat widget.
//! Claiming, resolving and the admin app belong to the desk proper (a later step).

use serde::Serialize;
use serde_json::json;

use crate::journal::{live::Live, HandoffRecord, Journal, JournalError, StoredTurn, TurnRecord};

/// Longest agent reply accepted, in characters (the customer's own limit).
pub const MAX_REPLY_CHARS: usize = crate::assistant::MAX_MESSAGE_CHARS;

/// Who the reply is signed as when the agent gives no name.
pub const DEFAULT_AGENT: &str = "Support team";

#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error("no hand-off {0}")]
    HandoffNotFound(String),
    #[error("reply is empty")]
    EmptyReply,
    #[error("reply is longer than {MAX_REPLY_CHARS} characters")]
    ReplyTooLong,
    #[error("agent name must be 1–80 characters")]
    BadAgentName,
    #[error(transparent)]
    Journal(#[from] JournalError),
}

impl DeskError {
    /// Stable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            Self::HandoffNotFound(_) => "handoff_not_found",
            Self::EmptyReply => "empty_message",
            Self::ReplyTooLong => "message_too_long",
            Self::BadAgentName => "invalid_agent",
            Self::Journal(_) => "journal_failed",
        }
    }
}

/// A reply as delivered.
#[derive(Debug, Clone, Serialize)]
pub struct Delivered {
    pub handoff_id: String,
    pub conversation_id: String,
    pub turn: StoredTurn,
    /// Open widgets that received it at once (0: the customer sees it when they come back).
    pub live_watchers: usize,
}

/// Hand-offs waiting for a person, oldest first.
pub fn open_handoffs(journal: &Journal) -> Result<Vec<HandoffRecord>, DeskError> {
    Ok(journal.handoffs_with_status("open")?)
}

/// A person's reply to the customer of hand-off `handoff_id`.
pub fn reply(journal: &Journal, live: &Live, handoff_id: &str, agent: Option<&str>, text: &str) -> Result<Delivered, DeskError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DeskError::EmptyReply);
    }
    if text.chars().count() > MAX_REPLY_CHARS {
        return Err(DeskError::ReplyTooLong);
    }
    let agent = agent.map(str::trim).unwrap_or(DEFAULT_AGENT);
    if agent.is_empty() || agent.chars().count() > 80 {
        return Err(DeskError::BadAgentName);
    }
    let handoff = journal.handoff(handoff_id)?.ok_or_else(|| DeskError::HandoffNotFound(handoff_id.to_string()))?;
    let turn = journal.append(&TurnRecord {
        conversation_id: handoff.conversation_id.clone(),
        role: "agent".into(),
        text: text.to_string(),
        intent: None,
        confidence: None,
        detail: json!({"agent": agent, "handoff_id": handoff.id}),
        latency_ms: None,
    })?;
    let live_watchers = live.publish(&turn);
    Ok(Delivered { handoff_id: handoff.id, conversation_id: handoff.conversation_id, turn, live_watchers })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_is_journaled_as_an_agent_turn_and_reaches_a_watching_widget() {
        let journal = Journal::open_in_memory().unwrap();
        let live = Live::new();
        journal.create("c1", "widget").unwrap();
        let id = journal.open_handoff("c1", "customer_asked", &json!({})).unwrap();
        let mut watcher = live.watch("c1");
        let d = reply(&journal, &live, &id, Some("Priya"), "  Hi, Priya here. Let me look.  ").unwrap();
        assert_eq!((d.conversation_id.as_str(), d.live_watchers), ("c1", 1));
        let pushed = watcher.try_recv().unwrap();
        assert_eq!((pushed.turn.role.as_str(), pushed.turn.text.as_str()), ("agent", "Hi, Priya here. Let me look."));
        assert_eq!(pushed.turn.detail["agent"], "Priya");
        let stored = journal.turns_since("c1", 0, Some("agent")).unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].id, pushed.id);
    }

    #[test]
    fn unknown_hand_offs_and_empty_replies_are_refused() {
        let journal = Journal::open_in_memory().unwrap();
        let live = Live::new();
        assert_eq!(reply(&journal, &live, "HO-NOPE", None, "hello").unwrap_err().code(), "handoff_not_found");
        journal.create("c1", "widget").unwrap();
        let id = journal.open_handoff("c1", "customer_asked", &json!({})).unwrap();
        assert_eq!(reply(&journal, &live, &id, None, "   ").unwrap_err().code(), "empty_message");
        assert_eq!(reply(&journal, &live, &id, None, &"x".repeat(MAX_REPLY_CHARS + 1)).unwrap_err().code(), "message_too_long");
    }
}
