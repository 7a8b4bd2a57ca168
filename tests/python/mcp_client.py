"""Clients of a governed MCP server that tests/mcp/ did not write: the
official Python MCP SDK (`mcp`, over streamable HTTP) and the TapPass
Python SDK's MCP side (tappass 0.12.62). Run by tests/mcp/python.rs.

    python mcp_client.py calls URL               list the tools, call the three of the example
    python mcp_client.py call URL TOOL ARGS META  one call, ARGS and META as JSON
    python mcp_client.py sdk URL TAPPASS_URL KEY  a session opened by the TapPass SDK, stamped
                                                  into the call's params by its `with_correlation`

Each prints one JSON document on stdout: what the client saw.
"""

import asyncio
import json
import sys
from typing import Any

from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolRequest, CallToolRequestParams, CallToolResult
from pydantic import ConfigDict


def seen(result: CallToolResult) -> dict[str, Any]:
    """What a caller reads of a tool's result."""
    return {
        "is_error": result.is_error,
        "text": [block.text for block in result.content if getattr(block, "type", "") == "text"],
        "structured": result.structured_content,
        "meta": result.meta,
    }


async def calls(url: str) -> dict[str, Any]:
    async with streamable_http_client(url) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            listed = await session.list_tools()
            out: dict[str, Any] = {"tools": sorted(tool.name for tool in listed.tools)}
            for name, args in [
                ("lookup_invoice", {"number": "INV-1042"}),
                ("delete_database", {"name": "production"}),
                ("send_email", {"to": "cfo@example.com", "subject": "Q3"}),
            ]:
                out[name] = seen(await session.call_tool(name, args))
            return out


async def call(url: str, tool: str, args: dict[str, Any], meta: dict[str, Any] | None) -> dict[str, Any]:
    async with streamable_http_client(url) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            return seen(await session.call_tool(tool, args, meta=meta))


class StampedParams(CallToolRequestParams):
    """The params of a tools/call with the members the TapPass SDK adds: the
    official SDK's own model drops unknown members, so a client that stamps
    its messages keeps them with this one."""

    model_config = ConfigDict(extra="allow")


class StampedRequest(CallToolRequest):
    """A tools/call whose params are serialized with those members (pydantic
    writes a field as its declared type, which would drop them again)."""

    params: StampedParams


class StampingClient:
    """The MCP client `guard_mcp_client` wraps: each call's params are stamped
    with the ambient TapPass session by the SDK's `with_correlation`, the
    function its integrations use to carry a session in a message."""

    def __init__(self, session: ClientSession) -> None:
        self.session = session

    async def call_tool(self, name: str, args: dict[str, Any]) -> CallToolResult:
        from tappass.integrations.a2a import with_correlation

        stamped = with_correlation({"name": name, "arguments": args})
        request = StampedRequest(params=StampedParams(**stamped))
        return await self.session.send_request(request, CallToolResult)


async def sdk(url: str, tappass_url: str, key: str) -> dict[str, Any]:
    from tappass.integrations.mcp import guard_mcp_client

    async with streamable_http_client(url) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            async with guard_mcp_client(StampingClient(session), tappass_url=tappass_url, api_key=key) as guarded:
                result = await guarded.call_tool("lookup_invoice", {"number": "INV-7"})
                return {"session_id": guarded.id, **seen(result)}


def main() -> None:
    command, url, *rest = sys.argv[1:]
    if command == "calls":
        out = asyncio.run(calls(url))
    elif command == "call":
        tool, args, meta = rest
        out = asyncio.run(call(url, tool, json.loads(args), json.loads(meta)))
    elif command == "sdk":
        tappass_url, key = rest
        out = asyncio.run(sdk(url, tappass_url, key))
    else:
        raise SystemExit(f"unknown command {command}")
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
