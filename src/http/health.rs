//! `GET /healthz` (the process is up) and `GET /readyz` (it can answer: model loaded, index open).

use std::sync::Arc;

use axum::{extract::State, Json};
use serde::Serialize;
use utoipa::ToSchema;

use super::{error::ErrorBody, ApiError};
use crate::{app::App, orders::StoreCounts};

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    #[schema(pattern = "^ok$")]
    status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Ready {
    /// Always `ready`.
    #[schema(pattern = "^ready$")]
    status: &'static str,
    index: IndexState,
    #[schema(value_type = Object)]
    orders: StoreCounts,
}

#[derive(Serialize, ToSchema)]
pub struct IndexState {
    /// The live generation's directory name.
    generation: String,
    passages: usize,
    /// The embedding model the index was built with.
    model: String,
}

/// Liveness: the process is up.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "health",
    responses((status = 200, description = "Up", body = Health))
)]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: the index generation, its passages, the order counts.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "health",
    responses(
        (status = 200, description = "Ready", body = Ready),
        (status = 503, description = "`orders_unavailable`: the order store cannot be read", body = ErrorBody),
    )
)]
pub async fn readyz(State(app): State<Arc<App>>) -> Result<Json<Ready>, ApiError> {
    let generation = app.assistant.retriever.index().current();
    let counts = app.assistant.orders.counts().map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "orders_unavailable",
            e.to_string(),
        )
    })?;
    Ok(Json(Ready {
        status: "ready",
        index: IndexState {
            generation: generation.name().to_string(),
            passages: generation.passages().len(),
            model: generation.manifest.model_id.clone(),
        },
        orders: counts,
    }))
}
