//! The team's API is behind a bearer token (`admin.api_token`). No token configured: the routes
//! are off (403 `admin_disabled`), never open. A missing or wrong token: 401 `unauthorized`.

use std::sync::Arc;

use axum::{
    extract::FromRequestParts,
    http::{header, request::Parts, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};

use super::ApiError;
use crate::app::App;

/// Proof that the request carried the admin token.
pub struct Admin;

impl FromRequestParts<Arc<App>> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Self::Rejection> {
        let expected = app.config.admin.api_token.as_bytes();
        if expected.is_empty() {
            return Err(ApiError::new(StatusCode::FORBIDDEN, "admin_disabled", "the admin API is off: set admin.api_token (or SHOPKEEP_ADMIN_TOKEN)").into_response());
        }
        // The scheme is case-insensitive (RFC 9110); the token is not.
        let given = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        match given {
            Some(token) if constant_time_eq(token.as_bytes(), expected) => Ok(Admin),
            _ => {
                let mut r = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "send the admin token as Authorization: Bearer <token>").into_response();
                r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                Err(r)
            }
        }
    }
}

/// Compares without stopping at the first difference, so response times say nothing about how
/// much of a guessed token was right.
pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
