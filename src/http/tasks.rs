//! Where the tenant's task steps go: `PUT /v1/tasks/destination` `{"url", "secret"}` (a Slack incoming
//! webhook or a CRM endpoint, and the key its deliveries are signed with), `GET` to see it (never the
//! secret, nor the URL's path, which for Slack is itself a credential), `DELETE` to stop deliveries.

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;

use super::auth::TenantAuth;
use super::{ApiError, ApiResult};
use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/tasks/destination", get(show).put(put).delete(delete))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DestinationInput {
    url: String,
    secret: secrecy::SecretString,
}

fn url_hint(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .map(|u| format!("{}://{}/…", u.scheme(), u.host_str().unwrap_or("")))
        .unwrap_or_default()
}

async fn put(
    TenantAuth(t): TenantAuth,
    State(s): State<AppState>,
    body: Result<axum::Json<DestinationInput>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<impl IntoResponse> {
    let axum::Json(input) = body?;
    // Deliveries carry customer data: plain http only to this machine (a local relay, tests).
    let usable = reqwest::Url::parse(&input.url).ok().is_some_and(|u| {
        let local = matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        (u.scheme() == "https" || (u.scheme() == "http" && local))
            && u.host_str().is_some()
            && u.username().is_empty()
    });
    if !usable {
        return Err(ApiError::bad_request(
            "invalid_destination",
            "url: expected an https:// URL without credentials (http:// only to localhost)",
        ));
    }
    if input.secret.expose_secret().len() < 16 {
        return Err(ApiError::bad_request(
            "invalid_destination",
            "secret: at least 16 characters (deliveries are signed with it)",
        ));
    }
    let now = s.clock.now();
    s.store
        .put_task_destination(
            &t.id,
            &s.keys.encrypt(&input.url),
            &s.keys.encrypt(input.secret.expose_secret()),
            now,
        )
        .await?;
    Ok(axum::Json(
        json!({"url_hint": url_hint(&input.url), "updated_at": now}),
    ))
}

async fn show(
    TenantAuth(t): TenantAuth,
    State(s): State<AppState>,
) -> ApiResult<impl IntoResponse> {
    let row = s
        .store
        .task_destination(&t.id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no task destination is configured".into()))?;
    let url = s
        .keys
        .decrypt(&row.url_enc)
        .map_err(|e| ApiError::Internal(format!("task destination: {e}")))?;
    Ok(axum::Json(
        json!({"url_hint": url_hint(url.expose_secret()), "updated_at": row.updated_at}),
    ))
}

async fn delete(
    TenantAuth(t): TenantAuth,
    State(s): State<AppState>,
) -> ApiResult<impl IntoResponse> {
    let removed = s.store.delete_task_destination(&t.id).await?;
    Ok(axum::Json(json!({"deleted": removed})))
}
