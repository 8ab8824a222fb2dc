//! Test helpers: a real Threatgate server on `127.0.0.1:0` with a fresh data directory,
//! served over HTTPS by its own local CA, and a client that trusts that CA.
//!
//! Every test gets its own server and directory (and, with `THREATGATE_TEST_BACKEND=postgres`,
//! its own PostgreSQL database), so tests run in parallel and in any order.
#![allow(clippy::expect_used, reason = "test support: a failed setup step should stop the test with its message")]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use threatgate_identity::{Actor, DirectoryAdmin, IdentityService, SystemClock};
use threatgate_server::{Application, Config};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use tempfile::TempDir;
pub use threatgate_store::testing::TestDatabase;

/// A running server and what a test needs to talk to it.
#[derive(Debug)]
pub struct TestApp {
    pub address: SocketAddr,
    /// `https://127.0.0.1:PORT`
    pub base_url: String,
    pub ca_certificate: PathBuf,
    pub client: reqwest::Client,
    pub identity: Arc<IdentityService>,
    /// The first-run setup link (a fresh data directory has one).
    pub setup_link: Option<String>,
    data_dir: Arc<TempDir>,
    /// The PostgreSQL database, when the tests run on PostgreSQL.
    database: Option<Arc<TestDatabase>>,
    /// The settings it was started with (besides directory, database and address), for a
    /// restart or another node.
    settings: Config,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

/// Starts a server on a fresh data directory.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a server on a fresh data directory with settings changed by `configure` (quotas,
/// say); the data directory, address and refresh interval are the test's.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    let data_dir = Arc::new(tempfile::tempdir().expect("a temporary directory"));
    let database = TestDatabase::for_this_run().await.map(Arc::new);
    let mut config = Config::default();
    configure(&mut config);
    start(data_dir, database, SocketAddr::from(([127, 0, 0, 1], 0)), config).await
}

/// Starts a server on a fresh data directory and the given PostgreSQL database (whatever
/// backend the run asked for), with settings changed by `configure`: the first node of a
/// multi-node test.
pub async fn spawn_app_on(database: Arc<TestDatabase>, configure: impl FnOnce(&mut Config)) -> TestApp {
    let data_dir = Arc::new(tempfile::tempdir().expect("a temporary directory"));
    let mut config = Config::default();
    configure(&mut config);
    start(data_dir, Some(database), SocketAddr::from(([127, 0, 0, 1], 0)), config).await
}

async fn start(
    data_dir: Arc<TempDir>,
    database: Option<Arc<TestDatabase>>,
    listen: SocketAddr,
    base: Config,
) -> TestApp {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let settings = base.clone();
    let config = Config {
        data_dir: data_dir.path().to_owned(),
        database_url: database.as_ref().map(|database| database.url().to_owned()),
        database_max_connections: 4,
        listen,
        refresh_interval_ms: 50,
        ..base
    };
    let application = Application::build(&config).await.expect("the server starts");
    let address = application.local_addr();
    let base_url = application.public_url().to_owned();
    let ca_certificate = application.ca_certificate_path().expect("HTTPS by default").clone();
    let identity = Arc::clone(application.identity());
    let setup_link = application.setup_link();
    let client = client_trusting(&ca_certificate).expect("a client");
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(application.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        base_url,
        ca_certificate,
        client,
        identity,
        setup_link,
        data_dir,
        database,
        settings,
        stop: Some(stop),
        server: Some(server),
    }
}

/// `--data-dir DIR` and, with a PostgreSQL database, `--database-url URL`: what a command needs
/// to work on a data directory and its store.
pub fn store_args(data_dir: &Path, database: Option<&TestDatabase>) -> Vec<std::ffi::OsString> {
    let mut args = vec!["--data-dir".into(), data_dir.as_os_str().to_owned()];
    if let Some(database) = database {
        args.extend(["--database-url".into(), database.url().into()]);
    }
    args
}

/// A reqwest client that trusts only the given CA (PEM).
pub fn client_trusting(ca_certificate: &Path) -> anyhow::Result<reqwest::Client> {
    let pem = std::fs::read(ca_certificate).context("reading the CA certificate")?;
    let certificate = reqwest::Certificate::from_pem(&pem)?;
    Ok(reqwest::Client::builder().tls_certs_only([certificate]).build()?)
}

impl TestApp {
    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// The PostgreSQL URL, when the tests run on PostgreSQL.
    pub fn database_url(&self) -> Option<&str> {
        self.database.as_deref().map(TestDatabase::url)
    }

    /// `--data-dir DIR` (and `--database-url URL` on PostgreSQL): what a command needs to work
    /// on this server's data.
    pub fn store_args(&self) -> Vec<std::ffi::OsString> {
        store_args(self.data_dir(), self.database.as_deref())
    }

    /// Administration on this server's store, as the CLI would do it.
    pub fn admin(&self) -> DirectoryAdmin<'_> {
        DirectoryAdmin::new(
            self.identity.store().as_ref(),
            self.identity.hasher(),
            &SystemClock,
            Actor::Operator(threatgate_identity::admin::COMMAND_LINE_ACTOR),
        )
    }

    /// Makes the server's view current after a change through `admin()`.
    pub async fn refresh(&self) {
        self.identity.refresh().await.expect("the view refreshes");
    }

    /// Starts another node of the same service: a server of its own (own snapshot, own pool,
    /// own port) on the same data directory and database.
    pub async fn start_node(&self) -> TestApp {
        self.start_node_with(|_| {}).await
    }

    /// [`Self::start_node`] with settings changed by `configure` (another role, say).
    pub async fn start_node_with(&self, configure: impl FnOnce(&mut Config)) -> TestApp {
        let mut settings = self.settings.clone();
        configure(&mut settings);
        let listen = SocketAddr::from(([127, 0, 0, 1], 0));
        start(Arc::clone(&self.data_dir), self.database.clone(), listen, settings).await
    }

    /// Stops the server and starts a new one on the same data directory and port.
    pub async fn restart(mut self) -> TestApp {
        self.shutdown().await;
        let data_dir = Arc::clone(&self.data_dir);
        start(data_dir, self.database.clone(), self.address, self.settings.clone()).await
    }

    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    /// `POST {base}/{tenant}/{path}` with a form body.
    pub async fn post_form(&self, tenant: &str, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}/{tenant}/{path}", self.base_url))
            .form(form)
            .send()
            .await
            .expect("the request is answered")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.base_url)).send().await.expect("the request is answered")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A partner with a multi-tenant app and customers, as the partner guide sets them up.
#[derive(Debug, Clone)]
pub struct PartnerFixture {
    pub partner_tenant: String,
    pub app_id: String,
    pub client_secret: String,
    pub secret_key_id: String,
    /// Consented customers' tenant ids.
    pub consented: Vec<String>,
    /// A customer that has not consented.
    pub not_consented: String,
}

impl PartnerFixture {
    /// The application's id, typed, for the directory's administration calls.
    pub fn app(&self) -> threatgate_domain::AppId {
        threatgate_domain::AppId::parse(&self.app_id).expect("the fixture's app id is a GUID")
    }

    /// The id of the secret `seed_partner` created, typed.
    pub fn secret_key(&self) -> threatgate_domain::ObjectId {
        threatgate_domain::ObjectId::parse(&self.secret_key_id).expect("the fixture's secret id is a GUID")
    }
}

/// Seeds Fabrikam (partner, app with `roles`, a secret), Contoso and Woodgrove (consented)
/// and Northwind (not consented).
pub async fn seed_partner(app: &TestApp, roles: &[&str]) -> PartnerFixture {
    let admin = app.admin();
    let partner = admin.create_tenant("Fabrikam", Some("fabrikam.onmicrosoft.com")).await.expect("partner tenant");
    let application = admin
        .register_application(
            "fabrikam.onmicrosoft.com",
            "Fabrikam Threat Connector",
            true,
            &["https://portal.azure.com".into()],
        )
        .await
        .expect("application");
    let app_id = application.app_id;
    if !roles.is_empty() {
        let names: Vec<String> = roles.iter().map(|r| (*r).to_owned()).collect();
        admin.add_permissions(app_id, &names).await.expect("permissions");
    }
    let secret = admin.add_secret(app_id, "test", None).await.expect("secret");
    let mut consented = Vec::new();
    for (name, domain) in [("Contoso", "contoso.onmicrosoft.com"), ("Woodgrove", "woodgrove.onmicrosoft.com")] {
        let tenant = admin.create_tenant(name, Some(domain)).await.expect("customer");
        admin.grant_consent(domain, app_id).await.expect("consent");
        consented.push(tenant.id.to_string());
    }
    let northwind = admin.create_tenant("Northwind", Some("northwind.onmicrosoft.com")).await.expect("customer");
    app.refresh().await;
    PartnerFixture {
        partner_tenant: partner.id.to_string(),
        app_id: app_id.to_string(),
        client_secret: secret.value.expose().to_owned(),
        secret_key_id: secret.record.key_id.to_string(),
        consented,
        not_consented: northwind.id.to_string(),
    }
}
