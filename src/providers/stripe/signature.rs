//! Stripe webhook signatures: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`, HMAC-SHA256 keyed with
//! the endpoint secret (the whole `whsec_…` string) over `"{t}.{raw body}"`.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::providers::VerifyError;

pub const HEADER: &str = "Stripe-Signature";
const SCHEME: &str = "v1";

type HmacSha256 = Hmac<Sha256>;

/// The `t=…,v1=…` header value Stripe would send for `body`; for tests and `send-fixture`.
pub fn sign(body: &[u8], secret: &[u8], timestamp: i64) -> String {
    format!(
        "t={timestamp},{SCHEME}={}",
        hex::encode(mac(body, secret, timestamp))
    )
}

/// Verify a header value against the body and any of `secrets`, within `tolerance_secs` of `now_unix`
/// either way (a future timestamp is as suspect as an old one: it would extend a replay window).
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secrets: &[&[u8]],
    now_unix: i64,
    tolerance_secs: u64,
) -> Result<(), VerifyError> {
    let header = header.ok_or(VerifyError::MissingHeader(HEADER))?;
    let parsed = parse_header(header)?;
    if secrets.is_empty() {
        return Err(VerifyError::NoSecrets);
    }
    // Check every pair without stopping early, so timing does not reveal which secret matched.
    let mut matched = subtle::Choice::from(0);
    for secret in secrets {
        let expected = mac(body, secret, parsed.timestamp);
        for candidate in &parsed.signatures {
            matched |= expected.as_slice().ct_eq(candidate.as_slice());
        }
    }
    if !bool::from(matched) {
        return Err(VerifyError::NoSignatureMatched);
    }
    // Checked after the MAC, as Stripe's libraries do: a stale-timestamp error then means "authentic
    // but replayed or clock skew", which is what the operator needs to know.
    if now_unix.abs_diff(parsed.timestamp) > tolerance_secs {
        return Err(VerifyError::TimestampOutsideTolerance {
            timestamp: parsed.timestamp,
            now: now_unix,
            tolerance_secs,
        });
    }
    Ok(())
}

fn mac(body: &[u8], secret: &[u8], timestamp: i64) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

struct ParsedHeader {
    timestamp: i64,
    signatures: Vec<Vec<u8>>,
}

fn malformed(reason: impl Into<String>) -> VerifyError {
    VerifyError::MalformedHeader {
        header: HEADER,
        reason: reason.into(),
    }
}

/// Unknown schemes (v0, future ones) are skipped, and so is a v1 value that is not 64 hex digits, as long
/// as another one is usable: Stripe's libraries never fail on a value they cannot match either.
fn parse_header(header: &str) -> Result<ParsedHeader, VerifyError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in header.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (key, value) = item
            .split_once('=')
            .ok_or_else(|| malformed("expected key=value pairs"))?;
        match key {
            "t" => {
                let t = value
                    .parse::<i64>()
                    .map_err(|_| malformed("timestamp `t` is not an integer"))?;
                timestamp = Some(t);
            }
            SCHEME => signatures.extend(hex::decode(value).ok().filter(|s| s.len() == 32)),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or_else(|| malformed("no timestamp `t=`"))?;
    if signatures.is_empty() {
        return Err(malformed("no v1 signature of 64 hex digits"));
    }
    Ok(ParsedHeader {
        timestamp,
        signatures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test_5ZyL0eQmS3kq1Jx0Hc8o2N7Wv";
    const BODY: &[u8] = include_bytes!("../../../fixtures/stripe/invoice.payment_failed.json");
    const T: i64 = 1_764_000_000;

    fn check(header: &str, secrets: &[&[u8]], now: i64) -> Result<(), VerifyError> {
        verify(Some(header), BODY, secrets, now, 300)
    }

    #[test]
    fn own_signature_verifies() {
        assert_eq!(check(&sign(BODY, SECRET, T), &[SECRET], T + 10), Ok(()));
    }

    #[test]
    fn any_of_several_v1_values_may_match() {
        let good = sign(BODY, SECRET, T);
        let good_sig = good.split_once(",v1=").unwrap().1;
        let other = sign(BODY, b"whsec_old", T);
        let other_sig = other.split_once(",v1=").unwrap().1;
        let header = format!("t={T},v1={other_sig},v1={good_sig},v0={}", "ab".repeat(32));
        assert_eq!(check(&header, &[SECRET], T), Ok(()));
    }

    #[test]
    fn an_unreadable_v1_beside_a_good_one_is_skipped() {
        let good = sign(BODY, SECRET, T);
        let header = good.replace(",v1=", ",v1=not-hex,v1=");
        assert_eq!(check(&header, &[SECRET], T), Ok(()));
    }

    #[test]
    fn rotated_secret_second_one_matches() {
        let header = sign(BODY, b"whsec_new_secret", T);
        assert_eq!(check(&header, &[SECRET, b"whsec_new_secret"], T), Ok(()));
    }

    #[test]
    fn wrong_secret_and_tampered_body_are_rejected() {
        let header = sign(BODY, b"whsec_someone_else", T);
        assert_eq!(
            check(&header, &[SECRET], T),
            Err(VerifyError::NoSignatureMatched)
        );
        let header = sign(BODY, SECRET, T);
        let mut tampered = BODY.to_vec();
        tampered[10] ^= 1;
        assert_eq!(
            verify(Some(&header), &tampered, &[SECRET], T, 300),
            Err(VerifyError::NoSignatureMatched)
        );
    }

    #[test]
    fn secret_is_used_as_is_including_prefix() {
        // A library that strips `whsec_` or base64-decodes the rest would produce another MAC.
        let header = sign(BODY, SECRET, T);
        let stripped = &SECRET[6..];
        assert_eq!(
            check(&header, &[stripped], T),
            Err(VerifyError::NoSignatureMatched)
        );
    }

    #[test]
    fn timestamps_outside_tolerance_either_way() {
        let header = sign(BODY, SECRET, T);
        assert_eq!(check(&header, &[SECRET], T + 300), Ok(()));
        let old = check(&header, &[SECRET], T + 301).unwrap_err();
        assert!(matches!(old, VerifyError::TimestampOutsideTolerance { .. }));
        assert!(old.to_string().contains("older"));
        let future = check(&header, &[SECRET], T - 301).unwrap_err();
        assert!(future.to_string().contains("future"), "{future}");
    }

    #[test]
    fn malformed_and_missing_headers() {
        assert_eq!(
            verify(None, BODY, &[SECRET], T, 300),
            Err(VerifyError::MissingHeader(HEADER))
        );
        for bad in [
            "",
            "garbage",
            "t=abc,v1=00",
            "v1=zz",
            &format!("t={T}"),
            &format!("t={T},v1=abcd"),
        ] {
            let err = check(bad, &[SECRET], T).unwrap_err();
            assert!(
                matches!(err, VerifyError::MalformedHeader { .. }),
                "{bad}: {err}"
            );
            assert!(
                err.to_string()
                    .starts_with("malformed Stripe-Signature header")
            );
        }
        assert_eq!(
            check(&sign(BODY, SECRET, T), &[], T),
            Err(VerifyError::NoSecrets)
        );
    }

    /// Produced by Stripe's own Python library: see `scripts/stripe_signature_vectors.py`.
    #[test]
    fn official_library_vectors_verify() {
        let raw = include_str!("../../../fixtures/stripe/signature_vectors.json");
        let vectors: serde_json::Value = serde_json::from_str(raw).unwrap();
        let vectors = vectors["vectors"].as_array().unwrap();
        assert!(vectors.len() >= 3);
        for v in vectors {
            let payload = v["payload"].as_str().unwrap().as_bytes();
            let secret = v["secret"].as_str().unwrap().as_bytes();
            let t = v["timestamp"].as_i64().unwrap();
            let header = v["header"].as_str().unwrap();
            assert_eq!(
                verify(Some(header), payload, &[secret], t, 300),
                Ok(()),
                "{}",
                v["name"]
            );
            assert_eq!(sign(payload, secret, t), header, "{}", v["name"]);
        }
    }
}
