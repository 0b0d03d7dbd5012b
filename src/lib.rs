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

/// Every binary and test of the crate allocates through mimalloc. A request or a batch allocates and
/// frees many short-lived strings and buffers (JSON, rendered emails, statement binds); under the
/// engine benchmark glibc's malloc took about a quarter of the service's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
