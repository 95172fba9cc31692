# Sourced by scripts/test.sh: a cached virtual environment with the pinned
# independent clients of scripts/check/requirements.txt; sets $check_python.
check_venv="${HELIXFLOW_SERVICES_DIR:-$HOME/.cache/helixflow-services}/check-venv"
check_stamp="$check_venv/.installed-$(sha256sum scripts/check/requirements.txt | cut -c1-16)"
if [[ ! -f "$check_stamp" ]]; then
  rm -rf "$check_venv"
  python3 -m venv "$check_venv"
  for attempt in 1 2 3; do
    "$check_venv/bin/pip" install -q --disable-pip-version-check -r scripts/check/requirements.txt && break
    [[ "$attempt" == 3 ]] && { echo "pip install of scripts/check/requirements.txt failed" >&2; exit 1; }
    sleep $((attempt * 5))
  done
  touch "$check_stamp"
fi
check_python="$check_venv/bin/python"
