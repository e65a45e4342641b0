//! `GET /admin/login` (the form), `POST /admin/login` (password check, rate-limited per client
//! address; on success a new session and its cookie) and `POST /admin/logout`.
//!
//! The login form has no session yet, so its CSRF token is a double-submit one: a random value
//! in a `SameSite=Strict` cookie of its own and in the form, which must match.

use std::sync::Arc;

use axum::{
    extract::{rejection::FormRejection, Form, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
};
use rand::RngCore;
use serde::Deserialize;

use super::{
    html::{error_page, esc, page},
    session::{cookie, read_cookie, unix_now, Posted, COOKIE, LOGIN_COOKIE},
};
use crate::{
    app::App,
    desk::accounts::{constant_time_eq, AccountError},
    http::{client::ClientAddr, ApiError},
};

fn form_page(app: &App, email: &str, message: Option<&str>, status: StatusCode) -> Response {
    let mut token = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut token);
    let token = hex::encode(token);
    let message = message
        .map(|m| format!("<p class=\"error\" role=\"alert\">{}</p>", esc(m)))
        .unwrap_or_default();
    let body = format!(
        "<div class=\"login card\"><h1>Sign in</h1>{message}\
         <form method=\"post\" action=\"/admin/login\"><input type=\"hidden\" name=\"csrf\" value=\"{token}\">\
         <label for=\"email\">Email</label><input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required value=\"{}\">\
         <label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
         <button type=\"submit\">Sign in</button></form></div>",
        esc(email)
    );
    let mut r = (status, Html(page("Sign in", None, "", &body))).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie(app, LOGIN_COOKIE, &token, 3600)) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

pub async fn show(State(app): State<Arc<App>>) -> Response {
    form_page(&app, "", None, StatusCode::OK)
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    pub csrf: String,
    pub email: String,
    pub password: String,
}

pub async fn submit(
    State(app): State<Arc<App>>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let Ok(Form(f)) = form else {
        return form_page(
            &app,
            "",
            Some("Enter your email and password."),
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    };
    let expected = read_cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !constant_time_eq(f.csrf.as_bytes(), expected.as_bytes()) {
        return error_page(
            StatusCode::FORBIDDEN,
            "csrf_failed",
            "the sign-in form is out of date; reload it and try again",
            None,
        );
    }
    let accounts = app.accounts.clone();
    let (email, password) = (f.email.clone(), f.password);
    let result = match tokio::task::spawn_blocking(move || {
        accounts.login(&email, &password, ip, unix_now())
    })
    .await
    {
        Ok(r) => r,
        Err(e) => return ApiError::from(e).into_response(),
    };
    match result {
        Ok((id, session)) => {
            let mut r = Redirect::to("/admin/handoffs").into_response();
            let max_age = (session.expires_at - unix_now()).max(0);
            for c in [
                cookie(&app, COOKIE, &id, max_age),
                cookie(&app, LOGIN_COOKIE, "", 0),
            ] {
                if let Ok(v) = HeaderValue::from_str(&c) {
                    r.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            r
        }
        Err(AccountError::BadCredentials) => form_page(
            &app,
            &f.email,
            Some("Wrong email or password."),
            StatusCode::UNAUTHORIZED,
        ),
        Err(AccountError::TooManyAttempts { retry_after }) => {
            let mut r = form_page(
                &app,
                &f.email,
                Some(&format!(
                    "Too many failed sign-ins from this address. Try again in {} minutes.",
                    (retry_after + 59) / 60
                )),
                StatusCode::TOO_MANY_REQUESTS,
            );
            if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        Err(e) => error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            e.code(),
            &e.to_string(),
            None,
        ),
    }
}

#[derive(Deserialize)]
pub struct Nothing {}

pub async fn logout(State(app): State<Arc<App>>, posted: Posted<Nothing>) -> Response {
    let accounts = app.accounts.clone();
    let id = posted.desk.session_id.clone();
    if let Err(e) = tokio::task::spawn_blocking(move || accounts.end_session(&id))
        .await
        .map_err(ApiError::from)
        .and_then(|r| r.map_err(ApiError::from))
    {
        return posted.desk.error(e);
    }
    let mut r = Redirect::to("/admin/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie(&app, COOKIE, "", 0)) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}
