#!/usr/bin/env bash
# One command for the peer benchmark (docs/benchmarks.md): sets up the
# pinned peers in a virtual environment (idempotent), builds Helixflow in
# release mode, then runs benches/peers/run.py with any arguments given
# (--scale [--realistic] or --input FILE, --runs, --mem-cap-gib, --time-limit, --engines, --json,
# --incremental).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${HELIXFLOW_PEERS_VENV:-$HOME/.cache/helixflow-peers/venv}"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  echo "peers: installing $(grep -v '^#' "$here/requirements.txt" | xargs) into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  echo "$want" > "$stamp"
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/helixflow-target}"
(cd "$root" && cargo build --release --quiet --bin helixflow \
  && cargo build --release --quiet -p helixflow-benches --bin incremental-bench)
exec "$venv/bin/python" "$here/run.py" --python "$venv/bin/python" \
  --helixflow "$CARGO_TARGET_DIR/release/helixflow" \
  --incremental-bench "$CARGO_TARGET_DIR/release/incremental-bench" "$@"
