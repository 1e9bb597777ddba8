#!/usr/bin/env bash
# Slow clients against a server limited to 1,024 open files: SLOW (default
# 1,100) connections that trickle their headers a byte a second and reopen
# when closed, while a normal client reads every 20 ms on a new connection.
# Passes when the normal client had p99 < 100 ms and no failure.
#
#   scripts/slow-client.sh [BINARY]     (SLOW=1100 SECONDS=20; default binary: the release build)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib-hardening.sh
bin="$(hardening_binary "${1:-}")"
slow="${SLOW:-1100}"
seconds="${SECONDS_OF_LOAD:-20}"
work="$(mktemp -d)"
port="$(free_port)"
export SESSION_LEDGER_DATABASE_URL="sqlite://$work/ledger.db"
export SESSION_LEDGER_RATE_LIMIT_PER_SECOND=0
"$bin" company create --name "Slow clients" >/dev/null
key="$("$bin" key create --company 1)"
(ulimit -n 1024; exec "$bin" serve --bind "127.0.0.1:$port") 2>"$work/server.log" &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$work"' EXIT
wait_healthy "127.0.0.1:$port"

peak=0
( while kill -0 "$pid" 2>/dev/null; do ls "/proc/$pid/fd" 2>/dev/null | wc -l; sleep 0.5; done ) >"$work/fds" &
monitor=$!
python3 scripts/hardening.py slow "127.0.0.1:$port" "$(json_field ApiKey <<<"$key")" \
  "$(json_field ApiSecret <<<"$key")" "$seconds" "$slow" | tee "$work/figures"
kill "$monitor" 2>/dev/null || true
peak="$(sort -n "$work/fds" | tail -1)"
echo "server_open_file_limit: $(awk '/Max open files/ {print $4}' "/proc/$pid/limits")"
echo "server_open_descriptors_peak: $peak"
echo "server_too_many_open_files_errors: $(grep -c 'Too many open files' "$work/server.log" || true)"
p99="$(awk '/^normal_p99_ms:/ {print $2}' "$work/figures")"
failures="$(awk '/^normal_failures:/ {print $2}' "$work/figures")"
if [ "$failures" = 0 ] && awk -v p="$p99" 'BEGIN {exit !(p < 100)}'; then
  echo "slow-client: PASS"
else
  echo "slow-client: FAIL (p99 $p99 ms, $failures failures)"
  exit 1
fi
