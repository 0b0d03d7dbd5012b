//! `GET /v1/emails/preview` and the tenant's own templates (`/v1/emails/templates/{kind}`): validated
//! on PUT, used by the preview and by the email steps, removed by DELETE; on SQLite and PostgreSQL.

use serde_json::{Value, json};

use crate::both;
use crate::email_http::with_api;
use crate::engine::{Setup, add_invoice, payment_failed};
use dunning::testing::fake_stripe::Outcome;

async fn call(s: &Setup, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = s
        .app
        .client
        .request(method, format!("{}{path}", s.app.base))
        .bearer_auth(&s.key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn get(s: &Setup, path: &str) -> (u16, Value) {
    call(s, reqwest::Method::GET, path, None).await
}

async fn put(s: &Setup, path: &str, body: Value) -> (u16, Value) {
    call(s, reqwest::Method::PUT, path, Some(body)).await
}

fn error_of(v: &Value) -> (&str, &str) {
    (
        v["error"]["code"].as_str().unwrap_or(""),
        v["error"]["message"].as_str().unwrap_or(""),
    )
}

both!(
    the_preview_renders_any_message_in_any_locale,
    |b| async move {
        let Some((s, _api)) = with_api(b).await else {
            return;
        };
        let (status, v) = get(&s, "/v1/emails/preview?kind=level_2&locale=de").await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(
            (v["kind"].as_str(), v["locale"].as_str()),
            (Some("reminder"), Some("de"))
        );
        assert!(v["subject"].as_str().unwrap().contains("49,00"), "{v}");
        let html = v["html"].as_str().unwrap();
        // The tenant's branding and contact details, and a sample link that opens nothing.
        assert!(
            html.contains("Acme Analytics") && html.contains("#0f766e"),
            "{html}"
        );
        assert!(html.contains("help@acme.test") && html.contains("1 Main St, Springfield"));
        assert!(html.contains("https://pay.acme.test/update/sample-token"));
        assert!(v["text"].as_str().unwrap().contains("help@acme.test"));
        assert_eq!(v["warnings"], json!([]));
        assert_eq!(
            v["custom"],
            json!({"subject": false, "html": false, "text": false})
        );
        // The tenant's locale when none is given; every kind by name too.
        let (_, fr) = get(&s, "/v1/emails/preview?kind=final").await;
        assert_eq!(fr["locale"], "fr");
        assert!(
            fr["subject"].as_str().unwrap().contains("Dernier avis"),
            "{fr}"
        );
        // Raw bodies with their content type.
        for (format, ctype) in [("html", "text/html"), ("text", "text/plain")] {
            let r = s
                .app
                .client
                .get(format!(
                    "{}/v1/emails/preview?kind=payment_received&locale=nl&format={format}",
                    s.app.base
                ))
                .bearer_auth(&s.key)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let got = r.headers()["content-type"].to_str().unwrap().to_string();
            assert!(got.starts_with(ctype), "{got}");
            assert!(r.text().await.unwrap().contains("help@acme.test"));
        }
        s.app.stop().await;
    }
);

both!(bad_preview_requests_are_clear_400s, |b| async move {
    let Some((s, _api)) = with_api(b).await else {
        return;
    };
    for (query, code, says) in [
        (
            "kind=level_9&locale=fr",
            "unknown_kind",
            "level_1 to level_4",
        ),
        ("kind=shout&locale=fr", "unknown_kind", "\"shout\""),
        ("locale=fr", "missing_kind", "kind: required"),
        (
            "kind=level_1&locale=it",
            "unknown_locale",
            "en, fr, nl, de, es",
        ),
        ("kind=level_1&format=pdf", "unknown_format", "html or text"),
        ("kind=level_1&colour=red", "invalid_query", "colour"),
    ] {
        let (status, v) = get(&s, &format!("/v1/emails/preview?{query}")).await;
        assert_eq!(status, 400, "{query}: {v}");
        let (c, m) = error_of(&v);
        assert_eq!(c, code, "{query}: {v}");
        assert!(m.contains(says), "{query}: {m}");
    }
    let (status, _) = s
        .app
        .get("/v1/emails/preview?kind=level_1", "wrong-key")
        .await;
    assert_eq!(status, 401);
    s.app.stop().await;
});

const TEXT: &str = "Bonjour {{ customer_name }}, {{ amount }} reste dû. Carte : {{ link }}\n{{ company }} · {{ support_email }} · {{ address }}\n";

both!(
    a_tenant_template_is_validated_then_used_by_preview_and_emails,
    |b| async move {
        let Some((s, api)) = with_api(b).await else {
            return;
        };
        // Refused, naming each problem: a syntax error, no support contact, no link.
        let (status, v) = put(
            &s,
            "/v1/emails/templates/level_1",
            json!({"fr": {"subject": "{{ amount ", "text": "Payez {{ amount }}."}}),
        )
        .await;
        assert_eq!(status, 400, "{v}");
        let (code, m) = error_of(&v);
        assert_eq!(code, "invalid_template");
        for says in [
            "fr.subject: template error",
            "fr.text: must show the support contact",
            "fr.text: must show the company address",
            "fr.text: must contain the card-update link",
        ] {
            assert!(m.contains(says), "{says} in {m}");
        }
        let (status, v) = put(
            &s,
            "/v1/emails/templates/level_1",
            json!({"it": {"text": TEXT}}),
        )
        .await;
        assert_eq!((status, error_of(&v).0), (400, "unknown_locale"), "{v}");
        let (_, v) = get(&s, "/v1/emails/templates").await;
        assert_eq!(v["data"], json!([]), "nothing stored by refused requests");

        let custom =
            json!({"fr": {"subject": "{{ company }} : {{ amount }} à régler", "text": TEXT}});
        let (status, v) = put(&s, "/v1/emails/templates/level_1", custom).await;
        assert_eq!(status, 200, "{v}");
        let (_, v) = get(&s, "/v1/emails/templates").await;
        let rows = v["data"].as_array().unwrap();
        assert_eq!(rows.len(), 1, "{v}");
        assert_eq!(
            (rows[0]["kind"].as_str(), rows[0]["locale"].as_str()),
            (Some("failed"), Some("fr"))
        );
        assert_eq!(rows[0]["html"], Value::Null);

        // The preview uses it (the HTML stays built in); another locale does not.
        let (_, p) = get(&s, "/v1/emails/preview?kind=failed&locale=fr").await;
        assert_eq!(
            p["custom"],
            json!({"subject": true, "html": false, "text": true})
        );
        assert!(
            p["subject"]
                .as_str()
                .unwrap()
                .starts_with("Acme Analytics : 49,00"),
            "{p}"
        );
        assert!(
            p["text"]
                .as_str()
                .unwrap()
                .starts_with("Bonjour Jenny Rosen"),
            "{p}"
        );
        let (_, en) = get(&s, "/v1/emails/preview?kind=failed&locale=en").await;
        assert_eq!(en["custom"]["text"], false);

        // So does the email step.
        add_invoice(&s, "in_tpl");
        s.stripe.script_pay(
            "in_tpl",
            vec![Outcome::decline("card_declined", Some("do_not_honor")); 8],
        );
        let now = s.now().await;
        s.send(payment_failed("evt_tpl_1", "in_tpl", now)).await;
        s.advance_days(1).await;
        let got = api.accepted();
        assert_eq!(got.len(), 1);
        assert!(
            got[0].subject().starts_with("Acme Analytics : "),
            "{}",
            got[0].subject()
        );
        let text = got[0].body["text"].as_str().unwrap();
        assert!(text.contains("reste dû"), "{text}");
        assert!(text.contains("https://pay.acme.test/update/"), "{text}");
        let html = got[0].body["html"].as_str().unwrap();
        assert!(html.contains("<!DOCTYPE html>"), "the built-in HTML");

        // Removed: back to the built-in templates.
        let (status, v) = call(
            &s,
            reqwest::Method::DELETE,
            "/v1/emails/templates/level_1?locale=fr",
            None,
        )
        .await;
        assert_eq!((status, v["deleted"].as_u64()), (200, Some(1)), "{v}");
        let (_, p) = get(&s, "/v1/emails/preview?kind=failed&locale=fr").await;
        assert_eq!(p["custom"]["text"], false);
        assert!(!p["text"].as_str().unwrap().contains("reste dû"), "{p}");
        s.app.stop().await;
    }
);
