//! `threatgate demo`: a partner (Fabrikam) with a multi-tenant app, and three customers, two
//! of which have consented; then the service, and ready-to-paste commands.
//!
//! On a used data directory it reuses what is there; credentials that `demo.json` recorded
//! are kept when they still work, and replaced (new secret, new password) when not.
//! `demo.json` is written last, once the listener is bound and the data is in place.

use std::path::Path;

use anyhow::Context;
use threatgate_domain::{Application, SignInAudience, THREAT_PROTECTION};
use threatgate_identity::{Actor, ClientSecret, DirectoryAdmin, SystemClock};
use threatgate_proto::{DemoApp, DemoCustomer, DemoManifest, DemoPartner};
use threatgate_server::Application as Service;

use crate::cli::ServeArgs;
use crate::serve::{Loaded, load_config, print_listening, shutdown_signal};

const PARTNER: (&str, &str) = ("Fabrikam", "fabrikam.onmicrosoft.com");
const APP_NAME: &str = "Fabrikam Threat Connector";
const REDIRECT_URI: &str = "https://portal.azure.com";
/// Customers: name, domain, whether they consent.
const CUSTOMERS: [(&str, &str, bool); 3] = [
    ("Contoso", "contoso.onmicrosoft.com", true),
    ("Woodgrove", "woodgrove.onmicrosoft.com", true),
    ("Northwind", "northwind.onmicrosoft.com", false),
];

pub async fn demo(args: ServeArgs) -> anyhow::Result<()> {
    let Loaded { config, scratch } = load_config(&args)?;
    // Its presence must mean "ready": remove the old one first, remembering its credentials.
    let manifest_path = config.data_dir.join("demo.json");
    let previous: Option<DemoManifest> =
        std::fs::read(&manifest_path).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok());
    match std::fs::remove_file(&manifest_path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            return Err(error).with_context(|| format!("removing {}", manifest_path.display()));
        }
        _ => {}
    }
    let service = Service::build(&config).await?;
    let manifest_path = service.data_dir().demo_manifest_path();

    let identity = service.identity();
    let admin = DirectoryAdmin::new(
        identity.store().as_ref(),
        identity.hasher(),
        &SystemClock,
        Actor::Operator("threatgate demo"),
    );
    let mut manifest = seed(&admin, previous.as_ref()).await?;
    seed_incidents(identity.store().as_ref(), &admin, &manifest).await?;
    identity.refresh().await?;
    if service.emulator_enabled() {
        // What `threatgate emulator reset` returns to.
        threatgate_store::CheckpointStore::save_checkpoint(identity.store().as_ref())
            .await
            .context("saving the emulator's checkpoint")?;
    }

    manifest.authority = service.public_url().to_owned();
    manifest.api_base = service.public_url().to_owned();
    manifest.ca_certificate = service.ca_certificate_path().map(|p| p.display().to_string()).unwrap_or_default();
    let data_dir = manifest_path.parent().unwrap_or(Path::new("."));
    write_partner_profile(data_dir, &manifest)?;
    // demo.json last: its presence tells scripts that everything is ready.
    write_atomically(&manifest_path, &serde_json::to_vec_pretty(&manifest)?)?;

    print_listening(&service, scratch.is_some());
    let external_database = config.database_url.is_some();
    print_instructions(&manifest, &GuideContext { manifest_path: &manifest_path, external_database });
    service.run_until_stopped(shutdown_signal()).await?;
    // `--ephemeral`: the data directory goes with the server.
    drop(scratch);
    Ok(())
}

/// Creates what is missing and returns the manifest (URLs filled in by the caller).
async fn seed(admin: &DirectoryAdmin<'_>, previous: Option<&DemoManifest>) -> anyhow::Result<DemoManifest> {
    let (partner_name, partner_domain) = PARTNER;
    let partner = match admin.get_tenant(partner_domain).await {
        Ok(tenant) => tenant,
        Err(_) => admin.create_tenant(partner_name, Some(partner_domain)).await?,
    };
    let partner_admin = format!("admin@{partner_domain}");
    let partner_password =
        ensure_admin(admin, partner_domain, &partner_admin, previous.map(|m| m.partner.admin_password.as_str()))
            .await?;

    let application = ensure_application(admin, partner_domain).await?;
    let app_id = application.app_id;
    admin
        .add_permissions(
            app_id,
            &[
                "Incident.Read.All".into(),
                "Incident.ReadWrite.All".into(),
                "AdvancedHunting.Read.All".into(),
                // The same data through Microsoft Graph's security API.
                "SecurityIncident.ReadWrite.All".into(),
                "ThreatHunting.Read.All".into(),
            ],
        )
        .await?;
    // "Grant admin consent for Fabrikam", as the partner guide does in the home tenant.
    admin.grant_consent(partner_domain, app_id).await?;
    let client_secret = ensure_secret(admin, &application, previous.map(|m| m.app.client_secret.as_str())).await?;

    let mut customers = Vec::new();
    for (name, domain, consents) in CUSTOMERS {
        let tenant = match admin.get_tenant(domain).await {
            Ok(tenant) => tenant,
            Err(_) => admin.create_tenant(name, Some(domain)).await?,
        };
        let upn = format!("admin@{domain}");
        let remembered =
            previous.and_then(|m| m.customers.iter().find(|c| c.domain == domain)).map(|c| c.admin_password.as_str());
        let password = ensure_admin(admin, domain, &upn, remembered).await?;
        if consents {
            admin.grant_consent(domain, app_id).await?;
        }
        let consented = admin.list_consents(domain).await?.iter().any(|c| c.app_id == application.app_id);
        customers.push(DemoCustomer {
            tenant_id: tenant.id.to_string(),
            domain: domain.to_owned(),
            display_name: tenant.display_name.to_string(),
            consented,
            admin_upn: upn,
            admin_password: password,
        });
    }

    Ok(DemoManifest {
        authority: String::new(),
        api_base: String::new(),
        ca_certificate: String::new(),
        resource: THREAT_PROTECTION.identifier_uri.to_owned(),
        partner: DemoPartner {
            tenant_id: partner.id.to_string(),
            domain: partner_domain.to_owned(),
            admin_upn: partner_admin,
            admin_password: partner_password,
        },
        app: DemoApp {
            app_id: app_id.to_string(),
            display_name: application.display_name.to_string(),
            client_secret: client_secret.expose().to_owned(),
            redirect_uri: REDIRECT_URI.to_owned(),
        },
        customers,
    })
}

/// How many incidents each consented customer starts with from the generator (two more come
/// from the merged pair of `shape_incidents`: 40 in all).
const DEMO_INCIDENTS: u64 = 38;
/// How many ordinary hunting events each consented customer starts with (besides those
/// behind its alerts).
const DEMO_EVENTS: u64 = 5000;

/// Gives each consented customer a few dozen incidents and a few thousand hunting events,
/// once (a data directory from before hunting gets its events on the next run).
async fn seed_incidents(
    store: &dyn threatgate_store::Store,
    admin: &DirectoryAdmin<'_>,
    manifest: &DemoManifest,
) -> anyhow::Result<()> {
    for (index, customer) in manifest.customers.iter().enumerate().filter(|(_, c)| c.consented) {
        let tenant = admin.get_tenant(&customer.tenant_id).await?;
        let scope = threatgate_domain::TenantScope::<threatgate_domain::ReadIncidents>::for_administrator(tenant.id);
        let has_incidents = store.count_incidents(&scope, None).await? > 0;
        let has_events = has_process_events(store, &tenant).await?;
        if has_incidents && has_events {
            continue;
        }
        let plan = crate::incidents::SeedPlan {
            incidents: if has_incidents { 0 } else { DEMO_INCIDENTS },
            events: if has_events { 0 } else { DEMO_EVENTS },
            event_tables: Vec::new(),
            seed: index as u64 + 1,
            days: 30,
        };
        crate::incidents::seed_tenant(store, &tenant, &plan, false).await?;
        if !has_incidents {
            shape_incidents(store, &tenant, plan.seed, &manifest.partner.domain).await?;
        }
    }
    Ok(())
}

/// Gives the fresh incidents of a tenant what a poller must handle: a merged pair (one
/// `Redirected` to the other), then, over the rest by id, a cycle of five states: in progress
/// and assigned with a comment and a tag; resolved as a true positive (malware) with a
/// comment; resolved as a false positive; active and assigned with a tag; active and untouched.
async fn shape_incidents(
    store: &dyn threatgate_store::Store,
    tenant: &threatgate_domain::Tenant,
    seed: u64,
    partner_domain: &str,
) -> anyhow::Result<()> {
    use threatgate_domain::{Classification, Determination, IncidentStatus, Ticks};
    use threatgate_incidents::{IncidentUpdate, prepare_alert};

    let now = Ticks::at(time::OffsetDateTime::now_utc());
    let ingest = threatgate_domain::TenantScope::<threatgate_domain::IngestAlerts>::for_administrator(tenant.id);
    let day = 86_400 * 10_000_000;
    // Two incidents of their own (their alerts share nothing), then an alert that shares an
    // entity with each: correlation merges them.
    let pair: Vec<_> =
        threatgate_seed::generator::AlertGenerator::new(seed + 1_000, tenant.initial_domain.as_str(), 2, now.get(), 1)
            .collect();
    let (Some((_, first)), Some((_, last))) = (pair.first().cloned(), pair.last().cloned()) else {
        anyhow::bail!("the generator gave no alerts for the merged pair");
    };
    let prepared = pair
        .into_iter()
        .map(|(received, alert)| prepare_alert(alert, received))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|why| anyhow::anyhow!("a generated alert is invalid: {why}"))?;
    store.ingest_alerts(&ingest, prepared, day).await?;
    let mut bridge = last.clone();
    bridge.alert_id = format!("{}{}", &last.alert_id[..2], last.alert_id[2..].chars().rev().collect::<String>());
    bridge.title = "Suspicious activity linking two investigations".into();
    bridge.devices.extend(first.devices.iter().cloned());
    bridge.entities.extend(first.entities.iter().cloned());
    let bridge = prepare_alert(bridge, now).map_err(|why| anyhow::anyhow!("the merging alert is invalid: {why}"))?;
    let merged = store.ingest_alerts(&ingest, vec![bridge], 7 * day).await?;
    anyhow::ensure!(
        merged.incidents_merged == 1,
        "the demo's merging alert merged {} incidents",
        merged.incidents_merged
    );

    let read = threatgate_domain::TenantScope::<threatgate_domain::ReadIncidents>::for_administrator(tenant.id);
    let write = threatgate_domain::TenantScope::<threatgate_domain::WriteIncidents>::for_administrator(tenant.id);
    let query = threatgate_domain::odata::IncidentQuery { filter: None, top: 1_000, skip: 0, comment_flags: false };
    let page = store.list_incidents(&read, &query).await?;
    let mut open: Vec<_> = page
        .ids
        .iter()
        .zip(&page.documents)
        .filter(|(_, document)| !document.contains("\"status\":\"Redirected\""))
        .map(|(id, _)| *id)
        .collect();
    open.sort_by_key(|id| id.get());
    let analyst = format!("secops@{partner_domain}");
    for (index, id) in open.into_iter().enumerate() {
        let update = match index % 5 {
            0 => IncidentUpdate {
                status: Some(IncidentStatus::InProgress),
                assigned_to: Some(Some(analyst.clone())),
                tags: Some(vec!["Investigating".into()]),
                comment: Some("Isolating the device while we collect the investigation package.".into()),
                ..IncidentUpdate::default()
            },
            1 => IncidentUpdate {
                status: Some(IncidentStatus::Resolved),
                assigned_to: Some(Some(analyst.clone())),
                classification: Some(Classification::TruePositive),
                determination: Some(Determination::Malware),
                tags: Some(vec!["Remediated".into(), "Malware".into()]),
                comment: Some("Malware removed and credentials reset; closing.".into()),
            },
            2 => IncidentUpdate {
                status: Some(IncidentStatus::Resolved),
                classification: Some(Classification::FalsePositive),
                comment: Some("Expected activity of the IT team's scanner.".into()),
                ..IncidentUpdate::default()
            },
            3 => IncidentUpdate {
                assigned_to: Some(Some(analyst.clone())),
                tags: Some(vec!["VIP".into()]),
                ..IncidentUpdate::default()
            },
            _ => continue,
        };
        match store.update_incident(&write, id, &update, now).await? {
            threatgate_store::UpdateOutcome::Updated(_) => {}
            other => anyhow::bail!("shaping demo incident {}: {other:?}", id.get()),
        }
    }
    Ok(())
}

/// Whether the tenant has any `DeviceProcessEvents` row, asked as a hunting query.
async fn has_process_events(
    store: &dyn threatgate_store::Store,
    tenant: &threatgate_domain::Tenant,
) -> anyhow::Result<bool> {
    let plan = threatgate_hunting::parse("DeviceProcessEvents | take 1")
        .and_then(|query| threatgate_hunting::bind(&query))
        .map_err(|error| anyhow::anyhow!("{}", error.message))?;
    let scope = threatgate_domain::TenantScope::<threatgate_domain::RunHunting>::for_administrator(tenant.id);
    let limits = threatgate_store::HuntLimits { max_rows: 1, timeout: std::time::Duration::from_secs(30) };
    let now = threatgate_domain::Ticks::at(time::OffsetDateTime::now_utc());
    match store.run_hunt(&scope, &plan, now, limits).await? {
        Ok(output) => Ok(!output.rows.is_empty()),
        Err(refusal) => anyhow::bail!("counting the demo's events: {refusal:?}"),
    }
}

/// The tenant's Global Administrator and a password that works: the remembered one if it
/// still does, else a new one.
async fn ensure_admin(
    admin: &DirectoryAdmin<'_>,
    domain: &str,
    upn: &str,
    remembered: Option<&str>,
) -> anyhow::Result<String> {
    if let Some(password) = remembered
        && admin.check_password(upn, password).await?
    {
        return Ok(password.to_owned());
    }
    match admin.create_user(domain, upn, None, true).await {
        Ok(created) => created.generated_password.context("a generated password"),
        Err(threatgate_identity::AdminError::Conflict(_)) => Ok(admin.reset_password(upn).await?),
        Err(other) => Err(other.into()),
    }
}

async fn ensure_application(admin: &DirectoryAdmin<'_>, partner_domain: &str) -> anyhow::Result<Application> {
    let existing = admin
        .list_applications(Some(partner_domain))
        .await?
        .into_iter()
        .find(|a| a.display_name.as_str() == APP_NAME && a.sign_in_audience == SignInAudience::AzureADMultipleOrgs);
    match existing {
        Some(application) => Ok(application),
        None => Ok(admin.register_application(partner_domain, APP_NAME, true, &[REDIRECT_URI.to_owned()]).await?),
    }
}

/// The remembered secret if it still verifies and is unexpired, else a new one.
async fn ensure_secret(
    admin: &DirectoryAdmin<'_>,
    application: &Application,
    remembered: Option<&str>,
) -> anyhow::Result<ClientSecret> {
    let app_id = application.app_id;
    if let Some(value) = remembered {
        let candidate = ClientSecret::from_presented(value);
        if admin.is_current_secret(app_id, &candidate).await? {
            return Ok(candidate);
        }
    }
    Ok(admin.add_secret(app_id, "threatgate demo", None).await?.value)
}

/// The partner toolkit's profile for the demo (`partner.toml`, profile `demo`), with the
/// secret in its own owner-only file next to it, and every customer (the unconsented one too).
fn write_partner_profile(data_dir: &Path, manifest: &DemoManifest) -> anyhow::Result<()> {
    write_atomically(&data_dir.join("partner-secret.txt"), manifest.app.client_secret.as_bytes())?;
    write_atomically(&data_dir.join("partner.toml"), partner_profile(manifest)?.as_bytes())
}

/// The `[demo]` profile, written by a TOML serializer (paths may hold any character).
fn partner_profile(manifest: &DemoManifest) -> anyhow::Result<String> {
    #[derive(serde::Serialize)]
    struct Profile<'a> {
        authority: &'a str,
        api_base: &'a str,
        /// None over plain HTTP (an empty path would name the profile's directory).
        #[serde(skip_serializing_if = "str::is_empty")]
        ca_cert: &'a str,
        client_id: &'a str,
        client_secret_file: &'a str,
        tenants: Vec<&'a str>,
    }
    let profile = Profile {
        authority: &manifest.authority,
        api_base: &manifest.api_base,
        ca_cert: &manifest.ca_certificate,
        client_id: &manifest.app.app_id,
        client_secret_file: "partner-secret.txt",
        tenants: manifest.customers.iter().map(|c| c.domain.as_str()).collect(),
    };
    let table = std::collections::BTreeMap::from([("demo", profile)]);
    Ok(format!(
        "# The demo partner's settings for `threatgate token` and `threatgate incidents`.\n{}",
        toml::to_string(&table)?
    ))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let temporary = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temporary).with_context(|| format!("writing {}", temporary.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// What the guide prints needs to know besides the manifest.
struct GuideContext<'a> {
    manifest_path: &'a Path,
    /// The demo's database is not the data directory's SQLite file (`--database-url` or
    /// `THREATGATE_DATABASE_URL`): administration commands need the same.
    external_database: bool,
}

fn print_instructions(manifest: &DemoManifest, context: &GuideContext<'_>) {
    // The server keeps running when no one reads its output (`demo | head`).
    let _ = crate::output::text(&guide(manifest, context));
}

/// The printed guide: who is who, what to open in a browser, and commands that run as
/// printed (a test runs each), in the partner guide's order.
fn guide(manifest: &DemoManifest, context: &GuideContext<'_>) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let Some(customer) = manifest.customers.iter().find(|c| c.consented) else {
        return out;
    };
    let tenant = &customer.tenant_id;
    let base = &manifest.authority;
    let app = &manifest.app;
    let exe = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_else(|_| "threatgate".into());
    let exe = shell_word(&exe);
    let data_dir = shell_word(&context.manifest_path.parent().map(|p| p.display().to_string()).unwrap_or_default());
    let profiles = shell_word(&context.manifest_path.with_file_name("partner.toml").display().to_string());
    // Over HTTPS, curl trusts the demo's CA; over plain HTTP there is nothing to trust.
    let cacert = if manifest.ca_certificate.is_empty() {
        String::new()
    } else {
        format!("--cacert {} ", shell_word(&manifest.ca_certificate))
    };
    let token_request = format!(
        "curl -s {cacert}-d grant_type=client_credentials -d client_id={} -d scope={}/.default -d client_secret={} {base}/{tenant}/oauth2/v2.0/token",
        app.app_id,
        manifest.resource,
        shell_word(&app.client_secret)
    );
    let _ = writeln!(out, "\nDemo ready. Everything below is in {} as well.\n", context.manifest_path.display());
    let _ = writeln!(
        out,
        "Partner: {} ({}), app \"{}\"",
        manifest.partner.domain, manifest.partner.tenant_id, app.display_name
    );
    let _ = writeln!(out, "  application (client) id: {}", app.app_id);
    let _ = writeln!(out, "  client secret:           {}", app.client_secret);
    let _ = writeln!(
        out,
        "  Global Administrator:    {} / {}",
        manifest.partner.admin_upn, manifest.partner.admin_password
    );
    for c in &manifest.customers {
        let state = if c.consented { "consented" } else { "not consented" };
        let _ = writeln!(
            out,
            "Customer {:<10} {}  {}  ({state}; Global Administrator {} / {})",
            c.display_name, c.tenant_id, c.domain, c.admin_upn, c.admin_password
        );
    }

    let _ = writeln!(
        out,
        "\nIn a browser{}:",
        if cacert.is_empty() { "" } else { " (trust the CA above, or accept the warning)" }
    );
    let _ = writeln!(
        out,
        "  The portal: apps, permissions, secrets, consented apps, incidents, audit trail. Sign in as {}:\n    {base}/portal",
        manifest.partner.admin_upn
    );
    let northwind = manifest.customers.iter().find(|c| !c.consented);
    if let Some(northwind) = northwind {
        let redirect: String = form_urlencoded::byte_serialize(app.redirect_uri.as_bytes()).collect();
        let _ = writeln!(
            out,
            "  The admin-consent link a partner sends a customer; {}'s administrator ({}) signs in and accepts:\n    {base}/{}/v2.0/adminconsent?client_id={}&redirect_uri={redirect}",
            northwind.display_name, northwind.admin_upn, northwind.tenant_id, app.app_id
        );
    }
    let _ = writeln!(out, "  The token decoder (paste a token, see its claims):\n    {base}/decode");

    let _ = writeln!(out, "\n1. The partner guide's curl (v2 endpoint), a token for {}:", customer.display_name);
    let _ = writeln!(
        out,
        "curl -i -X POST -H \"Content-Type:application/x-www-form-urlencoded\" -d \"grant_type=client_credentials\" -d \"client_id={}\" -d \"scope={}/.default\" -d \"client_secret={}\" \"{base}/{tenant}/oauth2/v2.0/token\" -k",
        app.app_id, manifest.resource, app.client_secret
    );
    let _ = writeln!(out, "\n2. What the guide's PowerShell sample does (v1 endpoint, resource=):");
    let _ = writeln!(
        out,
        "curl -s -X POST {cacert}--data-urlencode \"resource={}\" -d \"client_id={}\" -d \"client_secret={}\" -d \"grant_type=client_credentials\" \"{base}/{tenant}/oauth2/token\"",
        manifest.resource, app.app_id, app.client_secret
    );
    let _ = writeln!(out, "\n3. Get a token and decode it (look for \"roles\" and \"tid\"):");
    let _ = writeln!(out, "{token_request} | {exe} decode");
    let _ = writeln!(
        out,
        "\n4. Call the Threat Protection API with a token (the guide's last step; the toolkit gets the token):"
    );
    let _ = writeln!(out, "TOKEN=$({exe} token --profiles {profiles} --profile demo --tenant {})", customer.domain);
    let _ = writeln!(
        out,
        "curl -s {cacert}-H \"Authorization: Bearer $TOKEN\" \"{}/api/incidents?\\$top=5\"",
        manifest.api_base
    );
    let _ = writeln!(
        out,
        "\n5. The partner toolkit: the last 24 hours of incidents in every customer at once (tokens cached,\n   a customer without consent reported on its own line, the others still answered):"
    );
    let _ = writeln!(out, "{exe} incidents list --profiles {profiles} --profile demo --all-tenants --since 24h");
    let _ = writeln!(
        out,
        "\n6. Advanced hunting (KQL) in every customer at once: who ran PowerShell most in the last week:"
    );
    let _ = writeln!(
        out,
        "{exe} hunt --profiles {profiles} --profile demo --all-tenants 'DeviceProcessEvents | where Timestamp > ago(7d) and FileName =~ \"powershell.exe\" | summarize count() by DeviceName | top 5 by count_'"
    );
    if let Some(northwind) = northwind {
        let _ = writeln!(
            out,
            "\n7. {} has not consented: its token request answers AADSTS700016. Consent from the command line\n   (or with the link above){}:",
            northwind.display_name,
            if context.external_database { ", with THREATGATE_DATABASE_URL set to the demo's database" } else { "" }
        );
        let _ = writeln!(
            out,
            "{exe} consent grant --data-dir {data_dir} --tenant {} --app {}",
            northwind.domain, app.app_id
        );
    }
    let _ = writeln!(out, "\nPress Ctrl-C to stop. A second `demo` on this directory reuses everything above.");
    out
}

/// A word as a POSIX shell reads it: as it is when it holds only safe characters, else in
/// single quotes.
fn shell_word(text: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c);
    if !text.is_empty() && text.chars().all(safe) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use threatgate_proto::{DemoApp, DemoCustomer, DemoManifest, DemoPartner};

    #[test]
    fn the_partner_profile_keeps_any_path_and_lists_every_customer() -> anyhow::Result<()> {
        let customer = |domain: &str| DemoCustomer {
            tenant_id: "t".into(),
            domain: domain.into(),
            display_name: "C".into(),
            consented: true,
            admin_upn: "a".into(),
            admin_password: "p".into(),
        };
        let manifest = DemoManifest {
            authority: "https://127.0.0.1:8443".into(),
            api_base: "https://127.0.0.1:8443".into(),
            ca_certificate: "/home/zoë/\"demo\" data\\tls/ca.pem".into(),
            resource: "https://api.security.microsoft.com".into(),
            partner: DemoPartner {
                tenant_id: "p".into(),
                domain: "fabrikam.onmicrosoft.com".into(),
                admin_upn: "a".into(),
                admin_password: "p".into(),
            },
            app: DemoApp {
                app_id: "app".into(),
                display_name: "d".into(),
                client_secret: "never in the profile".into(),
                redirect_uri: "r".into(),
            },
            customers: vec![customer("contoso.onmicrosoft.com"), customer("northwind.onmicrosoft.com")],
        };
        let text = super::partner_profile(&manifest)?;
        assert!(!text.contains("never in the profile"), "the secret stays in its own file");
        let parsed: toml::Value = toml::from_str(&text)?;
        assert_eq!(parsed["demo"]["ca_cert"].as_str(), Some(manifest.ca_certificate.as_str()));
        assert_eq!(parsed["demo"]["client_secret_file"].as_str(), Some("partner-secret.txt"));
        assert_eq!(parsed["demo"]["tenants"].as_array().map(Vec::len), Some(2));
        Ok(())
    }
}
