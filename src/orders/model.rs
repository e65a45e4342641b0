//! The order store's records: customers, products and their variants, orders with their items,
//! payments, shipments, returns and exchanges. These serde forms are both what the database keeps
//! (one JSON document per record) and the `canonical` import format, so they change only in
//! backwards-compatible ways: new fields get `#[serde(default)]`.
//!
//! Money is always integer cents (`*_cents: i64`), never floating point. Timestamps are
//! RFC 3339 strings on the wire and [`OffsetDateTime`] in Rust; dates are `YYYY-MM-DD`.
//! Unknown fields are ignored rather than rejected, so an older binary can still read a record
//! written by a newer one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

/// A postal address. `region` is the state or province (`OR`), `country` an ISO code or name.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Address {
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    pub city: String,
    pub region: String,
    pub postcode: String,
    pub country: String,
}

impl Address {
    /// One line, as a support answer would quote it: "2218 NW Flanders St, Portland, OR 97210".
    pub fn one_line(&self) -> String {
        let mut s = self.line1.clone();
        if let Some(l2) = self.line2.as_deref().filter(|l| !l.is_empty()) {
            s.push_str(", ");
            s.push_str(l2);
        }
        s.push_str(&format!(
            ", {}, {} {}",
            self.city, self.region, self.postcode
        ));
        if !matches!(self.country.as_str(), "US" | "USA" | "United States" | "") {
            s.push_str(&format!(", {}", self.country));
        }
        s
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// `None` only for customers a source gave no address for (a Shopify gift-card buyer).
    #[serde(default)]
    pub default_address: Option<Address>,
    #[serde(default)]
    pub payment_methods: Vec<PaymentMethod>,
}

impl Customer {
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
            .trim()
            .to_string()
    }

    pub fn payment_method(&self, id: &str) -> Option<&PaymentMethod> {
        self.payment_methods.iter().find(|p| p.id == id)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethodKind {
    CreditCard,
    DebitCard,
    Paypal,
    ApplePay,
    GooglePay,
    ShopPayInstallments,
    GiftCard,
    /// Store credit from a return: a Larkfield gift card with the 10% bonus added.
    StoreCredit,
    /// A gateway the importer did not recognise (kept, so refunds can still name it).
    Other,
}

impl PaymentMethodKind {
    pub fn label(self) -> &'static str {
        match self {
            Self::CreditCard => "credit card",
            Self::DebitCard => "debit card",
            Self::Paypal => "PayPal",
            Self::ApplePay => "Apple Pay",
            Self::GooglePay => "Google Pay",
            Self::ShopPayInstallments => "Shop Pay Installments",
            Self::GiftCard => "gift card",
            Self::StoreCredit => "store credit",
            Self::Other => "other payment method",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentMethod {
    /// Stable id that payments and refunds refer to (τ-bench: `credit_card_7815826`).
    pub id: String,
    pub kind: PaymentMethodKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last4: Option<String>,
    /// Remaining balance, for gift cards and store credit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance_cents: Option<i64>,
}

impl PaymentMethod {
    /// How an answer names it without revealing more than the last four digits:
    /// "Visa ending 4242", "PayPal", "gift card (balance $12.00)" (in the store's `currency`).
    pub fn describe(&self, currency: crate::money::Currency) -> String {
        let mut s = match (&self.brand, &self.last4) {
            (Some(b), Some(l)) => format!("{} ending {l}", capitalise(b)),
            (None, Some(l)) => format!("{} ending {l}", self.kind.label()),
            (Some(b), None) => format!("{} {}", capitalise(b), self.kind.label()),
            (None, None) => self.kind.label().to_string(),
        };
        if let Some(b) = self.balance_cents {
            s.push_str(&format!(" (balance {})", currency.amount(b)));
        }
        s
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A product and its variants. The product's `options` list every value its variants use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub description: String,
    /// Lower-case slugs; `final-sale` marks items that cannot be returned or exchanged.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Descriptive attributes shown on the product page ("Material", "Fit", "Care").
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Option name → the values variants use, in display order ("Size" → XS..XXL).
    #[serde(default)]
    pub options: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub variants: Vec<Variant>,
    /// The product's page on the store, where the platform says (Shopify's `onlineStoreUrl`);
    /// otherwise `store.product_url` makes one from the id (see `demo::product_documents`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The tag that makes a product final sale.
pub const FINAL_SALE_TAG: &str = "final-sale";

impl Product {
    pub fn is_final_sale(&self) -> bool {
        self.tags.iter().any(|t| t == FINAL_SALE_TAG)
    }

    pub fn variant(&self, item_id: &str) -> Option<&Variant> {
        self.variants.iter().find(|v| v.item_id == item_id)
    }

    /// Lowest and highest variant price, when there are variants.
    pub fn price_range_cents(&self) -> Option<(i64, i64)> {
        let min = self.variants.iter().map(|v| v.price_cents).min()?;
        let max = self.variants.iter().map(|v| v.price_cents).max()?;
        Some((min, max))
    }
}

/// One purchasable combination of option values, identified by its `item_id` (the SKU).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variant {
    pub item_id: String,
    pub product_id: String,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    pub price_cents: i64,
    /// Whether the variant is sold at all (a discontinued colour is `false`).
    pub available: bool,
    /// Units on hand; `None` when the source does not track inventory (τ-bench, digital goods).
    #[serde(default)]
    pub stock: Option<i64>,
}

impl Variant {
    /// Whether it can be bought (or exchanged for) right now.
    pub fn in_stock(&self) -> bool {
        self.available && self.stock.is_none_or(|s| s > 0)
    }

    /// "White / M": option values in option-name order.
    pub fn options_label(&self) -> String {
        self.options
            .values()
            .cloned()
            .collect::<Vec<_>>()
            .join(" / ")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Payment being confirmed.
    Pending,
    /// Paid, being packed.
    Processing,
    Shipped,
    Delivered,
    Cancelled,
    /// The return reached the warehouse (the whole order).
    Returned,
    ReturnRequested,
    ExchangeRequested,
    /// Some items were returned, others kept.
    PartiallyReturned,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 9] = [
        Self::Pending,
        Self::Processing,
        Self::Shipped,
        Self::Delivered,
        Self::Cancelled,
        Self::Returned,
        Self::ReturnRequested,
        Self::ExchangeRequested,
        Self::PartiallyReturned,
    ];

    /// The stored and serialised form (`return_requested`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Shipped => "shipped",
            Self::Delivered => "delivered",
            Self::Cancelled => "cancelled",
            Self::Returned => "returned",
            Self::ReturnRequested => "return_requested",
            Self::ExchangeRequested => "exchange_requested",
            Self::PartiallyReturned => "partially_returned",
        }
    }

    /// What a customer is shown, matching the status table on the order-tracking help page.
    pub fn label(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Processing => "Processing",
            Self::Shipped => "Shipped",
            Self::Delivered => "Delivered",
            Self::Cancelled => "Cancelled",
            Self::Returned => "Returned",
            Self::ReturnRequested => "Return requested",
            Self::ExchangeRequested => "Exchange requested",
            Self::PartiallyReturned => "Partially returned",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Nothing has left the warehouse yet: the help pages promise these can be cancelled or
    /// changed.
    pub fn is_unshipped(self) -> bool {
        matches!(self, Self::Pending | Self::Processing)
    }
}

impl std::fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    #[default]
    Ordered,
    Cancelled,
    ReturnRequested,
    Returned,
    ExchangeRequested,
    Exchanged,
}

impl ItemStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ordered => "ordered",
            Self::Cancelled => "cancelled",
            Self::ReturnRequested => "return_requested",
            Self::Returned => "returned",
            Self::ExchangeRequested => "exchange_requested",
            Self::Exchanged => "exchanged",
        }
    }
}

/// One order line. τ-bench orders can list the same `item_id` twice; those stay two lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderItem {
    pub item_id: String,
    pub product_id: String,
    pub name: String,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Unit price paid.
    pub price_cents: i64,
    pub quantity: u32,
    #[serde(default)]
    pub final_sale: bool,
    #[serde(default)]
    pub status: ItemStatus,
}

impl OrderItem {
    pub fn line_total_cents(&self) -> i64 {
        self.price_cents * i64::from(self.quantity)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionKind {
    Payment,
    Refund,
}

/// Money moving: a charge or a refund, always a positive amount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub kind: TransactionKind,
    pub amount_cents: i64,
    pub payment_method_id: String,
    #[serde(
        default,
        with = "rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub at: Option<OffsetDateTime>,
}

/// One parcel and its carrier tracking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fulfilment {
    /// "UPS", "USPS"; `None` when the source does not say (τ-bench).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier: Option<String>,
    /// "Ground", "2nd Day Air", "Ground Advantage".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    pub tracking_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_url: Option<String>,
    /// The order lines (by item id) in this parcel.
    #[serde(default)]
    pub item_ids: Vec<String>,
    #[serde(
        default,
        with = "rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub shipped_at: Option<OffsetDateTime>,
    #[serde(default, with = "ymd::option", skip_serializing_if = "Option::is_none")]
    pub estimated_delivery: Option<Date>,
    #[serde(
        default,
        with = "rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub delivered_at: Option<OffsetDateTime>,
    /// Carrier scans, oldest first.
    #[serde(default)]
    pub events: Vec<TrackingEvent>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackingEvent {
    #[serde(with = "rfc3339")]
    pub at: OffsetDateTime,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReturnStatus {
    /// Started; the parcel has not reached us yet.
    Requested,
    /// At the warehouse, being inspected.
    Received,
    Refunded,
    Rejected,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnRecord {
    /// "RMA-300001" (demo), the source's own id otherwise.
    pub number: String,
    pub item_ids: Vec<String>,
    pub status: ReturnStatus,
    /// The payment method id the refund goes to: the original method, or a store-credit gift
    /// card.
    pub refund_method: String,
    pub refund_cents: i64,
    #[serde(
        default,
        with = "rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub created_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExchangeStatus {
    Requested,
    /// The replacement has shipped (it ships when the return is first scanned).
    Shipped,
    Completed,
}

/// A swap for another variant of the same product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeRecord {
    pub number: String,
    /// Lines sent back…
    pub item_ids: Vec<String>,
    /// …and their replacements, position by position.
    pub new_item_ids: Vec<String>,
    pub status: ExchangeStatus,
    /// New minus old: positive is charged, negative refunded.
    pub price_difference_cents: i64,
    pub payment_method_id: String,
    #[serde(
        default,
        with = "rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub created_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// As the customer sees it: "LF-100234", "#W2611340", "#1001".
    pub number: String,
    pub customer_id: String,
    pub status: OrderStatus,
    /// `None` when the source has no order dates (τ-bench).
    #[serde(default, with = "rfc3339::option")]
    pub created_at: Option<OffsetDateTime>,
    pub items: Vec<OrderItem>,
    pub subtotal_cents: i64,
    #[serde(default)]
    pub shipping_cents: i64,
    #[serde(default)]
    pub tax_cents: i64,
    pub total_cents: i64,
    /// "standard", "express", "next_day", or the source's own name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_method: Option<String>,
    /// `None` for orders with nothing to ship (a gift card).
    #[serde(default)]
    pub shipping_address: Option<Address>,
    #[serde(default)]
    pub payments: Vec<Payment>,
    #[serde(default)]
    pub fulfilments: Vec<Fulfilment>,
    #[serde(default)]
    pub returns: Vec<ReturnRecord>,
    #[serde(default)]
    pub exchanges: Vec<ExchangeRecord>,
}

impl Order {
    pub fn item(&self, item_id: &str) -> Option<&OrderItem> {
        self.items.iter().find(|i| i.item_id == item_id)
    }

    pub fn paid_cents(&self) -> i64 {
        self.payments
            .iter()
            .filter(|p| p.kind == TransactionKind::Payment)
            .map(|p| p.amount_cents)
            .sum()
    }

    pub fn refunded_cents(&self) -> i64 {
        self.payments
            .iter()
            .filter(|p| p.kind == TransactionKind::Refund)
            .map(|p| p.amount_cents)
            .sum()
    }

    /// When the last parcel was delivered, if every parcel has been: the start of the return
    /// window.
    pub fn delivered_at(&self) -> Option<OffsetDateTime> {
        if self.fulfilments.is_empty() {
            return None;
        }
        self.fulfilments
            .iter()
            .map(|f| f.delivered_at)
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .max()
    }
}

/// One entry of the action log: a change made to the store on a customer's behalf (or its
/// reversal), kept beside the records it changed so both commit in one transaction. `doc` holds
/// the details the acting module chose to keep (what, before, after); the store only indexes the
/// columns here and keeps `key` unique, which is what makes an action idempotent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedAction {
    /// "ACT-…".
    pub id: String,
    /// The same key twice is the same action: the second attempt finds the first.
    pub key: String,
    #[serde(with = "rfc3339")]
    pub at: OffsetDateTime,
    /// Who asked: the verified customer.
    pub customer_id: String,
    /// Who did it: "assistant", or "admin:<name>" for a reversal.
    pub actor: String,
    #[serde(default)]
    pub conversation_id: Option<String>,
    #[serde(default)]
    pub order_number: Option<String>,
    /// "return_items", "exchange_items", "cancel_order", …
    pub kind: String,
    /// "executed" or "reverted".
    pub status: String,
    pub doc: serde_json::Value,
}

/// Everything in a store, in the `canonical` import format.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    #[serde(default)]
    pub customers: Vec<Customer>,
    #[serde(default)]
    pub products: Vec<Product>,
    #[serde(default)]
    pub orders: Vec<Order>,
}

// Problems a record can have that the store refuses to save. Messages name the field.
pub(crate) fn check_customer(c: &Customer) -> Result<(), String> {
    if c.id.trim().is_empty() {
        return Err("id is empty".into());
    }
    let mut ids = std::collections::HashSet::new();
    for p in &c.payment_methods {
        if p.id.trim().is_empty() {
            return Err("a payment method has an empty id".into());
        }
        if !ids.insert(p.id.as_str()) {
            return Err(format!("payment method id {:?} appears twice", p.id));
        }
    }
    Ok(())
}

pub(crate) fn check_product(p: &Product) -> Result<(), String> {
    if p.id.trim().is_empty() {
        return Err("id is empty".into());
    }
    let mut ids = std::collections::HashSet::new();
    for v in &p.variants {
        if v.item_id.trim().is_empty() {
            return Err("a variant has an empty item_id".into());
        }
        if v.product_id != p.id {
            return Err(format!(
                "variant {:?} names product {:?}",
                v.item_id, v.product_id
            ));
        }
        if !ids.insert(v.item_id.as_str()) {
            return Err(format!("variant {:?} appears twice", v.item_id));
        }
        if v.price_cents < 0 {
            return Err(format!("variant {:?} has a negative price", v.item_id));
        }
    }
    Ok(())
}

pub(crate) fn check_order(o: &Order) -> Result<(), String> {
    if o.number.trim().is_empty() {
        return Err("number is empty".into());
    }
    if super::normalise_order_number(&o.number).is_empty() {
        return Err(format!("number {:?} has no letters or digits", o.number));
    }
    if o.customer_id.trim().is_empty() {
        return Err("customer_id is empty".into());
    }
    for (i, item) in o.items.iter().enumerate() {
        if item.item_id.trim().is_empty() {
            return Err(format!("items[{i}].item_id is empty"));
        }
        if item.quantity == 0 {
            return Err(format!("items[{i}].quantity is 0"));
        }
        if item.price_cents < 0 {
            return Err(format!("items[{i}].price_cents is negative"));
        }
    }
    for (name, v) in [
        ("subtotal_cents", o.subtotal_cents),
        ("shipping_cents", o.shipping_cents),
        ("tax_cents", o.tax_cents),
        ("total_cents", o.total_cents),
    ] {
        if v < 0 {
            return Err(format!("{name} is negative"));
        }
    }
    if let Some(i) = o.payments.iter().position(|p| p.amount_cents < 0) {
        return Err(format!("payments[{i}].amount_cents is negative"));
    }
    Ok(())
}

/// serde for [`OffsetDateTime`] as an RFC 3339 string (kept here rather than enabling `time`'s
/// own serde feature, so the wire form is spelled out in one place).
pub mod rfc3339 {
    use serde::{de::Error as _, ser::Error as _, Deserialize, Deserializer, Serializer};
    use time::{format_description::well_known::Rfc3339, OffsetDateTime};

    pub fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.format(&Rfc3339).map_err(S::Error::custom)?)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map_err(D::Error::custom)
    }

    pub fn parse(text: &str) -> Result<OffsetDateTime, String> {
        OffsetDateTime::parse(text, &Rfc3339)
            .map_err(|e| format!("{text:?} is not an RFC 3339 timestamp ({e})"))
    }

    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};
        use time::OffsetDateTime;

        pub fn serialize<S: Serializer>(
            t: &Option<OffsetDateTime>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => super::serialize(t, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<OffsetDateTime>, D::Error> {
            match Option::<String>::deserialize(d)? {
                Some(text) => super::parse(&text)
                    .map(Some)
                    .map_err(serde::de::Error::custom),
                None => Ok(None),
            }
        }
    }
}

/// serde for [`Date`] as `YYYY-MM-DD`.
pub mod ymd {
    use serde::{de::Error as _, ser::Error as _, Deserialize, Deserializer, Serializer};
    use time::{format_description::BorrowedFormatItem, macros::format_description, Date};

    const FORMAT: &[BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day]");

    pub fn serialize<S: Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&d.format(FORMAT).map_err(S::Error::custom)?)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map_err(D::Error::custom)
    }

    pub fn parse(text: &str) -> Result<Date, String> {
        Date::parse(text, FORMAT).map_err(|e| format!("{text:?} is not a YYYY-MM-DD date ({e})"))
    }

    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};
        use time::Date;

        pub fn serialize<S: Serializer>(d: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => super::serialize(d, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
            match Option::<String>::deserialize(d)? {
                Some(text) => super::parse(&text)
                    .map(Some)
                    .map_err(serde::de::Error::custom),
                None => Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    #[test]
    fn statuses_round_trip_through_their_stored_form() {
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert_eq!(OrderStatus::ReturnRequested.label(), "Return requested");
        assert_eq!(OrderStatus::parse("shiped"), None);
    }

    #[test]
    fn payment_methods_are_described_by_last_four_only() {
        let card = PaymentMethod {
            id: "card_1".into(),
            kind: PaymentMethodKind::CreditCard,
            brand: Some("visa".into()),
            last4: Some("4242".into()),
            balance_cents: None,
        };
        assert_eq!(card.describe(Currency::default()), "Visa ending 4242");
        let gift = PaymentMethod {
            id: "gc".into(),
            kind: PaymentMethodKind::GiftCard,
            brand: None,
            last4: None,
            balance_cents: Some(1200),
        };
        assert_eq!(
            gift.describe(Currency::default()),
            "gift card (balance $12.00)"
        );
        let euro = Currency::from_code("EUR").unwrap();
        assert_eq!(gift.describe(euro), "gift card (balance €12.00)");
    }

    #[test]
    fn timestamps_and_dates_use_rfc3339_and_iso_dates() {
        let f: Fulfilment =
            serde_json::from_str(r#"{"carrier":"UPS","tracking_number":"1Z","shipped_at":"2026-10-01T22:00:00Z","estimated_delivery":"2026-10-06"}"#).unwrap();
        assert_eq!(
            f.estimated_delivery,
            Some(time::macros::date!(2026 - 10 - 06))
        );
        let back = serde_json::to_value(&f).unwrap();
        assert_eq!(back["shipped_at"], "2026-10-01T22:00:00Z");
        assert!(serde_json::from_str::<Fulfilment>(
            r#"{"tracking_number":"1Z","shipped_at":"yesterday"}"#
        )
        .unwrap_err()
        .to_string()
        .contains("RFC 3339"));
    }
}
