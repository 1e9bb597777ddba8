#!/usr/bin/env bash
# Property-based tests of the running service against its own OpenAPI
# document (SPEC §10): schemathesis generates requests for every documented
# operation and checks that no answer is a 5xx and that every status, content
# type and body is the one documented.
#
# Builds the server, starts it on a temporary SQLite database with an
# operator token, a company, an API key and some history (through the CLI),
# runs schemathesis twice (tenant operations with the key's Basic credentials,
# operator operations with the Bearer token), stops the server.
#
# Usage: scripts/schemathesis.sh [extra schemathesis run options, e.g. --max-examples 50]
# Uses `schemathesis` from PATH, else installs it from PyPI into
# target/schemathesis-venv. Reports land in target/schemathesis/.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet
binary="${CARGO_TARGET_DIR:-$PWD/target}/debug/session-ledger"

if command -v schemathesis >/dev/null 2>&1; then
  schemathesis=schemathesis
else
  venv="$PWD/target/schemathesis-venv"
  if [ ! -x "$venv/bin/schemathesis" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet schemathesis
  fi
  schemathesis="$venv/bin/schemathesis"
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
token="schemathesis-operator-token"
export SESSION_LEDGER_DATABASE_URL="sqlite://$work/ledger.db"
export SESSION_LEDGER_BIND="127.0.0.1:$port"
export SESSION_LEDGER_OPERATOR_TOKEN="$token"
export SESSION_LEDGER_RATE_LIMIT_PER_SECOND=0
export SESSION_LEDGER_LOG_FORMAT=json
# Every provider's webhook endpoint enabled, so that schemathesis reaches
# the signature checks and the parsers behind them (SPEC §12).
export SESSION_LEDGER_LIVEKIT_API_KEY=schemathesis-livekit-key
export SESSION_LEDGER_LIVEKIT_API_SECRET=schemathesis-livekit-secret
export SESSION_LEDGER_DAILY_WEBHOOK_SECRET=c2NoZW1hdGhlc2lzLWRhaWx5
export SESSION_LEDGER_ZOOM_SECRET_TOKEN=schemathesis-zoom-token
export SESSION_LEDGER_VONAGE_SIGNATURE_SECRET=schemathesis-vonage-secret
export SESSION_LEDGER_WHEREBY_WEBHOOK_SECRET=schemathesis-whereby-secret
export RUST_LOG="${RUST_LOG:-warn}"

json_field() { python3 -c "import json, sys; print(json.load(sys.stdin)['$1'])"; }

"$binary" migrate >/dev/null
company="$("$binary" company create --name "Schemathesis Clinic" --included-sessions 1 --overage-cents 500 | json_field CompanyId)"
credentials="$("$binary" key create --company "$company")"
api_key="$(json_field ApiKey <<<"$credentials")"
api_secret="$(json_field ApiSecret <<<"$credentials")"

# Users, sessions (billable, comped, never connected) and a support agent, so
# the reads have something to return.
cat >"$work/data.jsonl" <<EOF
{"Type":"User","CompanyId":$company,"UserId":4,"FullName":"Aaron Johnson","EmailAddress":"aaron@example.com","ExternalId":"ext-4"}
{"Type":"User","CompanyId":$company,"UserId":5,"FullName":"Jonathan Vernon","EmailAddress":"jonathan@example.com"}
{"Type":"SupportAgent","SupportAgentId":7,"FullName":"Marisa Zendejas","EmailAddress":"marisa@example.com"}
{"Type":"Session","CompanyId":$company,"SessionId":100,"UserId":4,"ScheduleTs":"2016-11-03T21:45:09.467","ScheduleType":"MeetNow","Participants":[{"ParticipationId":9,"ParticipantFullName":"Trevor Stamp","ParticipantEmailAddress":"trevor@example.com"}]}
{"Type":"Session","CompanyId":$company,"SessionId":101,"UserId":5,"ScheduleTs":"2016-11-03T22:00:00","ScheduleType":"Scheduled","Participants":[{"ParticipationId":11,"ParticipantFullName":"Dewey Gladstone","ParticipantEmailAddress":"dewey@example.com"}]}
{"Type":"Session","CompanyId":$company,"SessionId":102,"UserId":4,"ScheduleTs":"2030-01-01T10:00:00","ScheduleType":"Scheduled","Participants":[{"ParticipationId":13,"ParticipantFullName":"Xiao Chu","ParticipantEmailAddress":"xiao@example.com"}]}
{"Type":"Connect","EventId":"e1","SessionId":100,"Party":"Host","CallId":"h1","Ts":"2016-11-03T21:45:30"}
{"Type":"Connect","EventId":"e2","SessionId":100,"Party":"Participant","ParticipationId":9,"CallId":"t1","Ts":"2016-11-03T21:46:16.1"}
{"Type":"Disconnect","EventId":"e3","SessionId":100,"Party":"Participant","ParticipationId":9,"CallId":"t1","Ts":"2016-11-03T22:11:16.1"}
{"Type":"Disconnect","EventId":"e4","SessionId":100,"Party":"Host","CallId":"h1","Ts":"2016-11-03T22:12:00"}
{"Type":"Connect","EventId":"e5","SessionId":101,"Party":"Host","CallId":"h2","Ts":"2016-11-03T21:55:00"}
{"Type":"Connect","EventId":"e6","SessionId":101,"Party":"Support","SupportAgentId":7,"CallId":"s1","Ts":"2016-11-03T21:56:30.72"}
{"Type":"Disconnect","EventId":"e7","SessionId":101,"Party":"Support","SupportAgentId":7,"CallId":"s1","Ts":"2016-11-03T22:20:00"}
{"Type":"Disconnect","EventId":"e8","SessionId":101,"Party":"Host","CallId":"h2","Ts":"2016-11-03T22:27:00"}
{"Type":"Comp","SessionId":100,"Reason":"audio trouble","Ts":"2016-11-04T09:00:00"}
EOF
"$binary" import "$work/data.jsonl" >/dev/null

"$binary" serve >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl --silent --fail "$base/readyz" >/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log"; exit 1; }
  sleep 0.1
done

reports="$PWD/target/schemathesis"
mkdir -p "$reports"
checks="not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"
status=0

echo "== tenant operations (HTTP Basic) =="
"$schemathesis" run "$base/openapi.json" \
  --checks "$checks" \
  --exclude-path-regex '^/operator/' \
  --auth "$api_key:$api_secret" \
  --report junit --report-junit-path "$reports/tenant.xml" \
  "$@" || status=$?

echo "== operator operations (Bearer) =="
"$schemathesis" run "$base/openapi.json" \
  --checks "$checks" \
  --include-path-regex '^/operator/' \
  --header "Authorization: Bearer $token" \
  --report junit --report-junit-path "$reports/operator.xml" \
  "$@" || status=$?

if grep -q '"level":"ERROR"' "$work/server.log"; then
  echo "the server logged errors:"
  grep '"level":"ERROR"' "$work/server.log"
  status=1
fi
exit "$status"
