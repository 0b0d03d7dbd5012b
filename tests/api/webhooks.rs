//! The webhook inbox: every answer, on both backends.

use std::time::Duration;

use chrono::Utc;
use dunning::providers::stripe::signature;
use serde_json::Value;

use crate::both;
use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(20);

async fn error_of(r: reqwest::Response) -> (u16, String, String) {
    let status = r.status().as_u16();
    let v: Value = r.json().await.expect("error bodies are JSON");
    (
        status,
        v["error"]["code"].as_str().unwrap().into(),
        v["error"]["message"].as_str().unwrap().into(),
    )
}

both!(signed_event_is_stored_and_processed_once, |b| async move {
    let Some(app) = TestApp::spawn(b).await else {
        return;
    };
    let key = app.create_tenant("acme", &[WHSEC]).await;
    let body = event_body("evt_1QsignedAndProcessed", "invoice.payment_failed");
    let r = app.deliver("acme", &body, WHSEC).await;
    assert!(r.status().is_success(), "{}", r.status());
    let e = app
        .wait_status(&key, "evt_1QsignedAndProcessed", "processed", WAIT)
        .await;
    assert_eq!(e["type"], "invoice.payment_failed");
    assert_eq!(e["attempts"], 1);
    assert_eq!(app.sink.count(), 1);
    app.stop().await;
});

both!(
    duplicate_delivery_answers_2xx_and_is_not_processed_again,
    |b| async move {
        let Some(app) = TestApp::spawn(b).await else {
            return;
        };
        let key = app.create_tenant("acme", &[WHSEC]).await;
        let body = event_body("evt_1Qduplicate", "invoice.paid");
        assert_eq!(app.deliver("acme", &body, WHSEC).await.status(), 201);
        app.wait_status(&key, "evt_1Qduplicate", "processed", WAIT)
            .await;
        let r = app.deliver("acme", &body, WHSEC).await;
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["duplicate"], true);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(app.store.count_events().await.unwrap(), 1);
        assert_eq!(app.sink.count(), 1);
        app.stop().await;
    }
);

both!(
    hundred_concurrent_deliveries_store_and_process_once,
    |b| async move {
        let Some(app) = TestApp::spawn(b).await else {
            return;
        };
        let key = app.create_tenant("acme", &[WHSEC]).await;
        let body = event_body("evt_1Qconcurrent", "invoice.payment_failed");
        let header = signature::sign(&body, WHSEC.as_bytes(), Utc::now().timestamp());
        let sends = (0..100).map(|_| app.post_webhook("acme", &body, Some(header.clone())));
        let answers = futures::future::join_all(sends).await;
        let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
        assert!(
            statuses.iter().all(|s| *s == 200 || *s == 201),
            "{statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 201).count(),
            1,
            "exactly one delivery is new"
        );
        app.wait_status(&key, "evt_1Qconcurrent", "processed", WAIT)
            .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(app.store.count_events().await.unwrap(), 1);
        assert_eq!(app.sink.count(), 1, "processed exactly once");
        app.stop().await;
    }
);

both!(
    bad_signatures_are_refused_and_change_nothing,
    |b| async move {
        let Some(app) = TestApp::spawn(b).await else {
            return;
        };
        app.create_tenant("acme", &[WHSEC]).await;
        let body = event_body("evt_1Qbadsig", "invoice.paid");
        let now = Utc::now().timestamp();
        let cases = [
            ("no header", None),
            (
                "wrong secret",
                Some(signature::sign(&body, b"whsec_wrong_secret_000", now)),
            ),
            (
                "replayed old event",
                // Well past the 300 s tolerance: a slow test run must not cross back into it.
                Some(signature::sign(&body, WHSEC.as_bytes(), now - 330)),
            ),
            (
                "from the future",
                Some(signature::sign(&body, WHSEC.as_bytes(), now + 330)),
            ),
            ("garbage header", Some("nonsense".to_string())),
            (
                "tampered body",
                Some(signature::sign(
                    b"{\"id\":\"evt_other\"}",
                    WHSEC.as_bytes(),
                    now,
                )),
            ),
        ];
        for (what, header) in cases {
            let (status, code, message) =
                error_of(app.post_webhook("acme", &body, header).await).await;
            assert_eq!(status, 401, "{what}");
            assert_eq!(code, "unauthorized", "{what}");
            assert!(
                !message.contains("whsec") && !message.contains("evt_1Qbadsig"),
                "{what}: {message}"
            );
        }
        assert_eq!(app.store.count_events().await.unwrap(), 0);
        app.stop().await;
    }
);

both!(rotated_secrets_verify, |b| async move {
    let Some(app) = TestApp::spawn(b).await else {
        return;
    };
    let old = "whsec_old_secret_before_rotation";
    let new = "whsec_new_secret_after_rotation";
    app.create_tenant("acme", &[old, new]).await;
    assert!(
        app.deliver("acme", &event_body("evt_1Qold", "invoice.paid"), old)
            .await
            .status()
            .is_success()
    );
    assert!(
        app.deliver("acme", &event_body("evt_1Qnew", "invoice.paid"), new)
            .await
            .status()
            .is_success()
    );
    // A header carrying two v1 signatures (Stripe during a roll) verifies if either matches.
    let body = event_body("evt_1Qboth", "invoice.paid");
    let t = Utc::now().timestamp();
    let a = signature::sign(&body, b"whsec_unknown_to_us_0000", t);
    let good = signature::sign(&body, new.as_bytes(), t);
    let v1 = good.split(',').find(|p| p.starts_with("v1=")).unwrap();
    assert!(
        app.post_webhook("acme", &body, Some(format!("{a},{v1}")))
            .await
            .status()
            .is_success()
    );
    // Retiring the old secret through the admin API makes it stop verifying.
    let r = app
        .client
        .patch(format!("{}/v1/tenants/acme", app.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"stripe": {"webhook_secrets": [new]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        app.deliver("acme", &event_body("evt_1Qold2", "invoice.paid"), old)
            .await
            .status(),
        401
    );
    assert_eq!(app.store.count_events().await.unwrap(), 3);
    app.stop().await;
});

both!(unknown_or_disabled_tenant_is_404, |b| async move {
    let Some(app) = TestApp::spawn(b).await else {
        return;
    };
    app.create_tenant("acme", &[WHSEC]).await;
    let body = event_body("evt_1Qtenant", "invoice.paid");
    let (status, code, _) = error_of(app.deliver("nobody", &body, WHSEC).await).await;
    assert_eq!((status, code.as_str()), (404, "not_found"));
    let r = app
        .client
        .patch(format!("{}/v1/tenants/acme", app.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"status": "disabled"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(app.deliver("acme", &body, WHSEC).await.status(), 404);
    // The default tenant's URL answers 404 too while no default tenant is configured.
    let h = signature::sign(&body, WHSEC.as_bytes(), Utc::now().timestamp());
    let r = app
        .client
        .post(format!("{}/webhooks/stripe", app.base))
        .header("Stripe-Signature", h)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(app.store.count_events().await.unwrap(), 0);
    app.stop().await;
});

both!(malformed_bodies_are_400_with_a_reason, |b| async move {
    let Some(app) = TestApp::spawn(b).await else {
        return;
    };
    app.create_tenant("acme", &[WHSEC]).await;
    let bodies: [&[u8]; 5] = [
        b"this is not json",
        b"[1,2,3]",
        b"{\"object\":\"event\",\"type\":\"invoice.paid\"}",
        b"{\"id\":\"evt_1\",\"object\":\"event\"}",
        b"",
    ];
    for body in bodies {
        let (status, code, message) = error_of(app.deliver("acme", body, WHSEC).await).await;
        assert_eq!(status, 400, "{}", String::from_utf8_lossy(body));
        assert_eq!(code, "invalid_event");
        assert!(!message.is_empty());
    }
    assert_eq!(app.store.count_events().await.unwrap(), 0);
    app.stop().await;
});

both!(oversized_body_is_413, |b| async move {
    let Some(app) = TestApp::spawn_with(b, &[("max_body_bytes", "2048")], Sink::default()).await
    else {
        return;
    };
    app.create_tenant("acme", &[WHSEC]).await;
    let mut v: Value = serde_json::from_slice(&event_body("evt_1Qbig", "invoice.paid")).unwrap();
    v["data"]["object"]["description"] = Value::String("x".repeat(4096));
    let body = serde_json::to_vec(&v).unwrap();
    let (status, code, _) = error_of(app.deliver("acme", &body, WHSEC).await).await;
    assert_eq!((status, code.as_str()), (413, "payload_too_large"));
    // Without a Content-Length (chunked), the limit still holds.
    let h = signature::sign(&body, WHSEC.as_bytes(), Utc::now().timestamp());
    let stream = futures::stream::iter(
        body.chunks(512)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let r = app
        .client
        .post(format!("{}/webhooks/stripe/acme", app.base))
        .header("Stripe-Signature", h)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(app.store.count_events().await.unwrap(), 0);
    app.stop().await;
});

both!(
    failing_processing_is_retried_with_backoff_then_marked_failed,
    |b| async move {
        let overrides = [("process_backoff_secs", "1"), ("process_max_attempts", "3")];
        let Some(app) = TestApp::spawn_with(b, &overrides, Sink::failing(u32::MAX)).await else {
            return;
        };
        let key = app.create_tenant("acme", &[WHSEC]).await;
        assert!(
            app.deliver(
                "acme",
                &event_body("evt_1Qfails", "invoice.payment_failed"),
                WHSEC
            )
            .await
            .status()
            .is_success()
        );
        let e = app
            .wait_status(&key, "evt_1Qfails", "failed", Duration::from_secs(30))
            .await;
        assert_eq!(e["attempts"], 3);
        assert!(
            e["error"].as_str().unwrap().contains("engine unavailable"),
            "{e}"
        );
        let times = app.sink.times();
        assert_eq!(times.len(), 3);
        // Backoff: the waits grow (1 s, then 2 s; apalis schedules in whole seconds, never early).
        assert!(
            times[1] - times[0] >= chrono::Duration::milliseconds(900),
            "{times:?}"
        );
        assert!(
            times[2] - times[1] >= chrono::Duration::milliseconds(1900),
            "{times:?}"
        );
        // Replay puts it back through processing.
        *app.sink.fail_first.lock().unwrap() = 0;
        let id = e["id"].as_str().unwrap();
        let r = app
            .client
            .post(format!("{}/v1/events/{id}/replay", app.base))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        app.wait_status(&key, "evt_1Qfails", "processed", WAIT)
            .await;
        assert_eq!(app.sink.count(), 4);
        app.stop().await;
    }
);

both!(
    transient_failure_then_success_is_processed,
    |b| async move {
        let overrides = [("process_backoff_secs", "1")];
        let Some(app) = TestApp::spawn_with(b, &overrides, Sink::failing(1)).await else {
            return;
        };
        let key = app.create_tenant("acme", &[WHSEC]).await;
        app.deliver("acme", &event_body("evt_1Qflaky", "invoice.paid"), WHSEC)
            .await;
        let e = app
            .wait_status(&key, "evt_1Qflaky", "processed", WAIT)
            .await;
        assert_eq!(e["attempts"], 2);
        assert_eq!(app.sink.count(), 2);
        app.stop().await;
    }
);

both!(python_stripe_library_signatures_verify, |b| async move {
    // Vectors made once by Stripe's official Python library (scripts/stripe_signature_vectors.py).
    let vectors: Value = serde_json::from_slice(&fixture("signature_vectors.json")).unwrap();
    let overrides = [("webhook_tolerance_secs", "3153600000")];
    let Some(app) = TestApp::spawn_with(b, &overrides, Sink::default()).await else {
        return;
    };
    for (i, v) in vectors["vectors"].as_array().unwrap().iter().enumerate() {
        let tenant = format!("py{i}");
        app.create_tenant(&tenant, &[v["secret"].as_str().unwrap()])
            .await;
        let r = app
            .post_webhook(
                &tenant,
                v["payload"].as_str().unwrap().as_bytes(),
                Some(v["header"].as_str().unwrap().into()),
            )
            .await;
        let status = r.status();
        let text = r.text().await.unwrap();
        assert_ne!(status, 401, "vector {} refused: {text}", v["name"]);
        // Bodies that are events are stored; the empty body is refused only as a body (400).
        let payload = v["payload"].as_str().unwrap();
        assert_eq!(
            status.is_success(),
            !payload.is_empty(),
            "vector {}: {status} {text}",
            v["name"]
        );
    }
    app.stop().await;
});

/// Signs `payload` now with Stripe's official Python library, or `None` (after a loud message) when
/// it is not installed; `.ci/run` installs it and sets `DUNNING_REQUIRE_PYTHON_STRIPE=1`.
fn python_stripe_header(payload: &str, secret: &str) -> Option<String> {
    let script = "import sys, stripe\n\
        payload = sys.stdin.read()\n\
        print(stripe.WebhookSignature.generate_signature_header(payload, sys.argv[1]))";
    let python = std::env::var("DUNNING_PYTHON").unwrap_or_else(|_| "python3".into());
    let child = std::process::Command::new(&python)
        .args(["-c", script, secret])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let output = child.and_then(|mut c| {
        use std::io::Write;
        c.stdin.take().unwrap().write_all(payload.as_bytes())?;
        c.wait_with_output()
    });
    match output {
        Ok(o) if o.status.success() => {
            Some(String::from_utf8(o.stdout).unwrap().trim().to_string())
        }
        other => {
            let why = match other {
                Ok(o) => String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .to_string(),
                Err(e) => e.to_string(),
            };
            if std::env::var("DUNNING_REQUIRE_PYTHON_STRIPE").is_ok_and(|v| v == "1") {
                panic!("Stripe's Python library is required but unavailable: {why}");
            }
            eprintln!(
                "\n!!! SKIPPED the live Stripe Python library test: {why}\n!!! `pip install stripe` to run it; `.ci/run` does.\n"
            );
            None
        }
    }
}

both!(
    a_signature_made_now_by_stripes_python_library_is_accepted,
    |b| async move {
        let payload = String::from_utf8(fixture("invoice.payment_failed.json")).unwrap();
        let Some(header) = python_stripe_header(&payload, WHSEC) else {
            return;
        };
        let Some(app) = TestApp::spawn(b).await else {
            return;
        };
        let key = app.create_tenant("acme", &[WHSEC]).await;
        let r = app
            .post_webhook("acme", payload.as_bytes(), Some(header))
            .await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        let v: Value = serde_json::from_str(&payload).unwrap();
        app.wait_status(&key, v["id"].as_str().unwrap(), "processed", WAIT)
            .await;
        app.stop().await;
    }
);

both!(unknown_event_types_are_stored_and_ignored, |b| async move {
    let Some(app) = TestApp::spawn(b).await else {
        return;
    };
    let key = app.create_tenant("acme", &[WHSEC]).await;
    let body = fixture("customer.created.json");
    assert_eq!(app.deliver("acme", &body, WHSEC).await.status(), 201);
    let v: Value = serde_json::from_slice(&body).unwrap();
    let e = app
        .wait_status(&key, v["id"].as_str().unwrap(), "ignored", WAIT)
        .await;
    assert_eq!(e["type"], "customer.created");
    assert_eq!(app.sink.count(), 0, "the engine never sees ignored events");
    app.stop().await;
});

both!(every_fixture_is_accepted_and_processed, |b| async move {
    let Some(app) = TestApp::spawn(b).await else {
        return;
    };
    let key = app.create_tenant("acme", &[WHSEC]).await;
    let dir = format!("{}/fixtures/stripe", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json") && n != "signature_vectors.json")
        .collect();
    names.sort();
    for name in &names {
        let body = fixture(name);
        let r = app.deliver("acme", &body, WHSEC).await;
        assert_eq!(r.status(), 201, "{name}: {}", r.text().await.unwrap());
        let v: Value = serde_json::from_slice(&body).unwrap();
        let want = if name.starts_with("customer.created") {
            "ignored"
        } else {
            "processed"
        };
        app.wait_status(&key, v["id"].as_str().unwrap(), want, WAIT)
            .await;
    }
    app.stop().await;
});
