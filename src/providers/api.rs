//! TEMPORARY contract stub for the processor API (replaced by the stripe-api branch).
use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub struct Credentials {
    pub secret_key: secrecy::SecretString,
    pub api_base: Option<String>,
}

#[derive(Debug, Clone)]
pub enum InvoiceState {
    Open {
        amount_due: i64,
        currency: String,
        next_payment_attempt: Option<DateTime<Utc>>,
        subscription_id: Option<String>,
        customer_id: String,
    },
    Paid,
    Void,
    Uncollectible,
    Draft,
    Other(String),
}

#[derive(Debug, Clone)]
pub enum PayResult {
    Paid,
    Declined(crate::providers::DeclineInfo),
    Uncertain {
        reason: String,
        retry_same_key: bool,
    },
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiFailure {
    #[error("{message}")]
    Transient {
        status: Option<u16>,
        message: String,
        should_retry: Option<bool>,
    },
    #[error("{message}")]
    Permanent {
        status: u16,
        code: Option<String>,
        message: String,
    },
}

pub trait ProcessorApi: Send + Sync + 'static {
    fn get_invoice<'a>(
        &'a self,
        c: &'a Credentials,
        invoice_id: &'a str,
    ) -> BoxFuture<'a, Result<InvoiceState, ApiFailure>>;
    fn pay_invoice<'a>(
        &'a self,
        c: &'a Credentials,
        invoice_id: &'a str,
        idempotency_key: &'a str,
    ) -> BoxFuture<'a, Result<PayResult, ApiFailure>>;
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
        idempotency_key: &'a str,
    ) -> BoxFuture<'a, Result<(), ApiFailure>>;
}

pub struct Unconfigured;
impl ProcessorApi for Unconfigured {
    fn get_invoice<'a>(
        &'a self,
        _: &'a Credentials,
        _: &'a str,
    ) -> BoxFuture<'a, Result<InvoiceState, ApiFailure>> {
        Box::pin(async {
            Err(ApiFailure::Permanent {
                status: 0,
                code: None,
                message: "no processor".into(),
            })
        })
    }
    fn pay_invoice<'a>(
        &'a self,
        _: &'a Credentials,
        _: &'a str,
        _: &'a str,
    ) -> BoxFuture<'a, Result<PayResult, ApiFailure>> {
        Box::pin(async {
            Err(ApiFailure::Permanent {
                status: 0,
                code: None,
                message: "no processor".into(),
            })
        })
    }
    fn cancel_subscription<'a>(
        &'a self,
        _: &'a Credentials,
        _: &'a str,
        _: bool,
        _: &'a str,
    ) -> BoxFuture<'a, Result<(), ApiFailure>> {
        Box::pin(async { Ok(()) })
    }
    fn mark_uncollectible<'a>(
        &'a self,
        _: &'a Credentials,
        _: &'a str,
        _: &'a str,
    ) -> BoxFuture<'a, Result<(), ApiFailure>> {
        Box::pin(async { Ok(()) })
    }
    fn pause_collection<'a>(
        &'a self,
        _: &'a Credentials,
        _: &'a str,
        _: &'a str,
    ) -> BoxFuture<'a, Result<(), ApiFailure>> {
        Box::pin(async { Ok(()) })
    }
}
