//! Channel: the HTTP API (axum). Handlers convert requests, call the domain, and map errors to
//! `{"error": {"code", "message"}}`; no answering logic lives here. Route files mirror URLs.

pub mod admin;
mod answer;
mod auth;
pub mod client;
pub mod conn;
mod conversations;
mod email;
mod error;
mod handoffs;
mod health;
mod openapi;
mod platform;
mod search;
mod storefront;
mod widget;

use std::{future::Future, sync::Arc, time::Duration};

use axum::{
    routing::{get, post},
    Router,
};
use tokio::net::TcpListener;
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    timeout::TimeoutLayer,
};

pub use error::ApiError;

use crate::app::App;

/// The router over shared state. Tests call this with their own `App`.
pub fn router(app: Arc<App>) -> Router {
    let cfg = &app.config.server;
    let body_limit = cfg.max_body_bytes;
    let timeout = Duration::from_secs(cfg.request_timeout_secs);
    // /v1/answer admits at most `max_in_flight` requests at once; beyond that it sheds load
    // with an immediate 503 and Retry-After rather than queueing without bound. The body is read
    // (within its deadline) before a slot is taken, so slow senders cannot hold the slots.
    let body = conn::BodyLimits {
        max_bytes: body_limit,
        timeout: Duration::from_secs(cfg.body_timeout_secs),
    };
    let answer_route = post(answer::answer)
        .layer(
            tower::ServiceBuilder::new()
                .layer(axum::error_handling::HandleErrorLayer::new(
                    error::overloaded,
                ))
                .load_shed()
                .concurrency_limit(cfg.max_in_flight),
        )
        .layer(axum::middleware::from_fn_with_state(
            body,
            conn::buffer_body,
        ));
    // What the chat widget calls from a store's pages, which live on other origins.
    let widget_api = Router::new()
        .route("/v1/answer", answer_route)
        .route("/v1/conversations/{id}", get(conversations::show))
        .route("/v1/conversations/{id}/events", get(conversations::events))
        .route(
            "/v1/conversations/{id}/feedback",
            post(conversations::feedback),
        )
        .layer(cors(&cfg.allowed_origins));
    Router::new()
        .route("/", get(storefront::page))
        .route("/widget.js", get(widget::script))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .merge(widget_api)
        .route("/v1/search", post(search::search))
        .route("/v1/handoffs", get(handoffs::list))
        .route("/v1/handoffs/{id}", get(handoffs::show))
        .route("/v1/handoffs/{id}/claim", post(handoffs::claim))
        .route("/v1/handoffs/{id}/resolve", post(handoffs::resolve))
        .route("/v1/handoffs/{id}/reply", post(handoffs::reply))
        // Raw mail is larger than any API request (this limit replaces the general one).
        .route(
            "/v1/email/inbound",
            post(email::inbound)
                .layer(axum::extract::DefaultBodyLimit::max(email::MAX_EMAIL_BYTES)),
        )
        .route("/v1/platform/events", post(platform::events))
        .merge(admin::routes())
        .route("/openapi.json", get(openapi::openapi))
        // axum's own limit (not tower-http's) so an oversized body reaches the JSON extractor's
        // rejection and gets the API's error shape.
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .with_state(app)
}

/// CORS for the widget's routes: the configured store origins (`server.allowed_origins`; `"*"`
/// for any) may call them from the browser. The service's own pages are same-origin and need no
/// entry. No credentials: the widget identifies a shopper by the signed token in its tag, never
/// by cookies.
fn cors(allowed: &[String]) -> CorsLayer {
    let any = allowed.iter().any(|o| o == "*");
    let allowed: Vec<String> = allowed.to_vec();
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin, _| {
            any || origin
                .to_str()
                .is_ok_and(|o| allowed.iter().any(|a| a == o))
        }))
        .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
        .allow_headers([
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderName::from_static("last-event-id"),
        ])
        .max_age(Duration::from_secs(600))
}

/// Serves until `shutdown` completes. Also keeps the index fresh: every
/// `server.index_refresh_secs` it checks `CURRENT` and switches to a newly built generation, so
/// `shopkeep reindex` run beside a live server takes effect without a restart.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let refresher = {
        let app = app.clone();
        let every = Duration::from_secs(app.config.server.index_refresh_secs.max(1));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let index = app.assistant.retriever.index().clone();
                match tokio::task::spawn_blocking(move || index.refresh()).await {
                    Ok(Err(e)) => tracing::warn!("index refresh failed: {e}"),
                    Err(e) => tracing::warn!("index refresh task failed: {e}"),
                    Ok(Ok(_)) => {}
                }
            }
        })
    };
    let limits = conn::ConnectionLimits::from_config(&app.config.server);
    let result = conn::serve(listener, router(app), limits, shutdown).await;
    refresher.abort();
    result
}
