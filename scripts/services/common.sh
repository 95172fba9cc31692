# Shared helpers for scripts/services/*.sh (sourced, not run).
# Each service keeps its cached downloads and its running state under
# $HELIXFLOW_SERVICES_DIR (default ~/.cache/helixflow-services/<service>),
# outside the clone, so a fresh clone on the same machine reuses them.

services_root="${HELIXFLOW_SERVICES_DIR:-$HOME/.cache/helixflow-services}"

# port_open PORT: true if something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# pid_alive PIDFILE: true if the file names a running process.
pid_alive() {
  [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

# stop_pid NAME PIDFILE: TERM, wait up to 30 s, then KILL; removes the file.
stop_pid() {
  local name="$1" pidfile="$2" pid
  if ! pid_alive "$pidfile"; then
    rm -f "$pidfile"
    echo "$name: not running"
    return 0
  fi
  pid="$(cat "$pidfile")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "$name: did not stop within 30 s; killing it" >&2
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  echo "$name: stopped"
}

# show_log_tail NAME LOG: the last lines of a service log, for failures.
show_log_tail() {
  echo "---- last 40 lines of $2 ----" >&2
  tail -n 40 "$2" >&2 || true
  echo "---- end of $1 log ----" >&2
}

# maven_fetch NAME POM LIBS: copies POM's runtime dependencies from Maven
# Central into LIBS, once per POM content (a stamp file), with retries.
maven_fetch() {
  local name="$1" pom="$2" libs="$3" attempt
  local stamp="$libs/.fetched-$(sha256sum "$pom" | cut -c1-16)"
  [[ -f "$stamp" ]] && return 0
  echo "$name: fetching jars from Maven Central into $libs"
  rm -rf "$libs"
  mkdir -p "$libs"
  for attempt in 1 2 3; do
    if mvn -q -B -f "$pom" dependency:copy-dependencies \
         -DincludeScope=runtime -DoutputDirectory="$libs"; then
      touch "$stamp"
      return 0
    fi
    echo "$name: Maven fetch failed (attempt $attempt of 3); retrying" >&2
    sleep $((attempt * 5))
  done
  echo "$name: could not fetch the jars from Maven Central" >&2
  return 1
}

# log_lines LOG: the number of lines LOG has now (0 if absent), to pass to
# log_since and look only at what a new process writes.
log_lines() {
  if [[ -f "$1" ]]; then wc -l < "$1"; else echo 0; fi
}

# log_since LOG LINES PATTERN: true if LOG, after its first LINES lines, matches PATTERN.
log_since() {
  tail -n +"$(($2 + 1))" "$1" 2>/dev/null | grep -q "$3"
}

# wait_ready NAME PIDFILE LOG SECONDS CHECK...: waits until the command
# CHECK... succeeds, failing (with the log's tail) if the process in PIDFILE
# exits or SECONDS pass.
wait_ready() {
  local name="$1" pidfile="$2" log="$3" seconds="$4"
  shift 4
  local _
  for _ in $(seq 1 $((seconds * 5))); do
    if ! pid_alive "$pidfile"; then
      echo "$name: the process exited during start-up" >&2
      show_log_tail "$name" "$log"
      return 1
    fi
    if "$@"; then
      return 0
    fi
    sleep 0.2
  done
  echo "$name: not ready after $seconds s" >&2
  show_log_tail "$name" "$log"
  return 1
}

# test_certs: a test CA and one server certificate for 127.0.0.1/localhost
# signed by it, made once with openssl under $services_root/tls and shared
# by every service that offers TLS (Kafka's SASL_SSL listener, ClickHouse's
# HTTPS port, Neo4j's bolt+s). Prints the directory: ca.pem, server.pem,
# server.key (PKCS#8, unencrypted), server.p12 (password in p12.password).
test_certs() {
  local dir="$services_root/tls"
  if [[ ! -f "$dir/server.p12" ]]; then
    mkdir -p "$dir"
    (
      cd "$dir"
      openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -keyout ca.key -out ca.pem \
        -subj "/CN=Helixflow test CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
      openssl req -newkey rsa:2048 -nodes -sha256 -keyout server.key -out server.csr \
        -subj "/CN=localhost" 2>/dev/null
      printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
        "keyUsage=digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" > server.ext
      openssl x509 -req -sha256 -days 3650 -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
        -extfile server.ext -out server.pem 2>/dev/null
      openssl rand -hex 16 > p12.password
      openssl pkcs12 -export -in server.pem -inkey server.key -certfile ca.pem -name server \
        -out server.p12.tmp -passout "file:p12.password"
      chmod 600 ca.key server.key server.p12.tmp p12.password
      mv server.p12.tmp server.p12
    ) >&2 || { echo "test_certs: openssl failed in $dir" >&2; return 1; }
  fi
  echo "$dir"
}

# apt_install NAME [APT-OPTION...] PACKAGE...: installs Debian packages (sudo when not
# root), retrying while another process holds apt's lock; a package that
# starts a system service of its own (prometheus) has it stopped: the
# project's scripts run their own.
apt_install() {
  local name="$1" attempt
  shift
  local sudo=()
  [[ "$(id -u)" != 0 ]] && sudo=(sudo)
  echo "$name: installing Debian's $*"
  for attempt in 1 2 3 4 5; do
    if "${sudo[@]}" apt-get update -q >/dev/null &&
       DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q "$@" >/dev/null; then
      if [[ " $* " == *" prometheus "* ]]; then
        "${sudo[@]}" systemctl disable --now prometheus >/dev/null 2>&1 || true
        pkill -x -f "/usr/bin/prometheus" >/dev/null 2>&1 || true
      fi
      return 0
    fi
    echo "$name: apt-get failed (attempt $attempt of 5); retrying" >&2
    sleep $((attempt * 5))
  done
  echo "$name: could not install $* from Debian's packages" >&2
  return 1
}
