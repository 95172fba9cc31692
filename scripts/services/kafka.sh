#!/usr/bin/env bash
# A real Apache Kafka broker for tests and benchmarks, as a plain process.
#
#   scripts/services/kafka.sh start    fetch the jars (once), format, start, wait until ready
#                                      (KAFKA_FRESH=1: on empty storage)
#   scripts/services/kafka.sh stop     stop the broker (data is kept)
#   scripts/services/kafka.sh status   print 127.0.0.1:PORT and exit 0 if it runs, else exit 1
#   scripts/services/kafka.sh reset    delete and recreate the contract's topics
#   scripts/services/kafka.sh log      print the broker log's path
#   scripts/services/kafka.sh delete-records FILE
#                                      Kafka's own DeleteRecordsCommand: delete every
#                                      record before the offsets FILE gives
#                                      ({"partitions":[{"topic":..,"partition":..,"offset":..}]})
#
# Apache Kafka 3.9 (the last line on Java 17) from Maven Central, KRaft mode,
# one combined broker+controller node listening on 127.0.0.1 only. Jars are
# cached in $HELIXFLOW_SERVICES_DIR/kafka/libs (default
# ~/.cache/helixflow-services); KAFKA_PORT (default 9092) and
# KAFKA_CONTROLLER_PORT (default 9093) choose the ports.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=common.sh
source "$here/common.sh"

port="${KAFKA_PORT:-9092}"
controller_port="${KAFKA_CONTROLLER_PORT:-9093}"
home="$services_root/kafka"
libs="$home/libs"
data="$home/data"
log="$home/kafka.log"
pidfile="$home/kafka.pid"
props="$home/server.properties"
address="127.0.0.1:$port"

# The contract's topics (docs/kafka.md) and their partition counts.
topics=(
  "helixagent.conversations:4"
  "helixagent.memory.events:2"
  "helixagent.entities.updates:2"
  "helixagent.relationships.updates:2"
  "helixagent.analytics.providers:2"
  "helixagent.analytics.debates:2"
)

fetch_jars() {
  maven_fetch kafka "$here/kafka/pom.xml" "$libs"
}

java_opts=(-Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true
  -Dlog4j.configuration="file:$home/log4j.properties" -cp "$libs/*")

java_run() {
  java "${java_opts[@]}" "$@"
}

write_config() {
  mkdir -p "$data"
  cat > "$props" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$data
num.partitions=2
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=-1
log.segment.bytes=268435456
PROPS
  cat > "$home/log4j.properties" <<LOG4J
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.log.LogCleaner=WARN
LOG4J
}

running() {
  pid_alive "$pidfile" && port_open "$port"
}

start() {
  if running; then
    echo "kafka: already running at $address"
    return 0
  fi
  if pid_alive "$pidfile"; then
    stop_pid kafka "$pidfile" >/dev/null
  fi
  if port_open "$port"; then
    echo "kafka: port $port is taken by another process; set KAFKA_PORT" >&2
    return 1
  fi
  fetch_jars
  if [[ "${KAFKA_FRESH:-0}" == 1 ]]; then
    # Test runs start from empty storage: topics left by earlier runs would
    # otherwise pile up and slow every later broker restart.
    rm -rf "$data"
    : > "$log"
  fi
  write_config
  if [[ ! -f "$data/meta.properties" ]]; then
    java_run kafka.tools.StorageTool format --config "$props" \
      --cluster-id "helixflow-test-cluster0" --ignore-formatted >> "$log" 2>&1 || {
      echo "kafka: formatting the storage in $data failed" >&2
      show_log_tail kafka "$log"
      return 1
    }
  fi
  echo "kafka: starting on $address (log: $log)"
  local marker
  marker="$(log_lines "$log")"
  nohup java "${java_opts[@]}" kafka.Kafka "$props" >> "$log" 2>&1 < /dev/null &
  echo $! > "$pidfile"
  ready() { port_open "$port" && log_since "$log" "$marker" "Kafka Server started"; }
  wait_ready kafka "$pidfile" "$log" 300 ready
  echo "kafka: ready at $address"
}

reset_topics() {
  running || { echo "kafka: not running; run '$0 start' first" >&2; return 1; }
  local spec name parts existing
  existing="$(java_run org.apache.kafka.tools.TopicCommand --bootstrap-server "$address" --list 2>>"$log")"
  for spec in "${topics[@]}"; do
    name="${spec%%:*}"
    if grep -qx "$name" <<< "$existing"; then
      java_run org.apache.kafka.tools.TopicCommand --bootstrap-server "$address" \
        --delete --topic "$name" >> "$log" 2>&1
    fi
  done
  for spec in "${topics[@]}"; do
    name="${spec%%:*}"
    parts="${spec##*:}"
    # A deleted topic disappears asynchronously: retry creation briefly.
    for attempt in $(seq 1 50); do
      if java_run org.apache.kafka.tools.TopicCommand --bootstrap-server "$address" \
           --create --topic "$name" --partitions "$parts" --replication-factor 1 >> "$log" 2>&1; then
        echo "kafka: topic $name ($parts partitions)"
        break
      fi
      if [[ "$attempt" == 50 ]]; then
        echo "kafka: could not create topic $name" >&2
        show_log_tail kafka "$log"
        return 1
      fi
      sleep 0.2
    done
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop_pid kafka "$pidfile" ;;
  status)
    if running; then echo "$address"; else echo "kafka: stopped" >&2; exit 1; fi ;;
  reset) reset_topics ;;
  log) echo "$log" ;;
  delete-records)
    [[ -n "${2:-}" ]] || { echo "kafka: delete-records needs an offsets JSON file" >&2; exit 2; }
    running || { echo "kafka: stopped" >&2; exit 1; }
    java_run org.apache.kafka.tools.DeleteRecordsCommand --bootstrap-server "$address" --offset-json-file "$2" ;;
  *)
    sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
    exit 2 ;;
esac
