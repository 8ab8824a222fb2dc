//! `threatgate serve`: the service on a data directory.

use serde::Serialize;
use threatgate_server::{Application, Config};

use crate::cli::{HealthArgs, ServeArgs};

/// Command-line flags as a configuration layer: only the flags given override.
#[derive(Debug, Serialize)]
struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    data_dir: Option<std::path::PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    public_url: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    plain_http: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tls_names: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    emulator: Option<serde_json::Value>,
}

/// A configuration, and the scratch data directory of `--ephemeral` (removed when dropped).
pub struct Loaded {
    pub config: Config,
    pub scratch: Option<tempfile::TempDir>,
}

/// Layers defaults, the config file, the environment and the flags.
pub fn load_config(args: &ServeArgs) -> anyhow::Result<Loaded> {
    let scratch = args.ephemeral.then(scratch_directory).transpose()?;
    let overrides = Overrides {
        data_dir: scratch.as_ref().map(|dir| dir.path().to_owned()).or_else(|| args.data_dir.clone()),
        database_url: args.database_url.clone(),
        role: args.role.clone(),
        listen: args.listen.clone(),
        public_url: args.public_url.clone(),
        plain_http: args.plain_http,
        tls_names: args.tls_names.clone(),
        emulator: args.emulator.then(|| serde_json::json!({"enabled": true})),
    };
    let config = Config::load(args.config.as_deref(), &overrides)?;
    if scratch.is_some() && config.database_url.is_some() {
        anyhow::bail!(
            "--ephemeral keeps its data in memory and cannot use a database URL (unset THREATGATE_DATABASE_URL or database_url)"
        );
    }
    Ok(Loaded { config, scratch })
}

/// A fresh directory for `--ephemeral`: in /dev/shm (memory) where it exists, so nothing
/// reaches a disk, else in the temporary directory.
fn scratch_directory() -> anyhow::Result<tempfile::TempDir> {
    let memory = std::path::Path::new("/dev/shm");
    let base = if memory.is_dir() { memory.to_owned() } else { std::env::temp_dir() };
    tempfile::Builder::new()
        .prefix("threatgate-")
        .tempdir_in(&base)
        .map_err(|error| anyhow::anyhow!("creating a scratch data directory in {}: {error}", base.display()))
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let Loaded { config, scratch } = load_config(&args)?;
    let application = Application::build(&config).await?;
    print_listening(&application, scratch.is_some());
    if let Some(link) = application.setup_link() {
        say(&format!(
            "\nThis data directory has no tenant yet. Open this one-time link to create the first organization and its Global Administrator:\n  {link}\nor create it without a browser:\n  threatgate tenant create --data-dir {} --name Contoso\nor run `threatgate demo` for a ready partner and customers.\n",
            application.data_dir().root().display()
        ));
    }
    application.run_until_stopped(shutdown_signal()).await?;
    drop(scratch);
    Ok(())
}

pub fn print_listening(application: &Application, ephemeral: bool) {
    let mut text = format!(
        "Threatgate listening on {} ({})\ndata directory: {}{}\n",
        application.public_url(),
        application.local_addr(),
        application.data_dir().root().display(),
        if ephemeral { " (ephemeral: removed when the server stops)" } else { "" }
    );
    if let Some(ca) = application.ca_certificate_path() {
        let ca = ca.display();
        text.push_str(&format!(
            "TLS: certificate issued by the local CA {ca}\n  trust it per command:   curl --cacert {ca} …\n  Python (requests/MSAL): export REQUESTS_CA_BUNDLE={ca}\n  system-wide (Debian):   cp {ca} /usr/local/share/ca-certificates/threatgate.crt && update-ca-certificates\n"
        ));
    }
    if application.emulator_enabled() {
        text.push_str(&format!(
            "emulator controls on (loopback admin endpoint; key in {0}/emulator.json), e.g.\n  threatgate emulator fault add --data-dir {0} --route /api/incidents --status 429 --retry-after 5 --count 3\n",
            application.data_dir().root().display()
        ));
    }
    say(&text);
}

/// Prints what a server says at start. A server keeps running when no one reads its output
/// (`serve | head`), so a closed pipe is not an error here.
fn say(text: &str) {
    let _ = crate::output::text(text);
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}

/// `threatgate health`: whether `/readyz` answers 200, trusting the data directory's CA when
/// it has one.
pub async fn health(args: HealthArgs) -> anyhow::Result<()> {
    let mut builder = reqwest::Client::builder().timeout(std::time::Duration::from_secs(args.timeout_seconds.max(1)));
    let ca = args.data_dir.join("tls").join("ca.pem");
    if let Ok(pem) = std::fs::read(&ca) {
        builder = builder.tls_certs_only([reqwest::Certificate::from_pem(&pem)?]);
    }
    let url = format!("{}/readyz", args.url.trim_end_matches('/'));
    let response =
        anyhow::Context::with_context(builder.build()?.get(&url).send().await, || format!("{url} did not answer"))?;
    let status = response.status();
    if !status.is_success() {
        anyhow::bail!("{url} answered {status}: {}", response.text().await.unwrap_or_default().trim());
    }
    println!("ready ({url})");
    Ok(())
}
