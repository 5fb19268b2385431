#!/usr/bin/env bash
# The benchmark against peers (prints figures; not a test): one command, one run, the same
# emulators for every tool.
#
#   scripts/bench.sh          # ~15 min here (~12 with BENCH_LARGE_GIB=0), plus installs once
#   scripts/bench.sh profile  # one daemon drains BENCH_OBJECTS (5000) events under `perf record`
#                             # (Debian's linux-perf); prints its CPU time per object and the
#                             # hottest functions; the samples stay in .bench/daemon.perf.data
#
# 1. installs what is missing into gitignored places: LocalStack core (.venv-localstack/),
#    s3s-fs (.tools/), awscli (.venv/); rclone is Debian's package;
# 2. starts s3s-fs (S3, its files on tmpfs) and LocalStack (SQS, SNS; its S3 serves the
#    all-LocalStack part) on 127.0.0.1;
# 3. `bench run` (bench/src/bin/bench/): latency and its floor, the emulators' ceilings, throughput
#    of the daemon (1 and 2 processes), rclone and `aws s3 sync`, requests per object, 1 and 2
#    daemons each held to a small queue.concurrency, and S3, SQS and SNS all on LocalStack (its
#    own S3) with the daemon beside rclone;
# 4. scripts/bench-large.sh for the large-object rows (BENCH_LARGE_GIB, default 1; 0 skips it);
# 5. writes docs/bench/results.json and docs/bench/chart.png and prints the tables.
#
# Environment: BENCH_OBJECTS (10000), BENCH_LATENCY_OBJECTS (200), BENCH_LATENCY_RATE (10 per s),
# BENCH_ONE_EMULATOR_OBJECTS (2000; 0 skips the all-LocalStack part), BENCH_CAPPED_OBJECTS (2000;
# 0 skips the capped scale-out), BENCH_CAPPED_CONCURRENCY (10), BENCH_LARGE_GIB (1),
# BENCH_OUT (docs/bench), BENCH_PYTHON (a Python 3.13 for LocalStack), BENCH_S3_ON_DISK (1:
# s3s-fs's files in .bench/ rather than on tmpfs).
# State and logs go to .bench/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/emulators.sh

mode="${1:-all}"
case "$mode" in
  all) objects="${BENCH_OBJECTS:-10000}" ;;
  profile) objects="${BENCH_OBJECTS:-5000}" ;;
  *) echo "usage: scripts/bench.sh [profile]" >&2; exit 2 ;;
esac
latency_objects="${BENCH_LATENCY_OBJECTS:-200}"
latency_rate="${BENCH_LATENCY_RATE:-10}"
large_gib="${BENCH_LARGE_GIB:-1}"
out="${BENCH_OUT:-docs/bench}"
state=.bench

echo "== build (release)"
# The daemon as the image builds it; the harness (workspace member bench/) on its own, so that
# its dependencies' features do not reach the daemon's build.
cargo build --release --quiet --bin s3-replicator
cargo build --release --quiet -p s3-replicator-bench --bin bench --bin bench_copy
bin=target/release/s3-replicator
if [[ "$mode" == profile ]]; then
  # The same optimisation with line tables ([profile.profiling]), so that perf can unwind.
  cargo build --profile profiling --quiet --bin s3-replicator
  bin=target/profiling/s3-replicator
fi
localstack_install
s3sfs_install
if [[ "$mode" == all ]]; then
  awscli_install
  rclone_check
else
  command -v perf >/dev/null || { echo "perf is missing; install Debian's package: apt-get install -y linux-perf" >&2; exit 1; }
fi

rm -rf "$state"
mkdir -p "$state" "$out"
# s3s-fs keeps its objects in memory (tmpfs) where the machine has one, BENCH_S3_ON_DISK=1 puts
# them in $state: on ext4, a run started soon after an earlier run's tens of thousands of files
# were deleted spent most of s3s-fs's CPU in the inode allocator (docs/performance.md).
s3data="$state/s3" s3where="files on disk"
if [[ -z "${BENCH_S3_ON_DISK:-}" && -d /dev/shm && -w /dev/shm ]]; then
  s3data="$(mktemp -d /dev/shm/s3r-bench-s3.XXXXXX)" s3where="files on tmpfs"
fi
localstack="" s3sfs=""
cleanup() {
  stop_pid "$s3sfs"
  stop_pid "$localstack"
  if [[ "$s3data" == /dev/shm/* ]]; then rm -rf "$s3data"; fi
}
trap cleanup EXIT

# One set of credentials for everything: s3s-fs checks them, LocalStack accepts any.
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret-key AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
s3sfs_start "$s3data" "$state/s3s-fs.log"
s3sfs=$S3SFS_PID
localstack_start "$state"
localstack=$LOCALSTACK_PID
export BENCH_S3_EMULATOR="s3s-fs $s3sfs_version ($s3where)" BENCH_SQS_EMULATOR="LocalStack core $(localstack_version) (host mode)"
export BENCH_COMMAND="scripts/bench.sh"
# Their CPU time over each throughput run shows which of them was the limit.
export BENCH_S3_PID="$s3sfs" BENCH_SQS_PID="$localstack"
# LocalStack logs every request it serves: the harness counts them per part.
export BENCH_SQS_LOG="$PWD/$state/localstack.log"
echo "== S3: $BENCH_S3_EMULATOR on $S3SFS_URL; SQS and SNS: $BENCH_SQS_EMULATOR on $LOCALSTACK_URL"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"

if [[ "$mode" == profile ]]; then
  target/release/bench profile --sqs-sns "$LOCALSTACK_URL" --s3 "$S3SFS_URL" \
    --bin "$bin" --objects "$objects" --perf "$state/daemon.perf.data"
  report() { perf report -i "$state/daemon.perf.data" --stdio -g none --percent-limit 1.5 "$@" 2>/dev/null | grep -v -e '^#' -e '^$'; }
  echo "== the daemon's CPU samples by library (self time)"
  report --no-children --sort dso
  echo "== the daemon's functions with their callees (children), the outermost worth reading"
  report --children --sort symbol | head -60
  exit 0
fi

target/release/bench run --sqs-sns "$LOCALSTACK_URL" --s3 "$S3SFS_URL" \
  --bin target/release/s3-replicator --aws .venv/bin/aws --rclone "$(command -v rclone)" \
  --objects "$objects" --latency-objects "$latency_objects" --latency-rate "$latency_rate" \
  --one-emulator-objects "${BENCH_ONE_EMULATOR_OBJECTS:-2000}" \
  --capped-objects "${BENCH_CAPPED_OBJECTS:-2000}" --capped-concurrency "${BENCH_CAPPED_CONCURRENCY:-10}" \
  --out "$out/results.json"
cleanup
localstack="" s3sfs=""

if [[ "$large_gib" != 0 ]]; then
  echo "== large objects: scripts/bench-large.sh ($large_gib GiB)"
  rows="$PWD/$state/large.jsonl"
  BENCH_SIZES_GIB="$large_gib" BENCH_JSON="$rows" scripts/bench-large.sh
  target/release/bench large --results "$out/results.json" --rows "$rows"
fi

target/release/bench chart --results "$out/results.json" --png "$out/chart.png"
echo "== results: $out/results.json, chart: $out/chart.png"
target/release/bench table --results "$out/results.json"
