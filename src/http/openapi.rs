//! `GET /openapi.json`: the API's OpenAPI 3.1 description.

use axum::{http::header, response::IntoResponse};

const SPEC: &str = include_str!("openapi.json");

pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], SPEC)
}
