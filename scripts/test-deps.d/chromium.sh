#!/usr/bin/env bash
# Headless Chromium and its WebDriver for the browser tests (tests/browser.rs),
# from Debian's packages when missing.
set -euo pipefail
. "$(dirname "$0")/../common.sh"
if command -v chromedriver >/dev/null 2>&1 && { command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; }; then
  exit 0
fi
apt_install "chromium and chromedriver" chromium chromium-driver
