//! `GET /admin/metrics` (bar charts, drawn with `<meter>` so the page needs no script and no
//! inline style) and `GET /v1/admin/metrics` (the same numbers): automation rate, hand-offs by
//! reason, intents, answer latency percentiles, customers' ratings of replies, conversations per
//! channel and day.

use std::sync::Arc;

use axum::{
    extract::State,
    response::{IntoResponse, Response},
    Json,
};
use maud::{html, Markup};

use super::{blocking, html::page, session::Desk};
use crate::http::error::ErrorBody;
use crate::{
    app::App,
    desk::{self, present, Metrics},
    http::{auth::Admin, ApiError},
};

/// Label, count and a bar scaled to the largest count. `caption` names the table.
fn bars(caption: &str, rows: &[(String, i64)]) -> Markup {
    let max = rows.iter().map(|(_, n)| *n).max().unwrap_or(1).max(1);
    html! {
        @if rows.is_empty() {
            p.muted { "Nothing yet." }
        } @else {
            table.bars {
                caption.sr { (caption) }
                thead { tr { th scope="col" { "What" } th scope="col" { span.sr { "Share" } } th scope="col" { "Count" } } }
                tbody {
                    @for (label, n) in rows {
                        tr {
                            td { (label) }
                            td { meter min="0" max=(max) value=(n) aria-label={ (label) ": " (n) } {} }
                            td { (n) }
                        }
                    }
                }
            }
        }
    }
}

/// The codes of a tally in words.
fn worded(rows: &[(String, i64)], words: fn(&str) -> String) -> Vec<(String, i64)> {
    rows.iter().map(|(c, n)| (words(c), *n)).collect()
}

fn render(m: &Metrics) -> Markup {
    let ms = |v: Option<u64>| v.map_or_else(|| "–".into(), |v| format!("{v} ms"));
    let daily: Vec<(String, i64)> = m
        .daily
        .iter()
        .map(|(day, channel, n)| (format!("{day} · {}", present::channel(channel)), *n))
        .collect();
    html! {
        h1 { "Metrics" }
        div.card {
            h2 { "Automation rate" }
            p {
                meter id="automation" min="0" max="1" value=(format!("{:.3}", m.automation_rate)) aria-label="Automation rate" {}
                " " strong { (format!("{:.0}%", m.automation_rate * 100.0)) }
                " of " (m.conversations) " conversations answered without a person"
            }
            (bars("Conversations by outcome", &worded(&m.outcomes, present::outcome)))
        }
        div.card { h2 { "Answer latency" } p { "p50 " (ms(m.latency_p50_ms)) " · p90 " (ms(m.latency_p90_ms)) " · p99 " (ms(m.latency_p99_ms)) } }
        div.card {
            h2 { "Customer feedback" }
            p id="feedback" {
                @match m.feedback_up + m.feedback_down {
                    0 => "No replies rated yet.",
                    rated => (format!("{:.0}% of {rated} rated replies helpful", 100.0 * m.feedback_up as f64 / rated as f64)),
                }
            }
            (bars("Ratings", &[("helpful".to_string(), m.feedback_up), ("not helpful".to_string(), m.feedback_down)]))
        }
        div.card { h2 { "Hand-offs by reason" } (bars("Hand-offs by reason", &worded(&m.handoff_reasons, present::reason))) }
        div.card { h2 { "Intents" } (bars("Intents", &worded(&m.intents, present::intent))) }
        div.card { h2 { "Conversations per channel and day" } (bars("Conversations per channel and day", &daily)) }
    }
}

pub async fn show(desk: Desk, State(app): State<Arc<App>>) -> Response {
    match blocking(move || desk::metrics(&app.assistant.journal)).await {
        Ok(m) => page(
            "Metrics",
            Some(&desk.viewer()),
            "/admin/metrics",
            render(&m),
        )
        .into_response(),
        Err(e) => desk.error(e),
    }
}

/// Automation rate, hand-offs by reason, intents, latency percentiles, feedback, per channel and
/// day.
#[utoipa::path(
    get,
    path = "/v1/admin/metrics",
    operation_id = "admin_metrics",
    tag = "desk",
    security(("admin" = [])),
    responses(
        (status = 200, description = "The metrics", body = Object),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`admin_disabled`", body = ErrorBody),
    )
)]
pub async fn api(_: Admin, State(app): State<Arc<App>>) -> Result<Json<Metrics>, ApiError> {
    Ok(Json(
        blocking(move || desk::metrics(&app.assistant.journal)).await?,
    ))
}
