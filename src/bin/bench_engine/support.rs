//! What the engine benchmark runs against: a throw-away database per backend, the durable-commit loop,
//! the fake Stripe (in a child process, so its ever-growing request log is not counted as the
//! service's memory), and memory readings from `/proc`.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use dunning::store::{Db, Store};
use dunning::testing::fake_stripe::{FakeStripe, Outcome};
use serde::{Deserialize, Serialize};

/// Runs `$body` with `$pool` bound to either backend's pool (the library's `dispatch!` is crate-private).
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            Db::Sqlite($pool) => $body,
            Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

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

/// A database created for this run and removed afterwards (as in bench_inbox).
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

/// (b) Durable single-row inserts (autocommit, a case_work-sized row) from `concurrency` tasks through
/// a store connected as the service connects (same pragmas / synchronous_commit, same pool size).
/// Returns commits/s over `measure` after `warmup`.
pub async fn commit_limit(
    url: &str,
    pool_size: u32,
    concurrency: usize,
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<f64> {
    let store = Store::connect(url, pool_size).await?;
    on_pool!(&store.db, pool => sqlx::query(
        "create table bench_commit (id text primary key, payload text not null, created_at text not null)")
        .execute(pool).await.map(|_| ()))?;
    let counted = Arc::new(AtomicU64::new(0));
    let start = tokio::time::Instant::now();
    let (from, until) = (start + warmup, start + warmup + measure);
    let payload: Arc<str> = "x".repeat(400).into();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (store, counted, payload) = (store.clone(), counted.clone(), payload.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let id = uuid::Uuid::now_v7().to_string();
                let now = chrono::Utc::now().to_rfc3339();
                const INSERT: &str =
                    "insert into bench_commit (id, payload, created_at) values ($1, $2, $3)";
                let r = on_pool!(&store.db, pool => sqlx::query(INSERT)
                    .bind(id).bind(&*payload).bind(now).execute(pool).await.map(|_| ()));
                r?;
                let t = tokio::time::Instant::now();
                if t >= until {
                    return Ok::<(), sqlx::Error>(());
                }
                if t >= from {
                    counted.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await?.context("a durable commit failed")?;
    }
    on_pool!(&store.db, pool => sqlx::query("drop table bench_commit").execute(pool).await.map(|_| ()))?;
    store.close().await;
    Ok(counted.load(Ordering::Relaxed) as f64 / measure.as_secs_f64())
}

/// VmRSS and VmHWM (kB) of a process (`self` or a pid).
pub fn memory_kb(pid: &str) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

// ---- the fake Stripe, in a child process ----

/// How the invoice `i` answers its charges: 60 % decline once then pay, 20 % decline three times then
/// pay, 20 % always decline (the campaign runs out: churn with one end action).
pub fn script(i: usize) -> Vec<Outcome> {
    let soft = || Outcome::decline("card_declined", Some("do_not_honor"));
    match i % 5 {
        0..=2 => vec![soft(), Outcome::Succeed],
        3 => vec![soft(), soft(), soft(), Outcome::Succeed],
        _ => (0..10)
            .map(|_| Outcome::decline("card_declined", Some("generic_decline")))
            .collect(),
    }
}

pub fn invoice_id(i: usize) -> String {
    format!("in_bench{i:07}")
}

pub fn customer_id(i: usize) -> String {
    format!("cus_bench{i:07}")
}

pub fn subscription_id(i: usize) -> String {
    format!("sub_bench{i:07}")
}

pub const AMOUNT: i64 = 4900;

/// What the fake saw, summed over every invoice.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct FakeStats {
    /// `POST /v1/invoices/{id}/pay` requests received.
    pub pay_requests: u64,
    /// Of which answered from a saved response (a client retry with the same key).
    pub pay_replayed: u64,
    /// Executions (charged or declined).
    pub pay_executions: u64,
    pub charges: u64,
    /// Requests about subscriptions (the end action).
    pub subscription_requests: u64,
    pub requests_total: u64,
}

/// The child's side: start the fake, add `cases` scripted invoices, print `READY <base>`, then answer
/// each `stats` line on stdin with a JSON [`FakeStats`] line; exit at end of input.
pub async fn fake_child(cases: usize) -> anyhow::Result<()> {
    let (stripe, base) = FakeStripe::start().await;
    for i in 0..cases {
        let id = invoice_id(i);
        stripe.add_invoice(
            &id,
            &customer_id(i),
            Some(&subscription_id(i)),
            AMOUNT,
            "usd",
        );
        stripe.script_pay(&id, script(i));
    }
    println!("READY {base}");
    std::io::stdout().flush()?;
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        for line in std::io::stdin().lock().lines() {
            if line?.trim() != "stats" {
                continue;
            }
            let mut s = FakeStats::default();
            for r in stripe.requests() {
                s.requests_total += 1;
                if r.method == "POST"
                    && r.path.starts_with("/v1/invoices/")
                    && r.path.ends_with("/pay")
                {
                    s.pay_requests += 1;
                    s.pay_replayed += u64::from(r.replayed);
                } else if r.path.starts_with("/v1/subscriptions/") {
                    s.subscription_requests += 1;
                }
            }
            for i in 0..cases {
                let id = invoice_id(i);
                s.pay_executions += u64::from(stripe.pay_executions(&id));
                s.charges += u64::from(stripe.charges(&id));
            }
            println!("{}", serde_json::to_string(&s)?);
            std::io::stdout().flush()?;
        }
        Ok(())
    })
    .await?
}

/// The parent's handle on the child.
pub struct FakeProcess {
    pub base: String,
    pub pid: u32,
    child: Child,
    io: Arc<std::sync::Mutex<(ChildStdin, BufReader<ChildStdout>)>>,
}

impl FakeProcess {
    pub async fn spawn(cases: usize) -> anyhow::Result<FakeProcess> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["--fake-stripe-child", "--cases", &cases.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the fake Stripe process")?;
        let stdin = child.stdin.take().context("child stdin")?;
        let mut stdout = BufReader::new(child.stdout.take().context("child stdout")?);
        let (line, stdout) = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            stdout.read_line(&mut line).map(|_| (line, stdout))
        })
        .await??;
        let base = line
            .trim()
            .strip_prefix("READY ")
            .with_context(|| format!("the fake Stripe process said {line:?}"))?
            .to_string();
        Ok(FakeProcess {
            base,
            pid: child.id(),
            child,
            io: Arc::new(std::sync::Mutex::new((stdin, stdout))),
        })
    }

    pub async fn stats(&self) -> anyhow::Result<FakeStats> {
        let io = self.io.clone();
        tokio::task::spawn_blocking(move || {
            let mut io = io.lock().unwrap_or_else(|e| e.into_inner());
            writeln!(io.0, "stats")?;
            io.0.flush()?;
            let mut line = String::new();
            io.1.read_line(&mut line)?;
            serde_json::from_str(&line).with_context(|| format!("fake stats: {line:?}"))
        })
        .await?
    }

    pub fn memory_kb(&self) -> (u64, u64) {
        memory_kb(&self.pid.to_string())
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
