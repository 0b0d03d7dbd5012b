//! The JSON the fake answers with, at full size in Stripe's current shapes (modelled on the objects of
//! Stripe's published OpenAPI fixtures), so that a strict typed client parses it as it would parse
//! Stripe's own answers.

use serde_json::{Value, json};

use super::{InvoiceRecord, InvoiceStatus, SubscriptionRecord};

pub(super) fn invoice(inv: &InvoiceRecord) -> Value {
    let paid = inv.status == InvoiceStatus::Paid;
    let billing_reason = if inv.subscription.is_some() {
        "subscription_cycle"
    } else {
        "manual"
    };
    let amount_paid = if paid { inv.amount_due } else { 0 };
    let subscription_details = inv
        .subscription
        .as_ref()
        .map(|sub| json!({ "metadata": {}, "subscription": sub }));
    let parent = match &subscription_details {
        Some(details) => json!({
            "quote_details": null,
            "subscription_details": details,
            "type": "subscription_details",
        }),
        None => Value::Null,
    };
    let line_parent = match &inv.subscription {
        Some(sub) => json!({
            "invoice_item_details": null,
            "subscription_item_details": {
                "invoice_item": null,
                "proration": false,
                "proration_details": { "credited_items": null },
                "subscription": sub,
                "subscription_item": format!("si_{}", suffix(&inv.id)),
            },
            "type": "subscription_item_details",
        }),
        None => json!({
            "invoice_item_details": {
                "invoice_item": format!("ii_{}", suffix(&inv.id)),
                "proration": false,
                "proration_details": { "credited_items": null },
                "subscription": null,
            },
            "subscription_item_details": null,
            "type": "invoice_item_details",
        }),
    };
    let lines = json!({
        "object": "list",
        "data": [{
            "id": format!("il_{}", suffix(&inv.id)),
            "object": "line_item",
            "amount": inv.amount_due,
            "currency": inv.currency,
            "description": "1 × Subscription (at the plan's price / month)",
            "discount_amounts": [],
            "discountable": true,
            "discounts": [],
            "invoice": inv.id,
            "livemode": false,
            "metadata": {},
            "parent": line_parent,
            "period": { "end": inv.created + 30 * 86_400, "start": inv.created },
            "pretax_credit_amounts": [],
            "pricing": {
                "price_details": {
                    "price": format!("price_{}", suffix(&inv.id)),
                    "product": format!("prod_{}", suffix(&inv.id)),
                },
                "type": "price_details",
                "unit_amount_decimal": inv.amount_due.to_string(),
            },
            "quantity": 1,
            "quantity_decimal": "1",
            "subscription": inv.subscription,
            "subtotal": inv.amount_due,
            "taxes": [],
        }],
        "has_more": false,
        "url": format!("/v1/invoices/{}/lines", inv.id),
    });
    let mut invoice = json!({
        "id": inv.id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "Fake Stripe Account",
        "account_tax_ids": null,
        "amount_due": inv.amount_due,
        "amount_overpaid": 0,
        "amount_paid": amount_paid,
        "amount_remaining": inv.amount_due - amount_paid,
        "amount_shipping": 0,
        "application": null,
        "attempt_count": inv.attempt_count,
        "attempted": inv.attempt_count > 0,
        "auto_advance": inv.status == InvoiceStatus::Open,
        "automatic_tax": {
            "disabled_reason": null,
            "enabled": false,
            "liability": null,
            "provider": null,
            "status": null,
        },
        "automatically_finalizes_at": null,
        "billing_reason": billing_reason,
        "collection_method": "charge_automatically",
        "confirmation_secret": null,
        "created": inv.created,
        "currency": inv.currency,
        "custom_fields": null,
        "customer": inv.customer,
        "customer_account": null,
        "customer_address": null,
        "customer_email": format!("{}@example.com", inv.customer),
        "customer_name": null,
        "customer_phone": null,
        "customer_shipping": null,
        "customer_tax_exempt": "none",
        "customer_tax_ids": [],
        "default_payment_method": null,
        "default_source": null,
        "default_tax_rates": [],
        "description": null,
        "discounts": [],
        "due_date": null,
        "effective_at": inv.created,
        "ending_balance": 0,
        "footer": null,
        "from_invoice": null,
    });
    let rest = json!({
        "hosted_invoice_url": format!("https://invoice.stripe.com/i/acct_fake/test_{}", inv.id),
        "invoice_pdf": format!("https://pay.stripe.com/invoice/acct_fake/test_{}/pdf", inv.id),
        "issuer": { "type": "self" },
        "last_finalization_error": null,
        "latest_revision": null,
        "lines": lines,
        "livemode": false,
        "metadata": {},
        "next_payment_attempt": inv.next_payment_attempt,
        "number": format!("FAKE-{}", suffix(&inv.id).to_uppercase()),
        "on_behalf_of": null,
        "parent": parent,
        "payment_settings": {
            "default_mandate": null,
            "payment_method_options": null,
            "payment_method_types": null,
        },
        "period_end": inv.created,
        "period_start": inv.created - 30 * 86_400,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": null,
        "rendering": null,
        "shipping_cost": null,
        "shipping_details": null,
        "starting_balance": 0,
        "statement_descriptor": null,
        "status": inv.status.as_str(),
        "status_transitions": {
            "finalized_at": inv.created,
            "marked_uncollectible_at": inv.marked_uncollectible_at,
            "paid_at": inv.paid_at,
            "voided_at": inv.voided_at,
        },
        "subtotal": inv.amount_due,
        "subtotal_excluding_tax": inv.amount_due,
        "test_clock": null,
        "threshold_reason": null,
        "total": inv.amount_due,
        "total_discount_amounts": [],
        "total_excluding_tax": inv.amount_due,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": inv.created,
    });
    merge(&mut invoice, rest);
    invoice
}

pub(super) fn subscription(sub: &SubscriptionRecord) -> Value {
    let s = suffix(&sub.id);
    let period_start = sub.created;
    let period_end = sub.created + 30 * 86_400;
    let cancel_at = sub.cancel_at_period_end.then_some(period_end);
    let cancellation_reason = sub.canceled_at.map(|_| "cancellation_requested");
    let pause_collection = match &sub.pause_behavior {
        Some(behavior) => json!({ "behavior": behavior, "resumes_at": null }),
        None => Value::Null,
    };
    let price = json!({
        "id": format!("price_{s}"),
        "object": "price",
        "active": true,
        "billing_scheme": "per_unit",
        "created": sub.created,
        "currency": sub.currency,
        "custom_unit_amount": null,
        "livemode": false,
        "lookup_key": null,
        "metadata": {},
        "nickname": null,
        "product": format!("prod_{s}"),
        "recurring": {
            "interval": "month",
            "interval_count": 1,
            "meter": null,
            "trial_period_days": null,
            "usage_type": "licensed",
        },
        "tax_behavior": "unspecified",
        "tiers_mode": null,
        "transform_quantity": null,
        "type": "recurring",
        "unit_amount": sub.amount,
        "unit_amount_decimal": sub.amount.to_string(),
    });
    let items = json!({
        "object": "list",
        "data": [{
            "id": format!("si_{s}"),
            "object": "subscription_item",
            "billing_thresholds": null,
            "created": sub.created,
            "current_period_end": period_end,
            "current_period_start": period_start,
            "discounts": [],
            "metadata": {},
            "plan": {
                "id": format!("price_{s}"),
                "object": "plan",
                "active": true,
                "amount": sub.amount,
                "amount_decimal": sub.amount.to_string(),
                "billing_scheme": "per_unit",
                "created": sub.created,
                "currency": sub.currency,
                "interval": "month",
                "interval_count": 1,
                "livemode": false,
                "metadata": {},
                "meter": null,
                "nickname": null,
                "product": format!("prod_{s}"),
                "tiers_mode": null,
                "transform_usage": null,
                "trial_period_days": null,
                "usage_type": "licensed",
            },
            "price": price,
            "quantity": 1,
            "subscription": sub.id,
            "tax_rates": [],
        }],
        "has_more": false,
        "url": format!("/v1/subscription_items?subscription={}", sub.id),
    });
    let mut subscription = json!({
        "id": sub.id,
        "object": "subscription",
        "application": null,
        "application_fee_percent": null,
        "automatic_tax": { "disabled_reason": null, "enabled": false, "liability": null },
        "billing_cycle_anchor": sub.created,
        "billing_cycle_anchor_config": null,
        "billing_schedules": [],
        "billing_mode": { "flexible": null, "type": "classic", "updated_at": null },
        "billing_thresholds": null,
        "cancel_at": cancel_at,
        "cancel_at_period_end": sub.cancel_at_period_end,
        "canceled_at": sub.canceled_at,
        "cancellation_details": { "comment": null, "feedback": null, "reason": cancellation_reason },
        "collection_method": "charge_automatically",
        "created": sub.created,
        "currency": sub.currency,
        "customer": sub.customer,
        "customer_account": null,
        "days_until_due": null,
    });
    let rest = json!({
        "default_payment_method": format!("pm_{s}"),
        "default_source": null,
        "default_tax_rates": [],
        "description": null,
        "discounts": [],
        "ended_at": sub.canceled_at,
        "invoice_settings": { "account_tax_ids": null, "issuer": { "type": "self" } },
        "items": items,
        "latest_invoice": sub.latest_invoice,
        "livemode": false,
        "metadata": {},
        "next_pending_invoice_item_invoice": null,
        "on_behalf_of": null,
        "pause_collection": pause_collection,
        "payment_settings": {
            "payment_method_options": null,
            "payment_method_types": null,
            "save_default_payment_method": "off",
        },
        "pending_invoice_item_interval": null,
        "pending_setup_intent": null,
        "pending_update": null,
        "schedule": null,
        "start_date": sub.created,
        "status": sub.status,
        "test_clock": null,
        "transfer_data": null,
        "trial_end": null,
        "trial_settings": { "end_behavior": { "missing_payment_method": "create_invoice" } },
        "trial_start": null,
    });
    merge(&mut subscription, rest);
    subscription
}

/// A card error as Stripe sends it for a declined off-session `pay`: the codes on the error, the
/// charge id, and the payment intent (with the same error as `last_payment_error`) and method.
pub(super) struct Decline<'a> {
    pub code: &'a str,
    pub decline_code: Option<&'a str>,
    pub advice_code: Option<&'a str>,
    pub network_advice_code: Option<&'a str>,
    pub network_decline_code: Option<&'a str>,
}

pub(super) fn card_error(
    inv: &InvoiceRecord,
    d: &Decline<'_>,
    request_id: &str,
    now: i64,
) -> Value {
    let s = suffix(&inv.id);
    let message = if d.code == "expired_card" {
        "Your card has expired."
    } else if d.decline_code == Some("insufficient_funds") {
        "Your card has insufficient funds."
    } else {
        "Your card was declined."
    };
    let payment_method = json!({
        "id": format!("pm_{s}"),
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {
            "address": { "city": null, "country": null, "line1": null, "line2": null, "postal_code": null, "state": null },
            "email": null,
            "name": null,
            "phone": null,
            "tax_id": null,
        },
        "card": {
            "brand": "visa",
            "checks": { "address_line1_check": null, "address_postal_code_check": null, "cvc_check": null },
            "country": "US",
            "display_brand": "visa",
            "exp_month": 8,
            "exp_year": 2030,
            "fingerprint": format!("fp{s}"),
            "funding": "credit",
            "generated_from": null,
            "last4": "0341",
            "networks": { "available": ["visa"], "preferred": null },
            "regulated_status": "unregulated",
            "three_d_secure_usage": { "supported": true },
            "wallet": null,
        },
        "created": inv.created,
        "customer": inv.customer,
        "customer_account": null,
        "livemode": false,
        "metadata": {},
        "type": "card",
    });
    let mut error = json!({
        "type": "card_error",
        "code": d.code,
        "decline_code": d.decline_code,
        "advice_code": d.advice_code,
        "network_advice_code": d.network_advice_code,
        "network_decline_code": d.network_decline_code,
        "charge": format!("ch_{request_id}"),
        "doc_url": format!("https://stripe.com/docs/error-codes/{}", d.code.replace('_', "-")),
        "message": message,
        "payment_method": payment_method,
        "request_log_url": log_url(request_id),
    });
    let last_payment_error = error.clone();
    error["payment_intent"] = json!({
        "id": format!("pi_{s}"),
        "object": "payment_intent",
        "amount": inv.amount_due,
        "amount_capturable": 0,
        "amount_details": { "tip": {} },
        "amount_received": 0,
        "application": null,
        "application_fee_amount": null,
        "automatic_payment_methods": null,
        "canceled_at": null,
        "cancellation_reason": null,
        "capture_method": "automatic",
        "client_secret": format!("pi_{s}_secret_fake"),
        "confirmation_method": "automatic",
        "created": now,
        "currency": inv.currency,
        "customer": inv.customer,
        "customer_account": null,
        "description": format!("Payment for Invoice {}", inv.id),
        "excluded_payment_method_types": null,
        "last_payment_error": last_payment_error,
        "latest_charge": format!("ch_{request_id}"),
        "livemode": false,
        "metadata": {},
        "next_action": null,
        "on_behalf_of": null,
        "payment_method": null,
        "payment_method_configuration_details": null,
        "payment_method_options": { "card": { "installments": null, "mandate_options": null, "network": null, "request_three_d_secure": "automatic" } },
        "payment_method_types": ["card"],
        "processing": null,
        "receipt_email": null,
        "review": null,
        "setup_future_usage": null,
        "shipping": null,
        "source": null,
        "statement_descriptor": null,
        "statement_descriptor_suffix": null,
        "status": "requires_payment_method",
        "transfer_data": null,
        "transfer_group": null,
    });
    json!({ "error": error })
}

pub(super) fn invalid_request(message: &str, code: Option<&str>, request_id: &str) -> Value {
    let doc_url = code.map(|c| {
        format!(
            "https://stripe.com/docs/error-codes/{}",
            c.replace('_', "-")
        )
    });
    json!({ "error": {
        "type": "invalid_request_error",
        "code": code,
        "message": message,
        "doc_url": doc_url,
        "request_log_url": log_url(request_id),
    }})
}

pub(super) fn api_error(request_id: &str) -> Value {
    json!({ "error": {
        "type": "api_error",
        "message": "An unknown error occurred",
        "request_log_url": log_url(request_id),
    }})
}

pub(super) fn rate_limited(request_id: &str) -> Value {
    json!({ "error": {
        "type": "invalid_request_error",
        "code": "rate_limit",
        "message": "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.",
        "doc_url": "https://stripe.com/docs/error-codes/rate-limit",
        "request_log_url": log_url(request_id),
    }})
}

fn log_url(request_id: &str) -> String {
    format!("https://dashboard.stripe.com/test/logs/{request_id}")
}

/// The part of an id after its prefix, to derive related ids.
fn suffix(id: &str) -> &str {
    id.split_once('_').map_or(id, |(_, rest)| rest)
}

/// Add `extra`'s fields to `into` (both objects): keeps each `json!` under the macro recursion limit.
fn merge(into: &mut Value, extra: Value) {
    if let (Value::Object(into), Value::Object(extra)) = (into, extra) {
        into.extend(extra);
    }
}
