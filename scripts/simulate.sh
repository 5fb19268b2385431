#!/usr/bin/env bash
# The deterministic simulation over many seeds (release build):
#
#   scripts/simulate.sh [SEEDS] [--from FIRST]   run SEEDS seeds (default 1000) from FIRST (default 0)
#   scripts/simulate.sh --seed S [--history]      replay one seed, optionally printing its whole history
#
# Prints one block per violation (seed, violation, the history of its key) and ends with
# "N seeds, V violations"; exits non-zero when V > 0. See docs/simulation.md.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --quiet --release --example simulate -- "$@"
