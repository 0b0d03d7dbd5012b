//! Stripe as a [`Provider`]: webhook signatures, the event envelope, and the mapping of the events the
//! engine uses. Payloads are read leniently from `serde_json::Value`, whatever the API version.

mod api_error;
mod card_update;
pub mod client;
mod events;
mod lenient;
mod payments;
pub mod signature;
mod transport;
mod value;

#[cfg(test)]
mod tests;

use axum::http::HeaderMap;
use serde_json::Value;

use self::value::{id, string};
use crate::providers::{Envelope, NormalizedEvent, ParseError, Provider, VerifyError};

pub use self::signature::sign;

/// The Stripe provider; stateless, secrets come with each call.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stripe;

impl Provider for Stripe {
    fn name(&self) -> &'static str {
        "stripe"
    }

    fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        secrets: &[&[u8]],
        now_unix: i64,
        tolerance_secs: u64,
    ) -> Result<(), VerifyError> {
        let header = match headers.get(signature::HEADER) {
            None => None,
            Some(value) => Some(value.to_str().map_err(|_| VerifyError::MalformedHeader {
                header: signature::HEADER,
                reason: "not visible ASCII".to_owned(),
            })?),
        };
        signature::verify(header, body, secrets, now_unix, tolerance_secs)
    }

    fn envelope(&self, body: &[u8]) -> Result<Envelope, ParseError> {
        let event = parse_event(body)?;
        Ok(Envelope {
            id: string(&event, &["id"]).unwrap_or_default(),
            event_type: string(&event, &["type"]).unwrap_or_default(),
            created: value::time(&event, &["created"]),
            livemode: value::boolean(&event, &["livemode"]),
            api_version: string(&event, &["api_version"]),
            object_id: id(&event, &["data", "object"]),
        })
    }

    fn normalize(&self, body: &[u8]) -> Result<Option<NormalizedEvent>, ParseError> {
        events::normalize(&parse_event(body)?)
    }
}

/// Parse the body and check it is a Stripe event at all. Messages name the problem, never the content.
fn parse_event(body: &[u8]) -> Result<Value, ParseError> {
    let event: Value = serde_json::from_slice(body).map_err(|e| {
        ParseError::new(format!(
            "body is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    if !event.is_object() {
        return Err(ParseError::new(
            "body is JSON but not an object: expected a Stripe event",
        ));
    }
    // `object` is optional for leniency, but a bare API object (an invoice posted by hand) or a v2 thin
    // event is a mistake worth naming.
    match event.get("object").and_then(Value::as_str) {
        None | Some("event") => {}
        Some(other) => {
            let other: String = other
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || ".-_".contains(*c))
                .take(40)
                .collect();
            return Err(ParseError::new(format!(
                "`object` is \"{other}\", expected \"event\": send the whole event, not the object it is about"
            )));
        }
    }
    for field in ["id", "type"] {
        match event.get(field) {
            Some(Value::String(s)) if !s.is_empty() => {}
            Some(_) => {
                return Err(ParseError::new(format!(
                    "event `{field}` is not a non-empty string"
                )));
            }
            None => return Err(ParseError::new(format!("event has no `{field}`"))),
        }
    }
    Ok(event)
}
