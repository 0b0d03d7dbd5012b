//! What every list endpoint shares: validating `status` and `limit`, and cursor pagination over
//! time-ordered ids (fetch one row more than asked to know whether a next page exists).

use super::{ApiError, ApiResult};

/// Checks an optional `status` filter against the allowed values.
pub fn check_status(status: Option<&str>, allowed: &[&str]) -> ApiResult<()> {
    match status.filter(|st| !allowed.contains(st)) {
        Some(st) => Err(ApiError::bad_request(
            "invalid_query",
            format!("status: {st:?} is not one of {}", allowed.join(", ")),
        )),
        None => Ok(()),
    }
}

/// The page size asked for (default 50, at most 500).
pub fn limit(asked: Option<i64>) -> ApiResult<i64> {
    let limit = asked.unwrap_or(50);
    if (1..=500).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::bad_request(
            "invalid_query",
            "limit: expected 1 to 500",
        ))
    }
}

/// Cuts `rows` (fetched with `limit + 1`) to the page and returns the next cursor, if any.
pub fn cut<T>(rows: &mut Vec<T>, limit: i64, id: impl Fn(&T) -> &str) -> Option<String> {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    if more {
        rows.last().map(|r| id(r).to_string())
    } else {
        None
    }
}
