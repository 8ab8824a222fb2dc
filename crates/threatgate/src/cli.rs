//! The command line: `threatgate <command>`. Help texts come from the doc comments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use threatgate_domain::{AppId, ObjectId};

/// Threatgate: a self-hostable Microsoft identity platform and Threat Protection API for
/// security partners.
#[derive(Debug, Parser)]
#[command(name = "threatgate", version, propagate_version = true)]
pub struct Cli {
    /// Print results as JSON (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service on a data directory.
    Serve(ServeArgs),
    /// Create (or reuse) a demo partner and three customers, then serve them.
    Demo(ServeArgs),
    /// Tenants (directories).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Users of a tenant.
    #[command(subcommand)]
    User(UserCommand),
    /// Application registrations, their secrets and permissions.
    #[command(subcommand)]
    App(AppCommand),
    /// Admin consent of an application in a tenant.
    #[command(subcommand)]
    Consent(ConsentCommand),
    /// Token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Decode an access token (or a token response) and show its header and claims.
    Decode(DecodeArgs),
    /// Add alerts to a tenant (JSON lines or a JSON array, section 3.2 shape); each is
    /// correlated into the tenant's incidents.
    Ingest(IngestArgs),
    /// Generate realistic, deterministic alerts for a tenant and ingest them.
    Seed(SeedArgs),
    /// Ingest alerts over time from a scenario file (TOML), so that a connector's poller sees
    /// new and updated incidents (docs/emulator.md).
    Scenario(ScenarioArgs),
    /// The partner access log of a tenant, newest first, as JSON lines: every call an
    /// application made to the Threat Protection API there.
    AccessLog(AccessLogArgs),
    /// The audit trail of a tenant, newest first, as JSON lines: changes to its directory and
    /// applications, consents, tokens issued and API calls in it, and what its own
    /// applications did in every other tenant. Never a token or a secret.
    Audit(AuditArgs),
    /// Copy a whole store into a new, empty database (SQLite to PostgreSQL, say), with a
    /// progress bar. Key files and TLS material stay in the data directory.
    Migrate(MigrateArgs),
    /// Partner: get an access token for a customer tenant (client credentials).
    Token(TokenArgs),
    /// Print a shell completion script, e.g. `threatgate completions bash >
    /// /etc/bash_completion.d/threatgate` (or `source <(threatgate completions bash)`).
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Partner: list, get and update incidents in one customer tenant or in all of them.
    #[command(subcommand)]
    Incidents(IncidentsCommand),
    /// Partner: run an advanced hunting query (KQL) in one customer tenant or in all of them.
    Hunt(HuntArgs),
    /// The running server's emulator controls (it must run with `--emulator`): inject faults,
    /// shorten token lifetimes. See docs/emulator.md.
    #[command(subcommand)]
    Emulator(EmulatorCommand),
    /// Exit 0 when the server answers its readiness check (`/readyz`: it serves and its
    /// database responds), else 1: for container health checks and scripts.
    Health(HealthArgs),
}

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// The server's base URL.
    #[arg(long, env = "THREATGATE_HEALTH_URL", default_value = "https://127.0.0.1:8443")]
    pub url: String,
    /// The data directory whose CA (tls/ca.pem) signed the server's certificate.
    #[arg(long, env = "THREATGATE_DATA_DIR", default_value = "threatgate-data")]
    pub data_dir: PathBuf,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 5)]
    pub timeout_seconds: u64,
}

#[derive(Debug, Subcommand)]
pub enum EmulatorCommand {
    /// Faults the server injects into matching calls.
    #[command(subcommand)]
    Fault(FaultCommand),
    /// How long an application's tokens live.
    #[command(subcommand)]
    TokenLifetime(LifetimeCommand),
    /// Save the server's current state (directory, incidents, hunting events) as the state
    /// `reset` returns to; `demo --emulator` saves one once it is ready.
    Checkpoint {
        /// The data directory of the running server (its emulator.json).
        #[arg(long, env = "THREATGATE_DATA_DIR", default_value = "threatgate-data")]
        data_dir: PathBuf,
    },
    /// Return the server to its checkpoint: its data, the configuration's faults and token
    /// lifetimes, and fresh quotas (the access log and audit trail are kept).
    Reset {
        /// The data directory of the running server (its emulator.json).
        #[arg(long, env = "THREATGATE_DATA_DIR", default_value = "threatgate-data")]
        data_dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum FaultCommand {
    /// Add a fault, e.g. `--route /api/incidents --status 429 --retry-after 3 --count 2`, or
    /// `--route token --aadsts 7000222`.
    Add(FaultArgs),
    /// The faults in force, with how often each acted.
    List {
        /// The data directory of the running server (its emulator.json).
        #[arg(long, env = "THREATGATE_DATA_DIR", default_value = "threatgate-data")]
        data_dir: PathBuf,
    },
    /// Remove one fault.
    Remove {
        /// The data directory of the running server (its emulator.json).
        #[arg(long, env = "THREATGATE_DATA_DIR", default_value = "threatgate-data")]
        data_dir: PathBuf,
        /// Its id (from `add` or `list`).
        id: u64,
    },
    /// Remove every fault.
    Clear {
        /// The data directory of the running server (its emulator.json).
        #[arg(long, env = "THREATGATE_DATA_DIR", default_value = "threatgate-data")]
        data_dir: PathBuf,
    },
}

/// A fault: which calls (every matcher given must match) and what happens to them.
#[derive(Debug, Args)]
pub struct FaultArgs {
    /// The data directory of the running server (its emulator.json).
    #[arg(long, env = "THREATGATE_DATA_DIR", default_value = "threatgate-data")]
    pub data_dir: PathBuf,
    /// Only calls in this tenant (its id; for the token endpoint also its domain).
    #[arg(long)]
    pub tenant: Option<String>,
    /// Only calls of this application (client id).
    #[arg(long)]
    pub app: Option<String>,
    /// `token`, or a path prefix: /api/incidents, /api/advancedhunting, /v1.0/security…
    #[arg(long)]
    pub route: Option<String>,
    /// Answer with this status: 401, 429, 500, 503, 504 (token endpoint: 429, 500, 503, 504).
    #[arg(long)]
    pub status: Option<u16>,
    /// Retry-After of a 429 or 503, in seconds.
    #[arg(long)]
    pub retry_after: Option<u64>,
    /// Answer a token request with this AADSTS error: 7000222, 7000215, 700016, 90055, 50000.
    #[arg(long)]
    pub aadsts: Option<u32>,
    /// Add this much latency, in milliseconds (alone: then serve the call as usual).
    #[arg(long)]
    pub latency_ms: Option<u64>,
    /// Close the connection without an answer.
    #[arg(long)]
    pub drop: bool,
    /// Only the next N matching calls.
    #[arg(long)]
    pub count: Option<u64>,
    /// Only this percentage of matching calls (1 to 100).
    #[arg(long)]
    pub percent: Option<u8>,
}

#[derive(Debug, Subcommand)]
pub enum LifetimeCommand {
    /// Give an application's new tokens this lifetime (60 to 86400 seconds).
    Set {
        /// The data directory of the running server (its emulator.json).
        #[arg(long, env = "THREATGATE_DATA_DIR", default_value = "threatgate-data")]
        data_dir: PathBuf,
        /// The application (client) id.
        #[arg(long)]
        app: String,
        /// The lifetime in seconds, 60 to 86400.
        #[arg(long)]
        seconds: i64,
    },
    /// Back to an hour.
    Reset {
        /// The data directory of the running server (its emulator.json).
        #[arg(long, env = "THREATGATE_DATA_DIR", default_value = "threatgate-data")]
        data_dir: PathBuf,
        /// The application (client) id.
        #[arg(long)]
        app: String,
    },
    /// The applications whose tokens live other than an hour.
    List {
        /// The data directory of the running server (its emulator.json).
        #[arg(long, env = "THREATGATE_DATA_DIR", default_value = "threatgate-data")]
        data_dir: PathBuf,
    },
}

/// Where the partner's application gets tokens and calls the API. Each option can also come
/// from its `THREATGATE_…` environment variable or from a profile (`--profile`, in the
/// profiles file); the command line wins, then the environment, then the profile.
#[derive(Debug, Clone, Args)]
pub struct PartnerArgs {
    /// The profile to use from the profiles file [default: `default`, when the file exists].
    #[arg(long, env = "THREATGATE_PROFILE")]
    pub profile: Option<String>,
    /// The profiles file (TOML) [default: ~/.config/threatgate/profiles.toml].
    #[arg(long, env = "THREATGATE_PROFILES")]
    pub profiles: Option<PathBuf>,
    /// The identity platform [default: https://login.microsoftonline.com].
    #[arg(long, env = "THREATGATE_AUTHORITY")]
    pub authority: Option<String>,
    /// The Threat Protection API [default: https://api.security.microsoft.com].
    #[arg(long, env = "THREATGATE_API_BASE")]
    pub api_base: Option<String>,
    /// Microsoft Graph's address, for `--api graph` (default: the API base when one is given,
    /// as Threatgate serves both, else https://graph.microsoft.com).
    #[arg(long, env = "THREATGATE_GRAPH_BASE")]
    pub graph_base: Option<String>,
    /// Trust this CA certificate (PEM) besides the system's, e.g. Threatgate's `tls/ca.pem`.
    #[arg(long, env = "THREATGATE_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// The application (client) ID.
    #[arg(long, env = "THREATGATE_CLIENT_ID")]
    pub client_id: Option<String>,
    /// The name of the environment variable that holds the client secret.
    #[arg(long, env = "THREATGATE_CLIENT_SECRET_ENV")]
    pub client_secret_env: Option<String>,
    /// A file that holds the client secret (owner-only).
    #[arg(long, env = "THREATGATE_CLIENT_SECRET_FILE")]
    pub client_secret_file: Option<PathBuf>,
    /// Keep tokens in this file between runs (written owner-only).
    #[arg(long, env = "THREATGATE_TOKEN_CACHE")]
    pub token_cache: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(flatten)]
    pub partner: PartnerArgs,
    /// The customer tenant: GUID or domain.
    #[arg(long)]
    pub tenant: String,
    /// The resource (API) the token is for.
    #[arg(long, default_value = "https://api.security.microsoft.com")]
    pub resource: String,
    /// Use the v1 endpoint (`/oauth2/token`, `resource=`) instead of v2.
    #[arg(long)]
    pub v1: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns, for people.
    Table,
    /// One JSON array (one object for a single incident).
    Json,
    /// One JSON object per line, each with `tenant`, printed as each tenant answers.
    Ndjson,
    /// RFC 4180 CSV with a header: tenant, id, severity, status, assignedTo, lastUpdateTime,
    /// name.
    Csv,
}

/// How `hunt` prints rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HuntFormat {
    /// Aligned columns, long cells cut.
    Table,
    /// One JSON array of row objects.
    Json,
    /// One row object per line, as each tenant answers.
    Ndjson,
    /// A header, then one line per row (RFC 4180).
    Csv,
}

#[derive(Debug, Args)]
pub struct HuntArgs {
    #[command(flatten)]
    pub partner: PartnerArgs,
    #[command(flatten)]
    pub tenants: TenantChoice,
    /// The query, e.g. 'DeviceProcessEvents | where FileName =~ "powershell.exe" | take 10'.
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    pub query: Option<String>,
    /// Read the query from this file (- for standard input).
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Every row has the tenant first.
    #[arg(long, value_enum, default_value_t = HuntFormat::Table)]
    pub output: HuntFormat,
    /// Which API runs the query: the Threat Protection API (`AdvancedHunting.Read.All`) or
    /// Microsoft Graph's runHuntingQuery (`ThreatHunting.Read.All`).
    #[arg(long, value_enum, default_value_t = ApiChoice::ThreatProtection)]
    pub api: ApiChoice,
}

/// The API a command calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ApiChoice {
    /// `https://api.security.microsoft.com` (`/api/…`).
    ThreatProtection,
    /// Microsoft Graph's security API (`/v1.0/security/…`).
    Graph,
}

/// Which tenants a command works in.
#[derive(Debug, Clone, Args)]
pub struct TenantChoice {
    /// One customer tenant: GUID or domain.
    #[arg(long, conflicts_with = "all_tenants")]
    pub tenant: Option<String>,
    /// Every tenant of the profile (its `tenants` / `tenants_file`), or with `=FILE` every
    /// tenant listed in FILE (one GUID or domain per line; `#` starts a comment). The file
    /// needs the `=`: `--all-tenants 'KQL'` is all tenants and a query.
    #[arg(long, value_name = "FILE", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub all_tenants: Option<String>,
    /// How many tenants to work on at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
}

#[derive(Debug, Subcommand)]
pub enum IncidentsCommand {
    /// List incidents, newest change first, following every page.
    List {
        #[command(flatten)]
        partner: PartnerArgs,
        #[command(flatten)]
        tenants: TenantChoice,
        /// Only incidents updated in this period (`30m`, `48h`, `7d`) or since a UTC time.
        #[arg(long)]
        since: Option<String>,
        /// Only incidents with this status (Active, InProgress, Resolved, Redirected).
        #[arg(long)]
        status: Option<String>,
        /// Only incidents assigned to this owner.
        #[arg(long)]
        assigned_to: Option<String>,
        /// Any other OData `$filter` expression, and-ed with the above (in the chosen API's
        /// property names).
        #[arg(long)]
        filter: Option<String>,
        /// How to print the result.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
        /// Which API lists them: the Threat Protection API (`Incident.Read.All`) or Microsoft
        /// Graph's security API (`SecurityIncident.Read.All`; JSON output in Graph's shape).
        #[arg(long, value_enum, default_value_t = ApiChoice::ThreatProtection)]
        api: ApiChoice,
    },
    /// Get one incident.
    Get {
        #[command(flatten)]
        partner: PartnerArgs,
        /// The customer tenant: GUID or domain.
        #[arg(long)]
        tenant: String,
        /// The incident ID.
        id: i64,
        /// How to print the result.
        #[arg(long, value_enum, default_value_t = OutputFormat::Json)]
        output: OutputFormat,
        /// Which API reads it (`--api graph`: Graph's shape).
        #[arg(long, value_enum, default_value_t = ApiChoice::ThreatProtection)]
        api: ApiChoice,
    },
    /// Update one incident: status, assignment, classification, determination, tags, comment.
    Update {
        #[command(flatten)]
        partner: PartnerArgs,
        /// The customer tenant: GUID or domain.
        #[arg(long)]
        tenant: String,
        /// The incident ID.
        id: i64,
        /// The new status: Active, InProgress, Resolved or Redirected.
        #[arg(long)]
        status: Option<String>,
        /// The new owner; an empty value unassigns.
        #[arg(long)]
        assigned_to: Option<String>,
        /// The new classification: Unknown, FalsePositive, TruePositive or InformationalExpectedActivity.
        #[arg(long)]
        classification: Option<String>,
        /// The new determination, e.g. Malware, SecurityTesting, Other.
        #[arg(long)]
        determination: Option<String>,
        /// Replaces the tags (repeatable).
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// Removes every tag.
        #[arg(long, conflicts_with = "tags")]
        clear_tags: bool,
        /// A comment to append.
        #[arg(long)]
        comment: Option<String>,
        /// How to print the result.
        #[arg(long, value_enum, default_value_t = OutputFormat::Json)]
        output: OutputFormat,
        /// Which API changes it (`--api graph`: `SecurityIncident.ReadWrite.All`, a PATCH and
        /// the comment posted to the incident's comments).
        #[arg(long, value_enum, default_value_t = ApiChoice::ThreatProtection)]
        api: ApiChoice,
    },
}

#[derive(Debug, Args)]
pub struct AccessLogArgs {
    #[command(flatten)]
    pub data: DataDirArg,
    /// Tenant GUID or domain.
    #[arg(long)]
    pub tenant: String,
    /// Only entries of the last period (`30m`, `48h`, `7d`) or since a UTC time
    /// (`2026-11-01T00:00:00Z`).
    #[arg(long)]
    pub since: Option<String>,
    /// Only gets and updates of this incident.
    #[arg(long)]
    pub incident: Option<i64>,
    /// At most this many entries.
    #[arg(long)]
    pub limit: Option<u64>,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The source: sqlite://PATH (a data directory or its threatgate.db) or postgres://….
    #[arg(long)]
    pub from: String,
    /// The target, which must be empty: postgres://user@host/db (or sqlite://PATH).
    #[arg(long)]
    pub to: String,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub data: DataDirArg,
    /// Tenant GUID or domain.
    #[arg(long)]
    pub tenant: String,
    /// Only records of the last period (`30m`, `48h`, `7d`) or since a UTC time
    /// (`2026-11-01T00:00:00Z`).
    #[arg(long)]
    pub since: Option<String>,
    /// At most this many records.
    #[arg(long)]
    pub limit: Option<u64>,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    #[command(flatten)]
    pub data: DataDirArg,
    /// Tenant GUID or domain.
    #[arg(long)]
    pub tenant: String,
    /// The file of alerts (or of events, with --table), or - for standard input.
    pub file: String,
    /// Events for this advanced hunting table (DeviceProcessEvents, EmailEvents, …) instead of
    /// alerts: JSON lines or an array of objects keyed by the table's column names.
    #[arg(long)]
    pub table: Option<String>,
    /// Correlation window in hours.
    #[arg(long, default_value_t = 24)]
    pub window_hours: u32,
}

#[derive(Debug, Args)]
pub struct SeedArgs {
    #[command(flatten)]
    pub data: DataDirArg,
    /// Tenant GUID or domain.
    #[arg(long)]
    pub tenant: String,
    /// How many incidents to create.
    #[arg(long)]
    pub incidents: u64,
    /// How many ordinary advanced hunting events to add besides those behind the alerts
    /// (default: 100 per incident).
    #[arg(long)]
    pub events: Option<u64>,
    /// Only these hunting tables, comma-separated (e.g.
    /// DeviceProcessEvents,DeviceNetworkEvents); all by default.
    #[arg(long, value_delimiter = ',')]
    pub event_tables: Vec<String>,
    /// The seed: the same seed gives the same alerts.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Spread the incidents over this many days before now.
    #[arg(long, default_value_t = 30)]
    pub days: u32,
}

#[derive(Debug, Args)]
pub struct ScenarioArgs {
    #[command(flatten)]
    pub data: DataDirArg,
    /// The scenario: `[[step]]` tables with `after`, `tenant`, and one of `new_incidents`,
    /// `follow_up`, `alerts_file` (and `repeat`).
    pub file: PathBuf,
    /// Run this many times faster (waits divided by it), e.g. 10 in CI.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Seed of the generated alerts (default: from the clock, so every run adds new ones).
    #[arg(long)]
    pub seed: Option<u64>,
}

/// Where the data lives; every administration command takes it.
#[derive(Debug, Clone, Args)]
pub struct DataDirArg {
    /// The data directory.
    #[arg(long, env = "THREATGATE_DATA_DIR", default_value = "threatgate-data")]
    pub data_dir: PathBuf,
    /// The database, when not the data directory's SQLite file: postgres://user@host/db or
    /// sqlite://PATH.
    #[arg(long, env = "THREATGATE_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Create the data directory when it does not exist (without this, a missing directory is
    /// an error: a mistyped path must not start a new, empty store).
    #[arg(long)]
    pub create: bool,
}

impl DataDirArg {
    /// Opens the directory and the store it names (a small pool: one command's work). A
    /// directory that does not exist is refused unless `--create` was given.
    pub async fn open(
        &self,
    ) -> anyhow::Result<(threatgate_server::DataDir, std::sync::Arc<dyn threatgate_store::Store>)> {
        if !self.create && !self.data_dir.exists() {
            anyhow::bail!(
                "the data directory {} does not exist. Is the path right? `threatgate serve` or \
                 `threatgate demo` creates it; pass --create to start an empty one here.",
                self.data_dir.display()
            );
        }
        let dir = threatgate_server::DataDir::create(&self.data_dir)?;
        let store = dir.open_store(self.database_url.as_deref(), 4).await?;
        Ok((dir, store))
    }
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// The data directory, created if missing [default: ./threatgate-data; env
    /// THREATGATE_DATA_DIR].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The database: postgres://user@host/db (nodes may share it) or sqlite://PATH [default:
    /// the data directory's SQLite file; env THREATGATE_DATABASE_URL].
    #[arg(long)]
    pub database_url: Option<String>,
    /// Which paths this node serves: all, identity (tokens, discovery, portal) or api
    /// (/api/…) [default: all; env THREATGATE_ROLE].
    #[arg(long, value_parser = ["all", "identity", "api"])]
    pub role: Option<String>,
    /// Address (or host name) and port to listen on; port 0 takes a free one, which the
    /// output and demo.json then name [default: 127.0.0.1:8443; env THREATGATE_LISTEN].
    #[arg(long)]
    pub listen: Option<String>,
    /// Base URL clients use to reach the server [default: https://<listen>; env
    /// THREATGATE_PUBLIC_URL].
    #[arg(long)]
    pub public_url: Option<String>,
    /// A TOML configuration file (docs/configuration.md).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Serve plain HTTP, for deployments that terminate TLS in front of Threatgate [env
    /// THREATGATE_PLAIN_HTTP=true].
    #[arg(long)]
    pub plain_http: bool,
    /// Another DNS name or IP address for the generated server certificate (repeatable) [env
    /// THREATGATE_TLS_NAMES].
    #[arg(long = "tls-name")]
    pub tls_names: Vec<String>,
    /// Turn on the emulator's controls: fault injection and token lifetimes, through a
    /// loopback admin endpoint whose key goes to DATA_DIR/emulator.json (docs/emulator.md).
    #[arg(long, env = "THREATGATE_EMULATOR")]
    pub emulator: bool,
    /// Keep nothing: a fresh data directory in memory (/dev/shm where it exists, else the
    /// temporary directory), removed when the server stops. Not with --data-dir or
    /// --database-url.
    #[arg(long, env = "THREATGATE_EPHEMERAL", conflicts_with_all = ["data_dir", "database_url"])]
    pub ephemeral: bool,
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant.
    Create {
        #[command(flatten)]
        data: DataDirArg,
        /// Display name, e.g. "Contoso".
        #[arg(long)]
        name: String,
        /// Initial domain [default: <name>.onmicrosoft.com].
        #[arg(long)]
        domain: Option<String>,
    },
    /// List tenants.
    List {
        #[command(flatten)]
        data: DataDirArg,
    },
    /// Show one tenant, by GUID or domain.
    Show {
        #[command(flatten)]
        data: DataDirArg,
        /// The tenant: GUID or domain.
        tenant: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. Without --password-env a password is generated and printed once.
    Create {
        #[command(flatten)]
        data: DataDirArg,
        /// Tenant GUID or domain.
        #[arg(long)]
        tenant: String,
        /// User principal name, e.g. admin@contoso.onmicrosoft.com.
        #[arg(long)]
        upn: String,
        /// Name of an environment variable holding the password.
        #[arg(long)]
        password_env: Option<String>,
        /// Make the user a Global Administrator of the tenant.
        #[arg(long)]
        global_admin: bool,
    },
    /// List a tenant's users.
    List {
        #[command(flatten)]
        data: DataDirArg,
        /// The tenant: GUID or domain.
        #[arg(long)]
        tenant: String,
    },
    /// Show one user, by user principal name.
    Show {
        #[command(flatten)]
        data: DataDirArg,
        /// The user principal name, e.g. admin@contoso.onmicrosoft.com.
        upn: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Register an application in a tenant.
    Register {
        #[command(flatten)]
        data: DataDirArg,
        /// Home tenant, by GUID or domain.
        #[arg(long)]
        tenant: String,
        /// The display name, e.g. "Fabrikam Threat Connector".
        #[arg(long)]
        name: String,
        /// "Accounts in any organizational directory" (the partner case).
        #[arg(long)]
        multi_tenant: bool,
        /// A Web redirect URI (repeatable), e.g. https://portal.azure.com.
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
    },
    /// List applications, all or of one home tenant.
    List {
        #[command(flatten)]
        data: DataDirArg,
        /// The tenant: GUID or domain.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Show an application.
    Show {
        #[command(flatten)]
        data: DataDirArg,
        /// Application (client) ID.
        app: AppId,
    },
    /// Every credential with its expiry: of one application, of a tenant's applications, or of
    /// all; those ending within 30 days (or ended) are marked.
    Credentials {
        #[command(flatten)]
        data: DataDirArg,
        /// Only applications registered in this tenant (GUID or domain).
        #[arg(long, conflicts_with = "app")]
        tenant: Option<String>,
        /// Only this application (client) ID.
        #[arg(long)]
        app: Option<AppId>,
        /// Only credentials that end within 30 days or have ended.
        #[arg(long)]
        expiring: bool,
    },
    /// Client secrets.
    #[command(subcommand)]
    Secret(SecretCommand),
    /// Certificate credentials (the public part of a certificate whose key signs client
    /// assertions).
    #[command(subcommand)]
    Certificate(CertificateCommand),
    /// API permissions (application permissions of the Threat Protection API).
    #[command(subcommand)]
    Permission(PermissionCommand),
}

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Add a client secret. Its value is printed once and never again.
    Add {
        #[command(flatten)]
        data: DataDirArg,
        /// The application (client) ID.
        #[arg(long)]
        app: AppId,
        /// What the secret is for, shown in lists (never the value).
        #[arg(long, default_value = "")]
        description: String,
        /// Lifetime in days, 1 to 730 [default: 180].
        #[arg(long)]
        expires_in_days: Option<i64>,
    },
    /// Delete a client secret.
    Delete {
        #[command(flatten)]
        data: DataDirArg,
        /// The application (client) ID.
        #[arg(long)]
        app: AppId,
        /// The secret's id, from `app secret list`.
        #[arg(long)]
        key_id: ObjectId,
    },
    /// List an application's secrets (hints and dates, never values).
    List {
        #[command(flatten)]
        data: DataDirArg,
        /// The application (client) ID.
        #[arg(long)]
        app: AppId,
    },
}

#[derive(Debug, Subcommand)]
pub enum CertificateCommand {
    /// Upload a certificate's public part (PEM or DER); it is valid as the certificate says.
    Add {
        #[command(flatten)]
        data: DataDirArg,
        /// The application (client) ID.
        #[arg(long)]
        app: AppId,
        /// The certificate file: PEM (-----BEGIN CERTIFICATE-----) or DER. Never the private key.
        #[arg(long)]
        certificate: std::path::PathBuf,
        /// [default: the certificate's subject]
        #[arg(long)]
        description: Option<String>,
    },
    /// Remove a certificate credential.
    Delete {
        #[command(flatten)]
        data: DataDirArg,
        /// The application (client) ID.
        #[arg(long)]
        app: AppId,
        /// The credential's key id or its thumbprint (hex), from `app certificate list`.
        #[arg(long)]
        key_id: String,
    },
    /// List an application's certificates: thumbprints and validity.
    List {
        #[command(flatten)]
        data: DataDirArg,
        /// The application (client) ID.
        #[arg(long)]
        app: AppId,
    },
}

#[derive(Debug, Subcommand)]
pub enum PermissionCommand {
    /// Request Threat Protection permissions, e.g. Incident.Read.All (or Incidents.Read.All).
    Add {
        #[command(flatten)]
        data: DataDirArg,
        /// The application (client) ID.
        #[arg(long)]
        app: AppId,
        /// Application permissions (app roles), e.g. Incident.Read.All AdvancedHunting.Read.All.
        #[arg(required = true)]
        roles: Vec<String>,
    },
    /// List the permissions an application requests.
    List {
        #[command(flatten)]
        data: DataDirArg,
        /// The application (client) ID.
        #[arg(long)]
        app: AppId,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConsentCommand {
    /// Consent for a tenant: create the app's service principal and grant its permissions.
    Grant {
        #[command(flatten)]
        data: DataDirArg,
        /// The tenant: GUID or domain.
        #[arg(long)]
        tenant: String,
        /// The application (client) ID.
        #[arg(long)]
        app: AppId,
    },
    /// Revoke: remove the app's service principal from the tenant, with every grant.
    Revoke {
        #[command(flatten)]
        data: DataDirArg,
        /// The tenant: GUID or domain.
        #[arg(long)]
        tenant: String,
        /// The application (client) ID.
        #[arg(long)]
        app: AppId,
    },
    /// List the applications consented in a tenant, with their permissions.
    List {
        #[command(flatten)]
        data: DataDirArg,
        /// The tenant: GUID or domain.
        #[arg(long)]
        tenant: String,
    },
    /// Show one application's consent in a tenant.
    Show {
        #[command(flatten)]
        data: DataDirArg,
        /// The tenant: GUID or domain.
        #[arg(long)]
        tenant: String,
        /// The application (client) ID.
        #[arg(long)]
        app: AppId,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the published signing keys and when each signs.
    List {
        #[command(flatten)]
        data: DataDirArg,
    },
    /// Rotate now: the next key (already published) signs as soon as it has been published for
    /// a day, the current one stays published until every token it signed has expired, and a
    /// new next key is published. Running servers follow within their refresh interval.
    Rotate {
        #[command(flatten)]
        data: DataDirArg,
        /// The current key is compromised: drop it at once (tokens it signed stop working)
        /// and let the next key sign now.
        #[arg(long)]
        emergency: bool,
    },
}

#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// The token, a token response (JSON), or - to read either from standard input.
    #[arg(default_value = "-")]
    pub token: String,
    /// Also check the signature against the keys the issuer publishes (its JWKS).
    #[arg(long)]
    pub verify: bool,
    /// Where the issuer publishes its keys [default: https://login.microsoftonline.com].
    #[arg(long, env = "THREATGATE_AUTHORITY")]
    pub authority: Option<String>,
    /// Trust this CA certificate (PEM) besides the system's, e.g. Threatgate's `tls/ca.pem`.
    #[arg(long, env = "THREATGATE_CA_CERT")]
    pub ca_cert: Option<std::path::PathBuf>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every option and argument of every command says what it is for.
    #[test]
    fn every_option_has_help_text() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for argument in command.get_arguments() {
                let id = argument.get_id().as_str();
                if matches!(id, "help" | "version") {
                    continue;
                }
                if argument.get_help().is_none_or(|help| help.to_string().trim().is_empty()) {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in command.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "threatgate", &mut missing);
        assert!(missing.is_empty(), "options without help text: {missing:#?}");
    }

    /// The server's settings that the environment can give name their variable in `--help`.
    #[test]
    fn the_servers_options_name_their_environment_variables() {
        let command = Cli::command();
        for name in ["serve", "demo"] {
            let Some(sub) = command.find_subcommand(name) else { panic!("no {name}") };
            for argument in sub.get_arguments() {
                let id = argument.get_id().as_str();
                if matches!(id, "help" | "version" | "json" | "config") {
                    continue;
                }
                let help = argument.get_help().map(ToString::to_string).unwrap_or_default();
                assert!(
                    help.contains("THREATGATE_") || argument.get_env().is_some(),
                    "{name} --{id} does not name its environment variable: {help}"
                );
            }
        }
    }
}
