//! `POST /v1/search`: the passages that would ground a question, with every score.

use std::sync::Arc;

use axum::{extract::State, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{error::ErrorBody, ApiError};
use crate::{app::App, index::SearchOptions};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// Not blank.
    #[schema(min_length = 1, pattern = "\\S")]
    pub query: String,
    /// How many passages (default 5).
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = 1, maximum = 50, default = 5)]
    pub k: Option<usize>,
    /// Search this product's content first.
    #[serde(default)]
    pub product_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SearchHit {
    pub passage_id: String,
    pub doc_id: String,
    pub title: String,
    pub heading: String,
    pub url: Option<String>,
    pub text: String,
    pub bm25: Option<f32>,
    pub dense: f32,
    pub fused: f32,
}

/// The passages that would ground a question, with their BM25, dense and fused scores.
#[utoipa::path(
    post,
    path = "/v1/search",
    operation_id = "search",
    tag = "answer",
    request_body = SearchRequest,
    responses(
        (status = 200, description = "The best passages, best first", body = Vec<SearchHit>),
        (status = 400, description = "`malformed_json`, `empty_query`, `invalid_k`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
        (status = 422, description = "`invalid_request`: JSON of the wrong shape (`k` not a whole number…)", body = ErrorBody),
        (status = 503, description = "`index_missing`", body = ErrorBody),
    )
)]
pub async fn search(
    State(app): State<Arc<App>>,
    body: Result<Json<SearchRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Vec<SearchHit>>, ApiError> {
    let Json(req) = body?;
    let query = req.query.trim();
    if query.is_empty() {
        return Err(ApiError::bad_request(
            "empty_query",
            "query must not be empty",
        ));
    }
    let k = req.k.unwrap_or(5);
    if !(1..=50).contains(&k) {
        return Err(ApiError::bad_request(
            "invalid_k",
            "k must be between 1 and 50",
        ));
    }
    let evidence = app
        .assistant
        .retriever
        .search(
            query,
            &SearchOptions {
                k,
                product_id: req.product_id,
                help_only: false,
            },
        )
        .await?;
    Ok(Json(
        evidence
            .hits
            .into_iter()
            .map(|h| SearchHit {
                passage_id: h.passage.id.clone(),
                doc_id: h.passage.doc_id.clone(),
                title: h.passage.title.clone(),
                heading: h.passage.heading.clone(),
                url: h.passage.url.clone(),
                text: h.passage.text.clone(),
                bm25: h.bm25,
                dense: h.dense,
                fused: h.fused,
            })
            .collect(),
    ))
}

/// JSON has one kind of number, and JSON Schema counts `5.0` as the integer 5: so does `k`.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    use serde::{de::Error, Deserialize};
    match Option::<f64>::deserialize(d)? {
        None => Ok(None),
        Some(f) if f.fract() == 0.0 && (0.0..=1e9).contains(&f) => Ok(Some(f as usize)),
        Some(f) => Err(D::Error::custom(format!(
            "k must be a whole number from 1 to 50, not {f}"
        ))),
    }
}
