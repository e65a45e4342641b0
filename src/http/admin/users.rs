//! `GET /admin/users` (admins: who has access, with which role) and the JSON `GET /v1/admin/me`
//! (whose token this is) and `GET /v1/admin/users` (admins). Users and tokens are created with
//! `shopkeep admin create-user` and `create-token`, where the password never crosses the network.

use std::sync::Arc;

use axum::{
    extract::State,
    response::{Html, IntoResponse, Response},
    Json,
};
use serde_json::{json, Value};

use super::{
    blocking,
    html::{esc, page},
    session::Desk,
};
use crate::{
    app::App,
    desk::accounts::{Role, Staff},
    http::{auth::Admin, ApiError},
};

pub async fn list(desk: Desk, State(app): State<Arc<App>>) -> Response {
    if let Err(e) = desk.staff.require(Role::Admin) {
        return desk.error(e);
    }
    match blocking(move || app.accounts.users()).await {
        Ok(users) => {
            let rows: String = users.iter().map(|u| format!("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", esc(&u.email), esc(&u.name), u.role, esc(&u.created_at))).collect();
            let body = format!(
                "<h1>Users</h1><table><thead><tr><th>Email</th><th>Name</th><th>Role</th><th>Created</th></tr></thead><tbody>{rows}</tbody></table>\
                 <p class=\"muted\">Add people on the server: <code>shopkeep admin create-user --email E --role agent --password-stdin</code>.</p>"
            );
            Html(page("Users", Some(&desk.viewer()), "/admin/users", &body)).into_response()
        }
        Err(e) => desk.error(e),
    }
}

pub async fn me(Admin(staff): Admin) -> Json<Staff> {
    Json(staff)
}

pub async fn api_list(Admin(staff): Admin, State(app): State<Arc<App>>) -> Result<Json<Value>, ApiError> {
    staff.require(Role::Admin)?;
    let users = blocking(move || app.accounts.users()).await?;
    Ok(Json(json!({ "users": users })))
}
