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
