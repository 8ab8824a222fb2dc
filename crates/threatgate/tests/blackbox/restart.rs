//! A restart keeps everything: tenants, apps, secrets, consents and signing keys.

use serde_json::Value;
use threatgate_testkit::{seed_partner, spawn_app};

use crate::{request_v2_token, verify_token};

#[tokio::test]
async fn tokens_issued_before_a_restart_still_verify_and_secrets_still_work() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All"]).await;
    let body: Value = request_v2_token(&app, &partner.consented[0], &partner.app_id, &partner.client_secret)
        .await
        .json()
        .await
        .unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    let keys_before: Value = app.get("/common/discovery/keys").await.json().await.unwrap();

    let app = app.restart().await;

    let keys_after: Value = app.get("/common/discovery/keys").await.json().await.unwrap();
    assert_eq!(keys_before, keys_after, "the same keys are published");
    let claims = verify_token(&app, &token).await;
    assert_eq!(claims["tid"], partner.consented[0].as_str());
    let again = request_v2_token(&app, &partner.consented[1], &partner.app_id, &partner.client_secret).await;
    assert_eq!(again.status(), 200, "secret and consent survived the restart");
    let unconsented = request_v2_token(&app, &partner.not_consented, &partner.app_id, &partner.client_secret).await;
    crate::assert_aad_error(unconsented, 400, "unauthorized_client", 700016).await;
}
