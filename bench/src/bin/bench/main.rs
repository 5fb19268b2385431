//! The benchmark harness behind `scripts/bench.sh`: the daemon beside the tools a data engineer
//! would use instead, measured in one run against the same local emulators.
//!
//!   bench run --sqs-sns URL --s3 URL --bin PATH --aws PATH --rclone PATH --out FILE
//!       latency (with its floor), throughput (with the emulators' ceilings, rclone and
//!       `aws s3 sync`), scale (1 and 2 daemons; again with each held to a small
//!       `queue.concurrency`), requests per object, and every service on LocalStack alone (the
//!       daemon beside rclone), into FILE (JSON).
//!   bench profile --sqs-sns URL --s3 URL --bin PATH --perf FILE [--objects N]
//!       the throughput part alone with one daemon, `perf record` attached to it (into FILE);
//!       prints the daemon's CPU time per object.
//!   bench large --results FILE --rows FILE
//!       adds the rows `scripts/bench-large.sh` wrote (JSON lines) to FILE.
//!   bench chart --results FILE --png FILE
//!       draws the chart of FILE.
//!   bench table --results FILE
//!       prints FILE as the README's tables.
//!
//! The S3 data path is one emulator (s3s-fs, fast and without notifications), SQS and SNS
//! another (LocalStack, whose SQS keeps its speed at any depth). The daemon reaches them through
//! `aws.endpoint_url` and `aws.s3_endpoint_url`. Because s3s-fs sends no notifications, the
//! harness sends each object's `ObjectCreated` event to the queue itself, in the shape S3 uses,
//! right after the upload returned: what S3 would do, minus S3's own delivery delay.
//! Everything uses one set of credentials from the environment; LocalStack accepts any, s3s-fs
//! the ones it was started with.

mod chart;
mod parts;
mod report;
mod results;
/// The emulator setup the integration tests use: queues, topics, subscriptions.
#[path = "../../../../tests/it/common/stack.rs"]
mod stack;

use std::path::PathBuf;
use std::process::ExitCode;

use results::Results;

fn usage() -> ExitCode {
    eprintln!(
        "usage: bench run --sqs-sns URL --s3 URL --bin PATH --aws PATH --rclone PATH --out FILE\n\
         \x20             [--objects N] [--latency-objects N] [--latency-rate PER_S]\n\
         \x20             [--one-emulator-objects N] [--capped-objects N] [--capped-concurrency N]\n\
         \x20      bench profile --sqs-sns URL --s3 URL --bin PATH --perf FILE [--objects N]\n\
         \x20      bench large --results FILE --rows FILE\n\
         \x20      bench chart --results FILE --png FILE\n\
         \x20      bench table --results FILE"
    );
    ExitCode::from(2)
}

fn read(path: &PathBuf) -> Result<Results, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let results: Results =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if results.schema != results::SCHEMA {
        return Err(format!(
            "{}: schema {:?}, expected {:?}",
            path.display(),
            results.schema,
            results::SCHEMA
        ));
    }
    Ok(results)
}

fn write(path: &PathBuf, results: &Results) -> Result<(), String> {
    let text = serde_json::to_string_pretty(results).expect("results serialize");
    std::fs::write(path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let path = |name: &str| flag(name).map(PathBuf::from);
    let outcome = match args.first().map(String::as_str) {
        Some("run") => {
            let (Some(sqs_sns), Some(s3), Some(bin), Some(aws), Some(rclone), Some(out)) = (
                flag("--sqs-sns"),
                flag("--s3"),
                path("--bin"),
                path("--aws"),
                path("--rclone"),
                path("--out"),
            ) else {
                return usage();
            };
            let number = |name: &str, default: f64| {
                flag(name)
                    .map(|v| v.parse::<f64>().unwrap_or_else(|_| panic!("{name}: {v}")))
                    .unwrap_or(default)
            };
            let plan = parts::Plan {
                sqs_sns,
                s3,
                bin,
                aws,
                rclone,
                objects: number("--objects", 10_000.0) as usize,
                latency_objects: number("--latency-objects", 200.0) as usize,
                latency_rate: number("--latency-rate", 10.0),
                one_emulator_objects: number("--one-emulator-objects", 2_000.0) as usize,
                capped_objects: number("--capped-objects", 2_000.0) as usize,
                capped_concurrency: number("--capped-concurrency", 10.0) as usize,
                command: std::env::var("BENCH_COMMAND").unwrap_or_else(|_| "bench run".into()),
            };
            match parts::run(&plan).await {
                Ok(results) => write(&out, &results).map(|()| {
                    println!("results: {}", out.display());
                    print!("{}", report::tables(&results));
                }),
                Err(e) => Err(e),
            }
        }
        Some("profile") => {
            let (Some(sqs_sns), Some(s3), Some(bin), Some(perf)) = (
                flag("--sqs-sns"),
                flag("--s3"),
                path("--bin"),
                path("--perf"),
            ) else {
                return usage();
            };
            let objects = flag("--objects").map_or(Ok(5_000), |v| v.parse::<usize>());
            let Ok(objects) = objects else {
                return usage();
            };
            let plan = parts::Plan {
                sqs_sns,
                s3,
                bin,
                aws: PathBuf::new(),
                rclone: PathBuf::new(),
                objects,
                latency_objects: 0,
                latency_rate: 1.0,
                one_emulator_objects: 0,
                capped_objects: 0,
                capped_concurrency: 0,
                command: String::new(),
            };
            parts::profile(&plan, &perf).await.map(|p| {
                println!(
                    "profile: {} objects in {:.1} s = {:.0} objects/s; daemon CPU {:.2} s = {:.2} ms per object",
                    p.objects,
                    p.seconds,
                    p.objects as f64 / p.seconds,
                    p.cpu_seconds,
                    p.cpu_seconds * 1000.0 / p.objects as f64
                );
            })
        }
        Some("large") => {
            let (Some(results), Some(rows)) = (path("--results"), path("--rows")) else {
                return usage();
            };
            read(&results).and_then(|mut r| {
                r.large_objects = report::read_large_rows(&rows)?;
                write(&results, &r)
            })
        }
        Some("chart") => {
            let (Some(results), Some(png)) = (path("--results"), path("--png")) else {
                return usage();
            };
            read(&results).and_then(|r| chart::draw(&r, &png))
        }
        Some("table") => {
            let Some(results) = path("--results") else {
                return usage();
            };
            read(&results).map(|r| print!("{}", report::tables(&r)))
        }
        _ => return usage(),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}
