//! Step: where the store's orders live, and who carries out a change to them. A [`Platform`] is
//! the seam between the assistant and guided actions on one side and the store's system of
//! record on the other:
//!
//! ```text
//! assistant ── refresh (each turn about an order) ──► Platform reads ──► the order store (a copy)
//! actions::plan::execute_via ── mirror_order ── policy checks ── settle ──► Platform::carry_out
//!                                                  the action log (ours) ◄── the platform's ids
//! ```
//!
//! - [`Embedded`]: orders live in this service's own [`OrderStore`] (the demo store, imports,
//!   τ-bench evaluation). Its writes are the store's own transaction in `actions::plan`.
//! - [`medusa::Medusa`]: a Medusa 2.x store through its Admin REST API.
//! - [`shopify::Shopify`]: a Shopify shop through its Admin GraphQL API (a pinned version),
//!   validated against Shopify's published schema rather than a live shop.
//! - [`woocommerce::WooCommerce`]: a WooCommerce store through its REST API v3; returns and
//!   exchanges are staff tasks with an order note (core WooCommerce has no returns API).
//! - [`refresh`] and [`mirror_order`]: a remote platform's records re-read into the order store,
//!   which then serves as the copy every other step reads (verification, planning, answers).
//! - [`settle`]: a confirmed plan carried out by a remote platform inside the action's
//!   transaction: the platform's refusal or absence rolls everything back; its ids are logged.
//! - [`events`]: the platform's signed "this order changed" events, checked and read.
//!
//! Each [`Operation`] carries the plan's idempotency key; a platform that cannot take the key
//! itself finds its earlier result by it (Medusa: the key in the return's metadata). An action
//! a platform cannot do by API becomes a staff task: prepared, logged as `staff_task`, the
//! customer told it waits for the team's approval, and never reported as done.
//!
//! This module does not decide what is allowed (that is `actions::policy`, on the fresh copy),
//! does not keep a full mirror (a turn re-reads what it needs; webhooks and events re-read what
//! they name, see [`Platform::webhook`] and [`mirror_target`]; there is no backfill or
//! reconciliation sweep yet), and does not move money itself: refunds are the platform's, as
//! part of its cancel or return.

pub mod events;
pub mod medusa;
pub mod shopify;
pub mod woocommerce;

use std::{
    collections::{HashSet, VecDeque},
    sync::Arc,
};

use crate::{
    actions::{Action, ActionError, Plan},
    orders::{
        Address, Customer, LoggedAction, Order, OrderError, OrderStore, OrderWriter, Product,
    },
};

/// Errors from a platform. [`PlatformError::code`] is stable for logs and API responses;
/// [`PlatformError::customer_text`] is what a customer is told.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// Nothing answered, or not in time, or the platform failed (5xx): nothing was changed by us.
    #[error("{platform} cannot be reached: {detail}")]
    Unreachable {
        platform: &'static str,
        detail: String,
    },
    /// The platform said no to this operation.
    #[error("{platform} refused: {} ({})", .refusal.reason.code(), .refusal.message)]
    Refused {
        platform: &'static str,
        refusal: Refusal,
    },
    /// The API key was not accepted (401/403): a configuration problem, not the customer's.
    #[error("{platform} did not accept shopkeep's API key (HTTP {status})")]
    Auth { platform: &'static str, status: u16 },
    /// An answer shopkeep does not understand (a changed API, a bug).
    #[error("{platform} answered unexpectedly: {detail}")]
    Protocol {
        platform: &'static str,
        detail: String,
    },
    #[error(transparent)]
    Store(#[from] OrderError),
}

impl PlatformError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unreachable { .. } => "platform.unreachable",
            Self::Refused { .. } => "platform.refused",
            Self::Auth { .. } => "platform.auth",
            Self::Protocol { .. } => "platform.protocol",
            Self::Store(_) => "platform.store",
        }
    }

    /// In plain words, for the customer; never the platform's internals.
    pub fn customer_text(&self, order: Option<&str>) -> String {
        match self {
            Self::Refused { refusal, .. } => refusal.reason.customer_text(order),
            Self::Unreachable { .. } | Self::Auth { .. } | Self::Protocol { .. } | Self::Store(_) => {
                "our order system can't be reached right now, so nothing was changed; please try again in a little while".into()
            }
        }
    }
}

/// Why a platform said no, as far as a customer needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalReason {
    /// Packed or shipped already: too late to cancel or change.
    AlreadyFulfilled,
    AlreadyCancelled,
    /// Nothing (or not those items) has been delivered, so there is nothing to return yet.
    NotReturnable,
    /// Another change to the order is open on the platform (a return or edit in progress).
    ChangeInProgress,
    /// The platform does not know the order (any more).
    OrderNotFound,
    /// Any other refusal; its message is kept for the log.
    Other,
}

impl RefusalReason {
    pub fn code(self) -> &'static str {
        match self {
            Self::AlreadyFulfilled => "already_fulfilled",
            Self::AlreadyCancelled => "already_cancelled",
            Self::NotReturnable => "not_returnable",
            Self::ChangeInProgress => "change_in_progress",
            Self::OrderNotFound => "order_not_found",
            Self::Other => "other",
        }
    }

    pub fn customer_text(self, order: Option<&str>) -> String {
        let o = order.map_or_else(|| "the order".to_string(), |n| format!("order {n}"));
        match self {
            Self::AlreadyFulfilled => format!("{o} has already been packed for shipping, so it can't be cancelled or changed any more; once it arrives you can return it instead"),
            Self::AlreadyCancelled => format!("{o} is already cancelled"),
            Self::NotReturnable => format!("those items of {o} can't be returned yet (they haven't been delivered, or a return is already open for them)"),
            Self::ChangeInProgress => format!("another change to {o} is already in progress, so this one has to wait until our team has finished it"),
            Self::OrderNotFound => format!("I couldn't find {o} in our order system"),
            Self::Other => format!("our order system didn't accept this change to {o}"),
        }
    }
}

/// A platform's refusal: the reason, and the platform's own message (for logs only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: RefusalReason,
    pub message: String,
}

/// An order with the customer it belongs to, as the platform has them now.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub order: Order,
    pub customer: Customer,
}

/// A change for the platform to carry out. `key` is the plan's idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub key: String,
    /// The order number as shopkeep shows it ("#1001").
    pub order: String,
    pub kind: OperationKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OperationKind {
    /// The whole order.
    Cancel {
        reason: Option<String>,
    },
    /// The order lines with these item ids (a repeated id: one more unit of that line).
    Return {
        item_ids: Vec<String>,
    },
    ChangeAddress {
        address: Address,
    },
    /// On an unfulfilled order: each line of `item_ids[i]` replaced by `new_item_ids[i]`.
    /// (Shopify edits the order; Medusa leaves it to the team.)
    ChangeItems {
        item_ids: Vec<String>,
        new_item_ids: Vec<String>,
    },
    /// Something the platforms here cannot do by API yet (exchanges, payment changes, a partial
    /// cancellation, an account's address): always a staff task.
    Other {
        what: &'static str,
    },
}

impl Operation {
    /// The operation a confirmed plan asks of the platform; `None` for a plan about no order.
    pub fn from_plan(plan: &Plan) -> Option<Self> {
        let order = plan.action.order()?.to_string();
        let kind = match &plan.action {
            Action::CancelOrder {
                reason, item_ids, ..
            } if item_ids.is_empty() => OperationKind::Cancel {
                reason: reason.clone(),
            },
            Action::ReturnItems { item_ids, .. } => OperationKind::Return {
                item_ids: item_ids.clone(),
            },
            Action::ChangeOrderAddress { address, .. } => OperationKind::ChangeAddress {
                address: address.clone(),
            },
            Action::ChangeOrderItems {
                item_ids,
                new_item_ids,
                ..
            } => OperationKind::ChangeItems {
                item_ids: item_ids.clone(),
                new_item_ids: new_item_ids.clone(),
            },
            other => OperationKind::Other { what: other.kind() },
        };
        Some(Self {
            key: plan.id.clone(),
            order,
            kind,
        })
    }
}

/// One of the platform's own ids for what it did ("return" → "return_01…").
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlatformId {
    pub kind: String,
    pub id: String,
}

/// What the platform did with an operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Carried out now, or found carried out earlier under the same key (`already`).
    Done { ids: Vec<PlatformId>, already: bool },
    /// Not possible by API: a person has to do it.
    StaffTask { why: String },
}

/// What a platform's webhook names for a re-read (the body is trusted for nothing more).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventTarget {
    /// An order, by the platform's own id.
    Order(String),
    /// A product, or something that leads to one (Shopify: an inventory item), by the
    /// platform's own id.
    Product(String),
    /// A topic shopkeep does not mirror: acknowledged and left.
    Nothing,
}

/// A verified webhook delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The platform's id of the event (Shopify: `X-Shopify-Event-Id`), the same on every retry.
    pub event_id: String,
    pub topic: String,
    pub target: EventTarget,
    /// The event was delivered before (a retry, or a second subscription).
    pub duplicate: bool,
}

/// Why a webhook delivery was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the signature does not match the body under the configured secret")]
    BadSignature,
    #[error("{0}")]
    Invalid(String),
}

/// Webhook event ids remembered for deduplication (Shopify retries a delivery for 48 hours).
const SEEN_EVENTS: usize = 20_000;

/// Recently seen webhook event ids, oldest first, at most [`SEEN_EVENTS`] (a connector's
/// deduplication of deliveries; in memory, so a restart forgets them: a redelivery is then
/// re-read once more, which is harmless).
#[derive(Debug, Default)]
pub struct SeenEvents {
    set: HashSet<String>,
    order: VecDeque<String>,
}

impl SeenEvents {
    /// `false` when `id` was seen already.
    pub fn insert(&mut self, id: &str) -> bool {
        if !self.set.insert(id.to_string()) {
            return false;
        }
        self.order.push_back(id.to_string());
        while self.order.len() > SEEN_EVENTS {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }

    pub fn forget(&mut self, id: &str) {
        if self.set.remove(id) {
            self.order.retain(|x| x != id);
        }
    }
}

/// Where orders live. Reads return `Ok(None)` (or an empty list) for "not there". Methods block
/// (a remote platform waits on HTTP): async callers run them on the blocking pool.
pub trait Platform: Send + Sync + std::fmt::Debug {
    /// "embedded", "medusa": for logs and the action log.
    fn name(&self) -> &'static str;
    /// Orders live in this service's own order store, so a change is written there directly
    /// (by `actions::plan::execute`) and there is nothing to refresh.
    fn is_embedded(&self) -> bool {
        false
    }
    /// By the number as a customer types it ("#1001", "1001").
    fn order(&self, number: &str) -> Result<Option<Snapshot>, PlatformError>;
    fn customer_by_email(&self, email: &str) -> Result<Option<Customer>, PlatformError>;
    /// By the platform's customer id (as orders name it).
    fn customer(&self, id: &str) -> Result<Option<Customer>, PlatformError>;
    /// Newest first.
    fn orders_for_customer(&self, customer_id: &str) -> Result<Vec<Order>, PlatformError>;
    /// These products (by id) with their variants, prices and stock; unknown ids are left out.
    fn products(&self, ids: &[String]) -> Result<Vec<Product>, PlatformError>;
    /// Carries out `op`, or finds it carried out already under `op.key`.
    fn carry_out(&self, op: &Operation) -> Result<Outcome, PlatformError>;
    /// By the platform's own id, as its change events name orders; `None` where there is none
    /// (or the platform sends no events).
    fn order_by_platform_id(&self, id: &str) -> Result<Option<Snapshot>, PlatformError> {
        let _ = id;
        Ok(None)
    }
    /// The products a change event names by the platform's own id (a product, or an inventory
    /// item of one); empty where there are none.
    fn products_named_by(&self, id: &str) -> Result<Vec<Product>, PlatformError> {
        let _ = id;
        Ok(Vec::new())
    }
    /// A webhook in the platform's own format (`header` looks up a request header by its
    /// lower-case name; `body` is the raw body): verified with `secret`, checked against the
    /// deliveries seen before, and what it names. `None` when the request is not in this
    /// platform's webhook format (the route then expects shopkeep's own signed `{event, id}`).
    fn webhook(
        &self,
        secret: &str,
        header: &dyn Fn(&str) -> Option<String>,
        body: &[u8],
    ) -> Option<Result<Delivery, WebhookError>> {
        let _ = (secret, header, body);
        None
    }
    /// A delivery accepted by [`Platform::webhook`] could not be processed: forget its event id,
    /// so the platform's retry is processed rather than skipped as a duplicate.
    fn forget_event(&self, event_id: &str) {
        let _ = event_id;
    }
}

/// The platform of a store whose orders live in shopkeep's own order store.
#[derive(Clone)]
pub struct Embedded {
    store: Arc<dyn OrderStore>,
}

impl std::fmt::Debug for Embedded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Embedded")
    }
}

impl Embedded {
    pub fn new(store: Arc<dyn OrderStore>) -> Self {
        Self { store }
    }
}

impl Platform for Embedded {
    fn name(&self) -> &'static str {
        "embedded"
    }

    fn is_embedded(&self) -> bool {
        true
    }

    fn order(&self, number: &str) -> Result<Option<Snapshot>, PlatformError> {
        let Some(order) = self.store.order(number)? else {
            return Ok(None);
        };
        let customer = self.store.customer(&order.customer_id)?.ok_or_else(|| {
            OrderError::UnknownCustomer {
                order: order.number.clone(),
                customer: order.customer_id.clone(),
            }
        })?;
        Ok(Some(Snapshot { order, customer }))
    }

    fn customer_by_email(&self, email: &str) -> Result<Option<Customer>, PlatformError> {
        Ok(self.store.customer_by_email(email)?)
    }

    fn customer(&self, id: &str) -> Result<Option<Customer>, PlatformError> {
        Ok(self.store.customer(id)?)
    }

    fn orders_for_customer(&self, customer_id: &str) -> Result<Vec<Order>, PlatformError> {
        Ok(self.store.orders_for_customer(customer_id)?)
    }

    fn products(&self, ids: &[String]) -> Result<Vec<Product>, PlatformError> {
        let mut out = Vec::new();
        for id in ids {
            out.extend(self.store.product(id)?);
        }
        Ok(out)
    }

    /// The embedded store's changes are made by `actions::plan::execute` in the store's own
    /// transaction (it has the records at hand), so nothing is ever sent here.
    fn carry_out(&self, op: &Operation) -> Result<Outcome, PlatformError> {
        Err(PlatformError::Protocol {
            platform: "embedded",
            detail: format!(
                "operation {} for order {} belongs in the order store's transaction",
                op.key, op.order
            ),
        })
    }
}

/// What a turn wants re-read from a remote platform before it is answered.
#[derive(Debug, Clone, Default)]
pub struct Want {
    pub order_numbers: Vec<String>,
    pub email: Option<String>,
    /// The verified customer: all their orders are re-read.
    pub customer_id: Option<String>,
}

/// How many records a refresh re-read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refreshed {
    pub orders: usize,
    pub customers: usize,
}

/// Re-reads what `want` names from `platform` into `store` (one transaction): the orders, their
/// customers and the products on them. An order number the platform does not know is left as it
/// is in the store (which, for a remote platform, holds only what was read before). A no-op for
/// the embedded platform.
pub fn refresh(
    platform: &dyn Platform,
    store: &dyn OrderStore,
    want: &Want,
) -> Result<Refreshed, PlatformError> {
    if platform.is_embedded() {
        return Ok(Refreshed::default());
    }
    let mut customers: Vec<Customer> = Vec::new();
    let mut orders: Vec<Order> = Vec::new();
    for n in &want.order_numbers {
        if let Some(s) = platform.order(n)? {
            push_customer(&mut customers, s.customer);
            orders.push(s.order);
        }
    }
    let mut ids: Vec<String> = want.customer_id.iter().cloned().collect();
    if let Some(email) = &want.email {
        if let Some(c) = platform.customer_by_email(email)? {
            ids.push(c.id.clone());
            push_customer(&mut customers, c);
        }
    }
    ids.sort();
    ids.dedup();
    for id in &ids {
        for o in platform.orders_for_customer(id)? {
            if !orders.iter().any(|x| x.number == o.number) {
                orders.push(o);
            }
        }
    }
    // Orders read by customer need their customer record; one read each.
    let missing: Vec<String> = orders
        .iter()
        .map(|o| o.customer_id.clone())
        .filter(|id| !customers.iter().any(|c| c.id == *id))
        .collect();
    for id in missing {
        if !customers.iter().any(|c| c.id == id) {
            match platform.customer(&id)? {
                Some(c) => push_customer(&mut customers, c),
                None => {
                    return Err(PlatformError::Protocol {
                        platform: platform.name(),
                        detail: format!("an order names customer {id}, who cannot be read"),
                    })
                }
            }
        }
    }
    // The ways a customer paid are whatever their orders were paid with: a platform's customer
    // record does not list them, and refunds name them.
    for c in customers.iter_mut() {
        for p in orders
            .iter()
            .filter(|o| o.customer_id == c.id)
            .flat_map(|o| &o.payments)
        {
            if c.payment_method(&p.payment_method_id).is_none() {
                c.payment_methods.push(crate::orders::PaymentMethod {
                    id: p.payment_method_id.clone(),
                    kind: crate::orders::PaymentMethodKind::Other,
                    brand: None,
                    last4: None,
                    balance_cents: None,
                });
            }
        }
    }
    let mut product_ids: Vec<String> = orders
        .iter()
        .flat_map(|o| o.items.iter().map(|i| i.product_id.clone()))
        .collect();
    product_ids.sort();
    product_ids.dedup();
    let products = if product_ids.is_empty() {
        Vec::new()
    } else {
        platform.products(&product_ids)?
    };
    let counts = Refreshed {
        orders: orders.len(),
        customers: customers.len(),
    };
    store.write(&mut |w| {
        for c in &customers {
            w.save_customer(c)?;
        }
        for p in &products {
            w.save_product(p)?;
        }
        for o in &orders {
            w.save_order(o)?;
        }
        Ok(())
    })?;
    Ok(counts)
}

/// Adds a customer once; a second read of the same one adds the payment methods it knows.
fn push_customer(list: &mut Vec<Customer>, c: Customer) {
    match list.iter_mut().find(|x| x.id == c.id) {
        Some(known) => {
            for m in c.payment_methods {
                if known.payment_method(&m.id).is_none() {
                    known.payment_methods.push(m);
                }
            }
        }
        None => list.push(c),
    }
}

/// Re-reads one order (with its customer and products) into the store, as `execute_via` does
/// before it checks a plan against it. The platform not knowing the order is a refusal.
pub fn mirror_order(
    platform: &dyn Platform,
    store: &dyn OrderStore,
    number: &str,
) -> Result<(), PlatformError> {
    let want = Want {
        order_numbers: vec![number.to_string()],
        ..Default::default()
    };
    match refresh(platform, store, &want)? {
        Refreshed { orders: 0, .. } => Err(PlatformError::Refused {
            platform: platform.name(),
            refusal: Refusal {
                reason: RefusalReason::OrderNotFound,
                message: format!("no order {number}"),
            },
        }),
        _ => Ok(()),
    }
}

/// Re-reads the order a platform's change event names (by the platform's own id) into the store;
/// `false` when the platform does not know it. The event itself is never trusted beyond the id.
pub fn mirror_event(
    platform: &dyn Platform,
    store: &dyn OrderStore,
    platform_id: &str,
) -> Result<bool, PlatformError> {
    if platform.is_embedded() {
        return Ok(false);
    }
    let Some(s) = platform.order_by_platform_id(platform_id)? else {
        return Ok(false);
    };
    mirror_order(platform, store, &s.order.number)?;
    Ok(true)
}

/// Re-reads what a verified webhook names into the store: an order (as [`mirror_event`]) or the
/// products named (saved over the copies). `false` when there was nothing to re-read.
pub fn mirror_target(
    platform: &dyn Platform,
    store: &dyn OrderStore,
    target: &EventTarget,
) -> Result<bool, PlatformError> {
    match target {
        EventTarget::Order(id) => mirror_event(platform, store, id),
        EventTarget::Product(id) => {
            let products = platform.products_named_by(id)?;
            if products.is_empty() {
                return Ok(false);
            }
            store.write(&mut |w| {
                for p in &products {
                    w.save_product(p)?;
                }
                Ok(())
            })?;
            Ok(true)
        }
        EventTarget::Nothing => Ok(false),
    }
}

/// What a remote platform made of a confirmed plan, for the action log and the customer.
#[derive(Debug, Clone)]
pub struct Settled {
    pub reference: String,
    pub confirmation: String,
    /// `executed`, or `staff_task` (prepared, waiting for a person).
    pub status: &'static str,
    pub platform_ids: Vec<PlatformId>,
    /// The order as the platform has it afterwards (saved in place of the local guess).
    pub order: Option<Order>,
}

/// Carries out a checked plan on a remote `platform`, inside the action's transaction `tx`:
/// an error (a refusal, no answer) is returned before anything is saved, so the transaction rolls
/// back and nothing is half-done on our side. `reference` and `confirmation` are what the local
/// change would have said; a platform id replaces the local reference where the platform made
/// one (a Medusa return). A staff task leaves the order as it is.
pub fn settle(
    platform: &dyn Platform,
    tx: &mut dyn OrderWriter,
    plan: &Plan,
    reference: String,
    confirmation: String,
) -> Result<Settled, ActionError> {
    let platform_error = |e: PlatformError| ActionError::Platform(e);
    let op = Operation::from_plan(plan);
    let outcome = match &op {
        Some(op) => platform.carry_out(op).map_err(platform_error)?,
        None => Outcome::StaffTask {
            why: format!(
                "{} is not an order change {} takes by API",
                plan.action.kind(),
                platform.name()
            ),
        },
    };
    match outcome {
        Outcome::Done { ids, .. } => {
            let fresh = match plan.action.order() {
                Some(n) => platform.order(n).map_err(platform_error)?,
                None => None,
            };
            if let Some(s) = &fresh {
                tx.save_customer(&s.customer)?;
            }
            let made = ids
                .iter()
                .find(|i| i.kind == "return")
                .map(|i| i.id.clone());
            let (reference, confirmation) = match made {
                Some(id) => (id.clone(), confirmation.replace(&reference, &id)),
                None => (reference, confirmation),
            };
            Ok(Settled {
                reference,
                confirmation,
                status: "executed",
                platform_ids: ids,
                order: fresh.map(|s| s.order),
            })
        }
        Outcome::StaffTask { why } => {
            tracing::info!(plan = %plan.id, %why, "prepared as a staff task");
            let confirmation = format!("I've prepared this for our team: {} It needs their approval, so nothing has changed yet; we'll let you know once it's done.", plan.summary.trim_end());
            Ok(Settled {
                reference,
                confirmation,
                status: "staff_task",
                platform_ids: Vec::new(),
                order: None,
            })
        }
    }
}

/// Whether a logged action was only prepared for a person (see [`settle`]).
pub fn is_staff_task(action: &LoggedAction) -> bool {
    action.status == "staff_task"
}

/// The platform the configuration names, over `store` for the embedded one.
pub fn from_config(
    cfg: &crate::config::PlatformConfig,
    store: Arc<dyn OrderStore>,
) -> Result<Arc<dyn Platform>, PlatformError> {
    match cfg.kind {
        crate::config::PlatformKind::Embedded => Ok(Arc::new(Embedded::new(store))),
        crate::config::PlatformKind::Medusa => Ok(Arc::new(medusa::Medusa::new(
            &cfg.url,
            &cfg.api_key,
            std::time::Duration::from_secs(cfg.timeout_secs),
        )?)),
        crate::config::PlatformKind::WooCommerce => Ok(Arc::new(woocommerce::WooCommerce::new(
            &cfg.url,
            &cfg.api_key,
            std::time::Duration::from_secs(cfg.timeout_secs),
        )?)),
        crate::config::PlatformKind::Shopify => Ok(Arc::new(shopify::Shopify::new(
            &cfg.url,
            &cfg.api_key,
            &cfg.api_version,
            std::time::Duration::from_secs(cfg.timeout_secs),
        )?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_event_ids_are_bounded_and_can_be_forgotten() {
        let mut s = SeenEvents::default();
        assert!(s.insert("e1"));
        assert!(!s.insert("e1"));
        s.forget("e1");
        assert!(s.insert("e1"));
        for i in 0..SEEN_EVENTS + 10 {
            s.insert(&format!("x{i}"));
        }
        assert_eq!(s.set.len(), SEEN_EVENTS);
        assert!(s.insert("e1"), "the oldest ids are dropped");
    }

    #[test]
    fn error_and_refusal_codes_are_stable() {
        let refused = PlatformError::Refused {
            platform: "medusa",
            refusal: Refusal {
                reason: RefusalReason::AlreadyFulfilled,
                message: "x".into(),
            },
        };
        assert_eq!(refused.code(), "platform.refused");
        assert_eq!(
            PlatformError::Unreachable {
                platform: "medusa",
                detail: "x".into()
            }
            .code(),
            "platform.unreachable"
        );
        assert_eq!(RefusalReason::ChangeInProgress.code(), "change_in_progress");
    }

    #[test]
    fn customers_are_told_plain_words_not_the_platforms_internals() {
        let e = PlatformError::Unreachable {
            platform: "medusa",
            detail: "connection refused (os error 111)".into(),
        };
        let text = e.customer_text(Some("#1001"));
        assert!(text.contains("nothing was changed"), "{text}");
        assert!(!text.contains("111"), "{text}");
        let refused = PlatformError::Refused {
            platform: "medusa",
            refusal: Refusal {
                reason: RefusalReason::AlreadyFulfilled,
                message: "All fulfillments must be canceled before canceling an order".into(),
            },
        };
        let text = refused.customer_text(Some("#1005"));
        assert!(
            text.contains("order #1005 has already been packed"),
            "{text}"
        );
        assert!(!text.contains("fulfillments"), "{text}");
    }

    #[test]
    fn only_whole_order_cancellations_returns_item_and_address_changes_go_to_the_platform() {
        let plan = |action: Action| Plan {
            id: "k1".into(),
            customer_id: "c".into(),
            action,
            summary: "s".into(),
            amount_cents: 0,
            grounds: Vec::new(),
        };
        let cancel = Operation::from_plan(&plan(Action::CancelOrder {
            order: "#1001".into(),
            reason: None,
            item_ids: vec![],
        }))
        .unwrap();
        assert_eq!(cancel.kind, OperationKind::Cancel { reason: None });
        assert_eq!(cancel.key, "k1");
        let partial = Operation::from_plan(&plan(Action::CancelOrder {
            order: "#1001".into(),
            reason: None,
            item_ids: vec!["A".into()],
        }))
        .unwrap();
        assert_eq!(
            partial.kind,
            OperationKind::Other {
                what: "cancel_order"
            }
        );
        let change = Operation::from_plan(&plan(Action::ChangeOrderItems {
            order: "#1001".into(),
            item_ids: vec!["A".into()],
            new_item_ids: vec!["B".into()],
            payment_method_id: "p".into(),
        }))
        .unwrap();
        assert_eq!(
            change.kind,
            OperationKind::ChangeItems {
                item_ids: vec!["A".into()],
                new_item_ids: vec!["B".into()]
            }
        );
        let exchange = Operation::from_plan(&plan(Action::ExchangeItems {
            order: "#1".into(),
            item_ids: vec![],
            new_item_ids: vec![],
            payment_method_id: "p".into(),
        }))
        .unwrap();
        assert_eq!(
            exchange.kind,
            OperationKind::Other {
                what: "exchange_items"
            }
        );
        assert!(Operation::from_plan(&plan(Action::ChangeDefaultAddress {
            address: Address::default()
        }))
        .is_none());
    }
}
