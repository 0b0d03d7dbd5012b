//! Health and readiness.

use serde_json::Value;

use crate::both;
use crate::helpers::*;

both!(readyz_reports_a_dead_worker, |b| async move {
    let Some(app) = TestApp::spawn(b).await else {
        return;
    };
    let r = app
        .client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let r = app
            .client
            .get(format!("{}/readyz", app.base))
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    app.state.health.set_alive("process-event", false);
    let r = app
        .client
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    let w = v["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "process-event")
        .unwrap()
        .clone();
    assert_eq!(w["alive"], false);
    app.stop().await;
});
