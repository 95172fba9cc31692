#!/usr/bin/env bash
# The whole test suite (README's test command; .ci/run runs it too):
#  1. cargo's unit, oracle, property and API tests;
#  2. an independent check: generated events (duplicates, malformed lines,
#     unicode ids), shuffled and split into files, replayed at -w 1 and -w 2,
#     compared with a from-scratch Python computation of the contract, and
#     the two runs' view files compared byte for byte.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/helixflow-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
cargo test --workspace --all-targets
cargo test --workspace --doc

echo "== independent contract check (scripts/check/contract_oracle.py)"
cargo build -q --bin helixflow
helixflow="$CARGO_TARGET_DIR/debug/helixflow"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$helixflow" generate --events 30000 --seed 7 --duplicate-ratio 0.02 --malformed-ratio 0.01 --out "$work/events.jsonl"
python3 scripts/check/shuffle_split.py "$work/events.jsonl" 11 3 "$work/part"
"$helixflow" replay --quiet -w 1 --out "$work/w1" "$work/events.jsonl" 2> "$work/w1.log"
"$helixflow" replay --quiet -w 2 --epoch-lines 777 --out "$work/w2" "$work"/part-*.jsonl 2> "$work/w2.log"
python3 scripts/check/contract_oracle.py "$work/w2" "$work"/part-*.jsonl
for f in "$work"/w1/*.jsonl "$work"/w1/rejected.json; do
  cmp "$f" "$work/w2/$(basename "$f")"
done
grep -q ": rejected (" "$work/w1.log"
echo "oracle: 1 passed, 0 failed"
