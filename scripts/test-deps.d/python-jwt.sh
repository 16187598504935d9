#!/usr/bin/env bash
# PyJWT (with its crypto extra, for EdDSA) for the independent JWT check in
# tests/oauth.rs, from PyPI when missing.
set -euo pipefail
python=${PYTHON:-python3}
if ! command -v "$python" >/dev/null 2>&1; then
  echo "error: $python is missing; install Python 3 (e.g. apt-get install python3 python3-pip)" >&2
  exit 1
fi
if "$python" -c 'import jwt, cryptography' >/dev/null 2>&1; then
  exit 0
fi
if ! "$python" -m pip install --quiet "pyjwt[crypto]>=2.8" >/dev/null 2>&1 &&
  ! "$python" -m pip install --quiet --break-system-packages "pyjwt[crypto]>=2.8" >/dev/null; then
  echo "error: could not install PyJWT (try: $python -m pip install 'pyjwt[crypto]')" >&2
  exit 1
fi
