#!/usr/bin/env bash
# Locust (tests/loadtest.rs runs examples/loadtest/locustfile.py against the
# real server for a few seconds), from PyPI when missing. Pinned so a new
# release cannot change what the test checks.
set -euo pipefail
python=${PYTHON:-python3}
locust_version=2.47.0
if ! command -v "$python" >/dev/null 2>&1; then
  echo "error: $python is missing; install Python 3.10+ (e.g. apt-get install python3 python3-pip)" >&2
  exit 1
fi
if "$python" -c "import importlib.metadata as m, sys; sys.exit(m.version('locust') != '$locust_version')" >/dev/null 2>&1; then
  exit 0
fi
package="locust==$locust_version"
if ! "$python" -m pip install --quiet "$package" >/dev/null 2>&1 &&
  ! "$python" -m pip install --quiet --break-system-packages "$package" >/dev/null; then
  echo "error: could not install Locust (try: $python -m pip install $package)" >&2
  exit 1
fi
