//! The card-update calls: a hosted session where the customer saves a new card (a Billing Portal
//! session limited to the payment-method flow, or a Checkout Session in setup mode), and, when they
//! come back, making that card the default so the next retry charges it.
//!
//! Billing Portal uses async-stripe's typed request; Checkout, customers and payment methods are
//! built with async-stripe's request builder (their typed crates would double the Stripe build for
//! four calls). Answers are read into small lenient types: only the fields used here, any API
//! version.

use miniserde::Deserialize;
use secrecy::ExposeSecret;
use serde::Serialize;
use stripe::{RequestStrategy, StripeRequest};
use stripe_billing::BillingPortalSessionLocale;
use stripe_billing::billing_portal_session::{
    CreateBillingPortalSession, CreateBillingPortalSessionFlowData,
    CreateBillingPortalSessionFlowDataAfterCompletion,
    CreateBillingPortalSessionFlowDataAfterCompletionRedirect,
    CreateBillingPortalSessionFlowDataAfterCompletionType, CreateBillingPortalSessionFlowDataType,
};
use stripe_client_core::{RequestBuilder, StripeMethod};

use crate::providers::api::{
    ApiFailure, CardUpdateFlow, CardUpdateRequest, Credentials, CustomerInfo, HostedSession,
};
use crate::providers::{CardInfo, PaymentMethodInfo};

use super::client::{Stop, StripeApi, failure, idempotency_key_of};

#[derive(Deserialize)]
struct Session {
    id: String,
    url: Option<String>,
}

#[derive(Deserialize)]
struct CheckoutSession {
    customer: Option<String>,
    mode: Option<String>,
    status: Option<String>,
    setup_intent: Option<SetupIntent>,
}

#[derive(Deserialize)]
struct SetupIntent {
    status: Option<String>,
    payment_method: Option<PaymentMethod>,
}

#[derive(Deserialize)]
struct PaymentMethod {
    id: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    card: Option<Card>,
}

#[derive(Deserialize)]
struct Card {
    brand: Option<String>,
    last4: Option<String>,
    exp_month: Option<i64>,
    exp_year: Option<i64>,
    fingerprint: Option<String>,
    networks: Option<Networks>,
}

#[derive(Deserialize)]
struct Networks {
    preferred: Option<String>,
    available: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct Customer {
    email: Option<String>,
    name: Option<String>,
    invoice_settings: Option<InvoiceSettings>,
    default_source: Option<LegacyCard>,
}

/// A legacy card (`card_…`) as a customer's `default_source`.
#[derive(Deserialize)]
struct LegacyCard {
    id: String,
    brand: Option<String>,
    last4: Option<String>,
    exp_month: Option<i64>,
    exp_year: Option<i64>,
    fingerprint: Option<String>,
}

#[derive(Deserialize)]
struct InvoiceSettings {
    default_payment_method: Option<PaymentMethod>,
}

/// The answer to an update: only that it parsed matters.
#[derive(Deserialize)]
#[allow(dead_code, reason = "read to check the answer is an object")]
struct Updated {
    id: String,
}

#[derive(Serialize)]
struct CheckoutForm<'a> {
    mode: &'static str,
    customer: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    currency: &'a str,
    payment_method_types: [&'static str; 1],
    success_url: &'a str,
    cancel_url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    locale: Option<&'a str>,
    metadata: Reference<'a>,
}

/// Names the case on the session, so `checkout.session.completed` can be matched to it.
#[derive(Serialize)]
struct Reference<'a> {
    dunning_case: &'a str,
}

#[derive(Serialize)]
struct Expand<'a> {
    expand: &'a [&'a str],
}

#[derive(Serialize)]
struct CustomerDefault<'a> {
    invoice_settings: DefaultMethod<'a>,
}

#[derive(Serialize)]
struct DefaultMethod<'a> {
    default_payment_method: &'a str,
}

#[derive(Serialize)]
struct SubscriptionDefault<'a> {
    default_payment_method: &'a str,
}

/// Locales both Stripe's hosted pages and our messages speak.
fn stripe_locale(locale: Option<&str>) -> Option<&'static str> {
    match locale?.get(..2)? {
        "en" => Some("en"),
        "fr" => Some("fr"),
        "nl" => Some("nl"),
        "de" => Some("de"),
        "es" => Some("es"),
        _ => None,
    }
}

impl From<PaymentMethod> for PaymentMethodInfo {
    fn from(pm: PaymentMethod) -> Self {
        let card = pm.card.map(|card| {
            let network = card.networks.and_then(|n| {
                n.preferred.or(match n.available.as_deref() {
                    Some([one]) => Some(one.clone()),
                    _ => None,
                })
            });
            CardInfo {
                brand: card.brand.map(|b| b.to_lowercase()),
                network: network.map(|n| n.to_lowercase()),
                last4: card.last4,
                exp_month: card.exp_month.and_then(|m| u32::try_from(m).ok()),
                exp_year: card.exp_year.and_then(|y| u32::try_from(y).ok()),
                fingerprint: card.fingerprint,
                payment_method_id: Some(pm.id.clone()),
            }
        });
        PaymentMethodInfo {
            payment_method_id: pm.id,
            customer_id: None,
            method_type: pm.kind,
            card,
        }
    }
}

impl StripeApi {
    pub(super) async fn create_card_update_session_inner(
        &self,
        c: &Credentials,
        r: &CardUpdateRequest,
        idempotency_key: &str,
    ) -> Result<HostedSession, ApiFailure> {
        let key = idempotency_key_of(idempotency_key)?;
        let builder = || match r.flow {
            CardUpdateFlow::BillingPortal => {
                let after = CreateBillingPortalSessionFlowDataAfterCompletion {
                    redirect: Some(
                        CreateBillingPortalSessionFlowDataAfterCompletionRedirect::new(
                            r.return_url.clone(),
                        ),
                    ),
                    ..CreateBillingPortalSessionFlowDataAfterCompletion::new(
                        CreateBillingPortalSessionFlowDataAfterCompletionType::Redirect,
                    )
                };
                let flow = CreateBillingPortalSessionFlowData {
                    after_completion: Some(after),
                    ..CreateBillingPortalSessionFlowData::new(
                        CreateBillingPortalSessionFlowDataType::PaymentMethodUpdate,
                    )
                };
                let mut request = CreateBillingPortalSession::new()
                    .customer(r.customer_id.clone())
                    .return_url(r.cancel_url.clone())
                    .flow_data(flow);
                if let Some(locale) = stripe_locale(r.locale.as_deref())
                    .and_then(|l| l.parse::<BillingPortalSessionLocale>().ok())
                {
                    request = request.locale(locale);
                }
                request.build()
            }
            CardUpdateFlow::CheckoutSetup => {
                RequestBuilder::new(StripeMethod::Post, "/checkout/sessions").form(&CheckoutForm {
                    mode: "setup",
                    customer: &r.customer_id,
                    currency: &r.currency,
                    payment_method_types: ["card"],
                    success_url: &r.return_url,
                    cancel_url: &r.cancel_url,
                    locale: stripe_locale(r.locale.as_deref()),
                    metadata: Reference {
                        dunning_case: &r.reference,
                    },
                })
            }
        };
        let client = self.client(c);
        let secret = c.secret_key.expose_secret();
        let session: Session = self
            .send(secret, || {
                builder()
                    .customize::<Session>()
                    .request_strategy(RequestStrategy::Idempotent(key.clone()))
                    .send(&client)
            })
            .await
            .map_err(|stop| failure(stop, "session", secret))?;
        let url = session.url.ok_or_else(|| ApiFailure::Permanent {
            status: 200,
            code: None,
            message: "the session has no URL".into(),
        })?;
        Ok(HostedSession {
            id: session.id,
            url,
        })
    }

    pub(super) async fn get_customer_inner(
        &self,
        c: &Credentials,
        customer_id: &str,
    ) -> Result<CustomerInfo, ApiFailure> {
        let client = self.client(c);
        let secret = c.secret_key.expose_secret();
        let path = format!("/customers/{customer_id}");
        let customer: Customer = self
            .send(secret, || {
                RequestBuilder::new(StripeMethod::Get, path.clone())
                    .query(&Expand {
                        expand: &["invoice_settings.default_payment_method", "default_source"],
                    })
                    .customize::<Customer>()
                    .request_strategy(RequestStrategy::Once)
                    .send(&client)
            })
            .await
            .map_err(|stop| failure(stop, "customer", secret))?;
        let default_card = customer
            .invoice_settings
            .and_then(|s| s.default_payment_method)
            .and_then(|pm| PaymentMethodInfo::from(pm).card)
            .or_else(|| {
                customer.default_source.map(|card| CardInfo {
                    brand: card.brand.map(|b| b.to_lowercase()),
                    network: None,
                    last4: card.last4,
                    exp_month: card.exp_month.and_then(|m| u32::try_from(m).ok()),
                    exp_year: card.exp_year.and_then(|y| u32::try_from(y).ok()),
                    fingerprint: card.fingerprint,
                    payment_method_id: Some(card.id),
                })
            });
        Ok(CustomerInfo {
            email: customer.email,
            name: customer.name,
            default_card,
        })
    }

    pub(super) async fn complete_card_update_inner(
        &self,
        c: &Credentials,
        customer_id: &str,
        subscription_id: Option<&str>,
        checkout_session: Option<&str>,
    ) -> Result<Option<PaymentMethodInfo>, ApiFailure> {
        let client = self.client(c);
        let secret = c.secret_key.expose_secret();
        let Some(session_id) = checkout_session else {
            // The portal made the new card the default; read what it is now.
            let path = format!("/customers/{customer_id}");
            let customer: Customer = self
                .send(secret, || {
                    RequestBuilder::new(StripeMethod::Get, path.clone())
                        .query(&Expand {
                            expand: &["invoice_settings.default_payment_method"],
                        })
                        .customize::<Customer>()
                        .request_strategy(RequestStrategy::Once)
                        .send(&client)
                })
                .await
                .map_err(|stop| failure(stop, "customer", secret))?;
            return Ok(customer
                .invoice_settings
                .and_then(|s| s.default_payment_method)
                .map(PaymentMethodInfo::from));
        };
        let path = format!("/checkout/sessions/{session_id}");
        let session: CheckoutSession = self
            .send(secret, || {
                RequestBuilder::new(StripeMethod::Get, path.clone())
                    .query(&Expand {
                        expand: &["setup_intent.payment_method"],
                    })
                    .customize::<CheckoutSession>()
                    .request_strategy(RequestStrategy::Once)
                    .send(&client)
            })
            .await
            .map_err(|stop| failure(stop, "checkout session", secret))?;
        // The session id comes from the customer's address bar: it must be this customer's own.
        if session.customer.as_deref() != Some(customer_id)
            || session.mode.as_deref() != Some("setup")
        {
            return Err(ApiFailure::Permanent {
                status: 400,
                code: None,
                message: "the checkout session is not this customer's card update".into(),
            });
        }
        let method = match (session.status.as_deref(), session.setup_intent) {
            (Some("complete"), Some(si)) if si.status.as_deref() == Some("succeeded") => {
                si.payment_method
            }
            _ => None,
        };
        let Some(method) = method else {
            return Ok(None);
        };
        let pm = method.id.clone();
        // Keyed by session: coming back twice sets the same default once.
        let path = format!("/customers/{customer_id}");
        self.update_with(c, &format!("card-update/{session_id}/customer"), || {
            RequestBuilder::new(StripeMethod::Post, path.clone()).form(&CustomerDefault {
                invoice_settings: DefaultMethod {
                    default_payment_method: &pm,
                },
            })
        })
        .await?;
        // A subscription's own default wins over the customer's, so it must change too.
        if let Some(sub) = subscription_id {
            let path = format!("/subscriptions/{sub}");
            self.update_with(c, &format!("card-update/{session_id}/subscription"), || {
                RequestBuilder::new(StripeMethod::Post, path.clone()).form(&SubscriptionDefault {
                    default_payment_method: &pm,
                })
            })
            .await?;
        }
        Ok(Some(method.into()))
    }

    async fn update_with(
        &self,
        c: &Credentials,
        idempotency_key: &str,
        builder: impl Fn() -> RequestBuilder,
    ) -> Result<(), ApiFailure> {
        let key = idempotency_key_of(idempotency_key)?;
        let client = self.client(c);
        let secret = c.secret_key.expose_secret();
        self.send(secret, || {
            builder()
                .customize::<Updated>()
                .request_strategy(RequestStrategy::Idempotent(key.clone()))
                .send(&client)
        })
        .await
        .map(|_| ())
        .or_else(|stop| match stop {
            Stop::UnreadableSuccess => Ok(()),
            other => Err(failure(other, "update", secret)),
        })
    }
}
