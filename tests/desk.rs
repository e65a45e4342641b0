//! The team's desk, end to end on a real server (loopback, port 0, the real model and the demo
//! store): signing in (argon2 passwords, the session cookie's attributes, wrong passwords, the
//! rate limit per address, expiry and logout), CSRF on every form, roles (an agent cannot undo
//! an action), per-user API tokens, claiming and resolving with conflicts, the conversation
//! log's filters and search, and, in two real headless browsers, a person signing in, opening
//! the queue and replying, and the customer seeing the reply in the chat widget.
//!
//! The browser test needs chromium and chromedriver (scripts/test.sh installs them).

mod browser;
mod common;

use shopkeep::{
    answer::HandoffReason,
    journal::{HandoffPacket, PacketReason},
};
use std::{
    net::IpAddr,
    sync::{Arc, OnceLock},
};

use browser::{Browser, WIDGET};
use common::{
    rt, serve,
    visitor::{csrf_of, enc, Reply, Visitor},
};
use serde_json::{json, Value};
use shopkeep::{
    app::App,
    desk::accounts::{Accounts, Limits, Role},
};

const PASSWORD: &str = "a long enough test password";
const AGENT: &str = "priya@example.com";
const AGENT_2: &str = "sam@example.com";
const ADMIN: &str = "ada@example.com";

fn app() -> Arc<App> {
    static APP: OnceLock<(tempfile::TempDir, Arc<App>)> = OnceLock::new();
    APP.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = common::demo_config(dir.path());
        cfg.identity.token_secret = "desk-test-secret".into();
        // Tests share 127.0.0.1: the limit itself is tested on an app of its own.
        cfg.admin.login_failures = 1000;
        // Likewise the hourly cap on new hand-offs per client (its own tests are elsewhere).
        cfg.handoff.max_per_client_per_hour = 1000;
        // A store on Berlin time selling in euros: the desk shows times and amounts in them.
        cfg.store.timezone = "Europe/Berlin".into();
        cfg.store.currency = "EUR".into();
        let app = Arc::new(App::with_embedder(cfg, common::model_dyn()).expect("app opens"));
        app.accounts
            .create_user(AGENT, Some("Priya"), Role::Agent, PASSWORD)
            .unwrap();
        app.accounts
            .create_user(AGENT_2, Some("Sam"), Role::Agent, PASSWORD)
            .unwrap();
        app.accounts
            .create_user(ADMIN, Some("Ada"), Role::Admin, PASSWORD)
            .unwrap();
        (dir, app)
    })
    .1
    .clone()
}

fn server() -> String {
    static BASE: OnceLock<String> = OnceLock::new();
    BASE.get_or_init(|| serve(app())).clone()
}

fn api(method: reqwest::Method, path: &str, token: &str, body: Option<Value>) -> Reply {
    let url = format!("{}{path}", server());
    rt().block_on(async {
        let mut req = reqwest::Client::new()
            .request(method, url)
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let (status, headers) = (r.status().as_u16(), r.headers().clone());
        Reply {
            status,
            headers,
            text: r.text().await.unwrap(),
        }
    })
}

fn answer(req: Value) -> Value {
    let url = format!("{}/v1/answer", server());
    rt().block_on(async {
        reqwest::Client::new()
            .post(url)
            .json(&req)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    })
}

/// A hand-off straight in the journal (no model needed): its id.
fn handoff() -> String {
    let journal = &app().assistant.journal;
    let conversation = uuid_like();
    journal.create(&conversation, "widget").unwrap();
    journal
        .open_handoff(&customer_asked(&conversation, "a person please"))
        .unwrap()
}

/// The packet of a customer who asked for a person, having said `said`.
fn customer_asked(conversation: &str, said: &str) -> HandoffPacket {
    HandoffPacket::new(conversation, HandoffReason::CustomerAsked).with_line("customer", said)
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "desk-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn token(email: &str) -> String {
    app().accounts.create_token(email).unwrap()
}

// --- Signing in ----------------------------------------------------------------------------------

#[test]
fn a_wrong_password_is_refused_and_the_right_one_opens_a_strict_http_only_session() {
    let mut v = Visitor::new(&server());
    let r = v.get("/admin/handoffs");
    assert_eq!(
        (r.status, r.location()),
        (303, "/admin/login"),
        "pages need a session"
    );

    let r = v.login(AGENT, "not the password at all");
    assert_eq!(r.status, 401);
    assert!(r.text.contains("Wrong email or password"));
    let r = v.login("nobody@example.com", PASSWORD);
    assert_eq!(
        r.status, 401,
        "an unknown email reads the same as a wrong password"
    );

    let r = v.login(AGENT, PASSWORD);
    assert_eq!(
        (r.status, r.location()),
        (303, "/admin/handoffs"),
        "{}",
        r.text
    );
    let session = r
        .cookies()
        .into_iter()
        .find(|c| c.starts_with("shopkeep_desk="))
        .expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/admin", "Max-Age="] {
        assert!(session.contains(attribute), "{attribute} in {session}");
    }
    assert!(
        !session.contains("Secure"),
        "plain http here (admin.secure_cookies is off)"
    );
    let value = session
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1;
    assert_eq!(value.len(), 64, "256 random bits, hex");

    let page = v.get("/admin/handoffs");
    assert_eq!(page.status, 200);
    assert!(page.text.contains(AGENT) && page.text.contains("(agent)"));
    assert_eq!(page.headers["cache-control"], "no-store");
    assert!(page.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
}

#[test]
fn the_login_form_and_every_signed_in_form_need_their_csrf_token() {
    let mut v = Visitor::new(&server());
    // Posting the login form without having loaded it (no double-submit cookie).
    let r = v.post(
        "/admin/login",
        &[("csrf", "guess"), ("email", AGENT), ("password", PASSWORD)],
    );
    assert_eq!(r.status, 403);

    assert_eq!(v.login(AGENT, PASSWORD).status, 303);
    let id = handoff();
    let claim = format!("/admin/handoffs/{id}/claim");
    let r = v.post(&claim, &[]);
    assert_eq!(r.status, 403, "no token");
    assert!(r.text.contains("csrf_failed"));
    let r = v.post(
        &claim,
        &[(
            "csrf",
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        )],
    );
    assert_eq!(r.status, 403, "a wrong token");
    assert_eq!(
        app()
            .assistant
            .journal
            .handoff(&id)
            .unwrap()
            .unwrap()
            .status,
        "open",
        "nothing happened"
    );

    let csrf = v.csrf();
    let r = v.post(&claim, &[("csrf", &csrf)]);
    assert_eq!(
        (r.status, r.location()),
        (303, format!("/admin/handoffs/{id}").as_str())
    );
    let h = app().assistant.journal.handoff(&id).unwrap().unwrap();
    assert_eq!(
        (h.status.as_str(), h.claimed_by.as_deref()),
        ("claimed", Some(AGENT))
    );

    // Another person's session token does not work in this session.
    let mut other = Visitor::new(&server());
    assert_eq!(other.login(AGENT_2, PASSWORD).status, 303);
    let r = other.post(&format!("/admin/handoffs/{id}/resolve"), &[("csrf", &csrf)]);
    assert_eq!(r.status, 403);
}

#[test]
fn logout_ends_the_session_and_sessions_expire() {
    let mut v = Visitor::new(&server());
    assert_eq!(v.login(AGENT, PASSWORD).status, 303);
    let old_cookies = v.cookies.clone();
    let csrf = v.csrf();
    let r = v.post("/admin/logout", &[("csrf", &csrf)]);
    assert_eq!((r.status, r.location()), (303, "/admin/login"));
    assert!(
        r.cookies()
            .iter()
            .any(|c| c.starts_with("shopkeep_desk=;") && c.contains("Max-Age=0")),
        "{:?}",
        r.cookies()
    );
    // Even with the old cookie kept, the session is gone on the server.
    v.cookies = old_cookies;
    let r = v.get("/admin/handoffs");
    assert_eq!((r.status, r.location()), (303, "/admin/login"));

    // Expiry, at the clock the store is given.
    let accounts = Accounts::open_in_memory(Limits {
        session_secs: 60,
        ..Limits::default()
    })
    .unwrap();
    accounts
        .create_user(AGENT, None, Role::Agent, PASSWORD)
        .unwrap();
    let ip: IpAddr = "10.0.0.1".parse().unwrap();
    let (id, session) = accounts.login(AGENT, PASSWORD, ip, 1_000).unwrap();
    assert_eq!(session.expires_at, 1_060);
    assert!(accounts.session(&id, 1_059).unwrap().is_some());
    assert!(accounts.session(&id, 1_060).unwrap().is_none(), "expired");
    assert!(
        accounts.session(&id, 1_000).unwrap().is_none(),
        "and removed"
    );
}

#[test]
fn failed_logins_are_limited_per_client_address() {
    let limits = Limits {
        login_failures: 3,
        login_window_secs: 60,
        ..Limits::default()
    };
    let accounts = Accounts::open_in_memory(limits).unwrap();
    accounts
        .create_user(AGENT, None, Role::Agent, PASSWORD)
        .unwrap();
    let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
    for _ in 0..3 {
        assert_eq!(
            accounts
                .login(AGENT, "wrong password!!", a, 100)
                .unwrap_err()
                .code(),
            "invalid_credentials"
        );
    }
    let e = accounts.login(AGENT, PASSWORD, a, 110).unwrap_err();
    assert_eq!(
        e.code(),
        "too_many_attempts",
        "even the right password waits"
    );
    assert!(
        accounts.login(AGENT, PASSWORD, b, 110).is_ok(),
        "another address is not affected"
    );
    assert!(
        accounts.login(AGENT, PASSWORD, a, 161).is_ok(),
        "after the window"
    );

    // Over HTTP: 429 with Retry-After, on an app of its own (the shared one serves every test
    // from 127.0.0.1).
    let base = app();
    let own = Arc::new(
        Accounts::open_in_memory(Limits {
            login_failures: 2,
            login_window_secs: 600,
            ..Limits::default()
        })
        .unwrap(),
    );
    own.create_user(AGENT, None, Role::Agent, PASSWORD).unwrap();
    let limited = serve(Arc::new(App {
        config: base.config.clone(),
        assistant: base.assistant.clone(),
        live: base.live.clone(),
        email: None,
        accounts: own,
    }));
    let mut v = Visitor::new(&limited);
    assert_eq!(v.login(AGENT, "wrong password!!").status, 401);
    assert_eq!(v.login(AGENT, "wrong password!!").status, 401);
    let r = v.login(AGENT, PASSWORD);
    assert_eq!(r.status, 429);
    assert!(r.headers.get("retry-after").is_some());
}

#[test]
fn parallel_guesses_are_counted_before_they_are_checked() {
    // 100 guesses at once from one address: only the first `login_failures` are evaluated
    // (each costs argon2's 19 MiB); the rest are refused before any password work.
    let accounts = Arc::new(Accounts::open_in_memory(Limits::default()).unwrap());
    accounts
        .create_user(AGENT, None, Role::Agent, PASSWORD)
        .unwrap();
    let ip: IpAddr = "10.0.5.1".parse().unwrap();
    let codes: Vec<&'static str> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..100)
            .map(|_| {
                s.spawn(|| {
                    accounts
                        .login(AGENT, "wrong password!!", ip, 100)
                        .unwrap_err()
                        .code()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let evaluated = codes
        .iter()
        .filter(|c| **c == "invalid_credentials")
        .count();
    assert_eq!(evaluated, Limits::default().login_failures, "{codes:?}");
    assert_eq!(
        codes.iter().filter(|c| **c == "too_many_attempts").count(),
        100 - evaluated
    );
}

#[test]
fn signing_in_to_ones_own_account_does_not_reset_guesses_at_another() {
    let limits = Limits::new(3600, 5, 300);
    let accounts = Accounts::open_in_memory(limits).unwrap();
    accounts
        .create_user(AGENT, None, Role::Agent, PASSWORD)
        .unwrap();
    accounts
        .create_user("mallory@example.com", None, Role::Agent, PASSWORD)
        .unwrap();
    let ip: IpAddr = "10.0.6.1".parse().unwrap();
    for _ in 0..4 {
        assert_eq!(
            accounts
                .login(AGENT, "wrong password!!", ip, 100)
                .unwrap_err()
                .code(),
            "invalid_credentials"
        );
    }
    // The guesser signs in to their own account from the same address...
    assert!(accounts
        .login("mallory@example.com", PASSWORD, ip, 101)
        .is_ok());
    // ...which does not buy more guesses: the fifth fails, and then the address waits.
    assert_eq!(
        accounts
            .login(AGENT, "wrong password!!", ip, 102)
            .unwrap_err()
            .code(),
        "invalid_credentials"
    );
    assert_eq!(
        accounts.login(AGENT, PASSWORD, ip, 103).unwrap_err().code(),
        "too_many_attempts"
    );
}

#[test]
fn guessing_one_persons_password_from_many_addresses_is_stopped() {
    let limits = Limits::new(3600, 5, 300);
    let accounts = Accounts::open_in_memory(limits).unwrap();
    accounts
        .create_user(AGENT, None, Role::Agent, PASSWORD)
        .unwrap();
    for i in 0..limits.account_failures {
        let ip: IpAddr = format!("10.0.7.{i}").parse().unwrap();
        assert_eq!(
            accounts
                .login(AGENT, "wrong password!!", ip, 100)
                .unwrap_err()
                .code(),
            "invalid_credentials"
        );
    }
    let fresh: IpAddr = "10.0.8.1".parse().unwrap();
    assert_eq!(
        accounts
            .login(AGENT, PASSWORD, fresh, 101)
            .unwrap_err()
            .code(),
        "too_many_attempts",
        "the account waits too"
    );
    assert!(
        accounts.login(AGENT, PASSWORD, fresh, 401).is_ok(),
        "after the window"
    );
}

#[test]
fn the_cli_creates_users_from_stdin_and_prints_their_tokens() {
    use std::{
        io::Write,
        process::{Command, Stdio},
    };
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], stdin: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_shopkeep"))
            .arg("--data-dir")
            .arg(dir.path())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let create = [
        "admin",
        "create-user",
        "--email",
        "Ada@Example.com",
        "--role",
        "admin",
        "--name",
        "Ada",
        "--password-stdin",
    ];
    let (ok, out, err) = run(&create, &format!("{PASSWORD}\n"));
    assert!(ok, "{out}{err}");
    assert!(out.contains("created ada@example.com (admin)"), "{out}");
    let (ok, _, err) = run(&create, &format!("{PASSWORD}\n"));
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, _, err) = run(
        &[
            "admin",
            "create-user",
            "--email",
            "x@example.com",
            "--password-stdin",
        ],
        "short\n",
    );
    assert!(!ok && err.contains("at least 12"), "{err}");

    let (ok, token, err) = run(&["admin", "create-token", "--email", "ada@example.com"], "");
    assert!(ok, "{err}");
    let token = token.trim();
    let accounts = Accounts::open(
        &common::demo_config(dir.path()).database_path(),
        Limits::default(),
    )
    .unwrap();
    let staff = accounts
        .staff_for_token(token)
        .unwrap()
        .expect("the printed token works");
    assert_eq!(
        (staff.email.as_str(), staff.role),
        ("ada@example.com", Role::Admin)
    );
    let ip: IpAddr = "10.0.0.9".parse().unwrap();
    assert!(
        accounts.login("ada@example.com", PASSWORD, ip, 0).is_ok(),
        "the password from stdin, without its newline"
    );
}

// --- Roles and tokens ----------------------------------------------------------------------------

#[test]
fn per_user_tokens_act_as_their_user_with_their_role() {
    let agent = token(AGENT);
    assert!(agent.starts_with("skd_"));
    let me = api(reqwest::Method::GET, "/v1/admin/me", &agent, None);
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(
        (me.json()["email"].as_str(), me.json()["role"].as_str()),
        (Some(AGENT), Some("agent"))
    );
    assert_eq!(
        api(reqwest::Method::GET, "/v1/handoffs", &agent, None).status,
        200
    );

    let r = api(
        reqwest::Method::GET,
        "/v1/admin/me",
        "skd_0000000000000000000000000000000000000000000000000000000000000000",
        None,
    );
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    assert_eq!(r.headers["www-authenticate"], "Bearer");

    let r = api(reqwest::Method::GET, "/v1/admin/users", &agent, None);
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "user management is for admins"
    );
    let r = api(reqwest::Method::GET, "/v1/admin/users", &token(ADMIN), None);
    assert_eq!(r.status, 200);
    assert!(r.json()["users"]
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u.get("password_hash").is_none()));

    // A reply sent with a user's token is signed with their name.
    let id = handoff();
    let r = api(
        reqwest::Method::POST,
        &format!("/v1/handoffs/{id}/reply"),
        &agent,
        Some(json!({"message": "Hi, Priya here."})),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["turn"]["detail"]["agent"], "Priya");
}

#[test]
fn an_agent_cannot_undo_an_action_and_an_admin_can_once() {
    let first = answer(
        json!({"message": "Please cancel order LF-100003, my email is maya.chen@example.com", "channel": "widget"}),
    );
    assert_eq!(first["awaiting_confirmation"], true, "{first}");
    let done = answer(
        json!({"message": "yes", "conversation_id": first["conversation_id"], "channel": "widget"}),
    );
    assert!(!done["actions"].as_array().unwrap().is_empty(), "{done}");
    let log = api(
        reqwest::Method::GET,
        "/v1/admin/actions",
        &token(AGENT),
        None,
    );
    assert_eq!(log.status, 200);
    let action = log.json()["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "cancel_order" && a["status"] == "executed")
        .expect("logged")["id"]
        .as_str()
        .unwrap()
        .to_string();

    let revert = format!("/v1/admin/actions/{action}/revert");
    let r = api(reqwest::Method::POST, &revert, &token(AGENT), None);
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    // Nor through the page, with a valid CSRF token.
    let mut v = Visitor::new(&server());
    assert_eq!(v.login(AGENT, PASSWORD).status, 303);
    let actions = v.get("/admin/actions");
    assert!(
        actions.text.contains(&action) && !actions.text.contains("Undo"),
        "no undo button for agents"
    );
    let csrf = v.csrf();
    assert_eq!(
        v.post(
            &format!("/admin/actions/{action}/revert"),
            &[("csrf", &csrf)]
        )
        .status,
        403
    );

    let mut admin = Visitor::new(&server());
    assert_eq!(admin.login(ADMIN, PASSWORD).status, 303);
    assert!(admin.get("/admin/actions").text.contains("Undo"));
    let csrf = admin.csrf();
    let r = admin.post(
        &format!("/admin/actions/{action}/revert"),
        &[("csrf", &csrf)],
    );
    assert_eq!(
        (r.status, r.location()),
        (303, "/admin/actions"),
        "{}",
        r.text
    );
    let r = api(reqwest::Method::POST, &revert, &token(ADMIN), None);
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (409, Some("action_not_revertible")),
        "already undone"
    );
    let r = api(
        reqwest::Method::POST,
        "/v1/admin/actions/ACT-NOSUCH/revert",
        &token(ADMIN),
        None,
    );
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (404, Some("action_not_found"))
    );
}

// --- Claim and resolve ---------------------------------------------------------------------------

#[test]
fn a_claimed_hand_off_is_a_conflict_for_another_agent() {
    let (priya, sam) = (token(AGENT), token(AGENT_2));
    let id = handoff();
    let post = |path: &str, t: &str| {
        api(
            reqwest::Method::POST,
            &format!("/v1/handoffs/{id}/{path}"),
            t,
            None,
        )
    };
    let r = post("claim", &priya);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.json()["status"].as_str(), r.json()["claimed_by"].as_str()),
        (Some("claimed"), Some(AGENT))
    );
    let r = post("claim", &sam);
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (409, Some("handoff_claimed"))
    );
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains(AGENT));
    assert_eq!(post("resolve", &sam).status, 409);
    let r = post("resolve", &priya);
    assert_eq!(
        (r.status, r.json()["status"].as_str()),
        (200, Some("resolved"))
    );
    assert_eq!(
        post("resolve", &priya).json()["error"]["code"],
        "handoff_resolved"
    );

    let listed = api(
        reqwest::Method::GET,
        "/v1/handoffs?status=resolved",
        &sam,
        None,
    );
    assert!(listed.json()["handoffs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h["id"] == id.as_str()));
    let open = api(reqwest::Method::GET, "/v1/handoffs", &sam, None);
    assert!(
        !open.json()["handoffs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["id"] == id.as_str()),
        "gone from the open queue"
    );
    assert_eq!(
        api(
            reqwest::Method::GET,
            "/v1/handoffs?status=whatever",
            &sam,
            None
        )
        .status,
        422
    );
    let r = api(
        reqwest::Method::POST,
        "/v1/handoffs/HO-NOSUCH/claim",
        &sam,
        None,
    );
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (404, Some("handoff_not_found"))
    );
}

// --- The conversation log ------------------------------------------------------------------------

#[test]
fn conversations_are_filtered_searched_and_shown_with_their_gate_scores() {
    let marker = "zanzibarquokka";
    let a = answer(
        json!({"message": format!("How long do refunds take? <b>{marker}</b>"), "channel": "widget"}),
    );
    let id = a["conversation_id"].as_str().unwrap().to_string();
    let t = token(AGENT);
    let list = |q: &str| {
        api(
            reqwest::Method::GET,
            &format!("/v1/admin/conversations?{q}"),
            &t,
            None,
        )
    };
    let ids = |r: Reply| {
        r.json()["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(list(&format!("q={marker}"))), vec![id.clone()]);
    assert_eq!(
        ids(list(&format!("q={}", marker.to_uppercase()))),
        vec![id.clone()],
        "case-insensitive"
    );
    assert!(ids(list(&format!("q={marker}&channel=api"))).is_empty());
    assert_eq!(
        ids(list(&format!("q={marker}&channel=widget&outcome=answered"))),
        vec![id.clone()]
    );
    assert!(ids(list(&format!("q={marker}&outcome=handoff"))).is_empty());
    assert!(ids(list(&format!("q={marker}&from=2999-01-01"))).is_empty());
    let today = time::OffsetDateTime::now_utc().date().to_string();
    assert_eq!(
        ids(list(&format!("q={marker}&from={today}&to={today}"))),
        vec![id.clone()]
    );
    assert!(
        ids(list("q=%25")).len() <= ids(list("")).len(),
        "a % is a literal character"
    );
    let r = list("from=yesterday");
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (422, Some("invalid_date"))
    );

    let record = api(
        reqwest::Method::GET,
        &format!("/v1/admin/conversations/{id}"),
        &t,
        None,
    )
    .json();
    let turns = record["turns"].as_array().unwrap();
    assert_eq!(turns.len(), 2);
    let gate = &turns[1]["detail"]["gate"];
    let decision = if gate.is_array() {
        &gate[0]["decision"]
    } else {
        &gate["decision"]
    };
    assert_eq!(decision, "answer", "{record}");
    assert!(!turns[1]["detail"]["citations"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(
        api(
            reqwest::Method::GET,
            "/v1/admin/conversations/nope",
            &t,
            None
        )
        .status,
        404
    );

    // The pages escape what customers wrote.
    let mut v = Visitor::new(&server());
    assert_eq!(v.login(AGENT, PASSWORD).status, 303);
    let page = v.get(&format!("/admin/conversations?q={marker}"));
    assert!(
        page.text.contains(&format!("&lt;b&gt;{marker}&lt;/b&gt;"))
            && !page.text.contains(&format!("<b>{marker}")),
        "{}",
        page.text
    );
    let page = v.get(&format!("/admin/conversations/{id}"));
    assert_eq!(page.status, 200);
    assert!(
        page.text.contains("gate: answer") && page.text.contains("larkfield.example/help/"),
        "gate decisions and citations: {}",
        page.text
    );
}

#[test]
fn metrics_count_outcomes_hand_offs_intents_latency_and_channels() {
    answer(json!({"message": "How long do refunds take?", "channel": "widget"}));
    answer(json!({"message": "I need a human agent", "channel": "api"}));
    let r = api(
        reqwest::Method::GET,
        "/v1/admin/metrics",
        &token(AGENT),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let m = r.json();
    assert!(m["conversations"].as_i64().unwrap() >= 2, "{m}");
    let rate = m["automation_rate"].as_f64().unwrap();
    assert!(rate > 0.0 && rate < 1.0, "{m}");
    assert!(
        m["handoff_reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p[0] == "customer_asked" && p[1].as_i64() >= Some(1)),
        "{m}"
    );
    assert!(
        m["intents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p[0] == "return_policy"),
        "{m}"
    );
    assert!(
        m["latency_p50_ms"].as_u64().is_some()
            && m["latency_p50_ms"].as_u64() <= m["latency_p99_ms"].as_u64(),
        "{m}"
    );
    let channels: Vec<&str> = m["daily"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d[1].as_str().unwrap())
        .collect();
    assert!(
        channels.contains(&"widget") && channels.contains(&"api"),
        "{m}"
    );

    let mut v = Visitor::new(&server());
    assert_eq!(v.login(AGENT, PASSWORD).status, 303);
    let page = v.get("/admin/metrics");
    assert_eq!(page.status, 200);
    assert!(
        page.text.contains("Automation rate")
            && page.text.contains("<meter")
            && page.text.contains("Customer asked for a person"),
        "reasons in words: {}",
        page.text
    );
}

// --- In the browser ------------------------------------------------------------------------------

#[test]
fn a_person_signs_in_opens_the_queue_replies_and_the_customer_sees_it_in_the_widget() {
    browser::executables();
    // The customer asks for a person in the storefront's widget.
    let shopper = Browser::start(1280, 900);
    shopper.goto(&format!("{}/", server()));
    shopper.wait_for(
        "the widget to load",
        &format!("{WIDGET} return !!w && w.hasAttribute('data-ready');"),
    );
    shopper.click(&shopper.exec(&format!("{WIDGET} return $('.sk-launcher');"), vec![]));
    shopper.wait_for(
        "the panel to open",
        &format!("{WIDGET} return !$('.sk-panel').hidden;"),
    );
    let input = shopper.exec(&format!("{WIDGET} return $('#sk-input');"), vec![]);
    shopper.type_into(&input, "I want to speak to a person\u{E007}");
    let handoff = shopper
        .wait_for(
            "the hand-off",
            &format!("{WIDGET} return w.getAttribute('data-handoff');"),
        )
        .as_str()
        .unwrap()
        .to_string();
    shopper.wait_for(
        "the live stream to connect",
        &format!("{WIDGET} return w.getAttribute('data-live') === 'open';"),
    );

    // A person signs in to the desk in a browser of their own.
    let agent = Browser::start(1280, 900);
    agent.goto(&format!("{}/admin/handoffs", server()));
    agent.wait_for(
        "the login page",
        "return location.pathname === '/admin/login' && !!document.getElementById('email');",
    );
    agent.type_into(
        &agent.exec("return document.getElementById('email');", vec![]),
        AGENT,
    );
    agent.type_into(
        &agent.exec("return document.getElementById('password');", vec![]),
        PASSWORD,
    );
    agent.click(&agent.exec(
        "return document.querySelector('form button[type=submit]');",
        vec![],
    ));
    agent.wait_for("the queue", "return location.pathname === '/admin/handoffs' && document.querySelector('h1').textContent === 'Hand-offs';");

    // The queue lists the customer's hand-off; the person opens it, sees the packet and replies.
    let link = agent.wait_for(
        "the hand-off in the queue",
        &format!("return document.querySelector('a[href=\"/admin/handoffs/{handoff}\"]');"),
    );
    agent.click(&link);
    agent.wait_for("the hand-off page", &format!("return location.pathname === '/admin/handoffs/{handoff}' && !!document.getElementById('message');"));
    let packet = agent.exec("return document.querySelector('main').innerText;", vec![]);
    let packet = packet.as_str().unwrap();
    assert!(
        packet.contains("I want to speak to a person")
            && packet.contains("customer_asked")
            && packet.contains("Suggested draft"),
        "{packet}"
    );
    agent.click(&agent.exec("return document.getElementById('claim');", vec![]));
    agent.wait_for("the claim", "return document.getElementById('status') && document.getElementById('status').textContent === 'claimed';");
    agent.type_into(
        &agent.exec("return document.getElementById('message');", vec![]),
        "Hi, this is Priya from the desk. I'm on it.",
    );
    agent.click(&agent.exec("return document.getElementById('send');", vec![]));
    agent.wait_for("the reply in the desk's transcript", "return Array.from(document.querySelectorAll('.turn.agent .text')).some(t => t.textContent.includes('Priya from the desk'));");

    // The customer sees it in the widget, live.
    let shown = shopper.wait_for(
        "the agent's reply in the widget",
        &format!("{WIDGET} const a = $$('.sk-agent').pop(); return a && a.innerText;"),
    );
    assert!(
        shown
            .as_str()
            .unwrap()
            .contains("Hi, this is Priya from the desk"),
        "{shown}"
    );
    assert!(
        shown.as_str().unwrap().contains("Priya"),
        "signed with the agent's name: {shown}"
    );

    // Resolving closes it: it leaves the open queue.
    agent.click(&agent.exec("return document.getElementById('resolve');", vec![]));
    agent.wait_for(
        "the resolution",
        "return document.getElementById('status').textContent === 'resolved';",
    );
    agent.goto(&format!("{}/admin/handoffs", server()));
    assert_eq!(
        agent.exec(
            &format!("return !!document.querySelector('a[href=\"/admin/handoffs/{handoff}\"]');"),
            vec![]
        ),
        false
    );
}

// --- Managing users (admins) ---------------------------------------------------------------------

/// A fresh email for a user made by one test (the app is shared between tests).
fn new_email(label: &str) -> String {
    format!("{label}-{}@example.com", uuid_like())
}

/// The id of the user with `email`, from the admin API.
fn user_id(email: &str) -> i64 {
    let users = api(reqwest::Method::GET, "/v1/admin/users", &token(ADMIN), None).json();
    users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == email)
        .unwrap_or_else(|| panic!("{email} in {users}"))["id"]
        .as_i64()
        .unwrap()
}

/// A visitor signed in as `email`.
fn signed_in(base: &str, email: &str, password: &str) -> Visitor {
    let mut v = Visitor::new(base);
    let r = v.login(email, password);
    assert_eq!(r.status, 303, "{email} signs in: {}", r.text);
    v
}

#[test]
fn an_admin_adds_an_agent_in_the_browser_who_can_then_sign_in() {
    let mut admin = signed_in(&server(), ADMIN, PASSWORD);
    let page = admin.get("/admin/users");
    assert_eq!(page.status, 200);
    assert!(
        page.text.contains("Add a user") && page.text.contains("Last sign-in"),
        "{}",
        page.text
    );
    let csrf = csrf_of(&page.text);
    let email = new_email("new-agent");

    let r = admin.post(
        "/admin/users",
        &[
            ("email", &email),
            ("name", "Noor"),
            ("role", "agent"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(r.status, 403, "no CSRF token, no user");
    let r = admin.post(
        "/admin/users",
        &[
            ("csrf", &csrf),
            ("email", &email),
            ("name", "Noor"),
            ("role", "agent"),
            ("password", "too short"),
        ],
    );
    assert_eq!(r.status, 422);
    assert!(
        r.text.contains("weak_password") && r.text.contains("at least 12"),
        "{}",
        r.text
    );
    let r = admin.post(
        "/admin/users",
        &[
            ("csrf", &csrf),
            ("email", &email),
            ("name", "Noor"),
            ("role", "agent"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(
        (r.status, r.location()),
        (303, "/admin/users"),
        "{}",
        r.text
    );
    let r = admin.post(
        "/admin/users",
        &[
            ("csrf", &csrf),
            ("email", &email),
            ("name", "Noor"),
            ("role", "agent"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(r.status, 409, "the same email twice");

    let page = admin.get("/admin/users");
    let row = page
        .text
        .split("<tr data-user=")
        .find(|r| r.contains(&email))
        .expect("listed");
    assert!(
        row.contains("Noor")
            && row.contains(">agent<")
            && row.contains("active")
            && row.contains("never"),
        "{row}"
    );
    assert!(
        page.text.contains("user_created") && page.text.contains(ADMIN),
        "the audit log says who added them"
    );

    let mut noor = signed_in(&server(), &email, PASSWORD);
    let queue = noor.get("/admin/handoffs");
    assert!(queue.status == 200 && queue.text.contains("(agent)"));
    let listed = api(reqwest::Method::GET, "/v1/admin/users", &token(ADMIN), None).json();
    let noor_row = listed["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == email.as_str())
        .unwrap()
        .clone();
    assert!(noor_row["last_login_at"].is_string(), "{noor_row}");

    // And through the API.
    let api_email = new_email("api-agent");
    let r = api(
        reqwest::Method::POST,
        "/v1/admin/users",
        &token(ADMIN),
        Some(json!({"email": api_email, "role": "agent", "password": PASSWORD})),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        (
            r.json()["user"]["role"].as_str(),
            r.json()["user"]["disabled"].as_bool()
        ),
        (Some("agent"), Some(false))
    );
    let r = api(
        reqwest::Method::POST,
        "/v1/admin/users",
        &token(ADMIN),
        Some(json!({"email": new_email("x"), "role": "owner", "password": PASSWORD})),
    );
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (422, Some("invalid_role"))
    );
    signed_in(&server(), &api_email, PASSWORD);
}

#[test]
fn agents_cannot_reach_user_management() {
    let mut agent = signed_in(&server(), AGENT, PASSWORD);
    let r = agent.get("/admin/users");
    assert_eq!(r.status, 403);
    assert!(r.text.contains("data-code=\"forbidden\""), "{}", r.text);
    assert!(
        !agent
            .get("/admin/handoffs")
            .text
            .contains("href=\"/admin/users\""),
        "no Users link for agents"
    );
    let csrf = agent.csrf();
    let victim = user_id(AGENT_2);
    let r = agent.post(
        "/admin/users",
        &[
            ("csrf", &csrf),
            ("email", &new_email("sneaky")),
            ("role", "admin"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(r.status, 403, "{}", r.text);
    for change in ["role", "disable", "password", "revoke-tokens"] {
        let r = agent.post(
            &format!("/admin/users/{victim}/{change}"),
            &[("csrf", &csrf), ("role", "admin"), ("password", PASSWORD)],
        );
        assert_eq!(r.status, 403, "{change}: {}", r.text);
        assert!(r.text.contains("data-code=\"forbidden\""));
    }

    let t = token(AGENT);
    let r = api(
        reqwest::Method::POST,
        "/v1/admin/users",
        &t,
        Some(json!({"email": new_email("sneaky"), "role": "admin", "password": PASSWORD})),
    );
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let r = api(
        reqwest::Method::POST,
        &format!("/v1/admin/users/{victim}/disable"),
        &t,
        None,
    );
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let r = api(
        reqwest::Method::POST,
        &format!("/v1/admin/users/{}/role", user_id(AGENT)),
        &t,
        Some(json!({"role": "admin"})),
    );
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "not even for themselves"
    );
    assert!(
        signed_in(&server(), AGENT_2, PASSWORD)
            .get("/admin/handoffs")
            .status
            == 200,
        "nothing happened to Sam"
    );
    assert_eq!(
        api(reqwest::Method::GET, "/v1/admin/me", &t, None).json()["role"],
        "agent"
    );
}

#[test]
fn disabling_a_user_ends_their_session_and_token_at_once() {
    let admin = token(ADMIN);
    let email = new_email("leaver");
    let r = api(
        reqwest::Method::POST,
        "/v1/admin/users",
        &admin,
        Some(json!({"email": email, "name": "Lee", "role": "agent", "password": PASSWORD})),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json()["user"]["id"].as_i64().unwrap();
    let their_token = token(&email);
    let mut lee = signed_in(&server(), &email, PASSWORD);
    assert_eq!(lee.get("/admin/handoffs").status, 200);
    assert_eq!(
        api(reqwest::Method::GET, "/v1/admin/me", &their_token, None).status,
        200
    );

    // An admin disables them on the users page.
    let mut ada = signed_in(&server(), ADMIN, PASSWORD);
    let csrf = ada.csrf();
    let r = ada.post(&format!("/admin/users/{id}/disable"), &[("csrf", &csrf)]);
    assert_eq!(
        (r.status, r.location()),
        (303, "/admin/users"),
        "{}",
        r.text
    );
    let r = lee.get("/admin/handoffs");
    assert_eq!(
        (r.status, r.location()),
        (303, "/admin/login"),
        "the open session is over"
    );
    assert_eq!(
        api(reqwest::Method::GET, "/v1/admin/me", &their_token, None).status,
        401,
        "the token stops working"
    );
    assert_eq!(
        Visitor::new(&server()).login(&email, PASSWORD).status,
        401,
        "and they cannot sign in again"
    );
    let page = ada.get("/admin/users");
    let row = page
        .text
        .split("<tr data-user=")
        .find(|r| r.contains(&email))
        .unwrap();
    assert!(row.contains("disabled") && row.contains("Enable"), "{row}");
    assert!(page.text.contains("user_disabled"));

    // Enabled again: the token works again; a new password ends sessions; revoking ends tokens.
    let r = api(
        reqwest::Method::POST,
        &format!("/v1/admin/users/{id}/enable"),
        &admin,
        None,
    );
    assert_eq!(
        (r.status, r.json()["user"]["disabled"].as_bool()),
        (200, Some(false)),
        "{}",
        r.text
    );
    assert_eq!(
        api(reqwest::Method::GET, "/v1/admin/me", &their_token, None).status,
        200
    );
    let mut lee = signed_in(&server(), &email, PASSWORD);
    let new_password = "another long enough password";
    let r = api(
        reqwest::Method::POST,
        &format!("/v1/admin/users/{id}/password"),
        &admin,
        Some(json!({"password": "short"})),
    );
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (422, Some("weak_password"))
    );
    let r = api(
        reqwest::Method::POST,
        &format!("/v1/admin/users/{id}/password"),
        &admin,
        Some(json!({"password": new_password})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        lee.get("/admin/handoffs").status,
        303,
        "signed out by the new password"
    );
    assert_eq!(Visitor::new(&server()).login(&email, PASSWORD).status, 401);
    signed_in(&server(), &email, new_password);
    let r = api(
        reqwest::Method::POST,
        &format!("/v1/admin/users/{id}/revoke-tokens"),
        &admin,
        None,
    );
    assert_eq!(
        (r.status, r.json()["user"]["tokens"].as_i64()),
        (200, Some(0)),
        "{}",
        r.text
    );
    assert_eq!(
        api(reqwest::Method::GET, "/v1/admin/me", &their_token, None).status,
        401
    );

    let r = api(
        reqwest::Method::POST,
        &format!("/v1/admin/users/{id}/promote"),
        &admin,
        None,
    );
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (404, Some("not_found")),
        "each change is a route of its own"
    );
    let r = api(
        reqwest::Method::POST,
        "/v1/admin/users/999999/disable",
        &admin,
        None,
    );
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (404, Some("user_not_found"))
    );
    let audit = api(reqwest::Method::GET, "/v1/admin/users", &admin, None).json()["audit"].clone();
    let about_lee: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["target"] == email.as_str())
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        about_lee,
        [
            "tokens_revoked",
            "password_reset",
            "user_enabled",
            "user_disabled",
            "user_created"
        ],
        "newest first: {audit}"
    );
    assert!(
        !audit.to_string().contains(new_password),
        "passwords never reach the log"
    );
}

#[test]
fn the_last_admin_cannot_demote_or_disable_themselves() {
    // An app of its own: the shared one's admin must stay one for the other tests.
    let base = app();
    let own = Arc::new(Accounts::open_in_memory(Limits::default()).unwrap());
    const BOSS: &str = "boss@example.com";
    let boss = own
        .create_user(BOSS, Some("Bo"), Role::Admin, PASSWORD)
        .unwrap();
    let helper = own
        .create_user("helper@example.com", Some("Hel"), Role::Agent, PASSWORD)
        .unwrap();
    let boss_token = own.create_token(BOSS).unwrap();
    let url = serve(Arc::new(App {
        config: base.config.clone(),
        assistant: base.assistant.clone(),
        live: base.live.clone(),
        email: None,
        accounts: own,
    }));

    let mut bo = signed_in(&url, BOSS, PASSWORD);
    let csrf = bo.csrf();
    for (change, form) in [
        ("role", vec![("csrf", csrf.as_str()), ("role", "agent")]),
        ("disable", vec![("csrf", csrf.as_str())]),
    ] {
        let r = bo.post(&format!("/admin/users/{}/{change}", boss.id), &form);
        assert_eq!(r.status, 409, "{change}: {}", r.text);
        assert!(
            r.text.contains("data-code=\"last_admin\"")
                && r.text.contains("at least one active admin"),
            "a clear error: {}",
            r.text
        );
    }
    let own_api = |path: &str, body: Value| {
        rt().block_on(async {
            reqwest::Client::new()
                .post(format!("{url}{path}"))
                .bearer_auth(&boss_token)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
    };
    assert_eq!(
        own_api(
            &format!("/v1/admin/users/{}/role", boss.id),
            json!({"role": "agent"})
        )["error"]["code"],
        "last_admin"
    );
    assert_eq!(
        own_api(&format!("/v1/admin/users/{}/disable", boss.id), json!({}))["error"]["code"],
        "last_admin"
    );
    assert_eq!(bo.get("/admin/users").status, 200, "still an admin");

    // With a second admin, stepping down is fine, and takes effect in the open session.
    let r = bo.post(
        &format!("/admin/users/{}/role", helper.id),
        &[("csrf", &csrf), ("role", "admin")],
    );
    assert_eq!(r.status, 303, "{}", r.text);
    let r = bo.post(
        &format!("/admin/users/{}/role", boss.id),
        &[("csrf", &csrf), ("role", "agent")],
    );
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(bo.get("/admin/users").status, 403, "an agent now");
    // The helper is now the last admin, with the same protection.
    let mut hel = signed_in(&url, "helper@example.com", PASSWORD);
    let csrf = hel.csrf();
    assert_eq!(
        hel.post(
            &format!("/admin/users/{}/disable", helper.id),
            &[("csrf", &csrf)]
        )
        .status,
        409
    );
}

// --- Paging and full-text search -----------------------------------------------------------------

/// A conversation straight in the journal with one customer turn and one reply.
fn conversation_saying(channel: &str, customer: &str, reply: &str) -> String {
    use shopkeep::journal::{ConversationState, TurnRecord};
    let journal = &app().assistant.journal;
    let id = uuid_like();
    journal.create(&id, channel).unwrap();
    let turn = |role: &str, text: &str| TurnRecord {
        conversation_id: id.clone(),
        role: role.into(),
        text: text.into(),
        intent: None,
        confidence: None,
        detail: shopkeep::journal::TurnDetail::new(),
        latency_ms: None,
    };
    journal
        .record(
            &id,
            &ConversationState::default(),
            "answered",
            &[turn("customer", customer), turn("assistant", reply)],
        )
        .unwrap();
    id
}

#[test]
fn paging_shows_every_conversation_exactly_once_past_two_hundred() {
    // A channel of this test's own keeps other tests' conversations out of the count.
    let channel = "paging-test";
    let mut made: Vec<String> = (0..260).map(|_| uuid_like()).collect();
    for id in &made {
        app().assistant.journal.create(id, channel).unwrap();
    }
    let t = token(AGENT);
    let page = |query: &str| {
        let r = api(
            reqwest::Method::GET,
            &format!("/v1/admin/conversations?channel={channel}{query}"),
            &t,
            None,
        );
        assert_eq!(r.status, 200, "{}", r.text);
        r.json()
    };
    let ids = |p: &Value| {
        p["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };

    // Default pages of 50, newest first; conversations started meanwhile do not shift them.
    let mut seen = Vec::new();
    let mut pages = vec![page("")];
    assert_eq!(pages[0]["prev_cursor"], Value::Null);
    loop {
        let last = pages.last().unwrap().clone();
        assert!(ids(&last).len() <= 50);
        seen.extend(ids(&last));
        app()
            .assistant
            .journal
            .create(&uuid_like(), channel)
            .unwrap();
        match last["next_cursor"].as_str() {
            Some(c) => pages.push(page(&format!("&cursor={c}"))),
            None => break,
        }
    }
    assert_eq!(pages.len(), 6, "260 in pages of 50");
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), seen.len(), "nothing twice");
    made.reverse();
    assert_eq!(seen, made, "every one, newest first");

    // Back again from the end, page by page.
    let mut back = pages.last().unwrap()["prev_cursor"]
        .as_str()
        .map(String::from);
    for expected in pages.iter().rev().skip(1) {
        let p = page(&format!("&newer={}", back.clone().expect("a newer page")));
        assert_eq!(ids(&p), ids(expected));
        back = p["prev_cursor"].as_str().map(String::from);
    }

    // 200 at most a page.
    let big = page("&limit=1000");
    assert_eq!((ids(&big).len(), big["limit"].as_u64()), (200, Some(200)));
    let rest = page(&format!(
        "&limit=200&cursor={}",
        big["next_cursor"].as_str().unwrap()
    ));
    assert_eq!(rest["next_cursor"], Value::Null, "null at the end");
    assert!(ids(&rest).len() >= 60);
    let r = api(
        reqwest::Method::GET,
        "/v1/admin/conversations?cursor=not-a-cursor",
        &t,
        None,
    );
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (422, Some("invalid_cursor"))
    );

    // On the page, the Older link keeps the filters and leads on.
    let mut v = signed_in(&server(), AGENT, PASSWORD);
    let first = v.get(&format!("/admin/conversations?channel={channel}&limit=100"));
    assert_eq!(first.status, 200);
    let marker = "rel=\"next\" href=\"";
    let at = first.text.find(marker).expect("an Older link") + marker.len();
    let older = first.text[at..]
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    assert!(
        older.contains(&format!("channel={channel}"))
            && older.contains("limit=100")
            && older.contains("cursor="),
        "{older}"
    );
    let second = v.get(&older);
    assert_eq!(second.status, 200);
    assert!(
        second.text.contains("rel=\"prev\"") && second.text.contains("Newer"),
        "a way back"
    );
    let r = v.get("/admin/conversations?cursor=zz");
    assert_eq!(r.status, 422);
    assert!(r.text.contains("invalid_cursor"));
}

#[test]
fn full_text_search_finds_words_highlights_them_and_never_fails_on_what_is_typed() {
    let word = format!("quokkafjord{}", std::process::id());
    let id = conversation_saying(
        "widget",
        &format!("<img src=x onerror=alert(1)> My {word} parcel is late"),
        "Sorry to hear that, lighthousekeeper here",
    );
    let t = token(AGENT);
    let search = |q: &str| {
        let r = api(
            reqwest::Method::GET,
            &format!("/v1/admin/conversations?q={}", enc(q)),
            &t,
            None,
        );
        assert_eq!(r.status, 200, "{q:?}: {}", r.text);
        r.json()
    };
    let ids = |p: &Value| {
        p["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let found = search(&word);
    assert_eq!(ids(&found), vec![id.clone()]);
    let snippet = found["conversations"][0]["snippet_html"].as_str().unwrap();
    assert!(
        snippet.contains(&format!("<mark>{word}</mark>"))
            && snippet.contains("&lt;img")
            && !snippet.contains("<img"),
        "{snippet}"
    );
    assert_eq!(
        ids(&search(&word.to_uppercase())),
        vec![id.clone()],
        "any case"
    );
    assert_eq!(
        ids(&search(&word[..8])),
        vec![id.clone()],
        "the last word as a prefix"
    );
    assert_eq!(
        ids(&search(&format!("{word} parcel"))),
        vec![id.clone()],
        "all the words"
    );
    assert!(ids(&search(&format!("{word} umbrella"))).is_empty());
    assert!(
        ids(&search("lighthousekeeper")).contains(&id),
        "replies are searched too"
    );

    for hostile in [
        "\"",
        "*",
        "NEAR(",
        "-",
        "",
        " ",
        "\"\"",
        "NEAR(a b",
        "a AND",
        "OR",
        "-parcel",
        "text:parcel",
        "parcel*)",
        "^",
        "{a b}",
        "'",
        "\\",
        "%",
        "\u{E000}x",
    ] {
        let r = api(
            reqwest::Method::GET,
            &format!("/v1/admin/conversations?q={}", enc(hostile)),
            &t,
            None,
        );
        assert_eq!(r.status, 200, "{hostile:?}: {}", r.text);
    }
    let mut v = signed_in(&server(), AGENT, PASSWORD);
    for hostile in ["\"", "NEAR(", "-", "*"] {
        assert_eq!(
            v.get(&format!("/admin/conversations?q={}", enc(hostile)))
                .status,
            200,
            "{hostile:?}"
        );
    }
    let page = v.get(&format!("/admin/conversations?q={word}"));
    assert!(
        page.text.contains(&format!("<mark>{word}</mark>"))
            && page.text.contains("&lt;img src=x")
            && !page.text.contains("<img src=x"),
        "{}",
        page.text
    );

    // An erased customer's words no longer match.
    let email = format!("erase-me-{}@example.com", std::process::id());
    let gone = format!("zebracrossing{}", std::process::id());
    let erased = conversation_saying(
        "widget",
        &format!("I am {email} and my {gone} order is wrong"),
        "Let me check.",
    );
    assert_eq!(ids(&search(&gone)), vec![erased.clone()]);
    let removed = shopkeep::privacy::erase_customer(
        &app().assistant.journal,
        app().assistant.orders.as_ref(),
        &email,
    )
    .unwrap();
    assert_eq!(removed.conversation_ids, vec![erased]);
    assert!(ids(&search(&gone)).is_empty());
    assert!(
        app()
            .assistant
            .journal
            .turns_matching(&gone)
            .unwrap()
            .is_empty(),
        "not in the index either"
    );
}

#[test]
fn an_admin_adds_a_colleague_with_the_users_page_in_a_browser_and_they_search_the_conversations() {
    browser::executables();
    let word = format!("pelicanbrief{}", std::process::id());
    let id = conversation_saying(
        "widget",
        &format!("Is the {word} lamp back in stock?"),
        "Yes, since Monday.",
    );
    let email = new_email("browser-agent");

    let admin = Browser::start(1280, 900);
    admin.goto(&format!("{}/admin/login", server()));
    admin.wait_for(
        "the login page",
        "return !!document.getElementById('email');",
    );
    admin.type_into(
        &admin.exec("return document.getElementById('email');", vec![]),
        ADMIN,
    );
    admin.type_into(
        &admin.exec("return document.getElementById('password');", vec![]),
        PASSWORD,
    );
    admin.click(&admin.exec(
        "return document.querySelector('form button[type=submit]');",
        vec![],
    ));
    admin.wait_for(
        "the queue",
        "return location.pathname === '/admin/handoffs';",
    );
    admin.click(&admin.exec(
        "return document.querySelector('a[href=\"/admin/users\"]');",
        vec![],
    ));
    admin.wait_for(
        "the users page",
        "return !!document.getElementById('new-email');",
    );
    admin.type_into(
        &admin.exec("return document.getElementById('new-email');", vec![]),
        &email,
    );
    admin.type_into(
        &admin.exec("return document.getElementById('new-name');", vec![]),
        "Bea",
    );
    admin.type_into(
        &admin.exec("return document.getElementById('new-password');", vec![]),
        PASSWORD,
    );
    admin.click(&admin.exec("return Array.from(document.querySelectorAll('button')).find(b => b.textContent === 'Add user');", vec![]));
    let row = admin.wait_for("the new user in the table", &format!("const r = Array.from(document.querySelectorAll('tr[data-user]')).find(r => r.innerText.includes('{email}')); return r && r.innerText;"));
    assert!(
        row.as_str().unwrap().contains("Bea") && row.as_str().unwrap().contains("agent"),
        "{row}"
    );

    // The colleague signs in and finds the conversation by a word from it.
    let bea = Browser::start(1280, 900);
    bea.goto(&format!("{}/admin/login", server()));
    bea.wait_for(
        "the login page",
        "return !!document.getElementById('email');",
    );
    bea.type_into(
        &bea.exec("return document.getElementById('email');", vec![]),
        &email,
    );
    bea.type_into(
        &bea.exec("return document.getElementById('password');", vec![]),
        PASSWORD,
    );
    bea.click(&bea.exec(
        "return document.querySelector('form button[type=submit]');",
        vec![],
    ));
    bea.wait_for(
        "the queue",
        "return location.pathname === '/admin/handoffs';",
    );
    bea.goto(&format!("{}/admin/conversations", server()));
    bea.type_into(
        &bea.exec("return document.getElementById('q');", vec![]),
        &format!("{}\u{E007}", &word[..9]),
    );
    let marked = bea.wait_for(
        "the highlighted match",
        "const m = document.querySelector('td.match mark'); return m && m.textContent;",
    );
    assert_eq!(marked.as_str(), Some(word.as_str()));
    assert_eq!(
        bea.exec(
            &format!("return !!document.querySelector('a[href=\"/admin/conversations/{id}\"]');"),
            vec![]
        ),
        true
    );
}

// --- What a shift sees: the queue, words, times, money, saved replies ---------------------------

/// A hand-off straight in the journal on a conversation of `channel`, opened `mins_ago`
/// minutes ago (the journal's own timestamp format, backdated in its database).
fn handoff_aged(channel: &str, reason: &str, mins_ago: i64, said: &str) -> String {
    let journal = &app().assistant.journal;
    let conversation = uuid_like();
    journal.create(&conversation, channel).unwrap();
    let id = journal
        .open_handoff(
            &HandoffPacket::new(
                &conversation,
                serde_json::from_value::<PacketReason>(json!({ "code": reason })).unwrap(),
            )
            .with_line("customer", said),
        )
        .unwrap();
    let at = shopkeep::journal::timestamp(
        time::OffsetDateTime::now_utc() - time::Duration::minutes(mins_ago),
    );
    let db = rusqlite::Connection::open(app().config.database_path()).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    db.execute(
        "UPDATE handoffs SET created_at = ?1 WHERE id = ?2",
        rusqlite::params![at, id],
    )
    .unwrap();
    id
}

/// A user of one test's own (the shared app's agents are busy in other tests).
fn own_agent(label: &str) -> String {
    let email = new_email(label);
    app()
        .accounts
        .create_user(&email, Some("Kim"), Role::Agent, PASSWORD)
        .unwrap();
    email
}

/// The table row of hand-off `id` on a queue page (from `<tr` to `</tr>`), if listed.
fn row_of(page: &str, id: &str) -> Option<String> {
    let at = page.find(&format!("<tr data-handoff=\"{id}\""))?;
    let end = page[at..].find("</tr>")? + at;
    Some(page[at..end].to_string())
}

/// The number in the navigation's count after the link `href`.
fn nav_count(page: &str, href: &str) -> i64 {
    let at = page
        .find(&format!("href=\"{href}\""))
        .unwrap_or_else(|| panic!("{href} in the navigation"));
    let rest = &page[at..];
    let n = rest.find("class=\"count\">").expect("a count") + "class=\"count\">".len();
    rest[n..].split('<').next().unwrap().trim().parse().unwrap()
}

#[test]
fn the_queue_shows_each_hand_offs_age_against_the_reply_target_and_filters_by_reason_channel_and_claimant(
) {
    // A channel of this test's own keeps other tests' hand-offs out of what it counts.
    let channel = format!("shift-{}", std::process::id());
    let late = handoff_aged(&channel, "complaint", 95, "My parcel arrived broken");
    let fresh = handoff_aged(&channel, "customer_asked", 10, "Can a person help?");
    let answered = handoff_aged(&channel, "customer_asked", 120, "Hello?");
    let kim = own_agent("shift");
    // A person answered `answered` 20 minutes after it opened: not overdue, however old.
    let r = api(
        reqwest::Method::POST,
        &format!("/v1/handoffs/{answered}/reply"),
        &token(&kim),
        Some(json!({"message": "Hi, Kim here."})),
    );
    assert_eq!(r.status, 201, "{}", r.text);

    let mut v = signed_in(&server(), &kim, PASSWORD);
    let page = v.get(&format!("/admin/handoffs?channel={channel}"));
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(
        page.text.contains("Reply-time target: 1 h"),
        "the target is stated: {}",
        page.text
    );
    let late_row = row_of(&page.text, &late).expect("the late one is listed");
    assert!(
        late_row.contains("class=\"overdue\"")
            && late_row.contains(">Overdue<")
            && late_row.contains("1 h 35 min")
            && late_row.contains("35 min past the target")
            && late_row.contains("A complaint"),
        "overdue, in words, with its age and reason: {late_row}"
    );
    let fresh_row = row_of(&page.text, &fresh).unwrap();
    assert!(
        !fresh_row.contains("Overdue")
            && fresh_row.contains("10 min")
            && fresh_row.contains("50 min left")
            && fresh_row.contains("Customer asked for a person"),
        "{fresh_row}"
    );
    let answered_row = row_of(&page.text, &answered).unwrap();
    assert!(
        !answered_row.contains("Overdue") && answered_row.contains("first reply after"),
        "{answered_row}"
    );
    assert!(
        fresh_row.contains("<time datetime=\"")
            && (fresh_row.contains("CET\">10 min ago</time>")
                || fresh_row.contains("CEST\">10 min ago</time>")),
        "opened 10 min ago, the exact Berlin time on hover: {fresh_row}"
    );
    // Oldest first.
    assert!(page.text.find(&answered) < page.text.find(&late));
    assert!(page.text.find(&late) < page.text.find(&fresh));

    // Filters: by reason, by channel, by who claimed it.
    let only = |q: &str, v: &mut common::visitor::Visitor| {
        let p = v.get(&format!("/admin/handoffs?channel={channel}&{q}"));
        assert_eq!(p.status, 200, "{q}: {}", p.text);
        [&late, &fresh, &answered]
            .iter()
            .filter(|id| row_of(&p.text, id).is_some())
            .map(|id| id.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(only("reason=complaint", &mut v), vec![late.clone()]);
    assert_eq!(
        only("reason=customer_asked", &mut v),
        vec![fresh.clone(), answered.clone()]
    );
    let csrf = v.csrf();
    assert_eq!(
        v.post(
            &format!("/admin/handoffs/{fresh}/claim"),
            &[("csrf", &csrf)]
        )
        .status,
        303
    );
    let claimed = v.get(&format!("/admin/handoffs?status=claimed&channel={channel}"));
    assert!(row_of(&claimed.text, &fresh).is_some(), "{}", claimed.text);
    assert_eq!(
        only("status=claimed&claimed_by=nobody", &mut v),
        Vec::<String>::new()
    );
    assert_eq!(
        only(&format!("status=claimed&claimed_by={}", enc(&kim)), &mut v),
        vec![fresh.clone()]
    );
    assert_eq!(
        only("claimed_by=nobody", &mut v),
        vec![late.clone(), answered.clone()]
    );
    assert_eq!(
        only("reason=customer_asked&claimed_by=nobody", &mut v),
        vec![answered.clone()],
        "filters combine"
    );

    // "Mine": what this person holds; the navigation counts it and the overdue ones.
    let mine = v.get("/admin/handoffs?view=mine");
    assert!(row_of(&mine.text, &fresh).is_some() && row_of(&mine.text, &late).is_none());
    assert_eq!(nav_count(&mine.text, "/admin/handoffs?view=mine"), 1);
    assert!(
        nav_count(&mine.text, "/admin/handoffs") >= 2,
        "open ones waiting"
    );
    assert!(
        mine.text.contains(" overdue</a>"),
        "the overdue count: {}",
        mine.text
    );
    let mut sam = signed_in(&server(), AGENT_2, PASSWORD);
    let theirs = sam.get("/admin/handoffs?view=mine");
    assert!(row_of(&theirs.text, &fresh).is_none(), "Sam's own only");

    let r = v.get("/admin/handoffs?status=pending");
    assert_eq!(r.status, 422);
    assert!(r.text.contains("data-code=\"invalid_status\""));
}

#[test]
fn repeats_are_folded_under_the_first_so_a_flood_does_not_bury_the_queue() {
    let channel = format!("flood-{}", std::process::id());
    // The same unverified message from three conversations, a different one, and two hand-offs
    // of one verified customer.
    let first = handoff_aged(&channel, "customer_asked", 30, "A person please!");
    let again = handoff_aged(&channel, "customer_asked", 20, "a person   PLEASE!");
    let third = handoff_aged(&channel, "customer_asked", 10, "A person please!");
    let other = handoff_aged(&channel, "customer_asked", 5, "Where is my refund?");
    let journal = &app().assistant.journal;
    let verified = |said: &str| {
        let conversation = uuid_like();
        journal.create(&conversation, &channel).unwrap();
        let mut packet =
            HandoffPacket::new(&conversation, HandoffReason::Complaint).with_line("customer", said);
        packet.identity.customer_id = Some("cus_001".into());
        packet.identity.verified_by = Some("order_email".into());
        journal.open_handoff(&packet).unwrap()
    };
    let maya_1 = verified("The lamp is broken");
    let maya_2 = verified("And the sweater is the wrong size");

    let mut v = signed_in(&server(), &own_agent("flood"), PASSWORD);
    let page = v.get(&format!("/admin/handoffs?channel={channel}"));
    assert_eq!(page.status, 200, "{}", page.text);
    let head = row_of(&page.text, &first).expect("the first of the flood is listed");
    assert!(head.contains("+2 more with the same message"), "{head}");
    assert!(row_of(&page.text, &again).is_none() && row_of(&page.text, &third).is_none());
    assert!(
        row_of(&page.text, &other).is_some(),
        "a different message stands alone"
    );
    let maya = row_of(&page.text, &maya_1).expect("the customer's first");
    assert!(maya.contains("+1 more from this customer"), "{maya}");
    assert!(row_of(&page.text, &maya_2).is_none());
    assert!(
        page.text
            .contains("3 repeats (the same customer, or the same message again) folded"),
        "{}",
        page.text
    );

    // Shown on request, each saying which it repeats; filters still apply.
    let all = v.get(&format!("/admin/handoffs?channel={channel}&repeats=show"));
    let repeat = row_of(&all.text, &third).expect("shown");
    assert!(
        repeat.contains(&format!("repeats <a href=\"/admin/handoffs/{first}\"")),
        "{repeat}"
    );
    assert!(row_of(&all.text, &maya_2).is_some() && row_of(&all.text, &again).is_some());
    assert!(all.text.contains("id=\"fold-repeats\""));
    let complaints = v.get(&format!(
        "/admin/handoffs?channel={channel}&reason=complaint"
    ));
    assert!(
        row_of(&complaints.text, &maya_1).is_some() && row_of(&complaints.text, &first).is_none()
    );
}

/// Whether markup shows a stored timestamp as text (`>2026-12-04T03:56:43…`).
fn shows_raw_timestamp(html: &str) -> bool {
    html.match_indices('>').any(|(i, _)| {
        let b = html.as_bytes();
        b.len() > i + 11
            && b[i + 1..i + 5].iter().all(u8::is_ascii_digit)
            && b[i + 5] == b'-'
            && b[i + 8] == b'-'
            && b[i + 11] == b'T'
    })
}

/// The cancellation of LF-100005 (Daniel Okafor's order, which no other test changes), done
/// once per test binary; the action log then has it.
fn cancelled_order() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let c = answer(json!({"message": "Please cancel order LF-100005, my email is daniel.okafor@example.com", "channel": "api"}));
        assert_eq!(c["awaiting_confirmation"], true, "{c}");
        let done = answer(json!({"message": "yes", "conversation_id": c["conversation_id"], "channel": "api"}));
        assert!(!done["actions"].as_array().unwrap().is_empty(), "{done}");
    });
}

/// A real hand-off from a verified customer about their order (the packet has a customer, an
/// order, passages and a draft): its id and conversation.
fn verified_handoff() -> (String, String) {
    let a = answer(
        json!({"message": "Where is order LF-100001? my email is maya.chen@example.com", "channel": "widget"}),
    );
    let b = answer(
        json!({"message": "I want to talk to a person", "conversation_id": a["conversation_id"], "channel": "widget"}),
    );
    let id = b["handoff"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("a hand-off: {b}"))
        .to_string();
    (id, a["conversation_id"].as_str().unwrap().to_string())
}

#[test]
fn the_desk_says_customers_reasons_intents_times_and_amounts_in_words() {
    let (handoff, conversation) = verified_handoff();
    cancelled_order();
    let mut v = signed_in(&server(), AGENT, PASSWORD);

    let page = v.get(&format!("/admin/handoffs/{handoff}"));
    assert_eq!(page.status, 200);
    let t = &page.text;
    assert!(
        t.contains("Maya Chen") && t.contains("maya.chen@example.com"),
        "the customer by name and email: {t}"
    );
    assert!(t.contains("verified by order number and email"), "{t}");
    assert!(
        t.contains("Customer asked for a person") && t.contains("Talk to a person"),
        "{t}"
    );
    assert!(
        t.contains("LF-100001") && t.contains("Shipped") && t.contains("€"),
        "the order in the store's currency: {t}"
    );
    assert!(t.contains("href=\"https://"), "a tracking link: {t}");
    assert!(
        !shows_raw_timestamp(t) && t.contains("<time datetime=\"20"),
        "no raw timestamps shown, times carry their instant: {t}"
    );

    let log = v.get("/admin/actions");
    let row = log
        .text
        .split("<tr data-action=")
        .find(|r| r.contains("LF-100005"))
        .expect("the cancellation is logged");
    assert!(
        row.contains(">Cancelled the order<")
            && row.contains("Daniel Okafor")
            && row.contains(">Done<")
            && row.contains("<time datetime="),
        "{row}"
    );
    assert!(
        !row.contains(">cancel_order<") && !row.contains(">executed<"),
        "{row}"
    );
    assert!(!shows_raw_timestamp(&log.text), "{}", log.text);

    let record = v.get(&format!("/admin/conversations/{conversation}"));
    assert!(
        record.text.contains("Maya Chen") && record.text.contains("Where is my order"),
        "{}",
        record.text
    );
    let list = v.get("/admin/conversations");
    assert!(list.text.contains("Chat widget") && list.text.contains("Handed to a person"));
}

#[test]
fn admins_keep_saved_replies_that_agents_insert_filled_from_the_verified_order() {
    let (handoff, _) = verified_handoff();
    let unverified = handoff_aged("widget", "customer_asked", 1, "a person please");
    let title = format!("Where is it {}", uuid_like());

    // Agents read saved replies but cannot change them.
    let mut priya = signed_in(&server(), AGENT, PASSWORD);
    let csrf = priya.csrf();
    let r = priya.post(
        "/admin/replies",
        &[("csrf", &csrf), ("title", &title), ("body", "x")],
    );
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains("data-code=\"forbidden\""));

    let mut ada = signed_in(&server(), ADMIN, PASSWORD);
    let csrf = ada.csrf();
    let body =
        "Hi {customer_name}, order {order_number} is {order_status}: {tracking_link}\n{agent_name}";
    assert_eq!(
        ada.post("/admin/replies", &[("title", &title), ("body", body)])
            .status,
        403,
        "no CSRF token, no saved reply"
    );
    let r = ada.post(
        "/admin/replies",
        &[
            ("csrf", &csrf),
            ("title", &title),
            ("body", "Hi {custmer_name}"),
        ],
    );
    assert_eq!(r.status, 422);
    assert!(
        r.text.contains("unknown_placeholder") && r.text.contains("{custmer_name}"),
        "{}",
        r.text
    );
    let r = ada.post(
        "/admin/replies",
        &[("csrf", &csrf), ("title", &title), ("body", "first draft")],
    );
    assert_eq!(
        (r.status, r.location()),
        (303, "/admin/replies"),
        "{}",
        r.text
    );
    let list = ada.get("/admin/replies");
    let id: i64 = list
        .text
        .split("<tr data-reply=\"")
        .find(|r| r.contains(&title))
        .and_then(|r| r.split('"').next())
        .and_then(|n| n.parse().ok())
        .expect("listed with its id");
    assert_eq!(
        ada.post(
            "/admin/replies",
            &[("csrf", &csrf), ("title", &title), ("body", "again")]
        )
        .status,
        409,
        "one title once"
    );
    let r = ada.post(
        &format!("/admin/replies/{id}"),
        &[("csrf", &csrf), ("title", &title), ("body", body)],
    );
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(ada.get(&format!("/admin/replies/{id}")).status, 200);
    assert_eq!(priya.get(&format!("/admin/replies/{id}")).status, 403);

    // On a verified hand-off the agent inserts it, filled from the order, to edit and send.
    let page = priya.get(&format!("/admin/handoffs/{handoff}"));
    let item = page
        .text
        .split("<li data-reply=")
        .find(|r| r.contains(&title))
        .expect("offered on the hand-off");
    assert!(
        item.contains("Hi Maya, order LF-100001 is shipped: https://")
            && item.contains("Priya")
            && item.contains(&format!("?reply={id}")),
        "{item}"
    );
    let inserted = priya.get(&format!("/admin/handoffs/{handoff}?reply={id}"));
    let at = inserted.text.find("<textarea id=\"message\"").unwrap();
    let textarea = &inserted.text[at..at + inserted.text[at..].find("</textarea>").unwrap()];
    assert!(
        textarea.contains("Hi Maya, order LF-100001 is shipped: https://")
            && !textarea.contains('{'),
        "in the reply box, ready to edit: {textarea}"
    );

    // Without a verified order it says what it lacks instead of sending placeholders.
    let page = priya.get(&format!("/admin/handoffs/{unverified}"));
    let item = page
        .text
        .split("<li data-reply=")
        .find(|r| r.contains(&title))
        .unwrap();
    assert!(
        item.contains("needs customer_name, order_number, order_status, tracking_link")
            && !item.contains("?reply="),
        "{item}"
    );

    let audit = ada.get("/admin/users").text;
    assert!(audit.contains("reply_created") && audit.contains("reply_updated"));
    let agent_csrf = priya.csrf();
    assert_eq!(
        priya
            .post(
                &format!("/admin/replies/{id}/delete"),
                &[("csrf", &agent_csrf)]
            )
            .status,
        403
    );
    let r = ada.post(&format!("/admin/replies/{id}/delete"), &[("csrf", &csrf)]);
    assert_eq!(r.status, 303);
    assert!(!ada.get("/admin/replies").text.contains(&title));
    assert_eq!(ada.get(&format!("/admin/replies/{id}")).status, 404);
}

// --- Accessibility and the keyboard --------------------------------------------------------------

/// A browser signed in to the desk as `email`, through the login form.
fn desk_browser(email: &str) -> Browser {
    browser::executables();
    let b = Browser::start(1280, 900);
    b.goto(&format!("{}/admin/login", server()));
    b.wait_for(
        "the login page",
        "return !!document.getElementById('email');",
    );
    b.type_into(
        &b.exec("return document.getElementById('email');", vec![]),
        email,
    );
    b.type_into(
        &b.exec("return document.getElementById('password');", vec![]),
        PASSWORD,
    );
    b.click(&b.exec(
        "return document.querySelector('form button[type=submit]');",
        vec![],
    ));
    b.wait_for(
        "the queue",
        "return location.pathname === '/admin/handoffs';",
    );
    b
}

/// With SHOPKEEP_SCREENSHOTS=DIR, a PNG of what the browser shows, as DIR/NAME.png.
fn screenshot(b: &Browser, name: &str) {
    if let Some(dir) = std::env::var_os("SHOPKEEP_SCREENSHOTS") {
        std::fs::create_dir_all(&dir).unwrap();
        b.screenshot(&std::path::Path::new(&dir).join(format!("{name}.png")));
    }
}

#[test]
fn every_desk_page_has_no_wcag_21_aa_violations_under_axe() {
    let (handoff, conversation) = verified_handoff();
    cancelled_order();
    handoff_aged(
        "email",
        "complaint",
        95,
        "My lamp arrived broken and nobody answers",
    );
    let reply = app()
        .accounts
        .create_reply(
            &app().accounts.staff_for_token(&token(ADMIN)).unwrap().unwrap(),
            &format!("Tracking {}", uuid_like()),
            "Hi {customer_name}, your order {order_number} is {order_status}. Track it here: {tracking_link}",
        )
        .unwrap();

    // A suggested article (two unanswered questions close in meaning, straight in the journal).
    let journal = &app().assistant.journal;
    let mut vector = vec![0f32; 384];
    for (n, q) in ["Do you gift wrap?", "Can you gift wrap my order?"]
        .into_iter()
        .enumerate()
    {
        let c = uuid_like();
        journal.create(&c, "widget").unwrap();
        vector[380] = 1.0;
        vector[381] = n as f32 * 0.05;
        shopkeep::learn::record(
            journal,
            &app().config.learn,
            &shopkeep::learn::Gap {
                conversation_id: &c,
                question: q,
                reason: "weak_grounding",
                intent: None,
                vector: &vector,
            },
        )
        .unwrap();
    }
    let suggestions = api(
        reqwest::Method::GET,
        "/v1/admin/suggestions",
        &token(ADMIN),
        None,
    )
    .json();
    let suggestion = suggestions["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["latest_question"] == "Can you gift wrap my order?")
        .unwrap_or_else(|| panic!("a suggestion: {suggestions}"))["id"]
        .as_i64()
        .unwrap();

    let mut report = browser::AxeReport::default();
    let anonymous = Browser::start(1280, 900);
    anonymous.goto(&format!("{}/admin/login", server()));
    anonymous.axe_into(&mut report, "login");
    drop(anonymous);

    let admin = desk_browser(ADMIN);
    let pages = [
        ("queue", "/admin/handoffs".to_string()),
        (
            "queue: filtered",
            "/admin/handoffs?reason=complaint&channel=email".into(),
        ),
        ("queue: claimed", "/admin/handoffs?status=claimed".into()),
        ("queue: resolved", "/admin/handoffs?status=resolved".into()),
        ("queue: mine", "/admin/handoffs?view=mine".into()),
        ("hand-off", format!("/admin/handoffs/{handoff}")),
        (
            "hand-off with a saved reply inserted",
            format!("/admin/handoffs/{handoff}?reply={}", reply.id),
        ),
        ("conversations", "/admin/conversations".into()),
        (
            "conversations: search",
            "/admin/conversations?q=order".into(),
        ),
        (
            "conversation",
            format!("/admin/conversations/{conversation}"),
        ),
        ("action log", "/admin/actions".into()),
        ("metrics", "/admin/metrics".into()),
        ("suggestions", "/admin/suggestions".into()),
        ("suggestion", format!("/admin/suggestions/{suggestion}")),
        ("saved replies", "/admin/replies".into()),
        ("saved reply: edit", format!("/admin/replies/{}", reply.id)),
        ("users", "/admin/users".into()),
        ("error page", "/admin/handoffs/HO-NOSUCH".into()),
    ];
    for (state, path) in &pages {
        admin.goto(&format!("{}{path}", server()));
        admin.wait_for(
            state,
            "return document.readyState === 'complete' && !!document.querySelector('main');",
        );
        // What is folded away is checked too: open every <details>.
        admin.exec(
            "document.querySelectorAll('details').forEach(d => d.open = true);",
            vec![],
        );
        admin.axe_into(&mut report, state);
        match *state {
            "queue" => screenshot(&admin, "desk-queue"),
            "hand-off" => screenshot(&admin, "desk-handoff"),
            "action log" => screenshot(&admin, "desk-action-log"),
            _ => {}
        }
    }
    report.assert_clean();
}

#[test]
fn a_person_works_a_hand_off_with_the_keyboard_alone() {
    browser::executables();
    let channel = format!("keyboard-{}", std::process::id());
    let journal = &app().assistant.journal;
    let conversation = uuid_like();
    journal.create(&conversation, &channel).unwrap();
    let handoff = journal
        .open_handoff(&customer_asked(&conversation, "a person please"))
        .unwrap();
    let email = own_agent("keyboard");

    let b = Browser::start(1280, 900);
    b.goto(&format!("{}/admin/login", server()));
    b.wait_for(
        "the login page",
        "return !!document.getElementById('email');",
    );
    // Tab reaches the skip link first, then the form; Enter signs in.
    b.tab_to("the skip link", "a.classList.contains('skip')", false, 3);
    b.tab_to("the email field", "a.id === 'email'", false, 5);
    b.press(&email);
    b.press("\u{E004}");
    b.press(PASSWORD);
    b.press("\u{E007}");
    b.wait_for(
        "the queue",
        "return location.pathname === '/admin/handoffs';",
    );

    // The queue, filtered to this test's channel (a bookmark), then Tab to the hand-off, Enter.
    b.goto(&format!("{}/admin/handoffs?channel={channel}", server()));
    b.tab_to(
        "the hand-off's link",
        &format!("a.getAttribute('href') === '/admin/handoffs/{handoff}'"),
        false,
        60,
    );
    b.press("\u{E007}");
    b.wait_for(
        "the hand-off page",
        "return !!document.getElementById('claim');",
    );
    b.tab_to("Claim", "a.id === 'claim'", false, 40);
    b.press("\u{E007}");
    b.wait_for(
        "the claim",
        "return document.getElementById('status').textContent === 'claimed';",
    );

    // Into the reply box, type, Tab to Send, Enter.
    b.tab_to("the reply box", "a.id === 'message'", false, 60);
    b.press("Hello from the keyboard.");
    b.tab_to("Send", "a.id === 'send'", false, 3);
    b.press("\u{E007}");
    b.wait_for("the reply in the transcript", "return Array.from(document.querySelectorAll('.turn.agent .text')).some(t => t.textContent.includes('Hello from the keyboard.'));");
    b.tab_to("Resolve", "a.id === 'resolve'", false, 60);
    b.press("\u{E007}");
    b.wait_for(
        "the resolution",
        "return document.getElementById('status').textContent === 'resolved';",
    );
    let h = journal.handoff(&handoff).unwrap().unwrap();
    assert_eq!(
        (h.status.as_str(), h.resolved_by.as_deref()),
        ("resolved", Some(email.as_str()))
    );
}
