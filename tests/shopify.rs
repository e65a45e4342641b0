//! The Shopify connector, without a live shop (none can be reached from here):
//!
//! - every GraphQL document it can send (`shopify::documents::ALL`) is validated against
//!   Shopify's **published Admin schema** for the pinned version: the introspection result that
//!   the npm package `@shopify/dev-mcp` ships as `dist/data/admin_<version>.json.gz`
//!   (`scripts/shopify-schema.sh` installs it outside the clone), turned into SDL and checked with
//!   apollo-compiler;
//! - its handling of answers is tested against a loopback HTTP server serving responses shaped
//!   like Shopify's documented examples (a throttled answer, `userErrors` refusals, an
//!   `orderCancel` job, HTTP failures), and every request it sent there is checked too: the
//!   document is one of `ALL`, and its variables coerce to the operation's types in that schema.
//!
//! These show the connector speaks the published API; they do not show what a live shop does
//! with it. Without the schema package the schema checks skip with a message naming the script.

mod common;

use std::{
    collections::{HashMap, VecDeque},
    io::Read,
    path::PathBuf,
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use apollo_compiler::{validation::Valid, ExecutableDocument, Schema};
use axum::{extract::State, http::HeaderMap, routing::post, Json, Router};
use serde_json::{json, Value};
use sha2::Digest;
use shopkeep::platform::{
    shopify::{documents, verify_webhook, Shopify, API_VERSION},
    Delivery, EventTarget, Operation, OperationKind, Outcome, Platform, PlatformError,
    RefusalReason, WebhookError,
};

// --- the published schema ------------------------------------------------------------------

/// Where scripts/shopify-schema.sh put the schema: $SHOPKEEP_SHOPIFY_SCHEMA, or its cache folder.
fn schema_path() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("SHOPKEEP_SHOPIFY_SCHEMA") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let lock = std::fs::read(common::root().join("contrib/shopify/package-lock.json")).ok()?;
    let hash = hex::encode(sha2::Sha256::digest(&lock));
    let cache = std::env::var("SHOPKEEP_SHOPIFY_CACHE")
        .map(PathBuf::from)
        .ok()
        .or_else(|| {
            std::env::var("XDG_CACHE_HOME")
                .ok()
                .map(|x| PathBuf::from(x).join("shopkeep-shopify"))
        })
        .or_else(|| {
            std::env::var("HOME")
                .ok()
                .map(|h| PathBuf::from(h).join(".cache/shopkeep-shopify"))
        })?;
    let p = cache.join(&hash[..16]).join(format!(
        "node_modules/@shopify/dev-mcp/dist/data/admin_{API_VERSION}.json.gz"
    ));
    p.is_file().then_some(p)
}

/// The schema, parsed and validated once per test binary; `None` (with a message) without it.
fn schema() -> Option<&'static Valid<Schema>> {
    static SCHEMA: OnceLock<Option<Valid<Schema>>> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let Some(path) = schema_path() else {
                eprintln!("skipped: Shopify's Admin schema {API_VERSION} is not installed (run scripts/shopify-schema.sh)");
                return None;
            };
            let mut text = String::new();
            flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap())
                .read_to_string(&mut text)
                .unwrap();
            let json: Value = serde_json::from_str(&text).unwrap();
            let sdl = introspection_to_sdl(&json);
            match Schema::parse_and_validate(sdl, "shopify-admin.graphql") {
                Ok(s) => Some(s),
                Err(e) => panic!("Shopify's schema from {} does not validate: {}", path.display(), e.errors),
            }
        })
        .as_ref()
}

/// An introspection result (`{data: {__schema}}`) as SDL: types, fields, arguments, default
/// values (already GraphQL literals in introspection), interfaces, unions, enums, inputs, and
/// the schema's own directives. Descriptions and deprecations are left out: validation does not
/// need them.
fn introspection_to_sdl(json: &Value) -> String {
    let schema = json
        .get("data")
        .unwrap_or(json)
        .get("__schema")
        .expect("an introspection result");
    fn type_ref(t: &Value) -> String {
        match t["kind"].as_str().unwrap() {
            "NON_NULL" => format!("{}!", type_ref(&t["ofType"])),
            "LIST" => format!("[{}]", type_ref(&t["ofType"])),
            _ => t["name"].as_str().unwrap().to_string(),
        }
    }
    fn args(list: &Value) -> String {
        let items: Vec<String> = list
            .as_array()
            .into_iter()
            .flatten()
            .map(input_value)
            .collect();
        if items.is_empty() {
            String::new()
        } else {
            format!("({})", items.join(", "))
        }
    }
    fn input_value(a: &Value) -> String {
        let mut s = format!("{}: {}", a["name"].as_str().unwrap(), type_ref(&a["type"]));
        if let Some(d) = a["defaultValue"].as_str() {
            s.push_str(&format!(" = {d}"));
        }
        s
    }
    fn implements(t: &Value) -> String {
        let names: Vec<&str> = t["interfaces"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| i["name"].as_str().unwrap())
            .collect();
        if names.is_empty() {
            String::new()
        } else {
            format!(" implements {}", names.join(" & "))
        }
    }
    const BUILT_IN: &[&str] = &["String", "Int", "Float", "Boolean", "ID"];
    let mut out = String::new();
    let root = |k: &str| schema[k]["name"].as_str().map(str::to_string);
    out.push_str("schema {");
    for (op, key) in [
        ("query", "queryType"),
        ("mutation", "mutationType"),
        ("subscription", "subscriptionType"),
    ] {
        if let Some(n) = root(key) {
            out.push_str(&format!(" {op}: {n}"));
        }
    }
    out.push_str(" }\n");
    for d in schema["directives"].as_array().unwrap() {
        let name = d["name"].as_str().unwrap();
        if ["skip", "include", "deprecated", "specifiedBy"].contains(&name) {
            continue;
        }
        let locations: Vec<&str> = d["locations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        out.push_str(&format!(
            "directive @{name}{}{} on {}\n",
            args(&d["args"]),
            if d["isRepeatable"].as_bool() == Some(true) {
                " repeatable"
            } else {
                ""
            },
            locations.join(" | ")
        ));
    }
    for t in schema["types"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        if name.starts_with("__") || BUILT_IN.contains(&name) {
            continue;
        }
        match t["kind"].as_str().unwrap() {
            "SCALAR" => out.push_str(&format!("scalar {name}\n")),
            kind @ ("OBJECT" | "INTERFACE") => {
                out.push_str(&format!(
                    "{} {name}{} {{\n",
                    if kind == "OBJECT" {
                        "type"
                    } else {
                        "interface"
                    },
                    implements(t)
                ));
                for f in t["fields"].as_array().unwrap() {
                    out.push_str(&format!(
                        "  {}{}: {}\n",
                        f["name"].as_str().unwrap(),
                        args(&f["args"]),
                        type_ref(&f["type"])
                    ));
                }
                out.push_str("}\n");
            }
            "UNION" => {
                let members: Vec<&str> = t["possibleTypes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["name"].as_str().unwrap())
                    .collect();
                out.push_str(&format!("union {name} = {}\n", members.join(" | ")));
            }
            "ENUM" => {
                let values: Vec<&str> = t["enumValues"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v["name"].as_str().unwrap())
                    .collect();
                out.push_str(&format!("enum {name} {{ {} }}\n", values.join(" ")));
            }
            "INPUT_OBJECT" => {
                let one_of = if t["isOneOf"].as_bool() == Some(true) {
                    " @oneOf"
                } else {
                    ""
                };
                out.push_str(&format!("input {name}{one_of} {{\n"));
                for f in t["inputFields"].as_array().unwrap() {
                    out.push_str(&format!("  {}\n", input_value(f)));
                }
                out.push_str("}\n");
            }
            other => panic!("introspection type kind {other}"),
        }
    }
    out
}

/// Validates `doc` against the schema; the operation it defines, by name.
fn validate(schema: &Valid<Schema>, name: &str, doc: &str) -> Valid<ExecutableDocument> {
    ExecutableDocument::parse_and_validate(schema, doc, format!("{name}.graphql")).unwrap_or_else(
        |e| {
            panic!(
                "{name} is not valid against Shopify's Admin schema {API_VERSION}:\n{}",
                e.errors
            )
        },
    )
}

#[test]
fn every_document_the_connector_can_send_is_valid_against_the_published_schema() {
    let Some(schema) = schema() else { return };
    assert!(documents::ALL.len() >= 17, "{}", documents::ALL.len());
    for (name, doc) in documents::ALL {
        let valid = validate(schema, name, doc);
        let ops: Vec<_> = valid.operations.iter().collect();
        assert_eq!(ops.len(), 1, "{name}: one operation per document");
        assert!(
            ops[0]
                .name
                .as_ref()
                .is_some_and(|n| n.as_str().starts_with("Shopkeep")),
            "{name}: operations are named, so Shopify's logs show shopkeep's"
        );
    }
    // The check can fail: a field Shopify does not have, or a wrong argument type, is caught.
    assert!(ExecutableDocument::parse_and_validate(
        schema,
        "query Bad { order(id: \"gid://shopify/Order/1\") { trackingNumber } }",
        "bad.graphql"
    )
    .is_err());
    assert!(
        ExecutableDocument::parse_and_validate(
            schema,
            "mutation Bad($id: ID!) { orderCancel(orderId: $id, reason: CUSTOMER) { job { id } } }",
            "bad.graphql"
        )
        .is_err(),
        "orderCancel's restock is required"
    );
    // And variables that do not fit their types are caught by the request check below.
    let cancel = validate(schema, "ORDER_CANCEL", documents::ORDER_CANCEL);
    let op = cancel.operations.get(None).unwrap();
    let fits = |v: Value| {
        let vars: apollo_compiler::response::JsonMap = serde_json::from_value(v).unwrap();
        apollo_compiler::request::coerce_variable_values(schema, op, &vars).is_ok()
    };
    assert!(fits(
        json!({"orderId": "gid://shopify/Order/1", "reason": "CUSTOMER"})
    ));
    assert!(!fits(
        json!({"orderId": "gid://shopify/Order/1", "reason": "BECAUSE"})
    ));
    assert!(!fits(json!({"reason": "CUSTOMER"})), "orderId is required");
}

/// Every request the connector sent: a document from `ALL`, variables of the operation's types.
fn check_requests(requests: &[Value]) {
    assert!(!requests.is_empty());
    for r in requests {
        let query = r["query"].as_str().expect("a query");
        let Some((name, _)) = documents::ALL.iter().find(|(_, d)| *d == query) else {
            panic!("the connector sent a document that is not in documents::ALL: {query}")
        };
        let Some(schema) = schema() else { continue };
        let doc = validate(schema, name, query);
        let op = doc.operations.get(None).unwrap();
        let vars: apollo_compiler::response::JsonMap =
            serde_json::from_value(r["variables"].clone()).unwrap();
        if let Err(e) = apollo_compiler::request::coerce_variable_values(schema, op, &vars) {
            panic!(
                "{name}: variables {} do not fit the schema: {}",
                r["variables"],
                e.message()
            );
        }
    }
}

// --- a loopback server answering like Shopify's documented examples ----------------------------

const TOKEN: &str = "shpat_loopback_test_token";

#[derive(Default)]
struct Mock {
    /// Scripted answers by operation name, in order; the last one repeats.
    script: Mutex<HashMap<String, VecDeque<(u16, Value)>>>,
    requests: Mutex<Vec<Value>>,
}

impl Mock {
    fn on(&self, op: &str, status: u16, body: Value) -> &Self {
        self.script
            .lock()
            .unwrap()
            .entry(op.to_string())
            .or_default()
            .push_back((status, body));
        self
    }

    fn sent(&self) -> Vec<Value> {
        self.requests.lock().unwrap().clone()
    }

    fn ops(&self) -> Vec<String> {
        self.sent()
            .iter()
            .map(|r| op_name(r["query"].as_str().unwrap()))
            .collect()
    }
}

fn op_name(query: &str) -> String {
    query
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .split(['(', '{'])
        .next()
        .unwrap_or_default()
        .to_string()
}

async fn graphql(
    State(mock): State<Arc<Mock>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (axum::http::StatusCode, Json<Value>) {
    let status = |s: u16| axum::http::StatusCode::from_u16(s).unwrap();
    if headers
        .get("x-shopify-access-token")
        .and_then(|v| v.to_str().ok())
        != Some(TOKEN)
    {
        return (
            status(401),
            Json(
                json!({"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}),
            ),
        );
    }
    mock.requests.lock().unwrap().push(body.clone());
    let op = op_name(body["query"].as_str().unwrap_or_default());
    let mut script = mock.script.lock().unwrap();
    let answer = script.get_mut(&op).and_then(|q| {
        if q.len() > 1 {
            q.pop_front()
        } else {
            q.front().cloned()
        }
    });
    match answer {
        Some((s, b)) => (status(s), Json(b)),
        None => (
            status(500),
            Json(json!({"errors": [{"message": format!("the test did not script {op}")}]})),
        ),
    }
}

/// A mock shop on a loopback port and a connector pointed at it.
fn shop() -> (Arc<Mock>, Shopify) {
    let mock = Arc::new(Mock::default());
    let app = Router::new()
        .route(
            &format!("/admin/api/{API_VERSION}/graphql.json"),
            post(graphql),
        )
        .with_state(mock.clone());
    let listener = common::rt()
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    common::rt().spawn(async move { axum::serve(listener, app).await });
    let shopify = Shopify::new(
        &format!("http://{addr}"),
        TOKEN,
        API_VERSION,
        Duration::from_secs(5),
    )
    .unwrap();
    (mock, shopify)
}

/// host:port of the mock a connector points at (from its Debug form, which shows the endpoint).
fn address_of(s: &Shopify) -> String {
    format!("{s:?}")
        .split("http://")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string()
}

/// `extensions.cost` as Shopify documents it.
fn cost(requested: f64, available: f64) -> Value {
    json!({"cost": {"requestedQueryCost": requested, "actualQueryCost": requested.min(20.0),
        "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": available, "restoreRate": 1000.0}}})
}

fn ok(data: Value) -> Value {
    json!({"data": data, "extensions": cost(52.0, 1948.0)})
}

fn money(amount: &str) -> Value {
    json!({"shopMoney": {"amount": amount}})
}

fn address() -> Value {
    json!({"firstName": "Maya", "lastName": "Chen", "address1": "2218 NW Flanders St", "address2": null,
        "city": "Portland", "province": "Oregon", "provinceCode": "OR", "zip": "97210", "countryCodeV2": "US"})
}

fn line(id: u64, sku: &str, title: &str, price: &str, qty: i64, unfulfilled: i64) -> Value {
    json!({"id": format!("gid://shopify/LineItem/{id}"), "name": format!("{title} - {sku}"), "title": title,
        "sku": sku, "quantity": qty, "currentQuantity": qty, "unfulfilledQuantity": unfulfilled,
        "originalUnitPriceSet": money(price),
        "variant": {"id": format!("gid://shopify/ProductVariant/{id}"), "sku": sku,
            "selectedOptions": [{"name": "Size", "value": "M"}]},
        "product": {"id": "gid://shopify/Product/632910392", "title": title}})
}

/// An order as the `ShopkeepOrder` fragment reads it: #1001 paid and unfulfilled.
fn order_1001() -> Value {
    json!({
        "id": "gid://shopify/Order/450789469", "name": "#1001", "email": "maya.chen@example.com",
        "createdAt": "2026-11-20T15:04:05Z", "cancelledAt": null,
        "displayFinancialStatus": "PAID", "displayFulfillmentStatus": "UNFULFILLED",
        "customer": {"id": "gid://shopify/Customer/207119551"},
        "currentSubtotalPriceSet": money("98.00"), "currentShippingPriceSet": money("5.95"),
        "currentTotalTaxSet": money("0.00"), "currentTotalPriceSet": money("103.95"),
        "shippingLine": {"title": "Standard"}, "shippingAddress": address(),
        "lineItems": {"nodes": [line(1, "LSH-WHITE-M", "Linen Shirt", "68.00", 1, 1),
                                 line(2, "MBN-GREY", "Merino Beanie", "30.00", 1, 1)]},
        "fulfillments": [],
        "returns": {"nodes": []},
        "transactions": [{"kind": "SALE", "status": "SUCCESS", "gateway": "shopify_payments",
            "processedAt": "2026-11-20T15:04:07Z", "amountSet": money("103.95")}]
    })
}

/// #1002: fulfilled by UPS with tracking, delivered.
fn order_1002() -> Value {
    let mut o = order_1001();
    o["id"] = json!("gid://shopify/Order/450789470");
    o["name"] = json!("#1002");
    o["displayFulfillmentStatus"] = json!("FULFILLED");
    o["lineItems"] = json!({"nodes": [line(3, "LSH-SAGE-L", "Linen Shirt", "68.00", 2, 0)]});
    o["fulfillments"] = json!([{
        "id": "gid://shopify/Fulfillment/255858046", "status": "SUCCESS", "displayStatus": "DELIVERED",
        "createdAt": "2026-11-21T10:00:00Z", "inTransitAt": "2026-11-21T16:00:00Z",
        "deliveredAt": "2026-11-24T12:30:00Z", "estimatedDeliveryAt": "2026-11-24T20:00:00Z",
        "trackingInfo": [{"company": "UPS", "number": "1Z2345", "url": "https://www.ups.com/WebTracking?loc=en_US&requester=ST&trackNums=1Z2345"}],
        "fulfillmentLineItems": {"nodes": [{"quantity": 2, "lineItem": {"id": "gid://shopify/LineItem/3"}}]},
        "events": {"nodes": [
            {"happenedAt": "2026-11-24T12:30:00Z", "status": "DELIVERED", "message": null},
            {"happenedAt": "2026-11-21T16:00:00Z", "status": "IN_TRANSIT", "message": "Picked up"}]}
    }]);
    o
}

fn customer() -> Value {
    json!({"id": "gid://shopify/Customer/207119551", "firstName": "Maya", "lastName": "Chen",
        "defaultEmailAddress": {"emailAddress": "maya.chen@example.com"},
        "defaultPhoneNumber": {"phoneNumber": "+15035550100"},
        "defaultAddress": address()})
}

fn orders(list: Vec<Value>) -> Value {
    ok(json!({"orders": {"nodes": list}}))
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

// --- reads -------------------------------------------------------------------------------------

#[test]
fn an_order_is_read_by_its_exact_name_with_its_customer_and_tracking() {
    let (mock, shopify) = shop();
    // Shopify's search is fuzzy: #10021 comes back for "#1002" too, and only #1002 counts.
    let mut other = order_1002();
    other["name"] = json!("#10021");
    mock.on(
        "ShopkeepOrderByName",
        200,
        orders(vec![other, order_1002()]),
    )
    .on(
        "ShopkeepCustomerById",
        200,
        ok(json!({"customer": customer()})),
    );
    let s = shopify.order("1002").unwrap().expect("order #1002");
    let o = &s.order;
    assert_eq!(o.number, "#1002");
    assert_eq!(o.status, shopkeep::orders::OrderStatus::Delivered);
    assert_eq!(
        (o.subtotal_cents, o.shipping_cents, o.total_cents),
        (9800, 595, 10395)
    );
    assert_eq!(o.items.len(), 1);
    assert_eq!(o.items[0].item_id, "LSH-SAGE-L");
    assert_eq!(o.items[0].product_id, "gid://shopify/Product/632910392");
    assert_eq!((o.items[0].price_cents, o.items[0].quantity), (6800, 2));
    let f = &o.fulfilments[0];
    assert_eq!(f.carrier.as_deref(), Some("UPS"));
    assert_eq!(f.tracking_number, "1Z2345");
    assert!(f.tracking_url.as_deref().unwrap().contains("1Z2345"));
    assert_eq!(f.estimated_delivery.unwrap().to_string(), "2026-11-24");
    assert!(f.delivered_at.is_some());
    assert_eq!(f.item_ids, ["LSH-SAGE-L"]);
    assert_eq!(f.events.len(), 2);
    assert_eq!(f.events[0].status, "in_transit", "oldest first");
    assert_eq!(s.customer.email, "maya.chen@example.com");
    assert_eq!(
        s.customer.default_address.as_ref().unwrap().postcode,
        "97210"
    );
    assert_eq!(s.customer.payment_methods[0].id, "shopify:shopify_payments");
    assert_eq!(o.paid_cents(), 10395);
    let sent = mock.sent();
    assert_eq!(sent[0]["variables"]["query"], "name:\"#1002\"");
    check_requests(&sent);

    // Only the near miss: not found.
    let (mock, shopify) = shop();
    let mut other = order_1002();
    other["name"] = json!("#10021");
    mock.on("ShopkeepOrderByName", 200, orders(vec![other]));
    assert!(shopify.order("#1002").unwrap().is_none());
    check_requests(&mock.sent());
}

#[test]
fn customers_their_orders_and_products_with_stock() {
    let (mock, shopify) = shop();
    mock.on("ShopkeepCustomerByEmail", 200, ok(json!({"customers": {"nodes": [customer()]}})))
        .on(
            "ShopkeepCustomerOrders",
            200,
            ok(json!({"customer": {"orders": {"nodes": [
                {"id": "gid://shopify/Order/450789470", "name": "#1002"},
                {"id": "gid://shopify/Order/450789469", "name": "#1001"}]}}})),
        )
        .on("ShopkeepOrderById", 200, ok(json!({"order": order_1002()})))
        .on("ShopkeepOrderById", 200, ok(json!({"order": order_1001()})))
        .on(
            "ShopkeepProducts",
            200,
            ok(json!({"nodes": [{
                "id": "gid://shopify/Product/632910392", "title": "Linen Shirt", "handle": "linen-shirt",
                "status": "ACTIVE", "productType": "Shirts", "description": "Washed linen.", "tags": ["Linen", "Summer"],
                "onlineStoreUrl": "https://shop.example/products/linen-shirt",
                "options": [{"name": "Size", "optionValues": [{"name": "M"}, {"name": "L"}]}],
                "variants": {"nodes": [
                    {"id": "gid://shopify/ProductVariant/1", "sku": "LSH-WHITE-M", "price": "68.00", "availableForSale": true,
                     "inventoryQuantity": 8, "selectedOptions": [{"name": "Size", "value": "M"}], "inventoryItem": {"tracked": true}},
                    {"id": "gid://shopify/ProductVariant/2", "sku": "", "price": "68.00", "availableForSale": false,
                     "inventoryQuantity": -1, "selectedOptions": [{"name": "Size", "value": "L"}], "inventoryItem": {"tracked": true}}]}
            }, null]})),
        );
    let c = shopify
        .customer_by_email("Maya.Chen@Example.com")
        .unwrap()
        .expect("Maya");
    assert_eq!(c.id, "gid://shopify/Customer/207119551");
    let list = shopify.orders_for_customer(&c.id).unwrap();
    assert_eq!(
        list.iter().map(|o| o.number.as_str()).collect::<Vec<_>>(),
        ["#1002", "#1001"]
    );
    assert_eq!(list[1].status, shopkeep::orders::OrderStatus::Processing);
    let products = shopify
        .products(&[
            "gid://shopify/Product/632910392".into(),
            "gid://shopify/Product/404".into(),
            "LSH".into(),
        ])
        .unwrap();
    assert_eq!(products.len(), 1, "the unknown id is left out");
    let p = &products[0];
    assert_eq!(
        p.url.as_deref(),
        Some("https://shop.example/products/linen-shirt")
    );
    assert_eq!(p.tags, ["linen", "summer"]);
    assert_eq!(p.variants[0].stock, Some(8));
    assert_eq!(p.variants[0].price_cents, 6800);
    assert_eq!(
        p.variants[1].item_id, "gid://shopify/ProductVariant/2",
        "no SKU: the id"
    );
    assert_eq!(p.variants[1].stock, Some(0));
    assert!(!p.variants[1].in_stock());
    let sent = mock.sent();
    assert_eq!(
        sent[0]["variables"]["query"],
        "email:\"maya.chen@example.com\""
    );
    check_requests(&sent);
}

// --- throttling and failures ------------------------------------------------------------------

#[test]
fn a_throttled_request_waits_for_the_bucket_and_is_retried() {
    let (mock, shopify) = shop();
    // Shopify's documented throttled answer: HTTP 200, errors[].extensions.code THROTTLED, and
    // the bucket: 252 points asked, 2 available, restoring 1000 a second here (~0.25 s).
    let throttled = json!({
        "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
        "extensions": {"cost": {"requestedQueryCost": 252, "actualQueryCost": null,
            "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 2, "restoreRate": 1000.0}}}
    });
    mock.on("ShopkeepOrderByName", 200, throttled)
        .on("ShopkeepOrderByName", 200, orders(vec![order_1001()]))
        .on(
            "ShopkeepCustomerById",
            200,
            ok(json!({"customer": customer()})),
        );
    let t = Instant::now();
    let s = shopify
        .order("#1001")
        .unwrap()
        .expect("read after the wait");
    assert_eq!(s.order.number, "#1001");
    assert!(
        t.elapsed() >= Duration::from_millis(240),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(
        mock.ops(),
        [
            "ShopkeepOrderByName",
            "ShopkeepOrderByName",
            "ShopkeepCustomerById"
        ]
    );
    check_requests(&mock.sent());

    // A bucket that stays empty: given up within the bound, as "unreachable", never a panic.
    let (mock, shopify) = shop();
    let empty = json!({
        "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
        "extensions": {"cost": {"requestedQueryCost": 252, "actualQueryCost": null,
            "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 0, "restoreRate": 1000.0}}}
    });
    mock.on("ShopkeepOrderByName", 200, empty);
    let e = shopify.order("#1001").unwrap_err();
    assert_eq!(e.code(), "platform.unreachable", "{e}");
    assert!(e.to_string().contains("throttled"), "{e}");
    assert!(mock.sent().len() >= 2 && mock.sent().len() <= 6);
}

#[test]
fn http_failures_are_typed_and_a_bad_token_is_a_configuration_error() {
    let (mock, shopify) = shop();
    mock.on(
        "ShopkeepOrderByName",
        503,
        json!({"errors": "Service Unavailable"}),
    );
    assert_eq!(
        shopify.order("#1001").unwrap_err().code(),
        "platform.unreachable"
    );
    // A wrong token (the mock checks it); the token never shows in logs.
    let (_mock, s) = shop();
    let dbg = format!("{s:?}");
    assert!(!dbg.contains(TOKEN), "{dbg}");
    let addr = address_of(&s);
    let wrong = Shopify::new(
        &format!("http://{addr}"),
        "shpat_wrong",
        API_VERSION,
        Duration::from_secs(5),
    )
    .unwrap();
    let e = wrong.order("#1001").unwrap_err();
    assert!(matches!(e, PlatformError::Auth { status: 401, .. }), "{e}");
    // Nothing listening.
    let nowhere = Shopify::new(
        "http://127.0.0.1:9",
        TOKEN,
        API_VERSION,
        Duration::from_secs(2),
    )
    .unwrap();
    assert_eq!(
        nowhere.order("#1001").unwrap_err().code(),
        "platform.unreachable"
    );
    // A GraphQL error that is not throttling (a missing scope).
    let (mock, shopify) = shop();
    mock.on(
        "ShopkeepOrderByName",
        200,
        json!({"errors": [{"message": "Access denied for orders field. Required access: `read_orders` access scope.",
            "extensions": {"code": "ACCESS_DENIED"}}]}),
    );
    assert_eq!(shopify.order("#1001").unwrap_err().code(), "platform.auth");
}

// --- writes ------------------------------------------------------------------------------------

#[test]
fn a_cancellation_follows_its_job_until_the_order_reads_cancelled() {
    let (mock, shopify) = shop();
    let mut cancelled = order_1001();
    cancelled["cancelledAt"] = json!("2026-11-21T09:00:00Z");
    mock.on("ShopkeepOrderByName", 200, orders(vec![order_1001()]))
        .on(
            "ShopkeepOrderCancel",
            200,
            ok(json!({"orderCancel": {"job": {"id": "gid://shopify/Job/1b4a5f2e", "done": false}, "orderCancelUserErrors": []}})),
        )
        .on("ShopkeepJob", 200, ok(json!({"job": {"id": "gid://shopify/Job/1b4a5f2e", "done": false}})))
        .on("ShopkeepJob", 200, ok(json!({"job": {"id": "gid://shopify/Job/1b4a5f2e", "done": true}})))
        .on("ShopkeepOrderById", 200, ok(json!({"order": cancelled})));
    let out = shopify
        .carry_out(&op(
            "#1001",
            OperationKind::Cancel {
                reason: Some("ordered by mistake".into()),
            },
        ))
        .unwrap();
    assert!(
        matches!(out, Outcome::Done { already: false, ref ids } if ids[0].id == "gid://shopify/Order/450789469"),
        "{out:?}"
    );
    assert_eq!(
        mock.ops(),
        [
            "ShopkeepOrderByName",
            "ShopkeepOrderCancel",
            "ShopkeepJob",
            "ShopkeepJob",
            "ShopkeepOrderById"
        ]
    );
    let sent = mock.sent();
    let vars = &sent[1]["variables"];
    assert_eq!(vars["reason"], "CUSTOMER");
    assert!(vars["staffNote"]
        .as_str()
        .unwrap()
        .contains("shopkeep:plan-7f3a"));
    check_requests(&sent);

    // Again (a retry of the same plan): found cancelled, nothing sent but the read.
    let (mock, shopify) = shop();
    let mut cancelled = order_1001();
    cancelled["cancelledAt"] = json!("2026-11-21T09:00:00Z");
    mock.on("ShopkeepOrderByName", 200, orders(vec![cancelled]));
    let out = shopify
        .carry_out(&op("#1001", OperationKind::Cancel { reason: None }))
        .unwrap();
    assert!(matches!(out, Outcome::Done { already: true, .. }));
    assert_eq!(mock.ops(), ["ShopkeepOrderByName"]);

    // Shipped already: refused before anything is sent.
    let (mock, shopify) = shop();
    mock.on("ShopkeepOrderByName", 200, orders(vec![order_1002()]));
    let e = shopify
        .carry_out(&op("#1002", OperationKind::Cancel { reason: None }))
        .unwrap_err();
    assert_eq!(refusal(e), RefusalReason::AlreadyFulfilled);
    assert_eq!(mock.ops(), ["ShopkeepOrderByName"]);

    // Shopify's own refusal, in orderCancelUserErrors.
    let (mock, shopify) = shop();
    mock.on("ShopkeepOrderByName", 200, orders(vec![order_1001()])).on(
        "ShopkeepOrderCancel",
        200,
        ok(json!({"orderCancel": {"job": null, "orderCancelUserErrors": [
            {"code": "INVALID", "field": ["orderId"], "message": "Order has already been cancelled"}]}})),
    );
    let e = shopify
        .carry_out(&op("#1001", OperationKind::Cancel { reason: None }))
        .unwrap_err();
    assert_eq!(refusal(e), RefusalReason::AlreadyCancelled);
    check_requests(&mock.sent());
}

fn returnable() -> Value {
    ok(
        json!({"returnableFulfillments": {"nodes": [{"id": "gid://shopify/ReturnableFulfillment/255858046",
        "returnableFulfillmentLineItems": {"nodes": [{"quantity": 2, "fulfillmentLineItem": {
            "id": "gid://shopify/FulfillmentLineItem/822586629",
            "lineItem": {"id": "gid://shopify/LineItem/3", "sku": "LSH-SAGE-L",
                "variant": {"id": "gid://shopify/ProductVariant/3", "sku": "LSH-SAGE-L"}}}}]}}]}}),
    )
}

#[test]
fn a_return_is_requested_on_the_returnable_lines_once() {
    let (mock, shopify) = shop();
    mock.on("ShopkeepOrderByName", 200, orders(vec![order_1002()]))
        .on("ShopkeepReturnable", 200, returnable())
        .on(
            "ShopkeepReturnRequest",
            200,
            ok(json!({"returnRequest": {"return": {"id": "gid://shopify/Return/945000954", "name": "#1002-R1", "status": "REQUESTED"}, "userErrors": []}})),
        );
    let out = shopify
        .carry_out(&op(
            "#1002",
            OperationKind::Return {
                item_ids: vec!["LSH-SAGE-L".into()],
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
    assert!(
        ids.iter().any(|i| i.kind == "return" && i.id == "#1002-R1"),
        "{ids:?}"
    );
    assert!(ids
        .iter()
        .any(|i| i.kind == "return_gid" && i.id == "gid://shopify/Return/945000954"));
    let sent = mock.sent();
    let input = &sent[2]["variables"]["input"];
    assert_eq!(input["orderId"], "gid://shopify/Order/450789470");
    assert_eq!(
        input["returnLineItems"][0]["fulfillmentLineItemId"],
        "gid://shopify/FulfillmentLineItem/822586629"
    );
    assert_eq!(input["returnLineItems"][0]["quantity"], 2);
    assert!(input["returnLineItems"][0]["customerNote"]
        .as_str()
        .unwrap()
        .contains("shopkeep:plan-7f3a"));
    check_requests(&sent);

    // The same plan again: the order shows the return with the key; nothing more is sent.
    let (mock, shopify) = shop();
    let mut with_return = order_1002();
    with_return["returns"] = json!({"nodes": [{"id": "gid://shopify/Return/945000954", "name": "#1002-R1",
        "status": "REQUESTED", "createdAt": "2026-11-25T10:00:00Z",
        "returnLineItems": {"nodes": [{"quantity": 2, "customerNote": "Requested through shopkeep (shopkeep:plan-7f3a)",
            "fulfillmentLineItem": {"lineItem": {"id": "gid://shopify/LineItem/3"}}}]}}]});
    mock.on(
        "ShopkeepOrderByName",
        200,
        orders(vec![with_return.clone()]),
    );
    let out = shopify
        .carry_out(&op(
            "#1002",
            OperationKind::Return {
                item_ids: vec!["LSH-SAGE-L".into()],
            },
        ))
        .unwrap();
    assert!(
        matches!(out, Outcome::Done { already: true, .. }),
        "{out:?}"
    );
    assert_eq!(mock.ops(), ["ShopkeepOrderByName"]);
    // And the order reads as "return requested", with the return under its name.
    mock.on(
        "ShopkeepCustomerById",
        200,
        ok(json!({"customer": customer()})),
    );
    let s = shopify.order("#1002").unwrap().unwrap();
    assert_eq!(
        s.order.status,
        shopkeep::orders::OrderStatus::ReturnRequested
    );
    assert_eq!(s.order.returns[0].number, "#1002-R1");
    assert_eq!(s.order.returns[0].refund_cents, 13600);
    assert_eq!(
        s.order.items[0].status,
        shopkeep::orders::ItemStatus::ReturnRequested
    );
}

#[test]
fn a_refused_return_is_told_as_a_reason_and_an_item_not_returnable_is_never_sent() {
    let (mock, shopify) = shop();
    mock.on("ShopkeepOrderByName", 200, orders(vec![order_1002()]))
        .on("ShopkeepReturnable", 200, returnable())
        .on(
            "ShopkeepReturnRequest",
            200,
            ok(json!({"returnRequest": {"return": null, "userErrors": [{"code": "INVALID",
                "field": ["input", "returnLineItems", "0", "quantity"], "message": "Quantity is not available for return."}]}})),
        );
    let e = shopify
        .carry_out(&op(
            "#1002",
            OperationKind::Return {
                item_ids: vec!["LSH-SAGE-L".into()],
            },
        ))
        .unwrap_err();
    assert_eq!(refusal(e), RefusalReason::NotReturnable);
    check_requests(&mock.sent());

    let (mock, shopify) = shop();
    mock.on("ShopkeepOrderByName", 200, orders(vec![order_1002()]))
        .on("ShopkeepReturnable", 200, returnable());
    let e = shopify
        .carry_out(&op(
            "#1002",
            OperationKind::Return {
                item_ids: vec!["MBN-GREY".into()],
            },
        ))
        .unwrap_err();
    assert_eq!(refusal(e), RefusalReason::NotReturnable);
    assert_eq!(mock.ops(), ["ShopkeepOrderByName", "ShopkeepReturnable"]);

    // An order the shop does not have.
    let (mock, shopify) = shop();
    mock.on("ShopkeepOrderByName", 200, orders(vec![]));
    let e = shopify
        .carry_out(&op("#9999", OperationKind::Cancel { reason: None }))
        .unwrap_err();
    assert_eq!(refusal(e), RefusalReason::OrderNotFound);
}

fn edit_begin() -> Value {
    ok(
        json!({"orderEditBegin": {"calculatedOrder": {"id": "gid://shopify/CalculatedOrder/607673083",
        "lineItems": {"nodes": [
            {"id": "gid://shopify/CalculatedLineItem/1", "quantity": 1, "editableQuantity": 1, "sku": "LSH-WHITE-M",
             "variant": {"id": "gid://shopify/ProductVariant/1", "sku": "LSH-WHITE-M"}},
            {"id": "gid://shopify/CalculatedLineItem/2", "quantity": 1, "editableQuantity": 1, "sku": "MBN-GREY",
             "variant": {"id": "gid://shopify/ProductVariant/2", "sku": "MBN-GREY"}}]}},
        "userErrors": []}}),
    )
}

#[test]
fn an_item_change_is_one_order_edit_committed_only_when_every_step_was_accepted() {
    let (mock, shopify) = shop();
    mock.on("ShopkeepOrderByName", 200, orders(vec![order_1001()]))
        .on(
            "ShopkeepVariantBySku",
            200,
            ok(json!({"productVariants": {"nodes": [{"id": "gid://shopify/ProductVariant/9", "sku": "LSH-WHITE-L"}]}})),
        )
        .on("ShopkeepOrderEditBegin", 200, edit_begin())
        .on(
            "ShopkeepOrderEditSetQuantity",
            200,
            ok(json!({"orderEditSetQuantity": {"calculatedOrder": {"id": "gid://shopify/CalculatedOrder/607673083"}, "userErrors": []}})),
        )
        .on(
            "ShopkeepOrderEditAddVariant",
            200,
            ok(json!({"orderEditAddVariant": {"calculatedLineItem": {"id": "gid://shopify/CalculatedLineItem/9"}, "userErrors": []}})),
        )
        .on(
            "ShopkeepOrderEditCommit",
            200,
            ok(json!({"orderEditCommit": {"order": {"id": "gid://shopify/Order/450789469"}, "userErrors": []}})),
        );
    let change = OperationKind::ChangeItems {
        item_ids: vec!["LSH-WHITE-M".into()],
        new_item_ids: vec!["LSH-WHITE-L".into()],
    };
    let out = shopify.carry_out(&op("#1001", change.clone())).unwrap();
    assert!(matches!(out, Outcome::Done { already: false, .. }));
    assert_eq!(
        mock.ops(),
        [
            "ShopkeepOrderByName",
            "ShopkeepVariantBySku",
            "ShopkeepOrderEditBegin",
            "ShopkeepOrderEditSetQuantity",
            "ShopkeepOrderEditAddVariant",
            "ShopkeepOrderEditCommit"
        ]
    );
    let sent = mock.sent();
    assert_eq!(
        sent[3]["variables"]["lineItemId"],
        "gid://shopify/CalculatedLineItem/1"
    );
    assert_eq!(sent[3]["variables"]["quantity"], 0);
    assert_eq!(
        sent[4]["variables"]["variantId"],
        "gid://shopify/ProductVariant/9"
    );
    assert_eq!(sent[4]["variables"]["quantity"], 1);
    check_requests(&sent);

    // A step refused: no commit, so Shopify discards the edit; the customer gets the reason.
    let (mock, shopify) = shop();
    mock.on("ShopkeepOrderByName", 200, orders(vec![order_1001()]))
        .on(
            "ShopkeepVariantBySku",
            200,
            ok(json!({"productVariants": {"nodes": [{"id": "gid://shopify/ProductVariant/9", "sku": "LSH-WHITE-L"}]}})),
        )
        .on("ShopkeepOrderEditBegin", 200, edit_begin())
        .on(
            "ShopkeepOrderEditSetQuantity",
            200,
            ok(json!({"orderEditSetQuantity": {"calculatedOrder": null, "userErrors": [
                {"field": ["lineItemId"], "message": "The line item has already been fulfilled and can't be edited."}]}})),
        );
    let e = shopify.carry_out(&op("#1001", change.clone())).unwrap_err();
    assert_eq!(refusal(e), RefusalReason::AlreadyFulfilled);
    assert!(!mock.ops().iter().any(|o| o == "ShopkeepOrderEditCommit"));
    check_requests(&mock.sent());

    // A fulfilled line is refused before any edit begins.
    let (mock, shopify) = shop();
    let mut packed = order_1001();
    packed["lineItems"]["nodes"][0]["unfulfilledQuantity"] = json!(0);
    mock.on("ShopkeepOrderByName", 200, orders(vec![packed]));
    let e = shopify.carry_out(&op("#1001", change)).unwrap_err();
    assert_eq!(refusal(e), RefusalReason::AlreadyFulfilled);
    assert_eq!(mock.ops(), ["ShopkeepOrderByName"]);
}

#[test]
fn an_address_change_is_an_order_update_and_not_repeated() {
    let (mock, shopify) = shop();
    mock.on("ShopkeepOrderByName", 200, orders(vec![order_1001()])).on(
        "ShopkeepOrderUpdate",
        200,
        ok(json!({"orderUpdate": {"order": {"id": "gid://shopify/Order/450789469"}, "userErrors": []}})),
    );
    let new = shopkeep::orders::Address {
        line1: "1 Main St".into(),
        line2: Some("Apt 4".into()),
        city: "Seattle".into(),
        region: "WA".into(),
        postcode: "98103".into(),
        country: "United States".into(),
    };
    let out = shopify
        .carry_out(&op(
            "#1001",
            OperationKind::ChangeAddress {
                address: new.clone(),
            },
        ))
        .unwrap();
    assert!(matches!(out, Outcome::Done { already: false, .. }));
    let sent = mock.sent();
    let a = &sent[1]["variables"]["input"]["shippingAddress"];
    assert_eq!(a["address1"], "1 Main St");
    assert_eq!(a["provinceCode"], "WA");
    assert_eq!(a["countryCode"], "US");
    assert_eq!(a["firstName"], "Maya");
    check_requests(&sent);

    // userErrors: refused, typed.
    let (mock, shopify) = shop();
    mock.on("ShopkeepOrderByName", 200, orders(vec![order_1001()])).on(
        "ShopkeepOrderUpdate",
        200,
        ok(json!({"orderUpdate": {"order": null, "userErrors": [{"field": ["shippingAddress", "zip"], "message": "Zip is invalid for Washington"}]}})),
    );
    let e = shopify
        .carry_out(&op("#1001", OperationKind::ChangeAddress { address: new }))
        .unwrap_err();
    assert_eq!(refusal(e), RefusalReason::Other);

    // Exchanges and payment changes are staff tasks.
    let (mock, shopify) = shop();
    mock.on("ShopkeepOrderByName", 200, orders(vec![order_1002()]));
    let out = shopify
        .carry_out(&op(
            "#1002",
            OperationKind::Other {
                what: "exchange_items",
            },
        ))
        .unwrap();
    assert!(matches!(out, Outcome::StaffTask { .. }));
}

// --- webhooks ------------------------------------------------------------------------------------

const SECRET: &str = "shpss_loopback_client_secret";

fn sign(body: &[u8]) -> String {
    use base64::Engine as _;
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn deliver(
    shopify: &Shopify,
    topic: &str,
    event: &str,
    signature: &str,
    body: &[u8],
) -> Option<Result<Delivery, WebhookError>> {
    let headers: HashMap<&str, String> = [
        ("x-shopify-hmac-sha256", signature.to_string()),
        ("x-shopify-topic", topic.to_string()),
        ("x-shopify-event-id", event.to_string()),
        (
            "x-shopify-webhook-id",
            "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043".to_string(),
        ),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .collect();
    shopify.webhook(SECRET, &|n: &str| headers.get(n).cloned(), body)
}

#[test]
fn webhooks_are_verified_over_the_raw_body_and_deduplicated_on_the_event_id() {
    let (_, shopify) = shop();
    // The body of Shopify's orders/updated example, as sent (its bytes are what is signed).
    let body = br##"{"id":450789469,"admin_graphql_api_id":"gid://shopify/Order/450789469","email":"maya.chen@example.com","name":"#1001"}"##;
    let d = deliver(
        &shopify,
        "orders/updated",
        "98880550-7158-44d4-b7cd-2c97c8a091b5",
        &sign(body),
        body,
    )
    .expect("a Shopify webhook")
    .unwrap();
    assert_eq!(
        d.target,
        EventTarget::Order("gid://shopify/Order/450789469".into())
    );
    assert!(!d.duplicate);
    let again = deliver(
        &shopify,
        "orders/updated",
        "98880550-7158-44d4-b7cd-2c97c8a091b5",
        &sign(body),
        body,
    )
    .unwrap()
    .unwrap();
    assert!(again.duplicate, "the same event id is a duplicate");
    // After a failed processing it is forgotten, so Shopify's retry is processed.
    shopify.forget_event("98880550-7158-44d4-b7cd-2c97c8a091b5");
    assert!(
        !deliver(
            &shopify,
            "orders/updated",
            "98880550-7158-44d4-b7cd-2c97c8a091b5",
            &sign(body),
            body
        )
        .unwrap()
        .unwrap()
        .duplicate
    );

    // A changed body, another secret's signature, garbage: refused.
    let tampered = br#"{"id":450789469,"admin_graphql_api_id":"gid://shopify/Order/450789470"}"#;
    assert_eq!(
        deliver(&shopify, "orders/updated", "e2", &sign(body), tampered).unwrap(),
        Err(WebhookError::BadSignature)
    );
    assert!(!verify_webhook("another-secret", &sign(body), body));
    assert!(!verify_webhook(SECRET, "not base64!", body));
    assert!(verify_webhook(SECRET, &sign(body), body));
    // No event id: invalid (nothing to deduplicate on).
    assert!(matches!(
        deliver(&shopify, "orders/updated", "", &sign(body), body).unwrap(),
        Err(WebhookError::Invalid(_))
    ));
    // Not a Shopify delivery at all: left to shopkeep's own event format.
    assert!(shopify.webhook(SECRET, &|_: &str| None, body).is_none());

    // Fulfilments name their order by number; inventory levels their inventory item.
    let f =
        br#"{"id":255858046,"order_id":450789469,"status":"success","tracking_number":"1Z2345"}"#;
    assert_eq!(
        deliver(&shopify, "fulfillments/create", "e3", &sign(f), f)
            .unwrap()
            .unwrap()
            .target,
        EventTarget::Order("gid://shopify/Order/450789469".into())
    );
    let inv = br#"{"inventory_item_id":271878346596884015,"location_id":24826418,"available":6,"updated_at":"2026-11-25T10:00:00-05:00","admin_graphql_api_id":"gid://shopify/InventoryLevel/24826418?inventory_item_id=271878346596884015"}"#;
    assert_eq!(
        deliver(&shopify, "inventory_levels/update", "e4", &sign(inv), inv)
            .unwrap()
            .unwrap()
            .target,
        EventTarget::Product("gid://shopify/InventoryItem/271878346596884015".into())
    );
    let p = br#"{"id":632910392,"admin_graphql_api_id":"gid://shopify/Product/632910392","title":"Linen Shirt"}"#;
    assert_eq!(
        deliver(&shopify, "products/update", "e5", &sign(p), p)
            .unwrap()
            .unwrap()
            .target,
        EventTarget::Product("gid://shopify/Product/632910392".into())
    );
    let other = br#"{"id":1}"#;
    assert_eq!(
        deliver(&shopify, "shop/update", "e6", &sign(other), other)
            .unwrap()
            .unwrap()
            .target,
        EventTarget::Nothing
    );
    // A signed body that is not JSON: invalid, not a panic.
    assert!(matches!(
        deliver(&shopify, "orders/updated", "e7", &sign(b"[]"), b"[]").unwrap(),
        Err(WebhookError::Invalid(_))
    ));
}

/// The whole path: Shopify's webhook at POST /v1/platform/events re-reads the order into
/// shopkeep's copy; the same event again is acknowledged without a re-read; a bad signature is
/// refused; the re-read failing answers 502, and the retry is then processed.
#[test]
fn the_events_route_takes_shopifys_webhooks() {
    let (mock, shopify) = shop();
    let addr = address_of(&shopify);
    drop(shopify);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::config(dir.path());
    cfg.platform.kind = shopkeep::config::PlatformKind::Shopify;
    cfg.platform.url = format!("http://{addr}");
    cfg.platform.api_key = TOKEN.into();
    cfg.platform.events_secret = SECRET.into();
    let app =
        Arc::new(shopkeep::app::App::with_embedder(cfg, common::model_dyn()).expect("app opens"));
    assert_eq!(
        app.assistant.orders.counts().unwrap().orders,
        0,
        "no demo store unless asked"
    );
    let base = common::serve(app.clone());
    let post = |event: &str, signature: &str, body: &'static [u8]| -> (u16, Value) {
        common::rt().block_on(async {
            let r = reqwest::Client::new()
                .post(format!("{base}/v1/platform/events"))
                .header("content-type", "application/json")
                .header("x-shopify-hmac-sha256", signature)
                .header("x-shopify-topic", "orders/updated")
                .header("x-shopify-event-id", event)
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
    let body: &'static [u8] = br##"{"id":450789469,"admin_graphql_api_id":"gid://shopify/Order/450789469","name":"#1001"}"##;

    // Shopify failing first: 502, nothing stored, and the event is not remembered.
    mock.on(
        "ShopkeepOrderById",
        503,
        json!({"errors": "Service Unavailable"}),
    )
    .on("ShopkeepOrderById", 200, ok(json!({"order": order_1001()})))
    .on("ShopkeepOrderByName", 200, orders(vec![order_1001()]))
    .on(
        "ShopkeepCustomerById",
        200,
        ok(json!({"customer": customer()})),
    )
    .on("ShopkeepProducts", 200, ok(json!({"nodes": [null]})));
    let (status, v) = post("ev-1", &sign(body), body);
    assert_eq!(status, 502, "{v}");
    assert_eq!(v["error"]["code"], "platform.unreachable");
    assert_eq!(app.assistant.orders.counts().unwrap().orders, 0);
    // Shopify's retry of the same event: processed now.
    let (status, v) = post("ev-1", &sign(body), body);
    assert_eq!(status, 202, "{v}");
    assert_eq!(v, json!({"refreshed": true}));
    let stored = app
        .assistant
        .orders
        .order("#1001")
        .unwrap()
        .expect("mirrored");
    assert_eq!(stored.total_cents, 10395);
    // Delivered again: acknowledged, not re-read.
    let before = mock.sent().len();
    let (status, v) = post("ev-1", &sign(body), body);
    assert_eq!(status, 200);
    assert_eq!(v, json!({"refreshed": false, "duplicate": true}));
    assert_eq!(mock.sent().len(), before);
    // A forged one.
    let (status, v) = post("ev-2", "bm9wZQ==", body);
    assert_eq!(status, 401);
    assert_eq!(v["error"]["code"], "bad_signature");
    check_requests(&mock.sent());
}
