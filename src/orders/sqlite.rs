//! [`SqliteOrderStore`]: the order store in one SQLite file.
//!
//! A document-store design: each customer, product, variant and order is one row holding the
//! whole record as JSON (`doc`), next to the few key columns lookups need, indexed. Reading an
//! order is one indexed row read; there are no joins to keep in step with the model.
//!
//! The connections and the schema belong to [`crate::storage`] (WAL, readers beside one writer,
//! the ordered migrations; a database from a newer binary is refused rather than
//! half-understood). This module does not decide business rules; it keeps the records
//! consistent (unique emails and order-number keys, orders only for known customers, variants
//! only under their own product).

use std::{path::Path, sync::Arc};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::{de::DeserializeOwned, Serialize};

use crate::storage::{migrations, Database, Reader};

use super::{
    model::{check_customer, check_order, check_product},
    normalise_email, normalise_name, normalise_order_number, normalise_postcode, Customer, Dataset,
    LoggedAction, Order, OrderError, OrderStore, OrderWriter, Product, Result, StoreCounts,
    Variant,
};

// The lookups, named so a test can check that each one is answered from an index.
const ORDER_BY_KEY: &str = "SELECT number, doc FROM orders WHERE number_norm = ?1";
const ORDERS_OF_CUSTOMER: &str = "SELECT number, doc FROM orders WHERE customer_id = ?1 ORDER BY created_at IS NULL, created_at DESC, number DESC";
const CUSTOMER_BY_ID: &str = "SELECT id, doc FROM customers WHERE id = ?1";
// The `<> ''` term is the partial index's own condition; without it SQLite scans the table.
const CUSTOMER_BY_EMAIL: &str =
    "SELECT id, doc FROM customers WHERE email_lower = ?1 AND email_lower <> ''";
const CUSTOMERS_BY_NAME_POSTCODE: &str = "SELECT id, doc FROM customers WHERE last_norm = ?1 AND postcode_norm = ?2 AND first_norm = ?3 ORDER BY id";
const PRODUCT_BY_ID: &str = "SELECT id, doc FROM products WHERE id = ?1";
const VARIANT_BY_ID: &str = "SELECT item_id, doc FROM variants WHERE item_id = ?1";
const VARIANT_OWNER: &str = "SELECT product_id FROM variants WHERE item_id = ?1";
const EMAIL_OWNER: &str = "SELECT id FROM customers WHERE email_lower = ?1 AND email_lower <> ''";
const KEY_OWNER: &str = "SELECT number FROM orders WHERE number_norm = ?1";
const CUSTOMER_EXISTS: &str = "SELECT EXISTS(SELECT 1 FROM customers WHERE id = ?1)";
const ACTION_BY_ID: &str = "SELECT id, doc FROM actions WHERE id = ?1";
const ACTION_BY_KEY: &str = "SELECT id, doc FROM actions WHERE idempotency_key = ?1";
const ACTIONS_OF_ORDER: &str =
    "SELECT id, doc FROM actions WHERE order_number = ?1 ORDER BY at, rowid";
const ACTIONS_OF_CUSTOMER: &str =
    "SELECT id, doc FROM actions WHERE customer_id = ?1 ORDER BY at, rowid";

/// The order store on SQLite, over the service's one [`Database`]: lookups on its readers,
/// each [`OrderStore::write`] one immediate transaction on its writer.
pub struct SqliteOrderStore {
    db: Arc<Database>,
}

impl SqliteOrderStore {
    /// The order store of `db`.
    pub fn new(db: Arc<Database>) -> Self {
        Self { db }
    }

    /// Opens (creating if needed) the database at `path` for an order store alone (the service
    /// opens one [`Database`] for all its parts and uses [`SqliteOrderStore::new`]).
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Self::new(Database::open(path)?))
    }

    /// A private, empty in-memory store (tests, evaluation).
    pub fn open_in_memory() -> Result<Self> {
        Ok(Self::new(Database::open_in_memory()?))
    }

    /// A private in-memory copy of this store: an evaluation loads a dataset once and gives
    /// every case its own copy to modify (the τ-bench retail data copies in milliseconds).
    pub fn clone_into_memory(&self) -> Result<SqliteOrderStore> {
        Ok(Self::new(self.db.copy_into_memory()?))
    }

    /// The applied schema version.
    pub fn schema_version(&self) -> Result<i64> {
        migrations::current(&*self.lock()?).map_err(|source| OrderError::Storage {
            context: "reading the schema version",
            source,
        })
    }

    /// Everything in the store, in the canonical import format (customers, products and orders
    /// by id/number): a backup that `import --format canonical` loads back.
    pub fn export(&self) -> Result<Dataset> {
        let conn = self.lock()?;
        Ok(Dataset {
            customers: all_docs(
                &conn,
                "SELECT id, doc FROM customers ORDER BY id",
                "customer",
            )?,
            products: all_docs(&conn, "SELECT id, doc FROM products ORDER BY id", "product")?,
            orders: all_docs(
                &conn,
                "SELECT number, doc FROM orders ORDER BY number",
                "order",
            )?,
        })
    }
}

thread_local! {
    /// The store (by address) whose `write` body is running on this thread, if any.
    static WRITING: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Marks this thread as inside `store`'s write body until dropped (also on unwind).
struct WritingGuard(usize);

impl WritingGuard {
    fn enter(store: &SqliteOrderStore) -> Self {
        let previous = WRITING.with(|w| w.replace(store as *const SqliteOrderStore as usize));
        WritingGuard(previous)
    }
}

impl Drop for WritingGuard {
    fn drop(&mut self) {
        WRITING.with(|w| w.set(self.0));
    }
}

impl SqliteOrderStore {
    /// A connection to read with. A write body that calls the store itself (instead of its
    /// writer) would not see its own uncommitted writes, and in memory would wait forever on
    /// the connection its own transaction holds; it gets an error instead.
    fn lock(&self) -> Result<Reader<'_>> {
        self.not_writing()?;
        Ok(self.db.reader()?)
    }

    fn not_writing(&self) -> Result<()> {
        if WRITING.with(|w| w.get()) == self as *const SqliteOrderStore as usize {
            return Err(OrderError::Conflict("the order store was called from inside its own write transaction; use the writer passed to the body".into()));
        }
        Ok(())
    }
}

impl OrderStore for SqliteOrderStore {
    fn order(&self, number: &str) -> Result<Option<Order>> {
        get_order(&*self.lock()?, number)
    }

    fn orders_for_customer(&self, customer_id: &str) -> Result<Vec<Order>> {
        let conn = self.lock()?;
        let mut stmt = conn
            .prepare_cached(ORDERS_OF_CUSTOMER)
            .map_err(storage("listing a customer's orders"))?;
        let rows = stmt
            .query_map([customer_id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(storage("listing a customer's orders"))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, doc) = row.map_err(storage("listing a customer's orders"))?;
            out.push(decode("order", &id, &doc)?);
        }
        Ok(out)
    }

    fn customer(&self, id: &str) -> Result<Option<Customer>> {
        get_customer(&*self.lock()?, id)
    }

    fn customer_by_email(&self, email: &str) -> Result<Option<Customer>> {
        let key = normalise_email(email);
        if key.is_empty() {
            return Ok(None);
        }
        get_doc(&*self.lock()?, CUSTOMER_BY_EMAIL, &key, "customer")
    }

    fn customers_by_name_postcode(
        &self,
        first_name: &str,
        last_name: &str,
        postcode: &str,
    ) -> Result<Vec<Customer>> {
        let conn = self.lock()?;
        let ctx = "finding customers by name and postcode";
        let mut stmt = conn
            .prepare_cached(CUSTOMERS_BY_NAME_POSTCODE)
            .map_err(storage(ctx))?;
        let rows = stmt
            .query_map(
                params![
                    normalise_name(last_name),
                    normalise_postcode(postcode),
                    normalise_name(first_name)
                ],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .map_err(storage(ctx))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, doc) = row.map_err(storage(ctx))?;
            out.push(decode("customer", &id, &doc)?);
        }
        Ok(out)
    }

    fn product(&self, id: &str) -> Result<Option<Product>> {
        get_doc(&*self.lock()?, PRODUCT_BY_ID, id, "product")
    }

    fn products(&self) -> Result<Vec<Product>> {
        all_docs(
            &*self.lock()?,
            "SELECT id, doc FROM products ORDER BY id",
            "product",
        )
    }

    fn variant(&self, item_id: &str) -> Result<Option<Variant>> {
        get_doc(&*self.lock()?, VARIANT_BY_ID, item_id, "variant")
    }

    fn write(&self, f: &mut dyn FnMut(&mut dyn OrderWriter) -> Result<()>) -> Result<()> {
        self.not_writing()?;
        let mut conn = self.db.writer()?;
        // IMMEDIATE takes the write lock up front, so what the body reads cannot change under it
        // before it writes (another process waits on busy_timeout instead).
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(storage("starting a transaction"))?;
        let mut writer = SqliteWriter { conn: &tx };
        let writing = WritingGuard::enter(self);
        let result = f(&mut writer);
        drop(writing);
        result?; // dropping `tx` on the error path rolls back
        tx.commit().map_err(storage("committing a transaction"))
    }

    fn counts(&self) -> Result<StoreCounts> {
        let conn = self.lock()?;
        let count = |table: &str| -> Result<u64> {
            conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as u64)
            .map_err(storage("counting records"))
        };
        Ok(StoreCounts {
            customers: count("customers")?,
            products: count("products")?,
            orders: count("orders")?,
        })
    }

    fn action(&self, id: &str) -> Result<Option<LoggedAction>> {
        get_doc(&*self.lock()?, ACTION_BY_ID, id, "action")
    }

    fn actions_for(
        &self,
        order_number: Option<&str>,
        customer_id: Option<&str>,
    ) -> Result<Vec<LoggedAction>> {
        let conn = self.lock()?;
        match (order_number, customer_id) {
            (Some(n), _) => docs_by(&conn, ACTIONS_OF_ORDER, n, "action"),
            (None, Some(c)) => docs_by(&conn, ACTIONS_OF_CUSTOMER, c, "action"),
            (None, None) => all_docs(
                &conn,
                "SELECT id, doc FROM actions ORDER BY at, rowid",
                "action",
            ),
        }
    }
}

/// The writer handed to a [`OrderStore::write`] body: the same queries, on the transaction.
struct SqliteWriter<'c> {
    conn: &'c Connection,
}

impl OrderWriter for SqliteWriter<'_> {
    fn order(&mut self, number: &str) -> Result<Option<Order>> {
        get_order(self.conn, number)
    }

    fn customer(&mut self, id: &str) -> Result<Option<Customer>> {
        get_customer(self.conn, id)
    }

    fn product(&mut self, id: &str) -> Result<Option<Product>> {
        get_doc(self.conn, PRODUCT_BY_ID, id, "product")
    }

    fn variant(&mut self, item_id: &str) -> Result<Option<Variant>> {
        get_doc(self.conn, VARIANT_BY_ID, item_id, "variant")
    }

    fn save_order(&mut self, order: &Order) -> Result<()> {
        put_order(self.conn, order)
    }

    fn save_customer(&mut self, customer: &Customer) -> Result<()> {
        put_customer(self.conn, customer)
    }

    fn save_product(&mut self, product: &Product) -> Result<()> {
        put_product(self.conn, product)
    }

    fn action_by_key(&mut self, key: &str) -> Result<Option<LoggedAction>> {
        get_doc(self.conn, ACTION_BY_KEY, key, "action")
    }

    fn actions_for_order(&mut self, order_number: &str) -> Result<Vec<LoggedAction>> {
        docs_by(self.conn, ACTIONS_OF_ORDER, order_number, "action")
    }

    fn save_action(&mut self, action: &LoggedAction) -> Result<()> {
        put_action(self.conn, action)
    }
}

fn docs_by<T: DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    key: &str,
    kind: &'static str,
) -> Result<Vec<T>> {
    let ctx = "listing records";
    let mut stmt = conn.prepare_cached(sql).map_err(storage(ctx))?;
    let rows = stmt
        .query_map([key], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(storage(ctx))?;
    let mut out = Vec::new();
    for row in rows {
        let (id, doc) = row.map_err(storage(ctx))?;
        out.push(decode(kind, &id, &doc)?);
    }
    Ok(out)
}

fn put_action(conn: &Connection, a: &LoggedAction) -> Result<()> {
    if a.id.trim().is_empty() || a.key.trim().is_empty() {
        return Err(OrderError::Invalid {
            kind: "action",
            id: a.id.clone(),
            message: "id and key must not be empty".into(),
        });
    }
    let owner: Option<String> = conn
        .prepare_cached("SELECT id FROM actions WHERE idempotency_key = ?1")
        .and_then(|mut s| s.query_row([&a.key], |r| r.get(0)).optional())
        .map_err(storage("checking an action key"))?;
    if let Some(owner) = owner.filter(|o| *o != a.id) {
        return Err(OrderError::Conflict(format!(
            "action key {:?} was already used by action {owner:?}",
            a.key
        )));
    }
    let doc = encode("action", &a.id, a)?;
    let at =
        a.at.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
    conn.prepare_cached(
        "INSERT INTO actions (id, idempotency_key, at, customer_id, order_number, kind, status, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT(id) DO UPDATE SET status = excluded.status, doc = excluded.doc",
    )
    .and_then(|mut s| s.execute(params![a.id, a.key, at, a.customer_id, a.order_number, a.kind, a.status, doc]))
    .map_err(storage("saving an action"))?;
    Ok(())
}

fn storage(context: &'static str) -> impl Fn(rusqlite::Error) -> OrderError {
    move |source| OrderError::Storage { context, source }
}

fn decode<T: DeserializeOwned>(kind: &'static str, id: &str, doc: &str) -> Result<T> {
    serde_json::from_str(doc).map_err(|e| OrderError::Corrupt {
        kind,
        id: id.to_string(),
        message: e.to_string(),
    })
}

fn encode<T: Serialize>(kind: &'static str, id: &str, record: &T) -> Result<String> {
    serde_json::to_string(record).map_err(|e| OrderError::Invalid {
        kind,
        id: id.to_string(),
        message: e.to_string(),
    })
}

/// One record by key; `sql` selects (key, doc).
fn get_doc<T: DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    key: &str,
    kind: &'static str,
) -> Result<Option<T>> {
    let row: Option<(String, String)> = conn
        .prepare_cached(sql)
        .and_then(|mut s| {
            s.query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(|source| OrderError::Storage {
            context: "reading a record",
            source,
        })?;
    row.map(|(id, doc)| decode(kind, &id, &doc)).transpose()
}

fn all_docs<T: DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    kind: &'static str,
) -> Result<Vec<T>> {
    let ctx = "listing records";
    let mut stmt = conn.prepare_cached(sql).map_err(storage(ctx))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .map_err(storage(ctx))?;
    let mut out = Vec::new();
    for row in rows {
        let (id, doc) = row.map_err(storage(ctx))?;
        out.push(decode(kind, &id, &doc)?);
    }
    Ok(out)
}

fn get_order(conn: &Connection, number: &str) -> Result<Option<Order>> {
    let key = normalise_order_number(number);
    if key.is_empty() {
        return Ok(None);
    }
    get_doc(conn, ORDER_BY_KEY, &key, "order")
}

fn get_customer(conn: &Connection, id: &str) -> Result<Option<Customer>> {
    get_doc(conn, CUSTOMER_BY_ID, id, "customer")
}

fn put_customer(conn: &Connection, c: &Customer) -> Result<()> {
    check_customer(c).map_err(|message| OrderError::Invalid {
        kind: "customer",
        id: c.id.clone(),
        message,
    })?;
    let email = normalise_email(&c.email);
    if !email.is_empty() {
        let owner: Option<String> = conn
            .prepare_cached(EMAIL_OWNER)
            .and_then(|mut s| s.query_row([&email], |r| r.get(0)).optional())
            .map_err(storage("checking a customer's email"))?;
        if let Some(owner) = owner.filter(|o| *o != c.id) {
            return Err(OrderError::Conflict(format!(
                "customer {:?} has email {:?}, already used by customer {owner:?}",
                c.id, c.email
            )));
        }
    }
    let postcode = c
        .default_address
        .as_ref()
        .map(|a| normalise_postcode(&a.postcode))
        .unwrap_or_default();
    let doc = encode("customer", &c.id, c)?;
    conn.prepare_cached(
        "INSERT INTO customers (id, email_lower, first_norm, last_norm, postcode_norm, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(id) DO UPDATE SET email_lower = excluded.email_lower, first_norm = excluded.first_norm,
             last_norm = excluded.last_norm, postcode_norm = excluded.postcode_norm, doc = excluded.doc",
    )
    .and_then(|mut s| s.execute(params![c.id, email, normalise_name(&c.first_name), normalise_name(&c.last_name), postcode, doc]))
    .map_err(storage("saving a customer"))?;
    Ok(())
}

fn put_product(conn: &Connection, p: &Product) -> Result<()> {
    check_product(p).map_err(|message| OrderError::Invalid {
        kind: "product",
        id: p.id.clone(),
        message,
    })?;
    for v in &p.variants {
        let owner: Option<String> = conn
            .prepare_cached(VARIANT_OWNER)
            .and_then(|mut s| s.query_row([&v.item_id], |r| r.get(0)).optional())
            .map_err(storage("checking a variant"))?;
        if let Some(owner) = owner.filter(|o| *o != p.id) {
            return Err(OrderError::Conflict(format!(
                "variant {:?} of product {:?} already belongs to product {owner:?}",
                v.item_id, p.id
            )));
        }
    }
    let doc = encode("product", &p.id, p)?;
    // An upsert, not INSERT OR REPLACE: replacing the row would cascade-delete its variants.
    conn.prepare_cached(
        "INSERT INTO products (id, name, category, doc) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(id) DO UPDATE SET name = excluded.name, category = excluded.category, doc = excluded.doc",
    )
    .and_then(|mut s| s.execute(params![p.id, p.name, p.category, doc]))
    .map_err(storage("saving a product"))?;
    conn.prepare_cached("DELETE FROM variants WHERE product_id = ?1")
        .and_then(|mut s| s.execute([&p.id]))
        .map_err(storage("saving a product's variants"))?;
    let mut insert = conn
        .prepare_cached("INSERT INTO variants (item_id, product_id, price_cents, available, stock, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
        .map_err(storage("saving a product's variants"))?;
    for v in &p.variants {
        let doc = encode("variant", &v.item_id, v)?;
        insert
            .execute(params![
                v.item_id,
                v.product_id,
                v.price_cents,
                v.available,
                v.stock,
                doc
            ])
            .map_err(storage("saving a product's variants"))?;
    }
    Ok(())
}

fn put_order(conn: &Connection, o: &Order) -> Result<()> {
    check_order(o).map_err(|message| OrderError::Invalid {
        kind: "order",
        id: o.number.clone(),
        message,
    })?;
    let key = normalise_order_number(&o.number);
    let same_key: Option<String> = conn
        .prepare_cached(KEY_OWNER)
        .and_then(|mut s| s.query_row([&key], |r| r.get(0)).optional())
        .map_err(storage("checking an order number"))?;
    if let Some(other) = same_key.filter(|n| *n != o.number) {
        return Err(OrderError::Conflict(format!(
            "order number {:?} would be found by the same lookups as existing order {other:?}",
            o.number
        )));
    }
    let known: bool = conn
        .prepare_cached(CUSTOMER_EXISTS)
        .and_then(|mut s| s.query_row([&o.customer_id], |r| r.get(0)))
        .map_err(storage("checking an order's customer"))?;
    if !known {
        return Err(OrderError::UnknownCustomer {
            order: o.number.clone(),
            customer: o.customer_id.clone(),
        });
    }
    let doc = encode("order", &o.number, o)?;
    conn.prepare_cached(
        "INSERT INTO orders (number, number_norm, customer_id, status, created_at, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(number) DO UPDATE SET number_norm = excluded.number_norm, customer_id = excluded.customer_id,
             status = excluded.status, created_at = excluded.created_at, doc = excluded.doc",
    )
    .and_then(|mut s| s.execute(params![o.number, key, o.customer_id, o.status.as_str(), o.created_at.map(|t| t.unix_timestamp()), doc]))
    .map_err(storage("saving an order"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_store_is_at_the_latest_schema_version_and_empty() {
        let store = SqliteOrderStore::open_in_memory().unwrap();
        assert_eq!(store.schema_version().unwrap(), migrations::newest());
        assert_eq!(store.counts().unwrap(), StoreCounts::default());
    }

    #[test]
    fn every_lookup_is_answered_from_an_index() {
        let store = SqliteOrderStore::open_in_memory().unwrap();
        let conn = store.lock().unwrap();
        for sql in [
            ORDER_BY_KEY,
            ORDERS_OF_CUSTOMER,
            CUSTOMER_BY_ID,
            CUSTOMER_BY_EMAIL,
            CUSTOMERS_BY_NAME_POSTCODE,
            PRODUCT_BY_ID,
            VARIANT_BY_ID,
            VARIANT_OWNER,
            EMAIL_OWNER,
            KEY_OWNER,
            CUSTOMER_EXISTS,
            ACTION_BY_ID,
            ACTION_BY_KEY,
            ACTIONS_OF_ORDER,
            ACTIONS_OF_CUSTOMER,
        ] {
            let params: Vec<&dyn rusqlite::ToSql> = vec![&"x"; sql.matches('?').count()];
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let plan: Vec<String> = stmt
                .query_map(params.as_slice(), |r| r.get::<_, String>(3))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert!(
                plan.iter().any(|step| step.starts_with("SEARCH")),
                "{sql}: {plan:?}"
            );
            assert!(
                !plan
                    .iter()
                    .any(|step| step.starts_with("SCAN") && step != "SCAN CONSTANT ROW"),
                "{sql}: {plan:?}"
            );
        }
    }
}
