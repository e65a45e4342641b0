//! Answering, end to end on the demo store with the real model: understanding, verification,
//! order lookups, grounded replies, the confidence gate and hand-offs, over real HTTP where the
//! wire matters.

mod common;

use std::sync::{Arc, OnceLock};

use serde_json::{json, Value};
use shopkeep::{
    app::App,
    assistant::{Answer, AssistantError, CustomerHint, PageContext, Question},
    verify::sign_token,
};

const SECRET: &str = "test-secret";

/// One app per test binary: a temporary data dir with the demo store seeded and the index built.
fn app() -> Arc<App> {
    static APP: OnceLock<(tempfile::TempDir, Arc<App>)> = OnceLock::new();
    APP.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = common::demo_config(dir.path());
        cfg.identity.token_secret = SECRET.into();
        // Hand-offs are queued for the helpdesk webhook; no sender runs here (tests/webhook.rs
        // covers delivery), so they stay in the outbox where the tests can see them.
        cfg.webhook.url = "http://127.0.0.1:9/helpdesk".into();
        cfg.webhook.secret = "answer-tests-webhook-secret".into();
        // These tests all speak from 127.0.0.1; the hourly hand-off caps are specified in
        // tests/hardening.rs.
        cfg.handoff.max_per_client_per_hour = 1000;
        let app = Arc::new(App::with_embedder(cfg, common::model_dyn()).expect("app opens"));
        (dir, app)
    })
    .1
    .clone()
}

fn try_ask_in(
    conversation: Option<&str>,
    client: &str,
    message: &str,
) -> Result<Answer, AssistantError> {
    let q = Question {
        conversation_id: conversation.map(String::from),
        channel: "api".into(),
        message: message.into(),
        client: Some(client.into()),
        ..Default::default()
    };
    rt().block_on(app().assistant.handle(q))
}

fn ask_in(conversation: Option<&str>, client: &str, message: &str) -> Answer {
    try_ask_in(conversation, client, message).expect("answer")
}

fn ask(message: &str) -> Answer {
    ask_in(None, "127.0.0.1", message)
}

fn rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

fn cites(a: &Answer, doc: &str) -> bool {
    a.citations.iter().any(|c| c.doc_id == doc)
}

fn handoff_code(a: &Answer) -> Option<&'static str> {
    a.handoff.as_ref().map(|h| h.reason.code())
}

// --- Identity before order data ---------------------------------------------------------------

#[test]
fn order_status_with_the_right_email_shows_carrier_tracking_and_dates() {
    let a = ask("Where is my order LF-100001? My email is maya.chen@example.com");
    assert_eq!(a.intent.as_deref(), Some("order_status"));
    let order = a.order.as_ref().expect("order card");
    assert_eq!(order.number, "LF-100001");
    assert_eq!(order.status, "shipped");
    assert!(
        a.reply.contains("UPS") && a.reply.contains("1Z8V2E410300100001"),
        "{}",
        a.reply
    );
    assert!(
        a.reply
            .contains(order.estimated_delivery.as_deref().unwrap()),
        "{}",
        a.reply
    );
    assert!(a.handoff.is_none());
}

#[test]
fn a_wrong_email_gets_the_same_generic_refusal_as_an_unknown_order() {
    let wrong = ask_in(
        None,
        "10.1.0.1",
        "Where is order LF-100001? my email is someone.else@example.com",
    );
    let unknown = ask_in(
        None,
        "10.1.0.2",
        "Where is order LF-199999? my email is maya.chen@example.com",
    );
    assert!(wrong.order.is_none() && unknown.order.is_none());
    assert_eq!(wrong.reply, unknown.reply);
    assert!(wrong.reply.contains("couldn't verify"), "{}", wrong.reply);
}

#[test]
fn repeated_failed_checks_are_refused_with_a_retry_time_not_handed_off() {
    let mut conv = None;
    for i in 0..3 {
        let a = ask_in(
            conv.as_deref(),
            "10.2.0.1",
            &format!("status of order LF-10002{i} please, email guess{i}@example.com"),
        );
        assert!(a.order.is_none() && a.handoff.is_none(), "{}", a.reply);
        conv = Some(a.conversation_id.clone());
    }
    let queued = app()
        .assistant
        .journal
        .handoffs_of(conv.as_deref().unwrap())
        .unwrap()
        .len();
    match try_ask_in(
        conv.as_deref(),
        "10.2.0.1",
        "status of order LF-100023 please, email guess3@example.com",
    ) {
        Err(AssistantError::VerificationLimited {
            retry_after_secs,
            message,
        }) => {
            assert!(
                retry_after_secs > 0 && retry_after_secs <= 600,
                "{retry_after_secs}"
            );
            assert!(message.contains("try again in"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // The refusal costs the team nothing: no hand-off was opened for the guesses.
    assert_eq!(
        app()
            .assistant
            .journal
            .handoffs_of(conv.as_deref().unwrap())
            .unwrap()
            .len(),
        queued
    );
    assert_eq!(queued, 0);
}

#[test]
fn failures_are_limited_per_client_address_across_conversations() {
    let client = "10.3.0.1";
    for i in 0..10 {
        ask_in(
            None,
            client,
            &format!("where is order LF-1001{i:02}? email nobody{i}@example.com"),
        );
    }
    // Even the right details are no longer checked for this client.
    let refused = try_ask_in(
        None,
        client,
        "Where is my order LF-100001? My email is maya.chen@example.com",
    );
    assert!(
        matches!(refused, Err(AssistantError::VerificationLimited { .. })),
        "{refused:?}"
    );
}

#[test]
fn a_verified_customer_cannot_read_another_customers_order() {
    let a = ask("Where is my order LF-100001? My email is maya.chen@example.com");
    assert!(a.order.is_some());
    let b = ask_in(
        Some(&a.conversation_id),
        "127.0.0.1",
        "And what about order LF-100005?",
    );
    assert!(b.order.is_none(), "{}", b.reply);
    assert!(
        !b.reply.contains("LF-100005") || b.reply.contains("couldn't verify"),
        "{}",
        b.reply
    );
}

#[test]
fn an_order_number_and_postcode_alone_do_not_open_an_order_by_default() {
    // Order numbers are sequential and postcodes cluster: the demo policy leaves this factor
    // out (tests/hardening.rs shows a store that turns it on).
    let a = ask("what's the status of order LF-100003, zip 97210");
    assert!(a.order.is_none(), "{}", a.reply);
    assert!(
        a.reply.contains("email"),
        "asks for the email instead: {}",
        a.reply
    );
    assert!(
        !a.reply.contains("postcode"),
        "never offers a way in that would be refused: {}",
        a.reply
    );
}

#[test]
fn a_signed_customer_token_verifies_a_logged_in_shopper() {
    let maya = app()
        .assistant
        .orders
        .customer_by_email("maya.chen@example.com")
        .unwrap()
        .unwrap();
    let token = sign_token(SECRET, &maya.id, 4_000_000_000);
    let q = Question {
        channel: "widget".into(),
        message: "where is order LF-100001?".into(),
        customer: Some(CustomerHint {
            email: None,
            token: Some(token),
        }),
        ..Default::default()
    };
    let a = rt().block_on(app().assistant.handle(q)).unwrap();
    assert_eq!(
        a.order.as_ref().map(|o| o.number.as_str()),
        Some("LF-100001"),
        "{}",
        a.reply
    );
    // A forged token verifies nobody.
    let q = Question {
        channel: "widget".into(),
        message: "where is order LF-100001?".into(),
        customer: Some(CustomerHint {
            email: None,
            token: Some(sign_token("wrong", &maya.id, 4_000_000_000)),
        }),
        ..Default::default()
    };
    assert!(rt()
        .block_on(app().assistant.handle(q))
        .unwrap()
        .order
        .is_none());
}

// --- Multi-turn ---------------------------------------------------------------------------------

#[test]
fn the_assistant_asks_for_missing_details_then_resumes_and_follows_up() {
    let a = ask("hi, where is my order LF-100001?");
    assert!(a.order.is_none());
    assert!(a.reply.contains("email"), "{}", a.reply);
    let b = ask_in(
        Some(&a.conversation_id),
        "127.0.0.1",
        "maya.chen@example.com",
    );
    assert_eq!(
        b.order.as_ref().map(|o| o.number.as_str()),
        Some("LF-100001"),
        "{}",
        b.reply
    );
    let c = ask_in(
        Some(&a.conversation_id),
        "127.0.0.1",
        "and when will it arrive?",
    );
    let eta = b
        .order
        .as_ref()
        .unwrap()
        .estimated_delivery
        .clone()
        .unwrap();
    assert!(c.reply.contains(&eta), "{}", c.reply);
}

// --- Grounded policy answers --------------------------------------------------------------------

#[test]
fn policy_questions_are_answered_from_cited_passages() {
    for (q, doc) in [
        ("How long does standard shipping take?", "shipping-options"),
        ("what payment methods do you accept", "payment-methods"),
        ("is there a fee if I cancel my order?", "cancellation-fees"),
        (
            "how many days do I have to return something?",
            "returns-policy",
        ),
        ("how do I reset my password", "accounts-and-passwords"),
    ] {
        let a = ask(q);
        assert!(a.handoff.is_none(), "{q}: handed off: {}", a.reply);
        assert!(cites(&a, doc), "{q}: cited {:?}", a.citations);
        // The quoted text is the passage's own words.
        assert!(a.citations[0]
            .url
            .as_deref()
            .unwrap_or("")
            .starts_with("https://larkfield.example/"));
    }
}

#[test]
fn product_questions_on_a_product_page_search_that_product_first() {
    let products = app().assistant.orders.products().unwrap();
    let candle = products
        .iter()
        .find(|p| p.name.to_lowercase().contains("candle"))
        .expect("a candle in the demo store");
    let q = Question {
        channel: "widget".into(),
        message: "is this in stock?".into(),
        context: Some(PageContext {
            product_id: Some(candle.id.clone()),
            page_url: None,
        }),
        ..Default::default()
    };
    let a = rt().block_on(app().assistant.handle(q)).unwrap();
    assert!(a.reply.contains(&candle.name), "{}", a.reply);
}

#[test]
fn greetings_and_out_of_scope_get_polite_fixed_replies() {
    let a = ask("hello!");
    assert_eq!(a.intent.as_deref(), Some("greeting"));
    assert!(a.reply.contains("Larkfield Goods"));
    let b = ask("what's the weather going to be like in Paris tomorrow?");
    assert_eq!(b.intent.as_deref(), Some("out_of_scope"), "{}", b.reply);
    assert!(b.handoff.is_none());
}

// --- Hand-off triggers --------------------------------------------------------------------------

#[test]
fn legal_threats_go_to_a_person_with_a_packet() {
    let a = ask("If you don't refund me I'm calling my lawyer and taking you to court");
    assert_eq!(handoff_code(&a), Some("sensitive"));
    assert!(a.reply.contains(&a.handoff.as_ref().unwrap().id));
    let open = app()
        .assistant
        .journal
        .handoffs_with_status("open")
        .unwrap();
    let h = open
        .iter()
        .find(|h| h.id == a.handoff.as_ref().unwrap().id)
        .unwrap();
    let packet = &h.packet;
    assert_eq!(h.reason, "sensitive");
    assert!(packet.transcript.iter().any(|t| t.text.contains("lawyer")));
    assert_eq!(packet.reason.code(), "sensitive");
    assert_eq!(packet.version, shopkeep::journal::PACKET_VERSION);
    assert!(
        packet.identity.customer_id.is_none() && packet.order.is_none(),
        "nobody was verified"
    );
}

#[test]
fn asking_for_a_person_is_honoured() {
    let a = ask("I want to talk to a real person please");
    assert_eq!(handoff_code(&a), Some("customer_asked"));
    // And the helpdesk webhook has it queued, with the same id the customer was given.
    let id = &a.handoff.as_ref().unwrap().id;
    assert_eq!(
        app()
            .assistant
            .journal
            .delivery(id)
            .unwrap()
            .expect("queued for the webhook")
            .status,
        "pending"
    );
}

#[test]
fn weakly_grounded_questions_are_handed_off_not_guessed() {
    let a = ask("Can I pay for my sheets with cryptocurrency or bitcoin?");
    // Either quoted from the payments page (which says no crypto), or not answered at all.
    if !a.citations.is_empty() {
        assert!(cites(&a, "payment-methods"), "{}", a.reply);
    }
    // Nothing in the help centre covers this: no citation, no answer; a clarifying question or a
    // hand-off, and a second such message goes to a person.
    let b = ask("Do your merino sweaters qualify for the federal textile import subsidy program?");
    assert!(b.citations.is_empty(), "{}", b.reply);
    let c = ask_in(
        Some(&b.conversation_id),
        "127.0.0.1",
        "Does the textile import subsidy apply to wool throws bought with a federal grant?",
    );
    assert!(c.citations.is_empty(), "{}", c.reply);
    assert!(
        matches!(
            handoff_code(&c),
            Some("weak_grounding" | "repeated_failure")
        ),
        "{}",
        c.reply
    );
}

#[test]
fn two_unclear_turns_in_a_row_are_handed_off() {
    let a = ask("asdf qwer zxcv");
    let b = ask_in(
        Some(&a.conversation_id),
        "127.0.0.1",
        "hmm lorem ipsum blorp",
    );
    assert!(a.handoff.is_none());
    assert!(b.handoff.is_some(), "{}", b.reply);
}

#[test]
fn after_a_hand_off_messages_wait_for_the_person() {
    let a = ask("I need a human agent");
    let b = ask_in(
        Some(&a.conversation_id),
        "127.0.0.1",
        "what's your return policy?",
    );
    assert!(b.citations.is_empty());
    assert!(b.reply.contains("support team"), "{}", b.reply);
}

#[test]
fn an_order_change_is_stated_and_waits_for_an_explicit_yes() {
    // The guided flows themselves are specified in tests/actions.rs; here: the answer path
    // proposes instead of acting, and keeps the order in view.
    let a = ask("Please cancel order LF-100003, my email is maya.chen@example.com");
    assert_eq!(a.intent.as_deref(), Some("cancel_order"));
    assert_eq!(handoff_code(&a), None, "{}", a.reply);
    assert!(
        a.reply.contains("LF-100003") && a.reply.contains("\"yes\""),
        "{}",
        a.reply
    );
    let order = app().assistant.orders.order("LF-100003").unwrap().unwrap();
    assert_eq!(
        order.status,
        shopkeep::orders::OrderStatus::Pending,
        "nothing happens before the yes"
    );
}

#[test]
fn every_turn_is_journaled_with_its_decisions() {
    let a = ask("how long do refunds take?");
    let turns = app().assistant.journal.turns(&a.conversation_id).unwrap();
    assert_eq!(turns.len(), 2);
    assert_eq!(turns[0].role, "customer");
    assert_eq!(turns[1].role, "assistant");
    assert!(!turns[1].detail.citations.is_empty());
    assert!(turns[1].detail.gate.as_ref().is_some_and(|g| g.is_array()));
    assert!(turns[0].detail.understanding.is_some());
    assert_eq!(turns[0].detail.channel.as_deref(), Some("api"));
}

// --- The wire -----------------------------------------------------------------------------------

fn server() -> String {
    static ADDR: OnceLock<String> = OnceLock::new();
    ADDR.get_or_init(|| {
        let listener = rt()
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        rt().spawn(shopkeep::http::serve(
            listener,
            app(),
            std::future::pending(),
        ));
        format!("http://{addr}")
    })
    .clone()
}

fn post(path: &str, body: reqwest::Body, content_type: &str) -> (u16, Value) {
    let url = format!("{}{path}", server());
    rt().block_on(async {
        let r = reqwest::Client::new()
            .post(url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json::<Value>().await.unwrap_or(Value::Null))
    })
}

#[test]
fn the_http_answer_endpoint_round_trips_a_conversation() {
    let (s, a) = post(
        "/v1/answer",
        json!({"message": "What's your return window?"})
            .to_string()
            .into(),
        "application/json",
    );
    assert_eq!(s, 200, "{a}");
    assert!(a["conversation_id"].as_str().is_some());
    assert!(!a["citations"].as_array().unwrap().is_empty());
    let (s, b) = post(
        "/v1/answer",
        json!({"conversation_id": a["conversation_id"], "message": "thanks!"})
            .to_string()
            .into(),
        "application/json",
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["conversation_id"], a["conversation_id"]);
}

#[test]
fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit() {
    // The store's nginx on loopback forwards every customer: without `trusted_proxies` they
    // would all be 127.0.0.1 and share one limit.
    let base = app();
    let mut cfg = base.config.clone();
    cfg.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    let url = common::serve(Arc::new(App {
        config: cfg,
        assistant: base.assistant.clone(),
        live: base.live.clone(),
        email: None,
        accounts: base.accounts.clone(),
    }));
    let ask_from = |client: &str, message: &str| -> (u16, Option<String>, Value) {
        rt().block_on(async {
            let r = reqwest::Client::new()
                .post(format!("{url}/v1/answer"))
                .header("x-forwarded-for", format!("203.0.113.66, {client}"))
                .json(&json!({ "message": message }))
                .send()
                .await
                .unwrap();
            let retry = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            (r.status().as_u16(), retry, r.json::<Value>().await.unwrap())
        })
    };
    for i in 0..10 {
        let (status, _, _) = ask_from(
            "198.51.100.20",
            &format!("where is order LF-1002{i:02}? email guess{i}@example.com"),
        );
        assert_eq!(status, 200);
    }
    let right = "Where is my order LF-100001? My email is maya.chen@example.com";
    let (status, retry, body) = ask_from("198.51.100.20", right);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("verification_limited")),
        "the guesser is limited: {body}"
    );
    assert!(
        retry
            .and_then(|s| s.parse::<u64>().ok())
            .is_some_and(|s| s > 0 && s <= 600),
        "with a Retry-After"
    );
    let (status, _, other) = ask_from("198.51.100.21", right);
    assert_eq!(status, 200);
    assert_eq!(
        other["order"]["number"], "LF-100001",
        "another customer behind the same proxy is not: {other}"
    );
}

#[test]
fn malformed_and_oversized_requests_get_stable_error_codes() {
    let cases: Vec<(reqwest::Body, &str, u16, &str)> = vec![
        (
            "{not json".into(),
            "application/json",
            400,
            "malformed_json",
        ),
        (
            json!({"message": "hi", "surprise": 1}).to_string().into(),
            "application/json",
            422,
            "invalid_request",
        ),
        (
            json!({"message": 5}).to_string().into(),
            "application/json",
            422,
            "invalid_request",
        ),
        (
            json!({"message": "   "}).to_string().into(),
            "application/json",
            400,
            "empty_message",
        ),
        (
            json!({"message": "x".repeat(4001)}).to_string().into(),
            "application/json",
            400,
            "message_too_long",
        ),
        (
            json!({"message": "hi", "conversation_id": "../../etc"})
                .to_string()
                .into(),
            "application/json",
            400,
            "invalid_conversation_id",
        ),
        (
            json!({"message": "hi", "channel": "fax"})
                .to_string()
                .into(),
            "application/json",
            400,
            "invalid_channel",
        ),
        (
            json!({"message": "y".repeat(100_000)}).to_string().into(),
            "application/json",
            413,
            "payload_too_large",
        ),
        (
            json!({"message": "hi"}).to_string().into(),
            "text/plain",
            415,
            "unsupported_media_type",
        ),
    ];
    for (body, ct, status, code) in cases {
        let (s, v) = post("/v1/answer", body, ct);
        assert_eq!(
            (s, v["error"]["code"].as_str().unwrap_or("")),
            (status, code),
            "{v}"
        );
        assert!(v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
}

#[test]
fn health_readiness_and_openapi_are_served() {
    let base = server();
    rt().block_on(async {
        let c = reqwest::Client::new();
        let h: Value = c
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(h["status"], "ok");
        let r: Value = c
            .get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(r["orders"]["orders"].as_u64().unwrap() >= 200);
        assert!(r["index"]["passages"].as_u64().unwrap() > 100);
        let o: Value = c
            .get(format!("{base}/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(o["paths"]["/v1/answer"].is_object());
    });
}

#[test]
fn beyond_capacity_the_service_sheds_load_with_a_fast_503_and_retry_after() {
    // A second server on the same data dir, admitting one answer at a time.
    let base = app();
    let mut cfg = base.config.clone();
    cfg.server.max_in_flight = 1;
    let narrow = Arc::new(App::with_embedder(cfg, common::model_dyn()).expect("app opens"));
    let listener = rt()
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}/v1/answer", listener.local_addr().unwrap());
    rt().spawn(shopkeep::http::serve(
        listener,
        narrow,
        std::future::pending(),
    ));

    let results = rt().block_on(async {
        let client = reqwest::Client::new();
        // Distinct questions, so none is served from the vector cache and each runs the model.
        let requests = (0..12).map(|i| {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let started = std::time::Instant::now();
                let r = client
                    .post(url)
                    .json(&json!({"message": format!("how long does delivery take to zone {i}?")}))
                    .send()
                    .await
                    .unwrap();
                let retry_after = r
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_string());
                let status = r.status().as_u16();
                let body: Value = r.json().await.unwrap();
                (status, retry_after, body, started.elapsed())
            }
        });
        futures_join_all(requests).await
    });
    let shed: Vec<_> = results.iter().filter(|r| r.0 == 503).collect();
    let served: Vec<_> = results.iter().filter(|r| r.0 == 200).collect();
    assert_eq!(
        shed.len() + served.len(),
        results.len(),
        "only answers and sheds: {:?}",
        results.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    assert!(!shed.is_empty() && !served.is_empty());
    for (_, retry_after, body, took) in &shed {
        assert_eq!(retry_after.as_deref(), Some("1"));
        assert_eq!(body["error"]["code"], "overloaded");
        // Refused at once, not after waiting for a slot.
        assert!(
            *took < served.iter().map(|r| r.3).max().unwrap(),
            "a shed request took {took:?}"
        );
    }
}

/// `futures::future::join_all` without the dependency: spawn each and await them in order.
async fn futures_join_all<F>(fs: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = fs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[test]
fn the_help_centre_fixture_questions_are_answered_from_the_right_document() {
    let text =
        std::fs::read_to_string(common::root().join("tests/fixtures/kb-questions.jsonl")).unwrap();
    let mut n = 0;
    let mut wrong = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap();
        let (q, doc) = (v["question"].as_str().unwrap(), v["doc"].as_str().unwrap());
        let a = ask(q);
        n += 1;
        if !cites(&a, doc) {
            wrong.push(format!(
                "{q:?} → {:?} / {:?}",
                a.citations.iter().map(|c| &c.doc_id).collect::<Vec<_>>(),
                handoff_code(&a)
            ));
        }
    }
    // Top-1 through the whole pipeline (intent, retrieval, gate): nearly all, and never a wrong
    // fact (a miss is a clarifying question or a hand-off, or a sibling document).
    let rate = 1.0 - wrong.len() as f64 / n as f64;
    eprintln!(
        "answered from the expected document: {:.0}% of {n}\n{}",
        rate * 100.0,
        wrong.join("\n")
    );
    assert!(rate >= 0.65, "{:.2}: {}", rate, wrong.join("\n"));
}
