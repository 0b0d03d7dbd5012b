//! Carries out a campaign's SMS step: the same checks as an email (case open, number not refused,
//! the customer's daytime, the weekly touch cap, the invoice still unpaid), then a short text with the
//! card-update link, recorded in the outbox before the API sees it, so it is sent at most once.

use chrono::Duration;
use serde_json::Value;

use super::messaging::{StepEnd, WEEKLY_TOUCH_CAP, note};
use super::transient;
use crate::app::AppState;
use crate::domain::calendar::resolve_zone;
use crate::domain::calendar::{is_daytime, next_daytime};
use crate::domain::case::Case;
use crate::jobs::process_event::ProcessError;
use crate::sms::{self, SmsOutcome};
use crate::store::cases::WorkRow;
use crate::store::events::EventFilter;
use crate::store::messages::{Claim, NewMessage, TouchCap};
use crate::store::tenants::TenantRow;
use crate::tenants::Branding;

/// The customer's phone as the processor last showed it on the invoice. Cases keep no phone column
/// yet, so it is read from the stored events of the invoice (Stripe: `customer_phone`, or the
/// expanded customer's `phone`).
async fn phone(
    state: &AppState,
    tenant: &str,
    invoice: &str,
) -> Result<Option<String>, ProcessError> {
    let filter = EventFilter {
        object_id: Some(invoice.to_string()),
        limit: 20,
        ..EventFilter::default()
    };
    let events = state
        .store
        .list_events(tenant, &filter)
        .await
        .map_err(transient)?;
    Ok(events.iter().find_map(|e| {
        let v: Value = serde_json::from_str(&e.payload).ok()?;
        let obj = &v["data"]["object"];
        [&obj["customer_phone"], &obj["customer"]["phone"]]
            .into_iter()
            .find_map(|p| {
                p.as_str()
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_string)
            })
    }))
}

pub(super) async fn sms(
    state: &AppState,
    tenant: &TenantRow,
    case: &Case,
    w: &WorkRow,
) -> Result<StepEnd, ProcessError> {
    let now = state.clock.now();
    if !case.is_open() {
        return Ok((None, "not sent: the case is closed".into(), None));
    }
    let (Some(api), Some(from)) = (&state.sms, &state.settings.sms_from) else {
        return Ok((None, "due (SMS is not configured)".into(), None));
    };
    let Some(to) = phone(state, &tenant.id, &case.invoice_id).await? else {
        let detail = "sms not sent: the customer has no phone number".to_string();
        return Ok((note(w, now, detail.clone()), detail, None));
    };
    if state
        .store
        .address_refused(&tenant.id, &to)
        .await
        .map_err(transient)?
    {
        let detail = format!("sms not sent: {to} refused an earlier message for good");
        return Ok((note(w, now, detail.clone()), detail, None));
    }
    let (tz, _) = resolve_zone(
        case.time_zone
            .as_deref()
            .or(Some(tenant.time_zone.as_str())),
    );
    if !is_daytime(now, tz) {
        let at = next_daytime(now, tz);
        return Ok((None, format!("postponed to {at}: quiet hours"), Some(at)));
    }
    let sent = state
        .store
        .messages_sent_to(&tenant.id, &case.customer_id, now - Duration::days(7))
        .await
        .map_err(transient)?;
    if sent >= WEEKLY_TOUCH_CAP {
        let at = next_daytime(now + Duration::days(1), tz);
        let why = format!("postponed to {at}: {sent} messages to this customer in 7 days");
        return Ok((None, why, Some(at)));
    }
    let creds = super::work::credentials(state, tenant)?;
    match state.processor.get_invoice(&creds, &case.invoice_id).await {
        Ok(invoice) => {
            if let Some(event) = super::work::settled(w, &invoice, now) {
                return Ok((
                    Some(event),
                    "not sent: the invoice was settled elsewhere".into(),
                    None,
                ));
            }
        }
        Err(e) => {
            let at = now + Duration::minutes(15);
            return Ok((None, format!("invoice unreadable: {e}"), Some(at)));
        }
    }
    let link = super::card_update::link(state, &tenant.id, &case.id);
    let branding: Branding = serde_json::from_str(&tenant.branding).unwrap_or_default();
    let company = branding.name.unwrap_or_else(|| tenant.name.clone());
    let body = sms::text(&tenant.locale, &company, &case.amount, &link);
    let outgoing = NewMessage {
        id: w.id.clone(),
        tenant_id: tenant.id.clone(),
        case_id: case.id.clone(),
        customer_id: case.customer_id.clone(),
        kind: "sms".into(),
        to_address: to.clone(),
        locale: tenant.locale.clone(),
        subject: String::new(),
        body_text: body.clone(),
        body_html: String::new(),
        transport: "sms_api".into(),
        cap: Some(TouchCap {
            since: now - Duration::days(7),
            limit: WEEKLY_TOUCH_CAP,
        }),
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
            return Ok((None, format!("not sent again: the sms is {status}"), None));
        }
        Claim::Capped(sent) => return Ok(super::messaging::capped(now, tz, sent)),
    };
    // A retry sends the text first recorded.
    let stored = super::messaging::recorded(state, &w.id, resend)
        .await
        .map_err(transient)?;
    let body = stored.map_or(body, |c| c.body_text);
    let outcome = api.send(from, &to, &body).await;
    if let SmsOutcome::Sent(Some(id)) = &outcome
        && let Err(e) = state.store.set_provider_message_id(&w.id, id).await
    {
        tracing::warn!(message = %w.id, error = %e, "the SMS API's message id was not recorded");
    }
    let (status, error, end) = match outcome {
        SmsOutcome::Sent(_) => {
            let detail = format!("sms sent to {to}");
            ("sent", None, (note(w, now, detail), "sent".into(), None))
        }
        SmsOutcome::Transient(e) => {
            let at = super::messaging::resend_at(now, w.runs);
            (
                "retry",
                Some(e.clone()),
                (None, format!("will retry: {e}"), Some(at)),
            )
        }
        SmsOutcome::Permanent(e) => {
            let detail = format!("sms to {to} failed: {e}");
            (
                "failed",
                Some(e),
                (note(w, now, detail.clone()), detail, None),
            )
        }
        SmsOutcome::Unknown(e) => {
            let detail = format!("sms to {to} may not have gone out ({e}); not sent again");
            (
                "unknown",
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
