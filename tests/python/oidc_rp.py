"""A relying party made with authlib's Flask client, for tests/oidc_browser.rs.

It signs a person in with the authorization code flow, PKCE S256 and OpenID
Connect exactly as a real web app built on authlib would: discovery, the
redirect, the code exchange, the ID token checked against the JWKS, the
userinfo endpoint, and RP-initiated logout. What authlib saw is shown on the
pages as JSON, for the test to judge.

    python oidc_rp.py '{"port": 5001, "issuer": "http://127.0.0.1:8000",
                        "client_id": "...", "client_secret": "..." (optional),
                        "auth_method": "client_secret_basic" | "none",
                        "scope": "openid profile email" (optional)}'

Serves on the listening socket it is given as stdin (127.0.0.1:<port>) and
prints "ready" on stdout.

What authlib (1.9) checks of the ID token, read from its source
(integrations/base_client/sync_openid.py, oidc/core/claims.py):
- the signature, with the key of the JWKS named by the header's `kid`, for
  an `alg` the discovery document lists;
- `iss`, `aud`, `exp`, `iat`, `nonce` (the one it put in the request);
- `at_hash`, but only when the claim is present: `CodeIDToken` compares it
  with the access token's half hash (SHA-512 for EdDSA, SHA-256 for RS256),
  and skips the check when the claim is missing. So the claims options
  below make `at_hash` (and `aud`, which authlib does not check unless told)
  essential: a token without them is refused, never waved through.
"""

import base64
import html
import json
import sys
import traceback

from authlib.integrations.flask_client import OAuth
from flask import Flask, redirect, request, session, url_for
from werkzeug.serving import make_server

NAME = "tessera"


def page(title, body_id, text):
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f'<pre id="{body_id}">{html.escape(text)}</pre>'
        "</body></html>"
    )


def jwt_part(token, index):
    """A JWT's header (0) or payload (1), read without a check (the ID
    token's was checked by authlib; the access token is only looked at)."""
    segment = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def build(config):
    port = config["port"]
    issuer = config["issuer"].rstrip("/")
    client_id = config["client_id"]
    rp = f"http://127.0.0.1:{port}"

    app = Flask(__name__)
    app.secret_key = f"oidc-rp test secret {port}"
    # Every RP listens on 127.0.0.1, and cookies do not tell ports apart: a
    # session cookie of its own for each, so two RPs in one browser keep
    # their own state.
    app.config["SESSION_COOKIE_NAME"] = f"rp_session_{port}"

    oauth = OAuth(app)
    oauth.register(
        NAME,
        client_id=client_id,
        client_secret=config.get("client_secret"),
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={
            "scope": config.get("scope") or "openid profile email offline_access",
            "code_challenge_method": "S256",
            "token_endpoint_auth_method": config.get("auth_method")
            or "client_secret_basic",
        },
    )
    client = oauth.create_client(NAME)

    @app.route("/login")
    def login():
        extra = {}
        if request.args.get("prompt"):
            extra["prompt"] = request.args["prompt"]
        try:
            return client.authorize_redirect(f"{rp}/callback", **extra)
        except Exception as e:  # discovery failed: say so on the page
            sys.stderr.write(traceback.format_exc())
            return page("RP error", "error", f"{type(e).__name__}: {e}"), 500

    @app.route("/callback")
    def callback():
        try:
            metadata = client.load_server_metadata()
            token = client.authorize_access_token(
                claims_options={
                    "iss": {"essential": True, "values": [metadata["issuer"]]},
                    "aud": {"essential": True, "values": [client_id]},
                    "at_hash": {"essential": True},
                    "nonce": {"essential": True},
                }
            )
            if "userinfo" not in token:
                raise RuntimeError(f"no ID token came back: {sorted(token)}")
            userinfo = client.userinfo(token=token)
        except Exception as e:  # every failure is shown on the page
            error = request.args.get("error") or f"{type(e).__name__}: {e}"
            description = request.args.get("error_description")
            if description:
                error = f"{error}: {description}"
            sys.stderr.write(traceback.format_exc())
            return page("RP error", "error", error), 400
        session["id_token"] = token["id_token"]
        claims = {
            "id_token": dict(token["userinfo"]),
            "alg": jwt_part(token["id_token"], 0).get("alg"),
            "kid": jwt_part(token["id_token"], 0).get("kid"),
            "refresh_token": bool(token.get("refresh_token")),
            "scope": token.get("scope"),
            "token_type": token.get("token_type"),
            "access_token": token["access_token"],
            "access_token_client_id": jwt_part(token["access_token"], 1).get("client_id"),
            "userinfo": dict(userinfo),
            # RFC 9207: the issuer named on the redirect itself.
            "iss_param": request.args.get("iss"),
        }
        return page("Signed in", "claims", json.dumps(claims, indent=2, sort_keys=True))

    @app.route("/logout")
    def logout():
        id_token = session.pop("id_token", None)
        if not id_token:
            return page("RP error", "error", "not signed in"), 400
        return client.logout_redirect(
            post_logout_redirect_uri=f"{rp}/logged-out", id_token_hint=id_token
        )

    @app.route("/logged-out")
    def logged_out():
        state = request.args.get("state", "")
        try:
            client.validate_logout_response()
        except Exception as e:
            return page("RP error", "error", f"logout state: {type(e).__name__}: {e}"), 400
        return page("Logged out", "state", state)

    @app.route("/")
    def index():
        return redirect(url_for("login"))

    return app


def main():
    config = json.loads(sys.argv[1])
    # The test binds the port and hands the listening socket over as stdin
    # (fd 0), so the port cannot be taken in between.
    server = make_server("127.0.0.1", config["port"], build(config), threaded=True, fd=0)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
