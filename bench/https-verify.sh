#!/usr/bin/env bash
# POST /v1/verify over HTTPS (Keyward's own TLS, HTTP/1.1 keep-alive, as wrk
# speaks it) against the same over plain HTTP: one data directory, one
# token, same tool, connections and duration, in the same run. The
# certificate is a throwaway self-signed one made with openssl.
# Usage: bench/https-verify.sh   (DURATION=10s CONNECTIONS=32)
source "$(dirname "$0")/lib.sh"
command -v openssl >/dev/null || { echo "openssl is required to make the test certificate" >&2; exit 2; }
start_keyward 18430
KS=$("$BIN" keyspace create --name bench --environment live --field id)
export KW_TOKEN=$("$BIN" token create --keyspace "$KS" --name bench --scope invoices:read)
export KW_ADMIN=$(cat "$WORK/admin")
cat >"$WORK/verify.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("KW_ADMIN")
wrk.body = '{"token":"' .. os.getenv("KW_TOKEN") .. '","required_scopes":["invoices:read"]}'
LUA
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$WORK/tls.key" -out "$WORK/tls.crt" 2>/dev/null
stop_keyward

machine
run_one() { # label port [env...]
  local label=$1 port=$2 scheme=http; shift 2
  if [ $# -gt 0 ]; then scheme=https; fi
  env "$@" "$BIN" serve --data-dir "$WORK/data" --listen "127.0.0.1:$port" 2>>"$WORK/server.log" &
  KEYWARD_PID=$!
  wait_ready "$scheme://127.0.0.1:$port/readyz"
  read -r rps p99 < <(wrk_run "$scheme://127.0.0.1:$port/v1/verify" "$WORK/verify.lua")
  stop_keyward
  printf '%s: %9.0f req/s p99 %6.3f ms\n' "$label" "$rps" "$p99"
  eval "${label}_rps=$rps"
}
run_one plain 18431
run_one tls 18432 KEYWARD_TLS_CERT_FILE="$WORK/tls.crt" KEYWARD_TLS_KEY_FILE="$WORK/tls.key"
awk -v t="$tls_rps" -v p="$plain_rps" 'BEGIN{printf "ratio https/plain %.2f\n", t/p}'
