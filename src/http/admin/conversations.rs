//! `GET /admin/conversations` (filter by channel, intent, outcome and dates; search the turns'
//! text) and `GET /admin/conversations/{id}` (transcript, citations, gate decisions with their
//! scores, hand-offs, actions with before and after). The same as JSON: `GET
//! /v1/admin/conversations[?…]` and `GET /v1/admin/conversations/{id}`.

use std::sync::Arc;

use axum::{
    extract::{rejection::QueryRejection, Path, Query, State},
    http::StatusCode,
    response::{Html, IntoResponse, Response},
    Json,
};
use serde_json::{json, Value};

use super::{
    actions::action_rows,
    blocking,
    html::{esc, page},
    session::Desk,
    transcript,
};
use crate::{
    app::App,
    desk::{self, ConversationRecord},
    http::{auth::Admin, ApiError},
    journal::{ConversationFilter, ConversationSummary},
    privacy::for_log,
};

fn filter_form(f: &ConversationFilter) -> String {
    let v = |o: &Option<String>| esc(o.as_deref().unwrap_or(""));
    let select = |name: &str, current: &Option<String>, options: &[&str]| {
        let opts: String = std::iter::once("")
            .chain(options.iter().copied())
            .map(|o| format!("<option value=\"{o}\"{}>{}</option>", if current.as_deref().unwrap_or("") == o { " selected" } else { "" }, if o.is_empty() { "any" } else { o }))
            .collect();
        format!("<div><label for=\"{name}\">{name}</label><select id=\"{name}\" name=\"{name}\">{opts}</select></div>")
    };
    format!(
        "<form method=\"get\" action=\"/admin/conversations\" class=\"filters\">\
         <div><label for=\"q\">Search the turns</label><input id=\"q\" name=\"q\" type=\"search\" value=\"{}\"></div>\
         {}{}<div><label for=\"intent\">intent</label><input id=\"intent\" name=\"intent\" value=\"{}\" size=\"14\"></div>\
         <div><label for=\"from\">from</label><input id=\"from\" name=\"from\" type=\"date\" value=\"{}\"></div>\
         <div><label for=\"to\">to</label><input id=\"to\" name=\"to\" type=\"date\" value=\"{}\"></div>\
         <div><button type=\"submit\">Filter</button></div></form>",
        v(&f.q),
        select("channel", &f.channel, &["widget", "api", "email", "cli"]),
        select("outcome", &f.outcome, &["answered", "unresolved", "handoff"]),
        v(&f.intent),
        v(&f.from),
        v(&f.to),
    )
}

fn list_html(list: &[ConversationSummary], mask: bool) -> String {
    if list.is_empty() {
        return "<p class=\"muted\">No conversations match.</p>".into();
    }
    let rows: String = list
        .iter()
        .map(|c| {
            format!(
                "<tr><td><a href=\"/admin/conversations/{id}\">{short}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&c.updated_at),
                esc(&c.channel),
                esc(c.intent.as_deref().unwrap_or("")),
                esc(c.outcome.as_deref().unwrap_or("")),
                c.turns,
                esc(&for_log(c.first_message.as_deref().unwrap_or(""), mask)),
                id = esc(&c.id),
                short = esc(&c.id.chars().take(13).collect::<String>()),
            )
        })
        .collect();
    format!("<table><thead><tr><th>Conversation</th><th>Last active</th><th>Channel</th><th>Intent</th><th>Outcome</th><th>Turns</th><th>First message</th></tr></thead><tbody>{rows}</tbody></table>")
}

fn valid_day(d: &Option<String>) -> bool {
    d.as_deref().is_none_or(|d| d.is_empty() || time::Date::parse(d, time::macros::format_description!("[year]-[month]-[day]")).is_ok())
}

fn check(f: &ConversationFilter) -> Result<(), ApiError> {
    if valid_day(&f.from) && valid_day(&f.to) {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_date", "dates are YYYY-MM-DD"))
    }
}

pub async fn list(desk: Desk, State(app): State<Arc<App>>, query: Result<Query<ConversationFilter>, QueryRejection>) -> Response {
    let f = query.map(|Query(f)| f).unwrap_or_default();
    if let Err(e) = check(&f) {
        return desk.error(e);
    }
    let filter = f.clone();
    let journal = app.assistant.journal.clone();
    match blocking(move || journal.find_conversations(&filter)).await {
        Ok(list) => {
            let body = format!("<h1>Conversations</h1>{}<p class=\"muted\">{} shown (latest first, at most {}).</p>{}", filter_form(&f), list.len(), crate::journal::MAX_LISTED, list_html(&list, app.config.privacy.mask_logs));
            Html(page("Conversations", Some(&desk.viewer()), "/admin/conversations", &body)).into_response()
        }
        Err(e) => desk.error(e),
    }
}

pub async fn show(desk: Desk, State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    let mask = app.config.privacy.mask_logs;
    let record = match blocking(move || desk::conversation(&app.assistant.journal, app.assistant.orders.as_ref(), &id)).await {
        Ok(r) => r,
        Err(e) => return desk.error(e),
    };
    let body = render(&desk, &record, mask);
    Html(page("Conversation", Some(&desk.viewer()), "/admin/conversations", &body)).into_response()
}

fn render(desk: &Desk, r: &ConversationRecord, mask: bool) -> String {
    let c = &r.conversation;
    let handoffs: String = r
        .handoffs
        .iter()
        .map(|h| format!("<li><a href=\"/admin/handoffs/{id}\">{id}</a> {} <span class=\"pill {s}\">{s}</span></li>", esc(&h.reason), id = esc(&h.id), s = esc(&h.status)))
        .collect();
    let actions = if r.actions.is_empty() { "<p class=\"muted\">No actions.</p>".to_string() } else { action_rows(desk, &r.actions) };
    format!(
        "<h1>Conversation {}</h1><p class=\"muted\">{} · started {} · last active {} · customer {}</p>\
         <div class=\"card\"><h2>Transcript</h2>{}</div>\
         <h2>Hand-offs</h2><ul>{handoffs}</ul><h2>Actions</h2>{actions}",
        esc(&c.id),
        esc(&c.channel),
        esc(&c.created_at),
        esc(&c.updated_at),
        esc(c.state.customer_id.as_deref().unwrap_or("not verified")),
        transcript(&r.turns, mask),
    )
}

pub async fn api_list(_: Admin, State(app): State<Arc<App>>, query: Result<Query<ConversationFilter>, QueryRejection>) -> Result<Json<Value>, ApiError> {
    let Query(f) = query.map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", e.body_text()))?;
    check(&f)?;
    let mask = app.config.privacy.mask_logs;
    let mut list = blocking(move || app.assistant.journal.find_conversations(&f)).await?;
    for c in &mut list {
        c.first_message = c.first_message.take().map(|m| for_log(&m, mask).into_owned());
    }
    Ok(Json(json!({ "conversations": list })))
}

pub async fn api_show(_: Admin, State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<Json<ConversationRecord>, ApiError> {
    Ok(Json(blocking(move || desk::conversation(&app.assistant.journal, app.assistant.orders.as_ref(), &id)).await?))
}
