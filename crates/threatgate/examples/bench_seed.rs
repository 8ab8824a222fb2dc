//! Prepares a data directory for `bench/api-throughput.sh`: a partner with a multi-tenant app,
//! N customer tenants that consented, and M generated incidents each (through correlation),
//! then writes `bench.json` (app id, secret, tenant ids) and reports the ingestion rate.
//!
//!     cargo run --release --example bench_seed -- DATA_DIR TENANTS INCIDENTS_PER_TENANT
#![allow(clippy::print_stdout, reason = "a benchmark tool reports on stdout")]

use std::time::Instant;

use anyhow::Context;
use threatgate_domain::datetime::to_ticks;
use threatgate_domain::{IngestAlerts, TenantScope};
use threatgate_identity::{DirectoryAdmin, SystemClock};
use threatgate_incidents::generator::AlertGenerator;
use threatgate_incidents::prepare_alert;
use threatgate_server::DataDir;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (dir, tenants, per_tenant) = match args.as_slice() {
        [_, dir, tenants, per] => (dir.clone(), tenants.parse::<u64>()?, per.parse::<u64>()?),
        _ => anyhow::bail!("usage: bench_seed DATA_DIR TENANTS INCIDENTS_PER_TENANT"),
    };
    let data = DataDir::create(std::path::Path::new(&dir))?;
    // THREATGATE_DATABASE_URL seeds PostgreSQL instead of the data directory's SQLite file.
    let url = std::env::var("THREATGATE_DATABASE_URL").ok();
    let store = data.open_store(url.as_deref(), 8).await?;
    let hasher = data.open_secret_hasher()?;
    let admin = DirectoryAdmin {
        store: store.as_ref(),
        hasher: &hasher,
        clock: &SystemClock,
        actor: threatgate_identity::admin::COMMAND_LINE_ACTOR,
    };

    admin.create_tenant("Fabrikam", Some("fabrikam.onmicrosoft.com")).await?;
    let app = admin.register_application("fabrikam.onmicrosoft.com", "Fabrikam Threat Connector", true, &[]).await?;
    let app_id = app.app_id.to_string();
    admin.add_permissions(&app_id, &["Incident.ReadWrite.All".into()]).await?;
    let secret = admin.add_secret(&app_id, "bench", None).await?;

    let now = to_ticks(time::OffsetDateTime::now_utc());
    let started = Instant::now();
    let (mut alerts_total, mut tenant_ids) = (0u64, Vec::new());
    let mut ingest_seconds = 0.0;
    for index in 0..tenants {
        let name = format!("Customer {index:04}");
        let domain = format!("customer{index:04}.onmicrosoft.com");
        let tenant = admin.create_tenant(&name, Some(&domain)).await?;
        admin.grant_consent(&domain, &app_id).await?;
        let alerts = AlertGenerator::new(index + 1, &domain, per_tenant, now, 30)
            .map(|(received, alert)| prepare_alert(alert, received).map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let scope = TenantScope::<IngestAlerts>::for_administrator(tenant.id);
        let ingest_started = Instant::now();
        for batch in alerts.chunks(1000) {
            let report = store.ingest_alerts(&scope, batch.to_vec(), 24 * 3600 * 10_000_000).await?;
            alerts_total += report.alerts_added;
        }
        ingest_seconds += ingest_started.elapsed().as_secs_f64();
        tenant_ids.push(tenant.id.to_string());
        if (index + 1) % 50 == 0 {
            println!(
                "{} tenants, {} alerts, {:.0} alerts/s through correlation",
                index + 1,
                alerts_total,
                alerts_total as f64 / ingest_seconds
            );
        }
    }
    let manifest = serde_json::json!({
        "app_id": app_id,
        "client_secret": secret.value.expose(),
        "tenants": tenant_ids,
        "alerts": alerts_total,
        "incidents": tenants * per_tenant,
        "ingest_seconds": ingest_seconds,
        "alerts_per_second": alerts_total as f64 / ingest_seconds,
        "total_seconds": started.elapsed().as_secs_f64(),
    });
    std::fs::write(data.root().join("bench.json"), serde_json::to_vec_pretty(&manifest)?)
        .context("writing bench.json")?;
    println!("{}", serde_json::to_string_pretty(&manifest)?);
    Ok(())
}
