//! Database access for SQLite (default) and PostgreSQL through one code path: every query is written
//! once with `$n` placeholders and compiled for both pools by [`dispatch!`]. SQL lives only here.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub mod campaigns;
mod case_writes;
pub mod cases;
pub mod email_templates;
pub mod events;
pub mod inbox;
pub mod message_details;
pub mod messages;
mod nodelay;
pub mod queue;
pub mod settings;
pub mod task_destinations;
pub mod tenants;

/// Runs `$body` with `$pool` bound to the concrete pool of either backend.
macro_rules! dispatch {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use dispatch;

#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The application's handle on its database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pub db: Db,
    /// PostgreSQL only: asks the notifier task to wake workers once tasks due now are committed.
    wake: Option<tokio::sync::mpsc::Sender<()>>,
    /// Wakes this process's SQLite workers (PostgreSQL's are woken by the NOTIFY).
    local: tokio::sync::broadcast::Sender<()>,
    /// Due work this process has put on the queue and not yet seen run (see
    /// [`Store::enqueue_due_work`]).
    pushed: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("job queue error: {0}")]
    Queue(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// True when the error is a unique-key violation (e.g. a tenant id already taken).
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Database(sqlx::Error::Database(e)) if e.is_unique_violation())
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl Store {
    /// Connects with durability set on every connection: SQLite in WAL with `synchronous=FULL`, foreign
    /// keys and a busy timeout through the connect options; PostgreSQL with `synchronous_commit=on`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Store> {
        let db = if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections)
                .connect_with(opts)
                .await?;
            Db::Sqlite(pool)
        } else {
            let opts = PgConnectOptions::from_str(url)?.options([("synchronous_commit", "on")]);
            let port = opts.get_port();
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .after_connect(move |_, _| {
                    Box::pin(async move {
                        nodelay::set_on_sockets_to(port);
                        Ok(())
                    })
                })
                .connect_with(opts)
                .await?;
            Db::Postgres(pool)
        };
        let wake = match &db {
            Db::Sqlite(_) => None,
            Db::Postgres(pool) => Some(queue::spawn_notifier(pool.clone())),
        };
        let (local, _) = tokio::sync::broadcast::channel(4);
        Ok(Store {
            db,
            wake,
            local,
            pushed: Default::default(),
        })
    }

    /// Call after committing tasks that are due now: on PostgreSQL, workers (in every process) wake
    /// at once instead of at their next poll. Bursts share one notification.
    pub(crate) fn tasks_pushed(&self) {
        match &self.wake {
            // A full channel already holds a request that will cover these tasks.
            Some(wake) => drop(wake.try_send(())),
            // No receiver (no worker in this process) is fine.
            None => drop(self.local.send(())),
        }
    }

    /// A stream yielding `()` when this process commits tasks due now (SQLite; on PostgreSQL see
    /// `jobs::notify`). A slow reader misses nothing that matters: one wake-up fetches all that is due.
    pub fn local_task_signals(&self) -> futures::channel::mpsc::Receiver<()> {
        let mut rx = self.local.subscribe();
        let (mut tx, signals) = futures::channel::mpsc::channel(1);
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(()) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        if tx.try_send(()).is_err_and(|e| e.is_disconnected()) {
                            return;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        signals
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.db, Db::Postgres(_))
    }

    pub fn backend_name(&self) -> &'static str {
        match self.db {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Applies the app's migrations and apalis's. Both record into tables they share on SQLite, so
    /// each migrator ignores the other's versions. apalis's `setup()` is deliberately not called: on
    /// SQLite it would lower `synchronous` to OFF on a pooled connection.
    pub async fn migrate(&self) -> Result<()> {
        match &self.db {
            Db::Sqlite(pool) => {
                let mut app = sqlx::migrate!("./migrations/sqlite");
                app.set_ignore_missing(true);
                app.run(pool).await?;
                let mut apalis = apalis_sqlite::SqliteStorage::migrations();
                apalis.set_ignore_missing(true);
                apalis.run(pool).await?;
            }
            Db::Postgres(pool) => {
                let mut app = sqlx::migrate!("./migrations/postgres");
                app.set_ignore_missing(true);
                app.run(pool).await?;
                apalis_postgres::PostgresStorage::setup(pool)
                    .await
                    .map_err(|e| StoreError::Queue(e.to_string()))?;
                // apalis notifies from a per-row trigger inside the inserting transaction. PostgreSQL
                // serialises the commits of every transaction that has notified, which cut the inbox's
                // throughput by two thirds; we notify once per burst after commit instead
                // (`tasks_pushed`). Dropped after each migration run in case apalis re-creates it.
                sqlx::query("drop trigger if exists notify_workers on apalis.jobs")
                    .execute(pool)
                    .await?;
                // apalis's migrations leave two exact duplicates of other indexes (of `jobs_pkey` and
                // `idx_apalis_jobs_lock_by`); every enqueued task paid for maintaining them.
                for duplicate in ["apalis.unique_job_id", "apalis.lidx"] {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "drop index if exists {duplicate}"
                    )))
                    .execute(pool)
                    .await?;
                }
                // Queue tables churn: every task is inserted, updated twice and deleted within seconds.
                // With the default thresholds (20 % of the table) autovacuum comes far too late, and
                // fetching walks ever more dead index entries; vacuum these after a fixed number of rows.
                // The outbox grows from empty just as fast, and plans made on an "empty" table's
                // statistics scanned it whole.
                for table in ["apalis.jobs", "case_work", "messages"] {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "alter table {table} set (autovacuum_vacuum_scale_factor = 0, \
                         autovacuum_vacuum_threshold = 2000, autovacuum_analyze_scale_factor = 0.02)"
                    )))
                    .execute(pool)
                    .await?;
                }
            }
        }
        Ok(())
    }

    /// Cheap liveness probe for `/readyz`.
    pub async fn ping(&self) -> Result<()> {
        dispatch!(&self.db, pool => sqlx::query("select 1").execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    pub async fn close(&self) {
        dispatch!(&self.db, pool => pool.close().await)
    }
}

/// The URL of database `name` on the server `url` points at, keeping `url`'s parameters
/// (`?sslmode=…`): how the benchmarks and tests reach the database they create beside the one given.
/// `None` when `url` names no database.
pub fn sibling_database_url(url: &str, name: &str) -> Option<String> {
    let (path, query) = match url.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (url, None),
    };
    let (scheme, rest) = path.split_once("://")?;
    // The authority may be empty (`postgres:///db?host=/run/postgresql`: a Unix socket).
    let (authority, _) = rest.split_once('/')?;
    Some(match query {
        Some(q) => format!("{scheme}://{authority}/{name}?{q}"),
        None => format!("{scheme}://{authority}/{name}"),
    })
}

#[cfg(test)]
mod url_tests {
    use super::sibling_database_url;

    #[test]
    fn a_sibling_database_keeps_the_server_and_its_parameters() {
        assert_eq!(
            sibling_database_url("postgres://u@127.0.0.1:5432/test", "x").as_deref(),
            Some("postgres://u@127.0.0.1:5432/x")
        );
        assert_eq!(
            sibling_database_url("postgres://u@h/test?sslmode=disable&a=b", "x").as_deref(),
            Some("postgres://u@h/x?sslmode=disable&a=b")
        );
        assert_eq!(
            sibling_database_url("postgres:///test?host=/run/postgresql", "x").as_deref(),
            Some("postgres:///x?host=/run/postgresql")
        );
        assert_eq!(sibling_database_url("postgres://u@h", "x"), None);
    }
}
