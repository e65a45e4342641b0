//! `GET /openapi.json`: the API's OpenAPI 3.1 description.
//!
//! `openapi.json` describes each operation: its parameters, body, constraints and the answers
//! particular to it. The error answers that follow from an operation's *shape* are added here,
//! from that shape, so no operation can forget one: a JSON body can be malformed or mistyped
//! (400, or 422 when it is JSON of the wrong shape), larger than `server.max_body_bytes` (413) or
//! sent as another media type (415); a query string can fail to parse (400 or 422). `schemathesis` checks the served description against the
//! running server (scripts/api-contract.sh).

use std::sync::LazyLock;

use axum::{http::header, response::IntoResponse};
use serde_json::{json, Value};

const DESCRIBED: &str = include_str!("openapi.json");

/// The description as served: [`DESCRIBED`] completed by [`complete`].
static SPEC: LazyLock<String> = LazyLock::new(|| {
    let mut spec: Value =
        serde_json::from_str(DESCRIBED).expect("openapi.json is valid JSON (a test checks it)");
    complete(&mut spec);
    spec.to_string()
});

pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], SPEC.as_str())
}

/// Adds the error answers every operation of a shape shares (see the module docs).
fn complete(spec: &mut Value) {
    let error = json!({"$ref": "#/components/responses/Error"});
    let Some(paths) = spec.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for operation in paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|ops| ops.values_mut())
    {
        let json_body = operation
            .pointer("/requestBody/content/application~1json")
            .is_some();
        let query = operation
            .get("parameters")
            .and_then(Value::as_array)
            .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
        let mut codes = Vec::new();
        if json_body {
            // 422: well-formed JSON of the wrong shape (a missing field, a wrong type).
            codes.extend(["400", "413", "415", "422"]);
        }
        if query {
            codes.extend(["400", "422"]);
        }
        let Some(responses) = operation
            .get_mut("responses")
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        for code in codes {
            responses.entry(code).or_insert_with(|| error.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_parses_and_lists_the_desk_routes() {
        let spec: Value = serde_json::from_str(&SPEC).expect("valid JSON");
        for path in [
            "/v1/handoffs/{id}/claim",
            "/v1/handoffs/{id}/resolve",
            "/v1/admin/conversations",
            "/v1/admin/actions/{id}/revert",
            "/v1/admin/users",
            "/v1/admin/users/{id}/role",
            "/v1/admin/users/{id}/revoke-tokens",
        ] {
            assert!(spec["paths"][path].is_object(), "{path}");
        }
    }

    #[test]
    fn every_json_body_and_query_string_can_be_refused_and_says_so() {
        let spec: Value = serde_json::from_str(&SPEC).unwrap();
        let mut checked = 0;
        for (path, ops) in spec["paths"].as_object().unwrap() {
            for (method, op) in ops.as_object().unwrap() {
                let r = &op["responses"];
                if op
                    .pointer("/requestBody/content/application~1json")
                    .is_some()
                {
                    assert!(
                        ["400", "413", "415", "422"]
                            .iter()
                            .all(|c| r.get(*c).is_some()),
                        "{method} {path}: {r}"
                    );
                    checked += 1;
                }
                if op["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"))
                {
                    assert!(
                        r.get("400").is_some() && r.get("422").is_some(),
                        "{method} {path}"
                    );
                }
            }
        }
        assert!(
            checked >= 8,
            "the JSON-body operations were found ({checked})"
        );
    }
}
