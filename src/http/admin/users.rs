//! User management, for admins: `GET /admin/users` (who has access, with role, status, last
//! sign-in and tokens; forms to add a user and change one; the audit log of those changes),
//! `POST /admin/users` (add) and `POST /admin/users/{id}/{change}` with `change` one of `role`,
//! `disable`, `enable`, `password`, `revoke-tokens`. The JSON twins: `GET /v1/admin/users`,
//! `POST /v1/admin/users`, `POST /v1/admin/users/{id}/role` (and `/password`, `/disable`,
//! `/enable`, `/revoke-tokens`, one route each so each states its body), and `GET /v1/admin/me` (whose
//! token this is, for anyone). `desk::accounts` decides who may do what (agents get 403
//! `forbidden`) and refuses a change that would leave no active admin (409 `last_admin`).

use std::sync::Arc;

use axum::{
    extract::{
        rejection::{JsonRejection, PathRejection},
        Path, State,
    },
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    Json,
};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::{
    blocking,
    html::{form, page, when},
    session::{Desk, Posted},
};
use crate::{
    app::App,
    desk::accounts::{AuditEntry, Role, Staff, User, UserChange, MIN_PASSWORD_CHARS},
    http::{auth::Admin, error::ErrorBody, ApiError},
};

/// Audit entries shown on the page and returned by the API.
const AUDIT_SHOWN: usize = 50;

/// A new user, from the page's form or the API's JSON. Other properties are ignored (the
/// desk's form posts the same fields).
#[derive(Deserialize, ToSchema)]
pub struct NewUser {
    /// An address: printable ASCII, one `@`.
    #[schema(
        pattern = "^\\s*[\\x21-\\x3f\\x41-\\x7e]+@[\\x21-\\x3f\\x41-\\x7e]+\\s*$",
        max_length = 254
    )]
    email: String,
    /// What customers see on replies (default: the email's local part).
    #[serde(default)]
    name: Option<String>,
    #[schema(pattern = "^\\s*(agent|admin)\\s*$")]
    role: String,
    /// At least 12 characters.
    #[schema(min_length = 12)]
    password: String,
}

/// `POST /v1/admin/users/{id}/role`'s body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    #[schema(pattern = "^\\s*(agent|admin)\\s*$")]
    role: String,
}

/// `POST /v1/admin/users/{id}/password`'s body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// At least 12 characters.
    #[schema(min_length = 12)]
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

/// Whose token this is.
#[utoipa::path(
    get,
    path = "/v1/admin/me",
    operation_id = "admin_me",
    tag = "desk",
    security(("admin" = [])),
    responses(
        (status = 200, description = "`{user_id, email, name, role}`", body = Object),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`admin_disabled`", body = ErrorBody),
    )
)]
pub async fn me(Admin(staff): Admin) -> Json<Staff> {
    Json(staff)
}

/// The desk's users and the audit log of changes to them (admins only).
#[utoipa::path(
    get,
    path = "/v1/admin/users",
    operation_id = "admin_users",
    tag = "desk",
    security(("admin" = [])),
    responses(
        (status = 200, description = "`{users: [{id, email, name, role, created_at, disabled, last_login_at, tokens}], audit: [{id, at, actor, action, target, detail}]}` (the latest 50 changes, newest first)", body = Object),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`admin_disabled` or `forbidden` (agents)", body = ErrorBody),
    )
)]
pub async fn api_list(
    Admin(staff): Admin,
    State(app): State<Arc<App>>,
) -> Result<Json<Value>, ApiError> {
    let (users, audit) = blocking(move || list_data(&app, &staff)).await?;
    Ok(Json(json!({ "users": users, "audit": audit })))
}

/// Add a user (admins only).
#[utoipa::path(
    post,
    path = "/v1/admin/users",
    operation_id = "admin_create_user",
    tag = "desk",
    security(("admin" = [])),
    request_body = NewUser,
    responses(
        (status = 201, description = "`{user}`", body = Object),
        (status = 400, description = "`malformed_json`", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`admin_disabled` or `forbidden` (agents)", body = ErrorBody),
        (status = 409, description = "`user_exists`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
        (status = 422, description = "`invalid_email`, `invalid_role`, `weak_password` or `invalid_request` (the wrong shape)", body = ErrorBody),
    )
)]
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

/// A user's id from the path: one that is not a number names no user.
fn user_id(path: Result<Path<i64>, PathRejection>) -> Result<i64, ApiError> {
    path.map(|Path(id)| id)
        .map_err(|e| ApiError::new(StatusCode::NOT_FOUND, "user_not_found", e.body_text()))
}

/// One change to a user, by the API.
async fn api_change(
    app: Arc<App>,
    staff: Staff,
    id: i64,
    kind: &'static str,
    fields: ChangeFields,
) -> Result<Json<Value>, ApiError> {
    let user = blocking(move || change(&app, &staff, id, kind, fields)).await?;
    Ok(Json(json!({ "user": user })))
}

/// A change's JSON body, judged only after the caller is known to be an admin.
fn change_body<T>(staff: &Staff, body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    staff.require(Role::Admin)?;
    Ok(body?.0)
}

/// Change a user's role (admins only). 409 `last_admin` when no active admin would remain.
#[utoipa::path(
    post,
    path = "/v1/admin/users/{id}/role",
    operation_id = "admin_user_role",
    tag = "desk",
    security(("admin" = [])),
    params(("id" = i64, Path, description = "A user's id")),
    request_body = RoleChange,
    responses(
        (status = 200, description = "`{user}` as changed", body = Object),
        (status = 400, description = "`malformed_json`", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`admin_disabled` or `forbidden` (agents)", body = ErrorBody),
        (status = 404, description = "`user_not_found`", body = ErrorBody),
        (status = 409, description = "`last_admin`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
        (status = 422, description = "`invalid_role` or `invalid_request` (the wrong shape)", body = ErrorBody),
    )
)]
pub async fn api_role(
    Admin(staff): Admin,
    State(app): State<Arc<App>>,
    path: Result<Path<i64>, PathRejection>,
    body: Result<Json<RoleChange>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = user_id(path)?;
    let b = change_body(&staff, body)?;
    let fields = ChangeFields {
        role: Some(b.role),
        password: None,
    };
    api_change(app, staff, id, "role", fields).await
}

/// Set a new password (admins only); it ends the user's sessions.
#[utoipa::path(
    post,
    path = "/v1/admin/users/{id}/password",
    operation_id = "admin_user_password",
    tag = "desk",
    security(("admin" = [])),
    params(("id" = i64, Path, description = "A user's id")),
    request_body = PasswordChange,
    responses(
        (status = 200, description = "`{user}` as changed", body = Object),
        (status = 400, description = "`malformed_json`", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`admin_disabled` or `forbidden` (agents)", body = ErrorBody),
        (status = 404, description = "`user_not_found`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
        (status = 422, description = "`weak_password` or `invalid_request` (the wrong shape)", body = ErrorBody),
    )
)]
pub async fn api_password(
    Admin(staff): Admin,
    State(app): State<Arc<App>>,
    path: Result<Path<i64>, PathRejection>,
    body: Result<Json<PasswordChange>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = user_id(path)?;
    let b = change_body(&staff, body)?;
    let fields = ChangeFields {
        role: None,
        password: Some(b.password),
    };
    api_change(app, staff, id, "password", fields).await
}

/// The changes that carry nothing and cannot leave the desk without an admin: enable,
/// revoke-tokens.
macro_rules! bodiless_change {
    ($name:ident, $kind:literal, $path:literal, $op:literal, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(
            post,
            path = $path,
            operation_id = $op,
            tag = "desk",
            security(("admin" = [])),
            params(("id" = i64, Path, description = "A user's id")),
            responses(
                (status = 200, description = "`{user}` as changed", body = Object),
                (status = 401, description = "`unauthorized`", body = ErrorBody),
                (status = 403, description = "`admin_disabled` or `forbidden` (agents)", body = ErrorBody),
                (status = 404, description = "`user_not_found`", body = ErrorBody),
            )
        )]
        pub async fn $name(
            Admin(staff): Admin,
            State(app): State<Arc<App>>,
            path: Result<Path<i64>, PathRejection>,
        ) -> Result<Json<Value>, ApiError> {
            let id = user_id(path)?;
            api_change(app, staff, id, $kind, ChangeFields::default()).await
        }
    };
}

/// Disable a user (admins only): signed out everywhere, their API tokens stop working.
#[utoipa::path(
    post,
    path = "/v1/admin/users/{id}/disable",
    operation_id = "admin_user_disable",
    tag = "desk",
    security(("admin" = [])),
    params(("id" = i64, Path, description = "A user's id")),
    responses(
        (status = 200, description = "`{user}` as changed", body = Object),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`admin_disabled` or `forbidden` (agents)", body = ErrorBody),
        (status = 404, description = "`user_not_found`", body = ErrorBody),
        (status = 409, description = "`last_admin`: no active admin would remain", body = ErrorBody),
    )
)]
pub async fn api_disable(
    Admin(staff): Admin,
    State(app): State<Arc<App>>,
    path: Result<Path<i64>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = user_id(path)?;
    api_change(app, staff, id, "disable", ChangeFields::default()).await
}
bodiless_change!(
    api_enable,
    "enable",
    "/v1/admin/users/{id}/enable",
    "admin_user_enable",
    "Enable a disabled user again (admins only); their tokens work again."
);
bodiless_change!(
    api_revoke_tokens,
    "revoke-tokens",
    "/v1/admin/users/{id}/revoke-tokens",
    "admin_user_revoke_tokens",
    "Delete a user's API tokens (admins only)."
);
