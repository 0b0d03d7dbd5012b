//! Carries out a campaign's email step: checks that the message is still wanted and welcome (case
//! open, invoice unpaid, customer's daytime, weekly touch cap) and renders it; the batch records it
//! in the outbox, then it goes to the transport. The outbox makes the step send at most once.

use chrono::{DateTime, Duration, Utc};

use crate::app::AppState;
use crate::domain::calendar::{is_daytime, next_daytime, resolve_zone};
use crate::domain::case::{Case, CaseEvent, EventKind, Notice, Status};
use crate::email::transport::{Envelope, SendError};
use crate::email::{self, Context, Message};
use crate::jobs::process_event::ProcessError;
use crate::store::StoreError;
use crate::store::cases::{CaseRow, WorkRow};
use crate::store::message_details::StoredContent;
use crate::store::messages::{Claim, MessageFinish, NewMessage, Recipients, TouchCap};
use crate::store::tenants::TenantRow;
use crate::tenants::{Branding, Support};

use super::campaign_version;

/// Messages to one customer in 7 days, across all their cases.
pub(super) const WEEKLY_TOUCH_CAP: i64 = 3;

/// How the step ended: an event for the case's timeline, the work row's result, and when to come
/// back (a postponed or retried step).
pub(super) type StepEnd = (Option<CaseEvent>, String, Option<DateTime<Utc>>);

/// A line on the case's timeline for step `w`.
pub(super) fn note(w: &WorkRow, at: DateTime<Utc>, detail: String) -> Option<CaseEvent> {
    Some(CaseEvent {
        id: format!("{}/message/{}", w.id, w.runs),
        occurred_at: at,
        kind: EventKind::Message {
            step_id: w.id.clone(),
            detail,
        },
    })
}

/// A step over the weekly cap comes back tomorrow morning, the customer's time.
/// When a message deferred by its transport is tried again: doubling from 10 minutes with the
/// step's runs.
pub(super) fn resend_at(now: DateTime<Utc>, runs: i64) -> DateTime<Utc> {
    now + Duration::minutes(10 * (1 << runs.clamp(0, 6)))
}

/// What a re-send carries: the content first recorded (an API that keeps the Idempotency-Key
/// refuses the same key with another body, and receivers may dedupe on it); `None` on a first send.
pub(super) async fn recorded(
    state: &AppState,
    id: &str,
    resend: bool,
) -> Result<Option<StoredContent>, StoreError> {
    if resend {
        state.store.message_content(id).await
    } else {
        Ok(None)
    }
}

pub(super) fn capped(now: DateTime<Utc>, tz: chrono_tz::Tz, sent: i64) -> StepEnd {
    let at = next_daytime(now + Duration::days(1), tz);
    let why = format!("postponed to {at}: {sent} messages to this customer in 7 days");
    (None, why, Some(at))
}

/// What an email work row sends: a campaign level, or a notice about what just happened.
#[derive(Debug, Clone, Copy)]
pub(super) enum MessageStep {
    Level(u8),
    Notice(Notice),
}

impl MessageStep {
    /// Whether the message still fits the case; `Err` says why not.
    fn still_wanted(self, case: &Case) -> Result<Message, &'static str> {
        match self {
            MessageStep::Level(_) | MessageStep::Notice(Notice::CardUpdated) if !case.is_open() => {
                Err("the case is closed")
            }
            MessageStep::Level(level) => Ok(Message::for_step(case, level)),
            // A retry of the new card has already answered (declined): thanks would ring hollow.
            MessageStep::Notice(Notice::CardUpdated) if !case.card_changed() => {
                Err("the new card has been tried since")
            }
            MessageStep::Notice(Notice::CardUpdated) => Ok(Message::CardUpdated),
            MessageStep::Notice(Notice::PaymentReceived) if case.status != Status::Recovered => {
                Err("the case is no longer recovered")
            }
            MessageStep::Notice(Notice::PaymentReceived) => Ok(Message::PaymentReceived),
            MessageStep::Notice(Notice::SubscriptionCancelled)
                if case.status != Status::Churned =>
            {
                Err("the case is no longer churned")
            }
            MessageStep::Notice(Notice::SubscriptionCancelled) => {
                Ok(Message::SubscriptionCancelled)
            }
        }
    }
}

/// A rendered message cleared to go once the outbox has it; the envelope is made from the outbox
/// row when it is sent (one copy of the bodies in flight, not two).
pub(super) struct Outgoing {
    pub message: NewMessage,
    from_name: String,
    reply_to: Option<String>,
    kind: &'static str,
    /// The customer's zone: a message over the weekly cap comes back on their next morning.
    tz: chrono_tz::Tz,
}

/// What deciding an email step came to: the step ends here, or a message is to be sent.
pub(super) enum Decided {
    End(StepEnd),
    Send(Outgoing),
}

/// The address an email step of this case goes to, if it has one.
pub(super) fn recipient(row: &CaseRow) -> Option<&str> {
    row.customer_email
        .as_deref()
        .filter(|e| !e.trim().is_empty())
}

/// Decides one email step up to the send. `known`: the outbox's view of the tenant's recipients,
/// read for the whole batch before its steps are decided.
pub(super) async fn email(
    state: &AppState,
    tenant: &TenantRow,
    row: &CaseRow,
    case: &Case,
    w: &WorkRow,
    step: MessageStep,
    known: &Recipients,
) -> Result<Decided, ProcessError> {
    let now = state.clock.now();
    let message = match step.still_wanted(case) {
        Ok(m) => m,
        Err(why) => return Ok(Decided::End((None, format!("not sent: {why}"), None))),
    };
    // A notice answers something the customer did or saw happen: it goes at once, whatever the
    // hour or the week's count (it still counts toward the cap of later reminders).
    let reminder = matches!(step, MessageStep::Level(_));
    let Some(to) = recipient(row).map(str::to_string) else {
        let detail = "email not sent: the customer has no email address".to_string();
        return Ok(Decided::End((note(w, now, detail.clone()), detail, None)));
    };
    if known.refused.contains(&to) {
        let detail = format!("email not sent: {to} refused an earlier message for good");
        return Ok(Decided::End((note(w, now, detail.clone()), detail, None)));
    }
    let (tz, _) = resolve_zone(
        case.time_zone
            .as_deref()
            .or(Some(tenant.time_zone.as_str())),
    );
    // Steps are planned in the daytime; one can still come due at night (overdue after a hold, a
    // zone learnt since, or the tenant's zone standing in for an unknown one).
    if reminder && !is_daytime(now, tz) {
        let at = next_daytime(now, tz);
        return Ok(Decided::End((
            None,
            format!("postponed to {at}: quiet hours"),
            Some(at),
        )));
    }
    // Read at the batch's start: an early way out. The outbox claim checks the cap again, one
    // customer at a time, for steps of other cases running at this very moment.
    let sent = known.sent.get(&case.customer_id).copied().unwrap_or(0);
    if reminder && sent >= WEEKLY_TOUCH_CAP {
        return Ok(Decided::End(capped(now, tz, sent)));
    }
    // Just before a reminder: a payment that arrived meanwhile settles the case instead.
    if reminder {
        let creds = super::work::credentials(state, tenant)?;
        match state.processor.get_invoice(&creds, &case.invoice_id).await {
            Ok(invoice) => {
                if let Some(event) = super::work::settled(w, &invoice, now) {
                    let why = "not sent: the invoice was settled elsewhere";
                    return Ok(Decided::End((Some(event), why.into(), None)));
                }
            }
            Err(e) => {
                let at = now + Duration::minutes(15);
                return Ok(Decided::End((
                    None,
                    format!("invoice unreadable: {e}"),
                    Some(at),
                )));
            }
        }
    }
    let campaign = campaign_version(state, &tenant.id, &case.campaign).await?;
    let branding: Branding = serde_json::from_str(&tenant.branding).unwrap_or_default();
    let support: Support = serde_json::from_str(&tenant.support).unwrap_or_default();
    let locale = tenant.locale.clone();
    let ctx = Context {
        locale: locale.clone(),
        company: branding.name.clone().unwrap_or_else(|| tenant.name.clone()),
        logo_url: branding.logo_url,
        color: branding.primary_color,
        support_email: support.email.clone(),
        support_phone: support.phone,
        address: support.address,
        customer_name: row.customer_name.clone(),
        amount: case.amount.clone(),
        link: super::card_update::link(state, &tenant.id, &case.id),
        deadline: case
            .campaign_deadline(&campaign)
            .map(|d| d.with_timezone(&tz).date_naive()),
    };
    let custom = known
        .templates
        .iter()
        .find(|t| t.kind == message.as_str() && t.locale == ctx.locale)
        .map(|t| t.set());
    let rendered = match email::render_with(message, &ctx, custom.as_ref()) {
        Ok(r) => r,
        Err(e) => {
            let detail = format!("email not sent: {e}");
            return Ok(Decided::End((note(w, now, detail.clone()), detail, None)));
        }
    };
    let outgoing = NewMessage {
        id: w.id.clone(),
        tenant_id: tenant.id.clone(),
        case_id: case.id.clone(),
        customer_id: case.customer_id.clone(),
        kind: message.as_str().into(),
        to_address: to.clone(),
        locale,
        subject: rendered.subject,
        body_text: rendered.text,
        body_html: rendered.html,
        transport: state.mailer.name().into(),
        cap: reminder.then(|| TouchCap {
            since: now - Duration::days(7),
            limit: WEEKLY_TOUCH_CAP,
        }),
    };
    Ok(Decided::Send(Outgoing {
        message: outgoing,
        from_name: ctx.company,
        reply_to: support.email,
        kind: message.as_str(),
        tz,
    }))
}

/// Hands a message the outbox has as `sending` (claim [`Claim::Send`] or [`Claim::Resend`]) to the transport; any other
/// claim ends the step unsent. Returns the step's end and, when sent, how the outbox row ends.
pub(super) async fn send(
    state: &AppState,
    w: &WorkRow,
    out: Outgoing,
    claim: Claim,
) -> (StepEnd, Option<MessageFinish>) {
    let now = state.clock.now();
    let resend = match claim {
        Claim::Send => false,
        Claim::Resend => true,
        Claim::Settled(status) => {
            let why = format!("not sent again: the message is {status}");
            return ((None, why, None), None);
        }
        Claim::Capped(sent) => return (capped(now, out.tz, sent), None),
    };
    let mut m = out.message;
    // A step run before recorded this message: a re-send repeats it exactly.
    match recorded(state, &w.id, resend).await {
        Ok(Some(c)) => {
            (m.subject, m.body_text, m.body_html) = (c.subject, c.body_text, c.body_html)
        }
        Ok(None) => {}
        Err(e) => {
            // The outbox row is `sending`: not sending now leaves it for a re-run to settle.
            let at = now + Duration::minutes(10);
            let why = format!("the recorded message could not be read: {e}");
            return ((None, why, Some(at)), None);
        }
    }
    let envelope = Envelope {
        id: m.id,
        from_name: out.from_name,
        from_address: state.settings.email_from.clone(),
        reply_to: out.reply_to,
        to: m.to_address,
        subject: m.subject,
        text: m.body_text,
        html: m.body_html,
    };
    let to = &envelope.to;
    let kind = out.kind;
    let sent = state.mailer.send(&envelope).await;
    if let Ok(Some(provider_id)) = &sent {
        // Only a reference for the operator: failing to keep it must not fail a sent message.
        if let Err(e) = state
            .store
            .set_provider_message_id(&w.id, provider_id)
            .await
        {
            tracing::warn!(message = %w.id, error = %e, "the provider's message id was not recorded");
        }
    }
    let (status, error, end) = match sent {
        Ok(_) => {
            let detail = format!("{kind} email sent to {to}");
            ("sent", None, (note(w, now, detail), "sent".into(), None))
        }
        Err(SendError::Transient(e)) => {
            let at = resend_at(now, w.runs);
            (
                "retry",
                Some(e.clone()),
                (None, format!("will retry: {e}"), Some(at)),
            )
        }
        Err(SendError::Permanent(e)) => {
            let detail = format!("{kind} email to {to} failed: {e}");
            (
                "failed",
                Some(e),
                (note(w, now, detail.clone()), detail, None),
            )
        }
    };
    let finish = MessageFinish {
        id: w.id.clone(),
        status,
        error,
    };
    (end, Some(finish))
}
