//! The outbox's memory of its recipients: addresses refused for good (per tenant), and the weekly
//! touch cap's count, exact for messages sent long after they were created, on both backends and
//! across the migration that moved them off the indexes a send changes.

use chrono::{DateTime, Duration, Utc};
use dunning::store::messages::{Claim, NewMessage, TouchCap};
use dunning::store::{Db, Store};

use crate::both;
use crate::helpers::*;

/// The migration that gave refused addresses their own table and re-indexed the touch cap.
const HOT_UPDATES: i64 = 20261124000020;

async fn tenant(store: &Store, id: &str, key: &str) {
    let mut t = dunning::tenants::new_row(Utc::now(), key);
    t.id = id.into();
    t.name = id.into();
    store.insert_tenant(&t).await.unwrap();
}

fn message(tenant: &str, id: &str, to: &str) -> NewMessage {
    NewMessage {
        id: id.into(),
        tenant_id: tenant.into(),
        case_id: "case_1".into(),
        customer_id: "cus_1".into(),
        kind: "failed".into(),
        to_address: to.into(),
        locale: "en".into(),
        subject: "Your payment didn't go through".into(),
        body_text: "…".into(),
        body_html: "<p>…</p>".into(),
        transport: "smtp".into(),
        cap: None,
    }
}

/// Claimed and sent at `at`.
async fn sent(store: &Store, m: &NewMessage, at: DateTime<Utc>) {
    assert_eq!(store.claim_message(m, at).await.unwrap(), Claim::Send);
    store.finish_message(&m.id, "sent", None, at).await.unwrap();
}

/// A reminder to customer `cus_1` under a cap of `limit` in the 7 days before `now`.
fn capped(id: &str, now: DateTime<Utc>, limit: i64) -> NewMessage {
    let mut m = message("acme", id, "jenny@example.com");
    m.cap = Some(TouchCap {
        since: now - Duration::days(7),
        limit,
    });
    m
}

both!(
    a_message_sent_long_after_its_creation_counts_toward_the_cap,
    |b| async move {
        let Some(db) = TestDb::new(b).await else {
            return;
        };
        let store = Store::connect(&db.url, 4).await.unwrap();
        store.migrate().await.unwrap();
        tenant(&store, "acme", "key_outbox_test_0002").await;
        let now = Utc::now();
        // Created ten days ago, deferred by its transport ever since, sent now.
        let late = message("acme", "case_1/step/0", "jenny@example.com");
        let created = now - Duration::days(10);
        assert_eq!(
            store.claim_message(&late, created).await.unwrap(),
            Claim::Send
        );
        store
            .finish_message(&late.id, "retry", Some("451 try later"), created)
            .await
            .unwrap();
        assert_eq!(
            store.claim_message(&late, now).await.unwrap(),
            Claim::Resend
        );
        store
            .finish_message(&late.id, "sent", None, now)
            .await
            .unwrap();
        // Sent three days ago, within seconds of its creation; and one sent before the window.
        sent(
            &store,
            &message("acme", "case_1/step/1", "jenny@example.com"),
            now - Duration::days(3),
        )
        .await;
        sent(
            &store,
            &message("acme", "case_1/step/2", "jenny@example.com"),
            now - Duration::days(8),
        )
        .await;
        let since = now - Duration::days(7);
        assert_eq!(
            store
                .messages_sent_to("acme", "cus_1", since)
                .await
                .unwrap(),
            2
        );
        // The claim's own count (under its lock) sees the same two, and a message on its way.
        let pending = message("acme", "case_1/step/3", "jenny@example.com");
        assert_eq!(
            store.claim_message(&pending, now).await.unwrap(),
            Claim::Send
        );
        assert_eq!(
            store
                .claim_message(&capped("case_1/step/4", now, 3), now)
                .await
                .unwrap(),
            Claim::Capped(3)
        );
        assert_eq!(
            store
                .claim_message(&capped("case_1/step/5", now, 4), now)
                .await
                .unwrap(),
            Claim::Send
        );
        store.close().await;
        drop_db(db).await;
    }
);

both!(
    a_failure_for_good_or_a_bounce_refuses_the_address_for_its_tenant,
    |b| async move {
        let Some(db) = TestDb::new(b).await else {
            return;
        };
        let store = Store::connect(&db.url, 4).await.unwrap();
        store.migrate().await.unwrap();
        tenant(&store, "acme", "key_outbox_test_0003").await;
        tenant(&store, "globex", "key_outbox_test_0004").await;
        let now = Utc::now();
        let refused = |t: &'static str, a: &'static str| {
            let store = &store;
            async move { store.address_refused(t, a).await.unwrap() }
        };
        let failed = message("acme", "case_1/step/0", "gone@example.com");
        store.claim_message(&failed, now).await.unwrap();
        store
            .finish_message(&failed.id, "failed", Some("550 no such mailbox"), now)
            .await
            .unwrap();
        assert!(refused("acme", "gone@example.com").await);
        // Another tenant's customer at the same address is not refused.
        assert!(!refused("globex", "gone@example.com").await);
        // A second refusal of the same address is no error.
        let again = message("acme", "case_1/step/1", "gone@example.com");
        store.claim_message(&again, now).await.unwrap();
        store
            .finish_message(&again.id, "failed", Some("550 still gone"), now)
            .await
            .unwrap();
        // A message accepted, then bounced.
        let bounced = message("acme", "case_1/step/2", "full@example.com");
        sent(&store, &bounced, now).await;
        assert!(!refused("acme", "full@example.com").await);
        store
            .mark_message_refused(&bounced.id, "the recipient's side: bounced", now)
            .await
            .unwrap();
        assert!(refused("acme", "full@example.com").await);
        let r = store
            .recipients(
                "acme",
                &[],
                &[
                    "gone@example.com".into(),
                    "full@example.com".into(),
                    "ok@example.com".into(),
                ],
                now,
            )
            .await
            .unwrap();
        let mut got: Vec<&String> = r.refused.iter().collect();
        got.sort();
        assert_eq!(got, ["full@example.com", "gone@example.com"]);
        store.close().await;
        drop_db(db).await;
    }
);

/// Runs SQL with no parameters on either backend.
async fn exec(store: &Store, sql: &str) {
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    match &store.db {
        Db::Sqlite(pool) => drop(sqlx::query(sql).execute(pool).await.unwrap()),
        Db::Postgres(pool) => drop(sqlx::query(sql).execute(pool).await.unwrap()),
    }
}

both!(
    the_migration_keeps_refused_addresses_and_late_sends,
    |b| async move {
        let Some(db) = TestDb::new(b).await else {
            return;
        };
        let store = Store::connect(&db.url, 4).await.unwrap();
        let mut before = match &store.db {
            Db::Sqlite(_) => sqlx::migrate!("./migrations/sqlite"),
            Db::Postgres(_) => sqlx::migrate!("./migrations/postgres"),
        };
        before.migrations = before
            .migrations
            .iter()
            .filter(|m| m.version < HOT_UPDATES)
            .cloned()
            .collect::<Vec<_>>()
            .into();
        match &store.db {
            Db::Sqlite(pool) => before.run(pool).await.unwrap(),
            Db::Postgres(pool) => before.run(pool).await.unwrap(),
        }
        tenant(&store, "acme", "key_outbox_test_0005").await;
        // (id, address, status, error, created, sent); timestamps as sqlx writes them on SQLite.
        let rows = [
            (
                "m1",
                "gone@example.com",
                "failed",
                "'550 first'",
                "2026-11-01T10:00:00+00:00",
                "null",
            ),
            (
                "m2",
                "gone@example.com",
                "failed",
                "'550 again'",
                "2026-11-02T10:00:00+00:00",
                "null",
            ),
            (
                "m3",
                "ok@example.com",
                "sent",
                "null",
                "2026-11-01T10:00:00+00:00",
                "'2026-11-01T10:00:00+00:00'",
            ),
            // Deferred by its transport for three weeks, sent in the window.
            (
                "m4",
                "ok@example.com",
                "sent",
                "null",
                "2026-11-01T10:00:00+00:00",
                "'2026-11-20T10:00:00+00:00'",
            ),
            (
                "m5",
                "ok@example.com",
                "sent",
                "null",
                "2026-11-18T10:00:00+00:00",
                "'2026-11-18T10:00:05.5+00:00'",
            ),
            (
                "m6",
                "ok@example.com",
                "retry",
                "'451'",
                "2026-11-19T10:00:00+00:00",
                "null",
            ),
        ];
        for (id, to, status, error, created, sent) in rows {
            exec(
                &store,
                &format!(
                    "insert into messages (id, tenant_id, case_id, customer_id, kind, to_address, locale,
                        subject, body_text, body_html, transport, status, attempts, error, created_at,
                        sent_at, updated_at)
                     values ('{id}', 'acme', 'case_1', 'cus_1', 'failed', '{to}', 'en', 's', 't', 'h',
                        'smtp', '{status}', 1, {error}, '{created}', {sent}, '{created}')"
                ),
            )
            .await;
        }
        store.migrate().await.unwrap();
        assert!(
            store
                .address_refused("acme", "gone@example.com")
                .await
                .unwrap()
        );
        assert!(
            !store
                .address_refused("acme", "ok@example.com")
                .await
                .unwrap()
        );
        let first: (String, Option<String>) = match &store.db {
            Db::Sqlite(pool) => sqlx::query_as("select message_id, reason from refused_addresses")
                .fetch_one(pool)
                .await
                .unwrap(),
            Db::Postgres(pool) => {
                sqlx::query_as("select message_id, reason from refused_addresses")
                    .fetch_one(pool)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(first, ("m1".to_string(), Some("550 first".to_string())));
        let now: DateTime<Utc> = "2026-11-21T10:00:00Z".parse().unwrap();
        let since = now - Duration::days(7);
        assert_eq!(
            store
                .messages_sent_to("acme", "cus_1", since)
                .await
                .unwrap(),
            2
        );
        // The claim counts m4, m5 and the retry m6.
        let mut next = message("acme", "m7", "ok@example.com");
        next.cap = Some(TouchCap { since, limit: 3 });
        assert_eq!(
            store.claim_message(&next, now).await.unwrap(),
            Claim::Capped(3)
        );
        if let Db::Postgres(pool) = &store.db {
            // What a send writes is in no index, nor in a partial index's predicate: its update is HOT.
            let defs: Vec<(String,)> = sqlx::query_as(
                "select pg_get_indexdef(indexrelid) from pg_index where indrelid = 'messages'::regclass",
            )
            .fetch_all(pool)
            .await
            .unwrap();
            for (def,) in &defs {
                let def = def.replace("late_sent_at", "");
                for written in ["status", "error", "sent_at", "updated_at"] {
                    assert!(!def.contains(written), "{def} holds {written}");
                }
            }
        }
        store.close().await;
        drop_db(db).await;
    }
);
