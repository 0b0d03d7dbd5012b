//! What the email API says happened to a message after it accepted it (Resend's webhooks, signed the
//! Svix way): delivered, bounced, complained, opened, clicked. Pure: verification and parsing.
//!
//! Signature: `svix-signature: v1,<base64> [v1,<base64>…]` over `"{svix-id}.{svix-timestamp}.{body}"`
//! with HMAC-SHA256, keyed by the base64 part of the secret `whsec_<base64>`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    #[error("the signature does not match")]
    BadSignature,
    #[error("the timestamp is outside the accepted window")]
    Stale,
    #[error("the signing secret is not a whsec_ value")]
    BadSecret,
    #[error("{0}")]
    Malformed(String),
}

/// What happened to one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    /// The receiving server refused it for good: the address gets no more messages.
    Bounced,
    /// The recipient marked it as spam: no more messages either.
    Complained,
    Opened,
    Clicked,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Delivered => "delivered",
            Delivery::Bounced => "bounced",
            Delivery::Complained => "marked as spam",
            Delivery::Opened => "opened",
            Delivery::Clicked => "link clicked",
        }
    }

    /// The address refuses further messages.
    pub fn refuses(self) -> bool {
        matches!(self, Delivery::Bounced | Delivery::Complained)
    }
}

/// Headers of one delivery webhook.
pub struct Signed<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

pub fn verify(
    secret: &str,
    h: &Signed<'_>,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<(), DeliveryError> {
    let id = h.id.ok_or(DeliveryError::MissingHeader("svix-id"))?;
    let ts = h
        .timestamp
        .ok_or(DeliveryError::MissingHeader("svix-timestamp"))?;
    let sigs = h
        .signature
        .ok_or(DeliveryError::MissingHeader("svix-signature"))?;
    let key = secret
        .strip_prefix("whsec_")
        .and_then(|k| B64.decode(k).ok())
        .ok_or(DeliveryError::BadSecret)?;
    let t: i64 = ts.parse().map_err(|_| DeliveryError::Stale)?;
    if (now_unix - t).abs() > tolerance_secs {
        return Err(DeliveryError::Stale);
    }
    // Several signatures appear while the secret is being rotated: any one will do.
    let matches = sigs
        .split_whitespace()
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|s| B64.decode(s).ok())
        .any(|sig| {
            let mut m = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
            m.update(id.as_bytes());
            m.update(b".");
            m.update(ts.as_bytes());
            m.update(b".");
            m.update(body);
            m.verify_slice(&sig).is_ok()
        });
    if matches {
        Ok(())
    } else {
        Err(DeliveryError::BadSignature)
    }
}

/// Signs like the provider does (for tests and tools).
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = B64.decode(secret.strip_prefix("whsec_")?).ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    Some(format!("v1,{}", B64.encode(mac.finalize().into_bytes())))
}

/// The provider's message id and what happened, or `None` for an event type we do not track.
pub fn parse(body: &[u8]) -> Result<Option<(String, Delivery)>, DeliveryError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| DeliveryError::Malformed(format!("the body is not JSON: {e}")))?;
    let kind = v["type"]
        .as_str()
        .ok_or_else(|| DeliveryError::Malformed("missing string `type`".into()))?;
    let what = match kind {
        "email.delivered" => Delivery::Delivered,
        "email.bounced" => Delivery::Bounced,
        "email.complained" => Delivery::Complained,
        "email.opened" => Delivery::Opened,
        "email.clicked" => Delivery::Clicked,
        _ => return Ok(None),
    };
    let id = v["data"]["email_id"]
        .as_str()
        .ok_or_else(|| DeliveryError::Malformed("missing string `data.email_id`".into()))?;
    Ok(Some((id.to_owned(), what)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn headers<'a>(id: &'a str, ts: &'a str, sig: &'a str) -> Signed<'a> {
        Signed {
            id: Some(id),
            timestamp: Some(ts),
            signature: Some(sig),
        }
    }

    #[test]
    fn a_signed_event_verifies_and_anything_else_does_not() {
        let body = br#"{"type":"email.delivered","data":{"email_id":"re_1"}}"#;
        let sig = sign(SECRET, "msg_1", 1_700_000_000, body).unwrap();
        let ok = headers("msg_1", "1700000000", &sig);
        assert_eq!(verify(SECRET, &ok, body, 1_700_000_010, 300), Ok(()));
        // Rotation: any of several signatures.
        let both = format!("v1,AAAA {sig}");
        assert_eq!(
            verify(
                SECRET,
                &headers("msg_1", "1700000000", &both),
                body,
                1_700_000_010,
                300
            ),
            Ok(())
        );
        assert_eq!(
            verify(SECRET, &ok, b"{}", 1_700_000_010, 300),
            Err(DeliveryError::BadSignature)
        );
        assert_eq!(
            verify(
                SECRET,
                &headers("msg_2", "1700000000", &sig),
                body,
                1_700_000_010,
                300
            ),
            Err(DeliveryError::BadSignature)
        );
        assert_eq!(
            verify(SECRET, &ok, body, 1_700_001_000, 300),
            Err(DeliveryError::Stale)
        );
        let missing = Signed {
            id: None,
            timestamp: Some("1"),
            signature: Some("v1,x"),
        };
        assert_eq!(
            verify(SECRET, &missing, body, 1, 300),
            Err(DeliveryError::MissingHeader("svix-id"))
        );
    }

    #[test]
    fn tracked_events_parse_and_others_are_ignored() {
        let p = |s: &str| parse(s.as_bytes());
        assert_eq!(
            p(r#"{"type":"email.bounced","data":{"email_id":"re_9","bounce":{}}}"#),
            Ok(Some(("re_9".into(), Delivery::Bounced)))
        );
        assert_eq!(
            p(r#"{"type":"email.sent","data":{"email_id":"re_9"}}"#),
            Ok(None)
        );
        assert!(p(r#"{"type":"email.delivered","data":{}}"#).is_err());
        assert!(p("not json").is_err());
    }
}
