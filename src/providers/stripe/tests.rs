//! Every mapping checked against the fixtures in `fixtures/stripe/`, plus envelopes and odd shapes.

use serde_json::{Value, json};

use super::Stripe;
use crate::providers::*;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../../fixtures/stripe/", $name, ".json"))
    };
}

const CUS: &str = "cus_S2pQ7LmVt9KdE4";
const SUB: &str = "sub_1R3bT8PgT2m9Xw0aKz4Yb7Qn";
const INV: &str = "in_1R3xYzPgT2m9Xw0aB1cD2eF3";
const PI: &str = "pi_3R3xZ0PgT2m9Xw0a1Kq7Hn2s";
const CH: &str = "ch_3R3xZ0PgT2m9Xw0a1yT4bN8d";
const PM_OLD: &str = "pm_1R3bT5PgT2m9Xw0aVb7Np3Qe";
const PM_NEW: &str = "pm_1R4B2cPgT2m9Xw0aMc8Dk1Rz";
const SETI: &str = "seti_1R4B2aPgT2m9Xw0aS3tU4vW5";
const PRICE: &str = "price_1R3bRwPgT2m9Xw0aT7uV8wX9";
const PROD: &str = "prod_S2pOq5Hk2mQvT5";

fn kind(body: &str) -> EventKind {
    Stripe
        .normalize(body.as_bytes())
        .expect("normalizes")
        .expect("a used event type")
        .kind
}

fn kind_of(event: &Value) -> Result<Option<EventKind>, ParseError> {
    Stripe
        .normalize(event.to_string().as_bytes())
        .map(|e| e.map(|e| e.kind))
}

fn edit(body: &str, f: impl FnOnce(&mut Value)) -> Value {
    let mut v: Value = serde_json::from_str(body).unwrap();
    f(&mut v);
    v
}

fn failed_invoice(body: &str) -> (InvoiceSnapshot, Option<DeclineInfo>) {
    match kind(body) {
        EventKind::InvoicePaymentFailed { invoice, decline } => (invoice, decline),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn envelope_of_a_fixture() {
    let env = Stripe
        .envelope(fixture!("invoice.payment_failed").as_bytes())
        .unwrap();
    assert_eq!(env.id, "evt_1R3xZ3PgT2m9Xw0aHf6Jk9Lm");
    assert_eq!(env.event_type, "invoice.payment_failed");
    assert_eq!(env.created.unwrap().timestamp(), 1_744_711_203);
    assert_eq!(env.livemode, Some(false));
    assert_eq!(env.api_version.as_deref(), Some("2025-03-31.basil"));
    assert_eq!(env.object_id.as_deref(), Some(INV));
    let minimal = Stripe.envelope(br#"{"id":"evt_1","type":"x.y"}"#).unwrap();
    assert_eq!(
        (minimal.created, minimal.object_id, minimal.api_version),
        (None, None, None)
    );
}

#[test]
fn bad_envelopes_say_what_is_wrong() {
    let cases: &[(&[u8], &str)] = &[
        (b"not json at all", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"[1,2]", "not an object"),
        (b"\"evt_1\"", "not an object"),
        (br#"{"type":"invoice.paid"}"#, "no `id`"),
        (
            br#"{"id":42,"type":"invoice.paid"}"#,
            "`id` is not a non-empty string",
        ),
        (br#"{"id":"evt_1"}"#, "no `type`"),
        (
            br#"{"id":"evt_1","type":""}"#,
            "`type` is not a non-empty string",
        ),
        (
            br#"{"id":"in_1","object":"invoice","type":"x"}"#,
            "expected \"event\"",
        ),
    ];
    for (body, expected) in cases {
        let err = Stripe.envelope(body).unwrap_err();
        assert!(err.0.contains(expected), "{err}");
        assert_eq!(Stripe.normalize(body).unwrap_err(), err);
    }
    // The message never echoes the payload.
    let err = Stripe.envelope(b"{\"secret\": whsec_leak}").unwrap_err();
    assert!(!err.0.contains("whsec"));
}

#[test]
fn invoice_payment_failed_newer_shape() {
    let (inv, decline) = failed_invoice(fixture!("invoice.payment_failed"));
    assert_eq!(decline, None);
    assert_eq!(inv.id, INV);
    assert_eq!(inv.customer_id, CUS);
    assert_eq!(
        inv.customer_email.as_deref(),
        Some("jenny.rosen@example.com")
    );
    assert_eq!(inv.customer_name.as_deref(), Some("Jenny Rosen"));
    assert_eq!(inv.customer_country.as_deref(), Some("US"));
    assert_eq!(inv.subscription_id.as_deref(), Some(SUB));
    assert_eq!(
        (inv.amount_due, inv.amount_paid, inv.amount_remaining),
        (4900, Some(0), Some(4900))
    );
    assert_eq!(inv.currency, "usd");
    assert_eq!(inv.status, Some(InvoiceStatus::Open));
    assert_eq!(inv.attempt_count, Some(1));
    assert_eq!(inv.next_payment_attempt.unwrap().timestamp(), 1_744_970_400);
    assert_eq!((inv.payment_intent_id, inv.charge_id), (None, None));
    assert_eq!(inv.billing_reason.as_deref(), Some("subscription_cycle"));
    assert!(
        inv.hosted_invoice_url
            .unwrap()
            .starts_with("https://invoice.stripe.com/")
    );
    assert_eq!(inv.created.unwrap().timestamp(), 1_744_707_600);
    assert_eq!(inv.period_end.unwrap().timestamp(), 1_744_707_600);
    assert_eq!(
        inv.metadata.get("plan_tier").map(String::as_str),
        Some("pro")
    );
    assert!(inv.customer_metadata.is_empty());
    assert_eq!(inv.price_ids, [PRICE]);
    assert_eq!(inv.product_ids, [PROD]);
}

#[test]
fn invoice_payment_failed_legacy_shape_reads_the_same() {
    let (legacy, _) = failed_invoice(fixture!("invoice.payment_failed.legacy"));
    let (newer, _) = failed_invoice(fixture!("invoice.payment_failed"));
    assert_eq!(legacy.subscription_id.as_deref(), Some(SUB));
    assert_eq!(legacy.payment_intent_id.as_deref(), Some(PI));
    assert_eq!(legacy.charge_id.as_deref(), Some(CH));
    assert_eq!(
        InvoiceSnapshot {
            payment_intent_id: None,
            charge_id: None,
            ..legacy
        },
        newer
    );
}

#[test]
fn invoice_with_expanded_objects() {
    let event = edit(fixture!("invoice.payment_failed.legacy"), |v| {
        let inv = &mut v["data"]["object"];
        inv["customer"] = json!({"id": CUS, "object": "customer", "email": "other@example.com",
                                 "address": {"country": "FR"}, "metadata": {"crm_id": "42", "vip": true}});
        inv["customer_email"] = Value::Null;
        inv["customer_address"] = Value::Null;
        inv["subscription"] = json!({"id": SUB, "object": "subscription", "status": "past_due"});
        inv["payment_intent"] = json!({"id": PI, "object": "payment_intent", "last_payment_error": {
            "code": "card_declined", "decline_code": "do_not_honor", "network_decline_code": "05"}});
        inv["charge"] = json!({"id": CH, "object": "charge", "failure_code": "card_declined",
            "outcome": {"type": "issuer_declined", "reason": "do_not_honor", "network_advice_code": "03"}});
        inv["lines"]["data"][0]["price"]["product"] = json!({"id": PROD, "object": "product"});
        inv["amount_due"] = json!("4900");
    });
    let Ok(Some(EventKind::InvoicePaymentFailed { invoice, decline })) = kind_of(&event) else {
        panic!()
    };
    assert_eq!(invoice.customer_id, CUS);
    assert_eq!(invoice.customer_email.as_deref(), Some("other@example.com"));
    assert_eq!(invoice.customer_country.as_deref(), Some("FR"));
    assert_eq!(
        invoice.customer_metadata.get("vip").map(String::as_str),
        Some("true")
    );
    assert_eq!(invoice.subscription_id.as_deref(), Some(SUB));
    assert_eq!(
        (
            invoice.payment_intent_id.as_deref(),
            invoice.charge_id.as_deref()
        ),
        (Some(PI), Some(CH))
    );
    assert_eq!(invoice.product_ids, [PROD]);
    assert_eq!(invoice.amount_due, 4900);
    let decline = decline.expect("decline from expanded objects");
    assert_eq!(decline.decline_code.as_deref(), Some("do_not_honor"));
    assert_eq!(decline.network_decline_code.as_deref(), Some("05"));
    assert_eq!(
        decline.network_advice_code.as_deref(),
        Some("03"),
        "completed from the charge"
    );
}

#[test]
fn invoice_tolerates_absent_and_unknown_fields() {
    let event = json!({"id": "evt_1", "object": "event", "type": "invoice.paid", "created": 1_744_801_803,
        "brand_new_field": {"x": [1, 2]},
        "data": {"object": {"id": INV, "customer": CUS, "amount_due": 100, "currency": "EUR",
                            "status": "some_future_status", "lines": "unexpected", "payments": 7}}});
    let Ok(Some(EventKind::InvoicePaid { invoice })) = kind_of(&event) else {
        panic!()
    };
    assert_eq!(invoice.currency, "eur");
    assert_eq!(
        invoice.status,
        Some(InvoiceStatus::Other("some_future_status".into()))
    );
    assert_eq!(
        (
            invoice.subscription_id,
            invoice.attempt_count,
            invoice.next_payment_attempt
        ),
        (None, None, None)
    );
    assert!(invoice.price_ids.is_empty());
}

#[test]
fn known_types_missing_essentials_are_errors() {
    let cases = [
        (
            json!({"id": "evt_1", "type": "invoice.paid", "created": 1}),
            "`invoice.paid` event has no `data.object`",
        ),
        (
            json!({"id": "evt_1", "type": "invoice.voided", "created": 1, "data": {"object": {"customer": CUS}}}),
            "invoice object has no `id`",
        ),
        (
            json!({"id": "evt_1", "type": "invoice.voided", "created": 1,
                "data": {"object": {"id": INV, "amount_due": 1, "currency": "usd"}}}),
            "invoice object has no `customer`",
        ),
        (
            json!({"id": "evt_1", "type": "customer.subscription.deleted", "created": 1, "data": {"object": {"id": SUB}}}),
            "subscription object has no `customer`",
        ),
        (
            json!({"id": "evt_1", "type": "charge.failed", "created": 1, "data": {"object": {"amount": 1}}}),
            "charge object has no `id`",
        ),
        (
            edit(fixture!("invoice.paid"), |v| v["created"] = Value::Null),
            "`invoice.paid` event has no `created` timestamp",
        ),
    ];
    for (event, expected) in cases {
        let err = kind_of(&event).unwrap_err();
        assert!(err.0.contains(expected), "{err}");
    }
}

#[test]
fn unknown_types_and_unused_variants_are_ignored() {
    assert_eq!(
        Stripe.normalize(fixture!("customer.created").as_bytes()),
        Ok(None)
    );
    assert_eq!(
        kind_of(&json!({"id": "evt_1", "type": "brand.new.event"})),
        Ok(None)
    );
    let payment_mode = edit(fixture!("checkout.session.completed"), |v| {
        v["data"]["object"]["mode"] = json!("payment")
    });
    assert_eq!(kind_of(&payment_mode), Ok(None));
}

#[test]
fn header_and_paid_events() {
    let event = Stripe
        .normalize(fixture!("invoice.paid").as_bytes())
        .unwrap()
        .unwrap();
    assert_eq!(event.header.event_id, "evt_1R4B5dPgT2m9Xw0aPa1Id2Xz");
    assert_eq!(event.header.occurred_at.timestamp(), 1_744_801_803);
    assert!(!event.header.livemode);
    let EventKind::InvoicePaid { invoice } = event.kind else {
        panic!()
    };
    assert_eq!(
        (
            invoice.status.clone(),
            invoice.amount_paid,
            invoice.next_payment_attempt
        ),
        (Some(InvoiceStatus::Paid), Some(4900), None)
    );
    let EventKind::InvoicePaid { invoice: same } = kind(fixture!("invoice.payment_succeeded"))
    else {
        panic!()
    };
    assert_eq!(same, invoice);
}

#[test]
fn uncollectible_and_voided() {
    let EventKind::InvoiceMarkedUncollectible { invoice } =
        kind(fixture!("invoice.marked_uncollectible"))
    else {
        panic!()
    };
    assert_eq!(
        (invoice.id.as_str(), invoice.status),
        (INV, Some(InvoiceStatus::Uncollectible))
    );
    let EventKind::InvoiceVoided { invoice } = kind(fixture!("invoice.voided")) else {
        panic!()
    };
    assert_eq!(
        (invoice.status, invoice.amount_remaining),
        (Some(InvoiceStatus::Void), Some(0))
    );
}

#[test]
fn subscription_updated_and_deleted() {
    let EventKind::SubscriptionUpdated {
        subscription: sub,
        previous_status,
    } = kind(fixture!("customer.subscription.updated"))
    else {
        panic!()
    };
    assert_eq!((sub.id.as_str(), sub.customer_id.as_str()), (SUB, CUS));
    assert_eq!(
        (sub.status, previous_status),
        (
            Some(SubscriptionStatus::PastDue),
            Some(SubscriptionStatus::Active)
        )
    );
    assert!(!sub.cancel_at_period_end);
    assert_eq!(sub.latest_invoice_id.as_deref(), Some(INV));
    assert_eq!(sub.default_payment_method_id.as_deref(), Some(PM_OLD));
    assert_eq!(
        sub.current_period_end.unwrap().timestamp(),
        1_744_707_600 + 2_592_000,
        "from the item"
    );
    assert_eq!(
        (sub.price_ids, sub.product_ids),
        (vec![PRICE.to_owned()], vec![PROD.to_owned()])
    );
    assert_eq!(
        sub.metadata.get("workspace").map(String::as_str),
        Some("ws_48213")
    );

    let EventKind::SubscriptionDeleted { subscription: sub } =
        kind(fixture!("customer.subscription.deleted"))
    else {
        panic!()
    };
    assert_eq!(sub.status, Some(SubscriptionStatus::Canceled));
    assert_eq!(sub.ended_at.unwrap().timestamp(), 1_747_386_000);

    let legacy = edit(fixture!("customer.subscription.updated"), |v| {
        v["data"]["object"]["current_period_end"] = json!(1_700_000_000);
        v["data"]["object"]["items"]["data"][0]["current_period_end"] = Value::Null;
        v["data"]["object"]["customer"] = json!({"id": CUS, "object": "customer"});
    });
    let Ok(Some(EventKind::SubscriptionUpdated {
        subscription: sub, ..
    })) = kind_of(&legacy)
    else {
        panic!()
    };
    assert_eq!(
        (
            sub.current_period_end.unwrap().timestamp(),
            sub.customer_id.as_str()
        ),
        (1_700_000_000, CUS)
    );
}

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
        }
    );
    assert_eq!(
        kind(fixture!("checkout.session.completed")),
        EventKind::SetupSucceeded {
            customer_id: Some(CUS.into()),
            payment_method_id: None,
            source: SetupSource::CheckoutSession,
            setup_intent_id: Some(SETI.into()),
        }
    );
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

#[test]
fn normalized_events_round_trip_through_json() {
    for body in [
        fixture!("invoice.payment_failed"),
        fixture!("payment_intent.payment_failed"),
        fixture!("customer.updated"),
    ] {
        let event = Stripe.normalize(body.as_bytes()).unwrap().unwrap();
        let back: NormalizedEvent =
            serde_json::from_str(&serde_json::to_string(&event).unwrap()).unwrap();
        assert_eq!(back, event);
    }
}

#[test]
fn verify_reads_the_header_from_a_header_map() {
    use axum::http::{HeaderMap, HeaderValue};
    let body = fixture!("invoice.paid").as_bytes();
    let mut headers = HeaderMap::new();
    assert_eq!(
        Stripe.verify(&headers, body, &[b"whsec_x"], 10, 300),
        Err(VerifyError::MissingHeader("Stripe-Signature"))
    );
    headers.insert(
        "stripe-signature",
        HeaderValue::from_str(&super::sign(body, b"whsec_x", 10)).unwrap(),
    );
    assert_eq!(
        Stripe.verify(&headers, body, &[b"whsec_y", b"whsec_x"], 10, 300),
        Ok(())
    );
    assert_eq!(Stripe.name(), "stripe");
}
