//! [`ProcessorApi`] over Stripe's REST API with async-stripe's typed requests.
//!
//! Every mutating call is sent with `RequestStrategy::Idempotent(key)` and re-sent by this client only
//! with that same key, a bounded number of times, where that is safe: a connection error, a timeout,
//! a 429 (or `lock_timeout` / `idempotency_key_in_use`), a 5xx — unless Stripe says otherwise with
//! `Stripe-Should-Retry`, which decides when present. A saved answer (`Idempotent-Replayed: true`, or
//! a 5xx repeating the earlier one's `request_log_url`) will not change by re-sending and ends the
//! retries. Requests go through our own [`Transport`], which reuses connections and reads those
//! headers.

use std::future::Future;
use std::time::Duration;

use chrono::DateTime;
use secrecy::ExposeSecret;
use stripe::StripeRequest;
use stripe::{IdempotencyKey, RequestStrategy};
use stripe_billing::invoice::MarkUncollectibleInvoice;
use stripe_billing::subscription::{
    CancelSubscription, UpdateSubscription, UpdateSubscriptionPauseCollection,
    UpdateSubscriptionPauseCollectionBehavior,
};
use stripe_client_core::{RequestBuilder, StripeMethod};

use crate::providers::api::{
    ApiFailure, BoxFuture, CardUpdateRequest, Credentials, CustomerInfo, HostedSession,
    InvoiceState, PauseBehavior, PayResult, ProcessorApi,
};
use crate::providers::{CardInfo, DeclineInfo, PaymentMethodInfo};

use super::api_error::ApiError;
use super::transport::{Bases, CallError, Transport};

/// The invoice fields the engine reads. Stripe's full invoice is a few kilobytes of fields we do not
/// use, and the typed one fails on any that drifts; this reads what we need and ignores the rest.
#[derive(miniserde::Deserialize)]
struct InvoiceView {
    status: Option<String>,
    amount_due: Option<i64>,
    currency: Option<String>,
    next_payment_attempt: Option<i64>,
    /// An id: the engine never expands it.
    customer: Option<String>,
    /// API versions before 2025-03-31 name the subscription here; later ones under `parent`.
    subscription: Option<String>,
    parent: Option<InvoiceParent>,
}

#[derive(miniserde::Deserialize)]
struct InvoiceParent {
    subscription_details: Option<SubscriptionDetails>,
}

#[derive(miniserde::Deserialize)]
struct SubscriptionDetails {
    subscription: Option<String>,
}

#[derive(serde::Serialize)]
struct OffSession {
    off_session: bool,
}

/// Timeouts and the client's own bounded retries.
#[derive(Debug, Clone)]
pub struct StripeApiConfig {
    /// Per HTTP attempt, including reading the body.
    pub timeout: Duration,
    /// Re-sends after the first try (same key), only for answers where that is safe.
    pub max_retries: u32,
    /// First backoff; doubles per retry up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for StripeApiConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            max_retries: 3,
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(4),
        }
    }
}

/// Stripe's API as the engine uses it. Clients are cached per (secret key, API base).
pub struct StripeApi {
    config: StripeApiConfig,
    /// One connection pool for every tenant's calls.
    http: reqwest::Client,
    bases: Bases,
}

impl Default for StripeApi {
    fn default() -> Self {
        Self::new(StripeApiConfig::default())
    }
}

impl std::fmt::Debug for StripeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeApi")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Why [`StripeApi::send`] gave up without a value.
#[derive(Debug)]
pub(super) enum Stop {
    /// A definite answer that re-sending would not change (a 4xx other than a rate limit or a lock).
    Refused { status: u16, error: Box<ApiError> },
    /// A 2xx whose body did not parse as the typed object: the call took effect.
    UnreadableSuccess,
    /// An error status whose body did not parse: the status and the reason are unknown.
    UnreadableError(String),
    /// Still failing after the bounded retries, or failing in a way re-sending will not change.
    /// `replayed`: re-sending with this key will not change the answer (Stripe replayed the saved
    /// answer, or said `Stripe-Should-Retry: false`).
    Exhausted {
        status: Option<u16>,
        message: String,
        replayed: bool,
    },
    /// The request could not be built (bad key characters, bad URL); it never left.
    Config(String),
}

impl StripeApi {
    pub fn new(config: StripeApiConfig) -> Self {
        Self {
            config,
            http: Transport::pool(),
            bases: Bases::default(),
        }
    }

    pub fn config(&self) -> &StripeApiConfig {
        &self.config
    }

    pub(super) fn client(&self, c: &Credentials) -> Transport {
        Transport::new(
            self.http.clone(),
            self.bases.get(c.api_base.as_deref()),
            c.secret_key.expose_secret(),
            self.config.timeout,
        )
    }

    fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32 << retry.saturating_sub(1).min(16);
        self.config
            .backoff
            .saturating_mul(factor)
            .min(self.config.max_backoff)
    }

    /// Run `call` (one HTTP request with the same key each time) until a definite answer or the retry
    /// budget is spent. Messages are redacted of `secret`.
    pub(super) async fn send<T, F, Fut>(&self, secret: &str, mut call: F) -> Result<T, Stop>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, CallError>>,
    {
        let mut last_log_url: Option<String> = None;
        let mut last = Stop::Exhausted {
            status: None,
            message: "no request was sent".to_owned(),
            replayed: false,
        };
        for retry in 0..=self.config.max_retries {
            if retry > 0 {
                tokio::time::sleep(self.backoff(retry)).await;
            }
            let err = match call().await {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            match err {
                CallError::Status {
                    status,
                    error: Some(error),
                    should_retry,
                    replayed,
                } => {
                    // Stripe's header, when sent, decides; otherwise the status and code do.
                    let resend = should_retry.unwrap_or_else(|| retryable(status, &error));
                    if !resend && status < 500 && status != 429 {
                        return Err(Stop::Refused { status, error });
                    }
                    let message = describe(status, &error, secret);
                    let log_url = error.request_log_url.0.clone().filter(|_| status >= 500);
                    let replayed =
                        replayed || (log_url.is_some() && log_url == last_log_url) || !resend;
                    tracing::warn!(status, retry, replayed, "Stripe answered {message}");
                    last = Stop::Exhausted {
                        status: Some(status),
                        message,
                        replayed,
                    };
                    if replayed {
                        return Err(last);
                    }
                    last_log_url = log_url;
                }
                CallError::Status {
                    status,
                    error: None,
                    ..
                } => {
                    return Err(Stop::UnreadableError(format!(
                        "HTTP {status} with a body that is not a Stripe error"
                    )));
                }
                CallError::Timeout => {
                    tracing::warn!(retry, "Stripe request timed out");
                    last_log_url = None;
                    last = Stop::Exhausted {
                        status: None,
                        message: format!("no answer within {:?}", self.config.timeout),
                        replayed: false,
                    };
                }
                CallError::Connection(message) => {
                    let message = redact(&format!("connection error: {message}"), secret);
                    tracing::warn!(retry, "Stripe request failed: {message}");
                    last_log_url = None;
                    last = Stop::Exhausted {
                        status: None,
                        message,
                        replayed: false,
                    };
                }
                CallError::UnreadableSuccess(message) => {
                    tracing::warn!(
                        "Stripe's answer did not parse: {}",
                        redact(&message, secret)
                    );
                    return Err(Stop::UnreadableSuccess);
                }
                CallError::Config(message) => {
                    return Err(Stop::Config(redact(&message, secret)));
                }
            }
        }
        Err(last)
    }

    async fn get_invoice_inner(
        &self,
        c: &Credentials,
        invoice_id: &str,
    ) -> Result<InvoiceState, ApiFailure> {
        let client = self.client(c);
        let secret = c.secret_key.expose_secret();
        let path = format!("/invoices/{invoice_id}");
        let invoice: InvoiceView = self
            .send(secret, || {
                RequestBuilder::new(StripeMethod::Get, path.clone())
                    .customize::<InvoiceView>()
                    .request_strategy(RequestStrategy::Once)
                    .send(&client)
            })
            .await
            .map_err(|stop| failure(stop, "invoice", secret))?;
        let status = invoice.status.unwrap_or_default();
        Ok(match status.as_str() {
            "open" => InvoiceState::Open {
                amount_due: invoice.amount_due.unwrap_or(0),
                currency: invoice.currency.unwrap_or_default(),
                next_payment_attempt: invoice
                    .next_payment_attempt
                    .and_then(|ts| DateTime::from_timestamp(ts, 0)),
                subscription_id: invoice
                    .parent
                    .and_then(|p| p.subscription_details)
                    .and_then(|d| d.subscription)
                    .or(invoice.subscription),
                customer_id: invoice.customer.unwrap_or_default(),
            },
            "paid" => InvoiceState::Paid,
            "void" => InvoiceState::Void,
            "uncollectible" => InvoiceState::Uncollectible,
            "draft" => InvoiceState::Draft,
            _ => InvoiceState::Other(status),
        })
    }

    async fn pay_invoice_inner(
        &self,
        c: &Credentials,
        invoice_id: &str,
        idempotency_key: &str,
    ) -> Result<PayResult, ApiFailure> {
        let key = idempotency_key_of(idempotency_key)?;
        let client = self.client(c);
        let secret = c.secret_key.expose_secret();
        let path = format!("/invoices/{invoice_id}/pay");
        let result = self
            .send(secret, || {
                RequestBuilder::new(StripeMethod::Post, path.clone())
                    .form(&OffSession { off_session: true })
                    .customize::<InvoiceView>()
                    .request_strategy(RequestStrategy::Idempotent(key.clone()))
                    .send(&client)
            })
            .await;
        let stop = match result {
            Ok(invoice) => {
                let status = invoice.status.as_deref().unwrap_or("");
                return Ok(if status == "paid" {
                    PayResult::Paid
                } else {
                    // E.g. a payment method that settles later: no decline, not paid yet.
                    PayResult::Uncertain {
                        reason: format!("pay answered with the invoice in status {status:?}"),
                        retry_same_key: false,
                    }
                });
            }
            Err(stop) => stop,
        };
        match stop {
            Stop::Refused { status: 402, error } => {
                Ok(PayResult::Declined(decline_info(&error, secret)))
            }
            Stop::Refused { status: 400, error } if already_paid(&error) => Ok(PayResult::Paid),
            Stop::Refused { status: 400, error }
                if code_of(&error).as_deref() == Some("invoice_payment_intent_requires_action") =>
            {
                let mut decline = decline_info(&error, secret);
                decline.failure_code = Some("authentication_required".to_owned());
                Ok(PayResult::Declined(decline))
            }
            Stop::UnreadableSuccess => {
                tracing::warn!("Stripe paid the invoice but its answer did not parse");
                Ok(PayResult::Paid)
            }
            Stop::UnreadableError(message) => Ok(PayResult::Uncertain {
                reason: format!("unreadable error answer: {message}"),
                retry_same_key: false,
            }),
            Stop::Exhausted {
                status,
                message,
                replayed,
            } => Ok(PayResult::Uncertain {
                reason: match (status, replayed) {
                    (Some(status), true) => {
                        format!("HTTP {status} saved under this idempotency key: {message}")
                    }
                    (Some(status), false) => format!("HTTP {status}: {message}"),
                    (None, _) => message,
                },
                retry_same_key: !replayed,
            }),
            other => Err(failure(other, "invoice", secret)),
        }
    }

    async fn update<T, F, Fut>(
        &self,
        c: &Credentials,
        what: &str,
        idempotency_key: &str,
        call: F,
    ) -> Result<(), ApiFailure>
    where
        F: Fn(Transport, RequestStrategy) -> Fut,
        Fut: Future<Output = Result<T, CallError>>,
    {
        let key = idempotency_key_of(idempotency_key)?;
        let client = self.client(c);
        let secret = c.secret_key.expose_secret();
        self.send(secret, || {
            call(client.clone(), RequestStrategy::Idempotent(key.clone()))
        })
        .await
        .map(|_| ())
        .or_else(|stop| match stop {
            Stop::UnreadableSuccess => Ok(()),
            other => Err(failure(other, what, secret)),
        })
    }
}

impl ProcessorApi for StripeApi {
    fn get_invoice<'a>(
        &'a self,
        c: &'a Credentials,
        invoice_id: &'a str,
    ) -> BoxFuture<'a, Result<InvoiceState, ApiFailure>> {
        Box::pin(self.get_invoice_inner(c, invoice_id))
    }

    fn pay_invoice<'a>(
        &'a self,
        c: &'a Credentials,
        invoice_id: &'a str,
        idempotency_key: &'a str,
    ) -> BoxFuture<'a, Result<PayResult, ApiFailure>> {
        Box::pin(self.pay_invoice_inner(c, invoice_id, idempotency_key))
    }

    fn cancel_subscription<'a>(
        &'a self,
        c: &'a Credentials,
        subscription_id: &'a str,
        at_period_end: bool,
        idempotency_key: &'a str,
    ) -> BoxFuture<'a, Result<(), ApiFailure>> {
        Box::pin(async move {
            if at_period_end {
                let request = UpdateSubscription::new(subscription_id).cancel_at_period_end(true);
                self.update(c, "subscription", idempotency_key, |client, strategy| {
                    let request = &request;
                    async move {
                        request
                            .customize()
                            .request_strategy(strategy)
                            .send(&client)
                            .await
                    }
                })
                .await
            } else {
                let request = CancelSubscription::new(subscription_id);
                self.update(c, "subscription", idempotency_key, |client, strategy| {
                    let request = &request;
                    async move {
                        request
                            .customize()
                            .request_strategy(strategy)
                            .send(&client)
                            .await
                    }
                })
                .await
            }
        })
    }

    fn mark_uncollectible<'a>(
        &'a self,
        c: &'a Credentials,
        invoice_id: &'a str,
        idempotency_key: &'a str,
    ) -> BoxFuture<'a, Result<(), ApiFailure>> {
        Box::pin(async move {
            let request = MarkUncollectibleInvoice::new(invoice_id);
            self.update(c, "invoice", idempotency_key, |client, strategy| {
                let request = &request;
                async move {
                    request
                        .customize()
                        .request_strategy(strategy)
                        .send(&client)
                        .await
                }
            })
            .await
        })
    }

    fn pause_collection<'a>(
        &'a self,
        c: &'a Credentials,
        subscription_id: &'a str,
        behavior: PauseBehavior,
        idempotency_key: &'a str,
    ) -> BoxFuture<'a, Result<(), ApiFailure>> {
        Box::pin(async move {
            let behavior = match behavior {
                PauseBehavior::MarkUncollectible => {
                    UpdateSubscriptionPauseCollectionBehavior::MarkUncollectible
                }
                PauseBehavior::KeepAsDraft => {
                    UpdateSubscriptionPauseCollectionBehavior::KeepAsDraft
                }
            };
            let request = UpdateSubscription::new(subscription_id)
                .pause_collection(UpdateSubscriptionPauseCollection::new(behavior));
            self.update(c, "subscription", idempotency_key, |client, strategy| {
                let request = &request;
                async move {
                    request
                        .customize()
                        .request_strategy(strategy)
                        .send(&client)
                        .await
                }
            })
            .await
        })
    }

    fn get_customer<'a>(
        &'a self,
        c: &'a Credentials,
        customer_id: &'a str,
    ) -> BoxFuture<'a, Result<CustomerInfo, ApiFailure>> {
        Box::pin(self.get_customer_inner(c, customer_id))
    }

    fn create_card_update_session<'a>(
        &'a self,
        c: &'a Credentials,
        request: &'a CardUpdateRequest,
        idempotency_key: &'a str,
    ) -> BoxFuture<'a, Result<HostedSession, ApiFailure>> {
        Box::pin(self.create_card_update_session_inner(c, request, idempotency_key))
    }

    fn complete_card_update<'a>(
        &'a self,
        c: &'a Credentials,
        customer_id: &'a str,
        subscription_id: Option<&'a str>,
        checkout_session: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<PaymentMethodInfo>, ApiFailure>> {
        Box::pin(self.complete_card_update_inner(c, customer_id, subscription_id, checkout_session))
    }
}

pub(super) fn idempotency_key_of(key: &str) -> Result<IdempotencyKey, ApiFailure> {
    IdempotencyKey::new(key).map_err(|e| ApiFailure::Permanent {
        status: 0,
        code: None,
        message: format!("invalid idempotency key: {e}"),
    })
}

/// Safe and useful to re-send with the same key: Stripe did not decide (rate limit, lock, a concurrent
/// request with this key still running, a server error).
fn retryable(status: u16, error: &ApiError) -> bool {
    status == 429
        || status >= 500
        || matches!(
            error.code(),
            Some("lock_timeout" | "idempotency_key_in_use" | "rate_limit")
        )
}

fn code_of(error: &ApiError) -> Option<String> {
    error.code.0.clone()
}

/// Stripe answers a `pay` on a paid invoice with 400 "Invoice is already paid" (no code so far).
fn already_paid(error: &ApiError) -> bool {
    error.code() == Some("invoice_already_paid")
        || error
            .message
            .get()
            .is_some_and(|m| m.to_ascii_lowercase().contains("already paid"))
}

fn describe(status: u16, error: &ApiError, secret: &str) -> String {
    let mut out = format!("HTTP {status} {}", error.type_.get().unwrap_or("error"));
    if let Some(code) = error.code() {
        out.push_str(&format!(" ({code})"));
    }
    if let Some(message) = error.message.get() {
        out.push_str(": ");
        out.push_str(message);
    }
    redact(&out, secret)
}

pub(super) fn failure(stop: Stop, what: &str, secret: &str) -> ApiFailure {
    match stop {
        Stop::Refused { status, error } => ApiFailure::Permanent {
            status,
            code: code_of(&error),
            message: redact(error.message.get().unwrap_or("no message"), secret),
        },
        Stop::UnreadableSuccess => ApiFailure::Permanent {
            status: 200,
            code: None,
            message: format!("the {what} in Stripe's answer did not parse"),
        },
        Stop::UnreadableError(message) => ApiFailure::Transient {
            status: None,
            message,
            should_retry: None,
        },
        Stop::Exhausted {
            status,
            message,
            replayed,
        } => ApiFailure::Transient {
            status,
            message,
            should_retry: replayed.then_some(false),
        },
        Stop::Config(message) => ApiFailure::Permanent {
            status: 0,
            code: None,
            message,
        },
    }
}

/// The decline as Stripe reports it on a card error: on the error itself, else on the payment
/// intent's `last_payment_error`.
fn decline_info(error: &ApiError, secret: &str) -> DeclineInfo {
    let last = error
        .payment_intent
        .0
        .as_ref()
        .and_then(|pi| pi.last_payment_error.0.as_deref());
    let pick = |f: fn(&ApiError) -> &Option<String>| {
        f(error).clone().or_else(|| last.and_then(|l| f(l).clone()))
    };
    let payment_method = error
        .payment_method
        .0
        .as_ref()
        .or_else(|| last.and_then(|l| l.payment_method.0.as_ref()));
    let card = payment_method.and_then(|pm| {
        let card = pm.card.0.as_ref()?;
        let network = card.networks.0.as_ref().and_then(|n| {
            n.preferred.0.clone().or(match n.available.0.as_slice() {
                [one] => Some(one.clone()),
                _ => None,
            })
        });
        Some(CardInfo {
            brand: card.brand.get().map(str::to_lowercase),
            network: network.map(|n| n.to_lowercase()),
            last4: card.last4.0.clone(),
            exp_month: card.exp_month.0.and_then(|m| u32::try_from(m).ok()),
            exp_year: card.exp_year.0.and_then(|y| u32::try_from(y).ok()),
            fingerprint: card.fingerprint.0.clone(),
            payment_method_id: pm.id.0.clone(),
        })
    });
    DeclineInfo {
        failure_code: pick(|e| &e.code.0),
        decline_code: pick(|e| &e.decline_code.0),
        advice_code: pick(|e| &e.advice_code.0),
        network_advice_code: pick(|e| &e.network_advice_code.0),
        network_decline_code: pick(|e| &e.network_decline_code.0),
        outcome_type: None,
        card,
        message: pick(|e| &e.message.0).map(|m| redact(&m, secret)),
    }
}

/// Remove the secret key, and anything shaped like a Stripe secret or restricted key, from a message.
pub(crate) fn redact(message: &str, secret: &str) -> String {
    let mut out = if secret.len() >= 4 {
        message.replace(secret, "[redacted]")
    } else {
        message.to_owned()
    };
    for prefix in ["sk_live_", "sk_test_", "rk_live_", "rk_test_"] {
        let mut from = 0;
        while let Some(found) = out[from..].find(prefix) {
            let start = from + found + prefix.len();
            let end = out[start..]
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_' || ch == '*'))
                .map_or(out.len(), |n| start + n);
            // Keep Stripe's own masked form ("sk_test_****1234") readable.
            if out[start..end].contains("****") {
                from = end;
                continue;
            }
            out.replace_range(start..end, "[redacted]");
            from = start + "[redacted]".len();
        }
    }
    out
}

#[cfg(test)]
mod tests;
