//! A plain HTTP receiver for tests: keeps every request it gets (path, headers, body) and answers each
//! with the next scripted status (200 once the script is empty), like a Slack incoming webhook or a
//! Twilio-style API would.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;

#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    pub headers: HeaderMap,
    pub body: String,
    /// The status answered.
    pub status: u16,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

#[derive(Default)]
struct Inner {
    requests: Vec<Request>,
    script: VecDeque<u16>,
    /// The body answered with a 2xx.
    reply: String,
}

struct Guard(tokio::task::JoinHandle<()>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[derive(Clone)]
pub struct Receiver {
    inner: Arc<Mutex<Inner>>,
    pub base_url: String,
    _guard: Arc<Guard>,
}

impl Receiver {
    /// # Panics
    /// When no local port can be bound.
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a local port for the receiver");
        let addr = listener.local_addr().expect("local address");
        let inner = Arc::new(Mutex::new(Inner {
            reply: "ok".into(),
            ..Inner::default()
        }));
        let app = Router::new().fallback(handle).with_state(inner.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            inner,
            base_url: format!("http://{addr}"),
            _guard: Arc::new(Guard(task)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answer the next requests with these statuses, in order.
    pub fn script(&self, statuses: &[u16]) {
        self.lock().script.extend(statuses);
    }

    /// The body of 2xx answers (default `ok`, as Slack answers).
    pub fn reply_with(&self, body: &str) {
        self.lock().reply = body.to_string();
    }

    pub fn requests(&self) -> Vec<Request> {
        self.lock().requests.clone()
    }
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> impl IntoResponse {
    let mut s = inner.lock().unwrap_or_else(|p| p.into_inner());
    let status = s.script.pop_front().unwrap_or(200);
    s.requests.push(Request {
        path: uri.to_string(),
        headers,
        body,
        status,
    });
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let reply = if code.is_success() {
        s.reply.clone()
    } else {
        format!("error {status}")
    };
    (code, reply)
}
