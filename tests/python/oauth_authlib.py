"""Third-party OAuth clients against a running tessera, for tests/oauth_authlib.rs.

authlib drives the grants (client credentials with client_secret_basic,
client_secret_post and private_key_jwt; token exchange), PyJWT checks the
access tokens against the published JWKS, requests sends what a library
would not (a replayed assertion). This script reports what it saw as one JSON
document on stdout and leaves the judging to the Rust test; anything it did
not expect is a traceback on stderr and exit status 1.

Usage: oauth_authlib.py STORY JSON_ARGS
  keygen        {"dir"}: new Ed25519 and P-256 keys; the private halves as PEM
                files in dir, the public JWKs on stdout.
  secret        {"base_url", "client_id", "client_secret", "method", "scope",
                 "issuer", "audience"}
  private_key   {"base_url", "client_id", "key", "alg", "kid", "scope",
                 "other_key", "other_alg", "issuer", "audience"}
  exchange      {"base_url", "client_id", "client_secret", "subject_token",
                 "audience", "scope", "issuer"}
"""

import json
import os
import sys
import warnings
from urllib.parse import parse_qsl

import jwt
import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from joserfc.jwk import ECKey, OKPKey

# tessera signs and accepts "EdDSA" (RFC 8037, as its spec says); joserfc
# warns on every use since RFC 9864 named the fully specified "Ed25519".
warnings.filterwarnings("ignore", message="EdDSA is deprecated")

TIMEOUT = 10
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


def metadata(base_url):
    """RFC 8414 discovery: where a client learns the token endpoint and JWKS."""
    response = requests.get(
        f"{base_url}/.well-known/oauth-authorization-server", timeout=TIMEOUT
    )
    response.raise_for_status()
    return response.json()


def session(client_id, secret_or_key, method, scope=None):
    """An authlib session that records what it sent to the token endpoint."""
    client = OAuth2Session(
        client_id,
        secret_or_key,
        token_endpoint_auth_method=method,
        scope=scope,
        default_timeout=TIMEOUT,
    )
    client.sent = []

    def record(response, *_args, **_kwargs):
        request = response.request
        body = request.body or ""
        if isinstance(body, bytes):
            body = body.decode()
        form = dict(parse_qsl(body))
        client.sent.append(
            {
                "url": request.url,
                "authorization": request.headers.get("Authorization", "").split(" ")[0],
                "form_keys": sorted(form),
                "client_id": form.get("client_id"),
            }
        )

    client.hooks["response"].append(record)
    return client


def fetch(client, token_url, **kwargs):
    """fetch_token, with authlib's error (if it raised one) as data."""
    try:
        token = client.fetch_token(token_url, timeout=TIMEOUT, **kwargs)
    except OAuthError as e:
        return {"raised": type(e).__name__, "error": e.error, "description": e.description}
    return {"token": dict(token)}


def check_at_verify(client, base_url, scope):
    """authlib's session sends its token to tessera's forward-auth check."""
    response = client.get(
        f"{base_url}/api/v1/auth/verify", params={"scope": scope}, timeout=TIMEOUT
    )
    return {
        "status": response.status_code,
        "x_client_id": response.headers.get("X-Client-Id"),
        "x_scope": response.headers.get("X-Scope"),
    }


def pyjwt_decode(jwks_uri, token, issuer, audience):
    """The access token checked by PyJWT with nothing but the published JWKS."""
    signing_key = jwt.PyJWKClient(jwks_uri, timeout=TIMEOUT).get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        signing_key.key,
        algorithms=["EdDSA"],
        audience=audience,
        issuer=issuer,
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
    )
    return {"header": jwt.get_unverified_header(token), "claims": claims}


def keygen(args):
    """Makes the client's keys here: only the public halves leave this side."""
    keys = {
        "ed25519": (ed25519.Ed25519PrivateKey.generate(), OKPKey, "EdDSA"),
        "p256": (ec.generate_private_key(ec.SECP256R1()), ECKey, "ES256"),
    }
    public = {}
    for name, (private, jwk_class, alg) in keys.items():
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path = os.path.join(args["dir"], f"{name}.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        jwk = jwk_class.import_key(pem)
        public[name] = {
            **jwk.as_dict(private=False),
            "kid": jwk.thumbprint(),
            "alg": alg,
            "use": "sig",
        }
    return public


def secret(args):
    meta = metadata(args["base_url"])
    token_url = meta["token_endpoint"]
    client = session(args["client_id"], args["client_secret"], args["method"], args["scope"])
    result = fetch(client, token_url, grant_type="client_credentials")
    result["sent"] = client.sent[-1]
    if "token" in result:
        access = result["token"]["access_token"]
        result["verify"] = check_at_verify(client, args["base_url"], args["scope"])
        result["pyjwt"] = pyjwt_decode(meta["jwks_uri"], access, args["issuer"], args["audience"])
    wrong = session(
        args["client_id"], "not-" + args["client_secret"], args["method"], args["scope"]
    )
    result["wrong_secret"] = fetch(wrong, token_url, grant_type="client_credentials")
    result["methods_supported"] = meta["token_endpoint_auth_methods_supported"]
    return result


def load_key(path):
    with open(path, "rb") as f:
        pem = f.read()
    private = serialization.load_pem_private_key(pem, password=None)
    return (OKPKey if isinstance(private, ed25519.Ed25519PrivateKey) else ECKey).import_key(pem)


def private_key(args):
    meta = metadata(args["base_url"])
    token_url = meta["token_endpoint"]
    key = load_key(args["key"])

    def signing_session(signing_key, alg):
        client = session(args["client_id"], signing_key, "private_key_jwt", args["scope"])
        client.register_client_auth_method(
            PrivateKeyJWT(token_url, alg=alg, headers={"kid": args["kid"]})
        )
        return client

    client = signing_session(key, args["alg"])
    result = fetch(client, token_url, grant_type="client_credentials")
    result["sent"] = client.sent[-1]
    if "token" in result:
        access = result["token"]["access_token"]
        result["verify"] = check_at_verify(client, args["base_url"], args["scope"])
        result["pyjwt"] = pyjwt_decode(meta["jwks_uri"], access, args["issuer"], args["audience"])

    # One assertion made by authlib, sent twice by hand: the second is a replay.
    assertion = private_key_jwt_sign(
        key, args["client_id"], token_url, alg=args["alg"], header={"kid": args["kid"]}
    )
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
    }
    result["assertion_header"] = jwt.get_unverified_header(assertion)
    result["assertion_claims"] = jwt.decode(assertion, options={"verify_signature": False})
    result["replay"] = []
    for _ in range(2):
        response = requests.post(token_url, data=form, timeout=TIMEOUT)
        result["replay"].append({"status": response.status_code, "body": response.json()})

    # The right client id, someone else's key: authlib is told invalid_client.
    impostor = signing_session(load_key(args["other_key"]), args["other_alg"])
    result["other_key"] = fetch(impostor, token_url, grant_type="client_credentials")
    return result


def exchange(args):
    meta = metadata(args["base_url"])
    client = session(args["client_id"], args["client_secret"], "client_secret_basic")
    result = fetch(
        client,
        meta["token_endpoint"],
        grant_type=TOKEN_EXCHANGE,
        subject_token=args["subject_token"],
        subject_token_type=ACCESS_TOKEN_TYPE,
        audience=args["audience"],
        scope=args["scope"],
    )
    result["sent"] = client.sent[-1]
    if "token" in result:
        access = result["token"]["access_token"]
        result["pyjwt"] = pyjwt_decode(meta["jwks_uri"], access, args["issuer"], args["audience"])
    return result


STORIES = {
    "keygen": keygen,
    "secret": secret,
    "private_key": private_key,
    "exchange": exchange,
}


def main():
    story, args = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(STORIES[story](args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
