//! `GET /admin/handoffs[?status=]` (the queue), `GET /admin/handoffs/{id}` (the hand-off packet:
//! transcript, intent, verified identity, order snapshot, passages, gate reason and scores,
//! suggested draft; with claim, reply and resolve), and the forms `POST
//! /admin/handoffs/{id}/claim`, `/reply`, `/resolve`. The JSON side is `http::handoffs`.

use std::sync::Arc;

use axum::{
    extract::{Path, Query, State},
    response::{Html, IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use serde_json::Value;

use super::{
    blocking,
    html::{esc, form, json_block, page},
    session::{Desk, Empty, Posted},
    transcript,
};
use crate::{
    app::App,
    desk::{self, accounts::Role},
    journal::HandoffRecord,
};

#[derive(Deserialize, Default)]
pub struct QueueQuery {
    pub status: Option<String>,
}

pub async fn queue(
    desk: Desk,
    State(app): State<Arc<App>>,
    Query(q): Query<QueueQuery>,
) -> Response {
    let status = q.status.unwrap_or_else(|| "open".into());
    let mask = app.config.privacy.mask_logs;
    let wanted = status.clone();
    let list = match blocking(move || desk::handoffs(&app.assistant.journal, &wanted)).await {
        Ok(l) => l,
        Err(e) => return desk.error(e),
    };
    let tabs: String = desk::STATUSES
        .iter()
        .map(|s| {
            if *s == status {
                format!("<strong>{s}</strong>")
            } else {
                format!("<a href=\"/admin/handoffs?status={s}\">{s}</a>")
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    let rows: String = list
        .iter()
        .map(|h| {
            let first = h.packet["transcript"].as_array().and_then(|t| t.iter().rev().find(|x| x["role"] == "customer")).and_then(|x| x["text"].as_str()).unwrap_or("");
            format!(
                "<tr data-handoff=\"{id}\"><td><a href=\"/admin/handoffs/{id}\">{id}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&h.created_at),
                esc(&h.reason),
                esc(h.packet["intent"]["intent"].as_str().unwrap_or("")),
                esc(h.claimed_by.as_deref().unwrap_or("")),
                esc(&crate::privacy::for_log(first, mask)),
                id = esc(&h.id),
            )
        })
        .collect();
    let table = if list.is_empty() {
        format!("<p class=\"muted\">No {} hand-offs.</p>", esc(&status))
    } else {
        format!("<table><thead><tr><th>Hand-off</th><th>Opened</th><th>Reason</th><th>Intent</th><th>Claimed by</th><th>Customer's last message</th></tr></thead><tbody>{rows}</tbody></table>")
    };
    let body = format!("<h1>Hand-offs</h1><p class=\"tabs\">{tabs}</p>{table}");
    Html(page(
        "Hand-offs",
        Some(&desk.viewer()),
        "/admin/handoffs",
        &body,
    ))
    .into_response()
}

pub async fn show(desk: Desk, State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    let found = blocking(move || -> Result<_, desk::DeskError> {
        let h = desk::handoff(&app.assistant.journal, &id)?;
        let turns = app
            .assistant
            .journal
            .turns_since(&h.conversation_id, 0, None)?;
        Ok((h, turns))
    })
    .await;
    let (h, turns) = match found {
        Ok(x) => x,
        Err(e) => return desk.error(e),
    };
    let body = render(&desk, &h, &turns);
    Html(page(&h.id, Some(&desk.viewer()), "/admin/handoffs", &body)).into_response()
}

fn render(desk: &Desk, h: &HandoffRecord, turns: &[crate::journal::StoredTurn]) -> String {
    let p = &h.packet;
    let id = esc(&h.id);
    let status = format!(
        "<span class=\"pill {s}\" id=\"status\">{s}</span> {}",
        match (&h.claimed_by, &h.resolved_by) {
            (_, Some(r)) => format!(
                "resolved by {} at {}",
                esc(r),
                esc(h.resolved_at.as_deref().unwrap_or(""))
            ),
            (Some(c), None) => format!(
                "claimed by {} at {}",
                esc(c),
                esc(h.claimed_at.as_deref().unwrap_or(""))
            ),
            _ => "waiting for someone to take it".into(),
        },
        s = esc(&h.status),
    );
    let csrf = &desk.csrf;
    let mut buttons = String::new();
    if h.status == "open" {
        buttons += &form(
            &format!("/admin/handoffs/{}/claim", h.id),
            csrf,
            "inline",
            "<button type=\"submit\" id=\"claim\">Claim</button>",
        );
    }
    if h.status != "resolved" {
        buttons += " ";
        buttons += &form(
            &format!("/admin/handoffs/{}/resolve", h.id),
            csrf,
            "inline",
            "<button type=\"submit\" class=\"quiet\" id=\"resolve\">Resolve</button>",
        );
    }
    let intent = &p["intent"];
    let identity = &p["identity"];
    let who = match identity["customer_id"].as_str() {
        Some(c) => format!(
            "{} (verified by {})",
            esc(c),
            esc(identity["verified_by"].as_str().unwrap_or("?"))
        ),
        None => "not verified".into(),
    };
    let passages: String = p["passages"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|x| {
                    format!(
                        "<li><a href=\"{}\">{}</a> <span class=\"muted\">{} · bm25 {} · dense {} · fused {}</span></li>",
                        esc(x["url"].as_str().unwrap_or("")),
                        esc(x["title"].as_str().unwrap_or("")),
                        esc(x["heading"].as_str().unwrap_or("")),
                        score(&x["bm25"]),
                        score(&x["dense"]),
                        score(&x["fused"]),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let order = if p["order"].is_null() {
        "<p class=\"muted\">No order in focus.</p>".to_string()
    } else {
        json_block(&p["order"])
    };
    let draft = p["suggested_reply"].as_str().unwrap_or("");
    let reply = form(
        &format!("/admin/handoffs/{}/reply", h.id),
        csrf,
        "",
        &format!("<label for=\"message\">Reply to the customer (signed {})</label><textarea id=\"message\" name=\"message\" required></textarea><p><button type=\"submit\" id=\"send\">Send reply</button></p>", esc(&desk.staff.name)),
    );
    format!(
        "<h1>Hand-off {id}</h1><p>{status}</p><p>{buttons}</p>\
         <div class=\"card\"><h2>Transcript</h2>{}<p class=\"muted\"><a href=\"/admin/conversations/{}\">Full conversation record</a></p>{reply}</div>\
         <div class=\"card\"><h2>Why it was handed off</h2><p>{}</p>{}\
         <h2>Intent</h2><p>{} <span class=\"muted\">confidence {} · margin {}</span></p>\
         <h2>Customer</h2><p>{who}</p><h2>Order</h2>{order}\
         <h2>Passages</h2><ul>{passages}</ul>\
         <h2>Suggested draft</h2><blockquote id=\"draft\">{}</blockquote></div>",
        // The person handling the case sees what the customer wrote (the address to ship to).
        transcript(turns, false),
        esc(&h.conversation_id),
        esc(&h.reason),
        json_block(&p["gate"]),
        esc(intent["intent"].as_str().unwrap_or("?")),
        score(&intent["confidence"]),
        score(&intent["margin"]),
        esc(draft),
    )
}

fn score(v: &Value) -> String {
    v.as_f64().map_or_else(|| "–".into(), |x| format!("{x:.3}"))
}

fn back(id: &str) -> Response {
    Redirect::to(&format!("/admin/handoffs/{}", urlencode(id))).into_response()
}

/// Hand-off ids are `HO-` and hex, but a path segment is made safe anyway.
fn urlencode(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .collect()
}

pub async fn claim(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    posted: Posted<Empty>,
) -> Response {
    let (who, hid) = (posted.desk.staff.email.clone(), id.clone());
    match blocking(move || desk::claim(&app.assistant.journal, &hid, &who)).await {
        Ok(_) => back(&id),
        Err(e) => posted.desk.error(e),
    }
}

pub async fn resolve(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    posted: Posted<Empty>,
) -> Response {
    let (who, hid, overrule) = (
        posted.desk.staff.email.clone(),
        id.clone(),
        posted.desk.staff.role == Role::Admin,
    );
    match blocking(move || desk::resolve(&app.assistant.journal, &hid, &who, overrule)).await {
        Ok(_) => back(&id),
        Err(e) => posted.desk.error(e),
    }
}

#[derive(Deserialize)]
pub struct ReplyForm {
    pub message: String,
}

pub async fn reply(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    posted: Posted<ReplyForm>,
) -> Response {
    let (name, hid, text) = (
        posted.desk.staff.name.clone(),
        id.clone(),
        posted.form.message.clone(),
    );
    let a = app.clone();
    let delivered = match blocking(move || {
        desk::reply(&a.assistant.journal, &a.live, &hid, Some(&name), &text)
    })
    .await
    {
        Ok(d) => d,
        Err(e) => return posted.desk.error(e),
    };
    // A conversation that came by email gets the reply by email, in its thread, as from the API.
    if let Some(email) = &app.email {
        if let Err(e) = email.send_agent_reply(&app.assistant, &delivered).await {
            return posted.desk.error(e);
        }
    }
    back(&id)
}
