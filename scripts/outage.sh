#!/usr/bin/env bash
# A PostgreSQL outage under load, on a PRIVATE cluster this script creates
# (initdb under /tmp, its own port; the shared server is never touched):
# 4 event writers, 4 History readers and /readyz every 100 ms; after 5 s
# the cluster is stopped for 10 s (pg_ctl stop -m fast), then started; the
# load goes on 10 s more. Prints the answers by status, how fast 503s and
# /readyz followed, and checks that every acknowledged event is stored.
#
#   scripts/outage.sh [BINARY]     (default binary: the release build; needs initdb, pg_ctl, runuser)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib-hardening.sh
bin="$(hardening_binary "${1:-}")"
work="$(mktemp -d /tmp/sl-outage-XXXXXX)"
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
export SESSION_LEDGER_OPERATOR_TOKEN=outage-operator-token
python3 scripts/hardening.py seed 1 200 | "$bin" import - >/dev/null
key="$("$bin" key create --company 1)"
"$bin" serve --bind "127.0.0.1:$port" 2>"$work/server.log" &
pid=$!
wait_healthy "127.0.0.1:$port"

mkfifo "$work/control"
python3 scripts/hardening.py outage "127.0.0.1:$port" "$SESSION_LEDGER_OPERATOR_TOKEN" \
  "$(json_field ApiKey <<<"$key")" "$(json_field ApiSecret <<<"$key")" \
  "$work/acknowledged" "$work/control" >"$work/figures" &
load=$!
exec 3>"$work/control"
sleep 5
echo stop >&3
pgctl stop -m fast -w
echo stopped >&3
sleep 10
pgctl start -w
echo start >&3
sleep 10
echo end >&3
exec 3>&-
wait "$load"
cat "$work/figures"

kill "$pid"; wait "$pid" || true; pid=
"$bin" export - 2>/dev/null | python3 -c '
import json, sys
stored = {json.loads(line).get("EventId") for line in sys.stdin}
acknowledged = [line.strip() for line in open(sys.argv[1]) if line.strip()]
lost = [event for event in acknowledged if event not in stored]
print(f"events_acknowledged_and_stored: {len(acknowledged) - len(lost)}")
print(f"events_acknowledged_but_lost: {len(lost)}")
' "$work/acknowledged" | tee -a "$work/figures"
echo "server_error_log_lines: $(grep -c '"ERROR\|ERROR ' "$work/server.log" || true)"
fail=
grep -q '^answers_500: 0$' "$work/figures" || fail="500s"
grep -q '^events_acknowledged_but_lost: 0$' "$work/figures" || fail="$fail lost events"
slowest="$(awk '/^slowest_answer_during_outage_ms:/ {print $2}' "$work/figures")"
[ "${slowest:-99999}" -le 2500 ] || fail="$fail slow answers"
if [ -z "$fail" ]; then echo "outage: PASS"; else echo "outage: FAIL ($fail)"; exit 1; fi
