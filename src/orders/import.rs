//! Step: loading a store's existing data into the order store, all or nothing.
//!
//! [`import`] reads one JSON file in one of three [`Format`]s, converts it to the store's records
//! (checking every field it needs, and naming the file and JSON path of the first problem), then
//! saves everything in one transaction: a file that fails anywhere leaves the store exactly as it
//! was. Re-importing a file replaces the records it contains (by customer id, product id and
//! order number). This module does not fetch from APIs or schedule syncs; it reads exports.
//!
//! ## `canonical`
//!
//! The store's own records in exactly their serde form (see [`super::model`]): the format
//! [`super::SqliteOrderStore::export`] writes. Every section is optional; money is in cents,
//! timestamps RFC 3339, dates `YYYY-MM-DD`.
//!
//! ```json
//! {
//!   "customers": [{
//!     "id": "cus_001", "first_name": "Maya", "last_name": "Chen", "email": "maya.chen@example.com",
//!     "phone": "+1 503-555-0142",
//!     "default_address": {"line1": "2218 NW Flanders St", "city": "Portland", "region": "OR",
//!                         "postcode": "97210", "country": "US"},
//!     "payment_methods": [{"id": "card_001_1", "kind": "credit_card", "brand": "visa", "last4": "4242"}]
//!   }],
//!   "products": [{
//!     "id": "canvas-tote", "name": "Canvas Tote", "category": "Bags", "description": "…",
//!     "tags": [], "options": {"Colour": ["Natural", "Black"]},
//!     "variants": [{"item_id": "TOT-NATURAL", "product_id": "canvas-tote",
//!                   "options": {"Colour": "Natural"}, "price_cents": 3800, "available": true, "stock": 14}]
//!   }],
//!   "orders": [{
//!     "number": "LF-100003", "customer_id": "cus_001", "status": "pending",
//!     "created_at": "2026-11-26T16:05:00Z",
//!     "items": [{"item_id": "TOT-NATURAL", "product_id": "canvas-tote", "name": "Canvas Tote",
//!                "options": {"Colour": "Natural"}, "price_cents": 3800, "quantity": 1}],
//!     "subtotal_cents": 3800, "shipping_cents": 595, "tax_cents": 0, "total_cents": 4395,
//!     "shipping_method": "standard",
//!     "payments": [{"kind": "payment", "amount_cents": 4395, "payment_method_id": "card_001_1"}]
//!   }]
//! }
//! ```
//!
//! ## `shopify`
//!
//! Shopify Admin REST API exports: a file with `{"orders": [...]}` (from `orders.json`), with
//! `{"products": [...]}` (from `products.json`), or both. Import products first so order lines
//! get their variant options and final-sale flags. Customers are created from each order's
//! `customer` (guest orders: from the order email, as customer `guest-<email>`), and an existing
//! customer with the same email keeps its id. Statuses: `cancelled_at` → cancelled; refunds of
//! every line of a fulfilled order → returned, of some lines → partially returned; all
//! fulfilments `delivered` → delivered; fulfilled or partially fulfilled → shipped; paid →
//! processing; otherwise pending. Shopify ids (numbers) become decimal strings; an order's number
//! is its `name` ("#1001"). Tags are slugged, so "Final Sale" becomes `final-sale`.
//!
//! ## `tau-retail`
//!
//! The τ-bench retail `db.json` (`users`, `products`, `orders` objects keyed by id). Every id is
//! kept exactly (user ids as customer ids, "#W…" order numbers, item ids, payment method ids such
//! as `credit_card_7815826`). Statuses: `pending` (also `pending (item modified)`) → pending,
//! `processed` → shipped (those orders have tracking and can no longer be changed), `delivered`,
//! `cancelled`, `return requested`, `exchange requested`. τ has no dates, carriers, shipping
//! charges, tax or stock counts, so those stay empty (`None`, or 0 for shipping and tax).

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
    path::Path,
    str::FromStr,
};

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::{
    model::rfc3339, normalise_email, normalise_order_number, Address, Customer, Dataset,
    ExchangeRecord, ExchangeStatus, Fulfilment, ItemStatus, Order, OrderError, OrderItem,
    OrderStatus, OrderStore, Payment, PaymentMethod, PaymentMethodKind, Product, ReturnRecord,
    ReturnStatus, TransactionKind, Variant,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Canonical,
    Shopify,
    TauRetail,
}

impl Format {
    pub const ALL: [Format; 3] = [Self::Canonical, Self::Shopify, Self::TauRetail];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Canonical => "canonical",
            Self::Shopify => "shopify",
            Self::TauRetail => "tau-retail",
        }
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                format!("unknown import format {s:?} (expected canonical, shopify or tau-retail)")
            })
    }
}

/// How many records an import saved (created or replaced).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    pub customers: usize,
    pub products: usize,
    pub orders: usize,
}

/// Why an import failed. Nothing was saved. [`ImportError::code`] is stable.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: not valid JSON (line {line}, column {column}): {message}")]
    Syntax {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// A field is missing, has the wrong type, or holds a value that makes no sense.
    #[error("{file}: {path}: {message}")]
    Field {
        file: String,
        path: String,
        message: String,
    },
    /// The store refused a record (for example an order for an unknown customer).
    #[error("{file}: {path}: {source}")]
    Store {
        file: String,
        path: String,
        source: Box<OrderError>,
    },
}

impl ImportError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Io { .. } => "import.io",
            Self::Syntax { .. } => "import.syntax",
            Self::Field { .. } => "import.field",
            Self::Store { .. } => "import.store",
        }
    }
}

type Result<T, E = ImportError> = std::result::Result<T, E>;

/// Imports the file at `path` into `store` in one transaction.
pub fn import(store: &dyn OrderStore, path: &Path, format: Format) -> Result<ImportSummary> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ImportError::Io {
        file: file.clone(),
        source,
    })?;
    import_str(store, &text, format, &file)
}

/// Imports JSON text; `file` names it in errors.
pub fn import_str(
    store: &dyn OrderStore,
    text: &str,
    format: Format,
    file: &str,
) -> Result<ImportSummary> {
    let parsed = parse(store, text, format, file)?;
    save(store, parsed, file)
}

/// Records with the JSON path each came from, for error messages.
#[derive(Default)]
struct Parsed {
    data: Dataset,
    customer_paths: Vec<String>,
    product_paths: Vec<String>,
    order_paths: Vec<String>,
}

impl Parsed {
    fn customer(&mut self, c: Customer, path: String) {
        self.data.customers.push(c);
        self.customer_paths.push(path);
    }
    fn product(&mut self, p: Product, path: String) {
        self.data.products.push(p);
        self.product_paths.push(path);
    }
    fn order(&mut self, o: Order, path: String) {
        self.data.orders.push(o);
        self.order_paths.push(path);
    }
}

fn parse(store: &dyn OrderStore, text: &str, format: Format, file: &str) -> Result<Parsed> {
    let root: Value = serde_json::from_str(text).map_err(|e| ImportError::Syntax {
        file: file.into(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let parsed = match format {
        Format::Canonical => canonical(root, file)?,
        Format::Shopify => shopify::parse(store, At::root(file, &root))?,
        Format::TauRetail => tau::parse(At::root(file, &root))?,
    };
    check_duplicates(&parsed, file)?;
    Ok(parsed)
}

/// The same id twice in one file would silently keep only the last record; refuse instead.
fn check_duplicates(p: &Parsed, file: &str) -> Result<()> {
    fn first_repeat(
        keys: impl Iterator<Item = String>,
        paths: &[String],
    ) -> Option<(&str, &str, String)> {
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, k) in keys.enumerate() {
            if let Some(&first) = seen.get(&k) {
                return Some((&paths[first], &paths[i], k));
            }
            seen.insert(k, i);
        }
        None
    }
    let dup = |(first, again, key): (&str, &str, String), what: &str| ImportError::Field {
        file: file.into(),
        path: again.into(),
        message: format!("{what} {key:?} already appears at {first}"),
    };
    if let Some(d) = first_repeat(
        p.data.customers.iter().map(|c| c.id.clone()),
        &p.customer_paths,
    ) {
        return Err(dup(d, "customer id"));
    }
    if let Some(d) = first_repeat(
        p.data.products.iter().map(|c| c.id.clone()),
        &p.product_paths,
    ) {
        return Err(dup(d, "product id"));
    }
    if let Some(d) = first_repeat(
        p.data
            .orders
            .iter()
            .map(|o| normalise_order_number(&o.number)),
        &p.order_paths,
    ) {
        return Err(dup(d, "order number (normalised)"));
    }
    Ok(())
}

/// One transaction: customers, then products, then orders (orders need their customers).
fn save(store: &dyn OrderStore, p: Parsed, file: &str) -> Result<ImportSummary> {
    let mut failed_at = String::new();
    let result = store.write(&mut |w| {
        for (c, path) in p.data.customers.iter().zip(&p.customer_paths) {
            w.save_customer(c)
                .inspect_err(|_| failed_at = path.clone())?;
        }
        for (pr, path) in p.data.products.iter().zip(&p.product_paths) {
            w.save_product(pr)
                .inspect_err(|_| failed_at = path.clone())?;
        }
        for (o, path) in p.data.orders.iter().zip(&p.order_paths) {
            w.save_order(o).inspect_err(|_| failed_at = path.clone())?;
        }
        Ok(())
    });
    result.map_err(|source| ImportError::Store {
        file: file.into(),
        path: failed_at,
        source: Box::new(source),
    })?;
    Ok(ImportSummary {
        customers: p.data.customers.len(),
        products: p.data.products.len(),
        orders: p.data.orders.len(),
    })
}

fn canonical(root: Value, file: &str) -> Result<Parsed> {
    let field_err = |path: String, message: String| ImportError::Field {
        file: file.into(),
        path,
        message,
    };
    let Value::Object(mut top) = root else {
        return Err(field_err(
            "$".into(),
            "expected an object with \"customers\", \"products\" and/or \"orders\"".into(),
        ));
    };
    if let Some(key) = top
        .keys()
        .find(|k| !matches!(k.as_str(), "customers" | "products" | "orders"))
    {
        return Err(field_err(
            key.clone(),
            "unexpected key (expected \"customers\", \"products\" or \"orders\")".into(),
        ));
    }
    fn section<T: serde::de::DeserializeOwned>(
        top: &mut serde_json::Map<String, Value>,
        key: &str,
        file: &str,
    ) -> Result<Vec<(T, String)>> {
        let items = match top.remove(key) {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(_) => {
                return Err(ImportError::Field {
                    file: file.into(),
                    path: key.into(),
                    message: "expected an array".into(),
                })
            }
        };
        items
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                let path = format!("{key}[{i}]");
                serde_json::from_value(v)
                    .map(|t| (t, path.clone()))
                    .map_err(|e| ImportError::Field {
                        file: file.into(),
                        path,
                        message: e.to_string(),
                    })
            })
            .collect()
    }
    let mut parsed = Parsed::default();
    for (c, path) in section::<Customer>(&mut top, "customers", file)? {
        parsed.customer(c, path);
    }
    for (p, path) in section::<Product>(&mut top, "products", file)? {
        parsed.product(p, path);
    }
    for (o, path) in section::<Order>(&mut top, "orders", file)? {
        parsed.order(o, path);
    }
    Ok(parsed)
}

/// A JSON value and where it is, so every complaint names its path
/// (`orders["#W2611340"].items[1].price`).
#[derive(Clone, Debug)]
struct At<'a> {
    file: &'a str,
    path: String,
    v: &'a Value,
}

impl<'a> At<'a> {
    fn root(file: &'a str, v: &'a Value) -> Self {
        Self {
            file,
            path: String::new(),
            v,
        }
    }

    fn err(&self, message: impl Into<String>) -> ImportError {
        let path = if self.path.is_empty() {
            "$".to_string()
        } else {
            self.path.clone()
        };
        ImportError::Field {
            file: self.file.into(),
            path,
            message: message.into(),
        }
    }

    fn child(&self, segment: String, v: &'a Value) -> At<'a> {
        At {
            file: self.file,
            path: format!("{}{segment}", self.path),
            v,
        }
    }

    fn key_path(&self, key: &str) -> String {
        let plain = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        match (plain, self.path.is_empty()) {
            (true, true) => key.to_string(),
            (true, false) => format!(".{key}"),
            (false, _) => format!("[{key:?}]"),
        }
    }

    /// A required field (missing and `null` are both "missing").
    fn field(&self, key: &str) -> Result<At<'a>> {
        match self.opt(key) {
            Some(a) => Ok(a),
            None if self.v.is_object() => {
                Err(self.child(self.key_path(key), &Value::Null).err("missing"))
            }
            None => Err(self.err(format!("expected an object with {key:?}"))),
        }
    }

    /// An optional field: `None` when missing or `null`.
    fn opt(&self, key: &str) -> Option<At<'a>> {
        match self.v.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => Some(self.child(self.key_path(key), v)),
        }
    }

    fn str(&self) -> Result<&'a str> {
        self.v
            .as_str()
            .ok_or_else(|| self.err(format!("expected a string, found {}", kind(self.v))))
    }

    fn text(&self) -> Result<String> {
        self.str().map(str::to_string)
    }

    /// A non-empty optional string field (empty strings count as absent).
    fn opt_text(&self, key: &str) -> Result<Option<String>> {
        match self.opt(key) {
            Some(a) => Ok(Some(a.text()?).filter(|s| !s.trim().is_empty())),
            None => Ok(None),
        }
    }

    /// An id: a string, or an integer (Shopify ids are numbers).
    fn id(&self) -> Result<String> {
        match self.v {
            Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
            Value::Number(n) if n.is_u64() || n.is_i64() => Ok(n.to_string()),
            other => Err(self.err(format!(
                "expected an id (string or integer), found {}",
                kind(other)
            ))),
        }
    }

    fn boolean(&self) -> Result<bool> {
        self.v
            .as_bool()
            .ok_or_else(|| self.err(format!("expected true or false, found {}", kind(self.v))))
    }

    fn int(&self) -> Result<i64> {
        self.v
            .as_i64()
            .ok_or_else(|| self.err(format!("expected an integer, found {}", kind(self.v))))
    }

    /// Money: a JSON number of dollars (τ-bench: 47.84) or a decimal string (Shopify: "47.84").
    fn cents(&self) -> Result<i64> {
        match self.v {
            Value::Number(n) => {
                let x = n.as_f64().ok_or_else(|| self.err("expected an amount"))?;
                if !x.is_finite() || x.abs() > 1e13 {
                    return Err(self.err(format!("amount {x} is out of range")));
                }
                Ok((x * 100.0).round() as i64)
            }
            Value::String(s) => decimal_cents(s)
                .ok_or_else(|| self.err(format!("{s:?} is not an amount like \"19.99\""))),
            other => Err(self.err(format!("expected an amount, found {}", kind(other)))),
        }
    }

    fn time(&self) -> Result<OffsetDateTime> {
        rfc3339::parse(self.str()?).map_err(|m| self.err(m))
    }

    fn items(&self) -> Result<Vec<At<'a>>> {
        let arr = self
            .v
            .as_array()
            .ok_or_else(|| self.err(format!("expected an array, found {}", kind(self.v))))?;
        Ok(arr
            .iter()
            .enumerate()
            .map(|(i, v)| self.child(format!("[{i}]"), v))
            .collect())
    }

    fn entries(&self) -> Result<Vec<(&'a str, At<'a>)>> {
        let obj = self
            .v
            .as_object()
            .ok_or_else(|| self.err(format!("expected an object, found {}", kind(self.v))))?;
        Ok(obj
            .iter()
            .map(|(k, v)| (k.as_str(), self.child(format!("[{k:?}]"), v)))
            .collect())
    }

    /// An object of option name → value; non-string values (numbers) are kept as their text.
    fn string_map(&self) -> Result<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        for (k, a) in self.entries()? {
            let v = match a.v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => return Err(a.err(format!("expected a string, found {}", kind(other)))),
            };
            out.insert(k.to_string(), v);
        }
        Ok(out)
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// "19.99" → 1999, exactly (no floating point). At most two decimals, unless the extra digits
/// are zeros ("19.990").
fn decimal_cents(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty()
        || whole.len() > 13
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    if frac.len() > 2 && frac[2..].chars().any(|c| c != '0') {
        return None;
    }
    let mut cents_text: String = frac.chars().take(2).collect();
    while cents_text.len() < 2 {
        cents_text.push('0');
    }
    let cents = whole.parse::<i64>().ok()? * 100 + cents_text.parse::<i64>().ok()?;
    Some(if neg { -cents } else { cents })
}

/// "Final Sale" → "final-sale".
fn tag_slug(tag: &str) -> String {
    let mut out = String::new();
    for c in tag.trim().chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

mod shopify {
    use super::*;

    pub(super) fn parse(store: &dyn OrderStore, root: At<'_>) -> Result<Parsed> {
        if !root.v.is_object() || (root.opt("orders").is_none() && root.opt("products").is_none()) {
            return Err(root
                .err("expected a Shopify export: an object with \"orders\" and/or \"products\""));
        }
        let mut parsed = Parsed::default();
        let mut products: HashMap<String, Product> = HashMap::new();
        if let Some(list) = root.opt("products") {
            for p in list.items()? {
                let product = product(&p)?;
                products.insert(product.id.clone(), product.clone());
                parsed.product(product, p.path.clone());
            }
        }
        if let Some(list) = root.opt("orders") {
            let mut customers = Customers {
                store,
                by_id: BTreeMap::new(),
                order: Vec::new(),
                email_to_id: HashMap::new(),
            };
            let mut catalogue = Catalogue {
                store,
                file: products,
                from_store: HashMap::new(),
            };
            let mut orders = Vec::new();
            for o in list.items()? {
                let order = order(&o, &mut customers, &mut catalogue)?;
                orders.push((order, o.path.clone()));
            }
            for id in customers.order.clone() {
                if let Some((c, path)) = customers.by_id.remove(&id) {
                    parsed.customer(c, path);
                }
            }
            for (o, path) in orders {
                parsed.order(o, path);
            }
        }
        Ok(parsed)
    }

    fn product(p: &At<'_>) -> Result<Product> {
        let id = p.field("id")?.id()?;
        let name = p.field("title")?.text()?;
        let description = match p.opt("body_html") {
            Some(at) => html_to_text(at.str()?).map_err(|m| at.err(m))?,
            None => String::new(),
        };
        let tags = match p.opt("tags") {
            Some(t) => match t.v {
                Value::String(s) => s
                    .split(',')
                    .map(tag_slug)
                    .filter(|t| !t.is_empty())
                    .collect(),
                Value::Array(_) => t
                    .items()?
                    .iter()
                    .map(|a| a.str().map(tag_slug))
                    .collect::<Result<Vec<_>>>()?,
                other => {
                    return Err(t.err(format!(
                        "expected a comma-separated string, found {}",
                        kind(other)
                    )))
                }
            },
            None => Vec::new(),
        };
        // Option names by position (option1..option3). Shopify gives single-variant products a
        // placeholder option "Title" = "Default Title", which is not a real option.
        let mut names: Vec<Option<String>> = Vec::new();
        let mut options = BTreeMap::new();
        if let Some(list) = p.opt("options") {
            for o in list.items()? {
                let name = o.field("name")?.text()?;
                let values = match o.opt("values") {
                    Some(v) => v
                        .items()?
                        .iter()
                        .map(|a| a.text())
                        .collect::<Result<Vec<_>>>()?,
                    None => Vec::new(),
                };
                if name == "Title" && values.iter().all(|v| v == "Default Title") {
                    names.push(None);
                } else {
                    options.insert(name.clone(), values);
                    names.push(Some(name));
                }
            }
        }
        let mut variants = Vec::new();
        if let Some(list) = p.opt("variants") {
            for v in list.items()? {
                let mut opts = BTreeMap::new();
                for (i, name) in names.iter().enumerate() {
                    if let (Some(name), Some(value)) =
                        (name, v.opt_text(&format!("option{}", i + 1))?)
                    {
                        opts.insert(name.clone(), value);
                    }
                }
                let tracked = v.opt_text("inventory_management")?.is_some();
                let oversell = v.opt_text("inventory_policy")?.as_deref() == Some("continue");
                let stock = match v.opt("inventory_quantity") {
                    Some(q) if tracked && !oversell => Some(q.int()?),
                    _ => None,
                };
                variants.push(Variant {
                    item_id: v.field("id")?.id()?,
                    product_id: id.clone(),
                    options: opts,
                    price_cents: v.field("price")?.cents()?,
                    available: true,
                    stock,
                });
            }
        }
        Ok(Product {
            id,
            name,
            category: p.opt_text("product_type")?.unwrap_or_default(),
            description,
            tags,
            attributes: BTreeMap::new(),
            options,
            variants,
            url: None,
        })
    }

    fn html_to_text(html: &str) -> Result<String, String> {
        let text = html2text::config::plain_no_decorate()
            .string_from_read(html.as_bytes(), 10_000)
            .map_err(|e| format!("unreadable HTML: {e}"))?;
        Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("\n"))
    }

    /// Customers met so far in the file, merged with what the store already has.
    struct Customers<'s> {
        store: &'s dyn OrderStore,
        by_id: BTreeMap<String, (Customer, String)>,
        order: Vec<String>,
        email_to_id: HashMap<String, String>,
    }

    impl Customers<'_> {
        /// The id to file an order under, creating or updating that customer.
        fn resolve(
            &mut self,
            o: &At<'_>,
            shipping: Option<&Address>,
            method: Option<PaymentMethod>,
        ) -> Result<String> {
            let c = o.opt("customer");
            let email = match c.as_ref().and_then(|c| c.opt("email")) {
                Some(e) => Some(e.text()?),
                None => o.opt_text("email")?,
            }
            .filter(|e| !e.trim().is_empty());
            let email_key = email.as_deref().map(normalise_email);
            let store_err = |e: OrderError| o.err(format!("looking up the customer: {e}"));

            // A customer keeps the id it already has here (in this file or in the store); a new
            // one whose email is already known joins that customer, so emails stay unique.
            let shopify_id = c
                .as_ref()
                .and_then(|c| c.opt("id"))
                .map(|a| a.id())
                .transpose()?;
            let known = |id: &str, this: &Self| -> Result<bool> {
                Ok(this.by_id.contains_key(id)
                    || this.store.customer(id).map_err(store_err)?.is_some())
            };
            let by_email = |this: &Self| -> Result<Option<String>> {
                let Some(key) = &email_key else {
                    return Ok(None);
                };
                match this.email_to_id.get(key) {
                    Some(id) => Ok(Some(id.clone())),
                    None => Ok(this
                        .store
                        .customer_by_email(key)
                        .map_err(store_err)?
                        .map(|c| c.id)),
                }
            };
            let id =
                match shopify_id {
                    Some(id) if known(&id, self)? => id,
                    Some(id) => by_email(self)?.unwrap_or(id),
                    None => match by_email(self)? {
                        Some(id) => id,
                        None => match &email_key {
                            Some(key) => format!("guest-{key}"),
                            None => return Err(o.err(
                                "a guest order needs an email (no \"customer\" and no \"email\")",
                            )),
                        },
                    },
                };

            if !self.by_id.contains_key(&id) {
                let existing = self.store.customer(&id).map_err(store_err)?;
                let base = existing.unwrap_or(Customer {
                    id: id.clone(),
                    first_name: String::new(),
                    last_name: String::new(),
                    email: String::new(),
                    phone: None,
                    default_address: None,
                    payment_methods: Vec::new(),
                });
                self.by_id.insert(id.clone(), (base, o.path.clone()));
                self.order.push(id.clone());
            }
            let Some((customer, _)) = self.by_id.get_mut(&id) else {
                return Err(o.err("customer bookkeeping lost a record"));
            };
            let ship = o.opt("shipping_address");
            let first = match c
                .as_ref()
                .map(|c| c.opt_text("first_name"))
                .transpose()?
                .flatten()
            {
                Some(f) => Some(f),
                None => ship
                    .as_ref()
                    .map(|s| s.opt_text("first_name"))
                    .transpose()?
                    .flatten(),
            };
            let last = match c
                .as_ref()
                .map(|c| c.opt_text("last_name"))
                .transpose()?
                .flatten()
            {
                Some(l) => Some(l),
                None => ship
                    .as_ref()
                    .map(|s| s.opt_text("last_name"))
                    .transpose()?
                    .flatten(),
            };
            if let Some(f) = first {
                customer.first_name = f;
            }
            if let Some(l) = last {
                customer.last_name = l;
            }
            if let Some(e) = &email {
                customer.email = e.trim().to_string();
            }
            let phone = match c
                .as_ref()
                .map(|c| c.opt_text("phone"))
                .transpose()?
                .flatten()
            {
                Some(p) => Some(p),
                None => ship
                    .as_ref()
                    .map(|s| s.opt_text("phone"))
                    .transpose()?
                    .flatten(),
            };
            if phone.is_some() {
                customer.phone = phone;
            }
            let default_address = match c.as_ref().and_then(|c| c.opt("default_address")) {
                Some(a) => Some(address(&a)?),
                None => shipping.cloned(),
            };
            if default_address.is_some() {
                customer.default_address = default_address;
            }
            if let Some(m) = method {
                match customer.payment_methods.iter_mut().find(|p| p.id == m.id) {
                    Some(slot) => *slot = m,
                    None => customer.payment_methods.push(m),
                }
            }
            if let Some(key) = email_key {
                self.email_to_id.insert(key, id.clone());
            }
            Ok(id)
        }
    }

    /// Products and variants from the file, else from the store, for order lines.
    struct Catalogue<'s> {
        store: &'s dyn OrderStore,
        file: HashMap<String, Product>,
        from_store: HashMap<String, Option<Product>>,
    }

    impl Catalogue<'_> {
        fn product(&mut self, at: &At<'_>, product_id: &str) -> Result<Option<Product>> {
            if let Some(p) = self.file.get(product_id) {
                return Ok(Some(p.clone()));
            }
            if let Some(p) = self.from_store.get(product_id) {
                return Ok(p.clone());
            }
            let p = self
                .store
                .product(product_id)
                .map_err(|e| at.err(format!("looking up product {product_id:?}: {e}")))?;
            self.from_store.insert(product_id.to_string(), p.clone());
            Ok(p)
        }
    }

    fn address(a: &At<'_>) -> Result<Address> {
        let region = match a.opt_text("province_code")? {
            Some(r) => r,
            None => a.opt_text("province")?.unwrap_or_default(),
        };
        let country = match a.opt_text("country_code")? {
            Some(c) => c,
            None => a.opt_text("country")?.unwrap_or_default(),
        };
        Ok(Address {
            line1: a
                .opt_text("address1")?
                .ok_or_else(|| a.err("address1 is missing"))?,
            line2: a.opt_text("address2")?,
            city: a.opt_text("city")?.unwrap_or_default(),
            region,
            postcode: a.opt_text("zip")?.unwrap_or_default(),
            country,
        })
    }

    /// The payment method an order was paid with, from its gateway and card details.
    fn payment_method(o: &At<'_>) -> Result<Option<PaymentMethod>> {
        let gateway = match o.opt("payment_gateway_names") {
            Some(g) => g.items()?.first().map(|a| a.text()).transpose()?,
            None => None,
        }
        .or(o.opt_text("gateway")?);
        let details = o.opt("payment_details");
        let last4 = match details
            .as_ref()
            .map(|d| d.opt_text("credit_card_number"))
            .transpose()?
            .flatten()
        {
            Some(n) => {
                let digits: String = n.chars().filter(char::is_ascii_digit).collect();
                (digits.len() >= 4).then(|| digits[digits.len() - 4..].to_string())
            }
            None => None,
        };
        let brand = details
            .as_ref()
            .map(|d| d.opt_text("credit_card_company"))
            .transpose()?
            .flatten();
        let Some(gateway) = gateway else {
            return Ok(None);
        };
        let g = gateway.to_ascii_lowercase();
        let method = if let Some(l4) = &last4 {
            let b = brand.clone().unwrap_or_else(|| "card".into());
            PaymentMethod {
                id: format!("card-{}-{l4}", tag_slug(&b)),
                kind: PaymentMethodKind::CreditCard,
                brand: brand.map(|b| b.to_lowercase()),
                last4,
                balance_cents: None,
            }
        } else {
            let kind = if g.contains("paypal") {
                PaymentMethodKind::Paypal
            } else if g.contains("gift_card") || g.contains("gift card") {
                PaymentMethodKind::GiftCard
            } else if g.contains("installments") {
                PaymentMethodKind::ShopPayInstallments
            } else {
                PaymentMethodKind::Other
            };
            PaymentMethod {
                id: tag_slug(&gateway),
                kind,
                brand: None,
                last4: None,
                balance_cents: None,
            }
        };
        Ok(Some(method))
    }

    /// The statuses, from the order's own flags; see the module docs for the rules.
    pub(super) fn status(
        cancelled: bool,
        financial: &str,
        fulfilment: Option<&str>,
        shipments: &[Option<String>],
        refunded_all: bool,
        refunded_some: bool,
    ) -> OrderStatus {
        let shipped = matches!(fulfilment, Some("fulfilled" | "partial"));
        if cancelled {
            OrderStatus::Cancelled
        } else if shipped && refunded_all {
            OrderStatus::Returned
        } else if shipped && refunded_some {
            OrderStatus::PartiallyReturned
        } else if fulfilment == Some("fulfilled")
            && !shipments.is_empty()
            && shipments.iter().all(|s| s.as_deref() == Some("delivered"))
        {
            OrderStatus::Delivered
        } else if shipped {
            OrderStatus::Shipped
        } else if matches!(
            financial,
            "paid" | "partially_paid" | "partially_refunded" | "refunded"
        ) {
            OrderStatus::Processing
        } else {
            OrderStatus::Pending
        }
    }

    fn order(
        o: &At<'_>,
        customers: &mut Customers<'_>,
        catalogue: &mut Catalogue<'_>,
    ) -> Result<Order> {
        let number = match o.opt_text("name")? {
            Some(n) => n,
            None => format!("#{}", o.field("order_number")?.int()?),
        };
        let created_at = o.opt("created_at").map(|a| a.time()).transpose()?;
        let shipping_address = o.opt("shipping_address").map(|a| address(&a)).transpose()?;
        let method = payment_method(o)?;
        let method_id = method
            .as_ref()
            .map(|m| m.id.clone())
            .unwrap_or_else(|| "unknown".into());
        let customer_id = customers.resolve(o, shipping_address.as_ref(), method)?;
        let cancelled = o.opt("cancelled_at").is_some();
        let financial = o.opt_text("financial_status")?.unwrap_or_default();
        let fulfilment_status = o.opt_text("fulfillment_status")?;

        // Order lines; Shopify's line ids map to our item ids for fulfilments and refunds.
        let mut items = Vec::new();
        let mut line_to_item: HashMap<String, String> = HashMap::new();
        let mut line_index: HashMap<String, usize> = HashMap::new();
        for li in o.field("line_items")?.items()? {
            let line_id = li.field("id")?.id()?;
            let product_id = li
                .opt("product_id")
                .map(|a| a.id())
                .transpose()?
                .unwrap_or_default();
            let item_id = match li.opt("variant_id") {
                Some(v) => v.id()?,
                None => format!("line-{line_id}"),
            };
            let quantity = li.field("quantity")?.int()?;
            let quantity = u32::try_from(quantity)
                .ok()
                .filter(|q| *q > 0)
                .ok_or_else(|| li.err(format!("quantity {quantity} must be a positive integer")))?;
            let product = if product_id.is_empty() {
                None
            } else {
                catalogue.product(&li, &product_id)?
            };
            let variant_title = li
                .opt_text("variant_title")?
                .filter(|t| t != "Default Title");
            let options = match product.as_ref().and_then(|p| p.variant(&item_id)) {
                Some(v) => v.options.clone(),
                None => variant_title
                    .map(|t| BTreeMap::from([("variant".to_string(), t)]))
                    .unwrap_or_default(),
            };
            line_to_item.insert(line_id.clone(), item_id.clone());
            line_index.insert(line_id, items.len());
            items.push(OrderItem {
                item_id,
                product_id,
                name: li.field("title")?.text()?,
                options,
                price_cents: li.field("price")?.cents()?,
                quantity,
                final_sale: product.as_ref().is_some_and(|p| p.is_final_sale()),
                status: if cancelled {
                    ItemStatus::Cancelled
                } else {
                    ItemStatus::Ordered
                },
            });
        }

        let mut payments = Vec::new();
        let total_cents = o.field("total_price")?.cents()?;
        if !matches!(financial.as_str(), "pending" | "voided" | "") {
            let at = match o.opt("processed_at") {
                Some(a) => Some(a.time()?),
                None => created_at,
            };
            payments.push(Payment {
                kind: TransactionKind::Payment,
                amount_cents: total_cents,
                payment_method_id: method_id.clone(),
                at,
            });
        }

        let mut fulfilments = Vec::new();
        let mut shipments = Vec::new();
        if let Some(list) = o.opt("fulfillments") {
            for f in list.items()? {
                let status = f.opt_text("status")?;
                if matches!(status.as_deref(), Some("cancelled" | "error" | "failure")) {
                    continue;
                }
                let tracking_number = match f.opt_text("tracking_number")? {
                    Some(t) => t,
                    None => match f.opt("tracking_numbers") {
                        Some(list) => list
                            .items()?
                            .first()
                            .map(|a| a.text())
                            .transpose()?
                            .unwrap_or_default(),
                        None => String::new(),
                    },
                };
                let tracking_url = match f.opt_text("tracking_url")? {
                    Some(u) => Some(u),
                    None => match f.opt("tracking_urls") {
                        Some(list) => list.items()?.first().map(|a| a.text()).transpose()?,
                        None => None,
                    },
                };
                let shipment = f.opt_text("shipment_status")?;
                let shipped_at = f.opt("created_at").map(|a| a.time()).transpose()?;
                // Shopify has no delivery timestamp; a delivered fulfilment's last update is it.
                let delivered_at = match (&shipment, f.opt("updated_at")) {
                    (Some(s), Some(u)) if s == "delivered" => Some(u.time()?),
                    _ => None,
                };
                let mut item_ids = Vec::new();
                if let Some(lines) = f.opt("line_items") {
                    for l in lines.items()? {
                        let line_id = l.field("id")?.id()?;
                        match line_to_item.get(&line_id) {
                            Some(item) => item_ids.push(item.clone()),
                            None => {
                                return Err(l.field("id")?.err(format!(
                                    "line item {line_id} is not in this order's line_items"
                                )))
                            }
                        }
                    }
                }
                shipments.push(shipment);
                fulfilments.push(Fulfilment {
                    carrier: f.opt_text("tracking_company")?,
                    service: None,
                    tracking_number,
                    tracking_url,
                    item_ids,
                    shipped_at,
                    estimated_delivery: None,
                    delivered_at,
                    events: Vec::new(),
                });
            }
        }

        let mut refunded_qty: HashMap<usize, u32> = HashMap::new();
        let mut returns = Vec::new();
        if let Some(list) = o.opt("refunds") {
            for r in list.items()? {
                let refund_at = r.opt("created_at").map(|a| a.time()).transpose()?;
                let mut returned_items = Vec::new();
                let mut lines_total = 0;
                let mut restocked_as_return = false;
                if let Some(lines) = r.opt("refund_line_items") {
                    for l in lines.items()? {
                        let line_id = l.field("line_item_id")?.id()?;
                        let Some(&idx) = line_index.get(&line_id) else {
                            return Err(l.field("line_item_id")?.err(format!(
                                "line item {line_id} is not in this order's line_items"
                            )));
                        };
                        let q = l.field("quantity")?.int()?;
                        *refunded_qty.entry(idx).or_default() +=
                            u32::try_from(q.max(0)).unwrap_or(0);
                        if let Some(s) = l.opt("subtotal") {
                            lines_total += s.cents()?;
                        }
                        if l.opt_text("restock_type")?.as_deref() != Some("cancel") {
                            restocked_as_return = true;
                        }
                        returned_items.push(items[idx].item_id.clone());
                    }
                }
                let mut refund_total = 0;
                if let Some(txs) = r.opt("transactions") {
                    for t in txs.items()? {
                        if t.opt_text("kind")?.as_deref() != Some("refund")
                            || matches!(t.opt_text("status")?.as_deref(), Some("failure" | "error"))
                        {
                            continue;
                        }
                        let amount = t.field("amount")?.cents()?;
                        refund_total += amount;
                        let at = t
                            .opt("created_at")
                            .map(|a| a.time())
                            .transpose()?
                            .or(refund_at);
                        payments.push(Payment {
                            kind: TransactionKind::Refund,
                            amount_cents: amount,
                            payment_method_id: method_id.clone(),
                            at,
                        });
                    }
                }
                if !cancelled && restocked_as_return && !returned_items.is_empty() {
                    returns.push(ReturnRecord {
                        number: r.field("id")?.id()?,
                        item_ids: returned_items,
                        status: ReturnStatus::Refunded,
                        refund_method: method_id.clone(),
                        refund_cents: if refund_total > 0 {
                            refund_total
                        } else {
                            lines_total
                        },
                        created_at: refund_at,
                    });
                }
            }
        }
        let returned_lines: HashSet<usize> = refunded_qty
            .iter()
            .filter(|(i, q)| **q >= items[**i].quantity)
            .map(|(i, _)| *i)
            .collect();
        if !cancelled {
            for i in &returned_lines {
                items[*i].status = ItemStatus::Returned;
            }
        }
        let refunded_all = !items.is_empty() && returned_lines.len() == items.len();
        let refunded_some = !refunded_qty.is_empty() && !returns.is_empty();
        let status = status(
            cancelled,
            &financial,
            fulfilment_status.as_deref(),
            &shipments,
            refunded_all,
            refunded_some,
        );

        let shipping_cents = match o.opt("total_shipping_price_set") {
            Some(s) => s.field("shop_money")?.field("amount")?.cents()?,
            None => match o.opt("shipping_lines") {
                Some(lines) => lines
                    .items()?
                    .iter()
                    .map(|l| l.field("price")?.cents())
                    .sum::<Result<i64>>()?,
                None => 0,
            },
        };
        let shipping_method = match o.opt("shipping_lines") {
            Some(lines) => lines
                .items()?
                .first()
                .map(|l| l.opt_text("title"))
                .transpose()?
                .flatten(),
            None => None,
        };
        let subtotal_cents = match o.opt("subtotal_price") {
            Some(s) => s.cents()?,
            None => items.iter().map(OrderItem::line_total_cents).sum(),
        };
        let tax_cents = match o.opt("total_tax") {
            Some(t) => t.cents()?,
            None => 0,
        };
        Ok(Order {
            number,
            customer_id,
            status,
            created_at,
            items,
            subtotal_cents,
            shipping_cents,
            tax_cents,
            total_cents,
            shipping_method,
            shipping_address,
            payments,
            fulfilments,
            returns,
            exchanges: Vec::new(),
        })
    }
}

mod tau {
    use super::*;

    pub(super) fn parse(root: At<'_>) -> Result<Parsed> {
        let mut parsed = Parsed::default();
        let mut final_sale: HashMap<String, bool> = HashMap::new();
        for (_, p) in root.field("products")?.entries()? {
            let product = product(&p)?;
            final_sale.insert(product.id.clone(), product.is_final_sale());
            parsed.product(product, p.path.clone());
        }
        for (_, u) in root.field("users")?.entries()? {
            parsed.customer(customer(&u)?, u.path.clone());
        }
        for (_, o) in root.field("orders")?.entries()? {
            parsed.order(order(&o)?, o.path.clone());
        }
        Ok(parsed)
    }

    fn product(p: &At<'_>) -> Result<Product> {
        let id = p.field("product_id")?.id()?;
        let name = p.field("name")?.text()?;
        let mut options: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut variants = Vec::new();
        for (_, v) in p.field("variants")?.entries()? {
            let opts = v.field("options")?.string_map()?;
            for (k, val) in &opts {
                options.entry(k.clone()).or_default().insert(val.clone());
            }
            variants.push(Variant {
                item_id: v.field("item_id")?.id()?,
                product_id: id.clone(),
                options: opts,
                price_cents: v.field("price")?.cents()?,
                available: v.field("available")?.boolean()?,
                stock: None,
            });
        }
        variants.sort_by(|a, b| a.item_id.cmp(&b.item_id));
        Ok(Product {
            id,
            // τ's products are product types ("T-Shirt"), so the name is the category too.
            category: name.clone(),
            name,
            description: String::new(),
            tags: Vec::new(),
            attributes: BTreeMap::new(),
            options: options
                .into_iter()
                .map(|(k, v)| (k, v.into_iter().collect()))
                .collect(),
            variants,
            url: None,
        })
    }

    fn address(a: &At<'_>) -> Result<Address> {
        Ok(Address {
            line1: a.field("address1")?.text()?,
            line2: a.opt_text("address2")?,
            city: a.field("city")?.text()?,
            region: a.field("state")?.text()?,
            postcode: a.field("zip")?.text()?,
            country: a.field("country")?.text()?,
        })
    }

    fn customer(u: &At<'_>) -> Result<Customer> {
        let name = u.field("name")?;
        let mut payment_methods = Vec::new();
        for (key, pm) in u.field("payment_methods")?.entries()? {
            let source = pm.field("source")?;
            let kind = match source.str()? {
                "credit_card" => PaymentMethodKind::CreditCard,
                "paypal" => PaymentMethodKind::Paypal,
                "gift_card" => PaymentMethodKind::GiftCard,
                other => {
                    return Err(source.err(format!(
                    "unknown payment source {other:?} (expected credit_card, paypal or gift_card)"
                )))
                }
            };
            payment_methods.push(PaymentMethod {
                id: match pm.opt("id") {
                    Some(id) => id.id()?,
                    None => key.to_string(),
                },
                kind,
                brand: pm.opt_text("brand")?,
                last4: pm.opt_text("last_four")?,
                balance_cents: pm.opt("balance").map(|b| b.cents()).transpose()?,
            });
        }
        Ok(Customer {
            id: u.field("user_id")?.id()?,
            first_name: name.field("first_name")?.text()?,
            last_name: name.field("last_name")?.text()?,
            email: u.field("email")?.text()?,
            phone: None,
            default_address: Some(address(&u.field("address")?)?),
            payment_methods,
        })
    }

    pub(super) fn status(s: &str) -> Option<OrderStatus> {
        Some(match s {
            // τ marks an order whose items were changed "pending (item modified)"; it is still
            // pending. The store has no separate status for it.
            "pending" | "pending (item modified)" => OrderStatus::Pending,
            // τ's "processed" orders have tracking numbers and can no longer be modified.
            "processed" => OrderStatus::Shipped,
            "delivered" => OrderStatus::Delivered,
            "cancelled" => OrderStatus::Cancelled,
            "return requested" => OrderStatus::ReturnRequested,
            "exchange requested" => OrderStatus::ExchangeRequested,
            "returned" => OrderStatus::Returned,
            _ => return None,
        })
    }

    /// Ids listed in an optional array field (`return_items`, `exchange_new_items`).
    fn id_list(o: &At<'_>, key: &str) -> Result<Option<Vec<String>>> {
        o.opt(key)
            .map(|a| a.items()?.iter().map(At::id).collect::<Result<Vec<_>>>())
            .transpose()
    }

    fn order(o: &At<'_>) -> Result<Order> {
        let number = o.field("order_id")?.id()?;
        let status_at = o.field("status")?;
        let status_text = status_at.str()?;
        let status = status(status_text).ok_or_else(|| {
            status_at.err(format!(
                "unknown order status {status_text:?} (expected pending, processed, delivered, cancelled, return requested or exchange requested)"
            ))
        })?;
        let mut items = Vec::new();
        for it in o.field("items")?.items()? {
            items.push(OrderItem {
                item_id: it.field("item_id")?.id()?,
                product_id: it.field("product_id")?.id()?,
                name: it.field("name")?.text()?,
                options: it.field("options")?.string_map()?,
                price_cents: it.field("price")?.cents()?,
                quantity: 1,
                final_sale: false,
                status: if status == OrderStatus::Cancelled {
                    ItemStatus::Cancelled
                } else {
                    ItemStatus::Ordered
                },
            });
        }
        // Mark requested lines; a repeated item id marks one more line each time it is listed.
        let mark = |items: &mut Vec<OrderItem>,
                    ids: &[String],
                    st: ItemStatus,
                    at: &At<'_>|
         -> Result<()> {
            for id in ids {
                match items
                    .iter_mut()
                    .find(|i| i.item_id == *id && i.status == ItemStatus::Ordered)
                {
                    Some(i) => i.status = st,
                    None => {
                        return Err(at.err(format!(
                            "item {id:?} is not an unclaimed line of this order"
                        )))
                    }
                }
            }
            Ok(())
        };
        let mut returns = Vec::new();
        if let Some(ids) = id_list(o, "return_items")? {
            let refund_cents = ids
                .iter()
                .filter_map(|id| items.iter().find(|i| i.item_id == *id))
                .map(|i| i.price_cents)
                .sum();
            mark(
                &mut items,
                &ids,
                ItemStatus::ReturnRequested,
                &o.field("return_items")?,
            )?;
            returns.push(ReturnRecord {
                number: format!("{number}-return"),
                item_ids: ids,
                status: ReturnStatus::Requested,
                refund_method: o.field("return_payment_method_id")?.id()?,
                refund_cents,
                created_at: None,
            });
        }
        let mut exchanges = Vec::new();
        if let Some(ids) = id_list(o, "exchange_items")? {
            let new_ids = id_list(o, "exchange_new_items")?
                .ok_or_else(|| o.err("exchange_items without exchange_new_items"))?;
            if new_ids.len() != ids.len() {
                return Err(o.field("exchange_new_items")?.err(format!(
                    "{} new items for {} exchanged items",
                    new_ids.len(),
                    ids.len()
                )));
            }
            mark(
                &mut items,
                &ids,
                ItemStatus::ExchangeRequested,
                &o.field("exchange_items")?,
            )?;
            exchanges.push(ExchangeRecord {
                number: format!("{number}-exchange"),
                item_ids: ids,
                new_item_ids: new_ids,
                status: ExchangeStatus::Requested,
                price_difference_cents: match o.opt("exchange_price_difference") {
                    Some(d) => d.cents()?,
                    None => 0,
                },
                payment_method_id: o.field("exchange_payment_method_id")?.id()?,
                created_at: None,
            });
        }
        let mut fulfilments = Vec::new();
        for f in o.field("fulfillments")?.items()? {
            let item_ids = f
                .field("item_ids")?
                .items()?
                .iter()
                .map(At::id)
                .collect::<Result<Vec<_>>>()?;
            // τ lists tracking ids per parcel; each tracking id is one parcel here.
            for t in f.field("tracking_id")?.items()? {
                fulfilments.push(Fulfilment {
                    carrier: None,
                    service: None,
                    tracking_number: t.id()?,
                    tracking_url: None,
                    item_ids: item_ids.clone(),
                    shipped_at: None,
                    estimated_delivery: None,
                    delivered_at: None,
                    events: Vec::new(),
                });
            }
        }
        let mut payments = Vec::new();
        for p in o.field("payment_history")?.items()? {
            let kind_at = p.field("transaction_type")?;
            let kind = match kind_at.str()? {
                "payment" => TransactionKind::Payment,
                "refund" => TransactionKind::Refund,
                other => {
                    return Err(kind_at.err(format!(
                        "unknown transaction type {other:?} (expected payment or refund)"
                    )))
                }
            };
            payments.push(Payment {
                kind,
                amount_cents: p.field("amount")?.cents()?,
                payment_method_id: p.field("payment_method_id")?.id()?,
                at: None,
            });
        }
        let subtotal_cents: i64 = items.iter().map(OrderItem::line_total_cents).sum();
        Ok(Order {
            number,
            customer_id: o.field("user_id")?.id()?,
            status,
            created_at: None,
            items,
            subtotal_cents,
            shipping_cents: 0,
            tax_cents: 0,
            total_cents: subtotal_cents,
            shipping_method: None,
            shipping_address: Some(address(&o.field("address")?)?),
            payments,
            fulfilments,
            returns,
            exchanges,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_amounts_become_exact_cents() {
        assert_eq!(decimal_cents("19.99"), Some(1999));
        assert_eq!(decimal_cents("5"), Some(500));
        assert_eq!(decimal_cents("0.5"), Some(50));
        assert_eq!(decimal_cents("-3.10"), Some(-310));
        assert_eq!(decimal_cents("19.990"), Some(1999));
        assert_eq!(decimal_cents("19.999"), None);
        assert_eq!(decimal_cents("abc"), None);
        assert_eq!(decimal_cents(""), None);
        assert_eq!(decimal_cents(".5"), None);
    }

    #[test]
    fn tags_are_slugged() {
        assert_eq!(tag_slug(" Final Sale "), "final-sale");
        assert_eq!(tag_slug("jewellery"), "jewellery");
    }

    #[test]
    fn shopify_statuses_follow_cancellation_refunds_then_shipping_then_payment() {
        use OrderStatus::*;
        let delivered = vec![Some("delivered".to_string())];
        let in_transit = vec![Some("in_transit".to_string())];
        assert_eq!(
            shopify::status(true, "refunded", Some("fulfilled"), &delivered, true, true),
            Cancelled
        );
        assert_eq!(
            shopify::status(false, "refunded", Some("fulfilled"), &delivered, true, true),
            Returned
        );
        assert_eq!(
            shopify::status(
                false,
                "partially_refunded",
                Some("fulfilled"),
                &delivered,
                false,
                true
            ),
            PartiallyReturned
        );
        assert_eq!(
            shopify::status(false, "paid", Some("fulfilled"), &delivered, false, false),
            Delivered
        );
        assert_eq!(
            shopify::status(false, "paid", Some("fulfilled"), &in_transit, false, false),
            Shipped
        );
        assert_eq!(
            shopify::status(false, "paid", Some("partial"), &delivered, false, false),
            Shipped
        );
        assert_eq!(
            shopify::status(false, "paid", None, &[], false, false),
            Processing
        );
        assert_eq!(
            shopify::status(false, "pending", None, &[], false, false),
            Pending
        );
        assert_eq!(
            shopify::status(false, "authorized", None, &[], false, false),
            Pending
        );
    }

    #[test]
    fn tau_statuses_map_processed_to_shipped() {
        assert_eq!(tau::status("processed"), Some(OrderStatus::Shipped));
        assert_eq!(
            tau::status("pending (item modified)"),
            Some(OrderStatus::Pending)
        );
        assert_eq!(
            tau::status("exchange requested"),
            Some(OrderStatus::ExchangeRequested)
        );
        assert_eq!(tau::status("lost"), None);
    }

    #[test]
    fn formats_parse_from_their_cli_names() {
        for f in Format::ALL {
            assert_eq!(f.as_str().parse::<Format>(), Ok(f));
        }
        assert!("csv".parse::<Format>().is_err());
    }

    #[test]
    fn paths_name_the_field_that_is_wrong() {
        let v: Value = serde_json::json!({"orders": {"#W1": {"items": [{"price": "x"}]}}});
        let root = At::root("db.json", &v);
        let orders = root.field("orders").unwrap().entries().unwrap();
        let item = &orders[0].1.field("items").unwrap().items().unwrap()[0];
        let err = item
            .field("price")
            .unwrap()
            .cents()
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            r##"db.json: orders["#W1"].items[0].price: "x" is not an amount like "19.99""##
        );
        let err = item.field("name").unwrap_err().to_string();
        assert_eq!(err, r##"db.json: orders["#W1"].items[0].name: missing"##);
    }
}
