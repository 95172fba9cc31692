#!/usr/bin/env bash
# A real S3-compatible server (s3proxy) for the lake's tests, as a plain process.
#
#   scripts/services/s3proxy.sh start    fetch the jars (once), start, wait until ready,
#                                        create the bucket
#   scripts/services/s3proxy.sh stop     stop the server (objects are kept)
#   scripts/services/s3proxy.sh status   print http://127.0.0.1:PORT and exit 0 if it runs, else exit 1
#   scripts/services/s3proxy.sh env      print the AWS_* settings a client needs (to eval)
#   scripts/services/s3proxy.sh reset    delete every object of the bucket
#   scripts/services/s3proxy.sh log      print the server log's path
#
# s3proxy 4.1 from Maven Central on its filesystem backend (objects are
# files under $HELIXFLOW_SERVICES_DIR/s3proxy/data), AWS signature v4 with
# a fixed test identity, listening on 127.0.0.1 only. S3PROXY_PORT (default
# 9400) chooses the port; the bucket is `helixflow`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=common.sh
source "$here/common.sh"

port="${S3PROXY_PORT:-9400}"
home="$services_root/s3proxy"
libs="$home/libs"
data="$home/data"
log="$home/s3proxy.log"
pidfile="$home/s3proxy.pid"
props="$home/s3proxy.properties"
address="http://127.0.0.1:$port"
bucket="helixflow"
identity="helixflow"
credential="helixflow-test-secret"

running() {
  pid_alive "$pidfile" && port_open "$port"
}

start() {
  if running; then
    echo "s3proxy: already running at $address"
    return 0
  fi
  if pid_alive "$pidfile"; then
    stop_pid s3proxy "$pidfile" >/dev/null
  fi
  if port_open "$port"; then
    echo "s3proxy: port $port is taken by another process; set S3PROXY_PORT" >&2
    return 1
  fi
  maven_fetch s3proxy "$here/s3proxy/pom.xml" "$libs"
  mkdir -p "$data/$bucket"
  cat > "$props" <<PROPS
s3proxy.endpoint=$address
s3proxy.authorization=aws-v2-or-v4
s3proxy.identity=$identity
s3proxy.credential=$credential
jclouds.provider=filesystem
jclouds.filesystem.basedir=$data
PROPS
  # The jars bring no logging configuration: logback would log at DEBUG.
  cat > "$home/logback.xml" <<'XML'
<configuration>
  <appender name="out" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%d{HH:mm:ss.SSS} %-5level %logger{36} - %msg%n</pattern></encoder>
  </appender>
  <root level="WARN"><appender-ref ref="out"/></root>
</configuration>
XML
  echo "s3proxy: starting on $address (log: $log)"
  local marker
  marker="$(log_lines "$log")"
  nohup java -Xms128m -Xmx512m -Djava.awt.headless=true \
    -Dlogback.configurationFile="$home/logback.xml" -cp "$libs/*" \
    org.gaul.s3proxy.Main --properties "$props" >> "$log" 2>&1 < /dev/null &
  echo $! > "$pidfile"
  ready() { port_open "$port"; }
  wait_ready s3proxy "$pidfile" "$log" 60 ready
  echo "s3proxy: ready at $address (bucket $bucket)"
}

case "${1:-}" in
  start) start ;;
  stop) stop_pid s3proxy "$pidfile" ;;
  status)
    if running; then echo "$address"; else echo "s3proxy: not running" >&2; exit 1; fi ;;
  env)
    echo "export AWS_ENDPOINT=$address AWS_ACCESS_KEY_ID=$identity AWS_SECRET_ACCESS_KEY=$credential AWS_REGION=us-east-1 AWS_ALLOW_HTTP=true" ;;
  reset)
    running || { echo "s3proxy: not running" >&2; exit 1; }
    find "$data/$bucket" -mindepth 1 -delete
    echo "s3proxy: bucket $bucket emptied" ;;
  log) echo "$log" ;;
  *) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
