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

use utoipa::{IntoParams, ToSchema};

use super::{auth::Admin, error::ErrorBody, ApiError};
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

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Which hand-offs (default `open`).
    #[param(pattern = "^(open|claimed|resolved)$")]
    pub status: Option<String>,
}

/// The queue.
#[derive(ToSchema)]
#[allow(dead_code)] // the shape of `list`'s answer
pub struct HandoffList {
    handoffs: Vec<HandoffRecord>,
}

/// A person's reply, as journaled and delivered.
#[derive(ToSchema)]
#[allow(dead_code)] // the shape of `reply`'s answer (built from desk::Delivered)
pub struct Delivered {
    handoff_id: String,
    conversation_id: String,
    /// The `agent` turn.
    turn: serde_json::Value,
    /// Open chat widgets that got it at once.
    live_watchers: usize,
    /// The Message-ID it went out with, when the conversation came by email.
    emailed: Option<String>,
    /// The mail server could not take it now; it waits in the outbox.
    email_queued: bool,
}

/// The path parameter of the hand-off routes.
const ID: &str = "A hand-off reference (HO-…)";

/// The hand-off queue, oldest first.
#[utoipa::path(
    get,
    path = "/v1/handoffs",
    operation_id = "handoffs",
    tag = "desk",
    security(("admin" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "The hand-offs, with their packets", body = HandoffList),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`admin_disabled`", body = ErrorBody),
        (status = 422, description = "`invalid_status` or `invalid_request` (the query string)", body = ErrorBody),
    )
)]
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

/// One hand-off, whatever its status.
#[utoipa::path(
    get,
    path = "/v1/handoffs/{id}",
    operation_id = "handoff",
    tag = "desk",
    security(("admin" = [])),
    params(("id" = String, Path, description = ID)),
    responses(
        (status = 200, description = "The hand-off", body = HandoffRecord),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`admin_disabled` or `forbidden`", body = ErrorBody),
        (status = 404, description = "`handoff_not_found`", body = ErrorBody),
    )
)]
pub async fn show(
    _: Admin,
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<HandoffRecord>, ApiError> {
    Ok(Json(
        tokio::task::spawn_blocking(move || desk::handoff(&app.assistant.journal, &id)).await??,
    ))
}

/// Take an open hand-off (again: harmless; someone else's: 409 `handoff_claimed`).
#[utoipa::path(
    post,
    path = "/v1/handoffs/{id}/claim",
    operation_id = "claim_handoff",
    tag = "desk",
    security(("admin" = [])),
    params(("id" = String, Path, description = ID)),
    responses(
        (status = 200, description = "The claimed hand-off", body = HandoffRecord),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`admin_disabled` or `forbidden`", body = ErrorBody),
        (status = 404, description = "`handoff_not_found`", body = ErrorBody),
        (status = 409, description = "`handoff_claimed` (someone else has it) or `handoff_resolved`", body = ErrorBody),
    )
)]
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

/// Close a hand-off: an open one, one's own, or (admins) anyone's.
#[utoipa::path(
    post,
    path = "/v1/handoffs/{id}/resolve",
    operation_id = "resolve_handoff",
    tag = "desk",
    security(("admin" = [])),
    params(("id" = String, Path, description = ID)),
    responses(
        (status = 200, description = "The resolved hand-off", body = HandoffRecord),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`admin_disabled` or `forbidden`", body = ErrorBody),
        (status = 404, description = "`handoff_not_found`", body = ErrorBody),
        (status = 409, description = "`handoff_claimed` (someone else holds it) or `handoff_resolved`", body = ErrorBody),
    )
)]
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyRequest {
    /// Not blank; at most 4,000 characters.
    #[schema(min_length = 1, max_length = 4000, pattern = "\\S")]
    pub message: String,
    /// The name the customer sees; defaults to the signed-in person's, else the support team.
    #[schema(max_length = 80)]
    pub agent: Option<String>,
}

/// A person's reply to the customer: journaled, pushed to their open widget, emailed when the
/// conversation came by email.
#[utoipa::path(
    post,
    path = "/v1/handoffs/{id}/reply",
    operation_id = "reply_handoff",
    tag = "desk",
    security(("admin" = [])),
    params(("id" = String, Path, description = ID)),
    request_body = ReplyRequest,
    responses(
        (status = 201, description = "The reply", body = Delivered),
        (status = 400, description = "`malformed_json`, `empty_message`, `message_too_long`, `invalid_agent`", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`admin_disabled` or `forbidden`", body = ErrorBody),
        (status = 404, description = "`handoff_not_found`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
        (status = 422, description = "`invalid_request`: JSON of the wrong shape", body = ErrorBody),
        (status = 502, description = "`email_send_failed`: the mail server refused the reply (it is kept in the conversation)", body = ErrorBody),
    )
)]
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
