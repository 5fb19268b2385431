#!/usr/bin/env bash
# The soak benchmark (issue 4): one daemon drains a backlog of 10,000 notifications.
#
# Not a test (scripts/test.sh does not run it): it prints figures. The emulator is LocalStack
# core in host mode, whose SQS keeps its speed at any queue depth (moto's slows down with depth),
# installed into .venv-localstack/ on first use and started on 127.0.0.1 with a free port.
#
#   1. the local stack (`local_stack setup`, bench/src/bin/local_stack/, the same as the demo's
#      and the tests');
#   2. the backlog: 10,000 objects of 1 KiB uploaded with the bucket notification on, BEFORE the
#      daemon starts; LocalStack delivers their ObjectCreated events to the event queue;
#   3. the release build of the daemon, configured by the setup, drains it; its VmRSS is sampled
#      every 0.5 s from /proc while the completions queue is drained concurrently;
#   4. both targets listed (ListObjectsV2) after the daemon stopped; the event queue and the
#      dead-letter queue must be empty.
#
# Prints objects/s, the RSS series summary and the messages lost; exits 1 if anything was lost.
# Environment: SOAK_COUNT (10000), SOAK_CONCURRENCY (queue.concurrency, 64 = the daemon's
# default), SOAK_WARMUP_SECS (10), BENCH_PYTHON (a Python 3.13 for LocalStack). State and logs
# go to .soak/.
set -euo pipefail
cd "$(dirname "$0")/.."

count="${SOAK_COUNT:-10000}"
concurrency="${SOAK_CONCURRENCY:-64}"
warmup_secs="${SOAK_WARMUP_SECS:-10}"
state=.soak
# LocalStack's installation and start: scripts/lib/emulators.sh.
source scripts/lib/emulators.sh

echo "== build (release)"
# The daemon as the image builds it; the harness (workspace member bench/) on its own.
cargo build --release --quiet --bin s3-replicator
cargo build --release --quiet -p s3-replicator-bench --bin local_stack
bin=target/release/s3-replicator
stack=target/release/local_stack

localstack_install

rm -rf "$state"
mkdir -p "$state"
localstack="" daemon="" sampler=""
cleanup() {
  local pid
  for pid in "$sampler" "$daemon" "$localstack"; do
    if [[ -n "$pid" ]]; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
}
trap cleanup EXIT

localstack_start "$state"
localstack=$LOCALSTACK_PID endpoint=$LOCALSTACK_URL
echo "== LocalStack $(localstack_version) on $endpoint"

# The emulator accepts any credentials; the daemon reads them from the environment as on AWS.
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
config="$state/soak.toml"
"$stack" setup --endpoint "$endpoint" --config "$config" >"$state/setup.txt"
export S3R_QUEUE__CONCURRENCY="$concurrency"
"$bin" check-config --config "$config" >/dev/null

echo "== backlog"
"$stack" backlog --config "$config" --count "$count"

echo "== daemon: $bin, queue.concurrency $concurrency, max_messages 10 (log: $state/daemon.log)"
# The emulator, the daemon and this client share the machine's cores with whatever else runs.
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
t0_ms=$(($(date +%s%N) / 1000000))
"$bin" run --config "$config" 2>"$state/daemon.log" &
daemon=$!
# VmRSS every 0.5 s: "milliseconds since start<TAB>KiB".
(
  while rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$daemon/status" 2>/dev/null) && [[ -n "$rss" ]]; do
    printf '%d\t%s\n' $(($(date +%s%N) / 1000000 - t0_ms)) "$rss"
    sleep 0.5
  done
) >"$state/rss.tsv" &
sampler=$!

status=0
"$stack" drain --config "$config" --count "$count" --since-ms "$t0_ms" \
  --record "$state/completions.tsv" || status=1
drained_ms=$(($(date +%s%N) / 1000000 - t0_ms))
echo "machine: load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"

# CPU time of the daemon (utime + stime, clock ticks) before it stops.
ticks=$(awk '{print $14 + $15}' "/proc/$daemon/stat" 2>/dev/null || echo 0)
kill -TERM "$daemon"
daemon_status=0
wait "$daemon" || daemon_status=$?
daemon=""
kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true
sampler=""
echo "daemon: stopped by SIGTERM, exit status $daemon_status; CPU $(awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v ms="$drained_ms" \
  'BEGIN { printf "%.1f s user+sys (%.0f %% of one core over the drain)", t / hz, 100 * t / hz / (ms / 1000) }')"
((daemon_status == 0)) || status=1
errors=$(grep -c '"level":"ERROR"\| ERROR ' "$state/daemon.log" || true)
warnings=$(grep -c '"level":"WARN"\| WARN ' "$state/daemon.log" || true)
echo "daemon log: $errors ERROR and $warnings WARN lines"

echo "== RSS of the daemon (VmRSS every 0.5 s until the last completion arrived)"
awk -v warm="$((warmup_secs * 1000))" -v end="$drained_ms" '
  $1 <= end {
    n++; rss = $2 / 1024
    if (rss > peak) peak = rss
    if ($1 <= warm) { w = rss; next }
    after++
    if (min == "" || rss < min) min = rss
    if (rss > max) max = rss
    # one value every 10 s for the series line
    if ($1 >= next_at) { series = series sprintf(" %.1f", rss); next_at = $1 + 10000 }
  }
  END {
    if (n == 0) { print "no samples"; exit }
    printf "samples: %d over %.1f s; peak %.1f MiB\n", n, end / 1000, peak
    if (after == 0 || w == "") { print "run too short for a warm-up of " warm / 1000 " s"; exit }
    lo = 100 * (min - w) / w; hi = 100 * (max - w) / w
    printf "warm-up value (at %d s): %.1f MiB; after warm-up: min %.1f, max %.1f MiB (%+.1f %% .. %+.1f %% of warm-up; spread %.1f %%)\n", warm / 1000, w, min, max, lo, hi, 100 * (max - min) / w
    printf "flat within +-10 %% after warm-up: %s\n", (lo >= -10 && hi <= 10) ? "yes" : "NO"
    printf "series, MiB every 10 s after warm-up:%s\n", series
  }' "$state/rss.tsv"

echo "== verify (after the daemon stopped)"
"$stack" verify --config "$config" --count "$count" --record "$state/completions.tsv" || status=1
if ((status == 0)); then
  echo "soak: OK, nothing lost"
else
  echo "soak: FAILED (see above; logs in $state/)" >&2
fi
exit "$status"
