//! `POST /v1/platform/events`: the store platform saying an order changed (Medusa: the
//! subscriber in contrib/medusa/src/subscribers/shopkeep.ts). The body is `{"event", "id"}`,
//! signed as `X-Shopkeep-Signature: sha256=<hex HMAC-SHA256 of the body>` with
//! `platform.events_secret`; with no secret configured the route is off. Only the id is used:
//! the order is re-read from the platform's API into shopkeep's copy, so a forged or stale body
//! can at most cause one extra read.

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
    Ok((StatusCode::ACCEPTED, Json(Intake { refreshed })))
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
