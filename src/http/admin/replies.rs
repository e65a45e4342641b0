//! Saved replies: `GET /admin/replies` (every saved reply with its placeholders; for admins, a
//! form to add one), `POST /admin/replies` (add), `GET /admin/replies/{id}` (edit form),
//! `POST /admin/replies/{id}` (save the edit) and `POST /admin/replies/{id}/delete`. Agents
//! read them here and insert them on a hand-off's page; only admins change them (403
//! `forbidden`, decided by `desk::replies`). Every form carries the session's CSRF token.

use std::sync::Arc;

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use maud::{html, Markup};
use serde::Deserialize;

use super::{
    blocking,
    html::{form, page, when},
    session::{Desk, Empty, Posted},
};
use crate::{
    app::App,
    desk::{
        accounts::Role,
        replies::{ReplyError, SavedReply, MAX_BODY_CHARS, MAX_TITLE_CHARS, PLACEHOLDERS},
    },
    http::ApiError,
};

/// The API's error for a saved-reply failure.
pub fn api_error(e: ReplyError) -> ApiError {
    let status = match e {
        // Roles are the accounts' errors, with their own statuses (403 `forbidden`).
        ReplyError::Access(a) => return a.into(),
        ReplyError::BadTitle | ReplyError::BadBody | ReplyError::UnknownPlaceholder(_) => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        ReplyError::Exists(_) => StatusCode::CONFLICT,
        ReplyError::NotFound(_) => StatusCode::NOT_FOUND,
        ReplyError::Sqlite(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::new(status, e.code(), e.to_string())
}

impl From<ReplyError> for ApiError {
    fn from(e: ReplyError) -> Self {
        api_error(e)
    }
}

/// Saved-reply ids are numbers; anything else names no saved reply.
fn parse_id(id: &str) -> Result<i64, ApiError> {
    id.parse().map_err(|_| api_error(ReplyError::NotFound(-1)))
}

#[derive(Deserialize)]
pub struct ReplyFields {
    pub title: String,
    pub body: String,
}

fn fields(title: &str, body: &str, id_prefix: &str) -> Markup {
    html! {
        label for={ (id_prefix) "-title" } { "Title (agents pick it by this)" }
        input id={ (id_prefix) "-title" } name="title" required maxlength=(MAX_TITLE_CHARS) value=(title);
        label for={ (id_prefix) "-body" } { "Text, with placeholders filled from the verified order" }
        textarea id={ (id_prefix) "-body" } name="body" required rows="6" maxlength=(MAX_BODY_CHARS) aria-describedby="placeholders" { (body) }
    }
}

fn placeholders() -> Markup {
    html! {
        div id="placeholders" {
            p.muted { "Placeholders (a reply that uses an order's is offered only on hand-offs with a verified order):" }
            ul.placeholders {
                @for (name, what) in PLACEHOLDERS {
                    li { code { "{" (name) "}" } " " (what) }
                }
            }
        }
    }
}

pub async fn list(desk: Desk, State(app): State<Arc<App>>) -> Response {
    match blocking(move || app.accounts.saved_replies()).await {
        Ok(list) => page(
            "Saved replies",
            Some(&desk.viewer()),
            "/admin/replies",
            render(&desk, &list),
        )
        .into_response(),
        Err(e) => desk.error(e),
    }
}

fn render(desk: &Desk, list: &[SavedReply]) -> Markup {
    let admin = desk.staff.role == Role::Admin;
    html! {
        h1 { "Saved replies" }
        p.muted { "Insert one on a hand-off's page, then edit it before sending." @if !admin { " Admins add and change them." } }
        @if list.is_empty() {
            p.muted { "No saved replies yet." }
        } @else {
            table {
                caption.sr { "Saved replies" }
                thead { tr { th scope="col" { "Title" } th scope="col" { "Text" } th scope="col" { "Last changed" } @if admin { th scope="col" { "Change" } } } }
                tbody {
                    @for r in list {
                        tr data-reply=(r.id) {
                            td { (r.title) }
                            td.pre { (r.body) }
                            td { (when(&desk.present, &r.updated_at)) " by " (r.updated_by) }
                            @if admin {
                                td {
                                    a href={ "/admin/replies/" (r.id) } aria-label={ "Edit " (r.title) } { "Edit" }
                                    " "
                                    (form(&format!("/admin/replies/{}/delete", r.id), &desk.csrf, "inline", html! {
                                        button.quiet type="submit" aria-label={ "Delete " (r.title) } { "Delete" }
                                    }))
                                }
                            }
                        }
                    }
                }
            }
        }
        @if admin {
            h2 { "Add a saved reply" }
            (form("/admin/replies", &desk.csrf, "card", html! {
                (fields("", "", "new"))
                p { button type="submit" id="add-reply" { "Add saved reply" } }
            }))
        }
        (placeholders())
    }
}

pub async fn create(State(app): State<Arc<App>>, posted: Posted<ReplyFields>) -> Response {
    let (staff, f) = (posted.desk.staff.clone(), posted.form);
    match blocking(move || app.accounts.create_reply(&staff, &f.title, &f.body)).await {
        Ok(_) => Redirect::to("/admin/replies").into_response(),
        Err(e) => posted.desk.error(e),
    }
}

pub async fn edit(desk: Desk, State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    if let Err(e) = desk.staff.require(Role::Admin) {
        return desk.error(e);
    }
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(e) => return desk.error(e),
    };
    match blocking(move || app.accounts.saved_reply(id)).await {
        Ok(r) => {
            let body = html! {
                h1 { "Edit saved reply" }
                (form(&format!("/admin/replies/{}", r.id), &desk.csrf, "card", html! {
                    (fields(&r.title, &r.body, "edit"))
                    p { button type="submit" id="save-reply" { "Save" } " " a href="/admin/replies" { "Cancel" } }
                }))
                (placeholders())
            };
            page(
                "Edit saved reply",
                Some(&desk.viewer()),
                "/admin/replies",
                body,
            )
            .into_response()
        }
        Err(e) => desk.error(e),
    }
}

pub async fn update(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    posted: Posted<ReplyFields>,
) -> Response {
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(e) => return posted.desk.error(e),
    };
    let (staff, f) = (posted.desk.staff.clone(), posted.form);
    match blocking(move || app.accounts.update_reply(&staff, id, &f.title, &f.body)).await {
        Ok(_) => Redirect::to("/admin/replies").into_response(),
        Err(e) => posted.desk.error(e),
    }
}

pub async fn delete(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    posted: Posted<Empty>,
) -> Response {
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(e) => return posted.desk.error(e),
    };
    let staff = posted.desk.staff.clone();
    match blocking(move || app.accounts.delete_reply(&staff, id)).await {
        Ok(()) => Redirect::to("/admin/replies").into_response(),
        Err(e) => posted.desk.error(e),
    }
}
