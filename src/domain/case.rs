//! The recovery case state machine: `apply(case, event, campaign, now) -> (case, commands)`.
//! Events add facts; status is derived from the facts alone, so order and duplicates do not matter.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::campaign::Campaign;
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
    /// The latest card update came from the customer on our page, who waits for the retry.
    #[serde(default)]
    pub customer_waiting: bool,
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
            customer_waiting: false,
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

    /// When the campaign's end action is due: the campaign's length from the first failure, in the
    /// case's time zone, moved by the time the case was held. `None` before the case opens.
    pub fn campaign_deadline(&self, campaign: &super::campaign::Campaign) -> Option<DateTime<Utc>> {
        self.opened_at?;
        let (tz, _) = super::calendar::resolve_zone(self.time_zone.as_deref());
        Some(super::case_plan::deadline(self, campaign, tz))
    }

    /// True when the card changed after the latest failure: its decline no longer applies.
    pub fn card_changed(&self) -> bool {
        match (self.card_updated_at, self.latest_failure()) {
            (Some(u), Some(f)) => u > f.at,
            _ => false,
        }
    }

    /// Failures seen: the processor's counter when it is ahead of the failures we were told about.
    pub fn failure_count(&self) -> u32 {
        let counted = self
            .failures
            .iter()
            .filter_map(|f| f.attempt_count)
            .max()
            .unwrap_or(0);
        counted.max(self.failures.len() as u32)
    }

    /// What is still planned, for the API's `planned_steps` (retries are in `attempts`).
    pub fn pending_steps(&self) -> impl Iterator<Item = &PlannedStep> {
        self.steps.iter().filter(|s| s.state == StepState::Pending)
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

/// Whether `event` is only a line on the timeline (see [`timeline_only`]).
pub fn is_timeline_only(event: &CaseEvent) -> bool {
    matches!(event.kind, EventKind::Message { .. })
}

/// The timeline entry of an event that is nothing more (how a message to the customer went): it
/// adds no fact to the case, so the engine writes it without loading or saving the case. `apply`
/// records such an event the same way.
pub fn timeline_only(event: &CaseEvent, now: DateTime<Utc>) -> Option<TimelineEntry> {
    match &event.kind {
        EventKind::Message { step_id, detail } => Some(TimelineEntry {
            at: now,
            kind: TimelineKind::Message,
            detail: format!("{step_id}: {detail}"),
        }),
        _ => None,
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
    let decline_before = c.latest_failure().map(|f| f.classification.clone());
    super::case_facts::record(&mut c, event, campaign, &mut out);
    super::case_facts::derive(&mut c);
    // A newer decline that says something else (insufficient funds after a generic decline, a
    // network's hinted delay) re-decides a retry planned from the older one.
    let new_decline = decline_before.is_some()
        && c.latest_failure().map(|f| &f.classification) != decline_before.as_ref();
    super::case_plan::transition(&mut c, before, event, campaign, new_decline, &mut out);
    (c, out.commands)
}

#[cfg(test)]
#[path = "case_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "case_ops_tests.rs"]
mod ops_tests;

#[cfg(test)]
#[path = "case_time_tests.rs"]
mod time_tests;

#[cfg(test)]
#[path = "case_props.rs"]
mod props;
