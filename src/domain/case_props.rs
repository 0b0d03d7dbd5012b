//! Property tests: order and duplication of events do not change the outcome, and a full simulated
//! campaign never breaks network limits, never retries a hard decline, and ends at most once.

use std::collections::BTreeMap;

use chrono::Duration;
use proptest::prelude::*;
use proptest::sample::Index;

use super::tests::{declined, ev, failed, new_case, t0};
use super::*;
use crate::domain::campaign::default_campaign;
use crate::domain::network::NetworkLimits;

const CODES: &[&str] = &[
    "insufficient_funds",
    "do_not_honor",
    "expired_card",
    "stolen_card",
    "authentication_required",
    "mystery",
    "processing_error",
];

#[derive(Debug, Clone)]
enum Ext {
    Failed { hours: i64, code: usize },
    Paid { hours: i64, via: u8 },
    Voided { hours: i64 },
    Uncollectible { hours: i64 },
    SubEnded { hours: i64 },
    CardUpdated { hours: i64 },
}

fn ext() -> impl Strategy<Value = Ext> {
    let h = 0i64..400;
    prop_oneof![
        4 => (h.clone(), 0..CODES.len()).prop_map(|(hours, code)| Ext::Failed { hours, code }),
        2 => (h.clone(), 0u8..3).prop_map(|(hours, via)| Ext::Paid { hours, via }),
        1 => h.clone().prop_map(|hours| Ext::Voided { hours }),
        1 => h.clone().prop_map(|hours| Ext::Uncollectible { hours }),
        1 => h.clone().prop_map(|hours| Ext::SubEnded { hours }),
        2 => h.prop_map(|hours| Ext::CardUpdated { hours }),
    ]
}

fn to_event(i: usize, e: &Ext) -> CaseEvent {
    let id = format!("evt_{i}");
    let at = |h: &i64| t0() + Duration::hours(*h);
    match e {
        Ext::Failed { hours, code } => failed(&id, at(hours), CODES[*code], i as u32 + 1),
        Ext::Paid { hours, via } => {
            let via = [PaidVia::Unknown, PaidVia::Customer, PaidVia::Processor][*via as usize];
            ev(
                &id,
                at(hours),
                EventKind::InvoicePaid {
                    attempt_id: None,
                    via,
                    attempt_count: None,
                },
            )
        }
        Ext::Voided { hours } => ev(&id, at(hours), EventKind::InvoiceVoided),
        Ext::Uncollectible { hours } => ev(&id, at(hours), EventKind::InvoiceUncollectible),
        Ext::SubEnded { hours } => ev(&id, at(hours), EventKind::SubscriptionEnded),
        Ext::CardUpdated { hours } => ev(
            &id,
            at(hours),
            EventKind::PaymentMethodUpdated { card: None },
        ),
    }
}

/// Applies events in the given order, each when it arrives (never before it happened).
fn deliver(events: &[CaseEvent]) -> Case {
    let campaign = default_campaign();
    let mut c = new_case(Mode::Manage);
    let mut now = t0();
    for e in events {
        now = now.max(e.occurred_at) + Duration::minutes(1);
        c = apply(&c, e, &campaign, now).0;
    }
    c
}

fn outcome_of(c: &Case) -> (Status, Option<RecoveredBy>, Option<DateTime<Utc>>) {
    (c.status.clone(), c.recovered_by, c.closed_at)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn order_and_duplicates_do_not_change_the_outcome(
        exts in prop::collection::vec(ext(), 1..7),
        shuffle_seed in prop::collection::vec(any::<Index>(), 0..12),
        dups in prop::collection::vec((any::<Index>(), any::<Index>()), 0..5),
    ) {
        let events: Vec<CaseEvent> = exts.iter().enumerate().map(|(i, e)| to_event(i, e)).collect();
        let mut clean = events.clone();
        clean.sort_by(|a, b| a.occurred_at.cmp(&b.occurred_at).then(a.id.cmp(&b.id)));
        let mut messy = events.clone();
        for (i, s) in shuffle_seed.iter().enumerate() {
            let n = messy.len();
            messy.swap(i % n, s.index(n));
        }
        for (which, pos) in &dups {
            let e = events[which.index(events.len())].clone();
            let n = messy.len() + 1;
            messy.insert(pos.index(n), e);
        }
        prop_assert_eq!(outcome_of(&deliver(&clean)), outcome_of(&deliver(&messy)));
    }
}

#[derive(Debug, Clone, Copy)]
enum Bank {
    Approve,
    Decline(usize),
    UncertainThenDecline(usize),
}

fn bank() -> impl Strategy<Value = Bank> {
    prop_oneof![
        1 => Just(Bank::Approve),
        5 => (0..CODES.len()).prop_map(Bank::Decline),
        1 => (0..CODES.len()).prop_map(Bank::UncertainThenDecline),
    ]
}

#[derive(Debug, Clone)]
struct Scenario {
    first_code: usize,
    network: CardNetwork,
    history_hours_ago: Vec<i64>,
    bank: Vec<Bank>,
    externals: Vec<(i64, u8)>,
    duplicate_outcomes: bool,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        0..CODES.len(),
        prop_oneof![
            Just(CardNetwork::Visa),
            Just(CardNetwork::Mastercard),
            Just(CardNetwork::Other)
        ],
        prop::collection::vec(1i64..720, 0..20),
        prop::collection::vec(bank(), 1..10),
        prop::collection::vec((1i64..600, 0u8..4), 0..3),
        any::<bool>(),
    )
        .prop_map(
            |(first_code, network, history_hours_ago, bank, externals, duplicate_outcomes)| {
                Scenario {
                    first_code,
                    network,
                    history_hours_ago,
                    bank,
                    externals,
                    duplicate_outcomes,
                }
            },
        )
}

#[derive(Debug, Clone)]
enum Job {
    External(u8),
    Retry(String),
    Timer(Timer, String),
    Resolve(String, usize),
}

/// Runs a campaign: executes each scheduled job at its time, the way the job layer will.
fn simulate(s: &Scenario) -> Result<(), TestCaseError> {
    let campaign = default_campaign();
    let mut c = new_case(Mode::Manage);
    c.card = Some(CardRef {
        fingerprint: Some("fp".into()),
        network: s.network,
    });
    c.card_history = s
        .history_hours_ago
        .iter()
        .map(|h| t0() - Duration::hours(*h))
        .collect();
    let mut queue: BTreeMap<(DateTime<Utc>, u64), Job> = BTreeMap::new();
    let seq = std::cell::Cell::new(0u64);
    let push = |q: &mut BTreeMap<_, _>, at, job| {
        seq.set(seq.get() + 1);
        q.insert((at, seq.get()), job);
    };
    for (h, kind) in &s.externals {
        push(&mut queue, t0() + Duration::hours(*h), Job::External(*kind));
    }
    let mut scheduled: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
    let (mut end_actions, mut executed, mut n_events) = (0, 0usize, 0);
    let mut step = |c: &Case,
                    e: CaseEvent,
                    now: DateTime<Utc>,
                    queue: &mut BTreeMap<_, _>,
                    scheduled: &mut BTreeMap<String, DateTime<Utc>>|
     -> Result<Case, TestCaseError> {
        let (next, cmds) = apply(c, &e, &campaign, now);
        for cmd in &cmds {
            match cmd {
                Command::ScheduleRetry { attempt_id, at, .. } => {
                    let latest = next.latest_failure().expect("open case has a failure");
                    prop_assert!(
                        latest.classification.class.is_retryable() || next.card_changed(),
                        "retry planned on a non-retryable decline: {:?}",
                        latest
                    );
                    let limits = NetworkLimits::for_network(s.network);
                    prop_assert!(
                        limits.check(&next.card_history, *at).is_ok(),
                        "retry at {} breaks limits",
                        at
                    );
                    prop_assert!(*at >= now, "retry planned in the past");
                    scheduled.insert(attempt_id.clone(), *at);
                    push(queue, *at, Job::Retry(attempt_id.clone()));
                }
                Command::ScheduleTimer { step_id, timer, at } => {
                    scheduled.insert(step_id.clone(), *at);
                    push(queue, *at, Job::Timer(*timer, step_id.clone()));
                }
                Command::CancelRetry { attempt_id, .. } => {
                    scheduled.remove(attempt_id);
                }
                Command::CancelPendingSteps { keep, .. } => {
                    scheduled.retain(|id, _| keep.contains(id))
                }
                Command::ExecuteEndAction { .. } => end_actions += 1,
                _ => {}
            }
        }
        prop_assert!(end_actions <= 1, "end action emitted twice");
        Ok(next)
    };
    c = step(
        &c,
        failed("evt_first", t0(), CODES[s.first_code], 1),
        t0(),
        &mut queue,
        &mut scheduled,
    )?;
    while let Some(((now, _), job)) = queue.pop_first() {
        n_events += 1;
        prop_assert!(n_events < 200, "runaway simulation");
        let event = match job {
            Job::External(kind) => {
                let k = match kind {
                    0 => EventKind::PaymentMethodUpdated {
                        card: Some(CardRef {
                            fingerprint: Some("fp".into()),
                            network: s.network,
                        }),
                    },
                    1 => EventKind::InvoicePaid {
                        attempt_id: None,
                        via: PaidVia::Customer,
                        attempt_count: None,
                    },
                    2 => EventKind::SubscriptionEnded,
                    _ => failed("x", now, "insufficient_funds", 9).kind,
                };
                ev(&format!("ext_{now}"), now, k)
            }
            Job::Timer(timer, id) => {
                if scheduled.get(&id) != Some(&now) {
                    continue; // canceled or moved: the job layer drops it
                }
                ev(&format!("{id}/fired"), now, EventKind::TimerFired { timer })
            }
            Job::Retry(id) => {
                if scheduled.remove(&id) != Some(now) {
                    continue;
                }
                prop_assert!(
                    NetworkLimits::for_network(s.network)
                        .check(&c.card_history, now)
                        .is_ok()
                );
                let result = match s.bank.get(executed).copied().unwrap_or(Bank::Decline(1)) {
                    Bank::Approve => AttemptResult::Succeeded,
                    Bank::Decline(code) => AttemptResult::Declined {
                        decline: declined(CODES[code]),
                    },
                    Bank::UncertainThenDecline(code) => {
                        push(
                            &mut queue,
                            now + Duration::minutes(10),
                            Job::Resolve(id.clone(), code),
                        );
                        AttemptResult::Uncertain
                    }
                };
                executed += 1;
                if s.duplicate_outcomes {
                    let dup = ev(
                        &format!("{id}/dup"),
                        now,
                        EventKind::AttemptOutcome {
                            attempt_id: id.clone(),
                            result: result.clone(),
                        },
                    );
                    c = step(&c, dup, now, &mut queue, &mut scheduled)?;
                }
                ev(
                    &format!("{id}/outcome"),
                    now,
                    EventKind::AttemptOutcome {
                        attempt_id: id,
                        result,
                    },
                )
            }
            Job::Resolve(id, code) => {
                let result = AttemptResult::Declined {
                    decline: declined(CODES[code]),
                };
                ev(
                    &format!("{id}/resolved"),
                    now,
                    EventKind::AttemptOutcome {
                        attempt_id: id,
                        result,
                    },
                )
            }
        };
        c = step(&c, event, now, &mut queue, &mut scheduled)?;
    }
    prop_assert!(
        c.status.is_terminal(),
        "campaign ended open: {:?}",
        c.status
    );
    let step_retries = c
        .attempts
        .iter()
        .filter(|a| matches!(a.trigger, AttemptTrigger::Step { .. }) && a.executed_at.is_some())
        .count();
    prop_assert!(
        step_retries <= campaign.max_retries as usize,
        "{} step retries",
        step_retries
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn simulated_campaigns_respect_limits_and_end_once(s in scenario()) {
        simulate(&s)?;
    }
}
