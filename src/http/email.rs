//! `POST /v1/email/inbound`: a raw email posted by the store's mail provider (an inbound-parse
//! hook) or its own mail server. The body is the message itself (`message/rfc822`,
//! `text/plain` or `application/octet-stream`), or `multipart/form-data` with the message in an
//! `email` field (SendGrid's raw mode). Protected by `email.inbound_secret`, sent as the
//! `X-Shopkeep-Key` header or `?key=`; with no secret configured the route is off.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{Query, State},
    http::{header, HeaderMap, StatusCode},
    Json,
};
use serde::Deserialize;

use utoipa::IntoParams;

use super::{error::ErrorBody, ApiError};
use crate::desk::accounts::constant_time_eq;
use crate::{
    app::App,
    email::{EmailError, Outcome},
};

/// Largest message accepted: mail with attachments is far bigger than an API request.
pub const MAX_EMAIL_BYTES: usize = 25 * 1024 * 1024;

impl From<EmailError> for ApiError {
    fn from(e: EmailError) -> Self {
        match e {
            EmailError::Assistant(e) => e.into(),
            EmailError::Parse(_) => ApiError::bad_request(e.code(), e.to_string()),
            EmailError::Send(_) => ApiError::new(StatusCode::BAD_GATEWAY, e.code(), e.to_string()),
            EmailError::Journal(_) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.code(), e.to_string())
            }
        }
    }
}

/// A mail message as text: it starts with a header field (`Name: value`); a body that does
/// not is 400 `invalid_email`.
pub struct MailText;

impl utoipa::PartialSchema for MailText {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::SchemaType::Type(
                utoipa::openapi::Type::String,
            ))
            .pattern(Some("^[!-9;-~]+:"))
            .into()
    }
}

impl utoipa::ToSchema for MailText {}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeyQuery {
    /// `email.inbound_secret`, when the `X-Shopkeep-Key` header cannot be set.
    key: Option<String>,
}

/// A raw inbound email (a provider's inbound parse, raw mode): answered like any channel, the
/// reply sent by SMTP in the customer's thread.
#[utoipa::path(
    post,
    path = "/v1/email/inbound",
    operation_id = "email_inbound",
    tag = "email",
    security(("inbound_key" = []), ("inbound_key_query" = [])),
    params(KeyQuery),
    request_body(
        description = "The message: raw (message/rfc822, text/plain or application/octet-stream), or multipart/form-data with it in an `email` field; at most 25 MiB",
        content(
            (MailText = "message/rfc822"),
            (MailText = "text/plain"),
            (MailText = "application/octet-stream"),
        )
    ),
    responses(
        (status = 200, description = "What became of it", body = Outcome),
        (status = 400, description = "`invalid_email`: not a mail message (or a form without an `email` field)", body = ErrorBody),
        (status = 401, description = "`unauthorized`: a missing or wrong key", body = ErrorBody),
        (status = 403, description = "`email_inbound_disabled`: no `email.inbound_secret` configured", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: over 25 MiB", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
        (status = 429, description = "`verification_limited` or `handoff_limited`", body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds until the limit clears"))),
        (status = 502, description = "`email_send_failed`: the mail server refused the reply", body = ErrorBody),
    )
)]
pub async fn inbound(
    State(app): State<Arc<App>>,
    Query(q): Query<KeyQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Outcome>, ApiError> {
    let Some(email) = app
        .email
        .clone()
        .filter(|e| !e.config().inbound_secret.is_empty())
    else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "email_inbound_disabled",
            "the inbound email webhook is off: set email.store_address and email.inbound_secret",
        ));
    };
    let given = headers
        .get("x-shopkeep-key")
        .and_then(|v| v.to_str().ok())
        .map(String::from)
        .or(q.key);
    if !given
        .is_some_and(|k| constant_time_eq(k.as_bytes(), email.config().inbound_secret.as_bytes()))
    {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send email.inbound_secret as the X-Shopkeep-Key header or ?key=",
        ));
    }
    let given_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("message/rfc822");
    let content_type = given_type.to_ascii_lowercase();
    let raw = if content_type.starts_with("multipart/form-data") {
        // The boundary is case-sensitive: parse with the header as sent.
        form_field(given_type, &body, "email").ok_or_else(|| {
            ApiError::bad_request(
                "invalid_email",
                "multipart/form-data without an `email` field",
            )
        })?
    } else if ["message/rfc822", "text/plain", "application/octet-stream"]
        .iter()
        .any(|t| content_type.starts_with(t))
    {
        body.to_vec()
    } else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the raw message as message/rfc822 (or multipart/form-data with an `email` field)",
        ));
    };
    Ok(Json(email.handle(&app.assistant, &raw).await?))
}

/// A form field's content. A form-data body is MIME, so the mail parser reads it once given
/// the request's Content-Type as its header.
fn form_field(content_type: &str, body: &[u8], name: &str) -> Option<Vec<u8>> {
    use mail_parser::MimeHeaders;
    let mut doc = format!("Content-Type: {content_type}\r\n\r\n").into_bytes();
    doc.extend_from_slice(body);
    let msg = mail_parser::MessageParser::default().parse(&doc)?;
    msg.parts
        .iter()
        .find(|p| p.content_disposition().and_then(|d| d.attribute("name")) == Some(name))
        .map(|p| p.contents().to_vec())
}
