//! TEMPORARY contract stub; replaced by the providers branch.
use chrono::{DateTime, Utc};

pub mod stripe;

#[derive(Debug, Clone)]
pub struct Envelope {
    pub id: String,
    pub event_type: String,
    pub created: Option<DateTime<Utc>>,
    pub livemode: Option<bool>,
    pub api_version: Option<String>,
    pub object_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("no matching signature")]
    NoMatch,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

#[derive(Debug, Clone)]
pub enum NormalizedEvent {
    Other,
}

pub trait Provider: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn verify(
        &self,
        headers: &axum::http::HeaderMap,
        body: &[u8],
        secrets: &[&[u8]],
        now_unix: i64,
        tolerance_secs: u64,
    ) -> Result<(), VerifyError>;
    fn envelope(&self, body: &[u8]) -> Result<Envelope, ParseError>;
    fn normalize(&self, body: &[u8]) -> Result<Option<NormalizedEvent>, ParseError>;
}
