#!/usr/bin/env bash
# The demo: the daemon end to end on the local emulator.
#
# Starts moto's server on 127.0.0.1 (installed into .venv), creates the local stack and
# config/local.toml, builds and starts the daemon, uploads a handful of objects with awkward
# keys, prints each completion event as it arrives, and reads every target back.
# Pass --keep to leave the emulator and the daemon running afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

keep=false
[[ "${1:-}" == "--keep" ]] && keep=true

# The daemon, and local_stack from the workspace member bench/.
cargo build --workspace --bins --examples

endpoint="$(scripts/emulator.sh start)"
echo "emulator: $endpoint"
# The emulator accepts any credentials; the daemon reads them from the environment as on AWS.
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL

target/debug/local_stack setup --endpoint "$endpoint" --config config/local.toml
target/debug/s3-replicator check-config --config config/local.toml >/dev/null

log=.emulator/daemon.log
# Health and metrics on loopback only, on a free port (the log names it).
S3R_SERVER__LISTEN=127.0.0.1:0 target/debug/s3-replicator run --config config/local.toml >"$log" 2>&1 &
daemon=$!
cleanup() {
  if ! $keep; then
    kill -TERM "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null || true
    scripts/emulator.sh stop
  fi
}
trap cleanup EXIT
echo "daemon: pid $daemon, log in $log"
for _ in $(seq 50); do
  if addr="$(grep -o 'addr=[0-9.:]*' "$log" | head -1)" && [[ -n "$addr" ]]; then
    echo "daemon: health and metrics on http://${addr#addr=}/metrics (/healthz, /readyz)"
    break
  fi
  sleep 0.1
done
echo

status=0
target/debug/local_stack upload --config config/local.toml || status=$?
if $keep; then
  echo
  echo "left running: daemon (pid $daemon, log $log), emulator $endpoint, config config/local.toml"
fi
exit "$status"
