//! The WooCommerce connector against a loopback server answering with payloads shaped like
//! WooCommerce's documented REST API v3 examples (orders, customers, products and variations,
//! order notes, errors), and its webhooks' signatures. Not a live store: none can be reached from
//! here, and WooCommerce publishes no machine-readable schema to validate requests against, so
//! the requests are checked here by method, path and body.

#![recursion_limit = "256"]

mod common;

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    body::Bytes,
    extract::{OriginalUri, State},
    http::{HeaderMap, Method, StatusCode},
    Json, Router,
};
use serde_json::{json, Value};
use shopkeep::platform::{
    woocommerce::{verify_webhook, WooCommerce},
    EventTarget, Operation, OperationKind, Outcome, Platform, PlatformError, RefusalReason,
    WebhookError,
};

const KEY: &str = "ck_4f3a:cs_9b2c";

#[derive(Default)]
struct Mock {
    /// Scripted answers by "METHOD /path" (no query); the last one repeats.
    script: Mutex<HashMap<String, VecDeque<(u16, Value)>>>,
    /// (method, path with query, body).
    requests: Mutex<Vec<(String, String, Value)>>,
}

impl Mock {
    fn on(&self, route: &str, status: u16, body: Value) -> &Self {
        self.script
            .lock()
            .unwrap()
            .entry(route.to_string())
            .or_default()
            .push_back((status, body));
        self
    }

    fn sent(&self) -> Vec<(String, String, Value)> {
        self.requests.lock().unwrap().clone()
    }

    fn writes(&self) -> Vec<(String, String, Value)> {
        self.sent()
            .into_iter()
            .filter(|(m, _, _)| m != "GET")
            .collect()
    }
}

async fn handle(
    State(mock): State<Arc<Mock>>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<Value>) {
    // Basic base64("ck_4f3a:cs_9b2c")
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some("Basic Y2tfNGYzYTpjc185YjJj")
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(
                json!({"code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list resources.", "data": {"status": 401}}),
            ),
        );
    }
    let path = uri.path().trim_start_matches("/wp-json/wc/v3").to_string();
    let full = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.clone(),
    };
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    mock.requests
        .lock()
        .unwrap()
        .push((method.to_string(), full, body));
    let route = format!("{method} {path}");
    let mut script = mock.script.lock().unwrap();
    let answer = script.get_mut(&route).and_then(|q| {
        if q.len() > 1 {
            q.pop_front()
        } else {
            q.front().cloned()
        }
    });
    match answer {
        Some((s, b)) => (StatusCode::from_u16(s).unwrap(), Json(b)),
        None => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"code": "unscripted", "message": route})),
        ),
    }
}

fn store() -> (Arc<Mock>, WooCommerce, String) {
    let mock = Arc::new(Mock::default());
    let app = Router::new().fallback(handle).with_state(mock.clone());
    let listener = common::rt()
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    common::rt().spawn(async move { axum::serve(listener, app).await });
    let url = format!("http://{addr}");
    let w = WooCommerce::new(&url, KEY, Duration::from_secs(5)).unwrap();
    (mock, w, url)
}

fn address() -> Value {
    json!({"first_name": "Maya", "last_name": "Chen", "company": "", "address_1": "2218 NW Flanders St",
        "address_2": "", "city": "Portland", "state": "OR", "postcode": "97210", "country": "US",
        "email": "maya.chen@example.com", "phone": "(503) 555-0100"})
}

/// Order 727 as the documented "Retrieve an order" example shapes it.
fn order(id: u64, number: &str, status: &str) -> Value {
    json!({
        "id": id, "parent_id": 0, "number": number, "order_key": "wc_order_58d2d042d1d", "created_via": "rest-api",
        "version": "9.4.0", "status": status, "currency": "USD",
        "date_created": "2026-11-20T07:04:05", "date_created_gmt": "2026-11-20T15:04:05",
        "discount_total": "0.00", "shipping_total": "10.00", "total": "29.35", "total_tax": "1.35",
        "customer_id": 26, "billing": address(), "shipping": address(),
        "payment_method": "bacs", "payment_method_title": "Direct Bank Transfer", "transaction_id": "",
        "date_paid": "2026-11-20T07:05:00", "date_paid_gmt": "2026-11-20T15:05:00",
        "line_items": [{"id": 315, "name": "Woo Single #1", "product_id": 93, "variation_id": 0, "quantity": 2,
            "tax_class": "", "subtotal": "6.00", "subtotal_tax": "0.45", "total": "6.00", "total_tax": "0.45",
            "sku": "", "price": 3, "meta_data": []},
            {"id": 316, "name": "Ship Your Idea &ndash; Color: Black", "product_id": 22, "variation_id": 23, "quantity": 1,
            "subtotal": "12.00", "subtotal_tax": "0.90", "total": "12.00", "total_tax": "0.90", "sku": "SYI-BLACK", "price": 12,
            "meta_data": [{"id": 2095, "key": "pa_color", "value": "black", "display_key": "Color", "display_value": "Black"}]}],
        "shipping_lines": [{"id": 317, "method_title": "Flat Rate", "method_id": "flat_rate", "total": "10.00"}],
        "refunds": []
    })
}

fn customer() -> Value {
    json!({"id": 26, "date_created": "2026-01-02T10:00:00", "email": "maya.chen@example.com",
        "first_name": "Maya", "last_name": "Chen", "role": "customer", "username": "maya",
        "billing": address(), "shipping": address(), "is_paying_customer": true})
}

fn op(order: &str, kind: OperationKind) -> Operation {
    Operation {
        key: "plan-7f3a".into(),
        order: order.into(),
        kind,
    }
}

fn refusal(e: PlatformError) -> RefusalReason {
    match e {
        PlatformError::Refused { refusal, .. } => refusal.reason,
        other => panic!("not a refusal: {other}"),
    }
}

#[test]
fn orders_customers_and_products_are_read_from_the_rest_api() {
    let (mock, w, _) = store();
    // The search matches more than the number: only 727 itself counts.
    mock.on("GET /orders", 200, json!([order(7270, "7270", "processing"), order(727, "727", "processing")]))
        .on("GET /customers/26", 200, customer())
        .on("GET /customers", 200, json!([customer()]))
        .on(
            "GET /products",
            200,
            json!([{"id": 22, "name": "Ship Your Idea", "type": "variable", "status": "publish",
                "permalink": "https://shop.example/product/ship-your-idea/", "short_description": "<p>Pellentesque habitant.</p>",
                "sku": "", "price": "12.00", "purchasable": true, "manage_stock": false, "stock_quantity": null, "stock_status": "instock",
                "categories": [{"id": 9, "name": "Clothing"}], "tags": [{"id": 3, "name": "Summer"}],
                "attributes": [{"id": 6, "name": "Color", "variation": true, "options": ["Black", "Green"]}],
                "variations": [23, 24]}]),
        )
        .on(
            "GET /products/22/variations",
            200,
            json!([{"id": 23, "sku": "SYI-BLACK", "price": "12.00", "purchasable": true, "manage_stock": true,
                    "stock_quantity": 4, "stock_status": "instock", "attributes": [{"id": 6, "name": "Color", "option": "Black"}]},
                   {"id": 24, "sku": "SYI-GREEN", "price": "12.00", "purchasable": true, "manage_stock": false,
                    "stock_quantity": null, "stock_status": "outofstock", "attributes": [{"id": 6, "name": "Color", "option": "Green"}]}]),
        );
    let s = w.order("#727").unwrap().expect("order 727");
    let o = &s.order;
    assert_eq!(o.number, "#727");
    assert_eq!(o.status, shopkeep::orders::OrderStatus::Processing);
    assert_eq!(
        (
            o.subtotal_cents,
            o.shipping_cents,
            o.tax_cents,
            o.total_cents
        ),
        (1800, 1000, 135, 2935)
    );
    assert_eq!(o.items[0].item_id, "93", "no SKU: the product id");
    assert_eq!((o.items[0].price_cents, o.items[0].quantity), (300, 2));
    assert_eq!(o.items[1].item_id, "SYI-BLACK");
    assert_eq!(
        o.items[1].options.get("Color").map(String::as_str),
        Some("Black")
    );
    assert_eq!(o.paid_cents(), 2935);
    assert_eq!(o.shipping_method.as_deref(), Some("Flat Rate"));
    assert_eq!(s.customer.id, "26");
    assert_eq!(
        s.customer.default_address.as_ref().unwrap().postcode,
        "97210"
    );
    assert_eq!(mock.sent()[0].1, "/orders?search=727&per_page=20");

    let c = w
        .customer_by_email("Maya.Chen@example.com")
        .unwrap()
        .unwrap();
    assert_eq!(c.id, "26");
    let products = w
        .products(&["22".into(), "gid://shopify/Product/1".into()])
        .unwrap();
    let p = &products[0];
    assert_eq!(
        p.url.as_deref(),
        Some("https://shop.example/product/ship-your-idea/")
    );
    assert_eq!(p.description, "Pellentesque habitant.");
    assert_eq!(p.variants.len(), 2);
    assert_eq!(p.variants[0].stock, Some(4));
    assert_eq!(
        p.variants[1].stock,
        Some(0),
        "out of stock without managed stock"
    );
    assert!(!p.variants[1].in_stock());
    assert!(mock
        .sent()
        .iter()
        .any(|(_, path, _)| path == "/products?include=22&per_page=1"));

    // Only the near miss: not found.
    let (mock, w, _) = store();
    mock.on(
        "GET /orders",
        200,
        json!([order(7270, "7270", "processing")]),
    );
    assert!(w.order("727").unwrap().is_none());
}

#[test]
fn a_cancellation_is_a_status_change_with_a_note_and_never_twice() {
    let (mock, w, _) = store();
    mock.on("GET /orders", 200, json!([order(727, "727", "processing")]))
        .on("PUT /orders/727", 200, order(727, "727", "cancelled"))
        .on("GET /orders/727/notes", 200, json!([]))
        .on(
            "POST /orders/727/notes",
            201,
            json!({"id": 281, "author": "system", "note": "x", "customer_note": false}),
        );
    let out = w
        .carry_out(&op(
            "#727",
            OperationKind::Cancel {
                reason: Some("ordered twice".into()),
            },
        ))
        .unwrap();
    let Outcome::Done {
        ids,
        already: false,
    } = out
    else {
        panic!("{out:?}")
    };
    assert!(ids.iter().any(|i| i.kind == "order_note" && i.id == "281"));
    let writes = mock.writes();
    assert_eq!(writes[0].0, "PUT");
    assert_eq!(writes[0].2, json!({"status": "cancelled"}));
    assert_eq!(writes[1].1, "/orders/727/notes");
    assert!(writes[1].2["note"]
        .as_str()
        .unwrap()
        .contains("shopkeep:plan-7f3a"));
    assert_eq!(writes[1].2["customer_note"], false);

    // Already cancelled: nothing written.
    let (mock, w, _) = store();
    mock.on("GET /orders", 200, json!([order(727, "727", "cancelled")]));
    let out = w
        .carry_out(&op("727", OperationKind::Cancel { reason: None }))
        .unwrap();
    assert!(matches!(out, Outcome::Done { already: true, .. }));
    assert!(mock.writes().is_empty());

    // Completed (shipped): refused, nothing written.
    let (mock, w, _) = store();
    mock.on("GET /orders", 200, json!([order(727, "727", "completed")]));
    let e = w
        .carry_out(&op("727", OperationKind::Cancel { reason: None }))
        .unwrap_err();
    assert_eq!(refusal(e), RefusalReason::AlreadyFulfilled);
    assert!(mock.writes().is_empty());

    // WooCommerce's own error: typed.
    let (mock, w, _) = store();
    mock.on("GET /orders", 200, json!([order(727, "727", "processing")])).on(
        "PUT /orders/727",
        400,
        json!({"code": "woocommerce_rest_shop_order_invalid_id", "message": "Invalid ID.", "data": {"status": 400}}),
    );
    let e = w
        .carry_out(&op("727", OperationKind::Cancel { reason: None }))
        .unwrap_err();
    assert_eq!(refusal(e), RefusalReason::OrderNotFound);
}

#[test]
fn returns_and_exchanges_are_staff_tasks_with_one_order_note() {
    let (mock, w, _) = store();
    mock.on("GET /orders", 200, json!([order(727, "727", "completed")]))
        .on("GET /orders/727/notes", 200, json!([]))
        .on(
            "POST /orders/727/notes",
            201,
            json!({"id": 282, "note": "x"}),
        );
    let out = w
        .carry_out(&op(
            "727",
            OperationKind::Return {
                item_ids: vec!["SYI-BLACK".into()],
            },
        ))
        .unwrap();
    assert!(matches!(out, Outcome::StaffTask { .. }), "{out:?}");
    let writes = mock.writes();
    assert_eq!(writes.len(), 1);
    assert!(writes[0].2["note"].as_str().unwrap().contains("SYI-BLACK"));

    // The same plan again: the note is there, nothing more is written.
    let (mock, w, _) = store();
    mock.on("GET /orders", 200, json!([order(727, "727", "completed")])).on(
        "GET /orders/727/notes",
        200,
        json!([{"id": 282, "author": "shopkeep", "note": "Return requested through shopkeep: SYI-BLACK (shopkeep:plan-7f3a)", "customer_note": false}]),
    );
    let out = w
        .carry_out(&op(
            "727",
            OperationKind::Return {
                item_ids: vec!["SYI-BLACK".into()],
            },
        ))
        .unwrap();
    assert!(matches!(out, Outcome::StaffTask { .. }));
    assert!(mock.writes().is_empty());
}

#[test]
fn an_address_change_updates_the_orders_shipping_address() {
    let (mock, w, _) = store();
    mock.on("GET /orders", 200, json!([order(727, "727", "processing")]))
        .on("PUT /orders/727", 200, order(727, "727", "processing"))
        .on("GET /orders/727/notes", 200, json!([]))
        .on(
            "POST /orders/727/notes",
            201,
            json!({"id": 283, "note": "x"}),
        );
    let new = shopkeep::orders::Address {
        line1: "1 Main St".into(),
        line2: None,
        city: "Seattle".into(),
        region: "WA".into(),
        postcode: "98103".into(),
        country: "US".into(),
    };
    let out = w
        .carry_out(&op("727", OperationKind::ChangeAddress { address: new }))
        .unwrap();
    assert!(matches!(out, Outcome::Done { already: false, .. }));
    let put = &mock.writes()[0];
    assert_eq!(put.2["shipping"]["address_1"], "1 Main St");
    assert_eq!(put.2["shipping"]["state"], "WA");
    assert_eq!(put.2["shipping"]["first_name"], "Maya");
}

#[test]
fn failures_are_typed() {
    let (mock, _, url) = store();
    mock.on("GET /orders", 200, json!([]));
    let wrong = WooCommerce::new(&url, "ck_x:cs_y", Duration::from_secs(5)).unwrap();
    assert!(matches!(
        wrong.order("727").unwrap_err(),
        PlatformError::Auth { status: 401, .. }
    ));
    let (mock, w, _) = store();
    mock.on("GET /orders", 502, json!({"message": "Bad Gateway"}));
    assert_eq!(w.order("727").unwrap_err().code(), "platform.unreachable");
    assert!(WooCommerce::new(&url, "no-secret", Duration::from_secs(5)).is_err());
    let nowhere = WooCommerce::new("http://127.0.0.1:9", KEY, Duration::from_secs(2)).unwrap();
    assert_eq!(
        nowhere.order("727").unwrap_err().code(),
        "platform.unreachable"
    );
}

#[test]
fn webhooks_are_verified_and_deduplicated() {
    use base64::Engine as _;
    use hmac::Mac;
    let (_, w, _) = store();
    let secret = "wc-webhook-secret-16+";
    let sign = |body: &[u8]| {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    };
    let body = br#"{"id":727,"number":"727","status":"cancelled"}"#;
    let deliver = |sig: String, delivery: &str, body: &[u8]| {
        let h: HashMap<&str, String> = [
            ("x-wc-webhook-signature", sig),
            ("x-wc-webhook-topic", "order.updated".to_string()),
            ("x-wc-webhook-resource", "order".to_string()),
            ("x-wc-webhook-delivery-id", delivery.to_string()),
        ]
        .into_iter()
        .collect();
        w.webhook(secret, &|n: &str| h.get(n).cloned(), body)
            .unwrap()
    };
    let d = deliver(sign(body), "d-1", body).unwrap();
    assert_eq!(d.target, EventTarget::Order("727".into()));
    assert!(!d.duplicate);
    assert!(deliver(sign(body), "d-1", body).unwrap().duplicate);
    assert_eq!(
        deliver(sign(b"{}"), "d-2", body).unwrap_err(),
        WebhookError::BadSignature
    );
    assert!(verify_webhook(secret, &sign(body), body));
    assert!(!verify_webhook("another-secret", &sign(body), body));
    assert!(w.webhook(secret, &|_: &str| None, body).is_none());
}
