//! Money as integer minor units with a validated ISO 4217 currency code.
//! Floats never appear: amounts are compared and summed exactly.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A three-letter ISO 4217 code, always stored in lower case (the form Stripe and our API use).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("currency must be three ASCII letters (ISO 4217), got {0:?}")]
    InvalidCurrency(String),
    #[error("cannot combine {0} with {1}")]
    CurrencyMismatch(Currency, Currency),
    #[error("amount overflow")]
    Overflow,
}

impl Currency {
    /// Accepts any case (`USD`, `usd`) and normalises to lower case.
    pub fn new(code: &str) -> Result<Self, MoneyError> {
        if code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic()) {
            Ok(Self(code.to_ascii_lowercase()))
        } else {
            Err(MoneyError::InvalidCurrency(code.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(&s)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> Self {
        c.0
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An amount in the currency's minor unit (cents for usd, yen for jpy).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub amount_minor: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(amount_minor: i64, currency: Currency) -> Self {
        Self {
            amount_minor,
            currency,
        }
    }

    /// Adding across currencies is an error, never a silent conversion.
    pub fn checked_add(&self, other: &Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(
                self.currency.clone(),
                other.currency.clone(),
            ));
        }
        let amount = self
            .amount_minor
            .checked_add(other.amount_minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency.clone()))
    }

    /// `None` when the currencies differ: amounts in different currencies are not comparable.
    pub fn at_least(&self, threshold: &Money) -> Option<bool> {
        (self.currency == threshold.currency).then_some(self.amount_minor >= threshold.amount_minor)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount_minor, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(n: i64) -> Money {
        Money::new(n, Currency::new("usd").unwrap())
    }

    #[test]
    fn currency_is_normalised_to_lower_case() {
        assert_eq!(Currency::new("EUR").unwrap().as_str(), "eur");
        assert_eq!("Gbp".parse::<Currency>().unwrap().to_string(), "gbp");
    }

    #[test]
    fn currency_rejects_bad_codes() {
        for bad in ["", "us", "usdd", "u1d", "€ur", "us "] {
            assert!(Currency::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn money_serde_shape() {
        let m = usd(1999);
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, r#"{"amount_minor":1999,"currency":"usd"}"#);
        let back: Money = serde_json::from_str(r#"{"amount_minor":5,"currency":"USD"}"#).unwrap();
        assert_eq!(back, usd(5));
        assert!(
            serde_json::from_str::<Money>(r#"{"amount_minor":5,"currency":"dollars"}"#).is_err()
        );
    }

    #[test]
    fn add_and_compare() {
        assert_eq!(usd(1).checked_add(&usd(2)).unwrap(), usd(3));
        let eur = Money::new(1, Currency::new("eur").unwrap());
        assert!(matches!(
            usd(1).checked_add(&eur),
            Err(MoneyError::CurrencyMismatch(..))
        ));
        assert_eq!(
            usd(i64::MAX).checked_add(&usd(1)),
            Err(MoneyError::Overflow)
        );
        assert_eq!(usd(10).at_least(&usd(10)), Some(true));
        assert_eq!(usd(9).at_least(&usd(10)), Some(false));
        assert_eq!(usd(9).at_least(&eur), None);
        assert_eq!(usd(250).to_string(), "250 usd");
    }
}
