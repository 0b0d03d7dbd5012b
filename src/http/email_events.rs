//! `POST /webhooks/email/resend`: the email API's delivery events (delivered, bounced, complained,
//! opened, clicked), signed with `DUNNING_EMAIL_WEBHOOK_SECRET`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::{ApiError, ApiResult};
use crate::app::AppState;
use crate::email::delivery::{self, DeliveryError, Signed};
use crate::jobs::process_event::ProcessError;

pub fn router() -> Router<AppState> {
    Router::new().route("/webhooks/email/resend", post(receive))
}

async fn receive(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<axum::Json<Value>> {
    let Some(secret) = &s.settings.email_webhook_secret else {
        return Err(ApiError::NotFound(
            "delivery webhooks are not configured (DUNNING_EMAIL_WEBHOOK_SECRET)".into(),
        ));
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let signed = Signed {
        id: header("svix-id"),
        timestamp: header("svix-timestamp"),
        signature: header("svix-signature"),
    };
    let tolerance = i64::try_from(s.settings.webhook_tolerance.as_secs()).unwrap_or(300);
    delivery::verify(
        secret.expose_secret(),
        &signed,
        &body,
        chrono::Utc::now().timestamp(),
        tolerance,
    )
    .map_err(|e| match e {
        DeliveryError::BadSecret => ApiError::Internal(e.to_string()),
        other => ApiError::Unauthorized(other.to_string()),
    })?;
    let Some((provider_id, what)) = delivery::parse(&body).map_err(|e| ApiError::BadRequest {
        code: "invalid_body",
        message: e.to_string(),
    })?
    else {
        return Ok(axum::Json(json!({"ignored": true})));
    };
    let event_id = signed.id.unwrap_or_default();
    let known = crate::engine::delivery::record(&s, &provider_id, what, event_id)
        .await
        .map_err(|e| match e {
            ProcessError::Transient(m) => ApiError::Unavailable(m),
            ProcessError::Permanent(m) => ApiError::Internal(m),
        })?;
    // An id we do not know (another sender on the same account) is not an error: no retries.
    Ok(axum::Json(json!({"recorded": known})))
}
