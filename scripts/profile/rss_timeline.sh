#!/usr/bin/env bash
# Runs a command and prints its resident memory every 250 ms as
# "ms_since_start MiB" lines (docs/benchmarks.md, "When the memory arrives").
# Usage: scripts/profile/rss_timeline.sh target/release/helixflow replay --quiet -w 2 --out /tmp/out events.jsonl
set -euo pipefail
"$@" > /dev/null 2>&1 &
pid=$!
start=$(date +%s%N)
while kill -0 "$pid" 2>/dev/null; do
  rss=$(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$pid/status" 2>/dev/null || true)
  echo "$(( ($(date +%s%N) - start) / 1000000 )) ${rss:-0}"
  sleep 0.25
done
wait "$pid"
