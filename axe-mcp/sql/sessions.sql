-- axe-mcp: MCP sessions shared between processes (blue/green, replicas). One row per session:
-- its owner (the binding), rmcp's SessionState (the client's initialize parameters, so another
-- process can restore the session) and the last time it was used (idle expiry).
CREATE SCHEMA IF NOT EXISTS axe_mcp;
REVOKE ALL ON SCHEMA axe_mcp FROM PUBLIC;
CREATE TABLE IF NOT EXISTS axe_mcp.sessions (
    id         text        PRIMARY KEY CHECK (octet_length(id) BETWEEN 1 AND 256),
    tid        text,
    oid        text,
    client_id  text,
    customer   text,
    state      jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seen  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS sessions_owner ON axe_mcp.sessions (tid, oid, client_id, customer);
CREATE INDEX IF NOT EXISTS sessions_last_seen ON axe_mcp.sessions (last_seen);
