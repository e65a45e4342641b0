//! The team's desk: server-rendered pages under `/admin` behind a login, and their JSON twins
//! under `/v1/admin` (and `/v1/handoffs`) behind bearer tokens. Each file here serves one
//! resource, its page and its JSON: [`handoffs`] (pages; the JSON is `http::handoffs`),
//! [`conversations`], [`actions`], [`metrics`], [`users`] (managing them), [`suggestions`]
//! (the knowledge base that grows); [`login`] signs people in and out; [`session`] is
//! the cookie, the signed-in person and the CSRF check of every POST form; [`html`] the markup.
//!
//! Handlers convert, call `desk` (and `desk::accounts`) on the blocking pool, and map errors; they
//! decide nothing. Every desk response says: no caching, no framing, scripts and styles only
//! from here (there are no scripts).

mod actions;
mod conversations;
mod handoffs;
mod html;
mod login;
mod metrics;
pub mod session;
mod suggestions;
mod users;

use std::sync::Arc;

use axum::{
    http::{header, HeaderValue},
    response::Response,
    routing::{get, post},
    Router,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::ApiError;
use crate::{app::App, journal::StoredTurn};
use html::esc;

/// The desk's pages (HTML, behind the session cookie).
pub fn pages() -> Router<Arc<App>> {
    Router::new()
        .route(
            "/admin",
            get(|| async { axum::response::Redirect::to("/admin/handoffs") }),
        )
        .route("/admin/desk.css", get(html::stylesheet))
        .route("/admin/login", get(login::show).post(login::submit))
        .route("/admin/logout", post(login::logout))
        .route("/admin/handoffs", get(handoffs::queue))
        .route("/admin/handoffs/{id}", get(handoffs::show))
        .route("/admin/handoffs/{id}/claim", post(handoffs::claim))
        .route("/admin/handoffs/{id}/resolve", post(handoffs::resolve))
        .route("/admin/handoffs/{id}/reply", post(handoffs::reply))
        .route("/admin/conversations", get(conversations::list))
        .route("/admin/conversations/{id}", get(conversations::show))
        .route("/admin/actions", get(actions::list))
        .route("/admin/actions/{id}/revert", post(actions::revert))
        .route("/admin/metrics", get(metrics::show))
        .route("/admin/users", get(users::list).post(users::create))
        .route("/admin/users/{id}/{change}", post(users::apply))
        .route("/admin/suggestions", get(suggestions::list))
        .route("/admin/suggestions/{id}", get(suggestions::show))
        .route(
            "/admin/suggestions/{id}/approve",
            post(suggestions::approve),
        )
        .route(
            "/admin/suggestions/{id}/dismiss",
            post(suggestions::dismiss),
        )
        .layer(axum::middleware::map_response(page_headers))
}

/// The desk's JSON API (bearer tokens), each route with its description (see `http::openapi`).
pub fn api_routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(users::me))
        .routes(routes!(users::api_list, users::api_create))
        .routes(routes!(users::api_role))
        .routes(routes!(users::api_password))
        .routes(routes!(users::api_disable))
        .routes(routes!(users::api_enable))
        .routes(routes!(users::api_revoke_tokens))
        .routes(routes!(conversations::api_list))
        .routes(routes!(conversations::api_show))
        .routes(routes!(metrics::api))
        .routes(routes!(actions::api_list))
        .routes(routes!(actions::api_revert))
        .routes(routes!(suggestions::api_list))
        .routes(routes!(suggestions::api_show))
        .routes(routes!(suggestions::api_approve))
        .routes(routes!(suggestions::api_dismiss))
}

/// Transcripts and customer details must not linger in caches or be framed by another site.
async fn page_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    );
    r
}

/// Runs domain work (SQLite, argon2) on the blocking pool.
pub(crate) async fn blocking<T, E>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    E: Into<ApiError> + Send + 'static,
{
    tokio::task::spawn_blocking(f).await?.map_err(Into::into)
}

/// A conversation's turns for the team: every role, with intent and confidence, citations,
/// the gate's decision and scores, and actions.
/// The turns as a log; `mask` hides personal data (`privacy.mask_logs`).
fn transcript(turns: &[StoredTurn], mask: bool) -> String {
    turns
        .iter()
        .map(|t| {
            let d = &t.turn.detail;
            let mut meta = vec![esc(&t.at)];
            if let Some(i) = &t.turn.intent {
                meta.push(format!("intent {}{}", esc(i), t.turn.confidence.map(|c| format!(" ({c:.2})")).unwrap_or_default()));
            }
            if let Some(l) = t.turn.latency_ms {
                meta.push(format!("{l} ms"));
            }
            if let Some(a) = d["agent"].as_str() {
                meta.push(format!("by {}", esc(a)));
            }
            let citations: String = d["citations"]
                .as_array()
                .filter(|c| !c.is_empty())
                .map(|cs| {
                    let items: String = cs
                        .iter()
                        .map(|c| format!("<li><a href=\"{}\">{}</a></li>", esc(c["url"].as_str().unwrap_or("")), esc(c["title"].as_str().or(c["heading"].as_str()).unwrap_or("source"))))
                        .collect();
                    format!("<ul class=\"citations\">{items}</ul>")
                })
                .unwrap_or_default();
            // One decision, or one per request of a message that asked several things.
            let decisions: Vec<&str> = match &d["gate"] {
                serde_json::Value::Array(gates) => gates.iter().filter_map(|g| g["decision"].as_str()).collect(),
                g => g["decision"].as_str().into_iter().collect(),
            };
            let gate = if d["gate"].is_null() { String::new() } else { format!("<details><summary>gate: {}</summary>{}</details>", esc(&decisions.join(", ")), html::json_block(&d["gate"])) };
            let actions = match d["actions"].as_array() {
                Some(a) if !a.is_empty() => format!("<details><summary>actions ({})</summary>{}</details>", a.len(), html::json_block(&d["actions"])),
                _ => String::new(),
            };
            format!(
                "<div class=\"turn {role}\" data-turn=\"{}\"><div class=\"who\">{role} · {}</div><div class=\"text\">{}</div>{citations}{gate}{actions}</div>",
                t.id,
                meta.join(" · "),
                esc(&crate::privacy::for_log(&t.turn.text, mask)),
                role = esc(&t.turn.role),
            )
        })
        .collect()
}
