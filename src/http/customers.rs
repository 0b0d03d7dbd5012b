//! In-app recovery status for the tenant's own product: `GET /v1/customers/{id}/recovery` answers
//! whether the customer has an unpaid invoice being recovered, how much, until when the service
//! keeps trying before the campaign's end action, and a fresh card-update link, so the tenant can
//! show a banner or a paywall. A customer with nothing open is a normal answer, not a 404: the
//! tenant asks on every page view.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use serde_json::{Value, json};

use super::auth::TenantAuth;
use super::{ApiError, ApiResult};
use crate::app::AppState;
use crate::engine::{campaign_version, card_update};
use crate::store::cases::CaseFilter;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/customers/{id}/recovery", get(recovery))
}

async fn recovery(
    TenantAuth(t): TenantAuth,
    State(s): State<AppState>,
    Path(customer_id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let rows = s
        .store
        .list_cases(
            &t.id,
            &CaseFilter {
                status: Some("open".into()),
                customer_id: Some(customer_id.clone()),
                limit: 100,
                ..Default::default()
            },
        )
        .await?;
    let mut cases = Vec::new();
    for row in &rows {
        let case = card_update::parse(row).map_err(|e| ApiError::Internal(e.to_string()))?;
        let campaign = campaign_version(&s, &t.id, &case.campaign)
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        cases.push(json!({
            "case_id": row.id,
            "invoice_id": row.invoice_id,
            "subscription_id": row.subscription_id,
            "amount_due": row.amount_due,
            "currency": row.currency,
            "sub_state": row.sub_state,
            "opened_at": row.opened_at,
            "grace_deadline": case.campaign_deadline(&campaign),
            "promised_until": case.promised_until,
            "update_url": card_update::link(&s, &t.id, &row.id),
        }));
    }
    // The oldest open case leads: its deadline comes first and its link settles the oldest debt.
    cases.sort_by(|a, b| a["opened_at"].as_str().cmp(&b["opened_at"].as_str()));
    let first = cases.first();
    let currencies: std::collections::BTreeSet<&str> = cases
        .iter()
        .filter_map(|c| c["currency"].as_str())
        .collect();
    let total: Option<i64> = (currencies.len() == 1)
        .then(|| cases.iter().filter_map(|c| c["amount_due"].as_i64()).sum());
    let deadline = cases
        .iter()
        .filter_map(|c| c["grace_deadline"].as_str())
        .min()
        .map(str::to_owned);
    Ok(axum::Json(json!({
        "customer_id": customer_id,
        "in_recovery": !cases.is_empty(),
        "amount_due": total,
        "currency": (currencies.len() == 1).then(|| currencies.iter().next().copied()).flatten(),
        "grace_deadline": deadline,
        "update_url": first.map(|c| c["update_url"].clone()),
        "cases": cases,
    })))
}
