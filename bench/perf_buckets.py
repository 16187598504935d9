#!/usr/bin/env python3
"""Where a server's (and Redis's) CPU time goes, from the flat profiles
BENCH_PERF=1 wrote.

usage: perf_buckets.py RESULTS.json PERF_DIR

For each profiled scenario: the share of samples in each part of the stack
(symbol patterns below, first match wins) times the server's CPU us per
request from the same run, i.e. us per request spent in that part.
"""
import json
import os
import re
import sys

# (part, pattern over "shared object + symbol"); first match wins.
PARTS = [
    ("kernel: TCP, syscalls, scheduling", r"\[kernel|\[vdso\]|\[k\]"),
    ("allocator", r"mi_|mimalloc|malloc|_int_free|cfree|realloc|__libc_calloc|je_|jemalloc"),
    # Redis's own (Debian's redis-server is the stripped redis-check-rdb
    # binary: the Lua VM's symbols are mostly bare addresses).
    ("Redis: Lua numbers as text (printf, strtod)", r"printf_fp|strtod|mpn_|vfprintf"),
    ("Redis: commands, Lua VM, event loop", r"redis-(server|check-rdb)"),
    ("memcpy/memmove", r"memmove|memcpy|memset|memcmp|bcmp"),
    ("Ed25519 / SHA-2 / HMAC", r"curve25519|ed25519|sha2|Sha256|Sha512|sha512|sha256|hmac|ring::|ring_core|GFp_|x25519|fiat_"),
    ("JSON (serde_json)", r"serde_json|serde::"),
    ("base64", r"base64"),
    ("Redis client", r"redis::|deadpool|combine::"),
    ("tracing", r"tracing"),
    ("metrics", r"prometheus|metrics::"),
    ("tessera middleware and limits", r"tessera::http::(edge|limits|observability)|tower_http|catch_panic|governor"),
    ("axum routing, extractors, middleware", r"axum|tower::|matchit|http::header|http::extensions|HeaderMap|hashbrown"),
    ("hyper HTTP/1.1", r"hyper|httparse|h1::"),
    ("tokio runtime, timers", r"tokio|mio::|parking_lot"),
    ("tessera handlers", r"tessera|floor::"),
    ("uuid, time, text", r"uuid|chrono|core::fmt|alloc::fmt|itoa|ryu"),
]


def parse(path):
    """[(percent, shared object, symbol)] of a `perf report --stdio` file."""
    rows = []
    for line in open(path, errors="replace"):
        m = re.match(r"\s*([\d.]+)%\s+\S+\s+(\S+)\s+(.*)$", line)
        if m:
            rows.append((float(m.group(1)), m.group(2), m.group(3).strip()))
    return rows


def buckets(rows):
    """Each part's share of the report's samples (a report filtered to one
    process gives percents of all samples: they are scaled to its own)."""
    total = sum(percent for percent, _, _ in rows) or 1.0
    parts = {}
    for percent, dso, symbol in rows:
        percent = 100 * percent / total
        text = f"{dso} {symbol}"
        part = next((name for name, pattern in PARTS if re.search(pattern, text)), "other")
        parts[part] = parts.get(part, 0.0) + percent
    return parts


def main():
    results = json.load(open(sys.argv[1]))["results"]
    by_name = {r["scenario"]: r for r in results}
    perf_dir = sys.argv[2]
    for name in sorted(os.listdir(perf_dir)):
        if not name.endswith(".txt"):
            continue
        scenario = name[:-4]
        redis = scenario.endswith("-redis")
        row = by_name.get(scenario.removesuffix("-redis"), {})
        us = row.get("redis_us_per_req" if redis else "tessera_us_per_req")
        parts = buckets(parse(os.path.join(perf_dir, name)))
        print(f"\n{scenario}: {us} us of {'Redis' if redis else 'server'} CPU per request")
        for part, percent in sorted(parts.items(), key=lambda kv: -kv[1]):
            cost = f"{us * percent / 100:6.1f} us" if us else ""
            print(f"  {part:<40}{percent:6.1f}%  {cost}")


main()
