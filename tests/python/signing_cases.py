"""The Python SDK's request signing (tappass/signing.py), driven by
tests/signing.rs: reads a JSON list of cases on stdin, answers a JSON list.

A case {"sign": {...}} is signed with the SDK's `sign_request` (a fixed
timestamp and nonce, so that the Rust side can sign the same request and
compare); a case {"verify": {...}} checks a signature made in Rust against
the SDK's canonical string, with the `cryptography` package.
"""

import base64
import json
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from tappass.signing import _build_canonical, sign_request


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def run(case: dict) -> dict:
    if "sign" in case:
        c = case["sign"]
        headers = sign_request(
            agent_id=c["agent_id"],
            private_key_hex=c["key"],
            method=c["method"],
            path=c["path"],
            query=c["query"],
            body=bytes.fromhex(c["body"]),
            timestamp=c["timestamp"],
            nonce=c["nonce"],
        )
        return {"headers": headers}
    c = case["verify"]
    canonical = _build_canonical(
        c["method"], c["path"], c["query"], bytes.fromhex(c["body"]), c["timestamp"], c["nonce"]
    )
    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(c["public_key"]))
    signature = c["signature"]
    assert signature.startswith("ed25519:")
    try:
        key.verify(b64url_decode(signature[len("ed25519:"):]), canonical)
        return {"valid": True}
    except Exception:
        return {"valid": False}


print(json.dumps([run(case) for case in json.load(sys.stdin)]))
