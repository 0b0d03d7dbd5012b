use super::*;
use crate::domain::money::Currency;

const LOCALES: [&str; 5] = ["en", "fr", "nl", "de", "es"];

fn brand() -> Brand {
    Brand {
        company: "Acme <Analytics>".into(),
        color: Some("#0f766e".into()),
        support_email: Some("help@acme.test".into()),
        support_phone: None,
        address: Some("1 Main St".into()),
    }
}

fn window() -> PromiseWindow {
    PromiseWindow {
        from: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
        to: NaiveDate::from_ymd_opt(2026, 12, 10).unwrap(),
    }
}

fn states() -> Vec<State> {
    vec![
        State::Invalid,
        State::Expired,
        State::Open {
            why: Why::Hard,
            promise: Some(window()),
            promise_refused: true,
            no_card: false,
        },
        State::Processing,
        State::Declined { promise: None },
        State::Promised(NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()),
        State::Paid,
        State::Closed,
        State::Unavailable,
        State::Renew,
        State::Saved,
    ]
}

fn page(locale: &str, state: State) -> Page {
    Page {
        locale: locale.into(),
        brand: (state != State::Invalid).then(brand),
        amount: Some(Money::new(4900, Currency::new("eur").unwrap())),
        path: Some("/update/tok".into()),
        state,
    }
}

#[test]
fn every_state_renders_in_every_locale_without_external_assets() {
    for locale in LOCALES {
        for state in states() {
            let html = render(&page(locale, state.clone()));
            assert!(
                html.contains(&format!("<html lang=\"{locale}\">")),
                "{html}"
            );
            assert!(html.contains("name=\"viewport\""), "{html}");
            for external in [
                "<script", "<link", "<img", "<iframe", "url(", "@import", "src=",
            ] {
                assert!(!html.contains(external), "{locale} {state:?}: {external}");
            }
            // Names are escaped; the only placeholders left would be copy mistakes.
            assert!(!html.contains("<Analytics>"), "{html}");
            assert!(!html.contains('{') || html.contains("--brand"), "{html}");
            assert!(
                !html.contains("{amount}") && !html.contains("{company}"),
                "{html}"
            );
            let tenant_shown = state != State::Invalid;
            assert_eq!(
                html.contains("help@acme.test"),
                tenant_shown,
                "{locale} {state:?}"
            );
        }
    }
}

#[test]
fn the_open_page_states_the_amount_the_reason_and_both_ways_out() {
    let html = render(&page(
        "de",
        State::Open {
            why: Why::Soft,
            promise: Some(window()),
            promise_refused: false,
            no_card: false,
        },
    ));
    assert!(html.contains("49,00"), "{html}");
    assert!(html.contains(copy::page_copy("de").why_soft), "{html}");
    assert!(html.contains("id=\"update-card\""));
    assert!(html.contains("min=\"2026-11-25\"") && html.contains("max=\"2026-12-10\""));
    assert!(
        html.contains("<label for=\"promise-date\">"),
        "labelled input: {html}"
    );
    // Only our own forms; a refused promise says which dates are allowed.
    let refused = render(&page(
        "en",
        State::Open {
            why: Why::Soft,
            promise: Some(window()),
            promise_refused: true,
            no_card: false,
        },
    ));
    assert!(refused.contains("role=\"alert\""), "{refused}");
    assert!(
        refused.contains("November 25, 2026") || refused.contains("25"),
        "{refused}"
    );
}

#[test]
fn processing_reloads_itself_and_nothing_else_does() {
    for state in states() {
        let html = render(&page("en", state.clone()));
        assert_eq!(
            html.contains("http-equiv=\"refresh\""),
            state == State::Processing,
            "{state:?}"
        );
    }
}

#[test]
fn button_ink_keeps_contrast_on_light_and_dark_brands() {
    assert_eq!(ink_on("#0f766e"), "#ffffff");
    assert_eq!(ink_on("#ffd60a"), "#111111");
    assert_eq!(ink_on("#ffffff"), "#111111");
    assert_eq!(ink_on("#000000"), "#ffffff");
}
