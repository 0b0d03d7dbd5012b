//! Durability settings reach every pooled connection, on both backends.

use dunning::store::{Db, Store};

use crate::both;
use crate::helpers::*;

both!(durability_is_set_on_every_connection, |b| async move {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    let store = Store::connect(&db.url, 4).await.unwrap();
    store.migrate().await.unwrap();
    match &store.db {
        Db::Sqlite(pool) => {
            // Hold four connections at once so each is a distinct one.
            let mut conns = Vec::new();
            for _ in 0..4 {
                conns.push(pool.acquire().await.unwrap());
            }
            for c in conns.iter_mut() {
                let (sync,): (i64,) = sqlx::query_as("pragma synchronous")
                    .fetch_one(&mut **c)
                    .await
                    .unwrap();
                let (fk,): (i64,) = sqlx::query_as("pragma foreign_keys")
                    .fetch_one(&mut **c)
                    .await
                    .unwrap();
                let (mode,): (String,) = sqlx::query_as("pragma journal_mode")
                    .fetch_one(&mut **c)
                    .await
                    .unwrap();
                let (busy,): (i64,) = sqlx::query_as("pragma busy_timeout")
                    .fetch_one(&mut **c)
                    .await
                    .unwrap();
                assert_eq!(sync, 2, "synchronous=FULL");
                assert_eq!(fk, 1);
                assert_eq!(mode, "wal");
                assert!(busy >= 1000);
            }
            drop(conns);
            // apalis's tables are there, and its migrations did not lower durability.
            let (n,): (i64,) = sqlx::query_as("select count(*) from Jobs")
                .fetch_one(pool)
                .await
                .unwrap();
            assert_eq!(n, 0);
        }
        Db::Postgres(pool) => {
            let mut conns = Vec::new();
            for _ in 0..4 {
                conns.push(pool.acquire().await.unwrap());
            }
            for c in conns.iter_mut() {
                let (v,): (String,) = sqlx::query_as("show synchronous_commit")
                    .fetch_one(&mut **c)
                    .await
                    .unwrap();
                assert_eq!(v, "on");
            }
            drop(conns);
            let (n,): (i64,) = sqlx::query_as("select count(*) from apalis.jobs")
                .fetch_one(pool)
                .await
                .unwrap();
            assert_eq!(n, 0);
        }
    }
    // Migrating again is a no-op (the app's and apalis's migrations share SQLite's table).
    store.migrate().await.unwrap();
    store.close().await;
    drop_db(db).await;
});

both!(
    an_outbox_message_is_sent_at_most_once_even_after_a_crash_mid_send,
    |b| async move {
        use dunning::store::messages::{Claim, NewMessage};
        let Some(db) = TestDb::new(b).await else {
            return;
        };
        let store = Store::connect(&db.url, 4).await.unwrap();
        store.migrate().await.unwrap();
        let now = chrono::Utc::now();
        let mut tenant = dunning::tenants::new_row(now, "key_outbox_test_0001");
        tenant.id = "acme".into();
        tenant.name = "Acme".into();
        store.insert_tenant(&tenant).await.unwrap();
        let message = |id: &str| NewMessage {
            id: id.into(),
            tenant_id: "acme".into(),
            case_id: "case_1".into(),
            customer_id: "cus_1".into(),
            kind: "failed".into(),
            to_address: "jenny@example.com".into(),
            locale: "en".into(),
            subject: "Your payment didn't go through".into(),
            body_text: "…".into(),
            body_html: "<p>…</p>".into(),
            transport: "smtp".into(),
            cap: None,
        };
        // Claimed, then the process dies before recording the outcome: it may have gone out, so
        // no later run sends it again.
        let crashed = message("case_1/step/0");
        assert_eq!(
            store.claim_message(&crashed, now).await.unwrap(),
            Claim::Send
        );
        for _ in 0..2 {
            assert_eq!(
                store.claim_message(&crashed, now).await.unwrap(),
                Claim::Settled("unknown".into())
            );
        }
        // A deferral is tried again, once sent never again, and counted for the touch cap.
        let deferred = message("case_1/step/1");
        assert_eq!(
            store.claim_message(&deferred, now).await.unwrap(),
            Claim::Send
        );
        store
            .finish_message(&deferred.id, "retry", Some("451 try later"), now)
            .await
            .unwrap();
        assert_eq!(
            store.claim_message(&deferred, now).await.unwrap(),
            Claim::Resend
        );
        store
            .finish_message(&deferred.id, "sent", None, now)
            .await
            .unwrap();
        assert_eq!(
            store.claim_message(&deferred, now).await.unwrap(),
            Claim::Settled("sent".into())
        );
        let since = now - chrono::Duration::days(7);
        assert_eq!(
            store
                .messages_sent_to("acme", "cus_1", since)
                .await
                .unwrap(),
            1
        );
        // A refusal for good blocks the address.
        assert!(
            !store
                .address_refused("acme", "jenny@example.com")
                .await
                .unwrap()
        );
        let refused = message("case_1/step/2");
        store.claim_message(&refused, now).await.unwrap();
        store
            .finish_message(&refused.id, "failed", Some("550 no such mailbox"), now)
            .await
            .unwrap();
        assert!(
            store
                .address_refused("acme", "jenny@example.com")
                .await
                .unwrap()
        );
        let kept: Vec<String> = store
            .messages_of_case("case_1")
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.status)
            .collect();
        assert_eq!(kept, ["unknown", "sent", "failed"]);
        store.close().await;
        drop_db(db).await;
    }
);

/// How many times apalis's task table has been vacuumed.
const VACUUMS: &str =
    "select vacuum_count from pg_stat_user_tables where schemaname = 'apalis' and relname = 'jobs'";

both!(
    the_purge_vacuums_the_task_table_on_postgresql,
    |b| async move {
        let Some(db) = TestDb::new(b).await else {
            return;
        };
        let store = Store::connect(&db.url, 2).await.unwrap();
        store.migrate().await.unwrap();
        let vacuums = || async {
            match &store.db {
                Db::Sqlite(_) => 0,
                Db::Postgres(pool) => {
                    let (n,): (i64,) = sqlx::query_as(VACUUMS).fetch_one(pool).await.unwrap();
                    n
                }
            }
        };
        let before = vacuums().await;
        // The role that ran the migrations owns the table, so it may vacuum it (SQLite needs none).
        assert!(store.vacuum_task_table().await.unwrap());
        if let Db::Postgres(_) = &store.db {
            assert_eq!(vacuums().await, before + 1, "one vacuum of apalis.jobs");
        }
        store.close().await;
        drop_db(db).await;
    }
);
