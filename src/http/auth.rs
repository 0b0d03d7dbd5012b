//! Bearer-token extractors: the admin token for `/v1/tenants` and the clock, a tenant API key for the
//! tenant's own resources. Tokens are compared by hash in constant time.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::ApiError;
use crate::app::AppState;
use crate::crypto::{hash_token, same_hash};
use crate::store::tenants::TenantRow;

fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
        ApiError::Unauthorized("missing Authorization: Bearer <token> header".into())
    })?;
    value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::Unauthorized("expected Authorization: Bearer <token>".into()))
}

/// Proof that the request carries the admin token.
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?;
        if same_hash(&hash_token(token), &state.admin_token_hash) {
            Ok(Admin)
        } else {
            Err(ApiError::Unauthorized("invalid admin token".into()))
        }
    }
}

/// The tenant whose API key the request carries; disabled tenants are refused.
pub struct TenantAuth(pub TenantRow);

impl FromRequestParts<AppState> for TenantAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?;
        match state
            .store
            .tenant_by_api_key_hash(&hash_token(token))
            .await?
        {
            Some(t) if t.status == "active" => Ok(TenantAuth(t)),
            Some(_) => Err(ApiError::Forbidden("this tenant is disabled".into())),
            None => Err(ApiError::Unauthorized("invalid API key".into())),
        }
    }
}
