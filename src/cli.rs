//! What the CLI's subcommands do, apart from argument parsing: tenant management straight on the
//! database, and `send-fixture`, which signs a Stripe event like `stripe trigger` and posts it.

use std::path::Path;

use anyhow::{Context, bail};
use secrecy::ExposeSecret;

use crate::config::Settings;
use crate::crypto::{self, Keys};
use crate::providers::stripe::signature;
use crate::store::Store;
use crate::tenants::{self, DEFAULT_TENANT, TenantInput, TenantView};

async fn open(settings: &Settings) -> anyhow::Result<(Store, Keys)> {
    let store = Store::connect(&settings.database_url, 2).await?;
    store.migrate().await?;
    let keys = crate::app::load_keys(&store, settings).await?;
    Ok((store, keys))
}

pub async fn create_tenant(
    settings: &Settings,
    input: TenantInput,
) -> anyhow::Result<(TenantView, String)> {
    let (store, keys) = open(settings).await?;
    let api_key = crypto::random_token("dk_");
    let mut row = tenants::new_row(chrono::Utc::now(), &api_key);
    tenants::apply(&mut row, input, &keys, true).map_err(|e| anyhow::anyhow!("{e}"))?;
    match store.insert_tenant(&row).await {
        Err(e) if e.is_unique_violation() => bail!("tenant {:?} already exists", row.id),
        other => other?,
    }
    Ok((tenants::view(&row, &keys), api_key))
}

pub async fn list_tenants(settings: &Settings) -> anyhow::Result<Vec<TenantView>> {
    let (store, keys) = open(settings).await?;
    Ok(store
        .tenants()
        .await?
        .iter()
        .map(|r| tenants::view(r, &keys))
        .collect())
}

pub async fn show_tenant(settings: &Settings, id: &str) -> anyhow::Result<TenantView> {
    let (store, keys) = open(settings).await?;
    let row = store
        .tenant(id)
        .await?
        .with_context(|| format!("no tenant {id:?}"))?;
    Ok(tenants::view(&row, &keys))
}

/// Signs `file` with the tenant's first webhook secret (or `secret`) at the current time and posts it.
/// Returns the service's answer as `STATUS BODY`.
pub async fn send_fixture(
    settings: &Settings,
    file: &Path,
    tenant: &str,
    base_url: &str,
    secret: Option<String>,
    keep_id: bool,
) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut event: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
    if !keep_id {
        event["id"] = serde_json::json!(format!("evt_{}", uuid::Uuid::new_v4().simple()));
    }
    let body = serde_json::to_vec(&event)?;
    let secret = match secret {
        Some(s) => s,
        None => {
            let (store, keys) = open(settings).await?;
            let row = store
                .tenant(tenant)
                .await?
                .with_context(|| format!("no tenant {tenant:?}"))?;
            let secrets = tenants::webhook_secrets(&row, &keys)?;
            secrets
                .first()
                .context("tenant has no webhook secret")?
                .expose_secret()
                .to_string()
        }
    };
    let header = signature::sign(&body, secret.as_bytes(), chrono::Utc::now().timestamp());
    let path = if tenant == DEFAULT_TENANT {
        "/webhooks/stripe".to_string()
    } else {
        format!("/webhooks/stripe/{tenant}")
    };
    let url = format!("{}{path}", base_url.trim_end_matches('/'));
    let resp = reqwest::Client::new()
        .post(&url)
        .header("Stripe-Signature", header)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .with_context(|| format!("posting to {url}"))?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("{url} answered {status}: {text}");
    }
    Ok(format!("{status} {text}"))
}
