//! Stripe-shaped events built from the repository's fixtures, for `dunning simulate`, the benchmark
//! and tests: the same shapes Stripe sends, with the ids and times of the scenario.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

const PAYMENT_FAILED: &str = include_str!("../../fixtures/stripe/invoice.payment_failed.json");
const CHARGE_FAILED: &str = include_str!("../../fixtures/stripe/charge.failed.json");
const SUBSCRIPTION_DELETED: &str =
    include_str!("../../fixtures/stripe/customer.subscription.deleted.json");
const CUSTOMER_UPDATED: &str = include_str!("../../fixtures/stripe/customer.updated.json");

fn template(text: &str) -> Value {
    serde_json::from_str(text).expect("fixtures are JSON")
}

/// The invoice a scenario talks about.
#[derive(Debug, Clone)]
pub struct Invoice<'a> {
    pub id: &'a str,
    pub customer: &'a str,
    pub subscription: &'a str,
    pub amount_due: i64,
    pub currency: &'a str,
}

fn invoice_event(
    kind: &str,
    event_id: &str,
    inv: &Invoice,
    at: DateTime<Utc>,
    attempt_count: u32,
) -> Value {
    let mut v = template(PAYMENT_FAILED);
    v["id"] = json!(event_id);
    v["type"] = json!(kind);
    v["created"] = json!(at.timestamp());
    let o = &mut v["data"]["object"];
    o["id"] = json!(inv.id);
    o["customer"] = json!(inv.customer);
    o["amount_due"] = json!(inv.amount_due);
    o["amount_remaining"] = json!(if kind == "invoice.paid" {
        0
    } else {
        inv.amount_due
    });
    o["amount_paid"] = json!(if kind == "invoice.paid" {
        inv.amount_due
    } else {
        0
    });
    o["currency"] = json!(inv.currency);
    o["attempt_count"] = json!(attempt_count);
    o["next_payment_attempt"] = Value::Null;
    o["status"] = json!(if kind == "invoice.paid" {
        "paid"
    } else {
        "open"
    });
    o["parent"]["subscription_details"]["subscription"] = json!(inv.subscription);
    v
}

pub fn payment_failed(event_id: &str, inv: &Invoice, at: DateTime<Utc>) -> Value {
    invoice_event("invoice.payment_failed", event_id, inv, at, 1)
}

pub fn invoice_paid(event_id: &str, inv: &Invoice, at: DateTime<Utc>) -> Value {
    invoice_event("invoice.paid", event_id, inv, at, 2)
}

/// `charge.failed` carrying the issuer's answer (`code` such as `card_declined` or `expired_card`).
pub fn charge_failed(
    event_id: &str,
    inv: &Invoice,
    code: &str,
    decline_code: &str,
    at: DateTime<Utc>,
) -> Value {
    let mut v = template(CHARGE_FAILED);
    v["id"] = json!(event_id);
    v["created"] = json!(at.timestamp());
    let o = &mut v["data"]["object"];
    o["invoice"] = json!(inv.id);
    o["customer"] = json!(inv.customer);
    o["amount"] = json!(inv.amount_due);
    o["currency"] = json!(inv.currency);
    o["failure_code"] = json!(code);
    o["outcome"]["reason"] = json!(decline_code);
    v
}

pub fn subscription_deleted(event_id: &str, inv: &Invoice, at: DateTime<Utc>) -> Value {
    let mut v = template(SUBSCRIPTION_DELETED);
    v["id"] = json!(event_id);
    v["created"] = json!(at.timestamp());
    v["data"]["object"]["id"] = json!(inv.subscription);
    v["data"]["object"]["customer"] = json!(inv.customer);
    v
}

/// The customer set a new default card (the card-update flow's outcome).
pub fn card_updated(event_id: &str, customer: &str, at: DateTime<Utc>) -> Value {
    let mut v = template(CUSTOMER_UPDATED);
    v["id"] = json!(event_id);
    v["created"] = json!(at.timestamp());
    v["data"]["object"]["id"] = json!(customer);
    v
}
