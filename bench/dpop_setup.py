#!/usr/bin/env python3
"""Creates the DPoP-bound sessions the refresh_dpop and verify_dpop scenarios replay.

usage: dpop_setup.py BASE_URL OUT_DIR CHAINS PROOFS_BIN SEED_FILE

Logs in 2 x CHAINS times (users from OUT_DIR/users.txt, written by setup.py,
round robin), each time with a fresh DPoP proof by the key in SEED_FILE
(`PROOFS_BIN gen`, the tessera-dpop example dpop_proofs), so every session,
its refresh token and its access token are bound to that key. Checks each
answer: token_type "DPoP" and the access token's cnf.jkt = the key's
thumbprint. Writes to OUT_DIR:
  refresh_dpop_warm.txt  bound refresh tokens for refresh_dpop's warm-up
  refresh_dpop_run.txt   bound refresh tokens for its measured run
  dpop_access.txt        bound access tokens (of the run chains) for verify_dpop
Exits 3, writing nothing, when the server does not bind (an older build).
Standard library only.
"""
import base64
import json
import subprocess
import sys
import urllib.error
import urllib.request

BASE, OUT, CHAINS, PROOFS_BIN, SEED = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
LOGIN = "/api/v1/auth/login"
BATCH = 16  # proofs made at a time, so each is seconds old at most when sent

jkt = json.loads(subprocess.run([PROOFS_BIN, "key", SEED], check=True, capture_output=True, text=True).stdout)["jkt"]
users = [line.split(" ", 1) for line in open(f"{OUT}/users.txt").read().splitlines() if line]
proofs = []


def proof():
    if not proofs:
        made = subprocess.run([PROOFS_BIN, "gen", SEED, "POST", BASE + LOGIN, str(BATCH)],
                              check=True, capture_output=True, text=True).stdout.split()
        proofs.extend(reversed(made))
    return proofs.pop()


def login(i):
    username, password = users[i % len(users)]
    request = urllib.request.Request(
        BASE + LOGIN, data=json.dumps({"username": username, "password": password}).encode(),
        headers={"content-type": "application/json", "dpop": proof()})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as e:
        sys.exit(f"dpop_setup.py: login with a DPoP proof: {e.code} {e.read()[:300]!r}")


def claims(jwt):
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


lines = {name: [] for name in ("refresh_dpop_warm", "refresh_dpop_run", "dpop_access")}
for i in range(CHAINS):
    for name in ("refresh_dpop_warm", "refresh_dpop_run"):
        pair = login(i)
        if pair.get("token_type") != "DPoP":
            print(f"dpop_setup.py: the server answered token_type {pair.get('token_type')!r} to a login with a "
                  "DPoP proof: no DPoP binding in this build", file=sys.stderr)
            sys.exit(3)
        bound = claims(pair["access_token"]).get("cnf", {}).get("jkt")
        if bound != jkt:
            sys.exit(f"dpop_setup.py: the access token's cnf.jkt is {bound!r}, not the key's {jkt}")
        lines[name].append(pair["refresh_token"])
        if name == "refresh_dpop_run":
            lines["dpop_access"].append(pair["access_token"])
for name, tokens in lines.items():
    with open(f"{OUT}/{name}.txt", "w") as f:
        f.write("".join(token + "\n" for token in tokens))
print(f"dpop_setup.py: {2 * CHAINS} sessions bound to key {jkt}", file=sys.stderr)
