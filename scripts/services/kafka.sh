#!/usr/bin/env bash
# A real Apache Kafka broker for tests and benchmarks, as a plain process.
#
#   scripts/services/kafka.sh start    fetch the jars (once), format, start, wait until ready
#                                      (KAFKA_FRESH=1: on empty storage)
#   scripts/services/kafka.sh stop     stop the broker (data is kept)
#   scripts/services/kafka.sh status   print 127.0.0.1:PORT and exit 0 if it runs, else exit 1
#   scripts/services/kafka.sh reset    delete and recreate the contract's topics
#   scripts/services/kafka.sh log      print the broker log's path
#   scripts/services/kafka.sh tls-env  print `export` lines for the TLS+SCRAM listener:
#                                      HELIXFLOW_KAFKA_TLS_BROKERS, HELIXFLOW_KAFKA_CA_FILE,
#                                      HELIXFLOW_KAFKA_SCRAM_USER, HELIXFLOW_KAFKA_SCRAM_PASSWORD
#   scripts/services/kafka.sh delete-records FILE
#                                      Kafka's own DeleteRecordsCommand: delete every
#                                      record before the offsets FILE gives
#                                      ({"partitions":[{"topic":..,"partition":..,"offset":..}]})
#
# Apache Kafka 3.9 (the last line on Java 17) from Maven Central, KRaft mode,
# one combined broker+controller node listening on 127.0.0.1 only. Jars are
# cached in $HELIXFLOW_SERVICES_DIR/kafka/libs (default
# ~/.cache/helixflow-services); KAFKA_PORT (default 9092) and
# KAFKA_CONTROLLER_PORT (default 9093) choose the ports. Beside the
# plaintext listener, a SASL_SSL one on KAFKA_TLS_PORT (default 9094): TLS
# with a certificate from the project's test CA (common.sh test_certs) and
# SCRAM-SHA-512/256 logins, with one user (`helixflow`, a generated
# password) added once the broker is up.
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
tls_port="${KAFKA_TLS_PORT:-9094}"
tls_address="127.0.0.1:$tls_port"
scram_user=helixflow
scram_password_file="$home/scram.password"

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
  local tls
  tls="$(test_certs)"
  cat > "$props" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port,SASL_SSL://127.0.0.1:$tls_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port,SASL_SSL://127.0.0.1:$tls_port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
inter.broker.listener.name=PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.ssl.keystore.type=PKCS12
listener.name.sasl_ssl.ssl.keystore.location=$tls/server.p12
listener.name.sasl_ssl.ssl.keystore.password=$(cat "$tls/p12.password")
listener.name.sasl_ssl.ssl.key.password=$(cat "$tls/p12.password")
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
  if port_open "$tls_port"; then
    echo "kafka: port $tls_port is taken by another process; set KAFKA_TLS_PORT" >&2
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
  add_scram_user
  echo "kafka: ready at $address (SASL_SSL with SCRAM at $tls_address)"
}

# The SCRAM login of the SASL_SSL listener (stored in the cluster's
# metadata; adding it again replaces it).
add_scram_user() {
  [[ -s "$scram_password_file" ]] || { openssl rand -hex 16 > "$scram_password_file"; chmod 600 "$scram_password_file"; }
  local password mechanism
  password="$(cat "$scram_password_file")"
  for mechanism in SCRAM-SHA-512 SCRAM-SHA-256; do
    java_run kafka.admin.ConfigCommand --bootstrap-server "$address" --alter \
      --entity-type users --entity-name "$scram_user" \
      --add-config "$mechanism=[iterations=4096,password=$password]" >> "$log" 2>&1 || {
      echo "kafka: adding the SCRAM user $scram_user failed" >&2
      show_log_tail kafka "$log"
      return 1
    }
  done
}

tls_env() {
  running || { echo "kafka: stopped" >&2; return 1; }
  echo "export HELIXFLOW_KAFKA_TLS_BROKERS=$tls_address"
  echo "export HELIXFLOW_KAFKA_CA_FILE=$(test_certs)/ca.pem"
  echo "export HELIXFLOW_KAFKA_SCRAM_USER=$scram_user"
  echo "export HELIXFLOW_KAFKA_SCRAM_PASSWORD=$(cat "$scram_password_file")"
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
  tls-env) tls_env ;;
  delete-records)
    [[ -n "${2:-}" ]] || { echo "kafka: delete-records needs an offsets JSON file" >&2; exit 2; }
    running || { echo "kafka: stopped" >&2; exit 1; }
    java_run org.apache.kafka.tools.DeleteRecordsCommand --bootstrap-server "$address" --offset-json-file "$2" ;;
  *)
    sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'
    exit 2 ;;
esac
