#!/usr/bin/env bash
# Token creation through POST /v1/tokens on SQLite with durable commits
# (WAL, synchronous=FULL): creations per second.
# Usage: bench/http-create.sh   (DURATION=10s CONNECTIONS=16 THREADS=2)
source "$(dirname "$0")/lib.sh"
start_keyward 18430
KS=$("$BIN" keyspace create --name bench --environment test)
export KW_ADMIN=$(cat "$WORK/admin") KW_KEYSPACE="$KS"
cat >"$WORK/create.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("KW_ADMIN")
wrk.body = '{"keyspace_id":"' .. os.getenv("KW_KEYSPACE") .. '","name":"bench","scopes":["invoices:read"]}'
LUA
CONNECTIONS=${CONNECTIONS:-16}
read -r rps p99 < <(wrk_run http://127.0.0.1:18430/v1/tokens "$WORK/create.lua")
count=$(sqlite3 "$WORK/data/keyward.db" "SELECT count(*) FROM tokens WHERE keyspace_id = '$KS'")
machine
printf 'token creation (SQLite, synchronous=FULL): %8.0f /s   p99 %6.3f ms   rows written: %s\n' "$rps" "$p99" "$count"
awk -v r="$rps" 'BEGIN{printf "target >= 2000 /s: %s\n", (r>=2000?"met":"NOT met")}'
