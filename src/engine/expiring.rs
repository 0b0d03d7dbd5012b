//! Expiring-card notices (opt-in per tenant): when the processor says a customer's card expires at
//! the end of the month, one email with a card-update link, unless the customer has already
//! replaced that card. No case is involved: nothing has failed yet, and preventing the failure is
//! the point. The outbox keys the notice by customer and card, so a repeated event sends nothing.

use chrono::{Datelike, NaiveDate};

use crate::app::AppState;
use crate::domain::money::{Currency, Money};
use crate::email::transport::{Envelope, SendError};
use crate::email::{self, Context, Message};
use crate::jobs::process_event::ProcessError;
use crate::providers::CardInfo;
use crate::store::messages::{Claim, NewMessage};
use crate::store::tenants::TenantRow;
use crate::tenants::{Branding, Support};

use super::transient;

/// The last day the card can be used.
fn last_day(card: &CardInfo) -> Option<NaiveDate> {
    let (y, m) = (i32::try_from(card.exp_year?).ok()?, card.exp_month?);
    let first_next = if m >= 12 {
        NaiveDate::from_ymd_opt(y + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(y, m + 1, 1)?
    };
    first_next.pred_opt()
}

/// The customer's current default is another card, or the same card renewed (a later expiry).
fn refreshed(current: &CardInfo, expiring: &CardInfo) -> bool {
    let later = match (last_day(current), last_day(expiring)) {
        (Some(a), Some(b)) => a > b,
        _ => false,
    };
    let other = match (&current.fingerprint, &expiring.fingerprint) {
        (Some(a), Some(b)) => a != b,
        _ => current.last4 != expiring.last4,
    };
    later || other
}

/// Handles one "card expiring" event. Returns quietly when the tenant did not opt in, the customer
/// has no email address, or the card was replaced meanwhile.
pub async fn card_expiring(
    state: &AppState,
    tenant: &TenantRow,
    customer_id: &str,
    card: &CardInfo,
) -> Result<(), ProcessError> {
    if !tenant.expiring_card_notices {
        return Ok(());
    }
    let Some(expires) = last_day(card) else {
        return Ok(());
    };
    let creds = super::work::credentials(state, tenant)?;
    let customer = state
        .processor
        .get_customer(&creds, customer_id)
        .await
        .map_err(|e| match e.is_transient() {
            true => ProcessError::Transient(e.to_string()),
            false => ProcessError::Permanent(e.to_string()),
        })?;
    let Some(to) = customer.email.filter(|e| !e.trim().is_empty()) else {
        tracing::info!(
            customer = customer_id,
            "expiring card: the customer has no email address"
        );
        return Ok(());
    };
    if customer
        .default_card
        .as_ref()
        .is_some_and(|current| refreshed(current, card))
    {
        tracing::info!(customer = customer_id, "expiring card: already replaced");
        return Ok(());
    }
    if state
        .store
        .address_refused(&tenant.id, &to)
        .await
        .map_err(transient)?
    {
        return Ok(());
    }
    let branding: Branding = serde_json::from_str(&tenant.branding).unwrap_or_default();
    let support: Support = serde_json::from_str(&tenant.support).unwrap_or_default();
    let currency = Currency::new("usd").expect("a known currency");
    let ctx = Context {
        locale: tenant.locale.clone(),
        company: branding.name.clone().unwrap_or_else(|| tenant.name.clone()),
        logo_url: branding.logo_url,
        color: branding.primary_color,
        support_email: support.email.clone(),
        support_phone: support.phone,
        address: support.address,
        customer_name: customer.name,
        // The notice names no amount; the context needs one.
        amount: Money::new(0, currency),
        link: super::card_update::customer_link(state, &tenant.id, customer_id),
        deadline: Some(expires),
    };
    let message = Message::CardExpiring;
    let custom = state
        .store
        .email_template(&tenant.id, message.as_str(), &ctx.locale)
        .await
        .map_err(transient)?;
    let mut rendered = match email::render_with(message, &ctx, custom.as_ref()) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(customer = customer_id, error = %e, "expiring card: not sent");
            return Ok(());
        }
    };
    let card_key = card
        .fingerprint
        .clone()
        .or_else(|| card.last4.clone())
        .unwrap_or_default();
    let id = format!(
        "expiring/{}/{customer_id}/{card_key}/{}-{:02}",
        tenant.id,
        expires.year(),
        expires.month()
    );
    let outgoing = NewMessage {
        id: id.clone(),
        tenant_id: tenant.id.clone(),
        case_id: String::new(),
        customer_id: customer_id.to_owned(),
        kind: message.as_str().into(),
        to_address: to.clone(),
        locale: ctx.locale.clone(),
        subject: rendered.subject.clone(),
        body_text: rendered.text.clone(),
        body_html: rendered.html.clone(),
        transport: state.mailer.name().into(),
        cap: None,
    };
    let now = state.clock.now();
    match state
        .store
        .claim_message(&outgoing, now)
        .await
        .map_err(transient)?
    {
        Claim::Send => {}
        // A re-send repeats what was recorded (an HTTP API refuses the same key with another body).
        Claim::Resend => {
            if let Some(c) = super::messaging::recorded(state, &id, true)
                .await
                .map_err(transient)?
            {
                (rendered.subject, rendered.text, rendered.html) =
                    (c.subject, c.body_text, c.body_html);
            }
        }
        Claim::Settled(_) | Claim::Capped(_) => return Ok(()),
    }
    let envelope = Envelope {
        id: id.clone(),
        from_name: ctx.company,
        from_address: state.settings.email_from.clone(),
        reply_to: support.email,
        to,
        subject: rendered.subject,
        text: rendered.text,
        html: rendered.html,
    };
    let (status, error, retry) = match state.mailer.send(&envelope).await {
        Ok(_) => ("sent", None, None),
        Err(SendError::Transient(e)) => ("retry", Some(e.clone()), Some(e)),
        Err(SendError::Permanent(e)) => ("failed", Some(e), None),
    };
    state
        .store
        .finish_message(&id, status, error.as_deref(), state.clock.now())
        .await
        .map_err(transient)?;
    // A deferral re-runs the event later (with backoff); the outbox takes the `retry` row again.
    match retry {
        Some(e) => Err(ProcessError::Transient(format!(
            "expiring-card notice: {e}"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(last4: &str, m: u32, y: u32, fp: Option<&str>) -> CardInfo {
        CardInfo {
            last4: Some(last4.into()),
            exp_month: Some(m),
            exp_year: Some(y),
            fingerprint: fp.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn a_card_is_good_until_its_months_last_day() {
        assert_eq!(
            last_day(&card("1", 2, 2028, None)),
            NaiveDate::from_ymd_opt(2028, 2, 29)
        );
        assert_eq!(
            last_day(&card("1", 12, 2026, None)),
            NaiveDate::from_ymd_opt(2026, 12, 31)
        );
    }

    #[test]
    fn a_renewed_or_other_card_counts_as_refreshed() {
        let old = card("8431", 4, 2025, Some("fpA"));
        assert!(!refreshed(&old, &old));
        assert!(refreshed(&card("8431", 4, 2029, Some("fpA")), &old));
        assert!(refreshed(&card("4242", 12, 2034, Some("fpB")), &old));
        assert!(refreshed(
            &card("4242", 4, 2025, None),
            &card("8431", 4, 2025, None)
        ));
    }
}
