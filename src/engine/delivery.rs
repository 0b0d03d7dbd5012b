//! What the email API later says of a message it accepted: on the case's timeline, and a bounce or
//! a spam complaint refuses the address for good.

use crate::app::AppState;
use crate::domain::case::{CaseEvent, EventKind};
use crate::email::delivery::Delivery;
use crate::jobs::process_event::ProcessError;

use super::{feed, transient};

/// Records `what` for the message the provider calls `provider_id`; `event_id` (the provider's)
/// dedupes repeated deliveries of the webhook. `false` when no message of ours has that id.
pub async fn record(
    state: &AppState,
    provider_id: &str,
    what: Delivery,
    event_id: &str,
) -> Result<bool, ProcessError> {
    let Some((id, tenant_id, case_id, kind)) = state
        .store
        .message_by_provider_id(provider_id)
        .await
        .map_err(transient)?
    else {
        return Ok(false);
    };
    if what.refuses() {
        state
            .store
            .mark_message_refused(
                &id,
                &format!("the recipient's side: {}", what.as_str()),
                state.clock.now(),
            )
            .await
            .map_err(transient)?;
    }
    let tenant = state.store.tenant(&tenant_id).await.map_err(transient)?;
    let row = state
        .store
        .case(&tenant_id, &case_id)
        .await
        .map_err(transient)?;
    // A notice outside any case (an expiring card) has no timeline.
    let (Some(tenant), Some(row)) = (tenant, row) else {
        return Ok(true);
    };
    let event = CaseEvent {
        id: format!("delivery/{event_id}"),
        occurred_at: state.clock.now(),
        kind: EventKind::Message {
            step_id: id,
            detail: format!("{kind} email {}", what.as_str()),
        },
    };
    feed(state, &tenant, &row.invoice_id, None, &event).await?;
    Ok(true)
}
