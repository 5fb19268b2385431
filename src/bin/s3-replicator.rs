//! The `s3-replicator` command: parses the command line, sets up logging, calls the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use s3_replicator::config::Config;

#[derive(Debug, Parser)]
#[command(
    name = "s3-replicator",
    version,
    about = "Replicate new S3 objects to every target, then announce completion on SNS."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon: consume S3 notifications from SQS and replicate.
    Run {
        /// The configuration file (TOML); `S3R_…` environment variables override it.
        #[arg(long, short, env = "S3R_CONFIG")]
        config: PathBuf,
    },
    /// Validate the configuration and print the resolved rules and targets.
    CheckConfig {
        #[arg(long, short, env = "S3R_CONFIG")]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { config } => match Config::load(&config) {
            Ok(config) => {
                print!("{}", config.describe());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{}: configuration is not valid:\n{e}", config.display());
                ExitCode::from(2)
            }
        },
        Command::Run { config } => match run(&config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

fn run(path: &std::path::Path) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,aws_config=warn,aws_smithy_runtime=warn".into()),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never in a log file or CloudWatch.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let config = Config::load(path)
        .with_context(|| format!("{}: configuration is not valid", path.display()))?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(s3_replicator::daemon::serve(&config, shutdown_signal()));
    Ok(())
}

/// Resolves on SIGTERM (ECS stopping the task) or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!(message = "Shutdown signal received.");
}
