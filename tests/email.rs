//! The email channel, as a customer meets it: real mail servers on loopback (Postfix for SMTP,
//! Dovecot for IMAP with IDLE, started by scripts/mail-servers.sh) and a real server (the real
//! model and the demo store). A customer writes to support@shop.test; shopkeep picks the mail up
//! by IMAP and answers by SMTP in the same thread; the customer's reply to that answer lands in
//! the same conversation; auto-replies and bounces get no answer; a mail that fails its
//! Authentication-Results gets no order data; a hand-off goes to the helpdesk and a person's
//! reply reaches the customer in their thread; the inbound webhook takes raw MIME. shopkeep
//! reaches both servers over verified TLS (IMAP from the first byte, SMTP by STARTTLS; the other
//! two modes in their own test), trusting the test CA that scripts/mail-servers.sh made.
//!
//! Without the mail servers these tests fail saying to run scripts/mail-servers.sh (which
//! installs Debian's postfix and dovecot-imapd). They never pass without them.

mod common;

use std::{
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use common::visitor::Visitor;
use futures_util::StreamExt;
use lettre::{address::Envelope, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde_json::{json, Value};
use shopkeep::{
    app::App,
    config::EmailConfig,
    desk::accounts::Role,
    email::{
        parse::parse,
        send::{Mailer, Outgoing, SmtpMailer},
        tls::TlsMode,
        InboundMail,
    },
};

const ADMIN_TOKEN: &str = "email-test-admin-token-0123456789";
/// A person on the desk's pages.
const DESK_AGENT: &str = "priya@shop.test";
const DESK_PASSWORD: &str = "a long enough desk password";
const INBOUND_SECRET: &str = "email-test-inbound-secret-0123456789";
const CUSTOMER: (&str, &str) = ("customer@customer.test", "customer-pass");
const HELPDESK: (&str, &str) = ("helpdesk@shop.test", "helpdesk-pass");
/// The demo store's customers are at example.com; the test servers keep all their mail in one box.
const DEMO_CUSTOMERS: (&str, &str) = ("catchall@example.com", "catchall-pass");
/// How long a reply may take to arrive (IMAP pick-up, the model, SMTP, delivery).
const WAIT: Duration = Duration::from_secs(60);

fn port(var: &str, default: u16) -> u16 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn smtp_port() -> u16 {
    port("SHOPKEEP_TEST_SMTP", 2525)
}

fn imap_port() -> u16 {
    port("SHOPKEEP_TEST_IMAP", 1143)
}

fn smtps_port() -> u16 {
    port("SHOPKEEP_TEST_SMTPS", 4465)
}

fn imaps_port() -> u16 {
    port("SHOPKEEP_TEST_IMAPS", 1993)
}

/// The CA scripts/mail-servers.sh signed the servers' certificate with.
fn test_ca() -> String {
    let dir = std::env::var("SHOPKEEP_MAIL_DIR").unwrap_or_else(|_| "/tmp/shopkeep-mail".into());
    format!("{dir}/tls/ca.pem")
}

/// Fails the test (never skips it) when the mail servers are not running.
fn require_mail_servers() {
    for (what, port) in [
        ("SMTP", smtp_port()),
        ("IMAP", imap_port()),
        ("SMTP over TLS", smtps_port()),
        ("IMAP over TLS", imaps_port()),
    ] {
        if std::net::TcpStream::connect_timeout(
            &([127, 0, 0, 1], port).into(),
            Duration::from_secs(2),
        )
        .is_err()
        {
            panic!("no {what} server on 127.0.0.1:{port}: run `scripts/mail-servers.sh start` (it installs and starts Postfix and Dovecot; scripts/test.sh does it for you)");
        }
    }
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

/// One app per test binary, with the email channel on the test servers, its IMAP poller
/// running and its HTTP API served; returns it and the API's base URL.
fn app() -> &'static (Arc<App>, String) {
    static APP: OnceLock<(tempfile::TempDir, Arc<App>, String)> = OnceLock::new();
    let (_, app, url) = APP.get_or_init(|| {
        require_mail_servers();
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = common::demo_config(dir.path());
        cfg.admin.api_token = ADMIN_TOKEN.into();
        let e = &mut cfg.email;
        e.store_address = "support@shop.test".into();
        e.helpdesk_address = HELPDESK.0.into();
        e.smtp_host = "127.0.0.1".into();
        e.smtp_port = smtp_port();
        e.smtp_tls = TlsMode::Starttls;
        e.imap_host = "127.0.0.1".into();
        e.imap_port = imaps_port();
        e.imap_tls = TlsMode::Tls;
        e.tls_ca_file = test_ca();
        e.imap_username = "support@shop.test".into();
        e.imap_password = "support-pass".into();
        e.poll_secs = 2;
        e.inbound_secret = INBOUND_SECRET.into();
        cfg.validate().expect("valid config");
        let app = Arc::new(App::with_embedder(cfg, common::model_dyn()).expect("app opens"));
        app.accounts
            .create_user(DESK_AGENT, None, Role::Agent, DESK_PASSWORD)
            .unwrap();
        let listener = rt()
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (a, b) = (app.clone(), app.clone());
        rt().spawn(async move { shopkeep::http::serve(listener, a, std::future::pending()).await });
        let _guard = rt().enter();
        shopkeep::email::imap::spawn(b.email.clone(), b.assistant.clone())
            .expect("the poller starts when imap_host is set");
        (dir, app, url)
    });
    // Tuple of references to the statics.
    static VIEW: OnceLock<(Arc<App>, String)> = OnceLock::new();
    VIEW.get_or_init(|| (app.clone(), url.clone()))
}

fn unique(tag: &str) -> String {
    format!("{tag}.{}@customer.test", uuid::Uuid::new_v4().simple())
}

/// Sends a raw message by SMTP to the test server (`envelope_from` None: a null sender, as
/// bounces are sent).
fn smtp_send(envelope_from: Option<&str>, to: &str, raw: &str) {
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(smtp_port())
        .build();
    let envelope = Envelope::new(
        envelope_from.map(|f| f.parse().unwrap()),
        vec![to.parse().unwrap()],
    )
    .unwrap();
    rt().block_on(transport.send_raw(&envelope, raw.replace('\n', "\r\n").as_bytes()))
        .expect("the SMTP server takes the mail");
}

/// A customer's mail to the store.
fn customer_mail(
    from: &str,
    message_id: &str,
    subject: &str,
    extra_headers: &str,
    body: &str,
) -> String {
    format!("From: {from}\nTo: Larkfield Goods <support@shop.test>\nSubject: {subject}\nMessage-ID: <{message_id}>\nDate: Tue, 4 Nov 2025 10:00:00 +0000\nMIME-Version: 1.0\n{extra_headers}Content-Type: text/plain; charset=UTF-8\n\n{body}\n")
}

/// The messages in `mailbox` whose `header` contains `value` (searched over IMAP).
async fn imap_search(mailbox: (&str, &str), header: &str, value: &str) -> Vec<Vec<u8>> {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", imap_port()))
        .await
        .unwrap();
    let mut client = async_imap::Client::new(stream);
    client.read_response().await.unwrap().unwrap();
    let mut session = client
        .login(mailbox.0, mailbox.1)
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    session.examine("INBOX").await.unwrap();
    let uids = session
        .uid_search(format!("HEADER {header} \"{value}\""))
        .await
        .unwrap();
    let mut found = Vec::new();
    for uid in uids {
        let mut fetches = session
            .uid_fetch(uid.to_string(), "BODY.PEEK[]")
            .await
            .unwrap();
        while let Some(f) = fetches.next().await {
            if let Some(body) = f.unwrap().body() {
                found.push(body.to_vec());
            }
        }
    }
    let _ = session.logout().await;
    found
}

/// Waits for the one message in `mailbox` whose `header` contains `value`.
fn wait_for(mailbox: (&str, &str), header: &str, value: &str) -> (InboundMail, String) {
    let start = Instant::now();
    loop {
        let found = rt().block_on(imap_search(mailbox, header, value));
        if let Some(raw) = found.first() {
            assert_eq!(found.len(), 1, "exactly one message with {header}: {value}");
            return (
                parse(raw).unwrap(),
                String::from_utf8_lossy(raw).into_owned(),
            );
        }
        assert!(
            start.elapsed() < WAIT,
            "no message with {header}: {value} in {}'s mailbox after {WAIT:?}",
            mailbox.0
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn conversation_of(message_id: &str) -> String {
    app()
        .0
        .assistant
        .journal
        .email(message_id)
        .unwrap()
        .unwrap_or_else(|| panic!("{message_id} is journaled"))
        .conversation_id
}

fn raw_header<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    raw.lines().take_while(|l| !l.is_empty()).find_map(|l| {
        l.split_once(':')
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    })
}

#[test]
fn a_customer_mail_gets_a_threaded_answer_and_their_reply_stays_in_the_conversation() {
    app();
    let first = unique("return-window");
    smtp_send(
        Some(CUSTOMER.0),
        "support@shop.test",
        &customer_mail(
            CUSTOMER.0,
            &first,
            "Return policy",
            "",
            "How many days do I have to return something?\n\nThanks,\nSam\n\nSent from my iPhone",
        ),
    );

    // The answer: from the store, in the thread, with its source linked.
    let (reply, raw) = wait_for(CUSTOMER, "In-Reply-To", &first);
    assert_eq!(reply.from.as_deref(), Some("support@shop.test"));
    assert_eq!(reply.subject, "Re: Return policy");
    assert_eq!(reply.in_reply_to, std::slice::from_ref(&first));
    assert_eq!(reply.references, std::slice::from_ref(&first));
    let reply_id = reply
        .message_id
        .clone()
        .expect("the reply has a Message-ID");
    assert!(
        reply_id.ends_with("@shop.test"),
        "the Message-ID is on the store's domain: {reply_id}"
    );
    assert!(
        reply.text.contains("30"),
        "the return window is answered: {}",
        reply.text
    );
    assert!(
        reply.text.contains("Sources:") && reply.text.contains("http"),
        "with its source linked: {}",
        reply.text
    );
    assert_eq!(
        raw_header(&raw, "Auto-Submitted"),
        Some("auto-replied"),
        "marked automatic so other responders leave it alone"
    );
    let conversation = conversation_of(&first);
    assert_eq!(
        app()
            .0
            .assistant
            .journal
            .conversation(&conversation)
            .unwrap()
            .unwrap()
            .channel,
        "email"
    );

    // The customer answers the answer (quoting it, as mail clients do).
    let second = unique("refund-time");
    let quoted: String = reply.text.lines().map(|l| format!("> {l}\n")).collect();
    let body = format!("And how long does the refund take once you get it back?\n\nOn Tue, 4 Nov 2025 at 10:01, Larkfield Goods <support@shop.test> wrote:\n{quoted}");
    smtp_send(
        Some(CUSTOMER.0),
        "support@shop.test",
        &customer_mail(
            CUSTOMER.0,
            &second,
            "Re: Return policy",
            &format!("In-Reply-To: <{reply_id}>\nReferences: <{first}> <{reply_id}>\n"),
            &body,
        ),
    );
    let (reply2, _) = wait_for(CUSTOMER, "In-Reply-To", &second);
    assert_eq!(
        conversation_of(&second),
        conversation,
        "the reply to our reply is in the same conversation"
    );
    assert_eq!(reply2.subject, "Re: Return policy", "no \"Re: Re:\"");
    assert_eq!(
        reply2.references,
        [first.clone(), reply_id.clone(), second.clone()]
    );
    assert!(
        reply2.text.to_lowercase().contains("refund"),
        "{}",
        reply2.text
    );
    let turns = app().0.assistant.journal.turns(&conversation).unwrap();
    let asked: Vec<&str> = turns
        .iter()
        .filter(|t| t.role == "customer")
        .map(|t| t.text.as_str())
        .collect();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert_eq!(
        asked[1], "And how long does the refund take once you get it back?",
        "the quoted history and signature are not part of the question"
    );
}

#[test]
fn auto_replies_and_bounces_get_no_answer() {
    app();
    let auto = unique("out-of-office");
    smtp_send(
        Some(CUSTOMER.0),
        "support@shop.test",
        &customer_mail(
            CUSTOMER.0,
            &auto,
            "Automatic reply: Re: Return policy",
            "Auto-Submitted: auto-replied\n",
            "I am out of the office until Monday.",
        ),
    );
    let bounce = unique("bounce");
    let bounce_mail = format!(
        "From: Mail Delivery System <MAILER-DAEMON@customer.test>\nTo: support@shop.test\nSubject: Undelivered Mail Returned to Sender\nMessage-ID: <{bounce}>\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"r\"\n\n--r\nContent-Type: text/plain\n\nYour message could not be delivered.\n--r\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; customer.test\n\nFinal-Recipient: rfc822; gone@customer.test\nAction: failed\nStatus: 5.1.1\n--r--\n"
    );
    smtp_send(None, "support@shop.test", &bounce_mail);
    // A person's mail sent after them: once it is answered, the two before it were handled.
    let person = unique("after-the-robots");
    smtp_send(
        Some(CUSTOMER.0),
        "support@shop.test",
        &customer_mail(
            CUSTOMER.0,
            &person,
            "Gift cards",
            "",
            "Do your gift cards expire?",
        ),
    );
    wait_for(CUSTOMER, "In-Reply-To", &person);
    std::thread::sleep(Duration::from_secs(3));
    for id in [&auto, &bounce] {
        assert!(
            rt().block_on(imap_search(CUSTOMER, "In-Reply-To", id))
                .is_empty(),
            "{id} was answered"
        );
        assert!(
            app().0.assistant.journal.email(id).unwrap().is_none(),
            "{id} started no conversation"
        );
    }
}

#[test]
fn the_from_address_verifies_the_order_unless_authentication_failed() {
    app();
    let order = shopkeep::orders::OrderStore::order(app().0.assistant.orders.as_ref(), "LF-100001")
        .unwrap()
        .unwrap();
    let tracking = order
        .fulfilments
        .first()
        .map(|f| f.tracking_number.clone())
        .expect("LF-100001 has shipped with tracking");

    // From the order's own address: the From is the email half of "order number + email".
    let genuine = unique("genuine");
    let results = "Authentication-Results: mx.shop.test; spf=pass smtp.mailfrom=example.com; dkim=pass header.d=example.com; dmarc=pass header.from=example.com\n";
    smtp_send(
        Some("maya.chen@example.com"),
        "support@shop.test",
        &customer_mail(
            "Maya Chen <maya.chen@example.com>",
            &genuine,
            "Where is my order LF-100001?",
            results,
            "Hi, where is my order LF-100001?",
        ),
    );
    let (reply, _) = wait_for(DEMO_CUSTOMERS, "In-Reply-To", &genuine);
    assert!(
        reply.text.contains(&tracking),
        "a verified sender gets the status: {}",
        reply.text
    );

    // The same From, forged: DMARC failed at the store's server, so no order data.
    let forged = unique("forged");
    let results = "Authentication-Results: mx.shop.test; spf=fail smtp.mailfrom=example.com; dkim=none; dmarc=fail (p=reject) header.from=example.com\n";
    smtp_send(
        Some("attacker@customer.test"),
        "support@shop.test",
        &customer_mail(
            "Maya Chen <maya.chen@example.com>",
            &forged,
            "Where is my order LF-100001?",
            results,
            "Hi, where is my order LF-100001?",
        ),
    );
    let (reply, _) = wait_for(DEMO_CUSTOMERS, "In-Reply-To", &forged);
    assert!(
        !reply.text.contains(&tracking) && !reply.text.contains("on its way"),
        "no order data for a forged sender: {}",
        reply.text
    );
    assert!(
        reply.text.contains("email address"),
        "it asks for proof instead: {}",
        reply.text
    );
}

#[test]
fn a_hand_off_reaches_the_helpdesk_and_a_persons_reply_reaches_the_customer_in_the_thread() {
    let (_, url) = app();
    let asked = unique("wants-a-person");
    smtp_send(
        Some(CUSTOMER.0),
        "support@shop.test",
        &customer_mail(
            CUSTOMER.0,
            &asked,
            "Damaged lamp",
            "",
            "My lamp arrived broken. I want to talk to a real person please.",
        ),
    );
    let (reply, _) = wait_for(CUSTOMER, "In-Reply-To", &asked);
    let handoff = app()
        .0
        .assistant
        .journal
        .handoffs_with_status("open")
        .unwrap()
        .into_iter()
        .find(|h| h.conversation_id == conversation_of(&asked))
        .expect("handed off");
    assert!(
        reply.text.contains(&handoff.id),
        "the customer gets the reference: {}",
        reply.text
    );

    // The team's helpdesk gets the packet, with Reply-To the customer.
    let (forward, raw) = wait_for(HELPDESK, "Subject", &handoff.id);
    assert!(
        raw_header(&raw, "Reply-To").is_some_and(|r| r.contains(CUSTOMER.0)),
        "{raw}"
    );
    assert!(
        forward.text.contains("Transcript:") && forward.text.contains("My lamp arrived broken"),
        "{}",
        forward.text
    );

    // A person answers through the API; the customer gets it by email, threaded, not automatic.
    let res = reqwest::blocking_post(
        &format!("{url}/v1/handoffs/{}/reply", handoff.id),
        json!({"message": "Hi, this is Priya. A replacement is on its way.", "agent": "Priya"}),
    );
    assert_eq!(res.0, 201, "{}", res.1);
    let emailed = res.1["emailed"]
        .as_str()
        .expect("the reply was emailed")
        .to_string();
    let (personal, raw) = wait_for(CUSTOMER, "Message-ID", &emailed);
    assert_eq!(personal.in_reply_to, std::slice::from_ref(&asked));
    assert_eq!(personal.subject, "Re: Damaged lamp");
    assert!(
        personal.text.contains("A replacement is on its way.") && personal.text.contains("Priya"),
        "{}",
        personal.text
    );
    assert_eq!(
        raw_header(&raw, "Auto-Submitted"),
        None,
        "a person's reply is not automatic"
    );

    // The customer writes back: the conversation stays with the person, and the helpdesk hears
    // of the new mail under the hand-off's reference.
    let again = unique("writes-back");
    let threading = format!("In-Reply-To: <{emailed}>\nReferences: <{asked}> <{emailed}>\n");
    smtp_send(
        Some(CUSTOMER.0),
        "support@shop.test",
        &customer_mail(
            CUSTOMER.0,
            &again,
            "Re: Damaged lamp",
            &threading,
            "Thanks! Will it come with a new shade too?",
        ),
    );
    let (follow, raw) = wait_for(HELPDESK, "Subject", &format!("[{}] Follow-up", handoff.id));
    assert!(
        follow.text.contains("Will it come with a new shade too?"),
        "{}",
        follow.text
    );
    assert!(
        raw_header(&raw, "Reply-To").is_some_and(|r| r.contains(CUSTOMER.0)),
        "{raw}"
    );
    assert_eq!(conversation_of(&again), conversation_of(&asked));

    // A person answers on the desk's page: that reaches the customer by email too, under the
    // mail they just wrote, beside the assistant's note that a person has it.
    let mut desk = Visitor::new(url);
    assert_eq!(desk.login(DESK_AGENT, DESK_PASSWORD).status, 303);
    let csrf = desk.csrf();
    let r = desk.post(
        &format!("/admin/handoffs/{}/reply", handoff.id),
        &[
            ("csrf", &csrf),
            ("message", "The new shade ships separately tomorrow."),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.text);
    let start = Instant::now();
    let from_desk = loop {
        let found = rt().block_on(imap_search(CUSTOMER, "In-Reply-To", &again));
        if let Some(m) = found
            .iter()
            .map(|raw| parse(raw).unwrap())
            .find(|m| m.text.contains("The new shade ships separately tomorrow."))
        {
            break m;
        }
        assert!(
            start.elapsed() < WAIT,
            "the desk's reply never reached the customer"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(from_desk.subject, "Re: Damaged lamp");
}

#[test]
fn the_inbound_webhook_takes_raw_mime_behind_its_secret() {
    let (_, url) = app();
    let id = unique("webhook");
    let raw = customer_mail(CUSTOMER.0, &id, "Shipping", "", "Do you ship to Canada?");
    let post = |key: Option<&str>, content_type: &str, body: Vec<u8>| {
        rt().block_on(async {
            let mut req = reqwest::Client::new()
                .post(format!("{url}/v1/email/inbound"))
                .header("content-type", content_type)
                .body(body);
            if let Some(k) = key {
                req = req.header("x-shopkeep-key", k);
            }
            let res = req.send().await.unwrap();
            (
                res.status().as_u16(),
                res.json::<Value>().await.unwrap_or(Value::Null),
            )
        })
    };
    let (status, v) = post(
        Some("wrong-secret"),
        "message/rfc822",
        raw.clone().into_bytes(),
    );
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let (status, v) = post(
        Some(INBOUND_SECRET),
        "message/rfc822",
        raw.clone().into_bytes(),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["outcome"], "answered", "{v}");
    assert_eq!(v["sent"], true, "{v}");
    let (reply, _) = wait_for(CUSTOMER, "In-Reply-To", &id);
    assert_eq!(
        (reply.subject.as_str(), reply.references.as_slice()),
        ("Re: Shipping", &[id.clone()][..])
    );
    // The same message again (a provider's retry) is not answered twice.
    let (status, v) = post(Some(INBOUND_SECRET), "message/rfc822", raw.into_bytes());
    assert_eq!(
        (status, v["outcome"].as_str()),
        (200, Some("ignored")),
        "{v}"
    );

    // SendGrid's raw mode: multipart/form-data with the message in an `email` field.
    let id = unique("form");
    let mail = customer_mail(
        CUSTOMER.0,
        &id,
        "Gift cards",
        "",
        "Can I use two gift cards on one order?",
    );
    let form = format!("--XyZ\r\nContent-Disposition: form-data; name=\"to\"\r\n\r\nsupport@shop.test\r\n--XyZ\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\n{mail}\r\n--XyZ--\r\n");
    let (status, v) = post(
        Some(INBOUND_SECRET),
        "multipart/form-data; boundary=XyZ",
        form.into_bytes(),
    );
    assert_eq!(
        (status, v["outcome"].as_str()),
        (200, Some("answered")),
        "{v}"
    );
    assert_eq!(v["message_id"], id.as_str());
    let (status, v) = post(Some(INBOUND_SECRET), "message/rfc822", Vec::new());
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (400, Some("invalid_email")),
        "{v}"
    );
}

mod reqwest {
    pub use ::reqwest::*;

    /// POSTs JSON with the admin token; returns the status and the JSON body.
    pub fn blocking_post(url: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        super::rt().block_on(async {
            let res = Client::new()
                .post(url)
                .bearer_auth(super::ADMIN_TOKEN)
                .json(&body)
                .send()
                .await
                .unwrap();
            (
                res.status().as_u16(),
                res.json().await.unwrap_or(serde_json::Value::Null),
            )
        })
    }
}

#[test]
fn every_tls_mode_is_verified_and_an_unverifiable_server_is_refused() {
    require_mail_servers();
    let base = EmailConfig {
        smtp_host: "127.0.0.1".into(),
        imap_host: "127.0.0.1".into(),
        imap_username: CUSTOMER.0.into(),
        imap_password: CUSTOMER.1.into(),
        tls_ca_file: test_ca(),
        ..EmailConfig::default()
    };
    // IMAP with STARTTLS on the plain port, trusting the store's CA.
    let starttls = EmailConfig {
        imap_port: imap_port(),
        imap_tls: TlsMode::Starttls,
        ..base.clone()
    };
    let mut session = rt()
        .block_on(shopkeep::email::imap::connect(&starttls))
        .expect("STARTTLS, then login");
    rt().block_on(session.logout()).unwrap();
    // TLS from the first byte, but only the public roots: the certificate does not verify, and
    // the password is never sent.
    let unverified = EmailConfig {
        imap_port: imaps_port(),
        imap_tls: TlsMode::Tls,
        tls_ca_file: String::new(),
        ..base.clone()
    };
    let e = rt()
        .block_on(shopkeep::email::imap::connect(&unverified))
        .expect_err("an unknown issuer is refused")
        .to_string();
    assert!(
        e.contains("TLS") && e.to_lowercase().contains("certificate"),
        "{e}"
    );

    // SMTP with TLS from the first byte: the mail arrives.
    let mail = |id: &str| Outgoing {
        from: "support@shop.test".into(),
        from_name: None,
        to: CUSTOMER.0.into(),
        reply_to: None,
        subject: "Your order".into(),
        message_id: id.into(),
        in_reply_to: None,
        references: vec![],
        text: "Sent over TLS.".into(),
        automatic: true,
    };
    let id = format!("tls.{}@shop.test", uuid::Uuid::new_v4().simple());
    let wrapped = SmtpMailer::new(&EmailConfig {
        smtp_port: smtps_port(),
        smtp_tls: TlsMode::Tls,
        ..base.clone()
    })
    .unwrap();
    rt().block_on(wrapped.send(&mail(&id)))
        .expect("sent over TLS");
    let (got, _) = wait_for(CUSTOMER, "Message-ID", &id);
    assert_eq!(got.text.trim(), "Sent over TLS.");
    // STARTTLS with only the public roots: refused, not sent in the clear instead.
    let unverified = SmtpMailer::new(&EmailConfig {
        smtp_port: smtp_port(),
        smtp_tls: TlsMode::Starttls,
        tls_ca_file: String::new(),
        ..base
    })
    .unwrap();
    let refused = format!("refused.{}@shop.test", uuid::Uuid::new_v4().simple());
    assert!(rt().block_on(unverified.send(&mail(&refused))).is_err());
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        rt().block_on(imap_search(CUSTOMER, "Message-ID", &refused))
            .is_empty(),
        "nothing went out unprotected"
    );
}
