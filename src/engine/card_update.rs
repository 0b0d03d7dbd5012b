//! What the customer's card-update page asks of the engine: open the processor's hosted page, take
//! the card they saved there (making it the default) and retry at once, or record a promise to pay.
//! Each is a normal case event, so it lands on the timeline and replays like any other.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};

use crate::app::AppState;
use crate::domain::calendar::{local_to_utc, resolve_zone};
use crate::domain::case::{Case, CaseEvent, EventKind};
use crate::email::links::{self, LinkTarget};
use crate::jobs::process_event::ProcessError;
use crate::pages::PromiseWindow;
use crate::providers::api::{ApiFailure, CardUpdateFlow, CardUpdateRequest, HostedSession};
use crate::store::cases::CaseRow;
use crate::store::tenants::TenantRow;

use super::{campaign_version, feed, mapping};

/// Promised payments are tried at this local hour.
const PROMISE_HOUR: u32 = 10;
/// However long the campaign, a promise reaches at most this far.
const PROMISE_MAX_DAYS: i64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum CardUpdateError {
    #[error("payment processor: {0}")]
    Processor(#[from] ApiFailure),
    #[error(transparent)]
    Engine(#[from] ProcessError),
}

/// The processor's hosted page for this case's customer. `page_url` is the link's own URL.
pub async fn start(
    state: &AppState,
    tenant: &TenantRow,
    row: &CaseRow,
    page_url: &str,
) -> Result<HostedSession, CardUpdateError> {
    start_for(
        state,
        tenant,
        &row.customer_id,
        &row.currency,
        &row.id,
        page_url,
    )
    .await
}

/// [`start`] for a customer, outside any case (`reference` names what the session is for).
pub async fn start_for(
    state: &AppState,
    tenant: &TenantRow,
    customer_id: &str,
    currency: &str,
    reference: &str,
    page_url: &str,
) -> Result<HostedSession, CardUpdateError> {
    let flow = CardUpdateFlow::parse(&tenant.card_update).unwrap_or_default();
    let return_url = match flow {
        CardUpdateFlow::BillingPortal => format!("{page_url}/done"),
        CardUpdateFlow::CheckoutSetup => {
            format!("{page_url}/done?session_id={{CHECKOUT_SESSION_ID}}")
        }
    };
    let request = CardUpdateRequest {
        flow,
        customer_id: customer_id.to_owned(),
        currency: currency.to_owned(),
        return_url,
        cancel_url: page_url.to_owned(),
        locale: Some(tenant.locale.clone()),
        reference: reference.to_owned(),
    };
    let creds = super::work::credentials(state, tenant)?;
    // One session per case and minute: a double click opens the same page, a later visit a new one.
    let key = format!(
        "card-update/{reference}/{}",
        state.clock.now().timestamp() / 60
    );
    Ok(state
        .processor
        .create_card_update_session(&creds, &request, &key)
        .await?)
}

/// A fresh signed card-update link for the case (valid [`links::LINK_TTL_DAYS`]).
pub fn link(state: &AppState, tenant_id: &str, case_id: &str) -> String {
    let token = links::sign(
        state.keys.link_signing_key(),
        &LinkTarget {
            tenant_id: tenant_id.to_owned(),
            case_id: case_id.to_owned(),
            expires_at: state.clock.now() + Duration::days(links::LINK_TTL_DAYS),
        },
    );
    format!(
        "{}/update/{token}",
        state.settings.public_url.trim_end_matches('/')
    )
}

/// Puts "link opened" on the case's timeline (the funnel's click), once per day per case.
pub async fn opened(state: &AppState, tenant: &TenantRow, row: &CaseRow) {
    let now = state.clock.now();
    let event = CaseEvent {
        id: format!("link-opened/{}", now.date_naive()),
        occurred_at: now,
        kind: EventKind::Message {
            step_id: "card_update_page".into(),
            detail: "the customer opened the card-update link".into(),
        },
    };
    if let Err(e) = feed(state, tenant, &row.invoice_id, None, &event).await {
        tracing::warn!(case = %row.id, error = %e, "could not record the link click");
    }
}

/// The `case` part of a link that names a customer rather than a case (expiring-card notices).
pub const CUSTOMER_PREFIX: &str = "customer:";

/// A fresh signed link to update the customer's card outside any case.
pub fn customer_link(state: &AppState, tenant_id: &str, customer_id: &str) -> String {
    link(state, tenant_id, &format!("{CUSTOMER_PREFIX}{customer_id}"))
}

/// How the customer's return from the hosted page ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    /// A new card is the default and the case knows; its retry is planned at once.
    Updated,
    /// No new card (the customer gave up, or the card is the one that failed).
    NothingSaved,
}

/// Takes the card saved on the hosted page (`checkout_session` for Checkout) and tells the case.
/// Returning twice is harmless: the event is named after the payment method and dedupes.
pub async fn complete(
    state: &AppState,
    tenant: &TenantRow,
    row: &CaseRow,
    case: &Case,
    checkout_session: Option<&str>,
) -> Result<Completion, CardUpdateError> {
    let creds = super::work::credentials(state, tenant)?;
    let method = state
        .processor
        .complete_card_update(
            &creds,
            &row.customer_id,
            row.subscription_id.as_deref(),
            checkout_session,
        )
        .await?;
    let Some(method) = method else {
        return Ok(Completion::NothingSaved);
    };
    let card = method.card.as_ref().map(mapping::card_ref);
    // The portal shows the current card too: coming back with the one that failed is no update.
    let same_card = card
        .as_ref()
        .is_some_and(|c| c.fingerprint.is_some() && Some(c) == case.card.as_ref());
    if same_card && !case.card_changed() {
        return Ok(Completion::NothingSaved);
    }
    let event = CaseEvent {
        id: format!("card-update/{}", method.payment_method_id),
        occurred_at: state.clock.now(),
        kind: EventKind::CustomerUpdatedCard { card },
    };
    feed(state, tenant, &row.invoice_id, None, &event).await?;
    Ok(Completion::Updated)
}

/// [`complete`] outside any case: makes the saved card the default. `true` when one was saved.
pub async fn complete_for(
    state: &AppState,
    tenant: &TenantRow,
    customer_id: &str,
    checkout_session: Option<&str>,
) -> Result<bool, CardUpdateError> {
    let creds = super::work::credentials(state, tenant)?;
    let method = state
        .processor
        .complete_card_update(&creds, customer_id, None, checkout_session)
        .await?;
    Ok(method.is_some())
}

/// The dates a customer may promise to pay by: from tomorrow (their time) to the campaign's end,
/// at most [`PROMISE_MAX_DAYS`] ahead. `None` when nothing is left to choose.
pub async fn promise_window(
    state: &AppState,
    tenant: &TenantRow,
    case: &Case,
) -> Result<Option<PromiseWindow>, ProcessError> {
    let campaign = campaign_version(state, &tenant.id, &case.campaign).await?;
    let (tz, _) = resolve_zone(case.time_zone.as_deref().or(Some(&tenant.time_zone)));
    let today = state.clock.now().with_timezone(&tz).date_naive();
    let from = today + Duration::days(1);
    let limit = today + Duration::days(PROMISE_MAX_DAYS);
    let to = case
        .campaign_deadline(&campaign)
        .map(|d| (d.with_timezone(&tz) - Duration::days(1)).date_naive())
        .map_or(limit, |d| d.min(limit));
    // A promise defers a retry; a card that cannot be retried needs a new card, not a date.
    let retryable = case.card_changed()
        || case
            .latest_failure()
            .is_some_and(|f| f.classification.class.is_retryable());
    Ok((from <= to && case.is_open() && retryable).then_some(PromiseWindow { from, to }))
}

/// When a promise for `date` falls due: that day at [`PROMISE_HOUR`], the customer's time.
pub fn promise_time(case: &Case, tenant: &TenantRow, date: NaiveDate) -> DateTime<Utc> {
    let (tz, _) = resolve_zone(case.time_zone.as_deref().or(Some(&tenant.time_zone)));
    local_to_utc(
        tz,
        date.and_time(NaiveTime::from_hms_opt(PROMISE_HOUR, 0, 0).expect("valid hour")),
    )
}

/// Records the customer's promise to pay by `date` (already checked against the window).
pub async fn promise(
    state: &AppState,
    tenant: &TenantRow,
    row: &CaseRow,
    case: &Case,
    date: NaiveDate,
) -> Result<(), ProcessError> {
    let until = promise_time(case, tenant, date);
    let event = CaseEvent {
        // The same promise twice (a double submit) is one event.
        id: format!("promise/{date}/{}", case.promises),
        occurred_at: state.clock.now(),
        kind: EventKind::PromiseToPay { until },
    };
    feed(state, tenant, &row.invoice_id, None, &event)
        .await
        .map(|_| ())
}

/// The stored case behind a row.
pub fn parse(row: &CaseRow) -> Result<Case, ProcessError> {
    serde_json::from_str(&row.state)
        .map_err(|e| ProcessError::Permanent(format!("stored case {} is unreadable: {e}", row.id)))
}
