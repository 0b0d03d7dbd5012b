//! SMS steps through a Twilio-compatible API (a receiver the test starts): a short text with the
//! card-update link, sent once, and a number the API refuses gets no more; on SQLite and PostgreSQL.

use dunning::testing::fake_stripe::Outcome;
use dunning::testing::receiver::Receiver;
use serde_json::json;

use crate::both;
use crate::engine::{Setup, add_invoice, payment_failed, setup_with};
use crate::helpers::Backend;

const PHONE: &str = "+15555550100";

async fn with_sms(b: Backend) -> Option<(Setup, Receiver)> {
    let api = Receiver::start().await;
    api.reply_with(r#"{"sid": "SM0001", "status": "queued"}"#);
    let url = api
        .base_url
        .replace("http://", "twilio+http://AC123:tok_secret@");
    let s = setup_with(
        b,
        &[
            ("sms", url.as_str()),
            ("sms_from", "+15550000000"),
            ("public_url", "https://pay.acme.test"),
        ],
    )
    .await?;
    let r = s
        .app
        .client
        .put(format!("{}/v1/campaigns/texts", s.app.base))
        .bearer_auth(&s.key)
        .json(&json!({"name": "Texts", "priority": 10,
            "steps": [{"offset": {"days": 0}, "type": "sms"}, {"offset": {"days": 2}, "type": "retry"},
                      {"offset": {"days": 3}, "type": "sms"}],
            "max_retries": 1, "max_duration_days": 6, "end_action": "leave_past_due"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    Some((s, api))
}

async fn open_case(s: &Setup, invoice: &str) {
    add_invoice(s, invoice);
    s.stripe.script_pay(
        invoice,
        vec![Outcome::decline("card_declined", Some("do_not_honor")); 4],
    );
    let now = s.now().await;
    let mut event = payment_failed(&format!("evt_{invoice}"), invoice, now);
    event["data"]["object"]["customer_phone"] = json!(PHONE);
    s.send(event).await;
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

fn form(body: &str) -> std::collections::HashMap<String, String> {
    reqwest::Url::parse(&format!("http://x/?{body}"))
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

both!(an_sms_step_texts_the_link_once, |b| async move {
    let Some((s, api)) = with_sms(b).await else {
        return;
    };
    open_case(&s, "in_sms").await;
    s.advance_days(1).await;
    let got = api.requests();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].path, "/2010-04-01/Accounts/AC123/Messages.json");
    // Basic auth with the account SID and token: "AC123:tok_secret".
    assert_eq!(
        got[0].header("authorization").as_deref(),
        Some("Basic QUMxMjM6dG9rX3NlY3JldA==")
    );
    let f = form(&got[0].body);
    assert_eq!(
        (f["To"].as_str(), f["From"].as_str()),
        (PHONE, "+15550000000")
    );
    let text = &f["Body"];
    assert!(text.starts_with("Acme: your payment of $49.00"), "{text}");
    assert!(text.contains("https://pay.acme.test/update/"), "{text}");
    assert!(text.chars().count() < 300, "short: {text}");
    let n = notes(&s, "in_sms").await;
    assert_eq!(n.len(), 1, "{n:?}");
    assert!(n[0].ends_with(&format!("sms sent to {PHONE}")), "{n:?}");
    // The second SMS step, once.
    s.advance_days(5).await;
    assert_eq!(api.requests().len(), 2);
    let c = s.case("in_sms").await;
    let rows = s
        .app
        .store
        .messages_of_case(c["id"].as_str().unwrap())
        .await
        .unwrap();
    let kinds: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.kind.as_str(), r.status.as_str()))
        .collect();
    assert_eq!(kinds, vec![("sms", "sent"), ("sms", "sent")]);
    s.app.stop().await;
});

both!(a_refused_number_gets_no_more_texts, |b| async move {
    let Some((s, api)) = with_sms(b).await else {
        return;
    };
    api.script(&[400]);
    open_case(&s, "in_sms_bad").await;
    s.advance_days(6).await;
    assert_eq!(api.requests().len(), 1);
    let n = notes(&s, "in_sms_bad").await;
    assert_eq!(n.len(), 2, "{n:?}");
    assert!(
        n[0].contains("failed") && n[0].contains("HTTP 400"),
        "{n:?}"
    );
    assert!(
        n[1].contains("refused an earlier message for good"),
        "{n:?}"
    );
    s.app.stop().await;
});
