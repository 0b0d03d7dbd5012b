//! Scenario tests of time: pauses, promises to pay, and the campaign's end timer.

use chrono::{DateTime, Duration, TimeZone, Timelike, Utc};

use super::tests::{count, ev, failed, new_case, op, outcome, retries, run, t0};
use super::*;
use crate::domain::campaign::EndAction;

#[test]
fn pause_and_resume_shift_the_plan() {
    let (c, cmds) = run(
        new_case(Mode::Manage),
        &[failed("evt_1", t0(), "do_not_honor", 1)],
    );
    let email2 = |cmds: &[Command]| {
        cmds.iter().find_map(|c| match c {
            Command::ScheduleEmail { level: 2, at, .. } => Some(*at),
            _ => None,
        })
    };
    let before = email2(&cmds).unwrap();
    let (c, cmds) = run(
        c,
        &[op(
            "req_1",
            t0() + Duration::hours(1),
            OperatorAction::Pause,
        )],
    );
    assert_eq!(
        c.status,
        Status::Open {
            sub_state: SubState::Paused
        }
    );
    assert_eq!(
        count(&cmds, |c| matches!(c, Command::CancelPendingSteps { .. })),
        1
    );
    assert!(c.attempts.iter().all(|a| a.state == AttemptState::Canceled));
    let (c, cmds) = run(
        c,
        &[op(
            "req_2",
            t0() + Duration::hours(49),
            OperatorAction::Resume,
        )],
    );
    assert_eq!(
        c.status,
        Status::Open {
            sub_state: SubState::Retrying
        }
    );
    assert_eq!(email2(&cmds), Some(before + Duration::hours(48)));
    let r = retries(&cmds);
    assert_eq!(
        r[0].0, "c1/attempt/2",
        "a canceled attempt's id is never reused"
    );
    assert_eq!(
        r[0].2,
        AttemptTrigger::Step { index: 1 },
        "the canceled step was not used up"
    );
}

#[test]
fn promise_to_pay_holds_then_resumes() {
    let (c, _) = run(
        new_case(Mode::Manage),
        &[failed("evt_1", t0(), "do_not_honor", 1)],
    );
    let until = t0() + Duration::days(5);
    let (c, cmds) = run(
        c,
        &[ev(
            "evt_p",
            t0() + Duration::hours(1),
            EventKind::PromiseToPay { until },
        )],
    );
    assert_eq!(
        c.status,
        Status::Open {
            sub_state: SubState::Promised
        }
    );
    let cancel = cmds.iter().find_map(|c| match c {
        Command::CancelPendingSteps { keep, .. } => Some(keep.clone()),
        _ => None,
    });
    assert_eq!(cancel, Some(vec!["c1/promise/1".to_owned()]));
    // The next retry moves to the promised day, outside the campaign's steps.
    let planned = retries(&cmds);
    assert_eq!(planned.len(), 1, "{cmds:?}");
    assert_eq!(planned[0].1, until);
    assert_eq!(planned[0].2, AttemptTrigger::Promise { n: 1 });
    let fired = ev(
        "c1/promise/1/fired",
        until,
        EventKind::TimerFired {
            timer: Timer::PromiseExpired(1),
        },
    );
    let (c, cmds) = run(c, &[fired]);
    assert_eq!(
        c.status,
        Status::Open {
            sub_state: SubState::Retrying
        }
    );
    // The promised day's retry stands; the expiry plans no second one.
    assert!(retries(&cmds).is_empty(), "{cmds:?}");
    let planned: Vec<_> = c
        .attempts
        .iter()
        .filter(|a| a.state == AttemptState::Planned)
        .collect();
    assert_eq!(planned.len(), 1);
    assert_eq!(planned[0].at, until);
}

#[test]
fn a_card_update_by_the_waiting_customer_is_retried_at_once() {
    let (c, _) = run(
        new_case(Mode::Manage),
        &[failed("evt_1", t0(), "expired_card", 1)],
    );
    let at = t0() + Duration::hours(3);
    let (c, cmds) = run(
        c,
        &[ev(
            "card-update/pm_1",
            at,
            EventKind::CustomerUpdatedCard { card: None },
        )],
    );
    assert!(c.customer_waiting);
    let r = retries(&cmds);
    assert_eq!(r.len(), 1, "{cmds:?}");
    assert_eq!(r[0].2, AttemptTrigger::CardUpdate);
    assert!(
        r[0].1 < at + Duration::minutes(1),
        "at once, not after the delay: {r:?}"
    );
    // The same update from a webhook afterwards keeps the retry where it is.
    let (_, cmds) = run(
        c,
        &[ev(
            "evt_pm",
            at + Duration::seconds(30),
            EventKind::PaymentMethodUpdated { card: None },
        )],
    );
    assert!(retries(&cmds).is_empty(), "{cmds:?}");
}

#[test]
fn resume_ends_a_promise_and_its_timer_fires_stale() {
    let (c, _) = run(
        new_case(Mode::Manage),
        &[failed("evt_1", t0(), "do_not_honor", 1)],
    );
    let until = t0() + Duration::days(5);
    let (c, _) = run(
        c,
        &[op(
            "req_p",
            t0() + Duration::hours(1),
            OperatorAction::Pause,
        )],
    );
    let (c, _) = run(
        c,
        &[ev(
            "evt_p",
            t0() + Duration::hours(2),
            EventKind::PromiseToPay { until },
        )],
    );
    let (c, cmds) = run(
        c,
        &[op(
            "req_r",
            t0() + Duration::hours(3),
            OperatorAction::Resume,
        )],
    );
    assert_eq!(
        c.status,
        Status::Open {
            sub_state: SubState::Retrying
        }
    );
    assert_eq!(c.held_secs, 2 * 3600);
    assert_eq!(retries(&cmds).len(), 1);
    let fired = ev(
        "c1/promise/1/fired",
        until,
        EventKind::TimerFired {
            timer: Timer::PromiseExpired(1),
        },
    );
    let (after, cmds) = run(c.clone(), &[fired]);
    assert_eq!(after.held_secs, c.held_secs);
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Command::Record(e) if e.kind == TimelineKind::Ignored))
    );
}

#[test]
fn a_second_promise_replaces_the_first() {
    let (c, _) = run(
        new_case(Mode::Manage),
        &[failed("evt_1", t0(), "do_not_honor", 1)],
    );
    let first = t0() + Duration::days(3);
    let second = t0() + Duration::days(6);
    let (c, _) = run(
        c,
        &[ev(
            "evt_p1",
            t0() + Duration::hours(1),
            EventKind::PromiseToPay { until: first },
        )],
    );
    let (c, _) = run(
        c,
        &[ev(
            "evt_p2",
            t0() + Duration::hours(2),
            EventKind::PromiseToPay { until: second },
        )],
    );
    let fired = ev(
        "c1/promise/1/fired",
        first,
        EventKind::TimerFired {
            timer: Timer::PromiseExpired(1),
        },
    );
    let (c, _) = run(c, &[fired]);
    assert_eq!(
        c.status,
        Status::Open {
            sub_state: SubState::Promised
        }
    );
    let fired = ev(
        "c1/promise/2/fired",
        second,
        EventKind::TimerFired {
            timer: Timer::PromiseExpired(2),
        },
    );
    let (c, _) = run(c, &[fired]);
    assert_eq!(
        c.status,
        Status::Open {
            sub_state: SubState::Retrying
        }
    );
}

#[test]
fn end_timer_runs_the_end_action_once_and_churns() {
    let (c, cmds) = run(
        new_case(Mode::Manage),
        &[failed("evt_1", t0(), "expired_card", 1)],
    );
    let end_at = cmds
        .iter()
        .find_map(|c| match c {
            Command::ScheduleTimer {
                timer: Timer::End,
                at,
                ..
            } => Some(*at),
            _ => None,
        })
        .unwrap();
    assert_eq!(end_at, t0() + Duration::days(21));
    let early = ev(
        "c1/end/fired-early",
        end_at - Duration::days(1),
        EventKind::TimerFired { timer: Timer::End },
    );
    let (c, cmds) = run(c, &[early]);
    assert!(c.is_open(), "a stale timer does nothing");
    assert_eq!(
        count(&cmds, |c| matches!(c, Command::ExecuteEndAction { .. })),
        0
    );
    let fire = |id: &str| ev(id, end_at, EventKind::TimerFired { timer: Timer::End });
    let (c, cmds) = run(c, &[fire("c1/end/fired"), fire("c1/end/fired-again")]);
    assert_eq!(c.status, Status::Churned);
    let actions: Vec<_> = cmds
        .iter()
        .filter(|c| matches!(c, Command::ExecuteEndAction { .. }))
        .collect();
    assert_eq!(
        actions,
        vec![&Command::ExecuteEndAction {
            action: EndAction::CancelNow
        }]
    );
    // The cancellation we caused comes back as a webhook: still churned, nothing more to do.
    let (c, cmds) = run(
        c,
        &[ev(
            "evt_del",
            end_at + Duration::minutes(1),
            EventKind::SubscriptionEnded,
        )],
    );
    assert_eq!(c.status, Status::Churned);
    assert!(
        !cmds
            .iter()
            .any(|c| matches!(c, Command::ExecuteEndAction { .. } | Command::Close { .. }))
    );
}

#[test]
fn an_event_at_the_very_end_does_not_swallow_the_end_timer() {
    // Found by the simulation: a card update at the deadline marked the end timer done.
    let (c, _) = run(
        new_case(Mode::Manage),
        &[failed("evt_1", t0(), "insufficient_funds", 1)],
    );
    let end_at = t0() + Duration::days(21);
    let (c, _) = run(
        c,
        &[ev(
            "evt_pm",
            end_at,
            EventKind::PaymentMethodUpdated { card: None },
        )],
    );
    let (c, cmds) = run(
        c,
        &[ev(
            "c1/end/fired",
            end_at,
            EventKind::TimerFired { timer: Timer::End },
        )],
    );
    assert_eq!(c.status, Status::Churned);
    assert_eq!(
        count(&cmds, |c| matches!(c, Command::ExecuteEndAction { .. })),
        1
    );
}

#[test]
fn emails_are_planned_for_the_customers_daytime_not_the_hour_of_the_failure() {
    let emails = |cmds: &[Command]| -> Vec<(u8, DateTime<Utc>)> {
        cmds.iter()
            .filter_map(|c| match c {
                Command::ScheduleEmail { level, at, .. } => Some((*level, *at)),
                _ => None,
            })
            .collect()
    };
    // 23:30 in Paris (22:30 UTC): every email moves to 09:00 Paris (08:00 UTC) the next morning.
    let night = Utc.with_ymd_and_hms(2026, 3, 2, 22, 30, 0).unwrap();
    let (_, cmds) = run(
        new_case(Mode::Manage),
        &[failed("evt_1", night, "do_not_honor", 1)],
    );
    let planned = emails(&cmds);
    assert_eq!(planned.len(), 4, "{planned:?}");
    for (level, at) in &planned {
        let local = at.with_timezone(&chrono_tz::Europe::Paris);
        assert_eq!(
            (local.hour(), local.minute()),
            (9, 0),
            "email {level} at {local}"
        );
    }
    assert_eq!(
        planned[0].1,
        Utc.with_ymd_and_hms(2026, 3, 3, 8, 0, 0).unwrap()
    );
    // 11:00 in Paris is daytime: the emails keep the hour of the failure.
    let (_, cmds) = run(
        new_case(Mode::Manage),
        &[failed("evt_1", t0(), "do_not_honor", 1)],
    );
    let planned = emails(&cmds);
    assert_eq!(planned[0].1, t0());
    assert_eq!(planned[1].1, t0() + Duration::days(5));
}

#[test]
fn a_message_due_with_a_retry_waits_an_hour_for_its_answer() {
    // Wednesday 4 March 2026, 03:00 in Paris: the first email goes at 09:00; the second is due on
    // day 5 (Monday 9 March), 09:00, when the retry moved off day 3 (a Saturday) also runs.
    let at = Utc.with_ymd_and_hms(2026, 3, 4, 2, 0, 0).unwrap();
    let (c, first) = run(
        new_case(Mode::Manage),
        &[failed("evt_1", at, "do_not_honor", 1)],
    );
    let r1 = retries(&first)[0].clone();
    let (_, cmds) = run(
        c,
        &[outcome(
            &r1.0,
            r1.1,
            AttemptResult::Declined {
                decline: super::tests::declined("do_not_honor"),
            },
        )],
    );
    let r2 = retries(&cmds)[0].clone();
    // The latest plan of the email: the second apply moves it.
    let email2 = first
        .iter()
        .chain(&cmds)
        .rev()
        .find_map(|c| match c {
            Command::ScheduleEmail { level: 2, at, .. } => Some(*at),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        r2.1,
        Utc.with_ymd_and_hms(2026, 3, 9, 8, 0, 0).unwrap(),
        "the second retry runs Monday 09:00 Paris"
    );
    assert_eq!(email2, r2.1 + Duration::hours(1), "{cmds:#?}");
}
