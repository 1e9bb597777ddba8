#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 600) on stable Rust, one after
# the other, and prints each target's executions and findings.
# Usage: fuzz/run-all.sh [SECONDS]   (needs `cargo install cargo-fuzz`)
set -uo pipefail
cd "$(dirname "$0")"
seconds="${1:-600}"
mkdir -p logs
for target in timestamp dates event_batch import_line basic_auth provider_webhook; do
  mkdir -p "corpus/$target"
  cargo fuzz run --sanitizer none "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 > "logs/$target.log" 2>&1
  status=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$target.log" | grep -o '[0-9]*$')
  crashes=$(ls artifacts/"$target" 2>/dev/null | wc -l)
  echo "$target: exit $status, ${runs:-?} executions in ${seconds}s, $crashes crash artifacts"
done
