//! The `s3-replicator` command: parses the command line, sets up logging, calls the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use s3_replicator::backfill;
use s3_replicator::config::{Config, ConfigError, CONFIG_TOML_ENV};
use s3_replicator::wiring::Wiring;

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
        /// The configuration file (TOML); `S3R_…` environment variables override it. Without
        /// it, the file's text is read from the S3R_CONFIG_TOML environment variable.
        #[arg(long, short, env = "S3R_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Validate the configuration and print the resolved rules and targets.
    CheckConfig {
        /// As for `run`: a file, or else the text in S3R_CONFIG_TOML.
        #[arg(long, short, env = "S3R_CONFIG")]
        config: Option<PathBuf>,
        /// Also try every target with its credentials: write, read back and delete one small
        /// object under its probe prefix, and report it as reachable, denied, missing or failed
        /// (with the store's features for a target on its own endpoint). Exits 1 when any
        /// target is not reachable.
        #[arg(long)]
        probe: bool,
    },
    /// Replicate objects that existed before the daemon: list the sources, copy what the
    /// targets lack (same copy engine, same "already present" skip).
    Backfill {
        /// As for `run`: a file, or else the text in S3R_CONFIG_TOML.
        #[arg(long, short, env = "S3R_CONFIG")]
        config: Option<PathBuf>,
        /// Only this rule.
        #[arg(long)]
        rule: Option<String>,
        /// Only keys under this prefix (within each rule's prefix).
        #[arg(long)]
        prefix: Option<String>,
        /// Resume after a key, as printed by an interrupted run: RULE=KEY resumes rule RULE
        /// after KEY (repeat it for each rule); a plain KEY only when one rule is backfilled.
        #[arg(long, value_name = "RULE=KEY")]
        start_after: Vec<String>,
        /// Publish a completion event for every object, as the daemon does.
        #[arg(long, conflicts_with = "enqueue")]
        publish_completions: bool,
        /// Do not copy: send one event per object to the daemon's queue (SendMessageBatch), so
        /// that every running task shares the work; completions then come from the daemon,
        /// with "origin": "backfill".
        #[arg(long)]
        enqueue: bool,
        /// Only list and count the objects that would be copied or enqueued.
        #[arg(long)]
        dry_run: bool,
        /// With --enqueue (or --dry-run): take the objects from an S3 Inventory (CSV) instead of
        /// listing the sources: s3://BUCKET/…/manifest.json.
        #[arg(long, value_name = "S3_URL", conflicts_with = "start_after")]
        inventory: Option<String>,
        /// With --inventory: skip the first N rows, as printed by an interrupted run.
        #[arg(long, value_name = "N", requires = "inventory", default_value_t = 0)]
        inventory_resume: u64,
    },
    /// Compare sources and targets: report objects missing, of another size or content, or
    /// only in a target. Exits 0 only when everything matches.
    Verify {
        /// As for `run`: a file, or else the text in S3R_CONFIG_TOML.
        #[arg(long, short, env = "S3R_CONFIG")]
        config: Option<PathBuf>,
        /// Only this rule.
        #[arg(long)]
        rule: Option<String>,
        /// Only keys under this prefix (within each rule's prefix).
        #[arg(long)]
        prefix: Option<String>,
        /// One JSON document instead of a table.
        #[arg(long)]
        json: bool,
        /// Also send one event per object missing or different in a target to the daemon's
        /// queue, so that the running daemon copies it again ("origin": "backfill"). Objects
        /// only in a target are reported, not touched.
        #[arg(long)]
        repair: bool,
    },
    /// Exit 0 if the health endpoint of a daemon on this machine answers 200 (for container
    /// health checks: the image has no shell or curl).
    Healthcheck {
        /// Address of the server; default: server.listen from S3R_SERVER__LISTEN, else
        /// 0.0.0.0:9090, with an unspecified IP replaced by loopback.
        #[arg(long)]
        addr: Option<String>,
    },
}

/// Where the configuration comes from, for loading and for messages.
enum Source {
    File(PathBuf),
    Env(String),
}

impl Source {
    fn resolve(path: Option<PathBuf>) -> anyhow::Result<Self> {
        match (path, std::env::var(CONFIG_TOML_ENV)) {
            (Some(path), _) => Ok(Source::File(path)),
            (None, Ok(text)) => Ok(Source::Env(text)),
            (None, Err(_)) => anyhow::bail!(
                "no configuration: give --config FILE (or S3R_CONFIG), or put the file's text in {CONFIG_TOML_ENV}"
            ),
        }
    }

    fn load(&self) -> Result<Config, ConfigError> {
        match self {
            Source::File(path) => Config::load(path),
            Source::Env(text) => Config::load_str(text),
        }
    }

    fn name(&self) -> String {
        match self {
            Source::File(path) => path.display().to_string(),
            Source::Env(_) => format!("${CONFIG_TOML_ENV}"),
        }
    }
}

fn main() -> ExitCode {
    // What `s3r_startup_seconds` counts from.
    let started = std::time::Instant::now();
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { config, probe } => {
            let source = match Source::resolve(config) {
                Ok(source) => source,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    return ExitCode::from(2);
                }
            };
            match source.load() {
                Ok(config) => {
                    print!("{}", config.describe());
                    if probe {
                        return probe_targets(&config);
                    }
                    for missing in config.missing_credentials() {
                        println!("note: {missing} here; the daemon will not start without it");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{}: configuration is not valid:\n{e}", source.name());
                    ExitCode::from(2)
                }
            }
        }
        Command::Run { config } => match run(config, started) {
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
            enqueue,
            dry_run,
            inventory,
            inventory_resume,
        } => {
            if inventory.is_some() && !(enqueue || dry_run) {
                eprintln!("error: --inventory needs --enqueue (or --dry-run): an inventory's objects are handed to the daemon through its queue");
                return ExitCode::from(2);
            }
            let options = backfill::Options {
                rule,
                prefix,
                start_after: Default::default(),
                concurrency: 0,
            };
            let mode = match (dry_run, enqueue) {
                (true, _) => BackfillMode::Count,
                (false, true) => BackfillMode::Enqueue,
                (false, false) => BackfillMode::Copy {
                    publish_completions,
                },
            };
            let inventory = inventory.map(|location| (location, inventory_resume));
            match backfill(config, options, &start_after, mode, inventory) {
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
            repair,
        } => match verify(config, rule.as_deref(), prefix.as_deref(), json, repair) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(2)
            }
        },
        Command::Healthcheck { addr } => healthcheck(addr),
    }
}

fn verify(
    path: Option<PathBuf>,
    rule: Option<&str>,
    prefix: Option<&str>,
    json: bool,
    repair: bool,
) -> anyhow::Result<ExitCode> {
    let config = load(path)?;
    if repair {
        s3_replicator::logging::init(config.log.format);
    }
    let rules = backfill::select_rules(&config.rules, rule)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let (report, repairs) = runtime.block_on(async {
        let wiring = Wiring::load(&config, Default::default()).await;
        let replicator = wiring.replicator(&config).await;
        if !json {
            println!("{:<16} {:<16} {:<16} key", "difference", "rule", "target");
        }
        // One event per (rule, source key), however many targets differ.
        let mut seen = std::collections::HashSet::new();
        let mut repairs = Vec::new();
        let report = s3_replicator::verify::run(&replicator, &rules, prefix, |f| {
            if repair && seen.insert((f.rule.clone(), f.key.clone())) {
                if let Some(body) = rules
                    .iter()
                    .find(|r| r.name == f.rule)
                    .and_then(|r| f.repair(r))
                {
                    repairs.push(body);
                }
            }
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
        .await?;
        let mut sent = 0u64;
        let mut refused = Vec::new();
        if repair {
            let queue = wiring.queue(&config);
            for chunk in repairs.chunks(backfill::BATCH) {
                let failed = backfill::send_events(&queue, chunk.to_vec()).await;
                sent += (chunk.len() - failed.len()) as u64;
                refused.extend(failed.into_iter().map(|(_, why)| why));
            }
            // The reconciliation's result, for a log metric filter: each difference is an event S3
            // did not deliver or a copy that was lost.
            tracing::info!(
                message = "Differences sent for repair.",
                differences = report.missing + report.size_differs + report.content_differs,
                only_in_target = report.only_in_target,
                events_sent = sent,
                events_refused = refused.len()
            );
        }
        Ok::<_, anyhow::Error>((report, (sent, refused)))
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
    if repair {
        let (sent, refused) = &repairs;
        println!(
            "verify --repair: {sent} events sent to the queue, {} refused",
            refused.len()
        );
        for why in refused.iter().take(20) {
            println!("  refused: {why}");
        }
    }
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Loads the configuration from `--config` or `S3R_CONFIG_TOML`, naming the source on error.
fn load(path: Option<PathBuf>) -> anyhow::Result<Config> {
    let source = Source::resolve(path)?;
    source
        .load()
        .with_context(|| format!("{}: configuration is not valid", source.name()))
}

/// What `backfill` does with the objects it lists.
#[derive(Clone, Copy, PartialEq, Eq)]
enum BackfillMode {
    /// Copy them in this process.
    Copy { publish_completions: bool },
    /// Send one event each to the daemon's queue.
    Enqueue,
    /// Count them (`--dry-run`).
    Count,
}

fn backfill(
    path: Option<PathBuf>,
    mut options: backfill::Options,
    start_after: &[String],
    mode: BackfillMode,
    inventory: Option<(String, u64)>,
) -> anyhow::Result<ExitCode> {
    let config = load(path)?;
    s3_replicator::logging::init(config.log.format);
    options.concurrency = config.queue.concurrency;
    let rules = backfill::select_rules(&config.rules, options.rule.as_deref())?;
    options.start_after = backfill::parse_start_after(start_after, &config.rules, &rules)?;
    if let (BackfillMode::Copy { .. }, Some(table)) = (
        mode,
        rules
            .iter()
            .find(|r| r.table_format == s3_replicator::config::TableFormat::Delta),
    ) {
        // Copied in key order, `_delta_log/` would reach the targets before the data files.
        anyhow::bail!(
            "rule {:?} has table_format = \"delta\": its commits must wait for their files, which \
             only the daemon does; run `backfill --enqueue` (the daemon copies them in order), or \
             --rule for the other rules",
            table.name
        );
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let summary = runtime.block_on(async {
        let wiring = Wiring::load(&config, Default::default()).await;
        let progress = std::sync::Arc::new(backfill::Progress::default());
        if !matches!(mode, BackfillMode::Copy { .. }) {
            let reporter = backfill::report_progress(std::sync::Arc::clone(&progress));
            let replicator = wiring.replicator(&config).await;
            let queue = wiring.queue(&config);
            let to = backfill::Enqueue {
                queue: &queue,
                dry_run: mode == BackfillMode::Count,
            };
            if let Some((location, resume)) = &inventory {
                let summary = backfill::enqueue_inventory(
                    replicator.source(),
                    wiring.metrics(),
                    to,
                    &rules,
                    options.prefix.as_deref(),
                    location,
                    *resume,
                    &progress,
                    async {
                        let _ = tokio::signal::ctrl_c().await;
                    },
                )
                .await;
                reporter.finish();
                return summary;
            }
            let summary = backfill::enqueue(
                replicator.source(),
                wiring.metrics(),
                to,
                &rules,
                &options,
                &progress,
                async {
                    let _ = tokio::signal::ctrl_c().await;
                },
            )
            .await;
            reporter.finish();
            return Ok(summary);
        }
        let publish_completions = mode
            == BackfillMode::Copy {
                publish_completions: true,
            };
        let replicator = wiring.replicator(&config).await;
        let publisher = if publish_completions {
            Some(wiring.publisher(&config))
        } else {
            None
        };
        let reporter = backfill::report_progress(std::sync::Arc::clone(&progress));
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
        reporter.finish();
        Ok(summary)
    })?;
    match mode {
        BackfillMode::Count => println!(
            "backfill --dry-run: {} objects listed; nothing copied or sent",
            summary.listed
        ),
        BackfillMode::Enqueue => println!(
            "backfill --enqueue: {} listed, {} events sent to the queue, {} failed",
            summary.listed, summary.enqueued, summary.failed
        ),
        BackfillMode::Copy { .. } => println!(
            "backfill: {} listed, {} copied ({:.1} MiB), {} already present, {} superseded, {} failed",
            summary.listed,
            summary.copied,
            summary.bytes_copied as f64 / (1024.0 * 1024.0),
            summary.already_present,
            summary.superseded,
            summary.failed
        ),
    }
    for failure in &summary.failures {
        println!("  failed: {failure}");
    }
    if let Some(rows) = summary
        .resume_rows
        .filter(|_| summary.interrupted || summary.failed > 0)
    {
        println!("resume with: --inventory-resume {rows}");
        return Ok(ExitCode::from(if summary.interrupted { 130 } else { 1 }));
    }
    if summary.interrupted {
        if summary.resume_after.is_empty() {
            println!("interrupted before the first object finished; run it again as it was");
        } else {
            println!(
                "interrupted; resume with: {}",
                backfill::resume_arguments(&summary.resume_after)
            );
        }
        return Ok(ExitCode::from(130));
    }
    Ok(if summary.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `check-config --probe`.
fn probe_targets(config: &Config) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (text, reachable) = runtime.block_on(async {
        let wiring = Wiring::load(config, Default::default()).await;
        let replicator = wiring.replicator(config).await;
        s3_replicator::probe::check_targets(config, |name| {
            replicator.target(name).map(|t| &t.store)
        })
        .await
    });
    print!("{text}");
    if reachable {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn run(path: Option<PathBuf>, started: std::time::Instant) -> anyhow::Result<()> {
    let config = load(path)?;
    let missing = config.missing_credentials();
    if !missing.is_empty() {
        anyhow::bail!(
            "a target's credentials are missing from the environment:\n  {}",
            missing.join("\n  ")
        );
    }
    s3_replicator::logging::init(config.log.format);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let metrics = std::sync::Arc::new(s3_replicator::metrics::Metrics::new());
        metrics.process_started(started);
        let wiring = Wiring::load(&config, metrics).await;
        // Held for the daemon's life; dropping it stops the server.
        let _server = s3_replicator::server::start(
            &config,
            wiring.readiness(&config),
            std::sync::Arc::clone(wiring.metrics()),
        )
        .await
        .context("starting the health and metrics server")?;
        s3_replicator::daemon::serve(&wiring, &config, shutdown_signal()).await;
        anyhow::Ok(())
    })
}

fn healthcheck(addr: Option<String>) -> ExitCode {
    let listen = addr
        .or_else(|| std::env::var("S3R_SERVER__LISTEN").ok())
        .unwrap_or_else(|| s3_replicator::config::DEFAULT_LISTEN.to_owned());
    let Some(addr) = s3_replicator::server::local_probe_addr(&listen) else {
        eprintln!("healthcheck: {listen:?} is not an IP:PORT address");
        return ExitCode::FAILURE;
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("healthcheck: {e}");
            return ExitCode::FAILURE;
        }
    };
    let answer = runtime.block_on(async {
        tokio::time::timeout(
            std::time::Duration::from_secs(3),
            s3_replicator::server::get(addr, "/healthz"),
        )
        .await
    });
    match answer {
        Ok(Ok((200, _))) => ExitCode::SUCCESS,
        Ok(Ok((status, body))) => {
            eprintln!("healthcheck: http://{addr}/healthz answered {status}: {body}");
            ExitCode::FAILURE
        }
        Ok(Err(e)) => {
            eprintln!("healthcheck: http://{addr}/healthz: {e}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("healthcheck: http://{addr}/healthz did not answer within 3 s");
            ExitCode::FAILURE
        }
    }
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
