//! `GET /healthz` (the process is up) and `GET /readyz` (it can answer: model loaded, index open).

use std::sync::Arc;

use axum::{extract::State, Json};
use serde_json::{json, Value};

use crate::app::App;

pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub async fn readyz(State(app): State<Arc<App>>) -> Json<Value> {
    let generation = app.retriever.index().current();
    Json(json!({
        "status": "ready",
        "index": {"generation": generation.name(), "passages": generation.passages().len(), "model": generation.manifest.model_id},
    }))
}
