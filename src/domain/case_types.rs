//! The vocabulary of the case state machine: events in, commands out, and the facts a case keeps.
//! All provider-neutral: the job layer maps normalised webhook events onto `CaseEvent`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::campaign::EndAction;
use super::decline::{Classification, DeclineInfo};
use super::network::CardNetwork;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CampaignRef {
    pub id: String,
    pub version: u32,
}

/// `Manage`: we own the retries. `Observe`: the processor retries; we track, communicate, measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Manage,
    Observe,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubState {
    Retrying,
    AwaitingCardUpdate,
    Paused,
    Promised,
}

/// `Pending` means we hold facts about the invoice (say, its payment) but know of no failure yet.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    Pending,
    Open { sub_state: SubState },
    Recovered,
    Churned,
    Canceled,
    WrittenOff,
}

impl Status {
    pub fn is_terminal(&self) -> bool {
        !matches!(self, Status::Pending | Status::Open { .. })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecoveredBy {
    OurRetry,
    CardUpdate,
    CustomerPaid,
    ProcessorRetry,
    Operator,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CardRef {
    /// The processor's card fingerprint: network limits are counted per fingerprint across cases.
    pub fingerprint: Option<String>,
    pub network: CardNetwork,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub at: DateTime<Utc>,
    /// The processor's attempt counter on the invoice, when the failure came from a webhook.
    pub attempt_count: Option<u32>,
    /// Our attempt, when the failure is the outcome of one.
    pub attempt_id: Option<String>,
    pub decline: DeclineInfo,
    pub classification: Classification,
}

/// Messages that answer an event rather than escalate: a thank-you for a new card, a receipt, the
/// news that the subscription ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Notice {
    CardUpdated,
    PaymentReceived,
    SubscriptionCancelled,
}

impl Notice {
    pub fn as_str(self) -> &'static str {
        match self {
            Notice::CardUpdated => "card_updated",
            Notice::PaymentReceived => "payment_received",
            Notice::SubscriptionCancelled => "subscription_cancelled",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AttemptTrigger {
    /// The campaign's step at this index.
    Step {
        index: usize,
    },
    CardUpdate,
    Operator {
        who: String,
    },
    /// On the day the customer promised to pay (their `n`-th promise).
    Promise {
        n: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptState {
    Planned,
    Succeeded,
    Declined,
    /// Sent, answer unknown: no new attempt until the invoice is re-read and the outcome reported.
    Uncertain,
    /// Never sent (the job found a network limit or the case changed); does not use up a step.
    NotAttempted,
    Canceled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// `{case id}/attempt/{ordinal}`: the processor's Idempotency-Key, never reused for another attempt.
    pub id: String,
    pub ordinal: u32,
    pub trigger: AttemptTrigger,
    pub at: DateTime<Utc>,
    pub state: AttemptState,
    pub executed_at: Option<DateTime<Utc>>,
}

/// Scheduled things other than attempts. `PromiseExpired(n)` is the n-th promise's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Timer {
    /// The campaign step at this index (email, SMS or task).
    Step(usize),
    /// The campaign's end: run the end action.
    End,
    PromiseExpired(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    Pending,
    /// Its time came while it was pending: the job layer ran it.
    Done,
    Canceled,
    /// Overdue when planned, and a later step of the same channel superseded it.
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedStep {
    pub id: String,
    pub timer: Timer,
    pub at: DateTime<Utc>,
    pub state: StepState,
}

/// Who the normaliser thinks paid, when it can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PaidVia {
    #[default]
    Unknown,
    Customer,
    /// The processor's own automatic retry (observe mode, or retries left on).
    Processor,
    OurAttempt,
    Operator,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub at: DateTime<Utc>,
    pub attempt_id: Option<String>,
    pub via: PaidVia,
    /// See `EventKind::InvoicePaid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt_count: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndingKind {
    SubscriptionEnded,
    InvoiceVoided,
    InvoiceUncollectible,
    CampaignExhausted,
    OperatorCanceled,
    OperatorWrittenOff,
}

impl EndingKind {
    /// Breaks ties between endings at the same instant, so the outcome does not depend on order.
    pub fn rank(self) -> u8 {
        self as u8
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ending {
    pub at: DateTime<Utc>,
    pub kind: EndingKind,
    pub detail: String,
}

/// One input. `id` deduplicates (webhook event id, `{attempt id}/outcome`, `{step id}/fired`, an API
/// request id); `occurred_at` is when it happened at the source, not when it reached us.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseEvent {
    pub id: String,
    pub occurred_at: DateTime<Utc>,
    #[serde(flatten)]
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    PaymentFailed {
        decline: DeclineInfo,
        attempt_count: u32,
        card: Option<CardRef>,
        /// The processor's own next retry, if it still plans one (a warning in manage mode).
        processor_next_attempt: Option<DateTime<Utc>>,
    },
    InvoicePaid {
        /// Set when the payment is known to be one of our attempts.
        attempt_id: Option<String>,
        via: PaidVia,
        /// The processor's attempt counter on the paid invoice, when the event carries it: beyond
        /// every failure's, the processor's own automatic retry collected it.
        #[serde(default)]
        attempt_count: Option<u32>,
    },
    InvoiceVoided,
    InvoiceUncollectible,
    SubscriptionEnded,
    PaymentMethodUpdated {
        card: Option<CardRef>,
    },
    /// The customer saved a new card on our card-update page and is waiting there for the result:
    /// the retry runs at once rather than after the campaign's card-update delay.
    CustomerUpdatedCard {
        card: Option<CardRef>,
    },
    AttemptOutcome {
        attempt_id: String,
        result: AttemptResult,
    },
    TimerFired {
        timer: Timer,
    },
    Operator {
        who: String,
        action: OperatorAction,
    },
    PromiseToPay {
        until: DateTime<Utc>,
    },
    /// A message to the customer went out, or could not: recorded on the timeline, nothing else.
    Message {
        step_id: String,
        detail: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum AttemptResult {
    Succeeded,
    Declined {
        decline: DeclineInfo,
    },
    Uncertain,
    NotAttempted {
        reason: String,
        not_before: Option<DateTime<Utc>>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperatorAction {
    Pause,
    Resume,
    Cancel,
    RetryNow,
    MarkRecovered,
    WriteOff,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    Opened,
    PaymentFailed,
    Paid,
    CardUpdated,
    RetryPlanned,
    RetryCanceled,
    NoRetry,
    AttemptOutcome,
    StepPlanned,
    StepSkipped,
    Hold,
    Operator,
    Ending,
    Closed,
    OutcomeRevised,
    Warning,
    Ignored,
    Message,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    pub kind: TimelineKind,
    pub detail: String,
}

/// What the caller must do, in order, in the same transaction as saving the case.
/// Every `Schedule*` is an upsert by id: it (re)sets the time of a row that has not run yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    ScheduleRetry {
        attempt_id: String,
        ordinal: u32,
        at: DateTime<Utc>,
        trigger: AttemptTrigger,
        reasons: Vec<String>,
    },
    CancelRetry {
        attempt_id: String,
        reason: String,
    },
    ScheduleEmail {
        step_id: String,
        level: u8,
        at: DateTime<Utc>,
    },
    ScheduleSms {
        step_id: String,
        at: DateTime<Utc>,
    },
    ScheduleTask {
        step_id: String,
        note: String,
        at: DateTime<Utc>,
    },
    /// A message about what just happened (not a campaign step), sent at `at` unless the case has
    /// moved on by then.
    ScheduleNotice {
        step_id: String,
        notice: Notice,
        at: DateTime<Utc>,
    },
    /// Feed back `TimerFired { timer }` at `at` (event id `{step_id}/fired`).
    ScheduleTimer {
        step_id: String,
        timer: Timer,
        at: DateTime<Utc>,
    },
    /// Cancel every pending retry, email, SMS, task and timer of this case, except the ids in `keep`.
    CancelPendingSteps {
        reason: String,
        keep: Vec<String>,
    },
    /// Emitted at most once per case.
    ExecuteEndAction {
        action: EndAction,
    },
    /// The case's outcome; emitted again if later evidence revises it.
    Close {
        status: Status,
        recovered_by: Option<RecoveredBy>,
        closed_at: DateTime<Utc>,
    },
    Record(TimelineEntry),
}
