#!/usr/bin/env bash
# nginx for the forward-auth integration test (tests/gateway.rs), from
# Debian's packages when missing.
set -euo pipefail
if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: nginx is missing and apt-get is unavailable; install nginx (or nginx-light) yourself" >&2
  exit 1
fi
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
if ! { "${sudo_cmd[@]}" apt-get update -qq >/dev/null &&
  { "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends nginx-light >/dev/null 2>&1 ||
    "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends nginx >/dev/null; }; }; then
  echo "error: could not install nginx with apt-get (try: apt-get install nginx)" >&2
  exit 1
fi
