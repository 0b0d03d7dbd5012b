//! apalis edges: a crash between commit and processing is caught by the sweep exactly once, and a task
//! scheduled for later never starts early, on both backends.

use std::time::{Duration, Instant};

use dunning::store::Db;

use crate::both;
use crate::helpers::*;

async fn exec(app: &TestApp, sqlite: &'static str, postgres: &'static str) {
    match &app.store.db {
        Db::Sqlite(p) => sqlx::query(sqlite).execute(p).await.map(|_| ()),
        Db::Postgres(p) => sqlx::query(postgres).execute(p).await.map(|_| ()),
    }
    .unwrap();
}

async fn wait_store_status(app: &TestApp, tenant: &str, status: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let rows = app
            .store
            .list_events(
                tenant,
                &dunning::store::events::EventFilter {
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        if rows.first().is_some_and(|r| r.status == status) {
            return;
        }
        assert!(Instant::now() < deadline, "event not {status}: {rows:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Stores an event with an API-only process (no workers), then "crashes" it; `lose_task` also deletes
/// the queued task, as if the process had died between the commit and the enqueue.
async fn crash_after_commit(b: Backend, lose_task: bool) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    let sink = Sink::default();
    let api = TestApp::spawn_on(&db, &[("role", "api")], sink.clone()).await;
    api.create_tenant("acme", &[WHSEC]).await;
    assert!(
        api.deliver("acme", &event_body("evt_1Qcrash", "invoice.paid"), WHSEC)
            .await
            .status()
            .is_success()
    );
    if lose_task {
        exec(&api, "delete from Jobs", "delete from apalis.jobs").await;
    }
    api.stop().await;
    assert_eq!(sink.count(), 0, "nothing processed before the restart");

    let worker_settings = [
        ("role", "worker"),
        ("sweep_grace_secs", "0"),
        ("sweep_interval_secs", "1"),
    ];
    let worker = TestApp::spawn_on(&db, &worker_settings, sink.clone()).await;
    wait_store_status(&worker, "acme", "processed", Duration::from_secs(20)).await;
    // Several more sweeps pass; none processes the event again.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(sink.count(), 1, "processed exactly once");
    worker.stop().await;
    drop_db(db).await;
}

both!(
    sweep_processes_an_event_whose_task_was_lost_exactly_once,
    |b| async move {
        crash_after_commit(b, true).await;
    }
);

both!(
    sweep_and_surviving_task_together_process_once,
    |b| async move {
        crash_after_commit(b, false).await;
    }
);

both!(
    a_task_scheduled_an_hour_ahead_waits_for_its_time,
    |b| async move {
        // The first processing fails; the retry is scheduled an hour later.
        let overrides = [("process_backoff_secs", "3600")];
        let Some(app) = TestApp::spawn_with(b, &overrides, Sink::failing(1)).await else {
            return;
        };
        let key = app.create_tenant("acme", &[WHSEC]).await;
        app.deliver("acme", &event_body("evt_1Qlater", "invoice.paid"), WHSEC)
            .await;
        let deadline = Instant::now() + Duration::from_secs(20);
        while app.sink.count() < 1 {
            assert!(Instant::now() < deadline);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Workers poll every 50 ms here: 40 polls pass without the task starting.
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(
            app.sink.count(),
            1,
            "the retry must not run before its time"
        );
        let e = app.event(&key, "evt_1Qlater").await.unwrap();
        assert_eq!(e["status"], "received");
        let next =
            chrono::DateTime::parse_from_rfc3339(e["next_attempt_at"].as_str().unwrap()).unwrap();
        assert!(next.signed_duration_since(chrono::Utc::now()) > chrono::Duration::minutes(59));
        // The clock reaches it: move the task's time to now, and it runs promptly.
        exec(
            &app,
            "update Jobs set run_at = unixepoch() where status = 'Pending'",
            "update apalis.jobs set run_at = now() where status = 'Pending'",
        )
        .await;
        app.wait_status(&key, "evt_1Qlater", "processed", Duration::from_secs(5))
            .await;
        assert_eq!(app.sink.count(), 2);
        app.stop().await;
    }
);

both!(
    a_task_scheduled_seconds_ahead_starts_on_time_never_early,
    |b| async move {
        let overrides = [("process_backoff_secs", "2")];
        let Some(app) = TestApp::spawn_with(b, &overrides, Sink::failing(1)).await else {
            return;
        };
        let key = app.create_tenant("acme", &[WHSEC]).await;
        app.deliver("acme", &event_body("evt_1Qsoon", "invoice.paid"), WHSEC)
            .await;
        app.wait_status(&key, "evt_1Qsoon", "processed", Duration::from_secs(20))
            .await;
        let e = app.event(&key, "evt_1Qsoon").await.unwrap();
        let times = app.sink.times();
        assert_eq!(times.len(), 2);
        let waited = times[1] - times[0];
        assert!(
            waited >= chrono::Duration::seconds(2),
            "started early: {waited:?}"
        );
        // Whole-second scheduling plus polling: well within a second past due, with slack for a busy machine.
        assert!(
            waited < chrono::Duration::milliseconds(4500),
            "started late: {waited:?} ({e})"
        );
        app.stop().await;
    }
);
