//! The `threatgate` binary: a thin command line over the library crates.

mod admin;
mod cli;
mod decode;
mod demo;
mod emulator;
mod incidents;
mod migrate;
mod output;
mod partner;
mod scenario;
mod serve;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command};

/// mimalloc instead of the system allocator: API responses are large (a full page of incidents
/// is ~400 KB), and glibc serves such blocks with mmap/munmap, a page fault per 4 KB each time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.command);
    // One TLS crypto provider for the whole process (rustls panics on ambiguity otherwise).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    // 8 MiB stacks: the walks over a KQL query's tree are bounded by its limits, at depths that
    // need about 256 KiB in this build (1.5 MiB unoptimised); this leaves a wide margin.
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().thread_stack_size(8 * 1024 * 1024).enable_all().build() {
            Ok(runtime) => runtime,
            Err(error) => {
                eprintln!("error: cannot start the async runtime: {error}");
                return std::process::ExitCode::FAILURE;
            }
        };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // The reader went away (`… | head -1`): nothing more to say, and no one to say it to.
        Err(error) if output::is_broken_pipe(&error) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let json = cli.json;
    match cli.command {
        Command::Serve(args) => serve::serve(args).await,
        Command::Demo(args) => demo::demo(args).await,
        Command::Tenant(command) => admin::tenant(command, json).await,
        Command::User(command) => admin::user(command, json).await,
        Command::App(command) => admin::app(command, json).await,
        Command::Consent(command) => admin::consent(command, json).await,
        Command::Keys(command) => admin::keys(command, json).await,
        Command::Decode(args) => decode::decode(args, json).await,
        Command::Ingest(args) => incidents::ingest(args, json).await,
        Command::Seed(args) => incidents::seed(args, json).await,
        Command::Scenario(args) => scenario::scenario(args, json).await,
        Command::AccessLog(args) => incidents::access_log(args).await,
        Command::Audit(args) => incidents::audit(args).await,
        Command::Migrate(args) => migrate::migrate(args, json).await,
        Command::Token(args) => partner::token(args, json).await,
        Command::Incidents(command) => partner::incidents(command, json).await,
        Command::Hunt(args) => partner::hunt(args, json).await,
        Command::Emulator(command) => emulator::emulator(command, json).await,
        Command::Health(args) => serve::health(args).await,
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut <Cli as clap::CommandFactory>::command(), "threatgate", &mut script);
            Ok(output::text(&String::from_utf8_lossy(&script))?)
        }
    }
}

/// Servers log at `info`, one-shot commands only warnings; `RUST_LOG` overrides.
fn init_logging(command: &Command) {
    let default = match command {
        Command::Serve(_) | Command::Demo(_) => "info,tower_http=warn,sqlx=warn",
        _ => "warn",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let json_logs = std::env::var("THREATGATE_LOG_FORMAT").is_ok_and(|format| format == "json");
    // Colours only for a terminal: a log file or journal gets no escape codes.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    if json_logs {
        builder.json().init();
    } else {
        builder.init();
    }
}
