# bench/scale.sh — the scale scenarios of `make bench`, sourced by
# scripts/bench.sh once its request scenarios have run (it uses that script's
# $bin, $work, $results, $redis_port, run and log). Sizes:
#   BENCH_SEED_USERS (100000)   users seeded (one session each), then purged
#   BENCH_SMALL_USERS (1000)    the "1k live sessions" state
#   BENCH_LARGE_SESSIONS (1000000) live sessions of the "1M" state, made as
#                               BENCH_LARGE_USERS (10000) users x the rest
# Scenarios, each a JSON line in $results:
#   seed_users: seconds to seed BENCH_SEED_USERS users + sessions (the CLI,
#     both cores, as a harness runs it), and purge_users: seconds to purge them;
#   redis_bytes_per_live_session: INFO memory before/after that seed;
#   verify_cached / verify_distinct: the usual small token pool against every
#     seeded user's own token (the verified-token cache misses);
#   verify_1k / refresh_1k and verify_1m / refresh_1m: the same tokens with
#     1k and with 1M live sessions in Redis.

SEED_USERS=${BENCH_SEED_USERS:-100000}
SMALL_USERS=${BENCH_SMALL_USERS:-1000}
LARGE_SESSIONS=${BENCH_LARGE_SESSIONS:-1000000}
LARGE_USERS=${BENCH_LARGE_USERS:-10000}

redis_used_memory() { redis-cli -p "$redis_port" info memory | awk -F: '/^used_memory:/ {print $2+0}'; }
now_s() { date +%s.%N; }

# load_cli ARGS...: the load-test CLI against the bench's server config;
# prints the seconds it took (wall clock, as a harness would wait).
load_cli() {
  local started ended
  started=$(now_s)
  "$bin" load "$@" >>"$work/load.log" 2>&1 || die "tessera load $* failed: $(tail -n 1 "$work/load.log")"
  ended=$(now_s)
  python3 -c "print(round($ended - $started, 2))"
}

# ndjson_column FILE FIELD OUT [SKIP STEP]: one field of every line (or of
# every STEP-th line from SKIP) into OUT, one per line.
ndjson_column() {
  python3 - "$@" <<'PY'
import json, sys
src, field, out = sys.argv[1:4]
skip, step = (int(sys.argv[4]), int(sys.argv[5])) if len(sys.argv) > 5 else (0, 1)
with open(src) as lines, open(out, "w") as dst:
    for n, line in enumerate(lines):
        if n >= skip and (n - skip) % step == 0:
            dst.write(json.loads(line)[field] + "\n")
PY
}

# Live sessions: the session hashes, counted inside Redis (one call).
scale_sessions() {
  redis-cli -p "$redis_port" eval "local n, cursor = 0, '0'
    repeat
      local page = redis.call('SCAN', cursor, 'MATCH', 'tessera:s:*', 'COUNT', 10000)
      cursor, n = page[1], n + #page[2]
    until cursor == '0'
    return n" 0
}

# A run that died half-way left its users in the bench database.
for tag in benchsmall benchseed benchlarge; do
  "$bin" load purge --tag "$tag" >/dev/null 2>&1 || true
done

log "scale: seeding $SMALL_USERS users x 2 sessions (the 1k state)"
small="$work/seed_small.ndjson"
load_cli seed --users "$SMALL_USERS" --sessions-per-user 2 --tag benchsmall --output "$small" >/dev/null
ndjson_column "$small" access_token "$work/access_small.txt" 0 2
ndjson_column "$small" refresh_token "$work/refresh_small_1k.txt" 0 2
ndjson_column "$small" refresh_token "$work/refresh_small_1m.txt" 1 2
live=$(scale_sessions)
log "scale: $live live sessions"
run verify_1k verify.lua BENCH_ACCESS=access_small.txt
wrk_once refresh_1k "$SECONDS_MEASURED" refresh.lua BENCH_TOKENS=refresh_small_1k.txt >>"$results"

log "scale: seeding $SEED_USERS users, one session each (timed)"
memory_before=$(redis_used_memory)
sessions_before=$(scale_sessions)
seeded="$work/seed_users.ndjson"
seconds=$(load_cli seed --users "$SEED_USERS" --tag benchseed --output "$seeded")
memory_after=$(redis_used_memory)
sessions_after=$(scale_sessions)
echo "{\"scenario\":\"seed_users\",\"users\":$SEED_USERS,\"sessions\":$((sessions_after - sessions_before)),\"seconds\":$seconds}" >>"$results"
echo "{\"scenario\":\"redis_bytes_per_live_session\",\"value\":$(((memory_after - memory_before) / (sessions_after - sessions_before))),\"sessions\":$((sessions_after - sessions_before)),\"sessions_per_user\":1}" >>"$results"
ndjson_column "$seeded" access_token "$work/access_distinct.txt"
run verify_cached verify.lua
run verify_distinct verify.lua BENCH_ACCESS=access_distinct.txt
log "scale: purging them (timed)"
seconds=$(load_cli purge --tag benchseed)
echo "{\"scenario\":\"purge_users\",\"users\":$SEED_USERS,\"seconds\":$seconds}" >>"$results"

per_user=$(((LARGE_SESSIONS - $(scale_sessions)) / LARGE_USERS))
log "scale: seeding $LARGE_USERS users x $per_user sessions (the 1M state)"
seconds=$(load_cli seed --users "$LARGE_USERS" --sessions-per-user "$per_user" --tag benchlarge --output /dev/null)
live=$(scale_sessions)
echo "{\"scenario\":\"seed_sessions\",\"users\":$LARGE_USERS,\"sessions\":$((LARGE_USERS * per_user)),\"seconds\":$seconds,\"live_sessions\":$live}" >>"$results"
log "scale: $live live sessions"
run verify_1m verify.lua BENCH_ACCESS=access_small.txt
wrk_once refresh_1m "$SECONDS_MEASURED" refresh.lua BENCH_TOKENS=refresh_small_1m.txt >>"$results"
load_cli purge --tag benchlarge >/dev/null
load_cli purge --tag benchsmall >/dev/null
