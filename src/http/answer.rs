//! `POST /v1/answer`: one customer message in, the assistant's answer out.

use std::sync::Arc;

use axum::{
    extract::{rejection::JsonRejection, State},
    http::StatusCode,
    Json,
};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{client::ClientAddr, error::ErrorBody, ApiError};
use crate::{
    app::App,
    assistant::{Answer, AssistantError, CustomerHint, PageContext, Question},
};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerRequest {
    /// Omit (or null) to start a conversation; send the returned id to continue it. Ids are the
    /// server's: one it never issued is 404 `conversation_not_found`.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub conversation_id: Option<String>,
    #[serde(default = "default_channel")]
    #[schema(value_type = Channel, default = "api")]
    pub channel: String,
    /// Not blank; at most 4,000 characters.
    #[schema(min_length = 1, max_length = 4000, pattern = "\\S")]
    pub message: String,
    pub customer: Option<CustomerIn>,
    pub context: Option<ContextIn>,
}

/// Where a message came from.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // a description of the accepted values; the field stays a string
pub enum Channel {
    Api,
    Widget,
    Email,
    Cli,
}

fn default_channel() -> String {
    "api".into()
}

/// Who the customer says they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerIn {
    pub email: Option<String>,
    /// The store's signed customer token (`v1.<customer id>.<expiry>.<hex HMAC-SHA256>`).
    pub token: Option<String>,
}

/// The page the message was written on.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContextIn {
    pub product_id: Option<String>,
    pub page_url: Option<String>,
}

impl From<AssistantError> for ApiError {
    fn from(e: AssistantError) -> Self {
        let status = match e {
            AssistantError::ConversationNotFound => StatusCode::NOT_FOUND,
            AssistantError::VerificationLimited {
                retry_after_secs, ..
            }
            | AssistantError::HandoffLimited {
                retry_after_secs, ..
            } => {
                return ApiError::new(StatusCode::TOO_MANY_REQUESTS, e.code(), e.to_string())
                    .retry_after(retry_after_secs.min(u32::MAX as u64) as u32)
            }
            _ if e.is_client_error() => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

/// Answer one customer message.
#[utoipa::path(
    post,
    path = "/v1/answer",
    operation_id = "answer",
    tag = "answer",
    request_body = AnswerRequest,
    responses(
        (status = 200, description = "The answer", body = Answer),
        (status = 400, description = "`malformed_json`, `empty_message`, `message_too_long`, `invalid_conversation_id`, `invalid_channel`", body = ErrorBody),
        (status = 404, description = "`conversation_not_found`: a `conversation_id` the server never issued", body = ErrorBody),
        (status = 408, description = "`body_timeout`: the body did not arrive within `server.body_timeout_secs`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: over `server.max_body_bytes`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: send `Content-Type: application/json`", body = ErrorBody),
        (status = 422, description = "`invalid_request`: JSON of the wrong shape (a missing, unknown or mistyped field)", body = ErrorBody),
        (status = 429, description = "`verification_limited` (too many failed identity checks) or `handoff_limited` (the cap on new hand-offs)", body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds until the limit clears"))),
        (status = 503, description = "`overloaded` (more than `server.max_in_flight` answers in flight) or `index_missing`", body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait (overloaded)"))),
    )
)]
pub async fn answer(
    State(app): State<Arc<App>>,
    ClientAddr(client): ClientAddr,
    body: Result<Json<AnswerRequest>, JsonRejection>,
) -> Result<Json<Answer>, ApiError> {
    let Json(req) = body?;
    let question = Question {
        conversation_id: req.conversation_id,
        channel: req.channel,
        message: req.message,
        customer: req.customer.map(|c| CustomerHint {
            email: c.email,
            token: c.token,
        }),
        context: req.context.map(|c| PageContext {
            product_id: c.product_id,
            page_url: c.page_url,
        }),
        client: Some(client.to_string()),
        sender_email: None,
    };
    Ok(Json(app.assistant.handle(question).await?))
}
