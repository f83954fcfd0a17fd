#!/usr/bin/env bash
# Where the time of one POST /v1/verify goes, against the bare axum endpoint:
# each server pinned to core 0, wrk on core 1; the servers' CPU time (from
# /proc/PID/stat) divided by the requests served, split into user and
# kernel time, and context switches per request. Both servers are CPU-bound
# on their core, so the throughput ratio is the ratio of these costs.
# Usage: bench/http-verify-cpu.sh   (DURATION=8 ROUNDS=2)
source "$(dirname "$0")/lib.sh"
start_keyward 18440
KS=$("$BIN" keyspace create --name bench --environment live)
export KW_TOKEN=$("$BIN" token create --keyspace "$KS" --name bench --scope invoices:read)
export KW_ADMIN=$(cat "$WORK/admin")
stop_keyward
cat >"$WORK/verify.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("KW_ADMIN")
wrk.body = '{"token":"' .. os.getenv("KW_TOKEN") .. '","required_scopes":["invoices:read"]}'
LUA

cpu_ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
switches() { cat /proc/"$1"/task/*/status | awk '/ctxt_switches/{s+=$2} END{print s}'; }

measure() { # label pid url
  local u0 s0 c0 u1 s1 c1 served rps
  read -r u0 s0 < <(cpu_ticks "$2"); c0=$(switches "$2")
  taskset -c 1 wrk -t1 -c"${CONNECTIONS:-32}" -d"${DURATION:-8}s" -s "$WORK/verify.lua" "$3" >"$WORK/wrk.out"
  read -r u1 s1 < <(cpu_ticks "$2"); c1=$(switches "$2")
  served=$(awk '/requests in/{print $1}' "$WORK/wrk.out")
  rps=$(awk '/^Requests\/sec:/{print $2}' "$WORK/wrk.out")
  awk -v l="$1" -v n="$served" -v r="$rps" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v c=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" 'BEGIN{
    printf "%-8s %9.0f req/s  user %5.2f us/req  kernel %5.2f us/req  total %5.2f us/req  switches/req %.3f\n",
      l, r, u/hz*1e6/n, s/hz*1e6/n, (u+s)/hz*1e6/n, c/n}'
}

machine
taskset -c 0 "$BARE" 127.0.0.1:18441 2>/dev/null &
BARE_PID=$!
taskset -c 0 "$BIN" serve --data-dir "$WORK/data" --listen 127.0.0.1:18440 2>>"$WORK/server.log" &
KEYWARD_PID=$!
wait_ready http://127.0.0.1:18440/readyz
for _ in $(seq "${ROUNDS:-2}"); do
  measure bare "$BARE_PID" http://127.0.0.1:18441/v1/verify
  measure keyward "$KEYWARD_PID" http://127.0.0.1:18440/v1/verify
done
