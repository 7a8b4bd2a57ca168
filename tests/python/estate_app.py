"""A FastAPI service governed with the real Python SDK (tappass 0.12), beside
a Rust one: the other half of tests/python_estate.rs. It is what the estate
guide tells a Python service to write, and nothing more.

Run by the test with uvicorn on a free port; it reads TAPPASS_URL and
TAPPASS_API_KEY from its environment (the dev server the test started).
"""

import os

import httpx
from fastapi import FastAPI, Request
from pydantic import BaseModel
from tappass import AsyncAgent, current_session, tappass_session_async
from tappass.integrations.fastapi import TapPassMiddleware

TAPPASS_URL = os.environ["TAPPASS_URL"]
TAPPASS_API_KEY = os.environ["TAPPASS_API_KEY"]

app = FastAPI()
app.add_middleware(TapPassMiddleware, tappass_url=TAPPASS_URL, api_key=TAPPASS_API_KEY)
agent = AsyncAgent(TAPPASS_URL, api_key=TAPPASS_API_KEY)


class ChatIn(BaseModel):
    prompt: str


def session_of(request: Request) -> str:
    """The caller's session: the one the middleware joined, else the id the
    caller sent (the middleware joins only when all four headers are set)."""
    joined = current_session()
    return joined.id if joined else request.headers.get("X-TapPass-Session", "")


@app.post("/chat")
async def chat(req: ChatIn, request: Request):
    session_id = session_of(request)
    # The SDK's Agent.chat sends no session header; the dev server reads the
    # call's session from `metadata.session_id`.
    answer = await agent.chat(req.prompt, metadata={"session_id": session_id})
    joined = current_session()
    return {
        "joined": joined.id if joined else None,
        "session_id": session_id,
        "content": answer.content,
    }


def correlation_headers(session) -> dict:
    """What a Python service sends on to the next one: the session's four
    fields under the names the SDK's middleware reads (empty when unknown)."""
    return {
        "X-TapPass-Session": session.id,
        "X-TapPass-Agent-UUID": session.agent_uuid or "",
        "X-TapPass-Pipeline-UUID": session.pipeline_uuid or "",
        "X-TapPass-Audit-URL": session.audit_url or "",
    }


@app.post("/call-rust")
async def call_rust(request: Request):
    """Opens a session here, in Python, and calls the Rust service in it."""
    target = (await request.json())["url"]
    async with tappass_session_async(url=TAPPASS_URL, api_key=TAPPASS_API_KEY) as session:
        async with httpx.AsyncClient() as client:
            answer = await client.post(target, headers=correlation_headers(session), timeout=20)
    return {"python_session": session.id, "status": answer.status_code, "rust": answer.json()}
