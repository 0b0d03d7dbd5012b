//! The recovery case state machine: `apply(case, event, campaign, now) -> (case, commands)`.
//! Events add facts; status is derived from the facts alone, so order and duplicates do not matter.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::campaign::Campaign;
use super::decline::{Classification, DeclineInfo, classify};
use super::money::Money;
use super::network::CardNetwork;

pub use super::case_types::*;

/// A case as the store keeps it (serialise it whole; the fields the API filters on are also columns).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    /// Stable and short (a UUID): attempt and step ids, hence Idempotency-Keys, are built from it.
    pub id: String,
    pub invoice_id: String,
    pub customer_id: String,
    pub subscription_id: Option<String>,
    pub amount: Money,
    /// IANA name; unknown or missing means UTC (said on the timeline).
    pub time_zone: Option<String>,
    pub mode: Mode,
    pub campaign: CampaignRef,
    pub status: Status,
    pub recovered_by: Option<RecoveredBy>,
    /// The earliest failure's time; steps count from it.
    pub opened_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub card: Option<CardRef>,
    pub card_updated_at: Option<DateTime<Utc>>,
    /// Attempts on the current card across all cases, loaded by the caller before `apply`;
    /// the machine appends its own attempts so planning within one call stays consistent.
    #[serde(default)]
    pub card_history: Vec<DateTime<Utc>>,
    pub failures: Vec<Failure>,
    pub attempts: Vec<Attempt>,
    pub steps: Vec<PlannedStep>,
    pub payments: Vec<Payment>,
    pub endings: Vec<Ending>,
    pub paused_by: Option<String>,
    pub promised_until: Option<DateTime<Utc>>,
    /// Start of the current pause or promise; steps shift by the time spent on hold.
    pub hold_since: Option<DateTime<Utc>>,
    pub held_secs: i64,
    pub promises: u32,
    pub retry_not_before: Option<DateTime<Utc>>,
    pub end_action_executed: bool,
    pub processor_retry_warned: bool,
    /// Last "no retry" explanation, so it is written once rather than on every event.
    pub no_retry_reason: Option<String>,
    pub seen_events: BTreeSet<String>,
}

/// What the caller knows when it first sees an invoice (on any event, not only a failure).
#[derive(Debug, Clone, PartialEq)]
pub struct NewCase {
    pub id: String,
    pub invoice_id: String,
    pub customer_id: String,
    pub subscription_id: Option<String>,
    pub amount: Money,
    pub time_zone: Option<String>,
    pub mode: Mode,
    pub campaign: CampaignRef,
    pub card: Option<CardRef>,
}

impl Case {
    /// A case in `Pending`: it opens when a failure is known, so a payment seen first is not lost.
    pub fn new(n: NewCase) -> Self {
        Case {
            id: n.id,
            invoice_id: n.invoice_id,
            customer_id: n.customer_id,
            subscription_id: n.subscription_id,
            amount: n.amount,
            time_zone: n.time_zone,
            mode: n.mode,
            campaign: n.campaign,
            status: Status::Pending,
            recovered_by: None,
            opened_at: None,
            closed_at: None,
            card: n.card,
            card_updated_at: None,
            card_history: Vec::new(),
            failures: Vec::new(),
            attempts: Vec::new(),
            steps: Vec::new(),
            payments: Vec::new(),
            endings: Vec::new(),
            paused_by: None,
            promised_until: None,
            hold_since: None,
            held_secs: 0,
            promises: 0,
            retry_not_before: None,
            end_action_executed: false,
            processor_retry_warned: false,
            no_retry_reason: None,
            seen_events: BTreeSet::new(),
        }
    }

    pub fn network(&self) -> CardNetwork {
        self.card.as_ref().map(|c| c.network).unwrap_or_default()
    }

    /// The latest failure; on a tie the non-retryable one wins (the cautious reading).
    pub fn latest_failure(&self) -> Option<&Failure> {
        self.failures.iter().max_by(|a, b| {
            a.at.cmp(&b.at).then(
                b.classification
                    .class
                    .is_retryable()
                    .cmp(&a.classification.class.is_retryable()),
            )
        })
    }

    /// True when the card changed after the latest failure: its decline no longer applies.
    pub fn card_changed(&self) -> bool {
        match (self.card_updated_at, self.latest_failure()) {
            (Some(u), Some(f)) => u > f.at,
            _ => false,
        }
    }

    pub fn is_open(&self) -> bool {
        matches!(self.status, Status::Open { .. })
    }

    pub fn on_hold(&self) -> bool {
        self.paused_by.is_some() || self.promised_until.is_some()
    }

    pub fn attempt_id(&self, ordinal: u32) -> String {
        format!("{}/attempt/{ordinal}", self.id)
    }

    pub fn step_id(&self, timer: Timer) -> String {
        match timer {
            Timer::Step(i) => format!("{}/step/{i}", self.id),
            Timer::End => format!("{}/end", self.id),
            Timer::PromiseExpired(n) => format!("{}/promise/{n}", self.id),
        }
    }
}

/// Collects commands; every timeline entry is stamped with `now` (the event time is in the detail).
pub(super) struct Out {
    pub now: DateTime<Utc>,
    pub commands: Vec<Command>,
}

impl Out {
    pub fn note(&mut self, kind: TimelineKind, detail: impl Into<String>) {
        self.commands.push(Command::Record(TimelineEntry {
            at: self.now,
            kind,
            detail: detail.into(),
        }));
    }
}

/// The state machine. A duplicate event id returns the case unchanged and no commands.
pub fn apply(
    case: &Case,
    event: &CaseEvent,
    campaign: &Campaign,
    now: DateTime<Utc>,
) -> (Case, Vec<Command>) {
    if case.seen_events.contains(&event.id) {
        return (case.clone(), Vec::new());
    }
    let mut c = case.clone();
    c.seen_events.insert(event.id.clone());
    let mut out = Out {
        now,
        commands: Vec::new(),
    };
    let before = (c.status.clone(), c.recovered_by);
    record(&mut c, event, campaign, &mut out);
    derive(&mut c);
    super::case_plan::transition(&mut c, before, event, campaign, &mut out);
    (c, out.commands)
}

fn record(c: &mut Case, e: &CaseEvent, campaign: &Campaign, out: &mut Out) {
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
            let latest = c.latest_failure().is_none_or(|l| at >= l.at);
            c.failures.push(failure);
            if let (Some(card), true) = (card, latest) {
                c.card = Some(card.clone());
            }
            if let (Some(next), Mode::Manage, false) =
                (processor_next_attempt, c.mode, c.processor_retry_warned)
            {
                c.processor_retry_warned = true;
                out.note(TimelineKind::Warning, format!("the processor still plans its own retry at {next}: turn its automatic retries off, or two engines will charge this card"));
            }
        }
        EventKind::InvoicePaid { attempt_id, via } => {
            out.note(
                TimelineKind::Paid,
                format!("invoice paid at {at} ({via:?})"),
            );
            c.payments.push(Payment {
                at,
                attempt_id: attempt_id.clone(),
                via: *via,
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
        EventKind::PaymentMethodUpdated { card } => {
            if c.card_updated_at.is_none_or(|u| at > u) {
                c.card_updated_at = Some(at);
                if card.is_some()
                    && card.as_ref().and_then(|k| k.fingerprint.as_ref())
                        != c.card.as_ref().and_then(|k| k.fingerprint.as_ref())
                {
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
            });
        }
        AttemptResult::Declined { decline } => {
            a.state = AttemptState::Declined;
            a.executed_at = Some(at);
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
            c.retry_not_before = *not_before;
            out.note(
                TimelineKind::AttemptOutcome,
                format!("attempt {id} not made: {reason}"),
            );
        }
    }
}

/// Recomputes status, attribution and closing time from the facts.
fn derive(c: &mut Case) {
    c.opened_at = c.failures.iter().map(|f| f.at).min();
    if c.failures.is_empty() {
        (c.status, c.recovered_by, c.closed_at) = (Status::Pending, None, None);
        return;
    }
    if let Some((by, at)) = best_payment(c) {
        (c.status, c.recovered_by, c.closed_at) = (Status::Recovered, Some(by), Some(at));
        return;
    }
    c.recovered_by = None;
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
        match p.via {
            PaidVia::Operator => (0, RecoveredBy::Operator),
            _ if card_fixed => (4, RecoveredBy::CardUpdate),
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

#[cfg(test)]
#[path = "case_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "case_props.rs"]
mod props;
