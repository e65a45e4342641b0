//! What a turn produced besides its text, as the journal stores it (`turns.detail`): a typed
//! record with a version, read by the desk's transcripts, the widget's conversation routes and
//! the email channel.
//!
//! Every field is optional, so turns written before it was typed read as they are; a detail
//! that does not decode, or that a newer release wrote, is [`super::JournalError::Corrupt`]
//! rather than a turn shown without its sources. It records; it decides nothing.

use serde::{Deserialize, Serialize};

use crate::answer::{Citation, Handoff, OrderCard};

/// The detail layout this release writes and reads (rows without `version` are version 1).
pub const DETAIL_VERSION: u32 = 1;

fn is_false(b: &bool) -> bool {
    !b
}

/// What a turn produced besides its text. A customer's turn carries how it was understood; the
/// assistant's its sources, gate decision, order card, actions and hand-off; a person's reply
/// who wrote it and for which hand-off.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TurnDetail {
    #[serde(default = "super::first_version")]
    pub version: u32,
    /// The channel the message came in on (customer turns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The understanding of the message as the model gave it (customer turns; diagnostic, its
    /// shape follows `understand::Understanding`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub understanding: Option<serde_json::Value>,
    /// The passages the reply quotes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub citations: Vec<Citation>,
    /// The answer gate's decision log: one entry, or one per request of a message that asked
    /// several things (diagnostic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<serde_json::Value>,
    /// The order card the reply showed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<OrderCard>,
    /// Guided actions the reply proposed or carried out, as `actions` reports them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<serde_json::Value>,
    /// The hand-off the turn opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff: Option<Handoff>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub awaiting_confirmation: bool,
    /// The reply said a person has the conversation (messages while it is with them).
    #[serde(default, skip_serializing_if = "is_false")]
    pub with_person: bool,
    /// A person's reply: who wrote it, and the hand-off it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff_id: Option<String>,
}

impl TurnDetail {
    /// An empty detail in this release's layout.
    pub fn new() -> Self {
        Self {
            version: DETAIL_VERSION,
            ..Self::default()
        }
    }

    /// The gate's decisions, in order ("answer", "verify", "handoff", …).
    pub fn decisions(&self) -> Vec<&str> {
        match &self.gate {
            Some(serde_json::Value::Array(gates)) => gates
                .iter()
                .filter_map(|g| g["decision"].as_str())
                .collect(),
            Some(g) => g["decision"].as_str().into_iter().collect(),
            None => Vec::new(),
        }
    }

    /// The hand-off this turn opened or answers, if any.
    pub fn handoff_ref(&self) -> Option<&str> {
        self.handoff
            .as_ref()
            .map(|h| h.id.as_str())
            .or(self.handoff_id.as_deref())
    }

    /// Reads a stored detail: an error (with why) for one that does not decode or that a newer
    /// release wrote. Empty text (`''`) and `null` read as an empty detail.
    pub fn decode(stored: &str) -> Result<Self, String> {
        if stored.trim().is_empty() || stored.trim() == "null" {
            return Ok(Self::new());
        }
        super::decode_versioned(stored, "turn detail", |d: &Self| d.version, DETAIL_VERSION)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_written_before_versions_read_as_they_were() {
        let agent = TurnDetail::decode(r#"{"agent": "Priya", "handoff_id": "HO-1"}"#).unwrap();
        assert_eq!(agent.version, 1);
        assert_eq!(agent.agent.as_deref(), Some("Priya"));
        assert_eq!(agent.handoff_ref(), Some("HO-1"));
        let answered = TurnDetail::decode(
            r#"{"citations": [{"passage_id": "p1", "doc_id": "returns", "title": "Returns", "heading": "Window", "url": null}],
                "gate": [{"decision": "answer"}, {"decision": "verify"}], "order": null, "actions": [],
                "handoff": null, "awaiting_confirmation": false}"#,
        )
        .unwrap();
        assert_eq!(answered.citations[0].doc_id, "returns");
        assert_eq!(answered.decisions(), ["answer", "verify"]);
        assert_eq!(TurnDetail::decode("{}").unwrap(), TurnDetail::new());
        assert_eq!(TurnDetail::decode("null").unwrap(), TurnDetail::new());
    }

    #[test]
    fn only_what_a_turn_has_is_written() {
        let mut d = TurnDetail::new();
        d.agent = Some("Priya".into());
        assert_eq!(
            serde_json::to_value(&d).unwrap(),
            serde_json::json!({"version": 1, "agent": "Priya"})
        );
    }

    #[test]
    fn a_detail_from_a_newer_release_or_broken_is_refused() {
        assert!(TurnDetail::decode(r#"{"version": 2}"#)
            .unwrap_err()
            .contains("newer"));
        assert!(TurnDetail::decode(r#"{"citations": "none"}"#).is_err());
    }
}
