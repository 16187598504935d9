#!/usr/bin/env python3
"""Prints the bench results as a table and saves them as one JSON document.

usage: table.py RESULTS.jsonl OUT.json
"""
import json
import os
import platform
import subprocess
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
by_name = {row["scenario"]: row for row in rows}
argon2 = by_name.get("argon2id_raw", {}).get("rps")
ceiling = by_name.get("health_live", {}).get("rps")
# A DPoP scenario is given as a fraction of its unbound twin in the same run.
twins = {"verify_dpop": "verify", "refresh_dpop": "refresh", "login_totp": "login"}

# Each hot path over the floor beneath it (bench/floor/server.rs), and the
# least fraction of it the path should reach.
floors = {"health_live": ("floor_bare", 0.7), "verify": ("floor_read", 0.8),
          "oauth_introspect": ("floor_read", 0.8), "refresh": ("floor_sign", 0.7),
          "oauth_token_refresh": ("floor_sign", 0.7)}

print(f"{'scenario':<22}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>9}{'errors':>8}"
      f"{'server us':>12}{'redis us':>10}  note")
for row in rows:
    if "p50_ms" not in row or row["scenario"] in ("floor_bare", "floor_read", "floor_sign"):
        continue
    note = ""
    if argon2 and row["scenario"] in ("login", "register"):
        note = f"{100 * row['rps'] / argon2:.0f}% of raw argon2id"
    elif row["scenario"] in twins and by_name.get(twins[row["scenario"]], {}).get("rps"):
        twin = twins[row["scenario"]]
        note = f"{row['rps'] / by_name[twin]['rps']:.2f} of {twin}"
        if ceiling:
            note += f", {row['rps'] / ceiling:.2f} of /health/live"
    elif ceiling and row["scenario"] != "health_live":
        note = f"{row['rps'] / ceiling:.2f} of /health/live"
    cpu = "".join(f"{row[key]:>{width}.1f}" if key in row else " " * width
                  for key, width in (("tessera_us_per_req", 12), ("redis_us_per_req", 10)))
    print(f"{row['scenario']:<22}{row['rps']:>10.0f}{row['p50_ms']:>10.2f}{row['p99_ms']:>10.2f}"
          f"{row['non_2xx']:>9}{row['socket_errors']:>8}{cpu}  {note}")
print("(server us, redis us: CPU time per request of tessera (or the floor server) and of Redis, both pinned to CPU 0)")

if any(name in by_name for name in ("floor_bare", "floor_read", "floor_sign")):
    print()
    print(f"{'hot path / its floor':<36}{'req/s':>10}{'floor':>10}{'ratio':>8}{'target':>8}"
          f"{'server us':>11}{'floor us':>10}{'redis us':>10}{'floor':>7}{'p99 ms':>8}")
    for path, (floor, target) in floors.items():
        if path not in by_name or floor not in by_name:
            continue
        over, under = by_name[path], by_name[floor]
        cells = "".join(f"{r.get(key, float('nan')):>{w}.1f}" for r, key, w in (
            (over, "tessera_us_per_req", 11), (under, "tessera_us_per_req", 10),
            (over, "redis_us_per_req", 10), (under, "redis_us_per_req", 7)))
        ratio_ = over["rps"] / under["rps"]
        print(f"{path + ' / ' + floor:<36}{over['rps']:>10.0f}{under['rps']:>10.0f}{ratio_:>8.2f}{'>= ' + str(target):>8}"
              f"{cells}{over['p99_ms']:>8.2f}")
    print("(p99 target at 32 connections: under 5 ms for verify and refresh)")
if argon2:
    print(f"{'argon2id raw (1 core)':<22}{argon2:>10.1f}")
for key, label in (("rss_idle_kib", "RSS idle"), ("rss_peak_kib", "RSS peak")):
    if key in by_name:
        print(f"{label:<22}{by_name[key]['value'] / 1024:>10.1f} MiB")
if "redis_bytes_per_session" in by_name:
    row = by_name["redis_bytes_per_session"]
    print(f"{'Redis per session':<22}{row['value']:>10} bytes  ({row['sessions']} sessions)")


def ratio(over, under):
    if over in by_name and under in by_name and by_name[under]["rps"]:
        return by_name[over]["rps"] / by_name[under]["rps"]
    return None


feed = [
    ("revocation_propagation", lambda r: f"p50 {r['propagation_p50_ms']:.2f} ms, p99 {r['propagation_p99_ms']:.2f} ms "
                                         f"over {r['samples']} logouts", "p99 <= 1000 ms"),
    ("verify_in_process_seen", lambda r: f"{r['checks_per_s']:,.0f} checks/s (one core)", ">= 1,000,000/s"),
    ("verify_in_process_first_seen", lambda r: f"{r['checks_per_s']:,.0f} checks/s (one core)", "one Ed25519 check"),
]


def section(title, rows):
    """Prints the rows measured in this run under `title`; False when none was."""
    if not any(name in by_name for name, _, _ in rows):
        return False
    print()
    print(f"{title:<30}{'measured':<52}target")
    for name, show, target in rows:
        if name in by_name:
            print(f"{name:<30}{show(by_name[name]):<52}{target}")
    return True


section("feed, tessera-verify", feed)

scale = [
    ("seed_users", lambda r: f"{r['seconds']:.1f} s for {r['users']} users, {r['sessions']} sessions", "<= 10 s"),
    ("purge_users", lambda r: f"{r['seconds']:.1f} s for {r['users']} users", "<= 5 s"),
    ("seed_sessions", lambda r: f"{r['seconds']:.1f} s for {r['users']} users, {r['sessions']} sessions", ""),
    ("redis_bytes_per_live_session", lambda r: f"{r['value']} bytes ({r['sessions']} sessions, one per user)", "<= 400"),
]
if section("scale", scale):
    for over, under, target in (("verify_1m", "verify_1k", 0.9), ("refresh_1m", "refresh_1k", 0.9),
                                ("verify_distinct", "verify_cached", 0.7), ("verify", "health_live", 0.75),
                                ("refresh", "health_live", 0.5)):
        value = ratio(over, under)
        if value is not None:
            print(f"{over + ' / ' + under:<30}{value:<52.2f}>= {target}")

clients = [(over, under, target) for over, under, target in (
    ("client_credentials", "refresh", 0.8), ("verify_client", "verify", 0.95),
    ("oauth_token_refresh", "refresh", 1.0), ("oauth_introspect", "verify", 1.0),
    ("code_exchange", "refresh", 0.8))
    if ratio(over, under) is not None]
if clients:
    print()
    print(f"{'OAuth twins and clients':<30}{'ratio (same run)':<52}target")
    for over, under, target in clients:
        print(f"{over + ' / ' + under:<30}{ratio(over, under):<52.2f}>= {target}")

dpop_rows = [(over, under, target) for over, under, target in (
    ("refresh_dpop", "refresh", 0.7), ("verify_dpop", "verify", 0.6)) if ratio(over, under) is not None]
in_process = [name for name in ("dpop_check_in_process", "ed25519_verify_in_process", "ed25519_sign_in_process")
              if name in by_name]
if dpop_rows or in_process:
    print()
    print(f"{'DPoP (RFC 9449)':<30}{'measured (same run)':<52}target")
    for over, under, target in dpop_rows:
        # A request without a proof left (or any other refusal) is a
        # non-2xx: then the rate is not that of bound requests.
        refused = by_name[over]["non_2xx"] + by_name[over]["socket_errors"]
        shown = f"{ratio(over, under):.2f}" + (f"  (NOT COMPARABLE: {refused} non-2xx/errors)" if refused else "")
        print(f"{over + ' / ' + under:<30}{shown:<52}>= {target}")
    for over, under, _ in dpop_rows:
        # What a bound request costs tessera beyond its twin, beside the check.
        if "tessera_us_per_req" in by_name[over] and "tessera_us_per_req" in by_name[under]:
            extra = by_name[over]["tessera_us_per_req"] - by_name[under]["tessera_us_per_req"]
            print(f"{over + ' extra CPU':<30}{f'{extra:+.1f} us of tessera per request over {under}':<52}"
                  "the floor: one proof check")
    shows = {
        "dpop_check_in_process": lambda r: f"{r['us_per_op']:.1f} us per check ({r['ops_per_s']:,.0f}/s, one core)",
        "ed25519_verify_in_process": lambda r: f"{r['us_per_op']:.1f} us (ring, as check; dalek {r['dalek_us_per_op']:.1f} us)",
        "ed25519_sign_in_process": lambda r: f"{r['us_per_op']:.1f} us (ed25519-dalek)",
    }
    notes = {"dpop_check_in_process": "tessera_dpop::check, resource proof",
             "ed25519_verify_in_process": "one signature check alone",
             "ed25519_sign_in_process": "one signature"}
    for name in in_process:
        print(f"{name:<30}{shows[name](by_name[name]):<52}{notes[name]}")

cpu = ""
try:
    cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
except (OSError, StopIteration):
    pass
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
binary = os.environ.get("BENCH_BIN") or f"{os.environ.get('BENCH_PROFILE', 'release')} build of the commit"
json.dump({"commit": commit, "binary": binary, "cpu": cpu, "kernel": platform.release(), "results": rows}, open(sys.argv[2], "w"), indent=2)
