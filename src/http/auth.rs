//! The team's API is behind bearer tokens: the configured `admin.api_token` (an admin without a
//! user account) or a user's own token (`shopkeep admin create-token`, acting as that user with
//! their role). With neither configured the routes are off (403 `admin_disabled`), never open.
//! A missing or wrong token: 401 `unauthorized`. Browser sessions are `admin::session`'s.

use std::sync::Arc;

use axum::{
    extract::FromRequestParts,
    http::{header, request::Parts, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};

use super::ApiError;
use crate::{
    app::App,
    desk::accounts::{constant_time_eq, Staff},
};

/// Proof that the request carried a valid team token, and whose it is.
pub struct Admin(pub Staff);

impl FromRequestParts<Arc<App>> for Admin {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        // The scheme is case-insensitive (RFC 9110); the token is not.
        let given = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim().to_string());
        let configured = app.config.admin.api_token.as_bytes();
        if let Some(token) = &given {
            if !configured.is_empty() && constant_time_eq(token.as_bytes(), configured) {
                return Ok(Admin(Staff::token_admin()));
            }
        }
        // A token lookup and the "any tokens at all" check both read SQLite: off the runtime.
        let accounts = app.accounts.clone();
        let lookup = tokio::task::spawn_blocking(
            move || -> Result<(Option<Staff>, bool), crate::desk::accounts::AccountError> {
                let staff = match &given {
                    Some(t) => accounts.staff_for_token(t)?,
                    None => None,
                };
                let any = staff.is_some() || accounts.any_tokens()?;
                Ok((staff, any))
            },
        )
        .await
        .map_err(|e| ApiError::internal(e.to_string()).into_response())?
        .map_err(|e| ApiError::from(e).into_response())?;
        match lookup {
            (Some(staff), _) => Ok(Admin(staff)),
            (None, false) if configured.is_empty() => {
                Err(ApiError::new(StatusCode::FORBIDDEN, "admin_disabled", "the team API is off: set admin.api_token (or SHOPKEEP_ADMIN_TOKEN), or create a user token with `shopkeep admin create-token`").into_response())
            }
            _ => {
                let mut r = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "send a team token as Authorization: Bearer <token>").into_response();
                r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                Err(r)
            }
        }
    }
}
