//! A worker killed (SIGKILL) in the middle of sending an email, through the real binary: the message
//! reached the SMTP server but the process died before hearing back. After a restart the step does
//! not send it again, and the rest of the campaign goes out exactly once per step.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use dunning::providers::stripe::sign;
use dunning::testing::fake_stripe::{FakeStripe, Outcome};
use dunning::testing::smtp::SmtpServer;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_dunning");
const ADMIN: &str = "crash-test-admin-token-0123456789";
const WHSEC: &str = "whsec_crash_test_secret";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Where the service keeps its data: SQLite in the test's directory, or a fresh PostgreSQL database.
#[derive(Clone)]
enum Db {
    Sqlite,
    Postgres(String),
}

impl Db {
    fn url(&self) -> String {
        match self {
            Db::Sqlite => "sqlite://crash.db".into(),
            Db::Postgres(url) => url.clone(),
        }
    }
}

const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A fresh PostgreSQL database, or `None` (said loudly) when PostgreSQL is unreachable and not
/// required. `.ci/run` requires it.
async fn postgres() -> Option<(sqlx::PgPool, String, String)> {
    let admin = std::env::var("DUNNING_TEST_POSTGRES_URL").unwrap_or_else(|_| PG_ADMIN.into());
    let pool = match sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&admin)
        .await
    {
        Ok(p) => p,
        Err(e) => {
            if std::env::var("DUNNING_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                panic!("PostgreSQL is required (DUNNING_REQUIRE_POSTGRES=1): {e}");
            }
            eprintln!("\n!!! SKIPPED the PostgreSQL crash test: {admin} is unreachable ({e}).\n");
            return None;
        }
    };
    let name = format!("dunning_t_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
        .execute(&pool)
        .await
        .unwrap();
    let url = dunning::store::sibling_database_url(&admin, &name)
        .expect("DUNNING_TEST_POSTGRES_URL has no database name");
    Some((pool, name, url))
}

fn start(dir: &Path, port: u16, smtp: &str, db: &Db) -> Child {
    let mut c = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("DUNNING_") {
            c.env_remove(k);
        }
    }
    c.current_dir(dir)
        .arg("serve")
        .env("DUNNING_LISTEN", format!("127.0.0.1:{port}"))
        .env("DUNNING_DATABASE_URL", db.url())
        .env("DUNNING_SECRET", "crash-test-secret-crash-test-secret-0123")
        .env("DUNNING_ADMIN_TOKEN", ADMIN)
        .env("DUNNING_TEST_CLOCK", "true")
        .env("DUNNING_EMAIL", smtp)
        .env("DUNNING_EMAIL_FROM", "billing@dunning.test")
        .env("DUNNING_QUEUE_POLL_MS", "50")
        // A task held by the killed process comes back quickly.
        .env("DUNNING_ORPHAN_TIMEOUT_SECS", "3")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the service starts")
}

/// Kills the service if the test fails half-way, so no process outlives it.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Service {
    base: String,
    http: reqwest::Client,
}

impl Service {
    async fn healthy(&self, child: &mut Child) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("service exited early: {status}");
            }
            if let Ok(r) = self.http.get(format!("{}/healthz", self.base)).send().await
                && r.status().is_success()
            {
                return;
            }
            assert!(Instant::now() < deadline, "never healthy");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, token: &str, body: Value) -> Value {
        let r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .timeout(Duration::from_secs(120))
            .send()
            .await
            .unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {v}");
        v
    }

    async fn now(&self) -> DateTime<Utc> {
        let v = self
            .call(reqwest::Method::GET, "/v1/admin/clock", ADMIN, Value::Null)
            .await;
        v["now"].as_str().unwrap().parse().unwrap()
    }

    /// Moves the test clock without waiting for the work it makes due.
    fn advance_in_background(&self, seconds: i64) {
        let request = self
            .http
            .post(format!("{}/v1/admin/clock", self.base))
            .bearer_auth(ADMIN)
            .json(&json!({"advance_seconds": seconds}));
        tokio::spawn(async move {
            let _ = request.send().await;
        });
    }

    async fn advance(&self, seconds: i64) {
        self.call(
            reqwest::Method::POST,
            "/v1/admin/clock",
            ADMIN,
            json!({"advance_seconds": seconds}),
        )
        .await;
    }
}

fn payment_failed(at: DateTime<Utc>) -> Vec<u8> {
    let path = format!(
        "{}/fixtures/stripe/invoice.payment_failed.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["id"] = json!("evt_crash_failed");
    v["created"] = json!(at.timestamp());
    v["data"]["object"]["id"] = json!("in_crash");
    v["data"]["object"]["next_payment_attempt"] = Value::Null;
    v["data"]["object"]["parent"]["subscription_details"]["subscription"] = json!("sub_crash");
    serde_json::to_vec(&v).unwrap()
}

fn message_ids(smtp: &SmtpServer) -> Vec<String> {
    smtp.received()
        .iter()
        .map(|m| m.header("Message-ID").unwrap_or_default())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_interrupted_by_a_crash_is_not_sent_again_sqlite() {
    crash_mid_send(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_interrupted_by_a_crash_is_not_sent_again_postgres() {
    let Some((admin, name, url)) = postgres().await else {
        return;
    };
    crash_mid_send(Db::Postgres(url)).await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "drop database if exists {name} with (force)"
    )))
    .execute(&admin)
    .await
    .unwrap();
}

async fn crash_mid_send(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let (stripe, stripe_base) = FakeStripe::start().await;
    stripe.add_invoice(
        "in_crash",
        "cus_S2pQ7LmVt9KdE4",
        Some("sub_crash"),
        4900,
        "usd",
    );
    stripe.script_pay(
        "in_crash",
        vec![Outcome::decline("card_declined", Some("do_not_honor")); 8],
    );
    let smtp = SmtpServer::start().await;
    let port = free_port();
    let svc = Service {
        base: format!("http://127.0.0.1:{port}"),
        http: reqwest::Client::new(),
    };

    let mut child = Running(start(dir.path(), port, &smtp.url(), &db));
    svc.healthy(&mut child.0).await;
    let v = svc
        .call(
            reqwest::Method::POST,
            "/v1/tenants",
            ADMIN,
            json!({"id": "acme", "name": "Acme", "time_zone": "America/New_York",
                "stripe": {"secret_key": "sk_test_crash", "webhook_secrets": [WHSEC], "api_base": stripe_base},
                "support": {"email": "help@acme.test", "address": "1 Main St"}}),
        )
        .await;
    let key = v["api_key"].as_str().unwrap().to_owned();
    let body = payment_failed(svc.now().await);
    let r = svc
        .http
        .post(format!("{}/webhooks/stripe/acme", svc.base))
        .header(
            "Stripe-Signature",
            sign(&body, WHSEC.as_bytes(), Utc::now().timestamp()),
        )
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let cases = svc
            .call(
                reqwest::Method::GET,
                "/v1/cases?invoice_id=in_crash",
                &key,
                Value::Null,
            )
            .await;
        if cases["data"][0]["status"] == "open" {
            break;
        }
        assert!(Instant::now() < deadline, "the case never opened: {cases}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The first email reaches the SMTP server, whose answer never comes before the kill.
    smtp.hold_replies(Duration::from_secs(3600));
    // (The advance never returns: it waits for the email, which waits for the server.)
    svc.advance_in_background(2 * 86_400);
    let deadline = Instant::now() + Duration::from_secs(60);
    while smtp.received().is_empty() {
        assert!(Instant::now() < deadline, "no email reached the server");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let clock_before = svc.now().await;
    drop(child); // SIGKILL
    let first = message_ids(&smtp);
    assert_eq!(first.len(), 1);

    // Restart on the same database; the server answers at once from now on.
    smtp.hold_replies(Duration::ZERO);
    let mut child = Running(start(dir.path(), port, &smtp.url(), &db));
    svc.healthy(&mut child.0).await;
    let clock_after = svc.now().await;
    assert!(
        clock_after >= clock_before,
        "the test clock went back on restart: {clock_before} → {clock_after}"
    );
    // Long enough for the dead process's task to be taken again, short of the next level.
    tokio::time::sleep(Duration::from_secs(5)).await;
    svc.advance(3600).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        message_ids(&smtp),
        first,
        "the interrupted email was sent again"
    );

    // The rest of the campaign: every other level exactly once.
    svc.advance(30 * 86_400).await;
    let ids = message_ids(&smtp);
    let unique: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "a message went out twice: {ids:?}");
    assert_eq!(
        ids.len(),
        5,
        "the four levels and the cancellation: {ids:?}"
    );
    let cases = svc
        .call(
            reqwest::Method::GET,
            "/v1/cases?invoice_id=in_crash",
            &key,
            Value::Null,
        )
        .await;
    assert_eq!(cases["data"][0]["status"], "churned", "{cases}");

    let pid = child.0.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    child.0.wait().unwrap();
}
