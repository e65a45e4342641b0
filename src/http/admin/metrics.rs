//! `GET /admin/metrics` (bar charts, drawn with `<meter>` so the page needs no script and no
//! inline style) and `GET /v1/admin/metrics` (the same numbers): automation rate, hand-offs by
//! reason, intents, answer latency percentiles, customers' ratings of replies, conversations per
//! channel and day.

use std::sync::Arc;

use axum::{
    extract::State,
    response::{Html, IntoResponse, Response},
    Json,
};

use super::{
    blocking,
    html::{esc, page},
    session::Desk,
};
use crate::http::error::ErrorBody;
use crate::{
    app::App,
    desk::{self, Metrics},
    http::{auth::Admin, ApiError},
};

/// Label, count and a bar scaled to the largest count.
fn bars(rows: &[(String, i64)]) -> String {
    if rows.is_empty() {
        return "<p class=\"muted\">Nothing yet.</p>".into();
    }
    let max = rows.iter().map(|(_, n)| *n).max().unwrap_or(1).max(1);
    let rows: String = rows.iter().map(|(label, n)| format!("<tr><td>{}</td><td><meter min=\"0\" max=\"{max}\" value=\"{n}\"></meter></td><td>{n}</td></tr>", esc(label))).collect();
    format!("<table class=\"bars\"><tbody>{rows}</tbody></table>")
}

fn render(m: &Metrics) -> String {
    let ms = |v: Option<u64>| v.map_or_else(|| "–".into(), |v| format!("{v} ms"));
    let daily: Vec<(String, i64)> = m
        .daily
        .iter()
        .map(|(day, channel, n)| (format!("{day} · {channel}"), *n))
        .collect();
    format!(
        "<h1>Metrics</h1>\
         <div class=\"card\"><h2>Automation rate</h2><p><meter id=\"automation\" min=\"0\" max=\"1\" value=\"{:.3}\"></meter> <strong>{:.0}%</strong> of {} conversations answered without a person</p>{}</div>\
         <div class=\"card\"><h2>Answer latency</h2><p>p50 {} · p90 {} · p99 {}</p></div>\
         <div class=\"card\"><h2>Customer feedback</h2><p id=\"feedback\">{}</p>{}</div>\
         <div class=\"card\"><h2>Hand-offs by reason</h2>{}</div>\
         <div class=\"card\"><h2>Intents</h2>{}</div>\
         <div class=\"card\"><h2>Conversations per channel and day</h2>{}</div>",
        m.automation_rate,
        m.automation_rate * 100.0,
        m.conversations,
        bars(&m.outcomes),
        ms(m.latency_p50_ms),
        ms(m.latency_p90_ms),
        ms(m.latency_p99_ms),
        match m.feedback_up + m.feedback_down {
            0 => "No replies rated yet.".to_string(),
            rated => format!("{:.0}% of {rated} rated replies helpful", 100.0 * m.feedback_up as f64 / rated as f64),
        },
        bars(&[("helpful".to_string(), m.feedback_up), ("not helpful".to_string(), m.feedback_down)]),
        bars(&m.handoff_reasons),
        bars(&m.intents),
        bars(&daily),
    )
}

pub async fn show(desk: Desk, State(app): State<Arc<App>>) -> Response {
    match blocking(move || desk::metrics(&app.assistant.journal)).await {
        Ok(m) => Html(page(
            "Metrics",
            Some(&desk.viewer()),
            "/admin/metrics",
            &render(&m),
        ))
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
