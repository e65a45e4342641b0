//! The chat widget, as a shopper meets it: a real headless chromium (over WebDriver) on the demo
//! storefront of a real server (loopback, port 0, the real model and the demo store). It answers
//! with sources as links, shows a verified shopper their order, confirms a return with a button,
//! hands off to a person whose reply arrives live, survives a page load, fits a phone and works
//! from a store's own site when (and only when) its origin is allowed. Then
//! the wire it relies on: the script itself, CORS for store origins, the team's token-protected
//! reply API and the transcript route.
//!
//! These tests need chromium and chromedriver; without them they fail saying to run
//! scripts/test.sh (which installs Debian's packages). They never pass without a browser.

mod browser;
mod common;

use std::sync::{Arc, Mutex, OnceLock};

use browser::{Browser, WIDGET};
use common::{rt, serve};
use serde_json::{json, Value};
use shopkeep::app::App;

const ADMIN_TOKEN: &str = "widget-test-admin-token-0123456789";
const STORE_ORIGIN: &str = "https://shop.example";

/// Two store sites on origins of their own (loopback ports), bound before the app is built so
/// the first can be in its allowed origins: [allowed, not allowed].
struct Sites {
    origins: [String; 2],
    sockets: Mutex<Option<[std::net::TcpListener; 2]>>,
}

fn sites() -> &'static Sites {
    static SITES: OnceLock<Sites> = OnceLock::new();
    SITES.get_or_init(|| {
        let bind = || std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let sockets = [bind(), bind()];
        let origins = sockets
            .each_ref()
            .map(|s| format!("http://{}", s.local_addr().unwrap()));
        Sites {
            origins,
            sockets: Mutex::new(Some(sockets)),
        }
    })
}

/// Starts the two store sites (once): a page with only the widget's tag, pointing at the
/// service on its own origin. Returns their base URLs.
fn store_sites() -> [String; 2] {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        let api = server();
        let sockets = sites().sockets.lock().unwrap().take().expect("started once");
        for socket in sockets {
            socket.set_nonblocking(true).unwrap();
            let listener = rt().block_on(async { tokio::net::TcpListener::from_std(socket) }).unwrap();
            let page = format!("<!doctype html><html lang=\"en\"><title>A store</title><h1>A store page</h1><script src=\"{api}/widget.js\" data-store=\"Larkfield Goods\" async></script></html>");
            let router = axum::Router::new().route("/", axum::routing::get(move || async move { axum::response::Html(page) }));
            rt().spawn(async move { axum::serve(listener, router).await });
        }
    });
    sites().origins.clone()
}

/// One app per test binary: the demo store seeded and the index built in a temporary data dir.
fn app() -> Arc<App> {
    static APP: OnceLock<(tempfile::TempDir, Arc<App>)> = OnceLock::new();
    APP.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = common::demo_config(dir.path());
        cfg.identity.token_secret = "widget-test-secret".into();
        cfg.admin.api_token = ADMIN_TOKEN.into();
        cfg.server.allowed_origins = vec![STORE_ORIGIN.into(), sites().origins[0].clone()];
        let app = Arc::new(App::with_embedder(cfg, common::model_dyn()).expect("app opens"));
        (dir, app)
    })
    .1
    .clone()
}

fn server() -> String {
    static BASE: OnceLock<String> = OnceLock::new();
    BASE.get_or_init(|| serve(app())).clone()
}

/// A shopper on the demo storefront, in their own browser.
struct Shopper {
    browser: Browser,
}

impl Shopper {
    fn on_storefront() -> Self {
        Self::on_storefront_sized(1280, 900)
    }

    fn on_storefront_sized(width: u32, height: u32) -> Self {
        browser::executables();
        Self::at(&format!("{}/", server()), width, height)
    }

    fn at(url: &str, width: u32, height: u32) -> Self {
        let browser = Browser::start(width, height);
        browser.goto(url);
        let shopper = Self { browser };
        shopper.wait_until_ready();
        shopper
    }

    fn wait_until_ready(&self) {
        self.browser.wait_for(
            "the widget to load",
            &format!("{WIDGET} return !!w && w.hasAttribute('data-ready');"),
        );
    }

    fn exec(&self, script: &str) -> Value {
        self.browser.exec(&format!("{WIDGET} {script}"), vec![])
    }

    fn wait_for(&self, what: &str, script: &str) -> Value {
        self.browser.wait_for(what, &format!("{WIDGET} {script}"))
    }

    fn panel_is_open(&self) -> bool {
        self.exec("return !$('.sk-panel').hidden;") == true
    }

    /// What has keyboard focus inside the widget: its class name, or null.
    fn focused(&self) -> Value {
        self.exec("const a = w.shadowRoot.activeElement; return a && (a.id || a.className);")
    }

    fn open_chat(&self) {
        let launcher = self.exec("return $('.sk-launcher');");
        self.browser.click(&launcher);
        self.wait_for("the panel to open", "return !$('.sk-panel').hidden;");
    }

    /// Types a message as a shopper would (Enter sends) and waits for the reply; returns it.
    fn say(&self, text: &str) -> Reply {
        let before = self
            .exec("return $$('.sk-assistant').length;")
            .as_u64()
            .unwrap();
        let input = self.exec("return $('#sk-input');");
        self.browser.type_into(&input, &format!("{text}\u{E007}"));
        self.wait_for_reply(before)
    }

    fn wait_for_reply(&self, before: u64) -> Reply {
        self.wait_for("the reply", &format!("return $$('.sk-assistant').length > {before} && !$('.sk-typing').classList.contains('sk-on');"));
        self.last_reply()
    }

    fn last_reply(&self) -> Reply {
        let v = self.exec(
            "const li = $$('.sk-assistant').pop();
             const card = li.querySelector('.sk-order');
             const track = card && card.querySelector('a.sk-track');
             return {
               text: li.querySelector('.sk-text').textContent,
               sources: Array.from(li.querySelectorAll('.sk-sources a')).map(a => ({text: a.textContent, href: a.href})),
               order: card && {label: card.getAttribute('aria-label'), status: card.dataset.status, status_label: card.querySelector('.sk-status').textContent,
                               text: card.innerText, tracking: track && {text: track.textContent, href: track.href}},
               confirm: !!li.querySelector('.sk-confirm'),
             };",
        );
        serde_json::from_value(v).unwrap()
    }

    /// The conversation id the widget keeps in localStorage.
    fn stored_conversation(&self) -> Option<String> {
        let v = self.browser.exec("const v = Object.entries(localStorage).find(([k]) => k.startsWith('shopkeep:')); return v ? JSON.parse(v[1]).id : null;", vec![]);
        v.as_str().map(String::from)
    }

    fn transcript(&self) -> Vec<(String, String)> {
        let v = self.exec("return $$('.sk-msg').map(li => [li.dataset.role, li.querySelector('.sk-text').textContent]);");
        serde_json::from_value(v).unwrap()
    }
}

#[derive(serde::Deserialize, Debug)]
struct Reply {
    text: String,
    sources: Vec<Link>,
    order: Option<Card>,
    confirm: bool,
}

#[derive(serde::Deserialize, Debug)]
struct Link {
    text: String,
    href: String,
}

#[derive(serde::Deserialize, Debug)]
struct Card {
    label: String,
    status: String,
    status_label: String,
    text: String,
    tracking: Option<Link>,
}

fn reply_to_handoff(handoff: &str, message: &str, agent: &str) -> (u16, Value) {
    let url = format!("{}/v1/handoffs/{handoff}/reply", server());
    rt().block_on(async {
        let r = reqwest::Client::new()
            .post(url)
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"message": message, "agent": agent}))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    })
}

// --- In the browser ------------------------------------------------------------------------------

#[test]
fn a_policy_question_is_answered_with_its_sources_as_links() {
    let shopper = Shopper::on_storefront();
    assert!(
        !shopper.panel_is_open(),
        "the widget starts as a launcher button"
    );
    shopper.open_chat();
    assert_eq!(
        shopper.focused(),
        "sk-input",
        "opening the chat puts the cursor in the message box"
    );

    let reply = shopper.say("How long do refunds take?");
    assert!(reply.text.to_lowercase().contains("refund"), "{reply:?}");
    assert!(!reply.sources.is_empty(), "cited: {reply:?}");
    for link in &reply.sources {
        assert!(
            link.href.starts_with("https://larkfield.example/help/"),
            "{link:?}"
        );
        assert!(!link.text.trim().is_empty());
    }
    // Screen readers hear replies as they arrive.
    assert_eq!(
        shopper.exec(
            "return [$('.sk-log').getAttribute('role'), $('.sk-log').getAttribute('aria-live')];"
        ),
        json!(["log", "polite"])
    );

    // The shopper says the reply helped; the team's metrics count it.
    let helpful = shopper.exec("return $$('.sk-assistant').pop().querySelector('.sk-feedback button[aria-label=\"Helpful\"]');");
    shopper.browser.click(&helpful);
    shopper.wait_for("the thanks", "return $$('.sk-assistant').pop().querySelector('.sk-fb-status').textContent.includes('Thanks');");
    assert_eq!(
        shopper.exec("return $('.sk-fb-up').getAttribute('aria-pressed');"),
        "true"
    );
    let id = shopper.stored_conversation().expect("a conversation");
    assert!(app()
        .assistant
        .journal
        .stats()
        .unwrap()
        .feedback
        .iter()
        .any(|(r, n)| r == "up" && *n >= 1));
    let (status, _) = post_feedback(&id, "up");
    assert_eq!(status, 204, "rating again replaces the rating");

    // Escape closes the panel and gives focus back to the launcher.
    shopper.browser.press("\u{E00C}");
    shopper.wait_for("the panel to close", "return $('.sk-panel').hidden;");
    assert_eq!(shopper.focused(), "sk-launcher");
    assert_eq!(
        shopper.exec("return $('.sk-launcher').getAttribute('aria-expanded');"),
        "false"
    );
}

#[test]
fn a_product_question_on_the_product_page_is_answered_for_that_product() {
    let shopper = Shopper::on_storefront();
    shopper.open_chat();
    let reply = shopper.say("is this in stock?");
    assert!(
        reply.text.contains("Linen Shirt"),
        "the page's product id went along as context: {reply:?}"
    );
}

#[test]
fn a_verified_shopper_sees_an_order_card_with_status_carrier_and_tracking() {
    let shopper = Shopper::on_storefront();
    shopper.open_chat();
    let reply = shopper.say("Where is my order LF-100001? My email is maya.chen@example.com");
    let card = reply
        .order
        .unwrap_or_else(|| panic!("an order card: {}", reply.text));
    assert_eq!(card.label, "Order LF-100001");
    assert_eq!(
        (card.status.as_str(), card.status_label.as_str()),
        ("shipped", "Shipped")
    );
    assert!(
        card.text.contains("UPS") && card.text.contains("Estimated delivery"),
        "{}",
        card.text
    );
    let tracking = card.tracking.expect("a tracking link");
    assert_eq!(tracking.text, "1Z8V2E410300100001");
    assert!(tracking.href.starts_with("https://"), "{tracking:?}");
}

#[test]
fn a_return_is_confirmed_with_the_yes_button() {
    let shopper = Shopper::on_storefront();
    shopper.open_chat();
    let proposal = shopper.say("I'd like to return the linen shirt from order LF-100002, it doesn't fit. My email is maya.chen@example.com");
    assert!(
        proposal.confirm,
        "the proposal waits for a yes, with buttons: {proposal:?}"
    );
    assert!(
        app()
            .assistant
            .orders
            .order("LF-100002")
            .unwrap()
            .unwrap()
            .returns
            .is_empty(),
        "nothing happens before the yes"
    );

    let yes = shopper.exec("return $('.sk-confirm .sk-yes');");
    shopper.browser.click(&yes);
    let done = shopper.wait_for_reply(1);
    assert!(done.text.contains("RMA-"), "{done:?}");
    assert!(!done.confirm);
    assert_eq!(
        shopper.exec("return $$('.sk-confirm').length;"),
        0,
        "the buttons go once answered"
    );
    let transcript = shopper.transcript();
    assert!(
        transcript
            .iter()
            .any(|(role, text)| role == "customer" && text == "yes"),
        "the button said yes: {transcript:?}"
    );
    let order = app().assistant.orders.order("LF-100002").unwrap().unwrap();
    assert_eq!(order.returns.len(), 1, "the return was opened");
}

#[test]
fn a_hand_off_shows_its_reference_and_the_agents_reply_arrives_live() {
    let shopper = Shopper::on_storefront();
    shopper.open_chat();
    let reply = shopper.say("I want to talk to a real person please");
    assert!(reply.text.contains("HO-"), "{reply:?}");
    let handoff = shopper
        .exec("return w.getAttribute('data-handoff');")
        .as_str()
        .unwrap()
        .to_string();
    assert!(handoff.starts_with("HO-"));
    let banner =
        shopper.exec("return $('.sk-handoff').hidden ? null : $('.sk-handoff').textContent;");
    assert!(
        banner
            .as_str()
            .is_some_and(|b| b.contains("team") && b.contains(&handoff)),
        "{banner}"
    );
    shopper.wait_for(
        "the live stream to connect",
        "return w.getAttribute('data-live') === 'open';",
    );

    // The shopper closes the panel; the team answers through the API.
    shopper.browser.press("\u{E00C}");
    let (status, delivered) = reply_to_handoff(
        &handoff,
        "Hi, this is Priya. I can help with that.",
        "Priya",
    );
    assert_eq!(status, 201, "{delivered}");
    assert_eq!(
        delivered["live_watchers"], 1,
        "pushed to the open widget, not left for a reload"
    );
    shopper.wait_for(
        "the unread badge",
        "return !$('.sk-badge').hidden && $('.sk-badge').textContent.startsWith('1');",
    );
    // The launcher's name (from its text, for screen readers too) says so.
    assert!(shopper
        .exec("return $('.sk-launcher').textContent;")
        .as_str()
        .unwrap()
        .contains("Chat with Larkfield Goods1 new reply"));

    shopper.open_chat();
    let agent = shopper.wait_for(
        "the agent's reply",
        "const a = $$('.sk-agent').pop(); return a && a.innerText;",
    );
    assert!(
        agent.as_str().unwrap().contains("Hi, this is Priya")
            && agent.as_str().unwrap().contains("Priya"),
        "{agent}"
    );

    // After a page load the hand-off and the reply are still there, and later replies still arrive.
    shopper.browser.refresh();
    shopper.wait_until_ready();
    shopper.wait_for(
        "the restored agent reply",
        "return $$('.sk-agent').length === 1;",
    );
    assert!(shopper.exec("return !$('.sk-handoff').hidden;") == true);
    shopper.wait_for(
        "the live stream to reconnect",
        "return w.getAttribute('data-live') === 'open';",
    );
    let (status, _) = reply_to_handoff(&handoff, "Your replacement is on its way.", "Priya");
    assert_eq!(status, 201);
    shopper.wait_for("the second reply", "return $$('.sk-agent').length === 2;");
}

#[test]
fn reloading_the_page_keeps_the_conversation() {
    let shopper = Shopper::on_storefront();
    shopper.open_chat();
    let first = shopper.say("What's your return window?");
    let id = shopper
        .stored_conversation()
        .expect("the conversation id is kept in localStorage");
    let before = shopper.transcript();

    shopper.browser.refresh();
    shopper.wait_until_ready();
    shopper.wait_for("the transcript", "return $$('.sk-msg').length >= 2;");
    assert!(
        shopper.panel_is_open(),
        "an open chat stays open across pages"
    );
    assert_eq!(shopper.transcript(), before);
    assert_eq!(
        shopper.last_reply().sources.len(),
        first.sources.len(),
        "sources are shown again"
    );

    shopper.say("thanks!");
    assert_eq!(
        shopper.stored_conversation().as_deref(),
        Some(id.as_str()),
        "the same conversation continues"
    );
    assert_eq!(app().assistant.journal.turns(&id).unwrap().len(), 4);
}

#[test]
fn on_a_phone_sized_screen_the_open_panel_fills_the_screen() {
    let shopper = Shopper::on_storefront_sized(390, 844);
    shopper.open_chat();
    let fits = shopper.exec(
        "const r = $('.sk-panel').getBoundingClientRect();
         return [Math.round(r.left), Math.round(r.top), Math.round(r.width) === innerWidth, Math.round(r.height) === innerHeight];",
    );
    assert_eq!(fits, json!([0, 0, true, true]));
    let reply = shopper.say("How long does standard shipping take?");
    assert!(!reply.text.is_empty());
    // The close button is reachable on the full-screen panel.
    let close = shopper.exec("return $('.sk-close');");
    shopper.browser.click(&close);
    shopper.wait_for("the panel to close", "return $('.sk-panel').hidden;");
}

#[test]
fn on_a_store_site_the_widget_answers_only_if_its_origin_is_allowed() {
    browser::executables();
    let [allowed, other] = store_sites();
    {
        let shopper = Shopper::at(&format!("{allowed}/"), 1280, 900);
        shopper.open_chat();
        let reply = shopper.say("How long does standard shipping take?");
        assert!(
            !reply.sources.is_empty(),
            "answered across origins: {reply:?}"
        );
    }
    let shopper = Shopper::at(&format!("{other}/"), 1280, 900);
    shopper.open_chat();
    let input = shopper.exec("return $('#sk-input');");
    shopper
        .browser
        .type_into(&input, "How long does standard shipping take?\u{E007}");
    let note = shopper.wait_for(
        "the widget to give up",
        "const n = $$('.sk-note').pop(); return n && n.textContent;",
    );
    assert!(note.as_str().unwrap().contains("couldn't reach"), "{note}");
    assert_eq!(
        shopper.exec("return $$('.sk-assistant').length;"),
        0,
        "the browser kept the answer from a page the store did not allow"
    );
}

// --- Accessibility and the keyboard --------------------------------------------------------------

#[test]
fn every_state_of_the_widget_has_no_wcag_21_aa_violations_under_axe() {
    let mut report = browser::AxeReport::default();
    let shopper = Shopper::on_storefront();
    shopper.browser.axe_into(&mut report, "closed");
    shopper.open_chat();
    shopper.browser.axe_into(&mut report, "open");
    let reply = shopper.say("How long do refunds take?");
    assert!(!reply.sources.is_empty(), "{reply:?}");
    shopper.browser.axe_into(&mut report, "answer with sources");
    let reply = shopper.say("Where is my order LF-100001? My email is maya.chen@example.com");
    assert!(reply.order.is_some(), "{reply:?}");
    shopper.browser.axe_into(&mut report, "order card");
    let reply = shopper.say("Please cancel order LF-100003, my email is maya.chen@example.com");
    assert!(reply.confirm, "{reply:?}");
    shopper.browser.axe_into(&mut report, "confirmation");
    shopper.say("no");
    shopper.say("I want to talk to a person");
    shopper.wait_for("the hand-off banner", "return !$('.sk-handoff').hidden;");
    shopper.browser.axe_into(&mut report, "hand-off banner");
    shopper.browser.press("\u{E00C}");
    shopper.wait_for("the panel to close", "return $('.sk-panel').hidden;");
    let (status, _) = reply_to_handoff(
        shopper
            .exec("return w.getAttribute('data-handoff');")
            .as_str()
            .unwrap(),
        "Hi, Priya here.",
        "Priya",
    );
    assert_eq!(status, 201);
    shopper.wait_for("the unread badge", "return !$('.sk-badge').hidden;");
    shopper
        .browser
        .axe_into(&mut report, "closed with an unread reply");
    drop(shopper);

    let phone = Shopper::on_storefront_sized(390, 844);
    phone.browser.axe_into(&mut report, "mobile closed");
    phone.open_chat();
    let reply = phone.say("How long does standard shipping take?");
    assert!(!reply.text.is_empty());
    phone
        .browser
        .axe_into(&mut report, "mobile open with an answer");
    report.assert_clean();
}

#[test]
fn a_shopper_uses_the_widget_with_the_keyboard_alone() {
    let shopper = Shopper::on_storefront();
    let b = &shopper.browser;
    // From the top of the page, Tab reaches the launcher; Enter opens the chat at the message box.
    b.tab_to(
        "the launcher",
        "a.classList.contains('sk-launcher')",
        false,
        40,
    );
    b.press("\u{E007}");
    shopper.wait_for("the panel to open", "return !$('.sk-panel').hidden;");
    assert_eq!(shopper.focused(), "sk-input");
    b.press("How long do refunds take?\u{E007}");
    let reply = shopper.wait_for_reply(0);
    assert!(!reply.sources.is_empty(), "{reply:?}");

    // Back from the message box: the feedback buttons, the sources, and the transcript itself
    // (a scrollable region must take focus so it can be scrolled with the arrow keys).
    b.tab_to(
        "the Helpful button",
        "a.getAttribute('aria-label') === 'Helpful'",
        true,
        10,
    );
    b.press("\u{E007}");
    shopper.wait_for(
        "the thanks",
        "return $('.sk-fb-status').textContent.includes('Thanks');",
    );
    b.tab_to(
        "a source link",
        "a.closest && a.closest('.sk-sources') && a.tagName === 'A'",
        true,
        10,
    );
    b.tab_to("the transcript", "a.classList.contains('sk-log')", true, 10);
    b.tab_to(
        "the close button",
        "a.classList.contains('sk-close')",
        true,
        5,
    );

    // A proposal is answered with its buttons, from the keyboard.
    b.tab_to("the message box", "a.id === 'sk-input'", false, 20);
    b.press("Please cancel order LF-100003, my email is maya.chen@example.com\u{E007}");
    let proposal = shopper.wait_for_reply(1);
    assert!(proposal.confirm, "{proposal:?}");
    b.tab_to("No, leave it", "a.classList.contains('sk-no')", true, 10);
    b.press("\u{E007}");
    let after = shopper.wait_for_reply(2);
    assert!(!after.confirm, "{after:?}");
    assert!(
        shopper
            .transcript()
            .iter()
            .any(|(role, text)| role == "customer" && text == "no"),
        "the button said no"
    );

    // Tab from the last control leaves the panel for the launcher; Escape closes and returns there.
    b.tab_to(
        "the send button",
        "a.classList.contains('sk-send')",
        false,
        40,
    );
    b.press("\u{E00C}");
    shopper.wait_for("the panel to close", "return $('.sk-panel').hidden;");
    assert_eq!(shopper.focused(), "sk-launcher");
    b.press("\u{E007}");
    shopper.wait_for("the panel to open again", "return !$('.sk-panel').hidden;");
}

// --- On the wire ---------------------------------------------------------------------------------

fn get(url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    rt().block_on(async {
        let mut r = reqwest::Client::new().get(url);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.send().await.unwrap()
    })
}

fn body(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    (status, rt().block_on(r.text()).unwrap())
}

#[test]
fn the_widget_is_one_self_contained_script_and_the_storefront_embeds_it() {
    let r = get(&format!("{}/widget.js", server()), &[]);
    assert_eq!(
        r.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    let (status, js) = body(r);
    assert_eq!(status, 200);
    assert!(
        js.contains(".sk-panel") && !js.contains("__SHOPKEEP_CSS__"),
        "the stylesheet is inside the script"
    );
    assert!(
        !js.contains("import ") && !js.contains("cdn"),
        "no modules, no CDN"
    );

    let (status, page) = body(get(&format!("{}/", server()), &[]));
    assert_eq!(status, 200);
    assert!(page.contains("<script src=\"/widget.js\" data-store=\"Larkfield Goods\" data-product-id=\"linen-shirt\" async></script>"), "{page}");
    assert!(page.contains("Linen Shirt") && page.contains("$68.00"));
}

#[test]
fn store_origins_in_the_config_may_call_the_widget_api_and_others_may_not() {
    let preflight = |origin: &str| {
        let url = format!("{}/v1/answer", server());
        rt().block_on(async {
            reqwest::Client::new()
                .request(reqwest::Method::OPTIONS, url)
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "content-type")
                .send()
                .await
                .unwrap()
        })
    };
    let allowed = preflight(STORE_ORIGIN);
    assert!(allowed.status().is_success());
    assert_eq!(
        allowed
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap()),
        Some(STORE_ORIGIN)
    );
    let other = preflight("https://elsewhere.example");
    assert!(other.headers().get("access-control-allow-origin").is_none());

    // The transcript and the live stream answer the store's origin too.
    let (status, v) = post_answer(json!({"message": "hello", "channel": "widget"}));
    assert_eq!(status, 200);
    let r = get(
        &format!(
            "{}/v1/conversations/{}",
            server(),
            v["conversation_id"].as_str().unwrap()
        ),
        &[("origin", STORE_ORIGIN)],
    );
    assert_eq!(
        r.headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap()),
        Some(STORE_ORIGIN)
    );
}

fn post_answer(req: Value) -> (u16, Value) {
    let url = format!("{}/v1/answer", server());
    rt().block_on(async {
        let r = reqwest::Client::new()
            .post(url)
            .json(&req)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    })
}

fn post_feedback(conversation: &str, rating: &str) -> (u16, Value) {
    let url = format!("{}/v1/conversations/{conversation}/feedback", server());
    rt().block_on(async {
        let r = reqwest::Client::new()
            .post(url)
            .json(&json!({"rating": rating}))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    })
}

#[test]
fn feedback_rates_the_latest_reply_of_a_widget_conversation_only() {
    let (_, a) = post_answer(json!({"message": "Do you ship to Canada?", "channel": "widget"}));
    let id = a["conversation_id"].as_str().unwrap();
    assert_eq!(post_feedback(id, "down").0, 204);
    let (status, v) = post_feedback(id, "meh");
    assert_eq!(
        (status, v["error"]["code"].as_str().unwrap()),
        (422, "invalid_rating")
    );
    let (status, v) = post_feedback("c_nosuchconversation", "up");
    assert_eq!(
        (status, v["error"]["code"].as_str().unwrap()),
        (404, "conversation_not_found")
    );
    // Another channel's conversation is not the widget's to rate.
    let (_, api) = post_answer(json!({"message": "Do you ship to Canada?", "channel": "api"}));
    assert_eq!(
        post_feedback(api["conversation_id"].as_str().unwrap(), "up").0,
        404
    );
    // No reply yet: nothing to rate.
    app()
        .assistant
        .journal
        .create("c_feedback_empty", "widget")
        .unwrap();
    let (status, v) = post_feedback("c_feedback_empty", "up");
    assert_eq!(
        (status, v["error"]["code"].as_str().unwrap()),
        (409, "nothing_to_rate")
    );
}

#[test]
fn the_answer_says_when_it_waits_for_a_yes_and_when_a_person_has_the_conversation() {
    let (_, a) = post_answer(
        json!({"message": "Please cancel order LF-100003, my email is maya.chen@example.com", "channel": "widget"}),
    );
    assert_eq!(a["awaiting_confirmation"], true, "{a}");
    assert_eq!(a["with_person"], false);
    let (_, b) = post_answer(
        json!({"message": "no", "conversation_id": a["conversation_id"], "channel": "widget"}),
    );
    assert_eq!(b["awaiting_confirmation"], false, "{b}");

    let (_, c) = post_answer(json!({"message": "can I speak to a human?", "channel": "widget"}));
    assert_eq!(c["with_person"], true, "{c}");
    let (_, d) = post_answer(
        json!({"message": "hello?", "conversation_id": c["conversation_id"], "channel": "widget"}),
    );
    assert_eq!(
        (d["with_person"].clone(), d["handoff"].clone()),
        (json!(true), Value::Null),
        "{d}"
    );
}

#[test]
fn the_team_api_needs_the_admin_token() {
    let list = format!("{}/v1/handoffs", server());
    let bearer = |token: &str| format!("Bearer {token}");
    for refused in [
        vec![],
        vec![("authorization", bearer("wrong-token-wrong-token-wrong"))],
        vec![("authorization", ADMIN_TOKEN.to_string())],
    ] {
        let headers: Vec<(&str, &str)> = refused.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = get(&list, &headers);
        assert_eq!(
            r.headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap()),
            Some("Bearer")
        );
        let (status, text) = body(r);
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (status, v["error"]["code"].as_str().unwrap()),
            (401, "unauthorized"),
            "{v}"
        );
    }
    let admin = bearer(ADMIN_TOKEN);
    let (status, text) = body(get(&list, &[("authorization", &admin)]));
    assert_eq!(status, 200, "{text}");

    // A hand-off appears in the list with its packet; replies to unknown ones are refused.
    let (_, a) = post_answer(json!({"message": "I need a human agent", "channel": "widget"}));
    let id = a["handoff"]["id"].as_str().unwrap().to_string();
    let (_, text) = body(get(&list, &[("authorization", &admin)]));
    let v: Value = serde_json::from_str(&text).unwrap();
    let listed = v["handoffs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["id"] == id.as_str())
        .expect("listed");
    assert_eq!(listed["reason"], "customer_asked");
    assert_eq!(listed["conversation_id"], a["conversation_id"]);
    assert!(listed["packet"]["transcript"].is_array());
    let (status, v) = reply_to_handoff("HO-NOSUCHONE", "hello", "Priya");
    assert_eq!(
        (status, v["error"]["code"].as_str().unwrap()),
        (404, "handoff_not_found")
    );
    let (status, v) = reply_to_handoff(&id, "   ", "Priya");
    assert_eq!(
        (status, v["error"]["code"].as_str().unwrap()),
        (400, "empty_message")
    );
    let (status, v) = reply_to_handoff(&id, "We're on it.", "Priya");
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["turn"]["role"], "agent");

    // Without a configured token the routes are off, not open.
    let base = app();
    let mut cfg = base.config.clone();
    cfg.admin.api_token = String::new();
    let closed = serve(Arc::new(App {
        config: cfg,
        assistant: base.assistant.clone(),
        live: base.live.clone(),
        email: None,
        accounts: base.accounts.clone(),
    }));
    let (status, text) = body(get(
        &format!("{closed}/v1/handoffs"),
        &[("authorization", &admin)],
    ));
    assert_eq!(status, 403);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["error"]["code"],
        "admin_disabled"
    );
}

#[test]
fn a_transcript_is_served_only_for_widget_conversations() {
    let (_, api) = post_answer(json!({"message": "how long do refunds take?"}));
    let (status, text) = body(get(
        &format!(
            "{}/v1/conversations/{}",
            server(),
            api["conversation_id"].as_str().unwrap()
        ),
        &[],
    ));
    assert_eq!(
        status, 404,
        "an API conversation is not the widget's to show: {text}"
    );
    assert!(text.contains("conversation_not_found"));
    let (status, text) = body(get(
        &format!("{}/v1/conversations/no.such.id", server()),
        &[],
    ));
    assert_eq!(
        (status, text.contains("invalid_conversation_id")),
        (400, true),
        "{text}"
    );

    let (_, w) = post_answer(json!({"message": "how long do refunds take?", "channel": "widget"}));
    let (status, text) = body(get(
        &format!(
            "{}/v1/conversations/{}",
            server(),
            w["conversation_id"].as_str().unwrap()
        ),
        &[],
    ));
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&text).unwrap();
    let turns = v["turns"].as_array().unwrap();
    assert_eq!(turns.len(), 2);
    assert_eq!(turns[1]["role"], "assistant");
    assert!(turns[1]["citations"]
        .as_array()
        .is_some_and(|c| !c.is_empty()));
    assert!(
        turns[1].get("gate").is_none() && !text.contains("\"understanding\""),
        "internal scores stay internal"
    );
}

#[test]
fn live_reply_streams_are_bounded_per_conversation() {
    // A shopper with a few tabs open gets a stream in each; a client opening them in a loop is
    // refused with a stable code and a hint when to retry, instead of holding connections
    // without bound.
    app()
        .assistant
        .journal
        .create("c_many_tabs", "widget")
        .unwrap();
    let url = format!("{}/v1/conversations/c_many_tabs/events", server());
    let open: Vec<reqwest::Response> = (0..shopkeep::journal::live::PER_CONVERSATION)
        .map(|_| get(&url, &[]))
        .collect();
    assert!(open.iter().all(|r| r.status() == 200));
    let refused = get(&url, &[]);
    assert_eq!(
        refused
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("5")
    );
    let (status, text) = body(refused);
    assert_eq!(status, 503, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["error"]["code"],
        "too_many_streams"
    );
    // Other conversations are not affected.
    app()
        .assistant
        .journal
        .create("c_one_tab", "widget")
        .unwrap();
    assert_eq!(
        get(
            &format!("{}/v1/conversations/c_one_tab/events", server()),
            &[]
        )
        .status(),
        200
    );
}
