#!/usr/bin/env bash
# The whole test suite (README's test command; .ci/run runs it too):
#  1. cargo's unit, oracle, property and API tests;
#  2. an independent check: generated events (duplicates, malformed lines,
#     unicode ids), shuffled and split into files, replayed at -w 1 and -w 2,
#     compared with a from-scratch Python computation of the contract, and
#     the two runs' view files compared byte for byte;
#  3. the query contract (api.md): an engine on the same files (-w 1, -w 2)
#     and one fed through Kafka answer hundreds of varied queries, each
#     compared with the same from-scratch Python computation; schemathesis
#     runs over every route of the engine's OpenAPI document;
#  4. the deployment files (scripts/check/compose_check.sh): the compose
#     file, Prometheus's configuration and alerts, the Grafana dashboard.
#
# Integration tests run against real services that this script installs
# (cached) and starts: an Apache Kafka broker, ClickHouse, Neo4j and an
# S3-compatible server, s3proxy (scripts/services/*.sh), and a Prometheus
# server that scrapes the Kafka round trip's engine. Services it started are stopped when it exits; ones
# already running are left as they were.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/helixflow-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

started=()
stop_services() {
  for s in "${started[@]}"; do scripts/services/"$s".sh stop || true; done
}
cleanup() {
  stop_services
  [[ -n "${work:-}" ]] && rm -rf "$work"
}
trap cleanup EXIT
for service in kafka clickhouse neo4j s3proxy; do
  if ! scripts/services/"$service".sh status >/dev/null 2>&1; then
    # A broker this script starts begins on empty storage (KAFKA_FRESH).
    KAFKA_FRESH=1 scripts/services/"$service".sh start
    started+=("$service")
  fi
done
HELIXFLOW_KAFKA_BROKERS="$(scripts/services/kafka.sh status)"
export HELIXFLOW_KAFKA_BROKERS
# The servers' TLS ports, the test CA and the TLS users (engine/tests/kafka_tls.rs, sinks_tls.rs).
eval "$(scripts/services/kafka.sh tls-env)"
eval "$(scripts/services/clickhouse.sh tls-env)"
eval "$(scripts/services/neo4j.sh tls-env)"
CLICKHOUSE_URL="$(scripts/services/clickhouse.sh status)"
NEO4J_URI="$(scripts/services/neo4j.sh status)"
export CLICKHOUSE_URL NEO4J_URI
# The S3-compatible server's endpoint and test keys (AWS_*), for the lake's S3 tests.
eval "$(scripts/services/s3proxy.sh env)"
clickhouse_tcp_port="${CLICKHOUSE_TCP_PORT:-9000}"
echo "== services: kafka at $HELIXFLOW_KAFKA_BROKERS, clickhouse at $CLICKHOUSE_URL, neo4j at $NEO4J_URI"

test_log="$(mktemp)"
if ! cargo test --workspace --all-targets 2>&1 | tee "$test_log"; then
  echo "== tests failed; the broker log's last warnings and errors:" >&2
  grep -E "\] (WARN|ERROR) " "$(scripts/services/kafka.sh log)" | tail -n 20 >&2 || true
  echo "== why each failing test failed:" >&2
  grep -A 4 "panicked at" "$test_log" >&2 || true
  rm -f "$test_log"
  exit 1
fi
rm -f "$test_log"
cargo test --workspace --doc

cargo build -q --bin helixflow
helixflow="$CARGO_TARGET_DIR/debug/helixflow"

echo "== the deployment files: docker-compose.bigdata.yml, its topology, Prometheus's configuration and alerts, the Grafana dashboard"
scripts/check/compose_check.sh "$helixflow"

echo "== independent contract check (scripts/check/contract_oracle.py)"
work="$(mktemp -d)"
"$helixflow" generate --events 30000 --seed 7 --duplicate-ratio 0.02 --malformed-ratio 0.01 --content-chars 120 --out "$work/events.jsonl"
python3 scripts/check/shuffle_split.py "$work/events.jsonl" 11 3 "$work/part"
"$helixflow" replay --quiet -w 1 --out "$work/w1" "$work/events.jsonl" 2> "$work/w1.log"
"$helixflow" replay --quiet -w 2 --epoch-lines 777 --out "$work/w2" "$work"/part-*.jsonl 2> "$work/w2.log"
python3 scripts/check/contract_oracle.py "$work/w2" "$work"/part-*.jsonl
for f in "$work"/w1/*.jsonl "$work"/w1/rejected.json; do
  cmp "$f" "$work/w2/$(basename "$f")"
done
grep -q ": rejected (" "$work/w1.log"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "== independent query check (contract_oracle.py --api): the engine's answers to the query contract"
for workers in 1 2; do
  port="$(free_port)"
  paths="$(printf '"%s",' "$work"/part-*.jsonl)"
  cat > "$work/api.toml" <<TOML
version = 1
name = "query-check"
[engine]
workers = $workers
epoch = "5ms"
status_interval = "0s"
[[sources]]
name = "events"
kind = "file"
paths = [${paths%,}]
[api]
bind = "127.0.0.1:$port"
TOML
  RUST_LOG=warn "$helixflow" run "$work/api.toml" 2> "$work/api.log" &
  api_pid=$!
  if ! python3 scripts/check/contract_oracle.py --api "127.0.0.1:$port" --wait-done "$work"/part-*.jsonl; then
    kill "$api_pid" || true
    cat "$work/api.log" >&2
    exit 1
  fi
  if [[ "$workers" == 2 ]]; then
    echo "== schemathesis over every route of GET /v1/openapi.json (scripts/check/api_schema.sh)"
    if ! scripts/check/api_schema.sh "127.0.0.1:$port"; then
      kill "$api_pid" || true
      cat "$work/api.log" >&2
      exit 1
    fi
  fi
  kill -INT "$api_pid"
  wait "$api_pid"
done

echo "== the query contract from each process of a 2-process cluster (contract_oracle.py --api)"
hosts="$work/cluster-hosts"
printf '127.0.0.1:%s\n127.0.0.1:%s\n' "$(free_port)" "$(free_port)" > "$hosts"
sed -e 's/^workers = .*/workers = 1/' "$work/api.toml" > "$work/cluster.toml"
printf '[cluster]\nhostfile = "%s"\n' "$hosts" >> "$work/cluster.toml"
cluster_pids=()
cluster_ports=()
for process in 0 1; do
  port="$(free_port)"
  cluster_ports+=("$port")
  HELIXFLOW_PROCESS=$process RUST_LOG=warn "$helixflow" run "$work/cluster.toml" --api "127.0.0.1:$port" 2> "$work/cluster-$process.log" &
  cluster_pids+=("$!")
done
for port in "${cluster_ports[@]}"; do
  if ! python3 scripts/check/contract_oracle.py --api "127.0.0.1:$port" --wait-done "$work"/part-*.jsonl; then
    kill "${cluster_pids[@]}" || true
    cat "$work"/cluster-*.log >&2
    exit 1
  fi
done
kill -INT "${cluster_pids[@]}"
wait "${cluster_pids[@]}" || true

# shellcheck source=check/python_env.sh
source scripts/check/python_env.sh
reset_sinks() {
  scripts/services/clickhouse.sh reset >/dev/null
  scripts/services/neo4j.sh reset >/dev/null 2>&1
}

echo "== sinks from files: ClickHouse and Neo4j read back by independent clients (scripts/check/sinks_check.py)"
reset_sinks
cat > "$work/sinks.toml" <<TOML
version = 1
name = "sinks-check"
[engine]
workers = 2
epoch = "10ms"
[[sources]]
name = "events"
kind = "file"
paths = ["$work/events.jsonl"]
[views]
enabled = ["all"]
[[sinks]]
name = "analytics"
kind = "clickhouse"
url = "$CLICKHOUSE_URL"
[[sinks]]
name = "graph"
kind = "neo4j"
uri = "$NEO4J_URI"
[api]
enabled = false
TOML
RUST_LOG=warn "$helixflow" run --exit-when-done "$work/sinks.toml" 2> "$work/sinks.log" || { cat "$work/sinks.log" >&2; exit 1; }
"$check_python" scripts/check/sinks_check.py "$work/w1" "$clickhouse_tcp_port" "$NEO4J_URI" "$work/events.jsonl"
echo "== the same through a 2-process cluster (process 0 runs the sinks; every row written once)"
reset_sinks
sed -e 's/^workers = .*/workers = 1/' "$work/sinks.toml" > "$work/sinks-cluster.toml"
printf '[cluster]\nhostfile = "%s"\n' "$hosts" >> "$work/sinks-cluster.toml"
cluster_pids=()
for process in 0 1; do
  HELIXFLOW_PROCESS=$process RUST_LOG=warn "$helixflow" run --exit-when-done "$work/sinks-cluster.toml" 2> "$work/sinks-cluster-$process.log" &
  cluster_pids+=("$!")
done
for pid in "${cluster_pids[@]}"; do
  wait "$pid" || { cat "$work"/sinks-cluster-*.log >&2; exit 1; }
done
"$check_python" scripts/check/sinks_check.py "$work/w1" "$clickhouse_tcp_port" "$NEO4J_URI" "$work/events.jsonl"
echo "== the same run again: the stores must not change (idempotent writes)"
RUST_LOG=warn "$helixflow" run --exit-when-done "$work/sinks.toml" 2> "$work/sinks.log" || { cat "$work/sinks.log" >&2; exit 1; }
"$check_python" scripts/check/sinks_check.py "$work/w1" "$clickhouse_tcp_port" "$NEO4J_URI" "$work/events.jsonl"
echo "== the same events plus conflicting copies that win, over the same stores: raw rows replaced (tombstones), rollups follow"
python3 scripts/check/conflicts.py "$work/events.jsonl" 50 > "$work/conflicts.jsonl"
cat "$work/events.jsonl" "$work/conflicts.jsonl" > "$work/events-conflicts.jsonl"
"$helixflow" replay --quiet -w 1 --out "$work/w1c" "$work/events-conflicts.jsonl" 2> /dev/null
sed "s|$work/events.jsonl|$work/events-conflicts.jsonl|" "$work/sinks.toml" > "$work/sinks-conflicts.toml"
RUST_LOG=warn "$helixflow" run --exit-when-done "$work/sinks-conflicts.toml" 2> "$work/sinks.log" || { cat "$work/sinks.log" >&2; exit 1; }
"$check_python" scripts/check/sinks_check.py "$work/w1c" "$clickhouse_tcp_port" "$NEO4J_URI" "$work/events-conflicts.jsonl"

echo "== the lake: read by DuckDB with the live-row rule (scripts/check/lake_duckdb.py); replay --lake = replay"
cat > "$work/lake.toml" <<TOML
version = 1
name = "lake-check"
[engine]
workers = 2
epoch = "10ms"
status_interval = "0s"
[[sources]]
name = "events"
kind = "file"
paths = ["$work/events-conflicts.jsonl"]
[[sinks]]
name = "lake"
kind = "lake"
location = "$work/lake"
commit_interval = "200ms"
[api]
enabled = false
TOML
RUST_LOG=warn "$helixflow" run --exit-when-done "$work/lake.toml" 2> "$work/lake.log" || { cat "$work/lake.log" >&2; exit 1; }
"$check_python" scripts/check/lake_duckdb.py "$work/lake" "$work/events-conflicts.jsonl"
"$helixflow" replay --quiet --lake "$work/lake" --out "$work/wlake" 2> /dev/null
for f in "$work"/w1c/*.jsonl; do
  cmp "$f" "$work/wlake/$(basename "$f")"
done
echo "replay --lake: 13 view files identical to replay over the JSONL"
echo "== the same lake on the S3-compatible server (s3proxy): DuckDB reads it over S3 (httpfs); replay --lake s3://"
s3_lake="s3://helixflow/check-$$-$RANDOM"
sed "s|location = \"$work/lake\"|location = \"$s3_lake\"|" "$work/lake.toml" > "$work/lake-s3.toml"
RUST_LOG=warn "$helixflow" run --exit-when-done "$work/lake-s3.toml" 2> "$work/lake.log" || { cat "$work/lake.log" >&2; exit 1; }
"$check_python" scripts/check/lake_duckdb.py "$s3_lake" "$work/events-conflicts.jsonl"
"$helixflow" replay --quiet --lake "$s3_lake" --out "$work/wlake-s3" 2> /dev/null
for f in "$work"/w1c/*.jsonl; do
  cmp "$f" "$work/wlake-s3/$(basename "$f")"
done
echo "replay --lake $s3_lake: 13 view files identical to replay over the JSONL"

echo "== the peer bench on a user's own file (bench.sh --input): entity ids with double quotes, malformed lines, duplicates and winning conflicts; DuckDB reads the clean copy and must equal Helixflow"
sed 's/"id":"ent-/"id":"ent\\"q\\\\-/g' "$work/events-conflicts.jsonl" > "$work/events-quoted.jsonl"
grep -q '"id":"ent\\"q' "$work/events-quoted.jsonl"
"$check_python" benches/peers/run.py --input "$work/events-quoted.jsonl" --engines "helixflow -w 2,duckdb" \
  --runs 1 --work "$work/peers" --python "$check_python" --helixflow "$helixflow" --json "$work/peers.json"

echo "== independent Kafka round trip (scripts/check/kafka_roundtrip.py, confluent-kafka) into the sinks"
scripts/services/kafka.sh reset
reset_sinks
count="$("$check_python" scripts/check/kafka_roundtrip.py produce "$HELIXFLOW_KAFKA_BROKERS" "$work/events.jsonl")"
api_port="$(free_port)"
KAFKA_BROKERS="$HELIXFLOW_KAFKA_BROKERS" KAFKA_GROUP_ID="check-$$-$RANDOM" HELIXFLOW_API="127.0.0.1:$api_port" \
  "$helixflow" run topologies/helixagent.toml 2> "$work/run.log" &
engine_pid=$!
mkdir -p "$work/kafka"
if ! "$check_python" scripts/check/kafka_roundtrip.py collect "127.0.0.1:$api_port" "$count" "$work/kafka"; then
  cat "$work/run.log" >&2
  kill "$engine_pid" || true
  exit 1
fi
if ! python3 scripts/check/contract_oracle.py --api "127.0.0.1:$api_port" "$work/events.jsonl"; then
  cat "$work/run.log" >&2
  kill "$engine_pid" || true
  exit 1
fi
echo "== a real Prometheus scrapes the same engine (scripts/check/prometheus_scrape.py)"
scripts/services/prometheus.sh start "127.0.0.1:$api_port"
started+=(prometheus)
# The metrics the sinks and the API record, and every one the Grafana
# dashboard and the alerts of docker-compose.bigdata.yml read.
mapfile -t dashboard_metrics < <(python3 scripts/check/dashboard_check.py names)
if ! python3 scripts/check/prometheus_scrape.py "$(scripts/services/prometheus.sh status)" "127.0.0.1:$api_port" \
    helixflow_kafka_committed_offset clickhouse_insert_duration_seconds_count \
    neo4j_transaction_committed_total http_request_duration_seconds_count \
    memory_sync_lag_seconds_count "${dashboard_metrics[@]}"; then
  cat "$work/run.log" >&2
  kill "$engine_pid" || true
  exit 1
fi
scripts/services/prometheus.sh stop
kill -INT "$engine_pid"
wait "$engine_pid"
for f in "$work"/w1/*.jsonl; do
  cmp "$f" "$work/kafka/$(basename "$f")"
done
python3 scripts/check/contract_oracle.py "$work/kafka" "$work/events.jsonl"
echo "kafka round trip: $count messages; REST views = replay, byte for byte"
"$check_python" scripts/check/sinks_check.py "$work/w1" "$clickhouse_tcp_port" "$NEO4J_URI" "$work/events.jsonl"
echo "oracle: 5 passed, 0 failed; sinks: 4 checks passed"
