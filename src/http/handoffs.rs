//! `GET /v1/handoffs` (open hand-offs with their packets) and `POST /v1/handoffs/{id}/reply` (a
//! person answers the customer; the reply reaches their chat widget live). Admin token only.

use std::sync::Arc;

use axum::{
    extract::{rejection::JsonRejection, Path, State},
    http::StatusCode,
    Json,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{auth::Admin, ApiError};
use crate::{
    app::App,
    desk::{self, DeskError},
};

impl From<DeskError> for ApiError {
    fn from(e: DeskError) -> Self {
        let status = match e {
            DeskError::HandoffNotFound(_) => StatusCode::NOT_FOUND,
            DeskError::EmptyReply | DeskError::ReplyTooLong | DeskError::BadAgentName => StatusCode::BAD_REQUEST,
            DeskError::Journal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

pub async fn list(_: Admin, State(app): State<Arc<App>>) -> Result<Json<Value>, ApiError> {
    let handoffs = desk::open_handoffs(&app.assistant.journal)?;
    Ok(Json(json!({ "handoffs": handoffs })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyRequest {
    pub message: String,
    /// The name the customer sees; defaults to the support team.
    pub agent: Option<String>,
}

pub async fn reply(_: Admin, State(app): State<Arc<App>>, Path(id): Path<String>, body: Result<Json<ReplyRequest>, JsonRejection>) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(req) = body?;
    let delivered = desk::reply(&app.assistant.journal, &app.live, &id, req.agent.as_deref(), &req.message)?;
    // A conversation that came by email gets the reply by email, in its thread.
    let emailed = match &app.email {
        Some(email) => {
            let agent = delivered.turn.turn.detail["agent"].as_str().unwrap_or(desk::DEFAULT_AGENT);
            email.send_agent_reply(&app.assistant, &delivered.conversation_id, agent, &delivered.turn.turn.text).await?.map(|m| m.message_id)
        }
        None => None,
    };
    let mut out = serde_json::to_value(&delivered).map_err(|e| ApiError::internal(e.to_string()))?;
    out["emailed"] = json!(emailed);
    Ok((StatusCode::CREATED, Json(out)))
}
