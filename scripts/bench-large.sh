#!/usr/bin/env bash
# Large-object copy benchmark (prints figures; not a test).
#
# Copies 1 GiB and 4 GiB objects bucket to bucket on one local S3 emulator (s3s-fs, a fast
# S3 data path; moto needs ~4x the object in memory) and prints, side by side from the same run:
#   - s3-replicator's streamed copy (GET ranges → UploadPart) with copy.max_inflight_bytes =
#     256 MiB: MiB/s and the process's peak RSS (goal: ≤ max_inflight_bytes + 64 MiB, the same
#     for both sizes);
#   - s3-replicator's server-side multipart copy (UploadPartCopy);
#   - `aws s3 cp s3://… s3://…` (awscli from PyPI in .venv; server-side copy, 64 MiB parts);
#   - rclone copyto, server-side, and streamed (`--disable Copy`, 4 × 64 MiB chunks in flight).
#
# Installs what is missing into project-local, gitignored places: s3s-fs into .tools/ (cargo
# install, ~5 min the first time), awscli into .venv/. rclone is the Debian package
# (`apt-get install -y rclone`). Data lives in .bench-large/ (deleted at the end; ~15 GiB at peak).
#
# Environment: BENCH_SIZES_GIB (default "1 4"), BENCH_MAX_INFLIGHT (default "256 MiB"),
# BENCH_PART_SIZE (default "64 MiB"), BENCH_JSON (a file to append one JSON object per row to,
# for scripts/bench.sh's results).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
bench="$root/.bench-large"
sizes="${BENCH_SIZES_GIB:-1 4}"
max_inflight="${BENCH_MAX_INFLIGHT:-256 MiB}"
part_size="${BENCH_PART_SIZE:-64 MiB}"
part_mib="${part_size%% *}"

source scripts/lib/emulators.sh
s3sfs_install
awscli_install >&2
rclone_check
cargo build --quiet --release -p s3-replicator-bench --bin bench_copy
copy="$root/target/release/bench_copy"

rm -rf "$bench"
mkdir -p "$bench/data"
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret-key AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
server=""
cleanup() {
  stop_pid "$server"
  rm -rf "$bench"
}
trap cleanup EXIT
s3sfs_start "$bench/data" "$bench/s3s-fs.log"
server=$S3SFS_PID endpoint=$S3SFS_URL

# Every tool copies with the same part size: awscli's default of 8 MiB would make it pay for
# eight times as many UploadPartCopy calls.
cat >"$bench/aws-config" <<CONF
[default]
s3 =
  multipart_threshold = ${part_mib}MB
  multipart_chunksize = ${part_mib}MB
CONF
export AWS_CONFIG_FILE="$bench/aws-config"
aws() { "$root/.venv/bin/aws" --endpoint-url "$endpoint" "$@"; }

export RCLONE_CONFIG_BENCH_TYPE=s3 RCLONE_CONFIG_BENCH_PROVIDER=Other \
  RCLONE_CONFIG_BENCH_ENDPOINT="$endpoint" RCLONE_CONFIG_BENCH_REGION=us-east-1 \
  RCLONE_CONFIG_BENCH_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID" \
  RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY"

# Runs a command under /usr/bin/time; sets $secs and $rss (peak RSS, KiB).
measure() {
  /usr/bin/time -o "$bench/time.out" -f '%e %M' "$@" >"$bench/cmd.out" 2>"$bench/cmd.err" || {
    echo "bench: failed: $*" >&2
    cat "$bench/cmd.out" "$bench/cmd.err" >&2
    exit 1
  }
  read -r secs rss <"$bench/time.out"
}
notes=()
row() { # name bytes seconds rss_kib
  python3 - "$@" "${BENCH_JSON:-}" <<'PY'
import json, sys
name, size, secs, rss, out = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
mib = size / 2**20
print(f"| {name:<44} | {mib:>6.0f} | {secs:>7.1f} | {mib / max(secs, 0.01):>7.1f} | {rss / 1024:>8.0f} |")
if out:
    with open(out, "a") as f:
        row = {"tool": name, "mib": mib, "seconds": secs, "mib_per_s": mib / max(secs, 0.01), "peak_rss_mib": rss / 1024}
        f.write(json.dumps(row) + "\n")
PY
}

for b in src replicator-stream replicator-server aws rclone rclone-stream; do
  aws s3api create-bucket --bucket "bench-$b" >/dev/null
done

echo
echo "s3s-fs 0.14.1 on 127.0.0.1, $(nproc) cores; part size $part_size for every tool; s3-replicator max_inflight_bytes $max_inflight"
echo
echo "| copy                                         |    MiB |       s |   MiB/s | peak RSS MiB |"
echo "|----------------------------------------------|--------|---------|---------|--------------|"
for gib in $sizes; do
  key="object-${gib}gib"
  bytes=$((gib * 1024 * 1024 * 1024))
  head -c "$bytes" /dev/urandom | aws s3 cp - "s3://bench-src/$key" --expected-size "$bytes" >/dev/null

  measure "$copy" --endpoint "$endpoint" --mode stream \
    --source "bench-src/$key" --target "bench-replicator-stream/$key" \
    --part-size "$part_size" --max-inflight "$max_inflight"
  row "s3-replicator streamed_copy" "$bytes" "$secs" "$rss"
  notes+=("$(cat "$bench/cmd.out")")

  measure "$copy" --endpoint "$endpoint" --mode server-side \
    --source "bench-src/$key" --target "bench-replicator-server/$key" \
    --part-size "$part_size" --max-inflight "$max_inflight"
  row "s3-replicator multipart_copy (server-side)" "$bytes" "$secs" "$rss"

  # No read timeout: on two busy cores s3s-fs can take over a minute per UploadPartCopy of a
  # 4 GiB source, past awscli's default of 60 s.
  measure "$root/.venv/bin/aws" --endpoint-url "$endpoint" --cli-read-timeout 0 s3 cp \
    "s3://bench-src/$key" "s3://bench-aws/$key" --only-show-errors
  row "aws s3 cp s3://… s3://… (server-side)" "$bytes" "$secs" "$rss"

  measure env -u AWS_CA_BUNDLE rclone --s3-no-check-bucket copyto \
    "bench:bench-src/$key" "bench:bench-rclone/$key" \
    --s3-copy-cutoff "${part_mib}M" --s3-chunk-size "${part_mib}M" --timeout 30m
  row "rclone copyto (server-side)" "$bytes" "$secs" "$rss"

  measure env -u AWS_CA_BUNDLE rclone --s3-no-check-bucket copyto \
    "bench:bench-src/$key" "bench:bench-rclone-stream/$key" --disable Copy \
    --s3-chunk-size "${part_mib}M" --s3-upload-concurrency 4
  row "rclone copyto --disable Copy (streamed)" "$bytes" "$secs" "$rss"

  # Only the sizes must agree: the daemon verified its replicas itself.
  for b in replicator-stream replicator-server aws rclone rclone-stream; do
    got="$(aws s3api head-object --bucket "bench-$b" --key "$key" --query ContentLength --output text)"
    [[ "$got" == "$bytes" ]] || { echo "bench: bench-$b/$key has $got bytes, expected $bytes" >&2; exit 1; }
  done
  # Free the disk before the next size.
  for b in src replicator-stream replicator-server aws rclone rclone-stream; do
    aws s3 rm "s3://bench-$b/$key" --only-show-errors
  done
done
echo
printf '%s\n' "${notes[@]}"
