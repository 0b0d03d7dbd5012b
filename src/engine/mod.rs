//! The recovery engine: feeds normalised events and job outcomes to the pure case state machine and
//! persists what it decides. Work it schedules is executed by `work` through the processor's API.

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Duration, Utc};

use crate::app::AppState;
use crate::domain::campaign::{self, Campaign, CaseFacts};
use crate::domain::case::{self, CampaignRef, Case, CaseEvent, Mode, NewCase};
use crate::domain::money::{Currency, Money};
use crate::jobs::process_event::{EventSink, ProcessError};
use crate::providers::NormalizedEvent;
use crate::store::StoreError;
use crate::store::cases::{CaseFilter, CaseRow};
use crate::store::events::EventRow;
use crate::store::tenants::TenantRow;

pub mod card_update;
pub mod delivery;
mod expiring;
pub mod mapping;
mod messaging;
mod persist;
mod sms;
pub mod tasks;
pub mod work;

use mapping::{Route, Seed};

/// Optimistic saves that lose to a concurrent writer are retried this many times.
const SAVE_TRIES: usize = 8;

/// The engine as the inbox's event sink.
pub struct Engine;

impl EventSink for Engine {
    fn handle<'a>(
        &'a self,
        state: &'a AppState,
        row: &'a EventRow,
        event: &'a NormalizedEvent,
    ) -> Pin<Box<dyn Future<Output = Result<(), ProcessError>> + Send + 'a>> {
        Box::pin(async move {
            let tenant = state
                .tenant_cache
                .get(&state.store, &row.tenant_id)
                .await
                .map_err(transient)?
                .ok_or_else(|| {
                    ProcessError::Permanent(format!("tenant {} no longer exists", row.tenant_id))
                })?;
            handle_route(state, &tenant, mapping::route(event)).await
        })
    }
}

pub fn transient(e: StoreError) -> ProcessError {
    ProcessError::Transient(e.to_string())
}

async fn handle_route(
    state: &AppState,
    tenant: &TenantRow,
    route: Route,
) -> Result<(), ProcessError> {
    match route {
        Route::Nothing => Ok(()),
        Route::CardExpiring { customer_id, card } => {
            expiring::card_expiring(state, tenant, &customer_id, &card).await
        }
        Route::CardUpdateSession {
            case_id,
            session_id,
        } => {
            let Some(row) = state
                .store
                .case(&tenant.id, &case_id)
                .await
                .map_err(transient)?
            else {
                return Ok(());
            };
            let case = card_update::parse(&row)?;
            if !case.is_open() {
                return Ok(());
            }
            card_update::complete(state, tenant, &row, &case, Some(&session_id))
                .await
                .map(|_| ())
                .map_err(|e| match e {
                    card_update::CardUpdateError::Processor(f) if f.is_transient() => {
                        ProcessError::Transient(f.to_string())
                    }
                    card_update::CardUpdateError::Processor(f) => {
                        ProcessError::Permanent(f.to_string())
                    }
                    card_update::CardUpdateError::Engine(e) => e,
                })
        }
        Route::Invoice {
            invoice_id,
            seed,
            event,
        } => feed(state, tenant, &invoice_id, seed.as_ref(), &event)
            .await
            .map(|_| ()),
        Route::Customer { customer_id, event } => {
            let f = CaseFilter {
                customer_id: Some(customer_id),
                status: Some("open".into()),
                limit: 100,
                ..Default::default()
            };
            for c in state
                .store
                .list_cases(&tenant.id, &f)
                .await
                .map_err(transient)?
            {
                feed(state, tenant, &c.invoice_id, None, &event).await?;
            }
            Ok(())
        }
        Route::Subscription {
            subscription_id,
            event,
        } => {
            // By the subscription's own index: every case of it, however many others the tenant has.
            let f = CaseFilter {
                subscription_id: Some(subscription_id),
                limit: 100,
                ..Default::default()
            };
            for c in state
                .store
                .list_cases(&tenant.id, &f)
                .await
                .map_err(transient)?
            {
                feed(state, tenant, &c.invoice_id, None, &event).await?;
            }
            Ok(())
        }
    }
}

/// Applies `event` to the invoice's case (opening it from `seed` if needed) and saves the result with
/// its commands. Returns the case after the event, or `None` when there is no case and no seed.
pub async fn feed(
    state: &AppState,
    tenant: &TenantRow,
    invoice_id: &str,
    seed: Option<&Seed>,
    event: &CaseEvent,
) -> Result<Option<Case>, ProcessError> {
    for _ in 0..SAVE_TRIES {
        let now = state.clock.now();
        let existing = state
            .store
            .case_by_invoice(&tenant.id, invoice_id)
            .await
            .map_err(transient)?;
        let (mut row, case, version) = match existing {
            Some(row) => {
                let case: Case = serde_json::from_str(&row.state).map_err(|e| {
                    ProcessError::Permanent(format!("stored case {} is unreadable: {e}", row.id))
                })?;
                let v = row.version;
                (row, case, Some(v))
            }
            None => match seed {
                Some(seed) => {
                    let (row, case) = open(state, tenant, invoice_id, seed, now).await?;
                    (row, case, None)
                }
                None => return Ok(None),
            },
        };
        let campaign = campaign_version(state, &tenant.id, &case.campaign).await?;
        let mut case = case;
        if let Some(seed) = seed {
            fill_gaps(&mut row, &mut case, seed);
        }
        if let Some(fp) = fingerprint(&case) {
            let mut history = card_histories(state, std::slice::from_ref(&fp), now).await?;
            case.card_history = history.remove(&fp).unwrap_or_default();
        }
        let (next, commands) = case::apply(&case, event, &campaign, now);
        if commands.is_empty() && version.is_some() && next == case {
            return Ok(Some(next));
        }
        let pending = match version {
            Some(_) => state
                .store
                .pending_work_ids(&row.id)
                .await
                .map_err(transient)?,
            None => Vec::new(),
        };
        let (save, _) = persist::case_save(row, version, &next, &commands, &pending, now);
        if state.store.save_case(&save, now).await.map_err(transient)? {
            return Ok(Some(next));
        }
    }
    Err(ProcessError::Transient(
        "the case kept changing under concurrent updates".into(),
    ))
}

async fn open(
    state: &AppState,
    tenant: &TenantRow,
    invoice_id: &str,
    seed: &Seed,
    now: DateTime<Utc>,
) -> Result<(CaseRow, Case), ProcessError> {
    let currency = Currency::new(&seed.currency)
        .map_err(|e| ProcessError::Permanent(format!("invoice currency: {e}")))?;
    let amount = Money::new(seed.amount_due, currency);
    let prior = state
        .store
        .customer_case_count(&tenant.id, &seed.customer_id)
        .await
        .map_err(transient)?;
    let prior = u32::try_from(prior).unwrap_or(u32::MAX);
    let facts = CaseFacts {
        amount: amount.clone(),
        product_ids: seed.product_ids.clone(),
        price_ids: seed.price_ids.clone(),
        customer_metadata: seed.customer_metadata.clone(),
        prior_cases: prior,
    };
    let campaigns = state
        .store
        .current_campaigns(&tenant.id)
        .await
        .map_err(transient)?;
    let chosen = campaign::choose(&campaigns, &facts);
    let id = uuid::Uuid::now_v7().to_string();
    let mode = if tenant.mode == "observe" {
        Mode::Observe
    } else {
        Mode::Manage
    };
    let case = Case::new(NewCase {
        id: id.clone(),
        invoice_id: invoice_id.to_string(),
        customer_id: seed.customer_id.clone(),
        subscription_id: seed.subscription_id.clone(),
        amount,
        time_zone: Some(tenant.time_zone.clone()),
        mode,
        campaign: CampaignRef {
            id: chosen.id.clone(),
            version: chosen.version,
        },
        card: None,
    });
    let row = CaseRow {
        id,
        tenant_id: tenant.id.clone(),
        invoice_id: invoice_id.to_string(),
        customer_id: seed.customer_id.clone(),
        customer_email: seed.customer_email.clone(),
        customer_name: seed.customer_name.clone(),
        subscription_id: seed.subscription_id.clone(),
        amount_due: seed.amount_due,
        currency: seed.currency.clone(),
        decline_code: None,
        status: "pending".into(),
        sub_state: None,
        recovered_by: None,
        campaign_id: chosen.id.clone(),
        campaign_version: i64::from(chosen.version),
        opened_at: None,
        closed_at: None,
        state: String::new(),
        version: 0,
        created_at: now,
        updated_at: now,
    };
    Ok((row, case))
}

/// The campaign at the version the case started with (editing a campaign never moves open cases).
pub async fn campaign_version(
    state: &AppState,
    tenant_id: &str,
    r: &CampaignRef,
) -> Result<Campaign, ProcessError> {
    let key = (tenant_id.to_string(), r.id.clone(), r.version);
    let stored = match state.campaigns.get(&key) {
        Some(c) => c,
        None => {
            let c = state
                .store
                .campaign_version(tenant_id, &r.id, r.version)
                .await
                .map_err(transient)?;
            state.campaigns.put(key, c.clone());
            c
        }
    };
    Ok(stored.unwrap_or_else(campaign::default_campaign))
}

/// Campaign versions read so far, `None` for a reference to the built-in default. A stored version
/// never changes (an edit is a new version, and a stored "default" never takes the built-in's
/// version), so entries never go stale; the map is only bounded.
#[derive(Default)]
pub struct CampaignCache {
    entries: std::sync::Mutex<std::collections::HashMap<(String, String, u32), Option<Campaign>>>,
}

impl CampaignCache {
    fn get(&self, key: &(String, String, u32)) -> Option<Option<Campaign>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.get(key).cloned()
    }

    fn put(&self, key: (String, String, u32), campaign: Option<Campaign>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= 1_000 {
            entries.clear();
        }
        entries.insert(key, campaign);
    }
}

/// The window network retry limits look back over.
const NETWORK_WINDOW_DAYS: i64 = 31;

fn fingerprint(case: &Case) -> Option<String> {
    case.card.as_ref().and_then(|c| c.fingerprint.clone())
}

/// Charge attempts per card, across cases and tenants, in the window the network limits look at.
async fn card_histories(
    state: &AppState,
    fingerprints: &[String],
    now: DateTime<Utc>,
) -> Result<std::collections::HashMap<String, Vec<DateTime<Utc>>>, ProcessError> {
    let mut history: std::collections::HashMap<String, Vec<DateTime<Utc>>> = Default::default();
    for (fp, at) in state
        .store
        .card_histories(fingerprints, now - Duration::days(NETWORK_WINDOW_DAYS))
        .await
        .map_err(transient)?
    {
        history.entry(fp).or_default().push(at);
    }
    Ok(history)
}

/// A case opened from a payment event lacks what only the invoice carries; take it when it comes.
fn fill_gaps(row: &mut CaseRow, case: &mut Case, seed: &Seed) {
    if case.subscription_id.is_none() {
        case.subscription_id = seed.subscription_id.clone();
    }
    if row.customer_email.is_none() {
        row.customer_email = seed.customer_email.clone();
    }
    if row.customer_name.is_none() {
        row.customer_name = seed.customer_name.clone();
    }
}
