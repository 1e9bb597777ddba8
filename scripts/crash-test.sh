#!/usr/bin/env bash
# kill -9 in the middle of a 100,000-event ingest whose client retries every
# unacknowledged batch; then checks every acknowledged event is stored exactly
# once and the history equals an uninterrupted run (tests/api/crash.rs).
# Add SESSION_LEDGER_TEST_POSTGRES_URL=postgres://… to run it on PostgreSQL too.
set -euo pipefail
cd "$(dirname "$0")/.."
export SESSION_LEDGER_CRASH_EVENTS="${SESSION_LEDGER_CRASH_EVENTS:-100000}"
cargo test --release --test api crash -- --nocapture
if [ -n "${SESSION_LEDGER_TEST_POSTGRES_URL:-}" ]; then
  cargo test --release --test postgres crash -- --nocapture
fi
