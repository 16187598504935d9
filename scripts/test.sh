#!/usr/bin/env bash
# scripts/test.sh — `make test`: PostgreSQL + Redis with a fresh `tessera_test`
# database (dropped and recreated each run), debug build, migrations, then every
# test. Extra arguments go to the test binaries (e.g. a test-name filter).
# Exits with cargo test's status.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

export TESSERA_PROFILE=test
. scripts/services.sh || exit 1        # exports DATABASE_URL, REDIS_URL (see that file)

# The suite's own virtualenv for the Python test clients (authlib, PyJWT, ...):
# scripts/test-deps.d/python-venv.sh makes it, the tests run its bin/python.
export TESSERA_VENV="${TESSERA_VENV:-$DEV_DIR/venv}"

# Test-only system dependencies (nginx, Python packages, ...): one idempotent
# script per topic, each installing only what is missing.
for deps in scripts/test-deps.d/*.sh; do
  [ -e "$deps" ] || continue
  bash "$deps" || die "test dependency set-up failed: $deps"
done

log "building (cargo build)"
cargo build || die "cargo build failed (see the compiler output above)"
"$(tessera_bin debug)" migrate || die "tessera migrate failed against $DATABASE_URL"

log "running tests (cargo test --workspace --all-targets: tessera and tessera-verify)"
exec cargo test --workspace --all-targets -- --test-threads=8 "$@"
