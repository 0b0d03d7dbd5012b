//! Task steps hand a case to a person: a signed JSON POST to the tenant's task destination (a CRM, or a
//! Slack incoming webhook, which shows the `text` field). Each delivery is an outbox row first, so a
//! step posts at most once; without a destination the task is only noted on the case's timeline.

use std::sync::LazyLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sha2::Sha256;

use super::messaging::{StepEnd, note};
use super::transient;
use crate::app::AppState;
use crate::domain::case::Case;
use crate::jobs::process_event::ProcessError;
use crate::store::cases::{CaseRow, WorkRow};
use crate::store::messages::{Claim, NewMessage};
use crate::store::tenants::TenantRow;

/// `t={unix seconds},v1={hex HMAC-SHA256 of "{t}.{body}" keyed with the destination's secret}`.
pub const SIGNATURE_HEADER: &str = "Dunning-Signature";

static CLIENT: LazyLock<reqwest::Client> = LazyLock::new(|| {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .build()
        .expect("a plain HTTP client builds")
});

/// The signature header's value for `body` sent at `t`; receivers recompute it to trust the POST.
pub fn signature(secret: &[u8], t: i64, body: &[u8]) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    m.update(format!("{t}.").as_bytes());
    m.update(body);
    format!("t={t},v1={}", hex::encode(m.finalize().into_bytes()))
}

fn payload(
    tenant: &TenantRow,
    row: &CaseRow,
    case: &Case,
    w: &WorkRow,
    note: &str,
    now: DateTime<Utc>,
) -> Value {
    let amount = crate::email::format::money(&case.amount, "en");
    let who = match (&row.customer_name, &row.customer_email) {
        (Some(n), Some(e)) => format!("{n} <{e}>"),
        (Some(n), None) => n.clone(),
        (None, Some(e)) => e.clone(),
        (None, None) => case.customer_id.clone(),
    };
    json!({
        "id": w.id,
        "type": "task.due",
        "created_at": now,
        "tenant_id": tenant.id,
        "note": note,
        // What Slack shows; CRMs read the fields below.
        "text": format!("{}: {note} — {who}, invoice {} ({amount} due), case {}",
            tenant.name, case.invoice_id, case.id),
        "case": {
            "id": case.id, "customer_id": case.customer_id, "customer_email": row.customer_email,
            "customer_name": row.customer_name, "invoice_id": case.invoice_id,
            "subscription_id": row.subscription_id, "amount_due": case.amount.amount_minor,
            "currency": case.amount.currency.as_str(), "opened_at": row.opened_at,
        },
    })
}

pub(super) async fn task(
    state: &AppState,
    tenant: &TenantRow,
    row: &CaseRow,
    case: &Case,
    w: &WorkRow,
    task_note: &str,
) -> Result<StepEnd, ProcessError> {
    let now = state.clock.now();
    if !case.is_open() {
        return Ok((None, "not sent: the case is closed".into(), None));
    }
    let dest = state
        .store
        .task_destination(&tenant.id)
        .await
        .map_err(transient)?;
    let Some(dest) = dest else {
        let detail = format!("task due (no task destination configured): {task_note}");
        return Ok((note(w, now, detail.clone()), detail, None));
    };
    let (Ok(url), Ok(secret)) = (
        state.keys.decrypt(&dest.url_enc),
        state.keys.decrypt(&dest.secret_enc),
    ) else {
        let detail = "task not sent: its destination could not be decrypted".to_string();
        return Ok((note(w, now, detail.clone()), detail, None));
    };
    let host = reqwest::Url::parse(url.expose_secret())
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    let outgoing = NewMessage {
        id: w.id.clone(),
        tenant_id: tenant.id.clone(),
        case_id: case.id.clone(),
        // For the tenant's staff, not the customer: no customer's touch cap counts it.
        customer_id: String::new(),
        kind: "task".into(),
        to_address: host.clone(),
        locale: tenant.locale.clone(),
        subject: task_note.to_string(),
        body_text: payload(tenant, row, case, w, task_note, now).to_string(),
        body_html: String::new(),
        transport: "task_webhook".into(),
        cap: None,
    };
    let resend = match state
        .store
        .claim_message(&outgoing, now)
        .await
        .map_err(transient)?
    {
        Claim::Send => false,
        Claim::Resend => true,
        Claim::Settled(status) => {
            return Ok((None, format!("not sent again: the task is {status}"), None));
        }
        // Tasks are claimed without a cap; a cap would only postpone.
        Claim::Capped(n) => {
            return Ok((None, format!("not sent: {n} messages this week"), None));
        }
    };
    // A retry repeats the body first recorded (receivers may dedupe on it as well as on the id).
    let stored = super::messaging::recorded(state, &w.id, resend)
        .await
        .map_err(transient)?;
    let body = stored.map_or(outgoing.body_text, |c| c.body_text);
    let sent = CLIENT
        .post(url.expose_secret())
        .header("content-type", "application/json")
        .header(
            SIGNATURE_HEADER,
            signature(
                secret.expose_secret().as_bytes(),
                now.timestamp(),
                body.as_bytes(),
            ),
        )
        .header("Idempotency-Key", &w.id)
        .body(body)
        .send()
        .await;
    let outcome = match sent {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) if r.status().as_u16() == 429 || r.status().is_server_error() => {
            Err((true, format!("HTTP {}", r.status().as_u16())))
        }
        Ok(r) => Err((false, format!("HTTP {}", r.status().as_u16()))),
        Err(e) if e.is_timeout() => Err((true, "no answer in time".to_string())),
        Err(_) => Err((true, "the destination could not be reached".to_string())),
    };
    let (status, error, end) = match outcome {
        Ok(()) => {
            let detail = format!("task sent to {host}: {task_note}");
            ("sent", None, (note(w, now, detail), "sent".into(), None))
        }
        Err((true, e)) => {
            let at = super::messaging::resend_at(now, w.runs);
            (
                "retry",
                Some(e.clone()),
                (None, format!("will retry: {e}"), Some(at)),
            )
        }
        Err((false, e)) => {
            let detail = format!("task to {host} failed: {e}");
            (
                "failed",
                Some(e),
                (note(w, now, detail.clone()), detail, None),
            )
        }
    };
    state
        .store
        .finish_message(&w.id, status, error.as_deref(), state.clock.now())
        .await
        .map_err(transient)?;
    Ok(end)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_signature_is_hmac_sha256_over_time_and_body() {
        // Reference value: `printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac tsk_secret`.
        assert_eq!(
            super::signature(b"tsk_secret", 1_700_000_000, br#"{"a":1}"#),
            "t=1700000000,v1=f263c774a4bd03b72f104508aa9150e28d35f5768d26b4e53e18efdcf7b692c5"
        );
    }
}
