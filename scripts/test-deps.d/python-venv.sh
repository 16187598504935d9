#!/usr/bin/env bash
# The suite's own virtualenv, $TESSERA_VENV (default .dev/venv), with the
# Python test clients of tests/python/requirements.txt (authlib, PyJWT,
# requests, cryptography) from PyPI, for the tests that drive tessera with
# third-party libraries (tests/oauth_authlib.rs). Made with `python3 -m venv`
# when missing; pip runs again only when the requirements file changed (the
# venv keeps a copy of the one it installed).
set -euo pipefail
. "$(dirname "$0")/../common.sh"
venv=${TESSERA_VENV:-$DEV_DIR/venv}
requirements="$TESSERA_ROOT/tests/python/requirements.txt"
installed="$venv/tessera-requirements.txt"
python="$venv/bin/python"

usable() { [ -x "$python" ] && "$python" -m pip --version >/dev/null 2>&1; }

if usable && cmp -s "$requirements" "$installed"; then
  exit 0
fi
command -v python3 >/dev/null 2>&1 || apt_install python3 python3
if ! usable; then
  # Never empty a folder that is not a virtualenv (TESSERA_VENV may name anything).
  if [ -e "$venv" ] && [ ! -e "$venv/pyvenv.cfg" ] && [ -n "$(ls -A "$venv" 2>/dev/null)" ]; then
    die "$venv is not empty and not a virtualenv; remove it or set TESSERA_VENV"
  fi
  mkdir -p "$(dirname "$venv")"
  log "making the test virtualenv ($venv)"
  # Debian's python3 ships venv's pip bootstrap (ensurepip) in python3-venv.
  if ! python3 -m venv --clear "$venv" >/dev/null 2>&1; then
    apt_install "python3's venv module" python3-venv
    python3 -m venv --clear "$venv" >/dev/null || die "python3 -m venv $venv failed"
  fi
fi
mkdir -p "$DEV_DIR"
log "installing the Python test clients into $venv (log: .dev/venv-pip.log)"
"$python" -m pip install --disable-pip-version-check --quiet -r "$requirements" \
  >"$DEV_DIR/venv-pip.log" 2>&1 ||
  die "could not install the Python test clients (see .dev/venv-pip.log; try: $python -m pip install -r tests/python/requirements.txt)"
cp "$requirements" "$installed"
