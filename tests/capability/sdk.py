"""The Python SDK's side of tests/capability: one process per batch.

Reads {"op": ..., "cases": [...]} on stdin, writes {"results": [...]} on
stdout, one result per case. Every operation calls the real tappass 0.12.62
(tappass.capability_token, tappass.constraints) the way the SDK and its
FastAPI guard do; the clock the SDK reads is set per case.
"""

import base64
import json
import re
import struct
import sys
import time as _time
import types

import tappass.capability_token as ct
from tappass.capability_token import (
    _TOKEN_CONTEXT,
    Authorizer,
    CapabilityToken,
    PublicKey,
    SigningKey,
    TokenPayload,
)
from tappass.constraints import Constraint

NOW = [0]
# The SDK reads time.time() through its module's `time`: pin it per case.
ct.time = types.SimpleNamespace(time=lambda: NOW[0])


def pop_bytes(header):
    """X-TapPass-PoP as TapPassGuard reads it (urlsafe base64, padded)."""
    if not header:
        return None
    try:
        padding = 4 - len(header) % 4
        if padding != 4:
            header += "=" * padding
        return base64.urlsafe_b64decode(header)
    except Exception:
        return None


def check(case):
    NOW[0] = case["now"]
    try:
        token = ct.decode_token_b64(case["token"])
    except Exception as e:
        return {"authorized": False, "reason": "Invalid token: %s" % type(e).__name__}
    authorizer = Authorizer(
        trusted_roots=[PublicKey.from_hex(h) for h in case["roots"]],
        min_trust_score=case.get("min_trust", 0),
    )
    try:
        r = authorizer.check(token, case["tool"], case["args"], pop_bytes(case.get("pop")))
        return {"authorized": r.authorized, "reason": r.reason}
    except Exception as e:
        return {"authorized": False, "error": "%s: %s" % (type(e).__name__, e)}


def revive(v):
    """JSON cannot carry every float: {"$f64": "<16 hex>"} is one by its bits,
    {"$int": "<decimal>"} an integer of any size."""
    if isinstance(v, dict) and set(v) == {"$f64"}:
        return struct.unpack(">d", bytes.fromhex(v["$f64"]))[0]
    if isinstance(v, dict) and set(v) == {"$int"}:
        return int(v["$int"])
    if isinstance(v, dict):
        return {k: revive(x) for k, x in v.items()}
    if isinstance(v, list):
        return [revive(x) for x in v]
    return v


def mint(case):
    """Signs a payload dict as the control plane would, and PoPs for it."""
    payload = TokenPayload.from_dict(revive(case["payload"]))
    key = SigningKey(bytes.fromhex(case["issuer_seed"]))
    signature = key.sign(_TOKEN_CONTEXT + payload.canonical_bytes())
    token = CapabilityToken(payload=payload, signature=signature)
    out = {"token": token.to_b64(), "canonical": payload.canonical_bytes().decode()}
    pops = []
    for p in case.get("pops", []):
        NOW[0] = p["now"]
        holder = SigningKey(bytes.fromhex(p["holder_seed"]))
        sig = token.sign_pop(holder, p["tool"], p["args"])
        pops.append(base64.urlsafe_b64encode(sig).decode().rstrip("="))
    out["pops"] = pops
    return out


def reencode(case):
    """Decodes a token and writes it back, as the SDK does."""
    try:
        token = ct.decode_token_b64(case["token"])
    except Exception as e:
        return {"error": type(e).__name__}
    return {
        "b64": token.to_b64(),
        "json": token.to_json(),
        "canonical": token.payload.canonical_bytes().decode(),
        "signature_ok": token.verify_signature(),
    }


def satisfies(case):
    try:
        c = Constraint.from_dict(json.loads(json.dumps(case["constraint"])))
    except Exception as e:
        return {"invalid": "%s: %s" % (type(e).__name__, e)}
    out = []
    for v in case["values"]:
        try:
            out.append(bool(c.satisfies(v)))
        except Exception as e:
            out.append("error: %s" % type(e).__name__)
    return {"results": out}


def contains(case):
    try:
        p = Constraint.from_dict(json.loads(json.dumps(case["parent"])))
        c = Constraint.from_dict(json.loads(json.dumps(case["child"])))
        return {"contains": bool(p.contains(c))}
    except Exception as e:
        return {"error": "%s: %s" % (type(e).__name__, e)}


def set_contains(case):
    from tappass.constraints import ConstraintSet
    p = ConstraintSet.from_dict(json.loads(json.dumps(case["parent"])))
    c = ConstraintSet.from_dict(json.loads(json.dumps(case["child"])))
    return {"contains": bool(p.contains(c))}


def dumps(case):
    """The signing layout of a value (see revive for floats and big ints)."""
    v = revive(case["value"])
    return {
        "compact": json.dumps(v, sort_keys=True, separators=(",", ":")),
        "spaced": json.dumps(v, sort_keys=True),
        "str": str(v) if isinstance(v, float) else None,
    }


def py_float(case):
    try:
        return {"float": repr(float(case["text"]))}
    except Exception:
        return {"error": True}


def regex(case):
    import warnings
    warnings.simplefilter("ignore")
    try:
        compiled = re.compile(case["pattern"])
    except Exception as e:
        return {"invalid": "%s: %s" % (type(e).__name__, e)}
    return {"results": [bool(compiled.fullmatch(v)) for v in case["values"]]}


def classes(case):
    """Which code points re's \\s matches (to check the translation's set)."""
    space = re.compile(r"\s")
    return {"space": [c for c in range(0x110000) if space.fullmatch(chr(c))]}


def time_check(case):
    """Authorizer.check on the same token, timed (for benches/capability.rs)."""
    NOW[0] = case["now"]
    token = ct.decode_token_b64(case["token"])
    authorizer = Authorizer(trusted_roots=[PublicKey.from_hex(h) for h in case["roots"]])
    pop = pop_bytes(case["pop"])
    rounds, calls = case["rounds"], case["calls"]
    for _ in range(calls):
        r = authorizer.check(token, case["tool"], case["args"], pop)
    assert r.authorized == case["expect"], r.reason
    times = []
    for _ in range(rounds):
        start = _time.perf_counter_ns()
        for _ in range(calls):
            authorizer.check(token, case["tool"], case["args"], pop)
        times.append((_time.perf_counter_ns() - start) / calls)
    # Decoding the header as well, as the FastAPI guard does per request.
    decode_times = []
    for _ in range(rounds):
        start = _time.perf_counter_ns()
        for _ in range(calls):
            t = ct.decode_token_b64(case["token"])
            authorizer.check(t, case["tool"], case["args"], pop_bytes(case["pop"]))
        decode_times.append((_time.perf_counter_ns() - start) / calls)
    return {"check_ns": times, "decode_and_check_ns": decode_times}


OPS = {
    "check": check,
    "mint": mint,
    "reencode": reencode,
    "satisfies": satisfies,
    "contains": contains,
    "set_contains": set_contains,
    "dumps": dumps,
    "float": py_float,
    "regex": regex,
    "classes": classes,
    "time_check": time_check,
}

if __name__ == "__main__":
    request = json.load(sys.stdin)
    op = OPS[request["op"]]
    json.dump({"results": [op(case) for case in request["cases"]]}, sys.stdout)
