#!/usr/bin/env python3
"""Fetches client_credentials tokens for the verify_client scenario.

usage: client_tokens.py BASE_URL CLIENT_ID CLIENT_SECRET COUNT OUT_FILE
Standard library only.
"""
import base64
import json
import sys
import urllib.request

BASE, CLIENT_ID, SECRET, COUNT, OUT = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
basic = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
with open(OUT, "w") as out:
    for _ in range(COUNT):
        request = urllib.request.Request(
            BASE + "/oauth/token",
            data=b"grant_type=client_credentials",
            headers={"content-type": "application/x-www-form-urlencoded", "authorization": "Basic " + basic},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            out.write(json.loads(response.read())["access_token"] + "\n")
print(basic)
