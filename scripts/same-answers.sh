#!/usr/bin/env bash
# Same answers before and after a change that must not change behaviour (a
# refactor): fingerprints every History answer of one of the bench's
# datasets (small unless SAME_ANSWERS_SIZE says smoke, medium or full) and
# `export` of it, so two builds can be compared byte for byte.
#
#   scripts/same-answers.sh BINARY OUTFILE [REFERENCE_FILE]
#
# BINARY is a built session-ledger. The script builds the bench tool
# (bench/tool, into target/bench-tool as bench/run.sh does), generates the
# dataset (`ledger-bench generate --small`, say) into a temporary directory,
# imports its two stages into a fresh SQLite file with a fixed clock (every
# line gets a RecordedTs) and hashes the export (with the nine-digit
# ConnectCodes the service makes up at random masked). It then serves the
# database on 127.0.0.1 and asks, for every company, as JSON and as CSV
# (Accept: text/csv): /history; /history?month= for every month of the
# dataset; a StartDt/EndDt range; /history/{userId} and one of its months for
# three hosts; two ParticipantEmail queries (a patient's and a host's
# address); plus a few other forms and errors. It then posts the dataset's
# ingest batches to /operator/events one at a time (and the first again: all
# duplicates), asks every company's /history and the ingest month again,
# stops the server and hashes a second export (API keys left out,
# ConnectCodes and RecordedTs masked: random or the wall clock). Both
# exports are hashed without the access audit's lines, which no two runs
# repeat, and with batches numbered in the order they appear (an import
# keeps the grouping of events into batches, not the batches' ids).
#
# OUTFILE gets one line per answer, `SHA256  DESCRIPTION`, sorted by
# description; an answer's hash is that of its Content-Type and
# Content-Disposition headers and its body's SHA-256 (not of its status,
# ETag or Date). The generated dataset files are hashed too, so a changed
# generator shows up as such. A request with an unexpected HTTP status is
# reported and makes the run fail (after OUTFILE is written).
#
# With REFERENCE_FILE (an OUTFILE of an earlier run), the two are compared
# and the script exits 1 naming every request whose answer differs, is
# missing or is new.
#
# With SAME_ANSWERS_MOVE_TO set to the URL of an empty PostgreSQL database,
# the first export is imported there and everything after it (the answers,
# the ingest, the second export) comes from PostgreSQL: compared with a
# plain run's OUTFILE, it shows a move from SQLite to PostgreSQL by
# export and import changes no answer.
#
# SAME_ANSWERS_SIZE=full answers the same requests of the full dataset
# (1,005,000 sessions, 200,000 ingest events): about an hour on two cores.
#
# With SAME_ANSWERS_FROM_DB set to a SQLite file that an earlier run of the
# same size imported (a copy of its x.db, kept with SAME_ANSWERS_KEEP=1), a
# copy of that file is answered from instead of importing the stages again.
#
# Typical use around a refactor:
#   cargo build && cp target/debug/session-ledger /tmp/before   # at the old revision
#   scripts/same-answers.sh /tmp/before /tmp/before-answers.txt
#   # … refactor, cargo build …
#   scripts/same-answers.sh target/debug/session-ledger /tmp/after-answers.txt /tmp/before-answers.txt
#
# Needs curl (7.84 or later), jq, perl, sha256sum, timeout and cargo. Nothing
# listens anywhere but 127.0.0.1; the temporary directory is removed at the
# end (SAME_ANSWERS_KEEP=1 keeps it and says where).
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0" >&2
  exit 2
}
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  usage
fi
case "$1" in -h|--help) usage ;; esac

die() {
  echo "same-answers: $*" >&2
  exit 1
}
say() {
  echo "same-answers: $*" >&2
}

for tool in curl jq perl sha256sum timeout cargo; do
  command -v "$tool" >/dev/null 2>&1 || die "needs $tool"
done

repo=$(cd "$(dirname "$0")/.." && pwd)
[ -x "$1" ] || die "$1 is not an executable"
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
outfile=$2
reference=${3:-}
if [ -n "$reference" ] && [ ! -f "$reference" ]; then
  die "reference file $reference does not exist"
fi
: >"$outfile" || die "cannot write $outfile"
outfile=$(cd "$(dirname "$outfile")" && pwd)/$(basename "$outfile")

move_to=${SAME_ANSWERS_MOVE_TO:-}
size=${SAME_ANSWERS_SIZE:-small}
case "$size" in
  smoke | small | medium | full) ;;
  *) die "SAME_ANSWERS_SIZE must be smoke, small, medium or full, not $size" ;;
esac

# Only this script's settings reach the binary.
while IFS= read -r name; do
  unset "$name"
done < <(compgen -e | grep '^SESSION_LEDGER_' || true)
unset RUST_LOG
export SESSION_LEDGER_RATE_LIMIT_PER_SECOND=0
export SESSION_LEDGER_AUTO_DEACTIVATE_INTERVAL_SECONDS=0
operator_token=same-answers-operator-token

# The clock of the import: after every timestamp of the dataset (2025 and
# the ingest month, January 2026).
stage_a_clock=2026-02-01T00:00:00
stage_b_clock=2026-02-02T00:00:00

started=$SECONDS
work=$(mktemp -d "${TMPDIR:-/tmp}/same-answers.XXXXXX")
server_pid=
port=

stop_server() {
  [ -n "$server_pid" ] || return 0
  if kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 150; i++)); do
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$server_pid" 2>/dev/null; then
      say "the server did not stop within 15 s: killing it"
      kill -KILL "$server_pid" 2>/dev/null || true
    fi
  fi
  wait "$server_pid" 2>/dev/null || true
  server_pid=
}

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  stop_server
  if [ "${SAME_ANSWERS_KEEP:-}" = 1 ]; then
    say "kept $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ledger=("$bin" --database-url "sqlite://$work/x.db" --operator-token "$operator_token")

# --- 1. the bench tool and the dataset --------------------------------------
bench_target=$repo/target/bench-tool
bench=$bench_target/release/ledger-bench
say "building the bench tool"
for attempt in 1 2 3 4 5 6; do
  if CARGO_TARGET_DIR=$bench_target timeout 1200 cargo build --release --quiet \
    --manifest-path "$repo/bench/tool/Cargo.toml"; then
    break
  fi
  [ "$attempt" -lt 6 ] || die "the bench tool does not build (6 attempts)"
  say "the bench tool did not build (attempt $attempt): trying again in 60 s"
  sleep 60
done

data=$work/dataset
timeout 1800 "$bench" generate --bin "$bin" --work "$data" "--$size" >"$work/meta.txt" 2>"$work/generate.log" ||
  die "generating the $size dataset failed: $(tail -5 "$work/generate.log")"
probe_company=$(sed -n 's/^probe_company=//p' "$work/meta.txt")
probe_host=$(sed -n 's/^probe_host=//p' "$work/meta.txt")
busy_company=$(sed -n 's/^busy_company=//p' "$work/meta.txt")

answers=$work/answers.txt # SHA256  DESCRIPTION, unsorted
: >"$answers"
for file in stage-a.jsonl stage-b.jsonl ingest-batches.jsonl meta.txt; do
  printf '%s  dataset %s\n' "$(sha256sum <"$data/$file" | cut -d' ' -f1)" "$file" >>"$answers"
done

# --- 2. import with a fixed clock, and the first export ---------------------
# The connect codes the service makes up (nine random digits; a number, or a
# string in exports written before codes were numbers) are the only other
# thing an export of the same import does not repeat.
mask_connect_codes() {
  sed -E 's/"ConnectCode":("[0-9]{9}"|[0-9]{9})/"ConnectCode":"#########"/g'
}
# The access audit's lines (docs/audit.md) are left out of the export's
# hashes: they record every read at the wall clock's time, chained under a
# key each database makes for itself, so no two runs repeat them.
without_access_audit() {
  grep -Ev '"Type":"Access(Chain|Key)?"'
}
# A batch's number is the id it got where it was stored; an import keeps
# which events came together but numbers the batches anew. Batches are
# numbered here in the order they first appear, so the grouping is compared
# and the numbering is not.
batches_in_order() {
  perl -pe 's/"Batch":(\d+)/"\"Batch\":" . ($seen{$1} \/\/= ++$count)/e'
}
import_stage() { # FILE CLOCK
  local fixed=$work/import.jsonl lines printed
  sed "/\"RecordedTs\"/!s/}\$/,\"RecordedTs\":\"$2\"}/" "$data/$1" >"$fixed"
  lines=$(grep -c . "$fixed")
  say "importing $1 ($lines lines)"
  printed=$(timeout 7200 "${ledger[@]}" import "$fixed" 2>"$work/import.log") ||
    die "import of $1 failed: $(tail -5 "$work/import.log")"
  case "$printed" in
    *"\"ImportedLines\":$lines"*) ;;
    *) die "import of $1 printed $printed, expected $lines lines" ;;
  esac
  rm -f "$fixed"
}
if [ -n "${SAME_ANSWERS_FROM_DB:-}" ]; then
  say "answering from a copy of $SAME_ANSWERS_FROM_DB, not importing"
  for suffix in "" -wal; do
    if [ -f "$SAME_ANSWERS_FROM_DB$suffix" ]; then
      cp "$SAME_ANSWERS_FROM_DB$suffix" "$work/x.db$suffix"
    fi
  done
else
  import_stage stage-a.jsonl "$stage_a_clock"
  import_stage stage-b.jsonl "$stage_b_clock"
fi

say "exporting"
timeout 1200 "${ledger[@]}" export - >"$work/export-1.jsonl" 2>"$work/export.log" ||
  die "export failed: $(tail -5 "$work/export.log")"
printf '%s  export after import (ConnectCodes masked, access audit left out, batches numbered in order)\n' "$(
  without_access_audit <"$work/export-1.jsonl" | mask_connect_codes | batches_in_order |
    sha256sum | cut -d' ' -f1
)" >>"$answers"
if [ -n "$move_to" ]; then
  say "moving to PostgreSQL: importing the export there"
  ledger=("$bin" --database-url "$move_to" --operator-token "$operator_token")
  timeout 7200 "${ledger[@]}" import "$work/export-1.jsonl" >/dev/null 2>"$work/move.log" ||
    die "import of the export into $move_to failed: $(tail -5 "$work/move.log")"
fi
rm -f "$work/export-1.jsonl"

# --- 3. the server ----------------------------------------------------------
port_is_taken() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start_server() {
  local attempt i
  for ((attempt = 1; attempt <= 10; attempt++)); do
    port=$((20000 + RANDOM % 40000))
    port_is_taken "$port" && continue
    "${ledger[@]}" serve --bind "127.0.0.1:$port" >>"$work/server.log" 2>&1 &
    server_pid=$!
    for ((i = 0; i < 600; i++)); do
      if curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null; then
        return 0
      fi
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$server_pid" 2>/dev/null; then
      stop_server
      die "the server did not answer /healthz within 60 s; its log: $(tail -5 "$work/server.log")"
    fi
    wait "$server_pid" 2>/dev/null || true
    server_pid=
    say "the server exited at start on port $port; trying another port"
  done
  die "the server did not start (10 attempts); its log ends: $(tail -5 "$work/server.log")"
}
say "starting the server"
start_server
say "serving on 127.0.0.1:$port"

# Requests are made in batches, one curl per batch (a config file of many
# transfers over one kept-alive connection). A request list has one line per
# request, tab-separated: DESCRIPTION METHOD PATH ACCEPT AUTHORIZATION
# EXPECTED_STATUS [BODY_FILE].
mkdir -p "$work/r"
request_count=0
unexpected=$work/unexpected.txt
: >"$unexpected"

config_quote() { # a value for a curl config file, in double quotes
  local value=${1//\\/\\\\}
  printf '"%s"' "${value//\"/\\\"}"
}

run_batch() { # LIST
  local list=$1 config=$work/curl.config index=$work/index.tsv n=0
  local description method path accept authorization expected body_file
  : >"$config"
  while IFS=$'\t' read -r description method path accept authorization expected body_file; do
    n=$((n + 1))
    {
      [ "$n" = 1 ] || echo "next"
      echo "url = $(config_quote "http://127.0.0.1:$port$path")"
      [ "$method" = GET ] || echo "request = $method"
      echo "header = $(config_quote "Authorization: $authorization")"
      echo "header = $(config_quote "Accept: $accept")"
      if [ -n "$body_file" ]; then
        echo "header = \"Content-Type: application/json\""
        echo "data-binary = $(config_quote "@$body_file")"
      fi
      echo "output = $(config_quote "$work/r/$n.body")"
      printf 'write-out = "%s|%%{http_code}|%%{content_type}|%%header{content-disposition}\\n"\n' "$n"
      echo "max-time = 300"
    } >>"$config"
  done <"$list"
  [ "$n" -gt 0 ] || return 0
  timeout 3600 curl -sS --config "$config" >"$index" </dev/null || true
  local got i status content_type disposition hash file
  got=$(grep -c . "$index" || true)
  [ "$got" = "$n" ] || die "curl made $got of $n requests of a batch"
  # Two sha256sum calls a batch: the bodies, then per request its two
  # headers and its body's hash.
  for ((i = 1; i <= n; i++)); do
    [ -f "$work/r/$i.body" ] || : >"$work/r/$i.body" # curl writes no file for an empty body
  done
  local -A body_hash=() answer_hash=()
  while read -r hash file; do
    file=${file##*/}
    body_hash[${file%.body}]=$hash
  done < <(sha256sum -- "$work"/r/*.body)
  while IFS='|' read -r i status content_type disposition; do
    printf 'Content-Type: %s\nContent-Disposition: %s\nBody: %s\n' \
      "$content_type" "$disposition" "${body_hash[$i]}" >"$work/r/$i.meta"
  done <"$index"
  while read -r hash file; do
    file=${file##*/}
    answer_hash[${file%.meta}]=$hash
  done < <(sha256sum -- "$work"/r/*.meta)
  exec 4<"$list"
  while IFS='|' read -r i status content_type disposition; do
    IFS=$'\t' read -r description method path accept authorization expected body_file <&4
    if [ "$status" != "$expected" ]; then
      echo "$description: status $status, expected $expected" >>"$unexpected"
    fi
    printf '%s  %s\n' "${answer_hash[$i]}" "$description" >>"$answers"
  done <"$index"
  exec 4<&-
  rm -f -- "$work"/r/*
  request_count=$((request_count + n))
}

# An operator-API request, or a tenant's, added to a request list.
bearer="Bearer $operator_token"
add() { # LIST DESCRIPTION METHOD PATH ACCEPT AUTHORIZATION EXPECTED [BODY_FILE]
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$2" "$3" "$4" "$5" "$6" "$7" "${8:-}" >>"$1"
}

# One API key per company, through the operator API.
mapfile -t companies < <(grep -o '"Type":"Company","CompanyId":[0-9]*' "$data/stage-a.jsonl" "$data/stage-b.jsonl" |
  sed 's/.*://' | sort -n -u)
[ "${#companies[@]}" -gt 0 ] || die "the dataset has no companies"
say "creating an API key for each of ${#companies[@]} companies"
keys=$work/keys.list
: >"$keys"
mkdir -p "$work/keys"
: >"$work/curl.config"
for company in "${companies[@]}"; do
  {
    [ "$company" = "${companies[0]}" ] || echo "next"
    echo "url = \"http://127.0.0.1:$port/operator/companies/$company/keys\""
    echo "request = POST"
    echo "header = $(config_quote "Authorization: $bearer")"
    echo "output = $(config_quote "$work/keys/$company.json")"
    printf '%s\n' 'write-out = "%{http_code}\n"'
    echo "max-time = 60"
  } >>"$work/curl.config"
done
timeout 600 curl -sS --config "$work/curl.config" >"$work/key-statuses.txt" </dev/null || true
if grep -qv '^201$' "$work/key-statuses.txt" || [ "$(grep -c . "$work/key-statuses.txt")" != "${#companies[@]}" ]; then
  die "creating the API keys failed: $(sort "$work/key-statuses.txt" | uniq -c | tr '\n' ' ')"
fi
declare -A auth
for company in "${companies[@]}"; do
  credentials=$(jq -r '"\(.ApiKey):\(.ApiSecret)"' "$work/keys/$company.json")
  auth[$company]="Basic $(printf '%s' "$credentials" | base64 -w0)"
done

# What the dataset holds: its months, and per company three hosts (each
# with the month of its first session), a patient's and a host's address.
mapfile -t months < <(grep -oh '"\(Schedule\)\?Ts":"[0-9]\{4\}-[0-9]\{2\}' \
  "$data/stage-a.jsonl" "$data/stage-b.jsonl" "$data/ingest-batches.jsonl" |
  sed 's/.*:"//' | sort -u)
[ "${#months[@]}" -gt 0 ] || die "the dataset has no months"
mapfile -t ingest_months < <(grep -oh '"Ts":"[0-9]\{4\}-[0-9]\{2\}' "$data/ingest-batches.jsonl" |
  sed 's/.*:"//' | sort -u)
jq -r 'select(.Type == "Session")
  | [.CompanyId, .UserId, (.ScheduleTs // "" | .[0:7]),
     ([.Participants[] | select(.SecureVideoUserId == null) | .ParticipantEmailAddress][0] // ""),
     ([.Participants[] | select(.SecureVideoUserId != null) | .ParticipantEmailAddress][0] // "")]
  | @tsv' "$data/stage-a.jsonl" "$data/stage-b.jsonl" >"$work/sessions.tsv"
# COMPANY HOSTS(host:month,…) PATIENT_EMAIL HOST_EMAIL
awk -F'\t' '
  !($1 in order) { order[$1] = ++companies; id[companies] = $1 }
  !(($1, $2) in seen) && count[$1] < 3 {
    seen[$1, $2] = 1
    count[$1]++
    hosts[$1] = hosts[$1] (hosts[$1] == "" ? "" : ",") $2 ":" $3
  }
  $4 != "" && !($1 in patient) { patient[$1] = $4 }
  $5 != "" && !($1 in host_email) { host_email[$1] = $5 }
  END {
    for (i = 1; i <= companies; i++) {
      c = id[i]
      printf "%s\t%s\t%s\t%s\n", c, hosts[c], patient[c], host_email[c]
    }
  }' "$work/sessions.tsv" >"$work/companies.tsv"
rm -f "$work/sessions.tsv"

uri() { jq -rn --arg v "$1" '$v | @uri'; }

formats=("json:application/json" "csv:text/csv")

# --- 4. the History answers of the imported dataset --------------------------
say "asking the History answers of the imported dataset (${#months[@]} months)"
declare -A hosts_of patient_of host_email_of
while IFS=$'\t' read -r company hosts patient host_email; do
  [ -n "${auth[$company]:-}" ] || die "company $company of a session has no Company line"
  hosts_of[$company]=$hosts
  patient_of[$company]=$patient
  host_email_of[$company]=$host_email
done <"$work/companies.tsv"
for company in "${companies[@]}"; do
  hosts=${hosts_of[$company]:-}
  patient=${patient_of[$company]:-}
  host_email=${host_email_of[$company]:-}
  list=$work/list.tsv
  : >"$list"
  a=${auth[$company]}
  for format in "${formats[@]}"; do
    name=${format%%:*}
    accept=${format#*:}
    add "$list" "company $company GET /history $name" GET "/history" "$accept" "$a" 200
    for month in "${months[@]}"; do
      add "$list" "company $company GET /history?month=$month-01 $name" GET "/history?month=$month-01" "$accept" "$a" 200
    done
    add "$list" "company $company GET /history?startDt=2025-03-10&endDt=2025-04-20 $name" GET \
      "/history?startDt=2025-03-10&endDt=2025-04-20" "$accept" "$a" 200
    IFS=, read -r -a host_list <<<"$hosts"
    for entry in "${host_list[@]}"; do
      host=${entry%%:*}
      month=${entry#*:}
      add "$list" "company $company GET /history/$host $name" GET "/history/$host" "$accept" "$a" 200
      add "$list" "company $company GET /history/$host?month=$month-01 $name" GET \
        "/history/$host?month=$month-01" "$accept" "$a" 200
    done
    for email in "$patient" "$host_email"; do
      [ -n "$email" ] || continue
      add "$list" "company $company GET /history?participantEmail=$email $name" GET \
        "/history?participantEmail=$(uri "$email")" "$accept" "$a" 200
    done
  done
  run_batch "$list"
done

# A few other forms, errors and the bench's own probes.
list=$work/list.tsv
: >"$list"
first=${companies[0]}
a=${auth[$first]}
other_host=$(awk -F'\t' -v c="$first" '$1 != c { split($2, h, ":"); print h[1]; exit }' "$work/companies.tsv")
for format in "${formats[@]}"; do
  name=${format%%:*}
  accept=${format#*:}
  for path in "/history?month=2024-12-01" "/history?month=2025-06" "/history?Month=2025-06-15" \
    "/history?MONTH=2025-06-01&startDt=2025-01-01&endDt=2025-01-31" "/history?startDt=2025-02-01" \
    "/history?endDt=2025-02-01" "/history?month=2025-13-01" "/history?month=junk" \
    "/history?startDt=2025-05-01&endDt=2025-04-01" "/history/abc" "/history/999999999" \
    "/history/$other_host" "/history?participantEmail=nobody%40nowhere.example"; do
    case "$path" in
      *2025-13-01* | *junk* | *2025-05-01\&endDt=2025-04-01* | /history/abc) expected=400 ;;
      /history/999999999 | "/history/$other_host") expected=404 ;;
      *) expected=200 ;;
    esac
    add "$list" "company $first GET $path $name" GET "$path" "$accept" "$a" "$expected"
  done
  add "$list" "company $busy_company GET /history?limit=100 $name" GET "/history?limit=100" "$accept" \
    "${auth[$busy_company]}" 200
  add "$list" "company $busy_company GET /history?month=2025-06-01 $name (the bench's busy month)" GET \
    "/history?month=2025-06-01" "$accept" "${auth[$busy_company]}" 200
  add "$list" "company $probe_company GET /history/$probe_host?month=2025-06-01 $name (the bench's host probe)" GET \
    "/history/$probe_host?month=2025-06-01" "$accept" "${auth[$probe_company]}" 200
done
add "$list" "company $first GET /history?format=csv&month=2025-06-01 (Format=csv)" GET \
  "/history?format=csv&month=2025-06-01" "application/json" "$a" 200
add "$list" "company $first GET /history without credentials" GET "/history" "application/json" "Basic eDp5" 401
run_batch "$list"

# --- 5. the ingest batches over HTTP, and the answers again -----------------
say "posting the ingest batches"
list=$work/list.tsv
: >"$list"
batch=0
while IFS= read -r line; do
  [ -n "$line" ] || continue
  batch=$((batch + 1))
  printf '%s' "$line" >"$work/batch-$batch.json"
  add "$list" "ingest POST /operator/events batch $batch" POST "/operator/events" "application/json" \
    "$bearer" 200 "$work/batch-$batch.json"
done <"$data/ingest-batches.jsonl"
if [ "$batch" -gt 0 ]; then
  add "$list" "ingest POST /operator/events batch 1 again (duplicates)" POST "/operator/events" \
    "application/json" "$bearer" 200 "$work/batch-1.json"
fi
run_batch "$list"

say "asking the History answers after the ingest"
: >"$list"
for company in "${companies[@]}"; do
  a=${auth[$company]}
  for format in "${formats[@]}"; do
    name=${format%%:*}
    accept=${format#*:}
    add "$list" "after ingest: company $company GET /history $name" GET "/history" "$accept" "$a" 200
    for month in "${ingest_months[@]}"; do
      add "$list" "after ingest: company $company GET /history?month=$month-01 $name" GET \
        "/history?month=$month-01" "$accept" "$a" 200
    done
  done
done
run_batch "$list"

stop_server
say "exporting again"
timeout 1200 "${ledger[@]}" export - >"$work/export-2.jsonl" 2>"$work/export.log" ||
  die "the second export failed: $(tail -5 "$work/export.log")"
printf '%s  export after ingest (ApiKey and access audit lines left out, ConnectCodes and RecordedTs masked, batches numbered in order)\n' "$(
  grep -v '"Type":"ApiKey"' "$work/export-2.jsonl" | without_access_audit | mask_connect_codes |
    batches_in_order |
    sed 's/"RecordedTs":"[^"]*"/"RecordedTs":"-"/g' | sha256sum | cut -d' ' -f1
)" >>"$answers"

# --- 6. the answers, and the comparison --------------------------------------
LC_ALL=C sort -b -k2 "$answers" >"$outfile"
total=$(grep -c . "$outfile")
duplicates=$(sed 's/^[0-9a-f]*  //' "$outfile" | LC_ALL=C sort | uniq -d | head -3)
[ -z "$duplicates" ] || die "two requests share a description: $duplicates"
say "$total answers hashed ($request_count HTTP requests, 2 exports, 4 dataset files) in $((SECONDS - started)) s: $outfile"

failed=0
if [ -s "$unexpected" ]; then
  say "$(grep -c . "$unexpected") requests answered an unexpected status:"
  head -20 "$unexpected" >&2
  failed=1
fi

if [ -n "$reference" ]; then
  report=$work/differences.txt
  awk '
    { hash = $1; description = $0; sub(/^[^ ]*  /, "", description) }
    NR == FNR { reference[description] = hash; next }
    {
      seen[description] = 1
      if (!(description in reference)) print "new:      " description
      else if (reference[description] != hash) print "differs:  " description
    }
    END { for (d in reference) if (!(d in seen)) print "missing:  " d }
  ' "$reference" "$outfile" | LC_ALL=C sort >"$report"
  if [ -s "$report" ]; then
    say "$(grep -c . "$report") of $total answers are not as in $reference:"
    head -200 "$report" >&2
    [ "$(grep -c . "$report")" -le 200 ] || say "(and more)"
    exit 1
  fi
  say "all $total answers are the same as in $reference"
fi
exit "$failed"
