//! The tenant's emails: `GET /v1/emails/preview` renders any message in any locale with sample data
//! and the tenant's branding; `/v1/emails/templates` lists, stores (after validation) and removes the
//! tenant's own templates, which the email steps and the preview then use.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

use super::auth::TenantAuth;
use super::{ApiError, ApiResult};
use crate::app::AppState;
use crate::email::overrides::{self, TemplateSet};
use crate::email::{self, LOCALES, Message};
use crate::store::tenants::TenantRow;
use crate::tenants::{Branding, Support};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/emails/preview", get(preview))
        .route("/v1/emails/templates", get(list))
        .route(
            "/v1/emails/templates/{kind}",
            get(show).put(put).delete(delete),
        )
}

fn kind(s: Option<&str>) -> ApiResult<Message> {
    let names: Vec<&str> = Message::ALL.iter().map(|m| m.as_str()).collect();
    let known = format!("level_1 to level_4, or one of {}", names.join(", "));
    let s = s.ok_or_else(|| {
        ApiError::bad_request("missing_kind", format!("kind: required ({known})"))
    })?;
    Message::parse(s).ok_or_else(|| {
        ApiError::bad_request(
            "unknown_kind",
            format!("kind: unknown {s:?}; expected {known}"),
        )
    })
}

fn locale(s: &str) -> ApiResult<&str> {
    if LOCALES.contains(&s) {
        Ok(s)
    } else {
        Err(ApiError::bad_request(
            "unknown_locale",
            format!(
                "locale: unknown {s:?}; expected one of {}",
                LOCALES.join(", ")
            ),
        ))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviewQuery {
    kind: Option<String>,
    locale: Option<String>,
    format: Option<String>,
}

async fn preview(
    TenantAuth(t): TenantAuth,
    State(s): State<AppState>,
    q: Result<Query<PreviewQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = q?;
    let message = kind(q.kind.as_deref())?;
    let locale = locale(q.locale.as_deref().unwrap_or(&t.locale))?.to_string();
    if let Some(f) = q
        .format
        .as_deref()
        .filter(|f| !matches!(*f, "html" | "text"))
    {
        return Err(ApiError::bad_request(
            "unknown_format",
            format!("format: unknown {f:?}; expected html or text (or none for JSON)"),
        ));
    }
    let (ctx, warnings) = branded_sample(&s, &t, &locale);
    let custom = s
        .store
        .email_template(&t.id, message.as_str(), &locale)
        .await?;
    let r = email::render_with(message, &ctx, custom.as_ref())
        .map_err(|e| ApiError::Internal(format!("preview of {}: {e}", message.as_str())))?;
    Ok(match q.format.as_deref() {
        Some("html") => ([(CONTENT_TYPE, "text/html; charset=utf-8")], r.html).into_response(),
        Some(_) => ([(CONTENT_TYPE, "text/plain; charset=utf-8")], r.text).into_response(),
        None => {
            let c = custom.unwrap_or_default();
            axum::Json(json!({
                "kind": message.as_str(), "locale": locale,
                "subject": r.subject, "html": r.html, "text": r.text,
                "custom": {"subject": c.subject.is_some(), "html": c.html.is_some(), "text": c.text.is_some()},
                "warnings": warnings,
            }))
            .into_response()
        }
    })
}

/// Sample data with the tenant's branding and contact details; where the tenant has none, sample
/// ones, and a warning that real messages are not sent without them.
fn branded_sample(s: &AppState, t: &TenantRow, locale: &str) -> (email::Context, Vec<String>) {
    let today = s.clock.now().date_naive();
    let mut ctx = overrides::sample_context(locale, &s.settings.public_url, today);
    let branding: Branding = serde_json::from_str(&t.branding).unwrap_or_default();
    let support: Support = serde_json::from_str(&t.support).unwrap_or_default();
    ctx.company = branding.name.unwrap_or_else(|| t.name.clone());
    ctx.logo_url = branding.logo_url;
    ctx.color = branding.primary_color;
    ctx.support_phone = support.phone;
    let mut warnings = Vec::new();
    let given = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
    match given(support.email) {
        Some(e) => ctx.support_email = Some(e),
        None => warnings.push(
            "support.email is not set: a sample is shown, and no message is sent until it is"
                .to_string(),
        ),
    }
    match given(support.address) {
        Some(a) => ctx.address = Some(a),
        None => warnings.push(
            "support.address is not set: a sample is shown, and no message is sent until it is"
                .to_string(),
        ),
    }
    (ctx, warnings)
}

async fn list(
    TenantAuth(t): TenantAuth,
    State(s): State<AppState>,
) -> ApiResult<impl IntoResponse> {
    let data = s.store.email_templates(&t.id).await?;
    Ok(axum::Json(json!({"data": data, "next_cursor": null})))
}

async fn show(
    TenantAuth(t): TenantAuth,
    State(s): State<AppState>,
    Path(k): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let message = kind(Some(&k))?;
    let mut data = s.store.email_templates(&t.id).await?;
    data.retain(|r| r.kind == message.as_str());
    Ok(axum::Json(json!({"data": data, "next_cursor": null})))
}

/// The body maps locales to templates: `{"fr": {"subject": "…", "html": "…", "text": "…"}}`; each
/// locale given replaces that locale's templates, the others are left as they are.
async fn put(
    TenantAuth(t): TenantAuth,
    State(s): State<AppState>,
    Path(k): Path<String>,
    body: Result<
        axum::Json<BTreeMap<String, TemplateSet>>,
        axum::extract::rejection::JsonRejection,
    >,
) -> ApiResult<impl IntoResponse> {
    let message = kind(Some(&k))?;
    let axum::Json(sets) = body?;
    if sets.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_template",
            "expected at least one locale, e.g. {\"fr\": {\"subject\": \"…\", \"html\": \"…\", \"text\": \"…\"}}",
        ));
    }
    let mut problems = Vec::new();
    for (l, set) in &sets {
        locale(l)?;
        if set.is_empty() {
            problems.push(format!("{l}: give at least one of subject, html, text"));
        }
        problems.extend(overrides::validate(message, l, set));
    }
    if !problems.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_template",
            problems.join("; "),
        ));
    }
    let sets: Vec<(String, TemplateSet)> = sets.into_iter().collect();
    s.store
        .put_email_templates(&t.id, message.as_str(), &sets, s.clock.now())
        .await?;
    let mut data = s.store.email_templates(&t.id).await?;
    data.retain(|r| r.kind == message.as_str());
    Ok(axum::Json(json!({"data": data, "next_cursor": null})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteQuery {
    locale: Option<String>,
}

/// Back to the built-in templates for `kind` (one locale with `?locale=`, else all).
async fn delete(
    TenantAuth(t): TenantAuth,
    State(s): State<AppState>,
    Path(k): Path<String>,
    q: Result<Query<DeleteQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<impl IntoResponse> {
    let message = kind(Some(&k))?;
    let Query(q) = q?;
    if let Some(l) = q.locale.as_deref() {
        locale(l)?;
    }
    let deleted = s
        .store
        .delete_email_templates(&t.id, message.as_str(), q.locale.as_deref())
        .await?;
    Ok(axum::Json(json!({"deleted": deleted})))
}
