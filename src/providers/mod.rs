//! Payment processors behind one trait: verify a webhook, read its envelope, normalise it into our own
//! provider-neutral event types. Nothing here names a Stripe type; `stripe` is one implementation.

pub mod api;
pub mod stripe;

use std::collections::BTreeMap;
use std::fmt;

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use self::stripe::Stripe;

/// A payment processor as the webhook side of the service sees it.
pub trait Provider: Send + Sync + 'static {
    /// Short lower-case name used in URLs and the database, e.g. "stripe".
    fn name(&self) -> &'static str;
    /// Verify the webhook's authenticity. `secrets` are the tenant's active signing secrets (any may match).
    fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        secrets: &[&[u8]],
        now_unix: i64,
        tolerance_secs: u64,
    ) -> Result<(), VerifyError>;
    /// Minimal, lenient parse of the envelope for storing; fails only when the body is not an event of
    /// this provider at all (not JSON, not an object, no string `id`, no string `type`).
    fn envelope(&self, body: &[u8]) -> Result<Envelope, ParseError>;
    /// Normalise into our own types. `Ok(None)`: a type (or variant) the engine does not use, to be
    /// stored and marked "ignored". `Err` only when a known type lacks something essential.
    fn normalize(&self, body: &[u8]) -> Result<Option<NormalizedEvent>, ParseError>;
}

/// What the inbox stores next to the raw body; every field but `id` and `event_type` is best effort.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub id: String,
    pub event_type: String,
    pub created: Option<DateTime<Utc>>,
    pub livemode: Option<bool>,
    pub api_version: Option<String>,
    /// Id of the object the event is about (`data.object.id` for Stripe).
    pub object_id: Option<String>,
}

/// Why a webhook was rejected. Messages are shown to whoever configures the endpoint, so they say what
/// to fix and never contain a secret or the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    #[error("malformed {header} header: {reason}")]
    MalformedHeader {
        header: &'static str,
        reason: String,
    },
    #[error(
        "webhook timestamp {timestamp} is {} the tolerance of {tolerance_secs} s (server time {now})",
        if *timestamp < *now { "older than" } else { "further in the future than" }
    )]
    TimestampOutsideTolerance {
        timestamp: i64,
        now: i64,
        tolerance_secs: u64,
    },
    #[error("no signing secret is configured for this endpoint")]
    NoSecrets,
    #[error("no signature matched: check the endpoint's signing secret")]
    NoSignatureMatched,
}

/// A payload that could not be read. The message says what is wrong, never echoes the payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

impl ParseError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// One processor event in our own terms: what every event has, plus what happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NormalizedEvent {
    pub header: EventHeader,
    pub kind: EventKind,
}

/// Common to every event. Processors deliver out of order and more than once: dedupe on `event_id`,
/// order by `occurred_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventHeader {
    pub event_id: String,
    pub occurred_at: DateTime<Utc>,
    /// False for test-mode events, so a live tenant can refuse them.
    pub livemode: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(
    clippy::large_enum_variant,
    reason = "one value per webhook, never stored in bulk; boxing would only complicate matching"
)]
pub enum EventKind {
    /// `decline` is present only when the payload carries it (an expanded charge or payment intent);
    /// usually it arrives separately as a [`EventKind::PaymentFailed`].
    InvoicePaymentFailed {
        invoice: InvoiceSnapshot,
        decline: Option<DeclineInfo>,
    },
    InvoicePaid {
        invoice: InvoiceSnapshot,
    },
    InvoiceMarkedUncollectible {
        invoice: InvoiceSnapshot,
    },
    InvoiceVoided {
        invoice: InvoiceSnapshot,
    },
    /// `previous_status` is set when the event says the status changed (e.g. active → past_due).
    SubscriptionUpdated {
        subscription: SubscriptionSnapshot,
        previous_status: Option<SubscriptionStatus>,
    },
    SubscriptionDeleted {
        subscription: SubscriptionSnapshot,
    },
    PaymentMethodAttached(PaymentMethodInfo),
    DefaultPaymentMethodChanged {
        customer_id: String,
        payment_method_id: String,
    },
    /// The customer saved a payment method through a setup flow (our card-update page ends here).
    SetupSucceeded {
        customer_id: Option<String>,
        payment_method_id: Option<String>,
        source: SetupSource,
        setup_intent_id: Option<String>,
        /// The Checkout session, when the setup came through one.
        #[serde(default)]
        session_id: Option<String>,
        /// Our own reference on a session we opened (the recovery case's id).
        #[serde(default)]
        reference: Option<String>,
    },
    CardExpiring {
        customer_id: String,
        card: CardInfo,
    },
    PaymentFailed(PaymentFailure),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SetupSource {
    SetupIntent,
    CheckoutSession,
}

/// The invoice as the event shows it. Money is in minor units of the lower-case `currency`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceSnapshot {
    pub id: String,
    pub customer_id: String,
    pub customer_email: Option<String>,
    pub customer_name: Option<String>,
    /// ISO 3166-1 alpha-2, from the invoice's customer address.
    pub customer_country: Option<String>,
    pub subscription_id: Option<String>,
    pub amount_due: i64,
    pub amount_paid: Option<i64>,
    pub amount_remaining: Option<i64>,
    pub currency: String,
    pub status: Option<InvoiceStatus>,
    pub attempt_count: Option<u32>,
    /// When the processor itself will retry; `None` when it will not (or retries are ours).
    pub next_payment_attempt: Option<DateTime<Utc>>,
    /// Absent on newer API versions, which link payments to invoices separately.
    pub payment_intent_id: Option<String>,
    pub charge_id: Option<String>,
    pub billing_reason: Option<String>,
    pub hosted_invoice_url: Option<String>,
    pub created: Option<DateTime<Utc>>,
    pub period_end: Option<DateTime<Utc>>,
    pub metadata: BTreeMap<String, String>,
    /// Only filled when the customer object was expanded into the payload.
    pub customer_metadata: BTreeMap<String, String>,
    /// Price and product ids of the invoice's lines, for segmenting campaigns by product.
    pub price_ids: Vec<String>,
    pub product_ids: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionSnapshot {
    pub id: String,
    pub customer_id: String,
    pub status: Option<SubscriptionStatus>,
    pub cancel_at_period_end: bool,
    pub cancel_at: Option<DateTime<Utc>>,
    pub canceled_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    /// Newer API versions keep the period on each item; this is the latest end among them.
    pub current_period_end: Option<DateTime<Utc>>,
    pub latest_invoice_id: Option<String>,
    pub default_payment_method_id: Option<String>,
    pub collection_method: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub price_ids: Vec<String>,
    pub product_ids: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentMethodInfo {
    pub payment_method_id: String,
    pub customer_id: Option<String>,
    /// The processor's kind of method, e.g. "card", "sepa_debit".
    pub method_type: Option<String>,
    pub card: Option<CardInfo>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardInfo {
    /// Lower-case brand as in payment methods ("visa", "mastercard", "amex"), also for legacy cards.
    pub brand: Option<String>,
    /// The network that carried (or will carry) the payment; needed for network retry rules.
    pub network: Option<String>,
    pub last4: Option<String>,
    pub exp_month: Option<u32>,
    pub exp_year: Option<u32>,
    /// Same card, same fingerprint: counts retries per card across customers' methods.
    pub fingerprint: Option<String>,
    pub payment_method_id: Option<String>,
}

/// Why a payment was declined, as the processor and the network said it. All fields optional: the
/// engine classifies (`domain::decline`), this only transports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclineInfo {
    /// Processor error code, e.g. "card_declined", "expired_card".
    pub failure_code: Option<String>,
    /// Issuer's reason, e.g. "insufficient_funds"; `None` for a bare `card_declined`.
    pub decline_code: Option<String>,
    /// Processor advice: "try_again_later", "do_not_try_again", "confirm_card_data".
    pub advice_code: Option<String>,
    /// Network advice (Mastercard Merchant Advice Code, e.g. "03", "24").
    pub network_advice_code: Option<String>,
    /// Raw network response code, e.g. "51".
    pub network_decline_code: Option<String>,
    /// E.g. "issuer_declined" or "blocked" (by the processor's fraud rules, not the issuer).
    pub outcome_type: Option<String>,
    pub card: Option<CardInfo>,
    pub message: Option<String>,
}

/// A failed payment attempt, with the decline. Links to the invoice only when the payload has it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentFailure {
    pub payment_intent_id: Option<String>,
    pub charge_id: Option<String>,
    pub invoice_id: Option<String>,
    pub customer_id: Option<String>,
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub decline: DeclineInfo,
}

macro_rules! open_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $s:literal),* $(,)? }) => {
        $(#[$m])*
        /// Unknown values are kept in `Other`, so a new processor status never fails an event.
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(from = "String", into = "String")]
        pub enum $name { $($variant,)* Other(String) }

        impl $name {
            pub fn as_str(&self) -> &str {
                match self { $(Self::$variant => $s,)* Self::Other(s) => s }
            }
        }
        impl From<String> for $name {
            fn from(s: String) -> Self {
                match s.as_str() { $($s => Self::$variant,)* _ => Self::Other(s) }
            }
        }
        impl From<$name> for String {
            fn from(v: $name) -> String { v.as_str().to_owned() }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

open_enum!(InvoiceStatus {
    Draft = "draft",
    Open = "open",
    Paid = "paid",
    Uncollectible = "uncollectible",
    Void = "void",
});

open_enum!(SubscriptionStatus {
    Incomplete = "incomplete",
    IncompleteExpired = "incomplete_expired",
    Trialing = "trialing",
    Active = "active",
    PastDue = "past_due",
    Unpaid = "unpaid",
    Canceled = "canceled",
    Paused = "paused",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_enums_keep_unknown_values() {
        assert_eq!(
            SubscriptionStatus::from("past_due".to_owned()),
            SubscriptionStatus::PastDue
        );
        let odd = InvoiceStatus::from("in_review".to_owned());
        assert_eq!(odd, InvoiceStatus::Other("in_review".into()));
        assert_eq!(serde_json::to_string(&odd).unwrap(), "\"in_review\"");
    }

    #[test]
    fn timestamp_error_says_which_way() {
        let old = VerifyError::TimestampOutsideTolerance {
            timestamp: 1,
            now: 1000,
            tolerance_secs: 300,
        };
        assert!(old.to_string().contains("older than"));
        let future = VerifyError::TimestampOutsideTolerance {
            timestamp: 2000,
            now: 1000,
            tolerance_secs: 300,
        };
        assert!(future.to_string().contains("future"));
    }
}
