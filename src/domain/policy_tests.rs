//! Tests of retry timing: local days, business hours, paydays, card updates, gaps and limits.

use super::*;
use crate::domain::decline::{DeclineInfo, classify};
use chrono::TimeZone;
use chrono::{Datelike, Timelike};

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

fn decline(code: &str) -> Classification {
    classify(&DeclineInfo {
        code: Some("card_declined".into()),
        decline_code: Some(code.into()),
        ..Default::default()
    })
}

struct Fixture {
    class: Classification,
    settings: TimingSettings,
    history: Vec<DateTime<Utc>>,
}

impl Fixture {
    fn new(code: &str) -> Self {
        Self {
            class: decline(code),
            settings: TimingSettings::default(),
            history: vec![],
        }
    }
    /// Failure Tue 2026-03-03 14:00 in Paris (13:00 UTC), step due a day later.
    fn input(&self) -> RetryInput<'_> {
        let failure = utc(2026, 3, 3, 13, 0);
        RetryInput {
            now: failure,
            nominal: failure + Duration::days(1),
            last_failure: failure,
            classification: &self.class,
            card_updated_at: None,
            last_attempt_at: None,
            deadline: failure + Duration::days(21),
            retries_used: 0,
            max_retries: 4,
            network: CardNetwork::Visa,
            card_history: &self.history,
            time_zone: "Europe/Paris".parse().unwrap(),
            settings: &self.settings,
        }
    }
}

fn local(t: DateTime<Utc>, tz: &str) -> chrono::DateTime<Tz> {
    t.with_timezone(&tz.parse::<Tz>().unwrap())
}

#[test]
fn soft_decline_retries_next_local_business_day() {
    let f = Fixture::new("do_not_honor");
    let mut i = f.input();
    i.nominal = i.last_failure + Duration::hours(2);
    let d = plan_retry(&i);
    let at = d.at.unwrap();
    assert_eq!(
        local(at, "Europe/Paris").date_naive(),
        NaiveDate::from_ymd_opt(2026, 3, 4).unwrap()
    );
    assert!(at >= i.last_failure + Duration::hours(20), "minimum gap");
    assert!(
        d.reasons.iter().any(|r| r.contains("failure's local day")),
        "{:?}",
        d.reasons
    );
    assert!(
        d.reasons.iter().any(|r| r.contains("minimum gap")),
        "{:?}",
        d.reasons
    );
}

#[test]
fn business_hours_and_weekends() {
    let f = Fixture::new("do_not_honor");
    let mut i = f.input();
    // Friday 2026-03-06 19:00 Paris: after hours, then a weekend → Monday 09:00.
    i.nominal = utc(2026, 3, 6, 18, 0);
    let d = plan_retry(&i);
    let at = local(d.at.unwrap(), "Europe/Paris");
    assert_eq!(
        (at.date_naive(), at.hour()),
        (NaiveDate::from_ymd_opt(2026, 3, 9).unwrap(), 9)
    );
    assert!(
        d.reasons.iter().any(|r| r.contains("weekend")),
        "{:?}",
        d.reasons
    );
    let mut weekends_ok = Fixture::new("do_not_honor");
    weekends_ok.settings.avoid_weekends = false;
    let mut i = weekends_ok.input();
    i.nominal = utc(2026, 3, 6, 18, 0);
    let at = local(plan_retry(&i).at.unwrap(), "Europe/Paris");
    assert_eq!(
        at.date_naive(),
        NaiveDate::from_ymd_opt(2026, 3, 7).unwrap()
    );
}

#[test]
fn insufficient_funds_lands_on_payday_in_customer_zone() {
    let f = Fixture::new("insufficient_funds");
    let mut i = f.input();
    i.time_zone = "America/Los_Angeles".parse().unwrap();
    let d = plan_retry(&i);
    let at = local(d.at.unwrap(), "America/Los_Angeles");
    assert_eq!(
        (at.date_naive(), at.hour()),
        (NaiveDate::from_ymd_opt(2026, 3, 16).unwrap(), 9),
        "Sun 15 → Mon 16"
    );
    assert!(
        d.reasons.iter().any(|r| r.contains("payday")),
        "{:?}",
        d.reasons
    );
    let mut off = Fixture::new("insufficient_funds");
    off.settings.paydays = false;
    assert!(plan_retry(&off.input()).at.unwrap() < d.at.unwrap());
}

#[test]
fn hard_and_customer_declines_never_retry() {
    for code in ["stolen_card", "expired_card", "authentication_required"] {
        let f = Fixture::new(code);
        let d = plan_retry(&f.input());
        assert_eq!(d.at, None, "{code}");
        assert!(d.reasons.last().unwrap().starts_with("no retry"));
    }
}

#[test]
fn visa_never_approve_stops_even_with_retry_advice() {
    let mut f = Fixture::new("lost_card");
    f.class = classify(&DeclineInfo {
        decline_code: Some("lost_card".into()),
        network_advice_code: Some("24".into()),
        ..Default::default()
    });
    assert!(f.class.class.is_retryable());
    assert_eq!(plan_retry(&f.input()).at, None);
    let mut i = f.input();
    i.network = CardNetwork::Mastercard;
    assert!(
        plan_retry(&i).at.is_some(),
        "Mastercard follows its own advice code"
    );
}

#[test]
fn card_update_retries_within_minutes_even_after_hard_decline() {
    let f = Fixture::new("expired_card");
    let mut i = f.input();
    let updated = utc(2026, 3, 3, 22, 30);
    i.now = updated + Duration::seconds(10);
    i.card_updated_at = Some(updated);
    i.retries_used = 4;
    let d = plan_retry(&i);
    assert_eq!(
        d.at,
        Some(updated + Duration::minutes(5)),
        "{:?}",
        d.reasons
    );
}

#[test]
fn gaps_advice_limits_and_deadline() {
    let f = Fixture::new("mystery_code");
    let d = plan_retry(&f.input());
    assert!(
        d.at.unwrap() >= f.input().last_failure + Duration::hours(48),
        "cautious gap"
    );
    let mut mac = Fixture::new("do_not_honor");
    mac.class.retry_after = Some(std::time::Duration::from_secs(6 * 86_400));
    let at = plan_retry(&mac.input()).at.unwrap();
    assert!(at >= mac.input().last_failure + Duration::days(6));
    let mut full = Fixture::new("do_not_honor");
    let failure = full.input().last_failure;
    full.history = (0..15)
        .map(|n| failure - Duration::days(20) + Duration::hours(n))
        .collect();
    let d = plan_retry(&full.input());
    assert!(
        d.at.unwrap() >= failure + Duration::days(10),
        "{:?}",
        d.reasons
    );
    assert!(d.reasons.iter().any(|r| r.contains("card-network limit")));
    let mut late = full.input();
    late.deadline = failure + Duration::days(5);
    let d = plan_retry(&late);
    assert_eq!(d.at, None);
    assert!(
        d.reasons
            .last()
            .unwrap()
            .contains("after the campaign's end")
    );
    let plain = Fixture::new("do_not_honor");
    let mut used = plain.input();
    used.retries_used = 4;
    assert_eq!(plan_retry(&used).at, None);
}

#[test]
fn timing_settings_validate() {
    let s = TimingSettings {
        business_start_hour: 10,
        business_end_hour: 25,
        min_gap_hours: 0,
        cautious_gap_hours: 0,
        card_update_delay_minutes: 5000,
        ..Default::default()
    };
    let paths: Vec<String> = s.validate().into_iter().map(|e| e.path).collect();
    assert_eq!(
        paths,
        [
            "business_end_hour",
            "min_gap_hours",
            "card_update_delay_minutes"
        ]
    );
    assert!(TimingSettings::default().validate().is_empty());
}

#[test]
fn insufficient_funds_without_a_payday_before_the_end_keeps_a_business_day() {
    let f = Fixture::new("insufficient_funds");
    let mut i = f.input();
    i.now = utc(2026, 3, 17, 8, 0);
    i.last_failure = utc(2026, 3, 16, 8, 0);
    i.nominal = utc(2026, 3, 5, 10, 0);
    i.deadline = utc(2026, 3, 23, 10, 0);
    let d = plan_retry(&i);
    let at = local(d.at.unwrap(), "Europe/Paris");
    assert_eq!(
        at.date_naive(),
        NaiveDate::from_ymd_opt(2026, 3, 17).unwrap(),
        "{:?}",
        d.reasons
    );
    assert!(
        d.reasons.iter().any(|r| r.contains("no payday before")),
        "{:?}",
        d.reasons
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    const ZONES: &[&str] = &[
        "Europe/Paris",
        "America/Los_Angeles",
        "Asia/Tokyo",
        "Australia/Lord_Howe",
        "UTC",
    ];
    const CODES: &[&str] = &[
        "insufficient_funds",
        "do_not_honor",
        "processing_error",
        "mystery",
        "expired_card",
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        /// Whatever the inputs, a planned retry is in the future, before the end, on another local
        /// day than the failure, inside business hours on a weekday, and inside network limits.
        #[test]
        fn planned_retries_obey_every_rule(
            fail_min in 0i64..(60 * 24 * 60),
            nominal_h in 0i64..(24 * 20),
            zone in 0..ZONES.len(),
            code in 0..CODES.len(),
            history in prop::collection::vec(-(30i64 * 24)..0, 0..30),
            network in prop_oneof![Just(CardNetwork::Visa), Just(CardNetwork::Mastercard), Just(CardNetwork::Amex)],
        ) {
            let failure = utc(2026, 1, 1, 0, 0) + Duration::minutes(fail_min);
            let class = decline(CODES[code]);
            let settings = TimingSettings::default();
            let history: Vec<_> = history.iter().map(|h| failure + Duration::hours(*h)).collect();
            let tz: Tz = ZONES[zone].parse().unwrap();
            let input = RetryInput {
                now: failure,
                nominal: failure + Duration::hours(nominal_h),
                last_failure: failure,
                classification: &class,
                card_updated_at: None,
                last_attempt_at: None,
                deadline: failure + Duration::days(21),
                retries_used: 0,
                max_retries: 4,
                network,
                card_history: &history,
                time_zone: tz,
                settings: &settings,
            };
            let d = plan_retry(&input);
            prop_assert!(!d.reasons.is_empty());
            let Some(at) = d.at else {
                prop_assert!(!class.class.is_retryable() || d.reasons.last().unwrap().contains("after the campaign's end"));
                return Ok(());
            };
            prop_assert!(class.class.is_retryable());
            prop_assert!(at >= failure + Duration::hours(20) && at <= input.deadline);
            let l = at.with_timezone(&tz);
            prop_assert_ne!(l.date_naive(), failure.with_timezone(&tz).date_naive());
            prop_assert!((9..17).contains(&l.hour()), "{} {:?}", l, d.reasons);
            prop_assert!(!matches!(l.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun));
            prop_assert!(NetworkLimits::for_network(network).check(&history, at).is_ok());
        }
    }
}
