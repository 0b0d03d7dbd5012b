//! dunning: a self-hostable payment-recovery service for subscription billing.
//! The binary in `main.rs` is a thin CLI over this library.

pub mod domain;
pub mod providers;
