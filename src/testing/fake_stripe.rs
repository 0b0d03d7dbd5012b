//! A fake Stripe API over real HTTP: keeps invoices and subscriptions, decides each `pay` from a
//! script, and emulates idempotency keys the way Stripe documents them.
//!
//! - Answers are Stripe's objects at full size (see `shapes`), so async-stripe's typed parsing accepts
//!   them.
//! - Idempotency: once a request with an `Idempotency-Key` has executed, its status and body are saved
//!   under the key, and a later request with the same key and the same method, path and body gets them
//!   again (with `Idempotent-Replayed: true`) without executing; the same key with other parameters is a
//!   400 `idempotency_error`. Requests that fail validation (unknown object, invoice not payable), rate
//!   limits, [`Outcome::ServerErrorUnsaved`] and [`Outcome::Timeout`] save nothing. Execution is atomic
//!   under one lock, so there is no `idempotency_key_in_use`.
//! - Authentication: any `Bearer sk_…`/`rk_…` key, or exactly the one given to
//!   [`FakeStripe::require_key`]. Unlike Stripe, the 401 message repeats the key unmasked, so tests can
//!   show that the client never echoes it.

mod hosted;
mod shapes;
mod template;

pub use hosted::{SessionKind, SessionView};

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// How one execution of `POST /v1/invoices/{id}/pay` ends. Scripted outcomes are used in order, one per
/// execution (a replayed answer uses none); when the script is empty the payment succeeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Charge the card: the invoice becomes paid.
    Succeed,
    /// 402 `card_error` with these codes (saved under the key: the request executed).
    Decline {
        code: String,
        decline_code: Option<String>,
        advice_code: Option<String>,
        network_advice_code: Option<String>,
    },
    /// 500 `api_error`, saved under the key (the request had started executing): every retry with the
    /// same key gets the same 500. `should_retry` is sent as `Stripe-Should-Retry` when set.
    ServerError { should_retry: Option<bool> },
    /// 500 that saves nothing (`Stripe-Should-Retry: true`): a retry with the same key executes again.
    ServerErrorUnsaved,
    /// 429 `rate_limit`, nothing saved.
    RateLimited,
    /// The request hangs for the configured hang time (past the client's timeout) and nothing is
    /// executed or saved.
    Timeout,
    /// The charge executes and its 200 is saved under the key, but the answer is delayed by the hang
    /// time: the client times out, and a retry with the same key gets the saved 200.
    TimeoutAfterCharge,
}

impl Outcome {
    /// A decline with a code and an optional issuer decline code.
    pub fn decline(code: &str, decline_code: Option<&str>) -> Self {
        Outcome::Decline {
            code: code.to_owned(),
            decline_code: decline_code.map(str::to_owned),
            advice_code: None,
            network_advice_code: None,
        }
    }
}

/// Status of a fake invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvoiceStatus {
    Draft,
    Open,
    Paid,
    Void,
    Uncollectible,
}

impl InvoiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Draft => "draft",
            InvoiceStatus::Open => "open",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Void => "void",
            InvoiceStatus::Uncollectible => "uncollectible",
        }
    }
}

/// One request as the fake received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// Path without the query, e.g. `/v1/invoices/in_1/pay`.
    pub path: String,
    pub idempotency_key: Option<String>,
    pub at: DateTime<Utc>,
    /// The form body as sent (URL-encoded).
    pub body: String,
    /// Status answered.
    pub status: u16,
    /// Answered from the saved response of an earlier request with the same key.
    pub replayed: bool,
    /// The client's address: requests from one port came over one (reused) connection.
    pub peer: std::net::SocketAddr,
}

#[derive(Debug)]
struct InvoiceRecord {
    id: String,
    customer: String,
    subscription: Option<String>,
    amount_due: i64,
    currency: String,
    status: InvoiceStatus,
    next_payment_attempt: Option<i64>,
    attempt_count: i64,
    created: i64,
    paid_at: Option<i64>,
    voided_at: Option<i64>,
    marked_uncollectible_at: Option<i64>,
}

#[derive(Debug, Clone)]
struct SubscriptionRecord {
    id: String,
    customer: String,
    currency: String,
    amount: i64,
    status: String,
    created: i64,
    cancel_at_period_end: bool,
    canceled_at: Option<i64>,
    pause_behavior: Option<String>,
    latest_invoice: Option<String>,
}

#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    body: Value,
    /// The body already written (an invoice or a card error, from a template), sent instead of
    /// `body`.
    raw: Option<Bytes>,
    request_id: String,
    should_retry: Option<bool>,
}

/// An answer as sent: the body serialised once, so saving and replaying it copies no JSON tree
/// (a full invoice is hundreds of small allocations; a long run saves tens of thousands).
#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    body: Bytes,
    request_id: String,
    should_retry: Option<bool>,
}

impl From<Answer> for Reply {
    fn from(a: Answer) -> Reply {
        Reply {
            status: a.status,
            body: a
                .raw
                .unwrap_or_else(|| Bytes::from(serde_json::to_vec(&a.body).unwrap_or_default())),
            request_id: a.request_id,
            should_retry: a.should_retry,
        }
    }
}

struct Saved {
    method: Method,
    path: String,
    body: String,
    answer: Reply,
}

#[derive(Default)]
struct FakeState {
    invoices: HashMap<String, InvoiceRecord>,
    subscriptions: HashMap<String, SubscriptionRecord>,
    scripts: HashMap<String, VecDeque<Outcome>>,
    saved: HashMap<String, Saved>,
    requests: Vec<RecordedRequest>,
    charges: HashMap<String, u32>,
    pay_executions: HashMap<String, u32>,
    required_key: Option<String>,
    next_id: u64,
    hosted: hosted::Hosted,
    /// This server's own base URL, for the hosted pages' links.
    base: String,
}

struct Shared {
    state: Mutex<FakeState>,
    hang: Mutex<Duration>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Stops the server when the last handle is dropped.
struct ServerGuard(tokio::task::JoinHandle<()>);

impl Drop for ServerGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Handle on a running fake; clones share the server and its state.
#[derive(Clone)]
pub struct FakeStripe {
    shared: Arc<Shared>,
    base_url: String,
    _server: Arc<ServerGuard>,
}

impl std::fmt::Debug for FakeStripe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeStripe")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl FakeStripe {
    /// Start on 127.0.0.1 with a free port, in the current Tokio runtime. Returns the handle and the
    /// API base to give the client (`http://127.0.0.1:PORT/`; the client appends `v1/…`).
    ///
    /// # Panics
    /// When no local port can be bound.
    pub async fn start() -> (FakeStripe, String) {
        let shared = Arc::new(Shared {
            state: Mutex::new(FakeState::default()),
            hang: Mutex::new(Duration::from_secs(35)),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a local port for the fake Stripe");
        let addr = listener.local_addr().expect("local address");
        shared.lock().base = format!("http://{addr}/");
        let app = Router::new()
            .route(
                "/hosted/{id}",
                axum::routing::get(hosted::page).post(hosted::save),
            )
            .fallback(handle)
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
            let _ = axum::serve(listener, app).await;
        });
        let base_url = format!("http://{addr}/");
        let fake = FakeStripe {
            shared,
            base_url: base_url.clone(),
            _server: Arc::new(ServerGuard(server)),
        };
        (fake, base_url)
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Answer 401 to any other key.
    pub fn require_key(&self, key: &str) {
        self.shared.lock().required_key = Some(key.to_owned());
    }

    /// How long [`Outcome::Timeout`] and [`Outcome::TimeoutAfterCharge`] hold the answer (default 35 s).
    pub fn set_hang(&self, hang: Duration) {
        *self.shared.hang.lock().unwrap_or_else(|e| e.into_inner()) = hang;
    }

    /// An open invoice (and its subscription, created active if new). `amount` in minor units.
    pub fn add_invoice(
        &self,
        id: &str,
        customer: &str,
        subscription: Option<&str>,
        amount: i64,
        currency: &str,
    ) {
        let now = Utc::now().timestamp();
        let mut state = self.shared.lock();
        if let Some(sub) = subscription {
            let record = state
                .subscriptions
                .entry(sub.to_owned())
                .or_insert_with(|| SubscriptionRecord {
                    id: sub.to_owned(),
                    customer: customer.to_owned(),
                    currency: currency.to_owned(),
                    amount,
                    status: "past_due".to_owned(),
                    created: now - 30 * 86_400,
                    cancel_at_period_end: false,
                    canceled_at: None,
                    pause_behavior: None,
                    latest_invoice: None,
                });
            record.latest_invoice = Some(id.to_owned());
        }
        state.invoices.insert(
            id.to_owned(),
            InvoiceRecord {
                id: id.to_owned(),
                customer: customer.to_owned(),
                subscription: subscription.map(str::to_owned),
                amount_due: amount,
                currency: currency.to_owned(),
                status: InvoiceStatus::Open,
                next_payment_attempt: None,
                attempt_count: 1,
                created: now,
                paid_at: None,
                voided_at: None,
                marked_uncollectible_at: None,
            },
        );
    }

    /// Outcomes of the next `pay` executions of this invoice, appended to any still pending.
    pub fn script_pay(&self, invoice_id: &str, outcomes: Vec<Outcome>) {
        self.shared
            .lock()
            .scripts
            .entry(invoice_id.to_owned())
            .or_default()
            .extend(outcomes);
    }

    /// Change an invoice's status from outside (paid elsewhere, voided, written off).
    ///
    /// # Panics
    /// When the invoice does not exist.
    pub fn set_invoice_status(&self, id: &str, status: InvoiceStatus) {
        let now = Utc::now().timestamp();
        let mut state = self.shared.lock();
        let inv = state.invoices.get_mut(id).expect("no such fake invoice");
        inv.status = status;
        match status {
            InvoiceStatus::Paid => inv.paid_at = Some(now),
            InvoiceStatus::Void => inv.voided_at = Some(now),
            InvoiceStatus::Uncollectible => inv.marked_uncollectible_at = Some(now),
            InvoiceStatus::Draft | InvoiceStatus::Open => {}
        }
        if status != InvoiceStatus::Open {
            inv.next_payment_attempt = None;
        }
    }

    /// Stripe's own next automatic retry (unix seconds), as when Smart Retries are on.
    ///
    /// # Panics
    /// When the invoice does not exist.
    pub fn set_next_payment_attempt(&self, id: &str, at: Option<i64>) {
        let mut state = self.shared.lock();
        state
            .invoices
            .get_mut(id)
            .expect("no such fake invoice")
            .next_payment_attempt = at;
    }

    pub fn invoice_status(&self, id: &str) -> Option<InvoiceStatus> {
        self.shared.lock().invoices.get(id).map(|i| i.status)
    }

    /// `status`, `cancel_at_period_end` and `pause_collection.behavior` of a subscription.
    pub fn subscription_state(&self, id: &str) -> Option<(String, bool, Option<String>)> {
        self.shared.lock().subscriptions.get(id).map(|s| {
            (
                s.status.clone(),
                s.cancel_at_period_end,
                s.pause_behavior.clone(),
            )
        })
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// How many `pay` executions charged this invoice (replays do not count).
    pub fn charges(&self, invoice_id: &str) -> u32 {
        self.shared
            .lock()
            .charges
            .get(invoice_id)
            .copied()
            .unwrap_or(0)
    }

    /// How many `pay` requests executed (charged, declined or failed with a saved 500), replays aside.
    pub fn pay_executions(&self, invoice_id: &str) -> u32 {
        self.shared
            .lock()
            .pay_executions
            .get(invoice_id)
            .copied()
            .unwrap_or(0)
    }

    /// The idempotency keys of the requests about this invoice, in order of first use, without repeats.
    pub fn keys_seen(&self, invoice_id: &str) -> Vec<String> {
        let prefix = format!("/v1/invoices/{invoice_id}");
        let mut keys: Vec<String> = Vec::new();
        for r in self.shared.lock().requests.iter() {
            let about = r.path == prefix || r.path.starts_with(&format!("{prefix}/"));
            if let (true, Some(key)) = (about, &r.idempotency_key)
                && !keys.contains(key)
            {
                keys.push(key.clone());
            }
        }
        keys
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    // A GET's parameters (`expand[]`) are in the query; they are read like a form.
    let body = if method == Method::GET {
        uri.query().unwrap_or_default().to_owned()
    } else {
        String::from_utf8_lossy(&body).into_owned()
    };
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let now = Utc::now();
    let hang = *shared.hang.lock().unwrap_or_else(|e| e.into_inner());

    let (answer, replayed, delay) = {
        let mut state = shared.lock();
        let mut delay = None;
        let (answer, replayed) = if let Some(answer) = state.authenticate(auth.as_deref()) {
            (Reply::from(answer), false)
        } else if let Some(saved) = key.as_ref().and_then(|k| state.saved.get(k)) {
            if saved.method == method && saved.path == path && saved.body == body {
                (saved.answer.clone(), true)
            } else {
                let id = state.request_id();
                let message = format!(
                    "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{}' if you meant to execute a different request.",
                    key.as_deref().unwrap_or_default()
                );
                let mut answer = state.answer(400, shapes::invalid_request(&message, None, &id));
                answer.body["error"]["type"] = Value::from("idempotency_error");
                (Reply::from(answer), false)
            }
        } else {
            let (answer, save, hold) = state.execute(&method, &path, &body, now.timestamp());
            let answer = Reply::from(answer);
            if hold {
                delay = Some(hang);
            }
            if let (true, Some(key)) = (save && method != Method::GET, &key) {
                state.saved.insert(
                    key.clone(),
                    Saved {
                        method: method.clone(),
                        path: path.clone(),
                        body: body.clone(),
                        answer: answer.clone(),
                    },
                );
            }
            (answer, false)
        };
        state.requests.push(RecordedRequest {
            method: method.to_string(),
            path: path.clone(),
            idempotency_key: key.clone(),
            at: now,
            body: body.clone(),
            status: answer.status,
            replayed,
            peer,
        });
        (answer, replayed, delay)
    };

    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, answer.body).into_response();
    let h = response.headers_mut();
    h.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&answer.request_id) {
        h.insert("request-id", v);
    }
    h.insert(
        "stripe-version",
        HeaderValue::from_static("2026-09-30.endive"),
    );
    if let Some(key) = key.and_then(|k| HeaderValue::from_str(&k).ok()) {
        h.insert("idempotency-key", key);
    }
    if replayed {
        h.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    if let Some(retry) = answer.should_retry {
        h.insert(
            "stripe-should-retry",
            HeaderValue::from_static(if retry { "true" } else { "false" }),
        );
    }
    response
}

impl FakeState {
    fn request_id(&mut self) -> String {
        self.next_id += 1;
        format!("req_fake{:012}", self.next_id)
    }

    fn answer(&mut self, status: u16, body: Value) -> Answer {
        let request_id = body["error"]["request_log_url"]
            .as_str()
            .and_then(|u| u.rsplit('/').next())
            .map(str::to_owned)
            .unwrap_or_else(|| self.request_id());
        Answer {
            status,
            body,
            raw: None,
            request_id,
            should_retry: None,
        }
    }

    /// A 200 with the invoice as it stands. `request_id` is the one the request already has, if any.
    fn invoice_answer(&mut self, id: &str, request_id: Option<String>) -> Option<Answer> {
        let body = shapes::invoice(self.invoices.get(id)?);
        Some(Answer {
            status: 200,
            body: Value::Null,
            raw: Some(Bytes::from(body)),
            request_id: request_id.unwrap_or_else(|| self.request_id()),
            should_retry: None,
        })
    }

    fn authenticate(&mut self, key: Option<&str>) -> Option<Answer> {
        let ok = match (key, &self.required_key) {
            (None, _) => false,
            (Some(key), Some(required)) => key == required,
            (Some(key), None) => key.starts_with("sk_") || key.starts_with("rk_"),
        };
        if ok {
            return None;
        }
        let id = self.request_id();
        let message = match key {
            None => "You did not provide an API key.".to_owned(),
            Some(key) => format!("Invalid API Key provided: {key}"),
        };
        Some(self.answer(401, shapes::invalid_request(&message, None, &id)))
    }

    fn not_found(&mut self, what: &str, id: &str) -> (Answer, bool, bool) {
        let rid = self.request_id();
        let body = shapes::invalid_request(
            &format!("No such {what}: '{id}'"),
            Some("resource_missing"),
            &rid,
        );
        (self.answer(404, body), false, false)
    }

    /// Run one request. Returns the answer, whether it is saved under the idempotency key, and whether
    /// the answer is held back by the hang time.
    fn execute(
        &mut self,
        method: &Method,
        path: &str,
        body: &str,
        now: i64,
    ) -> (Answer, bool, bool) {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let form = parse_form(body);
        let base = self.base.clone();
        if let Some(done) = self.execute_hosted(method.as_str(), &segments, &form, &base, now) {
            return done;
        }
        match (method.as_str(), segments.as_slice()) {
            ("GET", ["v1", "invoices", id]) => match self.invoice_answer(id, None) {
                Some(answer) => (answer, false, false),
                None => self.not_found("invoice", id),
            },
            ("POST", ["v1", "invoices", id, "pay"]) => self.pay(id, now),
            ("POST", ["v1", "invoices", id, "mark_uncollectible"]) => {
                let Some(inv) = self.invoices.get_mut(*id) else {
                    return self.not_found("invoice", id);
                };
                match inv.status {
                    InvoiceStatus::Open | InvoiceStatus::Uncollectible => {
                        if inv.status == InvoiceStatus::Open {
                            inv.status = InvoiceStatus::Uncollectible;
                            inv.marked_uncollectible_at = Some(now);
                            inv.next_payment_attempt = None;
                        }
                        let answer = self.invoice_answer(id, None).expect("the invoice exists");
                        (answer, true, false)
                    }
                    other => {
                        let rid = self.request_id();
                        let message = format!(
                            "You can only mark an open invoice as uncollectible; this invoice is {}.",
                            other.as_str()
                        );
                        let body = shapes::invalid_request(&message, None, &rid);
                        (self.answer(400, body), false, false)
                    }
                }
            }
            ("GET", ["v1", "subscriptions", id]) => match self.subscriptions.get(*id) {
                Some(sub) => {
                    let body = shapes::subscription(sub);
                    (self.answer(200, body), false, false)
                }
                None => self.not_found("subscription", id),
            },
            ("DELETE", ["v1", "subscriptions", id]) => {
                let Some(sub) = self.subscriptions.get_mut(*id) else {
                    return self.not_found("subscription", id);
                };
                if sub.canceled_at.is_none() {
                    sub.status = "canceled".to_owned();
                    sub.canceled_at = Some(now);
                }
                let body = shapes::subscription(sub);
                (self.answer(200, body), true, false)
            }
            ("POST", ["v1", "subscriptions", id]) => {
                let Some(sub) = self.subscriptions.get_mut(*id) else {
                    return self.not_found("subscription", id);
                };
                if let Some(v) = form.get("cancel_at_period_end") {
                    sub.cancel_at_period_end = v == "true";
                }
                if let Some(b) = form.get("pause_collection[behavior]") {
                    sub.pause_behavior = Some(b.clone());
                } else if form.get("pause_collection").is_some_and(String::is_empty) {
                    sub.pause_behavior = None;
                }
                let body = shapes::subscription(sub);
                (self.answer(200, body), true, false)
            }
            _ => {
                let rid = self.request_id();
                let message = format!(
                    "Unrecognized request URL ({}: {path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.",
                    method.as_str()
                );
                let body = shapes::invalid_request(&message, None, &rid);
                (self.answer(404, body), false, false)
            }
        }
    }

    fn pay(&mut self, id: &str, now: i64) -> (Answer, bool, bool) {
        let Some(status) = self.invoices.get(id).map(|i| i.status) else {
            return self.not_found("invoice", id);
        };
        let refusal = match status {
            InvoiceStatus::Open | InvoiceStatus::Uncollectible => None,
            InvoiceStatus::Paid => Some("Invoice is already paid"),
            InvoiceStatus::Void => Some("This invoice is void and can no longer be paid."),
            InvoiceStatus::Draft => Some("This invoice is a draft: finalize it before paying it."),
        };
        if let Some(message) = refusal {
            let rid = self.request_id();
            let body = shapes::invalid_request(message, None, &rid);
            return (self.answer(400, body), false, false);
        }
        let outcome = self
            .scripts
            .get_mut(id)
            .and_then(VecDeque::pop_front)
            .unwrap_or(Outcome::Succeed);
        let rid = self.request_id();
        match outcome {
            Outcome::Succeed | Outcome::TimeoutAfterCharge => {
                *self.pay_executions.entry(id.to_owned()).or_default() += 1;
                *self.charges.entry(id.to_owned()).or_default() += 1;
                let inv = self.invoices.get_mut(id).expect("checked above");
                inv.status = InvoiceStatus::Paid;
                inv.paid_at = Some(now);
                inv.attempt_count += 1;
                inv.next_payment_attempt = None;
                let sub = inv.subscription.clone();
                if let Some(sub) = sub.and_then(|s| self.subscriptions.get_mut(&s))
                    && sub.status == "past_due"
                {
                    sub.status = "active".to_owned();
                }
                let answer = self.invoice_answer(id, Some(rid)).expect("checked above");
                (answer, true, outcome == Outcome::TimeoutAfterCharge)
            }
            Outcome::Decline {
                code,
                decline_code,
                advice_code,
                network_advice_code,
            } => {
                *self.pay_executions.entry(id.to_owned()).or_default() += 1;
                let inv = self.invoices.get_mut(id).expect("checked above");
                inv.attempt_count += 1;
                let decline = shapes::Decline {
                    code: &code,
                    decline_code: decline_code.as_deref(),
                    advice_code: advice_code.as_deref(),
                    network_advice_code: network_advice_code.as_deref(),
                    network_decline_code: None,
                };
                let body = shapes::card_error(inv, &decline, &rid, now);
                let answer = Answer {
                    status: 402,
                    body: Value::Null,
                    raw: Some(Bytes::from(body)),
                    request_id: rid,
                    should_retry: None,
                };
                (answer, true, false)
            }
            Outcome::ServerError { should_retry } => {
                *self.pay_executions.entry(id.to_owned()).or_default() += 1;
                let mut answer = self.answer(500, shapes::api_error(&rid));
                answer.should_retry = should_retry;
                (answer, true, false)
            }
            Outcome::ServerErrorUnsaved => {
                let mut answer = self.answer(500, shapes::api_error(&rid));
                answer.should_retry = Some(true);
                (answer, false, false)
            }
            Outcome::RateLimited => (self.answer(429, shapes::rate_limited(&rid)), false, false),
            Outcome::Timeout => (self.answer(500, shapes::api_error(&rid)), false, true),
        }
    }
}

/// `application/x-www-form-urlencoded` into decoded key/value pairs (brackets stay in the keys).
fn parse_form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests;
