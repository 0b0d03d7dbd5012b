//! Scenario tests of holds, operator actions, modes and uncertain or skipped attempts.

use chrono::Duration;

use super::tests::{count, declined, ev, failed, new_case, op, outcome, retries, run, t0};
use super::*;

#[test]
fn operator_actions_are_recorded_with_who() {
    let (c, _) = run(
        new_case(Mode::Manage),
        &[failed("evt_1", t0(), "do_not_honor", 1)],
    );
    let (c2, cmds) = run(
        c.clone(),
        &[op(
            "req_r",
            t0() + Duration::hours(1),
            OperatorAction::RetryNow,
        )],
    );
    let r = retries(&cmds);
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].1, r[0].2.clone()),
        (
            t0() + Duration::hours(1),
            AttemptTrigger::Operator {
                who: "ana@acme".into()
            }
        )
    );
    assert_eq!(
        c2.attempts.len(),
        1,
        "the planned attempt was moved, not doubled"
    );
    let (w, cmds) = run(
        c.clone(),
        &[op(
            "req_w",
            t0() + Duration::hours(2),
            OperatorAction::WriteOff,
        )],
    );
    assert_eq!(w.status, Status::WrittenOff);
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Command::Record(e) if e.detail.contains("ana@acme")))
    );
    let (x, _) = run(
        c.clone(),
        &[op(
            "req_c",
            t0() + Duration::hours(2),
            OperatorAction::Cancel,
        )],
    );
    assert_eq!(x.status, Status::Canceled);
    let (m, _) = run(
        c,
        &[op(
            "req_m",
            t0() + Duration::hours(2),
            OperatorAction::MarkRecovered,
        )],
    );
    assert_eq!(m.recovered_by, Some(RecoveredBy::Operator));
    let (h, _) = run(
        new_case(Mode::Manage),
        &[failed("evt_1", t0(), "lost_card", 1)],
    );
    let (h, cmds) = run(
        h,
        &[op(
            "req_r",
            t0() + Duration::hours(1),
            OperatorAction::RetryNow,
        )],
    );
    assert!(retries(&cmds).is_empty(), "never on a hard decline");
    assert!(h.attempts.is_empty());
}

#[test]
fn observe_mode_never_retries_and_credits_the_processor() {
    let (c, cmds) = run(
        new_case(Mode::Observe),
        &[failed("evt_1", t0(), "do_not_honor", 1)],
    );
    assert!(retries(&cmds).is_empty());
    assert_eq!(
        count(&cmds, |c| matches!(c, Command::ScheduleEmail { .. })),
        4
    );
    let paid = ev(
        "evt_paid",
        t0() + Duration::days(3),
        EventKind::InvoicePaid {
            attempt_id: None,
            via: PaidVia::Processor,
            attempt_count: None,
        },
    );
    let (c, _) = run(c, &[paid]);
    assert_eq!(c.recovered_by, Some(RecoveredBy::ProcessorRetry));
}

#[test]
fn manage_mode_warns_when_the_processor_still_retries() {
    let e = ev(
        "evt_1",
        t0(),
        EventKind::PaymentFailed {
            decline: declined("do_not_honor"),
            attempt_count: 1,
            card: None,
            processor_next_attempt: Some(t0() + Duration::days(3)),
        },
    );
    let (_, cmds) = run(new_case(Mode::Manage), &[e]);
    assert_eq!(
        count(
            &cmds,
            |c| matches!(c, Command::Record(e) if e.kind == TimelineKind::Warning)
        ),
        1
    );
}

#[test]
fn a_later_hard_failure_cancels_a_planned_retry() {
    let events = [
        failed("evt_1", t0(), "do_not_honor", 1),
        failed("evt_2", t0() + Duration::hours(2), "stolen_card", 2),
    ];
    let (c, cmds) = run(new_case(Mode::Manage), &events);
    assert_eq!(
        c.status,
        Status::Open {
            sub_state: SubState::AwaitingCardUpdate
        }
    );
    assert_eq!(
        count(&cmds, |c| matches!(c, Command::CancelRetry { .. })),
        1
    );
}

#[test]
fn uncertain_outcome_blocks_new_attempts_until_resolved() {
    let (c, cmds) = run(
        new_case(Mode::Manage),
        &[failed("evt_1", t0(), "do_not_honor", 1)],
    );
    let at = retries(&cmds)[0].1;
    let (c, cmds) = run(c, &[outcome("c1/attempt/1", at, AttemptResult::Uncertain)]);
    assert!(retries(&cmds).is_empty());
    let resolved = ev(
        "c1/attempt/1/resolved",
        at + Duration::minutes(2),
        EventKind::AttemptOutcome {
            attempt_id: "c1/attempt/1".into(),
            result: AttemptResult::Declined {
                decline: declined("do_not_honor"),
            },
        },
    );
    let (_, cmds) = run(c, &[resolved]);
    assert_eq!(retries(&cmds)[0].0, "c1/attempt/2");
}

#[test]
fn not_attempted_replans_the_same_step_later() {
    let (c, cmds) = run(
        new_case(Mode::Manage),
        &[failed("evt_1", t0(), "do_not_honor", 1)],
    );
    let at = retries(&cmds)[0].1;
    let not_before = at + Duration::days(2);
    let result = AttemptResult::NotAttempted {
        reason: "card-network limit".into(),
        not_before: Some(not_before),
    };
    let (c, cmds) = run(c, &[outcome("c1/attempt/1", at, result)]);
    let r = retries(&cmds);
    assert_eq!(
        (r[0].0.as_str(), r[0].2.clone()),
        ("c1/attempt/2", AttemptTrigger::Step { index: 1 })
    );
    assert!(r[0].1 >= not_before);
    assert_eq!(c.attempts[0].state, AttemptState::NotAttempted);
}

#[test]
fn case_and_commands_round_trip_json() {
    let (c, cmds) = run(
        new_case(Mode::Manage),
        &[failed("evt_1", t0(), "insufficient_funds", 1)],
    );
    let back: Case = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
    assert_eq!(back, c);
    let json = serde_json::to_value(&cmds).unwrap();
    let back: Vec<Command> = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back, cmds);
    assert_eq!(
        serde_json::to_value(&c.status).unwrap(),
        serde_json::json!({"status": "open", "sub_state": "retrying"})
    );
    let e: CaseEvent = serde_json::from_value(serde_json::json!({
        "id": "evt_9", "occurred_at": "2026-03-02T10:00:00Z", "type": "attempt_outcome",
        "attempt_id": "c1/attempt/1", "result": {"result": "declined", "decline": {"decline_code": "do_not_honor"}}
    }))
    .unwrap();
    assert!(matches!(e.kind, EventKind::AttemptOutcome { .. }));
}

#[test]
fn refused_attempt_without_a_hint_backs_off_an_hour() {
    let (c, cmds) = run(
        new_case(Mode::Manage),
        &[failed("evt_1", t0(), "do_not_honor", 1)],
    );
    let at = retries(&cmds)[0].1;
    let result = AttemptResult::NotAttempted {
        reason: "refused".into(),
        not_before: None,
    };
    let (_, cmds) = run(c, &[outcome("c1/attempt/1", at, result)]);
    assert!(retries(&cmds)[0].1 >= at + Duration::hours(1));
}

#[test]
fn observe_mode_refuses_retry_now() {
    let (c, _) = run(
        new_case(Mode::Observe),
        &[failed("evt_1", t0(), "do_not_honor", 1)],
    );
    let (c, cmds) = run(
        c,
        &[op(
            "req_r",
            t0() + Duration::hours(1),
            OperatorAction::RetryNow,
        )],
    );
    assert!(retries(&cmds).is_empty());
    assert!(c.attempts.is_empty());
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Command::Record(e) if e.detail.contains("observe mode")))
    );
}
