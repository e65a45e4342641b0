//! User management, for admins: `GET /admin/users` (who has access, with role, status, last
//! sign-in and tokens; forms to add a user and change one; the audit log of those changes),
//! `POST /admin/users` (add) and `POST /admin/users/{id}/{change}` with `change` one of `role`,
//! `disable`, `enable`, `password`, `revoke-tokens`. The JSON twins: `GET /v1/admin/users`,
//! `POST /v1/admin/users`, `POST /v1/admin/users/{id}/{change}`, and `GET /v1/admin/me` (whose
//! token this is, for anyone). `desk::accounts` decides who may do what (agents get 403
//! `forbidden`) and refuses a change that would leave no active admin (409 `last_admin`).

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{rejection::PathRejection, Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    Json,
};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    blocking,
    html::{form, page, when},
    session::{Desk, Posted},
};
use crate::{
    app::App,
    desk::accounts::{AuditEntry, Role, Staff, User, UserChange, MIN_PASSWORD_CHARS},
    http::{auth::Admin, ApiError},
};

/// Audit entries shown on the page and returned by the API.
const AUDIT_SHOWN: usize = 50;

/// A new user, from the page's form or the API's JSON.
#[derive(Deserialize)]
pub struct NewUser {
    email: String,
    #[serde(default)]
    name: Option<String>,
    role: String,
    password: String,
}

/// What a change carries: the role for `role`, the password for `password`.
#[derive(Deserialize, Default)]
pub struct ChangeFields {
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

fn add(app: &App, actor: &Staff, new: NewUser) -> Result<User, ApiError> {
    // An agent is refused before anything they sent is judged.
    actor.require(Role::Admin)?;
    let role: Role = new.role.trim().parse()?;
    Ok(app
        .accounts
        .add_user(actor, &new.email, new.name.as_deref(), role, &new.password)?)
}

fn change(
    app: &App,
    actor: &Staff,
    id: i64,
    kind: &str,
    fields: ChangeFields,
) -> Result<User, ApiError> {
    // An agent is refused before anything they sent is judged.
    actor.require(Role::Admin)?;
    let change = UserChange::parse(kind, fields.role.as_deref().map(str::trim), fields.password)?;
    Ok(app.accounts.change_user(actor, id, change)?)
}

/// `{id}/{change}` of the path; an id that is not a number names no user.
fn target(path: Result<Path<(i64, String)>, PathRejection>) -> Result<(i64, String), ApiError> {
    path.map(|Path(p)| p)
        .map_err(|e| ApiError::new(StatusCode::NOT_FOUND, "user_not_found", e.body_text()))
}

fn list_data(app: &App, actor: &Staff) -> Result<(Vec<User>, Vec<AuditEntry>), ApiError> {
    actor.require(Role::Admin)?;
    Ok((app.accounts.users()?, app.accounts.audit_log(AUDIT_SHOWN)?))
}

pub async fn list(desk: Desk, State(app): State<Arc<App>>) -> Response {
    let actor = desk.staff.clone();
    match blocking(move || list_data(&app, &actor)).await {
        Ok((users, audit)) => page(
            "Users",
            Some(&desk.viewer()),
            "/admin/users",
            render(&desk, &users, &audit),
        )
        .into_response(),
        Err(e) => desk.error(e),
    }
}

fn role_select(id: &str, label: &str, current: Role) -> Markup {
    html! {
        select name="role" id=(id) aria-label=(label) {
            @for r in [Role::Agent, Role::Admin] {
                option value=(r.as_str()) selected[r == current] { (r.as_str()) }
            }
        }
    }
}

/// What an audit entry's action code means.
fn audit_words(action: &str) -> String {
    match action {
        "user_created" => "added the user".into(),
        "role_changed" => "changed the role".into(),
        "user_disabled" => "disabled the user".into(),
        "user_enabled" => "enabled the user".into(),
        "password_reset" => "set a new password".into(),
        "tokens_revoked" => "revoked the tokens".into(),
        "reply_created" => "added the saved reply".into(),
        "reply_updated" => "changed the saved reply".into(),
        "reply_deleted" => "deleted the saved reply".into(),
        other => crate::desk::present::humanise(other).to_lowercase(),
    }
}

fn render(desk: &Desk, users: &[User], audit: &[AuditEntry]) -> Markup {
    let csrf = &desk.csrf;
    html! {
        h1 { "Users" }
        table {
            caption.sr { "Who has access to the desk" }
            thead { tr {
                th scope="col" { "Email" } th scope="col" { "Name" } th scope="col" { "Role" } th scope="col" { "Status" }
                th scope="col" { "Last sign-in" } th scope="col" { "Tokens" } th scope="col" { "Change" }
            } }
            tbody {
                @for u in users {
                    @let base = format!("/admin/users/{}", u.id);
                    tr data-user=(u.id) {
                        td { (u.email) @if desk.staff.user_id == Some(u.id) { " " span.muted { "(you)" } } }
                        td { (u.name) }
                        td { (u.role.as_str()) }
                        td { span.pill { @if u.disabled { "disabled" } @else { "active" } } }
                        td { @match &u.last_login_at { Some(t) => (when(&desk.present, t)), None => "never" } }
                        td { (u.tokens) }
                        td {
                            (form(&format!("{base}/role"), csrf, "inline", html! {
                                (role_select(&format!("role-{}", u.id), &format!("role of {}", u.email), u.role))
                                button.quiet type="submit" { "Change role" }
                            }))
                            @if u.disabled {
                                (form(&format!("{base}/enable"), csrf, "inline", html! { button.quiet type="submit" aria-label={ "Enable " (u.email) } { "Enable" } }))
                            } @else {
                                (form(&format!("{base}/disable"), csrf, "inline", html! { button.quiet type="submit" aria-label={ "Disable " (u.email) } { "Disable" } }))
                            }
                            (form(&format!("{base}/password"), csrf, "inline", html! {
                                input type="password" name="password" aria-label={ "new password for " (u.email) } minlength=(MIN_PASSWORD_CHARS) autocomplete="new-password" required;
                                button.quiet type="submit" { "Reset password" }
                            }))
                            @if u.tokens > 0 {
                                (form(&format!("{base}/revoke-tokens"), csrf, "inline", html! { button.quiet type="submit" { "Revoke tokens" } }))
                            }
                        }
                    }
                }
            }
        }
        h2 { "Add a user" }
        (form("/admin/users", csrf, "filters", html! {
            div { label for="new-email" { "email" } input id="new-email" name="email" type="email" required; }
            div { label for="new-name" { "name (customers see it)" } input id="new-name" name="name"; }
            div { label for="new-role" { "role" } (role_select("new-role", "role", Role::Agent)) }
            div {
                label for="new-password" { "initial password (" (MIN_PASSWORD_CHARS) "+ characters)" }
                input id="new-password" name="password" type="password" minlength=(MIN_PASSWORD_CHARS) autocomplete="new-password" required;
            }
            div { button type="submit" { "Add user" } }
        }))
        p.muted {
            "Disabling signs a person out at once and stops their API tokens; a new password signs them out. "
            "API tokens are made on the server: " code { "shopkeep admin create-token --email E" } "."
        }
        h2 { "Changes" }
        @if audit.is_empty() {
            p.muted { "No changes yet." }
        } @else {
            table.audit {
                caption.sr { "Changes to users and saved replies, newest first" }
                thead { tr { th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "What" } th scope="col" { "User or reply" } th scope="col" { "Detail" } } }
                tbody {
                    @for a in audit {
                        tr {
                            td { (when(&desk.present, &a.at)) }
                            td { (a.actor) }
                            td data-action=(a.action) { (audit_words(&a.action)) }
                            td { (a.target) }
                            td { (a.detail) }
                        }
                    }
                }
            }
        }
    }
}

pub async fn create(State(app): State<Arc<App>>, posted: Posted<NewUser>) -> Response {
    let actor = posted.desk.staff.clone();
    match blocking(move || add(&app, &actor, posted.form)).await {
        Ok(_) => Redirect::to("/admin/users").into_response(),
        Err(e) => posted.desk.error(e),
    }
}

pub async fn apply(
    State(app): State<Arc<App>>,
    path: Result<Path<(i64, String)>, PathRejection>,
    posted: Posted<ChangeFields>,
) -> Response {
    let (id, kind) = match target(path) {
        Ok(t) => t,
        Err(e) => return posted.desk.error(e),
    };
    let actor = posted.desk.staff.clone();
    match blocking(move || change(&app, &actor, id, &kind, posted.form)).await {
        Ok(_) => Redirect::to("/admin/users").into_response(),
        Err(e) => posted.desk.error(e),
    }
}

pub async fn me(Admin(staff): Admin) -> Json<Staff> {
    Json(staff)
}

pub async fn api_list(
    Admin(staff): Admin,
    State(app): State<Arc<App>>,
) -> Result<Json<Value>, ApiError> {
    let (users, audit) = blocking(move || list_data(&app, &staff)).await?;
    Ok(Json(json!({ "users": users, "audit": audit })))
}

pub async fn api_create(
    Admin(staff): Admin,
    State(app): State<Arc<App>>,
    body: Result<Json<NewUser>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    // Agents get 403 whatever they send, before the body is judged.
    staff.require(Role::Admin)?;
    let Json(new) = body?;
    let user = blocking(move || add(&app, &staff, new)).await?;
    Ok((StatusCode::CREATED, Json(json!({ "user": user }))))
}

/// The body is optional (`disable` needs none): empty means no fields.
pub async fn api_apply(
    Admin(staff): Admin,
    State(app): State<Arc<App>>,
    path: Result<Path<(i64, String)>, PathRejection>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (id, kind) = target(path)?;
    let fields: ChangeFields = if body.iter().all(u8::is_ascii_whitespace) {
        ChangeFields::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("malformed_json", e.to_string()))?
    };
    let user = blocking(move || change(&app, &staff, id, &kind, fields)).await?;
    Ok(Json(json!({ "user": user })))
}
