//! Campaigns as data: versioned steps at local-time offsets from the first failure, segment rules
//! that choose a campaign for a case, and validation that says what is wrong and where.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use super::money::Money;
use super::policy::TimingSettings;

/// Whole local days plus hours after the first failure (after the grace period).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Offset {
    pub days: u32,
    #[serde(default)]
    pub hours: u32,
}

impl Offset {
    pub fn days(days: u32) -> Self {
        Self { days, hours: 0 }
    }
    fn total_hours(self) -> u64 {
        u64::from(self.days) * 24 + u64::from(self.hours)
    }
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "day {} + {} h", self.days, self.hours)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StepAction {
    Retry,
    Email {
        level: u8,
    },
    Sms,
    /// Hand to a person, e.g. call a large account.
    Task {
        note: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub offset: Offset,
    #[serde(flatten)]
    pub action: StepAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndAction {
    CancelNow,
    CancelAtPeriodEnd,
    MarkUncollectible,
    PauseCollection,
    LeavePastDue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Offender {
    /// No earlier recovery case for this customer.
    First,
    Repeat,
}

/// Every non-empty rule must hold. Empty rules match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SegmentRules {
    /// Per-currency minimum: a case in a currency not listed does not match.
    pub min_amount: Vec<Money>,
    /// Per-currency exclusive maximum: a case in a currency not listed does not match.
    pub max_amount: Vec<Money>,
    /// At least one of the invoice's products must be listed.
    pub product_ids: Vec<String>,
    pub price_ids: Vec<String>,
    /// Customer metadata that must be present with exactly these values, e.g. `segment=business`.
    pub customer_metadata: BTreeMap<String, String>,
    pub offender: Option<Offender>,
}

/// What segment rules look at; built by the caller when a case opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFacts {
    pub amount: Money,
    pub product_ids: Vec<String>,
    pub price_ids: Vec<String>,
    pub customer_metadata: BTreeMap<String, String>,
    /// Earlier recovery cases for this customer.
    pub prior_cases: u32,
}

impl SegmentRules {
    pub fn matches(&self, f: &CaseFacts) -> bool {
        let threshold = |list: &[Money]| {
            list.iter()
                .find(|m| m.currency == f.amount.currency)
                .map(|m| m.amount_minor)
        };
        let amount_ok = (self.min_amount.is_empty()
            || threshold(&self.min_amount).is_some_and(|t| f.amount.amount_minor >= t))
            && (self.max_amount.is_empty()
                || threshold(&self.max_amount).is_some_and(|t| f.amount.amount_minor < t));
        let any_of = |rule: &[String], have: &[String]| {
            rule.is_empty() || have.iter().any(|h| rule.contains(h))
        };
        let offender_ok = match self.offender {
            None => true,
            Some(Offender::First) => f.prior_cases == 0,
            Some(Offender::Repeat) => f.prior_cases > 0,
        };
        amount_ok
            && any_of(&self.product_ids, &f.product_ids)
            && any_of(&self.price_ids, &f.price_ids)
            && self
                .customer_metadata
                .iter()
                .all(|(k, v)| f.customer_metadata.get(k) == Some(v))
            && offender_ok
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Campaign {
    pub id: String,
    /// Editing creates a new version; an open case keeps the version it started with.
    pub version: u32,
    pub name: String,
    /// Higher is tried first; ties by id.
    #[serde(default)]
    pub priority: i32,
    #[serde(default)]
    pub segment: SegmentRules,
    /// Hours after the first failure before step offsets start counting.
    #[serde(default)]
    pub grace_period_hours: u32,
    pub steps: Vec<Step>,
    pub max_retries: u32,
    pub max_duration_days: u32,
    pub end_action: EndAction,
    #[serde(default)]
    pub timing: TimingSettings,
}

/// One problem, e.g. `steps[3].offset: must not be before steps[2] (day 5 + 0 h)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidationError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Visa's 30-day cap; a campaign asking for more retries could never run them compliantly.
pub const MAX_RETRIES_LIMIT: u32 = 15;
pub const MAX_DURATION_DAYS_LIMIT: u32 = 120;

impl Campaign {
    pub fn retry_steps(&self) -> impl Iterator<Item = (usize, &Step)> {
        self.steps
            .iter()
            .enumerate()
            .filter(|(_, s)| s.action == StepAction::Retry)
    }

    /// An edit of `previous` is saved as its next version; cases keep the version they started with.
    pub fn as_new_version_of(mut self, previous: &Campaign) -> Campaign {
        self.id = previous.id.clone();
        self.version = previous.version + 1;
        self
    }

    /// All problems at once, so an editor can show them together. Empty means valid.
    pub fn validate(&self) -> Vec<ValidationError> {
        let mut errs = Vec::new();
        let mut err = |path: String, message: String| errs.push(ValidationError { path, message });
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 64
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !id_ok {
            err(
                "id".into(),
                "must be 1–64 characters of letters, digits, '_' or '-'".into(),
            );
        }
        if self.version == 0 {
            err("version".into(), "must be at least 1".into());
        }
        if self.name.trim().is_empty() {
            err("name".into(), "must not be empty".into());
        }
        if self.steps.is_empty() {
            err("steps".into(), "must contain at least one step".into());
        }
        if self.max_duration_days == 0 || self.max_duration_days > MAX_DURATION_DAYS_LIMIT {
            err(
                "max_duration_days".into(),
                format!("must be between 1 and {MAX_DURATION_DAYS_LIMIT}"),
            );
        }
        if self.max_retries > MAX_RETRIES_LIMIT {
            err(
                "max_retries".into(),
                format!("must be at most {MAX_RETRIES_LIMIT} (the Visa limit per card in 30 days)"),
            );
        }
        let retries = self.retry_steps().count();
        if retries as u64 > u64::from(self.max_retries) {
            err(
                "max_retries".into(),
                format!(
                    "is {} but the campaign has {retries} retry steps",
                    self.max_retries
                ),
            );
        }
        if u64::from(self.grace_period_hours) >= u64::from(self.max_duration_days) * 24 {
            err(
                "grace_period_hours".into(),
                "must be shorter than max_duration_days".into(),
            );
        }
        let limit = Offset::days(self.max_duration_days);
        for (i, step) in self.steps.iter().enumerate() {
            if step.offset.hours >= 24 {
                err(
                    format!("steps[{i}].offset.hours"),
                    "must be below 24 (use days)".into(),
                );
            }
            if i > 0 && step.offset.total_hours() < self.steps[i - 1].offset.total_hours() {
                err(
                    format!("steps[{i}].offset"),
                    format!(
                        "must not be before steps[{}] ({})",
                        i - 1,
                        self.steps[i - 1].offset
                    ),
                );
            }
            if step.offset.total_hours() > limit.total_hours() {
                err(
                    format!("steps[{i}].offset"),
                    format!(
                        "{} is after max_duration_days ({})",
                        step.offset, self.max_duration_days
                    ),
                );
            }
            match &step.action {
                StepAction::Email { level } if !(1..=4).contains(level) => {
                    err(
                        format!("steps[{i}].level"),
                        format!("must be 1 to 4, got {level}"),
                    );
                }
                StepAction::Task { note } if note.trim().is_empty() => {
                    err(
                        format!("steps[{i}].note"),
                        "must say what the person should do".into(),
                    );
                }
                _ => {}
            }
        }
        self.validate_segment(&mut err);
        for e in self.timing.validate() {
            err(format!("timing.{}", e.path), e.message);
        }
        errs
    }

    fn validate_segment(&self, err: &mut impl FnMut(String, String)) {
        for (name, list) in [
            ("min_amount", &self.segment.min_amount),
            ("max_amount", &self.segment.max_amount),
        ] {
            for (i, m) in list.iter().enumerate() {
                if m.amount_minor < 0 {
                    err(
                        format!("segment.{name}[{i}].amount_minor"),
                        "must not be negative".into(),
                    );
                }
                if list[..i].iter().any(|o| o.currency == m.currency) {
                    err(
                        format!("segment.{name}[{i}].currency"),
                        format!("{} is listed twice", m.currency),
                    );
                }
            }
        }
        for (i, min) in self.segment.min_amount.iter().enumerate() {
            let max = self
                .segment
                .max_amount
                .iter()
                .find(|m| m.currency == min.currency);
            if max.is_some_and(|max| max.amount_minor <= min.amount_minor) {
                err(
                    format!("segment.min_amount[{i}]"),
                    format!("must be below max_amount in {}", min.currency),
                );
            }
        }
        for (k, v) in &self.segment.customer_metadata {
            if k.trim().is_empty() || v.is_empty() {
                err(
                    format!("segment.customer_metadata.{k}"),
                    "key and value must not be empty".into(),
                );
            }
        }
    }
}

/// The first matching campaign by priority (higher first, then id), else the built-in default.
pub fn choose<'a>(campaigns: &'a [Campaign], facts: &CaseFacts) -> &'a Campaign {
    let mut ordered: Vec<&Campaign> = campaigns.iter().collect();
    ordered.sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.id.cmp(&b.id)));
    ordered
        .into_iter()
        .find(|c| c.segment.matches(facts))
        .unwrap_or(&DEFAULT_CAMPAIGN)
}

static DEFAULT_CAMPAIGN: LazyLock<Campaign> = LazyLock::new(default_campaign);

/// Four retries and four email levels within 21 days: an invitation at once, then rising urgency.
pub fn default_campaign() -> Campaign {
    let step = |days, action| Step {
        offset: Offset::days(days),
        action,
    };
    let email = |level| StepAction::Email { level };
    Campaign {
        id: "default".into(),
        version: 1,
        name: "Default recovery".into(),
        priority: i32::MIN,
        segment: SegmentRules::default(),
        grace_period_hours: 0,
        steps: vec![
            step(0, email(1)),
            step(1, StepAction::Retry),
            step(3, StepAction::Retry),
            step(5, email(2)),
            step(7, StepAction::Retry),
            step(10, email(3)),
            step(14, StepAction::Retry),
            step(18, email(4)),
        ],
        max_retries: 4,
        max_duration_days: 21,
        end_action: EndAction::CancelNow,
        timing: TimingSettings::default(),
    }
}

#[cfg(test)]
#[path = "campaign_tests.rs"]
mod tests;
