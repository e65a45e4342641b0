//! What an attacker or a careless client meets: hand-off packets that show only what the verified
//! customer owns, under every identity policy; failed guesses and repeated requests for a person
//! refused with a 429 instead of filling the team's queue; guessing one order from many addresses
//! stopped; the weak order-number-and-postcode factor off unless a store turns it on; and
//! conversation ids that only the server hands out.

mod common;

use shopkeep::{answer::HandoffReason, journal::HandoffPacket};
use std::sync::{Arc, OnceLock};

use serde_json::{json, Value};
use shopkeep::{
    app::App,
    assistant::{Answer, AssistantError, CustomerHint, Question},
    orders::Customer,
    verify::sign_token,
};

const SECRET: &str = "hardening-test-secret";

fn rt() -> &'static tokio::runtime::Runtime {
    common::rt()
}

/// An app on the demo store with the given policy file contents (None: the demo profile).
fn app_with(
    policy: Option<&str>,
    tweak: impl FnOnce(&mut shopkeep::config::Config),
) -> (tempfile::TempDir, Arc<App>) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::demo_config(dir.path());
    cfg.identity.token_secret = SECRET.into();
    if let Some(text) = policy {
        let path = dir.path().join("policy.toml");
        std::fs::write(&path, text).unwrap();
        cfg.policy.path = Some(path);
    }
    tweak(&mut cfg);
    // Every app here serves the same demo store and KB: the first one's index serves them all
    // (building one takes seconds of model work).
    static INDEX: OnceLock<(tempfile::TempDir, std::path::PathBuf)> = OnceLock::new();
    let (_, index) = INDEX.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let app = App::with_embedder(common::demo_config(dir.path()), common::model_dyn())
            .expect("app opens");
        let root = app.config.index_root();
        (dir, root)
    });
    cfg.index_dir = Some(index.clone());
    let app = Arc::new(App::with_embedder(cfg, common::model_dyn()).expect("app opens"));
    (dir, app)
}

/// The demo policy with other identity methods.
fn demo_policy_with(methods: &str) -> String {
    let demo = std::fs::read_to_string(common::root().join("policies/demo.toml")).unwrap();
    let line = demo
        .lines()
        .find(|l| l.starts_with("methods"))
        .expect("the demo policy lists its identity methods");
    demo.replace(line, &format!("methods = [{methods}]"))
}

/// Apps are built once per policy: each builds its own index and store.
fn demo() -> Arc<App> {
    static APP: OnceLock<(tempfile::TempDir, Arc<App>)> = OnceLock::new();
    APP.get_or_init(|| app_with(None, |c| c.handoff.max_per_client_per_hour = 1000))
        .1
        .clone()
}

fn email_only() -> Arc<App> {
    static APP: OnceLock<(tempfile::TempDir, Arc<App>)> = OnceLock::new();
    APP.get_or_init(|| {
        app_with(
            Some(&demo_policy_with(r#""order_email", "email", "token""#)),
            |c| c.handoff.max_per_client_per_hour = 1000,
        )
    })
    .1
    .clone()
}

/// A store that accepts the order's postcode, with small caps on new hand-offs.
fn strict() -> Arc<App> {
    static APP: OnceLock<(tempfile::TempDir, Arc<App>)> = OnceLock::new();
    APP.get_or_init(|| {
        app_with(
            Some(&demo_policy_with(
                r#""order_email", "order_postcode", "token""#,
            )),
            |c| {
                c.handoff.max_per_client_per_hour = 3;
                c.handoff.max_per_hour = 8;
            },
        )
    })
    .1
    .clone()
}

struct Chat {
    app: Arc<App>,
    client: String,
    token: Option<String>,
    conversation: Option<String>,
}

impl Chat {
    fn new(app: Arc<App>, client: &str) -> Self {
        Self {
            app,
            client: client.into(),
            token: None,
            conversation: None,
        }
    }

    fn try_say(&mut self, message: &str) -> Result<Answer, AssistantError> {
        let q = Question {
            conversation_id: self.conversation.clone(),
            channel: "api".into(),
            message: message.into(),
            client: Some(self.client.clone()),
            customer: self.token.clone().map(|t| CustomerHint {
                email: None,
                token: Some(t),
            }),
            ..Default::default()
        };
        let a = rt().block_on(self.app.assistant.handle(q))?;
        self.conversation = Some(a.conversation_id.clone());
        Ok(a)
    }

    fn say(&mut self, message: &str) -> Answer {
        self.try_say(message).expect("answer")
    }
}

fn owner_of(app: &App, order: &str) -> Customer {
    let o = app
        .assistant
        .orders
        .order(order)
        .unwrap()
        .expect("demo order");
    app.assistant
        .orders
        .customer(&o.customer_id)
        .unwrap()
        .unwrap()
}

/// Every personal detail of `c` that could leak: what a packet must not show about another.
fn personal_details(c: &Customer) -> Vec<String> {
    let mut d = vec![c.email.clone(), c.last_name.clone()];
    if let Some(a) = &c.default_address {
        d.push(a.line1.clone());
    }
    d
}

fn packet_of(app: &App, a: &Answer) -> Value {
    let id = &a.handoff.as_ref().expect("handed off").id;
    let packet = app
        .assistant
        .journal
        .handoff(id)
        .unwrap()
        .expect("stored")
        .packet;
    // As the desk, the helpdesk webhook and its mail get it.
    serde_json::to_value(packet).unwrap()
}

/// The customer asks about someone else's order number, then for a person: whatever the policy,
/// the packet carries the asker's identity and nothing of the other customer's.
fn asks_about_anothers_order_then_for_a_person(
    app: Arc<App>,
    client: &str,
    prove: impl FnOnce(&mut Chat),
) {
    let maya = app
        .assistant
        .orders
        .customer_by_email("maya.chen@example.com")
        .unwrap()
        .unwrap();
    let other = owner_of(&app, "LF-100005");
    assert_ne!(
        other.id, maya.id,
        "the demo store's LF-100005 is another customer's"
    );
    let mut chat = Chat::new(app.clone(), client);
    prove(&mut chat);
    let a = chat.say("Where is order LF-100005?");
    assert!(a.order.is_none(), "{}", a.reply);
    // Two refusals in a row may already have handed the conversation over; if not, ask.
    if !a.with_person {
        let a = chat.say("I want to talk to a person");
        assert!(a.handoff.is_some(), "{a:?}");
    }
    let handoffs = app
        .assistant
        .journal
        .handoffs_of(&a.conversation_id)
        .unwrap();
    assert_eq!(handoffs.len(), 1);
    let packet = serde_json::to_value(&handoffs[0].packet).unwrap();
    let text = packet.to_string();
    for detail in personal_details(&other) {
        assert!(
            !text.contains(&detail),
            "the packet shows {detail:?} of the other customer: {text}"
        );
    }
    assert!(
        packet["order"].is_null() || packet["order"]["customer_id"] == json!(maya.id),
        "{text}"
    );
    if !packet["identity"]["customer_id"].is_null() {
        assert_eq!(packet["identity"]["customer_id"], json!(maya.id));
    }
}

#[test]
fn with_email_only_identity_another_customers_order_never_reaches_the_packet() {
    // The defect this specifies: the email verifies Maya, and the order number she typed was
    // put in focus and into the packet although it is another customer's.
    asks_about_anothers_order_then_for_a_person(email_only(), "10.20.0.1", |chat| {
        let a = chat.say("Where is order LF-100005? my email is maya.chen@example.com");
        assert!(a.order.is_none(), "{}", a.reply);
    });
}

#[test]
fn with_order_and_email_identity_another_customers_order_never_reaches_the_packet() {
    asks_about_anothers_order_then_for_a_person(demo(), "10.20.0.2", |chat| {
        let a = chat.say("Where is order LF-100001? my email is maya.chen@example.com");
        assert!(a.order.is_some(), "{}", a.reply);
    });
}

#[test]
fn with_a_signed_token_another_customers_order_never_reaches_the_packet() {
    let app = demo();
    let maya = app
        .assistant
        .orders
        .customer_by_email("maya.chen@example.com")
        .unwrap()
        .unwrap();
    asks_about_anothers_order_then_for_a_person(app, "10.20.0.3", |chat| {
        chat.token = Some(sign_token(SECRET, &maya.id, 4_000_000_000));
    });
}

#[test]
fn a_verified_customers_own_order_is_in_their_packet() {
    let app = email_only();
    let mut chat = Chat::new(app.clone(), "10.20.0.4");
    let a = chat.say("Where is order LF-100001? my email is maya.chen@example.com");
    assert_eq!(
        a.order.as_ref().map(|o| o.number.as_str()),
        Some("LF-100001"),
        "{}",
        a.reply
    );
    let a = chat.say("I want to talk to a person");
    let packet = packet_of(&app, &a);
    assert_eq!(packet["order"]["number"], "LF-100001");
    assert_eq!(
        packet["identity"]["customer_id"],
        json!(owner_of(&app, "LF-100001").id)
    );
}

#[test]
fn guessing_one_orders_email_from_many_addresses_is_stopped() {
    let app = demo();
    let order = "LF-100007";
    let owner = owner_of(&app, order);
    for i in 0..5 {
        let a = Chat::new(app.clone(), &format!("10.21.0.{i}")).say(&format!(
            "where is order {order}? email guess{i}@example.com"
        ));
        assert!(a.order.is_none());
    }
    // A sixth address, even with the right email, is refused until the window passes.
    let r = Chat::new(app.clone(), "10.21.0.99")
        .try_say(&format!("where is order {order}? email {}", owner.email));
    assert!(
        matches!(r, Err(AssistantError::VerificationLimited { .. })),
        "{r:?}"
    );
    // Other orders are not affected.
    let a = Chat::new(app, "10.21.0.100")
        .say("Where is my order LF-100001? My email is maya.chen@example.com");
    assert!(a.order.is_some(), "{}", a.reply);
}

#[test]
fn a_store_that_turns_on_the_postcode_factor_gets_it() {
    let app = strict();
    let owner = owner_of(&app, "LF-100003");
    let postcode = owner.default_address.as_ref().unwrap().postcode.clone();
    let a = Chat::new(app, "10.22.0.1").say(&format!(
        "what's the status of order LF-100003, zip {postcode}"
    ));
    assert_eq!(
        a.order.as_ref().map(|o| o.number.as_str()),
        Some("LF-100003"),
        "{}",
        a.reply
    );
}

#[test]
fn asking_for_a_person_over_and_over_is_capped_per_client_and_in_all() {
    let app = strict();
    // One client: three new hand-offs an hour, then a refusal that says when and where else.
    for _ in 0..3 {
        let a = Chat::new(app.clone(), "10.23.0.1").say("I want to talk to a real person please");
        assert!(a.handoff.is_some(), "{}", a.reply);
    }
    match Chat::new(app.clone(), "10.23.0.1").try_say("I want to talk to a real person please") {
        Err(AssistantError::HandoffLimited {
            retry_after_secs,
            message,
        }) => {
            assert!(
                retry_after_secs > 0 && retry_after_secs <= 3600,
                "{retry_after_secs}"
            );
            assert!(
                message.contains(&app.config.store.support_email),
                "{message}"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Others still reach a person, up to the cap for everyone together (8 an hour here).
    let mut opened = 3;
    for i in 0..5 {
        let a = Chat::new(app.clone(), &format!("10.23.1.{i}"))
            .say("I want to talk to a real person please");
        assert!(a.handoff.is_some(), "{}", a.reply);
        opened += 1;
    }
    assert_eq!(opened, 8);
    let r = Chat::new(app.clone(), "10.23.2.1").try_say("I want to talk to a real person please");
    assert!(
        matches!(r, Err(AssistantError::HandoffLimited { .. })),
        "{r:?}"
    );
}

#[test]
fn a_conversation_has_at_most_one_open_hand_off() {
    let app = demo();
    let mut chat = Chat::new(app.clone(), "10.24.0.1");
    let a = chat.say("I need a human agent");
    let conversation = a.conversation_id.clone();
    let first = a.handoff.expect("handed off").id;
    // The journal itself refuses a second open hand-off for one conversation (two requests
    // racing each other both reach this point).
    let again = app
        .assistant
        .journal
        .open_handoff(&HandoffPacket::new(
            &conversation,
            HandoffReason::CustomerAsked,
        ))
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(
        app.assistant
            .journal
            .handoffs_of(&conversation)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_conversation_id_the_server_never_issued_is_refused_and_not_created() {
    let app = demo();
    let url = common::serve(app.clone());
    let post = |body: Value| -> (u16, Value) {
        rt().block_on(async {
            let r = reqwest::Client::new()
                .post(format!("{url}/v1/answer"))
                .json(&body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        })
    };
    let chosen = "c_11111111111111111111111111111111";
    let (status, body) = post(json!({"conversation_id": chosen, "message": "hello"}));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("conversation_not_found")),
        "{body}"
    );
    assert!(
        app.assistant
            .journal
            .conversation(chosen)
            .unwrap()
            .is_none(),
        "nothing was created under the chosen id"
    );
    // The id the server hands out continues the conversation.
    let (status, first) = post(json!({"message": "hello"}));
    assert_eq!(status, 200);
    let (status, second) = post(
        json!({"conversation_id": first["conversation_id"], "message": "how long do refunds take?"}),
    );
    assert_eq!(status, 200);
    assert_eq!(first["conversation_id"], second["conversation_id"]);
}

#[test]
fn a_refused_guess_is_a_429_with_retry_after_on_the_wire() {
    let app = demo();
    let url = common::serve(app);
    let client = reqwest::Client::new();
    let (status, retry, body) = rt().block_on(async {
        let mut conversation: Option<String> = None;
        for i in 0..3 {
            let mut body = json!({"message": format!("where is order LF-1003{i:02}? email wrong{i}@example.com")});
            if let Some(c) = &conversation {
                body["conversation_id"] = json!(c);
            }
            let r: Value = client.post(format!("{url}/v1/answer")).json(&body).send().await.unwrap().json().await.unwrap();
            conversation = r["conversation_id"].as_str().map(String::from);
        }
        let r = client
            .post(format!("{url}/v1/answer"))
            .json(&json!({"conversation_id": conversation, "message": "where is order LF-100310? email wrong9@example.com"}))
            .send()
            .await
            .unwrap();
        let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
        (r.status().as_u16(), retry, r.json::<Value>().await.unwrap())
    });
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("verification_limited")),
        "{body}"
    );
    assert!(
        retry
            .and_then(|s| s.parse::<u64>().ok())
            .is_some_and(|s| s > 0),
        "Retry-After is set"
    );
}

#[test]
fn slow_and_idle_clients_do_not_stop_real_answers() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_dir, app) = app_with(None, |c| {
        c.server.max_in_flight = 8;
        c.server.body_timeout_secs = 2;
        c.server.header_timeout_secs = 2;
    });
    let url = common::serve(app);
    let addr = url.trim_start_matches("http://").to_string();
    rt().block_on(async {
        // 200 clients announce a body and send one byte of it; 50 more send half a header line;
        // 50 more connect and send nothing.
        let mut slow = Vec::new();
        for i in 0..300 {
            let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
            let bytes: &[u8] = match i {
                0..200 => b"POST /v1/answer HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
                200..250 => b"POST /v1/answer HTTP/1.1\r\nHo",
                _ => b"",
            };
            s.write_all(bytes).await.unwrap();
            slow.push(s);
        }
        // A real customer, from another loopback address, is answered at once, every time.
        let customer = reqwest::Client::builder().local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap()).build().unwrap();
        let started = std::time::Instant::now();
        for _ in 0..10 {
            let r = customer.post(format!("{url}/v1/answer")).json(&json!({"message": "How long do refunds take?"})).send().await.unwrap();
            assert_eq!(r.status(), 200, "{:?}", r.text().await);
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "10 answers took {:?} beside the slow clients", started.elapsed());
        // Past the deadlines every slow connection has been closed by the server (a body that
        // never came gets its 408 first).
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        let mut timed_out = 0;
        for (i, s) in slow.iter_mut().enumerate() {
            let mut buf = Vec::new();
            let read = tokio::time::timeout(std::time::Duration::from_secs(2), s.read_to_end(&mut buf)).await;
            assert!(read.is_ok(), "connection {i} is still open");
            if String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 408") {
                timed_out += 1;
            }
        }
        assert_eq!(timed_out, 200, "each announced body that never came was answered 408");
    });
}

#[test]
fn fifty_messages_at_once_to_one_conversation_leave_fifty_turns_in_order() {
    let app = demo();
    let first = Chat::new(app.clone(), "10.25.0.1").say("hello");
    let id = first.conversation_id.clone();
    let answers = rt().block_on(async {
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let app = app.clone();
                let id = id.clone();
                tokio::spawn(async move {
                    let q = Question {
                        conversation_id: Some(id),
                        channel: "api".into(),
                        message: format!("message {i}: how long do refunds take?"),
                        client: Some("10.25.0.1".into()),
                        ..Default::default()
                    };
                    app.assistant.handle(q).await
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    assert!(
        answers.iter().all(|a| a.is_ok()),
        "{:?}",
        answers.iter().find(|a| a.is_err())
    );
    let turns = app.assistant.journal.turns(&id).unwrap();
    assert_eq!(
        turns.len(),
        2 + 100,
        "every message and its reply were recorded"
    );
    // Each message is directly followed by its own reply: no two turns interleaved.
    for pair in turns[2..].chunks(2) {
        assert_eq!(
            (pair[0].role.as_str(), pair[1].role.as_str()),
            ("customer", "assistant")
        );
        assert!(pair[0].text.contains("how long do refunds take?"));
        assert!(pair[1].text.contains("refund"), "{}", pair[1].text);
    }
    let mut seen: Vec<String> = turns[2..]
        .iter()
        .step_by(2)
        .map(|t| t.text.clone())
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 50, "no message lost or doubled");
}
