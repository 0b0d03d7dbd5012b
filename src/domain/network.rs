//! Card-network retry limits as data (networks revise them), and the pure check against a card's history.
//! History is every attempt on one card across all cases; the caller loads it per card fingerprint.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CardNetwork {
    Visa,
    Mastercard,
    Amex,
    Discover,
    #[default]
    Other,
}

impl CardNetwork {
    /// From a processor's brand string (`visa`, `Mastercard`, `american_express`, …).
    pub fn from_brand(brand: &str) -> Self {
        match brand
            .trim()
            .to_ascii_lowercase()
            .replace([' ', '-'], "_")
            .as_str()
        {
            "visa" => Self::Visa,
            "mastercard" | "master_card" | "mc" => Self::Mastercard,
            "amex" | "american_express" => Self::Amex,
            "discover" => Self::Discover,
            _ => Self::Other,
        }
    }
}

/// At most `max_attempts` in any window of `within_hours`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub max_attempts: u32,
    pub within_hours: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkLimits {
    pub windows: Vec<Window>,
    /// Refuse any retry after a never-approve (Visa category 1) response.
    pub stop_after_never_approve: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitReason {
    #[error("the network forbids retrying a card after a never-approve response")]
    NeverApprove,
    #[error(
        "at most {max_attempts} attempts per card in {within_hours} h; next allowed at {next_allowed}"
    )]
    TooMany {
        max_attempts: u32,
        within_hours: u32,
        next_allowed: DateTime<Utc>,
    },
}

impl NetworkLimits {
    /// Conservative defaults: Visa's stricter 15/30 days (not the reported 20), Mastercard 10/24 h and
    /// 35/30 days, and for the rest the tighter of both.
    pub fn for_network(network: CardNetwork) -> Self {
        let w = |max_attempts, within_hours| Window {
            max_attempts,
            within_hours,
        };
        match network {
            CardNetwork::Visa => Self {
                windows: vec![w(15, 30 * 24)],
                stop_after_never_approve: true,
            },
            CardNetwork::Mastercard => Self {
                windows: vec![w(10, 24), w(35, 30 * 24)],
                stop_after_never_approve: false,
            },
            _ => Self {
                windows: vec![w(10, 24), w(15, 30 * 24)],
                stop_after_never_approve: true,
            },
        }
    }

    /// Checks one more attempt at `at`. Attempts on either side within a window count, so the check
    /// stays safe even when the history holds attempts planned later than `at`.
    pub fn check(&self, history: &[DateTime<Utc>], at: DateTime<Utc>) -> Result<(), LimitReason> {
        for w in &self.windows {
            let span = Duration::hours(i64::from(w.within_hours));
            let mut near: Vec<_> = history
                .iter()
                .copied()
                .filter(|h| (*h - at).abs() < span)
                .collect();
            if near.len() as u64 >= u64::from(w.max_attempts) {
                near.sort();
                // The window frees up once enough old attempts have left it.
                let excess = near.len() + 1 - w.max_attempts as usize;
                let next_allowed = near[excess - 1] + span;
                return Err(LimitReason::TooMany {
                    max_attempts: w.max_attempts,
                    within_hours: w.within_hours,
                    next_allowed,
                });
            }
        }
        Ok(())
    }

    /// The earliest time at or after `from` when one more attempt is allowed (history in the past only).
    pub fn earliest_allowed(
        &self,
        history: &[DateTime<Utc>],
        from: DateTime<Utc>,
    ) -> DateTime<Utc> {
        let mut at = from;
        // Each step moves past at least one attempt, so this ends within history.len() + 1 rounds.
        for _ in 0..=history.len() {
            match self.check(history, at) {
                Err(LimitReason::TooMany { next_allowed, .. }) if next_allowed > at => {
                    at = next_allowed
                }
                _ => break,
            }
        }
        at
    }
}

/// The default limits of `network`, applied to one more attempt at `at`.
pub fn allowed(
    card_history: &[DateTime<Utc>],
    network: CardNetwork,
    at: DateTime<Utc>,
) -> Result<(), LimitReason> {
    NetworkLimits::for_network(network).check(card_history, at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }
    fn hours(h: i64) -> DateTime<Utc> {
        t0() + Duration::hours(h)
    }

    #[test]
    fn brands() {
        assert_eq!(CardNetwork::from_brand("Visa"), CardNetwork::Visa);
        assert_eq!(
            CardNetwork::from_brand("MasterCard"),
            CardNetwork::Mastercard
        );
        assert_eq!(
            CardNetwork::from_brand("American Express"),
            CardNetwork::Amex
        );
        assert_eq!(CardNetwork::from_brand("unionpay"), CardNetwork::Other);
    }

    #[test]
    fn visa_fifteen_in_thirty_days() {
        let history: Vec<_> = (0..15).map(|i| hours(i * 24)).collect();
        let at = hours(15 * 24);
        let err = allowed(&history, CardNetwork::Visa, at).unwrap_err();
        assert!(matches!(
            err,
            LimitReason::TooMany {
                max_attempts: 15,
                ..
            }
        ));
        assert!(allowed(&history[..14], CardNetwork::Visa, at).is_ok());
        // The first attempt leaves the 30-day window exactly 30 days after it was made.
        let limits = NetworkLimits::for_network(CardNetwork::Visa);
        assert_eq!(limits.earliest_allowed(&history, at), hours(30 * 24));
        assert!(limits.check(&history, hours(30 * 24)).is_ok());
    }

    #[test]
    fn mastercard_ten_per_day_and_thirty_five_per_month() {
        let day: Vec<_> = (0..10).map(|i| t0() + Duration::minutes(i * 30)).collect();
        assert!(allowed(&day, CardNetwork::Mastercard, hours(6)).is_err());
        let limits = NetworkLimits::for_network(CardNetwork::Mastercard);
        assert_eq!(
            limits.earliest_allowed(&day, hours(6)),
            t0() + Duration::hours(24)
        );
        let month: Vec<_> = (0..35).map(|i| hours(i * 20)).collect();
        let at = hours(35 * 20);
        assert!(matches!(
            allowed(&month, CardNetwork::Mastercard, at),
            Err(LimitReason::TooMany {
                max_attempts: 35,
                ..
            })
        ));
    }

    #[test]
    fn other_networks_take_the_stricter_default() {
        let day: Vec<_> = (0..10).map(|i| t0() + Duration::minutes(i)).collect();
        assert!(allowed(&day, CardNetwork::Amex, hours(1)).is_err());
        assert!(NetworkLimits::for_network(CardNetwork::Discover).stop_after_never_approve);
    }

    #[test]
    fn empty_history_is_allowed() {
        for n in [
            CardNetwork::Visa,
            CardNetwork::Mastercard,
            CardNetwork::Other,
        ] {
            assert!(allowed(&[], n, t0()).is_ok());
        }
    }
}
