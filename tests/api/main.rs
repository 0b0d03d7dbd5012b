//! Black-box tests: the service on a random port, over HTTP, on SQLite and on PostgreSQL.

mod helpers;

mod browser;
mod email;
mod email_http;
mod email_templates;
mod email_timing;
mod engine;
mod expiring;
mod notices;
mod ops;
mod queue;
mod sms;
mod store;
mod tasks;
mod tenants;
mod update;
mod webhooks;
