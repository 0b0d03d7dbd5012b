//! How each event adds facts to a case, and how status and attribution are derived from them.
//! Derivation looks only at the facts, never at arrival order: that is what makes replays safe.

use chrono::{DateTime, Duration, Utc};

use super::campaign::Campaign;
use super::case::{Case, Out};
use super::case_types::*;
use super::decline::{Classification, DeclineInfo, classify};

pub(super) fn record(c: &mut Case, e: &CaseEvent, campaign: &Campaign, out: &mut Out) {
    let at = e.occurred_at;
    match &e.kind {
        EventKind::PaymentFailed {
            decline,
            attempt_count,
            card,
            processor_next_attempt,
        } => {
            let failure = failure(at, decline, None, Some(*attempt_count));
            out.note(
                TimelineKind::PaymentFailed,
                format!(
                    "payment failed at {at} (attempt {attempt_count}): {}",
                    failure.classification.reason
                ),
            );
            // Only the newest failure may set the card: a late, older failure describes an old card.
            let latest = c.latest_failure().is_none_or(|l| at >= l.at);
            c.failures.push(failure);
            if let (Some(card), true) = (card, latest) {
                c.card = Some(card.clone());
            }
            if let (Some(next), Mode::Manage, false) =
                (processor_next_attempt, c.mode, c.processor_retry_warned)
            {
                // Once is enough; two engines charging one card is the costliest misconfiguration.
                c.processor_retry_warned = true;
                out.note(TimelineKind::Warning, format!("the processor still plans its own retry at {next}: turn its automatic retries off, or two engines will charge this card"));
            }
        }
        EventKind::InvoicePaid {
            attempt_id,
            via,
            attempt_count,
        } => {
            out.note(
                TimelineKind::Paid,
                format!("invoice paid at {at} ({via:?})"),
            );
            c.payments.push(Payment {
                at,
                attempt_id: attempt_id.clone(),
                via: *via,
                attempt_count: *attempt_count,
            });
        }
        EventKind::InvoiceVoided => end(
            c,
            out,
            at,
            EndingKind::InvoiceVoided,
            "invoice voided".into(),
        ),
        EventKind::InvoiceUncollectible => end(
            c,
            out,
            at,
            EndingKind::InvoiceUncollectible,
            "invoice marked uncollectible".into(),
        ),
        EventKind::SubscriptionEnded => end(
            c,
            out,
            at,
            EndingKind::SubscriptionEnded,
            "subscription ended".into(),
        ),
        EventKind::PaymentMethodUpdated { card } | EventKind::CustomerUpdatedCard { card } => {
            // Only a newer update counts, so a replayed old one cannot move the time back.
            if c.card_updated_at.is_none_or(|u| at > u) {
                c.card_updated_at = Some(at);
                c.customer_waiting = matches!(e.kind, EventKind::CustomerUpdatedCard { .. });
                if card.is_some()
                    && card.as_ref().and_then(|k| k.fingerprint.as_ref())
                        != c.card.as_ref().and_then(|k| k.fingerprint.as_ref())
                {
                    // Another card's attempts do not count against this one; the caller reloads it.
                    c.card_history.clear();
                }
                c.card = card.clone().or(c.card.take());
                c.retry_not_before = None;
            }
            out.note(
                TimelineKind::CardUpdated,
                format!("payment method updated at {at}"),
            );
        }
        EventKind::AttemptOutcome { attempt_id, result } => {
            record_outcome(c, out, at, attempt_id, result)
        }
        EventKind::TimerFired { timer } => super::case_plan::timer_fired(c, *timer, campaign, out),
        EventKind::Operator { who, action } => super::case_plan::operator(c, who, *action, at, out),
        EventKind::PromiseToPay { until } => super::case_plan::promise(c, *until, out),
        EventKind::Message { .. } => {
            out.commands
                .extend(super::case::timeline_only(e, out.now).map(Command::Record));
        }
    }
}

fn failure(
    at: DateTime<Utc>,
    decline: &DeclineInfo,
    attempt_id: Option<String>,
    attempt_count: Option<u32>,
) -> Failure {
    let classification: Classification = classify(decline);
    Failure {
        at,
        attempt_count,
        attempt_id,
        decline: decline.clone(),
        classification,
    }
}

pub(super) fn end(
    c: &mut Case,
    out: &mut Out,
    at: DateTime<Utc>,
    kind: EndingKind,
    detail: String,
) {
    out.note(TimelineKind::Ending, format!("{detail} at {at}"));
    c.endings.push(Ending { at, kind, detail });
}

fn record_outcome(
    c: &mut Case,
    out: &mut Out,
    at: DateTime<Utc>,
    id: &str,
    result: &AttemptResult,
) {
    let Some(a) = c.attempts.iter_mut().find(|a| a.id == id) else {
        out.note(
            TimelineKind::Ignored,
            format!("outcome for unknown attempt {id} ignored"),
        );
        return;
    };
    if matches!(a.state, AttemptState::Succeeded | AttemptState::Declined) {
        return; // a second report of a settled attempt: the first one counted
    }
    match result {
        AttemptResult::Succeeded => {
            a.state = AttemptState::Succeeded;
            a.executed_at = Some(at);
            out.note(
                TimelineKind::AttemptOutcome,
                format!("attempt {id} succeeded"),
            );
            c.payments.push(Payment {
                at,
                attempt_id: Some(id.to_owned()),
                via: PaidVia::OurAttempt,
                attempt_count: None,
            });
        }
        AttemptResult::Declined { decline } => {
            a.state = AttemptState::Declined;
            a.executed_at = Some(at);
            // A declined attempt is a failure like any other: it becomes the decline that plans next.
            let f = failure(at, decline, Some(id.to_owned()), None);
            out.note(
                TimelineKind::AttemptOutcome,
                format!("attempt {id} declined: {}", f.classification.reason),
            );
            c.failures.push(f);
            c.card_history.push(at);
        }
        AttemptResult::Uncertain => {
            a.state = AttemptState::Uncertain;
            a.executed_at = Some(at);
            // It may have reached the card: count it against the network limits.
            c.card_history.push(at);
            out.note(
                TimelineKind::AttemptOutcome,
                format!("attempt {id}: outcome uncertain, waiting for the invoice to be re-read"),
            );
        }
        AttemptResult::NotAttempted { reason, not_before } => {
            a.state = AttemptState::NotAttempted;
            // Without a hint, back off an hour so a refusing job cannot loop at full speed.
            c.retry_not_before = Some(not_before.unwrap_or(at + Duration::hours(1)));
            out.note(
                TimelineKind::AttemptOutcome,
                format!("attempt {id} not made: {reason}"),
            );
        }
    }
}

/// Recomputes status, attribution and closing time from the facts.
pub(super) fn derive(c: &mut Case) {
    c.opened_at = c.failures.iter().map(|f| f.at).min();
    if c.failures.is_empty() {
        (c.status, c.recovered_by, c.closed_at) = (Status::Pending, None, None);
        return;
    }
    // Payment beats every ending: money that arrived is recovered, whatever else happened.
    if let Some((by, at)) = best_payment(c) {
        (c.status, c.recovered_by, c.closed_at) = (Status::Recovered, Some(by), Some(at));
        return;
    }
    c.recovered_by = None;
    // The earliest ending by source time wins (ties by kind), so arrival order never matters.
    if let Some(e) = c.endings.iter().min_by_key(|e| (e.at, e.kind.rank())) {
        c.status = match e.kind {
            EndingKind::SubscriptionEnded | EndingKind::CampaignExhausted => Status::Churned,
            EndingKind::InvoiceVoided | EndingKind::OperatorCanceled => Status::Canceled,
            EndingKind::InvoiceUncollectible | EndingKind::OperatorWrittenOff => Status::WrittenOff,
        };
        c.closed_at = Some(e.at);
        return;
    }
    c.closed_at = None;
    let sub_state = if c.paused_by.is_some() {
        SubState::Paused
    } else if c.promised_until.is_some() {
        SubState::Promised
    } else if c
        .latest_failure()
        .is_some_and(|f| f.classification.class.is_retryable())
        || c.card_changed()
    {
        SubState::Retrying
    } else {
        SubState::AwaitingCardUpdate
    };
    c.status = Status::Open { sub_state };
}

/// The strongest evidence of payment wins: our own attempt beats an inference, which beats a hint.
fn best_payment(c: &Case) -> Option<(RecoveredBy, DateTime<Utc>)> {
    let last_failure = c.latest_failure().map(|f| f.at);
    let judge = |p: &Payment| -> (u8, RecoveredBy) {
        let ours = p
            .attempt_id
            .as_ref()
            .and_then(|id| c.attempts.iter().find(|a| &a.id == id));
        if let Some(a) = ours {
            return match a.trigger {
                AttemptTrigger::CardUpdate => (5, RecoveredBy::CardUpdate),
                _ => (5, RecoveredBy::OurRetry),
            };
        }
        let card_fixed = c
            .card_updated_at
            .is_some_and(|u| u <= p.at && last_failure.is_none_or(|f| u > f));
        // Only the processor's automatic retries move its attempt counter past the first attempt
        // (a payment by the customer or through the API does not): a paid invoice counting more
        // attempts than any failure was collected by such a retry. Judged here, from all the
        // facts, so the order the events came in does not matter.
        let automatic = p.via == PaidVia::Unknown
            && p.attempt_count.is_some_and(|n| {
                c.failures
                    .iter()
                    .filter_map(|f| f.attempt_count)
                    .max()
                    .is_some_and(|seen| n > seen)
            });
        match p.via {
            PaidVia::Operator => (0, RecoveredBy::Operator),
            _ if card_fixed => (4, RecoveredBy::CardUpdate),
            _ if automatic => (3, RecoveredBy::ProcessorRetry),
            PaidVia::Processor => (3, RecoveredBy::ProcessorRetry),
            PaidVia::OurAttempt => (2, RecoveredBy::OurRetry),
            PaidVia::Customer | PaidVia::Unknown => (1, RecoveredBy::CustomerPaid),
        }
    };
    c.payments
        .iter()
        .map(|p| (judge(p), p.at))
        .max_by(|((ra, _), ta), ((rb, _), tb)| ra.cmp(rb).then(tb.cmp(ta)))
        .map(|((_, by), at)| (by, at))
}
