#!/usr/bin/env python3
"""Signs one bench user in on the hosted sign-in page, for the code_exchange
scenario.

usage: code_setup.py BASE_URL USERS_FILE CLIENT_ID REDIRECT_URI CODE_VERIFIER

GETs /oauth/authorize (scope openid, a fixed state and nonce, the S256
challenge of CODE_VERIFIER), posts the sign-in form it answers with (its
hidden inputs, the form cookie, the first user of USERS_FILE) and checks the
303 back to REDIRECT_URI with a code. Prints two lines: the `tessera_browser`
cookie's value, then the authorize path, which bench/authorize.lua replays
with that cookie to prepare codes (a confidential first-party client: a 303
with a code straight away). Standard library only.
"""
import base64
import hashlib
import html
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

BASE, USERS, CLIENT_ID, REDIRECT, VERIFIER = sys.argv[1:6]
username, password = open(USERS).readline().rstrip("\n").split(" ", 1)
challenge = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
path = "/oauth/authorize?" + urllib.parse.urlencode({
    "response_type": "code",
    "client_id": CLIENT_ID,
    "redirect_uri": REDIRECT,
    "scope": "openid",
    "state": "bench-state",
    "nonce": "bench-nonce",
    "code_challenge": challenge,
    "code_challenge_method": "S256",
})


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


opener = urllib.request.build_opener(NoRedirect)


def send(request):
    """(status, headers, body) of a request, a 3xx or 4xx included."""
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode(errors="replace")


def cookies(headers):
    """name -> value of the Set-Cookie headers."""
    out = {}
    for header in headers.get_all("Set-Cookie") or []:
        name, _, value = header.split(";", 1)[0].partition("=")
        out[name.strip()] = value.strip()
    return out


def fail(what, status, headers, body):
    sys.exit(f"code_setup: {what}: HTTP {status}, Location {headers.get('Location')!r}, body {body[:500]!r}")


status, headers, body = send(urllib.request.Request(BASE + path))
if status != 200 or "<form" not in body:
    fail(f"GET {path} gave no sign-in form", status, headers, body)
form_cookies = cookies(headers)
form = {html.unescape(name): html.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]*)"[^>]*?value="([^"]*)"', body)}
if "csrf" not in form:
    fail("the sign-in form has no csrf input", status, headers, body)
form.update(action="sign_in", username=username, password=password)
status, headers, body = send(urllib.request.Request(
    BASE + "/oauth/authorize",
    data=urllib.parse.urlencode(form).encode(),
    headers={
        "content-type": "application/x-www-form-urlencoded",
        "cookie": "; ".join(f"{k}={v}" for k, v in form_cookies.items()),
    },
))
location = headers.get("Location") or ""
browser = cookies(headers).get("tessera_browser")
if status != 303 or not location.startswith(REDIRECT + "?") or "code=" not in location or not browser:
    fail(f"signing {username} in did not redirect to {REDIRECT} with a code and a browser cookie",
         status, headers, body)
print(browser)
print(path)
