//! `GET /healthz` (the process is up) and `GET /readyz` (it can answer: model loaded, index open).

use std::sync::Arc;

use axum::{extract::State, Json};
use serde_json::{json, Value};

use super::ApiError;
use crate::app::App;

pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub async fn readyz(State(app): State<Arc<App>>) -> Result<Json<Value>, ApiError> {
    let generation = app.assistant.retriever.index().current();
    let counts = app.assistant.orders.counts().map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "orders_unavailable",
            e.to_string(),
        )
    })?;
    Ok(Json(json!({
        "status": "ready",
        "index": {"generation": generation.name(), "passages": generation.passages().len(), "model": generation.manifest.model_id},
        "orders": counts,
    })))
}
