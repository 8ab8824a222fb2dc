//! How long one batch of alerts holds the write lock while it is correlated, as the number of
//! alerts joining one incident grows (the audit's finding 6: the cost grew with its square).
//!
//!     cargo run --release --example bench_ingest -- DATA_DIR [ALERTS...]
//!
//! For each size (default 500, 1000, 4000), three fresh tenants each get one batch of that
//! many alerts that all share a device, so that every alert joins the same incident; prints the
//! median time per batch and per alert. `THREATGATE_DATABASE_URL` measures PostgreSQL instead
//! of the data directory's SQLite file.
#![allow(clippy::print_stdout, reason = "a benchmark tool reports on stdout")]

use std::time::{Duration, Instant};

use threatgate_domain::datetime::to_ticks;
use threatgate_domain::{IngestAlerts, TenantScope};
use threatgate_identity::{Actor, DirectoryAdmin, SystemClock};
use threatgate_incidents::{IngestAlert, prepare_alert};
use threatgate_seed::generator::AlertGenerator;
use threatgate_server::DataDir;

const WINDOW: i64 = 24 * 3600 * 10_000_000;
const RUNS: usize = 3;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let Some(dir) = args.get(1) else { anyhow::bail!("usage: bench_ingest DATA_DIR [ALERTS...]") };
    let sizes: Vec<usize> = if args.len() > 2 {
        args[2..].iter().map(|a| a.parse()).collect::<Result<_, _>>()?
    } else {
        vec![500, 1_000, 4_000]
    };
    let data = DataDir::create(std::path::Path::new(dir))?;
    let url = std::env::var("THREATGATE_DATABASE_URL").ok();
    let store = data.open_store(url.as_deref(), 8).await?;
    let hasher = data.open_secret_hasher()?;
    let admin = DirectoryAdmin::new(
        store.as_ref(),
        &hasher,
        &SystemClock,
        Actor::Operator(threatgate_identity::admin::COMMAND_LINE_ACTOR),
    );
    let now = to_ticks(time::OffsetDateTime::now_utc());
    println!("alerts_per_batch  median_batch_ms  median_us_per_alert  incidents");
    for size in sizes {
        let mut times = Vec::with_capacity(RUNS);
        let mut incidents = 0;
        for _ in 0..RUNS {
            let name = format!("Bench {}", uuid::Uuid::new_v4().simple());
            let tenant = admin.create_tenant(&name, None).await?.id;
            let alerts = batch(size, now)?;
            let scope = TenantScope::<IngestAlerts>::for_administrator(tenant);
            let started = Instant::now();
            let report = store.ingest_alerts(&scope, alerts, WINDOW).await?;
            times.push(started.elapsed());
            incidents = report.incidents_created;
        }
        times.sort();
        let median: Duration = times[RUNS / 2];
        println!(
            "{size:>16}  {:>15.1}  {:>19.1}  {incidents:>9}",
            median.as_secs_f64() * 1e3,
            median.as_secs_f64() * 1e6 / size as f64
        );
    }
    Ok(())
}

/// `size` generated alerts, all given the first one's devices, so all in one incident.
fn batch(size: usize, now: i64) -> anyhow::Result<Vec<IngestAlert>> {
    let mut generated = AlertGenerator::new(7, "contoso.onmicrosoft.com", size as u64, now, 10).map(|(_, alert)| alert);
    let first = generated.next().ok_or_else(|| anyhow::anyhow!("the generator made no alert"))?;
    let devices = first.devices.clone();
    std::iter::once(first)
        .chain(generated)
        .take(size)
        .enumerate()
        .map(|(i, mut alert)| {
            alert.alert_id = format!("da{i:012}_bench");
            alert.devices = devices.clone();
            prepare_alert(alert, threatgate_domain::Ticks(now))
                .map_err(|why| anyhow::anyhow!("a generated alert is invalid: {why}"))
        })
        .collect()
}
