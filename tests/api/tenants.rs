//! The admin API for tenants, and the tenant API key guarding `/v1/events`.

use serde_json::{Value, json};

use crate::both;
use crate::helpers::*;

both!(
    create_returns_the_api_key_once_and_never_shows_secrets,
    |b| async move {
        let Some(app) = TestApp::spawn(b).await else {
            return;
        };
        let r = app
        .client
        .post(format!("{}/v1/tenants", app.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"id": "acme", "name": "Acme", "locale": "fr", "time_zone": "Europe/Paris", "mode": "observe",
            "stripe": {"secret_key": "sk_test_51Hsecretkeyvalue9876", "webhook_secrets": [WHSEC], "api_base": "http://127.0.0.1:9"},
            "branding": {"name": "Acme", "primary_color": "#1a73e8"}, "support": {"email": "help@acme.test"}}))
        .send()
        .await
        .unwrap();
        assert_eq!(r.status(), 201);
        let created: Value = r.json().await.unwrap();
        assert!(created["api_key"].as_str().unwrap().starts_with("dk_"));
        assert_eq!(created["stripe"]["secret_key_hint"], "sk_test_…9876");
        assert_eq!(created["stripe"]["api_base"], "http://127.0.0.1:9/");
        let (status, shown) = app.get("/v1/tenants/acme", ADMIN_TOKEN).await;
        assert_eq!(status, 200);
        let text = shown.to_string();
        assert!(shown.get("api_key").is_none());
        assert!(
            !text.contains("secretkeyvalue") && !text.contains(WHSEC),
            "{text}"
        );
        assert_eq!(shown["locale"], "fr");
        assert_eq!(shown["mode"], "observe");
        let (_, list) = app.get("/v1/tenants", ADMIN_TOKEN).await;
        assert_eq!(list["data"].as_array().unwrap().len(), 1);
        // The API key works for the tenant's resources; a wrong one does not.
        let key = created["api_key"].as_str().unwrap();
        assert_eq!(app.get("/v1/events", key).await.0, 200);
        assert_eq!(app.get("/v1/events", "dk_wrong").await.0, 401);
        // Rotating the API key retires the old one.
        let r = app
            .client
            .post(format!("{}/v1/tenants/acme/api-key", app.base))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        let new_key = r.json::<Value>().await.unwrap()["api_key"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(app.get("/v1/events", key).await.0, 401);
        assert_eq!(app.get("/v1/events", &new_key).await.0, 200);
        app.stop().await;
    }
);

both!(admin_routes_need_the_admin_token, |b| async move {
    let Some(app) = TestApp::spawn(b).await else {
        return;
    };
    let key = app.create_tenant("acme", &[WHSEC]).await;
    for token in ["", "wrong-token-0000000000", key.as_str()] {
        let (status, body) = app.get("/v1/tenants", token).await;
        assert_eq!(status, 401, "{token}");
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    app.stop().await;
});

both!(
    invalid_tenants_are_refused_with_every_reason_and_nothing_stored,
    |b| async move {
        let Some(app) = TestApp::spawn(b).await else {
            return;
        };
        let post = |body: Value| {
            app.client
                .post(format!("{}/v1/tenants", app.base))
                .bearer_auth(ADMIN_TOKEN)
                .json(&body)
                .send()
        };
        let r = post(json!({"id": "Bad Id!", "time_zone": "Mars/Base", "stripe": {"secret_key": "pk_live_nope", "webhook_secrets": []}})).await.unwrap();
        assert_eq!(r.status(), 400);
        let v: Value = r.json().await.unwrap();
        let msg = v["error"]["message"].as_str().unwrap();
        for field in [
            "id:",
            "name:",
            "time_zone:",
            "stripe.secret_key:",
            "stripe.webhook_secrets:",
        ] {
            assert!(msg.contains(field), "{field} missing in {msg}");
        }
        assert!(!msg.contains("pk_live_nope"));
        let r = post(
            json!({"id": "acme", "name": "A", "stripe": {"webhook_secrets": "whsec_notalist"}}),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 400);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "invalid_json");
        assert!(!v.to_string().contains("whsec_notalist"), "{v}");
        let r = app
            .client
            .post(format!("{}/v1/tenants", app.base))
            .bearer_auth(ADMIN_TOKEN)
            .body("{")
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        assert!(app.store.tenants().await.unwrap().is_empty());
        app.create_tenant("acme", &[WHSEC]).await;
        let r =
            post(json!({"id": "acme", "name": "Again", "stripe": {"webhook_secrets": [WHSEC]}}))
                .await
                .unwrap();
        assert_eq!(r.status(), 409);
        app.stop().await;
    }
);

both!(events_list_filters_and_paginates, |b| async move {
    let Some(app) = TestApp::spawn(b).await else {
        return;
    };
    let key = app.create_tenant("acme", &[WHSEC]).await;
    let other = app.create_tenant("other", &[WHSEC]).await;
    for i in 0..5 {
        let t = if i % 2 == 0 {
            "invoice.paid"
        } else {
            "invoice.payment_failed"
        };
        app.deliver("acme", &event_body(&format!("evt_1Qlist{i}"), t), WHSEC)
            .await;
    }
    app.deliver("other", &event_body("evt_1Qotherco", "invoice.paid"), WHSEC)
        .await;
    app.wait_status(
        &key,
        "evt_1Qlist4",
        "processed",
        std::time::Duration::from_secs(20),
    )
    .await;
    let (_, all) = app.get("/v1/events?limit=2", &key).await;
    assert_eq!(all["data"].as_array().unwrap().len(), 2);
    assert_eq!(
        all["data"][0]["provider_event_id"], "evt_1Qlist4",
        "newest first"
    );
    let cursor = all["next_cursor"].as_str().unwrap().to_string();
    let (_, page2) = app
        .get(&format!("/v1/events?limit=2&cursor={cursor}"), &key)
        .await;
    assert_eq!(page2["data"][0]["provider_event_id"], "evt_1Qlist2");
    let (_, page3) = app
        .get(
            &format!(
                "/v1/events?limit=2&cursor={}",
                page2["next_cursor"].as_str().unwrap()
            ),
            &key,
        )
        .await;
    assert_eq!(page3["data"].as_array().unwrap().len(), 1);
    assert!(page3["next_cursor"].is_null());
    let (_, paid) = app.get("/v1/events?type=invoice.paid", &key).await;
    assert_eq!(paid["data"].as_array().unwrap().len(), 3);
    let (_, others) = app.get("/v1/events", &other).await;
    assert_eq!(
        others["data"].as_array().unwrap().len(),
        1,
        "tenants see only their own events"
    );
    let (status, bad) = app.get("/v1/events?status=weird", &key).await;
    assert_eq!(status, 400);
    assert!(bad["error"]["message"].as_str().unwrap().contains("status"));
    let id = all["data"][0]["id"].as_str().unwrap();
    let (status, one) = app.get(&format!("/v1/events/{id}"), &key).await;
    assert_eq!(status, 200);
    assert_eq!(one["payload"]["id"], "evt_1Qlist4");
    assert_eq!(app.get(&format!("/v1/events/{id}"), &other).await.0, 404);
    app.stop().await;
});
