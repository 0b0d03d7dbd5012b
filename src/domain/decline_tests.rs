//! Tests of decline classification: the table, advice precedence and JSON shape.

use super::*;

fn info(
    code: Option<&str>,
    decline: Option<&str>,
    advice: Option<&str>,
    mac: Option<&str>,
) -> DeclineInfo {
    DeclineInfo {
        code: code.map(Into::into),
        decline_code: decline.map(Into::into),
        advice_code: advice.map(Into::into),
        network_advice_code: mac.map(Into::into),
    }
}
fn decline(code: &str) -> Classification {
    classify(&info(Some("card_declined"), Some(code), None, None))
}

#[test]
fn soft_codes_from_domain_notes() {
    for c in [
        "do_not_honor",
        "generic_decline",
        "processing_error",
        "try_again_later",
        "issuer_not_available",
        "reenter_transaction",
        "approve_with_id",
    ] {
        assert!(decline(c).class.is_retryable(), "{c}");
    }
    assert_eq!(
        decline("insufficient_funds").class,
        DeclineClass::Soft(SoftKind::InsufficientFunds)
    );
}

#[test]
fn hard_codes_from_domain_notes() {
    for c in [
        "lost_card",
        "stolen_card",
        "pickup_card",
        "restricted_card",
        "fraudulent",
        "invalid_account",
        "expired_card",
        "incorrect_number",
        "card_not_supported",
        "revocation_of_authorization",
        "do_not_try_again",
    ] {
        let k = decline(c);
        assert_eq!(k.class, DeclineClass::Hard, "{c}");
        assert!(k.reason.contains(c));
    }
    assert!(decline("stolen_card").never_approve);
    assert!(!decline("expired_card").never_approve);
}

#[test]
fn authentication_needs_the_customer_even_as_bare_code() {
    let k = classify(&info(Some("authentication_required"), None, None, None));
    assert_eq!(
        k.class,
        DeclineClass::NeedsCustomer(CustomerAction::Authentication)
    );
    assert!(!k.class.is_retryable());
}

#[test]
fn bare_card_declined_is_generic_soft() {
    let k = classify(&info(Some("card_declined"), None, None, None));
    assert_eq!(k.class, DeclineClass::Soft(SoftKind::Generic));
    let blank = classify(&info(Some("card_declined"), Some("  "), None, None));
    assert_eq!(blank.class, DeclineClass::Soft(SoftKind::Generic));
}

#[test]
fn unknown_and_missing_codes_are_cautious_soft() {
    let k = decline("martian_issuer");
    assert_eq!(k.class, DeclineClass::Soft(SoftKind::Unknown));
    assert!(k.reason.contains("martian_issuer"));
    assert_eq!(
        classify(&DeclineInfo::default()).class,
        DeclineClass::Soft(SoftKind::Unknown)
    );
}

#[test]
fn stripe_advice_overrides_table() {
    let k = classify(&info(
        Some("card_declined"),
        Some("insufficient_funds"),
        Some("do_not_try_again"),
        None,
    ));
    assert_eq!(k.class, DeclineClass::Hard);
    let k = classify(&info(
        Some("card_declined"),
        Some("generic_decline"),
        Some("confirm_card_data"),
        None,
    ));
    assert_eq!(
        k.class,
        DeclineClass::NeedsCustomer(CustomerAction::ConfirmCardData)
    );
    let k = classify(&info(
        Some("card_declined"),
        Some("expired_card"),
        Some("try_again_later"),
        None,
    ));
    assert_eq!(k.class, DeclineClass::Soft(SoftKind::Temporary));
    let k = classify(&info(
        Some("card_declined"),
        Some("insufficient_funds"),
        Some("try_again_later"),
        None,
    ));
    assert_eq!(
        k.class,
        DeclineClass::Soft(SoftKind::InsufficientFunds),
        "keeps payday timing"
    );
}

#[test]
fn mastercard_stop_codes_override_everything() {
    for mac in ["03", "21"] {
        let k = classify(&info(
            Some("card_declined"),
            Some("insufficient_funds"),
            Some("try_again_later"),
            Some(mac),
        ));
        assert_eq!(k.class, DeclineClass::Hard);
        assert!(k.reason.contains(mac));
    }
}

#[test]
fn mastercard_retry_after_codes() {
    let expect = [
        ("24", 1),
        ("25", 24),
        ("26", 48),
        ("27", 96),
        ("28", 144),
        ("29", 192),
        ("30", 240),
    ];
    for (mac, hours) in expect {
        let k = classify(&info(
            Some("card_declined"),
            Some("do_not_honor"),
            None,
            Some(mac),
        ));
        assert!(k.class.is_retryable());
        assert_eq!(
            k.retry_after,
            Some(Duration::from_secs(hours * HOUR)),
            "{mac}"
        );
    }
    let k = classify(&info(
        Some("card_declined"),
        Some("lost_card"),
        None,
        Some("25"),
    ));
    assert_eq!(k.class, DeclineClass::Soft(SoftKind::Temporary));
    assert!(
        k.never_approve,
        "network category survives the advice override"
    );
    assert_eq!(
        classify(&info(None, None, None, Some("99"))).class,
        DeclineClass::Soft(SoftKind::Unknown)
    );
}

#[test]
fn classification_round_trips_json() {
    let k = classify(&info(None, Some("insufficient_funds"), None, Some("26")));
    let json = serde_json::to_value(&k).unwrap();
    assert_eq!(json["class"]["class"], "soft");
    assert_eq!(json["retry_after"], 172_800);
    let back: Classification = serde_json::from_value(json).unwrap();
    assert_eq!(back, k);
}
