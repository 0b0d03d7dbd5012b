//! Messages that answer what happened rather than escalate: a thank-you for a new card, a receipt
//! when the payment goes through, and the news that the subscription ended. Over SMTP, on SQLite and
//! PostgreSQL.

use dunning::testing::fake_stripe::Outcome;
use serde_json::{Value, json};

use crate::both;
use crate::email::{subjects, with_smtp};
use crate::engine::{add_invoice, payment_failed};
use crate::helpers::*;

fn kinds(c: &Value) -> Vec<String> {
    c["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "message")
        .map(|t| t["detail"].as_str().unwrap().to_owned())
        .collect()
}

both!(
    a_new_card_is_thanked_then_the_payment_receipted,
    |b| async move {
        let Some((s, smtp)) = with_smtp(b).await else {
            return;
        };
        // No retry has run yet when the card changes; the new card then pays.
        add_invoice(&s, "in_thanks");
        let now = s.now().await;
        s.send(payment_failed("evt_thanks_1", "in_thanks", now))
            .await;
        s.advance_days(1).await;
        let before = smtp.received().len();
        assert_eq!(before, 1, "the first level: {:?}", subjects(&smtp));
        // The customer changes their card in the tenant's app: Stripe says so.
        let mut updated: Value = serde_json::from_slice(&fixture("customer.updated.json")).unwrap();
        updated["id"] = json!("evt_thanks_card");
        updated["created"] = json!(s.now().await.timestamp());
        s.send(updated).await;
        // Two minutes later the thank-you; the retry (five minutes after the update) then succeeds.
        s.advance_minutes(3).await;
        let got = smtp.received();
        assert_eq!(got.len(), before + 1, "{:?}", subjects(&smtp));
        assert!(
            got[before].data.contains("carte") || got[before].data.contains("card"),
            "{}",
            got[before].data
        );
        s.advance_minutes(30).await;
        let c = s.case("in_thanks").await;
        assert_eq!(c["status"], "recovered", "{c}");
        let got = smtp.received();
        assert_eq!(got.len(), before + 2, "{:?}", subjects(&smtp));
        let timeline = kinds(&c);
        assert!(
            timeline
                .iter()
                .any(|d| d.contains("card_updated email sent")),
            "{timeline:?}"
        );
        assert!(
            timeline
                .iter()
                .any(|d| d.contains("payment_received email sent")),
            "{timeline:?}"
        );
        // Nothing more: the campaign's remaining levels were cancelled with the case.
        s.advance_days(30).await;
        assert_eq!(smtp.received().len(), before + 2, "{:?}", subjects(&smtp));
        s.app.stop().await;
    }
);

both!(a_cancelled_subscription_is_announced_once, |b| async move {
    let Some((s, smtp)) = with_smtp(b).await else {
        return;
    };
    add_invoice(&s, "in_gone");
    s.stripe.script_pay(
        "in_gone",
        vec![Outcome::decline("card_declined", Some("do_not_honor")); 8],
    );
    let now = s.now().await;
    s.send(payment_failed("evt_gone_1", "in_gone", now)).await;
    s.advance_days(30).await;
    let c = s.case("in_gone").await;
    assert_eq!(c["status"], "churned", "{c}");
    let timeline = kinds(&c);
    let cancelled: Vec<_> = timeline
        .iter()
        .filter(|d| d.contains("subscription_cancelled email sent"))
        .collect();
    assert_eq!(cancelled.len(), 1, "{timeline:?}");
    // The four levels, then the news.
    assert_eq!(smtp.received().len(), 5, "{:?}", subjects(&smtp));
    s.app.stop().await;
});
