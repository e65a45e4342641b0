//! The Medusa 2.x connector: the Admin REST API with a secret API key (HTTP Basic, the key as
//! the user name), read into shopkeep's records and written through Medusa's own workflows.
//!
//! - Reads: an order by the number a customer types (`#1001` is display id 1001; the list's `q`
//!   search is fuzzy, so the display id is matched exactly here), a customer by email, a
//!   customer's orders, products with variants, prices and stock, fulfilments with their labels
//!   (tracking number and URL; the carrier from the fulfilment's `metadata.carrier`).
//! - Writes: cancel (`POST /admin/orders/{id}/cancel`), a return (create → request items →
//!   return shipping → request), an address change (`POST /admin/orders/{id}`). A return carries
//!   the plan's idempotency key in its metadata, so a retry finds it instead of opening another;
//!   a return that fails half-way is withdrawn (`DELETE /admin/returns/{id}/request`).
//! - Refusals: Medusa's `{type, message}` errors map to [`RefusalReason`]s; no answer, a 5xx or
//!   a timeout is [`PlatformError::Unreachable`], and nothing is retried blindly.
//!
//! Amounts: Medusa 2 sends major units as JSON numbers (`28`, `28.5`); they become integer cents.
//! Item ids: a variant's SKU (its id when it has none), the same on order lines and products.
//!
//! Blocking: the [`Platform`] trait is synchronous (its callers are on the blocking pool), so the
//! connector owns a one-thread runtime for its reqwest client and waits on it.

use std::{collections::BTreeMap, time::Duration};

use serde::{de::DeserializeOwned, Deserialize};
use serde_json::json;
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

use super::{
    Operation, OperationKind, Outcome, Platform, PlatformError, PlatformId, Refusal, RefusalReason,
    Snapshot,
};
use crate::orders::{
    Address, Customer, Fulfilment, ItemStatus, Order, OrderItem, OrderStatus, Payment,
    PaymentMethod, PaymentMethodKind, Product, ReturnRecord, ReturnStatus, TransactionKind,
    Variant,
};

const NAME: &str = "medusa";

/// What an order read asks for: totals, lines with their fulfilment counts, addresses, shipping
/// methods, payments and refunds, fulfilments with labels, returns with their items.
const ORDER_FIELDS: &str = "id,display_id,status,email,customer_id,currency_code,created_at,total,item_subtotal,subtotal,shipping_total,tax_total,metadata,\
*items,*items.detail,*shipping_address,*shipping_methods,*payment_collections,*payment_collections.payments,*payment_collections.payments.refunds,\
*fulfillments,*fulfillments.labels,*fulfillments.items,*returns,*returns.items";

const PRODUCT_FIELDS: &str = "id,title,description,status,*tags,*categories,*options,*options.values,*variants,*variants.options,*variants.options.option,*variants.prices,variants.manage_inventory,\
variants.inventory_items.required_quantity,variants.inventory_items.inventory.location_levels.stocked_quantity,variants.inventory_items.inventory.location_levels.reserved_quantity";

/// The Medusa Admin API client.
pub struct Medusa {
    base: String,
    /// `Basic base64(key:)`.
    authorization: String,
    client: reqwest::Client,
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for Medusa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Medusa")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Drop for Medusa {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics inside async code (the server's shutdown).
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// One failed HTTP exchange, before it is classified.
#[derive(Debug)]
enum Failure {
    Transport(String),
    Status(u16, String),
    Decode(String),
}

impl Medusa {
    /// `url`: the server's base ("http://127.0.0.1:9000"); `api_key`: a secret key
    /// (`sk_…`) made in Medusa's admin (Settings → Secret API keys).
    pub fn new(url: &str, api_key: &str, timeout: Duration) -> Result<Self, PlatformError> {
        let protocol = |detail: String| PlatformError::Protocol {
            platform: NAME,
            detail,
        };
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(|e| protocol(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("medusa-client")
            .enable_all()
            .build()
            .map_err(|e| protocol(e.to_string()))?;
        Ok(Self {
            base: url.trim_end_matches('/').to_string(),
            authorization: format!("Basic {}", base64(&format!("{api_key}:"))),
            client,
            runtime: Some(runtime),
        })
    }

    fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<T, Failure> {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("authorization", &self.authorization);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let fut = async move {
            let res = req
                .send()
                .await
                .map_err(|e| Failure::Transport(e.to_string()))?;
            let status = res.status().as_u16();
            let text = res
                .text()
                .await
                .map_err(|e| Failure::Transport(e.to_string()))?;
            if !(200..300).contains(&status) {
                return Err(Failure::Status(status, text));
            }
            serde_json::from_str(&text).map_err(|e| {
                Failure::Decode(format!(
                    "{e} in {}",
                    text.chars().take(300).collect::<String>()
                ))
            })
        };
        self.runtime
            .as_ref()
            .expect("runtime until drop")
            .block_on(fut)
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, PlatformError> {
        self.call(reqwest::Method::GET, path, None)
            .map_err(classify)
    }

    fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> Result<T, PlatformError> {
        self.call(reqwest::Method::POST, path, Some(body))
            .map_err(classify)
    }

    /// The Medusa order with this display id, in full; `None` when there is none.
    fn find_order(&self, number: &str) -> Result<Option<WireOrder>, PlatformError> {
        let Some(display_id) = display_id(number) else {
            return Ok(None);
        };
        let list: OrderList = self.get(&format!(
            "/admin/orders?q={display_id}&fields=id,display_id&limit=100"
        ))?;
        // `q` also matches other fields (and 1001 inside 11001): only the exact display id counts.
        let Some(hit) = list.orders.into_iter().find(|o| o.display_id == display_id) else {
            return Ok(None);
        };
        self.order_by_id(&hit.id).map(Some)
    }

    fn order_by_id(&self, id: &str) -> Result<WireOrder, PlatformError> {
        let one: OneOrder =
            self.get(&format!("/admin/orders/{}?fields={ORDER_FIELDS}", enc(id)))?;
        Ok(one.order)
    }

    fn customer_by_id(&self, id: &str) -> Result<Option<WireCustomer>, PlatformError> {
        match self.call::<OneCustomer>(
            reqwest::Method::GET,
            &format!(
                "/admin/customers/{}?fields=id,email,first_name,last_name,phone,*addresses",
                enc(id)
            ),
            None,
        ) {
            Ok(c) => Ok(Some(c.customer)),
            Err(Failure::Status(404, _)) => Ok(None),
            Err(f) => Err(classify(f)),
        }
    }

    fn snapshot(&self, o: WireOrder) -> Result<Snapshot, PlatformError> {
        let wire_customer = match &o.customer_id {
            Some(id) => self.customer_by_id(id)?,
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

    fn cancel(&self, o: &WireOrder) -> Result<Outcome, PlatformError> {
        let ids = vec![PlatformId {
            kind: "order".into(),
            id: o.id.clone(),
        }];
        if o.status == "canceled" {
            // Cancelled already (a retry, or the team): the customer's wish holds.
            return Ok(Outcome::Done { ids, already: true });
        }
        let _: serde::de::IgnoredAny =
            self.post(&format!("/admin/orders/{}/cancel", enc(&o.id)), json!({}))?;
        Ok(Outcome::Done {
            ids,
            already: false,
        })
    }

    fn change_address(&self, o: &WireOrder, a: &Address) -> Result<Outcome, PlatformError> {
        let (first_name, last_name) = o
            .shipping_address
            .as_ref()
            .map(|s| (s.first_name.clone(), s.last_name.clone()))
            .unwrap_or_default();
        let body = json!({"shipping_address": {
            "first_name": first_name, "last_name": last_name,
            "address_1": a.line1, "address_2": a.line2.clone().unwrap_or_default(),
            "city": a.city, "province": a.region, "postal_code": a.postcode,
            "country_code": country_code(&a.country),
        }});
        let _: serde::de::IgnoredAny = self.post(&format!("/admin/orders/{}", enc(&o.id)), body)?;
        Ok(Outcome::Done {
            ids: vec![PlatformId {
                kind: "order".into(),
                id: o.id.clone(),
            }],
            already: false,
        })
    }

    fn request_return(
        &self,
        o: &WireOrder,
        key: &str,
        item_ids: &[String],
    ) -> Result<Outcome, PlatformError> {
        // The same key again: the return opened then (a repeated "yes" or a retry).
        if let Some(r) = o
            .returns
            .iter()
            .find(|r| r.metadata.shopkeep_key.as_deref() == Some(key) && r.status != "canceled")
        {
            if r.status != "open" {
                return Ok(Outcome::Done {
                    ids: return_ids(o, &r.id),
                    already: true,
                });
            }
            // Left half-built by an earlier attempt: withdraw it and start again.
            self.withdraw_return(&r.id);
        }
        let items = return_lines(o, item_ids)?;
        let location = o
            .fulfillments
            .iter()
            .find(|f| f.canceled_at.is_none())
            .and_then(|f| f.location_id.clone());
        let Some(location) = location else {
            return Err(refused(
                RefusalReason::NotReturnable,
                "nothing on the order was fulfilled",
            ));
        };
        let option = self.return_option(&location)?;
        let created: ReturnCreated = self.post("/admin/returns", json!({"order_id": o.id, "location_id": location, "metadata": {"shopkeep_key": key}, "description": "Requested through shopkeep"}))?;
        let id = created.r#return.id;
        let finish = || -> Result<(), PlatformError> {
            let lines: Vec<serde_json::Value> = items
                .iter()
                .map(|(id, q)| json!({"id": id, "quantity": q}))
                .collect();
            let _: serde::de::IgnoredAny = self.post(
                &format!("/admin/returns/{}/request-items", enc(&id)),
                json!({ "items": lines }),
            )?;
            let _: serde::de::IgnoredAny = self.post(
                &format!("/admin/returns/{}/shipping-method", enc(&id)),
                json!({ "shipping_option_id": option }),
            )?;
            let _: serde::de::IgnoredAny =
                self.post(&format!("/admin/returns/{}/request", enc(&id)), json!({}))?;
            Ok(())
        };
        if let Err(e) = finish() {
            // Nothing half-done: a return Medusa holds open would block the order's next change.
            self.withdraw_return(&id);
            return Err(e);
        }
        Ok(Outcome::Done {
            ids: return_ids(o, &id),
            already: false,
        })
    }

    fn withdraw_return(&self, id: &str) {
        if let Err(e) = self.call::<serde::de::IgnoredAny>(
            reqwest::Method::DELETE,
            &format!("/admin/returns/{}/request", enc(id)),
            None,
        ) {
            tracing::warn!(return_id = id, error = ?e, "could not withdraw a half-built Medusa return");
        }
    }

    /// A return shipping option the location serves: one whose `is_return` rule is "true". (The
    /// list's own `is_return` filter is accepted by the validator but fails in the query, 2.21.)
    fn return_option(&self, location: &str) -> Result<String, PlatformError> {
        let list: OptionList = self.get(&format!(
            "/admin/shipping-options?stock_location_id={}&fields=id,name,*rules&limit=100",
            enc(location)
        ))?;
        list.shipping_options
            .into_iter()
            .find(OptionRef::is_return)
            .map(|o| o.id)
            .ok_or_else(|| PlatformError::Refused {
                platform: NAME,
                refusal: Refusal {
                    reason: RefusalReason::Other,
                    message: format!("no return shipping option at location {location}"),
                },
            })
    }
}

fn return_ids(o: &WireOrder, return_id: &str) -> Vec<PlatformId> {
    vec![
        PlatformId {
            kind: "order".into(),
            id: o.id.clone(),
        },
        PlatformId {
            kind: "return".into(),
            id: return_id.to_string(),
        },
    ]
}

fn refused(reason: RefusalReason, message: &str) -> PlatformError {
    PlatformError::Refused {
        platform: NAME,
        refusal: Refusal {
            reason,
            message: message.to_string(),
        },
    }
}

impl Platform for Medusa {
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
        let list: CustomerList = self.get(&format!(
            "/admin/customers?email={}&fields=id,email,first_name,last_name,phone,*addresses",
            enc(&wanted)
        ))?;
        Ok(list
            .customers
            .iter()
            .find(|c| {
                c.email
                    .as_deref()
                    .map(crate::orders::normalise_email)
                    .as_deref()
                    == Some(wanted.as_str())
            })
            .map(map_customer))
    }

    fn customer(&self, id: &str) -> Result<Option<Customer>, PlatformError> {
        if id.starts_with("medusa-guest:") {
            return Ok(None);
        }
        Ok(self.customer_by_id(id)?.map(|c| map_customer(&c)))
    }

    fn orders_for_customer(&self, customer_id: &str) -> Result<Vec<Order>, PlatformError> {
        let list: OrderList = self.get(&format!(
            "/admin/orders?customer_id={}&fields=id,display_id&order=-created_at&limit=50",
            enc(customer_id)
        ))?;
        let mut out = Vec::new();
        for o in &list.orders {
            match self.order_by_id(&o.id).and_then(|w| map_order(&w)) {
                Ok(order) => out.push(order),
                // One order shopkeep cannot read must not hide the customer's others.
                Err(e @ PlatformError::Protocol { .. }) => {
                    tracing::warn!(order = %o.id, error = %e, "skipping a Medusa order shopkeep cannot read")
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    fn products(&self, ids: &[String]) -> Result<Vec<Product>, PlatformError> {
        let query: String = ids.iter().map(|id| format!("id[]={}&", enc(id))).collect();
        let list: ProductList = self.get(&format!(
            "/admin/products?{query}fields={PRODUCT_FIELDS}&limit={}",
            ids.len().max(1)
        ))?;
        Ok(list.products.iter().map(map_product).collect())
    }

    fn carry_out(&self, op: &Operation) -> Result<Outcome, PlatformError> {
        let Some(o) = self.find_order(&op.order)? else {
            return Err(refused(
                RefusalReason::OrderNotFound,
                &format!("no order {}", op.order),
            ));
        };
        match &op.kind {
            OperationKind::Cancel { .. } => self.cancel(&o),
            OperationKind::Return { item_ids } => self.request_return(&o, &op.key, item_ids),
            OperationKind::ChangeAddress { address } => self.change_address(&o, address),
            OperationKind::ChangeItems { .. } => Ok(Outcome::StaffTask {
                why: "change_order_items is not done through Medusa's API by shopkeep yet".into(),
            }),
            OperationKind::Other { what } => Ok(Outcome::StaffTask {
                why: format!("{what} is not done through Medusa's API by shopkeep yet"),
            }),
        }
    }

    fn order_by_platform_id(&self, id: &str) -> Result<Option<Snapshot>, PlatformError> {
        if !id.starts_with("order_") {
            return Ok(None);
        }
        match self.call::<OneOrder>(
            reqwest::Method::GET,
            &format!("/admin/orders/{}?fields={ORDER_FIELDS}", enc(id)),
            None,
        ) {
            Ok(one) => self.snapshot(one.order).map(Some),
            Err(Failure::Status(404, _)) => Ok(None),
            Err(f) => Err(classify(f)),
        }
    }
}

/// Turns a failed exchange into a typed error: Medusa's `{type, message}` refusals into reasons.
fn classify(f: Failure) -> PlatformError {
    match f {
        Failure::Transport(detail) => PlatformError::Unreachable {
            platform: NAME,
            detail,
        },
        Failure::Decode(detail) => PlatformError::Protocol {
            platform: NAME,
            detail,
        },
        Failure::Status(status @ (401 | 403), _) => PlatformError::Auth {
            platform: NAME,
            status,
        },
        Failure::Status(status, body) if status >= 500 => PlatformError::Unreachable {
            platform: NAME,
            detail: format!(
                "HTTP {status}: {}",
                body.chars().take(300).collect::<String>()
            ),
        },
        Failure::Status(status, body) => {
            let err: WireError = serde_json::from_str(&body).unwrap_or_default();
            let message = if err.message.is_empty() {
                format!(
                    "HTTP {status}: {}",
                    body.chars().take(300).collect::<String>()
                )
            } else {
                err.message
            };
            let m = message.to_lowercase();
            let reason = if status == 404 {
                RefusalReason::OrderNotFound
            } else if m.contains("must be canceled before canceling")
                || m.contains("cannot cancel a completed order")
                || m.contains("fulfilled") && m.contains("cannot")
            {
                RefusalReason::AlreadyFulfilled
            } else if m.contains("has been canceled")
                || m.contains("is already canceled")
                || m.contains("already been canceled")
            {
                RefusalReason::AlreadyCancelled
            } else if m.contains("active order change")
                || m.contains("order change") && m.contains("active")
            {
                RefusalReason::ChangeInProgress
            } else if m.contains("return")
                && (m.contains("quantity") || m.contains("fulfilled") || m.contains("delivered"))
            {
                RefusalReason::NotReturnable
            } else {
                RefusalReason::Other
            };
            PlatformError::Refused {
                platform: NAME,
                refusal: Refusal { reason, message },
            }
        }
    }
}

/// "#1001", "1001", "order 1001" → 1001; anything else is not a Medusa display id.
fn display_id(number: &str) -> Option<u64> {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    let rest_ok = number
        .chars()
        .all(|c| c.is_ascii_digit() || c == '#' || c.is_whitespace());
    if !rest_ok || digits.is_empty() || digits.len() > 12 {
        return None;
    }
    digits.parse().ok()
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

fn base64(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn cents(amount: f64) -> i64 {
    (amount * 100.0).round() as i64
}

fn when(s: &Option<String>) -> Option<OffsetDateTime> {
    s.as_deref()
        .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
}

fn country_code(country: &str) -> String {
    match country.trim().to_lowercase().as_str() {
        "" | "us" | "usa" | "united states" | "united states of america" => "us".into(),
        other if other.len() == 2 => other.into(),
        other => other.chars().take(2).collect(),
    }
}

/// The id a line or variant is known by: its SKU, else its Medusa id.
fn item_id(sku: &Option<String>, variant_id: &Option<String>, fallback: &str) -> String {
    sku.clone()
        .filter(|s| !s.is_empty())
        .or_else(|| variant_id.clone())
        .unwrap_or_else(|| fallback.to_string())
}

fn map_address(a: &WireAddress) -> Address {
    Address {
        line1: a.address_1.clone().unwrap_or_default(),
        line2: a.address_2.clone().filter(|s| !s.is_empty()),
        city: a.city.clone().unwrap_or_default(),
        region: a.province.clone().unwrap_or_default(),
        postcode: a.postal_code.clone().unwrap_or_default(),
        country: a.country_code.clone().unwrap_or_default().to_uppercase(),
    }
}

fn map_customer(c: &WireCustomer) -> Customer {
    let default = c
        .addresses
        .iter()
        .find(|a| a.is_default_shipping)
        .or(c.addresses.first());
    Customer {
        id: c.id.clone(),
        first_name: c.first_name.clone().unwrap_or_default(),
        last_name: c.last_name.clone().unwrap_or_default(),
        email: c.email.clone().unwrap_or_default(),
        phone: c.phone.clone(),
        default_address: default.map(map_address),
        payment_methods: Vec::new(),
    }
}

/// A guest checkout has no customer record: the order's email and address stand in for one.
fn guest(o: &WireOrder) -> Customer {
    let a = o.shipping_address.as_ref();
    Customer {
        id: format!(
            "medusa-guest:{}",
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

/// The payment providers an order was paid through, as the customer's methods.
fn methods_of(o: &WireOrder) -> Vec<PaymentMethod> {
    let mut out: Vec<PaymentMethod> = Vec::new();
    for p in o.payment_collections.iter().flat_map(|c| &c.payments) {
        let id = method_id(&p.provider_id);
        if !out.iter().any(|m| m.id == id) {
            let kind = if p.provider_id.contains("paypal") {
                PaymentMethodKind::Paypal
            } else if p.provider_id.contains("stripe") {
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
    }
    out
}

fn method_id(provider: &str) -> String {
    format!("medusa:{provider}")
}

/// The status a customer is told, from Medusa's order, fulfilment and payment statuses and its
/// returns. Packed but not handed to the carrier is still "processing": nothing has shipped.
fn status_of(o: &WireOrder) -> OrderStatus {
    if o.status == "canceled" {
        return OrderStatus::Cancelled;
    }
    let returns: Vec<&WireReturn> = o
        .returns
        .iter()
        .filter(|r| !matches!(r.status.as_str(), "canceled" | "open"))
        .collect();
    if !returns.is_empty() {
        let ordered: f64 = o.items.iter().map(|i| i.quantity).sum();
        let back: f64 = o
            .items
            .iter()
            .filter_map(|i| i.detail.as_ref())
            .map(|d| d.return_received_quantity)
            .sum();
        if returns.iter().any(|r| r.status == "requested") {
            return OrderStatus::ReturnRequested;
        }
        return if back >= ordered {
            OrderStatus::Returned
        } else {
            OrderStatus::PartiallyReturned
        };
    }
    match o.fulfillment_status.as_deref() {
        Some("delivered") => OrderStatus::Delivered,
        Some("shipped" | "partially_shipped" | "partially_delivered") => OrderStatus::Shipped,
        _ => match o.payment_status.as_deref() {
            Some(
                "captured"
                | "authorized"
                | "partially_captured"
                | "partially_authorized"
                | "partially_refunded",
            ) => OrderStatus::Processing,
            _ => OrderStatus::Pending,
        },
    }
}

fn map_order(o: &WireOrder) -> Result<Order, PlatformError> {
    let customer_id = o.customer_id.clone().unwrap_or_else(|| guest(o).id);
    let line_item = |line_id: &str| {
        o.items
            .iter()
            .find(|i| i.id == line_id)
            .map(|i| item_id(&i.variant_sku, &i.variant_id, &i.id))
    };
    let cancelled = o.status == "canceled";
    let items = o
        .items
        .iter()
        .map(|i| {
            let d = i.detail.clone().unwrap_or_default();
            let status = if cancelled {
                ItemStatus::Cancelled
            } else if d.return_received_quantity >= i.quantity && i.quantity > 0.0 {
                ItemStatus::Returned
            } else if d.return_requested_quantity + d.return_received_quantity >= i.quantity
                && i.quantity > 0.0
            {
                ItemStatus::ReturnRequested
            } else {
                ItemStatus::Ordered
            };
            OrderItem {
                item_id: item_id(&i.variant_sku, &i.variant_id, &i.id),
                product_id: i.product_id.clone().unwrap_or_default(),
                name: i.product_title.clone().unwrap_or_else(|| i.title.clone()),
                options: i.variant_option_values.clone().unwrap_or_default(),
                price_cents: cents(i.unit_price),
                quantity: i.quantity.round().max(0.0) as u32,
                final_sale: false,
                status,
            }
        })
        .collect();
    let mut payments = Vec::new();
    for p in o.payment_collections.iter().flat_map(|c| &c.payments) {
        if p.captured_at.is_some() {
            payments.push(Payment {
                kind: TransactionKind::Payment,
                amount_cents: cents(p.amount),
                payment_method_id: method_id(&p.provider_id),
                at: when(&p.captured_at),
            });
        }
        for r in &p.refunds {
            payments.push(Payment {
                kind: TransactionKind::Refund,
                amount_cents: cents(r.amount),
                payment_method_id: method_id(&p.provider_id),
                at: when(&r.created_at),
            });
        }
    }
    let fulfilments = o
        .fulfillments
        .iter()
        .filter(|f| f.canceled_at.is_none() && f.shipped_at.is_some())
        .map(|f| {
            let label = f.labels.first();
            Fulfilment {
                carrier: f.metadata.carrier.clone(),
                service: o.shipping_methods.first().map(|m| m.name.clone()),
                tracking_number: label.map(|l| l.tracking_number.clone()).unwrap_or_default(),
                tracking_url: label
                    .and_then(|l| l.tracking_url.clone())
                    .filter(|u| !u.is_empty()),
                item_ids: f
                    .items
                    .iter()
                    .filter_map(|fi| fi.line_item_id.as_deref().and_then(line_item))
                    .collect(),
                shipped_at: when(&f.shipped_at),
                estimated_delivery: None,
                delivered_at: when(&f.delivered_at),
                events: Vec::new(),
            }
        })
        .collect();
    let original = o
        .payment_collections
        .iter()
        .flat_map(|c| &c.payments)
        .next()
        .map(|p| method_id(&p.provider_id))
        .unwrap_or_default();
    let returns = o
        .returns
        .iter()
        .filter(|r| !matches!(r.status.as_str(), "canceled" | "open"))
        .map(|r| ReturnRecord {
            number: r.id.clone(),
            item_ids: r
                .items
                .iter()
                .filter_map(|ri| line_item(&ri.item_id))
                .collect(),
            status: match r.status.as_str() {
                "received" | "partially_received" => ReturnStatus::Received,
                _ => ReturnStatus::Requested,
            },
            refund_method: original.clone(),
            refund_cents: r.refund_amount.map(cents).unwrap_or_else(|| {
                r.items
                    .iter()
                    .map(|ri| {
                        o.items
                            .iter()
                            .find(|i| i.id == ri.item_id)
                            .map_or(0, |i| cents(i.unit_price * ri.quantity))
                    })
                    .sum()
            }),
            created_at: when(&r.created_at),
        })
        .collect();
    if o.display_id == 0 {
        return Err(PlatformError::Protocol {
            platform: NAME,
            detail: format!("order {} has no display id", o.id),
        });
    }
    Ok(Order {
        number: format!("#{}", o.display_id),
        customer_id,
        status: status_of(o),
        created_at: when(&o.created_at),
        items,
        subtotal_cents: cents(o.item_subtotal.unwrap_or(o.subtotal.unwrap_or(0.0))),
        shipping_cents: cents(o.shipping_total.unwrap_or(0.0)),
        tax_cents: cents(o.tax_total.unwrap_or(0.0)),
        total_cents: cents(o.total.unwrap_or(0.0)),
        shipping_method: o.shipping_methods.first().map(|m| m.name.clone()),
        shipping_address: o.shipping_address.as_ref().map(map_address),
        payments,
        fulfilments,
        returns,
        exchanges: Vec::new(),
    })
}

/// The order lines (Medusa line ids, quantities) a return of these item ids covers: each id takes
/// the next line with that item that still has units to return.
fn return_lines(o: &WireOrder, item_ids: &[String]) -> Result<Vec<(String, u32)>, PlatformError> {
    let mut out: Vec<(String, u32)> = Vec::new();
    for want in item_ids {
        let line = o.items.iter().find(|i| {
            let d = i.detail.clone().unwrap_or_default();
            let open =
                d.fulfilled_quantity - d.return_requested_quantity - d.return_received_quantity;
            item_id(&i.variant_sku, &i.variant_id, &i.id) == *want
                && open > 0.0
                && !out.iter().any(|(id, _)| *id == i.id)
        });
        match line {
            Some(i) => {
                let d = i.detail.clone().unwrap_or_default();
                out.push((
                    i.id.clone(),
                    (d.fulfilled_quantity
                        - d.return_requested_quantity
                        - d.return_received_quantity)
                        .round() as u32,
                ));
            }
            None => {
                return Err(refused(
                    RefusalReason::NotReturnable,
                    &format!("no fulfilled line of {want} left to return"),
                ))
            }
        }
    }
    Ok(out)
}

/// Units that can be sold now: across every location, stocked less reserved, and for a variant
/// made of several inventory items, as many as the scarcest allows.
fn available_units(v: &WireVariant) -> Option<i64> {
    v.inventory_items
        .iter()
        .map(|i| {
            let free: f64 = i
                .inventory
                .location_levels
                .iter()
                .map(|l| l.stocked_quantity - l.reserved_quantity)
                .sum();
            (free / i.required_quantity.unwrap_or(1.0).max(1.0))
                .floor()
                .max(0.0) as i64
        })
        .min()
}

fn map_product(p: &WireProduct) -> Product {
    let mut options: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for o in &p.options {
        options.insert(
            o.title.clone(),
            o.values.iter().map(|v| v.value.clone()).collect(),
        );
    }
    let variants = p
        .variants
        .iter()
        .map(|v| {
            let mut opts = BTreeMap::new();
            for vo in &v.options {
                let name = vo.option.as_ref().map(|o| o.title.clone()).or_else(|| {
                    p.options
                        .iter()
                        .find(|o| Some(&o.id) == vo.option_id.as_ref())
                        .map(|o| o.title.clone())
                });
                if let Some(name) = name {
                    opts.insert(name, vo.value.clone());
                }
            }
            // The store's currency is the product's first price; a multi-currency store would
            // pick its region's here.
            let price = v.prices.first().map_or(0, |pr| cents(pr.amount));
            Variant {
                item_id: item_id(&v.sku, &Some(v.id.clone()), &v.id),
                product_id: p.id.clone(),
                options: opts,
                price_cents: price,
                available: p.status.as_deref().is_none_or(|s| s == "published"),
                stock: if v.manage_inventory.unwrap_or(false) {
                    available_units(v)
                } else {
                    None
                },
            }
        })
        .collect();
    Product {
        id: p.id.clone(),
        name: p.title.clone(),
        category: p
            .categories
            .first()
            .map(|c| c.name.clone())
            .unwrap_or_default(),
        description: p.description.clone().unwrap_or_default(),
        tags: p.tags.iter().map(|t| t.value.to_lowercase()).collect(),
        attributes: BTreeMap::new(),
        options,
        variants,
        url: None,
    }
}

// The Admin API's shapes, as far as shopkeep reads them (unknown fields are ignored). Medusa
// sends `null` for an empty list or a record without metadata as often as it leaves them out,
// so every list and nested record reads `null` as empty.

fn null_default<'de, D: serde::Deserializer<'de>, T: Default + Deserialize<'de>>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Default, Deserialize)]
struct WireError {
    #[serde(default)]
    message: String,
}

#[derive(Debug, Deserialize)]
struct OrderList {
    #[serde(default)]
    #[serde(deserialize_with = "null_default")]
    orders: Vec<OrderRef>,
}

#[derive(Debug, Deserialize)]
struct OrderRef {
    id: String,
    #[serde(default)]
    display_id: u64,
}

#[derive(Debug, Deserialize)]
struct OneOrder {
    order: WireOrder,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WireOrder {
    id: String,
    display_id: u64,
    status: String,
    email: Option<String>,
    customer_id: Option<String>,
    created_at: Option<String>,
    total: Option<f64>,
    subtotal: Option<f64>,
    item_subtotal: Option<f64>,
    shipping_total: Option<f64>,
    tax_total: Option<f64>,
    payment_status: Option<String>,
    fulfillment_status: Option<String>,
    #[serde(deserialize_with = "null_default")]
    items: Vec<WireItem>,
    shipping_address: Option<WireAddress>,
    #[serde(deserialize_with = "null_default")]
    shipping_methods: Vec<WireShippingMethod>,
    #[serde(deserialize_with = "null_default")]
    payment_collections: Vec<WirePaymentCollection>,
    #[serde(deserialize_with = "null_default")]
    fulfillments: Vec<WireFulfillment>,
    #[serde(deserialize_with = "null_default")]
    returns: Vec<WireReturn>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WireItem {
    id: String,
    title: String,
    product_id: Option<String>,
    product_title: Option<String>,
    variant_id: Option<String>,
    variant_sku: Option<String>,
    variant_option_values: Option<BTreeMap<String, String>>,
    unit_price: f64,
    quantity: f64,
    detail: Option<WireItemDetail>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WireItemDetail {
    fulfilled_quantity: f64,
    return_requested_quantity: f64,
    return_received_quantity: f64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WireAddress {
    first_name: Option<String>,
    last_name: Option<String>,
    address_1: Option<String>,
    address_2: Option<String>,
    city: Option<String>,
    province: Option<String>,
    postal_code: Option<String>,
    country_code: Option<String>,
    is_default_shipping: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WireShippingMethod {
    name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WirePaymentCollection {
    #[serde(deserialize_with = "null_default")]
    payments: Vec<WirePayment>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WirePayment {
    amount: f64,
    provider_id: String,
    captured_at: Option<String>,
    #[serde(deserialize_with = "null_default")]
    refunds: Vec<WireRefund>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WireRefund {
    amount: f64,
    created_at: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WireFulfillment {
    location_id: Option<String>,
    shipped_at: Option<String>,
    delivered_at: Option<String>,
    canceled_at: Option<String>,
    #[serde(deserialize_with = "null_default")]
    labels: Vec<WireLabel>,
    #[serde(deserialize_with = "null_default")]
    items: Vec<WireFulfillmentItem>,
    #[serde(deserialize_with = "null_default")]
    metadata: FulfillmentMetadata,
}

/// The carrier, where the store's fulfilment provider (or its staff) records one.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct FulfillmentMetadata {
    carrier: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WireLabel {
    tracking_number: String,
    tracking_url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WireFulfillmentItem {
    line_item_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WireReturn {
    id: String,
    status: String,
    created_at: Option<String>,
    refund_amount: Option<f64>,
    #[serde(deserialize_with = "null_default")]
    items: Vec<WireReturnItem>,
    #[serde(deserialize_with = "null_default")]
    metadata: ReturnMetadata,
}

/// shopkeep's idempotency key on a return it opened.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct ReturnMetadata {
    shopkeep_key: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WireReturnItem {
    item_id: String,
    quantity: f64,
}

#[derive(Debug, Deserialize)]
struct ReturnCreated {
    r#return: ReturnRef,
}

#[derive(Debug, Deserialize)]
struct ReturnRef {
    id: String,
}

#[derive(Debug, Deserialize)]
struct OneCustomer {
    customer: WireCustomer,
}

#[derive(Debug, Deserialize)]
struct CustomerList {
    #[serde(default)]
    #[serde(deserialize_with = "null_default")]
    customers: Vec<WireCustomer>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WireCustomer {
    id: String,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    phone: Option<String>,
    #[serde(deserialize_with = "null_default")]
    addresses: Vec<WireAddress>,
}

#[derive(Debug, Deserialize)]
struct OptionList {
    #[serde(default)]
    #[serde(deserialize_with = "null_default")]
    shipping_options: Vec<OptionRef>,
}

#[derive(Debug, Deserialize)]
struct OptionRef {
    id: String,
    #[serde(default)]
    #[serde(deserialize_with = "null_default")]
    rules: Vec<OptionRule>,
}

impl OptionRef {
    fn is_return(&self) -> bool {
        self.rules
            .iter()
            .any(|r| r.attribute == "is_return" && r.value == "true")
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OptionRule {
    attribute: String,
    value: String,
}

#[derive(Debug, Deserialize)]
struct ProductList {
    #[serde(default)]
    #[serde(deserialize_with = "null_default")]
    products: Vec<WireProduct>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WireProduct {
    id: String,
    title: String,
    description: Option<String>,
    status: Option<String>,
    #[serde(deserialize_with = "null_default")]
    tags: Vec<WireTag>,
    #[serde(deserialize_with = "null_default")]
    categories: Vec<WireCategory>,
    #[serde(deserialize_with = "null_default")]
    options: Vec<WireOption>,
    #[serde(deserialize_with = "null_default")]
    variants: Vec<WireVariant>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WireTag {
    value: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WireCategory {
    name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WireOption {
    id: String,
    title: String,
    #[serde(deserialize_with = "null_default")]
    values: Vec<WireOptionValue>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WireOptionValue {
    value: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WireVariant {
    id: String,
    sku: Option<String>,
    #[serde(deserialize_with = "null_default")]
    options: Vec<WireVariantOption>,
    #[serde(deserialize_with = "null_default")]
    prices: Vec<WirePrice>,
    manage_inventory: Option<bool>,
    #[serde(deserialize_with = "null_default")]
    inventory_items: Vec<WireVariantInventory>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WireVariantInventory {
    required_quantity: Option<f64>,
    #[serde(deserialize_with = "null_default")]
    inventory: WireInventory,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WireInventory {
    #[serde(deserialize_with = "null_default")]
    location_levels: Vec<WireLevel>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WireLevel {
    stocked_quantity: f64,
    reserved_quantity: f64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WireVariantOption {
    value: String,
    option_id: Option<String>,
    option: Option<WireOptionRef>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WireOptionRef {
    title: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WirePrice {
    amount: f64,
}

#[cfg(test)]
mod tests;
