#!/usr/bin/env bash
# The local AWS emulator (moto's server) for tests and the demo.
#
#   scripts/emulator.sh install   create .venv and install the pinned emulator from PyPI
#   scripts/emulator.sh start     install if needed, start on 127.0.0.1, wait until it answers
#   scripts/emulator.sh stop      stop the emulator started by `start`
#   scripts/emulator.sh url       print the endpoint URL of the running emulator
#
# Port: S3R_EMULATOR_PORT (default: a free port chosen at start). State lives in .emulator/.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv"
state="$root/.emulator"
# Pinned: EMULATORS.md describes this version's behaviour. crc32c makes moto compute real
# CRC32C checksums instead of CRC32 labelled CRC32C.
packages=("moto[server]==5.2.5" "crc32c==2.7.1")

install() {
  if [[ -x "$venv/bin/moto_server" ]] && "$venv/bin/python" -c 'import crc32c' 2>/dev/null; then
    return
  fi
  echo "emulator: installing ${packages[*]} into .venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${packages[@]}"
}

free_port() {
  "$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

running() {
  [[ -f "$state/pid" ]] && kill -0 "$(cat "$state/pid")" 2>/dev/null
}

start() {
  install
  if running; then
    url
    return
  fi
  mkdir -p "$state"
  local port="${S3R_EMULATOR_PORT:-$(free_port)}"
  "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$state/moto.log" 2>&1 &
  echo $! >"$state/pid"
  echo "$port" >"$state/port"
  # Poll with a deadline: moto is usually ready in under two seconds.
  local deadline=$((SECONDS + 30))
  until "$venv/bin/python" - "$port" <<'PY' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/moto-api/", timeout=1)
PY
  do
    if ! running; then
      echo "emulator: moto_server exited; see $state/moto.log" >&2
      cat "$state/moto.log" >&2
      exit 1
    fi
    if ((SECONDS > deadline)); then
      echo "emulator: moto_server did not answer within 30 s; see $state/moto.log" >&2
      exit 1
    fi
    sleep 0.2
  done
  url
}

stop() {
  if running; then
    kill "$(cat "$state/pid")" 2>/dev/null || true
  fi
  rm -f "$state/pid" "$state/port"
}

url() {
  echo "http://127.0.0.1:$(cat "$state/port")"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  url) url ;;
  *)
    echo "usage: $0 install|start|stop|url" >&2
    exit 2
    ;;
esac
