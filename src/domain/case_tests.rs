//! Scenario tests of the case state machine, one behaviour each.

use chrono::{Duration, TimeZone, Timelike};

use super::*;
use crate::domain::campaign::default_campaign;
use crate::domain::decline::DeclineInfo;
use crate::domain::money::Currency;

pub(super) fn t0() -> DateTime<Utc> {
    // Monday 2 March 2026, 10:00 UTC (11:00 in Paris).
    Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap()
}

pub(super) fn new_case(mode: Mode) -> Case {
    Case::new(NewCase {
        id: "c1".into(),
        invoice_id: "in_1".into(),
        customer_id: "cus_1".into(),
        subscription_id: Some("sub_1".into()),
        amount: Money::new(4900, Currency::new("eur").unwrap()),
        time_zone: Some("Europe/Paris".into()),
        mode,
        campaign: CampaignRef {
            id: "default".into(),
            version: 1,
        },
        card: Some(CardRef {
            fingerprint: Some("fp_1".into()),
            network: CardNetwork::Visa,
        }),
    })
}

pub(super) fn ev(id: &str, at: DateTime<Utc>, kind: EventKind) -> CaseEvent {
    CaseEvent {
        id: id.into(),
        occurred_at: at,
        kind,
    }
}

pub(super) fn declined(code: &str) -> DeclineInfo {
    DeclineInfo {
        code: Some("card_declined".into()),
        decline_code: Some(code.into()),
        ..Default::default()
    }
}

pub(super) fn failed(id: &str, at: DateTime<Utc>, code: &str, count: u32) -> CaseEvent {
    ev(
        id,
        at,
        EventKind::PaymentFailed {
            decline: declined(code),
            attempt_count: count,
            card: None,
            processor_next_attempt: None,
        },
    )
}

pub(super) fn outcome(attempt: &str, at: DateTime<Utc>, result: AttemptResult) -> CaseEvent {
    ev(
        &format!("{attempt}/outcome"),
        at,
        EventKind::AttemptOutcome {
            attempt_id: attempt.into(),
            result,
        },
    )
}

pub(super) fn op(id: &str, at: DateTime<Utc>, action: OperatorAction) -> CaseEvent {
    ev(
        id,
        at,
        EventKind::Operator {
            who: "ana@acme".into(),
            action,
        },
    )
}

/// Applies each event at its own time and returns every command.
pub(super) fn run(case: Case, events: &[CaseEvent]) -> (Case, Vec<Command>) {
    let campaign = default_campaign();
    let mut all = Vec::new();
    let mut c = case;
    for e in events {
        let (next, cmds) = apply(&c, e, &campaign, e.occurred_at);
        c = next;
        all.extend(cmds);
    }
    (c, all)
}

pub(super) fn retries(cmds: &[Command]) -> Vec<(String, DateTime<Utc>, AttemptTrigger)> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::ScheduleRetry {
                attempt_id,
                at,
                trigger,
                ..
            } => Some((attempt_id.clone(), *at, trigger.clone())),
            _ => None,
        })
        .collect()
}

pub(super) fn count(cmds: &[Command], pred: impl Fn(&Command) -> bool) -> usize {
    cmds.iter().filter(|c| pred(c)).count()
}

#[test]
fn soft_failure_opens_and_plans_steps_and_first_retry() {
    let (c, cmds) = run(
        new_case(Mode::Manage),
        &[failed("evt_1", t0(), "do_not_honor", 1)],
    );
    assert_eq!(
        c.status,
        Status::Open {
            sub_state: SubState::Retrying
        }
    );
    assert_eq!(c.opened_at, Some(t0()));
    assert_eq!(
        count(&cmds, |c| matches!(c, Command::ScheduleEmail { .. })),
        4
    );
    assert_eq!(
        count(&cmds, |c| matches!(
            c,
            Command::ScheduleTimer {
                timer: Timer::End,
                ..
            }
        )),
        1
    );
    let r = retries(&cmds);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].0, "c1/attempt/1");
    assert_eq!(r[0].2, AttemptTrigger::Step { index: 1 });
    let local = r[0].1.with_timezone(&chrono_tz::Europe::Paris);
    assert_eq!(local.date_naive(), (t0() + Duration::days(1)).date_naive());
    assert!((9..17).contains(&local.hour()));
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Command::Record(e) if e.kind == TimelineKind::Opened))
    );
    let first_email = cmds.iter().find_map(|c| match c {
        Command::ScheduleEmail {
            step_id,
            level: 1,
            at,
        } => Some((step_id.clone(), *at)),
        _ => None,
    });
    assert_eq!(first_email, Some(("c1/step/0".into(), t0())));
}

#[test]
fn decline_then_success_recovers_by_our_retry_and_cancels_the_rest() {
    let (c, cmds) = run(
        new_case(Mode::Manage),
        &[failed("evt_1", t0(), "do_not_honor", 1)],
    );
    let at1 = retries(&cmds)[0].1;
    let (c, cmds) = run(
        c,
        &[outcome(
            "c1/attempt/1",
            at1,
            AttemptResult::Declined {
                decline: declined("do_not_honor"),
            },
        )],
    );
    let r = retries(&cmds);
    assert_eq!(
        (r[0].0.as_str(), r[0].2.clone()),
        ("c1/attempt/2", AttemptTrigger::Step { index: 2 })
    );
    assert!(r[0].1 >= at1 + Duration::hours(20));
    let (c, cmds) = run(
        c,
        &[outcome("c1/attempt/2", r[0].1, AttemptResult::Succeeded)],
    );
    assert_eq!(
        (c.status.clone(), c.recovered_by),
        (Status::Recovered, Some(RecoveredBy::OurRetry))
    );
    assert_eq!(c.closed_at, Some(r[0].1));
    assert_eq!(
        count(&cmds, |c| matches!(c, Command::CancelPendingSteps { .. })),
        1
    );
    assert_eq!(
        count(&cmds, |c| matches!(
            c,
            Command::Close {
                status: Status::Recovered,
                ..
            }
        )),
        1
    );
    assert_eq!(
        count(&cmds, |c| matches!(c, Command::ExecuteEndAction { .. })),
        0
    );
    // Stripe's invoice.paid for the same charge changes nothing.
    let paid = ev(
        "evt_paid",
        r[0].1,
        EventKind::InvoicePaid {
            attempt_id: None,
            via: PaidVia::Unknown,
            attempt_count: None,
        },
    );
    let (after, cmds) = run(c.clone(), &[paid]);
    assert_eq!(after.recovered_by, Some(RecoveredBy::OurRetry));
    assert_eq!(count(&cmds, |c| matches!(c, Command::Close { .. })), 0);
}

#[test]
fn hard_decline_waits_for_card_then_retries_within_minutes() {
    let (c, cmds) = run(
        new_case(Mode::Manage),
        &[failed("evt_1", t0(), "expired_card", 1)],
    );
    assert_eq!(
        c.status,
        Status::Open {
            sub_state: SubState::AwaitingCardUpdate
        }
    );
    assert!(retries(&cmds).is_empty());
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Command::Record(e) if e.kind == TimelineKind::NoRetry))
    );
    let upd = t0() + Duration::hours(30);
    let card = Some(CardRef {
        fingerprint: Some("fp_2".into()),
        network: CardNetwork::Mastercard,
    });
    let (c, cmds) = run(
        c,
        &[ev("evt_pm", upd, EventKind::PaymentMethodUpdated { card })],
    );
    assert_eq!(
        c.status,
        Status::Open {
            sub_state: SubState::Retrying
        }
    );
    let r = retries(&cmds);
    assert_eq!(
        r,
        vec![(
            "c1/attempt/1".into(),
            upd + Duration::minutes(5),
            AttemptTrigger::CardUpdate
        )]
    );
    let (c, _) = run(
        c,
        &[outcome("c1/attempt/1", r[0].1, AttemptResult::Succeeded)],
    );
    assert_eq!(c.recovered_by, Some(RecoveredBy::CardUpdate));
}

#[test]
fn card_update_moves_a_planned_retry_forward_keeping_its_id() {
    let (c, cmds) = run(
        new_case(Mode::Manage),
        &[failed("evt_1", t0(), "insufficient_funds", 1)],
    );
    assert!(retries(&cmds)[0].1 > t0() + Duration::days(10), "payday");
    let upd = t0() + Duration::hours(3);
    let (c, cmds) = run(
        c,
        &[ev(
            "evt_pm",
            upd,
            EventKind::PaymentMethodUpdated { card: None },
        )],
    );
    assert_eq!(
        retries(&cmds),
        vec![(
            "c1/attempt/1".into(),
            upd + Duration::minutes(5),
            AttemptTrigger::CardUpdate
        )]
    );
    assert_eq!(c.attempts.len(), 1);
}

#[test]
fn duplicates_change_nothing() {
    let e = failed("evt_1", t0(), "do_not_honor", 1);
    let (c, _) = run(new_case(Mode::Manage), std::slice::from_ref(&e));
    let (again, cmds) = apply(&c, &e, &default_campaign(), t0() + Duration::hours(1));
    assert_eq!(again, c);
    assert!(cmds.is_empty());
}

#[test]
fn paid_before_its_failure_ends_recovered_without_scheduling() {
    let paid = ev(
        "evt_paid",
        t0() + Duration::hours(2),
        EventKind::InvoicePaid {
            attempt_id: None,
            via: PaidVia::Customer,
            attempt_count: None,
        },
    );
    let (c, cmds) = run(new_case(Mode::Manage), &[paid]);
    assert_eq!(c.status, Status::Pending);
    assert!(!cmds.iter().any(|c| matches!(c, Command::Close { .. })));
    let (c, cmds) = run(c, &[failed("evt_1", t0(), "do_not_honor", 1)]);
    assert_eq!(
        (c.status.clone(), c.recovered_by),
        (Status::Recovered, Some(RecoveredBy::CustomerPaid))
    );
    assert!(retries(&cmds).is_empty());
    assert_eq!(count(&cmds, |c| matches!(c, Command::Close { .. })), 1);
    assert_eq!(
        count(&cmds, |c| matches!(c, Command::ScheduleEmail { .. })),
        0
    );
}

#[test]
fn old_failure_after_recovery_is_absorbed() {
    let events = [
        failed("evt_1", t0(), "do_not_honor", 1),
        ev(
            "evt_paid",
            t0() + Duration::days(2),
            EventKind::InvoicePaid {
                attempt_id: None,
                via: PaidVia::Processor,
                attempt_count: None,
            },
        ),
    ];
    let (c, _) = run(new_case(Mode::Manage), &events);
    let (after, cmds) = run(
        c,
        &[failed(
            "evt_0",
            t0() - Duration::days(1),
            "insufficient_funds",
            1,
        )],
    );
    assert_eq!(
        (after.status, after.recovered_by),
        (Status::Recovered, Some(RecoveredBy::ProcessorRetry))
    );
    assert!(retries(&cmds).is_empty());
}

#[test]
fn external_endings_close_with_the_right_status() {
    let cases = [
        (EventKind::InvoiceVoided, Status::Canceled),
        (EventKind::InvoiceUncollectible, Status::WrittenOff),
        (EventKind::SubscriptionEnded, Status::Churned),
    ];
    for (kind, status) in cases {
        let events = [
            failed("evt_1", t0(), "do_not_honor", 1),
            ev("evt_2", t0() + Duration::days(3), kind),
        ];
        let (c, cmds) = run(new_case(Mode::Manage), &events);
        assert_eq!(c.status, status);
        assert_eq!(
            count(&cmds, |c| matches!(c, Command::CancelPendingSteps { .. })),
            1
        );
        assert_eq!(
            count(&cmds, |c| matches!(c, Command::ExecuteEndAction { .. })),
            0
        );
    }
}

#[test]
fn counts_and_pending_steps_for_the_api() {
    let events = [
        failed("evt_1", t0(), "do_not_honor", 3),
        failed("evt_2", t0() + Duration::hours(1), "do_not_honor", 4),
    ];
    let (c, _) = run(new_case(Mode::Manage), &events);
    assert_eq!(c.failure_count(), 4);
    assert_eq!(
        c.pending_steps().count(),
        4,
        "emails 2–4 and the end; email 1 went at once"
    );
}

#[test]
fn a_paid_invoice_counting_more_attempts_than_any_failure_was_the_processors_retry() {
    let paid = |count: u32| {
        ev(
            &format!("evt_paid_{count}"),
            t0() + Duration::days(3),
            EventKind::InvoicePaid {
                attempt_id: None,
                via: PaidVia::Unknown,
                attempt_count: Some(count),
            },
        )
    };
    let failures = [
        failed("evt_1", t0(), "insufficient_funds", 1),
        failed("evt_2", t0() + Duration::days(1), "insufficient_funds", 2),
    ];
    let by = |events: &[CaseEvent]| run(new_case(Mode::Observe), events).0.recovered_by;
    // Stripe's third automatic try collected it, in either order of delivery.
    let mut events = failures.to_vec();
    events.push(paid(3));
    assert_eq!(by(&events), Some(RecoveredBy::ProcessorRetry));
    events.rotate_right(1);
    assert_eq!(by(&events), Some(RecoveredBy::ProcessorRetry));
    // The counter did not move: the customer (or someone through the API) paid.
    let mut events = failures.to_vec();
    events.push(paid(2));
    assert_eq!(by(&events), Some(RecoveredBy::CustomerPaid));
}

#[test]
fn a_newer_decline_that_reads_differently_moves_the_planned_retry() {
    let opened = [failed("evt_1", t0(), "do_not_honor", 1)];
    let (c, cmds) = run(new_case(Mode::Manage), &opened);
    let planned = retries(&cmds);
    assert_eq!(planned.len(), 1);
    let (id, first_at, _) = planned[0].clone();
    // The same decline again (Stripe's webhook echoing our own attempt, say) changes nothing.
    let (same, cmds) = run(
        c.clone(),
        &[failed(
            "evt_2",
            t0() + Duration::hours(1),
            "do_not_honor",
            1,
        )],
    );
    assert!(retries(&cmds).is_empty());
    assert_eq!(same.attempts[0].at, first_at);
    // Insufficient funds now: the same attempt (same key, never sent) moves, to a payday.
    let (c, cmds) = run(
        c,
        &[failed(
            "evt_3",
            t0() + Duration::hours(1),
            "insufficient_funds",
            2,
        )],
    );
    let moved = retries(&cmds);
    assert_eq!(moved.len(), 1, "{cmds:#?}");
    assert_eq!(moved[0].0, id);
    // Step 1 falls two days in; the next payday (mid-month) is later.
    assert!(moved[0].1 > first_at, "{first_at} -> {}", moved[0].1);
    assert!(
        moved[0].1 >= Utc.with_ymd_and_hms(2026, 3, 13, 0, 0, 0).unwrap(),
        "{}",
        moved[0].1
    );
    assert_eq!(c.attempts.len(), 1);
    assert_eq!(c.attempts[0].at, moved[0].1);
    // A decline that rules the card out cancels it.
    let (c, cmds) = run(
        c,
        &[failed("evt_4", t0() + Duration::hours(2), "stolen_card", 3)],
    );
    assert_eq!(c.attempts[0].state, AttemptState::Canceled);
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Command::CancelRetry { attempt_id, .. } if *attempt_id == id))
    );
}
