"""A FastAPI tool service guarded by the real Python SDK's ``TapPassGuard``
(tappass 0.12.62), for tests/capability/end_to_end.rs: what a Rust agent
sends (a token the dev server minted, a proof of possession made in Rust)
must pass the SDK's guard as it passes the Rust one.

The SDK's dependency is annotated ``request: Any`` (under ``from __future__
import annotations``), which FastAPI reads as a query parameter named
``request``; so each route hands it the request itself, as the dependency
expects. It returns ``AuthResult(authorized=False)`` rather than refusing;
the route answers it as it is, for the test to read.
"""

import os

from fastapi import FastAPI, Request
from tappass.capability_token import PublicKey
from tappass.integrations.fastapi import TapPassGuard

guard = TapPassGuard(
    trusted_roots=[PublicKey.from_hex(os.environ["TAPPASS_CAPABILITY_KEY"])],
    min_trust_score=50,
)
read_file = guard.require("read_file", query_params=["path"], min_clearance="INTERNAL")
search = guard.require("search", query_params=["q", "index"])

app = FastAPI()


def answer(auth):
    return {
        "authorized": auth.authorized,
        "token_id": auth.token_id,
        "agent_id": auth.agent_id,
        "clearance": auth.clearance,
        "trust_score": auth.trust_score,
        "reason": auth.reason,
    }


@app.get("/read")
async def read(request: Request):
    return answer(await read_file(request))


@app.get("/search")
async def find(request: Request):
    return answer(await search(request))
