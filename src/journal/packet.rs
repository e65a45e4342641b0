//! The hand-off packet as the journal stores it: everything a person needs to pick a
//! conversation up, as a typed record with a version.
//!
//! The assistant fills it when it hands a conversation off; the desk, the helpdesk webhook and
//! the helpdesk mail read it. Stored as JSON in `handoffs.packet`; the field names are the ones
//! helpdesks already receive (the webhook posts the packet as it is), so typing it changed no
//! byte a helpdesk sees but `version`. A packet written by a newer release, or one that does not
//! decode, is [`super::JournalError::Corrupt`] (`unreadable_record`), never an empty packet shown
//! as if the customer had said nothing.
//!
//! It does not decide what goes in (the assistant does, and puts in only an order the verified
//! customer owns) nor who may see it (the desk masks, see `privacy`).

use serde::{Deserialize, Serialize};

use crate::{answer::HandoffReason, index::Hit, orders::Order, understand::Entities};

/// The packet layout this release writes and reads. Version 1 is the first typed one; rows from
/// before it carry no `version` and have the same fields, so they read as version 1.
pub const PACKET_VERSION: u32 = 1;

/// What a person needs to pick the conversation up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HandoffPacket {
    /// The packet layout ([`PACKET_VERSION`]).
    #[serde(default = "super::first_version")]
    pub version: u32,
    pub conversation_id: String,
    /// Why it went to a person, with the code the desk and metrics group by.
    pub reason: PacketReason,
    /// The conversation up to and including the message that was handed off.
    pub transcript: Vec<PacketLine>,
    /// What the last message asks, as understood.
    pub intent: PacketIntent,
    /// Order numbers, emails, postcodes… the last message mentions (what the customer wrote, not
    /// what was verified).
    #[schema(value_type = Object)]
    pub entities: Entities,
    /// Who was verified, and how: empty when nobody was.
    pub identity: PacketIdentity,
    /// The order in focus, only when the verified customer owns it.
    #[schema(value_type = Option<Object>)]
    pub order: Option<Order>,
    /// The best passages retrieval found, with their scores.
    #[serde(default)]
    pub passages: Vec<PacketPassage>,
    /// The answer gate's decision log for the turn (diagnostic; its shape follows the gate).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub gate: Option<serde_json::Value>,
    /// A draft reply for the person to edit (empty when there is nothing to suggest).
    #[serde(default)]
    pub suggested_reply: String,
}

/// Why a conversation went to a person, as stored: one of today's reasons, or a code an earlier
/// release gave that this one no longer does (`verification_limit`, before refused identity
/// checks became a 429): such a hand-off still opens, with its code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PacketReason {
    Known(HandoffReason),
    Retired { code: String },
}

impl PacketReason {
    pub fn code(&self) -> &str {
        match self {
            Self::Known(r) => r.code(),
            Self::Retired { code } => code,
        }
    }
}

/// Described as what both shapes share (a `code`, and the fields that code carries): a derived
/// `oneOf` would be ambiguous, since every known reason also matches the retired shape.
impl utoipa::PartialSchema for PacketReason {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::{
            schema::{SchemaType, Type},
            ObjectBuilder,
        };
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::Object))
            .property(
                "code",
                ObjectBuilder::new().schema_type(SchemaType::Type(Type::String)),
            )
            .required("code")
            .description(Some(
                "Why it went to a person: `code` (`weak_grounding`, `repeated_failure`, \
                 `sensitive`, `customer_asked`, `complaint`, `outside_policy`, \
                 `action_requested`, or a code an earlier release gave) with the fields that \
                 code carries (see HandoffReason)",
            ))
            .into()
    }
}

impl utoipa::ToSchema for PacketReason {}

impl From<&Hit> for PacketPassage {
    fn from(h: &Hit) -> Self {
        Self {
            passage_id: h.passage.id.clone(),
            title: h.passage.title.clone(),
            heading: h.passage.heading.clone(),
            url: h.passage.url.clone(),
            text: h.passage.text.clone(),
            bm25: h.bm25,
            dense: h.dense,
            fused: h.fused,
        }
    }
}

impl From<HandoffReason> for PacketReason {
    fn from(r: HandoffReason) -> Self {
        Self::Known(r)
    }
}

/// One line of the transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PacketLine {
    /// `customer`, `assistant` or `agent`.
    pub role: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PacketIntent {
    /// The intent's code (`order_status`, `return_request`, …).
    pub intent: String,
    pub confidence: f32,
    pub margin: f32,
    /// The three most probable intents, each `[intent, probability]`.
    #[serde(default)]
    #[schema(value_type = Vec<Vec<Value>>)]
    pub ranked: Vec<(String, f32)>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PacketIdentity {
    pub customer_id: Option<String>,
    /// `order_email`, `order_postcode`, `email`, `name_postcode`, `user_id_postcode`, `token`.
    pub verified_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PacketPassage {
    pub passage_id: String,
    pub title: String,
    #[serde(default)]
    pub heading: String,
    #[serde(default)]
    pub url: Option<String>,
    pub text: String,
    pub bm25: Option<f32>,
    pub dense: f32,
    pub fused: f32,
}

impl HandoffPacket {
    /// A packet with only the conversation and why: what a hand-off opened outside an answered
    /// turn carries (a tool, a test); an answered turn fills in the rest.
    pub fn new(conversation_id: &str, reason: impl Into<PacketReason>) -> Self {
        Self {
            version: PACKET_VERSION,
            conversation_id: conversation_id.to_string(),
            reason: reason.into(),
            transcript: Vec::new(),
            intent: PacketIntent {
                intent: "unknown".into(),
                confidence: 0.0,
                margin: 0.0,
                ranked: Vec::new(),
            },
            entities: Entities::default(),
            identity: PacketIdentity::default(),
            order: None,
            passages: Vec::new(),
            gate: None,
            suggested_reply: String::new(),
        }
    }

    /// The same, with what the customer said.
    pub fn with_line(mut self, role: &str, text: &str) -> Self {
        self.transcript.push(PacketLine {
            role: role.to_string(),
            text: text.to_string(),
        });
        self
    }

    /// The customer's last message (what the queue shows), if there is one.
    pub fn last_customer_message(&self) -> Option<&str> {
        self.transcript
            .iter()
            .rev()
            .find(|l| l.role == "customer")
            .map(|l| l.text.as_str())
    }

    /// Reads a stored packet: an error (with why) for one that does not decode or that a newer
    /// release wrote.
    pub fn decode(stored: &str) -> Result<Self, String> {
        super::decode_versioned(stored, "packet", |p: &Self| p.version, PACKET_VERSION)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored_before_versions() -> serde_json::Value {
        // A packet as releases before the typed record wrote it (no `version`).
        serde_json::json!({
            "conversation_id": "c_1",
            "reason": {"code": "customer_asked"},
            "transcript": [{"role": "customer", "text": "Where is LF-100001?"}, {"role": "assistant", "text": "It shipped."}, {"role": "customer", "text": "a person please"}],
            "intent": {"intent": "talk_to_human", "confidence": 0.75, "margin": 0.5, "ranked": [["talk_to_human", 0.75]]},
            "entities": {"order_numbers": [], "emails": [], "postcodes": [], "tracking_numbers": [], "names": [], "user_ids": [], "quantities": [], "options": []},
            "identity": {"customer_id": null, "verified_by": null},
            "order": null,
            "passages": [],
            "gate": null,
            "suggested_reply": ""
        })
    }

    #[test]
    fn packets_written_before_versions_read_as_version_one() {
        let p = HandoffPacket::decode(&stored_before_versions().to_string()).unwrap();
        assert_eq!(p.version, 1);
        assert_eq!(p.reason, PacketReason::Known(HandoffReason::CustomerAsked));
        assert_eq!(p.last_customer_message(), Some("a person please"));
        // Written back, it is the same JSON plus the version.
        let mut again = serde_json::to_value(&p).unwrap();
        assert_eq!(again["version"], 1);
        again.as_object_mut().unwrap().remove("version");
        assert_eq!(again, stored_before_versions());
    }

    #[test]
    fn a_reason_an_earlier_release_gave_still_reads() {
        let mut old = stored_before_versions();
        old["reason"] = serde_json::json!({"code": "verification_limit"});
        let p = HandoffPacket::decode(&old.to_string()).unwrap();
        assert_eq!(p.reason.code(), "verification_limit");
        let mut weak = stored_before_versions();
        weak["reason"] = serde_json::json!({"code": "weak_grounding", "dense": 0.31, "bm25": null});
        assert!(matches!(
            HandoffPacket::decode(&weak.to_string()).unwrap().reason,
            PacketReason::Known(HandoffReason::WeakGrounding { .. })
        ));
    }

    #[test]
    fn a_packet_from_a_newer_release_or_broken_is_refused_not_emptied() {
        let mut newer = stored_before_versions();
        newer["version"] = serde_json::json!(PACKET_VERSION + 1);
        assert!(HandoffPacket::decode(&newer.to_string())
            .unwrap_err()
            .contains("newer"));
        assert!(HandoffPacket::decode("{\"transcript\": 5}").is_err());
        assert!(HandoffPacket::decode("null").is_err());
    }
}
