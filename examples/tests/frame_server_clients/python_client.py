"""Drives the frame server with the official Python MCP client (PyPI `mcp` 2.3).

Usage: python_client.py URL TOKEN MODE OWN_ID OTHER_ID
MODE is "legacy" (initialize handshake, sessions) or "auto". Asks whoami, stores a record
under OWN_ID, reads it back, tries to read OTHER_ID (another entity's record), and prints one
JSON object with what it saw, for the Rust test to check.
"""

import asyncio
import json
import sys

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


async def main(url: str, token: str, mode: str, own_id: str, other_id: str) -> None:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30.0)
    async with http:
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, mode=mode, raise_exceptions=True) as client:
            tools = await client.list_tools()
            me = await client.call_tool("whoami", {})
            put = await client.call_tool("records_put", {"id": own_id, "body": {"from": "python"}})
            got = await client.call_tool("records_get", {"id": own_id})
            other = await client.call_tool("records_get", {"id": other_id})
            bad = await client.call_tool("records_put", {"id": "", "body": 1})
            print(
                json.dumps(
                    {
                        "tools": sorted(t.name for t in tools.tools),
                        "whoami": me.structured_content,
                        "put_error": put.is_error,
                        "got": got.structured_content,
                        "other_error": other.is_error,
                        "bad_error": bad.is_error,
                    }
                )
            )


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
