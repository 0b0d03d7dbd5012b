//! From normalised provider events to what the case state machine consumes: which case(s) an event
//! concerns, what to open a case with, and the `CaseEvent` itself.

use crate::domain::case::{CardRef, CaseEvent, EventKind as CaseKind, PaidVia};
use crate::domain::decline::DeclineInfo as DomainDecline;
use crate::domain::network::CardNetwork;
use crate::providers::{
    CardInfo, DeclineInfo, EventKind, InvoiceSnapshot, NormalizedEvent, SetupSource,
    SubscriptionStatus,
};

/// Facts to open a case with when the invoice has none yet.
#[derive(Debug, Clone)]
pub struct Seed {
    pub customer_id: String,
    pub customer_email: Option<String>,
    pub customer_name: Option<String>,
    pub subscription_id: Option<String>,
    pub amount_due: i64,
    pub currency: String,
    pub product_ids: Vec<String>,
    pub price_ids: Vec<String>,
    pub customer_metadata: std::collections::BTreeMap<String, String>,
}

/// Where an event goes.
#[derive(Debug, Clone)]
pub enum Route {
    /// The case of this invoice; opened from `seed` if there is none and a seed is given.
    Invoice {
        invoice_id: String,
        seed: Option<Seed>,
        event: CaseEvent,
    },
    /// Every open case of this customer (a new card helps all of them).
    Customer {
        customer_id: String,
        event: CaseEvent,
    },
    /// Every open case of this subscription.
    Subscription {
        subscription_id: String,
        event: CaseEvent,
    },
    /// A card saved through a Checkout session we opened for this case: make it the default and
    /// retry, as when the customer comes back to the page (whichever comes first does it).
    CardUpdateSession { case_id: String, session_id: String },
    /// A customer's card expires soon (a notice, if the tenant opted in).
    CardExpiring { customer_id: String, card: CardInfo },
    /// Nothing for the engine to do.
    Nothing,
}

fn seed(i: &InvoiceSnapshot) -> Seed {
    Seed {
        customer_id: i.customer_id.clone(),
        customer_email: i.customer_email.clone(),
        customer_name: i.customer_name.clone(),
        subscription_id: i.subscription_id.clone(),
        amount_due: i.amount_due,
        currency: i.currency.clone(),
        product_ids: i.product_ids.clone(),
        price_ids: i.price_ids.clone(),
        customer_metadata: i.customer_metadata.clone(),
    }
}

fn payment_seed(p: &crate::providers::PaymentFailure) -> Option<Seed> {
    Some(Seed {
        customer_id: p.customer_id.clone()?,
        customer_email: None,
        customer_name: None,
        subscription_id: None,
        amount_due: p.amount?,
        currency: p.currency.clone()?,
        product_ids: Vec::new(),
        price_ids: Vec::new(),
        customer_metadata: Default::default(),
    })
}

pub fn card_ref(card: &CardInfo) -> CardRef {
    let brand = card
        .network
        .as_deref()
        .or(card.brand.as_deref())
        .unwrap_or("");
    CardRef {
        fingerprint: card.fingerprint.clone(),
        network: CardNetwork::from_brand(brand),
    }
}

pub fn decline(d: &DeclineInfo) -> DomainDecline {
    DomainDecline {
        code: d.failure_code.clone(),
        decline_code: d.decline_code.clone(),
        advice_code: d.advice_code.clone(),
        network_advice_code: d.network_advice_code.clone(),
    }
}

pub fn route(e: &NormalizedEvent) -> Route {
    let ev = |kind| CaseEvent {
        id: e.header.event_id.clone(),
        occurred_at: e.header.occurred_at,
        kind,
    };
    match &e.kind {
        EventKind::InvoicePaymentFailed {
            invoice,
            decline: d,
        } => Route::Invoice {
            invoice_id: invoice.id.clone(),
            seed: Some(seed(invoice)),
            event: ev(CaseKind::PaymentFailed {
                decline: d.as_ref().map(decline).unwrap_or_default(),
                attempt_count: invoice.attempt_count.unwrap_or(1),
                card: d.as_ref().and_then(|d| d.card.as_ref()).map(card_ref),
                processor_next_attempt: invoice.next_payment_attempt,
            }),
        },
        // A paid invoice opens a (pending) case only if an attempt on it had failed before, so an
        // early `invoice.paid` is kept for the failure it answers without a case per renewal.
        EventKind::InvoicePaid { invoice } => Route::Invoice {
            invoice_id: invoice.id.clone(),
            seed: (invoice.attempt_count.unwrap_or(1) > 1).then(|| seed(invoice)),
            event: ev(CaseKind::InvoicePaid {
                attempt_id: None,
                via: PaidVia::Unknown,
                attempt_count: invoice.attempt_count,
            }),
        },
        EventKind::InvoiceMarkedUncollectible { invoice } => Route::Invoice {
            invoice_id: invoice.id.clone(),
            seed: None,
            event: ev(CaseKind::InvoiceUncollectible),
        },
        EventKind::InvoiceVoided { invoice } => Route::Invoice {
            invoice_id: invoice.id.clone(),
            seed: None,
            event: ev(CaseKind::InvoiceVoided),
        },
        EventKind::SubscriptionDeleted { subscription } => Route::Subscription {
            subscription_id: subscription.id.clone(),
            event: ev(CaseKind::SubscriptionEnded),
        },
        EventKind::SubscriptionUpdated { subscription, .. }
            if matches!(subscription.status, Some(SubscriptionStatus::Canceled)) =>
        {
            Route::Subscription {
                subscription_id: subscription.id.clone(),
                event: ev(CaseKind::SubscriptionEnded),
            }
        }
        EventKind::DefaultPaymentMethodChanged { customer_id, .. } => Route::Customer {
            customer_id: customer_id.clone(),
            event: ev(CaseKind::PaymentMethodUpdated { card: None }),
        },
        EventKind::SetupSucceeded {
            source: SetupSource::CheckoutSession,
            session_id: Some(session_id),
            reference: Some(case_id),
            ..
        } => Route::CardUpdateSession {
            case_id: case_id.clone(),
            session_id: session_id.clone(),
        },
        EventKind::SetupSucceeded {
            customer_id: Some(customer_id),
            ..
        } => Route::Customer {
            customer_id: customer_id.clone(),
            event: ev(CaseKind::PaymentMethodUpdated { card: None }),
        },
        EventKind::CardExpiring { customer_id, card } => Route::CardExpiring {
            customer_id: customer_id.clone(),
            card: card.clone(),
        },
        // Stripe usually sends `charge.failed` before `invoice.payment_failed`: open the case from it
        // so its decline code is not lost; the invoice event fills in the rest.
        EventKind::PaymentFailed(p) => match &p.invoice_id {
            Some(invoice_id) => Route::Invoice {
                invoice_id: invoice_id.clone(),
                seed: payment_seed(p),
                event: ev(CaseKind::PaymentFailed {
                    decline: decline(&p.decline),
                    attempt_count: 0,
                    card: p.decline.card.as_ref().map(card_ref),
                    processor_next_attempt: None,
                }),
            },
            None => Route::Nothing,
        },
        _ => Route::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{Provider, Stripe};

    fn fixture(name: &str) -> NormalizedEvent {
        let body = std::fs::read(format!(
            "{}/fixtures/stripe/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        Stripe.normalize(&body).unwrap().unwrap()
    }

    #[test]
    fn failures_open_cases_and_paid_invoices_open_one_only_after_a_failed_attempt() {
        match route(&fixture("invoice.payment_failed.json")) {
            Route::Invoice {
                seed: Some(s),
                event,
                ..
            } => {
                assert_eq!(s.amount_due, 4900);
                assert!(matches!(event.kind, CaseKind::PaymentFailed { .. }));
            }
            other => panic!("{other:?}"),
        }
        match route(&fixture("invoice.paid.json")) {
            Route::Invoice { event, .. } => {
                assert!(matches!(event.kind, CaseKind::InvoicePaid { .. }))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn charge_failures_carry_the_decline_to_the_invoice() {
        match route(&fixture("payment_intent.payment_failed.json")) {
            Route::Invoice {
                event,
                seed: Some(_),
                ..
            } => match event.kind {
                CaseKind::PaymentFailed { decline, .. } => {
                    assert_eq!(decline.decline_code.as_deref(), Some("insufficient_funds"))
                }
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn endings_and_card_updates_are_routed() {
        assert!(matches!(
            route(&fixture("customer.subscription.deleted.json")),
            Route::Subscription { .. }
        ));
        assert!(matches!(
            route(&fixture("customer.updated.json")),
            Route::Customer { .. }
        ));
        assert!(matches!(
            route(&fixture("setup_intent.succeeded.json")),
            Route::Customer { .. }
        ));
        assert!(matches!(
            route(&fixture("customer.source.expiring.json")),
            Route::CardExpiring { .. }
        ));
        assert!(matches!(
            route(&fixture("invoice.voided.json")),
            Route::Invoice { seed: None, .. }
        ));
    }
}
