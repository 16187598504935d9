#!/usr/bin/env bash
# redis-server, redis-cli and PostgreSQL's initdb/pg_ctl for the tests that
# run their own servers (tests/faults.rs, tests/instances_and_redis_cluster.rs: outages, AOF
# restarts, a Redis Cluster), from Debian's packages when missing.
set -euo pipefail
packages=()
command -v redis-server >/dev/null 2>&1 || packages+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || packages+=(redis-tools)
compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null || packages+=(postgresql)
if [ "${#packages[@]}" -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: ${packages[*]} missing and apt-get is unavailable; install them yourself" >&2
  exit 1
fi
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
if ! { "${sudo_cmd[@]}" apt-get update -qq >/dev/null &&
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null; }; then
  echo "error: could not install ${packages[*]} with apt-get (try: apt-get install ${packages[*]})" >&2
  exit 1
fi
