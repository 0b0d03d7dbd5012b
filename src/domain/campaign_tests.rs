//! Tests of campaigns: JSON shape, validation messages, segment matching and choice.

use super::*;
use crate::domain::money::Currency;

fn money(n: i64, c: &str) -> Money {
    Money::new(n, Currency::new(c).unwrap())
}

fn facts(amount: Money) -> CaseFacts {
    CaseFacts {
        amount,
        product_ids: vec!["prod_pro".into()],
        price_ids: vec!["price_pro_monthly".into()],
        customer_metadata: BTreeMap::from([("segment".into(), "business".into())]),
        prior_cases: 0,
    }
}

fn named(id: &str, priority: i32, segment: SegmentRules) -> Campaign {
    Campaign {
        id: id.into(),
        priority,
        segment,
        ..default_campaign()
    }
}

#[test]
fn default_campaign_is_valid_and_as_promised() {
    let c = default_campaign();
    assert_eq!(c.validate(), vec![]);
    assert_eq!(c.retry_steps().count(), 4);
    let levels: Vec<u8> = c
        .steps
        .iter()
        .filter_map(|s| match s.action {
            StepAction::Email { level } => Some(level),
            _ => None,
        })
        .collect();
    assert_eq!(levels, vec![1, 2, 3, 4]);
    assert_eq!(c.max_duration_days, 21);
    assert!(c.steps.iter().all(|s| s.offset.days <= 21));
}

#[test]
fn json_shape_is_snake_case_and_tagged() {
    let json = serde_json::to_value(default_campaign()).unwrap();
    assert_eq!(
        json["steps"][0],
        serde_json::json!({"offset": {"days": 0, "hours": 0}, "type": "email", "level": 1})
    );
    assert_eq!(json["steps"][1]["type"], "retry");
    assert_eq!(json["end_action"], "cancel_now");
    assert_eq!(json["timing"]["business_start_hour"], 9);
    let minimal = serde_json::json!({
        "id": "b2b", "version": 2, "name": "Business",
        "segment": {"min_amount": [{"amount_minor": 50000, "currency": "EUR"}], "customer_metadata": {"segment": "business"}},
        "steps": [{"offset": {"days": 2}, "type": "task", "note": "call the account"}, {"offset": {"days": 3}, "type": "retry"}],
        "max_retries": 1, "max_duration_days": 14, "end_action": "mark_uncollectible"
    });
    let c: Campaign = serde_json::from_value(minimal).unwrap();
    assert_eq!(c.validate(), vec![]);
    assert_eq!(c.segment.min_amount[0].currency.as_str(), "eur");
    assert_eq!(c.timing, TimingSettings::default());
    assert_eq!(
        c.steps[0].action,
        StepAction::Task {
            note: "call the account".into()
        }
    );
    let back: Campaign = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
    assert_eq!(back, c);
}

#[test]
fn validation_says_what_and_where() {
    let mut c = default_campaign();
    c.id = "has space".into();
    c.version = 0;
    c.name = " ".into();
    c.steps[3].offset = Offset::days(2);
    c.steps[2] = Step {
        offset: Offset::days(3),
        action: StepAction::Email { level: 5 },
    };
    c.steps.push(Step {
        offset: Offset {
            days: 30,
            hours: 25,
        },
        action: StepAction::Task { note: "".into() },
    });
    c.max_retries = 2;
    c.grace_period_hours = 21 * 24;
    c.timing.business_start_hour = 18;
    let errs: Vec<String> = c.validate().iter().map(ToString::to_string).collect();
    let expect = [
        "id: must be",
        "version: must be at least 1",
        "name: must not be empty",
        "max_retries: is 2 but the campaign has 3 retry steps",
        "grace_period_hours: must be shorter",
        "steps[3].offset: must not be before steps[2] (day 3 + 0 h)",
        "steps[2].level: must be 1 to 4, got 5",
        "steps[8].offset.hours: must be below 24",
        "steps[8].offset: day 30 + 25 h is after max_duration_days (21)",
        "steps[8].note: must say what",
        "timing.business_start_hour: must be before business_end_hour",
    ];
    for e in expect {
        assert!(
            errs.iter().any(|got| got.starts_with(e)),
            "missing {e:?} in {errs:#?}"
        );
    }
    assert_eq!(errs.len(), expect.len(), "{errs:#?}");
}

#[test]
fn validation_of_limits_and_segments() {
    let mut c = default_campaign();
    c.max_retries = 16;
    c.max_duration_days = 0;
    c.steps.clear();
    c.segment.min_amount = vec![money(-1, "usd"), money(5, "usd")];
    c.segment.max_amount = vec![money(5, "usd")];
    c.segment.customer_metadata.insert("plan".into(), "".into());
    let errs: Vec<String> = c.validate().iter().map(ToString::to_string).collect();
    for e in [
        "max_retries: must be at most 15",
        "max_duration_days: must be between 1 and 120",
        "steps: must contain at least one step",
        "segment.min_amount[0].amount_minor: must not be negative",
        "segment.min_amount[1].currency: usd is listed twice",
        "segment.min_amount[1]: must be below max_amount in usd",
        "segment.customer_metadata.plan: key and value must not be empty",
    ] {
        assert!(
            errs.iter().any(|got| got.starts_with(e)),
            "missing {e:?} in {errs:#?}"
        );
    }
}

#[test]
fn segment_rules_match() {
    let f = facts(money(60000, "eur"));
    let big_eur = SegmentRules {
        min_amount: vec![money(50000, "eur")],
        ..Default::default()
    };
    assert!(big_eur.matches(&f));
    assert!(
        !big_eur.matches(&facts(money(60000, "usd"))),
        "currency not listed"
    );
    assert!(!big_eur.matches(&facts(money(100, "eur"))));
    let small = SegmentRules {
        max_amount: vec![money(50000, "eur")],
        ..Default::default()
    };
    assert!(!small.matches(&f));
    let product = SegmentRules {
        product_ids: vec!["prod_pro".into(), "prod_x".into()],
        price_ids: vec!["price_pro_monthly".into()],
        ..Default::default()
    };
    assert!(product.matches(&f));
    let other = SegmentRules {
        product_ids: vec!["prod_basic".into()],
        ..Default::default()
    };
    assert!(!other.matches(&f));
    let consumer = SegmentRules {
        customer_metadata: BTreeMap::from([("segment".into(), "consumer".into())]),
        ..Default::default()
    };
    assert!(!consumer.matches(&f));
    let repeat = SegmentRules {
        offender: Some(Offender::Repeat),
        ..Default::default()
    };
    assert!(!repeat.matches(&f));
    assert!(repeat.matches(&CaseFacts {
        prior_cases: 2,
        ..f.clone()
    }));
    assert!(SegmentRules::default().matches(&f));
}

#[test]
fn choose_by_priority_then_default() {
    let business = SegmentRules {
        customer_metadata: BTreeMap::from([("segment".into(), "business".into())]),
        ..Default::default()
    };
    let big = SegmentRules {
        min_amount: vec![money(100_000, "eur")],
        ..Default::default()
    };
    let campaigns = vec![named("b2b", 10, business), named("big", 20, big)];
    assert_eq!(choose(&campaigns, &facts(money(200_000, "eur"))).id, "big");
    assert_eq!(choose(&campaigns, &facts(money(100, "eur"))).id, "b2b");
    let mut consumer = facts(money(100, "eur"));
    consumer.customer_metadata.clear();
    assert_eq!(choose(&campaigns, &consumer).id, "default");
    assert_eq!(choose(&[], &consumer), &default_campaign());
    let tie = vec![
        named("zeta", 0, SegmentRules::default()),
        named("alpha", 0, SegmentRules::default()),
    ];
    assert_eq!(choose(&tie, &consumer).id, "alpha");
}

#[test]
fn an_edit_becomes_the_next_version() {
    let v1 = default_campaign();
    let mut edit = default_campaign();
    edit.id = "ignored".into();
    edit.max_retries = 3;
    edit.steps.retain(|s| s.offset.days != 14);
    let v2 = edit.as_new_version_of(&v1);
    assert_eq!((v2.id.as_str(), v2.version), ("default", 2));
    assert_eq!(v2.validate(), vec![]);
}
