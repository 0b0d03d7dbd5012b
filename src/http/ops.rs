//! Operator endpoints: liveness (`/healthz`) and readiness (`/readyz`: database reachable and, where
//! this process runs workers, every worker alive).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz() -> impl IntoResponse {
    axum::Json(json!({"status": "ok"}))
}

async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    let db_ok = s.store.ping().await.is_ok();
    let workers = s.health.snapshot();
    let workers_ok = workers.iter().all(|w| w.alive);
    let ok = db_ok && workers_ok;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if ok { "ready" } else { "not_ready" },
        "database": if db_ok { "ok" } else { "unreachable" },
        "workers": workers,
    });
    (status, axum::Json(body))
}
