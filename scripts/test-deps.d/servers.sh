#!/usr/bin/env bash
# redis-server, redis-cli and PostgreSQL's initdb/pg_ctl for the tests that
# run their own servers (tests/faults.rs, tests/instances_and_redis_cluster.rs: outages, AOF
# restarts, a Redis Cluster), from Debian's packages when missing.
set -euo pipefail
. "$(dirname "$0")/../common.sh"
packages=()
command -v redis-server >/dev/null 2>&1 || packages+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || packages+=(redis-tools)
compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null || packages+=(postgresql)
if [ "${#packages[@]}" -eq 0 ]; then
  exit 0
fi
apt_install "${packages[*]}" "${packages[@]}"
