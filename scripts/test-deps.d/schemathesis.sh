#!/usr/bin/env bash
# schemathesis (tests/schemathesis.rs fuzzes the API from /openapi.json) and
# openapi-spec-validator (tests/openapi.rs validates the document), from PyPI
# when missing. Pinned so a new release cannot change what the tests check.
set -euo pipefail
python=${PYTHON:-python3}
schemathesis_version=4.32.5
validator_version=0.7.2
if ! command -v "$python" >/dev/null 2>&1; then
  echo "error: $python is missing; install Python 3.9+ (e.g. apt-get install python3 python3-pip)" >&2
  exit 1
fi
installed() {
  "$python" -c "import importlib.metadata as m, sys; sys.exit(m.version('$1') != '$2')" >/dev/null 2>&1
}
if installed schemathesis "$schemathesis_version" && installed openapi-spec-validator "$validator_version"; then
  exit 0
fi
packages=("schemathesis==$schemathesis_version" "openapi-spec-validator==$validator_version")
if ! "$python" -m pip install --quiet "${packages[@]}" >/dev/null 2>&1 &&
  ! "$python" -m pip install --quiet --break-system-packages "${packages[@]}" >/dev/null; then
  echo "error: could not install schemathesis / openapi-spec-validator (try: $python -m pip install ${packages[*]})" >&2
  exit 1
fi
