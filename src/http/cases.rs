//! Recovery cases for the tenant: list with filters and cursor pagination, one case with its timeline,
//! attempts and planned steps, and operator actions (each on the timeline with who did it).

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::TenantAuth;
use super::{ApiError, ApiResult, page};
use crate::app::AppState;
use crate::domain::case::{Case, CaseEvent, EventKind, OperatorAction};
use crate::jobs::process_event::ProcessError;
use crate::store::cases::{CaseFilter, CaseRow};

const STATUSES: &[&str] = &[
    "pending",
    "open",
    "recovered",
    "churned",
    "canceled",
    "written_off",
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/cases", get(list))
        .route("/v1/cases/{id}", get(show))
        .route("/v1/cases/{id}/{action}", post(act))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    customer_id: Option<String>,
    invoice_id: Option<String>,
    subscription_id: Option<String>,
    decline_code: Option<String>,
    campaign_id: Option<String>,
    opened_since: Option<DateTime<Utc>>,
    opened_until: Option<DateTime<Utc>>,
    cursor: Option<String>,
    limit: Option<i64>,
}

fn summary(r: &CaseRow, locale: &str, time_zone: &str) -> Value {
    json!({
        "id": r.id, "tenant_id": r.tenant_id, "status": r.status, "sub_state": r.sub_state,
        "customer": {"id": r.customer_id, "email": r.customer_email, "name": r.customer_name,
                     "locale": locale, "time_zone": time_zone},
        "subscription_id": r.subscription_id, "invoice_id": r.invoice_id, "amount_due": r.amount_due,
        "currency": r.currency, "decline_code": r.decline_code,
        "campaign": {"id": r.campaign_id, "version": r.campaign_version},
        "opened_at": r.opened_at, "closed_at": r.closed_at, "recovered_by": r.recovered_by,
    })
}

async fn list(
    TenantAuth(t): TenantAuth,
    State(s): State<AppState>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<impl IntoResponse> {
    let Query(q) = q?;
    page::check_status(q.status.as_deref(), STATUSES)?;
    let limit = page::limit(q.limit)?;
    let f = CaseFilter {
        status: q.status,
        customer_id: q.customer_id,
        invoice_id: q.invoice_id,
        subscription_id: q.subscription_id,
        decline_code: q.decline_code,
        campaign_id: q.campaign_id,
        opened_since: q.opened_since,
        opened_until: q.opened_until,
        before_id: q.cursor,
        limit: limit + 1,
    };
    let mut rows = s.store.list_cases(&t.id, &f).await?;
    let next = page::cut(&mut rows, limit, |r| &r.id);
    let data: Vec<Value> = rows
        .iter()
        .map(|r| summary(r, &t.locale, &t.time_zone))
        .collect();
    Ok(axum::Json(json!({"data": data, "next_cursor": next})))
}

async fn show(
    TenantAuth(t): TenantAuth,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let row = s
        .store
        .case(&t.id, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no case {id:?}")))?;
    Ok(axum::Json(detail(&s, &row, &t.locale, &t.time_zone).await?))
}

async fn detail(s: &AppState, row: &CaseRow, locale: &str, time_zone: &str) -> ApiResult<Value> {
    let case: Case =
        serde_json::from_str(&row.state).map_err(|e| ApiError::Internal(e.to_string()))?;
    let work = s.store.work_of_case(&row.id).await?;
    let timeline = s.store.timeline(&row.id).await?;
    let attempts: Vec<Value> = case
        .attempts
        .iter()
        .map(|a| {
            let w = work.iter().find(|w| w.id == a.id);
            json!({"id": a.id, "ordinal": a.ordinal, "state": a.state, "planned_at": a.at, "trigger": a.trigger,
                   "executed_at": w.and_then(|w| w.executed_at), "result": w.and_then(|w| w.result.clone()),
                   "idempotency_key": a.id})
        })
        .collect();
    let planned: Vec<Value> = work
        .iter()
        .filter(|w| w.kind != "retry")
        .map(|w| {
            let detail: Value = serde_json::from_str(&w.detail).unwrap_or(Value::Null);
            json!({"id": w.id, "kind": w.kind, "at": w.due_at, "state": w.shown_state(), "detail": detail, "result": w.result})
        })
        .collect();
    let mut v = summary(row, locale, time_zone);
    v["timeline"] = serde_json::to_value(timeline).expect("timeline serialises");
    v["attempts"] = Value::Array(attempts);
    v["planned_steps"] = Value::Array(planned);
    v["card"] = serde_json::to_value(&case.card).unwrap_or(Value::Null);
    Ok(v)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActBody {
    who: Option<String>,
}

async fn act(
    TenantAuth(t): TenantAuth,
    State(s): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    body: Option<axum::Json<ActBody>>,
) -> ApiResult<impl IntoResponse> {
    let action = match action.as_str() {
        "pause" => OperatorAction::Pause,
        "resume" => OperatorAction::Resume,
        "cancel" => OperatorAction::Cancel,
        "retry-now" | "retry_now" => OperatorAction::RetryNow,
        "mark-recovered" | "mark_recovered" => OperatorAction::MarkRecovered,
        "write-off" | "write_off" => OperatorAction::WriteOff,
        other => {
            return Err(ApiError::NotFound(format!(
                "no action {other:?}; use pause, resume, cancel, retry-now, mark-recovered or write-off"
            )));
        }
    };
    let who = body.and_then(|b| b.0.who).unwrap_or_else(|| "api".into());
    let row = s
        .store
        .case(&t.id, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no case {id:?}")))?;
    let event = CaseEvent {
        id: format!("operator/{}", uuid::Uuid::now_v7()),
        occurred_at: s.clock.now(),
        kind: EventKind::Operator { who, action },
    };
    crate::engine::feed(&s, &t, &row.invoice_id, None, &event)
        .await
        .map_err(|e| match e {
            ProcessError::Permanent(m) | ProcessError::Transient(m) => ApiError::Internal(m),
        })?;
    let row = s
        .store
        .case(&t.id, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no case {id:?}")))?;
    Ok(axum::Json(detail(&s, &row, &t.locale, &t.time_zone).await?))
}
