//! Payment-side Stripe objects: declines from payment intents and charges, cards from payment methods,
//! legacy card sources and payment details.

use serde_json::Value;

use super::events::required_id;
use super::value::{self as v, id, int, list, string};
use crate::providers::{
    CardInfo, DeclineInfo, EventKind, ParseError, PaymentFailure, PaymentMethodInfo,
};

/// `payment_method.attached`: a PaymentMethod object.
pub fn payment_method(obj: &Value) -> Result<PaymentMethodInfo, ParseError> {
    Ok(PaymentMethodInfo {
        payment_method_id: required_id(obj, "payment method")?,
        customer_id: id(obj, &["customer"]),
        method_type: string(obj, &["type"]),
        card: card_of_payment_method(obj),
    })
}

/// `customer.source.expiring`: a legacy Card (`card_…`) or a Source (`src_…`) of type card.
pub fn card_expiring(obj: &Value) -> Result<EventKind, ParseError> {
    let card = legacy_card(obj);
    let customer_id = id(obj, &["customer"])
        .ok_or_else(|| ParseError::new("expiring card or source has no `customer`"))?;
    Ok(EventKind::CardExpiring { customer_id, card })
}

/// `payment_intent.payment_failed`: the decline is in `last_payment_error`, completed from the latest
/// charge when that was expanded.
pub fn payment_intent_failure(obj: &Value) -> Result<PaymentFailure, ParseError> {
    let pi_id = required_id(obj, "payment intent")?;
    let error = v::object(obj, &["last_payment_error"]);
    let charge = v::object(obj, &["latest_charge"]);
    let mut decline = error.map(decline_of_error).unwrap_or_default();
    if let Some(charge) = charge {
        merge(&mut decline, decline_of_charge(charge));
    }
    Ok(PaymentFailure {
        payment_intent_id: Some(pi_id),
        charge_id: error
            .and_then(|e| id(e, &["charge"]))
            .or_else(|| id(obj, &["latest_charge"])),
        // Removed from PaymentIntent in API 2025-03-31: absent is normal.
        invoice_id: id(obj, &["invoice"]),
        customer_id: id(obj, &["customer"]),
        amount: int(obj, &["amount"]),
        currency: string(obj, &["currency"]).map(|c| c.to_lowercase()),
        decline,
    })
}

/// `charge.failed`: the decline is `failure_code` plus the network's `outcome`.
pub fn charge_failure(obj: &Value) -> Result<PaymentFailure, ParseError> {
    Ok(PaymentFailure {
        payment_intent_id: id(obj, &["payment_intent"]),
        charge_id: Some(required_id(obj, "charge")?),
        invoice_id: id(obj, &["invoice"]),
        customer_id: id(obj, &["customer"]),
        amount: int(obj, &["amount"]),
        currency: string(obj, &["currency"]).map(|c| c.to_lowercase()),
        decline: decline_of_charge(obj),
    })
}

/// A decline carried by the invoice itself: only when its charge or payment intent was expanded.
pub fn invoice_decline(invoice: &Value) -> Option<DeclineInfo> {
    let mut decline = DeclineInfo::default();
    let payments = list(invoice, &["payments"]).iter().map(|p| &p["payment"]);
    for payment in std::iter::once(invoice).chain(payments) {
        if let Some(pi) = v::object(payment, &["payment_intent"]) {
            merge(
                &mut decline,
                v::object(pi, &["last_payment_error"])
                    .map(decline_of_error)
                    .unwrap_or_default(),
            );
        }
        if let Some(charge) = v::object(payment, &["charge"]) {
            merge(&mut decline, decline_of_charge(charge));
        }
    }
    (decline != DeclineInfo::default()).then_some(decline)
}

/// A PaymentIntent's or SetupIntent's `last_payment_error` (also the shape of an API error body).
fn decline_of_error(err: &Value) -> DeclineInfo {
    DeclineInfo {
        failure_code: string(err, &["code"]),
        decline_code: string(err, &["decline_code"]),
        advice_code: string(err, &["advice_code"]),
        network_advice_code: string(err, &["network_advice_code"]),
        network_decline_code: string(err, &["network_decline_code"]),
        outcome_type: None,
        card: v::object(err, &["payment_method"])
            .and_then(card_of_payment_method)
            .or_else(|| v::object(err, &["source"]).map(legacy_card)),
        message: string(err, &["message"]),
    }
}

fn decline_of_charge(charge: &Value) -> DeclineInfo {
    let outcome_type = string(charge, &["outcome", "type"]);
    // A charge has no `decline_code`: for issuer declines `outcome.reason` holds the same value
    // (for Radar blocks it names the rule instead, which is not a decline code).
    let decline_code = string(charge, &["outcome", "reason"])
        .filter(|_| outcome_type.as_deref() == Some("issuer_declined"));
    let details = v::object(charge, &["payment_method_details", "card"]);
    let card = details.map(|card| CardInfo {
        payment_method_id: id(charge, &["payment_method"]),
        ..card_fields(card)
    });
    DeclineInfo {
        failure_code: string(charge, &["failure_code"]),
        decline_code,
        advice_code: string(charge, &["outcome", "advice_code"]),
        network_advice_code: string(charge, &["outcome", "network_advice_code"]),
        network_decline_code: string(charge, &["outcome", "network_decline_code"]),
        outcome_type,
        card: card.or_else(|| v::object(charge, &["source"]).map(legacy_card)),
        message: string(charge, &["failure_message"])
            .or_else(|| string(charge, &["outcome", "seller_message"])),
    }
}

/// Fill what `into` lacks from `from`; the first source to name a field wins.
fn merge(into: &mut DeclineInfo, from: DeclineInfo) {
    fn fill<T>(a: &mut Option<T>, b: Option<T>) {
        if a.is_none() {
            *a = b;
        }
    }
    fill(&mut into.failure_code, from.failure_code);
    fill(&mut into.decline_code, from.decline_code);
    fill(&mut into.advice_code, from.advice_code);
    fill(&mut into.network_advice_code, from.network_advice_code);
    fill(&mut into.network_decline_code, from.network_decline_code);
    fill(&mut into.outcome_type, from.outcome_type);
    fill(&mut into.card, from.card);
    fill(&mut into.message, from.message);
}

fn card_of_payment_method(pm: &Value) -> Option<CardInfo> {
    let card = v::object(pm, &["card"])?;
    Some(CardInfo {
        payment_method_id: string(pm, &["id"]),
        ..card_fields(card)
    })
}

/// A legacy Card has its fields at the top; a Source of type card nests them under `card`.
fn legacy_card(obj: &Value) -> CardInfo {
    let fields = v::object(obj, &["card"]).unwrap_or(obj);
    CardInfo {
        payment_method_id: string(obj, &["id"]),
        ..card_fields(fields)
    }
}

/// The card fields shared by PaymentMethod.card, Charge.payment_method_details.card and legacy cards.
fn card_fields(card: &Value) -> CardInfo {
    let brand = string(card, &["brand"]).map(|b| normalize_brand(&b));
    let available = list(card, &["networks", "available"]);
    let only_network = match available {
        [one] => one.as_str().map(str::to_owned),
        _ => None,
    };
    CardInfo {
        network: string(card, &["network"])
            .or_else(|| string(card, &["networks", "preferred"]))
            .or(only_network)
            .map(|n| n.to_lowercase()),
        brand,
        last4: string(card, &["last4"]),
        exp_month: v::uint(card, &["exp_month"]),
        exp_year: v::uint(card, &["exp_year"]),
        fingerprint: string(card, &["fingerprint"]),
        payment_method_id: None,
    }
}

/// Legacy Card and Source objects spell brands for display ("Visa", "American Express"); map them to
/// the PaymentMethod spelling so the engine sees one vocabulary.
fn normalize_brand(brand: &str) -> String {
    match brand {
        "American Express" => "amex".to_owned(),
        "Diners Club" => "diners".to_owned(),
        "MasterCard" => "mastercard".to_owned(),
        "UnionPay" => "unionpay".to_owned(),
        other => other.to_lowercase().replace(' ', "_"),
    }
}
