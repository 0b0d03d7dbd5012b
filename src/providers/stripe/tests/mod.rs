//! Every mapping checked against the fixtures in `fixtures/stripe/`, plus envelopes and odd shapes.

use serde_json::{Value, json};

use super::Stripe;
use crate::providers::*;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/stripe/",
            $name,
            ".json"
        ))
    };
}

// Declared after the macro so the child modules can use it.
mod invoices;
mod payments;

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

/// Guards the fixture folder itself: every event there parses, and only the unused type is ignored.
#[test]
fn every_fixture_file_normalizes() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/stripe");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "signature_vectors.json" || !name.ends_with(".json") {
            continue;
        }
        let body = std::fs::read(&path).unwrap();
        let envelope = Stripe
            .envelope(&body)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            name.starts_with(&envelope.event_type),
            "{name} is named after its type"
        );
        let normalized = Stripe
            .normalize(&body)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            normalized.is_none(),
            name == "customer.created.json",
            "{name}"
        );
        seen += 1;
    }
    assert_eq!(seen, 17);
}
