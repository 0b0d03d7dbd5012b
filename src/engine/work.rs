//! Executes scheduled work when its (service) time comes: charge attempts through the processor's API,
//! timers fed back to the case, and the campaign's end action. Each row is claimed before it runs and
//! every processor call carries the row's id as its Idempotency-Key, so a re-run never acts twice.

use chrono::{DateTime, Duration, Utc};
use secrecy::SecretString;

use crate::app::AppState;
use crate::domain::campaign::EndAction;
use crate::domain::case::{
    AttemptResult, AttemptState, Case, CaseEvent, EventKind, PaidVia, Timer,
};
use crate::domain::network;
use crate::jobs::process_event::ProcessError;
use crate::providers::api::{ApiFailure, Credentials, InvoiceState, PauseBehavior, PayResult};
use crate::store::cases::WorkRow;
use crate::store::tenants::TenantRow;

use super::{feed, transient};

/// Re-sends of an uncertain charge (same key) before the outcome is reported as uncertain.
const MAX_RUNS: i64 = 6;

/// Runs one work row if it is still queued. Errors are transient (the row is retried later).
pub async fn execute(state: &AppState, work_id: &str) -> Result<(), ProcessError> {
    let now = state.clock.now();
    let stale = Utc::now()
        - Duration::from_std(state.settings.orphan_timeout).unwrap_or(Duration::seconds(60));
    // `claim_work` compares `updated_at` (service time) with a real-time staleness bound only for
    // rows left running by a crash; with a frozen test clock such rows wait for a restart.
    let Some(w) = state
        .store
        .claim_work(work_id, now, stale.min(now - Duration::seconds(60)))
        .await
        .map_err(transient)?
    else {
        return Ok(());
    };
    let Some(row) = state
        .store
        .case_by_id(&w.case_id)
        .await
        .map_err(transient)?
    else {
        return finish(state, &w, "case not found", None).await;
    };
    let tenant = state
        .tenant_cache
        .get(&state.store, &row.tenant_id)
        .await
        .map_err(transient)?
        .ok_or_else(|| ProcessError::Permanent("tenant gone".into()))?;
    let case: Case =
        serde_json::from_str(&row.state).map_err(|e| ProcessError::Permanent(e.to_string()))?;
    let detail: serde_json::Value = serde_json::from_str(&w.detail).unwrap_or_default();
    match w.kind.as_str() {
        "retry" => retry(state, &tenant, &case, &w).await,
        "timer" => {
            let timer: Timer = serde_json::from_value(detail["timer"].clone())
                .map_err(|e| ProcessError::Permanent(e.to_string()))?;
            let event = CaseEvent {
                id: format!("{}/fired", w.id),
                occurred_at: w.due_at,
                kind: EventKind::TimerFired { timer },
            };
            feed(state, &tenant, &case.invoice_id, None, &event).await?;
            finish(state, &w, "fired", None).await
        }
        "end_action" => {
            let action: EndAction = serde_json::from_value(detail["action"].clone())
                .map_err(|e| ProcessError::Permanent(e.to_string()))?;
            end_action(state, &tenant, &case, &w, action).await
        }
        // Emails, SMS and tasks are delivered by the messaging layer; until it exists they are
        // recorded as due so the plan is visible on the case.
        _ => finish(state, &w, "due (delivery is not configured)", None).await,
    }
}

async fn finish(
    state: &AppState,
    w: &WorkRow,
    result: &str,
    retry_at: Option<DateTime<Utc>>,
) -> Result<(), ProcessError> {
    state
        .store
        .finish_work(&w.id, result, retry_at, state.clock.now())
        .await
        .map_err(transient)
}

fn credentials(state: &AppState, tenant: &TenantRow) -> Result<Credentials, ProcessError> {
    let enc = tenant
        .stripe_secret_key_enc
        .as_deref()
        .ok_or_else(|| ProcessError::Permanent("the tenant has no Stripe secret key".into()))?;
    let secret_key: SecretString = state
        .keys
        .decrypt(enc)
        .map_err(|e| ProcessError::Permanent(e.to_string()))?;
    Ok(Credentials {
        secret_key,
        api_base: tenant.stripe_api_base.clone(),
    })
}

/// Backoff for processor trouble: it never consumes a dunning attempt.
fn later(state: &AppState, runs: i64) -> DateTime<Utc> {
    state.clock.now() + Duration::seconds(30 * (1 << runs.clamp(0, 6)))
}

async fn outcome(
    state: &AppState,
    tenant: &TenantRow,
    case: &Case,
    w: &WorkRow,
    result: AttemptResult,
) -> Result<(), ProcessError> {
    let event = CaseEvent {
        id: format!("{}/outcome/{}", w.id, w.runs),
        occurred_at: state.clock.now(),
        kind: EventKind::AttemptOutcome {
            attempt_id: w.id.clone(),
            result,
        },
    };
    feed(state, tenant, &case.invoice_id, None, &event)
        .await
        .map(|_| ())
}

async fn retry(
    state: &AppState,
    tenant: &TenantRow,
    case: &Case,
    w: &WorkRow,
) -> Result<(), ProcessError> {
    let planned = case.attempts.iter().any(|a| {
        a.id == w.id && matches!(a.state, AttemptState::Planned | AttemptState::Uncertain)
    });
    if !planned || !case.is_open() {
        return finish(
            state,
            w,
            "skipped: the case no longer plans this attempt",
            None,
        )
        .await;
    }
    let creds = credentials(state, tenant)?;
    let api = &state.processor;
    // Re-read first: an invoice settled elsewhere must close the case, not be charged.
    let invoice = match api.get_invoice(&creds, &case.invoice_id).await {
        Ok(i) => i,
        Err(e) => {
            return finish(
                state,
                w,
                &format!("invoice unreadable: {e}"),
                Some(later(state, w.runs)),
            )
            .await;
        }
    };
    let settled = match invoice {
        InvoiceState::Paid => Some(EventKind::InvoicePaid {
            attempt_id: None,
            via: PaidVia::Unknown,
        }),
        InvoiceState::Void => Some(EventKind::InvoiceVoided),
        InvoiceState::Uncollectible => Some(EventKind::InvoiceUncollectible),
        _ => None,
    };
    if let Some(kind) = settled {
        let event = CaseEvent {
            id: format!("{}/settled", w.id),
            occurred_at: state.clock.now(),
            kind,
        };
        feed(state, tenant, &case.invoice_id, None, &event).await?;
        return finish(
            state,
            w,
            "not charged: the invoice was already settled",
            None,
        )
        .await;
    }
    if case
        .attempts
        .iter()
        .any(|a| a.id == w.id && a.state == AttemptState::Uncertain)
    {
        // Re-read after the uncertain tries and still unpaid: that charge did not take. This key is
        // retired; the case plans a new attempt (a new key) without counting a failure.
        let result = AttemptResult::NotAttempted {
            reason: "the outcome stayed uncertain and the invoice is still unpaid".into(),
            not_before: None,
        };
        outcome(state, tenant, case, w, result).await?;
        return finish(
            state,
            w,
            "uncertain attempt resolved: the invoice is still unpaid",
            None,
        )
        .await;
    }
    let now = state.clock.now();
    let fingerprint = case.card.as_ref().and_then(|c| c.fingerprint.clone());
    if let Some(fp) = &fingerprint {
        let history = state
            .store
            .card_history(fp, now - Duration::days(31))
            .await
            .map_err(transient)?;
        let history: Vec<_> = history
            .into_iter()
            .filter(|t| w.executed_at != Some(*t))
            .collect();
        if let Err(limit) = network::allowed(&history, case.network(), now) {
            let not_before = match &limit {
                network::LimitReason::TooMany { next_allowed, .. } => Some(*next_allowed),
                _ => None,
            };
            let result = AttemptResult::NotAttempted {
                reason: format!("{limit:?}"),
                not_before,
            };
            outcome(state, tenant, case, w, result).await?;
            return finish(state, w, "not attempted: card-network limit", None).await;
        }
    }
    state
        .store
        .mark_work_executing(&w.id, now, fingerprint.as_deref())
        .await
        .map_err(transient)?;
    let paid = api.pay_invoice(&creds, &case.invoice_id, &w.id).await;
    let (result, note) = match paid {
        Ok(PayResult::Paid) => (AttemptResult::Succeeded, "paid".to_string()),
        Ok(PayResult::Declined(d)) => {
            let note = format!(
                "declined: {}",
                d.decline_code
                    .as_deref()
                    .or(d.failure_code.as_deref())
                    .unwrap_or("card_declined")
            );
            (
                AttemptResult::Declined {
                    decline: super::mapping::decline(&d),
                },
                note,
            )
        }
        Ok(PayResult::Uncertain { reason, .. })
        | Err(ApiFailure::Transient {
            message: reason, ..
        }) => {
            // The same attempt is re-sent later with the same key; after that the invoice decides.
            if w.runs < MAX_RUNS {
                return finish(
                    state,
                    w,
                    &format!("uncertain: {reason}"),
                    Some(later(state, w.runs)),
                )
                .await;
            }
            // Out of re-sends with this key: record the doubt, then come back once more to settle it
            // by re-reading the invoice before any new key is used.
            outcome(state, tenant, case, w, AttemptResult::Uncertain).await?;
            return finish(
                state,
                w,
                &format!("uncertain: {reason}; the invoice will be re-read"),
                Some(later(state, w.runs)),
            )
            .await;
        }
        Err(ApiFailure::Permanent { message, .. }) => (
            AttemptResult::NotAttempted {
                reason: message.clone(),
                not_before: None,
            },
            format!("refused: {message}"),
        ),
    };
    outcome(state, tenant, case, w, result).await?;
    finish(state, w, &note, None).await
}

async fn end_action(
    state: &AppState,
    tenant: &TenantRow,
    case: &Case,
    w: &WorkRow,
    action: EndAction,
) -> Result<(), ProcessError> {
    let creds = credentials(state, tenant)?;
    let api = &state.processor;
    let key = w.id.as_str();
    let sub = case.subscription_id.as_deref();
    let done = match (action, sub) {
        (EndAction::CancelNow, Some(s)) => api.cancel_subscription(&creds, s, false, key).await,
        (EndAction::CancelAtPeriodEnd, Some(s)) => {
            api.cancel_subscription(&creds, s, true, key).await
        }
        (EndAction::PauseCollection, Some(s)) => {
            api.pause_collection(&creds, s, PauseBehavior::KeepAsDraft, key)
                .await
        }
        (EndAction::MarkUncollectible, _) => {
            api.mark_uncollectible(&creds, &case.invoice_id, key).await
        }
        (EndAction::LeavePastDue, _) => Ok(()),
        (_, None) => Ok(()),
    };
    match done {
        Ok(()) => finish(state, w, &format!("{action:?} done"), None).await,
        Err(ApiFailure::Transient { message, .. }) => {
            finish(
                state,
                w,
                &format!("will retry: {message}"),
                Some(later(state, w.runs)),
            )
            .await
        }
        Err(ApiFailure::Permanent { message, .. }) => {
            finish(state, w, &format!("refused: {message}"), None).await
        }
    }
}
