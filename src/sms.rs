//! SMS through a Twilio-compatible API: `POST {base}/2010-04-01/Accounts/{sid}/Messages.json` with the
//! form fields `To`, `From`, `Body` and basic auth (account SID, auth token). Configured as
//! `DUNNING_SMS=twilio+https://ACCOUNT_SID:AUTH_TOKEN@api.twilio.com`; off when unset.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::domain::money::Money;

/// How one send ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsOutcome {
    /// Accepted; the API's message id.
    Sent(Option<String>),
    /// Not accepted, worth another try (429, 5xx, the API unreachable, our credentials refused).
    Transient(String),
    /// Refused for good (a 400: an invalid or unsubscribed number): the number gets no more.
    Permanent(String),
    /// No answer in time: it may have gone out, and the API keeps no idempotency key, so it is not
    /// sent again.
    Unknown(String),
}

pub struct SmsApi {
    endpoint: String,
    sid: String,
    token: SecretString,
    client: reqwest::Client,
}

impl std::fmt::Debug for SmsApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsApi")
            .field("endpoint", &self.endpoint)
            .field("token", &"[redacted]")
            .finish()
    }
}

impl SmsApi {
    /// From `twilio+http[s]://SID:TOKEN@host[:port]`. Errors never repeat the setting.
    pub fn from_url(setting: &str) -> Result<SmsApi, String> {
        let expected = "expected twilio+https://ACCOUNT_SID:AUTH_TOKEN@api.twilio.com";
        let rest = setting.strip_prefix("twilio+").ok_or(expected)?;
        let mut url = reqwest::Url::parse(rest).map_err(|_| expected.to_string())?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(expected.into());
        }
        let sid = url.username().to_string();
        let token = url.password().unwrap_or("").to_string();
        if sid.is_empty() || token.is_empty() {
            return Err(format!(
                "the account SID or auth token is missing; {expected}"
            ));
        }
        let _ = url.set_username("");
        let _ = url.set_password(None);
        let endpoint = format!(
            "{}/2010-04-01/Accounts/{sid}/Messages.json",
            url.as_str().trim_end_matches('/')
        );
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|_| "the HTTP client could not be built".to_string())?;
        Ok(SmsApi {
            endpoint,
            sid,
            token: SecretString::from(token),
            client,
        })
    }

    pub async fn send(&self, from: &str, to: &str, body: &str) -> SmsOutcome {
        let sent = self
            .client
            .post(&self.endpoint)
            .basic_auth(&self.sid, Some(self.token.expose_secret()))
            .form(&[("To", to), ("From", from), ("Body", body)])
            .send()
            .await;
        let answer = match sent {
            Ok(a) => a,
            Err(e) if e.is_connect() => {
                return SmsOutcome::Transient("the SMS API could not be reached".into());
            }
            Err(_) => return SmsOutcome::Unknown("the SMS API did not answer".into()),
        };
        let status = answer.status().as_u16();
        let v: Value = answer.json().await.unwrap_or(Value::Null);
        classify(status, &v)
    }
}

fn classify(status: u16, v: &Value) -> SmsOutcome {
    if (200..300).contains(&status) {
        return SmsOutcome::Sent(v["sid"].as_str().map(str::to_string));
    }
    let code = v["code"]
        .as_i64()
        .map(|c| format!(" code {c}"))
        .unwrap_or_default();
    let said: String = v["message"]
        .as_str()
        .unwrap_or("")
        .chars()
        .take(200)
        .collect();
    let what = format!("the SMS API answered HTTP {status}{code}: {said}");
    match status {
        400 => SmsOutcome::Permanent(what),
        _ => SmsOutcome::Transient(what),
    }
}

/// The short text of an SMS step (one segment where the names allow), in the tenant's locale.
pub fn text(locale: &str, company: &str, amount: &Money, link: &str) -> String {
    let amount = crate::email::format::money(amount, locale);
    match locale {
        "fr" => format!(
            "{company} : votre paiement de {amount} n’a pas abouti. Mettez à jour votre carte : {link}"
        ),
        "nl" => {
            format!("{company}: uw betaling van {amount} is mislukt. Werk uw kaart bij: {link}")
        }
        "de" => format!(
            "{company}: Ihre Zahlung über {amount} ist fehlgeschlagen. Karte aktualisieren: {link}"
        ),
        "es" => format!(
            "{company}: su pago de {amount} no se ha completado. Actualice su tarjeta: {link}"
        ),
        _ => format!(
            "{company}: your payment of {amount} didn't go through. Update your card: {link}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn credentials_come_from_the_url_and_are_never_shown() {
        let api = SmsApi::from_url("twilio+https://AC123:tok_secret@api.twilio.com").unwrap();
        assert_eq!(
            api.endpoint,
            "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json"
        );
        assert!(!format!("{api:?}").contains("tok_secret"));
        for bad in [
            "https://AC123:tok_secret@api.twilio.com",
            "twilio+https://AC123@api.twilio.com",
        ] {
            let e = SmsApi::from_url(bad).unwrap_err();
            assert!(!e.contains("tok_secret"), "{e}");
        }
    }

    #[test]
    fn answers_are_classified() {
        assert_eq!(
            classify(201, &json!({"sid": "SM1"})),
            SmsOutcome::Sent(Some("SM1".into()))
        );
        let invalid = classify(
            400,
            &json!({"code": 21211, "message": "Invalid 'To' Phone Number"}),
        );
        assert!(matches!(invalid, SmsOutcome::Permanent(m) if m.contains("21211")));
        for s in [401, 429, 500, 503] {
            assert!(
                matches!(classify(s, &Value::Null), SmsOutcome::Transient(_)),
                "{s}"
            );
        }
    }
}
