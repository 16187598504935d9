#!/usr/bin/env bash
# Headless Chromium and its WebDriver for the browser tests (tests/browser.rs),
# from Debian's packages when missing.
set -euo pipefail
if command -v chromedriver >/dev/null 2>&1 && { command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; }; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: chromium and chromedriver are missing and apt-get is unavailable; install chromium and chromium-driver yourself" >&2
  exit 1
fi
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
if ! { "${sudo_cmd[@]}" apt-get update -qq >/dev/null &&
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null; }; then
  echo "error: could not install chromium with apt-get (try: apt-get install chromium chromium-driver)" >&2
  exit 1
fi
