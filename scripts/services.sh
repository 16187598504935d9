#!/usr/bin/env bash
# scripts/services.sh — make PostgreSQL and Redis available for tessera and
# export DATABASE_URL and REDIS_URL.
#
# Usage
#   source scripts/services.sh        # sets/exports DATABASE_URL, REDIS_URL in the caller
#   eval "$(scripts/services.sh)"     # same thing: prints `export ...` lines on stdout
#   scripts/services.sh status        # what is running under .dev/
#   scripts/services.sh stop          # stop only the servers this project started under .dev/
#   scripts/services.sh clean         # stop them and delete .dev/
#
# Inputs (all optional)
#   TESSERA_PROFILE=run|test   which database to prepare (default: run)
#   TESSERA_DB_NAME            explicit database name (overrides the rules below)
#   DATABASE_URL, REDIS_URL    servers to use when they are reachable
#
# Which servers
#   PostgreSQL: 1. $DATABASE_URL, if set and reachable (psql `select 1`);
#               2. if DATABASE_URL is unset: postgres://postgres@127.0.0.1:5432 if reachable;
#               3. otherwise a private server in .dev/pg (initdb'd and run as the `postgres`
#                  user, trust auth, 127.0.0.1 on port 55432 or the next free one (a restart
#                  keeps the previous port while it is free), socket in
#                  .dev/pg/run, log .dev/pg.log). Debian's `postgresql` package is installed
#                  when the server binaries are missing. Later invocations reuse it.
#   Redis:      the same: $REDIS_URL -> redis://127.0.0.1:6379 -> a private redis-server
#               (port 56379 or next free, AOF on, data .dev/redis, .dev/redis.{pid,log,port}).
#   A DATABASE_URL/REDIS_URL that is set but unreachable gets a warning and goes straight
#   to the private server (it is never silently replaced by the shared default).
#   Where neither packages can be installed nor binaries exist but a Docker engine runs,
#   `docker compose up postgres redis` (ports 127.0.0.1:15432 / :16379) is used instead.
#   Shared servers are only ever connected to: never started, stopped or reconfigured.
#
# Which database (on the chosen PostgreSQL server)
#   run:  the database named in a reachable $DATABASE_URL, else `tessera`. Created if missing.
#   test: `<that name>_test` (kept as is if it already ends in _test), else `tessera_test`.
#         Dropped and recreated on every test run so tests start clean; a database whose
#         name does not end in `_test` is never dropped, so tests cannot wipe a dev database.
#   TESSERA_DB_NAME overrides the name in both profiles (test still requires the _test suffix).
# Redis: for test, when the server is the shared default or our private one and the URL
#   names no logical database, logical DB 1 is used so test keys never mix with dev (DB 0).

# --- sourced: run in a child bash (so errors and `set` options don't leak into the
# caller) and import the exports it prints.
if [ "${BASH_SOURCE[0]}" != "$0" ]; then
  __tessera_services_env=$(bash "${BASH_SOURCE[0]}" env) || return
  eval "$__tessera_services_env"
  unset __tessera_services_env
  return 0
fi

set -euo pipefail
# shellcheck source=scripts/common.sh
. "$(dirname "$0")/common.sh"

PROFILE=${TESSERA_PROFILE:-run}
case "$PROFILE" in run|test) ;; *) die "TESSERA_PROFILE must be 'run' or 'test', not '$PROFILE'" ;; esac

OWN_PG_PORT=55432       # preferred ports for servers we start ourselves
OWN_REDIS_PORT=56379
WAIT_SECS=30            # bound on every wait loop

# ---------------------------------------------------------------- helpers

# Split a URL scheme://authority/path?query into U_SCHEME U_AUTH U_PATH U_QUERY.
url_split() {
  local rest
  U_SCHEME=${1%%://*}; rest=${1#*://}
  U_QUERY=""
  if [[ $rest == *\?* ]]; then U_QUERY="?${rest#*\?}"; rest=${rest%%\?*}; fi
  U_AUTH=${rest%%/*}
  U_PATH=""
  if [[ $rest == */* ]]; then U_PATH=${rest#*/}; fi
}

# Is something listening on 127.0.0.1:PORT? (bash's /dev/tcp; no ss/netstat needed)
# shellcheck disable=SC2016  # $0 is expanded by the inner bash
port_in_use() { timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "$1" 2>/dev/null; }

# pick_port PREFERRED... — first free port among the arguments, then PREFERRED+1..+100.
pick_port() {
  local p last=$1
  for p in "$@"; do
    [ -n "$p" ] || continue
    port_in_use "$p" || { echo "$p"; return; }
    last=$p
  done
  for p in $(seq $((last + 1)) $((last + 100))); do
    port_in_use "$p" || { echo "$p"; return; }
  done
  die "no free TCP port near $1 on 127.0.0.1"
}

pg_ok() {  # can we run a query at this URL? (never prompts for a password)
  PGCONNECT_TIMEOUT=5 timeout 10 psql -X -w -q -At -d "$1" -c 'select 1' >/dev/null 2>&1
}

redis_ok() {
  local tls=() out
  [[ $1 == rediss://* ]] && tls=(--tls)
  out=$(timeout 5 redis-cli "${tls[@]}" --no-auth-warning -u "$1" ping 2>/dev/null) || return 1
  [ "$out" = PONG ]
}

docker_ok() {
  command -v docker >/dev/null 2>&1 &&
    timeout 10 docker info >/dev/null 2>&1 &&
    timeout 10 docker compose version >/dev/null 2>&1
}

# Start postgres+redis from docker-compose.yml (only when nothing else is possible).
compose_up() {
  log "starting PostgreSQL and Redis with docker compose (no system packages available)"
  touch "$DEV_DIR/compose-started"
  timeout 180 docker compose -f "$TESSERA_ROOT/docker-compose.yml" up -d --wait postgres redis \
    >>"$DEV_DIR/compose.log" 2>&1 || die "docker compose up postgres redis failed (see .dev/compose.log)"
}

# --------------------------------------------------------- own PostgreSQL

# Run a command as the postgres user when we are root (postgres refuses to run as
# root); from / so a 0700 working directory (e.g. /root) does not get in the way.
as_pg() {
  if is_root; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# Where our cluster lives. Normally .dev/pg; if the postgres user cannot reach the
# clone (e.g. it sits under root's 0700 home) use /var/tmp and leave a symlink.
pg_home() {
  if [ -L "$DEV_DIR/pg" ] || [ -d "$DEV_DIR/pg" ]; then
    readlink -f "$DEV_DIR/pg"; return
  fi
  if is_root && ! as_pg test -x "$DEV_DIR"; then
    local alt
    alt="/var/tmp/tessera-dev-$(printf '%s' "$TESSERA_ROOT" | sha256sum | cut -c1-12)"
    mkdir -p "$alt/pg"; chmod 755 "$alt"
    ln -sfn "$alt/pg" "$DEV_DIR/pg"
    log "postgres user cannot reach $DEV_DIR; cluster lives in $alt/pg (symlinked)"
    echo "$alt/pg"; return
  fi
  echo "$DEV_DIR/pg"
}

# Directory with initdb/pg_ctl/postgres: the version that made an existing cluster,
# else the newest installed one.
pg_bindir() {
  local data=$1 v d
  if [ -f "$data/PG_VERSION" ]; then
    v=$(cat "$data/PG_VERSION")
    [ -x "/usr/lib/postgresql/$v/bin/postgres" ] && { echo "/usr/lib/postgresql/$v/bin"; return; }
    d=$(dirname "$(command -v postgres 2>/dev/null || echo /nonexistent/x)")
    [ -x "$d/postgres" ] && [ "$("$d/postgres" -V | grep -o '[0-9]*' | head -1)" = "$v" ] && { echo "$d"; return; }
    return 1
  fi
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
  [ -n "$d" ] && [ -x "$d/postgres" ] && { echo "$d"; return; }
  d=$(dirname "$(command -v postgres 2>/dev/null || echo /nonexistent/x)")
  [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && { echo "$d"; return; }
  return 1
}

# Start (or reuse) our private cluster; sets PG_SERVER to scheme://authority.
start_own_pg() {
  local home data sock logf bin port prev status
  home=$(pg_home); data="$home/data"; sock="$home/run"; logf="$(dirname "$home")/pg.log"

  if ! bin=$(pg_bindir "$data"); then
    if [ -f "$data/PG_VERSION" ]; then
      die "the PostgreSQL $(cat "$data/PG_VERSION") server that created .dev/pg is not installed; install it with: apt-get install -y postgresql-$(cat "$data/PG_VERSION") (or run: make clean-dev)"
    fi
    if ! can_apt_install && docker_ok; then compose_up; PG_SERVER="postgres://tessera:tessera@127.0.0.1:${TESSERA_PG_HOST_PORT:-15432}"; return; fi
    apt_install "the PostgreSQL server" postgresql
    bin=$(pg_bindir "$data") || die "PostgreSQL server binaries still missing after installing 'postgresql'; install them with: apt-get install -y postgresql"
  fi
  if is_root; then
    id postgres >/dev/null 2>&1 ||
      die "system user 'postgres' missing (PostgreSQL refuses to run as root); create it with: useradd --system --home /var/lib/postgresql postgres"
  fi

  mkdir -p "$home" "$sock"
  touch "$logf"
  is_root && chown postgres: "$home" "$sock" "$logf" && chmod 700 "$home"
  [ "$logf" = "$DEV_DIR/pg.log" ] || ln -sfn "$logf" "$DEV_DIR/pg.log"

  if [ ! -f "$data/PG_VERSION" ]; then
    log "creating a PostgreSQL cluster in .dev/pg ($("$bin/postgres" -V))"
    rm -rf "$data"; mkdir -p "$data"; is_root && chown postgres: "$data"
    as_pg "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --no-locale >>"$logf" 2>&1 ||
      die "initdb failed (see .dev/pg.log)"
    echo "include_if_exists = 'tessera.conf'" >>"$data/postgresql.conf"
  fi

  status=0; as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1 || status=$?
  if [ "$status" -eq 0 ]; then
    port=$(sed -n 4p "$data/postmaster.pid")      # line 4 of postmaster.pid = port
    log "reusing PostgreSQL from .dev/pg on 127.0.0.1:$port"
  else
    prev=$(sed -n "s/^port = \([0-9]*\)$/\1/p" "$data/tessera.conf" 2>/dev/null || true)
    port=$(pick_port "$prev" "$OWN_PG_PORT")
    # Socket paths are limited to 107 bytes; a deep clone gets TCP only.
    local sockdir=$sock; [ $(( ${#sock} + 20 )) -lt 107 ] || sockdir=""
    cat >"$data/tessera.conf" <<CONF
# written by scripts/services.sh — development settings, rewritten at every start
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sockdir'
max_connections = 300          # parallel tests each open a pool
synchronous_commit = off       # dev/test speed; a crash loses at most the last moments
CONF
    is_root && chown postgres: "$data/tessera.conf"
    log "starting PostgreSQL in .dev/pg on 127.0.0.1:$port (log: .dev/pg.log)"
    # 9>&-: the server must not inherit our lock descriptor (it would hold the lock forever)
    as_pg "$bin/pg_ctl" -D "$data" -l "$logf" -w -t "$WAIT_SECS" start >/dev/null 2>&1 9>&- ||
      die "PostgreSQL in .dev/pg did not start within ${WAIT_SECS}s (see .dev/pg.log)"
  fi

  PG_SERVER="postgres://postgres@127.0.0.1:$port"
  local i
  for ((i = 0; i < WAIT_SECS; i++)); do pg_ok "$PG_SERVER/postgres" && return; sleep 1; done
  die "PostgreSQL in .dev/pg on port $port does not answer queries (see .dev/pg.log)"
}

stop_own_pg() {
  [ -e "$DEV_DIR/pg" ] || return 0
  local data bin
  data="$(readlink -f "$DEV_DIR/pg")/data"
  [ -f "$data/PG_VERSION" ] || return 0
  bin=$(pg_bindir "$data") || { warn "cannot find pg_ctl for .dev/pg; not stopping it"; return 0; }
  if as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    log "stopping PostgreSQL in .dev/pg"
    as_pg "$bin/pg_ctl" -D "$data" -m fast -w -t "$WAIT_SECS" stop >/dev/null ||
      die "could not stop PostgreSQL in .dev/pg (see .dev/pg.log)"
  fi
}

# -------------------------------------------------------------- own Redis

REDIS_DIR="$DEV_DIR/redis"; REDIS_PID="$DEV_DIR/redis.pid"
REDIS_LOG="$DEV_DIR/redis.log"; REDIS_PORTF="$DEV_DIR/redis.port"

# PID of our redis-server if it is running. Checked against its command line
# ("redis-server 127.0.0.1:PORT", PORT from .dev/redis.port) so a recycled PID —
# or the shared server — is never mistaken for ours.
own_redis_pid() {
  local pid port cmd
  pid=$(cat "$REDIS_PID" 2>/dev/null) && port=$(cat "$REDIS_PORTF" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ -n "$port" ] && kill -0 "$pid" 2>/dev/null || return 1
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmd == *redis-server*":$port"* ]] || return 1
  echo "$pid"
}

# Start (or reuse) our private redis-server; sets REDIS_SERVER.
start_own_redis() {
  local port prev i
  if own_redis_pid >/dev/null; then
    port=$(cat "$REDIS_PORTF")
    log "reusing Redis from .dev/redis on 127.0.0.1:$port"
  else
    if ! command -v redis-server >/dev/null 2>&1; then
      if ! can_apt_install && docker_ok; then
        [ -f "$DEV_DIR/compose-started" ] || compose_up
        REDIS_SERVER="redis://127.0.0.1:${TESSERA_REDIS_HOST_PORT:-16379}"; return
      fi
      apt_install "redis-server" redis-server
      # Debian's package may have started its own server on 6379; prefer it as documented.
      if [ -z "${REDIS_URL:-}" ] && redis_ok "redis://127.0.0.1:6379"; then
        REDIS_SERVER="redis://127.0.0.1:6379"; return
      fi
    fi
    prev=$(cat "$REDIS_PORTF" 2>/dev/null || true)
    port=$(pick_port "$prev" "$OWN_REDIS_PORT")
    mkdir -p "$REDIS_DIR"
    log "starting Redis in .dev/redis on 127.0.0.1:$port (log: .dev/redis.log)"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$port" \
      --dir "$REDIS_DIR" --appendonly yes --appendfsync everysec --save "" \
      --pidfile "$REDIS_PID" --logfile "$REDIS_LOG" >/dev/null 2>&1 9>&- ||
      die "redis-server failed to start (see .dev/redis.log)"
    echo "$port" >"$REDIS_PORTF"
  fi
  REDIS_SERVER="redis://127.0.0.1:$port"
  for ((i = 0; i < WAIT_SECS; i++)); do redis_ok "$REDIS_SERVER" && return; sleep 1; done
  die "Redis in .dev/redis on port $port did not answer PING within ${WAIT_SECS}s (see .dev/redis.log)"
}

stop_own_redis() {
  local pid port i
  pid=$(own_redis_pid) || return 0
  port=$(cat "$REDIS_PORTF" 2>/dev/null || true)
  log "stopping Redis in .dev/redis (pid $pid)"
  [ -n "$port" ] && timeout 10 redis-cli -p "$port" shutdown >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
  for ((i = 0; i < WAIT_SECS * 10; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  die "Redis in .dev/redis (pid $pid) did not stop within ${WAIT_SECS}s"
}

# ------------------------------------------------------------- choose servers

choose_postgres() {
  command -v psql >/dev/null 2>&1 || apt_install "psql (PostgreSQL client)" postgresql-client
  CALLER_DB=""
  if [ -n "${DATABASE_URL:-}" ]; then
    url_split "$DATABASE_URL"
    local base="$U_SCHEME://$U_AUTH" db
    # Reachable = some database there accepts us (the named one may not exist yet).
    for db in postgres template1 ${U_PATH:+"$U_PATH"}; do
      if pg_ok "$base/$db$U_QUERY"; then
        PG_SERVER=$base; PG_QUERY=$U_QUERY; PG_ADMIN_DB=$db; CALLER_DB=$U_PATH
        log "PostgreSQL: using the server in DATABASE_URL (${U_AUTH##*@})"
        return
      fi
    done
    warn "DATABASE_URL (${U_AUTH##*@}) is not reachable; using a private PostgreSQL under .dev/"
  elif pg_ok "postgres://postgres@127.0.0.1:5432/postgres"; then
    PG_SERVER="postgres://postgres@127.0.0.1:5432"; PG_QUERY=""; PG_ADMIN_DB=postgres
    log "PostgreSQL: using the server already running on 127.0.0.1:5432"
    return
  fi
  start_own_pg
  PG_QUERY=""; PG_ADMIN_DB=postgres
}

choose_redis() {
  command -v redis-cli >/dev/null 2>&1 || apt_install "redis-cli" redis-tools
  REDIS_FROM_CALLER=0
  if [ -n "${REDIS_URL:-}" ]; then
    if redis_ok "$REDIS_URL"; then
      REDIS_SERVER=$REDIS_URL; REDIS_FROM_CALLER=1
      log "Redis: using REDIS_URL"
      return
    fi
    warn "REDIS_URL is not reachable; using a private Redis under .dev/"
  elif redis_ok "redis://127.0.0.1:6379"; then
    REDIS_SERVER="redis://127.0.0.1:6379"
    log "Redis: using the server already running on 127.0.0.1:6379"
    return
  fi
  start_own_redis
}

# ------------------------------------------------------------ the database

db_name() {
  local name
  if [ -n "${TESSERA_DB_NAME:-}" ]; then name=$TESSERA_DB_NAME
  elif [ -n "$CALLER_DB" ]; then name=$CALLER_DB
  else name=tessera
  fi
  if [ "$PROFILE" = test ] && [[ $name != *_test ]]; then
    [ -z "${TESSERA_DB_NAME:-}" ] ||
      die "TESSERA_DB_NAME='$name': the test database is dropped on every run, so its name must end in _test"
    name="${name}_test"
  fi
  echo "$name"
}

# psql against the admin database with the name bound as :'db' / :"db" (safe quoting).
pg_admin() { PGCONNECT_TIMEOUT=5 psql -X -w -q -At -v ON_ERROR_STOP=1 -v db="$DB_NAME" -d "$PG_SERVER/$PG_ADMIN_DB$PG_QUERY" "$@"; }

ensure_database() {
  local exists out
  exists=$(pg_admin <<<"select 1 from pg_database where datname = :'db';" 2>&1) ||
    die "cannot query databases on $PG_SERVER: $(tail -n1 <<<"$exists")"
  if [ "$PROFILE" = test ] && [ "$exists" = 1 ]; then
    [[ $DB_NAME == *_test ]] ||
      die "refusing to drop database '$DB_NAME' for tests: its name does not end in _test"
    log "dropping test database $DB_NAME for a clean run"
    local force=""   # WITH (FORCE) ends leftover sessions (PostgreSQL 13+)
    [ "$(pg_admin -c 'show server_version_num')" -ge 130000 ] && force=" with (force)"
    out=$(pg_admin <<<"drop database if exists :\"db\"$force;" 2>&1) ||
      die "cannot drop database '$DB_NAME': $(tail -n1 <<<"$out")"
    exists=""
  fi
  if [ "$exists" != 1 ]; then
    log "creating database $DB_NAME"
    out=$(pg_admin <<<"create database :\"db\";" 2>&1) ||
      die "cannot create database '$DB_NAME' on $PG_SERVER: $(tail -n1 <<<"$out")"
  fi
}

# ------------------------------------------------------------------- main

cmd_env() {
  mkdir -p "$DEV_DIR"
  # Serialise concurrent invocations (two `make test`s) so only one starts servers.
  exec 9>"$DEV_DIR/services.lock"
  flock -w 300 9 || die "timed out waiting for another scripts/services.sh (lock .dev/services.lock)"

  require_rust       # fail fast, before installing or starting anything
  choose_postgres
  choose_redis

  DB_NAME=$(db_name)
  ensure_database
  DATABASE_URL="$PG_SERVER/$DB_NAME$PG_QUERY"

  url_split "$REDIS_SERVER"
  if [ "$PROFILE" = test ] && [ "$REDIS_FROM_CALLER" = 0 ] && [ -z "$U_PATH" ]; then
    REDIS_SERVER="$U_SCHEME://$U_AUTH/1$U_QUERY"
  fi
  REDIS_URL=$REDIS_SERVER

  log "DATABASE_URL=$DATABASE_URL"
  log "REDIS_URL=$REDIS_URL"
  printf 'export DATABASE_URL=%q\nexport REDIS_URL=%q\nexport PATH=%q\nexport CARGO_TARGET_DIR=%q\n' \
    "$DATABASE_URL" "$REDIS_URL" "$PATH" "$CARGO_TARGET_DIR"
}

cmd_status() {
  local data bin pid
  data="$(readlink -f "$DEV_DIR/pg" 2>/dev/null || echo /nonexistent)/data"
  if [ -f "$data/PG_VERSION" ] && bin=$(pg_bindir "$data") &&
    as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    echo "postgres: running, pid $(head -1 "$data/postmaster.pid"), port $(sed -n 4p "$data/postmaster.pid")"
  else
    echo "postgres: not running under .dev/"
  fi
  if pid=$(own_redis_pid); then echo "redis: running, pid $pid, port $(cat "$REDIS_PORTF")"
  else echo "redis: not running under .dev/"; fi
}

cmd_stop() {
  stop_own_redis
  stop_own_pg
  if [ -f "$DEV_DIR/compose-started" ] && command -v docker >/dev/null 2>&1; then
    timeout 60 docker compose -f "$TESSERA_ROOT/docker-compose.yml" stop postgres redis >/dev/null 2>&1 || true
    rm -f "$DEV_DIR/compose-started"
  fi
}

cmd_clean() {
  cmd_stop
  local real
  if [ -L "$DEV_DIR/pg" ]; then   # cluster moved to /var/tmp because postgres could not reach .dev
    real=$(readlink -f "$DEV_DIR/pg")
    case "$real" in /var/tmp/tessera-dev-*/pg) rm -rf "$(dirname "$real")" ;; esac
  fi
  rm -rf "$DEV_DIR"
  log "removed .dev/"
}

case "${1:-env}" in
  env) cmd_env ;;
  status) cmd_status ;;
  stop) cmd_stop ;;
  clean) cmd_clean ;;
  *) die "usage: scripts/services.sh [env|status|stop|clean]" ;;
esac
