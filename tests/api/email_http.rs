//! Customer emails over the HTTP email API transport (`resend+http://…`), against a local fake of the
//! API the test starts and reads; on SQLite and PostgreSQL.

use dunning::testing::email_api::{FakeEmailApi, Fault};
use dunning::testing::fake_stripe::{InvoiceStatus, Outcome};
use serde_json::json;

use crate::both;
use crate::engine::{Setup, add_invoice, invoice_event, payment_failed, setup_with};
use crate::helpers::*;

const TO: &str = "jenny.rosen@example.com";

const HOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

pub(crate) async fn with_api(b: Backend) -> Option<(Setup, FakeEmailApi)> {
    let api = FakeEmailApi::start().await;
    let url = api.url();
    let s = setup_with(
        b,
        &[
            ("email", url.as_str()),
            ("email_from", "billing@dunning.test"),
            ("public_url", "https://pay.acme.test"),
            ("email_webhook_secret", HOOK_SECRET),
        ],
    )
    .await?;
    s.brand(json!({})).await;
    Some((s, api))
}

fn subjects(api: &FakeEmailApi) -> Vec<String> {
    api.accepted()
        .iter()
        .map(|m| m.subject().to_string())
        .collect()
}

/// Opens a case for `invoice` that declines every retry.
async fn failing_case(s: &Setup, invoice: &str) {
    add_invoice(s, invoice);
    s.stripe.script_pay(
        invoice,
        vec![Outcome::decline("card_declined", Some("do_not_honor")); 8],
    );
    let now = s.now().await;
    s.send(payment_failed(&format!("evt_{invoice}"), invoice, now))
        .await;
}

async fn message_notes(s: &Setup, invoice: &str) -> Vec<String> {
    let c = s.case(invoice).await;
    c["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "message")
        .map(|t| t["detail"].as_str().unwrap().to_string())
        .collect()
}

both!(
    a_case_that_never_pays_gets_each_level_once_over_the_http_api,
    |b| async move {
        let Some((s, api)) = with_api(b).await else {
            return;
        };
        failing_case(&s, "in_api").await;
        s.advance_days(30).await;
        let c = s.case("in_api").await;
        assert_eq!(c["status"], "churned", "{c}");
        let got = api.accepted();
        // Four levels, then the news that the subscription was cancelled.
        assert_eq!(got.len(), 5, "{:?}", subjects(&api));
        assert!(got[4].subject().contains("résilié"), "{:?}", subjects(&api));
        for m in &got[..4] {
            assert_eq!(m.to(), vec![TO.to_string()]);
            assert_eq!(m.body["from"], "\"Acme Analytics\" <billing@dunning.test>");
            assert_eq!(m.body["reply_to"], "help@acme.test");
            assert_eq!(m.body["headers"]["Auto-Submitted"], "auto-generated");
            for part in ["html", "text"] {
                let body = m.body[part].as_str().unwrap();
                assert!(body.contains("https://pay.acme.test/update/"), "{part}");
            }
        }
        let keys: std::collections::BTreeSet<_> = got
            .iter()
            .filter_map(|m| m.idempotency_key.clone())
            .collect();
        assert_eq!(keys.len(), 5, "one Idempotency-Key per step");
        assert!(
            got[0].subject().contains("n’a pas abouti"),
            "{:?}",
            subjects(&api)
        );
        assert!(
            got[3].subject().contains("Dernier avis"),
            "{:?}",
            subjects(&api)
        );
        // Each sent message is on the timeline, and the outbox keeps the API's id for it.
        let notes = message_notes(&s, "in_api").await;
        assert_eq!(
            notes.iter().filter(|d| d.contains("sent")).count(),
            5,
            "{notes:?}"
        );
        let case_id = c["id"].as_str().unwrap();
        let rows = s.app.store.messages_of_case(case_id).await.unwrap();
        assert_eq!(rows.len(), 5);
        let mut ids = Vec::new();
        for r in &rows {
            assert_eq!(r.status, "sent", "{r:?}");
            ids.push(s.app.store.provider_message_id(&r.id).await.unwrap());
        }
        let mut expected: Vec<_> = got.iter().map(|m| Some(m.id.clone())).collect();
        ids.sort();
        expected.sort();
        assert_eq!(ids, expected);
        s.app.stop().await;
    }
);

both!(
    recovery_stops_the_emails_over_the_http_api,
    |b| async move {
        let Some((s, api)) = with_api(b).await else {
            return;
        };
        failing_case(&s, "in_api_paid").await;
        s.advance_days(1).await;
        assert_eq!(api.accepted().len(), 1, "{:?}", subjects(&api));
        s.stripe
            .set_invoice_status("in_api_paid", InvoiceStatus::Paid);
        let paid_at = s.now().await;
        s.send(invoice_event(
            "invoice.paid",
            "evt_api_paid_2",
            "in_api_paid",
            paid_at,
            2,
        ))
        .await;
        s.advance_days(30).await;
        let c = s.case("in_api_paid").await;
        assert_eq!(c["status"], "recovered", "{c}");
        // No more reminders: only the receipt.
        assert_eq!(api.accepted().len(), 2, "{:?}", subjects(&api));
        assert!(api.accepted()[1].subject().contains("Paiement reçu"));
        s.app.stop().await;
    }
);

both!(
    a_server_error_is_retried_and_delivered_once,
    |b| async move {
        let Some((s, api)) = with_api(b).await else {
            return;
        };
        api.fault(TO, Fault::Status(500), 1);
        // The next attempt is accepted, but its answer never arrives: the one after must not send again.
        api.fault(TO, Fault::LoseAnswer, 1);
        failing_case(&s, "in_api_5xx").await;
        s.advance_days(1).await;
        let got = api.accepted();
        assert_eq!(got.len(), 1, "{:?}", subjects(&api));
        let requests = api.requests();
        let statuses: Vec<u16> = requests.iter().map(|r| r.1).collect();
        assert_eq!(statuses, vec![500, 503, 200], "{requests:?}");
        assert!(
            requests.iter().all(|r| r.0 == got[0].idempotency_key),
            "every attempt carries the same key: {requests:?}"
        );
        let c = s.case("in_api_5xx").await;
        let rows = s
            .app
            .store
            .messages_of_case(c["id"].as_str().unwrap())
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].status.as_str(), rows[0].attempts), ("sent", 3));
        let notes = message_notes(&s, "in_api_5xx").await;
        assert_eq!(
            notes.iter().filter(|d| d.contains("sent")).count(),
            1,
            "{notes:?}"
        );
        s.app.stop().await;
    }
);

both!(an_invalid_address_is_refused_for_good, |b| async move {
    let Some((s, api)) = with_api(b).await else {
        return;
    };
    api.refuse(TO);
    failing_case(&s, "in_api_422").await;
    s.advance_days(1).await;
    assert!(api.accepted().is_empty());
    let notes = message_notes(&s, "in_api_422").await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].contains("failed") && notes[0].contains("422"),
        "{notes:?}"
    );
    let tried = api.requests().len();
    // Later steps do not try that address again.
    s.advance_days(30).await;
    assert_eq!(api.requests().len(), tried);
    let notes = message_notes(&s, "in_api_422").await;
    let skipped: Vec<&String> = notes
        .iter()
        .filter(|d| d.contains("refused an earlier message"))
        .collect();
    assert!(skipped.len() >= 2, "{notes:?}");
    s.app.stop().await;
});

/// Posts a delivery event as the email API signs it.
async fn delivery_event(
    s: &Setup,
    event_id: &str,
    kind: &str,
    email_id: &str,
    secret: &str,
) -> u16 {
    let body = serde_json::to_vec(&json!({"type": kind, "created_at": "2026-11-24T10:00:00Z",
        "data": {"email_id": email_id, "to": [TO]}}))
    .unwrap();
    let ts = chrono::Utc::now().timestamp();
    let sig = dunning::email::delivery::sign(secret, event_id, ts, &body).unwrap();
    s.app
        .client
        .post(format!("{}/webhooks/email/resend", s.app.base))
        .header("svix-id", event_id)
        .header("svix-timestamp", ts.to_string())
        .header("svix-signature", sig)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

both!(
    delivery_events_reach_the_timeline_and_a_bounce_refuses_the_address,
    |b| async move {
        let Some((s, api)) = with_api(b).await else {
            return;
        };
        failing_case(&s, "in_hook").await;
        s.advance_days(1).await;
        let got = api.accepted();
        assert_eq!(got.len(), 1, "{:?}", subjects(&api));
        let email_id = got[0].id.clone();
        // A forged event changes nothing.
        let forged = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert_eq!(
            delivery_event(&s, "msg_0", "email.bounced", &email_id, forged).await,
            401
        );
        assert_eq!(
            delivery_event(&s, "msg_1", "email.delivered", &email_id, HOOK_SECRET).await,
            200
        );
        // The same event again (a webhook retry) is one line.
        assert_eq!(
            delivery_event(&s, "msg_1", "email.delivered", &email_id, HOOK_SECRET).await,
            200
        );
        assert_eq!(
            delivery_event(&s, "msg_2", "email.opened", &email_id, HOOK_SECRET).await,
            200
        );
        assert_eq!(
            delivery_event(&s, "msg_3", "email.sent", &email_id, HOOK_SECRET).await,
            200
        );
        assert_eq!(
            delivery_event(&s, "msg_4", "email.delivered", "re_unknown", HOOK_SECRET).await,
            200
        );
        let notes = message_notes(&s, "in_hook").await;
        assert_eq!(
            notes
                .iter()
                .filter(|d| d.ends_with("email delivered"))
                .count(),
            1,
            "{notes:?}"
        );
        assert!(
            notes.iter().any(|d| d.ends_with("email opened")),
            "{notes:?}"
        );
        // Then the mailbox bounces it: the address gets nothing more.
        assert_eq!(
            delivery_event(&s, "msg_5", "email.bounced", &email_id, HOOK_SECRET).await,
            200
        );
        s.advance_days(30).await;
        assert_eq!(api.accepted().len(), 1, "{:?}", subjects(&api));
        let notes = message_notes(&s, "in_hook").await;
        assert!(
            notes.iter().any(|d| d.ends_with("email bounced")),
            "{notes:?}"
        );
        assert!(
            notes
                .iter()
                .any(|d| d.contains("refused an earlier message")),
            "{notes:?}"
        );
        s.app.stop().await;
    }
);
