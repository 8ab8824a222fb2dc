//! The partner's commands, on `threatgate-client`: `token`, `incidents list|get|update` and `hunt`,
//! for one customer tenant or all of them. Settings come from flags, `THREATGATE_…`
//! variables and profiles; secrets only from an environment variable or a file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use figment::providers::Format;
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Deserialize;
use threatgate_client::{
    Client, ClientSecret, DEFAULT_API_BASE, DEFAULT_AUTHORITY, DEFAULT_GRAPH_BASE, HuntingResult, Incident,
    IncidentChanges, IncidentFilter, TokenVersion, fan_out,
};
use threatgate_domain::{Classification, Determination, IncidentStatus};

use crate::cli::{
    ApiChoice, HuntArgs, HuntFormat, IncidentsCommand, OutputFormat, PartnerArgs, TenantChoice, TokenArgs,
};

/// A profile in the profiles file. Secrets are only referenced, never written inline.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Profile {
    authority: Option<String>,
    api_base: Option<String>,
    graph_base: Option<String>,
    ca_cert: Option<PathBuf>,
    client_id: Option<String>,
    client_secret_env: Option<String>,
    client_secret_file: Option<PathBuf>,
    token_cache: Option<PathBuf>,
    tenants: Option<Vec<String>>,
    tenants_file: Option<PathBuf>,
}

fn default_profiles_file() -> Option<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(config.join("threatgate").join("profiles.toml"))
}

/// The chosen profile, with its relative paths made relative to the profiles file.
fn load_profile(args: &PartnerArgs) -> anyhow::Result<Profile> {
    let (file, explicit) = match &args.profiles {
        Some(file) => (file.clone(), true),
        None => match default_profiles_file() {
            Some(file) => (file, false),
            None => return Ok(Profile::default()),
        },
    };
    if !file.exists() {
        if explicit || args.profile.is_some() {
            bail!("the profiles file {} does not exist", file.display());
        }
        return Ok(Profile::default());
    }
    let name = args.profile.clone().unwrap_or_else(|| "default".to_owned());
    let figment = figment::Figment::from(figment::providers::Toml::file(&file));
    if figment.find_value(&format!("{name}.client_secret")).is_ok() {
        bail!(
            "profile '{name}' in {} holds a client secret inline; refer to it with client_secret_env or client_secret_file instead",
            file.display()
        );
    }
    let mut profile: Profile = match figment.extract_inner(&name) {
        Ok(profile) => profile,
        Err(_) if figment.find_value(&name).is_err() && args.profile.is_none() => return Ok(Profile::default()),
        Err(error) if figment.find_value(&name).is_err() => {
            bail!("there is no profile '{name}' in {} ({error})", file.display())
        }
        Err(error) => bail!("profile '{name}' in {}: {error}", file.display()),
    };
    let base = file.parent().unwrap_or(Path::new("."));
    for path in
        [&mut profile.ca_cert, &mut profile.client_secret_file, &mut profile.token_cache, &mut profile.tenants_file]
            .into_iter()
            .flatten()
    {
        if path.is_relative() {
            *path = base.join(&*path);
        }
    }
    Ok(profile)
}

/// Reads a secret from a file that only its owner can read.
fn secret_from_file(path: &Path) -> anyhow::Result<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .with_context(|| format!("the secret file {}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            bail!("the secret file {} can be read by others (mode {:o}): chmod 600 it", path.display(), mode & 0o777);
        }
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text.trim().to_owned())
}

fn build_client(args: &PartnerArgs, profile: &Profile, version: TokenVersion) -> anyhow::Result<Client> {
    let client_id = args
        .client_id
        .clone()
        .or_else(|| profile.client_id.clone())
        .context("no application (client) ID: give --client-id, THREATGATE_CLIENT_ID or client_id in a profile")?;
    let secret = if let Some(variable) = args.client_secret_env.as_ref().or(profile.client_secret_env.as_ref()) {
        std::env::var(variable)
            .ok()
            .filter(|value| !value.is_empty())
            .with_context(|| format!("the environment variable {variable} (named for the client secret) is not set"))?
    } else if let Some(file) = args.client_secret_file.as_ref().or(profile.client_secret_file.as_ref()) {
        secret_from_file(file)?
    } else {
        bail!("no client secret: give --client-secret-env VAR or --client-secret-file FILE (or either in a profile)")
    };
    let api_base = args.api_base.clone().or_else(|| profile.api_base.clone());
    let mut builder = Client::builder(client_id)
        .client_secret(ClientSecret::new(secret))
        .authority(
            args.authority.clone().or_else(|| profile.authority.clone()).unwrap_or_else(|| DEFAULT_AUTHORITY.into()),
        )
        .api_base(api_base.clone().unwrap_or_else(|| DEFAULT_API_BASE.into()))
        // Threatgate serves Graph on its API's address: that one, unless told otherwise.
        .graph_base(
            args.graph_base
                .clone()
                .or_else(|| profile.graph_base.clone())
                .or(api_base)
                .unwrap_or_else(|| DEFAULT_GRAPH_BASE.into()),
        )
        .version(version);
    if let Some(ca) = args.ca_cert.as_ref().or(profile.ca_cert.as_ref()) {
        builder = builder.ca_certificate(ca);
    }
    if let Some(cache) = args.token_cache.as_ref().or(profile.token_cache.as_ref()) {
        builder = builder.cache_file(cache);
    }
    Ok(builder.build()?)
}

/// `threatgate token`.
pub async fn token(args: TokenArgs, json: bool) -> anyhow::Result<()> {
    let profile = load_profile(&args.partner)?;
    let version = if args.v1 { TokenVersion::V1 } else { TokenVersion::V2 };
    let client = build_client(&args.partner, &profile, version)?;
    if json {
        let response = client.tokens().request(&args.tenant, &args.resource).await?;
        crate::output::line(serde_json::to_string_pretty(&response)?)?;
    } else {
        crate::output::line(client.tokens().token(&args.tenant, &args.resource).await?)?;
    }
    Ok(())
}

/// `threatgate incidents …`.
pub async fn incidents(command: IncidentsCommand, json: bool) -> anyhow::Result<()> {
    match command {
        IncidentsCommand::List { partner, tenants, since, status, assigned_to, filter, output, api } => {
            let profile = load_profile(&partner)?;
            let client = build_client(&partner, &profile, TokenVersion::V2)?;
            let mut query = IncidentFilter::new();
            if let Some(since) = since {
                let ticks = crate::incidents::since_ticks(&since, time::OffsetDateTime::now_utc())?;
                query = query.updated_since(threatgate_domain::datetime::from_ticks(ticks));
            }
            if let Some(status) = status {
                query = query.status(parse_enum(&status, "status", IncidentStatus::parse, IncidentStatus::ALL)?);
            }
            if let Some(owner) = assigned_to {
                query = query.assigned_to(&owner);
            }
            if let Some(expression) = filter {
                query = query.odata(&expression);
            }
            let output = if json { OutputFormat::Json } else { output };
            let tenant_names = tenant_list(&tenants, &profile)?;
            match api {
                ApiChoice::ThreatProtection => {
                    list(&client, &tenant_names, tenants.concurrency, output, move |client, tenant| {
                        let query = query.clone();
                        async move { client.list_incidents(&tenant, &query).await }
                    })
                    .await
                }
                ApiChoice::Graph => {
                    list(&client, &tenant_names, tenants.concurrency, output, move |client, tenant| {
                        let query = query.clone();
                        async move { client.list_graph_incidents(&tenant, &query).await.map(graph_incidents) }
                    })
                    .await
                }
            }
        }
        IncidentsCommand::Get { partner, tenant, id, output, api } => {
            let client = build_client(&partner, &load_profile(&partner)?, TokenVersion::V2)?;
            let output = if json { OutputFormat::Json } else { output };
            match api {
                ApiChoice::ThreatProtection => print_one(&tenant, &client.get_incident(&tenant, id).await?, output),
                ApiChoice::Graph => {
                    print_one(&tenant, &GraphIncident(client.get_graph_incident(&tenant, id).await?), output)
                }
            }
        }
        IncidentsCommand::Update {
            partner,
            tenant,
            id,
            status,
            assigned_to,
            classification,
            determination,
            tags,
            clear_tags,
            comment,
            output,
            api,
        } => {
            let changes = IncidentChanges {
                status: status
                    .map(|s| parse_enum(&s, "status", IncidentStatus::parse, IncidentStatus::ALL))
                    .transpose()?,
                assigned_to,
                classification: classification
                    .map(|c| parse_enum(&c, "classification", Classification::parse, Classification::ALL))
                    .transpose()?,
                determination: determination
                    .map(|d| parse_enum(&d, "determination", Determination::parse, Determination::ALL))
                    .transpose()?,
                tags: if clear_tags { Some(Vec::new()) } else { (!tags.is_empty()).then_some(tags) },
                comment,
            };
            if changes.is_empty() {
                bail!(
                    "nothing to change: give --status, --assigned-to, --classification, --determination, --tag, --clear-tags or --comment"
                );
            }
            let client = build_client(&partner, &load_profile(&partner)?, TokenVersion::V2)?;
            let output = if json { OutputFormat::Json } else { output };
            match api {
                ApiChoice::ThreatProtection => {
                    print_one(&tenant, &client.update_incident(&tenant, id, &changes).await?, output)
                }
                ApiChoice::Graph => print_one(
                    &tenant,
                    &GraphIncident(client.update_graph_incident(&tenant, id, &changes).await?),
                    output,
                ),
            }
        }
    }
}

fn parse_enum<T: Copy + std::fmt::Display>(
    text: &str,
    what: &str,
    parse: fn(&str) -> Option<T>,
    all: &[T],
) -> anyhow::Result<T> {
    parse(text).with_context(|| {
        let values: Vec<String> = all.iter().map(ToString::to_string).collect();
        format!("--{what} '{text}' is not one of: {}", values.join(", "))
    })
}

/// The tenants of `--tenant`, or of `--all-tenants [FILE]` (the profile's without FILE).
fn tenant_list(choice: &TenantChoice, profile: &Profile) -> anyhow::Result<Vec<String>> {
    let read_file = |path: &Path| -> anyhow::Result<Vec<String>> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading the tenant list {}", path.display()))?;
        Ok(text
            .lines()
            .map(|line| line.split('#').next().unwrap_or_default().trim().to_owned())
            .filter(|line| !line.is_empty())
            .collect())
    };
    let tenants = match (&choice.tenant, &choice.all_tenants) {
        (Some(tenant), _) => vec![tenant.clone()],
        (None, Some(file)) if !file.is_empty() => read_file(Path::new(file))?,
        (None, Some(_)) => match (&profile.tenants, &profile.tenants_file) {
            (Some(tenants), _) => tenants.clone(),
            (None, Some(file)) => read_file(file)?,
            (None, None) => bail!("--all-tenants without a file needs tenants or tenants_file in the profile"),
        },
        (None, None) => bail!("give --tenant TENANT or --all-tenants [FILE]"),
    };
    if tenants.is_empty() {
        bail!("the tenant list is empty");
    }
    Ok(tenants)
}

/// Runs `operation` in every tenant at once (a progress bar on standard error when there are
/// several); `arrived` sees each tenant's answer as it comes (streamed output) and says whether
/// to keep it; a tenant's failure is printed as it happens. Returns the kept answers in the
/// order the tenants were given, how many tenants failed, and the size of every answer.
async fn in_every_tenant<T, F, Fut>(
    tenants: &[String],
    concurrency: usize,
    noun: &str,
    size: impl Fn(&T) -> usize,
    mut arrived: impl FnMut(&str, &T) -> anyhow::Result<bool>,
    operation: F,
) -> anyhow::Result<(Vec<(String, T)>, usize, usize)>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = threatgate_client::Result<T>>,
{
    let progress = if tenants.len() > 1 {
        let bar = ProgressBar::with_draw_target(Some(tenants.len() as u64), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} tenants  {msg}  [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut results = fan_out(tenants.iter().cloned(), concurrency, operation);
    let mut done: Vec<(String, T)> = Vec::new();
    let (mut failed, mut found) = (0usize, 0usize);
    while let Some((tenant, result)) = results.next().await {
        progress.inc(1);
        match result {
            Ok(answer) => {
                found += size(&answer);
                progress.set_message(format!("{found} {noun}, {failed} failed"));
                if arrived(&tenant, &answer)? {
                    done.push((tenant, answer));
                }
            }
            Err(error) => {
                failed += 1;
                progress.set_message(format!("{found} {noun}, {failed} failed"));
                progress.suspend(|| eprintln!("error: {tenant}: {error}"));
            }
        }
    }
    progress.finish_and_clear();
    done.sort_by_key(|(tenant, _)| tenants.iter().position(|t| t == tenant));
    Ok((done, failed, found))
}

/// The summary line of a command run in several tenants, and its failure if any tenant failed.
fn finish_everywhere(
    client: &Client,
    tenants: &[String],
    found: usize,
    noun: &str,
    failed: usize,
    started: Instant,
) -> anyhow::Result<()> {
    if tenants.len() > 1 {
        eprintln!(
            "{} tenants, {found} {noun}, {failed} failed, {} token requests, {:.1} s",
            tenants.len(),
            client.tokens().token_requests(),
            started.elapsed().as_secs_f64()
        );
    }
    if failed > 0 {
        bail!("{failed} of {} tenants failed", tenants.len());
    }
    Ok(())
}

/// An incident as Microsoft Graph wrote it (`microsoft.graph.security.incident`).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(transparent)]
struct GraphIncident(serde_json::Value);

fn graph_incidents(values: Vec<serde_json::Value>) -> Vec<GraphIncident> {
    values.into_iter().map(GraphIncident).collect()
}

/// An incident of either API, as a table shows it.
trait Listed: serde::Serialize + Clone + Send + 'static {
    /// Id, severity, status, owner (empty when none), last update (as the API gives it), name.
    fn row(&self) -> [String; 6];
}

fn table_time(text: &str) -> String {
    text.get(..19).unwrap_or(text).replace('T', " ")
}

impl Listed for Incident {
    fn row(&self) -> [String; 6] {
        [
            self.incident_id.to_string(),
            self.severity.clone(),
            self.status.clone(),
            self.assigned_to.clone().unwrap_or_default(),
            self.last_update_time.clone(),
            self.incident_name.clone(),
        ]
    }
}

impl Listed for GraphIncident {
    fn row(&self) -> [String; 6] {
        let text = |key: &str| self.0.get(key).and_then(serde_json::Value::as_str).unwrap_or_default().to_owned();
        [
            text("id"),
            text("severity"),
            text("status"),
            text("assignedTo"),
            text("lastUpdateDateTime"),
            text("displayName"),
        ]
    }
}

/// Lists in every tenant at once; prints each tenant's failure as it happens and fails at the
/// end if any tenant did.
async fn list<T, F, Fut>(
    client: &Client,
    tenants: &[String],
    concurrency: usize,
    output: OutputFormat,
    fetch: F,
) -> anyhow::Result<()>
where
    T: Listed,
    F: Fn(Client, String) -> Fut,
    Fut: std::future::Future<Output = threatgate_client::Result<Vec<T>>>,
{
    let started = Instant::now();
    let stdout = std::io::stdout();
    let (done, failed, found) = in_every_tenant(
        tenants,
        concurrency,
        "incidents",
        Vec::len,
        |tenant, incidents: &Vec<T>| {
            if output != OutputFormat::Ndjson {
                return Ok(true);
            }
            let mut out = stdout.lock();
            for incident in incidents {
                writeln!(out, "{}", with_tenant(tenant, incident)?)?;
            }
            Ok(false)
        },
        |tenant| fetch(client.clone(), tenant),
    )
    .await?;
    match output {
        OutputFormat::Ndjson => {}
        OutputFormat::Json => {
            let all: Vec<serde_json::Value> = done
                .iter()
                .flat_map(|(tenant, incidents)| incidents.iter().map(move |i| with_tenant(tenant, i)))
                .collect::<anyhow::Result<_>>()?;
            crate::output::line(serde_json::to_string_pretty(&all)?)?;
        }
        OutputFormat::Csv => write_csv(&done)?,
        OutputFormat::Table => crate::output::text(&table(&done))?,
    }
    finish_everywhere(client, tenants, found, "incidents", failed, started)
}

/// `threatgate hunt`: one KQL query in one tenant or in all of them, the rows of every tenant
/// under one header with the tenant first.
pub async fn hunt(args: HuntArgs, json: bool) -> anyhow::Result<()> {
    let profile = load_profile(&args.partner)?;
    let client = build_client(&args.partner, &profile, TokenVersion::V2)?;
    let query = match (&args.query, &args.file) {
        (Some(query), None) => query.clone(),
        (None, Some(file)) if file.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).context("reading standard input")?;
            text
        }
        (None, Some(file)) => std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?,
        _ => bail!("give the query as an argument or with --file"),
    };
    let tenants = tenant_list(&args.tenants, &profile)?;
    let output = if json { HuntFormat::Json } else { args.output };
    let api = args.api;
    let started = Instant::now();
    let stdout = std::io::stdout();
    let (done, failed, found) = in_every_tenant(
        &tenants,
        args.tenants.concurrency,
        "rows",
        |result: &HuntingResult| result.results.len(),
        |tenant, result| {
            if output != HuntFormat::Ndjson {
                return Ok(true);
            }
            let mut out = stdout.lock();
            for row in &result.results {
                writeln!(out, "{}", serde_json::Value::Object(row_with_tenant(tenant, row.clone())))?;
            }
            Ok(false)
        },
        |tenant| {
            let (client, query) = (client.clone(), query.clone());
            async move {
                match api {
                    ApiChoice::ThreatProtection => client.run_hunting_query(&tenant, &query).await,
                    ApiChoice::Graph => client.run_graph_hunting_query(&tenant, &query).await,
                }
            }
        },
    )
    .await?;
    let mut out = stdout.lock();
    match output {
        HuntFormat::Ndjson => {}
        HuntFormat::Json => {
            let all: Vec<serde_json::Value> = done
                .iter()
                .flat_map(|(tenant, result)| {
                    result
                        .results
                        .iter()
                        .map(move |row| serde_json::Value::Object(row_with_tenant(tenant, row.clone())))
                })
                .collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&all)?)?;
        }
        HuntFormat::Csv => {
            let mut writer = csv::Writer::from_writer(&mut out);
            if let Some((_, first)) = done.first() {
                writer.write_record(std::iter::once("tenant").chain(first.schema.iter().map(|c| c.name.as_str())))?;
            }
            for (tenant, result) in &done {
                for row in result.rows() {
                    writer.write_record(std::iter::once(tenant.clone()).chain(row.into_iter().map(csv_cell)))?;
                }
            }
            writer.flush()?;
        }
        HuntFormat::Table => write!(out, "{}", hunting_table(&done))?,
    }
    drop(out);
    finish_everywhere(&client, &tenants, found, "rows", failed, started)
}

/// A row's (or an incident's) object with `tenant` first.
fn row_with_tenant(
    tenant: &str,
    row: serde_json::Map<String, serde_json::Value>,
) -> serde_json::Map<String, serde_json::Value> {
    let mut object = serde_json::Map::new();
    object.insert("tenant".into(), tenant.into());
    object.extend(row);
    object
}

/// A value as a CSV or table cell: text as it is, `null` empty, the rest as JSON.
fn csv_cell(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Longest cell a table shows; JSON and CSV keep every character.
const MAX_TABLE_CELL: usize = 60;

/// Aligned columns: the tenant, then the query's columns (cells cut at 60 characters).
fn hunting_table(done: &[(String, HuntingResult)]) -> String {
    let Some((_, first)) = done.first() else { return String::new() };
    let mut rows: Vec<Vec<String>> =
        vec![std::iter::once("TENANT".to_owned()).chain(first.schema.iter().map(|c| c.name.clone())).collect()];
    for (tenant, result) in done {
        for row in result.rows() {
            let cells = row.into_iter().map(|value| {
                let text = csv_cell(value).replace(['\n', '\r', '\t'], " ");
                if text.chars().count() > MAX_TABLE_CELL {
                    text.chars().take(MAX_TABLE_CELL - 1).chain(['…']).collect()
                } else {
                    text
                }
            });
            rows.push(std::iter::once(tenant.clone()).chain(cells).collect());
        }
    }
    aligned(&rows)
}

/// Rows of cells in columns as wide as their widest cell, two spaces apart.
fn aligned(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|column| rows.iter().filter_map(|row| row.get(column)).map(|cell| cell.chars().count()).max().unwrap_or(0))
        .collect();
    let mut text = String::new();
    for row in rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}

/// The incident's JSON with `tenant` first.
fn with_tenant(tenant: &str, incident: &impl serde::Serialize) -> anyhow::Result<serde_json::Value> {
    let fields = match serde_json::to_value(incident)? {
        serde_json::Value::Object(fields) => fields,
        _ => serde_json::Map::new(),
    };
    Ok(serde_json::Value::Object(row_with_tenant(tenant, fields)))
}

fn print_one<T: Listed>(tenant: &str, incident: &T, output: OutputFormat) -> anyhow::Result<()> {
    match output {
        OutputFormat::Json => crate::output::line(serde_json::to_string_pretty(incident)?)?,
        OutputFormat::Ndjson => crate::output::line(with_tenant(tenant, incident)?)?,
        OutputFormat::Csv => write_csv(&[(tenant.to_owned(), vec![incident.clone()])])?,
        OutputFormat::Table => crate::output::text(&table(&[(tenant.to_owned(), vec![incident.clone()])]))?,
    }
    Ok(())
}

/// Aligned columns: tenant, id, severity, status, owner, last update, name.
fn table<T: Listed>(groups: &[(String, Vec<T>)]) -> String {
    let mut rows = vec![
        ["TENANT", "ID", "SEVERITY", "STATUS", "ASSIGNED TO", "LAST UPDATE (UTC)", "NAME"].map(str::to_owned).to_vec(),
    ];
    for (tenant, incidents) in groups {
        for incident in incidents {
            let [id, severity, status, owner, updated, name] = incident.row();
            let owner = if owner.is_empty() { "-".to_owned() } else { owner };
            rows.push(vec![tenant.clone(), id, severity, status, owner, table_time(&updated), name]);
        }
    }
    aligned(&rows)
}

/// Incidents as CSV (RFC 4180), a header first: the table's columns, times as the API gives
/// them.
fn write_csv<T: Listed>(groups: &[(String, Vec<T>)]) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut writer = csv::Writer::from_writer(stdout.lock());
    writer.write_record(["tenant", "id", "severity", "status", "assignedTo", "lastUpdateTime", "name"])?;
    for (tenant, incidents) in groups {
        for incident in incidents {
            writer.write_record(std::iter::once(tenant.clone()).chain(incident.row()))?;
        }
    }
    writer.flush()?;
    Ok(())
}
