//! TEMPORARY stub.
use super::*;
pub struct Stripe;
pub mod signature {
    pub fn sign(_body: &[u8], _secret: &[u8], t: i64) -> String {
        format!("t={t},v1=00")
    }
}
impl Provider for Stripe {
    fn name(&self) -> &'static str {
        "stripe"
    }
    fn verify(
        &self,
        _: &axum::http::HeaderMap,
        _: &[u8],
        _: &[&[u8]],
        _: i64,
        _: u64,
    ) -> Result<(), VerifyError> {
        Ok(())
    }
    fn envelope(&self, body: &[u8]) -> Result<Envelope, ParseError> {
        let v: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| ParseError(e.to_string()))?;
        Ok(Envelope {
            id: v["id"].as_str().ok_or(ParseError("id".into()))?.into(),
            event_type: v["type"].as_str().unwrap_or("").into(),
            created: None,
            livemode: None,
            api_version: None,
            object_id: None,
        })
    }
    fn normalize(&self, _: &[u8]) -> Result<Option<NormalizedEvent>, ParseError> {
        Ok(None)
    }
}
