#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests, and the integration tests against the
# local emulator (moto's server on 127.0.0.1, installed into .venv by scripts/emulator.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --check
cargo clippy --workspace --all-targets --features emulator-tests -- -D warnings
scripts/check-terraform.sh   # terraform parses, checkov, the task environment passes check-config, hadolint

endpoint="$(scripts/emulator.sh start)"
trap 'scripts/emulator.sh stop' EXIT
echo "emulator: $endpoint" >&2

# The emulator accepts any credentials; the daemon under test reads them from the environment
# like it would on AWS.
export S3R_TEST_ENDPOINT="$endpoint"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
cargo test --workspace --all-targets --features emulator-tests "$@"
