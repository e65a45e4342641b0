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
    response::{Html, IntoResponse, Redirect, Response},
    Json,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    blocking,
    html::{esc, form, page},
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
        Ok((users, audit)) => Html(page(
            "Users",
            Some(&desk.viewer()),
            "/admin/users",
            &render(&desk, &users, &audit),
        ))
        .into_response(),
        Err(e) => desk.error(e),
    }
}

fn role_select(name_id: &str, current: Role) -> String {
    let options: String = [Role::Agent, Role::Admin]
        .iter()
        .map(|r| {
            format!(
                "<option value=\"{r}\"{}>{r}</option>",
                if *r == current { " selected" } else { "" }
            )
        })
        .collect();
    format!("<select name=\"role\" id=\"{name_id}\" aria-label=\"role\">{options}</select>")
}

fn render(desk: &Desk, users: &[User], audit: &[AuditEntry]) -> String {
    let csrf = &desk.csrf;
    let rows: String = users
        .iter()
        .map(|u| {
            let base = format!("/admin/users/{}", u.id);
            let role_form = form(&format!("{base}/role"), csrf, "inline", &format!("{}<button type=\"submit\" class=\"quiet\">Change role</button>", role_select(&format!("role-{}", u.id), u.role)));
            let status_form = if u.disabled {
                form(&format!("{base}/enable"), csrf, "inline", "<button type=\"submit\" class=\"quiet\">Enable</button>")
            } else {
                form(&format!("{base}/disable"), csrf, "inline", "<button type=\"submit\" class=\"quiet\">Disable</button>")
            };
            let password_form = form(
                &format!("{base}/password"),
                csrf,
                "inline",
                &format!("<input type=\"password\" name=\"password\" aria-label=\"new password for {}\" minlength=\"{MIN_PASSWORD_CHARS}\" autocomplete=\"new-password\" required><button type=\"submit\" class=\"quiet\">Reset password</button>", esc(&u.email)),
            );
            let tokens_form = if u.tokens > 0 { form(&format!("{base}/revoke-tokens"), csrf, "inline", "<button type=\"submit\" class=\"quiet\">Revoke tokens</button>") } else { String::new() };
            let you = if desk.staff.user_id == Some(u.id) { " <span class=\"muted\">(you)</span>" } else { "" };
            format!(
                "<tr data-user=\"{}\"><td>{}{you}</td><td>{}</td><td>{}</td><td><span class=\"pill\">{}</span></td><td>{}</td><td>{}</td><td>{role_form}{status_form}{password_form}{tokens_form}</td></tr>",
                u.id,
                esc(&u.email),
                esc(&u.name),
                u.role,
                if u.disabled { "disabled" } else { "active" },
                esc(u.last_login_at.as_deref().unwrap_or("never")),
                u.tokens,
            )
        })
        .collect();
    let create = form(
        "/admin/users",
        csrf,
        "filters",
        &format!(
            "<div><label for=\"new-email\">email</label><input id=\"new-email\" name=\"email\" type=\"email\" required></div>\
             <div><label for=\"new-name\">name (customers see it)</label><input id=\"new-name\" name=\"name\"></div>\
             <div><label for=\"new-role\">role</label>{}</div>\
             <div><label for=\"new-password\">initial password ({MIN_PASSWORD_CHARS}+ characters)</label><input id=\"new-password\" name=\"password\" type=\"password\" minlength=\"{MIN_PASSWORD_CHARS}\" autocomplete=\"new-password\" required></div>\
             <div><button type=\"submit\">Add user</button></div>",
            role_select("new-role", Role::Agent)
        ),
    );
    let audit_rows: String = audit
        .iter()
        .map(|a| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&a.at),
                esc(&a.actor),
                esc(&a.action),
                esc(&a.target),
                esc(&a.detail)
            )
        })
        .collect();
    let audit_table = if audit.is_empty() {
        "<p class=\"muted\">No changes yet.</p>".to_string()
    } else {
        format!("<table class=\"audit\"><thead><tr><th>When</th><th>Who</th><th>What</th><th>User</th><th>Detail</th></tr></thead><tbody>{audit_rows}</tbody></table>")
    };
    format!(
        "<h1>Users</h1><table><thead><tr><th>Email</th><th>Name</th><th>Role</th><th>Status</th><th>Last sign-in</th><th>Tokens</th><th>Change</th></tr></thead><tbody>{rows}</tbody></table>\
         <h2>Add a user</h2>{create}\
         <p class=\"muted\">Disabling signs a person out at once and stops their API tokens; a new password signs them out. \
         API tokens are made on the server: <code>shopkeep admin create-token --email E</code>.</p>\
         <h2>Changes</h2>{audit_table}"
    )
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
