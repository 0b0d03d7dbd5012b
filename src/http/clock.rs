//! The test clock (`DUNNING_TEST_CLOCK=true`): read and advance service time; everything that becomes
//! due is enqueued (and, where this process runs workers, done) before the answer.

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use super::auth::Admin;
use super::json::ApiJson;
use super::{ApiError, ApiResult};
use crate::app::AppState;
use crate::config::Role;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/admin/clock", get(read).post(advance))
}

fn enabled(s: &AppState) -> ApiResult<()> {
    if s.clock.is_test() {
        Ok(())
    } else {
        Err(ApiError::NotFound(
            "the test clock is off (set DUNNING_TEST_CLOCK=true)".into(),
        ))
    }
}

async fn read(_: Admin, State(s): State<AppState>) -> ApiResult<impl IntoResponse> {
    enabled(&s)?;
    Ok(axum::Json(json!({"now": s.clock.now(), "frozen": true})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    advance_seconds: Option<i64>,
    to: Option<DateTime<Utc>>,
}

async fn advance(
    _: Admin,
    State(s): State<AppState>,
    ApiJson(a): ApiJson<Advance>,
) -> ApiResult<impl IntoResponse> {
    enabled(&s)?;
    let now = s.clock.now();
    let target = match (a.advance_seconds, a.to) {
        (Some(secs), None) if secs >= 0 => now + chrono::Duration::seconds(secs),
        (None, Some(to)) if to >= now => to,
        (Some(_), None) => {
            return Err(ApiError::bad_request(
                "invalid_clock",
                "advance_seconds: must not be negative",
            ));
        }
        (None, Some(_)) => {
            return Err(ApiError::bad_request(
                "invalid_clock",
                "to: the test clock never moves backwards",
            ));
        }
        _ => {
            return Err(ApiError::bad_request(
                "invalid_clock",
                "give exactly one of advance_seconds or to",
            ));
        }
    };
    crate::jobs::scheduler::advance_to(&s, target, s.settings.role != Role::Api).await?;
    Ok(axum::Json(json!({"now": s.clock.now(), "frozen": true})))
}
