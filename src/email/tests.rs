//! Every message in every locale against committed snapshots (`tests/snapshots/email/`), plus the
//! rules rendering enforces. `DUNNING_UPDATE_SNAPSHOTS=1 cargo test --lib email` rewrites the
//! snapshots; review the diff before committing it.

use std::path::PathBuf;

use chrono::NaiveDate;

use super::*;
use crate::domain::money::Currency;

fn branded(locale: &str) -> Context {
    Context {
        locale: locale.into(),
        company: "Acme Analytics".into(),
        logo_url: Some("https://acme.example/logo.png".into()),
        color: Some("#0f766e".into()),
        support_email: Some("billing@acme.example".into()),
        support_phone: Some("+33 1 23 45 67 89".into()),
        address: Some("12 rue de la Paix, 75002 Paris, France".into()),
        customer_name: Some("Camille Martin".into()),
        amount: Money::new(4_900, Currency::new("eur").unwrap()),
        link: "https://pay.acme.example/update/tok_sample".into(),
        deadline: NaiveDate::from_ymd_opt(2026, 12, 15),
    }
}

fn snapshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/email")
}

#[test]
fn every_message_in_every_locale_matches_its_snapshot() {
    let update = std::env::var_os("DUNNING_UPDATE_SNAPSHOTS").is_some();
    let mut mismatches = Vec::new();
    for locale in LOCALES {
        for message in Message::ALL {
            let r = render(message, &branded(locale)).unwrap();
            let text = format!("Subject: {}\n\n{}", r.subject, r.text);
            for (ext, body) in [("txt", &text), ("html", &r.html)] {
                let path = snapshot_dir().join(format!("{locale}/{}.{ext}", message.as_str()));
                if update {
                    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                    std::fs::write(&path, body).unwrap();
                    continue;
                }
                match std::fs::read_to_string(&path) {
                    Ok(expected) if &expected == body => {}
                    Ok(_) => mismatches.push(format!("{} differs", path.display())),
                    Err(e) => mismatches.push(format!("{}: {e}", path.display())),
                }
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} snapshot(s) out of date (DUNNING_UPDATE_SNAPSHOTS=1 rewrites them):\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn messages_carry_branding_amount_link_and_contact() {
    let r = render(Message::Failed, &branded("fr")).unwrap();
    assert!(r.subject.contains("Acme Analytics"), "{}", r.subject);
    for needle in [
        "49,00\u{a0}€",
        "https://pay.acme.example/update/tok_sample",
        "billing@acme.example",
        "12 rue de la Paix",
        "#0f766e",
        "https://acme.example/logo.png",
        "Bonjour Camille Martin,",
    ] {
        assert!(r.html.contains(needle), "html lacks {needle:?}");
    }
    assert!(r.text.contains("49,00\u{a0}€") && r.text.contains("tok_sample"));
    assert!(!r.text.contains('<'), "the text part has no markup");
    let firm = render(Message::Firm, &branded("de")).unwrap();
    assert!(
        firm.subject.contains("15. Dezember 2026"),
        "{}",
        firm.subject
    );
}

#[test]
fn customer_and_tenant_text_is_escaped_in_html() {
    let mut ctx = branded("en");
    ctx.customer_name = Some("<script>alert(1)</script>".into());
    ctx.company = "Tom & Jerry's".into();
    ctx.color = Some("red;background:url(x)".into());
    ctx.logo_url = Some("javascript:alert(1)".into());
    let r = render(Message::Reminder, &ctx).unwrap();
    assert!(!r.html.contains("<script>"));
    assert!(r.html.contains("&lt;script&gt;"));
    assert!(r.html.contains("Tom &amp; Jerry"));
    assert!(!r.html.contains("url(x)"), "only #rrggbb reaches a style");
    assert!(!r.html.contains("javascript:"), "only https logos");
    ctx.link = "https://pay.example/update/t?a=1&b=\"2".into();
    let r = render(Message::Reminder, &ctx).unwrap();
    assert!(
        r.html
            .contains("href=\"https://pay.example/update/t?a=1&amp;b=&quot;2\"")
    );
    assert!(
        r.text.contains("https://pay.example/update/t?a=1&b=\"2"),
        "the text part is not HTML"
    );
}

#[test]
fn a_message_without_real_contact_details_is_refused() {
    let mut ctx = branded("en");
    ctx.support_email = None;
    assert_eq!(
        render(Message::Failed, &ctx),
        Err(RenderError::MissingContact("support email"))
    );
    let mut ctx = branded("en");
    ctx.address = Some("  ".into());
    assert_eq!(
        render(Message::Failed, &ctx),
        Err(RenderError::MissingContact("company address"))
    );
}

#[test]
fn firm_and_final_notices_need_the_date_of_the_end_action() {
    let mut ctx = branded("es");
    ctx.deadline = None;
    assert!(matches!(
        render(Message::Final, &ctx),
        Err(RenderError::MissingDeadline("final"))
    ));
    assert!(render(Message::Failed, &ctx).is_ok());
}

#[test]
fn unknown_locales_read_english_and_names_are_optional() {
    let mut ctx = branded("pt-BR");
    ctx.customer_name = None;
    let r = render(Message::PaymentReceived, &ctx).unwrap();
    assert!(r.text.starts_with("Hi,\n"), "{}", r.text);
    assert!(r.text.contains("€49.00"));
}

#[test]
fn levels_escalate() {
    assert_eq!(Message::for_level(1), Message::Failed);
    assert_eq!(Message::for_level(2), Message::Reminder);
    assert_eq!(Message::for_level(3), Message::Firm);
    assert_eq!(Message::for_level(4), Message::Final);
    assert_eq!(Message::for_level(9), Message::Final);
}
