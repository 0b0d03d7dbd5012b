//! Service time. The domain never reads the system clock; it is handed `now` from here. With the test
//! clock on, time is frozen and moves only when an operator or a test advances it.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

#[derive(Debug, Clone)]
pub enum Clock {
    System,
    Test(Arc<Mutex<DateTime<Utc>>>),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClockError {
    #[error("the test clock is not enabled (set DUNNING_TEST_CLOCK=true)")]
    NotTestClock,
    #[error("the test clock never moves backwards")]
    Backwards,
}

impl Clock {
    pub fn test(start: DateTime<Utc>) -> Self {
        Clock::Test(Arc::new(Mutex::new(start)))
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Test(t) => *t.lock().unwrap_or_else(|p| p.into_inner()),
        }
    }

    pub fn is_test(&self) -> bool {
        matches!(self, Clock::Test(_))
    }

    /// Moves the test clock to `to`; refuses to go backwards.
    pub fn set(&self, to: DateTime<Utc>) -> Result<DateTime<Utc>, ClockError> {
        match self {
            Clock::System => Err(ClockError::NotTestClock),
            Clock::Test(t) => {
                let mut guard = t.lock().unwrap_or_else(|p| p.into_inner());
                if to < *guard {
                    return Err(ClockError::Backwards);
                }
                *guard = to;
                Ok(to)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn test_clock_is_frozen_and_only_moves_forward() {
        let start = Utc::now();
        let c = Clock::test(start);
        assert_eq!(c.now(), start);
        let later = start + Duration::days(3);
        assert_eq!(c.set(later), Ok(later));
        assert_eq!(c.now(), later);
        assert_eq!(c.set(start), Err(ClockError::Backwards));
        assert_eq!(Clock::System.set(later), Err(ClockError::NotTestClock));
    }
}
