//! `GET /openapi.json`: the API's OpenAPI 3.1 description.

use axum::{http::header, response::IntoResponse};

const SPEC: &str = include_str!("openapi.json");

pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], SPEC)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_spec_parses_and_lists_the_desk_routes() {
        let spec: serde_json::Value = serde_json::from_str(super::SPEC).expect("valid JSON");
        for path in ["/v1/handoffs/{id}/claim", "/v1/handoffs/{id}/resolve", "/v1/admin/conversations", "/v1/admin/actions/{id}/revert", "/v1/admin/users", "/v1/admin/users/{id}/{change}"] {
            assert!(spec["paths"][path].is_object(), "{path}");
        }
    }
}
