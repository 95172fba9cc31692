#!/usr/bin/env bash
# schemathesis (pinned in scripts/check/requirements.txt) over a live
# engine's API: every operation of GET /v1/openapi.json, every check
# (no 5xx, status codes, content types, headers and bodies conform to the
# document, schema-violating requests refused), with the exceptions and
# test ids of scripts/check/schemathesis.toml.
#
#   scripts/check/api_schema.sh HOST:PORT [MAX_EXAMPLES]
#
# Ids for the id routes come from the engine's own views (the first
# conversation, debate, provider and entity). Exit 1 on any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
addr="${1:?usage: api_schema.sh HOST:PORT [MAX_EXAMPLES]}"
examples="${2:-50}"
# shellcheck source=python_env.sh
source scripts/check/python_env.sh
first() { # first VIEW FIELD: a field of the view's first row
  curl -fsS "http://$addr/v1/views/$1?limit=1" | python3 -c "import json,sys; print(json.loads(sys.stdin.readline())['$2'])"
}
HF_CONVERSATION="$(first conversation_snapshots conversation_id)"
HF_DEBATE="$(first debate_stats debate_id)"
HF_PROVIDER="$(first provider_stats provider)"
HF_ENTITY="$(first entity_directory id)"
export HF_CONVERSATION HF_DEBATE HF_PROVIDER HF_ENTITY
"$(dirname "$check_python")/schemathesis" --config-file scripts/check/schemathesis.toml --no-color \
  run "http://$addr/v1/openapi.json" -n "$examples" --seed 1 --workers 2
