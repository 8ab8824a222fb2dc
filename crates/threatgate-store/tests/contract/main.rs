//! The store contract: every backend must pass these. `store_tests!` expands each test once
//! per backend (SQLite now; PostgreSQL joins by adding a line to the macro).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

use std::sync::Arc;

use threatgate_domain::{
    AppId, AppRoleId, Application, CertificateCredentialRecord, ClientSecretRecord, DisplayName, DomainName,
    IncidentId, KeyId, ObjectId, RedirectUri, RequiredAppRole, ServicePrincipal, SignInAudience, THREAT_PROTECTION,
    Tenant, TenantId, Ticks, UnixSeconds, Upn, User, UserRole,
};
use threatgate_store::{
    AccessEntry, AccessLogQuery, AccessOperation, AuditCategory, AuditEvent, AuditRecord, AuditTrailQuery,
    ConsentGrant, DirectoryStore, RoleGrant, SessionRecord, SigningKeyRecord, SqliteStore, Store, StoreError,
    TenantKey,
};
use time::OffsetDateTime;
use uuid::Uuid;

macro_rules! store_tests {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    let store: std::sync::Arc<dyn threatgate_store::Store> =
                        std::sync::Arc::new(threatgate_store::SqliteStore::open_in_memory().await.unwrap());
                    super::$test(store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    let Some(database) = threatgate_store::testing::TestDatabase::create().await else { return };
                    super::$test(database.open().await).await;
                }
            )*
        }
    };
}

store_tests!(
    a_tenant_is_found_by_id_and_by_each_domain,
    a_domain_belongs_to_one_tenant,
    an_application_round_trips_with_its_uris_and_permissions,
    secrets_are_added_listed_and_deleted,
    consent_is_idempotent_and_revocation_removes_every_grant,
    every_change_moves_the_revision_and_load_sees_it,
    users_are_unique_by_upn,
    signing_keys_round_trip,
    sessions_are_found_until_they_expire,
    the_access_log_is_read_per_tenant_newest_first_and_pages,
    recent_access_entries_survive_the_retention_cleanup,
    certificates_are_added_once_listed_loaded_and_deleted,
    the_audit_trail_shows_a_tenant_its_own_events_and_its_applications_elsewhere,
    ingested_alerts_become_incidents_listed_filtered_paged_and_updated_per_tenant,
    an_incident_holds_at_most_a_thousand_alerts_and_then_a_new_one_opens,
    a_missing_key_is_added_once_however_many_add_it_at_once,
    a_copy_into_the_other_backend_holds_everything_and_continues_the_ids,
    alert_comments_are_kept_per_tenant_and_read_in_one_lookup,
    quota_counts_add_up_across_reports_and_old_windows_go,
    hunting_golden_queries_answer_as_kql_does,
    hunting_limits_rows_and_reads_only_the_callers_tenant,
    hunting_tables_hold_every_column_of_the_schema,
    hunting_text_keeps_every_character_and_has_finds_indexed_terms,
    hunting_stops_a_query_at_its_timeout_and_frees_its_connection,
    hunting_runs_the_largest_queries_the_limits_accept,
    hunting_client_mistakes_found_while_running_are_refusals,
    hunting_stops_reading_rows_when_the_sink_says_so,
);

mod hunting;
use hunting::{
    hunting_client_mistakes_found_while_running_are_refusals, hunting_golden_queries_answer_as_kql_does,
    hunting_limits_rows_and_reads_only_the_callers_tenant, hunting_runs_the_largest_queries_the_limits_accept,
    hunting_stops_a_query_at_its_timeout_and_frees_its_connection, hunting_stops_reading_rows_when_the_sink_says_so,
    hunting_tables_hold_every_column_of_the_schema, hunting_text_keeps_every_character_and_has_finds_indexed_terms,
};

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap()
}

fn guid() -> Uuid {
    Uuid::new_v4()
}

async fn tenant(store: &dyn Store, name: &str) -> (Tenant, ServicePrincipal) {
    let domain = DomainName::initial_for(name).unwrap();
    let tenant = Tenant {
        id: TenantId::from_uuid(guid()),
        display_name: DisplayName::parse(name).unwrap(),
        initial_domain: domain.clone(),
        domains: vec![domain],
        created_at: now(),
    };
    let resource = ServicePrincipal {
        object_id: ObjectId::from_uuid(guid()),
        tenant_id: tenant.id,
        app_id: THREAT_PROTECTION.app_id,
        display_name: THREAT_PROTECTION.display_name.into(),
        created_at: now(),
        consented_by: None,
        consented_at: None,
    };
    store.insert_tenant(&tenant, std::slice::from_ref(&resource)).await.unwrap();
    (tenant, resource)
}

async fn application(store: &dyn Store, home: &Tenant) -> Application {
    let application = Application {
        app_id: AppId::from_uuid(guid()),
        object_id: ObjectId::from_uuid(guid()),
        home_tenant_id: home.id,
        display_name: DisplayName::parse("Connector").unwrap(),
        sign_in_audience: SignInAudience::AzureADMultipleOrgs,
        redirect_uris: vec![
            RedirectUri::parse("https://portal.azure.com").unwrap(),
            RedirectUri::parse("http://localhost:8400/").unwrap(),
        ],
        required_app_roles: vec![RequiredAppRole {
            resource_app_id: THREAT_PROTECTION.app_id,
            app_role_id: THREAT_PROTECTION.roles[0].id,
        }],
        created_at: now(),
    };
    let home_principal = ServicePrincipal {
        object_id: ObjectId::from_uuid(guid()),
        tenant_id: home.id,
        app_id: application.app_id,
        display_name: "Connector".into(),
        created_at: now(),
        consented_by: None,
        consented_at: None,
    };
    store.insert_application(&application, &home_principal).await.unwrap();
    application
}

/// A Global Administrator of `home` (whose domain is fabrikam.onmicrosoft.com).
fn fabrikam_admin(home: &Tenant) -> User {
    User {
        object_id: ObjectId::from_uuid(guid()),
        tenant_id: home.id,
        upn: Upn::parse("admin@fabrikam.onmicrosoft.com").unwrap(),
        display_name: DisplayName::parse("admin").unwrap(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        role: UserRole::GlobalAdministrator,
        created_at: now(),
    }
}

fn consent(tenant: &Tenant, app: &Application, resource: &ServicePrincipal, roles: &[AppRoleId]) -> ConsentGrant {
    ConsentGrant {
        tenant_id: tenant.id,
        app_id: app.app_id,
        new_service_principal_id: ObjectId::from_uuid(guid()),
        service_principal_display_name: app.display_name.to_string(),
        roles: roles
            .iter()
            .map(|role| RoleGrant {
                resource_service_principal_id: resource.object_id,
                app_role_id: *role,
                assignment_id: ObjectId::from_uuid(guid()),
            })
            .collect(),
        at: now(),
        consented_by: "admin@contoso.onmicrosoft.com".into(),
    }
}

fn access_entry(tenant: TenantId, operation: AccessOperation, incident_ids: &[i64]) -> AccessEntry {
    AccessEntry {
        at: 17_900_000_000_000_000,
        tenant_id: tenant,
        app_id: AppId::from_uuid(guid()),
        app_name: "Partner <connector>".into(),
        operation,
        incident_id: (operation != AccessOperation::ListIncidents).then(|| IncidentId::new(incident_ids[0])),
        incident_ids: incident_ids.iter().copied().map(IncidentId::new).collect(),
        status: 200,
        result: format!("{} incidents", incident_ids.len()),
        detail: "$filter=status eq 'Active'".into(),
        request_id: guid().to_string(),
        client_address: Some("127.0.0.1".into()),
    }
}

async fn the_access_log_is_read_per_tenant_newest_first_and_pages(store: Arc<dyn Store>) {
    let (contoso, _) = tenant(store.as_ref(), "Contoso").await;
    let (woodgrove, _) = tenant(store.as_ref(), "Woodgrove").await;
    let entries = vec![
        access_entry(contoso.id, AccessOperation::ListIncidents, &[3, 2, 1]),
        access_entry(woodgrove.id, AccessOperation::ListIncidents, &[]),
        access_entry(contoso.id, AccessOperation::GetIncident, &[2]),
        access_entry(contoso.id, AccessOperation::UpdateIncident, &[3]),
        access_entry(contoso.id, AccessOperation::GetIncident, &[3]),
    ];
    store.append_access_entries(&entries).await.unwrap();
    store.append_access_entries(&[]).await.unwrap();

    let scope = threatgate_domain::TenantScope::for_administrator(contoso.id);
    let all = store.list_access_entries(&scope, &AccessLogQuery { limit: 100, ..Default::default() }).await.unwrap();
    let read: Vec<AccessEntry> = all.iter().map(|stored| stored.entry.clone()).collect();
    assert_eq!(read, vec![entries[4].clone(), entries[3].clone(), entries[2].clone(), entries[0].clone()]);
    assert!(all.windows(2).all(|pair| pair[0].id > pair[1].id), "newest first");

    let first = store.list_access_entries(&scope, &AccessLogQuery { limit: 2, ..Default::default() }).await.unwrap();
    let next = AccessLogQuery { limit: 2, before_id: Some(first[1].id), ..Default::default() };
    let second = store.list_access_entries(&scope, &next).await.unwrap();
    assert_eq!([first, second].concat(), all, "paging by id neither repeats nor skips");

    let of_three = AccessLogQuery { limit: 100, incident_id: Some(IncidentId::new(3)), ..Default::default() };
    let touching = store.list_access_entries(&scope, &of_three).await.unwrap();
    assert_eq!(
        touching.iter().map(|s| s.entry.clone()).collect::<Vec<_>>(),
        vec![entries[4].clone(), entries[3].clone()]
    );

    let later = AccessLogQuery { limit: 100, since: Some(entries[0].at + 1), ..Default::default() };
    assert!(store.list_access_entries(&scope, &later).await.unwrap().is_empty());

    let other = threatgate_domain::TenantScope::for_administrator(woodgrove.id);
    let theirs = store.list_access_entries(&other, &AccessLogQuery { limit: 100, ..Default::default() }).await.unwrap();
    assert_eq!(theirs.len(), 1, "each tenant reads only its own entries");
}

async fn recent_access_entries_survive_the_retention_cleanup(store: Arc<dyn Store>) {
    let (contoso, _) = tenant(store.as_ref(), "Contoso").await;
    let now_ticks = OffsetDateTime::now_utc().unix_timestamp() * 10_000_000;
    let old = AccessEntry {
        at: now_ticks - 40 * 86_400 * 10_000_000,
        ..access_entry(contoso.id, AccessOperation::GetIncident, &[1])
    };
    let recent = AccessEntry {
        at: now_ticks - 3_600 * 10_000_000,
        ..access_entry(contoso.id, AccessOperation::GetIncident, &[2])
    };
    store.append_access_entries(&[old, recent.clone()]).await.unwrap();
    // Asked to drop everything, the cleanup still keeps the last day.
    assert_eq!(store.delete_access_entries_before(Ticks(now_ticks)).await.unwrap(), 1);
    let scope = threatgate_domain::TenantScope::for_administrator(contoso.id);
    let left = store.list_access_entries(&scope, &AccessLogQuery { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(left.into_iter().map(|s| s.entry).collect::<Vec<_>>(), vec![recent]);
}

async fn a_tenant_is_found_by_id_and_by_each_domain(store: Arc<dyn Store>) {
    let (created, _) = tenant(store.as_ref(), "Contoso").await;
    let by_id = store.find_tenant(TenantKey::Id(created.id)).await.unwrap();
    assert_eq!(by_id.as_ref(), Some(&created));
    let by_domain = store.find_tenant(TenantKey::Domain(&created.initial_domain)).await.unwrap();
    assert_eq!(by_domain, Some(created.clone()));
    let unknown = DomainName::parse("nowhere.onmicrosoft.com").unwrap();
    assert_eq!(store.find_tenant(TenantKey::Domain(&unknown)).await.unwrap(), None);
    assert_eq!(store.list_tenants().await.unwrap(), vec![created]);
}

async fn a_domain_belongs_to_one_tenant(store: Arc<dyn Store>) {
    tenant(store.as_ref(), "Contoso").await;
    let clash = Tenant {
        id: TenantId::from_uuid(guid()),
        display_name: DisplayName::parse("Contoso 2").unwrap(),
        initial_domain: DomainName::parse("contoso.onmicrosoft.com").unwrap(),
        domains: vec![DomainName::parse("contoso.onmicrosoft.com").unwrap()],
        created_at: now(),
    };
    let result = store.insert_tenant(&clash, &[]).await;
    assert!(matches!(result, Err(StoreError::Conflict("domain"))), "{result:?}");
    assert_eq!(store.list_tenants().await.unwrap().len(), 1, "nothing of the failed tenant was kept");
}

async fn an_application_round_trips_with_its_uris_and_permissions(store: Arc<dyn Store>) {
    let (home, _) = tenant(store.as_ref(), "Fabrikam").await;
    let created = application(store.as_ref(), &home).await;
    assert_eq!(store.find_application(created.app_id).await.unwrap(), Some(created.clone()));
    assert_eq!(store.list_applications(Some(home.id)).await.unwrap(), vec![created.clone()]);

    let all_roles: Vec<RequiredAppRole> = THREAT_PROTECTION
        .roles
        .iter()
        .map(|role| RequiredAppRole { resource_app_id: THREAT_PROTECTION.app_id, app_role_id: role.id })
        .collect();
    store.set_required_app_roles(created.app_id, &all_roles).await.unwrap();
    let updated = store.find_application(created.app_id).await.unwrap().unwrap();
    assert_eq!(updated.required_app_roles.len(), 3);
    let unknown = store.set_required_app_roles(AppId::from_uuid(guid()), &all_roles).await;
    assert!(matches!(unknown, Err(StoreError::NotFound("application"))));
    let principals = store.list_service_principals(home.id).await.unwrap();
    assert!(principals.iter().any(|p| p.app_id == created.app_id), "registration creates the home service principal");
}

async fn secrets_are_added_listed_and_deleted(store: Arc<dyn Store>) {
    let (home, _) = tenant(store.as_ref(), "Fabrikam").await;
    let app = application(store.as_ref(), &home).await;
    let secret = ClientSecretRecord {
        key_id: ObjectId::from_uuid(guid()),
        app_id: app.app_id,
        description: "ci".into(),
        hint: "abc".into(),
        value_hash: vec![1; 32],
        start: now(),
        end: now() + time::Duration::days(180),
    };
    store.insert_client_secret(&secret).await.unwrap();
    assert_eq!(store.list_client_secrets(app.app_id).await.unwrap(), vec![secret.clone()]);
    let orphan =
        ClientSecretRecord { key_id: ObjectId::from_uuid(guid()), app_id: AppId::from_uuid(guid()), ..secret.clone() };
    assert!(matches!(store.insert_client_secret(&orphan).await, Err(StoreError::NotFound("application"))));
    assert!(store.delete_client_secret(app.app_id, secret.key_id).await.unwrap());
    assert!(!store.delete_client_secret(app.app_id, secret.key_id).await.unwrap());
    assert!(store.list_client_secrets(app.app_id).await.unwrap().is_empty());
}

async fn certificates_are_added_once_listed_loaded_and_deleted(store: Arc<dyn Store>) {
    let (home, _) = tenant(store.as_ref(), "Fabrikam").await;
    let app = application(store.as_ref(), &home).await;
    let before = store.revision().await.unwrap();
    let certificate = CertificateCredentialRecord {
        key_id: ObjectId::from_uuid(guid()),
        app_id: app.app_id,
        description: "CN=connector".into(),
        thumbprint: "84E05C1D98BCE3A5421D225B140B36E86A3D5534".into(),
        thumbprint_sha256: "AB".repeat(32),
        certificate_der: vec![0x30, 0x82, 1, 2, 3],
        start: now(),
        end: now() + time::Duration::days(365),
    };
    store.insert_certificate_credential(&certificate).await.unwrap();
    assert!(store.revision().await.unwrap() > before, "a new certificate reaches the token path");
    assert_eq!(store.list_certificate_credentials(app.app_id).await.unwrap(), vec![certificate.clone()]);
    assert_eq!(store.load_directory().await.unwrap().certificates, vec![certificate.clone()]);
    let again = CertificateCredentialRecord { key_id: ObjectId::from_uuid(guid()), ..certificate.clone() };
    assert!(matches!(store.insert_certificate_credential(&again).await, Err(StoreError::Conflict(_))));
    let orphan = CertificateCredentialRecord { app_id: AppId::from_uuid(guid()), ..again };
    assert!(matches!(store.insert_certificate_credential(&orphan).await, Err(StoreError::NotFound("application"))));
    assert!(store.delete_certificate_credential(app.app_id, certificate.key_id).await.unwrap());
    assert!(!store.delete_certificate_credential(app.app_id, certificate.key_id).await.unwrap());
    assert!(store.list_certificate_credentials(app.app_id).await.unwrap().is_empty());
}

fn audit_event(at: i64, tenant: TenantId, app: Option<&Application>, operation: &str) -> AuditEvent {
    AuditEvent {
        at,
        tenant_id: tenant,
        app_id: app.map(|app| app.app_id),
        app_tenant_id: app.map(|app| app.home_tenant_id),
        app_name: app.map(|app| app.display_name.to_string()).unwrap_or_default(),
        category: if operation == "IssueToken" { AuditCategory::Token } else { AuditCategory::Consent },
        operation: operation.into(),
        actor: "admin@contoso.onmicrosoft.com".into(),
        target: "t".into(),
        result: "success".into(),
        detail: "roles=Incident.Read.All".into(),
        client_address: Some("192.0.2.7".into()),
    }
}

async fn the_audit_trail_shows_a_tenant_its_own_events_and_its_applications_elsewhere(store: Arc<dyn Store>) {
    let (partner, _) = tenant(store.as_ref(), "Fabrikam").await;
    let (customer, _) = tenant(store.as_ref(), "Contoso").await;
    let (bystander, _) = tenant(store.as_ref(), "Woodgrove").await;
    let app = application(store.as_ref(), &partner).await;
    let t = 17_900_000_000_000_000;
    let events = vec![
        audit_event(t, customer.id, Some(&app), "GrantConsent"),
        audit_event(t + 10, customer.id, Some(&app), "IssueToken"),
        audit_event(t + 30, bystander.id, None, "CreateUser"),
    ];
    store.append_audit_events(&events).await.unwrap();
    let call = AccessEntry {
        at: t + 20,
        app_id: app.app_id,
        ..access_entry(customer.id, AccessOperation::ListIncidents, &[1])
    };
    store.append_access_entries(std::slice::from_ref(&call)).await.unwrap();

    let trail = |tenant: TenantId, applications: Vec<AppId>, since: Option<i64>| {
        let store = Arc::clone(&store);
        async move {
            let scope = threatgate_domain::TenantScope::for_administrator(tenant);
            let query = AuditTrailQuery { applications, since, until: None, limit: 100 };
            threatgate_store::read_audit_trail(store.as_ref(), &scope, &query).await.unwrap()
        }
    };
    let operations = |records: &[AuditRecord]| -> Vec<String> {
        records
            .iter()
            .map(|record| match record {
                AuditRecord::Api(entry) => entry.entry.operation.as_str().to_owned(),
                AuditRecord::Event(event) => event.event.operation.clone(),
            })
            .collect()
    };
    // The customer: everything that happened in it, newest first, API calls included.
    let customers = trail(customer.id, vec![], None).await;
    assert_eq!(operations(&customers), ["ListIncidents", "IssueToken", "GrantConsent"]);
    // The partner: what its application did in the customer's tenant.
    let partners = trail(partner.id, vec![app.app_id], None).await;
    assert_eq!(operations(&partners), ["ListIncidents", "IssueToken", "GrantConsent"]);
    // Anyone else sees none of it.
    assert_eq!(operations(&trail(bystander.id, vec![], None).await), ["CreateUser"]);
    assert_eq!(operations(&trail(customer.id, vec![], Some(t + 5)).await), ["ListIncidents", "IssueToken"]);

    let line: serde_json::Value = serde_json::from_str(&customers[1].json_line()).unwrap();
    assert_eq!(line["category"], "token");
    assert_eq!(line["operation"], "IssueToken");
    assert_eq!(line["applicationId"], app.app_id.to_string());
    let api: serde_json::Value = serde_json::from_str(&customers[0].json_line()).unwrap();
    assert_eq!(api["category"], "api");
    assert_eq!(api["incidentIds"], serde_json::json!([1]));

    let now_ticks = OffsetDateTime::now_utc().unix_timestamp() * 10_000_000;
    let recent = audit_event(now_ticks - 60 * 10_000_000, customer.id, None, "RevokeConsent");
    store.append_audit_events(&[recent]).await.unwrap();
    assert_eq!(
        store.delete_audit_events_before(Ticks(now_ticks)).await.unwrap(),
        3,
        "the old ones go, the last day stays"
    );
}

async fn ingested_alerts_become_incidents_listed_filtered_paged_and_updated_per_tenant(store: Arc<dyn Store>) {
    use threatgate_domain::odata::IncidentQuery;
    use threatgate_domain::{IngestAlerts, ReadIncidents, TenantScope, WriteIncidents};

    let (contoso, _) = tenant(store.as_ref(), "Contoso").await;
    let (woodgrove, _) = tenant(store.as_ref(), "Woodgrove").await;
    let now = 17_900_000_000_000_000;
    let alerts: Vec<_> = threatgate_seed::generator::AlertGenerator::new(7, "contoso.onmicrosoft.com", 40, now, 7)
        .map(|(received, alert)| threatgate_incidents::prepare_alert(alert, received).unwrap())
        .collect();
    let ingest = TenantScope::<IngestAlerts>::for_administrator(contoso.id);
    let window = 24 * 3_600 * 10_000_000;
    let report = store.ingest_alerts(&ingest, alerts.clone(), window).await.unwrap();
    assert_eq!(report.alerts_added as usize, alerts.len());
    assert!(report.incidents_created >= 40, "{report:?}");
    let again = store.ingest_alerts(&ingest, alerts[..5].to_vec(), window).await.unwrap();
    assert_eq!((again.alerts_added, again.duplicates_skipped), (0, 5), "an alert id is taken once");

    let read = TenantScope::<ReadIncidents>::for_administrator(contoso.id);
    let total = store.count_incidents(&read, None).await.unwrap();
    assert_eq!(total, report.incidents_created);
    let query = |text: &str| {
        IncidentQuery::parse(
            form_urlencoded::parse(text.as_bytes()).collect::<Vec<_>>().iter().map(|(k, v)| (k.as_ref(), v.as_ref())),
        )
        .unwrap()
    };
    let everything = store.list_incidents(&read, &query("$top=100")).await.unwrap();
    assert_eq!(everything.documents.len() as u64, total);
    let documents: Vec<serde_json::Value> =
        everything.documents.iter().map(|document| serde_json::from_str(document).unwrap()).collect();
    let order: Vec<(String, i64)> = documents
        .iter()
        .map(|d| (d["lastUpdateTime"].as_str().unwrap().to_owned(), d["incidentId"].as_i64().unwrap()))
        .collect();
    let mut sorted = order.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(order, sorted, "newest change first, then the higher id");
    assert_eq!(everything.ids, order.iter().map(|(_, id)| IncidentId::new(*id)).collect::<Vec<_>>());

    // Pages neither repeat nor skip; the filter agrees with the documents.
    let first = store.list_incidents(&read, &query("$top=7")).await.unwrap();
    let second = store.list_incidents(&read, &query("$top=7&$skip=7")).await.unwrap();
    assert!(first.more && second.ids.len() == 7);
    assert_eq!([first.ids, second.ids].concat(), everything.ids[..14].to_vec());
    let redirected = documents.iter().filter(|d| d["status"] == "Redirected").count();
    let not_redirected = store.list_incidents(&read, &query("$top=100&$filter=status ne 'Redirected'")).await.unwrap();
    assert_eq!(not_redirected.ids.len(), documents.len() - redirected);
    let filter = query("$filter=status ne 'Redirected'").filter.unwrap();
    assert_eq!(store.count_incidents(&read, Some(&filter)).await.unwrap(), (documents.len() - redirected) as u64);

    // An update is kept and moves the incident to the top.
    let target = *not_redirected.ids.last().unwrap();
    let write = TenantScope::<WriteIncidents>::for_administrator(contoso.id);
    let update = threatgate_incidents::IncidentUpdate {
        assigned_to: Some(Some("analyst@contoso.com".into())),
        comment: Some("looked at it".into()),
        ..Default::default()
    };
    let outcome = store.update_incident(&write, target, &update, Ticks(now + 10_000_000_000)).await.unwrap();
    assert!(matches!(outcome, threatgate_store::UpdateOutcome::Updated(_)), "{outcome:?}");
    let assigned = store.list_incidents(&read, &query("$filter=assignedTo eq 'analyst@contoso.com'")).await.unwrap();
    assert_eq!(assigned.ids, vec![target]);
    assert_eq!(store.list_incidents(&read, &query("$top=1")).await.unwrap().ids, vec![target]);
    let got: serde_json::Value =
        serde_json::from_str(&store.get_incident(&read, target).await.unwrap().unwrap()).unwrap();
    assert_eq!(got["assignedTo"], "analyst@contoso.com");

    // Another tenant sees none of it.
    let theirs = TenantScope::<ReadIncidents>::for_administrator(woodgrove.id);
    assert_eq!(store.count_incidents(&theirs, None).await.unwrap(), 0);
    assert!(store.get_incident(&theirs, target).await.unwrap().is_none());
    let foreign = TenantScope::<WriteIncidents>::for_administrator(woodgrove.id);
    assert!(matches!(
        store.update_incident(&foreign, target, &update, Ticks(now)).await.unwrap(),
        threatgate_store::UpdateOutcome::NotFound
    ));
}

/// Alerts sharing an entity join one incident until it holds `MAX_ALERTS_PER_INCIDENT`; the next
/// opens a new incident, which the ones after it join (whether the first filled up in an
/// earlier batch or in the same one).
async fn an_incident_holds_at_most_a_thousand_alerts_and_then_a_new_one_opens(store: Arc<dyn Store>) {
    use threatgate_domain::odata::IncidentQuery;
    use threatgate_domain::{IngestAlerts, ReadIncidents, TenantScope};
    use threatgate_incidents::MAX_ALERTS_PER_INCIDENT;

    let (contoso, _) = tenant(store.as_ref(), "Contoso").await;
    let now = 17_900_000_000_000_000;
    let (received, template) =
        threatgate_seed::generator::AlertGenerator::new(11, "contoso.onmicrosoft.com", 1, now, 1).next().unwrap();
    let alert = |n: usize| {
        let mut alert = template.clone();
        alert.alert_id = format!("da-cap-{n}");
        threatgate_incidents::prepare_alert(alert, received).unwrap()
    };
    let ingest = TenantScope::<IngestAlerts>::for_administrator(contoso.id);
    let window = 24 * 3_600 * 10_000_000;
    let first = MAX_ALERTS_PER_INCIDENT - 400;
    store.ingest_alerts(&ingest, (0..first).map(alert).collect(), window).await.unwrap();
    store.ingest_alerts(&ingest, (first..MAX_ALERTS_PER_INCIDENT + 5).map(alert).collect(), window).await.unwrap();
    store.ingest_alerts(&ingest, vec![alert(MAX_ALERTS_PER_INCIDENT + 5)], window).await.unwrap();

    let read = TenantScope::<ReadIncidents>::for_administrator(contoso.id);
    let query = IncidentQuery::parse([("$top", "100")]).unwrap();
    let page = store.list_incidents(&read, &query).await.unwrap();
    let mut sizes: Vec<(i64, usize)> = page
        .documents
        .iter()
        .map(|document| {
            let incident: serde_json::Value = serde_json::from_str(document).unwrap();
            (incident["incidentId"].as_i64().unwrap(), incident["alerts"].as_array().unwrap().len())
        })
        .collect();
    sizes.sort_unstable();
    assert_eq!(
        sizes.iter().map(|(_, n)| *n).collect::<Vec<_>>(),
        vec![MAX_ALERTS_PER_INCIDENT, 6],
        "the first incident is full, the next took the rest: {sizes:?}"
    );
}

async fn consent_is_idempotent_and_revocation_removes_every_grant(store: Arc<dyn Store>) {
    let (home, _) = tenant(store.as_ref(), "Fabrikam").await;
    let (customer, resource) = tenant(store.as_ref(), "Contoso").await;
    let app = application(store.as_ref(), &home).await;
    let roles = [THREAT_PROTECTION.roles[0].id, THREAT_PROTECTION.roles[1].id];
    let first = store.grant_consent(&consent(&customer, &app, &resource, &roles)).await.unwrap();
    let second = store.grant_consent(&consent(&customer, &app, &resource, &roles)).await.unwrap();
    assert_eq!(first, second, "the service principal is created once");
    assert_eq!(store.list_app_role_assignments(customer.id).await.unwrap().len(), 2, "no duplicate grants");

    assert!(store.revoke_consent(customer.id, app.app_id).await.unwrap());
    assert!(store.list_app_role_assignments(customer.id).await.unwrap().is_empty());
    let principals = store.list_service_principals(customer.id).await.unwrap();
    assert_eq!(principals, vec![resource], "only the built-in resource is left");
    assert!(!store.revoke_consent(customer.id, app.app_id).await.unwrap());
}

async fn every_change_moves_the_revision_and_load_sees_it(store: Arc<dyn Store>) {
    let start = store.revision().await.unwrap();
    let (home, _) = tenant(store.as_ref(), "Fabrikam").await;
    let after_tenant = store.revision().await.unwrap();
    assert!(after_tenant > start);
    let (customer, resource) = tenant(store.as_ref(), "Contoso").await;
    let app = application(store.as_ref(), &home).await;
    store.grant_consent(&consent(&customer, &app, &resource, &[THREAT_PROTECTION.roles[0].id])).await.unwrap();
    let after_consent = store.revision().await.unwrap();
    assert!(after_consent > after_tenant);

    let data = store.load_directory().await.unwrap();
    assert_eq!(data.revision, after_consent);
    assert_eq!(data.tenants.len(), 2);
    assert_eq!(data.applications, vec![app.clone()]);
    assert_eq!(data.app_role_assignments.len(), 1);
    assert_eq!(data.service_principals.len(), 4, "two built-in, the home one, the consented one");

    store.revoke_consent(customer.id, app.app_id).await.unwrap();
    assert!(store.revision().await.unwrap() > after_consent, "a revocation moves the revision too");
}

async fn users_are_unique_by_upn(store: Arc<dyn Store>) {
    let (home, _) = tenant(store.as_ref(), "Fabrikam").await;
    let user = fabrikam_admin(&home);
    store.insert_user(&user).await.unwrap();
    let again = User { object_id: ObjectId::from_uuid(guid()), ..user.clone() };
    assert!(matches!(store.insert_user(&again).await, Err(StoreError::Conflict("user"))));
    assert_eq!(store.find_user_by_upn(&user.upn).await.unwrap(), Some(user.clone()));
    assert!(store.set_user_password(&user.upn, "$argon2id$new").await.unwrap());
    assert_eq!(store.find_user_by_upn(&user.upn).await.unwrap().unwrap().password_hash, "$argon2id$new");
    assert_eq!(store.list_users(home.id).await.unwrap().len(), 1);
}

async fn signing_keys_round_trip(store: Arc<dyn Store>) {
    let key = SigningKeyRecord {
        kid: KeyId::new("kid-1"),
        private_key_pkcs8: vec![1, 2, 3],
        certificate_der: vec![4, 5, 6],
        created_at: now(),
        activates_at: now(),
        retired_at: None,
    };
    store.insert_signing_key(&key).await.unwrap();
    assert!(matches!(store.insert_signing_key(&key).await, Err(StoreError::Conflict("signing key"))));
    let next =
        SigningKeyRecord { kid: KeyId::new("kid-2"), activates_at: now() + time::Duration::days(30), ..key.clone() };
    store.insert_signing_key(&next).await.unwrap();
    assert_eq!(store.list_signing_keys().await.unwrap(), vec![key.clone(), next.clone()]);

    // Bringing the next key forward, then retiring the first: only the second is listed.
    let revision = store.revision().await.unwrap();
    assert!(store.set_signing_key_activation(&next.kid, now() + time::Duration::days(2)).await.unwrap());
    assert!(store.retire_signing_key(&key.kid, now() + time::Duration::days(3)).await.unwrap());
    assert!(!store.retire_signing_key(&key.kid, now()).await.unwrap(), "already retired");
    assert!(!store.set_signing_key_activation(&key.kid, now()).await.unwrap(), "a retired key stays retired");
    assert!(!store.set_signing_key_activation(&KeyId::new("nope"), now()).await.unwrap());
    let moved = SigningKeyRecord { activates_at: now() + time::Duration::days(2), ..next };
    assert_eq!(store.list_signing_keys().await.unwrap(), vec![moved]);
    assert!(store.revision().await.unwrap() > revision, "other processes see key changes");
}

async fn a_missing_key_is_added_once_however_many_add_it_at_once(store: Arc<dyn Store>) {
    let key = |kid: &str| SigningKeyRecord {
        kid: KeyId::new(kid),
        private_key_pkcs8: vec![1],
        certificate_der: vec![2],
        created_at: now(),
        activates_at: now() + time::Duration::days(30),
        retired_at: None,
    };
    let (from, until) = (now() + time::Duration::seconds(1), now() + time::Duration::days(3650));
    // Eight "nodes" find the next key missing at the same moment.
    let attempts = (0..8).map(|node| {
        let store = Arc::clone(&store);
        let key = key(&format!("next-{node}"));
        async move { store.insert_signing_key_unless_published(&key, from, until).await.unwrap() }
    });
    let inserted = join_all_spawned(attempts).await;
    assert_eq!(inserted.iter().filter(|added| **added).count(), 1, "{inserted:?}");
    assert_eq!(store.list_signing_keys().await.unwrap().len(), 1);
    // Outside the window, a key is added.
    assert!(
        store
            .insert_signing_key_unless_published(&key("current"), now() - time::Duration::days(1), now())
            .await
            .unwrap()
    );
}

/// Runs the futures concurrently, each on its own task.
async fn join_all_spawned<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut outputs = Vec::new();
    for handle in handles {
        outputs.push(handle.await.unwrap());
    }
    outputs
}

/// A store of the other backend: PostgreSQL for SQLite (when configured), SQLite for PostgreSQL.
async fn other_backend(store: &dyn Store) -> (Arc<dyn Store>, Option<threatgate_store::testing::TestDatabase>) {
    let is_sqlite = format!("{store:?}").starts_with("SqliteStore");
    if is_sqlite && let Some(database) = threatgate_store::testing::TestDatabase::create().await {
        return (database.open().await, Some(database));
    }
    (Arc::new(SqliteStore::open_in_memory().await.unwrap()), None)
}

async fn a_copy_into_the_other_backend_holds_everything_and_continues_the_ids(store: Arc<dyn Store>) {
    use threatgate_domain::{IngestAlerts, TenantScope};
    // A small world: partner, customer with a consent, a user, a secret, a certificate, keys,
    // incidents, log records.
    let (partner, _) = tenant(store.as_ref(), "Fabrikam").await;
    let (customer, resource) = tenant(store.as_ref(), "Contoso").await;
    let app = application(store.as_ref(), &partner).await;
    store.insert_user(&fabrikam_admin(&partner)).await.unwrap();
    store
        .insert_client_secret(&ClientSecretRecord {
            key_id: ObjectId::from_uuid(guid()),
            app_id: app.app_id,
            description: "ci".into(),
            hint: "abc".into(),
            value_hash: vec![7; 32],
            start: now(),
            end: now() + time::Duration::days(10),
        })
        .await
        .unwrap();
    store.grant_consent(&consent(&customer, &app, &resource, &[THREAT_PROTECTION.roles[0].id])).await.unwrap();
    let key = SigningKeyRecord {
        kid: KeyId::new("kid-1"),
        private_key_pkcs8: vec![1, 2, 3],
        certificate_der: vec![4, 5, 6],
        created_at: now(),
        activates_at: now(),
        retired_at: None,
    };
    store.insert_signing_key(&key).await.unwrap();
    let at = 17_900_000_000_000_000;
    let alerts: Vec<_> = threatgate_seed::generator::AlertGenerator::new(3, "contoso.onmicrosoft.com", 30, at, 5)
        .map(|(received, alert)| threatgate_incidents::prepare_alert(alert, received).unwrap())
        .collect();
    let ingest = TenantScope::<IngestAlerts>::for_administrator(customer.id);
    store.ingest_alerts(&ingest, alerts, 24 * 3_600 * 10_000_000).await.unwrap();
    store.append_access_entries(&[access_entry(customer.id, AccessOperation::ListIncidents, &[1, 2])]).await.unwrap();
    store.append_audit_events(&[audit_event(at, customer.id, Some(&app), "GrantConsent")]).await.unwrap();
    // A comment on one alert (Graph's), kept beside the incident document.
    let first = store.export_incidents(0, 1).await.unwrap().remove(0);
    let write = TenantScope::<threatgate_domain::WriteIncidents>::for_administrator(customer.id);
    let commented = store.add_alert_comment(&write, &first.alert_ids[0], "triaged", Ticks(at)).await.unwrap();
    assert!(matches!(commented, threatgate_store::CommentOutcome::Added(ref list) if list.len() == 1));

    let (target, _database) = other_backend(store.as_ref()).await;
    let mut stages = Vec::new();
    let report =
        threatgate_store::copy_store(store.as_ref(), target.as_ref(), |stage| stages.push(stage)).await.unwrap();
    assert_eq!((report.tenants, report.users, report.applications, report.consents), (2, 1, 1, 1), "{report:?}");
    assert_eq!(
        (report.client_secrets, report.signing_keys, report.access_log_entries, report.audit_events),
        (1, 1, 1, 1)
    );
    assert!(stages.contains(&threatgate_store::CopyProgress::Logs { done: 2 }), "{stages:?}");
    assert!(matches!(stages.last(), Some(threatgate_store::CopyProgress::Events { .. })), "{stages:?}");
    // The hunting tables (here the alerts' AlertInfo and AlertEvidence rows) come along.
    let hunt = |store: Arc<dyn Store>, query: &'static str| async move {
        let plan = threatgate_hunting::bind(&threatgate_hunting::parse(query).unwrap()).unwrap();
        let scope = TenantScope::<threatgate_domain::RunHunting>::for_administrator(customer.id);
        let limits = threatgate_store::HuntLimits { max_rows: 10_000, timeout: std::time::Duration::from_secs(30) };
        store.run_hunt(&scope, &plan, Ticks(at), limits).await.unwrap().unwrap().rows
    };
    let all = "AlertEvidence | project AlertId, EntityType, DeviceName, AccountUpn, SHA256, RemoteIP | order by AlertId asc, EntityType asc, DeviceName asc, AccountUpn asc, SHA256 asc, RemoteIP asc";
    let evidence = hunt(store.clone(), all).await;
    assert!(evidence.len() > 30, "{}", evidence.len());
    assert_eq!(hunt(target.clone(), all).await, evidence);
    let infos = hunt(store.clone(), "AlertInfo | count").await;
    assert_eq!(hunt(target.clone(), "AlertInfo | count").await, infos);
    assert_eq!(report.hunting_events, evidence.len() as u64 + infos[0][0].as_u64().unwrap());

    // The directory reads back the same (revisions differ: they count changes).
    let (mut source, mut copied) = (store.load_directory().await.unwrap(), target.load_directory().await.unwrap());
    source.revision = 0;
    copied.revision = 0;
    assert_eq!(copied.tenants, source.tenants);
    assert_eq!(copied.applications, source.applications);
    assert_eq!(copied.client_secrets, source.client_secrets);
    assert_eq!(copied.app_role_assignments, source.app_role_assignments);
    assert_eq!(copied.service_principals, source.service_principals);
    assert_eq!(target.list_signing_keys().await.unwrap(), vec![key]);
    let all = |store: Arc<dyn Store>| async move { store.export_incidents(0, 1_000).await.unwrap() };
    let incidents = all(Arc::clone(&store)).await;
    assert_eq!(all(Arc::clone(&target)).await, incidents, "incidents, ids, alerts, comments and entity keys");
    assert_eq!(incidents[0].alert_comments.len(), 1, "the comment is part of the copy");
    assert_eq!(report.incidents, incidents.len() as u64);

    // New incidents continue after the copied ids; a second copy into it is refused.
    let more: Vec<_> = threatgate_seed::generator::AlertGenerator::new(4, "contoso.onmicrosoft.com", 1, at + 1, 1)
        .map(|(received, alert)| threatgate_incidents::prepare_alert(alert, received).unwrap())
        .collect();
    target.ingest_alerts(&ingest, more, 0).await.unwrap();
    let highest = incidents.iter().map(|incident| incident.incident_id).max().unwrap();
    assert!(target.export_incidents(highest, 10).await.unwrap().iter().all(|incident| incident.incident_id > highest));
    assert_eq!(target.count_all_incidents().await.unwrap(), incidents.len() as u64 + 1);
    let again = threatgate_store::copy_store(store.as_ref(), target.as_ref(), |_| {}).await;
    assert!(matches!(again, Err(threatgate_store::CopyError::TargetNotEmpty(_))), "{again:?}");
}

async fn alert_comments_are_kept_per_tenant_and_read_in_one_lookup(store: Arc<dyn Store>) {
    use threatgate_domain::{IngestAlerts, ReadIncidents, TenantScope, WriteIncidents};
    use threatgate_store::CommentOutcome;
    let (contoso, _) = tenant(store.as_ref(), "Contoso").await;
    let (woodgrove, _) = tenant(store.as_ref(), "Woodgrove").await;
    let at = 17_900_000_000_000_000;
    // More alerts than one lookup statement takes, so the lookup is split.
    let alerts: Vec<_> = threatgate_seed::generator::AlertGenerator::new(5, "contoso.onmicrosoft.com", 700, at, 1)
        .map(|(received, alert)| threatgate_incidents::prepare_alert(alert, received).unwrap())
        .collect();
    let ids: Vec<String> = alerts.iter().map(|a| a.alert.alert_id.clone()).collect();
    store.ingest_alerts(&TenantScope::<IngestAlerts>::for_administrator(contoso.id), alerts, 0).await.unwrap();
    let write = TenantScope::<WriteIncidents>::for_administrator(contoso.id);
    let (first, last) = (&ids[0], &ids[ids.len() - 1]);
    for (id, text) in [(first, "one"), (last, "two"), (first, "three")] {
        assert!(matches!(
            store.add_alert_comment(&write, id, text, Ticks(at)).await.unwrap(),
            CommentOutcome::Added(_)
        ));
    }
    // Another tenant has no such alert, to write or to read.
    let other = TenantScope::<WriteIncidents>::for_administrator(woodgrove.id);
    assert_eq!(store.add_alert_comment(&other, first, "x", Ticks(at)).await.unwrap(), CommentOutcome::NotFound);
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let found =
        store.alert_comments(&TenantScope::<ReadIncidents>::for_administrator(contoso.id), &refs).await.unwrap();
    assert_eq!(found.len(), 2);
    let texts: Vec<&str> = found[first].iter().map(|c| c.comment.as_str()).collect();
    assert_eq!(texts, ["one", "three"]);
    assert_eq!(found[last][0].created_by, "Threatgate administrator");
    assert_eq!(found[last][0].created_time, threatgate_domain::datetime::format_ticks(at));
    // The incidents list says whether a page's alerts have comments, when asked.
    let flags = threatgate_domain::odata::IncidentQuery { filter: None, top: 2000, skip: 0, comment_flags: true };
    let page =
        store.list_incidents(&TenantScope::<ReadIncidents>::for_administrator(contoso.id), &flags).await.unwrap();
    assert!(page.commented);
    let page =
        store.list_incidents(&TenantScope::<ReadIncidents>::for_administrator(woodgrove.id), &flags).await.unwrap();
    assert!(!page.commented);
    let elsewhere =
        store.alert_comments(&TenantScope::<ReadIncidents>::for_administrator(woodgrove.id), &refs).await.unwrap();
    assert!(elsewhere.is_empty());
    assert!(
        store
            .alert_comments(&TenantScope::<ReadIncidents>::for_administrator(contoso.id), &[])
            .await
            .unwrap()
            .is_empty()
    );

    // Past a thousand commented alerts the lookup goes by the ids asked, in statements of a
    // bounded size: the same answer.
    for id in &ids[1..1001] {
        store.add_alert_comment(&write, id, "bulk", Ticks(at)).await.unwrap();
    }
    let read = TenantScope::<ReadIncidents>::for_administrator(contoso.id);
    let found = store.alert_comments(&read, &refs).await.unwrap();
    assert_eq!(found.len(), 1002);
    let texts: Vec<&str> = found[first].iter().map(|c| c.comment.as_str()).collect();
    assert_eq!(texts, ["one", "three"]);
    assert_eq!(found[&ids[500]][0].comment, "bulk");
    let some = store.alert_comments(&read, &refs[1000..]).await.unwrap();
    assert_eq!(some.len(), 2, "ids[1000] and the last");

    // An alert's comments are bounded in bytes too: long comments fill it sooner.
    let long = "x".repeat(4000);
    let mut added = 0;
    while let CommentOutcome::Added(_) = store.add_alert_comment(&write, &ids[1050], &long, Ticks(at)).await.unwrap() {
        added += 1;
        assert!(added <= 20, "a limit of 64 KiB");
    }
    assert_eq!(added, 16, "sixteen comments of 4,000 characters (and their author and time) fit in 64 KiB");
}

async fn quota_counts_add_up_across_reports_and_old_windows_go(store: Arc<dyn Store>) {
    let count = |key: &str, window_index: i64, calls: i64| threatgate_store::QuotaCount {
        key: key.into(),
        length_seconds: 60,
        window_index,
        calls,
    };
    let first = store.add_quota_counts(&[count("t/a/list", 100, 30), count("t/a/get", 100, 2)]).await.unwrap();
    assert_eq!(first, vec![count("t/a/list", 100, 30), count("t/a/get", 100, 2)]);
    // Another node's report: totals come back in the order asked; 0 adds nothing but reads.
    let second = store
        .add_quota_counts(&[count("t/a/get", 100, 0), count("t/a/list", 100, 20), count("t/a/list", 101, 1)])
        .await
        .unwrap();
    assert_eq!(second, vec![count("t/a/get", 100, 2), count("t/a/list", 100, 50), count("t/a/list", 101, 1)]);
    // Windows that ended before 101 × 60 s go; the one that ends later stays.
    assert_eq!(store.delete_quota_counts_before(UnixSeconds(101 * 60)).await.unwrap(), 2);
    assert_eq!(store.add_quota_counts(&[count("t/a/list", 101, 0)]).await.unwrap(), vec![count("t/a/list", 101, 1)]);
}

async fn sessions_are_found_until_they_expire(store: Arc<dyn Store>) {
    let (home, _) = tenant(store.as_ref(), "Fabrikam").await;
    let user = fabrikam_admin(&home);
    store.insert_user(&user).await.unwrap();
    let session = SessionRecord {
        token_hash: vec![9; 32],
        user_id: user.object_id,
        tenant_id: home.id,
        upn: user.upn.clone(),
        csrf_token: "csrf".into(),
        created_at: now(),
        expires_at: now() + time::Duration::hours(8),
    };
    store.insert_session(&session).await.unwrap();
    assert_eq!(store.find_session(&[9; 32], now()).await.unwrap(), Some(session.clone()));
    assert_eq!(store.find_session(&[8; 32], now()).await.unwrap(), None, "another cookie finds nothing");
    let later = now() + time::Duration::hours(9);
    assert_eq!(store.find_session(&[9; 32], later).await.unwrap(), None, "an expired session is not found");
    assert_eq!(store.delete_expired_sessions(later).await.unwrap(), 1);
    store.insert_session(&SessionRecord { token_hash: vec![7; 32], ..session }).await.unwrap();
    store.delete_session(&[7; 32]).await.unwrap();
    assert_eq!(store.find_session(&[7; 32], now()).await.unwrap(), None, "a deleted session is gone");
}

/// Two handles on one database file, as the server and an administration command have:
/// a write through one moves the revision the other reads.
#[tokio::test]
async fn two_processes_sharing_a_sqlite_file_see_each_others_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("threatgate.db");
    let server = SqliteStore::open(&path).await.unwrap();
    let cli = SqliteStore::open(&path).await.unwrap();
    let before = server.revision().await.unwrap();
    let (created, _) = tenant(&cli, "Contoso").await;
    assert!(server.revision().await.unwrap() > before);
    assert_eq!(server.find_tenant(TenantKey::Id(created.id)).await.unwrap(), Some(created));
}

/// The emulator's reset: what changed after a checkpoint goes, what was there comes back with
/// the same ids, the logs stay, and readers see a new revision.
async fn a_checkpoint_brings_back_the_saved_state_and_keeps_the_logs(store: Arc<dyn Store>) {
    use threatgate_domain::{IngestAlerts, TenantScope, WriteIncidents};
    assert!(
        matches!(store.restore_checkpoint().await, Err(StoreError::NotFound("checkpoint"))),
        "nothing to restore before a save"
    );
    let (customer, _) = tenant(store.as_ref(), "Contoso").await;
    let at = 17_900_000_000_000_000;
    let alerts = |seed: u64, count: u64| -> Vec<_> {
        threatgate_seed::generator::AlertGenerator::new(seed, "contoso.onmicrosoft.com", count, at, 3)
            .map(|(received, alert)| threatgate_incidents::prepare_alert(alert, received).unwrap())
            .collect()
    };
    let ingest = TenantScope::<IngestAlerts>::for_administrator(customer.id);
    store.ingest_alerts(&ingest, alerts(3, 20), 0).await.unwrap();
    let saved_incidents = store.export_incidents(0, 1_000).await.unwrap();
    let saved_directory = store.load_directory().await.unwrap();
    let hunt = |store: Arc<dyn Store>, query: &'static str| async move {
        let plan = threatgate_hunting::bind(&threatgate_hunting::parse(query).unwrap()).unwrap();
        let scope = TenantScope::<threatgate_domain::RunHunting>::for_administrator(customer.id);
        let limits = threatgate_store::HuntLimits { max_rows: 10_000, timeout: std::time::Duration::from_secs(30) };
        store.run_hunt(&scope, &plan, Ticks(at), limits).await.unwrap().unwrap().rows
    };
    // Process events, whose command lines a full-text index serves (`has`).
    let processes = threatgate_hunting::events::submittable_table("DeviceProcessEvents").unwrap();
    let process = |line: &str| {
        let event = serde_json::json!([{
            "Timestamp": threatgate_domain::datetime::format_ticks(at - 36_000_000_000),
            "DeviceId": "d1", "DeviceName": "pc1", "FileName": "rundll32.exe", "ProcessCommandLine": line
        }]);
        threatgate_hunting::events::parse_events(processes, &event.to_string()).unwrap()
    };
    store.insert_events(&ingest, processes, &process("rundll32 comsvcs.dll MiniDump 624 first")).await.unwrap();
    let dumps = "DeviceProcessEvents | where ProcessCommandLine has \"MiniDump\" | count";
    assert_eq!(hunt(store.clone(), dumps).await[0][0], 1);
    let saved_infos = hunt(store.clone(), "AlertInfo | count").await;
    store.save_checkpoint().await.unwrap();
    store.insert_events(&ingest, processes, &process("rundll32 comsvcs.dll MiniDump 628 second")).await.unwrap();
    assert_eq!(hunt(store.clone(), dumps).await[0][0], 2);

    // Everything a connector or a partner changes afterwards.
    let (stranger, _) = tenant(store.as_ref(), "Woodgrove").await;
    store.ingest_alerts(&ingest, alerts(4, 5), 0).await.unwrap();
    let after_save = store.export_incidents(0, 1_000).await.unwrap();
    let first_new_id = after_save.iter().map(|i| i.incident_id).max().unwrap();
    assert!(after_save.len() > saved_incidents.len());
    let write = TenantScope::<WriteIncidents>::for_administrator(customer.id);
    let commented = store.add_alert_comment(&write, &saved_incidents[0].alert_ids[0], "triaged", Ticks(at)).await;
    assert!(matches!(commented.unwrap(), threatgate_store::CommentOutcome::Added(_)));
    store.append_access_entries(&[access_entry(customer.id, AccessOperation::ListIncidents, &[1])]).await.unwrap();
    assert_ne!(hunt(store.clone(), "AlertInfo | count").await, saved_infos);
    let revision = store.revision().await.unwrap();

    store.restore_checkpoint().await.unwrap();
    assert_eq!(store.export_incidents(0, 1_000).await.unwrap(), saved_incidents, "incidents, alerts, comments");
    assert_eq!(store.find_tenant(TenantKey::Id(stranger.id)).await.unwrap(), None, "a later tenant is gone");
    let directory = store.load_directory().await.unwrap();
    assert_eq!(directory.tenants, saved_directory.tenants);
    assert_eq!(directory.service_principals, saved_directory.service_principals);
    assert!(directory.revision > revision, "every reader reloads");
    assert_eq!(hunt(store.clone(), "AlertInfo | count").await, saved_infos, "the hunting tables too");
    assert_eq!(hunt(store.clone(), dumps).await[0][0], 1, "and their full-text index");
    assert_eq!(store.export_access_entries(0, 100).await.unwrap().len(), 1, "the access log is append-only");
    // The id sequence is back where it was: the same new alerts make the same new incident.
    store.ingest_alerts(&ingest, alerts(4, 5), 0).await.unwrap();
    let again = store.export_incidents(0, 1_000).await.unwrap();
    assert_eq!(again.iter().map(|i| i.incident_id).max().unwrap(), first_new_id);
    // A second restore of the same checkpoint (its events leave the index as they came), and
    // a new save over the old one.
    store.restore_checkpoint().await.unwrap();
    assert_eq!(store.export_incidents(0, 1_000).await.unwrap(), saved_incidents);
    assert_eq!(hunt(store.clone(), dumps).await[0][0], 1);
    store.save_checkpoint().await.unwrap();
    store.restore_checkpoint().await.unwrap();
    assert_eq!(store.export_incidents(0, 1_000).await.unwrap(), saved_incidents);
}

#[tokio::test]
async fn a_checkpoint_of_a_sqlite_file_brings_back_the_saved_state() {
    use threatgate_store::CheckpointStore;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("threatgate.db")).await.unwrap());
    a_checkpoint_brings_back_the_saved_state_and_keeps_the_logs(store).await;
    assert!(dir.path().join("threatgate-checkpoint").join("main.db").is_file());
    assert!(!dir.path().join("threatgate-checkpoint.new").exists(), "no half-made checkpoint is left");
    let memory = SqliteStore::open_in_memory().await.unwrap();
    assert!(matches!(memory.save_checkpoint().await, Err(StoreError::Unsupported(_))));
}

#[tokio::test]
async fn a_checkpoint_in_postgresql_brings_back_the_saved_state() {
    let Some(database) = threatgate_store::testing::TestDatabase::create().await else { return };
    a_checkpoint_brings_back_the_saved_state_and_keeps_the_logs(database.open().await).await;
}
