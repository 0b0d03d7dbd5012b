//! `POST /webhooks/{provider}/{tenant}`: verify, store once, answer. The answer is 2xx only after the
//! event row (and its processing task) is committed; the work itself happens in a job.

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header::CONTENT_LENGTH};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use secrecy::ExposeSecret;
use serde_json::json;

use super::{ApiError, ApiResult};
use crate::app::AppState;
use crate::store::events::{Inserted, NewEvent};
use crate::tenants::{self, DEFAULT_TENANT};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/webhooks/stripe", post(default_tenant))
        .route("/webhooks/stripe/{tenant}", post(for_tenant))
}

async fn default_tenant(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    receive(&s, DEFAULT_TENANT, &headers, body).await
}

async fn for_tenant(
    State(s): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    receive(&s, &tenant, &headers, body).await
}

#[tracing::instrument(skip_all, fields(tenant = %tenant_id, event_id))]
async fn receive(
    s: &AppState,
    tenant_id: &str,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let limit = s.settings.max_body_bytes;
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::TooLarge { limit });
    }
    let body = to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::TooLarge { limit })?;

    let tenant = match s.tenant_cache.get(&s.store, tenant_id).await? {
        Some(t) if t.status == "active" => t,
        _ => {
            return Err(ApiError::NotFound(format!(
                "no active tenant {tenant_id:?}"
            )));
        }
    };
    let secrets = tenants::webhook_secrets(&tenant, &s.keys)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let secret_bytes: Vec<&[u8]> = secrets
        .iter()
        .map(|k| k.expose_secret().as_bytes())
        .collect();
    // Signatures carry real time, so they are checked against the system clock even under a test clock.
    let now = chrono::Utc::now().timestamp();
    let provider = &s.stripe;
    provider
        .verify(
            headers,
            &body,
            &secret_bytes,
            now,
            s.settings.webhook_tolerance.as_secs(),
        )
        .map_err(|e| ApiError::Unauthorized(e.to_string()))?;
    let envelope = provider
        .envelope(&body)
        .map_err(|e| ApiError::bad_request("invalid_event", e.to_string()))?;
    tracing::Span::current().record("event_id", envelope.id.as_str());
    let payload = String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::bad_request("invalid_event", "body is not UTF-8 JSON"))?;

    let id = uuid::Uuid::now_v7().to_string();
    let new = NewEvent {
        id: id.clone(),
        tenant_id: tenant.id.clone(),
        provider: provider.name().to_string(),
        provider_event_id: envelope.id.clone(),
        event_type: envelope.event_type.clone(),
        object_id: envelope.object_id.clone(),
        livemode: envelope.livemode,
        api_version: envelope.api_version.clone(),
        provider_created_at: envelope.created,
        payload,
        received_at: chrono::Utc::now(),
    };
    let duplicate = s.inbox.insert(new).await? == Inserted::Duplicate;
    let status = if duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        axum::Json(json!({"received": true, "duplicate": duplicate, "event": envelope.id})),
    )
        .into_response())
}
