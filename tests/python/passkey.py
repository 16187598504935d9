"""A software passkey for tests/passkeys.rs: a FIDO2 authenticator and the
browser's part of a WebAuthn ceremony, built on Yubico's python-fido2 (an
independent implementation of WebAuthn's data structures: CBOR, COSE keys,
authenticator data, client data) and `cryptography` for ES256. It answers
the options tessera sends as a browser would, with what the test tells it
to claim (origin, relying party, user verification, signature counter).

usage: passkey.py < request.json > answer.json
  {"op": "create", "options": <publicKey of the creation options>,
   "origin": "http://localhost:8000", "rp_id"?: <instead of options.rp.id>,
   "uv"?: true}
    -> {"credential": <PublicKeyCredential.toJSON()>,
        "passkey": {"key": <PKCS#8 PEM>, "id": <b64url>, "user": <b64url>},
        "asked": {"resident_key", "user_verification", "excluded"}}
  {"op": "get", "options": <publicKey of the request options>,
   "passkey": <as created>, "origin": ..., "counter": N, "rp_id"?: ...,
   "uv"?: true}
    -> {"credential": <PublicKeyCredential.toJSON()>}
A credential the options exclude (create) or do not allow (get) is an
error, as an authenticator would refuse it.
"""
import json
import os
import sys
from hashlib import sha256

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fido2.cose import ES256
from fido2.utils import websafe_decode, websafe_encode
from fido2.webauthn import (
    AttestationObject,
    AttestedCredentialData,
    AuthenticatorData,
    CollectedClientData,
)

FLAG = AuthenticatorData.FLAG


def flags(request):
    return FLAG.UP | (FLAG.UV if request.get("uv", True) else 0)


def create(request):
    options = request["options"]
    rp_id = request.get("rp_id") or options["rp"]["id"]
    assert any(p["alg"] == ES256.ALGORITHM for p in options["pubKeyCredParams"]), options
    excluded = [websafe_decode(c["id"]) for c in options.get("excludeCredentials") or []]
    key = ec.generate_private_key(ec.SECP256R1())
    credential_id = os.urandom(32)
    attested = AttestedCredentialData.create(
        b"\0" * 16, credential_id, ES256.from_cryptography_key(key.public_key())
    )
    auth_data = AuthenticatorData.create(
        sha256(rp_id.encode()).digest(), flags(request) | FLAG.AT, 0, attested
    )
    attestation = AttestationObject.create("none", auth_data, {})
    client_data = CollectedClientData.create(
        "webauthn.create", options["challenge"], request["origin"]
    )
    selection = options.get("authenticatorSelection") or {}
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return {
        "credential": {
            "id": websafe_encode(credential_id),
            "rawId": websafe_encode(credential_id),
            "type": "public-key",
            "response": {
                "attestationObject": websafe_encode(attestation),
                "clientDataJSON": client_data.b64,
                "transports": ["internal"],
            },
            "clientExtensionResults": {"credProps": {"rk": True}},
        },
        "passkey": {
            "key": pem.decode(),
            "id": websafe_encode(credential_id),
            "user": options["user"]["id"],
        },
        "asked": {
            "resident_key": selection.get("residentKey"),
            "user_verification": selection.get("userVerification"),
            "excluded": len(excluded),
        },
    }


def get(request):
    options = request["options"]
    passkey = request["passkey"]
    rp_id = request.get("rp_id") or options["rpId"]
    allowed = [c["id"] for c in options.get("allowCredentials") or []]
    if allowed and passkey["id"] not in allowed:
        sys.exit("NotAllowedError: this passkey is not among allowCredentials")
    key = serialization.load_pem_private_key(passkey["key"].encode(), None)
    auth_data = AuthenticatorData.create(
        sha256(rp_id.encode()).digest(), flags(request), request["counter"]
    )
    client_data = CollectedClientData.create(
        "webauthn.get", options["challenge"], request["origin"]
    )
    signature = key.sign(auth_data + client_data.hash, ec.ECDSA(hashes.SHA256()))
    return {
        "credential": {
            "id": passkey["id"],
            "rawId": passkey["id"],
            "type": "public-key",
            "response": {
                "authenticatorData": websafe_encode(auth_data),
                "clientDataJSON": client_data.b64,
                "signature": websafe_encode(signature),
                "userHandle": passkey["user"],
            },
            "clientExtensionResults": {},
        }
    }


request = json.load(sys.stdin)
answer = {"create": create, "get": get}[request["op"]](request)
json.dump(answer, sys.stdout)
