//! Customer emails end to end: the engine's email steps delivered over SMTP to a real listener the
//! test starts and reads; on SQLite and PostgreSQL.

use dunning::testing::fake_stripe::{InvoiceStatus, Outcome};
use dunning::testing::smtp::SmtpServer;
use serde_json::{Value, json};

use crate::both;
use crate::engine::{Setup, add_invoice, invoice_event, payment_failed, setup_with};
use crate::helpers::*;

pub(crate) async fn with_smtp(b: Backend) -> Option<(Setup, SmtpServer)> {
    let smtp = SmtpServer::start().await;
    let url = smtp.url();
    let s = setup_with(
        b,
        &[
            ("email", url.as_str()),
            ("email_from", "billing@dunning.test"),
            ("public_url", "https://pay.acme.test"),
        ],
    )
    .await?;
    s.brand(json!({})).await;
    Some((s, smtp))
}

pub(crate) fn subjects(smtp: &SmtpServer) -> Vec<String> {
    smtp.received()
        .iter()
        .map(|m| m.header("Subject").unwrap_or_default())
        .collect()
}

both!(
    a_case_that_never_pays_gets_each_level_once_over_smtp,
    |b| async move {
        let Some((s, smtp)) = with_smtp(b).await else {
            return;
        };
        add_invoice(&s, "in_mail");
        s.stripe.script_pay(
            "in_mail",
            vec![Outcome::decline("card_declined", Some("do_not_honor")); 8],
        );
        let now = s.now().await;
        s.send(payment_failed("evt_mail_1", "in_mail", now)).await;
        s.advance_days(30).await;
        let c = s.case("in_mail").await;
        assert_eq!(c["status"], "churned", "{c}");
        let got = smtp.received();
        // The default campaign's four levels, in order, each once, to the customer; then the news
        // that the end action cancelled the subscription.
        assert_eq!(got.len(), 5, "{:?}", subjects(&smtp));
        assert!(
            got[4].data.contains("subscription_cancelled") || got[4].data.contains("sili"),
            "{:?}",
            subjects(&smtp)
        );
        for m in &got[..4] {
            assert_eq!(m.to, vec!["jenny.rosen@example.com".to_string()]);
            assert_eq!(m.from, "billing@dunning.test");
            assert!(m.header("Reply-To").unwrap().contains("help@acme.test"));
            assert!(
                m.data.contains("https://pay.acme.test/update/"),
                "the card-update link"
            );
        }
        let ids: std::collections::BTreeSet<_> =
            got.iter().filter_map(|m| m.header("Message-ID")).collect();
        assert_eq!(ids.len(), 5, "one Message-ID per step");
        let subjects = subjects(&smtp);
        // MIME-encoded subjects carry non-ASCII French; decode-free checks on the ASCII parts.
        assert!(
            got[0].data.contains("n=E2=80=99a pas abouti")
                || got[0].data.contains("n’a pas abouti"),
            "{subjects:?}"
        );
        assert!(got[3].data.contains("Dernier avis"), "{subjects:?}");
        // Each sent message is on the case's timeline.
        let sent = c["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["kind"] == "message" && t["detail"].as_str().unwrap().contains("sent"))
            .count();
        assert_eq!(sent, 5, "{c}");
        s.app.stop().await;
    }
);

both!(recovery_stops_the_emails, |b| async move {
    let Some((s, smtp)) = with_smtp(b).await else {
        return;
    };
    add_invoice(&s, "in_paid");
    s.stripe.script_pay(
        "in_paid",
        vec![Outcome::decline("card_declined", Some("do_not_honor")); 8],
    );
    let now = s.now().await;
    s.send(payment_failed("evt_paid_1", "in_paid", now)).await;
    s.advance_days(1).await;
    let before = smtp.received().len();
    assert_eq!(
        before,
        1,
        "the first, friendly email: {:?}",
        subjects(&smtp)
    );
    // The customer pays on their own.
    s.stripe.set_invoice_status("in_paid", InvoiceStatus::Paid);
    let paid_at = s.now().await;
    s.send(invoice_event(
        "invoice.paid",
        "evt_paid_2",
        "in_paid",
        paid_at,
        2,
    ))
    .await;
    s.advance_days(30).await;
    let c = s.case("in_paid").await;
    assert_eq!(c["status"], "recovered", "{c}");
    // No more reminders: only the receipt.
    assert_eq!(smtp.received().len(), before + 1, "{:?}", subjects(&smtp));
    let receipt = &smtp.received()[before];
    assert!(
        receipt.data.contains("Paiement re") || receipt.data.contains("Paiement_re"),
        "{}",
        receipt.data
    );
    s.app.stop().await;
});

both!(
    a_refused_address_is_recorded_and_not_retried,
    |b| async move {
        let Some((s, smtp)) = with_smtp(b).await else {
            return;
        };
        smtp.refuse("jenny.rosen@example.com", "550 5.1.1 no such mailbox");
        add_invoice(&s, "in_bad");
        s.stripe.script_pay(
            "in_bad",
            vec![Outcome::decline("card_declined", Some("do_not_honor")); 8],
        );
        let now = s.now().await;
        s.send(payment_failed("evt_bad_1", "in_bad", now)).await;
        s.advance_days(1).await;
        assert!(smtp.received().is_empty());
        let c = s.case("in_bad").await;
        let failed: Vec<&Value> = c["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["kind"] == "message")
            .collect();
        assert_eq!(failed.len(), 1, "{c}");
        let detail = failed[0]["detail"].as_str().unwrap();
        assert!(
            detail.contains("failed") && detail.contains("550"),
            "{detail}"
        );
        // Later steps do not try that address again.
        s.advance_days(30).await;
        assert!(smtp.received().is_empty());
        let c = s.case("in_bad").await;
        let notes: Vec<&str> = c["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["kind"] == "message")
            .map(|t| t["detail"].as_str().unwrap())
            .collect();
        assert_eq!(
            notes.iter().filter(|d| d.contains("550")).count(),
            1,
            "{notes:?}"
        );
        let skipped = notes
            .iter()
            .filter(|d| d.contains("refused an earlier message"))
            .count();
        assert!(skipped >= 2, "{notes:?}");
        s.app.stop().await;
    }
);
