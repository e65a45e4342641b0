//! shopkeep against a real Medusa 2.x server: conversations through `/v1/answer` (order status,
//! a cancellation, a return, an address change, a cancellation the platform refuses, one our
//! policy refuses), each checked afterwards in Medusa's own Admin API — done exactly once, or
//! not at all.
//!
//! Needs the server `scripts/medusa.sh start` installs, migrates, starts and seeds (PostgreSQL and
//! Medusa on loopback; the seed's ids in $SHOPKEEP_MEDUSA_STATE/seed.json, default
//! /tmp/shopkeep-medusa). Without it the Medusa tests skip with a message. Each start reseeds,
//! and the conversations change the store, so run the script again before running these again.
//!
//! The last test needs no Medusa: a platform that does not answer refuses the write, says so,
//! and leaves everything as it was.

mod common;

use std::{
    path::PathBuf,
    sync::{Arc, OnceLock},
    time::Duration,
};

use serde::Deserialize;
use serde_json::{json, Value};
use shopkeep::{
    actions::{Flow, Guide, Policy, Stage},
    app::App,
    config::PlatformKind,
    orders::{demo, OrderStatus, OrderStore, SqliteOrderStore},
    platform::{medusa::Medusa, Platform},
};

#[derive(Debug, Clone, Deserialize)]
struct Seed {
    url: String,
    api_key: String,
    location_id: String,
    orders: std::collections::BTreeMap<String, SeedOrder>,
}

#[derive(Debug, Clone, Deserialize)]
struct SeedOrder {
    id: String,
    items: Vec<SeedItem>,
}

#[derive(Debug, Clone, Deserialize)]
struct SeedItem {
    id: String,
    sku: String,
    quantity: u32,
}

const EVENTS_SECRET: &str = "medusa-tests-events-secret";

fn state_dir() -> PathBuf {
    std::env::var_os("SHOPKEEP_MEDUSA_STATE")
        .map_or_else(|| PathBuf::from("/tmp/shopkeep-medusa"), PathBuf::from)
}

/// The seeded server, when it is up.
fn seed() -> Option<Seed> {
    static SEED: OnceLock<Option<Seed>> = OnceLock::new();
    SEED.get_or_init(|| {
        let text = std::fs::read_to_string(state_dir().join("seed.json")).ok()?;
        let seed: Seed =
            serde_json::from_str(&text).expect("seed.json is the seed script's output");
        let up = common::rt().block_on(async {
            reqwest::Client::new()
                .get(format!("{}/health", seed.url))
                .timeout(Duration::from_secs(3))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        });
        up.then_some(seed)
    })
    .clone()
}

macro_rules! require_medusa {
    () => {
        match seed() {
            Some(s) => s,
            None => {
                eprintln!("skipped: no seeded Medusa server is up (run scripts/medusa.sh start; it reseeds, so run it again before each run of these tests)");
                return;
            }
        }
    };
}

/// shopkeep configured for the seeded Medusa, served on loopback; one per test binary.
fn server(seed: &Seed) -> String {
    static SERVER: OnceLock<(tempfile::TempDir, String)> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            // The platform's warnings (a refusal's own words, an unreachable server) in the
            // test's output.
            let _ = tracing_subscriber::fmt()
                .with_env_filter("shopkeep=info")
                .with_test_writer()
                .try_init();
            let dir = tempfile::tempdir().unwrap();
            let mut cfg = common::config(dir.path());
            cfg.platform.kind = PlatformKind::Medusa;
            cfg.platform.url = seed.url.clone();
            cfg.platform.api_key = seed.api_key.clone();
            cfg.platform.events_secret = EVENTS_SECRET.into();
            cfg.webhook.url = "http://127.0.0.1:9/helpdesk".into();
            cfg.webhook.secret = "medusa-tests-webhook-secret".into();
            let app = Arc::new(App::with_embedder(cfg, common::model_dyn()).expect("app opens"));
            (dir, common::serve(app))
        })
        .1
        .clone()
}

/// One turn through the HTTP API, in the conversation the test calls `conversation`: the first
/// turn starts it, and later ones continue it under the id the server issued.
fn say(seed: &Seed, conversation: &str, message: &str) -> Value {
    static IDS: std::sync::Mutex<Option<std::collections::HashMap<String, String>>> =
        std::sync::Mutex::new(None);
    let url = format!("{}/v1/answer", server(seed));
    let issued = IDS
        .lock()
        .unwrap()
        .get_or_insert_with(Default::default)
        .get(conversation)
        .cloned();
    let mut body = json!({"message": message});
    if let Some(id) = issued {
        body["conversation_id"] = json!(id);
    }
    let (status, v) = common::rt().block_on(async {
        let r = reqwest::Client::new()
            .post(url)
            .json(&body)
            .send()
            .await
            .unwrap();
        (
            r.status().as_u16(),
            r.json::<Value>().await.unwrap_or(Value::Null),
        )
    });
    assert_eq!(status, 200, "{message:?} → {v}");
    if let Some(id) = v["conversation_id"].as_str() {
        IDS.lock()
            .unwrap()
            .get_or_insert_with(Default::default)
            .insert(conversation.to_string(), id.to_string());
    }
    eprintln!(
        "customer: {message}\nshopkeep: {}\n",
        v["reply"].as_str().unwrap_or_default()
    );
    v
}

/// Medusa's own view, through its Admin API.
fn medusa(seed: &Seed, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let url = format!("{}{path}", seed.url);
    common::rt().block_on(async {
        let mut r = reqwest::Client::new()
            .request(method, url)
            .basic_auth(&seed.api_key, Some(""));
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {v}");
        v
    })
}

fn medusa_order(seed: &Seed, number: &str) -> Value {
    let id = &seed.orders[number].id;
    medusa(seed, reqwest::Method::GET, &format!("/admin/orders/{id}?fields=id,status,version,*shipping_address,*fulfillments,*returns,*returns.items,+metadata"), None)["order"].clone()
}

fn statuses(a: &Value) -> Vec<String> {
    a["actions"]
        .as_array()
        .map(|v| {
            v.iter()
                .map(|x| x["status"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn fresh(seed: &Seed, number: &str) -> Value {
    let o = medusa_order(seed, number);
    assert_ne!(o["status"], "canceled", "order #{number} was changed by an earlier run: run scripts/medusa.sh start for a freshly seeded store");
    assert!(
        o["returns"].as_array().is_none_or(|r| r.is_empty()),
        "order #{number} has a return from an earlier run: run scripts/medusa.sh start again"
    );
    o
}

#[test]
fn an_order_status_question_is_answered_from_medusa_with_its_tracking() {
    let seed = require_medusa!();
    let before = medusa_order(&seed, "1002");
    let a = say(
        &seed,
        "md-status",
        "Where is my order #1002? My email is ada@shopkeep.test",
    );
    let reply = a["reply"].as_str().unwrap();
    assert!(reply.contains("1Z999AA10123456784"), "{reply}");
    assert_eq!(a["order"]["number"], "#1002", "{a}");
    assert_eq!(a["order"]["status"], "shipped", "{a}");
    // Reading changes nothing.
    assert_eq!(medusa_order(&seed, "1002")["version"], before["version"]);
}

#[test]
fn a_cancellation_is_carried_out_in_medusa_exactly_once() {
    let seed = require_medusa!();
    fresh(&seed, "1001");
    let a = say(
        &seed,
        "md-cancel",
        "Please cancel order #1001, my email is ada@shopkeep.test",
    );
    assert_eq!(a["awaiting_confirmation"], true, "{a}");
    // Asking changes nothing yet.
    assert_eq!(medusa_order(&seed, "1001")["status"], "pending");
    let a = say(&seed, "md-cancel", "yes");
    assert_eq!(statuses(&a), ["executed"], "{a}");
    assert!(a["reply"].as_str().unwrap().contains("cancelled"), "{a}");
    let after = medusa_order(&seed, "1001");
    assert_eq!(after["status"], "canceled");
    // A repeated yes finds the first execution; Medusa is not asked again.
    let again = say(&seed, "md-cancel", "yes");
    assert_eq!(statuses(&again), ["already_done"], "{again}");
    assert_eq!(medusa_order(&seed, "1001")["version"], after["version"]);
    // shopkeep's answer now comes from Medusa's cancelled order.
    let status = say(&seed, "md-cancel", "What's the status of order #1001?");
    assert_eq!(status["order"]["status"], "cancelled", "{status}");
}

#[test]
fn a_return_is_opened_in_medusa_once_with_the_items_and_the_key() {
    let seed = require_medusa!();
    fresh(&seed, "1003");
    let a = say(
        &seed,
        "md-return",
        "I'd like to return the Linen Tee from order #1003. My email is ada@shopkeep.test",
    );
    assert_eq!(a["awaiting_confirmation"], true, "{a}");
    assert!(medusa_order(&seed, "1003")["returns"]
        .as_array()
        .unwrap()
        .is_empty());
    let a = say(&seed, "md-return", "yes");
    assert_eq!(statuses(&a), ["executed"], "{a}");
    let reference = a["actions"][0]["reference"].as_str().unwrap().to_string();
    assert!(
        reference.starts_with("return_"),
        "the customer's reference is Medusa's return id: {a}"
    );
    let o = medusa_order(&seed, "1003");
    let returns = o["returns"].as_array().unwrap();
    assert_eq!(returns.len(), 1, "{o}");
    let r = &returns[0];
    assert_eq!(r["id"], reference.as_str());
    assert_eq!(r["status"], "requested", "{r}");
    assert_eq!(r["metadata"]["shopkeep_key"], a["actions"][0]["id"], "{r}");
    // Medusa lists an order's items in no fixed order: find the tee's line by its SKU.
    let tee_line = seed.orders["1003"]
        .items
        .iter()
        .find(|i| i.sku.starts_with("TEE"))
        .expect("order #1003 has the tee");
    let items = r["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "only the tee: {r}");
    assert_eq!(items[0]["item_id"], tee_line.id.as_str());
    assert_eq!(
        items[0]["quantity"].as_f64(),
        Some(f64::from(tee_line.quantity))
    );
    // Again: still the one return.
    let again = say(&seed, "md-return", "yes");
    assert_eq!(statuses(&again), ["already_done"], "{again}");
    assert_eq!(
        medusa_order(&seed, "1003")["returns"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let status = say(&seed, "md-return", "What's the status of order #1003?");
    assert_eq!(status["order"]["status"], "return_requested", "{status}");
}

#[test]
fn an_address_change_is_written_to_the_medusa_order() {
    let seed = require_medusa!();
    let before = fresh(&seed, "1004");
    assert_eq!(before["shipping_address"]["address_1"], "12 Analytical Row");
    say(
        &seed,
        "md-address",
        "Where is my order #1004? My email is ada@shopkeep.test",
    );
    let a = say(
        &seed,
        "md-address",
        "Please change the shipping address of order #1004 to 221 Baker Street, Portland, OR 97201",
    );
    assert_eq!(a["awaiting_confirmation"], true, "{a}");
    let a = say(&seed, "md-address", "yes");
    assert_eq!(statuses(&a), ["executed"], "{a}");
    let o = medusa_order(&seed, "1004");
    let addr = &o["shipping_address"];
    assert_eq!(
        (
            addr["address_1"].as_str(),
            addr["city"].as_str(),
            addr["postal_code"].as_str()
        ),
        (Some("221 Baker Street"), Some("Portland"), Some("97201")),
        "{o}"
    );
    assert_eq!(addr["first_name"], "Ada", "the name stays on the label");
}

#[test]
fn a_cancellation_medusa_refuses_is_explained_and_changes_nothing() {
    let seed = require_medusa!();
    fresh(&seed, "1005");
    let a = say(
        &seed,
        "md-refused",
        "Cancel order #1005 please, my email is ada@shopkeep.test",
    );
    assert_eq!(a["awaiting_confirmation"], true, "{a}");
    // Meanwhile the warehouse packs it (in Medusa, not through shopkeep).
    let o = &seed.orders["1005"];
    let items: Vec<Value> = o
        .items
        .iter()
        .map(|i| json!({"id": i.id, "quantity": i.quantity}))
        .collect();
    medusa(
        &seed,
        reqwest::Method::POST,
        &format!("/admin/orders/{}/fulfillments", o.id),
        Some(json!({"items": items, "location_id": seed.location_id})),
    );
    let before = medusa_order(&seed, "1005");
    let a = say(&seed, "md-refused", "yes");
    assert_eq!(statuses(&a), ["failed"], "{a}");
    let reply = a["reply"].as_str().unwrap();
    assert!(reply.contains("already been packed"), "{reply}");
    assert!(
        !reply.contains("fulfillments"),
        "Medusa's own words stay in the log: {reply}"
    );
    let after = medusa_order(&seed, "1005");
    assert_ne!(after["status"], "canceled");
    assert_eq!(
        after["version"], before["version"],
        "nothing changed in Medusa"
    );
    assert_eq!(after["fulfillments"].as_array().unwrap().len(), 1);
}

#[test]
fn a_cancellation_our_policy_refuses_never_reaches_medusa() {
    let seed = require_medusa!();
    let before = medusa_order(&seed, "1002");
    let a = say(
        &seed,
        "md-policy",
        "Cancel order #1002, my email is ada@shopkeep.test",
    );
    assert_eq!(statuses(&a), ["refused"], "{a}");
    assert!(
        a["reply"].as_str().unwrap().contains("already shipped"),
        "{a}"
    );
    let after = medusa_order(&seed, "1002");
    assert_eq!(
        (after["status"].clone(), after["version"].clone()),
        (before["status"].clone(), before["version"].clone())
    );
}

#[test]
fn another_customers_order_is_not_found_from_adas_conversation() {
    let seed = require_medusa!();
    let a = say(
        &seed,
        "md-other",
        "Where is my order #1006? My email is ada@shopkeep.test",
    );
    assert!(a["order"].is_null(), "{a}");
    assert!(!a["reply"].as_str().unwrap().contains("Seattle"), "{a}");
}

#[test]
fn a_signed_change_event_rereads_the_order_and_an_unsigned_one_is_refused() {
    use hmac::{Hmac, Mac};
    let seed = require_medusa!();
    let post = |body: &str, signature: &str| {
        let url = format!("{}/v1/platform/events", server(&seed));
        let body = body.to_string();
        let signature = signature.to_string();
        common::rt().block_on(async move {
            let r = reqwest::Client::new()
                .post(url)
                .header("content-type", "application/json")
                .header("x-shopkeep-signature", signature)
                .body(body)
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        })
    };
    let sign = |body: &str| {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(EVENTS_SECRET.as_bytes()).unwrap();
        mac.update(body.as_bytes());
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    };
    // What contrib/medusa/src/subscribers/shopkeep.ts sends.
    let body = json!({"event": "order.updated", "id": seed.orders["1006"].id}).to_string();
    let (status, v) = post(&body, &sign(&body));
    assert_eq!((status, v["refreshed"].clone()), (202, json!(true)), "{v}");
    let (status, v) = post(&body, "sha256=00");
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (401, Some("bad_signature")),
        "{v}"
    );
    let unknown = json!({"event": "order.updated", "id": "order_NOPE"}).to_string();
    let (status, v) = post(&unknown, &sign(&unknown));
    assert_eq!((status, v["refreshed"].clone()), (202, json!(false)), "{v}");
}

/// No Medusa needed: nothing listens on loopback port 1.
#[test]
fn an_unreachable_platform_refuses_the_write_says_so_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteOrderStore::open(&dir.path().join("orders.db")).unwrap());
    let today = time::OffsetDateTime::now_utc().date();
    demo::seed_demo(store.as_ref(), today).unwrap();
    let platform: Arc<dyn Platform> =
        Arc::new(Medusa::new("http://127.0.0.1:1", "sk_unused", Duration::from_secs(2)).unwrap());
    let guide = Guide::new(Policy::profile("demo").unwrap()).with_platform(platform);
    let now = demo::demo_now(today);
    // An order of the demo's first customer, unshipped and numbered as a Medusa order would be.
    let mut order = store.orders_for_customer("cus_001").unwrap().remove(0);
    order.number = "#2001".into();
    order.status = OrderStatus::Processing;
    order.fulfilments.clear();
    order.returns.clear();
    order.exchanges.clear();
    for i in order.items.iter_mut() {
        i.status = shopkeep::orders::ItemStatus::Ordered;
    }
    store.save_order(&order).unwrap();
    let before = store.order(&order.number).unwrap();
    let ask = guide
        .turn(
            store.as_ref(),
            "cus_001",
            "c-unreachable",
            &format!("please cancel order {}", order.number),
            None,
            now,
        )
        .unwrap()
        .unwrap();
    let flow: Flow = ask.flow.expect("a plan to confirm");
    assert_eq!(flow.stage, Stage::Confirm, "{}", ask.text);
    let done = guide
        .turn(
            store.as_ref(),
            "cus_001",
            "c-unreachable",
            "yes",
            Some(flow),
            now,
        )
        .unwrap()
        .unwrap();
    assert!(
        done.text.contains("can't be reached") && done.text.contains("nothing was changed"),
        "{}",
        done.text
    );
    assert_eq!(done.actions[0]["status"], "failed");
    assert_eq!(done.actions[0]["code"], "platform.unreachable");
    assert_eq!(
        store.order(&order.number).unwrap(),
        before,
        "the order is as it was"
    );
    assert!(
        store
            .actions_for(Some(&order.number), None)
            .unwrap()
            .is_empty(),
        "nothing logged as done"
    );
}

/// A platform that takes nothing by API: every change becomes a staff task. Reads come from the
/// demo store (standing in for the platform's records).
#[derive(Debug)]
struct ByHand {
    records: shopkeep::platform::Embedded,
    asked: std::sync::Mutex<Vec<shopkeep::platform::Operation>>,
}

impl Platform for ByHand {
    fn name(&self) -> &'static str {
        "by-hand"
    }
    fn order(
        &self,
        number: &str,
    ) -> Result<Option<shopkeep::platform::Snapshot>, shopkeep::platform::PlatformError> {
        self.records.order(number)
    }
    fn customer_by_email(
        &self,
        email: &str,
    ) -> Result<Option<shopkeep::orders::Customer>, shopkeep::platform::PlatformError> {
        self.records.customer_by_email(email)
    }
    fn customer(
        &self,
        id: &str,
    ) -> Result<Option<shopkeep::orders::Customer>, shopkeep::platform::PlatformError> {
        self.records.customer(id)
    }
    fn orders_for_customer(
        &self,
        id: &str,
    ) -> Result<Vec<shopkeep::orders::Order>, shopkeep::platform::PlatformError> {
        self.records.orders_for_customer(id)
    }
    fn products(
        &self,
        ids: &[String],
    ) -> Result<Vec<shopkeep::orders::Product>, shopkeep::platform::PlatformError> {
        self.records.products(ids)
    }
    fn carry_out(
        &self,
        op: &shopkeep::platform::Operation,
    ) -> Result<shopkeep::platform::Outcome, shopkeep::platform::PlatformError> {
        self.asked.lock().unwrap().push(op.clone());
        Ok(shopkeep::platform::Outcome::StaffTask {
            why: "no API for this".into(),
        })
    }
}

/// No Medusa needed.
#[test]
fn what_the_platform_cannot_do_is_prepared_for_the_team_and_never_reported_done() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteOrderStore::open(&dir.path().join("orders.db")).unwrap());
    let today = time::OffsetDateTime::now_utc().date();
    demo::seed_demo(store.as_ref(), today).unwrap();
    let mut order = store.orders_for_customer("cus_001").unwrap().remove(0);
    order.number = "#2002".into();
    order.status = OrderStatus::Processing;
    order.fulfilments.clear();
    order.returns.clear();
    order.exchanges.clear();
    for i in order.items.iter_mut() {
        i.status = shopkeep::orders::ItemStatus::Ordered;
    }
    store.save_order(&order).unwrap();
    let before = store.order("#2002").unwrap();
    let platform = Arc::new(ByHand {
        records: shopkeep::platform::Embedded::new(store.clone()),
        asked: Default::default(),
    });
    let guide = Guide::new(Policy::profile("demo").unwrap()).with_platform(platform.clone());
    let now = demo::demo_now(today);
    let ask = guide
        .turn(
            store.as_ref(),
            "cus_001",
            "c-by-hand",
            "please cancel order #2002",
            None,
            now,
        )
        .unwrap()
        .unwrap();
    let flow = ask.flow.expect("a plan to confirm");
    let done = guide
        .turn(
            store.as_ref(),
            "cus_001",
            "c-by-hand",
            "yes",
            Some(flow),
            now,
        )
        .unwrap()
        .unwrap();
    assert!(
        done.text.contains("needs their approval") && done.text.contains("nothing has changed yet"),
        "{}",
        done.text
    );
    assert!(!done.text.starts_with("Done"), "{}", done.text);
    assert_eq!(done.actions[0]["status"], "pending_approval");
    assert!(
        done.handoff.as_deref().is_some_and(|h| h.contains("#2002")),
        "the team gets it: {:?}",
        done.handoff
    );
    assert_eq!(
        platform.asked.lock().unwrap().len(),
        1,
        "the platform was asked once, with the plan's key"
    );
    assert_eq!(
        platform.asked.lock().unwrap()[0].key,
        done.actions[0]["id"].as_str().unwrap()
    );
    assert_eq!(
        store.order("#2002").unwrap(),
        before,
        "the order is as it was"
    );
    let log = store.actions_for(Some("#2002"), None).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].status, "staff_task");
}
