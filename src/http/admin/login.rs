//! `GET /admin/login` (the form), `POST /admin/login` (password check, rate-limited per client
//! address; on success a new session and its cookie) and `POST /admin/logout`.
//!
//! The login form has no session yet, so its CSRF token is a double-submit one: a random value
//! in a `SameSite=Strict` cookie of its own and in the form, which must match.

use std::sync::Arc;

use axum::{
    extract::{rejection::FormRejection, Form, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::extract::cookie::CookieJar;
use maud::html;
use rand::RngCore;
use serde::Deserialize;

use super::{
    html::{error_page, page},
    session::{cookie, unix_now, Posted, COOKIE, LOGIN_COOKIE},
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
    let body = html! {
        div.login.card {
            h1 { "Sign in" }
            @if let Some(m) = message { p.error role="alert" { (m) } }
            form method="post" action="/admin/login" {
                input type="hidden" name="csrf" value=(token);
                label for="email" { "Email" }
                input id="email" name="email" type="email" autocomplete="username" required value=(email);
                label for="password" { "Password" }
                input id="password" name="password" type="password" autocomplete="current-password" required;
                button type="submit" { "Sign in" }
            }
        }
    };
    let jar = CookieJar::new().add(cookie(app, LOGIN_COOKIE, token, 3600));
    (status, jar, page("Sign in", None, "", body)).into_response()
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
    jar: CookieJar,
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
    let expected = jar
        .get(LOGIN_COOKIE)
        .map(|c| c.value().to_string())
        .unwrap_or_default();
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
            let max_age = (session.expires_at - unix_now()).max(0);
            let jar = CookieJar::new()
                .add(cookie(&app, COOKIE, id, max_age))
                .add(cookie(&app, LOGIN_COOKIE, String::new(), 0));
            (jar, Redirect::to("/admin/handoffs")).into_response()
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
    let jar = CookieJar::new().add(cookie(&app, COOKIE, String::new(), 0));
    (jar, Redirect::to("/admin/login")).into_response()
}
