//! dunning: a self-hostable payment-recovery service for subscription billing.
//! The binary in `main.rs` is a thin CLI over this library; `app::Application` wires everything.

pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod email;
pub mod engine;
pub mod http;
pub mod jobs;
pub mod pages;
pub mod providers;
pub mod simulate;
pub mod sms;
pub mod store;
pub mod tenants;
pub mod testing;
