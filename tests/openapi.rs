//! The served /openapi.json against the served router: every operation it lists is routed (not
//! the router's `not_found`, not 405), every other method on its paths is 405, and no route of
//! the JSON API is registered outside `routes!` (which takes path and description from one
//! attribute), so the description and the router cannot drift apart.

mod common;

use std::{path::Path, sync::Arc};

use common::rt;
use serde_json::Value;
use shopkeep::app::App;

const TOKEN: &str = "openapi-test-admin-token";
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn server() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::config(dir.path());
    cfg.admin.api_token = TOKEN.into();
    let app = Arc::new(App::with_embedder(cfg, common::model_dyn()).expect("app opens"));
    let base = common::serve(app);
    (dir, base)
}

/// A concrete URL for a templated path (`{id}` → a value of the parameter's type).
fn concrete(path: &str, op: &Value) -> String {
    let mut out = path.to_string();
    for p in op["parameters"].as_array().into_iter().flatten() {
        if p["in"] == "path" {
            let name = p["name"].as_str().unwrap();
            let value = if p["schema"]["type"] == "integer" {
                "1"
            } else {
                "x1"
            };
            out = out.replace(&format!("{{{name}}}"), value);
        }
    }
    assert!(
        !out.contains('{'),
        "{path}: every path parameter is described"
    );
    out
}

#[test]
fn the_description_lists_exactly_the_routes_the_router_serves() {
    let (_dir, base) = server();
    rt().block_on(async {
        let c = reqwest::Client::new();
        let spec: Value = c
            .get(format!("{base}/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(spec["openapi"], "3.1.0");
        let paths = spec["paths"].as_object().expect("paths");
        assert!(paths.len() >= 30, "{} paths", paths.len());
        let mut operations = 0;
        for (path, ops) in paths {
            let ops = ops.as_object().unwrap();
            // Every operation of a path names its path parameters; any one fills the template.
            let any_op = ops.values().next().unwrap();
            let url = format!("{base}{}", concrete(path, any_op));
            for method in METHODS {
                let op = ops.get(method);
                let r = c
                    .request(method.to_uppercase().parse().unwrap(), &url)
                    .bearer_auth(TOKEN)
                    .header("content-type", "application/json")
                    .body("{}")
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                let body: Value = r.json().await.unwrap_or(Value::Null);
                match op {
                    Some(_) => {
                        operations += 1;
                        assert_ne!(status, 405, "{method} {path} is described but not routed");
                        assert!(
                            !(status == 404 && body["error"]["code"] == "not_found"),
                            "{method} {path} is described but not routed"
                        );
                    }
                    None => assert_eq!(
                        status, 405,
                        "{method} {path}: a method the description does not list"
                    ),
                }
            }
        }
        assert!(operations >= 33, "{operations} operations");
        // The router's own 404 has the API's shape.
        let r = c
            .get(format!("{base}/v1/nothing-here"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found");
    });
}

/// Routes registered with a plain `.route("…")` are not described; only the desk's HTML pages
/// may be (they are forms behind a session cookie, not the JSON API).
#[test]
fn only_the_desks_pages_are_routed_outside_the_description() {
    fn scan(dir: &Path, found: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                scan(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for (i, _) in text.match_indices(".route(") {
                    let rest = text[i + ".route(".len()..].trim_start();
                    if let Some(lit) = rest.strip_prefix('"') {
                        let route = lit.split('"').next().unwrap().to_string();
                        found.push((path.display().to_string(), route));
                    }
                }
            }
        }
    }
    let mut found = Vec::new();
    scan(&common::root().join("src/http"), &mut found);
    assert!(
        found.iter().any(|(_, r)| r == "/admin/login"),
        "the scan sees the pages' routes"
    );
    for (file, route) in &found {
        assert!(
            route == "/admin" || route.starts_with("/admin/"),
            "{file}: {route} is routed without a description (register it with routes!)"
        );
    }
}
