//! Prepares a data directory for `bench/api-throughput.sh` and `bench/pg-nodes.sh`: a partner
//! with a multi-tenant app, N customer tenants that consented, and M generated incidents each,
//! then writes `bench.json` (app id, secret, tenant ids) and reports the loading rate.
//!
//!     cargo run --release --example bench_seed -- DATA_DIR TENANTS INCIDENTS_PER_TENANT [--bulk]
//!
//! By default the alerts go through correlation (`ingest_alerts`), as the API's ingestion does.
//! `--bulk` correlates each tenant's alerts in memory instead (the generator's scenarios share
//! no entities, so each becomes one incident, exactly as correlation makes it) and writes the
//! incidents with the migration's bulk import: the way to reach ten million incidents in
//! minutes rather than hours. The rows are the same either way.
#![allow(clippy::print_stdout, reason = "a benchmark tool reports on stdout")]

use std::collections::HashMap;
use std::time::Instant;

use anyhow::Context;
use threatgate_domain::IngestAlerts;
use threatgate_domain::TenantScope;
use threatgate_domain::datetime::to_ticks;
use threatgate_domain::ids::TenantId;
use threatgate_identity::{Actor, DirectoryAdmin, SystemClock};
use threatgate_incidents::{IngestAlert, add_alert, new_incident, prepare_alert};
use threatgate_seed::generator::AlertGenerator;
use threatgate_server::DataDir;
use threatgate_store::{IncidentRecord, Store};

/// The correlation window of `serve` (a day, in ticks).
const WINDOW: i64 = 24 * 3600 * 10_000_000;
/// Incidents per bulk import statement.
const BULK_BATCH: usize = 5_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (dir, tenants, per_tenant, bulk) = match args.as_slice() {
        [_, dir, tenants, per] => (dir.clone(), tenants.parse::<u64>()?, per.parse::<u64>()?, false),
        [_, dir, tenants, per, flag] if flag == "--bulk" => {
            (dir.clone(), tenants.parse::<u64>()?, per.parse::<u64>()?, true)
        }
        _ => anyhow::bail!("usage: bench_seed DATA_DIR TENANTS INCIDENTS_PER_TENANT [--bulk]"),
    };
    let data = DataDir::create(std::path::Path::new(&dir))?;
    // THREATGATE_DATABASE_URL seeds PostgreSQL instead of the data directory's SQLite file.
    let url = std::env::var("THREATGATE_DATABASE_URL").ok();
    let store = data.open_store(url.as_deref(), 8).await?;
    let hasher = data.open_secret_hasher()?;
    let admin = DirectoryAdmin::new(
        store.as_ref(),
        &hasher,
        &SystemClock,
        Actor::Operator(threatgate_identity::admin::COMMAND_LINE_ACTOR),
    );

    admin.create_tenant("Fabrikam", Some("fabrikam.onmicrosoft.com")).await?;
    let app = admin.register_application("fabrikam.onmicrosoft.com", "Fabrikam Threat Connector", true, &[]).await?;
    let app_id = app.app_id;
    admin.add_permissions(app_id, &["Incident.ReadWrite.All".into(), "SecurityIncident.Read.All".into()]).await?;
    let secret = admin.add_secret(app_id, "bench", None).await?;

    // BENCH_NOW_TICKS fixes "now", so that two loads can be compared row for row.
    let now = match std::env::var("BENCH_NOW_TICKS") {
        Ok(ticks) => ticks.parse().context("BENCH_NOW_TICKS")?,
        Err(_) => to_ticks(time::OffsetDateTime::now_utc()),
    };
    let started = Instant::now();
    let mut tenant_ids = Vec::new();
    for index in 0..tenants {
        let domain = domain_of(index);
        let tenant = admin.create_tenant(&format!("Customer {index:04}"), Some(&domain)).await?;
        admin.grant_consent(&domain, app_id).await?;
        tenant_ids.push(tenant.id);
        if (index + 1) % 1000 == 0 {
            println!("{} tenants created and consented", index + 1);
        }
    }
    let (alerts_total, load_seconds) = if bulk {
        load_bulk(store.as_ref(), &tenant_ids, per_tenant, now).await?
    } else {
        load_through_correlation(store.as_ref(), &tenant_ids, per_tenant, now).await?
    };
    let manifest = serde_json::json!({
        "app_id": app_id,
        "client_secret": secret.value.expose(),
        "tenants": tenant_ids.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "alerts": alerts_total,
        "incidents": tenants * per_tenant,
        "loading": if bulk { "bulk" } else { "correlation" },
        "ingest_seconds": load_seconds,
        "alerts_per_second": alerts_total as f64 / load_seconds,
        "total_seconds": started.elapsed().as_secs_f64(),
    });
    std::fs::write(data.root().join("bench.json"), serde_json::to_vec_pretty(&manifest)?)
        .context("writing bench.json")?;
    println!("{}", serde_json::to_string_pretty(&manifest)?);
    Ok(())
}

fn domain_of(index: u64) -> String {
    format!("customer{index:04}.onmicrosoft.com")
}

fn generate(index: u64, per_tenant: u64, now: i64) -> anyhow::Result<Vec<IngestAlert>> {
    AlertGenerator::new(index + 1, &domain_of(index), per_tenant, now, 30)
        .map(|(received, alert)| prepare_alert(alert, received).map_err(anyhow::Error::msg))
        .collect()
}

/// Every alert through the store's correlation, 1,000 per call. Returns (alerts, seconds).
async fn load_through_correlation(
    store: &dyn Store,
    tenants: &[TenantId],
    per_tenant: u64,
    now: i64,
) -> anyhow::Result<(u64, f64)> {
    let (mut alerts_total, mut seconds) = (0u64, 0.0);
    for (index, tenant) in (0u64..).zip(tenants) {
        let alerts = generate(index, per_tenant, now)?;
        let scope = TenantScope::<IngestAlerts>::for_administrator(*tenant);
        let ingest_started = Instant::now();
        for batch in alerts.chunks(1000) {
            alerts_total += store.ingest_alerts(&scope, batch.to_vec(), WINDOW).await?.alerts_added;
        }
        seconds += ingest_started.elapsed().as_secs_f64();
        if (index + 1) % 50 == 0 {
            println!(
                "{} tenants, {alerts_total} alerts, {:.0} alerts/s through correlation",
                index + 1,
                alerts_total as f64 / seconds
            );
        }
    }
    Ok((alerts_total, seconds))
}

/// Correlation in memory, on a thread of its own, and the bulk import on this one.
async fn load_bulk(store: &dyn Store, tenants: &[TenantId], per_tenant: u64, now: i64) -> anyhow::Result<(u64, f64)> {
    let started = Instant::now();
    let first_id = store.count_all_incidents().await? as i64 + 1;
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<(u64, Vec<IncidentRecord>)>(4);
    let owned = tenants.to_vec();
    let generator = std::thread::spawn(move || -> anyhow::Result<()> {
        let mut next_id = first_id;
        let mut batch = Vec::with_capacity(BULK_BATCH);
        let mut alerts = 0u64;
        for (index, tenant) in (0u64..).zip(&owned) {
            for record in correlate_in_memory(*tenant, generate(index, per_tenant, now)?, &mut next_id)? {
                alerts += record.alert_ids.len() as u64;
                batch.push(record);
                if batch.len() == BULK_BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BULK_BATCH));
                    if sender.blocking_send((std::mem::take(&mut alerts), full)).is_err() {
                        return Ok(()); // the importer failed and says why
                    }
                }
            }
        }
        if !batch.is_empty() {
            let _ = sender.blocking_send((alerts, batch));
        }
        Ok(())
    });
    let (mut alerts_total, mut incidents_total) = (0u64, 0u64);
    let total = tenants.len() as u64 * per_tenant;
    let mut reported = 0u64;
    while let Some((alerts, batch)) = receiver.recv().await {
        store.import_incidents(&batch).await?;
        alerts_total += alerts;
        incidents_total += batch.len() as u64;
        if incidents_total - reported >= 250_000 || incidents_total == total {
            reported = incidents_total;
            let seconds = started.elapsed().as_secs_f64();
            println!(
                "{incidents_total}/{total} incidents, {alerts_total} alerts, {:.0} incidents/s in bulk",
                incidents_total as f64 / seconds
            );
        }
    }
    generator.join().map_err(|_| anyhow::anyhow!("the generator thread panicked"))??;
    Ok((alerts_total, started.elapsed().as_secs_f64()))
}

/// One tenant's alerts grouped as correlation groups them: an alert joins the incident that
/// holds one of its entity keys, or starts one. The generator's scenarios never share an
/// entity, so no merge can arise; one that did would be refused rather than loaded wrongly.
fn correlate_in_memory(
    tenant: TenantId,
    alerts: Vec<IngestAlert>,
    next_id: &mut i64,
) -> anyhow::Result<Vec<IncidentRecord>> {
    let mut records: Vec<(IncidentRecord, threatgate_proto::Incident)> = Vec::new();
    let mut by_key: HashMap<String, usize> = HashMap::new();
    for alert in alerts {
        let owners: Vec<usize> = alert.keys.iter().filter_map(|key| by_key.get(key).copied()).collect();
        let at = match owners.first() {
            Some(&first) if owners.iter().all(|&o| o == first) => {
                let (record, incident) = &mut records[first];
                anyhow::ensure!(
                    alert.first_activity.get() - WINDOW <= record.last_activity,
                    "a scenario's alerts are further apart than the correlation window"
                );
                add_alert(incident, alert.alert.clone(), alert.received);
                record.last_update_time = alert.received.get();
                record.last_activity = record.last_activity.max(alert.last_activity.get());
                record.alert_ids.push(alert.alert.alert_id.clone());
                first
            }
            Some(_) => anyhow::bail!("generated scenarios share an entity: correlation would merge them"),
            None => {
                let incident_id = *next_id;
                *next_id += 1;
                let incident =
                    new_incident(threatgate_domain::IncidentId::new(incident_id), alert.alert.clone(), alert.received);
                records.push((
                    IncidentRecord {
                        incident_id,
                        tenant_id: tenant,
                        status: incident.status.clone(),
                        assigned_to: None,
                        created_time: alert.received.get(),
                        last_update_time: alert.received.get(),
                        last_activity: alert.last_activity.get(),
                        document: String::new(),
                        alert_ids: vec![alert.alert.alert_id.clone()],
                        alert_comments: Vec::new(),
                        entity_keys: Vec::new(),
                    },
                    incident,
                ));
                records.len() - 1
            }
        };
        for key in alert.keys {
            if !records[at].0.entity_keys.contains(&key) {
                records[at].0.entity_keys.push(key.clone());
            }
            by_key.insert(key, at);
        }
    }
    records
        .into_iter()
        .map(|(mut record, incident)| {
            record.document = serde_json::to_string(&incident)?;
            Ok(record)
        })
        .collect()
}
