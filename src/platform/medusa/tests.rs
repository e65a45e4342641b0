//! The connector's reading of Medusa's answers, on shapes recorded from a Medusa 2.21.2 server
//! seeded by contrib/medusa/seed.mjs (tests/fixtures/medusa/).

use super::*;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/medusa/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn order(name: &str) -> WireOrder {
    serde_json::from_str::<OneOrder>(&fixture(name))
        .unwrap()
        .order
}

#[test]
fn a_delivered_order_reads_as_delivered_with_its_tracking_and_payment() {
    let o = map_order(&order("order-1003.json")).unwrap();
    assert_eq!(o.number, "#1003");
    assert_eq!(o.status, OrderStatus::Delivered);
    assert!(o.customer_id.starts_with("cus_"));
    let skus: Vec<&str> = o.items.iter().map(|i| i.item_id.as_str()).collect();
    assert_eq!(skus, ["TEE-S", "MUG-One size"]);
    assert_eq!(o.items[0].price_cents, 2800);
    assert_eq!(o.items[0].name, "Linen Tee");
    assert_eq!(
        (o.subtotal_cents, o.shipping_cents, o.total_cents),
        (4600, 500, 5100)
    );
    assert_eq!(o.shipping_method.as_deref(), Some("Standard Shipping"));
    let f = &o.fulfilments[0];
    assert_eq!(f.carrier.as_deref(), Some("UPS"));
    assert_eq!(f.tracking_number, "1Z999AA10123456791");
    assert!(f
        .tracking_url
        .as_deref()
        .unwrap()
        .contains("1Z999AA10123456791"));
    assert_eq!(f.item_ids, ["TEE-S", "MUG-One size"]);
    assert!(f.shipped_at.is_some() && f.delivered_at.is_some());
    assert!(
        o.delivered_at().is_some(),
        "the return window counts from here"
    );
    assert_eq!(o.paid_cents(), 5100);
    assert_eq!(o.payments[0].payment_method_id, "medusa:pp_system_default");
    assert_eq!(o.shipping_address.as_ref().unwrap().postcode, "97210");
    assert_eq!(o.shipping_address.as_ref().unwrap().country, "US");
}

#[test]
fn a_shipped_order_is_shipped_and_a_packed_one_is_still_processing() {
    let mut w = order("order-1002.json");
    let o = map_order(&w).unwrap();
    assert_eq!(o.status, OrderStatus::Shipped);
    assert_eq!(o.fulfilments[0].tracking_number, "1Z999AA10123456784");
    assert_eq!(o.items[0].quantity, 2);
    // Packed (a fulfilment, not yet shipped): nothing has left, so it reads as processing, and
    // is not listed as a parcel to track.
    w.fulfillment_status = Some("fulfilled".into());
    for f in &mut w.fulfillments {
        f.shipped_at = None;
        f.delivered_at = None;
    }
    let o = map_order(&w).unwrap();
    assert_eq!(o.status, OrderStatus::Processing);
    assert!(o.fulfilments.is_empty());
    w.status = "canceled".into();
    let o = map_order(&w).unwrap();
    assert_eq!(o.status, OrderStatus::Cancelled);
    assert!(o.items.iter().all(|i| i.status == ItemStatus::Cancelled));
}

#[test]
fn a_requested_return_shows_on_the_order_and_its_lines() {
    let mut w = order("order-1003.json");
    let line = w.items[0].id.clone();
    w.returns.push(WireReturn {
        id: "return_01TEST".into(),
        status: "requested".into(),
        items: vec![WireReturnItem {
            item_id: line,
            quantity: 1.0,
        }],
        ..Default::default()
    });
    w.items[0]
        .detail
        .as_mut()
        .unwrap()
        .return_requested_quantity = 1.0;
    let o = map_order(&w).unwrap();
    assert_eq!(o.status, OrderStatus::ReturnRequested);
    assert_eq!(o.items[0].status, ItemStatus::ReturnRequested);
    assert_eq!(o.items[1].status, ItemStatus::Ordered);
    assert_eq!(o.returns[0].number, "return_01TEST");
    assert_eq!(o.returns[0].item_ids, ["TEE-S"]);
    assert_eq!(o.returns[0].refund_cents, 2800);
    // That line has nothing left to return; the other still has.
    assert!(matches!(
        return_lines(&w, &["TEE-S".into()]),
        Err(PlatformError::Refused {
            refusal: Refusal {
                reason: RefusalReason::NotReturnable,
                ..
            },
            ..
        })
    ));
    assert_eq!(
        return_lines(&w, &["MUG-One size".into()]).unwrap(),
        [(w.items[1].id.clone(), 1)]
    );
    // An open (not yet requested) return is not the customer's return yet.
    w.returns[0].status = "open".into();
    assert!(map_order(&w).unwrap().returns.is_empty());
}

#[test]
fn products_carry_options_prices_and_the_units_free_to_sell() {
    let list: ProductList = serde_json::from_str(&fixture("products.json")).unwrap();
    let products: Vec<Product> = list.products.iter().map(map_product).collect();
    let tee = products.iter().find(|p| p.name == "Linen Tee").unwrap();
    assert_eq!(tee.options["Size"], ["S", "M", "L"]);
    let l = tee.variants.iter().find(|v| v.item_id == "TEE-L").unwrap();
    assert_eq!(
        (l.price_cents, l.stock, l.in_stock()),
        (2800, Some(0), false)
    );
    assert_eq!(l.options["Size"], "L");
    let m = tee.variants.iter().find(|v| v.item_id == "TEE-M").unwrap();
    assert_eq!(m.stock, Some(9), "stocked 10, one reserved by an order");
    assert!(m.in_stock());
}

#[test]
fn a_customer_reads_with_the_default_shipping_address() {
    let list: CustomerList = serde_json::from_str(&fixture("customers.json")).unwrap();
    let c = map_customer(&list.customers[0]);
    assert_eq!(
        (
            c.first_name.as_str(),
            c.last_name.as_str(),
            c.email.as_str()
        ),
        ("Ada", "Lovelace", "ada@shopkeep.test")
    );
    assert_eq!(c.default_address.unwrap().line1, "12 Analytical Row");
}

#[test]
fn medusa_refusals_become_typed_reasons() {
    let reason = |status: u16, body: &str| match classify(Failure::Status(status, body.into())) {
        PlatformError::Refused { refusal, .. } => refusal.reason,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        reason(400, &fixture("error-cancel-fulfilled.json")),
        RefusalReason::AlreadyFulfilled
    );
    assert_eq!(
        reason(
            400,
            r#"{"type":"not_allowed","message":"Cannot cancel a completed order. Please use the return process to handle refunds or exchanges."}"#
        ),
        RefusalReason::AlreadyFulfilled
    );
    assert_eq!(
        reason(
            400,
            r#"{"type":"invalid_data","message":"Order with id order_1 has been canceled."}"#
        ),
        RefusalReason::AlreadyCancelled
    );
    assert_eq!(
        reason(
            400,
            r#"{"type":"not_allowed","message":"Order order_1 already has an existing active order change"}"#
        ),
        RefusalReason::ChangeInProgress
    );
    assert_eq!(
        reason(
            404,
            r#"{"type":"not_found","message":"Order id not found: order_x"}"#
        ),
        RefusalReason::OrderNotFound
    );
    assert_eq!(
        reason(400, "<html>bad gateway</html>"),
        RefusalReason::Other
    );
}

#[test]
fn no_answer_a_server_failure_and_a_bad_key_are_not_refusals() {
    assert!(matches!(
        classify(Failure::Transport("connection refused".into())),
        PlatformError::Unreachable { .. }
    ));
    assert!(matches!(
        classify(Failure::Status(503, "busy".into())),
        PlatformError::Unreachable { .. }
    ));
    assert!(matches!(
        classify(Failure::Status(
            401,
            r#"{"type":"unauthorized","message":"Unauthorized"}"#.into()
        )),
        PlatformError::Auth { status: 401, .. }
    ));
    assert!(matches!(
        classify(Failure::Decode("eof".into())),
        PlatformError::Protocol { .. }
    ));
}

#[test]
fn order_numbers_as_typed_find_display_ids() {
    assert_eq!(display_id("#1001"), Some(1001));
    assert_eq!(display_id("1001"), Some(1001));
    assert_eq!(display_id("LF-100234"), None, "another store's numbering");
    assert_eq!(display_id("#W1234567"), None);
    assert_eq!(display_id("#"), None);
}

#[test]
fn the_key_is_sent_as_basic_auth_and_never_shown() {
    assert_eq!(base64("sk_abc:"), "c2tfYWJjOg==");
    assert_eq!(base64("ab"), "YWI=");
    let m = Medusa::new("http://127.0.0.1:1/", "sk_secret", Duration::from_secs(1)).unwrap();
    assert_eq!(m.authorization, format!("Basic {}", base64("sk_secret:")));
    assert!(!format!("{m:?}").contains("sk_secret"));
    assert_eq!(m.base, "http://127.0.0.1:1");
}

#[test]
fn an_unreachable_server_is_reported_as_such() {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let m = Medusa::new("http://127.0.0.1:1", "sk_x", Duration::from_secs(2)).unwrap();
    let op = Operation {
        key: "k".into(),
        order: "#1001".into(),
        kind: OperationKind::Cancel { reason: None },
    };
    assert!(matches!(
        m.carry_out(&op),
        Err(PlatformError::Unreachable { .. })
    ));
    assert!(matches!(
        m.order("#1001"),
        Err(PlatformError::Unreachable { .. })
    ));
}

#[test]
fn nulls_where_lists_and_metadata_would_be_read_as_empty() {
    // A fulfilment made without metadata, and an order whose lists come back null.
    let mut v: serde_json::Value = serde_json::from_str(&fixture("order-1003.json")).unwrap();
    v["order"]["fulfillments"][0]["metadata"] = serde_json::Value::Null;
    v["order"]["returns"] = serde_json::Value::Null;
    v["order"]["fulfillments"][0]["labels"] = serde_json::Value::Null;
    let w: OneOrder = serde_json::from_value(v).unwrap();
    let o = map_order(&w.order).unwrap();
    assert_eq!(o.fulfilments[0].carrier, None);
    assert_eq!(o.fulfilments[0].tracking_number, "");
    assert!(o.returns.is_empty());
}
