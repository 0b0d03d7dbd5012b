//! Expiring-card notices (opt-in): `customer.source.expiring` → one email with a link to update the
//! card outside any case → the hosted form → the new card is the default. On SQLite and PostgreSQL.

use dunning::testing::smtp::SmtpServer;
use serde_json::{Value, json};

use crate::both;
use crate::engine::setup_with;
use crate::helpers::*;

const CUSTOMER: &str = "cus_S2pQ7LmVt9KdE4";

fn expiring(event_id: &str, last4: &str, fingerprint: &str) -> Value {
    let mut v: Value = serde_json::from_slice(&fixture("customer.source.expiring.json")).unwrap();
    v["id"] = json!(event_id);
    v["created"] = json!(chrono::Utc::now().timestamp());
    v["data"]["object"]["last4"] = json!(last4);
    v["data"]["object"]["fingerprint"] = json!(fingerprint);
    v
}

both!(
    an_expiring_card_gets_one_notice_and_a_way_to_replace_it,
    |b| async move {
        let smtp = SmtpServer::start().await;
        let url = smtp.url();
        let Some(s) = setup_with(b, &[("email", url.as_str())]).await else {
            return;
        };
        s.stripe
            .add_customer(CUSTOMER, "jenny.rosen@example.com", "Jenny Rosen");
        s.brand(json!({})).await;
        // Not opted in: nothing.
        s.send(expiring("evt_exp_0", "8431", "fpOld")).await;
        assert!(smtp.received().is_empty());

        s.patch_tenant(json!({"expiring_card_notices": true})).await;
        s.send(expiring("evt_exp_1", "8431", "fpOld")).await;
        let got = smtp.received();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].to, vec!["jenny.rosen@example.com".to_string()]);
        // Stripe may say it again: still one notice for this card.
        s.send(expiring("evt_exp_2", "8431", "fpOld")).await;
        assert_eq!(smtp.received().len(), 1);

        let link = update_link(&got[0].data);
        let path = &link[link.find("/update/").unwrap()..];
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let page = client
            .get(format!("{}{path}", s.app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let body = page.text().await.unwrap();
        assert!(body.contains("Mettez à jour votre carte"), "{body}");
        assert!(body.contains("id=\"update-card\""), "{body}");
        let r = client
            .post(format!("{}{path}/session", s.app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        let hosted = r.headers()["location"].to_str().unwrap().to_owned();
        let session = hosted.rsplit('/').next().unwrap();
        let back = s
            .stripe
            .complete_session(session, "4242424242424242")
            .unwrap();
        let done = client.get(&back).send().await.unwrap();
        assert_eq!(done.status(), 200);
        assert!(
            done.text()
                .await
                .unwrap()
                .contains("votre carte est enregistrée")
        );
        let (_, number) = s.stripe.default_card(CUSTOMER).unwrap();
        assert_eq!(number, "4242424242424242");

        // Another card of the customer expiring, while the new one is the default: no notice.
        s.send(expiring("evt_exp_3", "1111", "fpOther")).await;
        assert_eq!(smtp.received().len(), 1);
        s.app.stop().await;
    }
);
