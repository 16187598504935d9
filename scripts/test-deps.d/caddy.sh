#!/usr/bin/env bash
# Caddy for the forward-auth integration test (tests/gateway.rs, which runs
# examples/caddy/Caddyfile), from Debian's package when missing.
set -euo pipefail
. "$(dirname "$0")/../common.sh"
if command -v caddy >/dev/null 2>&1 || [ -x /usr/bin/caddy ]; then
  exit 0
fi
apt_install caddy caddy
