#!/usr/bin/env python3
"""The two-step TOTP login scenario's users: enrols an authenticator app for
seeded users, then writes the code each must send in the next run.

usage: totp_setup.py enrol BASE_URL SEEDED.ndjson OUT.txt
         SEEDED.ndjson: `tessera load seed --password ... --output` lines;
         OUT.txt gets "username password secret" per user (the
         password may hold spaces).
       totp_setup.py codes USERS.txt OUT.txt
         OUT.txt gets "username password code" per user: the code of the
         step after the current one (RFC 6238 allows one step of drift, so it
         passes for the next 30 to 60 s, and it is later than the step the
         enrolment's own code used up).
Standard library only (RFC 6238: HMAC-SHA-1, 6 digits, 30 s).
"""
import base64
import concurrent.futures
import hashlib
import hmac
import json
import struct
import sys
import time
import urllib.request


def code(secret, step):
    key = base64.b32decode(secret + "=" * (-len(secret) % 8), casefold=True)
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    return f"{(struct.unpack('>I', mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


def post(base, path, token, body):
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def enrol(base, session):
    started = post(base, "/api/v1/users/me/mfa/totp", session["access_token"], {})
    secret = started["secret"]
    post(base, "/api/v1/users/me/mfa/totp/confirm", session["access_token"],
         {"code": code(secret, int(time.time()) // 30)})
    return f"{session['username']} {session['password']} {secret}\n"


def main():
    if sys.argv[1] == "enrol":
        base, seeded, out = sys.argv[2:5]
        sessions = [json.loads(line) for line in open(seeded) if line.strip()]
        with concurrent.futures.ThreadPoolExecutor(8) as pool, open(out, "w") as f:
            for line in pool.map(lambda s: enrol(base, s), sessions):
                f.write(line)
    elif sys.argv[1] == "codes":
        users, out = sys.argv[2:4]
        step = int(time.time()) // 30 + 1
        with open(out, "w") as f:
            for line in open(users):
                if line.strip():
                    username, rest = line.rstrip("\n").split(" ", 1)
                    password, secret = rest.rsplit(" ", 1)
                    f.write(f"{username} {password} {code(secret, step)}\n")
    else:
        sys.exit(__doc__)


main()
