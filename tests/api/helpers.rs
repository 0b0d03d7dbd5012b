//! Test harness: spawns the whole service on a random port over SQLite (a temp file) or PostgreSQL (a
//! fresh database per test, dropped afterwards), with a counting event sink to observe processing.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use dunning::app::{AppState, Application};
use dunning::config::Settings;
use dunning::jobs::process_event::{EventSink, ProcessError};
use dunning::providers::NormalizedEvent;
use dunning::providers::stripe::signature;
use dunning::store::Store;
use dunning::store::events::EventRow;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
pub const SECRET: &str = "test-service-secret-0123456789-abcdefghij";
pub const WHSEC: &str = "whsec_test_primary_secret_0001";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where the PostgreSQL tests run; `.ci/run` sets `DUNNING_REQUIRE_POSTGRES=1` so a skip fails CI.
fn pg_admin_url() -> String {
    std::env::var("DUNNING_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// One call of the sink: the provider event id and when it was handled.
pub type Call = (String, DateTime<Utc>);

/// How the counting sink behaves.
#[derive(Clone, Default)]
pub struct Sink {
    pub calls: Arc<Mutex<Vec<Call>>>,
    /// Fail transiently this many times before succeeding (u32::MAX: always).
    pub fail_first: Arc<Mutex<u32>>,
}

impl Sink {
    pub fn failing(times: u32) -> Self {
        let s = Sink::default();
        *s.fail_first.lock().unwrap() = times;
        s
    }

    pub fn count(&self) -> usize {
        self.calls.lock().unwrap().len()
    }

    pub fn times(&self) -> Vec<DateTime<Utc>> {
        self.calls.lock().unwrap().iter().map(|(_, t)| *t).collect()
    }
}

impl EventSink for Sink {
    fn handle<'a>(
        &'a self,
        _: &'a AppState,
        row: &'a EventRow,
        _: &'a NormalizedEvent,
    ) -> Pin<Box<dyn Future<Output = Result<(), ProcessError>> + Send + 'a>> {
        Box::pin(async move {
            self.calls
                .lock()
                .unwrap()
                .push((row.provider_event_id.clone(), Utc::now()));
            let mut left = self.fail_first.lock().unwrap();
            if *left > 0 {
                *left = left.saturating_sub(1);
                return Err(ProcessError::Transient(
                    "engine unavailable (injected by the test)".into(),
                ));
            }
            Ok(())
        })
    }
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub store: Store,
    pub state: AppState,
    pub sink: Sink,
    stop: CancellationToken,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: Option<Arc<tempfile::TempDir>>,
    pg_db: Option<String>,
    owns_db: bool,
}

/// A test that ends without [`TestApp::stop`] (or panics) still drops the PostgreSQL database its app
/// created: one such test per run used to leave a `dunning_t_…` database on the server.
impl Drop for TestApp {
    fn drop(&mut self) {
        let Some(name) = self.pg_db.take().filter(|_| self.owns_db) else {
            return;
        };
        self.stop.cancel();
        // Drop runs on the test's runtime: the database is dropped from a thread with its own.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(drop_pg(Some(name)));
            }
        })
        .join();
    }
}

/// A database for one test: a temp SQLite file, or a fresh PostgreSQL database.
pub struct TestDb {
    pub url: String,
    dir: Option<Arc<tempfile::TempDir>>,
    pg_db: Option<String>,
}

impl TestDb {
    /// `None` (after a loud message) when PostgreSQL is unreachable and not required.
    pub async fn new(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("dunning.db").display());
                Some(TestDb {
                    url,
                    dir: Some(Arc::new(dir)),
                    pg_db: None,
                })
            }
            Backend::Postgres => {
                let admin = pg_admin_url();
                let conn = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(3))
                    .connect(&admin)
                    .await;
                let pool = match conn {
                    Ok(p) => p,
                    Err(e) => {
                        if std::env::var("DUNNING_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                            panic!(
                                "PostgreSQL is required (DUNNING_REQUIRE_POSTGRES=1) but {admin} is unreachable: {e}"
                            );
                        }
                        eprintln!(
                            "\n!!! SKIPPED a PostgreSQL test: {admin} is unreachable ({e}).\n!!! Start PostgreSQL or \
                             set DUNNING_TEST_POSTGRES_URL; `.ci/run` runs these tests for real.\n"
                        );
                        return None;
                    }
                };
                let name = format!("dunning_t_{}", uuid::Uuid::new_v4().simple());
                sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
                    .execute(&pool)
                    .await
                    .unwrap();
                pool.close().await;
                let url = dunning::store::sibling_database_url(&admin, &name)
                    .expect("DUNNING_TEST_POSTGRES_URL names no database");
                Some(TestDb {
                    url,
                    dir: None,
                    pg_db: Some(name),
                })
            }
        }
    }
}

/// Logs go to the test output only when `TEST_LOG` is set (e.g. `TEST_LOG=debug cargo test`).
fn init_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Ok(filter) = std::env::var("TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_test_writer()
                .try_init();
        }
    });
}

pub fn settings(url: &str, overrides: &[(&str, &str)]) -> Settings {
    let mut raw: BTreeMap<String, String> = [
        ("listen", "127.0.0.1:0"),
        ("database_url", url),
        ("admin_token", ADMIN_TOKEN),
        ("secret", SECRET),
        ("queue_poll_ms", "50"),
        ("sweep_interval_secs", "3600"),
        ("db_max_connections", "8"),
        ("worker_concurrency", "4"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in overrides {
        raw.insert(k.to_string(), v.to_string());
    }
    Settings::from_map(&raw).expect("test settings are valid")
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, &[], Sink::default()).await
    }

    pub async fn spawn_with(
        backend: Backend,
        overrides: &[(&str, &str)],
        sink: Sink,
    ) -> Option<TestApp> {
        let db = TestDb::new(backend).await?;
        let mut app = Self::spawn_on(&db, overrides, sink).await;
        app.owns_db = true;
        Some(app)
    }

    /// Starts a service on an existing database (several may share one, as instances do).
    pub async fn spawn_on(db: &TestDb, overrides: &[(&str, &str)], sink: Sink) -> TestApp {
        Self::start(db, overrides, Some(sink)).await
    }

    /// The whole service with its recovery engine and the test clock on.
    pub async fn spawn_engine(backend: Backend, overrides: &[(&str, &str)]) -> Option<TestApp> {
        let db = TestDb::new(backend).await?;
        let mut all = vec![("test_clock", "true")];
        all.extend_from_slice(overrides);
        let mut app = Self::start(&db, &all, None).await;
        app.owns_db = true;
        Some(app)
    }

    async fn start(db: &TestDb, overrides: &[(&str, &str)], sink: Option<Sink>) -> TestApp {
        init_logs();
        let s = settings(&db.url, overrides);
        let app = match &sink {
            Some(sink) => Application::build_with(s, Arc::new(sink.clone())).await,
            None => Application::build(s).await,
        }
        .expect("app builds");
        let sink = sink.unwrap_or_default();
        let addr = app.local_addr();
        let state = app.state().clone();
        let stop = CancellationToken::new();
        let handle = tokio::spawn(app.run_until_stopped(stop.clone()));
        TestApp {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            store: state.store.clone(),
            state,
            sink,
            stop,
            handle: Some(handle),
            _dir: db.dir.clone(),
            pg_db: db.pg_db.clone(),
            owns_db: false,
        }
    }

    /// Stops the service (draining), and drops the PostgreSQL database if this app created it.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(h) = self.handle.take() {
            tokio::time::timeout(Duration::from_secs(30), h)
                .await
                .expect("stops in time")
                .unwrap()
                .unwrap();
        }
        if self.owns_db {
            drop_pg(self.pg_db.take()).await;
        }
    }

    pub async fn create_tenant(&self, id: &str, secrets: &[&str]) -> String {
        let r = self
            .client
            .post(format!("{}/v1/tenants", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"id": id, "name": format!("Tenant {id}"), "time_zone": "Europe/Paris",
                "stripe": {"secret_key": "sk_test_4eC39HqLyjWDarjtT1zdp7dc", "webhook_secrets": secrets}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        let v: Value = r.json().await.unwrap();
        v["api_key"].as_str().unwrap().to_string()
    }

    pub async fn post_webhook(
        &self,
        tenant: &str,
        body: &[u8],
        header: Option<String>,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .post(format!("{}/webhooks/stripe/{tenant}", self.base))
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(h) = header {
            req = req.header("Stripe-Signature", h);
        }
        req.send().await.unwrap()
    }

    /// Posts `body` signed now with `secret`.
    pub async fn deliver(&self, tenant: &str, body: &[u8], secret: &str) -> reqwest::Response {
        let h = signature::sign(body, secret.as_bytes(), Utc::now().timestamp());
        self.post_webhook(tenant, body, Some(h)).await
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// The inbox rows of a provider event id, through the public API.
    pub async fn event(&self, api_key: &str, provider_event_id: &str) -> Option<Value> {
        let (_, v) = self.get("/v1/events?limit=500", api_key).await;
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["provider_event_id"] == provider_event_id)
            .cloned()
    }

    /// Polls until the event reaches `status` (or panics after `timeout`).
    pub async fn wait_status(
        &self,
        api_key: &str,
        provider_event_id: &str,
        status: &str,
        timeout: Duration,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.event(api_key, provider_event_id).await {
                if e["status"] == status {
                    return e;
                }
                if Instant::now() > deadline {
                    panic!("event {provider_event_id} is {e} after {timeout:?}, expected {status}");
                }
            } else if Instant::now() > deadline {
                panic!("event {provider_event_id} was never stored");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

pub async fn drop_db(db: TestDb) {
    drop_pg(db.pg_db).await;
}

async fn drop_pg(name: Option<String>) {
    let Some(name) = name else { return };
    let Ok(pool) = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&pg_admin_url())
        .await
    else {
        return;
    };
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "drop database if exists {name} with (force)"
    )))
    .execute(&pool)
    .await;
}

/// A minimal Stripe event of `event_type` with id `id`, as bytes.
pub fn event_body(id: &str, event_type: &str) -> Vec<u8> {
    let object = json!({"id": "in_1QtestInvoice0001", "object": "invoice", "customer": "cus_Test0001",
        "amount_due": 4900, "currency": "usd", "status": "open", "attempt_count": 1,
        "subscription": "sub_Test0001"});
    serde_json::to_vec(
        &json!({"id": id, "object": "event", "api_version": "2024-06-20", "created": 1_732_400_000,
        "type": event_type, "livemode": false, "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null}, "data": {"object": object}}),
    )
    .unwrap()
}

/// The repository's fixture file `name` under fixtures/stripe/.
pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/fixtures/stripe/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// Generates a test per backend: `both!(name, |app_backend| async { ... })`.
#[macro_export]
macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                ($body)($crate::helpers::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                ($body)($crate::helpers::Backend::Postgres).await
            }
        }
    };
}

/// The card-update link (`http…/update/…`) in a received message, quoted-printable soft breaks
/// undone.
pub fn update_link(data: &str) -> String {
    let flat = data.replace("=\r\n", "");
    let at = flat.find("/update/").expect("a card-update link");
    let from = flat[..at].rfind("http").expect("an absolute link");
    flat[from..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "-_.:/".contains(*c))
        .collect()
}
