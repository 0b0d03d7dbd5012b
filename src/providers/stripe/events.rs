//! Which Stripe events the engine uses and how each maps to [`EventKind`]; invoice and subscription
//! objects are read here, payment objects (declines, cards) in `payments`.

use serde_json::Value;

use super::payments;
use super::value::{self as v, id, int, list, map, push_unique, string, time};
use crate::providers::{
    EventHeader, EventKind, InvoiceSnapshot, NormalizedEvent, ParseError, SetupSource,
    SubscriptionSnapshot,
};

/// Normalise a parsed event whose envelope has already been checked (string `id` and `type`).
pub fn normalize(event: &Value) -> Result<Option<NormalizedEvent>, ParseError> {
    let event_type = string(event, &["type"]).unwrap_or_default();
    let Some(kind) = kind(&event_type, event)? else {
        return Ok(None);
    };
    let header = EventHeader {
        event_id: string(event, &["id"]).unwrap_or_default(),
        occurred_at: time(event, &["created"]).ok_or_else(|| {
            ParseError::new(format!("`{event_type}` event has no `created` timestamp"))
        })?,
        livemode: v::boolean(event, &["livemode"]).unwrap_or(false),
    };
    Ok(Some(NormalizedEvent { header, kind }))
}

fn kind(event_type: &str, event: &Value) -> Result<Option<EventKind>, ParseError> {
    let object = || {
        v::object(event, &["data", "object"])
            .ok_or_else(|| ParseError::new(format!("`{event_type}` event has no `data.object`")))
    };
    let kind = match event_type {
        "invoice.payment_failed" => {
            let obj = object()?;
            EventKind::InvoicePaymentFailed {
                invoice: invoice(obj)?,
                decline: payments::invoice_decline(obj),
            }
        }
        "invoice.paid" | "invoice.payment_succeeded" => EventKind::InvoicePaid {
            invoice: invoice(object()?)?,
        },
        "invoice.marked_uncollectible" => EventKind::InvoiceMarkedUncollectible {
            invoice: invoice(object()?)?,
        },
        "invoice.voided" => EventKind::InvoiceVoided {
            invoice: invoice(object()?)?,
        },
        "customer.subscription.updated" => EventKind::SubscriptionUpdated {
            subscription: subscription(object()?)?,
            previous_status: string(event, &["data", "previous_attributes", "status"])
                .map(Into::into),
        },
        "customer.subscription.deleted" => EventKind::SubscriptionDeleted {
            subscription: subscription(object()?)?,
        },
        "payment_method.attached" => {
            EventKind::PaymentMethodAttached(payments::payment_method(object()?)?)
        }
        "customer.updated" => return default_payment_method_changed(event, object()?),
        "setup_intent.succeeded" => {
            let obj = object()?;
            EventKind::SetupSucceeded {
                customer_id: id(obj, &["customer"]),
                payment_method_id: id(obj, &["payment_method"]),
                source: SetupSource::SetupIntent,
                setup_intent_id: Some(required_id(obj, "setup intent")?),
                session_id: None,
                reference: None,
            }
        }
        "checkout.session.completed" => return checkout_session_completed(object()?),
        "customer.source.expiring" => payments::card_expiring(object()?)?,
        "payment_intent.payment_failed" => {
            EventKind::PaymentFailed(payments::payment_intent_failure(object()?)?)
        }
        "charge.failed" => EventKind::PaymentFailed(payments::charge_failure(object()?)?),
        _ => return Ok(None),
    };
    Ok(Some(kind))
}

pub(super) fn required_id(obj: &Value, what: &str) -> Result<String, ParseError> {
    string(obj, &["id"]).ok_or_else(|| ParseError::new(format!("{what} object has no `id`")))
}

fn invoice(obj: &Value) -> Result<InvoiceSnapshot, ParseError> {
    let missing = |field: &str| ParseError::new(format!("invoice object has no `{field}`"));
    let customer = v::object(obj, &["customer"]);
    let mut inv = InvoiceSnapshot {
        id: required_id(obj, "invoice")?,
        customer_id: id(obj, &["customer"]).ok_or_else(|| missing("customer"))?,
        customer_email: string(obj, &["customer_email"])
            .or_else(|| customer.and_then(|c| string(c, &["email"]))),
        customer_name: string(obj, &["customer_name"])
            .or_else(|| customer.and_then(|c| string(c, &["name"]))),
        customer_country: string(obj, &["customer_address", "country"])
            .or_else(|| customer.and_then(|c| string(c, &["address", "country"]))),
        subscription_id: invoice_subscription(obj),
        amount_due: int(obj, &["amount_due"]).ok_or_else(|| missing("amount_due"))?,
        amount_paid: int(obj, &["amount_paid"]),
        amount_remaining: int(obj, &["amount_remaining"]),
        currency: string(obj, &["currency"])
            .ok_or_else(|| missing("currency"))?
            .to_lowercase(),
        status: string(obj, &["status"]).map(Into::into),
        attempt_count: v::uint(obj, &["attempt_count"]),
        next_payment_attempt: time(obj, &["next_payment_attempt"]),
        payment_intent_id: id(obj, &["payment_intent"]),
        charge_id: id(obj, &["charge"]),
        billing_reason: string(obj, &["billing_reason"]),
        hosted_invoice_url: string(obj, &["hosted_invoice_url"]),
        created: time(obj, &["created"]),
        period_end: time(obj, &["period_end"]),
        metadata: map(obj, &["metadata"]),
        customer_metadata: customer.map(|c| map(c, &["metadata"])).unwrap_or_default(),
        price_ids: Vec::new(),
        product_ids: Vec::new(),
    };
    // Newer API versions link payments through `payments` (an InvoicePayment list, when included).
    for payment in list(obj, &["payments"]) {
        inv.payment_intent_id = inv
            .payment_intent_id
            .or_else(|| id(payment, &["payment", "payment_intent"]));
        inv.charge_id = inv
            .charge_id
            .or_else(|| id(payment, &["payment", "charge"]));
    }
    for line in list(obj, &["lines"]) {
        push_unique(&mut inv.price_ids, line_price(line));
        push_unique(&mut inv.product_ids, line_product(line));
    }
    Ok(inv)
}

/// `subscription` before API 2025-03-31, `parent.subscription_details.subscription` since; the lines'
/// parents as a last resort.
fn invoice_subscription(obj: &Value) -> Option<String> {
    id(obj, &["subscription"])
        .or_else(|| id(obj, &["parent", "subscription_details", "subscription"]))
        .or_else(|| {
            list(obj, &["lines"]).iter().find_map(|line| {
                id(line, &["subscription"]).or_else(|| {
                    id(
                        line,
                        &["parent", "subscription_item_details", "subscription"],
                    )
                })
            })
        })
}

fn line_price(line: &Value) -> Option<String> {
    id(line, &["price"])
        .or_else(|| id(line, &["pricing", "price_details", "price"]))
        .or_else(|| id(line, &["plan"]))
}

fn line_product(line: &Value) -> Option<String> {
    id(line, &["price", "product"])
        .or_else(|| id(line, &["pricing", "price_details", "product"]))
        .or_else(|| id(line, &["plan", "product"]))
}

fn subscription(obj: &Value) -> Result<SubscriptionSnapshot, ParseError> {
    let mut sub = SubscriptionSnapshot {
        id: required_id(obj, "subscription")?,
        customer_id: id(obj, &["customer"])
            .ok_or_else(|| ParseError::new("subscription object has no `customer`"))?,
        status: string(obj, &["status"]).map(Into::into),
        cancel_at_period_end: v::boolean(obj, &["cancel_at_period_end"]).unwrap_or(false),
        cancel_at: time(obj, &["cancel_at"]),
        canceled_at: time(obj, &["canceled_at"]),
        ended_at: time(obj, &["ended_at"]),
        current_period_end: time(obj, &["current_period_end"]),
        latest_invoice_id: id(obj, &["latest_invoice"]),
        default_payment_method_id: id(obj, &["default_payment_method"])
            .or_else(|| id(obj, &["default_source"])),
        collection_method: string(obj, &["collection_method"]),
        metadata: map(obj, &["metadata"]),
        price_ids: Vec::new(),
        product_ids: Vec::new(),
    };
    for item in list(obj, &["items"]) {
        push_unique(&mut sub.price_ids, line_price(item));
        push_unique(&mut sub.product_ids, line_product(item));
        // Since API 2025-03-31 the period lives on each item; the subscription's is the latest.
        sub.current_period_end = sub
            .current_period_end
            .max(time(item, &["current_period_end"]));
    }
    Ok(sub)
}

/// Only a change of the invoice default (or the legacy default source) matters. Stripe sends
/// `previous_attributes` with every `customer.updated`; when it shows other fields changed (email,
/// address…) the event is ignored. Without `previous_attributes` (a replay built from the API) a
/// present default is reported: the engine treats the event as a hint and dedupes.
fn default_payment_method_changed(
    event: &Value,
    obj: &Value,
) -> Result<Option<EventKind>, ParseError> {
    let customer_id = required_id(obj, "customer")?;
    let previous = v::object(event, &["data", "previous_attributes"]);
    // A key present with a null value means "changed from nothing", so test presence, not value.
    let changed = |path: &[&str]| match previous {
        None => true,
        Some(prev) => path.iter().try_fold(prev, |p, k| p.get(k)).is_some(),
    };
    let new_default = [
        &["invoice_settings", "default_payment_method"][..],
        &["default_source"][..],
    ]
    .into_iter()
    .find_map(|path| id(obj, path).filter(|_| changed(path)));
    Ok(
        new_default.map(|payment_method_id| EventKind::DefaultPaymentMethodChanged {
            customer_id,
            payment_method_id,
        }),
    )
}

/// The metadata key our Checkout sessions carry the recovery case's id under.
pub const REFERENCE_KEY: &str = "dunning_case";

/// Only `mode == "setup"` sessions are card updates; payment and subscription checkouts are ignored.
fn checkout_session_completed(obj: &Value) -> Result<Option<EventKind>, ParseError> {
    if string(obj, &["mode"]).as_deref() != Some("setup") {
        return Ok(None);
    }
    let session_id = required_id(obj, "checkout session")?;
    let setup_intent = v::object(obj, &["setup_intent"]);
    Ok(Some(EventKind::SetupSucceeded {
        customer_id: id(obj, &["customer"])
            .or_else(|| setup_intent.and_then(|si| id(si, &["customer"]))),
        // The session names the payment method only when its setup intent was expanded.
        payment_method_id: setup_intent.and_then(|si| id(si, &["payment_method"])),
        source: SetupSource::CheckoutSession,
        setup_intent_id: id(obj, &["setup_intent"]),
        session_id: Some(session_id),
        reference: string(obj, &["metadata", REFERENCE_KEY]),
    }))
}
