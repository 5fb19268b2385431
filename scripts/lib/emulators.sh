# Installing and starting the benchmark emulators; sourced by scripts/soak.sh, scripts/bench.sh
# and scripts/bench-large.sh (scripts/emulator.sh is moto, for the tests).
#
# Everything is installed into the project's gitignored directories: LocalStack core into
# .venv-localstack/ (it needs Python 3.13: $BENCH_PYTHON or the first python3.13 found), s3s-fs
# into .tools/, awscli into .venv/. Servers listen on 127.0.0.1 with a free port.

# Pinned: EMULATORS.md describes this version; the extra pins make it run on Python 3.13.
localstack_packages=('localstack-core[runtime]==2026.3.0' 'cbor2<6' 'pyOpenSSL<24.3' 'cryptography<44' service_identity)
localstack_venv=.venv-localstack
s3sfs_version=0.14.1

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

localstack_install() {
  "$localstack_venv/bin/python" -c 'import localstack' 2>/dev/null && return 0
  local python="${BENCH_PYTHON:-}"
  if [[ -z "$python" ]]; then
    # A pyenv shim answers `command -v` even when its version is not selected: try it.
    python="$(command -v python3.13 || true)"
    [[ -n "$python" ]] && ! "$python" -c '' 2>/dev/null && python=""
    [[ -z "$python" ]] && python="$(ls "$(pyenv root 2>/dev/null || echo ~/.pyenv)"/versions/3.13*/bin/python3.13 2>/dev/null | head -1)"
  fi
  [[ -x "$python" ]] || { echo "LocalStack needs Python 3.13; set BENCH_PYTHON" >&2; return 2; }
  echo "== installing LocalStack core into $localstack_venv" >&2
  "$python" -m venv "$localstack_venv"
  "$localstack_venv/bin/pip" install --quiet --disable-pip-version-check "${localstack_packages[@]}"
}

localstack_version() {
  "$localstack_venv/bin/python" -c 'import importlib.metadata as m; print(m.version("localstack-core"))'
}

# localstack_start STATE_DIR: starts LocalStack (S3, SQS, SNS, STS) in host mode with its files
# and log under STATE_DIR; sets LOCALSTACK_URL and LOCALSTACK_PID. Queue URLs name 127.0.0.1
# (path strategy) and its DNS server is off. It binds 0.0.0.0 despite GATEWAY_LISTEN.
localstack_start() {
  local state="$1" port
  port="$(free_port)"
  GATEWAY_LISTEN="127.0.0.1:$port" LOCALSTACK_HOST="127.0.0.1:$port" SQS_ENDPOINT_STRATEGY=path \
    SERVICES=s3,sqs,sns,sts EAGER_SERVICE_LOADING=1 DISABLE_EVENTS=1 SKIP_SSL_CERT_DOWNLOAD=1 \
    DNS_ADDRESS=0 FILESYSTEM_ROOT="$PWD/$state/localstack-fs" \
    "$localstack_venv/bin/python" -m localstack.runtime.main >"$state/localstack.log" 2>&1 &
  LOCALSTACK_PID=$!
  LOCALSTACK_URL="http://127.0.0.1:$port"
  local deadline=$((SECONDS + 90))
  until grep -q '^Ready\.' "$state/localstack.log"; do
    if ! kill -0 "$LOCALSTACK_PID" 2>/dev/null || ((SECONDS > deadline)); then
      echo "LocalStack did not start; $state/localstack.log:" >&2
      tail -20 "$state/localstack.log" >&2
      return 2
    fi
    sleep 0.2
  done
}

s3sfs_install() {
  [[ -x .tools/bin/s3s-fs ]] && return 0
  echo "== installing s3s-fs $s3sfs_version into .tools/ (takes a few minutes)" >&2
  cargo install s3s-fs --version "$s3sfs_version" --locked --features binary --root .tools >&2
}

# s3sfs_start DATA_DIR LOG: serves DATA_DIR as S3 with the credentials in AWS_ACCESS_KEY_ID and
# AWS_SECRET_ACCESS_KEY; sets S3SFS_URL and S3SFS_PID once it answers.
s3sfs_start() {
  local data="$1" log="$2" port
  port="$(free_port)"
  mkdir -p "$data"
  .tools/bin/s3s-fs --host 127.0.0.1 --port "$port" \
    --access-key "$AWS_ACCESS_KEY_ID" --secret-key "$AWS_SECRET_ACCESS_KEY" "$data" >"$log" 2>&1 &
  S3SFS_PID=$!
  S3SFS_URL="http://127.0.0.1:$port"
  local deadline=$((SECONDS + 30))
  # Any HTTP answer (an unsigned request gets 403) means it is serving.
  until curl -s -o /dev/null "$S3SFS_URL/"; do
    if ! kill -0 "$S3SFS_PID" 2>/dev/null || ((SECONDS > deadline)); then
      echo "s3s-fs did not start; $log:" >&2
      cat "$log" >&2
      return 2
    fi
    sleep 0.2
  done
}

awscli_install() {
  [[ -x .venv/bin/aws ]] && return 0
  echo "== installing awscli into .venv/" >&2
  [[ -x .venv/bin/pip ]] || python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check awscli
}

rclone_check() {
  command -v rclone >/dev/null && return 0
  echo "rclone is missing; install Debian's package: apt-get install -y rclone" >&2
  return 1
}

# stop_pid PID: TERM, then wait for it.
stop_pid() {
  [[ -n "${1:-}" ]] || return 0
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
