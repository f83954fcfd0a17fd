//! `keyward`: the server and its command-line client in one binary.
//!
//! `serve`, `init`, `migrate` and `backup` work on the configured store directly;
//! `completions` and `man` print what they generate; the other verbs talk to a
//! running server over HTTP (`KEYWARD_ADDR` and `KEYWARD_TOKEN`, or the login
//! `keyward login` stored). Every failure prints one line on stderr and exits with a
//! documented code (see `keyward --help`).

mod backup;
mod cli;
mod client;
mod config;
mod credentials;
mod datadir;
mod error;
mod generate;
mod notice;
mod server;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::cli::{AdminCommand, Cli, Command, StoreArgs};
use crate::config::{FlagOverrides, ServerConfig};
use crate::error::CliError;

// glibc's allocator spent about a tenth of the server's CPU in malloc/free
// under load (arena contention between worker threads); mimalloc does not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("keyward: error: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            notice::error(&error.to_string());
            error.exit_code()
        }
    }
}

async fn run(command: Command) -> Result<(), CliError> {
    match command {
        Command::Serve(args) => {
            let (config, warnings) = server_config(&args.store, args.listen)?;
            init_logging(&config);
            warn_all(&warnings);
            server::run(&config).await
        }
        Command::Init(args) => server::init(&store_config(&args)?).await,
        Command::Migrate(args) => server::migrate(&store_config(&args)?).await,
        Command::Backup(args) => backup::run(&store_config(&args.store)?, &args.to).await,
        Command::Admin(AdminCommand::Recover(args)) => {
            server::recover(&store_config(&args.store)?, args.organization.as_deref()).await
        }
        Command::Completions(args) => generate::completions(args.shell),
        Command::Man(args) => generate::man(args.dir.as_deref()),
        client_command => client::run(client_command).await,
    }
}

/// The configuration of a verb that opens the store itself and sets up no
/// logging: its warnings are printed at once. (`serve` prints them after
/// logging is set up, so that they follow its format.)
fn store_config(args: &StoreArgs) -> Result<ServerConfig, CliError> {
    let (config, warnings) = server_config(args, None)?;
    warn_all(&warnings);
    Ok(config)
}

fn warn_all(warnings: &[String]) {
    for warning in warnings {
        notice::warn(warning);
    }
}

fn server_config(
    args: &StoreArgs,
    listen: Option<std::net::SocketAddr>,
) -> Result<(ServerConfig, Vec<String>), CliError> {
    let flags = FlagOverrides {
        listen,
        data_dir: args.data_dir.clone(),
        database_url: args.database_url.clone(),
        admin_token_file: args.admin_token_file.clone(),
    };
    let environment: Vec<(String, String)> = std::env::vars().collect();
    config::load(args.config.as_deref(), &environment, &flags).map_err(|e| CliError::Usage(e.to_string()))
}

fn init_logging(config: &ServerConfig) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log_level));
    // Colour codes belong on a terminal, never in a file or a pipe.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    notice::use_json(config.log_format == "json");
    if config.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
