//! The store platform saying an order changed (`POST /v1/platform/events`; Medusa: the
//! subscriber in contrib/medusa/src/subscribers/shopkeep.ts): the signature over the raw body is
//! checked first, then the body `{"event", "id"}` is read. Only the id is used afterwards: the
//! order is re-read from the platform's API ([`super::mirror_event`]), so a forged or stale body
//! can at most cause one extra read. This module does not read or store orders.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// An accepted event: which order changed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OrderEvent {
    /// The platform's event name (`order.updated`, …); informational.
    #[serde(default)]
    pub event: String,
    /// The platform's order id.
    pub id: String,
}

/// Why an event was refused. [`EventError::code`] is stable.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("X-Shopkeep-Signature must be sha256=<hex HMAC-SHA256 of the body with platform.events_secret>")]
    BadSignature,
    #[error("the event body must be {{\"event\", \"id\"}}: {0}")]
    Invalid(String),
}

impl EventError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadSignature => "bad_signature",
            Self::Invalid(_) => "invalid_event",
        }
    }
}

/// `sha256=<hex HMAC-SHA256(secret, body)>`: what the platform's side sends.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
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

/// The event in a signed body: the signature first (nothing of an unsigned body is parsed).
pub fn accept(secret: &str, signature: &str, body: &[u8]) -> Result<OrderEvent, EventError> {
    if !signature_ok(secret, signature, body) {
        return Err(EventError::BadSignature);
    }
    let event: OrderEvent =
        serde_json::from_slice(body).map_err(|e| EventError::Invalid(e.to_string()))?;
    if event.id.trim().is_empty() {
        return Err(EventError::Invalid("id must not be empty".into()));
    }
    Ok(event)
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
        assert_eq!(sign(secret, body), good);
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

    #[test]
    fn a_signed_body_is_read_and_a_bad_one_refused_with_its_code() {
        let secret = "events-secret-16chars";
        let body = br#"{"event":"order.updated","id":"order_01"}"#;
        let e = accept(secret, &sign(secret, body), body).unwrap();
        assert_eq!(
            (e.event.as_str(), e.id.as_str()),
            ("order.updated", "order_01")
        );
        let unsigned = accept(secret, "sha256=00", body).unwrap_err();
        assert_eq!(unsigned.code(), "bad_signature");
        for bad in [
            &b"not json"[..],
            br#"{"event":"x"}"#,
            br#"{"id":"  "}"#,
            br#"[1]"#,
        ] {
            let err = accept(secret, &sign(secret, bad), bad).unwrap_err();
            assert_eq!(
                err.code(),
                "invalid_event",
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
