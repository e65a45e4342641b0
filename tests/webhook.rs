//! The hand-off webhook, against a real helpdesk endpoint on loopback: every hand-off is POSTed
//! with its packet and a signature the helpdesk can check; a helpdesk that is down or failing is
//! retried with backoff until it accepts, and given up on (and marked failed) after the
//! configured number of attempts. Nothing is lost across the outbox.

use shopkeep::{answer::HandoffReason, journal::HandoffPacket};
use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{body::Bytes, extract::State, http::HeaderMap, http::StatusCode, routing::post, Router};
use serde_json::Value;
use shopkeep::{
    config::WebhookConfig,
    journal::Journal,
    webhook::{self, verify_signature, SIGNATURE_HEADER},
};

const SECRET: &str = "helpdesk-shared-secret";

/// A helpdesk that answers each POST with the next scripted status (200 once the script ends)
/// and keeps what it received.
#[derive(Clone, Default)]
struct Helpdesk {
    script: Arc<Mutex<VecDeque<u16>>>,
    received: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
}

async fn receive(State(h): State<Helpdesk>, headers: HeaderMap, body: Bytes) -> StatusCode {
    h.received.lock().unwrap().push((headers, body));
    let status = h.script.lock().unwrap().pop_front().unwrap_or(200);
    StatusCode::from_u16(status).unwrap()
}

async fn helpdesk(script: &[u16]) -> (String, Helpdesk) {
    let h = Helpdesk {
        script: Arc::new(Mutex::new(script.iter().copied().collect())),
        ..Default::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/shopkeep", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/hooks/shopkeep", post(receive))
        .with_state(h.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, h)
}

fn config(url: &str, max_attempts: u32) -> WebhookConfig {
    WebhookConfig {
        url: url.into(),
        secret: SECRET.into(),
        max_attempts,
        backoff_ms: 50,
        timeout_secs: 2,
    }
}

/// A journal with one conversation and one open hand-off, queued for delivery.
fn handed_off(cfg: &WebhookConfig) -> (Arc<Journal>, String) {
    let journal = Arc::new(Journal::open_in_memory().unwrap());
    journal.create("c_1", "widget").unwrap();
    let packet = HandoffPacket::new(
        "c_1",
        HandoffReason::Sensitive {
            kind: "legal".into(),
            matched: "lawyer".into(),
        },
    )
    .with_line("customer", "I want a lawyer");
    let id = journal.open_handoff(&packet).unwrap();
    webhook::queue(cfg, &journal, &id).unwrap();
    (journal, id)
}

/// Waits until the delivery of `id` leaves `pending` (or fails the test after 10 s).
async fn settled(journal: &Journal, id: &str) -> shopkeep::journal::DeliveryRecord {
    for _ in 0..200 {
        let d = journal.delivery(id).unwrap().expect("queued");
        if d.status != "pending" {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "delivery of {id} still pending after 10 s: {:?}",
        journal.delivery(id).unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_off_is_posted_with_its_packet_and_a_signature_the_helpdesk_can_check() {
    let (url, desk) = helpdesk(&[]).await;
    let cfg = config(&url, 3);
    let (journal, id) = handed_off(&cfg);
    tokio::spawn(webhook::run(cfg, journal.clone()));

    let d = settled(&journal, &id).await;
    assert_eq!((d.status.as_str(), d.attempts), ("delivered", 1));
    let received = desk.received.lock().unwrap().clone();
    assert_eq!(received.len(), 1, "delivered once");
    let (headers, body) = &received[0];
    let now = time::OffsetDateTime::now_utc().unix_timestamp() as u64;
    let signature = headers[SIGNATURE_HEADER].to_str().unwrap();
    assert!(verify_signature(
        SECRET,
        signature,
        body,
        now,
        Duration::from_secs(300)
    ));
    assert!(!verify_signature(
        "not-the-secret-at-all",
        signature,
        body,
        now,
        Duration::from_secs(300)
    ));
    assert_eq!(headers["x-shopkeep-event"], "handoff.created");
    assert_eq!(headers["x-shopkeep-delivery"], id.as_str());
    let v: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(v["handoff"]["id"], id.as_str());
    assert_eq!(v["handoff"]["reason"], "sensitive");
    assert_eq!(
        v["handoff"]["packet"]["transcript"][0]["text"],
        "I want a lawyer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_helpdesk_is_retried_with_backoff_until_it_accepts() {
    let (url, desk) = helpdesk(&[500, 503]).await;
    let cfg = config(&url, 5);
    let (journal, id) = handed_off(&cfg);
    let started = std::time::Instant::now();
    tokio::spawn(webhook::run(cfg, journal.clone()));

    let d = settled(&journal, &id).await;
    assert_eq!((d.status.as_str(), d.attempts), ("delivered", 3));
    // Backoff: at least ~50 ms then ~100 ms (less 20 % jitter) between the attempts.
    assert!(
        started.elapsed() >= Duration::from_millis(120),
        "{:?}",
        started.elapsed()
    );
    let received = desk.received.lock().unwrap();
    let attempts: Vec<u64> = received
        .iter()
        .map(|(_, b)| {
            serde_json::from_slice::<Value>(b).unwrap()["attempt"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(attempts, [1, 2, 3]);
    // Every attempt is the same delivery, so the helpdesk can deduplicate.
    assert!(received
        .iter()
        .all(|(h, _)| h["x-shopkeep-delivery"] == id.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_helpdesk_that_never_accepts_is_given_up_on_and_the_delivery_marked_failed() {
    let (url, desk) = helpdesk(&[500, 500, 500, 500, 500, 500]).await;
    let cfg = config(&url, 3);
    let (journal, id) = handed_off(&cfg);
    tokio::spawn(webhook::run(cfg, journal.clone()));

    let d = settled(&journal, &id).await;
    assert_eq!((d.status.as_str(), d.attempts), ("failed", 3));
    assert!(d.last_error.unwrap().contains("500"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        desk.received.lock().unwrap().len(),
        3,
        "no attempt after giving up"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_helpdesk_keeps_the_hand_off_queued_until_it_is_back() {
    // A port nothing listens on: take one and close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = config(&format!("http://127.0.0.1:{port}/hook"), 50);
    let (journal, id) = handed_off(&cfg);
    let sender = tokio::spawn(webhook::run(cfg, journal.clone()));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let d = journal.delivery(&id).unwrap().unwrap();
    assert_eq!(d.status, "pending");
    assert!(d.attempts >= 1 && d.last_error.is_some(), "{d:?}");
    sender.abort();

    // The helpdesk comes back (as a restarted service would find the outbox): delivered.
    let (url, desk) = helpdesk(&[]).await;
    journal.queue_delivery(&id, 0).unwrap(); // already queued: keeps its row and attempts
    let cfg = WebhookConfig {
        max_attempts: 50,
        ..config(&url, 50)
    };
    tokio::spawn(webhook::run(cfg, journal.clone()));
    let d = settled(&journal, &id).await;
    assert_eq!(d.status, "delivered");
    assert_eq!(desk.received.lock().unwrap().len(), 1);
}

#[test]
fn without_a_url_nothing_is_queued() {
    let cfg = WebhookConfig::default();
    let (journal, id) = handed_off(&cfg);
    assert!(journal.delivery(&id).unwrap().is_none());
}

#[test]
fn a_webhook_needs_a_long_enough_secret_and_an_http_url() {
    let mut cfg = shopkeep::config::Config::default();
    cfg.webhook.url = "https://helpdesk.example/hooks".into();
    cfg.webhook.secret = "short".into();
    assert!(cfg
        .validate()
        .unwrap_err()
        .to_string()
        .contains("webhook.secret"));
    cfg.webhook.secret = SECRET.into();
    assert!(cfg.validate().is_ok());
    cfg.webhook.url = "ftp://helpdesk.example".into();
    assert!(cfg
        .validate()
        .unwrap_err()
        .to_string()
        .contains("webhook.url"));
}
