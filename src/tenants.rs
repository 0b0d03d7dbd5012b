//! Tenants (the SaaS companies using the service): validation of what the admin API accepts, and the
//! mapping between the API shape and stored rows, where processor secrets are encrypted.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, Keys};
use crate::providers::api::CardUpdateFlow;
use crate::store::tenants::TenantRow;

pub const DEFAULT_TENANT: &str = "default";
const LOCALES: &[&str] = &["en", "fr", "nl", "de", "es"];

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Branding {
    pub name: Option<String>,
    pub logo_url: Option<String>,
    pub primary_color: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Support {
    pub email: Option<String>,
    pub url: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StripeInput {
    pub secret_key: Option<SecretString>,
    pub webhook_secrets: Option<Vec<SecretString>>,
    pub api_base: Option<String>,
}

/// Body of `POST /v1/tenants` and `PATCH /v1/tenants/{id}` (on PATCH every field is optional and
/// `stripe.webhook_secrets` replaces the whole list, which is how a secret is rotated).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantInput {
    pub id: Option<String>,
    pub name: Option<String>,
    pub status: Option<String>,
    pub stripe: Option<StripeInput>,
    pub locale: Option<String>,
    pub time_zone: Option<String>,
    pub mode: Option<String>,
    pub branding: Option<Branding>,
    pub support: Option<Support>,
    /// `billing_portal` (default) or `checkout`.
    pub card_update: Option<String>,
    pub expiring_card_notices: Option<bool>,
}

/// What the API shows of a tenant: never a secret, only hints that one is set.
#[derive(Debug, Clone, Serialize)]
pub struct TenantView {
    pub id: String,
    pub name: String,
    pub status: String,
    pub stripe: StripeView,
    pub locale: String,
    pub time_zone: String,
    pub mode: String,
    pub branding: Branding,
    pub support: Support,
    pub card_update: String,
    pub expiring_card_notices: bool,
    pub webhook_path: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StripeView {
    pub secret_key_hint: Option<String>,
    pub webhook_secret_count: usize,
    pub api_base: Option<String>,
}

/// One complaint per bad field, each naming the field.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct Invalid(pub Vec<String>);

fn valid_id(id: &str) -> bool {
    let b = id.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'_')
}

pub fn valid_time_zone(tz: &str) -> bool {
    tz == "UTC" || tz.parse::<chrono_tz::Tz>().is_ok()
}

fn normalise_api_base(base: &str) -> Option<String> {
    let b = base.trim();
    if !(b.starts_with("http://") || b.starts_with("https://")) {
        return None;
    }
    // async-stripe joins `{base}v1{path}`: a base with a path needs its trailing slash.
    Some(if b.ends_with('/') {
        b.to_string()
    } else {
        format!("{b}/")
    })
}

/// Applies `input` onto `row` (a fresh row on create), validating every field it touches.
pub fn apply(
    row: &mut TenantRow,
    input: TenantInput,
    keys: &Keys,
    creating: bool,
) -> Result<(), Invalid> {
    let mut errs = Vec::new();
    if creating {
        match input.id.as_deref() {
            Some(id) if valid_id(id) => row.id = id.to_string(),
            Some(_) => errs.push("id: use 1-63 lower-case letters, digits, '-' or '_', starting with a letter or digit".into()),
            None => errs.push("id: required".into()),
        }
    } else if input.id.as_deref().is_some_and(|id| id != row.id) {
        errs.push("id: cannot be changed".into());
    }
    match input.name {
        Some(n) if n.trim().is_empty() || n.len() > 200 => {
            errs.push("name: must be 1-200 characters".into())
        }
        Some(n) => row.name = n.trim().to_string(),
        None if creating => errs.push("name: required".into()),
        None => {}
    }
    if let Some(s) = input.status {
        match s.as_str() {
            "active" | "disabled" => row.status = s,
            _ => errs.push("status: expected active or disabled".into()),
        }
    }
    if let Some(l) = input.locale {
        if LOCALES.contains(&l.as_str()) {
            row.locale = l;
        } else {
            errs.push(format!("locale: expected one of {}", LOCALES.join(", ")));
        }
    }
    if let Some(tz) = input.time_zone {
        if valid_time_zone(&tz) {
            row.time_zone = tz;
        } else {
            errs.push("time_zone: expected an IANA time zone such as Europe/Paris".into());
        }
    }
    if let Some(m) = input.mode {
        match m.as_str() {
            "manage" | "observe" => row.mode = m,
            _ => errs.push("mode: expected manage or observe".into()),
        }
    }
    if let Some(b) = input.branding {
        if b.primary_color.as_deref().is_some_and(|c| !valid_color(c)) {
            errs.push("branding.primary_color: expected a hex colour such as #1a73e8".into());
        }
        row.branding = serde_json::to_string(&b).expect("branding serialises");
    }
    if let Some(s) = input.support {
        if s.email.as_deref().is_some_and(|e| !e.contains('@')) {
            errs.push("support.email: expected an email address".into());
        }
        row.support = serde_json::to_string(&s).expect("support serialises");
    }
    if let Some(flow) = input.card_update {
        match CardUpdateFlow::parse(&flow) {
            Some(_) => row.card_update = flow,
            None => errs.push("card_update: expected billing_portal or checkout".into()),
        }
    }
    if let Some(on) = input.expiring_card_notices {
        row.expiring_card_notices = on;
    }
    if let Some(stripe) = input.stripe {
        apply_stripe(row, stripe, keys, &mut errs);
    }
    if creating && row.webhook_secrets_enc.is_empty() {
        errs.push(
            "stripe.webhook_secrets: at least one signing secret (whsec_…) is required".into(),
        );
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(Invalid(errs))
    }
}

fn apply_stripe(row: &mut TenantRow, s: StripeInput, keys: &Keys, errs: &mut Vec<String>) {
    if let Some(k) = s.secret_key {
        let v = k.expose_secret();
        if v.starts_with("sk_") || v.starts_with("rk_") {
            row.stripe_secret_key_enc = Some(keys.encrypt(v));
        } else {
            errs.push(
                "stripe.secret_key: expected a Stripe secret or restricted key (sk_… or rk_…)"
                    .into(),
            );
        }
    }
    if let Some(secrets) = s.webhook_secrets {
        let plain: Vec<&str> = secrets.iter().map(|s| s.expose_secret().trim()).collect();
        if plain.is_empty() || plain.iter().any(|s| s.len() < 8) {
            errs.push(
                "stripe.webhook_secrets: expected one or more signing secrets (whsec_…)".into(),
            );
        } else {
            row.webhook_secrets_enc =
                keys.encrypt(&serde_json::to_string(&plain).expect("strings serialise"));
        }
    }
    if let Some(base) = s.api_base {
        match normalise_api_base(&base) {
            Some(b) => row.stripe_api_base = Some(b),
            None => errs.push("stripe.api_base: expected an http:// or https:// URL".into()),
        }
    }
}

fn valid_color(c: &str) -> bool {
    let h = c.strip_prefix('#').unwrap_or("");
    (h.len() == 3 || h.len() == 6) && h.chars().all(|c| c.is_ascii_hexdigit())
}

/// A row with defaults, to be filled by [`apply`] on create.
pub fn new_row(now: DateTime<Utc>, api_key: &str) -> TenantRow {
    TenantRow {
        id: String::new(),
        name: String::new(),
        status: "active".into(),
        api_key_hash: crypto::hash_token(api_key),
        stripe_secret_key_enc: None,
        stripe_api_base: None,
        webhook_secrets_enc: String::new(),
        locale: "en".into(),
        time_zone: "UTC".into(),
        mode: "manage".into(),
        branding: "{}".into(),
        support: "{}".into(),
        card_update: CardUpdateFlow::default().as_str().into(),
        expiring_card_notices: false,
        created_at: now,
        updated_at: now,
    }
}

pub fn webhook_secrets(
    row: &TenantRow,
    keys: &Keys,
) -> Result<Vec<SecretString>, crypto::CryptoError> {
    let json = keys.decrypt(&row.webhook_secrets_enc)?;
    let list: Vec<String> =
        serde_json::from_str(json.expose_secret()).map_err(|_| crypto::CryptoError::Malformed)?;
    Ok(list.into_iter().map(SecretString::from).collect())
}

pub fn view(row: &TenantRow, keys: &Keys) -> TenantView {
    let hint = row
        .stripe_secret_key_enc
        .as_deref()
        .and_then(|enc| keys.decrypt(enc).ok())
        .map(|k| key_hint(k.expose_secret()));
    let path = if row.id == DEFAULT_TENANT {
        "/webhooks/stripe".to_string()
    } else {
        format!("/webhooks/stripe/{}", row.id)
    };
    TenantView {
        id: row.id.clone(),
        name: row.name.clone(),
        status: row.status.clone(),
        stripe: StripeView {
            secret_key_hint: hint,
            webhook_secret_count: webhook_secrets(row, keys).map(|v| v.len()).unwrap_or(0),
            api_base: row.stripe_api_base.clone(),
        },
        locale: row.locale.clone(),
        time_zone: row.time_zone.clone(),
        mode: row.mode.clone(),
        branding: serde_json::from_str(&row.branding).unwrap_or_default(),
        support: serde_json::from_str(&row.support).unwrap_or_default(),
        card_update: row.card_update.clone(),
        expiring_card_notices: row.expiring_card_notices,
        webhook_path: path,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

/// `sk_test_…wxyz`: enough to tell keys apart, useless to an attacker.
fn key_hint(key: &str) -> String {
    let prefix: String = key.split('_').take(2).collect::<Vec<_>>().join("_");
    let tail: String = key
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{prefix}_…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Keys::derive(&SecretString::from(
            "test-secret-test-secret-test-secret-1234".to_string(),
        ))
    }

    fn input(json: serde_json::Value) -> TenantInput {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn create_validates_and_encrypts() {
        let k = keys();
        let mut row = new_row(Utc::now(), "dk_x");
        let i = input(
            serde_json::json!({"id": "acme", "name": "Acme", "time_zone": "Europe/Paris",
            "stripe": {"secret_key": "sk_test_abcdefgh1234", "webhook_secrets": ["whsec_one11111", "whsec_two22222"],
            "api_base": "http://127.0.0.1:12111"}}),
        );
        apply(&mut row, i, &k, true).unwrap();
        assert!(!row.webhook_secrets_enc.contains("whsec"));
        assert!(
            !row.stripe_secret_key_enc
                .as_deref()
                .unwrap()
                .contains("sk_test")
        );
        assert_eq!(
            row.stripe_api_base.as_deref(),
            Some("http://127.0.0.1:12111/")
        );
        let secrets = webhook_secrets(&row, &k).unwrap();
        assert_eq!(secrets.len(), 2);
        let v = view(&row, &k);
        assert_eq!(v.stripe.secret_key_hint.as_deref(), Some("sk_test_…1234"));
        assert_eq!(v.webhook_path, "/webhooks/stripe/acme");
        let shown = serde_json::to_string(&v).unwrap();
        assert!(!shown.contains("whsec_") && !shown.contains("abcdefgh"));
    }

    #[test]
    fn every_bad_field_is_named() {
        let mut row = new_row(Utc::now(), "dk_x");
        let i = input(
            serde_json::json!({"id": "Bad Id", "locale": "xx", "time_zone": "Mars/Olympus",
            "mode": "yolo", "stripe": {"secret_key": "pk_live_1"}}),
        );
        let Invalid(errs) = apply(&mut row, i, &keys(), true).unwrap_err();
        let all = errs.join("\n");
        for field in [
            "id:",
            "name:",
            "locale:",
            "time_zone:",
            "mode:",
            "stripe.secret_key:",
            "stripe.webhook_secrets:",
        ] {
            assert!(all.contains(field), "missing {field} in {all}");
        }
        assert!(!all.contains("pk_live_1"), "errors must not echo secrets");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let r: Result<TenantInput, _> =
            serde_json::from_value(serde_json::json!({"id": "a", "nmae": "x"}));
        assert!(r.unwrap_err().to_string().contains("nmae"));
    }
}

/// Tenants as the webhook inbox sees them, cached briefly so a delivery costs no extra database
/// round trip. Changes made through this process invalidate at once; other instances see them within
/// the time to live.
#[derive(Debug, Default)]
pub struct TenantCache {
    entries: std::sync::Mutex<std::collections::HashMap<String, CachedTenant>>,
}

/// When the tenant was read, and what was found.
type CachedTenant = (std::time::Instant, Option<std::sync::Arc<TenantRow>>);

const TENANT_TTL: std::time::Duration = std::time::Duration::from_secs(2);

impl TenantCache {
    /// The tenant as read at most [`TENANT_TTL`] ago. Shared, not copied: every work row and
    /// webhook asks for it.
    pub async fn get(
        &self,
        store: &crate::store::Store,
        id: &str,
    ) -> crate::store::Result<Option<std::sync::Arc<TenantRow>>> {
        {
            let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((_, row)) = entries.get(id).filter(|(at, _)| at.elapsed() < TENANT_TTL) {
                return Ok(row.clone());
            }
        }
        let row = store.tenant(id).await?.map(std::sync::Arc::new);
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() > 10_000 {
            entries.clear();
        }
        entries.insert(id.to_string(), (std::time::Instant::now(), row.clone()));
        Ok(row)
    }

    pub fn invalidate(&self, id: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }
}
