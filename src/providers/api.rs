//! The calls the recovery engine makes to a payment processor, in provider-neutral terms. Nothing here
//! names a Stripe type; [`crate::providers::stripe::client::StripeApi`] is one implementation and
//! [`crate::testing::fake_stripe`] a server to run it against.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use crate::providers::{CardInfo, DeclineInfo, PaymentMethodInfo};

/// A boxed, sendable future: `async fn` in a trait would not be dyn-compatible.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A tenant's API credentials for one call. `api_base` overrides the processor's URL (a fake server in
/// tests, the benchmark and `dunning simulate`); `None` means the real API.
#[derive(Clone)]
pub struct Credentials {
    pub secret_key: SecretString,
    pub api_base: Option<String>,
}

impl Credentials {
    pub fn new(secret_key: impl Into<String>, api_base: Option<String>) -> Self {
        Self {
            secret_key: SecretString::from(secret_key.into()),
            api_base,
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("secret_key", &"[redacted]")
            .field("api_base", &self.api_base)
            .finish()
    }
}

/// An invoice as the engine needs it before charging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvoiceState {
    Open {
        /// Minor units.
        amount_due: i64,
        /// Lower-case ISO code.
        currency: String,
        /// When the processor itself will retry; `Some` in `manage` mode means its own retries are on.
        next_payment_attempt: Option<DateTime<Utc>>,
        subscription_id: Option<String>,
        customer_id: String,
    },
    Paid,
    Void,
    Uncollectible,
    Draft,
    /// A status this version does not know, as the processor named it.
    Other(String),
}

/// The answer to one dunning attempt (one idempotency key).
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "one value per payment call, never stored in bulk; boxing would only complicate matching"
)]
pub enum PayResult {
    /// The invoice is paid: by this attempt, or it already was.
    Paid,
    /// The card was declined; feeds the retry policy.
    Declined(DeclineInfo),
    /// No definite answer after the client's own bounded retries. Re-read the invoice before anything
    /// else. `retry_same_key`: re-sending this attempt with the same key may still get a real answer
    /// (timeout, connection error, rate limit, a 5xx not saved under the key); `false` when the answer
    /// is fixed for this key (a saved 5xx being replayed, or the processor said not to retry), so only
    /// a new attempt with a new key can charge — after the re-read says the invoice is still open.
    Uncertain {
        reason: String,
        retry_same_key: bool,
    },
}

/// A call that failed. Messages never contain the secret key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiFailure {
    /// Worth trying again later (rate limit, 5xx, timeout, connection). `should_retry` is the
    /// processor's own hint when known.
    Transient {
        status: Option<u16>,
        message: String,
        should_retry: Option<bool>,
    },
    /// Trying again will not help (bad request, unknown object, bad credentials). `status` 0 means the
    /// request never left (invalid configuration).
    Permanent {
        status: u16,
        code: Option<String>,
        message: String,
    },
}

impl ApiFailure {
    pub fn is_transient(&self) -> bool {
        matches!(self, ApiFailure::Transient { .. })
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            ApiFailure::Transient { status, .. } => *status,
            ApiFailure::Permanent { status, .. } => Some(*status),
        }
    }
}

impl fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiFailure::Transient {
                status, message, ..
            } => match status {
                Some(status) => write!(f, "transient processor error (HTTP {status}): {message}"),
                None => write!(f, "transient processor error: {message}"),
            },
            ApiFailure::Permanent {
                status,
                code,
                message,
            } => {
                write!(f, "processor refused the request (HTTP {status}")?;
                if let Some(code) = code {
                    write!(f, ", {code}")?;
                }
                write!(f, "): {message}")
            }
        }
    }
}

impl std::error::Error for ApiFailure {}

/// Which processor-hosted page takes the customer's new card. The tenant chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CardUpdateFlow {
    /// A Billing Portal session limited to updating the payment method; the portal makes the new card
    /// the default itself.
    #[default]
    BillingPortal,
    /// A Checkout Session in `setup` mode; we make its card the default when the customer returns.
    CheckoutSetup,
}

impl CardUpdateFlow {
    pub fn as_str(self) -> &'static str {
        match self {
            CardUpdateFlow::BillingPortal => "billing_portal",
            CardUpdateFlow::CheckoutSetup => "checkout",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "billing_portal" => Some(CardUpdateFlow::BillingPortal),
            "checkout" => Some(CardUpdateFlow::CheckoutSetup),
            _ => None,
        }
    }
}

/// What the card-update page asks of the processor.
#[derive(Debug, Clone)]
pub struct CardUpdateRequest {
    pub flow: CardUpdateFlow,
    pub customer_id: String,
    /// Lower-case ISO code of the amount owed, or empty outside a case.
    pub currency: String,
    /// Where the customer comes back to after saving a card. For Checkout, `{CHECKOUT_SESSION_ID}`
    /// in it is replaced by the session's id.
    pub return_url: String,
    /// Where the customer lands when they give up.
    pub cancel_url: String,
    /// The customer's language, when the processor's page speaks it.
    pub locale: Option<String>,
    /// Our reference for the session (the recovery case id), where the processor keeps one: its
    /// completion webhook then names the case.
    pub reference: String,
}

/// What a notice to a customer needs from the processor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerInfo {
    pub email: Option<String>,
    pub name: Option<String>,
    /// The card their invoices are charged with now.
    pub default_card: Option<CardInfo>,
}

/// A processor-hosted page to send the customer to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostedSession {
    pub id: String,
    pub url: String,
}

/// How a subscription's collection is paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseBehavior {
    /// Invoices are created and immediately marked uncollectible.
    MarkUncollectible,
    /// Invoices stay drafts until collection resumes.
    KeepAsDraft,
}

/// The processor calls of the recovery engine. Every mutating call takes the idempotency key of the
/// attempt or action (always sent); re-sending with the same key never acts twice.
pub trait ProcessorApi: Send + Sync + 'static {
    fn get_invoice<'a>(
        &'a self,
        c: &'a Credentials,
        invoice_id: &'a str,
    ) -> BoxFuture<'a, Result<InvoiceState, ApiFailure>>;

    /// Charge the invoice off-session with this Idempotency-Key (the attempt id; always sent).
    fn pay_invoice<'a>(
        &'a self,
        c: &'a Credentials,
        invoice_id: &'a str,
        idempotency_key: &'a str,
    ) -> BoxFuture<'a, Result<PayResult, ApiFailure>>;

    /// Cancel now (`at_period_end = false`) or at the end of the current period.
    fn cancel_subscription<'a>(
        &'a self,
        c: &'a Credentials,
        subscription_id: &'a str,
        at_period_end: bool,
        idempotency_key: &'a str,
    ) -> BoxFuture<'a, Result<(), ApiFailure>>;

    fn mark_uncollectible<'a>(
        &'a self,
        c: &'a Credentials,
        invoice_id: &'a str,
        idempotency_key: &'a str,
    ) -> BoxFuture<'a, Result<(), ApiFailure>>;

    fn pause_collection<'a>(
        &'a self,
        c: &'a Credentials,
        subscription_id: &'a str,
        behavior: PauseBehavior,
        idempotency_key: &'a str,
    ) -> BoxFuture<'a, Result<(), ApiFailure>>;

    fn get_customer<'a>(
        &'a self,
        c: &'a Credentials,
        customer_id: &'a str,
    ) -> BoxFuture<'a, Result<CustomerInfo, ApiFailure>>;

    /// A hosted page where the customer saves a new card (sent with `idempotency_key`, so a
    /// double-clicked button opens one session).
    fn create_card_update_session<'a>(
        &'a self,
        c: &'a Credentials,
        request: &'a CardUpdateRequest,
        idempotency_key: &'a str,
    ) -> BoxFuture<'a, Result<HostedSession, ApiFailure>>;

    /// After the customer came back from the hosted page: the card they saved, made the default for
    /// the customer's invoices and for `subscription_id`. `checkout_session` is the Checkout session
    /// named in the return URL; it must belong to `customer_id` and be complete. Without it (Billing
    /// Portal, which sets the default itself) the customer's current default is returned. `None`
    /// when no card was saved.
    fn complete_card_update<'a>(
        &'a self,
        c: &'a Credentials,
        customer_id: &'a str,
        subscription_id: Option<&'a str>,
        checkout_session: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<PaymentMethodInfo>, ApiFailure>>;
}
