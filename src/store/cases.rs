//! Recovery cases: the case (its whole domain state as JSON, plus columns the API filters on), its
//! timeline, and its scheduled work. A case is saved with optimistic concurrency: the save and every
//! command it carries commit together, or not at all when another process saved first.

use chrono::{DateTime, Utc};

pub use super::case_writes::{CaseSave, Charged, WorkCommit, WorkFinish};
use super::queue::PushJob;
use super::{Result, Store, StoreError, dispatch};

/// The queue `ExecuteWork` tasks live on.
pub const WORK_QUEUE: &str = "dunning::execute_work";

/// Most work rows one task carries. A batch is claimed in one statement, its rows run concurrently,
/// and their outcomes commit in one transaction: per row that is a fraction of a commit instead of
/// four, which is what bounds the engine's rate.
pub const WORK_BATCH_MAX: usize = 64;
/// How long this process leaves a row it pushed to the queue before pushing it again (a batch that
/// runs here forgets its rows as soon as it ends). A batch still waiting on a busy queue by then
/// gets a duplicate, whose claim takes nothing.
pub const PUSHED_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// The apalis task payload: a batch of work row ids; the rows hold everything else.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ExecuteWork {
    pub work_ids: Vec<String>,
}

/// `state` in statements that name their rows by id. PostgreSQL's planner, with statistics that lag a
/// queue's churn, ANDed the primary key with a bitmap of *every* row in that state from an index on
/// `state` (tens of thousands of pending rows); as an expression the column is no index's, and the rows
/// are found by id alone.
pub(super) const LISTED_STATE: &str = "(state || '')";

/// `$from, $from+1, …` for `n` values: the bind list of an `in (…)` on either backend.
pub(super) fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `($from, $from+1), ($from+2, $from+3), …`: `rows` rows of `width` binds each, for a `(values …)`
/// list (its columns are `column1`, `column2`, … on either backend).
pub(super) fn value_rows(from: usize, rows: usize, width: usize) -> String {
    (0..rows)
        .map(|r| format!("({})", placeholders(from + r * width, width)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An id list from bind `$first`: `in ($first, …)` with a bind per id on SQLite, `= any($first)`
/// with one array on PostgreSQL, whose text does not change with the list's length (so it is
/// prepared once per connection rather than parsed and planned for each batch).
fn id_list(db: &super::Db, first: usize, n: usize) -> String {
    match db {
        super::Db::Postgres(_) => format!("= any(${first}::text[])"),
        super::Db::Sqlite(_) => format!("in ({})", placeholders(first, n)),
    }
}

/// Runs a read whose only binds are the ids of its [`id_list`] (from `$1`): one array on
/// PostgreSQL, one value per id on SQLite.
async fn fetch_by_ids<T>(db: &super::Db, sql: String, ids: &[String]) -> Result<Vec<T>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + Send
        + Unpin,
{
    Ok(match db {
        super::Db::Postgres(pool) => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(ids)
                .fetch_all(pool)
                .await?
        }
        super::Db::Sqlite(pool) => {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
            for id in ids {
                q = q.bind(id);
            }
            q.fetch_all(pool).await?
        }
    })
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CaseRow {
    pub id: String,
    pub tenant_id: String,
    pub invoice_id: String,
    pub customer_id: String,
    pub customer_email: Option<String>,
    pub customer_name: Option<String>,
    pub subscription_id: Option<String>,
    pub amount_due: i64,
    pub currency: String,
    pub decline_code: Option<String>,
    pub status: String,
    pub sub_state: Option<String>,
    pub recovered_by: Option<String>,
    pub campaign_id: String,
    pub campaign_version: i64,
    pub opened_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub state: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const CASE_COLUMNS: &str = "id, tenant_id, invoice_id, customer_id, customer_email, customer_name, subscription_id, \
     amount_due, currency, decline_code, status, sub_state, recovered_by, campaign_id, campaign_version, opened_at, \
     closed_at, state, version, created_at, updated_at";

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct TimelineRow {
    pub at: DateTime<Utc>,
    pub kind: String,
    pub detail: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WorkRow {
    pub id: String,
    pub tenant_id: String,
    pub case_id: String,
    pub kind: String,
    pub due_at: DateTime<Utc>,
    pub state: String,
    pub detail: String,
    pub result: Option<String>,
    pub card_fingerprint: Option<String>,
    pub executed_at: Option<DateTime<Utc>>,
    pub runs: i64,
    /// When a run claimed the row (it stays `pending` until the run ends).
    pub claimed_at: Option<DateTime<Utc>>,
}

impl WorkRow {
    /// The state as the API shows it: a claimed row is `running`.
    pub fn shown_state(&self) -> &str {
        if self.state == "pending" && self.claimed_at.is_some() {
            "running"
        } else {
            &self.state
        }
    }
}

const WORK_COLUMNS: &str = "id, tenant_id, case_id, kind, due_at, state, detail, result, card_fingerprint, executed_at, runs, claimed_at";

/// A change to scheduled work, decided by the engine from the state machine's commands.
#[derive(Debug, Clone)]
pub enum WorkChange {
    /// Insert, or move a row that has not started yet to `due_at`.
    Upsert {
        id: String,
        kind: &'static str,
        due_at: DateTime<Utc>,
        detail: String,
        card_fingerprint: Option<String>,
    },
    /// Cancel these rows if they have not started.
    Cancel { ids: Vec<String> },
}

#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub status: Option<String>,
    pub customer_id: Option<String>,
    pub invoice_id: Option<String>,
    pub subscription_id: Option<String>,
    pub decline_code: Option<String>,
    pub campaign_id: Option<String>,
    pub opened_since: Option<DateTime<Utc>>,
    pub opened_until: Option<DateTime<Utc>>,
    pub before_id: Option<String>,
    pub limit: i64,
}

impl Store {
    pub async fn case_by_invoice(
        &self,
        tenant_id: &str,
        invoice_id: &str,
    ) -> Result<Option<CaseRow>> {
        let sql =
            format!("select {CASE_COLUMNS} from cases where tenant_id = $1 and invoice_id = $2");
        // Planned with its values: a cached generic plan made while the table had no statistics
        // can pick the tenant/customer index and read every case of the tenant for each lookup.
        Ok(dispatch!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).persistent(false).bind(tenant_id).bind(invoice_id).fetch_optional(pool).await
        })?)
    }

    pub async fn case(&self, tenant_id: &str, id: &str) -> Result<Option<CaseRow>> {
        let sql = format!("select {CASE_COLUMNS} from cases where tenant_id = $1 and id = $2");
        Ok(dispatch!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant_id).bind(id).fetch_optional(pool).await
        })?)
    }

    pub async fn case_by_id(&self, id: &str) -> Result<Option<CaseRow>> {
        let sql = format!("select {CASE_COLUMNS} from cases where id = $1");
        Ok(dispatch!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await
        })?)
    }

    pub async fn timeline(&self, case_id: &str) -> Result<Vec<TimelineRow>> {
        Ok(dispatch!(&self.db, pool => {
            sqlx::query_as("select at, kind, detail from case_timeline where case_id = $1 order by id")
                .bind(case_id).fetch_all(pool).await
        })?)
    }

    pub async fn work_of_case(&self, case_id: &str) -> Result<Vec<WorkRow>> {
        let sql =
            format!("select {WORK_COLUMNS} from case_work where case_id = $1 order by due_at, id");
        Ok(dispatch!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(case_id).fetch_all(pool).await
        })?)
    }

    pub async fn work(&self, id: &str) -> Result<Option<WorkRow>> {
        let sql = format!("select {WORK_COLUMNS} from case_work where id = $1");
        Ok(dispatch!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await
        })?)
    }

    /// Ids of a case's work rows that have not started (not claimed by a run).
    pub async fn pending_work_ids(&self, case_id: &str) -> Result<Vec<String>> {
        let sql = format!(
            "select id from case_work where case_id = $1 and {LISTED_STATE} = 'pending' and claimed_at is null"
        );
        let rows: Vec<(String,)> = dispatch!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(case_id).fetch_all(pool).await
        })?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Cases by id, in no particular order; missing ids are left out.
    pub async fn cases_by_ids(&self, ids: &[String]) -> Result<Vec<CaseRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = id_list(&self.db, 1, ids.len());
        let sql = format!("select {CASE_COLUMNS} from cases where id {list}");
        fetch_by_ids(&self.db, sql, ids).await
    }

    /// `(case id, work id)` of these cases' work rows that have not started (not claimed by a run).
    pub async fn pending_work_of_cases(
        &self,
        case_ids: &[String],
    ) -> Result<Vec<(String, String)>> {
        if case_ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = id_list(&self.db, 1, case_ids.len());
        let sql = format!(
            "select case_id, id from case_work where {LISTED_STATE} = 'pending' and claimed_at is null and case_id {list}"
        );
        fetch_by_ids(&self.db, sql, case_ids).await
    }

    /// Puts work that is due by service time `now` on the queue: batches of at most
    /// [`WORK_BATCH_MAX`] rows, spread over `runners` tasks when there are few. Returns how many rows
    /// were put on it.
    ///
    /// The rows stay `pending` (a run claims a row only while it is pending and due, so a row moved
    /// or canceled meanwhile is not run): marking them queued cost every piece of work one more
    /// write, and on PostgreSQL a new version in each of its indexes. This process remembers what it
    /// pushed until the batch has run (or [`PUSHED_TTL`] has passed), so a row waiting on the queue
    /// is not pushed again by each pass. Another process may still push it once more; its claim
    /// then finds nothing to take.
    pub async fn enqueue_due_work(
        &self,
        now: DateTime<Utc>,
        limit: i64,
        runners: usize,
    ) -> Result<usize> {
        // Runs every poll interval: the common "nothing due" answer costs one read, no transaction.
        let ids: Vec<(String,)> = dispatch!(&self.db, pool => {
            sqlx::query_as("select id from case_work where state = 'pending' and due_at <= $1 order by due_at, id limit $2")
                .bind(now).bind(limit).fetch_all(pool).await
        })?;
        let ids: Vec<String> = {
            let mut pushed = self.pushed.lock().unwrap_or_else(|e| e.into_inner());
            pushed.retain(|_, at| at.elapsed() < PUSHED_TTL);
            ids.into_iter()
                .map(|(id,)| id)
                .filter(|id| !pushed.contains_key(id))
                .collect()
        };
        if ids.is_empty() {
            return Ok(0);
        }
        let size = ids.len().div_ceil(runners.max(1)).clamp(1, WORK_BATCH_MAX);
        let mut queued = 0;
        // A few batches per transaction: workers start on the first ones while the rest are queued.
        for group in ids.chunks(size * 8) {
            dispatch!(&self.db, pool => {
                let mut tx = pool.begin().await?;
                for chunk in group.chunks(size) {
                    let work_ids = chunk.to_vec();
                    (*tx).push_job(WORK_QUEUE, &ExecuteWork { work_ids }, None).await?;
                }
                tx.commit().await?;
                Ok::<(), StoreError>(())
            })?;
            let at = std::time::Instant::now();
            let mut pushed = self.pushed.lock().unwrap_or_else(|e| e.into_inner());
            pushed.extend(group.iter().map(|id| (id.clone(), at)));
            drop(pushed);
            self.tasks_pushed();
            queued += group.len();
        }
        Ok(queued)
    }

    /// A batch has run (or given up): its rows may be pushed again when they are next due.
    pub fn batch_done(&self, ids: &[String]) {
        let mut pushed = self.pushed.lock().unwrap_or_else(|e| e.into_inner());
        for id in ids {
            pushed.remove(id);
        }
    }

    /// How many rows this process pushed to the queue are still waiting or running, as far as it
    /// knows. Answered from memory, so a test clock can wait on it without asking the database.
    pub fn pushed_in_flight(&self) -> usize {
        self.pushed.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Forgets pushes older than [`PUSHED_TTL`]: a batch that never reported back (its task lost).
    pub fn forget_stale_pushes(&self) {
        let mut pushed = self.pushed.lock().unwrap_or_else(|e| e.into_inner());
        pushed.retain(|_, at| at.elapsed() < PUSHED_TTL);
    }

    /// Earliest due time of pending work, to step a test clock through due times in order.
    pub async fn next_due_work(&self) -> Result<Option<DateTime<Utc>>> {
        let row: Option<(DateTime<Utc>,)> = dispatch!(&self.db, pool => {
            sqlx::query_as("select due_at from case_work where state = 'pending' order by due_at limit 1")
                .fetch_optional(pool).await
        })?;
        Ok(row.map(|(t,)| t))
    }

    /// Rows due by `now` and not finished (waiting on the queue, or running: a claimed row stays
    /// `pending` until its run ends): a test clock waits for these to drain before moving on.
    pub async fn work_in_flight(&self, now: DateTime<Utc>) -> Result<i64> {
        let (n,): (i64,) = dispatch!(&self.db, pool => {
            sqlx::query_as("select count(*) from case_work where state = 'pending' and due_at <= $1")
                .bind(now).fetch_one(pool).await
        })?;
        Ok(n)
    }

    /// Whether any row is due by `now` and waiting (on the queue, or not yet pushed), without
    /// counting them: an index scan that stops at the first (and on PostgreSQL marks the dead
    /// entries it passes, so later looks skip them; a count visits them all again).
    pub async fn work_due(&self, now: DateTime<Utc>) -> Result<bool> {
        let (waiting,): (bool,) = dispatch!(&self.db, pool => {
            sqlx::query_as("select exists (select 1 from case_work where state = 'pending' and due_at <= $1)")
                .bind(now).fetch_one(pool).await
        })?;
        Ok(waiting)
    }

    /// Takes rows for execution that are pending and due by `now`, leaving out any canceled, moved
    /// or taken by another run. A row whose run was claimed before `stale_before` (its process died)
    /// is taken again.
    ///
    /// The claim stamps `claimed_at` and leaves the row `pending`: no indexed column changes, so on
    /// PostgreSQL it is a HOT update. Statements that move or cancel pending work skip claimed rows.
    pub async fn claim_work(
        &self,
        ids: &[String],
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<Vec<WorkRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = id_list(&self.db, 3, ids.len());
        let sql = format!(
            "update case_work set claimed_at = $1, runs = runs + 1, updated_at = $1
             where id {list} and {LISTED_STATE} = 'pending' and due_at <= $1
                and (claimed_at is null or claimed_at < $2)
             returning {WORK_COLUMNS}"
        );
        Ok(match &self.db {
            super::Db::Postgres(pool) => {
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(now)
                    .bind(stale_before)
                    .bind(ids)
                    .fetch_all(pool)
                    .await?
            }
            super::Db::Sqlite(pool) => {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(now)
                    .bind(stale_before);
                for id in ids {
                    q = q.bind(id);
                }
                q.fetch_all(pool).await?
            }
        })
    }

    /// Charge attempts on these cards since `since`, across every case and tenant (network retry limits
    /// are per card): `(fingerprint, executed_at)`.
    pub async fn card_histories(
        &self,
        fingerprints: &[String],
        since: DateTime<Utc>,
    ) -> Result<Vec<(String, DateTime<Utc>)>> {
        if fingerprints.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "select card_fingerprint, executed_at from case_work
             where kind = 'retry' and executed_at >= $1 and card_fingerprint in ({})
             order by executed_at",
            placeholders(2, fingerprints.len())
        );
        Ok(dispatch!(&self.db, pool => {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(since);
            for fp in fingerprints {
                q = q.bind(fp);
            }
            q.fetch_all(pool).await
        })?)
    }

    /// The tenant's cases matching `f`, newest first. Only the filters given are in the statement,
    /// so the planner can use the index that fits them (`$n is null or …` conditions hide every
    /// index but the tenant's), and it is planned with its values: a plan cached while the table
    /// was small (before any statistics) would otherwise be kept as the table grows.
    pub async fn list_cases(&self, tenant_id: &str, f: &CaseFilter) -> Result<Vec<CaseRow>> {
        let texts = [
            ("status", &f.status),
            ("customer_id", &f.customer_id),
            ("invoice_id", &f.invoice_id),
            ("subscription_id", &f.subscription_id),
            ("decline_code", &f.decline_code),
            ("campaign_id", &f.campaign_id),
        ];
        let times = [
            ("opened_at >=", f.opened_since),
            ("opened_at <", f.opened_until),
        ];
        let mut sql = format!("select {CASE_COLUMNS} from cases where tenant_id = $1");
        let mut n = 1;
        for (column, _) in texts.iter().filter(|(_, v)| v.is_some()) {
            n += 1;
            sql.push_str(&format!(" and {column} = ${n}"));
        }
        for (condition, _) in times.iter().filter(|(_, v)| v.is_some()) {
            n += 1;
            sql.push_str(&format!(" and {condition} ${n}"));
        }
        if f.before_id.is_some() {
            n += 1;
            sql.push_str(&format!(" and id < ${n}"));
        }
        sql.push_str(&format!(" order by id desc limit ${}", n + 1));
        Ok(dispatch!(&self.db, pool => {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql)).persistent(false).bind(tenant_id);
            for v in texts.iter().filter_map(|(_, v)| v.as_deref()) {
                q = q.bind(v);
            }
            for t in times.iter().filter_map(|(_, t)| *t) {
                q = q.bind(t);
            }
            if let Some(id) = &f.before_id {
                q = q.bind(id);
            }
            q.bind(f.limit).fetch_all(pool).await
        })?)
    }

    /// How many cases the customer has had with the tenant (a repeat offender has had one).
    pub async fn customer_case_count(&self, tenant_id: &str, customer_id: &str) -> Result<i64> {
        let (n,): (i64,) = dispatch!(&self.db, pool => {
            sqlx::query_as("select count(*) from cases where tenant_id = $1 and customer_id = $2")
                .persistent(false).bind(tenant_id).bind(customer_id).fetch_one(pool).await
        })?;
        Ok(n)
    }
}

impl Store {
    /// Returns a claimed row whose run failed to `pending`, due at `due_at`, for a later
    /// scheduler pass.
    pub async fn release_work(
        &self,
        id: &str,
        due_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        dispatch!(&self.db, pool => {
            sqlx::query("update case_work set claimed_at = null, due_at = $2, updated_at = $3
                 where id = $1 and state = 'pending' and claimed_at is not null")
                .bind(id).bind(due_at).bind(now).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Returns every claimed row to `pending`, keeping its due time. For a test-clock
    /// start, where a row left running by the previous process cannot be told stale by time (the
    /// clock was advanced past the wall clock). Re-running is safe: a charge re-sends its attempt's
    /// Idempotency-Key, a message finds its outbox row.
    pub async fn requeue_interrupted_work(&self, now: DateTime<Utc>) -> Result<u64> {
        dispatch!(&self.db, pool => {
            sqlx::query("update case_work set claimed_at = null, updated_at = $1
                 where state = 'pending' and claimed_at is not null")
                .bind(now).execute(pool).await.map(|r| r.rows_affected())
        })
        .map_err(Into::into)
    }
}
