//! The card-update flow as a customer sees it, in headless Chromium driven over WebDriver
//! (chromedriver): the link from a received email, the page, the fake Stripe's hosted page, back,
//! and the result. Screenshots are kept in `target/artifacts/`.
//!
//! Needs Debian's `chromium` and `chromium-driver`; without them the test says SKIPPED, and fails
//! under `DUNNING_REQUIRE_CHROMIUM=1` (`.ci/run` installs both and sets it).

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use dunning::testing::fake_stripe::Outcome;
use dunning::testing::smtp::SmtpServer;
use serde_json::{Value, json};

use crate::both;
use crate::engine::{add_invoice, charge_failed, payment_failed, setup_with};
use crate::helpers::*;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process and one browser session; both end on drop.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver runs in its own process group with the browser it started: end them all.
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.wait();
    }
}

fn available() -> bool {
    let found =
        std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists();
    if !found {
        if std::env::var("DUNNING_REQUIRE_CHROMIUM").is_ok_and(|v| v == "1") {
            panic!(
                "Chromium is required (DUNNING_REQUIRE_CHROMIUM=1) but {CHROMIUM} or {CHROMEDRIVER} is missing"
            );
        }
        eprintln!(
            "\n!!! SKIPPED the browser test: {CHROMIUM} or {CHROMEDRIVER} is missing.\n!!! \
             `apt-get install chromium chromium-driver`; `.ci/run` runs it for real.\n"
        );
    }
    found
}

impl Browser {
    async fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                // A phone-sized window: the page must work there first.
                "args": ["--headless", "--no-sandbox", "--disable-background-networking",
                         "--disable-gpu", "--disable-dev-shm-usage", "--window-size=414,896",
                         "--lang=fr-FR"]
            }
        }}});
        let mut browser = Browser {
            driver,
            base,
            session: String::new(),
            http,
        };
        let v = browser.call("POST", "/session", caps).await;
        browser.session = v["sessionId"].as_str().expect("a session").to_owned();
        browser
    }

    async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        match self.try_call(method, path, body).await {
            Ok(v) => v,
            Err(e) => panic!("WebDriver {method} {path}: {e}"),
        }
    }

    /// `Err` with WebDriver's error when the command failed (e.g. while a page is reloading).
    async fn try_call(&self, method: &str, path: &str, body: Value) -> Result<Value, Value> {
        let url = if path == "/session" {
            format!("{}{path}", self.base)
        } else {
            format!("{}/session/{}{path}", self.base, self.session)
        };
        let request = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        let r = request
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        if status.is_success() {
            Ok(v["value"].clone())
        } else {
            Err(v)
        }
    }

    async fn go(&self, url: &str) {
        self.call("POST", "/url", json!({"url": url})).await;
    }

    async fn find(&self, css: &str) -> String {
        let v = self
            .call(
                "POST",
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        v[ELEMENT].as_str().unwrap().to_owned()
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.call("POST", &format!("/element/{id}/click"), json!({}))
            .await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call(
            "POST",
            &format!("/element/{id}/value"),
            json!({"text": text}),
        )
        .await;
    }

    async fn text(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.call("GET", &format!("/element/{id}/text"), Value::Null)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn script(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
        .await
    }

    async fn url(&self) -> String {
        self.call("GET", "/url", Value::Null)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Waits until the browser is at a URL starting with `prefix` (a click's navigation may still
    /// be on its way when the click returns).
    async fn wait_url(&self, prefix: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let url = self.url().await;
            if url.starts_with(prefix) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "stayed at {url}, wanted {prefix}…"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the `h1` reads `want` (the page reloads itself while a card is tried).
    async fn wait_heading(&self, want: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // Between a reload's unload and load there is no heading: that is not a failure.
            let script = json!({"script": "const h = document.querySelector('h1'); return h ? h.textContent : null", "args": []});
            let h = self
                .try_call("POST", "/execute/sync", script)
                .await
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            if h == want {
                return h;
            }
            assert!(
                Instant::now() < deadline,
                "heading stayed {h:?}, wanted {want:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn screenshot(&self, name: &str) -> PathBuf {
        let b64 = self.call("GET", "/screenshot", Value::Null).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/artifacts");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, png).unwrap();
        path
    }
}

both!(
    a_customer_updates_their_card_in_chromium_from_the_emailed_link,
    |b| async move {
        if !available() {
            return;
        }
        let smtp = SmtpServer::start().await;
        let url = smtp.url();
        let Some(s) = setup_with(
            b,
            &[
                ("email", url.as_str()),
                ("email_from", "billing@dunning.test"),
            ],
        )
        .await
        else {
            return;
        };
        s.brand(json!({})).await;
        add_invoice(&s, "in_browser");
        s.stripe.script_pay(
            "in_browser",
            vec![Outcome::decline("card_declined", Some("do_not_honor")); 8],
        );
        let now = s.now().await;
        s.send(charge_failed(
            "evt_b_charge",
            "in_browser",
            "expired_card",
            "expired_card",
            now,
        ))
        .await;
        s.send(payment_failed("evt_b_failed", "in_browser", now))
            .await;
        // The first message goes out in the customer's daytime.
        let deadline = Instant::now() + Duration::from_secs(60);
        while smtp.received().is_empty() {
            assert!(Instant::now() < deadline, "no email arrived");
            s.advance_days(1).await;
        }
        let link = update_link(&smtp.received()[0].data);
        assert!(link.starts_with(&s.app.state.settings.public_url), "{link}");

        let browser = Browser::start().await;
        browser.go(&link).await;
        assert_eq!(
            browser
                .wait_heading("Mettez à jour votre moyen de paiement")
                .await,
            "Mettez à jour votre moyen de paiement"
        );
        let lang = browser.script("return document.documentElement.lang").await;
        assert_eq!(lang, "fr");
        let body = browser.text("main").await;
        assert!(body.contains("49,00"), "{body}");
        assert!(browser.text("header").await.contains("Acme Analytics"));
        let rule = browser
            .script("return getComputedStyle(document.querySelector('header')).borderTopColor")
            .await;
        assert_eq!(rule, "rgb(15, 118, 110)", "the tenant's colour");
        // Fits a phone: nothing wider than the window.
        let overflow = browser
            .script("return document.documentElement.scrollWidth > window.innerWidth")
            .await;
        assert_eq!(overflow, false);
        // An expired card cannot be retried later: no promise to pay is offered.
        assert!(
            !browser
                .text("main")
                .await
                .contains("Besoin de quelques jours")
        );
        let shot = browser
            .screenshot(&format!("card-update-page-{b:?}.png"))
            .await;
        eprintln!("screenshot: {}", shot.display());

        browser.click("#update-card").await;
        browser.wait_url(s.stripe.base_url()).await;
        browser.type_into("#card_number", "4242424242424242").await;
        browser.click("#save").await;
        browser.wait_url(&link).await;
        browser.wait_heading("Paiement reçu, merci").await;
        browser
            .screenshot(&format!("card-update-paid-{b:?}.png"))
            .await;

        let c = s.case("in_browser").await;
        assert_eq!(c["status"], "recovered", "{c}");
        assert_eq!(c["recovered_by"], "card_update", "{c}");
        assert_eq!(s.stripe.charges("in_browser"), 1);
        drop(browser);
        s.app.stop().await;
    }
);
