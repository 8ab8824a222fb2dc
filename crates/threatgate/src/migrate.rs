//! `threatgate migrate`: a whole store copied into a new, empty database, with progress.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use threatgate_server::data_dir::StoreLocation;
use threatgate_store::{CopyProgress, PgSettings, PgStore, SqliteStore, Store};

use crate::cli::MigrateArgs;
use crate::output::emit;

pub async fn migrate(args: MigrateArgs, json: bool) -> anyhow::Result<()> {
    let from = open(&args.from, false).await.context("opening the source")?;
    let to = open(&args.to, true).await.context("opening the target")?;
    let started = std::time::Instant::now();
    let bar = if json { ProgressBar::hidden() } else { ProgressBar::new(0) };
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} incidents, {per_sec}, eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message("copying the directory and keys");
    let report = threatgate_store::copy_store(from.as_ref(), to.as_ref(), |stage| match stage {
        CopyProgress::Directory => bar.set_message("copying incidents"),
        CopyProgress::Incidents { done, total } => {
            bar.set_length(total);
            bar.set_position(done);
        }
        CopyProgress::Logs { done } => bar.set_message(format!("copying the logs: {done} records")),
        CopyProgress::Events { table, done } => bar.set_message(format!("copying hunting events: {done} ({table})")),
    })
    .await?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    emit(json, &report, || {
        format!(
            "copied in {seconds:.1} s: {} tenants, {} users, {} applications, {} client secrets, {} certificates, {} consents, {} signing keys, {} incidents, {} access-log entries, {} audit events, {} hunting events.\n\
             Portal sessions are not copied: people sign in again. Serve from the new database with the same data directory (its key files and TLS material):\n  threatgate serve --data-dir <DIR> --database-url <the target URL>",
            report.tenants,
            report.users,
            report.applications,
            report.client_secrets,
            report.certificates,
            report.consents,
            report.signing_keys,
            report.incidents,
            report.access_log_entries,
            report.audit_events,
            report.hunting_events,
        )
    })
}

/// Opens a store by URL; a `sqlite://` path may name a data directory. The target is created
/// if it is a new SQLite file; a source must exist.
async fn open(url: &str, target: bool) -> anyhow::Result<Arc<dyn Store>> {
    match StoreLocation::parse(url)? {
        StoreLocation::Sqlite(path) => {
            let path: PathBuf = if path.is_dir() { path.join("threatgate.db") } else { path };
            if !target && !path.exists() {
                anyhow::bail!("{} does not exist", path.display());
            }
            Ok(Arc::new(SqliteStore::open(&path).await?))
        }
        StoreLocation::Postgres(url) => {
            Ok(Arc::new(PgStore::open(&url, &PgSettings { max_connections: 4, ..PgSettings::default() }).await?))
        }
    }
}
