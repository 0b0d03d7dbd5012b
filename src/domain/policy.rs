//! Smart retry timing: turns a campaign's retry step into a concrete time, in the customer's local
//! business hours, on likely paydays, inside network limits — and writes down every choice.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::calendar::{is_payday_or_just_after, is_weekend, local_to_utc, next_payday};
use super::campaign::ValidationError;
use super::decline::{Classification, SoftKind};
use super::network::{CardNetwork, NetworkLimits};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TimingSettings {
    /// Local hour from which retries may run (issuers approve more in business hours).
    pub business_start_hour: u32,
    /// Local hour at which the retry window closes (exclusive).
    pub business_end_hour: u32,
    pub avoid_weekends: bool,
    /// Minimum time between two attempts on the same card.
    pub min_gap_hours: u32,
    /// Gap after a decline code we do not know.
    pub cautious_gap_hours: u32,
    /// Move insufficient-funds retries to the 1st, the 15th or the last business day.
    pub paydays: bool,
    /// A retry this long after a card update (it almost always succeeds).
    pub card_update_delay_minutes: u32,
}

impl Default for TimingSettings {
    fn default() -> Self {
        Self {
            business_start_hour: 9,
            business_end_hour: 17,
            avoid_weekends: true,
            min_gap_hours: 20,
            cautious_gap_hours: 48,
            paydays: true,
            card_update_delay_minutes: 5,
        }
    }
}

impl TimingSettings {
    pub fn validate(&self) -> Vec<ValidationError> {
        let mut errs = Vec::new();
        let mut err = |path: &str, message: &str| {
            errs.push(ValidationError {
                path: path.into(),
                message: message.into(),
            })
        };
        if self.business_end_hour > 24 {
            err("business_end_hour", "must be at most 24");
        }
        if self.business_start_hour >= self.business_end_hour {
            err("business_start_hour", "must be before business_end_hour");
        }
        if self.min_gap_hours == 0 {
            err("min_gap_hours", "must be at least 1");
        }
        if self.cautious_gap_hours < self.min_gap_hours {
            err(
                "cautious_gap_hours",
                "must not be shorter than min_gap_hours",
            );
        }
        if self.card_update_delay_minutes > 24 * 60 {
            err("card_update_delay_minutes", "must be at most a day");
        }
        errs
    }
}

fn fmt_local(t: DateTime<Utc>, tz: Tz) -> String {
    format!(
        "{} {}",
        t.with_timezone(&tz).format("%Y-%m-%d %H:%M %a"),
        tz.name()
    )
}

fn start_of_window(date: NaiveDate, tz: Tz, s: &TimingSettings) -> DateTime<Utc> {
    let time = NaiveTime::from_hms_opt(s.business_start_hour.min(23), 0, 0).expect("valid hour");
    local_to_utc(tz, date.and_time(time))
}

/// Moves `at` into the local business window (and off weekends when asked).
fn into_business_hours(
    at: DateTime<Utc>,
    tz: Tz,
    s: &TimingSettings,
) -> (DateTime<Utc>, Option<String>) {
    let local = at.with_timezone(&tz);
    let (mut date, hour) = (local.date_naive(), chrono::Timelike::hour(&local));
    let mut moved = hour < s.business_start_hour;
    if hour >= s.business_end_hour {
        date = date.succ_opt().expect("date in range");
        moved = true;
    }
    let mut weekend = false;
    while s.avoid_weekends && is_weekend(date) {
        date = date.succ_opt().expect("date in range");
        (moved, weekend) = (true, true);
    }
    if !moved {
        return (at, None);
    }
    let new = start_of_window(date, tz, s);
    let why = if weekend {
        "moved off the weekend"
    } else {
        "moved into local business hours"
    };
    let window = format!(
        "{:02}:00–{:02}:00",
        s.business_start_hour, s.business_end_hour
    );
    (
        new,
        Some(format!("{why} ({window}): {}", fmt_local(new, tz))),
    )
}

/// Everything the policy looks at for one retry. `card_updated_at` is set only when the card changed
/// after the last failure: that retry ignores the old card's decline and runs within minutes.
#[derive(Debug, Clone)]
pub struct RetryInput<'a> {
    pub now: DateTime<Utc>,
    /// When the campaign step asks for the retry.
    pub nominal: DateTime<Utc>,
    pub last_failure: DateTime<Utc>,
    pub classification: &'a Classification,
    pub card_updated_at: Option<DateTime<Utc>>,
    /// Last attempt on this card (ours or the processor's), for the minimum gap.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The campaign's end: no retry after it.
    pub deadline: DateTime<Utc>,
    pub retries_used: u32,
    pub max_retries: u32,
    pub network: CardNetwork,
    /// Attempts on this card across all cases (see `network`).
    pub card_history: &'a [DateTime<Utc>],
    pub time_zone: Tz,
    pub settings: &'a TimingSettings,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryDecision {
    /// `None`: no retry; `reasons` says why.
    pub at: Option<DateTime<Utc>>,
    pub reasons: Vec<String>,
}

/// Plans one retry. Pure and deterministic: the same input gives the same time and reasons.
pub fn plan_retry(i: &RetryInput<'_>) -> RetryDecision {
    let (tz, s) = (i.time_zone, i.settings);
    let limits = NetworkLimits::for_network(i.network);
    let mut reasons = Vec::new();
    let no = |mut reasons: Vec<String>, why: String| {
        reasons.push(why);
        RetryDecision { at: None, reasons }
    };
    if let Some(updated) = i.card_updated_at {
        let mut at = i
            .now
            .max(updated + Duration::minutes(i64::from(s.card_update_delay_minutes)));
        reasons.push(match s.card_update_delay_minutes {
            0 => "card updated by the customer, who is waiting: retry at once".to_owned(),
            m => format!("card updated: retry within {m} minutes"),
        });
        let allowed = limits.earliest_allowed(i.card_history, at);
        if allowed > at {
            at = allowed;
            reasons.push(format!(
                "card-network limit for {:?}: waits until {}",
                i.network,
                fmt_local(at, tz)
            ));
        }
        return RetryDecision {
            at: Some(at),
            reasons,
        };
    }
    let class = i.classification;
    if !class.class.is_retryable() {
        return no(reasons, format!("no retry: {}", class.reason));
    }
    if class.never_approve && limits.stop_after_never_approve {
        return no(
            reasons,
            format!(
                "no retry: {:?} forbids retrying after a never-approve response",
                i.network
            ),
        );
    }
    if i.retries_used >= i.max_retries {
        return no(
            reasons,
            format!(
                "no retry: the campaign's {} retries are used",
                i.max_retries
            ),
        );
    }
    let mut at = i.nominal.max(i.now);
    reasons.push(format!("campaign step due {}", fmt_local(i.nominal, tz)));
    if at.with_timezone(&tz).date_naive() == i.last_failure.with_timezone(&tz).date_naive() {
        let next_day = i
            .last_failure
            .with_timezone(&tz)
            .date_naive()
            .succ_opt()
            .expect("date in range");
        at = start_of_window(next_day, tz, s);
        reasons.push("never on the failure's local day: moved to the next day".into());
    }
    let cautious = matches!(
        class.class,
        super::decline::DeclineClass::Soft(SoftKind::Unknown)
    );
    let gap = if cautious {
        s.cautious_gap_hours
    } else {
        s.min_gap_hours
    };
    let last = i
        .last_attempt_at
        .unwrap_or(i.last_failure)
        .max(i.last_failure);
    if last + Duration::hours(i64::from(gap)) > at {
        at = last + Duration::hours(i64::from(gap));
        let kind = if cautious {
            "cautious gap for an unknown decline"
        } else {
            "minimum gap"
        };
        reasons.push(format!("{kind} of {gap} h after the last attempt"));
    }
    if let Some(delay) = class.retry_after {
        let earliest = i.last_failure + Duration::seconds(delay.as_secs() as i64);
        if earliest > at {
            at = earliest;
            reasons.push(format!("network advice: not before {}", fmt_local(at, tz)));
        }
    }
    let payday =
        s.paydays && class.class == super::decline::DeclineClass::Soft(SoftKind::InsufficientFunds);
    let at_before_payday = at;
    let (mut at, mut why) = settle(at, payday, i, &limits);
    if payday && at > i.deadline {
        // No payday left before the end: a retry on an ordinary day beats no retry at all.
        let (plain, plain_why) = settle(at_before_payday, false, i, &limits);
        if plain <= i.deadline {
            why = plain_why;
            why.push("no payday before the campaign's end: kept an ordinary business day".into());
            at = plain;
        }
    }
    reasons.extend(why);
    if at > i.deadline {
        return no(
            reasons,
            format!(
                "no retry: {} is after the campaign's end {}",
                fmt_local(at, tz),
                fmt_local(i.deadline, tz)
            ),
        );
    }
    reasons.push(format!("retry planned {}", fmt_local(at, tz)));
    RetryDecision {
        at: Some(at),
        reasons,
    }
}

/// Moves `at` onto a payday (when asked), into business hours and inside network limits.
fn settle(
    mut at: DateTime<Utc>,
    payday: bool,
    i: &RetryInput<'_>,
    limits: &NetworkLimits,
) -> (DateTime<Utc>, Vec<String>) {
    let (tz, s) = (i.time_zone, i.settings);
    let mut reasons = Vec::new();
    // Each adjustment only moves later, so a few rounds reach a time that satisfies all of them.
    for _ in 0..8 {
        let before = at;
        if payday {
            let date = at.with_timezone(&tz).date_naive();
            if !is_payday_or_just_after(date) {
                let pay = next_payday(date);
                at = start_of_window(pay, tz, s);
                reasons.push(format!(
                    "insufficient funds: moved to the likely payday {pay}"
                ));
            }
        }
        let (moved, why) = into_business_hours(at, tz, s);
        at = moved;
        reasons.extend(why);
        let allowed = limits.earliest_allowed(i.card_history, at);
        if allowed > at {
            at = allowed;
            reasons.push(format!(
                "card-network limit for {:?}: waits until {}",
                i.network,
                fmt_local(at, tz)
            ));
        }
        if at == before {
            break;
        }
    }
    (at, reasons)
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
