#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests, and the integration tests against the
# local emulator (moto's server on 127.0.0.1, installed into .venv by scripts/emulator.sh) and a
# second S3 implementation (s3s-fs on 127.0.0.1, installed into .tools/), with a Delta writer
# (deltalake, into .venv-delta) for the table tests.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --check
cargo clippy --workspace --all-targets --features emulator-tests -- -D warnings
scripts/check-terraform.sh   # terraform parses, checkov, the task environment passes check-config, hadolint

endpoint="$(scripts/emulator.sh start)"
trap 'scripts/emulator.sh stop' EXIT
echo "emulator: $endpoint" >&2

# A second, independent S3 implementation with credentials of its own, for the target on
# another store (tests/it/foreign_store.rs): s3s-fs (installed into .tools/ by cargo, once),
# which checks every request's signature against its one key pair.
source scripts/lib/emulators.sh
s3sfs_install
mirror_data="$(mktemp -d)"
mkdir -p .emulator
AWS_ACCESS_KEY_ID=mirror-access-key AWS_SECRET_ACCESS_KEY=mirror-secret-key \
  s3sfs_start "$mirror_data" .emulator/s3s-fs.log
trap 'stop_pid "$S3SFS_PID"; rm -rf "$mirror_data"; scripts/emulator.sh stop' EXIT
echo "second S3 store: $S3SFS_URL" >&2
export S3R_TEST_MIRROR_ENDPOINT="$S3SFS_URL"
export S3R_TEST_MIRROR_ACCESS_KEY_ID=mirror-access-key S3R_TEST_MIRROR_SECRET_ACCESS_KEY=mirror-secret-key
export S3R_TEST_MIRROR_WRONG_SECRET=not-the-mirror-secret

# A real Delta writer and reader (tests/it/tables.rs): delta-rs's Python package, pinned, into
# .venv-delta.
delta_venv=.venv-delta
delta_packages=("deltalake==1.6.6" "pyarrow==26.0.1")
if ! "$delta_venv/bin/python" -c 'import deltalake, pyarrow' 2>/dev/null; then
  echo "installing ${delta_packages[*]} into $delta_venv" >&2
  python3 -m venv "$delta_venv"
  "$delta_venv/bin/pip" install --quiet --disable-pip-version-check "${delta_packages[@]}"
fi
export S3R_TEST_DELTA_PYTHON="$PWD/$delta_venv/bin/python"

# The emulator accepts any credentials; the daemon under test reads them from the environment
# like it would on AWS.
export S3R_TEST_ENDPOINT="$endpoint"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
cargo test --workspace --all-targets --features emulator-tests "$@"
