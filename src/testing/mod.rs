//! Test doubles used by the tests, the benchmark and `dunning simulate`: nothing here runs in a
//! production service.
//!
//! - [`fake_stripe`]: a fake Stripe API over real HTTP that keeps invoices and subscriptions, decides
//!   each payment from a script and emulates idempotency keys.
//! - [`smtp`]: a real SMTP server that keeps what it receives (not a mock of the sending code).
//! - [`email_api`]: a fake Resend-style HTTP email API that keeps what it accepts.
//! - [`receiver`]: a plain HTTP receiver (task destinations, an SMS API) that keeps every request.

pub mod email_api;
pub mod fake_stripe;
pub mod receiver;
pub mod smtp;

pub use self::fake_stripe::{FakeStripe, InvoiceStatus, Outcome, RecordedRequest};
