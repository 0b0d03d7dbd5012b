//! The fake's card-update side: customers with a default payment method, Billing Portal and Checkout
//! (setup mode) sessions, and a minimal hosted page at each session's URL where a test (or a browser)
//! types a card number and saves it, then is sent back to the session's return URL.
//!
//! A saved card becomes what the customer's invoices are charged with once it is their default (the
//! portal sets it, a Checkout setup leaves that to the caller, as on Stripe). Stripe's test numbers
//! decide how it behaves: `4000000000000002` declines (`card_declined`), `4000000000009995` declines
//! for insufficient funds, anything else pays.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde_json::{Value, json};

use super::{Answer, FakeState, InvoiceStatus, Outcome, Shared};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    BillingPortal,
    Checkout,
}

#[derive(Debug, Clone)]
pub(super) struct SessionRecord {
    id: String,
    kind: SessionKind,
    customer: String,
    /// Portal: the flow's after-completion redirect. Checkout: `success_url`.
    return_url: String,
    /// Portal: `return_url`. Checkout: `cancel_url`.
    cancel_url: String,
    currency: Option<String>,
    locale: Option<String>,
    complete: bool,
    setup_intent: Option<String>,
    metadata: Value,
    created: i64,
}

#[derive(Debug, Clone)]
struct PaymentMethodRecord {
    id: String,
    customer: String,
    number: String,
    created: i64,
}

#[derive(Debug, Clone)]
struct SetupIntentRecord {
    customer: String,
    payment_method: String,
    created: i64,
}

#[derive(Debug, Default)]
pub(super) struct Hosted {
    sessions: HashMap<String, SessionRecord>,
    payment_methods: HashMap<String, PaymentMethodRecord>,
    setup_intents: HashMap<String, SetupIntentRecord>,
    /// Customer → invoice default payment method.
    defaults: HashMap<String, String>,
    /// Subscription → its own default payment method.
    subscription_defaults: HashMap<String, String>,
    /// Customer → (email, name).
    contacts: HashMap<String, (String, String)>,
    next: u64,
}

impl Hosted {
    fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}_fake{:010}", self.next)
    }
}

/// A session the fake has seen, for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    pub id: String,
    pub kind: SessionKind,
    pub customer: String,
    pub locale: Option<String>,
    pub complete: bool,
}

impl super::FakeStripe {
    /// Sessions created so far, oldest first.
    pub fn sessions(&self) -> Vec<SessionView> {
        let state = self.shared.lock();
        let mut out: Vec<_> = state
            .hosted
            .sessions
            .values()
            .map(|s| SessionView {
                id: s.id.clone(),
                kind: s.kind,
                customer: s.customer.clone(),
                locale: s.locale.clone(),
                complete: s.complete,
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// A customer's email and name, as `GET /v1/customers/{id}` shows them.
    pub fn add_customer(&self, id: &str, email: &str, name: &str) {
        self.shared
            .lock()
            .hosted
            .contacts
            .insert(id.to_owned(), (email.to_owned(), name.to_owned()));
    }

    /// The customer's default payment method for invoices, and its card number.
    pub fn default_card(&self, customer: &str) -> Option<(String, String)> {
        let state = self.shared.lock();
        let pm = state.hosted.defaults.get(customer)?;
        let number = state.hosted.payment_methods.get(pm)?.number.clone();
        Some((pm.clone(), number))
    }

    /// The subscription's own default payment method.
    pub fn subscription_default(&self, subscription: &str) -> Option<String> {
        self.shared
            .lock()
            .hosted
            .subscription_defaults
            .get(subscription)
            .cloned()
    }

    /// Saves `number` through the hosted page of `session_id` as a customer would, without a
    /// browser. Returns where the page sends the customer back to.
    pub fn complete_session(&self, session_id: &str, number: &str) -> Option<String> {
        let now = chrono::Utc::now().timestamp();
        self.shared.lock().save_card(session_id, number, now)
    }
}

fn card_of(number: &str) -> (&'static str, String) {
    let brand = if number.starts_with('5') || number.starts_with('2') {
        "mastercard"
    } else {
        "visa"
    };
    (brand, number[number.len().saturating_sub(4)..].to_owned())
}

fn payment_method_json(pm: &PaymentMethodRecord) -> Value {
    let (brand, last4) = card_of(&pm.number);
    json!({
        "id": pm.id,
        "object": "payment_method",
        "allow_redisplay": "always",
        "billing_details": {
            "address": { "city": null, "country": null, "line1": null, "line2": null,
                         "postal_code": null, "state": null },
            "email": null, "name": null, "phone": null, "tax_id": null
        },
        "card": {
            "brand": brand,
            "checks": { "address_line1_check": null, "address_postal_code_check": null,
                        "cvc_check": "pass" },
            "country": "US",
            "display_brand": brand,
            "exp_month": 12,
            "exp_year": 2034,
            "fingerprint": format!("fp{}", pm.number),
            "funding": "credit",
            "generated_from": null,
            "last4": last4,
            "networks": { "available": [brand], "preferred": null },
            "regulated_status": "unregulated",
            "three_d_secure_usage": { "supported": true },
            "wallet": null
        },
        "created": pm.created,
        "customer": pm.customer,
        "livemode": false,
        "metadata": {},
        "type": "card"
    })
}

impl FakeState {
    /// The card-update endpoints; `None` for any other request.
    pub(super) fn execute_hosted(
        &mut self,
        method: &str,
        segments: &[&str],
        form: &HashMap<String, String>,
        base: &str,
        now: i64,
    ) -> Option<(Answer, bool, bool)> {
        let expand = |what: &str| form.values().any(|v| v == what);
        Some(match (method, segments) {
            ("POST", ["v1", "billing_portal", "sessions"]) => {
                let Some(customer) = form.get("customer").cloned() else {
                    return Some(self.missing("customer"));
                };
                let redirect = form
                    .get("flow_data[after_completion][redirect][return_url]")
                    .or_else(|| form.get("return_url"))
                    .cloned()
                    .unwrap_or_default();
                let id = self.hosted.id("bps");
                let session = SessionRecord {
                    id: id.clone(),
                    kind: SessionKind::BillingPortal,
                    customer,
                    return_url: redirect,
                    cancel_url: form.get("return_url").cloned().unwrap_or_default(),
                    currency: None,
                    locale: form.get("locale").cloned(),
                    complete: false,
                    setup_intent: None,
                    metadata: json!({}),
                    created: now,
                };
                let body = portal_json(&session, base, form);
                self.hosted.sessions.insert(id, session);
                (self.answer(200, body), true, false)
            }
            ("POST", ["v1", "checkout", "sessions"]) => {
                if form.get("mode").map(String::as_str) != Some("setup") {
                    return Some(self.invalid("This fake only supports mode=setup."));
                }
                let Some(customer) = form.get("customer").cloned() else {
                    return Some(self.missing("customer"));
                };
                let (Some(success), Some(cancel)) =
                    (form.get("success_url"), form.get("cancel_url"))
                else {
                    return Some(self.missing("success_url"));
                };
                let id = self.hosted.id("cs_test");
                let si = self.hosted.id("seti");
                let session = SessionRecord {
                    id: id.clone(),
                    kind: SessionKind::Checkout,
                    customer,
                    return_url: success.clone(),
                    cancel_url: cancel.clone(),
                    currency: form.get("currency").cloned(),
                    locale: form.get("locale").cloned(),
                    complete: false,
                    setup_intent: Some(si),
                    metadata: metadata(form),
                    created: now,
                };
                let body = self.checkout_json(&session, base, false);
                self.hosted.sessions.insert(id, session);
                (self.answer(200, body), true, false)
            }
            ("GET", ["v1", "checkout", "sessions", id]) => {
                let Some(session) = self.hosted.sessions.get(*id).cloned() else {
                    return Some(self.not_found("checkout.session", id));
                };
                let body =
                    self.checkout_json(&session, base, expand("setup_intent.payment_method"));
                (self.answer(200, body), false, false)
            }
            ("GET", ["v1", "customers", id]) => {
                if !self.invoices.values().any(|i| i.customer == *id)
                    && !self.hosted.defaults.contains_key(*id)
                    && !self.hosted.contacts.contains_key(*id)
                {
                    return Some(self.not_found("customer", id));
                }
                let default = self.hosted.defaults.get(*id).cloned();
                let default = match default {
                    Some(pm) if expand("invoice_settings.default_payment_method") => self
                        .hosted
                        .payment_methods
                        .get(&pm)
                        .map(payment_method_json)
                        .unwrap_or(Value::Null),
                    Some(pm) => Value::from(pm),
                    None => Value::Null,
                };
                let mut body = customer_json(id, default, now);
                if let Some((email, name)) = self.hosted.contacts.get(*id) {
                    body["email"] = Value::from(email.clone());
                    body["name"] = Value::from(name.clone());
                }
                (self.answer(200, body), false, false)
            }
            ("POST", ["v1", "customers", id]) => {
                let Some(pm) = form
                    .get("invoice_settings[default_payment_method]")
                    .cloned()
                else {
                    return Some(self.missing("invoice_settings[default_payment_method]"));
                };
                match self.hosted.payment_methods.get(&pm) {
                    Some(rec) if rec.customer == *id => {}
                    _ => return Some(self.not_found("payment_method", &pm)),
                }
                self.make_default(id, &pm);
                let body = customer_json(id, Value::from(pm), now);
                (self.answer(200, body), true, false)
            }
            ("POST", ["v1", "subscriptions", id])
                if form.contains_key("default_payment_method") =>
            {
                let pm = form["default_payment_method"].clone();
                if self.subscriptions.contains_key(*id) {
                    self.hosted
                        .subscription_defaults
                        .insert((*id).to_owned(), pm);
                }
                // The rest of the update, and the answer, are the subscription's own.
                return None;
            }
            _ => return None,
        })
    }

    fn missing(&mut self, param: &str) -> (Answer, bool, bool) {
        self.invalid(&format!("Missing required param: {param}."))
    }

    fn invalid(&mut self, message: &str) -> (Answer, bool, bool) {
        let rid = self.request_id();
        let body = super::shapes::invalid_request(message, None, &rid);
        (self.answer(400, body), false, false)
    }

    /// The card now charged for the customer's invoices: their open invoices' scripted outcomes
    /// were the old card's, and give way to the new card's.
    fn make_default(&mut self, customer: &str, pm: &str) {
        self.hosted
            .defaults
            .insert(customer.to_owned(), pm.to_owned());
        let number = self
            .hosted
            .payment_methods
            .get(pm)
            .map(|p| p.number.clone())
            .unwrap_or_default();
        let outcome = match number.as_str() {
            "4000000000000002" => Some(Outcome::decline("card_declined", Some("generic_decline"))),
            "4000000000009995" => Some(Outcome::decline(
                "card_declined",
                Some("insufficient_funds"),
            )),
            _ => None,
        };
        let invoices: Vec<String> = self
            .invoices
            .values()
            .filter(|i| i.customer == customer && i.status == InvoiceStatus::Open)
            .map(|i| i.id.clone())
            .collect();
        for id in invoices {
            let script = self.scripts.entry(id).or_default();
            script.clear();
            if let Some(o) = &outcome {
                script.extend(std::iter::repeat_n(o.clone(), 50));
            }
        }
    }

    /// The hosted page's "save": a new payment method for the session's customer. Returns the URL
    /// the customer is sent back to, or `None` for an unknown or finished session.
    fn save_card(&mut self, session_id: &str, number: &str, now: i64) -> Option<String> {
        let session = self.hosted.sessions.get(session_id)?.clone();
        if session.complete {
            return None;
        }
        let pm = self.hosted.id("pm");
        self.hosted.payment_methods.insert(
            pm.clone(),
            PaymentMethodRecord {
                id: pm.clone(),
                customer: session.customer.clone(),
                number: number.chars().filter(char::is_ascii_digit).collect(),
                created: now,
            },
        );
        match session.kind {
            SessionKind::BillingPortal => {
                // The portal's payment-method flow makes the card the default everywhere.
                self.make_default(&session.customer, &pm);
                let subs: Vec<String> = self
                    .subscriptions
                    .values()
                    .filter(|s| s.customer == session.customer)
                    .map(|s| s.id.clone())
                    .collect();
                for sub in subs {
                    self.hosted.subscription_defaults.insert(sub, pm.clone());
                }
            }
            SessionKind::Checkout => {
                let si = session.setup_intent.clone().unwrap_or_default();
                self.hosted.setup_intents.insert(
                    si,
                    SetupIntentRecord {
                        customer: session.customer.clone(),
                        payment_method: pm.clone(),
                        created: now,
                    },
                );
            }
        }
        if let Some(s) = self.hosted.sessions.get_mut(session_id) {
            s.complete = true;
        }
        Some(
            session
                .return_url
                .replace("{CHECKOUT_SESSION_ID}", session_id),
        )
    }

    fn checkout_json(&self, s: &SessionRecord, base: &str, expand_setup: bool) -> Value {
        let setup_intent = match (&s.setup_intent, expand_setup) {
            (Some(si), true) => {
                let rec = self.hosted.setup_intents.get(si);
                let pm = rec
                    .and_then(|r| self.hosted.payment_methods.get(&r.payment_method))
                    .map(payment_method_json)
                    .unwrap_or(Value::Null);
                json!({
                    "id": si,
                    "object": "setup_intent",
                    "application": null,
                    "automatic_payment_methods": null,
                    "cancellation_reason": null,
                    "client_secret": format!("{si}_secret_fake"),
                    "created": rec.map_or(s.created, |r| r.created),
                    "customer": rec.map_or(s.customer.as_str(), |r| r.customer.as_str()),
                    "description": null,
                    "last_setup_error": null,
                    "latest_attempt": null,
                    "livemode": false,
                    "mandate": null,
                    "metadata": {},
                    "next_action": null,
                    "on_behalf_of": null,
                    "payment_method": pm,
                    "payment_method_options": {},
                    "payment_method_types": ["card"],
                    "single_use_mandate": null,
                    "status": if rec.is_some() { "succeeded" } else { "requires_payment_method" },
                    "usage": "off_session"
                })
            }
            (Some(si), false) => Value::from(si.clone()),
            (None, _) => Value::Null,
        };
        json!({
            "id": s.id,
            "object": "checkout.session",
            "billing_address_collection": null,
            "cancel_url": s.cancel_url,
            "client_reference_id": null,
            "created": s.created,
            "currency": s.currency,
            "customer": s.customer,
            "customer_email": null,
            "expires_at": s.created + 86_400,
            "livemode": false,
            "locale": s.locale,
            "metadata": s.metadata,
            "mode": "setup",
            "payment_intent": null,
            "payment_method_types": ["card"],
            "payment_status": "no_payment_required",
            "setup_intent": setup_intent,
            "status": if s.complete { "complete" } else { "open" },
            "success_url": s.return_url,
            "ui_mode": "hosted",
            "url": if s.complete { Value::Null } else { Value::from(format!("{base}hosted/{}", s.id)) }
        })
    }
}

/// `metadata[key]=value` form fields as the object's `metadata`.
fn metadata(form: &HashMap<String, String>) -> Value {
    let map: serde_json::Map<String, Value> = form
        .iter()
        .filter_map(|(k, v)| {
            let key = k.strip_prefix("metadata[")?.strip_suffix(']')?;
            Some((key.to_owned(), Value::from(v.clone())))
        })
        .collect();
    Value::Object(map)
}

/// A session as Stripe sends it in `checkout.session.completed`, for tests that deliver that event.
impl super::FakeStripe {
    pub fn checkout_session_json(&self, id: &str) -> Option<Value> {
        let state = self.shared.lock();
        let s = state.hosted.sessions.get(id)?;
        Some(state.checkout_json(s, &state.base, false))
    }
}

fn portal_json(s: &SessionRecord, base: &str, form: &HashMap<String, String>) -> Value {
    let flow = form.get("flow_data[type]").map(|t| {
        json!({
            "after_completion": {
                "hosted_confirmation": null,
                "redirect": { "return_url": s.return_url },
                "type": "redirect"
            },
            "subscription_cancel": null,
            "subscription_update": null,
            "subscription_update_confirm": null,
            "type": t
        })
    });
    json!({
        "id": s.id,
        "object": "billing_portal.session",
        "configuration": "bpc_fake_default",
        "created": s.created,
        "customer": s.customer,
        "customer_account": null,
        "flow": flow,
        "livemode": false,
        "locale": s.locale,
        "on_behalf_of": null,
        "return_url": s.cancel_url,
        "url": format!("{base}hosted/{}", s.id)
    })
}

fn customer_json(id: &str, default: Value, now: i64) -> Value {
    json!({
        "id": id,
        "object": "customer",
        "address": null,
        "balance": 0,
        "created": now - 90 * 86_400,
        "currency": "usd",
        "default_source": null,
        "delinquent": true,
        "description": null,
        "email": null,
        "invoice_prefix": "FAKE",
        "invoice_settings": {
            "custom_fields": null,
            "default_payment_method": default,
            "footer": null,
            "rendering_options": null
        },
        "livemode": false,
        "metadata": {},
        "name": null,
        "phone": null,
        "preferred_locales": [],
        "shipping": null,
        "tax_exempt": "none",
        "test_clock": null
    })
}

#[derive(serde::Deserialize)]
pub(super) struct CardForm {
    card_number: String,
}

/// `GET /hosted/{session}`: the processor's page, reduced to one field and two buttons.
pub(super) async fn page(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let session = shared.lock().hosted.sessions.get(&id).cloned();
    let Some(s) = session.filter(|s| !s.complete) else {
        return (
            StatusCode::NOT_FOUND,
            Html("<h1>This session has expired</h1>"),
        )
            .into_response();
    };
    let title = match s.kind {
        SessionKind::BillingPortal => "Update your payment method",
        SessionKind::Checkout => "Save a card",
    };
    Html(format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title} · Fake Stripe</title></head>
<body><h1 id="fake-stripe-title">{title}</h1>
<form method="post" action="/hosted/{id}">
<label for="card_number">Card number</label>
<input id="card_number" name="card_number" inputmode="numeric" autocomplete="cc-number">
<button id="save" type="submit">Save card</button>
</form>
<p><a id="cancel" href="{cancel}">Cancel</a></p></body></html>"#,
        id = s.id,
        cancel = s.cancel_url.replace('"', "%22"),
    ))
    .into_response()
}

/// `POST /hosted/{session}`: saves the card and sends the customer back.
pub(super) async fn save(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    Form(form): Form<CardForm>,
) -> Response {
    let now = chrono::Utc::now().timestamp();
    match shared.lock().save_card(&id, &form.card_number, now) {
        Some(back) => Redirect::to(&back).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Html("<h1>This session has expired</h1>"),
        )
            .into_response(),
    }
}
