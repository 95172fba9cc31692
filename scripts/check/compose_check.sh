#!/usr/bin/env bash
# Validates the deployment files without a Docker engine:
#   - docker-compose.bigdata.yml with `docker-compose config` (Debian's
#     docker-compose, installed once), with placeholder secrets, and that it
#     refuses to start without them;
#   - deploy/prometheus/prometheus.yml with `promtool check config` (paths
#     inside the container mapped to the repo's files), the alert rules with
#     `promtool check rules`, and their thresholds with `promtool test rules`
#     (deploy/prometheus/alerts_test.yml);
#   - the Grafana dashboard and its provisioning (dashboard_check.py);
#   - with a helixflow binary as its argument, the cluster topology the
#     compose file runs (deploy/helixflow/cluster.toml), for each process,
#     with the compose file's environment.
#
#   scripts/check/compose_check.sh [HELIXFLOW_BINARY]
#
# Exit 1 with the reason on the first problem.
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source=../services/common.sh
source scripts/services/common.sh

install() {
  local missing=()
  command -v docker-compose >/dev/null || missing+=(docker-compose)
  command -v promtool >/dev/null || missing+=(prometheus)
  [[ ${#missing[@]} == 0 ]] || apt_install "compose check" --no-install-recommends "${missing[@]}"
}

install
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# The file names every secret as a required variable: without them it must
# refuse, with them it must be valid.
secrets=(CLICKHOUSE_PASSWORD NEO4J_PASSWORD S3_ACCESS_KEY S3_SECRET_KEY HELIXFLOW_API_TOKEN GRAFANA_ADMIN_PASSWORD)
if env -u "${secrets[0]}" docker-compose -f docker-compose.bigdata.yml config -q >/dev/null 2>"$scratch/err"; then
  echo "compose check: docker-compose.bigdata.yml starts without ${secrets[0]}" >&2
  exit 1
fi
grep -q "set ${secrets[0]}" "$scratch/err" || { cat "$scratch/err" >&2; exit 1; }
placeholders=()
for s in "${secrets[@]}"; do placeholders+=("$s=placeholder-$s"); done
env "${placeholders[@]}" docker-compose -f docker-compose.bigdata.yml config -q
services="$(env "${placeholders[@]}" docker-compose -f docker-compose.bigdata.yml config --services | sort | tr '\n' ' ')"
for s in kafka kafka-init clickhouse neo4j minio minio-init helixflow-0 helixflow-1 prometheus grafana; do
  [[ " $services " == *" $s "* ]] || { echo "compose check: no service $s (has: $services)" >&2; exit 1; }
done
echo "compose check: docker-compose.bigdata.yml is valid: $services"

# Prometheus reads its rules and the API token at container paths.
printf placeholder > "$scratch/helixflow_api_token"
cp deploy/prometheus/alerts.yml "$scratch/alerts.yml"
sed -e "s#/etc/prometheus/alerts.yml#$scratch/alerts.yml#" \
    -e "s#/run/secrets/helixflow_api_token#$scratch/helixflow_api_token#" \
    deploy/prometheus/prometheus.yml > "$scratch/prometheus.yml"
promtool check config "$scratch/prometheus.yml"
promtool check rules deploy/prometheus/alerts.yml
(cd deploy/prometheus && promtool test rules alerts_test.yml)

python3 scripts/check/dashboard_check.py check

if [[ -n "${1:-}" ]]; then
  for process in 0 1; do
    env "${placeholders[@]}" HELIXFLOW_PROCESS=$process CLICKHOUSE_USER=helixflow NEO4J_USER=neo4j \
      "$1" validate deploy/helixflow/cluster.toml > "$scratch/validate.txt"
  done
  echo "compose check: deploy/helixflow/cluster.toml is a valid topology for both processes"
fi
