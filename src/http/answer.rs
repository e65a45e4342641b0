//! `POST /v1/answer`: one customer message in, the assistant's answer out.

use std::sync::Arc;

use axum::{
    extract::{rejection::JsonRejection, State},
    http::StatusCode,
    Json,
};
use serde::Deserialize;

use super::{client::ClientAddr, ApiError};
use crate::{
    app::App,
    assistant::{Answer, AssistantError, CustomerHint, PageContext, Question},
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerRequest {
    pub conversation_id: Option<String>,
    #[serde(default = "default_channel")]
    pub channel: String,
    pub message: String,
    pub customer: Option<CustomerIn>,
    pub context: Option<ContextIn>,
}

fn default_channel() -> String {
    "api".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerIn {
    pub email: Option<String>,
    pub token: Option<String>,
}

#[derive(Deserialize)]
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
