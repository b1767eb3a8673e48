#!/usr/bin/env bash
# The runbook's smoke validation: `scripts/ci/run_smoke.sh --env=staging|local [raptor smoke options]`.
#   staging: https://api-staging.raxx.app, expects PostgreSQL.
#   local:   http://localhost:${PORT:-8000}, either database.
# The billing step needs an admin: export RAPTOR_SMOKE_BOOTSTRAP_TOKEN (from
# `raptor admin bootstrap-token`, run against the same database).
set -euo pipefail
env_name=""
args=()
for arg in "$@"; do
  case "$arg" in
    --env=*) env_name="${arg#--env=}" ;;
    *) args+=("$arg") ;;
  esac
done
case "$env_name" in
  staging) base="${RAPTOR_SMOKE_BASE_URL:-https://api-staging.raxx.app}"; args+=(--expect-db postgresql) ;;
  local) base="${RAPTOR_SMOKE_BASE_URL:-http://localhost:${PORT:-8000}}" ;;
  *) echo "usage: $0 --env=staging|local [raptor smoke options]" >&2; exit 2 ;;
esac
raptor=${RAPTOR_BIN:-$(command -v raptor || echo "$(dirname "$0")/../../target/release/raptor")}
exec "$raptor" smoke --base-url "$base" "${args[@]}"
