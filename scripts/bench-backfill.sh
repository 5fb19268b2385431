#!/usr/bin/env bash
# The backfill benchmark (prints figures; not a test): pre-existing objects copied four ways in
# one run, on the same emulators as scripts/bench.sh (s3s-fs for S3, LocalStack for SQS and SNS):
#
#   (a) `s3-replicator backfill`            one process lists the source and copies;
#   (b) `s3-replicator backfill --enqueue`  one event per object to the daemon's queue, drained
#                                           by one running daemon (`s3-replicator run`);
#   (c) the same, drained by two daemons;
#   (d) `rclone copy`                       the peer scripts/bench.sh uses (server-side, one
#                                           process per target, --transfers 32 --checkers 32).
#
#   scripts/bench-backfill.sh    # ~5 min here with 10,000 objects, plus the build and installs
#
# Every part copies the same source bucket (its notifications off) into two fresh, empty target
# buckets of its own. The harness is bench/src/bin/bench_backfill.rs; it prints a table of
# objects/s (start → every object in every target; for (b) and (c) → every completion event
# arrived and the event queue empty, polled every 100 ms), the enqueue phase's own duration,
# requests per object by service (measured or counted, row by row) and what bounded each part.
#
# Environment: BENCH_BACKFILL_OBJECTS (10000), BENCH_BACKFILL_BYTES (1024),
# BENCH_PYTHON (a Python 3.13 for LocalStack), BENCH_S3_ON_DISK (1: s3s-fs's files in
# .bench/backfill rather than on tmpfs). State, logs, each daemon's last /metrics page and the
# table (table.md) go to .bench/backfill/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/emulators.sh

objects="${BENCH_BACKFILL_OBJECTS:-10000}"
bytes="${BENCH_BACKFILL_BYTES:-1024}"
state=.bench/backfill

echo "== build (release)"
# The daemon as the image builds it; the harness (workspace member bench/) on its own.
cargo build --release --quiet --bin s3-replicator
cargo build --release --quiet -p s3-replicator-bench --bin bench_backfill
localstack_install
s3sfs_install
rclone_check

rm -rf "$state"
mkdir -p "$state"
s3data="$state/s3" s3where="files on disk"
if [[ -z "${BENCH_S3_ON_DISK:-}" && -d /dev/shm && -w /dev/shm ]]; then
  s3data="$(mktemp -d /dev/shm/s3r-bench-backfill-s3.XXXXXX)" s3where="files on tmpfs"
fi
localstack="" s3sfs=""
cleanup() {
  stop_pid "$s3sfs"
  stop_pid "$localstack"
  if [[ "$s3data" == /dev/shm/* ]]; then rm -rf "$s3data"; fi
}
trap cleanup EXIT

export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret-key AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
s3sfs_start "$s3data" "$state/s3s-fs.log"
s3sfs=$S3SFS_PID
localstack_start "$state"
localstack=$LOCALSTACK_PID
# Their CPU time per part shows which of them was the bound; LocalStack logs every request.
export BENCH_S3_PID="$s3sfs" BENCH_SQS_PID="$localstack" BENCH_SQS_LOG="$PWD/$state/localstack.log"
echo "== S3: s3s-fs $s3sfs_version ($s3where) on $S3SFS_URL; SQS and SNS: LocalStack core $(localstack_version) (host mode) on $LOCALSTACK_URL"
echo "== s3-replicator $(git describe --always --dirty 2>/dev/null || echo '?'); rclone $(rclone version 2>/dev/null | head -1 | awk '{print $2}')"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"

target/release/bench_backfill --sqs-sns "$LOCALSTACK_URL" --s3 "$S3SFS_URL" \
  --bin target/release/s3-replicator --rclone "$(command -v rclone)" \
  --objects "$objects" --bytes "$bytes" --dir "$state"
echo "machine: load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
