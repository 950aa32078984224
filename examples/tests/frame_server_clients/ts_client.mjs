// Drives the frame server with the official TypeScript SDK (@modelcontextprotocol/sdk 1.32).
// Usage: node ts_client.mjs URL TOKEN OWN_ID OTHER_ID
// Asks whoami, stores a record under OWN_ID, reads it back, tries to read OTHER_ID (another
// entity's record), and prints one JSON object for the Rust test.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, token, ownId, otherId] = process.argv.slice(2);
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client({ name: "frame-ts-test", version: "0.0.0" });
await client.connect(transport);
const tools = await client.listTools();
const me = await client.callTool({ name: "whoami", arguments: {} });
const put = await client.callTool({ name: "records_put", arguments: { id: ownId, body: { from: "typescript" } } });
const got = await client.callTool({ name: "records_get", arguments: { id: ownId } });
const other = await client.callTool({ name: "records_get", arguments: { id: otherId } });
const bad = await client.callTool({ name: "records_put", arguments: { id: "", body: 1 } });
console.log(
  JSON.stringify({
    tools: tools.tools.map((t) => t.name).sort(),
    whoami: me.structuredContent,
    put_error: put.isError ?? false,
    got: got.structuredContent,
    other_error: other.isError ?? false,
    bad_error: bad.isError ?? false,
  }),
);
await transport.terminateSession();
await client.close();
