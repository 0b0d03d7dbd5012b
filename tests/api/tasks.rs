//! Task steps: a signed JSON POST to the tenant's task destination (here a receiver the test starts),
//! retried after a 5xx with the same id and body, delivered once, and shown on the case; on SQLite
//! and PostgreSQL.

use dunning::engine::tasks::{SIGNATURE_HEADER, signature};
use dunning::testing::fake_stripe::Outcome;
use dunning::testing::receiver::Receiver;
use serde_json::{Value, json};

use crate::both;
use crate::engine::{Setup, add_invoice, payment_failed, setup_with};

const SECRET: &str = "tsk_signing_secret_0001";

async fn put_json(s: &Setup, path: &str, body: Value) -> (u16, Value) {
    let r = s
        .app
        .client
        .put(format!("{}{path}", s.app.base))
        .bearer_auth(&s.key)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// A campaign whose first step hands the case to a person.
async fn task_campaign(s: &Setup) {
    let (status, v) = put_json(
        s,
        "/v1/campaigns/handover",
        json!({"name": "Handover", "priority": 10,
            "steps": [{"offset": {"days": 0}, "type": "task", "note": "Call the customer"},
                      {"offset": {"days": 2}, "type": "retry"}],
            "max_retries": 1, "max_duration_days": 5, "end_action": "leave_past_due"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
}

async fn open_case(s: &Setup, invoice: &str) {
    add_invoice(s, invoice);
    s.stripe.script_pay(
        invoice,
        vec![Outcome::decline("card_declined", Some("do_not_honor")); 4],
    );
    let now = s.now().await;
    s.send(payment_failed(&format!("evt_{invoice}"), invoice, now))
        .await;
}

async fn notes(s: &Setup, invoice: &str) -> Vec<String> {
    s.case(invoice).await["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "message")
        .map(|t| t["detail"].as_str().unwrap().to_string())
        .collect()
}

both!(
    a_task_is_posted_signed_once_and_shown_on_the_case,
    |b| async move {
        let Some(s) = setup_with(b, &[]).await else {
            return;
        };
        let hook = Receiver::start().await;
        let url = format!("{}/services/T000/B000/slack-path-secret", hook.base_url);
        for (body, says) in [
            (
                json!({"url": "ftp://example.com/x", "secret": SECRET}),
                "url:",
            ),
            (
                json!({"url": "http://crm.example.com/hook", "secret": SECRET}),
                "http:// only to localhost",
            ),
            (json!({"url": url, "secret": "short"}), "secret:"),
        ] {
            let (status, v) = put_json(&s, "/v1/tasks/destination", body).await;
            assert_eq!(status, 400, "{v}");
            assert_eq!(v["error"]["code"], "invalid_destination");
            assert!(
                v["error"]["message"].as_str().unwrap().contains(says),
                "{v}"
            );
        }
        let (status, v) = put_json(
            &s,
            "/v1/tasks/destination",
            json!({"url": url, "secret": SECRET}),
        )
        .await;
        assert_eq!(status, 200, "{v}");
        let (status, shown) = s.app.get("/v1/tasks/destination", &s.key).await;
        assert_eq!(status, 200);
        assert!(
            !shown.to_string().contains("slack-path-secret") && !shown.to_string().contains(SECRET)
        );
        task_campaign(&s).await;
        hook.script(&[503]);
        open_case(&s, "in_task").await;
        s.advance_days(1).await;
        let got = hook.requests();
        assert_eq!(
            got.iter().map(|r| r.status).collect::<Vec<_>>(),
            vec![503, 200]
        );
        assert_eq!(got[0].path, "/services/T000/B000/slack-path-secret");
        // The retry repeats the delivery: same id, same body.
        assert_eq!(
            got[0].header("idempotency-key"),
            got[1].header("idempotency-key")
        );
        assert_eq!(got[0].body, got[1].body);
        for r in &got {
            let header = r.header(SIGNATURE_HEADER).unwrap();
            let t: i64 = header
                .strip_prefix("t=")
                .and_then(|h| h.split(',').next())
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(header, signature(SECRET.as_bytes(), t, r.body.as_bytes()));
            assert_ne!(header, signature(b"another secret", t, r.body.as_bytes()));
        }
        let v: Value = serde_json::from_str(&got[1].body).unwrap();
        assert_eq!(v["note"], "Call the customer");
        assert_eq!(v["case"]["invoice_id"], "in_task");
        let text = v["text"].as_str().unwrap();
        assert!(
            text.contains("Call the customer") && text.contains("in_task"),
            "{text}"
        );
        let n = notes(&s, "in_task").await;
        assert_eq!(n.len(), 1, "{n:?}");
        assert!(
            n[0].ends_with("task sent to 127.0.0.1: Call the customer"),
            "{n:?}"
        );
        // Later runs do not post again.
        s.advance_days(10).await;
        assert_eq!(hook.requests().len(), 2);
        s.app.stop().await;
    }
);

both!(
    without_a_destination_the_task_is_only_noted,
    |b| async move {
        let Some(s) = setup_with(b, &[]).await else {
            return;
        };
        let (status, _) = s.app.get("/v1/tasks/destination", &s.key).await;
        assert_eq!(status, 404);
        task_campaign(&s).await;
        open_case(&s, "in_task_none").await;
        s.advance_days(1).await;
        let n = notes(&s, "in_task_none").await;
        assert_eq!(n.len(), 1, "{n:?}");
        let expected = "task due (no task destination configured): Call the customer";
        assert!(n[0].ends_with(expected), "{n:?}");
        s.app.stop().await;
    }
);
