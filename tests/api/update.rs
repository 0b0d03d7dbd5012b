//! The customer's card-update page over HTTP, with the fake Stripe's hosted pages standing in for
//! Stripe's: the link, the hosted flow and back, the immediate retry, refused links, promise to pay.
//! On SQLite and PostgreSQL.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use dunning::email::links::{self, LinkTarget};
use dunning::testing::fake_stripe::{Outcome, SessionKind};
use serde_json::{Value, json};

use crate::both;
use crate::engine::{Setup, add_invoice, charge_failed, invoice_event, payment_failed, setup_with};
use crate::helpers::*;

const CUSTOMER: &str = "cus_S2pQ7LmVt9KdE4";

async fn branded(b: Backend, flow: &str) -> Option<Setup> {
    let s = setup_with(b, &[]).await?;
    s.brand(json!({"card_update": flow})).await;
    Some(s)
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A case whose card was declined for good (`expired_card`: no retry until a new card).
async fn hard_declined(s: &Setup, invoice: &str) -> String {
    add_invoice(s, invoice);
    let now = s.now().await;
    s.send(charge_failed(
        &format!("evt_{invoice}_charge"),
        invoice,
        "expired_card",
        "expired_card",
        now,
    ))
    .await;
    s.send(payment_failed(
        &format!("evt_{invoice}_failed"),
        invoice,
        now,
    ))
    .await;
    let c = s.case(invoice).await;
    assert_eq!(c["status"], "open", "{c}");
    c["id"].as_str().unwrap().to_owned()
}

fn link(s: &Setup, case_id: &str, expires_at: DateTime<Utc>) -> String {
    let token = links::sign(
        s.app.state.keys.link_signing_key(),
        &LinkTarget {
            tenant_id: "acme".into(),
            case_id: case_id.into(),
            expires_at,
        },
    );
    format!("/update/{token}")
}

async fn page(s: &Setup, path: &str) -> (u16, String) {
    let r = no_redirects()
        .get(format!("{}{path}", s.app.base))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Follows the page until it stops saying the card is being tried.
async fn settled_page(s: &Setup, path: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = page(s, path).await;
        assert_eq!(status, 200, "{body}");
        if !body.contains("http-equiv=\"refresh\"") {
            return body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the page kept processing: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Presses "update card": the answer is a redirect to the fake's hosted page.
async fn open_hosted(s: &Setup, path: &str) -> String {
    let r = no_redirects()
        .post(format!("{}{path}/session", s.app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(to.starts_with(s.stripe.base_url()), "{to}");
    to.rsplit('/').next().unwrap().to_owned()
}

/// The hosted page sent the customer back to `back`: follow it to the page.
async fn come_back(s: &Setup, back: &str, path: &str) {
    let public = s.app.state.settings.public_url.clone();
    assert!(back.starts_with(&format!("{public}{path}/done")), "{back}");
    let r = no_redirects().get(back).send().await.unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    assert!(r.headers()["location"].to_str().unwrap().ends_with(path));
}

both!(
    a_new_card_through_the_billing_portal_is_charged_at_once_and_recovers_the_case,
    |b| async move {
        let Some(s) = branded(b, "billing_portal").await else {
            return;
        };
        let case_id = hard_declined(&s, "in_portal").await;
        let now = s.now().await;
        let path = link(&s, &case_id, now + chrono::Duration::days(30));

        let (status, body) = page(&s, &path).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("<html lang=\"fr\">"), "{body}");
        assert!(body.contains("Acme Analytics"), "{body}");
        assert!(body.contains("#0f766e"), "{body}");
        assert!(body.contains("49,00"), "amount formatted for fr: {body}");
        assert!(body.contains("ne peut plus être débitée"), "why: {body}");
        assert!(body.contains("help@acme.test"), "{body}");
        assert!(!body.contains("<script"), "{body}");
        assert_eq!(s.stripe.sessions().len(), 0, "a GET opens no session");

        let session = open_hosted(&s, &path).await;
        let sessions = s.stripe.sessions();
        assert_eq!(sessions.len(), 1);
        assert_eq!(sessions[0].kind, SessionKind::BillingPortal);
        assert_eq!(sessions[0].customer, CUSTOMER);
        assert_eq!(sessions[0].locale.as_deref(), Some("fr"));
        let back = s
            .stripe
            .complete_session(&session, "4242 4242 4242 4242")
            .unwrap();
        come_back(&s, &back, &path).await;

        let body = settled_page(&s, &path).await;
        assert!(body.contains("Paiement reçu"), "{body}");
        let c = s.case("in_portal").await;
        assert_eq!(c["status"], "recovered", "{c}");
        assert_eq!(c["recovered_by"], "card_update", "{c}");
        assert_eq!(s.stripe.charges("in_portal"), 1);
        // The funnel on the timeline: link opened (once that day), card updated, recovered.
        let details: Vec<String> = c["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["detail"].as_str().unwrap_or_default().to_owned())
            .collect();
        let opened = details
            .iter()
            .filter(|d| d.contains("opened the card-update link"))
            .count();
        assert_eq!(opened, 1, "{details:?}");
        assert!(
            details.iter().any(|d| d.contains("payment method updated")),
            "{details:?}"
        );
        // Coming back again (a reload of the return URL) changes nothing.
        let r = no_redirects().get(&back).send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(s.stripe.charges("in_portal"), 1);
        s.app.stop().await;
    }
);

both!(
    a_checkout_setup_card_becomes_the_default_before_the_retry,
    |b| async move {
        let Some(s) = branded(b, "checkout").await else {
            return;
        };
        let case_id = hard_declined(&s, "in_checkout").await;
        let now = s.now().await;
        let path = link(&s, &case_id, now + chrono::Duration::days(30));
        let session = open_hosted(&s, &path).await;
        assert_eq!(s.stripe.sessions()[0].kind, SessionKind::Checkout);
        let back = s
            .stripe
            .complete_session(&session, "5555555555554444")
            .unwrap();
        assert!(back.contains(&format!("session_id={session}")), "{back}");
        // Checkout leaves the default alone: until we set it, the old card would be charged.
        assert_eq!(s.stripe.default_card(CUSTOMER), None);
        come_back(&s, &back, &path).await;
        let (pm, number) = s.stripe.default_card(CUSTOMER).unwrap();
        assert_eq!(number, "5555555555554444");
        assert_eq!(
            s.stripe.subscription_default("sub_in_checkout").as_deref(),
            Some(pm.as_str())
        );
        let body = settled_page(&s, &path).await;
        assert!(body.contains("Paiement reçu"), "{body}");
        let c = s.case("in_checkout").await;
        assert_eq!(c["status"], "recovered", "{c}");
        assert_eq!(c["recovered_by"], "card_update", "{c}");

        // Another customer's session id in the return URL is refused and changes nothing.
        add_invoice(&s, "in_other");
        s.send(payment_failed("evt_other", "in_other", now)).await;
        let other = s.case("in_other").await;
        let other_path = link(
            &s,
            other["id"].as_str().unwrap(),
            now + chrono::Duration::days(30),
        );
        let r = no_redirects()
            .get(format!(
                "{}{other_path}/done?session_id=cs_test_unknown",
                s.app.base
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 503);
        assert_eq!(s.case("in_other").await["status"], "open");
        s.app.stop().await;
    }
);

both!(
    a_declined_new_card_says_so_and_the_case_stays_open,
    |b| async move {
        let Some(s) = branded(b, "billing_portal").await else {
            return;
        };
        let case_id = hard_declined(&s, "in_again").await;
        let now = s.now().await;
        let path = link(&s, &case_id, now + chrono::Duration::days(30));
        let session = open_hosted(&s, &path).await;
        let back = s
            .stripe
            .complete_session(&session, "4000000000000002")
            .unwrap();
        come_back(&s, &back, &path).await;
        let body = settled_page(&s, &path).await;
        assert!(body.contains("aussi été refusée"), "{body}");
        assert!(
            body.contains("id=\"update-card\""),
            "offers another try: {body}"
        );
        let c = s.case("in_again").await;
        assert_eq!(c["status"], "open");
        assert_eq!(s.stripe.pay_executions("in_again"), 1);
        s.app.stop().await;
    }
);

both!(
    forged_expired_and_foreign_links_show_no_case_data,
    |b| async move {
        let Some(s) = branded(b, "billing_portal").await else {
            return;
        };
        let case_id = hard_declined(&s, "in_links").await;
        let now = s.now().await;
        let good = link(&s, &case_id, now + chrono::Duration::days(30));
        let token = good.trim_start_matches("/update/");
        let (payload, sig) = token.split_once('.').unwrap();

        // Tampered signature, truncated token, garbage.
        let flipped = if sig.starts_with('A') { "B" } else { "A" };
        for bad in [
            format!("/update/{payload}.{flipped}{}", &sig[1..]),
            format!("/update/{payload}"),
            "/update/not-a-token".to_owned(),
        ] {
            let (status, body) = page(&s, &bad).await;
            assert_eq!(status, 404, "{bad}: {body}");
            assert!(
                body.contains("Ce lien ne fonctionne pas")
                    || body.contains("This link does not work"),
                "{body}"
            );
            assert!(!body.contains("49"), "no amount: {body}");
            assert!(!body.contains("Acme"), "no tenant: {body}");
            // Nothing can be started from it either.
            let r = no_redirects()
                .post(format!("{}{bad}/session", s.app.base))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 404);
        }
        // Signed with another key: foreign.
        let foreign = links::sign(
            &[9u8; 32],
            &LinkTarget {
                tenant_id: "acme".into(),
                case_id: case_id.clone(),
                expires_at: now + chrono::Duration::days(30),
            },
        );
        let (status, _) = page(&s, &format!("/update/{foreign}")).await;
        assert_eq!(status, 404);

        // Expired: the tenant's contact, nothing of the case.
        let expired = link(&s, &case_id, now - chrono::Duration::seconds(1));
        let (status, body) = page(&s, &expired).await;
        assert_eq!(status, 410, "{body}");
        assert!(body.contains("Ce lien a expiré"), "{body}");
        assert!(body.contains("help@acme.test"), "{body}");
        assert!(!body.contains("49,00"), "{body}");
        let r = no_redirects()
            .post(format!("{}{expired}/session", s.app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 410);
        assert!(s.stripe.sessions().is_empty());

        // After the case closes, the link says the payment is settled.
        s.send(invoice_event(
            "invoice.paid",
            "evt_links_paid",
            "in_links",
            now,
            2,
        ))
        .await;
        let (status, body) = page(&s, &good).await;
        assert_eq!(status, 200);
        assert!(body.contains("Paiement reçu"), "{body}");
        assert!(!body.contains("id=\"update-card\""), "{body}");
        s.app.stop().await;
    }
);

fn planned_retry(c: &Value) -> Option<DateTime<Utc>> {
    c["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["state"] == "planned")
        .map(|a| a["planned_at"].as_str().unwrap().parse().unwrap())
}

both!(
    a_promise_to_pay_moves_the_next_retry_and_holds_reminders,
    |b| async move {
        let Some(s) = branded(b, "billing_portal").await else {
            return;
        };
        add_invoice(&s, "in_promise");
        s.stripe.script_pay(
            "in_promise",
            vec![Outcome::decline("card_declined", Some("insufficient_funds")); 4],
        );
        let now = s.now().await;
        s.send(payment_failed("evt_promise", "in_promise", now))
            .await;
        let c = s.case("in_promise").await;
        let before = planned_retry(&c).expect("a retry is planned");
        let path = link(
            &s,
            c["id"].as_str().unwrap(),
            now + chrono::Duration::days(30),
        );

        let (_, body) = page(&s, &path).await;
        assert!(body.contains("id=\"promise-date\""), "{body}");
        // The customer's local dates (America/New_York): from tomorrow.
        let today = now
            .with_timezone(&chrono_tz::America::New_York)
            .date_naive();
        let tomorrow = today + chrono::Duration::days(1);
        assert!(body.contains(&format!("min=\"{tomorrow}\"")), "{body}");

        // Out of range: refused, said on the page, nothing changes.
        let r = no_redirects()
            .post(format!("{}{path}/promise", s.app.base))
            .form(&[("date", (today + chrono::Duration::days(90)).to_string())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("Choisissez une date entre")
        );
        assert_eq!(planned_retry(&s.case("in_promise").await), Some(before));

        let date: NaiveDate = today + chrono::Duration::days(4);
        let r = no_redirects()
            .post(format!("{}{path}/promise", s.app.base))
            .form(&[("date", date.to_string())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
        let c = s.case("in_promise").await;
        assert_eq!(c["sub_state"], "promised", "{c}");
        let (_, body) = page(&s, &path).await;
        assert!(body.contains("Nous réessaierons votre carte le"), "{body}");
        // The next retry is on the promised day (10:00 in New York), seen through the cases API.
        let retry = planned_retry(&c).expect("a retry is planned");
        let local = retry.with_timezone(&chrono_tz::America::New_York);
        assert_eq!(local.date_naive(), date, "{c}");
        assert_eq!(local.format("%H:%M").to_string(), "10:00", "{c}");
        // No email is due before then.
        for step in c["planned_steps"].as_array().unwrap() {
            if step["state"] == "pending" && step["kind"] == "email" {
                let at: DateTime<Utc> = step["at"].as_str().unwrap().parse().unwrap();
                assert!(at >= retry, "{step}");
            }
        }
        // On the day the card is tried once; it declines, and the campaign resumes.
        s.advance_days(6).await;
        let c = s.case("in_promise").await;
        let tried: Vec<&Value> = c["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["trigger"]["type"] == "promise")
            .collect();
        assert_eq!(tried.len(), 1, "{c}");
        assert_eq!(tried[0]["state"], "declined", "{c}");
        let executed: DateTime<Utc> = tried[0]["executed_at"].as_str().unwrap().parse().unwrap();
        assert_eq!(executed, retry, "{c}");
        assert_eq!(c["status"], "open");
        assert_ne!(c["sub_state"], "promised", "{c}");
        assert!(
            planned_retry(&c).is_some_and(|t| t > retry),
            "the campaign resumes: {c}"
        );
        s.app.stop().await;
    }
);

both!(
    in_app_status_tells_the_tenant_what_to_show,
    |b| async move {
        let Some(s) = branded(b, "billing_portal").await else {
            return;
        };
        let path = format!("/v1/customers/{CUSTOMER}/recovery");
        let (status, v) = s.app.get(&path, &s.key).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["in_recovery"], false);
        assert_eq!(v["update_url"], Value::Null);
        let (status, _) = s.app.get(&path, "not-a-key").await;
        assert_eq!(status, 401);

        add_invoice(&s, "in_status");
        let now = s.now().await;
        s.send(payment_failed("evt_status", "in_status", now)).await;
        let (_, v) = s.app.get(&path, &s.key).await;
        assert_eq!(v["in_recovery"], true, "{v}");
        assert_eq!(v["amount_due"], 4900);
        assert_eq!(v["currency"], "usd");
        assert_eq!(v["cases"][0]["invoice_id"], "in_status");
        let deadline: DateTime<Utc> = v["grace_deadline"].as_str().unwrap().parse().unwrap();
        assert!(deadline > now + chrono::Duration::days(7), "{v}");
        // The link is fresh, signed and opens the customer's page.
        let url = v["update_url"].as_str().unwrap();
        let public = &s.app.state.settings.public_url;
        let link_path = url
            .strip_prefix(public.as_str())
            .expect("a link to this service");
        let (status, body) = page(&s, link_path).await;
        assert_eq!(status, 200);
        assert!(body.contains("49,00"), "{body}");

        s.send(invoice_event(
            "invoice.paid",
            "evt_status_paid",
            "in_status",
            now,
            2,
        ))
        .await;
        let (_, v) = s.app.get(&path, &s.key).await;
        assert_eq!(v["in_recovery"], false, "{v}");
        s.app.stop().await;
    }
);

both!(
    the_checkout_webhook_finishes_a_card_update_the_customer_never_came_back_from,
    |b| async move {
        let Some(s) = branded(b, "checkout").await else {
            return;
        };
        let case_id = hard_declined(&s, "in_hook").await;
        let now = s.now().await;
        let path = link(&s, &case_id, now + chrono::Duration::days(30));
        let session = open_hosted(&s, &path).await;
        s.stripe
            .complete_session(&session, "4242424242424242")
            .unwrap();
        // The customer closed the tab; Stripe's event arrives instead.
        let mut event: Value =
            serde_json::from_slice(&fixture("checkout.session.completed.json")).unwrap();
        event["id"] = json!("evt_hook_checkout");
        event["created"] = json!(now.timestamp());
        event["data"]["object"] = s.stripe.checkout_session_json(&session).unwrap();
        assert_eq!(event["data"]["object"]["metadata"]["dunning_case"], case_id);
        s.send(event.clone()).await;
        assert!(s.stripe.default_card(CUSTOMER).is_some());
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let c = s.case("in_hook").await;
            if c["status"] == "recovered" {
                assert_eq!(c["recovered_by"], "card_update", "{c}");
                break;
            }
            assert!(std::time::Instant::now() < deadline, "not recovered: {c}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Coming back late, or the event again, charges nothing more.
        let r = no_redirects()
            .get(format!("{}{path}/done?session_id={session}", s.app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        event["id"] = json!("evt_hook_checkout_again");
        s.send(event).await;
        assert_eq!(s.stripe.charges("in_hook"), 1);
        s.app.stop().await;
    }
);
