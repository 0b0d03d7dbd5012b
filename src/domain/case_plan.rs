//! What a case does after its facts changed: open, plan steps and retries, hold, close.
//! Split from `case.rs` so that the fact-keeping and the planning read separately.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use super::calendar::{in_daytime, resolve_zone, step_time};
use super::campaign::{Campaign, EndAction, Offset, StepAction};
use super::case::{Case, Out};
use super::case_facts::end;
use super::case_retry::{plan_next_retry, promise_retry, retry_now};
use super::case_types::*;

/// A timer may fire up to this much early (the queue stores whole seconds) and still count.
const TIMER_SLACK_SECS: i64 = 60;

pub(super) fn transition(
    c: &mut Case,
    before: (Status, Option<RecoveredBy>),
    e: &CaseEvent,
    campaign: &Campaign,
    new_decline: bool,
    out: &mut Out,
) {
    let (was, was_by) = before;
    let was_open = matches!(was, Status::Open { .. });
    if c.status.is_terminal() {
        if was_open {
            close_pending(c, out, "case closed");
        }
        let exhausted = c
            .endings
            .iter()
            .min_by_key(|e| (e.at, e.kind.rank()))
            .map(|e| e.kind)
            == Some(EndingKind::CampaignExhausted);
        if c.status == Status::Churned && exhausted && !c.end_action_executed && was_open {
            c.end_action_executed = true;
            out.note(
                TimelineKind::Closed,
                format!("campaign exhausted: end action {:?}", campaign.end_action),
            );
            out.commands.push(Command::ExecuteEndAction {
                action: campaign.end_action,
            });
        }
        // A late event can revise a closed outcome (a payment older than the ending): say so again.
        if was != c.status || was_by != c.recovered_by {
            let kind = if was.is_terminal() {
                TimelineKind::OutcomeRevised
            } else {
                TimelineKind::Closed
            };
            let mut detail = format!("{:?} (recovered by {:?})", c.status, c.recovered_by);
            if was.is_terminal() && c.end_action_executed && c.status == Status::Recovered {
                detail.push_str("; the end action had already been executed");
            }
            out.note(kind, detail);
            out.commands.push(Command::Close {
                status: c.status.clone(),
                recovered_by: c.recovered_by,
                closed_at: c.closed_at.unwrap_or(out.now),
            });
            closing_notice(c, was_open, campaign, out);
        }
        return;
    }
    // A pending case waits for its failure before planning anything.
    if !c.is_open() {
        return;
    }
    let (tz, tz_note) = resolve_zone(c.time_zone.as_deref());
    if !was_open {
        let reason = tz_note.map(|n| format!("; {n}")).unwrap_or_default();
        out.note(
            TimelineKind::Opened,
            format!(
                "case opened with campaign {} v{}{reason}",
                campaign.id, campaign.version
            ),
        );
    }
    if c.on_hold() {
        if c.hold_since.is_none() {
            c.hold_since = Some(out.now);
        }
        close_pending(c, out, "case on hold");
        if c.paused_by.is_none() {
            promise_retry(c, campaign, tz, out);
        }
        return;
    }
    if let EventKind::Operator {
        who,
        action: OperatorAction::RetryNow,
    } = &e.kind
    {
        retry_now(c, who, campaign, tz, out);
    }
    // Retries first: a message planned at the time of a retry waits for its answer.
    plan_next_retry(c, campaign, tz, new_decline, out);
    reconcile_steps(c, campaign, tz, out);
    card_updated_notice(c, e, out);
}

/// How long a thank-you for a new card waits. A retry that succeeds first (the card-update page
/// retries at once) sends the receipt alone; one that fails first makes the thank-you moot.
pub const CARD_UPDATED_NOTICE_DELAY_MINUTES: i64 = 2;

/// A receipt when the case becomes recovered (also when a late payment revises a churn), and the
/// news when the subscription ended: once per case each, by their fixed step ids.
fn closing_notice(c: &Case, was_open: bool, campaign: &Campaign, out: &mut Out) {
    let ending = c
        .endings
        .iter()
        .min_by_key(|e| (e.at, e.kind.rank()))
        .map(|e| e.kind);
    let cancels = matches!(
        campaign.end_action,
        EndAction::CancelNow | EndAction::CancelAtPeriodEnd
    );
    let notice = match (&c.status, ending) {
        (Status::Recovered, _) => Notice::PaymentReceived,
        (Status::Churned, Some(EndingKind::SubscriptionEnded)) if was_open => {
            Notice::SubscriptionCancelled
        }
        (Status::Churned, Some(EndingKind::CampaignExhausted)) if was_open && cancels => {
            Notice::SubscriptionCancelled
        }
        _ => return,
    };
    out.commands.push(Command::ScheduleNotice {
        step_id: format!("{}/notice/{}", c.id, notice.as_str()),
        notice,
        at: out.now,
    });
}

/// A thank-you for a card this event brought, sent a little later unless the case moved on.
fn card_updated_notice(c: &Case, e: &CaseEvent, out: &mut Out) {
    let updated = matches!(
        e.kind,
        EventKind::PaymentMethodUpdated { .. } | EventKind::CustomerUpdatedCard { .. }
    );
    if !updated || c.card_updated_at != Some(e.occurred_at) || !c.card_changed() {
        return;
    }
    out.commands.push(Command::ScheduleNotice {
        step_id: format!("{}/notice/card_updated/{}", c.id, e.occurred_at.timestamp()),
        notice: Notice::CardUpdated,
        at: out.now + Duration::minutes(CARD_UPDATED_NOTICE_DELAY_MINUTES),
    });
}

/// Cancels what is pending; steps already due count as done (their jobs ran).
fn close_pending(c: &mut Case, out: &mut Out, reason: &str) {
    let now = out.now;
    let mut any = false;
    // A promise's own timer survives the hold it created; it is stale once the case closes.
    let keep_promise = c.is_open();
    let mut keep = Vec::new();
    for s in c.steps.iter_mut().filter(|s| s.state == StepState::Pending) {
        if keep_promise && matches!(s.timer, Timer::PromiseExpired(_)) {
            keep.push(s.id.clone());
            continue;
        }
        s.state = if s.at <= now && matches!(s.timer, Timer::Step(_)) {
            StepState::Done
        } else {
            StepState::Canceled
        };
        any |= s.state == StepState::Canceled;
    }
    for a in c
        .attempts
        .iter_mut()
        .filter(|a| a.state == AttemptState::Planned)
    {
        // The retry on a promised day is what the promise holds the campaign for.
        if keep_promise
            && c.paused_by.is_none()
            && matches!(a.trigger, AttemptTrigger::Promise { .. })
        {
            keep.push(a.id.clone());
            continue;
        }
        a.state = AttemptState::Canceled;
        any = true;
    }
    if any {
        out.commands.push(Command::CancelPendingSteps {
            reason: reason.into(),
            keep,
        });
    }
}

pub(super) fn held(c: &Case) -> Duration {
    Duration::seconds(c.held_secs)
}

pub(super) fn deadline(c: &Case, campaign: &Campaign, tz: Tz) -> DateTime<Utc> {
    let first = c.opened_at.expect("open cases have a failure");
    step_time(
        first,
        tz,
        campaign.grace_period_hours,
        Offset::days(campaign.max_duration_days),
        held(c),
    )
}

/// Brings the planned emails, SMS, tasks and the end timer in line with the campaign and the hold time.
fn reconcile_steps(c: &mut Case, campaign: &Campaign, tz: Tz, out: &mut Out) {
    let now = out.now;
    let first = c.opened_at.expect("open cases have a failure");
    let mut wanted: Vec<(Timer, DateTime<Utc>)> = campaign
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.action != StepAction::Retry)
        .map(|(i, s)| {
            let at = step_time(first, tz, campaign.grace_period_hours, s.offset, held(c));
            // A message is planned for the customer's daytime, not for the hour of the failure.
            let at = match s.action {
                StepAction::Email { .. } | StepAction::Sms => after_retries(c, in_daytime(at, tz)),
                _ => at,
            };
            (Timer::Step(i), at)
        })
        .collect();
    wanted.push((Timer::End, deadline(c, campaign, tz)));
    // Step ids are stable per step index, so re-planning is an upsert and never a second email.
    for (idx, &(timer, mut at)) in wanted.iter().enumerate() {
        let existing = c.steps.iter_mut().find(|s| s.timer == timer);
        if let Some(s) = existing {
            if s.state == StepState::Pending && s.at <= now {
                // A due message was sent by its job; a due timer is still on its way back to us.
                if !matches!(timer, Timer::Step(_)) {
                    continue;
                }
                s.state = StepState::Done;
            }
            if matches!(s.state, StepState::Done | StepState::Skipped)
                || (s.state == StepState::Pending && s.at == at)
            {
                continue;
            }
        }
        if at < now {
            // Overdue (late events or a hold): a later overdue message of the same channel replaces it.
            let channel = channel(campaign, timer);
            let superseded = channel.is_some()
                && wanted[idx + 1..]
                    .iter()
                    .any(|&(t, when)| when <= now && self::channel(campaign, t) == channel);
            if superseded {
                let id = c.step_id(timer);
                set_step(c, id, timer, at, StepState::Skipped);
                out.note(
                    TimelineKind::StepSkipped,
                    format!("{timer:?} skipped: overdue and superseded by a later step"),
                );
                continue;
            }
            at = now;
        }
        let id = c.step_id(timer);
        set_step(c, id.clone(), timer, at, StepState::Pending);
        out.commands.push(schedule_command(campaign, timer, id, at));
    }
}

/// How long a message waits after a retry planned at (or just before) its time.
const MESSAGE_AFTER_RETRY: Duration = Duration::hours(1);

/// A message due when a retry is (or was) planned goes an hour after it: a reminder must not cross
/// the charge, reaching the customer as their card is charged or just after it was paid. Executed
/// attempts count too, so the time stays put once the retry has run.
fn after_retries(c: &Case, at: DateTime<Utc>) -> DateTime<Utc> {
    c.attempts
        .iter()
        .filter(|a| !matches!(a.state, AttemptState::Canceled | AttemptState::NotAttempted))
        .map(|a| a.at)
        .filter(|&r| r <= at && at < r + MESSAGE_AFTER_RETRY)
        .max()
        .map_or(at, |r| r + MESSAGE_AFTER_RETRY)
}

fn channel(campaign: &Campaign, t: Timer) -> Option<&'static str> {
    match t {
        Timer::Step(i) => match campaign.steps.get(i).map(|s| &s.action) {
            Some(StepAction::Email { .. }) => Some("email"),
            Some(StepAction::Sms) => Some("sms"),
            _ => None,
        },
        _ => None,
    }
}

fn set_step(c: &mut Case, id: String, timer: Timer, at: DateTime<Utc>, state: StepState) {
    match c.steps.iter_mut().find(|s| s.timer == timer) {
        Some(s) => (s.at, s.state) = (at, state),
        None => c.steps.push(PlannedStep {
            id,
            timer,
            at,
            state,
        }),
    }
}

fn schedule_command(
    campaign: &Campaign,
    timer: Timer,
    step_id: String,
    at: DateTime<Utc>,
) -> Command {
    let action = match timer {
        Timer::Step(i) => campaign.steps.get(i).map(|s| s.action.clone()),
        _ => None,
    };
    match action {
        Some(StepAction::Email { level }) => Command::ScheduleEmail { step_id, level, at },
        Some(StepAction::Sms) => Command::ScheduleSms { step_id, at },
        Some(StepAction::Task { note }) => Command::ScheduleTask { step_id, note, at },
        _ => Command::ScheduleTimer { step_id, timer, at },
    }
}

pub(super) fn timer_fired(c: &mut Case, timer: Timer, campaign: &Campaign, out: &mut Out) {
    let planned = c.steps.iter().find(|s| s.timer == timer).cloned();
    let due = planned.as_ref().is_some_and(|s| {
        s.state == StepState::Pending && s.at <= out.now + Duration::seconds(TIMER_SLACK_SECS)
    });
    if !c.is_open() || !due {
        out.note(
            TimelineKind::Ignored,
            format!("timer {timer:?} ignored: stale or case not open"),
        );
        return;
    }
    let s = planned.expect("due");
    if let Some(p) = c.steps.iter_mut().find(|p| p.timer == timer) {
        p.state = StepState::Done;
    }
    // The end's planned time, not the firing time, is when the case ended: replays agree on it.
    match timer {
        Timer::End => end(
            c,
            out,
            s.at,
            EndingKind::CampaignExhausted,
            format!("campaign {} v{} ended", campaign.id, campaign.version),
        ),
        Timer::PromiseExpired(_) => {
            c.promised_until = None;
            leave_hold(c, out.now);
            out.note(
                TimelineKind::Hold,
                "promise to pay expired unpaid: the campaign resumes",
            );
        }
        Timer::Step(_) => {}
    }
}

fn leave_hold(c: &mut Case, now: DateTime<Utc>) {
    if !c.on_hold()
        && let Some(since) = c.hold_since.take()
    {
        c.held_secs += (now - since).num_seconds().max(0);
    }
}

pub(super) fn operator(
    c: &mut Case,
    who: &str,
    action: OperatorAction,
    at: DateTime<Utc>,
    out: &mut Out,
) {
    // Operator endings are facts at the request's time, so they order with webhooks like any other.
    let open = c.is_open();
    let note =
        |out: &mut Out, what: &str| out.note(TimelineKind::Operator, format!("{what} by {who}"));
    match action {
        OperatorAction::Pause if open && c.paused_by.is_none() => {
            c.paused_by = Some(who.into());
            note(out, "paused");
        }
        OperatorAction::Resume if c.paused_by.is_some() => {
            c.paused_by = None;
            c.promised_until = None;
            // Resuming ends any promise too; its timer would only fire stale.
            for s in c
                .steps
                .iter_mut()
                .filter(|s| matches!(s.timer, Timer::PromiseExpired(_)))
            {
                if s.state == StepState::Pending {
                    s.state = StepState::Canceled;
                }
            }
            leave_hold(c, out.now);
            note(out, "resumed");
        }
        OperatorAction::Cancel if open => end(
            c,
            out,
            at,
            EndingKind::OperatorCanceled,
            format!("case canceled by {who}"),
        ),
        OperatorAction::WriteOff if open => end(
            c,
            out,
            at,
            EndingKind::OperatorWrittenOff,
            format!("written off by {who}"),
        ),
        OperatorAction::MarkRecovered if open => {
            note(out, "marked recovered");
            c.payments.push(Payment {
                at,
                attempt_id: None,
                via: PaidVia::Operator,
                attempt_count: None,
            });
        }
        OperatorAction::RetryNow if open => {} // planned in `transition`, once the facts are settled
        _ => note(out, &format!("{action:?} ignored (case is {:?})", c.status)),
    }
}

pub(super) fn promise(c: &mut Case, until: DateTime<Utc>, out: &mut Out) {
    if !c.is_open() || until <= out.now {
        out.note(
            TimelineKind::Ignored,
            format!("promise to pay by {until} ignored: case not open or date past"),
        );
        return;
    }
    // A new promise replaces the old one; the old timer then fires stale.
    for s in c.steps.iter_mut() {
        if matches!(s.timer, Timer::PromiseExpired(_)) && s.state == StepState::Pending {
            s.state = StepState::Canceled;
        }
    }
    c.promises += 1;
    c.promised_until = Some(until);
    let timer = Timer::PromiseExpired(c.promises);
    let id = c.step_id(timer);
    out.note(
        TimelineKind::Hold,
        format!("customer promised to pay by {until}: steps wait until then"),
    );
    c.steps.push(PlannedStep {
        id: id.clone(),
        timer,
        at: until,
        state: StepState::Pending,
    });
    out.commands.push(Command::ScheduleTimer {
        step_id: id,
        timer,
        at: until,
    });
}
