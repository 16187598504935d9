#!/usr/bin/env bash
# scripts/run.sh — `make run`: PostgreSQL + Redis (database `tessera`), release
# build, migrations, a development signing key under .dev/keys, then serve.
# Extra arguments go to `tessera serve` (e.g. --config FILE).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

export TESSERA_PROFILE=run
. scripts/services.sh || exit 1        # exports DATABASE_URL, REDIS_URL (see that file)

log "building (cargo build --release)"
cargo build --release || die "cargo build --release failed (see the compiler output above)"
bin=$(tessera_bin release)

# Absolute path, so the binary finds the keys whatever its working directory.
export TESSERA__JWT__KEYS_DIR="$TESSERA_ROOT/.dev/keys"

"$bin" migrate || die "tessera migrate failed against $DATABASE_URL"
mkdir -p "$TESSERA__JWT__KEYS_DIR"
if ! compgen -G "$TESSERA__JWT__KEYS_DIR/*.pem" >/dev/null; then
  log "no signing key yet; generating one in .dev/keys"
  "$bin" keys generate || die "tessera keys generate failed"
fi

# One rotation secret for every run, so a refresh retried across a restart
# still gets its successor.
secret_file="$TESSERA_ROOT/.dev/rotation_secret"
if [ ! -s "$secret_file" ]; then
  (umask 077 && head -c 48 /dev/urandom | base64 -w0 >"$secret_file")
fi
TESSERA__SESSION__ROTATION_SECRET=$(cat "$secret_file")
export TESSERA__SESSION__ROTATION_SECRET

url="http://${TESSERA__SERVER__BIND:-127.0.0.1:8000}"
log "serving on $url  (Swagger UI: $url/docs; Ctrl-C to stop)"
exec "$bin" serve "$@"
