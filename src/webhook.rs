//! Step: tell the helpdesk. Every hand-off is POSTed, as JSON with its whole packet, to the
//! store's helpdesk (`webhook.url`), signed with HMAC-SHA256 so the receiver can trust it, and
//! retried with exponential backoff until it is accepted or `webhook.max_attempts` is spent.
//!
//! Deliveries are an outbox in the journal's database (queued in the same request that opened
//! the hand-off), so a restart or a helpdesk outage loses none. This module delivers; it does not
//! decide when to hand off (the gate does) and does not read the helpdesk's answer.
//!
//! The signature header is `X-Shopkeep-Signature: t=<unix seconds>,v1=<hex>` where `v1` is
//! HMAC-SHA256(secret, "<t>.<body>"): the time stamp inside the MAC lets a receiver refuse
//! replays ([`verify_signature`] is the receiver's side, in Rust).

use std::{sync::Arc, time::Duration};

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use crate::{
    config::WebhookConfig,
    journal::{Journal, JournalError},
    retry::{self, Attempt},
};

pub const SIGNATURE_HEADER: &str = "x-shopkeep-signature";
pub const DELIVERY_HEADER: &str = "x-shopkeep-delivery";
pub const EVENT_HEADER: &str = "x-shopkeep-event";
/// The one event so far.
pub const HANDOFF_CREATED: &str = "handoff.created";
/// The longest wait between two attempts, however many failed.
/// How often the outbox is looked at for deliveries that are due.
const POLL: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("helpdesk answered HTTP {0}")]
    Status(u16),
    #[error("helpdesk unreachable: {0}")]
    Transport(String),
}

/// HMAC-SHA256(secret, "<t>.<body>"), what both sides compute.
fn mac(secret: &str, t: u64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// `t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn sign(secret: &str, t: u64, body: &[u8]) -> String {
    format!(
        "t={t},v1={}",
        hex::encode(mac(secret, t, body).finalize().into_bytes())
    )
}

/// The receiver's check: the header is well formed, the MAC matches (compared in constant time)
/// and the time stamp is within `tolerance` of `now`.
pub fn verify_signature(
    secret: &str,
    header: &str,
    body: &[u8],
    now_unix: u64,
    tolerance: Duration,
) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<u64>().ok(),
            Some(("v1", v)) => v1 = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    if now_unix.abs_diff(t) > tolerance.as_secs() {
        return false;
    }
    mac(secret, t, body).verify_slice(&v1).is_ok()
}

/// The wait after `attempts` failed attempts (see [`crate::retry::backoff`]).
pub fn backoff(cfg: &WebhookConfig, attempts: u32) -> Duration {
    retry::backoff(Duration::from_millis(cfg.backoff_ms), attempts)
}

/// Queues the hand-off `handoff_id` for delivery now (a no-op when no webhook is configured).
pub fn queue(cfg: &WebhookConfig, journal: &Journal, handoff_id: &str) -> Result<(), JournalError> {
    if cfg.url.is_empty() {
        return Ok(());
    }
    journal.queue_delivery(handoff_id, retry::unix_ms())
}

/// Delivers what is due, for as long as the service runs. Spawned once by `serve`.
pub async fn run(cfg: WebhookConfig, journal: Arc<Journal>) {
    if cfg.url.is_empty() {
        return;
    }
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(cfg.timeout_secs))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("hand-off webhook is off: cannot build an HTTP client: {e}");
            return;
        }
    };
    loop {
        let j = journal.clone();
        let due = tokio::task::spawn_blocking(move || j.due_deliveries(retry::unix_ms(), 16)).await;
        match due {
            Ok(Ok(due)) => {
                for (handoff_id, attempts) in due {
                    deliver(&cfg, &client, journal.clone(), handoff_id, attempts).await;
                }
            }
            Ok(Err(e)) => tracing::error!("hand-off webhook: reading the outbox failed: {e}"),
            Err(e) => tracing::error!("hand-off webhook: {e}"),
        }
        tokio::time::sleep(POLL).await;
    }
}

/// One attempt at one delivery; records the outcome and when to try again.
async fn deliver(
    cfg: &WebhookConfig,
    client: &reqwest::Client,
    journal: Arc<Journal>,
    handoff_id: String,
    attempts: u32,
) {
    let j = journal.clone();
    let id = handoff_id.clone();
    let handoff = match tokio::task::spawn_blocking(move || j.handoff(&id)).await {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => return tracing::error!("hand-off webhook: {e}"),
        Err(e) => return tracing::error!("hand-off webhook: {e}"),
    };
    let attempt = attempts + 1;
    let result = match handoff {
        // Erased since it was queued (privacy): nothing to send, and nothing to retry.
        None => Ok(()),
        Some(h) => {
            let body =
                json!({"event": HANDOFF_CREATED, "handoff": h, "attempt": attempt}).to_string();
            let now = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
            let sent = client
                .post(&cfg.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(EVENT_HEADER, HANDOFF_CREATED)
                .header(DELIVERY_HEADER, &handoff_id)
                .header(SIGNATURE_HEADER, sign(&cfg.secret, now, body.as_bytes()))
                .body(body)
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) => Err(WebhookError::Status(r.status().as_u16())),
                Err(e) => Err(WebhookError::Transport(e.without_url().to_string())),
            }
        }
    };
    let outcome = match &result {
        Ok(()) => Attempt::Delivered,
        Err(e) if attempt >= cfg.max_attempts => {
            tracing::warn!(handoff = %handoff_id, attempt, "hand-off webhook gave up: {e}");
            Attempt::GaveUp(e.to_string())
        }
        Err(e) => {
            let wait = backoff(cfg, attempt);
            tracing::info!(handoff = %handoff_id, attempt, retry_in_ms = wait.as_millis() as u64, "hand-off webhook failed, will retry: {e}");
            Attempt::Retry {
                error: e.to_string(),
                at_ms: retry::unix_ms() + wait.as_millis() as i64,
            }
        }
    };
    let recorded = tokio::task::spawn_blocking(move || {
        journal.record_delivery(&handoff_id, attempt, &outcome)
    })
    .await;
    match recorded {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!("hand-off webhook: recording a delivery failed: {e}"),
        Err(e) => tracing::error!("hand-off webhook: recording a delivery failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_with_the_same_secret_body_and_a_fresh_time() {
        let h = sign("helpdesk-secret-123", 1_800_000_000, b"{\"a\":1}");
        let ok = |secret: &str, body: &[u8], now: u64| {
            verify_signature(secret, &h, body, now, Duration::from_secs(300))
        };
        assert!(ok("helpdesk-secret-123", b"{\"a\":1}", 1_800_000_100));
        assert!(!ok("another-secret-456", b"{\"a\":1}", 1_800_000_100));
        assert!(!ok("helpdesk-secret-123", b"{\"a\":2}", 1_800_000_100));
        assert!(
            !ok("helpdesk-secret-123", b"{\"a\":1}", 1_800_001_000),
            "a replay ten minutes later"
        );
        assert!(!verify_signature(
            "s",
            "garbage",
            b"",
            0,
            Duration::from_secs(1)
        ));
    }
}
