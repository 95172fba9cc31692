#!/usr/bin/env bash
# Where the CPU goes during kafka-bench's latency run: per thread of the
# bench process (engine workers, consumer and librdkafka threads, the
# producer) and for the broker's JVM, as % of one core, from
# /proc/*/schedstat and /proc/*/stat over a window in the middle of the run.
# "wait" is time runnable but waiting for a core.
# Needs a broker (scripts/services/kafka.sh start). Extra arguments go to
# kafka-bench, e.g. `--epoch 20ms` or `--views provider_stats`.
# Usage: benches/kafka/thread_cpu.sh [kafka-bench args...]
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -q -p helixflow-benches --bin kafka-bench
bench="${CARGO_TARGET_DIR:-target}/release/kafka-bench"
out=$(mktemp)
RUST_LOG=warn "$bench" --latency-only "$@" >"$out" 2>&1 &
bench_pid=$!
sleep 8 # messages generated, engine started, producing at a steady rate
broker=$(pgrep -f kafka.Kafka | head -1)
window=6
threads() {
  for t in /proc/"$bench_pid"/task/*; do
    echo "$(basename "$t") $(tr ' ' _ <"$t"/comm) $(cat "$t"/schedstat)"
  done | sort
}
ticks() { awk '{print $14 + $15}' /proc/"$1"/stat; }
threads >"$out.1"; b1=$(ticks "$broker")
sleep "$window"
threads >"$out.2"; b2=$(ticks "$broker")
join "$out.1" "$out.2" | awk -v w="$window" '{
  run = ($7 - $3) / (w * 1e7); wait = ($8 - $4) / (w * 1e7)
  if (run >= 1) printf "%-20s run %5.1f%%  wait %5.1f%%\n", $2, run, wait }' | sort -k3 -n -r
echo "broker JVM: $(( (b2 - b1) * 100 / ($(getconf CLK_TCK) * window) ))% of a core"
wait "$bench_pid"
grep -E "latency|sealed" "$out"
rm -f "$out" "$out.1" "$out.2"
