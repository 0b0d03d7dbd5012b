//! Lenient readers over `serde_json::Value`: a missing field, a null, or a value of an unexpected type
//! reads as `None`, never as an error, so new API versions and expansions cannot fail an event.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

/// The value at `path`, if every step is an object field.
pub fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter()
        .try_fold(v, |v, key| v.get(key))
        .filter(|v| !v.is_null())
}

/// A string (numbers and booleans are written out; empty strings count as absent).
pub fn string(v: &Value, path: &[&str]) -> Option<String> {
    match at(v, path)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A reference to another object: either its id as a string or the expanded object with an `id`.
pub fn id(v: &Value, path: &[&str]) -> Option<String> {
    let v = at(v, path)?;
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Object(_) => string(v, &["id"]),
        _ => None,
    }
}

/// The expanded object at `path`, when it was expanded rather than given as an id.
pub fn object<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    at(v, path).filter(|v| v.is_object())
}

/// An integer, also from an integral float or a numeric string.
pub fn int(v: &Value, path: &[&str]) -> Option<i64> {
    match at(v, path)? {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub fn uint(v: &Value, path: &[&str]) -> Option<u32> {
    int(v, path).and_then(|i| u32::try_from(i).ok())
}

pub fn boolean(v: &Value, path: &[&str]) -> Option<bool> {
    match at(v, path)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A unix timestamp in seconds.
pub fn time(v: &Value, path: &[&str]) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(int(v, path)?, 0)
}

/// A flat string map such as `metadata`; non-string values are written out, nested ones dropped.
pub fn map(v: &Value, path: &[&str]) -> BTreeMap<String, String> {
    let Some(Value::Object(obj)) = at(v, path) else {
        return BTreeMap::new();
    };
    obj.iter()
        .filter_map(|(k, val)| {
            let s = match val {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return None,
            };
            Some((k.clone(), s))
        })
        .collect()
}

/// The elements of an array at `path`, or of a Stripe list object (`{"object":"list","data":[…]}`).
pub fn list<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    match at(v, path) {
        Some(Value::Array(items)) => items,
        Some(obj @ Value::Object(_)) => match obj.get("data") {
            Some(Value::Array(items)) => items,
            _ => &[],
        },
        _ => &[],
    }
}

/// Append `value` unless it is absent or already there (order of first appearance is kept).
pub fn push_unique(into: &mut Vec<String>, value: Option<String>) {
    if let Some(value) = value.filter(|v| !into.contains(v)) {
        into.push(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn readers_tolerate_odd_types() {
        let v = json!({"a": {"id": "x_1"}, "b": "y_2", "n": "42", "f": 7.0, "e": "", "z": null,
                       "m": {"k": "v", "n": 3, "deep": {"x": 1}}, "l": {"object": "list", "data": [1]}});
        assert_eq!(id(&v, &["a"]).as_deref(), Some("x_1"));
        assert_eq!(id(&v, &["b"]).as_deref(), Some("y_2"));
        assert_eq!(id(&v, &["n", "deeper"]), None);
        assert_eq!(int(&v, &["n"]), Some(42));
        assert_eq!(int(&v, &["f"]), Some(7));
        assert_eq!(string(&v, &["e"]), None);
        assert_eq!(string(&v, &["z"]), None);
        assert_eq!(string(&v, &["n"]).as_deref(), Some("42"));
        assert_eq!(map(&v, &["m"]).len(), 2);
        assert_eq!(list(&v, &["l"]).len(), 1);
        assert!(list(&v, &["b"]).is_empty());
        assert_eq!(time(&v, &["f"]).map(|t| t.timestamp()), Some(7));
    }
}
