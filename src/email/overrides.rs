//! A tenant's own templates for a message in one locale (subject, HTML, text; each optional, the
//! built-in one used for a part not given), and the checks a template passes before it is stored:
//! it renders with sample data, shows the support contact and the company address, and carries the
//! card-update link where the message asks the customer to act.

use chrono::NaiveDate;
use minijinja::{Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};

use super::{Context, Message, RenderError, render_with};
use crate::domain::money::{Currency, Money};

/// Longest template part accepted, in bytes.
pub const MAX_PART_BYTES: usize = 64 * 1024;
const MAX_SUBJECT_CHARS: usize = 200;

/// minijinja sources; `None` keeps the built-in part.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSet {
    pub subject: Option<String>,
    pub html: Option<String>,
    pub text: Option<String>,
}

impl TemplateSet {
    pub fn is_empty(&self) -> bool {
        self.subject.is_none() && self.html.is_none() && self.text.is_none()
    }
}

/// Renders one tenant template. `name` decides escaping: a `.html` name escapes every value.
pub(super) fn render_part(
    name: &str,
    source: &str,
    vars: &minijinja::Value,
) -> Result<String, RenderError> {
    let mut env = Environment::new();
    env.set_keep_trailing_newline(true);
    // A misspelt variable is an error at validation, not an empty gap in a customer's email.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.template_from_named_str(name, source)
        .and_then(|t| t.render(vars))
        .map_err(|e| RenderError::Template(e.to_string()))
}

const SAMPLE_SUPPORT: &str = "help@sample-company.example";
const SAMPLE_ADDRESS: &str = "1 Sample Street, Springfield";
const SAMPLE_TOKEN: &str = "sample-token";

/// Sample data for previews and validation, in `locale` (amounts in euros, dollars for English).
pub fn sample_context(locale: &str, public_url: &str, today: NaiveDate) -> Context {
    let currency = if locale == "en" { "usd" } else { "eur" };
    Context {
        locale: locale.into(),
        company: "Sample Company".into(),
        logo_url: None,
        color: None,
        support_email: Some(SAMPLE_SUPPORT.into()),
        support_phone: None,
        address: Some(SAMPLE_ADDRESS.into()),
        customer_name: Some("Jenny Rosen".into()),
        amount: Money::new(4_900, Currency::new(currency).expect("a valid code")),
        link: format!("{}/update/{SAMPLE_TOKEN}", public_url.trim_end_matches('/')),
        deadline: Some(today + chrono::Duration::days(14)),
    }
}

/// Every problem with `set` as the templates of `message` in `locale`, each naming the part.
pub fn validate(message: Message, locale: &str, set: &TemplateSet) -> Vec<String> {
    let mut problems = Vec::new();
    for (part, source) in [
        ("subject", &set.subject),
        ("html", &set.html),
        ("text", &set.text),
    ] {
        if source.as_ref().is_some_and(|s| s.len() > MAX_PART_BYTES) {
            problems.push(format!(
                "{locale}.{part}: longer than {MAX_PART_BYTES} bytes"
            ));
        }
    }
    if !problems.is_empty() {
        return problems;
    }
    let today = NaiveDate::from_ymd_opt(2026, 1, 15).expect("a valid date");
    let ctx = sample_context(locale, "https://dunning.example", today);
    // Each part alone, so that an error names the part it is in.
    let one = |subject: bool, html: bool, text: bool| TemplateSet {
        subject: set.subject.clone().filter(|_| subject),
        html: set.html.clone().filter(|_| html),
        text: set.text.clone().filter(|_| text),
    };
    if set.subject.is_some() {
        match render_with(message, &ctx, Some(&one(true, false, false))) {
            Err(e) => problems.push(format!("{locale}.subject: {e}")),
            Ok(r) if r.subject.is_empty() => {
                problems.push(format!("{locale}.subject: renders empty"));
            }
            Ok(r) if r.subject.contains('\n') || r.subject.chars().count() > MAX_SUBJECT_CHARS => {
                problems.push(format!(
                    "{locale}.subject: must render as one line of at most {MAX_SUBJECT_CHARS} characters"
                ));
            }
            Ok(_) => {}
        }
    }
    for (part, html) in [("html", true), ("text", false)] {
        if (html && set.html.is_none()) || (!html && set.text.is_none()) {
            continue;
        }
        match render_with(message, &ctx, Some(&one(false, html, !html))) {
            Err(e) => problems.push(format!("{locale}.{part}: {e}")),
            Ok(r) => {
                let body = if html { r.html } else { r.text };
                problems.extend(
                    missing(message, &body)
                        .into_iter()
                        .map(|m| format!("{locale}.{part}: {m}")),
                );
            }
        }
    }
    problems
}

/// What a rendered body lacks of what every message must show.
fn missing(message: Message, body: &str) -> Vec<String> {
    let mut out = Vec::new();
    if !body.contains(SAMPLE_SUPPORT) {
        out.push("must show the support contact ({{ support_email }})".to_string());
    }
    if !body.contains(SAMPLE_ADDRESS) {
        out.push("must show the company address ({{ address }})".to_string());
    }
    if message.has_link() && !body.contains(SAMPLE_TOKEN) {
        out.push("must contain the card-update link ({{ link }})".to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(html: &str, text: &str) -> TemplateSet {
        TemplateSet {
            subject: Some("{{ company }}: {{ amount }} due".into()),
            html: Some(html.into()),
            text: Some(text.into()),
        }
    }

    const GOOD_TEXT: &str =
        "Hi {{ customer_name }}, pay {{ amount }}: {{ link }}\n{{ support_email }} {{ address }}";
    const GOOD_HTML: &str = "<p>{{ greeting }}</p><a href=\"{{ link }}\">{{ action }}</a><p>{{ support_email }} · {{ address }}</p>";

    #[test]
    fn a_complete_template_passes_and_is_used() {
        let s = set(GOOD_HTML, GOOD_TEXT);
        assert_eq!(validate(Message::Reminder, "fr", &s), Vec::<String>::new());
        let ctx = sample_context(
            "fr",
            "https://pay.example",
            NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        );
        let r = render_with(Message::Reminder, &ctx, Some(&s)).unwrap();
        assert_eq!(r.subject, "Sample Company: 49,00\u{a0}€ due");
        assert!(r.text.starts_with(
            "Hi Jenny Rosen, pay 49,00\u{a0}€: https://pay.example/update/sample-token"
        ));
        // Values are escaped in HTML.
        let ctx = Context {
            customer_name: Some("<b>".into()),
            ..ctx
        };
        let r = render_with(
            Message::Reminder,
            &ctx,
            Some(&set("{{ customer_name }}", "x")),
        )
        .unwrap();
        assert_eq!(r.html, "&lt;b&gt;");
    }

    #[test]
    fn each_problem_names_its_part() {
        let s = TemplateSet {
            subject: Some("{{ company".into()),
            html: Some("<p>{{ support_email }} {{ address }}</p>".into()),
            text: Some("{{ suport_email }}".into()),
        };
        let problems = validate(Message::Failed, "en", &s);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems[0].starts_with("en.subject: template error"),
            "{problems:?}"
        );
        assert!(
            problems[1].starts_with("en.html: must contain the card-update link"),
            "{problems:?}"
        );
        assert!(
            problems[2].starts_with("en.text: template error"),
            "{problems:?}"
        );
    }

    #[test]
    fn contact_details_are_required_and_the_link_only_where_the_customer_acts() {
        let s = TemplateSet {
            text: Some("Thanks! {{ company }}".into()),
            ..TemplateSet::default()
        };
        let problems = validate(Message::PaymentReceived, "de", &s);
        assert_eq!(
            problems,
            vec![
                "de.text: must show the support contact ({{ support_email }})",
                "de.text: must show the company address ({{ address }})"
            ]
        );
        let s = TemplateSet {
            text: Some("Thanks! {{ support_email }} {{ address }}".into()),
            ..TemplateSet::default()
        };
        assert!(validate(Message::PaymentReceived, "de", &s).is_empty());
    }
}
