//! The customer's card-update flow behind the signed link in every message:
//!
//! - `GET /update/{token}`: what is owed and why, a button to the processor's hosted page, and the
//!   promise-to-pay form; or where things stand (being retried, paid, closed).
//! - `POST /update/{token}/session`: opens the hosted page (a POST, so link scanners that prefetch
//!   emails open nothing) and redirects there.
//! - `GET /update/{token}/done`: where the hosted page sends the customer back. The new card becomes
//!   the default, the case retries at once, and the customer is redirected to the page, which
//!   follows the retry.
//! - `POST /update/{token}/promise`: "I need a few more days".
//!
//! Every answer is an HTML page in the tenant's language and colours. A forged link shows nothing;
//! an expired one only the tenant's contact.

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::NaiveDate;
use serde::Deserialize;

use crate::app::AppState;
use crate::domain::case::Case;
use crate::domain::money::{Currency, Money};
use crate::email::links::{self, LinkError};
use crate::engine::card_update::{self, Completion};
use crate::pages::{self, Brand, Page, State as PageState};
use crate::store::cases::CaseRow;
use crate::store::tenants::TenantRow;
use crate::tenants::{Branding, Support};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/update/{token}", get(show))
        .route("/update/{token}/session", post(session))
        .route("/update/{token}/done", get(done))
        .route("/update/{token}/promise", post(promise))
}

/// A link that opened: its tenant, case, and the page's own URL.
struct Opened {
    tenant: TenantRow,
    row: CaseRow,
    case: Case,
    url: String,
}

fn brand(tenant: &TenantRow) -> Brand {
    let branding: Branding = serde_json::from_str(&tenant.branding).unwrap_or_default();
    let support: Support = serde_json::from_str(&tenant.support).unwrap_or_default();
    Brand {
        company: branding.name.unwrap_or_else(|| tenant.name.clone()),
        color: branding.primary_color,
        support_email: support.email,
        support_phone: support.phone,
        address: support.address,
    }
}

fn html(status: StatusCode, page: &Page) -> Response {
    let mut response = (status, axum::response::Html(pages::render(page))).into_response();
    let h = response.headers_mut();
    // The page names an amount owed: never cached, never framed, nothing loaded from elsewhere. Forms
    // post to us; our redirect then leads to the processor's page.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' https: http:; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn bare(status: StatusCode, state: PageState, tenant: Option<&TenantRow>) -> Response {
    let page = Page {
        locale: tenant.map_or_else(|| "en".to_owned(), |t| t.locale.clone()),
        brand: tenant.map(brand),
        amount: None,
        path: None,
        state,
    };
    html(status, &page)
}

fn unavailable(tenant: &TenantRow, what: &dyn std::fmt::Display) -> Response {
    tracing::warn!(tenant = %tenant.id, error = %what, "card-update page could not proceed");
    bare(
        StatusCode::SERVICE_UNAVAILABLE,
        PageState::Unavailable,
        Some(tenant),
    )
}

fn page_for(o: &Opened, state: PageState) -> Page {
    let amount = Currency::new(&o.row.currency)
        .ok()
        .map(|c| Money::new(o.row.amount_due, c));
    Page {
        locale: o.tenant.locale.clone(),
        brand: Some(brand(&o.tenant)),
        amount,
        path: Some(o.url.clone()),
        state,
    }
}

/// A link outside any case (an expiring-card notice): its tenant, customer and own URL.
struct ForCustomer {
    tenant: TenantRow,
    customer_id: String,
    url: String,
}

/// `Some` when the token is a valid customer link (an invalid one is left to [`open`]).
async fn for_customer(s: &AppState, token: &str) -> Option<ForCustomer> {
    let target = links::verify(s.keys.link_signing_key(), token, s.clock.now()).ok()?;
    let customer_id = target
        .case_id
        .strip_prefix(card_update::CUSTOMER_PREFIX)?
        .to_owned();
    let tenant = s.store.tenant(&target.tenant_id).await.ok().flatten()?;
    Some(ForCustomer {
        url: format!(
            "{}/update/{token}",
            s.settings.public_url.trim_end_matches('/')
        ),
        tenant,
        customer_id,
    })
}

fn customer_page(c: &ForCustomer, state: PageState) -> Response {
    let page = Page {
        locale: c.tenant.locale.clone(),
        brand: Some(brand(&c.tenant)),
        amount: None,
        path: Some(c.url.clone()),
        state,
    };
    html(StatusCode::OK, &page)
}

/// Verifies the token and loads its case, or answers with the page that says why not.
async fn open(s: &AppState, token: &str) -> Result<Opened, Response> {
    let now = s.clock.now();
    let key = s.keys.link_signing_key();
    let target = match links::verify(key, token, now) {
        Ok(t) => t,
        Err(LinkError::Expired) => {
            // Genuine but stale: the tenant's contact only.
            let tenant = match links::open(key, token) {
                Ok(t) => s.store.tenant(&t.tenant_id).await.ok().flatten(),
                Err(_) => None,
            };
            return Err(bare(StatusCode::GONE, PageState::Expired, tenant.as_ref()));
        }
        Err(LinkError::Invalid) => {
            return Err(bare(StatusCode::NOT_FOUND, PageState::Invalid, None));
        }
    };
    let tenant = match s.store.tenant(&target.tenant_id).await {
        Ok(Some(t)) => t,
        Ok(None) => return Err(bare(StatusCode::NOT_FOUND, PageState::Invalid, None)),
        Err(e) => return Err(bare_error(&e)),
    };
    let row = match s.store.case(&tenant.id, &target.case_id).await {
        Ok(Some(r)) => r,
        Ok(None) => return Err(bare(StatusCode::NOT_FOUND, PageState::Invalid, None)),
        Err(e) => return Err(unavailable(&tenant, &e)),
    };
    let case = card_update::parse(&row).map_err(|e| unavailable(&tenant, &e))?;
    Ok(Opened {
        url: format!(
            "{}/update/{token}",
            s.settings.public_url.trim_end_matches('/')
        ),
        tenant,
        row,
        case,
    })
}

fn bare_error(e: &dyn std::fmt::Display) -> Response {
    tracing::warn!(error = %e, "card-update page could not read the store");
    bare(
        StatusCode::SERVICE_UNAVAILABLE,
        PageState::Unavailable,
        None,
    )
}

/// The page's current state, with the promise form when the case is open.
async fn current(s: &AppState, o: &Opened) -> Result<PageState, Response> {
    let window = card_update::promise_window(s, &o.tenant, &o.case)
        .await
        .map_err(|e| unavailable(&o.tenant, &e))?;
    Ok(pages::state_for(&o.case, window, s.clock.now()))
}

async fn show(State(s): State<AppState>, Path(token): Path<String>) -> Response {
    if let Some(c) = for_customer(&s, &token).await {
        return customer_page(&c, PageState::Renew);
    }
    let o = match open(&s, &token).await {
        Ok(o) => o,
        Err(page) => return page,
    };
    if o.case.is_open() {
        card_update::opened(&s, &o.tenant, &o.row).await;
    }
    match current(&s, &o).await {
        Ok(state) => html(StatusCode::OK, &page_for(&o, state)),
        Err(page) => page,
    }
}

async fn session(State(s): State<AppState>, Path(token): Path<String>) -> Response {
    if let Some(c) = for_customer(&s, &token).await {
        let reference = format!("{}{}", card_update::CUSTOMER_PREFIX, c.customer_id);
        return match card_update::start_for(&s, &c.tenant, &c.customer_id, "", &reference, &c.url)
            .await
        {
            Ok(session) => Redirect::to(&session.url).into_response(),
            Err(e) => unavailable(&c.tenant, &e),
        };
    }
    let o = match open(&s, &token).await {
        Ok(o) => o,
        Err(page) => return page,
    };
    if !o.case.is_open() {
        return Redirect::to(&o.url).into_response();
    }
    match card_update::start(&s, &o.tenant, &o.row, &o.url).await {
        Ok(session) => Redirect::to(&session.url).into_response(),
        Err(e) => unavailable(&o.tenant, &e),
    }
}

#[derive(Debug, Deserialize)]
struct DoneQuery {
    session_id: Option<String>,
}

async fn done(
    State(s): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Response {
    let session = q
        .session_id
        .filter(|id| !id.is_empty() && !id.contains('{'));
    if let Some(c) = for_customer(&s, &token).await {
        return match card_update::complete_for(&s, &c.tenant, &c.customer_id, session.as_deref())
            .await
        {
            Ok(true) => customer_page(&c, PageState::Saved),
            Ok(false) => customer_page(&c, PageState::Renew),
            Err(e) => unavailable(&c.tenant, &e),
        };
    }
    let o = match open(&s, &token).await {
        Ok(o) => o,
        Err(page) => return page,
    };
    if !o.case.is_open() {
        return Redirect::to(&o.url).into_response();
    }
    match card_update::complete(&s, &o.tenant, &o.row, &o.case, session.as_deref()).await {
        // Redirected, so that reloading the result never repeats the update.
        Ok(Completion::Updated) => Redirect::to(&o.url).into_response(),
        Ok(Completion::NothingSaved) => match current(&s, &o).await {
            Ok(PageState::Open {
                why,
                promise,
                promise_refused,
                ..
            }) => html(
                StatusCode::OK,
                &page_for(
                    &o,
                    PageState::Open {
                        why,
                        promise,
                        promise_refused,
                        no_card: true,
                    },
                ),
            ),
            Ok(state) => html(StatusCode::OK, &page_for(&o, state)),
            Err(page) => page,
        },
        Err(e) => unavailable(&o.tenant, &e),
    }
}

#[derive(Debug, Deserialize)]
struct PromiseForm {
    date: String,
}

async fn promise(
    State(s): State<AppState>,
    Path(token): Path<String>,
    Form(form): Form<PromiseForm>,
) -> Response {
    let o = match open(&s, &token).await {
        Ok(o) => o,
        Err(page) => return page,
    };
    let window = match card_update::promise_window(&s, &o.tenant, &o.case).await {
        Ok(w) => w,
        Err(e) => return unavailable(&o.tenant, &e),
    };
    let date = NaiveDate::parse_from_str(form.date.trim(), "%Y-%m-%d").ok();
    match (window, date) {
        (Some(w), Some(d)) if (w.from..=w.to).contains(&d) => {
            match card_update::promise(&s, &o.tenant, &o.row, &o.case, d).await {
                Ok(()) => Redirect::to(&o.url).into_response(),
                Err(e) => unavailable(&o.tenant, &e),
            }
        }
        (Some(w), _) => {
            let state = match pages::state_for(&o.case, Some(w), s.clock.now()) {
                PageState::Open { why, no_card, .. } => PageState::Open {
                    why,
                    promise: Some(w),
                    promise_refused: true,
                    no_card,
                },
                other => other,
            };
            html(StatusCode::BAD_REQUEST, &page_for(&o, state))
        }
        // Closed, or no day left to promise: the page says where things stand.
        (None, _) => Redirect::to(&o.url).into_response(),
    }
}
