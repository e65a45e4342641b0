//! Guided actions, as a customer meets them: each flow's happy path and its refusals on the demo
//! store (Maya Chen, cus_001), written in everyday words; idempotency, the action log and an
//! admin's reversal; variant matching from a customer's description; and, where ../shared is
//! present, τ-bench retail requests with the tau-retail policy. One end-to-end conversation runs
//! through the assistant with the real model.

mod common;

use std::sync::{Arc, OnceLock};

use serde_json::Value;
use shopkeep::{
    actions::{execute, read::Catalogue, revert, variant, Flow, Guide, Policy, Stage, Turn},
    money::Currency,
    orders::{
        demo, import::Format, ItemStatus, OrderError, OrderStatus, OrderStore, OrderStoreExt,
        SqliteOrderStore,
    },
};
use time::OffsetDateTime;

/// A conversation with the guided-actions step for one verified customer.
struct Chat {
    store: Arc<SqliteOrderStore>,
    guide: Guide,
    customer: String,
    flow: Option<Flow>,
    now: OffsetDateTime,
}

impl Chat {
    fn demo() -> Self {
        let today = OffsetDateTime::now_utc().date();
        let store = SqliteOrderStore::open_in_memory().unwrap();
        demo::seed_demo(&store, today).unwrap();
        Self {
            store: Arc::new(store),
            guide: Guide::new(Policy::profile("demo").unwrap()),
            customer: "cus_001".into(),
            flow: None,
            now: demo::demo_now(today),
        }
    }

    fn say(&mut self, message: &str) -> Turn {
        let turn = self
            .guide
            .turn(
                self.store.as_ref(),
                &self.customer,
                "conv-test",
                message,
                self.flow.take(),
                self.now,
            )
            .unwrap()
            .expect("an action turn");
        self.flow = turn.flow.clone();
        turn
    }

    fn awaits_yes(&self) -> bool {
        self.flow
            .as_ref()
            .is_some_and(|f| f.stage == Stage::Confirm)
    }

    fn order(&self, n: &str) -> shopkeep::orders::Order {
        self.store.order(n).unwrap().unwrap()
    }

    fn log(&self) -> Vec<shopkeep::orders::LoggedAction> {
        self.store.actions_for(None, None).unwrap()
    }
}

fn statuses(t: &Turn) -> Vec<String> {
    t.actions
        .iter()
        .map(|a| a["status"].as_str().unwrap_or("").to_string())
        .collect()
}

// --- Returns -------------------------------------------------------------------------------------

#[test]
fn a_return_states_the_refund_and_its_timing_then_opens_an_rma_on_yes() {
    let mut chat = Chat::demo();
    let t =
        chat.say("Hi, I'd like to send back the linen shirt from order LF-100002, it doesn't fit.");
    assert!(chat.awaits_yes(), "{}", t.text);
    assert!(
        t.text.contains("$68.00")
            && t.text.contains("PayPal")
            && t.text.contains("5–10 business days"),
        "{}",
        t.text
    );
    assert!(!t.text.contains("Earrings"), "only the shirt: {}", t.text);
    assert_eq!(statuses(&t), ["proposed"]);
    assert!(
        chat.order("LF-100002").returns.is_empty(),
        "nothing changes before the yes"
    );

    let done = chat.say("yes please");
    assert_eq!(statuses(&done), ["executed"]);
    let rma = done.actions[0]["reference"].as_str().unwrap().to_string();
    assert!(
        rma.starts_with("RMA-") && done.text.contains(&rma) && done.text.contains("return label"),
        "{}",
        done.text
    );
    let order = chat.order("LF-100002");
    assert_eq!(order.status, OrderStatus::ReturnRequested);
    assert_eq!(order.returns[0].number, rma);
    assert_eq!(
        order
            .items
            .iter()
            .find(|i| i.item_id == "LSH-WHITE-M")
            .unwrap()
            .status,
        ItemStatus::ReturnRequested
    );
}

#[test]
fn a_store_selling_in_euros_is_quoted_euros() {
    let mut chat = Chat::demo();
    chat.guide = Guide::new(Policy::profile("demo").unwrap())
        .with_currency(Currency::from_code("EUR").unwrap());
    let t = chat.say("Please return the linen shirt on LF-100002 as store credit.");
    assert!(
        t.text.contains("€74.80") && !t.text.contains('$'),
        "{}",
        t.text
    );
}

#[test]
fn store_credit_is_offered_with_its_bonus_when_asked_for() {
    let mut chat = Chat::demo();
    let t = chat.say("Please return the linen shirt on LF-100002 as store credit.");
    assert!(
        t.text.contains("store credit")
            && t.text.contains("10% bonus")
            && t.text.contains("$74.80"),
        "{}",
        t.text
    );
}

#[test]
fn final_sale_items_are_refused_with_the_reason() {
    let mut chat = Chat::demo();
    let t = chat.say("I want to return the gold hoop earrings from LF-100002");
    assert!(!chat.awaits_yes());
    assert!(t.text.contains("final sale"), "{}", t.text);
    assert_eq!(statuses(&t), ["refused"]);
    assert!(chat.log().is_empty());
}

#[test]
fn a_return_outside_the_window_is_refused_and_handed_to_a_person_who_may_make_an_exception() {
    let mut chat = Chat::demo();
    let t = chat.say("I'd like to return the sheets from order LF-100004");
    assert!(
        t.text.contains("days ago") && t.text.contains("within 30 days"),
        "{}",
        t.text
    );
    assert!(t.handoff.is_some(), "a person can make an exception");
    assert!(chat.flow.is_none() && chat.log().is_empty());
}

// --- Exchanges -----------------------------------------------------------------------------------

#[test]
fn an_exchange_for_another_size_in_the_same_colour_finds_the_variant() {
    let mut chat = Chat::demo();
    let t = chat
        .say("Could I exchange the linen shirt from LF-100002 for a size L in the same colour?");
    assert!(chat.awaits_yes(), "{}", t.text);
    assert!(
        t.text.contains("White, L") || t.text.contains("L, White"),
        "{}",
        t.text
    );
    let done = chat.say("Yes");
    assert_eq!(statuses(&done), ["executed"]);
    let order = chat.order("LF-100002");
    assert_eq!(order.exchanges[0].new_item_ids, ["LSH-WHITE-L"]);
    assert!(order.exchanges[0].number.starts_with("EXC-"));
}

#[test]
fn naming_the_product_again_in_what_they_want_is_still_one_item() {
    let mut chat = Chat::demo();
    let t = chat.say("Could I swap the linen shirt from LF-100002 for a size L linen shirt in the same colour please");
    assert!(chat.awaits_yes(), "{}", t.text);
    assert!(
        t.text.contains("White, L") || t.text.contains("L, White"),
        "{}",
        t.text
    );
    assert_eq!(statuses(&t), ["proposed"]);
}

#[test]
fn a_sold_out_variant_is_refused_with_what_is_available() {
    let mut chat = Chat::demo();
    let t = chat.say("I want to swap my linen shirt (LF-100002) for the sage one, same size");
    assert!(!chat.awaits_yes());
    assert!(t.text.contains("not available"), "{}", t.text);
    assert!(chat.log().is_empty());
}

#[test]
fn an_exchange_with_nothing_said_about_the_new_item_asks_what_instead() {
    let mut chat = Chat::demo();
    let t = chat.say("I'd like to exchange the linen shirt from LF-100002");
    assert_eq!(
        chat.flow.as_ref().map(|f| f.stage),
        Some(Stage::Details),
        "{}",
        t.text
    );
    assert!(
        t.text.contains("Size") || t.text.contains("instead"),
        "{}",
        t.text
    );
    // The answer completes the request: it is read together with what came before.
    let t = chat.say("size L please, in white");
    assert!(chat.awaits_yes(), "{}", t.text);
}

// --- Cancellations -------------------------------------------------------------------------------

#[test]
fn an_unshipped_order_is_cancelled_with_an_immediate_refund() {
    let mut chat = Chat::demo();
    let t = chat.say("Please cancel order LF-100003, I ordered it by mistake");
    assert!(chat.awaits_yes(), "{}", t.text);
    assert!(
        t.text.contains("Cancel order LF-100003") && t.text.contains("immediately"),
        "{}",
        t.text
    );
    let done = chat.say("go ahead");
    assert_eq!(statuses(&done), ["executed"]);
    let order = chat.order("LF-100003");
    assert_eq!(order.status, OrderStatus::Cancelled);
    assert_eq!(order.refunded_cents(), order.paid_cents());
}

#[test]
fn a_shipped_order_cannot_be_cancelled_and_the_reply_says_why() {
    let mut chat = Chat::demo();
    let t = chat.say("cancel LF-100001 please");
    assert!(
        t.text.contains("already shipped") && t.text.contains("return"),
        "{}",
        t.text
    );
    assert!(!chat.awaits_yes() && chat.log().is_empty());
}

#[test]
fn another_customers_order_is_never_found() {
    let mut chat = Chat::demo();
    let t = chat.say("Cancel order LF-100005 please, I don't need it");
    assert!(
        t.text
            .contains("couldn't find order LF-100005 on your account"),
        "{}",
        t.text
    );
    assert!(!chat.awaits_yes());
    assert_eq!(chat.order("LF-100005").status, OrderStatus::Processing);
    // Even a plan naming it cannot be carried out for this customer.
    let mut other = Chat::demo();
    other.customer = "cus_002".into();
    let t = other.say("Cancel order LF-100005 please, I ordered it by mistake");
    let plan = other.flow.as_ref().unwrap().plans[0].clone();
    assert!(t.text.contains("LF-100005"));
    let mut forged = plan.clone();
    forged.customer_id = "cus_001".into();
    forged.id = "forged".into();
    assert!(execute(
        chat.store.as_ref(),
        &chat.guide.policy,
        chat.guide.currency,
        &forged,
        None,
        chat.now
    )
    .is_err());
}

#[test]
fn no_leaves_everything_as_it_was() {
    let mut chat = Chat::demo();
    chat.say("I'd like to cancel LF-100003, changed my mind about it");
    assert!(chat.awaits_yes());
    let t = chat.say("No, leave it");
    assert!(t.text.contains("haven't changed anything"), "{}", t.text);
    assert_eq!(statuses(&t), ["declined"]);
    assert_eq!(chat.order("LF-100003").status, OrderStatus::Pending);
    assert!(chat.flow.is_none() && chat.log().is_empty());
}

#[test]
fn a_repeated_yes_or_a_retried_request_never_acts_twice() {
    let mut chat = Chat::demo();
    chat.say("cancel LF-100003 please, ordered it by mistake");
    let pending = chat.flow.clone().unwrap();
    let first = chat.say("yes");
    assert_eq!(statuses(&first), ["executed"]);
    let again = chat.say("yes");
    assert!(again.text.contains("already done"), "{}", again.text);
    // A retried request carrying the same confirmed plan finds the first execution.
    let retry = chat
        .guide
        .turn(
            chat.store.as_ref(),
            "cus_001",
            "conv-test",
            "yes",
            Some(pending),
            chat.now,
        )
        .unwrap()
        .unwrap();
    assert_eq!(statuses(&retry), ["already_done"]);
    assert_eq!(chat.log().len(), 1, "one action in the log");
    let order = chat.order("LF-100003");
    assert_eq!(order.refunded_cents(), order.paid_cents(), "refunded once");
}

// --- Changes to an unshipped order and the default address ----------------------------------------

#[test]
fn an_unshipped_orders_address_can_be_changed_once() {
    let mut chat = Chat::demo();
    let t = chat.say("Can you ship LF-100003 to 77 Alder Street, Portland, OR 97209 instead? I need to change the address");
    assert!(chat.awaits_yes(), "{}", t.text);
    assert!(
        t.text.contains("77 Alder Street, Portland, OR 97209"),
        "{}",
        t.text
    );
    chat.say("yes");
    assert_eq!(
        chat.order("LF-100003").shipping_address.unwrap().line1,
        "77 Alder Street"
    );
    let t = chat.say(
        "Actually please change the address of LF-100003 to 12 Oak Avenue, Portland, OR 97201",
    );
    assert!(t.text.contains("only be changed once"), "{}", t.text);
}

#[test]
fn an_item_of_an_unshipped_order_can_be_changed_to_another_colour() {
    let mut chat = Chat::demo();
    let t = chat.say("I'd like to change the canvas tote on LF-100003 to black");
    assert!(chat.awaits_yes(), "{}", t.text);
    chat.say("yes");
    let order = chat.order("LF-100003");
    assert!(
        order
            .items
            .iter()
            .any(|i| i.name == "Canvas Tote" && i.options.values().any(|v| v == "Black")),
        "{:?}",
        order.items
    );
}

#[test]
fn an_unshipped_order_can_be_paid_another_way_and_the_first_method_is_refunded() {
    let mut chat = Chat::demo();
    let t = chat.say("Could I pay for LF-100003 with my PayPal instead of the card?");
    assert!(chat.awaits_yes(), "{}", t.text);
    assert!(t.text.to_lowercase().contains("paypal"), "{}", t.text);
    chat.say("yes");
    let order = chat.order("LF-100003");
    let paid: Vec<_> = order
        .payments
        .iter()
        .filter(|p| p.kind == shopkeep::orders::TransactionKind::Payment)
        .map(|p| p.payment_method_id.as_str())
        .collect();
    assert_eq!(paid, ["paypal_001_2"], "{:?}", order.payments);
    assert!(order
        .payments
        .iter()
        .any(|p| p.kind == shopkeep::orders::TransactionKind::Refund
            && p.payment_method_id == "card_001_1"));
    // A question about payment methods is not a request to change one.
    let asked = chat
        .guide
        .turn(
            chat.store.as_ref(),
            "cus_001",
            "conv-q",
            "Can I pay with PayPal?",
            None,
            chat.now,
        )
        .unwrap();
    assert!(asked.is_none(), "{:?}", asked.map(|t| t.text));
}

#[test]
fn a_shipped_orders_address_cannot_be_changed_and_nothing_is_written() {
    let mut chat = Chat::demo();
    let before = chat.order("LF-100001");
    let t = chat.say(
        "Please change the shipping address of LF-100001 to 77 Alder Street, Portland, OR 97209",
    );
    assert!(!chat.awaits_yes(), "{}", t.text);
    assert!(t.text.to_lowercase().contains("shipped"), "{}", t.text);
    assert_eq!(
        chat.order("LF-100001").shipping_address,
        before.shipping_address
    );
    assert!(chat.log().is_empty());
}

#[test]
fn the_default_address_can_be_changed() {
    let mut chat = Chat::demo();
    let t = chat.say("Please update my default address to 9 Birch Road, Salem, OR 97301");
    assert!(chat.awaits_yes(), "{}", t.text);
    chat.say("yes");
    let c = chat.store.customer("cus_001").unwrap().unwrap();
    assert_eq!(c.default_address.unwrap().city, "Salem");
}

#[test]
fn several_requests_in_one_message_are_each_confirmed() {
    let mut chat = Chat::demo();
    let t = chat.say("Two things: please cancel LF-100003 because I ordered it by mistake, and I also want to return the linen shirt from LF-100002.");
    assert!(chat.awaits_yes(), "{}", t.text);
    assert_eq!(statuses(&t), ["proposed", "proposed"]);
    let done = chat.say("yes");
    assert_eq!(statuses(&done), ["executed", "executed"]);
    assert_eq!(done.text.matches("Reference").count(), 2, "{}", done.text);
    assert_eq!(chat.order("LF-100003").status, OrderStatus::Cancelled);
    assert_eq!(chat.order("LF-100002").status, OrderStatus::ReturnRequested);
}

// --- The action log and reversal -----------------------------------------------------------------

#[test]
fn every_action_is_logged_with_who_what_before_and_after_and_an_admin_can_undo_it() {
    let mut chat = Chat::demo();
    chat.say("cancel LF-100003 please, I no longer need it");
    chat.say("yes");
    let log = chat.log();
    assert_eq!(log.len(), 1);
    let entry = &log[0];
    assert_eq!(
        (
            entry.customer_id.as_str(),
            entry.kind.as_str(),
            entry.actor.as_str()
        ),
        ("cus_001", "cancel_order", "assistant")
    );
    assert_eq!(entry.conversation_id.as_deref(), Some("conv-test"));
    assert_eq!(
        entry.doc["before"]["order"]["status"],
        Value::from("pending")
    );
    assert_eq!(
        entry.doc["after"]["order"]["status"],
        Value::from("cancelled")
    );

    let undo = revert(chat.store.as_ref(), &entry.id, "sam", chat.now).unwrap();
    assert_eq!(chat.order("LF-100003").status, OrderStatus::Pending);
    let log = chat.log();
    assert_eq!(
        log.iter().find(|a| a.id == entry.id).unwrap().status,
        "reverted"
    );
    assert!(log.iter().any(|a| a.id == undo && a.actor == "admin:sam"));
    assert!(
        revert(chat.store.as_ref(), &entry.id, "sam", chat.now).is_err(),
        "only once"
    );
}

#[test]
fn a_reversal_is_refused_once_the_order_has_moved_on() {
    let mut chat = Chat::demo();
    chat.say("return the linen shirt from LF-100002 please");
    chat.say("yes");
    let id = chat.log()[0].id.clone();
    let mut order = chat.order("LF-100002");
    order.status = OrderStatus::Returned;
    chat.store.save_order(&order).unwrap();
    let err = revert(chat.store.as_ref(), &id, "sam", chat.now).unwrap_err();
    assert!(err.to_string().contains("changed since"), "{err}");
}

#[test]
fn an_undo_whose_stored_snapshot_does_not_decode_is_refused_and_changes_nothing() {
    let mut chat = Chat::demo();
    chat.say("cancel LF-100003 please, I no longer need it");
    chat.say("yes");
    let mut entry = chat.log()[0].clone();
    // As if written by another version: the order snapshot has a field of the wrong type.
    entry.doc["before"]["order"]["items"] = Value::from("not a list");
    chat.store
        .transaction(|tx| -> Result<(), OrderError> { tx.save_action(&entry) })
        .unwrap();

    let err = revert(chat.store.as_ref(), &entry.id, "sam", chat.now).unwrap_err();
    assert_eq!(err.code(), "actions.unreadable_record", "{err}");
    assert_eq!(chat.order("LF-100003").status, OrderStatus::Cancelled);
    let log = chat.log();
    assert_eq!(log.len(), 1, "no reversal logged");
    assert_eq!(log[0].status, "executed", "not marked reverted");
}

// --- Variant matching from a customer's words -----------------------------------------------------

fn tau_store(shared: &std::path::Path) -> &'static SqliteOrderStore {
    static STORE: OnceLock<SqliteOrderStore> = OnceLock::new();
    STORE.get_or_init(|| {
        let s = SqliteOrderStore::open_in_memory().unwrap();
        shopkeep::orders::import(
            &s,
            &shared.join("eval/tau-retail/db.json"),
            Format::TauRetail,
        )
        .unwrap();
        s
    })
}

fn pick(
    store: &SqliteOrderStore,
    product: &str,
    current_item: &str,
    words: &str,
) -> variant::Choice {
    let products = store.products().unwrap();
    let p = products.iter().find(|p| p.name == product).unwrap();
    let cur = p
        .variants
        .iter()
        .find(|v| v.item_id == current_item)
        .unwrap();
    let spec = variant::read_spec(words, p, &cur.options);
    variant::choose(p, &cur.options, cur.price_cents, &spec, &|v| v.available)
}

fn options_of(c: &variant::Choice) -> std::collections::BTreeMap<String, String> {
    match c {
        variant::Choice::One(v) => v.options.clone(),
        other => panic!("expected one variant, got {other:?}"),
    }
}

#[test]
fn variants_are_matched_from_everyday_descriptions() {
    let shared = require_shared!();
    let store = tau_store(&shared);
    // A tactile RGB full-size keyboard, "the same one but clicky": sold out, and said so.
    match pick(
        store,
        "Mechanical Keyboard",
        "1151293680",
        "the same one but with clicky switches",
    ) {
        variant::Choice::None(why) => assert!(why.contains("not available"), "{why}"),
        other => panic!("{other:?}"),
    }
    // Told what to give up, the rest stays: clicky, full size, no backlight.
    let c = pick(
        store,
        "Mechanical Keyboard",
        "1151293680",
        "the same one but with clicky switches and no backlight",
    );
    assert_eq!(
        (
            options_of(&c)["switch type"].as_str(),
            options_of(&c)["backlight"].as_str(),
            options_of(&c)["size"].as_str()
        ),
        ("clicky", "none", "full size")
    );
    // "Google Home" names the Google Assistant option; HomeKit is what they want to leave.
    let c = pick(
        store,
        "Smart Thermostat",
        "4983901480",
        "one that works with Google Home rather than Apple HomeKit",
    );
    assert_eq!(options_of(&c)["compatibility"], "Google Assistant");
    // Letter sizes by their words, a colour, and the rest kept.
    let products = store.products().unwrap();
    let tee = products.iter().find(|p| p.name == "T-Shirt").unwrap();
    let start = tee
        .variants
        .iter()
        .find(|v| v.options["size"] == "L" && v.available)
        .unwrap();
    let spec = variant::read_spec("a medium in black please", tee, &start.options);
    match variant::choose(tee, &start.options, start.price_cents, &spec, &|v| {
        v.available
    }) {
        variant::Choice::One(v) => assert_eq!(
            (v.options["size"].as_str(), v.options["color"].as_str()),
            ("M", "black")
        ),
        variant::Choice::Several(vs) => assert!(vs
            .iter()
            .all(|v| v.options["size"] == "M" && v.options["color"] == "black")),
        variant::Choice::None(why) => assert!(why.contains("M") || why.contains("black"), "{why}"),
    }
    // Comparatives move along an option's order.
    let bottle = products.iter().find(|p| p.name == "Water Bottle").unwrap();
    let small = bottle
        .variants
        .iter()
        .find(|v| v.options["capacity"] == "500ml" && v.available)
        .unwrap();
    let spec = variant::read_spec("a bigger one", bottle, &small.options);
    if let variant::Choice::One(v) =
        variant::choose(bottle, &small.options, small.price_cents, &spec, &|v| {
            v.available
        })
    {
        assert_ne!(v.options["capacity"], "500ml");
    }
}

#[test]
fn product_words_find_the_catalogue_item_the_customer_means() {
    let shared = require_shared!();
    let products = tau_store(&shared).products().unwrap();
    let cat = Catalogue::new(&products);
    let names = |text: &str| -> Vec<String> {
        let customer = shopkeep::orders::Customer {
            id: "x".into(),
            first_name: "A".into(),
            last_name: "B".into(),
            email: String::new(),
            phone: None,
            default_address: None,
            payment_methods: vec![],
        };
        let wishes = shopkeep::actions::read::read(
            text,
            &cat,
            &shopkeep::actions::read::Known {
                customer: &customer,
                orders: &[],
            },
        );
        wishes
            .iter()
            .flat_map(|w| {
                w.items.iter().flat_map(|i| {
                    i.products
                        .iter()
                        .map(|p| cat.product(p).unwrap().name.clone())
                })
            })
            .collect()
    };
    assert_eq!(
        names("I want to return the cleaner, the headphone and my smart watch"),
        ["Vacuum Cleaner", "Headphones", "Smart Watch"]
    );
    assert_eq!(names("please send back the book shelf"), ["Bookshelf"]);
    assert_eq!(names("I'd like to return the tshirt"), ["T-Shirt"]);
}

// --- τ-bench retail requests, natural phrasing, with the tau-retail policy ---------------------------

fn tau_chat(shared: &std::path::Path, customer: &str) -> Chat {
    let store = tau_store(shared).clone_into_memory().unwrap();
    Chat {
        store: Arc::new(store),
        guide: Guide::new(Policy::profile("tau-retail").unwrap()),
        customer: customer.into(),
        flow: None,
        now: OffsetDateTime::now_utc(),
    }
}

#[test]
fn tau_an_exchange_with_a_fallback_preference_uses_it_when_the_first_choice_is_sold_out() {
    let shared = require_shared!();
    let mut chat = tau_chat(&shared, "yusuf_rossi_9620");
    let t = chat.say(
        "I got order #W2378156 and would like to swap the mechanical keyboard for the same one but with clicky switches, and the smart thermostat for one compatible with Google Home instead of Apple HomeKit. If there's no clicky keyboard with RGB backlight in full size, I'd go for no backlight.",
    );
    assert!(chat.awaits_yes(), "{}", t.text);
    let plan = &chat.flow.as_ref().unwrap().plans[0];
    let action = serde_json::to_value(&plan.action).unwrap();
    assert_eq!(action["kind"], "exchange_items");
    assert_eq!(
        action["new_item_ids"],
        serde_json::json!(["7706410293", "7747408585"]),
        "{}",
        t.text
    );
    assert_eq!(action["payment_method_id"], "credit_card_9513926");
}

#[test]
fn tau_a_cancellation_needs_one_of_the_accepted_reasons() {
    let shared = require_shared!();
    let store = tau_store(&shared);
    let pending = store
        .orders_for_customer("yusuf_rossi_9620")
        .unwrap()
        .into_iter()
        .find(|o| o.status == OrderStatus::Pending)
        .unwrap();
    let mut chat = tau_chat(&shared, "yusuf_rossi_9620");
    let t = chat.say(&format!("Please cancel {} for me.", pending.number));
    assert_eq!(
        chat.flow.as_ref().map(|f| f.stage),
        Some(Stage::Details),
        "{}",
        t.text
    );
    assert!(
        t.text.contains("no longer needed") && t.text.contains("ordered by mistake"),
        "{}",
        t.text
    );
    let t = chat.say("I don't need it anymore");
    assert!(chat.awaits_yes(), "{}", t.text);
}

#[test]
fn tau_a_refund_goes_only_to_the_original_method_or_a_gift_card() {
    let shared = require_shared!();
    // Mia paid #W7387996 (a gaming mouse) with PayPal and also has a credit card.
    let mut chat = tau_chat(&shared, "mia_garcia_4516");
    let t = chat.say(
        "I'd like to return the gaming mouse from #W7387996 and get the refund on my credit card",
    );
    assert!(!chat.awaits_yes(), "{}", t.text);
    assert!(t.text.contains("original payment method"), "{}", t.text);
    let t = chat.say(
        "I'd like to return the gaming mouse from #W7387996, refund to the original payment method",
    );
    assert!(chat.awaits_yes() && t.text.contains("PayPal"), "{}", t.text);
}

// --- End to end through the assistant -------------------------------------------------------------

#[test]
fn end_to_end_identity_then_proposal_then_yes() {
    use shopkeep::{app::App, assistant::Question};
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::demo_config(dir.path());
    let app = App::with_embedder(cfg, common::model_dyn()).expect("app opens");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let conversation = std::cell::RefCell::new(None::<String>);
    let ask = |msg: &str| {
        let q = Question {
            conversation_id: conversation.borrow().clone(),
            channel: "api".into(),
            message: msg.into(),
            client: Some("t".into()),
            ..Default::default()
        };
        let a = rt.block_on(app.assistant.handle(q)).unwrap();
        *conversation.borrow_mut() = Some(a.conversation_id.clone());
        a
    };
    let a = ask("I want to cancel my order LF-100003");
    assert!(
        a.reply.contains("email") || a.reply.contains("postcode"),
        "identity first: {}",
        a.reply
    );
    assert!(a.actions.is_empty());
    let a = ask("sure, it's maya.chen@example.com. I ordered it by mistake");
    assert!(
        a.actions.iter().any(|x| x["status"] == "proposed"),
        "{}",
        a.reply
    );
    assert!(a.handoff.is_none());
    let a = ask("yes");
    assert!(
        a.actions.iter().any(|x| x["status"] == "executed"),
        "{}",
        a.reply
    );
    assert!(
        a.order.as_ref().is_some_and(|o| o.status == "cancelled"),
        "{:?}",
        a.order
    );
}

#[test]
fn tau_a_new_address_pointed_at_by_its_city_is_found_on_another_order() {
    let shared = require_shared!();
    // Yusuf's processed order #W1994898 went to Washington, DC; three others are pending.
    let mut chat = tau_chat(&shared, "yusuf_hernandez_6785");
    let t = chat.say("I want to change the address on all my pending orders to my Washington DC address, you'll find it on one of my orders.");
    assert!(chat.awaits_yes(), "{}", t.text);
    let plans = &chat.flow.as_ref().unwrap().plans;
    assert_eq!(plans.len(), 3, "{}", t.text);
    for p in plans {
        let a = serde_json::to_value(&p.action).unwrap();
        assert_eq!(
            (a["kind"].as_str(), a["address"]["city"].as_str()),
            (Some("change_order_address"), Some("Washington")),
            "{}",
            t.text
        );
    }
}

#[test]
fn tau_the_cheapest_one_of_the_same_product_on_a_named_order() {
    let shared = require_shared!();
    let mut chat = tau_chat(&shared, "aarav_anderson_8794");
    let t = chat.say("Hi, could you change the desk lamp on order #W9300146 for the cheapest desk lamp you have in stock? Put any difference on my gift card.");
    assert!(chat.awaits_yes(), "{}", t.text);
    let a = serde_json::to_value(&chat.flow.as_ref().unwrap().plans[0].action).unwrap();
    assert_eq!(a["kind"], "change_order_items", "{}", t.text);
    assert_eq!(a["payment_method_id"], "gift_card_7245904", "{}", t.text);
}

#[test]
fn tau_a_mistyped_order_number_does_not_undo_a_name_and_postcode_proof() {
    use shopkeep::verify::{check, Claim, Verdict};
    let shared = require_shared!();
    let store = tau_store(&shared);
    let mut cfg = shopkeep::config::IdentityConfig::default();
    Policy::profile("tau-retail")
        .unwrap()
        .apply_identity(&mut cfg);
    // "I'm Yusuf Rossi, zip 19122, my order is 2378157" (one digit off).
    let claim = Claim {
        order_number: Some("#W2378157".into()),
        postcode: Some("19122".into()),
        first_name: Some("Yusuf".into()),
        last_name: Some("Rossi".into()),
        ..Default::default()
    };
    match check(store, &cfg, &claim).unwrap() {
        Verdict::Verified(id) => assert_eq!(id.customer_id, "yusuf_rossi_9620"),
        other => panic!("{other:?}"),
    }
    // The wrong postcode with it still fails.
    let claim = Claim {
        postcode: Some("19123".into()),
        ..claim
    };
    assert_eq!(check(store, &cfg, &claim).unwrap(), Verdict::Failed);
    // On the demo policy (neither name + postcode nor order + postcode) a postcode proves
    // nothing: the claim is incomplete (the customer is asked for the order's email), and an
    // order number with the wrong email fails as before.
    let demo = Chat::demo();
    let mut cfg = shopkeep::config::IdentityConfig::default();
    Policy::profile("demo").unwrap().apply_identity(&mut cfg);
    let claim = Claim {
        order_number: Some("LF-100003".into()),
        postcode: Some("00000".into()),
        first_name: Some("Maya".into()),
        last_name: Some("Chen".into()),
        ..Default::default()
    };
    assert_eq!(
        check(demo.store.as_ref(), &cfg, &claim).unwrap(),
        Verdict::Incomplete
    );
    let claim = Claim {
        email: Some("someone.else@example.com".into()),
        ..claim
    };
    assert_eq!(
        check(demo.store.as_ref(), &cfg, &claim).unwrap(),
        Verdict::Failed
    );
}

#[test]
fn tau_an_exchange_that_can_happen_once_waits_while_another_item_on_that_order_is_unsettled() {
    let shared = require_shared!();
    // #W2378156 (delivered) holds both a mechanical keyboard and a smart thermostat; a keyboard
    // with clicky switches, RGB and full size is sold out.
    let mut chat = tau_chat(&shared, "yusuf_rossi_9620");
    let t = chat.say("On order #W2378156 I'd like to swap the smart thermostat for one that works with Google Home. I also want to exchange the mechanical keyboard for the same one but with clicky switches.");
    assert!(!chat.awaits_yes(), "{}", t.text);
    assert!(t.text.contains("only once"), "{}", t.text);
    assert!(chat.log().is_empty());
}

// --- Never a change the customer didn't ask for (tau-retail) ---------------------------------------

fn plans_of(chat: &Chat) -> Vec<Value> {
    chat.flow
        .as_ref()
        .map(|f| {
            f.plans
                .iter()
                .map(|p| serde_json::to_value(p).unwrap())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn tau_scope_the_accounts_address_is_not_the_address_of_every_pending_order() {
    let shared = require_shared!();
    // Liam has pending orders; he asks for his account's address only.
    let mut chat = tau_chat(&shared, "liam_kovacs_4286");
    let t = chat.say("Please update the default address on my account to 100 Birch Lane, Portland, OR 97205. My current orders can keep shipping where they are.");
    assert!(chat.awaits_yes(), "{}", t.text);
    let plans = plans_of(&chat);
    assert_eq!(plans.len(), 1, "{}", t.text);
    assert_eq!(
        plans[0]["action"]["kind"], "change_default_address",
        "{}",
        t.text
    );
}

#[test]
fn tau_scope_one_orders_address_changes_that_order_and_nothing_else() {
    let shared = require_shared!();
    let mut chat = tau_chat(&shared, "yusuf_garcia_3055");
    let t = chat.say("Could you change the delivery address of #W2564042 to 470 Harbor View Road, Boise, ID 83702? Leave my account address alone.");
    assert!(chat.awaits_yes(), "{}", t.text);
    let plans = plans_of(&chat);
    assert_eq!(plans.len(), 1, "{}", t.text);
    assert_eq!(
        (
            plans[0]["action"]["kind"].as_str(),
            plans[0]["action"]["order"].as_str()
        ),
        (Some("change_order_address"), Some("#W2564042")),
        "{}",
        t.text
    );
}

#[test]
fn tau_scope_an_address_change_that_does_not_say_whose_address_is_asked_about() {
    let shared = require_shared!();
    let mut chat = tau_chat(&shared, "yusuf_garcia_3055");
    let t =
        chat.say("I've moved to 840 Orchard Way, Columbus, OH 43215. Please update my address.");
    assert!(!chat.awaits_yes(), "{}", t.text);
    assert!(
        t.text.contains("default address on your account") && t.text.contains("both"),
        "{}",
        t.text
    );
    assert!(chat.log().is_empty());
}

#[test]
fn tau_superlative_the_highest_resolution_waterproof_one_at_the_price_paid_is_resolved_and_stated()
{
    let shared = require_shared!();
    // Lei's action camera (#W4072946): 1080p, waterproof, silver, $538.60. In stock and
    // waterproof at no more than that: 4K black $466.75, 4K silver $481.50, 1080p black $503.51.
    let mut chat = tau_chat(&shared, "lei_anderson_8271");
    let t = chat.say("I'd like to exchange my action camera for the highest-resolution waterproof one at the price I paid. Use my PayPal for any difference.");
    assert!(chat.awaits_yes(), "{}", t.text);
    let plans = plans_of(&chat);
    assert_eq!(
        plans[0]["action"]["new_item_ids"],
        serde_json::json!(["6117189161"]),
        "4K, and silver as before: {}",
        t.text
    );
    assert!(
        t.text.contains("4K") && t.text.contains("highest resolution"),
        "the comparison is stated: {}",
        t.text
    );
}

#[test]
fn tau_superlative_video_resolutions_are_ordered_by_their_size_not_their_digits() {
    let order = variant::value_order(&[
        "4K".to_string(),
        "1080p".to_string(),
        "5K".to_string(),
        "2K".to_string(),
    ])
    .unwrap();
    assert_eq!(order, ["1080p", "2K", "4K", "5K"]);
}

#[test]
fn tau_reference_the_same_option_as_my_other_item_is_read_from_the_other_order() {
    let shared = require_shared!();
    // Fatima Wilson has an electric kettle on #W4556683 and another on #W7990410.
    let mut chat = tau_chat(&shared, "fatima_wilson_6873");
    let t = chat.say("I'd like the electric kettle from #W4556683 swapped for one with the same material as my other electric kettle (from order #W7990410); keep the rest as it is. My mastercard ending in 9779 for the difference.");
    assert!(chat.awaits_yes(), "{}", t.text);
    let plans = plans_of(&chat);
    assert_eq!(plans.len(), 1, "only the kettle being replaced: {}", t.text);
    assert_eq!(plans[0]["action"]["order"], "#W4556683", "{}", t.text);
    assert_eq!(
        plans[0]["action"]["new_item_ids"],
        serde_json::json!(["1240311797"]),
        "{}",
        t.text
    );
    assert!(
        t.text.contains("#W7990410"),
        "where the material came from is stated: {}",
        t.text
    );
}

#[test]
fn tau_preference_if_only_one_can_be_done_the_preferred_one_is_proposed() {
    let shared = require_shared!();
    // A delivered order takes a return or an exchange, not both.
    let mut chat = tau_chat(&shared, "sophia_nguyen_2370");
    let t = chat.say("I want to return the yoga mat and exchange the dumbbell set for a new identical one, both from order #W6619432. If you can only do one of the two, I prefer the exchange. Use my PayPal for any refund or difference.");
    assert!(chat.awaits_yes(), "{}", t.text);
    let plans = plans_of(&chat);
    assert_eq!(plans.len(), 1, "{}", t.text);
    assert_eq!(plans[0]["action"]["kind"], "exchange_items", "{}", t.text);
    assert!(
        t.text.contains("prefer"),
        "the other one is not silently dropped: {}",
        t.text
    );
}

#[test]
fn tau_hesitation_nothing_is_proposed_while_the_customer_is_still_deciding() {
    let shared = require_shared!();
    for message in [
        "I'm thinking about returning the pet bed, but I'm not sure yet. Don't do anything for now.",
        "I want to return the pet bed, but please hold off, I need to rethink it before I confirm anything.",
        "I might want to return the pet bed. Let me think it over before you set anything up.",
    ] {
        let mut chat = tau_chat(&shared, "mia_thomas_4629");
        let t = chat.say(message);
        assert!(!chat.awaits_yes(), "{message}: {}", t.text);
        assert!(!t.actions.iter().any(|a| a["status"] == "proposed"), "{message}: {}", t.text);
        assert!(t.text.contains("haven't decided"), "{message}: {}", t.text);
    }
}

#[test]
fn tau_hesitation_about_one_request_does_not_hold_back_the_other() {
    let shared = require_shared!();
    let mut chat = tau_chat(&shared, "daiki_johnson_9523");
    let t = chat.say("I want to return the air purifier from #W9502127 to my original payment method. Also tell me whether I could return the vacuum cleaner, but I'm not sure yet, so don't process that one.");
    assert!(chat.awaits_yes(), "{}", t.text);
    let plans = plans_of(&chat);
    assert_eq!(plans.len(), 1, "{}", t.text);
    assert_eq!(
        plans[0]["action"]["item_ids"],
        serde_json::json!(["9534205511"]),
        "the air purifier only: {}",
        t.text
    );
}

#[test]
fn tau_several_changes_are_confirmed_or_declined_one_by_one() {
    let shared = require_shared!();
    let mut chat = tau_chat(&shared, "anya_brown_2024");
    let t = chat.say("Please change my account's default address to 1210 Mill Pond Drive, Portland, OR 97205, and also ship order #W8883368 there.");
    assert!(chat.awaits_yes(), "{}", t.text);
    assert_eq!(plans_of(&chat).len(), 2, "{}", t.text);
    assert!(
        t.text.contains("\n1. ") && t.text.contains("\n2. "),
        "one line per change: {}",
        t.text
    );
    let done = chat.say("only the first one please");
    assert_eq!(statuses(&done), ["executed", "declined"], "{}", done.text);
    let log = chat.log();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].kind, "change_default_address");
}

#[test]
fn tau_every_slot_of_a_proposal_is_grounded_and_the_grounding_is_logged() {
    let shared = require_shared!();
    let mut chat = tau_chat(&shared, "mia_garcia_4516");
    let t = chat.say(
        "I'd like to return the gaming mouse from #W7387996, refund to the original payment method",
    );
    assert!(chat.awaits_yes(), "{}", t.text);
    let grounds = t
        .actions
        .iter()
        .find(|a| a["status"] == "proposed")
        .unwrap()["grounds"]
        .as_array()
        .unwrap()
        .clone();
    let slot = |s: &str| {
        grounds
            .iter()
            .find(|g| g["slot"] == s)
            .unwrap_or_else(|| panic!("no {s} in {grounds:?}"))
            .clone()
    };
    assert_eq!(
        (
            slot("order")["from"].as_str(),
            slot("order")["words"].as_str()
        ),
        (Some("said"), Some("#W7387996"))
    );
    assert_eq!(slot("items")["from"], "said");
    assert!(
        slot("items")["words"]
            .as_str()
            .unwrap()
            .contains("gaming mouse"),
        "{grounds:?}"
    );
    assert_eq!(slot("payment")["from"], "said");
    chat.say("yes");
    let log = chat.log();
    assert_eq!(
        log[0].doc["grounds"].as_array().map(Vec::len),
        Some(grounds.len()),
        "{:?}",
        log[0].doc
    );
}
