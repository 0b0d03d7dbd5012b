//! Decline classification as data: what a failed charge tells us about retrying it.
//! Advice codes (Stripe's and Mastercard's) take precedence over the decline-code table.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What the processor said about a failed charge, in provider-neutral form (all optional: parse leniently).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclineInfo {
    /// Error code, e.g. `card_declined`, `expired_card`, `authentication_required`.
    pub code: Option<String>,
    /// Issuer's reason, e.g. `insufficient_funds`, `do_not_honor`.
    pub decline_code: Option<String>,
    /// Stripe's `advice_code`: `try_again_later`, `do_not_try_again`, `confirm_card_data`.
    pub advice_code: Option<String>,
    /// Network advice code, e.g. Mastercard Merchant Advice Code `03`, `24`.
    pub network_advice_code: Option<String>,
}

/// What the customer must do before a retry can succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomerAction {
    /// 3-D Secure or a PIN: the customer has to confirm the payment.
    Authentication,
    /// The card data (CVC, expiry, postcode) is wrong: confirm or re-enter it.
    ConfirmCardData,
}

/// Why a soft decline is retryable, which drives timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SoftKind {
    /// Funds arrive on paydays: retry then.
    InsufficientFunds,
    /// Issuer or processor trouble: a later retry usually works.
    Temporary,
    /// `generic_decline`, `do_not_honor`, a bare `card_declined`.
    Generic,
    /// A code we do not know: retry, but cautiously (longer gaps).
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "class", content = "detail", rename_all = "snake_case")]
pub enum DeclineClass {
    /// Never retry this card; ask for a new one.
    Hard,
    Soft(SoftKind),
    /// No blind retry: the customer has to act first.
    NeedsCustomer(CustomerAction),
}

impl DeclineClass {
    pub fn is_retryable(self) -> bool {
        matches!(self, DeclineClass::Soft(_))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classification {
    pub class: DeclineClass,
    /// Earliest retry after the failure, from a Mastercard advice code 24–30.
    #[serde(with = "secs_opt", default)]
    pub retry_after: Option<Duration>,
    /// Visa category 1 ("never approve"): the network forbids any reattempt on this card.
    pub never_approve: bool,
    /// Human-readable, for the case timeline.
    pub reason: String,
}

mod secs_opt {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs()),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_secs))
    }
}

const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;

/// Mastercard Merchant Advice Codes 24–30: retry after the given delay.
fn mastercard_retry_after(mac: &str) -> Option<Duration> {
    let secs = match mac {
        "24" => HOUR,
        "25" => DAY,
        "26" => 2 * DAY,
        "27" => 4 * DAY,
        "28" => 6 * DAY,
        "29" => 8 * DAY,
        "30" => 10 * DAY,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

/// The table: (code, class, never-approve). Codes are Stripe's decline and error codes.
const TABLE: &[(&str, DeclineClass, bool)] = {
    use CustomerAction::*;
    use DeclineClass::*;
    use SoftKind::*;
    &[
        ("insufficient_funds", Soft(InsufficientFunds), false),
        (
            "withdrawal_count_limit_exceeded",
            Soft(InsufficientFunds),
            false,
        ),
        ("card_velocity_exceeded", Soft(InsufficientFunds), false),
        ("do_not_honor", Soft(Generic), false),
        ("generic_decline", Soft(Generic), false),
        ("card_declined", Soft(Generic), false),
        ("no_action_taken", Soft(Generic), false),
        ("call_issuer", Soft(Unknown), false),
        ("processing_error", Soft(Temporary), false),
        ("try_again_later", Soft(Temporary), false),
        ("issuer_not_available", Soft(Temporary), false),
        ("reenter_transaction", Soft(Temporary), false),
        ("approve_with_id", Soft(Temporary), false),
        ("duplicate_transaction", Soft(Temporary), false),
        ("rate_limit", Soft(Temporary), false),
        ("lost_card", Hard, true),
        ("stolen_card", Hard, true),
        ("pickup_card", Hard, true),
        ("restricted_card", Hard, true),
        ("invalid_account", Hard, true),
        ("incorrect_number", Hard, true),
        ("invalid_number", Hard, true),
        ("revocation_of_authorization", Hard, true),
        ("revocation_of_all_authorizations", Hard, true),
        ("stop_payment_order", Hard, true),
        ("transaction_not_allowed", Hard, true),
        ("not_permitted", Hard, true),
        ("fraudulent", Hard, false),
        ("merchant_blacklist", Hard, false),
        ("security_violation", Hard, false),
        ("expired_card", Hard, false),
        ("card_not_supported", Hard, false),
        ("currency_not_supported", Hard, false),
        ("service_not_allowed", Hard, false),
        ("invalid_amount", Hard, false),
        ("pin_try_exceeded", Hard, false),
        ("new_account_information_available", Hard, false),
        ("do_not_try_again", Hard, false),
        ("testmode_decline", Hard, false),
        (
            "authentication_required",
            NeedsCustomer(Authentication),
            false,
        ),
        ("offline_pin_required", NeedsCustomer(Authentication), false),
        (
            "online_or_offline_pin_required",
            NeedsCustomer(Authentication),
            false,
        ),
        ("invalid_pin", NeedsCustomer(Authentication), false),
        ("incorrect_cvc", NeedsCustomer(ConfirmCardData), false),
        ("invalid_cvc", NeedsCustomer(ConfirmCardData), false),
        ("incorrect_zip", NeedsCustomer(ConfirmCardData), false),
        (
            "invalid_expiry_month",
            NeedsCustomer(ConfirmCardData),
            false,
        ),
        ("invalid_expiry_year", NeedsCustomer(ConfirmCardData), false),
    ]
};

fn lookup(code: &str) -> Option<(DeclineClass, bool)> {
    TABLE
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|&(_, class, never)| (class, never))
}

fn clean(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Classifies a decline. Precedence: stop advice (MAC 03/21, `do_not_try_again`), then
/// `confirm_card_data`, then retry advice (MAC 24–30, `try_again_later`), then the table.
pub fn classify(info: &DeclineInfo) -> Classification {
    let table_code = clean(&info.decline_code).or(clean(&info.code));
    let table = table_code.and_then(lookup);
    let never_approve = table.is_some_and(|(_, n)| n);
    let make = |class, retry_after, reason: String| Classification {
        class,
        retry_after,
        never_approve,
        reason,
    };
    let mac = clean(&info.network_advice_code);
    let advice = clean(&info.advice_code);

    if let Some(m @ ("03" | "21")) = mac {
        let why = if m == "03" {
            "do not try again"
        } else {
            "payment cancelled by the cardholder"
        };
        return make(
            DeclineClass::Hard,
            None,
            format!("Mastercard advice code {m} ({why}): never retry this card"),
        );
    }
    if advice == Some("do_not_try_again") {
        return make(
            DeclineClass::Hard,
            None,
            "processor advice do_not_try_again: never retry this card".into(),
        );
    }
    if advice == Some("confirm_card_data") {
        return make(
            DeclineClass::NeedsCustomer(CustomerAction::ConfirmCardData),
            None,
            "processor advice confirm_card_data: the customer must confirm the card details".into(),
        );
    }
    let table_soft_kind = match table {
        Some((DeclineClass::Soft(k), _)) => Some(k),
        _ => None,
    };
    if let Some(delay) = mac.and_then(mastercard_retry_after) {
        let kind = table_soft_kind.unwrap_or(SoftKind::Temporary);
        let hours = delay.as_secs() / HOUR;
        return make(
            DeclineClass::Soft(kind),
            Some(delay),
            format!(
                "Mastercard advice code {}: retry no sooner than {hours} h after the failure",
                mac.unwrap_or_default()
            ),
        );
    }
    if advice == Some("try_again_later") {
        let kind = table_soft_kind.unwrap_or(SoftKind::Temporary);
        return make(
            DeclineClass::Soft(kind),
            None,
            "processor advice try_again_later: retry later".into(),
        );
    }
    match (table_code, table) {
        (Some(code), Some((class, _))) => make(class, None, table_reason(code, class)),
        (Some(code), None) => make(
            DeclineClass::Soft(SoftKind::Unknown),
            None,
            format!("unknown decline code {code}: treated as soft, retried cautiously"),
        ),
        (None, _) => make(
            DeclineClass::Soft(SoftKind::Unknown),
            None,
            "no decline code given: treated as soft, retried cautiously".into(),
        ),
    }
}

fn table_reason(code: &str, class: DeclineClass) -> String {
    match class {
        DeclineClass::Hard => {
            format!("{code} is a hard decline: never retry this card, ask for a new one")
        }
        DeclineClass::Soft(SoftKind::InsufficientFunds) => {
            format!("{code}: funds are short, retry when they are likely to arrive")
        }
        DeclineClass::Soft(SoftKind::Temporary) => {
            format!("{code} is temporary: a later retry usually succeeds")
        }
        DeclineClass::Soft(_) => format!("{code} is a generic soft decline: retry later"),
        DeclineClass::NeedsCustomer(CustomerAction::Authentication) => {
            format!("{code}: the customer must authenticate the payment, no blind retry")
        }
        DeclineClass::NeedsCustomer(CustomerAction::ConfirmCardData) => {
            format!("{code}: the customer must confirm the card details, no blind retry")
        }
    }
}

#[cfg(test)]
#[path = "decline_tests.rs"]
mod tests;
