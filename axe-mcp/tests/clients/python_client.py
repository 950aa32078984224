"""Drives an axe-mcp endpoint with the official Python client (PyPI `mcp` 2.3).

Usage: python_client.py URL TOKEN MODE NOTE_ID
MODE is "legacy" (initialize handshake, sessions) or "auto" (server/discover first, falling
back to the handshake). Lists the tools, stores a note, reads it back, and prints one JSON
object with what it saw, for the Rust test to check.
"""

import asyncio
import json
import sys

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


async def main(url: str, token: str, mode: str, note_id: str) -> None:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30.0)
    async with http:
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, mode=mode, raise_exceptions=True) as client:
            tools = await client.list_tools()
            put = await client.call_tool("notes_put", {"id": note_id, "body": f"from python {mode}"})
            got = await client.call_tool("notes_get", {"id": note_id})
            bad = await client.call_tool("notes_put", {"id": 5})
            print(
                json.dumps(
                    {
                        "tools": sorted(t.name for t in tools.tools),
                        "put": put.structured_content,
                        "put_error": put.is_error,
                        "got": got.structured_content,
                        "bad_error": bad.is_error,
                        "protocol": client.protocol_version,
                        "tools_cache_scope": getattr(tools, "cache_scope", None),
                    }
                )
            )


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
