#!/usr/bin/env python3
"""Sign in to tessera from a native app, the RFC 8252 way.

A desktop or command-line app cannot keep a secret, so it is a *public*
client: it proves that the code it gets back is its own with PKCE (S256),
and it receives that code on a loopback address (http://127.0.0.1:<port>/
callback, any free port) that only this machine can reach. The person signs
in in their own browser, on tessera's page; the app never sees the password.

Steps, each marked below:
 1. read the discovery document;
 2. listen on 127.0.0.1 on a free port;
 3. build the authorize URL with a PKCE challenge, a state and a nonce, and
    open the system browser on it (or print it with --no-browser);
 4. receive the code on /callback, check the state and the issuer;
 5. exchange the code at the token endpoint (client_id, no secret);
 6. refresh once with the refresh token.

Standard library only. Usage:

    python3 native_app.py --issuer https://auth.example.com --client-id ID
"""

import argparse
import base64
import hashlib
import http.server
import json
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import webbrowser

DEFAULT_SCOPE = "openid profile email offline_access"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def get_json(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as e:
        sys.exit(f"{url} answered {e.code}: {e.read().decode('utf-8', 'replace')}")
    except urllib.error.URLError as e:
        sys.exit(f"{url}: {e.reason}")


def post_form(url, form):
    """POSTs a form; returns the JSON answer, or exits with the OAuth error."""
    body = urllib.parse.urlencode(form).encode("ascii")
    request = urllib.request.Request(
        url,
        data=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as e:
        sys.exit(f"{url} answered {e.code}: {e.read().decode('utf-8', 'replace')}")


def id_token_claims(id_token):
    """The ID token's claims. Its signature is not checked here: it came
    straight from the token endpoint over the connection this app opened
    (OIDC Core §3.1.3.7 allows relying on TLS then). A real app should use
    https, or check the signature against the JWKS with a JOSE library."""
    payload = id_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


class Callback(http.server.BaseHTTPRequestHandler):
    """Receives the one redirect from tessera."""

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/callback":
            self.send_error(404)
            return
        self.server.params = dict(urllib.parse.parse_qsl(url.query))
        ok = "code" in self.server.params
        text = (
            "Signed in. You can close this tab and return to the app."
            if ok
            else "Sign-in did not complete. Return to the app for details."
        )
        body = (
            f"<!doctype html><meta charset=utf-8><title>native app</title><h1>{text}</h1>"
        ).encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # keep stdout for the results
        pass


def wait_for_callback(server, timeout):
    """Serves requests until /callback has come (bounded by `timeout`)."""
    deadline = time.monotonic() + timeout
    server.params = None
    server.timeout = 1
    while server.params is None:
        if time.monotonic() > deadline:
            sys.exit(f"no sign-in within {timeout} s")
        server.handle_request()
    return server.params


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--issuer", required=True, help="tessera's issuer URL (jwt.issuer)")
    parser.add_argument("--client-id", required=True, help="the public client's id")
    parser.add_argument("--scope", default=DEFAULT_SCOPE)
    parser.add_argument(
        "--no-browser",
        action="store_true",
        help="print the sign-in URL instead of opening a browser",
    )
    parser.add_argument(
        "--timeout", type=float, default=300, help="seconds to wait for the sign-in"
    )
    args = parser.parse_args()
    issuer = args.issuer.rstrip("/")

    # 1. Discovery.
    metadata = get_json(f"{issuer}/.well-known/openid-configuration")
    if metadata.get("issuer") != issuer:
        sys.exit(f"the discovery document names issuer {metadata.get('issuer')!r}")
    if "S256" not in metadata.get("code_challenge_methods_supported", []):
        sys.exit("the server does not offer PKCE S256")

    # 2. A loopback listener on a free port (RFC 8252 §7.3).
    server = http.server.HTTPServer(("127.0.0.1", 0), Callback)
    redirect_uri = f"http://127.0.0.1:{server.server_address[1]}/callback"

    # 3. PKCE (RFC 7636): a secret verifier, and its SHA-256 as challenge.
    verifier = secrets.token_urlsafe(64)
    challenge = b64url(hashlib.sha256(verifier.encode("ascii")).digest())
    state = secrets.token_urlsafe(24)
    nonce = secrets.token_urlsafe(24)
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": args.client_id,
            "redirect_uri": redirect_uri,
            "scope": args.scope,
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    authorize_url = f"{metadata['authorization_endpoint']}?{query}"
    if args.no_browser:
        print(f"Open this URL to sign in: {authorize_url}", flush=True)
    else:
        print("Opening your browser to sign in...", flush=True)
        if not webbrowser.open(authorize_url):
            print(f"Open this URL to sign in: {authorize_url}", flush=True)

    # 4. The redirect: the state must be ours, the issuer (RFC 9207) the one
    # we asked.
    params = wait_for_callback(server, args.timeout)
    server.server_close()
    if params.get("state") != state:
        sys.exit("the callback's state is not ours; stopping")
    if "iss" in params and params["iss"] != issuer:
        sys.exit(f"the callback came from issuer {params['iss']!r}")
    if "error" in params:
        sys.exit(f"sign-in refused: {params['error']} {params.get('error_description', '')}")

    # 5. The code for tokens: the verifier proves this app asked for it.
    tokens = post_form(
        metadata["token_endpoint"],
        {
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            "client_id": args.client_id,
        },
    )
    print(f"token response: {json.dumps(tokens, sort_keys=True)}", flush=True)
    if "id_token" in tokens:
        claims = id_token_claims(tokens["id_token"])
        aud = claims.get("aud")
        if claims.get("iss") != issuer or args.client_id not in (
            aud if isinstance(aud, list) else [aud]
        ):
            sys.exit(f"the ID token is not for this app: {claims}")
        if claims.get("nonce") != nonce:
            sys.exit("the ID token's nonce is not ours")
        print(f"signed in as: {claims['sub']}", flush=True)

    # 6. A refresh, as the app would do when the access token expires.
    if "refresh_token" not in tokens:
        print("no refresh token (ask for offline_access)", flush=True)
        return
    refreshed = post_form(
        metadata["token_endpoint"],
        {
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": args.client_id,
        },
    )
    print(f"refreshed: {json.dumps(refreshed, sort_keys=True)}", flush=True)


if __name__ == "__main__":
    main()
