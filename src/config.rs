//! Settings: built-in defaults, then an optional `dunning.toml`, then `DUNNING_*` environment variables.
//! Every value is validated at start; an error names the key and says what was expected.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use secrecy::SecretString;

/// Which parts of the service this process runs (several processes can share one PostgreSQL queue).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    All,
    Api,
    Worker,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub database_url: String,
    pub public_url: String,
    /// Key material for encrypting processor secrets and signing links; generated on first run if unset.
    pub secret: Option<SecretString>,
    pub admin_token: Option<SecretString>,
    /// `log`, `smtp[s]://…` or `resend+https://KEY@host`; may carry credentials, hence secret.
    pub email: SecretString,
    /// The sender of customer emails; the tenant's name is its display name and its support address
    /// the Reply-To.
    pub email_from: String,
    /// Signing secret (`whsec_…`, Svix style) of the email API's delivery webhooks; without it
    /// `/webhooks/email/resend` answers 404.
    pub email_webhook_secret: Option<SecretString>,
    /// `twilio+https://ACCOUNT_SID:AUTH_TOKEN@api.twilio.com`; SMS steps are off without it.
    pub sms: Option<SecretString>,
    /// The sender of SMS (a number in E.164 form, or an alphanumeric sender id).
    pub sms_from: Option<String>,
    pub stripe: Option<StripeShortcut>,
    pub test_clock: bool,
    pub role: Role,
    pub webhook_tolerance: Duration,
    pub max_body_bytes: usize,
    pub queue_poll: Duration,
    pub worker_concurrency: usize,
    /// Case work (charges, end actions) run at once per process: these wait on the processor's API.
    pub work_concurrency: usize,
    pub orphan_timeout: Duration,
    pub shutdown_timeout: Duration,
    /// Per HTTP attempt to the processor's API.
    pub processor_timeout: Duration,
    /// Immediate re-sends (same Idempotency-Key) of a processor call that failed in a way where
    /// that is safe; beyond them the work row is retried later.
    pub processor_retries: u32,
    pub sweep_interval: Duration,
    /// Events not processed this long after they became due are re-enqueued by the sweep.
    pub sweep_grace: Duration,
    pub process_max_attempts: u32,
    /// First wait before re-processing a failed event; doubles per attempt, capped at an hour.
    pub process_backoff: Duration,
    pub log_format: LogFormat,
    pub db_max_connections: u32,
}

/// The single-company shortcut: creates or updates the `default` tenant at start.
#[derive(Debug, Clone)]
pub struct StripeShortcut {
    pub secret_key: SecretString,
    pub webhook_secret: SecretString,
    pub api_base: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
    #[error("could not read {path}: {message}")]
    File { path: String, message: String },
}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        message: message.into(),
    }
}

/// All keys a user may set, without the `DUNNING_` prefix (lower case in `dunning.toml`).
const KEYS: &[&str] = &[
    "listen",
    "database_url",
    "public_url",
    "secret",
    "admin_token",
    "email",
    "email_from",
    "email_webhook_secret",
    "sms",
    "sms_from",
    "stripe_secret_key",
    "stripe_webhook_secret",
    "stripe_api_base",
    "test_clock",
    "role",
    "webhook_tolerance_secs",
    "max_body_bytes",
    "queue_poll_ms",
    "worker_concurrency",
    "work_concurrency",
    "orphan_timeout_secs",
    "shutdown_timeout_secs",
    "processor_timeout_secs",
    "processor_retries",
    "sweep_interval_secs",
    "sweep_grace_secs",
    "process_max_attempts",
    "process_backoff_secs",
    "log_format",
    "db_max_connections",
];

impl Settings {
    /// Loads from `dunning.toml` (or `DUNNING_CONFIG`) if present, then the process environment.
    pub fn load() -> Result<Self, ConfigError> {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        let file = env
            .get("DUNNING_CONFIG")
            .cloned()
            .unwrap_or_else(|| "dunning.toml".into());
        let explicit = env.contains_key("DUNNING_CONFIG");
        let mut raw = if Path::new(&file).exists() || explicit {
            read_toml(&file)?
        } else {
            BTreeMap::new()
        };
        for key in KEYS {
            if let Some(v) = env.get(&format!("DUNNING_{}", key.to_uppercase())) {
                raw.insert((*key).to_string(), v.clone());
            }
        }
        Self::from_map(&raw)
    }

    /// Builds settings from raw `key -> value` strings (keys as in [`KEYS`]).
    pub fn from_map(raw: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let get = |k: &str| raw.get(k).map(|s| s.trim()).filter(|s| !s.is_empty());
        let listen = parse_or(
            get("listen"),
            "listen",
            "127.0.0.1:8080",
            "an address such as 127.0.0.1:8080",
        )?;
        let database_url = get("database_url")
            .unwrap_or("sqlite://dunning.db")
            .to_string();
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "DUNNING_DATABASE_URL",
                "expected sqlite://PATH or postgres://…",
            ));
        }
        let public_url = get("public_url")
            .map(|s| s.trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("http://{listen}"));
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err(invalid(
                "DUNNING_PUBLIC_URL",
                "expected an http:// or https:// URL",
            ));
        }
        let secret = get("secret").map(|s| SecretString::from(s.to_string()));
        if get("secret").is_some_and(|s| s.len() < 32) {
            return Err(invalid(
                "DUNNING_SECRET",
                "must be at least 32 characters of random text",
            ));
        }
        let admin_token = get("admin_token").map(|s| SecretString::from(s.to_string()));
        if get("admin_token").is_some_and(|t| t.len() < 16) {
            return Err(invalid(
                "DUNNING_ADMIN_TOKEN",
                "must be at least 16 characters",
            ));
        }
        let email = get("email").unwrap_or("log").to_string();
        if !(email == "log"
            || email.starts_with("smtp://")
            || email.starts_with("smtps://")
            || email.starts_with("resend+https://")
            || email.starts_with("resend+http://"))
        {
            return Err(invalid(
                "DUNNING_EMAIL",
                "expected log, smtp://user:pass@host:port or resend+https://API_KEY@api.resend.com",
            ));
        }
        let email = SecretString::from(email);
        let email_from = get("email_from").unwrap_or("dunning@localhost").to_string();
        if email_from.parse::<lettre::Address>().is_err() {
            return Err(invalid(
                "DUNNING_EMAIL_FROM",
                "expected an email address such as billing@example.com",
            ));
        }
        let email_webhook_secret =
            get("email_webhook_secret").map(|s| SecretString::from(s.to_string()));
        let sms = get("sms").map(|s| SecretString::from(s.to_string()));
        let sms_from = get("sms_from").map(str::to_string);
        if let Some(s) = get("sms")
            && let Err(e) = crate::sms::SmsApi::from_url(s)
        {
            return Err(invalid("DUNNING_SMS", e));
        }
        if sms.is_some() && sms_from.is_none() {
            return Err(invalid(
                "DUNNING_SMS_FROM",
                "required when DUNNING_SMS is set (a number such as +15555550100)",
            ));
        }
        let stripe = match (get("stripe_secret_key"), get("stripe_webhook_secret")) {
            (Some(k), Some(w)) => Some(StripeShortcut {
                secret_key: SecretString::from(k.to_string()),
                webhook_secret: SecretString::from(w.to_string()),
                api_base: get("stripe_api_base").map(str::to_string),
            }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(invalid(
                    "DUNNING_STRIPE_WEBHOOK_SECRET",
                    "required when DUNNING_STRIPE_SECRET_KEY is set",
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "DUNNING_STRIPE_SECRET_KEY",
                    "required when DUNNING_STRIPE_WEBHOOK_SECRET is set",
                ));
            }
        };
        let role = match get("role").unwrap_or("all") {
            "all" => Role::All,
            "api" => Role::Api,
            "worker" => Role::Worker,
            _ => return Err(invalid("DUNNING_ROLE", "expected all, api or worker")),
        };
        let log_format = match get("log_format").unwrap_or("pretty") {
            "pretty" => LogFormat::Pretty,
            "json" => LogFormat::Json,
            _ => return Err(invalid("DUNNING_LOG_FORMAT", "expected pretty or json")),
        };
        let secs = |k: &str, d: u64| -> Result<Duration, ConfigError> {
            Ok(Duration::from_secs(parse_or(
                get(k),
                k,
                &d.to_string(),
                "a whole number of seconds",
            )?))
        };
        let settings = Settings {
            listen,
            database_url,
            public_url,
            secret,
            admin_token,
            email,
            email_from,
            email_webhook_secret,
            sms,
            sms_from,
            stripe,
            test_clock: parse_or(get("test_clock"), "test_clock", "false", "true or false")?,
            role,
            webhook_tolerance: secs("webhook_tolerance_secs", 300)?,
            max_body_bytes: parse_or(
                get("max_body_bytes"),
                "max_body_bytes",
                "1048576",
                "a number of bytes",
            )?,
            queue_poll: Duration::from_millis(parse_or(
                get("queue_poll_ms"),
                "queue_poll_ms",
                "200",
                "milliseconds",
            )?),
            worker_concurrency: parse_or(
                get("worker_concurrency"),
                "worker_concurrency",
                // Low so that processing never starves webhook ingestion on a small machine.
                "2",
                "a positive number",
            )?,
            work_concurrency: parse_or(
                get("work_concurrency"),
                "work_concurrency",
                // A charge spends most of its time waiting on Stripe; this bounds the calls in flight
                // well under Stripe's default rate limit (100 requests/s in live mode).
                "16",
                "a positive number",
            )?,
            orphan_timeout: secs("orphan_timeout_secs", 60)?,
            shutdown_timeout: secs("shutdown_timeout_secs", 20)?,
            processor_timeout: secs("processor_timeout_secs", 30)?,
            processor_retries: parse_or(
                get("processor_retries"),
                "processor_retries",
                "3",
                "a whole number",
            )?,
            sweep_interval: secs("sweep_interval_secs", 30)?,
            sweep_grace: secs("sweep_grace_secs", 30)?,
            process_max_attempts: parse_or(
                get("process_max_attempts"),
                "process_max_attempts",
                "8",
                "a positive number",
            )?,
            process_backoff: secs("process_backoff_secs", 10)?,
            log_format,
            db_max_connections: parse_or(
                get("db_max_connections"),
                "db_max_connections",
                "16",
                "a positive number",
            )?,
        };
        settings.check_ranges()?;
        Ok(settings)
    }

    fn check_ranges(&self) -> Result<(), ConfigError> {
        if self.queue_poll > Duration::from_secs(1) || self.queue_poll.is_zero() {
            return Err(invalid(
                "DUNNING_QUEUE_POLL_MS",
                "must be between 1 and 1000 so tasks start within a second",
            ));
        }
        if self.worker_concurrency == 0 {
            return Err(invalid("DUNNING_WORKER_CONCURRENCY", "must be at least 1"));
        }
        if self.processor_timeout.is_zero() {
            return Err(invalid(
                "DUNNING_PROCESSOR_TIMEOUT_SECS",
                "must be at least 1",
            ));
        }
        if self.work_concurrency == 0 {
            return Err(invalid("DUNNING_WORK_CONCURRENCY", "must be at least 1"));
        }
        if self.process_max_attempts == 0 {
            return Err(invalid(
                "DUNNING_PROCESS_MAX_ATTEMPTS",
                "must be at least 1",
            ));
        }
        if self.db_max_connections == 0 {
            return Err(invalid("DUNNING_DB_MAX_CONNECTIONS", "must be at least 1"));
        }
        if self.orphan_timeout < Duration::from_secs(2) {
            return Err(invalid(
                "DUNNING_ORPHAN_TIMEOUT_SECS",
                "must be at least 2 seconds",
            ));
        }
        if self.max_body_bytes < 1024 {
            return Err(invalid("DUNNING_MAX_BODY_BYTES", "must be at least 1024"));
        }
        Ok(())
    }

    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres")
    }
}

fn parse_or<T: std::str::FromStr>(
    value: Option<&str>,
    key: &str,
    default: &str,
    expected: &str,
) -> Result<T, ConfigError> {
    let v = value.unwrap_or(default);
    v.parse::<T>().map_err(|_| {
        invalid(
            &format!("DUNNING_{}", key.to_uppercase()),
            format!("expected {expected}, got {v:?}"),
        )
    })
}

fn read_toml(path: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
        path: path.to_string(),
        message: e.to_string(),
    })?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::File {
            path: path.to_string(),
            message: e.message().to_string(),
        })?;
    let mut out = BTreeMap::new();
    for (k, v) in table {
        if !KEYS.contains(&k.as_str()) {
            return Err(invalid(
                &format!("{path}: {k}"),
                format!("unknown key; known keys are {}", KEYS.join(", ")),
            ));
        }
        let s = match v {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                return Err(invalid(
                    &format!("{path}: {k}"),
                    format!(
                        "expected a string, number or boolean, got {}",
                        other.type_str()
                    ),
                ));
            }
        };
        out.insert(k, s);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_need_no_configuration() {
        let s = Settings::from_map(&BTreeMap::new()).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.database_url, "sqlite://dunning.db");
        assert_eq!(s.max_body_bytes, 1024 * 1024);
        assert_eq!(s.webhook_tolerance, Duration::from_secs(300));
        assert_eq!(s.role, Role::All);
        assert!(!s.test_clock);
    }

    #[test]
    fn errors_name_the_key_and_the_expectation() {
        let e = Settings::from_map(&map(&[("listen", "nowhere")]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("DUNNING_LISTEN") && e.contains("expected"),
            "{e}"
        );
        let e = Settings::from_map(&map(&[("database_url", "mysql://x")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("DUNNING_DATABASE_URL"), "{e}");
        let e = Settings::from_map(&map(&[("stripe_secret_key", "sk_test_1")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("DUNNING_STRIPE_WEBHOOK_SECRET"), "{e}");
        let e = Settings::from_map(&map(&[("queue_poll_ms", "5000")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("DUNNING_QUEUE_POLL_MS"), "{e}");
        let e = Settings::from_map(&map(&[("secret", "short")]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("DUNNING_SECRET") && !e.contains("short\""),
            "{e}"
        );
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let s = Settings::from_map(&map(&[
            ("secret", "0123456789abcdef0123456789abcdef-very-secret"),
            ("stripe_secret_key", "sk_test_supersecret"),
            ("stripe_webhook_secret", "whsec_supersecret"),
        ]))
        .unwrap();
        let dbg = format!("{s:?}");
        assert!(
            !dbg.contains("very-secret") && !dbg.contains("supersecret"),
            "{dbg}"
        );
    }

    #[test]
    fn toml_file_rejects_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dunning.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:9000\"\nlisten_port = 3\n").unwrap();
        let e = read_toml(path.to_str().unwrap()).unwrap_err().to_string();
        assert!(
            e.contains("listen_port") && e.contains("unknown key"),
            "{e}"
        );
        std::fs::write(&path, "listen = \"127.0.0.1:9000\"\ntest_clock = true\n").unwrap();
        let raw = read_toml(path.to_str().unwrap()).unwrap();
        let s = Settings::from_map(&raw).unwrap();
        assert_eq!(s.listen.port(), 9000);
        assert!(s.test_clock);
    }
}
