#!/usr/bin/env bash
# A real ClickHouse server for tests and benchmarks, as a plain process.
#
#   scripts/services/clickhouse.sh start    install (once, from Debian), start, wait until ready
#   scripts/services/clickhouse.sh stop     stop the server (data is kept)
#   scripts/services/clickhouse.sh status   print http://127.0.0.1:PORT and exit 0 if it runs, else exit 1
#   scripts/services/clickhouse.sh reset    drop the `helixflow` database
#   scripts/services/clickhouse.sh log      print the server log's path
#   scripts/services/clickhouse.sh tls-env  print `export` lines for the HTTPS port:
#                                           HELIXFLOW_CLICKHOUSE_HTTPS_URL, HELIXFLOW_CLICKHOUSE_CA_FILE,
#                                           HELIXFLOW_CLICKHOUSE_TLS_USER, HELIXFLOW_CLICKHOUSE_TLS_PASSWORD
#
# Debian's clickhouse-server package (18.16) with the project's own minimal
# config: listening on 127.0.0.1 only, data under
# $HELIXFLOW_SERVICES_DIR/clickhouse (default ~/.cache/helixflow-services),
# no interserver port. CLICKHOUSE_HTTP_PORT (default 8123) and
# CLICKHOUSE_TCP_PORT (default 9000) choose the ports. Beside them, HTTPS on
# CLICKHOUSE_HTTPS_PORT (default 8443) with a certificate from the project's
# test CA (common.sh test_certs), and a user `helixflow` with a generated
# password, for the sink's TLS test.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=common.sh
source "$here/common.sh"

http_port="${CLICKHOUSE_HTTP_PORT:-8123}"
tcp_port="${CLICKHOUSE_TCP_PORT:-9000}"
home="$services_root/clickhouse"
data="$home/data"
log="$home/clickhouse.log"
pidfile="$home/clickhouse.pid"
config="$home/config.xml"
address="http://127.0.0.1:$http_port"
https_port="${CLICKHOUSE_HTTPS_PORT:-8443}"
tls_user=helixflow
tls_password_file="$home/helixflow.password"

install() {
  command -v clickhouse-server >/dev/null && command -v clickhouse-client >/dev/null && return 0
  apt_install clickhouse clickhouse-server clickhouse-client
}

write_config() {
  mkdir -p "$data/tmp" "$data/user_files" "$data/format_schemas"
  local tls
  tls="$(test_certs)"
  [[ -s "$tls_password_file" ]] || { openssl rand -hex 16 > "$tls_password_file"; chmod 600 "$tls_password_file"; }
  cat > "$config" <<XML
<?xml version="1.0"?>
<yandex>
  <logger>
    <level>information</level>
    <log>$log</log>
    <errorlog>$home/clickhouse.err.log</errorlog>
    <size>100M</size>
    <count>2</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>$http_port</http_port>
  <tcp_port>$tcp_port</tcp_port>
  <https_port>$https_port</https_port>
  <openSSL>
    <server>
      <certificateFile>$tls/server.pem</certificateFile>
      <privateKeyFile>$tls/server.key</privateKeyFile>
      <verificationMode>none</verificationMode>
      <loadDefaultCAFile>false</loadDefaultCAFile>
      <cacheSessions>true</cacheSessions>
      <disableProtocols>sslv2,sslv3,tlsv1,tlsv1_1</disableProtocols>
      <preferServerCiphers>true</preferServerCiphers>
    </server>
  </openSSL>
  <max_connections>256</max_connections>
  <keep_alive_timeout>10</keep_alive_timeout>
  <max_concurrent_queries>64</max_concurrent_queries>
  <uncompressed_cache_size>1073741824</uncompressed_cache_size>
  <mark_cache_size>268435456</mark_cache_size>
  <path>$data/</path>
  <tmp_path>$data/tmp/</tmp_path>
  <user_files_path>$data/user_files/</user_files_path>
  <format_schema_path>$data/format_schemas/</format_schema_path>
  <users_config>$home/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mlock_executable>false</mlock_executable>
  <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
  <max_session_timeout>3600</max_session_timeout>
  <default_session_timeout>60</default_session_timeout>
</yandex>
XML
  cat > "$home/users.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <profiles>
    <default>
      <max_memory_usage>4000000000</max_memory_usage>
      <load_balancing>random</load_balancing>
    </default>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
    <$tls_user>
      <password>$(cat "$tls_password_file")</password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </$tls_user>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
  </interval></default></quotas>
</yandex>
XML
}

running() {
  pid_alive "$pidfile" && port_open "$http_port"
}

start() {
  if running; then
    echo "clickhouse: already running at $address"
    return 0
  fi
  if pid_alive "$pidfile"; then
    stop_pid clickhouse "$pidfile" >/dev/null
  fi
  if port_open "$http_port" || port_open "$tcp_port" || port_open "$https_port"; then
    echo "clickhouse: port $http_port, $tcp_port or $https_port is taken by another process; set CLICKHOUSE_HTTP_PORT / CLICKHOUSE_TCP_PORT / CLICKHOUSE_HTTPS_PORT" >&2
    return 1
  fi
  install
  write_config
  echo "clickhouse: starting on $address (log: $log)"
  nohup clickhouse-server --config-file="$config" >> "$home/clickhouse.stdout.log" 2>&1 < /dev/null &
  echo $! > "$pidfile"
  ready() { [[ "$(curl -s --max-time 2 "$address/ping" 2>/dev/null)" == "Ok." ]]; }
  wait_ready clickhouse "$pidfile" "$home/clickhouse.err.log" 120 ready
  echo "clickhouse: ready at $address (HTTPS at https://127.0.0.1:$https_port)"
}

tls_env() {
  running || { echo "clickhouse: not running" >&2; return 1; }
  echo "export HELIXFLOW_CLICKHOUSE_HTTPS_URL=https://127.0.0.1:$https_port"
  echo "export HELIXFLOW_CLICKHOUSE_CA_FILE=$(test_certs)/ca.pem"
  echo "export HELIXFLOW_CLICKHOUSE_TLS_USER=$tls_user"
  echo "export HELIXFLOW_CLICKHOUSE_TLS_PASSWORD=$(cat "$tls_password_file")"
}

case "${1:-}" in
  start) start ;;
  stop) stop_pid clickhouse "$pidfile" ;;
  status)
    if running; then echo "$address"; else echo "clickhouse: not running" >&2; exit 1; fi ;;
  reset)
    running || { echo "clickhouse: not running" >&2; exit 1; }
    clickhouse-client --port "$tcp_port" --query "DROP DATABASE IF EXISTS helixflow"
    echo "clickhouse: database helixflow dropped" ;;
  log) echo "$log" ;;
  tls-env) tls_env ;;
  *) echo "usage: $0 start|stop|status|reset|log" >&2; exit 2 ;;
esac
