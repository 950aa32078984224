// Drives an axe-mcp endpoint with the official TypeScript SDK (@modelcontextprotocol/sdk 1.32).
// Usage: node ts_client.mjs URL TOKEN NOTE_ID
// Lists the tools, stores a note, reads it back, and prints one JSON object for the Rust test.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, token, noteId] = process.argv.slice(2);
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client({ name: "axe-ts-test", version: "0.0.0" });
await client.connect(transport);
const tools = await client.listTools();
const put = await client.callTool({ name: "notes_put", arguments: { id: noteId, body: "from typescript" } });
const got = await client.callTool({ name: "notes_get", arguments: { id: noteId } });
const bad = await client.callTool({ name: "notes_put", arguments: { id: 5 } });
console.log(
  JSON.stringify({
    tools: tools.tools.map((t) => t.name).sort(),
    put: put.structuredContent,
    put_error: put.isError ?? false,
    got: got.structuredContent,
    bad_error: bad.isError ?? false,
    session: transport.sessionId ?? null,
  }),
);
await transport.terminateSession();
await client.close();
