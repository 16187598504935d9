#!/usr/bin/env python3
"""Creates the users and tokens the load scenarios replay.

usage: setup.py BASE_URL OUT_DIR USERS CHAINS [ROUNDS]

Writes to OUT_DIR:
  users.txt            "username password" per line (login scenario)
  access.txt           live access tokens (verify scenario)
  refresh_warm.txt     refresh tokens for the warm-up run of the refresh scenarios
  refresh_run_N.txt    refresh tokens for the Nth measured refresh round (1..ROUNDS)
  refresh_oauth_N.txt  refresh tokens for the Nth measured /oauth/token round
A round rotates its chains, so each round has chains of its own.
Standard library only.
"""
import json
import secrets
import sys
import urllib.request

BASE, OUT, USERS, CHAINS = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ROUNDS = int(sys.argv[5]) if len(sys.argv) > 5 else 1
PASSWORD = "bench passphrase " + secrets.token_hex(4)


def post(path, body):
    request = urllib.request.Request(
        BASE + path, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def login(username):
    return post("/api/v1/auth/login", {"username": username, "password": PASSWORD})


users = []
for i in range(USERS):
    username = f"bench{secrets.token_hex(6)}"
    post("/api/v1/auth/register", {"email": f"{username}@example.com", "username": username, "password": PASSWORD})
    users.append(username)

with open(f"{OUT}/users.txt", "w") as f:
    for username in users:
        f.write(f"{username} {PASSWORD}\n")

chains = ["refresh_warm"] + [f"refresh_{kind}_{n}" for n in range(1, ROUNDS + 1) for kind in ("run", "oauth")]
files = {name: open(f"{OUT}/{name}.txt", "w") for name in ["access"] + chains}
for i in range(CHAINS):
    username = users[i % len(users)]
    for name in chains:
        pair = login(username)
        files[name].write(pair["refresh_token"] + "\n")
        if name == "refresh_run_1":
            files["access"].write(pair["access_token"] + "\n")
for f in files.values():
    f.close()
