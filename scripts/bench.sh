#!/usr/bin/env bash
# scripts/bench.sh — `make bench`: the load harness in bench/.
#
# Starts a release build of tessera (rate limits off) and its own Redis, both
# pinned to CPU 0 together with PostgreSQL's processes; wrk runs pinned to
# CPU 1. The floors: bench/floor/server.rs, the least server on tessera's
# own serve loop, pinned likewise, answers floor_bare (a bare answer),
# floor_read (one EVALSHA reading a hash) and floor_sign (one Ed25519
# signature and one EVALSHA writing a hash); each is measured beside the hot
# paths it is the floor of, in BENCH_ROUNDS alternating rounds, and each hot
# path is given as a fraction of its floor (bench/README.md). BENCH_PERF=1
# also records CPU profiles of the server and of Redis in the first round.
# Scenarios (32 connections, a warm-up, then BENCH_SECONDS measured):
#   health_live (the HTTP ceiling: no Redis, no PostgreSQL), verify, refresh
#   (real rotations), login (form), register, and — when the OAuth endpoints
#   exist — oauth_token_refresh and oauth_introspect — and, where the client
#   registry exists, client_credentials and verify_client (a service's own
#   token at /verify) — and, where /oauth/authorize exists, code_exchange
#   (/oauth/token redeeming authorization codes prepared ahead by
#   bench/authorize.lua for one browser sign-in; compared with refresh).
#   Each request scenario is also given as a fraction of health_live from the
#   same run.
# login_totp, when the build has second factors: the two-step sign-in of
#   users with an authenticator app (password, then a code at
#   /auth/mfa/verify), in completed sign-ins a second, as a ratio to login
#   (bench/login_totp.lua, users enrolled by bench/totp_setup.py).
# DPoP (RFC 9449), when the build binds tokens to a client key: verify_dpop
#   (/verify of bound access tokens, Authorization: DPoP, a fresh proof per
#   request and the original request in X-Original-Method/-URI, wrk standing
#   in for a trusted proxy: the bench config trusts 127.0.0.1) and
#   refresh_dpop (rotations of bound refresh tokens, a fresh proof each,
#   chains of their own), after register; each given as a ratio to its
#   unbound twin. Proofs are signed ahead by the tessera-dpop example
#   dpop_proofs, for each run just before it (iat fresh), as many as the twin's
#   rate in this run x BENCH_DPOP_MARGIN (1.5) x the run's seconds, or
#   BENCH_DPOP_RATE a second; each is sent once, a request with none left goes
#   without and shows as a non-2xx. Their spent jti keys are deleted from
#   Redis after each scenario. The same example times in process, on CPU 0:
#   one tessera_dpop::check, one Ed25519 signature check alone and one
#   signature (the floor the DPoP scenarios pay per request).
# BENCH_PROFILE=profiling builds with that cargo profile instead of release.
# BENCH_REDIS_SHARED=N sets tessera's redis.shared_connections (to compare).
# BENCH_BIN=PATH benchmarks that tessera binary instead of the fresh build (to
# compare two builds with the same harness, one after the other). An older
# binary refuses a database that has newer migrations: `dropdb tessera_bench`
# before its run.
# Then the revocation feed's bench (bench/revocation.sh, when the build has the
# feed) and the scale scenarios of bench/scale.sh (BENCH_SCALE=0 skips them): seed
# and purge 100k users, Redis bytes per live session, verify and refresh at 1k
# and at 1M live sessions, verify over 100k distinct tokens.
# Every request scenario also records tessera's and Redis's CPU time per
# request (/proc/PID/stat), so what binds a scenario is read off the same run.
# Also measures the raw argon2id rate on CPU 0 (the login/register ceiling),
# tessera's RSS idle and at peak, and Redis memory per live session.
# Prints a table; writes bench/results/<UTC time>.json.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

SECONDS_MEASURED=${BENCH_SECONDS:-10}
SECONDS_WARM=${BENCH_WARMUP_SECONDS:-3}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
CHAINS=${BENCH_CHAINS:-96}          # more refresh chains than connections
USERS=${BENCH_USERS:-32}
# BENCH_PROFILE=profiling: thin LTO, builds in a third of release's time; for
# trying the harness, not for figures to compare with a release run.
PROFILE=${BENCH_PROFILE:-release}
# BENCH_QUICK=1: the floors and the hot paths only (health, verify, refresh,
# the OAuth twins), for trying a change; no login, register, second factor,
# DPoP, client, feed or scale scenarios.
quick=${BENCH_QUICK:-0}
# The hot paths and their floors are measured in BENCH_ROUNDS rounds (3),
# alternating, each a share of BENCH_SECONDS; see "Each floor" below.
ROUNDS=${BENCH_ROUNDS:-3}
ROUND_SECONDS=$(((SECONDS_MEASURED + ROUNDS - 1) / ROUNDS))

require_rust
command -v wrk >/dev/null 2>&1 || apt_install "wrk (the load generator)" wrk
command -v taskset >/dev/null 2>&1 || apt_install "taskset" util-linux
command -v redis-server >/dev/null 2>&1 || apt_install "redis-server" redis-server
command -v curl >/dev/null 2>&1 || apt_install "curl" curl
[ "$(nproc)" -ge 2 ] || die "the bench pins server and load generator to different CPUs and needs 2; this machine has $(nproc)"

export TESSERA_PROFILE=run TESSERA_DB_NAME=tessera_bench
. scripts/services.sh || exit 1       # PostgreSQL (DATABASE_URL); Redis is our own, below

if [ -n "${BENCH_BIN:-}" ]; then
  log "building the argon2 rate probe and the floor server ($PROFILE); tessera is $BENCH_BIN"
  cargo build --profile "$PROFILE" --example argon2_rate --example floor >&2 || die "cargo build --profile $PROFILE failed"
else
  log "building $PROFILE binaries"
  cargo build --profile "$PROFILE" --bin tessera --example argon2_rate --example floor >&2 ||
    die "cargo build --profile $PROFILE failed"
fi
cargo build --profile "$PROFILE" -p tessera-verify --example revocation_bench >&2 ||
  die "cargo build --profile $PROFILE -p tessera-verify failed"
cargo build --profile "$PROFILE" -p tessera-dpop --example dpop_proofs >&2 ||
  die "cargo build --profile $PROFILE -p tessera-dpop failed"
dpop_bin="$CARGO_TARGET_DIR/$PROFILE/examples/dpop_proofs"
bin=${BENCH_BIN:-$(tessera_bin "$PROFILE")}
[ -x "$bin" ] || die "BENCH_BIN=$bin is not an executable"
argon2_rate="$CARGO_TARGET_DIR/$PROFILE/examples/argon2_rate"
floor_bin="$CARGO_TARGET_DIR/$PROFILE/examples/floor"

work=$(mktemp -d /tmp/tessera-bench.XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
redis_port=$(free_port)
port=$(free_port)
floor_port=$(free_port)
tessera_pid=""
floor_pid=""
pg_pids=$(pgrep -x postgres || true)

cleanup() {
  [ -n "$tessera_pid" ] && kill "$tessera_pid" 2>/dev/null && wait "$tessera_pid" 2>/dev/null
  [ -n "$floor_pid" ] && kill "$floor_pid" 2>/dev/null && wait "$floor_pid" 2>/dev/null
  redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
  for pid in $pg_pids; do taskset -apc "0-$(($(nproc) - 1))" "$pid" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

log "starting Redis on 127.0.0.1:$redis_port (CPU 0)"
taskset -c 0 redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no \
  --daemonize yes --pidfile "$work/redis.pid" --logfile "$work/redis.log" || die "redis-server did not start"
for pid in $pg_pids; do taskset -apc 0 "$pid" >/dev/null 2>&1 || true; done

# A DPoP proof may be dpop.max_proof_age_secs old (60 s by default); the
# proofs of a run are signed just before it, so a run longer than that (plus
# the signing) gets a longer limit. Only the jti keys live longer for it.
dpop_config=""
longest_run=$((SECONDS_MEASURED > SECONDS_WARM ? SECONDS_MEASURED : SECONDS_WARM))
if [ "$longest_run" -gt 30 ]; then
  dpop_config="[dpop]
# Raised from 60 s by scripts/bench.sh: BENCH_SECONDS=$SECONDS_MEASURED runs use proofs signed
# just before they start, the last ones sent that long after.
max_proof_age_secs = $((longest_run + 60))"
fi
cat >"$work/bench.toml" <<TOML
[server]
bind = "127.0.0.1:$port"
# What a DPoP proof's htu names (and X-Original-URI is relative to).
public_url = "http://127.0.0.1:$port"
# verify_dpop: /verify believes X-Original-Method/-URI only from a trusted
# proxy; wrk on 127.0.0.1 stands in for one. No scenario sends
# X-Forwarded-For, so the client IP stays the peer's.
trusted_proxies = ["127.0.0.1/32"]
[redis]
url = "redis://127.0.0.1:$redis_port"
${BENCH_REDIS_SHARED:+shared_connections = $BENCH_REDIS_SHARED}
[jwt]
keys_dir = "$work/keys"
[session]
rotation_secret = "bench rotation secret $(head -c 16 /dev/urandom | base64)"
# No cap on a user's sessions: code_exchange opens one per request, all for one
# user, and at the cap (100) the oldest, the browser sign-in every prepared
# code stands on, would be evicted and its codes refused. No other scenario
# comes near the cap.
max_per_user = 0
[rate_limit]
enabled = false
[oauth]
# code_exchange's codes are all prepared before its warm-up: they must outlive
# both runs (the default, 60 s, is a browser's round trip).
code_ttl_secs = 900
[[gateway.clients]]
id = "bench-gateway"
secret = "bench-gateway-secret"
$dpop_config
TOML
export TESSERA_CONFIG="$work/bench.toml"
unset REDIS_URL
"$bin" keys generate >/dev/null || die "tessera keys generate failed"
"$bin" migrate >/dev/null || die "tessera migrate failed against $DATABASE_URL"

log "starting tessera on 127.0.0.1:$port (CPU 0)"
RUST_LOG=warn taskset -c 0 "$bin" serve >"$work/tessera.log" 2>&1 &
tessera_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null || die "tessera did not become ready (log: $work/tessera.log)"

results="$work/results.jsonl"
rss_kib() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$tessera_pid/status"; }
echo "{\"scenario\":\"rss_idle_kib\",\"value\":$(rss_kib VmRSS)}" >>"$results"

log "argon2id raw rate on CPU 0 (5 s)"
taskset -c 0 "$argon2_rate" 5 >>"$results"

log "creating $USERS users and $CHAINS sessions per refresh scenario"
python3 bench/setup.py "http://127.0.0.1:$port" "$work" "$USERS" "$CHAINS" "$ROUNDS" || die "bench set-up failed"

# DPoP: one client key (a fresh seed), 2 x CHAINS sessions bound to it.
dpop=1
"$dpop_bin" key "$work/dpop.seed" >"$work/dpop_key.json" || die "dpop_proofs key failed"
log "DPoP key $(cat "$work/dpop_key.json"); binding $((2 * CHAINS)) sessions to it"
if python3 bench/dpop_setup.py "http://127.0.0.1:$port" "$work" "$CHAINS" "$dpop_bin" "$work/dpop.seed"; then
  log "in-process DPoP proof check, Ed25519 verify (ring, dalek) and sign on CPU 0 (4 x ${BENCH_DPOP_MEASURE_SECONDS:-2} s)"
  taskset -c 0 "$dpop_bin" measure "${BENCH_DPOP_MEASURE_SECONDS:-2}" "$work/dpop_access.txt" >>"$results" ||
    die "dpop_proofs measure failed"
else
  [ $? = 3 ] || die "the DPoP set-up failed"
  warn "this build does not bind tokens to DPoP keys: no refresh_dpop, verify_dpop"
  dpop=0
fi

# cpu_ticks PID: user + system CPU time the process has used, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# The server wrk loads: tessera, except while the floors are measured.
server_pid=$tessera_pid
server_port=$port
# BENCH_PERF=1: a CPU profile (perf record -g, 999 Hz) of the server and of
# Redis during the first round of each hot path and floor, the reports
# (SCENARIO.txt, SCENARIO-redis.txt; bench/perf_buckets.py sums them) in the results
# directory (the sampling slows that round by up to a third, floor and path
# alike);
# BENCH_PERF_KEEP=1 keeps each perf.data beside it, for `perf report -g`.
stamp=$(date -u +%Y%m%dT%H%M%SZ)
perf_dir=""
if [ "${BENCH_PERF:-0}" = 1 ]; then
  command -v perf >/dev/null 2>&1 || apt_install "perf (the profiler)" linux-perf
  perf_dir="$PWD/bench/results/$stamp-perf"
  mkdir -p "$perf_dir"
fi
profile_round=0
hot_paths=" floor_bare floor_read floor_sign health_live verify refresh oauth_introspect oauth_token_refresh "

# wrk_once SCENARIO SECONDS SCRIPT [ENV=VALUE...]: one wrk run; prints its JSON
# line, with the CPU time the server (tessera or the floor) and Redis spent
# per request (what binds a scenario when both share CPU 0).
wrk_once() {
  local scenario=$1 seconds=$2 script=$3; shift 3
  local redis_pid tessera_before redis_before line perf_pid=""
  redis_pid=$(cat "$work/redis.pid")
  if [ -n "$perf_dir" ] && [ "$profile_round" = 1 ] && [[ "$hot_paths" == *" $scenario "* ]]; then
    perf record -F 999 -g -p "$server_pid,$redis_pid" -o "$perf_dir/$scenario.data" -- sleep "$seconds" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  tessera_before=$(cpu_ticks "$server_pid")
  redis_before=$(cpu_ticks "$redis_pid")
  line=$(env "$@" BENCH_DIR="$PWD/bench" BENCH_DATA="$work" BENCH_SCENARIO="$scenario" \
    taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${seconds}s" -s "bench/$script" "http://127.0.0.1:$server_port" | grep '^{')
  if [ -n "$perf_pid" ]; then
    wait "$perf_pid" || true
    perf report -i "$perf_dir/$scenario.data" --pid "$server_pid" --no-children --percent-limit 0.01 --stdio -g none \
      >"$perf_dir/$scenario.txt" 2>/dev/null || warn "perf report ($scenario) failed"
    perf report -i "$perf_dir/$scenario.data" --pid "$redis_pid" --no-children --percent-limit 0.01 --stdio -g none \
      >"$perf_dir/$scenario-redis.txt" 2>/dev/null || warn "perf report ($scenario, Redis) failed"
    [ "${BENCH_PERF_KEEP:-0}" = 1 ] || rm -f "$perf_dir/$scenario.data"
  fi
  python3 - "$line" "$(getconf CLK_TCK)" "$(($(cpu_ticks "$server_pid") - tessera_before))" \
    "$(($(cpu_ticks "$redis_pid") - redis_before))" <<'PY'
import json, sys
row, hz, tessera, redis = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
if row["requests"]:
    row["tessera_us_per_req"] = round(1e6 * tessera / hz / row["requests"], 1)
    row["redis_us_per_req"] = round(1e6 * redis / hz / row["requests"], 1)
print(json.dumps(row))
PY
}

# run SCENARIO SCRIPT [ENV=VALUE...]: a warm-up, then the measured run.
run() {
  local scenario=$1 script=$2; shift 2
  log "scenario $scenario: ${SECONDS_WARM}s warm-up, ${SECONDS_MEASURED}s measured, $CONNECTIONS connections"
  wrk_once "$scenario-warmup" "$SECONDS_WARM" "$script" "$@" >/dev/null
  wrk_once "$scenario" "$SECONDS_MEASURED" "$script" "$@" >>"$results"
}

# dpop_proofs_for FILE SECONDS TWIN HTM PATH [ACCESS_FILE]: signs, on CPU 1
# (wrk's, idle between runs), the proofs of one run of SECONDS into
# $work/FILE: at BENCH_DPOP_RATE a second, else at TWIN's rate in this run x
# BENCH_DPOP_MARGIN, plus one per connection and a thousand. Prints how many.
dpop_proofs_for() {
  local file=$1 seconds=$2 twin=$3 htm=$4 path=$5; shift 5
  local count
  count=$(python3 - "$results" "$twin" "$seconds" "${BENCH_DPOP_RATE:-}" "${BENCH_DPOP_MARGIN:-1.5}" "$CONNECTIONS" <<'PY'
import json, math, sys
results, twin, seconds, rate, margin, connections = sys.argv[1:7]
if not rate:
    rows = [json.loads(l) for l in open(results) if l.strip()]
    twin_rps = [r["rps"] for r in rows if r.get("scenario") == twin]
    # Without the twin (it failed), a rate above any this harness has seen.
    rate = (twin_rps[-1] if twin_rps else 20000) * float(margin)
print(math.ceil(float(rate) * int(seconds)) + int(connections) + 1000)
PY
)
  taskset -c 1 "$dpop_bin" gen "$work/dpop.seed" "$htm" "http://127.0.0.1:$port$path" "$count" "$@" \
    >"$work/$file" 2>/dev/null || die "dpop_proofs gen ($file) failed"
  echo "$count"
}

# dpop_run SCENARIO TWIN SCRIPT HTM PATH WARM_ENV RUN_ENV [ACCESS_FILE]: the
# warm-up and the measured run of a DPoP scenario, each with proofs signed
# just before it; then its spent jti keys leave Redis, so that the later
# Redis figures (bytes per session) are not disturbed by keys expiring.
dpop_run() {
  local scenario=$1 twin=$2 script=$3 htm=$4 path=$5 warm_env=$6 run_env=$7; shift 7
  local proofs used
  log "scenario $scenario: ${SECONDS_WARM}s warm-up, ${SECONDS_MEASURED}s measured, $CONNECTIONS connections"
  proofs=$(dpop_proofs_for "${scenario}_warm_proofs.txt" "$SECONDS_WARM" "$twin" "$htm" "$path" "$@")
  wrk_once "$scenario-warmup" "$SECONDS_WARM" "$script" BENCH_PROOFS="${scenario}_warm_proofs.txt" $warm_env >/dev/null
  proofs=$(dpop_proofs_for "${scenario}_proofs.txt" "$SECONDS_MEASURED" "$twin" "$htm" "$path" "$@")
  wrk_once "$scenario" "$SECONDS_MEASURED" "$script" BENCH_PROOFS="${scenario}_proofs.txt" $run_env >>"$results"
  rm -f "$work/${scenario}_warm_proofs.txt" "$work/${scenario}_proofs.txt"
  used=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["requests"])' "$(tail -n 1 "$results")")
  log "$scenario: $used requests answered, $proofs proofs signed ahead"
  [ $((used + CONNECTIONS)) -le "$proofs" ] ||
    warn "$scenario may have outrun its proofs (a request with none left is a non-2xx); raise BENCH_DPOP_MARGIN or BENCH_DPOP_RATE"
  redis-cli -p "$redis_port" eval "local cursor, n = '0', 0
    repeat
      local page = redis.call('SCAN', cursor, 'MATCH', 'tessera:dpop:*', 'COUNT', 10000)
      cursor = page[1]
      for _, key in ipairs(page[2]) do redis.call('UNLINK', key); n = n + 1 end
    until cursor == '0'
    return n" 0 | awk -v s="$scenario" '{print "tessera: " s ": removed " $1 " spent DPoP jti keys from Redis"}' >&2
}

# Each floor just before the hot paths it is the floor of, the same
# pinning: the least server on tessera's serve loop (bench/floor/server.rs)
# doing their irreducible work. Side by side in time, in rounds, so that
# this machine's drift (its rates move by a fifth from one minute to the
# next) falls alike on a path and its floor. The floor server idles while
# tessera runs.
log "starting the floor server on 127.0.0.1:$floor_port (CPU 0)"
taskset -c 0 "$floor_bin" "127.0.0.1:$floor_port" "redis://127.0.0.1:$redis_port" >"$work/floor.log" 2>&1 &
floor_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$floor_port/floor/bare" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$floor_port/floor/read" >/dev/null || die "the floor server did not start (log: $work/floor.log)"
oauth=0
curl -fsS "http://127.0.0.1:$port/.well-known/oauth-authorization-server" >/dev/null 2>&1 && oauth=1

# warm SCENARIO SCRIPT [ENV...]: a warm-up run; round N SCENARIO SCRIPT
# [ENV...]: the Nth measured round, into the rounds file (merged below);
# floor_round N SCENARIO [ENV...]: a round of the floor server.
warm() {
  log "warming up $1 (${SECONDS_WARM}s)"
  wrk_once "$1-warmup" "$SECONDS_WARM" "$2" "${@:3}" >/dev/null
}
rounds_file="$work/rounds.jsonl"
round() {
  profile_round=$(($1 == 1)) wrk_once "$2" "$ROUND_SECONDS" "$3" "${@:4}" >>"$rounds_file"
}
floor_round() {
  server_pid=$floor_pid server_port=$floor_port round "$1" "$2" floor.lua "${@:3}"
}
server_pid=$floor_pid server_port=$floor_port warm floor_bare floor.lua BENCH_PATH=/floor/bare
warm health_live health.lua
server_pid=$floor_pid server_port=$floor_port warm floor_read floor.lua BENCH_PATH=/floor/read
warm verify verify.lua
[ "$oauth" = 0 ] || warm oauth_introspect introspect.lua
server_pid=$floor_pid server_port=$floor_port warm floor_sign floor.lua BENCH_PATH=/floor/sign BENCH_POST=1
# Each refresh round consumes chains of its own, so every measured request
# is a real rotation of a token no earlier run has used.
warm refresh refresh.lua BENCH_TOKENS=refresh_warm.txt
for n in $(seq 1 "$ROUNDS"); do
  log "round $n of $ROUNDS: the floors and the hot paths, ${ROUND_SECONDS}s each, $CONNECTIONS connections"
  floor_round "$n" floor_bare BENCH_PATH=/floor/bare
  round "$n" health_live health.lua
  floor_round "$n" floor_read BENCH_PATH=/floor/read
  round "$n" verify verify.lua
  [ "$oauth" = 0 ] || round "$n" oauth_introspect introspect.lua
  floor_round "$n" floor_sign BENCH_PATH=/floor/sign BENCH_POST=1
  round "$n" refresh refresh.lua BENCH_TOKENS="refresh_run_$n.txt"
  # The server is warm from refresh: the same path behind another door.
  [ "$oauth" = 0 ] || round "$n" oauth_token_refresh refresh.lua BENCH_TOKENS="refresh_oauth_$n.txt" BENCH_PATH=/oauth/token
done
# One line per scenario: the rounds' requests and CPU summed, the median of
# their percentiles.
python3 - "$rounds_file" >>"$results" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    row = json.loads(line)
    rows.setdefault(row["scenario"], []).append(row)
for scenario, parts in rows.items():
    merged = {"scenario": scenario, "rounds": len(parts)}
    for key in ("requests", "non_2xx", "socket_errors"):
        merged[key] = sum(p[key] for p in parts)
    merged["seconds"] = round(sum(p["seconds"] for p in parts), 2)
    merged["rps"] = round(merged["requests"] / merged["seconds"], 1)
    for key in ("p50_ms", "p99_ms"):
        merged[key] = statistics.median(p[key] for p in parts)
    for key in ("tessera_us_per_req", "redis_us_per_req"):
        if all(key in p for p in parts) and merged["requests"]:
            merged[key] = round(sum(p[key] * p["requests"] for p in parts) / merged["requests"], 1)
    merged["round_rps"] = [p["rps"] for p in parts]
    print(json.dumps(merged))
PY
kill "$floor_pid"
wait "$floor_pid" 2>/dev/null || true # killed: its status is SIGTERM's
floor_pid=""
redis-cli -p "$redis_port" eval "for _, key in ipairs(redis.call('KEYS', 'tessera:floor:*')) do redis.call('DEL', key) end" 0 >/dev/null

if [ "$quick" = 0 ]; then
redis_keys_before=$(redis-cli -p "$redis_port" dbsize)
redis_mem_before=$(redis-cli -p "$redis_port" info memory | awk -F: '/^used_memory:/ {print $2+0}')
run login login.lua
redis_keys_after=$(redis-cli -p "$redis_port" dbsize)
redis_mem_after=$(redis-cli -p "$redis_port" info memory | awk -F: '/^used_memory:/ {print $2+0}')
sessions=$((redis_keys_after - redis_keys_before))
if [ "$sessions" -gt 0 ]; then
  echo "{\"scenario\":\"redis_bytes_per_session\",\"value\":$(((redis_mem_after - redis_mem_before) / sessions)),\"sessions\":$sessions}" >>"$results"
fi
run register register.lua
fi

# login_totp: the two-step sign-in of users with an authenticator app (an
# older build has no /users/me/mfa), compared with login. Its users are
# seeded by the load kit (no argon2 to create them) and enrolled through the
# API; a code works once, so each run has users of its own, as many as this
# run's login rate needs x 1.5, and codes computed just before it.
if [ "$quick" = 0 ] && [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/v1/users/me/mfa")" = 401 ]; then
  login_rps=$(python3 -c 'import json,sys
print(next(json.loads(l)["rps"] for l in open(sys.argv[1]) if json.loads(l)["scenario"] == "login"))' "$results")
  totp_password="bench totp passphrase $(head -c 6 /dev/urandom | base64)"
  for part in warm run; do
    part_seconds=$([ "$part" = warm ] && echo "$SECONDS_WARM" || echo "$SECONDS_MEASURED")
    count=$(python3 -c 'import math,sys; print(math.ceil(float(sys.argv[1]) * int(sys.argv[2]) * 1.5) + int(sys.argv[3]) + 50)' \
      "$login_rps" "$part_seconds" "$CONNECTIONS")
    log "enrolling an authenticator app for $count users (login_totp $part)"
    "$bin" load seed --users "$count" --password "$totp_password" --tag "benchtotp$part" \
      --output "$work/totp_$part.ndjson" >/dev/null 2>>"$work/load.log" || die "tessera load seed (login_totp) failed"
    python3 bench/totp_setup.py enrol "http://127.0.0.1:$port" "$work/totp_$part.ndjson" "$work/totp_$part.txt" ||
      die "enrolling the login_totp users failed"
  done
  log "scenario login_totp: ${SECONDS_WARM}s warm-up, ${SECONDS_MEASURED}s measured, $CONNECTIONS connections"
  python3 bench/totp_setup.py codes "$work/totp_warm.txt" "$work/totp_warm_codes.txt"
  wrk_once login_totp-warmup "$SECONDS_WARM" login_totp.lua BENCH_CODES=totp_warm_codes.txt >/dev/null
  python3 bench/totp_setup.py codes "$work/totp_run.txt" "$work/totp_run_codes.txt"
  wrk_once login_totp "$SECONDS_MEASURED" login_totp.lua BENCH_CODES=totp_run_codes.txt >>"$results"
  for part in warm run; do "$bin" load purge --tag "benchtotp$part" >/dev/null 2>>"$work/load.log" || true; done
fi

# After login's Redis bytes per session: the DPoP scenarios leave (and then
# delete) a jti key per request, and Redis shrinking its key table after
# that would show in those bytes.
if [ "$quick" = 0 ] && [ "$dpop" = 1 ]; then
  dpop_run verify_dpop verify verify_dpop.lua GET /bench/resource "" "" "$work/dpop_access.txt"
  # Chains of their own, bound to the key: each request a real rotation.
  dpop_run refresh_dpop refresh refresh.lua POST /api/v1/auth/refresh \
    BENCH_TOKENS=refresh_dpop_warm.txt BENCH_TOKENS=refresh_dpop_run.txt
fi

# The client registry (an older build has none): a service's own tokens, by
# client_credentials, and /verify of them beside /verify of a user's.
if [ "$quick" = 0 ] && [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/v1/admin/clients")" = 401 ]; then
  client=$("$bin" client create --name bench-service --scope bench:read) || die "tessera client create failed"
  client_id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])' <<<"$client")
  client_secret=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])' <<<"$client")
  sleep 1 # the registry's poll: the running server sees the new client
  basic=$(python3 bench/client_tokens.py "http://127.0.0.1:$port" "$client_id" "$client_secret" 1000 "$work/client_access.txt") ||
    die "cannot fetch client tokens"
  run client_credentials client_credentials.lua BENCH_CLIENT_BASIC="Basic $basic"
  run verify_client verify.lua BENCH_ACCESS=client_access.txt
  # The authorization code flow (an older build answers 404 here): a web app
  # (confidential, first-party: no consent, no "Continue" page) redeems codes
  # that one browser sign-in got ahead, each once, like refresh's chains.
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/oauth/authorize")" = 400 ]; then
    app_redirect=https://bench-app.example/cb
    app_verifier=tessera-bench-code-verifier-0123456789abcdefghij
    app=$("$bin" client create --name bench-app --grant-type authorization_code --grant-type refresh_token \
      --redirect-uri "$app_redirect" --first-party) || die "tessera client create (bench-app) failed"
    app_id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])' <<<"$app")
    app_secret=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])' <<<"$app")
    app_basic=$(python3 -c 'import base64,sys; print(base64.b64encode(f"{sys.argv[1]}:{sys.argv[2]}".encode()).decode())' \
      "$app_id" "$app_secret")
    sleep 1 # the registry's poll
    python3 bench/code_setup.py "http://127.0.0.1:$port" "$work/users.txt" "$app_id" "$app_redirect" "$app_verifier" \
      >"$work/code_setup.txt" || die "cannot sign a bench user in on /oauth/authorize"
    # Enough codes for both runs at BENCH_CODE_RATE exchanges a second; wrk
    # gets them from /oauth/authorize (5 s at a time, at most 60 s).
    code_rate=${BENCH_CODE_RATE:-15000}
    codes_warm=$((code_rate * SECONDS_WARM))
    codes_run=$((code_rate * SECONDS_MEASURED))
    log "preparing $((codes_warm + codes_run)) codes for code_exchange ($code_rate/s over both runs)"
    : >"$work/codes.txt"
    for _ in $(seq 1 12); do
      [ "$(wc -l <"$work/codes.txt")" -ge $((codes_warm + codes_run)) ] && break
      BENCH_DIR="$PWD/bench" BENCH_DATA="$work" BENCH_CODES=codes.txt BENCH_SCENARIO=authorize \
        BENCH_AUTHORIZE_PATH="$(sed -n 2p "$work/code_setup.txt")" BENCH_BROWSER_COOKIE="$(sed -n 1p "$work/code_setup.txt")" \
        taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d5s -s bench/authorize.lua "http://127.0.0.1:$port" |
        python3 -c 'import json,sys; r=json.loads(next(l for l in sys.stdin if l.startswith("{")))
print("tessera: /oauth/authorize: %.0f codes/s, %d non-2xx, %d socket errors" % (r["rps"], r["non_2xx"], r["socket_errors"]), file=sys.stderr)'
    done
    codes=$(wc -l <"$work/codes.txt")
    [ "$codes" -ge $((codes_warm + codes_run)) ] ||
      die "only $codes codes from /oauth/authorize in 60 s; code_exchange needs $((codes_warm + codes_run)) (BENCH_CODE_RATE=$code_rate)"
    head -n "$codes_warm" "$work/codes.txt" >"$work/codes_warm.txt"
    tail -n +$((codes_warm + 1)) "$work/codes.txt" >"$work/codes_run.txt"
    code_env=(BENCH_CLIENT_BASIC="Basic $app_basic" BENCH_REDIRECT_URI="$app_redirect" BENCH_CODE_VERIFIER="$app_verifier")
    log "scenario code_exchange: ${SECONDS_WARM}s warm-up, ${SECONDS_MEASURED}s measured, $CONNECTIONS connections"
    wrk_once code_exchange-warmup "$SECONDS_WARM" code_exchange.lua BENCH_CODES=codes_warm.txt "${code_env[@]}" >/dev/null
    wrk_once code_exchange "$SECONDS_MEASURED" code_exchange.lua BENCH_CODES=codes_run.txt "${code_env[@]}" >>"$results"
    [ "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["requests"])' "$(tail -n 1 "$results")")" -le \
      "$(wc -l <"$work/codes_run.txt")" ] ||
      warn "code_exchange outran its prepared codes (its non-2xx include requests with none left); raise BENCH_CODE_RATE"
    # The sessions it opened (bench-app's) and the codes, spent or not, go, so
    # the scale scenarios' "1k live sessions" state is what it says; no feed
    # events (each would be one for the revocation bench to wade through).
    redis-cli -p "$redis_port" eval "local cursor, uid, codes, sessions = '0', nil, 0, 0
      repeat
        local page = redis.call('SCAN', cursor, 'MATCH', 'tessera:code:*', 'COUNT', 10000)
        cursor = page[1]
        for _, key in ipairs(page[2]) do
          uid = uid or string.match(key, '^tessera:code:{([^}]+)}:')
          redis.call('UNLINK', key)
          codes = codes + 1
        end
      until cursor == '0'
      if uid then
        local index, prefix = 'tessera:u:{' .. uid .. '}', 'tessera:s:{' .. uid .. '}:'
        for _, sid in ipairs(redis.call('ZRANGE', index, 0, -1)) do
          if redis.call('HGET', prefix .. sid, 'cid') == ARGV[1] then
            redis.call('UNLINK', prefix .. sid)
            redis.call('ZREM', index, sid)
            sessions = sessions + 1
          end
        end
      end
      return {codes, sessions}" 0 "$app_id" | paste -sd' ' |
      awk '{print "tessera: code_exchange: removed " $1 " codes and " $2 " sessions of bench-app from Redis"}' >&2
  fi
fi
# The feed answers 401 without a gateway client; an older build has no feed.
if [ "$quick" = 0 ] && [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/v1/revocations")" = 401 ]; then
  BENCH_PROFILE=$PROFILE bash bench/revocation.sh "http://127.0.0.1:$port" "$results" || die "the revocation bench failed"
fi
if [ "$quick" = 0 ] && [ "${BENCH_SCALE:-1}" != 0 ]; then
  . bench/scale.sh
fi
echo "{\"scenario\":\"rss_peak_kib\",\"value\":$(rss_kib VmHWM)}" >>"$results"

mkdir -p bench/results
out="bench/results/$stamp.json"
BENCH_PROFILE=$PROFILE python3 bench/table.py "$results" "$out"
[ -z "$perf_dir" ] || log "profiles (perf report) in $perf_dir"
log "results written to $out"
