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

use axum::Router;
use tokio::net::TcpListener;
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    timeout::TimeoutLayer,
};

pub use error::{ApiError, ERROR_CODES};
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::App;

/// The router over shared state. Tests call this with their own `App`.
pub fn router(app: Arc<App>) -> Router {
    let cfg = &app.config.server;
    let body_limit = cfg.max_body_bytes;
    let timeout = Duration::from_secs(cfg.request_timeout_secs);
    let (api, doc) = api_routes(cfg).split_for_parts();
    let spec = openapi::Served(Arc::new(openapi::document(doc).to_string()));
    Router::new()
        .merge(api)
        // The desk's pages: HTML forms behind a session cookie, not part of the JSON API.
        .merge(admin::pages())
        .fallback(error::no_route)
        .layer(axum::Extension(spec))
        // axum's own limit (not tower-http's) so an oversized body reaches the JSON extractor's
        // rejection and gets the API's error shape.
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .with_state(app)
}

/// Every route of the JSON API (and the public GETs), each registered with its description by
/// `routes!` (see `openapi`): what this returns is both the routes and `/openapi.json`.
pub fn api_routes(cfg: &crate::config::ServerConfig) -> OpenApiRouter<Arc<App>> {
    // /v1/answer admits at most `max_in_flight` requests at once; beyond that it sheds load
    // with an immediate 503 and Retry-After rather than queueing without bound. The body is read
    // (within its deadline) before a slot is taken, so slow senders cannot hold the slots.
    let body = conn::BodyLimits {
        max_bytes: cfg.max_body_bytes,
        timeout: Duration::from_secs(cfg.body_timeout_secs),
    };
    let answer_route = OpenApiRouter::new()
        .routes(routes!(answer::answer))
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
    let widget_api = OpenApiRouter::new()
        .merge(answer_route)
        .routes(routes!(conversations::show))
        .routes(routes!(conversations::events))
        .routes(routes!(conversations::feedback))
        .layer(cors(&cfg.allowed_origins));
    // Raw mail is larger than any API request (this limit replaces the general one).
    let email = OpenApiRouter::new()
        .routes(routes!(email::inbound))
        .layer(axum::extract::DefaultBodyLimit::max(email::MAX_EMAIL_BYTES));
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(storefront::page))
        .routes(routes!(widget::script))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(openapi::openapi))
        .merge(widget_api)
        .routes(routes!(search::search))
        .routes(routes!(handoffs::list))
        .routes(routes!(handoffs::show))
        .routes(routes!(handoffs::claim))
        .routes(routes!(handoffs::resolve))
        .routes(routes!(handoffs::reply))
        .merge(email)
        .routes(routes!(platform::events))
        .merge(admin::api_routes())
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
