//! `threatgate ingest` and `threatgate seed`: alerts into a tenant's incidents through the same
//! correlation path as the API, in batches of one transaction each, with a progress bar.

use std::io::Read;
use std::sync::Arc;

use anyhow::Context;
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use threatgate_domain::datetime::to_ticks;
use threatgate_domain::{IncidentId, IngestAlerts, Tenant, TenantScope, Ticks};
use threatgate_hunting::events::EventRow;
use threatgate_hunting::schema::Table;
use threatgate_identity::admin::COMMAND_LINE_ACTOR;
use threatgate_identity::{Actor, DirectoryAdmin, SystemClock};
use threatgate_incidents::prepare_alert;
use threatgate_seed::event_generator::EventGenerator;
use threatgate_seed::generator::AlertGenerator;
use threatgate_store::{IngestReport, Store};

use crate::cli::{AccessLogArgs, AuditArgs, IngestArgs, SeedArgs};
use crate::output::emit;

/// Alerts per transaction.
const BATCH: usize = 1000;
/// Events per transaction (of one table). Large, because in a big table a batch's cost is the
/// index pages it changes, and the events of thousands of devices change a page per device in
/// each device index whatever their number. (About 125 MB of rows per batch in memory; the
/// seed holds a few.)
const EVENT_BATCH: usize = 50_000;
pub(crate) const TICKS_PER_HOUR: i64 = 3600 * 10_000_000;

async fn open(data: &crate::cli::DataDirArg, tenant: &str) -> anyhow::Result<(Arc<dyn Store>, Tenant)> {
    let (dir, store) = data.open().await?;
    let hasher = dir.open_secret_hasher()?;
    let tenant = DirectoryAdmin::new(store.as_ref(), &hasher, &SystemClock, Actor::Operator(COMMAND_LINE_ACTOR))
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
    let scope = TenantScope::<IngestAlerts>::for_administrator(tenant.id);
    if let Some(table) = &args.table {
        let table = threatgate_hunting::events::submittable_table(table)?;
        let rows = threatgate_hunting::events::parse_events(table, &text)?;
        let mut added = 0;
        for batch in rows.chunks(EVENT_BATCH) {
            added += store.insert_events(&scope, table, batch).await?;
        }
        store.refresh_event_statistics().await?;
        let report = threatgate_proto::EventsReport { table: table.name.to_owned(), events_added: added };
        return emit(json, &report, || format!("{}: {added} {} events added", tenant.display_name, table.name));
    }
    let now = Ticks::at(time::OffsetDateTime::now_utc());
    let alerts = threatgate_incidents::parse_alerts(text.as_bytes(), now)?;
    let window = i64::from(args.window_hours) * TICKS_PER_HOUR;
    let mut report = IngestReport::default();
    for batch in alerts.chunks(BATCH) {
        add(&mut report, &store.ingest_alerts(&scope, batch.to_vec(), window).await?);
    }
    emit(json, &report, || describe(&report, &tenant))
}

/// What `threatgate seed` makes for a tenant.
#[derive(Debug, Clone)]
pub struct SeedPlan {
    /// Generated incidents (each one to three alerts).
    pub incidents: u64,
    /// Ordinary hunting events besides those behind the alerts.
    pub events: u64,
    /// Only these hunting tables (all when empty).
    pub event_tables: Vec<String>,
    /// The same seed gives the same alerts and events.
    pub seed: u64,
    /// Spread over this many days before now.
    pub days: u32,
}

/// What a seed added.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SeedReport {
    #[serde(flatten)]
    pub alerts: IngestReport,
    pub events_added: u64,
}

/// Seeds `plan` into `tenant`: the alerts through correlation, then the events behind them and
/// the ordinary events (generated on a thread of their own while the store writes the previous
/// batch); `progress` shows a bar.
pub async fn seed_tenant(
    store: &dyn Store,
    tenant: &Tenant,
    plan: &SeedPlan,
    progress: bool,
) -> anyhow::Result<SeedReport> {
    let now = to_ticks(time::OffsetDateTime::now_utc());
    let domain = tenant.initial_domain.to_string();
    let scope = TenantScope::<IngestAlerts>::for_administrator(tenant.id);
    let bar = |length: u64, unit: &str| {
        let bar = if progress { ProgressBar::new(length) } else { ProgressBar::hidden() };
        bar.set_style(
            ProgressStyle::with_template(&format!(
                "{{msg}} [{{bar:40}}] {{pos}}/{{len}} {unit}, {{per_sec}}, eta {{eta}}"
            ))
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(format!("seeding {}", tenant.display_name));
        bar
    };
    let mut events = EventGenerator::new(plan.seed, &domain, now, plan.days, plan.events);
    let tables: Vec<&str> = plan.event_tables.iter().map(String::as_str).collect();
    events.only(&tables);
    let mut report = SeedReport::default();
    let mut behind_alerts = Vec::new();
    let alerts_bar = bar(plan.incidents, "incidents");
    let mut batch = Vec::with_capacity(BATCH);
    let mut generator = AlertGenerator::new(plan.seed, &domain, plan.incidents, now, plan.days).peekable();
    while let Some((received, alert)) = generator.next() {
        behind_alerts.extend(events.observe(&alert));
        batch.push(
            prepare_alert(alert, received).map_err(|why| anyhow::anyhow!("a generated alert is invalid: {why}"))?,
        );
        if batch.len() >= BATCH || generator.peek().is_none() {
            let done = store.ingest_alerts(&scope, std::mem::take(&mut batch), 24 * TICKS_PER_HOUR).await?;
            alerts_bar.inc(done.incidents_created);
            add(&mut report.alerts, &done);
        }
    }
    alerts_bar.finish_and_clear();

    let total = plan.events;
    let inventory = events.fleet_inventory();
    let events_bar = bar(total + (behind_alerts.len() + inventory.len()) as u64, "events");
    // Generating is faster than writing: two batches waiting keep both of PostgreSQL's writers
    // busy.
    let (sender, mut batches) = tokio::sync::mpsc::channel::<(&'static Table, Vec<EventRow>)>(2);
    let producer = tokio::task::spawn_blocking(move || {
        let mut buffers: Vec<(&'static Table, Vec<EventRow>)> = Vec::new();
        let mut push = |table: &'static Table, row: EventRow| -> bool {
            let index = match buffers.iter().position(|(t, _)| t.name == table.name) {
                Some(index) => index,
                None => {
                    buffers.push((table, Vec::with_capacity(EVENT_BATCH)));
                    buffers.len() - 1
                }
            };
            buffers[index].1.push(row);
            if buffers[index].1.len() < EVENT_BATCH {
                return true;
            }
            let full = std::mem::replace(&mut buffers[index].1, Vec::with_capacity(EVENT_BATCH));
            sender.blocking_send((table, full)).is_ok()
        };
        for (table, row) in behind_alerts.into_iter().chain(inventory) {
            if !push(table, row) {
                return;
            }
        }
        for _ in 0..total {
            let (table, row) = events.next_event();
            if !push(table, row) {
                return;
            }
        }
        for (table, rows) in buffers.into_iter().filter(|(_, rows)| !rows.is_empty()) {
            if sender.blocking_send((table, rows)).is_err() {
                return;
            }
        }
    });
    // PostgreSQL writes two batches at once, each on its own connection; SQLite one at a time.
    let mut written = futures_util::stream::poll_fn(|cx| batches.poll_recv(cx))
        .map(|(table, rows)| {
            let scope = &scope;
            async move { store.insert_events(scope, table, &rows).await }
        })
        .buffer_unordered(store.event_writers());
    while let Some(added) = written.next().await {
        let added = added?;
        report.events_added += added;
        events_bar.inc(added);
    }
    producer.await.context("the event generator stopped")?;
    events_bar.finish_and_clear();
    // Hunting plans read the new events with statistics that know them.
    store.refresh_event_statistics().await?;
    Ok(report)
}

pub async fn seed(args: SeedArgs, json: bool) -> anyhow::Result<()> {
    let (store, tenant) = open(&args.data, &args.tenant).await?;
    for table in &args.event_tables {
        if !EventGenerator::table_names().any(|name| name == table) {
            anyhow::bail!(
                "--event-tables: the seed does not write {table}; it writes {}",
                EventGenerator::table_names().collect::<Vec<_>>().join(", ")
            );
        }
    }
    let plan = SeedPlan {
        incidents: args.incidents,
        events: args.events.unwrap_or(args.incidents.saturating_mul(EVENTS_PER_INCIDENT)),
        event_tables: args.event_tables,
        seed: args.seed,
        days: args.days,
    };
    let started = std::time::Instant::now();
    let report = seed_tenant(store.as_ref(), &tenant, &plan, !json).await?;
    let seconds = started.elapsed().as_secs_f64().max(0.001);
    emit(json, &report, || {
        format!(
            "{}; {} events added\n{:.1} s, {:.0} alerts/s, {:.0} events/s",
            describe(&report.alerts, &tenant),
            report.events_added,
            seconds,
            report.alerts.alerts_added as f64 / seconds,
            report.events_added as f64 / seconds,
        )
    })
}

/// Ordinary hunting events per seeded incident when `--events` is not given.
pub const EVENTS_PER_INCIDENT: u64 = 100;

/// Adds one batch's report to a running total.
pub(crate) fn add(total: &mut IngestReport, part: &IngestReport) {
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
    let mut query = threatgate_store::AccessLogQuery {
        since,
        incident_id: args.incident.map(IncidentId::new),
        limit: 1000,
        ..Default::default()
    };
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
