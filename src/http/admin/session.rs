//! The desk's browser sessions on the HTTP side: the session cookie (`HttpOnly; SameSite=Strict;
//! Path=/admin`, `Secure` with `admin.secure_cookies`), read and written with axum-extra's
//! [`CookieJar`], the [`Desk`] extractor that turns it into the signed-in person (or sends the
//! browser to the login page), and [`Posted`], the only way a page handler reads a POST form:
//! it checks the form's `csrf` field against the session's token first, in constant time, and
//! answers 403 when it is missing or wrong.
//!
//! The cookies are plain, not signed or encrypted: each value is a random 256-bit token that
//! the server looks up (the session id, stored only as its hash) or compares (the login form's
//! double-submit token), so a forged value names nothing, and there is no key to manage.

use std::{collections::HashMap, sync::Arc};

use axum::{
    extract::{Form, FromRequest, FromRequestParts, Request},
    http::{request::Parts, HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::de::DeserializeOwned;

use super::html::{error_page, Viewer};
use crate::{
    app::App,
    desk::{
        accounts::{constant_time_eq, Session, Staff},
        present::Presenter,
    },
    journal::QueueCounts,
};

/// The session cookie's name.
pub const COOKIE: &str = "shopkeep_desk";
/// The login form's own CSRF cookie (there is no session yet to hold its token).
pub const LOGIN_COOKIE: &str = "shopkeep_desk_login";

pub fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A cookie for the desk's paths. `max_age` 0 deletes it.
pub fn cookie(app: &App, name: &'static str, value: String, max_age: i64) -> Cookie<'static> {
    Cookie::build((name, value))
        .path("/admin")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(app.config.admin.secure_cookies)
        .max_age(time::Duration::seconds(max_age))
        .build()
}

/// A cookie's value from the request's `Cookie` headers.
pub fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    CookieJar::from_headers(headers)
        .get(name)
        .map(|c| c.value().to_string())
}

/// The store's clock and money, from the (validated) config.
pub fn presenter(app: &App) -> Presenter {
    let s = &app.config.store;
    Presenter::new(&s.timezone, &s.currency)
        .or_else(|_| Presenter::new("UTC", "USD"))
        .expect("UTC and USD are known")
}

/// The signed-in person of a desk page.
pub struct Desk {
    pub staff: Staff,
    pub csrf: String,
    /// The cookie's value (logout ends this session).
    pub session_id: String,
    /// The queue's numbers for the navigation, as of this request.
    pub counts: QueueCounts,
    /// Times in the store's zone, amounts in its currency.
    pub present: Presenter,
    /// The reply-time target, minutes.
    pub target_mins: i64,
}

impl Desk {
    pub fn viewer(&self) -> Viewer<'_> {
        Viewer {
            staff: &self.staff,
            csrf: &self.csrf,
            counts: self.counts,
        }
    }

    /// An error page for this person (the frame keeps its navigation).
    pub fn error(&self, e: impl Into<crate::http::ApiError>) -> Response {
        let e = e.into();
        if e.status.is_server_error() {
            tracing::error!(code = e.code, "{}", e.message);
        }
        error_page(e.status, e.code, &e.message, Some(&self.viewer()))
    }
}

impl FromRequestParts<Arc<App>> for Desk {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        let to_login = || Redirect::to("/admin/login").into_response();
        let Some(id) = read_cookie(&parts.headers, COOKIE).filter(|v| !v.is_empty()) else {
            return Err(to_login());
        };
        let worker = app.clone();
        let lookup = id.clone();
        let target_mins =
            i64::try_from(app.config.admin.reply_target_mins).unwrap_or(i64::MAX / 60);
        let found = tokio::task::spawn_blocking(
            move || -> Result<Option<(Session, QueueCounts)>, crate::http::ApiError> {
                let Some(s) = worker.accounts.session(&lookup, unix_now())? else {
                    return Ok(None);
                };
                let counts = crate::desk::queue_counts(
                    &worker.assistant.journal,
                    &s.staff.email,
                    target_mins,
                    jiff::Timestamp::now(),
                )?;
                Ok(Some((s, counts)))
            },
        )
        .await
        .map_err(|e| crate::http::ApiError::from(e).into_response())?
        .map_err(IntoResponse::into_response)?;
        match found {
            Some((s, counts)) => Ok(Desk {
                staff: s.staff,
                csrf: s.csrf,
                session_id: id,
                counts,
                present: presenter(app),
                target_mins,
            }),
            None => Err(to_login()),
        }
    }
}

/// A form with no fields but the CSRF token (a button: claim, resolve, undo, dismiss).
#[derive(serde::Deserialize)]
pub struct Empty {}

/// A POST form of a signed-in page, its CSRF token checked.
pub struct Posted<T> {
    pub desk: Desk,
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<Arc<App>> for Posted<T> {
    type Rejection = Response;

    async fn from_request(req: Request, app: &Arc<App>) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let desk = Desk::from_request_parts(&mut parts, app).await?;
        let req = Request::from_parts(parts, body);
        let Form(mut fields) = Form::<HashMap<String, String>>::from_request(req, app)
            .await
            .map_err(|e| {
                error_page(
                    StatusCode::BAD_REQUEST,
                    "invalid_form",
                    &e.body_text(),
                    Some(&desk.viewer()),
                )
            })?;
        let given = fields.remove("csrf").unwrap_or_default();
        if !constant_time_eq(given.as_bytes(), desk.csrf.as_bytes()) {
            return Err(error_page(StatusCode::FORBIDDEN, "csrf_failed", "this form is out of date or did not come from the desk; reload the page and try again", Some(&desk.viewer())));
        }
        let form = serde_json::to_value(fields)
            .and_then(serde_json::from_value)
            .map_err(|e| {
                error_page(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_form",
                    &e.to_string(),
                    Some(&desk.viewer()),
                )
            })?;
        Ok(Posted { desk, form })
    }
}
