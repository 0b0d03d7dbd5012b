//! Messages to the customer: what each says in each locale (`copy`), amounts and dates as the reader
//! writes them (`format`), and the HTML and plain-text templates (minijinja, `templates/email/`).
//! Rendering is pure; sending, and the outbox that makes it happen at most once, live elsewhere.

use chrono::NaiveDate;
use minijinja::{Environment, context};
use serde::{Deserialize, Serialize};

use crate::domain::money::Money;

mod copy;
pub mod delivery;
pub mod format;
pub mod http_api;
pub mod links;
pub mod overrides;
#[cfg(test)]
mod tests;
pub mod transport;

/// The locales messages are written in; any other falls back to English.
pub const LOCALES: [&str; 5] = ["en", "fr", "nl", "de", "es"];

/// Every message the service sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Message {
    /// Level 1: a friendly "your payment didn't go through".
    Failed,
    /// Level 2: a reminder.
    Reminder,
    /// Level 3: a firm notice of what happens, and when.
    Firm,
    /// Level 4: the final notice before the end action.
    Final,
    /// A hard decline: retrying the card cannot work; a new card is needed.
    UpdateCard,
    /// `authentication_required`: the customer must approve the payment with their bank.
    ConfirmPayment,
    CardUpdated,
    PaymentReceived,
    SubscriptionCancelled,
    /// The card on file expires at the end of the month (an opt-in notice, outside any case).
    CardExpiring,
}

impl Message {
    pub const ALL: [Message; 10] = [
        Message::Failed,
        Message::Reminder,
        Message::Firm,
        Message::Final,
        Message::UpdateCard,
        Message::ConfirmPayment,
        Message::CardUpdated,
        Message::PaymentReceived,
        Message::SubscriptionCancelled,
        Message::CardExpiring,
    ];

    /// The escalation message for a campaign's email level (1 = friendliest; 4 and above = final).
    pub fn for_level(level: u8) -> Message {
        match level {
            0 | 1 => Message::Failed,
            2 => Message::Reminder,
            3 => Message::Firm,
            _ => Message::Final,
        }
    }

    /// The message a campaign's email step sends for `case`: the level's, unless the latest decline
    /// asks something else of the customer (a new card, or their bank's confirmation) and the card
    /// has not changed since.
    pub fn for_step(case: &crate::domain::case::Case, level: u8) -> Message {
        use crate::domain::decline::{CustomerAction, DeclineClass};
        let class = case
            .latest_failure()
            .filter(|_| !case.card_changed())
            .map(|f| f.classification.class);
        match class {
            Some(DeclineClass::Hard) => Message::UpdateCard,
            Some(DeclineClass::NeedsCustomer(CustomerAction::Authentication)) => {
                Message::ConfirmPayment
            }
            _ => Message::for_level(level),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Message::Failed => "failed",
            Message::Reminder => "reminder",
            Message::Firm => "firm",
            Message::Final => "final",
            Message::UpdateCard => "update_card",
            Message::ConfirmPayment => "confirm_payment",
            Message::CardUpdated => "card_updated",
            Message::PaymentReceived => "payment_received",
            Message::SubscriptionCancelled => "subscription_cancelled",
            Message::CardExpiring => "card_expiring",
        }
    }

    /// A message from its name (`reminder`) or its campaign level (`level_2`).
    pub fn parse(s: &str) -> Option<Message> {
        if let Some(n) = s.strip_prefix("level_") {
            let n = n.parse::<u8>().ok().filter(|n| (1..=4).contains(n))?;
            return Some(Message::for_level(n));
        }
        Message::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Messages that ask the customer to act, through the card-update link.
    pub fn has_link(self) -> bool {
        !matches!(
            self,
            Message::CardUpdated | Message::PaymentReceived | Message::SubscriptionCancelled
        )
    }

    /// Messages that state a date: the end action's, or the card's expiry.
    fn needs_date(self) -> bool {
        matches!(self, Message::Firm | Message::Final | Message::CardExpiring)
    }
}

/// Everything a message is rendered from.
#[derive(Debug, Clone)]
pub struct Context {
    pub locale: String,
    /// The tenant's name as its customers know it.
    pub company: String,
    pub logo_url: Option<String>,
    /// Brand colour (`#rrggbb`) for the header rule and the button.
    pub color: Option<String>,
    pub support_email: Option<String>,
    pub support_phone: Option<String>,
    /// The company's postal address.
    pub address: Option<String>,
    pub customer_name: Option<String>,
    pub amount: Money,
    /// The signed card-update link.
    pub link: String,
    /// When the end action happens (levels 3 and 4).
    pub deadline: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RenderError {
    /// Payment reminders must say who is writing and how to reach them (and some laws require it).
    #[error("the tenant's {0} is not set; messages are not sent without real contact details")]
    MissingContact(&'static str),
    #[error("the {0} message states the date of the end action, and none was given")]
    MissingDeadline(&'static str),
    #[error("template error: {0}")]
    Template(String),
}

const DEFAULT_COLOR: &str = "#1a73e8";

/// Parsed once: building the environment parses both templates.
static ENVIRONMENT: std::sync::LazyLock<Environment<'static>> =
    std::sync::LazyLock::new(environment);

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_keep_trailing_newline(true);
    // `.html` templates escape every value (customer names, company names) by default.
    env.add_template(
        "message.html",
        include_str!("../../templates/email/message.html.j2"),
    )
    .expect("the HTML template parses");
    env.add_template(
        "message.txt",
        include_str!("../../templates/email/message.txt.j2"),
    )
    .expect("the text template parses");
    env
}

/// Fills `{name}`-style placeholders; unknown ones are left as they are.
fn fill(text: &str, values: &[(&str, &str)]) -> String {
    let mut out = text.to_owned();
    for (k, v) in values {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

/// Renders `message` for `ctx`: the subject, the plain text and the HTML.
pub fn render(message: Message, ctx: &Context) -> Result<Rendered, RenderError> {
    render_with(message, ctx, None)
}

/// Like [`render`], with a tenant's own templates for any of the three parts (the others built in).
pub fn render_with(
    message: Message,
    ctx: &Context,
    custom: Option<&overrides::TemplateSet>,
) -> Result<Rendered, RenderError> {
    let (subject, vars) = variables(message, ctx)?;
    let builtin = |name: &str| {
        ENVIRONMENT
            .get_template(name)
            .and_then(|t| t.render(&vars))
            .map_err(|e| RenderError::Template(e.to_string()))
    };
    let Some(custom) = custom else {
        return Ok(Rendered {
            subject,
            text: builtin("message.txt")?,
            html: builtin("message.html")?,
        });
    };
    let part = |source: &Option<String>, name: &str| -> Result<Option<String>, RenderError> {
        source
            .as_deref()
            .map(|src| overrides::render_part(name, src, &vars))
            .transpose()
    };
    Ok(Rendered {
        subject: match part(&custom.subject, "subject.txt")? {
            Some(s) => s.trim().to_string(),
            None => subject,
        },
        text: part(&custom.text, "body.txt")?.map_or_else(|| builtin("message.txt"), Ok)?,
        html: part(&custom.html, "body.html")?.map_or_else(|| builtin("message.html"), Ok)?,
    })
}

/// The subject line and everything a template can use. Refuses a context without real contact
/// details, or a firm or final notice without the date of the end action.
fn variables(message: Message, ctx: &Context) -> Result<(String, minijinja::Value), RenderError> {
    let support_email = ctx
        .support_email
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .ok_or(RenderError::MissingContact("support email"))?;
    let address = ctx
        .address
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .ok_or(RenderError::MissingContact("company address"))?;
    let locale = if LOCALES.contains(&ctx.locale.as_str()) {
        ctx.locale.as_str()
    } else {
        "en"
    };
    let date = match (message.needs_date(), ctx.deadline) {
        (true, None) => return Err(RenderError::MissingDeadline(message.as_str())),
        (_, Some(d)) => format::date(d, locale),
        (false, None) => String::new(),
    };
    let amount = format::money(&ctx.amount, locale);
    let name = ctx.customer_name.as_deref().unwrap_or("").trim();
    let values = [
        ("amount", amount.as_str()),
        ("company", ctx.company.as_str()),
        ("date", date.as_str()),
        ("name", name),
    ];
    let words = copy::copy(message, locale);
    let common = copy::common(locale);
    let greeting = if name.is_empty() {
        common.greeting.to_owned()
    } else {
        fill(common.greeting_named, &values)
    };
    let subject = fill(words.subject, &values);
    let paragraphs: Vec<String> = words.paragraphs.iter().map(|p| fill(p, &values)).collect();
    let color = ctx
        .color
        .as_deref()
        .filter(|c| is_hex_color(c))
        .unwrap_or(DEFAULT_COLOR);
    let vars = context! {
        locale,
        kind => message.as_str(),
        subject => &subject,
        heading => fill(words.heading, &values),
        greeting,
        paragraphs,
        action => words.action.map(|a| fill(a, &values)),
        link => url_value(&ctx.link),
        link_text => &ctx.link,
        link_fallback => common.link_fallback,
        sign_off => fill(common.sign_off, &values),
        questions => common.questions,
        company => &ctx.company,
        logo_url => ctx.logo_url.as_deref().filter(|u| u.starts_with("https://")).map(url_value),
        color,
        support_email,
        support_phone => &ctx.support_phone,
        address,
        // Raw values for tenants' own templates (the built-in ones use the sentences above).
        amount,
        date,
        customer_name => name,
    };
    Ok((subject, vars))
}

/// A URL for an attribute, escaped by hand: minijinja's escaping also turns every `/` into `&#x2f;`,
/// which is valid but makes links unreadable in the HTML source and trips some mail scanners.
fn url_value(url: &str) -> minijinja::Value {
    let mut out = String::with_capacity(url.len());
    for ch in url.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    minijinja::Value::from_safe_string(out)
}

/// Only a plain `#rrggbb` reaches a `style` attribute.
fn is_hex_color(c: &str) -> bool {
    c.len() == 7 && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_hexdigit())
}
