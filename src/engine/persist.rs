//! Turns the state machine's commands into rows: timeline entries and changes to scheduled work, and
//! the case's own columns.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::domain::case::{Case, Command, Status, SubState, TimelineEntry};
use crate::store::cases::{CaseRow, CaseSave, TimelineRow, WorkChange};

fn snake<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

pub fn timeline_row(t: &TimelineEntry) -> TimelineRow {
    TimelineRow {
        at: t.at,
        kind: snake(&t.kind),
        detail: t.detail.clone(),
    }
}

/// The write that records `next` and its `commands` over `row` (stored at `version`; `None` for a new
/// case), and the ids of the case's work not yet started once it is written. `pending_ids`: those ids
/// as stored before.
pub fn case_save(
    mut row: CaseRow,
    version: Option<i64>,
    next: &Case,
    commands: &[Command],
    pending_ids: &[String],
    now: DateTime<Utc>,
) -> (CaseSave, Vec<String>) {
    let (timeline, work, live) = changes(next, commands, pending_ids, now);
    fill_row(&mut row, next);
    row.version = version.unwrap_or(0) + 1;
    let save = CaseSave {
        row,
        expected_version: version,
        timeline,
        work,
    };
    (save, live)
}

fn changes(
    case: &Case,
    commands: &[Command],
    pending_ids: &[String],
    now: DateTime<Utc>,
) -> (Vec<TimelineRow>, Vec<WorkChange>, Vec<String>) {
    let mut timeline = Vec::new();
    let mut work = Vec::new();
    let mut live: Vec<String> = pending_ids.to_vec();
    let fingerprint = case.card.as_ref().and_then(|c| c.fingerprint.clone());
    let upsert = |work: &mut Vec<WorkChange>,
                  live: &mut Vec<String>,
                  id: &str,
                  kind,
                  due_at,
                  detail: serde_json::Value| {
        live.push(id.to_string());
        let card_fingerprint = if kind == "retry" {
            fingerprint.clone()
        } else {
            None
        };
        work.push(WorkChange::Upsert {
            id: id.to_string(),
            kind,
            due_at,
            detail: detail.to_string(),
            card_fingerprint,
        });
    };
    for c in commands {
        match c {
            Command::ScheduleRetry {
                attempt_id,
                ordinal,
                at,
                trigger,
                reasons,
            } => upsert(
                &mut work,
                &mut live,
                attempt_id,
                "retry",
                *at,
                json!({"ordinal": ordinal, "trigger": trigger, "reasons": reasons}),
            ),
            Command::CancelRetry { attempt_id, .. } => work.push(WorkChange::Cancel {
                ids: vec![attempt_id.clone()],
            }),
            Command::ScheduleEmail { step_id, level, at } => upsert(
                &mut work,
                &mut live,
                step_id,
                "email",
                *at,
                json!({"level": level}),
            ),
            Command::ScheduleSms { step_id, at } => {
                upsert(&mut work, &mut live, step_id, "sms", *at, json!({}))
            }
            Command::ScheduleTask { step_id, note, at } => upsert(
                &mut work,
                &mut live,
                step_id,
                "task",
                *at,
                json!({"note": note}),
            ),
            Command::ScheduleNotice {
                step_id,
                notice,
                at,
            } => upsert(
                &mut work,
                &mut live,
                step_id,
                "notice",
                *at,
                json!({"notice": notice}),
            ),
            Command::ScheduleTimer { step_id, timer, at } => upsert(
                &mut work,
                &mut live,
                step_id,
                "timer",
                *at,
                json!({"timer": timer}),
            ),
            Command::CancelPendingSteps { keep, .. } => {
                let ids: Vec<String> = live
                    .iter()
                    .filter(|id| !keep.contains(id))
                    .cloned()
                    .collect();
                live.retain(|id| keep.contains(id));
                if !ids.is_empty() {
                    work.push(WorkChange::Cancel { ids });
                }
            }
            Command::ExecuteEndAction { action } => {
                let id = format!("{}/end_action", case.id);
                upsert(
                    &mut work,
                    &mut live,
                    &id,
                    "end_action",
                    now,
                    json!({"action": action}),
                )
            }
            Command::Close { .. } => {}
            Command::Record(t) => timeline.push(timeline_row(t)),
        }
    }
    (timeline, work, live)
}

/// Refreshes the columns the API filters on from the case.
fn fill_row(row: &mut CaseRow, case: &Case) {
    let (status, sub_state) = match &case.status {
        Status::Pending => ("pending", None),
        Status::Open { sub_state } => ("open", Some(sub_state)),
        Status::Recovered => ("recovered", None),
        Status::Churned => ("churned", None),
        Status::Canceled => ("canceled", None),
        Status::WrittenOff => ("written_off", None),
    };
    row.status = status.to_string();
    row.sub_state = sub_state.map(|s: &SubState| snake(s));
    row.recovered_by = case.recovered_by.as_ref().map(snake);
    row.decline_code = case.latest_failure().and_then(|f| {
        f.decline
            .decline_code
            .clone()
            .or_else(|| f.decline.code.clone())
    });
    row.opened_at = case.opened_at;
    row.closed_at = case.closed_at;
    row.subscription_id = case.subscription_id.clone();
    row.state = serde_json::to_string(case).expect("a case serialises");
}
