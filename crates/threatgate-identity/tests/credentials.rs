//! Credential expiry as administrators see it, with an injected clock: a secret is valid, then
//! expiring (warned about from 30 days before its end), then expired.
#![allow(clippy::unwrap_used, reason = "tests")]

use threatgate_domain::CredentialState;
use threatgate_identity::{Actor, DirectoryAdmin, ManualClock, SecretHasher};
use threatgate_store::SqliteStore;
use time::Duration;
use time::macros::datetime;

#[tokio::test]
async fn a_secret_is_warned_about_thirty_days_before_it_ends_and_reported_expired_after() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    let hasher = SecretHasher::from_key_bytes(&[7; 32]);
    let clock = ManualClock::new(datetime!(2026-11-26 12:00 UTC));
    let admin = DirectoryAdmin::new(&store, &hasher, &clock, Actor::Operator("test"));
    admin.create_tenant("Fabrikam", Some("fabrikam.onmicrosoft.com")).await.unwrap();
    let app = admin.register_application("fabrikam.onmicrosoft.com", "Connector", true, &[]).await.unwrap();
    let app_id = app.app_id;
    admin.add_secret(app_id, "long", Some(365)).await.unwrap();
    let short = admin.add_secret(app_id, "short", Some(45)).await.unwrap();

    let states = |report: Vec<threatgate_identity::CredentialReport>| -> Vec<(String, CredentialState)> {
        report.into_iter().map(|c| (c.description, c.state)).collect()
    };
    let report = admin.credential_report(Some("fabrikam.onmicrosoft.com"), None).await.unwrap();
    assert_eq!(report[0].key_id, short.record.key_id, "soonest to end first");
    assert_eq!(states(report), [("short".into(), CredentialState::Valid), ("long".into(), CredentialState::Valid)]);

    // 15 days on: 30 days left, the warning starts.
    clock.advance(Duration::days(15));
    let report = admin.credential_report(None, Some(app_id)).await.unwrap();
    assert_eq!(report[0].state, CredentialState::ExpiringSoon { days_left: 30 });
    assert!(report[0].state.needs_rotation() && !report[1].state.needs_rotation());
    assert_eq!(report[0].state.to_string(), "expires in 30 days");

    clock.advance(Duration::days(29) + Duration::hours(12));
    let report = admin.credential_report(None, Some(app_id)).await.unwrap();
    assert_eq!(report[0].state.to_string(), "expires within a day");

    clock.advance(Duration::days(1));
    let report = admin.credential_report(None, None).await.unwrap();
    assert_eq!(states(report), [("short".into(), CredentialState::Expired), ("long".into(), CredentialState::Valid)]);
    assert_eq!(report_json(&admin).await["state"], "expired");
}

async fn report_json(admin: &DirectoryAdmin<'_>) -> serde_json::Value {
    serde_json::to_value(&admin.credential_report(None, None).await.unwrap()[0]).unwrap()
}
