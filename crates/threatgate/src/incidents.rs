//! `threatgate ingest` and `threatgate seed`: alerts into a tenant's incidents through the same
//! correlation path as the API, in batches of one transaction each, with a progress bar.

use std::io::Read;
use std::sync::Arc;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use threatgate_domain::datetime::to_ticks;
use threatgate_domain::{IngestAlerts, Tenant, TenantScope};
use threatgate_identity::admin::COMMAND_LINE_ACTOR;
use threatgate_identity::{DirectoryAdmin, SystemClock};
use threatgate_incidents::generator::AlertGenerator;
use threatgate_incidents::prepare_alert;
use threatgate_store::{IngestReport, Store};

use crate::cli::{AccessLogArgs, AuditArgs, IngestArgs, SeedArgs};
use crate::output::emit;

/// Alerts per transaction.
const BATCH: usize = 1000;
const TICKS_PER_HOUR: i64 = 3600 * 10_000_000;

async fn open(data: &crate::cli::DataDirArg, tenant: &str) -> anyhow::Result<(Arc<dyn Store>, Tenant)> {
    let (dir, store) = data.open().await?;
    let hasher = dir.open_secret_hasher()?;
    let tenant =
        DirectoryAdmin { store: store.as_ref(), hasher: &hasher, clock: &SystemClock, actor: COMMAND_LINE_ACTOR }
            .get_tenant(tenant)
            .await?;
    Ok((store, tenant))
}

pub async fn ingest(args: IngestArgs, json: bool) -> anyhow::Result<()> {
    let (store, tenant) = open(&args.data, &args.tenant).await?;
    let mut text = String::new();
    if args.file == "-" {
        std::io::stdin().read_to_string(&mut text).context("reading standard input")?;
    } else {
        text = std::fs::read_to_string(&args.file).with_context(|| format!("reading {}", args.file))?;
    }
    let now = to_ticks(time::OffsetDateTime::now_utc());
    let alerts =
        threatgate_server::api::parse_alerts(text.as_bytes(), now).map_err(|failure| anyhow::anyhow!("{failure}"))?;
    let scope = TenantScope::<IngestAlerts>::for_administrator(tenant.id);
    let window = i64::from(args.window_hours) * TICKS_PER_HOUR;
    let mut report = IngestReport::default();
    for batch in alerts.chunks(BATCH) {
        add(&mut report, store.ingest_alerts(&scope, batch.to_vec(), window).await?);
    }
    emit(json, &report, || describe(&report, &tenant))
}

/// Seeds `incidents` generated incidents into `tenant`; `progress` shows a bar.
pub async fn seed_tenant(
    store: &dyn Store,
    tenant: &Tenant,
    incidents: u64,
    seed: u64,
    days: u32,
    progress: bool,
) -> anyhow::Result<IngestReport> {
    let now = to_ticks(time::OffsetDateTime::now_utc());
    let domain = tenant.initial_domain.to_string();
    let scope = TenantScope::<IngestAlerts>::for_administrator(tenant.id);
    let bar = if progress { ProgressBar::new(incidents) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} incidents, {per_sec}, eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(format!("seeding {}", tenant.display_name));
    let mut report = IngestReport::default();
    let mut batch = Vec::with_capacity(BATCH);
    let mut generator = AlertGenerator::new(seed, &domain, incidents, now, days).peekable();
    while let Some((received, alert)) = generator.next() {
        batch.push(
            prepare_alert(alert, received).map_err(|why| anyhow::anyhow!("a generated alert is invalid: {why}"))?,
        );
        if batch.len() >= BATCH || generator.peek().is_none() {
            let done = store.ingest_alerts(&scope, std::mem::take(&mut batch), 24 * TICKS_PER_HOUR).await?;
            bar.inc(done.incidents_created);
            add(&mut report, done);
        }
    }
    bar.finish_and_clear();
    Ok(report)
}

pub async fn seed(args: SeedArgs, json: bool) -> anyhow::Result<()> {
    let (store, tenant) = open(&args.data, &args.tenant).await?;
    let started = std::time::Instant::now();
    let report = seed_tenant(store.as_ref(), &tenant, args.incidents, args.seed, args.days, !json).await?;
    let seconds = started.elapsed().as_secs_f64();
    emit(json, &report, || {
        format!(
            "{}\n{:.1} s, {:.0} alerts/s",
            describe(&report, &tenant),
            seconds,
            report.alerts_added as f64 / seconds.max(0.001)
        )
    })
}

fn add(total: &mut IngestReport, part: IngestReport) {
    total.alerts_added += part.alerts_added;
    total.duplicates_skipped += part.duplicates_skipped;
    total.incidents_created += part.incidents_created;
    total.incidents_merged += part.incidents_merged;
}

fn describe(report: &IngestReport, tenant: &Tenant) -> String {
    format!(
        "{}: {} alerts added ({} duplicates skipped), {} incidents created, {} merged",
        tenant.display_name,
        report.alerts_added,
        report.duplicates_skipped,
        report.incidents_created,
        report.incidents_merged
    )
}

/// Prints a tenant's audit trail as JSON lines, newest first, a thousand records at a time.
pub async fn audit(args: AuditArgs) -> anyhow::Result<()> {
    use std::io::Write;

    let (store, tenant) = open(&args.data, &args.tenant).await?;
    let now = time::OffsetDateTime::now_utc();
    let since = args.since.as_deref().map(|text| since_ticks(text, now)).transpose()?;
    let scope = TenantScope::<threatgate_domain::ReadAccessLog>::for_administrator(tenant.id);
    let applications = store.list_applications(Some(tenant.id)).await?.into_iter().map(|app| app.app_id).collect();
    let mut remaining = args.limit.unwrap_or(u64::MAX);
    let query = threatgate_store::AuditTrailQuery {
        applications,
        since,
        until: None,
        limit: u32::try_from(remaining.min(1000)).unwrap_or(1000),
    };
    let mut pages = threatgate_store::AuditTrailPages::new(query);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    while remaining > 0 {
        let page = pages.next_page(store.as_ref(), &scope).await?;
        if page.is_empty() {
            break;
        }
        for record in page.iter().take(usize::try_from(remaining).unwrap_or(usize::MAX)) {
            writeln!(out, "{}", record.json_line())?;
        }
        remaining = remaining.saturating_sub(page.len() as u64);
    }
    out.flush()?;
    Ok(())
}

/// Prints a tenant's access log as JSON lines, newest first, reading a thousand at a time.
pub async fn access_log(args: AccessLogArgs) -> anyhow::Result<()> {
    use std::io::Write;

    let (store, tenant) = open(&args.data, &args.tenant).await?;
    let now = time::OffsetDateTime::now_utc();
    let since = args.since.as_deref().map(|text| since_ticks(text, now)).transpose()?;
    let scope = TenantScope::<threatgate_domain::ReadAccessLog>::for_administrator(tenant.id);
    let mut remaining = args.limit.unwrap_or(u64::MAX);
    let mut query =
        threatgate_store::AccessLogQuery { since, incident_id: args.incident, limit: 1000, ..Default::default() };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    while remaining > 0 {
        query.limit = u32::try_from(remaining.min(1000)).unwrap_or(1000);
        let entries = store.list_access_entries(&scope, &query).await?;
        for entry in &entries {
            writeln!(out, "{}", entry.json_line())?;
        }
        remaining -= entries.len() as u64;
        match entries.last() {
            Some(last) if entries.len() == query.limit as usize => query.before_id = Some(last.id),
            _ => break,
        }
    }
    out.flush()?;
    Ok(())
}

/// `48h`, `7d`, `30m` before `now`, or a UTC datetime as the API writes them.
pub fn since_ticks(text: &str, now: time::OffsetDateTime) -> anyhow::Result<i64> {
    if let Some(ticks) = threatgate_domain::datetime::parse_datetime_ticks(text) {
        return Ok(ticks);
    }
    let period = humantime::parse_duration(text).map_err(|_| {
        anyhow::anyhow!(
            "--since {text:?}: give a period such as 30m, 48h or 7d, or a UTC time such as 2026-11-01T00:00:00Z"
        )
    })?;
    let period = time::Duration::try_from(period).context("--since: the period is too long")?;
    Ok(to_ticks(now - period))
}
