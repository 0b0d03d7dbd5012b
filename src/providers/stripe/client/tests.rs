//! `StripeApi` against the fake Stripe over real HTTP.

use std::time::Duration;

use chrono::DateTime;

use super::{StripeApi, StripeApiConfig, redact};
use crate::providers::api::{
    ApiFailure, Credentials, InvoiceState, PauseBehavior, PayResult, ProcessorApi,
};
use crate::testing::{FakeStripe, InvoiceStatus, Outcome};

const SECRET: &str = "sk_test_51SecretKeyThatMustNeverLeak0123456789";

fn api() -> StripeApi {
    StripeApi::new(StripeApiConfig {
        timeout: Duration::from_millis(300),
        max_retries: 3,
        backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
    })
}

async fn setup() -> (FakeStripe, StripeApi, Credentials) {
    let (fake, base) = FakeStripe::start().await;
    fake.add_invoice("in_1", "cus_1", Some("sub_1"), 2500, "eur");
    (fake, api(), Credentials::new(SECRET, Some(base)))
}

fn pay_requests(fake: &FakeStripe, invoice: &str) -> Vec<crate::testing::RecordedRequest> {
    let path = format!("/v1/invoices/{invoice}/pay");
    fake.requests()
        .into_iter()
        .filter(|r| r.path == path)
        .collect()
}

#[tokio::test]
async fn reads_an_open_invoice() {
    let (fake, api, c) = setup().await;
    assert_eq!(
        api.get_invoice(&c, "in_1").await.unwrap(),
        InvoiceState::Open {
            amount_due: 2500,
            currency: "eur".to_owned(),
            next_payment_attempt: None,
            subscription_id: Some("sub_1".to_owned()),
            customer_id: "cus_1".to_owned(),
        }
    );
    fake.set_next_payment_attempt("in_1", Some(1_900_000_000));
    let InvoiceState::Open {
        next_payment_attempt,
        ..
    } = api.get_invoice(&c, "in_1").await.unwrap()
    else {
        panic!("not open");
    };
    assert_eq!(
        next_payment_attempt,
        DateTime::from_timestamp(1_900_000_000, 0)
    );
    let get = &fake.requests()[0];
    assert_eq!(
        (get.method.as_str(), get.idempotency_key.as_deref()),
        ("GET", None)
    );
}

#[tokio::test]
async fn reads_closed_and_missing_invoices() {
    let (fake, api, c) = setup().await;
    for (status, expected) in [
        (InvoiceStatus::Paid, InvoiceState::Paid),
        (InvoiceStatus::Uncollectible, InvoiceState::Uncollectible),
        (InvoiceStatus::Void, InvoiceState::Void),
    ] {
        fake.set_invoice_status("in_1", status);
        assert_eq!(api.get_invoice(&c, "in_1").await.unwrap(), expected);
    }
    let err = api.get_invoice(&c, "in_missing").await.unwrap_err();
    assert!(
        matches!(&err, ApiFailure::Permanent { status: 404, code: Some(code), .. } if code == "resource_missing"),
        "{err:?}"
    );
}

#[tokio::test]
async fn success_is_paid_with_the_key_sent() {
    let (fake, api, c) = setup().await;
    assert_eq!(
        api.pay_invoice(&c, "in_1", "att_1").await.unwrap(),
        PayResult::Paid
    );
    assert_eq!(fake.charges("in_1"), 1);
    let pays = pay_requests(&fake, "in_1");
    assert_eq!(pays.len(), 1);
    assert_eq!(pays[0].idempotency_key.as_deref(), Some("att_1"));
    assert!(
        pays[0].body.contains("off_session=true"),
        "{}",
        pays[0].body
    );
    assert_eq!(fake.invoice_status("in_1"), Some(InvoiceStatus::Paid));
}

#[tokio::test]
async fn decline_carries_the_codes_and_is_not_resent() {
    let (fake, api, c) = setup().await;
    fake.script_pay(
        "in_1",
        vec![Outcome::Decline {
            code: "card_declined".to_owned(),
            decline_code: Some("insufficient_funds".to_owned()),
            advice_code: Some("try_again_later".to_owned()),
            network_advice_code: Some("24".to_owned()),
        }],
    );
    let PayResult::Declined(decline) = api.pay_invoice(&c, "in_1", "att_1").await.unwrap() else {
        panic!("not declined");
    };
    assert_eq!(decline.failure_code.as_deref(), Some("card_declined"));
    assert_eq!(decline.decline_code.as_deref(), Some("insufficient_funds"));
    assert_eq!(decline.advice_code.as_deref(), Some("try_again_later"));
    assert_eq!(decline.network_advice_code.as_deref(), Some("24"));
    assert_eq!(
        decline.message.as_deref(),
        Some("Your card has insufficient funds.")
    );
    let card = decline.card.expect("card from the payment method");
    assert_eq!(card.brand.as_deref(), Some("visa"));
    assert_eq!(card.network.as_deref(), Some("visa"));
    assert_eq!(card.last4.as_deref(), Some("0341"));
    assert_eq!(card.payment_method_id.as_deref(), Some("pm_1"));
    assert_eq!(fake.charges("in_1"), 0);
    assert_eq!(pay_requests(&fake, "in_1").len(), 1);
    assert_eq!(fake.invoice_status("in_1"), Some(InvoiceStatus::Open));
}

#[tokio::test]
async fn bare_card_declined_has_no_decline_code() {
    let (fake, api, c) = setup().await;
    fake.script_pay("in_1", vec![Outcome::decline("expired_card", None)]);
    let PayResult::Declined(decline) = api.pay_invoice(&c, "in_1", "att_1").await.unwrap() else {
        panic!("not declined");
    };
    assert_eq!(decline.failure_code.as_deref(), Some("expired_card"));
    assert_eq!(decline.decline_code, None);
}

#[tokio::test]
async fn two_unsaved_500s_then_200_is_one_charge_with_one_key() {
    let (fake, api, c) = setup().await;
    fake.script_pay(
        "in_1",
        vec![
            Outcome::ServerErrorUnsaved,
            Outcome::ServerErrorUnsaved,
            Outcome::Succeed,
        ],
    );
    assert_eq!(
        api.pay_invoice(&c, "in_1", "att_1").await.unwrap(),
        PayResult::Paid
    );
    assert_eq!(fake.charges("in_1"), 1);
    let pays = pay_requests(&fake, "in_1");
    assert_eq!(
        pays.iter()
            .map(|r| (r.status, r.idempotency_key.as_deref()))
            .collect::<Vec<_>>(),
        vec![
            (500, Some("att_1")),
            (500, Some("att_1")),
            (200, Some("att_1"))
        ]
    );
    assert_eq!(fake.keys_seen("in_1"), vec!["att_1".to_owned()]);
}

#[tokio::test]
async fn calls_reuse_one_connection() {
    let (fake, api, c) = setup().await;
    for _ in 0..3 {
        api.get_invoice(&c, "in_1").await.unwrap();
    }
    api.pay_invoice(&c, "in_1", "att_1").await.unwrap();
    let peers: Vec<_> = fake.requests().iter().map(|r| r.peer).collect();
    assert_eq!(peers.len(), 4);
    assert!(
        peers.iter().all(|p| *p == peers[0]),
        "one connection for sequential calls: {peers:?}"
    );
}

#[tokio::test]
async fn rate_limits_are_resent_with_the_same_key() {
    let (fake, api, c) = setup().await;
    fake.script_pay("in_1", vec![Outcome::RateLimited, Outcome::RateLimited]);
    assert_eq!(
        api.pay_invoice(&c, "in_1", "att_1").await.unwrap(),
        PayResult::Paid
    );
    assert_eq!(fake.charges("in_1"), 1);
    assert_eq!(fake.keys_seen("in_1"), vec!["att_1".to_owned()]);
    assert_eq!(pay_requests(&fake, "in_1").len(), 3);
}

#[tokio::test]
async fn a_saved_500_is_uncertain_and_never_executes_twice() {
    for should_retry in [None, Some(true), Some(false)] {
        let (fake, api, c) = setup().await;
        fake.script_pay("in_1", vec![Outcome::ServerError { should_retry }]);
        let result = api.pay_invoice(&c, "in_1", "att_1").await.unwrap();
        let PayResult::Uncertain {
            retry_same_key,
            reason,
        } = result
        else {
            panic!("{result:?}");
        };
        assert!(!retry_same_key, "the 500 is saved under the key");
        assert!(reason.contains("500"), "{reason}");
        let pays = pay_requests(&fake, "in_1");
        if should_retry == Some(false) {
            // Stripe said re-sending will not help: not sent again.
            assert_eq!(pays.len(), 1, "{should_retry:?}");
        } else {
            // Sent again once with the same key, answered from the saved response, then given up.
            assert_eq!(pays.len(), 2, "{should_retry:?}");
            assert!(pays[1].replayed);
        }
        assert_eq!(fake.pay_executions("in_1"), 1);
        assert_eq!(fake.charges("in_1"), 0);

        // The engine re-reads the invoice (still open), and only then a new attempt gets a new key.
        assert!(matches!(
            api.get_invoice(&c, "in_1").await.unwrap(),
            InvoiceState::Open { .. }
        ));
        assert_eq!(
            api.pay_invoice(&c, "in_1", "att_2").await.unwrap(),
            PayResult::Paid
        );
        assert_eq!(fake.charges("in_1"), 1);
        assert_eq!(
            fake.keys_seen("in_1"),
            vec!["att_1".to_owned(), "att_2".to_owned()]
        );
    }
}

#[tokio::test]
async fn lasting_timeouts_are_uncertain_and_resendable() {
    let (fake, api, c) = setup().await;
    fake.set_hang(Duration::from_secs(2));
    fake.script_pay("in_1", vec![Outcome::Timeout; 4]);
    let result = api.pay_invoice(&c, "in_1", "att_1").await.unwrap();
    assert!(
        matches!(
            &result,
            PayResult::Uncertain {
                retry_same_key: true,
                ..
            }
        ),
        "{result:?}"
    );
    let pays = pay_requests(&fake, "in_1");
    assert_eq!(pays.len(), 4, "first try and three retries");
    assert!(
        pays.iter()
            .all(|r| r.idempotency_key.as_deref() == Some("att_1"))
    );
    assert_eq!(fake.charges("in_1"), 0);
}

#[tokio::test]
async fn a_charge_whose_answer_timed_out_is_found_by_the_same_key() {
    let (fake, api, c) = setup().await;
    fake.set_hang(Duration::from_secs(2));
    fake.script_pay("in_1", vec![Outcome::TimeoutAfterCharge]);
    assert_eq!(
        api.pay_invoice(&c, "in_1", "att_1").await.unwrap(),
        PayResult::Paid
    );
    assert_eq!(fake.charges("in_1"), 1);
    let pays = pay_requests(&fake, "in_1");
    assert_eq!(pays.len(), 2);
    assert!(pays[1].replayed);
}

#[tokio::test]
async fn an_invoice_paid_elsewhere_is_paid_without_a_charge() {
    let (fake, api, c) = setup().await;
    fake.set_invoice_status("in_1", InvoiceStatus::Paid);
    assert_eq!(
        api.get_invoice(&c, "in_1").await.unwrap(),
        InvoiceState::Paid
    );
    assert_eq!(
        api.pay_invoice(&c, "in_1", "att_1").await.unwrap(),
        PayResult::Paid
    );
    assert_eq!(fake.charges("in_1"), 0);
}

#[tokio::test]
async fn paying_a_void_invoice_is_refused() {
    let (fake, api, c) = setup().await;
    fake.set_invoice_status("in_1", InvoiceStatus::Void);
    let err = api.pay_invoice(&c, "in_1", "att_1").await.unwrap_err();
    assert!(
        matches!(err, ApiFailure::Permanent { status: 400, .. }),
        "{err:?}"
    );
    assert_eq!(pay_requests(&fake, "in_1").len(), 1);
}

#[tokio::test]
async fn end_actions_send_their_idempotency_key() {
    let (fake, api, c) = setup().await;
    api.pause_collection(&c, "sub_1", PauseBehavior::MarkUncollectible, "act_pause")
        .await
        .unwrap();
    assert_eq!(
        fake.subscription_state("sub_1").unwrap().2.as_deref(),
        Some("mark_uncollectible")
    );
    api.cancel_subscription(&c, "sub_1", true, "act_end")
        .await
        .unwrap();
    assert!(fake.subscription_state("sub_1").unwrap().1);
    api.mark_uncollectible(&c, "in_1", "act_wo").await.unwrap();
    assert_eq!(
        fake.invoice_status("in_1"),
        Some(InvoiceStatus::Uncollectible)
    );
    api.cancel_subscription(&c, "sub_1", false, "act_cancel")
        .await
        .unwrap();
    assert_eq!(fake.subscription_state("sub_1").unwrap().0, "canceled");
    // The same action again, with its key, is answered from the saved response.
    api.cancel_subscription(&c, "sub_1", false, "act_cancel")
        .await
        .unwrap();

    let seen: Vec<_> = fake
        .requests()
        .into_iter()
        .map(|r| (r.method, r.path, r.idempotency_key, r.replayed))
        .collect();
    let expect = |m: &str, p: &str, k: &str, replayed: bool| {
        (m.to_owned(), p.to_owned(), Some(k.to_owned()), replayed)
    };
    assert_eq!(
        seen,
        vec![
            expect("POST", "/v1/subscriptions/sub_1", "act_pause", false),
            expect("POST", "/v1/subscriptions/sub_1", "act_end", false),
            expect(
                "POST",
                "/v1/invoices/in_1/mark_uncollectible",
                "act_wo",
                false
            ),
            expect("DELETE", "/v1/subscriptions/sub_1", "act_cancel", false),
            expect("DELETE", "/v1/subscriptions/sub_1", "act_cancel", true),
        ]
    );
    let bodies: Vec<_> = fake.requests().into_iter().map(|r| r.body).collect();
    assert!(
        bodies[0].contains("pause_collection%5Bbehavior%5D=mark_uncollectible")
            || bodies[0].contains("pause_collection[behavior]=mark_uncollectible"),
        "{}",
        bodies[0]
    );
    assert!(
        bodies[1].contains("cancel_at_period_end=true"),
        "{}",
        bodies[1]
    );
}

#[tokio::test]
async fn keep_as_draft_pause() {
    let (fake, api, c) = setup().await;
    api.pause_collection(&c, "sub_1", PauseBehavior::KeepAsDraft, "act_1")
        .await
        .unwrap();
    assert_eq!(
        fake.subscription_state("sub_1").unwrap().2.as_deref(),
        Some("keep_as_draft")
    );
}

#[tokio::test]
async fn an_invalid_key_is_refused_before_sending() {
    let (fake, api, c) = setup().await;
    let err = api.pay_invoice(&c, "in_1", "").await.unwrap_err();
    assert!(
        matches!(err, ApiFailure::Permanent { status: 0, .. }),
        "{err:?}"
    );
    let long = "k".repeat(256);
    assert!(api.mark_uncollectible(&c, "in_1", &long).await.is_err());
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn the_secret_key_never_appears_in_an_error() {
    let (fake, api, c) = setup().await;
    let mut messages = Vec::new();

    // 401: the fake echoes the key in full (Stripe masks it); we must not pass it on.
    fake.require_key("sk_test_someoneelse");
    messages.push(format!(
        "{:?}",
        api.get_invoice(&c, "in_1").await.unwrap_err()
    ));
    let err = api.pay_invoice(&c, "in_1", "att_1").await.unwrap_err();
    assert!(
        matches!(err, ApiFailure::Permanent { status: 401, .. }),
        "{err:?}"
    );
    messages.push(format!("{err} {err:?}"));
    messages.push(format!(
        "{:?}",
        api.cancel_subscription(&c, "sub_1", false, "k")
            .await
            .unwrap_err()
    ));

    // Connection refused: a port nothing listens on.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let nowhere = Credentials::new(SECRET, Some(format!("http://{closed}")));
    let err = api.get_invoice(&nowhere, "in_1").await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    messages.push(format!("{err} {err:?}"));
    messages.push(format!(
        "{:?}",
        api.pay_invoice(&nowhere, "in_1", "att_1").await.unwrap()
    ));

    // A key that cannot be a header, and a URL that is not one.
    let bad = Credentials::new(format!("{SECRET}\n"), Some(fake.base_url().to_owned()));
    messages.push(format!(
        "{:?}",
        api.get_invoice(&bad, "in_1").await.unwrap_err()
    ));
    let bad_url = Credentials::new(SECRET, Some(format!("http://[{SECRET}")));
    messages.push(format!(
        "{:?}",
        api.get_invoice(&bad_url, "in_1").await.unwrap_err()
    ));
    messages.push(format!("{c:?}"));

    for message in &messages {
        assert!(!message.contains(SECRET), "leaked: {message}");
        assert!(
            !message.contains("SecretKeyThatMustNeverLeak"),
            "leaked: {message}"
        );
    }
}

#[test]
fn redaction() {
    assert_eq!(
        redact("Invalid API Key provided: sk_live_abcDEF123.", "x"),
        "Invalid API Key provided: sk_live_[redacted]."
    );
    assert_eq!(
        redact("key sk_test_****1234 is masked", ""),
        "key sk_test_****1234 is masked"
    );
    assert_eq!(
        redact("odd secret-value here", "secret-value"),
        "odd [redacted] here"
    );
    assert_eq!(
        redact("rk_test_a and sk_test_b", ""),
        "rk_test_[redacted] and sk_test_[redacted]"
    );
}

#[test]
fn backoff_doubles_up_to_the_cap() {
    let api = StripeApi::new(StripeApiConfig {
        backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(350),
        ..StripeApiConfig::default()
    });
    let waits: Vec<_> = (1..=4).map(|r| api.backoff(r).as_millis()).collect();
    assert_eq!(waits, vec![100, 200, 350, 350]);
}

/// Every answer of the fake parses as async-stripe's strict typed object (the client above treats a
/// 2xx it cannot parse as success, so this is checked directly).
#[tokio::test]
async fn the_fakes_objects_parse_strictly() {
    use stripe::ClientBuilder;
    use stripe_billing::invoice::{MarkUncollectibleInvoice, PayInvoice, RetrieveInvoice};
    use stripe_billing::subscription::{
        CancelSubscription, RetrieveSubscription, UpdateSubscription,
    };

    let (fake, _api, c) = setup().await;
    fake.add_invoice("in_2", "cus_2", None, 990, "usd");
    let client = ClientBuilder::new(SECRET)
        .url(c.api_base.clone().unwrap())
        .build()
        .unwrap();
    RetrieveInvoice::new("in_1").send(&client).await.unwrap();
    RetrieveInvoice::new("in_2").send(&client).await.unwrap();
    RetrieveSubscription::new("sub_1")
        .send(&client)
        .await
        .unwrap();
    UpdateSubscription::new("sub_1")
        .cancel_at_period_end(true)
        .send(&client)
        .await
        .unwrap();
    PayInvoice::new("in_1").send(&client).await.unwrap();
    MarkUncollectibleInvoice::new("in_2")
        .send(&client)
        .await
        .unwrap();
    let canceled = CancelSubscription::new("sub_1")
        .send(&client)
        .await
        .unwrap();
    assert_eq!(canceled.status.as_str(), "canceled");
}
