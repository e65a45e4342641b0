//! `POST /v1/platform/events`: the store platform saying an order changed (Medusa: the
//! subscriber in contrib/medusa/src/subscribers/shopkeep.ts). The body is `{"event", "id"}`,
//! signed as `X-Shopkeep-Signature: sha256=<hex HMAC-SHA256 of the body>` with
//! `platform.events_secret`; with no secret configured the route is off. Only the id is used:
//! the order is re-read from the platform's API into shopkeep's copy, so a forged or stale body
//! can at most cause one extra read.
//!
//! A platform with webhooks of its own format (Shopify: `X-Shopify-Hmac-SHA256`, base64 HMAC of
//! the raw body under the app's client secret, which is `platform.events_secret`) is checked by
//! the platform ([`crate::platform::Platform::webhook`]); a delivery seen before (the same
//! `X-Shopify-Event-Id`) is acknowledged without a re-read. The re-read happens before the
//! answer: a failure answers 502 and forgets the event id, so the platform's retry is processed.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    Json,
};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::ApiError;
use crate::app::App;

#[derive(Debug, Deserialize)]
struct Event {
    #[serde(default)]
    event: String,
    id: String,
}

#[derive(Debug, Serialize)]
pub struct Intake {
    /// The order was re-read into shopkeep's copy.
    refreshed: bool,
    /// The platform delivered this event before; nothing was re-read.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    duplicate: bool,
}

/// Whether `header` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under `secret`; compared in
/// constant time.
pub fn signature_ok(secret: &str, header: &str, body: &[u8]) -> bool {
    let Some(given) = header
        .trim()
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

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
    if !signature_ok(secret, signature, &body) {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "bad_signature", "X-Shopkeep-Signature must be sha256=<hex HMAC-SHA256 of the body with platform.events_secret>"));
    }
    let event: Event = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("invalid_event", e.to_string()))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_bodys_own_signature_under_the_secret_is_accepted() {
        let secret = "events-secret-16chars";
        let body = br#"{"event":"order.updated","id":"order_01"}"#;
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        let good = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert!(signature_ok(secret, &good, body));
        assert!(!signature_ok(
            secret,
            &good,
            br#"{"event":"order.updated","id":"order_02"}"#
        ));
        assert!(!signature_ok("another-secret-16ch", &good, body));
        assert!(!signature_ok(
            secret,
            good.trim_start_matches("sha256="),
            body
        ));
        assert!(!signature_ok(secret, "sha256=zz", body));
    }
}
