#!/usr/bin/env bash
# The deployment applied, not only parsed: terraform/examples/localstack (both modules) applied
# against LocalStack, the daemon run with the ECS task's environment as the replicator module
# renders it, objects replicated end to end, then everything destroyed.
#
#   1. LocalStack (installed by scripts/lib/emulators.sh) on a free 127.0.0.1 port, state in a
#      temporary directory, with every service the modules use and terraform-compatible queue URLs
#   2. `terraform init` with the local provider mirror only (TF_PLUGIN_DIR, default
#      /opt/tf-plugins, as scripts/check-terraform.sh: nothing is downloaded), in a copy of
#      terraform/ so that no .terraform directory, lock file or state lands in the work tree;
#      `terraform apply -auto-approve` of the example against LocalStack
#   3. the daemon, target/debug/s3-replicator (not built here), started with exactly the
#      environment of output container_environment (module output of the same name: the
#      container's environment in the task definition), plus the emulator's credentials
#   4. DEPLOY_CHECK_OBJECTS objects (default 5) uploaded to the source bucket; waits (deadline
#      DEPLOY_CHECK_TIMEOUT seconds, default 120) until the queue subscribed to the completion
#      topic holds a completion event for every object and every target holds its bytes
#   5. the daemon stopped (SIGTERM), `terraform destroy -auto-approve`, LocalStack stopped
#
# No standard input. Exits 0 only when all of it passed; prints one result line with the elapsed
# seconds. Environment: TF_PLUGIN_DIR, BENCH_PYTHON (a Python 3.13 for LocalStack, see
# scripts/lib/emulators.sh), DEPLOY_CHECK_OBJECTS, DEPLOY_CHECK_TIMEOUT, DEPLOY_CHECK_KEEP=1
# (keep the temporary directory with the logs and terraform state).
set -euo pipefail
exec </dev/null
cd "$(dirname "$0")/.."
repo="$PWD"
started=$SECONDS

objects="${DEPLOY_CHECK_OBJECTS:-5}"
timeout_secs="${DEPLOY_CHECK_TIMEOUT:-120}"
plugins="${TF_PLUGIN_DIR:-/opt/tf-plugins}"
bin="$repo/target/debug/s3-replicator"

source scripts/lib/emulators.sh

say() { echo "deploy-check: $*" >&2; }

[[ -x "$bin" ]] || { say "$bin is missing: build it first (cargo build --bin s3-replicator)"; exit 2; }
command -v terraform >/dev/null || { say "terraform is not installed"; exit 2; }
[[ -d "$plugins" ]] || { say "no provider mirror at $plugins (TF_PLUGIN_DIR)"; exit 2; }

work="$(mktemp -d "${TMPDIR:-/tmp}/deploy-check.XXXXXX")"
# localstack_start takes a state directory relative to the working directory.
state="$(realpath --relative-to=. "$work")/localstack"
mkdir -p "$state"

LOCALSTACK_PID="" daemon="" applied=0 result="FAILED"
tf() { (cd "$work/terraform/examples/localstack" && terraform "$@"); }

# terraform destroy against LocalStack. One resource is left to the deletion of its queue rather
# than deleted on its own: destroying aws_sqs_queue_redrive_allow_policy clears the DLQ's
# RedriveAllowPolicy and then waits for the change to show, which LocalStack never reports as
# the provider expects (it answers RedriveAllowPolicy = "" where AWS leaves the attribute out),
# so the destroy hangs (seen for 15 minutes). Deleting the DLQ deletes its policy with it.
tf_destroy() {
  local log="$1"
  if tf state list 2>/dev/null | grep -qx 'module.replicator.aws_sqs_queue_redrive_allow_policy.dlq'; then
    tf state rm -no-color module.replicator.aws_sqs_queue_redrive_allow_policy.dlq >"$log" 2>&1 || return 1
  fi
  timeout 600 bash -c 'cd "$1" && terraform destroy -auto-approve -input=false -no-color -var-file="$2"' \
    _ "$work/terraform/examples/localstack" "$work/localstack.tfvars.json" >>"$log" 2>&1
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "$daemon" ]]; then
    kill -TERM "$daemon" 2>/dev/null || true
    wait "$daemon" 2>/dev/null || true
  fi
  # (Only while LocalStack runs: its state goes with it anyway.)
  if ((applied)) && kill -0 "$LOCALSTACK_PID" 2>/dev/null; then
    say "terraform destroy (after a failure)"
    tf_destroy "$work/destroy-after-failure.log" || say "terraform destroy failed: $work/destroy-after-failure.log"
  fi
  stop_pid "$LOCALSTACK_PID"
  if ((rc != 0)); then
    say "logs: $work (kept)"
    tail -30 "$work/daemon.log" 2>/dev/null | sed 's/^/  daemon: /' >&2 || true
  elif [[ "${DEPLOY_CHECK_KEEP:-0}" == 1 ]]; then
    say "logs and state kept in $work"
  else
    rm -rf "$work"
  fi
  echo "deploy-check: $result in $((SECONDS - started)) s"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. LocalStack ------------------------------------------------------------------------------
# localstack_start of scripts/lib/emulators.sh, with two differences the terraform AWS provider
# needs: every service the modules use (IAM, KMS, CloudWatch, CloudWatch Logs too), and queue
# URLs http://HOST:PORT/ACCOUNT/NAME (SQS_ENDPOINT_STRATEGY=off). Its "path" strategy
# (http://HOST:PORT/queue/REGION/ACCOUNT/NAME) fails every aws_sqs_queue: "SQS Queue URL (…) is
# in the incorrect format". Same installation, version, files and log as the benchmarks'.
localstack_start_for_terraform() {
  local state="$1" port
  port="$(free_port)"
  GATEWAY_LISTEN="127.0.0.1:$port" LOCALSTACK_HOST="127.0.0.1:$port" SQS_ENDPOINT_STRATEGY=off \
    SERVICES=s3,sqs,sns,sts,iam,kms,cloudwatch,logs,events EAGER_SERVICE_LOADING=1 DISABLE_EVENTS=1 \
    SKIP_SSL_CERT_DOWNLOAD=1 DNS_ADDRESS=0 FILESYSTEM_ROOT="$PWD/$state/localstack-fs" \
    "$localstack_venv/bin/python" -m localstack.runtime.main >"$state/localstack.log" 2>&1 &
  LOCALSTACK_PID=$!
  LOCALSTACK_URL="http://127.0.0.1:$port"
  local deadline=$((SECONDS + 90))
  until grep -q '^Ready\.' "$state/localstack.log"; do
    if ! kill -0 "$LOCALSTACK_PID" 2>/dev/null || ((SECONDS > deadline)); then
      say "LocalStack did not start; $state/localstack.log:"
      tail -20 "$state/localstack.log" >&2
      return 2
    fi
    sleep 0.2
  done
}

localstack_install
localstack_start_for_terraform "$state"
endpoint="$LOCALSTACK_URL"
say "LocalStack $(localstack_version) on $endpoint (pid $LOCALSTACK_PID, log $state/localstack.log)"

# --- 2. terraform init and apply ----------------------------------------------------------------
cp -r terraform "$work/"
printf 'provider_installation {\n  filesystem_mirror {\n    path = "%s"\n  }\n}\n' "$plugins" >"$work/cli.tfrc"
export TF_CLI_CONFIG_FILE="$work/cli.tfrc" CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1 TF_INPUT=0
unset TF_WORKSPACE TF_DATA_DIR
# Nothing of this machine's AWS setup may leak into the providers (their credentials and
# endpoints are in the example).
unset AWS_PROFILE AWS_ENDPOINT_URL AWS_SESSION_TOKEN AWS_DEFAULT_PROFILE AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
metrics_port="$(free_port)"
printf '{"endpoint": "%s", "metrics_port": %d}\n' "$endpoint" "$metrics_port" >"$work/localstack.tfvars.json"

say "terraform init (providers from $plugins)"
tf init -input=false -no-color >"$work/init.log" 2>&1 || { cat "$work/init.log" >&2; exit 1; }
say "terraform apply"
applied=1 # from here on, whatever part of the apply happened is destroyed on exit
if ! tf apply -auto-approve -input=false -no-color -var-file="$work/localstack.tfvars.json" >"$work/apply.log" 2>&1; then
  grep -v '^\s*$' "$work/apply.log" | tail -40 >&2
  say "terraform apply failed (log: $work/apply.log)"
  exit 1
fi
say "applied: $(grep -E '^Apply complete' "$work/apply.log")"
tf output -json >"$work/outputs.json"

# --- 3. the daemon, with the task's environment -------------------------------------------------
# The environment exactly as the module rendered it for the container (output
# container_environment), NUL-separated for env(1); then only what the emulator needs: its
# credentials (on ECS they come from the task role). [aws] endpoint_url is in the example's
# config_toml, i.e. in S3R_CONFIG_TOML.
jq -j '.container_environment.value | to_entries[] | "\(.key)=\(.value)\u0000"' "$work/outputs.json" >"$work/task-env"
mapfile -d '' task_env <"$work/task-env"
say "task environment: $(jq -r '.container_environment.value | keys | join(" ")' "$work/outputs.json")"
env -i PATH=/usr/bin:/bin "${task_env[@]}" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
  "$bin" check-config >"$work/check-config.txt" 2>&1 || { cat "$work/check-config.txt" >&2; say "check-config refused the task environment"; exit 1; }
env -i PATH=/usr/bin:/bin "${task_env[@]}" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
  "$bin" run >"$work/daemon.log" 2>&1 &
daemon=$!
say "daemon started (pid $daemon, log $work/daemon.log, health on port $metrics_port)"

# --- 4. objects in, completions and replicas out ------------------------------------------------
"$localstack_venv/bin/python" - "$work/outputs.json" "$endpoint" "$objects" "$timeout_secs" "$daemon" <<'PY'
import hashlib, json, os, sys, time
import boto3
from botocore.config import Config

outputs_path, endpoint, count, timeout, daemon = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
out = {k: v["value"] for k, v in json.load(open(outputs_path)).items()}
cfg = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3})
def client(service, region="us-east-1"):
    return boto3.client(service, endpoint_url=endpoint, region_name=region,
                        aws_access_key_id="test", aws_secret_access_key="test", config=cfg)

s3 = client("s3")
sqs = client("sqs")
source = out["source_bucket"]
targets = out["target_buckets"]  # bucket -> region
completions = out["completions_queue_url"]

bodies = {}
for i in range(count):
    key = f"deploy-check/object-{i}.bin"
    body = os.urandom(1024 * (i + 1)) + f"object {i}".encode()
    s3.put_object(Bucket=source, Key=key, Body=body)
    bodies[key] = body
print(f"deploy-check: uploaded {count} objects to s3://{source}/deploy-check/", file=sys.stderr)

def alive():
    try:
        os.kill(daemon, 0)
        return True
    except ProcessLookupError:
        return False

events = {}
replicated = set()
deadline = time.monotonic() + timeout
while True:
    if not alive():
        sys.exit("deploy-check: the daemon exited")
    resp = sqs.receive_message(QueueUrl=completions, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    for m in resp.get("Messages", []):
        event = json.loads(m["Body"])
        key = event.get("source", {}).get("key")
        events.setdefault(key, []).append(event)
        sqs.delete_message(QueueUrl=completions, ReceiptHandle=m["ReceiptHandle"])
    for key, body in bodies.items():
        if key in replicated or key not in events:
            continue
        ok = True
        for bucket, region in targets.items():
            try:
                got = client("s3", region).get_object(Bucket=bucket, Key=key)["Body"].read()
            except Exception:
                ok = False
                break
            ok = ok and got == body
        if ok:
            replicated.add(key)
    if len(replicated) == len(bodies):
        break
    if time.monotonic() > deadline:
        missing_events = sorted(set(bodies) - set(events))
        missing_bytes = sorted(set(bodies) - replicated - set(missing_events))
        sys.exit(f"deploy-check: after {timeout:.0f} s: no completion event for {missing_events}; "
                 f"event but targets lack the bytes for {missing_bytes}")

print("deploy-check: completion events received:", file=sys.stderr)
for key in sorted(bodies):
    for e in events[key]:
        tgts = ", ".join(f"{t.get('name')}=s3://{t.get('bucket')}" for t in e.get("targets", []))
        print(f"  {e.get('schema')} rule={e.get('rule')} s3://{e['source'].get('bucket')}/{key} "
              f"size={e['source'].get('size')} etag={e['source'].get('etag')} origin={e.get('origin')} "
              f"latency_ms={e.get('latency_ms')} targets: {tgts}", file=sys.stderr)
print(f"deploy-check: every target holds the bytes of all {len(bodies)} objects "
      f"({', '.join(f'{b} ({r})' for b, r in targets.items())})", file=sys.stderr)
unexpected = [k for k in events if k not in bodies]
if unexpected:
    sys.exit(f"deploy-check: completion events for objects never uploaded: {unexpected}")
PY

# --- 5. stop, destroy ---------------------------------------------------------------------------
kill -TERM "$daemon"
daemon_status=0
wait "$daemon" || daemon_status=$?
daemon=""
if ((daemon_status != 0)); then
  say "the daemon exited with status $daemon_status on SIGTERM"
  exit 1
fi
errors="$(grep -c '"level":"ERROR"' "$work/daemon.log" || true)"
say "daemon stopped (status 0); its log has $errors ERROR lines"
say "terraform destroy"
if ! tf_destroy "$work/destroy.log"; then
  grep -v '^\s*$' "$work/destroy.log" | tail -30 >&2
  say "terraform destroy failed (log: $work/destroy.log)"
  exit 1
fi
applied=0
say "destroyed: $(grep -E '^Destroy complete' "$work/destroy.log")"
left="$(tf state list 2>/dev/null | grep -v '^data\.' || true)"
if [[ -n "$left" ]]; then
  say "resources left in the state after destroy: $left"
  exit 1
fi
result="OK (apply, $objects objects replicated to 2 targets with completion events, destroy)"
