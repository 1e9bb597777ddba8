#!/usr/bin/env bash
# Reads beside heavy ingest on PostgreSQL (a PRIVATE cluster this script
# creates under /tmp): History reads of one company (kept answers off, so
# each read queries) by wrk with 32 connections, first alone, then beside
# 32 writers posting batches of 20 connection events into 32 other
# companies, in the same run. Passes when reads beside the writers are at
# least half of reads alone.
#
#   scripts/mixed-load.sh [BINARY]     (SECONDS_OF_LOAD=10; default binary: the release build; needs wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib-hardening.sh
bin="$(hardening_binary "${1:-}")"
seconds="${SECONDS_OF_LOAD:-10}"
work="$(mktemp -d /tmp/sl-mixed-XXXXXX)"
port="$(free_port)"
pid=
cleanup() {
  [ -n "$pid" ] && { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; }
  pgctl stop -m immediate 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
private_cluster
export SESSION_LEDGER_DATABASE_URL="postgres://postgres@127.0.0.1:$pgport/postgres"
export SESSION_LEDGER_RATE_LIMIT_PER_SECOND=0
export SESSION_LEDGER_HISTORY_CACHE_MB=0
export SESSION_LEDGER_OPERATOR_TOKEN=mixed-operator-token
python3 scripts/hardening.py seed 33 200 | "$bin" import - >/dev/null
key="$("$bin" key create --company 1)"
"$bin" serve --bind "127.0.0.1:$port" 2>"$work/server.log" &
pid=$!
wait_healthy "127.0.0.1:$port"
auth="Authorization: Basic $(printf '%s:%s' "$(json_field ApiKey <<<"$key")" "$(json_field ApiSecret <<<"$key")" | base64 -w0)"
url="http://127.0.0.1:$port/history?month=2026-01-01"
curl -fs -H "$auth" "$url" | python3 -c 'import json, sys; print(f"sessions_per_read: {len(json.load(sys.stdin))}")'

reads() {
  wrk -t2 -c32 -d"${seconds}s" --latency -H "$auth" "$url" >"$work/wrk-$1"
  echo "reads_$1_per_s: $(awk '/^Requests\/sec:/ {print $2}' "$work/wrk-$1")"
  echo "reads_$1_p50: $(awk '$1 == "50%" {print $2}' "$work/wrk-$1")"
  echo "reads_$1_p99: $(awk '$1 == "99%" {print $2}' "$work/wrk-$1")"
  echo "reads_$1_non_2xx: $(awk '/Non-2xx/ {print $5}' "$work/wrk-$1")"
}
reads alone | tee "$work/figures"
python3 scripts/hardening.py writers "127.0.0.1:$port" "$SESSION_LEDGER_OPERATOR_TOKEN" \
  "$((seconds + 4))" 32 2 32 200 >"$work/writers" &
writers=$!
sleep 2
reads with_writers | tee -a "$work/figures"
wait "$writers"
cat "$work/writers"
alone="$(awk '/^reads_alone_per_s:/ {print $2}' "$work/figures")"
beside="$(awk '/^reads_with_writers_per_s:/ {print $2}' "$work/figures")"
ratio="$(awk -v a="$alone" -v b="$beside" 'BEGIN {printf "%.2f", b / a}')"
echo "reads_with_writers_over_alone: $ratio"
if awk -v r="$ratio" 'BEGIN {exit !(r >= 0.5)}'; then echo "mixed-load: PASS"; else echo "mixed-load: FAIL"; exit 1; fi
