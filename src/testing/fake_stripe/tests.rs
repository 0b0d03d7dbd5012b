//! The fake's own HTTP behaviour, seen with a plain HTTP client.

use serde_json::Value;

use super::{FakeStripe, Outcome};

async fn post(
    base: &str,
    path: &str,
    key: Option<&str>,
    body: &str,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{base}v1{path}"))
        .bearer_auth("sk_test_fake")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned());
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.json().await.unwrap())
}

#[tokio::test]
async fn replays_saved_answers_and_refuses_a_reused_key() {
    let (fake, base) = FakeStripe::start().await;
    fake.add_invoice("in_1", "cus_1", None, 1000, "usd");
    fake.script_pay(
        "in_1",
        vec![Outcome::ServerError {
            should_retry: Some(false),
        }],
    );

    let (status, headers, first) = post(&base, "/invoices/in_1/pay", Some("k1"), "").await;
    assert_eq!(status, 500);
    assert_eq!(headers["stripe-should-retry"], "false");
    assert!(headers.get("idempotent-replayed").is_none());

    let (status, headers, again) = post(&base, "/invoices/in_1/pay", Some("k1"), "").await;
    assert_eq!((status, &again), (500, &first));
    assert_eq!(headers["idempotent-replayed"], "true");

    let (status, _, other) = post(&base, "/invoices/in_1/pay", Some("k1"), "forgive=true").await;
    assert_eq!(status, 400);
    assert_eq!(other["error"]["type"], "idempotency_error");

    let (status, _, paid) = post(&base, "/invoices/in_1/pay", Some("k2"), "").await;
    assert_eq!(status, 200);
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid["amount_paid"], 1000);
    assert_eq!(fake.charges("in_1"), 1);
    assert_eq!(fake.pay_executions("in_1"), 2);
    assert_eq!(fake.keys_seen("in_1"), vec!["k1", "k2"]);
}

#[tokio::test]
async fn unsaved_failures_execute_again() {
    let (fake, base) = FakeStripe::start().await;
    fake.add_invoice("in_1", "cus_1", None, 1000, "usd");
    fake.script_pay(
        "in_1",
        vec![Outcome::ServerErrorUnsaved, Outcome::RateLimited],
    );
    let (s1, h1, _) = post(&base, "/invoices/in_1/pay", Some("k"), "").await;
    let (s2, _, _) = post(&base, "/invoices/in_1/pay", Some("k"), "").await;
    let (s3, _, _) = post(&base, "/invoices/in_1/pay", Some("k"), "").await;
    assert_eq!((s1, s2, s3), (500, 429, 200));
    assert_eq!(h1["stripe-should-retry"], "true");
    assert_eq!(fake.charges("in_1"), 1);
}

#[tokio::test]
async fn errors_in_stripes_shape() {
    let (_fake, base) = FakeStripe::start().await;
    let client = reqwest::Client::new();
    let response = client
        .get(format!("{base}v1/invoices/in_1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);

    let response = client
        .get(format!("{base}v1/invoices/in_nope"))
        .bearer_auth("sk_test_x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "resource_missing");
    assert_eq!(body["error"]["type"], "invalid_request_error");

    let response = client
        .get(format!("{base}v1/charges"))
        .bearer_auth("sk_test_x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
}

#[tokio::test]
async fn invoices_carry_the_subscription_in_the_current_shape() {
    let (fake, base) = FakeStripe::start().await;
    fake.add_invoice("in_1", "cus_1", Some("sub_1"), 1000, "usd");
    let body: Value = reqwest::Client::new()
        .get(format!("{base}v1/invoices/in_1"))
        .bearer_auth("sk_test_x")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["parent"]["subscription_details"]["subscription"],
        "sub_1"
    );
    assert_eq!(body["status"], "open");
    assert_eq!(body["customer"], "cus_1");
    assert!(body.get("subscription").is_none());
}
