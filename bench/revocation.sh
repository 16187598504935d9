#!/usr/bin/env bash
# bench/revocation.sh URL [RESULTS.jsonl] — the revocation feed and
# tessera-verify against the tessera at URL (rate limits off, the gateway
# client GATEWAY_ID/GATEWAY_SECRET configured; scripts/bench.sh's
# bench-gateway by default): propagation from the logout response to the
# verifier's first refusal (p50/p99 over BENCH_REVOCATIONS logouts, 200 by
# default) and in-process checks per second on one core, for a token seen
# before and a first-seen one. Prints the figures; appends one JSON line per
# figure to RESULTS.jsonl when given. Runs on CPU 1 when taskset exists
# (scripts/bench.sh keeps CPU 0 for the server).
set -euo pipefail
cd "$(dirname "$0")/.."
url=${1:?usage: bench/revocation.sh URL [RESULTS.jsonl]}
results=${2:-/dev/null}
profile=${BENCH_PROFILE:-release}

cargo build --profile "$profile" -p tessera-verify --example revocation_bench >&2
bin="${CARGO_TARGET_DIR:-target}/$profile/examples/revocation_bench"
pin=()
command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ] && pin=(taskset -c 1)
TESSERA_URL="$url" GATEWAY_ID=${GATEWAY_ID:-bench-gateway} GATEWAY_SECRET=${GATEWAY_SECRET:-bench-gateway-secret} \
  "${pin[@]}" "$bin" "${BENCH_REVOCATIONS:-200}" | tee -a "$results"
