//! The customer's card-update page, rendered from what the handler found (pure: no I/O). One template
//! for every state of the flow; every word comes from [`copy`], every amount and date is formatted
//! for the locale. The page carries no external asset (no script, font, image or stylesheet from
//! elsewhere), so it loads on any network and leaks no visit to a third party.

pub mod copy;

use chrono::{DateTime, NaiveDate, Utc};
use minijinja::{Environment, context};

use crate::domain::case::{Attempt, AttemptState, AttemptTrigger, Case, Status};
use crate::domain::decline::DeclineClass;

use crate::domain::money::Money;
use crate::email::format;

use self::copy::{PageCopy, page_copy};

/// Who the customer is paying, as the page shows it.
#[derive(Debug, Clone, Default)]
pub struct Brand {
    pub company: String,
    /// `#rrggbb`.
    pub color: Option<String>,
    pub support_email: Option<String>,
    pub support_phone: Option<String>,
    pub address: Option<String>,
}

/// Why the payment failed, in the customer's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// A decline a retry may fix.
    Soft,
    /// The card cannot be charged any more.
    Hard,
    /// The bank wants the customer to confirm.
    Authentication,
}

/// The promise-to-pay form: dates the customer may choose (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PromiseWindow {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Forged, truncated or mangled: nothing is known, nothing is shown.
    Invalid,
    /// Genuine but past its expiry: the tenant's contact, no case data.
    Expired,
    /// What is owed and the way out.
    Open {
        why: Why,
        promise: Option<PromiseWindow>,
        /// The promise form was sent with a date outside the window.
        promise_refused: bool,
        /// The customer came back from the hosted page without saving a card.
        no_card: bool,
    },
    /// A new card is being tried; the page reloads itself.
    Processing,
    /// The new card was declined as well.
    Declined {
        promise: Option<PromiseWindow>,
    },
    Promised(NaiveDate),
    Paid,
    /// Closed without our payment (churned, canceled, written off, paid otherwise).
    Closed,
    /// The processor could not be reached; nothing happened.
    Unavailable,
    /// Outside any case: the card on file expires soon.
    Renew,
    /// Outside any case: the new card is saved.
    Saved,
}

/// Everything one page is rendered from.
#[derive(Debug, Clone)]
pub struct Page {
    pub locale: String,
    pub brand: Option<Brand>,
    pub amount: Option<Money>,
    /// The link's own path (`/update/{token}`), the base of the page's forms.
    pub path: Option<String>,
    pub state: State,
}

/// What an open or closed case shows its customer. `window` is the promise form's range, if any.
pub fn state_for(case: &Case, window: Option<PromiseWindow>, now: DateTime<Utc>) -> State {
    match case.status {
        Status::Recovered => return State::Paid,
        ref s if s.is_terminal() => return State::Closed,
        _ => {}
    }
    let card_update = |a: &&Attempt| a.trigger == AttemptTrigger::CardUpdate;
    if case.customer_waiting {
        // The customer's new card is being tried (or about to be).
        let trying = case.card_changed()
            && case.attempts.iter().filter(card_update).any(|a| {
                matches!(a.state, AttemptState::Planned | AttemptState::Uncertain)
                    && a.at <= now + chrono::Duration::minutes(2)
            });
        if trying {
            return State::Processing;
        }
        let last = case.attempts.iter().rev().find(|a| a.executed_at.is_some());
        if !case.card_changed()
            && last.is_some_and(|a| {
                a.trigger == AttemptTrigger::CardUpdate && a.state == AttemptState::Declined
            })
        {
            return State::Declined { promise: window };
        }
    }
    if let Some(until) = case.promised_until.filter(|u| *u > now) {
        let (tz, _) = crate::domain::calendar::resolve_zone(case.time_zone.as_deref());
        return State::Promised(until.with_timezone(&tz).date_naive());
    }
    let why = match case.latest_failure().map(|f| f.classification.class) {
        Some(DeclineClass::Hard) => Why::Hard,
        Some(DeclineClass::NeedsCustomer(_)) => Why::Authentication,
        _ => Why::Soft,
    };
    State::Open {
        why,
        promise: window,
        promise_refused: false,
        no_card: false,
    }
}

static ENVIRONMENT: std::sync::LazyLock<Environment<'static>> = std::sync::LazyLock::new(|| {
    let mut env = Environment::new();
    env.add_template(
        "update.html",
        include_str!("../../templates/page/update.html.j2"),
    )
    .expect("the page template parses");
    env
});

fn fill(text: &str, pairs: &[(&str, &str)]) -> String {
    pairs.iter().fold(text.to_owned(), |t, (k, v)| {
        t.replace(&format!("{{{k}}}"), v)
    })
}

/// Black or white, whichever reads better on `color` (WCAG relative luminance).
fn ink_on(color: &str) -> &'static str {
    let hex = color.trim_start_matches('#');
    let channel = |i: usize| {
        let c = f64::from(u8::from_str_radix(hex.get(i..i + 2).unwrap_or("00"), 16).unwrap_or(0))
            / 255.0;
        if c <= 0.039_28 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let l = 0.2126 * channel(0) + 0.7152 * channel(2) + 0.0722 * channel(4);
    // Contrast with white (1.05 / (l + 0.05)) against black ((l + 0.05) / 0.05).
    if 1.05 / (l + 0.05) >= (l + 0.05) / 0.05 {
        "#ffffff"
    } else {
        "#111111"
    }
}

const DEFAULT_COLOR: &str = "#1a73e8";

/// The HTML of `page`. The status code is the handler's business.
pub fn render(page: &Page) -> String {
    let c: &PageCopy = page_copy(&page.locale);
    let company = page
        .brand
        .as_ref()
        .map(|b| b.company.clone())
        .unwrap_or_default();
    let amount = page
        .amount
        .as_ref()
        .map(|a| format::money(a, &page.locale))
        .unwrap_or_default();
    let date = |d: NaiveDate| format::date(d, &page.locale);
    let vars = |text: &str| fill(text, &[("company", &company), ("amount", &amount)]);
    let owed = || vars(c.owed);
    let why_text = |why: Why| match why {
        Why::Soft => c.why_soft,
        Why::Hard => c.why_hard,
        Why::Authentication => c.why_auth,
    };
    let mut update = false;
    let mut promise: Option<PromiseWindow> = None;
    let mut alert: Option<String> = None;
    let mut refresh = false;
    let (heading, paragraphs): (&str, Vec<String>) = match &page.state {
        State::Invalid => (c.invalid_heading, vec![c.invalid_text.into()]),
        State::Expired => (c.expired_heading, vec![vars(c.expired_text)]),
        State::Open {
            why,
            promise: window,
            promise_refused,
            no_card,
        } => {
            update = true;
            promise = *window;
            if let (true, Some(w)) = (*promise_refused, window) {
                alert = Some(fill(
                    c.promise_range,
                    &[("from", &date(w.from)), ("to", &date(w.to))],
                ));
            }
            if *no_card {
                alert = Some(format!("{} {}", c.no_card_heading, c.no_card_text));
            }
            (c.update_heading, vec![owed(), why_text(*why).into()])
        }
        State::Processing => {
            refresh = true;
            (c.processing_heading, vec![c.processing_text.into()])
        }
        State::Declined { promise: window } => {
            update = true;
            promise = *window;
            (c.declined_heading, vec![owed(), c.declined_text.into()])
        }
        State::Promised(d) => (
            c.update_heading,
            vec![owed(), fill(c.promised, &[("date", &date(*d))])],
        ),
        State::Paid => (c.paid_heading, vec![vars(c.paid_text)]),
        State::Closed => (c.closed_heading, vec![c.closed_text.into()]),
        State::Unavailable => (c.unavailable_heading, vec![c.unavailable_text.into()]),
        State::Renew => {
            update = true;
            (c.renew_heading, vec![c.renew_text.into()])
        }
        State::Saved => (c.saved_heading, vec![c.saved_text.into()]),
    };
    let color = page
        .brand
        .as_ref()
        .and_then(|b| b.color.clone())
        .unwrap_or_else(|| DEFAULT_COLOR.to_owned());
    let contact = page.brand.as_ref().map(|b| {
        context! {
            label => c.contact,
            email => b.support_email,
            phone => b.support_phone,
            address => b.address,
        }
    });
    let path = page.path.clone().unwrap_or_default();
    let promise = promise.map(|w| {
        context! {
            action => format!("{path}/promise"),
            heading => c.promise_heading,
            text => c.promise_text,
            label => c.promise_label,
            button => c.promise_button,
            min => w.from.to_string(),
            max => w.to.to_string(),
        }
    });
    ENVIRONMENT
        .get_template("update.html")
        .and_then(|t| {
            t.render(context! {
                lang => page.locale,
                title => if company.is_empty() { heading.to_owned() } else { format!("{heading} · {company}") },
                company,
                color => color.clone(),
                ink => ink_on(&color),
                heading,
                paragraphs,
                alert,
                refresh,
                update => update.then(|| context! {
                    action => format!("{path}/session"),
                    button => c.update_button,
                    note => c.secure_note,
                }),
                promise,
                contact,
            })
        })
        .unwrap_or_else(|e| {
            // The template is compiled in and tested; this is a bug, not the customer's problem.
            tracing::error!(error = %e, "card-update page failed to render");
            format!("<!doctype html><title>{}</title><h1>{}</h1>", c.unavailable_heading, c.unavailable_heading)
        })
}

#[cfg(test)]
mod tests;
