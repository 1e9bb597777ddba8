#!/usr/bin/env bash
# Several nodes on one PostgreSQL with a streaming replica, all on this
# machine (PRIVATE clusters under /tmp; the shared server is never touched):
# a primary (initdb) and a standby made from it (pg_basebackup -R, another
# port); three `serve` nodes reading from the standby (--read-database-url),
# sweeping for idle sessions every second, behind nginx.
#
#   1. One node alone, for SECONDS_OF_LOAD: 8 event writers (batches of 20,
#      into companies 1-4; EventIds of acknowledged batches recorded) and
#      wrk reading company 1's History, at once.
#   2. The same through nginx to the three nodes, into companies 5-8:
#      half-way one node is killed -9, at 70 % the standby is stopped
#      (immediate). The primary's replay lag is sampled every 250 ms.
#   3. Checks: every acknowledged event stored exactly once (none lost or
#      doubled); the idle company's sessions each deactivated exactly once
#      by the nodes' sweeps; every company's History and usage answered by
#      the cluster equal those of a single node on SQLite fed the same log.
#
#   scripts/cluster.sh [BINARY]   (SECONDS_OF_LOAD=10; default binary: the release
#                                  build; needs initdb, pg_basebackup, runuser, nginx, wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib-hardening.sh
bin="$(hardening_binary "${1:-}")"
seconds="${SECONDS_OF_LOAD:-10}"
companies=8
work="$(mktemp -d /tmp/sl-cluster-XXXXXX)"
node_pids=()
single_pid=
standby_ctl() {
  as_postgres "$pgbin/pg_ctl" -D "$work/standby" -l "$work/standby.log" \
    -o "-p $standby_port -k $work -c listen_addresses=127.0.0.1" "$@" >/dev/null
}
cleanup() {
  for pid in "${node_pids[@]}" $single_pid; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  standby_ctl stop -m immediate 2>/dev/null || true
  pgctl stop -m immediate 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

private_cluster
standby_port="$(free_port)"
as_postgres "$pgbin/pg_basebackup" -h 127.0.0.1 -p "$pgport" -U postgres \
  -D "$work/standby" -R -X stream
standby_ctl start -w
primary_url="postgres://postgres@127.0.0.1:$pgport/postgres"
psql_primary() { psql -X -q -t -A "$primary_url" -c "$1"; }

export SESSION_LEDGER_DATABASE_URL="$primary_url"
export SESSION_LEDGER_READ_DATABASE_URL="postgres://postgres@127.0.0.1:$standby_port/postgres"
export SESSION_LEDGER_RATE_LIMIT_PER_SECOND=0
export SESSION_LEDGER_FAILED_AUTH_PER_MINUTE=0
export SESSION_LEDGER_AUTO_DEACTIVATE_INTERVAL_SECONDS=1
export SESSION_LEDGER_OPERATOR_TOKEN=cluster-operator-token

# Companies 1..8 (200 fresh sessions each, a call in every one) and an
# idle company 99 (40 sessions due for deactivation).
{ python3 scripts/hardening.py seed "$companies" 200; python3 scripts/hardening.py idle 99 40; } \
  >"$work/seed.jsonl"
started=$(date +%s.%N)
"$bin" import "$work/seed.jsonl" >/dev/null
echo "import_lines_per_s: $(awk -v n="$(wc -l <"$work/seed.jsonl")" -v s="$started" -v e="$(date +%s.%N)" \
  'BEGIN {printf "%.0f", n / (e - s)}')"
declare -A keys
for company in $(seq 1 "$companies"); do
  key="$("$bin" key create --company "$company")"
  keys[$company]="Authorization: Basic $(printf '%s:%s' "$(json_field ApiKey <<<"$key")" \
    "$(json_field ApiSecret <<<"$key")" | base64 -w0)"
done

ports=()
for n in 1 2 3; do
  port="$(free_port)"
  "$bin" serve --bind "127.0.0.1:$port" 2>"$work/node$n.log" &
  node_pids+=($!)
  ports+=("$port")
done
for port in "${ports[@]}"; do wait_healthy "127.0.0.1:$port"; done

balancer="$(free_port)"
mkdir -p "$work/nginx"
cat >"$work/nginx.conf" <<EOF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  upstream ledger {
    server 127.0.0.1:${ports[0]} max_fails=1 fail_timeout=30s;
    server 127.0.0.1:${ports[1]} max_fails=1 fail_timeout=30s;
    server 127.0.0.1:${ports[2]} max_fails=1 fail_timeout=30s;
    keepalive 64;
  }
  server {
    listen 127.0.0.1:$balancer;
    client_max_body_size 2m;
    location / {
      proxy_pass http://ledger;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_next_upstream error timeout;
    }
  }
}
EOF
nginx -c "$work/nginx.conf"
wait_healthy "127.0.0.1:$balancer"

# A phase: 8 writers posting batches of 20 events into 4 companies, and
# wrk reading the first of them, both for SECONDS_OF_LOAD through ADDRESS;
# during it, ON_TICK runs every quarter second (with the tick's number).
lag_ms=0
phase() { # NAME ADDRESS FIRST_COMPANY ON_TICK
  python3 scripts/hardening.py writers "$2" "$SESSION_LEDGER_OPERATOR_TOKEN" \
    "$seconds" 8 "$3" 4 200 "$work/acknowledged-$1" >"$work/writers-$1" &
  local writers=$!
  wrk -t2 -c32 -d"${seconds}s" -H "${keys[$3]}" "http://$2/history?month=2026-01-01" >"$work/wrk-$1" &
  local readers=$! tick lag
  for tick in $(seq 1 $((seconds * 4))); do
    sleep 0.25
    lag="$(psql_primary "SELECT coalesce(max(extract(epoch FROM replay_lag)) * 1000, 0)::int FROM pg_stat_replication" || echo 0)"
    [ "${lag:-0}" -gt "$lag_ms" ] && lag_ms="$lag"
    "$4" "$tick"
  done
  wait "$writers" "$readers"
  sed "s/^/$1_/" "$work/writers-$1"
  echo "$1_reads_per_s: $(awk '/^Requests\/sec:/ {print $2}' "$work/wrk-$1")"
  echo "$1_reads_non_2xx: $(awk '/Non-2xx/ {n += $5} END {print n + 0}' "$work/wrk-$1")"
  echo "$1_reads_socket_errors: $(awk -F'Socket errors: ' 'NF > 1 {print $2}' "$work/wrk-$1")"
}

# 1. One node alone, companies 1-4.
nothing() { :; }
phase one_node "127.0.0.1:${ports[0]}" 1 nothing

# 2. Three nodes behind nginx, companies 5-8: node 2 killed half-way, the
# standby stopped at 70 %.
faults() {
  if [ "$1" -eq $((seconds * 2)) ]; then
    kill -9 "${node_pids[1]}"
    echo "node_2_killed_at_s: $(($1 / 4))"
  fi
  if [ "$1" -eq $((seconds * 4 * 7 / 10)) ]; then
    standby_ctl stop -m immediate
    echo "standby_stopped_at_s: $(($1 / 4))"
  fi
}
phase three_nodes "127.0.0.1:$balancer" 5 faults 2>/dev/null
echo "replica_lag_max_ms: $lag_ms"
for n in 1 3; do
  curl -fs "http://127.0.0.1:${ports[$((n - 1))]}/metrics" | awk -v n="$n" \
    '/^session_ledger_replica_reads_total/ {sub(/.*outcome="/, ""); sub(/"}/, ""); print "node_" n "_reads_" $1 ": " $2}'
done

# 3. Checks, with the two nodes left still serving.
"$bin" export "$work/export.jsonl" 2>/dev/null
python3 - "$work/export.jsonl" "$work/acknowledged-one_node" "$work/acknowledged-three_nodes" <<'PY' | tee "$work/checks"
import collections, json, sys
stored = collections.Counter()
deactivated = collections.Counter()
for line in open(sys.argv[1]):
    record = json.loads(line)
    if "EventId" in record:
        stored[f"{record['SessionId'] // 100_000} {record['EventId']}"] += 1
    if record.get("Type") == "Deactivate":
        deactivated[record["SessionId"]] += 1
acknowledged = [line.strip() for path in sys.argv[2:] for line in open(path) if line.strip()]
print(f"events_acknowledged: {len(acknowledged)}")
print(f"events_acknowledged_but_lost: {sum(1 for e in acknowledged if stored[e] == 0)}")
print(f"events_stored_twice: {sum(1 for n in stored.values() if n > 1)}")
idle = [s for s in deactivated if s // 100_000 == 99]
print(f"idle_sessions_deactivated: {len(idle)} of 40")
print(f"sessions_deactivated_more_than_once: {sum(1 for n in deactivated.values() if n > 1)}")
PY

# The same log on one node over SQLite: the same answers.
single_port="$(free_port)"
single=(env -u SESSION_LEDGER_READ_DATABASE_URL SESSION_LEDGER_DATABASE_URL="sqlite://$work/single.db"
  SESSION_LEDGER_AUTO_DEACTIVATE_INTERVAL_SECONDS=0 "$bin")
"${single[@]}" import "$work/export.jsonl" >/dev/null
"${single[@]}" serve --bind "127.0.0.1:$single_port" 2>"$work/single.log" &
single_pid=$!
wait_healthy "127.0.0.1:$single_port"
different=0
for company in $(seq 1 "$companies"); do
  for path in "/history?month=2026-01-01" "/usage?Month=2026-01-01"; do
    cluster="$(curl -fs -H "${keys[$company]}" "http://127.0.0.1:$balancer$path" | sha256sum)"
    single="$(curl -fs -H "${keys[$company]}" "http://127.0.0.1:$single_port$path" | sha256sum)"
    [ "$cluster" = "$single" ] || { different=$((different + 1)); echo "differs: company $company $path" >&2; }
  done
done
echo "answers_differing_from_single_node: $different of $((companies * 2))"

fail=
grep -q '^events_acknowledged_but_lost: 0$' "$work/checks" || fail="lost events"
grep -q '^events_stored_twice: 0$' "$work/checks" || fail="$fail doubled events"
grep -q '^idle_sessions_deactivated: 40 of 40$' "$work/checks" || fail="$fail deactivation"
grep -q '^sessions_deactivated_more_than_once: 0$' "$work/checks" || fail="$fail deactivated twice"
[ "$different" -eq 0 ] || fail="$fail answers differ"
if [ -z "$fail" ]; then echo "cluster: PASS"; else echo "cluster: FAIL ($fail)"; exit 1; fi
