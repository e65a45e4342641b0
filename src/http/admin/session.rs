//! The desk's browser sessions on the HTTP side: the session cookie (`HttpOnly; SameSite=Strict;
//! Path=/admin`, `Secure` with `admin.secure_cookies`), the [`Desk`] extractor that turns it into
//! the signed-in person (or sends the browser to the login page), and [`Posted`], the only way a
//! page handler reads a POST form: it checks the form's `csrf` field against the session's token
//! first, in constant time, and answers 403 when it is missing or wrong.

use std::{collections::HashMap, sync::Arc};

use axum::{
    extract::{Form, FromRequest, FromRequestParts, Request},
    http::{header, request::Parts, HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use serde::de::DeserializeOwned;

use super::html::{error_page, Viewer};
use crate::{
    app::App,
    desk::accounts::{constant_time_eq, Session, Staff},
};

/// The session cookie's name.
pub const COOKIE: &str = "shopkeep_desk";
/// The login form's own CSRF cookie (there is no session yet to hold its token).
pub const LOGIN_COOKIE: &str = "shopkeep_desk_login";

pub fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A cookie for the desk's paths. `max_age` 0 deletes it.
pub fn cookie(app: &App, name: &str, value: &str, max_age: i64) -> String {
    let secure = if app.config.admin.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    format!("{name}={value}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

/// A cookie's value from the request's `Cookie` headers.
pub fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
}

/// The signed-in person of a desk page.
pub struct Desk {
    pub staff: Staff,
    pub csrf: String,
    /// The cookie's value (logout ends this session).
    pub session_id: String,
}

impl Desk {
    pub fn viewer(&self) -> Viewer<'_> {
        Viewer {
            staff: &self.staff,
            csrf: &self.csrf,
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
        let accounts = app.accounts.clone();
        let lookup = id.clone();
        let session: Option<Session> =
            tokio::task::spawn_blocking(move || accounts.session(&lookup, unix_now()))
                .await
                .map_err(|e| crate::http::ApiError::from(e).into_response())?
                .map_err(|e| crate::http::ApiError::from(e).into_response())?;
        match session {
            Some(s) => Ok(Desk {
                staff: s.staff,
                csrf: s.csrf,
                session_id: id,
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
