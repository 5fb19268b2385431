//! `scripts/simulate.sh`: runs the deterministic simulation (tests/it/sim) over many seeds, or
//! replays one, and prints every violation with its seed and the history of its key.
//!
//!     cargo run --release --example simulate -- [SEEDS] [--from FIRST] [--seed S [--history]]
//!         [--bug NAME]   (a known bug switched back on, to see the checker find it)

#[path = "../tests/it/sim/mod.rs"]
mod sim;

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut seeds: u64 = 1000;
    let mut from: u64 = 0;
    let mut one: Option<u64> = None;
    let mut history = false;
    let mut bug = None;
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> u64 {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} needs a number"))
        };
        match arg.as_str() {
            "--seed" => one = Some(value("--seed")),
            "--from" => from = value("--from"),
            "--history" => history = true,
            "--bug" => {
                let name = args.next().unwrap_or_default();
                bug = Some(
                    sim::Bug::ALL
                        .into_iter()
                        .find(|b| format!("{b:?}") == name)
                        .unwrap_or_else(|| panic!("no bug {name:?}; known: {:?}", sim::Bug::ALL)),
                );
            }
            n => {
                seeds = n
                    .parse()
                    .unwrap_or_else(|_| panic!("unknown argument {n:?}"))
            }
        }
    }
    let range = match one {
        Some(seed) => seed..seed + 1,
        None => from..from + seeds,
    };
    let count = range.end - range.start;
    let mut violations = 0;
    let mut completions = 0;
    let mut dead = 0;
    for seed in range {
        let report = sim::run(seed, bug);
        completions += report.completions;
        dead += report.dead_letters;
        if std::env::var_os("S3R_SIM_PER_SEED").is_some() {
            println!(
                "seed {seed}: {} completions, {} history lines",
                report.completions,
                report.history.len()
            );
        }
        if history {
            for line in &report.history {
                println!("{line}");
            }
        }
        if !report.violations.is_empty() {
            violations += report.violations.len();
            print!("{}", report.describe());
        }
    }
    println!(
        "{count} seeds, {violations} violations ({completions} completions, {dead} dead letters)"
    );
    if violations > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
