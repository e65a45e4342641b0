//! The team's desk: server-rendered pages under `/admin` behind a login, and their JSON twins
//! under `/v1/admin` (and `/v1/handoffs`) behind bearer tokens. Each file here serves one
//! resource, its page and its JSON: [`handoffs`] (pages; the JSON is `http::handoffs`),
//! [`conversations`], [`actions`], [`metrics`], [`users`] (managing them), [`suggestions`]
//! (the knowledge base that grows), [`replies`] (saved replies); [`login`] signs people in and
//! out; [`session`] is the cookie, the signed-in person and the CSRF check of every POST form;
//! [`html`] the page frame and shared markup (maud, which escapes every value).
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
mod replies;
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

use maud::{html, Markup};

use super::ApiError;
use crate::{
    app::App,
    desk::present::{self, Presenter},
    journal::StoredTurn,
};

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
        .route("/admin/replies", get(replies::list).post(replies::create))
        .route(
            "/admin/replies/{id}",
            get(replies::edit).post(replies::update),
        )
        .route("/admin/replies/{id}/delete", post(replies::delete))
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

/// A conversation's turns for the team: every role, with when (in the store's zone), intent
/// and confidence, citations, the gate's decision and scores, and actions. `mask` hides
/// personal data (`privacy.mask_logs`).
fn transcript(turns: &[StoredTurn], mask: bool, p: &Presenter) -> Markup {
    html! {
        @for t in turns {
            @let d = &t.turn.detail;
            // One decision, or one per request of a message that asked several things.
            @let decisions = d.decisions();
            div class={ "turn " (t.turn.role) } data-turn=(t.id) {
                div.who {
                    (speaker(&t.turn.role)) " · " (html::when(p, &t.at))
                    @if let Some(i) = &t.turn.intent {
                        " · " span title=(i) { (present::intent(i)) }
                        @if let Some(c) = t.turn.confidence { " (" (format!("{c:.2}")) ")" }
                    }
                    @if let Some(l) = t.turn.latency_ms { " · " (l) " ms" }
                    @if let Some(a) = &d.agent { " · by " (a) }
                }
                div.text { (crate::privacy::for_log(&t.turn.text, mask)) }
                @if !d.citations.is_empty() {
                    ul.citations aria-label="Sources" {
                        @for c in &d.citations {
                            li { a href=(c.url.as_deref().unwrap_or("")) { (if c.title.is_empty() { &c.heading } else { &c.title }) } }
                        }
                    }
                }
                @if let Some(gate) = &d.gate {
                    details { summary { "gate: " (decisions.join(", ")) } (html::json_block(gate)) }
                }
                @if !d.actions.is_empty() {
                    details { summary { "actions (" (d.actions.len()) ")" } (html::json_block(&d.actions)) }
                }
            }
        }
    }
}

/// Who said a turn, in words.
fn speaker(role: &str) -> String {
    match role {
        "customer" => "Customer".into(),
        "assistant" => "Assistant".into(),
        "agent" => "Team".into(),
        other => present::humanise(other),
    }
}
