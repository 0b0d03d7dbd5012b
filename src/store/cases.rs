//! Recovery cases: the case (its whole domain state as JSON, plus columns the API filters on), its
//! timeline, and its scheduled work. A case is saved with optimistic concurrency: the save and every
//! command it carries commit together, or not at all when another process saved first.

use chrono::{DateTime, Utc};

use super::queue::PushJob;
use super::{Result, Store, StoreError, dispatch};

/// The queue `ExecuteWork` tasks live on.
pub const WORK_QUEUE: &str = "dunning::execute_work";

/// The apalis task payload: the work row's id; the row holds everything else.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ExecuteWork {
    pub work_id: String,
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
}

const WORK_COLUMNS: &str = "id, tenant_id, case_id, kind, due_at, state, detail, result, card_fingerprint, executed_at, runs";

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
        Ok(dispatch!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant_id).bind(invoice_id).fetch_optional(pool).await
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

    /// Saves `row` (insert when `expected_version` is `None`), its timeline entries and work changes in
    /// one transaction. Returns `false`, changing nothing, when the stored version moved on (or the case
    /// was inserted by someone else): the caller reloads and re-applies.
    pub async fn save_case(
        &self,
        row: &CaseRow,
        expected_version: Option<i64>,
        timeline: &[TimelineRow],
        work: &[WorkChange],
        now: DateTime<Utc>,
    ) -> Result<bool> {
        dispatch!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let written = match expected_version {
                None => sqlx::query(
                    "insert into cases (id, tenant_id, invoice_id, customer_id, customer_email, customer_name,
                        subscription_id, amount_due, currency, decline_code, status, sub_state, recovered_by,
                        campaign_id, campaign_version, opened_at, closed_at, state, version, created_at, updated_at)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $20)
                     on conflict do nothing",
                )
                .bind(&row.id).bind(&row.tenant_id).bind(&row.invoice_id).bind(&row.customer_id)
                .bind(&row.customer_email).bind(&row.customer_name).bind(&row.subscription_id)
                .bind(row.amount_due).bind(&row.currency).bind(&row.decline_code).bind(&row.status)
                .bind(&row.sub_state).bind(&row.recovered_by).bind(&row.campaign_id).bind(row.campaign_version)
                .bind(row.opened_at).bind(row.closed_at).bind(&row.state).bind(row.version).bind(now)
                .execute(&mut *tx).await?.rows_affected(),
                Some(v) => sqlx::query(
                    "update cases set customer_email = $3, customer_name = $4, subscription_id = $5, amount_due = $6,
                        currency = $7, decline_code = $8, status = $9, sub_state = $10, recovered_by = $11,
                        opened_at = $12, closed_at = $13, state = $14, version = $15, updated_at = $16
                     where id = $1 and version = $2",
                )
                .bind(&row.id).bind(v).bind(&row.customer_email).bind(&row.customer_name)
                .bind(&row.subscription_id).bind(row.amount_due).bind(&row.currency).bind(&row.decline_code)
                .bind(&row.status).bind(&row.sub_state).bind(&row.recovered_by).bind(row.opened_at)
                .bind(row.closed_at).bind(&row.state).bind(row.version).bind(now)
                .execute(&mut *tx).await?.rows_affected(),
            };
            if written == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            for t in timeline {
                sqlx::query("insert into case_timeline (case_id, at, kind, detail, created_at) values ($1, $2, $3, $4, $5)")
                    .bind(&row.id).bind(t.at).bind(&t.kind).bind(&t.detail).bind(now)
                    .execute(&mut *tx).await?;
            }
            for w in work {
                match w {
                    WorkChange::Upsert { id, kind, due_at, detail, card_fingerprint } => {
                        sqlx::query(
                            "insert into case_work (id, tenant_id, case_id, kind, due_at, state, detail, card_fingerprint,
                                runs, created_at, updated_at)
                             values ($1, $2, $3, $4, $5, 'pending', $6, $7, 0, $8, $8)
                             on conflict (id) do update set due_at = excluded.due_at, detail = excluded.detail,
                                state = 'pending', updated_at = excluded.updated_at
                             where case_work.state in ('pending', 'queued', 'canceled')",
                        )
                        .bind(id).bind(&row.tenant_id).bind(&row.id).bind(*kind).bind(due_at).bind(detail)
                        .bind(card_fingerprint).bind(now)
                        .execute(&mut *tx).await?;
                    }
                    WorkChange::Cancel { ids } => {
                        for id in ids {
                            sqlx::query(
                                "update case_work set state = 'canceled', updated_at = $2
                                 where id = $1 and state in ('pending', 'queued')",
                            )
                            .bind(id).bind(now)
                            .execute(&mut *tx).await?;
                        }
                    }
                }
            }
            tx.commit().await?;
            Ok(true)
        })
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

    /// Ids of a case's work rows that have not started.
    pub async fn pending_work_ids(&self, case_id: &str) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = dispatch!(&self.db, pool => {
            sqlx::query_as("select id from case_work where case_id = $1 and state in ('pending', 'queued')")
                .bind(case_id).fetch_all(pool).await
        })?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Moves work that is due by service time `now` to `queued` and pushes its tasks, in one
    /// transaction. Returns how many rows were queued.
    pub async fn enqueue_due_work(&self, now: DateTime<Utc>, limit: i64) -> Result<usize> {
        // Runs every poll interval: the common "nothing due" answer costs one read, no transaction.
        let ids: Vec<(String,)> = dispatch!(&self.db, pool => {
            sqlx::query_as("select id from case_work where state = 'pending' and due_at <= $1 order by due_at, id limit $2")
                .bind(now).bind(limit).fetch_all(pool).await
        })?;
        if ids.is_empty() {
            return Ok(0);
        }
        let queued = dispatch!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let mut queued = 0;
            for (id,) in &ids {
                let n = sqlx::query("update case_work set state = 'queued', updated_at = $2 where id = $1 and state = 'pending'")
                    .bind(id).bind(now).execute(&mut *tx).await?.rows_affected();
                if n == 1 {
                    (*tx).push_job(WORK_QUEUE, &ExecuteWork { work_id: id.clone() }, None).await?;
                    queued += 1;
                }
            }
            tx.commit().await?;
            Ok::<usize, StoreError>(queued)
        })?;
        if queued > 0 {
            self.tasks_pushed();
        }
        Ok(queued)
    }

    /// Earliest due time of pending work, to step a test clock through due times in order.
    pub async fn next_due_work(&self) -> Result<Option<DateTime<Utc>>> {
        let row: Option<(DateTime<Utc>,)> = dispatch!(&self.db, pool => {
            sqlx::query_as("select due_at from case_work where state = 'pending' order by due_at limit 1")
                .fetch_optional(pool).await
        })?;
        Ok(row.map(|(t,)| t))
    }

    /// Rows queued or running: a test clock waits for these to drain before moving on.
    pub async fn work_in_flight(&self) -> Result<i64> {
        let (n,): (i64,) = dispatch!(&self.db, pool => {
            sqlx::query_as("select count(*) from case_work where state in ('queued', 'running')").fetch_one(pool).await
        })?;
        Ok(n)
    }

    /// Takes a queued row for execution; `None` when it was canceled, moved or taken by another run.
    /// A row left `running` by a crashed process is taken again after `stale_before`.
    pub async fn claim_work(
        &self,
        id: &str,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<Option<WorkRow>> {
        let sql = format!(
            "update case_work set state = 'running', runs = runs + 1, updated_at = $2
             where id = $1 and (state = 'queued' or (state = 'running' and updated_at < $3))
             returning {WORK_COLUMNS}"
        );
        Ok(dispatch!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).bind(now).bind(stale_before).fetch_optional(pool).await
        })?)
    }

    /// Records that a charge is about to be sent for this attempt (before the call, so a crash after
    /// it is known to be uncertain rather than forgotten).
    pub async fn mark_work_executing(
        &self,
        id: &str,
        now: DateTime<Utc>,
        card_fingerprint: Option<&str>,
    ) -> Result<()> {
        dispatch!(&self.db, pool => {
            sqlx::query("update case_work set executed_at = coalesce(executed_at, $2), card_fingerprint = coalesce($3, card_fingerprint), updated_at = $2 where id = $1")
                .bind(id).bind(now).bind(card_fingerprint).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Ends a claimed row: `done` with its result, or back to `pending` at `retry_at` (a transient
    /// failure that does not use up the step).
    pub async fn finish_work(
        &self,
        id: &str,
        result: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        dispatch!(&self.db, pool => {
            match retry_at {
                None => sqlx::query("update case_work set state = 'done', result = $2, updated_at = $3 where id = $1 and state = 'running'")
                    .bind(id).bind(result).bind(now).execute(pool).await.map(|r| r.rows_affected()),
                Some(at) => sqlx::query("update case_work set state = 'pending', result = $2, due_at = $3, updated_at = $4 where id = $1 and state = 'running'")
                    .bind(id).bind(result).bind(at).bind(now).execute(pool).await.map(|r| r.rows_affected()),
            }
        })?;
        Ok(())
    }

    /// Charge attempts on a card since `since`, across every case and tenant (network retry limits are
    /// per card).
    pub async fn card_history(
        &self,
        fingerprint: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>> {
        let rows: Vec<(DateTime<Utc>,)> = dispatch!(&self.db, pool => {
            sqlx::query_as("select executed_at from case_work where card_fingerprint = $1 and kind = 'retry' and executed_at >= $2 order by executed_at")
                .bind(fingerprint).bind(since).fetch_all(pool).await
        })?;
        Ok(rows.into_iter().map(|(t,)| t).collect())
    }

    pub async fn list_cases(&self, tenant_id: &str, f: &CaseFilter) -> Result<Vec<CaseRow>> {
        let sql = format!(
            "select {CASE_COLUMNS} from cases
             where tenant_id = $1
               and ($2 is null or status = $2)
               and ($3 is null or customer_id = $3)
               and ($4 is null or invoice_id = $4)
               and ($5 is null or decline_code = $5)
               and ($6 is null or campaign_id = $6)
               and ($7 is null or opened_at >= $7)
               and ($8 is null or opened_at < $8)
               and ($9 is null or id < $9)
             order by id desc
             limit $10"
        );
        Ok(dispatch!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(tenant_id).bind(&f.status).bind(&f.customer_id).bind(&f.invoice_id).bind(&f.decline_code)
                .bind(&f.campaign_id).bind(f.opened_since).bind(f.opened_until).bind(&f.before_id).bind(f.limit)
                .fetch_all(pool).await
        })?)
    }
}

impl Store {
    /// Returns a claimed row whose run failed to `pending`, due now, for the scheduler to pick up.
    pub async fn release_work(&self, id: &str, now: DateTime<Utc>) -> Result<()> {
        dispatch!(&self.db, pool => {
            sqlx::query("update case_work set state = 'pending', due_at = $2, updated_at = $2 where id = $1 and state = 'running'")
                .bind(id).bind(now).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }
}
