//! `POST /v1/platform/events`: the store platform saying an order changed (Medusa: the
//! subscriber in contrib/medusa/src/subscribers/shopkeep.ts). The body is `{"event", "id"}`,
//! signed as `X-Shopkeep-Signature: sha256=<hex HMAC-SHA256 of the body>` with
//! `platform.events_secret` (checked and read by `platform::events`); with no secret configured
//! the route is off. Only the id is used: the order is re-read from the platform's API into
//! shopkeep's copy, so a forged or stale body can at most cause one extra read.
//!
//! A platform with webhooks of its own format (Shopify: `X-Shopify-Hmac-SHA256`, base64 HMAC of
//! the raw body under the app's client secret, which is `platform.events_secret`; WooCommerce:
//! `X-WC-Webhook-Signature`) is checked by the platform
//! ([`crate::platform::Platform::webhook`]); a delivery seen before (the same event or delivery
//! id) is acknowledged without a re-read. The re-read happens before the answer: a failure
//! answers 502 and forgets the event id, so the platform's retry is processed.

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
    /// The platform delivered this event before; nothing was re-read.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    duplicate: bool,
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
    params(
        ("X-Shopkeep-Signature" = Option<String>, Header, description = "`sha256=<hex HMAC-SHA256 of the body with platform.events_secret>` (the Medusa subscriber's events)"),
        ("X-Shopify-Hmac-SHA256" = Option<String>, Header, description = "Shopify's webhooks: base64 HMAC-SHA256 of the raw body under the app's client secret (`platform.events_secret`)"),
        ("X-WC-Webhook-Signature" = Option<String>, Header, description = "WooCommerce's webhooks: base64 HMAC-SHA256 of the raw body under the webhook's secret (`platform.events_secret`)"),
    ),
    request_body = PlatformEvent,
    responses(
        (status = 200, description = "A delivery seen before (the same `X-Shopify-Event-Id` or `X-WC-Webhook-Delivery-ID`): acknowledged, nothing re-read", body = Intake),
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
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    if let Some(delivery) = platform.webhook(secret, &header, &body) {
        let d = delivery.map_err(|e| match e {
            crate::platform::WebhookError::BadSignature => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "bad_signature",
                "the webhook's signature does not match its body under platform.events_secret",
            ),
            crate::platform::WebhookError::Invalid(m) => ApiError::bad_request("invalid_event", m),
        })?;
        if d.duplicate {
            tracing::info!(event_id = %d.event_id, topic = %d.topic, "duplicate platform webhook");
            return Ok((
                StatusCode::OK,
                Json(Intake {
                    refreshed: false,
                    duplicate: true,
                }),
            ));
        }
        let orders = app.assistant.orders.clone();
        let (p, target) = (platform.clone(), d.target.clone());
        let result = tokio::task::spawn_blocking(move || {
            crate::platform::mirror_target(p.as_ref(), orders.as_ref(), &target)
        })
        .await
        .map_err(|e| ApiError::internal(e.to_string()));
        let refreshed = match result {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                platform.forget_event(&d.event_id);
                return Err(ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    e.code(),
                    e.to_string(),
                ));
            }
            Err(e) => {
                platform.forget_event(&d.event_id);
                return Err(e);
            }
        };
        tracing::info!(event_id = %d.event_id, topic = %d.topic, refreshed, "platform webhook");
        return Ok((
            StatusCode::ACCEPTED,
            Json(Intake {
                refreshed,
                duplicate: false,
            }),
        ));
    }
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
    Ok((
        StatusCode::ACCEPTED,
        Json(Intake {
            refreshed,
            duplicate: false,
        }),
    ))
}
