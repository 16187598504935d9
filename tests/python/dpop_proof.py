"""DPoP proofs made by an independent JOSE implementation (joserfc), for
tests/dpop.rs: ES256 over a P-256 key, as a mobile app's secure enclave
would sign them.

usage: dpop_proof.py '{"key": <private JWK or null>, "htm": "POST", "htu": "...", "ath": "..."?}'
Prints {"key": <private JWK>, "jkt": <RFC 7638 thumbprint>, "proof": "<JWT>"}.
"""
import json
import sys
import time
import uuid

from joserfc import jwt
from joserfc.jwk import ECKey

args = json.loads(sys.argv[1])
key = ECKey.import_key(args["key"]) if args.get("key") else ECKey.generate_key("P-256", private=True)
header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
claims = {"jti": str(uuid.uuid4()), "htm": args["htm"], "htu": args["htu"], "iat": int(time.time())}
if args.get("ath"):
    claims["ath"] = args["ath"]
proof = jwt.encode(header, claims, key, algorithms=["ES256"])
print(json.dumps({"key": key.as_dict(private=True), "jkt": key.thumbprint(), "proof": proof}))
