#!/usr/bin/env bash
# The mail tests run a real SMTP server, tests/support/smtp_sink.py, which
# needs python3 (standard library only).
set -euo pipefail

if command -v python3 >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: python3 is missing (the SMTP test server needs it); install it with your package manager" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq python3; } >/dev/null; then
    echo "error: could not install python3 with apt-get (needed by the SMTP test server)" >&2
    exit 1
fi
