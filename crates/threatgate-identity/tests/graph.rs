//! Microsoft Graph is a second built-in resource: its service principal is in every tenant, its
//! app roles are requested, consented and carried in tokens for `https://graph.microsoft.com`
//! like Threat Protection's, and a token is for one resource only (its roles, its audience).
#![allow(clippy::unwrap_used, reason = "tests")]

use std::sync::Arc;

use threatgate_domain::{MICROSOFT_GRAPH, ReadIncidents, THREAT_PROTECTION};
use threatgate_identity::{
    Actor, ClientSecret, DirectoryAdmin, IdentityService, IdentitySettings, ManualClock, SecretHasher, TokenEndpoint,
    TokenParameters, TokenRequest,
};
use threatgate_store::{SqliteStore, Store};
use time::macros::datetime;

struct World {
    service: IdentityService,
    app_id: String,
    secret: String,
}

async fn world(permissions: &[&str]) -> World {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().await.unwrap());
    let hasher = Arc::new(SecretHasher::from_key_bytes(&[9; 32]));
    let clock = Arc::new(ManualClock::new(datetime!(2026-12-03 12:00 UTC)));
    let admin = DirectoryAdmin::new(store.as_ref(), &hasher, clock.as_ref(), Actor::Operator("test"));
    admin.create_tenant("Fabrikam", Some("fabrikam.onmicrosoft.com")).await.unwrap();
    let contoso = admin.create_tenant("Contoso", Some("contoso.onmicrosoft.com")).await.unwrap();
    let principals = store.list_service_principals(contoso.id).await.unwrap();
    let mut resources: Vec<_> = principals.iter().map(|p| (p.display_name.as_str(), p.app_id)).collect();
    resources.sort_unstable();
    assert_eq!(
        resources,
        [("Microsoft Graph", MICROSOFT_GRAPH.app_id), ("Microsoft Threat Protection", THREAT_PROTECTION.app_id)],
        "every new tenant has both resources' service principals"
    );
    let app = admin.register_application("fabrikam.onmicrosoft.com", "Connector", true, &[]).await.unwrap();
    let names: Vec<String> = permissions.iter().map(|p| (*p).to_owned()).collect();
    admin.add_permissions(app.app_id, &names).await.unwrap();
    let secret = admin.add_secret(app.app_id, "test", Some(730)).await.unwrap().value.expose().to_owned();
    let consent = admin.grant_consent("contoso.onmicrosoft.com", app.app_id).await.unwrap();
    let mut granted = consent.roles.clone();
    let mut wanted: Vec<&str> = permissions.to_vec();
    granted.sort_unstable();
    wanted.sort_unstable();
    assert_eq!(granted, wanted, "the consent grants every requested role, of both resources");
    let kek = Arc::new(threatgate_identity::KeyEncryptionKey::from_bytes(&[5; 32]).unwrap());
    let service = IdentityService::open(store, clock, hasher, kek, IdentitySettings::default()).await.unwrap();
    World { service, app_id: app.app_id.to_string(), secret }
}

impl World {
    fn issue(&self, endpoint: TokenEndpoint, requested: &str) -> Result<(String, Vec<String>), String> {
        let (scope, resource) = match endpoint {
            TokenEndpoint::V2 => (Some(requested.to_owned()), None),
            TokenEndpoint::V1 => (None, Some(requested.to_owned())),
        };
        let parameters = TokenParameters {
            grant_type: Some("client_credentials".into()),
            client_id: Some(self.app_id.clone()),
            client_secret: Some(ClientSecret::from_presented(self.secret.clone())),
            scope,
            resource,
            ..TokenParameters::default()
        };
        let request =
            TokenRequest { endpoint, tenant: "contoso.onmicrosoft.com", parameters, basic: None, origins: &[] };
        self.service.issue_token(request).map(|t| (t.access_token, t.roles)).map_err(|e| format!("{e:?}"))
    }

    fn claims(token: &str) -> serde_json::Value {
        let payload = token.split('.').nth(1).unwrap();
        let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }
}

#[tokio::test]
async fn a_token_carries_the_roles_of_the_resource_it_is_for() {
    let world = world(&["Incident.Read.All", "SecurityIncident.ReadWrite.All", "ThreatHunting.Read.All"]).await;

    let (graph, roles) = world.issue(TokenEndpoint::V2, "https://graph.microsoft.com/.default").unwrap();
    assert_eq!(roles, ["SecurityIncident.ReadWrite.All", "ThreatHunting.Read.All"]);
    let claims = World::claims(&graph);
    assert_eq!(claims["aud"], "https://graph.microsoft.com");
    assert_eq!(claims["ver"], "1.0");
    let caller = world.service.verify_bearer(&graph).unwrap();
    assert_eq!(caller.resource.app_id, MICROSOFT_GRAPH.app_id);
    assert_eq!(caller.roles, ["SecurityIncident.ReadWrite.All", "ThreatHunting.Read.All"]);
    // A Graph token is not a Threat Protection permission, whatever its roles.
    assert!(caller.authorize::<ReadIncidents>().is_none());

    let (by_id, _) = world.issue(TokenEndpoint::V2, "00000003-0000-0000-c000-000000000000/.default").unwrap();
    assert_eq!(World::claims(&by_id)["aud"], "00000003-0000-0000-c000-000000000000");
    let (v1, v1_roles) = world.issue(TokenEndpoint::V1, "https://graph.microsoft.com/").unwrap();
    assert_eq!(World::claims(&v1)["aud"], "https://graph.microsoft.com");
    assert_eq!(v1_roles, roles);

    let (mtp, mtp_roles) = world.issue(TokenEndpoint::V2, "https://api.security.microsoft.com/.default").unwrap();
    assert_eq!(mtp_roles, ["Incident.Read.All"]);
    let caller = world.service.verify_bearer(&mtp).unwrap();
    assert_eq!(caller.resource.app_id, THREAT_PROTECTION.app_id);
    assert!(caller.authorize::<ReadIncidents>().is_some());
}

#[tokio::test]
async fn a_consent_without_graph_roles_still_gives_a_graph_token_without_roles() {
    // As Entra ID does: the token is issued, and the API refuses it for its missing roles.
    let world = world(&["Incident.Read.All"]).await;
    let (graph, roles) = world.issue(TokenEndpoint::V2, "https://graph.microsoft.com/.default").unwrap();
    assert!(roles.is_empty());
    let caller = world.service.verify_bearer(&graph).unwrap();
    assert!(caller.roles.is_empty());
    // Another resource's scope is still refused.
    let refused = world.issue(TokenEndpoint::V2, "https://management.azure.com/.default").unwrap_err();
    assert!(refused.contains("InvalidScope"), "{refused}");
}

#[tokio::test]
async fn graph_permissions_are_named_by_value_and_unknown_ones_list_both_resources() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    let hasher = SecretHasher::from_key_bytes(&[9; 32]);
    let clock = ManualClock::new(datetime!(2026-12-03 12:00 UTC));
    let admin = DirectoryAdmin::new(&store, &hasher, &clock, Actor::Operator("test"));
    admin.create_tenant("Fabrikam", Some("fabrikam.onmicrosoft.com")).await.unwrap();
    let app = admin.register_application("fabrikam.onmicrosoft.com", "Connector", true, &[]).await.unwrap();
    let app = admin.add_permissions(app.app_id, &["securityalert.read.all".into()]).await.unwrap();
    assert_eq!(app.required_app_roles[0].resource_app_id, MICROSOFT_GRAPH.app_id);
    let refused = admin.add_permissions(app.app_id, &["Mail.Read".into()]).await.unwrap_err().to_string();
    assert!(refused.contains("Microsoft Graph: SecurityIncident.Read.All"), "{refused}");
    assert!(refused.contains("Microsoft Threat Protection: Incident.Read.All"), "{refused}");
}

/// An application acting through Graph's directory API changes its own tenant only, with the
/// same rules as an administrator.
#[tokio::test]
async fn an_application_actor_changes_only_its_tokens_tenant() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    let hasher = SecretHasher::from_key_bytes(&[9; 32]);
    let clock = ManualClock::new(datetime!(2026-12-03 12:00 UTC));
    let operator = DirectoryAdmin::new(&store, &hasher, &clock, Actor::Operator("test"));
    let fabrikam = operator.create_tenant("Fabrikam", Some("fabrikam.onmicrosoft.com")).await.unwrap();
    let contoso = operator.create_tenant("Contoso", Some("contoso.onmicrosoft.com")).await.unwrap();
    let connector = operator.register_application("fabrikam.onmicrosoft.com", "Connector", true, &[]).await.unwrap();
    let single = operator.register_application("fabrikam.onmicrosoft.com", "Internal", false, &[]).await.unwrap();

    let in_contoso =
        DirectoryAdmin::new(&store, &hasher, &clock, Actor::Application { name: "Onboarder", tenant: contoso.id });
    let principal = in_contoso.create_service_principal(contoso.id, connector.app_id).await.unwrap();
    assert!(matches!(
        in_contoso.create_service_principal(contoso.id, connector.app_id).await,
        Err(threatgate_identity::AdminError::Conflict(_))
    ));
    // Not in another tenant, not an application registered for its home tenant only.
    for refused in [
        in_contoso.create_service_principal(fabrikam.id, connector.app_id).await.unwrap_err(),
        in_contoso.register_application("fabrikam.onmicrosoft.com", "x", true, &[]).await.unwrap_err(),
        in_contoso.add_secret(connector.app_id, "x", None).await.unwrap_err(),
    ] {
        assert!(matches!(refused, threatgate_identity::AdminError::Forbidden(_)), "{refused}");
    }
    let refused = in_contoso.create_service_principal(contoso.id, single.app_id).await.unwrap_err();
    assert!(refused.to_string().contains("home tenant only"), "{refused}");

    // A role of a built-in resource, assigned once; the consent listing shows it.
    let principals = operator.service_principals(contoso.id).await.unwrap();
    let graph = principals.iter().find(|p| p.app_id == MICROSOFT_GRAPH.app_id).unwrap();
    let role = MICROSOFT_GRAPH.find_role("SecurityIncident.Read.All").unwrap();
    let assignment =
        in_contoso.assign_app_role(contoso.id, principal.object_id, graph.object_id, role.id).await.unwrap();
    assert!(matches!(
        in_contoso.assign_app_role(contoso.id, principal.object_id, graph.object_id, role.id).await,
        Err(threatgate_identity::AdminError::Conflict(_))
    ));
    let listed = operator.list_consents("contoso.onmicrosoft.com").await.unwrap();
    assert_eq!(listed.iter().find(|c| c.app_id == connector.app_id).unwrap().roles, ["SecurityIncident.Read.All"]);
    // A resource's role only on that resource; the resource itself gets none.
    let threat_protection = principals.iter().find(|p| p.app_id == THREAT_PROTECTION.app_id).unwrap();
    assert!(
        in_contoso
            .assign_app_role(contoso.id, principal.object_id, threat_protection.object_id, role.id)
            .await
            .is_err()
    );
    assert!(in_contoso.assign_app_role(contoso.id, graph.object_id, graph.object_id, role.id).await.is_err());
    in_contoso.remove_app_role_assignment(contoso.id, assignment.id).await.unwrap();
    let listed = operator.list_consents("contoso.onmicrosoft.com").await.unwrap();
    assert!(listed.iter().find(|c| c.app_id == connector.app_id).unwrap().roles.is_empty());
}
