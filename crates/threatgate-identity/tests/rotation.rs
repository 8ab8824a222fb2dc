//! Signing-key rotation over time, with an injected clock: tokens issued before, during and
//! after a rotation verify until they expire; the old key leaves the JWKS only a day after its
//! successor started signing; an emergency rotation refuses the old key's tokens at once.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::sync::Arc;

use threatgate_identity::{
    Actor, ClientSecret, DirectoryAdmin, IdentityService, IdentitySettings, ManualClock, SecretHasher, TokenEndpoint,
    TokenParameters, TokenRequest,
};
use threatgate_store::SqliteStore;
use time::Duration;
use time::macros::datetime;

struct World {
    service: IdentityService,
    clock: Arc<ManualClock>,
    app_id: String,
    secret: String,
}

async fn world() -> World {
    let store: Arc<dyn threatgate_store::Store> = Arc::new(SqliteStore::open_in_memory().await.unwrap());
    let hasher = Arc::new(SecretHasher::from_key_bytes(&[9; 32]));
    let clock = Arc::new(ManualClock::new(datetime!(2026-11-26 12:00 UTC)));
    let admin = DirectoryAdmin::new(store.as_ref(), &hasher, clock.as_ref(), Actor::Operator("test"));
    admin.create_tenant("Fabrikam", Some("fabrikam.onmicrosoft.com")).await.unwrap();
    admin.create_tenant("Contoso", Some("contoso.onmicrosoft.com")).await.unwrap();
    let app = admin.register_application("fabrikam.onmicrosoft.com", "Connector", true, &[]).await.unwrap();
    let app_id = app.app_id;
    admin.add_permissions(app_id, &["Incident.Read.All".into()]).await.unwrap();
    let secret = admin.add_secret(app_id, "test", Some(730)).await.unwrap().value.expose().to_owned();
    admin.grant_consent("contoso.onmicrosoft.com", app_id).await.unwrap();
    let kek = Arc::new(threatgate_identity::KeyEncryptionKey::from_bytes(&[5; 32]).unwrap());
    let service = IdentityService::open(store, clock.clone(), hasher, kek, IdentitySettings::default()).await.unwrap();
    World { service, clock, app_id: app_id.to_string(), secret }
}

impl World {
    fn token(&self) -> String {
        let parameters = TokenParameters {
            grant_type: Some("client_credentials".into()),
            client_id: Some(self.app_id.clone()),
            client_secret: Some(ClientSecret::from_presented(self.secret.clone())),
            scope: Some("https://api.security.microsoft.com/.default".into()),
            ..TokenParameters::default()
        };
        let request = TokenRequest {
            endpoint: TokenEndpoint::V2,
            tenant: "contoso.onmicrosoft.com",
            parameters,
            basic: None,
            origins: &[],
        };
        self.service.issue_token(request).unwrap().access_token
    }

    fn kid(token: &str) -> String {
        let header = token.split('.').next().unwrap();
        let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header).unwrap();
        serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()["kid"].as_str().unwrap().to_owned()
    }

    fn accepted(&self, token: &str) -> bool {
        self.service.verify_bearer(token).is_ok()
    }

    fn published(&self) -> Vec<String> {
        self.service.snapshot().keys.published().iter().map(|key| key.kid().as_str().to_owned()).collect()
    }

    fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }
}

#[tokio::test]
async fn a_rotation_keeps_every_token_valid_until_it_expires() {
    let world = world().await;
    let before = world.token();
    let old_key = World::kid(&before);
    assert_eq!(world.published().len(), 2, "the signing key and the next one");

    // Two days on, an on-demand rotation: the next key was published two days ago, so it signs now.
    world.advance(Duration::days(2));
    let just_before = world.token();
    let rotation = world.service.rotate_keys(false).await.unwrap();
    assert_eq!(rotation.previous_key.as_deref(), Some(old_key.as_str()));
    assert_eq!(rotation.signs_from, world.clock_now());
    let after = world.token();
    assert_eq!(World::kid(&after), rotation.new_key, "the new key signs at once");
    assert!(world.published().contains(&rotation.next_key), "a new next key is published before it signs");

    // The old key's token issued just before the switch still verifies until its exp.
    world.advance(Duration::minutes(30));
    assert_eq!(World::kid(&just_before), old_key);
    assert!(world.accepted(&just_before) && world.accepted(&after));
    assert!(!world.accepted(&before), "two days old: expired after its hour, whatever the key");
    assert!(world.published().contains(&old_key), "the old key stays published for a day");

    // A day after its successor started signing, the old key is retired.
    world.advance(Duration::hours(23) + Duration::minutes(31));
    world.service.maintain_keys().await.unwrap();
    assert!(!world.published().contains(&old_key), "retired once its tokens can no longer be valid");
    assert!(world.published().contains(&rotation.new_key));
}

#[tokio::test]
async fn a_rotation_right_after_a_key_was_published_waits_a_day_and_tokens_keep_verifying() {
    let world = world().await;
    let before = world.token();
    // The next key was published a moment ago: it may sign only once caches have seen it.
    let rotation = world.service.rotate_keys(false).await.unwrap();
    assert_eq!(rotation.signs_from, world.clock_now() + Duration::days(1));
    world.advance(Duration::days(1) - Duration::minutes(1));
    let during = world.token();
    assert_eq!(World::kid(&during), World::kid(&before), "the current key signs until then");
    world.advance(Duration::minutes(1));
    world.service.maintain_keys().await.unwrap();
    let after = world.token();
    assert_eq!(World::kid(&after), rotation.new_key, "the new key signs from the announced time");
    assert!(world.accepted(&during) && world.accepted(&after), "both keys' tokens verify across the switch");
    assert!(!world.accepted(&before), "a day old: expired");
}

#[tokio::test]
async fn an_emergency_rotation_refuses_the_old_keys_tokens_at_once() {
    let world = world().await;
    let compromised = world.token();
    assert!(world.accepted(&compromised));
    let rotation = world.service.rotate_keys(true).await.unwrap();
    assert_eq!(rotation.dropped, vec![World::kid(&compromised)]);
    assert!(!world.accepted(&compromised), "its tokens stop verifying at once");
    assert!(!world.published().contains(&World::kid(&compromised)), "and it leaves the JWKS");
    let fresh = world.token();
    assert_eq!(World::kid(&fresh), rotation.new_key, "the next key signs now");
    assert!(world.accepted(&fresh));
}

impl World {
    fn clock_now(&self) -> time::OffsetDateTime {
        threatgate_identity::Clock::now(self.clock.as_ref())
    }
}
