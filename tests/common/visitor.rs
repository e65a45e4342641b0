//! A browser-like client for the desk's pages, shared by the tests that sign in to them.

use serde_json::Value;

use super::rt;

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|_| panic!("not JSON ({}): {}", self.status, self.text))
    }
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }
    pub fn cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }
}

/// A browser-like HTTP client for the desk's pages: keeps the cookies it is given and never
/// follows redirects (the tests look at them).
pub struct Visitor {
    base: String,
    pub cookies: std::collections::BTreeMap<String, String>,
}

impl Visitor {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.to_string(),
            cookies: Default::default(),
        }
    }

    pub fn send(
        &mut self,
        method: reqwest::Method,
        path: &str,
        form: Option<&[(&str, &str)]>,
    ) -> Reply {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut req = client.request(method, format!("{}{path}", self.base));
        if !self.cookies.is_empty() {
            req = req.header(
                "cookie",
                self.cookies
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            );
        }
        if let Some(form) = form {
            let body: String = form
                .iter()
                .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
                .collect::<Vec<_>>()
                .join("&");
            req = req
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body);
        }
        let r = rt().block_on(async {
            let r = req.send().await.unwrap();
            let (status, headers) = (r.status().as_u16(), r.headers().clone());
            Reply {
                status,
                headers,
                text: r.text().await.unwrap(),
            }
        });
        for c in r.cookies() {
            let (pair, _) = c.split_once(';').unwrap_or((&c, ""));
            let (k, v) = pair.split_once('=').unwrap();
            if v.is_empty() || c.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), v.to_string());
            }
        }
        r
    }

    pub fn get(&mut self, path: &str) -> Reply {
        self.send(reqwest::Method::GET, path, None)
    }

    pub fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Reply {
        self.send(reqwest::Method::POST, path, Some(form))
    }

    /// Signs in through the login form; returns the final response of the POST.
    pub fn login(&mut self, email: &str, password: &str) -> Reply {
        let form = self.get("/admin/login");
        assert_eq!(form.status, 200);
        let csrf = csrf_of(&form.text);
        self.post(
            "/admin/login",
            &[("csrf", &csrf), ("email", email), ("password", password)],
        )
    }

    /// The CSRF token of a signed-in page.
    pub fn csrf(&mut self) -> String {
        let page = self.get("/admin/handoffs");
        assert_eq!(page.status, 200, "{}", page.text);
        csrf_of(&page.text)
    }
}

pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("no CSRF field in {html}"))
        + marker.len();
    html[at..].split('"').next().unwrap().to_string()
}
