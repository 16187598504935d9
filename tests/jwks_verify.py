"""Verifies a tessera access token with PyJWT, an implementation that shares
no code with tessera, using nothing but the published JWKS document.

Usage: jwks_verify.py JWKS_FILE TOKEN ISSUER AUDIENCE
Prints the claims and exits 0 when the token verifies; exits 1 otherwise.
"""

import json
import sys

import jwt


def main() -> int:
    jwks_path, token, issuer, audience = sys.argv[1:5]
    with open(jwks_path, encoding="utf-8") as f:
        jwks = json.load(f)
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.InvalidTokenError as e:
        print(f"invalid header: {e}", file=sys.stderr)
        return 1
    matches = [k for k in jwks.get("keys", []) if k.get("kid") == kid]
    if len(matches) != 1:
        print(f"no key {kid!r} in the JWKS", file=sys.stderr)
        return 1
    key = jwt.PyJWK(matches[0]).key
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=["EdDSA"],
            audience=audience,
            issuer=issuer,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except jwt.InvalidTokenError as e:
        print(f"invalid token: {e}", file=sys.stderr)
        return 1
    print(json.dumps(claims))
    return 0


if __name__ == "__main__":
    sys.exit(main())
