//! HTTP routes. Each module exposes a `router()`; they are merged here once. Handlers are thin: they
//! extract, call a store or domain function, and map the result.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tower_http::trace::TraceLayer;

use crate::app::AppState;
use crate::config::Role;

pub mod auth;
mod campaigns;
mod cases;
mod clock;
mod customers;
mod email_events;
mod emails;
pub mod error;
mod events;
mod json;
mod ops;
mod page;
mod tasks;
mod tenants;
mod update;
mod webhooks;

pub use error::{ApiError, ApiResult};

pub fn router(state: AppState) -> Router {
    let mut app = Router::new().merge(ops::router());
    if state.settings.role != Role::Worker {
        app = app
            .merge(webhooks::router())
            .merge(tenants::router())
            .merge(events::router())
            .merge(cases::router())
            .merge(campaigns::router())
            .merge(update::router())
            .merge(customers::router())
            .merge(email_events::router())
            .merge(emails::router())
            .merge(tasks::router())
            .merge(clock::router());
    }
    // Webhook bodies are limited by their own handler (413 with a JSON message); this guards the rest.
    let limit = state.settings.max_body_bytes;
    app.layer(DefaultBodyLimit::max(limit))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
