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
