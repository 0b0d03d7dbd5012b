//! Writing cases and the ends of their work: one case's save, or a batch of runs committed together.
//! Statements are multi-row wherever rows can share one: each statement is a round trip (on SQLite a
//! hop to its single connection's thread), and that, more than the commit, is what a batch saves.
//! On PostgreSQL the hot ones bind one array per column (`unnest`, `= any`): their text is the same for
//! any number of rows, so each is prepared once per connection instead of parsed and planned for
//! every batch. SQLite has no arrays: its statements list the values, their text varies with the
//! number of rows, and so they are not kept in sqlx's per-connection statement cache
//! (`persistent(false)`): up to 100 large prepared statements per connection showed as memory that
//! grew over a long run.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use std::collections::HashSet;

use super::cases::{CaseRow, LISTED_STATE, TimelineRow, WorkChange, placeholders};
use super::messages::{Claim, MessageFinish, NewMessage, claim_rows, finish_message_rows};
use super::{Result, Store, dispatch};

/// Rows per multi-row statement: well under either backend's limit on bind parameters.
pub(super) const ROWS_PER_STATEMENT: usize = 200;
/// Rows per statement for rows that carry kilobytes (a case's state, a message's bodies): a
/// connection's buffers grow to the largest statement it has sent and keep that size, so these are
/// kept small enough that a pool of large buffers does not show as memory growing over a long run.
pub(super) const WIDE_ROWS_PER_STATEMENT: usize = 32;

/// How a finished run leaves its work row: `done` with its result, or back to `pending` at
/// `retry_at` (a transient failure that does not use up the step).
#[derive(Debug, Clone)]
pub struct WorkFinish {
    pub id: String,
    pub result: String,
    pub retry_at: Option<DateTime<Utc>>,
    /// A charge this run sent: when, and to which card (recorded on the row for network limits and
    /// for a re-run to know it re-sends rather than tries anew).
    pub charged: Option<Charged>,
}

/// When a run's charge was sent, and the card it went to.
#[derive(Debug, Clone)]
pub struct Charged {
    pub at: DateTime<Utc>,
    pub card_fingerprint: Option<String>,
}

/// A case write: the row (inserted when `expected_version` is `None`), its timeline and work changes.
#[derive(Debug, Clone)]
pub struct CaseSave {
    pub row: CaseRow,
    pub expected_version: Option<i64>,
    pub timeline: Vec<TimelineRow>,
    pub work: Vec<WorkChange>,
}

/// One run's outcome in a batch commit: its case write, if any, a line for its case's timeline that
/// changes nothing else (how a message went), and how its row ends.
#[derive(Debug, Clone)]
pub struct WorkCommit {
    pub save: Option<CaseSave>,
    /// `(case id, entry)`: written with the batch, needing no version check.
    pub note: Option<(String, TimelineRow)>,
    pub finish: WorkFinish,
}

/// The arms of `case id when $f then $f+1 when $f+2 then $f+3 … end` for `n` rows, binds `(id,
/// value)` pairs from `$first`: a value per row in one statement, spelled the same on both backends
/// (unlike `update … from (values …)` with casts).
fn per_id_arms(first: usize, n: usize) -> String {
    (0..n)
        .map(|i| format!("when ${} then ${}", first + 2 * i, first + 2 * i + 1))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A work row to insert, or to move if it has not started.
struct Upsert<'a> {
    case: &'a CaseRow,
    id: &'a str,
    kind: &'static str,
    due_at: DateTime<Utc>,
    detail: &'a str,
    card_fingerprint: Option<&'a str>,
}

/// The net effect of the saves' work changes, made in order, as one set of upserts followed by one
/// set of cancels. Per row: an upsert wins over the changes before it (it revives a canceled row and
/// moves a pending one); a cancel after the last upsert still applies after it.
fn net_work<'a>(saves: &[&'a CaseSave]) -> (Vec<Upsert<'a>>, Vec<&'a str>) {
    let mut order: Vec<&'a str> = Vec::new();
    let mut net: HashMap<&'a str, (Option<Upsert<'a>>, bool)> = HashMap::new();
    for save in saves {
        for change in &save.work {
            match change {
                WorkChange::Upsert {
                    id,
                    kind,
                    due_at,
                    detail,
                    card_fingerprint,
                } => {
                    let up = Upsert {
                        case: &save.row,
                        id,
                        kind,
                        due_at: *due_at,
                        detail,
                        card_fingerprint: card_fingerprint.as_deref(),
                    };
                    if net.insert(id, (Some(up), false)).is_none() {
                        order.push(id);
                    }
                }
                WorkChange::Cancel { ids } => {
                    for id in ids {
                        let entry = net.entry(id).or_insert_with(|| {
                            order.push(id);
                            (None, false)
                        });
                        entry.1 = true;
                    }
                }
            }
        }
    }
    let mut upserts = Vec::new();
    let mut cancels = Vec::new();
    for id in order {
        if let Some((up, cancel)) = net.remove(id) {
            upserts.extend(up);
            if cancel {
                cancels.push(id);
            }
        }
    }
    (upserts, cancels)
}

/// Inserts the case or updates it if still at the expected version; `true` when written. A lost
/// version check writes nothing, so nothing needs undoing.
macro_rules! write_case_row {
    ($tx:expr, $save:expr, $now:expr) => {{
        let save: &CaseSave = $save;
        let row = &save.row;
        let now: DateTime<Utc> = $now;
        let written = match save.expected_version {
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
            .execute(&mut *$tx).await?.rows_affected(),
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
            .execute(&mut *$tx).await?.rows_affected(),
        };
        written == 1
    }};
}

/// The timeline entries of saves, by case id, in order.
fn timeline_of<'a>(saves: &[&'a CaseSave]) -> Vec<(&'a str, &'a TimelineRow)> {
    saves
        .iter()
        .flat_map(|s| s.timeline.iter().map(|t| (s.row.id.as_str(), t)))
        .collect()
}

/// The statements of a save's details, per backend.
trait WriteDetails {
    fn insert_timeline(
        &mut self,
        chunk: &[(&str, &TimelineRow)],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Inserts work rows, or moves those not started (a canceled one is revived).
    fn upsert_work(
        &mut self,
        chunk: &[Upsert<'_>],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Cancels work rows not started.
    fn cancel_work(
        &mut self,
        ids: &[&str],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<()>> + Send;
}

const INSERT_WORK: &str =
    "insert into case_work (id, tenant_id, case_id, kind, due_at, state, detail,
    card_fingerprint, runs, created_at, updated_at)";
const ON_WORK_CONFLICT: &str = "on conflict (id) do update set due_at = excluded.due_at,
    detail = excluded.detail, state = 'pending', updated_at = excluded.updated_at
    where case_work.state in ('pending', 'canceled') and case_work.claimed_at is null";

impl WriteDetails for sqlx::SqliteConnection {
    async fn insert_timeline(
        &mut self,
        chunk: &[(&str, &TimelineRow)],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let values = (0..chunk.len())
            .map(|i| format!("({}, $1)", placeholders(4 * i + 2, 4)))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "insert into case_timeline (case_id, at, kind, detail, created_at) values {values}"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .persistent(false)
            .bind(now);
        for (case_id, t) in chunk {
            q = q.bind(*case_id).bind(t.at).bind(&t.kind).bind(&t.detail);
        }
        q.execute(self).await?;
        Ok(())
    }

    async fn upsert_work(&mut self, chunk: &[Upsert<'_>], now: DateTime<Utc>) -> Result<()> {
        let values = (0..chunk.len())
            .map(|i| {
                let b = 7 * i + 2;
                format!(
                    "({}, 'pending', ${}, ${}, 0, $1, $1)",
                    placeholders(b, 5),
                    b + 5,
                    b + 6
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!("{INSERT_WORK} values {values} {ON_WORK_CONFLICT}");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .persistent(false)
            .bind(now);
        for u in chunk {
            q = q
                .bind(u.id)
                .bind(&u.case.tenant_id)
                .bind(&u.case.id)
                .bind(u.kind)
                .bind(u.due_at)
                .bind(u.detail)
                .bind(u.card_fingerprint);
        }
        q.execute(self).await?;
        Ok(())
    }

    async fn cancel_work(&mut self, ids: &[&str], now: DateTime<Utc>) -> Result<()> {
        let sql = format!(
            "update case_work set state = 'canceled', updated_at = $1
             where id in ({}) and {LISTED_STATE} = 'pending' and claimed_at is null",
            placeholders(2, ids.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .persistent(false)
            .bind(now);
        for id in ids {
            q = q.bind(*id);
        }
        q.execute(self).await?;
        Ok(())
    }
}

/// One array per column: the same text for any number of rows, prepared once per connection.
impl WriteDetails for sqlx::PgConnection {
    async fn insert_timeline(
        &mut self,
        chunk: &[(&str, &TimelineRow)],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let cases: Vec<&str> = chunk.iter().map(|(c, _)| *c).collect();
        let at: Vec<DateTime<Utc>> = chunk.iter().map(|(_, t)| t.at).collect();
        let kinds: Vec<&str> = chunk.iter().map(|(_, t)| t.kind.as_str()).collect();
        let details: Vec<&str> = chunk.iter().map(|(_, t)| t.detail.as_str()).collect();
        sqlx::query(
            "insert into case_timeline (case_id, at, kind, detail, created_at)
             select *, $1::timestamptz from unnest($2::text[], $3::timestamptz[], $4::text[], $5::text[])",
        )
        .bind(now)
        .bind(cases)
        .bind(at)
        .bind(kinds)
        .bind(details)
        .execute(self)
        .await?;
        Ok(())
    }

    async fn upsert_work(&mut self, chunk: &[Upsert<'_>], now: DateTime<Utc>) -> Result<()> {
        let sql = format!(
            "{INSERT_WORK}
             select id, tenant_id, case_id, kind, due_at, 'pending', detail, card, 0, $1::timestamptz,
                    $1::timestamptz
             from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[],
                         $7::text[], $8::text[]) as v(id, tenant_id, case_id, kind, due_at, detail, card)
             {ON_WORK_CONFLICT}"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(chunk.iter().map(|u| u.id).collect::<Vec<_>>())
            .bind(
                chunk
                    .iter()
                    .map(|u| u.case.tenant_id.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(chunk.iter().map(|u| u.case.id.as_str()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|u| u.kind).collect::<Vec<_>>())
            .bind(chunk.iter().map(|u| u.due_at).collect::<Vec<_>>())
            .bind(chunk.iter().map(|u| u.detail).collect::<Vec<_>>())
            .bind(chunk.iter().map(|u| u.card_fingerprint).collect::<Vec<_>>())
            .execute(self)
            .await?;
        Ok(())
    }

    async fn cancel_work(&mut self, ids: &[&str], now: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "update case_work set state = 'canceled', updated_at = $1
             where id = any($2::text[]) and (state || '') = 'pending' and claimed_at is null",
        )
        .bind(now)
        .bind(ids)
        .execute(self)
        .await?;
        Ok(())
    }
}

/// Writes timeline entries (by case id) and the net work changes of saves whose case rows were
/// written.
macro_rules! write_case_details {
    ($tx:expr, $saves:expr, $timeline:expr, $now:expr) => {{
        let saves: &[&CaseSave] = $saves;
        let timeline: &[(&str, &TimelineRow)] = $timeline;
        let now: DateTime<Utc> = $now;
        for chunk in timeline.chunks(ROWS_PER_STATEMENT) {
            WriteDetails::insert_timeline(&mut *$tx, chunk, now).await?;
        }
        let (upserts, cancels) = net_work(saves);
        for chunk in upserts.chunks(ROWS_PER_STATEMENT) {
            WriteDetails::upsert_work(&mut *$tx, chunk, now).await?;
        }
        for chunk in cancels.chunks(ROWS_PER_STATEMENT) {
            WriteDetails::cancel_work(&mut *$tx, chunk, now).await?;
        }
    }};
}

/// Marks claimed rows (still claimed and `pending`) `done` with their results, recording the charges
/// they sent (an earlier run's time is kept: a re-send is the same attempt).
trait FinishRows {
    fn finish_rows(
        &mut self,
        chunk: &[&WorkFinish],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<()>> + Send;
}

impl FinishRows for sqlx::SqliteConnection {
    async fn finish_rows(&mut self, chunk: &[&WorkFinish], now: DateTime<Utc>) -> Result<()> {
        let charged: Vec<(&str, &Charged)> = chunk
            .iter()
            .filter_map(|f| Some((f.id.as_str(), f.charged.as_ref()?)))
            .collect();
        let n = chunk.len();
        // Binds: $1 now; (id, result) pairs; the `in` list; then (id, at) and (id, card) pairs.
        let marks = if charged.is_empty() {
            String::new()
        } else {
            let at = 3 * n + 2;
            format!(
                ", executed_at = coalesce(executed_at, case id {} end),
                   card_fingerprint = coalesce(case id {} end, card_fingerprint)",
                per_id_arms(at, charged.len()),
                per_id_arms(at + 2 * charged.len(), charged.len())
            )
        };
        let sql = format!(
            "update case_work set state = 'done', updated_at = $1, result = case id {} end{marks}
             where id in ({}) and {LISTED_STATE} = 'pending' and claimed_at is not null",
            per_id_arms(2, n),
            placeholders(2 * n + 2, n)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .persistent(false)
            .bind(now);
        for f in chunk {
            q = q.bind(&f.id).bind(&f.result);
        }
        for f in chunk {
            q = q.bind(&f.id);
        }
        for (id, c) in &charged {
            q = q.bind(*id).bind(c.at);
        }
        for (id, c) in &charged {
            q = q.bind(*id).bind(&c.card_fingerprint);
        }
        q.execute(self).await?;
        Ok(())
    }
}

impl FinishRows for sqlx::PgConnection {
    /// One array per column: the same text for any number of rows, prepared once per connection.
    async fn finish_rows(&mut self, chunk: &[&WorkFinish], now: DateTime<Utc>) -> Result<()> {
        let ids: Vec<&str> = chunk.iter().map(|f| f.id.as_str()).collect();
        let results: Vec<&str> = chunk.iter().map(|f| f.result.as_str()).collect();
        let at: Vec<Option<DateTime<Utc>>> = chunk
            .iter()
            .map(|f| f.charged.as_ref().map(|c| c.at))
            .collect();
        let cards: Vec<Option<&str>> = chunk
            .iter()
            .map(|f| {
                f.charged
                    .as_ref()
                    .and_then(|c| c.card_fingerprint.as_deref())
            })
            .collect();
        sqlx::query(
            "update case_work w set state = 'done', updated_at = $1, result = v.result,
                executed_at = coalesce(w.executed_at, v.at),
                card_fingerprint = coalesce(v.card, w.card_fingerprint)
             from unnest($2::text[], $3::text[], $4::timestamptz[], $5::text[]) as v(id, result, at, card)
             where w.id = v.id and (w.state || '') = 'pending' and w.claimed_at is not null",
        )
            .bind(now)
            .bind(ids)
            .bind(results)
            .bind(at)
            .bind(cards)
            .execute(self)
            .await?;
        Ok(())
    }
}

/// Ends claimed rows (those still claimed and `pending`) as each [`WorkFinish`] says, recording the charges
/// they sent (an earlier run's time is kept: a re-send is the same attempt).
macro_rules! finish_rows {
    ($tx:expr, $finishes:expr, $now:expr) => {{
        let finishes: &[&WorkFinish] = $finishes;
        let now: DateTime<Utc> = $now;
        let (done, again): (Vec<&WorkFinish>, Vec<&WorkFinish>) =
            finishes.iter().partition(|f| f.retry_at.is_none());
        for chunk in done.chunks(ROWS_PER_STATEMENT) {
            FinishRows::finish_rows(&mut *$tx, chunk, now).await?;
        }
        // Rare (processor trouble): one statement each.
        for f in again {
            let (at, card) = match &f.charged {
                Some(c) => (Some(c.at), c.card_fingerprint.as_deref()),
                None => (None, None),
            };
            sqlx::query("update case_work set claimed_at = null, result = $2, due_at = $3, updated_at = $4,
                    executed_at = coalesce(executed_at, $5), card_fingerprint = coalesce($6, card_fingerprint)
                 where id = $1 and state = 'pending' and claimed_at is not null")
                .bind(&f.id).bind(&f.result).bind(f.retry_at).bind(now).bind(at).bind(card)
                .execute(&mut *$tx).await?;
        }
    }};
}

/// Versioned update of cases in one statement, returning `(id, version)` of those written: per
/// case its id, the version it must be at, and the 13 columns a save changes.
trait UpdateCases {
    fn update_cases(
        &mut self,
        chunk: &[(i64, &CaseSave)],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<(String, i64)>>> + Send;
}

/// The columns a save sets, `v` being the row of new values.
const CASE_SETS: &str = "customer_email = v.customer_email, customer_name = v.customer_name,
    subscription_id = v.subscription_id, amount_due = v.amount_due, currency = v.currency,
    decline_code = v.decline_code, status = v.status, sub_state = v.sub_state,
    recovered_by = v.recovered_by, opened_at = v.opened_at, closed_at = v.closed_at, state = v.state,
    version = v.version";

impl UpdateCases for sqlx::SqliteConnection {
    /// `update … from (values …)`: SQLite has no arrays. The text varies with the number of rows,
    /// so it is not kept prepared.
    async fn update_cases(
        &mut self,
        chunk: &[(i64, &CaseSave)],
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, i64)>> {
        let sql = format!(
            "update cases set {CASE_SETS}, updated_at = $1
             from (select column1 as id, column2 as expected, column3 as customer_email,
                     column4 as customer_name, column5 as subscription_id, column6 as amount_due,
                     column7 as currency, column8 as decline_code, column9 as status,
                     column10 as sub_state, column11 as recovered_by, column12 as opened_at,
                     column13 as closed_at, column14 as state, column15 as version
                   from (values {})) as v
             where cases.id = v.id and cases.version = v.expected
             returning cases.id, cases.version",
            super::cases::value_rows(2, chunk.len(), 15)
        );
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .persistent(false)
            .bind(now);
        for (expected, save) in chunk {
            let row = &save.row;
            q = q
                .bind(&row.id)
                .bind(expected)
                .bind(&row.customer_email)
                .bind(&row.customer_name)
                .bind(&row.subscription_id)
                .bind(row.amount_due)
                .bind(&row.currency)
                .bind(&row.decline_code)
                .bind(&row.status)
                .bind(&row.sub_state)
                .bind(&row.recovered_by)
                .bind(row.opened_at)
                .bind(row.closed_at)
                .bind(&row.state)
                .bind(row.version);
        }
        Ok(q.fetch_all(self).await?)
    }
}

impl UpdateCases for sqlx::PgConnection {
    /// The new values as one array per column: the same text for any number of rows, so it is
    /// prepared once per connection instead of parsed and planned for every batch (with 32 cases
    /// of 15 values, parsing and planning cost PostgreSQL a third as much as the update itself).
    async fn update_cases(
        &mut self,
        chunk: &[(i64, &CaseSave)],
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, i64)>> {
        fn col<'a, T>(chunk: &[(i64, &'a CaseSave)], f: impl Fn(&'a CaseRow) -> T) -> Vec<T> {
            chunk.iter().map(|(_, s)| f(&s.row)).collect()
        }
        let sql = format!(
            "update cases set {CASE_SETS}, updated_at = $1
             from unnest($2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::bigint[],
                         $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
                         $13::timestamptz[], $14::timestamptz[], $15::text[], $16::bigint[])
                  as v(id, expected, customer_email, customer_name, subscription_id, amount_due,
                       currency, decline_code, status, sub_state, recovered_by, opened_at,
                       closed_at, state, version)
             where cases.id = v.id and cases.version = v.expected
             returning cases.id, cases.version"
        );
        let expected: Vec<i64> = chunk.iter().map(|(e, _)| *e).collect();
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(col(chunk, |r| r.id.as_str()))
            .bind(expected)
            .bind(col(chunk, |r| r.customer_email.as_deref()))
            .bind(col(chunk, |r| r.customer_name.as_deref()))
            .bind(col(chunk, |r| r.subscription_id.as_deref()))
            .bind(col(chunk, |r| r.amount_due))
            .bind(col(chunk, |r| r.currency.as_str()))
            .bind(col(chunk, |r| r.decline_code.as_deref()))
            .bind(col(chunk, |r| r.status.as_str()))
            .bind(col(chunk, |r| r.sub_state.as_deref()))
            .bind(col(chunk, |r| r.recovered_by.as_deref()))
            .bind(col(chunk, |r| r.opened_at))
            .bind(col(chunk, |r| r.closed_at))
            .bind(col(chunk, |r| r.state.as_str()))
            .bind(col(chunk, |r| r.version))
            .fetch_all(self)
            .await?)
    }
}

/// The case updates of a batch, one per case: several runs of one batch on the same case chain
/// (each save expects the version the one before it wrote), and the chain is written as one update of
/// its last state, checked against the version its first save expected. Writing each link would not
/// work: the links' version checks all see the row as it was before the statement, so only the first
/// could match.
struct Chains<'a> {
    /// Per case: the version its chain expects, and its last save.
    updates: Vec<(i64, &'a CaseSave)>,
    /// Per case: the versions its chain's saves write, the last one last.
    links: HashMap<&'a str, Vec<i64>>,
}

impl<'a> Chains<'a> {
    fn of(items: &'a [WorkCommit]) -> Self {
        let mut at: HashMap<&str, usize> = HashMap::new();
        let mut chains = Chains {
            updates: Vec::new(),
            links: HashMap::new(),
        };
        for save in items.iter().filter_map(|i| i.save.as_ref()) {
            let Some(expected) = save.expected_version else {
                continue;
            };
            let id = save.row.id.as_str();
            match at.get(id) {
                Some(&i) if chains.updates[i].1.row.version == expected => {
                    chains.updates[i].1 = save
                }
                // Not a link of the chain (a version no write of this batch leaves): not written.
                Some(_) => continue,
                None => {
                    at.insert(id, chains.updates.len());
                    chains.updates.push((expected, save));
                }
            }
            chains.links.entry(id).or_default().push(save.row.version);
        }
        chains
    }

    /// Whether `save` was written: it is a link of its case's chain, and the chain's update matched.
    fn written(&self, save: &CaseSave, updated: &HashSet<(String, i64)>) -> bool {
        self.links.get(save.row.id.as_str()).is_some_and(|v| {
            v.contains(&save.row.version)
                && v.last()
                    .is_some_and(|&last| updated.contains(&(save.row.id.clone(), last)))
        })
    }
}

impl Store {
    /// Saves a case (insert when `expected_version` is `None`) with its timeline entries and work
    /// changes in one transaction. Returns `false`, changing nothing, when the stored version moved
    /// on (or the case was inserted by someone else): the caller reloads and re-applies.
    pub async fn save_case(&self, save: &CaseSave, now: DateTime<Utc>) -> Result<bool> {
        dispatch!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            if !write_case_row!(tx, save, now) {
                tx.rollback().await?;
                return Ok(false);
            }
            write_case_details!(tx, &[save], &timeline_of(&[save]), now);
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Commits a batch of runs in one transaction: each one's case write and the end of its work
    /// row, except where that case's version moved on (then neither is written), and how the batch's
    /// messages went (always written). Returns, per item, whether it was written; the caller
    /// re-applies the others one by one.
    pub async fn commit_work(
        &self,
        items: &[WorkCommit],
        messages: &[MessageFinish],
        now: DateTime<Utc>,
    ) -> Result<Vec<bool>> {
        let chains = Chains::of(items);
        let updates = &chains.updates;
        dispatch!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            // Updates (the usual case) in one statement per chunk, one row per case.
            let mut updated: HashSet<(String, i64)> = HashSet::new();
            for chunk in updates.chunks(WIDE_ROWS_PER_STATEMENT) {
                updated.extend((*tx).update_cases(chunk, now).await?);
            }
            let mut written = Vec::with_capacity(items.len());
            let mut saves = Vec::new();
            let mut timeline: Vec<(&str, &TimelineRow)> = Vec::new();
            let mut finishes = Vec::new();
            for item in items {
                let ok = match &item.save {
                    Some(save) if save.expected_version.is_none() => write_case_row!(tx, save, now),
                    Some(save) => chains.written(save, &updated),
                    None => true,
                };
                if ok {
                    if let Some(save) = &item.save {
                        saves.push(save);
                        timeline.extend(save.timeline.iter().map(|t| (save.row.id.as_str(), t)));
                    }
                    timeline.extend(item.note.iter().map(|(case_id, t)| (case_id.as_str(), t)));
                    finishes.push(&item.finish);
                }
                written.push(ok);
            }
            write_case_details!(tx, &saves, &timeline, now);
            finish_rows!(tx, &finishes, now);
            finish_message_rows!(tx, messages, now);
            tx.commit().await?;
            Ok(written)
        })
    }

    /// Ends one claimed row outside a batch.
    pub async fn finish_work(&self, finish: &WorkFinish, now: DateTime<Utc>) -> Result<()> {
        dispatch!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            finish_rows!(tx, &[finish], now);
            tx.commit().await
        })?;
        Ok(())
    }

    /// Before a batch's emails are sent, in one commit: claims their messages in the outbox (see
    /// [`Store::claim_messages`]). Returns a claim per message.
    ///
    /// Charges need no such commit: their rows are claimed before the call, so a crash
    /// leaves them to be run again, re-reading the invoice and re-sending the same Idempotency-Key
    /// (the processor answers a re-send with the first outcome); the finish records the charge.
    pub async fn start_sends(
        &self,
        messages: &[&NewMessage],
        now: DateTime<Utc>,
    ) -> Result<Vec<Claim>> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        dispatch!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let claims = claim_rows!(tx, messages, now);
            tx.commit().await?;
            Ok(claims)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn save(work: Vec<WorkChange>) -> CaseSave {
        let now = Utc::now();
        CaseSave {
            row: CaseRow {
                id: "case".into(),
                tenant_id: "t".into(),
                invoice_id: "in".into(),
                customer_id: "cus".into(),
                customer_email: None,
                customer_name: None,
                subscription_id: None,
                amount_due: 100,
                currency: "usd".into(),
                decline_code: None,
                status: "open".into(),
                sub_state: None,
                recovered_by: None,
                campaign_id: "default".into(),
                campaign_version: 1,
                opened_at: None,
                closed_at: None,
                state: String::new(),
                version: 1,
                created_at: now,
                updated_at: now,
            },
            expected_version: Some(0),
            timeline: Vec::new(),
            work,
        }
    }

    fn up(id: &str, detail: &str) -> WorkChange {
        WorkChange::Upsert {
            id: id.into(),
            kind: "retry",
            due_at: Utc::now(),
            detail: detail.into(),
            card_fingerprint: None,
        }
    }

    fn cancel(id: &str) -> WorkChange {
        WorkChange::Cancel {
            ids: vec![id.into()],
        }
    }

    fn net(saves: &[CaseSave]) -> (Vec<(String, String)>, Vec<String>) {
        let refs: Vec<&CaseSave> = saves.iter().collect();
        let (ups, cancels) = net_work(&refs);
        (
            ups.iter()
                .map(|u| (u.id.to_string(), u.detail.to_string()))
                .collect(),
            cancels.iter().map(|c| c.to_string()).collect(),
        )
    }

    #[test]
    fn a_row_changed_by_several_saves_ends_as_the_changes_in_order_would_leave_it() {
        // Upsert then cancel: the cancel still applies after the upsert.
        let (ups, cancels) = net(&[save(vec![up("a", "1")]), save(vec![cancel("a")])]);
        assert_eq!(ups, [("a".into(), "1".into())]);
        assert_eq!(cancels, ["a"]);
        // Cancel then upsert: the upsert revives the row; nothing is canceled.
        let (ups, cancels) = net(&[save(vec![cancel("b")]), save(vec![up("b", "2")])]);
        assert_eq!(ups, [("b".into(), "2".into())]);
        assert!(cancels.is_empty());
        // Two upserts: one row, the later values (one statement cannot touch a row twice).
        let (ups, _) = net(&[save(vec![up("c", "1"), up("c", "2")])]);
        assert_eq!(ups, [("c".into(), "2".into())]);
        // Untouched rows keep their first-seen order.
        let (ups, cancels) = net(&[save(vec![up("x", "1"), cancel("y"), up("z", "1")])]);
        let ids: Vec<_> = ups.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["x", "z"]);
        assert_eq!(cancels, ["y"]);
    }
    fn commit(expected: i64, version: i64) -> WorkCommit {
        let mut s = save(Vec::new());
        s.expected_version = Some(expected);
        s.row.version = version;
        WorkCommit {
            save: Some(s),
            note: None,
            finish: WorkFinish {
                id: format!("w{version}"),
                result: "done".into(),
                retry_at: None,
                charged: None,
            },
        }
    }

    #[test]
    fn saves_of_one_case_in_a_batch_are_one_update_of_the_last_state() {
        // Two runs chained on one case (0 -> 1 -> 2), and a save that is not a link of the chain.
        let items = [commit(0, 1), commit(1, 2), commit(7, 8)];
        let chains = Chains::of(&items);
        assert_eq!(chains.updates.len(), 1);
        let (expected, last) = chains.updates[0];
        assert_eq!((expected, last.row.version), (0, 2));
        let saves: Vec<&CaseSave> = items.iter().filter_map(|i| i.save.as_ref()).collect();
        let matched: HashSet<(String, i64)> = [("case".to_string(), 2)].into();
        let written: Vec<bool> = saves.iter().map(|s| chains.written(s, &matched)).collect();
        assert_eq!(written, [true, true, false]);
        // The chain's update lost its version check: none of its saves is written.
        let written: Vec<bool> = saves
            .iter()
            .map(|s| chains.written(s, &HashSet::new()))
            .collect();
        assert_eq!(written, [false, false, false]);
    }
}
