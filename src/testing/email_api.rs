//! A fake Resend-style email API over real HTTP for tests: `POST /emails` with a bearer key and a JSON
//! body. It keeps every message it accepts, honours `Idempotency-Key` (a key's first accepted answer is
//! replayed, a key reused with another body is a 409), and can be told to answer an error for an
//! address, or to accept a message and lose the answer (as when a connection drops mid-response).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

pub const TEST_KEY: &str = "re_test_key_0123456789";

/// A message the API accepted (once per idempotency key).
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The id the API answered with.
    pub id: String,
    pub idempotency_key: Option<String>,
    /// The JSON body as sent: `from`, `to`, `subject`, `html`, `text`, `reply_to`, `headers`.
    pub body: Value,
}

impl Accepted {
    pub fn subject(&self) -> &str {
        self.body["subject"].as_str().unwrap_or("")
    }

    pub fn to(&self) -> Vec<String> {
        self.body["to"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// What to do with the next messages to an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer this status (429, 500, 422…) without accepting.
    Status(u16),
    /// Accept the message (and save the answer under its key), but answer 503.
    LoseAnswer,
}

#[derive(Default)]
struct FakeState {
    accepted: Vec<Accepted>,
    /// Every request: its idempotency key and the status answered.
    requests: Vec<(Option<String>, u16)>,
    /// Idempotency key → (request body, saved status, saved answer).
    saved: HashMap<String, (Value, u16, Value)>,
    /// Address → faults to apply, one per request, in order.
    faults: HashMap<String, VecDeque<Fault>>,
    /// Addresses refused for good (422 to every request).
    refused: Vec<String>,
}

struct Guard(tokio::task::JoinHandle<()>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[derive(Clone)]
pub struct FakeEmailApi {
    state: Arc<Mutex<FakeState>>,
    pub port: u16,
    _guard: Arc<Guard>,
}

impl FakeEmailApi {
    /// # Panics
    /// When no local port can be bound.
    pub async fn start() -> FakeEmailApi {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a local port for the fake email API");
        let port = listener.local_addr().expect("local address").port();
        let state = Arc::new(Mutex::new(FakeState::default()));
        let app = Router::new()
            .route("/emails", post(send))
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeEmailApi {
            state,
            port,
            _guard: Arc::new(Guard(task)),
        }
    }

    /// `resend+http://{TEST_KEY}@127.0.0.1:{port}` for `DUNNING_EMAIL`.
    pub fn url(&self) -> String {
        format!("resend+http://{TEST_KEY}@127.0.0.1:{}", self.port)
    }

    fn lock(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn accepted(&self) -> Vec<Accepted> {
        self.lock().accepted.clone()
    }

    /// Every request received (accepted, replayed or refused): its key and the status answered.
    pub fn requests(&self) -> Vec<(Option<String>, u16)> {
        self.lock().requests.clone()
    }

    /// Apply `fault` to the next `times` requests for `address`.
    pub fn fault(&self, address: &str, fault: Fault, times: usize) {
        let mut s = self.lock();
        let queue = s.faults.entry(address.to_ascii_lowercase()).or_default();
        queue.extend(std::iter::repeat_n(fault, times));
    }

    /// Answer 422 (an invalid recipient) to every message for `address`.
    pub fn refuse(&self, address: &str) {
        self.lock().refused.push(address.to_ascii_lowercase());
    }
}

fn error(status: u16, name: &str, message: &str) -> (u16, Value) {
    let body = json!({"statusCode": status, "name": name, "message": message});
    (status, body)
}

async fn send(
    State(state): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
    let (status, answer) = answer(&mut s, &headers, &body, key.as_deref());
    s.requests.push((key, status));
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, axum::Json(answer)).into_response()
}

fn answer(s: &mut FakeState, headers: &HeaderMap, raw: &[u8], key: Option<&str>) -> (u16, Value) {
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {TEST_KEY}"));
    if !authorized {
        return error(401, "missing_api_key", "API key is invalid");
    }
    let Ok(body) = serde_json::from_slice::<Value>(raw) else {
        return error(400, "invalid_body", "the body is not JSON");
    };
    if let Some((first, status, saved)) = key.and_then(|k| s.saved.get(k)) {
        if first != &body {
            let m = "Same idempotency key used with a different request payload";
            return error(409, "invalid_idempotent_request", m);
        }
        return (*status, saved.clone());
    }
    let to = body["to"][0].as_str().unwrap_or("").to_ascii_lowercase();
    if !to.contains('@') || s.refused.contains(&to) {
        let executed = error(422, "validation_error", "Invalid `to` field.");
        save(s, key, &body, &executed);
        return executed;
    }
    let fault = s.faults.get_mut(&to).and_then(VecDeque::pop_front);
    if let Some(Fault::Status(code)) = fault {
        return error(code, "application_error", "injected by the test");
    }
    let id = format!("fake_{:04}", s.accepted.len() + 1);
    s.accepted.push(Accepted {
        id: id.clone(),
        idempotency_key: key.map(str::to_string),
        body: body.clone(),
    });
    let ok = (200, json!({"id": id}));
    save(s, key, &body, &ok);
    if fault == Some(Fault::LoseAnswer) {
        return error(
            503,
            "connection_lost",
            "the answer was lost (injected by the test)",
        );
    }
    ok
}

fn save(s: &mut FakeState, key: Option<&str>, body: &Value, answer: &(u16, Value)) {
    if let Some(k) = key {
        s.saved
            .insert(k.to_string(), (body.clone(), answer.0, answer.1.clone()));
    }
}
