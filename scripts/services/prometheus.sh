#!/usr/bin/env bash
# A real Prometheus server for tests, as a plain process, scraping one
# Helixflow engine.
#
#   scripts/services/prometheus.sh start HOST:PORT [TOKEN]
#                                            install (once, from Debian), start
#                                            scraping http://HOST:PORT/metrics
#                                            every second (with a bearer token
#                                            if given), wait until ready
#   scripts/services/prometheus.sh stop      stop the server
#   scripts/services/prometheus.sh status    print http://127.0.0.1:PORT and exit 0 if it runs, else exit 1
#   scripts/services/prometheus.sh log       print the server log's path
#
# Debian's prometheus package, listening on 127.0.0.1 only, its data under
# $HELIXFLOW_SERVICES_DIR/prometheus (default ~/.cache/helixflow-services),
# started on empty storage each time. PROMETHEUS_PORT (default 9090)
# chooses the port.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=common.sh
source "$here/common.sh"

port="${PROMETHEUS_PORT:-9090}"
home="$services_root/prometheus"
log="$home/prometheus.log"
pidfile="$home/prometheus.pid"
config="$home/prometheus.yml"
address="http://127.0.0.1:$port"

install() {
  command -v prometheus >/dev/null && return 0
  apt_install prometheus --no-install-recommends prometheus
}

write_config() {
  local target="$1" token="${2:-}"
  mkdir -p "$home"
  {
    echo "global:"
    echo "  scrape_interval: 1s"
    echo "  scrape_timeout: 1s"
    echo "scrape_configs:"
    echo "  - job_name: helixflow"
    if [[ -n "$token" ]]; then
      echo "    authorization:"
      echo "      type: Bearer"
      echo "      credentials: \"$token\""
    fi
    echo "    static_configs:"
    echo "      - targets: [\"$target\"]"
  } > "$config"
}

start() {
  local target="${1:?usage: prometheus.sh start HOST:PORT [TOKEN]}" token="${2:-}"
  if pid_alive "$pidfile"; then
    echo "prometheus: already running at $address; restarting it for $target"
    stop_pid prometheus "$pidfile" >/dev/null
  fi
  install
  write_config "$target" "$token"
  rm -rf "$home/data"
  echo "prometheus: starting on $address, scraping $target (log: $log)"
  prometheus --config.file="$config" --storage.tsdb.path="$home/data" \
    --web.listen-address="127.0.0.1:$port" > "$log" 2>&1 &
  echo $! > "$pidfile"
  for _ in $(seq 1 300); do
    if curl -fsS "$address/-/ready" >/dev/null 2>&1; then
      echo "prometheus: ready at $address"
      return 0
    fi
    if ! pid_alive "$pidfile"; then
      echo "prometheus: exited during start" >&2
      show_log_tail prometheus "$log"
      return 1
    fi
    sleep 0.1
  done
  echo "prometheus: not ready within 30 s" >&2
  show_log_tail prometheus "$log"
  return 1
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) stop_pid prometheus "$pidfile" ;;
  status) pid_alive "$pidfile" && curl -fsS "$address/-/ready" >/dev/null 2>&1 && echo "$address" ;;
  log) echo "$log" ;;
  *) echo "usage: $0 start HOST:PORT [TOKEN]|stop|status|log" >&2; exit 2 ;;
esac
