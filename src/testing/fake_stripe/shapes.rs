//! The JSON the fake answers with, at full size in Stripe's current shapes (modelled on the objects of
//! Stripe's published OpenAPI fixtures), so that a strict typed client parses it as it would parse
//! Stripe's own answers.

use std::sync::LazyLock;

use serde_json::{Value, json};

use super::template::{Fill, Template};
use super::{InvoiceRecord, InvoiceStatus, SubscriptionRecord};

/// An invoice: its parent and line item differ with and without a subscription; the rest is one
/// template.
pub(super) fn invoice(inv: &InvoiceRecord) -> String {
    static INVOICE: LazyLock<Template> =
        LazyLock::new(|| Template::new(INVOICE_JSON, INVOICE_HOLES));
    static PARENT: LazyLock<Template> =
        LazyLock::new(|| Template::new(SUBSCRIPTION_PARENT_JSON, &["subscription"]));
    static ITEM_OF_SUBSCRIPTION: LazyLock<Template> =
        LazyLock::new(|| Template::new(SUBSCRIPTION_ITEM_PARENT_JSON, &["subscription", "suffix"]));
    static INVOICE_ITEM: LazyLock<Template> =
        LazyLock::new(|| Template::new(INVOICE_ITEM_PARENT_JSON, &["suffix"]));
    let paid = inv.status == InvoiceStatus::Paid;
    let amount_paid = if paid { inv.amount_due } else { 0 };
    let s = suffix(&inv.id);
    let (parent, line_parent) = match &inv.subscription {
        Some(sub) => (
            PARENT.render(&[Fill::Str(sub)]),
            ITEM_OF_SUBSCRIPTION.render(&[Fill::Str(sub), Fill::Str(s)]),
        ),
        None => ("null".to_owned(), INVOICE_ITEM.render(&[Fill::Str(s)])),
    };
    let billing_reason = if inv.subscription.is_some() {
        "subscription_cycle"
    } else {
        "manual"
    };
    INVOICE.render(&[
        Fill::Str(&inv.id),
        Fill::Str(s),
        Fill::Str(&s.to_uppercase()),
        Fill::Str(&inv.customer),
        Fill::OptStr(inv.subscription.as_deref()),
        Fill::Int(inv.amount_due),
        Fill::Int(amount_paid),
        Fill::Int(inv.amount_due - amount_paid),
        Fill::Int(inv.attempt_count),
        Fill::Bool(inv.attempt_count > 0),
        Fill::Bool(inv.status == InvoiceStatus::Open),
        Fill::Str(billing_reason),
        Fill::Int(inv.created),
        Fill::Int(inv.created + 30 * 86_400),
        Fill::Int(inv.created - 30 * 86_400),
        Fill::Str(&inv.currency),
        Fill::OptInt(inv.next_payment_attempt),
        Fill::Str(inv.status.as_str()),
        Fill::OptInt(inv.marked_uncollectible_at),
        Fill::OptInt(inv.paid_at),
        Fill::OptInt(inv.voided_at),
        Fill::Raw(&parent),
        Fill::Raw(&line_parent),
    ])
}

const INVOICE_HOLES: &[&str] = &[
    "id",
    "suffix",
    "SUFFIX",
    "customer",
    "subscription",
    "amount_due",
    "amount_paid",
    "amount_remaining",
    "attempt_count",
    "attempted",
    "auto_advance",
    "billing_reason",
    "created",
    "created_plus_30d",
    "created_minus_30d",
    "currency",
    "next_payment_attempt",
    "status",
    "marked_uncollectible_at",
    "paid_at",
    "voided_at",
    "parent",
    "line_parent",
];

const INVOICE_JSON: &str = r#"{
  "id": {{id}},
  "object": "invoice",
  "account_country": "US",
  "account_name": "Fake Stripe Account",
  "account_tax_ids": null,
  "amount_due": {{amount_due}},
  "amount_overpaid": 0,
  "amount_paid": {{amount_paid}},
  "amount_remaining": {{amount_remaining}},
  "amount_shipping": 0,
  "application": null,
  "attempt_count": {{attempt_count}},
  "attempted": {{attempted}},
  "auto_advance": {{auto_advance}},
  "automatic_tax": {
    "disabled_reason": null,
    "enabled": false,
    "liability": null,
    "provider": null,
    "status": null
  },
  "automatically_finalizes_at": null,
  "billing_reason": {{billing_reason}},
  "collection_method": "charge_automatically",
  "confirmation_secret": null,
  "created": {{created}},
  "currency": {{currency}},
  "custom_fields": null,
  "customer": {{customer}},
  "customer_account": null,
  "customer_address": null,
  "customer_email": "{{customer}}@example.com",
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
  "effective_at": {{created}},
  "ending_balance": 0,
  "footer": null,
  "from_invoice": null,
  "hosted_invoice_url": "https://invoice.stripe.com/i/acct_fake/test_{{id}}",
  "invoice_pdf": "https://pay.stripe.com/invoice/acct_fake/test_{{id}}/pdf",
  "issuer": { "type": "self" },
  "last_finalization_error": null,
  "latest_revision": null,
  "lines": {
    "object": "list",
    "data": [
      {
        "id": "il_{{suffix}}",
        "object": "line_item",
        "amount": {{amount_due}},
        "currency": {{currency}},
        "description": "1 × Subscription (at the plan's price / month)",
        "discount_amounts": [],
        "discountable": true,
        "discounts": [],
        "invoice": {{id}},
        "livemode": false,
        "metadata": {},
        "parent": {{line_parent}},
        "period": { "end": {{created_plus_30d}}, "start": {{created}} },
        "pretax_credit_amounts": [],
        "pricing": {
          "price_details": { "price": "price_{{suffix}}", "product": "prod_{{suffix}}" },
          "type": "price_details",
          "unit_amount_decimal": "{{amount_due}}"
        },
        "quantity": 1,
        "quantity_decimal": "1",
        "subscription": {{subscription}},
        "subtotal": {{amount_due}},
        "taxes": []
      }
    ],
    "has_more": false,
    "url": "/v1/invoices/{{id}}/lines"
  },
  "livemode": false,
  "metadata": {},
  "next_payment_attempt": {{next_payment_attempt}},
  "number": "FAKE-{{SUFFIX}}",
  "on_behalf_of": null,
  "parent": {{parent}},
  "payment_settings": {
    "default_mandate": null,
    "payment_method_options": null,
    "payment_method_types": null
  },
  "period_end": {{created}},
  "period_start": {{created_minus_30d}},
  "post_payment_credit_notes_amount": 0,
  "pre_payment_credit_notes_amount": 0,
  "receipt_number": null,
  "rendering": null,
  "shipping_cost": null,
  "shipping_details": null,
  "starting_balance": 0,
  "statement_descriptor": null,
  "status": {{status}},
  "status_transitions": {
    "finalized_at": {{created}},
    "marked_uncollectible_at": {{marked_uncollectible_at}},
    "paid_at": {{paid_at}},
    "voided_at": {{voided_at}}
  },
  "subtotal": {{amount_due}},
  "subtotal_excluding_tax": {{amount_due}},
  "test_clock": null,
  "threshold_reason": null,
  "total": {{amount_due}},
  "total_discount_amounts": [],
  "total_excluding_tax": {{amount_due}},
  "total_pretax_credit_amounts": [],
  "total_taxes": [],
  "webhooks_delivered_at": {{created}}
}"#;

const SUBSCRIPTION_PARENT_JSON: &str = r#"{
  "quote_details": null,
  "subscription_details": { "metadata": {}, "subscription": {{subscription}} },
  "type": "subscription_details"
}"#;

const SUBSCRIPTION_ITEM_PARENT_JSON: &str = r#"{
  "invoice_item_details": null,
  "subscription_item_details": {
    "invoice_item": null,
    "proration": false,
    "proration_details": { "credited_items": null },
    "subscription": {{subscription}},
    "subscription_item": "si_{{suffix}}"
  },
  "type": "subscription_item_details"
}"#;

const INVOICE_ITEM_PARENT_JSON: &str = r#"{
  "invoice_item_details": {
    "invoice_item": "ii_{{suffix}}",
    "proration": false,
    "proration_details": { "credited_items": null },
    "subscription": null
  },
  "subscription_item_details": null,
  "type": "invoice_item_details"
}"#;

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
) -> String {
    static FIELDS: LazyLock<Template> =
        LazyLock::new(|| Template::new(CARD_ERROR_FIELDS_JSON, CARD_ERROR_FIELDS_HOLES));
    static ERROR: LazyLock<Template> =
        LazyLock::new(|| Template::new(CARD_ERROR_JSON, CARD_ERROR_HOLES));
    let s = suffix(&inv.id);
    let message = if d.code == "expired_card" {
        "Your card has expired."
    } else if d.decline_code == Some("insufficient_funds") {
        "Your card has insufficient funds."
    } else {
        "Your card was declined."
    };
    let fields = FIELDS.render(&[
        Fill::Str(d.code),
        Fill::OptStr(d.decline_code),
        Fill::OptStr(d.advice_code),
        Fill::OptStr(d.network_advice_code),
        Fill::OptStr(d.network_decline_code),
        Fill::Str(&d.code.replace('_', "-")),
        Fill::Str(message),
        Fill::Str(request_id),
        Fill::Str(s),
        Fill::Int(inv.created),
        Fill::Str(&inv.customer),
    ]);
    ERROR.render(&[
        Fill::Raw(&fields),
        Fill::Str(s),
        Fill::Str(request_id),
        Fill::Str(&inv.id),
        Fill::Int(inv.amount_due),
        Fill::Str(&inv.currency),
        Fill::Str(&inv.customer),
        Fill::Int(now),
    ])
}

const CARD_ERROR_FIELDS_HOLES: &[&str] = &[
    "code",
    "decline_code",
    "advice_code",
    "network_advice_code",
    "network_decline_code",
    "doc_code",
    "message",
    "request_id",
    "suffix",
    "created",
    "customer",
];

/// The error's members, which the payment intent repeats as its `last_payment_error`.
const CARD_ERROR_FIELDS_JSON: &str = r#"
  "type": "card_error",
  "code": {{code}},
  "decline_code": {{decline_code}},
  "advice_code": {{advice_code}},
  "network_advice_code": {{network_advice_code}},
  "network_decline_code": {{network_decline_code}},
  "charge": "ch_{{request_id}}",
  "doc_url": "https://stripe.com/docs/error-codes/{{doc_code}}",
  "message": {{message}},
  "payment_method": {
    "id": "pm_{{suffix}}",
    "object": "payment_method",
    "allow_redisplay": "unspecified",
    "billing_details": {
      "address": { "city": null, "country": null, "line1": null, "line2": null, "postal_code": null, "state": null },
      "email": null,
      "name": null,
      "phone": null,
      "tax_id": null
    },
    "card": {
      "brand": "visa",
      "checks": { "address_line1_check": null, "address_postal_code_check": null, "cvc_check": null },
      "country": "US",
      "display_brand": "visa",
      "exp_month": 8,
      "exp_year": 2030,
      "fingerprint": "fp{{suffix}}",
      "funding": "credit",
      "generated_from": null,
      "last4": "0341",
      "networks": { "available": ["visa"], "preferred": null },
      "regulated_status": "unregulated",
      "three_d_secure_usage": { "supported": true },
      "wallet": null
    },
    "created": {{created}},
    "customer": {{customer}},
    "customer_account": null,
    "livemode": false,
    "metadata": {},
    "type": "card"
  },
  "request_log_url": "https://dashboard.stripe.com/test/logs/{{request_id}}"
"#;

const CARD_ERROR_HOLES: &[&str] = &[
    "fields",
    "suffix",
    "request_id",
    "invoice",
    "amount",
    "currency",
    "customer",
    "now",
];

const CARD_ERROR_JSON: &str = r#"{
  "error": {
    {{fields}},
    "payment_intent": {
      "id": "pi_{{suffix}}",
      "object": "payment_intent",
      "amount": {{amount}},
      "amount_capturable": 0,
      "amount_details": { "tip": {} },
      "amount_received": 0,
      "application": null,
      "application_fee_amount": null,
      "automatic_payment_methods": null,
      "canceled_at": null,
      "cancellation_reason": null,
      "capture_method": "automatic",
      "client_secret": "pi_{{suffix}}_secret_fake",
      "confirmation_method": "automatic",
      "created": {{now}},
      "currency": {{currency}},
      "customer": {{customer}},
      "customer_account": null,
      "description": "Payment for Invoice {{invoice}}",
      "excluded_payment_method_types": null,
      "last_payment_error": { {{fields}} },
      "latest_charge": "ch_{{request_id}}",
      "livemode": false,
      "metadata": {},
      "next_action": null,
      "on_behalf_of": null,
      "payment_method": null,
      "payment_method_configuration_details": null,
      "payment_method_options": {
        "card": { "installments": null, "mandate_options": null, "network": null, "request_three_d_secure": "automatic" }
      },
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
      "transfer_group": null
    }
  }
}"#;

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
