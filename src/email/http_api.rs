//! A Resend-style HTTP email API (`POST {base}/emails`, bearer key, JSON body). The outbox message id
//! goes out as the `Idempotency-Key`, so a re-send after a timeout or a crash cannot deliver twice.
//! Configured as `resend+https://API_KEY@api.resend.com` (`resend+http://…` for a local fake).

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::transport::{Envelope, SendError};

/// Per attempt: past it the send counts as transient (and is retried with the same key).
const TIMEOUT: Duration = Duration::from_secs(20);

pub struct HttpApi {
    /// `{base}/emails`, without credentials.
    endpoint: String,
    key: SecretString,
    client: reqwest::Client,
}

impl std::fmt::Debug for HttpApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpApi")
            .field("endpoint", &self.endpoint)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl HttpApi {
    /// From `resend+http[s]://KEY@host[:port][/path]`. Errors never repeat the setting (it holds the key).
    pub fn from_url(setting: &str) -> Result<HttpApi, String> {
        let bad = |why: &str| format!("DUNNING_EMAIL is not a usable email API URL: {why}");
        let rest = setting
            .strip_prefix("resend+")
            .ok_or_else(|| bad("expected resend+https://API_KEY@host"))?;
        let mut url = reqwest::Url::parse(rest).map_err(|_| bad("it does not parse as a URL"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(bad("expected resend+https://API_KEY@host"));
        }
        let key = url.username().to_string();
        if key.is_empty() {
            return Err(bad("the API key (the part before @) is missing"));
        }
        let _ = url.set_username("");
        let _ = url.set_password(None);
        let endpoint = format!("{}/emails", url.as_str().trim_end_matches('/'));
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|_| bad("the HTTP client could not be built"))?;
        Ok(HttpApi {
            endpoint,
            key: SecretString::from(key),
            client,
        })
    }

    /// Sends `e`; `Ok` carries the provider's message id.
    pub async fn send(&self, e: &Envelope) -> Result<Option<String>, SendError> {
        let answer = self
            .client
            .post(&self.endpoint)
            .bearer_auth(self.key.expose_secret())
            .header("Idempotency-Key", &e.id)
            .json(&body(e))
            .send()
            .await
            .map_err(|err| SendError::Transient(describe(&err)))?;
        let status = answer.status();
        // An unreadable body after a 2xx still means the message was accepted.
        let v: Value = answer.json().await.unwrap_or(Value::Null);
        classify(status.as_u16(), &v)
    }
}

fn body(e: &Envelope) -> Value {
    let mut b = json!({
        "from": format!("{} <{}>", quoted(&e.from_name), e.from_address),
        "to": [e.to],
        "subject": e.subject,
        "html": e.html,
        "text": e.text,
        // Automated, not bulk: asks auto-responders to stay quiet.
        "headers": {"Auto-Submitted": "auto-generated"},
    });
    if let Some(r) = &e.reply_to {
        b["reply_to"] = json!(r);
    }
    b
}

/// A display name as an RFC 5322 quoted string (a company name may hold a comma or a quote).
fn quoted(name: &str) -> String {
    let inner: String = name
        .chars()
        .filter(|c| !c.is_control())
        .flat_map(|c| match c {
            '"' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("\"{inner}\"")
}

/// 2xx: sent. 400 and 422: the message or its address is refused, for good. Anything else (429, 5xx,
/// 401/403 — the service's key or sender domain, not the customer's fault — 409 while a request with
/// the same key is in flight): tried again later.
fn classify(status: u16, v: &Value) -> Result<Option<String>, SendError> {
    if (200..300).contains(&status) {
        return Ok(v["id"].as_str().map(str::to_string));
    }
    let said: String = v["message"]
        .as_str()
        .or(v["name"].as_str())
        .unwrap_or("")
        .chars()
        .take(200)
        .collect();
    let said = if said.is_empty() {
        String::new()
    } else {
        format!(": {said}")
    };
    match status {
        400 | 422 => Err(SendError::Permanent(format!(
            "the email API refused the message (HTTP {status}){said}"
        ))),
        _ => Err(SendError::Transient(format!(
            "the email API answered HTTP {status}{said}"
        ))),
    }
}

/// A request error without its URL.
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "the email API did not answer in time".into()
    } else if e.is_connect() {
        "the email API could not be reached".into()
    } else {
        "the request to the email API failed".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_taken_from_the_url_and_never_shown() {
        let api = HttpApi::from_url("resend+https://re_secret_123@api.resend.com").unwrap();
        assert_eq!(api.endpoint, "https://api.resend.com/emails");
        assert_eq!(api.key.expose_secret(), "re_secret_123");
        assert!(!format!("{api:?}").contains("re_secret_123"));
        let local = HttpApi::from_url("resend+http://k@127.0.0.1:8025/base/").unwrap();
        assert_eq!(local.endpoint, "http://127.0.0.1:8025/base/emails");
        for bad in [
            "resend+https://api.resend.com",
            "resend+ftp://k@host",
            "https://k@api.resend.com",
            "resend+::re_secret_123",
        ] {
            let err = HttpApi::from_url(bad).unwrap_err();
            assert!(!err.contains("re_secret_123"), "{err}");
        }
    }

    #[test]
    fn answers_are_classified() {
        assert_eq!(
            classify(200, &json!({"id": "re_1"})),
            Ok(Some("re_1".into()))
        );
        let refused = classify(
            422,
            &json!({"name": "validation_error", "message": "bad to"}),
        );
        assert!(
            matches!(refused, Err(SendError::Permanent(m)) if m.contains("422") && m.contains("bad to"))
        );
        for s in [401, 403, 404, 409, 429, 500, 503] {
            assert!(
                matches!(classify(s, &Value::Null), Err(SendError::Transient(_))),
                "{s}"
            );
        }
    }

    #[test]
    fn display_names_are_quoted() {
        assert_eq!(quoted(r#"Acme, "Inc""#), r#""Acme, \"Inc\"""#);
    }
}
