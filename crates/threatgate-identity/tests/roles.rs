//! Who may change what, checked in the identity crate whatever the caller (portal, CLI): the
//! installation's operator changes anything; a signed-in user changes their own tenant's
//! applications, credentials, consents and users only as its Global Administrator (the audit's
//! finding 4); nobody but the operator creates tenants.
#![allow(clippy::unwrap_used, reason = "tests")]

use threatgate_domain::Upn;
use threatgate_identity::{Actor, AdminError, DirectoryAdmin, ManualClock, SecretHasher};
use threatgate_store::SqliteStore;
use time::macros::datetime;

#[tokio::test]
async fn only_the_tenants_global_administrator_or_the_operator_changes_its_applications() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    let hasher = SecretHasher::from_key_bytes(&[7; 32]);
    let clock = ManualClock::new(datetime!(2026-12-03 12:00 UTC));
    let operator = DirectoryAdmin::new(&store, &hasher, &clock, Actor::Operator("test"));
    operator.create_tenant("Fabrikam", Some("fabrikam.onmicrosoft.com")).await.unwrap();
    operator.create_tenant("Contoso", Some("contoso.onmicrosoft.com")).await.unwrap();
    let app = operator.register_application("fabrikam.onmicrosoft.com", "Connector", true, &[]).await.unwrap();
    let app_id = app.app_id;
    let secret = operator.add_secret(app_id, "kept", None).await.unwrap();
    operator.grant_consent("contoso.onmicrosoft.com", app_id).await.unwrap();
    for (upn, admin) in [
        ("admin@fabrikam.onmicrosoft.com", true),
        ("analyst@fabrikam.onmicrosoft.com", false),
        ("admin@contoso.onmicrosoft.com", true),
    ] {
        let domain = upn.split('@').nth(1).unwrap();
        operator.create_user(domain, upn, Some("Correct-Horse-42"), admin).await.unwrap();
    }
    let as_user = |upn: &'static str| (Upn::parse(upn).unwrap(), upn);

    // A user who is not an administrator, and another tenant's administrator: refused, each
    // change, before anything is stored.
    for (upn, _) in [as_user("analyst@fabrikam.onmicrosoft.com"), as_user("admin@contoso.onmicrosoft.com")] {
        let user = DirectoryAdmin::new(&store, &hasher, &clock, Actor::User(&upn));
        let forbidden = |result: Result<(), AdminError>, what: &str| {
            assert!(matches!(result, Err(AdminError::Forbidden(_))), "{upn}: {what}: {result:?}");
        };
        forbidden(user.add_secret(app_id, "stolen", None).await.map(drop), "add a secret");
        forbidden(user.delete_secret(app_id, secret.record.key_id).await, "delete a secret");
        forbidden(user.add_permissions(app_id, &["Incident.ReadWrite.All".into()]).await.map(drop), "permissions");
        forbidden(user.delete_certificate(app_id, "00").await, "delete a certificate");
        forbidden(user.reset_password("admin@fabrikam.onmicrosoft.com").await.map(drop), "reset a password");
        forbidden(
            user.create_user("fabrikam.onmicrosoft.com", "new@fabrikam.onmicrosoft.com", None, true).await.map(drop),
            "create a user",
        );
        forbidden(user.create_tenant("Shadow", None).await.map(drop), "create a tenant");
    }
    // The non-administrator may not register an application in their tenant either.
    let (analyst, _) = as_user("analyst@fabrikam.onmicrosoft.com");
    let user = DirectoryAdmin::new(&store, &hasher, &clock, Actor::User(&analyst));
    let registered = user.register_application("fabrikam.onmicrosoft.com", "Shadow", true, &[]).await;
    assert!(matches!(registered, Err(AdminError::Forbidden(_))));
    // Contoso's administrator manages Contoso's consent, not Fabrikam's.
    let (contoso_admin, _) = as_user("admin@contoso.onmicrosoft.com");
    let contoso = DirectoryAdmin::new(&store, &hasher, &clock, Actor::User(&contoso_admin));
    contoso.revoke_consent("contoso.onmicrosoft.com", app_id).await.unwrap();
    let other = contoso.grant_consent("fabrikam.onmicrosoft.com", app_id).await;
    assert!(matches!(other, Err(AdminError::Forbidden(_))), "{other:?}");

    assert_eq!(operator.list_secrets(app_id).await.unwrap().len(), 1, "nothing was added or deleted");
    assert!(operator.get_application(app_id).await.unwrap().required_app_roles.is_empty());

    // The tenant's Global Administrator may.
    let (fabrikam_admin, _) = as_user("admin@fabrikam.onmicrosoft.com");
    let admin = DirectoryAdmin::new(&store, &hasher, &clock, Actor::User(&fabrikam_admin));
    admin.add_secret(app_id, "rotated", None).await.unwrap();
    admin.delete_secret(app_id, secret.record.key_id).await.unwrap();
}
