//! `POST /v1/platform/events`: the store platform saying an order changed (Medusa: the
//! subscriber in contrib/medusa/src/subscribers/shopkeep.ts). The body is `{"event", "id"}`,
//! signed as `X-Shopkeep-Signature: sha256=<hex HMAC-SHA256 of the body>` with
//! `platform.events_secret` (checked and read by `platform::events`); with no secret configured
//! the route is off. The order is re-read from the platform's API into shopkeep's copy.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    Json,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::{error::ErrorBody, ApiError};
use crate::{app::App, platform::events};

#[derive(Debug, Serialize, ToSchema)]
pub struct Intake {
    /// The order was re-read into shopkeep's copy.
    refreshed: bool,
}

/// The event's body, as the platform's side sends it.
#[derive(ToSchema)]
#[allow(dead_code)] // the description of what `platform::events::accept` reads
pub struct PlatformEvent {
    /// The platform's event name (`order.updated`, `shipment.created`, …).
    event: Option<String>,
    /// The platform's order id.
    #[schema(min_length = 1, pattern = "\\S")]
    id: String,
}

/// The store platform says an order changed; the order is re-read from the platform's API
/// into shopkeep's copy. Signed with `platform.events_secret`; off without one.
#[utoipa::path(
    post,
    path = "/v1/platform/events",
    operation_id = "platform_event",
    tag = "platform",
    params(("X-Shopkeep-Signature" = String, Header, description = "`sha256=<hex HMAC-SHA256 of the body with platform.events_secret>`")),
    request_body = PlatformEvent,
    responses(
        (status = 202, description = "Accepted", body = Intake),
        (status = 400, description = "`invalid_event`: a signed body that is not `{event, id}`", body = ErrorBody),
        (status = 401, description = "`bad_signature`", body = ErrorBody),
        (status = 403, description = "`platform_events_disabled`: no platform or no `platform.events_secret`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 502, description = "`platform.unreachable`, `platform.auth`, …: the platform could not be read", body = ErrorBody),
    )
)]
pub async fn events(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Intake>), ApiError> {
    let secret = &app.config.platform.events_secret;
    let platform = app.assistant.platform.clone();
    let Some(platform) = platform.filter(|_| !secret.is_empty()) else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "platform_events_disabled",
            "platform events are off: set platform.kind, platform.url and platform.events_secret",
        ));
    };
    let signature = headers
        .get("x-shopkeep-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let event = events::accept(secret, signature, &body).map_err(|e| {
        let status = match e {
            events::EventError::BadSignature => StatusCode::UNAUTHORIZED,
            events::EventError::Invalid(_) => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, e.code(), e.to_string())
    })?;
    let orders = app.assistant.orders.clone();
    let id = event.id.clone();
    let refreshed = tokio::task::spawn_blocking(move || {
        crate::platform::mirror_event(platform.as_ref(), orders.as_ref(), &id)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, e.code(), e.to_string()))?;
    tracing::info!(event = %event.event, id = %event.id, refreshed, "platform event");
    Ok((StatusCode::ACCEPTED, Json(Intake { refreshed })))
}
