//! Executes scheduled work when its (service) time comes: charge attempts through the processor's API,
//! timers fed back to the case, and the campaign's end action. Each row is claimed before it runs and
//! every processor call carries the row's id as its Idempotency-Key, so a re-run never acts twice.
//!
//! Work runs in batches (one apalis task each): the rows are claimed in one statement, run
//! concurrently (at most `work_concurrency` in flight across batches), the messages among them put in
//! the outbox in one commit before any is sent, and every outcome (with how each message went, and
//! the charges sent) committed in one transaction. Outcomes whose case changed meanwhile are
//! re-applied one by one.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;
use secrecy::SecretString;

use crate::app::AppState;
use crate::domain::campaign::EndAction;
use crate::domain::case::{
    self, AttemptResult, AttemptState, Case, CaseEvent, EventKind, Notice, PaidVia, Timer,
};
use crate::domain::network;
use crate::jobs::process_event::ProcessError;
use crate::providers::api::{ApiFailure, Credentials, InvoiceState, PauseBehavior, PayResult};
use crate::store::cases::{CaseRow, Charged, WorkCommit, WorkFinish, WorkRow};
use crate::store::messages::{Claim, MessageFinish, Recipients};
use crate::store::tenants::TenantRow;

use super::messaging::{Decided, MessageStep, Outgoing};

use super::{campaign_version, card_histories, feed, fingerprint, persist, transient};

/// Re-sends of an uncertain charge (same key) before the outcome is reported as uncertain.
const MAX_RUNS: i64 = 6;

/// What one run decided: the event it feeds to its case, if any, and how its row ends.
struct Effect {
    work: WorkRow,
    tenant_id: String,
    invoice_id: String,
    event: Option<CaseEvent>,
    result: String,
    retry_at: Option<DateTime<Utc>>,
    /// The charge this run sent, if any.
    charged: Option<Charged>,
}

/// A charge cleared to be sent (its row is claimed).
struct Charge {
    work: WorkRow,
    tenant_id: String,
    invoice_id: String,
    creds: Credentials,
    fingerprint: Option<String>,
}

/// An email step cleared to send once the outbox has its message.
struct Mail {
    work: WorkRow,
    tenant_id: String,
    invoice_id: String,
    outgoing: Outgoing,
}

// The variants are large and short-lived (one per row of a batch); boxing buys nothing.
#[allow(clippy::large_enum_variant)]
enum Next {
    Done(Effect),
    Pay(Charge),
    Mail(Mail),
}

impl Effect {
    fn finish(&self) -> WorkFinish {
        WorkFinish {
            id: self.work.id.clone(),
            result: self.result.clone(),
            retry_at: self.retry_at,
            charged: self.charged.clone(),
        }
    }
}

fn effect(
    w: &WorkRow,
    case: &Case,
    tenant_id: &str,
    event: Option<CaseEvent>,
    result: impl Into<String>,
    retry_at: Option<DateTime<Utc>>,
) -> Next {
    Next::Done(Effect {
        work: w.clone(),
        tenant_id: tenant_id.to_string(),
        invoice_id: case.invoice_id.clone(),
        event,
        result: result.into(),
        retry_at,
        charged: None,
    })
}

/// Runs the batch's rows that are still queued. Rows whose run fails are released to be retried;
/// an error is returned only when nothing could be committed (the caller releases the batch).
pub async fn execute_batch(state: &AppState, ids: &[String]) -> Result<(), ProcessError> {
    let now = state.clock.now();
    let stale = Utc::now()
        - Duration::from_std(state.settings.orphan_timeout).unwrap_or(Duration::seconds(60));
    // `claim_work` compares `claimed_at` (service time) with a real-time staleness bound only for
    // rows left claimed by a crash; with a frozen test clock such rows wait for a restart.
    let claimed = state
        .store
        .claim_work(ids, now, stale.min(now - Duration::seconds(60)))
        .await
        .map_err(transient)?;
    if claimed.is_empty() {
        return Ok(());
    }
    let case_ids = distinct(claimed.iter().map(|w| w.case_id.clone()));
    let mut cases: HashMap<String, (CaseRow, Case)> = HashMap::new();
    for row in state
        .store
        .cases_by_ids(&case_ids)
        .await
        .map_err(transient)?
    {
        let mut row = row;
        // The parsed state is what is used (and a save writes it anew): the text is not kept.
        let text = std::mem::take(&mut row.state);
        let case: Case = serde_json::from_str(&text).map_err(|e| {
            ProcessError::Permanent(format!("stored case {} is unreadable: {e}", row.id))
        })?;
        cases.insert(row.id.clone(), (row, case));
    }
    // Network limits count every attempt on a card, across cases: read them for the whole batch.
    let fingerprints = distinct(cases.values().filter_map(|(_, c)| fingerprint(c)));
    // Independent reads: on PostgreSQL each takes its own connection, and a batch waits for one.
    let (mut history, known) = futures::try_join!(
        card_histories(state, &fingerprints, now),
        recipients(state, &claimed, &cases, now),
    )?;
    let prepared = join_all(claimed.into_iter().map(|w| {
        let case = cases.get(&w.case_id);
        let (history, known) = (&history, &known);
        async move {
            let _slot = state.work_slots.acquire().await;
            let (id, runs) = (w.id.clone(), w.runs);
            (id, runs, prepare(state, w, case, history, known).await)
        }
    }))
    .await;
    let mut effects = Vec::new();
    let mut charges = Vec::new();
    let mut mails = Vec::new();
    for (id, runs, next) in prepared {
        match next {
            Ok(Next::Done(e)) => effects.push(e),
            Ok(Next::Pay(c)) => charges.push(c),
            Ok(Next::Mail(m)) => mails.push(m),
            Err(e) => release(state, &id, runs, &e).await,
        }
    }
    let sent = send_all(state, charges, mails, now).await;
    effects.extend(sent.effects);
    // The cases' next plans see the batch's own charges among the cards' attempts.
    for (fp, at) in sent.charged {
        let h = history.entry(fp).or_default();
        h.push(at);
        h.sort();
    }
    let read = Read {
        cases: &cases,
        history: &history,
    };
    commit(state, effects, &sent.messages, read).await
}

/// What the batch read at its start, which its commit plans against: a case whose stored version
/// moved on meanwhile fails the commit's version check and is re-applied alone.
struct Read<'a> {
    /// The batch's cases as read (their parsed state is reused).
    cases: &'a HashMap<String, (CaseRow, Case)>,
    /// Attempts per card, with the batch's own charges.
    history: &'a HashMap<String, Vec<DateTime<Utc>>>,
}

async fn pending_work(
    state: &AppState,
    case_ids: &[String],
) -> Result<HashMap<String, Vec<String>>, ProcessError> {
    let mut pending: HashMap<String, Vec<String>> = HashMap::new();
    for (case_id, id) in state
        .store
        .pending_work_of_cases(case_ids)
        .await
        .map_err(transient)?
    {
        pending.entry(case_id).or_default().push(id);
    }
    Ok(pending)
}

/// What the batch's calls came to: an effect per charge and email, and how each message went.
#[derive(Default)]
struct Sent {
    effects: Vec<Effect>,
    messages: Vec<MessageFinish>,
    /// A first charge on each card, and when it was marked as sent.
    charged: Vec<(String, DateTime<Utc>)>,
}

/// Claims the messages in one commit, then makes the calls. When that commit fails, no email is
/// sent and their rows are released; the charges go ahead (their rows are claimed).
async fn send_all(
    state: &AppState,
    charges: Vec<Charge>,
    mails: Vec<Mail>,
    now: DateTime<Utc>,
) -> Sent {
    if charges.is_empty() && mails.is_empty() {
        return Sent::default();
    }
    let outbox: Vec<_> = mails.iter().map(|m| &m.outgoing.message).collect();
    let mails = match state.store.start_sends(&outbox, now).await {
        Ok(claims) => mails.into_iter().zip(claims).collect(),
        Err(e) => {
            let e = transient(e);
            for m in &mails {
                release(state, &m.work.id, m.work.runs, &e).await;
            }
            Vec::new()
        }
    };
    let charged = charges
        .iter()
        .filter(|c| c.work.executed_at.is_none())
        .filter_map(|c| Some((c.fingerprint.clone()?, now)))
        .collect();
    let paid = join_all(charges.into_iter().map(|c| async move {
        let _slot = state.work_slots.acquire().await;
        pay(state, c, now).await
    }));
    let mailed = join_all(mails.into_iter().map(|(m, claim)| async move {
        let _slot = state.work_slots.acquire().await;
        mail(state, m, claim).await
    }));
    let (paid, mailed) = futures::join!(paid, mailed);
    let mut sent = Sent {
        effects: paid,
        messages: Vec::new(),
        charged,
    };
    for (effect, finish) in mailed {
        sent.effects.push(effect);
        sent.messages.extend(finish);
    }
    sent
}

/// Sends one claimed email step's message.
async fn mail(state: &AppState, m: Mail, claim: Claim) -> (Effect, Option<MessageFinish>) {
    let ((event, result, retry_at), finish) =
        super::messaging::send(state, &m.work, m.outgoing, claim).await;
    let effect = Effect {
        tenant_id: m.tenant_id,
        invoice_id: m.invoice_id,
        event,
        result,
        retry_at,
        charged: None,
        work: m.work,
    };
    (effect, finish)
}

/// The outbox's view of the recipients of the batch's email steps, per tenant: one read per tenant
/// instead of two per email.
async fn recipients(
    state: &AppState,
    claimed: &[WorkRow],
    cases: &HashMap<String, (CaseRow, Case)>,
    now: DateTime<Utc>,
) -> Result<HashMap<String, Recipients>, ProcessError> {
    let mut wanted: HashMap<&str, (Vec<String>, Vec<String>)> = HashMap::new();
    for w in claimed
        .iter()
        .filter(|w| w.kind == "email" || w.kind == "notice")
    {
        if let Some((row, case)) = cases.get(&w.case_id) {
            let (customers, addresses) = wanted.entry(row.tenant_id.as_str()).or_default();
            customers.push(case.customer_id.clone());
            addresses.extend(super::messaging::recipient(row).map(str::to_string));
        }
    }
    let mut known = HashMap::new();
    for (tenant_id, (customers, addresses)) in wanted {
        let (customers, addresses) = (
            distinct(customers.into_iter()),
            distinct(addresses.into_iter()),
        );
        let mut r = state
            .store
            .recipients(tenant_id, &customers, &addresses, now - Duration::days(7))
            .await
            .map_err(transient)?;
        r.templates = state
            .store
            .email_templates(tenant_id)
            .await
            .map_err(transient)?;
        known.insert(tenant_id.to_string(), r);
    }
    Ok(known)
}

fn distinct(ids: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = ids.collect();
    v.sort();
    v.dedup();
    v
}

/// Puts a row whose run failed back as pending, after a backoff: an error that persists (a bug, a
/// database problem) must not turn into a loop that re-runs the row as fast as it can.
async fn release(state: &AppState, id: &str, runs: i64, e: &ProcessError) {
    let at = later(state, runs);
    tracing::warn!(work = %id, error = %e, retry_at = %at, "case work failed; released to run again");
    if let Err(e) = state.store.release_work(id, at, state.clock.now()).await {
        tracing::warn!(work = %id, error = %e, "releasing case work failed; its lease will expire");
    }
}

/// Decides one claimed row up to the charge: everything but the `pay` call itself.
async fn prepare(
    state: &AppState,
    w: WorkRow,
    case: Option<&(CaseRow, Case)>,
    history: &HashMap<String, Vec<DateTime<Utc>>>,
    known: &HashMap<String, Recipients>,
) -> Result<Next, ProcessError> {
    let Some((row, case)) = case else {
        return Ok(Next::Done(Effect {
            tenant_id: w.tenant_id.clone(),
            invoice_id: String::new(),
            event: None,
            result: "case not found".into(),
            retry_at: None,
            charged: None,
            work: w,
        }));
    };
    let tenant = state
        .tenant_cache
        .get(&state.store, &row.tenant_id)
        .await
        .map_err(transient)?
        .ok_or_else(|| ProcessError::Permanent("tenant gone".into()))?;
    let detail: serde_json::Value = serde_json::from_str(&w.detail).unwrap_or_default();
    // Each kind's future is boxed: unboxed, this one would be as large as the largest of them (17 KB,
    // with the processor calls inside), and a batch moved 64 of them several times over.
    match w.kind.as_str() {
        "retry" => Box::pin(retry(state, &tenant, case, &w, history)).await,
        "timer" => {
            let timer: Timer = serde_json::from_value(detail["timer"].clone())
                .map_err(|e| ProcessError::Permanent(e.to_string()))?;
            let event = CaseEvent {
                id: format!("{}/fired", w.id),
                occurred_at: w.due_at,
                kind: EventKind::TimerFired { timer },
            };
            Ok(effect(&w, case, &tenant.id, Some(event), "fired", None))
        }
        "end_action" => {
            let action: EndAction = serde_json::from_value(detail["action"].clone())
                .map_err(|e| ProcessError::Permanent(e.to_string()))?;
            Box::pin(end_action(state, &tenant, case, &w, action)).await
        }
        "email" | "notice" => {
            let step = if w.kind == "email" {
                let level = detail["level"].as_u64().unwrap_or(1).min(9) as u8;
                MessageStep::Level(level)
            } else {
                let notice: Notice = serde_json::from_value(detail["notice"].clone())
                    .map_err(|e| ProcessError::Permanent(e.to_string()))?;
                MessageStep::Notice(notice)
            };
            let none = Recipients::default();
            let known = known.get(&tenant.id).unwrap_or(&none);
            let email = super::messaging::email(state, &tenant, row, case, &w, step, known);
            match Box::pin(email).await? {
                Decided::End((event, result, retry_at)) => {
                    Ok(effect(&w, case, &tenant.id, event, result, retry_at))
                }
                Decided::Send(outgoing) => Ok(Next::Mail(Mail {
                    tenant_id: tenant.id.clone(),
                    invoice_id: case.invoice_id.clone(),
                    outgoing,
                    work: w,
                })),
            }
        }
        "task" => {
            let task_note = detail["note"].as_str().unwrap_or("").to_string();
            let (event, result, retry_at) = Box::pin(super::tasks::task(
                state, &tenant, row, case, &w, &task_note,
            ))
            .await?;
            Ok(effect(&w, case, &tenant.id, event, result, retry_at))
        }
        "sms" => {
            let (event, result, retry_at) =
                Box::pin(super::sms::sms(state, &tenant, case, &w)).await?;
            Ok(effect(&w, case, &tenant.id, event, result, retry_at))
        }
        // A kind this version does not deliver: recorded as due so the plan is visible on the case.
        _ => Ok(effect(
            &w,
            case,
            &tenant.id,
            None,
            "due (delivery is not configured)",
            None,
        )),
    }
}

/// Commits the batch's effects together; re-applies one by one those whose case moved on.
async fn commit(
    state: &AppState,
    effects: Vec<Effect>,
    messages: &[MessageFinish],
    read: Read<'_>,
) -> Result<(), ProcessError> {
    if effects.is_empty() {
        return Ok(());
    }
    let now = state.clock.now();
    let items = match plan_commit(state, &effects, read, now).await {
        Ok(items) => items,
        Err(e) => {
            finish_messages_alone(state, messages).await;
            for eff in &effects {
                release(state, &eff.work.id, eff.work.runs, &e).await;
            }
            return Ok(());
        }
    };
    let written = match state.store.commit_work(&items, messages, now).await {
        Ok(w) => w,
        Err(e) => {
            finish_messages_alone(state, messages).await;
            let e = transient(e);
            for eff in &effects {
                release(state, &eff.work.id, eff.work.runs, &e).await;
            }
            return Ok(());
        }
    };
    for (eff, ok) in effects.iter().zip(written) {
        if !ok && let Err(e) = apply_alone(state, eff).await {
            release(state, &eff.work.id, eff.work.runs, &e).await;
        }
    }
    Ok(())
}

/// Records how the batch's messages went when its commit could not: a message left `sending` is
/// never sent again (its fate becomes `unknown`), which is safe but loses what is known.
async fn finish_messages_alone(state: &AppState, messages: &[MessageFinish]) {
    if messages.is_empty() {
        return;
    }
    if let Err(e) = state
        .store
        .finish_messages(messages, state.clock.now())
        .await
    {
        tracing::warn!(error = %e, "recording sent messages failed; a re-run will not send them again");
    }
}

/// Turns each effect into its write against the cases as the batch read them. Several effects on
/// one case chain: each applies to the case as the previous one left it. A case saved by someone
/// else meanwhile fails the write's version check, and its effect is re-applied alone.
///
/// The state machine runs first; only the cases it tells to cancel their pending steps have those
/// read (a cancel names the rows), which is a case in five or six, not every case of the batch.
async fn plan_commit(
    state: &AppState,
    effects: &[Effect],
    read: Read<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<WorkCommit>, ProcessError> {
    let applied = apply_effects(state, effects, &read, now).await?;
    let cancelling = distinct(
        effects
            .iter()
            .zip(&applied)
            .filter(|(_, a)| a.as_ref().is_some_and(|(_, commands)| cancels(commands)))
            .map(|(eff, _)| eff.work.case_id.clone()),
    );
    let mut pending = if cancelling.is_empty() {
        HashMap::new()
    } else {
        pending_work(state, &cancelling).await?
    };
    // Each case's row as its last save left it, without its serialised state (kilobytes,
    // rewritten by any save).
    let mut rows: HashMap<&str, CaseRow> = HashMap::new();
    let mut items = Vec::with_capacity(effects.len());
    for (eff, applied) in effects.iter().zip(applied) {
        let finish = eff.finish();
        let note = eff.event.as_ref().and_then(|e| case::timeline_only(e, now));
        if let Some(entry) = note.filter(|_| read.cases.contains_key(&eff.work.case_id)) {
            let note = Some((eff.work.case_id.clone(), persist::timeline_row(&entry)));
            items.push(WorkCommit {
                save: None,
                note,
                finish,
            });
            continue;
        }
        let id = eff.work.case_id.as_str();
        let save = match (applied, read.cases.get(id)) {
            (Some((next, commands)), Some((read_row, _))) => {
                let row = rows.remove(id).unwrap_or_else(|| read_row.clone());
                let version = row.version;
                let ids = pending.remove(id).unwrap_or_default();
                let (mut save, live) =
                    persist::case_save(row, Some(version), &next, &commands, &ids, now);
                let json = std::mem::take(&mut save.row.state);
                rows.insert(id, save.row.clone());
                save.row.state = json;
                pending.insert(id.to_string(), live);
                Some(save)
            }
            _ => None,
        };
        items.push(WorkCommit {
            save,
            note: None,
            finish,
        });
    }
    Ok(items)
}

/// Feeds each effect's event to its case, in order: the case as the batch read it, or as the
/// batch's previous effect on it left it. `None` for an effect that changes nothing (or has no
/// case, or only adds a line to the timeline).
async fn apply_effects(
    state: &AppState,
    effects: &[Effect],
    read: &Read<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<Option<(Case, Vec<case::Command>)>>, ProcessError> {
    let mut applied: Vec<Option<(Case, Vec<case::Command>)>> = Vec::with_capacity(effects.len());
    // Where each case's latest state is: the index of its last effect that changed it.
    let mut latest: HashMap<&str, usize> = HashMap::new();
    for eff in effects {
        let id = eff.work.case_id.as_str();
        let event = eff.event.as_ref().filter(|ev| !case::is_timeline_only(ev));
        let (Some(event), Some((_, read_case))) = (event, read.cases.get(id)) else {
            applied.push(None);
            continue;
        };
        let campaign = campaign_version(state, &eff.tenant_id, &read_case.campaign).await?;
        let mut case = match latest.get(id).and_then(|&i| applied[i].as_ref()) {
            Some((latest, _)) => latest.clone(),
            None => read_case.clone(),
        };
        if let Some(fp) = case.card.as_ref().and_then(|c| c.fingerprint.as_ref()) {
            case.card_history = read.history.get(fp).cloned().unwrap_or_default();
        }
        let (next, commands) = case::apply(&case, event, &campaign, now);
        if commands.is_empty() && next == case {
            applied.push(None);
        } else {
            latest.insert(id, applied.len());
            applied.push(Some((next, commands)));
        }
    }
    Ok(applied)
}

fn cancels(commands: &[case::Command]) -> bool {
    commands
        .iter()
        .any(|c| matches!(c, case::Command::CancelPendingSteps { .. }))
}

/// The slow path for an effect whose case changed under the batch: feed it alone, then finish.
async fn apply_alone(state: &AppState, eff: &Effect) -> Result<(), ProcessError> {
    if let Some(event) = &eff.event {
        let tenant = state
            .tenant_cache
            .get(&state.store, &eff.tenant_id)
            .await
            .map_err(transient)?
            .ok_or_else(|| ProcessError::Permanent("tenant gone".into()))?;
        feed(state, &tenant, &eff.invoice_id, None, event).await?;
    }
    state
        .store
        .finish_work(&eff.finish(), state.clock.now())
        .await
        .map_err(transient)
}

pub(super) fn credentials(
    state: &AppState,
    tenant: &TenantRow,
) -> Result<Credentials, ProcessError> {
    let enc = tenant
        .stripe_secret_key_enc
        .as_deref()
        .ok_or_else(|| ProcessError::Permanent("the tenant has no Stripe secret key".into()))?;
    let secret_key: SecretString = state
        .keys
        .decrypt(enc)
        .map_err(|e| ProcessError::Permanent(e.to_string()))?;
    Ok(Credentials {
        secret_key,
        api_base: tenant.stripe_api_base.clone(),
    })
}

/// Backoff for processor trouble: it never consumes a dunning attempt.
fn later(state: &AppState, runs: i64) -> DateTime<Utc> {
    state.clock.now() + Duration::seconds(30 * (1 << runs.clamp(0, 6)))
}

/// The event that closes the case when a re-read finds the invoice settled elsewhere (paid, voided,
/// uncollectible); `None` while it is still open.
pub(super) fn settled(
    w: &WorkRow,
    invoice: &InvoiceState,
    now: DateTime<Utc>,
) -> Option<CaseEvent> {
    let kind = match invoice {
        InvoiceState::Paid => EventKind::InvoicePaid {
            attempt_id: None,
            via: PaidVia::Unknown,
            attempt_count: None,
        },
        InvoiceState::Void => EventKind::InvoiceVoided,
        InvoiceState::Uncollectible => EventKind::InvoiceUncollectible,
        _ => return None,
    };
    Some(CaseEvent {
        id: format!("{}/settled", w.id),
        occurred_at: now,
        kind,
    })
}

fn outcome(w: &WorkRow, now: DateTime<Utc>, result: AttemptResult) -> CaseEvent {
    CaseEvent {
        id: format!("{}/outcome/{}", w.id, w.runs),
        occurred_at: now,
        kind: EventKind::AttemptOutcome {
            attempt_id: w.id.clone(),
            result,
        },
    }
}

async fn retry(
    state: &AppState,
    tenant: &TenantRow,
    case: &Case,
    w: &WorkRow,
    history: &HashMap<String, Vec<DateTime<Utc>>>,
) -> Result<Next, ProcessError> {
    let t = tenant.id.as_str();
    let planned = case.attempts.iter().any(|a| {
        a.id == w.id && matches!(a.state, AttemptState::Planned | AttemptState::Uncertain)
    });
    if !planned || !case.is_open() {
        let note = "skipped: the case no longer plans this attempt";
        return Ok(effect(w, case, t, None, note, None));
    }
    let creds = credentials(state, tenant)?;
    // Re-read first: an invoice settled elsewhere must close the case, not be charged.
    let invoice = match state.processor.get_invoice(&creds, &case.invoice_id).await {
        Ok(i) => i,
        Err(e) => {
            let note = format!("invoice unreadable: {e}");
            return Ok(effect(w, case, t, None, note, Some(later(state, w.runs))));
        }
    };
    let now = state.clock.now();
    if let Some(event) = settled(w, &invoice, now) {
        let note = "not charged: the invoice was already settled";
        return Ok(effect(w, case, t, Some(event), note, None));
    }
    if case
        .attempts
        .iter()
        .any(|a| a.id == w.id && a.state == AttemptState::Uncertain)
    {
        // Re-read after the uncertain tries and still unpaid: that charge did not take. This key is
        // retired; the case plans a new attempt (a new key) without counting a failure.
        let result = AttemptResult::NotAttempted {
            reason: "the outcome stayed uncertain and the invoice is still unpaid".into(),
            not_before: None,
        };
        let note = "uncertain attempt resolved: the invoice is still unpaid";
        return Ok(effect(
            w,
            case,
            t,
            Some(outcome(w, now, result)),
            note,
            None,
        ));
    }
    let fingerprint = fingerprint(case);
    if let Some(fp) = &fingerprint {
        // This attempt's own earlier run (a re-send after a crash) is not another attempt.
        let history: Vec<_> = history
            .get(fp)
            .into_iter()
            .flatten()
            .copied()
            .filter(|t| w.executed_at != Some(*t))
            .collect();
        if let Err(limit) = network::allowed(&history, case.network(), now) {
            let not_before = match &limit {
                network::LimitReason::TooMany { next_allowed, .. } => Some(*next_allowed),
                _ => None,
            };
            let result = AttemptResult::NotAttempted {
                reason: format!("{limit:?}"),
                not_before,
            };
            let note = "not attempted: card-network limit";
            return Ok(effect(
                w,
                case,
                t,
                Some(outcome(w, now, result)),
                note,
                None,
            ));
        }
    }
    Ok(Next::Pay(Charge {
        work: w.clone(),
        tenant_id: tenant.id.clone(),
        invoice_id: case.invoice_id.clone(),
        creds,
        fingerprint,
    }))
}

/// Sends a claimed charge, with the row's id as its Idempotency-Key; `sent_at` is recorded on the
/// row as the attempt's time.
async fn pay(state: &AppState, c: Charge, sent_at: DateTime<Utc>) -> Effect {
    let w = &c.work;
    let paid = state
        .processor
        .pay_invoice(&c.creds, &c.invoice_id, &w.id)
        .await;
    let now = state.clock.now();
    let (event, note, retry_at) = match paid {
        Ok(PayResult::Paid) => (
            Some(outcome(w, now, AttemptResult::Succeeded)),
            "paid".to_string(),
            None,
        ),
        Ok(PayResult::Declined(d)) => {
            let note = format!(
                "declined: {}",
                d.decline_code
                    .as_deref()
                    .or(d.failure_code.as_deref())
                    .unwrap_or("card_declined")
            );
            let result = AttemptResult::Declined {
                decline: super::mapping::decline(&d),
            };
            (Some(outcome(w, now, result)), note, None)
        }
        Ok(PayResult::Uncertain {
            reason,
            retry_same_key,
        }) => uncertain(state, w, now, reason, retry_same_key),
        Err(ApiFailure::Transient {
            message,
            should_retry,
            ..
        }) => uncertain(state, w, now, message, should_retry != Some(false)),
        Err(ApiFailure::Permanent { message, .. }) => {
            let result = AttemptResult::NotAttempted {
                reason: message.clone(),
                not_before: None,
            };
            (
                Some(outcome(w, now, result)),
                format!("refused: {message}"),
                None,
            )
        }
    };
    Effect {
        tenant_id: c.tenant_id,
        invoice_id: c.invoice_id,
        event,
        result: note,
        retry_at,
        charged: Some(Charged {
            at: sent_at,
            card_fingerprint: c.fingerprint,
        }),
        work: c.work,
    }
}

/// A charge whose outcome is not known: re-sent later with the same key while that can still
/// change the answer, else recorded as uncertain and settled by re-reading the invoice first.
fn uncertain(
    state: &AppState,
    w: &WorkRow,
    now: DateTime<Utc>,
    reason: String,
    resend: bool,
) -> (Option<CaseEvent>, String, Option<DateTime<Utc>>) {
    if resend && w.runs < MAX_RUNS {
        (
            None,
            format!("uncertain: {reason}"),
            Some(later(state, w.runs)),
        )
    } else {
        (
            Some(outcome(w, now, AttemptResult::Uncertain)),
            format!("uncertain: {reason}; the invoice will be re-read"),
            Some(later(state, w.runs)),
        )
    }
}

async fn end_action(
    state: &AppState,
    tenant: &TenantRow,
    case: &Case,
    w: &WorkRow,
    action: EndAction,
) -> Result<Next, ProcessError> {
    let creds = credentials(state, tenant)?;
    let api = &state.processor;
    let key = w.id.as_str();
    let sub = case.subscription_id.as_deref();
    let done = match (action, sub) {
        (EndAction::CancelNow, Some(s)) => api.cancel_subscription(&creds, s, false, key).await,
        (EndAction::CancelAtPeriodEnd, Some(s)) => {
            api.cancel_subscription(&creds, s, true, key).await
        }
        (EndAction::PauseCollection, Some(s)) => {
            api.pause_collection(&creds, s, PauseBehavior::KeepAsDraft, key)
                .await
        }
        (EndAction::MarkUncollectible, _) => {
            api.mark_uncollectible(&creds, &case.invoice_id, key).await
        }
        (EndAction::LeavePastDue, _) => Ok(()),
        (_, None) => Ok(()),
    };
    let t = tenant.id.as_str();
    Ok(match done {
        Ok(()) => effect(w, case, t, None, format!("{action:?} done"), None),
        Err(ApiFailure::Transient { message, .. }) => effect(
            w,
            case,
            t,
            None,
            format!("will retry: {message}"),
            Some(later(state, w.runs)),
        ),
        Err(ApiFailure::Permanent { message, .. }) => {
            effect(w, case, t, None, format!("refused: {message}"), None)
        }
    })
}
