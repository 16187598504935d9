#!/usr/bin/env bash
# The mail tests run a real SMTP server, tests/support/smtp_sink.py, which
# needs python3 (standard library only).
set -euo pipefail
. "$(dirname "$0")/../common.sh"
if command -v python3 >/dev/null 2>&1; then
  exit 0
fi
apt_install python3 python3
