//! The administration commands: thin wrappers over `DirectoryAdmin` that open the data
//! directory, run one operation and print the result. Safe while a server runs on the same
//! directory: it notices the change within its refresh interval.

use std::sync::Arc;

use anyhow::Context;
use serde::Serialize;
use threatgate_domain::{Application, built_in_role, requested_roles};
use threatgate_identity::{Actor, DirectoryAdmin, SecretHasher, SystemClock};
use threatgate_server::DataDir;
use threatgate_store::Store;

use crate::cli::{
    AppCommand, CertificateCommand, ConsentCommand, DataDirArg, KeysCommand, PermissionCommand, SecretCommand,
    TenantCommand, UserCommand,
};
use crate::output::{emit, when};

/// What an administration command needs open.
struct Opened {
    store: Arc<dyn Store>,
    hasher: Arc<SecretHasher>,
}

impl Opened {
    async fn new(data: &DataDirArg) -> anyhow::Result<Self> {
        let (dir, store) = data.open().await?;
        Ok(Self { store, hasher: dir.open_secret_hasher()? })
    }

    fn admin(&self) -> DirectoryAdmin<'_> {
        DirectoryAdmin::new(
            self.store.as_ref(),
            &self.hasher,
            &SystemClock,
            Actor::Operator(threatgate_identity::admin::COMMAND_LINE_ACTOR),
        )
    }
}

pub async fn tenant(command: TenantCommand, json: bool) -> anyhow::Result<()> {
    match command {
        TenantCommand::Create { data, name, domain } => {
            let opened = Opened::new(&data).await?;
            let tenant = opened.admin().create_tenant(&name, domain.as_deref()).await?;
            emit(json, &tenant, || {
                format!("created tenant {} ({}) {}", tenant.display_name, tenant.initial_domain, tenant.id)
            })
        }
        TenantCommand::List { data } => {
            let opened = Opened::new(&data).await?;
            let tenants = opened.admin().list_tenants().await?;
            emit(json, &tenants, || {
                tenants.iter().map(|t| format!("{}  {:<32} {}\n", t.id, t.initial_domain, t.display_name)).collect()
            })
        }
        TenantCommand::Show { data, tenant } => {
            let opened = Opened::new(&data).await?;
            let tenant = opened.admin().get_tenant(&tenant).await?;
            emit(json, &tenant, || {
                let domains: Vec<String> = tenant.domains.iter().map(ToString::to_string).collect();
                format!(
                    "tenant      {}\nname        {}\ndomains     {}\ncreated     {}",
                    tenant.id,
                    tenant.display_name,
                    domains.join(", "),
                    when(tenant.created_at)
                )
            })
        }
    }
}

pub async fn user(command: UserCommand, json: bool) -> anyhow::Result<()> {
    match command {
        UserCommand::Create { data, tenant, upn, password_env, global_admin } => {
            let password = match &password_env {
                Some(variable) => Some(
                    std::env::var(variable).with_context(|| format!("environment variable {variable} is not set"))?,
                ),
                None => None,
            };
            let opened = Opened::new(&data).await?;
            let created = opened.admin().create_user(&tenant, &upn, password.as_deref(), global_admin).await?;
            emit(json, &created, || {
                let mut text = format!(
                    "created user {} ({}) {}",
                    created.user.upn,
                    created.user.role.as_str(),
                    created.user.object_id
                );
                if let Some(password) = &created.generated_password {
                    text.push_str(&format!("\npassword: {password}\n(shown once; store it now)"));
                }
                text
            })
        }
        UserCommand::List { data, tenant } => {
            let opened = Opened::new(&data).await?;
            let users = opened.admin().list_users(&tenant).await?;
            emit(json, &users, || {
                users.iter().map(|u| format!("{}  {:<40} {}\n", u.object_id, u.upn, u.role.as_str())).collect()
            })
        }
        UserCommand::Show { data, upn } => {
            let opened = Opened::new(&data).await?;
            let user = opened.admin().get_user(&upn).await?;
            emit(json, &user, || {
                format!(
                    "user        {}\nobject id   {}\ntenant      {}\nrole        {}\ncreated     {}",
                    user.upn,
                    user.object_id,
                    user.tenant_id,
                    user.role.as_str(),
                    when(user.created_at)
                )
            })
        }
    }
}

/// An application as printed: its permissions by name.
#[derive(Serialize)]
struct ApplicationOutput<'a> {
    #[serde(flatten)]
    application: &'a Application,
    permissions: Vec<&'static str>,
}

/// The application's permissions (role values, unique across the built-in resources),
/// resource by resource.
fn permissions_of(application: &Application) -> Vec<&'static str> {
    requested_roles(&application.required_app_roles).into_iter().map(|(_, role)| role.value).collect()
}

fn describe_application(application: &Application) -> String {
    let uris: Vec<&str> = application.redirect_uris.iter().map(|uri| uri.as_str()).collect();
    format!(
        "application (client) id  {}\nobject id                {}\ndirectory (tenant) id    {}\nname                     {}\nsupported accounts       {}\nredirect URIs            {}\npermissions              {}",
        application.app_id,
        application.object_id,
        application.home_tenant_id,
        application.display_name,
        application.sign_in_audience.as_str(),
        if uris.is_empty() { "-".to_owned() } else { uris.join(", ") },
        permissions_of(application).join(", "),
    )
}

pub async fn app(command: AppCommand, json: bool) -> anyhow::Result<()> {
    match command {
        AppCommand::Register { data, tenant, name, multi_tenant, redirect_uris } => {
            let opened = Opened::new(&data).await?;
            let application = opened.admin().register_application(&tenant, &name, multi_tenant, &redirect_uris).await?;
            let output = ApplicationOutput { permissions: permissions_of(&application), application: &application };
            emit(json, &output, || describe_application(&application))
        }
        AppCommand::List { data, tenant } => {
            let opened = Opened::new(&data).await?;
            let applications = opened.admin().list_applications(tenant.as_deref()).await?;
            let output: Vec<ApplicationOutput<'_>> = applications
                .iter()
                .map(|a| ApplicationOutput { permissions: permissions_of(a), application: a })
                .collect();
            emit(json, &output, || {
                applications
                    .iter()
                    .map(|a| format!("{}  {:<20} {}\n", a.app_id, a.sign_in_audience.as_str(), a.display_name))
                    .collect()
            })
        }
        AppCommand::Show { data, app } => {
            let opened = Opened::new(&data).await?;
            let application = opened.admin().get_application(app).await?;
            let output = ApplicationOutput { permissions: permissions_of(&application), application: &application };
            emit(json, &output, || describe_application(&application))
        }
        AppCommand::Credentials { data, tenant, app, expiring } => {
            let opened = Opened::new(&data).await?;
            let mut report = opened.admin().credential_report(tenant.as_deref(), app).await?;
            if expiring {
                report.retain(|credential| credential.state.needs_rotation());
            }
            emit(json, &report, || {
                let mut text: String = report
                    .iter()
                    .map(|c| {
                        let mark = if c.state.needs_rotation() { "  <- rotate it" } else { "" };
                        let elided = if c.kind == "client secret" { "***" } else { "" };
                        format!(
                            "{}  {:<24} {}  {}  {}{elided}  ends {}  {}{mark}\n",
                            c.app_id,
                            c.app_name,
                            c.kind,
                            c.key_id,
                            c.hint,
                            when(c.end),
                            c.state
                        )
                    })
                    .collect();
                let due = report.iter().filter(|c| c.state.needs_rotation()).count();
                if due > 0 {
                    text.push_str(&format!(
                        "\n{due} credential(s) end within {} days or have ended: add a new one (`app secret add` or `app certificate add`), move clients to it, then delete the old one.",
                        threatgate_domain::EXPIRY_WARNING_DAYS
                    ));
                } else if report.is_empty() {
                    text.push_str("no credentials");
                }
                text
            })
        }
        AppCommand::Secret(command) => secret(command, json).await,
        AppCommand::Certificate(command) => certificate(command, json).await,
        AppCommand::Permission(command) => permission(command, json).await,
    }
}

#[derive(Serialize)]
struct CreatedSecretOutput<'a> {
    #[serde(flatten)]
    record: &'a threatgate_domain::ClientSecretRecord,
    /// The secret value, shown this once.
    value: &'a str,
}

async fn secret(command: SecretCommand, json: bool) -> anyhow::Result<()> {
    match command {
        SecretCommand::Add { data, app, description, expires_in_days } => {
            let opened = Opened::new(&data).await?;
            let created = opened.admin().add_secret(app, &description, expires_in_days).await?;
            let output = CreatedSecretOutput { record: &created.record, value: created.value.expose() };
            emit(json, &output, || {
                format!(
                    "value      {}\nsecret id  {}\nexpires    {}\n\nCopy the value now: it is shown only this once and cannot be retrieved later.",
                    created.value.expose(),
                    created.record.key_id,
                    when(created.record.end)
                )
            })
        }
        SecretCommand::Delete { data, app, key_id } => {
            let opened = Opened::new(&data).await?;
            opened.admin().delete_secret(app, key_id).await?;
            emit(json, &serde_json::json!({ "deleted": key_id }), || format!("deleted secret {key_id}"))
        }
        SecretCommand::List { data, app } => {
            let opened = Opened::new(&data).await?;
            let secrets = opened.admin().list_secrets(app).await?;
            let now = time::OffsetDateTime::now_utc();
            emit(json, &secrets, || {
                secrets
                    .iter()
                    .map(|s| {
                        let state = s.state_at(now);
                        format!("{}  {}***  expires {} ({state})  {}\n", s.key_id, s.hint, when(s.end), s.description)
                    })
                    .collect()
            })
        }
    }
}

async fn certificate(command: CertificateCommand, json: bool) -> anyhow::Result<()> {
    let describe = |c: &threatgate_domain::CertificateCredentialRecord, now| {
        format!(
            "thumbprint  {}\nkey id      {}\nvalid       {} to {} ({})\ndescription {}\n",
            c.thumbprint,
            c.key_id,
            when(c.start),
            when(c.end),
            c.state_at(now),
            c.description
        )
    };
    match command {
        CertificateCommand::Add { data, app, certificate, description } => {
            let upload = std::fs::read(&certificate)
                .with_context(|| format!("reading the certificate {}", certificate.display()))?;
            let opened = Opened::new(&data).await?;
            let record = opened.admin().add_certificate(app, &upload, description.as_deref()).await?;
            emit(json, &record, || describe(&record, time::OffsetDateTime::now_utc()))
        }
        CertificateCommand::Delete { data, app, key_id } => {
            let opened = Opened::new(&data).await?;
            opened.admin().delete_certificate(app, &key_id).await?;
            emit(json, &serde_json::json!({ "deleted": key_id }), || format!("deleted certificate {key_id}"))
        }
        CertificateCommand::List { data, app } => {
            let opened = Opened::new(&data).await?;
            let certificates = opened.admin().list_certificates(app).await?;
            let now = time::OffsetDateTime::now_utc();
            emit(json, &certificates, || {
                if certificates.is_empty() {
                    return "no certificates".into();
                }
                certificates.iter().map(|c| describe(c, now)).collect::<Vec<_>>().join("\n")
            })
        }
    }
}

async fn permission(command: PermissionCommand, json: bool) -> anyhow::Result<()> {
    let (data, app, roles) = match command {
        PermissionCommand::Add { data, app, roles } => (data, app, Some(roles)),
        PermissionCommand::List { data, app } => (data, app, None),
    };
    let opened = Opened::new(&data).await?;
    let application = match roles {
        Some(roles) => opened.admin().add_permissions(app, &roles).await?,
        None => opened.admin().get_application(app).await?,
    };
    let permissions = permissions_of(&application);
    emit(json, &permissions, || {
        let mut text: String = permissions
            .iter()
            .map(|p| {
                let resource = built_in_role(p).map_or("", |(resource, _)| resource.display_name);
                format!("{resource} / {p} (Application)\n")
            })
            .collect();
        text.push_str("Consent is needed in each tenant before tokens carry new permissions: threatgate consent grant --tenant T --app A");
        text
    })
}

pub async fn consent(command: ConsentCommand, json: bool) -> anyhow::Result<()> {
    match command {
        ConsentCommand::Grant { data, tenant, app } => {
            let opened = Opened::new(&data).await?;
            let status = opened.admin().grant_consent(&tenant, app).await?;
            emit(json, &status, || {
                let roles = if status.roles.is_empty() {
                    "no permissions (the app requests none)".into()
                } else {
                    status.roles.join(", ")
                };
                format!("consented {} in tenant {}: {roles}", status.display_name, status.tenant_id)
            })
        }
        ConsentCommand::Revoke { data, tenant, app } => {
            let opened = Opened::new(&data).await?;
            opened.admin().revoke_consent(&tenant, app).await?;
            emit(json, &serde_json::json!({ "revoked": { "tenant": tenant, "app": app } }), || {
                format!("revoked consent of {app} in {tenant}")
            })
        }
        ConsentCommand::List { data, tenant } => {
            let opened = Opened::new(&data).await?;
            let statuses = opened.admin().list_consents(&tenant).await?;
            emit(json, &statuses, || {
                statuses
                    .iter()
                    .map(|s| format!("{}  {:<30} {}\n", s.app_id, s.display_name, s.roles.join(", ")))
                    .collect()
            })
        }
        ConsentCommand::Show { data, tenant, app } => {
            let opened = Opened::new(&data).await?;
            let application = opened.admin().get_application(app).await?;
            let status =
                opened.admin().list_consents(&tenant).await?.into_iter().find(|s| s.app_id == application.app_id);
            let status = status.with_context(|| format!("application {app} is not consented in {tenant}"))?;
            emit(json, &status, || {
                format!(
                    "application        {}\nservice principal  {}\npermissions        {}",
                    status.display_name,
                    status.service_principal_id,
                    status.roles.join(", ")
                )
            })
        }
    }
}

#[derive(Serialize)]
struct KeyOutput {
    kid: String,
    created_at: String,
    activates_at: String,
    signing_now: bool,
}

pub async fn keys(command: KeysCommand, json: bool) -> anyhow::Result<()> {
    let data = match command {
        KeysCommand::List { data } => data,
        KeysCommand::Rotate { data, emergency } => {
            let opened = Opened::new(&data).await?;
            let dir = DataDir::create(&data.data_dir)?;
            let file = std::env::var_os("THREATGATE_KEY_ENCRYPTION_KEY_FILE").map(std::path::PathBuf::from);
            let kek = dir.open_key_encryption(file.as_deref())?;
            let rotation = threatgate_identity::keys::rotate_signing_keys(
                opened.store.as_ref(),
                &kek,
                time::OffsetDateTime::now_utc(),
                threatgate_identity::IdentitySettings::default().key_rotation_period,
                emergency,
            )
            .await?;
            return emit(json, &rotation, || {
                let mut text = format!("{} signs from {}\n", rotation.new_key, when(rotation.signs_from));
                if let Some(previous) = &rotation.previous_key {
                    text.push_str(&format!(
                        "{previous} signs until then and stays published a day longer, until its tokens have expired\n"
                    ));
                }
                for dropped in &rotation.dropped {
                    text.push_str(&format!("{dropped} dropped: tokens it signed are refused from now on\n"));
                }
                text.push_str(&format!(
                    "{} published now, signs from {}\n",
                    rotation.next_key,
                    when(rotation.next_signs_from)
                ));
                text
            });
        }
    };
    let opened = Opened::new(&data).await?;
    let records = opened.store.list_signing_keys().await?;
    let now = time::OffsetDateTime::now_utc();
    let signing =
        records.iter().filter(|r| r.activates_at <= now).max_by_key(|r| r.activates_at).map(|r| r.kid.clone());
    let output: Vec<KeyOutput> = records
        .iter()
        .map(|r| KeyOutput {
            kid: r.kid.to_string(),
            created_at: when(r.created_at),
            activates_at: when(r.activates_at),
            signing_now: Some(&r.kid) == signing.as_ref(),
        })
        .collect();
    emit(json, &output, || {
        output
            .iter()
            .map(|k| {
                format!(
                    "{}  signs from {}{}\n",
                    k.kid,
                    k.activates_at,
                    if k.signing_now { "  (signing now)" } else { "" }
                )
            })
            .collect()
    })
}
