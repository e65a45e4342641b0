//! `GET /v1/handoffs[?status=open|claimed|resolved]` (hand-offs with their packets),
//! `GET /v1/handoffs/{id}`, `POST /v1/handoffs/{id}/claim` and `/resolve` (409 when another
//! person has it), and `POST /v1/handoffs/{id}/reply` (a person answers the customer; the reply
//! reaches their chat widget live). Team tokens only (see `auth`).

use std::sync::Arc;

use axum::{
    extract::{
        rejection::{JsonRejection, QueryRejection},
        Path, Query, State,
    },
    http::StatusCode,
    Json,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{auth::Admin, ApiError};
use crate::{
    app::App,
    desk::{self, accounts::Role, DeskError},
    journal::HandoffRecord,
};

impl From<DeskError> for ApiError {
    fn from(e: DeskError) -> Self {
        let status = match e {
            DeskError::HandoffNotFound(_) | DeskError::ConversationNotFound(_) => {
                StatusCode::NOT_FOUND
            }
            DeskError::EmptyReply | DeskError::ReplyTooLong | DeskError::BadAgentName => {
                StatusCode::BAD_REQUEST
            }
            DeskError::HandoffClaimed { .. } | DeskError::HandoffResolved(_) => {
                StatusCode::CONFLICT
            }
            DeskError::BadStatus(_) => StatusCode::UNPROCESSABLE_ENTITY,
            DeskError::Access(e) => return e.into(),
            DeskError::Action(crate::actions::ActionError::NotFound(_)) => StatusCode::NOT_FOUND,
            DeskError::Action(
                crate::actions::ActionError::Refused(_)
                | crate::actions::ActionError::UnreadableRecord { .. },
            ) => StatusCode::CONFLICT,
            DeskError::Action(_) | DeskError::Journal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub status: Option<String>,
}

pub async fn list(
    _: Admin,
    State(app): State<Arc<App>>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            e.body_text(),
        )
    })?;
    let handoffs = tokio::task::spawn_blocking(move || {
        desk::handoffs(
            &app.assistant.journal,
            q.status.as_deref().unwrap_or("open"),
        )
    })
    .await??;
    Ok(Json(json!({ "handoffs": handoffs })))
}

pub async fn show(
    _: Admin,
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<HandoffRecord>, ApiError> {
    Ok(Json(
        tokio::task::spawn_blocking(move || desk::handoff(&app.assistant.journal, &id)).await??,
    ))
}

pub async fn claim(
    Admin(staff): Admin,
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<HandoffRecord>, ApiError> {
    Ok(Json(
        tokio::task::spawn_blocking(move || desk::claim(&app.assistant.journal, &id, &staff.email))
            .await??,
    ))
}

pub async fn resolve(
    Admin(staff): Admin,
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<HandoffRecord>, ApiError> {
    let overrule = staff.role == Role::Admin;
    Ok(Json(
        tokio::task::spawn_blocking(move || {
            desk::resolve(&app.assistant.journal, &id, &staff.email, overrule)
        })
        .await??,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyRequest {
    pub message: String,
    /// The name the customer sees; defaults to the support team.
    pub agent: Option<String>,
}

pub async fn reply(
    Admin(staff): Admin,
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: Result<Json<ReplyRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(req) = body?;
    // A user's own token signs with their name unless they give another.
    // A blank name is no name: the signed-in person's, else the default.
    let agent = req
        .agent
        .filter(|a| !a.trim().is_empty())
        .or(staff.user_id.map(|_| staff.name));
    let delivered = desk::reply(
        &app.assistant.journal,
        &app.live,
        &id,
        agent.as_deref(),
        &req.message,
    )?;
    // A conversation that came by email gets the reply by email, in its thread.
    let emailed = match &app.email {
        Some(email) => email.send_agent_reply(&app.assistant, &delivered).await?,
        None => None,
    };
    let mut out =
        serde_json::to_value(&delivered).map_err(|e| ApiError::internal(e.to_string()))?;
    out["emailed"] = json!(emailed.as_ref().map(|(m, _)| &m.message_id));
    // The mail server could not take it now: it goes out from the outbox when it can.
    out["email_queued"] = json!(emailed
        .as_ref()
        .is_some_and(|(_, d)| *d == crate::email::Dispatch::Queued));
    Ok((StatusCode::CREATED, Json(out)))
}
