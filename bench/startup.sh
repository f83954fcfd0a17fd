#!/usr/bin/env bash
# Start-up with 1,000,000 tokens in the SQLite store: time from exec to a
# 200 from /readyz, and the resident memory of the ready server.
# Usage: bench/startup.sh   (TOKENS=1000000)
source "$(dirname "$0")/lib.sh"
TOKENS=${TOKENS:-1000000}
"$BIN" init --data-dir "$WORK/data" --admin-token-file "$WORK/admin" 2>/dev/null
sqlite3 "$WORK/data/keyward.db" <<SQL
INSERT INTO keyspaces (id, name, environment, prefix, management, created_at, created_by)
  VALUES ('ks_bench0000000000000000', 'bench', 'live', 'kw', 0, 0, 'bench');
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $TOKENS)
INSERT INTO tokens (id, keyspace_id, digest, name, owner, scopes, metadata, environment, prefix, last4, created_at, created_by)
  SELECT printf('tok_%022d', i), 'ks_bench0000000000000000', randomblob(32), 'bench', 'svc', '["invoices:read"]', '{}',
         'live', 'kw', 'abcd', i, 'bench' FROM n;
SQL
echo "store: $(sqlite3 "$WORK/data/keyward.db" 'SELECT count(*) FROM tokens') tokens, $(du -h "$WORK/data/keyward.db" | cut -f1)"
for run in 1 2 3; do
  start=$(date +%s%N)
  "$BIN" serve --data-dir "$WORK/data" --listen 127.0.0.1:18440 2>/dev/null &
  pid=$!
  until curl -fsS -o /dev/null http://127.0.0.1:18440/readyz 2>/dev/null; do sleep 0.002; done
  end=$(date +%s%N)
  rss=$(awk '/VmRSS/{print $2/1024 " MiB"}' /proc/$pid/status)
  printf 'run %d: ready in %4d ms, resident memory %s\n' "$run" $(( (end - start) / 1000000 )) "$rss"
  kill -TERM $pid; wait $pid 2>/dev/null || true
done
machine
echo "target: ready in under 1 s"
