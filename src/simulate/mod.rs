//! `dunning simulate SCENARIO`: replays a scenario (invoices whose charges decline or succeed, webhook
//! events, clock advances) against an embedded service with a test clock and a fake Stripe, and
//! returns each case's timeline — the way to try a campaign before turning it on.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::app::Application;
use crate::config::Settings;
use crate::providers::stripe::signature;
use crate::testing::fake_stripe::{FakeStripe, Outcome};

pub mod events;

use events::Invoice;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(default)]
    pub tenant: TenantSpec,
    /// A campaign definition (as for `PUT /v1/campaigns/{id}`); the built-in default otherwise.
    pub campaign: Option<Value>,
    pub invoices: Vec<InvoiceSpec>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenantSpec {
    pub time_zone: String,
    pub mode: String,
    pub locale: String,
}

impl Default for TenantSpec {
    fn default() -> Self {
        TenantSpec {
            time_zone: "UTC".into(),
            mode: "manage".into(),
            locale: "en".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvoiceSpec {
    pub id: String,
    #[serde(default = "default_customer")]
    pub customer: String,
    pub amount_due: i64,
    #[serde(default = "default_currency")]
    pub currency: String,
    /// What each charge attempt answers, in order: `succeed` or a decline code such as
    /// `insufficient_funds` or `expired_card`. When the list runs out, charges succeed.
    #[serde(default)]
    pub charges: Vec<String>,
}

fn default_customer() -> String {
    "cus_simulated".into()
}

fn default_currency() -> String {
    "usd".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, untagged)]
pub enum Step {
    /// A webhook: `invoice.payment_failed` (with the issuer's `decline_code`), `invoice.paid`,
    /// `customer.subscription.deleted` or `card.updated`.
    Event {
        event: String,
        invoice: String,
        decline_code: Option<String>,
    },
    Advance {
        advance_days: f64,
    },
}

const HARD: &[&str] = &[
    "expired_card",
    "incorrect_number",
    "lost_card",
    "stolen_card",
    "pickup_card",
    "authentication_required",
];

fn outcome(code: &str) -> Outcome {
    match code {
        "succeed" => Outcome::Succeed,
        c if HARD.contains(&c) => Outcome::decline(c, Some(c)),
        c => Outcome::decline("card_declined", Some(c)),
    }
}

/// Runs the scenario in a temporary directory and returns the timelines as text.
pub async fn run(scenario: &Scenario) -> anyhow::Result<String> {
    let dir = tempfile_dir()?;
    let admin = crate::crypto::random_token("dadm_");
    let raw: BTreeMap<String, String> = [
        ("listen", "127.0.0.1:0".to_string()),
        (
            "database_url",
            format!("sqlite://{}", dir.join("simulate.db").display()),
        ),
        ("admin_token", admin.clone()),
        ("secret", crate::crypto::random_token("")),
        ("test_clock", "true".into()),
        ("queue_poll_ms", "20".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let app = Application::build(Settings::from_map(&raw)?).await?;
    let base = format!("http://{}", app.local_addr());
    let state = app.state().clone();
    let stop = CancellationToken::new();
    let server = tokio::spawn(app.run_until_stopped(stop.clone()));
    let (stripe, stripe_base) = FakeStripe::start().await;
    let http = reqwest::Client::new();
    let whsec = "whsec_simulation";
    let created = http
        .post(format!("{base}/v1/tenants"))
        .bearer_auth(&admin)
        .json(&json!({"id": "sim", "name": "Simulation", "time_zone": scenario.tenant.time_zone,
            "mode": scenario.tenant.mode, "locale": scenario.tenant.locale,
            "stripe": {"secret_key": "sk_test_simulation", "webhook_secrets": [whsec], "api_base": stripe_base}}))
        .send()
        .await?;
    if !created.status().is_success() {
        bail!("tenant: {}", created.text().await?);
    }
    let key = created.json::<Value>().await?["api_key"]
        .as_str()
        .context("api key")?
        .to_string();
    if let Some(c) = &scenario.campaign {
        let id = c["id"].as_str().unwrap_or("simulated");
        let r = http
            .put(format!("{base}/v1/campaigns/{id}"))
            .bearer_auth(&key)
            .json(c)
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("campaign: {}", r.text().await?);
        }
    }
    for inv in &scenario.invoices {
        let sub = format!("sub_{}", inv.id);
        stripe.add_invoice(
            &inv.id,
            &inv.customer,
            Some(&sub),
            inv.amount_due,
            &inv.currency,
        );
        stripe.script_pay(&inv.id, inv.charges.iter().map(|c| outcome(c)).collect());
    }
    let mut n = 0;
    for step in &scenario.steps {
        match step {
            Step::Advance { advance_days } => {
                let secs = (advance_days * 86_400.0) as i64;
                let r = http
                    .post(format!("{base}/v1/admin/clock"))
                    .bearer_auth(&admin)
                    .json(&json!({"advance_seconds": secs}))
                    .timeout(Duration::from_secs(600))
                    .send()
                    .await?;
                if !r.status().is_success() {
                    bail!("advancing the clock: {}", r.text().await?);
                }
            }
            Step::Event {
                event,
                invoice,
                decline_code,
            } => {
                let spec = scenario
                    .invoices
                    .iter()
                    .find(|i| &i.id == invoice)
                    .with_context(|| format!("unknown invoice {invoice}"))?;
                let sub = format!("sub_{}", spec.id);
                let inv = Invoice {
                    id: &spec.id,
                    customer: &spec.customer,
                    subscription: &sub,
                    amount_due: spec.amount_due,
                    currency: &spec.currency,
                };
                let at = state.clock.now();
                let mut bodies = Vec::new();
                n += 1;
                match event.as_str() {
                    "invoice.payment_failed" => {
                        bodies.push(events::payment_failed(&format!("evt_sim_{n}a"), &inv, at));
                        if let Some(code) = decline_code {
                            let kind = if HARD.contains(&code.as_str()) {
                                code.as_str()
                            } else {
                                "card_declined"
                            };
                            bodies.push(events::charge_failed(
                                &format!("evt_sim_{n}b"),
                                &inv,
                                kind,
                                code,
                                at,
                            ));
                        }
                    }
                    "invoice.paid" => {
                        bodies.push(events::invoice_paid(&format!("evt_sim_{n}"), &inv, at))
                    }
                    "customer.subscription.deleted" => bodies.push(events::subscription_deleted(
                        &format!("evt_sim_{n}"),
                        &inv,
                        at,
                    )),
                    "card.updated" => bodies.push(events::card_updated(
                        &format!("evt_sim_{n}"),
                        inv.customer,
                        at,
                    )),
                    other => bail!("unknown event {other:?}"),
                }
                for body in bodies {
                    deliver(&http, &base, &key, whsec, &body).await?;
                }
            }
        }
    }
    let text = report(&http, &base, &key).await?;
    stop.cancel();
    let _ = server.await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(text)
}

async fn deliver(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    whsec: &str,
    body: &Value,
) -> anyhow::Result<()> {
    let bytes = serde_json::to_vec(body)?;
    let header = signature::sign(&bytes, whsec.as_bytes(), Utc::now().timestamp());
    let r = http
        .post(format!("{base}/webhooks/stripe/sim"))
        .header("Stripe-Signature", header)
        .body(bytes)
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("webhook refused: {}", r.text().await?);
    }
    // Wait until it is processed, so the next step sees its effects.
    let id = body["id"].as_str().unwrap_or_default();
    for _ in 0..1000 {
        let v: Value = http
            .get(format!("{base}/v1/events?limit=20"))
            .bearer_auth(key)
            .send()
            .await?
            .json()
            .await?;
        let done = v["data"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["provider_event_id"] == id && e["status"] != "received");
        if done {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!("event {id} was not processed")
}

async fn report(http: &reqwest::Client, base: &str, key: &str) -> anyhow::Result<String> {
    let list: Value = http
        .get(format!("{base}/v1/cases?limit=500"))
        .bearer_auth(key)
        .send()
        .await?
        .json()
        .await?;
    let mut out = String::new();
    for c in list["data"].as_array().into_iter().flatten().rev() {
        let id = c["id"].as_str().unwrap_or_default();
        let d: Value = http
            .get(format!("{base}/v1/cases/{id}"))
            .bearer_auth(key)
            .send()
            .await?
            .json()
            .await?;
        out.push_str(&format!(
            "case {} · invoice {} · {} {} · {}{}\n",
            id,
            d["invoice_id"].as_str().unwrap_or_default(),
            d["amount_due"],
            d["currency"].as_str().unwrap_or_default(),
            d["status"].as_str().unwrap_or_default(),
            d["recovered_by"]
                .as_str()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default(),
        ));
        for t in d["timeline"].as_array().into_iter().flatten() {
            let at = t["at"].as_str().unwrap_or_default();
            out.push_str(&format!(
                "  {}  {:<16} {}\n",
                &at[..at.len().min(16)],
                t["kind"].as_str().unwrap_or_default(),
                t["detail"].as_str().unwrap_or_default()
            ));
        }
        out.push('\n');
    }
    Ok(out)
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "dunning-simulate-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
