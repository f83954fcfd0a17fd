#!/usr/bin/env bash
# POST /v1/verify on loopback vs a bare axum endpoint with a fixed JSON body:
# same tool (wrk), connections and duration, in the same run, in two set-ups:
#   shared: server and wrk (2 threads) scheduled freely over both cores;
#   pinned: server on core 0, wrk (1 thread) on core 1, so the generator does
#           not preempt the server and latency measures the server.
# Usage: bench/http-verify.sh   (DURATION=10s CONNECTIONS=32)
source "$(dirname "$0")/lib.sh"
start_keyward 18420
KS=$("$BIN" keyspace create --name bench --environment live)
export KW_TOKEN=$("$BIN" token create --keyspace "$KS" --name bench --scope invoices:read)
export KW_ADMIN=$(cat "$WORK/admin")
cat >"$WORK/verify.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("KW_ADMIN")
wrk.body = '{"token":"' .. os.getenv("KW_TOKEN") .. '","required_scopes":["invoices:read"]}'
LUA

# Both servers start under the same CPU set, so each runtime sizes its
# worker pool to the cores it may use.
start_pair() { # [taskset prefix...]
  "$@" "$BARE" 127.0.0.1:18421 2>/dev/null &
  BARE_PID=$!
  "$@" "$BIN" serve --data-dir "$WORK/data" --listen 127.0.0.1:18420 2>>"$WORK/server.log" &
  KEYWARD_PID=$!
  wait_ready http://127.0.0.1:18420/readyz
  curl -fsS -o /dev/null -X POST http://127.0.0.1:18421/v1/verify
}
stop_pair() {
  kill "$BARE_PID" "$KEYWARD_PID"
  wait "$BARE_PID" "$KEYWARD_PID" 2>/dev/null || true
}

compare() { # label
  read -r bare_rps bare_p99 < <(wrk_run http://127.0.0.1:18421/v1/verify "$WORK/verify.lua")
  read -r kw_rps kw_p99 < <(wrk_run http://127.0.0.1:18420/v1/verify "$WORK/verify.lua")
  printf '%s: bare axum fixed JSON %9.0f req/s p99 %6.3f ms | keyward /v1/verify %9.0f req/s p99 %6.3f ms\n' \
    "$1" "$bare_rps" "$bare_p99" "$kw_rps" "$kw_p99"
  awk -v l="$1" -v k="$kw_rps" -v b="$bare_rps" -v p="$kw_p99" -v c="${CONNECTIONS:-32}" 'BEGIN{r=k/b;
    printf "%s: ratio keyward/bare %.2f (target >= 0.60: %s); keyward p99 < 1 ms at %s connections: %s\n",
      l, r, (r>=0.6?"met":"NOT met"), c, (p<1?"met":"NOT met")}'
}

machine
stop_keyward
start_pair
WRK_PREFIX="" THREADS=2 compare "shared"
stop_pair
start_pair taskset -c 0
WRK_PREFIX="taskset -c 1" THREADS=1 compare "pinned"
stop_pair
