#!/usr/bin/env bash
# POST /v1/verify on loopback vs a bare axum endpoint with a fixed JSON body:
# same tool (wrk), threads, connections and duration, in the same run.
# Usage: bench/http-verify.sh   (DURATION=10s CONNECTIONS=32 THREADS=2)
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
"$BARE" 127.0.0.1:18421 2>/dev/null &
sleep 0.3
curl -fsS -o /dev/null -X POST http://127.0.0.1:18421/v1/verify

read -r bare_rps bare_p99 < <(wrk_run http://127.0.0.1:18421/v1/verify "$WORK/verify.lua")
read -r kw_rps kw_p99 < <(wrk_run http://127.0.0.1:18420/v1/verify "$WORK/verify.lua")
machine
printf 'bare axum fixed JSON : %10.0f req/s   p99 %6.3f ms\n' "$bare_rps" "$bare_p99"
printf 'keyward /v1/verify   : %10.0f req/s   p99 %6.3f ms\n' "$kw_rps" "$kw_p99"
awk -v k="$kw_rps" -v b="$bare_rps" -v p="$kw_p99" 'BEGIN{r=k/b; printf "ratio keyward/bare   : %10.2f  (target >= 0.60: %s); p99 < 1 ms at %s connections: %s\n", r, (r>=0.6?"met":"NOT met"), ENVIRON["CONNECTIONS"]?ENVIRON["CONNECTIONS"]:32, (p<1?"met":"NOT met")}'
