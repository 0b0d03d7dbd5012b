//! Retry planning inside a case: one pending attempt at a time, stable ids, every choice explained.
//! Timing itself is `policy::plan_retry`; this decides when to ask it and what to do with the answer.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::calendar::step_time;
use super::campaign::Campaign;
use super::case::{Case, Out};
use super::case_plan::{deadline, held};
use super::case_types::*;
use super::policy::{RetryDecision, RetryInput, TimingSettings, plan_retry};

fn retryable_now(c: &Case) -> bool {
    c.card_changed()
        || c.latest_failure()
            .is_some_and(|f| f.classification.class.is_retryable())
}

/// Plans the next retry when none is pending; re-plans a pending one after a card update, and a
/// pending campaign step after a newer decline that reads differently (`new_decline`).
pub(super) fn plan_next_retry(
    c: &mut Case,
    campaign: &Campaign,
    tz: Tz,
    new_decline: bool,
    out: &mut Out,
) {
    if c.mode == Mode::Observe {
        return;
    }
    if !retryable_now(c) {
        for a in c
            .attempts
            .iter_mut()
            .filter(|a| a.state == AttemptState::Planned)
        {
            a.state = AttemptState::Canceled;
            let reason = "the latest decline rules out retrying this card".to_owned();
            out.note(
                TimelineKind::RetryCanceled,
                format!("attempt {} canceled: {reason}", a.id),
            );
            out.commands.push(Command::CancelRetry {
                attempt_id: a.id.clone(),
                reason,
            });
        }
        let f = c.latest_failure().expect("open");
        note_no_retry(
            c,
            out,
            format!(
                "no retry: {}; waiting for a new card",
                f.classification.reason
            ),
        );
        return;
    }
    if c.attempts
        .iter()
        .any(|a| a.state == AttemptState::Uncertain)
    {
        return; // the job resolves it first by re-reading the invoice
    }
    let card_changed = c.card_changed();
    // One planned attempt at a time; only a card update may move it (to within minutes).
    let pending = c
        .attempts
        .iter()
        .position(|a| a.state == AttemptState::Planned);
    let mut redecide = false;
    if let Some(p) = pending {
        let a = &c.attempts[p];
        // A customer waiting on our page brings a planned card-update retry forward to now.
        let bring_forward = c.customer_waiting && a.at > out.now;
        redecide = !card_changed && new_decline && matches!(a.trigger, AttemptTrigger::Step { .. });
        if !redecide
            && !(card_changed && (a.trigger != AttemptTrigger::CardUpdate || bring_forward))
        {
            return;
        }
    }
    // A step is used up only once its attempt reached the processor; refused or canceled ones are not.
    let consumed: Vec<usize> = c
        .attempts
        .iter()
        .filter(|a| {
            !matches!(
                a.state,
                AttemptState::Canceled | AttemptState::NotAttempted | AttemptState::Planned
            )
        })
        .filter_map(|a| match a.trigger {
            AttemptTrigger::Step { index } => Some(index),
            _ => None,
        })
        .collect();
    let next_step = campaign
        .retry_steps()
        .map(|(i, _)| i)
        .find(|i| consumed.iter().all(|u| u < i));
    // A new card gets its own retry, outside the campaign's count: it deserves its chance.
    let (trigger, nominal) = match (card_changed, next_step) {
        (true, _) => (AttemptTrigger::CardUpdate, out.now),
        (false, Some(i)) => {
            let first = c.opened_at.expect("open");
            (
                AttemptTrigger::Step { index: i },
                step_time(
                    first,
                    tz,
                    campaign.grace_period_hours,
                    campaign.steps[i].offset,
                    held(c),
                ),
            )
        }
        (false, None) => {
            note_no_retry(
                c,
                out,
                "no retry: the campaign has no retry steps left".into(),
            );
            return;
        }
    };
    let decision = decide(
        c,
        campaign,
        tz,
        out.now,
        nominal,
        card_changed,
        consumed.len() as u32,
    );
    match (decision.at, pending) {
        // Re-deciding to the same time changes nothing.
        (Some(at), Some(p)) if redecide && c.attempts[p].at == at => {}
        (Some(at), _) => schedule_retry(c, pending, trigger, at, decision.reasons, out),
        (None, Some(p)) if redecide => {
            let reason = decision.reasons.join("; ");
            let a = &mut c.attempts[p];
            a.state = AttemptState::Canceled;
            out.note(
                TimelineKind::RetryCanceled,
                format!("attempt {} canceled: {reason}", a.id),
            );
            out.commands.push(Command::CancelRetry {
                attempt_id: a.id.clone(),
                reason: reason.clone(),
            });
            note_no_retry(c, out, reason);
        }
        (None, _) => note_no_retry(c, out, decision.reasons.join("; ")),
    }
}

fn decide(
    c: &Case,
    campaign: &Campaign,
    tz: Tz,
    now: DateTime<Utc>,
    nominal: DateTime<Utc>,
    card_changed: bool,
    used: u32,
) -> RetryDecision {
    let f = c.latest_failure().expect("open");
    // The processor's own failures count as attempts too: the gap runs from the later of both.
    let last_attempt = c.attempts.iter().filter_map(|a| a.executed_at).max();
    let waiting;
    let settings = if card_changed && c.customer_waiting {
        waiting = TimingSettings {
            card_update_delay_minutes: 0,
            ..campaign.timing.clone()
        };
        &waiting
    } else {
        &campaign.timing
    };
    plan_retry(&RetryInput {
        now: now.max(c.retry_not_before.unwrap_or(now)),
        nominal,
        last_failure: f.at,
        classification: &f.classification,
        card_updated_at: if card_changed {
            c.card_updated_at
        } else {
            None
        },
        last_attempt_at: last_attempt,
        deadline: deadline(c, campaign, tz),
        retries_used: used,
        max_retries: campaign.max_retries,
        network: c.network(),
        card_history: &c.card_history,
        time_zone: tz,
        settings,
    })
}

fn note_no_retry(c: &mut Case, out: &mut Out, reason: String) {
    if c.no_retry_reason.as_deref() != Some(reason.as_str()) {
        out.note(TimelineKind::NoRetry, reason.clone());
        c.no_retry_reason = Some(reason);
    }
}

/// Reuses a still-planned attempt's id (it was never sent), otherwise opens the next ordinal.
fn schedule_retry(
    c: &mut Case,
    reuse: Option<usize>,
    trigger: AttemptTrigger,
    at: DateTime<Utc>,
    reasons: Vec<String>,
    out: &mut Out,
) {
    let idx = match reuse {
        Some(i) => i,
        None => {
            let ordinal = c.attempts.len() as u32 + 1;
            c.attempts.push(Attempt {
                id: c.attempt_id(ordinal),
                ordinal,
                trigger: trigger.clone(),
                at,
                state: AttemptState::Planned,
                executed_at: None,
            });
            c.attempts.len() - 1
        }
    };
    let a = &mut c.attempts[idx];
    (a.at, a.trigger) = (at, trigger.clone());
    c.no_retry_reason = None;
    out.note(
        TimelineKind::RetryPlanned,
        format!("attempt {} at {at}: {}", a.id, reasons.join("; ")),
    );
    out.commands.push(Command::ScheduleRetry {
        attempt_id: a.id.clone(),
        ordinal: a.ordinal,
        at,
        trigger,
        reasons,
    });
}

/// The retry on the day the customer promised to pay: that day's time, moved only by card-network
/// limits (the customer chose the day, so paydays, business hours and gaps do not apply), once per
/// promise. A decline the card cannot recover from, or the processor owning retries, means none.
pub(super) fn promise_retry(c: &mut Case, campaign: &Campaign, tz: Tz, out: &mut Out) {
    let Some(until) = c.promised_until else {
        return;
    };
    let n = c.promises;
    let trigger = AttemptTrigger::Promise { n };
    if c.mode == Mode::Observe
        || !retryable_now(c)
        || until <= out.now
        || c.attempts.iter().any(|a| {
            a.state == AttemptState::Uncertain
                || (a.trigger == trigger && a.state != AttemptState::Planned)
        })
    {
        return;
    }
    let at = super::network::NetworkLimits::for_network(c.network())
        .earliest_allowed(&c.card_history, until);
    if at > deadline(c, campaign, tz) {
        note_no_retry(
            c,
            out,
            "no retry on the promised day: card-network limits allow none before the campaign ends"
                .into(),
        );
        return;
    }
    let pending = c
        .attempts
        .iter()
        .position(|a| a.state == AttemptState::Planned);
    if pending.is_some_and(|p| c.attempts[p].trigger == trigger && c.attempts[p].at == at) {
        return;
    }
    let mut reasons = vec![format!("the customer promised to pay by {until}")];
    if at > until {
        reasons.push(format!("card-network limit: waits until {at}"));
    }
    schedule_retry(c, pending, trigger, at, reasons, out);
}

/// An operator may override timing, never a hard decline nor the network limits.
pub(super) fn retry_now(c: &mut Case, who: &str, campaign: &Campaign, tz: Tz, out: &mut Out) {
    let limits = super::network::NetworkLimits::for_network(c.network());
    let never_approve = !c.card_changed()
        && limits.stop_after_never_approve
        && c.latest_failure()
            .is_some_and(|f| f.classification.never_approve);
    let refusal = if c.mode == Mode::Observe {
        Some("the processor owns retries in observe mode")
    } else if !retryable_now(c) || never_approve {
        Some("the latest decline rules out retrying this card")
    } else {
        None
    };
    if let Some(why) = refusal {
        out.note(
            TimelineKind::Operator,
            format!("retry now by {who} refused: {why}"),
        );
        return;
    }
    if c.attempts
        .iter()
        .any(|a| a.state == AttemptState::Uncertain)
    {
        out.note(
            TimelineKind::Operator,
            format!("retry now by {who} refused: an attempt's outcome is still uncertain"),
        );
        return;
    }
    let at = limits.earliest_allowed(&c.card_history, out.now);
    if at > deadline(c, campaign, tz) {
        out.note(TimelineKind::Operator, format!("retry now by {who} refused: card-network limits allow none before the campaign ends"));
        return;
    }
    let pending = c
        .attempts
        .iter()
        .position(|a| a.state == AttemptState::Planned);
    let mut reasons = vec![format!("retry requested by {who}")];
    if at > out.now {
        reasons.push(format!("card-network limit: waits until {at}"));
    }
    schedule_retry(
        c,
        pending,
        AttemptTrigger::Operator { who: who.into() },
        at,
        reasons,
        out,
    );
}
