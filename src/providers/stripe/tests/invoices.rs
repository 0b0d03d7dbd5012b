//! Invoice and subscription events, in both API shapes.

use super::*;

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
