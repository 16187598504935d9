#!/usr/bin/env bash
# nginx for the forward-auth integration test (tests/gateway.rs), from
# Debian's packages when missing.
set -euo pipefail
. "$(dirname "$0")/../common.sh"
if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
  exit 0
fi
apt_install nginx nginx
