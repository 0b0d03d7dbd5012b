//! Webhook-inbox benchmark: how close the full inbox (verify, store once, enqueue, answer) comes to the
//! limits of this machine, measured in the same run at the same concurrency:
//!
//!  (a) a bare axum handler that only verifies the Stripe signature, over real HTTP: requests/s;
//!  (b) the durable-commit limit: single-row webhook-sized inserts with the service's durability: commits/s;
//!  (c) the real service, one tenant, unique signed deliveries from N clients: deliveries/s, p50/p99;
//!  (d) the real service at a fixed 200 deliveries/s, open loop: p50/p99/max from the scheduled send time.
//!
//! Targets: (c)/(b) ≥ 50 %, and (d) p99 < 25 ms. It is a measurement: it exits 0 whatever the numbers,
//! and non-zero only if something failed (including stored events ≠ 2xx answers).
//!
//! `cargo run --release --bin bench_inbox -- --backend both --concurrency 16 --seconds 10`

use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};

#[path = "bench_inbox/load.rs"]
mod load;
#[path = "bench_inbox/targets.rs"]
mod targets;

use load::{Deliverer, Stats, closed_loop, open_loop};
use targets::{Backend, BenchDb, CommitKind, RunningApp, app_settings, commit_limit, start_bare};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Which {
    Sqlite,
    Postgres,
    Both,
}

#[derive(Debug, Parser)]
#[command(about = "Measure the webhook inbox against the bare-handler and durable-commit limits")]
struct Args {
    #[arg(long, value_enum, default_value = "both")]
    backend: Which,
    /// Concurrent clients for (a), (b) and (c).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Measured seconds per phase (after the warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Warm-up seconds before each measured phase.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Deliveries per second for the open-loop phase (d).
    #[arg(long, default_value_t = 200)]
    rate: u32,
    /// Administrative PostgreSQL URL; a fresh database `dunning_bench_<random>` is created beside it.
    #[arg(
        long,
        env = "DUNNING_BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres_url: String,
    /// Extra `key=value` service settings (as in dunning.toml), e.g. `--set db_max_connections=4`.
    #[arg(long = "set", value_parser = parse_kv)]
    set: Vec<(String, String)>,
    /// Also measure the inbox transaction alone (e) and the tenant lookup + decrypt (f).
    #[arg(long)]
    diagnose: bool,
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .ok_or_else(|| format!("expected key=value, got {s:?}"))
}

struct Report {
    backend: Backend,
    bare: Stats,
    commit: Stats,
    inbox: Stats,
    fixed: Stats,
    stored: i64,
    answered_2xx: usize,
    backlog: i64,
    /// Events (c) left for the worker, and how long they took to drain before (d).
    backlog_after_c: i64,
    drained_in: Duration,
    /// Events still queued when (d) started (0 unless the drain gave up).
    backlog_at_d: i64,
    insert_event: Option<Stats>,
    tenant_lookup: Option<Stats>,
    commit_variants: Vec<(CommitKind, Stats)>,
}

impl Report {
    fn ratio(&self) -> f64 {
        if self.commit.per_sec > 0.0 {
            self.inbox.per_sec / self.commit.per_sec
        } else {
            0.0
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match run(&args).await {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

/// Ok(false) when a run completed but stored events did not match the 2xx answers.
async fn run(args: &Args) -> anyhow::Result<bool> {
    let backends = match args.backend {
        Which::Sqlite => vec![Backend::Sqlite],
        Which::Postgres => vec![Backend::Postgres],
        Which::Both => vec![Backend::Sqlite, Backend::Postgres],
    };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let defaults = app_settings("sqlite://unused.db", &args.set)?;
    println!(
        "bench_inbox: {cores} cores available; one process runs load, server and (SQLite) database"
    );
    println!(
        "  concurrency {} | warm-up {} s + {} s measured per phase | open loop {} deliveries/s",
        args.concurrency, args.warmup, args.seconds, args.rate
    );
    println!(
        "  service: db_max_connections {}, worker_concurrency {}, queue_poll {} ms, role {:?}; body {} bytes \
         (fixtures/stripe/invoice.payment_failed.json, fresh id per request, re-signed per request)",
        defaults.db_max_connections,
        defaults.worker_concurrency,
        defaults.queue_poll.as_millis(),
        defaults.role,
        load::Bodies::new().size()
    );
    if !args.set.is_empty() {
        println!("  overrides: {:?}", args.set);
    }
    let mut reports = Vec::new();
    for backend in backends {
        let db = BenchDb::create(backend, &args.postgres_url).await?;
        let result = run_backend(args, backend, &db.url).await;
        db.remove().await?;
        let report = result?;
        print_report(args, &report);
        reports.push(report);
    }
    print_summary(args, &reports);
    Ok(reports.iter().all(|r| r.stored == r.answered_2xx as i64))
}

async fn run_backend(args: &Args, backend: Backend, url: &str) -> anyhow::Result<Report> {
    let warmup = Duration::from_secs(args.warmup);
    let measure = Duration::from_secs(args.seconds);
    let n = args.concurrency;
    println!("\n[{}] {}", backend.name(), redact(url));

    println!("  (a) bare verify handler ...");
    let (bare_url, bare_stop) = start_bare().await?;
    let d = Arc::new(Deliverer::new(
        format!("{bare_url}/webhooks/stripe/{}", targets::TENANT),
        targets::WHSEC,
    ));
    let bare = closed_loop(n, warmup, measure, move || {
        let d = d.clone();
        async move { d.send().await }
    })
    .await;
    bare_stop.cancel();

    println!("  (b) durable commits ...");
    let settings = app_settings(url, &args.set)?;
    let commit = commit_limit(
        url,
        settings.db_max_connections,
        n,
        warmup,
        measure,
        CommitKind::Plain,
    )
    .await?;
    let mut variants = Vec::new();
    if args.diagnose {
        let mut kinds = vec![CommitKind::TwoRows];
        if backend == Backend::Postgres {
            kinds.push(CommitKind::Notify);
        }
        for kind in kinds {
            println!("  (b) variant {kind:?} ...");
            let pool = settings.db_max_connections;
            variants.push((
                kind,
                commit_limit(url, pool, n, warmup, measure, kind).await?,
            ));
        }
    }

    println!("  (c) full inbox, closed loop ...");
    let app = RunningApp::start(settings).await?;
    let d = Arc::new(Deliverer::new(app.webhook_url(), targets::WHSEC));
    let inbox = {
        let d = d.clone();
        closed_loop(n, warmup, measure, move || {
            let d = d.clone();
            async move { d.send().await }
        })
        .await
    };

    println!("  (d) full inbox, open loop at {}/s ...", args.rate);
    // Let the worker drain what (c) left behind: (d) measures the inbox at a steady rate, not a backlog.
    let backlog_after_c = app.backlog().await?;
    let t = tokio::time::Instant::now();
    if app.state.settings.role != dunning::config::Role::Api {
        // Processing runs at a few hundred events/s on 2 cores; (c) leaves tens of thousands.
        drain(&app, Duration::from_secs(300)).await?;
    }
    let drained_in = t.elapsed();
    let backlog_at_d = app.backlog().await?;
    let fixed = open_loop(d, args.rate, Duration::from_secs(1), measure).await;

    let (mut insert_event, mut tenant_lookup) = (None, None);
    if args.diagnose {
        println!("  (e) Store::insert_event alone ...");
        drain(&app, Duration::from_secs(60)).await?;
        insert_event = Some(targets::diagnose::insert_event(&app, n, warmup, measure).await);
        println!("  (f) tenant lookup + decrypt alone ...");
        tenant_lookup = Some(targets::diagnose::tenant_lookup(&app, n, warmup, measure).await);
    }

    let stored = app.state.store.count_events().await?;
    let backlog = app.backlog().await?;
    app.stop().await?;
    let answered_2xx =
        inbox.total_2xx + fixed.total_2xx + insert_event.as_ref().map_or(0, |s| s.total_2xx);
    Ok(Report {
        backend,
        bare,
        commit,
        inbox,
        fixed,
        stored,
        answered_2xx,
        backlog,
        backlog_after_c,
        drained_in,
        backlog_at_d,
        insert_event,
        tenant_lookup,
        commit_variants: variants,
    })
}

/// Waits (up to `limit`) until no event is waiting for the worker.
async fn drain(app: &RunningApp, limit: Duration) -> anyhow::Result<()> {
    let until = tokio::time::Instant::now() + limit;
    while app.backlog().await? > 0 && tokio::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

fn redact(url: &str) -> String {
    match url.split_once('@') {
        Some((_, host)) if url.starts_with("postgres") => format!("postgres://…@{host}"),
        _ => url.to_string(),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn pass(ok: bool) -> &'static str {
    if ok { "PASS" } else { "FAIL" }
}

fn errors(s: &Stats) -> String {
    if s.total_errors == 0 && s.non_201 == 0 {
        "0 errors".to_string()
    } else {
        format!(
            "{} errors in window, {} in run {:?}, {} non-201 2xx",
            s.errors, s.total_errors, s.error_kinds, s.non_201
        )
    }
}

fn print_report(args: &Args, r: &Report) {
    let name = r.backend.name();
    println!(
        "\n=== {name}: concurrency {}, {} s measured ===",
        args.concurrency, args.seconds
    );
    println!(
        "  (a) bare verify handler (HTTP)  {:>9.0} req/s      p50 {:>8}  p99 {:>8}  {}",
        r.bare.per_sec,
        ms(r.bare.p50),
        ms(r.bare.p99),
        errors(&r.bare)
    );
    println!(
        "  (b) durable single-row commits  {:>9.0} commits/s  p50 {:>8}  p99 {:>8}  {}",
        r.commit.per_sec,
        ms(r.commit.p50),
        ms(r.commit.p99),
        errors(&r.commit)
    );
    println!(
        "  (c) full inbox, closed loop     {:>9.0} deliv/s    p50 {:>8}  p99 {:>8}  {}",
        r.inbox.per_sec,
        ms(r.inbox.p50),
        ms(r.inbox.p99),
        errors(&r.inbox)
    );
    println!(
        "      (c)/(b) = {:.1} %  (target ≥ 50 %)  {};  (c)/(a) = {:.1} %",
        r.ratio() * 100.0,
        pass(r.ratio() >= 0.5),
        if r.bare.per_sec > 0.0 {
            r.inbox.per_sec / r.bare.per_sec * 100.0
        } else {
            0.0
        }
    );
    println!(
        "  (d) open loop {:>4}/s, {} sent   p50 {:>8}  p99 {:>8}  max {:>8}  {}  (target p99 < 25 ms)  {}",
        args.rate,
        r.fixed.measured,
        ms(r.fixed.p50),
        ms(r.fixed.p99),
        ms(r.fixed.max),
        errors(&r.fixed),
        pass(r.fixed.p99 < Duration::from_millis(25) && r.fixed.errors == 0)
    );
    for (kind, v) in &r.commit_variants {
        println!(
            "      (b) variant {:<8} {:>14.0} commits/s  p50 {:>8}  p99 {:>8}  {}",
            format!("{kind:?}"),
            v.per_sec,
            ms(v.p50),
            ms(v.p99),
            errors(v)
        );
    }
    if let Some(e) = &r.insert_event {
        println!(
            "  (e) Store::insert_event alone   {:>9.0} events/s   p50 {:>8}  p99 {:>8}  {}",
            e.per_sec,
            ms(e.p50),
            ms(e.p99),
            errors(e)
        );
    }
    if let Some(f) = &r.tenant_lookup {
        println!(
            "  (f) tenant lookup + decrypt     {:>9.0} lookups/s  p50 {:>8}  p99 {:>8}  {}",
            f.per_sec,
            ms(f.p50),
            ms(f.p99),
            errors(f)
        );
    }
    println!(
        "  worker backlog after (c): {} events, drained in {:.1} s before (d) ({} left when (d) started)",
        r.backlog_after_c,
        r.drained_in.as_secs_f64(),
        r.backlog_at_d
    );
    println!(
        "  stored events {} vs 2xx answers {} (warm-ups included): {}; worker backlog at the end: {}",
        r.stored,
        r.answered_2xx,
        if r.stored == r.answered_2xx as i64 {
            "OK"
        } else {
            "MISMATCH"
        },
        r.backlog
    );
}

fn print_summary(args: &Args, reports: &[Report]) {
    println!(
        "\nSummary (concurrency {}, {} s per phase):",
        args.concurrency, args.seconds
    );
    println!(
        "  {:<9} {:>10} {:>11} {:>10} {:>9} {:>9} {:>8} {:>6} {:>9} {:>9} {:>9} {:>6}",
        "backend",
        "(a) req/s",
        "(b) comm/s",
        "(c) del/s",
        "(c) p50",
        "(c) p99",
        "(c)/(b)",
        "≥50%",
        "(d) p50",
        "(d) p99",
        "(d) max",
        "<25ms"
    );
    for r in reports {
        println!(
            "  {:<9} {:>10.0} {:>11.0} {:>10.0} {:>9} {:>9} {:>7.1}% {:>6} {:>9} {:>9} {:>9} {:>6}",
            r.backend.name(),
            r.bare.per_sec,
            r.commit.per_sec,
            r.inbox.per_sec,
            ms(r.inbox.p50),
            ms(r.inbox.p99),
            r.ratio() * 100.0,
            pass(r.ratio() >= 0.5),
            ms(r.fixed.p50),
            ms(r.fixed.p99),
            ms(r.fixed.max),
            pass(r.fixed.p99 < Duration::from_millis(25) && r.fixed.errors == 0)
        );
    }
}
