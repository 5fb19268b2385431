//! The `s3-replicator` command: parses the command line, sets up logging, calls the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use s3_replicator::backfill;
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
    /// Replicate objects that existed before the daemon: list the sources, copy what the
    /// targets lack (same copy engine, same "already present" skip).
    Backfill {
        #[arg(long, short, env = "S3R_CONFIG")]
        config: PathBuf,
        /// Only this rule.
        #[arg(long)]
        rule: Option<String>,
        /// Only keys under this prefix (within each rule's prefix).
        #[arg(long)]
        prefix: Option<String>,
        /// Resume after this key, as printed by an interrupted run.
        #[arg(long)]
        start_after: Option<String>,
        /// Publish a completion event for every object, as the daemon does.
        #[arg(long)]
        publish_completions: bool,
    },
    /// Compare sources and targets: report objects missing, of another size or content, or
    /// only in a target. Exits 0 only when everything matches.
    Verify {
        #[arg(long, short, env = "S3R_CONFIG")]
        config: PathBuf,
        /// Only this rule.
        #[arg(long)]
        rule: Option<String>,
        /// Only keys under this prefix (within each rule's prefix).
        #[arg(long)]
        prefix: Option<String>,
        /// One JSON document instead of a table.
        #[arg(long)]
        json: bool,
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
        Command::Backfill {
            config,
            rule,
            prefix,
            start_after,
            publish_completions,
        } => {
            let options = backfill::Options {
                rule,
                prefix,
                start_after,
                concurrency: 0,
            };
            match backfill(&config, options, publish_completions) {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Verify {
            config,
            rule,
            prefix,
            json,
        } => match verify(&config, rule.as_deref(), prefix.as_deref(), json) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(2)
            }
        },
    }
}

fn verify(
    path: &std::path::Path,
    rule: Option<&str>,
    prefix: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let config = Config::load(path)
        .with_context(|| format!("{}: configuration is not valid", path.display()))?;
    let rules = backfill::select_rules(&config.rules, rule)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let report = runtime.block_on(async {
        let replicator = s3_replicator::daemon::build_replicator(&config).await;
        if !json {
            println!("{:<16} {:<16} {:<16} key", "difference", "rule", "target");
        }
        s3_replicator::verify::run(&replicator, &rules, prefix, |f| {
            if !json {
                println!(
                    "{:<16} {:<16} {:<16} {}",
                    f.difference.as_str(),
                    f.rule,
                    f.target,
                    f.key
                );
            }
        })
        .await
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "verify: {} compared, {} match, {} missing, {} size differs, {} content differs, {} only in target",
            report.checked,
            report.matched,
            report.missing,
            report.size_differs,
            report.content_differs,
            report.only_in_target
        );
    }
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,aws_config=warn,aws_smithy_runtime=warn".into()),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never in a log file or CloudWatch.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn backfill(
    path: &std::path::Path,
    mut options: backfill::Options,
    publish_completions: bool,
) -> anyhow::Result<ExitCode> {
    init_logging();
    let config = Config::load(path)
        .with_context(|| format!("{}: configuration is not valid", path.display()))?;
    options.concurrency = config.queue.concurrency;
    let rules = backfill::select_rules(&config.rules, options.rule.as_deref())?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let summary = runtime.block_on(async {
        let replicator = s3_replicator::daemon::build_replicator(&config).await;
        let publisher = if publish_completions {
            Some(s3_replicator::daemon::build_publisher(&config).await)
        } else {
            None
        };
        let progress = std::sync::Arc::new(backfill::Progress::default());
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let reporter = backfill::report_progress(std::sync::Arc::clone(&progress), terminal);
        let summary = backfill::run(
            &replicator,
            publisher.as_ref(),
            &rules,
            &options,
            progress,
            async {
                let _ = tokio::signal::ctrl_c().await;
            },
        )
        .await;
        reporter.abort();
        if terminal {
            eprintln!();
        }
        summary
    });
    println!(
        "backfill: {} listed, {} copied ({:.1} MiB), {} already present, {} superseded, {} failed",
        summary.listed,
        summary.copied,
        summary.bytes_copied as f64 / (1024.0 * 1024.0),
        summary.already_present,
        summary.superseded,
        summary.failed
    );
    for failure in &summary.failures {
        println!("  failed: {failure}");
    }
    if summary.interrupted {
        match &summary.resume_after {
            Some(key) => println!("interrupted; resume with: --start-after '{key}'"),
            None => {
                println!("interrupted before the first object finished; run it again as it was")
            }
        }
        return Ok(ExitCode::from(130));
    }
    Ok(if summary.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn run(path: &std::path::Path) -> anyhow::Result<()> {
    init_logging();
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
