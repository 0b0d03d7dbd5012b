//! Recovery-engine benchmark: N open cases through a whole campaign against the fake Stripe, on each
//! backend, measured against the durable-commit limit of the same machine in the same run:
//!
//!  (b) durable single-row commits through `Store::connect` at the service's worker concurrency and
//!      pool size: commits/s;
//!  (o) opening: N signed `invoice.payment_failed` deliveries (32 at a time) until every event is
//!      processed and every case is open;
//!  (c) the campaign: one `POST /v1/admin/clock {"advance_seconds": 30 days}`, which steps through every
//!      due time and waits for the work to drain; attempts executed (= `pay` executions at the fake)
//!      per second of that call, and (c)/(b);
//!  (m) memory: VmRSS of this process (service + load; the fake Stripe runs in a child process so its
//!      request log, which grows with every call by design, is not counted), sampled ten times a
//!      second during the campaign: the typical peak of a second (the median over the seconds of each
//!      one's highest sample) while fewer than half the cases are closed, against the same after.
//!
//! Targets: (c)/(b) ≥ 25 %; that peak after half the cases closed < 10 % above the one before.
//! Invoice mix: 60 % decline once then pay, 20 % decline three times then pay, 20 % always decline
//! (churn, one end action).
//! Exits 0 whatever the numbers; 1 if cases were left open or deliveries failed; 2 on an error.
//!
//! `cargo run --release --bin bench_engine -- --backend both --cases 10000`

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use dunning::app::{AppState, Application};
use dunning::config::Settings;
use dunning::providers::stripe::signature;
use dunning::simulate::events::{self, Invoice};
use dunning::store::Db;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

#[path = "bench_engine/support.rs"]
mod support;

use support::{Backend, BenchDb, FakeProcess, FakeStats, commit_limit, memory_kb, on_pool};

const ADMIN_TOKEN: &str = "bench-admin-token-0123456789";
const SECRET: &str = "bench-service-secret-0123456789-abcdefghij";
const WHSEC: &str = "whsec_bench_engine_0001";
const TENANT: &str = "bench";
const DELIVERY_CONCURRENCY: usize = 32;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Which {
    Sqlite,
    Postgres,
    Both,
}

#[derive(Debug, Parser)]
#[command(about = "Run N cases through a whole campaign and compare with the durable-commit limit")]
struct Args {
    #[arg(long, value_enum, default_value = "both")]
    backend: Which,
    #[arg(long, default_value_t = 10_000)]
    cases: usize,
    /// Measured seconds of the durable-commit loop (after 1 s of warm-up).
    #[arg(long, default_value_t = 5)]
    commit_seconds: u64,
    /// Administrative PostgreSQL URL; a fresh database `dunning_bench_<random>` is created beside it.
    #[arg(
        long,
        env = "DUNNING_BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres_url: String,
    /// Extra `key=value` service settings, e.g. `--set worker_concurrency=16`.
    #[arg(long = "set", value_parser = parse_kv)]
    set: Vec<(String, String)>,
    /// Leave each backend's database in place afterwards, to look into it.
    #[arg(long)]
    keep_db: bool,
    /// Internal: run as the fake Stripe process.
    #[arg(long, hide = true)]
    fake_stripe_child: bool,
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .ok_or_else(|| format!("expected key=value, got {s:?}"))
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Duration,
    closed: i64,
    rss_kb: u64,
    fake_rss_kb: u64,
}

struct Report {
    backend: Backend,
    cases: usize,
    commits_per_sec: f64,
    open_secs: f64,
    delivery_failures: usize,
    campaign_secs: f64,
    fake: FakeStats,
    statuses: BTreeMap<String, i64>,
    /// Outbox rows by status (emails rendered and handed to the `log` transport).
    messages: BTreeMap<String, i64>,
    rss_before_open_kb: u64,
    rss_after_open_kb: u64,
    hwm_end_kb: u64,
    samples: Vec<Sample>,
}

impl Report {
    fn attempts_per_sec(&self) -> f64 {
        self.fake.pay_executions as f64 / self.campaign_secs.max(1e-9)
    }
    fn ratio(&self) -> f64 {
        self.attempts_per_sec() / self.commits_per_sec.max(1e-9)
    }
    fn count(&self, status: &str) -> i64 {
        self.statuses.get(status).copied().unwrap_or(0)
    }
    fn not_closed(&self) -> i64 {
        self.statuses
            .iter()
            .filter(|(s, _)| !matches!(s.as_str(), "recovered" | "churned"))
            .map(|(_, n)| n)
            .sum::<i64>()
            + (self.cases as i64 - self.statuses.values().sum::<i64>())
    }
    /// The first sample with at least `pct` % of the cases closed.
    fn at_closed(&self, pct: u32) -> Option<Sample> {
        let need = (self.cases as i64 * i64::from(pct) + 99) / 100;
        self.samples.iter().copied().find(|s| s.closed >= need)
    }
    /// The highest sample while fewer than half the cases were closed, and after.
    fn peaks(&self) -> Option<(u64, u64)> {
        let half = self.half();
        let peak = |second: bool| {
            self.samples
                .iter()
                .filter(|s| (s.closed >= half) == second)
                .map(|s| s.rss_kb)
                .max()
        };
        Some((peak(false)?, peak(true)?))
    }
    fn half(&self) -> i64 {
        (self.cases as i64 + 1) / 2
    }
    /// The typical peak of a second while fewer than half the cases were closed, and after: the
    /// median over the seconds of each half of the highest sample in each. A leak per closed case
    /// raises every second of the later half, which moves the median; the process's RSS swings by
    /// several MB from one second to the next as batches come and go, and the highest sample of a
    /// whole half was decided by one such second (the figure moved between -5 % and +9 % over runs
    /// of one binary).
    fn typical_peaks(&self) -> Option<(u64, u64)> {
        let half = self.half();
        let median = |second: bool| {
            let mut peaks: Vec<u64> =
                per_second_peaks(self.samples.iter().filter(|s| (s.closed >= half) == second))
                    .into_values()
                    .collect();
            peaks.sort_unstable();
            match peaks.len() {
                0 => None,
                n if n % 2 == 1 => Some(peaks[n / 2]),
                n => Some((peaks[n / 2 - 1] + peaks[n / 2]) / 2),
            }
        };
        Some((median(false)?, median(true)?))
    }
    fn growth(&self) -> Option<f64> {
        let (a, b) = self.typical_peaks()?;
        Some(change(a, b))
    }
}

/// The highest RSS sample of each whole second of the campaign.
fn per_second_peaks<'a>(samples: impl Iterator<Item = &'a Sample>) -> BTreeMap<u64, u64> {
    let mut peaks: BTreeMap<u64, u64> = BTreeMap::new();
    for s in samples {
        let peak = peaks.entry(s.at.as_secs()).or_default();
        *peak = (*peak).max(s.rss_kb);
    }
    peaks
}

/// `after` relative to `before`, as a fraction.
fn change(before: u64, after: u64) -> f64 {
    (after as f64 - before as f64) / before as f64
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if let Ok(filter) = std::env::var("RUST_LOG") {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    if args.fake_stripe_child {
        // The fake's cost is the machine's, not the engine's: no huge pages to zero (see
        // `no_huge_pages`), and one thread, so its answers do not wake a second one (a fraction of a
        // core is all it needs). The service keeps its own settings.
        dunning::no_huge_pages();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        return match rt.block_on(support::fake_child(args.cases)) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("fake Stripe: {e:#}");
                std::process::ExitCode::from(2)
            }
        };
    }
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    match rt.block_on(run(&args)) {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run(args: &Args) -> anyhow::Result<bool> {
    let backends = match args.backend {
        Which::Sqlite => vec![Backend::Sqlite],
        Which::Postgres => vec![Backend::Postgres],
        Which::Both => vec![Backend::Sqlite, Backend::Postgres],
    };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let defaults = settings("sqlite://unused.db", &args.set)?;
    println!(
        "bench_engine: {} cases per backend, {cores} cores; this process runs the service, its SQLite \
         database and the load; the fake Stripe runs in a child process",
        args.cases
    );
    println!(
        "  service: worker_concurrency {}, work_concurrency {}, db_max_connections {} (SQLite: 1), queue_poll {} ms, test clock",
        defaults.worker_concurrency,
        defaults.work_concurrency,
        defaults.db_max_connections,
        defaults.queue_poll.as_millis()
    );
    println!(
        "  mix: 60 % decline once then pay, 20 % decline 3x then pay, 20 % always decline (default campaign: \
         4 retries in 21 days, then cancel)"
    );
    let mut reports = Vec::new();
    for backend in backends {
        let db = BenchDb::create(backend, &args.postgres_url).await?;
        let result = run_backend(args, backend, &db.url).await;
        if args.keep_db {
            println!("  kept the database: {}", redact(&db.url));
        } else {
            db.remove().await?;
        }
        let report = result?;
        print_report(&report);
        reports.push(report);
    }
    print_summary(&reports);
    Ok(reports
        .iter()
        .all(|r| r.not_closed() == 0 && r.delivery_failures == 0))
}

fn settings(url: &str, overrides: &[(String, String)]) -> anyhow::Result<Settings> {
    let mut raw: BTreeMap<String, String> = [
        ("listen", "127.0.0.1:0"),
        ("database_url", url),
        ("admin_token", ADMIN_TOKEN),
        ("secret", SECRET),
        ("test_clock", "true"),
        ("queue_poll_ms", "20"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    raw.extend(overrides.iter().cloned());
    Ok(Settings::from_map(&raw)?)
}

/// Counted every other second during the campaign, by the tenant's status index.
async fn closed_cases(state: &AppState) -> anyhow::Result<i64> {
    let (n,): (i64,) = on_pool!(&state.store.db, pool => sqlx::query_as(
        "select count(*) from cases where tenant_id = $1 and status in ('recovered', 'churned')")
        .bind(TENANT).fetch_one(pool).await)?;
    Ok(n)
}

async fn backlog(state: &AppState) -> anyhow::Result<i64> {
    let (n,): (i64,) = on_pool!(&state.store.db, pool => sqlx::query_as(
        "select count(*) from events where status = 'received'").fetch_one(pool).await)?;
    Ok(n)
}

async fn message_statuses(state: &AppState) -> anyhow::Result<BTreeMap<String, i64>> {
    let rows: Vec<(String, i64)> = on_pool!(&state.store.db, pool => sqlx::query_as(
        "select status, count(*) from messages group by status").fetch_all(pool).await)?;
    Ok(rows.into_iter().collect())
}

async fn statuses(state: &AppState) -> anyhow::Result<BTreeMap<String, i64>> {
    let rows: Vec<(String, i64)> = on_pool!(&state.store.db, pool => sqlx::query_as(
        "select status, count(*) from cases group by status").fetch_all(pool).await)?;
    Ok(rows.into_iter().collect())
}

/// The first Wednesday 03:00 UTC after `now`.
fn opening_time(now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    use chrono::{Datelike, Days, Weekday};
    let mut day = now.date_naive() + Days::new(1);
    while day.weekday() != Weekday::Wed {
        day = day + Days::new(1);
    }
    day.and_hms_opt(3, 0, 0).expect("valid").and_utc()
}

async fn run_backend(args: &Args, backend: Backend, url: &str) -> anyhow::Result<Report> {
    let n = args.cases;
    println!("\n[{}] {}", backend.name(), redact(url));
    let settings = settings(url, &args.set)?;
    // The service's own pool: one connection on SQLite (see Application::build_with).
    let pool_size = if settings.is_postgres() {
        settings.db_max_connections
    } else {
        1
    };
    println!(
        "  (b) durable commits: {} tasks, pool {pool_size}, {} s ...",
        settings.work_concurrency, args.commit_seconds
    );
    // At the concurrency the case work runs with, so the limit is the one the engine faces.
    let commits_per_sec = commit_limit(
        url,
        pool_size,
        settings.work_concurrency,
        Duration::from_secs(1),
        Duration::from_secs(args.commit_seconds),
    )
    .await?;
    println!("      {commits_per_sec:.0} commits/s");

    let fake = FakeProcess::spawn(n).await?;
    let result = campaign(args, backend, settings, &fake, commits_per_sec).await;
    fake.stop();
    result
}

async fn campaign(
    args: &Args,
    backend: Backend,
    settings: Settings,
    fake: &FakeProcess,
    commits_per_sec: f64,
) -> anyhow::Result<Report> {
    let n = args.cases;
    let app = Application::build(settings).await?;
    let base = format!("http://{}", app.local_addr());
    let state = app.state().clone();
    let stop = CancellationToken::new();
    let server = tokio::spawn(app.run_until_stopped(stop.clone()));
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(60))
        .build()?;
    let r = http
        .post(format!("{base}/v1/tenants"))
        .bearer_auth(ADMIN_TOKEN)
        .json(
            // Real contact details, so every email step renders and goes through the outbox
            // (`DUNNING_EMAIL=log`: logged, not sent).
            &json!({"id": TENANT, "name": "Benchmark", "time_zone": "UTC", "mode": "manage",
            "stripe": {"secret_key": "sk_test_bench_engine", "webhook_secrets": [WHSEC],
                       "api_base": fake.base},
            "support": {"email": "billing@bench.example", "address": "1 Bench Street, Testville"}}),
        )
        .send()
        .await?;
    anyhow::ensure!(
        r.status() == 201,
        "creating the tenant: {}",
        r.text().await?
    );

    // Cases open at 03:00 UTC on a Wednesday, whatever the hour the benchmark runs at: which steps
    // fall at night (moved to the morning) or on a weekend would otherwise change from run to run,
    // and the figures with them. At night the first email waits for the campaign and counts in (c).
    let start = opening_time(state.clock.now());
    let r = http
        .post(format!("{base}/v1/admin/clock"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "to": start }))
        .send()
        .await?;
    anyhow::ensure!(
        r.status().is_success(),
        "setting the clock: {}",
        r.text().await?
    );

    // (o) Open the cases.
    let (rss_before_open_kb, _) = memory_kb("self");
    println!("  (o) opening {n} cases ({DELIVERY_CONCURRENCY} deliveries at a time) ...");
    let t = Instant::now();
    let at = state.clock.now();
    let url = format!("{base}/webhooks/stripe/{TENANT}");
    let failures: usize = futures::stream::iter(0..n)
        .map(|i| {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let (id, cus, sub) = (
                    support::invoice_id(i),
                    support::customer_id(i),
                    support::subscription_id(i),
                );
                let inv = Invoice {
                    id: &id,
                    customer: &cus,
                    subscription: &sub,
                    amount_due: support::AMOUNT,
                    currency: "usd",
                };
                let body = events::payment_failed(&format!("evt_bench{i:07}"), &inv, at);
                let bytes = serde_json::to_vec(&body).expect("JSON");
                let header =
                    signature::sign(&bytes, WHSEC.as_bytes(), chrono::Utc::now().timestamp());
                match http
                    .post(&url)
                    .header("content-type", "application/json")
                    .header(signature::HEADER, header)
                    .body(bytes)
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => 0,
                    Ok(r) => {
                        eprintln!(
                            "delivery {i}: {} {}",
                            r.status(),
                            r.text().await.unwrap_or_default()
                        );
                        1
                    }
                    Err(e) => {
                        eprintln!("delivery {i}: {e}");
                        1
                    }
                }
            }
        })
        .buffer_unordered(DELIVERY_CONCURRENCY)
        .fold(0, |acc, f| async move { acc + f })
        .await;
    let accepted = t.elapsed();
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        let waiting = backlog(&state).await?;
        let open = statuses(&state).await?.get("open").copied().unwrap_or(0);
        if waiting == 0 && open as usize >= n - failures {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "cases not opened: {waiting} events waiting, {open} cases open"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let open_secs = t.elapsed().as_secs_f64();
    let (rss_after_open_kb, _) = memory_kb("self");
    println!(
        "      deliveries accepted in {:.1} s, all processed and open in {open_secs:.1} s; RSS {} MB",
        accepted.as_secs_f64(),
        rss_after_open_kb / 1024
    );

    // (m) Sample memory while the campaign runs.
    let samples = Arc::new(Mutex::new(Vec::new()));
    let sampling = CancellationToken::new();
    let sampler = {
        let (state, samples, sampling, fake_pid) = (
            state.clone(),
            samples.clone(),
            sampling.clone(),
            fake.pid.to_string(),
        );
        tokio::spawn(async move {
            let t0 = Instant::now();
            // RSS is read from /proc ten times a second (free). The closed count is the database's
            // work: each reads the status index and, on PostgreSQL, the heap behind it (once a
            // second, 2-3 % of PostgreSQL's statement time during the campaign), so it is taken
            // every other second. A sample carries the last count taken.
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            let mut closed = 0;
            for n in 0u64.. {
                tokio::select! {
                    _ = sampling.cancelled() => break,
                    _ = tick.tick() => {}
                }
                if n % 20 == 0
                    && let Ok(c) = closed_cases(&state).await
                {
                    closed = c;
                }
                let (rss_kb, _) = memory_kb("self");
                let (fake_rss_kb, _) = memory_kb(&fake_pid);
                samples.lock().unwrap().push(Sample {
                    at: t0.elapsed(),
                    closed,
                    rss_kb,
                    fake_rss_kb,
                });
            }
        })
    };

    // (c) The whole campaign.
    println!("  (c) advancing the clock 30 days (the whole campaign) ...");
    let t = Instant::now();
    let r = http
        .post(format!("{base}/v1/admin/clock"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"advance_seconds": 30 * 86_400}))
        .timeout(Duration::from_secs(7200))
        .send()
        .await?;
    let campaign_secs = t.elapsed().as_secs_f64();
    let status = r.status();
    let text = r.text().await?;
    anyhow::ensure!(status.is_success(), "advancing the clock: {status} {text}");
    // One last sample after the answer, then stop sampling.
    tokio::time::sleep(Duration::from_millis(300)).await;
    sampling.cancel();
    sampler.await?;
    let closed = closed_cases(&state).await?;
    let (rss_kb, hwm_end_kb) = memory_kb("self");
    let mut samples = std::mem::take(&mut *samples.lock().unwrap());
    samples.push(Sample {
        at: t.elapsed(),
        closed,
        rss_kb,
        fake_rss_kb: fake.memory_kb().0,
    });
    let fake_stats = fake.stats().await?;
    let statuses = statuses(&state).await?;
    let messages = message_statuses(&state).await?;
    println!(
        "      done in {campaign_secs:.1} s: {} pay executions, cases {:?}",
        fake_stats.pay_executions, statuses
    );
    let _: Value = serde_json::from_str(&text).unwrap_or(Value::Null);

    stop.cancel();
    tokio::time::timeout(Duration::from_secs(60), server)
        .await
        .context("the service did not stop within 60 s")?
        .context("the service task panicked")??;
    Ok(Report {
        backend,
        cases: n,
        commits_per_sec,
        open_secs,
        delivery_failures: failures,
        campaign_secs,
        fake: fake_stats,
        statuses,
        messages,
        rss_before_open_kb,
        rss_after_open_kb,
        hwm_end_kb,
        samples,
    })
}

fn redact(url: &str) -> String {
    match url.split_once('@') {
        Some((_, host)) if url.starts_with("postgres") => format!("postgres://…@{host}"),
        _ => url.to_string(),
    }
}

fn pass(ok: bool) -> &'static str {
    if ok { "PASS" } else { "FAIL" }
}

fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

fn print_report(r: &Report) {
    let n = r.cases;
    let expected_pays = (0..n)
        .map(|i| support::script(i).len().min(4))
        .sum::<usize>();
    println!("\n=== {}: {n} cases ===", r.backend.name());
    println!(
        "  (b) durable single-row commits      {:>9.0} commits/s",
        r.commits_per_sec
    );
    println!(
        "  (o) cases opened                     {:>9.0} cases/s   ({n} in {:.1} s, {} delivery failures)",
        n as f64 / r.open_secs,
        r.open_secs,
        r.delivery_failures
    );
    println!(
        "  (c) campaign (one clock advance)     {:>9.1} s         {} pay executions (expected {expected_pays}), \
         {} pay requests ({} replayed), {} charges, {} subscription calls, {} Stripe calls in all",
        r.campaign_secs,
        r.fake.pay_executions,
        r.fake.pay_requests,
        r.fake.pay_replayed,
        r.fake.charges,
        r.fake.subscription_requests,
        r.fake.requests_total
    );
    println!("      emails through the outbox: {:?}", r.messages);
    println!(
        "      attempts executed/s              {:>9.1} /s        (c)/(b) = {:.1} %  (target ≥ 25 %)  {}",
        r.attempts_per_sec(),
        r.ratio() * 100.0,
        pass(r.ratio() >= 0.25)
    );
    println!(
        "      Stripe calls/s                   {:>9.1} /s",
        r.fake.requests_total as f64 / r.campaign_secs
    );
    println!(
        "  cases: recovered {} (expected {}), churned {} (expected {}), not closed {}  {}",
        r.count("recovered"),
        (0..n).filter(|i| i % 5 < 4).count(),
        r.count("churned"),
        (0..n).filter(|i| i % 5 == 4).count(),
        r.not_closed(),
        pass(r.not_closed() == 0)
    );
    println!(
        "  (m) RSS before opening {}, after opening {}, peak (VmHWM) at the end {}",
        mb(r.rss_before_open_kb),
        mb(r.rss_after_open_kb),
        mb(r.hwm_end_kb)
    );
    for pct in [25, 50, 75, 100] {
        match r.at_closed(pct) {
            Some(s) => println!(
                "      {pct:>3} % closed ({:>6} cases) at {:>6.1} s: RSS {:>9}   (fake Stripe process {:>9})",
                s.closed,
                s.at.as_secs_f64(),
                mb(s.rss_kb),
                mb(s.fake_rss_kb)
            ),
            None => println!("      {pct:>3} % closed: never reached"),
        }
    }
    // The highest sample of each second: how the process's memory moved through the campaign.
    let trace: Vec<String> = per_second_peaks(r.samples.iter())
        .values()
        .map(|kb| format!("{:.0}", *kb as f64 / 1024.0))
        .collect();
    println!("      peak RSS of each second (MB): {}", trace.join(" "));
    if let Some((before, after)) = r.peaks() {
        println!(
            "      highest sample before half the cases closed {}, after {}: {:+.1} %",
            mb(before),
            mb(after),
            change(before, after) * 100.0
        );
    }
    match (r.typical_peaks(), r.growth()) {
        (Some((before, after)), Some(g)) => println!(
            "      peak RSS of a second (median) before half the cases closed {}, after {} ({} samples): {:+.1} %  (target < 10 %)  {}",
            mb(before),
            mb(after),
            r.samples.len(),
            g * 100.0,
            pass(g < 0.10)
        ),
        _ => {
            println!("      peak RSS before and after half the cases closed: not measurable  FAIL")
        }
    }
}

fn print_summary(reports: &[Report]) {
    println!("\nSummary:");
    println!(
        "  {:<9} {:>6} {:>10} {:>10} {:>10} {:>8} {:>5} {:>10} {:>10} {:>8} {:>5} {:>9} {:>8} {:>6}",
        "backend",
        "cases",
        "commits/s",
        "campaign",
        "attempts/s",
        "(c)/(b)",
        "≥25%",
        "peak<50%",
        "peak≥50%",
        "growth",
        "<10%",
        "recovered",
        "churned",
        "closed"
    );
    for r in reports {
        let peaks = r.typical_peaks();
        let g = r.growth();
        println!(
            "  {:<9} {:>6} {:>10.0} {:>9.1}s {:>10.1} {:>7.1}% {:>5} {:>10} {:>10} {:>8} {:>5} {:>9} {:>8} {:>6}",
            r.backend.name(),
            r.cases,
            r.commits_per_sec,
            r.campaign_secs,
            r.attempts_per_sec(),
            r.ratio() * 100.0,
            pass(r.ratio() >= 0.25),
            peaks.map_or("-".into(), |(a, _)| mb(a)),
            peaks.map_or("-".into(), |(_, b)| mb(b)),
            g.map_or("-".into(), |g| format!("{:+.1}%", g * 100.0)),
            pass(g.is_some_and(|g| g < 0.10)),
            r.count("recovered"),
            r.count("churned"),
            pass(r.not_closed() == 0)
        );
    }
}
