//! The Shopify connector: the Admin GraphQL API, pinned to one version ([`API_VERSION`] unless
//! `platform.api_version` says otherwise), with a custom app's Admin API access token
//! (`X-Shopify-Access-Token`).
//!
//! - Reads: an order by the name a customer types (`orders(query: "name:…")`, matched exactly
//!   here; without the `read_all_orders` scope Shopify searches only the last 60 days), a
//!   customer by email, a customer's orders, products with variants, prices and stock,
//!   fulfilments with `trackingInfo`, `estimatedDeliveryAt` and their events, returns.
//! - Writes: `orderCancel` (an asynchronous job, followed until it is done and the order reads
//!   cancelled), `returnRequest` on the order's `returnableFulfillments` (the merchant approves
//!   it in Shopify), order editing (`orderEditBegin` → `orderEditSetQuantity` /
//!   `orderEditAddVariant` → `orderEditCommit`) for unfulfilled lines, `orderUpdate` for the
//!   shipping address. Shopify takes no idempotency key on these mutations, so the connector
//!   finds an earlier result itself: a cancelled order stays cancelled, a return carries
//!   `shopkeep:<key>` in its lines' customer note, an edit or address change already in place
//!   is not made twice.
//! - Refusals: each mutation's `userErrors` become a [`RefusalReason`]; an edit that fails
//!   part-way is never committed, so Shopify discards it and nothing is half-done.
//! - Throttling: every response's `extensions.cost.throttleStatus` is kept; a request whose
//!   expected cost the bucket cannot pay yet waits until it can, and a `THROTTLED` answer (or an
//!   HTTP 429) is retried after the wait Shopify's restore rate implies, a bounded number of
//!   times. A throttled mutation was not executed, so retrying it is safe.
//! - Webhooks: [`verify_webhook`] checks `X-Shopify-Hmac-SHA256` (base64 HMAC-SHA256 of the raw
//!   body under the app's client secret); deliveries are deduplicated on `X-Shopify-Event-Id`;
//!   the body only names what changed, which is then re-read.
//!
//! Tested against Shopify's published Admin schema for the pinned version (every document in
//! [`documents::ALL`] is validated in tests/shopify.rs) and on responses shaped like Shopify's
//! documented examples, served on loopback: not against a live shop, which cannot be reached
//! from where shopkeep is built.
//!
//! Ids: Shopify's global ids (`gid://shopify/Order/…`) for orders, customers and products; an
//! item is its variant's SKU (the variant's id when it has none), as on Medusa. Money is read as
//! the shop's currency (`shopMoney`), decimal strings into integer cents.
//!
//! Not done here: refreshing expiring offline tokens, `returnCreate` (returns are requests the
//! merchant approves), exchanges, payment changes and partial cancellations (staff tasks).

pub mod documents;

use std::{
    collections::{BTreeMap, HashMap},
    time::{Duration, Instant},
};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use serde::{de::DeserializeOwned, Deserialize};
use serde_json::{json, Value};
use sha2::Sha256;
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

use super::{
    Delivery, EventTarget, Operation, OperationKind, Outcome, Platform, PlatformError, PlatformId,
    Refusal, RefusalReason, SeenEvents, Snapshot, WebhookError,
};
use crate::orders::{
    Address, Customer, Fulfilment, ItemStatus, Order, OrderItem, OrderStatus, Payment,
    PaymentMethod, PaymentMethodKind, Product, ReturnRecord, ReturnStatus, TrackingEvent,
    TransactionKind, Variant,
};

/// The Admin API version every request is pinned to by default.
pub const API_VERSION: &str = crate::config::SHOPIFY_API_VERSION;

/// The access scopes the connector's documents need (a `write_` scope includes its `read_`).
pub const REQUIRED_SCOPES: &[&str] = &[
    "read_orders",
    "write_orders",
    "read_customers",
    "read_products",
    "read_inventory",
    "write_returns",
    "write_order_edits",
];

/// Without it Shopify's order search sees only the last 60 days.
pub const ALL_ORDERS_SCOPE: &str = "read_all_orders";

/// The webhook topics shopkeep mirrors (`POST /v1/platform/events`).
pub const WEBHOOK_TOPICS: &[&str] = &[
    "orders/create",
    "orders/updated",
    "orders/cancelled",
    "fulfillments/create",
    "fulfillments/update",
    "products/update",
    "inventory_levels/update",
];

/// Which of [`REQUIRED_SCOPES`] `granted` lacks.
pub fn missing_scopes(granted: &[String]) -> Vec<&'static str> {
    REQUIRED_SCOPES
        .iter()
        .copied()
        .filter(|need| {
            let write = need.replacen("read_", "write_", 1);
            !granted.iter().any(|g| g == need || *g == write)
        })
        .collect()
}

const NAME: &str = "shopify";

/// What a query is assumed to cost before Shopify has said (its calculated cost replaces it).
const DEFAULT_COST: f64 = 100.0;
/// Tries of one request while Shopify answers "throttled".
const MAX_THROTTLED_TRIES: u32 = 6;
/// Products read per request (each brings up to 50 variants).
const PRODUCTS_PER_REQUEST: usize = 5;

/// The Shopify Admin GraphQL client.
pub struct Shopify {
    endpoint: String,
    token: String,
    client: reqwest::Client,
    runtime: Option<tokio::runtime::Runtime>,
    /// The cost bucket as Shopify last described it.
    bucket: Mutex<Option<Bucket>>,
    /// Each document's last requested cost, to wait for before sending it again.
    costs: Mutex<HashMap<&'static str, f64>>,
    seen: Mutex<SeenEvents>,
    /// The longest a request waits on the cost bucket in all, and an `orderCancel` job in all.
    max_wait: Duration,
}

impl std::fmt::Debug for Shopify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("Shopify")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl Drop for Shopify {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics inside async code (the server's shutdown).
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Shopify's leaky bucket of query cost points, as of `at`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    maximum: f64,
    available: f64,
    restore_rate: f64,
    at: Instant,
}

impl Bucket {
    fn available_now(&self) -> f64 {
        (self.available + self.restore_rate * self.at.elapsed().as_secs_f64()).min(self.maximum)
    }

    /// How long until `cost` points are available.
    fn wait_for(&self, cost: f64) -> Duration {
        let short = cost.min(self.maximum) - self.available_now();
        if short <= 0.0 || self.restore_rate <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(short / self.restore_rate)
        }
    }
}

/// One answer of the GraphQL endpoint, before it is judged.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Response {
    data: Option<Value>,
    errors: Vec<GqlError>,
    extensions: Extensions,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct GqlError {
    message: String,
    extensions: GqlErrorExtensions,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct GqlErrorExtensions {
    code: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Extensions {
    cost: Option<Cost>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Cost {
    requested_query_cost: Option<f64>,
    throttle_status: Option<ThrottleStatus>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ThrottleStatus {
    maximum_available: f64,
    currently_available: f64,
    restore_rate: f64,
}

fn protocol(detail: impl Into<String>) -> PlatformError {
    PlatformError::Protocol {
        platform: NAME,
        detail: detail.into(),
    }
}

fn unreachable(detail: impl Into<String>) -> PlatformError {
    PlatformError::Unreachable {
        platform: NAME,
        detail: detail.into(),
    }
}

fn refused(reason: RefusalReason, message: impl Into<String>) -> PlatformError {
    PlatformError::Refused {
        platform: NAME,
        refusal: Refusal {
            reason,
            message: message.into(),
        },
    }
}

impl Shopify {
    /// `url`: the shop ("https://your-shop.myshopify.com"); `token`: the custom app's Admin API
    /// access token; `api_version`: "2026-10". `timeout` bounds one request, and twice it bounds
    /// the waits for the cost bucket and for a cancellation job.
    pub fn new(
        url: &str,
        token: &str,
        api_version: &str,
        timeout: Duration,
    ) -> Result<Self, PlatformError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(|e| protocol(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("shopify-client")
            .enable_all()
            .build()
            .map_err(|e| protocol(e.to_string()))?;
        Ok(Self {
            endpoint: format!(
                "{}/admin/api/{api_version}/graphql.json",
                url.trim_end_matches('/')
            ),
            token: token.to_string(),
            client,
            runtime: Some(runtime),
            bucket: Mutex::new(None),
            costs: Mutex::new(HashMap::new()),
            seen: Mutex::new(SeenEvents::default()),
            max_wait: timeout * 2,
        })
    }

    /// Sends `doc` (one of [`documents`]) with `variables`; waits for the cost bucket first, and
    /// retries while Shopify says the request was throttled. `data` comes back as `T`.
    fn gql<T: DeserializeOwned>(
        &self,
        doc: &'static str,
        variables: Value,
    ) -> Result<T, PlatformError> {
        let mut waited = Duration::ZERO;
        let mut pause = |d: Duration| -> Result<(), PlatformError> {
            if waited + d > self.max_wait {
                return Err(unreachable(format!(
                    "throttled: the query cost bucket needs {:.1}s more than the {:.0}s shopkeep waits",
                    d.as_secs_f64(),
                    self.max_wait.as_secs_f64()
                )));
            }
            waited += d;
            // Callers are on the blocking pool (the trait's contract), so a plain sleep is fine.
            std::thread::sleep(d);
            Ok(())
        };
        for _ in 0..MAX_THROTTLED_TRIES {
            let expected = self.costs.lock().get(doc).copied().unwrap_or(DEFAULT_COST);
            let before = self
                .bucket
                .lock()
                .map_or(Duration::ZERO, |b| b.wait_for(expected));
            if !before.is_zero() {
                pause(before)?;
            }
            let (status, retry_after, text) = self.send(doc, &variables)?;
            if status == 429 {
                pause(retry_after.unwrap_or(Duration::from_secs(1)))?;
                continue;
            }
            match status {
                401 | 403 => return Err(PlatformError::Auth { platform: NAME, status }),
                // A frozen or locked shop, or Shopify failing: nothing was done.
                402 | 423 | 500.. => {
                    return Err(unreachable(format!("HTTP {status}: {}", clip(&text))))
                }
                404 => {
                    return Err(protocol(format!(
                        "HTTP 404 from {}: is platform.url the shop's myshopify.com address, and platform.api_version one Shopify serves?",
                        self.endpoint
                    )))
                }
                200..=299 => {}
                other => return Err(protocol(format!("HTTP {other}: {}", clip(&text)))),
            }
            let res: Response = serde_json::from_str(&text)
                .map_err(|e| protocol(format!("{e} in {}", clip(&text))))?;
            let requested = res
                .extensions
                .cost
                .as_ref()
                .and_then(|c| c.requested_query_cost);
            if let Some(t) = res
                .extensions
                .cost
                .as_ref()
                .and_then(|c| c.throttle_status.as_ref())
            {
                *self.bucket.lock() = Some(Bucket {
                    maximum: t.maximum_available,
                    available: t.currently_available,
                    restore_rate: t.restore_rate,
                    at: Instant::now(),
                });
            }
            if let Some(c) = requested {
                self.costs.lock().insert(doc, c);
            }
            let throttled = res
                .errors
                .iter()
                .any(|e| e.extensions.code.as_deref() == Some("THROTTLED"));
            if throttled {
                let wait = self
                    .bucket
                    .lock()
                    .map_or(Duration::from_secs(1), |b| {
                        b.wait_for(requested.unwrap_or(expected))
                    })
                    .max(Duration::from_millis(50));
                tracing::info!(
                    wait_ms = wait.as_millis() as u64,
                    "Shopify throttled a request; waiting for the cost bucket"
                );
                pause(wait)?;
                continue;
            }
            if let Some(e) = res.errors.first() {
                return Err(match e.extensions.code.as_deref() {
                    Some("ACCESS_DENIED") => PlatformError::Auth {
                        platform: NAME,
                        status: 403,
                    },
                    Some("INTERNAL_SERVER_ERROR") => unreachable(e.message.clone()),
                    code => protocol(format!(
                        "{}{}",
                        e.message,
                        code.map(|c| format!(" ({c})")).unwrap_or_default()
                    )),
                });
            }
            let data = res.data.ok_or_else(|| protocol("an answer with no data"))?;
            return serde_json::from_value(data.clone())
                .map_err(|e| protocol(format!("{e} in {}", clip(&data.to_string()))));
        }
        Err(unreachable(format!(
            "throttled {MAX_THROTTLED_TRIES} times in a row"
        )))
    }

    /// One POST: the status, a 429's Retry-After, the body.
    fn send(
        &self,
        doc: &'static str,
        variables: &Value,
    ) -> Result<(u16, Option<Duration>, String), PlatformError> {
        let req = self
            .client
            .post(&self.endpoint)
            .header("x-shopify-access-token", &self.token)
            .json(&json!({ "query": doc, "variables": variables }));
        let fut = async move {
            let res = req.send().await.map_err(|e| unreachable(e.to_string()))?;
            let status = res.status().as_u16();
            let retry_after = res
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(|s| Duration::from_secs_f64(s.min(60.0)));
            let text = res.text().await.map_err(|e| unreachable(e.to_string()))?;
            Ok::<_, PlatformError>((status, retry_after, text))
        };
        self.runtime
            .as_ref()
            .expect("runtime until drop")
            .block_on(fut)
    }

    fn find_order(&self, number: &str) -> Result<Option<WireOrder>, PlatformError> {
        let Some(name) = order_name(number) else {
            return Ok(None);
        };
        let data: OrdersData = self.gql(
            documents::ORDER_BY_NAME,
            json!({ "query": format!("name:{}", quoted(&name)) }),
        )?;
        // The search is Shopify's: only the exact name counts.
        Ok(data
            .orders
            .nodes
            .into_iter()
            .find(|o| same_name(&o.name, &name)))
    }

    fn order_by_gid(&self, id: &str) -> Result<Option<WireOrder>, PlatformError> {
        let data: OrderData = self.gql(documents::ORDER_BY_ID, json!({ "id": id }))?;
        Ok(data.order)
    }

    fn customer_by_gid(&self, id: &str) -> Result<Option<WireCustomer>, PlatformError> {
        let data: CustomerData = self.gql(documents::CUSTOMER_BY_ID, json!({ "id": id }))?;
        Ok(data.customer)
    }

    fn snapshot(&self, o: WireOrder) -> Result<Snapshot, PlatformError> {
        let wire_customer = match o.customer.as_ref() {
            Some(c) => self.customer_by_gid(&c.id)?,
            None => None,
        };
        let order = map_order(&o)?;
        let mut customer = match wire_customer {
            Some(c) => map_customer(&c),
            None => guest(&o),
        };
        customer.payment_methods = methods_of(&o);
        Ok(Snapshot { order, customer })
    }

    fn cancel(
        &self,
        o: &WireOrder,
        key: &str,
        reason: Option<&str>,
    ) -> Result<Outcome, PlatformError> {
        let ids = vec![order_id(o)];
        if o.cancelled_at.is_some() {
            // Cancelled already (a retry, or the team): the customer's wish holds.
            return Ok(Outcome::Done { ids, already: true });
        }
        if is_fulfilled(o) {
            return Err(refused(
                RefusalReason::AlreadyFulfilled,
                format!("order {} has fulfilments", o.name),
            ));
        }
        let note: String = format!(
            "shopkeep:{key} cancelled at the customer's request{}",
            reason.map(|r| format!(": {r}")).unwrap_or_default()
        )
        .chars()
        .take(255)
        .collect();
        let data: CancelData = self.gql(
            documents::ORDER_CANCEL,
            json!({ "orderId": o.id, "reason": "CUSTOMER", "staffNote": note }),
        )?;
        let payload = data
            .order_cancel
            .ok_or_else(|| protocol("orderCancel answered null"))?;
        if let Some(e) = payload.order_cancel_user_errors.first() {
            return Err(refusal_of(e.code.as_deref(), &e.message, Kind::Cancel));
        }
        let job = payload
            .job
            .ok_or_else(|| protocol("orderCancel answered without a job"))?;
        self.follow_job(&job)?;
        // The job is done: the order itself says whether it is cancelled.
        match self.order_by_gid(&o.id)? {
            Some(now) if now.cancelled_at.is_some() => Ok(Outcome::Done {
                ids,
                already: false,
            }),
            _ => Err(refused(
                RefusalReason::Other,
                format!(
                    "the cancellation job {} finished but order {} is not cancelled",
                    job.id, o.name
                ),
            )),
        }
    }

    /// Polls an asynchronous job until it is done (backing off from 200 ms to 2 s).
    fn follow_job(&self, job: &WireJob) -> Result<(), PlatformError> {
        let started = Instant::now();
        let mut done = job.done;
        let mut pause = Duration::from_millis(200);
        while !done {
            if started.elapsed() + pause > self.max_wait {
                return Err(unreachable(format!(
                    "Shopify's job {} had not finished after {:.0}s",
                    job.id,
                    started.elapsed().as_secs_f64()
                )));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_secs(2));
            let data: JobData = self.gql(documents::JOB, json!({ "id": job.id }))?;
            done = data.job.is_some_and(|j| j.done);
        }
        Ok(())
    }

    fn request_return(
        &self,
        o: &WireOrder,
        key: &str,
        item_ids: &[String],
    ) -> Result<Outcome, PlatformError> {
        let tag = format!("shopkeep:{key}");
        // The same key again: the return opened then (a repeated "yes" or a retry).
        if let Some(r) = o.returns.nodes.iter().find(|r| {
            !matches!(r.status.as_str(), "CANCELED" | "DECLINED")
                && r.return_line_items
                    .nodes
                    .iter()
                    .any(|l| l.customer_note.as_deref().is_some_and(|n| n.contains(&tag)))
        }) {
            return Ok(Outcome::Done {
                ids: return_ids(o, &r.id, &r.name),
                already: true,
            });
        }
        let data: ReturnableData = self.gql(
            documents::RETURNABLE_FULFILLMENTS,
            json!({ "orderId": o.id }),
        )?;
        let lines = returnable_lines(&data, item_ids)?;
        let note = format!("Requested through shopkeep ({tag})");
        let items: Vec<Value> = lines
            .iter()
            .map(
                |(id, q)| json!({"fulfillmentLineItemId": id, "quantity": q, "customerNote": note}),
            )
            .collect();
        let data: ReturnRequestData = self.gql(
            documents::RETURN_REQUEST,
            json!({ "input": { "orderId": o.id, "returnLineItems": items } }),
        )?;
        let payload = data
            .return_request
            .ok_or_else(|| protocol("returnRequest answered null"))?;
        if let Some(e) = payload.user_errors.first() {
            return Err(refusal_of(e.code.as_deref(), &e.message, Kind::Return));
        }
        let r = payload
            .r#return
            .ok_or_else(|| protocol("returnRequest answered without a return"))?;
        Ok(Outcome::Done {
            ids: return_ids(o, &r.id, &r.name),
            already: false,
        })
    }

    fn change_address(&self, o: &WireOrder, a: &Address) -> Result<Outcome, PlatformError> {
        let ids = vec![order_id(o)];
        if o.cancelled_at.is_some() {
            return Err(refused(
                RefusalReason::AlreadyCancelled,
                "the order is cancelled",
            ));
        }
        if is_fulfilled(o) {
            return Err(refused(
                RefusalReason::AlreadyFulfilled,
                format!("order {} has fulfilments", o.name),
            ));
        }
        if o.shipping_address.as_ref().map(map_address).as_ref() == Some(a) {
            return Ok(Outcome::Done { ids, already: true });
        }
        let (first, last) = o
            .shipping_address
            .as_ref()
            .map(|s| (s.first_name.clone(), s.last_name.clone()))
            .unwrap_or_default();
        let input = json!({ "id": o.id, "shippingAddress": {
            "firstName": first, "lastName": last,
            "address1": a.line1, "address2": a.line2.clone().unwrap_or_default(),
            "city": a.city, "provinceCode": a.region, "zip": a.postcode,
            "countryCode": country_code(&a.country),
        }});
        let data: OrderUpdateData = self.gql(documents::ORDER_UPDATE, json!({ "input": input }))?;
        let payload = data
            .order_update
            .ok_or_else(|| protocol("orderUpdate answered null"))?;
        if let Some(e) = payload.user_errors.first() {
            return Err(refusal_of(None, &e.message, Kind::Edit));
        }
        Ok(Outcome::Done {
            ids,
            already: false,
        })
    }

    /// Replaces each unfulfilled line of `item_ids[i]` by `new_item_ids[i]` (the same quantity),
    /// in one order edit committed only when every step was accepted.
    fn change_items(
        &self,
        o: &WireOrder,
        key: &str,
        item_ids: &[String],
        new_item_ids: &[String],
    ) -> Result<Outcome, PlatformError> {
        let ids = vec![order_id(o)];
        if o.cancelled_at.is_some() {
            return Err(refused(
                RefusalReason::AlreadyCancelled,
                "the order is cancelled",
            ));
        }
        if item_ids.is_empty() || item_ids.len() != new_item_ids.len() {
            return Err(protocol(format!(
                "an item change names {} items and {} replacements",
                item_ids.len(),
                new_item_ids.len()
            )));
        }
        let live = |want: &str| {
            o.line_items
                .nodes
                .iter()
                .find(|l| line_item_id(l) == want && l.current_quantity > 0)
        };
        // Done before (a retry): none of the old items is left and every new one is there.
        if item_ids.iter().all(|i| live(i).is_none())
            && new_item_ids.iter().all(|n| live(n).is_some())
        {
            return Ok(Outcome::Done { ids, already: true });
        }
        let mut pairs: Vec<(&WireLineItem, &str)> = Vec::new();
        for (old, new) in item_ids.iter().zip(new_item_ids) {
            let Some(line) = live(old) else {
                return Err(refused(
                    RefusalReason::Other,
                    format!("order {} has no line of {old}", o.name),
                ));
            };
            if line.unfulfilled_quantity < line.current_quantity {
                return Err(refused(
                    RefusalReason::AlreadyFulfilled,
                    format!("{old} on order {} is fulfilled", o.name),
                ));
            }
            if !pairs.iter().any(|(l, _)| l.id == line.id) {
                pairs.push((line, new.as_str()));
            }
        }
        let mut variants: Vec<String> = Vec::new();
        for (_, new) in &pairs {
            variants.push(self.variant_id(new)?);
        }
        let begun: EditBeginData = self.gql(documents::ORDER_EDIT_BEGIN, json!({ "id": o.id }))?;
        let begun = begun
            .order_edit_begin
            .ok_or_else(|| protocol("orderEditBegin answered null"))?;
        if let Some(e) = begun.user_errors.first() {
            return Err(refusal_of(None, &e.message, Kind::Edit));
        }
        let calculated = begun
            .calculated_order
            .ok_or_else(|| protocol("orderEditBegin answered without a calculated order"))?;
        // From here on a failure leaves the edit uncommitted, which Shopify discards.
        for ((line, _), variant) in pairs.iter().zip(&variants) {
            let wanted = line_item_id(line);
            let calc = calculated
                .line_items
                .nodes
                .iter()
                .find(|c| {
                    let same_variant = matches!(
                        (&c.variant, &line.variant),
                        (Some(a), Some(b)) if a.id == b.id
                    );
                    let same_sku =
                        c.sku.as_deref().filter(|s| !s.is_empty()) == Some(wanted.as_str());
                    c.quantity > 0 && (same_variant || same_sku)
                })
                .ok_or_else(|| protocol(format!("the order edit has no line for {wanted}")))?;
            let set: EditStepData = self.gql(
                documents::ORDER_EDIT_SET_QUANTITY,
                json!({ "id": calculated.id, "lineItemId": calc.id, "quantity": 0 }),
            )?;
            check_step(set.order_edit_set_quantity)?;
            let add: EditStepData = self.gql(
                documents::ORDER_EDIT_ADD_VARIANT,
                json!({ "id": calculated.id, "variantId": variant, "quantity": line.current_quantity }),
            )?;
            check_step(add.order_edit_add_variant)?;
        }
        let commit: EditCommitData = self.gql(
            documents::ORDER_EDIT_COMMIT,
            json!({ "id": calculated.id, "staffNote": format!("shopkeep:{key} item change at the customer's request") }),
        )?;
        let commit = commit
            .order_edit_commit
            .ok_or_else(|| protocol("orderEditCommit answered null"))?;
        if let Some(e) = commit.user_errors.first() {
            return Err(refusal_of(None, &e.message, Kind::Edit));
        }
        Ok(Outcome::Done {
            ids,
            already: false,
        })
    }

    /// The variant an item id names: a variant gid as it is, else the variant with that SKU.
    fn variant_id(&self, item: &str) -> Result<String, PlatformError> {
        if item.starts_with("gid://shopify/ProductVariant/") {
            return Ok(item.to_string());
        }
        let data: VariantsData = self.gql(
            documents::VARIANT_BY_SKU,
            json!({ "query": format!("sku:{}", quoted(item)) }),
        )?;
        data.product_variants
            .nodes
            .into_iter()
            .find(|v| v.sku.as_deref() == Some(item))
            .map(|v| v.id)
            .ok_or_else(|| refused(RefusalReason::Other, format!("no variant with SKU {item}")))
    }

    /// Shopify's name for what the connection can do: the shop and the token's scopes
    /// (`shopkeep connect shopify`).
    pub fn connection(&self) -> Result<(String, Vec<String>), PlatformError> {
        let data: ConnectionData = self.gql(documents::CONNECTION, json!({}))?;
        Ok((
            data.shop.name,
            data.current_app_installation
                .access_scopes
                .into_iter()
                .map(|s| s.handle)
                .collect(),
        ))
    }
}

impl Platform for Shopify {
    fn name(&self) -> &'static str {
        NAME
    }

    fn order(&self, number: &str) -> Result<Option<Snapshot>, PlatformError> {
        match self.find_order(number)? {
            Some(o) => self.snapshot(o).map(Some),
            None => Ok(None),
        }
    }

    fn customer_by_email(&self, email: &str) -> Result<Option<Customer>, PlatformError> {
        let wanted = crate::orders::normalise_email(email);
        let data: CustomersData = self.gql(
            documents::CUSTOMER_BY_EMAIL,
            json!({ "query": format!("email:{}", quoted(&wanted)) }),
        )?;
        Ok(data
            .customers
            .nodes
            .iter()
            .find(|c| {
                c.default_email_address
                    .as_ref()
                    .map(|e| crate::orders::normalise_email(&e.email_address))
                    .as_deref()
                    == Some(wanted.as_str())
            })
            .map(map_customer))
    }

    fn customer(&self, id: &str) -> Result<Option<Customer>, PlatformError> {
        if !id.starts_with("gid://shopify/Customer/") {
            return Ok(None);
        }
        Ok(self.customer_by_gid(id)?.map(|c| map_customer(&c)))
    }

    fn orders_for_customer(&self, customer_id: &str) -> Result<Vec<Order>, PlatformError> {
        if !customer_id.starts_with("gid://shopify/Customer/") {
            return Ok(Vec::new());
        }
        let data: CustomerOrdersData =
            self.gql(documents::CUSTOMER_ORDERS, json!({ "id": customer_id }))?;
        let Some(c) = data.customer else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for r in &c.orders.nodes {
            match self.order_by_gid(&r.id)?.map(|w| map_order(&w)) {
                Some(Ok(order)) => out.push(order),
                // One order shopkeep cannot read must not hide the customer's others.
                Some(Err(e)) => {
                    tracing::warn!(order = %r.id, error = %e, "skipping a Shopify order shopkeep cannot read")
                }
                None => {}
            }
        }
        Ok(out)
    }

    fn products(&self, ids: &[String]) -> Result<Vec<Product>, PlatformError> {
        let ids: Vec<&String> = ids
            .iter()
            .filter(|i| i.starts_with("gid://shopify/Product/"))
            .collect();
        let mut out = Vec::new();
        for chunk in ids.chunks(PRODUCTS_PER_REQUEST) {
            let data: NodesData = self.gql(documents::PRODUCTS, json!({ "ids": chunk }))?;
            out.extend(
                data.nodes
                    .iter()
                    .flatten()
                    .filter(|p| !p.id.is_empty())
                    .map(map_product),
            );
        }
        Ok(out)
    }

    fn carry_out(&self, op: &Operation) -> Result<Outcome, PlatformError> {
        let Some(o) = self.find_order(&op.order)? else {
            return Err(refused(
                RefusalReason::OrderNotFound,
                format!("no order {}", op.order),
            ));
        };
        match &op.kind {
            OperationKind::Cancel { reason } => self.cancel(&o, &op.key, reason.as_deref()),
            OperationKind::Return { item_ids } => self.request_return(&o, &op.key, item_ids),
            OperationKind::ChangeAddress { address } => self.change_address(&o, address),
            OperationKind::ChangeItems {
                item_ids,
                new_item_ids,
            } => self.change_items(&o, &op.key, item_ids, new_item_ids),
            OperationKind::Other { what } => Ok(Outcome::StaffTask {
                why: format!("{what} is not done through Shopify's API by shopkeep"),
            }),
        }
    }

    fn order_by_platform_id(&self, id: &str) -> Result<Option<Snapshot>, PlatformError> {
        if !id.starts_with("gid://shopify/Order/") {
            return Ok(None);
        }
        match self.order_by_gid(id)? {
            Some(o) => self.snapshot(o).map(Some),
            None => Ok(None),
        }
    }

    fn products_named_by(&self, id: &str) -> Result<Vec<Product>, PlatformError> {
        if id.starts_with("gid://shopify/Product/") {
            return self.products(&[id.to_string()]);
        }
        if id.starts_with("gid://shopify/InventoryItem/") {
            let data: InventoryItemData =
                self.gql(documents::INVENTORY_ITEM_PRODUCT, json!({ "id": id }))?;
            let product = data
                .inventory_item
                .and_then(|i| i.variant)
                .and_then(|v| v.product)
                .map(|p| p.id);
            return match product {
                Some(p) => self.products(&[p]),
                None => Ok(Vec::new()),
            };
        }
        Ok(Vec::new())
    }

    fn webhook(
        &self,
        secret: &str,
        header: &dyn Fn(&str) -> Option<String>,
        body: &[u8],
    ) -> Option<Result<Delivery, WebhookError>> {
        let signature = header("x-shopify-hmac-sha256")?;
        Some((|| -> Result<Delivery, WebhookError> {
            if !verify_webhook(secret, &signature, body) {
                return Err(WebhookError::BadSignature);
            }
            let topic = header("x-shopify-topic").unwrap_or_default();
            let event_id = header("x-shopify-event-id")
                .filter(|e| !e.trim().is_empty())
                .ok_or_else(|| WebhookError::Invalid("X-Shopify-Event-Id is missing".into()))?;
            let target = webhook_target(&topic, body)?;
            let duplicate = !self.seen.lock().insert(&event_id);
            Ok(Delivery {
                event_id,
                topic,
                target,
                duplicate,
            })
        })())
    }

    fn forget_event(&self, event_id: &str) {
        self.seen.lock().forget(event_id);
    }
}

/// Whether `header` (X-Shopify-Hmac-SHA256: base64 of the HMAC-SHA256 of the raw body) was made
/// with `secret` (the app's client secret); compared in constant time.
pub fn verify_webhook(secret: &str, header: &str, body: &[u8]) -> bool {
    let Ok(given) = base64::engine::general_purpose::STANDARD.decode(header.trim()) else {
        return false;
    };
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// What a webhook of `topic` names for a re-read; the body is trusted for nothing else.
pub fn webhook_target(topic: &str, body: &[u8]) -> Result<EventTarget, WebhookError> {
    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        admin_graphql_api_id: Option<String>,
        #[serde(default)]
        order_id: Option<Value>,
        #[serde(default)]
        inventory_item_id: Option<Value>,
    }
    let b: Body = serde_json::from_slice(body)
        .map_err(|e| WebhookError::Invalid(format!("the body is not a Shopify webhook: {e}")))?;
    let numeric = |v: &Option<Value>| -> Option<String> {
        match v {
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) => {
                Some(s.clone())
            }
            _ => None,
        }
    };
    let missing = |what: &str| WebhookError::Invalid(format!("a {topic} webhook without {what}"));
    Ok(match topic {
        "orders/create" | "orders/updated" | "orders/cancelled" | "orders/edited"
        | "orders/fulfilled" | "orders/paid" => EventTarget::Order(
            b.admin_graphql_api_id
                .filter(|id| id.starts_with("gid://shopify/Order/"))
                .ok_or_else(|| missing("the order's admin_graphql_api_id"))?,
        ),
        "fulfillments/create" | "fulfillments/update" => EventTarget::Order(format!(
            "gid://shopify/Order/{}",
            numeric(&b.order_id).ok_or_else(|| missing("order_id"))?
        )),
        "products/update" | "products/create" => EventTarget::Product(
            b.admin_graphql_api_id
                .filter(|id| id.starts_with("gid://shopify/Product/"))
                .ok_or_else(|| missing("the product's admin_graphql_api_id"))?,
        ),
        "inventory_levels/update" => EventTarget::Product(format!(
            "gid://shopify/InventoryItem/{}",
            numeric(&b.inventory_item_id).ok_or_else(|| missing("inventory_item_id"))?
        )),
        _ => EventTarget::Nothing,
    })
}

fn clip(s: &str) -> String {
    s.chars().take(300).collect()
}

/// A value for Shopify's search syntax, quoted.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// "#1001", "1001", "order #1001" → "#1001"; a name with letters ("LF1001") stays as typed.
fn order_name(number: &str) -> Option<String> {
    let n = number.trim();
    let n = n
        .strip_prefix("order")
        .or_else(|| n.strip_prefix("Order"))
        .unwrap_or(n)
        .trim();
    if n.is_empty() || n.len() > 40 || n.chars().any(|c| c.is_control() || c == '"') {
        return None;
    }
    if n.chars().all(|c| c.is_ascii_digit()) {
        return Some(format!("#{n}"));
    }
    Some(n.to_string())
}

/// The same order name, whatever the "#", spaces or case.
fn same_name(a: &str, b: &str) -> bool {
    let norm = |s: &str| -> String {
        s.chars()
            .filter(|c| *c != '#' && !c.is_whitespace())
            .flat_map(char::to_lowercase)
            .collect()
    };
    norm(a) == norm(b)
}

fn order_id(o: &WireOrder) -> PlatformId {
    PlatformId {
        kind: "order".into(),
        id: o.id.clone(),
    }
}

/// A return's ids: its name ("#1001-R1") is what the customer is told, its gid is logged too.
fn return_ids(o: &WireOrder, gid: &str, name: &str) -> Vec<PlatformId> {
    vec![
        order_id(o),
        PlatformId {
            kind: "return".into(),
            id: if name.is_empty() { gid } else { name }.to_string(),
        },
        PlatformId {
            kind: "return_gid".into(),
            id: gid.to_string(),
        },
    ]
}

fn is_fulfilled(o: &WireOrder) -> bool {
    matches!(
        o.display_fulfillment_status.as_str(),
        "FULFILLED" | "PARTIALLY_FULFILLED" | "IN_PROGRESS"
    ) || o
        .fulfillments
        .iter()
        .any(|f| !matches!(f.status.as_str(), "CANCELLED" | "ERROR" | "FAILURE"))
}

#[derive(Clone, Copy)]
enum Kind {
    Cancel,
    Return,
    Edit,
}

/// A mutation's user error as a reason a customer can be told.
fn refusal_of(code: Option<&str>, message: &str, kind: Kind) -> PlatformError {
    let m = message.to_lowercase();
    let reason = if code == Some("NOT_FOUND") {
        RefusalReason::OrderNotFound
    } else if m.contains("already been cancel")
        || m.contains("already cancel")
        || m.contains("is cancel")
        || m.contains("has been cancel")
    {
        RefusalReason::AlreadyCancelled
    } else if m.contains("another") && m.contains("edit")
        || m.contains("in progress")
        || m.contains("being edited")
    {
        RefusalReason::ChangeInProgress
    } else if matches!(kind, Kind::Return) {
        // Shopify checks quantities against what is returnable (INVALID, GREATER_THAN…).
        RefusalReason::NotReturnable
    } else if m.contains("fulfill") || m.contains("shipped") {
        RefusalReason::AlreadyFulfilled
    } else {
        RefusalReason::Other
    };
    refused(
        reason,
        match code {
            Some(c) => format!("{message} ({c})"),
            None => message.to_string(),
        },
    )
}

fn check_step(step: Option<EditStep>) -> Result<(), PlatformError> {
    let step = step.ok_or_else(|| protocol("an order edit step answered null"))?;
    match step.user_errors.first() {
        Some(e) => Err(refusal_of(None, &e.message, Kind::Edit)),
        None => Ok(()),
    }
}

/// The fulfilment lines (ids, quantities) a return of these item ids covers: each id takes the
/// next returnable fulfilment line with that item and all of its returnable units.
fn returnable_lines(
    data: &ReturnableData,
    item_ids: &[String],
) -> Result<Vec<(String, i64)>, PlatformError> {
    let all: Vec<&ReturnableLine> = data
        .returnable_fulfillments
        .nodes
        .iter()
        .flat_map(|f| &f.returnable_fulfillment_line_items.nodes)
        .filter(|l| l.quantity > 0)
        .collect();
    let mut out: Vec<(String, i64)> = Vec::new();
    for want in item_ids {
        let line = all.iter().find(|l| {
            let li = &l.fulfillment_line_item.line_item;
            item_of(&li.sku, li.variant.as_ref(), &li.id) == *want
                && !out.iter().any(|(id, _)| *id == l.fulfillment_line_item.id)
        });
        match line {
            Some(l) => out.push((l.fulfillment_line_item.id.clone(), l.quantity)),
            None => {
                return Err(refused(
                    RefusalReason::NotReturnable,
                    format!("no returnable fulfilled line of {want}"),
                ))
            }
        }
    }
    Ok(out)
}

/// Decimal money ("28.5", "-3.00") into integer cents, without floating point.
fn cents(amount: &str) -> i64 {
    let s = amount.trim();
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let whole: i64 = whole.parse().unwrap_or(0);
    let mut f: String = frac.chars().take(3).collect();
    while f.len() < 3 {
        f.push('0');
    }
    let milli: i64 = f.parse().unwrap_or(0);
    // Half up at the third decimal (Shopify's amounts have two, some currencies none).
    let c = whole.saturating_mul(100).saturating_add((milli + 5) / 10);
    if neg {
        -c
    } else {
        c
    }
}

fn money(m: &Option<MoneyBag>) -> i64 {
    m.as_ref().map_or(0, |b| cents(&b.shop_money.amount))
}

fn when(s: &Option<String>) -> Option<OffsetDateTime> {
    s.as_deref()
        .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
}

fn country_code(country: &str) -> String {
    match country.trim().to_uppercase().as_str() {
        "" | "USA" | "UNITED STATES" | "UNITED STATES OF AMERICA" => "US".into(),
        other if other.len() == 2 => other.into(),
        other => other.chars().take(2).collect(),
    }
}

/// The id an order line or variant is known by: the variant's SKU, else its gid.
fn item_of(sku: &Option<String>, variant: Option<&WireVariantRef>, fallback: &str) -> String {
    sku.clone()
        .filter(|s| !s.is_empty())
        .or_else(|| {
            variant
                .and_then(|v| v.sku.clone())
                .filter(|s| !s.is_empty())
        })
        .or_else(|| variant.map(|v| v.id.clone()))
        .unwrap_or_else(|| fallback.to_string())
}

fn line_item_id(l: &WireLineItem) -> String {
    item_of(&l.sku, l.variant.as_ref(), &l.id)
}

fn map_address(a: &WireAddress) -> Address {
    Address {
        line1: a.address1.clone().unwrap_or_default(),
        line2: a.address2.clone().filter(|s| !s.is_empty()),
        city: a.city.clone().unwrap_or_default(),
        region: a
            .province_code
            .clone()
            .or_else(|| a.province.clone())
            .unwrap_or_default(),
        postcode: a.zip.clone().unwrap_or_default(),
        country: a.country_code_v2.clone().unwrap_or_default(),
    }
}

fn map_customer(c: &WireCustomer) -> Customer {
    Customer {
        id: c.id.clone(),
        first_name: c.first_name.clone().unwrap_or_default(),
        last_name: c.last_name.clone().unwrap_or_default(),
        email: c
            .default_email_address
            .as_ref()
            .map(|e| e.email_address.clone())
            .unwrap_or_default(),
        phone: c
            .default_phone_number
            .as_ref()
            .map(|p| p.phone_number.clone()),
        default_address: c.default_address.as_ref().map(map_address),
        payment_methods: Vec::new(),
    }
}

/// A guest checkout has no customer record: the order's email and address stand in for one.
fn guest(o: &WireOrder) -> Customer {
    let a = o.shipping_address.as_ref();
    Customer {
        id: format!(
            "shopify-guest:{}",
            o.email.clone().unwrap_or_else(|| o.id.clone())
        ),
        first_name: a.and_then(|a| a.first_name.clone()).unwrap_or_default(),
        last_name: a.and_then(|a| a.last_name.clone()).unwrap_or_default(),
        email: o.email.clone().unwrap_or_default(),
        phone: None,
        default_address: a.map(map_address),
        payment_methods: Vec::new(),
    }
}

fn method_id(gateway: &str) -> String {
    format!("shopify:{gateway}")
}

/// The gateways an order was paid through, as the customer's payment methods.
fn methods_of(o: &WireOrder) -> Vec<PaymentMethod> {
    let mut out: Vec<PaymentMethod> = Vec::new();
    for t in &o.transactions {
        let gateway = t.gateway.clone().unwrap_or_default();
        let id = method_id(&gateway);
        if gateway.is_empty() || out.iter().any(|m| m.id == id) {
            continue;
        }
        let g = gateway.to_lowercase();
        let kind = if g.contains("paypal") {
            PaymentMethodKind::Paypal
        } else if g.contains("gift_card") || g.contains("gift card") {
            PaymentMethodKind::GiftCard
        } else if g.contains("shopify_payments") || g.contains("stripe") || g.contains("card") {
            PaymentMethodKind::CreditCard
        } else {
            PaymentMethodKind::Other
        };
        out.push(PaymentMethod {
            id,
            kind,
            brand: None,
            last4: None,
            balance_cents: None,
        });
    }
    out
}

/// Units returned (closed returns) and asked back (requested or open ones), by order line id.
fn returned_units(o: &WireOrder) -> (HashMap<String, i64>, HashMap<String, i64>) {
    let mut back: HashMap<String, i64> = HashMap::new();
    let mut asked: HashMap<String, i64> = HashMap::new();
    for r in &o.returns.nodes {
        let into = match r.status.as_str() {
            "CLOSED" => &mut back,
            "REQUESTED" | "OPEN" => &mut asked,
            _ => continue,
        };
        for l in &r.return_line_items.nodes {
            if let Some(f) = &l.fulfillment_line_item {
                *into.entry(f.line_item.id.clone()).or_default() += l.quantity;
            }
        }
    }
    (back, asked)
}

/// The status a customer is told, from Shopify's display statuses, fulfilments and returns.
fn status_of(o: &WireOrder) -> OrderStatus {
    if o.cancelled_at.is_some() {
        return OrderStatus::Cancelled;
    }
    let (back, asked) = returned_units(o);
    if !asked.is_empty() {
        return OrderStatus::ReturnRequested;
    }
    if !back.is_empty() {
        let ordered: i64 = o.line_items.nodes.iter().map(|l| l.quantity).sum();
        let returned: i64 = back.values().sum();
        return if returned >= ordered {
            OrderStatus::Returned
        } else {
            OrderStatus::PartiallyReturned
        };
    }
    let shipped: Vec<&WireFulfillment> = o
        .fulfillments
        .iter()
        .filter(|f| f.status == "SUCCESS")
        .collect();
    if !shipped.is_empty() {
        return if shipped
            .iter()
            .all(|f| f.delivered_at.is_some() || f.display_status.as_deref() == Some("DELIVERED"))
            && o.display_fulfillment_status == "FULFILLED"
        {
            OrderStatus::Delivered
        } else {
            OrderStatus::Shipped
        };
    }
    match o.display_financial_status.as_deref() {
        Some("PAID" | "PARTIALLY_PAID" | "AUTHORIZED" | "PARTIALLY_REFUNDED") => {
            OrderStatus::Processing
        }
        _ => OrderStatus::Pending,
    }
}

fn map_order(o: &WireOrder) -> Result<Order, PlatformError> {
    if o.name.trim().is_empty() {
        return Err(protocol(format!("order {} has no name", o.id)));
    }
    let cancelled = o.cancelled_at.is_some();
    let (back, asked) = returned_units(o);
    let line_of = |line_id: &str| {
        o.line_items
            .nodes
            .iter()
            .find(|l| l.id == line_id)
            .map(line_item_id)
    };
    let mut items = Vec::new();
    for l in &o.line_items.nodes {
        // An edit that removed a line leaves it at quantity 0; a cancelled order keeps its lines.
        let quantity = if cancelled {
            l.quantity
        } else {
            l.current_quantity
        };
        if quantity <= 0 {
            continue;
        }
        let returned = back.get(&l.id).copied().unwrap_or(0);
        let requested = asked.get(&l.id).copied().unwrap_or(0);
        let status = if cancelled {
            ItemStatus::Cancelled
        } else if returned >= quantity {
            ItemStatus::Returned
        } else if returned + requested >= quantity {
            ItemStatus::ReturnRequested
        } else {
            ItemStatus::Ordered
        };
        let options: BTreeMap<String, String> = l
            .variant
            .as_ref()
            .map(|v| {
                v.selected_options
                    .iter()
                    .filter(|o| o.name != "Title" || o.value != "Default Title")
                    .map(|o| (o.name.clone(), o.value.clone()))
                    .collect()
            })
            .unwrap_or_default();
        items.push(OrderItem {
            item_id: line_item_id(l),
            product_id: l.product.as_ref().map(|p| p.id.clone()).unwrap_or_default(),
            name: l
                .product
                .as_ref()
                .map(|p| p.title.clone())
                .unwrap_or_else(|| l.title.clone()),
            options,
            price_cents: money(&l.original_unit_price_set),
            quantity: u32::try_from(quantity).unwrap_or(u32::MAX),
            final_sale: false,
            status,
        });
    }
    let mut payments = Vec::new();
    for t in o.transactions.iter().filter(|t| t.status == "SUCCESS") {
        let kind = match t.kind.as_str() {
            "SALE" | "CAPTURE" => TransactionKind::Payment,
            "REFUND" => TransactionKind::Refund,
            _ => continue,
        };
        payments.push(Payment {
            kind,
            amount_cents: money(&t.amount_set).abs(),
            payment_method_id: method_id(t.gateway.as_deref().unwrap_or_default()),
            at: when(&t.processed_at),
        });
    }
    let fulfilments = o
        .fulfillments
        .iter()
        .filter(|f| f.status == "SUCCESS")
        .map(|f| {
            let tracking = f.tracking_info.first();
            let mut events: Vec<TrackingEvent> = f
                .events
                .nodes
                .iter()
                .filter_map(|e| {
                    Some(TrackingEvent {
                        at: when(&Some(e.happened_at.clone()))?,
                        status: e.status.to_lowercase(),
                        location: None,
                    })
                })
                .collect();
            events.sort_by_key(|e| e.at);
            Fulfilment {
                carrier: tracking
                    .and_then(|t| t.company.clone())
                    .filter(|c| !c.is_empty()),
                service: o.shipping_line.as_ref().map(|s| s.title.clone()),
                tracking_number: tracking.and_then(|t| t.number.clone()).unwrap_or_default(),
                tracking_url: tracking
                    .and_then(|t| t.url.clone())
                    .filter(|u| !u.is_empty()),
                item_ids: f
                    .fulfillment_line_items
                    .nodes
                    .iter()
                    .filter_map(|fl| line_of(&fl.line_item.id))
                    .collect(),
                shipped_at: when(&f.in_transit_at).or_else(|| when(&Some(f.created_at.clone()))),
                estimated_delivery: when(&f.estimated_delivery_at).map(|t| t.date()),
                delivered_at: when(&f.delivered_at),
                events,
            }
        })
        .collect();
    let original = o
        .transactions
        .iter()
        .find_map(|t| t.gateway.as_deref())
        .map(method_id)
        .unwrap_or_default();
    let returns = o
        .returns
        .nodes
        .iter()
        .filter(|r| !matches!(r.status.as_str(), "CANCELED" | "DECLINED"))
        .map(|r| ReturnRecord {
            number: if r.name.is_empty() {
                r.id.clone()
            } else {
                r.name.clone()
            },
            item_ids: r
                .return_line_items
                .nodes
                .iter()
                .filter_map(|l| l.fulfillment_line_item.as_ref())
                .filter_map(|f| line_of(&f.line_item.id))
                .collect(),
            status: match r.status.as_str() {
                "CLOSED" => ReturnStatus::Received,
                _ => ReturnStatus::Requested,
            },
            refund_method: original.clone(),
            refund_cents: r
                .return_line_items
                .nodes
                .iter()
                .filter_map(|l| {
                    let f = l.fulfillment_line_item.as_ref()?;
                    let line = o.line_items.nodes.iter().find(|x| x.id == f.line_item.id)?;
                    Some(money(&line.original_unit_price_set) * l.quantity)
                })
                .sum(),
            created_at: when(&Some(r.created_at.clone())),
        })
        .collect();
    Ok(Order {
        number: o.name.clone(),
        customer_id: o
            .customer
            .as_ref()
            .map(|c| c.id.clone())
            .unwrap_or_else(|| guest(o).id),
        status: status_of(o),
        created_at: when(&Some(o.created_at.clone())),
        items,
        subtotal_cents: money(&o.current_subtotal_price_set).max(0),
        shipping_cents: money(&o.current_shipping_price_set).max(0),
        tax_cents: money(&o.current_total_tax_set).max(0),
        total_cents: money(&o.current_total_price_set).max(0),
        shipping_method: o.shipping_line.as_ref().map(|s| s.title.clone()),
        shipping_address: o.shipping_address.as_ref().map(map_address),
        payments,
        fulfilments,
        returns,
        exchanges: Vec::new(),
    })
}

fn map_product(p: &WireProduct) -> Product {
    let mut options: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for o in &p.options {
        if o.name == "Title" && o.option_values.iter().all(|v| v.name == "Default Title") {
            continue;
        }
        options.insert(
            o.name.clone(),
            o.option_values.iter().map(|v| v.name.clone()).collect(),
        );
    }
    let active = p.status == "ACTIVE";
    let variants = p
        .variants
        .nodes
        .iter()
        .map(|v| Variant {
            item_id: item_of(&v.sku, None, &v.id),
            product_id: p.id.clone(),
            options: v
                .selected_options
                .iter()
                .filter(|o| o.name != "Title" || o.value != "Default Title")
                .map(|o| (o.name.clone(), o.value.clone()))
                .collect(),
            price_cents: cents(&v.price),
            available: active && v.available_for_sale,
            stock: if v.inventory_item.as_ref().is_some_and(|i| i.tracked) {
                v.inventory_quantity.map(|q| q.max(0))
            } else {
                None
            },
        })
        .collect();
    Product {
        id: p.id.clone(),
        name: p.title.clone(),
        category: p.product_type.clone(),
        description: p.description.clone(),
        tags: p.tags.iter().map(|t| t.to_lowercase()).collect(),
        attributes: BTreeMap::new(),
        options,
        variants,
        url: p.online_store_url.clone().filter(|u| !u.is_empty()),
    }
}

// The Admin API's shapes, as far as the documents above ask for them. Shopify sends `null`
// for an absent object, which reads as its default here.

fn null_default<'de, D: serde::Deserializer<'de>, T: Default + Deserialize<'de>>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, bound(deserialize = "T: Deserialize<'de> + Default"))]
struct Nodes<T> {
    #[serde(deserialize_with = "null_default")]
    nodes: Vec<T>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OrdersData {
    orders: Nodes<WireOrder>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OrderData {
    order: Option<WireOrder>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CustomerData {
    customer: Option<WireCustomer>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CustomersData {
    customers: Nodes<WireCustomer>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CustomerOrdersData {
    customer: Option<CustomerOrders>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CustomerOrders {
    orders: Nodes<IdOnly>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct IdOnly {
    id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NodesData {
    #[serde(deserialize_with = "null_default")]
    nodes: Vec<Option<WireProduct>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct InventoryItemData {
    inventory_item: Option<InventoryItemRef>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct InventoryItemRef {
    variant: Option<VariantProduct>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct VariantProduct {
    product: Option<IdOnly>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct VariantsData {
    product_variants: Nodes<WireVariantRef>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct JobData {
    job: Option<WireJob>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WireJob {
    id: String,
    done: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct CancelData {
    order_cancel: Option<CancelPayload>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct CancelPayload {
    job: Option<WireJob>,
    #[serde(deserialize_with = "null_default")]
    order_cancel_user_errors: Vec<UserError>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct UserError {
    code: Option<String>,
    message: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ReturnableData {
    returnable_fulfillments: Nodes<ReturnableFulfillment>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ReturnableFulfillment {
    returnable_fulfillment_line_items: Nodes<ReturnableLine>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ReturnableLine {
    quantity: i64,
    fulfillment_line_item: FulfillmentLine,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct FulfillmentLine {
    id: String,
    line_item: LineRef,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct LineRef {
    id: String,
    sku: Option<String>,
    variant: Option<WireVariantRef>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ReturnRequestData {
    return_request: Option<ReturnRequestPayload>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ReturnRequestPayload {
    r#return: Option<ReturnRef>,
    #[serde(deserialize_with = "null_default")]
    user_errors: Vec<UserError>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ReturnRef {
    id: String,
    name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct EditBeginData {
    order_edit_begin: Option<EditBegin>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct EditBegin {
    calculated_order: Option<CalculatedOrder>,
    #[serde(deserialize_with = "null_default")]
    user_errors: Vec<UserError>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct CalculatedOrder {
    id: String,
    line_items: Nodes<CalculatedLine>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CalculatedLine {
    id: String,
    quantity: i64,
    sku: Option<String>,
    variant: Option<WireVariantRef>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct EditStepData {
    order_edit_set_quantity: Option<EditStep>,
    order_edit_add_variant: Option<EditStep>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct EditStep {
    #[serde(deserialize_with = "null_default")]
    user_errors: Vec<UserError>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct EditCommitData {
    order_edit_commit: Option<EditStep>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct OrderUpdateData {
    order_update: Option<EditStep>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ConnectionData {
    shop: ShopRef,
    current_app_installation: AppInstallation,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ShopRef {
    name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct AppInstallation {
    #[serde(deserialize_with = "null_default")]
    access_scopes: Vec<Scope>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Scope {
    handle: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct WireOrder {
    id: String,
    name: String,
    email: Option<String>,
    created_at: String,
    cancelled_at: Option<String>,
    display_financial_status: Option<String>,
    display_fulfillment_status: String,
    customer: Option<IdRef>,
    current_subtotal_price_set: Option<MoneyBag>,
    current_shipping_price_set: Option<MoneyBag>,
    current_total_tax_set: Option<MoneyBag>,
    current_total_price_set: Option<MoneyBag>,
    shipping_line: Option<ShippingLine>,
    shipping_address: Option<WireAddress>,
    line_items: Nodes<WireLineItem>,
    #[serde(deserialize_with = "null_default")]
    fulfillments: Vec<WireFulfillment>,
    returns: Nodes<WireReturn>,
    #[serde(deserialize_with = "null_default")]
    transactions: Vec<WireTransaction>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct IdRef {
    id: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct MoneyBag {
    shop_money: MoneyV2,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct MoneyV2 {
    amount: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct ShippingLine {
    title: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct WireAddress {
    first_name: Option<String>,
    last_name: Option<String>,
    address1: Option<String>,
    address2: Option<String>,
    city: Option<String>,
    province: Option<String>,
    province_code: Option<String>,
    zip: Option<String>,
    country_code_v2: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct WireLineItem {
    id: String,
    title: String,
    sku: Option<String>,
    quantity: i64,
    current_quantity: i64,
    unfulfilled_quantity: i64,
    original_unit_price_set: Option<MoneyBag>,
    variant: Option<WireVariantRef>,
    product: Option<ProductRef>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct WireVariantRef {
    id: String,
    sku: Option<String>,
    #[serde(deserialize_with = "null_default")]
    selected_options: Vec<SelectedOption>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct SelectedOption {
    name: String,
    value: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct ProductRef {
    id: String,
    title: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct WireFulfillment {
    status: String,
    display_status: Option<String>,
    created_at: String,
    in_transit_at: Option<String>,
    delivered_at: Option<String>,
    estimated_delivery_at: Option<String>,
    #[serde(deserialize_with = "null_default")]
    tracking_info: Vec<TrackingInfo>,
    fulfillment_line_items: Nodes<WireFulfillmentLine>,
    events: Nodes<WireEvent>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct TrackingInfo {
    company: Option<String>,
    number: Option<String>,
    url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct WireFulfillmentLine {
    line_item: IdRef,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct WireEvent {
    happened_at: String,
    status: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct WireReturn {
    id: String,
    name: String,
    status: String,
    created_at: String,
    return_line_items: Nodes<WireReturnLine>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct WireReturnLine {
    quantity: i64,
    customer_note: Option<String>,
    fulfillment_line_item: Option<WireFulfillmentLine>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct WireTransaction {
    kind: String,
    status: String,
    gateway: Option<String>,
    processed_at: Option<String>,
    amount_set: Option<MoneyBag>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct WireCustomer {
    id: String,
    first_name: Option<String>,
    last_name: Option<String>,
    default_email_address: Option<EmailRef>,
    default_phone_number: Option<PhoneRef>,
    default_address: Option<WireAddress>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct EmailRef {
    email_address: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct PhoneRef {
    phone_number: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct WireProduct {
    id: String,
    title: String,
    status: String,
    product_type: String,
    description: String,
    #[serde(deserialize_with = "null_default")]
    tags: Vec<String>,
    online_store_url: Option<String>,
    #[serde(deserialize_with = "null_default")]
    options: Vec<WireOption>,
    variants: Nodes<WireVariant>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct WireOption {
    name: String,
    #[serde(deserialize_with = "null_default")]
    option_values: Vec<OptionValue>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct OptionValue {
    name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct WireVariant {
    id: String,
    sku: Option<String>,
    price: String,
    available_for_sale: bool,
    inventory_quantity: Option<i64>,
    #[serde(deserialize_with = "null_default")]
    selected_options: Vec<SelectedOption>,
    inventory_item: Option<InventoryItemTracked>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct InventoryItemTracked {
    tracked: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_scope_covers_its_read_scope() {
        let granted: Vec<String> = ["write_orders", "read_customers", "write_products"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            missing_scopes(&granted),
            ["read_inventory", "write_returns", "write_order_edits"]
        );
    }

    #[test]
    fn money_is_read_exactly_into_cents() {
        assert_eq!(cents("28.50"), 2850);
        assert_eq!(cents("28.5"), 2850);
        assert_eq!(cents("28"), 2800);
        assert_eq!(cents("0.07"), 7);
        assert_eq!(cents("-3.10"), -310);
        assert_eq!(cents("19.995"), 2000);
        assert_eq!(cents("nonsense"), 0);
    }

    #[test]
    fn order_names_are_matched_whatever_the_hash_or_case() {
        assert_eq!(order_name("1001").as_deref(), Some("#1001"));
        assert_eq!(order_name(" #1001 ").as_deref(), Some("#1001"));
        assert_eq!(order_name("order 1001").as_deref(), Some("#1001"));
        assert_eq!(order_name("LF1001").as_deref(), Some("LF1001"));
        assert_eq!(order_name("a\"b"), None);
        assert!(same_name("#1001", "1001"));
        assert!(same_name("#LF1001", "lf1001"));
        assert!(!same_name("#1001", "#10011"));
        assert_eq!(quoted("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }

    #[test]
    fn the_bucket_waits_only_for_the_points_it_lacks() {
        let b = Bucket {
            maximum: 1000.0,
            available: 100.0,
            restore_rate: 50.0,
            at: Instant::now(),
        };
        assert_eq!(b.wait_for(50.0), Duration::ZERO);
        let w = b.wait_for(200.0).as_secs_f64();
        assert!((1.9..=2.0).contains(&w), "{w}");
        // A cost above the maximum waits for a full bucket, not forever.
        assert!(b.wait_for(5000.0).as_secs_f64() <= 18.0);
    }

    #[test]
    fn user_errors_become_reasons_a_customer_can_be_told() {
        let reason = |e: PlatformError| match e {
            PlatformError::Refused { refusal, .. } => refusal.reason,
            other => panic!("{other}"),
        };
        assert_eq!(
            reason(refusal_of(
                Some("INVALID"),
                "Order has already been cancelled",
                Kind::Cancel
            )),
            RefusalReason::AlreadyCancelled
        );
        assert_eq!(
            reason(refusal_of(
                Some("NOT_FOUND"),
                "Order does not exist",
                Kind::Cancel
            )),
            RefusalReason::OrderNotFound
        );
        assert_eq!(
            reason(refusal_of(
                Some("INVALID"),
                "Return line item quantity exceeds the returnable quantity",
                Kind::Return
            )),
            RefusalReason::NotReturnable
        );
        assert_eq!(
            reason(refusal_of(
                None,
                "The line item has already been fulfilled",
                Kind::Edit
            )),
            RefusalReason::AlreadyFulfilled
        );
        assert_eq!(
            reason(refusal_of(None, "Something else", Kind::Edit)),
            RefusalReason::Other
        );
    }
}
