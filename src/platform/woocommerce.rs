//! The WooCommerce connector: the REST API v3 (`/wp-json/wc/v3`) with a consumer key and secret
//! (HTTP Basic, over HTTPS; `platform.api_key` holds `ck_…:cs_…`).
//!
//! - Reads: an order by the number a customer types (`GET /orders?search=`, matched exactly
//!   on `number`), a customer by email, a customer's orders, products with their variations,
//!   prices and stock.
//! - Writes: cancel (`PUT /orders/{id}` to `cancelled`, only while pending, on hold or
//!   processing) and a shipping-address change (`PUT /orders/{id}`), each followed by an order
//!   note carrying `shopkeep:<key>`. Core WooCommerce has no returns or exchanges API, so those
//!   (and item or payment changes) are **staff tasks**: an order note says what the customer
//!   asked for, once per key, and the team carries it out. Money is never moved here: a refund
//!   is the team's explicit choice in WooCommerce (`api_refund`), not a side effect.
//! - Refusals: WooCommerce's `{code, message}` errors and order states become
//!   [`RefusalReason`]s; no answer, a 5xx or a timeout is [`PlatformError::Unreachable`].
//! - Webhooks: [`verify_webhook`] checks `X-WC-Webhook-Signature` (base64 HMAC-SHA256 of the raw
//!   body under the webhook's secret, `platform.events_secret`); deliveries are deduplicated on
//!   `X-WC-Webhook-Delivery-ID`; the body names what to re-read.
//!
//! Tested on responses shaped like WooCommerce's documented examples, served on loopback; not
//! against a live store. Core WooCommerce records no tracking (plugins do), so orders carry none.

use std::{collections::BTreeMap, time::Duration};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use serde::{de::DeserializeOwned, Deserialize};
use serde_json::{json, Value};
use sha2::Sha256;
use time::{format_description::well_known::Iso8601, OffsetDateTime, PrimitiveDateTime};

use super::{
    Delivery, EventTarget, Operation, OperationKind, Outcome, Platform, PlatformError, PlatformId,
    Refusal, RefusalReason, Snapshot, WebhookError,
};
use crate::orders::{
    Address, Customer, ItemStatus, Order, OrderItem, OrderStatus, Payment, PaymentMethod,
    PaymentMethodKind, Product, TransactionKind, Variant,
};

const NAME: &str = "woocommerce";

/// The WooCommerce REST API v3 client.
pub struct WooCommerce {
    base: String,
    authorization: String,
    client: reqwest::Client,
    runtime: Option<tokio::runtime::Runtime>,
    seen: Mutex<super::SeenEvents>,
}

impl std::fmt::Debug for WooCommerce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("WooCommerce")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Drop for WooCommerce {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

fn protocol(detail: impl Into<String>) -> PlatformError {
    PlatformError::Protocol {
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

impl WooCommerce {
    /// `url`: the store ("https://shop.example"); `key`: `ck_…:cs_…` (WooCommerce → Settings →
    /// Advanced → REST API, read/write).
    pub fn new(url: &str, key: &str, timeout: Duration) -> Result<Self, PlatformError> {
        let Some((ck, cs)) = key.split_once(':') else {
            return Err(protocol(
                "platform.api_key must be the consumer key and secret as ck_…:cs_…",
            ));
        };
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(|e| protocol(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("woocommerce-client")
            .enable_all()
            .build()
            .map_err(|e| protocol(e.to_string()))?;
        Ok(Self {
            base: format!("{}/wp-json/wc/v3", url.trim_end_matches('/')),
            authorization: format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{ck}:{cs}"))
            ),
            client,
            runtime: Some(runtime),
            seen: Mutex::new(Default::default()),
        })
    }

    fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Option<T>, PlatformError> {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("authorization", &self.authorization);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let fut = async move {
            let res = req.send().await.map_err(|e| PlatformError::Unreachable {
                platform: NAME,
                detail: e.to_string(),
            })?;
            let status = res.status().as_u16();
            let text = res.text().await.map_err(|e| PlatformError::Unreachable {
                platform: NAME,
                detail: e.to_string(),
            })?;
            Ok::<_, PlatformError>((status, text))
        };
        let (status, text) = self
            .runtime
            .as_ref()
            .expect("runtime until drop")
            .block_on(fut)?;
        match status {
            200..=299 => serde_json::from_str(&text).map(Some).map_err(|e| {
                protocol(format!(
                    "{e} in {}",
                    text.chars().take(300).collect::<String>()
                ))
            }),
            401 | 403 => Err(PlatformError::Auth {
                platform: NAME,
                status,
            }),
            404 => Ok(None),
            500.. => Err(PlatformError::Unreachable {
                platform: NAME,
                detail: format!(
                    "HTTP {status}: {}",
                    text.chars().take(300).collect::<String>()
                ),
            }),
            _ => {
                #[derive(Default, Deserialize)]
                #[serde(default)]
                struct WcError {
                    code: String,
                    message: String,
                }
                let e: WcError = serde_json::from_str(&text).unwrap_or_default();
                let m = e.message.to_lowercase();
                let reason = if m.contains("cancel") && m.contains("already") {
                    RefusalReason::AlreadyCancelled
                } else if e.code.contains("invalid_id") {
                    RefusalReason::OrderNotFound
                } else {
                    RefusalReason::Other
                };
                Err(refused(reason, format!("{} ({})", e.message, e.code)))
            }
        }
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, PlatformError> {
        self.call(reqwest::Method::GET, path, None)
    }

    fn find_order(&self, number: &str) -> Result<Option<WireOrder>, PlatformError> {
        let wanted: String = number
            .trim()
            .trim_start_matches(['#', ' '])
            .trim_start_matches("order")
            .trim()
            .trim_start_matches('#')
            .to_string();
        if wanted.is_empty() || wanted.len() > 40 {
            return Ok(None);
        }
        let list: Vec<WireOrder> = self
            .get(&format!("/orders?search={}&per_page=20", enc(&wanted)))?
            .unwrap_or_default();
        // The search also matches names, emails and items: only the exact number counts.
        Ok(list
            .into_iter()
            .find(|o| o.number.eq_ignore_ascii_case(&wanted)))
    }

    fn snapshot(&self, o: WireOrder) -> Result<Snapshot, PlatformError> {
        let wire_customer: Option<WireCustomer> = if o.customer_id > 0 {
            self.get(&format!("/customers/{}", o.customer_id))?
        } else {
            None
        };
        let order = map_order(&o);
        let mut customer = match wire_customer {
            Some(c) => map_customer(&c),
            None => guest(&o),
        };
        customer.payment_methods = methods_of(&o);
        Ok(Snapshot { order, customer })
    }

    fn notes(&self, o: &WireOrder) -> Result<Vec<WireNote>, PlatformError> {
        Ok(self
            .get(&format!("/orders/{}/notes", o.id))?
            .unwrap_or_default())
    }

    /// Adds a private order note once per key.
    fn note_once(
        &self,
        o: &WireOrder,
        key: &str,
        text: &str,
    ) -> Result<(bool, String), PlatformError> {
        let tag = format!("shopkeep:{key}");
        if let Some(n) = self.notes(o)?.into_iter().find(|n| n.note.contains(&tag)) {
            return Ok((true, n.id.to_string()));
        }
        let made: Option<WireNote> = self.call(
            reqwest::Method::POST,
            &format!("/orders/{}/notes", o.id),
            Some(json!({"note": format!("{text} ({tag})"), "customer_note": false})),
        )?;
        let made = made.ok_or_else(|| protocol("the order note was not created"))?;
        Ok((false, made.id.to_string()))
    }

    fn update(&self, o: &WireOrder, body: Value) -> Result<(), PlatformError> {
        let _: Option<serde::de::IgnoredAny> = self.call(
            reqwest::Method::PUT,
            &format!("/orders/{}", o.id),
            Some(body),
        )?;
        Ok(())
    }
}

fn order_ids(o: &WireOrder, note: Option<String>) -> Vec<PlatformId> {
    let mut ids = vec![PlatformId {
        kind: "order".into(),
        id: o.id.to_string(),
    }];
    if let Some(n) = note {
        ids.push(PlatformId {
            kind: "order_note".into(),
            id: n,
        });
    }
    ids
}

impl Platform for WooCommerce {
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
        let list: Vec<WireCustomer> = self
            .get(&format!("/customers?email={}", enc(&wanted)))?
            .unwrap_or_default();
        Ok(list
            .iter()
            .find(|c| crate::orders::normalise_email(&c.email) == wanted)
            .map(map_customer))
    }

    fn customer(&self, id: &str) -> Result<Option<Customer>, PlatformError> {
        let Ok(n) = id.parse::<u64>() else {
            return Ok(None);
        };
        Ok(self
            .get::<WireCustomer>(&format!("/customers/{n}"))?
            .map(|c| map_customer(&c)))
    }

    fn orders_for_customer(&self, customer_id: &str) -> Result<Vec<Order>, PlatformError> {
        let Ok(n) = customer_id.parse::<u64>() else {
            return Ok(Vec::new());
        };
        let list: Vec<WireOrder> = self
            .get(&format!(
                "/orders?customer={n}&per_page=50&orderby=date&order=desc"
            ))?
            .unwrap_or_default();
        Ok(list.iter().map(map_order).collect())
    }

    fn products(&self, ids: &[String]) -> Result<Vec<Product>, PlatformError> {
        let nums: Vec<String> = ids
            .iter()
            .filter(|i| i.parse::<u64>().is_ok())
            .cloned()
            .collect();
        if nums.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<WireProduct> = self
            .get(&format!(
                "/products?include={}&per_page={}",
                nums.join(","),
                nums.len().min(100)
            ))?
            .unwrap_or_default();
        let mut out = Vec::new();
        for p in &list {
            let variations: Vec<WireVariation> = if p.r#type == "variable" {
                self.get(&format!("/products/{}/variations?per_page=100", p.id))?
                    .unwrap_or_default()
            } else {
                Vec::new()
            };
            out.push(map_product(p, &variations));
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
            OperationKind::Cancel { reason } => {
                match o.status.as_str() {
                    "cancelled" => {
                        return Ok(Outcome::Done {
                            ids: order_ids(&o, None),
                            already: true,
                        })
                    }
                    "pending" | "on-hold" | "processing" => {}
                    "completed" => {
                        return Err(refused(
                            RefusalReason::AlreadyFulfilled,
                            "the order is completed",
                        ))
                    }
                    other => {
                        return Err(refused(
                            RefusalReason::Other,
                            format!("an order that is {other} is not cancelled by shopkeep"),
                        ))
                    }
                }
                self.update(&o, json!({"status": "cancelled"}))?;
                let (_, note) = self.note_once(
                    &o,
                    &op.key,
                    &format!(
                        "Cancelled through shopkeep at the customer's request{}. Any refund is the team's to issue.",
                        reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
                    ),
                )?;
                Ok(Outcome::Done {
                    ids: order_ids(&o, Some(note)),
                    already: false,
                })
            }
            OperationKind::ChangeAddress { address } => {
                if matches!(o.status.as_str(), "completed" | "cancelled" | "refunded") {
                    return Err(refused(
                        if o.status == "cancelled" {
                            RefusalReason::AlreadyCancelled
                        } else {
                            RefusalReason::AlreadyFulfilled
                        },
                        format!("the order is {}", o.status),
                    ));
                }
                if map_address(&o.shipping) == *address {
                    return Ok(Outcome::Done {
                        ids: order_ids(&o, None),
                        already: true,
                    });
                }
                self.update(
                    &o,
                    json!({"shipping": {
                        "first_name": o.shipping.first_name, "last_name": o.shipping.last_name,
                        "address_1": address.line1, "address_2": address.line2.clone().unwrap_or_default(),
                        "city": address.city, "state": address.region, "postcode": address.postcode,
                        "country": country_code(&address.country),
                    }}),
                )?;
                let (_, note) = self.note_once(
                    &o,
                    &op.key,
                    &format!(
                        "Shipping address changed through shopkeep to {}",
                        address.one_line()
                    ),
                )?;
                Ok(Outcome::Done {
                    ids: order_ids(&o, Some(note)),
                    already: false,
                })
            }
            OperationKind::Return { item_ids } => {
                let what = format!(
                    "Return requested through shopkeep: {}. Approve it and send the customer the return instructions.",
                    item_ids.join(", ")
                );
                self.note_once(&o, &op.key, &what)?;
                Ok(Outcome::StaffTask {
                    why: "WooCommerce has no returns API: an order note asks the team".into(),
                })
            }
            OperationKind::ChangeItems {
                item_ids,
                new_item_ids,
            } => {
                self.note_once(
                    &o,
                    &op.key,
                    &format!(
                        "Item change requested through shopkeep: {} → {}",
                        item_ids.join(", "),
                        new_item_ids.join(", ")
                    ),
                )?;
                Ok(Outcome::StaffTask {
                    why: "WooCommerce's API has no order editing: an order note asks the team"
                        .into(),
                })
            }
            OperationKind::Other { what } => {
                self.note_once(&o, &op.key, &format!("Requested through shopkeep: {what}"))?;
                Ok(Outcome::StaffTask {
                    why: format!(
                        "{what} is not done through WooCommerce's API: an order note asks the team"
                    ),
                })
            }
        }
    }

    fn order_by_platform_id(&self, id: &str) -> Result<Option<Snapshot>, PlatformError> {
        let Ok(n) = id.parse::<u64>() else {
            return Ok(None);
        };
        match self.get::<WireOrder>(&format!("/orders/{n}"))? {
            Some(o) => self.snapshot(o).map(Some),
            None => Ok(None),
        }
    }

    fn products_named_by(&self, id: &str) -> Result<Vec<Product>, PlatformError> {
        self.products(&[id.to_string()])
    }

    fn webhook(
        &self,
        secret: &str,
        header: &dyn Fn(&str) -> Option<String>,
        body: &[u8],
    ) -> Option<Result<Delivery, WebhookError>> {
        let signature = header("x-wc-webhook-signature")?;
        Some((|| -> Result<Delivery, WebhookError> {
            if !verify_webhook(secret, &signature, body) {
                return Err(WebhookError::BadSignature);
            }
            let topic = header("x-wc-webhook-topic").unwrap_or_default();
            let event_id = header("x-wc-webhook-delivery-id")
                .filter(|e| !e.trim().is_empty())
                .ok_or_else(|| {
                    WebhookError::Invalid("X-WC-Webhook-Delivery-ID is missing".into())
                })?;
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

/// Whether `header` (X-WC-Webhook-Signature: base64 of the HMAC-SHA256 of the raw body) was
/// made with `secret` (the webhook's secret); compared in constant time.
pub fn verify_webhook(secret: &str, header: &str, body: &[u8]) -> bool {
    let Ok(given) = base64::engine::general_purpose::STANDARD.decode(header.trim()) else {
        return false;
    };
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// What a webhook of `topic` ("order.updated") names for a re-read: the resource's id.
pub fn webhook_target(topic: &str, body: &[u8]) -> Result<EventTarget, WebhookError> {
    let resource = topic.split('.').next().unwrap_or_default();
    if !matches!(resource, "order" | "product") {
        return Ok(EventTarget::Nothing);
    }
    #[derive(Deserialize)]
    struct Body {
        id: u64,
    }
    let b: Body = serde_json::from_slice(body).map_err(|e| {
        WebhookError::Invalid(format!("a {topic} webhook without a numeric id: {e}"))
    })?;
    Ok(match resource {
        "order" => EventTarget::Order(b.id.to_string()),
        _ => EventTarget::Product(b.id.to_string()),
    })
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// WooCommerce's decimal strings ("29.35") into integer cents, without floating point.
fn cents(amount: &str) -> i64 {
    let s = amount.trim();
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let mut f: String = frac.chars().take(2).collect();
    while f.len() < 2 {
        f.push('0');
    }
    let c = whole
        .parse::<i64>()
        .unwrap_or(0)
        .saturating_mul(100)
        .saturating_add(f.parse::<i64>().unwrap_or(0));
    if neg {
        -c
    } else {
        c
    }
}

/// WooCommerce's `date_*_gmt` fields: ISO 8601 without an offset, in UTC.
fn when(s: &Option<String>) -> Option<OffsetDateTime> {
    let s = s.as_deref()?;
    PrimitiveDateTime::parse(s, &Iso8601::DEFAULT)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

fn country_code(country: &str) -> String {
    match country.trim().to_uppercase().as_str() {
        "" | "USA" | "UNITED STATES" | "UNITED STATES OF AMERICA" => "US".into(),
        other if other.len() == 2 => other.into(),
        other => other.chars().take(2).collect(),
    }
}

fn map_address(a: &WireAddress) -> Address {
    Address {
        line1: a.address_1.clone(),
        line2: Some(a.address_2.clone()).filter(|s| !s.is_empty()),
        city: a.city.clone(),
        region: a.state.clone(),
        postcode: a.postcode.clone(),
        country: a.country.clone(),
    }
}

fn map_customer(c: &WireCustomer) -> Customer {
    Customer {
        id: c.id.to_string(),
        first_name: c.first_name.clone(),
        last_name: c.last_name.clone(),
        email: c.email.clone(),
        phone: Some(c.billing.phone.clone()).filter(|p| !p.is_empty()),
        default_address: Some(map_address(&c.shipping)).filter(|a| !a.line1.is_empty()),
        payment_methods: Vec::new(),
    }
}

fn guest(o: &WireOrder) -> Customer {
    Customer {
        id: format!("woocommerce-guest:{}", o.billing.email),
        first_name: o.billing.first_name.clone(),
        last_name: o.billing.last_name.clone(),
        email: o.billing.email.clone(),
        phone: Some(o.billing.phone.clone()).filter(|p| !p.is_empty()),
        default_address: Some(map_address(&o.shipping)).filter(|a| !a.line1.is_empty()),
        payment_methods: Vec::new(),
    }
}

fn method_id(o: &WireOrder) -> String {
    format!("woocommerce:{}", o.payment_method)
}

fn methods_of(o: &WireOrder) -> Vec<PaymentMethod> {
    if o.payment_method.is_empty() {
        return Vec::new();
    }
    let m = o.payment_method.to_lowercase();
    vec![PaymentMethod {
        id: method_id(o),
        kind: if m.contains("paypal") {
            PaymentMethodKind::Paypal
        } else if m.contains("stripe") || m.contains("card") {
            PaymentMethodKind::CreditCard
        } else {
            PaymentMethodKind::Other
        },
        brand: None,
        last4: None,
        balance_cents: None,
    }]
}

fn item_of(l: &WireLine) -> String {
    if !l.sku.is_empty() {
        l.sku.clone()
    } else if l.variation_id > 0 {
        l.variation_id.to_string()
    } else {
        l.product_id.to_string()
    }
}

fn map_order(o: &WireOrder) -> Order {
    let status = match o.status.as_str() {
        "processing" | "on-hold" => OrderStatus::Processing,
        // Core WooCommerce marks an order completed once it is fulfilled (shipped).
        "completed" => OrderStatus::Shipped,
        "cancelled" => OrderStatus::Cancelled,
        "refunded" => OrderStatus::Returned,
        _ => OrderStatus::Pending,
    };
    let items = o
        .line_items
        .iter()
        .filter(|l| l.quantity > 0)
        .map(|l| OrderItem {
            item_id: item_of(l),
            product_id: l.product_id.to_string(),
            name: l.name.clone(),
            options: l
                .meta_data
                .iter()
                .filter(|m| !m.key.starts_with('_'))
                .filter_map(|m| {
                    Some((
                        m.display_key.clone()?,
                        m.display_value.as_str()?.to_string(),
                    ))
                })
                .collect(),
            price_cents: if l.quantity > 0 {
                cents(&l.subtotal) / l.quantity
            } else {
                0
            },
            quantity: u32::try_from(l.quantity).unwrap_or(u32::MAX),
            final_sale: false,
            status: if o.status == "cancelled" {
                ItemStatus::Cancelled
            } else {
                ItemStatus::Ordered
            },
        })
        .collect();
    let mut payments = Vec::new();
    if o.date_paid_gmt.is_some() {
        payments.push(Payment {
            kind: TransactionKind::Payment,
            amount_cents: cents(&o.total),
            payment_method_id: method_id(o),
            at: when(&o.date_paid_gmt),
        });
    }
    for r in &o.refunds {
        payments.push(Payment {
            kind: TransactionKind::Refund,
            amount_cents: cents(&r.total).abs(),
            payment_method_id: method_id(o),
            at: None,
        });
    }
    let subtotal: i64 = o.line_items.iter().map(|l| cents(&l.subtotal)).sum();
    Order {
        number: format!("#{}", o.number),
        customer_id: if o.customer_id > 0 {
            o.customer_id.to_string()
        } else {
            guest(o).id
        },
        status,
        created_at: when(&o.date_created_gmt),
        items,
        subtotal_cents: subtotal.max(0),
        shipping_cents: cents(&o.shipping_total).max(0),
        tax_cents: cents(&o.total_tax).max(0),
        total_cents: cents(&o.total).max(0),
        shipping_method: o.shipping_lines.first().map(|s| s.method_title.clone()),
        shipping_address: Some(map_address(&o.shipping)).filter(|a| !a.line1.is_empty()),
        payments,
        fulfilments: Vec::new(),
        returns: Vec::new(),
        exchanges: Vec::new(),
    }
}

fn map_product(p: &WireProduct, variations: &[WireVariation]) -> Product {
    let options: BTreeMap<String, Vec<String>> = p
        .attributes
        .iter()
        .filter(|a| a.variation)
        .map(|a| (a.name.clone(), a.options.clone()))
        .collect();
    let published = p.status == "publish";
    let stock = |manage: bool, q: Option<i64>, status: &str| -> Option<i64> {
        if manage {
            q.map(|q| q.max(0))
        } else if status == "outofstock" {
            Some(0)
        } else {
            None
        }
    };
    let variants = if variations.is_empty() {
        vec![Variant {
            item_id: if p.sku.is_empty() {
                p.id.to_string()
            } else {
                p.sku.clone()
            },
            product_id: p.id.to_string(),
            options: BTreeMap::new(),
            price_cents: cents(&p.price),
            available: published && p.purchasable,
            stock: stock(p.manage_stock, p.stock_quantity, &p.stock_status),
        }]
    } else {
        variations
            .iter()
            .map(|v| Variant {
                item_id: if v.sku.is_empty() {
                    v.id.to_string()
                } else {
                    v.sku.clone()
                },
                product_id: p.id.to_string(),
                options: v
                    .attributes
                    .iter()
                    .map(|a| (a.name.clone(), a.option.clone()))
                    .collect(),
                price_cents: cents(&v.price),
                available: published && v.purchasable,
                stock: stock(v.manage_stock, v.stock_quantity, &v.stock_status),
            })
            .collect()
    };
    let description = html2text::config::plain_no_decorate()
        .string_from_read(p.short_description.as_bytes(), 10_000)
        .unwrap_or_default()
        .trim()
        .to_string();
    Product {
        id: p.id.to_string(),
        name: p.name.clone(),
        category: p
            .categories
            .first()
            .map(|c| c.name.clone())
            .unwrap_or_default(),
        description,
        tags: p.tags.iter().map(|t| t.name.to_lowercase()).collect(),
        attributes: BTreeMap::new(),
        options,
        variants,
        url: Some(p.permalink.clone()).filter(|u| !u.is_empty()),
    }
}

// The REST API's shapes, as far as shopkeep reads them.

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WireOrder {
    id: u64,
    number: String,
    status: String,
    customer_id: u64,
    date_created_gmt: Option<String>,
    date_paid_gmt: Option<String>,
    total: String,
    total_tax: String,
    shipping_total: String,
    payment_method: String,
    billing: WireAddress,
    shipping: WireAddress,
    line_items: Vec<WireLine>,
    shipping_lines: Vec<WireShippingLine>,
    refunds: Vec<WireRefund>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WireAddress {
    first_name: String,
    last_name: String,
    address_1: String,
    address_2: String,
    city: String,
    state: String,
    postcode: String,
    country: String,
    email: String,
    phone: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WireLine {
    name: String,
    product_id: u64,
    variation_id: u64,
    quantity: i64,
    subtotal: String,
    sku: String,
    meta_data: Vec<WireMeta>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WireMeta {
    key: String,
    display_key: Option<String>,
    display_value: Value,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WireShippingLine {
    method_title: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WireRefund {
    total: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WireNote {
    id: u64,
    note: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WireCustomer {
    id: u64,
    email: String,
    first_name: String,
    last_name: String,
    billing: WireAddress,
    shipping: WireAddress,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WireProduct {
    id: u64,
    name: String,
    r#type: String,
    status: String,
    permalink: String,
    short_description: String,
    sku: String,
    price: String,
    purchasable: bool,
    manage_stock: bool,
    stock_quantity: Option<i64>,
    stock_status: String,
    categories: Vec<WireName>,
    tags: Vec<WireName>,
    attributes: Vec<WireAttribute>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WireName {
    name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WireAttribute {
    name: String,
    variation: bool,
    options: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WireVariation {
    id: u64,
    sku: String,
    price: String,
    purchasable: bool,
    manage_stock: bool,
    stock_quantity: Option<i64>,
    stock_status: String,
    attributes: Vec<WireVariationAttribute>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WireVariationAttribute {
    name: String,
    option: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_and_dates_are_read_exactly() {
        assert_eq!(cents("29.35"), 2935);
        assert_eq!(cents("-10.00"), -1000);
        assert_eq!(cents("7"), 700);
        assert_eq!(
            when(&Some("2026-11-20T15:04:05".into())).map(|t| t.unix_timestamp()),
            Some(1_795_187_045)
        );
    }

    #[test]
    fn webhook_topics_name_what_to_reread() {
        assert_eq!(
            webhook_target("order.updated", br#"{"id":727,"status":"processing"}"#).unwrap(),
            EventTarget::Order("727".into())
        );
        assert_eq!(
            webhook_target("product.updated", br#"{"id":799}"#).unwrap(),
            EventTarget::Product("799".into())
        );
        assert_eq!(
            webhook_target("coupon.created", b"{}").unwrap(),
            EventTarget::Nothing
        );
        assert!(webhook_target("order.created", b"webhook_id=12").is_err());
    }
}
