#!/usr/bin/env bash
# A real Neo4j Community graph database for tests and benchmarks, as a plain process.
#
#   scripts/services/neo4j.sh start    fetch the jars (once), compile the launcher, start, wait until ready
#   scripts/services/neo4j.sh stop     stop the database (data is kept)
#   scripts/services/neo4j.sh status   print bolt://127.0.0.1:PORT and exit 0 if it runs, else exit 1
#   scripts/services/neo4j.sh reset    delete every node and relationship
#   scripts/services/neo4j.sh log      print the launcher log's path
#   scripts/services/neo4j.sh tls-env  print `export` lines for bolt+s: HELIXFLOW_NEO4J_TLS_URI,
#                                      HELIXFLOW_NEO4J_CA_FILE
#
# Neo4j 5.26 (the last line on Java 17) from Maven Central, started by the
# project's launcher (neo4j/Neo4jLauncher.java: DatabaseManagementServiceBuilder
# with Bolt on 127.0.0.1; TLS optional on the same port, with a certificate
# from the project's test CA, common.sh test_certs). Jars are cached in
# $HELIXFLOW_SERVICES_DIR/neo4j/libs (default ~/.cache/helixflow-services).
# NEO4J_BOLT_PORT (default 7687) chooses the port; NEO4J_AUTH_ENABLED=true
# turns authentication on (off by default, for tests).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=common.sh
source "$here/common.sh"

port="${NEO4J_BOLT_PORT:-7687}"
auth="${NEO4J_AUTH_ENABLED:-false}"
home="$services_root/neo4j"
libs="$home/libs"
classes="$home/classes"
log="$home/neo4j.log"
pidfile="$home/neo4j.pid"
address="bolt://127.0.0.1:$port"

fetch_jars() {
  maven_fetch neo4j "$here/neo4j/pom.xml" "$libs"
}

compile_launcher() {
  local source="$here/neo4j/Neo4jLauncher.java"
  local stamp="$classes/.built-$(sha256sum "$source" | cut -c1-16)"
  [[ -f "$stamp" ]] && return 0
  rm -rf "$classes"
  mkdir -p "$classes"
  javac -nowarn -d "$classes" -cp "$libs/*" "$source"
  touch "$stamp"
}

running() {
  pid_alive "$pidfile" && port_open "$port"
}

start() {
  if running; then
    echo "neo4j: already running at $address"
    return 0
  fi
  if pid_alive "$pidfile"; then
    stop_pid neo4j "$pidfile" >/dev/null
  fi
  if port_open "$port"; then
    echo "neo4j: port $port is taken by another process; set NEO4J_BOLT_PORT" >&2
    return 1
  fi
  fetch_jars
  compile_launcher
  mkdir -p "$home/db"
  echo "neo4j: starting on $address (log: $log)"
  local marker
  marker="$(log_lines "$log")"
  nohup java -Xms512m -Xmx2g -XX:+UseG1GC -Djava.awt.headless=true \
    -cp "$classes:$libs/*" Neo4jLauncher "$home/db" "$port" "$auth" "$(test_certs)" >> "$log" 2>&1 < /dev/null &
  echo $! > "$pidfile"
  ready() { port_open "$port" && log_since "$log" "$marker" "neo4j launcher: ready"; }
  wait_ready neo4j "$pidfile" "$log" 180 ready
  echo "neo4j: ready at $address"
}

case "${1:-}" in
  start) start ;;
  stop) stop_pid neo4j "$pidfile" ;;
  status)
    if running; then echo "$address"; else echo "neo4j: not running" >&2; exit 1; fi ;;
  reset)
    running || { echo "neo4j: not running" >&2; exit 1; }
    cd "$here/../.."
    # shellcheck source=../check/python_env.sh
    source scripts/check/python_env.sh
    "$check_python" - "$address" <<'PY'
import sys
from neo4j import GraphDatabase
with GraphDatabase.driver(sys.argv[1], auth=None) as driver, driver.session() as session:
    # An auto-commit query: CALL ... IN TRANSACTIONS needs one.
    session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()
PY
    echo "neo4j: every node and relationship deleted" ;;
  log) echo "$log" ;;
  tls-env)
    running || { echo "neo4j: not running" >&2; exit 1; }
    echo "export HELIXFLOW_NEO4J_TLS_URI=bolt+s://127.0.0.1:$port"
    echo "export HELIXFLOW_NEO4J_CA_FILE=$(test_certs)/ca.pem" ;;
  *) echo "usage: $0 start|stop|status|reset|log|tls-env" >&2; exit 2 ;;
esac
