//! `threatgate scenario FILE`: alerts arriving over time, so that a connector's poller sees new
//! incidents appear and existing ones updated while it runs. The file is TOML, a list of steps;
//! each waits `after` (since the previous step), then ingests into one tenant, straight into
//! the store as `threatgate ingest` does (the running server serves the result at once):
//!
//! ```toml
//! [[step]]
//! tenant = "contoso.onmicrosoft.com"
//! new_incidents = 2          # generated alerts, on a device and a user of their own each
//!
//! [[step]]
//! after = "20s"
//! tenant = "contoso.onmicrosoft.com"
//! follow_up = 1              # alerts on the entities of this run's last new incident there
//!
//! [[step]]
//! after = "10s"
//! tenant = "woodgrove.onmicrosoft.com"
//! alerts_file = "alerts.json"   # /api/ingest/alerts' format, relative to this file
//! repeat = 3                    # the step three times, `after` apart
//! ```
//!
//! The whole file is checked (tenants, files, bounds) before the first step runs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use threatgate_domain::datetime::format_ticks;
use threatgate_domain::{IngestAlerts, Tenant, TenantId, TenantScope, Ticks};
use threatgate_identity::admin::COMMAND_LINE_ACTOR;
use threatgate_identity::{Actor, DirectoryAdmin, SystemClock};
use threatgate_proto::Alert;
use threatgate_seed::generator::AlertGenerator;
use threatgate_store::IngestReport;

use crate::cli::ScenarioArgs;
use crate::incidents::{TICKS_PER_HOUR, add};

/// Bounds on a file from outside: what one step adds stays one ingestion batch, and a run ends.
const MAX_FILE_BYTES: u64 = 1024 * 1024;
const MAX_STEP_RUNS: u64 = 10_000;
const MAX_NEW_INCIDENTS: u64 = 100;
const MAX_FOLLOW_UPS: u64 = 100;
const MAX_ALERTS_FILE_BYTES: u64 = 16 * 1024 * 1024;
const MAX_ALERTS_PER_STEP: usize = 1_000;
const MAX_AFTER: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    #[serde(default)]
    step: Vec<StepSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepSpec {
    /// How long to wait since the previous step ("0s", "20s", "2m"); 0 by default.
    #[serde(default)]
    after: Option<String>,
    /// Tenant id or domain.
    tenant: String,
    new_incidents: Option<u64>,
    follow_up: Option<u64>,
    alerts_file: Option<PathBuf>,
    /// Runs of the step, `after` apart (1 by default).
    #[serde(default)]
    repeat: Option<u64>,
}

/// What a checked step does.
#[derive(Debug, Clone)]
enum Action {
    NewIncidents(u64),
    FollowUp(u64),
    /// The file's alerts, as text (times and ids as written; ingested again, they are
    /// duplicates).
    AlertsFile {
        path: PathBuf,
        text: Arc<str>,
    },
}

#[derive(Debug, Clone)]
struct Step {
    after: Duration,
    tenant: Tenant,
    action: Action,
    repeat: u64,
}

/// One step's run, as printed (a JSON line with `--json`).
#[derive(Debug, Serialize)]
struct StepRun {
    step: usize,
    run: u64,
    /// Seconds since the scenario started (of the scenario's own clock, before `--speed`).
    at_seconds: f64,
    tenant: String,
    action: &'static str,
    #[serde(flatten)]
    report: IngestReport,
}

pub async fn scenario(args: ScenarioArgs, json: bool) -> anyhow::Result<()> {
    if !(args.speed.is_finite() && args.speed > 0.0 && args.speed <= 1_000.0) {
        bail!("--speed must be above 0 and at most 1000");
    }
    let file = read_file(&args.file)?;
    let (dir, store) = args.data.open().await?;
    let hasher = dir.open_secret_hasher()?;
    let admin = DirectoryAdmin::new(store.as_ref(), &hasher, &SystemClock, Actor::Operator(COMMAND_LINE_ACTOR));
    let base = args.file.parent().unwrap_or(Path::new("."));
    let steps = check(file, base, &admin).await?;
    let seed = args.seed.unwrap_or_else(|| time::OffsetDateTime::now_utc().unix_timestamp_nanos() as u64);

    let started = tokio::time::Instant::now();
    let mut scenario_clock = Duration::ZERO;
    let mut last_new: HashMap<TenantId, Vec<Alert>> = HashMap::new();
    let mut total = IngestReport::default();
    for (index, step) in steps.iter().enumerate() {
        for run in 1..=step.repeat {
            scenario_clock += step.after;
            tokio::time::sleep_until(started + scenario_clock.div_f64(args.speed)).await;
            let now = Ticks::at(time::OffsetDateTime::now_utc());
            let alerts = match &step.action {
                Action::NewIncidents(count) => {
                    let alerts = generate(seed, index, run, &step.tenant, *count, now);
                    last_new.insert(step.tenant.id, alerts.clone());
                    prepare(alerts, now)?
                }
                Action::FollowUp(count) => {
                    // Checked: an earlier step made new incidents in this tenant.
                    let last = last_new.get(&step.tenant.id).map(Vec::as_slice).unwrap_or_default();
                    prepare(follow_ups(last, *count, now, run_seed(seed, index, run)), now)?
                }
                Action::AlertsFile { path, text } => threatgate_incidents::parse_alerts(text.as_bytes(), now)
                    .with_context(|| format!("step {}: {}", index + 1, path.display()))?,
            };
            let scope = TenantScope::<IngestAlerts>::for_administrator(step.tenant.id);
            let report = store.ingest_alerts(&scope, alerts, 24 * TICKS_PER_HOUR).await?;
            add(&mut total, &report);
            let line = StepRun {
                step: index + 1,
                run,
                at_seconds: scenario_clock.as_secs_f64(),
                tenant: step.tenant.display_name.to_string(),
                action: match step.action {
                    Action::NewIncidents(_) => "new_incidents",
                    Action::FollowUp(_) => "follow_up",
                    Action::AlertsFile { .. } => "alerts_file",
                },
                report,
            };
            print_run(&line, json)?;
        }
    }
    if !json {
        crate::output::text(&format!(
            "scenario done: {} alerts added ({} duplicates skipped), {} incidents created, {} merged\n",
            total.alerts_added, total.duplicates_skipped, total.incidents_created, total.incidents_merged
        ))?;
    }
    Ok(())
}

fn read_file(path: &Path) -> anyhow::Result<ScenarioFile> {
    let text = read_bounded(path, MAX_FILE_BYTES)?;
    toml::from_str(&text).with_context(|| format!("{} is not a scenario", path.display()))
}

/// A file's text, refused unread when it is larger than `max` bytes.
fn read_bounded(path: &Path, max: u64) -> anyhow::Result<String> {
    let size = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?.len();
    if size > max {
        bail!("{} is {size} bytes; at most {max} are read", path.display());
    }
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// Checks every step before any runs: one action each, within bounds, tenants that exist,
/// alert files that parse, follow-ups after new incidents in the same tenant.
async fn check(file: ScenarioFile, base: &Path, admin: &DirectoryAdmin<'_>) -> anyhow::Result<Vec<Step>> {
    if file.step.is_empty() {
        bail!("the scenario has no [[step]]");
    }
    let mut steps = Vec::with_capacity(file.step.len());
    let mut runs = 0u64;
    let mut tenants: HashMap<String, Tenant> = HashMap::new();
    for (index, spec) in file.step.into_iter().enumerate() {
        let number = index + 1;
        let after = match &spec.after {
            None => Duration::ZERO,
            Some(text) => humantime::parse_duration(text)
                .map_err(|_| anyhow::anyhow!("step {number}: after = '{text}' is not a duration such as 30s or 2m"))?,
        };
        if after > MAX_AFTER {
            bail!("step {number}: after is at most 24h");
        }
        let repeat = spec.repeat.unwrap_or(1);
        if repeat == 0 {
            bail!("step {number}: repeat is at least 1");
        }
        runs = runs.saturating_add(repeat);
        if runs > MAX_STEP_RUNS {
            bail!("a scenario runs at most {MAX_STEP_RUNS} steps (repeats included)");
        }
        let tenant = match tenants.get(&spec.tenant) {
            Some(tenant) => tenant.clone(),
            None => {
                let tenant =
                    admin.get_tenant(&spec.tenant).await.with_context(|| format!("step {number}: {}", spec.tenant))?;
                tenants.insert(spec.tenant.clone(), tenant.clone());
                tenant
            }
        };
        let action = match (spec.new_incidents, spec.follow_up, spec.alerts_file) {
            (Some(count), None, None) => {
                if !(1..=MAX_NEW_INCIDENTS).contains(&count) {
                    bail!("step {number}: new_incidents is 1 to {MAX_NEW_INCIDENTS}");
                }
                Action::NewIncidents(count)
            }
            (None, Some(count), None) => {
                if !(1..=MAX_FOLLOW_UPS).contains(&count) {
                    bail!("step {number}: follow_up is 1 to {MAX_FOLLOW_UPS}");
                }
                let earlier = steps
                    .iter()
                    .any(|step: &Step| step.tenant.id == tenant.id && matches!(step.action, Action::NewIncidents(_)));
                if !earlier {
                    bail!("step {number}: follow_up needs an earlier new_incidents step in {}", tenant.display_name);
                }
                Action::FollowUp(count)
            }
            (None, None, Some(path)) => {
                let path = if path.is_absolute() { path } else { base.join(path) };
                let text = read_bounded(&path, MAX_ALERTS_FILE_BYTES).with_context(|| format!("step {number}"))?;
                let alerts =
                    threatgate_incidents::parse_alerts(text.as_bytes(), Ticks::at(time::OffsetDateTime::now_utc()))
                        .with_context(|| format!("step {number}: {}", path.display()))?;
                if alerts.len() > MAX_ALERTS_PER_STEP {
                    bail!(
                        "step {number}: {} holds {} alerts; a step adds at most {MAX_ALERTS_PER_STEP}",
                        path.display(),
                        alerts.len()
                    );
                }
                Action::AlertsFile { path, text: Arc::from(text) }
            }
            _ => bail!("step {number}: give exactly one of new_incidents, follow_up and alerts_file"),
        };
        steps.push(Step { after, tenant, action, repeat });
    }
    Ok(steps)
}

/// `count` incidents' alerts, arriving now: the generator's scenarios (one to three alerts on a
/// device and user of their own), with a seed of their own for every step and run.
fn generate(seed: u64, step: usize, run: u64, tenant: &Tenant, count: u64, now: Ticks) -> Vec<Alert> {
    let seed = run_seed(seed, step, run);
    let domain = tenant.initial_domain.to_string();
    // Users and devices numbered far from the demo's (1 to 40) and from other runs'.
    AlertGenerator::new(seed, &domain, count, now.0, 1)
        .numbered_from(100_000 + seed % 900_000_000)
        .map(|(_, alert)| at_time(alert, now))
        .collect()
}

/// The seed of one run of one step, from the scenario's.
fn run_seed(seed: u64, step: usize, run: u64) -> u64 {
    seed ^ ((step as u64) << 40) ^ run.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// `count` new alerts on the same entities and devices as the last of `last`'s alerts: correlation
/// adds them to that incident, which a poller then sees updated.
fn follow_ups(last: &[Alert], count: u64, now: Ticks, seed: u64) -> Vec<Alert> {
    let Some(template) = last.last() else { return Vec::new() };
    (0..count)
        .map(|number| {
            let mut alert = at_time(template.clone(), now);
            alert.alert_id = format!("da{seed:016x}_{number}");
            alert.status = "New".into();
            alert
        })
        .collect()
}

/// The alert as if it happened now.
fn at_time(mut alert: Alert, now: Ticks) -> Alert {
    let text = format_ticks(now.0);
    alert.creation_time = text.clone();
    alert.first_activity = text.clone();
    alert.last_activity = text.clone();
    alert.last_updated_time = Some(text);
    alert.resolved_time = None;
    alert
}

fn prepare(alerts: Vec<Alert>, now: Ticks) -> anyhow::Result<Vec<threatgate_incidents::IngestAlert>> {
    alerts
        .into_iter()
        .map(|alert| threatgate_incidents::prepare_alert(alert, now))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|why| anyhow::anyhow!("a generated alert is invalid: {why}"))
}

fn print_run(run: &StepRun, json: bool) -> anyhow::Result<()> {
    if json {
        crate::output::text(&format!("{}\n", serde_json::to_string(run)?))?;
        return Ok(());
    }
    let seconds = run.at_seconds.round() as u64;
    crate::output::text(&format!(
        "[+{:02}:{:02}] step {} run {}: {} {}: {} alerts added ({} duplicates), {} incidents created\n",
        seconds / 60,
        seconds % 60,
        run.step,
        run.run,
        run.tenant,
        run.action.replace('_', " "),
        run.report.alerts_added,
        run.report.duplicates_skipped,
        run.report.incidents_created
    ))?;
    Ok(())
}
