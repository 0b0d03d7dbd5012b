//! The HTTP transport under async-stripe's typed requests. async-stripe's own hyper client turns
//! connection reuse off (`pool_max_idle_per_host(0)`: a new TCP and TLS handshake for every call) and
//! keeps the response headers to itself. A payments service needs both: `Stripe-Should-Retry` and
//! `Idempotent-Replayed` say whether re-sending with the same key can change the answer, and a pooled
//! connection saves a handshake per call. Pooling was off upstream because Stripe may close an idle
//! connection just as a request goes out; here that fails like any connection error and
//! [`super::client`] re-sends it with the same Idempotency-Key, so nothing can happen twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Url;

use super::api_error::ApiError;
use stripe_client_core::{CustomizedStripeRequest, StripeClient, StripeClientErr, StripeMethod};

/// Where Stripe's API lives when a tenant has no override.
const STRIPE_API_BASE: &str = "https://api.stripe.com/";
const USER_AGENT: &str = concat!("dunning/", env!("CARGO_PKG_VERSION"));

/// One tenant's view of the shared connection pool: its key, its API base, the per-call timeout.
#[derive(Clone)]
pub(super) struct Transport {
    http: reqwest::Client,
    base: Base,
    secret: String,
    timeout: Duration,
}

/// An API base, ending in `/`, with its parsed form when it parses. A request's URL is the parsed
/// base with the path and query set: parsing the whole URL again for every call (scheme, host, IDNA)
/// cost about 1 % of the service's CPU under the engine benchmark.
#[derive(Clone)]
pub(super) struct Base {
    text: Arc<str>,
    parsed: Option<Arc<Url>>,
}

/// The bases seen so far (one per distinct `api_base`; tenants rarely have their own).
#[derive(Default)]
pub(super) struct Bases(Mutex<HashMap<Option<String>, Base>>);

impl Bases {
    pub(super) fn get(&self, api_base: Option<&str>) -> Base {
        let key = api_base.map(str::to_owned);
        let mut known = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = known.get(&key) {
            return b.clone();
        }
        let text: Arc<str> = match api_base {
            Some(b) if b.ends_with('/') => b.into(),
            Some(b) => format!("{b}/").into(),
            None => STRIPE_API_BASE.into(),
        };
        // One that does not parse is kept as text: each call then fails as a request that could not
        // be built, as it did before.
        let parsed = Url::parse(&text)
            .ok()
            .filter(|u| !u.cannot_be_a_base())
            .map(Arc::new);
        let base = Base { text, parsed };
        known.insert(key, base.clone());
        base
    }
}

impl Base {
    /// `{base}v1{path}?{query}`.
    fn url(&self, path: &str, query: Option<&str>) -> Result<Url, String> {
        let Some(parsed) = &self.parsed else {
            let mut url = format!("{}v1{path}", self.text);
            if let Some(query) = query {
                url.push('?');
                url.push_str(query);
            }
            return Err(url);
        };
        let mut url = Url::clone(parsed);
        url.set_path(&format!("{}v1{path}", parsed.path()));
        url.set_query(query);
        Ok(url)
    }
}

/// Why a call produced no object.
#[derive(Debug)]
pub(super) enum CallError {
    /// An error status. `error` is Stripe's error object when the body parsed as one.
    Status {
        status: u16,
        error: Option<Box<ApiError>>,
        /// `Stripe-Should-Retry`, when Stripe sent it.
        should_retry: Option<bool>,
        /// `Idempotent-Replayed: true`: the answer saved under this key, not a new execution.
        replayed: bool,
    },
    Timeout,
    Connection(String),
    /// A 2xx whose body did not parse as the expected object: the call took effect.
    UnreadableSuccess(String),
    /// The request could not be built (e.g. a key that is not a valid header); it never left.
    Config(String),
}

impl StripeClientErr for CallError {
    // Called only on a success status's body (error bodies are read in `execute`).
    fn deserialize_err(msg: impl std::fmt::Display) -> Self {
        CallError::UnreadableSuccess(msg.to_string())
    }
}

impl Transport {
    pub(super) fn new(http: reqwest::Client, base: Base, secret: &str, timeout: Duration) -> Self {
        Self {
            http,
            base,
            secret: secret.to_owned(),
            timeout,
        }
    }

    /// The pool every tenant's calls share (connections are per host, whoever the key).
    pub(super) fn pool() -> reqwest::Client {
        reqwest::Client::builder()
            .user_agent(USER_AGENT)
            // Stripe drops idle connections after a while; letting ours go first avoids most of the
            // races where a request meets a connection that is being closed.
            .pool_idle_timeout(Duration::from_secs(20))
            .build()
            .expect("a client with default TLS settings builds")
    }
}

impl StripeClient for Transport {
    type Err = CallError;

    async fn execute(&self, req: CustomizedStripeRequest) -> Result<bytes::Bytes, CallError> {
        let (req, config) = req.into_pieces();
        let method = match req.method {
            StripeMethod::Get => reqwest::Method::GET,
            StripeMethod::Post => reqwest::Method::POST,
            StripeMethod::Delete => reqwest::Method::DELETE,
        };
        let builder = match self.base.url(&req.path, req.query.as_deref()) {
            Ok(url) => self.http.request(method, url),
            Err(text) => self.http.request(method, text),
        };
        let mut builder = builder
            .bearer_auth(&self.secret)
            .header("Stripe-Version", stripe_client_core::VERSION.as_str())
            .timeout(config.timeout.unwrap_or(self.timeout));
        if let Some(key) = config.request_strategy.and_then(|s| s.get_key()) {
            builder = builder.header("Idempotency-Key", key.as_str());
        }
        if let Some(account) = config.account_id {
            builder = builder.header("Stripe-Account", account.as_str());
        }
        if let Some(body) = req.body {
            builder = builder
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body);
        }
        let response = builder.send().await.map_err(call_error)?;
        let status = response.status();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_ascii_lowercase)
        };
        let should_retry = header("stripe-should-retry").and_then(|v| v.parse::<bool>().ok());
        let replayed = header("idempotent-replayed").as_deref() == Some("true");
        let body = response.bytes().await.map_err(call_error)?;
        if status.is_success() {
            return Ok(body);
        }
        let error = ApiError::parse(&body);
        Err(CallError::Status {
            status: status.as_u16(),
            error,
            should_retry,
            replayed,
        })
    }
}

fn call_error(e: reqwest::Error) -> CallError {
    if e.is_timeout() {
        CallError::Timeout
    } else if e.is_builder() {
        CallError::Config(e.without_url().to_string())
    } else {
        // Includes a body cut off mid-way: the request may have been executed, as with a timeout.
        CallError::Connection(error_chain(&e.without_url()))
    }
}

/// The error and its causes: reqwest's own message alone ("error sending request") says too little.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_url_is_the_base_with_the_version_path_and_query() {
        let bases = Bases::default();
        let url = |base: Option<&str>, path: &str, query: Option<&str>| match bases
            .get(base)
            .url(path, query)
        {
            Ok(u) => u.to_string(),
            Err(text) => format!("unparsed {text}"),
        };
        assert_eq!(
            url(None, "/invoices/in_1/pay", None),
            "https://api.stripe.com/v1/invoices/in_1/pay"
        );
        assert_eq!(
            url(
                Some("http://127.0.0.1:9/fake"),
                "/invoices/in_1",
                Some("expand[0]=payment_intent")
            ),
            "http://127.0.0.1:9/fake/v1/invoices/in_1?expand[0]=payment_intent"
        );
        // Parsed once, then reused.
        assert_eq!(
            url(
                Some("http://127.0.0.1:9/fake/"),
                "/subscriptions/sub_1",
                None
            ),
            "http://127.0.0.1:9/fake/v1/subscriptions/sub_1"
        );
        assert_eq!(bases.0.lock().unwrap().len(), 3);
        // A base that does not parse stays text, and the call fails as before (reqwest refuses it).
        assert_eq!(
            url(Some("not a url"), "/invoices/in_1", None),
            "unparsed not a url/v1/invoices/in_1"
        );
    }
}
