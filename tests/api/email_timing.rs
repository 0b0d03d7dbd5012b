//! When emails go out: never in the customer's night, and never more than three a week to one
//! customer across all their cases. Over SMTP, on SQLite and PostgreSQL.

use chrono::{DateTime, Duration, Timelike, Utc};
use chrono_tz::America::New_York;
use dunning::testing::fake_stripe::Outcome;
use serde_json::{Value, json};

use crate::both;
use crate::email::{subjects, with_smtp};
use crate::engine::{Setup, payment_failed};
use crate::helpers::*;

const CUSTOMER: &str = "cus_S2pQ7LmVt9KdE4";

/// Sets the test clock to the next `hour`:00 in New York (the customer's zone).
async fn at_local_hour(s: &Setup, hour: u32) -> DateTime<Utc> {
    let now = s.now().await.with_timezone(&New_York);
    let mut t = now
        .with_hour(hour)
        .and_then(|t| t.with_minute(0))
        .and_then(|t| t.with_second(0))
        .unwrap();
    if t <= now {
        t += Duration::days(1);
    }
    let to = t.with_timezone(&Utc);
    let r = s
        .app
        .client
        .post(format!("{}/v1/admin/clock", s.app.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"to": to.to_rfc3339()}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    to
}

/// When the campaign's reminders went out (notices, which answer events, are not touches).
fn sent_times(c: &Value) -> Vec<DateTime<Utc>> {
    c["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| {
            let d = t["detail"].as_str().unwrap();
            t["kind"] == "message" && d.contains("/step/") && d.contains("email sent")
        })
        .map(|t| t["at"].as_str().unwrap().parse().unwrap())
        .collect()
}

both!(
    a_failure_at_night_is_emailed_the_next_morning,
    |b| async move {
        let Some((s, smtp)) = with_smtp(b).await else {
            return;
        };
        s.stripe
            .add_invoice("in_night", CUSTOMER, Some("sub_in_night"), 4900, "usd");
        let failed_at = at_local_hour(&s, 23).await;
        s.send(payment_failed("evt_night", "in_night", failed_at))
            .await;
        // The first level is due at once, but it is 23:00 for the customer.
        s.advance_minutes(60).await;
        assert!(smtp.received().is_empty(), "{:?}", subjects(&smtp));
        s.advance_minutes(12 * 60).await;
        assert_eq!(smtp.received().len(), 1, "{:?}", subjects(&smtp));
        let c = s.case("in_night").await;
        let sent = sent_times(&c);
        assert_eq!(sent.len(), 1, "{c}");
        let local = sent[0].with_timezone(&New_York);
        assert_eq!((local.hour(), local.minute()), (9, 0), "{c}");
        assert_eq!(
            local.date_naive(),
            failed_at.with_timezone(&New_York).date_naive() + Duration::days(1)
        );
        s.app.stop().await;
    }
);

both!(
    one_customer_gets_at_most_three_emails_a_week_across_cases,
    |b| async move {
        let Some((s, smtp)) = with_smtp(b).await else {
            return;
        };
        let failed_at = at_local_hour(&s, 10).await;
        let invoices = ["in_cap_1", "in_cap_2", "in_cap_3", "in_cap_4"];
        for (i, inv) in invoices.iter().enumerate() {
            s.stripe
                .add_invoice(inv, CUSTOMER, Some(&format!("sub_{inv}")), 4900, "usd");
            s.stripe.script_pay(
                inv,
                vec![Outcome::decline("card_declined", Some("do_not_honor")); 8],
            );
            s.send(payment_failed(&format!("evt_cap_{i}"), inv, failed_at))
                .await;
        }
        s.advance_minutes(60).await;
        // Four cases, each with a first email due now: three go out, the fourth waits.
        assert_eq!(smtp.received().len(), 3, "{:?}", subjects(&smtp));
        let mut waiting = None;
        for inv in invoices {
            let c = s.case(inv).await;
            let times = sent_times(&c);
            if times.is_empty() {
                waiting = Some(c);
            }
        }
        let waiting = waiting.expect("one case's email waits");
        let step = waiting["planned_steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["kind"] == "email" && p["detail"]["level"] == 1)
            .cloned()
            .unwrap();
        assert!(
            step["result"]
                .as_str()
                .unwrap_or_default()
                .contains("messages to this customer in 7 days"),
            "{step}"
        );
        // Over the whole campaigns, no 7-day window holds more than three emails to the customer.
        s.advance_days(30).await;
        let mut all: Vec<DateTime<Utc>> = Vec::new();
        for inv in invoices {
            all.extend(sent_times(&s.case(inv).await));
        }
        all.sort();
        assert!(all.len() >= 4, "{all:?}");
        for (i, t) in all.iter().enumerate() {
            let in_week = all[i..]
                .iter()
                .take_while(|u| **u < *t + Duration::days(7))
                .count();
            assert!(
                in_week <= 3,
                "{in_week} emails in the week from {t}: {all:?}"
            );
        }
        s.app.stop().await;
    }
);
