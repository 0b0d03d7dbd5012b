//! apalis workers in the same process as the HTTP server, their health for `/readyz`, and the sweep.
//! apalis 1.0 edges handled here: polling is configured (no 30 s pickup), LISTEN/NOTIFY on PostgreSQL,
//! worker names unique per start, dead workers restarted and reported, backoff done by us.

use std::collections::BTreeMap;
use std::sync::Mutex;

use apalis::prelude::*;
use apalis_core::backend::ext::poll_strategy::Strategy;
use apalis_core::worker::ext::parallelize::ParallelizeExt;
use serde::Serialize;

use crate::app::AppState;
use crate::store::Db;
use crate::store::cases::{ExecuteWork, WORK_QUEUE};
use crate::store::events::{PROCESS_EVENT_QUEUE, ProcessEvent};

mod notify;
pub mod process_event;
pub mod purge;
pub mod scheduler;
pub mod sweep;

/// Liveness of each logical worker, fed by the monitor's events.
#[derive(Debug, Default)]
pub struct WorkerHealth {
    workers: Mutex<BTreeMap<String, WorkerStatus>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WorkerStatus {
    pub name: String,
    pub alive: bool,
    pub restarts: usize,
    pub last_error: Option<String>,
}

impl WorkerHealth {
    pub fn register(&self, name: &str) {
        let mut w = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        w.entry(name.to_string()).or_insert(WorkerStatus {
            name: name.to_string(),
            alive: false,
            restarts: 0,
            last_error: None,
        });
    }

    fn update(&self, name: &str, f: impl FnOnce(&mut WorkerStatus)) {
        let mut w = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = w.get_mut(name) {
            f(s);
        }
    }

    pub fn set_alive(&self, name: &str, alive: bool) {
        self.update(name, |s| s.alive = alive);
    }

    pub fn snapshot(&self) -> Vec<WorkerStatus> {
        self.workers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }
}

/// Logical worker name: the unique per-start names are `{LOGICAL}-{instance}-{restarts}`.
pub const PROCESS_EVENT_WORKER: &str = "process-event";
pub const EXECUTE_WORK_WORKER: &str = "execute-work";

fn logical(worker_name: &str) -> &str {
    worker_name
        .split_once('@')
        .map(|(l, _)| l)
        .unwrap_or(worker_name)
}

/// Registers one worker on the monitor for the store's backend. A macro because apalis has no
/// type-erased backend: each arm names its concrete storage type.
macro_rules! register {
    ($monitor:expr, $state:expr, $w:expr, $logical:expr, $queue:expr, $job:ty, $handler:path) => {{
        let w = $w.clone();
        let data = $state.clone();
        $state.health.register($logical);
        let name = move |restarts: usize| format!("{}@{}-{restarts}", $logical, w.instance);
        match &$state.store.db {
            Db::Sqlite(pool) => {
                let pool = pool.clone();
                let store = $state.store.clone();
                let config = apalis_sqlite::Config::default()
                    .queue($queue)
                    .heartbeat_interval(w.heartbeat)
                    .missed_heartbeats(w.missed);
                $monitor.register(move |restarts| {
                    // Tasks pushed by this process wake the worker at once; polling covers the rest
                    // (scheduled tasks, other processes).
                    let strategy = Strategy::new()
                        .stream(store.local_task_signals())
                        .interval(w.poll);
                    let backend = apalis_sqlite::SqliteStorage::<$job>::new(&pool)
                        .with_config(config.clone())
                        .poll_with_strategy(strategy);
                    WorkerBuilder::new(name(restarts))
                        .backend(backend)
                        .data(data.clone())
                        // Each task on its own tokio task: otherwise every handler is polled inside
                        // the worker's future, on one thread, whatever the concurrency.
                        .parallelize(tokio::spawn)
                        .catch_panic()
                        .concurrency(w.concurrency)
                        .build($handler)
                })
            }
            Db::Postgres(pool) => {
                let pool = pool.clone();
                let config = apalis_postgres::Config::default()
                    .queue($queue)
                    .heartbeat_interval(w.heartbeat)
                    .missed_heartbeats(w.missed);
                $monitor.register(move |restarts| {
                    // NOTIFY fires only for tasks already due; polling covers scheduled ones. The two go
                    // into one strategy: stacking `poll_with_interval` on `with_pubsub()` never polls.
                    let strategy = Strategy::new()
                        .stream(notify::new_task_signals(pool.clone()))
                        .interval(w.poll);
                    let backend = apalis_postgres::PostgresStorage::<$job>::new(&pool)
                        .with_config(config.clone())
                        .poll_with_strategy(strategy);
                    WorkerBuilder::new(name(restarts))
                        .backend(backend)
                        .data(data.clone())
                        // Each task on its own tokio task: otherwise every handler is polled inside
                        // the worker's future, on one thread, whatever the concurrency.
                        .parallelize(tokio::spawn)
                        .catch_panic()
                        .concurrency(w.concurrency)
                        .build($handler)
                })
            }
        }
    }};
}

/// Builds the monitor with every worker this process runs.
pub fn monitor(state: &AppState) -> Monitor {
    let health = state.health.clone();
    let on_event_health = health.clone();
    let restart_health = health.clone();
    let settings = state.settings.clone();
    let instance = state.instance_id.clone();
    let base = Monitor::new()
        .shutdown_timeout(settings.shutdown_timeout)
        .on_event(move |ctx, ev| {
            let name = logical(ctx.name()).to_string();
            match ev {
                Event::Start => on_event_health.set_alive(&name, true),
                Event::Stop | Event::Exit => on_event_health.set_alive(&name, false),
                Event::Error(e) => {
                    tracing::warn!(worker = %ctx.name(), error = %e, "worker error");
                    on_event_health.update(&name, |s| s.last_error = Some(e.to_string()));
                }
                _ => {}
            }
        })
        // A worker whose backend hits a database error stops silently: log it, mark it, restart it.
        .should_restart(move |ctx, err| {
            let name = logical(ctx.name()).to_string();
            tracing::error!(worker = %ctx.name(), error = %err, "worker stopped; restarting");
            restart_health.update(&name, |s| {
                s.alive = false;
                s.restarts += 1;
                s.last_error = Some(err.to_string());
            });
            true
        });
    let poll = settings.queue_poll;
    let concurrency = settings.worker_concurrency;
    // apalis 1.0 can lose the wake-up of an idle worker (seen on PostgreSQL: polling stops until the
    // next heartbeat), so the heartbeat is short and bounds any stall; orphaned tasks come back after
    // heartbeat × missed heartbeats, which we make the configured orphan timeout.
    let heartbeat = std::time::Duration::from_secs(1);
    let missed = settings.orphan_timeout.as_secs().max(2) as usize;
    let w = WorkerSetup {
        poll,
        concurrency,
        heartbeat,
        missed,
        instance,
    };
    let base = register!(
        base,
        state,
        w,
        PROCESS_EVENT_WORKER,
        PROCESS_EVENT_QUEUE,
        ProcessEvent,
        process_event::run
    );
    let w = WorkerSetup {
        concurrency: work_batches(settings.work_concurrency),
        ..w
    };
    register!(
        base,
        state,
        w,
        EXECUTE_WORK_WORKER,
        WORK_QUEUE,
        ExecuteWork,
        execute_work
    )
}

/// What every worker is built with.
#[derive(Clone)]
struct WorkerSetup {
    poll: std::time::Duration,
    concurrency: usize,
    heartbeat: std::time::Duration,
    missed: usize,
    instance: std::sync::Arc<str>,
}

/// Batches of case work in flight: each batch's rows share the `work_concurrency` slots, so a few
/// batches keep them busy while one waits on its slowest call.
pub fn work_batches(work_concurrency: usize) -> usize {
    (work_concurrency / 2).clamp(2, 8)
}

/// The apalis handler for scheduled case work (charges, timers, end actions), a batch at a time.
async fn execute_work(job: ExecuteWork, state: Data<AppState>) -> Result<(), BoxDynError> {
    match crate::engine::work::execute_batch(&state, &job.work_ids).await {
        Ok(()) => {
            state.store.batch_done(&job.work_ids);
            Ok(())
        }
        // Nothing could be committed (the database is in trouble): claimed rows go back to pending
        // a little later; rows not claimed stay pending, and this process pushes them again only
        // after `PUSHED_TTL`, so a failing database is not asked again at every pass.
        Err(e) => {
            tracing::warn!(work = ?job.work_ids, error = %e, "case work failed");
            let now = state.clock.now();
            for id in &job.work_ids {
                state
                    .store
                    .release_work(id, now + chrono::Duration::seconds(30), now)
                    .await?;
            }
            Ok(())
        }
    }
}
