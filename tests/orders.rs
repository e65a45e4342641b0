//! The order store: lookups as customers type them, atomic writes, imports that are all or
//! nothing, and the deterministic demo store.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Instant,
};

use shopkeep::money::Currency;
use shopkeep::orders::{
    demo::{demo_now, product_documents, seed_demo, DEMO_ORDERS, DEMO_ORDER_COUNT},
    import, import_str, Customer, Format, ItemStatus, Order, OrderError, OrderStatus, OrderStore,
    OrderStoreExt, Product, SqliteOrderStore, StoreCounts, TransactionKind,
};
use time::{macros::date, Date, Duration};

/// A Thursday.
const TODAY: Date = date!(2026 - 11 - 26);

fn demo_store(today: Date) -> SqliteOrderStore {
    let store = SqliteOrderStore::open_in_memory().unwrap();
    seed_demo(&store, today).unwrap();
    store
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// `../shared` beside the project holds third-party evaluation data; a plain clone lacks it.
fn shared_dir() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    p.is_dir().then_some(p)
}

fn order(store: &dyn OrderStore, number: &str) -> Order {
    store
        .order(number)
        .unwrap()
        .unwrap_or_else(|| panic!("order {number} not found"))
}

fn customer_with(id: &str, email: &str) -> Customer {
    Customer {
        id: id.into(),
        first_name: "Test".into(),
        last_name: "Person".into(),
        email: email.into(),
        phone: None,
        default_address: None,
        payment_methods: Vec::new(),
    }
}

// --- the database file -------------------------------------------------------------------------

#[test]
fn opening_a_database_twice_applies_each_migration_once_and_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shopkeep.db");
    {
        let store = SqliteOrderStore::open(&path).unwrap();
        store
            .save_customer(&customer_with("c1", "one@example.com"))
            .unwrap();
    }
    let store = SqliteOrderStore::open(&path).unwrap();
    assert_eq!(
        store.schema_version().unwrap(),
        shopkeep::storage::migrations::newest()
    );
    assert!(store.customer("c1").unwrap().is_some());
    drop(store);

    let conn = rusqlite::Connection::open(&path).unwrap();
    let applied: i64 = conn
        .query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0))
        .unwrap();
    assert_eq!(applied, shopkeep::storage::migrations::newest());
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn a_database_from_a_newer_binary_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shopkeep.db");
    drop(SqliteOrderStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'from the future', '2030-01-01T00:00:00Z')", []).unwrap();
    drop(conn);

    let err = SqliteOrderStore::open(&path)
        .err()
        .expect("a newer schema must not open");
    assert_eq!(err.code(), "schema_too_new");
    assert!(err.to_string().contains("99"), "{err}");
}

// --- lookups -----------------------------------------------------------------------------------

#[test]
fn an_order_is_found_however_the_customer_types_its_number() {
    let store = demo_store(TODAY);
    for typed in ["LF-100001", "lf100001", "100001", "#100001", " LF 100001 "] {
        assert_eq!(
            store.order(typed).unwrap().map(|o| o.number).as_deref(),
            Some("LF-100001"),
            "{typed:?}"
        );
    }
    assert!(store.order("LF-999999").unwrap().is_none());
    assert!(store.order("#").unwrap().is_none());

    // τ-bench numbers keep their one-letter prefix: "W1234567" and "#W1234567" are the same.
    let mut tau = order(&store, "LF-100003");
    tau.number = "#W1234567".into();
    store.save_order(&tau).unwrap();
    assert_eq!(order(&store, "W1234567").number, "#W1234567");
    assert_eq!(order(&store, "#w1234567").number, "#W1234567");
}

#[test]
fn two_orders_that_one_typed_number_would_both_find_cannot_exist() {
    let store = demo_store(TODAY);
    let mut clash = order(&store, "LF-100001");
    clash.number = "#100001".into();
    let err = store.save_order(&clash).unwrap_err();
    assert_eq!(err.code(), "orders.conflict");
    assert_eq!(order(&store, "100001").number, "LF-100001");
}

#[test]
fn customers_are_found_by_email_or_by_name_and_postcode_ignoring_case_and_spaces() {
    let store = demo_store(TODAY);
    let maya = store
        .customer_by_email("  MAYA.Chen@Example.com ")
        .unwrap()
        .unwrap();
    assert_eq!(
        (maya.id.as_str(), maya.full_name().as_str()),
        ("cus_001", "Maya Chen")
    );
    assert!(store
        .customer_by_email("nobody@example.com")
        .unwrap()
        .is_none());
    assert!(store.customer_by_email("").unwrap().is_none());

    let found = store
        .customers_by_name_postcode("maya", " CHEN", "97 210")
        .unwrap();
    assert_eq!(
        found.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["cus_001"]
    );
    assert!(store
        .customers_by_name_postcode("Maya", "Chen", "97214")
        .unwrap()
        .is_empty());

    // Two customers share a name; the postcode tells them apart.
    let portland = store
        .customers_by_name_postcode("Sam", "Rivera", "97214")
        .unwrap();
    let austin = store
        .customers_by_name_postcode("sam", "rivera", "78704")
        .unwrap();
    assert_eq!(
        portland.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["cus_003"]
    );
    assert_eq!(
        austin.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["cus_004"]
    );
}

#[test]
fn a_customers_orders_come_newest_first_and_only_their_own() {
    let store = demo_store(TODAY);
    let numbers: Vec<String> = store
        .orders_for_customer("cus_001")
        .unwrap()
        .into_iter()
        .map(|o| o.number)
        .collect();
    assert_eq!(
        numbers,
        ["LF-100003", "LF-100001", "LF-100002", "LF-100004"]
    );
    assert!(store
        .orders_for_customer("cus_002")
        .unwrap()
        .iter()
        .any(|o| o.number == "LF-100005"));
    assert!(store.orders_for_customer("nobody").unwrap().is_empty());
}

#[test]
fn products_and_variants_are_looked_up_by_id() {
    let store = demo_store(TODAY);
    let shirt = store.product("linen-shirt").unwrap().unwrap();
    assert_eq!(shirt.options["Size"], ["XS", "S", "M", "L", "XL", "XXL"]);
    assert_eq!(shirt.variants.len(), 24);
    let white_l = store.variant("LSH-WHITE-L").unwrap().unwrap();
    assert_eq!(
        (
            white_l.product_id.as_str(),
            white_l.price_cents,
            white_l.stock
        ),
        ("linen-shirt", 6800, Some(8))
    );
    assert!(white_l.in_stock());
    assert!(!store.variant("LSH-SAGE-M").unwrap().unwrap().in_stock());
    assert!(store.variant("NOPE").unwrap().is_none());
    let all = store.products().unwrap();
    assert_eq!(all.len(), 30);
    assert!(
        all.windows(2).all(|w| w[0].id < w[1].id),
        "products come by id"
    );
}

#[test]
fn the_store_can_be_shared_across_threads() {
    let store = Arc::new(demo_store(TODAY));
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for n in 0..50 {
                    let number = format!("LF-{}", 100_001 + (i * 50 + n) % 200);
                    assert!(store.order(&number).unwrap().is_some(), "{number}");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

// --- writes ------------------------------------------------------------------------------------

#[test]
fn a_write_that_fails_part_way_rolls_back_everything_it_did() {
    let store = demo_store(TODAY);
    let before = store.export().unwrap();

    let err = store
        .write(&mut |tx| {
            let mut o = tx.order("LF-100003")?.expect("demo order");
            o.status = OrderStatus::Cancelled;
            tx.save_order(&o)?;
            // Reads inside the transaction see its own writes.
            assert_eq!(
                tx.order("100003")?.map(|o| o.status),
                Some(OrderStatus::Cancelled)
            );
            let mut maya = tx.customer("cus_001")?.expect("demo customer");
            maya.phone = Some("+1 503-555-0199".into());
            tx.save_customer(&maya)?;
            // An order for a customer who does not exist: the store refuses, so all of it goes.
            let mut orphan = o.clone();
            orphan.number = "LF-900001".into();
            orphan.customer_id = "cus_999".into();
            tx.save_order(&orphan)
        })
        .unwrap_err();
    assert_eq!(err.code(), "orders.unknown_customer");
    assert_eq!(store.export().unwrap(), before);
    assert_eq!(order(&store, "LF-100003").status, OrderStatus::Pending);
}

#[test]
fn calling_the_store_from_inside_its_own_write_is_an_error_not_a_deadlock() {
    let store = demo_store(TODAY);
    let err = store
        .write(&mut |tx| {
            let o = tx.order("LF-100003")?.expect("demo order");
            store.save_order(&o) // the store, not `tx`
        })
        .unwrap_err();
    assert_eq!(err.code(), "orders.conflict");
    // The store is usable again afterwards.
    assert!(store.order("LF-100003").unwrap().is_some());
}

#[test]
fn a_transaction_returns_the_callers_own_error_and_commits_only_on_success() {
    #[derive(Debug, PartialEq)]
    enum ActionError {
        NotCancellable(OrderStatus),
        Store(String),
    }
    impl From<OrderError> for ActionError {
        fn from(e: OrderError) -> Self {
            ActionError::Store(e.code().into())
        }
    }
    let cancel = |store: &dyn OrderStore, number: &str| -> Result<i64, ActionError> {
        store.transaction(|tx| {
            let mut o = tx
                .order(number)?
                .ok_or(ActionError::Store("not found".into()))?;
            o.status = OrderStatus::Cancelled;
            tx.save_order(&o)?; // written, then rolled back below when the rule says no
            if !order_was_unshipped(number) {
                return Err(ActionError::NotCancellable(OrderStatus::Shipped));
            }
            Ok(o.total_cents)
        })
    };
    fn order_was_unshipped(number: &str) -> bool {
        number == "LF-100003"
    }

    let store = demo_store(TODAY);
    assert_eq!(
        cancel(&store, "LF-100001"),
        Err(ActionError::NotCancellable(OrderStatus::Shipped))
    );
    assert_eq!(order(&store, "LF-100001").status, OrderStatus::Shipped);
    assert_eq!(cancel(&store, "LF-100003"), Ok(9400));
    assert_eq!(order(&store, "LF-100003").status, OrderStatus::Cancelled);
}

#[test]
fn saves_keep_emails_unique_and_variants_under_one_product() {
    let store = demo_store(TODAY);
    let err = store
        .save_customer(&customer_with("cus_new", "Maya.Chen@example.com"))
        .unwrap_err();
    assert_eq!(err.code(), "orders.conflict");

    let mut tote = store.product("canvas-tote").unwrap().unwrap();
    let mut stolen = store.product("linen-shirt").unwrap().unwrap().variants[0].clone();
    stolen.product_id = "canvas-tote".into();
    tote.variants.push(stolen);
    assert_eq!(
        store.save_product(&tote).unwrap_err().code(),
        "orders.conflict"
    );

    // Saving a product with fewer variants removes the ones no longer listed.
    let mut tote = store.product("canvas-tote").unwrap().unwrap();
    let dropped = tote.variants.pop().unwrap();
    store.save_product(&tote).unwrap();
    assert!(store.variant(&dropped.item_id).unwrap().is_none());

    let mut bad = order(&store, "LF-100002");
    bad.items[0].quantity = 0;
    let err = store.save_order(&bad).unwrap_err();
    assert_eq!(err.code(), "orders.invalid_record");
    assert!(err.to_string().contains("items[0].quantity"), "{err}");
}

#[test]
fn an_in_memory_copy_is_independent_of_its_source() {
    let source = demo_store(TODAY);
    let copy = source.clone_into_memory().unwrap();
    assert_eq!(copy.counts().unwrap(), source.counts().unwrap());
    let mut o = order(&copy, "LF-100003");
    o.status = OrderStatus::Cancelled;
    copy.save_order(&o).unwrap();
    assert_eq!(order(&copy, "LF-100003").status, OrderStatus::Cancelled);
    assert_eq!(order(&source, "LF-100003").status, OrderStatus::Pending);
    // The copy still enforces the schema's rules.
    assert_eq!(
        copy.save_customer(&customer_with("x", "maya.chen@example.com"))
            .unwrap_err()
            .code(),
        "orders.conflict"
    );
}

// --- the demo store ----------------------------------------------------------------------------

#[test]
fn the_demo_store_is_the_same_for_the_same_day() {
    let a = demo_store(TODAY).export().unwrap();
    let b = demo_store(TODAY).export().unwrap();
    assert_eq!(a, b);
    let later = demo_store(TODAY + Duration::days(1)).export().unwrap();
    assert_ne!(a.orders, later.orders, "dates move with today");
    assert_eq!(a.customers, later.customers);
}

#[test]
fn the_demo_store_has_every_status_whatever_the_day() {
    for today in [
        TODAY,
        date!(2026 - 11 - 28),
        date!(2026 - 11 - 30),
        date!(2027 - 02 - 15),
        date!(2026 - 07 - 04),
    ] {
        let store = demo_store(today);
        assert_eq!(
            store.counts().unwrap(),
            StoreCounts {
                customers: 40,
                products: 30,
                orders: DEMO_ORDER_COUNT as u64
            }
        );
        let orders = store.export().unwrap().orders;
        for status in OrderStatus::ALL {
            let n = orders.iter().filter(|o| o.status == status).count();
            assert!(n > 0, "{today}: no {status} orders");
        }
    }
}

#[test]
fn demo_orders_are_coherent_with_the_help_pages() {
    let store = demo_store(TODAY);
    let now = demo_now(TODAY);
    let data = store.export().unwrap();
    let numbers: Vec<&str> = data.orders.iter().map(|o| o.number.as_str()).collect();
    assert!(numbers.contains(&"LF-100001") && numbers.contains(&"LF-100200"));
    for o in &data.orders {
        let n = &o.number;
        let created = o.created_at.expect("demo orders are dated");
        assert!(
            created <= now && created >= now - Duration::days(121),
            "{n} created {created}"
        );
        assert_eq!(
            o.subtotal_cents,
            o.items.iter().map(|i| i.line_total_cents()).sum::<i64>(),
            "{n} subtotal"
        );
        assert_eq!(
            o.total_cents,
            o.subtotal_cents + o.shipping_cents + o.tax_cents,
            "{n} total"
        );
        let expected_shipping = match o.shipping_method.as_deref() {
            Some("standard") if o.subtotal_cents >= 7500 => 0,
            Some("standard") => 595,
            Some("express") => 1495,
            Some("next_day") => 2495,
            other => panic!("{n}: shipping method {other:?}"),
        };
        assert_eq!(o.shipping_cents, expected_shipping, "{n} shipping");
        if o.shipping_address.as_ref().map(|a| a.region.as_str()) == Some("OR") {
            assert_eq!(o.tax_cents, 0, "{n}: no sales tax in Oregon");
        }
        assert_eq!(o.paid_cents(), o.total_cents, "{n} paid");
        let customer = store
            .customer(&o.customer_id)
            .unwrap()
            .expect("order's customer");
        for p in &o.payments {
            assert!(
                customer.payment_method(&p.payment_method_id).is_some(),
                "{n}: unknown payment method {}",
                p.payment_method_id
            );
            assert!(
                p.at.is_some_and(|at| at <= now),
                "{n}: payment in the future"
            );
        }
        for f in &o.fulfilments {
            let url = f.tracking_url.as_deref().unwrap_or_default();
            match f.carrier.as_deref() {
                Some("UPS") => assert!(
                    f.tracking_number.starts_with("1Z")
                        && url
                            == format!("https://www.ups.com/track?tracknum={}", f.tracking_number)
                ),
                Some("USPS") => assert!(
                    url == format!(
                        "https://tools.usps.com/go/TrackConfirmAction?tLabels={}",
                        f.tracking_number
                    )
                ),
                other => panic!("{n}: carrier {other:?}"),
            }
            assert!(f.estimated_delivery.is_some(), "{n}: estimated delivery");
            assert!(
                f.events.iter().all(|e| e.at <= now),
                "{n}: tracking event in the future"
            );
            assert!(
                f.events.windows(2).all(|w| w[0].at <= w[1].at),
                "{n}: events out of order"
            );
        }
        match o.status {
            OrderStatus::Pending | OrderStatus::Processing => {
                assert!(o.fulfilments.is_empty(), "{n}: unshipped but has tracking")
            }
            OrderStatus::Shipped => assert!(
                o.fulfilments.iter().all(|f| f.delivered_at.is_none()) && !o.fulfilments.is_empty()
            ),
            OrderStatus::Cancelled => {
                assert!(o.fulfilments.is_empty());
                assert_eq!(
                    o.refunded_cents(),
                    o.total_cents,
                    "{n}: cancelled orders are refunded in full"
                );
                assert!(o.items.iter().all(|i| i.status == ItemStatus::Cancelled));
            }
            _ => assert!(
                o.delivered_at().is_some(),
                "{n}: {} but not delivered",
                o.status
            ),
        }
        for r in &o.returns {
            assert!(r.number.starts_with("RMA-"), "{n}: {}", r.number);
            for id in &r.item_ids {
                assert!(
                    !o.item(id).unwrap().final_sale,
                    "{n}: a final-sale item was returned"
                );
            }
        }
        if matches!(
            o.status,
            OrderStatus::ReturnRequested | OrderStatus::ExchangeRequested
        ) {
            let delivered = o.delivered_at().unwrap();
            assert!(
                now - delivered <= Duration::days(30),
                "{n}: requested outside the return window"
            );
        }
        if o.status == OrderStatus::ExchangeRequested {
            let x = &o.exchanges[0];
            let old = store.variant(&x.item_ids[0]).unwrap().unwrap();
            let new = store.variant(&x.new_item_ids[0]).unwrap().unwrap();
            assert_eq!(
                old.product_id, new.product_id,
                "{n}: exchanges stay within a product"
            );
            assert!(new.in_stock(), "{n}: exchanged for something out of stock");
            assert_eq!(x.price_difference_cents, new.price_cents - old.price_cents);
        }
        if matches!(
            o.status,
            OrderStatus::Returned | OrderStatus::PartiallyReturned
        ) {
            assert!(
                o.refunded_cents() > 0 && o.returns.iter().all(|r| r.refund_cents > 0),
                "{n}: returned without a refund"
            );
        }
    }
    // Some delivered orders are inside the 30-day window and some outside it.
    let delivered: Vec<_> = data
        .orders
        .iter()
        .filter(|o| o.status == OrderStatus::Delivered)
        .filter_map(|o| o.delivered_at())
        .collect();
    assert!(delivered.iter().any(|d| now - *d <= Duration::days(30)));
    assert!(delivered.iter().any(|d| now - *d > Duration::days(30)));
    // Customers look real: unique example.com emails, US addresses, phones.
    for c in &data.customers {
        assert!(
            c.email.ends_with("@example.com")
                && c.phone.is_some()
                && c.default_address
                    .as_ref()
                    .is_some_and(|a| a.country == "US"),
            "{}",
            c.id
        );
    }
}

#[test]
fn the_fixed_demo_orders_are_as_documented() {
    let store = demo_store(TODAY);
    let now = demo_now(TODAY);
    for d in DEMO_ORDERS {
        let o = order(&store, d.number);
        assert_eq!(o.status, d.status, "{}", d.number);
        let owner = store.customer(&o.customer_id).unwrap().unwrap();
        assert_eq!(owner.email, d.customer_email, "{}", d.number);
    }
    let maya = store
        .customer_by_email("maya.chen@example.com")
        .unwrap()
        .unwrap();
    assert_eq!(
        maya.default_address.as_ref().map(|a| a.postcode.as_str()),
        Some("97210")
    );

    let shipped = order(&store, "LF-100001");
    let parcel = &shipped.fulfilments[0];
    assert_eq!(
        (parcel.carrier.as_deref(), parcel.tracking_number.as_str()),
        (Some("UPS"), "1Z8V2E410300100001")
    );
    assert_eq!(
        parcel.tracking_url.as_deref(),
        Some("https://www.ups.com/track?tracknum=1Z8V2E410300100001")
    );
    assert_eq!(parcel.estimated_delivery, Some(TODAY + Duration::days(2)));
    assert!(parcel.delivered_at.is_none() && parcel.events.len() >= 2);

    let recent = order(&store, "LF-100002");
    assert_eq!(
        recent.delivered_at().map(|d| d.date()),
        Some(TODAY - Duration::days(5))
    );
    assert_eq!(recent.items.len(), 2);
    assert_eq!(
        recent
            .items
            .iter()
            .filter(|i| i.final_sale)
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>(),
        ["Gold Hoop Earrings"]
    );
    assert_eq!(recent.items[0].item_id, "LSH-WHITE-M");
    assert_eq!(recent.payments[0].payment_method_id, "paypal_001_2");
    assert_eq!(recent.total_cents, 13200);

    let pending = order(&store, "LF-100003");
    assert!(pending.status.is_unshipped() && pending.fulfilments.is_empty());
    assert_eq!(pending.created_at.map(|t| t.date()), Some(TODAY));

    let old = order(&store, "LF-100004");
    let delivered = old.delivered_at().unwrap();
    assert_eq!(delivered.date(), TODAY - Duration::days(45));
    assert!(now - delivered > Duration::days(30));

    let other = order(&store, "LF-100005");
    assert_ne!(other.customer_id, maya.id);
    assert_eq!(
        other.total_cents,
        12500 + 1495 + 1281,
        "sneakers, express shipping, Washington sales tax"
    );
}

#[test]
fn every_product_becomes_a_searchable_document() {
    let store = demo_store(TODAY);
    let docs = product_documents(&store, None, Currency::default()).unwrap();
    assert_eq!(docs.len(), 30);
    let candle = docs
        .iter()
        .find(|d| d.id == "product-cedar-smoke-candle")
        .unwrap();
    assert_eq!(candle.title, "Soy Candle, Cedar & Smoke");
    assert_eq!(
        candle.url.as_deref(),
        Some("https://larkfield.example/products/cedar-smoke-candle")
    );
    assert_eq!(candle.topics, ["product_question"]);
    assert_eq!(candle.product_id.as_deref(), Some("cedar-smoke-candle"));
    let text: String = candle
        .blocks
        .iter()
        .map(|b| b.text.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        text.contains("Trim the wick") && text.contains("Size: 8 oz, 14 oz."),
        "{text}"
    );
    // Documents are stable, so reindexing does not re-embed unchanged products.
    assert_eq!(
        product_documents(&store, None, Currency::default()).unwrap()[0].hash,
        docs[0].hash
    );
    assert!(
        docs.iter().all(|d| !shopkeep::kb::chunk(d).is_empty()),
        "every product yields passages"
    );
}

#[test]
fn product_pages_give_prices_in_the_stores_currency() {
    let store = demo_store(TODAY);
    let price_lines = |currency: Currency| -> Vec<String> {
        product_documents(&store, None, currency)
            .unwrap()
            .iter()
            .flat_map(|d| d.blocks.iter())
            .flat_map(|b| b.text.lines())
            .filter(|l| l.starts_with("Price"))
            .map(str::to_string)
            .collect()
    };
    let dollars = price_lines(Currency::default());
    let euros = price_lines(Currency::from_code("EUR").unwrap());
    assert_eq!(dollars.len(), 30, "every product has a price");
    assert!(dollars.iter().all(|l| l.contains('$')), "{dollars:?}");
    assert!(
        euros.iter().all(|l| l.contains('€') && !l.contains('$')),
        "{euros:?}"
    );
}

// --- imports -----------------------------------------------------------------------------------

#[test]
fn a_canonical_export_imports_back_identically() {
    let source = demo_store(TODAY);
    let exported = source.export().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("store.json");
    std::fs::write(&file, serde_json::to_string_pretty(&exported).unwrap()).unwrap();

    let target = SqliteOrderStore::open_in_memory().unwrap();
    let summary = import(&target, &file, Format::Canonical).unwrap();
    assert_eq!(
        (summary.customers, summary.products, summary.orders),
        (40, 30, 200)
    );
    assert_eq!(target.export().unwrap(), exported);
    // Importing the same file again replaces rather than duplicates.
    import(&target, &file, Format::Canonical).unwrap();
    assert_eq!(target.counts().unwrap(), source.counts().unwrap());
}

#[test]
fn the_canonical_example_in_the_docs_imports() {
    let store = SqliteOrderStore::open_in_memory().unwrap();
    let example = r#"{
      "customers": [{"id": "cus_001", "first_name": "Maya", "last_name": "Chen", "email": "maya.chen@example.com",
        "default_address": {"line1": "2218 NW Flanders St", "city": "Portland", "region": "OR", "postcode": "97210", "country": "US"},
        "payment_methods": [{"id": "card_001_1", "kind": "credit_card", "brand": "visa", "last4": "4242"}]}],
      "products": [{"id": "canvas-tote", "name": "Canvas Tote", "category": "Bags", "options": {"Colour": ["Natural"]},
        "variants": [{"item_id": "TOT-NATURAL", "product_id": "canvas-tote", "options": {"Colour": "Natural"}, "price_cents": 3800, "available": true, "stock": 14}]}],
      "orders": [{"number": "LF-100003", "customer_id": "cus_001", "status": "pending", "created_at": "2026-11-26T16:05:00Z",
        "items": [{"item_id": "TOT-NATURAL", "product_id": "canvas-tote", "name": "Canvas Tote", "price_cents": 3800, "quantity": 1}],
        "subtotal_cents": 3800, "shipping_cents": 595, "tax_cents": 0, "total_cents": 4395, "shipping_method": "standard",
        "payments": [{"kind": "payment", "amount_cents": 4395, "payment_method_id": "card_001_1"}]}]
    }"#;
    import_str(&store, example, Format::Canonical, "example.json").unwrap();
    let o = order(&store, "100003");
    assert_eq!(
        (o.total_cents, o.items[0].status),
        (4395, ItemStatus::Ordered)
    );
}

#[test]
fn shopify_exports_import_with_customers_statuses_and_tracking() {
    let store = SqliteOrderStore::open_in_memory().unwrap();
    let products = import(&store, &fixture("shopify-products.json"), Format::Shopify).unwrap();
    assert_eq!(
        (products.customers, products.products, products.orders),
        (0, 3, 0)
    );
    let orders = import(&store, &fixture("shopify-orders.json"), Format::Shopify).unwrap();
    assert_eq!(
        (orders.customers, orders.products, orders.orders),
        (2, 0, 3)
    );

    let shirt = store.product("8012345670001").unwrap().unwrap();
    assert_eq!(shirt.description, "A relaxed shirt in 100% European linen that softens with every wash.\n* Mother-of-pearl buttons\n* Relaxed fit");
    assert_eq!(shirt.options.keys().collect::<Vec<_>>(), ["Color", "Size"]);
    let m_white = store.variant("45012345670002").unwrap().unwrap();
    assert_eq!(
        (m_white.price_cents, m_white.stock, m_white.in_stock()),
        (6800, Some(0), false)
    );
    let earrings: Product = store.product("8012345670002").unwrap().unwrap();
    assert!(
        earrings.is_final_sale(),
        "\"Final Sale\" tag: {:?}",
        earrings.tags
    );
    let mugs = store.product("8012345670003").unwrap().unwrap();
    assert!(
        mugs.options.is_empty(),
        "Shopify's \"Default Title\" is not an option"
    );
    assert_eq!(mugs.variants[0].stock, None, "inventory not tracked");

    let delivered = order(&store, "1001");
    assert_eq!(
        (delivered.number.as_str(), delivered.status),
        ("#1001", OrderStatus::Delivered)
    );
    assert_eq!(
        delivered.items[0].options.get("Size").map(String::as_str),
        Some("M")
    );
    assert_eq!(
        delivered.items[0].options.get("Color").map(String::as_str),
        Some("Sand")
    );
    assert!(delivered.items[1].options.is_empty());
    assert_eq!(
        (
            delivered.subtotal_cents,
            delivered.total_cents,
            delivered.paid_cents()
        ),
        (12400, 12400, 12400)
    );
    let parcel = &delivered.fulfilments[0];
    assert_eq!(
        (parcel.carrier.as_deref(), parcel.tracking_number.as_str()),
        (Some("UPS"), "1Z8V2E410312345678")
    );
    assert_eq!(parcel.item_ids, ["45012345670003", "45012345670021"]);
    assert!(parcel.delivered_at.is_some());

    let processing = order(&store, "#1002");
    assert_eq!(processing.status, OrderStatus::Processing);
    assert_eq!(
        processing
            .items
            .iter()
            .map(|i| i.final_sale)
            .collect::<Vec<_>>(),
        [true, false]
    );
    assert_eq!(
        (processing.tax_cents, processing.total_cents),
        (1190, 14790)
    );

    let cancelled = order(&store, "#1003");
    assert_eq!(cancelled.status, OrderStatus::Cancelled);
    assert_eq!(cancelled.refunded_cents(), 11200);
    assert!(
        cancelled.returns.is_empty(),
        "a cancellation refund is not a return"
    );

    // One customer per Shopify customer id, built from their orders.
    let jane = store
        .customer_by_email("jane.doe@example.com")
        .unwrap()
        .unwrap();
    assert_eq!(
        (jane.id.as_str(), jane.full_name().as_str()),
        ("7012345670001", "Jane Doe")
    );
    assert_eq!(
        jane.default_address
            .as_ref()
            .map(|a| (a.region.as_str(), a.postcode.as_str())),
        Some(("OR", "97214"))
    );
    assert_eq!(
        jane.payment_methods
            .iter()
            .map(|p| p.describe(Currency::default()))
            .collect::<Vec<_>>(),
        ["Visa ending 4242"]
    );
    assert_eq!(store.orders_for_customer(&jane.id).unwrap().len(), 2);
    assert_eq!(
        store
            .customers_by_name_postcode("sam", "rivera", "94610")
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        delivered.payments[0].payment_method_id,
        jane.payment_methods[0].id
    );
}

#[test]
fn shopify_orders_import_without_their_products() {
    let store = SqliteOrderStore::open_in_memory().unwrap();
    import(&store, &fixture("shopify-orders.json"), Format::Shopify).unwrap();
    let o = order(&store, "#1001");
    assert_eq!(
        o.items[0].options.get("variant").map(String::as_str),
        Some("M / Sand")
    );
    assert!(!o.items[0].final_sale);
}

#[test]
fn tau_retail_db_imports_with_its_own_ids() {
    let Some(shared) = shared_dir() else {
        eprintln!("skipped: ../shared is absent (the τ-bench retail db.json lives there)");
        return;
    };
    let db = shared.join("eval/tau-retail/db.json");
    let store = SqliteOrderStore::open_in_memory().unwrap();
    let started = Instant::now();
    let summary = import(&store, &db, Format::TauRetail).unwrap();
    eprintln!(
        "τ-retail import: {:.3}s (dev profile)",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        (summary.customers, summary.products, summary.orders),
        (500, 50, 1000)
    );
    assert_eq!(
        store.counts().unwrap(),
        StoreCounts {
            customers: 500,
            products: 50,
            orders: 1000
        }
    );

    let o = order(&store, "#W2611340");
    assert_eq!(
        (o.customer_id.as_str(), o.status),
        ("james_li_5688", OrderStatus::Shipped)
    );
    let items: Vec<(&str, &str, i64)> = o
        .items
        .iter()
        .map(|i| (i.name.as_str(), i.item_id.as_str(), i.price_cents))
        .collect();
    assert_eq!(
        items,
        [
            ("Water Bottle", "6469567736", 4784),
            ("Office Chair", "8426249116", 48881)
        ]
    );
    assert_eq!(
        o.items[1]
            .options
            .get("backrest height")
            .map(String::as_str),
        Some("standard")
    );
    assert_eq!(o.fulfilments[0].tracking_number, "357962501027");
    assert_eq!(o.payments[0].payment_method_id, "gift_card_1725971");
    assert_eq!(
        (
            o.payments[0].kind,
            o.payments[0].amount_cents,
            o.total_cents
        ),
        (TransactionKind::Payment, 53665, 53665)
    );
    assert_eq!(order(&store, "W2611340").number, "#W2611340");

    let noah = store
        .customer_by_email("noah.brown7922@example.com")
        .unwrap()
        .unwrap();
    assert_eq!(noah.id, "noah_brown_6181");
    assert_eq!(
        store
            .customers_by_name_postcode("Noah", "Brown", "80279")
            .unwrap()[0]
            .id,
        "noah_brown_6181"
    );
    let card = noah.payment_method("credit_card_7815826").unwrap();
    assert_eq!(
        (card.brand.as_deref(), card.last4.as_deref()),
        (Some("mastercard"), Some("9212"))
    );
    assert!(noah.payment_method("paypal_5727330").is_some());

    let tee = store.product("9523456873").unwrap().unwrap();
    assert_eq!(tee.name, "T-Shirt");
    let blue_m = store.variant("9612497925").unwrap().unwrap();
    assert_eq!(
        (
            blue_m.product_id.as_str(),
            blue_m.price_cents,
            blue_m.available
        ),
        ("9523456873", 5088, true)
    );

    let statuses = store.export().unwrap().orders.iter().fold(
        std::collections::BTreeMap::new(),
        |mut m, o| {
            *m.entry(o.status).or_insert(0) += 1;
            m
        },
    );
    assert_eq!(
        statuses.into_iter().collect::<Vec<_>>(),
        [
            (OrderStatus::Pending, 423),
            (OrderStatus::Shipped, 102),
            (OrderStatus::Delivered, 373),
            (OrderStatus::Cancelled, 102)
        ]
    );

    // An evaluation gives each case its own cheap copy.
    let started = Instant::now();
    let copy = store.clone_into_memory().unwrap();
    eprintln!(
        "τ-retail in-memory copy: {:.3}s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(copy.counts().unwrap(), store.counts().unwrap());
}

#[test]
fn a_malformed_file_names_the_file_and_field_and_changes_nothing() {
    let store = demo_store(TODAY);
    let before = store.export().unwrap();
    let dir = tempfile::tempdir().unwrap();

    // A bad field in the second order, after records that were fine.
    let mut data = serde_json::to_value(store.export().unwrap()).unwrap();
    data["customers"][0]["first_name"] = "Changed".into();
    data["orders"][1]["status"] = "shiped".into();
    let file = dir.path().join("bad.json");
    std::fs::write(&file, data.to_string()).unwrap();
    let err = import(&store, &file, Format::Canonical).unwrap_err();
    assert_eq!(err.code(), "import.field");
    let msg = err.to_string();
    assert!(
        msg.contains("bad.json") && msg.contains("orders[1]") && msg.contains("shiped"),
        "{msg}"
    );

    // Well-formed records the store refuses: the customers before the bad order are not kept.
    let refused = r#"{"customers": [{"id": "new", "first_name": "New", "last_name": "Person", "email": "new@example.com"}],
        "orders": [{"number": "LF-900001", "customer_id": "missing", "status": "pending", "items": [], "subtotal_cents": 0, "total_cents": 0}]}"#;
    let err = import_str(&store, refused, Format::Canonical, "refused.json").unwrap_err();
    assert_eq!(err.code(), "import.store");
    assert!(
        err.to_string().starts_with("refused.json: orders[0]: "),
        "{err}"
    );

    // τ-bench: the path names the order by its id.
    let tau = r##"{"products": {}, "users": {}, "orders": {"#W1": {"order_id": "#W1", "user_id": "u", "status": "pending",
        "address": {"address1": "1 A St", "address2": "", "city": "X", "state": "OR", "zip": "97210", "country": "USA"},
        "items": [{"name": "Mug", "product_id": "1", "item_id": "2", "price": "cheap", "options": {}}],
        "fulfillments": [], "payment_history": []}}}"##;
    let err = import_str(&store, tau, Format::TauRetail, "db.json").unwrap_err();
    assert_eq!(
        err.to_string(),
        r##"db.json: orders["#W1"].items[0].price: "cheap" is not an amount like "19.99""##
    );

    let err = import_str(&store, r#"{"orders": [1, 2"#, Format::Shopify, "cut.json").unwrap_err();
    assert_eq!(err.code(), "import.syntax");
    let err = import_str(&store, r#"{"order": []}"#, Format::Canonical, "typo.json").unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"typo.json: order: unexpected key (expected "customers", "products" or "orders")"#
    );
    let err = import_str(
        &store,
        r#"{"customers": []}"#,
        Format::Shopify,
        "wrong.json",
    )
    .unwrap_err();
    assert_eq!(err.code(), "import.field");
    let err = import(&store, &dir.path().join("missing.json"), Format::Canonical).unwrap_err();
    assert_eq!(err.code(), "import.io");

    assert_eq!(store.export().unwrap(), before);
}

#[test]
fn the_same_record_twice_in_one_file_is_an_error() {
    let store = SqliteOrderStore::open_in_memory().unwrap();
    let twice = r#"{"customers": [
        {"id": "a", "first_name": "A", "last_name": "B", "email": "a@example.com"},
        {"id": "a", "first_name": "A", "last_name": "B", "email": "a2@example.com"}]}"#;
    let err = import_str(&store, twice, Format::Canonical, "twice.json").unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"twice.json: customers[1]: customer id "a" already appears at customers[0]"#
    );
    assert_eq!(store.counts().unwrap(), StoreCounts::default());
}
