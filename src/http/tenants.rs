//! Admin API for tenants: create (returns the API key once), list, read, update, rotate the API key.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::json;

use super::auth::Admin;
use super::json::ApiJson;
use super::{ApiError, ApiResult};
use crate::app::AppState;
use crate::crypto;
use crate::tenants::{self, TenantInput};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/tenants", post(create).get(list))
        .route("/v1/tenants/{id}", get(show).patch(update).put(update))
        .route("/v1/tenants/{id}/api-key", post(rotate_key))
}

async fn create(
    _: Admin,
    State(s): State<AppState>,
    ApiJson(input): ApiJson<TenantInput>,
) -> ApiResult<impl IntoResponse> {
    let api_key = crypto::random_token("dk_");
    let mut row = tenants::new_row(s.clock.now(), &api_key);
    tenants::apply(&mut row, input, &s.keys, true)
        .map_err(|e| ApiError::bad_request("invalid_tenant", e.to_string()))?;
    match s.store.insert_tenant(&row).await {
        Err(e) if e.is_unique_violation() => {
            return Err(ApiError::Conflict(format!(
                "tenant {:?} already exists",
                row.id
            )));
        }
        other => other?,
    }
    s.tenant_cache.invalidate(&row.id);
    let mut body = serde_json::to_value(tenants::view(&row, &s.keys)).expect("view serialises");
    body["api_key"] = json!(api_key);
    Ok((StatusCode::CREATED, axum::Json(body)))
}

async fn list(_: Admin, State(s): State<AppState>) -> ApiResult<impl IntoResponse> {
    let rows = s.store.tenants().await?;
    let data: Vec<_> = rows.iter().map(|r| tenants::view(r, &s.keys)).collect();
    Ok(axum::Json(json!({"data": data, "next_cursor": null})))
}

async fn show(
    _: Admin,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let row = s
        .store
        .tenant(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no tenant {id:?}")))?;
    Ok(axum::Json(tenants::view(&row, &s.keys)))
}

async fn update(
    _: Admin,
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<TenantInput>,
) -> ApiResult<impl IntoResponse> {
    let mut row = s
        .store
        .tenant(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no tenant {id:?}")))?;
    tenants::apply(&mut row, input, &s.keys, false)
        .map_err(|e| ApiError::bad_request("invalid_tenant", e.to_string()))?;
    row.updated_at = s.clock.now();
    s.store.update_tenant(&row).await?;
    s.tenant_cache.invalidate(&row.id);
    Ok(axum::Json(tenants::view(&row, &s.keys)))
}

async fn rotate_key(
    _: Admin,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let mut row = s
        .store
        .tenant(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no tenant {id:?}")))?;
    let api_key = crypto::random_token("dk_");
    row.api_key_hash = crypto::hash_token(&api_key);
    row.updated_at = s.clock.now();
    s.store
        .set_tenant_api_key_hash(&row.id, &row.api_key_hash, row.updated_at)
        .await?;
    Ok(axum::Json(json!({"id": row.id, "api_key": api_key})))
}
