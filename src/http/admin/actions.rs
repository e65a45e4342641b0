//! `GET /admin/actions` (the action log, newest first, with before and after) and `POST
//! /admin/actions/{id}/revert` (an admin's undo, through `actions::revert`: only while the order
//! is still as the action left it). JSON: `GET /v1/admin/actions`, `POST
//! /v1/admin/actions/{id}/revert` (403 `forbidden` for agents, 409 `action_not_revertible`).

use std::sync::Arc;

use axum::{
    extract::{Path, State},
    response::{Html, IntoResponse, Redirect, Response},
    Json,
};
use serde_json::{json, Value};

use super::{
    blocking,
    html::{esc, form, json_block, page},
    session::{Desk, Empty, Posted},
};
use crate::http::error::ErrorBody;
use crate::{
    app::App,
    desk::{self, accounts::Role},
    http::{auth::Admin, ApiError},
    orders::LoggedAction,
};

/// The log as a table; admins get an undo button on what can still be undone.
pub fn action_rows(desk: &Desk, actions: &[LoggedAction]) -> String {
    let rows: String = actions
        .iter()
        .map(|a| {
            let undo = if desk.staff.role == Role::Admin && a.status == "executed" && !a.kind.starts_with("revert_") {
                form(&format!("/admin/actions/{}/revert", a.id), &desk.csrf, "inline", "<button type=\"submit\" class=\"quiet\">Undo</button>")
            } else {
                String::new()
            };
            let conversation = a.conversation_id.as_deref().map(|c| format!("<a href=\"/admin/conversations/{c}\">conversation</a>", c = esc(c))).unwrap_or_default();
            format!(
                "<tr data-action=\"{id}\"><td>{id}<br><span class=\"muted\">{}</span></td><td>{}</td><td><span class=\"pill\">{}</span></td><td>{}<br>{}</td><td>{}<br><span class=\"muted\">{}</span> {conversation}</td>\
                 <td><details><summary>before / after</summary><h3>Before</h3>{}<h3>After</h3>{}</details></td><td>{undo}</td></tr>",
                esc(&a.at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()),
                esc(&a.kind),
                esc(&a.status),
                esc(a.order_number.as_deref().unwrap_or("–")),
                esc(&a.customer_id),
                esc(a.doc["summary"].as_str().unwrap_or("")),
                esc(&a.actor),
                json_block(&a.doc["before"]),
                json_block(&a.doc["after"]),
                id = esc(&a.id),
            )
        })
        .collect();
    format!("<table><thead><tr><th>Action</th><th>Kind</th><th>Status</th><th>Order · customer</th><th>Summary · by</th><th>Change</th><th></th></tr></thead><tbody>{rows}</tbody></table>")
}

pub async fn list(desk: Desk, State(app): State<Arc<App>>) -> Response {
    match blocking(move || desk::action_log(app.assistant.orders.as_ref())).await {
        Ok(log) => {
            let table = if log.is_empty() {
                "<p class=\"muted\">No actions yet.</p>".to_string()
            } else {
                action_rows(&desk, &log)
            };
            let body = format!("<h1>Action log</h1>{table}");
            Html(page(
                "Actions",
                Some(&desk.viewer()),
                "/admin/actions",
                &body,
            ))
            .into_response()
        }
        Err(e) => desk.error(e),
    }
}

pub async fn revert(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    posted: Posted<Empty>,
) -> Response {
    let staff = posted.desk.staff.clone();
    match blocking(move || desk::undo_action(app.assistant.orders.as_ref(), &staff, &id)).await {
        Ok(_) => Redirect::to("/admin/actions").into_response(),
        Err(e) => posted.desk.error(e),
    }
}

/// The action log, with before and after.
#[utoipa::path(
    get,
    path = "/v1/admin/actions",
    operation_id = "admin_actions",
    tag = "desk",
    security(("admin" = [])),
    responses(
        (status = 200, description = "`{actions: [...]}`", body = Object),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`admin_disabled`", body = ErrorBody),
    )
)]
pub async fn api_list(_: Admin, State(app): State<Arc<App>>) -> Result<Json<Value>, ApiError> {
    let log = blocking(move || desk::action_log(app.assistant.orders.as_ref())).await?;
    Ok(Json(json!({ "actions": log })))
}

/// Undo a logged action (admins only), while the order is still as the action left it.
#[utoipa::path(
    post,
    path = "/v1/admin/actions/{id}/revert",
    operation_id = "admin_revert_action",
    tag = "desk",
    security(("admin" = [])),
    params(("id" = String, Path, description = "A logged action's id")),
    responses(
        (status = 200, description = "`{reverted, logged_as}`", body = Object),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`admin_disabled` or `forbidden` (agents)", body = ErrorBody),
        (status = 404, description = "`action_not_found`", body = ErrorBody),
        (status = 409, description = "`action_not_revertible`", body = ErrorBody),
    )
)]
pub async fn api_revert(
    Admin(staff): Admin,
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let reverted = id.clone();
    let undo =
        blocking(move || desk::undo_action(app.assistant.orders.as_ref(), &staff, &id)).await?;
    Ok(Json(json!({ "reverted": reverted, "logged_as": undo })))
}
