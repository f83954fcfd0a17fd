# Shared by the HTTP benchmark scripts: build, start a server on loopback,
# wait for readiness, clean up on exit. Sourced, not run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/keyward-target}"
command -v wrk >/dev/null || { echo "wrk is required: apt-get install wrk" >&2; exit 2; }
cargo build --release -q -p keyward --bin keyward
cargo build --release -q -p keyward-server --example bare_axum
BIN="$CARGO_TARGET_DIR/release/keyward"
BARE="$CARGO_TARGET_DIR/release/examples/bare_axum"
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT

wait_ready() { # url
  for _ in $(seq 1 400); do curl -kfsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.025; done
  echo "not ready: $1" >&2; return 1
}

start_keyward() { # port
  "$BIN" serve --data-dir "$WORK/data" --listen "127.0.0.1:$1" --admin-token-file "$WORK/admin" 2>"$WORK/server.log" &
  KEYWARD_PID=$!
  wait_ready "http://127.0.0.1:$1/readyz"
  export KEYWARD_ADDR="http://127.0.0.1:$1" KEYWARD_TOKEN_FILE="$WORK/admin"
}

stop_keyward() {
  kill "$KEYWARD_PID"
  wait "$KEYWARD_PID" 2>/dev/null || true
}

machine() {
  echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(free -g | awk '/Mem:/{print $2}') GiB; load generator on the same machine"
}

# wrk_run URL SCRIPT -> prints "rps p99_ms"
wrk_run() {
  ${WRK_PREFIX:-} wrk -t"${THREADS:-2}" -c"${CONNECTIONS:-32}" -d"${DURATION:-10s}" --latency -s "$2" "$1" >"$WORK/wrk.out"
  local rps p99
  rps=$(awk '/^Requests\/sec:/{print $2}' "$WORK/wrk.out")
  p99=$(awk '$1=="99%"{v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' "$WORK/wrk.out")
  if grep -q "Non-2xx" "$WORK/wrk.out"; then echo "non-2xx responses:" >&2; cat "$WORK/wrk.out" >&2; exit 1; fi
  echo "$rps $p99"
}
