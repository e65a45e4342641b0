//! `GET /admin/actions` (the action log, newest first, with before and after) and `POST
//! /admin/actions/{id}/revert` (an admin's undo, through `actions::revert`: only while the order
//! is still as the action left it). JSON: `GET /v1/admin/actions`, `POST
//! /v1/admin/actions/{id}/revert` (403 `forbidden` for agents, 409 `action_not_revertible`).

use std::{collections::HashMap, sync::Arc};

use axum::{
    extract::{Path, State},
    response::{IntoResponse, Redirect, Response},
    Json,
};
use maud::{html, Markup};
use serde_json::{json, Value};

use super::{
    blocking,
    handoffs::customer_name,
    html::{form, json_block, page, when_ts},
    session::{Desk, Empty, Posted},
};
use crate::http::error::ErrorBody;
use crate::{
    app::App,
    desk::{self, accounts::Role, present},
    http::{auth::Admin, ApiError},
    orders::{Customer, LoggedAction},
};

/// The customers a list of actions names, looked up once.
pub fn customers_of(
    app: &App,
    actions: &[LoggedAction],
) -> Result<HashMap<String, Customer>, ApiError> {
    let mut found = HashMap::new();
    for a in actions {
        if !found.contains_key(&a.customer_id) {
            if let Some(c) = app.assistant.orders.customer(&a.customer_id)? {
                found.insert(a.customer_id.clone(), c);
            }
        }
    }
    Ok(found)
}

/// The log as a table, newest first: when (in the store's zone), what was done in words, the
/// order and the customer by name (their email masked with `mask`), before and after; admins
/// get an undo button on what can still be undone.
pub fn action_rows(
    desk: &Desk,
    actions: &[LoggedAction],
    customers: &HashMap<String, Customer>,
    mask: bool,
) -> Markup {
    html! {
        table.actions {
            caption.sr { "Logged actions, newest first" }
            thead { tr {
                th scope="col" { "When" } th scope="col" { "What" } th scope="col" { "Status" }
                th scope="col" { "Order · customer" } th scope="col" { "Summary · by" } th scope="col" { "Change" }
                th scope="col" { span.sr { "Reversal" } }
            } }
            tbody {
                @for a in actions {
                    tr data-action=(a.id) {
                        td { (when_ts(&desk.present, a.at)) br; span.muted { (a.id) } }
                        td { span title=(a.kind) { (present::action_kind(&a.kind)) } }
                        td { span class={ "pill " (a.status) } { (present::action_status(&a.status)) } }
                        td {
                            (a.order_number.as_deref().unwrap_or("–")) br;
                            (customer_name(customers.get(&a.customer_id), &a.customer_id, mask))
                        }
                        td {
                            (a.doc["summary"].as_str().unwrap_or("")) br;
                            span.muted { "by " (a.actor) }
                            @if let Some(c) = &a.conversation_id { " " a href={ "/admin/conversations/" (c) } { "conversation" } }
                        }
                        td {
                            @let changes = desk.present.changes(&a.doc["before"], &a.doc["after"]);
                            @if changes.is_empty() {
                                span.muted { "no field changed" }
                            } @else {
                                ul.changes aria-label={ "What " (a.id) " changed" } {
                                    @for c in &changes {
                                        li { span.muted { (c.path) ": " } (c.before) " → " strong { (c.after) } }
                                    }
                                }
                            }
                            details { summary { "before / after" } h3 { "Before" } (json_block(&a.doc["before"])) h3 { "After" } (json_block(&a.doc["after"])) }
                        }
                        td {
                            @if desk.staff.role == Role::Admin && a.status == "executed" && !a.kind.starts_with("revert_") {
                                (form(&format!("/admin/actions/{}/revert", a.id), &desk.csrf, "inline", html! { button.quiet type="submit" aria-label={ "Undo " (a.id) } { "Undo" } }))
                            }
                        }
                    }
                }
            }
        }
    }
}

pub async fn list(desk: Desk, State(app): State<Arc<App>>) -> Response {
    let found = blocking(move || -> Result<_, ApiError> {
        let log = desk::action_log(app.assistant.orders.as_ref())?;
        let customers = customers_of(&app, &log)?;
        Ok((log, customers, app.config.privacy.mask_logs))
    })
    .await;
    match found {
        Ok((log, customers, mask)) => {
            let body = html! {
                h1 { "Action log" }
                p.muted { "Every change the assistant made to an order, newest first. Times are the store's (" (desk.present.timezone_name()) ")." }
                @if log.is_empty() { p.muted { "No actions yet." } }
                @else { (action_rows(&desk, &log, &customers, mask)) }
            };
            page("Actions", Some(&desk.viewer()), "/admin/actions", body).into_response()
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
