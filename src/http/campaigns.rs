//! The tenant's campaigns as versioned data: `GET /v1/campaigns` lists the current version of each
//! (the built-in default when there are none); `PUT /v1/campaigns/{id}` stores a new version after
//! validation that names every problem. Open cases keep the version they started with.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Value, json};

use super::auth::TenantAuth;
use super::{ApiError, ApiResult};
use crate::app::AppState;
use crate::domain::campaign::{self, Campaign};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/campaigns", get(list))
        .route("/v1/campaigns/{id}", get(show).put(put))
}

async fn list(
    TenantAuth(t): TenantAuth,
    State(s): State<AppState>,
) -> ApiResult<impl IntoResponse> {
    let mut data = s.store.current_campaigns(&t.id).await?;
    if data.is_empty() {
        data.push(campaign::default_campaign());
    }
    Ok(axum::Json(json!({"data": data, "next_cursor": null})))
}

async fn show(
    TenantAuth(t): TenantAuth,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let current = s.store.current_campaigns(&t.id).await?;
    match current.into_iter().find(|c| c.id == id) {
        Some(c) => Ok(axum::Json(c)),
        None if id == "default" => Ok(axum::Json(campaign::default_campaign())),
        None => Err(ApiError::NotFound(format!("no campaign {id:?}"))),
    }
}

/// The body is a campaign without `version` (it is assigned); `id` may be omitted (taken from the path).
async fn put(
    TenantAuth(t): TenantAuth,
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: Result<axum::Json<Value>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<impl IntoResponse> {
    let axum::Json(mut v) = body?;
    let obj = v
        .as_object_mut()
        .ok_or_else(|| ApiError::bad_request("invalid_campaign", "expected a JSON object"))?;
    if obj
        .get("id")
        .is_some_and(|given| given != &Value::String(id.clone()))
    {
        return Err(ApiError::bad_request(
            "invalid_campaign",
            "id: must match the URL",
        ));
    }
    obj.insert("id".into(), Value::String(id.clone()));
    // Assigned below; 1 keeps validation of a first version meaningful.
    obj.insert("version".into(), json!(1));
    let draft: Campaign = serde_json::from_value(v).map_err(|e| {
        ApiError::bad_request(
            "invalid_campaign",
            super::error::redact_quoted(&e.to_string()),
        )
    })?;
    let problems = draft.validate();
    if !problems.is_empty() {
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Err(ApiError::bad_request("invalid_campaign", list.join("; ")));
    }
    for _ in 0..5 {
        let current = s.store.current_campaigns(&t.id).await?;
        // Cases opened before the tenant stored any campaign refer to the built-in default at its
        // version; a first stored "default" must not reuse that version and change those cases.
        let builtin = campaign::default_campaign();
        let prev = current
            .iter()
            .find(|c| c.id == id)
            .or((id == builtin.id).then_some(&builtin));
        let next = match prev {
            Some(prev) => draft.clone().as_new_version_of(prev),
            None => Campaign {
                version: 1,
                ..draft.clone()
            },
        };
        if s.store.insert_campaign(&t.id, &next, s.clock.now()).await? {
            return Ok(axum::Json(next));
        }
    }
    Err(ApiError::Conflict(
        "the campaign was being edited concurrently; try again".into(),
    ))
}
