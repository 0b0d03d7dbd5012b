//! Signed, expiring card-update links: `/update/{token}`, bound to one case of one tenant. The token
//! carries the tenant, the case and the expiry in the clear (base64url) and an HMAC-SHA256 over them
//! with the service's link key, so the page needs no lookup to refuse a forged or stale link.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How long a link in a message stays valid.
pub const LINK_TTL_DAYS: i64 = 30;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkTarget {
    pub tenant_id: String,
    pub case_id: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the link is not one of ours")]
    Invalid,
    #[error("the link has expired")]
    Expired,
}

fn mac(key: &[u8; 32], payload: &[u8]) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(b"dunning/update-link/v1\n");
    m.update(payload);
    m
}

pub fn sign(key: &[u8; 32], target: &LinkTarget) -> String {
    let payload = format!(
        "{}\n{}\n{}",
        target.tenant_id,
        target.case_id,
        target.expires_at.timestamp()
    );
    let sig = mac(key, payload.as_bytes()).finalize().into_bytes();
    format!("{}.{}", B64.encode(payload), B64.encode(&sig[..20]))
}

/// The link's target if it was signed with `key` and has not expired by `now`.
pub fn verify(key: &[u8; 32], token: &str, now: DateTime<Utc>) -> Result<LinkTarget, LinkError> {
    let target = open(key, token)?;
    if now >= target.expires_at {
        return Err(LinkError::Expired);
    }
    Ok(target)
}

/// The link's target if it was signed with `key`, expired or not: an expired link may still say
/// whose it was (to show that tenant's contact), never open the case.
pub fn open(key: &[u8; 32], token: &str) -> Result<LinkTarget, LinkError> {
    let (payload, sig) = token.split_once('.').ok_or(LinkError::Invalid)?;
    let payload = B64.decode(payload).map_err(|_| LinkError::Invalid)?;
    let sig = B64.decode(sig).map_err(|_| LinkError::Invalid)?;
    // A shorter prefix of the MAC would verify too: only the full 20 bytes are ours.
    if sig.len() != 20 {
        return Err(LinkError::Invalid);
    }
    mac(key, &payload)
        .verify_truncated_left(&sig)
        .map_err(|_| LinkError::Invalid)?;
    let text = String::from_utf8(payload).map_err(|_| LinkError::Invalid)?;
    let mut parts = text.split('\n');
    let (Some(tenant_id), Some(case_id), Some(exp), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(LinkError::Invalid);
    };
    let expires_at = exp
        .parse::<i64>()
        .ok()
        .and_then(|t| DateTime::from_timestamp(t, 0))
        .ok_or(LinkError::Invalid)?;
    Ok(LinkTarget {
        tenant_id: tenant_id.to_string(),
        case_id: case_id.to_string(),
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    const KEY: [u8; 32] = [7; 32];

    fn target(now: DateTime<Utc>) -> LinkTarget {
        LinkTarget {
            tenant_id: "acme".into(),
            case_id: "01a2-case".into(),
            expires_at: DateTime::from_timestamp((now + Duration::days(30)).timestamp(), 0)
                .unwrap(),
        }
    }

    #[test]
    fn a_signed_link_opens_until_it_expires() {
        let now = Utc::now();
        let t = target(now);
        let token = sign(&KEY, &t);
        assert!(
            token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        );
        assert_eq!(verify(&KEY, &token, now), Ok(t.clone()));
        assert_eq!(verify(&KEY, &token, t.expires_at), Err(LinkError::Expired));
    }

    #[test]
    fn tampered_truncated_and_foreign_links_are_refused() {
        let now = Utc::now();
        let token = sign(&KEY, &target(now));
        let (payload, sig) = token.split_once('.').unwrap();
        // Another case under the same signature.
        let forged = format!("{}.{sig}", B64.encode("acme\nother-case\n9999999999"));
        assert_eq!(verify(&KEY, &forged, now), Err(LinkError::Invalid));
        assert_eq!(
            verify(&KEY, &format!("{payload}.{}", &sig[..8]), now),
            Err(LinkError::Invalid)
        );
        assert_eq!(verify(&[8; 32], &token, now), Err(LinkError::Invalid));
        for junk in ["", ".", "abc", "a.b.c", "%%%.%%%"] {
            assert_eq!(verify(&KEY, junk, now), Err(LinkError::Invalid), "{junk}");
        }
    }
}
