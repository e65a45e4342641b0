//! A real headless browser for the widget tests: Debian's chromium driven over WebDriver by
//! chromedriver, with a small client on reqwest (the W3C protocol is plain JSON over HTTP, so
//! no WebDriver crate is needed). Each [`Browser`] is its own chromedriver and chromium with a
//! fresh profile (its own localStorage), closed when dropped, also when a test fails.
//!
//! [`Browser::axe`] runs axe-core (from npm, installed outside the clone by `scripts/axe.sh`)
//! in the page as it is at that moment, for the WCAG 2.1 A and AA rules; keyboard helpers
//! ([`Browser::tab_to`]) move focus the way a person without a mouse does.
#![allow(dead_code)]

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use serde_json::{json, Value};

/// How an element reference is keyed in WebDriver responses.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long a wait for the page may take (the first answers load the model's caches).
pub const WAIT: Duration = Duration::from_secs(60);

/// An executable on PATH (or at an explicit path from `env`).
fn find(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// The browser and its driver, or a failure saying how to get them: these tests never pass
/// without a browser. Tests call it first, so a missing browser fails at once.
pub fn executables() -> (PathBuf, PathBuf) {
    let chromium = find("SHOPKEEP_CHROMIUM", &["chromium", "chromium-browser"]);
    let driver = find("SHOPKEEP_CHROMEDRIVER", &["chromedriver"]);
    match (chromium, driver) {
        (Some(c), Some(d)) => (c, d),
        (c, d) => panic!(
            "the widget tests need a real headless browser, and {} missing.\n\
             Run scripts/test.sh: it installs Debian's chromium and chromium-driver (as root, with apt-get) \
             before running the tests. Or install them yourself: apt-get install -y chromium chromium-driver \
             (SHOPKEEP_CHROMIUM and SHOPKEEP_CHROMEDRIVER point at other builds).",
            match (c, d) {
                (None, None) => "chromium and chromedriver are",
                (None, _) => "chromium is",
                _ => "chromedriver is",
            }
        ),
    }
}

/// The axe-core rule tags checked: WCAG 2.0 and 2.1, levels A and AA.
pub const WCAG_21_AA: [&str; 4] = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];

/// Where `scripts/axe.sh` installs axe-core for the committed lock file: `$SHOPKEEP_AXE` (a path
/// to axe.min.js) or `<cache>/shopkeep-axe/<first 16 hex of sha256(contrib/axe/package-lock.json)>`.
fn axe_path() -> PathBuf {
    use sha2::{Digest, Sha256};
    if let Some(p) = std::env::var_os("SHOPKEEP_AXE") {
        return PathBuf::from(p);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let lock = std::fs::read(root.join("contrib/axe/package-lock.json"))
        .expect("contrib/axe/package-lock.json is committed");
    let hash = hex::encode(Sha256::digest(&lock));
    let cache = std::env::var_os("SHOPKEEP_AXE_CACHE")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("shopkeep-axe"))
        })
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/shopkeep-axe")))
        .expect("HOME or SHOPKEEP_AXE_CACHE is set");
    cache
        .join(&hash[..16])
        .join("node_modules/axe-core/axe.min.js")
}

/// axe-core's script, read once; a failure naming the script that installs it.
fn axe_source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let path = axe_path();
        std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "the accessibility checks need axe-core at {} ({e}).\n\
                 Run scripts/axe.sh install (scripts/test.sh does): it installs the version in \
                 contrib/axe/package-lock.json from npm into a cache outside the clone.",
                path.display()
            )
        })
    })
}

/// One axe-core rule the page breaks, with where.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Violation {
    pub id: String,
    pub impact: Option<String>,
    pub help: String,
    /// Each offending element: its selector and what is wrong with it.
    pub nodes: Vec<String>,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "  {} ({}): {}",
            self.id,
            self.impact.as_deref().unwrap_or("?"),
            self.help
        )?;
        for n in &self.nodes {
            writeln!(f, "    {}", n.replace('\n', " "))?;
        }
        Ok(())
    }
}

/// Violations found in several states of a page, so one run reports all of them at once.
#[derive(Default)]
pub struct AxeReport {
    pub states: Vec<(String, Vec<Violation>)>,
}

impl AxeReport {
    pub fn total(&self) -> usize {
        self.states.iter().map(|(_, v)| v.len()).sum()
    }

    /// Fails listing every state with its violations (rule ids, impact, elements).
    pub fn assert_clean(&self) {
        let mut out = String::new();
        for (state, violations) in &self.states {
            if !violations.is_empty() {
                out += &format!("{state}: {} violation(s)\n", violations.len());
                for v in violations {
                    out += &v.to_string();
                }
            }
        }
        let checked: Vec<&str> = self.states.iter().map(|(s, _)| s.as_str()).collect();
        eprintln!(
            "axe-core WCAG 2.1 AA: {} violation(s) over {} states ({})",
            self.total(),
            checked.len(),
            checked.join(", ")
        );
        assert!(
            out.is_empty(),
            "axe-core found WCAG 2.1 AA violations:\n{out}"
        );
    }
}

pub struct Browser {
    driver: Child,
    /// `http://127.0.0.1:PORT/session/ID`
    session: String,
    client: reqwest::Client,
    rt: tokio::runtime::Runtime,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless chromium with a fresh profile and a window of
    /// `width` × `height`.
    pub fn start(width: u32, height: u32) -> Self {
        let (chromium, chromedriver) = executables();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {}: {e} (run scripts/test.sh, which installs chromium-driver)",
                    chromedriver.display()
                )
            });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let profile = tempfile::tempdir().unwrap();
        let mut browser = Self {
            driver,
            session: String::new(),
            client,
            rt,
            _profile: profile,
        };

        let started = Instant::now();
        loop {
            let ready = browser.rt.block_on(async {
                browser
                    .client
                    .get(format!("{base}/status"))
                    .send()
                    .await
                    .ok()?
                    .json::<Value>()
                    .await
                    .ok()
            });
            if ready.is_some_and(|v| v["value"]["ready"] == true) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // No outside network here or in CI: everything that would phone home is off.
        let args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--no-default-browser-check".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-extensions".into(),
            format!("--user-data-dir={}", browser._profile.path().display()),
            format!("--window-size={width},{height}"),
        ];
        let mut options = json!({"binary": chromium.display().to_string(), "args": args});
        // A headless window is never narrower than 500 px: a phone's screen is emulated instead.
        if width < 500 {
            options["mobileEmulation"] =
                json!({"deviceMetrics": {"width": width, "height": height, "pixelRatio": 2}});
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": options,
            "timeouts": {"script": 30_000, "pageLoad": 60_000, "implicit": 0}
        }}});
        let v = browser.call("POST", &format!("{base}/session"), Some(caps));
        let id = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {v}"))
            .to_string();
        browser.session = format!("{base}/session/{id}");
        browser
    }

    /// One WebDriver command; panics with the driver's error.
    fn call(&self, method: &str, url: &str, body: Option<Value>) -> Value {
        let req = match method {
            "GET" => self.client.get(url),
            "DELETE" => self.client.delete(url),
            _ => self
                .client
                .post(url)
                .json(&body.unwrap_or_else(|| json!({}))),
        };
        let (status, v) = self.rt.block_on(async {
            let r = req
                .timeout(Duration::from_secs(90))
                .send()
                .await
                .unwrap_or_else(|e| panic!("WebDriver {method} {url}: {e}"));
            let status = r.status();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        });
        assert!(
            status.is_success(),
            "WebDriver {method} {url}: {status} {v}"
        );
        v["value"].clone()
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, &format!("{}{path}", self.session), body)
    }

    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    pub fn refresh(&self) {
        self.cmd("POST", "/refresh", None);
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page; returns its value.
    /// Elements come back as WebDriver element references.
    pub fn exec(&self, script: &str, args: Vec<Value>) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// Runs `script` as an async function body: it calls `arguments[arguments.length - 1]`
    /// with its result.
    pub fn exec_async(&self, script: &str, args: Vec<Value>) -> Value {
        self.cmd(
            "POST",
            "/execute/async",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// axe-core's WCAG 2.1 A and AA rules over the page as it is now (open shadow roots, such
    /// as the widget's, included). The script is injected into each new document.
    pub fn axe(&self) -> Vec<Violation> {
        if self.exec("return typeof window.axe === 'object';", vec![]) != true {
            self.exec(&format!("{}\n;return true;", axe_source()), vec![]);
        }
        let v = self.exec_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}, resultTypes: ['violations']})
               .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                  nodes: v.nodes.map(n => JSON.stringify(n.target) + ': ' + (n.failureSummary || ''))}))))
               .catch(e => done({error: String(e)}));",
            vec![json!(WCAG_21_AA)],
        );
        serde_json::from_value(v.clone()).unwrap_or_else(|_| panic!("axe-core failed: {v}"))
    }

    /// Checks the page as it is now and adds what was found to `report` under `state`.
    pub fn axe_into(&self, report: &mut AxeReport, state: &str) {
        report.states.push((state.to_string(), self.axe()));
    }

    /// A PNG of the window, written to `path`.
    pub fn screenshot(&self, path: &std::path::Path) {
        use base64::Engine;
        let v = self.cmd("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("a base64 screenshot"))
            .expect("valid base64");
        std::fs::write(path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    /// Presses Tab (Shift+Tab with `back`) until `script` (a predicate on what has focus:
    /// `a` is `document.activeElement`, or the widget's focused element inside its shadow root)
    /// is true, at most `max` times; returns how many presses it took, or panics.
    pub fn tab_to(&self, what: &str, script: &str, back: bool, max: usize) -> usize {
        let test = format!(
            "let a = document.activeElement; while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement; return !!({script});"
        );
        for n in 0..=max {
            if self.exec(&test, vec![]) == true {
                return n;
            }
            if back {
                self.press_chord("\u{E008}", "\u{E004}");
            } else {
                self.press("\u{E004}");
            }
        }
        let at = self.exec("let a = document.activeElement; while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement; return a ? a.outerHTML.slice(0, 200) : null;", vec![]);
        panic!(
            "{what}: not reached with {max} presses of {}Tab; focus is on {at}",
            if back { "Shift+" } else { "" }
        );
    }

    /// Holds `modifier` (`\u{E008}` Shift) while pressing `key`.
    pub fn press_chord(&self, modifier: &str, key: &str) {
        let actions = json!([
            {"type": "keyDown", "value": modifier},
            {"type": "keyDown", "value": key},
            {"type": "keyUp", "value": key},
            {"type": "keyUp", "value": modifier},
        ]);
        self.cmd(
            "POST",
            "/actions",
            Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        );
        self.cmd("DELETE", "/actions", None);
    }

    /// Polls `script` until it returns something other than null, false, "" or 0; returns that.
    pub fn wait_for(&self, what: &str, script: &str) -> Value {
        let started = Instant::now();
        loop {
            let v = self.exec(script, vec![]);
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::String(s) => !s.is_empty(),
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::Array(a) => !a.is_empty(),
                Value::Object(_) => true,
            };
            if truthy {
                return v;
            }
            if started.elapsed() > WAIT {
                let panel = self.exec(&format!("{WIDGET} return w ? w.shadowRoot.querySelector('.sk-panel').innerText : 'no widget';"), vec![]);
                panic!(
                    "timed out waiting for {what}; the panel reads:\n{}",
                    panel.as_str().unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A real click (the driver moves the pointer there), on an element reference.
    pub fn click(&self, element: &Value) {
        self.cmd(
            "POST",
            &format!("/element/{}/click", element_id(element)),
            None,
        );
    }

    /// Types into an element as a keyboard would (`\u{E007}` is Enter).
    pub fn type_into(&self, element: &Value, text: &str) {
        self.cmd(
            "POST",
            &format!("/element/{}/value", element_id(element)),
            Some(json!({ "text": text })),
        );
    }

    /// Presses keys on whatever has focus (`\u{E00C}` is Escape).
    pub fn press(&self, keys: &str) {
        let actions: Vec<Value> = keys
            .chars()
            .flat_map(|c| {
                [
                    json!({"type": "keyDown", "value": c.to_string()}),
                    json!({"type": "keyUp", "value": c.to_string()}),
                ]
            })
            .collect();
        self.cmd(
            "POST",
            "/actions",
            Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        );
        self.cmd("DELETE", "/actions", None);
    }
}

/// A script prelude: `w` is the widget's host element (its shadow root holds the widget).
pub const WIDGET: &str = "const w = document.getElementById('shopkeep-widget'); const $ = (s) => w && w.shadowRoot.querySelector(s); const $$ = (s) => w ? Array.from(w.shadowRoot.querySelectorAll(s)) : [];";

fn element_id(element: &Value) -> String {
    element[ELEMENT]
        .as_str()
        .unwrap_or_else(|| panic!("not an element reference: {element}"))
        .to_string()
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let url = self.session.clone();
            let _ = self.rt.block_on(async {
                self.client
                    .delete(url)
                    .timeout(Duration::from_secs(20))
                    .send()
                    .await
            });
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
