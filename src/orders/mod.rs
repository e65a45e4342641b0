//! Step: the store's order data — customers, products, orders — kept where answers and guided
//! actions can look it up.
//!
//! - [`model`]: the records (money in integer cents) and the canonical serde form.
//! - [`OrderStore`]: the lookups the service needs (order by a customer-typed number, customer by
//!   email or by name + postcode, products and variants), plain saves, and [`OrderStore::write`]:
//!   several reads and writes in one atomic transaction that rolls back on any error.
//! - [`sqlite::SqliteOrderStore`]: the implementation, one JSON document per record with indexed
//!   key columns, versioned migrations, and cheap in-memory copies for evaluation.
//! - the action log ([`LoggedAction`]): changes made on a customer's behalf, written in the same
//!   transaction as the change, unique by idempotency key.
//! - [`import`]: loading canonical, Shopify and τ-bench retail exports, all or nothing.
//! - [`demo`]: the deterministic "Larkfield Goods" demo store and its product documents.
//!
//! This module does not decide what a customer may see or do (authentication, return windows,
//! cancellation rules) and does not talk to carriers or payment providers: it stores and finds
//! records. Its methods are synchronous; async callers run them on the blocking pool.

pub mod demo;
pub mod import;
pub mod model;
pub mod sqlite;

pub use import::{import, import_str, Format, ImportError, ImportSummary};
pub use model::*;
pub use sqlite::SqliteOrderStore;

/// Errors from the order store. [`OrderError::code`] is stable for logs and API responses.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error("order database: {0}")]
    Database(#[from] crate::storage::StorageError),
    #[error("order database: {context}: {source}")]
    Storage {
        context: &'static str,
        source: rusqlite::Error,
    },
    #[error("stored {kind} {id:?} cannot be read: {message}")]
    Corrupt {
        kind: &'static str,
        id: String,
        message: String,
    },
    #[error("invalid {kind} {id:?}: {message}")]
    Invalid {
        kind: &'static str,
        id: String,
        message: String,
    },
    #[error("order {order:?} names customer {customer:?}, who is not in the store")]
    UnknownCustomer { order: String, customer: String },
    #[error("{0}")]
    Conflict(String),
    /// The body of [`OrderStore::write`] gave up; everything it wrote was rolled back. Callers
    /// carry their own error inside and can downcast it.
    #[error("transaction rolled back: {0}")]
    Aborted(Box<dyn std::error::Error + Send + Sync>),
}

impl OrderError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Database(e) => e.code(),
            Self::Storage { .. } => "orders.storage",
            Self::Corrupt { .. } => "orders.corrupt_record",
            Self::Invalid { .. } => "orders.invalid_record",
            Self::UnknownCustomer { .. } => "orders.unknown_customer",
            Self::Conflict(_) => "orders.conflict",
            Self::Aborted(_) => "orders.aborted",
        }
    }
}

pub type Result<T, E = OrderError> = std::result::Result<T, E>;

/// How many records the store holds; readiness reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StoreCounts {
    pub customers: u64,
    pub products: u64,
    pub orders: u64,
}

/// The order store. Lookups return `Ok(None)` for "not there"; errors are storage problems.
pub trait OrderStore: Send + Sync {
    /// Finds an order by the number as a customer might type it: "LF-100234", "lf100234",
    /// "100234" and "#100234" all find LF-100234; "W1234567" finds τ-bench's "#W1234567".
    /// See [`normalise_order_number`].
    fn order(&self, number: &str) -> Result<Option<Order>>;
    /// A customer's orders, newest first (undated orders last, by number).
    fn orders_for_customer(&self, customer_id: &str) -> Result<Vec<Order>>;
    fn customer(&self, id: &str) -> Result<Option<Customer>>;
    /// Case-insensitive; surrounding spaces ignored.
    fn customer_by_email(&self, email: &str) -> Result<Option<Customer>>;
    /// Case- and space-insensitive match on first name, last name and default-address postcode.
    /// Several customers can share all three, so this returns every match, by id.
    fn customers_by_name_postcode(
        &self,
        first_name: &str,
        last_name: &str,
        postcode: &str,
    ) -> Result<Vec<Customer>>;
    fn product(&self, id: &str) -> Result<Option<Product>>;
    /// Every product, by id.
    fn products(&self) -> Result<Vec<Product>>;
    fn variant(&self, item_id: &str) -> Result<Option<Variant>>;
    /// Runs `f` in one transaction: everything it saves is committed together when it returns
    /// `Ok`, and nothing is when it returns `Err` (or a save inside fails). Other writers wait;
    /// readers see either the state before or the state after.
    fn write(&self, f: &mut dyn FnMut(&mut dyn OrderWriter) -> Result<()>) -> Result<()>;
    fn counts(&self) -> Result<StoreCounts>;
    /// An action log entry by id.
    fn action(&self, id: &str) -> Result<Option<LoggedAction>>;
    /// The action log of one order, or of every order of a customer (`customer_id`), oldest
    /// first.
    fn actions_for(
        &self,
        order_number: Option<&str>,
        customer_id: Option<&str>,
    ) -> Result<Vec<LoggedAction>>;

    /// Inserts or replaces an order (by number). Its customer must exist.
    fn save_order(&self, order: &Order) -> Result<()> {
        self.write(&mut |w| w.save_order(order))
    }
    /// Inserts or replaces a customer (by id). Emails are unique, case-insensitively.
    fn save_customer(&self, customer: &Customer) -> Result<()> {
        self.write(&mut |w| w.save_customer(customer))
    }
    /// Inserts or replaces a product and exactly its variants (variants no longer listed are
    /// removed).
    fn save_product(&self, product: &Product) -> Result<()> {
        self.write(&mut |w| w.save_product(product))
    }
}

/// Reads and writes inside one [`OrderStore::write`] transaction. Reads see this transaction's
/// own earlier writes.
pub trait OrderWriter {
    fn order(&mut self, number: &str) -> Result<Option<Order>>;
    fn customer(&mut self, id: &str) -> Result<Option<Customer>>;
    fn product(&mut self, id: &str) -> Result<Option<Product>>;
    fn variant(&mut self, item_id: &str) -> Result<Option<Variant>>;
    fn save_order(&mut self, order: &Order) -> Result<()>;
    fn save_customer(&mut self, customer: &Customer) -> Result<()>;
    fn save_product(&mut self, product: &Product) -> Result<()>;
    /// The logged action with this idempotency key, if any.
    fn action_by_key(&mut self, key: &str) -> Result<Option<LoggedAction>>;
    /// The action log of one order, oldest first.
    fn actions_for_order(&mut self, order_number: &str) -> Result<Vec<LoggedAction>>;
    /// Inserts or replaces (by id) a log entry. Another entry with the same key is a conflict.
    fn save_action(&mut self, action: &LoggedAction) -> Result<()>;
}

/// [`OrderStore::write`] with a value and the caller's own error type: `Err(e)` from `f` rolls
/// back and comes back as `e`, unwrapped.
///
/// ```no_run
/// # use shopkeep::orders::*;
/// # fn cancel(store: &dyn OrderStore) -> Result<(), OrderError> {
/// let refunded = store.transaction(|tx| {
///     let mut order = tx.order("LF-100003")?.ok_or_else(|| OrderError::Conflict("no such order".into()))?;
///     order.status = OrderStatus::Cancelled;
///     tx.save_order(&order)?;
///     Ok::<_, OrderError>(order.total_cents)
/// })?;
/// # Ok(()) }
/// ```
pub trait OrderStoreExt: OrderStore {
    fn transaction<T, E: From<OrderError>>(
        &self,
        f: impl FnOnce(&mut dyn OrderWriter) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut body = Some(f);
        let mut outcome: Option<Result<T, E>> = None;
        let committed = self.write(&mut |w| {
            // `write` runs its body once; a second call finds nothing to run and rolls back.
            let f = body
                .take()
                .ok_or_else(|| OrderError::Aborted("transaction body ran twice".into()))?;
            let result = f(w);
            let failed = result.is_err();
            outcome = Some(result);
            if failed {
                Err(OrderError::Aborted(
                    "the transaction body returned an error".into(),
                ))
            } else {
                Ok(())
            }
        });
        match (committed, outcome) {
            (Ok(()), Some(Ok(value))) => Ok(value),
            (Err(_), Some(Err(e))) => Err(e),
            (Err(e), _) => Err(E::from(e)),
            (Ok(()), _) => Err(E::from(OrderError::Aborted(
                "the transaction body did not run".into(),
            ))),
        }
    }
}

impl<S: OrderStore + ?Sized> OrderStoreExt for S {}

/// The lookup key for an order number: upper-cased letters and digits only, with a store prefix
/// of two or more letters dropped when only digits follow ("LF-100234" → "100234"). A one-letter
/// prefix is part of the number (τ-bench's "#W1234567" → "W1234567"). Two orders may not share a
/// key, so a lookup by key is never ambiguous.
pub fn normalise_order_number(input: &str) -> String {
    let key: String = input
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let letters = key.chars().take_while(char::is_ascii_alphabetic).count();
    let rest = &key[letters..];
    if letters >= 2 && !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit()) {
        rest.to_string()
    } else {
        key
    }
}

/// Emails compare case-insensitively, ignoring surrounding spaces.
pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Names compare case-insensitively with all whitespace removed ("Mary Ann" = "maryann").
pub fn normalise_name(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Postcodes compare case-insensitively with all whitespace removed ("sw1a 1aa" = "SW1A1AA").
pub fn normalise_postcode(postcode: &str) -> String {
    postcode
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_numbers_normalise_to_one_key_however_they_are_typed() {
        for typed in ["LF-100234", "lf100234", "100234", "#100234", " lf 100234 "] {
            assert_eq!(normalise_order_number(typed), "100234", "{typed}");
        }
        for typed in ["#W1234567", "W1234567", "w-1234567"] {
            assert_eq!(normalise_order_number(typed), "W1234567", "{typed}");
        }
        assert_eq!(normalise_order_number("#1001"), "1001");
        assert_eq!(normalise_order_number("#"), "");
        // Letters after the digits are part of the number, so nothing is dropped.
        assert_eq!(normalise_order_number("LF-1002A"), "LF1002A");
    }

    #[test]
    fn names_emails_and_postcodes_ignore_case_and_spaces() {
        assert_eq!(
            normalise_email("  Maya.Chen@Example.COM "),
            "maya.chen@example.com"
        );
        assert_eq!(normalise_name(" Mary Ann "), "maryann");
        assert_eq!(normalise_postcode("sw1a 1aa"), "SW1A1AA");
    }

    #[test]
    fn error_codes_are_stable() {
        assert_eq!(OrderError::Conflict("x".into()).code(), "orders.conflict");
        assert_eq!(
            OrderError::Database(crate::storage::StorageError::SchemaTooNew {
                found: 9,
                supported: 1
            })
            .code(),
            "schema_too_new"
        );
    }
}
