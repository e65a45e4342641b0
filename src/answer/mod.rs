//! Step: say it. Turns evidence and order data into the reply a customer reads, and decides,
//! through the confidence gate, when a person should answer instead.
//!
//! Replies are templates in the store's voice filled with order data, plus sentences quoted
//! verbatim from cited passages: nothing in a reply is invented, so every date, amount, status
//! and promise can be traced to an order record or a [`Citation`]. This module does not look
//! anything up; the assistant hands it what it found.

pub mod compose;
pub mod gate;
pub mod select;

use serde::{Deserialize, Serialize};

use crate::index::Hit;

/// A passage a reply quotes from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Citation {
    pub passage_id: String,
    pub doc_id: String,
    pub title: String,
    pub heading: String,
    pub url: Option<String>,
}

impl From<&Hit> for Citation {
    fn from(h: &Hit) -> Self {
        Self {
            passage_id: h.passage.id.clone(),
            doc_id: h.passage.doc_id.clone(),
            title: h.passage.title.clone(),
            heading: h.passage.heading.clone(),
            url: h.passage.url.clone(),
        }
    }
}

/// Why a conversation went to a person. The code is stable (logs, metrics, the desk).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum HandoffReason {
    /// The best passages do not clearly answer the question.
    WeakGrounding { dense: f32, bm25: Option<f32> },
    /// Twice in a row the assistant could not tell what the customer wanted.
    RepeatedFailure,
    /// Legal threats, chargebacks, fraud, injury or safety, harassment, strong anger.
    Sensitive { kind: String, matched: String },
    /// The customer asked for a person.
    CustomerAsked,
    /// A complaint deserves a person.
    Complaint,
    /// What they ask for needs a decision the store's policy does not let the assistant make.
    OutsidePolicy { detail: String },
    /// A change to an order (cancel, return, exchange, edit) that a person carries out.
    ActionRequested {
        action: String,
        order: Option<String>,
    },
}

impl HandoffReason {
    pub fn code(&self) -> &'static str {
        match self {
            Self::WeakGrounding { .. } => "weak_grounding",
            Self::RepeatedFailure => "repeated_failure",
            Self::Sensitive { .. } => "sensitive",
            Self::CustomerAsked => "customer_asked",
            Self::Complaint => "complaint",
            Self::OutsidePolicy { .. } => "outside_policy",
            Self::ActionRequested { .. } => "action_requested",
        }
    }
}

/// A hand-off as the customer-facing answer reports it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Handoff {
    pub id: String,
    pub reason: HandoffReason,
}

/// The order facts a reply showed, for the API's `order` field and the widget's order card.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct OrderCard {
    pub number: String,
    pub status: String,
    pub status_label: String,
    pub items: Vec<OrderCardItem>,
    pub total: String,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub tracking_url: Option<String>,
    pub shipped_on: Option<String>,
    pub estimated_delivery: Option<String>,
    pub delivered_on: Option<String>,
    pub latest_event: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct OrderCardItem {
    pub name: String,
    pub options: String,
    pub quantity: u32,
    pub status: String,
}
