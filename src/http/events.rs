//! The tenant's view of its inbox: `GET /v1/events` (filterable, cursor-paginated), one event, replay.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::TenantAuth;
use super::{ApiError, ApiResult, page};
use crate::app::AppState;
use crate::store::events::{EventFilter, EventRow};

const STATUSES: &[&str] = &["received", "processed", "ignored", "failed"];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/events", get(list))
        .route("/v1/events/{id}", get(show))
        .route("/v1/events/{id}/replay", post(replay))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    object_id: Option<String>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    cursor: Option<String>,
    limit: Option<i64>,
}

#[derive(Debug, Serialize)]
struct EventView {
    id: String,
    provider: String,
    provider_event_id: String,
    #[serde(rename = "type")]
    event_type: String,
    object_id: Option<String>,
    livemode: Option<bool>,
    api_version: Option<String>,
    status: String,
    error: Option<String>,
    attempts: i64,
    created: Option<DateTime<Utc>>,
    received_at: DateTime<Utc>,
    processed_at: Option<DateTime<Utc>>,
    next_attempt_at: Option<DateTime<Utc>>,
}

fn view(e: EventRow) -> EventView {
    let pending = e.status == "received";
    EventView {
        id: e.id,
        provider: e.provider,
        provider_event_id: e.provider_event_id,
        event_type: e.event_type,
        object_id: e.object_id,
        livemode: e.livemode,
        api_version: e.api_version,
        status: e.status,
        error: e.last_error,
        attempts: e.attempts,
        created: e.provider_created_at,
        received_at: e.received_at,
        processed_at: e.processed_at,
        next_attempt_at: pending.then_some(e.next_attempt_at),
    }
}

async fn list(
    TenantAuth(t): TenantAuth,
    State(s): State<AppState>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<impl IntoResponse> {
    let Query(q) = q?;
    page::check_status(q.status.as_deref(), STATUSES)?;
    let limit = page::limit(q.limit)?;
    let filter = EventFilter {
        status: q.status,
        event_type: q.event_type,
        object_id: q.object_id,
        since: q.since,
        until: q.until,
        before_id: q.cursor,
        limit: limit + 1,
    };
    let mut rows = s.store.list_events(&t.id, &filter).await?;
    let next_cursor = page::cut(&mut rows, limit, |r| &r.id);
    let data: Vec<EventView> = rows.into_iter().map(view).collect();
    Ok(axum::Json(
        json!({"data": data, "next_cursor": next_cursor}),
    ))
}

async fn show(
    TenantAuth(t): TenantAuth,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let row = s
        .store
        .event(&t.id, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no event {id:?}")))?;
    let payload: serde_json::Value =
        serde_json::from_str(&row.payload).unwrap_or(serde_json::Value::Null);
    let mut body = serde_json::to_value(view(row)).expect("view serialises");
    body["payload"] = payload;
    Ok(axum::Json(body))
}

async fn replay(
    TenantAuth(t): TenantAuth,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    if !s.store.replay_event(&t.id, &id, Utc::now()).await? {
        return Err(ApiError::NotFound(format!("no event {id:?}")));
    }
    let row = s
        .store
        .event(&t.id, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no event {id:?}")))?;
    Ok((StatusCode::ACCEPTED, axum::Json(view(row))))
}
