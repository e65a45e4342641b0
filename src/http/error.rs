//! The one error shape of the HTTP API: `{"error": {"code", "message"}}` with a stable code and
//! the matching status. Handlers map domain errors here and nowhere else. [`ERROR_CODES`] is
//! every code the API answers with: the OpenAPI description's `ErrorCode` enum, so a response
//! with a code missing from it fails the contract check (scripts/api-contract.sh).

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;
use utoipa::{
    openapi::{schema::SchemaType, ObjectBuilder, RefOr, Schema, Type},
    PartialSchema, ToSchema,
};

/// Every error code of the JSON API, grouped by where it arises.
pub const ERROR_CODES: &[&str] = &[
    // Any request: the router, the body, the runtime.
    "not_found",
    "malformed_json",
    "invalid_request",
    "bad_request",
    "payload_too_large",
    "body_timeout",
    "unsupported_media_type",
    "overloaded",
    "internal",
    "unreadable_record",
    // Answering (assistant).
    "empty_message",
    "message_too_long",
    "invalid_conversation_id",
    "invalid_channel",
    "conversation_not_found",
    "verification_limited",
    "handoff_limited",
    "retrieval_failed",
    "understanding_failed",
    "order_store_failed",
    "journal_failed",
    "index_missing",
    // Search.
    "empty_query",
    "invalid_k",
    // The widget's conversation routes.
    "invalid_rating",
    "nothing_to_rate",
    "too_many_streams",
    // Team tokens and roles.
    "unauthorized",
    "admin_disabled",
    "forbidden",
    "accounts_failed",
    // The desk: hand-offs, conversations, actions.
    "handoff_not_found",
    "handoff_claimed",
    "handoff_resolved",
    "invalid_status",
    "invalid_agent",
    "invalid_date",
    "invalid_cursor",
    "action_not_found",
    "action_not_revertible",
    "actions_failed",
    // Users.
    "user_exists",
    "user_not_found",
    "unknown_change",
    "last_admin",
    "invalid_email",
    "invalid_role",
    "weak_password",
    // Suggestions (the knowledge base that grows).
    "suggestion_not_found",
    "suggestion_decided",
    "invalid_article",
    "article_exists",
    "index_busy",
    "kb_write_failed",
    "index_failed",
    // Email.
    "email_inbound_disabled",
    "email_send_failed",
    "invalid_body",
    // Store platform events.
    "platform_events_disabled",
    "bad_signature",
    "invalid_event",
    "platform.unreachable",
    "platform.refused",
    "platform.auth",
    "platform.protocol",
    "platform.store",
    // Readiness.
    "orders_unavailable",
];

/// The `code` of an error: one of [`ERROR_CODES`] (a string enum in the description).
pub struct ErrorCode;

impl PartialSchema for ErrorCode {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .enum_values(Some(ERROR_CODES.iter().copied()))
            .description(Some("A stable code: match on this, not on the message"))
            .into()
    }
}

impl ToSchema for ErrorCode {}

/// Every error response's body.
#[derive(Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
struct ErrorDetail {
    #[schema(value_type = ErrorCode)]
    code: &'static str,
    /// For people; may change.
    message: String,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds for a `Retry-After` header (refusals that clear by themselves).
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }
    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // A shed request (503) is the service working as designed under load; logging each one
        // would add work exactly when there is least room for it.
        if self.status.is_server_error() && self.status != StatusCode::SERVICE_UNAVAILABLE {
            tracing::error!(code = self.code, "{}", self.message);
        }
        let mut r = (
            self.status,
            Json(ErrorBody {
                error: ErrorDetail {
                    code: self.code,
                    message: self.message,
                },
            }),
        )
            .into_response();
        if let Some(s) = self.retry_after {
            r.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, s.into());
        }
        r
    }
}

impl From<crate::retrieve::RetrieveError> for ApiError {
    fn from(e: crate::retrieve::RetrieveError) -> Self {
        use crate::{index::IndexError, retrieve::RetrieveError};
        match e {
            RetrieveError::Index(IndexError::Missing(_)) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "index_missing",
                e.to_string(),
            ),
            other => Self::internal(other.to_string()),
        }
    }
}

impl From<crate::journal::JournalError> for ApiError {
    fn from(e: crate::journal::JournalError) -> Self {
        match e {
            crate::journal::JournalError::BadCursor => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_cursor",
                e.to_string(),
            ),
            // The service's own record, written by a newer release or damaged: said so, not
            // shown as an empty one.
            crate::journal::JournalError::Corrupt { .. } => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "unreadable_record",
                e.to_string(),
            ),
            other => Self::internal(other.to_string()),
        }
    }
}

impl From<crate::orders::OrderError> for ApiError {
    fn from(e: crate::orders::OrderError) -> Self {
        Self::internal(e.to_string())
    }
}

impl From<crate::desk::accounts::AccountError> for ApiError {
    fn from(e: crate::desk::accounts::AccountError) -> Self {
        use crate::desk::accounts::AccountError::*;
        let status = match &e {
            BadCredentials => StatusCode::UNAUTHORIZED,
            Forbidden(_) => StatusCode::FORBIDDEN,
            TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            UserExists(_) => StatusCode::CONFLICT,
            UserNotFound(_) | NoSuchUser(_) | UnknownChange(_) => StatusCode::NOT_FOUND,
            LastAdmin => StatusCode::CONFLICT,
            BadEmail(_) | BadRole(_) | WeakPassword => StatusCode::UNPROCESSABLE_ENTITY,
            Storage(crate::storage::StorageError::Busy) => StatusCode::SERVICE_UNAVAILABLE,
            Sqlite(_) | Hash(_) | Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, e.code(), e.to_string())
    }
}

/// A blocking task that panicked or was cancelled.
impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        Self::internal(e.to_string())
    }
}

/// Turns axum's JSON extractor rejections into the API's error shape.
impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(r: axum::extract::rejection::JsonRejection) -> Self {
        use axum::extract::rejection::JsonRejection::*;
        match r {
            MissingJsonContentType(_) => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send Content-Type: application/json",
            ),
            JsonSyntaxError(e) => Self::bad_request("malformed_json", e.body_text()),
            JsonDataError(e) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request",
                e.body_text(),
            ),
            BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "request body too large",
            ),
            other => Self::bad_request("bad_request", other.body_text()),
        }
    }
}

/// The answer route's load-shedding response: fast, with a hint when to retry.
pub async fn overloaded(_: tower::BoxError) -> Response {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "overloaded",
        "too many requests in flight; retry shortly",
    )
    .retry_after(1)
    .into_response()
}

/// What the router answers for a path it does not serve: the API's shape, not an empty 404.
pub async fn no_route() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for c in ERROR_CODES {
            assert!(seen.insert(c), "{c} listed twice");
        }
    }
}
