//! Card-update and decline events: payment methods, setups, expiring cards, failed payments.

use super::*;

#[test]
fn payment_method_attached() {
    let EventKind::PaymentMethodAttached(pm) = kind(fixture!("payment_method.attached")) else {
        panic!()
    };
    assert_eq!(
        (pm.payment_method_id.as_str(), pm.customer_id.as_deref()),
        (PM_NEW, Some(CUS))
    );
    assert_eq!(pm.method_type.as_deref(), Some("card"));
    let card = pm.card.unwrap();
    assert_eq!(card.brand.as_deref(), Some("mastercard"));
    assert_eq!(
        card.network.as_deref(),
        Some("mastercard"),
        "the only available network"
    );
    assert_eq!(
        (card.last4.as_deref(), card.exp_month, card.exp_year),
        (Some("4444"), Some(11), Some(2029))
    );
    assert_eq!(card.fingerprint.as_deref(), Some("mK2Rt8PqLzW3vY9n"));
    assert_eq!(card.payment_method_id.as_deref(), Some(PM_NEW));
}

#[test]
fn customer_updated_default_payment_method() {
    let expected = EventKind::DefaultPaymentMethodChanged {
        customer_id: CUS.into(),
        payment_method_id: PM_NEW.into(),
    };
    assert_eq!(kind(fixture!("customer.updated")), expected);
    let from_nothing = edit(fixture!("customer.updated"), |v| {
        v["data"]["previous_attributes"] =
            json!({"invoice_settings": {"default_payment_method": null}});
    });
    assert_eq!(kind_of(&from_nothing), Ok(Some(expected.clone())));
    let email_only = edit(fixture!("customer.updated"), |v| {
        v["data"]["previous_attributes"] = json!({"email": "old@example.com"});
    });
    assert_eq!(kind_of(&email_only), Ok(None), "default did not change");
    let no_previous = edit(fixture!("customer.updated"), |v| {
        v["data"]
            .as_object_mut()
            .unwrap()
            .remove("previous_attributes");
    });
    assert_eq!(kind_of(&no_previous), Ok(Some(expected)));
    let source = edit(fixture!("customer.updated"), |v| {
        v["data"]["object"]["invoice_settings"]["default_payment_method"] = Value::Null;
        v["data"]["object"]["default_source"] = json!({"id": "card_1", "object": "card"});
        v["data"]["previous_attributes"] = json!({"default_source": null});
    });
    let Ok(Some(EventKind::DefaultPaymentMethodChanged {
        payment_method_id, ..
    })) = kind_of(&source)
    else {
        panic!()
    };
    assert_eq!(payment_method_id, "card_1");
    let removed = edit(fixture!("customer.updated"), |v| {
        v["data"]["object"]["invoice_settings"]["default_payment_method"] = Value::Null;
    });
    assert_eq!(
        kind_of(&removed),
        Ok(None),
        "a removed default is not a new card"
    );
}

#[test]
fn setup_succeeded_from_setup_intent_and_checkout() {
    assert_eq!(
        kind(fixture!("setup_intent.succeeded")),
        EventKind::SetupSucceeded {
            customer_id: Some(CUS.into()),
            payment_method_id: Some(PM_NEW.into()),
            source: SetupSource::SetupIntent,
            setup_intent_id: Some(SETI.into()),
            session_id: None,
            reference: None,
        }
    );
    assert_eq!(
        kind(fixture!("checkout.session.completed")),
        EventKind::SetupSucceeded {
            customer_id: Some(CUS.into()),
            payment_method_id: None,
            source: SetupSource::CheckoutSession,
            setup_intent_id: Some(SETI.into()),
            session_id: Some(
                "cs_test_c1Lx8QmZr4TnVb2Wq9Yp6Kd3Hs7Jf0Ga5Ue1Ri8Oo4Pl2Mn6Bv9Cx3Zy7Aw5".into()
            ),
            reference: Some("case_01JRXK4Z8N3M5P7Q9R2S4T6V8W".into()),
        }
    );
    // A session the tenant opened for itself names no case.
    let theirs = edit(fixture!("checkout.session.completed"), |v| {
        v["data"]["object"]["metadata"] = json!({});
    });
    let Ok(Some(EventKind::SetupSucceeded { reference, .. })) = kind_of(&theirs) else {
        panic!()
    };
    assert_eq!(reference, None);
    let expanded = edit(fixture!("checkout.session.completed"), |v| {
        v["data"]["object"]["setup_intent"] =
            json!({"id": SETI, "payment_method": {"id": PM_NEW, "object": "payment_method"}});
    });
    let Ok(Some(EventKind::SetupSucceeded {
        payment_method_id,
        setup_intent_id,
        ..
    })) = kind_of(&expanded)
    else {
        panic!()
    };
    assert_eq!(
        (payment_method_id.as_deref(), setup_intent_id.as_deref()),
        (Some(PM_NEW), Some(SETI))
    );
}

#[test]
fn card_expiring_from_legacy_card_and_source() {
    let EventKind::CardExpiring { customer_id, card } = kind(fixture!("customer.source.expiring"))
    else {
        panic!()
    };
    assert_eq!(customer_id, CUS);
    assert_eq!(
        card.brand.as_deref(),
        Some("amex"),
        "legacy display brand normalised"
    );
    assert_eq!(
        (card.last4.as_deref(), card.exp_month, card.exp_year),
        (Some("8431"), Some(4), Some(2025))
    );
    assert_eq!(
        card.payment_method_id.as_deref(),
        Some("card_1QhK2LPgT2m9Xw0aLg3Cy4Rd")
    );
    let source = edit(fixture!("customer.source.expiring"), |v| {
        v["data"]["object"] = json!({"id": "src_1", "object": "source", "type": "card", "customer": CUS,
            "card": {"brand": "MasterCard", "exp_month": "5", "exp_year": 2025, "last4": "4444"}});
    });
    let Ok(Some(EventKind::CardExpiring { card, .. })) = kind_of(&source) else {
        panic!()
    };
    assert_eq!(
        (card.brand.as_deref(), card.exp_month),
        (Some("mastercard"), Some(5))
    );
}

#[test]
fn payment_intent_failed_insufficient_funds() {
    let EventKind::PaymentFailed(f) = kind(fixture!("payment_intent.payment_failed")) else {
        panic!()
    };
    assert_eq!(
        (f.payment_intent_id.as_deref(), f.charge_id.as_deref()),
        (Some(PI), Some(CH))
    );
    assert_eq!(
        (f.invoice_id.as_deref(), f.customer_id.as_deref()),
        (Some(INV), Some(CUS))
    );
    assert_eq!((f.amount, f.currency.as_deref()), (Some(4900), Some("usd")));
    let d = f.decline;
    assert_eq!(
        (d.failure_code.as_deref(), d.decline_code.as_deref()),
        (Some("card_declined"), Some("insufficient_funds"))
    );
    assert_eq!(d.advice_code.as_deref(), Some("try_again_later"));
    assert_eq!(
        (
            d.network_advice_code.as_deref(),
            d.network_decline_code.as_deref()
        ),
        (Some("24"), Some("51"))
    );
    assert_eq!(
        d.message.as_deref(),
        Some("Your card has insufficient funds.")
    );
    let card = d.card.unwrap();
    assert_eq!(
        (card.brand.as_deref(), card.last4.as_deref()),
        (Some("visa"), Some("9995"))
    );
    assert_eq!(
        (
            card.fingerprint.as_deref(),
            card.payment_method_id.as_deref()
        ),
        (Some("Xt5EWLLDS7FJjR1c"), Some(PM_OLD))
    );

    // Newer API versions have no `invoice` on the payment intent; the error may also be missing.
    let newer = edit(fixture!("payment_intent.payment_failed"), |v| {
        let pi = v["data"]["object"].as_object_mut().unwrap();
        pi.remove("invoice");
        pi.remove("last_payment_error");
    });
    let Ok(Some(EventKind::PaymentFailed(f))) = kind_of(&newer) else {
        panic!()
    };
    assert_eq!((f.invoice_id, f.charge_id.as_deref()), (None, Some(CH)));
    assert_eq!(f.decline, DeclineInfo::default());
}

#[test]
fn charge_failed_generic_and_expired() {
    let EventKind::PaymentFailed(f) = kind(fixture!("charge.failed")) else {
        panic!()
    };
    assert_eq!(
        (f.charge_id.as_deref(), f.payment_intent_id.as_deref()),
        (Some(CH), Some(PI))
    );
    assert_eq!(
        (f.invoice_id.as_deref(), f.customer_id.as_deref()),
        (Some(INV), Some(CUS))
    );
    let d = &f.decline;
    assert_eq!(
        (d.failure_code.as_deref(), d.decline_code.as_deref()),
        (Some("card_declined"), Some("generic_decline"))
    );
    assert_eq!(
        (d.outcome_type.as_deref(), d.advice_code.as_deref()),
        (Some("issuer_declined"), None)
    );
    let card = d.card.as_ref().unwrap();
    assert_eq!(
        (card.network.as_deref(), card.payment_method_id.as_deref()),
        (Some("visa"), Some(PM_OLD))
    );
    assert_eq!((card.exp_month, card.exp_year), (Some(8), Some(2027)));

    let EventKind::PaymentFailed(f) = kind(fixture!("charge.failed.expired_card")) else {
        panic!()
    };
    assert_eq!(
        f.invoice_id, None,
        "newer API versions dropped Charge.invoice"
    );
    assert_eq!(
        (
            f.decline.failure_code.as_deref(),
            f.decline.decline_code.as_deref()
        ),
        (Some("expired_card"), Some("expired_card"))
    );
    assert_eq!(
        (
            f.decline.advice_code.as_deref(),
            f.decline.network_decline_code.as_deref()
        ),
        (Some("do_not_try_again"), Some("54"))
    );
}

#[test]
fn bare_card_declined_and_radar_block() {
    let bare = edit(fixture!("charge.failed"), |v| {
        v["data"]["object"]["outcome"]["reason"] = Value::Null
    });
    let Ok(Some(EventKind::PaymentFailed(f))) = kind_of(&bare) else {
        panic!()
    };
    assert_eq!(
        (f.decline.failure_code.as_deref(), f.decline.decline_code),
        (Some("card_declined"), None)
    );
    let blocked = edit(fixture!("charge.failed"), |v| {
        v["data"]["object"]["outcome"] = json!({"type": "blocked", "reason": "highest_risk_level", "network_status": "not_sent_to_network"});
    });
    let Ok(Some(EventKind::PaymentFailed(f))) = kind_of(&blocked) else {
        panic!()
    };
    assert_eq!(
        (f.decline.outcome_type.as_deref(), f.decline.decline_code),
        (Some("blocked"), None),
        "a Radar rule is not a decline code"
    );
    let pi_bare = edit(fixture!("payment_intent.payment_failed"), |v| {
        let err = &mut v["data"]["object"]["last_payment_error"];
        err["decline_code"] = Value::Null;
        err["payment_method"] = json!(PM_OLD);
    });
    let Ok(Some(EventKind::PaymentFailed(f))) = kind_of(&pi_bare) else {
        panic!()
    };
    assert_eq!(
        (
            f.decline.failure_code.as_deref(),
            f.decline.decline_code,
            f.decline.card
        ),
        (Some("card_declined"), None, None)
    );
}
