//! The recovery engine end to end: signed webhooks in, a fake Stripe that keeps invoices and decides
//! each charge, the test clock driving a whole campaign in seconds; on SQLite and PostgreSQL.

use std::time::Duration;

use chrono::{DateTime, Utc};
use dunning::testing::fake_stripe::{FakeStripe, InvoiceStatus, Outcome};
use serde_json::{Value, json};

use crate::both;
use crate::helpers::*;

const CUSTOMER: &str = "cus_S2pQ7LmVt9KdE4";

pub(crate) struct Setup {
    pub(crate) app: TestApp,
    pub(crate) stripe: FakeStripe,
    pub(crate) key: String,
}

async fn setup(b: Backend) -> Option<Setup> {
    setup_with(b, &[]).await
}

pub(crate) async fn setup_with(b: Backend, overrides: &[(&str, &str)]) -> Option<Setup> {
    let app = TestApp::spawn_engine(b, overrides).await?;
    let (stripe, base) = FakeStripe::start().await;
    let r = app
        .client
        .post(format!("{}/v1/tenants", app.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"id": "acme", "name": "Acme", "time_zone": "America/New_York", "mode": "manage",
            "stripe": {"secret_key": "sk_test_fake_0001", "webhook_secrets": [WHSEC], "api_base": base}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let key = r.json::<Value>().await.unwrap()["api_key"]
        .as_str()
        .unwrap()
        .to_string();
    Some(Setup { app, stripe, key })
}

impl Setup {
    pub(crate) async fn now(&self) -> DateTime<Utc> {
        let (_, v) = self.app.get("/v1/admin/clock", ADMIN_TOKEN).await;
        v["now"].as_str().unwrap().parse().unwrap()
    }

    /// Changes the tenant through the admin API.
    pub(crate) async fn patch_tenant(&self, body: Value) {
        let r = self
            .app
            .client
            .patch(format!("{}/v1/tenants/acme", self.app.base))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }

    /// The French locale, branding and contact details the message tests share, with `extra`'s
    /// fields on top.
    pub(crate) async fn brand(&self, extra: Value) {
        let mut body = json!({"locale": "fr",
            "branding": {"name": "Acme Analytics", "primary_color": "#0f766e"},
            "support": {"email": "help@acme.test", "address": "1 Main St, Springfield"}});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        self.patch_tenant(body).await;
    }

    pub(crate) async fn advance_minutes(&self, minutes: i64) {
        let r = self
            .app
            .client
            .post(format!("{}/v1/admin/clock", self.app.base))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"advance_seconds": minutes * 60}))
            .timeout(Duration::from_secs(120))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }

    pub(crate) async fn advance_days(&self, days: i64) {
        let r = self
            .app
            .client
            .post(format!("{}/v1/admin/clock", self.app.base))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"advance_seconds": days * 86_400}))
            .timeout(Duration::from_secs(120))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }

    pub(crate) async fn send(&self, body: Value) {
        let bytes = serde_json::to_vec(&body).unwrap();
        let r = self.app.deliver("acme", &bytes, WHSEC).await;
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        let id = body["id"].as_str().unwrap();
        let e = self
            .app
            .wait_status(&self.key, id, "processed", Duration::from_secs(20))
            .await;
        assert_eq!(e["status"], "processed");
    }

    pub(crate) async fn case(&self, invoice: &str) -> Value {
        let (_, list) = self
            .app
            .get(&format!("/v1/cases?invoice_id={invoice}"), &self.key)
            .await;
        let id = list["data"][0]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no case for {invoice}: {list}"))
            .to_string();
        self.app.get(&format!("/v1/cases/{id}"), &self.key).await.1
    }

    fn pays(&self, invoice: &str) -> usize {
        let path = format!("/v1/invoices/{invoice}/pay");
        self.stripe
            .requests()
            .iter()
            .filter(|r| r.path == path)
            .count()
    }
}

/// An `invoice.payment_failed` for `invoice`, created at `at`, from the repository's fixture.
pub(crate) fn payment_failed(event_id: &str, invoice: &str, at: DateTime<Utc>) -> Value {
    let mut v: Value = serde_json::from_slice(&fixture("invoice.payment_failed.json")).unwrap();
    v["id"] = json!(event_id);
    v["created"] = json!(at.timestamp());
    v["data"]["object"]["id"] = json!(invoice);
    v["data"]["object"]["next_payment_attempt"] = Value::Null;
    v["data"]["object"]["parent"]["subscription_details"]["subscription"] =
        json!(format!("sub_{invoice}"));
    v
}

pub(crate) fn invoice_event(
    kind: &str,
    event_id: &str,
    invoice: &str,
    at: DateTime<Utc>,
    attempt_count: u32,
) -> Value {
    let mut v = payment_failed(event_id, invoice, at);
    v["type"] = json!(kind);
    v["data"]["object"]["status"] = json!(if kind == "invoice.paid" {
        "paid"
    } else {
        "open"
    });
    v["data"]["object"]["attempt_count"] = json!(attempt_count);
    v
}

/// A `charge.failed` for `invoice` with the issuer's decline code.
pub(crate) fn charge_failed(
    event_id: &str,
    invoice: &str,
    code: &str,
    decline_code: &str,
    at: DateTime<Utc>,
) -> Value {
    let mut v: Value = serde_json::from_slice(&fixture("charge.failed.json")).unwrap();
    v["id"] = json!(event_id);
    v["created"] = json!(at.timestamp());
    v["data"]["object"]["invoice"] = json!(invoice);
    v["data"]["object"]["failure_code"] = json!(code);
    v["data"]["object"]["outcome"]["reason"] = json!(decline_code);
    v
}

pub(crate) fn add_invoice(s: &Setup, invoice: &str) {
    s.stripe.add_invoice(
        invoice,
        CUSTOMER,
        Some(&format!("sub_{invoice}")),
        4900,
        "usd",
    );
}

both!(
    soft_decline_then_success_on_the_second_retry_is_recovered_by_retry,
    |b| async move {
        let Some(s) = setup(b).await else { return };
        add_invoice(&s, "in_soft");
        s.stripe.script_pay(
            "in_soft",
            vec![
                Outcome::decline("card_declined", Some("do_not_honor")),
                Outcome::Succeed,
            ],
        );
        let now = s.now().await;
        s.send(payment_failed("evt_soft_1", "in_soft", now)).await;
        let c = s.case("in_soft").await;
        assert_eq!(c["status"], "open", "{c}");
        s.advance_days(30).await;
        let c = s.case("in_soft").await;
        assert_eq!(c["status"], "recovered", "{c}");
        assert_eq!(c["recovered_by"], "our_retry", "{c}");
        assert_eq!(
            s.pays("in_soft"),
            2,
            "two retries: a decline, then the success"
        );
        assert_eq!(s.stripe.charges("in_soft"), 1);
        let keys = s.stripe.keys_seen("in_soft");
        assert_eq!(keys.len(), 2);
        assert_ne!(keys[0], keys[1], "each attempt has its own Idempotency-Key");
        let pending: Vec<&Value> = c["planned_steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["state"] == "pending")
            .collect();
        assert!(
            pending.is_empty(),
            "nothing left planned after recovery: {pending:?}"
        );
        s.app.stop().await;
    }
);

both!(
    hard_decline_never_retries_and_the_campaign_ends_once,
    |b| async move {
        let Some(s) = setup(b).await else { return };
        add_invoice(&s, "in_hard");
        let now = s.now().await;
        s.send(payment_failed("evt_hard_1", "in_hard", now)).await;
        s.send(charge_failed(
            "evt_hard_2",
            "in_hard",
            "expired_card",
            "expired_card",
            now,
        ))
        .await;
        s.advance_days(30).await;
        assert_eq!(s.pays("in_hard"), 0, "a hard decline is never retried");
        let c = s.case("in_hard").await;
        assert_eq!(c["status"], "churned", "{c}");
        let cancels: Vec<_> = s
            .stripe
            .requests()
            .into_iter()
            .filter(|r| r.path == "/v1/subscriptions/sub_in_hard")
            .collect();
        assert_eq!(cancels.len(), 1, "exactly one end-action call: {cancels:?}");
        assert!(cancels[0].idempotency_key.is_some());
        s.app.stop().await;
    }
);

both!(
    exhausted_campaign_runs_the_end_action_once_and_churns,
    |b| async move {
        let Some(s) = setup(b).await else { return };
        add_invoice(&s, "in_exh");
        s.stripe.script_pay(
            "in_exh",
            (0..10)
                .map(|_| Outcome::decline("card_declined", Some("generic_decline")))
                .collect(),
        );
        let now = s.now().await;
        s.send(payment_failed("evt_exh_1", "in_exh", now)).await;
        s.advance_days(30).await;
        let c = s.case("in_exh").await;
        assert_eq!(c["status"], "churned", "{c}");
        assert!(s.pays("in_exh") >= 3, "the campaign's retries ran");
        let ends: Vec<_> = s
            .stripe
            .requests()
            .into_iter()
            .filter(|r| r.path == "/v1/subscriptions/sub_in_exh")
            .collect();
        assert_eq!(ends.len(), 1, "{ends:?}");
        assert_eq!(
            s.stripe.subscription_state("sub_in_exh").unwrap().0,
            "canceled"
        );
        s.advance_days(30).await;
        let again: Vec<_> = s
            .stripe
            .requests()
            .into_iter()
            .filter(|r| r.path == "/v1/subscriptions/sub_in_exh")
            .collect();
        assert_eq!(again.len(), 1, "never twice");
        s.app.stop().await;
    }
);

both!(
    invoice_paid_from_outside_recovers_and_cancels_pending_steps,
    |b| async move {
        let Some(s) = setup(b).await else { return };
        add_invoice(&s, "in_out");
        let now = s.now().await;
        s.send(payment_failed("evt_out_1", "in_out", now)).await;
        s.stripe.set_invoice_status("in_out", InvoiceStatus::Paid);
        s.send(invoice_event("invoice.paid", "evt_out_2", "in_out", now, 2))
            .await;
        let c = s.case("in_out").await;
        assert_eq!(c["status"], "recovered", "{c}");
        // The campaign's steps are cancelled; the receipt planned by the payment is due at once
        // and may still be waiting for its run when the case is read.
        assert!(
            c["planned_steps"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["kind"] != "notice")
                .all(|p| p["state"] != "pending"),
            "{c}"
        );
        s.advance_days(30).await;
        assert_eq!(s.pays("in_out"), 0);
        s.app.stop().await;
    }
);

both!(
    observe_mode_never_charges_but_tracks_and_closes_the_case,
    |b| async move {
        let Some(s) = setup(b).await else { return };
        let r = s
            .app
            .client
            .patch(format!("{}/v1/tenants/acme", s.app.base))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"mode": "observe"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        add_invoice(&s, "in_obs");
        let now = s.now().await;
        s.send(payment_failed("evt_obs_1", "in_obs", now)).await;
        s.advance_days(10).await;
        assert_eq!(
            s.pays("in_obs"),
            0,
            "Stripe owns the retries in observe mode"
        );
        let c = s.case("in_obs").await;
        assert_eq!(c["status"], "open", "{c}");
        let steps = c["planned_steps"].as_array().unwrap();
        assert!(steps.iter().all(|p| p["kind"] != "retry"), "{c}");
        assert!(
            steps.iter().any(|p| p["kind"] == "email"),
            "still communicates: {c}"
        );
        // Stripe's own retry succeeds.
        s.stripe.set_invoice_status("in_obs", InvoiceStatus::Paid);
        s.send(invoice_event("invoice.paid", "evt_obs_2", "in_obs", now, 3))
            .await;
        let c = s.case("in_obs").await;
        assert_eq!(c["status"], "recovered", "{c}");
        // Its attempt counter (3) is past the failure's (1): Stripe's automatic retry collected it.
        assert_eq!(c["recovered_by"], "processor_retry", "{c}");
        s.advance_days(30).await;
        assert_eq!(s.pays("in_obs"), 0);
        s.app.stop().await;
    }
);

both!(
    an_invoice_paid_elsewhere_just_before_a_retry_is_not_charged,
    |b| async move {
        let Some(s) = setup(b).await else { return };
        add_invoice(&s, "in_else");
        let now = s.now().await;
        s.send(payment_failed("evt_else_1", "in_else", now)).await;
        // Paid on Stripe's side, but the webhook never came: the retry re-reads the invoice first.
        s.stripe.set_invoice_status("in_else", InvoiceStatus::Paid);
        s.advance_days(30).await;
        assert_eq!(s.pays("in_else"), 0, "no charge on a paid invoice");
        let c = s.case("in_else").await;
        assert_eq!(c["status"], "recovered", "{c}");
        s.app.stop().await;
    }
);

both!(
    duplicates_and_out_of_order_deliveries_end_in_the_same_state,
    |b| async move {
        let Some(s) = setup(b).await else { return };
        add_invoice(&s, "in_ooo");
        let now = s.now().await;
        // invoice.paid before the failure it answers, and the failure delivered three times.
        s.stripe.set_invoice_status("in_ooo", InvoiceStatus::Paid);
        s.send(invoice_event(
            "invoice.paid",
            "evt_ooo_paid",
            "in_ooo",
            now + chrono::Duration::hours(2),
            2,
        ))
        .await;
        for _ in 0..3 {
            let body = serde_json::to_vec(&payment_failed("evt_ooo_fail", "in_ooo", now)).unwrap();
            assert!(
                s.app
                    .deliver("acme", &body, WHSEC)
                    .await
                    .status()
                    .is_success()
            );
        }
        s.app
            .wait_status(&s.key, "evt_ooo_fail", "processed", Duration::from_secs(20))
            .await;
        let c = s.case("in_ooo").await;
        assert_eq!(c["status"], "recovered", "{c}");
        s.advance_days(30).await;
        assert_eq!(s.pays("in_ooo"), 0);
        assert_eq!(s.case("in_ooo").await["status"], "recovered");
        s.app.stop().await;
    }
);

both!(
    a_lasting_5xx_is_settled_by_re_reading_the_invoice_before_a_new_key,
    |b| async move {
        // No immediate re-sends, so each run of the work row is one request.
        let Some(s) = setup_with(b, &[("processor_retries", "0")]).await else {
            return;
        };
        add_invoice(&s, "in_5xx");
        // Saved under the first key: every re-send with it gets the same 500. A new key charges.
        s.stripe.script_pay(
            "in_5xx",
            vec![
                Outcome::ServerError { should_retry: None },
                Outcome::Succeed,
            ],
        );
        let now = s.now().await;
        s.send(payment_failed("evt_5xx_1", "in_5xx", now)).await;
        s.advance_days(30).await;
        let c = s.case("in_5xx").await;
        assert_eq!(c["status"], "recovered", "{c}");
        assert_eq!(s.stripe.charges("in_5xx"), 1);
        let keys = s.stripe.keys_seen("in_5xx");
        assert_eq!(
            keys.len(),
            2,
            "one key retired after the doubt, one that paid: {keys:?}"
        );
        let requests = s.stripe.requests();
        let pay = "/v1/invoices/in_5xx/pay";
        let first_key_tries: Vec<_> = requests
            .iter()
            .filter(|r| r.path == pay && r.idempotency_key.as_ref() == Some(&keys[0]))
            .collect();
        assert!(
            first_key_tries.len() > 1 && first_key_tries.iter().all(|r| r.status == 500),
            "the uncertain charge is re-sent with its own key first: {first_key_tries:?}"
        );
        // Between the last try with the old key and the first with the new one, the invoice is read.
        let last_old = requests
            .iter()
            .rposition(|r| r.idempotency_key.as_ref() == Some(&keys[0]))
            .unwrap();
        let first_new = requests
            .iter()
            .position(|r| r.idempotency_key.as_ref() == Some(&keys[1]))
            .unwrap();
        assert!(
            requests[last_old..first_new]
                .iter()
                .any(|r| r.method == "GET" && r.path == "/v1/invoices/in_5xx"),
            "the invoice is re-read before a new key is used: {:?}",
            &requests[last_old..=first_new]
        );
        let timeline = c["timeline"].to_string();
        assert!(timeline.contains("uncertain"), "{timeline}");
        s.app.stop().await;
    }
);

both!(
    stripe_500_twice_then_200_is_one_attempt_one_charge_one_key,
    |b| async move {
        let Some(s) = setup(b).await else { return };
        add_invoice(&s, "in_500");
        s.stripe.script_pay(
            "in_500",
            vec![
                Outcome::ServerErrorUnsaved,
                Outcome::ServerErrorUnsaved,
                Outcome::Succeed,
            ],
        );
        let now = s.now().await;
        s.send(payment_failed("evt_500_1", "in_500", now)).await;
        s.advance_days(30).await;
        let c = s.case("in_500").await;
        assert_eq!(c["status"], "recovered", "{c}");
        assert_eq!(s.stripe.charges("in_500"), 1);
        let pays: Vec<_> = s
            .stripe
            .requests()
            .into_iter()
            .filter(|r| r.path == "/v1/invoices/in_500/pay")
            .collect();
        assert_eq!(pays.len(), 3, "two 500s, then the 200: {pays:?}");
        let key = pays[0]
            .idempotency_key
            .clone()
            .expect("an Idempotency-Key on every charge");
        assert!(
            pays.iter()
                .all(|r| r.idempotency_key.as_ref() == Some(&key)),
            "the same key on every try: {pays:?}"
        );
        assert_eq!(s.stripe.keys_seen("in_500"), vec![key]);
        let executed: Vec<_> = c["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| !a["executed_at"].is_null())
            .collect();
        assert_eq!(executed.len(), 1, "one dunning attempt: {c}");
        s.app.stop().await;
    }
);

both!(
    insufficient_funds_retries_land_on_paydays_in_the_customers_time_zone,
    |b| async move {
        let Some(s) = setup(b).await else { return };
        add_invoice(&s, "in_nsf");
        s.stripe.script_pay(
            "in_nsf",
            (0..10)
                .map(|_| Outcome::decline("card_declined", Some("insufficient_funds")))
                .collect(),
        );
        let now = s.now().await;
        // Stripe's usual order: the charge fails first, then the invoice reports it.
        s.send(charge_failed(
            "evt_nsf_2",
            "in_nsf",
            "card_declined",
            "insufficient_funds",
            now,
        ))
        .await;
        s.send(payment_failed("evt_nsf_1", "in_nsf", now)).await;
        s.advance_days(30).await;
        let c = s.case("in_nsf").await;
        let tz: chrono_tz::Tz = "America/New_York".parse().unwrap();
        let executed: Vec<DateTime<Utc>> = c["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|a| a["executed_at"].as_str())
            .map(|t| t.parse().unwrap())
            .collect();
        assert!(executed.len() >= 2, "{c}");
        let mut on_payday = 0;
        for at in &executed {
            use chrono::{Datelike, Timelike};
            let local = at.with_timezone(&tz);
            let d = local.date_naive();
            let last_day = d.with_day(1).unwrap() + chrono::Months::new(1) - chrono::Days::new(1);
            // The 1st, the 15th or the last business day (or the business day after a weekend one).
            if [1, 2, 3, 15, 16, 17].contains(&d.day()) || (last_day - d).num_days() <= 3 {
                on_payday += 1;
            }
            assert!(
                (9..17).contains(&local.hour()),
                "attempt at {local} is outside local business hours"
            );
        }
        assert!(
            on_payday >= 2,
            "retries after insufficient funds land on paydays: {executed:?}"
        );
        let moved = c["timeline"].to_string().matches("likely payday").count();
        assert!(
            moved >= 1,
            "the timeline says a retry was moved to a payday: {c}"
        );
        s.app.stop().await;
    }
);

both!(
    operators_pause_resume_and_mark_recovered_with_their_name_on_the_timeline,
    |b| async move {
        let Some(s) = setup(b).await else { return };
        add_invoice(&s, "in_op");
        let now = s.now().await;
        s.send(payment_failed("evt_op_1", "in_op", now)).await;
        let id = s.case("in_op").await["id"].as_str().unwrap().to_string();
        let act = |action: &str| {
            s.app
                .client
                .post(format!("{}/v1/cases/{id}/{action}", s.app.base))
                .bearer_auth(&s.key)
                .json(&json!({"who": "alice@acme.example"}))
                .send()
        };
        let paused: Value = act("pause").await.unwrap().json().await.unwrap();
        assert_eq!(paused["sub_state"], "paused", "{paused}");
        s.advance_days(5).await;
        assert_eq!(s.pays("in_op"), 0, "no retry while paused");
        let resumed: Value = act("resume").await.unwrap().json().await.unwrap();
        assert_eq!(resumed["status"], "open");
        let done: Value = act("mark-recovered").await.unwrap().json().await.unwrap();
        assert_eq!(done["status"], "recovered", "{done}");
        assert_eq!(done["recovered_by"], "operator");
        let text = done["timeline"].to_string();
        assert!(
            text.contains("alice@acme.example"),
            "who did it is on the timeline: {text}"
        );
        let r = act("explode").await.unwrap();
        assert_eq!(r.status(), 404);
        s.app.stop().await;
    }
);

both!(
    campaigns_are_validated_versioned_and_kept_by_open_cases,
    |b| async move {
        let Some(s) = setup(b).await else { return };
        // A case opened before the tenant stores any campaign runs the built-in default.
        add_invoice(&s, "in_builtin");
        let now = s.now().await;
        s.send(payment_failed("evt_builtin_1", "in_builtin", now))
            .await;
        let builtin = json!({"id": "default", "version": 1});
        assert_eq!(s.case("in_builtin").await["campaign"], builtin);
        let put_to = |id: &'static str, body: Value| {
            s.app
                .client
                .put(format!("{}/v1/campaigns/{id}", s.app.base))
                .bearer_auth(&s.key)
                .json(&body)
                .send()
        };
        let put = |body: Value| {
            s.app
                .client
                .put(format!("{}/v1/campaigns/gentle", s.app.base))
                .bearer_auth(&s.key)
                .json(&body)
                .send()
        };
        let bad = put(json!({"name": "Gentle", "steps": [{"offset": {"days": 5}, "type": "retry"}, {"offset": {"days": 2}, "type": "retry"}],
        "max_retries": 2, "max_duration_days": 400, "end_action": "cancel_now"})).await.unwrap();
        assert_eq!(bad.status(), 400);
        let msg = bad.json::<Value>().await.unwrap()["error"]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            msg.contains("steps[1].offset") && msg.contains("max_duration_days"),
            "{msg}"
        );
        let good = json!({"name": "Gentle", "priority": 10,
        "steps": [{"offset": {"days": 2}, "type": "retry"}, {"offset": {"days": 6}, "type": "retry"}],
        "max_retries": 2, "max_duration_days": 10, "end_action": "leave_past_due"});
        let v1: Value = put(good.clone()).await.unwrap().json().await.unwrap();
        assert_eq!(v1["version"], 1, "{v1}");
        add_invoice(&s, "in_camp");
        let now = s.now().await;
        s.send(payment_failed("evt_camp_1", "in_camp", now)).await;
        assert_eq!(
            s.case("in_camp").await["campaign"],
            json!({"id": "gentle", "version": 1})
        );
        let mut edited = good.clone();
        edited["name"] = json!("Gentler");
        edited["priority"] = json!(5);
        let v2: Value = put(edited).await.unwrap().json().await.unwrap();
        assert_eq!(v2["version"], 2);
        let (_, list) = s.app.get("/v1/campaigns", &s.key).await;
        assert_eq!(list["data"][0]["version"], 2);
        assert_eq!(
            s.case("in_camp").await["campaign"]["version"],
            1,
            "open cases keep their version"
        );
        // Storing a "default" must not take the built-in's version from under its cases.
        let own_default: Value = put_to("default", good.clone())
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(own_default["version"], 2, "{own_default}");
        assert_eq!(s.case("in_builtin").await["campaign"], builtin);
        s.app.stop().await;
    }
);

both!(
    a_deleted_subscription_churns_its_case_however_many_newer_cases_the_tenant_has,
    |b| async move {
        let Some(s) = setup(b).await else { return };
        let now = s.now().await;
        // The subscription's case is the oldest of more than a page (100) of open cases.
        let invoices: Vec<String> = (0..105).map(|i| format!("in_many_{i:03}")).collect();
        for (i, inv) in invoices.iter().enumerate() {
            add_invoice(&s, inv);
            s.send(payment_failed(&format!("evt_many_{i:03}"), inv, now))
                .await;
        }
        let first = dunning::simulate::events::Invoice {
            id: &invoices[0],
            customer: CUSTOMER,
            subscription: "sub_in_many_000",
            amount_due: 4900,
            currency: "usd",
        };
        s.send(dunning::simulate::events::subscription_deleted(
            "evt_many_deleted",
            &first,
            now,
        ))
        .await;
        let case = s.case(&invoices[0]).await;
        assert_eq!(case["status"], "churned", "{case}");
        // Only that subscription's case closed.
        assert_eq!(s.case(&invoices[104]).await["status"], "open");
        let (_, by_sub) = s
            .app
            .get("/v1/cases?subscription_id=sub_in_many_000", &s.key)
            .await;
        assert_eq!(by_sub["data"].as_array().unwrap().len(), 1, "{by_sub}");
        assert_eq!(by_sub["data"][0]["invoice_id"], "in_many_000");
    }
);
