//! What the load runs against: a throw-away database per backend, the bare signature-checking handler,
//! the durable-commit loop, and the real service.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use dunning::app::{AppState, Application};
use dunning::config::Settings;
use dunning::jobs::process_event::AcceptAll;
use dunning::providers::stripe::signature;
use dunning::store::{Db, Store};
use tokio_util::sync::CancellationToken;

use super::load::{Bodies, Outcome, Stats, closed_loop};

pub const ADMIN_TOKEN: &str = "bench-admin-token-0123456789";
pub const SECRET: &str = "bench-service-secret-0123456789-abcdefghij";
pub const WHSEC: &str = "whsec_bench_secret_0001";
pub const TENANT: &str = "bench";

/// Runs `$body` with `$pool` bound to either backend's pool (the library's `dispatch!` is crate-private).
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            Db::Sqlite($pool) => $body,
            Db::Postgres($pool) => $body,
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A database created for this run and removed afterwards.
pub struct BenchDb {
    pub url: String,
    dir: Option<PathBuf>,
    pg: Option<(String, String)>,
}

impl BenchDb {
    pub async fn create(backend: Backend, pg_admin_url: &str) -> anyhow::Result<BenchDb> {
        let tag = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("dunning_bench_{tag}"));
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                Ok(BenchDb {
                    url: format!("sqlite://{}", dir.join("dunning.db").display()),
                    dir: Some(dir),
                    pg: None,
                })
            }
            Backend::Postgres => {
                let name = format!("dunning_bench_{tag}");
                let pool = admin_pool(pg_admin_url).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
                    .execute(&pool)
                    .await
                    .context("creating the benchmark database")?;
                pool.close().await;
                let url = dunning::store::sibling_database_url(pg_admin_url, &name)
                    .context("the PostgreSQL URL names no database")?;
                Ok(BenchDb {
                    url,
                    dir: None,
                    pg: Some((pg_admin_url.to_string(), name)),
                })
            }
        }
    }

    pub async fn remove(self) -> anyhow::Result<()> {
        if let Some(dir) = self.dir {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
        if let Some((admin, name)) = self.pg {
            let pool = admin_pool(&admin).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "drop database if exists {name} with (force)"
            )))
            .execute(&pool)
            .await
            .context("dropping the benchmark database")?;
            pool.close().await;
        }
        Ok(())
    }
}

async fn admin_pool(url: &str) -> anyhow::Result<sqlx::PgPool> {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .with_context(|| format!("connecting to {url}"))
}

/// (a) An axum handler that only checks the Stripe signature, on 127.0.0.1:0. Returns its base URL and
/// the token that stops it.
pub async fn start_bare() -> anyhow::Result<(String, CancellationToken)> {
    async fn verify_only(
        State(secret): State<Arc<[u8]>>,
        headers: HeaderMap,
        body: Bytes,
    ) -> StatusCode {
        let header = headers.get(signature::HEADER).and_then(|v| v.to_str().ok());
        let now = chrono::Utc::now().timestamp();
        match signature::verify(header, &body, &[&secret], now, 300) {
            Ok(()) => StatusCode::CREATED,
            Err(_) => StatusCode::UNAUTHORIZED,
        }
    }
    let secret: Arc<[u8]> = WHSEC.as_bytes().into();
    let app = Router::new()
        .route("/webhooks/stripe/{tenant}", post(verify_only))
        .with_state(secret);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let stop = CancellationToken::new();
    let until = stop.clone().cancelled_owned();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(until)
            .await
    });
    Ok((format!("http://{addr}"), stop))
}

/// What each commit of the durable-commit loop contains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitKind {
    /// (b): one webhook-sized row, autocommit.
    Plain,
    /// Diagnostic: that row plus a small second row in one transaction, as the inbox does (event + task).
    TwoRows,
    /// Diagnostic (PostgreSQL): the row plus a `pg_notify` in one transaction, as apalis's insert trigger
    /// does for every task pushed.
    Notify,
}

/// (b) Single-row durable inserts of a webhook-sized payload from `concurrency` tasks, through a store
/// connected exactly as the service connects (same pragmas / synchronous_commit).
pub async fn commit_limit(
    url: &str,
    pool_size: u32,
    concurrency: usize,
    warmup: Duration,
    measure: Duration,
    kind: CommitKind,
) -> anyhow::Result<Stats> {
    let store = Store::connect(url, pool_size).await?;
    let ddl = match store.db {
        Db::Sqlite(_) => {
            "create table bench_commit (id text primary key, payload text not null, created_at text not null)"
        }
        Db::Postgres(_) => {
            "create table bench_commit (id text primary key, payload text not null, created_at timestamptz not null)"
        }
    };
    on_pool!(&store.db, pool => sqlx::query(ddl).execute(pool).await.map(|_| ()))?;
    on_pool!(&store.db, pool => sqlx::query("create table bench_commit2 (id text primary key, body text not null)")
        .execute(pool).await.map(|_| ()))?;
    let bodies = Bodies::new();
    let op = {
        let store = store.clone();
        move || {
            let store = store.clone();
            let payload = bodies.fresh();
            async move {
                let id = uuid::Uuid::now_v7().to_string();
                let now = chrono::Utc::now();
                const INSERT: &str =
                    "insert into bench_commit (id, payload, created_at) values ($1, $2, $3)";
                let r = on_pool!(&store.db, pool => {
                    if kind == CommitKind::Plain {
                        sqlx::query(INSERT).bind(id).bind(payload).bind(now).execute(pool).await.map(|_| ())
                    } else {
                        async {
                            let mut tx = pool.begin().await?;
                            sqlx::query(INSERT).bind(&id).bind(payload).bind(now).execute(&mut *tx).await?;
                            if kind == CommitKind::TwoRows {
                                sqlx::query("insert into bench_commit2 (id, body) values ($1, $2)")
                                    .bind(&id).bind(r#"{"event_id":"0197a3c0-0000-7000-8000-000000000000"}"#)
                                    .execute(&mut *tx).await?;
                            } else {
                                sqlx::query("select pg_notify('bench_commit', $1)")
                                    .bind(&id).execute(&mut *tx).await?;
                            }
                            tx.commit().await
                        }.await
                    }
                });
                match r {
                    Ok(()) => Outcome::Accepted,
                    Err(e) => {
                        eprintln!("commit failed: {e}");
                        Outcome::Transport
                    }
                }
            }
        }
    };
    let stats = closed_loop(concurrency, warmup, measure, op).await;
    on_pool!(&store.db, pool => sqlx::query("drop table bench_commit").execute(pool).await.map(|_| ()))?;
    on_pool!(&store.db, pool => sqlx::query("drop table bench_commit2").execute(pool).await.map(|_| ()))?;
    store.close().await;
    Ok(stats)
}

/// (c), (d) The real service, as `dunning serve` builds it, with one tenant.
pub struct RunningApp {
    pub base: String,
    pub state: AppState,
    stop: CancellationToken,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// The settings the service runs with: defaults, plus listen/db/secrets and any `overrides`.
pub fn app_settings(url: &str, overrides: &[(String, String)]) -> anyhow::Result<Settings> {
    let mut raw: BTreeMap<String, String> = [
        ("listen", "127.0.0.1:0"),
        ("database_url", url),
        ("admin_token", ADMIN_TOKEN),
        ("secret", SECRET),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    raw.extend(overrides.iter().cloned());
    Ok(Settings::from_map(&raw)?)
}

impl RunningApp {
    pub async fn start(settings: Settings) -> anyhow::Result<RunningApp> {
        let app = Application::build_with(settings, Arc::new(AcceptAll)).await?;
        let base = format!("http://{}", app.local_addr());
        let state = app.state().clone();
        let stop = CancellationToken::new();
        let handle = tokio::spawn(app.run_until_stopped(stop.clone()));
        let running = RunningApp {
            base,
            state,
            stop,
            handle,
        };
        running.create_tenant().await?;
        Ok(running)
    }

    async fn create_tenant(&self) -> anyhow::Result<()> {
        let r = reqwest::Client::new()
            .post(format!("{}/v1/tenants", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .json(&serde_json::json!({
                "id": TENANT, "name": "Benchmark", "time_zone": "Europe/Paris",
                "stripe": {"secret_key": "sk_test_4eC39HqLyjWDarjtT1zdp7dc", "webhook_secrets": [WHSEC]}
            }))
            .send()
            .await?;
        let status = r.status();
        anyhow::ensure!(
            status == 201,
            "creating the tenant: {status} {}",
            r.text().await?
        );
        Ok(())
    }

    pub fn webhook_url(&self) -> String {
        format!("{}/webhooks/stripe/{TENANT}", self.base)
    }

    /// Events still waiting for the worker (status `received`).
    pub async fn backlog(&self) -> anyhow::Result<i64> {
        let (n,): (i64,) = on_pool!(&self.state.store.db, pool => {
            sqlx::query_as("select count(*) from events where status = 'received'").fetch_one(pool).await
        })?;
        Ok(n)
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(60), self.handle)
            .await
            .context("the service did not stop within 60 s")?
            .context("the service task panicked")?
    }
}

/// Diagnostics, on the running service's own store (worker running): where does a delivery's time go?
pub mod diagnose {
    use super::*;
    use dunning::store::events::NewEvent;

    /// (e) `Store::insert_event` directly (the inbox transaction: event row + apalis task, one commit),
    /// without HTTP, tenant lookup or signature check.
    pub async fn insert_event(
        app: &RunningApp,
        concurrency: usize,
        warmup: Duration,
        measure: Duration,
    ) -> Stats {
        let store = app.state.store.clone();
        let bodies = Bodies::new();
        closed_loop(concurrency, warmup, measure, move || {
            let store = store.clone();
            let payload = bodies.fresh();
            async move {
                let now = chrono::Utc::now();
                let e = NewEvent {
                    id: uuid::Uuid::now_v7().to_string(),
                    tenant_id: TENANT.into(),
                    provider: "stripe".into(),
                    provider_event_id: format!("evt_diag_{}", uuid::Uuid::new_v4().simple()),
                    event_type: "invoice.payment_failed".into(),
                    object_id: Some("in_1R3xYzPgT2m9Xw0aB1cD2eF3".into()),
                    livemode: Some(false),
                    api_version: Some("2025-03-31.basil".into()),
                    provider_created_at: Some(now),
                    payload,
                    received_at: now,
                };
                match store.insert_event(&e).await {
                    Ok(_) => Outcome::Accepted,
                    Err(err) => {
                        eprintln!("insert_event failed: {err}");
                        Outcome::Transport
                    }
                }
            }
        })
        .await
    }

    /// (f) What the handler does before storing: read the tenant row and decrypt its webhook secrets.
    pub async fn tenant_lookup(
        app: &RunningApp,
        concurrency: usize,
        warmup: Duration,
        measure: Duration,
    ) -> Stats {
        let state = app.state.clone();
        closed_loop(concurrency, warmup, measure, move || {
            let state = state.clone();
            async move {
                match state.store.tenant(TENANT).await {
                    Ok(Some(row)) => match dunning::tenants::webhook_secrets(&row, &state.keys) {
                        Ok(_) => Outcome::Accepted,
                        Err(_) => Outcome::Status(500),
                    },
                    _ => Outcome::Transport,
                }
            }
        })
        .await
    }
}
