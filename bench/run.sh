#!/usr/bin/env bash
# session-ledger's benchmark: each figure beside a limit measured on the same
# machine in the same run (bench/README.md).
#
#   bench/run.sh [--smoke|--small|--medium|--full] [--sqlite-only|--postgres-only] [--wrk-seconds N] [--clients N]
#
# Default --full: 200 companies, 1,000,000 sessions (measured at 100,000 and
# at 1,000,000), a busy company with 5,000 sessions in one month. --medium is
# a tenth of that, --small a hundredth; --smoke is tiny (seconds). PostgreSQL
# is measured too when $SESSION_LEDGER_BENCH_POSTGRES_URL (default
# postgres://postgres@127.0.0.1:5432/test) answers; the run creates and drops
# its own database there; --sqlite-only skips it, --postgres-only measures it
# alone. --wrk-seconds N: each wrk run (default 10); --clients N: ingest
# clients (default 4).
# Needs wrk, nginx and sqlite3 (apt-get install -y wrk nginx sqlite3), and psql
# for PostgreSQL. --full writes bench/results/FULL.md, --full --postgres-only
# bench/results/FULL-POSTGRES.md, --medium bench/results/MEDIUM.md, --small
# bench/results/SMALL.md; --smoke, and --medium or --small with
# --postgres-only, only their work directory's REPORT.md
# (${BENCH_WORK_DIR:-target/bench-work}/<size>[-postgres]/).
set -euo pipefail
script="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$0")/.."

size=--full
sqlite_only=
postgres_only=
passthrough=()
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke|--small|--medium|--full) size=$1 ;;
    --sqlite-only) sqlite_only=--sqlite-only ;;
    --postgres-only) postgres_only=--postgres-only ;;
    --wrk-seconds|--clients) passthrough+=("$1" "$2"); shift ;;
    -h|--help) sed -n '2,20p' "$script"; exit 0 ;;
    *) echo "bench: unknown argument $1 (see bench/run.sh --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ -n "$sqlite_only" ] && [ -n "$postgres_only" ]; then
  echo "bench: --sqlite-only and --postgres-only exclude each other" >&2
  exit 2
fi

missing=()
for tool in wrk nginx sqlite3; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "bench: installing ${missing[*]} (Debian packages)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx sqlite3 >/dev/null
  missing=()
  for tool in wrk nginx sqlite3; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench: missing ${missing[*]}: apt-get install -y wrk nginx sqlite3" >&2
  exit 1
fi

postgres=()
if [ -z "$sqlite_only" ]; then
  url=${SESSION_LEDGER_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
  if command -v psql >/dev/null 2>&1 && psql -X -q -d "$url" -c 'SELECT 1' >/dev/null 2>&1; then
    postgres=(--postgres "$url")
  else
    if [ -n "$postgres_only" ]; then
      echo "bench: PostgreSQL at $url does not answer, and --postgres-only measures nothing else" >&2
      exit 1
    fi
    echo "bench: PostgreSQL at $url does not answer: measuring SQLite only" >&2
  fi
fi

echo "bench: building session-ledger and the benchmark tool (release)" >&2
cargo build --release --quiet --bin session-ledger
CARGO_TARGET_DIR=target/bench-tool cargo build --release --quiet --manifest-path bench/tool/Cargo.toml

name=${size#--}${postgres_only:+-postgres}
work=${BENCH_WORK_DIR:-target/bench-work}/$name
rm -rf "$work"
mkdir -p "$work"
case "$postgres_only$size" in
  --full) out=bench/results/FULL.md ;;
  --postgres-only--full) out=bench/results/FULL-POSTGRES.md ;;
  --medium) out=bench/results/MEDIUM.md ;;
  --small) out=bench/results/SMALL.md ;;
  *) out=$work/REPORT.md ;;
esac

exec target/bench-tool/release/ledger-bench run \
  --bin target/release/session-ledger --work "$work" "$size" $sqlite_only $postgres_only \
  ${postgres[@]+"${postgres[@]}"} ${passthrough[@]+"${passthrough[@]}"} \
  --out "$out" --command "bench/run.sh $size${sqlite_only:+ $sqlite_only}${postgres_only:+ $postgres_only}"
