#!/usr/bin/env bash
# CPU instructions the server spends per POST /v1/verify, counted by
# valgrind (callgrind), not timed: the count is the same on a busy or an
# idle machine, so two builds compare exactly where wall-clock figures on
# these shared VMs move by ±15 %. Each binary serves 1,050 and then 5,050
# keep-alive requests under callgrind in two runs; the difference divided by
# 4,000 is the cost of one request without start-up and shutdown.
# Usage: bench/verify-instructions.sh [BINARY...]   (default: a release build of this tree)
# Compare two commits by building each into its own target directory and
# passing both binaries. Needs valgrind and python3.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v valgrind >/dev/null || { echo "valgrind is required: apt-get install valgrind" >&2; exit 2; }
if [ $# -eq 0 ]; then
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/keyward-target}"
  cargo build --release -q -p keyward --bin keyward
  set -- "$CARGO_TARGET_DIR/release/keyward"
fi
CLIENT="$PWD/bench/verify-instructions.py"
PORT=18530
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT

wait_answering() { # url tries
  for _ in $(seq 1 "$2"); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "not answering: $1" >&2; return 1
}

instructions() { # binary data-dir requests -> total Ir of the run
  valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.out" \
    "$1" serve --data-dir "$2" --listen 127.0.0.1:$PORT 2>"$WORK/valgrind.log" &
  local server=$!
  wait_answering http://127.0.0.1:$PORT/healthz 600
  python3 "$CLIENT" $PORT 50 # warm the cache and the connection path
  python3 "$CLIENT" $PORT "$3"
  kill -TERM $server
  wait $server 2>/dev/null || true
  awk '/^(summary|totals):/{print $2; exit}' "$WORK/callgrind.out"
}

for binary in "$@"; do
  data="$WORK/data-$RANDOM"
  "$binary" serve --data-dir "$data" --listen 127.0.0.1:$PORT --admin-token-file "$data.admin" 2>"$WORK/server.log" &
  server=$!
  wait_answering http://127.0.0.1:$PORT/readyz 200
  export KEYWARD_ADDR=http://127.0.0.1:$PORT KEYWARD_TOKEN_FILE="$data.admin"
  keyspace=$("$binary" keyspace create --name bench --environment live)
  KW_TOKEN=$("$binary" token create --keyspace "$keyspace" --name bench --scope invoices:read)
  KW_ADMIN=$(cat "$data.admin")
  export KW_TOKEN KW_ADMIN
  kill $server
  wait $server 2>/dev/null || true
  short=$(instructions "$binary" "$data" 1000)
  long=$(instructions "$binary" "$data" 5000)
  echo "$binary: $(( (long - short) / 4000 )) instructions per verify request"
done
