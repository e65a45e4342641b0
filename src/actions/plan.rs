//! From what the customer asked ([`Wish`]es) to exactly what will happen ([`Plan`]s), questions
//! for what is missing, and refusals with their reason; then carrying a confirmed plan out in one
//! transaction with its action-log entry, and an admin's reversal.
//!
//! Planning checks the policy and the customer's own orders only: an order of someone else is
//! never found. Execution checks everything again inside the transaction (the order may have
//! moved on since the customer was asked), and the plan's id is the idempotency key, so a
//! repeated "yes" or a retried request finds the first execution instead of acting twice.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use super::{
    policy::{Policy, RefundDestination, Refusal, Settlement},
    read::{AddrRef, Catalogue, ItemRef, PayRef, Target, Verb, Wish},
    text::Tok,
    variant::{choose, described_values, read_spec, Choice, Spec},
    ActionError,
};
use crate::money::Currency;
use crate::orders::{
    Address, Customer, ExchangeRecord, ExchangeStatus, ItemStatus, LoggedAction, Order, OrderError,
    OrderItem, OrderStatus, OrderStore, OrderStoreExt, OrderWriter, Payment, PaymentMethod,
    PaymentMethodKind, Product, ReturnRecord, ReturnStatus, TransactionKind, Variant,
};

/// A change to the store, with everything needed to carry it out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    ReturnItems {
        order: String,
        item_ids: Vec<String>,
        refund_method_id: String,
    },
    ExchangeItems {
        order: String,
        item_ids: Vec<String>,
        new_item_ids: Vec<String>,
        payment_method_id: String,
    },
    /// `item_ids` empty: the whole order.
    CancelOrder {
        order: String,
        reason: Option<String>,
        item_ids: Vec<String>,
    },
    ChangeOrderItems {
        order: String,
        item_ids: Vec<String>,
        new_item_ids: Vec<String>,
        payment_method_id: String,
    },
    ChangeOrderAddress {
        order: String,
        address: Address,
    },
    ChangeOrderPayment {
        order: String,
        payment_method_id: String,
    },
    ChangeDefaultAddress {
        address: Address,
    },
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ReturnItems { .. } => "return_items",
            Self::ExchangeItems { .. } => "exchange_items",
            Self::CancelOrder { .. } => "cancel_order",
            Self::ChangeOrderItems { .. } => "change_order_items",
            Self::ChangeOrderAddress { .. } => "change_order_address",
            Self::ChangeOrderPayment { .. } => "change_order_payment",
            Self::ChangeDefaultAddress { .. } => "change_default_address",
        }
    }

    pub fn order(&self) -> Option<&str> {
        match self {
            Self::ReturnItems { order, .. }
            | Self::ExchangeItems { order, .. }
            | Self::CancelOrder { order, .. }
            | Self::ChangeOrderItems { order, .. }
            | Self::ChangeOrderAddress { order, .. }
            | Self::ChangeOrderPayment { order, .. } => Some(order),
            Self::ChangeDefaultAddress { .. } => None,
        }
    }
}

/// An action ready to be confirmed: what will happen, in words and amounts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The idempotency key.
    pub id: String,
    pub customer_id: String,
    pub action: Action,
    /// Exactly what will happen, for the confirmation question.
    pub summary: String,
    /// Refund (negative) or charge (positive) this causes, in cents.
    pub amount_cents: i64,
    /// Where each slot of the action comes from (kept in the action log, shown on the desk).
    #[serde(default)]
    pub grounds: Vec<Ground>,
}

/// A slot of an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Slot {
    Order,
    Items,
    NewItems,
    Payment,
    Address,
    Reason,
}

/// Where a slot's value comes from. A slot that is neither said nor derived uniquely is asked
/// for, never guessed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum Source {
    /// The customer's own words.
    Said { words: String },
    /// Their data (and the policy) allow one value only: how.
    Derived { how: String },
}

/// One slot of a plan, its value and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ground {
    pub slot: Slot,
    pub value: String,
    #[serde(flatten)]
    pub source: Source,
}

impl Ground {
    fn said(slot: Slot, value: impl Into<String>, words: impl Into<String>) -> Self {
        Self {
            slot,
            value: value.into(),
            source: Source::Said {
                words: words.into().trim().to_string(),
            },
        }
    }

    fn derived(slot: Slot, value: impl Into<String>, how: impl Into<String>) -> Self {
        Self {
            slot,
            value: value.into(),
            source: Source::Derived { how: how.into() },
        }
    }
}

fn items_ground(w: &Wish, lines: &[&OrderItem]) -> Ground {
    let value = items_label(lines);
    if !w.items.is_empty() {
        let words: Vec<String> = w
            .items
            .iter()
            .map(|i| format!("{} {}", i.source.trim(), i.said).trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        return Ground::said(
            Slot::Items,
            value,
            if words.is_empty() {
                w.text.clone()
            } else {
                words.join("; ")
            },
        );
    }
    if w.except.is_empty() {
        Ground::derived(
            Slot::Items,
            value,
            "every open item of the order, as you asked for all of it",
        )
    } else {
        Ground::derived(
            Slot::Items,
            value,
            "every open item of the order except those you said to keep",
        )
    }
}

/// What planning one request produced.
#[derive(Debug, Clone)]
// A few steps are built per turn and moved once; boxing the plan would buy nothing measurable
// and cost a layer at every match.
#[allow(clippy::large_enum_variant)]
pub enum Step {
    Plan(Plan),
    /// Something is missing or ambiguous; the question lists the choices.
    Ask(String),
    Refuse(Refusal),
    /// Not set up because the customer hasn't decided; said, but no question that stops the rest.
    Hold(String),
}

/// How the order of a plan was found.
fn order_ground(w: &Wish, o: &Order) -> Ground {
    let key = crate::orders::normalise_order_number(&o.number);
    match w
        .orders
        .iter()
        .find(|n| crate::orders::normalise_order_number(n) == key)
    {
        Some(n) => Ground::said(Slot::Order, &o.number, n),
        None if w.all_orders => Ground::derived(
            Slot::Order,
            &o.number,
            format!(
                "you asked for all your orders it applies to; {} is one ({})",
                o.number,
                o.status.label().to_lowercase()
            ),
        ),
        None => Ground::derived(
            Slot::Order,
            &o.number,
            format!(
                "the only one of your orders that fits ({})",
                o.status.label().to_lowercase()
            ),
        ),
    }
}

/// How the payment method of a plan was found.
fn payment_ground(desk: &Desk, w: &Wish, id: &str, default_how: &str) -> Ground {
    let value = describe_method(desk.customer, id, desk.currency);
    match w.payment.first() {
        Some(r) => Ground::said(Slot::Payment, value, pay_words(r)),
        None => Ground::derived(Slot::Payment, value, default_how),
    }
}

fn pay_words(r: &PayRef) -> String {
    match r {
        PayRef::Id(id) => id.clone(),
        PayRef::Kind(k) => k.label().to_string(),
        PayRef::Brand(b) => b.clone(),
        PayRef::Original => "the original payment method".into(),
        PayRef::StoreCredit => "store credit".into(),
    }
}

fn address_ground(r: Option<&AddrRef>, a: &Address) -> Ground {
    match r {
        Some(AddrRef::Written(_)) => Ground::said(Slot::Address, a.one_line(), a.one_line()),
        Some(AddrRef::Default) => Ground::derived(
            Slot::Address,
            a.one_line(),
            "the default address on your account, as you said",
        ),
        Some(AddrRef::OfOrder(n)) => Ground::derived(
            Slot::Address,
            a.one_line(),
            format!("the address of order {n}, as you said"),
        ),
        Some(AddrRef::Place(words)) => Ground::derived(
            Slot::Address,
            a.one_line(),
            format!(
                "the only address of yours in {}",
                words.first().cloned().unwrap_or_default()
            ),
        ),
        None => Ground::derived(Slot::Address, a.one_line(), "unknown"),
    }
}

/// The customer's data the planner works on.
pub struct Desk<'a> {
    pub policy: &'a Policy,
    pub customer: &'a Customer,
    pub orders: &'a [Order],
    pub catalogue: &'a Catalogue<'a>,
    pub now: OffsetDateTime,
    /// What amounts in the plan's words are written in.
    pub currency: Currency,
    /// Logged actions per order number (address changes made, item-change locks).
    pub history: &'a HashMap<String, Vec<LoggedAction>>,
}

fn items_label(items: &[&OrderItem]) -> String {
    let names: Vec<String> = items.iter().map(|i| item_label(i)).collect();
    join_and(&names)
}

fn item_label(i: &OrderItem) -> String {
    if i.options.is_empty() {
        i.name.clone()
    } else {
        format!(
            "{} ({})",
            i.name,
            i.options.values().cloned().collect::<Vec<_>>().join(", ")
        )
    }
}

fn variant_label(name: &str, v: &Variant) -> String {
    format!(
        "{name} ({})",
        v.options.values().cloned().collect::<Vec<_>>().join(", ")
    )
}

fn join_and(xs: &[String]) -> String {
    match xs {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The payment method an order was paid with (its first payment).
pub fn original_method(order: &Order) -> Option<String> {
    order
        .payments
        .iter()
        .find(|p| p.kind == TransactionKind::Payment)
        .map(|p| p.payment_method_id.clone())
}

fn describe_method(customer: &Customer, id: &str, currency: Currency) -> String {
    if id == "store_credit" {
        return "store credit".into();
    }
    customer
        .payment_method(id)
        .map_or_else(|| id.to_string(), |m| m.describe(currency))
}

/// How often an order already had this kind of change, and whether an item change locked it.
fn changes_done(history: &HashMap<String, Vec<LoggedAction>>, order: &str, kind: &str) -> u32 {
    history.get(order).map_or(0, |h| {
        h.iter()
            .filter(|a| a.kind == kind && a.status == "executed")
            .count() as u32
    })
}

impl Desk<'_> {
    fn order(&self, number: &str) -> Option<&Order> {
        let key = crate::orders::normalise_order_number(number);
        self.orders
            .iter()
            .find(|o| crate::orders::normalise_order_number(&o.number) == key)
    }

    fn locked(&self, order: &str, planned: &Sim) -> bool {
        self.policy.changes.items_lock_order
            && (changes_done(self.history, order, "change_order_items") > 0
                || planned.items_changed.contains(order))
    }

    /// The method a customer's words name, among theirs.
    fn resolve_pay(&self, r: &PayRef, order: Option<&Order>) -> Result<String, String> {
        let methods = &self.customer.payment_methods;
        let pick = |f: &dyn Fn(&PaymentMethod) -> bool, what: &str| -> Result<String, String> {
            let found: Vec<&PaymentMethod> = methods.iter().filter(|m| f(m)).collect();
            // The one the order was paid with, when several fit.
            let original = order.and_then(original_method);
            match found.as_slice() {
                [one] => Ok(one.id.clone()),
                [] => Err(format!("I couldn't find a {what} on your account")),
                many => match many.iter().find(|m| Some(&m.id) == original.as_ref()) {
                    Some(m) => Ok(m.id.clone()),
                    None => Err(format!(
                        "you have several: {}. Which one should I use?",
                        many.iter()
                            .map(|m| m.describe(self.currency))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                },
            }
        };
        match r {
            PayRef::Id(id) => methods
                .iter()
                .find(|m| m.id == *id)
                .map(|m| m.id.clone())
                .ok_or_else(|| "that payment method isn't on your account".into()),
            PayRef::Kind(k) => pick(&|m| m.kind == *k, k.label()),
            PayRef::Brand(b) => pick(
                &|m| {
                    m.brand.as_deref().is_some_and(|x| {
                        x.eq_ignore_ascii_case(b)
                            || b == "amex" && x.eq_ignore_ascii_case("american express")
                    })
                },
                b,
            ),
            PayRef::Original => order
                .and_then(original_method)
                .ok_or_else(|| "I couldn't find how that order was paid".into()),
            PayRef::StoreCredit => Ok("store_credit".into()),
        }
    }

    fn address(&self, r: Option<&AddrRef>) -> Result<Address, String> {
        let known: Vec<Address> = self
            .customer
            .default_address
            .iter()
            .cloned()
            .chain(
                self.orders
                    .iter()
                    .filter_map(|o| o.shipping_address.clone()),
            )
            .collect();
        match r {
            Some(AddrRef::Written(a)) => Ok(a.clone()),
            Some(AddrRef::Default) => self.customer.default_address.clone().ok_or_else(|| "there's no default address on your account".into()),
            Some(AddrRef::OfOrder(n)) => self.order(n).and_then(|o| o.shipping_address.clone()).ok_or_else(|| format!("I couldn't find order {n} on your account")),
            Some(AddrRef::Place(words)) => {
                let mut found: Vec<Address> = Vec::new();
                for a in &known {
                    let city = a.city.to_lowercase();
                    let region = a.region.to_lowercase();
                    if words.iter().any(|w| *w == city || w.len() > 3 && *w == region || a.line1.to_lowercase().contains(w.as_str()) && w.len() > 4 && w.contains(' ')) && !found.contains(a) {
                        found.push(a.clone());
                    }
                }
                match found.as_slice() {
                    [one] => Ok(one.clone()),
                    [] => Err("which address should I use? Please write it out in full (street, city, state and ZIP code)".into()),
                    many => Err(format!("which address do you mean: {}?", many.iter().map(Address::one_line).collect::<Vec<_>>().join(" or "))),
                }
            }
            None => Err("what's the new address? Please write it out in full (street, city, state and ZIP code)".into()),
        }
    }
}

/// What earlier plans in the same request do to the orders (so later ones see it).
#[derive(Default)]
struct Sim {
    /// Gift card balance changes from earlier plans (a cancellation refunds a gift card).
    balance: HashMap<String, i64>,
    items_changed: BTreeSet<String>,
    /// Orders with an exchange or item change planned in this request: another item of the same
    /// order joins that one action (merged), rather than being refused as a second change.
    swapped: BTreeSet<String>,
    status: HashMap<String, OrderStatus>,
    used_lines: BTreeSet<(String, usize)>,
}

impl Sim {
    fn status(&self, o: &Order) -> OrderStatus {
        self.status.get(&o.number).copied().unwrap_or(o.status)
    }

    fn balance(&self, m: &PaymentMethod) -> i64 {
        m.balance_cents.unwrap_or(0) + self.balance.get(&m.id).copied().unwrap_or(0)
    }
}

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Lines of the customer's orders an item mention points at: (order index, line index).
fn find_lines(
    desk: &Desk,
    item: &ItemRef,
    orders: &[usize],
    sim: &Sim,
) -> Result<Vec<(usize, usize)>, String> {
    let mut found: Vec<(usize, usize)> = Vec::new();
    for &oi in orders {
        for (li, line) in desk.orders[oi].items.iter().enumerate() {
            if item.products.contains(&line.product_id)
                && line.status == ItemStatus::Ordered
                && !sim
                    .used_lines
                    .contains(&(desk.orders[oi].number.clone(), li))
            {
                found.push((oi, li));
            }
        }
    }
    if found.is_empty() {
        return Err(String::new());
    }
    // The words around the mention describe which one ("the small t-shirt", "the 17-inch").
    if found.len() > 1 {
        let narrowed: Vec<(usize, usize)> = found
            .iter()
            .copied()
            .filter(|&(oi, li)| {
                let line = &desk.orders[oi].items[li];
                let Some(p) = desk.catalogue.product(&line.product_id) else {
                    return true;
                };
                let described = described_values(&item.source, p);
                described
                    .iter()
                    .all(|(k, v)| line.options.get(k) == Some(v))
            })
            .collect();
        if !narrowed.is_empty() {
            found = narrowed;
        }
    }
    // "The more expensive one", "the cheaper of the two": a comparison across their lines.
    if found.len() > 1 && !item.plural {
        let s = item.source.to_lowercase();
        let dir = if [
            "more expensive",
            "most expensive",
            "pricier",
            "priciest",
            "costlier",
        ]
        .iter()
        .any(|p| s.contains(p))
        {
            1
        } else if [
            "less expensive",
            "least expensive",
            "cheaper",
            "cheapest",
            "less costly",
        ]
        .iter()
        .any(|p| s.contains(p))
        {
            -1
        } else {
            0
        };
        if dir != 0 {
            let price = |&(oi, li): &(usize, usize)| desk.orders[oi].items[li].price_cents * dir;
            let best = found.iter().map(price).max().unwrap_or(0);
            let top: Vec<(usize, usize)> =
                found.iter().copied().filter(|f| price(f) == best).collect();
            if top.len() == 1 {
                return Ok(top);
            }
        }
    }
    if found.len() == 1 || item.plural {
        return Ok(found);
    }
    // The same item listed twice on one order: "one … and another …" take one line each.
    let first = &desk.orders[found[0].0].items[found[0].1];
    if found
        .iter()
        .all(|&(oi, li)| oi == found[0].0 && desk.orders[oi].items[li].item_id == first.item_id)
    {
        return Ok(vec![found[item.position.min(found.len() - 1)]]);
    }
    let choices: Vec<String> = found
        .iter()
        .map(|&(oi, li)| {
            format!(
                "{} on order {}",
                item_label(&desk.orders[oi].items[li]),
                desk.orders[oi].number
            )
        })
        .collect();
    Err(format!("which one do you mean: {}?", join_and(&choices)))
}

/// Plans every wish; the steps come back in the customer's order.
pub fn plan_all(desk: &Desk, wishes: &[Wish]) -> Vec<Step> {
    let mut sim = Sim::default();
    let mut steps: Vec<Step> = Vec::new();
    // A wish that only names items an exchange later in the message describes is the same
    // request said twice: keep the described one.
    let mut wishes: Vec<Wish> = wishes.to_vec();
    for i in 0..wishes.len() {
        for j in i + 1..wishes.len() {
            let later_items = wishes[j].items.clone();
            if wishes[i].target == Target::Items
                && matches!(wishes[i].verb, Verb::Exchange | Verb::Modify)
                && matches!(wishes[j].verb, Verb::Exchange | Verb::Modify)
            {
                wishes[i].items.retain(|it| {
                    it.target.is_some()
                        || !later_items
                            .iter()
                            .any(|l| l.products == it.products && l.target.is_some())
                });
            }
        }
    }
    // "If you can only do one, I prefer the exchange": the preferred request (with its own
    // fallbacks) is planned first, so where both cannot be done it is the other that cannot.
    if wishes.iter().any(|w| w.preferred) {
        let mut groups: Vec<Vec<Wish>> = Vec::new();
        for w in wishes.drain(..) {
            match groups.last_mut() {
                Some(g) if w.fallback_of_previous => g.push(w),
                _ => groups.push(vec![w]),
            }
        }
        groups.sort_by_key(|g| !g[0].preferred);
        wishes = groups.into_iter().flatten().collect();
    }
    let mut last_failed = false;
    let mut prev_orders: Vec<String> = Vec::new();
    // Orders where an item the customer wants exchanged or changed could not be planned. Where an
    // order's items can be exchanged or changed only once, planning the rest alone would use up
    // that one change without the item that failed: those plans wait instead.
    let mut blocked: BTreeSet<String> = BTreeSet::new();
    let mut last_blocked: Vec<String> = Vec::new();
    for (wi, w) in wishes.iter().enumerate() {
        // "Ship it to …. I need to change the address": the second says the first again.
        let address_target = |t: Target| {
            matches!(
                t,
                Target::OrderAddress | Target::DefaultAddress | Target::UnclearAddress
            )
        };
        if address_target(w.target)
            && w.address.is_none()
            && wishes[..wi].iter().any(|p| {
                (p.target == w.target
                    || w.target == Target::UnclearAddress && address_target(p.target))
                    && p.address.is_some()
            })
        {
            continue;
        }
        if w.fallback_of_previous && !last_failed {
            continue;
        }
        let mut w = w.clone();
        if (w.fallback_of_previous || w.same_order_as_previous) && w.orders.is_empty() {
            w.orders = prev_orders.clone();
        }
        if w.target == Target::Items
            && w.items.is_empty()
            && !w.all_items
            && !w.all_orders
            && w.orders.is_empty()
            && w.verb != Verb::Cancel
        {
            // "return them", "exchange it": nothing to go on here.
            if w.fallback_of_previous {
                continue;
            }
            if w.conditional {
                // Never silently dropped: a condition on something unnamed is asked about.
                steps.push(Step::Ask(format!(
                    "you said \"{}\": which item or order is that about, and should I do it?",
                    w.text.trim()
                )));
                last_failed = false;
                continue;
            }
        }
        if w.hesitant {
            // A confirmation is a safety net, not a licence: what they haven't decided on is
            // not proposed at all.
            steps.push(Step::Hold(format!("You said you haven't decided about \"{}\", so I haven't set that up. Tell me when you'd like me to go ahead.", w.text.trim())));
            last_failed = false;
            continue;
        }
        if w.conditional {
            steps.push(Step::Ask(format!("you said \"{}\" depends on something I can't check for you. Please tell me plainly whether you want it done", w.text.trim())));
            last_failed = false;
            continue;
        }
        let before = steps.len();
        plan_wish(desk, &w, &mut sim, &mut steps);
        // The one the customer ranked lower, where the preferred one took the order: say so.
        if !w.preferred && wishes.iter().any(|p| p.preferred) {
            let preferred_orders: Vec<String> = steps[..before]
                .iter()
                .filter_map(|s| match s {
                    Step::Plan(p) => p.action.order().map(String::from),
                    _ => None,
                })
                .collect();
            for s in steps[before..].iter_mut() {
                if let Step::Refuse(r) = s {
                    if let Some(n) = preferred_orders
                        .iter()
                        .find(|n| r.reason.contains(n.as_str()))
                    {
                        r.reason = format!("order {n} can take only one of the two, and you said which you prefer, so I've set that one up and left this out ({})", r.reason);
                    }
                }
            }
        }
        last_failed =
            steps[before..].iter().any(|s| matches!(s, Step::Refuse(_))) || steps.len() == before;
        if w.fallback_of_previous && steps[before..].iter().any(|s| matches!(s, Step::Plan(_))) {
            // The customer's fallback took over from the wish that failed.
            for n in last_blocked.drain(..) {
                blocked.remove(&n);
            }
        }
        last_blocked.clear();
        if matches!(w.verb, Verb::Exchange | Verb::Modify)
            && w.target == Target::Items
            && steps[before..]
                .iter()
                .any(|s| matches!(s, Step::Refuse(_) | Step::Ask(_)))
        {
            // Every order that could hold the item (or that the wish names): the safe side.
            let mut hit: Vec<String> = w.orders.clone();
            for o in desk.orders {
                if w.items.iter().any(|item| {
                    o.items.iter().any(|l| {
                        l.status == ItemStatus::Ordered && item.products.contains(&l.product_id)
                    })
                }) {
                    hit.push(o.number.clone());
                }
            }
            for n in hit {
                if blocked.insert(n.clone()) {
                    last_blocked.push(n);
                }
            }
        }
        let planned: Vec<String> = steps[before..]
            .iter()
            .filter_map(|s| match s {
                Step::Plan(p) => p.action.order().map(String::from),
                _ => None,
            })
            .collect();
        prev_orders = planned.clone();
        // What a fallback ("if cancelling part of it isn't possible, cancel the whole order")
        // is about: the orders where this wish could not be done, not those it was.
        if last_failed && !planned.is_empty() {
            let all: Vec<usize> = (0..desk.orders.len()).collect();
            let mut failed: Vec<String> = w
                .orders
                .iter()
                .filter(|n| !planned.contains(n))
                .cloned()
                .collect();
            for item in &w.items {
                if let Ok(found) = find_lines(desk, item, &all, &Sim::default()) {
                    for (oi, _) in found {
                        let n = desk.orders[oi].number.clone();
                        if !planned.contains(&n) && !failed.contains(&n) {
                            failed.push(n);
                        }
                    }
                }
            }
            if !failed.is_empty() {
                prev_orders = failed;
            }
        }
        if prev_orders.is_empty() {
            prev_orders = w.orders.clone();
        }
        if prev_orders.is_empty() {
            // Refused or asked about: the orders its items are on ("remove the jacket …; if
            // that's not possible, cancel the whole order" means the jacket's order).
            let all: Vec<usize> = (0..desk.orders.len()).collect();
            for item in &w.items {
                if let Ok(found) = find_lines(desk, item, &all, &Sim::default()) {
                    for (oi, _) in found {
                        let n = desk.orders[oi].number.clone();
                        if !prev_orders.contains(&n) {
                            prev_orders.push(n);
                        }
                    }
                }
            }
        }
        // A fallback that ran replaces the refusal that called for it.
        if w.fallback_of_previous {
            if let Some(pos) = steps[..before]
                .iter()
                .rposition(|s| matches!(s, Step::Refuse(_)))
            {
                if steps[before..].iter().any(|s| matches!(s, Step::Plan(_))) {
                    steps.remove(pos);
                }
            }
        }
    }
    if desk.policy.exchanges.once_per_order || desk.policy.changes.items_lock_order {
        for s in steps.iter_mut() {
            let Step::Plan(p) = s else { continue };
            let once = match &p.action {
                Action::ExchangeItems { order, .. } if desk.policy.exchanges.once_per_order => {
                    Some(order.clone())
                }
                Action::ChangeOrderItems { order, .. } if desk.policy.changes.items_lock_order => {
                    Some(order.clone())
                }
                _ => None,
            };
            if let Some(n) = once.filter(|n| blocked.contains(n)) {
                *s = Step::Ask(format!(
                    "order {n}'s items can be exchanged or changed only once, so I haven't set up \"{}\" on its own: once we've settled the other item on that order, I'll do them together. How would you like to go on?",
                    p.summary.trim_end_matches('.')
                ));
            }
        }
    }
    merge(steps)
}

/// One request per order and kind: τ-style policies allow an order's items to be exchanged or
/// changed once, so everything for an order goes into one action.
fn merge(steps: Vec<Step>) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    for s in steps {
        if let Step::Plan(p) = &s {
            let found = out.iter_mut().find_map(|o| match o {
                Step::Plan(q)
                    if q.action.kind() == p.action.kind()
                        && q.action.order() == p.action.order()
                        && q.action.order().is_some() =>
                {
                    Some(q)
                }
                _ => None,
            });
            if let Some(q) = found {
                let merged = match (&mut q.action, &p.action) {
                    (
                        Action::ReturnItems { item_ids, .. },
                        Action::ReturnItems { item_ids: more, .. },
                    ) => {
                        item_ids.extend(more.iter().cloned());
                        true
                    }
                    (
                        Action::ExchangeItems {
                            item_ids,
                            new_item_ids,
                            ..
                        },
                        Action::ExchangeItems {
                            item_ids: more,
                            new_item_ids: more_new,
                            ..
                        },
                    )
                    | (
                        Action::ChangeOrderItems {
                            item_ids,
                            new_item_ids,
                            ..
                        },
                        Action::ChangeOrderItems {
                            item_ids: more,
                            new_item_ids: more_new,
                            ..
                        },
                    ) => {
                        item_ids.extend(more.iter().cloned());
                        new_item_ids.extend(more_new.iter().cloned());
                        true
                    }
                    (a, b) => a == b,
                };
                if merged {
                    q.summary = format!("{} {}", q.summary, p.summary);
                    q.amount_cents += p.amount_cents;
                    continue;
                }
            }
        }
        out.push(s);
    }
    out
}

fn refuse(reason: impl Into<String>) -> Step {
    Step::Refuse(Refusal {
        reason: reason.into(),
        exception_possible: false,
    })
}

/// The orders a wish is about: those it names (only the customer's own), else all of theirs in
/// a state the operation applies to. (The error is the step to take instead: see `Step`.)
#[allow(clippy::result_large_err)]
fn orders_for(
    desk: &Desk,
    w: &Wish,
    states: &[OrderStatus],
    sim: &Sim,
) -> Result<Vec<usize>, Step> {
    if !w.orders.is_empty() {
        let mut out = Vec::new();
        for n in &w.orders {
            match desk.orders.iter().position(|o| {
                crate::orders::normalise_order_number(&o.number)
                    == crate::orders::normalise_order_number(n)
            }) {
                Some(i) => out.push(i),
                // Another customer's order is not found, the same as one that does not exist.
                None => return Err(refuse(format!("I couldn't find order {n} on your account"))),
            }
        }
        return Ok(out);
    }
    let mut out: Vec<usize> = (0..desk.orders.len())
        .filter(|&i| states.contains(&sim.status(&desk.orders[i])))
        .collect();
    match w.pending {
        Some(true) => out.retain(|&i| desk.orders[i].status.is_unshipped()),
        Some(false) => out.retain(|&i| !desk.orders[i].status.is_unshipped()),
        None => {}
    }
    Ok(out)
}

fn plan_wish(desk: &Desk, w: &Wish, sim: &mut Sim, steps: &mut Vec<Step>) {
    let policy = desk.policy;
    match w.target {
        Target::DefaultAddress => {
            if !policy.default_address.allowed {
                steps.push(refuse(
                    "I can't change the default address on your account here",
                ));
                return;
            }
            match desk.address(w.address.as_ref()) {
                Ok(a) if desk.customer.default_address.as_ref() == Some(&a) => steps.push(refuse(
                    format!("your default address is already {}", a.one_line()),
                )),
                Ok(a) => steps.push(Step::Plan(Plan {
                    id: new_id(),
                    customer_id: desk.customer.id.clone(),
                    summary: format!(
                        "Change the default address on your account to {}.",
                        a.one_line()
                    ),
                    grounds: vec![address_ground(w.address.as_ref(), &a)],
                    action: Action::ChangeDefaultAddress { address: a },
                    amount_cents: 0,
                })),
                Err(q) => steps.push(Step::Ask(q)),
            }
        }
        Target::UnclearAddress => {
            // "Update my address": with an order whose address could still change, ask which.
            let open: Vec<&Order> = desk
                .orders
                .iter()
                .filter(|o| policy.changes.allowed_states.contains(&sim.status(o)))
                .collect();
            if open.is_empty() {
                let mut account = w.clone();
                account.target = Target::DefaultAddress;
                return plan_wish(desk, &account, sim, steps);
            }
            steps.push(Step::Ask(format!(
                "should I change the default address on your account, the shipping address of {} ({}), or both?",
                if open.len() == 1 { "your order that hasn't shipped" } else { "your orders that haven't shipped" },
                join_and(&open.iter().map(|o| o.number.clone()).collect::<Vec<_>>())
            )));
        }
        Target::OrderAddress => {
            let orders = match orders_for(desk, w, &policy.changes.allowed_states, sim) {
                Ok(o) => o,
                Err(s) => return steps.push(s),
            };
            // "My laptop order": the order that has the product named, when one has it.
            let orders: Vec<usize> = if w.orders.is_empty()
                && !w.all_orders
                && orders.len() > 1
                && !w.items.is_empty()
            {
                let with: Vec<usize> = orders
                    .iter()
                    .copied()
                    .filter(|&i| {
                        desk.orders[i]
                            .items
                            .iter()
                            .any(|l| w.items.iter().any(|it| it.products.contains(&l.product_id)))
                    })
                    .collect();
                if with.len() == 1 {
                    with
                } else {
                    orders
                }
            } else {
                orders
            };
            let orders: Vec<usize> = if w.orders.is_empty() && !w.all_orders && orders.len() > 1 {
                return steps.push(Step::Ask(format!(
                    "which order's address should I change: {}?",
                    join_and(
                        &orders
                            .iter()
                            .map(|&i| desk.orders[i].number.clone())
                            .collect::<Vec<_>>()
                    )
                )));
            } else {
                orders
            };
            if orders.is_empty() {
                return steps.push(refuse("none of your orders can still have its address changed: only orders that haven't shipped can"));
            }
            let address = match desk.address(w.address.as_ref()) {
                Ok(a) => a,
                Err(q) => return steps.push(Step::Ask(q)),
            };
            for oi in orders {
                let o = &desk.orders[oi];
                let done = changes_done(desk.history, &o.number, "change_order_address");
                if let Err(r) = policy.check_change(o, "address", done, desk.locked(&o.number, sim))
                {
                    steps.push(Step::Refuse(r));
                    continue;
                }
                if o.shipping_address.as_ref() == Some(&address) {
                    continue;
                }
                steps.push(Step::Plan(Plan {
                    id: new_id(),
                    customer_id: desk.customer.id.clone(),
                    summary: format!(
                        "Ship order {} to {} instead of {}.",
                        o.number,
                        address.one_line(),
                        o.shipping_address
                            .as_ref()
                            .map_or_else(|| "no address".into(), Address::one_line)
                    ),
                    grounds: vec![
                        order_ground(w, o),
                        address_ground(w.address.as_ref(), &address),
                    ],
                    action: Action::ChangeOrderAddress {
                        order: o.number.clone(),
                        address: address.clone(),
                    },
                    amount_cents: 0,
                }));
            }
        }
        Target::Payment => {
            let orders = match orders_for(desk, w, &policy.changes.allowed_states, sim) {
                Ok(o) => o,
                Err(s) => return steps.push(s),
            };
            let [oi] = orders.as_slice() else {
                return steps.push(Step::Ask(
                    "which order's payment method should I change? Please give the order number"
                        .into(),
                ));
            };
            let o = &desk.orders[*oi];
            if let Err(r) = policy.check_change(
                o,
                "payment",
                changes_done(desk.history, &o.number, "change_order_payment"),
                desk.locked(&o.number, sim),
            ) {
                return steps.push(Step::Refuse(r));
            }
            let Some(r) = w.payment.first() else {
                return steps.push(Step::Ask(
                    "which payment method should I switch it to?".into(),
                ));
            };
            let new = match desk.resolve_pay(r, None) {
                Ok(m) => m,
                Err(q) => return steps.push(Step::Ask(q)),
            };
            let old = original_method(o).unwrap_or_default();
            if new == old {
                return steps.push(refuse(format!(
                    "order {} is already paid with {}",
                    o.number,
                    describe_method(desk.customer, &old, desk.currency)
                )));
            }
            if let Some(m) = desk.customer.payment_method(&new) {
                if m.kind == PaymentMethodKind::GiftCard && sim.balance(m) < o.total_cents {
                    return steps.push(refuse(format!(
                        "the gift card's balance ({}) doesn't cover the order total of {}",
                        desk.currency.amount(sim.balance(m)),
                        desk.currency.amount(o.total_cents)
                    )));
                }
                if m.kind == PaymentMethodKind::GiftCard {
                    *sim.balance.entry(m.id.clone()).or_default() -= o.total_cents;
                }
            }
            steps.push(Step::Plan(Plan {
                id: new_id(),
                customer_id: desk.customer.id.clone(),
                summary: format!(
                    "Pay order {} ({}) with {} instead of {}; {} is refunded {}.",
                    o.number,
                    desk.currency.amount(o.total_cents),
                    describe_method(desk.customer, &new, desk.currency),
                    describe_method(desk.customer, &old, desk.currency),
                    describe_method(desk.customer, &old, desk.currency),
                    if desk
                        .customer
                        .payment_method(&old)
                        .is_some_and(|m| m.kind == PaymentMethodKind::GiftCard)
                    {
                        &policy.cancellation.refund_timing_gift_card
                    } else {
                        &policy.cancellation.refund_timing
                    }
                ),
                grounds: vec![order_ground(w, o), payment_ground(desk, w, &new, "")],
                action: Action::ChangeOrderPayment {
                    order: o.number.clone(),
                    payment_method_id: new,
                },
                amount_cents: 0,
            }));
        }
        Target::Items => plan_items(desk, w, sim, steps),
    }
}

fn plan_items(desk: &Desk, w: &Wish, sim: &mut Sim, steps: &mut Vec<Step>) {
    let policy = desk.policy;
    let states: Vec<OrderStatus> = match w.verb {
        Verb::Return => policy.returns.allowed_states.clone(),
        Verb::Cancel => policy.cancellation.allowed_states.clone(),
        Verb::Exchange | Verb::Modify => policy
            .exchanges
            .allowed_states
            .iter()
            .chain(&policy.changes.allowed_states)
            .copied()
            .collect(),
    };
    let all_states: Vec<OrderStatus> = OrderStatus::ALL.to_vec();
    let orders = match orders_for(desk, w, &states, sim) {
        Ok(o) => o,
        Err(s) => return steps.push(s),
    };

    // Which lines, per order.
    let mut lines: Vec<(usize, usize, Option<&ItemRef>)> = Vec::new();
    if w.items.is_empty() || w.all_items && w.items.len() <= 1 && w.verb == Verb::Cancel {
        // The whole order(s).
        let scope: Vec<usize> = if !w.items.is_empty() {
            let mut s = Vec::new();
            for item in &w.items {
                if let Ok(found) = find_lines(desk, item, &orders, sim) {
                    s.extend(found.into_iter().map(|(oi, _)| oi));
                }
            }
            s.dedup();
            s
        } else {
            orders.clone()
        };
        if scope.is_empty() && !sim.status.is_empty() && (w.all_items || w.all_orders) {
            // Said twice ("return everything … make sure to return both orders"): the earlier
            // plans already cover it.
            return;
        }
        // "The whole order" is one order: with several that could be meant, ask which.
        let one_of_many = w.one_order && !w.all_orders && w.orders.is_empty() && scope.len() > 1;
        if scope.is_empty() || one_of_many || !w.all_items && !w.all_orders && w.orders.is_empty() {
            let any: Vec<usize> = orders_for(desk, w, &all_states, sim).unwrap_or_default();
            return steps.push(if scope.is_empty() && !any.is_empty() && w.orders.is_empty() && (w.all_orders || w.all_items) {
                refuse(match w.verb {
                    Verb::Cancel => "none of your orders can be cancelled: only orders that haven't shipped yet can".to_string(),
                    Verb::Return => "none of your orders can be returned right now".to_string(),
                    _ => "none of your orders can be changed right now".to_string(),
                })
            } else if scope.len() > 1 || scope.is_empty() {
                let list: Vec<String> = (if scope.is_empty() { &orders } else { &scope }).iter().take(6).map(|&i| format!("{} ({})", desk.orders[i].number, desk.orders[i].status.label().to_lowercase())).collect();
                Step::Ask(if list.is_empty() { "which order is this about? Please give the order number".into() } else { format!("which order and which items do you mean? Your orders: {}", join_and(&list)) })
            } else {
                // One order, no items named: the whole order for a cancellation, else ask.
                if w.verb == Verb::Cancel {
                    return plan_cancel(desk, w, scope[0], &[], sim, steps);
                }
                Step::Ask(format!("which items from order {} do you mean?", desk.orders[scope[0]].number))
            });
        }
        // Something to leave out that none of these orders has: the reading went wrong
        // somewhere, so ask rather than return too much.
        for e in &w.except {
            if !scope.iter().any(|&oi| {
                desk.orders[oi]
                    .items
                    .iter()
                    .any(|l| e.products.contains(&l.product_id))
            }) {
                let name = e
                    .products
                    .first()
                    .and_then(|p| desk.catalogue.product(p))
                    .map_or("that item".to_string(), |p| p.name.clone());
                return steps.push(Step::Ask(format!("I couldn't find the {name} you want to keep in that order. Which items exactly should I include?")));
            }
        }
        for oi in scope {
            if w.verb == Verb::Cancel {
                plan_cancel(desk, w, oi, &[], sim, steps);
                continue;
            }
            for (li, line) in desk.orders[oi].items.iter().enumerate() {
                let excluded = w
                    .except
                    .iter()
                    .any(|e| e.products.contains(&line.product_id));
                if line.status == ItemStatus::Ordered && !excluded {
                    lines.push((oi, li, None));
                }
            }
        }
    } else {
        for item in &w.items {
            match find_lines(desk, item, &orders, sim) {
                Ok(found) => {
                    for (oi, li) in found {
                        sim.used_lines.insert((desk.orders[oi].number.clone(), li));
                        lines.push((oi, li, Some(item)));
                    }
                }
                Err(q) if !q.is_empty() => return steps.push(Step::Ask(q)),
                Err(_) => {
                    // Not in an order this operation applies to: say why, from the order it is in.
                    let anywhere = orders_for(desk, w, &all_states, sim).unwrap_or_default();
                    let name = item
                        .products
                        .first()
                        .and_then(|p| desk.catalogue.product(p))
                        .map_or("that item".to_string(), |p| p.name.clone());
                    match find_lines(desk, item, &anywhere, sim) {
                        Ok(found) => {
                            let o = &desk.orders[found[0].0];
                            let r = match w.verb {
                                Verb::Return => policy.check_return(o, &[], desk.now).err(),
                                Verb::Cancel => policy.check_cancel(o).err(),
                                _ => policy
                                    .check_exchange(o, &[], desk.now)
                                    .err()
                                    .and(policy.check_change(o, "items", 0, false).err()),
                            };
                            steps.push(Step::Refuse(r.unwrap_or(Refusal {
                                reason: format!(
                                    "the {name} on order {} can't be changed that way",
                                    o.number
                                ),
                                exception_possible: false,
                            })));
                        }
                        Err(q) if !q.is_empty() => steps.push(Step::Ask(q)),
                        Err(_) => {
                            steps.push(refuse(format!("I couldn't find a {name} in your orders")))
                        }
                    }
                    return;
                }
            }
        }
    }

    // Group by order.
    let mut by_order: BTreeMap<usize, Vec<(usize, Option<&ItemRef>)>> = BTreeMap::new();
    for (oi, li, item) in lines {
        let e = by_order.entry(oi).or_default();
        if !e.iter().any(|(l, _)| *l == li) {
            e.push((li, item));
        }
    }
    for (oi, ls) in by_order {
        let o = &desk.orders[oi];
        match w.verb {
            Verb::Cancel => {
                let ids: Vec<usize> = ls.iter().map(|(l, _)| *l).collect();
                plan_cancel(desk, w, oi, &ids, sim, steps);
            }
            Verb::Return => plan_return(
                desk,
                w,
                o,
                &ls.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
                sim,
                steps,
            ),
            Verb::Exchange | Verb::Modify => plan_swap(desk, w, o, &ls, sim, steps),
        }
    }
}

fn plan_cancel(
    desk: &Desk,
    w: &Wish,
    oi: usize,
    lines: &[usize],
    sim: &mut Sim,
    steps: &mut Vec<Step>,
) {
    let policy = desk.policy;
    let o = &desk.orders[oi];
    if let Err(r) = policy.check_cancel(o) {
        return steps.push(Step::Refuse(r));
    }
    if desk.locked(&o.number, sim) {
        return steps.push(refuse(format!(
            "the items of order {} were already changed, so it can't be cancelled any more",
            o.number
        )));
    }
    let live: Vec<usize> = (0..o.items.len())
        .filter(|&i| o.items[i].status == ItemStatus::Ordered)
        .collect();
    let partial = !lines.is_empty() && lines.len() < live.len();
    if partial && !policy.cancellation.allow_partial {
        let others: Vec<&OrderItem> = live
            .iter()
            .filter(|l| !lines.contains(l))
            .map(|&l| &o.items[l])
            .collect();
        return steps.push(refuse(format!(
            "single items can't be removed from an order; I can only cancel the whole of order {}, which would also cancel {}",
            o.number,
            items_label(&others)
        )));
    }
    let reason = match policy.cancel_reason(w.reason.as_deref()) {
        Ok(r) => r,
        Err(r) => {
            return steps.push(if w.reason.is_none() {
                Step::Ask(format!(
                    "could you tell me why you'd like to cancel order {}: {}?",
                    o.number,
                    policy
                        .cancellation
                        .reasons
                        .iter()
                        .map(|r| format!("\"{r}\""))
                        .collect::<Vec<_>>()
                        .join(" or ")
                ))
            } else {
                Step::Refuse(r)
            })
        }
    };
    let item_ids: Vec<String> = if partial {
        lines.iter().map(|&l| o.items[l].item_id.clone()).collect()
    } else {
        Vec::new()
    };
    let amount: i64 = if partial {
        lines.iter().map(|&l| o.items[l].line_total_cents()).sum()
    } else {
        o.paid_cents() - o.refunded_cents()
    };
    let method = original_method(o).unwrap_or_default();
    let gift = desk
        .customer
        .payment_method(&method)
        .is_some_and(|m| m.kind == PaymentMethodKind::GiftCard);
    if gift {
        *sim.balance.entry(method.clone()).or_default() += amount;
    }
    let what = if partial {
        format!(
            "Cancel {} from order {}",
            items_label(&lines.iter().map(|&l| &o.items[l]).collect::<Vec<_>>()),
            o.number
        )
    } else {
        format!(
            "Cancel order {} ({})",
            o.number,
            items_label(&live.iter().map(|&l| &o.items[l]).collect::<Vec<_>>())
        )
    };
    let why = reason
        .as_deref()
        .map(|r| format!(", reason: {r}"))
        .unwrap_or_default();
    if !partial {
        sim.status.insert(o.number.clone(), OrderStatus::Cancelled);
    }
    steps.push(Step::Plan(Plan {
        id: new_id(),
        customer_id: desk.customer.id.clone(),
        summary: format!(
            "{what}{why}. {} is {}, {}.",
            desk.currency.amount(amount),
            if gift {
                "refunded to your gift card"
            } else {
                "refunded to"
            },
            if gift {
                policy.cancellation.refund_timing_gift_card.clone()
            } else {
                format!(
                    "{} — {}",
                    describe_method(desk.customer, &method, desk.currency),
                    policy.cancellation.refund_timing
                )
            }
        )
        .replace("refunded to, ", "refunded to ")
        .replace(
            "refunded to your gift card, back on your gift card immediately",
            "back on your gift card immediately",
        ),
        grounds: {
            let mut g = vec![order_ground(w, o)];
            if let Some(r) = &reason {
                g.push(Ground::said(Slot::Reason, r, w.text.trim()));
            }
            g
        },
        action: Action::CancelOrder {
            order: o.number.clone(),
            reason,
            item_ids,
        },
        amount_cents: -amount,
    }));
}

fn plan_return(
    desk: &Desk,
    w: &Wish,
    o: &Order,
    lines: &[usize],
    sim: &mut Sim,
    steps: &mut Vec<Step>,
) {
    let policy = desk.policy;
    let items: Vec<(&OrderItem, Option<&crate::orders::Product>)> = lines
        .iter()
        .map(|&l| (&o.items[l], desk.catalogue.product(&o.items[l].product_id)))
        .collect();
    let mut o_sim = o.clone();
    o_sim.status = sim.status(o);
    if let Err(r) = policy.check_return(&o_sim, &items, desk.now) {
        return steps.push(Step::Refuse(r));
    }
    // Refund destination: what the customer named, if the policy allows it; else the default.
    let original = original_method(o).unwrap_or_default();
    let mut method: Option<String> = None;
    let mut problem: Option<String> = None;
    for r in &w.payment {
        let id = match desk.resolve_pay(r, Some(o)) {
            Ok(id) => id,
            Err(q) => {
                problem.get_or_insert(q);
                continue;
            }
        };
        let dest = if id == "store_credit" {
            RefundDestination::StoreCredit
        } else if id == original {
            RefundDestination::Original
        } else if desk
            .customer
            .payment_method(&id)
            .is_some_and(|m| m.kind == PaymentMethodKind::GiftCard)
        {
            RefundDestination::GiftCard
        } else {
            problem.get_or_insert(format!(
                "a refund can only go to the original payment method ({}){}",
                describe_method(desk.customer, &original, desk.currency),
                if policy
                    .returns
                    .refund_to
                    .contains(&RefundDestination::GiftCard)
                {
                    " or one of your gift cards"
                } else {
                    ""
                }
            ));
            continue;
        };
        if policy.returns.refund_to.contains(&dest) {
            method = Some(id);
            break;
        }
        problem.get_or_insert(format!(
            "refunds can't go to {} here",
            describe_method(desk.customer, &id, desk.currency)
        ));
    }
    let said_where = {
        let t = w.text.to_lowercase();
        [
            "refund to",
            "refund it to",
            "refund them to",
            "refunded to",
            "refund each",
            "refund on",
            "payment method",
            "refund into",
            "money back to",
            "money to",
        ]
        .iter()
        .any(|p| t.contains(p))
    };
    let method = match (method, problem) {
        (Some(m), _) => m,
        (None, Some(p)) => return steps.push(refuse(p)),
        // They said where the money should go, in words not understood: ask, never assume.
        (None, None) if said_where => {
            return steps.push(Step::Ask(format!(
                "where should the refund for order {} go: the original payment method ({}){}?",
                o.number,
                describe_method(desk.customer, &original, desk.currency),
                if policy
                    .returns
                    .refund_to
                    .contains(&RefundDestination::GiftCard)
                {
                    " or one of your gift cards"
                } else {
                    ""
                }
            )))
        }
        (None, None) => match policy.returns.default_refund {
            RefundDestination::Original | RefundDestination::GiftCard => original.clone(),
            RefundDestination::StoreCredit => "store_credit".into(),
        },
    };
    let amount: i64 = lines.iter().map(|&l| o.items[l].line_total_cents()).sum();
    let dest = if method == "store_credit" {
        RefundDestination::StoreCredit
    } else if method == original {
        RefundDestination::Original
    } else {
        RefundDestination::GiftCard
    };
    let timing = match dest {
        RefundDestination::Original => &policy.returns.timing.original,
        RefundDestination::GiftCard => &policy.returns.timing.gift_card,
        RefundDestination::StoreCredit => &policy.returns.timing.store_credit,
    };
    let bonus = if dest == RefundDestination::StoreCredit
        && policy.returns.store_credit_bonus_percent > 0
    {
        format!(
            " plus a {}% bonus ({} in all)",
            policy.returns.store_credit_bonus_percent,
            desk.currency
                .amount(amount + amount * policy.returns.store_credit_bonus_percent / 100)
        )
    } else {
        String::new()
    };
    sim.status
        .insert(o.number.clone(), OrderStatus::ReturnRequested);
    steps.push(Step::Plan(Plan {
        id: new_id(),
        customer_id: desk.customer.id.clone(),
        summary: format!(
            "Return {} from order {}: a refund of {}{bonus} to {}, {timing}.",
            items_label(&lines.iter().map(|&l| &o.items[l]).collect::<Vec<_>>()),
            o.number,
            desk.currency.amount(amount),
            describe_method(desk.customer, &method, desk.currency)
        ),
        grounds: vec![
            order_ground(w, o),
            items_ground(w, &lines.iter().map(|&l| &o.items[l]).collect::<Vec<_>>()),
            payment_ground(desk, w, &method, if method == original { "the refund goes back to the original payment method unless you name a gift card" } else { "the store's default refund" }),
        ],
        action: Action::ReturnItems { order: o.number.clone(), item_ids: lines.iter().map(|&l| o.items[l].item_id.clone()).collect(), refund_method_id: method },
        amount_cents: -amount,
    }));
}

fn plan_swap(
    desk: &Desk,
    w: &Wish,
    o: &Order,
    lines: &[(usize, Option<&ItemRef>)],
    sim: &mut Sim,
    steps: &mut Vec<Step>,
) {
    let policy = desk.policy;
    let joins = sim.swapped.contains(&o.number);
    let status = if joins { o.status } else { sim.status(o) };
    let exchange = !status.is_unshipped();
    let mut o_sim = o.clone();
    o_sim.status = status;
    let items: Vec<(&OrderItem, Option<&crate::orders::Product>)> = lines
        .iter()
        .map(|(l, _)| {
            (
                &o.items[*l],
                desk.catalogue.product(&o.items[*l].product_id),
            )
        })
        .collect();
    let check = if exchange {
        policy.check_exchange(&o_sim, &items, desk.now).and_then(|_| {
            if policy.exchanges.once_per_order && (changes_done(desk.history, &o.number, "exchange_items") > 0 || o.status == OrderStatus::ExchangeRequested) {
                Err(Refusal { reason: format!("order {} already has an exchange, and an order can only be exchanged once", o.number), exception_possible: false })
            } else {
                Ok(())
            }
        })
    } else {
        let locked = if joins {
            policy.changes.items_lock_order
                && changes_done(desk.history, &o.number, "change_order_items") > 0
        } else {
            desk.locked(&o.number, sim)
        };
        policy.check_change(
            &o_sim,
            "items",
            changes_done(desk.history, &o.number, "change_order_items"),
            locked,
        )
    };
    if let Err(r) = check {
        return steps.push(Step::Refuse(r));
    }
    let mut old_ids = Vec::new();
    let mut new_ids = Vec::new();
    let mut parts = Vec::new();
    let mut new_grounds: Vec<Ground> = Vec::new();
    let mut kept: Vec<&OrderItem> = Vec::new();
    let mut diff = 0i64;
    for (li, item) in lines {
        let line = &o.items[*li];
        let Some(product) = desk.catalogue.product(&line.product_id) else {
            return steps.push(refuse(format!(
                "the {} is no longer in the catalogue, so it can't be exchanged",
                line.name
            )));
        };
        let Some(target) = item.and_then(|i| i.target.clone()) else {
            return steps.push(Step::Ask(format!(
                "what would you like instead of the {}? For example: {}",
                item_label(line),
                product
                    .options
                    .iter()
                    .map(|(k, v)| format!("{k} ({})", v.join(", ")))
                    .collect::<Vec<_>>()
                    .join("; ")
            )));
        };
        let available = |v: &Variant| {
            if policy.exchanges.require_in_stock {
                v.in_stock()
            } else {
                v.available
            }
        };
        // "The same colour as my other bottle": the value of their other item, found in their
        // orders, not the one being replaced.
        let references = match referenced_values(desk, &target, product, o, line) {
            Ok(r) => r,
            Err(q) => return steps.push(Step::Ask(q)),
        };
        let with_references = |mut spec: Spec| {
            for (k, v, _) in &references {
                spec.keep.remove(k);
                spec.want
                    .insert(k.clone(), std::iter::once(v.clone()).collect());
            }
            spec
        };
        // "… to item 9844888101": the variant they name by its id.
        let by_id = target
            .split(|c: char| !c.is_ascii_alphanumeric())
            .find_map(|t| product.variants.iter().find(|v| v.item_id == t));
        let mut spec = with_references(read_spec(&target, product, &line.options));
        if spec.empty {
            // An exchange for nothing different: an identical replacement.
            spec.same_item = true;
        }
        if by_id.is_none() && spec.is_unconstrained() && !spec.empty && spec.keep.is_empty() {
            return steps.push(Step::Ask(format!(
                "what should the new {} be like? Options: {}",
                product.name,
                product
                    .options
                    .iter()
                    .map(|(k, v)| format!("{k} ({})", v.join(", ")))
                    .collect::<Vec<_>>()
                    .join("; ")
            )));
        }
        let mut choice = match by_id {
            Some(v) if available(v) => Choice::One(v.clone()),
            Some(v) => Choice::None(format!(
                "{} is not available right now",
                variant_label(&product.name, v)
            )),
            None => choose(product, &line.options, line.price_cents, &spec, &available),
        };
        if let (Choice::None(_), Some(fb)) = (&choice, item.and_then(|i| i.fallback.clone())) {
            if fb.is_empty() {
                // "If not, only exchange the thermostat": leave this one.
                continue;
            }
            spec = with_references(read_spec(&fb, product, &line.options).relaxed());
            choice = choose(product, &line.options, line.price_cents, &spec, &available);
        }
        let v = match choice {
            Choice::One(v) => v,
            Choice::Several(vs) => {
                let list: Vec<String> = vs
                    .iter()
                    .take(8)
                    .map(|v| {
                        format!(
                            "{} at {}",
                            v.options.values().cloned().collect::<Vec<_>>().join(", "),
                            desk.currency.amount(v.price_cents)
                        )
                    })
                    .collect();
                return steps.push(Step::Ask(format!(
                    "several {} options fit: {}. Which one would you like?",
                    product.name,
                    list.join("; ")
                )));
            }
            Choice::None(why) => {
                let alternatives: Vec<String> = product
                    .variants
                    .iter()
                    .filter(|v| available(v))
                    .take(6)
                    .map(|v| v.options.values().cloned().collect::<Vec<_>>().join(", "))
                    .collect();
                return steps.push(refuse(format!(
                    "{why}{}",
                    if alternatives.is_empty() {
                        String::new()
                    } else {
                        format!(" (available now: {})", alternatives.join("; "))
                    }
                )));
            }
        };
        diff += v.price_cents - line.price_cents;
        // Comparisons are stated, so the customer sees what "the highest resolution" or "the
        // same colour as my other one" turned into.
        let why = comparison_words(product, &spec, &v, line, &references, desk.currency);
        parts.push(format!(
            "{} → {}{}",
            item_label(line),
            variant_label(&product.name, &v),
            if why.is_empty() {
                String::new()
            } else {
                format!(" ({why}, {})", desk.currency.amount(v.price_cents))
            }
        ));
        new_grounds.push(Ground::said(
            Slot::NewItems,
            variant_label(&product.name, &v),
            if why.is_empty() {
                target.trim().to_string()
            } else {
                format!("{}: {why}", target.trim())
            },
        ));
        old_ids.push(line.item_id.clone());
        new_ids.push(v.item_id.clone());
        kept.push(line);
    }
    if old_ids.is_empty() {
        return;
    }
    // Who pays or receives the difference.
    let original = original_method(o).unwrap_or_default();
    let settlement = if exchange {
        policy.exchanges.price_difference
    } else {
        policy.changes.price_difference
    };
    let method = match (settlement, w.payment.first()) {
        (Settlement::CustomerChoice, Some(_)) => {
            let mut chosen = None;
            let mut problem = None;
            for r in &w.payment {
                match desk.resolve_pay(r, Some(o)) {
                    Ok(id) if id != "store_credit" => {
                        let short = desk.customer.payment_method(&id).is_some_and(|m| {
                            m.kind == PaymentMethodKind::GiftCard && sim.balance(m) < diff
                        });
                        if short {
                            problem.get_or_insert(format!(
                                "the gift card's balance doesn't cover the difference of {}",
                                desk.currency.amount(diff)
                            ));
                            continue;
                        }
                        chosen = Some(id);
                        break;
                    }
                    Ok(_) => {
                        problem.get_or_insert(
                            "a price difference can't be settled in store credit".to_string(),
                        );
                    }
                    Err(q) => {
                        problem.get_or_insert(q);
                    }
                }
            }
            match (chosen, problem) {
                (Some(c), _) => c,
                (None, Some(p)) => return steps.push(refuse(p)),
                (None, None) => original.clone(),
            }
        }
        _ => original.clone(),
    };
    if settlement == Settlement::CustomerChoice && w.payment.is_empty() {
        if let Some(m) = desk.customer.payment_method(&method) {
            if m.kind == PaymentMethodKind::GiftCard && sim.balance(m) < diff {
                return steps.push(Step::Ask(format!("the gift card on this order doesn't cover the difference of {}; which payment method should I use?", desk.currency.amount(diff))));
            }
        }
    }
    let money = match diff.signum() {
        1 => format!(
            "The difference of {} is charged to {}.",
            desk.currency.amount(diff),
            describe_method(desk.customer, &method, desk.currency)
        ),
        -1 => format!(
            "The difference of {} is refunded to {}.",
            desk.currency.amount(-diff),
            describe_method(desk.customer, &method, desk.currency)
        ),
        _ => "There is no price difference.".to_string(),
    };
    if !exchange
        && desk
            .customer
            .payment_method(&method)
            .is_some_and(|m| m.kind == PaymentMethodKind::GiftCard)
    {
        *sim.balance.entry(method.clone()).or_default() -= diff;
    }
    let pay_ground = payment_ground(
        desk,
        w,
        &method,
        "the order's own payment method, as you named no other",
    );
    sim.swapped.insert(o.number.clone());
    let (verb, action) = if exchange {
        sim.status
            .insert(o.number.clone(), OrderStatus::ExchangeRequested);
        (
            "Exchange",
            Action::ExchangeItems {
                order: o.number.clone(),
                item_ids: old_ids,
                new_item_ids: new_ids,
                payment_method_id: method,
            },
        )
    } else {
        sim.items_changed.insert(o.number.clone());
        (
            "Change",
            Action::ChangeOrderItems {
                order: o.number.clone(),
                item_ids: old_ids,
                new_item_ids: new_ids,
                payment_method_id: method,
            },
        )
    };
    steps.push(Step::Plan(Plan {
        id: new_id(),
        customer_id: desk.customer.id.clone(),
        summary: format!(
            "{verb} on order {}: {}. {money}",
            o.number,
            parts.join("; ")
        ),
        grounds: {
            let mut g = vec![order_ground(w, o), items_ground(w, &kept)];
            g.extend(new_grounds);
            g.push(pay_ground);
            g
        },
        action,
        amount_cents: diff,
    }));
}

/// Options a description takes from another item of the customer's: "the same colour as my
/// other bottle", "to match the size of the one in order #W…", "the same type as the one I
/// already received". Each found value comes with the order it was read from. A pointer that
/// fits no item, or items that disagree, is asked about.
fn referenced_values(
    desk: &Desk,
    target: &str,
    product: &Product,
    order: &Order,
    line: &OrderItem,
) -> Result<Vec<(String, String, String)>, String> {
    let toks = super::text::tokenize(target);
    let words: Vec<&Tok> = toks.iter().filter(|t| t.is_word()).collect();
    let mut out = Vec::new();
    for i in 0..words.len() {
        // "same <option> as <pointer>" or "<option> of <pointer>" / "match … <option> of".
        let (key_words, pointer_at) = if words[i].text == "same" {
            let Some(as_at) = (i + 1..(i + 5).min(words.len())).find(|&j| words[j].text == "as")
            else {
                continue;
            };
            (&words[i + 1..as_at], as_at + 1)
        } else if matches!(words[i].text.as_str(), "of" | "from")
            && i > 0
            && words[..i].iter().rev().take(4).any(|t| {
                matches!(
                    t.text.as_str(),
                    "match" | "matches" | "matching" | "same" | "like"
                )
            })
        {
            let lo = (0..i)
                .rev()
                .take_while(|&j| {
                    !matches!(
                        words[j].text.as_str(),
                        "the" | "match" | "matches" | "matching" | "same"
                    )
                })
                .last()
                .unwrap_or(i);
            (&words[lo..i], i + 1)
        } else {
            continue;
        };
        let pointer: Vec<&str> = words[pointer_at..(pointer_at + 8).min(words.len())]
            .iter()
            .map(|t| t.text.as_str())
            .collect();
        let points_at_theirs = pointer.iter().any(|w| {
            matches!(
                *w,
                "other"
                    | "another"
                    | "order"
                    | "received"
                    | "bought"
                    | "ordered"
                    | "got"
                    | "have"
                    | "previous"
                    | "earlier"
                    | "first"
            )
        });
        if key_words.is_empty() || !points_at_theirs {
            continue;
        }
        let key = option_named(product, key_words)?;
        let Some(key) = key else { continue };
        // Which of their items: an order named in the pointer, another product named, else
        // another line of the same product.
        let pointer_text = pointer.join(" ");
        let named_order = desk.orders.iter().find(|o| {
            let digits: String = o.number.chars().filter(|c| c.is_ascii_digit()).collect();
            !digits.is_empty()
                && (pointer.iter().any(|w| *w == digits)
                    || target.contains(&o.number) && pointer_text.contains("order"))
        });
        let pointer_stems = super::text::stems(&pointer_text);
        // "my other electric kettle" is the same product, though "kettle" also ends "Tea Kettle".
        let names_own = super::text::stems(&product.name)
            .last()
            .is_some_and(|h| pointer_stems.contains(h));
        let other_product: Option<Vec<String>> = if names_own {
            None
        } else {
            desk.catalogue
                .products
                .iter()
                .filter(|p| {
                    p.id != product.id
                        && super::text::stems(&p.name)
                            .last()
                            .is_some_and(|h| pointer_stems.contains(h))
                })
                .map(|p| vec![p.id.clone()])
                .next()
        };
        let wanted_products: Vec<String> =
            other_product.unwrap_or_else(|| vec![product.id.clone()]);
        let other_order = pointer.iter().any(|w| matches!(*w, "other" | "another"));
        let mut values: BTreeMap<String, String> = BTreeMap::new();
        for o in desk.orders {
            if named_order.is_some_and(|n| n.number != o.number)
                || other_order
                    && named_order.is_none()
                    && o.number == order.number
                    && wanted_products.contains(&product.id)
                    && o.items
                        .iter()
                        .filter(|l| l.product_id == product.id)
                        .count()
                        < 2
            {
                continue;
            }
            for l in &o.items {
                if !wanted_products.contains(&l.product_id)
                    || o.number == order.number && l.item_id == line.item_id
                {
                    continue;
                }
                if let Some(v) = l.options.get(&key) {
                    values.insert(v.clone(), o.number.clone());
                }
            }
        }
        match values.len() {
            1 => {
                let (v, n) = values.into_iter().next().expect("one");
                out.push((key, v, n));
            }
            0 => return Err(format!("I couldn't find the other item whose {key} you want to match; which {key} would you like for the new {}?", product.name)),
            _ => return Err(format!("your other items have different {key}s ({}); which one should the new {} have?", values.keys().cloned().collect::<Vec<_>>().join(", "), product.name)),
        }
    }
    Ok(out)
}

/// The product option some words name ("colour" is the color, "frame size"); asked about when
/// they could be several ("colour" of sunglasses: frame or lens).
fn option_named(product: &Product, words: &[&Tok]) -> Result<Option<String>, String> {
    let said: Vec<String> = words
        .iter()
        .map(|t| {
            if t.stem == "colour" {
                "color".to_string()
            } else {
                super::text::normal_unit(&t.stem).to_string()
            }
        })
        .filter(|w| !matches!(w.as_str(), "the" | "a" | "its" | "my"))
        .collect();
    if said.is_empty() {
        return Ok(None);
    }
    let exact: Vec<&String> = product
        .options
        .keys()
        .filter(|k| super::text::stems(k) == said)
        .collect();
    if let [k] = exact.as_slice() {
        return Ok(Some((*k).clone()));
    }
    let fits: Vec<&String> = product
        .options
        .keys()
        .filter(|k| super::text::stems(k).last() == said.last())
        .collect();
    match fits.as_slice() {
        [] => Ok(None),
        [k] => Ok(Some((*k).clone())),
        many => Err(format!(
            "which {} do you mean: {}?",
            said.join(" "),
            many.iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(" or ")
        )),
    }
}

/// How a comparison in the customer's words was resolved, for the confirmation: "the highest
/// resolution in stock", "the cheapest in stock", "color as on order #W…".
fn comparison_words(
    product: &Product,
    spec: &Spec,
    v: &Variant,
    line: &OrderItem,
    references: &[(String, String, String)],
    currency: Currency,
) -> String {
    let mut out: Vec<String> = Vec::new();
    for (k, d) in &spec.extreme {
        let value = v.options.get(k).cloned().unwrap_or_default();
        out.push(format!(
            "the {value} one, the {} {k} in stock{}",
            if *d > 0 { "highest" } else { "lowest" },
            if spec.want.is_empty() && spec.keep.is_empty() {
                ""
            } else {
                " among those that fit"
            }
        ));
    }
    for (k, (d, _)) in &spec.relative {
        let (from, to) = (
            line.options.get(k).cloned().unwrap_or_default(),
            v.options.get(k).cloned().unwrap_or_default(),
        );
        out.push(format!(
            "{} {k}: {to} instead of {from}",
            if *d > 0 { "more" } else { "less" }
        ));
    }
    match spec.price {
        -1 => out.push(format!(
            "the cheapest {} in stock{}",
            product.name,
            if spec.want.is_empty() && spec.keep.is_empty() && spec.extreme.is_empty() {
                ""
            } else {
                " among those that fit"
            }
        )),
        1 => out.push(format!(
            "the most expensive {} in stock{}",
            product.name,
            if spec.want.is_empty() && spec.keep.is_empty() && spec.extreme.is_empty() {
                ""
            } else {
                " among those that fit"
            }
        )),
        _ => {}
    }
    if spec.at_most_paid {
        out.push(format!(
            "no more than the {} you paid",
            currency.amount(line.price_cents)
        ));
    }
    for (k, value, n) in references {
        out.push(format!("{k} {value}, as on your other item in order {n}"));
    }
    out.join("; ")
}

/// What executing a plan did.
#[derive(Debug, Clone, Serialize)]
pub struct Done {
    pub action_id: String,
    /// The customer's reference: a return or exchange number, else the action id.
    pub reference: String,
    pub confirmation: String,
    /// The plan had been carried out before (a repeated "yes" or a retried request).
    pub already: bool,
    /// Only prepared, for a person to approve and carry out (the platform cannot do it by API):
    /// nothing has changed yet.
    pub pending_approval: bool,
    /// The store platform's own ids for what it did (none for the embedded store).
    pub platform_ids: Vec<crate::platform::PlatformId>,
}

fn reference_for(prefix: &str, plan_id: &str) -> String {
    format!("{prefix}-{}", plan_id[..8].to_uppercase())
}

/// Carries a confirmed plan out in one transaction, with its log entry. The plan's id makes it
/// idempotent.
pub fn execute(
    store: &dyn OrderStore,
    policy: &Policy,
    currency: Currency,
    plan: &Plan,
    conversation_id: Option<&str>,
    now: OffsetDateTime,
) -> Result<Done, ActionError> {
    execute_via(None, store, policy, currency, plan, conversation_id, now)
}

/// [`execute`], with the change carried out by the store's `platform` when orders live on one:
/// the order is re-read from it first and checked as always, then the platform does the change
/// inside the transaction (its refusal, or no answer, rolls everything back), and its result is
/// what is saved and logged (see [`crate::platform::settle`]).
pub fn execute_via(
    platform: Option<&dyn crate::platform::Platform>,
    store: &dyn OrderStore,
    policy: &Policy,
    currency: Currency,
    plan: &Plan,
    conversation_id: Option<&str>,
    now: OffsetDateTime,
) -> Result<Done, ActionError> {
    let platform = platform.filter(|p| !p.is_embedded());
    if let (Some(p), Some(n)) = (platform, plan.action.order()) {
        if store
            .transaction(|tx| tx.action_by_key(&plan.id))?
            .is_none()
        {
            crate::platform::mirror_order(p, store, n)?;
        }
    }
    store.transaction(|tx| {
        if let Some(prev) = tx.action_by_key(&plan.id)? {
            return Ok(Done {
                action_id: prev.id.clone(),
                reference: prev.doc["reference"]
                    .as_str()
                    .unwrap_or(&prev.id)
                    .to_string(),
                confirmation: prev.doc["confirmation"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                already: true,
                pending_approval: crate::platform::is_staff_task(&prev),
                platform_ids: serde_json::from_value(prev.doc["platform_ids"].clone())
                    .unwrap_or_default(),
            });
        }
        let mut customer = tx
            .customer(&plan.customer_id)?
            .ok_or_else(|| ActionError::NotFound(format!("customer {}", plan.customer_id)))?;
        let customer_before = customer.clone();
        let mut order = match plan.action.order() {
            Some(n) => {
                let o = tx
                    .order(n)?
                    .ok_or_else(|| ActionError::NotFound(format!("order {n}")))?;
                // Only the verified customer's own orders.
                if o.customer_id != plan.customer_id {
                    return Err(ActionError::NotFound(format!("order {n}")));
                }
                Some(o)
            }
            None => None,
        };
        let order_before = order.clone();
        let history = match &order {
            Some(o) => tx.actions_for_order(&o.number)?,
            None => Vec::new(),
        };
        let done = |kind: &str| {
            history
                .iter()
                .filter(|a| a.kind == kind && a.status == "executed")
                .count() as u32
        };
        let locked = policy.changes.items_lock_order && done("change_order_items") > 0;
        let refused = |r: Refusal| ActionError::Refused(r.reason);
        let action_id = format!("ACT-{}", &new_id()[..12].to_uppercase());
        let (reference, confirmation) = match &plan.action {
            Action::ReturnItems {
                item_ids,
                refund_method_id,
                ..
            } => {
                let o = order.as_mut().expect("order action");
                let lines = claim_lines(o, item_ids)?;
                let products: Vec<Option<crate::orders::Product>> = lines
                    .iter()
                    .map(|&l| tx.product(&o.items[l].product_id))
                    .collect::<Result<_, _>>()?;
                let pairs: Vec<(&OrderItem, Option<&crate::orders::Product>)> = lines
                    .iter()
                    .zip(&products)
                    .map(|(&l, p)| (&o.items[l], p.as_ref()))
                    .collect();
                policy.check_return(o, &pairs, now).map_err(refused)?;
                let refund: i64 = lines.iter().map(|&l| o.items[l].line_total_cents()).sum();
                for &l in &lines {
                    o.items[l].status = ItemStatus::ReturnRequested;
                }
                let number = reference_for("RMA", &plan.id);
                o.returns.push(ReturnRecord {
                    number: number.clone(),
                    item_ids: item_ids.clone(),
                    status: ReturnStatus::Requested,
                    refund_method: refund_method_id.clone(),
                    refund_cents: refund,
                    created_at: Some(now),
                });
                o.status = OrderStatus::ReturnRequested;
                (
                    number.clone(),
                    format!(
                        "Return {number} is open for order {}. {}",
                        o.number, policy.returns.instructions
                    ),
                )
            }
            Action::ExchangeItems {
                item_ids,
                new_item_ids,
                payment_method_id,
                ..
            } => {
                let o = order.as_mut().expect("order action");
                let lines = claim_lines(o, item_ids)?;
                let products: Vec<Option<crate::orders::Product>> = lines
                    .iter()
                    .map(|&l| tx.product(&o.items[l].product_id))
                    .collect::<Result<_, _>>()?;
                let pairs: Vec<(&OrderItem, Option<&crate::orders::Product>)> = lines
                    .iter()
                    .zip(&products)
                    .map(|(&l, p)| (&o.items[l], p.as_ref()))
                    .collect();
                policy.check_exchange(o, &pairs, now).map_err(refused)?;
                if policy.exchanges.once_per_order && done("exchange_items") > 0 {
                    return Err(ActionError::Refused(format!(
                        "order {} already has an exchange",
                        o.number
                    )));
                }
                let diff = swap_prices(
                    tx,
                    o,
                    &lines,
                    new_item_ids,
                    policy.exchanges.require_in_stock,
                )?;
                check_gift_card(&customer, payment_method_id, diff, currency)?;
                for &l in &lines {
                    o.items[l].status = ItemStatus::ExchangeRequested;
                }
                let number = reference_for("EXC", &plan.id);
                o.exchanges.push(ExchangeRecord {
                    number: number.clone(),
                    item_ids: item_ids.clone(),
                    new_item_ids: new_item_ids.clone(),
                    status: ExchangeStatus::Requested,
                    price_difference_cents: diff,
                    payment_method_id: payment_method_id.clone(),
                    created_at: Some(now),
                });
                o.status = OrderStatus::ExchangeRequested;
                (
                    number.clone(),
                    format!(
                        "Exchange {number} is open for order {}. {}",
                        o.number, policy.exchanges.instructions
                    ),
                )
            }
            Action::CancelOrder {
                reason, item_ids, ..
            } => {
                let o = order.as_mut().expect("order action");
                policy.check_cancel(o).map_err(refused)?;
                if locked {
                    return Err(ActionError::Refused(format!(
                        "the items of order {} were already changed",
                        o.number
                    )));
                }
                policy.cancel_reason(reason.as_deref()).map_err(refused)?;
                let method = original_method(o).unwrap_or_default();
                let amount = if item_ids.is_empty() {
                    for i in o.items.iter_mut() {
                        i.status = ItemStatus::Cancelled;
                    }
                    o.status = OrderStatus::Cancelled;
                    o.paid_cents() - o.refunded_cents()
                } else {
                    let lines = claim_lines(o, item_ids)?;
                    let mut amount = 0;
                    for &l in &lines {
                        o.items[l].status = ItemStatus::Cancelled;
                        amount += o.items[l].line_total_cents();
                    }
                    if o.items.iter().all(|i| i.status == ItemStatus::Cancelled) {
                        o.status = OrderStatus::Cancelled;
                    }
                    amount
                };
                // Refunds go back where the money came from, each payment to its own method.
                let mut left = amount;
                let paid: Vec<Payment> = o
                    .payments
                    .iter()
                    .filter(|p| p.kind == TransactionKind::Payment)
                    .cloned()
                    .collect();
                for p in paid {
                    if left <= 0 {
                        break;
                    }
                    let part = p.amount_cents.min(left);
                    left -= part;
                    o.payments.push(Payment {
                        kind: TransactionKind::Refund,
                        amount_cents: part,
                        payment_method_id: p.payment_method_id.clone(),
                        at: Some(now),
                    });
                    credit_gift_card(&mut customer, &p.payment_method_id, part);
                }
                let gift = customer
                    .payment_method(&method)
                    .is_some_and(|m| m.kind == PaymentMethodKind::GiftCard);
                let timing = if gift {
                    &policy.cancellation.refund_timing_gift_card
                } else {
                    &policy.cancellation.refund_timing
                };
                (
                    action_id.clone(),
                    format!(
                        "Order {} is cancelled{}. The refund of {} is {timing}.",
                        o.number,
                        if item_ids.is_empty() {
                            ""
                        } else {
                            " for those items"
                        },
                        currency.amount(amount)
                    ),
                )
            }
            Action::ChangeOrderItems {
                item_ids,
                new_item_ids,
                payment_method_id,
                ..
            } => {
                let o = order.as_mut().expect("order action");
                policy
                    .check_change(o, "items", done("change_order_items"), locked)
                    .map_err(refused)?;
                let lines = claim_lines(o, item_ids)?;
                let diff = swap_prices(
                    tx,
                    o,
                    &lines,
                    new_item_ids,
                    policy.exchanges.require_in_stock,
                )?;
                check_gift_card(&customer, payment_method_id, diff, currency)?;
                for (&l, new_id) in lines.iter().zip(new_item_ids) {
                    let v = tx
                        .variant(new_id)?
                        .ok_or_else(|| ActionError::NotFound(format!("item {new_id}")))?;
                    let line = &mut o.items[l];
                    line.item_id = v.item_id.clone();
                    line.options = v.options.clone();
                    line.price_cents = v.price_cents;
                    reserve(tx, &v)?;
                }
                if diff != 0 {
                    let kind = if diff > 0 {
                        TransactionKind::Payment
                    } else {
                        TransactionKind::Refund
                    };
                    o.payments.push(Payment {
                        kind,
                        amount_cents: diff.abs(),
                        payment_method_id: payment_method_id.clone(),
                        at: Some(now),
                    });
                    credit_gift_card(&mut customer, payment_method_id, -diff);
                }
                o.subtotal_cents = o
                    .items
                    .iter()
                    .filter(|i| i.status != ItemStatus::Cancelled)
                    .map(OrderItem::line_total_cents)
                    .sum();
                o.total_cents = o.subtotal_cents + o.shipping_cents + o.tax_cents;
                (
                    action_id.clone(),
                    format!(
                        "Order {} now has the new items{}.",
                        o.number,
                        match diff.signum() {
                            1 => format!(
                                "; {} was charged to {}",
                                currency.amount(diff),
                                describe_method(&customer, payment_method_id, currency)
                            ),
                            -1 => format!(
                                "; {} is refunded to {}",
                                currency.amount(-diff),
                                describe_method(&customer, payment_method_id, currency)
                            ),
                            _ => String::new(),
                        }
                    ),
                )
            }
            Action::ChangeOrderAddress { address, .. } => {
                let o = order.as_mut().expect("order action");
                policy
                    .check_change(o, "address", done("change_order_address"), locked)
                    .map_err(refused)?;
                o.shipping_address = Some(address.clone());
                (
                    action_id.clone(),
                    format!("Order {} will ship to {}.", o.number, address.one_line()),
                )
            }
            Action::ChangeOrderPayment {
                payment_method_id, ..
            } => {
                let o = order.as_mut().expect("order action");
                policy
                    .check_change(o, "payment", done("change_order_payment"), locked)
                    .map_err(refused)?;
                let old = original_method(o).unwrap_or_default();
                if old == *payment_method_id {
                    return Err(ActionError::Refused(
                        "the order is already paid that way".into(),
                    ));
                }
                let total = o.paid_cents() - o.refunded_cents();
                check_gift_card(&customer, payment_method_id, total, currency)?;
                o.payments.push(Payment {
                    kind: TransactionKind::Payment,
                    amount_cents: total,
                    payment_method_id: payment_method_id.clone(),
                    at: Some(now),
                });
                o.payments.push(Payment {
                    kind: TransactionKind::Refund,
                    amount_cents: total,
                    payment_method_id: old.clone(),
                    at: Some(now),
                });
                credit_gift_card(&mut customer, payment_method_id, -total);
                credit_gift_card(&mut customer, &old, total);
                // The new method is the one the order is now paid with.
                o.payments.retain(|p| {
                    !(p.kind == TransactionKind::Payment && p.payment_method_id == old)
                });
                o.payments.insert(
                    0,
                    Payment {
                        kind: TransactionKind::Payment,
                        amount_cents: total,
                        payment_method_id: payment_method_id.clone(),
                        at: Some(now),
                    },
                );
                o.payments.dedup();
                (
                    action_id.clone(),
                    format!(
                        "Order {} is now paid with {}; {} is refunded to {}.",
                        o.number,
                        describe_method(&customer, payment_method_id, currency),
                        currency.amount(total),
                        describe_method(&customer, &old, currency)
                    ),
                )
            }
            Action::ChangeDefaultAddress { address } => {
                if !policy.default_address.allowed {
                    return Err(ActionError::Refused(
                        "default addresses can't be changed here".into(),
                    ));
                }
                customer.default_address = Some(address.clone());
                (
                    action_id.clone(),
                    format!("Your default address is now {}.", address.one_line()),
                )
            }
        };
        // On a platform, the platform does the change; what it reports replaces the local one.
        let (reference, confirmation, status, platform_ids) = match platform {
            Some(p) => {
                let s = crate::platform::settle(p, tx, plan, reference, confirmation)?;
                order = if s.status == "executed" {
                    s.order.or(order)
                } else {
                    order_before.clone()
                };
                customer = customer_before.clone();
                (s.reference, s.confirmation, s.status, s.platform_ids)
            }
            None => (reference, confirmation, "executed", Vec::new()),
        };
        if let Some(o) = &order {
            tx.save_order(o)?;
        }
        if customer != customer_before {
            tx.save_customer(&customer)?;
        }
        tx.save_action(&LoggedAction {
            id: action_id.clone(),
            key: plan.id.clone(),
            at: now,
            customer_id: plan.customer_id.clone(),
            actor: "assistant".into(),
            conversation_id: conversation_id.map(String::from),
            order_number: plan.action.order().map(String::from),
            kind: plan.action.kind().into(),
            status: status.into(),
            doc: json!({
                "action": plan.action,
                "summary": plan.summary,
                "grounds": plan.grounds,
                "reference": reference,
                "confirmation": confirmation,
                "platform": platform.map(|p| p.name()),
                "platform_ids": platform_ids,
                "before": {"order": order_before, "customer": customer_before},
                "after": {"order": order, "customer": customer},
            }),
        })?;
        Ok(Done {
            action_id,
            reference,
            confirmation,
            already: false,
            pending_approval: status == "staff_task",
            platform_ids,
        })
    })
}

/// The order lines (indexes) for these item ids, each still as ordered; a repeated id takes the
/// next line.
fn claim_lines(o: &Order, item_ids: &[String]) -> Result<Vec<usize>, ActionError> {
    let mut taken: Vec<usize> = Vec::new();
    for id in item_ids {
        match (0..o.items.len()).find(|&l| {
            o.items[l].item_id == *id
                && o.items[l].status == ItemStatus::Ordered
                && !taken.contains(&l)
        }) {
            Some(l) => taken.push(l),
            None => {
                return Err(ActionError::Refused(format!(
                    "item {id} is not an open line of order {}",
                    o.number
                )))
            }
        }
    }
    Ok(taken)
}

/// New minus old prices, checking each new item is another variant of the same product and can
/// be bought now.
fn swap_prices(
    tx: &mut dyn OrderWriter,
    o: &Order,
    lines: &[usize],
    new_ids: &[String],
    in_stock: bool,
) -> Result<i64, ActionError> {
    if lines.len() != new_ids.len() {
        return Err(ActionError::Refused(
            "every item needs exactly one replacement".into(),
        ));
    }
    let mut diff = 0;
    for (&l, new_id) in lines.iter().zip(new_ids) {
        let v = tx
            .variant(new_id)?
            .ok_or_else(|| ActionError::NotFound(format!("item {new_id}")))?;
        if v.product_id != o.items[l].product_id {
            return Err(ActionError::Refused(format!(
                "the {} can only be swapped for another option of the same product",
                o.items[l].name
            )));
        }
        let buyable = if in_stock { v.in_stock() } else { v.available };
        if !buyable {
            return Err(ActionError::Refused(format!(
                "{} is not available right now",
                variant_label(&o.items[l].name, &v)
            )));
        }
        diff += v.price_cents - o.items[l].price_cents;
    }
    Ok(diff)
}

fn check_gift_card(
    customer: &Customer,
    method: &str,
    charge: i64,
    currency: Currency,
) -> Result<(), ActionError> {
    if let Some(m) = customer.payment_method(method) {
        if m.kind == PaymentMethodKind::GiftCard
            && charge > 0
            && m.balance_cents.unwrap_or(0) < charge
        {
            return Err(ActionError::Refused(format!(
                "the gift card's balance ({}) doesn't cover {}",
                currency.amount(m.balance_cents.unwrap_or(0)),
                currency.amount(charge)
            )));
        }
    }
    Ok(())
}

/// Adds `cents` (negative: takes) to a gift card's balance; other methods are unchanged here.
fn credit_gift_card(customer: &mut Customer, method: &str, cents: i64) {
    if let Some(m) = customer
        .payment_methods
        .iter_mut()
        .find(|m| m.id == method && m.kind == PaymentMethodKind::GiftCard)
    {
        m.balance_cents = Some(m.balance_cents.unwrap_or(0) + cents);
    }
}

/// Takes one unit of a counted variant's stock for a change.
fn reserve(tx: &mut dyn OrderWriter, v: &Variant) -> Result<(), OrderError> {
    if v.stock.is_none() {
        return Ok(());
    }
    if let Some(mut p) = tx.product(&v.product_id)? {
        if let Some(pv) = p.variants.iter_mut().find(|x| x.item_id == v.item_id) {
            pv.stock = pv.stock.map(|s| s - 1);
        }
        tx.save_product(&p)?;
    }
    Ok(())
}

/// One side (`before`/`after`) of a logged action's snapshot of `what` (`order`, `customer`):
/// `None` when it holds none, an error when it holds one that does not decode.
fn snapshot<T: serde::de::DeserializeOwned>(
    entry: &LoggedAction,
    side: &str,
    what: &str,
) -> Result<Option<T>, ActionError> {
    let value = &entry.doc[side][what];
    if value.is_null() {
        return Ok(None);
    }
    serde_json::from_value(value.clone())
        .map(Some)
        .map_err(|e| ActionError::UnreadableRecord {
            id: entry.id.clone(),
            message: format!("{side}.{what}: {e}"),
        })
}

/// Undoes a logged action, for an admin, while nothing has changed since: the order (and
/// customer) must still be exactly as the action left them. Logs the reversal.
pub fn revert(
    store: &dyn OrderStore,
    action_id: &str,
    admin: &str,
    now: OffsetDateTime,
) -> Result<String, ActionError> {
    let logged = store
        .action(action_id)?
        .ok_or_else(|| ActionError::NotFound(format!("action {action_id}")))?;
    store.transaction(|tx| {
        let entry = tx.action_by_key(&logged.key)?.ok_or_else(|| ActionError::NotFound(format!("action {action_id}")))?;
        if entry.status != "executed" {
            return Err(ActionError::Refused(format!("action {action_id} is {}, not executed", entry.status)));
        }
        // Undoing only our copy would leave the platform's order as it is.
        if let Some(platform) = entry.doc["platform"].as_str() {
            return Err(ActionError::Refused(format!("action {action_id} was carried out in {platform}; undo it there")));
        }
        // A snapshot that is there but does not decode refuses the undo: marking the action
        // reverted with nothing restored would tell the admin something false.
        let after_order: Option<Order> = snapshot(&entry, "after", "order")?;
        let before_order: Option<Order> = snapshot(&entry, "before", "order")?;
        let after_customer: Option<Customer> = snapshot(&entry, "after", "customer")?;
        let before_customer: Option<Customer> = snapshot(&entry, "before", "customer")?;
        let restores_order = after_order.is_some() && before_order.is_some();
        let restores_customer = after_customer.is_some() && before_customer.is_some();
        if !restores_order && !restores_customer {
            return Err(ActionError::UnreadableRecord { id: action_id.to_string(), message: "it holds no before-and-after snapshot to restore".into() });
        }
        if let (Some(after), Some(before)) = (&after_order, &before_order) {
            let now_order = tx.order(&after.number)?.ok_or_else(|| ActionError::NotFound(format!("order {}", after.number)))?;
            if now_order != *after {
                return Err(ActionError::Refused(format!("order {} has changed since ({}), so this action can no longer be undone automatically", after.number, now_order.status.label().to_lowercase())));
            }
            tx.save_order(before)?;
        }
        if let (Some(after), Some(before)) = (&after_customer, &before_customer) {
            if after != before {
                let now_customer = tx.customer(&after.id)?.ok_or_else(|| ActionError::NotFound(format!("customer {}", after.id)))?;
                if now_customer != *after {
                    return Err(ActionError::Refused(format!("customer {}'s account has changed since, so this action can no longer be undone automatically", after.id)));
                }
                tx.save_customer(before)?;
            }
        }
        let mut reverted = entry.clone();
        reverted.status = "reverted".into();
        tx.save_action(&reverted)?;
        let id = format!("ACT-{}", &new_id()[..12].to_uppercase());
        tx.save_action(&LoggedAction {
            id: id.clone(),
            key: format!("revert:{action_id}"),
            at: now,
            customer_id: entry.customer_id.clone(),
            actor: format!("admin:{admin}"),
            conversation_id: entry.conversation_id.clone(),
            order_number: entry.order_number.clone(),
            kind: format!("revert_{}", entry.kind),
            status: "executed".into(),
            doc: json!({"reverts": action_id, "before": entry.doc["after"], "after": entry.doc["before"]}),
        })?;
        Ok(id)
    })
}
